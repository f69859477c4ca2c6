"""Small pieces of wording the steps share."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from typing import TYPE_CHECKING

from cnnstep.numbers import display

if TYPE_CHECKING:
    from cnnstep.problem import Layer


def show(value: Fraction) -> str:
    """A parameter such as a slope, for a sentence: ``0.01``, or ``1/3 ≈ 0.3333``."""
    return display(value)


def count(n: int, unit: str) -> str:
    """``1 row``, ``2 rows``."""
    return f"{n} {unit}{'s' * (n != 1)}"


def pair(values: tuple[int, int]) -> str:
    """A per-axis setting: ``2`` when both axes agree, else ``2×1``."""
    return str(values[0]) if values[0] == values[1] else f"{values[0]}×{values[1]}"


def dims(shape: Iterable[int]) -> str:
    """``3×4``."""
    return "×".join(str(n) for n in shape)


def sides(layer: Layer) -> str:
    """The padding resolved to numbers: ``1`` or ``1×2`` when each side of an axis
    has the same, else ``top 0, bottom 1, left 0, right 1``."""
    if layer.padding_end is None:
        return pair(layer.padding)
    top, bottom, left, right = layer.sides
    return f"top {top}, bottom {bottom}, left {left}, right {right}"


def padding_words(layer: Layer) -> str:
    """The padding as the problem gave it, resolved: ``"same" (top 1, bottom 2, …)``."""
    if layer.padding_form is None:
        return sides(layer)
    return f'"{layer.padding_form}" ({sides(layer)})'
