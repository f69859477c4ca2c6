"""Marking the answers to a batch of 3-D volumes, as one volume's are marked
(:mod:`cnnstep.check.volume`): every quantity asked, one point each, in the shape
the result gives it (a quantity of one volume with the volume axis first).

A wrong quantity is diagnosed with the registry's 3-D mistakes made in every volume:
each volume's recomputation, stacked for a quantity of one volume and summed for
the loss and the weights' gradients, as the batch sums them (an update's made
once, with the sums); then ``carried_forward``, the step done right from the
student's own wrong answer to the quantity it rests on.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from cnnstep import volume as engine
from cnnstep import volume_batch
from cnnstep.check.answers import Answers, entries, given_values, is_right
from cnnstep.check.asked import Question
from cnnstep.check.marking import CARRIED_FORWARD, score
from cnnstep.check.mistakes import MISTAKES, PRECEDENCE, Diagnosis, Mistake, Value
from cnnstep.check.volume import (
    VolumeReport,
    carried_message,
    follow,
    mark_quantity,
    matches,
    read_volume_answers,
    result_name,
    sources,
    weights_of,
)
from cnnstep.problem import Array, ProblemError, Volume, VolumeBatch, frozen
from cnnstep.quantities import in_step_order
from cnnstep.volume_batch import SUMMED, per_volume
from cnnstep.volume_batch_questions import questions
from cnnstep.volume_questions import last_key


def user_shaped(batch: VolumeBatch, right: Mapping[str, Any]) -> dict[str, Array]:
    """Each quantity in the shape the student answers it in (a number: a 0-D array)."""
    out: dict[str, Array] = {}
    for key in right:
        value = volume_batch.shaped(key, right[key], batch)
        if isinstance(value, Fraction):
            array = np.empty((), dtype=object)
            array[()] = value
        else:
            array = np.array(value, dtype=object)
        out[key] = array
    return out


def mark_volumes(layer: Volume | VolumeBatch, data: Any, tolerance: Fraction | None = None,
                 *, follow_through: Fraction = Fraction(1), where: str = "") -> VolumeReport:
    """Mark answers to one 3-D volume (:func:`~cnnstep.check.volume.mark_volume`, its
    ``questions`` asked) or to a batch (:func:`mark_batch`, every quantity asked)."""
    from cnnstep.check.volume import mark_volume

    if isinstance(layer, VolumeBatch):
        return mark_batch(layer, data, tolerance, follow_through=follow_through, where=where)
    return mark_volume(layer, data, tolerance, follow_through=follow_through, where=where)


def mark_batch(batch: VolumeBatch, data: Any, tolerance: Fraction | None = None, *,
               follow_through: Fraction = Fraction(1), where: str = "") -> VolumeReport:
    """Mark the answers object ``data`` to a batch of 3-D volumes, every quantity
    asked."""
    if not 0 <= follow_through <= 1:
        raise ProblemError("the follow-through fraction must be from 0 to 1")
    each = [engine.arrays(image) for image in batch.images]
    right = volume_batch.result_arrays(batch, each)
    if batch.layer.steps > 1:  # the loss after training; the history itself is not marked
        right["final_loss"] = volume_batch.training(batch)[1]
    shaped = user_shaped(batch, right)
    answers = read_volume_answers(data, batch.layer, shaped, where)
    # its questions, or every quantity, one point each; the last stage once, as output
    keys = [key for key in in_step_order(shaped) if key != last_key(batch.layer)]
    wanted = (tuple(Question(key, key, None, Fraction(1)) for key in keys)
              if batch.questions is None else questions(batch))
    weights = weights_of(wanted, shaped)
    # every answered quantity is checked, asked or not, so that one worked out from a
    # wrong earlier answer is recognised
    wrong: set[str] = set()
    diagnoses: dict[str, Diagnosis | None] = {}
    for key in keys:
        grid = answers.get(key)
        if grid is not None and any(not is_right(given, shaped[key][index], tolerance)
                                    for index, given in entries(grid)):
            wrong.add(key)
            diagnoses[key] = diagnose(batch, each, right, key, answers, wrong, tolerance)
    marked = [mark_quantity(key, shaped[key], right[key], answers.get(key), diagnoses.get(key),
                            tolerance, follow_through, weights[key])
              for key in in_step_order(weights)]
    return VolumeReport(batch.layer, tuple(marked), answers, follow_through,
                       tuple(score(question, marked) for question in wanted), batch=batch)


def diagnose(batch: VolumeBatch, each: list[dict[str, Any]], right: Mapping[str, Any],
             key: str, answers: Answers, wrong: set[str],
             tolerance: Fraction | None) -> Diagnosis | None:
    """The first mistake in :data:`PRECEDENCE` with a 3-D form that the answers to
    ``key`` match, made in every volume; else carried_forward; else None."""
    layer = batch.layer
    for code in PRECEDENCE:
        found = MISTAKES[code]
        if key not in {result_name(name, layer) for name in found.keys}:
            continue
        if code == CARRIED_FORWARD:
            values = _carried(batch, right, key, answers, wrong)
        elif found.in_volume is not None:
            values = _made(found, batch, each, right, key)
        else:
            continue
        if values is not None and matches(answers[key], values, tolerance):
            step = found.step_of(key)
            message = (carried_message(sources(layer)[key]) if found.in_volume is None
                       else found.in_volume.message(layer, key))
            return Diagnosis(code, message + (f" (step: {step})." if step else "."))
    return None


def _made(found: Mistake, batch: VolumeBatch, each: list[dict[str, Any]],
          right: Mapping[str, Any], key: str) -> Value | None:
    """The batch's ``key`` with the mistake made in every volume: stacked, or summed
    for the loss and the weights' gradients; an update's made once, with the sums."""
    assert found.in_volume is not None
    if not per_volume(key) and key not in SUMMED:
        return found.in_volume.recompute(batch.layer, right, key)
    parts = [found.in_volume.recompute(image, own, key)
             for image, own in zip(batch.images, each, strict=True)]
    return _combined(key, parts)


def _combined(key: str, parts: list[Value | None]) -> Value | None:
    """The volumes' values of ``key`` as the batch holds it."""
    present = [part for part in parts if part is not None]
    if len(present) < len(parts):
        return None
    if key in SUMMED:
        total: Any = present[0]
        for part in present[1:]:
            total = total + part
        return total  # type: ignore[no-any-return]
    return frozen(np.stack([np.asarray(part, dtype=object) for part in present]))


def _carried(batch: VolumeBatch, right: Mapping[str, Any], key: str, answers: Answers,
             wrong: set[str]) -> Value | None:
    """``key`` worked out right in every volume from the student's own wrong answer
    to its source."""
    earlier = sources(batch.layer).get(key)
    if earlier is None or earlier not in wrong:
        return None
    values = given_values(answers[earlier])
    if values is None:
        return None
    given = frozen(values.reshape(np.shape(right[earlier])))
    if not per_volume(earlier):  # the weights' gradients: the update applies the sums
        return follow(batch.layer, key, given)
    return _combined(key, [follow(image, key, given[n])
                           for n, image in enumerate(batch.images)])
