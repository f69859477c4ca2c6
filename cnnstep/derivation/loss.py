"""Steps: the loss on the last stage, and its gradient dL/d(last stage).

L = (1/N)·Σ(z − y)² for mse, Σ(z − y)² for sse, (1/2)·Σ(z − y)² for half_sse;
dL/dz = (2/N)(z − y), 2(z − y) and (z − y). The constants are written as the
course writes them, unreduced: (2/4)·(1.6 − 1). A problem may instead give
dL/d(last stage) directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from cnnstep import engine
from cnnstep.derivation.builder import Builder, Cells, Index
from cnnstep.derivation.nodes import (
    Add,
    Block,
    Equation,
    Expr,
    Group,
    More,
    Mul,
    Pow,
    Ratio,
    Step,
    Sub,
    Text,
    Whole,
)
from cnnstep.derivation.numeric import NumericBuilder
from cnnstep.entries import given_values
from cnnstep.problem import LossName

#: how each loss is described
DESCRIPTIONS = {"mse": "the mean squared error, the mean of the squared errors over all",
                "sse": "the sum of the squared errors over all",
                "half_sse": "half the sum of the squared errors over all"}


def constant(b: Builder, loss: LossName, ratio: tuple[int, int]) -> tuple[Expr, ...]:
    """A loss constant as written: (1/4) and (2/4) for mse, 2 for sse, none for 1."""
    if loss == "mse" or ratio[1] != 1:
        return (Ratio(*ratio),)
    return () if ratio == (1, 1) else (b.num(Fraction(ratio[0])),)


def batch_share(loss: LossName, entries: int, images: int, name: str = "image") -> list[Text]:
    """For one image of a batch (``name``: a signal in 1-D): its part of the batch's loss,
    which adds up over the images; the mean is over the entries of every image, as
    PyTorch's ``reduction="mean"``."""
    if images <= 1:
        return []
    if loss == "mse":
        return [Text((f"This is this {name}'s share of the batch's loss: the mean is over "
                      f"all {images}·{entries} = {images * entries} entries of the "
                      f"{images} {name}s, so each squared error counts 1/{images * entries}.",))]
    return [Text((f"This is this {name}'s part of the batch's loss, which adds the parts of "
                  f"all {images} {name}s.",))]


def step(b: NumericBuilder) -> Step:
    """L, written out: the differences, their squares, the sum, the scale."""
    p, s = b.p, b.s
    assert p.exact_target is not None and s.loss is not None and s.squared_errors is not None
    assert s.loss_sum is not None
    if b.plan.detail == "answers" and b.plan.in_full("loss"):
        return Step("loss", "Loss", (Equation(b.sym("loss"), (), s.loss, ("loss", ()),
                                              approximate=b.approximate("loss")),))
    target, errors = given_values(p.exact_target), s.squared_errors
    last, role = s.output, b.last_role
    n = last.size
    entries = Cells(last.shape)
    shown: Sequence[Index] = entries
    limit = b.plan.budget.get("loss")
    if limit is not None and limit < n:
        shown = entries[: max(limit - 1, 1)]
    hidden = n - len(shown) - (1 if len(shown) < n else 0)

    def elided(terms: list[Expr]) -> Add:
        if len(shown) == n:
            return Add(tuple(terms))
        return Add((*terms[: len(shown)], More(hidden), terms[-1]))

    picked = shown if len(shown) == n else [*shown, entries[-1]]
    differences = elided([Pow(Group(Sub(b.sym(role, e), b.sym("target", e))), 2)
                          for e in picked])
    numbers = elided([Pow(Group(Sub(b.value("output", last.item(e)),
                                    b.num(target.item(e)))), 2) for e in picked])
    squares = elided([b.value("loss", errors.item(e)) for e in picked])
    scale = constant(b, p.loss, engine.loss_scale(p.loss, n * p.loss_images))
    forms: list[Expr] = [Mul((*scale, Group(body, square=True))) if scale else body
                         for body in (differences, numbers, squares)]
    if scale:
        forms.append(Mul((*scale, b.value("loss", s.loss_sum))))
    blocks: list[Block] = [
        *b.explain(Text((f"The loss is {DESCRIPTIONS[p.loss]} {n} entries of ", Whole(role),
                         " against the target ", Whole("target"), "."))),
        *b.explain(*batch_share(p.loss, n, p.loss_images,
                                 "signal" if p.layout.one_row else "image")),
        Equation(b.sym("loss"), tuple(forms), s.loss, ("loss", ()),
                 approximate=b.approximate("loss")),
    ]
    return Step("loss", "Loss", tuple(blocks))


def gradient(b: NumericBuilder) -> Step:
    """dL/dz = factor·(z − y), entry by entry."""
    p, s = b.p, b.s
    grad, exact_target = s.grad_output, p.exact_target
    assert exact_target is not None and grad is not None
    target = given_values(exact_target)
    last, role, grad_role = s.output, b.last_role, b.grad_last_role
    factor = constant(b, p.loss, engine.loss_factor(p.loss, last.size * p.loss_images))
    approximate = b.approximate("grad_output")

    def times_difference(z: Expr, y: Expr) -> Expr:
        return Mul((*factor, Group(Sub(z, y)))) if factor else Sub(z, y)

    def equation(e: Index) -> Equation:
        # the numbers alone, as the course writes it: the rule is stated once above
        forms = (times_difference(b.value("output", last[e]), b.num(target[e])),)
        return Equation(b.sym(grad_role, e), forms, grad[e], ("grad_output", e),
                        approximate=approximate)

    loss = b.layer.notation.loss
    return Step("grad_output", "Gradient of the loss with respect to the output", (
        *b.explain(Text((
            "The derivative of the loss with respect to each entry of ", Whole(role), ": ",
            Whole(grad_role), " = ", times_difference(Whole(role), Whole("target")), ".",
        ))),
        *b.work_out("grad_output", equation, f"entries of ∂{loss}/∂{b.last_letter}"),
        *b.answer(b.show((Whole(grad_role),), grad, "output", approximate=approximate)),
    ))


def given(b: NumericBuilder) -> Step:
    """dL/d(last stage) as the problem gives it: among the givens, or, for entries
    picked alone, each with its value."""
    grad = b.s.grad_output
    assert grad is not None
    role = b.grad_last_role
    if b.plan.in_full("grad_output"):
        return Step("grad_output", "Upstream gradient", ())
    chosen = b.plan.pick("grad_output", b.entries("grad_output"))
    return Step("grad_output", "Upstream gradient", tuple(
        Equation(b.sym(role, e), (), grad[e], ("grad_output", e)) for e in chosen))
