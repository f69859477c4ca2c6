"""1-D and 3-D convolutions: the ``dimensions`` key.

The engine against the naive loops of ``oracle.naive_nd`` (exact, written from
the format's sum over every output, channel and tap) and against PyTorch's
``conv1d``/``conv3d`` with float64 autograd, on random problems; the integer
path, the verifier and ``cnnstep check`` on 1-D layers; every refusal of the
key; and what the 1-D derivation says.
"""

from __future__ import annotations

import json
from fractions import Fraction
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import oracle
import pytest
from helpers import (
    DYADIC,
    SAMPLES,
    _grid,
    assert_one_line_error,
    engine_result,
    integer_path_is_the_fraction_path,
    invoke,
    rendered,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnnstep
from cnnstep import volume
from cnnstep.problem import problem_from_data, volume_from_data

PROPERTY = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TORCH = pytest.mark.skipif(find_spec("torch") is None,
                           reason="PyTorch is not installed; the float64 autograd oracle is "
                                  "skipped")


def _spelled(value: Any) -> Any:
    """Fractions as strings, as a problem file spells them."""
    if isinstance(value, dict):
        return {key: _spelled(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_spelled(item) for item in value]
    return str(value) if isinstance(value, Fraction) else value


@st.composite
def layers(draw: Any, dims: int) -> dict[str, Any]:
    """A random layer with ``dims`` spatial axes, in any of the ranks the user may give,
    with a target, a given dL/dZ or neither."""
    small = dims == 3
    channels, filters = draw(st.integers(1, 2)), draw(st.integers(1, 1 if small else 2))
    taps = tuple(draw(st.integers(1, 2 if small else 3)) for _ in range(dims))
    dilation = tuple(draw(st.integers(1, 2 if small else 3)) for _ in range(dims))
    padding = tuple(draw(st.integers(0, 1 if small else 2)) for _ in range(dims))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(dims))
    spans = tuple(d * (k - 1) + 1 for d, k in zip(dilation, taps, strict=True))
    size = tuple(draw(st.integers(max(1, e - 2 * p), e + (1 if small else 3)))
                 for e, p in zip(spans, padding, strict=True))
    out = tuple((n + 2 * p - e) // s + 1 for n, p, e, s in
                zip(size, padding, spans, stride, strict=True))
    x = _grid(draw, DYADIC, (channels, *size))
    k = _grid(draw, DYADIC, (filters, channels, *taps))
    filter_axis = filters > 1 or draw(st.booleans())
    if channels == 1 and draw(st.booleans()):
        x = x[0]
    if not filter_axis:
        k = k[0]
        if channels == 1 and draw(st.booleans()):
            k = k[0]

    def per_axis(values: tuple[int, ...]) -> Any:
        if len(set(values)) == 1 and draw(st.booleans()):
            return values[0]
        return list(values)

    data: dict[str, Any] = {"dimensions": dims, "input": x, "filter": k,
                            "stride": per_axis(stride), "padding": per_axis(padding),
                            "dilation": per_axis(dilation)}
    bias = draw(st.sampled_from(["none", "list"] + (["number"] if filters == 1 else [])))
    if bias != "none":
        numbers = draw(st.lists(DYADIC, min_size=filters, max_size=filters))
        data["bias"] = numbers if bias == "list" else numbers[0]
    mode = draw(st.sampled_from(["target", "grad", "forward"]))
    shape = (filters, *out) if filter_axis else out
    if mode == "target":
        data["target"] = _grid(draw, DYADIC, shape)
        data["loss"] = draw(st.sampled_from(["mse", "sse", "half_sse"]))
        data["learning_rate"] = "1/4"
    elif mode == "grad":
        data["grad_output"] = _grid(draw, DYADIC, shape)
        data["learning_rate"] = "1/2"
    return _spelled(data)


def assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert set(got) == set(want)
    for key, value in got.items():
        oracle.assert_exact(value, want[key], key) if not isinstance(value, Fraction) else (
            oracle.assert_exact([value], [want[key]], key))


# --------------------------------------------------------------------------
# the numbers


@PROPERTY
@given(layers(1))
def test_signal_matches_the_naive_loops(data: dict[str, Any]) -> None:
    assert_same(engine_result(problem_from_data(data)), oracle.naive_nd(data))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(layers(3))
def test_volume_matches_the_naive_loops(data: dict[str, Any]) -> None:
    assert_same(volume.solve(volume_from_data(data)), oracle.naive_nd(data))


def test_two_dimensions_given_match_the_naive_loops() -> None:
    """``"dimensions": 2`` is today's layer, and the N-D loops agree with it."""
    data = json.loads((SAMPLES / "two-filters-padding.json").read_text(encoding="utf-8"))
    with_key = engine_result(problem_from_data({**data, "dimensions": 2}))
    assert with_key == engine_result(problem_from_data(data))
    plain = {key: value for key, value in data.items()
             if key in ("input", "filter", "bias", "target", "grad_output", "loss", "stride",
                        "padding", "learning_rate")}
    assert_same({key: with_key[key] for key in oracle.naive_nd(plain)}, oracle.naive_nd(plain))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(layers(1))
def test_signal_integer_path_matches_the_fraction_path(data: dict[str, Any]) -> None:
    integer_path_is_the_fraction_path(problem_from_data(data))


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(layers(1))
def test_verify_agrees_on_signals(data: dict[str, Any]) -> None:
    from cnnstep.verify import verify

    checks = verify(problem_from_data(data))
    assert checks and all(check.ok for check in checks), checks


def _torch_layer(torch: Any, data: dict[str, Any]) -> dict[str, Any]:
    """The layer through torch's conv1d/conv3d and autograd, float64, in the user's shapes."""
    dims = data["dimensions"]
    conv = {1: torch.nn.functional.conv1d, 3: torch.nn.functional.conv3d}[dims]
    x_user, k_user = oracle.fr(data["input"]), oracle.fr(data["filter"])
    x_rank, k_rank = len(oracle.shape_of(x_user)), len(oracle.shape_of(k_user))

    def tensor(values: Any, rank: int, full: int) -> Any:
        nested = oracle._lead(values, rank, full)
        return torch.tensor(oracle.floats(nested), dtype=torch.float64)

    x = tensor(x_user, x_rank, dims + 2).requires_grad_(True)  # (1, C, …)
    k = tensor(k_user, k_rank, dims + 2).requires_grad_(True)
    bias = data.get("bias")
    b = None
    if bias is not None:
        b = torch.tensor([float(Fraction(v)) for v in (bias if isinstance(bias, list)
                                                       else [bias])],
                         dtype=torch.float64, requires_grad=True)

    def axes(key: str, default: int) -> Any:
        value = data.get(key, default)
        return tuple(value) if isinstance(value, list) else value

    z = conv(x, k, b, stride=axes("stride", 1), padding=axes("padding", 0),
             dilation=axes("dilation", 1))[0]
    filter_axis = k_rank == dims + 2
    out: dict[str, Any] = {}

    def shaped(t: Any, drop: int) -> Any:
        values = t.detach().tolist()
        for _ in range(drop):
            values = values[0]
        return values

    out["output"] = shaped(z, 0 if filter_axis else 1)
    if "target" not in data and "grad_output" not in data:
        return out
    z.retain_grad()
    if "target" in data:
        y = oracle.fr(data["target"])
        y_t = tensor(y, len(oracle.shape_of(y)), dims + 1)
        squares = ((z - y_t) ** 2).sum()
        loss = {"mse": squares / z.numel(), "sse": squares,
                "half_sse": squares / 2}[data["loss"]]
        loss.backward()
        out["loss"] = loss.item()
    else:
        g = oracle.fr(data["grad_output"])
        z.backward(tensor(g, len(oracle.shape_of(g)), dims + 1))
    assert z.grad is not None and k.grad is not None and x.grad is not None
    out["grad_output"] = shaped(z.grad, 0 if filter_axis else 1)
    out["grad_filter"] = shaped(k.grad, dims + 2 - k_rank)
    out["grad_input"] = shaped(x.grad, dims + 2 - x_rank)
    rate = float(Fraction(data["learning_rate"]))
    out["updated_filter"] = shaped(k - rate * k.grad, dims + 2 - k_rank)
    if b is not None:
        assert b.grad is not None
        grads = b.grad.tolist()
        out["grad_bias"] = grads if isinstance(bias, list) else grads[0]
        updated = (b - rate * b.grad).tolist()
        out["updated_bias"] = updated if isinstance(bias, list) else updated[0]
    return out


def _compare_with_torch(got: dict[str, Any], want: dict[str, Any], data: dict[str, Any]
                        ) -> None:
    """Every key torch computes, entry by entry: equal as numbers (dyadic inputs are
    exact in float64) except where the mean divides by a count that is not a power of
    two, which float64 rounds."""
    assert set(got) == set(want)
    exact = data.get("loss") != "mse"
    for key, value in got.items():
        if exact and key not in ("updated_filter", "updated_bias"):
            values = oracle.flatten(value) if isinstance(value, list) else [value]
            wanted = oracle.flatten(want[key]) if isinstance(want[key], list) else [want[key]]
            assert [Fraction(v) for v in values] == [Fraction(w) for w in wanted], key
        else:
            oracle.assert_close(value, want[key], key, relative=1e-12)


@TORCH
@PROPERTY
@given(layers(1))
def test_signal_matches_torch_conv1d(data: dict[str, Any]) -> None:
    import torch

    _compare_with_torch(engine_result(problem_from_data(data)), _torch_layer(torch, data), data)


@TORCH
@pytest.mark.parametrize(("padding", "stride"), [([[2, 1]], 1), ([[0, 3]], 2), ([[1, 0]], 1)])
def test_signal_padded_per_side_matches_torch(padding: list[list[int]], stride: int) -> None:
    import torch
    import torch.nn.functional as F

    data = {"dimensions": 1, "input": [["1.5", -1, -2, "0.5"]], "filter": [[[3, "-0.5", 2]]],
            "bias": ["0.25"], "padding": padding, "stride": stride,
            "target": [[1, 0, 2, 1, 0, 1, 2][: 1 + (4 + sum(padding[0]) - 3) // stride]],
            "learning_rate": "0.1"}
    got = engine_result(problem_from_data(data))
    x = torch.tensor([[[1.5, -1, -2, 0.5]]], dtype=torch.float64, requires_grad=True)
    k = torch.tensor([[[3, -0.5, 2]]], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([0.25], dtype=torch.float64, requires_grad=True)
    z = F.conv1d(F.pad(x, tuple(padding[0])), k, b, stride=stride)
    y = torch.tensor([data["target"]], dtype=torch.float64)
    F.mse_loss(z, y).backward()
    assert [Fraction(v) for v in oracle.flatten(got["output"])] == [
        Fraction(v) for v in z.detach().flatten().tolist()]
    for key, tensor in (("grad_filter", k), ("grad_bias", b), ("grad_input", x)):
        assert tensor.grad is not None
        oracle.assert_close(oracle.flatten(got[key]), tensor.grad.flatten().tolist(), key,
                            relative=1e-12)
    text = cnnstep.solve(data).to_text(width=100)
    start, end = padding[0]
    assert f"Zeros are added: {start} zero" in text and f"and {end} at the end." in text
    assert f"padding start {start}, end {end}" in text


@TORCH
@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(layers(3))
def test_volume_matches_torch_conv3d(data: dict[str, Any]) -> None:
    import torch

    _compare_with_torch(volume.solve(volume_from_data(data)), _torch_layer(torch, data), data)


@TORCH
@pytest.mark.parametrize(("pool", "torch_pool"), [
    ({"type": "max", "size": 2}, "max_pool1d"),
    ({"type": "mean", "size": 4, "stride": 3}, "avg_pool1d"),
    ({"type": "max", "size": [2], "stride": 1, "padding": 1}, "max_pool1d"),
])
def test_signal_with_relu_and_pool_matches_torch(pool: dict[str, Any], torch_pool: str) -> None:
    import torch

    data = {"dimensions": 1, "input": [[1, -2, 3, 0, 2, -1, 1, 2], [0, 1, 1, -1, 2, 0, 1, 3]],
            "filter": [[[1, "-0.5"], [2, 1]], [[0, 1], ["0.25", -1]]], "bias": [1, "-0.5"],
            "activation": "relu", "pool": pool, "learning_rate": "0.5"}
    z_probe = engine_result(problem_from_data(data))
    data["target"] = [[0] * len(z_probe["output"][0])] * 2
    data["loss"] = "sse"
    got = engine_result(problem_from_data(data))
    x = torch.tensor(oracle.floats(oracle.fr([data["input"]])), dtype=torch.float64,
                     requires_grad=True)
    k = torch.tensor(oracle.floats(oracle.fr(data["filter"])), dtype=torch.float64,
                     requires_grad=True)
    b = torch.tensor([1.0, -0.5], dtype=torch.float64, requires_grad=True)
    a = torch.relu(torch.nn.functional.conv1d(x, k, b))
    options = {"kernel_size": oracle.flatten([pool["size"]])[0],
               "stride": pool.get("stride", oracle.flatten([pool["size"]])[0]),
               "padding": pool.get("padding", 0)}
    p = getattr(torch.nn.functional, torch_pool)(a, **options)[0]
    loss = (p ** 2).sum()
    loss.backward()
    assert [Fraction(v) for v in oracle.flatten(got["output"])] == [
        Fraction(v) for v in oracle.flatten(p.tolist())]
    assert Fraction(loss.item()) == got["loss"]
    assert x.grad is not None and k.grad is not None
    assert [Fraction(v) for v in oracle.flatten(got["grad_input"])] == [
        Fraction(v) for v in oracle.flatten(x.grad[0].tolist())]
    assert [Fraction(v) for v in oracle.flatten(got["grad_filter"])] == [
        Fraction(v) for v in oracle.flatten(k.grad.tolist())]


def test_signal_by_hand() -> None:
    """x = [1, 2, 3, 4, 5] under k = [1, −1] with stride 2: Z_i = X_(2i) − X_(2i+1)."""
    got = engine_result(problem_from_data({
        "dimensions": 1, "input": [1, 2, 3, 4, 5], "filter": [1, -1], "stride": 2,
        "grad_output": [1, 10]}))
    assert got["output"] == [-1, -1]
    assert got["grad_filter"] == [1 + 30, 2 + 40]
    assert got["grad_input"] == [1, -1, 10, -10, 0]


# --------------------------------------------------------------------------
# the refusals: one line naming the key, exit 2


SIGNAL = {"dimensions": 1, "input": [1, 2, 3, 4], "filter": [1, -1]}
VOLUME = {"dimensions": 3, "input": [[[1, 2], [3, 4]], [[5, 6], [7, 8]]],
          "filter": [[[1]]]}


@pytest.mark.parametrize(("change", "needles"), [
    ({"dimensions": 4}, ("dimensions", "1, 2 or 3")),
    ({"dimensions": "1"}, ("dimensions", "1, 2 or 3")),
    ({"dimensions": 1.5}, ("dimensions",)),
    ({"input": [[[1, 2, 3]]], "target": [1, 2]}, ("target", "2-D or a 3-D")),
    ({"input": [[[[1, 2, 3]]]]}, ("dimensions", "input", "[N][C][L]")),
    ({"filter": [[[[1]]]]}, ("dimensions", "filter", "[F][C][k]")),
    ({"stride": [1, 2]}, ("stride", "one axis")),
    ({"padding": [1, 1]}, ("padding", "one axis")),
    ({"dilation": [2, "x"]}, ("dilation",)),
    ({"stride": 0}, ("stride", "integer ≥ 1")),
    ({"filter": [1, 2, 3, 4, 5]}, ("filter of length 5", "padded input of length 4")),
    ({"dilation": 4}, ("dilation", "spans 5", "length 4")),
    ({"target": [1, 2]}, ("target", "[3]", "[2]")),
    ({"target": [[1, 2, 3]], "filter": [[1, 0], [0, 1]]}, ("filter", "channels")),
    ({"pool": {"type": "max", "size": [2, 2]}}, ("pool.size", "one axis")),
    ({"pool": {"type": "max", "size": 5}}, ("pool", "window 5", "input 3")),
])
def test_bad_signal_is_one_line(tmp_path: Path, change: dict[str, Any],
                                needles: tuple[str, ...]) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({**SIGNAL, **change}))
    assert_one_line_error(invoke("solve", path, "--format", "json"), *needles)


@pytest.mark.parametrize(("change", "needles"), [
    ({"input": [[1, 2], [3, 4]]}, ("dimensions", "3", "2-D input")),
    ({"input": [[[[[[1]]]]]]}, ("dimensions", "[N][C][D][H][W]", "6-D input")),
    ({"filter": [[1]]}, ("dimensions", "filter")),
    ({"stride": [1, 2]}, ("stride", "three axes")),
    ({"filter": [[[1, 2, 3]]]}, ("filter 1×1×3", "padded input 2×2×2")),
    ({"dilation": [1, 1, 3], "filter": [[[1, 1]]]}, ("dilation", "spans 1×1×4")),
    ({"pool": {"type": "avg", "size": 1, "dilation": 2}}, ("pool.dilation", "avg_pool3d")),
    ({"pool": {"type": "max", "size": 2, "dilation": 2}}, ("pool", "dilated to 3×3×3")),
    ({"pool": {"type": "max", "size": 2, "ceil_mode": "yes"}}, ("pool.ceil_mode",)),
    ({"filter": [[[1]], [[1]]], "pool": {"type": "max", "size": [2, 1, 1],
                                          "dilation": [2, 1, 1], "padding": [1, 0, 0]}},
     ("pool", "window 1 along the depth", "only padding")),
    ({"pool": {"type": "max", "size": 3}}, ("pool", "window 3×3×3", "input 2×2×2")),
    ({"pool": {"type": "max", "size": 2, "padding": 2}}, ("pool.padding", "half")),
    ({"steps": 2}, ("steps", "target", "learning_rate")),
    ({"target": [[[1, 2]]]}, ("target", "[2][2][2]")),
    ({"filter": [[[[1]]], [[[1]]]]}, ("filter", "2 channels", "the input has 1")),
])
def test_bad_volume_is_one_line(tmp_path: Path, change: dict[str, Any],
                                needles: tuple[str, ...]) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({**VOLUME, **change}))
    assert_one_line_error(invoke("solve", path, "--format", "json"), *needles)


@pytest.mark.parametrize(("options", "needles"), [
    (("--only", "output[2][0][0]"), ("--only", "output[2][0][0]", "[2][2][2]")),
])
def test_volume_refusals(options: tuple[str, ...], needles: tuple[str, ...]) -> None:
    assert_one_line_error(invoke("solve", SAMPLES / "conv3d-small.json", *options), *needles)


def test_volume_answers_name_only_the_result_s_keys() -> None:
    run = invoke("check", SAMPLES / "conv3d-small.json", SAMPLES / "conv3d-small.json")
    assert_one_line_error(run, "conv3d-small.json", "input", "3-D layer's result")


def test_volume_derivation_shows_depth_slices_and_three_indices() -> None:
    run = invoke("solve", SAMPLES / "conv3d-small.json", "--width", "100")
    assert run.returncode == 0, run.stderr
    text = run.stdout
    assert "Worked solution: one 3-D convolution layer" in text
    for label in ("X (depth 1)", "X (depth 3)", "K (depth 2)", "Y (depth 2)", "Z (depth 2)",
                  "∂L/∂X (depth 3)", "rot180(K) (depth 1)", "Knew (depth 2)"):
        assert label in text, label
    assert "3-D convolution: stride 1, padding 0" in text
    assert "D_out = ⌊(D_in + 2×p − k_d)/s⌋ + 1" in text
    assert "= ⌊(3 + 2×0 − 2)/1⌋ + 1" in text
    assert "the output is a volume of 2×2×2 (depth, rows, columns)" in text
    assert "Z(i,j,l) = Σa,b,e X(i·s + a,j·s + b,l·s + e)×K(a,b,e) + B" in " ".join(text.split())
    assert ("Z₁₁₁ = X₁₁₁×K₁₁₁ + X₁₁₂×K₁₁₂ + X₁₂₁×K₁₂₁ + X₁₂₂×K₁₂₂ + X₂₁₁×K₂₁₁ + X₂₁₂×K₂₁₂ + "
            "X₂₂₁×K₂₂₁ +") in text
    assert "= 1×1 + 2×0 + 0×0 + 1×(−1) + 1×0.5 + 0×1 + 2×0 + 1×0.5 + 0.5" in text
    assert "L = (1/8)×[(Z₁₁₁−Y₁₁₁)²" in text
    assert "flip it along all three axes (depth, rows and columns)" in " ".join(text.split())
    assert "∂L/∂X₂₂₂ = ∂L/∂Z₁₁₁×K₂₂₂ + ∂L/∂Z₁₁₂×K₂₂₁" in text
    assert "K₁₁₁new = 1 − 0.1×2.75" in text
    json_run = invoke("solve", SAMPLES / "conv3d-small.json", "--format", "json")
    result = json.loads(json_run.stdout)
    assert result["grad_input"][1][1][1] == 1.25 and result["updated_filter"][0][0][0] == 0.725


def test_volume_with_padding_channels_and_filters(tmp_path: Path) -> None:
    data = {"dimensions": 3, "input": [[[[1, 2], [0, 1]], [[1, 0], [2, 1]]],
                                       [[[0, 1], [1, 1]], [[2, 0], [1, -1]]]],
            "filter": [[[[[1]], [[2]]], [[[-1]], [["0.5"]]]], [[[[0]], [[1]]], [[[1]], [[1]]]]],
            "bias": [1, 0], "padding": [0, 1, 0], "stride": [1, 2, 1],
            "grad_output": [[[[1, 2], [0, 1]]], [[[1, 0], [-1, 1]]]],
            "notation": {"index_base": 0}}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    text = invoke("solve", path, "--width", "100").stdout
    assert "X (channel 1, depth 0)" in text and "K (filter 1, channel 0, depth 1)" in text
    assert "0 slices in front and behind, 1 row above and below" in text
    assert "Z(0,0,0,0) = B(0)\n           = 1\n" in text  # a window in the padding alone
    assert "Z(0,0,1,0) = X(0,0,1,0)×K(0,0,0,0,0) + X(0,1,1,0)×K(0,0,1,0,0)" in text
    got = volume.solve(volume_from_data(data))
    assert_same(got, oracle.naive_nd(data))


def test_volume_latex_compiles_as_slices() -> None:
    run = invoke("solve", SAMPLES / "conv3d-small.json", "--format", "latex")
    assert run.returncode == 0, run.stderr
    assert r"Z_{111} &= X_{111} \times K_{111}" in run.stdout
    assert "(depth 2)" in run.stdout


def test_volume_from_standard_input() -> None:
    text = (SAMPLES / "conv3d-small.json").read_text(encoding="utf-8")
    run = invoke("solve", "-", "--format", "json", input=text)
    assert run.returncode == 0, run.stderr
    assert run.stdout == (Path(__file__).parent / "golden" / "conv3d-small.json").read_text()


def test_volume_over_the_work_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"dimensions": 3, "input": [[[1] * 12] * 12] * 12,
                                "filter": [[[1] * 3] * 3] * 3,
                                "grad_output": [[[1] * 10] * 10] * 10}))
    run = invoke("solve", path, "--format", "json", "--max-work", "1000")
    assert_one_line_error(run, "3-D layer", "--max-work")


