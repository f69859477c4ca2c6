"""Batches of images: an input [N][C][H][W] through the same layer.

The engine against the naive loops of ``oracle.naive_batch`` (exact) and against
PyTorch's ``conv2d`` on [N, C, H, W] with float64 autograd and ``mse_loss``'s
``reduction="mean"`` (exact numbers compared), on random batches; the verifier,
training steps, the marker, selections, the refusals of bad shapes, and what the
worked solution says.
"""

from __future__ import annotations

import json
from fractions import Fraction
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from helpers import DYADIC, _grid, assert_one_line_error, engine_result, invoke, stringified
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import assert_close, assert_exact, naive_batch
from test_torch_oracle import torch_batch

from cnnstep.derivation import Equation, derive
from cnnstep.engine import solve
from cnnstep.problem import problem_from_data
from cnnstep.render import Options, renderer
from cnnstep.verify import verify

PROPERTY = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
#: PyTorch's autograd costs more per example than the loops
TORCH = settings(PROPERTY, max_examples=12)


@st.composite
def batch_problems(draw: Any) -> dict[str, Any]:
    """A random batch: 1 to 3 images, one or two channels and filters, a stride and a
    padding, a ReLU and a max pool sometimes, a target (any loss) or a given dL/dZ."""
    images, channels, filters = draw(st.integers(1, 3)), draw(st.integers(1, 2)), \
        draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    padding, stride = draw(st.integers(0, 1)), draw(st.integers(1, 2))
    height = draw(st.integers(max(1, kh - 2 * padding), kh + 2))
    width = draw(st.integers(max(1, kw - 2 * padding), kw + 2))
    oh = (height + 2 * padding - kh) // stride + 1
    ow = (width + 2 * padding - kw) // stride + 1
    filter_rank = 4 if filters > 1 else draw(st.sampled_from([3, 4] if channels > 1
                                                             else [2, 3, 4]))
    kernel = _grid(draw, DYADIC, (filters, channels, kh, kw))
    for _ in range(4 - filter_rank):
        kernel = kernel[0]
    data: dict[str, Any] = {
        "input": _grid(draw, DYADIC, (images, channels, height, width)),
        "filter": kernel, "stride": stride, "padding": padding,
    }
    if draw(st.booleans()):
        data["bias"] = (draw(DYADIC) if filters == 1 and draw(st.booleans())
                        else draw(st.lists(DYADIC, min_size=filters, max_size=filters)))
    if draw(st.booleans()):
        data["activation"] = "relu"
    last = (oh, ow)
    if oh >= 2 and ow >= 2 and draw(st.booleans()):
        data["pool"] = {"type": "max", "size": 2, "stride": 1}
        last = (oh - 1, ow - 1)
    shape = (images, filters, *last) if filter_rank == 4 else (images, *last)
    if draw(st.booleans()):
        data["target"] = _grid(draw, DYADIC, shape)
        data["loss"] = draw(st.sampled_from(["mse", "sse", "half_sse"]))
        data["learning_rate"] = "1/4"
    elif draw(st.booleans()):
        data["grad_output"] = _grid(draw, DYADIC, shape)
    return stringified(data)



@PROPERTY
@given(batch_problems())
def test_batch_matches_the_naive_loops(data: dict[str, Any]) -> None:
    got = engine_result(problem_from_data(data))
    want = naive_batch(data)
    assert set(got) == set(want)
    for key, value in got.items():
        assert_exact(value, want[key], key)


@pytest.mark.skipif(find_spec("torch") is None,
                    reason="PyTorch is not installed; the float64 autograd oracle is skipped")
@TORCH
@given(batch_problems())
def test_batch_matches_torch(data: dict[str, Any]) -> None:
    import torch

    torch.set_num_threads(1)
    got = engine_result(problem_from_data(data))
    want = torch_batch(torch, data)
    for key, value in want.items():
        assert_close(got[key], value, key)


def test_mse_averages_over_every_image() -> None:
    """Two images of one entry each: L = ((z₁ − y₁)² + (z₂ − y₂)²)/2, and dL/dK adds
    both images' parts."""
    solution = solve(problem_from_data({
        "input": [[[[1]]], [[[2]]]], "filter": [[3]], "target": [[[1]], [[2]]]}))
    assert solution.loss == Fraction(2 ** 2 + 4 ** 2, 2)
    assert solution.grad_conv.tolist() == [[[[2]]], [[[4]]]]
    assert solution.grad_filter.tolist() == [[[[2 * 1 + 4 * 2]]]]
    assert solution.grad_input.tolist() == [[[[6]]], [[[12]]]]


