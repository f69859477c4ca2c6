"""``--symbolic`` on a 3-D layer: the formulas of a volume under a kernel of taps.

* Random 3-D layers with numbers (stride, dilation, every padding form, mode,
  groups, several filters and channels, a bias or none, a ReLU or a pool after
  the convolution): every ``symbolic`` string, with the problem's X, K, B and
  the engine's dL/dZ put in by SymPy, is exactly the numeric 3-D solve.
* Random 3-D layers given by shapes: the gradient formulas are SymPy's
  derivatives of L = Σ dZ·Z, Z the forward formulas, and the derivation's own
  check of the closing identities (conv and full conv) passes as it is built.
* Worked examples: the symbols' names and the result's shapes, a dilated and
  a flipped window, groups; every format; ``--only``, ``--detail`` and
  ``--max-terms``; the Python interface; the refusals, each one line.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sympy
from helpers import DYADIC, LossDerivatives, _grid, assert_one_line_error, invoke
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sympy.parsing.sympy_parser import parse_expr
from test_dimensions import _spelled

import cnnstep
from cnnstep import volume
from cnnstep.api import SymbolicVolume, VolumeFormulas
from cnnstep.problem import volume_from_data
from cnnstep.symbolic_volume import (
    VolumeSymbols,
    formulas,
    from_shapes,
    symbolic_result,
)

PROPERTY = settings(max_examples=12, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])

SMALL = {"dimensions": 3, "input": {"shape": [2, 3, 3]}, "filter": {"shape": [2, 2, 2]},
         "bias": "symbolic"}


@st.composite
def geometry(draw: Any) -> dict[str, Any]:
    """Sizes and settings of a small 3-D layer: groups, a mode, any padding form."""
    groups = draw(st.integers(1, 2))
    channels, filters = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    taps = [draw(st.integers(1, 2)) for _ in range(3)]
    dilation = [draw(st.integers(1, 2)) for _ in range(3)]
    stride = [draw(st.integers(1, 2)) for _ in range(3)]
    spans = [d * (k - 1) + 1 for d, k in zip(dilation, taps, strict=True)]
    forms = ["numbers", "sides", "valid", "full"] + (["same"] if stride == [1, 1, 1] else [])
    form = draw(st.sampled_from(forms))
    padding: Any = form
    if form == "numbers":
        padding = [draw(st.integers(0, 1)) for _ in range(3)]
    elif form == "sides":
        padding = [[draw(st.integers(0, 1)), draw(st.integers(0, 1))] for _ in range(3)]
    size = [draw(st.integers(e, e + 1)) for e in spans]
    return {"dimensions": 3, "channels": channels, "filters": filters, "size": size,
            "taps": taps, "stride": stride, "dilation": dilation, "padding": padding,
            "groups": groups, "mode": draw(st.sampled_from(["cross_correlation",
                                                            "convolution"])),
            "bias": draw(st.booleans())}


def settings_of(g: dict[str, Any]) -> dict[str, Any]:
    return {key: g[key] for key in ("dimensions", "stride", "dilation", "padding", "groups",
                                    "mode")}


def products(layer: Any) -> int:
    """The products of the forward formulas, to keep SymPy's work small."""
    filters, seen = layer.filter.shape[:2]
    return filters * seen * math.prod(layer.filter.shape[2:]) * math.prod(layer.output_size)


@st.composite
def numeric(draw: Any) -> dict[str, Any]:
    """A 3-D layer with numbers and a target (a ReLU or a max pool after it, sometimes)."""
    g = draw(geometry())
    data = {**settings_of(g),
            "input": _grid(draw, DYADIC, (g["channels"], *g["size"])),
            "filter": _grid(draw, DYADIC, (g["filters"], g["channels"] // g["groups"],
                                           *g["taps"]))}
    if g["bias"]:
        data["bias"] = draw(st.lists(DYADIC, min_size=g["filters"], max_size=g["filters"]))
    after = draw(st.sampled_from([None, "relu", "pool"]))
    if after == "relu":
        data["activation"] = "relu"
    elif after == "pool":
        data["pool"] = {"type": "max", "size": 1}
    out = volume_from_data(data).output_size
    data["target"] = _grid(draw, DYADIC, (g["filters"], *out))
    data["loss"] = "sse"
    return _spelled(data)


