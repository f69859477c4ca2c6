"""The Markdown reads as GitHub and Jupyter read it: words as text, formulas as math.

Every sample's Markdown is parsed with markdown-it-py and its dollar-math
plugin, the way a Markdown viewer with ``$…$`` math does. No word of a
sentence may sit inside math (where it would print as run-together italics),
every math span must look like valid LaTeX (balanced braces, ASCII, no prose),
and no LaTeX may leak into the text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import rendered
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.dollarmath import dollarmath_plugin

import cnnstep
from cnnstep.cli import HINTS

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "cnnstep" / "samples").glob("*.json"))

#: commands whose argument is words, not math, and subscripts (index letters such as
#: K_{mn}): their letters are allowed
_WORDED = re.compile(r"\\(?:text|operatorname|begin|end|color)\{[^{}]*\}|_\{[^{}]*\}")
_COMMAND = re.compile(r"\\[A-Za-z]+|\\.")
#: what a formula may hold besides commands: single letters, digits, signs
_PROSE_WORD = re.compile(r"[A-Za-z]{2,}")


def parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table").use(dollarmath_plugin, double_inline=True)


def leaves(tokens: list[Token]) -> Iterator[Token]:
    for token in tokens:
        yield token
        if token.children:
            yield from leaves(token.children)


def spans(markdown: str) -> tuple[list[tuple[str, bool]], list[str]]:
    """The math spans (each with whether it is a display) and the text runs of a
    document."""
    math, text = [], []
    for token in leaves(parser().parse(markdown)):
        if token.type in ("math_inline", "math_block", "math_inline_double"):
            math.append((token.content, token.type != "math_inline"))
        elif token.type == "text":
            text.append(token.content)
    return math, text


def balanced(math: str) -> bool:
    depth = 0
    for token in re.findall(r"\\.|[{}]", math):
        depth += (token == "{") - (token == "}")
        if depth < 0:
            return False
    return depth == 0


def math_problems(math: str, display: bool) -> list[str]:
    """What is wrong with one math span: prose in it, unbalanced braces, Unicode.
    A label in ``\\text`` (``(channel 1)``) is math's; a sentence is not, in a
    display or inline."""
    problems = []
    if not balanced(math):
        problems.append("unbalanced braces")
    if not math.isascii():
        problems.append("non-ASCII characters")
    if math != math.strip() and "\n" not in math:
        problems.append("space at an end of inline math (GitHub shows it as text)")
    bare = _COMMAND.sub(" ", _WORDED.sub(" ", math))
    words = _PROSE_WORD.findall(bare)
    if words:
        problems.append(f"words in math: {words[:5]}")
    for argument in re.findall(r"\\text\{([^{}]*)\}", math):
        if len(argument.split()) > 3:
            problems.append(f"a sentence in \\text: {argument!r}")
    return problems


def check_markdown(markdown: str, name: str) -> None:
    math, text = spans(markdown)
    assert math, f"{name}: no math at all"
    bad = [(span[:80], problems) for span, display in math
           if (problems := math_problems(span, display))]
    assert not bad, f"{name}: {len(bad)} bad math span(s), e.g. {bad[:3]}"
    # a backslash before anything but punctuation is printed, not an escape
    leaked = [t for t in text if re.search(r"\\[A-Za-z0-9]|_\{|\^\{", t)]
    assert not leaked, f"{name}: LaTeX outside math: {leaked[:3]}"
    # formulas are math: a relation or a product sign in the words means one was missed
    loose = [t for t in text if re.search(r"[\w)]\s*[=≈<>×⊙]\s*[\w(]", t)]
    assert not loose, f"{name}: a formula left in the words: {loose[:3]}"


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_sample_markdown_keeps_words_out_of_math(sample: Path) -> None:
    check_markdown(rendered(sample, "markdown", hints=HINTS), sample.name)


def test_markdown_question_sheet() -> None:
    """The numbered questions read as numbers, not as a list nor with a backslash."""
    sheet = cnnstep.solve(ROOT / "cnnstep" / "samples" / "seed000-filter-update.json"
                          ).questions("markdown")
    check_markdown(sheet, "question sheet")
    html = parser().render(sheet)
    assert "<p>1. (1 point) Find" in html and "\\1" not in html


def test_markdown_of_a_shortened_derivation(tmp_path: Path) -> None:
    """The notes of a shortened derivation (with their flags as code) parse too."""
    markdown = rendered(ROOT / "cnnstep" / "samples" / "two-filters-padding.json", "markdown",
                        max_terms=30, hints=HINTS)
    check_markdown(markdown, "shortened")


@pytest.mark.parametrize("decimals", [None, 2])
def test_markdown_with_special_characters_in_the_notation(decimals: int | None) -> None:
    data: dict[str, Any] = json.loads((ROOT / "cnnstep" / "samples" / "half-sse.json").read_text(
        encoding="utf-8"))
    data["notation"] = {"input": "x_in", "filter": "W^1", "output": "O&P", "loss": "100%",
                        "index_base": 0}
    markdown = cnnstep.solve(data).to_markdown(decimals=decimals)
    math, _ = spans(markdown)
    assert not [span for span, _ in math if not balanced(span)]
    assert any("\\text{x\\_in}" in span for span, _ in math)


def test_the_words_of_a_sentence_are_text() -> None:
    """The sentence the bug report quoted: words as text, each symbol as math."""
    markdown = rendered(ROOT / "cnnstep" / "samples" / "seed000-filter-update.json", "markdown")
    assert ("Each output entry is the sum of the products of its window of $I$ with the "
            "kernel $W$: $\\text{Output} = \\operatorname{conv}(I, W)$.") in markdown
    math, _ = spans(markdown)
    assert ("\\partial \\text{Loss}/\\partial \\text{Output} = (2/4) \\times (\\text{Output}-Y)",
            False) in math


def test_a_formula_written_in_words_is_math() -> None:
    markdown = rendered(ROOT / "cnnstep" / "samples" / "relu-maxpool.json", "markdown")
    assert "$\\operatorname{ReLU}'(z) = 1$ for $z > 0$ and 0 otherwise" in markdown
    assert "Max pooling with a $2\\times 2$ window" in markdown


def test_markdown_special_characters_in_words_are_escaped() -> None:
    from cnnstep.render.markdown import escape_words

    assert escape_words("a*b_c [d] <e> $5 |x| ~y~ `z`") == (
        "a\\*b\\_c \\[d\\] \\<e\\> \\$5 \\|x\\| \\~y\\~ \\`z\\`")
    _, text = spans(escape_words("a*b_c* $x$ [link](u)"))
    assert "".join(text) == "a*b_c* $x$ [link](u)"
