"""``--symbolic`` on a 3-D transposed layer and on a batch of 3-D volumes.

* Random 3-D transposed layers with numbers (channels, groups, stride, padding,
  dilation, output_padding, a bias or none, a ReLU after it): every
  ``symbolic`` string, with the problem's X, K, B and the engine's dL/dZ put in
  by SymPy, is exactly the numeric 3-D solve.
* Random batches of 3-D volumes, ordinary or transposed: every string, with
  each volume's numbers and dL/dZ put in, is exactly the batch's numeric solve
  (each volume's Z and dL/dX, the sums dL/dK and dL/dB).
* SymPy differentiates the loss Σ dZ·Z (Σₙ Σ dZ⁽ⁿ⁾·Z⁽ⁿ⁾ for a batch), Z the
  forward formulas, and gets the gradient formulas.
* Worked examples: the symbols' names, the words and steps of every format,
  LaTeX compiles, the refusals are one line, the work limit counts every volume.
"""

from __future__ import annotations

import json
import math
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
from sympy.parsing.sympy_parser import parse_expr
from test_dimensions import _spelled

import cnnstep
from cnnstep import volume, volume_batch
from cnnstep.api import SymbolicVolume
from cnnstep.problem import Volume, VolumeBatch, volumes_from_data
from cnnstep.symbolic_volume import formulas, from_shapes, symbolic_result
from cnnstep.symbolic_volume_batch import batch_formulas

PROPERTY = settings(max_examples=8, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])
TRANSPOSED = "symbolic-volume-transpose"
BATCH = "conv3d-batch"


# --------------------------------------------------------------------------
# random layers


