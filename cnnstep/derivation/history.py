"""Step: the training, a row per step (its loss L_k and its updated weights), and the
loss with the last update's weights.

Also the heading of a later training step's working: the weights it starts from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

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


#: the steps a layer is worked in once, not at each training step
ONCE = ("given", "shapes", "padding", "history")
#: steps training does not need, left out of the later training steps (the input is
#: not trained)
NOT_TRAINED = ("grad_input",)
#: the steps of the loss after the last update
FORWARD = ("forward", "activation", "pool", "loss")


def titled(step: Step, which: str) -> Step:
    """A step titled with its training step (``which``), unless it is worked once."""
    if step.key in ONCE:
        return step
    return replace(step, title=with_training_step(step.title, which))


def later(steps: Iterable[Step], k: int, count: int, start: list[Block],
          also: tuple[str, ...] = ()) -> list[Step]:
    """Training step ``k``'s working, of ``count`` steps, opening with ``start`` (the
    weights it starts from); ``k`` above ``count``: the forward pass and the loss
    after the last update (and the steps in ``also``)."""
    if k > count:
        kept = [step for step in steps if step.key in FORWARD or step.key in also]
        which = f"after training step {count}"
    else:
        kept = [step for step in steps if step.key not in ONCE and step.key not in NOT_TRAINED]
        which = of_steps(k, count)
    out = [titled(step, which) for step in kept]
    if out:
        out[0] = replace(out[0], blocks=(*start, *out[0].blocks))
    return out


def with_training_step(title: str, which: str) -> str:
    """A step's title with its training step: "Loss (training step 2 of 3)", and a
    batch's "Loss (image 1, training step 2 of 3)"."""
    if title.endswith(")"):
        return f"{title[:-1]}, {which})"
    return f"{title} ({which})"


def opening(step: int, steps: int, bias: bool) -> Text:
    """The words opening a later training step (``step`` above ``steps``: the loss
    after the last update), before the weights it starts from."""
    if step > steps:
        words = (f"After training step {steps}, the loss is worked out once more "
                 "with the weights its update made. Now ")
    else:
        words = (f"Training step {step} of {steps} starts from the weights "
                 f"training step {step - 1} updated; the input and the target are the same, "
                 "and the gradient with respect to the input, which training does not use, "
                 "is left out. Now ")
    return Text((words, Whole("filter"),
                 *((" and ", Whole("bias"), " are:") if bias else (" is:",))))


def start(b: NumericBuilder, problem: Problem, step: int) -> list[Block]:
    """What a later training step starts from: the weights the step before updated
    (``step`` above the problem's steps: the loss after the last update)."""
    blocks: list[Block] = [opening(step, problem.steps, problem.bias is not None)]
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
