"""A 3-D layer made ready for export, as :mod:`cnnstep.export.givens` and
:mod:`cnnstep.export.blanks` make a 2-D one: its givens (the arrays in the shapes
the problem gave, each shown as its 2-D slices), the parts of its question (what
its ``questions`` ask, or every quantity, one point each) and the canonical text
its identifier is made from."""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any, cast

import numpy as np

from cnnstep import volume as engine
from cnnstep.export.blanks import Blank, Part, answer, meaning, tolerance
from cnnstep.export.givens import (
    CROPPED,
    LOSSES,
    Given,
    activation_name,
    number,
    transposed,
)
from cnnstep.problem import Array, Volume
from cnnstep.volume_questions import asked, parse_entry, present, user_shape

#: the axes a per-axis setting is given along
AXES = "(depth × rows × columns)"


def _per_axis(values: tuple[int, int, int]) -> str:
    """``2`` when the three axes agree, else ``1 × 2 × 2 (depth × rows × columns)``."""
    if len(set(values)) == 1:
        return str(values[0])
    return f"{' × '.join(map(str, values))} {AXES}"


def _padding(layer: Volume) -> str:
    """The padding in words: the zeros on each side of each axis, or its name."""
    before, after = layer.sides
    if layer.padding_form is not None:
        return f'"{layer.padding_form}"'
    if layer.transposed:
        return _per_axis(before) + CROPPED
    if before == after:
        return f"{_per_axis(before)} (zeros on each side)"
    return ", ".join(f"{axis} {a} before and {b} after" for axis, a, b in
                     zip(("depth", "rows", "columns"), before, after, strict=True))


def _blank(key: str, index: tuple[int, ...], value: Fraction, points: Fraction) -> Blank:
    """One entry's blank, as :mod:`cnnstep.export.blanks` asks a 2-D layer's."""
    text, decimals = answer(value)
    return Blank(name=key + "".join(f"[{i}]" for i in index), index=index, value=value,
                 places=decimals, text=text, tolerance=tolerance(decimals), points=points)


def _pool_words(layer: Volume) -> str:
    """The pool's settings in words, as a 2-D layer's givens say them."""
    pool = layer.pool
    assert pool is not None
    words = (f"{pool.kind} pooling over {'×'.join(map(str, pool.size))} windows with stride "
             f"{_per_axis(pool.stride)}")
    if any(pool.padding):
        fill = {"max": "−∞", "min": "+∞", "mean": "0"}[pool.kind]
        words += f", padding {_per_axis(pool.padding)} (of {fill})"
    if pool.dilation != (1, 1, 1):
        words += f", dilation {_per_axis(pool.dilation)}"
    if pool.ceil_mode:
        words += ", ceil mode"
    if pool.kind == "mean" and any(pool.padding):
        words += (", the padding counted in each divisor" if pool.count_include_pad else
                  ", the padding not counted in the divisors")
    return words


def givens(layer: Volume) -> list[Given]:
    """Everything a 3-D layer gives, in the order a student reads it."""
    notation = layer.notation

    def shaped(key: str, array: Array) -> Fraction | list[Any]:
        # a given has the axes of its gradient: the input those of grad_input, …
        value: Fraction | list[Any] = engine.shaped(key, array, layer)
        return value

    out = [Given(f"Input {notation.input}", shaped("grad_input", layer.input)),
           Given(f"Kernel {notation.filter}", shaped("grad_filter", layer.filter))]
    if layer.bias is not None:
        out.append(Given(f"Bias {notation.bias}", shaped("grad_bias", layer.bias)))
    out.append(Given("Convolution", "3-D, the volumes' axes depth, rows and columns"))
    out.append(Given("Stride", _per_axis(layer.stride)))
    out.append(Given("Padding", _padding(layer)))
    if layer.transposed:
        out += transposed(_per_axis(layer.output_padding) if any(layer.output_padding)
                          else None, 3)
    if layer.dilation != (1, 1, 1):
        out.append(Given("Dilation", _per_axis(layer.dilation)))
    if layer.groups > 1:
        out.append(Given("Groups", str(layer.groups)))
    if layer.flipped:
        out.append(Given("Mode", "true convolution (the kernel is flipped)"))
    activation = layer.activation
    if activation is not None:
        out.append(Given("Activation", activation_name(activation)))
    if layer.pool is not None:
        out.append(Given("Pooling", _pool_words(layer)))
    if layer.target is not None:
        out.append(Given(f"Target {notation.target}", shaped("grad_output", layer.target)))
        out.append(Given("Loss", LOSSES.get(layer.loss, layer.loss)))
    if layer.grad_output is not None:
        last = {"pooled": "P", "activated": "A"}.get(
            "pooled" if layer.pool else "activated" if layer.activation else "",
            notation.output)
        out.append(Given(f"Upstream gradient dL/d{last}",
                         shaped("grad_output", layer.grad_output)))
    if layer.learning_rate is not None:
        out.append(Given("Learning rate α", number(layer.learning_rate)))
    if layer.steps > 1:
        out.append(Given("Training steps", str(layer.steps)))
    return out


def parts(layer: Volume, result: dict[str, Any]) -> tuple[Part, ...]:
    """The parts of the question about a 3-D layer whose exact result (in the shapes
    given) is ``result``: what it asks, in order, each entry a blank."""
    available = present(layer)
    out: list[Part] = []
    for selection, points in asked(layer):
        word = selection.strip()
        if word not in available:  # one entry
            key, full = parse_entry(word, layer, available)
            index = full[len(full) - len(user_shape(key, layer)):]
            value = np.array(result[key], dtype=object)
            blank = _blank(key, index, cast(Fraction, value[index]), points)
            out.append(Part(selection, key, meaning(key), (), points, (blank,)))
            continue
        array = np.array(result[word], dtype=object)
        indices = list(np.ndindex(array.shape))
        share = points / len(indices)
        out.append(Part(selection, word, meaning(word), array.shape, points,
                        tuple(_blank(word, index, cast(Fraction, array[index]), share)
                              for index in indices)))
    return tuple(out)


def content(layer: Volume) -> str:
    """Everything that makes the 3-D layer what it is, as canonical text."""
    def nested(array: Array | None) -> Any:
        return None if array is None else [str(v) for v in array.ravel()] + [
            list(array.shape)]

    settings = {name: repr(getattr(layer, name)) for name in (
        "stride", "padding", "padding_end", "dilation", "mode", "groups", "activation",
        "pool", "steps", "input_rank", "filter_rank", "bias_is_number")}

    return json.dumps({
        "dimensions": 3, **settings,
        "input": nested(layer.input), "filter": nested(layer.filter),
        "bias": nested(layer.bias), "target": nested(layer.target),
        "grad_output": nested(layer.grad_output), "loss": layer.loss,
        "learning_rate": str(layer.learning_rate),
    }, sort_keys=True)
