"""The symbolic derivation (``--symbolic``) and its JSON key ``symbolic``.

* Seed 002's layer (3×3 input, 2×2 filter, a bias, given as shapes): every
  equation the seed writes with symbols is found again, in the JSON result
  (compared by SymPy equality) and in the text, LaTeX and Markdown renderings.
* Random numeric layers: every ``symbolic`` string, with the problem's numbers
  put in by SymPy, equals exactly what the engine computes; and the gradient
  formulas are the derivatives of the forward formulas.
* The contract: symbol names, shapes, keys, the loader's rules for shapes, the
  order of a numeric derivation with ``--symbolic``, and notation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sympy
from helpers import SAMPLES, Case, LossDerivatives, Result, assert_one_line_error, cases, invoke
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from oracle import shape_of
from sympy.parsing.sympy_parser import parse_expr

from cnnstep.engine import solve as solve_layer
from cnnstep.problem import Layer, layer_from_data, load, problem_from_data
from cnnstep.result import result
from cnnstep.symbolic import derive_both, derive_symbolic, symbolic_result

SEED_SAMPLE = SAMPLES / "symbolic-3x3-2x2.json"
TWO_CHANNELS_SAMPLE = SAMPLES / "symbolic-two-channels-stride2.json"
SEED_LAYER = {"input": {"shape": [3, 3]}, "filter": {"shape": [2, 2]}, "bias": "symbolic"}

PROPERTY = settings.get_profile("symbolic")

# --------------------------------------------------------------------------
# seed 002, as the seed writes it (with its typos on the left-hand sides put
# right: its third and fourth ∂L/∂K are ∂L/∂K₂₁ and ∂L/∂K₂₂)

SEED_FORWARD = {
    "Z11": "X11*K11 + X12*K12 + X21*K21 + X22*K22 + B",
    "Z12": "X12*K11 + X13*K12 + X22*K21 + X23*K22 + B",
    "Z21": "X21*K11 + X22*K12 + X31*K21 + X32*K22 + B",
    "Z22": "X22*K11 + X23*K12 + X32*K21 + X33*K22 + B",
}
SEED_GRAD_FILTER = {
    "dK11": "dZ11*X11 + dZ12*X12 + dZ21*X21 + dZ22*X22",
    "dK12": "dZ11*X12 + dZ12*X13 + dZ21*X22 + dZ22*X23",
    "dK21": "dZ11*X21 + dZ12*X22 + dZ21*X31 + dZ22*X32",
    "dK22": "dZ11*X22 + dZ12*X23 + dZ21*X32 + dZ22*X33",
}
SEED_GRAD_BIAS = {"dB": "dZ11 + dZ12 + dZ21 + dZ22"}
SEED_GRAD_INPUT = {
    "dX11": "dZ11*K11",
    "dX12": "dZ11*K12 + dZ12*K11",
    "dX13": "dZ12*K12",
    "dX21": "dZ11*K21 + dZ21*K11",
    "dX22": "dZ11*K22 + dZ12*K21 + dZ21*K12 + dZ22*K11",
    "dX23": "dZ12*K22 + dZ22*K12",
    "dX31": "dZ21*K21",
    "dX32": "dZ21*K22 + dZ22*K21",
    "dX33": "dZ22*K22",
}
SEED_ALL = {**SEED_FORWARD, **SEED_GRAD_FILTER, **SEED_GRAD_BIAS, **SEED_GRAD_INPUT}

SUBSCRIPTS = "₀₁₂₃₄₅₆₇₈₉"


def seed_sympy(text: str) -> str:
    """The seed's compact names (X12, dZ21) → the JSON's names (X_1_2, dZ_2_1)."""
    return re.sub(r"\b(dZ|dK|dX|X|K|Z)(\d)(\d)\b", r"\1_\2_\3", text)


def seed_unicode(text: str) -> str:
    """The seed's compact names → the text rendering's (X₁₂, ∂L/∂Z₂₁, ×)."""
    text = re.sub(r"\bd([ZKXB])", r"∂L/∂\1", text)
    text = re.sub(r"([A-Z])(\d+)",
                  lambda m: m.group(1) + "".join(SUBSCRIPTS[int(d)] for d in m.group(2)), text)
    return text.replace("*", "×")


def sym(text: str) -> Any:
    return sympy.sympify(text)


def same(a: Any, b: Any) -> bool:
    return bool(sympy.expand(a - b) == 0)


def nested_items(value: Any, index: tuple[int, ...] = ()) -> Iterator[tuple[tuple[int, ...], Any]]:
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from nested_items(item, (*index, i))
    else:
        yield index, value


def strings_shape(value: Any) -> tuple[int, ...]:
    return shape_of(value) if isinstance(value, list) else ()


# --------------------------------------------------------------------------
# reading equations back out of the renderings


def text_equations(text: str) -> dict[str, list[str]]:
    """``LHS = form`` equations of the text rendering: LHS → its forms, wrapped lines joined."""
    equations: dict[str, list[str]] = {}
    forms: list[str] | None = None
    for line in text.splitlines():
        start = re.match(r"^(\S+) = (.*)$", line)
        if start:
            forms = [start.group(2).strip()]
            equations.setdefault(start.group(1), forms)
        elif forms is not None and line.startswith(" ") and line.strip():
            rest = line.strip()
            if rest.startswith("= "):
                forms.append(rest[2:].strip())
            else:
                forms[-1] += " " + rest
        else:
            forms = None
    return equations


def unicode_to_sympy(text: str) -> str:
    """∂L/∂Z₁₂×K₂₁ → dZ_1_2*K_2_1 (one-digit indices, as in seed 002)."""
    text = text.replace("∂L/∂", "d").replace("×", "*")
    return re.sub(f"[{SUBSCRIPTS}]+",
                  lambda m: "".join("_" + str(SUBSCRIPTS.index(c)) for c in m.group(0)), text)


def latex_equations(text: str, environment: str) -> dict[str, list[str]]:
    """``lhs &= form \\\\`` equations of ``align*`` (LaTeX) or ``aligned`` (Markdown)."""
    equations: dict[str, list[str]] = {}
    pattern = re.escape(f"\\begin{{{environment}}}") + r"\n(.*?)\n" + re.escape(
        f"\\end{{{environment}}}")
    for block in re.findall(pattern, text, flags=re.S):
        forms: list[str] = []
        lhs = None
        for raw in block.splitlines():
            line = raw.strip()
            if line.endswith("\\\\"):
                line = line[:-2].strip()
            if line.startswith("&\\quad"):
                forms[-1] += " " + line[len("&\\quad"):].strip()
            elif line.startswith("&="):
                forms.append(line[2:].strip())
            else:
                lhs, first = line.split("&=", 1)
                forms.append(first.strip())
        assert lhs is not None
        equations.setdefault(lhs.strip(), forms)
    return equations


def latex_to_sympy(text: str) -> str:
    r"""\partial L/\partial Z_{12} \times K_{21} → dZ_1_2*K_2_1 (one-digit indices)."""
    text = text.replace("\\partial L/\\partial ", "d").replace("\\times", "*")
    return re.sub(r"_\{(\d+)\}", lambda m: "".join("_" + c for c in m.group(1)), text)


def text_table(text: str, label: str) -> list[list[str]]:
    """The body of the box table printed under a line that reads ``label``."""
    lines = text.splitlines()
    start = lines.index(label)
    rows: list[list[str]] = []
    header_seen = False
    for line in lines[start + 1:]:
        if line.startswith("└"):
            break
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            if header_seen:
                rows.append(cells[1:])  # drop the row label
            header_seen = True
    return rows


def latex_matrix(text: str, label: str) -> list[list[str]]:
    match = re.search(re.escape(label) + r" = \\begin\{bmatrix\}\n(.*?)\n\\end\{bmatrix\}", text,
                      flags=re.S)
    assert match, label
    return [[c.strip() for c in row.split(" & ")] for row in match.group(1).split(" \\\\\n")]


def markdown_table(text: str, label: str) -> list[list[str]]:
    lines = text.splitlines()
    start = lines.index(label)
    rows: list[list[str]] = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        rows.append(cells)
    return [row[1:] for row in rows[2:]]  # drop the header, the rule and row labels


def unwrap_math(cell: str) -> str:
    return cell[1:-1] if cell.startswith("$") and cell.endswith("$") else cell


# --------------------------------------------------------------------------
# seed 002 through every output


@pytest.fixture(scope="module")
def seed_runs() -> dict[str, Result]:
    commands = {
        "json": ("--format", "json"),
        "text": ("--width", "120"),
        "latex": ("--format", "latex"),
        "markdown": ("--format", "markdown"),
    }

    runs = {name: invoke("solve", SEED_SAMPLE, "--symbolic", *args)
            for name, args in commands.items()}
    for name, run_ in runs.items():
        assert run_.returncode == 0, (name, run_.stderr)
        assert run_.stderr == "", (name, run_.stderr)
    return runs


def test_seed_sample_is_the_seed_layer() -> None:
    assert json.loads(SEED_SAMPLE.read_text(encoding="utf-8")) == SEED_LAYER
    layer = load(SEED_SAMPLE)
    assert isinstance(layer, Layer)
    assert layer.input_shape == (1, 3, 3)
    assert layer.filter_shape == (1, 1, 2, 2)
    assert layer.has_bias
    assert layer.output_shape == (1, 2, 2)


def seed_json_entries(symbolic: dict[str, Any]) -> dict[str, str]:
    """The JSON result's strings under the seed's names (Z11, dK21, dB, dX33)."""
    out: dict[str, str] = {}
    for key, prefix in (("output", "Z"), ("grad_filter", "dK"), ("grad_input", "dX")):
        for (i, j), text in nested_items(symbolic[key]):
            out[f"{prefix}{i + 1}{j + 1}"] = text
    out["dB"] = symbolic["grad_bias"]
    return out


@pytest.mark.parametrize("name", list(SEED_ALL))
def test_seed_equation_in_json(name: str, seed_runs: dict[str, Result]
                               ) -> None:
    symbolic = json.loads(seed_runs["json"].stdout)["symbolic"]
    given_ = seed_json_entries(symbolic)[name]
    expected = sym(seed_sympy(SEED_ALL[name]))
    assert same(sym(given_), expected), (name, given_, expected)
    # the same number of terms as the seed: no padding zeros, no terms collected
    assert len(given_.split(" + ")) == len(SEED_ALL[name].split(" + ")), given_


def test_seed_json_has_exactly_the_symbolic_key(
    seed_runs: dict[str, Result]
) -> None:
    values = json.loads(seed_runs["json"].stdout)
    assert list(values) == ["symbolic"]
    symbolic = values["symbolic"]
    assert set(symbolic) == {"output", "grad_filter", "grad_bias", "grad_input"}
    assert strings_shape(symbolic["output"]) == (2, 2)
    assert strings_shape(symbolic["grad_filter"]) == (2, 2)
    assert isinstance(symbolic["grad_bias"], str)  # one filter: a number bias, a number dB
    assert strings_shape(symbolic["grad_input"]) == (3, 3)
    # the same strings as the Python interface
    assert symbolic == symbolic_result(layer_from_data(SEED_LAYER))
    # only the contract's names
    names = {str(s) for _, text in nested_items(list(symbolic.values())) for s in
             sym(text).free_symbols}
    expected = ({f"X_{i}_{j}" for i in (1, 2, 3) for j in (1, 2, 3)}
                | {f"K_{m}_{n}" for m in (1, 2) for n in (1, 2)}
                | {f"dZ_{i}_{j}" for i in (1, 2) for j in (1, 2)} | {"B"})
    assert names == expected


@pytest.mark.parametrize("name", list(SEED_ALL))
def test_seed_equation_in_text(name: str, seed_runs: dict[str, Result]
                               ) -> None:
    text = seed_runs["text"].stdout
    equations = text_equations(text)
    lhs = seed_unicode(name)
    assert lhs in equations, (lhs, sorted(equations))
    final = equations[lhs][-1]
    assert same(sym(unicode_to_sympy(final)), sym(seed_sympy(SEED_ALL[name]))), (lhs, final)
    # written the way the seed writes it, term by term
    assert set(final.split(" + ")) == set(seed_unicode(SEED_ALL[name]).split(" + ")), final


def test_seed_text_reads_like_the_seed(seed_runs: dict[str, Result]
                                       ) -> None:
    text = seed_runs["text"].stdout
    for line in (
        "Z₁₁ = X₁₁×K₁₁ + X₁₂×K₁₂ + X₂₁×K₂₁ + X₂₂×K₂₂ + B",
        "Z₂₂ = X₂₂×K₁₁ + X₂₃×K₁₂ + X₃₂×K₂₁ + X₃₃×K₂₂ + B",
        "= ∂L/∂Z₁₁×X₁₁ + ∂L/∂Z₁₂×X₁₂ + ∂L/∂Z₂₁×X₂₁ + ∂L/∂Z₂₂×X₂₂",
        "= ∂L/∂Z₁₁ + ∂L/∂Z₁₂ + ∂L/∂Z₂₁ + ∂L/∂Z₂₂",
        "= ∂L/∂Z₁₁×K₂₂ + ∂L/∂Z₁₂×K₂₁ + ∂L/∂Z₂₁×K₁₂ + ∂L/∂Z₂₂×K₁₁",
        "= ∂L/∂Z₁₁×K₁₁",
        "∂L/∂B = sum(∂L/∂Z)",
    ):
        assert line in text, line
    equations = text_equations(text)
    # the chain rule before the result: ∂L/∂K₁₁ = Σ ∂L/∂Zᵢⱼ × ∂Zᵢⱼ/∂K₁₁ = …
    assert equations["∂L/∂K₁₁"][0] == (
        "∂L/∂Z₁₁×∂Z₁₁/∂K₁₁ + ∂L/∂Z₁₂×∂Z₁₂/∂K₁₁ + ∂L/∂Z₂₁×∂Z₂₁/∂K₁₁ + ∂L/∂Z₂₂×∂Z₂₂/∂K₁₁")
    assert equations["∂L/∂X₁₁"] == ["∂L/∂Z₁₁×∂Z₁₁/∂X₁₁", "∂L/∂Z₁₁×K₁₁"]
    assert "Local gradients: ∂Z₁₁/∂K₁₂ = X₁₂, ∂Z₁₂/∂K₁₂ = X₁₃, ∂Z₂₁/∂K₁₂ = X₂₂, " \
           "∂Z₂₂/∂K₁₂ = X₂₃." in text


def unaffected(a: int, b: int) -> list[str]:
    """The output entries Zᵢⱼ (1-based) whose 2×2 window misses X_ab."""
    return [f"{i}{j}" for i in (1, 2) for j in (1, 2)
            if not (i <= a <= i + 1 and j <= b <= j + 1)]


def test_seed_input_entries_that_do_not_affect_outputs(
    seed_runs: dict[str, Result]
) -> None:
    text = seed_runs["text"].stdout
    latex = seed_runs["latex"].stdout
    assert "X₁₁ does not affect Z₁₂, Z₂₁, Z₂₂: those derivatives are 0." in text
    assert "$X_{11}$ does not affect $Z_{12}$, $Z_{21}$, $Z_{22}$" in latex
    for a in (1, 2, 3):
        for b in (1, 2, 3):
            x = seed_unicode(f"X{a}{b}")
            missed = unaffected(a, b)
            if not missed:
                assert f"{x} does not affect" not in text
                continue
            zs = ", ".join(seed_unicode(f"Z{z}") for z in missed)
            assert f"{x} does not affect {zs}: those derivatives are 0." in text, x


@pytest.mark.parametrize("fmt", ["latex", "markdown"])
def test_seed_equations_in_latex_and_markdown(
    fmt: str, seed_runs: dict[str, Result]
) -> None:
    out = seed_runs[fmt].stdout
    assert "\\partial L/\\partial Z_{11}" in out
    equations = latex_equations(out, "align*" if fmt == "latex" else "aligned")
    for name, expected in SEED_ALL.items():
        lhs = re.sub(r"\bd([ZKXB])", r"\\partial L/\\partial \1", name)
        lhs = re.sub(r"(\d)(\d)", r"_{\1\2}", lhs)
        assert lhs in equations, (lhs, sorted(equations)[:10])
        final = equations[lhs][-1]
        assert same(sym(latex_to_sympy(final)), sym(seed_sympy(expected))), (lhs, final)
    assert "\\operatorname{conv}(X, \\partial L/\\partial Z)" in out
    assert ("\\operatorname{full\\ conv}(\\operatorname{rot}_{180^\\circ}(K), "
            "\\partial L/\\partial Z)") in out


ROTATED = [["K22", "K21"], ["K12", "K11"]]
PADDED = [["0", "0", "0", "0"], ["0", "dZ11", "dZ12", "0"], ["0", "dZ21", "dZ22", "0"],
          ["0", "0", "0", "0"]]


def test_seed_rotated_kernel_and_padded_gradient_in_text(
    seed_runs: dict[str, Result]
) -> None:
    text = seed_runs["text"].stdout
    assert text_table(text, "rot180(K)") == [[seed_unicode(c) for c in row] for row in ROTATED]
    assert text_table(text, "∂L/∂Z (padded)") == [[seed_unicode(c) for c in row]
                                                   for row in PADDED]
    # the closing identities, after every term-by-term result
    kernel = text.index("∂L/∂K = conv(X, ∂L/∂Z)")
    full = text.index("∂L/∂X = full conv(rot180(K), ∂L/∂Z)")
    assert "conv(" in text and "full conv(rot180(" in text
    assert text.index("∂L/∂X₃₃ = ") < kernel < full
    # the worked window: the padding zeros times the rotated kernel
    equations = text_equations(text[full:])
    assert equations["∂L/∂X₁₁"] == ["0×K₂₂ + 0×K₂₁ + 0×K₁₂ + ∂L/∂Z₁₁×K₁₁", "∂L/∂Z₁₁×K₁₁"]


def to_latex_name(cell: str) -> str:
    if cell == "0":
        return cell
    cell = re.sub(r"^d([ZKXB])", r"\\partial L/\\partial \1", cell)
    return re.sub(r"(\d)(\d)$", r"_{\1\2}", cell)


def test_seed_rotated_kernel_and_padded_gradient_in_latex(
    seed_runs: dict[str, Result]
) -> None:
    latex = seed_runs["latex"].stdout
    assert latex_matrix(latex, "\\operatorname{rot}_{180^\\circ}(K)") == [
        [to_latex_name(c) for c in row] for row in ROTATED]
    # the zeros of PADDED are all padding: grey
    assert latex_matrix(latex, "\\left(\\partial L/\\partial Z\\right)_{\\text{pad}}") == [
        ["\\cnnfiller{0}" if c == "0" else to_latex_name(c) for c in row] for row in PADDED]


def test_seed_rotated_kernel_and_padded_gradient_in_markdown(
    seed_runs: dict[str, Result]
) -> None:
    markdown = seed_runs["markdown"].stdout
    rotated = markdown_table(markdown, "$\\operatorname{rot}_{180^\\circ}(K)$")
    assert [[unwrap_math(c) for c in row] for row in rotated] == [
        [to_latex_name(c) for c in row] for row in ROTATED]
    padded = markdown_table(markdown, "$\\left(\\partial L/\\partial Z\\right)_{\\text{pad}}$")
    assert [[unwrap_math(c) for c in row] for row in padded] == [
        ["{\\color{gray}0}" if c == "0" else to_latex_name(c) for c in row] for row in PADDED]


def test_markdown_symbol_cells_are_math(seed_runs: dict[str, Result]
                                        ) -> None:
    """A table cell such as ``X_{11}`` or ``\\partial L/\\partial Z_{11}`` is LaTeX: outside
    ``$…$`` GitHub and Jupyter print it as it is, backslashes and braces."""
    markdown = seed_runs["markdown"].stdout
    cells = [c.strip() for line in markdown.splitlines() if line.startswith("| ")
             for c in line.strip().strip("|").split(" | ")]
    latex_cells = [c for c in cells if "\\" in c or "_{" in c]
    assert latex_cells, "no symbol cells found"
    bare = [c for c in latex_cells if not (c.startswith("$") and c.endswith("$"))]
    assert not bare, f"{len(bare)} symbol cells outside $…$, e.g. {bare[:3]}"


def test_seed_steps_in_order() -> None:
    derivation = derive_symbolic(layer_from_data(SEED_LAYER))
    assert [step.key for step in derivation.steps] == [
        "shapes", "symbols", "forward", "grad_filter", "grad_bias", "grad_input", "identities"]


# --------------------------------------------------------------------------
# names, shapes and keys: the contract of the ``symbolic`` key


def contract_name(role: str, index: tuple[int, ...], compact: bool,
                  one_row: bool = False) -> str:
    """The contract's name of a symbol, from its 0-based index in the full layout
    (a 1-D layer's, held as one row, without that row)."""
    letter = {"input": "X", "filter": "K", "bias": "B", "grad_output": "dZ"}[role]
    if compact:
        if role == "bias":
            return "B"
        index = index[-2:]
    if one_row and role != "bias":
        index = (*index[:-2], index[-1])
    return "_".join([letter, *(str(i + 1) for i in index)])


def symbol_table(layer: Layer) -> dict[str, dict[str, tuple[int, ...]]]:
    """role → {name → full-layout index} for every symbol the layer may use."""
    shapes = {"input": layer.input_shape, "filter": layer.filter_shape,
              "grad_output": layer.output_shape}
    if layer.has_bias:
        shapes["bias"] = (layer.filters,)
    compact = layer.channels == 1 and layer.filters == 1
    one_row = layer.layout.one_row
    return {role: {contract_name(role, index, compact, one_row): index
                   for index in np.ndindex(*shape)}
            for role, shape in shapes.items()}


#: the contract's symbol names: one channel and one filter, or several
NAME_PATTERNS = {
    True: {"X": r"X_\d+_\d+", "K": r"K_\d+_\d+", "B": r"B", "dZ": r"dZ_\d+_\d+"},
    False: {"X": r"X_\d+_\d+_\d+", "K": r"K_\d+_\d+_\d+_\d+", "B": r"B_\d+",
            "dZ": r"dZ_\d+_\d+_\d+"},
}


def assert_names_follow_the_contract(text: str, compact: bool) -> None:
    for name in re.findall(r"[A-Za-z]\w*", text):
        letter = name.split("_")[0]
        assert letter in NAME_PATTERNS[compact], name
        assert re.fullmatch(NAME_PATTERNS[compact][letter], name), (name, compact)


#: the roles each quantity's formula may use: gradients go through dL/dZ
ROLES = {"output": {"input", "filter", "bias"}, "grad_filter": {"grad_output", "input"},
         "grad_bias": {"grad_output"}, "grad_input": {"grad_output", "filter"}}


def parsed(text: str, names: dict[str, Any]) -> Any:
    return parse_expr(text, local_dict=names)


def user_shapes(layer: Layer) -> dict[str, tuple[int, ...]]:
    """The shapes the result gives each quantity, from the layout the user wrote."""
    layout = layer.layout
    shapes = {
        "output": layer.output_shape[-layout.output_rank:],
        "grad_filter": layer.filter_shape[-layout.filter_rank:],
        "grad_input": layer.input_shape[-layout.input_rank:],
    }
    if layer.has_bias:
        shapes["grad_bias"] = () if layout.bias_is_number else (layer.filters,)
    return shapes


@st.composite
def shape_layers(draw: Any) -> dict[str, Any]:
    """A layer given by shapes: every rank of input and filter, stride, padding, bias."""
    channels = draw(st.integers(1, 3))
    filters = draw(st.integers(1, 3))
    height, width = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    padding = [draw(st.integers(0, 2)), draw(st.integers(0, 2))]
    kh = draw(st.integers(1, min(3, height + 2 * padding[0])))
    kw = draw(st.integers(1, min(3, width + 2 * padding[1])))
    stride = [draw(st.integers(1, 3)), draw(st.integers(1, 3))]
    two_d = channels == 1 and draw(st.booleans())
    image = [height, width] if two_d else [channels, height, width]
    if filters == 1:
        kernel = draw(st.sampled_from(
            [[kh, kw], [channels, kh, kw], [1, channels, kh, kw]] if channels == 1
            else [[channels, kh, kw], [1, channels, kh, kw]]))
    else:
        kernel = [filters, channels, kh, kw]
    data: dict[str, Any] = {"input": {"shape": image},
                            draw(st.sampled_from(["filter", "kernel"])): {"shape": kernel},
                            "stride": stride, "padding": padding}
    if draw(st.booleans()):
        data["bias"] = "symbolic"
    return data


@given(shape_layers())
@PROPERTY
def test_names_and_shapes_follow_the_contract(data: dict[str, Any]) -> None:
    layer = layer_from_data(data)
    symbolic = symbolic_result(layer)
    shapes = user_shapes(layer)
    assert list(symbolic) == [k for k in ("output", "grad_filter", "grad_bias", "grad_input")
                              if k in shapes]
    table = symbol_table(layer)
    names = {name: sympy.Symbol(name) for role in table.values() for name in role}
    compact = layer.channels == 1 and layer.filters == 1
    for key, value in symbolic.items():
        assert strings_shape(value) == shapes[key], key
        allowed = set().union(*(table[role] for role in ROLES[key] if role in table))
        for _, text in nested_items(value):
            assert isinstance(text, str)
            expression = parsed(text, names)
            used = {str(s) for s in expression.free_symbols}
            assert used <= allowed, (key, text, used - allowed)
            assert_names_follow_the_contract(text, compact)


@given(shape_layers())
@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_gradients_are_the_derivatives_of_the_forward_formulas(data: dict[str, Any]) -> None:
    """With L = Σ dZ·Z, ∂L/∂K, ∂L/∂B, ∂L/∂X (by SymPy) are the gradient formulas."""
    layer = layer_from_data(data)
    oh, ow = layer.output_size
    assume(layer.filters * oh * ow * layer.channels * layer.kernel_size[0]
           * layer.kernel_size[1] <= 400)
    assert_gradients_are_derivatives(layer)


def assert_gradients_are_derivatives(layer: Layer) -> None:
    """Every gradient formula of ``symbolic_result`` is SymPy's derivative of
    L = Σ dZ·Z, Z the forward formulas."""
    symbolic = symbolic_result(layer)
    table = symbol_table(layer)
    names = {name: sympy.Symbol(name) for role in table.values() for name in role}
    full = {key: np.array(symbolic[key], dtype=object).reshape(
        {"output": layer.output_shape, "grad_filter": layer.filter_shape,
         "grad_input": layer.input_shape, "grad_bias": (layer.filters,)}[key])
        for key in symbolic}
    compact = layer.channels == 1 and layer.filters == 1
    derivative = LossDerivatives(
        names[contract_name("grad_output", e, compact, layer.layout.one_row)]
        * parsed(full["output"][e], names)
        for e in np.ndindex(*layer.output_shape))
    for key, role in (("grad_filter", "filter"), ("grad_input", "input"), ("grad_bias", "bias")):
        if key not in full:
            continue
        for name, index in table[role].items():
            expected = derivative(names[name])
            assert same(parsed(full[key][index], names), expected), (key, name)


# --------------------------------------------------------------------------
# the numbers put into the formulas give the engine's numbers


def rational(value: Fraction) -> Any:
    return sympy.Rational(value.numerator, value.denominator)


def check_against_engine(problem: Any, symbolic: dict[str, Any]) -> None:
    """Every formula, with X, K, B of the problem and dZ = dL/dZ of the engine put in.

    The formulas are the convolution's: with an activation or a pool after it
    (a "layered" problem) the key is ``conv``, like the result's, and dZ is the
    result's ``grad_conv``.
    """
    layer = problem.layer
    solution = solve_layer(problem)
    numbers = result(solution)
    layered = getattr(layer, "layered", False)
    engine_key: dict[str, str] = {}
    table = symbol_table(layer)
    names = {name: sympy.Symbol(name) for role in table.values() for name in role}
    arrays = {"input": problem.input, "filter": problem.filter, "bias": problem.bias,
              "grad_output": solution.grad_conv}
    values = {names[name]: rational(arrays[role][index])
              for role, entries in table.items() for name, index in entries.items()}
    expected_keys = ["conv" if layered else "output", "grad_filter", "grad_input"]
    if layer.has_bias:
        expected_keys.insert(2, "grad_bias")
    assert list(symbolic) == expected_keys
    for key, formulas in symbolic.items():
        engine = numbers[engine_key.get(key, key)]
        assert strings_shape(formulas) == (shape_of(engine) if isinstance(engine, list) else ())
        engine_items = dict(nested_items(engine))
        for index, text in nested_items(formulas):
            expression = parsed(text, names)
            assert expression.free_symbols <= set(values), (key, index, text)
            value = expression.xreplace(values)
            assert value.is_Rational, (key, index, value)
            exact = engine_items[index]
            assert isinstance(exact, Fraction)
            assert value == rational(exact), (key, index, text, value, exact)
            assert Fraction(int(value.p), int(value.q)) == exact


@given(cases(modes=("target", "grad_output"), max_side=4))
@PROPERTY
def test_formulas_with_the_numbers_put_in_give_the_engine_result(case: Case) -> None:
    problem = problem_from_data(case.data)
    symbolic = symbolic_result(problem.layer)
    check_against_engine(problem, symbolic)
    # names: compact exactly for one channel and one filter
    compact = len(case.x) == 1 and len(case.k) == 1
    for _, text in nested_items(list(symbolic.values())):
        assert_names_follow_the_contract(text, compact)


#: (a 3-D layer's formulas: test_symbolic_volume.py)
NUMERIC_SAMPLES = [p for p in sorted(SAMPLES.glob("*.json"))
                   if not p.name.startswith("symbolic-") and "filter" in p.read_text("utf-8")
                   and '"dimensions": 3' not in p.read_text("utf-8")]
#: samples of a 1-D or 2-D layer alone, which has no convolution to derive formulas for
#: (a 3-D one is refused as every 3-D layer is: test_volume_batch.py)
ALONE_SAMPLES = [p for p in sorted(SAMPLES.glob("*.json")) if "filter" not in p.read_text("utf-8")
                 and '"dimensions": 3' not in p.read_text("utf-8")]


@pytest.mark.parametrize("sample", ALONE_SAMPLES, ids=lambda p: p.stem)
def test_cli_symbolic_refuses_a_layer_alone(sample: Path) -> None:
    assert_one_line_error(invoke("solve", sample, "--symbolic"), "a layer alone", "--symbolic")


@pytest.mark.parametrize("sample", NUMERIC_SAMPLES, ids=lambda p: p.stem)
def test_cli_symbolic_json_on_numeric_samples(sample: Path) -> None:
    data = json.loads(sample.read_text(encoding="utf-8"))
    if "steps" in data:
        pytest.skip("--symbolic is refused for training steps (test_steps.py)")
    if sample.stem.startswith("batch-"):
        pytest.skip("a batch names each image's symbols with the image (test_symbolic_batch.py)")
    with_symbolic = invoke("solve", sample, "--symbolic", "--format", "json")
    plain = invoke("solve", sample, "--format", "json")
    assert with_symbolic.returncode == 0, with_symbolic.stderr
    assert plain.returncode == 0, plain.stderr
    values = json.loads(with_symbolic.stdout)
    usual = json.loads(plain.stdout)
    # all the usual keys, the same values, then symbolic
    assert list(values) == [*usual, "symbolic"]
    assert {k: v for k, v in values.items() if k != "symbolic"} == usual
    problem = problem_from_data(json.loads(sample.read_text(encoding="utf-8")))
    assert values["symbolic"] == symbolic_result(problem.layer)
    if problem.has_gradients:
        check_against_engine(problem, values["symbolic"])
    layered = getattr(problem.layer, "layered", False)
    for key in ("conv" if layered else "output", "grad_filter", "grad_input", "grad_bias"):
        usual_key = key
        if usual_key in usual and key in values["symbolic"]:
            assert strings_shape(values["symbolic"][key]) == (
                shape_of(usual[usual_key]) if isinstance(usual[usual_key], list) else ()), key


def test_shape_only_two_channel_sample_json() -> None:
    run = invoke("solve", TWO_CHANNELS_SAMPLE, "--symbolic", "--format", "json")
    assert run.returncode == 0, run.stderr
    values = json.loads(run.stdout)
    assert list(values) == ["symbolic"]
    symbolic = values["symbolic"]
    # 2×4×4 input, 2 filters 2×2×2×2, padding 1, stride 2: output 2×3×3
    assert strings_shape(symbolic["output"]) == (2, 3, 3)
    assert strings_shape(symbolic["grad_filter"]) == (2, 2, 2, 2)
    assert strings_shape(symbolic["grad_bias"]) == (2,)
    assert strings_shape(symbolic["grad_input"]) == (2, 4, 4)
    # the top-left output sees only the bottom-right weights (the rest is padding)
    assert same(sym(symbolic["output"][0][0][0]),
                sym("X_1_1_1*K_1_1_2_2 + X_2_1_1*K_1_2_2_2 + B_1"))
    assert same(sym(symbolic["grad_bias"][1]),
                sym(" + ".join(f"dZ_2_{i}_{j}" for i in (1, 2, 3) for j in (1, 2, 3))))
    # X₁₁₁ is reached by Z(f,1,1) of both filters only, through K(f,1,2,2)
    assert same(sym(symbolic["grad_input"][0][0][0]),
                sym("dZ_1_1_1*K_1_1_2_2 + dZ_2_1_1*K_2_1_2_2"))
    # X(1,1,2) is padded to row 2, column 3: only the windows Z(f,1,2) hold it, at K(f,1,2,1)
    assert same(sym(symbolic["grad_input"][0][0][1]),
                sym("dZ_1_1_2*K_1_1_2_1 + dZ_2_1_2*K_2_1_2_1"))


def test_one_channel_one_filter_given_4d_keeps_compact_names() -> None:
    layer = layer_from_data({"input": {"shape": [1, 3, 3]}, "filter": {"shape": [1, 1, 2, 2]},
                             "bias": "symbolic"})
    symbolic = symbolic_result(layer)
    assert strings_shape(symbolic["output"]) == (1, 2, 2)
    assert strings_shape(symbolic["grad_filter"]) == (1, 1, 2, 2)
    assert strings_shape(symbolic["grad_input"]) == (1, 3, 3)
    assert same(sym(symbolic["grad_input"][0][1][1]),
                sym("dZ_1_1*K_2_2 + dZ_1_2*K_2_1 + dZ_2_1*K_1_2 + dZ_2_2*K_1_1"))
    assert symbolic["grad_bias"] == "dZ_1_1 + dZ_1_2 + dZ_2_1 + dZ_2_2"


def test_two_filters_one_channel_use_full_names() -> None:
    layer = layer_from_data({"input": {"shape": [2, 2]}, "filter": {"shape": [2, 1, 1, 1]}})
    symbolic = symbolic_result(layer)
    assert symbolic["output"][1][0][1] == "X_1_1_2*K_2_1_1_1"
    assert same(sym(symbolic["grad_input"][0][1]), sym("dZ_1_1_2*K_1_1_1_1 + dZ_2_1_2*K_2_1_1_1"))
    assert "grad_bias" not in symbolic


def test_padding_contributes_no_term_and_empty_sums_are_zero() -> None:
    layer = layer_from_data({"input": {"shape": [1, 1]}, "filter": {"shape": [1, 1]},
                             "padding": 1})
    symbolic = symbolic_result(layer)
    assert symbolic["output"] == [["0", "0", "0"], ["0", "X_1_1*K_1_1", "0"], ["0", "0", "0"]]
    assert symbolic["grad_filter"] == [["dZ_2_2*X_1_1"]]
    assert symbolic["grad_input"] == [["dZ_2_2*K_1_1"]]
    # rows and columns that no window reaches get 0
    layer = layer_from_data({"input": {"shape": [3, 3]}, "filter": {"shape": [1, 1]},
                             "stride": 2})
    assert symbolic_result(layer)["grad_input"][1] == ["0", "0", "0"]


# --------------------------------------------------------------------------
# the loader's rules for shapes, through the command line

LOADER_CASES: dict[str, tuple[Any, tuple[str, ...], tuple[str, ...]]] = {
    # name: (problem, extra CLI options, substrings of the one error line)
    "shape-without-symbolic": (SEED_LAYER, (), ("input", "--symbolic")),
    "shape-filter-without-symbolic": (
        {"input": [[1, 2], [3, 4]], "filter": {"shape": [1, 1]}}, (), ("filter", "--symbolic")),
    "symbolic-bias-numeric": (
        {"input": [[1, 2], [3, 4]], "filter": [[1]], "bias": "symbolic"}, ("--symbolic",),
        ("bias", "symbolic")),
    "symbolic-bias-numeric-plain": (
        {"input": [[1, 2], [3, 4]], "filter": [[1]], "bias": "symbolic"}, (), ("bias",)),
    "target-with-shapes": (
        {**SEED_LAYER, "target": [[1, 2], [3, 4]]}, ("--symbolic",), ("target",)),
    "learning-rate-with-shapes": (
        {**SEED_LAYER, "learning_rate": 0.1}, ("--symbolic",), ("learning_rate",)),
    "grad-output-with-shapes": (
        {**SEED_LAYER, "grad_output": [[1, 2], [3, 4]]}, ("--symbolic",), ("grad_output",)),
    "loss-with-shapes": ({**SEED_LAYER, "loss": "sse"}, ("--symbolic",), ("loss",)),
    "number-bias-with-shapes": ({**SEED_LAYER, "bias": 1}, ("--symbolic",), ("bias",)),
    "zero-size": ({"input": {"shape": [0, 3]}, "filter": {"shape": [1, 1]}}, ("--symbolic",),
                  ("input.shape[0]",)),
    "one-axis": ({"input": {"shape": [3]}, "filter": {"shape": [1, 1]}}, ("--symbolic",),
                 ("input.shape",)),
    "five-axes-filter": ({"input": {"shape": [3, 3]}, "filter": {"shape": [1, 1, 1, 1, 1]}},
                         ("--symbolic",), ("filter.shape",)),
    "string-shape": ({"input": {"shape": "x"}, "filter": {"shape": [1, 1]}}, ("--symbolic",),
                     ("input.shape",)),
    "fractional-size": ({"input": {"shape": [3, 3]}, "filter": {"shape": [2, 1.5]}},
                        ("--symbolic",), ("filter.shape[1]",)),
    "boolean-size": ({"input": {"shape": [True, 3]}, "filter": {"shape": [1, 1]}},
                     ("--symbolic",), ("input.shape[0]",)),
    "extra-key": ({"input": {"shape": [3, 3], "dtype": "float"}, "filter": {"shape": [1, 1]}},
                  ("--symbolic",), ("input", "dtype")),
    "no-shape-key": ({"input": {}, "filter": {"shape": [1, 1]}}, ("--symbolic",), ("input",)),
    "mixed-numeric-input": ({"input": [[1, 2], [3, 4]], "filter": {"shape": [1, 1]}},
                            ("--symbolic",), ("filter", "shape")),
    "mixed-numeric-filter": ({"input": {"shape": [3, 3]}, "filter": [[1]]}, ("--symbolic",),
                             ("filter", "shape")),
    "filter-too-large": ({"input": {"shape": [3, 3]}, "filter": {"shape": [4, 4]}},
                         ("--symbolic",), ("filter 4×4", "3×3")),
    "channels-differ": ({"input": {"shape": [2, 3, 3]}, "filter": {"shape": [3, 2, 2]}},
                        ("--symbolic",), ("filter", "channel")),
    "unknown-key": ({**SEED_LAYER, "strid": 2}, ("--symbolic",), ("strid", "stride")),
    "bad-stride": ({**SEED_LAYER, "stride": 0}, ("--symbolic",), ("stride",)),
    "verify-shape-only": (SEED_LAYER, ("--symbolic", "--verify"), ("--verify",)),
    "verify-shape-only-plain": (SEED_LAYER, ("--verify",), ("--verify",)),
}


@pytest.mark.parametrize("name", list(LOADER_CASES))
def test_loader_rules_for_shapes(name: str, problem_file: Callable[..., Path]) -> None:
    problem, options, needles = LOADER_CASES[name]
    assert_one_line_error(invoke("solve", problem_file(problem), *options), *needles)


def test_shape_sample_loads_only_for_a_symbolic_derivation() -> None:
    from cnnstep.problem import ProblemError, load_problem

    with pytest.raises(ProblemError, match="--symbolic"):
        load_problem(SEED_SAMPLE)
    assert isinstance(load(SEED_SAMPLE), Layer)


# --------------------------------------------------------------------------
# --symbolic on a numeric problem: formulas first, then numbers


def step_titles(text: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"^Step \d+: (.*?) ─", text, flags=re.M)]


