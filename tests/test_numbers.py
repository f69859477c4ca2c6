"""Reading exact numbers, and writing them back as JSON literals and for people."""

from __future__ import annotations

import json
from decimal import Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnstep.numbers import (
    MAX_DIGITS,
    MAX_EXPONENT,
    NumberError,
    display,
    exact_decimal,
    json_number,
    parse_number,
    terminates,
)

# --------------------------------------------------------------------------
# parse_number


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0.1", Fraction(1, 10)),
        ("-3/7", Fraction(-3, 7)),
        ("+3/4", Fraction(3, 4)),
        ("6/4", Fraction(3, 2)),
        ("3 / 4", Fraction(3, 4)),
        ("  2  ", Fraction(2)),
        ("0", Fraction(0)),
        ("-0", Fraction(0)),
        ("-0.0", Fraction(0)),
        ("42", Fraction(42)),
        ("-2.5e-3", Fraction(-1, 400)),
        ("1E3", Fraction(1000)),
        ("1e+2", Fraction(100)),
        (".5", Fraction(1, 2)),
        ("5.", Fraction(5)),
        ("0.295", Fraction(59, 200)),
        ("0.1000000000000000055511151231257827", Fraction("0.1000000000000000055511151231257827")),
        ("12345678901234567890123", Fraction(12345678901234567890123)),
        ("1e300", Fraction(10**300)),
        ("1e-300", Fraction(1, 10**300)),
        ("0e999999", Fraction(0)),
    ],
)
def test_parse_number_reads_exactly(text: str, value: Fraction) -> None:
    parsed = parse_number(text)
    assert parsed == value
    assert type(parsed) is Fraction


def test_parse_number_point_one_is_one_tenth_not_the_float() -> None:
    assert parse_number("0.1") == Fraction(1, 10)
    assert parse_number("0.1") != Fraction(0.1)
    assert parse_number("0.1") + parse_number("0.2") == parse_number("0.3")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "not a decimal or a fraction"),
        ("   ", "not a decimal or a fraction"),
        ("abc", "not a decimal or a fraction"),
        ("1/0", "the denominator is zero"),
        ("-5/0", "the denominator is zero"),
        ("1/-2", "not a decimal or a fraction"),
        ("1/2/3", "not a decimal or a fraction"),
        ("0.5/2", "not a decimal or a fraction"),
        ("NaN", "not a decimal or a fraction"),
        ("nan", "not a decimal or a fraction"),
        ("Infinity", "not a decimal or a fraction"),
        ("-inf", "not a decimal or a fraction"),
        ("0x10", "not a decimal or a fraction"),
        ("1_000", "not a decimal or a fraction"),
        ("1e", "not a decimal or a fraction"),
        ("e5", "not a decimal or a fraction"),
        ("--1", "not a decimal or a fraction"),
        ("1,5", "not a decimal or a fraction"),
        ("1e999999", f"±{MAX_EXPONENT}"),
        ("1e-999999", f"±{MAX_EXPONENT}"),
        (f"1e{MAX_EXPONENT + 1}", f"±{MAX_EXPONENT}"),
        ("1" * (MAX_DIGITS + 1), f"{MAX_DIGITS} characters"),
    ],
)
def test_parse_number_refuses(text: str, reason: str) -> None:
    with pytest.raises(NumberError, match=reason.replace("+", r"\+")):
        parse_number(text)


def test_parse_number_exponent_limit_is_inclusive() -> None:
    assert parse_number(f"1e{MAX_EXPONENT}") == 10**MAX_EXPONENT
    assert parse_number(f"1e-{MAX_EXPONENT}") == Fraction(1, 10**MAX_EXPONENT)


@pytest.mark.parametrize(
    "text",
    ["1" + "0" * 400 + "/1", "-1" + "0" * 400 + "/3", "1/1" + "0" * 400, "3/7" + "0" * 400],
)
def test_parse_number_exponent_limit_also_holds_for_ratios(text: str) -> None:
    """'1e400 is refused', and so must be the same magnitude spelled as a ratio."""
    with pytest.raises(NumberError, match=r"±300"):
        parse_number(text)


