"""Exact numbers: reading them from problem files and writing them back out.

Every value cnnstep computes with is a :class:`fractions.Fraction`. A JSON
number literal such as ``0.1`` means the decimal it spells (one tenth), never
the nearest binary float, so the JSON reader hands literals to us as text.
"""

from __future__ import annotations

import gc
import math
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from fractions import Fraction

#: Largest power of ten accepted in an input number (``1e300`` is fine,
#: ``1e400`` is refused): it keeps exact arithmetic on such values fast.
MAX_EXPONENT = 300

#: Longest run of digits accepted in one input number.
MAX_DIGITS = 1000

#: Significant digits written for a value that has no finite decimal form.
SIGNIFICANT_DIGITS = 17

#: a decimal as a string may spell it (ASCII digits only: Python's \d would also
#: take "١٢", Arabic-Indic digits); the group is the exponent
DECIMAL_PATTERN = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]([+-]?[0-9]+))?"
#: a fraction: numerator and denominator
FRACTION_PATTERN = r"([+-]?[0-9]+)[ \t]*/[ \t]*([0-9]+)"
_DECIMAL = re.compile(DECIMAL_PATTERN)
_FRACTION = re.compile(FRACTION_PATTERN)


class NumberError(ValueError):
    """A text that does not spell an exact number we accept."""


def parse_number(text: str) -> Fraction:
    """Read a decimal (``"0.1"``, ``"-2.5e-3"``) or a fraction (``"-3/7"``) exactly.

    >>> parse_number("0.1")
    Fraction(1, 10)
    >>> parse_number("-3/7")
    Fraction(-3, 7)
    """
    spelled = text.strip()
    if len(spelled) > MAX_DIGITS:
        raise NumberError(f"a number may have at most {MAX_DIGITS} characters")
    fraction = _FRACTION.fullmatch(spelled)
    if fraction:
        numerator, denominator = int(fraction.group(1)), int(fraction.group(2))
        if denominator == 0:
            raise NumberError("the denominator is zero")
        ratio = Fraction(numerator, denominator)
        if ratio and not (Fraction(1, 10**MAX_EXPONENT) <= abs(ratio)
                          < 10 ** (MAX_EXPONENT + 1)):
            raise NumberError(f"the magnitude is outside 1e±{MAX_EXPONENT}")
        return ratio
    decimal_match = _DECIMAL.fullmatch(spelled)
    if decimal_match:
        exponent = decimal_match.group(1)
        if exponent is not None and len(exponent.lstrip("+-").lstrip("0")) > 6:
            raise NumberError(f"the exponent is outside ±{MAX_EXPONENT}")
        decimal = Decimal(spelled)
        if decimal and not -MAX_EXPONENT <= decimal.adjusted() <= MAX_EXPONENT:
            raise NumberError(f"the exponent is outside ±{MAX_EXPONENT}")
        return Fraction(decimal)
    raise NumberError("not a decimal or a fraction")


def terminates(value: Fraction) -> bool:
    """Whether ``value`` has a finite decimal expansion (denominator 2^a·5^b)."""
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    return denominator == 1


# Formatting works on integers only: ``q / 10**places``, never through
# Decimal's default 28-digit context, so no digit is ever lost.


def _positional(negative: bool, q: int, places: int) -> str:
    """``±q/10**places`` in positional notation, without needless zeros; q ≥ 0."""
    if places < 0:
        q, places = q * 10**-places, 0
    digits = str(q).rjust(places + 1, "0")
    whole, fraction = digits[: len(digits) - places], digits[len(digits) - places :]
    fraction = fraction.rstrip("0")
    text = whole + ("." + fraction if fraction else "")
    return ("-" if negative and q else "") + text


def _scientific(negative: bool, q: int, places: int) -> str:
    """``±q/10**places`` as ``1.5e-25``; q > 0."""
    digits = str(q)
    exponent = len(digits) - 1 - places
    mantissa = digits.rstrip("0") or "0"
    text = mantissa[0] + ("." + mantissa[1:] if len(mantissa) > 1 else "")
    return ("-" if negative else "") + f"{text}e{exponent}"


