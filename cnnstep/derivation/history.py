"""Step: the training, a row per step (its loss L_k and its updated weights), and the
loss with the last update's weights.

Also the heading of a later training step's working: the weights it starts from.
"""

from __future__ import annotations

import numpy as np

from cnnstep.derivation.builder import Builder
from cnnstep.derivation.nodes import Block, Equation, Expr, Matrix, Step, Table, Text, Whole
from cnnstep.derivation.numeric import NumericBuilder
from cnnstep.problem import Array, Problem
from cnnstep.quantities import history_columns
from cnnstep.training import Trained

#: a history of at most this many numbers a step is one table; a longer one is shown
#: step by step, the loss and the weights' matrices
TABLE_COLUMNS = 9


def of_steps(step: int, steps: int) -> str:
    """``training step 2 of 3``."""
    return f"training step {step} of {steps}"


def step(b: NumericBuilder) -> Step:
    s, p = b.s, b.p
    assert isinstance(s, Trained) and s.history is not None and s.final_loss is not None
    approximate = b.approximate("history")
    steps = p.steps
    blocks: list[Block] = b.explain(Text((
        f"Training repeats the forward pass, the loss, the backward pass and the update "
        f"{steps} times with the same input and target, each step starting from the "
        "weights the step before it updated. The loss ", Whole("loss"),
        " of a training step is computed before its update; ", Whole("updated_filter"),
        *((" and ", Whole("updated_bias")) if p.bias is not None else ()),
        " are the weights after it.",
    )))
    if history_columns(p.layer) <= TABLE_COLUMNS:
        blocks.append(Table("step", columns(b), tuple(str(k) for k in range(1, steps + 1)),
                            s.history, approximate))
    else:
        for k, solution in enumerate(s.iterations, start=1):
            blocks.append(Text((f"Training step {k}:",)))
            assert solution.loss is not None and solution.updated_filter is not None
            blocks.append(Equation(Whole("loss"), (), solution.loss, approximate=approximate))
            blocks += b.matrices((Whole("updated_filter"),), solution.updated_filter,
                                 "filter", approximate=approximate)
            if solution.updated_bias is not None:
                blocks.append(bias(b, "updated_bias", solution.updated_bias, approximate))
    blocks += b.explain(Text((
        f"The loss with the weights of training step {steps}'s update, from a forward "
        "pass and the loss with those weights:",)))
    blocks.append(Equation(Whole("final_loss"), (), s.final_loss, ("final_loss", ()),
                           approximate=approximate))
    return Step("history", f"Training: the loss and the weights at each of {steps} steps",
                tuple(blocks))


def columns(b: Builder) -> tuple[Expr, ...]:
    """The heading of each column of the history: L, then each updated weight."""
    layer = b.layer
    heads: list[Expr] = [Whole("loss")]
    heads += [b.sym("updated_filter", index) for index in np.ndindex(*layer.filter_shape)]
    if layer.has_bias:
        heads += [b.sym("updated_bias", (f,)) for f in range(layer.filters)]
    return tuple(heads)


def start(b: NumericBuilder, problem: Problem, step: int) -> list[Block]:
    """What a later training step starts from: the weights the step before updated
    (``step`` above the problem's steps: the loss after the last update)."""
    if step > problem.steps:
        opening = (f"After training step {problem.steps}, the loss is worked out once more "
                   "with the weights its update made. Now ")
    else:
        opening = (f"Training step {step} of {problem.steps} starts from the weights "
                   f"training step {step - 1} updated; the input and the target are the same, "
                   "and the gradient with respect to the input, which training does not use, "
                   "is left out. Now ")
    blocks: list[Block] = [Text((opening, Whole("filter"),
        *((" and ", Whole("bias"), " are:") if problem.bias is not None else (" is:",))))]
    approximate = b.approximate("updated_filter")
    blocks += b.matrices((Whole("filter"),), problem.filter, "filter",
                         approximate=approximate)
    if problem.bias is not None:
        blocks.append(bias(b, "bias", problem.bias, approximate))
    return blocks


def bias(b: Builder, role: str, values: Array, approximate: bool) -> Block:
    """The bias: an equation for one filter's, a row for several."""
    if values.size == 1:
        return Equation(b.sym(role, (0,)), (), values[0], approximate=approximate)
    return Matrix((Whole(role),), values.reshape(1, -1), approximate=approximate)
