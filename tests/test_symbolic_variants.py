"""``--symbolic`` for the convolution variants: a dilated kernel, padding that
differs per side and its named forms, mode "convolution", groups, a 1-D layer.

* Random numeric layers with the variants drawn together (test_variants.py's
  problems, an activation and a pool included): every ``symbolic`` string, with
  the problem's numbers put in, is exactly the engine's result.
* Random layers given by shapes with the variants: the gradient formulas are
  SymPy's derivatives of the forward formulas, and the derivation's own check
  of the closing identities (conv and full conv) passes.
* Worked examples: the taps of a dilated window, the turned kernel, a group's
  channels, a signal's one index; every format prints them; LaTeX compiles.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers import assert_one_line_error, invoke
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from oracle import Spec
from test_dimensions import layers
from test_symbolic import assert_gradients_are_derivatives, check_against_engine
from test_variants import variant_problems

from cnnstep.problem import Layer, layer_from_data, problem_from_data
from cnnstep.schema import schema
from cnnstep.symbolic import derive_symbolic, symbolic_result

PROPERTY = settings(max_examples=15, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def work(layer: Layer) -> int:
    """The products of the layer's forward formulas, to keep SymPy's work small."""
    oh, ow = layer.output_size
    return (layer.filters * oh * ow * layer.group_channels * layer.kernel_size[0]
            * layer.kernel_size[1])


@PROPERTY
@given(variant_problems())
def test_variant_formulas_with_the_numbers_put_in_give_the_engine_result(
        problem: tuple[dict[str, Any], Spec]) -> None:
    loaded = problem_from_data(problem[0])
    assume(work(loaded.layer) <= 300)
    check_against_engine(loaded, symbolic_result(loaded.layer))


@st.composite
def variant_shapes(draw: Any) -> dict[str, Any]:
    """A layer given by shapes with groups, a padding form, a mode and a dilation."""
    groups = draw(st.integers(1, 2))
    channels, filters = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dilation = [draw(st.integers(1, 2)), draw(st.integers(1, 2))]
    padding: Any = draw(st.sampled_from([
        "valid", "full", "same", [[0, 1], [2, 0]], [[1, 0], [0, 1]], [1, 0]]))
    stride = [1, 1] if padding == "same" else [draw(st.integers(1, 2)),
                                                 draw(st.integers(1, 2))]
    spans = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)
    height = draw(st.integers(spans[0], spans[0] + 2))
    width = draw(st.integers(spans[1], spans[1] + 1))
    data: dict[str, Any] = {
        "input": {"shape": [channels, height, width]},
        "filter": {"shape": [filters, channels // groups, kh, kw]},
        "stride": stride, "padding": padding, "dilation": dilation, "groups": groups,
    }
    if draw(st.booleans()):
        data["mode"] = "convolution"
    if draw(st.booleans()):
        data["bias"] = "symbolic"
    return data


@settings(PROPERTY, max_examples=10)
@given(variant_shapes())
def test_variant_gradients_are_the_derivatives_of_the_forward_formulas(
        data: dict[str, Any]) -> None:
    layer = layer_from_data(data)
    assume(work(layer) <= 250)
    assert_gradients_are_derivatives(layer)
    # the closing identities are checked against the chain rule as they are built
    steps = [step.key for step in derive_symbolic(layer, max_terms=0).steps]
    assert steps[-1] == "identities"


def formulas(data: dict[str, Any]) -> dict[str, Any]:
    return symbolic_result(layer_from_data(data))


def test_dilated_window_reads_every_other_entry() -> None:
    got = formulas({"input": {"shape": [4, 4]}, "filter": {"shape": [2, 2]}, "dilation": 2})
    assert got["output"][0][0] == "X_1_1*K_1_1 + X_1_3*K_1_2 + X_3_1*K_2_1 + X_3_3*K_2_2"
    assert got["grad_filter"][0][1] == "dZ_1_1*X_1_3 + dZ_1_2*X_1_4 + dZ_2_1*X_2_3 + dZ_2_2*X_2_4"
    assert got["grad_input"][1][1] == "dZ_2_2*K_1_1"
    assert got["grad_input"][2][2] == "dZ_1_1*K_2_2"


def test_true_convolution_turns_the_kernel() -> None:
    got = formulas({"input": {"shape": [3, 3]}, "filter": {"shape": [2, 2]},
                    "mode": "convolution"})
    assert got["output"][0][0] == "X_1_1*K_2_2 + X_1_2*K_2_1 + X_2_1*K_1_2 + X_2_2*K_1_1"
    # dL/dK_11 meets the bottom-right entry of every window
    assert got["grad_filter"][0][0] == "dZ_1_1*X_2_2 + dZ_1_2*X_2_3 + dZ_2_1*X_3_2 + dZ_2_2*X_3_3"
    assert got["grad_input"][0][0] == "dZ_1_1*K_2_2"


def test_uneven_padding_puts_the_zeros_where_it_says() -> None:
    got = formulas({"input": {"shape": [2, 2]}, "filter": {"shape": [2, 2]},
                    "padding": [[0, 1], [1, 0]]})
    assert len(got["output"]) == 2 and len(got["output"][0]) == 2
    assert got["output"][0][0] == "X_1_1*K_1_2 + X_2_1*K_2_2"
    assert got["output"][1][1] == "X_2_1*K_1_1 + X_2_2*K_1_2"
    same = formulas({"input": {"shape": [3, 3]}, "filter": {"shape": [2, 2]},
                     "padding": "same"})
    assert same["output"][2][2] == "X_3_3*K_1_1"


def test_groups_sum_over_their_channels_only() -> None:
    got = formulas({"input": {"shape": [2, 2, 2]}, "filter": {"shape": [2, 1, 2, 2]},
                    "groups": 2})
    assert got["output"][1] == [["X_2_1_1*K_2_1_1_1 + X_2_1_2*K_2_1_1_2 + X_2_2_1*K_2_1_2_1"
                                 " + X_2_2_2*K_2_1_2_2"]]
    assert got["grad_filter"][1][0][0][0] == "dZ_2_1_1*X_2_1_1"
    assert got["grad_input"][0][1][1] == "dZ_1_1_1*K_1_1_2_2"


def test_an_input_entry_no_window_reads_has_gradient_zero() -> None:
    data = {"input": {"shape": [3, 3]}, "filter": {"shape": [1, 1]}, "stride": 2}
    assert formulas(data)["grad_input"][0][1] == "0"
    text = symbolic_text(data)
    assert "∂L/∂X₁₂ = 0\n" in text and "∂L/∂X₂₂ = 0\n" in text


def symbolic_text(data: dict[str, Any]) -> str:
    from cnnstep.render import Options, renderer

    return renderer("text").derivation(derive_symbolic(layer_from_data(data)),
                                       Options(width=100))


VARIANT = {"input": {"shape": [2, 4, 4]}, "filter": {"shape": [2, 1, 2, 2]}, "groups": 2,
           "dilation": 2, "padding": [[0, 1], [1, 0]], "mode": "convolution",
           "bias": "symbolic"}


@pytest.mark.parametrize("format", ["text", "latex", "markdown", "html"])
def test_every_format_prints_the_variants(tmp_path: Path, format: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(VARIANT))
    run = invoke("solve", path, "--symbolic", "--format", format)
    assert run.returncode == 0, run.stderr
    for words in ("dilated", "convolution", "group"):
        assert words in run.stdout, words


def test_json_of_the_variants_is_the_formulas(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(VARIANT))
    run = invoke("solve", path, "--symbolic", "--format", "json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["symbolic"] == formulas(VARIANT)


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_latex_of_the_variants_compiles(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(VARIANT))
    run = invoke("solve", path, "--symbolic", "--format", "latex")
    assert run.returncode == 0, run.stderr
    (tmp_path / "s.tex").write_text(run.stdout, encoding="utf-8")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "s.tex"],
                          cwd=tmp_path, capture_output=True, check=False, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]


def test_symbolic_with_numbers_for_a_variant(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]], "filter": [[1, 2], [3, 4]], '
                    '"dilation": 2, "padding": [[0, 1], [1, 0]], "mode": "convolution", '
                    '"grad_output": [[1, 2], [3, 4]]}')
    run = invoke("solve", path, "--symbolic")
    assert run.returncode == 0, run.stderr
    assert "in symbols" in run.stdout and "with numbers" in run.stdout


def test_shapes_with_groups_that_do_not_divide_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"input": {"shape": [3, 3, 3]}, "filter": {"shape": [2, 1, 2, 2]}, '
                    '"groups": 2}')
    assert_one_line_error(invoke("solve", path, "--symbolic"), "groups", "divide")


# --------------------------------------------------------------------------
# a 1-D layer: one index


@PROPERTY
@given(layers(1), st.booleans())
def test_signal_formulas_with_the_numbers_put_in_give_the_engine_result(
        data: dict[str, Any], flipped: bool) -> None:
    if flipped:
        data = {**data, "mode": "convolution"}
    loaded = problem_from_data(data)
    assume(loaded.has_gradients and work(loaded.layer) <= 300)
    check_against_engine(loaded, symbolic_result(loaded.layer))


@st.composite
def signal_shapes(draw: Any) -> dict[str, Any]:
    """A 1-D layer given by shapes, in every rank, with the variants."""
    groups = draw(st.integers(1, 2))
    channels, filters = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    taps, dilation = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    span = dilation * (taps - 1) + 1
    length = draw(st.integers(span, span + 3))
    signal = [length] if channels == 1 and draw(st.booleans()) else [channels, length]
    kernel = ([taps] if channels == 1 and filters == 1 and draw(st.booleans())
              else [filters, channels // groups, taps])
    data: dict[str, Any] = {
        "dimensions": 1, "input": {"shape": signal}, "filter": {"shape": kernel},
        "padding": draw(st.sampled_from([0, 1, [2], "valid", "same", "full"])),
        "dilation": dilation, "groups": groups,
    }
    if data["padding"] != "same":
        data["stride"] = draw(st.integers(1, 2))
    if draw(st.booleans()):
        data["mode"] = "convolution"
    if draw(st.booleans()):
        data["bias"] = "symbolic"
    return data


@settings(PROPERTY, max_examples=10)
@given(signal_shapes())
def test_signal_gradients_are_the_derivatives_of_the_forward_formulas(
        data: dict[str, Any]) -> None:
    layer = layer_from_data(data)
    assume(work(layer) <= 250)
    assert_gradients_are_derivatives(layer)
    steps = [step.key for step in derive_symbolic(layer, max_terms=0).steps]
    assert steps[-1] == "identities"


SIGNAL = {"dimensions": 1, "input": {"shape": [5]}, "filter": {"shape": [3]}, "padding": 1,
          "bias": "symbolic"}


def test_signal_symbols_carry_one_index() -> None:
    got = formulas(SIGNAL)
    assert got["output"][0] == "X_1*K_2 + X_2*K_3 + B"
    assert got["grad_filter"][0] == "dZ_2*X_1 + dZ_3*X_2 + dZ_4*X_3 + dZ_5*X_4"
    assert got["grad_bias"] == "dZ_1 + dZ_2 + dZ_3 + dZ_4 + dZ_5"
    assert got["grad_input"][4] == "dZ_4*K_3 + dZ_5*K_2"
    many = formulas({**SIGNAL, "input": {"shape": [2, 5]}, "filter": {"shape": [1, 2, 3]},
                     "dilation": 2})
    assert many["output"][0][0] == ("X_1_2*K_1_1_2 + X_1_4*K_1_1_3 + X_2_2*K_1_2_2"
                                    " + X_2_4*K_1_2_3 + B_1")


@pytest.mark.parametrize("format", ["text", "latex", "markdown", "html"])
def test_signal_derivation_prints_one_index(tmp_path: Path, format: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(SIGNAL))
    run = invoke("solve", path, "--symbolic", "--format", format)
    assert run.returncode == 0, run.stderr
    assert "1-D" in run.stdout
    if format == "text":
        assert "Z₁ = X₁×K₂ + X₂×K₃ + B" in run.stdout
        assert "∂L/∂Kₘ = Σᵢ ∂L/∂Zᵢ×∂Zᵢ/∂Kₘ" in run.stdout
        assert "X₁₁" not in run.stdout


def test_signal_sample_with_symbolic_then_numbers() -> None:
    run = invoke("solve", "--sample", "conv1d", "--symbolic")
    assert run.returncode == 0, run.stderr
    assert "in symbols" in run.stdout and "with numbers" in run.stdout
    one = invoke("solve", "--sample", "conv1d", "--symbolic", "--only", "grad_input[2]")
    assert one.returncode == 0, one.stderr
    assert "∂L/∂X₃ = ∂L/∂Z₁×∂Z₁/∂X₃ + ∂L/∂Z₂×∂Z₂/∂X₃ + ∂L/∂Z₃×∂Z₃/∂X₃" in one.stdout
    assert "X₁₃" not in one.stdout


@pytest.mark.parametrize("data", [SIGNAL, VARIANT, {"dimensions": 1, "input": {"shape": [2, 6]},
                                                    "filter": {"shape": [2, 1, 3]},
                                                    "groups": 2}])
def test_the_schema_takes_the_variants_given_by_shapes(data: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(data, schema())
    layer_from_data(data)
