"""A batch of 3-D volumes, [N][C][D][H][W]: against PyTorch's conv3d over the batch
(float64 autograd, reduction="mean"), against the naive loops run volume by volume,
the derivation's sums, --only, --verify, cnnstep check and the refusals."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import oracle
import pytest
from helpers import DYADIC, F, _grid, assert_one_line_error, invoke, needs_torch, torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_dimensions import _spelled, assert_same
from test_volume_variants import variants

import cnnstep
from cnnstep.check.volume import mark_volume
from cnnstep.check.volume_batch import mark_batch
from cnnstep.derivation import Equation, Text
from cnnstep.problem import VolumeBatch, volumes_from_data
from cnnstep.verify_volume import verify_volume
from cnnstep.verify_volume_batch import verify_batch
from cnnstep.volume_batch import per_volume, solve

pytestmark = needs_torch

BATCH = {"dimensions": 3,
         "input": [[[[[1, 2, 0], [0, 1, 2]], [[1, 0, 1], [2, 1, 0]]]],
                   [[[[0, 1, 2], [1, 0, 1]], [[1, 1, 0], [0, 2, 1]]]]],
         "filter": [[[1, 0], [0, -1]], [["0.5", 1], [0, "0.5"]]], "bias": "0.5",
         "target": [[[[1, 0]]], [[[2, 1]]]], "learning_rate": "0.1"}


def naive_batch(data: dict[str, Any]) -> dict[str, Any]:
    """The naive loops volume by volume under sse, then the batch: each volume's
    quantities stacked, the loss and the weights' gradients summed; under mse every
    gradient scaled by 1/(N·entries), as the mean over the whole batch is."""
    count = len(data["input"])
    loss = data.get("loss", "mse")
    each = [oracle.naive_nd({**data, "input": data["input"][n], "loss": "sse",
                             **{key: data[key][n] for key in ("target", "grad_output")
                                if key in data}})
            for n in range(count)]
    entries = len(oracle.flatten(each[0]["output"]))
    scale = (Fraction(1, count * entries) if loss == "mse" else Fraction(1, 2)
             if loss == "half_sse" else Fraction(1)) if "target" in data else Fraction(1)

    def scaled(key: str, value: Any) -> Any:
        if key.startswith("grad_") and not isinstance(value, list):
            return value * scale
        if key.startswith("grad_") or key == "loss":
            return [scaled(key, v) for v in value] if isinstance(value, list) else value * scale
        return value

    out: dict[str, Any] = {}
    for key in each[0]:
        if key.startswith("updated"):
            continue
        if per_volume(key):
            out[key] = [scaled(key, solved[key]) for solved in each]
        elif key == "loss":
            out[key] = sum((solved[key] for solved in each), Fraction(0)) * scale
        else:
            parts = [oracle.flatten(scaled(key, solved[key])) if isinstance(solved[key], list)
                     else [scaled(key, solved[key])] for solved in each]
            sums = [sum(column, Fraction(0)) for column in zip(*parts, strict=True)]
            out[key] = (sums[0] if not isinstance(each[0][key], list)
                        else oracle.nest(sums, oracle.shape_of(each[0][key])))
    return out


def pytorch(data: dict[str, Any]) -> dict[str, Any]:
    """conv3d (and pool) over the whole batch in float64, F.mse_loss's mean."""
    def t(values: Any) -> Any:
        return torch.tensor(oracle.floats(oracle.fr(values)), dtype=torch.float64)

    x = t(data["input"]).requires_grad_(True)
    k = t(data["filter"])
    k = k.reshape((1,) * (5 - k.dim()) + tuple(k.shape)).requires_grad_(True)
    b = t([data["bias"]]).reshape(-1).requires_grad_(True)
    z = F.conv3d(x, k, b, stride=data.get("stride", 1), padding=data.get("padding", 0),
                 groups=data.get("groups", 1))
    a = F.relu(z) if data.get("activation") == "relu" else z
    pool = data.get("pool")
    p = a
    if pool is not None:
        p = (F.max_pool3d(a, pool["size"]) if pool["type"] == "max"
             else F.avg_pool3d(a, pool["size"]))
    y = t(data["target"]).reshape(p.shape)
    loss = F.mse_loss(p, y)
    loss.backward()
    assert x.grad is not None and k.grad is not None and b.grad is not None
    return {"output": p.detach(), "loss": loss.item(), "grad_filter": k.grad,
            "grad_bias": b.grad, "grad_input": x.grad}


