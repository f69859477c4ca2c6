"""``--symbolic`` for a batch [N][C][H][W]: each image's formulas in its own symbols
(X⁽ⁿ⁾, ∂L/∂Z⁽ⁿ⁾; ``X_n_c_i_j``, ``dZ_n_f_i_j`` in JSON), dL/dK and dL/dB summed.

* Random numeric batches: every ``symbolic`` string, with each image's numbers
  and the engine's dL/dZ of each image put in, is exactly the engine's result.
* The batch's gradient formulas are SymPy's derivatives of L = Σₙ Σ dZ⁽ⁿ⁾·Z⁽ⁿ⁾.
* Every format prints the images; LaTeX compiles; --only is refused in one line.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sympy
from helpers import DYADIC, LossDerivatives, _grid, assert_one_line_error, invoke
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_symbolic import nested_items, parsed, rational, same

from cnnstep.engine import solve
from cnnstep.problem import Layer, problem_from_data
from cnnstep.result import result
from cnnstep.symbolic import derive_symbolic, symbolic_result

PROPERTY = settings(max_examples=10, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def batches(draw: Any) -> dict[str, Any]:
    """A batch of 1 to 3 images with a stride, a padding, channels and filters."""
    images, channels, filters = (draw(st.integers(1, 3)), draw(st.integers(1, 2)),
                                 draw(st.integers(1, 2)))
    kh, kw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    h, w = draw(st.integers(kh, 3)), draw(st.integers(kw, 3))
    stride, padding = draw(st.integers(1, 2)), draw(st.integers(0, 1))
    oh, ow = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    data: dict[str, Any] = {
        "input": _grid(draw, DYADIC, (images, channels, h, w)),
        "filter": _grid(draw, DYADIC, (filters, channels, kh, kw)),
        "stride": stride, "padding": padding,
    }
    if draw(st.booleans()):
        data["bias"] = draw(st.lists(DYADIC, min_size=filters, max_size=filters))
    if draw(st.booleans()):
        data["target"] = _grid(draw, DYADIC, (images, filters, oh, ow))
    else:
        data["grad_output"] = _grid(draw, DYADIC, (images, filters, oh, ow))
    return json.loads(json.dumps(data, default=str))


def names(layer: Layer) -> dict[str, tuple[str, tuple[int, ...]]]:
    """name → (role, full index with the image first) of every symbol of a batch."""
    compact = layer.compact
    out: dict[str, tuple[str, tuple[int, ...]]] = {}
    shapes = {"input": ("X", layer.input_shape, True), "grad_output": ("dZ", layer.output_shape,
                                                                       True),
              "filter": ("K", layer.filter_shape, False), "bias": ("B", (layer.filters,), False)}
    for role, (letter, shape, imaged) in shapes.items():
        for n in range(layer.layout.batch if imaged else 1):
            for index in np.ndindex(*shape):
                shown = index[-2:] if compact and role != "bias" else index
                if compact and role == "bias":
                    shown = ()
                parts = [letter, *([str(n + 1)] if imaged else []),
                         *(str(i + 1) for i in shown)]
                out["_".join(parts)] = (role, ((n,) if imaged else ()) + index)
    return out


@PROPERTY
@given(batches())
def test_batch_formulas_with_the_numbers_put_in_give_the_engine_result(
        data: dict[str, Any]) -> None:
    assert_engine_result(data)


def test_a_transposed_batch_gives_the_engine_result() -> None:
    assert_engine_result({"layer": "conv_transpose", "input": [[[[1, 2], [3, 4]]],
                                                               [[[0, 1], [2, 1]]]],
                          "filter": [[[[1, 0], [2, 1]], [[0, 1], [1, 3]]]], "bias": [1, 2],
                          "stride": 2, "padding": 1, "target": [[[[1, 2]] * 2] * 2] * 2})


def assert_engine_result(data: dict[str, Any]) -> None:
    """Each image's numbers and the engine's dL/dZ put into every formula."""
    problem = problem_from_data(data)
    solution = solve(problem)
    numbers = result(solution)
    arrays = {"input": problem.input, "filter": problem.filter, "bias": problem.bias,
              "grad_output": solution.grad_conv}
    table = names(problem.layer)
    symbols = {name: sympy.Symbol(name) for name in table}
    values = {symbols[name]: rational(arrays[role][index])
              for name, (role, index) in table.items() if arrays[role] is not None}
    formulas = symbolic_result(problem.layer)
    assert list(formulas) == ["output", "grad_filter", *(["grad_bias"] if "bias" in data
                                                         else []), "grad_input"]
    for key, strings in formulas.items():
        engine = dict(nested_items(numbers[key]))
        for index, text in nested_items(strings):
            value = parsed(text, symbols).xreplace(values)
            exact = engine[index]
            assert isinstance(exact, Fraction)
            assert value == rational(exact), (key, index, text)


def test_batch_gradients_are_the_derivatives_of_the_forward_formulas() -> None:
    problem = problem_from_data({
        "input": [[[[1, 2, 0], [0, 1, 3]], [[1, 1, 1], [2, 0, 1]]]] * 2,
        "filter": [[[[1, 0]], [[2, 1]]], [[[0, 1]], [[1, -1]]]], "bias": [1, 2],
        "stride": [1, 2], "grad_output": [[[[1]] * 2] * 2] * 2})
    layer = problem.layer
    got = symbolic_result(layer)
    symbols = {name: sympy.Symbol(name) for name in names(layer)}
    derivative = LossDerivatives(
        symbols["dZ_" + "_".join(str(i + 1) for i in index)] * parsed(text, symbols)
        for index, text in nested_items(got["output"]))
    for key, letter in (("grad_filter", "K"), ("grad_bias", "B"), ("grad_input", "X")):
        for index, text in nested_items(got[key]):
            name = "_".join([letter, *(str(i + 1) for i in index)])
            assert same(parsed(text, symbols), derivative(symbols[name])), (key, name)


def test_one_image_entry_names_its_image() -> None:
    run = invoke("solve", "--sample", "batch-2-images", "--symbolic", "--format", "json")
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)["symbolic"]
    assert got["output"][1][0][0] == ("X_2_1_1*K_1_1 + X_2_1_2*K_1_2 + X_2_2_1*K_2_1"
                                      " + X_2_2_2*K_2_2 + B")
    assert got["grad_bias"] == ("dZ_1_1_1 + dZ_1_1_2 + dZ_1_2_1 + dZ_1_2_2 + dZ_2_1_1 + dZ_2_1_2"
                                " + dZ_2_2_1 + dZ_2_2_2")
    assert got["grad_input"][1][0][0][0] == "dZ_2_1_1*K_1_1"


@pytest.mark.parametrize("format", ["text", "latex", "markdown", "html"])
def test_every_format_prints_each_image_and_the_sums(format: str) -> None:
    run = invoke("solve", "--sample", "batch-2-images", "--symbolic", "--format", format)
    assert run.returncode == 0, run.stderr
    for words in ("in symbols, image 2", "summed over the batch", "with numbers"):
        assert words in run.stdout, words
    if format == "text":
        assert "∂L/∂K₁₁ = ∂L/∂K₁₁⁽¹⁾ + ∂L/∂K₁₁⁽²⁾" in run.stdout
        assert "Z₁₁⁽²⁾ = X₁₁⁽²⁾×K₁₁ + X₁₂⁽²⁾×K₁₂ + X₂₁⁽²⁾×K₂₁ + X₂₂⁽²⁾×K₂₂ + B" in run.stdout


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_batch_latex_compiles(tmp_path: Path) -> None:
    run = invoke("solve", "--sample", "batch-2-images", "--symbolic", "--format", "latex")
    assert run.returncode == 0, run.stderr
    (tmp_path / "s.tex").write_text(run.stdout)
    made = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "s.tex"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stdout[-2000:]


def test_a_brief_batch_derivation_works_one_entry_of_each() -> None:
    layer = problem_from_data(json.loads(
        (Path(__file__).parent.parent / "cnnstep" / "samples" / "batch-2-images.json")
        .read_text())).layer
    keys = [step.key for step in derive_symbolic(layer, detail="brief").steps]
    assert keys == ["shapes", "symbols", "forward", "forward", "grad_filter", "grad_bias",
                    "grad_input", "grad_input"]


def test_a_selection_of_a_batch_is_one_line() -> None:
    assert_one_line_error(invoke("solve", "--sample", "batch-2-images", "--symbolic",
                                 "--only", "grad_filter"), "only", "--symbolic", "batch")


def test_a_batch_given_by_shapes_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"input": {"shape": [2, 1, 3, 3]}, "filter": {"shape": [2, 2]}}')
    assert_one_line_error(invoke("solve", path, "--symbolic"), "input.shape",
                          "batch [N][C][H][W] is given with numbers")
