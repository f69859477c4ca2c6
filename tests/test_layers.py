"""Activation and pooling after the convolution: numbers, tie rule, JSON, errors, text.

The expected values come from ``oracle``, a loop-by-loop model written
from the problem format alone (conv, activation, pooling by its definition,
loss, and the chain rule back), compared exactly (Fractions) wherever the
layers are exact, and with float64 math, central finite differences and
PyTorch float64 autograd where sigmoid or tanh makes them approximate.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from helpers import SAMPLES, SMALL, invoke, literal_value, significant_digits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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
    read_sample,
    shape_of,
    spec_from_data,
    user_shaped,
)

from cnnstep.engine import solve
from cnnstep.problem import load_problem, problem_from_data
from cnnstep.result import approximate_keys, result

LAYER_SAMPLES = ("relu-maxpool", "maxpool-3x3-overlap", "meanpool", "sigmoid-half-sse",
                 "seed003-rgb-edge-maxpool")

#: further problems with sigmoid and tanh, which the samples cover only once
FLOAT_PROBLEMS: dict[str, dict[str, Any]] = {
    "tanh-maxpool-overlap": {
        "input": [[0.5, -1, 2, 0], [1, 0, -0.5, 1], [-2, 1, 0.5, 0], [0, 1, 1, -1]],
        "filter": [[0.2, -0.4], [0.6, 0.1]], "bias": [0.1],
        "activation": "tanh", "pool": {"type": "max", "size": 2, "stride": 1},
        "target": [[0.5, 0], [0, 0.5]], "loss": "mse", "learning_rate": 0.5,
    },
    "sigmoid-meanpool-two-filters-given": {
        "input": [[[1, 0.5, -1, 2], [0, 1, 1, -0.5], [2, -1, 0, 1]],
                  [[0.5, 0.5, 1, 0], [-1, 2, 0, 1], [1, 1, -2, 0.5]]],
        "filter": [[[[0.3, -0.2], [0.1, 0.4]], [[-0.5, 0.2], [0.3, 0.1]]],
                   [[[0.1, 0.1], [-0.3, 0.2]], [[0.2, -0.1], [0.4, -0.6]]]],
        "bias": [0.1, -0.2], "activation": "sigmoid",
        "pool": {"type": "mean", "size": [2, 1], "stride": [1, 2]},
        "grad_output": [[[0.5, -1]], [[2, 0.25]]],
        "learning_rate": 0.25,
    },
    "tanh-minpool-sse-padding": {
        "input": [[0.3, -0.7, 1.1], [0.9, 0.2, -1.3], [-0.4, 0.8, 0.6]],
        "filter": [[0.5, -0.3], [0.2, 0.7]], "bias": -0.05, "padding": 1, "stride": [1, 2],
        "activation": "tanh", "pool": {"type": "min", "size": [2, 2], "stride": [1, 1]},
        "target": [[0.1], [-0.2], [0.3]], "loss": "sse",
        "learning_rate": 0.1,
    },
}


def sample(name: str) -> tuple[dict[str, Any], Spec]:
    data = read_sample((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    return data, spec_from_data(data)


def engine_result(problem: Any) -> dict[str, Any]:
    return result(solve(problem))


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
# 1. the samples against the naive loops


@pytest.mark.parametrize("name", LAYER_SAMPLES)
def test_sample_matches_naive_layer(name: str) -> None:
    _, spec = sample(name)
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
        assert expected_keys(sample(name)[1]) == keys, name


@pytest.mark.parametrize("name", sorted(FLOAT_PROBLEMS))
def test_float_problem_matches_naive_layer(name: str) -> None:
    spec = spec_from_data(FLOAT_PROBLEMS[name])
    check_against_naive(engine_result(problem_from_data(FLOAT_PROBLEMS[name])), spec)


def test_hand_computed_relu_maxpool_values() -> None:
    """A few numbers of samples/relu-maxpool.json worked out by hand."""
    got = engine_result(load_problem(SAMPLES / "relu-maxpool.json"))
    assert got["conv"][0] == [Fraction(-5, 4), Fraction(7, 4), Fraction(7, 4), Fraction(-1)]
    assert got["pooled"] == [[Fraction(7, 4), Fraction(7, 4)], [Fraction(1, 2)] * 2]
    assert got["loss"] == Fraction(9, 32)
    # the tie in window (1, 2) of A: 1.75 at A₁₃ and A₂₄, the first (A₁₃) takes −0.125
    assert got["grad_activated"][0] == [0, Fraction(3, 8), Fraction(-1, 8), 0]
    assert got["grad_activated"][1] == [0, 0, 0, 0]


# finite differences of the loss, for sigmoid and tanh ---------------------


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
        data = sample(name)[0]
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
# 2. random layered problems: naive loops and PyTorch


#: small integers half the time, so zeros (ReLU′(0)) and ties in the pools are common
SMALL_INTEGERS = st.integers(-2, 2).map(Fraction)
VALUES = st.one_of(SMALL_INTEGERS, SMALL)
DYADIC = st.one_of(SMALL_INTEGERS,
                   st.builds(Fraction, st.integers(-8, 8), st.sampled_from([1, 2, 4])))
SLOPES = st.sampled_from([None, Fraction(1, 100), Fraction(1, 10), Fraction(1, 3),
                          Fraction(-1, 2), Fraction(0), Fraction(3, 2), Fraction(2, 7)])
DYADIC_SLOPES = st.sampled_from([None, Fraction(1, 2), Fraction(1, 4), Fraction(0),
                                 Fraction(-1, 2), Fraction(3, 2)])


def _grid(draw: Any, values: Any, shape: tuple[int, ...]) -> Any:
    count = math.prod(shape)
    return nest(draw(st.lists(values, min_size=count, max_size=count)), shape)


def _spelled(draw: Any, pair: tuple[int, int]) -> Any:
    if pair[0] == pair[1] and draw(st.booleans()):
        return pair[0]
    return list(pair)


def _spell_numbers(draw: Any, value: Any) -> Any:
    """Fractions spelled as Fraction, "p/q" or (when exact) a decimal string."""
    if isinstance(value, list):
        return [_spell_numbers(draw, v) for v in value]
    form = draw(st.sampled_from(["fraction", "ratio", "decimal"]))
    if form == "ratio":
        return f"{value.numerator}/{value.denominator}"
    if form == "decimal" and value.denominator in (1, 2, 4, 5, 8, 10):
        return str(float(value))
    return value


@st.composite
def layered_problems(draw: Any, values: Any = VALUES, slopes: Any = SLOPES
                     ) -> tuple[dict[str, Any], Spec]:
    """A random conv layer with a random activation and pool, and its Spec."""
    channels, filters = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    height, width = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    padding = (draw(st.integers(0, 1)), draw(st.integers(0, 1)))
    kh = draw(st.integers(1, min(3, height + 2 * padding[0])))
    kw = draw(st.integers(1, min(3, width + 2 * padding[1])))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    oh = (height + 2 * padding[0] - kh) // stride[0] + 1
    ow = (width + 2 * padding[1] - kw) // stride[1] + 1

    x = _grid(draw, values, (channels, height, width))
    k = _grid(draw, values, (filters, channels, kh, kw))
    input_rank = 2 if channels == 1 and draw(st.booleans()) else 3
    filter_rank = (draw(st.sampled_from([2, 3, 4] if channels == 1 else [3, 4]))
                   if filters == 1 else 4)
    spec = Spec(x, k, None, stride, padding, input_rank=input_rank, filter_rank=filter_rank)
    data: dict[str, Any] = {
        "input": _spell_numbers(draw, x[0] if input_rank == 2 else x),
        "filter": _spell_numbers(draw, k[0][0] if filter_rank == 2 else
                                 k[0] if filter_rank == 3 else k),
        "stride": _spelled(draw, stride),
        "padding": _spelled(draw, padding),
    }
    bias_kind = draw(st.sampled_from(["none", "list", *(["number"] if filters == 1 else [])]))
    if bias_kind != "none":
        spec.b = _grid(draw, values, (filters,))
        spec.bias_is_number = bias_kind == "number"
        data["bias"] = spec.b[0] if spec.bias_is_number else spec.b

    activation = draw(st.sampled_from([None, "relu", "leaky_relu", "sigmoid", "tanh"]))
    if activation is not None:
        spec.activation = activation
        slope = draw(slopes) if activation == "leaky_relu" else None
        if slope is not None:
            spec.slope = slope
            data["activation"] = {"type": activation, "slope": _spell_numbers(draw, slope)}
        else:
            data["activation"] = (activation if draw(st.booleans())
                                  else {"type": activation})
    last = (oh, ow)
    pool = draw(st.sampled_from([None, "max", "max", "mean", "min"]))
    if pool is not None:
        size = (draw(st.integers(1, min(3, oh))), draw(st.integers(1, min(3, ow))))
        spec.pool, spec.pool_size = pool, size
        data["pool"] = {"type": pool, "size": _spelled(draw, size)}
        if draw(st.booleans()):
            steps = st.sampled_from([1, 1, 2, 3])  # stride 1 often: overlapping windows
            spec.pool_stride = (draw(steps), draw(steps))
            data["pool"]["stride"] = _spelled(draw, spec.pool_stride)
        else:
            spec.pool_stride = size
        last = ((oh - size[0]) // spec.pool_stride[0] + 1,
                (ow - size[1]) // spec.pool_stride[1] + 1)

    mode = draw(st.sampled_from(["target", "target", "grad_output", "forward"]))
    given_rank = 3 if spec.output_rank == 3 else draw(st.sampled_from([2, 2, 3]))
    if mode != "forward":
        values_last = _grid(draw, values, (filters, *last))
        user = values_last[0] if given_rank == 2 else values_last
        if mode == "target":
            spec.y = values_last
            data["target"] = _spell_numbers(draw, user)
            loss = draw(st.sampled_from([None, "mse", "sse", "half_sse"]))
            if loss is not None:
                data["loss"] = loss
            spec.loss = loss or "mse"
        else:
            spec.g = values_last
            data["grad_output"] = _spell_numbers(draw, user)
        if draw(st.booleans()):
            spec.lr = draw(st.sampled_from([Fraction(1, 10), Fraction(1, 2), Fraction(1, 3)]))
            data["learning_rate"] = spec.lr
    return data, spec


PROPERTY = settings(max_examples=50, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@PROPERTY
@given(layered_problems())
def test_random_layers_match_naive_loops(problem: tuple[dict[str, Any], Spec]) -> None:
    data, spec = problem
    check_against_naive(engine_result(problem_from_data(data)), spec)


@pytest.fixture(scope="module")
def torch() -> Any:
    module = pytest.importorskip(
        "torch", reason="PyTorch is not installed; the float64 autograd oracle is skipped")
    module.set_num_threads(1)
    return module


def torch_layer(torch: Any, spec: Spec) -> dict[str, Any]:
    """Every result key by PyTorch float64 autograd, in the full layout."""
    functional = torch.nn.functional

    def tensor(values: Any, grad: bool = False) -> Any:
        return torch.tensor(floats(values), dtype=torch.float64).requires_grad_(grad)

    x = tensor([spec.x], grad=True)
    k = tensor(spec.k, grad=True)
    b = tensor(spec.b, grad=True) if spec.b is not None else None
    z = functional.conv2d(x, k, b, stride=spec.stride, padding=spec.padding)
    z.retain_grad()
    a = z
    if spec.activation is not None:
        a = {"relu": functional.relu,
             "leaky_relu": lambda t: functional.leaky_relu(t, float(spec.slope)),
             "sigmoid": torch.sigmoid, "tanh": torch.tanh}[spec.activation](z)
        a.retain_grad()
    last = a
    if spec.pool is not None:
        size, stride = spec.pool_size, spec.pool_stride
        if spec.pool == "max":
            last = functional.max_pool2d(a, size, stride)
        elif spec.pool == "min":  # the first smallest, as -max(-x) picks the first largest
            last = -functional.max_pool2d(-a, size, stride)
        else:
            last = functional.avg_pool2d(a, size, stride)
        last.retain_grad()
    out: dict[str, Any] = {"output": last, "conv": z}
    if spec.activation is not None:
        out["activated"] = a
    if spec.pool is not None:
        out["pooled"] = last
    if spec.y is None and spec.g is None:
        return {key: value[0].tolist() for key, value in out.items()}
    if spec.y is not None:
        squares = ((last[0] - tensor(spec.y)) ** 2).sum()
        loss = {"mse": squares / last.numel(), "sse": squares,
                "half_sse": squares / 2}[spec.loss]
        loss.backward()
        out["loss"] = loss
    else:
        last.backward(tensor([spec.g]))
    grads: dict[str, Any] = {"grad_output": last.grad[0], "grad_conv": z.grad[0],
                             "grad_filter": k.grad, "grad_input": x.grad[0]}
    if spec.activation is not None:
        grads["grad_activated"] = a.grad[0]
    if b is not None:
        grads["grad_bias"] = b.grad
    if spec.lr is not None:
        with torch.no_grad():
            grads["updated_filter"] = k - float(spec.lr) * k.grad
            if b is not None:
                grads["updated_bias"] = b - float(spec.lr) * b.grad
    full = {key: value[0] for key, value in out.items() if key != "loss"}
    full.update(grads)
    values = {key: value.detach().tolist() for key, value in full.items()}
    if "loss" in out:
        values["loss"] = out["loss"].item()
    return values


@PROPERTY
@given(layered_problems(values=DYADIC, slopes=DYADIC_SLOPES))
def test_random_layers_match_torch(torch: Any, problem: tuple[dict[str, Any], Spec]) -> None:
    """Dyadic inputs keep PyTorch's convolution exact, so exact ties stay ties there too."""
    data, spec = problem
    got = engine_result(problem_from_data(data))
    want = torch_layer(torch, spec)
    assert set(got) == expected_keys(spec)
    for key, value in got.items():
        assert_close(value, user_shaped(key, want[key], spec), key)


