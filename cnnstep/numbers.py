"""Exact numbers: reading them from problem files and writing them back out.

Every value cnnstep computes with is a :class:`fractions.Fraction`. A JSON
number literal such as ``0.1`` means the decimal it spells (one tenth), never
the nearest binary float, so the JSON reader hands literals to us as text.
"""

from __future__ import annotations

import re
from decimal import Decimal, localcontext
from fractions import Fraction

#: Largest power of ten accepted in an input number (``1e300`` is fine,
#: ``1e400`` is refused): it keeps exact arithmetic on such values fast.
MAX_EXPONENT = 300

#: Longest run of digits accepted in one input number.
MAX_DIGITS = 1000

#: Significant digits written for a value that has no finite decimal form.
SIGNIFICANT_DIGITS = 17

_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_FRACTION = re.compile(r"([+-]?\d+)\s*/\s*(\d+)")


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
        return Fraction(numerator, denominator)
    if _DECIMAL.fullmatch(spelled):
        value = Decimal(spelled)
        if value and not -MAX_EXPONENT <= value.adjusted() <= MAX_EXPONENT:
            raise NumberError(f"the exponent is outside ±{MAX_EXPONENT}")
        return Fraction(value)
    raise NumberError("not a decimal or a fraction")


def terminates(value: Fraction) -> bool:
    """Whether ``value`` has a finite decimal expansion (denominator 2^a·5^b)."""
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    return denominator == 1


def _plain(value: Decimal) -> str:
    """A Decimal in positional notation without needless zeros: ``1.30`` → ``1.3``."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def exact_decimal(value: Fraction) -> str:
    """The shortest decimal that equals ``value`` exactly; it must terminate.

    >>> exact_decimal(Fraction(59, 200))
    '0.295'
    """
    if not terminates(value):
        raise ValueError(f"{value} has no finite decimal expansion")
    denominator = value.denominator
    digits = 0
    while 10**digits % denominator:
        digits += 1
    scaled = value.numerator * (10**digits // denominator)
    return _plain(Decimal(scaled).scaleb(-digits))


def rounded(value: Fraction, significant: int = SIGNIFICANT_DIGITS) -> Decimal:
    """``value`` correctly rounded (half to even) to ``significant`` digits."""
    with localcontext() as context:
        context.prec = significant
        return Decimal(value.numerator) / Decimal(value.denominator)


def json_number(value: Fraction) -> str:
    """A JSON number literal carrying ``value``: exact when the decimal
    terminates, else correctly rounded to 17 significant digits.

    Very large or very small magnitudes are written with an exponent so that
    a value like 1e-250 does not become 250 zeros.
    """
    if terminates(value):
        text = exact_decimal(value)
        decimal = Decimal(text)
    else:
        decimal = rounded(value)
        text = _plain(decimal)
    if decimal and not -20 <= decimal.adjusted() <= 20:
        mantissa, _, exponent = f"{decimal.normalize():E}".partition("E")
        text = f"{mantissa}e{int(exponent)}"
    return text


def display(value: Fraction, digits: int = 4) -> str:
    """A value as a person reads it: ``0.295``, or ``1/3 ≈ 0.3333``."""
    if terminates(value):
        return exact_decimal(value)
    approx = _plain(round(Decimal(value.numerator) / Decimal(value.denominator), digits))
    return f"{value} ≈ {approx}"
