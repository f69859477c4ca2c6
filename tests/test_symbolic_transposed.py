"""``--symbolic`` for the transposed convolution, in 2-D and 1-D, with groups.

* Random numeric transposed layers (test_variants.py's, a crop, an
  output_padding, an activation and a pool included): every ``symbolic``
  string, with the problem's numbers put in, is exactly the engine's result.
* Random transposed layers given by shapes: the gradient formulas are SymPy's
  derivatives of the forward formulas.
* Worked examples: the scatter of a strided kernel, a crop, groups, a signal;
  every format prints them; LaTeX compiles.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers import DYADIC, _grid, invoke
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from oracle import Spec
from test_symbolic import assert_gradients_are_derivatives, check_against_engine
from test_variants import transposed_variants

from cnnstep.problem import Layer, layer_from_data, problem_from_data
from cnnstep.symbolic import derive_symbolic, symbolic_result

PROPERTY = settings(max_examples=12, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def work(layer: Layer) -> int:
    """The products of the scatter: every input entry times every weight it meets."""
    c, h, w = layer.input_shape
    return c * h * w * layer.group_filters * layer.kernel_size[0] * layer.kernel_size[1]


@PROPERTY
@given(transposed_variants())
def test_transposed_formulas_with_the_numbers_put_in_give_the_engine_result(
        problem: tuple[dict[str, Any], Spec]) -> None:
    loaded = problem_from_data(problem[0])
    assume(work(loaded.layer) <= 200)
    check_against_engine(loaded, symbolic_result(loaded.layer))


@st.composite
def transposed_signals(draw: Any) -> dict[str, Any]:
    """A numeric 1-D transposed layer with groups, a stride, a dilation, a padding."""
    groups = draw(st.integers(1, 2))
    channels, per_group = groups * draw(st.integers(1, 2)), draw(st.integers(1, 2))
    taps, stride, dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 2)),
                              draw(st.integers(1, 2)))
    length = draw(st.integers(1, 4))
    reach = (length - 1) * stride + dilation * (taps - 1)
    padding = draw(st.integers(0, reach // 2))
    data: dict[str, Any] = {
        "layer": "conv_transpose", "dimensions": 1, "groups": groups,
        "input": _grid(draw, DYADIC, (channels, length)),
        "filter": _grid(draw, DYADIC, (channels, per_group, taps)),
        "stride": stride, "padding": padding, "dilation": dilation,
        "grad_output": _grid(draw, DYADIC, (groups * per_group, reach - 2 * padding + 1)),
    }
    if draw(st.booleans()):
        data["bias"] = draw(st.lists(DYADIC, min_size=groups * per_group,
                                     max_size=groups * per_group))
    return json.loads(json.dumps(data, default=str))


@PROPERTY
@given(transposed_signals())
def test_transposed_signal_formulas_with_the_numbers_put_in_give_the_engine_result(
        data: dict[str, Any]) -> None:
    loaded = problem_from_data(data)
    check_against_engine(loaded, symbolic_result(loaded.layer))


@st.composite
def transposed_shapes(draw: Any) -> dict[str, Any]:
    """A transposed layer given by shapes, 2-D or 1-D, with groups."""
    groups = draw(st.integers(1, 2))
    channels, per_group = groups * draw(st.integers(1, 2)), draw(st.integers(1, 2))
    one_row = draw(st.booleans())
    kernel = [draw(st.integers(1, 3))] if one_row else [draw(st.integers(1, 3)),
                                                        draw(st.integers(1, 2))]
    size = [draw(st.integers(1, 3)) for _ in kernel]
    data: dict[str, Any] = {
        "layer": "conv_transpose", "groups": groups,
        "input": {"shape": [channels, *size]},
        "filter": {"shape": [channels, per_group, *kernel]},
        "stride": draw(st.integers(1, 2)), "dilation": draw(st.integers(1, 2)),
        "padding": draw(st.integers(0, 1)),
    }
    if one_row:
        data["dimensions"] = 1
    if draw(st.booleans()):
        data["bias"] = "symbolic"
    return data


@settings(PROPERTY, max_examples=10)
@given(transposed_shapes())
def test_transposed_gradients_are_the_derivatives_of_the_forward_formulas(
        data: dict[str, Any]) -> None:
    try:
        layer = layer_from_data(data)
    except Exception:  # a padding that leaves no output: drawn again
        assume(False)
        raise
    assume(work(layer) <= 150)
    assert_gradients_are_derivatives(layer)


def formulas(data: dict[str, Any]) -> dict[str, Any]:
    return symbolic_result(layer_from_data(data))


STRIDED = {"layer": "conv_transpose", "input": {"shape": [2, 2]}, "filter": {"shape": [2, 2]},
           "stride": 2, "bias": "symbolic"}


def test_each_input_entry_scatters_the_kernel() -> None:
    got = formulas(STRIDED)
    assert got["output"][0][0] == "X_1_1*K_1_1 + B"
    assert got["output"][3][2] == "X_2_2*K_2_1 + B"
    assert got["grad_filter"][0][0] == "dZ_1_1*X_1_1 + dZ_1_3*X_1_2 + dZ_3_1*X_2_1 + dZ_3_3*X_2_2"
    # dL/dX: the strided correlation of dL/dZ with K
    assert got["grad_input"][1][0] == "dZ_3_1*K_1_1 + dZ_3_2*K_1_2 + dZ_4_1*K_2_1 + dZ_4_2*K_2_2"
    assert got["grad_bias"].count("dZ") == 16


def test_overlapping_products_add_up_and_the_padding_crops() -> None:
    got = formulas({"layer": "conv_transpose", "input": {"shape": [2, 2]},
                    "filter": {"shape": [2, 2]}})
    assert got["output"][1][1] == "X_1_1*K_2_2 + X_1_2*K_2_1 + X_2_1*K_1_2 + X_2_2*K_1_1"
    cropped = formulas({"layer": "conv_transpose", "input": {"shape": [2, 2]},
                        "filter": {"shape": [2, 2]}, "padding": 1})
    assert cropped["output"] == [["X_1_1*K_2_2 + X_1_2*K_2_1 + X_2_1*K_1_2 + X_2_2*K_1_1"]]
    assert cropped["grad_filter"][0][0] == "dZ_1_1*X_2_2"


def test_groups_and_a_signal() -> None:
    got = formulas({"layer": "conv_transpose", "dimensions": 1, "input": {"shape": [2, 3]},
                    "filter": {"shape": [2, 1, 2]}, "groups": 2})
    assert got["output"][1] == ["X_2_1*K_2_1_1", "X_2_1*K_2_1_2 + X_2_2*K_2_1_1",
                                "X_2_2*K_2_1_2 + X_2_3*K_2_1_1", "X_2_3*K_2_1_2"]
    assert got["grad_filter"][1][0][1] == "dZ_2_2*X_2_1 + dZ_2_3*X_2_2 + dZ_2_4*X_2_3"
    assert got["grad_input"][0][0] == "dZ_1_1*K_1_1_1 + dZ_1_2*K_1_1_2"


GROUPED = {"layer": "conv_transpose", "input": {"shape": [2, 2, 2]},
           "filter": {"shape": [2, 1, 2, 2]}, "groups": 2, "stride": 2, "bias": "symbolic"}


@pytest.mark.parametrize("format", ["text", "latex", "markdown", "html"])
def test_every_format_prints_the_transposed_formulas(tmp_path: Path, format: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(GROUPED))
    run = invoke("solve", path, "--symbolic", "--format", format)
    assert run.returncode == 0, run.stderr
    for words in ("transposed convolution", "scatters", "strided correlation", "groups 2"):
        assert words in run.stdout, words


def test_json_of_the_transposed_layer_is_the_formulas(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(STRIDED))
    run = invoke("solve", path, "--symbolic", "--format", "json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["symbolic"] == formulas(STRIDED)


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_transposed_latex_compiles(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(GROUPED))
    run = invoke("solve", path, "--symbolic", "--format", "latex")
    assert run.returncode == 0, run.stderr
    (tmp_path / "s.tex").write_text(run.stdout)
    made = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "s.tex"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stdout[-2000:]


def test_transposed_sample_with_symbolic_then_numbers(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"layer": "conv_transpose", "input": [[1, 2], [3, 4]],
                                "filter": [[1, 0], [2, 1]], "stride": 2,
                                "grad_output": [[1] * 4] * 4}))
    run = invoke("solve", path, "--symbolic")
    assert run.returncode == 0, run.stderr
    assert "in symbols" in run.stdout and "with numbers" in run.stdout
    layer = problem_from_data(json.loads(path.read_text())).layer
    assert [s.key for s in derive_symbolic(layer).steps][-1] == "grad_input"
