"""The result object of the problem format: every quantity in the user's shapes."""

from __future__ import annotations

import math
import sys
from fractions import Fraction
from typing import Any

import numpy as np

from cnnstep import quantities
from cnnstep.engine import Solution, solve_scaled
from cnnstep.exact import Scaled, largest
from cnnstep.problem import Array, Problem, ProblemError

Nested = Fraction | list[Any]


def quantity(solution: Solution, key: str) -> Array | Fraction | None:
    """The full-layout value of a result key, or None where the format omits it."""
    if key not in quantities.present(solution.problem):
        return None
    value: Array | Fraction = getattr(solution, key)
    return value


def result(solution: Solution) -> dict[str, Any]:
    """The keys present by the format's rules, each in the user's shape.

    Numbers stay exact (:class:`~fractions.Fraction`); a number bias gives a
    number ``grad_bias``, a one-filter layer a 2-D ``output``, and so on. The
    history is a list of one object per training step.
    """
    out: dict[str, Any] = {}
    for key in quantities.present(solution.problem):
        value = getattr(solution, key)
        if isinstance(value, Fraction):
            out[key] = value
        elif quantities.get(key).axes == "history":
            out[key] = history(value, solution)
        else:
            out[key] = _shaped(key, value, solution)
    return out


def _shaped(key: str, value: Array, solution: Solution) -> Nested:
    shaped = quantities.user_shape(key, value, solution.problem.layout)
    nested: Nested = shaped.item() if shaped.ndim == 0 else shaped.tolist()
    return nested


def history(table: Array, solution: Solution) -> list[dict[str, Any]]:
    """The history table as the result writes it: one object per training step,
    ``{"step": k, "loss": L_k, "updated_filter": …, "updated_bias": …}``, the
    weights in the user's shapes (``updated_bias`` only with a bias)."""
    layer = solution.problem.layer
    size = math.prod(layer.filter_shape)
    out: list[dict[str, Any]] = []
    for k, row in enumerate(table, start=1):
        step: dict[str, Any] = {"step": k, "loss": row[0]}
        step["updated_filter"] = _shaped(
            "updated_filter", row[1 : 1 + size].reshape(layer.filter_shape), solution)
        if layer.has_bias:
            step["updated_bias"] = _shaped("updated_bias", row[1 + size :], solution)
        out.append(step)
    return out


def scaled_result(problem: Problem) -> dict[str, Scaled | Fraction] | None:
    """The same result as :func:`result`, its arrays as :class:`~cnnstep.exact.Scaled`
    integers over a common denominator (for writing in bulk); None where the engine
    has no integer path for the layer."""
    values = solve_scaled(problem)
    keys = quantities.present(problem)
    if values is None or any(key not in values for key in keys):
        return None
    out: dict[str, Scaled | Fraction] = {}
    for key in keys:
        value = values[key]
        if isinstance(value, Scaled):
            shaped = quantities.user_shape(key, value.numerators, problem.layout)
            value = Scaled(shaped, value.denominator)
        out[key] = value
    return out


#: the magnitudes a JSON reader holds as a double with all its digits
LARGEST = Fraction(sys.float_info.max)
SMALLEST = Fraction(sys.float_info.min)


def _in_range(values: Scaled) -> bool:
    """Whether every value is 0 or within the range of a double, from the largest and
    the smallest non-zero magnitude."""
    nonzero = values.numerators[values.numerators != 0]
    if not nonzero.size:
        return True
    if nonzero.dtype != object:
        smallest = int(np.abs(nonzero).min())
    else:
        smallest = min(abs(int(n)) for n in nonzero)
    d = values.denominator
    return Fraction(largest(nonzero), d) <= LARGEST and Fraction(smallest, d) >= SMALLEST


class RangeError(ProblemError):
    """A result value that a JSON reader cannot hold as a number."""


def check_range(values: dict[str, Any]) -> None:
    """Refuse a result whose numbers a JSON reader would take as infinity or 0.

    JSON readers hold numbers as doubles: beyond about ±1.8e308 a literal
    reads as infinity, and below about 2.2e-308 it loses its digits or reads
    as 0. Such a value is refused, naming the entry, rather than written.
    """
    for key, value in values.items():
        if isinstance(value, Scaled):
            if _in_range(value):
                continue
            value = value.fractions.item() if value.numerators.ndim == 0 else \
                value.fractions.tolist()
        stack: list[tuple[Any, str]] = [(value, key)]
        while stack:
            item, where = stack.pop()
            if isinstance(item, list):
                stack.extend((child, f"{where}[{i}]") for i, child in reversed(
                    list(enumerate(item))))
            elif isinstance(item, dict):
                stack.extend((child, f"{where}.{name}") for name, child in reversed(
                    list(item.items())))
            elif isinstance(item, Fraction) and item and not SMALLEST <= abs(item) <= LARGEST:
                size = abs(item)
                exponent = round((size.numerator.bit_length() - size.denominator.bit_length())
                                 * math.log10(2))
                raise RangeError(
                    f"{where}: about {'-' if item < 0 else ''}1e{exponent} is outside the "
                    "range of a double-precision number "
                    "(2.2e-308 to 1.8e308 in magnitude), which JSON readers would take as "
                    + ("infinity" if abs(item) > 1 else "0")
                    + "; the text, LaTeX and Markdown formats show it exactly")
