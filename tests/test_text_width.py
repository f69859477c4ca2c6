"""The text format keeps to ``--width``, and never breaks a line inside an expression.

Every sample, and a 3×12 input whose window grids are wider than a narrow
line, is printed at 40, 60, 80 and 100 columns: no line may be longer. Each
sentence is wrapped between words and between the pieces of a formula (after
its relation sign), never inside an expression, and loses no word.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from helpers import rendered
from rich.console import Console

import cnnstep
from cnnstep.cli import HINTS
from cnnstep.derivation import Derivation, Text
from cnnstep.render import Options
from cnnstep.render.expr import Settings, TextPrinter
from cnnstep.render.text import TextRenderer, wrap_atoms

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "cnnstep" / "samples").glob("*.json"))
WIDTHS = (40, 60, 80, 100)


def wide_problem() -> dict[str, Any]:
    """A 3×12 input with fractions: its window grids are 60 columns wide."""
    return {"input": [[(i * j) % 5 - 2 for j in range(12)] for i in range(3)],
            "filter": [[1, "-1/3"]], "target": [[0] * 11] * 3, "learning_rate": "0.1"}


PROBLEMS: dict[str, Any] = {p.stem: p for p in SAMPLES} | {"wide-input": wide_problem()}


@pytest.fixture(scope="module", params=list(PROBLEMS), ids=list(PROBLEMS))
def problem(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def worked(problem: str) -> cnnstep.Worked:
    return cnnstep.solve(PROBLEMS[problem])


@pytest.mark.parametrize("width", WIDTHS)
def test_no_line_is_wider_than_the_width(problem: str, worked: cnnstep.Worked,
                                         width: int) -> None:
    source = PROBLEMS[problem]
    text = (rendered(source, "text", width=width, hints=HINTS) if isinstance(source, Path)
            else worked.to_text(width=width, hints=HINTS))
    long = [line for line in text.splitlines() if len(line) > width]
    assert not long, f"{len(long)} line(s) over {width} columns, e.g. {long[:2]}"


@pytest.mark.parametrize("colour", [False, True])
def test_a_long_step_title_is_wrapped_whole_not_cut(colour: bool) -> None:
    batch = {"input": [[[[1, 2], [0, 1]]], [[[0, 1], [2, 0]]]], "filter": [[[[1]]]],
             "target": [[[[1, 0], [0, 1]]], [[[0, 0], [1, 1]]]], "learning_rate": "0.1",
             "steps": 2}
    text = cnnstep.solve(batch).to_text(width=60) if not colour else _coloured(batch, 60)
    assert "…" not in text
    assert ("Step 4: Gradient of the loss with respect to the output\n(image 1, "
            "training step 1 of 2) ─") in text
    assert all(len(line) <= 60 for line in text.splitlines())


def _coloured(problem: dict[str, Any], width: int) -> str:
    """The text as a terminal shows it, its styles dropped."""
    from cnnstep.render import renderer

    shown = renderer("text").derivation(cnnstep.solve(problem).derivation(),
                                        Options(width=width, color=True))
    return re.sub(r"\x1b\[[0-9;]*m", "", shown)


def test_a_shortened_derivation_keeps_to_the_width() -> None:
    worked = cnnstep.solve(ROOT / "cnnstep" / "samples" / "two-filters-padding.json")
    text = worked.to_text(width=40, max_terms=30, hints=HINTS)
    assert "--only" in text
    assert not [line for line in text.splitlines() if len(line) > 40]


def sentences(derivation: Derivation) -> list[Text]:
    return [block for step in derivation.steps for block in step.blocks
            if isinstance(block, Text)]


def renderer(derivation: Derivation, width: int) -> TextRenderer:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    return TextRenderer(derivation, console, Options(width=width))


@pytest.mark.parametrize("width", WIDTHS)
def test_sentences_break_between_expressions_only(worked: cnnstep.Worked, width: int) -> None:
    derivation = worked.derivation()
    printer = TextPrinter(Settings.of(derivation))
    text = renderer(derivation, width)
    for block in sentences(derivation):
        lines = text.sentence(block.parts).split("\n")
        assert all(len(line) <= width for line in lines), lines
        whole = "".join(p if isinstance(p, str) else printer.doprint(p) for p in block.parts)
        # no word lost or changed: the lines are the sentence, broken at spaces
        assert " ".join(lines) == re.sub(" +", " ", whole).strip(), (lines, whole)
        for part in block.parts:
            if not isinstance(part, str):
                shown = printer.doprint(part)
                if len(shown) <= width:  # else it must be cut: it is wider than a line
                    assert any(shown in line for line in lines), (shown, lines)


def test_the_update_rule_is_not_broken_inside() -> None:
    """The reported case: B_new = B − α×∂L/∂B was broken after the minus."""
    derivation = cnnstep.solve(ROOT / "cnnstep" / "samples" / "half-sse.json").derivation()
    update = next(block for block in sentences(derivation)
                  if "Gradient descent" in str(block.parts[0]))
    for width in range(40, 101):
        lines = renderer(derivation, width).sentence(update.parts).split("\n")
        assert not any(line.endswith(("−", "− ", "×")) for line in lines), (width, lines)
        assert any("Bnew = B − α×∂L/∂B" in line or "B − α×∂L/∂B" in line
                   for line in lines), (width, lines)


def test_a_formula_in_words_breaks_only_after_its_relation() -> None:
    derivation = cnnstep.solve(ROOT / "cnnstep" / "samples" / "relu-maxpool.json").derivation()
    rule = next(block for block in sentences(derivation) if "ReLU′(z)" in str(block.parts))
    for width in range(40, 101):
        text = renderer(derivation, width).sentence(rule.parts)
        assert "ReLU′(z) =" in text and "z > 0" in text and "z = 0" in text, text


def test_wrapping_cuts_only_what_no_line_can_hold() -> None:
    assert wrap_atoms([("a", False), ("bb", True), ("cc", True)], 4) == ["a bb", "cc"]
    assert wrap_atoms([("x", False), ("=", False), ("y", True)], 3) == ["x=", "y"]
    assert wrap_atoms([("abcdefgh", False)], 3) == ["abc", "def", "gh"]


def test_window_grids_wider_than_the_line_come_in_bands() -> None:
    text = cnnstep.solve(wide_problem()).to_text(width=40)
    assert "X (columns 1–8 of 12)" in text and "X (columns 9–12 of 12)" in text
    assert not [line for line in text.splitlines() if len(line) > 40]


def test_the_narrow_characters_are_one_cell_in_every_unicode_version() -> None:
    """The characters the text printer counts without rich's tables are one cell
    wide in each table rich has."""
    from rich import cells

    from cnnstep.render.text import NARROW_RANGES

    try:
        from rich._unicode_data._versions import VERSIONS
    except ImportError:  # an older rich: one table
        versions: list[str | None] = [None]
    else:
        versions = ["auto", *VERSIONS]
    for version in versions:
        for start, end in NARROW_RANGES:
            for code in range(start, end + 1):
                size = (cells.get_character_cell_size(chr(code)) if version is None
                        else cells.get_character_cell_size(chr(code), version))
                assert size == 1, (hex(code), version)


@pytest.mark.parametrize("text", ["∂L/∂K₁₁ = 0.5×2 − 1 ≈ 0.333", "⌊(3 + 2·1 − 2)/1⌋ + 1",
                                  "Σᵢⱼ Xᵢⱼ", "輸入 X", "e\u0301", "a\u200db", "🙂 ok", ""])
def test_cell_len_counts_as_rich_does(text: str) -> None:
    from rich.cells import cell_len as rich_cell_len

    from cnnstep.render.text import cell_len

    assert cell_len(text) == rich_cell_len(text)
