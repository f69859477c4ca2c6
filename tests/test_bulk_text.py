"""Large arrays read straight from a problem file's text: the same problem, and the
same messages, as reading the JSON number by number."""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from helpers import Case, cases
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnstep import exact, problem
from cnnstep.numbers import exact_decimal, terminates
from cnnstep.problem import ProblemError, parse_json, parse_problem, problem_from_data

# literals JSON accepts, and texts it does not or that are not plain decimals
digits = st.text("0123456789", min_size=1, max_size=10)
plain = st.builds(lambda sign, whole, places: sign + whole + ("." + places if places else ""),
                  st.sampled_from(["", "-"]), digits, st.one_of(st.just(""), digits))
odd = st.sampled_from(["1e3", "01", "-0", "0.0", "-.5", "1.", "+1", "1.2.3", "--1", "9" * 19,
                       "0." + "0" * 17 + "1", "1 2", '"1"', "[]", "true", "1E-2", "-", "٣"])


@settings(settings.get_profile("numbers"))
@given(st.lists(st.lists(st.one_of(plain, plain, plain, odd), min_size=2, max_size=3),
                min_size=1, max_size=3),
       st.sampled_from([", ", ",", " ,\n  "]))
def test_text_read_in_bulk_is_json_read_in_bulk(rows: list[list[str]], comma: str) -> None:
    """Whatever the text read in bulk gives, JSON read number by number gives too."""
    text = "[" + comma.join("[" + comma.join(row) + "]" for row in rows) + "]"
    read = exact.read_decimals(text)
    try:
        data = parse_json(text)
    except ProblemError:
        assert read is None
        return
    if read is not None:
        expected = exact.parse_decimals(data, 2)
        assert expected is not None
        assert read.fractions.tolist() == expected.fractions.tolist()
        assert read.denominator == expected.denominator


def test_only_full_rectangular_arrays_of_plain_decimals_are_read_in_bulk() -> None:
    read = exact.read_decimals("[[[0.25, -1]], [[3 , 0.5]]]")
    assert read is not None and read.shape == (2, 1, 2)
    assert read.fractions.tolist() == [[[0.25, -1]], [[3, 0.5]]]
    for text in ("[[1, 2], [3]]", "[[1, 2], 3]", "[]", "[[]]", "[1, 2,]", "[[[[[1]]]]]",
                 "[1 2]", "[1e2]", "[01]", "1", "[1, [2]]", "[-]"):
        assert exact.read_decimals(text) is None, text


def _dump(value: Any) -> str:
    """JSON text with every number a literal (a fraction without one: a "p/q" string)."""
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_dump(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bool | str) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return repr(value)
    number = Fraction(value)
    if not terminates(number):
        return json.dumps(f"{number.numerator}/{number.denominator}")
    return exact_decimal(number)


@settings(settings.get_profile("layer"))
@given(cases())
def test_a_problem_read_in_bulk_is_the_problem_read_as_json(case: Case) -> None:
    text = _dump(case.data)
    expected = problem_from_data(parse_json(text))
    original = problem.BULK_LEAST
    problem.BULK_LEAST = 1
    try:
        read = parse_problem(text)
    finally:
        problem.BULK_LEAST = original
    for name in ("input", "filter", "bias", "target", "grad_output"):
        want, got = getattr(expected, name), getattr(read, name)
        assert (want is None) == (got is None), name
        if want is not None:
            assert got.tolist() == want.tolist(), name
    assert read.layer == expected.layer


def _message(text: str, least: int) -> str:
    original = problem.BULK_LEAST
    problem.BULK_LEAST = least
    try:
        parse_problem(text)
    except ProblemError as error:
        return str(error)
    finally:
        problem.BULK_LEAST = original
    raise AssertionError("no error")


@pytest.mark.parametrize("text", [
    '{"input": [[1, 2], [3, 4]], "input": [[1, 2], [3, 4]], "filter": [[1]]}',
    '{"input": [[1, 2], [3, 4]], "filter": [[1]], "target": [[1, 2], [3]]}',
    '{"input": [[1, 2], [3, 4]], "filter": [[1]], "target": [[1, 2, 3]]}',
    '{"input": [[1, 2], [3, 4]], "filter": [[1]], "notation": {"input": [1, 2]}}',
    '{"input": [[1, 2], [3, 4]],\n "filter": [[1]],\n "target": [[1, 2], [3, 4]],}',
    '{"input": [[1, 2], [3, 4]], // a comment\n "filter": [[1, 2, 3, 4, 5]]}',
    '{"input": [[[[[1, 2], [3, 4]]]]], "filter": [[1]]}',
    '{"questions": [{"input": [[1, 2]]}], "input": [[1, 2], [3, 4]], "filter": [[1]]}',
    '{"input": [[1, 2], [3, 4]], "filter": [[1]], "target": "\\u0000bulk target"}',
])
def test_messages_are_those_of_the_json_reader(text: str) -> None:
    assert _message(text, 1) == _message(text, 10**9)


def test_an_array_in_bulk_is_read_once_and_in_int64() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(-999, 1000, (3, 40, 40))
    text = json.dumps({"input": (image / 100).round(2).tolist(), "filter": [[[1]]] * 3})
    assert image.size >= problem.BULK_LEAST
    read = parse_problem(text)
    assert isinstance(read.exact_input.given, exact.Scaled)
    assert read.exact_input.scaled.int64
    assert read.exact_input.scaled.fractions.tolist() == problem_from_data(
        parse_json(text)).input.tolist()
