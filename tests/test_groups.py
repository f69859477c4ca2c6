"""Grouped and depthwise convolutions: each filter sees only its group's channels.

The engine against the naive loops of ``oracle`` (exact) and against PyTorch's
``conv2d(..., groups=G)`` with float64 autograd, on random problems; the
integer path against the Fraction path; the verifier; the refusals of a bad
``groups``; and what the worked solution says about the groups.
"""

from __future__ import annotations

import json
from importlib.util import find_spec
from typing import Any

import oracle
import pytest
from helpers import (
    DYADIC,
    _grid,
    assert_one_line_error,
    engine_result,
    integer_path_is_the_fraction_path,
    invoke,
    matches_the_naive_loops,
    stringified,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import Spec, spec_from_data, user_shaped
from test_torch_oracle import torch_layer

from cnnstep.engine import solve
from cnnstep.problem import problem_from_data
from cnnstep.result import result

PROPERTY = settings.get_profile("layer")


@st.composite
def grouped_problems(draw: Any, layers: bool = False) -> tuple[dict[str, Any], Spec]:
    """A random grouped layer in the full layout, with a target or a given dL/dZ;
    with ``layers``, maybe a ReLU and a max pool of 1×1 or 2×2 after it."""
    groups = draw(st.integers(1, 3))
    per_channel, per_filter = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    channels, filters = groups * per_channel, groups * per_filter
    kh, kw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    dilation = draw(st.integers(1, 2))
    padding = (draw(st.integers(0, 1)), draw(st.integers(0, 1)))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    spans = (dilation * (kh - 1) + 1, dilation * (kw - 1) + 1)
    height = draw(st.integers(max(1, spans[0] - 2 * padding[0]), spans[0] + 2))
    width = draw(st.integers(max(1, spans[1] - 2 * padding[1]), spans[1] + 2))
    oh = (height + 2 * padding[0] - spans[0]) // stride[0] + 1
    ow = (width + 2 * padding[1] - spans[1]) // stride[1] + 1
    data: dict[str, Any] = {
        "input": _grid(draw, DYADIC, (channels, height, width)),
        "filter": _grid(draw, DYADIC, (filters, per_channel, kh, kw)),
        "groups": groups, "stride": list(stride), "padding": list(padding),
        "dilation": dilation,
    }
    if draw(st.booleans()):
        data["bias"] = draw(st.lists(DYADIC, min_size=filters, max_size=filters))
    if layers and draw(st.booleans()):
        data["activation"] = "relu"
    if layers and draw(st.booleans()):
        size = draw(st.integers(1, min(2, oh, ow)))
        data["pool"] = {"type": "max", "size": size, "stride": 1}
        oh, ow = oh - size + 1, ow - size + 1
    if draw(st.booleans()):
        data["target"] = _grid(draw, DYADIC, (filters, oh, ow))
        data["loss"] = draw(st.sampled_from(["mse", "sse", "half_sse"]))
        data["learning_rate"] = "1/4"
    else:
        data["grad_output"] = _grid(draw, DYADIC, (filters, oh, ow))
    data = stringified(data)
    return data, spec_from_data(data)


@PROPERTY
@given(grouped_problems(layers=True))
def test_grouped_layer_matches_the_naive_loops(problem: tuple[dict[str, Any], Spec]) -> None:
    matches_the_naive_loops(*problem)


@PROPERTY
@given(grouped_problems())
def test_grouped_integer_path_matches_the_fraction_path(
        problem: tuple[dict[str, Any], Spec]) -> None:
    integer_path_is_the_fraction_path(problem_from_data(problem[0]))


@pytest.mark.skipif(find_spec("torch") is None,
                    reason="PyTorch is not installed; the float64 autograd oracle is skipped")
@PROPERTY
@given(grouped_problems(layers=True))
def test_grouped_layer_matches_torch(problem: tuple[dict[str, Any], Spec]) -> None:
    import torch

    data, spec = problem
    got = engine_result(problem_from_data(data))
    want = torch_layer(torch, spec)
    for key, value in got.items():
        oracle.assert_close(value, user_shaped(key, want[key], spec), key)


@PROPERTY
@given(grouped_problems(layers=True))
def test_verify_agrees_on_grouped_layers(problem: tuple[dict[str, Any], Spec]) -> None:
    from cnnstep.verify import verify

    checks = verify(problem_from_data(problem[0]))
    assert checks and all(check.ok for check in checks), checks


def test_depthwise_by_hand() -> None:
    """groups = C = F: each filter reads its own channel, and each channel's gradient
    comes from its own filter only."""
    solution = solve(problem_from_data({
        "input": [[[1, 2], [3, 4]], [[5, 6], [7, 8]]],
        "filter": [[[[1, 0], [0, 1]]], [[[0, 1], [1, 0]]]], "groups": 2,
        "grad_output": [[[1]], [[2]]]}))
    assert solution.conv.tolist() == [[[1 + 4]], [[6 + 7]]]
    assert solution.grad_filter.tolist() == [[[[1, 2], [3, 4]]], [[[10, 12], [14, 16]]]]
    assert solution.grad_input.tolist() == [[[1, 0], [0, 1]], [[0, 2], [2, 0]]]


@pytest.mark.parametrize(("groups", "filter_channels", "needles"), [
    (0, 2, ("groups", "integer ≥ 1")),
    ("2", 2, ("groups", "integer ≥ 1")),
    (1.5, 2, ("groups", "integer ≥ 1")),
    ([2], 2, ("groups", "integer ≥ 1")),
    (3, 2, ("groups", "3 does not divide the 4 input channels")),
    (4, 1, ("groups", "4 does not divide the 2 filters")),
    (2, 4, ("filter", "has 4 channels", "C/groups = 4/2 = 2", "[F][2][kh][kw]")),
])
def test_bad_groups_is_one_line(tmp_path: Any, groups: Any, filter_channels: int,
                                needles: tuple[str, ...]) -> None:
    data = {"input": [[[1, 2], [3, 4]]] * 4, "filter": [[[[1]]] * filter_channels] * 2,
            "groups": groups}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    run = invoke("solve", path, "--format", "json")
    assert_one_line_error(run, *needles)


def test_groups_is_not_a_key_of_a_layer_alone(tmp_path: Any) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"input": [[1, 2], [3, 4]], "activation": "relu", "groups": 1}')
    assert_one_line_error(invoke("solve", path, "--format", "json"), "groups")


