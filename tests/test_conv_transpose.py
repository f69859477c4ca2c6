"""Transposed convolutions: ``"layer": "conv_transpose"`` with ``output_padding``.

The engine against the naive scatter loops of ``oracle`` (exact) and against
PyTorch's ``conv_transpose2d`` with float64 autograd, on random problems; the
verifier; the worked derivation's wording; ``check``; and every refusal.
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
    matches_the_naive_loops,
    stringified,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import Spec, expected_keys, naive_layer, spec_from_data, user_shaped
from test_torch_oracle import torch_layer

from cnnstep.engine import solve
from cnnstep.problem import problem_from_data

PROPERTY = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

SAMPLE = SAMPLES / "conv-transpose-stride2.json"


def _pairs(draw: Any, low: int, high: int) -> tuple[int, int]:
    return draw(st.integers(low, high)), draw(st.integers(low, high))


@st.composite
def transposed_problems(draw: Any) -> tuple[dict[str, Any], Spec]:
    """A random transposed layer, filter [C][F/groups][kh][kw], with a target or a given
    dL/dZ, sometimes with a ReLU after it; the padding sometimes above d·(k − 1), which
    crops the expanded input."""
    groups = draw(st.integers(1, 2))
    channels, per_group = groups * draw(st.integers(1, 2)), draw(st.integers(1, 2))
    filters = groups * per_group
    kh, kw = _pairs(draw, 1, 3)
    stride, dilation = _pairs(draw, 1, 3), _pairs(draw, 1, 2)
    kernel = (kh, kw)
    padding = tuple(draw(st.integers(0, dilation[a] * (kernel[a] - 1) + 2)) for a in range(2))
    extra = tuple(draw(st.integers(0, max(stride[a], dilation[a]) - 1)) for a in range(2))
    height, width = _pairs(draw, 1, 3)
    out = [(size - 1) * stride[a] - 2 * padding[a] + dilation[a] * (kernel[a] - 1)
           + extra[a] + 1 for a, size in enumerate((height, width))]
    if min(out) < 1:
        padding, out = (0, 0), [o + 2 * p for o, p in zip(out, padding, strict=True)]
    data: dict[str, Any] = {
        "layer": "conv_transpose",
        "input": _grid(draw, DYADIC, (channels, height, width)),
        "filter": _grid(draw, DYADIC, (channels, per_group, kh, kw)),
        "stride": list(stride), "padding": list(padding), "dilation": list(dilation),
        "output_padding": list(extra),
    }
    if groups > 1 or draw(st.booleans()):
        data["groups"] = groups
    if draw(st.booleans()):
        data["bias"] = draw(st.lists(DYADIC, min_size=filters, max_size=filters))
    if draw(st.booleans()):
        data["activation"] = "relu"
    if draw(st.booleans()):
        data["target"] = _grid(draw, DYADIC, (filters, *out))
        data["loss"] = draw(st.sampled_from(["mse", "sse", "half_sse"]))
        data["learning_rate"] = "1/4"
    else:
        data["grad_output"] = _grid(draw, DYADIC, (filters, *out))
    data = stringified(data)
    return data, spec_from_data(data)



@PROPERTY
@given(transposed_problems())
def test_transposed_layer_matches_the_naive_scatter(problem: tuple[dict[str, Any], Spec]
                                                    ) -> None:
    matches_the_naive_loops(*problem)


@pytest.mark.skipif(find_spec("torch") is None,
                    reason="PyTorch is not installed; the float64 autograd oracle is skipped")
@PROPERTY
@given(transposed_problems())
def test_transposed_layer_matches_torch(problem: tuple[dict[str, Any], Spec]) -> None:
    import torch

    data, spec = problem
    got = engine_result(problem_from_data(data))
    want = torch_layer(torch, spec)
    for key, value in got.items():
        oracle.assert_close(value, user_shaped(key, want[key], spec), key)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(transposed_problems())
def test_verify_agrees_on_transposed_layers(problem: tuple[dict[str, Any], Spec]) -> None:
    from cnnstep.verify import verify

    checks = verify(problem_from_data(problem[0]))
    assert checks and all(check.ok for check in checks), checks


def test_sample_by_hand() -> None:
    """A 2×2 input, a 3×3 kernel, stride 2, padding 1, output_padding 1: a 4×4 output;
    Z[0,0] meets only X[0,0] through K[1,1]."""
    solution = solve(problem_from_data(json.loads(SAMPLE.read_text())))
    assert solution.problem.layer.output_size == (4, 4)
    assert solution.padded_input.shape == (1, 6, 6)
    assert solution.conv[0, 0, 0] == 1 * 2 + Fraction(1, 2)
    # Z[1,1] = X[0,0]·K[2,2] + X[0,1]·K[2,0] + X[1,0]·K[0,2] + X[1,1]·K[0,0] + B
    assert solution.conv[0, 1, 1] == 1 * Fraction(1, 2) + 2 * 0 + (-1) * 0 + 3 * 1 + \
        Fraction(1, 2)
    assert solution.grad_input.tolist() == [[[Fraction(1, 16), Fraction(31, 32)],
                                             [Fraction(-3, 4), Fraction(21, 8)]]]


def test_pytorch_weight_order_several_channels() -> None:
    """The filter is [C][F][kh][kw]: weight K[c][f] carries input channel c to output f."""
    solution = solve(problem_from_data({
        "layer": "conv_transpose", "input": [[[1]], [[10]]],
        "filter": [[[[1]], [[2]], [[3]]], [[[4]], [[5]], [[6]]]], "grad_output": [
            [[1]], [[0]], [[0]]]}))
    assert solution.conv.tolist() == [[[41]], [[52]], [[63]]]
    assert solution.grad_filter.tolist() == [[[[1]], [[0]], [[0]]], [[[10]], [[0]], [[0]]]]
    assert solution.grad_input.tolist() == [[[1]], [[4]]]


def test_training_steps_and_pool_after_a_transposed_layer(tmp_path: Path) -> None:
    data = json.loads(SAMPLE.read_text())
    data.update({"steps": 3, "activation": "relu", "pool": {"type": "max", "size": 2},
                 "target": [[1, 2], [3, 4]]})
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    run = invoke("solve", path, "--format", "json", "--verify")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["verified"] is True
    result = json.loads(invoke("solve", path, "--format", "json").stdout)
    losses = [step["loss"] for step in result["history"]]
    assert len(losses) == 3 and result["final_loss"] < losses[0]


def _text(*args: str | Path) -> str:
    run = invoke("solve", SAMPLE, *args)
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_derivation_shows_the_course_steps() -> None:
    text = " ".join(_text("--format", "text").split())
    assert "transposed convolution (conv_transpose)" in text
    for phrase in ("Zero insertion and padding", "1 zero between the rows",
                   "padding by d·(k − 1) − p on each side", "1·(3 − 1) − 1 = 1 row above and",
                   "output_padding adds 1 row more at the bottom",
                   "rotated by 180°", "with the rotated kernel, stride 1",
                   "input gradient is an ordinary convolution",
                   "with the kernel itself (not rotated), stride 2"):
        assert phrase in text, phrase
    plain = _text("--format", "text")
    assert "= (2−1)×2 − 2×1 + 1×(3−1) + 1 + 1" in plain
    assert "Z₁₁ = X₁₁×K₂₂ + B" in plain


def test_derivation_says_the_channel_axes_are_swapped(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({
        "layer": "conv_transpose", "input": [[[1, 2]], [[3, 4]]],
        "filter": [[[[1, 2]]], [[[3, 4]]]], "grad_output": [[1, 0, 1]]}))
    run = invoke("solve", path, "--detail", "brief")
    assert run.returncode == 0, run.stderr
    assert "channel axes are swapped" in " ".join(run.stdout.split())


def test_derivation_names_the_problems_own_symbols(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({
        "layer": "conv_transpose", "input": [[1, 2], [3, 4]], "filter": [[1, 2], [3, 4]],
        "grad_output": [[1, 0, 1], [0, 1, 0], [1, 1, 1]],
        "notation": {"input": "I", "filter": "W", "output": "O"}}))
    run = invoke("solve", path, "--detail", "brief")
    assert run.returncode == 0, run.stderr
    text = " ".join(run.stdout.split())
    assert "Weight W[c, f, m, n] carries input entry I[c, i, j] to output entry O[f," in text


def test_check_marks_and_diagnoses_a_transposed_layer(tmp_path: Path) -> None:
    result = json.loads(invoke("solve", SAMPLE, "--format", "json").stdout)
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps(result))
    assert invoke("check", SAMPLE, answers).returncode == 0
    wrong = dict(result, output=[[v - Fraction(1, 2) for v in row]
                                 for row in result["output"]])
    wrong["output"] = [[float(v) for v in row] for row in wrong["output"]]
    answers.write_text(json.dumps(wrong))
    run = invoke("check", SAMPLE, answers, "--format", "json")
    assert run.returncode == 1, run.stderr
    report = json.loads(run.stdout)
    assert report["quantities"]["output"]["diagnosis"]["code"] == "bias_omitted"


def test_symbolic_works_out_conv_transpose() -> None:
    run = invoke("solve", SAMPLE, "--symbolic")
    assert run.returncode == 0, run.stderr
    assert "transposed convolution" in run.stdout and "with numbers" in run.stdout


BASE = {"layer": "conv_transpose", "input": [[1, 2], [3, 4]], "filter": [[1, 0], [2, 1]]}


@pytest.mark.parametrize(("changes", "needles"), [
    ({"layer": "deconv"}, ("layer", "conv_transpose")),
    ({"layer": 2}, ("layer",)),
    ({"output_padding": 1}, ("output_padding", "smaller than the stride (1)")),
    ({"stride": 2, "output_padding": 2}, ("output_padding", "2 extra rows")),
    ({"stride": [1, 2], "output_padding": [0, 2]}, ("output_padding", "2 extra columns")),
    ({"output_padding": -1}, ("output_padding", "integer ≥ 0")),
    ({"padding": 2}, ("padding", "output would be -1×-1")),
    ({"input": [[1]], "filter": [[1, 2], [3, 4]], "padding": 1},
     ("padding", "output would be 0×0")),
    ({"filter": [[[1, 0], [2, 1]]]}, ("filter", "[C][F][kh][kw]")),
    ({"input": [[[1]], [[2]]], "filter": [[[[1]]]]}, ("filter", "1 input channel", "has 2")),
])
def test_bad_transposed_layer_is_one_line(tmp_path: Path, changes: dict[str, Any],
                                          needles: tuple[str, ...]) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({**BASE, **changes}))
    assert_one_line_error(invoke("solve", path, "--format", "json"), *needles)


def test_output_padding_needs_conv_transpose(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"input": [[1, 2], [3, 4]], "filter": [[1]], "stride": 2,
                                "output_padding": 1}))
    assert_one_line_error(invoke("solve", path), "output_padding", "conv_transpose")


@pytest.mark.parametrize("key", ["layer", "output_padding"])
def test_transposed_keys_are_not_keys_of_a_layer_alone(tmp_path: Path, key: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"input": [[1, 2], [3, 4]], "activation": "relu",
                                key: "conv_transpose" if key == "layer" else 1}))
    assert_one_line_error(invoke("solve", path), key)


@settings(PROPERTY, max_examples=8)
@given(transposed_problems())
def test_transposed_layers_are_worked_in_every_format(
        problem: tuple[dict[str, Any], Spec]) -> None:
    """Groups, crops and all: the worked solution prints in text, LaTeX and Markdown."""
    import cnnstep

    worked = cnnstep.solve(problem[0])
    assert isinstance(worked, cnnstep.Worked)
    for output in (worked.to_text(), worked.to_latex(), worked.to_markdown()):
        assert "Gradient with respect to the input" in output


GROUPED = {"layer": "conv_transpose", "groups": 2, "stride": 2,
           "input": [[[1, 2], [3, 4]], [[0, 1], [-1, 2]]],
           "filter": [[[[1, 0], [2, 1]], [[0, 1], [1, 0]]], [[[1, -1], [0, 2]], [[2, 0], [0, 1]]]],
           "bias": [1, 0, 0, -1]}


def test_groups_keep_each_input_channel_to_its_own_output_channels() -> None:
    """groups 2, filter [2][2][2][2]: input channel 1 feeds output channels 1–2 only,
    input channel 2 feeds 3–4 (PyTorch's conv_transpose2d numbers)."""
    solution = solve(problem_from_data(GROUPED | {"grad_output": [[[1] * 4] * 4] * 4}))
    assert solution.conv.shape == (4, 4, 4)
    # Z[0] = X[0] ⊛ K[0, 0] + 1 scattered with stride 2: the corner is X[0,0,0]·K[0,0,0,0] + 1
    assert solution.conv[0, 0, 0] == 2 and solution.conv[2, 0, 0] == 0 * 1 + 0
    assert solution.conv[3, 3, 3].numerator == 2 * 1 - 1
    # dL/dK[c, f] sums X[c] only: every weight of K[0] meets Σ X[0] = 10
    assert {int(v) for v in solution.grad_filter[0].flat} == {10}
    assert {int(v) for v in solution.grad_filter[1].flat} == {2}
    # dL/dX[c] sums the weights of c's own output channels: K[0] holds 6, K[1] holds 5
    assert {int(v) for v in solution.grad_input[0].flat} == {6}
    assert {int(v) for v in solution.grad_input[1].flat} == {5}


def test_derivation_says_which_output_channels_each_group_feeds(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(GROUPED | {"grad_output": [[[1] * 4] * 4] * 4}))
    run = invoke("solve", path, "--detail", "brief")
    assert run.returncode == 0, run.stderr
    text = " ".join(run.stdout.split())
    for phrase in ("With groups 2: input channel 1 feeds output channels 1–2, input channel 2 "
                   "feeds output channels 3–4.", "[C][F/groups][kh][kw] = [2][2][2][2]",
                   "of every input channel c of its group",
                   "K (input channel 2, output channel 4)"):
        assert phrase in text, phrase


def test_a_padding_above_the_kernel_reach_crops(tmp_path: Path) -> None:
    """padding 2 with a 2×2 kernel (d·(k − 1) = 1): d·(k − 1) − p = −1, so the
    zero-inserted input loses a row and a column on every side; output_padding 1 keeps
    the bottom. PyTorch: (3 − 1)·2 − 4 + 1 + 1 + 1 = 3 rows, 2 columns."""
    data = {"layer": "conv_transpose", "input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
            "filter": [[1, 2], [3, 4]], "stride": 2, "padding": 2, "output_padding": [1, 0],
            "grad_output": [[1, 0], [0, 1], [1, 1]]}
    solution = solve(problem_from_data(data))
    assert solution.conv.tolist() == [[[5, 10], [15, 20], [8, 16]]]
    assert solution.padded_input.shape == (1, 4, 3)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    run = invoke("solve", path, "--verify")
    assert run.returncode == 0, run.stderr
    text = " ".join(_text_of(path).split())
    for phrase in ("Zero insertion and cropping", "1·(2 − 1) − 2 = −1, negative",
                   "1 row of the zero-inserted input is cropped from the top and the bottom",
                   "output_padding keeps the bottom uncropped"):
        assert phrase in text, phrase


def _text_of(path: Path) -> str:
    run = invoke("solve", path, "--detail", "brief")
    assert run.returncode == 0, run.stderr
    return run.stdout


def _flipped(k: Any) -> Any:
    """Each kernel [kh][kw] of a [C][F][kh][kw] filter turned by 180°."""
    return [[[row[::-1] for row in kernel[::-1]] for kernel in per_channel] for per_channel in k]


@pytest.mark.parametrize(("code", "wrong"), [
    # the scatter of the flipped kernel: the expanded input correlated with K itself
    ("kernel_not_rotated", lambda spec: oracle.naive_transposed_forward(
        spec.x, _flipped(spec.k), spec.b, spec.stride, spec.padding, spec.dilation,
        spec.output_padding, spec.groups)),
    # no zero insertion: the stride-1 scatter, placed at the top-left of the output
    ("stride_not_dilated", lambda spec: [
        [(row + [Fraction(0)] * 4)[:4] for row in plane] + [[Fraction(0)] * 4] * (4 - len(plane))
        for plane in oracle.naive_transposed_forward(spec.x, spec.k, spec.b, (1, 1),
                                                     spec.padding, spec.dilation,
                                                     spec.output_padding, spec.groups)]),
])
def test_check_diagnoses_the_forward_pass_of_a_transposed_layer(
        tmp_path: Path, code: str, wrong: Any) -> None:
    data = json.loads(SAMPLE.read_text())
    spec = spec_from_data(data)
    result = json.loads(invoke("solve", SAMPLE, "--format", "json").stdout)
    answers = tmp_path / "answers.json"
    output = wrong(spec)[0]
    answers.write_text(json.dumps(dict(result, output=[[str(v) for v in row]
                                                       for row in output])))
    run = invoke("check", SAMPLE, answers, "--format", "json")
    assert run.returncode == 1, run.stderr
    diagnosis = json.loads(run.stdout)["quantities"]["output"]["diagnosis"]
    assert diagnosis["code"] == code
    assert "(step: " + ("forward pass" if code == "kernel_not_rotated"
                        else "zero insertion") in diagnosis["message"]
    assert "transposed convolution" in diagnosis["message"]
    shown = invoke("check", SAMPLE, answers, "--format", "text")
    assert "Where the working departs" in shown.stdout, shown.stderr


@PROPERTY
@given(transposed_problems())
def test_transposed_layer_on_the_integer_path(problem: tuple[dict[str, Any], Spec]) -> None:
    """The integer path gives the Fraction path's numbers, key by key."""

    integer_path_is_the_fraction_path(problem_from_data(problem[0]))


def test_a_large_transposed_layer_is_written_from_the_integer_path(tmp_path: Path) -> None:
    """A 64-channel 16×16 input upsampled to 32×32 in 4 groups: the integer path
    takes it, and the CLI writes its JSON result."""
    import random

    rng = random.Random(1)
    data = {"layer": "conv_transpose", "stride": 2, "padding": 1, "output_padding": 1,
            "groups": 4,
            "input": [[[rng.randint(-3, 3) for _ in range(16)] for _ in range(16)]
                      for _ in range(64)],
            "filter": [[[[rng.randint(-3, 3) for _ in range(3)] for _ in range(3)]
                        for _ in range(4)] for _ in range(64)],
            "grad_output": [[[rng.randint(-3, 3) for _ in range(32)] for _ in range(32)]
                            for _ in range(16)]}
    from cnnstep.result import scaled_result

    loaded = problem_from_data(data)
    scaled = scaled_result(loaded)
    assert scaled is not None and loaded.layer.output_shape == (16, 32, 32)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    run = invoke("solve", path, "--format", "json")
    assert run.returncode == 0, run.stderr
    assert len(json.loads(run.stdout)["grad_filter"]) == 64


# --------------------------------------------------------------------------
# conv_transpose1d: "dimensions": 1


@st.composite
def signal_problems(draw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A random 1-D transposed layer (filter [C][F/groups][k]) and the same layer as a
    2-D one of a single row, for the naive scatter of ``oracle``."""
    groups = draw(st.integers(1, 2))
    channels, per_group = groups * draw(st.integers(1, 2)), draw(st.integers(1, 2))
    filters = groups * per_group
    kernel, stride, dilation = draw(st.integers(1, 3)), draw(st.integers(1, 3)), \
        draw(st.integers(1, 2))
    padding = draw(st.integers(0, dilation * (kernel - 1) + 1))
    extra = draw(st.integers(0, max(stride, dilation) - 1))
    length = draw(st.integers(1, 4))
    out = (length - 1) * stride - 2 * padding + dilation * (kernel - 1) + extra + 1
    if out < 1:
        padding, out = 0, out + 2 * padding
    x = _grid(draw, DYADIC, (channels, length))
    k = _grid(draw, DYADIC, (channels, per_group, kernel))
    g = _grid(draw, DYADIC, (filters, out))
    signal: dict[str, Any] = {"dimensions": 1, "layer": "conv_transpose", "input": x,
                              "filter": k, "stride": stride, "padding": padding,
                              "dilation": dilation, "output_padding": extra,
                              "groups": groups, "grad_output": g}
    if draw(st.booleans()):
        signal["bias"] = draw(st.lists(DYADIC, min_size=filters, max_size=filters))
    row = dict(signal, input=[[r] for r in x], filter=[[[r] for r in kc] for kc in k],
               stride=[1, stride], padding=[0, padding], dilation=[1, dilation],
               output_padding=[0, extra], grad_output=[[r] for r in g])
    del row["dimensions"]
    return stringified(signal), stringified(row)


@PROPERTY
@given(signal_problems())
def test_signal_matches_the_naive_scatter_of_one_row(
        problem: tuple[dict[str, Any], dict[str, Any]]) -> None:
    signal, row = problem
    got = engine_result(problem_from_data(signal))
    spec = spec_from_data(row)
    want = naive_layer(spec)
    assert set(got) == expected_keys(spec)
    for key, value in got.items():
        assert oracle.flatten(value) == oracle.flatten(want[key]), key


@pytest.mark.skipif(find_spec("torch") is None,
                    reason="PyTorch is not installed; the float64 autograd oracle is skipped")
@PROPERTY
@given(signal_problems())
def test_signal_matches_torch_conv_transpose1d(
        problem: tuple[dict[str, Any], dict[str, Any]]) -> None:
    import torch

    signal = problem[0]
    loaded = problem_from_data(signal)
    got = engine_result(loaded)

    def tensor(values: Any) -> Any:
        return torch.tensor(oracle.floats(oracle.fr(values)), dtype=torch.float64,
                            requires_grad=True)

    x, k = tensor([signal["input"]]), tensor(signal["filter"])
    b = tensor(signal["bias"]) if "bias" in signal else None
    z = torch.nn.functional.conv_transpose1d(
        x, k, b, stride=signal["stride"], padding=signal["padding"],
        output_padding=signal["output_padding"], groups=signal["groups"],
        dilation=signal["dilation"])
    z.backward(torch.tensor(oracle.floats(oracle.fr([signal["grad_output"]])),
                            dtype=torch.float64))
    want = {"output": z[0].tolist(), "grad_filter": k.grad.tolist(),
            "grad_input": x.grad[0].tolist()}
    if b is not None:
        want["grad_bias"] = b.grad.tolist()
    for key, value in want.items():
        oracle.assert_close(oracle.flatten(got[key]), oracle.flatten(value), key)
    checks = __import__("cnnstep.verify", fromlist=["verify"]).verify(loaded)
    assert checks and all(check.ok for check in checks), checks


def test_signal_by_hand() -> None:
    """conv_transpose1d([[1, 2, −1], [0, 3, 1]], [[[1, −1, 2]], [[0, 1, 1]]], stride 2,
    padding 1, output_padding 1, bias 1), as PyTorch gives it."""
    solution = solve(problem_from_data({
        "dimensions": 1, "layer": "conv_transpose", "input": [[1, 2, -1], [0, 3, 1]],
        "filter": [[[1, -1, 2]], [[0, 1, 1]]], "stride": 2, "padding": 1,
        "output_padding": 1, "bias": 1, "grad_output": [[1, 0, 1, 1, 0, 1]]}))
    assert solution.conv.tolist() == [[[0, 5, 2, 7, 3, 0]]]
    assert solution.grad_filter.tolist() == [[[[-1, 3, 1]]], [[[1, 3, 4]]]]
    assert solution.grad_input.tolist() == [[[-1, 1, 3]], [[1, 2, 1]]]


def test_signal_is_worked_along_its_one_axis(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"dimensions": 1, "layer": "conv_transpose",
                                "input": [1, 2, 3], "filter": [1, -1], "stride": 2,
                                "padding": 1, "grad_output": [1, 0, 1, 1]}))
    run = invoke("solve", path, "--detail", "brief")
    assert run.returncode == 0, run.stderr
    text = " ".join(run.stdout.split())
    for phrase in ("L_out = (L_in−1)×s − 2×p + d×(k−1) + o + 1",
                   "1 zero between the entries of X (stride 2)",
                   "1·(2 − 1) − 1 = 0 entries at each end", "The kernel is reversed",
                   "Weight K[c, f, n] carries input entry X[c, j]"):
        assert phrase in text, phrase


@pytest.mark.parametrize(("changes", "needles"), [
    ({"filter": [[1, -1]]}, ("filter", "[k] or a 3-D [C][F][k]")),
    ({"stride": [1, 2]}, ("stride", "1-D layer has one axis")),
    ({"output_padding": 1}, ("output_padding", "1 extra entry", "stride (1)")),
])
def test_bad_signal_is_one_line(tmp_path: Path, changes: dict[str, Any],
                                needles: tuple[str, ...]) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"dimensions": 1, "layer": "conv_transpose",
                                "input": [1, 2, 3], "filter": [1, -1]} | changes))
    assert_one_line_error(invoke("solve", path), *needles)