def test_symbolic_shapes_derive_a_volume(tmp_path: Path) -> None:
    """(The formulas themselves: test_symbolic_volume.py.)"""
    path = tmp_path / "p.json"
    path.write_text('{"dimensions": 3, "input": {"shape": [3, 3, 3]}, '
                    '"filter": {"shape": [2, 2, 2]}}')
    run = invoke("solve", path, "--symbolic")
    assert run.returncode == 0, run.stderr
    assert "Symbolic derivation: one 3-D convolution layer" in run.stdout


def test_without_the_key_a_signal_is_refused_as_before(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"input": [1, 2, 3], "filter": [1, 2]}')
    assert_one_line_error(invoke("solve", path, "--format", "json"), "input", "2-D [H][W]")


# --------------------------------------------------------------------------
# the 1-D derivation reads as a course writes it


def test_signal_derivation_uses_one_index() -> None:
    text = rendered(SAMPLES / "conv1d.json", "text", width=100)
    assert "one 1-D convolution layer" in text
    assert "1-D convolution: stride 1, padding 0" in text
    assert "L_out = ⌊(L_in + 2×p − k)/s⌋ + 1" in text
    assert "= ⌊(6 + 2×0 − 3)/1⌋ + 1" in text
    assert "the output is a signal of 4 entries" in text
    # counted from 1: the first window's first tap is X₁
    assert "Zᵢ = Σₘ X((i−1)·s + m)×Kₘ + B, with s = 1." in text
    assert "Z₁ = X₁×K₁ + X₂×K₂ + X₃×K₃ + B" in text
    assert "   = 2×1 + 1×0 + 3×(−1) + 0.5" in text
    assert "∂L/∂K₃ = ∂L/∂Z₁×X₃ + ∂L/∂Z₂×X₄ + ∂L/∂Z₃×X₅ + ∂L/∂Z₄×X₆" in text
    assert "reverse it: a 1-D kernel has one axis to flip" in text
    assert "Pad ∂L/∂Z with 2 zeros at each end (the kernel size less one):" in text
    assert "∂L/∂X₃ = ∂L/∂Z₁×K₃ + ∂L/∂Z₂×K₂ + ∂L/∂Z₃×K₁" in text
    assert "K₂new = 0 − 0.1×0.25" in text
    for two_d in ("H_out", "W_out", "Z₁₁", "rows", "columns", "vertically"):
        assert two_d not in text, two_d