# --------------------------------------------------------------------------
# 3. the tie rule


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


TIE_CASES = [
    ({"input": [[5, 5], [5, 1]], "filter": [[1]], "pool": {"type": "max", "size": 2},
      "grad_output": [[7]]}),
    ({"input": [[1, 2, 0, 1], [0, 9, 1, 9], [2, 9, 9, 0], [1, 0, 2, 1]], "filter": [[1]],
      "pool": {"type": "max", "size": 3, "stride": 1}, "grad_output": [[1, 2], [3, 4]]}),
    ({"input": [[-1, 0, -3], [0, -1, 0], [-2, 0, -5]], "filter": [[1]],
      "activation": "relu", "pool": {"type": "min", "size": 2, "stride": 1},
      "grad_output": [[1, 2], [3, 4]]}),
]


@pytest.mark.parametrize("data", TIE_CASES)
def test_tie_rule_agrees_with_torch(torch: Any, data: dict[str, Any]) -> None:
    spec = spec_from_data(data)
    got = _solve(data)
    want = torch_layer(torch, spec)
    for key, value in got.items():
        assert_exact(value, [[Fraction(v) for v in row] for row in
                             user_shaped(key, want[key], spec)], key)


# --------------------------------------------------------------------------
# 4. the JSON result through the CLI


