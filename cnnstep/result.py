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
    "conv", "activated", "pooled", "grad_conv", "grad_activated",
)

#: keys shaped like the output
_OUTPUT_LIKE = ("output", "grad_output", "target", "conv", "activated", "pooled",
                "grad_conv", "grad_activated")

Nested = Fraction | list[Any]


def quantity(solution: Solution, key: str) -> Array | Fraction | None:
    """The full-layout value of a result key, or None where the format omits it.

    ``output`` and ``grad_output`` are the last stage and its gradient; the
    convolution's own Z and dL/dZ appear as ``conv`` and ``grad_conv`` once an
    activation or a pool follows it.
    """
    layer = solution.problem.layer
    if key == "output":
        return solution.last
    if key == "grad_output":
        return solution.grad_last
    if key in ("conv", "grad_conv"):
        if not layer.layered:
            return None
        return solution.output if key == "conv" else solution.grad_output
    if key == "grad_activated" and layer.pool is None:
        return None
    value: Array | Fraction | None = getattr(solution, key)
    return value


def approximate_keys(solution: Solution) -> frozenset[str]:
    """The keys whose values went through float sigmoid or tanh."""
    if not solution.approximate:
        return frozenset()
    exact = {"conv"}
    if solution.problem.target is None:  # a given upstream gradient stays exact
        exact |= {"grad_output", "grad_activated"}
    return frozenset(key for key in RESULT_KEYS if key not in exact)


def user_shape(key: str, array: Array, layout: Layout) -> Array:
    """An array in full layout reshaped to the rank the user gave it in."""
    if key in _OUTPUT_LIKE:
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
        value = quantity(solution, key)
        if value is None:
            continue
        if isinstance(value, Fraction):
            out[key] = value
        else:
            shaped = user_shape(key, value, layout)
            out[key] = shaped.item() if shaped.ndim == 0 else shaped.tolist()
    return out
