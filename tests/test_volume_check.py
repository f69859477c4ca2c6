"""``cnnstep check`` on a 3-D layer: the marking rule and the diagnoses.

Every wrong answer here is made by PyTorch's ``conv3d`` (float64 autograd) the
way the mistake makes it, never by the marker's own recomputation: the kernel
flipped along all three axes, the un-rotated kernel in dL/dX, the stride-1
correlation of an un-spread dL/dZ, and so on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import SAMPLES, F, assert_one_line_error, invoke, needs_torch, torch

from cnnstep.check.volume import mark_volume
from cnnstep.problem import volume_from_data

pytestmark = needs_torch

SMALL = json.loads((SAMPLES / "conv3d-small.json").read_text())
#: two channels, two filters, a stride of 2 along the rows and columns
STRIDED = {
    "dimensions": 3,
    "input": [[[[1, 0, 2, 1], [0, 1, 1, 0], [2, 1, 0, 1], [1, 1, 0, 2]],
               [[0, 2, 1, 1], [1, 0, 0, 2], [1, 1, 2, 0], [0, 1, 1, 1]]],
              [[[2, 0, 1, 0], [1, 1, 0, 1], [0, 2, 1, 1], [1, 0, 1, 0]],
               [[1, 1, 0, 2], [0, 1, 2, 1], [2, 0, 1, 0], [1, 2, 0, 1]]]],
    "filter": [[[[[1, 0], [0, -1]]], [[["0.5", 1], [0, "0.5"]]]],
               [[[[0, 1], [1, 0]]], [[[-1, "0.5"], [1, 0]]]]],
    "bias": [1, "-0.5"],
    "stride": [1, 2, 2],
    "target": [[[[1, 0], [0, 1]], [[0, 1], [1, 0]]], [[[2, 1], [1, 0]], [[0, 0], [1, 1]]]],
    "learning_rate": "0.5",
}


def t(a: Any) -> Any:
    """An exact array as a float64 tensor."""
    return torch.tensor([float(v) for v in a.flat], dtype=torch.float64).reshape(a.shape)


def tensors(data: dict[str, Any]) -> tuple[Any, Any, Any]:
    layer = volume_from_data(data)
    bias = t(layer.bias) if layer.bias is not None else None
    return t(layer.input)[None], t(layer.filter), bias


def pytorch(data: dict[str, Any], *, flip: bool = False, bias: bool = True,
            sse: bool = False) -> dict[str, Any]:
    """The layer's quantities by conv3d autograd, in the full layout."""
    x, k, b = tensors(data)
    x.requires_grad_(True)
    weight = (k.flip(2, 3, 4) if flip else k).requires_grad_(True)
    z = F.conv3d(x, weight, b if bias else None, stride=volume_from_data(data).stride)
    exact = volume_from_data(data).target
    assert exact is not None
    target = t(exact)
    squares = ((z - target.reshape(z.shape)) ** 2)
    loss = squares.sum() if sse else squares.mean()
    z.retain_grad()
    loss.backward()
    assert x.grad is not None and weight.grad is not None and z.grad is not None
    return {"output": z[0].detach(), "loss": loss.detach(), "grad_output": z.grad[0],
            "grad_filter": weight.grad, "grad_input": x.grad[0], "k": k, "b": b}


def _shape(nested: Any) -> tuple[int, ...]:
    return (len(nested), *_shape(nested[0])) if isinstance(nested, list) else ()


def listed(value: Any) -> Any:
    """A tensor as numbers written to 10 decimals, as a student writes them."""
    rounded = value.detach().round(decimals=10)
    return rounded.item() if rounded.ndim == 0 else rounded.tolist()


def answers_of(data: dict[str, Any]) -> dict[str, Any]:
    from cnnstep import volume

    return json.loads(json.dumps(volume.solve(volume_from_data(data)),
                                 default=lambda f: str(f)))


def diagnosis(data: dict[str, Any], answers: dict[str, Any], key: str) -> str | None:
    """The diagnosis of a wrong ``key``; tensors are given in the user's shapes."""
    shapes = answers_of(data)
    answers = {name: value if not hasattr(value, "reshape")
               else listed(value.reshape(_shape(shapes[name]))) for name, value in answers.items()}
    report = mark_volume(volume_from_data(data), answers)
    marked = next(q for q in report.quantities if q.key == key)
    assert not marked.correct
    return marked.diagnosis.code if marked.diagnosis else None


def test_right_answers_score_every_point() -> None:
    report = mark_volume(volume_from_data(SMALL), answers_of(SMALL))
    assert report.correct and report.points == report.max_points == 8
    assert report.total == 62


def test_true_convolution_then_carried_forward() -> None:
    flipped = pytorch(SMALL, flip=True)
    answers = {"output": flipped["output"], "loss": flipped["loss"]}
    assert diagnosis(SMALL, answers, "output") == "true_convolution"
    assert diagnosis(SMALL, answers, "loss") == "carried_forward"


def test_bias_omitted() -> None:
    answers = {"output": pytorch(SMALL, bias=False)["output"]}
    assert diagnosis(SMALL, answers, "output") == "bias_omitted"


