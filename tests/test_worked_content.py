"""The working the seeds teach, as the derivation writes it.

* dL/dX is worked as the full convolution: each entry is a window of the
  padded (zero-inserted) gradient times rot180(K), whose entries are named by
  the kernel entries they are; seed 000's entry (1,1) is the seed's own sum;
* dL/dK shows the window of the input each weight meets;
* the givens come first, in every format, the kernel K among them;
* several channels are summed channel by channel, then added;
* axes of length one carry no index; size formulas use their own symbols;
* zeros by construction are left out, and zero entries named together;
* the pool's output size, and the crop of dL/dX with padding, are explained.

The numbers expected here are the seeds' and the oracle's, never the engine's.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from helpers import SAMPLES, layer_sample, rendered
from oracle import naive_layer

import cnnstep
from cnnstep.derivation import Equation, Matrix, Step, Sym, Text, Whole

SEED000 = SAMPLES / "seed000-filter-update.json"
WIDTH = 100

#: seed 000's dL/dX at (1,1), 0-based: the window of the padded gradient times rot180(W)
SEED000_GRAD_INPUT_11 = "0.3×0.7 + 0.45×0.3 + (−0.25)×0.2 + 0.1×0.5"


def oracle(sample: Path) -> dict[str, object]:
    return naive_layer(layer_sample(sample.stem)[1])


def norm(text: str) -> str:
    return " ".join(text.split())


def step_of(sample: Path, key: str, **options: object) -> Step:
    derivation = cnnstep.solve(sample).derivation(**options)  # type: ignore[arg-type]
    found = [step for step in derivation.steps if step.key == key]
    assert found, f"no step {key!r} in {[s.key for s in derivation.steps]}"
    return found[0]


def equation(step: Step, entry: tuple[str, tuple[int, ...]]) -> Equation:
    found = [b for b in step.blocks if isinstance(b, Equation) and b.entry == entry]
    assert len(found) == 1, entry
    return found[0]


def words(block: Text) -> str:
    return "".join(part for part in block.parts if isinstance(part, str))


# --------------------------------------------------------------------------
# dL/dX as the full convolution


def test_seed000_grad_input_is_worked_as_the_full_convolution() -> None:
    step = step_of(SEED000, "grad_input")
    eq = equation(step, ("grad_input", (0, 1, 1)))
    assert eq.value == Fraction("0.345")
    # the window is on the padded gradient: rows and columns 1–2 of the 4×4 grid
    assert eq.window is not None and eq.window_of
    grid = eq.window_of[0]
    assert grid.label == (Whole("padded_grad"),)
    assert grid.values.shape == (4, 4) and grid.border == (1, 1)
    assert eq.window.taps == ((1, 1), (1, 2), (2, 1), (2, 2))
    window = [grid.values[r, c] for r, c in eq.window.taps]
    assert window == [Fraction("0.3"), Fraction("0.45"), Fraction("-0.25"), Fraction("0.1")]
    # each entry of the window times the entry of rot180(W) over it, named by the
    # kernel entry it is: rot180(W)(0,0) = W(1,1)
    symbolic = eq.forms[0]
    assert [(f.factors[0], f.factors[1]) for f in symbolic.terms] == [  # type: ignore[union-attr]
        (Sym("grad_output", (0, 0, 0)), Sym("filter", (0, 0, 1, 1))),
        (Sym("grad_output", (0, 0, 1)), Sym("filter", (0, 0, 1, 0))),
        (Sym("grad_output", (0, 1, 0)), Sym("filter", (0, 0, 0, 1))),
        (Sym("grad_output", (0, 1, 1)), Sym("filter", (0, 0, 0, 0))),
    ]


@pytest.mark.parametrize("fmt", ["text", "latex", "markdown"])
def test_seed000_grad_input_products_in_every_format(fmt: str) -> None:
    if fmt == "text":
        text = norm(rendered(SEED000, "text", width=WIDTH))
        assert f"= {SEED000_GRAD_INPUT_11} = 0.345" in text
        assert ("∂Loss/∂I(1,1) = ∂Loss/∂Output(0,0)×W(1,1) + ∂Loss/∂Output(0,1)×W(1,0) + "
                "∂Loss/∂Output(1,0)×W(0,1) + ∂Loss/∂Output(1,1)×W(0,0)") in text
        assert "full conv(rot180(W), ∂Loss/∂Output)" in text
    else:
        source = rendered(SEED000, fmt)
        flat = re.sub(r"\s+", " ", source.replace("&", "").replace("\\quad", ""))
        assert ("0.3 \\times 0.7 + 0.45 \\times 0.3 + (-0.25) \\times 0.2 + 0.1 \\times 0.5"
                in flat)
        assert "0.345" in flat


def test_rotated_kernel_is_named_by_the_kernel_entries() -> None:
    """rot180(W)(0,0) = W(1,1) in seed 000's 0-based notation; rot180(K)₁₁ = K₂₂ 1-based."""
    text = rendered(SEED000, "text", width=WIDTH)
    assert re.search(r"│ 0 │ W\(1,1\) │ W\(1,0\) │\n│ 1 │ W\(0,1\) │ W\(0,0\) │", text)
    assert re.search(r"│ 0 │ 0\.7 │ 0\.3 │\n│ 1 │ 0\.2 │ 0\.5 │", text)
    seed002 = rendered(SAMPLES / "seed002-given-gradient.json", "text", width=WIDTH)
    assert re.search(r"│ 1 │ K₂₂ │ K₂₁ │\n│ 2 │ K₁₂ │ K₁₁ │", seed002)


