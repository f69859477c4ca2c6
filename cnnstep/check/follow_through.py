"""Follow-through ("error carried forward"): a later quantity worked out
correctly from the student's own wrong answer to the quantity it rests on.

Each later quantity is registered with its *source* (the quantity it is
computed from) and the engine's step that computes it; the marker applies that
step to the student's answer for the source. This is no mistake of the later
step, so it is tried only after every mistake of that step (see
:data:`cnnstep.check.mistakes.PRECEDENCE`).
"""

from __future__ import annotations

from collections.abc import Callable, Set
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from cnnstep import engine
from cnnstep.check.answers import Answers, given_values
from cnnstep.engine import Solution
from cnnstep.problem import Array, Layer, frozen
from cnnstep.quantities import full_shape, per_image, result_name

Value = Array | Fraction

#: the step that computes a quantity from its source: None where the problem
#: does not compute it that way (a given dL/dZ, no learning rate, no bias)
Compute = Callable[[Solution, Array], Value | None]


@dataclass(frozen=True)
class Step:
    """How a later quantity follows from an earlier one."""

    key: str
    #: the quantity it is computed from, by its name in the quantities registry
    #: (``grad_conv`` is the result's ``grad_output`` when no layer follows)
    source: str
    compute: Compute


STEPS: dict[str, Step] = {}


def _follows(key: str, source: str) -> Callable[[Compute], Compute]:
    def register(compute: Compute) -> Compute:
        if key in STEPS:
            raise ValueError(f"follow-through for {key!r} is registered twice")
        STEPS[key] = Step(key, source, compute)
        return compute

    return register


@_follows("loss", source="output")
def _loss(solution: Solution, output: Array) -> Value | None:
    p = solution.problem
    if p.target is None:
        return None
    return engine.loss_value(output, p.target, p.loss) * engine.image_share(p.loss,
                                                                            p.loss_images)


@_follows("grad_output", source="output")
def _grad_output(solution: Solution, output: Array) -> Value | None:
    p = solution.problem
    if p.target is None:
        return None
    grad: Array = engine.loss_gradient(output, p.target, p.loss) * engine.image_share(
        p.loss, p.loss_images)
    return grad


@_follows("grad_filter", source="grad_conv")
def _grad_filter(solution: Solution, grad_conv: Array) -> Value | None:
    layer = solution.problem.layer
    if layer.transposed:
        return engine.transposed_filter_gradient(solution.padded_input, grad_conv, layer)
    return engine.kernel_gradient(solution.padded_input, grad_conv, solution.problem.layer)


@_follows("grad_bias", source="grad_conv")
def _grad_bias(solution: Solution, grad_conv: Array) -> Value | None:
    return None if solution.problem.bias is None else engine.bias_gradient(grad_conv)


@_follows("grad_input", source="grad_conv")
def _grad_input(solution: Solution, grad_conv: Array) -> Value | None:
    p = solution.problem
    if p.layer.transposed:
        return engine.transposed_input_gradient(p.filter, engine.pad(grad_conv, p.padding),
                                                p.layer)
    spread = engine.insert_zeros(grad_conv, p.stride)
    return engine.input_gradient(engine.backward_kernel(p.filter, p.layer), spread, p.layer)


@_follows("updated_filter", source="grad_filter")
def _updated_filter(solution: Solution, grad_filter: Array) -> Value | None:
    p = solution.problem
    rate = p.learning_rate
    return None if rate is None else engine.sgd(p.filter, grad_filter, rate)


@_follows("updated_bias", source="grad_bias")
def _updated_bias(solution: Solution, grad_bias: Array) -> Value | None:
    p = solution.problem
    rate, bias = p.learning_rate, p.bias
    return None if rate is None or bias is None else engine.sgd(bias, grad_bias, rate)


def source(key: str, layer: Layer) -> str:
    """The result key of the quantity ``key`` is computed from, in this layer."""
    return result_name(STEPS[key].source, layer)


def recompute(solution: Solution, key: str, answers: Answers, wrong: Set[str]) -> Value | None:
    """``key`` worked out correctly from the student's own answer to its source.

    None unless that answer was marked wrong and every entry of it is given.
    """
    step = STEPS.get(key)
    if step is None:
        return None
    layer = solution.problem.layer
    earlier = source(key, layer)
    if earlier not in wrong:
        return None
    values = given_values(answers[earlier])
    if values is None:
        return None
    full = frozen(values.reshape(full_shape(earlier, layer)))
    if solution.images and per_image(earlier, layer.layout):
        return over_images(key, solution, [
            step.compute(image, frozen(np.ascontiguousarray(full[n])))
            for n, image in enumerate(solution.images)])
    return step.compute(solution, full)


def over_images(key: str, solution: Solution, parts: list[Value | None]) -> Value | None:
    """A batch's ``key`` from each image's (None if any is): a quantity of one image
    stacked along the image axis, the loss and the weights' gradients added up."""
    given = [part for part in parts if part is not None]
    if len(given) < len(parts):
        return None
    if per_image(key, solution.problem.layout):
        return frozen(np.stack([np.asarray(part, dtype=object) for part in given]))
    total = given[0]
    for part in given[1:]:
        total = total + part
    return total
