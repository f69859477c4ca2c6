"""The result object of the problem format: every quantity in the user's shapes."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from cnnstep.engine import Solution
from cnnstep.problem import Array, Layout

#: Result keys in the order the format lists them.
RESULT_KEYS = (
    "output", "loss", "grad_output", "grad_filter", "grad_bias", "grad_input",
    "updated_filter", "updated_bias",
)

Nested = Fraction | list[Any]


def _nested(array: Array) -> Nested:
    value: Nested = array.tolist()
    return value


def user_shape(key: str, array: Array, layout: Layout) -> Array:
    """An array in full layout reshaped to the rank the user gave it in."""
    if key in ("output", "grad_output", "target"):
        rank = layout.output_rank
    elif key in ("grad_filter", "updated_filter", "filter"):
        rank = layout.filter_rank
    elif key in ("grad_input", "input"):
        rank = layout.input_rank
    elif key in ("grad_bias", "updated_bias", "bias"):
        return array.reshape(()) if layout.bias_is_number else array
    else:
        raise KeyError(key)
    return array.reshape(array.shape[-rank:])


def result(solution: Solution) -> dict[str, Nested]:
    """The keys present by the format's rules, each in the user's shape.

    Numbers stay exact (:class:`~fractions.Fraction`); a number bias gives a
    number ``grad_bias``, a one-filter layer a 2-D ``output``, and so on.
    """
    layout = solution.problem.layout
    out: dict[str, Nested] = {}
    for key in RESULT_KEYS:
        value = getattr(solution, key)
        if value is None:
            continue
        if isinstance(value, Fraction):
            out[key] = value
        else:
            shaped = user_shape(key, value, layout)
            out[key] = shaped.item() if shaped.ndim == 0 else _nested(shaped)
    return out
