"""Marking a hand calculation: which answers are right, and what went wrong.

An answers object holds any subset of the result keys, in the result's shapes,
with numbers or exact strings; ``null`` marks an entry not answered. A value is
right when it is the true value correctly rounded to the decimals written and
within 0.01 of it (a value exactly halfway may be rounded either way); a
fraction must be exact; ``tolerance`` replaces both with an absolute bound.

For a wrong quantity the marker recomputes it under each mistake of the
format's table (kernel not rotated, true convolution, MSE not averaged, …)
and names the one the student's numbers match; where a later quantity is
right for the student's own wrong earlier answer, it is *carried forward*.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from cnnstep import engine
from cnnstep.engine import Solution
from cnnstep.problem import (
    Array,
    NumberText,
    ProblemError,
    frozen,
    parse_json,
    read_text,
    to_number,
)
from cnnstep.quantities import RESULT_KEYS, entry_text, full_shape, user_shape
from cnnstep.result import quantity

#: the result keys in the order of the steps that compute them, so that an earlier
#: mistake is known before the quantities computed from it are diagnosed
STEP_ORDER = (
    "conv", "activated", "pooled", "output", "loss", "grad_output", "grad_activated",
    "grad_conv", "grad_filter", "grad_bias", "grad_input", "updated_filter", "updated_bias",
)

#: how near a rounded answer must also be, whatever decimals it was written with
NEAR = Fraction(1, 100)


@dataclass(frozen=True)
class Given:
    """One answered entry: its exact value and the decimals it was written with
    (None for a fraction, which must be exact)."""

    value: Fraction
    places: int | None

    def text(self) -> str:
        from cnnstep.numbers import display

        return display(self.value)


def _places(text: str) -> int | None:
    """Decimals written in ``0.30`` (2), ``2`` (0), ``1.5e-3`` (4); None for ``1/3``."""
    if "/" in text:
        return None
    exponent = Decimal(text.strip()).as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def _given(value: Any, where: str) -> Given | None:
    if value is None:
        return None
    number = to_number(value, where)
    if isinstance(value, str):  # a JSON literal or a string: as written
        return Given(number, _places(str(value)))
    if isinstance(value, Fraction):
        return Given(number, None)
    if isinstance(value, int):
        return Given(number, 0)
    return Given(number, _places(repr(value)))


def is_right(given: Given, true: Fraction, tolerance: Fraction | None = None) -> bool:
    """The marking rule of the format (see the module's docstring)."""
    error = abs(given.value - true)
    if tolerance is not None:
        return error <= tolerance
    if given.places is None:
        return error == 0
    return error <= Fraction(1, 2 * 10**given.places) and error <= NEAR


# --------------------------------------------------------------------------
# reading answers


Answers = dict[str, np.ndarray[Any, np.dtype[Any]]]  # key → object array of Given | None


def _grid(value: Any, where: str, shape: tuple[int, ...]) -> Array:
    """A nested list of answers checked against ``shape`` (entries may be null)."""
    out = np.empty(shape, dtype=object)

    def walk(item: Any, path: str, depth: int, index: tuple[int, ...]) -> None:
        if depth == len(shape):
            if isinstance(item, list):
                raise ProblemError(f"{path}: expected a number or null, got a list")
            out[index] = _given(item, path)
            return
        if not isinstance(item, list) or len(item) != shape[depth]:
            got = (f"{len(item)} entr{'y' if len(item) == 1 else 'ies'}"
                   if isinstance(item, list) else "a number")
            raise ProblemError(
                f"{path}: expected {shape[depth]} entries here "
                f"(the shape is {''.join(f'[{n}]' for n in shape)}), got {got}")
        for i, child in enumerate(item):
            walk(child, f"{path}[{i}]", depth + 1, (*index, i))

    walk(value, where, 0, ())
    return out


def read_answers(data: Any, solution: Solution, where: str = "") -> Answers:
    """Check an answers object against the problem: known keys, the result's shapes."""
    prefix = f"{where}: " if where else ""
    if not isinstance(data, Mapping):
        raise ProblemError(f"{prefix}expected a JSON object of answers, got {_kind(data)}")
    layout = solution.problem.layout
    answers: Answers = {}
    for key, value in data.items():
        true = quantity(solution, key) if key in RESULT_KEYS else None
        if true is None and key in RESULT_KEYS:
            raise ProblemError(f"{prefix}{key}: this problem has no {key}: "
                               f"{_why_absent(key, solution)}")
        if true is None:
            import difflib

            known = [k for k in RESULT_KEYS if quantity(solution, k) is not None]
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else (
                f"; this problem's result has {', '.join(known)}")
            raise ProblemError(f"{prefix}{key}: not a quantity of this problem's result{hint}")
        if value is None:
            continue
        if isinstance(true, Fraction):
            grid = np.empty((), dtype=object)
            grid[()] = _given(value, f"{prefix}{key}")
        else:
            shape = user_shape(key, true, layout).shape
            grid = _grid(value, f"{prefix}{key}", shape)
        answers[key] = grid
    return answers


def _kind(value: Any) -> str:
    """What a JSON value is, in the user's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, NumberText | int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "something else"


def _why_absent(key: str, solution: Solution) -> str:
    """Why a result key is missing from this problem's result."""
    layer = solution.problem.layer
    if key in ("grad_bias", "updated_bias") and not layer.has_bias:
        return "it has no bias"
    if key.startswith("updated") and solution.problem.learning_rate is None:
        return "it has no learning_rate"
    if key == "loss":
        return "it has no target"
    if key in ("conv", "grad_conv"):
        return "there is no activation or pool after the convolution"
    if key in ("activated", "grad_activated") and layer.activation is None:
        return "it has no activation"
    if key == "pooled":
        return "it has no pool"
    if key == "grad_activated":
        return "it has no pool, so dL/dA is grad_output"
    return "it has no target or grad_output, so no gradients"


def load_answers(path: Path, solution: Solution) -> Answers:
    try:
        return read_answers(parse_json(read_text(path)), solution)
    except ProblemError as error:
        raise ProblemError(f"{path}: {error}") from None


# --------------------------------------------------------------------------
# mistakes


@dataclass(frozen=True)
class Diagnosis:
    code: str
    message: str


#: what each mistake means, and the step where it happens
MISTAKES = {
    "kernel_not_rotated": ("dL/dX was computed with the kernel as it is; the full convolution "
                           "needs the kernel rotated by 180°",
                           "gradient with respect to the input"),
    "true_convolution": ("The forward pass flipped the kernel (a true convolution); a CNN layer "
                         "computes the cross-correlation, with the kernel as it is",
                         "forward pass"),
    "mse_not_averaged": ("The squared errors were summed instead of averaged over the output "
                         "entries", "loss"),
    "missing_factor_two": ("dL/dZ is missing the factor 2 that comes from differentiating the "
                           "square", "gradient of the loss"),
    "wrong_sign": ("The sign is reversed", ""),
    "stride_not_dilated": ("With a stride above 1, dL/dZ must first be spread apart by "
                           "inserting stride − 1 zeros between its entries; it was used as it is",
                           "zero insertion"),
    "bias_omitted": ("The bias was left out of the forward pass", "forward pass"),
    "bias_averaged": ("dL/dB is the sum of dL/dZ over the output positions, not their mean",
                      "gradient with respect to the bias"),
    "transposed": ("The matrix is right but transposed (rows and columns swapped)", ""),
    "carried_forward": ("", ""),
}


def _conv_key(solution: Solution) -> str:
    return "conv" if solution.problem.layer.layered else "output"


def _dz_key(solution: Solution) -> str:
    return "grad_conv" if solution.problem.layer.layered else "grad_output"


def _mistaken(solution: Solution, key: str) -> Iterator[tuple[str, Array | Fraction]]:
    """(code, the quantity recomputed with that mistake) for each mistake that applies."""
    p = solution.problem
    xpad = solution.padded_input
    dz = solution.grad_conv
    if key == _conv_key(solution):
        yield "true_convolution", engine.forward(xpad, engine.rotate180(p.filter), p.bias,
                                                 p.stride)
        if p.bias is not None:
            yield "bias_omitted", engine.forward(xpad, p.filter, None, p.stride)
    last, target = solution.output, p.target
    if target is not None and p.loss == "mse":
        if key == "loss":
            yield "mse_not_averaged", engine.loss_value(last, target, "sse")
        if key == "grad_output":
            yield "mse_not_averaged", engine.loss_gradient(last, target, "sse")
    if target is not None and key == "grad_output" and p.loss != "half_sse":
        yield "missing_factor_two", engine.loss_gradient(last, target, p.loss) / 2
    if target is not None and key == "grad_output":
        yield "wrong_sign", -engine.loss_gradient(last, target, p.loss)
    if key in ("updated_filter", "updated_bias") and p.learning_rate is not None:
        weights = p.filter if key == "updated_filter" else p.bias
        grad = solution.grad_filter if key == "updated_filter" else solution.grad_bias
        if weights is not None and grad is not None:
            yield "wrong_sign", weights + grad * p.learning_rate
    if dz is not None and key == "grad_input":
        yield "kernel_not_rotated", _input_gradient(solution, dz, rotate=False)
    if dz is not None and p.stride != (1, 1):
        if key == "grad_filter":
            yield "stride_not_dilated", engine.filter_gradient(xpad, dz, p.kernel_size)
        if key == "grad_input":
            yield "stride_not_dilated", _input_gradient(solution, dz, dilate=False)
    if dz is not None and key == "grad_bias":
        size = dz.shape[1] * dz.shape[2]
        yield "bias_averaged", engine.fractions(
            [sum(dz[f].flat, Fraction(0)) / size for f in range(dz.shape[0])])
    true = quantity(solution, key)
    if isinstance(true, np.ndarray) and true.ndim >= 2 and true.shape[-1] == true.shape[-2] > 1:
        yield "transposed", np.swapaxes(true, -1, -2)


def _input_gradient(solution: Solution, dz: Array, *, rotate: bool = True,
                    dilate: bool = True) -> Array:
    p = solution.problem
    spread = engine.insert_zeros(dz, p.stride) if dilate else dz
    kernel = engine.rotate180(p.filter) if rotate else p.filter
    return engine.input_gradient(kernel, spread, p.layer)


#: for carried-forward marking: key → (the earlier key it is computed from, how)
def _from_earlier(solution: Solution) -> dict[str, tuple[str, Callable[[Array], Any]]]:
    p = solution.problem
    xpad = solution.padded_input
    plans: dict[str, tuple[str, Callable[[Array], Any]]] = {}
    if p.target is not None:
        target = p.target
        plans["loss"] = ("output", lambda z: engine.loss_value(z, target, p.loss))
        plans["grad_output"] = ("output", lambda z: engine.loss_gradient(z, target, p.loss))
    dz_key = _dz_key(solution)
    plans["grad_filter"] = (dz_key, lambda g: engine.filter_gradient(
        xpad, engine.insert_zeros(g, p.stride), p.kernel_size))
    plans["grad_input"] = (dz_key, lambda g: _input_gradient(solution, g))
    if p.bias is not None:
        plans["grad_bias"] = (dz_key, lambda g: engine.fractions(
            [sum(g[f].flat, Fraction(0)) for f in range(g.shape[0])]))
    if p.learning_rate is not None:
        rate = p.learning_rate
        plans["updated_filter"] = ("grad_filter", lambda g: engine.sgd(p.filter, g, rate))
        if p.bias is not None:
            bias = p.bias
            plans["updated_bias"] = ("grad_bias", lambda g: engine.sgd(bias, g, rate))
    return plans


# --------------------------------------------------------------------------
# the report


@dataclass(frozen=True)
class Mismatch:
    index: tuple[int, ...]  # in the user's shape
    full_index: tuple[int, ...]  # in the full layout
    expected: Fraction
    given: Given


@dataclass(frozen=True)
class Marked:
    """One quantity, marked."""

    key: str
    right: int
    total: int
    mismatches: tuple[Mismatch, ...]
    diagnosis: Diagnosis | None = None

    @property
    def correct(self) -> bool:
        return not self.mismatches


@dataclass(frozen=True)
class Report:
    solution: Solution
    quantities: tuple[Marked, ...]
    answers: Answers = field(repr=False, default_factory=dict)

    @property
    def correct(self) -> bool:
        return all(q.correct for q in self.quantities)

    @property
    def right(self) -> int:
        return sum(q.right for q in self.quantities)

    @property
    def total(self) -> int:
        return sum(q.total for q in self.quantities)

    def wrong_entries(self, limit: int = 12) -> list[str]:
        """The wrong entries as ``--only`` selections, for their worked derivation."""
        out = []
        for marked in self.quantities:
            for miss in marked.mismatches:
                out.append(entry_text(marked.key, miss.full_index,
                                      self.solution.problem.layout))
        return out[:limit]


def _full(key: str, solution: Solution) -> tuple[int, ...]:
    return full_shape(key, solution.problem.layer)


def _entries(answers: Array) -> Iterator[tuple[tuple[int, ...], Given]]:
    for index in np.ndindex(*answers.shape):
        given: Given | None = answers.item(index) if index else answers.item()
        if given is not None:
            yield index, given


def _user(array: Any, key: str, solution: Solution) -> Any:
    if isinstance(array, Fraction):
        return np.array(array, dtype=object)
    return user_shape(key, array, solution.problem.layout)


def _matches(answers: Array, values: Any, tolerance: Fraction | None) -> bool:
    return all(is_right(given, values[index], tolerance) for index, given in _entries(answers))


def mark(solution: Solution, answers: Answers, tolerance: Fraction | None = None) -> Report:
    """Mark every answered quantity and diagnose the wrong ones."""
    wrong: set[str] = set()
    marked: list[Marked] = []
    plans = _from_earlier(solution)
    for key in STEP_ORDER:
        if key not in answers:
            continue
        grid = answers[key]
        true = _user(quantity(solution, key), key, solution)
        full = _full(key, solution)
        mismatches = []
        right = total = 0
        for index, given in _entries(grid):
            total += 1
            if is_right(given, true[index], tolerance):
                right += 1
            else:
                full_index = (0,) * (len(full) - len(index)) + index
                mismatches.append(Mismatch(index, full_index, true[index], given))
        if not total:
            continue  # every entry null: nothing to mark
        diagnosis = None
        if mismatches:
            wrong.add(key)
            diagnosis = _diagnose(solution, key, grid, answers, wrong, plans, tolerance)
        marked.append(Marked(key, right, total, tuple(mismatches), diagnosis))
    if not marked:
        raise ProblemError("no answers to mark: the answers are empty or all null")
    return Report(solution, tuple(marked), answers)


def _diagnose(solution: Solution, key: str, grid: Array, answers: Answers, wrong: set[str],
              plans: dict[str, tuple[str, Callable[[Array], Any]]],
              tolerance: Fraction | None) -> Diagnosis | None:
    stride = solution.problem.stride
    for code, values in _mistaken(solution, key):
        if _matches(grid, _user(values, key, solution), tolerance):
            text, step = MISTAKES[code]
            if code == "wrong_sign":
                n = solution.problem.notation
                weight = n.bias if key == "updated_bias" else n.filter
                text = (f"The update added α·d{n.loss}/d{weight} instead of subtracting it" if
                        key.startswith("updated") else
                        f"d{n.loss}/d{n.output} was taken from ({n.target} − {n.output}) "
                        f"instead of ({n.output} − {n.target})")
                step = "update" if key.startswith("updated") else "gradient of the loss"
            if code == "stride_not_dilated":
                parts = [f"{n - 1} zero{'s' * (n != 2)} between its {axis}"
                         for n, axis in zip(stride, ("rows", "columns"), strict=True) if n > 1]
                text = text.replace("stride − 1 zeros between its entries", " and ".join(parts))
            return Diagnosis(code, text + (f" (step: {step})." if step else "."))
    plan = plans.get(key)
    if plan is not None:
        earlier, compute = plan
        if earlier in wrong and earlier in answers:
            user = answers[earlier]
            if all(g is not None for g in user.flat):
                values = np.empty(user.shape, dtype=object)
                values.flat[:] = [g.value for g in user.flat]
                full = values.reshape(_full(earlier, solution))
                if _matches(grid, _user(compute(frozen(full)), key, solution), tolerance):
                    return Diagnosis("carried_forward", (
                        f"Right for your own {earlier}: this step was done correctly from "
                        f"the wrong {earlier} above, so it deserves method marks."))
    return None


def answers_in_problem(path: Path) -> Any:
    """The ``answers`` object of a problem file, or None."""
    data = parse_json(read_text(path))
    return data.get("answers") if isinstance(data, dict) else None


def tolerance_of(text: str) -> Fraction:
    value = to_number(NumberText(text), "--tol")
    if value < 0:
        raise ProblemError("--tol: the tolerance cannot be negative")
    return value