def test_stride_windows_lie_on_the_zero_inserted_padded_gradient() -> None:
    """Seed 001 at stride 2: dL/dZ spread apart, padded by 2; the inserted zeros and
    the padding are left out of the sums, and the step says so once."""
    sample = SAMPLES / "seed001-stride2.json"
    step = step_of(sample, "grad_input")
    grid = next(b for b in step.blocks if isinstance(b, Matrix)
                and b.label == (Whole("padded_grad"),))
    assert grid.values.shape == (7, 7) and grid.step == (2, 2) and grid.border == (2, 2)
    notes = [words(b) for b in step.blocks if isinstance(b, Text) and "left out" in words(b)]
    assert len(notes) == 1
    assert "padding" in notes[0] and "inserted for the stride" in notes[0]
    expected = oracle(sample)["grad_input"][0]  # type: ignore[index]
    for block in step.blocks:
        if isinstance(block, Equation) and block.entry is not None:
            _, (_, row, col) = block.entry
            assert block.value == expected[row][col]
            assert block.window is not None and len(block.window.taps) == 9
            # only real entries of dL/dZ remain: at most one per 2×2 block of the window
            assert len(block.forms[0].terms) <= 4 if block.forms else True  # type: ignore[union-attr]


def test_grad_filter_shows_the_window_of_the_input_each_weight_meets() -> None:
    step = step_of(SEED000, "grad_filter")
    eq = equation(step, ("grad_filter", (0, 0, 1, 0)))
    assert eq.window is not None
    assert eq.window.taps == ((1, 0), (1, 1), (2, 0), (2, 1))
    assert eq.window_of[0].label == (Whole("input"),)
    text = rendered(SEED000, "text", width=WIDTH)
    # the text marks the window in brackets above the equation
    block = text[text.index("Gradient with respect to the kernel"):]
    block = block[:block.index("∂Loss/∂W(1,0) =")]
    assert block.rstrip().endswith("I\n 1   2   1\n[0] [1]  2\n[2] [1]  0")


# --------------------------------------------------------------------------
# the givens