def _exact_places(value: Fraction) -> tuple[int, int]:
    """(q, places) with |value| = q/10**places exactly; the value must terminate."""
    if not terminates(value):
        raise ValueError(f"{value} has no finite decimal expansion")
    places = 0
    while 10**places % value.denominator:
        places += 1
    return abs(value.numerator) * (10**places // value.denominator), places


def exact_decimal(value: Fraction) -> str:
    """The shortest decimal that equals ``value`` exactly; it must terminate.

    >>> exact_decimal(Fraction(59, 200))
    '0.295'
    """
    q, places = _exact_places(value)
    return _positional(value < 0, q, places)


def round_places(value: Fraction, places: int) -> str:
    """``value`` rounded half to even to ``places`` decimals; never ``-0``.

    >>> round_places(Fraction(2, 3), 4)
    '0.6667'
    """
    q = round(abs(value) * 10**places)
    return _positional(value < 0, q, places)


def _significant(value: Fraction, significant: int) -> tuple[int, int]:
    """(q, places) with q/10**places = |value| rounded half to even to that many digits."""
    magnitude = abs(value)
    exponent = len(str(magnitude.numerator // magnitude.denominator)) - 1
    if magnitude < 1:  # count the zeros after the point
        exponent = -1
        while magnitude * 10 ** (-exponent) < 1:
            exponent -= 1
    places = significant - 1 - exponent
    q = round(magnitude * Fraction(10) ** places)
    if q >= 10**significant:  # 9.99… rounded up to 10.0…
        q, places = round(magnitude * Fraction(10) ** (places - 1)), places - 1
    return q, places


def significant(value: Fraction, digits: int) -> str:
    """``value`` rounded to ``digits`` significant digits, in positional notation."""
    if not value:
        return "0"
    q, places = _significant(value, digits)
    return _positional(value < 0, q, places)


def json_number(value: Fraction, approximate: bool = False) -> str:
    """A JSON number literal carrying ``value``: exact when the decimal
    terminates, else (or when ``approximate``) correctly rounded to 17
    significant digits.

    Very large or very small magnitudes are written with an exponent so that
    a value like 1e-250 does not become 250 zeros.
    """
    if value == 0:
        return "0"
    q, places = (_exact_places(value) if terminates(value) and not approximate
                 else _significant(value, SIGNIFICANT_DIGITS))
    if not -20 <= len(str(q)) - 1 - places <= 20:
        return _scientific(value < 0, q, places)
    return _positional(value < 0, q, places)


def _rounded_ratio(a: int, d: int, places: int) -> int:
    """``a/d · 10**places`` rounded half to even; a ≥ 0, d > 0."""
    numerator, denominator = (a * 10**places, d) if places >= 0 else (a, d * 10**-places)
    q, r = divmod(numerator, denominator)
    if 2 * r > denominator or (2 * r == denominator and q & 1):
        q += 1
    return q


def significant_ratio(a: int, d: int, digits: int) -> tuple[int, int]:
    """What :func:`_significant` gives for ``a/d`` (a, d > 0), from the integers alone."""
    exponent = len(str(a)) - len(str(d))  # floor(log10(a/d)) is this or one less
    if (a < d * 10**exponent) if exponent >= 0 else (a * 10**-exponent < d):
        exponent -= 1
    places = digits - 1 - exponent
    q = _rounded_ratio(a, d, places)
    if q >= 10**digits:  # 9.99… rounded up to 10.0…
        places -= 1
        q = _rounded_ratio(a, d, places)
    return q, places


def json_ratio(numerator: int, denominator: int) -> str:
    """``json_number(Fraction(numerator, denominator))`` without making the Fraction.

    >>> json_ratio(59, 200), json_ratio(-2, 6)
    ('0.295', '-0.33333333333333333')
    """
    if numerator == 0:
        return "0"
    common = math.gcd(numerator, denominator)
    a, d = abs(numerator) // common, denominator // common
    twos = (d & -d).bit_length() - 1
    rest, fives = d >> twos, 0
    while rest % 5 == 0:
        rest, fives = rest // 5, fives + 1
    if rest == 1:
        places = max(twos, fives)
        q = a * (10**places // d)
    else:
        q, places = significant_ratio(a, d, SIGNIFICANT_DIGITS)
    if not -20 <= len(str(q)) - 1 - places <= 20:
        return _scientific(numerator < 0, q, places)
    return _positional(numerator < 0, q, places)


def approximate(value: Fraction, digits: int = 4) -> str:
    """A rounded decimal to show beside a fraction: ``digits`` places, or as many
    significant digits when the value is smaller than that (1/30000 ≈ 0.00003333)."""
    text = round_places(value, digits)
    if value and text.lstrip("-") == "0":
        q, places = _significant(value, digits)
        text = _positional(value < 0, q, places)
    return text


def display(value: Fraction, digits: int = 4) -> str:
    """A value as a person reads it: ``0.295``, or ``1/3 ≈ 0.3333``."""
    if terminates(value):
        return exact_decimal(value)
    return f"{value} ≈ {approximate(value, digits)}"


@contextmanager
def long_numbers() -> Iterator[None]:
    """Let Python write integers of any length while printing.

    Python refuses to turn an integer of over 4300 digits into text, a guard
    against slow parsing of untrusted input. cnnstep's numbers are exact and
    their size is bounded by the work limit (:mod:`cnnstep.budget`), so a
    printer may need more: a fraction of long denominators, multiplied out.
    """
    previous = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        yield
    finally:
        sys.set_int_max_str_digits(previous)


@contextmanager
def printing() -> Iterator[None]:
    """:func:`long_numbers`, and Python's collector of reference cycles paused.

    A large derivation is millions of small immutable nodes, made and printed
    and let go, none in a cycle; the collector would walk every one of them
    again each time enough new ones were made, which costs more than making
    them. It runs again as before once the printing is done.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        with long_numbers():
            yield
    finally:
        if enabled:
            gc.enable()
