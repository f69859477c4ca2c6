"""Exact arrays in bulk: integer numerators over one common denominator.

An array of exact numbers ``n / d`` is held as a numpy array of integers ``n``
and one Python integer ``d``. The integers are ``int64`` whenever every one of
them fits, else Python integers in an object array; every operation works out
a bound on its results from the actual operands before it chooses ``int64``
(or float64, below 2^53, for matrix products), and falls back to Python
integers where the bound does not prove it safe. Nothing is ever rounded.

This is what the engine's fast path computes with and what the JSON writer
prints from: reading, computing and writing a large layer never makes one
:class:`~fractions.Fraction` per entry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from typing import Any

import numpy as np

#: an integer array: ``int64``, or ``object`` holding Python integers
IntArray = np.ndarray[Any, np.dtype[Any]]
#: an object array of Fractions
Array = np.ndarray[Any, np.dtype[Any]]

#: magnitudes below this fit in int64
INT64 = 2**63
#: integers below this in magnitude are exact in float64, and so is every sum of them
#: that stays below it
FLOAT_EXACT = 2**53
#: most digits of a decimal literal read in bulk (so that it fits in int64)
_BULK_DIGITS = 18


def largest(integers: IntArray) -> int:
    """The largest magnitude in an integer array, as a Python integer (0 when empty)."""
    if not integers.size:
        return 0
    if integers.dtype == object:
        return max(abs(int(integers.max())), abs(int(integers.min())))
    return max(abs(int(integers.max())), abs(int(integers.min())))


def fitted(integers: IntArray, bound: int | None = None) -> IntArray:
    """The same integers as ``int64`` when all are below 2^63 in magnitude (``bound``
    when known, else measured), else as Python integers in an object array."""
    if integers.dtype != object:
        return integers
    if (largest(integers) if bound is None else bound) < INT64:
        return integers.astype(np.int64)
    return integers


def _objects(integers: IntArray) -> IntArray:
    return integers if integers.dtype == object else integers.astype(object)


def _read_only(integers: IntArray) -> IntArray:
    integers.flags.writeable = False
    return integers


@dataclass(frozen=True, eq=False)
class Scaled:
    """Exact values ``numerators / denominator``, one common denominator.

    >>> s = Scaled.of_fractions(np.array([Fraction(1, 2), Fraction(-3, 4)], dtype=object))
    >>> s.numerators.tolist(), s.denominator
    ([2, -3], 4)
    >>> s.fractions.tolist()
    [Fraction(1, 2), Fraction(-3, 4)]
    """

    numerators: IntArray
    denominator: int

    def __post_init__(self) -> None:
        if self.denominator < 1:
            raise ValueError("the denominator must be positive")
        _read_only(self.numerators)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.numerators.shape)

    @property
    def size(self) -> int:
        return int(self.numerators.size)

    @property
    def int64(self) -> bool:
        """Whether the numerators are int64 (else Python integers)."""
        return bool(self.numerators.dtype != object)

    @classmethod
    def of_fractions(cls, values: Array) -> Scaled:
        """Fractions over their least common denominator."""
        flat = list(values.flat)
        denominator = math.lcm(*(v.denominator for v in flat)) if flat else 1
        integers = np.empty(len(flat), dtype=object)
        integers[:] = [v.numerator * (denominator // v.denominator) for v in flat]
        made = cls(fitted(integers.reshape(values.shape)), denominator)
        made.__dict__["fractions"] = values  # already at hand
        return made

    @cached_property
    def fractions(self) -> Array:
        """The values as a read-only object array of Fractions."""
        d = self.denominator
        values = np.empty(self.size, dtype=object)
        values[:] = [Fraction(int(n), d) for n in self.numerators.flat]
        return _read_only(values.reshape(self.shape))

    def reshape(self, shape: tuple[int, ...]) -> Scaled:
        return Scaled(self.numerators.reshape(shape), self.denominator)

    def reduced(self) -> Scaled:
        """The same values over the smallest common denominator."""
        d = self.denominator
        if d == 1 or not self.size:
            return self
        common = int(np.gcd.reduce(self.numerators.ravel())) if self.int64 else math.gcd(
            *(int(n) for n in self.numerators.flat))
        common = math.gcd(abs(common), d)
        if common == 1:
            return self
        if self.int64:
            return Scaled(self.numerators // common, d // common)
        return Scaled(fitted(self.numerators // common), d // common)

    def over(self, denominator: int) -> IntArray:
        """The numerators over ``denominator``, a multiple of this one's."""
        factor = denominator // self.denominator
        return scale(self.numerators, factor)


@dataclass(frozen=True, eq=False)
class ExactArray:
    """An array of exact numbers given as Fractions or as :class:`Scaled`; each
    form is made from the other when it is first asked for (and kept)."""

    given: Array | Scaled

    @cached_property
    def fractions(self) -> Array:
        """The values as a read-only object array of Fractions."""
        return self.given.fractions if isinstance(self.given, Scaled) else self.given

    @cached_property
    def scaled(self) -> Scaled:
        """The values over one common denominator."""
        if isinstance(self.given, Scaled):
            return self.given
        return Scaled.of_fractions(self.given)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.given.shape)

    def reshape(self, shape: tuple[int, ...]) -> ExactArray:
        given = self.given
        if isinstance(given, Scaled):
            return ExactArray(given.reshape(shape))
        reshaped = given.reshape(shape)
        reshaped.flags.writeable = False
        return ExactArray(reshaped)


def scale(integers: IntArray, factor: int) -> IntArray:
    """``integers · factor``, exactly."""
    if factor == 1:
        return integers
    if integers.dtype != object and largest(integers) * abs(factor) < INT64:
        return integers * np.int64(factor)
    return fitted(_objects(integers) * factor)


