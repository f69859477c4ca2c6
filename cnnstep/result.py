"""The result object of the problem format: every quantity in the user's shapes."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from cnnstep import quantities
from cnnstep.engine import Solution
from cnnstep.problem import Array

Nested = Fraction | list[Any]


def quantity(solution: Solution, key: str) -> Array | Fraction | None:
    """The full-layout value of a result key, or None where the format omits it."""
    if key not in quantities.present(solution.problem):
        return None
    value: Array | Fraction = getattr(solution, key)
    return value


def result(solution: Solution) -> dict[str, Nested]:
    """The keys present by the format's rules, each in the user's shape.

    Numbers stay exact (:class:`~fractions.Fraction`); a number bias gives a
    number ``grad_bias``, a one-filter layer a 2-D ``output``, and so on.
    """
    layout = solution.problem.layout
    out: dict[str, Nested] = {}
    for key in quantities.present(solution.problem):
        value = getattr(solution, key)
        if isinstance(value, Fraction):
            out[key] = value
        else:
            shaped = quantities.user_shape(key, value, layout)
            out[key] = shaped.item() if shaped.ndim == 0 else shaped.tolist()
    return out