@st.composite
def transposed(draw: Any) -> dict[str, Any]:
    """A small 3-D transposed layer's geometry: its filter [C][F/groups][kd][kh][kw]."""
    groups = draw(st.integers(1, 2))
    channels, per_group = groups * draw(st.integers(1, 2)), draw(st.integers(1, 2))
    taps = [draw(st.integers(1, 2)) for _ in range(3)]
    stride = [draw(st.integers(1, 2)) for _ in range(3)]
    dilation = [draw(st.integers(1, 2)) for _ in range(3)]
    size = [draw(st.integers(1, 2)) for _ in range(3)]
    padding = [draw(st.integers(0, ((n - 1) * s + d * (k - 1)) // 2))
               for n, s, d, k in zip(size, stride, dilation, taps, strict=True)]
    extra = [draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True)]
    return {"layer": "conv_transpose", "groups": groups, "stride": stride,
            "dilation": dilation, "padding": padding, "output_padding": extra,
            "input": (channels, *size), "filter": (channels, per_group, *taps),
            "filters": groups * per_group}


@st.composite
def ordinary(draw: Any) -> dict[str, Any]:
    """A small ordinary 3-D layer's geometry."""
    channels, filters = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    taps = [draw(st.integers(1, 2)) for _ in range(3)]
    size = [draw(st.integers(k, k + 1)) for k in taps]
    return {"stride": [draw(st.integers(1, 2)) for _ in range(3)],
            "padding": draw(st.integers(0, 1)), "input": (channels, *size),
            "filter": (filters, channels, *taps), "filters": filters}


def with_numbers(draw: Any, g: dict[str, Any], images: int | None) -> dict[str, Any]:
    """The geometry ``g`` with numbers: one volume, or a batch of ``images``."""
    lead = () if images is None else (images,)
    data: dict[str, Any] = {"dimensions": 3, **{key: value for key, value in g.items()
                                                 if key not in ("input", "filter", "filters")}}
    data["input"] = _grid(draw, DYADIC, (*lead, *g["input"]))
    data["filter"] = _grid(draw, DYADIC, g["filter"])
    if draw(st.booleans()):
        data["bias"] = draw(st.lists(DYADIC, min_size=g["filters"], max_size=g["filters"]))
    if draw(st.booleans()):
        data["activation"] = "relu"
    probe = volumes_from_data({**data, "input": (data["input"][0] if lead else data["input"])})
    assert isinstance(probe, Volume)
    data["target"] = _grid(draw, DYADIC, (*lead, g["filters"], *probe.output_size))
    data["loss"] = draw(st.sampled_from(["sse", "mse"]))
    spelled: dict[str, Any] = _spelled(data)
    return spelled


@st.composite
def transposed_layers(draw: Any) -> dict[str, Any]:
    return with_numbers(draw, draw(transposed()), None)


@st.composite
def batches(draw: Any) -> dict[str, Any]:
    g = draw(st.one_of(transposed(), ordinary()))
    return with_numbers(draw, g, draw(st.integers(1, 3)))


def products(layer: Volume) -> int:
    """The products of the forward formulas, to keep SymPy's work small."""
    if layer.transposed:
        return layer.filter.size * math.prod(layer.input.shape[1:])
    return layer.filters * layer.filter[0].size * math.prod(layer.output_size)


# --------------------------------------------------------------------------
# SymPy: the formulas with the numbers put in, and differentiated


def parsed(text: str) -> Any:
    return parse_expr(text, local_dict={name: sympy.Symbol(name) for name in
                                        set(text.replace("*", " ").replace("+", " ").split())})


def name(role: str, index: tuple[int, ...], compact: bool, n: int | None = None) -> str:
    """The JSON name of a symbol, with its volume first in a batch: X_2_1_1_1."""
    letter = {"input": "X", "filter": "K", "bias": "B", "grad_output": "dZ"}[role]
    if compact:
        index = () if role == "bias" else index[-3:]
    return "_".join([letter, *([] if n is None else [str(n + 1)]), *(str(i + 1) for i in index)])


def rational(value: Fraction) -> Any:
    return sympy.Rational(value.numerator, value.denominator)


def compact(layer: Volume) -> bool:
    return bool(layer.input.shape[0] == 1 and layer.filters == 1)


def values_of(layer: Volume, dz: Any, n: int | None = None,
              shared: bool = True) -> dict[Any, Any]:
    """Symbol → number: the layer's X (volume ``n``'s), K and B, and dZ."""
    values: dict[Any, Any] = {}
    arrays = [("input", layer.input, n), ("grad_output", dz, n)]
    if shared:
        arrays += [("filter", layer.filter, None), ("bias", layer.bias, None)]
    for role, array, image in arrays:
        if array is not None:
            for e in np.ndindex(*array.shape):
                values[sympy.Symbol(name(role, e, compact(layer), image))] = rational(array[e])
    return values


def keys_of(data: dict[str, Any]) -> list[str]:
    return ["conv" if "activation" in data else "output", "grad_filter",
            *(["grad_bias"] if "bias" in data else []), "grad_input"]


def assert_equal(strings: Any, exact: Any, values: dict[Any, Any], key: str) -> None:
    """Every string of a formula array, the numbers put in, is the exact value."""
    texts = np.array(strings, dtype=object)
    numbers = np.array(exact, dtype=object).reshape(texts.shape)
    for e in np.ndindex(*texts.shape):
        expression = parsed(texts[e])
        assert expression.free_symbols <= set(values), (key, e, texts[e])
        assert expression.xreplace(values) == rational(numbers[e]), (key, e, texts[e])


@PROPERTY
@given(transposed_layers())
def test_transposed_formulas_with_the_numbers_put_in_give_the_numeric_solve(
        data: dict[str, Any]) -> None:
    layer = volumes_from_data(data)
    assert isinstance(layer, Volume)
    if products(layer) > 200:
        return
    got = symbolic_result(layer)
    solved = volume.arrays(layer)
    values = values_of(layer, solved.get("grad_conv", solved["grad_output"]))
    assert list(got) == keys_of(data)
    for key, strings in got.items():
        assert_equal(strings, solved[key], values, key)


@PROPERTY
@given(batches())
def test_batch_formulas_with_each_volumes_numbers_give_the_numeric_solve(
        data: dict[str, Any]) -> None:
    batch = volumes_from_data(data)
    assert isinstance(batch, VolumeBatch)
    if products(batch.layer) * batch.count > 200:
        return
    got = symbolic_result(batch)
    solved = volume_batch.arrays(batch)
    dz = solved.get("grad_conv", solved["grad_output"])
    values: dict[Any, Any] = {}
    for n, image in enumerate(batch.images):
        values.update(values_of(image, dz[n], n, shared=n == 0))
    assert list(got) == keys_of(data)
    for key, strings in got.items():
        assert_equal(strings, solved[key], values, key)


def assert_derivatives(got: dict[str, Any], layer: Volume, images: int | None) -> None:
    """The gradient formulas are SymPy's derivatives of Σ dZ·Z (over every volume)."""
    tight = compact(layer)
    each = [None] if images is None else list(range(images))
    z = np.array(got["output"], dtype=object)
    z = z.reshape((len(each), layer.filters, *layer.output_size))
    derivative = LossDerivatives(sympy.Symbol(name("grad_output", e[1:], tight, each[e[0]]))
                                 * parsed(z[e]) for e in np.ndindex(*z.shape))
    shapes = {"grad_filter": ("filter", layer.filter.shape, [None]),
              "grad_bias": ("bias", (layer.filters,), [None]),
              "grad_input": ("input", layer.input.shape, each)}
    for key, (role, shape, owners) in shapes.items():
        if key not in got:
            continue
        texts = np.array(got[key], dtype=object).reshape((len(owners), *shape))
        for e in np.ndindex(*texts.shape):
            wanted = derivative(sympy.Symbol(name(role, e[1:], tight, owners[e[0]])))
            assert sympy.expand(parsed(texts[e]) - wanted) == 0, (key, e)


@settings(PROPERTY, max_examples=6)
@given(transposed(), st.booleans())
def test_transposed_gradients_are_the_derivatives_of_the_scatter_sums(
        g: dict[str, Any], bias: bool) -> None:
    data = {"dimensions": 3, **{key: value for key, value in g.items()
                                 if key not in ("input", "filter", "filters",
                                                "output_padding")},
            "input": {"shape": list(g["input"])}, "filter": {"shape": list(g["filter"])},
            **({"bias": "symbolic"} if bias else {})}
    layer = from_shapes(data)
    if products(layer) > 150:
        return
    assert_derivatives(symbolic_result(layer), layer, None)


def test_batch_gradients_are_the_derivatives_of_every_volumes_formulas() -> None:
    for extra in ({}, {"layer": "conv_transpose", "stride": 2, "padding": [0, 1, 0]}):
        data = {"dimensions": 3, "input": [[[[[1, 2], [0, 1]]], [[[2, 0], [1, 1]]]]] * 2,
                "filter": [[[[[1, 0], [2, 1]]], [[[0, 1], [1, 2]]]]] * 2, "bias": [1, 2],
                "grad_output": 0, **extra}
        probe = volumes_from_data({key: value for key, value in data.items()
                                   if key != "grad_output"} | {"input": data["input"][0]})
        assert isinstance(probe, Volume)
        data["grad_output"] = np.ones((2, 2, *probe.output_size), dtype=int).tolist()
        batch = volumes_from_data(data)
        assert isinstance(batch, VolumeBatch)
        assert_derivatives(symbolic_result(batch), batch.layer, batch.count)


# --------------------------------------------------------------------------
# worked examples


def test_transposed_symbols_follow_the_filters_own_axes() -> None:
    got = symbolic_result(from_shapes({
        "dimensions": 3, "layer": "conv_transpose", "input": {"shape": [2, 1, 1, 2]},
        "filter": {"shape": [2, 1, 1, 1, 2]}, "stride": [1, 1, 2], "groups": 2,
        "bias": "symbolic"}))
    # input channel 2 feeds output channel 2 alone: K_c_f_a_b_e, c = 2, f' = 1
    assert got["output"][1][0][0] == ["X_2_1_1_1*K_2_1_1_1_1 + B_2", "X_2_1_1_1*K_2_1_1_1_2 + B_2",
                                      "X_2_1_1_2*K_2_1_1_1_1 + B_2", "X_2_1_1_2*K_2_1_1_1_2 + B_2"]
    assert got["grad_filter"][0][0][0][0][1] == "dZ_1_1_1_2*X_1_1_1_1 + dZ_1_1_1_4*X_1_1_1_2"
    assert got["grad_input"][1][0][0][1] == "dZ_2_1_1_3*K_2_1_1_1_1 + dZ_2_1_1_4*K_2_1_1_1_2"


def test_the_transposed_sample_crops_the_products_of_the_padding() -> None:
    got = symbolic_result(from_shapes(json.loads(
        (Path(cnnstep.__file__).parent / "samples" / f"{TRANSPOSED}.json").read_text())))
    # padding 1 along depth: a 1×3×3 output, each entry the products of depth 2
    assert got["output"][0][0][0] == "X_1_1_1*K_2_1_1 + X_2_1_1*K_1_1_1 + B"
    assert got["grad_input"][0][0][0] == "dZ_1_1_1*K_2_1_1 + dZ_1_1_2*K_2_1_2 + " \
        "dZ_1_2_1*K_2_2_1 + dZ_1_2_2*K_2_2_2"


def test_a_batch_names_each_volume_first() -> None:
    run = invoke("solve", "--sample", BATCH, "--symbolic", "--format", "json")
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)["symbolic"]
    assert got["output"][1][0][0][0].startswith("X_2_1_1_1*K_1_1_1 + X_2_1_1_2*K_1_1_2")
    assert got["grad_bias"].startswith("dZ_1_1_1_1 + ") and "dZ_2_1_2_2" in got["grad_bias"]
    assert got["grad_input"][1][0][0][0] == ["dZ_2_1_1_1*K_1_1_1",
                                             "dZ_2_1_1_1*K_1_1_2 + dZ_2_1_1_2*K_1_1_1",
                                             "dZ_2_1_1_2*K_1_1_2"]
    assert got["grad_filter"][0][0][0] == (
        "dZ_1_1_1_1*X_1_1_1_1 + dZ_1_1_1_2*X_1_1_1_2 + dZ_1_1_2_1*X_1_1_2_1 + "
        "dZ_1_1_2_2*X_1_1_2_2 + dZ_2_1_1_1*X_2_1_1_1 + dZ_2_1_1_2*X_2_1_1_2 + "
        "dZ_2_1_2_1*X_2_1_2_1 + dZ_2_1_2_2*X_2_1_2_2")


