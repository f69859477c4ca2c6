"""A work budget, checked before anything large is allocated.

Every path from a problem to its output (the exact solve and its JSON result,
a worked derivation in text, LaTeX or Markdown, the symbolic derivation and
its JSON formulas, ``verify`` and marking) is estimated here, from the layer's
shapes and the digits of its numbers alone, and refused with one clear line
when the estimate is over the limit. Nothing here allocates more than the
problem already holds: the estimates are arithmetic on the shapes and one pass
over the numbers.

The unit is the *operation*, about :data:`NANOSECONDS_PER_OPERATION`
nanoseconds of work on the machine the constants were measured on (a 2-core
x86_64 running CPython 3.11). Time is estimated by counting what each path
does (entries of every array it builds, products of every sum, Fraction
operations, numbers written out, terms printed), each weighted by the size of
its numbers in 64-bit words. Memory is estimated alongside and counted as
operations at :data:`BYTES_PER_OPERATION` bytes each, so one limit bounds
both: at :data:`DEFAULT_MAX_WORK` every path finishes in a few seconds and
under 1 GB.

The checks (:func:`check_solve`, :func:`check_derivation`,
:func:`check_symbolic`, :func:`check_verify`, :func:`check_marking`) take
``max_work``: None for :data:`DEFAULT_MAX_WORK`, 0 for no limit. Each raises
:class:`WorkLimitError`, a :class:`~cnnstep.problem.ProblemError`, whose
message names the estimate, the limit and what dominates.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterable
from dataclasses import replace
from fractions import Fraction
from typing import Any, Literal

import numpy as np

from cnnstep import geometry, quantities
from cnnstep.exact import ExactArray, Scaled, largest
from cnnstep.problem import Array, Layer, Problem, ProblemError, Volume
from cnnstep.values import Value, value_class

#: the limit when none is given: about five seconds of work here, and well under
#: 1 GB of memory, on every path
DEFAULT_MAX_WORK = 100_000_000

#: what one operation costs on the machine the constants below were measured on
NANOSECONDS_PER_OPERATION = 50

#: memory is counted as one operation per this many bytes, so that the default
#: limit allows about 600 MB besides the interpreter and its libraries
BYTES_PER_OPERATION = 6

#: how a derivation is rendered; None: built but not rendered
Format = Literal["text", "latex", "markdown"] | None


class WorkLimitError(ProblemError):
    """A problem whose work is estimated to be over the limit; raised before the work."""

    def __init__(self, message: str, estimate: Estimate, limit: int) -> None:
        super().__init__(message)
        self.estimate = estimate
        self.limit = limit


def round_limit(estimate: float) -> str:
    """A round limit just above an estimate, to suggest: ``3e9`` for 2.2e9.

    >>> round_limit(2.2e9), round_limit(9.5e3), round_limit(40)
    ('3e9', '1e4', '5e1')
    """
    exponent = max(0, math.floor(math.log10(max(estimate, 1))))
    lead = math.floor(estimate / 10 ** exponent) + 1
    return f"{lead}e{exponent}" if lead < 10 else f"1e{exponent + 1}"


# --------------------------------------------------------------------------
# estimates


@value_class
class Part(Value):
    """One piece of a path's work: what it is, its time and the memory it needs.

    ``held`` is memory that stays allocated until the path ends (the arrays of
    the solution, the derivation's nodes); ``passing`` is memory needed only
    while this part runs (an im2col matrix, the text of a matrix).
    """

    what: str
    nanoseconds: float
    held: float = 0.0
    passing: float = 0.0


@value_class
class Estimate(Value):
    """The estimated work of one path, part by part."""

    #: what the estimate is of, for messages: "the layer", "the worked derivation", …
    subject: str
    parts: tuple[Part, ...] = ()

    @property
    def operations(self) -> float:
        """Time, in operations."""
        return _finite(sum(p.nanoseconds for p in self.parts) / NANOSECONDS_PER_OPERATION)

    @property
    def memory(self) -> float:
        """Peak memory in bytes beyond the interpreter's own: everything held, and the
        largest passing need."""
        held = sum(p.held for p in self.parts)
        passing = max((p.passing for p in self.parts), default=0.0)
        return _finite(held + passing)

    @property
    def work(self) -> float:
        """The larger of the time and the memory, in operations: what the limit bounds."""
        return max(self.operations, self.memory / BYTES_PER_OPERATION)

    @property
    def memory_binds(self) -> bool:
        return self.memory / BYTES_PER_OPERATION > self.operations

    def dominant(self) -> Part:
        """The part that costs most, in time or in memory (whichever binds)."""
        if self.memory_binds:
            return max(self.parts, key=lambda p: p.held + p.passing)
        return max(self.parts, key=lambda p: p.nanoseconds)

    def __add__(self, other: Estimate) -> Estimate:
        return Estimate(self.subject, self.parts + other.parts)

    def images(self, count: int) -> Estimate:
        """The same work for each of ``count`` images of a batch: the time and the
        memory held grow ``count`` times, a passing need stays one image's."""
        if count <= 1:
            return self
        return Estimate(self.subject, tuple(
            Part(f"{p.what}, for each of {count} images", p.nanoseconds * count,
                 p.held * count, p.passing) for p in self.parts))

    def message(self, limit: int) -> str:
        """One line: the estimate, the limit and what dominates."""
        top = self.dominant().what
        if self.memory_binds:
            return (f"{self.subject} needs {_about(_bytes(self.memory))} of memory ({top}), "
                    f"counted as {_above(self.work, limit)} operations, over the limit of "
                    f"{_count(limit)}")
        return (f"{self.subject} needs {_about(_above(self.operations, limit))} operations "
                f"({top}), over the limit of {_count(limit)}")


def limit_of(max_work: int | None) -> int:
    """The limit in force: :data:`DEFAULT_MAX_WORK` for None, 0 (no limit) for 0."""
    if max_work is None:
        return DEFAULT_MAX_WORK
    if max_work < 0:
        raise ValueError(f"max_work must be 0 (no limit) or positive, not {max_work}")
    return max_work


def require(estimate: Estimate, max_work: int | None = None) -> Estimate:
    """Raise :class:`WorkLimitError` when the estimate is over the limit; else return it."""
    limit = limit_of(max_work)
    if limit and estimate.work > limit:
        raise WorkLimitError(estimate.message(limit), estimate, limit)
    return estimate


_HUGE = 1e300


def _finite(value: float) -> float:
    return value if value < _HUGE else _HUGE


def _count(value: float) -> str:
    """3.1e9, 2e7; far beyond: "more than 1e300"."""
    if value >= _HUGE:
        return "more than 1e300"
    if value < 1000:
        return f"{value:.0f}"
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa.removesuffix('.0')}e{int(exponent)}"


def _above(value: float, limit: int) -> str:
    """An amount over the limit, with the digits that tell them apart: 1.02e8 over 1e8."""
    text = _count(value)
    if value >= _HUGE or value < 1000 or float(text) > limit:
        return text
    for places in range(1, 6):
        mantissa, exponent = f"{value:.{places}e}".split("e")
        text = f"{mantissa}e{int(exponent)}"
        if float(text) > limit:
            break
    return text


def _about(amount: str) -> str:
    return amount if amount.startswith("more than") else "about " + amount


def _bytes(value: float) -> str:
    if value >= _HUGE:
        return "more than 1e300 bytes"
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value / 1e3:.0f} kB"


def _f(n: int | float) -> float:
    """A count as a float, saturating instead of overflowing (padding 1e300)."""
    if isinstance(n, int) and n.bit_length() > 1000:
        return _HUGE
    return min(float(n), _HUGE)


def _dims(*sizes: int) -> str:
    return "×".join(_size(n) for n in sizes)


def _size(n: int) -> str:
    """A size: 6001, or 2e300 for a huge one."""
    if n < 10**6:
        return str(n)
    digits = str(n)
    mantissa = f"{digits[0]}.{digits[1]}".removesuffix(".0")
    return f"{mantissa}e{len(digits) - 1}"


# --------------------------------------------------------------------------
# the sizes of exact numbers

LOG2_5 = math.log2(5)
LOG2_10 = math.log2(10)
WORD = 64

#: beyond this many bits, the least common multiple of the denominators is bounded
#: by adding their sizes rather than computed
_EXACT_LCM_BITS = 4096
#: bits a sum is taken to lose to cancellation below its smallest term, for the
#: zeros a value with no finite decimal is written with (an estimate, not a bound)
CANCELLATION = 8


@value_class
class Digits(Value):
    """The sizes of the exact numbers of one array, in bits.

    Over a common denominator 2^twos · 5^fives · r (r prime to 10, of ``rest``
    bits) every value is an integer numerator of at most ``magnitude +
    denominator`` bits: that is what the engine multiplies (``engine._scaled``)
    and reduces again. Each value's own denominator has at most ``own`` bits
    (None: the common one's); that is what Fraction arithmetic and writing the
    number out cost by. ``floor`` is log2 of the smallest non-zero magnitude,
    for the zeros of a small value written out.
    """

    magnitude: float = 0.0  # log2 of the largest |value|, 0 for values below 1
    twos: float = 0.0
    fives: float = 0.0
    rest: float = 0.0
    own: float | None = None
    floor: float = 0.0

    @property
    def denominator(self) -> float:
        """Bits of the common denominator."""
        return self.twos + self.fives * LOG2_5 + self.rest

    @property
    def own_denominator(self) -> float:
        """Bits of one value's own denominator."""
        common = self.denominator
        return common if self.own is None else min(self.own, common)

    @property
    def numerator(self) -> float:
        """Bits of a value's numerator over the common denominator."""
        return self.magnitude + self.denominator + 1

    @property
    def scaled_words(self) -> float:
        """A numerator over the common denominator, in 64-bit words."""
        return 1 + self.numerator / WORD

    @property
    def words(self) -> float:
        """One value's numerator (or denominator, the larger), in 64-bit words: what a
        Fraction operation on it costs by."""
        return 1 + (self.magnitude + self.own_denominator + 1) / WORD

    @property
    def own_denominator_words(self) -> float:
        return 1 + self.own_denominator / WORD

    @property
    def places(self) -> float:
        """Decimal places of a value written out when it terminates."""
        return min(max(self.twos, self.fives), self.own_denominator)

    @property
    def zeros(self) -> float:
        """Zeros after the point before the first significant digit of a small value."""
        return max(0.0, min(-self.floor, self.own_denominator) / LOG2_10)

    def _own(self, bits: float) -> float | None:
        return bits if bits < self.denominator else None

    def times(self, other: Digits, terms: int | float = 1) -> Digits:
        """A sum of ``terms`` products of this array's values with ``other``'s."""
        made = Digits(self.magnitude + other.magnitude + math.log2(max(_f(terms), 1)),
                      self.twos + other.twos, self.fives + other.fives,
                      self.rest + other.rest,
                      floor=self.floor + other.floor - (CANCELLATION if terms > 1 else 0))
        own = _f(terms) * (self.own_denominator + other.own_denominator)
        return replace(made, own=made._own(own))

    def plus(self, other: Digits) -> Digits:
        """A sum or difference of this array's values and another's."""
        made = Digits(max(self.magnitude, other.magnitude) + 1,
                      max(self.twos, other.twos), max(self.fives, other.fives),
                      self.rest + other.rest if other is not self else self.rest,
                      floor=min(self.floor, other.floor) - CANCELLATION)
        return replace(made, own=made._own(self.own_denominator + other.own_denominator))

    def summed(self, terms: int | float) -> Digits:
        """A sum of ``terms`` of this array's values (one common denominator)."""
        made = Digits(self.magnitude + math.log2(max(_f(terms), 1)), self.twos, self.fives,
                      self.rest, floor=self.floor - (CANCELLATION if terms > 1 else 0))
        return replace(made, own=made._own(_f(terms) * self.own_denominator))

    def either(self, other: Digits) -> Digits:
        """Values that are this array's or the other's (max pooling, leaky ReLU)."""
        made = Digits(max(self.magnitude, other.magnitude), max(self.twos, other.twos),
                      max(self.fives, other.fives), max(self.rest, other.rest),
                      floor=min(self.floor, other.floor))
        return replace(made, own=made._own(max(self.own_denominator, other.own_denominator)))


