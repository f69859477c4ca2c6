"""The renderers' registry: one renderer per format, looked up by the CLI and the API.

* the command line's formats are the registry's, and it prints what the API renders;
* library output names no command-line flag; the CLI passes its own hints;
* printers never derive: the working of a report's wrong entries is passed in;
* the words the formats share are written once, and each format only marks them up.
"""

from __future__ import annotations

import ast
import functools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, SAMPLES, invoke, rendered, worked_samples

import cnnstep
from cnnstep import api
from cnnstep.check import Report, load_answers, mark
from cnnstep.cli import HINTS, Format
from cnnstep.derivation import Omitted
from cnnstep.engine import solve as solve_layer
from cnnstep.problem import load_problem
from cnnstep.render import FORMATS, NO_HINTS, Hints, Options, Outcome, prose, renderer

ALL_SAMPLES = worked_samples()
SEED000 = SAMPLES / "seed000-filter-update.json"
ANSWERS = ROOT / "tests" / "answers"
WORKED_FORMATS = ("text", "latex", "markdown", "html")
#: a command-line flag as text, Markdown or LaTeX (where - is written -{}) spells it
FLAG = re.compile(r"(?<![\w-])--[a-z]|-\{\}-\{\}[a-z]")


def _symbolic(sample: Path) -> bool:
    return isinstance(json.loads(sample.read_text(encoding="utf-8")).get("input"), dict)


def _render(sample: Path, fmt: str, **options: object) -> str:
    """A sample's worked derivation (text 100 columns wide unless told), as the API
    renders it (``helpers.rendered``)."""
    if fmt == "text":
        options.setdefault("width", 100)
    return rendered(sample, fmt, **options)


# --------------------------------------------------------------------------
# the registry


def test_the_cli_formats_are_the_registrys() -> None:
    assert [f.value for f in Format] == list(FORMATS)


def test_each_renderer_is_named_for_its_format() -> None:
    for name in FORMATS:
        assert FORMATS[name].name == name
    assert [name for name in FORMATS if not FORMATS[name].worked] == ["json", "csv"]
    assert [name for name in FORMATS if not FORMATS[name].solves] == ["csv", "gradescope"]


def test_an_unknown_format_is_a_value_error() -> None:
    with pytest.raises(ValueError,
                       match=r"unknown format 'pdf'.*text, latex, markdown, html, json"):
        renderer("pdf")
    with pytest.raises(ValueError, match="unknown format"):
        cnnstep.solve(SEED000).render("pdf")