def cli_json(path: str) -> tuple[dict[str, Any], str]:
    run = invoke("solve", path, "--format", "json")
    assert run.returncode == 0, run.stderr
    literals = json.loads(run.stdout, parse_float=str, parse_int=str)
    return literals, run.stdout


def _literals(value: Any) -> list[str]:
    return [str(v) for v in flatten(value)]


@pytest.mark.parametrize("name", LAYER_SAMPLES)
def test_json_keys_shapes_and_values(name: str) -> None:
    _, spec = sample(name)
    literals, _ = cli_json(str(SAMPLES / f"{name}.json"))
    assert set(literals) == expected_keys(spec)
    assert list(literals) == [key for key in RESULT_KEYS if key in literals]
    want = naive_layer(spec)
    for key, value in literals.items():
        expected = user_shaped(key, want[key], spec)
        assert shape_of(value) == shape_of(expected), key
        for i, (literal, exact) in enumerate(zip(_literals(value), flatten(expected),
                                                 strict=True)):
            assert significant_digits(literal) <= 17, (key, i, literal)
            if isinstance(exact, Fraction):
                assert literal_value(literal) == exact, (key, i, literal, exact)
            else:
                assert math.isclose(float(literal), exact, rel_tol=1e-9, abs_tol=1e-12), (
                    key, i, literal, exact)


