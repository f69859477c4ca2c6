"""Step: the gradient with respect to the bias, dL/dB[f] = Σ_i Σ_j dL/dZ[f,i,j].

Entries of dL/dZ that the layers after the convolution make 0 (no gradient
through the pool, ReLU′(z) = 0) are left out of the sum, and the step says so.
"""

from __future__ import annotations

import numpy as np

from cnnstep.derivation.builder import Index
from cnnstep.derivation.nodes import Add, Block, Call, Equation, Expr, Step, Text, Whole
from cnnstep.derivation.numeric import NumericBuilder


def step(b: NumericBuilder) -> Step:
    s = b.s
    assert s.grad_conv is not None and s.grad_bias is not None
    grad = s.grad_bias
    cells = list(np.ndindex(*s.grad_conv.shape[1:]))
    approximate = b.approximate("grad_bias")
    masked = bool(b.masked.any())

    def equation(e: Index) -> Equation:
        (f,) = e
        kept = [(i, j) for i, j in cells if not b.masked[f, i, j]]
        symbolic: tuple[Expr, ...] = tuple(b.sym("grad_output", (f, i, j)) for i, j in kept)
        numeric: tuple[Expr, ...] = tuple(b.g_num[f, i, j] for i, j in kept)
        forms = (Add(symbolic), Add(numeric)) if kept else ()
        return Equation(b.sym("grad_bias", e), forms, grad[e], ("grad_bias", e),
                        approximate=approximate)

    answers: list[Block] = []
    if b.plan.detail == "answers" and b.plan.in_full("grad_bias"):
        answers = [Equation(b.sym("grad_bias", (f,)), (), grad[f], ("grad_bias", (f,)),
                            approximate=approximate) for f in range(grad.shape[0])]
    return Step("grad_bias", "Gradient with respect to the bias", (
        *b.explain(Text((
            "The bias is added to every output entry of its filter: ",
            Whole("grad_bias"), " = ", Call("sum", (Whole("grad_output"),)), ".",
        ))),
        *(b.left_out(masked=True) if masked else []),
        *b.work_out("grad_bias", equation, f"entries of {b.d_by('bias')}"),
        *b.answer(answers),
    ))
