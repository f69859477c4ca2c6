"""The student's answers: reading them, and the rule that marks one entry right.

An answers object holds any subset of the result keys, in the result's shapes,
with numbers or exact strings; ``null`` marks an entry not answered. A value is
right when it is the true value correctly rounded to the decimals written and
within 0.01 of it (a value exactly halfway may be rounded either way); a
fraction must be exact; ``tolerance`` replaces both with an absolute bound.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from cnnstep.engine import Solution
from cnnstep.problem import (
    Array,
    NumberText,
    ProblemError,
    parse_json,
    read_text,
    to_number,
    where,
)
from cnnstep.quantities import (
    RESULT_KEYS,
    full_shape,
    get,
    history_columns,
    last_key,
    user_shape,
    why_absent,
)
from cnnstep.result import quantity

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


def given_entry(value: Any, where: str) -> Given | None:
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


def answer_grid(value: Any, where: str, shape: tuple[int, ...]) -> Array:
    """A nested list of answers checked against ``shape`` (entries may be null)."""
    out = np.empty(shape, dtype=object)

    def walk(item: Any, path: str, depth: int, index: tuple[int, ...]) -> None:
        if depth == len(shape):
            if isinstance(item, list):
                raise ProblemError(f"{path}: expected a number or null, got a list")
            out[index] = given_entry(item, path)
            return
        if not isinstance(item, list) or len(item) != shape[depth]:
            got = (f"{len(item)} entr{'y' if len(item) == 1 else 'ies'}"
                   if isinstance(item, list) else _kind(item))
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
                               f"{why_absent(key, solution.problem)}")
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
            grid[()] = given_entry(value, f"{prefix}{key}")
        elif get(key).axes == "history":
            grid = _history(value, f"{prefix}{key}", solution)
        else:
            shape = user_shape(key, true, layout).shape
            grid = answer_grid(value, f"{prefix}{key}", shape)
        answers[key] = grid
    layer = solution.problem.layer
    return as_output(answers, prefix, last_key(layer) if layer.layered else None)


def as_output(answers: Answers, prefix: str, alias: str | None) -> Answers:
    """The last stage after the convolution (``alias``: ``activated`` or ``pooled``;
    None when the output is Z) is marked once, as ``output``: an answer given under
    its own name is that answer; the same stage answered twice with different
    numbers is refused. A 2-D and a 3-D layer's answers alike."""
    if alias is None or alias not in answers:
        return answers
    given = answers.pop(alias)
    if "output" not in answers:
        answers["output"] = given
    elif not np.array_equal(answers["output"], given):
        raise ProblemError(f"{prefix}{alias}: is this layer's output, answered again under "
                           f"output with other numbers; give it once")
    return answers


def _history(value: Any, where: str, solution: Solution) -> Array:
    """A history answered as the result writes it, a list of one object per training
    step (``{"step": 1, "loss": …, "updated_filter": …, "updated_bias": …}``, any
    of them null or left out), read into the table the marker compares: a row per
    step, its loss, then the filter's entries, then the bias's."""
    problem = solution.problem
    layer, steps = problem.layer, problem.steps
    out = np.empty((steps, history_columns(layer)), dtype=object)
    if not isinstance(value, list) or len(value) != steps:
        got = f"{len(value)} entries" if isinstance(value, list) else _kind(value)
        raise ProblemError(f"{where}: expected a list of {steps} objects, one per training "
                           f"step, got {got}")
    names = ["step", "loss", "updated_filter", *(["updated_bias"] if layer.has_bias else [])]
    size = math.prod(layer.filter_shape)
    for k, item in enumerate(value):
        at = f"{where}[{k}]"
        if item is None:
            continue
        if not isinstance(item, Mapping):
            raise ProblemError(f"{at}: expected an object such as {{\"step\": {k + 1}, "
                               f"\"loss\": …}}, got {_kind(item)}")
        for name in item:
            if name not in names:
                raise ProblemError(f"{at}.{name}: not a key of a training step; expected "
                                   f"{', '.join(names)}")
        if item.get("step") is not None and to_number(item["step"], f"{at}.step") != k + 1:
            raise ProblemError(f"{at}.step: expected {k + 1}, the steps in order")
        out[k, 0] = given_entry(item.get("loss"), f"{at}.loss")
        parts = [("updated_filter", 1, size)]
        if layer.has_bias:
            parts.append(("updated_bias", 1 + size, layer.filters))
        for name, first, count in parts:
            if item.get(name) is None:
                continue
            full = np.empty(full_shape(name, layer), dtype=object)
            shape = user_shape(name, full, problem.layout).shape
            if shape:
                grid = answer_grid(item[name], f"{at}.{name}", shape)
            else:
                grid = np.empty((), dtype=object)
                grid[()] = given_entry(item[name], f"{at}.{name}")
            out[k, first : first + count] = list(grid.flat)
    return out


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
    if isinstance(value, dict):
        return "an object"
    return "an array" if isinstance(value, list) else "something else"


def load_answers(path: Path, solution: Solution) -> Answers:
    try:
        return read_answers(parse_json(read_text(path)), solution)
    except ProblemError as error:
        raise ProblemError(f"{where(path)}: {error}") from None


def answers_in_problem(path: Path) -> Any:
    """The ``answers`` object of a problem file, or None."""
    data = parse_json(read_text(path))
    return data.get("answers") if isinstance(data, dict) else None


def tolerance_of(text: str) -> Fraction:
    value = to_number(NumberText(text), "--tol")
    if value < 0:
        raise ProblemError("--tol: the tolerance cannot be negative")
    return value


# --------------------------------------------------------------------------
# comparing answers with values


def entries(answers: Array) -> Iterator[tuple[tuple[int, ...], Given]]:
    """The answered entries of one quantity: (index in the user's shape, Given)."""
    for index in np.ndindex(*answers.shape):
        given: Given | None = answers.item(index) if index else answers.item()
        if given is not None:
            yield index, given


def in_user_shape(value: Array | Fraction, key: str, solution: Solution) -> Array:
    """A full-layout value of ``key`` (or a number) in the shape the user answers it in."""
    if isinstance(value, Fraction):
        return np.array(value, dtype=object)
    return user_shape(key, value, solution.problem.layout)


def matches(answers: Array, values: Array, tolerance: Fraction | None) -> bool:
    """Whether every answered entry is right for ``values`` (in the user's shape)."""
    return all(is_right(given, values[index], tolerance) for index, given in entries(answers))


def given_values(answers: Array) -> Array | None:
    """The values of a fully answered quantity (in the user's shape); None if any is null."""
    if any(given is None for given in answers.flat):
        return None
    values = np.empty(answers.shape, dtype=object)
    values.flat[:] = [given.value for given in answers.flat]
    return values
