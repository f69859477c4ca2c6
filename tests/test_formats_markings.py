"""Padding and inserted zeros, and the window of each entry, in every format.

* A zero of padding or of zero insertion (``Matrix.is_filler``) is set apart
  from a zero of the data: grey in LaTeX (``\\cnnfiller``) and Markdown
  (``\\color{gray}``), · in a text grid (and its row and column labelled ·);
  each format says so in a sentence after the first matrix that has them.
* An equation's window (``Equation.window`` in ``Equation.window_of``) is drawn
  above it: framed cells (``\\cnnwindow``) in a small LaTeX matrix, boxed cells
  in Markdown, [brackets] in plain text. This is done from those two fields
  alone, so any equation that carries a window gets it drawn.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import numpy as np
from helpers import rendered

from cnnstep.derivation import Derivation, Equation, Matrix, Step, Sym, Whole
from cnnstep.derivation.nodes import Add, Mul, Num
from cnnstep.geometry import Window
from cnnstep.problem import Notation
from cnnstep.render import FORMATS, Options, prose

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "cnnstep" / "samples"


def bmatrix_after(latex: str, label: str) -> list[list[str]]:
    """The cells of the bmatrix printed as ``label = …``."""
    match = re.search(re.escape(label) + r" = \\begin\{bmatrix\}\n(.*?)\n\\end\{bmatrix\}",
                      latex, flags=re.S)
    assert match, label
    return [[c.strip() for c in row.split(" & ")] for row in match.group(1).split(" \\\\\n")]


def markdown_rows(markdown: str, label: str) -> list[list[str]]:
    lines = markdown.splitlines()
    start = lines.index(label)
    rows = []
    for line in lines[start + 4:]:  # the label, a blank line, the header, the rule
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split(" | ")][1:])
    return rows


# --------------------------------------------------------------------------
# padding and inserted zeros


def test_padding_zeros_are_grey_in_latex_and_data_zeros_are_not() -> None:
    latex = rendered(SAMPLES / "two-filters-padding.json", "latex")
    cells = bmatrix_after(latex, "X_{\\text{pad}}\\text{ (channel 1)}")
    grey = [[c.startswith("\\cnnfiller{") for c in row] for row in cells]
    assert grey == [[i in (0, 4) or j in (0, 4) for j in range(5)] for i in range(5)]
    assert cells[1][3] == "0"  # a zero of the data is plain
    assert latex.count(prose.FILLERS) == 1
    # said once, right after the first matrix that has them
    first = latex.index("\\cnnfiller{0}")
    assert latex.index("\\end{bmatrix}\n\\]\n", first) < latex.index(prose.FILLERS)
    assert latex.index(prose.FILLERS) < latex.index("\\[", first)


def test_inserted_zeros_are_grey_in_latex() -> None:
    latex = rendered(SAMPLES / "seed001-stride2.json", "latex")
    spread = bmatrix_after(latex, "\\left(\\partial L/\\partial Z\\right)_{\\text{spread}}")
    grey = [[c.startswith("\\cnnfiller{") for c in row] for row in spread]
    assert grey == [[i % 2 == 1 or j % 2 == 1 for j in range(3)] for i in range(3)]


def test_padding_zeros_are_grey_in_markdown() -> None:
    markdown = rendered(SAMPLES / "two-filters-padding.json", "markdown")
    rows = markdown_rows(markdown, "$X_{\\text{pad}}$ (channel 1)")
    grey = [[c == "${\\color{gray}0}$" for c in row] for row in rows]
    assert grey == [[i in (0, 4) or j in (0, 4) for j in range(5)] for i in range(5)]
    assert rows[1][3] == "0"
    assert markdown.count(prose.FILLERS) == 1
    # said once, right under the first table that has them
    assert "| ${\\color{gray}0}$ |\n\n*" + prose.FILLERS + "*" in markdown
    assert markdown.index("{\\color{gray}0}") < markdown.index(prose.FILLERS)


def test_padding_zeros_are_dots_in_text_grids() -> None:
    text = rendered(SAMPLES / "two-filters-padding.json", "text", width=100)
    assert " ".join(text.split()).count(prose.FILLER_LABELS) == 1
    grid = text[text.index("Xpad (channel 1)      Xpad (channel 2)"):].splitlines()[1:6]
    assert grid[0].split()[:5] == ["[·]", "[·]", "·", "·", "·"]
    assert grid[1].split()[:5] == ["[·]", "[1]", "2", "0", "·"]  # 0 of the data, · of padding


# --------------------------------------------------------------------------
# windows


def test_forward_windows_are_framed_in_latex() -> None:
    latex = rendered(SAMPLES / "seed000-filter-update.json", "latex")
    first = latex.index("\\text{Output}(0,0) &=")
    window = latex[:first].rsplit("\\begin{bmatrix}", 1)[1].split("\\end{bmatrix}")[0]
    assert window == ("\\cnnwindow{1} & \\cnnwindow{2} & 1 \\\\ "
                      "\\cnnwindow{0} & \\cnnwindow{1} & 2 \\\\ 2 & 1 & 0")
    # one small matrix per windowed entry: 4 outputs, 4 weights of dL/dK, 9 entries of dL/dX
    assert latex.count("{\\footnotesize") == 17


def test_forward_windows_are_boxed_in_markdown() -> None:
    markdown = rendered(SAMPLES / "seed000-filter-update.json", "markdown")
    assert ("$$\nI = \\begin{bmatrix}\\boxed{1} & \\boxed{2} & 1 \\\\ "
            "\\boxed{0} & \\boxed{1} & 2 \\\\ 2 & 1 & 0\\end{bmatrix}\n$$") in markdown


def test_pool_windows_are_drawn_in_latex_and_markdown() -> None:
    assert "\\cnnwindow{" in rendered(SAMPLES / "maxpool-3x3-overlap.json", "latex")
    assert "\\boxed{" in rendered(SAMPLES / "maxpool-3x3-overlap.json", "markdown")


def _derivation_with_a_window() -> Derivation:
    """One equation, ∂L/∂K₁₁ = Σ dZ × X, with its window: the four input entries
    (rows and columns 1 and 3, 1-based) that weight K₁₁ multiplies at stride 2."""
    values = np.array([[Fraction(v) for v in row] for row in
                       [[1, 2, 3], [4, 5, 6], [7, 8, 9]]], dtype=object)
    values.flags.writeable = False
    grid = Matrix((Whole("input"),), values)
    taps = ((0, 0), (0, 2), (2, 0), (2, 2))
    terms = tuple(Mul((Sym("grad_output", (0, i // 2, j // 2)), Sym("input", (0, i, j))))
                  for i, j in taps)
    numbers = tuple(Mul((Num(Fraction(1)), Num(values[i, j]))) for i, j in taps)
    equation = Equation(Sym("grad_filter", (0, 0, 0, 0)), (Add(terms), Add(numbers)),
                        Fraction(20), ("grad_filter", (0, 0, 0, 0)),
                        Window(taps), (grid,))
    return Derivation("A window", Notation(), True,
                      (Step("grad_filter", "Gradient", (equation,)),), 3)


def test_any_equation_with_a_window_gets_it_drawn() -> None:
    derivation = _derivation_with_a_window()
    latex = FORMATS["latex"].derivation(derivation, Options())
    assert ("\\cnnwindow{1} & 2 & \\cnnwindow{3} \\\\ 4 & 5 & 6 \\\\ "
            "\\cnnwindow{7} & 8 & \\cnnwindow{9}") in latex
    markdown = FORMATS["markdown"].derivation(derivation, Options())
    assert ("\\boxed{1} & 2 & \\boxed{3} \\\\ 4 & 5 & 6 \\\\ "
            "\\boxed{7} & 8 & \\boxed{9}") in markdown
    text = FORMATS["text"].derivation(derivation, Options(width=80))
    assert "[1]  2  [3]" in text and "[7]  8  [9]" in text
