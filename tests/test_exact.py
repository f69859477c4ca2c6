"""The bulk integer paths against plain Fraction arithmetic."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnstep import exact
from cnnstep.numbers import parse_number
from cnnstep.problem import problem_from_data

# decimal literals as JSON writes them, and some it does not (read entry by entry)
digits = st.text("0123456789", min_size=1, max_size=12)
decimals = st.builds(
    lambda sign, whole, point, places: sign + whole + (point + places if places else ""),
    st.sampled_from(["", "-"]), digits, st.just("."), st.one_of(st.just(""), digits))
odd = st.sampled_from(["1/3", "-2/7", "1e3", "+1", "1.", ".5", " 1", "١", "0x1", "--1", "1.2.3",
                       "9" * 19, "-" + "9" * 18, "0." + "0" * 17 + "1", "NaN"])


def _fractions(nested: Any) -> Any:
    if isinstance(nested, list):
        return [_fractions(item) for item in nested]
    return parse_number(nested)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.one_of(decimals, decimals, odd), min_size=3, max_size=3),
                min_size=1, max_size=4))
def test_bulk_reading_agrees_with_reading_each_number(rows: list[list[str]]) -> None:
    bulk = exact.parse_decimals(rows, 2)
    try:
        expected = _fractions(rows)
    except ValueError:
        assert bulk is None
        return
    if bulk is not None:
        assert bulk.int64
        assert bulk.fractions.tolist() == expected


def test_bulk_reading_leaves_odd_arrays_to_the_reader() -> None:
    assert exact.parse_decimals([["1", "2"], ["3"]], 2) is None
    assert exact.parse_decimals([[]], 2) is None
    assert exact.parse_decimals([["1", True]], 2) is None
    assert exact.parse_decimals(["1", "2"], 2) is None
    assert exact.parse_decimals([["123456789012345678", "0.1"]], 2) is None  # 19 digits
    read = exact.parse_decimals([["123456789012345678", "1"]], 2)
    assert read is not None and read.numerators.tolist() == [[123456789012345678, 1]]


def test_a_problem_read_in_bulk_is_the_problem_read_entry_by_entry() -> None:
    data = {"input": [["0.25", "-1.5"], ["3", "0.125"]], "filter": [["1/3"]],
            "target": [["0.1", "0.2"], ["-0.3", "4"]]}
    problem = problem_from_data(data)
    assert isinstance(problem.exact_input.given, exact.Scaled)
    assert isinstance(problem.exact_filter.given, np.ndarray)
    assert problem.input.tolist() == [[[Fraction(1, 4), Fraction(-3, 2)],
                                       [Fraction(3), Fraction(1, 8)]]]
    assert problem.target.tolist() == [[[Fraction(1, 10), Fraction(1, 5)],
                                        [Fraction(-3, 10), Fraction(4)]]]
    assert not problem.input.flags.writeable
