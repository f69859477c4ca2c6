"""What a question gives, as HTML: the layer's numbers and settings, and its blanks laid out.

Matrices are HTML tables, one per 2-D slice (a 3-D input is shown channel by
channel, a 4-D filter filter by filter and channel by channel), each slice
captioned with the leading indices as the result names them (``input[1]``).
The same layout holds a question's blanks, so a platform passes a function
that writes one cell.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from html import escape
from typing import Any

import numpy as np

from cnnstep.derivation.given import pool_words
from cnnstep.derivation.words import padding_words
from cnnstep.numbers import exact_decimal, terminates
from cnnstep.problem import Activation, Problem, Volume
from cnnstep.quantities import last_key, letter, user_shape

#: how a loss is named in the givens
LOSSES = {"mse": "mean squared error (the mean over every output entry)",
          "sse": "sum of squared errors",
          "half_sse": "half the sum of squared errors"}

#: how a matrix table looks (platforms keep inline styles)
TABLE = 'style="border-collapse: collapse; margin: 0.25em 0 0.75em 0;"'
CELL = 'style="border: 1px solid #999; padding: 0.2em 0.5em; text-align: right;"'


def text(words: str) -> str:
    """Words safe in HTML text (quotes stay as they are)."""
    return escape(words, quote=False)


def number(value: Fraction) -> str:
    """A given number as it reads: its exact decimal, or a fraction (``1/3``)."""
    return exact_decimal(value) if terminates(value) else str(value)


@dataclass(frozen=True)
class Given:
    """One thing the problem gives: a number, an array (nested lists) or a setting."""

    label: str
    value: Fraction | list[Any] | str


def _pair(pair: tuple[int, int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]} × {pair[1]} (rows × columns)"


def givens(problem: Problem) -> list[Given]:
    """Everything the problem gives, in the order a student reads it."""
    notation, layout = problem.notation, problem.layout

    def shaped(key: str, array: Any) -> Fraction | list[Any]:
        # a given has the axes of its gradient: the input those of grad_input, …
        value = user_shape(key, array, layout)
        out: Fraction | list[Any] = value.item() if value.ndim == 0 else value.tolist()
        return out

    out = [Given(f"Input {notation.input}", shaped("grad_input", problem.input))]
    if problem.layer.convolution:  # a layer alone has no kernel, stride or padding
        out.append(Given(f"Kernel {notation.filter}", shaped("grad_filter", problem.filter)))
        if problem.bias is not None:
            out.append(Given(f"Bias {notation.bias}", shaped("grad_bias", problem.bias)))
        layer = problem.layer
        one_row = layout.one_row  # a 1-D layer's one axis
        out.append(Given("Stride", str(problem.stride[1]) if one_row else _pair(problem.stride)))
        if layer.transposed:
            out.append(Given("Padding", (str(problem.padding[1]) if one_row else
                                         _pair(problem.padding)) + CROPPED))
        elif layer.padding_end is None and layer.padding_form is None:
            out.append(Given("Padding", (str(problem.padding[1]) if one_row else
                                         _pair(problem.padding)) + " (zeros on each side)"))
        else:
            out.append(Given("Padding", padding_words(layer)))

        def axes(pair: tuple[int, int]) -> str:
            return str(pair[1]) if one_row else _pair(pair)

        if layer.transposed:
            out += transposed(axes(layer.output_padding) if any(layer.output_padding)
                              else None, 1 if one_row else 2)
        if layer.dilation != (1, 1):
            out.append(Given("Dilation", axes(layer.dilation)))
        if layer.groups > 1:
            out.append(Given("Groups", str(layer.groups)))
        if layer.flipped:
            out.append(Given("Mode", "true convolution (the kernel is flipped)"))
    activation = problem.layer.activation
    if activation is not None:
        out.append(Given("Activation", activation_name(activation)))
    pool = problem.layer.pool
    if pool is not None:
        out.append(Given("Pooling", pool_words(pool, layout.one_row)))
    if problem.target is not None:
        out.append(Given(f"Target {notation.target}", shaped("grad_output", problem.target)))
        out.append(Given("Loss", LOSSES.get(problem.loss, problem.loss)))
    if problem.grad_output is not None:
        last = letter(last_key(problem.layer), problem.layer)
        out.append(Given(f"Upstream gradient dL/d{last}",
                         shaped("grad_output", problem.grad_output)))
    if problem.learning_rate is not None:
        out.append(Given("Learning rate α", number(problem.learning_rate)))
    if problem.steps > 1:
        out.append(Given("Training steps", str(problem.steps)))
    return out


#: what a transposed layer's padding does (PyTorch's meaning)
CROPPED = " (of a transposed convolution: taken off each side of its output)"
#: where a transposed layer's output padding adds entries, by its spatial axes
OUTPUT_PADDING_SIDES = {1: "at the end", 2: "at the bottom and right",
                        3: "at the back, bottom and right"}


def transposed(output_padding: str | None, dimensions: int) -> list[Given]:
    """A transposed convolution's givens: what the layer is, and its output padding."""
    out = [Given("Layer", f"transposed convolution (as PyTorch's conv_transpose{dimensions}d: "
                          "the kernel's first axis is the input channel)")]
    if output_padding is not None:
        out.append(Given("Output padding",
                         f"{output_padding} ({OUTPUT_PADDING_SIDES[dimensions]})"))
    return out


