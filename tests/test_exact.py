"""The bulk integer paths against plain Fraction arithmetic."""

from __future__ import annotations

from fractions import Fraction
from typing import Any
from unittest import mock

import numpy as np
from helpers import SLOPES, Case, cases, layered_problems
from hypothesis import given, settings
from hypothesis import strategies as st
from test_pool_extras import pool_problems

from cnnstep import engine, exact
from cnnstep.numbers import json_number, json_ratio, parse_number
from cnnstep.problem import problem_from_data
from cnnstep.render.json_result import dumps, dumps_value
from cnnstep.result import result, scaled_result

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


@settings(settings.get_profile("numbers"))
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


@settings(settings.get_profile("numbers"))
@given(st.lists(st.lists(st.one_of(decimals, decimals, odd), min_size=3, max_size=3),
                min_size=1, max_size=4))
def test_a_few_numbers_are_read_as_numpy_reads_many(rows: list[list[str]]) -> None:
    """Arrays of a few entries are read one by one, to what numpy's string functions
    make of a larger one."""
    few = exact.parse_decimals(rows, 2)
    with mock.patch.object(exact, "_FEW", 0):
        many = exact.parse_decimals(rows, 2)
    if many is None or few is None:
        assert few is many
        return
    assert few.numerators.dtype == many.numerators.dtype
    assert few.numerators.tolist() == many.numerators.tolist()
    assert few.denominator == many.denominator


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


# --------------------------------------------------------------------------
# the layer over integer arrays against the Fraction engine and the naive loops


def _as_lists(value: Any) -> Any:
    if isinstance(value, exact.Scaled):
        return value.fractions.item() if value.numerators.ndim == 0 else value.fractions.tolist()
    return value


@settings(settings.get_profile("layer"))
@given(cases())
def test_the_integer_layer_is_the_fraction_layer(case: Case) -> None:
    problem = problem_from_data(case.data)
    fast = scaled_result(problem)
    plain = result(engine.solve(problem))
    assert fast is not None
    assert list(fast) == list(plain)
    for key, value in fast.items():
        assert _as_lists(value) == plain[key], key
    # and the JSON text, byte for byte
    assert dumps(fast) == dumps(plain)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_the_integer_layer_near_the_bounds(data: st.DataObject) -> None:
    """Numerators near 2^53 and 2^63, negative, over mixed denominators: the integer
    path switches to split products and Python integers, and stays exact."""
    big = data.draw(st.sampled_from([2**26, 2**31, 2**53, 2**62, 10**17, 10**30]))
    values = st.one_of(st.integers(-big, big), st.just(big), st.just(-big),
                       st.integers(-3, 3))
    denominators = st.sampled_from([1, 2, 3, 10, 7, 1000, 2**40])

    def array(shape: tuple[int, ...]) -> list[Any]:
        flat = [str(Fraction(data.draw(values), data.draw(denominators)))
                for _ in range(int(np.prod(shape)))]
        return np.array(flat, dtype=object).reshape(shape).tolist()

    side = data.draw(st.integers(2, 4))
    problem = problem_from_data({
        "input": array((2, side, side)), "filter": array((2, 2, 2, 2)), "bias": array((2,)),
        "target": array((2, side - 1, side - 1)), "learning_rate": "1/3",
        "loss": data.draw(st.sampled_from(["mse", "sse", "half_sse"]))})
    fast = scaled_result(problem)
    plain = result(engine.solve(problem))
    assert fast is not None
    for key, value in fast.items():
        assert _as_lists(value) == plain[key], key


@settings(settings.get_profile("numbers"))
@given(st.data())
def test_matmul_is_exact_near_the_bounds(data: st.DataObject) -> None:
    bound = data.draw(st.sampled_from([10, 2**26, 2**31, 2**52, 2**62, 2**63 - 1]))
    rows, inner, cols = (data.draw(st.integers(1, 4)) for _ in range(3))
    ints = st.one_of(st.integers(-bound, bound), st.just(bound), st.just(-bound))
    a = [[data.draw(ints) for _ in range(inner)] for _ in range(rows)]
    b = [[data.draw(ints) for _ in range(cols)] for _ in range(inner)]
    got = exact.matmul(np.array(a, dtype=np.int64), np.array(b, dtype=np.int64))
    want = [[sum(a[i][t] * b[t][j] for t in range(inner)) for j in range(cols)]
            for i in range(rows)]
    assert [[int(v) for v in row] for row in got] == want


@settings(settings.get_profile("numbers"))
@given(st.lists(st.integers(-2**63 + 1, 2**63 - 1), min_size=1, max_size=30),
       st.one_of(st.integers(1, 10**6), st.integers(1, 2**70),
                 st.builds(lambda a, b, r: 2**a * 5**b * r, st.integers(0, 60),
                           st.integers(0, 40), st.sampled_from([1, 3, 7, 49, 999]))))
def test_json_in_bulk_is_json_number_by_number(numerators: list[int], denominator: int) -> None:
    values = exact.Scaled(np.array(numerators, dtype=np.int64), denominator)
    expected = "[" + ", ".join(json_number(Fraction(n, denominator)) for n in numerators) + "]"
    assert exact.json_text(values) == expected
    nested = exact.Scaled(np.array(numerators[:1] * 6, dtype=np.int64).reshape(1, 2, 3),
                          denominator)
    assert exact.json_text(nested) == dumps_value(nested.fractions.tolist())


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([3, 7, 49, 3 * 2**20, 7 * 5**9, 802816 * 50000, 2**40 * 3]),
       st.integers(-25, 17), st.integers(-3, 3))
