"""The worked solution of a solved layer: which steps, in which order, how long."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from cnnstep import budget
from cnnstep.derivation import (
    activation,
    forward,
    grad_bias,
    grad_filter,
    grad_input,
    loss,
    padding,
    pooling,
    shapes,
    stride,
    update,
)
from cnnstep.derivation.builder import Plan
from cnnstep.derivation.nodes import Derivation, Step
from cnnstep.derivation.numeric import NumericBuilder
from cnnstep.engine import Solution
from cnnstep.problem import Layer
from cnnstep.quantities import QUANTITIES, last_key, parse_entry, present, result_name

#: the default number of products a derivation may print in full
DEFAULT_MAX_TERMS = 3000

StepMaker = Callable[[NumericBuilder], Step]


def steps(solution: Solution) -> list[StepMaker]:
    """The steps a solved layer is worked in, in order."""
    p = solution.problem
    layer = p.layer
    made: list[StepMaker] = [shapes.step]
    if any(layer.padding):
        made.append(padding.step)
    made.append(forward.step)
    if layer.activation is not None:
        made.append(activation.step)
    if layer.pool is not None:
        made.append(pooling.step)
    if solution.grad_conv is None:
        return made
    made += [loss.step, loss.gradient] if p.target is not None else [loss.given]
    if layer.pool is not None:
        made.append(pooling.backward)
    if layer.activation is not None:
        made.append(activation.backward)
    if layer.stride != (1, 1):
        made.append(stride.step)
    made.append(grad_filter.step)
    if p.bias is not None:
        made.append(grad_bias.step)
    made.append(grad_input.step)
    if p.learning_rate is not None:
        made.append(update.step)
    return made


def terms_per_entry(layer: Layer) -> dict[str, int]:
    """Products per entry of each quantity a step works out, to share out the term
    budget; keyed by the names the steps pick entries under."""
    per: dict[str, int] = {}
    for q in QUANTITIES:
        if q.terms is not None:
            # without layers, dL/dZ is grad_output, worked out in its own step
            per.setdefault(result_name(q.key, layer), q.terms(layer))
    return per


def derive(solution: Solution, *, max_terms: int = DEFAULT_MAX_TERMS,
           only: Iterable[str] = (), max_work: int | None = None) -> Derivation:
    """The worked solution of a solved layer.

    ``max_terms`` bounds the products printed in full (0: no bound); beyond it
    each step works out its first entries and says what it left out. ``only``
    lists result entries (``"grad_input[1][2]"``) to work out alone; a
    selection that names no entry raises :class:`~cnnstep.quantities.SelectionError`.
    Building the whole derivation is estimated first and refused over ``max_work``
    operations (:func:`budget.check_derivation`; None: the default limit, 0: none);
    a selection costs no more than the solve, and is not checked.
    """
    only = tuple(only)
    if not only:
        budget.check_derivation(solution.problem, max_terms, max_work, format=None,
                                solved=True)
    p = solution.problem
    layer = p.layer
    available = present(p)
    # the result's output is the last stage, worked out in that stage's own step
    last = result_name(last_key(layer), layer)
    chosen = (frozenset((last if key == "output" else key, index)
                        for key, index in (parse_entry(text, layer, available) for text in only))
              if only else None)
    plan = Plan(max_terms, chosen)
    builder = NumericBuilder(solution, plan)
    per = terms_per_entry(layer)
    counts = {key: len(builder.entries(key)) for key in per
              if key != "loss" and key in available}
    if solution.loss is not None:
        counts["loss"] = solution.output.size
    shortened = plan.share(per, counts)
    largest = max(max(p.input.shape), max(p.filter.shape), *p.output_size)
    worked = (make(builder) for make in steps(solution))
    return Derivation(
        title="Worked solution: one convolution layer",
        notation=p.notation,
        compact=builder.compact,
        steps=tuple(step for step in worked if step.blocks),
        largest_index=largest - 1 + p.notation.index_base,
        shortened=shortened,
    )
