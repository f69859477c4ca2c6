"""Small pieces of wording the steps share."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING

from cnnstep.derivation.nodes import Div, Expr, Name, Num, Text
from cnnstep.numbers import display
from cnnstep.problem import Layer

if TYPE_CHECKING:
    from cnnstep.problem import Layer


def show(value: Fraction) -> str:
    """A parameter such as a slope, for a sentence: ``0.01``, or ``1/3 ≈ 0.3333``."""
    return display(value)


def count(n: int, unit: str) -> str:
    """``1 row``, ``2 rows``; ``2 entries``."""
    if n != 1 and unit.endswith("y"):
        return f"{n} {unit[:-1]}ies"
    return f"{n} {unit}{'s' * (n != 1)}"


def pair(values: tuple[int, int]) -> str:
    """A per-axis setting: ``2`` when both axes agree, else ``2×1``."""
    return str(values[0]) if values[0] == values[1] else f"{values[0]}×{values[1]}"


def axes(values: tuple[int, int], one_row: bool) -> str:
    """A per-axis setting of a layer: :func:`pair`, or the one value of a 1-D layer
    (held as the columns of a single row)."""
    return str(values[1]) if one_row else pair(values)


def size(shape: tuple[int, ...], one_row: bool) -> str:
    """A shape for a sentence: :func:`dims`, without the row of length one a 1-D
    layer's arrays are held in."""
    return dims((*shape[:-2], shape[-1]) if one_row and len(shape) >= 2 else shape)


def dims(shape: Iterable[int]) -> str:
    """``3×4``."""
    return "×".join(str(n) for n in shape)


def sides(layer: Layer) -> str:
    """The padding resolved to numbers: ``1`` or ``1×2`` when each side of an axis
    has the same, else ``top 0, bottom 1, left 0, right 1``."""
    top, bottom, left, right = layer.sides
    if layer.layout.one_row:  # a signal's one axis
        return str(left) if left == right else f"start {left}, end {right}"
    if layer.padding_end is None:
        return pair(layer.padding)
    return f"top {top}, bottom {bottom}, left {left}, right {right}"


def padding_words(layer: Layer) -> str:
    """The padding as the problem gave it, resolved: ``"same" (top 1, bottom 2, …)``."""
    if layer.padding_form is None:
        return sides(layer)
    return f'"{layer.padding_form}" ({sides(layer)})'

def ranges(first: range, base: int) -> str:
    """``1–2`` (or ``1`` alone) for a block of indices, counted from ``base``."""
    start, stop = first[0] + base, first[-1] + base
    return f"{start}–{stop}" if stop > start else f"{start}"


def group_words(layer: Layer) -> tuple[str | Expr, ...]:
    """Which input channels each group's filters see, as the course says it:
    ``G = 2 groups: filters 1–2 see channels 1–2, filters 3–4 see channels 3–4``;
    for a depthwise convolution ``G = C = F = 2, a depthwise convolution: filter f
    sees only channel f``."""
    base = layer.notation.index_base
    groups = Num(Fraction(layer.groups))
    if layer.depthwise:
        return (Name("G"), " = ", Name("C"), " = ", Name("F"), " = ", groups,
                ", a depthwise convolution: filter ", Name("f"), " sees only channel ",
                Name("f"))
    seen = []
    for g in range(layer.groups):
        filters = range(g * layer.group_filters, (g + 1) * layer.group_filters)
        one_filter, one_channel = len(filters) == 1, layer.group_channels == 1
        seen.append(f"filter{'' if one_filter else 's'} {ranges(filters, base)} "
                    f"see{'s' if one_filter else ''} "
                    f"channel{'' if one_channel else 's'} "
                    f"{ranges(layer.channels_of(filters[0]), base)}")
    return (Name("G"), " = ", groups, " groups: " + ", ".join(seen))


def group_size(layer: Layer) -> tuple[str | Expr, ...]:
    """``C/G = 4/2 = 2``: the channels each filter has."""
    return (Div(Name("C"), Name("G")), " = ",
            Div(Num(Fraction(layer.channels)), Num(Fraction(layer.groups))), " = ",
            Num(Fraction(layer.group_channels)))


def unaffected(x: Expr, missed: Sequence[Expr]) -> Text:
    """``X₁₂ does not affect Z₁₁, Z₂₁: those derivatives are 0.``, naming at most 12
    of the output entries an input entry's symbol does not reach."""
    shown: list[str | Expr] = []
    for k, z in enumerate(missed[:12]):
        shown += [", " if k else "", z]
    if len(missed) > 12:
        shown.append(f" and {len(missed) - 12} more")
    return Text((x, " does not affect ", *shown,
                 ": those derivatives are 0." if len(missed) > 1 else
                 ": that derivative is 0."))
