"""Step: the gradient with respect to the kernel.

dL/dK[f,c,m,n] = Σ_i Σ_j dL/dZ[f,i,j]·Xpad[c, i·sh+m, j·sw+n]: each weight
touches every output entry, so dL/dK is the convolution of the (padded)
input with the (zero-inserted) dL/dZ.
"""

from __future__ import annotations

from cnnstep import geometry
from cnnstep.derivation.builder import Index, sums
from cnnstep.derivation.nodes import Call, Equation, Expr, Mul, Step, Text, Whole
from cnnstep.derivation.numeric import NumericBuilder


def step(b: NumericBuilder) -> Step:
    s = b.s
    assert s.grad_conv is not None and s.grad_filter is not None
    grad = s.grad_filter
    approximate = b.approximate("grad_filter")

    def equation(e: Index) -> Equation:
        f, c, m, n = e
        symbolic: list[Expr] = []
        numeric: list[Expr] = []
        rows, cols = geometry.reach(b.layer, m, n)
        for g, x, gv, xv in zip(b.g_sym[f].flat, b.x_sym[c, rows, cols].flat,
                                b.g_num[f].flat, b.x_num[c, rows, cols].flat, strict=True):
            if x is not None:
                symbolic.append(Mul((g, x)))
                numeric.append(Mul((gv, xv)))
        return Equation(b.sym("grad_filter", e), sums(symbolic, numeric), grad[e],
                        ("grad_filter", e), approximate=approximate)

    source = Whole("padded_input") if any(b.layer.padding) else Whole("input")
    return Step("grad_filter", "Gradient with respect to the kernel", (
        *b.explain(Text((
            "Each weight touches every output entry, so its gradient sums over all of them: ",
            Whole("grad_filter"), " = ", Call("conv", (source, b.dz_operand())),
            ", the convolution of the input with the loss gradient",
            *((" (per filter and channel)",) if not b.compact else ()), ".",
        ))),
        *b.work_out("grad_filter", equation, f"entries of {b.d_by('filter')}"),
        *b.explain(b.matrices((Whole("grad_filter"),), grad, "filter",
                              approximate=approximate)),
    ))
