"""3-D transposed convolutions (``"dimensions": 3, "layer": "conv_transpose"``), as
PyTorch's ``conv_transpose3d``.

Drawn small (stride, padding, dilation, output_padding, groups, an activation
and a pool) against the naive scatter loops of ``oracle.naive_transposed_nd``,
PyTorch's ``conv_transpose3d`` with float64 autograd, the verifier and
``cnnstep check`` marking the right answers right; then what the derivation
says, the diagnoses of the transposed forward pass, and the refusals.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import oracle
import pytest
from helpers import DYADIC, F, _grid, assert_one_line_error, invoke, needs_torch, torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_dimensions import _spelled, assert_same

import cnnstep
from cnnstep import samples, volume, volume_transposed
from cnnstep.check.volume import mark_volume
from cnnstep.problem import volume_from_data
from cnnstep.verify_volume import verify_volume

pytestmark = needs_torch


@st.composite
def transposed(draw: Any) -> dict[str, Any]:
    """A small 3-D transposed layer with a target or a given gradient."""
    groups = draw(st.integers(1, 2))
    channels, per_group = groups * draw(st.integers(1, 2)), draw(st.integers(1, 2))
    taps = tuple(draw(st.integers(1, 2)) for _ in range(3))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(3))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(3))
    extra = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in
                  zip(stride, dilation, strict=True))
    size = tuple(draw(st.integers(1, 2)) for _ in range(3))
    padding = tuple(draw(st.integers(0, 1)) for _ in range(3))
    out = tuple((n - 1) * s - 2 * p + d * (k - 1) + e + 1 for n, s, p, d, k, e in
                zip(size, stride, padding, dilation, taps, extra, strict=True))
    if min(out) < 1:  # a padding that leaves no output is refused: pad less
        padding = (0, 0, 0)
        out = tuple((n - 1) * s + d * (k - 1) + e + 1 for n, s, d, k, e in
                    zip(size, stride, dilation, taps, extra, strict=True))
    filters = groups * per_group
    data: dict[str, Any] = {
        "dimensions": 3, "layer": "conv_transpose",
        "input": _grid(draw, DYADIC, (channels, *size)),
        "filter": _grid(draw, DYADIC, (channels, per_group, *taps)),
        "bias": draw(st.lists(DYADIC, min_size=filters, max_size=filters)),
        "stride": list(stride), "padding": list(padding), "dilation": list(dilation),
        "output_padding": list(extra), "groups": groups, "learning_rate": "1/2"}
    last = out
    if draw(st.booleans()):
        window = [draw(st.integers(1, min(2, n))) for n in out]
        data["pool"] = {"type": draw(st.sampled_from(["max", "avg", "min"])), "size": window,
                        "stride": 1}
        last = tuple(n - k + 1 for n, k in zip(out, window, strict=True))
    activation = draw(st.sampled_from([None, "relu", "leaky_relu", "sigmoid", "tanh"]))
    if activation is not None:
        data["activation"] = activation
    if draw(st.booleans()):
        data |= {"target": _grid(draw, DYADIC, (filters, *last)), "loss": "sse"}
    else:
        data["grad_output"] = _grid(draw, DYADIC, (filters, *last))
    return _spelled(data)


def pytorch(data: dict[str, Any]) -> dict[str, Any]:
    """The layer by conv_transpose3d and float64 autograd, full layout."""
    def t(values: Any) -> Any:
        return torch.tensor(oracle.floats(oracle.fr(values)), dtype=torch.float64)

    x = t(data["input"])[None].requires_grad_(True)
    k = t(data["filter"]).requires_grad_(True)
    b = t(data["bias"]).requires_grad_(True)
    z = F.conv_transpose3d(x, k, b, stride=tuple(data["stride"]),
                           padding=tuple(data["padding"]),
                           output_padding=tuple(data["output_padding"]),
                           groups=data["groups"], dilation=tuple(data["dilation"]))
    kind = data.get("activation")
    a = (z if kind is None else F.relu(z) if kind == "relu"
         else torch.sigmoid(z) if kind == "sigmoid" else torch.tanh(z) if kind == "tanh"
         else F.leaky_relu(z, negative_slope=0.01))
    pool = data.get("pool")
    p = a
    if pool is not None:
        options = {"kernel_size": tuple(pool["size"]), "stride": 1}
        p = (F.max_pool3d(a, **options) if pool["type"] == "max"
             else -F.max_pool3d(-a, **options) if pool["type"] == "min"
             else F.avg_pool3d(a, **options))
    p.retain_grad()
    if "target" in data:
        ((p - t([data["target"]])) ** 2).sum().backward()
    else:
        (p * t([data["grad_output"]])).sum().backward()
    assert x.grad is not None and k.grad is not None and b.grad is not None
    return {"output": p[0].tolist(), "grad_filter": k.grad.tolist(),
            "grad_bias": b.grad.tolist(), "grad_input": x.grad[0].tolist()}


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(transposed())
def test_transposed_volumes_agree_with_the_oracles(data: dict[str, Any]) -> None:
    layer = volume_from_data(data)
    got = volume.solve(layer)
    want = oracle.naive_transposed_nd(data)
    if data.get("activation") in ("sigmoid", "tanh"):
        for key, value in want.items():
            oracle.assert_close(got[key], value, key, relative=1e-12)
    else:
        assert_same(got, want)
    for key, value in pytorch(data).items():
        oracle.assert_close(got[key], value, key, relative=1e-12)
    # the course's working, corr(Xe, rot180(K) swapped), is the engine's scatter sum
    assert (volume.forward(volume_transposed.as_correlation(layer))
            == volume_transposed.forward(layer)).all()
    assert all(check.ok for check in verify_volume(layer))
    assert mark_volume(layer, json.loads(json.dumps(got, default=str))).correct


SAMPLE_FILE = samples.path("conv3d-transpose-stride2")
SAMPLE: dict[str, Any] = json.loads(SAMPLE_FILE.read_text(encoding="utf-8"))


def test_the_sample_is_conv_transpose3d_exactly() -> None:
    got = cnnstep.solve(SAMPLE).result
    assert_same(got, oracle.naive_transposed_nd(SAMPLE))
    x = torch.tensor(oracle.floats(oracle.fr([[SAMPLE["input"]]])), dtype=torch.float64,
                     requires_grad=True)
    k = torch.tensor(oracle.floats(oracle.fr([[SAMPLE["filter"]]])), dtype=torch.float64,
                     requires_grad=True)
    z = F.conv_transpose3d(x, k, torch.tensor([0.5], dtype=torch.float64), stride=2,
                           padding=1, output_padding=1)
    y = torch.tensor(oracle.floats(oracle.fr([[SAMPLE["target"]]])), dtype=torch.float64)
    ((z - y) ** 2).mean().backward()
    assert np.allclose(np.array(oracle.floats(got["output"])), z[0, 0].detach().numpy())
    assert x.grad is not None and k.grad is not None
    assert np.allclose(np.array(oracle.floats(got["grad_input"])), x.grad[0, 0].numpy())
    assert np.allclose(np.array(oracle.floats(got["grad_filter"])), k.grad[0, 0].numpy())
    assert got["grad_bias"] == Fraction(8, 27)  # exact, as the JSON writes it


def test_the_derivation_works_it_as_an_ordinary_layer() -> None:
    text = " ".join(cnnstep.solve(SAMPLE).to_text(width=100).split())
    assert "3-D transposed convolution (conv_transpose): stride 2, padding 1," in text
    assert "D_out = (D_in−1)×s − 2×p + d×(k_d−1) + o + 1 = (2−1)×2 − 2×1 + 1×(2−1) + 1 + 1" \
        in text
    assert "Step 2: Zero insertion and padding" in text
    assert "1 zero between the depth slices of X" in text
    assert "output_padding adds 1 depth slice more behind" in text
    assert "Xpad (depth 2: zeros)" in text and "Xpad (depth 3: X's depth 2)" in text
    assert "rot180(K) (depth 1)" in text
    assert "Z = conv(Xpad, rot180(K)) + B" in text
    assert "Z₁₁₂ = X₁₁₂×K₂₂₁ + B = 2×0 + 0.5 = 0.5" in text
    assert "∂L/∂X = conv(∂L/∂Z (padded), K)" in text
    assert "∂L/∂X₁₁₁ = ∂L/∂Z₁₁₁×K₂₂₂ = 0×0.5 = 0" in text


GROUPED = {"dimensions": 3, "layer": "conv_transpose",
           "input": [[[[1, 2, 0]]], [[[-1, 1, 2]]]],
           "filter": [[[[[1, 2]]], [[[0, 1]]]], [[[[1, -1]]], [[["0.5", 1]]]]],
           "bias": [0, 1, 0, -1], "groups": 2, "padding": [0, 0, 2], "stride": [1, 1, 2],
           "grad_output": [[[[1, 0]]], [[[0, 1]]], [[[2, 1]]], [[[1, 1]]]]}


def test_groups_and_a_crop_are_said() -> None:
    worked = cnnstep.solve(GROUPED)
    text = " ".join(worked.to_text(width=100).split())
    assert "input channel 1 feeds output channels 1–2, input channel 2 feeds output " \
           "channels 3–4" in text
    assert "Zero insertion and cropping" in text
    assert "1·(2 − 1) − 2 = −1, negative: the padding is larger than d·(k − 1), so " \
           "instead of padding, 1 column of the zero-inserted input is cropped" in text
    assert "K (input channel 2, output channel 4, depth 1)" in text
    assert all(check.ok for check in verify_volume(volume_from_data(GROUPED)))
    assert_same(worked.result, oracle.naive_transposed_nd(GROUPED))


def test_the_transposed_forward_pass_mistakes_are_named() -> None:
    layer = volume_from_data(SAMPLE)

    def answered(z: Any) -> dict[str, Any]:
        return {"output": json.loads(json.dumps(z[0].tolist(), default=str))}

    flipped = volume.forward(volume_from_data({**SAMPLE, "filter": [
        [[v for v in reversed(row)] for row in reversed(plane)]
        for plane in reversed(SAMPLE["filter"])]}))
    unspread = volume_transposed.unspread(layer)
    assert unspread is not None
    for z, code, words in ((flipped, "kernel_not_rotated", "slid the kernel over the "
                            "expanded input as it is"),
                           (unspread, "stride_not_dilated", "first spreads X apart")):
        marked = mark_volume(layer, answered(z)).quantities[0]
        assert marked.diagnosis is not None and marked.diagnosis.code == code
        assert words in marked.diagnosis.message
    right = volume.arrays(layer)
    wrong = right["grad_output"] + Fraction(1, 3)
    answers = {"grad_output": json.loads(json.dumps(wrong[0].tolist(), default=str)),
               "grad_filter": json.loads(json.dumps(
                   volume.kernel_gradient(layer, wrong)[0, 0].tolist(), default=str))}
    codes = {q.key: q.diagnosis.code for q in mark_volume(layer, answers).quantities
             if q.diagnosis}
    assert codes["grad_filter"] == "carried_forward"


def test_the_command_line_solves_checks_and_verifies(tmp_path: Path) -> None:
    run = invoke("solve", "--sample", "conv3d-transpose-stride2", "--verify")
    assert run.returncode == 0 and "dL/dX: verified by direct differentiation" in run.stdout
    only = invoke("solve", "--sample", "conv3d-transpose-stride2", "--only",
                  "grad_input[1][1][0]", "--width", "100")
    assert only.returncode == 0
    assert "∂L/∂X₂₂₁ = ∂L/∂Z₂₂₁×K₁₁₂ + ∂L/∂Z₂₃₁×K₁₂₂ + ∂L/∂Z₃₂₁×K₂₁₂" in only.stdout
    assert "Forward pass" not in only.stdout
    result = json.loads(invoke("solve", "--sample", "conv3d-transpose-stride2", "--format",
                               "json").stdout)
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({**result, "loss": 1}))
    checked = invoke("check", SAMPLE_FILE, answers)
    assert "loss" in checked.stdout and checked.returncode == 1


BASE = {"dimensions": 3, "layer": "conv_transpose", "input": [[[1, 2], [0, 1]]],
        "filter": [[[1, 0], [0, 1]]], "stride": 2}


@pytest.mark.parametrize(("change", "needles"), [
    ({"output_padding": 2}, ("output_padding", "2 extra depth slices", "smaller than the "
                             "stride (2) or the dilation (1)")),
    ({"output_padding": [0, 1, 1], "stride": [2, 1, 2]}, ("output_padding", "1 extra rows")),
    ({"output_padding": [0, 1]}, ("output_padding", "three axes")),
    ({"padding": [[0, 1], [0, 0], [1, 1]]}, ("padding", "[pd, ph, pw]", "conv_transpose3d")),
    ({"padding": "same"}, ("padding", "[pd, ph, pw]")),
    ({"padding": 3}, ("padding", "conv_transpose's output would be", "smaller padding")),
    ({"mode": "convolution"}, ("mode", "conv_transpose")),
    ({"filter": [[[[1]]], [[[1]]]]}, ("filter", "[C][F][kd][kh][kw]", "4-D")),
    ({"filter": [[[[[1]]]], [[[[1]]]]]}, ("filter", "2 input channels", "the input has 1")),
    ({"groups": 2, "filter": [[[[[1]]]]]}, ("groups", "does not divide the 1 input channel")),
    ({"layer": "deconv"}, ("layer", '"conv_transpose"')),
])
def test_bad_transposed_layers_are_one_line(tmp_path: Path, change: dict[str, Any],
                                            needles: tuple[str, ...]) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({**BASE, **change}))
    assert_one_line_error(invoke("solve", path, "--format", "json"), *needles)


def test_output_padding_needs_conv_transpose(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({**BASE, "layer": "conv", "output_padding": 1}))
    assert_one_line_error(invoke("solve", path), "output_padding", '"conv_transpose"')


TRAINED = {"dimensions": 3, "layer": "conv_transpose", "input": [[[1, 2], [0, 1]]],
           "filter": [[[1, "0.5"]]], "bias": "0.5", "stride": [1, 2, 1],
           "output_padding": [0, 1, 0], "activation": "relu",
           "pool": {"type": "max", "size": [1, 2, 1], "stride": 1},
           "target": [[[1, 0, 2], [0, 1, 1], [1, 1, 0]]], "loss": "sse", "learning_rate": "1/8",
           "steps": 3}


def test_training_after_an_activation_and_a_pool_follows_pytorch_sgd() -> None:
    worked = cnnstep.solve(TRAINED)
    result = worked.result

    def t(values: Any) -> Any:
        return torch.tensor(oracle.floats(oracle.fr(values)), dtype=torch.float64)

    x, y = t([[TRAINED["input"]]]), t([[TRAINED["target"]]])
    k = t([[TRAINED["filter"]]]).requires_grad_(True)
    b = torch.tensor([0.5], dtype=torch.float64, requires_grad=True)
    sgd = torch.optim.SGD([k, b], lr=1 / 8)

    def loss() -> Any:
        z = F.conv_transpose3d(x, k, b, stride=(1, 2, 1), output_padding=(0, 1, 0))
        return ((F.max_pool3d(F.relu(z), (1, 2, 1), stride=1) - y) ** 2).sum()

    for row in result["history"]:
        sgd.zero_grad()
        step = loss()
        step.backward()
        sgd.step()
        assert Fraction(row["loss"]) == Fraction(step.item())
        assert [Fraction(v) for v in oracle.flatten(row["updated_filter"])] == \
            [Fraction(v) for v in k.detach().flatten().tolist()]
    assert Fraction(result["final_loss"]) == Fraction(loss().item())
    assert all(check.ok for check in verify_volume(volume_from_data(TRAINED)))
    for text in (worked.to_text(width=100), worked.to_latex(), worked.to_markdown()):
        assert "Zero insertion and padding" in text and "Pooling: max" in text
