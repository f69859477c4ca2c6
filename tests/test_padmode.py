"""Padding forms (per side, "valid", "same", "full") and the true convolution (mode
"convolution").

The engine against the naive loops of ``oracle`` (exact) and against PyTorch's
``F.pad`` then ``conv2d`` (with ``torch.flip`` of the kernel for a true
convolution) in float64 autograd, on random problems; the integer path and the
verifier on the same problems; the refusals; the worked solution's words; and
the diagnoses of ``cnnstep check`` in mode "convolution".
"""

from __future__ import annotations

import json
from importlib.util import find_spec
from pathlib import Path
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
    rendered,
    stringified,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import Spec, spec_from_data, user_shaped
from test_torch_oracle import torch_layer

from cnnstep.engine import solve
from cnnstep.problem import problem_from_data
from cnnstep.result import result

PROPERTY = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def padded_problems(draw: Any) -> tuple[dict[str, Any], Spec]:
    """A random layer with a padding form and a mode, with a target or a given dL/dZ."""
    channels, filters = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    spans = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)
    form = draw(st.sampled_from(["sides", "sides", "valid", "same", "full", "pair"]))
    stride = (1, 1) if form == "same" else (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    sides = {"sides": tuple(draw(st.integers(0, 2)) for _ in range(4)),
             "pair": (p := (draw(st.integers(0, 2)), draw(st.integers(0, 2))))
             and (p[0], p[0], p[1], p[1]),
             "valid": (0, 0, 0, 0),
             "same": ((spans[0] - 1) // 2, spans[0] // 2, (spans[1] - 1) // 2, spans[1] // 2),
             "full": (spans[0] - 1,) * 2 + (spans[1] - 1,) * 2}[form]
    top, bottom, left, right = sides
    height = draw(st.integers(max(1, spans[0] - top - bottom), spans[0] + 2))
    width = draw(st.integers(max(1, spans[1] - left - right), spans[1] + 2))
    oh = (height + top + bottom - spans[0]) // stride[0] + 1
    ow = (width + left + right - spans[1]) // stride[1] + 1
    padding: Any = {"sides": [[top, bottom], [left, right]], "pair": [top, left]}.get(form, form)
    data: dict[str, Any] = {
        "input": _grid(draw, DYADIC, (channels, height, width)),
        "filter": _grid(draw, DYADIC, (filters, channels, kh, kw)),
        "stride": list(stride), "padding": padding, "dilation": list(dilation),
    }
    if draw(st.booleans()):
        data["mode"] = draw(st.sampled_from(["convolution", "convolution", "cross_correlation"]))
    if draw(st.booleans()):
        data["bias"] = draw(st.lists(DYADIC, min_size=filters, max_size=filters))
    if draw(st.booleans()):
        data["target"] = _grid(draw, DYADIC, (filters, oh, ow))
        data["loss"] = draw(st.sampled_from(["mse", "sse", "half_sse"]))
        data["learning_rate"] = "1/4"
    else:
        data["grad_output"] = _grid(draw, DYADIC, (filters, oh, ow))
    data = stringified(data)
    return data, spec_from_data(data)



@PROPERTY
@given(padded_problems())
def test_padding_forms_and_modes_match_the_naive_loops(
        problem: tuple[dict[str, Any], Spec]) -> None:
    matches_the_naive_loops(*problem)


@PROPERTY
@given(padded_problems())
def test_integer_path_matches_the_fraction_path(problem: tuple[dict[str, Any], Spec]) -> None:
    integer_path_is_the_fraction_path(problem_from_data(problem[0]))


@PROPERTY
@given(padded_problems())
def test_verify_agrees(problem: tuple[dict[str, Any], Spec]) -> None:
    from cnnstep.verify import verify

    checks = verify(problem_from_data(problem[0]))
    assert checks and all(check.ok for check in checks), checks


@pytest.mark.skipif(find_spec("torch") is None,
                    reason="PyTorch is not installed; the float64 autograd oracle is skipped")
@settings(PROPERTY, max_examples=20)
@given(padded_problems())
def test_padding_forms_and_modes_match_torch(problem: tuple[dict[str, Any], Spec]) -> None:
    import torch

    data, spec = problem
    got = engine_result(problem_from_data(data))
    want = torch_layer(torch, spec)
    for key, value in got.items():
        oracle.assert_close(value, user_shaped(key, want[key], spec), key)


# --------------------------------------------------------------------------
# the forms resolved, by hand


@pytest.mark.parametrize(("padding", "kernel", "dilation", "sides"), [
    ("same", 4, 1, (1, 2, 1, 2)),  # an odd total: the extra zero at the bottom and right
    ("same", 3, 1, (1, 1, 1, 1)),
    ("same", 2, 3, (1, 2, 1, 2)),  # the dilated span 4: a total of 3
    ("same", 3, 2, (2, 2, 2, 2)),
    ("full", 3, 1, (2, 2, 2, 2)),
    ("full", 2, 2, (2, 2, 2, 2)),
    ("valid", 3, 1, (0, 0, 0, 0)),
    ([[0, 2], [1, 0]], 2, 1, (0, 2, 1, 0)),
    ([1, 2], 2, 1, (1, 1, 2, 2)),
])
def test_padding_forms_resolve_to_four_sides(padding: Any, kernel: int, dilation: int,
                                             sides: tuple[int, int, int, int]) -> None:
    layer = problem_from_data({"input": [[1] * 5] * 5, "filter": [[1] * kernel] * kernel,
                               "padding": padding, "dilation": dilation}).layer
    assert layer.sides == sides
    if padding == "same":
        assert layer.output_size == (5, 5)


def test_true_convolution_by_hand() -> None:
    """MATLAB's conv2(X, K, 'valid'): Z₁₁ = X₁₁K₂₂ + X₁₂K₂₁ + X₂₁K₁₂ + X₂₂K₁₁."""
    solution = solve(problem_from_data({
        "input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]], "filter": [[1, 2], [3, 4]],
        "mode": "convolution", "grad_output": [[1, 0], [0, 0]]}))
    assert solution.conv.tolist() == [[[1 * 4 + 2 * 3 + 4 * 2 + 5 * 1, 2 * 4 + 3 * 3 + 5 * 2 + 6],
                                       [4 * 4 + 5 * 3 + 7 * 2 + 8, 5 * 4 + 6 * 3 + 8 * 2 + 9]]]
    # Z₁₁ reads X₁₁ with K₂₂ ...: dL/dK is the window of Z₁₁ turned by 180°
    assert solution.grad_filter.tolist() == [[[[5, 4], [2, 1]]]]
    assert solution.grad_input.tolist() == [[[4, 3, 0], [2, 1, 0], [0, 0, 0]]]


@pytest.mark.skipif(find_spec("scipy") is None, reason="SciPy is not installed")
@pytest.mark.parametrize("padding", ["valid", "full"])
def test_true_convolution_is_scipy_convolve2d(padding: str) -> None:
    import numpy as np
    from scipy.signal import convolve2d

    x = [[1, 2, 0, 3], [0, 1, 2, 1], [2, 1, 0, 1]]
    k = [[1, -1, 2], [0, 3, 1]]
    solution = solve(problem_from_data({"input": x, "filter": k, "mode": "convolution",
                                        "padding": padding}))
    assert solution.conv[0].tolist() == convolve2d(np.array(x), np.array(k), padding).tolist()


# --------------------------------------------------------------------------
# refusals


@pytest.mark.parametrize(("extra", "needles"), [
    ({"padding": "same", "stride": 2}, ('padding: "same"', "stride 1", "2×2")),
    ({"padding": "same", "stride": [1, 2]}, ('padding: "same"', "1×2")),
    ({"padding": "middle"}, ("padding", '"same"', '"middle"')),
    ({"padding": [[1, 2], 3]}, ("padding[1]", "[left, right]")),
    ({"padding": [[1, 2], [0]]}, ("padding[1]", "[left, right]")),
    ({"padding": [[1, -1], [0, 0]]}, ("padding[0][1]", "integer ≥ 0")),
    ({"padding": [[1, "a"], [0, 0]]}, ("padding[0][1]",)),
    ({"padding": [[1, 1], [0, 0], [1, 1]]}, ("padding", "[[top, bottom], [left, right]]")),
    ({"padding": [[0, 0], [0, 0]], "filter": [[1] * 5]}, ("filter 1×5", "padded input 3×3")),
    ({"mode": "conv"}, ("mode", '"convolution"', '"conv"')),
    ({"mode": 1}, ("mode", '"cross_correlation"')),
])
def test_bad_padding_or_mode_is_one_line(tmp_path: Path, extra: dict[str, Any],
                                         needles: tuple[str, ...]) -> None:
    data = {"input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]], "filter": [[1, 0], [0, 1]], **extra}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    assert_one_line_error(invoke("solve", path, "--format", "json"), *needles)


def test_mode_is_not_a_key_of_a_layer_alone(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"input": [[1, 2], [3, 4]], "activation": "relu", "mode": "convolution"}')
    assert_one_line_error(invoke("solve", path, "--format", "json"), "mode", "no kernel")


def test_symbolic_takes_an_even_named_padding(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"input": {"shape": [2, 2]}, "filter": {"shape": [2, 2]}, '
                    '"padding": "full"}')
    run = invoke("solve", path, "--symbolic", "--format", "json")
    assert run.returncode == 0, run.stderr
    assert len(json.loads(run.stdout)["symbolic"]["output"]) == 3


# --------------------------------------------------------------------------
# the worked solution


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_same_padding_says_how_it_splits() -> None:
    text = _flat(rendered("padding-same-4x4", "text", width=100))
    assert 'padding "same" (top 1, bottom 2, left 1, right 2)' in text
    assert ("along the rows a total of k − 1 = 4 − 1 = 3 rows, 1 at the top and 2 at the "
            "bottom (the odd one at the bottom, as TensorFlow)") in text
    assert "1 at the left and 2 at the right (the odd one at the right, as TensorFlow)" in text
    assert "H_out = ⌊(H_in + p_t + p_b − k_h)/s⌋ + 1 = ⌊(4 + 1 + 2 − 4)/1⌋ + 1 = 4" in text
    assert ("The first row, the last 2 rows, the first column and the last 2 columns are the "
            "padding") in text


def test_full_padding_and_dilation_say_the_span(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"input": [[1, 2], [3, 4]], "filter": [[1, 0, 2], [0, 1, 0]], '
                    '"padding": "full", "dilation": [1, 2]}')
    text = _flat(invoke("solve", path, "--width", "200").stdout)
    assert 'padding "full" (1×4)' in text
    assert "along the rows k − 1 = 2 − 1 = 1 row at the top and 1 at the bottom" in text
    assert "k_eff − 1 = d·(k − 1) = 2·(3 − 1) = 4 columns at the left and 4 at the right" in text


def test_true_convolution_says_where_the_flip_happens() -> None:
    text = _flat(rendered("true-convolution", "text", width=100))
    assert 'mode "convolution": a true convolution, which flips the kernel' in text
    assert "a true convolution flips the kernel, so the windows meet rot180(K)" in text
    assert "Z = conv(X, rot180(K)) + B" in text
    assert "Z₁₁ = X₁₁×K₂₂ + X₁₂×K₂₁ + X₂₁×K₁₂ + X₂₂×K₁₁ + B" in text
    assert "∂L/∂K = rot180(conv(X, ∂L/∂Z))" in text
    assert "flipped place (3 − m, 3 − n)" in text
    assert "The correlation before the rotation, conv(X, ∂L/∂Z)" in text
    assert "rot180(rot180(K)) = K, the kernel as it is" in text
    assert "∂L/∂X = full corr(K, ∂L/∂Z)" in text
    assert "∂L/∂X₁₁ = ∂L/∂Z₁₁×K₂₂" in text


def test_true_convolution_in_latex_and_html() -> None:
    assert r"\operatorname{full\ corr}" in rendered("true-convolution", "latex")
    assert "<mi>corr</mi>" in rendered("true-convolution", "html")


# --------------------------------------------------------------------------
# cnnstep check in mode "convolution"

TRUE = {"input": [[1, 2, 1], [0, 1, 2], [2, 1, 0]], "filter": [["0.5", "0.2"], ["0.3", "0.7"]],
        "mode": "convolution", "target": [[1, 2], [2, 1]]}


def _check(tmp_path: Path, answers: dict[str, Any]) -> dict[str, Any]:
    problem, given = tmp_path / "p.json", tmp_path / "a.json"
    problem.write_text(json.dumps(TRUE))
    given.write_text(json.dumps(answers))
    run = invoke("check", problem, given, "--format", "json")
    assert run.returncode == 1, run.stderr
    report: dict[str, Any] = json.loads(run.stdout)
    return report


def test_a_forgotten_flip_is_a_cross_correlation(tmp_path: Path) -> None:
    plain = {**TRUE, "mode": "cross_correlation"}
    z = result(solve(problem_from_data(plain)))["output"]
    diagnosis = _check(tmp_path, {"output": stringified(z)})["quantities"]["output"]["diagnosis"]
    assert diagnosis["code"] == "true_convolution"
    assert "cross-correlation" in diagnosis["message"]
    assert 'mode "convolution"' in diagnosis["message"]


def test_a_rotated_kernel_in_dx_is_diagnosed(tmp_path: Path) -> None:
    """Rotating K for dL/dX, as for a cross-correlation, is the mistake of this mode."""
    from cnnstep import engine

    solution = solve(problem_from_data(TRUE))
    assert solution.grad_conv is not None
    rotated = engine.input_gradient(engine.rotate180(solution.problem.filter),
                                    engine.insert_zeros(solution.grad_conv, (1, 1)),
                                    solution.problem.layer)
    wrong = [[float(v) for v in row] for row in rotated[0]]
    diagnosis = _check(tmp_path, {"grad_input": wrong})["quantities"]["grad_input"]["diagnosis"]
    assert diagnosis["code"] == "kernel_not_rotated"
    assert "rotated by 180°, as for a cross-correlation" in diagnosis["message"]


def test_padding_only_at_the_end_is_drawn_as_padding(tmp_path: Path) -> None:
    """"same" with a 2×2 kernel: no zeros before, one after; still the padded input."""
    path = tmp_path / "p.json"
    path.write_text('{"input": [[1, 2], [3, 4]], "filter": [[1, 2], [3, 4]], '
                    '"padding": "same", "grad_output": [[1, 0], [0, 1]]}')
    text = _flat(invoke("solve", path, "--width", "200").stdout)
    assert "0 at the top and 1 at the bottom (the odd one at the bottom, as TensorFlow)" in text
    assert "The last row and the last column are the padding" in text
    page = invoke("solve", path, "--format", "html").stdout
    assert "shaded: the zero padding" in page