def test_json_shapes_follow_the_user() -> None:
    """seed003 gives a [C][H][W] input and a [C][kh][kw] filter: one 2-D output."""
    literals, _ = cli_json(str(SAMPLES / "seed003-rgb-edge-maxpool.json"))
    assert shape_of(literals["conv"]) == (4, 4)
    assert shape_of(literals["output"]) == shape_of(literals["pooled"]) == (2, 2)
    assert shape_of(literals["grad_filter"]) == (3, 3, 3)
    assert shape_of(literals["grad_input"]) == (3, 6, 6)
    literals, _ = cli_json(str(SAMPLES / "relu-maxpool.json"))
    assert isinstance(literals["grad_bias"], str)  # a number bias gives a number
    assert isinstance(literals["updated_bias"], str)


def _approximate_json_check(path: Path, data: dict[str, Any]) -> None:
    spec = spec_from_data(data)
    literals, _ = cli_json(str(path))
    exact = engine_result(problem_from_data(data))
    approx = approximate_keys(solve(problem_from_data(data)))
    want = naive_layer(spec)
    assert set(literals) == expected_keys(spec)
    for key, value in literals.items():
        for literal, value_exact, naive in zip(_literals(value), flatten(exact[key]),
                                               flatten(user_shaped(key, want[key], spec)),
                                               strict=True):
            assert significant_digits(literal) <= 17, (key, literal)
            assert re.fullmatch(r"-?\d+(\.\d+)?(e-?\d+)?", literal), (key, literal)
            if key in approx and value_exact:
                # correctly rounded to 17 significant digits: within one unit of the 17th
                assert abs(literal_value(literal) - value_exact) <= abs(value_exact) * Fraction(
                    1, 10**16), (key, literal)
            else:
                assert literal_value(literal) == value_exact, (key, literal)
            assert math.isclose(float(literal), float(naive), rel_tol=1e-9, abs_tol=1e-12)