def test_numeric_problem_with_symbolic_prints_formulas_then_numbers() -> None:
    sample = SAMPLES / "seed002-given-gradient.json"
    run = invoke("solve", sample, "--symbolic", "--width", "120")
    assert run.returncode == 0, run.stderr
    titles = step_titles(run.stdout)
    assert titles[0] == "Output size"
    assert titles.count("Output size") == 1
    symbolic = [i for i, t in enumerate(titles) if "in symbols" in t
                or t == "The gradients as convolutions"]
    numeric = [i for i, t in enumerate(titles) if t.endswith("with numbers")]
    assert len(symbolic) == 6 and len(numeric) >= 4, titles
    assert max(symbolic) < min(numeric), titles
    assert symbolic == list(range(1, 7))
    assert numeric == list(range(7, len(titles)))
    assert "Forward pass, with numbers" in titles
    assert "Update, with numbers" in titles
    # the formula for Z₁₁ comes before Z₁₁ with its numbers
    out = run.stdout
    formula = out.index("Z₁₁ = X₁₁×K₁₁ + X₁₂×K₁₂ + X₂₁×K₂₁ + X₂₂×K₂₂ + B")
    assert formula < out.index("Forward pass, with numbers")
    # without --symbolic there are no formulas with symbols
    plain = invoke("solve", sample, "--width", "120")
    assert plain.returncode == 0, plain.stderr
    assert not any("in symbols" in t for t in step_titles(plain.stdout))
    assert "The gradients as convolutions" not in step_titles(plain.stdout)


