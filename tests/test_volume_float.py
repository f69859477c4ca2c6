"""Sigmoid and tanh after a 3-D convolution: float64, as for a 2-D layer.

The values agree with PyTorch's float64 ``conv3d`` and ``torch.sigmoid`` /
``torch.tanh`` (and a pool after them); the derivation and the JSON mark what
came through the float activation as rounded; ``--verify`` checks to 1e-9 and
``cnnstep check`` takes rounded answers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import oracle
import pytest
from helpers import F, invoke, needs_torch, torch

import cnnstep
from cnnstep import volume
from cnnstep.check.volume import mark_volume
from cnnstep.problem import volume_from_data
from cnnstep.verify_volume import verify_volume

pytestmark = needs_torch

SIGMOID = {"dimensions": 3,
           "input": [[[1, 2, 0], [0, 1, 3], [2, 1, 1]], [[0, 1, 1], [2, 0, 1], [1, 1, 0]],
                     [[1, 0, 2], [1, 1, 1], [0, 2, 1]]],
           "filter": [[[1, -1], [0, 1]], [[0, 1], [-1, 0]]], "bias": ["0.5"],
           "activation": "sigmoid", "target": [[[0, 1], [1, 0]], [[1, 0], [0, 1]]],
           "learning_rate": "0.1"}
TANH = {**{k: v for k, v in SIGMOID.items() if k != "target"}, "activation": "tanh",
        "pool": {"type": "max", "size": [1, 2, 2]},
        "grad_output": [[[1]], [[-1]]]}


def _torch(data: dict[str, Any]) -> dict[str, Any]:
    def t(values: Any) -> Any:
        return torch.tensor(oracle.floats(oracle.fr(values)), dtype=torch.float64)

    x = t([[data["input"]]]).requires_grad_(True)
    k = t([[data["filter"]]]).requires_grad_(True)
    b = t(data["bias"]).requires_grad_(True)
    z = F.conv3d(x, k, b)
    a = torch.sigmoid(z) if data["activation"] == "sigmoid" else torch.tanh(z)
    p = F.max_pool3d(a, (1, 2, 2)) if "pool" in data else a
    if "target" in data:
        loss = ((p - t([[data["target"]]])) ** 2).mean()
    else:
        loss = (p * t([[data["grad_output"]]])).sum()
    loss.backward()
    assert x.grad is not None and k.grad is not None and b.grad is not None
    out = {"output": p[0, 0].tolist(), "activated": a[0, 0].tolist(),
           "grad_filter": k.grad[0, 0].tolist(), "grad_bias": b.grad.tolist(),
           "grad_input": x.grad[0, 0].tolist()}
    if "target" in data:
        out["loss"] = loss.item()
    return out


@pytest.mark.parametrize("data", [SIGMOID, TANH], ids=["sigmoid", "tanh"])
def test_sigmoid_and_tanh_agree_with_pytorch_and_verify(data: dict[str, Any]) -> None:
    layer = volume_from_data(data)
    got = volume.solve(layer)
    for key, want in _torch(data).items():
        oracle.assert_close(got[key], want, key, relative=1e-12)
    for key, want in oracle.naive_nd(data).items():
        oracle.assert_close(got[key], want, key, relative=1e-12)
    checks = verify_volume(layer)
    assert all(check.ok for check in checks) and len(checks) >= 5


def test_the_derivation_marks_what_the_float_activation_reached() -> None:
    text = cnnstep.solve(SIGMOID).to_text(width=100)
    assert "Step 3: Activation: σ" in text
    assert "A₁₁₁ = σ(Z₁₁₁)\n     = σ(−0.5)\n     ≈ 0.377541" in text
    assert "σ′(z) = σ(z)(1 − σ(z)), from the float values of A" in " ".join(text.split())
    assert "∂L/∂Z₁₁₁ = ∂L/∂A₁₁₁×σ′(Z₁₁₁)\n         ≈ 0.0943852×0.377541×(1−0.377541)" in text
    assert "  ≈ 0.480197" in text  # the loss
    assert "Z₁₁₁" in text.split("Step 3")[0] and "≈" not in text.split("Step 3")[0]
    tanh = cnnstep.solve(TANH).to_text(width=100)
    assert "≈ 1×(1−(−0.462117)²)" not in tanh  # the pool sends ∂L/∂P to its winners only
    assert "tanh′(z) = 1 − tanh(z)²" in " ".join(tanh.split())
    # ∂L/∂P is given: back through the max pool it stays exact
    assert "≈" not in tanh.split("Back through the pool")[1].split("Back through the activ")[0]


def test_the_json_rounds_the_float_values_only(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(SIGMOID))
    run = invoke("solve", path, "--format", "json")
    assert run.returncode == 0, run.stderr
    lines = {line.split(":")[0].strip().strip('"'): line for line in run.stdout.splitlines()}
    assert lines["conv"].endswith("[[[-0.5, 6.5], [-0.5, -0.5]], [[-1.5, 2.5], [4.5, -1.5]]],")
    assert '"loss": 0.48019659563362271,' in run.stdout
    assert len(lines["grad_bias"]) < 60
    verified = invoke("solve", path, "--verify")
    assert verified.returncode == 0, verified.stdout
    assert "Z: verified by direct evaluation (8 entries)" in verified.stdout
    assert "dL/dX: verified by direct differentiation, to 1e-9 (floating point)" \
        in verified.stdout


def test_rounded_answers_are_marked_right() -> None:
    layer = volume_from_data(SIGMOID)
    report = mark_volume(layer, {
        "activated": [[["0.3775", "0.9985"], ["0.3775", "0.3775"]],
                      [["0.1824", "0.9241"], ["0.9890", "0.1824"]]],
        "loss": "0.4802"})
    marks = {q.key: q for q in report.quantities}
    # the last stage is asked once, as the output, whatever name it is answered under
    assert "activated" not in marks and marks["output"].right == 8
    assert not marks["output"].mismatches and not marks["loss"].mismatches