@pytest.mark.parametrize("format", ["text", "latex", "markdown", "html"])
def test_every_format_prints_each_volume_and_the_sums(format: str) -> None:
    run = invoke("solve", "--sample", BATCH, "--symbolic", "--format", format)
    assert run.returncode == 0, run.stderr
    for words in ("in symbols, volume 2", "summed over the batch", "with numbers"):
        assert words in run.stdout, words
    if format == "text":
        assert "∂L/∂K₁₁₁ = ∂L/∂K₁₁₁⁽¹⁾ + ∂L/∂K₁₁₁⁽²⁾" in run.stdout
        assert "Z₁₁₁⁽²⁾ = X₁₁₁⁽²⁾×K₁₁₁ + X₁₁₂⁽²⁾×K₁₁₂" in run.stdout


def test_a_transposed_layer_with_numbers_gives_the_formulas_then_the_numbers() -> None:
    run = invoke("solve", "--sample", "conv3d-transpose-stride2", "--symbolic")
    assert run.returncode == 0, run.stderr
    for words in ("scatters each input entry over the output", "Z₁₁₁ = X₁₁₁×K₂₂₂ + B",
                  "∂L/∂X = corr(∂L/∂Z, K)", "Forward pass, with numbers"):
        assert words in run.stdout, words
    assert "The gradients as convolutions" not in run.stdout


