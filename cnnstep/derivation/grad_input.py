"""Step: the gradient with respect to the input.

dL/dX = full conv(rot180(K), dL/dZ): the kernel rotated by 180°, dL/dZ
(zero-inserted for the stride) padded by kernel − 1 zeros, cropped back by
the layer's padding. Each entry is worked as the chain-rule sum over the
output entries it affects.
"""

from __future__ import annotations

from cnnstep import geometry
from cnnstep.derivation.builder import Index, sums
from cnnstep.derivation.nodes import Block, Call, Equation, Expr, Mul, Step, Text, Whole
from cnnstep.derivation.numeric import NumericBuilder
from cnnstep.derivation.words import count


def step(b: NumericBuilder) -> Step:
    p, s = b.p, b.s
    assert s.grad_conv is not None and s.grad_input is not None
    assert s.rotated_filter is not None and s.padded_grad is not None
    grad = s.grad_input
    kh, kw = p.kernel_size
    ph, pw = p.padding
    approximate = b.approximate("grad_input")
    strided = p.stride != (1, 1)

    def equation(e: Index) -> Equation:
        c, row, col = e
        symbolic: list[Expr] = []
        numeric: list[Expr] = []
        for f, i, j, m, n in geometry.affected(b.layer, row + ph, col + pw):
            symbolic.append(Mul((b.g_sym[f, i, j], b.k_sym[f, c, m, n])))
            numeric.append(Mul((b.g_num[f, i, j], b.k_num[f, c, m, n])))
        return Equation(b.sym("grad_input", e), sums(symbolic, numeric), grad[e],
                        ("grad_input", e), approximate=approximate)

    cropped: list[Block] = []
    if any(p.padding):
        assert s.grad_padded_input is not None
        cropped = [
            Text(("The full convolution gives the gradient of the padded input; the rows and"
                  " columns that are padding are cropped away:",)),
            *b.matrices((Whole("grad_padded_input"),), s.grad_padded_input, "input",
                        border=(ph, pw), approximate=approximate),
        ]
    return Step("grad_input", "Gradient with respect to the input", (
        *b.explain(
            Text(("Rotate the kernel by 180° (flip it vertically, then horizontally):",)),
            b.matrices((Call("rot180", (Whole("filter"),)),), s.rotated_filter, "filter"),
            Text((
                f"Pad {'the zero-inserted ' if strided else ''}",
                Whole("grad_output"), f" with {count(kh - 1, 'row')} and "
                f"{count(kw - 1, 'column')} of zeros on each side (the kernel size less one):",
            )),
            b.matrices((Whole("padded_grad"),), s.padded_grad, "output",
                       border=(kh - 1, kw - 1), step=p.stride,
                       approximate=b.approximate("grad_conv")),
            Text((
                Whole("grad_input"), " = ",
                Call("full_conv", (Call("rot180", (Whole("filter"),)), b.dz_operand())),
                ": slide the rotated kernel over the padded gradient"
                + (" and add over the filters" if p.filters > 1 else "")
                + ". Each entry, term by term (only the output entries the input entry"
                " affects appear; the others have zero derivative):",
            )),
        ),
        *b.work_out("grad_input", equation, f"entries of {b.d_by('input')}"),
        *b.explain(cropped, b.matrices((Whole("grad_input"),), grad, "input",
                                       approximate=approximate)),
    ))