def test_the_verifier_checks_a_batch() -> None:
    problem = problem_from_data(SAMPLE)
    checks = verify(problem)
    assert [check.key for check in checks] == ["output", "loss", "grad_filter", "grad_bias",
                                               "grad_input"]
    assert all(check.ok for check in checks)
    assert checks[-1].entries == 2 * 3 * 3


def test_training_a_batch_uses_the_same_images_each_step() -> None:
    data = {**SAMPLE, "steps": 3}
    solution = solve_trained(data)
    step_two = naive_batch({**SAMPLE, "filter": _nested(solution.history[0][1:5]),
                            "bias": str(solution.history[0][5])})
    assert solution.history[1][0] == step_two["loss"]
    assert all(check.ok for check in verify(problem_from_data(data)))


def test_training_a_batch_in_full_works_every_step_for_every_image() -> None:
    data = {**SAMPLE, "steps": 2}
    solution = solve_trained(data)
    titles = [step.title for step in derive(solution).steps]
    for k in (1, 2):
        for n in (1, 2):
            assert f"Forward pass (image {n}, training step {k} of 2)" in titles
            assert f"Gradient with respect to the kernel (image {n}, training step {k} of 2)" \
                in titles
        assert f"Sum over the batch (training step {k} of 2)" in titles
        assert f"Update (training step {k} of 2)" in titles
    # dL/dX, which training does not use, is worked at step 1 alone
    assert "Gradient with respect to the input (image 1, training step 1 of 2)" in titles
    assert not any("input (image 1, training step 2" in title for title in titles)
    # the final loss: each image's at the last update's weights, then their sum
    assert titles[-3:] == ["Loss (image 2, after training step 2)",
                           "Sum over the batch (after training step 2)",
                           "Training: the loss and the weights at each of 2 steps"]
    final = derive(solution).steps[-2]
    sums = [block for block in final.blocks if isinstance(block, Equation)]
    assert sums[-1].value == solution.final_loss
    assert solution.after is not None and sums[-1].value == solution.after.loss
    brief = [step.title for step in derive(solution, detail="brief").steps]
    assert not any("training step 2 of 2" in title for title in brief)


def solve_trained(data: dict[str, Any]) -> Any:
    from cnnstep.training import train

    return train(problem_from_data(data))


def _nested(values: Any) -> list[list[str]]:
    flat = [str(v) for v in values]
    return [flat[:2], flat[2:]]


#: the shipped sample, read from its file
SAMPLE: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "cnnstep" / "samples" / "batch-2-images.json").read_text())


def _text(data: dict[str, Any], **options: Any) -> str:
    return renderer("text").derivation(derive(solve(problem_from_data(data)), **options),
                                       Options(width=200))


def test_the_derivation_works_each_image_then_the_sum() -> None:
    text = _text(SAMPLE)
    assert "Worked solution: one convolution layer, a batch of 2 images" in text
    assert "Forward pass (image 1)" in text and "Forward pass (image 2)" in text
    assert "Sum over the batch" in text
    assert "∂L/∂K = Σₙ ∂L/∂K⁽ⁿ⁾ = ∂L/∂K⁽¹⁾ + ∂L/∂K⁽²⁾" in text
    assert "L = Σₙ L⁽ⁿ⁾" in text
    assert "the mean is over all 2·4 = 8 entries of the 2 images" in text
    solution = solve(problem_from_data(SAMPLE))
    first, second = (image.grad_filter[0, 0, 0, 0] for image in solution.images)
    assert solution.grad_filter[0, 0, 0, 0] == first + second
    assert f"= {_shown(first)} + {_shown(second)}" in text.replace("(", "").replace(")", "")


def _shown(value: Fraction) -> str:
    from cnnstep.numbers import display

    return display(value).replace("-", "−")


def test_image_numbers_follow_the_notation() -> None:
    text = _text({**SAMPLE, "notation": {"input": "I", "filter": "W", "output": "Output",
                                         "index_base": 0}})
    assert "Forward pass (image 0)" in text and "Forward pass (image 1)" in text
    assert "∂L/∂W⁽⁰⁾ + ∂L/∂W⁽¹⁾" in text


