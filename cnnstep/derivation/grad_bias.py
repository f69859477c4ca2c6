"""Step: the gradient with respect to the bias, dL/dB[f] = Σ_i Σ_j dL/dZ[f,i,j]."""

from __future__ import annotations

import numpy as np

from cnnstep.derivation.builder import Index
from cnnstep.derivation.nodes import Add, Call, Equation, Step, Text, Whole
from cnnstep.derivation.numeric import NumericBuilder


def step(b: NumericBuilder) -> Step:
    s = b.s
    assert s.grad_conv is not None and s.grad_bias is not None
    grad = s.grad_bias
    cells = list(np.ndindex(*s.grad_conv.shape[1:]))

    def equation(e: Index) -> Equation:
        (f,) = e
        return Equation(b.sym("grad_bias", e),
                        (Add(tuple(b.sym("grad_output", (f, i, j)) for i, j in cells)),
                         Add(tuple(b.g_num[f, i, j] for i, j in cells))),
                        grad[e], ("grad_bias", e), approximate=b.approximate("grad_bias"))

    return Step("grad_bias", "Gradient with respect to the bias", (
        *b.explain(Text((
            "The bias is added to every output entry of its filter: ",
            Whole("grad_bias"), " = ", Call("sum", (Whole("grad_output"),)), ".",
        ))),
        *b.work_out("grad_bias", equation, f"entries of {b.d_by('bias')}"),
    ))