@st.composite
def shapes(draw: Any) -> dict[str, Any]:
    """A 3-D layer given by shapes."""
    g = draw(geometry())
    data = {**settings_of(g), "input": {"shape": [g["channels"], *g["size"]]},
            "filter": {"shape": [g["filters"], g["channels"] // g["groups"], *g["taps"]]}}
    if g["bias"]:
        data["bias"] = "symbolic"
    return data


# --------------------------------------------------------------------------
# SymPy: the formulas with the numbers put in, and differentiated


def parsed(text: str) -> Any:
    return parse_expr(text, local_dict={name: sympy.Symbol(name) for name in
                                        set(text.replace("*", " ").replace("+", " ").split())})


def full(key: str, shaped: Any, layer: Any, builder: VolumeSymbols) -> Any:
    """A formula array of the result, in the full layout."""
    q = next(q for q in builder.quantities() if key in (q.key, q.unlayered))
    array = np.empty(builder.shape(q), dtype=object)
    array.reshape(-1)[:] = list(np.array(shaped, dtype=object).reshape(-1))
    return array


def name(role: str, index: tuple[int, ...], compact: bool) -> str:
    """The JSON name of a symbol: X_c_d_i_j (X_d_i_j for one channel and one filter)."""
    letter = {"input": "X", "filter": "K", "bias": "B", "grad_output": "dZ"}[role]
    if compact:
        index = () if role == "bias" else index[-3:]
    return "_".join([letter, *(str(i + 1) for i in index)])


def rational(value: Fraction) -> Any:
    return sympy.Rational(value.numerator, value.denominator)


@PROPERTY
@given(numeric())
def test_formulas_with_the_numbers_put_in_give_the_numeric_solve(data: dict[str, Any]) -> None:
    layer = volume_from_data(data)
    if products(layer) > 300:
        return
    got = symbolic_result(layer)
    solved = volume.arrays(layer)
    builder = VolumeSymbols(layer)
    compact = layer.input.shape[0] == 1 and layer.filter.shape[0] == 1
    values: dict[Any, Any] = {}
    dz = solved.get("grad_conv", solved["grad_output"])
    for role, array in (("input", layer.input), ("filter", layer.filter),
                        ("bias", layer.bias), ("grad_output", dz)):
        if array is not None:
            for e in np.ndindex(*array.shape):
                values[sympy.Symbol(name(role, e, compact))] = rational(array[e])
    layered = "activation" in data or "pool" in data
    assert list(got) == ["conv" if layered else "output", "grad_filter",
                         *(["grad_bias"] if "bias" in data else []), "grad_input"]
    for key, shaped in got.items():
        own = "output" if key == "conv" else key
        exact = solved["conv" if layered and own == "output" else own]
        strings = full(own, shaped, layer, builder)
        for e in np.ndindex(*strings.shape):
            expression = parsed(strings[e])
            assert expression.free_symbols <= set(values), (key, e, strings[e])
            assert expression.xreplace(values) == rational(exact[e]), (key, e, strings[e])


@settings(PROPERTY, max_examples=8)
@given(shapes())
def test_gradients_are_the_derivatives_of_the_forward_formulas(data: dict[str, Any]) -> None:
    layer = from_shapes(data)
    if products(layer) > 250:
        return
    got = symbolic_result(layer)
    builder = VolumeSymbols(layer)
    compact = layer.input.shape[0] == 1 and layer.filter.shape[0] == 1
    arrays = {key: full(key, got[key], layer, builder) for key in got}
    derivative = LossDerivatives(sympy.Symbol(name("grad_output", e, compact))
                                 * parsed(arrays["output"][e])
                                 for e in np.ndindex(*arrays["output"].shape))
    for key, role in (("grad_filter", "filter"), ("grad_input", "input"),
                      ("grad_bias", "bias")):
        if key not in arrays:
            continue
        for e in np.ndindex(*arrays[key].shape):
            wanted = derivative(sympy.Symbol(name(role, e, compact)))
            assert sympy.expand(parsed(arrays[key][e]) - wanted) == 0, (key, e)
    # the closing identities are checked against the chain rule as they are built
    assert formulas(layer, max_terms=0).steps[-1].key == "identities"


# --------------------------------------------------------------------------
# worked examples


def result_of(data: dict[str, Any]) -> dict[str, Any]:
    return symbolic_result(from_shapes(data))


def test_one_channel_one_filter_carries_depth_row_and_column() -> None:
    got = result_of(SMALL)
    assert got["output"][0][0][0] == ("X_1_1_1*K_1_1_1 + X_1_1_2*K_1_1_2 + X_1_2_1*K_1_2_1 + "
                                      "X_1_2_2*K_1_2_2 + X_2_1_1*K_2_1_1 + X_2_1_2*K_2_1_2 + "
                                      "X_2_2_1*K_2_2_1 + X_2_2_2*K_2_2_2 + B")
    assert got["grad_bias"].startswith("dZ_1_1_1 + dZ_1_1_2")
    assert got["grad_input"][0][0][0] == "dZ_1_1_1*K_1_1_1"
    assert got["grad_filter"][1][1][1] == ("dZ_1_1_1*X_2_2_2 + dZ_1_1_2*X_2_2_3 + "
                                           "dZ_1_2_1*X_2_3_2 + dZ_1_2_2*X_2_3_3")
    # in the shapes given: [D][H][W] in, [od][oh][ow] out, the bias a number
    assert np.array(got["output"]).shape == (1, 2, 2)
    assert np.array(got["grad_input"]).shape == (2, 3, 3)


def test_channels_and_filters_name_every_index() -> None:
    got = result_of({"dimensions": 3, "input": {"shape": [2, 2, 2, 2]},
                     "filter": {"shape": [3, 2, 1, 1, 1]}, "bias": "symbolic"})
    assert got["output"][2][0][0][1] == "X_1_1_1_2*K_3_1_1_1_1 + X_2_1_1_2*K_3_2_1_1_1 + B_3"
    assert got["grad_bias"][0].startswith("dZ_1_1_1_1 + ")
    assert got["grad_input"][1][0][0][0] == ("dZ_1_1_1_1*K_1_2_1_1_1 + dZ_2_1_1_1*K_2_2_1_1_1 + "
                                             "dZ_3_1_1_1*K_3_2_1_1_1")


def test_dilation_padding_mode_and_groups_shape_each_window() -> None:
    dilated = result_of({"dimensions": 3, "input": {"shape": [3, 3, 3]},
                         "filter": {"shape": [2, 1, 1]}, "dilation": [2, 1, 1]})
    assert dilated["output"][0][0][0] == "X_1_1_1*K_1_1_1 + X_3_1_1*K_2_1_1"
    padded = result_of({"dimensions": 3, "input": {"shape": [1, 1, 2]},
                        "filter": {"shape": [1, 1, 2]}, "padding": [[0, 0], [0, 0], [1, 0]]})
    assert padded["output"][0][0] == ["X_1_1_1*K_1_1_2", "X_1_1_1*K_1_1_1 + X_1_1_2*K_1_1_2"]
    flipped = result_of({"dimensions": 3, "input": {"shape": [1, 1, 2]},
                         "filter": {"shape": [1, 1, 2]}, "mode": "convolution"})
    assert flipped["output"][0][0][0] == "X_1_1_1*K_1_1_2 + X_1_1_2*K_1_1_1"
    grouped = result_of({"dimensions": 3, "input": {"shape": [2, 1, 1, 1]},
                         "filter": {"shape": [2, 1, 1, 1, 1]}, "groups": 2})
    assert grouped["output"] == [[[["X_1_1_1_1*K_1_1_1_1_1"]]], [[["X_2_1_1_1*K_2_1_1_1_1"]]]]


def test_derivation_steps_and_symbols() -> None:
    made = formulas(from_shapes({**SMALL, "stride": 2, "padding": 1}), max_terms=0)
    assert [step.key for step in made.steps] == ["shapes", "symbols", "forward", "grad_filter",
                                                 "grad_bias", "grad_input", "identities"]
    assert made.spatial == 3


SAMPLE = "symbolic-volume"


@pytest.mark.parametrize("fmt", ["text", "latex", "markdown", "html"])
def test_every_format_prints_the_formulas(fmt: str) -> None:
    run = invoke("solve", "--sample", SAMPLE, "--symbolic", "--format", fmt)
    assert run.returncode == 0, run.stderr
    assert "X" in run.stdout and run.stderr == ""


def test_json_of_shapes_holds_the_formulas_alone() -> None:
    run = invoke("solve", "--sample", SAMPLE, "--symbolic", "--format", "json")
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    assert list(got) == ["symbolic"]
    assert list(got["symbolic"]) == ["output", "grad_filter", "grad_bias", "grad_input"]


def test_numbers_follow_the_formulas(tmp_path: Path) -> None:
    run = invoke("solve", "--sample", "conv3d-small", "--symbolic", "--width", "100")
    assert run.returncode == 0, run.stderr
    text = run.stdout
    assert text.index("Forward pass in symbols") < text.index("Forward pass, with numbers")
    assert "Loss, with numbers" in text
    data = json.loads(invoke("solve", "--sample", "conv3d-small", "--symbolic", "--format",
                             "json").stdout)
    plain = json.loads(invoke("solve", "--sample", "conv3d-small", "--format", "json").stdout)
    assert {key: value for key, value in data.items() if key != "symbolic"} == plain
    assert data["symbolic"]["grad_bias"].count("dZ_") == 8


def test_after_an_activation_the_formulas_stop_at_dz(tmp_path: Path) -> None:
    problem = json.loads((Path(cnnstep.sample("conv3d-small"))).read_text())
    path = tmp_path / "relu.json"
    path.write_text(json.dumps({**problem, "activation": "relu"}))
    got = json.loads(invoke("solve", path, "--symbolic", "--format", "json").stdout)
    assert next(iter(got["symbolic"])) == "conv"
    assert got["symbolic"]["conv"] == json.loads(invoke(
        "solve", "--sample", "conv3d-small", "--symbolic", "--format", "json").stdout
    )["symbolic"]["output"]


def test_only_detail_and_max_terms_shape_the_formulas() -> None:
    only = invoke("solve", "--sample", SAMPLE, "--symbolic", "--only", "grad_input[1][2][2]")
    assert only.returncode == 0, only.stderr
    assert "∂L/∂X₂₃₃ =" in only.stdout and "∂L/∂X₁₁₁ =" not in only.stdout
    assert "Forward pass in symbols" not in only.stdout
    step = invoke("solve", "--sample", SAMPLE, "--symbolic", "--only", "grad_bias")
    assert "Gradient with respect to the bias" in step.stdout
    assert "Gradient with respect to the input" not in step.stdout
    brief = invoke("solve", "--sample", SAMPLE, "--symbolic", "--detail", "brief").stdout
    assert "are worked out the same way" in brief and "Z₁₂₂ =" not in brief
    answers = invoke("solve", "--sample", SAMPLE, "--symbolic", "--detail", "answers").stdout
    assert "Local gradients" not in answers and "∂L/∂X₂₃₃ = " in answers
    cut = invoke("solve", "--sample", SAMPLE, "--symbolic", "--max-terms", "20").stdout
    assert "more" in cut or "left out" in cut or "not shown" in cut
    wrong = invoke("solve", "--sample", SAMPLE, "--symbolic", "--only", "loss")
    assert_one_line_error(wrong, "--only loss")


def test_python_gives_the_formulas() -> None:
    shown = cnnstep.solve(SMALL)
    assert isinstance(shown, VolumeFormulas)
    assert shown.result["symbolic"]["grad_input"][0][0][0] == "dZ_1_1_1*K_1_1_1"
    assert "Forward pass in symbols" in shown.to_text()
    worked = cnnstep.solve(cnnstep.sample("conv3d-small"), symbolic=True)
    assert isinstance(worked, SymbolicVolume)
    assert set(worked.result) >= {"output", "grad_input", "symbolic"}
    assert "\\begin{document}" in worked.to_latex()


@pytest.mark.parametrize(("change", "needle"), [
    ({"steps": 2, "target": [[[1, 1], [1, 1]]], "learning_rate": 1}, "steps"),
    ({"filter": None, "activation": "relu"}, "no filter"),
    ({"bias": "symbolic"}, "bias"),
])
def test_what_symbolic_does_not_derive_is_one_line(tmp_path: Path, change: dict[str, Any],
                                                   needle: str) -> None:
    data: dict[str, Any] = {"dimensions": 3, "input": [[[1, 2], [3, 4]]], "filter": [[[1]]]}
    data.update(change)
    data = {key: value for key, value in data.items() if value is not None}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    assert_one_line_error(invoke("solve", path, "--symbolic"), needle)


@pytest.mark.parametrize(("data", "needle"), [
    ({**SMALL, "target": [[[1]]]}, "target: a layer given by shapes"),
    ({**SMALL, "input": {"shape": [3, 3]}}, "input.shape: expected a list [D][H][W]"),
    ({**SMALL, "filter": [[[1]]]}, "filter: give input and filter both as shapes"),
    ({**SMALL, "bias": 1}, "bias: with input and filter given as shapes"),
    ({**SMALL, "filter": {"shape": [4, 1, 1]}}, "larger than the padded input"),
    ({**SMALL, "input": {"shape": [200, 200, 200]}}, "operations"),
    ({"dimensions": 3, "input": {"shape": [2, 2, 2]}}, "filter: missing"),
])
def test_bad_shapes_are_one_line(tmp_path: Path, data: dict[str, Any], needle: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    assert_one_line_error(invoke("solve", path, "--symbolic"), needle)


def test_shapes_without_symbolic_say_so(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(SMALL))
    assert_one_line_error(invoke("solve", path), "run it with --symbolic")
    path.write_text(json.dumps({**SMALL, "filter": [[[1]]]}))
    assert_one_line_error(invoke("solve", path), "both as shapes", "or both as numbers")


def test_verify_wants_numbers(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(SMALL))
    assert_one_line_error(invoke("solve", path, "--symbolic", "--verify"), "--verify",
                          "only shapes")


def test_after_sigmoid_the_numbers_are_the_json_result_without_symbolic(tmp_path: Path) -> None:
    problem = json.loads((Path(cnnstep.sample("conv3d-small"))).read_text())
    path = tmp_path / "sigmoid.json"
    path.write_text(json.dumps({**problem, "activation": "sigmoid", "target": [[[1, 0], [0, 1]],
                                                                               [[1, 1], [1, 0]]]}))
    formulas_too = json.loads(invoke("solve", path, "--symbolic", "--format", "json").stdout)
    plain = json.loads(invoke("solve", path, "--format", "json").stdout)
    assert formulas_too.pop("symbolic")["conv"][0][0][0].endswith(" + B")
    assert formulas_too == plain


def test_the_schema_takes_a_volume_given_by_shapes() -> None:
    from cnnstep.schema import schema

    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(schema())
    validator.validate({"dimensions": 3, "input": {"shape": [2, 3, 3, 3]},
                        "filter": {"shape": [4, 2, 2, 2, 2]}, "bias": "symbolic"})
    assert not validator.is_valid({"dimensions": 3, "input": {"shape": [3, 3]},
                                   "filter": {"shape": [2, 2, 2]}})
