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
from fractions import Fraction
from functools import cache, cached_property
from typing import Any

import numpy as np

from cnnstep.values import Value, value_class

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


@value_class(eq=False)
class Scaled(Value):
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


@value_class(eq=False)
class ExactArray(Value):
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


def stacked(parts: list[Scaled]) -> Scaled:
    """Arrays of one shape stacked along a new first axis, over one common denominator.

    >>> stacked([Scaled(np.array([1, 2]), 2), Scaled(np.array([1, 1]), 3)]).fractions.tolist()
    [[Fraction(1, 2), Fraction(1, 1)], [Fraction(1, 3), Fraction(1, 3)]]
    """
    denominator = math.lcm(*(s.denominator for s in parts))
    numerators = [s.over(denominator) for s in parts]
    if all(n.dtype != object for n in numerators):
        return Scaled(np.stack(numerators), denominator).reduced()
    return Scaled(fitted(np.stack([_objects(n) for n in numerators])), denominator).reduced()


def times(values: Scaled, factor: Fraction) -> Scaled:
    """``factor · values``, exactly."""
    return Scaled(scale(values.numerators, factor.numerator),
                  values.denominator * factor.denominator).reduced()


def choose(mask: IntArray, chosen: IntArray, other: IntArray) -> IntArray:
    """``chosen`` where ``mask`` holds, else ``other``: int64 when both are."""
    if chosen.dtype != object and other.dtype != object:
        return np.where(mask, chosen, other)
    return fitted(np.where(mask, _objects(chosen), _objects(other)))


def product(a: IntArray, b: IntArray) -> IntArray:
    """``a · b`` entry by entry (broadcast), exactly: int64 when the largest magnitudes
    prove it safe, else Python integers."""
    bound = largest(a) * largest(b)
    if a.dtype != object and b.dtype != object and bound < INT64:
        return np.asarray(a * b, dtype=np.int64)
    return fitted(np.asarray(_objects(a) * _objects(b)), bound)


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
    if isinstance(value, Scaled):  # read from the text already (read_decimals)
        return value if value.numerators.ndim == rank else None
    try:
        texts = np.array(value, dtype=str)
    except (ValueError, TypeError):
        return None
    if texts.ndim != rank or 0 in texts.shape or texts.dtype.kind != "U":
        return None
    if texts.size <= _FEW:
        return _few_decimals(texts)
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


#: at most this many entries are read one by one: numpy's string functions (and
#: their import) cost more than a loop over a few
_FEW = 64


def _few_decimals(texts: Any) -> Scaled | None:
    """:func:`parse_decimals` of an array of a few texts, entry by entry, by the same
    rules and to the same integers."""
    numbers: list[int] = []
    lengths: list[int] = []
    places: list[int] = []
    for entry in texts.flat:
        text = str(entry)
        if not text.isascii():  # str.isdigit would take other digits
            return None
        negative = text.startswith("-")
        body = text[1:] if negative else text
        point = body.find(".")
        digits = body.replace(".", "", 1)
        if not (digits.isdigit() and len(digits) <= _BULK_DIGITS
                and point != 0 and point != len(body) - 1):
            return None
        numbers.append(-int(digits) if negative else int(digits))
        lengths.append(len(digits))
        places.append(len(body) - point - 1 if point >= 0 else 0)
    most = max(places)
    # at most 18 digits, times 10 for every place another entry has more
    if max(length + most - own for length, own in zip(lengths, places, strict=True)) \
            > _BULK_DIGITS:
        return None
    scaled = [n * 10 ** (most - own) for n, own in zip(numbers, places, strict=True)]
    return Scaled(np.array(scaled, dtype=np.int64).reshape(texts.shape), 10**most).reduced()


#: bytes of a number literal, and white space, in a JSON array's text
_NUMBER_BYTES = np.zeros(256, dtype=bool)
_NUMBER_BYTES[list(b"0123456789.-+eE")] = True
_SPACE_BYTES = np.zeros(256, dtype=bool)
_SPACE_BYTES[list(b" \t\r\n")] = True
#: deepest array read from text (a filter's four axes)
_MOST_AXES = 4


