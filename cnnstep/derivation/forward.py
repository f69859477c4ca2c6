"""Step: the forward pass, Z[f,i,j] = Σ_c Σ_m Σ_n Xpad[c, i·sh+m, j·sw+n]·K[f,c,m,n] + B[f].

Each output entry is worked as the products of its window of the (padded)
input with the kernel; terms with padding zeros are left out.
"""

from __future__ import annotations

from cnnstep import geometry
from cnnstep.derivation.builder import Index, sums
from cnnstep.derivation.nodes import Equation, Expr, Mul, Step, Text, Whole
from cnnstep.derivation.numeric import NumericBuilder


def step(b: NumericBuilder) -> Step:
    p, s = b.p, b.s
    grids = tuple(b.padded_matrices)

    def equation(e: Index) -> Equation:
        f, i, j = e
        symbolic: list[Expr] = []
        numeric: list[Expr] = []
        rows, cols = geometry.conv_slices(b.layer, i, j)
        for x, k, xv, kv in zip(b.x_sym[:, rows, cols].flat, b.k_sym[f].flat,
                                b.x_num[:, rows, cols].flat, b.k_num[f].flat, strict=True):
            if x is not None:  # terms with padding zeros are left out
                symbolic.append(Mul((x, k)))
                numeric.append(Mul((xv, kv)))
        if p.bias is not None:
            symbolic.append(b.sym("bias", (f,)))
            numeric.append(b.num(p.bias[f]))
        return Equation(b.sym("output", e), sums(symbolic, numeric), s.conv[e], (b.z_key, e),
                        geometry.conv_window(b.layer, i, j), grids)

    return Step("forward", "Forward pass", (
        *b.explain(Text((
            "Each output entry is the sum of the products of the window of ",
            Whole("input"), " with the kernel ", Whole("filter"),
            *((" over every channel",) if p.channels > 1 else ()),
            *((", plus the bias ", Whole("bias")) if p.bias is not None else ()),
            ".",
        ))),
        *b.work_out(b.z_key, equation, "output entries"),
        *b.explain(b.matrices((Whole("output"),), s.conv, "output")),
    ))