def _text(sample: str) -> str:
    run = invoke("solve", "--sample", sample, "--width", "200")
    assert run.returncode == 0, run.stderr
    return " ".join(run.stdout.split())


def test_grouped_derivation_says_which_channels_each_filter_sees() -> None:
    text = _text("groups-2")
    assert "G = 2 groups: filter 1 sees channels 1–2, filter 2 sees channels 3–4" in text
    assert "Each filter has C/G = 4/2 = 2 channels" in text
    assert "K (filter 2, channel 1, reading input channel 3)" in text
    # filter 2 sums channels 3 and 4 only, one bracket each
    assert ("Z(2,1,1) = [X(3,1,1)×K(2,1,1,1) + X(3,1,2)×K(2,1,1,2) + X(3,2,1)×K(2,1,2,1) + "
            "X(3,2,2)×K(2,1,2,2)] + [X(4,1,1)×K(2,2,1,1)") in text
    assert "= 2 + 4 + (−1) = 5" in text
    # each filter's gradient from its own block of X
    assert "∂L/∂K(2,1,1,1) = ∂L/∂Z(2,1,1)×X(3,1,1)" in text
    # each channel's gradient from the filters of its group only
    assert "sums only the filters of its group" in text
    assert "∂L/∂X(3,2,2) = ∂L/∂Z(2,1,1)×K(2,1,2,2) +" in text
    assert "K(1," not in text.split("∂L/∂X(3,2,2) =")[1].split("∂L/∂X(3,2,3)")[0]


def test_depthwise_derivation_names_the_depthwise_convolution() -> None:
    text = _text("depthwise-2ch")
    assert "G = C = F = 2, a depthwise convolution: filter f sees only channel f" in text
    assert "Each filter's kernel slides over its own channel only" in text
    assert "Z(2,1,1) = X(2,1,1)×K(2,1,1,1) + X(2,1,2)×K(2,1,1,2)" in text
    assert "∂L/∂X(2,1,1) = ∂L/∂Z(2,1,1)×K(2,1,1,1) = (−0.25)×2 = −0.5" in text


def test_grouped_result_keeps_the_filter_shape() -> None:
    run = invoke("solve", "--sample", "groups-2", "--format", "json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert len(data["grad_filter"]) == 2 and len(data["grad_filter"][0]) == 2
    assert data["output"] == [[[4.5, 7], [3, 2.5]], [[5, 4], [1, 7]]]


def _strings(value: Any) -> Any:
    return [_strings(item) for item in value] if isinstance(value, list) else str(value)


@pytest.mark.parametrize("sample", ["groups-2", "depthwise-2ch"])
def test_check_diagnoses_stay_distinguishable_with_groups(sample: str) -> None:
    """Each mistake, made on a grouped layer, is diagnosed as itself."""
    import cnnstep
    from cnnstep.check.mistakes import MISTAKES
    from cnnstep.quantities import result_name
    from cnnstep.samples import path as sample_path

    data = json.loads(sample_path(sample).read_text(encoding="utf-8"))
    problem = problem_from_data(data)
    solution = solve(problem)
    seen = 0
    for code, mistake in MISTAKES.items():
        if mistake.recompute is None:
            continue
        for name in sorted(mistake.keys):
            key = result_name(name, problem.layer)
            wrong = mistake.recompute(solution, key)
            truth = result(solution).get(key)
            if wrong is None or truth is None:
                continue
            given = wrong.tolist() if hasattr(wrong, "tolist") else wrong
            if oracle.flatten(given) == oracle.flatten(truth):
                continue  # this mistake changes nothing here
            report = cnnstep.check(data, {key: _strings(given)})
            marked = next(m for m in report.quantities if m.key == key)
            assert marked.diagnosis is not None and marked.diagnosis.code == code, (code, key)
            seen += 1
    assert seen >= 8


def test_generate_writes_the_groups(tmp_path: Any) -> None:
    run = invoke("generate", "--seed", "3", "--size", "3", "--kernel", "2", "--channels", "4",
                 "--filters", "2", "--groups", "2", "--loss", "sse", "-o", tmp_path)
    assert run.returncode == 0, run.stderr
    data = json.loads((tmp_path / "problem-01.json").read_text())
    assert data["groups"] == 2
    layer = problem_from_data(data).layer
    assert layer.filter_shape == (2, 2, 2, 2) and layer.channels_of(1) == range(2, 4)


def test_generate_refuses_groups_that_do_not_divide(tmp_path: Any) -> None:
    run = invoke("generate", "--seed", "1", "--channels", "3", "--filters", "2", "--groups", "2",
                 "-o", tmp_path)
    assert_one_line_error(run, "groups", "does not divide the 3 channels")