def test_derive_both_orders_the_steps() -> None:
    problem = problem_from_data(json.loads(
        (SAMPLES / "two-filters-padding.json").read_text(encoding="utf-8")))
    derivation = derive_both(solve_layer(problem))
    keys = [step.key for step in derivation.steps]
    symbolic_keys = [s.key for s in derive_symbolic(problem.layer).steps]
    # the givens first, then the formulas, then the numbers
    assert keys[0] == "given" and not derivation.steps[0].numbered
    assert keys[1:len(symbolic_keys) + 1] == symbolic_keys
    rest = derivation.steps[len(symbolic_keys) + 1:]
    assert rest and all(step.title.endswith(", with numbers") for step in rest)
    assert "shapes" not in [step.key for step in rest]


# --------------------------------------------------------------------------
# notation: printed names follow it, the JSON names never do

NOTATION = {"input": "A", "filter": "W", "output": "O", "index_base": 0}


def test_notation_changes_printed_symbols(problem_file: Callable[..., Path]) -> None:
    path = problem_file({**SEED_LAYER, "notation": NOTATION})
    runs = {fmt: invoke("solve", path, "--symbolic", "--format", fmt, "--width", "120")
            if fmt == "text" else invoke("solve", path, "--symbolic", "--format", fmt)
            for fmt in ("text", "latex", "json")}
    for fmt, run in runs.items():
        assert run.returncode == 0, (fmt, run.stderr)
    text = runs["text"].stdout
    assert "O(0,0) = A(0,0)×W(0,0) + A(0,1)×W(0,1) + A(1,0)×W(1,0) + A(1,1)×W(1,1) + B" in text
    assert "∂L/∂W(0,0)" in text and "∂L/∂O(1,1)" in text
    assert "A(0,0) does not affect O(0,1), O(1,0), O(1,1)" in text
    assert text_table(text, "rot180(W)") == [["W(1,1)", "W(1,0)"], ["W(0,1)", "W(0,0)"]]
    for old in ("X₁₁", "K₁₁", "Z₁₁", "X(", "K(", "Z("):
        assert old not in text, old
    latex = runs["latex"].stdout
    assert "O(0,0) &= A(0,0) \\times W(0,0)" in latex
    assert "\\partial L/\\partial O(0,0)" in latex
    assert "X_{" not in latex and "K_{" not in latex and "Z_{" not in latex
    # the JSON result keeps the contract's names, 1-based
    assert json.loads(runs["json"].stdout)["symbolic"] == symbolic_result(
        layer_from_data(SEED_LAYER))