def test_json_in_bulk_rounds_at_the_seventeenth_digit(denominator: int, power: int,
                                                      offset: int) -> None:
    """Values next to powers of ten (9.99… rounds up to 10) and next to a rounding
    half in the 17th digit, where the quotient has 17 digits or 18."""
    near_power = Fraction(10) ** power * denominator + offset
    half = (Fraction(10) ** (power + 17) * 2 + 1) / 2 / 10**17 * denominator + offset
    numerators = [int(near_power), int(half), -int(near_power), 1, -1]
    numerators = [n for n in numerators if abs(n) < 2**63]
    values = exact.Scaled(np.array(numerators, dtype=np.int64), denominator)
    expected = "[" + ", ".join(json_number(Fraction(n, denominator)) for n in numerators) + "]"
    assert exact.json_text(values) == expected


@settings(settings.get_profile("numbers"))
@given(st.integers(-10**40, 10**40), st.integers(1, 10**40))
def test_json_ratio_is_json_number(numerator: int, denominator: int) -> None:
    assert json_ratio(numerator, denominator) == json_number(Fraction(numerator, denominator))


def test_the_integer_layer_leaves_sigmoid_and_tanh_to_the_engine() -> None:
    for activation in ("sigmoid", "tanh"):
        problem = problem_from_data({"input": [[1, 2], [3, 4]], "filter": [[1]],
                                     "activation": activation, "target": [[1, 2], [3, 4]]})
        assert scaled_result(problem) is None


def _same_result(problem: Any) -> None:
    fast = scaled_result(problem)
    plain = result(engine.solve(problem))
    assert fast is not None
    assert list(fast) == list(plain)
    for key, value in fast.items():
        assert _as_lists(value) == plain[key], key
    assert dumps(fast) == dumps(plain)


@settings(settings.get_profile("layer"))
@given(layered_problems(slopes=SLOPES))
def test_activations_and_pools_over_integers_are_the_fraction_layer(
        drawn: tuple[dict[str, Any], Any]) -> None:
    """ReLU, leaky ReLU (any rational slope), max, min and mean pools, ties and
    ReLU′(0) included: the same result, key by key and byte by byte."""
    data, _ = drawn
    problem = problem_from_data(data)
    activation = problem.layer.activation
    if activation is not None and not activation.exact:
        assert scaled_result(problem) is None
        return
    _same_result(problem)


@settings(settings.get_profile("layer"))
@given(pool_problems())
def test_padded_dilated_ceil_pools_over_integers_are_the_fraction_layer(
        data: dict[str, Any]) -> None:
    """A layer alone into a pool with padding, dilation, ceil mode and
    count_include_pad."""
    _same_result(problem_from_data(data))


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_pools_over_integers_near_the_bounds(data: st.DataObject) -> None:
    """Numerators below and beyond the int64 bound of a pool's sums and of the
    gradient parts it routes back: both sides agree with the Fraction layer."""
    big = data.draw(st.sampled_from([2**20, 2**60, 2**62, 2**63 - 1, 10**30]))
    values = st.one_of(st.integers(-big, big), st.just(big), st.just(-big), st.integers(-2, 2))
    kind = data.draw(st.sampled_from(["max", "min", "mean"]))
    side = data.draw(st.integers(2, 4))
    plane = [[[str(Fraction(data.draw(values), data.draw(st.sampled_from([1, 3, 10]))))
               for _ in range(side)] for _ in range(side)]]
    pool = {"type": kind, "size": 2, "stride": 1, "padding": data.draw(st.integers(0, 1))}
    given = {"input": plane, "pool": pool, "activation": data.draw(st.sampled_from(
        ["relu", {"type": "leaky_relu", "slope": "-1/3"}]))}
    shape = problem_from_data(given).layer.last_shape
    grad = [[[str(data.draw(values)) for _ in range(shape[2])] for _ in range(shape[1])]]
    _same_result(problem_from_data({**given, "grad_output": grad}))


def test_the_pool_bound_chooses_python_integers_past_int64() -> None:
    """Four numerators of 2^62 summed by a mean pool pass 2^63: Python integers, and
    the same numbers as one by one."""
    big = str(2**62)
    problem = problem_from_data({"input": [[big, big], [big, big]],
                                 "pool": {"type": "mean", "size": 2},
                                 "grad_output": [[big]]})
    fast = scaled_result(problem)
    assert fast is not None
    assert _as_lists(fast["output"]) == [[Fraction(2**62)]]
    assert _as_lists(fast["grad_input"]) == [[Fraction(2**60)] * 2] * 2
    _same_result(problem)


def test_dl_dx_needs_no_window_tensor() -> None:
    """The ResNet stem's dL/dX in memory proportional to X (a window tensor of
    Hp·Wp·kh·kw int64 would be 130 MB per channel)."""
    import tracemalloc

    rng = np.random.default_rng(0)
    kernel = exact.Scaled(rng.integers(-200, 200, (64, 3, 7, 7)), 1000)
    grad = exact.Scaled(rng.integers(-10**6, 10**6, (64, 112, 112)), 10**9)
    layer = problem_from_data({"input": [[["0"] * 224] * 224] * 3,
                               "filter": [[[["0"] * 7] * 7] * 3] * 64,
                               "stride": 2, "padding": 3}).layer
    tracemalloc.start()
    engine.scaled_input_gradient(kernel, grad, layer)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 40 * 2**20, peak