def test_an_entry_of_one_image_is_selected_with_the_image_axis() -> None:
    text = _text(SAMPLE, only=["grad_input[1][0][0][0]"])
    assert "(image 2)" in text and "(image 1)" not in text


def test_check_marks_the_batched_shapes_and_diagnoses(tmp_path: Path) -> None:
    result = engine_result(problem_from_data(SAMPLE))
    answers = {"output": _plain(result["output"]), "grad_filter": _plain(
        [list(row) for row in zip(*result["grad_filter"], strict=True)])}
    problem, marked = tmp_path / "p.json", tmp_path / "a.json"
    problem.write_text(json.dumps(SAMPLE))
    marked.write_text(json.dumps(answers))
    run = invoke("check", problem, marked, "--format", "json")
    report = json.loads(run.stdout)
    assert report["quantities"]["output"]["correct"]
    assert report["quantities"]["grad_filter"]["diagnosis"]["code"] == "transposed"


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return str(value)


BAD = {
    "target-images": ({"target": [[[1, 2], [3, 4]]]}, ("target", "[2][2][2]", "[1][2][2]")),
    "target-rank": ({"target": [[1, 2], [3, 4]]}, ("target", "3-D or a 4-D")),
    "grad-output-size": ({"grad_output": [[[1, 2, 3], [3, 4, 5]], [[1, 2, 3], [3, 4, 5]]]},
                         ("grad_output", "[2][2][2]", "[2][2][3]")),
    "image-sizes": ({"input": [[[[1, 2, 3], [4, 5, 6], [7, 8, 9]]], [[[1, 2], [3, 4]]]]},
                    ("input", "image 2")),
    "channels": ({"input": [[[[1, 2, 3]] * 3] * 2] * 2}, ("filter", "input has 2")),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_batch_is_one_line(tmp_path: Path, case: str) -> None:
    change, needles = BAD[case]
    data = {key: value for key, value in SAMPLE.items() if key != "target"}
    path = tmp_path / "p.json"
    path.write_text(json.dumps({**data, **change}))
    assert_one_line_error(invoke("solve", path, "--format", "json"), *needles)


def test_symbolic_works_out_a_batch_image_by_image() -> None:
    sample = Path(__file__).parent.parent / "cnnstep" / "samples" / "batch-2-images.json"
    run = invoke("solve", sample, "--symbolic")
    assert run.returncode == 0, run.stderr
    assert "Forward pass in symbols, image 2" in run.stdout


def _report(tmp_path: Path, problem: dict[str, Any], answers: dict[str, Any],
            *more: str) -> Any:
    files = tmp_path / "p.json", tmp_path / "a.json"
    files[0].write_text(json.dumps(problem))
    files[1].write_text(json.dumps(answers))
    return invoke("check", *files, *more)


def _codes(run: Any) -> dict[str, str | None]:
    report = json.loads(run.stdout)
    return {key: (value["diagnosis"] or {}).get("code")
            for key, value in report["quantities"].items()}


def test_diagnoses_of_a_batch_are_made_in_every_image(tmp_path: Path) -> None:
    """dL/dX with the kernel as it is, in both images (the true dL/dX of the kernel
    rotated, for the same dL/dZ), a dL/dZ without its factor 2, and dL/dK worked out
    from a wrong dL/dZ (follow-through)."""
    right = naive_batch(SAMPLE)
    grad = [[[str(v) for v in row] for row in image] for image in right["grad_output"]]
    rotated = {**SAMPLE, "filter": [row[::-1] for row in SAMPLE["filter"][::-1]],
               "grad_output": grad}
    del rotated["target"], rotated["learning_rate"]
    unrotated = naive_batch(rotated)["grad_input"]
    half = [[[str(v / 2) for v in row] for row in image] for image in right["grad_output"]]
    from_half = naive_batch({**{k: v for k, v in SAMPLE.items()
                                if k not in ("target", "learning_rate")},
                             "grad_output": half})["grad_filter"]
    answers = {"grad_input": _plain(unrotated), "grad_output": half,
               "grad_filter": _plain(from_half)}
    run = _report(tmp_path, SAMPLE, answers, "--format", "json")
    assert _codes(run) == {"grad_output": "missing_factor_two",
                           "grad_filter": "carried_forward", "grad_input": "kernel_not_rotated",
                           **{key: None for key in _codes(run)
                              if key not in ("grad_output", "grad_filter", "grad_input")}}
    text = _report(tmp_path, SAMPLE, answers)
    assert text.returncode == 1 and "Traceback" not in text.stderr
    assert "rot180(K)" in text.stdout


def test_a_strided_batch_with_a_pool_is_marked_and_shown(tmp_path: Path) -> None:
    data = {"input": [[[[1, 2, 0, 1], [0, 1, 3, 1], [2, 1, 1, 0], [1, 0, 2, 2]]],
                      [[[0, 1, 2, 1], [1, 0, 1, 3], [3, 2, 0, 1], [2, 1, 0, 0]]]],
            "filter": [[1, 0], [-1, 2]], "stride": 2, "activation": "relu",
            "pool": {"type": "max", "size": 2}, "target": [[[1]], [[2]]]}
    problem = problem_from_data(data)
    assert all(check.ok for check in verify(problem))
    right = naive_batch(data)
    run = _report(tmp_path, data, {"grad_input": _plain(right["grad_input"]),
                                   "output": _plain(right["output"])}, "--format", "json")
    marked = json.loads(run.stdout)["quantities"]
    assert marked["grad_input"]["correct"] and marked["output"]["correct"]
    text = _text(data)
    assert "Back through the pool (image 2)" in text and "Sum over the batch" in text


def test_brief_works_one_entry_of_each_step_of_each_image() -> None:
    brief = derive(solve(problem_from_data(SAMPLE)), detail="brief")
    for step in brief.steps:
        worked = [block.entry[0] for block in step.blocks
                  if isinstance(block, Equation) and block.entry is not None and block.forms]
        if step.key == "batch":  # the loss, one entry of dL/dK, dL/dB
            assert worked == ["loss", "grad_filter", "grad_bias"], worked
        else:
            assert len(worked) == len(set(worked)), (step.title, worked)
    titles = [step.title for step in brief.steps]
    assert "Forward pass (image 2)" in titles and titles[-1] == "Update"


def test_the_work_of_a_batch_is_its_largest_image_times_n() -> None:
    from cnnstep import budget

    problem = problem_from_data(SAMPLE)
    one = budget.solve_estimate(budget.one_image(problem)).operations
    assert budget.solve_estimate(problem).operations == pytest.approx(2 * one)
    big = {**SAMPLE, "input": [SAMPLE["input"][0]] * 3000,
           "target": [SAMPLE["target"][0]] * 3000}
    with pytest.raises(budget.WorkLimitError):
        budget.check_solve(problem_from_data(big), 10**6)


@PROPERTY
@given(batch_problems())
def test_the_integer_path_of_a_batch_matches_the_fraction_path(data: dict[str, Any]) -> None:
    from cnnstep.result import result, scaled_result

    loaded = problem_from_data(data)
    scaled = scaled_result(loaded)
    full = result(solve(loaded))
    activation = loaded.layer.activation
    if activation is not None and not activation.exact:  # sigmoid, tanh: floats
        assert scaled is None
        return
    assert scaled is not None and set(scaled) == set(full)
    for key, value in scaled.items():
        if isinstance(value, Fraction):
            assert value == full[key], key
        else:
            assert value.fractions.tolist() == full[key], key


def test_a_shortened_image_step_names_an_entry_with_its_image() -> None:
    from cnnstep.derivation import Omitted

    worked = derive(solve(problem_from_data(SAMPLE)), max_terms=10)
    examples = {block.example for step in worked.steps for block in step.blocks
                if isinstance(block, Omitted)}
    assert {"output[0][0][1]", "output[1][0][1]", "grad_filter[0][1]"} <= examples


def test_the_sum_step_asked_by_its_name_works_out_its_sums() -> None:
    """``--only batch``: the loss and every entry of ∂L/∂K and ∂L/∂B, image by image."""
    from cnnstep.derivation import Equation

    worked = derive(solve(problem_from_data(SAMPLE)), only=("batch",))
    assert [step.key for step in worked.steps] == ["batch"]
    entries = {block.entry for block in worked.steps[0].blocks if isinstance(block, Equation)}
    assert ("loss", ()) in entries
    assert {("grad_filter", (0, 0, i, j)) for i in range(2) for j in range(2)} <= entries
    assert ("grad_bias", (0,)) in entries