def test_the_registry_imports_no_format_until_asked() -> None:
    """`cnnstep --help` and JSON answers need neither rich nor a printer."""
    run = subprocess.run(
        [sys.executable, "-c",
         "import json, sys\n"
         "import cnnstep.render, cnnstep.api\n"
         "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'rich'\n"
         "      or m.startswith('cnnstep.render.'))))\n"],
        capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == []


def test_render_is_what_the_to_methods_give() -> None:
    worked = cnnstep.solve(SAMPLES / "half-sse.json")
    assert worked.render("json") == worked.to_json()
    assert worked.render("markdown", Options(decimals=2)) == worked.to_markdown(decimals=2)
    assert worked.render("latex", Options(fragment=True)) == worked.to_latex(fragment=True)
    assert worked.render("text", Options(width=90)) == worked.to_text(width=90)


# --------------------------------------------------------------------------
# hints: the library names no flag, the command line names its own


@functools.cache
def _shortened(sample: Path, text: str) -> bool:
    """Whether the sample's derivation leaves entries out at ``max_terms=5``: worked
    out once per test process for each content of the file (``text``)."""
    return cnnstep.solve(sample).derivation(max_terms=5).shortened


@pytest.mark.parametrize("fmt", WORKED_FORMATS)
@pytest.mark.parametrize("sample", ALL_SAMPLES, ids=lambda p: p.stem)
def test_library_output_names_no_flag(sample: Path, fmt: str) -> None:
    """Whole and shortened (every step leaves entries out), in every format."""
    for max_terms in (None, 5):
        text = _render(sample, fmt, max_terms=max_terms)
        assert not FLAG.search(text), (max_terms, FLAG.search(text))
    shortened = _render(sample, fmt, max_terms=5)
    if _shortened(sample, sample.read_text(encoding="utf-8")):
        assert "says what it left out." in shortened
        assert "are worked out the same way." in shortened


@pytest.mark.parametrize("fmt", WORKED_FORMATS)
def test_cli_prints_its_hints_and_otherwise_what_the_api_renders(fmt: str) -> None:
    sample = SAMPLES / "two-filters-padding.json"
    run = invoke("solve", sample, "--format", fmt, "--max-terms", "20", "--width", "100")
    assert run.returncode == 0, run.stderr
    assert run.stdout == _render(sample, fmt, max_terms=20, hints=HINTS)
    assert FLAG.search(run.stdout)
    plain = _render(sample, fmt, max_terms=20)
    assert plain != run.stdout and not FLAG.search(plain)


def test_the_cli_hints_read_as_before() -> None:
    text = rendered(SAMPLES / "two-filters-padding.json", "text", width=200, max_terms=20,
                    hints=HINTS)
    assert ("This derivation is long: each step works out its first entries and says what "
            "it left out (--max-terms 0 prints everything).") in text
    assert re.search(r"… \d+ more entries of ∂L/∂X are worked out the same way; see one with "
                     r"--only grad_input\[\d\]\[\d\]\[\d\], or all with --max-terms 0\.", text)


@pytest.mark.parametrize(("hints", "sentence"), [
    (NO_HINTS, "… 12 more entries of ∂L/∂X are worked out the same way."),
    (Hints(one="--only {example}", every="--max-terms 0"),
     "… 12 more entries of ∂L/∂X are worked out the same way; see one with "
     "--only grad_input[1][2], or all with --max-terms 0."),
    (Hints(one="worked.to_text(only=['{example}'])"),
     "… 12 more entries of ∂L/∂X are worked out the same way; see one with "
     "worked.to_text(only=['grad_input[1][2]'])."),
    (Hints(every="max_terms=0"),
     "… 12 more entries of ∂L/∂X are worked out the same way; see all with max_terms=0."),
])
def test_omitted_note(hints: Hints, sentence: str) -> None:
    words = prose.omitted(Omitted(12, "entries of ∂L/∂X", "grad_input[1][2]"), hints)
    assert "".join(words) == sentence
    assert [w for w in words if isinstance(w, prose.Code)] == [
        w for w in (hints.for_one("grad_input[1][2]"), hints.every) if w is not None]


def test_shortened_note() -> None:
    assert "".join(prose.shortened(NO_HINTS)) == (
        "This derivation is long: each step works out its first entries and says what it "
        "left out.")


def test_code_is_marked_up_per_format() -> None:
    worked = cnnstep.solve(SAMPLES / "two-filters-padding.json")
    assert "`--max-terms 0` prints everything" in worked.to_markdown(max_terms=20, hints=HINTS)
    assert r"(\texttt{-{}-{}max-{}terms 0} prints everything)" in worked.to_latex(
        max_terms=20, hints=HINTS)


# --------------------------------------------------------------------------
# reports: the working is derived once, by the caller


@pytest.fixture(scope="module")
def transposed() -> Report:
    solution = solve_layer(load_problem(SEED000))
    return mark(solution, load_answers(ANSWERS / "seed000-transposed.json", solution))


def test_printers_never_derive(transposed: Report, monkeypatch: pytest.MonkeyPatch) -> None:
    from cnnstep import derivation

    working = api.working(transposed)
    assert working is not None
    worked = cnnstep.solve(SEED000).derivation()

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a printer derived")

    monkeypatch.setattr(derivation, "derive", refuse)
    for name in FORMATS:
        printer = FORMATS[name]
        assert printer.report(transposed, "T", working, Options())
        if printer.worked and printer.solves:
            assert printer.derivation(worked, Options())


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_check_report_is_the_api_report(fmt: str, transposed: Report) -> None:
    path = ANSWERS / "seed000-transposed.json"
    run = invoke("check", SEED000, path, "--format", fmt)
    assert run.returncode == 1, run.stderr
    title = f"Marking {path} against {SEED000}"
    if FORMATS[fmt].always_batch:  # a table of one row, named by its file
        expected = FORMATS[fmt].batch([(str(path), transposed)])
        assert run.stdout == expected.replace("\r\n", "\n")
        return
    assert run.stdout == api.render_report(transposed, title, fmt, Options(hints=HINTS))
    if FORMATS[fmt].worked:
        assert prose.WORKING in run.stdout


def test_json_report_has_no_working(transposed: Report) -> None:
    text = FORMATS["json"].report(transposed, "T", None, Options())
    assert json.loads(text)["correct"] is False


# --------------------------------------------------------------------------
# batches


def _outcomes() -> list[Outcome]:
    solution = solve_layer(load_problem(SEED000))
    return [
        ("right.json", mark(solution, load_answers(ANSWERS / "seed000-correct.json", solution))),
        ("a|b.json", mark(solution, load_answers(ANSWERS / "seed000-transposed.json", solution))),
        ("bad.json", "bad.json: expected a JSON object"),
    ]


def test_batch_in_every_format() -> None:
    outcomes = _outcomes()
    text = FORMATS["text"].batch(outcomes)
    assert text.splitlines()[0].split() == list(prose.BATCH_HEADER)
    assert text.splitlines()[-1] == "1 of 3 all correct, 1 could not be read"
    markdown = FORMATS["markdown"].batch(outcomes)
    assert markdown.splitlines()[:2] == ["| file | points | right | diagnoses |",
                                         "|---|---|---|---|"]
    assert (r"| a\|b.json | 5/6 of 6 | 5/26 | grad_filter: transposed; grad_input: transposed |"
            in markdown)
    latex = FORMATS["latex"].batch(outcomes)
    assert "\\begin{tabular}{llll}\nfile & points & right & diagnoses \\\\\n\\hline\n" in latex
    assert latex.endswith("\\end{tabular}\n\\end{document}\n")
    reports = json.loads(FORMATS["json"].batch(outcomes))
    assert [r["file"] for r in reports] == ["right.json", "a|b.json", "bad.json"]
    assert reports[2] == {"file": "bad.json", "error": "bad.json: expected a JSON object"}


# --------------------------------------------------------------------------
# the command line spells no format, and the library no flag


def _source(*parts: str) -> str:
    return (ROOT.joinpath("cnnstep", *parts)).read_text(encoding="utf-8")


def test_the_cli_writes_no_format_syntax() -> None:
    source = _source("cli.py")
    for syntax in ("|---", "\\\\begin", "\\\\hline", "\\\\end{", "tabular", "**", "PREAMBLE",
                   "latex_escape", "json.dump"):
        assert syntax not in source, syntax


def _strings(source: str) -> list[str]:
    """The string constants of a module, its docstrings left out."""
    tree = ast.parse(source)
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
                  and node.body and isinstance(node.body[0], ast.Expr)}
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
            and isinstance(node.value, str) and id(node) not in docstrings]


def test_the_library_names_no_flag() -> None:
    files = [*sorted(ROOT.joinpath("cnnstep", "render").glob("*.py")),
             ROOT / "cnnstep" / "api.py"]
    for path in files:
        flags = [text for text in _strings(path.read_text(encoding="utf-8"))
                 if re.search(r"--(only|max-terms)\b", text)]
        assert not flags, (path.name, flags)
