"""``--format html``: one self-contained HTML5 page, its mathematics in MathML.

* every sample's page (and its notebook fragment) is HTML5 without a parse
  error, each ``<math>`` is well-formed XML made of MathML elements only;
* the page needs nothing from outside: no script, no external URL, no
  stylesheet or font to fetch;
* padding and inserted zeros are marked apart from data zeros, and each
  window's cells are picked out beside its equation;
* numbers are exact, as in every format;
* reports and batches of ``cnnstep check`` are pages too.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path
from typing import Any

import html5lib
import numpy as np
import pytest
from helpers import ROOT, SAMPLES, invoke, rendered, worked_samples

import cnnstep
from cnnstep import api
from cnnstep.check import load_answers, mark
from cnnstep.derivation import Equation, Matrix, Num, Sym, Whole
from cnnstep.engine import solve as solve_layer
from cnnstep.numbers import exact_decimal
from cnnstep.problem import Notation, load_problem
from cnnstep.render import FORMATS, Options
from cnnstep.render.expr import Settings
from cnnstep.render.html import LINE_WIDTH, STYLE, HtmlRenderer, MathMLPrinter, visible_length

ALL_SAMPLES = worked_samples()
SEED000 = SAMPLES / "seed000-filter-update.json"
ANSWERS = ROOT / "tests" / "answers"

#: the elements of MathML Core (and the two attributes-only ones it keeps)
MATHML = {
    "math", "mi", "mn", "mo", "ms", "mtext", "mspace", "mrow", "mfrac", "msqrt", "mroot",
    "mstyle", "merror", "mpadded", "mphantom", "msub", "msup", "msubsup", "munder", "mover",
    "munderover", "mmultiscripts", "mprescripts", "mtable", "mtr", "mtd", "semantics",
    "annotation", "annotation-xml",
}
_MATH = re.compile(r"<math\b.*?</math>", re.S)


def _page(sample: Path, **options: Any) -> str:
    return rendered(sample, "html", **options)


def _parse(page: str, fragment: bool = False) -> Any:
    """The page through a strict HTML5 parser: any parse error raises."""
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    return parser.parseFragment(page) if fragment else parser.parse(page)


def _formulas(page: str) -> list[ET.Element]:
    """Every ``<math>`` element of the page, read as XML."""
    return [ET.fromstring(found) for found in _MATH.findall(page)]


def _self_contained(page: str, tree: Any) -> None:
    """No script, nothing fetched: links only within the page, no URL in the style."""
    assert "<script" not in page.lower()
    for element in tree.iter():
        tag = element.tag if isinstance(element.tag, str) else ""
        assert tag.rsplit("}", 1)[-1] not in {"script", "link", "img", "iframe", "object",
                                             "embed", "base"}, tag
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), name
            if name in ("href", "src", "action", "srcset", "data"):
                assert value.startswith("#"), (name, value)
            assert "://" not in value, value
    style = "".join(s.text or "" for s in tree.iter("style"))
    assert style.strip() == STYLE.strip()
    assert "url(" not in STYLE and "@import" not in STYLE and "@font-face" not in STYLE


# --------------------------------------------------------------------------
# every sample: valid, self-contained, well-formed MathML


#: the samples whose whole page is parsed; of the others, the brief page (each step
#: with one entry worked out and its results), whose blocks are the whole page's
#: kinds: a strict HTML5 parser in Python reads about a megabyte a second
WHOLE_PAGES = {"seed000-filter-update", "relu-maxpool", "batch-2-images",
               "conv-transpose-stride2", "dilated-3x3", "training-three-steps"}


@pytest.mark.parametrize("sample", ALL_SAMPLES, ids=lambda p: p.stem)
def test_every_page_is_html5_with_well_formed_mathml(sample: Path) -> None:
    page = _page(sample) if sample.stem in WHOLE_PAGES else _page(sample, detail="brief")
    assert page.startswith("<!DOCTYPE html>\n<html lang=\"en\">")
    tree = _parse(page)
    _self_contained(page, tree)
    formulas = _formulas(page)
    assert formulas, "no formula on the page"
    for formula in formulas:
        for element in formula.iter():
            assert element.tag in MATHML, element.tag
    # one <math> per formula: the parser found as many as the text has
    assert len(formulas) == page.count("<math")
    assert len(list(tree.iter("{http://www.w3.org/1998/Math/MathML}math"))) == len(formulas)


@pytest.mark.parametrize("sample", ALL_SAMPLES[:3], ids=lambda p: p.stem)
def test_the_fragment_is_a_div_whose_style_touches_nothing_else(sample: Path) -> None:
    fragment = cnnstep.solve(sample)._repr_html_()
    assert fragment.startswith('<div class="cnnstep">\n<style>\n')
    assert "<html" not in fragment and "<body" not in fragment and "<title" not in fragment
    # a notebook shows many: no ids to repeat, no links to them
    assert " id=" not in fragment and "<nav" not in fragment
    tree = _parse(fragment, fragment=True)
    _self_contained(fragment, tree)
    for formula in _formulas(fragment):
        assert formula.tag == "math"
    # every rule of the style sheet is scoped to the fragment's div
    rules = re.sub(r"@media[^{]*\{(.*)\}\s*$", r"\1", STYLE.strip(), flags=re.S)
    for selectors in re.findall(r"([^{}]+)\{[^{}]*\}", rules):
        for selector in selectors.split(","):
            assert selector.strip().startswith(".cnnstep"), selector


def test_a_shortened_page_says_what_it_left_out() -> None:
    page = _page(SAMPLES / "two-filters-padding.json")
    short = cnnstep.solve(SAMPLES / "two-filters-padding.json").render(
        "html", Options(), max_terms=20)
    assert len(short) < len(page)
    _parse(short)
    assert '<p class="note">This derivation is long' in short
    assert "are worked out the same way.</p>" in short


def test_the_page_follows_the_problems_notation_escaped() -> None:
    """A notation may use any printable ASCII: ``<`` and ``&`` stay text."""
    data = json.loads(SEED000.read_text(encoding="utf-8"))
    data["notation"] = {"input": "A<B", "filter": "W&", "index_base": 0}
    page = cnnstep.solve(data).render("html")
    tree = _parse(page)
    assert "<mi>A&lt;B</mi>" in page and "<mi>W&amp;</mi>" in page
    assert tree is not None
    for formula in _formulas(page):
        assert formula.tag == "math"


# --------------------------------------------------------------------------
# exact numbers, real minus signs


def test_numbers_are_exact() -> None:
    page = _page(SEED000)
    assert "<mn>0.295</mn>" in page
    assert "0.29500000000000004" not in page
    assert "<mrow><mo>−</mo><mn>0.25</mn></mrow>" in page
    assert "-0.25" not in page


def test_a_value_without_a_finite_decimal_is_a_fraction_beside_its_decimal() -> None:
    printer = MathMLPrinter(Settings())
    assert printer.value(Fraction(-11, 6)) == (
        "<mrow><mo>−</mo><mfrac><mn>11</mn><mn>6</mn></mfrac></mrow> "
        "<mo>≈</mo><mrow><mo>−</mo><mn>1.8333</mn></mrow>")
    rounded = MathMLPrinter(Settings(decimals=2))
    assert rounded.result(Fraction(1, 3)) == ("<mo>≈</mo>", "<mn>0.33</mn>")


def test_symbols_follow_the_notation() -> None:
    printer = MathMLPrinter(Settings())
    assert printer.doprint(Sym("grad_output", (0, 0, 1))) == (
        "<mrow><mi>∂</mi><mi>L</mi><mo lspace=\"0\" rspace=\"0\">/</mo><mi>∂</mi>"
        "<msub><mi>Z</mi><mn>12</mn></msub></mrow>")
    zero_based = MathMLPrinter(Settings(Notation(filter="W", index_base=0)))
    assert zero_based.doprint(Sym("updated_filter", (0, 0, 1, 0))) == (
        '<msub><mrow><mi>W</mi><mo stretchy="false">(</mo><mn>1,0</mn>'
        '<mo stretchy="false">)</mo></mrow><mtext>new</mtext></msub>')
    assert zero_based.doprint(Whole("spread_grad")) == (
        '<msub><mrow><mo stretchy="false">(</mo><mrow><mi>∂</mi><mi>L</mi>'
        '<mo lspace="0" rspace="0">/</mo><mi>∂</mi><mi>Z</mi></mrow>'
        '<mo stretchy="false">)</mo></mrow><mtext>spread</mtext></msub>')


# --------------------------------------------------------------------------
# matrices: padding and inserted zeros apart from data zeros


def _cells(markup: str) -> list[list[tuple[str, str]]]:
    """(class, content) of each cell of the first matrix in ``markup``, labels dropped."""
    table = ET.fromstring(_MATH.findall(markup)[0]).find(".//mtable")
    assert table is not None
    rows = []
    for tr in list(table)[1:]:  # the first row holds the column indices
        rows.append([(td.get("class", ""), ET.tostring(td, encoding="unicode"))
                     for td in list(tr)[1:]])
    return rows


def _renderer(sample: Path) -> HtmlRenderer:
    return HtmlRenderer(cnnstep.solve(sample).derivation(), Options())


def test_padding_is_shaded_and_grey() -> None:
    renderer = _renderer(SAMPLES / "two-filters-padding.json")
    padded = next(b for s in renderer.d.steps for b in s.blocks
                  if isinstance(b, Matrix) and b.border != (0, 0))
    rows = _cells(renderer.blocks([padded]))
    assert padded.values.shape == (len(rows), len(rows[0]))
    for i, row in enumerate(rows):
        for j, (kind, _) in enumerate(row):
            assert (kind == "f p") == padded.is_filler(i, j), (i, j)
            assert kind in ("", "f p")
    assert "shaded: the zero padding" in renderer.blocks([padded])


def test_inserted_zeros_are_grey_and_data_zeros_are_not() -> None:
    renderer = _renderer(SAMPLES / "seed001-stride2.json")
    spread = next(b for s in renderer.d.steps for b in s.blocks
                  if isinstance(b, Matrix) and b.step != (1, 1) and b.border == (0, 0))
    rows = _cells(renderer.blocks([spread]))
    kinds = [[kind for kind, _ in row] for row in rows]
    # dL/dZ = [[0.5, 0], [-0.5, 0]] spread by one zero: entries at even rows and columns
    assert kinds == [["", "f", ""], ["f", "f", "f"], ["", "f", ""]]
    assert "<mn>0</mn>" in rows[0][2][1]  # a zero of the data, not dimmed
    assert "grey: the zeros inserted for the stride" in renderer.blocks([spread])


def test_consecutive_matrices_stand_side_by_side() -> None:
    page = _page(SAMPLES / "two-filters-padding.json")
    groups = re.findall(r'<div class="matrices">\n(.*?)</div>\n', page, re.S)
    assert any(group.count("<figure>") > 1 for group in groups)
    assert page.count("<figure>") == sum(group.count("<figure>") for group in groups)


# --------------------------------------------------------------------------
# equations: aligned rows, windows beside them


def _equations(page: str) -> list[str]:
    return re.findall(r'<div class="equation">\n(.*?)\n</div>\n(?=<|$)', page, re.S)


def test_equations_are_aligned_rows_of_bounded_width() -> None:
    page = _page(SAMPLES / "seed003-rgb-edge-stride2.json")
    for formula in _formulas(page):
        table = formula.find("mtable")
        if table is None or table.get("class") != "eq":
            continue
        for row in table:
            cells = list(row)
            assert len(cells) == 2
            right = ET.tostring(cells[1], encoding="unicode")
            # a row holds at most a line's width, or a single term wider than that
            assert visible_length(right) <= LINE_WIDTH + 40, right


def test_each_window_is_picked_out_beside_its_equation() -> None:
    derivation = cnnstep.solve(SEED000).derivation()
    renderer = HtmlRenderer(derivation, Options())
    windowed = [b for b in derivation.equations() if b.window is not None]
    # the forward pass's four output entries, dL/dK's four weights, dL/dX's nine entries
    assert len(windowed) == 17
    for equation in windowed:
        markup = renderer.blocks([equation])
        window = markup[markup.index('<div class="window"'):]
        grid = next(f for f in map(ET.fromstring, _MATH.findall(window))
                    if f.find("mtable") is not None)
        picked = [(i, j) for i, tr in enumerate(grid.iter("mtr"))
                  for j, td in enumerate(tr) if td.get("class") == "in"]
        assert equation.window is not None
        assert sorted(picked) == sorted(equation.window.taps)
        # the picked values are the inputs of the sum, in the order of the kernel
        values = [equation.window_of[0].values[tap] for tap in equation.window.taps]
        cells = {(i, j): "".join(td.itertext()) for i, tr in enumerate(grid.iter("mtr"))
                 for j, td in enumerate(tr)}
        shown = [cells[tap] for tap in equation.window.taps]
        assert shown == [exact_decimal(v).replace("-", "−") for v in values]


def test_a_window_in_a_large_input_is_named_in_words() -> None:
    values = np.array([[Fraction(1)] * 14] * 14, dtype=object)
    big = Matrix((Whole("input"),), values)
    taps = tuple((1 + m, 2 + n) for m in range(2) for n in range(2))
    from cnnstep.geometry import Window

    equation = Equation(Sym("output", (0, 0, 0)), (Num(Fraction(1)),), Fraction(1),
                        window=Window(taps), window_of=(big,))
    renderer = _renderer(SEED000)
    markup = renderer.blocks([equation])
    assert '<p class="window">window: rows 1–2, columns 2–3 of the input</p>' in markup


# --------------------------------------------------------------------------
# the command line and reports


def test_the_command_line_writes_the_page(tmp_path: Path) -> None:
    out = tmp_path / "solution.html"
    run = invoke("solve", SEED000, "--format", "html", "-o", out)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "" and run.stderr == ""
    page = out.read_text(encoding="utf-8")
    _parse(page)
    assert "<title>Worked solution: one convolution layer</title>" in page


@pytest.fixture(scope="module")
def kernel_not_rotated() -> Path:
    return ANSWERS / "seed000-kernel-not-rotated.json"


def test_a_report_is_a_page(kernel_not_rotated: Path) -> None:
    run = invoke("check", SEED000, kernel_not_rotated, "--format", "html")
    assert run.returncode == 1, run.stderr
    page = run.stdout
    tree = _parse(page)
    _self_contained(page, tree)
    for formula in _formulas(page):
        assert formula.tag == "math"
    assert '<table class="report">' in page
    assert re.search(r'<td class="n wrong">✗ 0.21 <span class="expected">\(expected '
                     r'0.15\)</span></td>', page)
    assert "Diagnosis (kernel_not_rotated):" in page
    assert "<h2>The working of the wrong entries</h2>" in page
    # the working's steps are headed one level below
    assert "<h3>Step 1: Gradient with respect to the input</h3>" in page


def test_an_all_correct_report() -> None:
    solution = solve_layer(load_problem(SEED000))
    report = mark(solution, load_answers(ANSWERS / "seed000-correct.json", solution))
    page = api.render_report(report, "All right", "html")
    _parse(page)
    assert "Score: 6 of 6 points (26 of 26 entries right) — all correct." in page
    assert "wrong" not in page.split("</style>")[1]


def test_a_batch_is_a_page() -> None:
    solution = solve_layer(load_problem(SEED000))
    outcomes: list[tuple[str, Any]] = [
        ("right.json", mark(solution, load_answers(ANSWERS / "seed000-correct.json",
                                                   solution))),
        ("<b>.json", "<b>.json: expected a JSON object"),
    ]
    page = FORMATS["html"].batch(outcomes)
    tree = _parse(page)
    _self_contained(page, tree)
    assert "<td>&lt;b&gt;.json</td><td>error</td>" in page
    assert "<p>1 of 2 all correct, 1 could not be read</p>" in page