def test_signal_derivation_in_the_other_formats() -> None:
    latex = rendered(SAMPLES / "conv1d.json", "latex")
    assert r"Z_{i} = \sum_{m} X_{(i-1)\cdot s + m} \times K_{m} + B" in latex
    assert "Z_{1} &=" in latex
    markdown = rendered(SAMPLES / "conv1d.json", "markdown")
    assert "$Z_{1} = X_{1} \\times K_{1}" in markdown or "Z_{1}" in markdown
    html = rendered(SAMPLES / "conv1d.json", "html")
    assert "<msub><mi>Z</mi><mn>1</mn></msub>" in html


def test_strided_padded_signal_derivation(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({
        "dimensions": 1, "input": [[1, 2, 0, 3, 1], [0, 1, 1, -1, 2]],
        "filter": [[[1, -1], [2, 0]]], "stride": 2, "padding": 1, "dilation": 2,
        "grad_output": [[1, 2, -1]]}))
    text = invoke("solve", path, "--width", "100").stdout
    assert "Dilation 2: the kernel's taps are 2 apart, so a kernel of 2 taps spans" in text
    assert "= ⌊(5 + 2×1 − (2×(2−1) + 1))/2⌋ + 1" in text
    assert "1 zero at each end of the signal" in text
    assert "inserting 1 zero between neighbours" in text
    assert ("Z(i) = Σc,ₘ X(c,(i−1)·s + (m−1)·d + 1)×K(c,m), with s = 2, d = 2, over the "
            "padded signal.") \
        in text
    assert "X(2,4)" in text  # channel, then the one spatial index