def _floats(value: Any) -> list[float]:
    return [float(Fraction(v)) for v in oracle.flatten(value)] if isinstance(value, list) \
        else [float(value)]


@pytest.mark.parametrize("extra", [
    {},
    {"padding": 1, "stride": 2},
    {"activation": "relu", "pool": {"type": "max", "size": 1}},
    {"pool": {"type": "avg", "size": [1, 1, 2]}, "target": [[[[1]]], [[[2]]]]},
])
def test_a_batch_agrees_with_pytorch(extra: dict[str, Any]) -> None:
    data = {**BATCH, **extra}
    if "padding" in data:
        data["target"] = [[[[[0] * 2] * 2] * 2]] * 2
    got = solve(volumes_from_data(data))
    want = pytorch(data)
    for key in ("output", "loss", "grad_filter", "grad_bias", "grad_input"):
        expected = want[key]
        flat = [float(expected)] if isinstance(expected, float) else \
            expected.reshape(-1).tolist()
        assert _floats(got[key]) == pytest.approx(flat, rel=1e-12, abs=1e-12), key


def test_a_batch_of_several_channels_and_filters_in_groups_agrees_with_pytorch() -> None:
    data = {"dimensions": 3, "groups": 2,
            "input": [[[[[1, 2]]], [[[0, -1]]]], [[[[3, 1]]], [[[2, 2]]]],
                      [[[[0, 1]]], [[[1, 0]]]]],
            "filter": [[[[[1, -1]]]], [[[["0.5", 2]]]]], "bias": [0, 1],
            "target": [[[[[1]]], [[[0]]]], [[[[2]]], [[[1]]]], [[[[0]]], [[[3]]]]]}
    got = solve(volumes_from_data(data))
    want = pytorch(data)
    for key in ("output", "loss", "grad_filter", "grad_bias", "grad_input"):
        expected = want[key]
        flat = [float(expected)] if isinstance(expected, float) else \
            expected.reshape(-1).tolist()
        assert _floats(got[key]) == pytest.approx(flat, rel=1e-12), key


@st.composite
def batches(draw: Any) -> dict[str, Any]:
    """A small 3-D layer of any variant (groups, mode, padding forms, activation,
    pool) and a batch of 1 to 3 volumes with their targets, under any loss."""
    data = draw(variants())
    count = draw(st.integers(1, 3))
    shape, target = oracle.shape_of(data["input"]), oracle.shape_of(data["target"])
    inputs = [data["input"], *(_grid(draw, DYADIC, shape) for _ in range(count - 1))]
    targets = [data["target"], *(_grid(draw, DYADIC, target) for _ in range(count - 1))]
    return _spelled({**data, "input": inputs, "target": targets,
                     "loss": draw(st.sampled_from(["mse", "sse", "half_sse"]))})


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batches())
def test_batches_agree_with_the_loops_volume_by_volume(data: dict[str, Any]) -> None:
    batch = volumes_from_data(data)
    assert isinstance(batch, VolumeBatch)
    got = solve(batch)
    want = naive_batch(data)
    got = {key: value for key, value in got.items() if not key.startswith("updated")}
    if data.get("activation") in ("sigmoid", "tanh"):
        for key, value in want.items():
            oracle.assert_close(got[key], value, key, relative=1e-12)
    else:
        assert_same(got, want)
    assert all(check.ok for check in verify_batch(batch))
    answers = json.loads(json.dumps(solve(batch), default=str))
    assert mark_batch(batch, answers).correct


def test_the_derivation_works_each_volume_then_the_sum() -> None:
    worked = cnnstep.solve(BATCH)
    text = worked.to_text(width=100)
    assert "Worked solution: one 3-D convolution layer, a batch of 2 volumes" in text
    assert "Forward pass (volume 1)" in text and "Forward pass (volume 2)" in text
    assert "the mean is over all 2·2 = 4 entries of the 2 volumes" in " ".join(text.split())
    assert "Sum over the batch" in text
    assert "∂L/∂K₁₁₁ = ∂L/∂K₁₁₁⁽¹⁾ + ∂L/∂K₁₁₁⁽²⁾" in text
    assert "L = Σₙ L⁽ⁿ⁾" in text
    titles = [step.title for step in worked.derivation(only=["grad_input[1][0][0][1][2]"]).steps]
    assert titles == ["Given (volume 1)", "Given (volume 2)",
                      "Gradient with respect to the input (volume 2)"]
    titles = [step.title for step in worked.derivation(only=["updated_bias"]).steps]
    assert titles[-2:] == ["Sum over the batch", "Update"]
    brief = worked.to_text(detail="brief", width=100)
    assert "The other 7 entries of ∂L/∂K are worked out the same way." in brief