def read_decimals(text: str) -> Scaled | None:
    """The text of a JSON array (``[[0.25, -1], [3, 0.5]]``) read in bulk, as
    :func:`parse_decimals` reads the lists JSON gives: None unless it is nested
    lists, at most 4 deep, full and rectangular, of plain decimal literals as JSON
    writes them (an optional minus, an integer part without leading zeros,
    optionally a point and digits; 18 digits at most), with only white space
    between. Numbers are the runs of number characters; the rest, with an ``n``
    for each number and no white space, must be the text of the array's shape."""
    try:
        raw = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError:
        return None
    number = _NUMBER_BYTES[raw]
    before = np.concatenate(([False], number[:-1]))
    after = np.concatenate((number[1:], [False]))
    starts = np.flatnonzero(number & ~before)
    ends = np.flatnonzero(number & ~after) + 1
    keep = (~number & ~_SPACE_BYTES[raw]) | (number & ~before)
    skeleton = np.where(number, ord("n"), raw)[keep]
    shape = _skeleton_shape(skeleton)
    if shape is None or skeleton.tobytes() != _skeleton(shape):
        return None
    read = _decimal_literals(raw, starts, ends - starts)
    if read is None:
        return None
    return Scaled(read[0].reshape(shape), read[1]).reduced()


def _skeleton_shape(skeleton: IntArray) -> tuple[int, ...] | None:
    """The shape of nested lists from their skeleton (``[[n,n],[n,n]]``), read off
    the first list at each depth: its commas at that depth, plus one."""
    rank = int(np.argmax(skeleton != ord("["))) if skeleton.size else 0
    if not 1 <= rank <= _MOST_AXES:
        return None
    depth = np.cumsum((skeleton == ord("[")).astype(np.int64) - (skeleton == ord("]")))
    shape = []
    for level in range(1, rank + 1):
        closed = np.flatnonzero(depth[level - 1 :] == level - 1)
        if not closed.size:
            return None
        end = level - 1 + int(closed[0])
        commas = (skeleton[level - 1 : end] == ord(",")) & (depth[level - 1 : end] == level)
        shape.append(int(commas.sum()) + 1)
    return tuple(shape)


def _skeleton(shape: tuple[int, ...]) -> bytes:
    """The skeleton of full nested lists of this shape."""
    text = b"n"
    for size in reversed(shape):
        text = b"[" + b",".join([text] * size) + b"]"
    return text


def _decimal_literals(raw: IntArray, starts: IntArray, lengths: IntArray
                      ) -> tuple[IntArray, int] | None:
    """The literals at ``starts`` as integers over one power of ten, or None unless
    every one is a plain decimal as JSON writes it with at most 18 digits."""
    width = int(lengths.max())
    if width > _BULK_DIGITS + 2:
        return None
    columns = np.arange(width)
    chars = np.where(columns < lengths[:, None],
                     raw[np.minimum(starts[:, None] + columns, raw.size - 1)], 0)
    negative = chars[:, 0] == ord("-")
    body = np.where(negative[:, None], np.roll(chars, -1, axis=1), chars)
    length = lengths - negative
    inside = columns < length[:, None]
    digit = (body >= ord("0")) & (body <= ord("9"))
    point = body == ord(".")
    points = point.sum(axis=1)
    at = np.argmax(point, axis=1)
    second = body[:, 1] if width > 1 else np.zeros(body.shape[0], dtype=body.dtype)
    ok = ((inside & ~digit & ~point).sum(axis=1) == 0) & (points <= 1) & digit[:, 0] \
        & ((body[:, 0] != ord("0")) | (length == 1) | (second == ord("."))) \
        & ((points == 0) | (at < length - 1)) & (length - points <= _BULK_DIGITS)
    if not bool(ok.all()):
        return None
    value = np.zeros(body.shape[0], dtype=np.int64)
    for column in range(width):
        step = inside[:, column] & digit[:, column]
        value = np.where(step, value * 10 + (body[:, column].astype(np.int64) - ord("0")),
                         value)
    places = np.where(points > 0, length - at - 1, 0)
    most = int(places.max())
    if int((length - points + most - places).max()) > _BULK_DIGITS:
        return None
    value = value * _POW10[most - places]
    return np.where(negative, -value, value), 10**most


# --------------------------------------------------------------------------
# writing JSON in bulk

#: rows of a digit matrix made at once (bounds the temporary memory)
_CHUNK = 1 << 14
_LIMB = 10**9
_LIMB_POWERS = 10 ** np.arange(8, -1, -1, dtype=np.int64)  # 10^8 … 1
#: most decimal digits of a value written in bulk
_BULK_COLUMNS = 90


def _split_ten(denominator: int) -> tuple[int, int, int]:
    """(a, b, r) with denominator = 2^a · 5^b · r and r prime to 10."""
    twos = (denominator & -denominator).bit_length() - 1
    rest, fives = denominator >> twos, 0
    while rest % 5 == 0:
        rest, fives = rest // 5, fives + 1
    return twos, fives, rest