def linear(terms: list[tuple[Scaled, Fraction]]) -> Scaled:
    """``Σ c · S`` over arrays of one shape, exactly.

    >>> a = Scaled(np.array([1, 2]), 10)
    >>> b = Scaled(np.array([1, 1]), 3)
    >>> linear([(a, Fraction(1)), (b, Fraction(-1, 2))]).fractions.tolist()
    [Fraction(-1, 15), Fraction(1, 30)]
    """
    denominator = math.lcm(*(s.denominator * c.denominator for s, c in terms))
    factors = [(s, c.numerator * (denominator // (s.denominator * c.denominator)))
               for s, c in terms]
    bound = sum(largest(s.numerators) * abs(f) for s, f in factors)
    total: IntArray
    if bound < INT64 and all(s.int64 for s, _ in factors):
        total = np.zeros(factors[0][0].shape, dtype=np.int64)
        for s, f in factors:
            total += s.numerators * np.int64(f)
    else:
        total = np.zeros(factors[0][0].shape, dtype=object)
        for s, f in factors:
            total = total + _objects(s.numerators) * f
        total = fitted(total, bound)
    return Scaled(total, denominator).reduced()


def times(values: Scaled, factor: Fraction) -> Scaled:
    """``factor · values``, exactly."""
    return Scaled(scale(values.numerators, factor.numerator),
                  values.denominator * factor.denominator).reduced()


def total(integers: IntArray, axis: tuple[int, ...] | None = None) -> IntArray:
    """Sums of integers along ``axis`` (None: all), exactly: int64 when the count of
    terms times the largest magnitude proves it safe, else Python integers."""
    axes = tuple(range(integers.ndim)) if axis is None else axis
    count = math.prod(integers.shape[a] for a in axes)
    if integers.dtype != object and largest(integers) * max(count, 1) < INT64:
        return np.asarray(integers.sum(axis=axes, dtype=np.int64))
    return fitted(np.asarray(_objects(integers).sum(axis=axes)))


def sum_of_squares(integers: IntArray) -> int:
    """``Σ n²`` as a Python integer, exactly."""
    flat = integers.ravel()
    if flat.dtype != object and largest(flat) ** 2 * max(flat.size, 1) < INT64:
        return int(np.dot(flat, flat))
    objects = _objects(flat)
    return int(np.dot(objects, objects)) if flat.size else 0


# --------------------------------------------------------------------------
# matrix products


def matmul(a: IntArray, b: IntArray) -> IntArray:
    """``a @ b`` over integers, exactly.

    Through float64 BLAS when every partial sum is provably below 2^53 (the largest
    magnitudes of both operands times the inner size); otherwise the larger operand
    is split into a high and a low half of its bits, and the two products are added
    back, in int64 when the bound of the result allows it, else as Python integers.
    Operands beyond int64 are multiplied as Python integers.
    """
    inner = max(a.shape[-1], 1)
    largest_a, largest_b = largest(a), largest(b)
    bound = largest_a * largest_b * inner
    if bound < FLOAT_EXACT:
        product = a.astype(np.float64) @ b.astype(np.float64)
        return product.astype(np.int64)
    if a.dtype == object or b.dtype == object:
        return fitted(_objects(a) @ _objects(b), bound)
    split_a = largest_a >= largest_b
    big = a if split_a else b
    bits = max(largest_a, largest_b).bit_length()
    shift = max(bits // 2, 1)
    high, low = big >> shift, big & ((1 << shift) - 1)
    if split_a:
        upper, lower = matmul(high, b), matmul(low, b)
    else:
        upper, lower = matmul(a, high), matmul(a, low)
    if bound < INT64:
        return np.asarray((upper << shift) + lower, dtype=np.int64)
    return fitted(_objects(upper) * (1 << shift) + _objects(lower), bound)


# --------------------------------------------------------------------------
# reading decimals in bulk


def parse_decimals(value: Any, rank: int) -> Scaled | None:
    """Nested lists of decimal literals (``"-0.25"``, JSON number texts) of the given
    rank as integers over a power of ten; None unless every entry is a plain decimal
    of at most 18 digits (an optional minus, digits, optionally a point and digits),
    every list is full and the shape is rectangular. The caller then reads the
    array entry by entry, with its messages.
    """
    try:
        texts = np.array(value, dtype=str)
    except (ValueError, TypeError):
        return None
    if texts.ndim != rank or 0 in texts.shape or texts.dtype.kind != "U":
        return None
    try:
        raw = texts.astype("S")  # ASCII only: str.isdigit would take other digits
    except (UnicodeEncodeError, ValueError):
        return None
    minus = np.char.startswith(raw, b"-")
    body = np.where(minus, np.char.replace(raw, b"-", b"", 1), raw)
    point = np.char.find(body, b".")
    digits = np.char.replace(body, b".", b"", 1)
    length = np.char.str_len(digits)
    body_length = np.char.str_len(body)
    ok = (np.char.isdigit(digits) & (length >= 1) & (length <= _BULK_DIGITS)
          & (point != 0) & (point != body_length - 1))
    if not bool(ok.all()):
        return None
    places = np.where(point >= 0, body_length - point - 1, 0).astype(np.int64)
    most = int(places.max())
    integers = digits.astype(np.int64)
    if most:
        # at most 18 digits, times 10 for every place another entry has more
        if int((length + most - places).max()) > _BULK_DIGITS:
            return None
        integers = integers * (10 ** (most - places))
    integers = np.where(minus, -integers, integers)
    return Scaled(integers, 10**most).reduced()
