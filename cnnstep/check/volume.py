"""Marking a 3-D layer's answers, with the rules and the mistakes of a 2-D layer's.

Every quantity the layer determines is asked, one point each, shared equally by
its entries; an entry is right by :func:`cnnstep.check.answers.is_right`. A
wrong quantity is diagnosed with the first mistake of
:data:`cnnstep.check.mistakes.PRECEDENCE` that has a 3-D form (registered here
with :func:`~cnnstep.check.mistakes.in_volume`) and whose numbers it matches,
then ``carried_forward``: the step done right from the student's own wrong
answer to the quantity it rests on. The mistakes are the 2-D ones along three
axes: the kernel flipped along all three (true_convolution), not rotated in
dL/dX (kernel_not_rotated), dL/dZ used without its ``s − 1`` zeros between
neighbours along each strided axis (stride_not_dilated), and so on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import numpy as np

from cnnstep import volume as engine
from cnnstep import volume_transposed
from cnnstep.check.answers import (
    Answers,
    Given,
    answer_grid,
    entries,
    given_entry,
    given_values,
    is_right,
)
from cnnstep.check.follow_through import STEPS
from cnnstep.check.marking import CARRIED_FORWARD, Entry, Marked, Mismatch
from cnnstep.check.mistakes import MISTAKES, PRECEDENCE, Diagnosis, Value, in_volume
from cnnstep.problem import Array, ProblemError, Volume, frozen
from cnnstep.quantities import in_step_order


def result_name(name: str, volume: Volume) -> str:
    """A registry name as this layer's result key: ``conv`` and ``grad_conv`` are
    ``output`` and ``grad_output`` without an activation."""
    if volume.activation is None and volume.pool is None:
        return {"conv": "output", "grad_conv": "grad_output"}.get(name, name)
    return name


def sources(volume: Volume) -> dict[str, str]:
    """The quantity each later one is computed from, for follow-through (the 2-D
    layer's steps, :data:`cnnstep.check.follow_through.STEPS`)."""
    return {key: result_name(step.source, volume) for key, step in STEPS.items()}


def _dz(right: Mapping[str, Any]) -> Any:
    """dL/dZ, after the activation's derivative where there is one."""
    return right.get("grad_conv", right.get("grad_output"))


def _gradient(volume: Volume, of: str) -> str:
    """∂L/∂Z in the problem's notation."""
    return f"∂{volume.notation.loss}/∂{of}"


def flipped(kernel: Array) -> Array:
    """The kernel rotated by 180° in all three spatial axes: K[f, c, kd−1−a, kh−1−b,
    kw−1−e]."""
    return frozen(engine.flip(kernel))


# --------------------------------------------------------------------------
# the mistakes, in 3-D


def _true_convolution_message(volume: Volume, key: str) -> str:
    if volume.flipped:
        return ("The forward pass used the kernel as it is (a cross-correlation); mode "
                '"convolution" is a true convolution, which flips the kernel along all three '
                "axes")
    return ("The forward pass flipped the kernel along all three axes (a true convolution); "
            "a CNN layer computes the cross-correlation, with the kernel as it is")


@in_volume("true_convolution", _true_convolution_message)
def _true_convolution(volume: Volume, right: Mapping[str, Any], key: str) -> Value | None:
    if volume.transposed:  # its forward pass rotates the kernel by design
        return None
    return engine.forward(replace(volume, filter=flipped(volume.filter)))


@in_volume("bias_omitted", "The bias was left out of the forward pass")
def _bias_omitted(volume: Volume, right: Mapping[str, Any], key: str) -> Value | None:
    return None if volume.bias is None else engine.forward(replace(volume, bias=None))


@in_volume("mse_not_averaged", "The squared errors were summed instead of averaged over the "
                               "output entries")
def _mse_not_averaged(volume: Volume, right: Mapping[str, Any], key: str) -> Value | None:
    if volume.target is None or volume.loss != "mse":
        return None
    summed = replace(volume, loss="sse")
    z = right["output"]
    return engine.loss_value(summed, z) if key == "loss" else engine.loss_gradient(summed, z)


@in_volume("missing_factor_two",
           lambda volume, key: f"{_gradient(volume, volume.notation.output)} is missing the "
                               "factor 2 that comes from differentiating the square")
def _missing_factor_two(volume: Volume, right: Mapping[str, Any], key: str) -> Value | None:
    if volume.target is None or volume.loss == "half_sse":
        return None
    half: Array = right["grad_output"] / 2
    return half


def _wrong_sign_message(volume: Volume, key: str) -> str:
    n = volume.notation
    if key.startswith("updated"):
        weight = n.bias if key == "updated_bias" else n.filter
        return f"The update added α·{_gradient(volume, weight)} instead of subtracting it"
    return (f"{_gradient(volume, n.output)} was taken from ({n.target} − {n.output}) "
            f"instead of ({n.output} − {n.target})")


@in_volume("wrong_sign", _wrong_sign_message)
def _wrong_sign(volume: Volume, right: Mapping[str, Any], key: str) -> Value | None:
    if key == "grad_output":
        negated: Array = -right["grad_output"]
        return None if volume.target is None else negated
    weights = volume.bias if key == "updated_bias" else volume.filter
    grad = right.get("grad_bias" if key == "updated_bias" else "grad_filter")
    if volume.learning_rate is None or weights is None or grad is None:
        return None
    added: Array = weights + grad * volume.learning_rate
    return added


def _kernel_not_rotated_message(volume: Volume, key: str) -> str:
    if key != "grad_input":  # a transposed layer's forward pass
        return ("The forward pass slid the kernel over the expanded input as it is; a "
                "transposed convolution worked as an ordinary one slides the kernel rotated "
                f"by 180° along all three axes (each input entry scatters "
                f"{volume.notation.filter} itself, not its flip)")
    of = _gradient(volume, volume.notation.input)
    if volume.flipped:
        return (f"{of} was computed with the kernel rotated by 180° along all three axes, as "
                "for a cross-correlation; a true convolution's forward pass already flips the "
                "kernel, so the full correlation uses the kernel as it is")
    return (f"{of} was computed with the kernel as it is; the full convolution needs the "
            "kernel rotated by 180° along all three axes")


@in_volume("kernel_not_rotated", _kernel_not_rotated_message)
def _kernel_not_rotated(volume: Volume, right: Mapping[str, Any], key: str) -> Value | None:
    """The full convolution of K itself: the right dL/dX of the flipped kernel. In a
    transposed layer, its forward pass correlating the expanded input with K as it is
    (the scatter of the flipped kernel); its dL/dX uses K as it is."""
    if key != "grad_input":
        return (engine.forward(replace(volume, filter=flipped(volume.filter)))
                if volume.transposed else None)
    grad = _dz(right)
    if grad is None or volume.transposed:
        return None
    return engine.input_gradient(replace(volume, filter=flipped(volume.filter)), grad)


def _stride_message(volume: Volume, key: str) -> str:
    zeros = " and ".join(f"{s - 1} zero{'s' * (s != 2)} between its {axis}"
                         for s, axis in zip(volume.stride, ("depth slices", "rows", "columns"),
                                            strict=True) if s > 1)
    if key != "grad_filter" and key != "grad_input":  # a transposed layer's forward pass
        return (f"With a stride above 1, a transposed convolution first spreads "
                f"{volume.notation.input} apart by inserting {zeros}; the forward pass used "
                "it as it is")
    return (f"With a stride above 1, {_gradient(volume, volume.notation.output)} must first be "
            f"spread apart by inserting {zeros}; it was used as it is")


@in_volume("stride_not_dilated", _stride_message)
def _stride_not_dilated(volume: Volume, right: Mapping[str, Any], key: str) -> Value | None:
    """The stride-1 formulas on the un-spread dL/dZ: the taps of each kernel entry read
    (or send to) adjacent entries. In a transposed layer's forward pass, the input
    expanded without zeros between its entries, placed at the front, top and left of
    the output, cut or zero-filled."""
    if volume.stride == (1, 1, 1):
        return None
    if key != "grad_filter" and key != "grad_input":
        return volume_transposed.unspread(volume) if volume.transposed else None
    grad = _dz(right)
    if grad is None or volume.transposed:
        return None
    if key == "grad_filter":
        return engine.kernel_gradient(volume, grad, spread=False)
    return engine.input_gradient(volume, grad, spread=False)


@in_volume("bias_averaged",
           lambda volume, key: f"{_gradient(volume, volume.notation.bias)} is the sum of "
                               f"{_gradient(volume, volume.notation.output)} over the output "
                               "positions, not their mean")
def _bias_averaged(volume: Volume, right: Mapping[str, Any], key: str) -> Value | None:
    grad = _dz(right)
    if grad is None:
        return None
    averaged: Array = engine.bias_gradient(grad) / int(np.prod(grad.shape[1:]))
    return averaged


@in_volume("transposed", "The matrix is right but transposed (rows and columns swapped)")
def _transposed(volume: Volume, right: Mapping[str, Any], key: str) -> Value | None:
    true = right[key]
    if isinstance(true, np.ndarray) and true.ndim >= 2 and true.shape[-1] == true.shape[-2] > 1:
        swapped: Array = np.swapaxes(true, -1, -2)
        return swapped
    return None


# --------------------------------------------------------------------------
# follow-through


def _follow(volume: Volume, key: str, earlier: Array) -> Value | None:
    """``key`` worked out right from ``earlier``, the student's own value of its source."""
    rate = volume.learning_rate
    if key in ("loss", "grad_output"):
        if volume.target is None:
            return None
        return (engine.loss_value(volume, earlier) if key == "loss"
                else engine.loss_gradient(volume, earlier))
    if key == "grad_filter":
        return engine.kernel_gradient(volume, earlier)
    if key == "grad_bias":
        return engine.bias_gradient(earlier)
    if key == "grad_input":
        return engine.input_gradient(volume, earlier)
    weights = volume.filter if key == "updated_filter" else volume.bias
    if rate is None or weights is None:
        return None
    updated: Array = weights - earlier * rate
    return updated


# --------------------------------------------------------------------------
# marking


@dataclass(frozen=True)
class VolumeReport:
    """A 3-D layer's answers, marked: each quantity (:class:`Marked`) in the order
    of the steps, one point each."""

    volume: Volume
    quantities: tuple[Marked, ...]
    answers: Answers = field(repr=False, default_factory=dict)
    follow_through: Fraction = Fraction(1)

    @property
    def correct(self) -> bool:
        return all(q.correct for q in self.quantities)

    @property
    def right(self) -> int:
        return sum(q.right for q in self.quantities)

    @property
    def answered(self) -> int:
        return sum(q.answered for q in self.quantities)

    @property
    def total(self) -> int:
        return sum(q.total for q in self.quantities)

    @property
    def points(self) -> Fraction:
        return sum((q.points for q in self.quantities), Fraction(0))

    @property
    def max_points(self) -> Fraction:
        return sum((q.max_points for q in self.quantities), Fraction(0))

    @property
    def blank(self) -> bool:
        return self.answered == 0

    def marked(self, key: str) -> Marked | None:
        """The marked quantity of a result key."""
        return next((q for q in self.quantities if q.key == key), None)


def user_shaped(volume: Volume, right: Mapping[str, Any]) -> dict[str, Array]:
    """Each quantity in the shape the student answers it in (a number: a 0-D array)."""
    out: dict[str, Array] = {}
    for key in right:
        value = engine.shaped(key, right[key], volume)
        array = np.empty((), dtype=object) if isinstance(value, Fraction) else None
        if array is not None:
            array[()] = value
        else:
            array = np.array(value, dtype=object)
        out[key] = array
    return out


def read_volume_answers(data: Any, volume: Volume, shaped: Mapping[str, Array],
                        where: str = "") -> Answers:
    """Check an answers object against a 3-D layer: its result keys, in their shapes."""
    prefix = f"{where}: " if where else ""
    if not isinstance(data, Mapping):
        raise ProblemError(f"{prefix}expected a JSON object of answers")
    answers: Answers = {}
    for key, value in data.items():
        if key not in shaped:
            raise ProblemError(f"{prefix}{key}: not a quantity of this 3-D layer's result; "
                               f"it has {', '.join(shaped)}")
        if value is None:
            continue
        if shaped[key].ndim == 0:
            grid = np.empty((), dtype=object)
            grid[()] = given_entry(value, f"{prefix}{key}")
        else:
            grid = answer_grid(value, f"{prefix}{key}", shaped[key].shape)
        answers[key] = grid
    return answers


def mark_volume(volume: Volume, data: Any, tolerance: Fraction | None = None, *,
                follow_through: Fraction = Fraction(1), where: str = "") -> VolumeReport:
    """Mark the answers object ``data`` to a 3-D layer, every quantity asked."""
    if not 0 <= follow_through <= 1:
        raise ProblemError("the follow-through fraction must be from 0 to 1")
    right = engine.arrays(volume)
    if volume.steps > 1:  # the loss after training; the history itself is not marked
        right["final_loss"] = engine.training(volume)[1]
    shaped = user_shaped(volume, right)
    answers = read_volume_answers(data, volume, shaped, where)
    wrong: set[str] = set()
    marked: list[Marked] = []
    for key in in_step_order(shaped):
        grid = answers.get(key)
        diagnosis = None
        if grid is not None and any(not is_right(given, shaped[key][index], tolerance)
                                    for index, given in entries(grid)):
            wrong.add(key)
            diagnosis = diagnose(volume, right, key, answers, wrong, tolerance)
        marked.append(_mark(key, shaped[key], right[key], grid, diagnosis, tolerance,
                            follow_through))
    return VolumeReport(volume, tuple(marked), answers, follow_through)


def diagnose(volume: Volume, right: Mapping[str, Any], key: str, answers: Answers,
             wrong: set[str], tolerance: Fraction | None) -> Diagnosis | None:
    """The first mistake in :data:`PRECEDENCE` with a 3-D form that the answers to
    ``key`` match, else carried_forward, else None."""
    grid = answers[key]
    for code in PRECEDENCE:
        found = MISTAKES[code]
        names = {result_name(name, volume) for name in found.keys}
        if key not in names:
            continue
        if code == CARRIED_FORWARD:
            values = _carried(volume, right, key, answers, wrong)
        elif found.in_volume is not None:
            values = found.in_volume.recompute(volume, right, key)
        else:
            continue
        if values is not None and _matches(grid, values, tolerance):
            step = found.step_of(key)
            message = (_carried_message(sources(volume)[key]) if found.in_volume is None
                       else found.in_volume.message(volume, key))
            return Diagnosis(code, message + (f" (step: {step})." if step else "."))
    return None


def _carried(volume: Volume, right: Mapping[str, Any], key: str, answers: Answers,
             wrong: set[str]) -> Value | None:
    earlier = sources(volume).get(key)
    if earlier is None or earlier not in wrong:
        return None
    values = given_values(answers[earlier])
    if values is None:
        return None
    return _follow(volume, key, frozen(values.reshape(np.shape(right[earlier]))))


def _carried_message(earlier: str) -> str:
    return (f"Right for your own {earlier}: this step was done correctly from the wrong "
            f"{earlier} above, so it deserves method marks")


def _matches(grid: Array, values: Value, tolerance: Fraction | None) -> bool:
    """Whether every answered entry is right for ``values`` (any layout of the same
    entries: the student's shape drops the leading axes of length 1)."""
    if isinstance(values, Fraction):
        return all(is_right(given, values, tolerance) for _, given in entries(grid))
    if values.size != grid.size:
        return False
    reshaped = values.reshape(grid.shape)
    return all(is_right(given, reshaped[index], tolerance) for index, given in entries(grid))


def _mark(key: str, true: Array, full: Any, grid: Array | None, diagnosis: Diagnosis | None,
          tolerance: Fraction | None, follow_through: Fraction) -> Marked:
    """One quantity, one point shared equally by its entries."""
    share = Fraction(1, max(1, true.size))
    carried = diagnosis is not None and diagnosis.code == CARRIED_FORWARD
    full_shape = np.shape(full)
    marked: list[Entry] = []
    mismatches: list[Mismatch] = []
    for index in np.ndindex(*true.shape):
        expected: Fraction = true.item(index) if index else true.item()
        given: Given | None = (None if grid is None
                               else grid.item(index) if index else grid.item())
        ok = given is not None and is_right(given, expected, tolerance)
        points = share if ok else Fraction(0)
        if given is not None and not ok:
            position = int(np.ravel_multi_index(index, true.shape)) if index else 0
            full_index = tuple(int(i) for i in np.unravel_index(position, full_shape))
            mismatches.append(Mismatch(index, full_index, expected, given))
            points = share * follow_through if carried else Fraction(0)
        marked.append(Entry(index, expected, given, ok, points, share))
    return Marked(key, sum(e.right for e in marked), sum(e.given is not None for e in marked),
                  len(marked), tuple(mismatches), diagnosis if mismatches else None,
                  sum((e.points for e in marked), Fraction(0)), Fraction(1), tuple(marked))