def test_loss_mistakes() -> None:
    right, summed = pytorch(SMALL), pytorch(SMALL, sse=True)
    assert diagnosis(SMALL, {"loss": summed["loss"]}, "loss") == "mse_not_averaged"
    half = right["grad_output"] / 2
    assert diagnosis(SMALL, {"grad_output": half}, "grad_output") == \
        "missing_factor_two"
    assert diagnosis(SMALL, {"grad_output": -right["grad_output"]},
                     "grad_output") == "wrong_sign"
    added = right["k"] + 0.1 * right["grad_filter"]
    assert diagnosis(SMALL, {"updated_filter": added},
                     "updated_filter") == "wrong_sign"


def test_bias_averaged() -> None:
    grad = pytorch(SMALL)["grad_output"]
    answers = {"grad_bias": float(grad.sum() / grad.numel())}
    assert diagnosis(SMALL, answers, "grad_bias") == "bias_averaged"


def test_kernel_not_rotated() -> None:
    """dL/dX through the flipped kernel, with the right dL/dZ: the un-rotated kernel."""
    right = pytorch(SMALL)
    x, k, _ = tensors(SMALL)
    x.requires_grad_(True)
    F.conv3d(x, k.flip(2, 3, 4)).backward(right["grad_output"][None])
    assert x.grad is not None
    answers = {"grad_input": x.grad[0]}
    assert diagnosis(SMALL, answers, "grad_input") == "kernel_not_rotated"


def test_stride_not_dilated() -> None:
    """dL/dK as the stride-1 correlation of X with the un-spread dL/dZ."""
    right = pytorch(STRIDED)
    x, k, _ = tensors(STRIDED)
    grad = right["grad_output"]
    corr = F.conv3d(x[0][:, None], grad[:, None])  # (C, F, …)
    wrong = corr.transpose(0, 1)[:, :, :k.shape[2], :k.shape[3], :k.shape[4]]
    assert diagnosis(STRIDED, {"grad_filter": wrong}, "grad_filter") == \
        "stride_not_dilated"
    # the same un-spread dL/dZ sent back by conv_transpose3d with stride 1, zero-filled
    sent = F.conv_transpose3d(grad[None], k)[0]
    back = torch.zeros_like(right["grad_input"])
    back[:, :sent.shape[1], :sent.shape[2], :sent.shape[3]] = sent
    assert diagnosis(STRIDED, {"grad_input": back}, "grad_input") == \
        "stride_not_dilated"


def test_strided_right_answers_are_right() -> None:
    right = pytorch(STRIDED)
    answers = {key: listed(right[key]) for key in ("output", "grad_output", "grad_filter",
                                                   "grad_input")}
    report = mark_volume(volume_from_data(STRIDED), answers)
    assert all(q.correct for q in report.quantities if q.key in answers)


def test_cli_marks_a_file_and_the_problem_s_own_answers(tmp_path: Path) -> None:
    answers = answers_of(SMALL)
    answers["grad_bias"] = "3"
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(answers))
    problem = tmp_path / "volume.json"
    problem.write_text(json.dumps(SMALL))
    run = invoke("check", problem, path)
    assert run.returncode == 1, run.stderr
    assert "grad_bias" in run.stdout and "Score: 7 of 8 points" in run.stdout
    report = json.loads(invoke("check", problem, path, "--format", "json").stdout)
    assert report["quantities"]["grad_bias"]["mismatches"][0]["expected"] == 3.125
    problem.write_text(json.dumps({**SMALL, "answers": answers_of(SMALL)}))
    assert invoke("check", problem).returncode == 0


def test_cli_refusals(tmp_path: Path) -> None:
    problem = tmp_path / "volume.json"
    problem.write_text(json.dumps(SMALL))
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps(answers_of(SMALL)))
    assert_one_line_error(invoke("check", problem, answers, answers, "--format", "gradescope"),
                          "--format gradescope", "one submission")


def test_cli_unknown_key(tmp_path: Path) -> None:
    problem = tmp_path / "volume.json"
    problem.write_text(json.dumps({**SMALL, "answers": {"activation": [1]}}))
    assert_one_line_error(invoke("check", problem), "answers: activation")


def test_the_output_after_an_activation_is_written_with_its_letter(tmp_path: Path) -> None:
    """With a ReLU, the result's ``output`` is A, and its gradient ∂L/∂A, not Z's."""
    problem = tmp_path / "relu.json"
    problem.write_text(json.dumps({
        "dimensions": 3, "input": [[[1, 2], [3, 4]], [[0, 1], [1, 0]]], "filter": [[[1]]],
        "activation": "relu", "target": [[[1, 1], [1, 1]], [[1, 1], [1, 1]]],
        "answers": {"output": [[[1, 2], [3, 4]], [[0, 1], [1, 0]]]}}), encoding="utf-8")
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip()
            for line in invoke("check", problem).stdout.splitlines() if line.count("│") > 3}
    assert rows["output"] == "A" and rows["grad_output"] == "∂L/∂A"
    assert rows["conv"] == "Z" and rows["grad_conv"] == "∂L/∂Z"