def test_training_steps_of_a_batch_agree_with_the_direct_route() -> None:
    batch = volumes_from_data({**BATCH, "steps": 3})
    assert isinstance(batch, VolumeBatch)
    result = solve(batch)
    assert [row["step"] for row in result["history"]] == [1, 2, 3]
    assert result["history"][0]["loss"] == result["loss"]
    assert all(check.ok for check in verify_batch(batch))


def test_training_a_batch_in_full_works_every_step_for_every_volume() -> None:
    worked = cnnstep.solve({**BATCH, "steps": 2})
    result = worked.result
    steps = worked.derivation().steps
    titles = [step.title for step in steps]
    for k in (1, 2):
        for n in (1, 2):
            assert f"Forward pass (volume {n}, training step {k} of 2)" in titles
        assert f"Sum over the batch (training step {k} of 2)" in titles
        assert f"Update (training step {k} of 2)" in titles
    assert not any("input (volume 1, training step 2" in title for title in titles)
    assert titles[-2:] == ["Sum over the batch (after training step 2)",
                           "Training: the loss and the weights at each of 2 steps"]
    sums = [block for block in steps[-2].blocks if isinstance(block, Equation)]
    assert sums[-1].value == Fraction(str(result["final_loss"]))
    later = next(step for step in steps
                 if step.title == "Forward pass (volume 1, training step 2 of 2)")
    opening = later.blocks[0]
    assert isinstance(opening, Text) and str(opening.parts[0]).startswith(
        "Training step 2 of 2 starts from the weights training step 1 updated")
    for shaped in (worked.derivation(detail="brief"), worked.derivation(only=["update"])):
        assert not any("training step 2" in step.title for step in shaped.steps)


def test_the_cli_solves_verifies_and_marks_a_batch(tmp_path: Path) -> None:
    path = tmp_path / "batch.json"
    path.write_text(json.dumps(BATCH))
    run = invoke("solve", path, "--format", "json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert len(result["output"]) == 2 and len(result["grad_input"]) == 2
    assert invoke("solve", path, "--verify").returncode == 0
    answers = tmp_path / "answers.json"
    wrong = {**result, "grad_output": [[[[-v for v in row] for row in volume[0]]]
                                       for volume in result["grad_output"]]}
    answers.write_text(json.dumps(wrong))
    run = invoke("check", path, answers, "--format", "json")
    assert run.returncode == 1
    report = json.loads(run.stdout)["quantities"]
    assert report["grad_output"]["diagnosis"]["code"] == "wrong_sign"
    assert report["output"]["correct"]


def test_the_work_limit_counts_every_volume(tmp_path: Path) -> None:
    path = tmp_path / "batch.json"
    path.write_text(json.dumps(BATCH))
    one = tmp_path / "one.json"
    one.write_text(json.dumps({**BATCH, "input": BATCH["input"][0],
                               "target": BATCH["target"][0]}))
    assert invoke("solve", one, "--format", "json", "--max-work", "5e3").returncode == 0
    run = invoke("solve", path, "--format", "json", "--max-work", "5e3")
    assert_one_line_error(run, "the batch of 2 3-D volumes")


@pytest.mark.parametrize(("change", "needles"), [
    ({"target": [[[[1, 0]]]]}, ("target", "[2][1][1][2] (a batch of 2 volumes)", "[1][1][1][2]")),
    ({"target": [[[[1, 0, 1]]], [[[2, 1, 1]]]]}, ("target", "[2][1][1][2]", "[2][1][1][3]")),
    ({"input": [[[[[1, 2, 0]]]], [[[[0, 1]]]]]}, ("input", "volume 2 is 1×1×1×2, volume 1 is")),
    ({"input": [[[[[1, "a", 0]]]]]}, ("input[0][0][0][0][1]", "number")),
    ({"filter": [[[[[[1]]]]]]}, ("filter", "6-D")),
])
def test_bad_batches_are_one_line(tmp_path: Path, change: dict[str, Any],
                                  needles: tuple[str, ...]) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({**BATCH, **change}))
    assert_one_line_error(invoke("solve", path, "--format", "json"), *needles)