def test_json_sigmoid_sample_is_rounded_not_expanded() -> None:
    path = SAMPLES / "sigmoid-half-sse.json"
    literals, text = cli_json(str(path))
    # no long exact binary expansion: at most 17 significant digits in any number
    numbers = re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", text)
    assert numbers and max(significant_digits(n) for n in numbers) <= 17
    assert literals["conv"] == [["1.2", "-0.95"], ["-0.8", "0.95"]]  # Z is exact
    _approximate_json_check(path, sample("sigmoid-half-sse")[0])


@pytest.mark.parametrize("name", sorted(FLOAT_PROBLEMS))
def test_json_float_problems_are_rounded(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(FLOAT_PROBLEMS[name]), encoding="utf-8")
    _approximate_json_check(path, FLOAT_PROBLEMS[name])


# --------------------------------------------------------------------------
# 5. validation through the CLI

BASE = {"input": [[1, 2, 0], [0, 1, 3], [2, 1, 0]], "filter": [[1, 0], [0, 1]]}
BAD_LAYERS: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "pool-larger-than-input": ({"pool": {"type": "max", "size": 3}},
                               ("pool", "3×3", "larger", "2×2")),
    "pool-larger-one-axis": ({"pool": {"type": "mean", "size": [1, 3]}},
                             ("pool", "1×3", "larger")),
    "target-not-pooled-shape": ({"pool": {"type": "max", "size": 2},
                                 "target": [[1, 2], [3, 4]]},
                                ("target", "pooled", "[1][1]", "[2][2]")),
    "target-pooled-stride": ({"pool": {"type": "max", "size": 1, "stride": [1, 2]},
                              "target": [[1, 2], [3, 4]]},
                             ("target", "[2][1]", "[2][2]")),
    "target-not-activated-shape": ({"activation": "relu", "target": [[1]]},
                                   ("target", "[2][2]", "[1][1]")),
    "grad-output-not-pooled-shape": ({"pool": {"type": "min", "size": 2},
                                      "grad_output": [[1, 2], [3, 4]]},
                                     ("grad_output", "[1][1]")),
    "unknown-activation": ({"activation": "softmax"}, ("activation", "softmax")),
    "unknown-activation-type": ({"activation": {"type": "elu"}}, ("activation.type", "elu")),
    "activation-not-a-name": ({"activation": 5}, ("activation",)),
    "unknown-pool-type": ({"pool": {"type": "avg", "size": 2}}, ("pool.type", "avg")),
    "pool-not-an-object": ({"pool": "max"}, ("pool",)),
    "pool-size-missing": ({"pool": {"type": "max"}}, ("pool.size",)),
    "pool-size-zero": ({"pool": {"type": "max", "size": 0}}, ("pool.size",)),
    "pool-stride-zero": ({"pool": {"type": "max", "size": 1, "stride": 0}}, ("pool.stride",)),
    "pool-unknown-key": ({"pool": {"type": "max", "size": 1, "padding": 1}},
                         ("pool.padding",)),
    "slope-not-a-number": ({"activation": {"type": "leaky_relu", "slope": "abc"}},
                           ("activation.slope", "abc")),
    "slope-true": ({"activation": {"type": "leaky_relu", "slope": True}},
                   ("activation.slope",)),
    "slope-list": ({"activation": {"type": "leaky_relu", "slope": [0.1]}},
                   ("activation.slope",)),
    "slope-on-relu": ({"activation": {"type": "relu", "slope": 0.1}},
                      ("activation.slope", "relu")),
    "slope-on-tanh": ({"activation": {"type": "tanh", "slope": 0.1}},
                      ("activation.slope", "tanh")),
}