@settings(max_examples=200, deadline=None)
@given(st.fractions(max_denominator=10**6))
def test_parse_number_reads_back_any_fraction(value: Fraction) -> None:
    assert parse_number(f"{value.numerator}/{value.denominator}") == value
    assert parse_number(str(value)) == value


@settings(max_examples=200, deadline=None)
@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**20),
                   max_value=10**20, places=12))
def test_parse_number_reads_back_any_decimal(value: Decimal) -> None:
    assert parse_number(str(value)) == Fraction(value)


# --------------------------------------------------------------------------
# exact_decimal and terminates


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Fraction(59, 200), "0.295"),
        (Fraction(13, 10), "1.3"),
        (Fraction(1), "1"),
        (Fraction(0), "0"),
        (Fraction(-1, 8), "-0.125"),
        (Fraction(100), "100"),
        (Fraction(-250), "-250"),
        (Fraction(1, 1024), "0.0009765625"),
        (Fraction(12345, 100), "123.45"),
        (Fraction(1, 10**12), "0.000000000001"),
    ],
)
def test_exact_decimal(value: Fraction, text: str) -> None:
    assert exact_decimal(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Fraction(1, 2**50), "0.00000000000000088817841970012523233890533447265625"),
        (Fraction(123456789012345678901234567891, 10), "12345678901234567890123456789.1"),
        (Fraction("0.123456789012345") * Fraction("0.987654321098765"),
         "0.121932631137021071359549253925"),
    ],
)
def test_exact_decimal_keeps_more_than_28_digits(value: Fraction, text: str) -> None:
    """'The shortest decimal that equals value exactly' — not rounded to 28 digits."""
    assert exact_decimal(value) == text
    assert Fraction(Decimal(exact_decimal(value))) == value


@pytest.mark.parametrize("value", [Fraction(1, 3), Fraction(-2, 7), Fraction(1, 6)])
def test_exact_decimal_refuses_values_that_do_not_terminate(value: Fraction) -> None:
    assert not terminates(value)
    with pytest.raises(ValueError, match="no finite decimal"):
        exact_decimal(value)


@settings(max_examples=200, deadline=None)
@given(st.integers(-(10**12), 10**12), st.integers(0, 30), st.integers(0, 30))
def test_exact_decimal_round_trips(numerator: int, twos: int, fives: int) -> None:
    value = Fraction(numerator, 2**twos * 5**fives)
    assert terminates(value)
    text = exact_decimal(value)
    assert Fraction(Decimal(text)) == value
    assert "e" not in text.lower()
    if "." in text:
        assert not text.endswith("0") and not text.endswith(".")


# --------------------------------------------------------------------------
# json_number


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Fraction(59, 200), "0.295"),
        (Fraction(1, 3), "0.33333333333333333"),
        (Fraction(2, 3), "0.66666666666666667"),
        (Fraction(-1, 3), "-0.33333333333333333"),
        (Fraction(-2, 3), "-0.66666666666666667"),
        (Fraction(1, 7), "0.14285714285714286"),
        (Fraction(10, 3), "3.3333333333333333"),
        (Fraction(-3, 7), "-0.42857142857142857"),
        (Fraction(5), "5"),
        (Fraction(-12), "-12"),
        (Fraction(0), "0"),
        (Fraction(100), "100"),
        (Fraction(10**20), "100000000000000000000"),
        (Fraction(1, 10**20), "0.00000000000000000001"),
        (Fraction(10**25), "1e25"),
        (Fraction(-15 * 10**29), "-1.5e30"),
        (Fraction(1, 10**25), "1e-25"),
        (Fraction(-3, 10**30), "-3e-30"),
        (Fraction(10**25, 3), "3.3333333333333333e24"),
        (Fraction(1, 3 * 10**30), "3.3333333333333333e-31"),
        (Fraction(7, 2), "3.5"),
        (Fraction(-59, 200), "-0.295"),
    ],
)
def test_json_number(value: Fraction, text: str) -> None:
    assert json_number(value) == text
    assert Decimal(json.loads(text, parse_float=Decimal, parse_int=Decimal)) == Decimal(text)