@pytest.mark.parametrize("fmt", ["text", "latex", "markdown"])
def test_the_givens_hold_the_kernel_and_the_input_in_every_format(fmt: str) -> None:
    if fmt == "text":
        text = rendered(SEED000, "text", width=WIDTH)
        given = text[:text.index("Step 1:")]
        assert "Given" in given
        assert re.search(r"^W\n┌.*\n.*\n├.*\n│ 0 │ 0\.5 │ 0\.2 │\n│ 1 │ 0\.3 │ 0\.7 │", given,
                         re.MULTILINE)
        assert re.search(r"^I\n┌", given, re.MULTILINE) and re.search(r"^Y\n┌", given,
                                                                       re.MULTILINE)
        assert "learning rate α = 0.1" in norm(given) and "mean squared error" in given
    elif fmt == "latex":
        latex = rendered(SEED000, "latex")
        given = latex[:latex.index("Step 1:")]
        assert "\\section*{Given}" in given or "Given" in given
        assert re.search(r"W = \\begin\{bmatrix\}\s*0\.5 & 0\.2 \\\\\s*0\.3 & 0\.7", given)
        assert re.search(r"I = \\begin\{bmatrix\}\s*1 & 2 & 1 \\\\", given)
    else:
        markdown = rendered(SEED000, "markdown")
        given = markdown[:markdown.index("Step 1:")]
        assert "| 0 | 0.5 | 0.2 |" in given and "| 1 | 0.3 | 0.7 |" in given
        assert "| 0 | 1 | 2 | 1 |" in given


def test_the_givens_come_first_and_are_not_numbered() -> None:
    derivation = cnnstep.solve(SEED000).derivation()
    first = derivation.steps[0]
    assert first.key == "given" and not first.numbered
    assert [n for n, _ in derivation.numbered()][:3] == [0, 1, 2]
    text = rendered(SEED000, "text", width=WIDTH)
    assert text.index("Given") < text.index("Step 1: Output size")


def test_a_given_upstream_gradient_is_among_the_givens() -> None:
    text = rendered(SAMPLES / "seed002-given-gradient.json", "text", width=WIDTH)
    given = text[:text.index("Step 1:")]
    assert re.search(r"^∂L/∂Z\n┌", given, re.MULTILINE)
    assert re.search(r"^K\n┌", given, re.MULTILINE) and "B = " in given
    assert "Upstream gradient" not in text


def test_layers_are_among_the_givens() -> None:
    text = norm(rendered(SAMPLES / "relu-maxpool.json", "text", width=WIDTH))
    assert "activation ReLU; max pooling over 2×2 windows with stride 2" in text


# --------------------------------------------------------------------------
# channels, indices, symbols


def test_channels_are_summed_one_by_one_then_added() -> None:
    step = step_of(SAMPLES / "seed003-rgb-edge-maxpool.json", "forward")
    eq = equation(step, ("conv", (0, 0, 1)))
    assert eq.value == Fraction("5.1")
    symbolic_first = equation(step, ("conv", (0, 0, 0))).forms
    assert len(symbolic_first) == 3  # symbols, numbers by channel, the channels' sums
    assert len(eq.forms) == 2  # the symbols of the first entry are not repeated
    text = norm(rendered(SAMPLES / "seed003-rgb-edge-maxpool.json", "text", width=WIDTH))
    assert ("Z(1,2) = [0×(−1) + 0×0 + 1×1 + 0×(−1) + 0×0 + 1×1 + 0×(−1) + 0×0 + 1×1] + "
            "[0.2×(−1) + 0.2×0 + 0.9×1") in text
    assert "= 3 + 2.1 + 0 = 5.1" in text


def test_axes_of_length_one_carry_no_index() -> None:
    """One filter over three channels: K(c,m,n), Z(i,j), B; no "filter 1" labels."""
    text = rendered(SAMPLES / "seed003-rgb-edge-stride2.json", "text", width=WIDTH)
    assert "K(1,1,1)" in text and "Z(1,1)" in text and "X(3,1,1)" in text
    assert not re.search(r"K\(\d,\d,\d,\d\)|Z\(\d,\d,\d\)", text)
    assert "filter 1" not in text and "K (channel 2)" in text
    latex = rendered(SAMPLES / "seed003-rgb-edge-stride2.json", "latex")
    assert "Z_{1,1} &=" in latex and "K_{1,1,1,1}" not in latex
    # two filters over two channels keep every index
    both = rendered(SAMPLES / "two-filters-padding.json", "text", width=WIDTH)
    assert "K(1,1,2,2)" in both and "Z(1,1,1)" in both


