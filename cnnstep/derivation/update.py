"""Step: the SGD update, K_new = K − α·dL/dK and B_new = B − α·dL/dB."""

from __future__ import annotations

from cnnstep.derivation.builder import Index
from cnnstep.derivation.nodes import (
    Block,
    Equation,
    Expr,
    Matrix,
    Mul,
    Step,
    Sub,
    Sym,
    Text,
    Whole,
)
from cnnstep.derivation.numeric import NumericBuilder
from cnnstep.problem import Array


def step(b: NumericBuilder) -> Step:
    p, s = b.p, b.s
    assert p.learning_rate is not None and s.updated_filter is not None
    assert s.grad_filter is not None
    alpha = b.num(p.learning_rate)
    rate = Sym("learning_rate")
    approximate = b.approximate("updated_filter")
    # a selection may ask for one of the updates alone: the other is not shown
    groups: list[tuple[str, str, str, Array, Array, Array, str]] = []
    if b.plan.shows("updated_filter"):
        groups.append(("updated_filter", "filter", "grad_filter", p.filter, s.grad_filter,
                       s.updated_filter, "updated weights"))
    if p.bias is not None and b.plan.shows("updated_bias"):
        assert s.grad_bias is not None and s.updated_bias is not None
        groups.append(("updated_bias", "bias", "grad_bias", p.bias, s.grad_bias, s.updated_bias,
                       "biases"))
    rules: list[str | Expr] = []
    for key, weight, grad, *_ in groups:
        rules += [" and " if rules else "", Whole(key), " = ",
                  Sub(Whole(weight), Mul((rate, Whole(grad))))]
    blocks: list[Block] = b.explain(Text((
        "Gradient descent with learning rate ", rate, " = ", alpha, ": ", *rules, ".")))
    for key, weight, grad, before, gradient, after, what in groups:
        def equation(e: Index, key: str = key, weight: str = weight, grad: str = grad,
                     before: Array = before, gradient: Array = gradient,
                     after: Array = after) -> Equation:
            # the numbers alone, as the course writes it: the rule is stated once above
            return Equation(
                b.sym(key, e), (Sub(b.num(before[e]), Mul((alpha, b.value(grad, gradient[e])))),),
                after[e], (key, e), approximate=approximate)

        blocks += b.work_out(key, equation, what)
    if b.plan.shows("updated_filter"):
        blocks += b.answer(b.show((Whole("updated_filter"),), s.updated_filter, "filter",
                                  approximate=approximate))
    if s.updated_bias is not None and b.plan.shows("updated_bias"):
        if p.filters > 1:
            blocks += b.answer(Matrix((Whole("updated_bias"),), s.updated_bias.reshape(1, -1),
                                      approximate=approximate))
        elif b.plan.detail == "answers" and b.plan.in_full("updated_bias"):
            blocks.append(Equation(b.sym("updated_bias", (0,)), (), s.updated_bias[0],
                                   ("updated_bias", (0,)), approximate=approximate))
    return Step("update", "Update", tuple(blocks))