# --------------------------------------------------------------------------
# a 3-D layer alone: no filter, the input straight to the activation and/or pool

ALONE = {"dimensions": 3, "input": [[[1, -2, 3], [0, 4, -1]], [[2, 1, -3], [5, 0, 1]]],
         "activation": "relu", "pool": {"type": "max", "size": [2, 1, 2], "stride": 1},
         "target": [[[3, 2], [1, 4]]]}


def naive_alone(data: dict[str, Any]) -> dict[str, Any]:
    """The naive loops with the (C, C, 1, 1, 1) identity as the filter: the input
    itself through the activation and pool; the convolution's keys dropped and
    dL/dX what came back."""
    x = data["input"]
    shape = oracle.shape_of(x)
    channels = shape[0] if len(shape) == 4 else 1
    identity = [[[[[1 if c == d else 0]]] for d in range(channels)] for c in range(channels)]
    got = oracle.naive_nd({**data, "filter": identity if len(shape) == 4 else [[[1]]]})
    return {key: value for key, value in got.items() if key not in
            ("conv", "grad_conv", "grad_filter", "grad_bias", "updated_filter",
             "updated_bias")}


def pytorch_alone(data: dict[str, Any]) -> dict[str, Any]:
    """max_pool3d/avg_pool3d (after relu) of the input itself, float64 autograd."""
    x = torch.tensor(oracle.floats(oracle.fr(data["input"])), dtype=torch.float64)
    batched = len(oracle.shape_of(data["input"])) == 5
    x = (x if batched else x.reshape((1,) * (5 - x.dim()) + tuple(x.shape)))
    x.requires_grad_(True)
    a = F.relu(x) if data.get("activation") == "relu" else x
    pool = data.get("pool")
    p = a
    if pool is not None:
        p = (F.max_pool3d(a, pool["size"], pool.get("stride")) if pool["type"] == "max"
             else F.avg_pool3d(a, pool["size"], pool.get("stride")))
    y = torch.tensor(oracle.floats(oracle.fr(data["target"])),
                     dtype=torch.float64).reshape(p.shape)
    loss = F.mse_loss(p, y)
    loss.backward()
    assert x.grad is not None
    return {"output": p.detach(), "loss": loss.item(), "grad_input": x.grad}


@pytest.mark.parametrize("data", [
    ALONE,
    {**ALONE, "activation": "relu", "pool": {"type": "avg", "size": 2}, "target": [[[1]]]},
    {key: value for key, value in ALONE.items() if key != "pool"} | {
        "target": [[[1, 0, 2], [0, 3, 0]], [[1, 1, 0], [4, 0, 0]]]},
    {key: value for key, value in ALONE.items() if key != "activation"},
    {**ALONE, "input": [ALONE["input"], [[[0, 1, 2], [3, -4, 5]], [[1, 1, 1], [-2, 2, 0]]]],
     "target": [[[[3, 2], [1, 4]]], [[[2, 2], [3, 1]]]]},
    {**ALONE, "input": [[ALONE["input"]], [[[[0, 1, 2], [3, -4, 5]], [[1, 1, 1], [-2, 2, 0]]]]],
     "target": [[[[[3, 2], [1, 4]]]], [[[[2, 2], [3, 1]]]]]},
], ids=["relu-max", "relu-avg", "relu", "max", "channels", "batch"])
def test_a_layer_alone_agrees_with_pytorch_and_the_loops(data: dict[str, Any]) -> None:
    layer = volumes_from_data(data)
    got = solve(layer) if isinstance(layer, VolumeBatch) else cnnstep.solve(data).result
    assert not {"conv", "grad_conv", "grad_filter", "grad_bias"} & set(got)
    want = pytorch_alone(data)
    for key in ("output", "loss", "grad_input"):
        expected = want[key]
        flat = [float(expected)] if isinstance(expected, float) else \
            expected.reshape(-1).tolist()
        assert _floats(got[key]) == pytest.approx(flat, rel=1e-12, abs=1e-12), key
    if not isinstance(layer, VolumeBatch):
        assert_same(got, naive_alone(data))
        assert all(check.ok for check in verify_volume(layer))
        assert mark_volume(layer, json.loads(json.dumps(got, default=str))).correct
    else:
        assert all(check.ok for check in verify_batch(layer))
        assert mark_batch(layer, json.loads(json.dumps(got, default=str))).correct


