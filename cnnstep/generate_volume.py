"""Homework variants of a 3-D template (``"dimensions": 3``), as
:mod:`cnnstep.generate` draws them for a 2-D one.

The template's shapes and keys are kept (one volume or a batch of volumes, its
stride, padding, activation, pool, loss, learning rate, ``steps`` and
``questions``); its input, filter and bias are redrawn in the style's values, a
target as the output plus a whole step per entry, a given dL/dZ in the style's
values. A draw is kept when every result value is a terminating decimal with at
most ``places`` decimal places, no max or min pool window has a tie (unless
``ties``) and no ReLU map of a volume is zero everywhere; the same seed gives
the same problems. Shapes that can never give short answers (an MSE over 9
entries, a mean over 3, sigmoid or tanh) are refused before drawing.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from cnnstep.generate import (
    DIFFERENCES,
    VALUES,
    GenerateError,
    check_steps,
    questions,
    result_steps,
    skeleton,
)
from cnnstep.numbers import terminates
from cnnstep.problem import Activation, ProblemError, Volume, VolumeBatch, volumes_from_data

if TYPE_CHECKING:
    from cnnstep.generate import Exercise
    from cnnstep.problem import Layer

#: the keys whose numbers are drawn in the style's values
DRAWN = ("input", "filter", "kernel", "bias")
#: the keys drawn from the output once the weights are drawn
AFTER = ("target", "grad_output")


def _volumes(layer: Volume | VolumeBatch) -> tuple[Volume, ...]:
    return layer.images if isinstance(layer, VolumeBatch) else (layer,)


def check(exercise: Exercise) -> None:
    """Refuse a 3-D template that can never give short exact answers, before drawing."""
    if exercise.style not in VALUES:
        raise GenerateError(f"style: expected one of {', '.join(VALUES)}, "
                            f"got {exercise.style!r}")
    if not 0 <= exercise.places <= 12:
        raise GenerateError("places: expected 0 to 12 decimal places")
    layer = volumes_from_data(skeleton(exercise))
    one = _volumes(layer)[0]
    activation, pool = one.activation, one.pool
    if activation is not None and not activation.exact:
        raise GenerateError(f"activation: {activation.kind} has no exact values; use relu "
                            "or leaky_relu for exact answer keys")
    if pool is not None and pool.kind == "mean" and not terminates(
            Fraction(1, math.prod(pool.size))):
        size = "×".join(map(str, pool.size))
        raise GenerateError(f"pool.size: a mean over a {size} window has no finite decimal; "
                            "use windows of 1, 2, 4 or 8 entries")
    last = pool.output_size if pool is not None else one.output_size
    count = math.prod(last) * one.filters * len(_volumes(layer))
    if one.target is not None and one.loss == "mse" and not terminates(Fraction(2, count)):
        raise GenerateError(
            f"loss: an MSE over {count} outputs divides by {count}, so its gradients never "
            "have a finite decimal; choose another size, or sse or half_sse")
    loss = one.loss if one.target is not None else None
    given = one.grad_output is not None
    rate = layer.layer.learning_rate if isinstance(layer, VolumeBatch) else one.learning_rate
    grids = result_steps(cast("Layer", _Sizes.of(layer)), VALUES[exercise.style], loss,
                         given, rate)
    if not one.convolution:  # a layer alone: dL/dX is what comes back, no weights
        from cnnstep.volume import NOT_ALONE

        grids = {key: grid for key, grid in grids.items() if key not in NOT_ALONE}
        if "grad_conv" in grids:
            grids["grad_input"] = grids.pop("grad_conv")
    check_steps(grids, exercise.places)


@dataclass(frozen=True)
class _Window:
    """A pool as :func:`cnnstep.generate.result_steps` reads it: its kind and how many
    entries a window holds (as the rows of a 2-D window, one column)."""

    kind: str
    size: tuple[int, int]


@dataclass(frozen=True)
class _Sizes:
    """How many entries each quantity of a 3-D layer has (a batch's, all its
    volumes'), in the fields :func:`cnnstep.generate.result_steps` reads of a layer: the
    steps every result is a multiple of are worked out as for a 2-D layer."""

    input_shape: tuple[int, ...]
    filter_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    last_shape: tuple[int, ...]
    activation: Activation | None
    pool: _Window | None
    has_bias: bool
    filters: int

    @classmethod
    def of(cls, layer: Volume | VolumeBatch) -> _Sizes:
        volumes = _volumes(layer)
        one, count = volumes[0], len(volumes)
        pool = one.pool
        maps = count * one.filters
        return cls(input_shape=(count, *one.input.shape), filter_shape=one.filter.shape,
                   output_shape=(maps, *one.output_size),
                   last_shape=(maps, *(pool.output_size if pool else one.output_size)),
                   activation=one.activation,
                   pool=_Window(pool.kind, (math.prod(pool.size), 1)) if pool else None,
                   has_bias=one.bias is not None, filters=one.filters)


def _grid(rng: random.Random, values: tuple[Fraction, ...], value: Any) -> Any:
    """A draw in the shape of ``value`` (a number, or nested lists of them)."""
    if isinstance(value, list):
        return [_grid(rng, values, item) for item in value]
    return rng.choice(values)


def draw(rng: random.Random, exercise: Exercise) -> dict[str, Any]:
    """One problem of the template's shape: the weights and the input drawn, then
    the target from the output they give (or a dL/dZ drawn)."""
    values = VALUES[exercise.style]
    data = skeleton(exercise)
    for key in DRAWN:
        if key in data:
            data[key] = _grid(rng, values, data[key])
    for key in AFTER:
        if key not in data:
            continue
        if key == "grad_output":
            data[key] = _grid(rng, values, data[key])
            continue
        from cnnstep.volume_batch import solve_volumes

        probe = volumes_from_data({k: v for k, v in data.items()
                                   if k not in (*AFTER, "loss", "learning_rate", "steps",
                                                "questions")})
        output = np.array(solve_volumes(probe)[0]["output"], dtype=object)
        # the output plus a whole step: (z − y), its square and the mean stay short
        target = [z + rng.choice(DIFFERENCES) for z in output.flat]
        data[key] = np.array(target, dtype=object).reshape(np.shape(data[key])).tolist()
    return data


def _flat(value: Any) -> Iterator[Fraction]:
    """Every number of a result value (nested lists, a history's rows)."""
    if isinstance(value, list):
        for item in value:
            yield from _flat(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _flat(item)
    elif isinstance(value, Fraction):
        yield value


def _short(value: Fraction, places: int) -> bool:
    return terminates(value) and (value * 10**places).denominator == 1


def acceptable(data: dict[str, Any], exercise: Exercise) -> bool:
    """Every result value short and exact; no pool ties unless asked; no dead ReLU map."""
    from cnnstep import volume as engine
    from cnnstep.volume_batch import solve_volumes

    layer = volumes_from_data(data)
    result = solve_volumes(layer)[0]
    if not all(_short(v, exercise.places) for key, value in result.items()
               if key != "history" for v in _flat(value)):
        return False
    if not all(_short(v, exercise.places) for v in _flat(result.get("history", []))):
        return False
    for volume in _volumes(layer):
        solved = engine.arrays(volume)
        activation, pool = volume.activation, volume.pool
        stage = solved.get("activated", solved.get("conv", solved["output"]))
        if (activation is not None and activation.kind == "relu"
                and any(not any(stage[f].flat) for f in range(stage.shape[0]))):
            return False
        if pool is not None and pool.kind in ("max", "min") and not exercise.ties:
            for f in range(stage.shape[0]):
                for o in np.ndindex(*pool.output_size):
                    window = [stage[(f, *cell)] for cell in pool.window(o)]
                    best = max(window) if pool.kind == "max" else min(window)
                    if window.count(best) > 1:
                        return False
    return True


def asked(data: dict[str, Any], exercise: Exercise) -> dict[str, Any]:
    """A drawn problem with the exercise's questions, each checked against the layer."""
    if not exercise.ask:
        return data
    out = {**{k: v for k, v in data.items() if k != "questions"},
           "questions": questions(exercise.ask)}
    try:
        volumes_from_data(out)
    except ProblemError as error:
        raise GenerateError(f"ask: {error}") from None
    return out
