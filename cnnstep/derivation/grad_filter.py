"""Step: the gradient with respect to the kernel.

dL/dK[f,c,m,n] = Σ_i Σ_j dL/dZ[f,i,j]·Xpad[c, i·sh+m·dh, j·sw+n·dw]: each weight
touches every output entry, so dL/dK is the convolution of the (padded)
input with the (zero-inserted) dL/dZ, which slides over the input as a kernel.
Each entry is worked on its window of the input: the taps weight (m, n) meets
(:func:`~cnnstep.geometry.reach`). Terms with a factor that is 0 by
construction (padding, the zeros inserted for the stride, entries of dL/dZ the
pool or the activation make 0) are left out, and the step says so.
"""

from __future__ import annotations

from cnnstep import geometry
from cnnstep.derivation.builder import Index, Zeros, sums
from cnnstep.derivation.nodes import Call, Equation, Expr, Mul, Step, Text, Whole
from cnnstep.derivation.numeric import NumericBuilder
from cnnstep.derivation.words import pair
from cnnstep.geometry import Window


def step(b: NumericBuilder) -> Step:
    s, layer = b.s, b.layer
    assert s.grad_conv is not None and s.grad_filter is not None
    grad = s.grad_filter
    approximate = b.approximate("grad_filter")
    grids = b.padded_matrices
    (sh, sw), (oh, ow) = layer.stride, layer.output_size
    dh, dw = layer.dilation
    padded = any(layer.padding)

    def terms(e: Index) -> tuple[list[Expr], list[Expr], Window]:
        f, c, m, n = e
        symbolic: list[Expr] = []
        numeric: list[Expr] = []
        taps = []
        for i in range(oh):
            for j in range(ow):
                row, col = m * dh + i * sh, n * dw + j * sw
                taps.append((row, col))
                x = b.x_sym[c, row, col]
                if x is None or b.masked[f, i, j]:
                    continue
                symbolic.append(Mul((b.g_sym[f, i, j], x)))
                numeric.append(Mul((b.g_num[f, i, j], b.x_num[c, row, col])))
        return symbolic, numeric, Window(tuple(taps))

    def equation(e: Index) -> Equation:
        symbolic, numeric, window = terms(e)
        c = e[1]
        return Equation(b.sym("grad_filter", e), sums(symbolic, numeric), grad[e],
                        ("grad_filter", e), window, (grids[c] if len(grids) > 1 else grids[0],),
                        approximate=approximate)

    entries = b.entries("grad_filter")
    empty = tuple(e for e in entries if not geometry_terms(b, e))
    source = Whole("padded_input") if padded else Whole("input")
    return Step("grad_filter", "Gradient with respect to the kernel", (
        *b.explain(Text((
            Whole("grad_filter"), " = ", Call("conv", (source, b.dz_operand())),
            ": each weight meets every output entry, so ", Whole("grad_output"),
            " slides over the input as a kernel, and each entry is the window of the input "
            "it covers times ", Whole("grad_output"),
            *((" (per filter and channel)",) if not b.compact else ()), ".",
            *((f" With dilation {pair(layer.dilation)}, weight (m, n) reads each window at "
               f"({dh}·m, {dw}·n): the taps are spaced by the dilation.",)
              if layer.dilation != (1, 1) else ()),
        ))),
        *b.left_out(padding=padded, inserted=layer.stride != (1, 1),
                    masked=bool(b.masked.any())),
        *b.work_out("grad_filter", equation, f"entries of {b.d_by('filter')}",
                    example=next((e for e in entries if e not in empty), None),
                    zeros=[Zeros(empty, ("every term has a factor that is 0 by "
                                         "construction.",))]),
        *b.answer(b.matrices((Whole("grad_filter"),), grad, "filter",
                             approximate=approximate)),
    ))


def geometry_terms(b: NumericBuilder, e: Index) -> int:
    """How many terms entry ``e`` of dL/dK keeps: real input entries times entries of
    dL/dZ that are not 0 by construction."""
    f, c, m, n = e
    rows, cols = geometry.reach(b.layer, m, n)
    return int((b.x_real[c, rows, cols] & ~b.masked[f]).sum())