#: a small integer: 0, 1, a kernel size
ONE = Digits()


def _split(denominator: int) -> tuple[int, int, int]:
    """(a, b, r) with denominator = 2^a · 5^b · r and r prime to 10."""
    twos = (denominator & -denominator).bit_length() - 1
    rest = denominator >> twos
    fives = 0
    for power in (256, 64, 16, 4, 1):
        divisor = 5**power
        while rest % divisor == 0:
            rest //= divisor
            fives += power
    return twos, fives, rest


def _bit_lengths(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """``int.bit_length`` of each non-negative int64, exactly."""
    lengths = np.zeros(values.shape, dtype=np.int64)
    rest = values.copy()
    for shift in (32, 16, 8, 4, 2, 1):
        big = rest >= (1 << shift)
        lengths += np.where(big, shift, 0)
        rest = np.where(big, rest >> shift, rest)
    return lengths + (rest > 0)


def _scaled_sizes(scaled: Scaled) -> tuple[list[int], set[int]] | None:
    """Each non-zero value's bits(n) − bits(d) of its own (reduced) n/d, and the
    distinct own denominators, in bulk; None when the numbers are not int64."""
    if not scaled.int64 or scaled.denominator >= 2**63:
        return None
    if scaled.size <= _FEW:
        return _few_scaled_sizes(scaled.numerators.ravel().tolist(), scaled.denominator)
    numerators = np.abs(scaled.numerators[scaled.numerators != 0])
    if not numerators.size:
        return [], set()
    common = np.gcd(numerators, np.int64(scaled.denominator))
    own = np.int64(scaled.denominator) // common
    shifts = _bit_lengths(numerators // common) - _bit_lengths(own)
    # a set of the integers, not np.unique, which imports numpy.ma (20 ms at start-up)
    return [int(shifts.min()), int(shifts.max())], set(own.tolist())


#: up to this many numbers, :func:`_scaled_sizes` reads them one by one: numpy's
#: calls on a few numbers (and their first use in a run) cost more than a loop
_FEW = 64


def _few_scaled_sizes(numerators: list[int], denominator: int
                      ) -> tuple[list[int], set[int]]:
    """:func:`_scaled_sizes` of a few numerators, number by number, to the same
    integers."""
    shifts: list[int] = []
    denominators: set[int] = set()
    for numerator in numerators:
        if numerator:
            common = math.gcd(numerator, denominator)
            own = denominator // common
            shifts.append((abs(numerator) // common).bit_length() - own.bit_length())
            denominators.add(own)
    if not shifts:
        return [], set()
    return [min(shifts), max(shifts)], denominators


def digits_of(values: ExactArray | Array | Fraction | None) -> Digits:
    """The sizes of the numbers of an array (or one number), in one pass over them
    (in bulk for an array of int64 numerators over a common denominator)."""
    if values is None:
        return ONE
    bulk = (_scaled_sizes(values.given) if isinstance(values, ExactArray)
            and isinstance(values.given, Scaled) else None)
    if bulk is not None:
        shifts, denominators = bulk
        if not shifts:
            return ONE
    else:
        if isinstance(values, ExactArray):
            values = values.fractions
        flat = [values] if isinstance(values, Fraction) else values.flat
        pairs = [pair for pair in (v.as_integer_ratio() for v in flat) if pair[0]]
        if not pairs:
            return ONE
        # |n/d| lies between 2^(bits(n) − bits(d) − 1) and 2^(bits(n) − bits(d) + 1)
        shifts = [abs(n).bit_length() - d.bit_length() for n, d in pairs]
        denominators = {d for _, d in pairs}
    twos = fives = 0
    common = 1  # the lcm of the parts prime to 10, while it is small
    bounded = 0.0  # bits beyond it, added up
    for denominator in denominators:
        a, b, r = _split(denominator)
        twos, fives = max(twos, a), max(fives, b)
        if r == 1:
            continue
        if common.bit_length() + r.bit_length() <= _EXACT_LCM_BITS:
            common = math.lcm(common, r)
        else:
            bounded += r.bit_length()  # an upper bound on what it adds to the lcm
    own = max(d.bit_length() - 1 for d in denominators)
    made = Digits(float(max(max(shifts) + 1, 0)), float(twos), float(fives),
                  float(common.bit_length() - 1 + bounded) if common > 1 or bounded else 0.0,
                  floor=float(min(min(shifts) - 1, 0)))
    return replace(made, own=made._own(float(own)))


def largest_sum(values: ExactArray | Array) -> float:
    """The largest Σ|k| over the first axis (one filter's weights), as a float: |Z| is at
    most max|x| times it, plus the bias."""
    total = 0.0
    if isinstance(values, ExactArray):
        scaled = values.given
        if (isinstance(scaled, Scaled) and scaled.int64 and scaled.denominator < 2**53
                and largest(scaled.numerators) < 2**53):
            # each |n|/d correctly rounded, as Python divides the reduced fraction
            magnitudes = np.abs(scaled.numerators).astype(np.float64) / scaled.denominator
            for block in magnitudes.reshape(magnitudes.shape[0], -1):
                total = max(total, math.fsum(block.tolist()))
            return min(total, _HUGE)
        values = values.fractions
    for block in values.reshape(values.shape[0], -1):
        sizes = []
        for n, d in (v.as_integer_ratio() for v in block):
            shift = abs(n).bit_length() - d.bit_length()
            sizes.append(abs(n) / d if shift < 1000 else math.inf)
        total = max(total, math.fsum(sizes))
    return min(total, _HUGE)


def float_digits(kind: str, largest: float, z: Digits) -> tuple[Digits, Digits]:
    """The numbers sigmoid or tanh give, and their slopes: float64 values written as
    decimals of 17 significant digits, so with as many places as the value has zeros
    before them, plus 17, and a slope (σ(1 − σ), 1 − tanh²) with twice as many.

    For |z| ≤ ``largest``: σ(z) and σ′(z) are at least about e^−largest, down to
    1e-324 (σ′ is 0 or about 1e-17 where σ rounds to 1); tanh(z) is about z for a
    small z, and 1 − tanh² at least about e^−2·largest, or about 1e-16 where tanh
    rounds to 1.
    """
    log10_e = math.log10(math.e)
    if kind == "sigmoid":
        zeros = slope_zeros = min(324.0, largest * log10_e)
        if largest > 36:
            slope_zeros = max(slope_zeros, 17.0)
    else:
        zeros = min(324.0, max(0.0, -z.floor / LOG2_10))
        slope_zeros = min(17.0, 2 * largest * log10_e)
    places = 17 + math.ceil(zeros)
    values = Digits(0.0, places, places, floor=-zeros * LOG2_10)
    slopes = Digits(0.0, 2 * places, 2 * places, floor=-slope_zeros * LOG2_10)
    return values, slopes


# --------------------------------------------------------------------------
# what things cost, in nanoseconds on the calibration machine, and in bytes

#: one entry of an object array made or copied (np.full, a slice, an im2col copy)
ENTRY = 25
#: one entry put over the common denominator (``engine._scaled``)
SCALE = 450
#: one entry converted to int64 and back
INT64 = 20
#: one product-and-add in int64
MAC64 = 1.0
#: one product-and-add of Python integers, and per word × word of it (schoolbook up to
#: KARATSUBA words, then Karatsuba: per word^1.585)
MAC = 50
MAC_WORD = 4
KARATSUBA = 32
MAC_KARATSUBA = 20
#: one Fraction operation (add, multiply, compare, make from integers), and per word
#: and per word² of its numbers (the gcd)
FRACTION = 1500
FRACTION_WORD = 350
FRACTION_WORD2 = 15
#: dividing Python integers (or a gcd that ends at once), per word × word
DIVIDE = 16
#: writing one number out (json_number, display); per factor 2 or 5 of its denominator,
#: and per word of it; per decimal place and place² of a finite decimal
WRITE = 3000
TERMINATES = 200
TERMINATES_WORD = 5
WRITE_PLACE = 1000
WRITE_PLACE2 = 5

#: bytes: a pointer in an object array, a Fraction, a Python integer
POINTER = 8
FRACTION_BYTES = 48
INT_BYTES = 28


def multiply(a: float, b: float) -> float:
    """One product of Python integers of ``a`` and ``b`` words, beyond its call."""
    low, high = min(a, b), max(a, b)
    if low < KARATSUBA:
        return MAC_WORD * low * high
    return float(MAC_KARATSUBA * (high / low) * low**1.585)


def fraction_op(digits: Digits) -> float:
    """One Fraction operation on numbers of these sizes."""
    w = digits.words
    return FRACTION + FRACTION_WORD * w + FRACTION_WORD2 * w * w


def accumulate(total: Digits, term: Digits) -> float:
    """Adding a term to a running sum (``sum``): the gcd of the two denominators is
    found in time linear in the sum's and quadratic in the term's own size."""
    w = term.words
    return FRACTION + FRACTION_WORD * total.words + FRACTION_WORD2 * w * w


def linear(digits: Digits) -> float:
    """A Fraction multiplied by, divided by or compared with a small integer."""
    return FRACTION + FRACTION_WORD * digits.words


def unscale(digits: Digits) -> float:
    """A Fraction made from a numerator over the common denominator (``engine._unscaled``):
    the gcd is the common denominator over the value's own, found in a few divisions,
    then both are divided by it; the value's own part costs by its square."""
    w = digits.own_denominator_words
    return FRACTION + 3 * DIVIDE * digits.scaled_words * w + FRACTION_WORD2 * w * w


def scale(digits: Digits) -> float:
    """One value put over the common denominator (``engine._scaled``): a step of the
    lcm, a division of the common denominator by its own, a product."""
    return SCALE + 2 * DIVIDE * digits.scaled_words * digits.own_denominator_words


def write(digits: Digits, rounded: bool = False) -> float:
    """Writing one number of these sizes out (``json_number``, ``display``): finding
    whether it terminates (a division per factor 2 and 5), then its decimal places, or
    its zeros and significant digits (a Fraction operation each). A ``rounded`` value
    (after float sigmoid or tanh) is written by its significant digits alone."""
    if rounded:
        return WRITE + (digits.zeros + 2) * linear(digits)
    w = digits.own_denominator_words
    made = WRITE + (digits.twos + digits.fives) * (TERMINATES + TERMINATES_WORD * w)
    p = digits.places
    finite = WRITE_PLACE * p + WRITE_PLACE2 * p * p
    if not digits.rest:
        return made + finite
    return made + max(finite, (digits.zeros + 2) * linear(digits))


def length(digits: Digits) -> float:
    """Characters of a number written out: its digits, or a fraction's two integers."""
    return 8 + (digits.magnitude + 2 * digits.own_denominator) / LOG2_10


def fraction_bytes(digits: Digits) -> float:
    """One Fraction held in an object array: the pointer, the object, its integers."""
    return POINTER + FRACTION_BYTES + INT_BYTES + 8 * digits.words


def integer_bytes(digits: Digits) -> float:
    """One scaled integer held in an object array."""
    return POINTER + 8 * digits.scaled_words


# --------------------------------------------------------------------------
# the exact solve (cnnstep.engine)


class _Parts:
    """Parts added up as a path is walked."""

    def __init__(self) -> None:
        self.parts: list[Part] = []

    def add(self, what: str, nanoseconds: float, held: float = 0.0,
            passing: float = 0.0) -> None:
        self.parts.append(Part(what, _finite(nanoseconds), _finite(held), _finite(passing)))

    def estimate(self, subject: str) -> Estimate:
        return Estimate(subject, tuple(self.parts))


def _wordy(digits: Digits) -> str:
    """", with numbers of about N digits" when the numbers are long."""
    digits_long = (digits.numerator + digits.denominator) / LOG2_10
    return f", with numbers of about {_count(digits_long)} digits" if digits_long > 40 else ""


def _correlation(parts: _Parts, what: str, x_shape: tuple[int, int, int], dx: Digits,
                 k_shape: tuple[int, int, int, int], dk: Digits,
                 out: tuple[int, int, int]) -> Digits:
    """``engine.correlate``: x (C, H, W) with k (F, C, kh, kw) into out (F, oh, ow), through
    an im2col matrix of oh·ow × C·kh·kw entries. Gives the sizes of its results. A k of
    (F, C/G, kh, kw) is grouped: each filter meets the C/G channels of its group only."""
    channels, height, width = x_shape
    filters, seen, kh, kw = k_shape
    _, oh, ow = out
    n_x = _f(channels * height * width)
    n_k = _f(filters * seen * kh * kw)
    columns = _f(oh * ow) * _f(channels * kh * kw)
    products = _f(oh * ow) * _f(seen * kh * kw) * filters
    n_out = _f(filters * oh * ow)
    inner = seen * kh * kw
    result = dx.times(dk, inner)
    scaling = n_x * scale(dx) + n_k * scale(dk)
    if dx.numerator + dk.numerator + math.log2(max(_f(inner), 1)) < 62:
        products_cost = INT64 * (columns + n_k + n_out) + MAC64 * products
        passing = (n_x + n_k) * integer_bytes(dx) + columns * 2 * POINTER + n_out * 2 * POINTER
    else:
        products_cost = products * (MAC + multiply(dx.scaled_words, dk.scaled_words))
        passing = ((n_x + n_k) * integer_bytes(dx) + columns * POINTER
                   + n_out * integer_bytes(result))
    parts.add(f"{what}{_wordy(result)}",
              scaling + ENTRY * columns + products_cost + n_out * unscale(result),
              held=n_out * fraction_bytes(result), passing=passing)
    return result


def _elementwise(parts: _Parts, what: str, count: int | float, each: float,
                 digits: Digits, held: bool = True) -> None:
    """``count`` new entries of ``digits``, each costing ``each`` nanoseconds."""
    n = _f(count)
    parts.add(what, n * (ENTRY + each), held=n * fraction_bytes(digits) if held else 0.0)


#: making one Fraction from another, or comparing one with 0
COPY = 600.0
#: a float activation of one entry: float(), exp, repr, and the Fraction of the repr
FLOAT_ACTIVATION = 4000
#: finding the cells of one pool window and routing its gradient, per cell
ROUTE = 1000


@value_class
class _Numbers(Value):
    """The sizes of the numbers of every array the engine computes."""

    input: Digits
    filter: Digits
    conv: Digits
    last: Digits
    grad_last: Digits | None = None
    grad_conv: Digits | None = None
    grad_filter: Digits | None = None
    grad_input: Digits | None = None
    #: (entries, sizes, whether float sigmoid or tanh went into them) of every result key
    results: tuple[tuple[int, Digits, bool], ...] = ()
    updated_filter: Digits | None = None
    updated_bias: Digits | None = None
    bias: Digits | None = None


def _forward(parts: _Parts, layer: Layer, dx: Digits, dk: Digits, db: Digits | None,
             what: str = "Z") -> Digits:
    """Z = corr(Xpad, K) + B (``engine.forward``), with the padded input it reads."""
    channels, _, _ = layer.input_shape
    filters, _, kh, kw = layer.filter_shape
    hp, wp = layer.padded_size
    n_padded = channels * hp * wp
    parts.add(f"the padded input: {_dims(channels, hp, wp)} entries" if channels > 1
              else f"the padded input: {_dims(hp, wp)} entries",
              _f(n_padded) * ENTRY, held=_f(n_padded) * POINTER)
    conv = _correlation(parts, f"{what}: a {_dims(kh, kw)} kernel over a {_dims(hp, wp)} "
                        "padded input" + (f", {channels} channels" if channels > 1 else "")
                        + (f", {filters} filters" if filters > 1 else ""),
                        (channels, hp, wp), dx, layer.filter_shape, dk,
                        layer.output_shape)
    if db is not None:
        conv = conv.plus(db)
        _elementwise(parts, f"{what}: the bias", _f(filters) * _f(layer.output_size[0])
                     * _f(layer.output_size[1]), fraction_op(conv), conv)
    return conv


#: the sizes of a filter's and a bias's numbers (None: no bias)
Weights = tuple[Digits, Digits | None]


def _solve(parts: _Parts, problem: Problem, weights: Weights | None = None) -> _Numbers:
    """The engine's solve, stage by stage (see ``engine.solve``); ``weights``: the sizes
    of the filter's and the bias's numbers instead of the problem's own (a later
    training step's)."""
    layer = problem.layer
    filters = layer.filters
    oh, ow = layer.output_size
    n_conv = filters * oh * ow
    activation = layer.activation
    dx, dk = digits_of(problem.exact_input), digits_of(problem.exact_filter)
    db = digits_of(problem.exact_bias) if problem.exact_bias is not None else None
    if weights is not None:
        dk, db = weights[0], weights[1] if problem.exact_bias is not None else None
    results: list[tuple[int, Digits, bool]] = []
    conv = _forward(parts, layer, dx, dk, db)
    results.append((n_conv, conv, False))
    floats = activation is not None and not activation.exact
    last, n_last = conv, n_conv
    slope = ONE
    if activation is not None:
        each: float = COPY
        if activation.kind == "relu":
            pass
        elif activation.kind == "leaky_relu":
            slope = digits_of(activation.slope)
            last = conv.either(conv.times(slope))
            each = COPY + fraction_op(last)
        else:
            weight_sum = (largest_sum(problem.exact_filter) if weights is None else
                          math.ldexp(1.0, min(int(dk.magnitude) + 1, 1000))
                          * math.prod(layer.filter_shape[1:]))
            largest = (math.ldexp(1.0, min(int(dx.magnitude) + 1, 1000)) * weight_sum
                       + (2.0 ** min(db.magnitude, 1000.0) if db is not None else 0.0))
            last, slope = float_digits(activation.kind, largest, conv)
            each = FLOAT_ACTIVATION + linear(conv)
        _elementwise(parts, "the activation", n_conv, each, last)
        results.append((n_conv, last, floats))
    pool = layer.pool
    window = 1
    if pool is not None:
        window = pool.size[0] * pool.size[1]
        pooled_h, pooled_w = layer.pooled_size
        n_last = filters * pooled_h * pooled_w
        compare: float
        if pool.kind == "mean":
            total = last.summed(window)
            compare = accumulate(total, last)
            # the windows' divisors (fewer than the window at the padding, with
            # count_include_pad false or in a partial window) and their common multiple
            divisor = math.lcm(*geometry.pool_divisors(pool))
            last = total.times(digits_of(Fraction(1, divisor)))
        else:
            compare = FRACTION + multiply(last.words, last.words)
        parts.add(f"the pool: {_size(n_last)} windows of {window}",
                  _f(n_last) * _f(window) * (ENTRY + compare),
                  held=_f(n_last) * fraction_bytes(last))
        results.append((n_last, last, floats))
    numbers = _Numbers(dx, dk, conv, last, bias=db)
    if not problem.has_gradients:
        return replace(numbers, results=tuple(results))

    # the loss and dL/d(last stage)
    if problem.exact_target is not None:
        dy = digits_of(problem.exact_target)
        error = last.plus(dy)
        square = error.times(error)
        loss = square.summed(n_last)
        # squared_errors twice (the errors kept, and the loss), each summed
        grad = error.times(digits_of(Fraction(2, max(n_last, 1))))
        loss_each = (3 * fraction_op(error) + 2 * fraction_op(square)
                     + 2 * accumulate(loss, square) + linear(grad))
        _elementwise(parts, f"the loss and its gradient over {_size(n_last)} entries",
                     2 * _f(n_last), loss_each / 2, square)
        results.append((1, loss, floats))
        results.append((n_last, grad, floats))
    else:
        grad = digits_of(problem.exact_grad_output)
        results.append((n_last, grad, False))
    grad_last = grad
    # back through the pool and the activation
    if pool is not None:
        overlap = geometry.pool_overlap(pool, 0) * geometry.pool_overlap(pool, 1)
        share = (grad.times(digits_of(Fraction(1, math.lcm(*geometry.pool_divisors(pool)))))
                 if pool.kind == "mean" else grad)
        grad = share.summed(overlap)
        routed = _f(n_last) * _f(window if pool.kind == "mean" else 1)
        parts.add(f"back through the pool: {_size(n_last)} windows of {window}",
                  _f(n_last) * _f(window) * ROUTE + routed * (linear(share)
                                                              + accumulate(grad, share))
                  + _f(n_conv) * ENTRY, held=_f(n_conv) * fraction_bytes(grad))
        results.append((n_conv, grad, floats and problem.exact_target is not None))
    if activation is not None:
        slopes = COPY if activation.exact else 2 * fraction_op(slope)
        grad = grad.times(slope)
        _elementwise(parts, "back through the activation", 2 * _f(n_conv),
                     (slopes + fraction_op(grad)) / 2, grad)
        results.append((n_conv, grad, floats))
    numbers = _Numbers(dx, dk, conv, last, grad_last, grad, bias=db)
    return _backward(parts, problem, numbers, results)


def _spread(layer: Layer) -> tuple[int, int]:
    """dL/dZ's size after zero insertion for the stride."""
    oh, ow = layer.output_size
    sh, sw = layer.stride
    return (oh - 1) * sh + 1, (ow - 1) * sw + 1


def _filter_gradient(parts: _Parts, layer: Layer, dx: Digits, dg: Digits) -> Digits:
    """``engine.filter_gradient``: a correlation of the padded input with the spread dL/dZ."""
    channels, _, _ = layer.input_shape
    filters, _, kh, kw = layer.filter_shape
    hp, wp = layer.padded_size
    rows, cols = _spread(layer)
    parts.add("dL/dZ spread for the stride", _f(filters * rows * cols) * ENTRY,
              held=_f(filters * rows * cols) * POINTER)
    # the same correlation with the roles turned: C·kh·kw windows of rows × cols
    return _correlation(parts, f"dL/dK: a {_dims(rows, cols)} gradient over a "
                        f"{_dims(hp, wp)} padded input",
                        (channels, hp, wp), dx, (filters, layer.group_channels, rows, cols),
                        dg, (filters, kh, kw))


def _input_gradient(parts: _Parts, layer: Layer, dk: Digits, dg: Digits) -> Digits:
    """``engine.input_gradient``: the full convolution of the rotated kernel with dL/dZ,
    over dL/dZ padded by kernel − 1."""
    channels, _, _ = layer.input_shape
    filters, _, kh, kw = layer.filter_shape
    hp, wp = layer.padded_size
    rows, cols = _spread(layer)
    eh, ew = layer.effective_kernel  # dL/dZ is padded by the dilated kernel's span
    gh, gw = rows + 2 * (eh - 1), cols + 2 * (ew - 1)
    parts.add(f"dL/dZ padded by the kernel: {_dims(gh, gw)} entries",
              _f(filters * gh * gw) * ENTRY + _f(filters * layer.group_channels * kh * kw)
              * ENTRY, held=_f(filters * gh * gw) * POINTER)
    result = _correlation(parts, f"dL/dX: a {_dims(kh, kw)} kernel over a {_dims(gh, gw)} "
                          "padded gradient", (filters, gh, gw), dg,
                          (channels, layer.group_filters, kh, kw), dk,
                          (channels, rows + eh - 1, cols + ew - 1))
    parts.add(f"dL/dX: the padded input's gradient, {_dims(channels, hp, wp)} entries",
              _f(channels * hp * wp) * 2 * ENTRY, held=_f(channels * hp * wp) * POINTER)
    return result


def _backward(parts: _Parts, problem: Problem, numbers: _Numbers,
              results: list[tuple[int, Digits, bool]]) -> _Numbers:
    """dL/dK, dL/dB, dL/dX and the update (see ``engine._conv_backward``)."""
    layer = problem.layer
    activation = layer.activation
    floats = activation is not None and not activation.exact
    dg = numbers.grad_conv
    assert dg is not None
    filters, channels, kh, kw = layer.filter_shape
    n_filter = filters * channels * kh * kw
    oh, ow = layer.output_size
    grad_filter = _filter_gradient(parts, layer, numbers.input, dg)
    results.append((n_filter, grad_filter, floats))
    grad_bias = None
    if problem.exact_bias is not None:
        grad_bias = dg.summed(oh * ow)
        _elementwise(parts, "dL/dB", _f(filters) * _f(oh * ow), accumulate(grad_bias, dg),
                     grad_bias, held=False)
        results.append((filters, grad_bias, floats))
    grad_input = _input_gradient(parts, layer, numbers.filter, dg)
    results.append((layer.channels * layer.input_shape[1] * layer.input_shape[2], grad_input,
                    floats))
    updated = updated_bias = None
    if problem.learning_rate is not None:
        rate = digits_of(problem.learning_rate)
        step = grad_filter.times(rate)
        updated = numbers.filter.plus(step)
        _elementwise(parts, "the update", n_filter, fraction_op(step) + fraction_op(updated),
                     updated)
        results.append((n_filter, updated, floats))
        if grad_bias is not None and numbers.bias is not None:
            step = grad_bias.times(rate)
            updated_bias = numbers.bias.plus(step)
            _elementwise(parts, "the update of the bias", filters,
                         fraction_op(step) + fraction_op(updated_bias), updated_bias)
            results.append((filters, updated_bias, floats))
    return replace(numbers, grad_filter=grad_filter, grad_input=grad_input,
                   results=tuple(results), updated_filter=updated,
                   updated_bias=updated_bias)


def _written(parts: _Parts, numbers: _Numbers, what: str = "the result written out") -> None:
    """Every result value written out (``json_number``), and the text it makes."""
    nanoseconds = text = count = longest = 0.0
    for entries, digits, rounded in numbers.results:
        n = _f(entries)
        count += n
        nanoseconds += n * (ENTRY + write(digits, rounded))
        length = digits.places + digits.zeros + digits.magnitude / LOG2_10
        text += n * (60 + 2 * length)
        longest = max(longest, length)
    parts.add(f"{what}: {_count(count)} numbers"
              + (f" of up to {_count(longest)} digits" if longest > 40 else ""),
              nanoseconds, passing=text)


def one_image(problem: Problem) -> Problem:
    """A batch's work is estimated as its largest image's times N: the image whose
    input has the longest numbers, with the batch's learning rate and steps."""
    if not problem.batch:
        return problem
    images = [problem.image(n) for n in range(problem.batch)]
    largest_image = max(images, key=lambda image: digits_of(image.exact_input).numerator)
    return replace(largest_image, learning_rate=problem.learning_rate, steps=problem.steps)
def ordinary_layer(layer: Layer) -> Layer:
    """A transposed layer as the ordinary one it is worked as, for its estimates: a
    stride-1 convolution over the expanded input (zeros inserted and padded), the
    filter (F, C/groups, kh, kw); the same work, its zeros counted as entries. Any other
    layer as it is."""
    if not layer.transposed:
        return layer
    kh, kw = layer.kernel_size
    return replace(layer, input_shape=(layer.channels, *layer.padded_size),
                   filter_shape=(layer.filters, layer.group_channels, kh, kw), stride=(1, 1),
                   padding=(0, 0), transposed=False, output_padding=(0, 0))


def ordinary(problem: Problem) -> Problem:
    """:func:`ordinary_layer` of a problem's layer, its numbers as they are."""
    layer = ordinary_layer(problem.layer)
    return problem if layer is problem.layer else replace(problem, layer=layer)


def solve_estimate(problem: Problem, *, integers: bool = False) -> Estimate:
    """The exact solve (``engine.solve``) and its JSON result; with ``integers``, the
    route the JSON result takes (``result.scaled_result``): over integer arrays for
    every layer :func:`integer_route` covers, else the same Fraction solve."""
    if problem.batch:
        return solve_estimate(one_image(problem), integers=integers).images(problem.batch)
    problem = ordinary(problem)
    parts = _Parts()
    if integers and integer_route(problem):
        _written_in_bulk(parts, _integer_solve(parts, problem))
        return parts.estimate("the layer")
    numbers = _solve(parts, problem)
    _written(parts, numbers)
    return parts.estimate("the layer")


# --------------------------------------------------------------------------
# the solve over integer arrays (``engine.solve_scaled``) and its bulk JSON
# (``exact.json_text``)
#
# Measured on the same machine (2 cores, shared with other work): the JSON result
# (``result.scaled_result`` written by ``render.json_result.dumps``) of integer
# layers like the benchmark's, from 1×28×28 with 6 filters to the ResNet stem
# (3×224×224, 64 filters 7×7, stride 2), plain, with ReLU and a max pool, and with
# a leaky ReLU and a mean pool, timed in-process with ``time.process_time``; the
# constants are fitted so that the estimate is 1 to 3.5 times the time taken (the
# loaded machine's times vary by up to 2×). Alone, numpy took 0.24 ns per
# product-and-add of a float64 matrix product, 0.2 ns per entry of an int64 pass,
# 2 ns per entry of a gcd, 160 ns per Python integer product in an object array,
# and ``numbers.json_ratio`` 1.9 µs per number. Memory: the peak traced by
# ``tracemalloc`` while solving and writing, which the estimate exceeds by 1.5–2.5×.

#: one entry of an integer array a stage makes (a handful of numpy passes: the
#: products or sums, the bound on them, the gcd that reduces the array), int64
SCALED_ENTRY = 200
#: the same, of Python integers in an object array, and per 64-bit word of them
SCALED_OBJECT = 300
SCALED_OBJECT_WORD = 60
#: the numpy calls of one stage, one matrix product or one array written, whatever
#: their size
CALLS = 100_000
#: one entry of the windows matrix (im2col), copied and converted to float64; one entry
#: of a product converted back to int64, or added into place
COLUMN = 12
#: one product-and-add of a float64 matrix product (BLAS), exact below 2^53
FLOAT_MAC = 0.5
#: a float64 product is exact while its sums stay below 2^53 bits (``exact.matmul``)
FLOAT_EXACT_BITS = 53
#: int64 holds numerators below 2^63
INT64_BITS = 63
#: one number written in bulk: its row of characters, and per character (the digits
#: worked out column by column, the row joined into the text)
WRITE_BULK = 200
WRITE_COLUMN = 10
#: one number written from its integers alone (``numbers.json_ratio``), and per word²
WRITE_INTEGERS = 2500
WRITE_INTEGERS_WORD2 = 150
#: most characters of a number written in bulk (``exact._BULK_COLUMNS``); a value with
#: no finite decimal is written in bulk below a denominator of this many bits
BULK_COLUMNS = 90
BULK_DENOMINATOR_BITS = 57


def integer_route(problem: Problem) -> bool:
    """Whether the engine solves the problem over integer arrays (``engine.solve_scaled``):
    every layer but one with a sigmoid or a tanh, whose values are floats."""
    activation = problem.layer.activation
    return activation is None or activation.exact


def lazy_route(problem: Problem) -> bool:
    """Whether a worked derivation reads the integer route's values, each made a
    Fraction only where it is printed (``engine.solve_lazily``): a plain layer (no
    activation or pool, not transposed), one image, one step."""
    layer = problem.layer
    return (not problem.batch and problem.steps <= 1 and layer.convolution
            and not layer.transposed and layer.activation is None and layer.pool is None)


def _pieces(a: float, b: float, inner: int | float) -> float:
    """The float64 products ``exact.matmul`` makes of operands of ``a`` and ``b`` bits
    over ``inner`` terms: one while every sum stays below 2^53, else the larger operand
    is split into halves of its bits, each multiplied."""
    terms = math.log2(max(_f(inner), 1))
    pieces = 1.0
    while a + b + terms >= FLOAT_EXACT_BITS and max(a, b) > 1:
        a, b = (a / 2, b) if a >= b else (a, b / 2)
        pieces *= 2
    return pieces


def _integer_correlation(parts: _Parts, what: str, a: Digits, b: Digits,
                         products: float, inner: int | float, out: float,
                         columns: float = 0.0) -> None:
    """One product of integer matrices (``exact.matmul``): ``products`` product-and-adds
    of ``inner`` terms into ``out`` entries, through a windows matrix of ``columns``
    entries when it makes one."""
    bits_a, bits_b = a.numerator, b.numerator
    if max(bits_a, bits_b) < INT64_BITS:
        pieces = _pieces(bits_a, bits_b, inner)
        nanoseconds = products * pieces * FLOAT_MAC + out * pieces * COLUMN
        passing = columns * 3 * 8 + out * pieces * 8
    else:
        nanoseconds = products * (MAC + multiply(a.scaled_words, b.scaled_words))
        passing = columns * (8 + 8 * a.scaled_words) + out * integer_bytes(a.times(b))
    parts.add(what, CALLS + nanoseconds + columns * COLUMN, passing=passing)


def _scaled_entry(digits: Digits) -> float:
    """One entry of an integer array a stage makes, of these sizes."""
    if digits.numerator < INT64_BITS:
        return SCALED_ENTRY
    return SCALED_OBJECT + SCALED_OBJECT_WORD * digits.scaled_words


def _scaled_bytes(digits: Digits) -> float:
    return 8.0 if digits.numerator < INT64_BITS else integer_bytes(digits)


def _integer_solve(parts: _Parts, problem: Problem) -> _Numbers:
    """``engine.solve_scaled``: the correlations as integer matrix products (float64
    where the bounds allow), every other stage an integer array; the numbers of every
    stage have the sizes the Fraction solve's have (:func:`_solve`)."""
    numbers = _solve(_Parts(), problem)
    layer = problem.layer
    if layer.convolution:
        filters, seen, kh, kw = layer.filter_shape
        oh, ow = layer.output_size
        taps = _f(seen * kh * kw)
        products = _f(filters) * _f(oh * ow) * taps
        columns = _f(oh * ow) * _f(layer.channels * kh * kw)
        _integer_correlation(parts, f"Z: {_count(products)} products as integers",
                             numbers.input, numbers.filter, products, taps,
                             _f(filters * oh * ow), columns)
        if numbers.grad_conv is not None:
            dg = numbers.grad_conv
            _integer_correlation(parts, f"dL/dK: {_count(products)} products as integers",
                                 numbers.input, dg, products, oh * ow,
                                 _f(math.prod(layer.filter_shape)), columns)
            _integer_correlation(parts, f"dL/dX: {_count(products)} products as integers",
                                 numbers.filter, dg, products, filters // layer.groups,
                                 columns * 2)
    for entries, digits, _ in numbers.results:
        n = _f(entries)
        parts.add("the stages as integer arrays", CALLS + n * _scaled_entry(digits),
                  held=n * _scaled_bytes(digits))
    return numbers


def _bulk_width(digits: Digits) -> float | None:
    """Columns of characters of a number ``exact.json_text`` writes in bulk, or None
    when it is written one by one (its numerator beyond int64, too many digits, or no finite
    decimal over a long denominator)."""
    if digits.numerator >= INT64_BITS:
        return None
    whole = digits.magnitude / LOG2_10 + 2
    if not digits.rest:
        places = digits.places
        # the numerator times 10^places / the denominator's 2s and 5s: in int64, or
        # worked out in base-10^9 limbs, nine columns of digits a limb
        factor = places - (digits.twos + digits.fives * LOG2_5) / LOG2_10
        if digits.numerator + factor * LOG2_10 < INT64_BITS:
            return whole + places + 1
        width = max(9 * (math.ceil(max(factor, 0.0) / 9) + 4), places + 1)
        return width if width <= BULK_COLUMNS else None
    if digits.denominator >= BULK_DENOMINATOR_BITS:
        return None
    return 20 + digits.zeros


def _written_in_bulk(parts: _Parts, numbers: _Numbers) -> None:
    """The integer route's result written out (``exact.json_text``): in bulk, rows of
    characters made column by column, or one by one where the bulk cannot."""
    nanoseconds = text = array = count = longest = 0.0
    for entries, digits, _ in numbers.results:
        n = _f(entries)
        count += n
        width = _bulk_width(digits)
        if width is None:
            w = digits.scaled_words
            nanoseconds += n * (WRITE_INTEGERS + WRITE_INTEGERS_WORD2 * w * w)
            width = length(digits)
        else:
            nanoseconds += CALLS + n * (WRITE_BULK + WRITE_COLUMN * width)
        # while one array is written: its rows of characters, the text with its
        # brackets and the mask of its characters; the document: its pieces and itself
        array = max(array, n * (3 * (width + 10) + 16))
        text += n * 2 * (width + 2)
        longest = max(longest, width)
    parts.add(f"the result written out: {_count(count)} numbers"
              + (f" of up to {_count(longest)} digits" if longest > 40 else ""),
              nanoseconds, passing=text + array)


def volume_estimate(volume: Volume, images: int = 1) -> Estimate:
    """A 3-D layer's exact solve: F·C·kd·kh·kw·od·oh·ow Fraction products and sums
    for the forward pass (a transposed layer's C·F/groups·kd·kh·kw·D·H·W, each input
    entry scattered once per weight), and as many again for dL/dK and for dL/dX;
    every entry held as a Fraction. A batch of ``images`` volumes does all of it for
    each."""
    filters, channels = volume.filter.shape[:2]
    taps = math.prod(volume.filter.shape[2:])
    outputs = math.prod(volume.output_size)
    digits = digits_of(volume.input).times(digits_of(volume.filter))
    passes = 3 if volume.has_gradients else 1
    # trained, every step solves the layer again
    products = _f(filters * channels * taps * _reach(volume)) * images * volume.steps
    entries = _f(volume.input.size + volume.filter.size + 2 * volume.filters * outputs) * images
    subject = "the 3-D layer" if images == 1 else f"the batch of {images} 3-D volumes"
    return Estimate(subject, (
        Part(f"{passes} pass{'es' * (passes > 1)} of {_count(products)} products",
             products * passes * 2 * fraction_op(digits)),
        Part("its arrays", entries * 3 * ENTRY, held=entries * 3 * fraction_bytes(digits)),
    ))


def _reach(volume: Volume) -> int:
    """The entries each weight of a 3-D layer meets at most: the output's, or a
    transposed layer's input entries, each scattered once per weight."""
    return math.prod(volume.input.shape[1:] if volume.transposed else volume.output_size)


def check_volume(volume: Volume, max_work: int | None = None, *,
                 derivation: bool = False, images: int = 1) -> Estimate:
    """Refuse a 3-D layer whose exact solve (and, with ``derivation``, its worked
    derivation: every product of every step written out) is over the limit, before
    the work; for a batch, ``volume`` is one of its ``images`` volumes."""
    estimate = volume_estimate(volume, images)
    if derivation:
        filters, channels = volume.filter.shape[:2]
        products = _f(filters * channels * math.prod(volume.filter.shape[2:])
                      * _reach(volume)) * (3 if volume.has_gradients else 1)
        products *= images * volume.steps
        estimate += Estimate(estimate.subject, (
            Part(f"the worked derivation: {_count(products)} products written out",
                 products * 2 * 2 * WRITE, held=products * 2 * 2 * 400),))
    return require(estimate, max_work)


def check_solve(problem: Problem, max_work: int | None = None, *,
                integers: bool = False) -> Estimate:
    """Refuse a problem whose exact solve and JSON result would be over the limit;
    ``integers``: solved over integer arrays where the engine can (see
    :func:`solve_estimate`)."""
    if not limit_of(max_work):
        return Estimate("the layer")
    last = _LAST_SOLVE[0]
    if last is not None and last[0]() is problem and last[1] == integers:
        estimate = last[2]  # the same problem asked again (the API, then the engine)
    else:
        estimate = solve_estimate(problem, integers=integers)
        _LAST_SOLVE[0] = (weakref.ref(problem), integers, estimate)
    return require(estimate, max_work)


#: the last problem :func:`check_solve` estimated (a problem is immutable; it is not
#: kept alive for this), with ``integers`` and its estimate
_LAST_SOLVE: list[tuple[weakref.ref[Problem], bool, Estimate] | None] = [None]


# --------------------------------------------------------------------------
# training steps (cnnstep.training): the solve repeated with growing numbers

#: the steps of a long training are estimated in at most this many blocks, each at the
#: sizes of its last step, the largest of the block (the bounds below only grow)
TRAINING_BLOCKS = 32


@value_class
class Growth(Value):
    """Bounds on the sizes of the weights' numbers at each training step.

    Step k + 1's weights are K_k − α·dL/dK: an affine map of K_k whose coefficients
    (α, the loss's factor, the input, the target; the slope of a leaky ReLU, a mean
    pool's share) are the same at every step. So the common denominator of the
    weights gains at most the denominator of those coefficients at each step (the
    bits of one step from integer weights), and the magnitude at most the bits one
    step adds to integer weights of the same size: both grow linearly with k, and
    the bound is what a diverging training reaches. From step 2 on the filter and
    the bias share one common denominator.
    """

    first: Weights
    start: Digits
    magnitude: float
    twos: float
    fives: float
    rest: float

    def at(self, step: int) -> Weights:
        """The sizes of the weights step ``step`` (1: the problem's) starts from."""
        if step <= 1:
            return self.first
        k = step - 1
        made = Digits(self.start.magnitude + k * self.magnitude,
                      self.start.twos + k * self.twos, self.start.fives + k * self.fives,
                      self.start.rest + k * self.rest)
        weights = replace(made, floor=-made.denominator)
        return weights, (weights if self.first[1] is not None else None)


def growth(problem: Problem) -> Growth:
    """How the weights' numbers grow per training step (see :class:`Growth`)."""
    dk = digits_of(problem.filter)
    db = digits_of(problem.bias) if problem.bias is not None else None
    start = dk
    if db is not None:
        start = Digits(max(dk.magnitude, db.magnitude), max(dk.twos, db.twos),
                       max(dk.fives, db.fives), dk.rest + db.rest)
    whole = Digits(start.magnitude)
    one = _solve(_Parts(), problem, (whole, whole if db is not None else None))
    made = [d for d in (one.updated_filter, one.updated_bias) if d is not None]
    if not made:  # no update: nothing grows
        return Growth((dk, db), start, 0.0, 0.0, 0.0, 0.0)
    return Growth((dk, db), start,
                  max(1.0, max(d.magnitude for d in made) - start.magnitude),
                  max(d.twos for d in made), max(d.fives for d in made),
                  max(d.rest for d in made))


def _blocks(steps: int) -> list[tuple[int, int]]:
    """(last step, steps in the block) of each block of a training."""
    blocks = min(steps, TRAINING_BLOCKS)
    ends = [steps * b // blocks for b in range(1, blocks + 1)]
    return [(end, end - before) for before, end in zip([0, *ends], ends, strict=False)]


def _training(parts: _Parts, problem: Problem, grow: Growth) -> Digits:
    """Every training step's solve, the final loss's, and the history written out; gives
    the sizes of the last weights."""
    for end, count in _blocks(problem.steps):
        block = _Parts()
        _solve(block, problem, grow.at(end))
        what = f"step {end}" if count == 1 else f"{count} training steps to step {end}"
        for part in block.parts:
            parts.add(f"{what}: {part.what}", part.nanoseconds * count, part.held * count,
                      part.passing)
    last = grow.at(problem.steps + 1)
    final = _Parts()
    _solve(final, problem, last)
    for part in final.parts:
        parts.add(f"the final loss: {part.what}", part.nanoseconds, part.held, part.passing)
    rows = _f(problem.steps) * quantities.history_columns(problem.layer)
    digits = last[0]
    parts.add(f"the history written out: {_count(rows)} numbers"
              + (f" of up to {_count(length(digits))} digits" if length(digits) > 40 else ""),
              rows * (ENTRY + write(digits)), passing=rows * (60 + 2 * length(digits)))
    return digits


def training_estimate(problem: Problem) -> Estimate:
    """Every training step's exact solve, with the weights' numbers growing by the
    bounds of :class:`Growth`, and the result with its history written out."""
    if problem.batch:
        return training_estimate(one_image(problem)).images(problem.batch)
    problem = ordinary(problem)
    parts = _Parts()
    _training(parts, problem, growth(problem))
    return parts.estimate(f"{problem.steps} training steps")


def check_training(problem: Problem, max_work: int | None = None, *,
                   integers: bool = False) -> Estimate:
    """Refuse a training whose steps (with their growing numbers) would be over the
    limit; a problem of one step is :func:`check_solve`'s (with ``integers``: over
    integer arrays where the engine can)."""
    if problem.steps <= 1:
        return check_solve(problem, max_work, integers=integers)
    if not limit_of(max_work):
        return Estimate(f"{problem.steps} training steps")
    return require(training_estimate(problem), max_work)


# --------------------------------------------------------------------------
# the worked derivation (cnnstep.derivation) and its rendering

#: building a derivation: one product written as nodes (its symbols and its numbers),
#: one equation, one symbol or number node made for an array entry
NODE_PRODUCT = 3000
NODE_EQUATION = 15000
NODE_ENTRY = 1000
#: rendering, per format: one term of a sum, one equation (beyond its value), one
#: matrix cell (beyond its number), one cell of a window drawn beside an equation
RENDER_TERM = {"text": 14000, "latex": 9000, "markdown": 4000}
RENDER_EQUATION = {"text": 60000, "latex": 45000, "markdown": 25000}
RENDER_CELL = {"text": 12000, "latex": 4500, "markdown": 4000}
RENDER_WINDOW_CELL = 2000
#: and per character of the numbers printed (rich lays out text by the character)
RENDER_CHARACTER = {"text": 150, "latex": 15, "markdown": 15}
#: a large derivation costs more per term: the collector walks its nodes time and again
#: (per term, the cost grows by one part in this many terms)
CROWD = 3_000_000
#: bytes: the nodes of one product, the text of one term or cell
NODE_BYTES = 300
TEXT_BYTES = {"text": 60, "latex": 80, "markdown": 60, None: 0}
#: text beside an equation draws the windows of inputs up to this size (render/text.py)
WINDOW_GRID_LIMIT = 12
#: a symbolic derivation checks its identities entry by entry: per term of dL/dK
#: compared, per input entry and per term of dL/dX compared
IDENTITY_TERM = 2400
IDENTITY_INPUT = 24000
IDENTITY_INPUT_TERM = 2000
#: a symbolic entry of dL/dX lists the outputs it does not affect: per output
MISSED_OUTPUT = 150
#: the JSON formulas: one term printed in SymPy syntax, and its text
FORMULA_TERM = 4500
FORMULA_BYTES = 40


def _default_terms(max_terms: int | None) -> int:
    if max_terms is not None:
        return max_terms
    from cnnstep.derivation.assemble import DEFAULT_MAX_TERMS

    return DEFAULT_MAX_TERMS


def _picked(per: dict[str, int], counts: dict[str, int], max_terms: int,
            selected: int | None) -> dict[str, int]:
    """How many entries of each quantity a derivation works out (``Plan.share``);
    ``selected``: entries named by a selection instead, of any quantity."""
    if selected is not None:
        return {key: min(n, selected) for key, n in counts.items()}
    total = sum(per[key] * n for key, n in counts.items())
    if max_terms <= 0 or total <= max_terms:
        return dict(counts)
    picked = {}
    for key, n in counts.items():
        share = max_terms * per[key] * n // total
        picked[key] = max(1, min(n, share // max(per[key], 1)))
    return picked


def _selected(only: int | Iterable[str]) -> int | None:
    count = only if isinstance(only, int) else len(list(only))
    return count or None


@value_class
class _Shown(Value):
    """What a derivation prints: terms, equations, matrix cells and window cells, with
    the cost of writing out the numbers in them."""

    terms: float = 0.0
    equations: float = 0.0
    cells: float = 0.0
    windows: float = 0.0
    nodes: float = 0.0  # entries of the arrays the builder turns into nodes
    writing: float = 0.0  # nanoseconds of numbers written out, all told
    checking: float = 0.0  # nanoseconds of the symbolic identities checked
    characters: float = 0.0  # of the numbers written out, all told

    def __add__(self, other: _Shown) -> _Shown:
        return _Shown(self.terms + other.terms, self.equations + other.equations,
                      self.cells + other.cells, self.windows + other.windows,
                      self.nodes + other.nodes, self.writing + other.writing,
                      self.checking + other.checking, self.characters + other.characters)

    def times(self, count: float) -> _Shown:
        """The same shown ``count`` times over."""
        return _Shown(self.terms * count, self.equations * count, self.cells * count,
                      self.windows * count, self.nodes * count, self.writing * count,
                      self.checking * count, self.characters * count)


def _training_shown(problem: Problem, max_terms: int, selected: int | None) -> _Shown:
    """The working of training steps 2 on, each as step 1's at its own numbers' sizes,
    and the table of the history (every step's loss and weights)."""
    grow = growth(problem)
    shown = _Shown()
    for end, count in _blocks(problem.steps):
        numbers = _solve(_Parts(), problem, grow.at(end))
        shown = shown + _numeric_shown(problem, numbers, max_terms, selected).times(
            count if end > 1 else count - 1)
    cells = _f(problem.steps + 1) * quantities.history_columns(problem.layer)
    digits = grow.at(problem.steps + 1)[0]
    return shown + _Shown(cells=cells, writing=cells * write(digits),
                          characters=cells * length(digits))


def _numeric_shown(problem: Problem, numbers: _Numbers, max_terms: int,
                   selected: int | None) -> _Shown:
    """The worked solution of a solved layer (``derivation.derive``)."""
    from cnnstep.derivation.assemble import terms_per_entry

    layer = problem.layer
    available = quantities.present(problem)
    per = terms_per_entry(layer)
    counts = {key: math.prod(quantities.full_shape(key, layer)) for key in per
              if key != "loss" and key in available}
    last_shape = layer.last_shape
    n_last = math.prod(last_shape)
    if problem.exact_target is not None:
        counts["loss"] = n_last
    picked = _picked(per, counts, max_terms, selected)
    averages = {key: _average(key, per[key], counts[key], layer) for key in picked}
    if selected is None:
        products = sum(_f(picked[key]) * averages[key] for key in picked)
        equations = sum(_f(n) for n in picked.values())
    else:  # the selected entries may all be of the longest quantity
        products = selected * max(averages.values(), default=0.0)
        equations = float(selected)
    # the numbers: a matrix of every quantity, the padded input and the zero-padded
    # gradient; each equation's value
    whole = selected is None
    channels = layer.channels
    filters, _, kh, kw = layer.filter_shape
    hp, wp = layer.padded_size
    rows, cols = _spread(layer)
    cells = writing = 0.0
    shown: list[tuple[float, Digits, bool]] = []
    if whole:
        shown += [(_f(channels * hp * wp), numbers.input, False),
                  (_f(filters * layer.group_channels * kh * kw) * 2, numbers.filter, False),
                  (_f(filters * (rows + 2 * layer.effective_kernel[0] - 2)
                      * (cols + 2 * layer.effective_kernel[1] - 2)),
                   numbers.grad_conv or ONE, False)]
        if layer.padded:
            shown.append((_f(channels * hp * wp), numbers.grad_input or ONE, False))
        if layer.flipped:  # rot180(K) in the forward pass, dL/dK before its rotation
            shown += [(_f(filters * channels * kh * kw), numbers.filter, False),
                      (_f(filters * channels * kh * kw), numbers.grad_conv or ONE, False)]
        if layer.stride != (1, 1):
            shown.append((_f(filters * rows * cols), numbers.grad_conv or ONE, False))
        shown += [(_f(n), d, r) for n, d, r in numbers.results if n > 1]
    elif problem.exact_target is not None:
        shown.append((_f(n_last), digits_of(problem.exact_target), False))
    characters = 0.0
    for n, d, rounded in shown:
        n = _elided(n, max_terms)
        cells += n
        writing += n * write(d, rounded)
        characters += n * length(d)
    each = _f(sum(n for n, _, _ in numbers.results))
    if each:
        writing += equations * sum(_f(n) * write(d, r) for n, d, r in numbers.results) / each
        characters += equations * sum(_f(n) * length(d) for n, d, _ in numbers.results) / each
    # windows beside the forward equations (and the pool's), drawn in text
    windows = 0.0
    if max(hp, wp) <= WINDOW_GRID_LIMIT:
        key = quantities.conv_key(layer)
        windows += _f(picked.get(key, 0)) * channels * hp * wp
    pool = layer.pool
    if pool is not None and max(pool.padded_size) <= WINDOW_GRID_LIMIT:
        windows += _f(picked.get("pooled", 0)) * pool.padded_size[0] * pool.padded_size[1]
    nodes = _f(channels * hp * wp) * 2 + _f(filters * channels * kh * kw) * 2 + _f(
        math.prod(layer.output_shape)) * 2
    # each product is printed once with its two numbers
    operand = max(length(numbers.input), length(numbers.filter),
                  length(numbers.grad_conv or ONE))
    characters += products * 2 * operand
    return _Shown(2 * products, equations, cells, windows, nodes,
                  writing + windows * write(numbers.input), 0.0,
                  characters + windows * length(numbers.input))


def _elided(entries: float, max_terms: int) -> float:
    """The entries of a quantity's matrices that a derivation prints: under a term limit,
    a quantity too large to read on a page is shown by the first rows and columns of
    its first matrices (``Builder.shown``), and only those entries are read."""
    from cnnstep.derivation.builder import (
        ELIDED_COLUMNS,
        ELIDED_MATRICES,
        ELIDED_ROWS,
        MATRIX_ENTRIES,
    )

    if max_terms <= 0 or entries <= MATRIX_ENTRIES:
        return entries
    return float(min(entries, ELIDED_ROWS * ELIDED_COLUMNS * ELIDED_MATRICES))


def _average(key: str, per: int, count: int, layer: Layer) -> float:
    """Products per entry of a quantity: ``per`` (what the derivation shares its budget
    by), but dL/dX has no more products in all than the forward pass."""
    if key != "grad_input" or not count:
        return float(per)
    filters, channels, kh, kw = layer.filter_shape
    oh, ow = layer.output_size
    return min(float(per), _f(filters * channels * kh * kw) * _f(oh * ow) / _f(count))


def _symbolic_shown(layer: Layer, max_terms: int, selected: int | None) -> _Shown:
    """The symbolic derivation of a layer (``symbolic.derive_symbolic``): its printed
    terms, and the identities it checks term by term."""
    conv = _convolution(layer)
    formulas = _formulas(conv)
    per = {key: forms * terms for key, forms, terms in formulas}
    counts = {key: math.prod(quantities.full_shape(key, conv)) for key, _, _ in formulas}
    picked = _picked(per, counts, max_terms, selected)
    longest = {key: forms * _average(key, terms, counts[key], conv)
               for key, forms, terms in formulas}
    if selected is None:
        terms = sum(_f(picked[key]) * longest[key] for key in picked)
        equations = sum(_f(n) for n in picked.values())
    else:
        terms = selected * max(longest.values(), default=0.0)
        equations = float(selected)
    channels, height, width = conv.input_shape
    filters, _, kh, kw = conv.filter_shape
    hp, wp = conv.padded_size
    oh, ow = conv.output_size
    rows, cols = _spread(conv)
    outputs = _f(filters * oh * ow)
    extra = _f(picked.get("grad_input", 0)) * outputs * MISSED_OUTPUT / NODE_PRODUCT
    extra += _f(picked.get("grad_filter", 0)) * oh * ow  # the local gradients
    cells = nodes = checking = 0.0
    padded = _f(filters * (rows + 2 * kh - 2) * (cols + 2 * kw - 2))
    if selected is None:
        weights = _f(filters * channels * kh * kw)
        inputs = _f(channels * height * width)
        checking = (weights * (_f(rows * cols) + _f(oh * ow)) * IDENTITY_TERM
                    + inputs * (IDENTITY_INPUT + filters * kh * kw * IDENTITY_INPUT_TERM))
        cells = _f(channels * hp * wp) + weights * 2 + outputs + _f(filters * rows * cols) \
            + padded
        nodes = cells + 2 * padded
    nodes += _f(channels * hp * wp) * 2 + _f(filters * channels * kh * kw) + outputs
    return _Shown(terms + extra, equations, cells, 0.0, nodes, 0.0, checking)


def _convolution(layer: Layer) -> Layer:
    """The layer's convolution alone (``symbolic.convolution``)."""
    return replace(layer, activation=None, pool=None)


def _formulas(layer: Layer) -> list[tuple[str, int, int]]:
    """(result key, forms, terms per entry) of each quantity a symbolic derivation gives
    as formulas (``symbolic.formulas``)."""
    return [(quantities.result_name(q.key, layer), q.forms, q.terms(layer))
            for q in quantities.QUANTITIES
            if q.symbolic and q.terms is not None
            and ("bias" not in q.needs or layer.has_bias)]


def _rendered(parts: _Parts, what: str, shown: _Shown, format: Format) -> None:
    """The derivation built, then rendered in ``format`` (None: built only)."""
    crowd = 1 + shown.terms / CROWD
    build = (shown.terms / 2 * NODE_PRODUCT * crowd + shown.equations * NODE_EQUATION
             + shown.nodes * NODE_ENTRY + shown.checking)
    held = shown.terms * NODE_BYTES / 2 + shown.nodes * 2 * POINTER
    parts.add(f"{what}: {_count(shown.terms)} terms, {_count(shown.cells)} matrix entries",
              build, held=held)
    if format is None:
        return
    text = (shown.terms + shown.cells + shown.windows) * TEXT_BYTES[format] + shown.characters
    parts.add(f"{what} as {format}: {_count(shown.terms)} terms, "
              f"{_count(shown.cells)} matrix entries",
              shown.terms * RENDER_TERM[format] * crowd
              + shown.equations * RENDER_EQUATION[format]
              + shown.cells * RENDER_CELL[format]
              + (shown.windows * RENDER_WINDOW_CELL if format == "text" else 0.0)
              + shown.characters * RENDER_CHARACTER[format] + shown.writing,
              passing=3 * text)


def derivation_estimate(item: Problem | Layer, max_terms: int | None = None, *,
                        format: Format = "text", symbolic: bool = False,
                        only: int | Iterable[str] = (), solved: bool = False) -> Estimate:
    """A worked derivation from a loaded problem to its rendered text: the solve, the
    derivation (``max_terms`` as ``derive`` takes it: None for the default, 0 for
    every term; with ``symbolic``, the formulas first) and its rendering in ``format``
    (None: built, not rendered). ``solved``: the solve is done already, leave it out.

    A layer given by shapes has its symbolic derivation alone. ``only``: the
    selection (or the number of entries it names) that the derivation works out.
    """
    if isinstance(item, Problem) and item.batch:
        return derivation_estimate(one_image(item), max_terms, format=format,
                                   symbolic=symbolic, only=only, solved=solved
                                   ).images(item.batch)
    lazily = isinstance(item, Problem) and not symbolic and lazy_route(item)
    item = ordinary(item) if isinstance(item, Problem) else ordinary_layer(item)
    limit = _default_terms(max_terms)
    selected = _selected(only)
    parts = _Parts()
    if isinstance(item, Layer):
        _rendered(parts, "the symbolic derivation", _symbolic_shown(item, limit, selected),
                  format)
        return parts.estimate("the symbolic derivation")
    solving = _Parts()
    numbers = _integer_solve(solving, item) if lazily else _solve(solving, item)
    if item.steps > 1:
        solving = _Parts()
        _training(solving, item, growth(item))
    if not solved:
        parts.parts += solving.parts
    shown = _numeric_shown(item, numbers, limit, selected)
    if symbolic:
        shown = shown + _symbolic_shown(item.layer, limit, selected)
    if item.steps > 1:
        shown = shown + _training_shown(item, limit, selected)
    _rendered(parts, "the worked derivation", shown, format)
    return parts.estimate("the worked derivation")


def check_derivation(item: Problem | Layer, max_terms: int | None = None,
                     max_work: int | None = None, *, format: Format = "text",
                     symbolic: bool = False, only: int | Iterable[str] = (),
                     solved: bool = False) -> Estimate:
    """Refuse a worked derivation (with its solve, unless ``solved``, and its rendering
    in ``format``) over the limit; the arguments are :func:`derivation_estimate`'s."""
    limit = limit_of(max_work)
    if not limit:
        return Estimate("the worked derivation")
    return require(derivation_estimate(item, max_terms, format=format, symbolic=symbolic,
                                       only=only, solved=solved), limit)


# --------------------------------------------------------------------------
# the symbolic JSON result (symbolic.symbolic_result)


def symbolic_estimate(item: Problem | Layer) -> Estimate:
    """The JSON formulas of a layer: every term of Z, dL/dK, dL/dB and dL/dX printed in
    SymPy syntax; for a problem with numbers, its solve and JSON result first."""
    item = ordinary(item) if isinstance(item, Problem) else ordinary_layer(item)
    parts = _Parts()
    if isinstance(item, Problem):
        _written(parts, _solve(parts, item))
        layer = item.layer
    else:
        layer = item
    conv = _convolution(layer)
    terms = 0.0
    for key, _, per in _formulas(conv):
        count = math.prod(quantities.full_shape(key, conv))
        terms += _f(count) * _average(key, per, count, conv)
    channels, hp, wp = conv.channels, *conv.padded_size
    nodes = _f(channels * hp * wp) + _f(math.prod(conv.filter_shape)) + _f(
        math.prod(conv.output_shape))
    parts.add(f"the formulas: {_count(terms)} terms", terms * FORMULA_TERM
              + nodes * NODE_ENTRY, held=terms * FORMULA_BYTES, passing=terms * FORMULA_BYTES)
    return parts.estimate("the symbolic result")


def check_symbolic(item: Problem | Layer, max_work: int | None = None) -> Estimate:
    """Refuse the JSON formulas (``symbolic_result``) of a layer over the limit; for a
    problem with numbers, its solve and JSON result with them."""
    if not limit_of(max_work):
        return Estimate("the symbolic result")
    return require(symbolic_estimate(item), max_work)


# --------------------------------------------------------------------------
# verify: the layer written out from its definition and differentiated directly


@value_class
class VerifySize(Value):
    """The size of what ``verify`` works out: the layer's entries (inputs, weights and
    biases), the products X·K of every Z (the taps that fall in the padding counted
    too), the entries of Z and of the last stage, and the cells of every pool
    window together."""

    symbols: int
    products: int
    outputs: int
    last: int
    cells: int


def verify_size(problem: Problem) -> VerifySize:
    """How large the layer that ``verify`` writes out is, from its shapes."""
    layer = problem.layer
    filters, channels, kh, kw = layer.filter_shape
    _, height, width = layer.input_shape
    oh, ow = layer.output_size
    bias = filters if layer.has_bias else 0
    symbols = layer.channels * height * width + filters * channels * kh * kw + bias
    outputs = filters * oh * ow
    last, cells = outputs, 0
    if layer.pool is not None:
        pooled_h, pooled_w = layer.pooled_size
        last = filters * pooled_h * pooled_w
        cells = last * layer.pool.size[0] * layer.pool.size[1]
    return VerifySize(symbols, outputs * channels * kh * kw, outputs, last, cells)


#: one term X·K in a Python loop over integers, beyond the product itself
VERIFY_TERM = 200
#: Fraction operations per entry of Z: each stage, the loss, dL/dZ, and per direction
#: the changes of Z and of the last stage and their integers
VERIFY_OUTPUT_OPS = 10
VERIFY_DIRECTION_OPS = 3
#: Fraction operations per input, weight and bias entry: the gradient made, scaled,
#: compared, and per direction its entry
VERIFY_SYMBOL_OPS = 12
VERIFY_SYMBOL_DIRECTION = 1_000
#: sigmoid or tanh of one entry, and its slope, in decimal arithmetic
VERIFY_FLOAT = 100_000
#: arrays of Fractions held at once: of Z's size and of the symbols'
VERIFY_OUTPUT_ARRAYS = 16
VERIFY_SYMBOL_ARRAYS = 8


def verify_estimate(problem: Problem) -> Estimate:
    """``verify``: the solve, then the layer written out from its definition (the
    forward pass, dL/dK and dL/dX over every term, and per direction of the check
    the correlations it needs), in integers over common denominators, with Fraction
    work per entry of Z and per input, weight and bias entry. With training steps,
    the engine's training, then the same again at every step and for the final loss,
    at the sizes the weights' numbers grow to (:class:`Growth`)."""
    if problem.batch:
        return verify_estimate(one_image(problem)).images(problem.batch)
    problem = ordinary(problem)
    parts = _Parts()
    numbers = _solve(parts, problem)
    _verified(parts, problem, numbers)
    if problem.steps <= 1:
        return parts.estimate("direct differentiation")
    grow = growth(problem)
    _training(parts, problem, grow)
    for end, count in [*_blocks(problem.steps), (problem.steps + 1, 1)]:
        block = _Parts()
        _verified(block, problem, _solve(_Parts(), problem, grow.at(end)))
        what = ("the final loss" if end > problem.steps else
                f"step {end}" if count == 1 else f"{count} training steps to step {end}")
        for part in block.parts:
            parts.add(f"{what}, directly: {part.what}", part.nanoseconds * count,
                      passing=part.held + part.passing)
    return parts.estimate("direct differentiation")


def _verified(parts: _Parts, problem: Problem, numbers: _Numbers) -> None:
    """The direct route of ``verify`` at the sizes of ``numbers`` (a solve's, at the
    problem's weights or a training step's)."""
    from cnnstep import verify

    size = verify_size(problem)
    activation = problem.layer.activation
    floats = activation is not None and not activation.exact
    held = [numbers.conv, numbers.last]
    if floats:
        # sigmoid and tanh have DIGITS (and a guard of ten) significant digits, their
        # slopes twice as many, dL/dZ three times as many and the target's
        places = 3 * (verify.DIGITS + 10)
        given = digits_of(problem.exact_target if problem.exact_target is not None
                          else problem.exact_grad_output)
        held.append(Digits(numbers.conv.magnitude + given.magnitude + 2,
                           places + given.twos, places + given.fives, given.rest))
    elif numbers.grad_conv is not None:
        held.append(numbers.grad_conv)
    largest_digits = max(held, key=lambda d: d.scaled_words)
    words = largest_digits.scaled_words
    directions = verify.DIRECTIONS + 3 if problem.has_gradients else 0
    # the forward pass; dL/dK and dL/dX, a product each; per random direction three
    # correlations, per coordinate direction of X and of K one
    passes = 1 + (2 + 3 * verify.DIRECTIONS + 2 if problem.has_gradients else 0)
    parts.add(f"the layer written out: {_count(size.products)} products, {passes} passes",
              _f(size.products) * passes * (VERIFY_TERM + multiply(words, words)))
    op = fraction_op(largest_digits)
    outputs = _f(size.outputs) + _f(size.cells)
    parts.add(f"the stages: {_count(size.outputs)} entries",
              outputs * (VERIFY_OUTPUT_OPS + directions * VERIFY_DIRECTION_OPS) * op
              + (_f(size.outputs) * VERIFY_FLOAT if floats else 0.0),
              held=outputs * VERIFY_OUTPUT_ARRAYS * fraction_bytes(largest_digits))
    if problem.has_gradients:
        parts.add(f"the gradients: {_count(size.symbols)} entries",
                  _f(size.symbols) * (VERIFY_SYMBOL_OPS * op
                                      + directions * VERIFY_SYMBOL_DIRECTION),
                  held=_f(size.symbols) * VERIFY_SYMBOL_ARRAYS
                  * fraction_bytes(largest_digits))


def check_verify(problem: Problem, max_work: int | None = None) -> Estimate:
    """Refuse a ``verify`` (with its solve) over the limit."""
    if not limit_of(max_work):
        return Estimate("direct differentiation")
    return require(verify_estimate(problem), max_work)


# --------------------------------------------------------------------------
# marking (cnnstep.check): every usual mistake recomputed, then the report

#: comparing one answered entry with a value (the marking rule), beyond the Fraction
#: operation it takes
MARK = 2000
#: mistakes whose values are compared with every answered entry of a quantity, at most
TRIES = 3
#: one entry of a wrong quantity in the report, beside its two numbers: a cell of a
#: rich table in text, a table cell or a line elsewhere
REPORT_CELL = {"text": 80_000, "latex": 3000, "markdown": 3000, "json": 2000}
ReportFormat = Literal["text", "latex", "markdown", "json"] | None


def marking_estimate(problem: Problem, scripts: int = 1, format: ReportFormat = "text",
                     solved: bool = False) -> Estimate:
    """Marking: the solve (unless ``solved``), then for each of ``scripts`` answers
    files every answered quantity compared, each wrong one recomputed under every
    mistake that applies (two forward passes, two of dL/dK and three of dL/dX at
    most, among them the follow-through from the student's own answers, taken to
    have the result's digits), and the report in ``format`` (None: none) with the
    working of the wrong entries."""
    problem = ordinary(problem)
    parts = _Parts()
    solving = _Parts()
    numbers = _solve(solving, problem)
    if not solved:
        parts.parts += solving.parts
    layer = problem.layer
    marking = _Parts()
    for _ in range(2):  # true_convolution, bias_omitted
        _forward(marking, layer, numbers.input, numbers.filter, None, "Z recomputed")
    if numbers.grad_conv is not None:
        for _ in range(2):  # stride_not_dilated, carried_forward
            _filter_gradient(marking, layer, numbers.input, numbers.grad_conv)
        for _ in range(3):  # kernel_not_rotated, stride_not_dilated, carried_forward
            _input_gradient(marking, layer, numbers.filter, numbers.grad_conv)
    entries = sum(_f(n) for n, _, _ in numbers.results)
    compared = sum(_f(n) * (MARK + fraction_op(d)) for n, d, _ in numbers.results)
    marking.add(f"the answers compared: {_count(entries)} entries", TRIES * compared)
    if format is not None:
        shown = sum(_f(n) * (REPORT_CELL[format] + 2 * write(d, r))
                    for n, d, r in numbers.results)
        marking.add(f"the report: {_count(entries)} entries", shown)
        if format != "json":  # the working of the wrong entries, a dozen at most
            _rendered(marking, "the working of the wrong entries",
                      _numeric_shown(problem, numbers, _default_terms(None), 12), format)
    times = max(scripts, 1)
    for part in marking.parts:
        parts.add(part.what, part.nanoseconds * times, passing=part.held + part.passing)
    return parts.estimate("marking")


def check_marking(problem: Problem, max_work: int | None = None, *, scripts: int = 1,
                  format: ReportFormat = "text", solved: bool = False) -> Estimate:
    """Refuse marking (``scripts`` answers files against one problem, reported in
    ``format``) over the limit; the arguments are :func:`marking_estimate`'s."""
    if not limit_of(max_work):
        return Estimate("marking")
    return require(marking_estimate(problem, scripts, format, solved), max_work)