def test_size_formulas_use_symbols_of_their_own() -> None:
    seed = norm(rendered(SEED000, "text", width=WIDTH))
    # seed 000 names the kernel W: the sizes are h and w, never a bare W or K
    assert "h_out = ⌊(h_in + 2×p − k_h)/s⌋ + 1 = ⌊(3 + 2×0 − 2)/1⌋ + 1 = 2" in seed
    assert "(W + 2" not in seed and "− K)" not in seed
    default = norm(rendered(SAMPLES / "seed001-stride1.json", "text", width=WIDTH))
    assert "H_out = ⌊(H_in + 2×p − k_h)/s⌋ + 1" in default
    latex = rendered(SAMPLES / "seed001-stride1.json", "latex")
    assert "H_{\\text{in}}" in latex and "k_{h}" in latex


# --------------------------------------------------------------------------
# zeros by construction


def test_masked_gradient_terms_are_left_out_and_said_once() -> None:
    """After ReLU and a max pool, dL/dK and dL/dX keep only the entries of dL/dZ
    that are not 0 by construction."""
    sample = SAMPLES / "relu-maxpool.json"
    stages: dict[str, Any] = oracle(sample)
    nonzero = sum(1 for row in stages["grad_conv"][0] for v in row if v != 0)
    step = step_of(sample, "grad_filter")
    notes = [words(b) for b in step.blocks if isinstance(b, Text) and "left out" in words(b)]
    assert len(notes) == 1 and "max pool" in notes[0] and "ReLU′(z) = 0" in notes[0]
    for block in step.blocks:
        if isinstance(block, Equation) and block.forms:
            assert len(block.forms[0].terms) <= nonzero  # type: ignore[union-attr]
    # no term of a kernel gradient multiplies a zero of dL/dZ (the input's zeros stay)
    for block in step.blocks:
        if isinstance(block, Equation) and len(block.forms) > 1:
            for term in block.forms[1].terms:  # type: ignore[union-attr]
                assert term.factors[0].value != 0


def test_zero_entries_of_dl_dx_are_named_together() -> None:
    sample = SAMPLES / "seed003-rgb-edge-maxpool.json"
    step = step_of(sample, "grad_input")
    lines = [b for b in step.blocks if isinstance(b, Text) and " are 0: " in words(b)]
    assert len(lines) == 1
    named = [p for p in lines[0].parts if isinstance(p, Sym)]
    more = re.search(r" and (\d+) more", words(lines[0]))
    assert more, "a long list of zeros names the first of them"
    expected: Any = oracle(sample)["grad_input"]
    worked = {b.entry[1] for b in step.blocks if isinstance(b, Equation) and b.entry}
    for sym in named:
        c, i, j = sym.index
        assert expected[c][i][j] == 0  # type: ignore[index]
        assert sym.index not in worked
    assert len(named) + int(more.group(1)) + len(worked) == 3 * 6 * 6


# --------------------------------------------------------------------------
# geometry where it matters


def test_pool_size_and_uncovered_rows() -> None:
    text = norm(rendered(SAMPLES / "relu-maxpool.json", "text", width=WIDTH))
    assert "H_pool = ⌊(H_out − k_pool)/s_pool⌋ + 1 = ⌊(4 − 2)/2⌋ + 1 = 2" in text
    uneven = cnnstep.solve({"input": [[1, 2, 3, 4, 5]] * 5, "filter": [[1]],
                            "pool": {"type": "max", "size": 2}, "target": [[0, 0]] * 2})
    said = norm(uneven.to_text(width=WIDTH))
    assert ("the last 1 row of the pool's input lies in no pool window, so its gradient "
            "is 0") in said
    assert "the last 1 column" in said


def test_padding_crop_is_explained() -> None:
    text = norm(rendered(SAMPLES / "two-filters-padding.json", "text", width=WIDTH))
    assert ("The full convolution has one entry for each place of the padded input, 5×5: "
            "it is the gradient of the padded input. The first and last row and the first "
            "and last column are the padding, not entries of X, so they are cropped away, "
            "leaving the 3×3 ∂L/∂X") in text