def activation_name(activation: Activation) -> str:
    """An activation as the givens name it: ``leaky ReLU (slope 0.1)``."""
    name = {"relu": "ReLU", "leaky_relu": "leaky ReLU", "sigmoid": "sigmoid",
            "tanh": "tanh"}.get(activation.kind, activation.kind)
    if activation.kind == "leaky_relu":
        name += f" (slope {number(activation.slope)})"
    return name


def slices(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The leading indices of the 2-D slices of an array of ``shape`` (one
    empty index for an array of at most two axes)."""
    return list(np.ndindex(shape[:-2])) if len(shape) > 2 else [()]


def table(rows: list[list[str]]) -> str:
    """An HTML table of cells already in HTML."""
    body = "".join("<tr>" + "".join(f"<td {CELL}>{cell}</td>" for cell in row) + "</tr>"
                   for row in rows)
    return f"<table {TABLE}><tbody>{body}</tbody></table>"


def matrix(name: str, shape: tuple[int, ...], cell: Callable[[tuple[int, ...]], str]) -> str:
    """An array of ``shape`` as HTML tables, one per 2-D slice captioned
    ``name[i]``; ``cell(index)`` writes the entry at a full index."""
    if not shape:
        return cell(())
    out = []
    for lead in slices(shape):
        if len(shape) == 1:
            rows = [[cell((j,)) for j in range(shape[0])]]
        else:
            rows = [[cell((*lead, i, j)) for j in range(shape[-1])] for i in range(shape[-2])]
        caption = f"<p>{text(name)}{''.join(f'[{i}]' for i in lead)}</p>" if lead else ""
        out.append(caption + table(rows))
    return "".join(out)


def given_html(given: Given) -> str:
    """One given: a line for a number or a setting, tables for an array."""
    label = text(given.label)
    if isinstance(given.value, str):
        return f"<p>{label}: {text(given.value)}</p>"
    if isinstance(given.value, Fraction):
        return f"<p>{label} = {text(number(given.value))}</p>"
    array = np.array(given.value, dtype=object)
    return f"<p>{label} ({'×'.join(map(str, array.shape))}):</p>" + matrix(
        given.label.split()[-1], array.shape, lambda index: text(number(array[index])))


def givens_html(problem: Problem | Volume) -> str:
    """The givens of a problem (or of a 3-D layer) as HTML."""
    if isinstance(problem, Volume):
        from cnnstep.export import volume

        return "".join(given_html(given) for given in volume.givens(problem))
    return "".join(given_html(given) for given in givens(problem))
