"""Small pieces of wording the steps share."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

from cnnstep.numbers import display


def show(value: Fraction) -> str:
    """A parameter such as a slope, for a sentence: ``0.01``, or ``1/3 ≈ 0.3333``."""
    return display(value)


def count(n: int, unit: str) -> str:
    """``1 row``, ``2 rows``."""
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