@st.composite
def alone_layers(draw: Any) -> dict[str, Any]:
    """A small volume, with or without its channel axis, through an activation
    and/or a pool, with a target or a given gradient."""
    size = tuple(draw(st.integers(1, 3)) for _ in range(3))
    channels = draw(st.integers(1, 2))
    with_axis = channels > 1 or draw(st.booleans())
    data: dict[str, Any] = {"dimensions": 3,
                            "input": _grid(draw, DYADIC, (channels, *size) if with_axis
                                           else size)}
    if draw(st.booleans()):
        data["activation"] = draw(st.sampled_from(["relu", "leaky_relu"]))
    last = size
    if "activation" not in data or draw(st.booleans()):
        window = [draw(st.integers(1, n)) for n in size]
        stride = [draw(st.integers(1, 2)) for _ in size]
        data["pool"] = {"type": draw(st.sampled_from(["max", "min", "avg"])),
                        "size": window, "stride": stride}
        last = tuple((n - k) // s + 1 for n, k, s in zip(size, window, stride, strict=True))
    key = draw(st.sampled_from(["target", "grad_output"]))
    data[key] = _grid(draw, DYADIC, (channels, *last) if with_axis else last)
    if key == "target":
        data["loss"] = draw(st.sampled_from(["mse", "sse", "half_sse"]))
    return _spelled(data)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(alone_layers())
def test_layers_alone_agree_with_the_loops(data: dict[str, Any]) -> None:
    layer = volumes_from_data(data)
    got = cnnstep.solve(data).result
    assert_same(got, naive_alone(data))
    assert all(check.ok for check in verify_volume(layer))  # type: ignore[arg-type]


def test_the_derivation_of_a_layer_alone_starts_at_its_activation() -> None:
    worked = cnnstep.solve(ALONE)
    titles = [step.title for step in worked.derivation().steps]
    assert titles == ["Given", "Activation: ReLU", "Pooling: max", "Loss",
                      "Gradient of the loss with respect to the output",
                      "Back through the pool", "Back through the activation"]
    text = worked.to_text(width=100)
    assert "Worked solution: 3-D activation and pooling" in text
    assert "No convolution: the input goes straight to the activation" in text
    assert "A₁₁₁ = max(0, X₁₁₁)" in text and "∂L/∂X₂₂₁ = ∂L/∂A₂₂₁×1" in text
    only = [step.title for step in worked.derivation(only=["grad_input[1][1][0]"]).steps]
    assert only == ["Given", "Back through the activation"]


@pytest.mark.parametrize(("change", "needles"), [
    ({"activation": None, "pool": None}, ("filter: missing", "activation or a pool")),
    ({"bias": 1}, ("bias", "no filter")),
    ({"stride": 2}, ("stride", "pool.stride")),
    ({"learning_rate": "0.1"}, ("learning_rate", "no weights")),
    ({"notation": {"output": "Z"}}, ("notation.output", "no convolution")),
    ({"target": [[[3, 2]]]}, ("target", "[1][2][2]")),
])
def test_bad_layers_alone_are_one_line(tmp_path: Path, change: dict[str, Any],
                                       needles: tuple[str, ...]) -> None:
    data = {key: value for key, value in {**ALONE, **change}.items() if value is not None}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    assert_one_line_error(invoke("solve", path, "--format", "json"), *needles)


def test_a_wrong_update_of_a_batch_is_diagnosed_with_the_sums() -> None:
    batch = volumes_from_data(BATCH)
    assert isinstance(batch, VolumeBatch)
    right = solve(batch)
    rate = Fraction(1, 10)
    added = Fraction(1, 2) + rate * right["grad_bias"]  # B + α·dL/dB, the sign turned
    report = mark_batch(batch, {"updated_bias": str(added)})
    marked = report.marked("updated_bias")
    assert marked is not None and marked.diagnosis is not None
    assert marked.diagnosis.code == "wrong_sign"


def test_symbolic_refuses_a_layer_alone_in_one_line() -> None:
    run = invoke("solve", "--sample", "maxpool3d-alone", "--symbolic")
    assert_one_line_error(run, "--symbolic")
