"""The JSON Schema (draft 2020-12) of a problem file, for editors and validators.

It says what the problem format says about each key: its type, its allowed
names and ranges, arrays of the right depth, and which keys exclude or need
each other. What a schema cannot say — that the shapes agree, that the filter
fits the padded input — the loader checks (:mod:`cnnstep.problem`).

Built from the loader's own constants, so the two cannot drift apart.
"""

from __future__ import annotations

import json
import re
from dataclasses import fields
from typing import Any

from cnnstep.numbers import DECIMAL_PATTERN, FRACTION_PATTERN
from cnnstep.problem import (
    ACTIVATIONS,
    CONV_KEYS,
    LAYERS,
    LOSSES,
    POOL_ALIASES,
    POOLS,
    Notation,
)
from cnnstep.quantities import RESULT_KEYS

DIALECT = "https://json-schema.org/draft/2020-12/schema"

#: a JSON number, or a string holding an exact decimal or a fraction
NUMBER: dict[str, Any] = {
    "anyOf": [
        {"type": "number"},
        {"type": "string",
         "pattern": "^[ \\t]*(?:" + re.sub(r"\((?!\?)", "(?:", DECIMAL_PATTERN) + "|"
                    + re.sub(r"\((?!\?)", "(?:", FRACTION_PATTERN) + ")[ \\t]*$"},
    ],
}


#: points: a number as :data:`NUMBER`, not below zero, as ``solve`` reads them
#: (``-0`` is zero; a string is negative when its sign is followed by a digit
#: other than 0 before any exponent or ``/``)
POINTS: dict[str, Any] = {
    "allOf": [
        {"$ref": "#/$defs/number"},
        {"not": {"anyOf": [{"type": "number", "exclusiveMaximum": 0},
                           {"type": "string", "pattern": "^[ \\t]*-[0-9.]*[1-9]"}]}},
    ],
}


#: a question: a result key, with an index per axis or none
_ASKED = "^[ ]*(" + "|".join(RESULT_KEYS) + ")(\\[[0-9]+\\])*[ ]*$"


def _array(depths: tuple[int, ...], item: dict[str, Any] | None = None) -> dict[str, Any]:
    """Nested non-empty arrays of numbers, ``depths`` levels deep (any of them)."""
    def nested(depth: int) -> dict[str, Any]:
        inner = item or {"$ref": "#/$defs/number"}
        for _ in range(depth):
            inner = {"type": "array", "minItems": 1, "items": inner}
        return inner

    options = [nested(depth) for depth in depths]
    return options[0] if len(options) == 1 else {"anyOf": options}


def _shape(lengths: tuple[int, ...]) -> dict[str, Any]:
    """``{"shape": [...]}``: a layer given by its shape, for ``--symbolic``."""
    return {"type": "object", "additionalProperties": False, "required": ["shape"],
            "properties": {"shape": {"type": "array", "minItems": min(lengths),
                                     "maxItems": max(lengths),
                                     "items": {"type": "integer", "minimum": 1}}}}


def _pair(minimum: int) -> dict[str, Any]:
    """An integer for every spatial axis, or one per axis: [n] in 1-D, [h, w] in 2-D,
    [d, h, w] in 3-D."""
    whole = {"type": "integer", "minimum": minimum}
    return {"anyOf": [whole, {"type": "array", "minItems": 1, "maxItems": 3, "items": whole}]}


def _step_answer(answer: dict[str, Any]) -> dict[str, Any]:
    """One training step of an answered history."""
    return {"type": "object", "additionalProperties": False,
            "properties": {"step": {"type": "integer", "minimum": 1}, "loss": answer,
                           "updated_filter": _array((1, 2, 3, 4), answer),
                           "updated_bias": {"anyOf": [answer, _array((1,), answer)]}}}


