"""Numbers as every format prints them: ≈ exactly where something was rounded,
and a problem written in fractions worked in fractions.

* A form that shows a rounded operand (a float after sigmoid or tanh, or a
  value with no finite decimal under ``--decimals``) only approximates the
  left-hand side: its relation is ≈, and so is every one after it, the
  value's included. A form of exact numbers keeps =.
* A zero of padding or zero insertion is exact: never ``≈ 0``, even among
  floats.
* A problem that gives a number with no finite decimal (1/3) prints every
  non-integer as a fraction, so that ``1×0.5`` never stands beside
  ``(1/3)×(1/3)``; a problem in decimals prints decimals.
"""

from __future__ import annotations

import re
from pathlib import Path

from helpers import rendered

import cnnstep
from cnnstep.derivation.assemble import written_in_fractions
from cnnstep.problem import problem_from_data

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "cnnstep" / "samples"
WIDTH = 100


def lines_with(text: str, piece: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if piece in line]


# --------------------------------------------------------------------------
# ≈ after rounded operands


def test_float_operands_make_every_later_relation_approximate() -> None:
    text = rendered(SAMPLES / "sigmoid-half-sse.json", "text", width=WIDTH)
    assert lines_with(text, "0.768525 − 1") == ["∂L/∂A₁₁ ≈ 0.768525 − 1"]
    assert "≈ (−0.231475)×0.768525×(1−0.768525)" in text
    assert not re.search(r"= [^=≈]*\d\.\d{6}", text), "an = before a 6-digit float"
    latex = rendered(SAMPLES / "sigmoid-half-sse.json", "latex")
    assert "&\\approx 0.768525 - 1" in latex and "&= 0.768525 - 1" not in latex
    markdown = rendered(SAMPLES / "sigmoid-half-sse.json", "markdown")
    assert "&\\approx 0.768525 - 1" in markdown


def test_exact_forms_keep_equals_beside_floats() -> None:
    """A = σ(Z) = σ(1.2) ≈ 0.768525: σ(1.2) is exact, only its value is rounded."""
    text = rendered(SAMPLES / "sigmoid-half-sse.json", "text", width=WIDTH)
    assert "= σ(1.2)" in text
    assert "≈ 0.768525" in text


def test_decimals_make_rounded_forms_approximate() -> None:
    text = rendered(SAMPLES / "half-sse.json", "text", width=WIDTH, decimals=3)
    # Z₁₁ = … + 1/3 → the bias is shown as 0.333: that form and the value are ≈
    z11 = text[text.index("Z₁₁ = "):]
    assert z11.splitlines()[1].strip() == "≈ 2×1 + 1×(−1) + 1×0.5 + 3×0 + 0.333"
    assert z11.splitlines()[2].strip() == "≈ 1.833"
    latex = rendered(SAMPLES / "half-sse.json", "latex", decimals=3)
    assert "&\\approx 2 \\times 1 + 1 \\times (-1) + 1 \\times 0.5 + 3 \\times 0 + 0.333" in latex


def test_exact_problems_have_no_approximations() -> None:
    for fmt in ("text", "latex", "markdown"):
        worked = cnnstep.solve(SAMPLES / "seed000-filter-update.json")
        out = (worked.to_text(width=WIDTH, decimals=3) if fmt == "text"
               else getattr(worked, f"to_{fmt}")(decimals=3))
        assert "≈" not in out and "\\approx" not in out, fmt


def test_padding_zeros_are_exact_among_floats() -> None:
    """sigmoid-half-sse pads its float dL/dZ for dL/dX: the padding is exactly 0."""
    text = rendered(SAMPLES / "sigmoid-half-sse.json", "text", width=WIDTH)
    assert "≈ 0 " not in text and "≈ 0\n" not in text and "│ ≈ 0 │" not in text
    latex = rendered(SAMPLES / "sigmoid-half-sse.json", "latex")
    assert "\\cnnfiller{0}" in latex and "\\cnnfiller{\\approx" not in latex
    markdown = rendered(SAMPLES / "sigmoid-half-sse.json", "markdown")
    assert "${\\color{gray}0}$" in markdown and "{\\color{gray}\\approx" not in markdown


# --------------------------------------------------------------------------
# a problem written in fractions


def test_a_problem_with_a_fraction_is_written_in_fractions() -> None:
    assert written_in_fractions(problem_from_data(
        {"input": [[1, 2]], "filter": [["1/3"]]}))
    assert not written_in_fractions(problem_from_data(
        {"input": [[1, 2]], "filter": [["1/4", 0.5]], "learning_rate": "1/10"}))
    assert written_in_fractions(problem_from_data(
        {"input": [[1, 2]], "filter": [[1]], "target": [[1, 1]], "learning_rate": "1/3"}))


def test_fractions_are_printed_as_fractions_throughout() -> None:
    """half-sse gives its bias as 1/3 (and its filter holds 0.5): 0.5 prints as 1/2."""
    worked = cnnstep.solve(SAMPLES / "half-sse.json")
    assert worked.derivation().fractions
    text = worked.to_text(width=WIDTH)
    assert "2×1 + 1×(−1) + 1×(1/2) + 3×0 + 1/3" in text
    assert "1×0.5" not in text and "(1/3)×(1/3)" not in text.replace("1×(1/2)", "")
    assert "−1 − (1/10)×(−37/6)" in text
    # no terminating decimal beside a fraction: every non-integer is a fraction
    assert not re.search(r"(?<![\d≈] )(?<![\d.])\d+\.\d+(?!\d)", re.sub(r"≈ −?\d+\.\d+", "", text))
    latex = worked.to_latex()
    assert "1 \\times (\\tfrac{1}{2})" in latex
    assert "\\alpha = \\tfrac{1}{10}" in latex


def test_decimal_problems_stay_in_decimals() -> None:
    worked = cnnstep.solve(SAMPLES / "seed000-filter-update.json")
    assert not worked.derivation().fractions
    assert "1×0.5 + 2×0.2" in worked.to_text(width=WIDTH)


def test_decimals_win_over_fractions() -> None:
    """--decimals asks for decimals: a problem in fractions gets them too."""
    text = rendered(SAMPLES / "half-sse.json", "text", width=WIDTH, decimals=2)
    assert "1×0.5" in text and "1×(1/2)" not in text