@pytest.mark.parametrize("case", sorted(BAD_LAYERS))
def test_bad_layer_keys_exit_2_with_one_line(case: str, tmp_path: Path) -> None:
    extra, needles = BAD_LAYERS[case]
    path = tmp_path / "problem.json"
    path.write_text(json.dumps({**BASE, **extra}), encoding="utf-8")
    run = invoke("solve", path)
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("cnnstep: error:"), lines[0]
    assert "Traceback" not in run.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


# --------------------------------------------------------------------------
# 6. the derivation text

SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def sub(*index: int) -> str:
    return "".join(str(i + 1) for i in index).translate(SUB)


def fmt(value: Fraction) -> str:
    """An exact decimal as the text prints it, with a real minus sign."""
    text = format(Decimal(value.numerator) / Decimal(value.denominator), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    assert Fraction(text) == value, value
    return text.replace("-", "−")


def factor(value: Fraction) -> str:
    return f"({fmt(value)})" if value < 0 else fmt(value)


def cli_text(name: str) -> str:
    run = invoke("solve", SAMPLES / f"{name}.json", "--width", "120")
    assert run.returncode == 0, run.stderr
    return run.stdout


def steps(text: str) -> dict[str, str]:
    """The text of each step by its title."""
    parts = re.split(r"^Step \d+: (.+?) ─+$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def paragraphs(step: str) -> list[list[str]]:
    return [block.splitlines() for block in re.split(r"\n\s*\n", step) if block.strip()]


def equation(step: str, lhs: str) -> list[str]:
    """The lines of the equation whose first line starts with ``lhs = ``, joined
    where long lines wrap: [first form, second form, ..., the value line]."""
    for lines in paragraphs(step):
        for n, line in enumerate(lines):
            if line.startswith(lhs + " = "):
                forms = [line]
                for rest in lines[n + 1:]:
                    if re.match(r"^\s+[=≈] ", rest):
                        forms.append(rest.strip())
                    else:
                        forms[-1] += " " + rest.strip()
                return forms
    raise AssertionError(f"no equation {lhs!r} in:\n{step}")


def table(step: str, heading: str) -> list[list[str]]:
    """The rows of the box-drawn matrix printed under ``heading``."""
    lines = step.splitlines()
    start = lines.index(heading)
    rows = []
    for line in lines[start + 1:]:
        if not line.startswith(("┌", "├", "│", "└")):
            break
        if line.startswith("│") and not line.startswith("│   │"):
            rows.append([cell.strip() for cell in line.strip("│").split("│")][1:])
    return rows


def bracketed(lines: list[str]) -> set[tuple[int, int]]:
    """Which cells of a printed grid are marked [like this]."""
    marked = set()
    for r, line in enumerate(lines):
        for c, token in enumerate(re.findall(r"\[[^\]]*\]|\S+", line)):
            if token.startswith("["):
                marked.add((r, c))
    return marked


def test_text_pooling_windows_and_winners() -> None:
    _, spec = sample("relu-maxpool")
    stages = naive_layer(spec)
    a = stages["activated"][0]
    _, routes = pool_forward(stages["activated"], "max", spec.pool_size, spec.pool_stride)
    step = steps(cli_text("relu-maxpool"))["Max pooling"]
    assert "2×2 window and stride 2" in step
    for i in range(2):
        for j in range(2):
            cells = [(2 * i + m, 2 * j + n) for m in range(2) for n in range(2)]
            (winner, _), = routes[0][i][j]
            forms = equation(step, f"P{sub(i, j)}")
            assert forms[0] == (f"P{sub(i, j)} = max("
                                + ", ".join(f"A{sub(*c)}" for c in cells) + ")")
            assert forms[1] == "= max(" + ", ".join(fmt(a[r][c]) for r, c in cells) + ")"
            value, note = re.fullmatch(r"= (\S+)\s+\((.*)\)", forms[2]).groups()
            assert value == fmt(a[winner[0]][winner[1]])
            ties = sum(a[r][c] == a[winner[0]][winner[1]] for r, c in cells)
            if ties == 1:
                assert note == f"largest: A{sub(*winner)}"
            else:
                assert note == (f"{ties} entries tie; the first in row-major order, "
                                f"A{sub(*winner)}, counts")
            # the window itself, marked in the grid of A printed above the equation
            block = next(p for p in paragraphs(step) if any(
                line.startswith(f"P{sub(i, j)} = ") for line in p))
            grid = block[1:5]
            assert block[0] == "A"
            assert bracketed(grid) == set(cells)
    # the two ties of this sample are named
    assert "(2 entries tie; the first in row-major order, A₁₃, counts)" in step
    assert "(2 entries tie; the first in row-major order, A₃₄, counts)" in step


def test_text_activation_element_by_element() -> None:
    _, spec = sample("relu-maxpool")
    stages = naive_layer(spec)
    step = steps(cli_text("relu-maxpool"))["Activation: ReLU"]
    z, a = stages["conv"][0], stages["activated"][0]
    for r in range(4):
        for c in range(4):
            assert equation(step, f"A{sub(r, c)}") == [
                f"A{sub(r, c)} = ReLU(Z{sub(r, c)})", f"= max(0, {fmt(z[r][c])})",
                f"= {fmt(a[r][c])}"]
    assert table(step, "A") == [[fmt(v) for v in row] for row in a]


def _pool_backward_text(name: str, grad_name: str, heading: str) -> None:
    _, spec = sample(name)
    stages = naive_layer(spec)
    before = stages["activated"] if "activated" in stages else stages["conv"]
    _, routes = pool_forward(before, spec.pool, spec.pool_size, spec.pool_stride)
    grad_pooled = stages["grad_output"][0]
    expected = stages["grad_activated" if "activated" in stages else "grad_conv"][0]
    sources: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for i, row in enumerate(routes[0]):
        for j, cells in enumerate(row):
            for cell, _ in cells:
                sources.setdefault(cell, []).append((i, j))
    step = steps(cli_text(name))["Back through the pool"]
    for cell, windows in sorted(sources.items()):
        forms = equation(step, f"{grad_name}{sub(*cell)}")
        assert forms[0] == f"{grad_name}{sub(*cell)} = " + " + ".join(
            f"∂L/∂P{sub(*w)}" for w in windows)
        if len(windows) > 1:  # the parts, then their sum
            assert forms[1] == "= " + " + ".join(factor(grad_pooled[i][j]) for i, j in windows)
        assert forms[-1] == f"= {fmt(expected[cell[0]][cell[1]])}"
        assert expected[cell[0]][cell[1]] == sum(grad_pooled[i][j] for i, j in windows)
    others = 16 - len(sources)
    assert f"The other {others} entries of {heading} are 0" in step
    assert table(step, heading) == [[fmt(v) for v in row] for row in expected]
    for r in range(4):
        for c in range(4):
            if (r, c) not in sources:
                assert expected[r][c] == 0
                assert f"{grad_name}{sub(r, c)} = " not in step


def test_text_gradient_routed_back_through_the_pool() -> None:
    _pool_backward_text("relu-maxpool", "∂L/∂A", "∂L/∂A")
    step = steps(cli_text("relu-maxpool"))["Back through the pool"]
    # the tie at A₁₃/A₂₄: only A₁₃ receives ∂L/∂P₁₂
    assert equation(step, "∂L/∂A₁₃") == ["∂L/∂A₁₃ = ∂L/∂P₁₂", "= −0.125"]


def test_text_overlapping_windows_sum_up() -> None:
    _pool_backward_text("maxpool-3x3-overlap", "∂L/∂Z", "∂L/∂Z")
    step = steps(cli_text("maxpool-3x3-overlap"))["Back through the pool"]
    assert equation(step, "∂L/∂Z₃₁") == ["∂L/∂Z₃₁ = ∂L/∂P₁₁ + ∂L/∂P₂₁", "= 2 + 2", "= 4"]
    assert "Where windows overlap, the parts add up." in " ".join(step.split())
    pooling = steps(cli_text("maxpool-3x3-overlap"))["Max pooling"]
    assert "the windows overlap" in " ".join(pooling.split())


def test_text_activation_backward_entry_by_entry() -> None:
    _, spec = sample("relu-maxpool")
    stages = naive_layer(spec)
    step = steps(cli_text("relu-maxpool"))["Back through the activation"]
    assert "∂L/∂Z = ∂L/∂A ⊙ f′(Z)" in step
    z, da, dz = stages["conv"][0], stages["grad_activated"][0], stages["grad_conv"][0]
    for r in range(4):
        for c in range(4):
            slope = Fraction(1) if z[r][c] > 0 else Fraction(0)
            assert equation(step, f"∂L/∂Z{sub(r, c)}") == [
                f"∂L/∂Z{sub(r, c)} = ∂L/∂A{sub(r, c)}×ReLU′(Z{sub(r, c)})",
                f"= {factor(da[r][c])}×{fmt(slope)}", f"= {fmt(dz[r][c])}"]
    assert table(step, "∂L/∂Z") == [[fmt(v) for v in row] for row in dz]


def test_text_exact_layers_have_no_approximations() -> None:
    for name in ("relu-maxpool", "maxpool-3x3-overlap", "meanpool"):
        assert "≈" not in cli_text(name), name


APPROX_STEPS = ("Activation: σ", "Loss", "Gradient of the loss with respect to the output",
                "Back through the activation")
LATER_STEPS = ("Gradient with respect to the kernel", "Gradient with respect to the bias",
               "Gradient with respect to the input", "Update")


def _value_lines(step: str) -> list[str]:
    """The last line of every equation of a step: its value."""
    values = []
    for lines in paragraphs(step):
        tail = [line.strip() for line in lines if re.match(r"^\s+[=≈] ", line)]
        if tail:
            values.append(tail[-1])
    return values


def test_text_sigmoid_values_are_marked_approximate() -> None:
    text = cli_text("sigmoid-half-sse")
    parts = steps(text)
    assert "Z₁₁ = " in parts["Forward pass"] and "≈" not in parts["Forward pass"]
    for title in APPROX_STEPS:
        values = _value_lines(parts[title])
        assert values, title
        for line in values:
            assert line.startswith("≈ "), (title, line)
    activated = naive_layer(sample("sigmoid-half-sse")[1])["activated"][0]
    for r in range(2):
        for c in range(2):
            value = equation(parts["Activation: σ"], f"A{sub(r, c)}")[-1]
            assert math.isclose(float(value.removeprefix("≈ ")), activated[r][c], rel_tol=1e-5)
    for row in table(parts["Activation: σ"], "A"):
        assert all(cell.startswith("≈ ") for cell in row), row


def test_text_sigmoid_later_steps_are_marked_and_rounded() -> None:
    parts = steps(cli_text("sigmoid-half-sse"))
    for title in LATER_STEPS:
        for line in _value_lines(parts[title]):
            assert line.startswith("≈ "), (title, line)
    long_numbers = re.findall(r"\d*\.\d{18,}", cli_text("sigmoid-half-sse"))
    assert not long_numbers, long_numbers[:3]


@pytest.mark.parametrize("name", LAYER_SAMPLES)
def test_verify_passes(name: str) -> None:
    run = invoke("solve", SAMPLES / f"{name}.json", "--verify")
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.strip().splitlines()
    assert lines and all("verified" in line for line in lines), run.stdout
    labels = {line.split(":")[0] for line in lines}
    assert {"Z", "L", "dL/dK", "dL/dX"} <= labels
    spec = sample(name)[1]
    assert ("P" in labels) == (spec.pool is not None)
    assert ("A" in labels) == (spec.activation is not None)


@pytest.mark.parametrize(("sample", "needle"), [
    ("relu-maxpool", "P₁₂ = max(A₁₃, A₁₄, A₂₃, A₂₄)"),
    ("sigmoid-half-sse", "A₁₂ = σ(Z₁₂)"),
])
def test_only_output_works_out_the_last_stage(sample: str, needle: str) -> None:
    """With layers, the result's output is the last stage: --only output[..] works it out."""
    run = invoke("solve", SAMPLES / f"{sample}.json", "--only", "output[0][1]",
                 "--width", "120")
    assert run.returncode == 0, run.stderr
    assert needle in run.stdout
    assert "Forward pass" not in run.stdout