def _limbs(value: int) -> list[int]:
    """``value`` ≥ 0 in base 10^9, least significant limb first."""
    out = []
    while True:
        value, limb = divmod(value, _LIMB)
        out.append(limb)
        if not value:
            return out


def _product_digits(magnitude: IntArray, factor: int) -> IntArray:
    """The decimal digits of ``magnitude · factor`` (0 ≤ magnitude < 2^63), most
    significant first, 9 per base-10^9 limb: each limb product is below 10^18 and a
    limb of the product sums at most three of them, so int64 holds every step."""
    m = [magnitude % _LIMB, (magnitude // _LIMB) % _LIMB, magnitude // _LIMB**2]
    f = _limbs(factor)
    size = len(f) + 3
    columns = []
    carry = np.zeros(magnitude.shape, dtype=np.int64)
    for k in range(size):
        limb = carry.copy()
        for i in range(3):
            if 0 <= k - i < len(f) and f[k - i]:
                limb += m[i] * np.int64(f[k - i])
        carry, limb = limb // _LIMB, limb % _LIMB
        columns.append(limb)
    digits = [(limb[:, None] // _LIMB_POWERS) % 10 for limb in reversed(columns)]
    return np.concatenate(digits, axis=1)


def _decimal_rows(magnitude: IntArray, factor: int, negative: IntArray,
                  places: int) -> tuple[IntArray, IntArray]:
    """The text of ``±magnitude · factor / 10**places`` as rows of ASCII bytes, 0
    where a row has no character: a sign, the whole part without leading zeros, and
    a point and the fraction's digits without trailing zeros only when there are
    any, as :func:`cnnstep.numbers.exact_decimal` writes it; and whether each row is
    within the exponents that JSON writes positionally (±20)."""
    digits = 9 * (len(_limbs(factor)) + 3)
    columns = max(digits, places + 1)  # zeros in front to reach the point
    whole = columns - places
    rows = np.zeros((magnitude.size, columns + 2), dtype=np.uint8)
    positional = np.ones(magnitude.size, dtype=bool)
    for start in range(0, magnitude.size, _CHUNK):
        part = slice(start, start + _CHUNK)
        digit = _product_digits(magnitude[part], factor)
        if columns > digits:
            digit = np.pad(digit, ((0, 0), (columns - digits, 0)))
        nonzero = digit != 0
        keep = np.zeros(digit.shape, dtype=bool)
        keep[:, :whole] = np.logical_or.accumulate(nonzero[:, :whole], axis=1)
        keep[:, whole - 1] = True  # at least one digit before the point
        if places:
            keep[:, whole:] = np.logical_or.accumulate(nonzero[:, :whole - 1:-1],
                                                       axis=1)[:, ::-1]
        # the exponent of the leading digit: the number of digits − 1 − places
        leading = np.where(nonzero.any(axis=1), nonzero.argmax(axis=1), columns - 1)
        exponent = columns - leading - 1 - places
        positional[part] = (exponent >= -20) & (exponent <= 20) | ~nonzero.any(axis=1)
        chars = np.where(keep, digit + 48, 0).astype(np.uint8)
        block = rows[part]
        block[:, 0] = np.where(negative[part], 45, 0)  # "-"
        block[:, 1 : whole + 1] = chars[:, :whole]
        if places:
            block[:, whole + 1] = np.where(keep[:, whole], 46, 0)  # "."
            block[:, whole + 2 :] = chars[:, whole:]
    return rows, positional


#: 10^0 … 10^18, every power of ten below 2^63
_POW10 = 10 ** np.arange(19, dtype=np.int64)


def _digit_count(q: IntArray) -> IntArray:
    """The number of decimal digits of each ``q`` ≥ 0 (0 for 0)."""
    return np.searchsorted(_POW10, q, side="right").astype(np.int64)


def _positional_rows(q: IntArray, negative: IntArray, places: int
                     ) -> tuple[IntArray, IntArray]:
    """``±q / 10**places`` (int64 q ≥ 0) as :func:`cnnstep.numbers.json_number`
    writes it positionally, as rows of ASCII bytes, 0 where a row has no character:
    a sign unless the value is 0, the whole part without leading zeros (at least
    one digit), and a point and the fraction's digits without trailing zeros only
    when there are any; and whether each row is within the exponents that JSON
    writes positionally (±20). The character of exponent e in q is the digit
    ``(q // 10**e) % 10``, 0 beyond q's digits."""
    count = _digit_count(q)
    zero = q == 0
    exponent = count - 1 - places
    positional = zero | ((exponent >= -20) & (exponent <= 20))
    top = max(int(count.max(initial=0)) - 1, places)  # the highest exponent written
    point = top - places + 2  # the column of the point: a sign, then the whole part
    rows = np.zeros((q.size, point + 1 + places if places else point), dtype=np.uint8)
    rows[:, 0] = np.where(negative & ~zero, 45, 0)  # "-"

    def digit(e: int) -> IntArray:
        if e >= len(_POW10):
            return np.zeros(q.size, dtype=np.uint8)
        digits: IntArray = ((q // _POW10[e]) % 10).astype(np.uint8)
        return digits

    last = np.maximum(count - 1, places)  # the whole part: from here down to exponent places
    for e in range(top, places - 1, -1):
        rows[:, point - 1 - (e - places)] = np.where(e <= last, digit(e) + 48, 0)
    if places:
        kept = np.zeros(q.size, dtype=bool)  # a nonzero digit at or below this exponent
        for e in range(places):
            fraction = digit(e)
            kept |= fraction != 0
            rows[:, point + places - e] = np.where(kept, fraction + 48, 0)
        rows[:, point] = np.where(kept, 46, 0)  # "."
    return rows, positional


#: some entries of an array (their indices) and their texts as rows of ASCII bytes
Piece = tuple[IntArray, IntArray]


#: the float type that estimates a quotient, and a bound on its error in units of
#: the quotient (below 10^18): 64-bit mantissas where the machine has them
_ESTIMATE = np.longdouble if np.finfo(np.longdouble).nmant >= 63 else np.float64
_ESTIMATE_ERROR = 10**18 // 2 ** (np.finfo(_ESTIMATE).nmant - 8) + 2  # 2^8 ulps to spare
_SIGNIFICANT = 17
#: most decimal places of a quotient worked out in bulk
_MOST_PLACES = 251


@cache
def _tens() -> tuple[Array, IntArray]:
    """10^p for p = 0 … _MOST_PLACES, each correctly rounded to the estimate's
    precision, and modulo 2^64 (made when first needed: most runs never divide
    in bulk)."""
    rounded = np.array([_ESTIMATE(f"1e{p}") for p in range(_MOST_PLACES + 1)],
                       dtype=_ESTIMATE)
    wrapped = np.array([pow(10, p, 2**64) for p in range(_MOST_PLACES + 1)], dtype=np.uint64)
    return rounded, wrapped


def _floor_quotients(a: IntArray, d: int, places: IntArray) -> tuple[IntArray, IntArray]:
    """``divmod(a · 10**places, d)`` for each entry, exactly, where the quotient is
    below 10^18 and ``(error + 2) · d < 2^63``: a float estimate of the quotient
    (three roundings, each within 2^-64 of it: off by less than 1), then the
    remainder computed modulo 2^64 (it is known to be within ±(error+1)·d, so the
    wrapped value is the true one) and the estimate corrected by it."""
    tens, tens_wrapped = _tens()
    divisor: Array = np.array(d, dtype=_ESTIMATE)
    estimate = np.floor(a.astype(_ESTIMATE) * tens[places] / divisor)
    q = estimate.astype(np.int64)
    with np.errstate(over="ignore"):
        wrapped = (a.astype(np.uint64) * tens_wrapped[places]
                   - q.astype(np.uint64) * np.uint64(d))
    r = wrapped.view(np.int64)
    step = r // d
    return q + step, r - step * d


def _significant_rows(a: IntArray, negative: IntArray, d: int) -> list[Piece]:
    """``±a/d`` (a > 0) rounded half to even to 17 significant digits, as
    :func:`cnnstep.numbers.json_number` writes a value with no finite decimal, as rows
    of ASCII bytes, in pieces (which entries, their rows); the entries left out: a
    value of 10^17 or more, below 10^-250, or written with an exponent.

    With ``e`` the float estimate of ⌊log10(a/d)⌋, nudged up so that it is the true
    one or one more, the quotient ``⌊a · 10^(17−e) / d⌋`` has 18 digits or 17: the
    18th digit and the remainder, or the remainder alone, round it."""
    e = np.floor(np.log10(a.astype(np.float64)) - math.log10(d) + 1e-9).astype(np.int64)
    places = _SIGNIFICANT - e
    chosen = np.flatnonzero((places >= 1) & (places <= _MOST_PLACES))
    a, negative, places = a[chosen], negative[chosen], places[chosen]
    q, r = _floor_quotients(a, d, places)
    long = q >= 10**_SIGNIFICANT
    last = q % 10
    q, places = np.where(long, q // 10, q), places - long
    above = np.where(long, (last > 5) | ((last == 5) & (r > 0)), 2 * r > d)
    half = np.where(long, (last == 5) & (r == 0), 2 * r == d)
    q = q + (above | (half & (q % 2 == 1)))
    over = q >= 10**_SIGNIFICANT  # 9.99… rounded up to 10.0…
    q, places = np.where(over, q // 10, q), places - over
    places = np.where(places >= 0, places, -1)
    pieces = []
    counts = np.bincount(places + 1)
    for group in np.flatnonzero(counts[1:]).tolist():  # rows of one length of fraction
        where = np.flatnonzero(places == group)
        made, positional = _positional_rows(q[where], negative[where], group)
        pieces.append((chosen[where[positional]], made[positional]))
    return pieces


def number_rows(values: Scaled) -> IntArray:
    """Every value as :func:`cnnstep.numbers.json_number` writes it, as rows of ASCII
    bytes (0: no character). Values whose decimal terminates are written in bulk
    from their digits, those of an int64 (:func:`_positional_rows`) when the value
    times 10^places fits, else of base-10^9 limbs (:func:`_decimal_rows`); the others
    (17 significant digits) from an exact int64 quotient when the denominator is
    below 2^62 / (the estimate's error + 2); the rest one by one from their
    integers."""
    from cnnstep.numbers import json_ratio

    flat = values.numerators.ravel()
    d = values.denominator
    twos, fives, rest = _split_ten(d)
    places = max(twos, fives)
    factor = 10**places // (d // rest)
    pieces: list[Piece] = []
    if flat.dtype != object and rest < INT64:
        ends = flat % rest == 0 if rest > 1 else np.ones(flat.size, dtype=bool)
        where = np.flatnonzero(ends)
        magnitude = np.abs(flat[where]) // rest
        if where.size and factor < INT64 and largest(magnitude) * factor < INT64:
            made, positional = _positional_rows(magnitude * np.int64(factor), flat[where] < 0,
                                                places)
            pieces.append((where[positional], made[positional]))
        elif where.size and max(9 * (len(_limbs(factor)) + 3), places + 1) <= _BULK_COLUMNS:
            made, positional = _decimal_rows(magnitude, factor, flat[where] < 0, places)
            pieces.append((where[positional], made[positional]))
        where = np.flatnonzero(~ends)
        if where.size and (_ESTIMATE_ERROR + 2) * d < 2**62:
            pieces += [(where[part], made) for part, made in
                       _significant_rows(np.abs(flat[where]), flat[where] < 0, d)]
    bulk = np.zeros(flat.size, dtype=bool)
    for where, _ in pieces:
        bulk[where] = True
    others = np.flatnonzero(~bulk)
    if others.size:
        texts = np.array([json_ratio(int(n), d) for n in flat[others]], dtype="S")
        pieces.append((others, texts.view(np.uint8).reshape(others.size,
                                                            texts.dtype.itemsize)))
    rows = np.zeros((flat.size, max(made.shape[1] for _, made in pieces)), dtype=np.uint8)
    for where, made in pieces:
        rows[where, : made.shape[1]] = made
    return rows


def json_text(values: Scaled) -> str:
    """Nested JSON lists of the values, as ``"[" + ", ".join(items) + "]"`` at every
    level writes them (a single number for a 0-d array)."""
    if values.numerators.ndim == 0:
        from cnnstep.numbers import json_ratio

        return json_ratio(int(values.numerators), values.denominator)
    shape = values.shape
    if not values.size:
        return _empty_lists(shape)
    rank = len(shape)
    numbers = number_rows(values)
    width = numbers.shape[1]
    text = np.zeros((values.size, rank + width + rank + 2), dtype=np.uint8)
    text[:, rank : rank + width] = numbers
    text[:-1, -2:] = (44, 32)  # ", "
    # lists open before the first number of a row and close after its last: as many
    # as the axes whose block of numbers starts (ends) there
    starts = np.arange(0, values.size, shape[-1])
    ends = starts + shape[-1]
    blocks = np.cumprod(shape[::-1])
    opens = np.sum([starts % block == 0 for block in blocks], axis=0)
    closes = np.sum([ends % block == 0 for block in blocks], axis=0)
    column = np.arange(rank)
    text[starts, :rank] = np.where(column[None, ::-1] < opens[:, None], 91, 0)  # "["
    text[ends - 1, rank + width : 2 * rank + width] = np.where(
        column[None, :] < closes[:, None], 93, 0)  # "]"
    text = text.ravel()
    written: str = text[text != 0].tobytes().decode("ascii")
    return written


def _empty_lists(shape: tuple[int, ...]) -> str:
    """Nested JSON lists of a shape with a 0 in it."""
    if not shape[0]:
        return "[]"
    return "[" + ", ".join([_empty_lists(shape[1:])] * shape[0]) + "]"