def test_json_number_never_shows_float_noise() -> None:
    assert json_number(Fraction("0.2") - Fraction("0.1") * Fraction("0.05")) == "0.195"
    assert json_number(Fraction(1, 10) + Fraction(2, 10)) == "0.3"


@settings(settings.get_profile("numbers"))
@given(st.fractions(min_value=-(10**30), max_value=10**30, max_denominator=10**9))
def test_json_number_is_valid_json_exact_or_correctly_rounded(value: Fraction) -> None:
    text = json_number(value)
    parsed = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    assert isinstance(parsed, Decimal)
    if terminates(value):
        assert Fraction(parsed) == value
        return
    assert len(parsed.normalize().as_tuple().digits) <= 17
    # correctly rounded to 17 significant digits: within half a unit in the last place
    with localcontext() as context:
        context.prec = 60
        ulp = Decimal(1).scaleb(Decimal(abs(value.numerator) / value.denominator).adjusted() - 16)
    assert abs(Fraction(parsed) - value) <= Fraction(ulp) / 2
    assert abs(float(parsed) - float(value)) <= 2 * abs(float(value)) * 2**-52


@settings(max_examples=200, deadline=None)
@given(st.integers(-(10**27), 10**27))
def test_json_number_integers_have_no_decimal_point(value: int) -> None:
    text = json_number(Fraction(value))
    assert "." not in text or "e" in text
    parsed = json.loads(text, parse_float=Decimal)
    if "e" not in text:
        assert type(parsed) is int and parsed == value
    else:
        assert Fraction(Decimal(text)) == value


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Fraction(10**28 + 1), "1.0000000000000000000000000001e28"),
        (Fraction(-(10**30) - 7), "-1.000000000000000000000000000007e30"),
        (Fraction(1, 10**25) + Fraction(1, 10**60),
         "1.00000000000000000000000000000000001e-25"),
    ],
)
def test_json_number_keeps_every_digit_of_a_terminating_value(value: Fraction, text: str
                                                               ) -> None:
    """Exact when the decimal terminates, as its docstring says, even beyond 28 digits."""
    written = json_number(value)
    assert Fraction(Decimal(written)) == value
    assert written == text


# --------------------------------------------------------------------------
# display


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Fraction(1, 3), "1/3 ≈ 0.3333"),
        (Fraction(2, 3), "2/3 ≈ 0.6667"),
        (Fraction(-1, 3), "-1/3 ≈ -0.3333"),
        (Fraction(22, 7), "22/7 ≈ 3.1429"),
        (Fraction(59, 200), "0.295"),
        (Fraction(-7, 2), "-3.5"),
        (Fraction(4), "4"),
        (Fraction(0), "0"),
    ],
)
def test_display(value: Fraction, text: str) -> None:
    assert display(value) == text


def test_display_digits() -> None:
    assert display(Fraction(1, 3), digits=2) == "1/3 ≈ 0.33"
    assert display(Fraction(2, 3), digits=6) == "2/3 ≈ 0.666667"


@pytest.mark.parametrize(
    "value", [Fraction(10**30, 3), Fraction(-(10**40), 7), Fraction(10**299, 3)]
)
def test_display_of_a_large_value_that_does_not_terminate(value: Fraction) -> None:
    """Inputs up to 1e300 are accepted, so display must handle large repeating values."""
    text = display(value)
    assert text.startswith(f"{value} ≈ ")
    approx = Decimal(text.split(" ≈ ")[1])
    assert abs(Fraction(approx) - value) <= abs(value) * Fraction(1, 10**4)