def test_notation_with_one_based_indices(problem_file: Callable[..., Path]) -> None:
    path = problem_file({**SEED_LAYER, "notation": {"input": "A", "filter": "W",
                                                    "output": "O", "bias": "b"}})
    run = invoke("solve", path, "--symbolic", "--width", "120")
    assert run.returncode == 0, run.stderr
    assert "O₁₁ = A₁₁×W₁₁ + A₁₂×W₁₂ + A₂₁×W₂₁ + A₂₂×W₂₂ + b" in run.stdout
    assert "∂L/∂b = ∂L/∂O₁₁×∂O₁₁/∂b" in run.stdout
    assert "= ∂L/∂O₁₁×W₂₂ + ∂L/∂O₁₂×W₂₁ + ∂L/∂O₂₁×W₁₂ + ∂L/∂O₂₂×W₁₁" in run.stdout


def test_notation_never_changes_numeric_symbolic_json(problem_file: Callable[..., Path]) -> None:
    data = json.loads((SAMPLES / "seed002-given-gradient.json").read_text(encoding="utf-8"))
    plain = invoke("solve", problem_file(data), "--symbolic", "--format", "json")
    named = invoke("solve", problem_file({**data, "notation": NOTATION}), "--symbolic",
                   "--format", "json")
    assert plain.returncode == 0 and named.returncode == 0, (plain.stderr, named.stderr)
    assert json.loads(plain.stdout) == json.loads(named.stdout)
    # and in the Python interface
    layer = layer_from_data({**SEED_LAYER, "notation": NOTATION})
    assert symbolic_result(layer) == symbolic_result(layer_from_data(SEED_LAYER))
