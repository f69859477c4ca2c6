"""3-D layers with the convolution variants: ``mode``, ``groups`` and the padding forms,
and every activation (sigmoid and tanh in float64, as for a 2-D layer).

Drawn together (with stride and dilation) against the naive loops of
``oracle.naive_nd``, PyTorch's ``conv3d`` with float64 autograd (the kernel
flipped for mode "convolution", asymmetric padding by ``F.pad``), the
verifier, and ``cnnstep check`` marking the right answers right; then what the
derivation says, and the refusals.
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
from cnnstep import volume
from cnnstep.check.volume import mark_volume
from cnnstep.derivation import Equation, Text
from cnnstep.problem import volume_from_data
from cnnstep.verify_volume import verify_volume

pytestmark = needs_torch


@st.composite
def variants(draw: Any) -> dict[str, Any]:
    """A small 3-D layer with groups, a mode and any padding form, and a target."""
    groups = draw(st.integers(1, 2))
    channels, filters = groups * draw(st.integers(1, 2)), groups
    taps = tuple(draw(st.integers(1, 2)) for _ in range(3))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(3))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(3))
    spans = tuple(d * (k - 1) + 1 for d, k in zip(dilation, taps, strict=True))
    forms = ["numbers", "sides", "valid", "full"] + (["same"] if stride == (1, 1, 1) else [])
    form = draw(st.sampled_from(forms))
    if form == "numbers":
        padding: Any = [draw(st.integers(0, 1)) for _ in range(3)]
        before = after = tuple(padding)
    elif form == "sides":
        padding = [[draw(st.integers(0, 1)), draw(st.integers(0, 1))] for _ in range(3)]
        before, after = tuple(p[0] for p in padding), tuple(p[1] for p in padding)
    else:
        padding = form
        totals = tuple(0 if form == "valid" else (e - 1) * (2 if form == "full" else 1)
                       for e in spans)
        before = tuple(t // 2 for t in totals) if form != "full" else tuple(e - 1 for e in spans)
        after = tuple(t - b for t, b in zip(totals, before, strict=True))
    size = tuple(draw(st.integers(max(1, e - p - q), e + 1))
                 for e, p, q in zip(spans, before, after, strict=True))
    out = tuple((n + p + q - e) // s + 1 for n, p, q, e, s in
                zip(size, before, after, spans, stride, strict=True))
    pool: dict[str, Any] | None = None
    if draw(st.booleans()):
        kind = draw(st.sampled_from(["max", "avg", "min"]))
        # a dilation (max and min only) where the dilated window still fits
        dilated = [draw(st.integers(1, 2)) if kind != "avg" else 1 for _ in out]
        window = [draw(st.integers(1, min(2, n))) for n in out]
        dilated = [d if d * (k - 1) + 1 <= n else 1
                   for d, k, n in zip(dilated, window, out, strict=True)]
        pool = {"type": kind, "size": window,
                "stride": [draw(st.integers(1, 2)) for _ in range(3)],
                "padding": [0 if d > 1 else draw(st.integers(0, k // 2))
                            for k, d in zip(window, dilated, strict=True)],
                "dilation": dilated, "ceil_mode": draw(st.booleans())}
        if pool["type"] == "avg" and draw(st.booleans()):
            pool["count_include_pad"] = False
        last = volume_from_data({"dimensions": 3, "input": [[[[0] * out[2]] * out[1]] * out[0]],
                                 "filter": [[[1]]], "pool": pool}).pool.output_size
    data: dict[str, Any] = {
        "dimensions": 3, "input": _grid(draw, DYADIC, (channels, *size)),
        "filter": _grid(draw, DYADIC, (filters, channels // groups, *taps)),
        "bias": draw(st.lists(DYADIC, min_size=filters, max_size=filters)),
        "stride": list(stride), "dilation": list(dilation), "padding": padding,
        "groups": groups, "mode": draw(st.sampled_from(["cross_correlation", "convolution"])),
        "target": _grid(draw, DYADIC, (filters, *(out if pool is None else last))),
        "loss": "sse", "learning_rate": "1/2"}
    if pool is not None:
        data["pool"] = pool
    activation = draw(st.sampled_from([None, "relu", "leaky_relu", "sigmoid", "tanh"]))
    if activation is not None:
        data["activation"] = activation
    return _spelled(data)


def pytorch(data: dict[str, Any]) -> dict[str, Any]:
    """The layer by conv3d and float64 autograd, full layout, as nested lists."""
    def t(values: Any) -> Any:
        return torch.tensor(oracle.floats(oracle.fr(values)), dtype=torch.float64)

    x = t(data["input"])[None].requires_grad_(True)
    k = t(data["filter"]).requires_grad_(True)
    b = t(data["bias"]).requires_grad_(True)
    layer = volume_from_data(data)
    (front, top, left), (back, bottom, right) = layer.sides
    padded = F.pad(x, (left, right, top, bottom, front, back))
    weight = k.flip(2, 3, 4) if data["mode"] == "convolution" else k
    z = F.conv3d(padded, weight, b, stride=tuple(data["stride"]),
                 dilation=tuple(data["dilation"]), groups=data["groups"])
    z.retain_grad()
    kind = data.get("activation")
    a = (z if kind is None else F.relu(z) if kind == "relu"
         else torch.sigmoid(z) if kind == "sigmoid" else torch.tanh(z) if kind == "tanh"
         else F.leaky_relu(z, negative_slope=0.01))
    a.retain_grad()
    pool = data.get("pool")
    p = a
    if pool is not None:
        options = {"kernel_size": tuple(pool["size"]), "stride": tuple(pool["stride"]),
                   "padding": tuple(pool["padding"]), "ceil_mode": pool["ceil_mode"]}
        dilated = {**options, "dilation": tuple(pool["dilation"])}
        p = (F.max_pool3d(a, **dilated) if pool["type"] == "max"
             else -F.max_pool3d(-a, **dilated) if pool["type"] == "min"
             else F.avg_pool3d(a, count_include_pad=pool.get("count_include_pad", True),
                               **options))
        p.retain_grad()
    ((p - t([data["target"]])) ** 2).sum().backward()
    assert x.grad is not None and k.grad is not None and b.grad is not None
    assert z.grad is not None and a.grad is not None and p.grad is not None
    out = {"output": p[0].tolist(), "grad_output": p.grad[0].tolist(),
           "grad_filter": k.grad.tolist(), "grad_bias": b.grad.tolist(),
           "grad_input": x.grad[0].tolist()}
    if kind is not None or pool is not None:
        out |= {"conv": z[0].tolist(), "grad_conv": z.grad[0].tolist()}
    if kind is not None:
        out["activated"] = a[0].tolist()
    if pool is not None:
        out["pooled"] = p[0].tolist()
        if kind is not None:
            out["grad_activated"] = a.grad[0].tolist()
    return out


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(variants())
def test_variants_agree_with_the_oracles(data: dict[str, Any]) -> None:
    layer = volume_from_data(data)
    got = volume.solve(layer)
    floats = data.get("activation") in ("sigmoid", "tanh")
    if floats:  # float64 from the activation on: to 1e-12 of PyTorch and the loops
        for key, want in oracle.naive_nd(data).items():
            oracle.assert_close(got[key], want, key, relative=1e-12)
    else:
        assert_same(got, oracle.naive_nd(data))
    for key, want in pytorch(data).items():
        if data.get("activation") in ("leaky_relu", "sigmoid", "tanh") or "pool" in data:
            # the slope 0.01 and a mean's divisor are not dyadic: float64 rounds them
            oracle.assert_close(got[key], want, key, relative=1e-12)
            continue
        assert [Fraction(v) for v in oracle.flatten(got[key])] == \
            [Fraction(v) for v in oracle.flatten(want)], key
    assert all(check.ok for check in verify_volume(layer))
    answers = json.loads(json.dumps(got, default=str))
    assert mark_volume(layer, answers).correct


BASE = {"dimensions": 3,
        "input": [[[[1, 2], [0, 1]], [[1, 0], [2, 1]]], [[[0, 1], [1, 1]], [[2, 0], [1, -1]]]],
        "filter": [[[[[1, 2]], [["0.5", 0]]]], [[[[-1, 1]], [[1, 1]]]]],
        "bias": [1, 0], "groups": 2, "mode": "convolution",
        "padding": [[0, 1], [1, 0], [0, 0]],
        "target": [[[[1], [0], [1]], [[2], [0], [1]]], [[[0], [1], [1]], [[1], [1], [0]]]]}


def test_the_derivation_says_where_the_flip_and_the_groups_are() -> None:
    text = cnnstep.solve(BASE).to_text(width=100)
    assert 'mode "convolution": the kernel is flipped along all three axes' in text
    assert "Mode \"convolution\" flips the kernel along all three axes first" in " ".join(
        text.split())
    assert "in 2 groups (each filter sees 1 of the channels)" in text
    assert "0 slices in front, 1 row above, 0 columns left, 1 slice behind" in " ".join(
        text.split())
    assert "D_out = ⌊(D_in + p_front + p_back − k_d)/s⌋ + 1" in text
    # a window in the row of zeros above holds the bias alone; the next reads channel 1
    # only, the kernel taken from its far end
    assert "Z(1,1,1,1) = B(1)\n           = 1\n" in text
    assert "Z(1,1,2,1) = X(1,1,1,1)×K(1,1,2,1,2) + X(1,1,1,2)×K(1,1,2,1,1)" in text
    assert "the full convolution slides K as it is" in " ".join(text.split())
    assert "rot180(K) (" not in text


def test_a_cross_correlation_answer_to_a_true_convolution_is_named(tmp_path: Path) -> None:
    plain = volume.solve(volume_from_data({**BASE, "mode": "cross_correlation"}))
    report = mark_volume(volume_from_data(BASE),
                         {"output": json.loads(json.dumps(plain["output"], default=str))})
    marked = report.quantities[0]
    assert marked.diagnosis is not None and marked.diagnosis.code == "true_convolution"
    assert "used the kernel as it is" in marked.diagnosis.message


@pytest.mark.parametrize(("change", "needles"), [
    ({"groups": 3}, ("groups", "does not divide")),
    ({"groups": 1}, ("filter", "1 channel", "the input has 2")),
    ({"mode": "flip"}, ("mode", '"convolution"')),
    ({"padding": "same", "stride": [1, 2, 1]}, ("padding", '"same"', "1×2×1")),
    ({"padding": [[0, 1], [1, 0]]}, ("padding", "[[front, back], [top, bottom]")),
    ({"padding": [[0, 1], [1, 0], [0]]}, ("padding[2]", "[left, right]")),
    ({"padding": "wide"}, ("padding", '"valid"')),
])
def test_bad_variants_are_one_line(tmp_path: Path, change: dict[str, Any],
                                   needles: tuple[str, ...]) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({**BASE, **change}))
    assert_one_line_error(invoke("solve", path, "--format", "json"), *needles)


RELU = {"dimensions": 3, "input": [[[1, -2], [3, 4]], [[0, 1], [-1, 2]]],
        "filter": [[[1]], [["0.5"]]], "bias": -1, "activation": "relu",
        "target": [[[0, 1], [1, 2]]], "learning_rate": "0.1"}


def test_an_activation_is_worked_out_and_marked() -> None:
    worked = cnnstep.solve(RELU)
    result = worked.result
    assert set(result) >= {"conv", "activated", "grad_conv"}
    assert result["output"] == result["activated"]
    text = worked.to_text(width=100)
    assert "Step 3: Activation: ReLU" in text and "Back through the activation" in text
    assert "A₁₁₁ = max(0, Z₁₁₁)" in text and "∂L/∂Z₁₁₂ = ∂L/∂A₁₁₂×0" in text
    only = worked.derivation(only=["output[0][1][1]"])
    assert [step.key for step in only.steps] == ["given", "activation"]
    layer = volume_from_data(RELU)
    right = json.loads(json.dumps(result, default=str))
    no_bias = volume.solve(volume_from_data({**RELU, "bias": 0}))["conv"]
    wrong_dz = np.array([Fraction(v) + 1 for v in oracle.flatten(right["grad_conv"])],
                        dtype=object).reshape(1, 1, 2, 2)
    carried = volume.kernel_gradient(layer, wrong_dz)
    report = mark_volume(layer, {
        "conv": json.loads(json.dumps(no_bias, default=str)),
        "grad_conv": [[[str(v) for v in row] for row in plane] for plane in wrong_dz[0]],
        "grad_filter": [[[str(v) for v in row] for row in plane] for plane in carried[0][0]]})
    codes = {q.key: q.diagnosis.code for q in report.quantities if q.diagnosis}
    assert codes == {"conv": "bias_omitted", "grad_filter": "carried_forward"}
    assert all(check.ok for check in verify_volume(layer))


TRAINED = {"dimensions": 3, "input": [[[1, 2], [0, 1]], [[1, 0], [2, 1]]],
           "filter": [[[1]], [["0.5"]]], "bias": "0.5", "activation": "relu",
           "target": [[[1, 0], [0, 1]]], "learning_rate": "1/8", "steps": 3}


def test_training_steps_follow_pytorch_sgd() -> None:
    result = cnnstep.solve(TRAINED).result
    x = torch.tensor(oracle.floats(oracle.fr([[TRAINED["input"]]])), dtype=torch.float64)
    k = torch.tensor(oracle.floats(oracle.fr([[TRAINED["filter"]]])), dtype=torch.float64,
                     requires_grad=True)
    b = torch.tensor([0.5], dtype=torch.float64, requires_grad=True)
    y = torch.tensor(oracle.floats(oracle.fr([[TRAINED["target"]]])), dtype=torch.float64)
    sgd = torch.optim.SGD([k, b], lr=1 / 8)
    for row in result["history"]:
        sgd.zero_grad()
        loss = ((F.relu(F.conv3d(x, k, b)) - y) ** 2).mean()
        loss.backward()
        sgd.step()
        assert Fraction(row["loss"]) == Fraction(loss.item())
        assert [Fraction(v) for v in oracle.flatten(row["updated_filter"])] == \
            [Fraction(v) for v in k.detach().flatten().tolist()]
        assert Fraction(row["updated_bias"]) == Fraction(b.item())
    final = ((F.relu(F.conv3d(x, k, b)) - y) ** 2).mean().item()
    assert Fraction(result["final_loss"]) == Fraction(final)
    assert [row["step"] for row in result["history"]] == [1, 2, 3]
    layer = volume_from_data(TRAINED)
    checks = verify_volume(layer)
    assert checks[-1].key == "history" and checks[-1].ok
    text = cnnstep.solve(TRAINED).to_text(width=100)
    assert "Training: the loss and the weights at each of 3 steps" in text
    assert f"Lfinal = {float(result['final_loss'])!r}" in text
    marked = mark_volume(layer, {"final_loss": str(result["final_loss"])}).marked("final_loss")
    assert marked is not None and marked.correct


def test_training_in_full_works_every_step_from_its_weights() -> None:
    worked = cnnstep.solve(TRAINED)
    result = worked.result
    titles = [step.title for step in worked.derivation().steps]
    for k in (1, 2, 3):
        assert f"Forward pass (training step {k} of 3)" in titles
        assert f"Update (training step {k} of 3)" in titles
    # dL/dX, which training does not use, is worked at step 1 alone
    assert [title for title in titles if title.startswith("Gradient with respect to the input")
            ] == ["Gradient with respect to the input (training step 1 of 3)"]
    assert titles[-4:] == ["Forward pass (after training step 3)",
                           "Activation: ReLU (after training step 3)",
                           "Loss (after training step 3)",
                           "Training: the loss and the weights at each of 3 steps"]
    steps = worked.derivation().steps
    loss_of = {step.title: [b for b in step.blocks if isinstance(b, Equation)][-1].value
               for step in steps if step.title.startswith("Loss (")}
    for k, row in enumerate(result["history"], start=1):
        assert loss_of[f"Loss (training step {k} of 3)"] == Fraction(row["loss"])
    assert loss_of["Loss (after training step 3)"] == Fraction(result["final_loss"])
    # step 2 opens with the weights step 1 updated
    second = next(step for step in steps if step.title == "Forward pass (training step 2 of 3)")
    opening = second.blocks[0]
    assert isinstance(opening, Text) and str(opening.parts[0]).startswith(
        "Training step 2 of 3 starts from the weights training step 1 updated")
    # brief, answers and a selection: step 1 and the history alone
    for shaped in (worked.derivation(detail="brief"), worked.derivation(detail="answers"),
                   worked.derivation(only=["update"])):
        assert not any("training step 2" in step.title for step in shaped.steps)


def test_training_needs_a_target_and_a_rate(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    data = dict(TRAINED)
    del data["learning_rate"]
    path.write_text(json.dumps(data))
    assert_one_line_error(invoke("solve", path), "steps", "learning_rate")


POOLED = {"dimensions": 3, "input": [[[1, 2, 0], [0, 1, 3]], [[1, 0, 2], [2, 1, -1]]],
          "filter": [[[1]]], "bias": "0.5", "activation": "relu",
          "pool": {"type": "max", "size": [1, 2, 2], "stride": 1},
          "target": [[[1, 0]], [[0, 1]]], "learning_rate": "0.1"}


def test_a_pool_is_worked_out_verified_and_marked() -> None:
    worked = cnnstep.solve(POOLED)
    text = worked.to_text(width=100)
    assert "Step 4: Pooling: max" in text and "Back through the pool" in text
    assert "P₁₁₂ = max(A₁₁₂, A₁₁₃, A₁₂₂, A₁₂₃)" in text
    assert "∂L/∂A₁₂₃ = ∂L/∂P₁₁₂" in text
    only = worked.derivation(only=["output[1][0][0]"])
    assert [step.key for step in only.steps] == ["given", "pool"]
    assert [step.key for step in worked.derivation(only=["grad_activated"]).steps][-2:] == \
        ["grad_output", "pool_backward"]
    layer = volume_from_data(POOLED)
    assert all(check.ok for check in verify_volume(layer))
    right = json.loads(json.dumps(worked.result, default=str))
    wrong = {**right, "conv": json.loads(json.dumps(
        volume.solve(volume_from_data({**POOLED, "bias": 0}))["conv"], default=str))}
    report = mark_volume(layer, wrong)
    assert [(q.key, q.diagnosis.code) for q in report.quantities if q.diagnosis] == \
        [("conv", "bias_omitted")]
    mean = {key: value for key, value in POOLED.items() if key != "target"} | {
        "pool": {"type": "avg", "size": 2, "padding": [0, 1, 1], "count_include_pad": False},
        "grad_output": [[[1, 0], [2, -1]]]}
    assert all(check.ok for check in verify_volume(volume_from_data(mean)))