def test_detail_and_the_term_limit_shape_a_batch() -> None:
    layer = volumes_from_data(json.loads(
        (Path(cnnstep.__file__).parent / "samples" / f"{BATCH}.json").read_text()))
    assert isinstance(layer, VolumeBatch)
    keys = [step.key for step in batch_formulas(layer, detail="brief").steps]
    assert keys == ["shapes", "symbols", "forward", "forward", "grad_filter", "grad_bias",
                    "grad_input", "grad_input"]
    answers = batch_formulas(layer, detail="answers")
    assert all(len(block.forms) == 1 for step in answers.steps for block in step.blocks)
    assert batch_formulas(layer, max_terms=20).shortened
    assert not batch_formulas(layer, max_terms=0).shortened
    numbers = cnnstep.solve(layer, symbolic=True)
    assert isinstance(numbers, SymbolicVolume)
    assert "symbolic" in numbers.result and "grad_input" in numbers.result
    assert numbers.derivation(detail="answers").title.startswith("Worked solution: one 3-D")


def test_the_transposed_derivation_has_no_identities_step() -> None:
    layer = from_shapes({"dimensions": 3, "layer": "conv_transpose",
                         "input": {"shape": [1, 1, 2]}, "filter": {"shape": [1, 1, 2]}})
    made = formulas(layer, max_terms=0)
    assert made.title == "Symbolic derivation: one 3-D transposed convolution layer"
    assert [step.key for step in made.steps] == ["shapes", "symbols", "forward",
                                                 "grad_filter", "grad_input"]


@pytest.mark.parametrize(("args", "change", "needles"), [
    (("--only", "grad_filter"), {}, ("only", "--symbolic", "batch")),
    ((), {"steps": 2, "learning_rate": 1}, ("steps",)),
    (("--max-work", "2000"), {}, ("over the limit",)),
])
def test_what_a_batch_refuses_is_one_line(tmp_path: Path, args: tuple[str, ...],
                                          change: dict[str, Any],
                                          needles: tuple[str, ...]) -> None:
    data = json.loads((Path(cnnstep.__file__).parent / "samples" / f"{BATCH}.json").read_text())
    path = tmp_path / "p.json"
    path.write_text(json.dumps({**data, **change}))
    assert_one_line_error(invoke("solve", path, "--symbolic", *args), *needles)


def test_a_transposed_layer_given_by_shapes_takes_no_output_padding(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"dimensions": 3, "layer": "conv_transpose", "stride": 2,
                                "output_padding": 1, "input": {"shape": [2, 2, 2]},
                                "filter": {"shape": [2, 2, 2]}}))
    assert_one_line_error(invoke("solve", path, "--symbolic"), "output_padding")


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_the_batch_and_the_transposed_latex_compile(tmp_path: Path) -> None:
    for n, sample in enumerate((BATCH, "conv3d-transpose-stride2")):
        run = invoke("solve", "--sample", sample, "--symbolic", "--format", "latex")
        assert run.returncode == 0, run.stderr
        (tmp_path / f"s{n}.tex").write_text(run.stdout)
        made = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                               f"s{n}.tex"], cwd=tmp_path, capture_output=True, text=True,
                              timeout=120)
        assert made.returncode == 0, made.stdout[-2000:]
