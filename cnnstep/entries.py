"""Exact values made into Fractions only where they are read.

A worked derivation of a large layer prints a few thousand of its millions of
numbers. :class:`Entries` holds a quantity as the integer path computed it
(:class:`~cnnstep.exact.Scaled`: integers over one common denominator) and
makes a :class:`~fractions.Fraction` of an entry when the derivation reads it;
:class:`Computed` makes each entry read by a function of its index (a
channel's share of an output entry, which no solve keeps whole).

Both stand in for the read-only object arrays of Fractions of a
:class:`~cnnstep.engine.Solution` where a derivation reads them: their shape,
an entry by its full index (``values[f, i, j]``, ``values.item(e)``), and for
:class:`Entries` a slice (another :class:`Entries`), its rows, its entries in
order (``flat``) and the Fractions of what is shown (:meth:`Entries.fractions`).
Nothing else of an array is asked of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any, cast

import numpy as np

from cnnstep.exact import ExactArray, IntArray, Scaled

#: an object array of Fractions, as a Solution holds its quantities
Array = np.ndarray[Any, np.dtype[Any]]
Index = tuple[int, ...]


class Entries:
    """Exact values ``numerators / denominator``, a Fraction made per entry read.

    >>> values = Entries(np.array([[1, 2], [3, 4]]), 4)
    >>> values.shape, values[0, 1], values.item((1, 1))
    ((2, 2), Fraction(1, 2), Fraction(1, 1))
    >>> values[1].fractions().tolist()
    [Fraction(3, 4), Fraction(1, 1)]
    """

    __slots__ = ("denominator", "numerators")

    def __init__(self, numerators: IntArray, denominator: int) -> None:
        self.numerators = numerators
        self.denominator = denominator

    @classmethod
    def of(cls, values: Scaled) -> Entries:
        return cls(values.numerators, values.denominator)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.numerators.shape)

    @property
    def ndim(self) -> int:
        return int(self.numerators.ndim)

    @property
    def size(self) -> int:
        return int(self.numerators.size)

    def __len__(self) -> int:
        return len(self.numerators)

    def __getitem__(self, key: Any) -> Any:
        """An entry as a Fraction, or a part of the array as Entries."""
        part = self.numerators[key]
        if isinstance(part, np.ndarray) and part.ndim:
            return Entries(part, self.denominator)
        return Fraction(int(part), self.denominator)

    def item(self, index: Index) -> Fraction:
        return Fraction(int(self.numerators[index]), self.denominator)

    def __iter__(self) -> Iterator[Any]:
        for k in range(len(self)):
            yield self[k]

    @property
    def flat(self) -> Iterator[Fraction]:
        d = self.denominator
        return (Fraction(int(n), d) for n in self.numerators.flat)

    def reshape(self, *shape: Any) -> Entries:
        return Entries(self.numerators.reshape(*shape), self.denominator)

    def fractions(self) -> Array:
        """Every value as a read-only object array of Fractions: for what is shown."""
        out = np.empty(self.size, dtype=object)
        out[:] = list(self.flat)
        out = out.reshape(self.shape)
        out.flags.writeable = False
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> Array:
        return self.fractions()

    def tolist(self) -> Any:
        return self.fractions().tolist()


class Computed:
    """Values made by ``entry`` from an entry's full index when it is read.

    >>> squares = Computed((2, 3), lambda e: Fraction(e[0] * 3 + e[1]) ** 2)
    >>> squares[1, 2], squares.item((0, 2)), squares.size
    (Fraction(25, 1), Fraction(4, 1), 6)
    """

    __slots__ = ("entry", "shape")

    def __init__(self, shape: tuple[int, ...], entry: Callable[[Index], Any]) -> None:
        self.shape = shape
        self.entry = entry

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def __getitem__(self, index: Index) -> Any:
        """The entry at ``index``, a tuple of ints: one entry, never a slice."""
        return self.entry(index)

    def item(self, index: Index) -> Any:
        return self[index]


def standing_in(values: Entries | Computed) -> Array:
    """``values`` where an array of Fractions is expected (see the module's note on
    what is read of it)."""
    return cast(Array, values)


def given_values(array: ExactArray) -> Array:
    """A given array as the derivation reads it: its Fractions when they are at hand,
    else its integers read an entry at a time."""
    if isinstance(array.given, Scaled) and "fractions" not in array.__dict__:
        return standing_in(Entries.of(array.given))
    return array.fractions