def test_only_and_questions_name_a_signal_entry(tmp_path: Path) -> None:
    run = invoke("solve", SAMPLES / "conv1d.json", "--only", "grad_input[2]", "--width", "100")
    assert run.returncode == 0, run.stderr
    assert "∂L/∂X₃ = ∂L/∂Z₁×K₃ + ∂L/∂Z₂×K₂ + ∂L/∂Z₃×K₁" in run.stdout
    bad = invoke("solve", SAMPLES / "conv1d.json", "--only", "grad_input[0][2]")
    assert bad.returncode == 2 and "1 axis" in bad.stderr


def test_check_diagnoses_a_signal(tmp_path: Path) -> None:
    problem = {"dimensions": 1, "input": [1, 2, 0, 3, 1], "filter": [1, -1, "0.5"], "bias": 1,
               "target": [0, 1, 2], "learning_rate": "0.1"}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(problem))
    k = [Fraction(1), Fraction(-1), Fraction(1, 2)]
    dz = [Fraction(0), Fraction(7, 3), Fraction(-7, 3)]
    # dL/dX with the kernel read forwards, not reversed: Σ_i dZ_i·K_(k−1−(j−i))
    unrotated = [sum((dz[i] * k[2 - (j - i)] for i in range(3) if 0 <= j - i < 3),
                     Fraction(0)) for j in range(5)]
    # the forward pass with the kernel reversed (a true convolution)
    flipped = [sum((Fraction(problem["input"][i + m]) * k[2 - m] for m in range(3)),
                   Fraction(1)) for i in range(3)]
    answers = tmp_path / "a.json"
    answers.write_text(json.dumps({"output": [str(v) for v in flipped],
                                   "grad_input": [str(v) for v in unrotated]}))
    run = invoke("check", path, answers, "--format", "json")
    assert run.returncode == 1, run.stderr
    report = json.loads(run.stdout)["quantities"]
    assert report["output"]["diagnosis"]["code"] == "true_convolution"
    assert report["grad_input"]["diagnosis"]["code"] == "kernel_not_rotated"
    assert report["grad_input"]["mismatches"][0]["index"] == [1]  # dL/dX₁ is 0 either way


def test_the_result_keeps_the_signal_shapes() -> None:
    got = engine_result(problem_from_data(json.loads(
        (SAMPLES / "conv1d.json").read_text(encoding="utf-8"))))
    assert got["output"] == [Fraction(-1, 2), Fraction(3, 2), Fraction(5, 2), Fraction(-3, 2)]
    assert got["grad_filter"] == [Fraction(1, 2), Fraction(1, 4), -1]
    assert got["grad_bias"] == 0
