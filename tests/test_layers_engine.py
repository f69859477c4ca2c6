"""Activation and pooling after the convolution: the engine's numbers and the tie rule.

The expected values come from ``oracle``, a loop-by-loop model written from the
problem format alone (conv, activation, pooling by its definition, loss, and
the chain rule back), compared exactly (Fractions) wherever the layers are
exact, and with float64 math and central finite differences where sigmoid or
tanh makes them approximate. The comparisons with PyTorch are in
``test_torch_oracle.py``.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import pytest
from helpers import (
    FLOAT_PROBLEMS,
    LAYER_SAMPLES,
    SAMPLES,
    engine_result,
    layer_sample,
    layered_problems,
)
from hypothesis import given, settings
from oracle import (
    RESULT_KEYS,
    Spec,
    assert_close,
    assert_exact,
    expected_keys,
    f_activation,
    flatten,
    floats,
    map3,
    naive_forward,
    naive_layer,
    naive_loss,
    nest,
    pool_forward,
    shape_of,
    spec_from_data,
    user_shaped,
)

from cnnstep.problem import load_problem, problem_from_data


def check_against_naive(got: dict[str, Any], spec: Spec) -> None:
    """The engine's result: exactly the format's keys, each equal to the naive value."""
    want = naive_layer(spec)
    assert set(got) == expected_keys(spec)
    assert set(want) == expected_keys(spec)
    for key in RESULT_KEYS:
        if key not in want:
            continue
        expected = user_shaped(key, want[key], spec)
        if all(isinstance(v, Fraction) for v in flatten(expected)):
            assert_exact(got[key], expected, key)
        else:
            assert spec.floating, key
            assert_close(got[key], expected, key)


# --------------------------------------------------------------------------
# the samples against the naive loops


@pytest.mark.parametrize("name", LAYER_SAMPLES)
def test_sample_matches_naive_layer(name: str) -> None:
    _, spec = layer_sample(name)
    got = engine_result(load_problem(SAMPLES / f"{name}.json"))
    check_against_naive(got, spec)
    if not spec.floating:  # relu, leaky relu and pooling keep every number exact
        for key, value in got.items():
            assert all(isinstance(v, Fraction) for v in flatten(value)), key


def test_sample_key_sets_follow_the_contract_tables() -> None:
    """Spelled out once by hand, so the table logic itself is pinned."""
    base = {"output", "loss", "grad_output", "grad_filter", "grad_input", "conv", "grad_conv"}
    expected = {
        "relu-maxpool": base | {"grad_bias", "updated_filter", "updated_bias", "activated",
                                "pooled", "grad_activated"},
        "maxpool-3x3-overlap": base | {"pooled"},
        "meanpool": base | {"grad_bias", "updated_filter", "updated_bias", "activated",
                            "pooled", "grad_activated"},
        "sigmoid-half-sse": base | {"grad_bias", "updated_filter", "updated_bias",
                                    "activated"},
        "seed003-rgb-edge-maxpool": base | {"updated_filter", "pooled"},
    }
    for name, keys in expected.items():
        got = engine_result(load_problem(SAMPLES / f"{name}.json"))
        assert set(got) == keys, name
        assert expected_keys(layer_sample(name)[1]) == keys, name


@pytest.mark.parametrize("name", sorted(FLOAT_PROBLEMS))
def test_float_problem_matches_naive_layer(name: str) -> None:
    spec = spec_from_data(FLOAT_PROBLEMS[name])
    check_against_naive(engine_result(problem_from_data(FLOAT_PROBLEMS[name])), spec)


def test_hand_computed_relu_maxpool_values() -> None:
    """A few numbers of the relu-maxpool sample worked out by hand."""
    got = engine_result(load_problem(SAMPLES / "relu-maxpool.json"))
    assert got["conv"][0] == [Fraction(-5, 4), Fraction(7, 4), Fraction(7, 4), Fraction(-1)]
    assert got["pooled"] == [[Fraction(7, 4), Fraction(7, 4)], [Fraction(1, 2)] * 2]
    assert got["loss"] == Fraction(9, 32)
    # the tie in window (1, 2) of A: 1.75 at A₁₃ and A₂₄, the first (A₁₃) takes −0.125
    assert got["grad_activated"][0] == [0, Fraction(3, 8), Fraction(-1, 8), 0]
    assert got["grad_activated"][1] == [0, 0, 0, 0]


# --------------------------------------------------------------------------
# finite differences of the loss, for sigmoid and tanh


def _objective(spec: Spec, last: Any) -> float:
    if spec.y is not None:
        return float(naive_loss(last, spec.y, spec.loss))
    return sum(float(g) * float(v) for g, v in zip(flatten(spec.g), flatten(last),
                                                   strict=True))


def _from_activated(spec: Spec, a: Any) -> float:
    if spec.pool is not None:
        a, _ = pool_forward(a, spec.pool, spec.pool_size, spec.pool_stride)
    return _objective(spec, a)


def _from_conv(spec: Spec, z: Any) -> float:
    if spec.activation is not None:
        z = map3(z, lambda v: f_activation(v, spec.activation, spec.slope))
    return _from_activated(spec, z)


def _from_weights(spec: Spec, x: Any, k: Any, b: Any) -> float:
    return _from_conv(spec, naive_forward(x, k, b, spec.stride, spec.padding))


def central_differences(function: Any, point: Any, h: float = 1e-6) -> Any:
    """∂function/∂point entry by entry, (f(p + h) − f(p − h)) / 2h."""
    flat = [float(v) for v in flatten(point)]
    shape = shape_of(point)
    out = []
    for i in range(len(flat)):
        up, down = list(flat), list(flat)
        up[i] += h
        down[i] -= h
        out.append((function(nest(up, shape)) - function(nest(down, shape))) / (2 * h))
    return nest(out, shape)


def assert_fd(got: Any, numeric: Any, key: str, relative: float = 1e-6) -> None:
    assert shape_of(got) == shape_of(numeric), key
    numeric_flat = [float(v) for v in flatten(numeric)]
    scale = max(abs(v) for v in numeric_flat)
    for i, (g, n) in enumerate(zip(flatten(got), numeric_flat, strict=True)):
        assert abs(float(g) - n) <= relative * scale + 1e-10, (key, i, float(g), n)


FLOAT_CASES = [("sigmoid-half-sse", None), *((name, FLOAT_PROBLEMS[name])
                                               for name in sorted(FLOAT_PROBLEMS))]


@pytest.mark.parametrize(("name", "data"), FLOAT_CASES, ids=[c[0] for c in FLOAT_CASES])
def test_float_gradients_match_finite_differences(name: str, data: Any) -> None:
    if data is None:
        data = layer_sample(name)[0]
    spec = spec_from_data(data)
    got = engine_result(problem_from_data(data))
    x, k = floats(spec.x), floats(spec.k)
    b = floats(spec.b) if spec.b is not None else None
    stages = naive_layer(spec)
    checks: dict[str, Any] = {
        "grad_filter": central_differences(lambda kk: _from_weights(spec, x, kk, b), k),
        "grad_input": central_differences(lambda xx: _from_weights(spec, xx, k, b), x),
        "grad_conv": central_differences(lambda zz: _from_conv(spec, zz),
                                         floats(stages["conv"])),
        "grad_output": central_differences(lambda pp: _objective(spec, pp),
                                           floats(stages["output"])),
    }
    if b is not None:
        checks["grad_bias"] = central_differences(lambda bb: _from_weights(spec, x, k, bb), b)
    if "activated" in stages and spec.pool is not None:
        checks["grad_activated"] = central_differences(lambda aa: _from_activated(spec, aa),
                                                       stages["activated"])
    for key, numeric in checks.items():
        assert_fd(got[key], user_shaped(key, numeric, spec), key)
    if spec.y is not None:  # the loss itself, by float64 math
        assert math.isclose(float(got["loss"]), _objective(spec, stages["output"]),
                            rel_tol=1e-12)


# --------------------------------------------------------------------------
# random layered problems against the naive loops


PROPERTY = settings.get_profile("layer")


@PROPERTY
@given(layered_problems())
def test_random_layers_match_naive_loops(problem: tuple[dict[str, Any], Spec]) -> None:
    data, spec = problem
    check_against_naive(engine_result(problem_from_data(data)), spec)


# --------------------------------------------------------------------------
# the tie rule


def _solve(data: dict[str, Any]) -> dict[str, Any]:
    return engine_result(problem_from_data(data))


def identity_pool(values: Any, pool: dict[str, Any], grad: Any, **extra: Any) -> dict[str, Any]:
    """A 1×1 identity filter, so the pool sees the input itself."""
    return _solve({"input": values, "filter": [[1]], "pool": pool, "grad_output": grad,
                   **extra})


@pytest.mark.parametrize(("kind", "values", "winner"), [
    ("max", [[5, 5], [5, 1]], (0, 0)),
    ("max", [[1, 3], [3, 3]], (0, 1)),
    ("max", [[2, 0], [7, 7]], (1, 0)),
    ("min", [[4, 1], [1, 1]], (0, 1)),
    ("min", [[-2, 0], [-2, -2]], (0, 0)),
    ("min", [[3, 3], [3, 3]], (0, 0)),
])
def test_tied_window_sends_everything_to_the_first(kind: str, values: Any,
                                                   winner: tuple[int, int]) -> None:
    got = identity_pool(values, {"type": kind, "size": 2}, [[7]])
    expected = [[Fraction(0)] * 2 for _ in range(2)]
    expected[winner[0]][winner[1]] = Fraction(7)
    assert got["grad_conv"] == expected
    assert got["grad_input"] == expected


@pytest.mark.parametrize("kind", ["max", "min"])
def test_overlapping_windows_add_up(kind: str) -> None:
    """3×3 windows, stride 1, over a 4×4 map: cell (2,1) is the extreme of all four."""
    sign = 1 if kind == "max" else -1
    values = [[sign * v for v in row] for row in
              [[1, 2, 0, 1], [0, 3, 1, 2], [2, 9, 1, 0], [1, 0, 2, 1]]]
    got = identity_pool(values, {"type": kind, "size": 3, "stride": 1}, [[1, 2], [3, 4]])
    expected = [[Fraction(0)] * 4 for _ in range(4)]
    expected[2][1] = Fraction(10)
    assert got["grad_conv"] == expected
    assert got["output"] == [[sign * 9] * 2] * 2


@pytest.mark.parametrize("kind", ["max", "min"])
def test_overlapping_windows_with_ties(kind: str) -> None:
    """9 at (0,0) and (2,2): window (1,1) takes (0,0), the first; the three others,
    which do not hold (0,0), send their gradients to (2,2)."""
    sign = 1 if kind == "max" else -1
    values = [[sign * v for v in row] for row in
              [[9, 2, 0, 1], [0, 3, 1, 2], [2, 1, 9, 0], [1, 0, 2, 1]]]
    got = identity_pool(values, {"type": kind, "size": 3, "stride": 1}, [[1, 2], [3, 4]])
    expected = [[Fraction(0)] * 4 for _ in range(4)]
    expected[0][0], expected[2][2] = Fraction(1), Fraction(9)
    assert got["grad_conv"] == expected
    # two maxima in every window: (1,2) comes first in row-major order in all four
    values[1][2] = values[2][1] = sign * 9
    values[0][0] = values[2][2] = 0
    got = identity_pool(values, {"type": kind, "size": 3, "stride": 1}, [[1, 2], [3, 4]])
    expected = [[Fraction(0)] * 4 for _ in range(4)]
    expected[1][2] = Fraction(10)
    assert got["grad_conv"] == expected


def test_mean_pool_shares_equally_and_adds_up() -> None:
    got = identity_pool([[1, 2, 3], [4, 5, 6], [7, 8, 9]],
                        {"type": "mean", "size": 2, "stride": 1}, [[4, 8], [12, 16]])
    assert got["output"] == [[3, 4], [6, 7]]
    assert got["grad_conv"] == [[1, 3, 2], [4, 10, 6], [3, 7, 4]]


def test_relu_zero_ties_route_to_the_first_and_relu_prime_zero_stops_them() -> None:
    got = identity_pool([[-1, -2], [0, -4]], {"type": "max", "size": 2}, [[5]],
                        activation="relu")
    assert got["activated"] == [[0, 0], [0, 0]]
    assert got["grad_activated"] == [[5, 0], [0, 0]]  # all four tie at 0: the first
    assert got["grad_conv"] == [[0, 0], [0, 0]]  # ReLU′(−1) = 0
    got = identity_pool([[0, -2], [0, -4]], {"type": "max", "size": 2}, [[5]],
                        activation="relu")
    assert got["grad_conv"] == [[0, 0], [0, 0]]  # ReLU′(0) = 0


def test_leaky_relu_prime_at_zero_is_the_slope() -> None:
    got = identity_pool([[0, -4], [-2, -8]], {"type": "max", "size": 2}, [[5]],
                        activation={"type": "leaky_relu", "slope": "0.2"})
    assert got["activated"] == [[0, Fraction(-4, 5)], [Fraction(-2, 5), Fraction(-8, 5)]]
    assert got["grad_activated"] == [[5, 0], [0, 0]]
    assert got["grad_conv"] == [[1, 0], [0, 0]]  # 5 × LeakyReLU′(0) = 5 × 0.2
    got = identity_pool([[0]], {"type": "max", "size": 1}, [[3]], activation="leaky_relu")
    assert got["grad_conv"] == [[Fraction(3, 100)]]  # default slope 0.01
