"""Several problems in one document, the exam class, PDF output, and what
generated problems ask.

The LaTeX here is compiled with a real pdflatex (skipped with the reason when
it is not installed, failed when CI is set): a generated set's question sheet
and key, an exam's sheet and key, and one PDF; a few documents only.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from helpers import SAMPLES, assert_one_line_error, invoke, worked_samples
from test_latex_compiles import check_overfull, compile_tex, pdf_text

from cnnstep import cli

SEED000 = SAMPLES / "seed000-filter-update.json"
HALF_SSE = SAMPLES / "half-sse.json"
TWO = (SEED000, HALF_SSE)


def _ok(*args: str | Path, cwd: Path | None = None) -> str:
    run = invoke(*args) if cwd is None else invoke(*args, cwd=cwd)
    assert run.returncode == 0, run.stderr
    assert run.stderr == "", run.stderr  # no progress bar, no note, off a terminal
    return run.stdout


# --------------------------------------------------------------------------
# several files, one document


@pytest.mark.parametrize("fmt", ["text", "latex", "markdown", "html"])
def test_each_problem_is_a_numbered_exercise_with_its_answers(fmt: str) -> None:
    out = _ok("solve", *TWO, "--format", fmt, "--width", "120")
    first = out.index("Exercise 1 (seed000-filter-update.json)")
    second = out.index("Exercise 2 (half-sse.json)")
    assert first < second
    assert "Exercise 3" not in out
    # seed 000's dL/dX₁₁ and updated W₁₀, and half-sse's loss, each in its own exercise
    assert "0.345" in out[first:second] and "0.295" in out[first:second]
    assert "0.345" not in out[second:]
    if fmt == "latex":
        assert out.count("\\documentclass") == 1 and out.count("\\end{document}") == 1
    if fmt == "html":
        assert out.count("<html") == 1
        ids = re.findall(r' id="([^"]+)"', out)
        assert len(ids) == len(set(ids)), "an id repeats across exercises"
        assert "exercise-2-step-1" in ids


def test_standard_input_and_samples_are_exercises_too() -> None:
    run = invoke("solve", SEED000, "-", "--format", "markdown",
                 input=HALF_SSE.read_text(encoding="utf-8"))
    assert run.returncode == 0, run.stderr
    assert "# Exercise 2 (standard input)" in run.stdout
    samples = _ok("solve", "--sample", "seed000", "--sample", "half-sse", "--format", "markdown")
    assert samples == run.stdout.replace("(standard input)", "(half-sse.json)")


def test_a_latex_fragment_of_a_set_has_no_preamble() -> None:
    out = _ok("solve", *TWO, "--format", "latex", "--fragment")
    assert "\\documentclass" not in out and "\\begin{document}" not in out
    assert "\\section*{Exercise 2 (half-sse.json)}" in out


def test_json_of_a_set_is_a_list_of_named_results() -> None:
    out = _ok("solve", *TWO, "--format", "json")
    data = json.loads(out)
    assert [(item["exercise"], item["file"]) for item in data] == [
        (1, "seed000-filter-update.json"), (2, "half-sse.json")]
    assert data[0]["result"]["grad_input"][1][1] == 0.345
    assert data[0]["result"]["updated_filter"] == [[0.37, 0.1], [0.295, 0.605]]
    assert set(data[1]["result"]) >= {"loss", "grad_bias", "updated_bias"}
    # each result is the one a single solve gives
    alone = json.loads(_ok("solve", HALF_SSE, "--format", "json"))
    assert data[1]["result"] == alone


def test_one_file_gives_what_it_gave_before() -> None:
    """A single problem is not an exercise of a set: no 'Exercise' heading, and
    the JSON result is the object itself."""
    text = _ok("solve", SEED000, "--width", "100")
    assert "Exercise" not in text and "Worked solution: one convolution layer" in text
    assert json.loads(_ok("solve", SEED000, "--format", "json"))["loss"] == 0.365
    expected = (Path(__file__).parent / "golden" / "seed000-filter-update.tex").read_text(
        encoding="utf-8")
    assert _ok("solve", SEED000, "--format", "latex") == expected


def test_options_apply_to_every_exercise() -> None:
    out = _ok("solve", *TWO, "--only", "grad_input[1][1]", "--width", "100")
    assert "∂Loss/∂I(1,1)" in out and "∂L/∂X₂₂" in out
    assert "Forward pass" not in out
    answers = _ok("solve", *TWO, "--detail", "answers", "--width", "100")
    assert answers.count("│ Exercise") == 2 and "0.345" in answers


def test_the_sheet_of_a_set_has_every_question_and_the_total() -> None:
    out = _ok("solve", *TWO, "--questions", "--width", "100")
    assert out.startswith("Total: 14 points\n")  # seed 000 asks 6, half-sse 8
    assert "Exercise 1 (seed000-filter-update.json)" in out
    assert "6. (1 point) Find Wnew." in out
    assert "Questions (8 points)" in out
    for answer in ("0.345", "0.365", "0.295"):
        assert answer not in out


def test_a_bad_file_stops_the_set_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"input": [[1, 2]], "filter": [["a"]]}', encoding="utf-8")
    target = tmp_path / "key.tex"
    run = invoke("solve", SEED000, bad, "--format", "latex", "-o", target)
    assert_one_line_error(run, "bad.json", "filter[0][0]")
    assert not target.exists()
    missing = invoke("solve", SEED000, tmp_path / "none.json")
    assert_one_line_error(missing, "none.json")


def test_a_selection_that_one_problem_lacks_names_its_file() -> None:
    run = invoke("solve", *TWO, "--only", "grad_bias")
    assert_one_line_error(run, "seed000-filter-update.json", "--only grad_bias")


@pytest.mark.parametrize(("args", "needle"), [
    (("--format", "csv"), "cnnstep check"),
    (("--format", "gradescope"), "cnnstep check"),
    (("--verify",), "one problem at a time"),
    (("--symbolic",), "one problem at a time"),
    (("--sample", "seed000"), "not both"),
])
def test_what_a_set_refuses(args: tuple[str, ...], needle: str) -> None:
    assert_one_line_error(invoke("solve", *TWO, *args), needle)


def test_a_progress_bar_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli._progress(5, "solving", minimum=2).bar is None  # not a terminal here

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())
    assert cli._progress(1, "solving", minimum=2).bar is None  # one problem: no bar
    bar = cli._progress(2, "solving", minimum=2)
    assert bar.bar is not None
    bar()
    bar()
    assert bar.bar is None  # full, and gone


# --------------------------------------------------------------------------
# a generated set, compiled


def _answers(results: list[dict[str, object]]) -> set[str]:
    """Every answer of a set, as JSON spells it (which is how the LaTeX prints it)."""
    found: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, list):
            for item in value:
                walk(item)
        else:
            found.add(json.dumps(value))

    for item in results:
        walk(list(item["result"].values()))  # type: ignore[attr-defined]
    return found


def _givens(paths: list[Path]) -> set[str]:
    found: set[str] = set()
    for path in paths:
        data = json.loads(path.read_text(encoding="utf-8"))
        for key in ("input", "filter", "bias", "target", "learning_rate"):
            found |= set(re.findall(r"-?\d+(?:\.\d+)?", json.dumps(data.get(key))))
    return found


def _numbers(text: str) -> set[str]:
    return set(re.findall(r"-?\d+(?:\.\d+)?", text.replace("−", "-")))


def test_sheet_and_key_of_a_generated_set_compile(pdflatex: str, tmp_path: Path) -> None:
    invoke("generate", "--seed", "11", "--count", "3", "--bias", "-o", tmp_path / "set")
    paths = sorted((tmp_path / "set").glob("*.json"))
    assert len(paths) == 3
    sheet = _ok("solve", *paths, "--questions", "--format", "latex")
    key = _ok("solve", *paths, "--format", "latex")
    for name, source in (("sheet", sheet), ("key", key)):
        check_overfull(compile_tex(pdflatex, source, tmp_path / name), name)
    # answers with decimals that are no given number: in the key, never on the sheet
    answers = {a for a in _answers(json.loads(_ok("solve", *paths, "--format", "json")))
               if "." in a} - _givens(paths)
    assert len(answers) > 10
    sheet_text = pdf_text(tmp_path / "sheet" / "doc.pdf")
    key_text = pdf_text(tmp_path / "key" / "doc.pdf")
    for text in (sheet_text, key_text):
        assert text is None or "Exercise 3 (problem-03.json)" in text
    # the body only: the preamble's lengths are no answers
    body = sheet.split("\\begin{document}", 1)[1]
    assert not answers & _numbers(body), sorted(answers & _numbers(body))
    assert answers <= _numbers(key), sorted(answers - _numbers(key))
    if sheet_text is not None and key_text is not None:
        assert not answers & _numbers(sheet_text)
        assert len(answers & _numbers(key_text)) > len(answers) // 2


# --------------------------------------------------------------------------
# the exam class


def test_an_exam_compiles_as_the_sheet_and_as_the_key(pdflatex: str, tmp_path: Path) -> None:
    problem = json.loads(SEED000.read_text(encoding="utf-8"))
    problem["questions"] = {"output": 2, "grad_filter": 1.5, "grad_input[1][1]": 1}
    exercise = tmp_path / "seed000.json"
    exercise.write_text(json.dumps(problem), encoding="utf-8")
    sheet = _ok("solve", exercise, HALF_SSE, "--format", "latex", "--exam")
    key = _ok("solve", exercise, HALF_SSE, "--format", "latex", "--exam", "--print-answers")
    assert sheet.startswith("\\documentclass[10pt]{exam}")
    assert "\n% \\printanswers" in sheet and "\n\\printanswers\n" in key
    assert sheet.replace("% \\printanswers  % uncomment for the key: every solution shown",
                         "\\printanswers") == key
    assert "\\question[4.5]" in sheet  # the sum of its parts
    assert "\\part[1.5] Find $\\partial \\text{Loss}/\\partial W$." in sheet
    assert sheet.count("\\begin{solution}") == 3 + 8  # one per part
    given = sheet.index("\\question[4.5]")
    assert sheet.index("I = \\begin{bmatrix}", given) < sheet.index("\\begin{parts}", given)
    texts = {}
    for name, source in (("sheet", sheet), ("key", key)):
        check_overfull(compile_tex(pdflatex, source, tmp_path / name), f"exam {name}")
        texts[name] = pdf_text(tmp_path / name / "doc.pdf")
    if texts["sheet"] is None or texts["key"] is None:
        pytest.skip("pdftotext (poppler-utils) not found")
    for answer in ("1.6", "2.9", "0.345", "0.05"):  # Z₀₀, Z₀₁, dL/dX₁₁, dL/dW₁₀
        assert answer in texts["key"], answer
        assert answer not in texts["sheet"], answer
    assert "Solution" in texts["key"] and "Solution" not in texts["sheet"]
    assert "0.7" in texts["sheet"]  # a given, shown with its question


def _numbered(text: str, count: int) -> None:
    """Every question of an exam's PDF text, ``1.`` to ``count.``, opens with its
    number, its points and its givens, on one line (a page's first after a form feed)."""
    openings = re.findall(r"^\f?(\d+)\. \(\d+(?:\.\d+)? points?\) Given$", text, re.M)
    assert openings == [str(n) for n in range(1, count + 1)], openings
    assert text.count("Given") == count


def test_every_question_of_an_exam_opens_with_its_number_and_points(
        pdflatex: str, tmp_path: Path) -> None:
    """Each question's number and points stand with its givens, not at the next
    question's first part (the second of two questions lost them)."""
    invoke("generate", "--seed", "3", "--count", "4", "-o", tmp_path / "set")
    paths = sorted((tmp_path / "set").glob("*.json"))
    sheet = _ok("solve", *paths, "--format", "latex", "--exam")
    check_overfull(compile_tex(pdflatex, sheet, tmp_path / "sheet"), "exam sheet")
    text = pdf_text(tmp_path / "sheet" / "doc.pdf")
    if text is None:
        pytest.skip("pdftotext (poppler-utils) not found")
    _numbered(text, 4)


#: the samples with numbers (the symbolic ones give shapes, no exam question)
NUMERIC = sorted(path for path in worked_samples()
                 if isinstance(json.loads(path.read_text(encoding="utf-8"))["input"], list))


def test_the_exam_key_of_every_sample_stays_on_its_pages(pdflatex: str, tmp_path: Path) -> None:
    """Every sample's solutions in one key: each piece of a solution split across
    pages fits its page, no line runs into the margin, every question numbered."""
    key = _ok("solve", *NUMERIC, "--format", "latex", "--exam", "--print-answers")
    check_overfull(compile_tex(pdflatex, key, tmp_path / "key"), "exam key")
    text = pdf_text(tmp_path / "key" / "doc.pdf")
    if text is not None:
        _numbered(text, len(NUMERIC))


def test_a_solution_begun_at_the_foot_of_a_page_is_split_on_the_next(
        pdflatex: str, tmp_path: Path) -> None:
    """The first exercise leaves groups-2's solution a foot of a page too short
    for its first steps; the rest goes to the next page and is split there too,
    not set whole in one frame that ran 733 pt past the footer."""
    key = _ok("solve", SAMPLES / "exercise-with-answers.json", SAMPLES / "groups-2.json",
              "--format", "latex", "--exam", "--print-answers")
    check_overfull(compile_tex(pdflatex, key, tmp_path / "key"), "exam key")
    text = pdf_text(tmp_path / "key" / "doc.pdf")
    if text is not None:
        _numbered(text, 2)


@pytest.mark.parametrize(("args", "needle"), [
    (("--exam",), "--exam goes with --format latex"),
    (("--exam", "--format", "markdown"), "--exam goes with --format latex"),
    (("--exam", "--format", "latex", "--fragment"), "--fragment"),
    (("--exam", "--format", "latex", "--questions"), "--questions"),
    (("--print-answers", "--format", "latex"), "--print-answers goes with --exam"),
])
def test_exam_option_errors(args: tuple[str, ...], needle: str) -> None:
    assert_one_line_error(invoke("solve", SEED000, *args), needle)


def test_exam_points_must_have_a_finite_decimal(tmp_path: Path) -> None:
    problem = json.loads(SEED000.read_text(encoding="utf-8"))
    problem["questions"] = {"loss": "1/3"}
    path = tmp_path / "thirds.json"
    path.write_text(json.dumps(problem), encoding="utf-8")
    run = invoke("solve", path, "--format", "latex", "--exam")
    assert_one_line_error(run, "thirds.json", "questions: loss", "finite decimal")


# --------------------------------------------------------------------------
# PDF


def test_pdf_is_written_and_nothing_else_is_left(pdflatex: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    work = tmp_path / "work"
    work.mkdir()
    out = work / "key.pdf"
    run = invoke("solve", "--sample", "seed000", "--format", "pdf", "-o", out, cwd=work)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "" and run.stderr == ""
    assert out.read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in work.iterdir()) == ["key.pdf"]
    assert list(scratch.iterdir()) == []
    text = pdf_text(out)
    assert text is None or "0.345" in text
    # piped: the PDF's bytes on standard output
    piped = invoke("solve", "--sample", "seed000", "--format", "pdf", "--detail", "answers",
                   cwd=work)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.startswith("%PDF")
    assert list(scratch.iterdir()) == []


def test_pdf_without_pdflatex_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    real = shutil.which
    monkeypatch.setattr(shutil, "which",
                        lambda name, *a, **k: None if name == "pdflatex" else real(name, *a, **k))
    run = invoke("solve", "--sample", "seed000", "--format", "pdf", "-o", tmp_path / "k.pdf")
    assert_one_line_error(run, "--format pdf", "pdflatex is not installed")
    assert not (tmp_path / "k.pdf").exists()


def test_pdf_to_a_terminal_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_isatty", lambda: True)
    assert_one_line_error(invoke("solve", "--sample", "seed000", "--format", "pdf"),
                          "-o FILE.pdf")


def test_a_latex_error_is_its_first_line(pdflatex: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from cnnstep.pdf import PdfError, compile_pdf

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(PdfError, match=r"! Undefined control sequence\. \(source line 3\)"):
        compile_pdf("\\documentclass{article}\n\\begin{document}\n\\nosuchcommand\n"
                    "\\end{document}\n")
    assert list(tmp_path.iterdir()) == []