def schema() -> dict[str, Any]:
    """The schema of a problem file, as a JSON-ready dict."""
    names = [f.name for f in fields(Notation) if f.name != "index_base"]
    answer = {"anyOf": [{"$ref": "#/$defs/number"}, {"type": "null"}]}
    properties: dict[str, Any] = {
        "input": {"description": "the image X: [H][W] or [C][H][W] ([L] or [C][L] in 1-D, "
                                 "[D][H][W] or [C][D][H][W] in 3-D); a batch of N images "
                                 "[N][C][H][W] (of N signals [N][C][L] in 1-D, of N volumes "
                                 "[N][C][D][H][W] in 3-D)",
                  "anyOf": [_array((1, 2, 3, 4, 5)), _shape((1, 2, 3, 4))]},
        "filter": {"description": "the kernel K: [kh][kw], [C][kh][kw] or [F][C][kh][kw] "
                                  "(one axis fewer in 1-D, one more in 3-D)",
                   "anyOf": [_array((1, 2, 3, 4, 5)), _shape((1, 2, 3, 4, 5))]},
        "kernel": {"description": "another name for filter",
                   "anyOf": [_array((1, 2, 3, 4, 5)), _shape((1, 2, 3, 4, 5))]},
        "dimensions": {"description": "spatial axes: 1 (signals), 2 (images) or 3 (volumes)",
                       "enum": [1, 2, 3], "default": 2},
        "bias": {"description": "B: a number (one filter) or one per filter",
                 "anyOf": [{"$ref": "#/$defs/number"}, _array((1,)), {"const": "symbolic"}]},
        "target": {"description": "Y, in the shape of the output (with a batch, its "
                                  "image axis first)", **_array((1, 2, 3, 4, 5))},
        "grad_output": {"description": "dL/dZ given directly, in the shape of the output "
                                       "(with a batch, its image axis first)",
                        **_array((1, 2, 3, 4, 5))},
        "loss": {"enum": list(LOSSES), "default": "mse"},
        "stride": {"description": "step of the window", **_pair(1), "default": 1},
        "padding": {"description": "zeros on each side: an integer, [rows, columns], "
                    "[[top, bottom], [left, right]] ([[start, end]] in 1-D, "
                    "[[front, back], [top, bottom], [left, right]] in 3-D), or \"valid\" "
                    "(none), \"same\" (stride 1: the output keeps the input's size, an odd "
                    "total with the extra zero at the bottom/right) or \"full\" (k_eff − 1 on "
                    "every side)",
                    "anyOf": [*_pair(0)["anyOf"],
                              {"type": "array", "minItems": 1, "maxItems": 3,
                               "items": {"type": "array", "minItems": 2, "maxItems": 2,
                                         "items": {"type": "integer", "minimum": 0}}},
                              {"enum": ["valid", "same", "full"]}],
                    "default": 0},
        "mode": {"description": "\"convolution\" flips the kernel in the forward pass (a true "
                 "convolution); every gradient follows",
                 "enum": ["cross_correlation", "convolution"], "default": "cross_correlation"},
        "dilation": {"description": "spacing of the kernel's taps; the kernel spans "
                     "d·(k − 1) + 1", **_pair(1), "default": 1},
        "groups": {"description": "input channels split into this many blocks, filter f "
                   "seeing only its group's block: filter shape [F][C/groups][kh][kw]; "
                   "groups = C = F is a depthwise convolution",
                   "type": "integer", "minimum": 1, "default": 1},
        "layer": {"description": "conv_transpose: a transposed convolution (PyTorch's "
                  "conv_transpose2d, conv_transpose1d in 1-D, conv_transpose3d in 3-D), the "
                  "filter [C][F/groups][kh][kw], input channels first",
                  "enum": list(LAYERS), "default": "conv"},
        "output_padding": {"description": "with conv_transpose: extra rows and columns of the "
                           "output at the bottom and right (and depth slices behind, in 3-D), "
                           "smaller than the stride or the dilation", **_pair(0), "default": 0},
        "learning_rate": {"description": "α of the SGD update", "$ref": "#/$defs/number"},
        "notation": {
            "type": "object", "additionalProperties": False,
            "properties": {**{name: {"type": "string", "minLength": 1} for name in names},
                           "index_base": {"enum": [0, 1]}},
        },
        "activation": {"anyOf": [
            {"enum": list(ACTIVATIONS)},
            {"type": "object", "additionalProperties": False, "required": ["type"],
             "properties": {"type": {"enum": list(ACTIVATIONS)},
                            "slope": {"$ref": "#/$defs/number"}}},
        ]},
        "pool": {"type": "object", "additionalProperties": False, "required": ["type", "size"],
                 "properties": {"type": {"enum": [*POOLS, *POOL_ALIASES]}, "size": _pair(1),
                                "stride": _pair(1),
                                "padding": {"description": "−∞ (max), +∞ (min) or 0 (mean) "
                                            "on each side, at most half the window",
                                            **_pair(0), "default": 0},
                                "dilation": {"description": "spacing of the window's taps "
                                             "(max and min pooling)", **_pair(1), "default": 1},
                                "ceil_mode": {"type": "boolean", "default": False},
                                "count_include_pad": {"description": "mean pooling: divide by "
                                                      "the whole window, padding included",
                                                      "type": "boolean", "default": True}}},
        "questions": {
            "description": "what the exercise asks: result keys or entries such as "
                           "grad_input[1][1], one point each, or an object from them to points",
            "anyOf": [
                {"type": "array", "minItems": 1, "uniqueItems": True,
                 "items": {"type": "string", "pattern": _ASKED}},
                {"type": "object", "minProperties": 1,
                 "propertyNames": {"pattern": _ASKED},
                 "additionalProperties": {"description": "points, at least 0",
                                          "$ref": "#/$defs/points"}},
            ],
        },
        "steps": {"description": "training steps: forward, loss, backward and update "
                                 "repeated with the same input and target (needs target "
                                 "and learning_rate)",
                  "type": "integer", "minimum": 1, "default": 1},
        "answers": {"description": "a student's answers, for cnnstep check",
                    "type": "object", "additionalProperties": False,
                    "properties": {key: ({"anyOf": [{"type": "null"}, {
                        "type": "array", "minItems": 1, "items": {"anyOf": [
                            {"type": "null"}, _step_answer(answer)]}}]}
                        if key == "history" else
                        {"anyOf": [answer, _array((1, 2, 3, 4, 5), answer)]})
                        for key in RESULT_KEYS}},
    }
    return {
        "$schema": DIALECT,
        "title": "cnnstep problem",
        "description": "One convolution layer of a CNN and what to compute about it.",
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "required": ["input"],
        "allOf": [
            {"not": {"required": ["filter", "kernel"]}},
            # without a filter, a layer alone: an activation and/or a pool, nothing of a
            # convolution's
            {"if": {"not": {"anyOf": [{"required": ["filter"]}, {"required": ["kernel"]}]}},
             "then": {"anyOf": [{"required": ["activation"]}, {"required": ["pool"]}],
                      "not": {"anyOf": [{"required": [key]} for key in CONV_KEYS]}}},
            # the ranks of input and filter follow the spatial axes
            *({"if": ({"properties": {"dimensions": {"const": dims}}, "required": ["dimensions"]}
                      if dims != 2 else
                      {"anyOf": [{"not": {"required": ["dimensions"]}},
                                 {"properties": {"dimensions": {"const": 2}}}]}),
               "then": {"properties": {
                   # a batch of signals, images or volumes adds a leading axis
                   "input": {"anyOf": [_array((dims, dims + 1, dims + 2)),
                                       _shape((dims, dims + 1))]},
                   "filter": {"anyOf": [_array((dims, dims + 1, dims + 2)),
                                        _shape((dims, dims + 1, dims + 2))]},
                   "kernel": {"anyOf": [_array((dims, dims + 1, dims + 2)),
                                        _shape((dims, dims + 1, dims + 2))]}}}}
              for dims in (1, 2, 3)),
            {"not": {"required": ["target", "grad_output"]}},
            {"if": {"required": ["loss"]}, "then": {"required": ["target"]}},
            {"if": {"required": ["steps"]},
             "then": {"required": ["target", "learning_rate"]}},
        ],
        "$defs": {"number": NUMBER, "points": POINTS},
    }


def text() -> str:
    """The schema as a JSON document."""
    return json.dumps(schema(), indent=2, ensure_ascii=False) + "\n"
