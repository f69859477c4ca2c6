"""``cnnstep check`` marking a section: the marking rules and every output of a batch.

A TA marks 30 scripts of the stride-2, padded, two-channel, two-filter problem:
complete ones (exact and rounded), one with each named mistake (the rest of
the script right), partial ones, blank ones and one that is not JSON. The
expected points are worked out here from the naive oracle's values, entry by
entry: one point per quantity shared by its entries, 0 for an entry not
answered, the --follow-through fraction for a wrong entry carried forward.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

import html5lib
import pytest
from check_helpers import (
    ANSWERS,
    S2_MISTAKES,
    SEED000,
    STRIDE2,
    Layer,
    s2_correct,
    s2_mistakes,
    stride2_layer,
    write_answers,
)
from helpers import Result, assert_one_line_error, invoke
from markdown_it import MarkdownIt
from oracle import flatten

from cnnstep.check import load_answers, mark, read_answers
from cnnstep.engine import solve as solve_layer
from cnnstep.numbers import terminates
from cnnstep.problem import ProblemError, load_problem

#: the quantities of the stride-2 problem, in the result's order: every one asked
KEYS = ["output", "loss", "grad_output", "grad_filter", "grad_bias", "grad_input",
        "updated_filter", "updated_bias"]
#: what a wrong entry carried forward earns in this section
FOLLOW = Fraction(1, 2)
#: the places of a CSV or Gradescope number whose decimal does not end
PLACES = 4


class Script:
    """One student's answers, and what they should earn."""

    def __init__(self, name: str, answers: dict[str, Any] | str,
                 codes: dict[str, str] | None = None) -> None:
        self.name = name
        self.answers = answers
        #: the expected diagnosis of each quantity that has one
        self.codes = codes or {}

    @property
    def malformed(self) -> bool:
        return isinstance(self.answers, str)

    def quantity_points(self, layer: Layer) -> dict[str, Fraction]:
        """Each quantity's points, entry by entry, from the oracle's true values."""
        assert isinstance(self.answers, dict)
        out = {}
        for key, true in s2_correct(layer).items():
            values = flatten(true) if isinstance(true, list) else [true]
            given = self.answers.get(key)
            answered = ([None] * len(values) if given is None
                        else flatten(given) if isinstance(given, list) else [given])
            earned = Fraction(0)
            for value, answer in zip(values, answered, strict=True):
                if answer is None:
                    continue
                if _right(answer, value):
                    earned += 1
                elif self.codes.get(key) == "carried_forward":
                    earned += FOLLOW
            out[key] = earned / len(values)
        return out

    def points(self, layer: Layer) -> Fraction:
        return sum(self.quantity_points(layer).values(), Fraction(0))

    def all_right(self, layer: Layer, key: str) -> bool:
        assert isinstance(self.answers, dict)
        true = s2_correct(layer)[key]
        given = self.answers.get(key)
        if given is None:
            return False
        values = flatten(true) if isinstance(true, list) else [true]
        answers = flatten(given) if isinstance(given, list) else [given]
        return all(a is not None and _right(a, v) for a, v in zip(answers, values, strict=True))


def _right(answer: Any, value: Fraction) -> bool:
    """An exact answer equals the value; a decimal written with p places is within
    half a unit of the last place, and within 0.01."""
    if isinstance(answer, str) and "/" not in answer:
        places = len(answer.partition(".")[2])
        error = abs(Fraction(answer) - value)
        return error <= Fraction(1, 2 * 10**places) and error <= Fraction(1, 100)
    return Fraction(answer) == value


def _rounded(value: Any) -> Any:
    """Every value rounded to two decimals, as a string so that "0.30" keeps its zero."""
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return format(Decimal(value.numerator) / Decimal(value.denominator), ".2f")


def _nulls(value: Any) -> Any:
    return [_nulls(v) for v in value] if isinstance(value, list) else None


def _scripts(layer: Layer) -> list[Script]:
    right = s2_correct(layer)
    scripts = [Script(f"s{n:02d}-complete", dict(right)) for n in range(1, 7)]
    scripts += [Script(f"s{n:02d}-rounded", {k: _rounded(v) for k, v in right.items()})
                for n in range(7, 13)]
    for n, (name, (answers, codes)) in enumerate(sorted(s2_mistakes(layer).items()), start=13):
        scripts.append(Script(f"s{n:02d}-{name.replace('_', '-')}", {**right, **answers},
                              {k: c for k, c in codes.items() if c is not None}))
    half = {k: right[k] for k in ("output", "loss", "grad_output")}
    only_input = {"grad_input": right["grad_input"]}
    holes = dict(right)
    holes["grad_filter"] = [[[[None if (m + n) % 2 else v for n, v in enumerate(row)]
                              for m, row in enumerate(channel)] for channel in f]
                            for f in right["grad_filter"]]
    holes["loss"] = None
    scripts += [Script("s23-first-half", half), Script("s24-only-grad-input", only_input),
                Script("s25-some-nulls", holes),
                Script("s26-partial-transposed", {"grad_filter": [
                    [[list(col) for col in zip(*m, strict=True)] for m in f]
                    for f in right["grad_filter"]]}, {"grad_filter": "transposed"}),
                Script("s27-blank", {}),
                Script("s28-all-null", {k: _nulls(v) for k, v in right.items()}),
                Script("s29-output-only", {"output": right["output"]}),
                Script("s30-not-json", "{'output': [1, 2,")]
    assert len(scripts) == 30
    return scripts


@pytest.fixture(scope="module")
def s2() -> Layer:
    return stride2_layer()


@pytest.fixture(scope="module")
def section(s2: Layer, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Script]]:
    """The scripts written into ``<dir>/scripts/``, the problem as ``<dir>/problem.json``."""
    root = tmp_path_factory.mktemp("section")
    (root / "scripts").mkdir()
    shutil.copy(STRIDE2, root / "problem.json")
    scripts = _scripts(s2)
    for script in scripts:
        path = root / "scripts" / f"{script.name}.json"
        if isinstance(script.answers, str):
            path.write_text(script.answers, encoding="utf-8")
        else:
            write_answers(path, script.answers)
    return root, scripts


def _run(root: Path, *args: str | Path, scripts: list[Script] | None = None) -> Result:
    names = [f"scripts/{s.name}.json" for s in scripts or []]
    return invoke("check", "problem.json", *names, *args, cwd=root)


def _number(text: str) -> Fraction:
    return Fraction(Decimal(text))


def _close(printed: Fraction, exact: Fraction) -> bool:
    """Exact where the decimal ends, else rounded to PLACES places."""
    if terminates(exact):
        return printed == exact
    return printed == Fraction(round(exact * 10**PLACES), 10**PLACES)


# --------------------------------------------------------------------------
# the marking rules, through the library


@pytest.fixture(scope="module")
def s2_solution() -> Any:
    return solve_layer(load_problem(STRIDE2))


def test_every_script_scores_its_points(s2: Layer, s2_solution: Any,
                                        section: tuple[Path, list[Script]]) -> None:
    root, scripts = section
    for script in scripts:
        if script.malformed:
            continue
        report = mark(s2_solution, load_answers(root / "scripts" / f"{script.name}.json",
                                                s2_solution), follow_through=FOLLOW)
        assert report.max_points == 8, script.name
        assert report.total == 163, script.name  # every asked entry, answered or not
        assert report.points == script.points(s2), script.name
        expected = script.quantity_points(s2)
        assert {q.key: q.points for q in report.quantities} == expected, script.name
        assert {q.key: q.diagnosis.code for q in report.quantities
                if q.diagnosis} == script.codes, script.name
        assert report.correct is (script.points(s2) == 8 and not script.codes), script.name


def test_a_blank_script_scores_zero(s2_solution: Any) -> None:
    for answers in ({}, {"loss": None}):
        report = mark(s2_solution, read_answers(answers, s2_solution))
        assert (report.points, report.max_points, report.right, report.total) == (0, 8, 0, 163)
        assert report.blank and not report.correct
        assert all(not q.mismatches and q.answered == 0 for q in report.quantities)


def test_the_follow_through_fraction(s2: Layer, s2_solution: Any) -> None:
    answers, _ = s2_mistakes(s2)["carried_forward"]
    read = read_answers({**s2_correct(s2), **answers}, s2_solution)
    points = {share: mark(s2_solution, read, follow_through=share).points
              for share in (Fraction(0), Fraction(1, 2), Fraction(1))}
    assert points[Fraction(0)] < points[Fraction(1, 2)] < points[Fraction(1)]
    # the slip in grad_output costs its one wrong entry's share; full method marks after it
    assert points[Fraction(1)] == 8 - Fraction(1, 18)
    with pytest.raises(ProblemError, match="from 0 to 1"):
        mark(s2_solution, read, follow_through=Fraction(3, 2))


def test_questions_and_their_points(s2: Layer, s2_solution: Any) -> None:
    """The marker takes what is asked: keys and single entries, each with its points."""
    right = s2_correct(s2)
    answers = read_answers({"output": right["output"], "loss": 9,
                            "grad_input": right["grad_input"]}, s2_solution)
    asked = [("output", 2), ("loss", 1), ("grad_input[1][2][3]", 3), ("grad_bias", 2)]
    report = mark(s2_solution, answers, asked=asked)
    assert [q.key for q in report.quantities] == ["output", "loss", "grad_bias", "grad_input"]
    assert [(s.question.text, s.points, s.max_points) for s in report.questions] == [
        ("output", 2, 2), ("loss", 0, 1), ("grad_input[1][2][3]", 3, 3), ("grad_bias", 0, 2)]
    assert (report.points, report.max_points) == (5, 8)
    grad_input = report.marked("grad_input")
    assert grad_input is not None and grad_input.total == 1  # only the entry asked
    for bad, message in ([("grad_filtre", 1)], "grad_filtre"), \
                        ([("loss", -1)], "negative"), \
                        ([("loss", 1), ("loss", 2)], "twice"), \
                        ([("grad_input[2][0][0]", 1)], "out of range"):
        with pytest.raises(ProblemError, match=message):
            mark(s2_solution, answers, asked=bad)


def test_a_quantitys_points_are_shared_by_its_entries(s2_solution: Any, s2: Layer) -> None:
    right = s2_correct(s2)
    wrong_one = [[[v + (1 if (f, i, j) == (0, 0, 0) else 0) for j, v in enumerate(row)]
                  for i, row in enumerate(ch)] for f, ch in enumerate(right["output"])]
    report = mark(s2_solution, read_answers({"output": wrong_one}, s2_solution),
                  asked=[("output", 3)])
    (scored,) = report.questions
    assert (scored.right, scored.total, scored.points) == (17, 18, Fraction(3 * 17, 18))


# --------------------------------------------------------------------------
# the section on the command line: CSV, JSON, the table, the exit status


@pytest.fixture(scope="module")
def csv_run(section: tuple[Path, list[Script]]) -> tuple[Result, Path]:
    root, scripts = section
    out = root / "grades.csv"
    run = _run(root, "--format", "csv", "-o", out, "--follow-through", "0.5",
               "--feedback-dir", "feedback", scripts=scripts)
    return run, out


def test_the_csv_gradebook(s2: Layer, section: tuple[Path, list[Script]],
                           csv_run: tuple[Result, Path]) -> None:
    _, scripts = section
    run, out = csv_run
    assert run.returncode == 2, run.stderr  # one script is not JSON
    assert run.stdout == ""
    assert run.stderr.strip() == ("cnnstep: note: 1 of 30 answers files could not be read; "
                                  "their rows say why")
    data = out.read_bytes()
    assert data.endswith(b"\r\n") and data.count(b"\r\n") == 31  # RFC 4180 line ends
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert rows[0] == ["file", "points", "max_points", *KEYS, "diagnoses"]
    assert len(rows) == 31
    for script, row in zip(scripts, rows[1:], strict=True):
        assert len(row) == len(rows[0]), row
        fields = dict(zip(rows[0], row, strict=True))
        assert fields["file"] == f"scripts/{script.name}.json"
        if script.malformed:
            assert fields["points"] == fields["max_points"] == ""
            assert all(fields[key] == "" for key in KEYS)
            assert fields["diagnoses"].startswith("error: scripts/s30-not-json.json: ")
            assert "invalid JSON" in fields["diagnoses"]
            continue
        assert _close(_number(fields["points"]), script.points(s2)), (script.name, row)
        assert fields["max_points"] == "8"
        for key, points in script.quantity_points(s2).items():
            assert _close(_number(fields[key]), points), (script.name, key, row)
        expected = "; ".join(f"{key}: {code}" for key, code in script.codes.items())
        blank = script.name in ("s27-blank", "s28-all-null")
        assert fields["diagnoses"] == ("nothing answered" if blank else expected), script.name


def test_the_csv_quotes_what_needs_quoting(tmp_path: Path) -> None:
    """A file name with a comma and a quote, and an error message with both."""
    odd = tmp_path / 'a, "b".json'
    odd.write_text('{"output": [1, 2', encoding="utf-8")
    run = invoke("check", SEED000, odd, ANSWERS / "seed000-correct.json", "--format", "csv")
    assert run.returncode == 2
    rows = list(csv.reader(io.StringIO(run.stdout)))
    assert rows[1][0] == str(odd) and rows[1][1] == ""
    assert rows[1][-1].startswith(f"error: {odd}: line 1")
    assert "invalid JSON" in rows[1][-1]
    assert rows[2][1:4] == ["6", "6", "1"]


def test_the_json_list_of_the_section(s2: Layer, section: tuple[Path, list[Script]]) -> None:
    root, scripts = section
    run = _run(root, "--format", "json", "--follow-through", "1/2", scripts=scripts)
    assert run.returncode == 2
    reports = json.loads(run.stdout, parse_float=Decimal, parse_int=Decimal)
    assert isinstance(reports, list) and len(reports) == 30
    for script, report in zip(scripts, reports, strict=True):
        assert report["file"] == f"scripts/{script.name}.json"
        if script.malformed:
            assert set(report) == {"file", "error"}
            continue
        # exact: a number where the decimal ends, else a fraction as a string ("44/9")
        points, expected = report["score"]["points"], script.points(s2)
        assert isinstance(points, str) is not terminates(expected), script.name
        assert Fraction(points) == expected, script.name
        assert report["score"]["max_points"] == 8 and report["score"]["total"] == 163
        assert list(report["quantities"]) == KEYS  # every asked quantity, answered or not
        for key, q in report["quantities"].items():
            assert len(q["unanswered"]) == q["total"] - q["answered"], (script.name, key)
        assert [s["question"] for s in report["questions"]] == KEYS


def test_one_file_with_batch_is_a_list_and_a_table(section: tuple[Path, list[Script]]) -> None:
    root, scripts = section
    one = [scripts[0]]
    run = _run(root, "--format", "json", "--batch", scripts=one)
    assert run.returncode == 0, run.stderr
    reports = json.loads(run.stdout)
    assert isinstance(reports, list) and len(reports) == 1
    assert reports[0]["file"] == "scripts/s01-complete.json"
    assert isinstance(json.loads(_run(root, "--format", "json", scripts=one).stdout), dict)
    table = _run(root, "--batch", scripts=one)
    assert table.stdout.splitlines()[0].split() == ["file", "points", "right", "diagnoses"]
    assert "8 of 8" in table.stdout and "163/163" in table.stdout


@pytest.mark.parametrize("width", [80, 100, 160])
def test_the_table_fits_the_width(section: tuple[Path, list[Script]], width: int) -> None:
    root, scripts = section
    run = _run(root, "--width", str(width), "--follow-through", "0.5", scripts=scripts)
    assert run.returncode == 2
    lines = run.stdout.splitlines()
    assert all(len(line) <= width for line in lines), max(map(len, lines))
    assert lines[-1] == "12 of 30 all correct, 1 could not be read"
    if width >= 100:  # each diagnosis named with its quantity, on a line of its own
        for code in S2_MISTAKES:
            assert any(line.rstrip().endswith(f": {code}") for line in lines), code
        assert sum("grad_input: kernel_not_rotated" in line for line in lines) == 1


def test_the_table_follows_the_terminal(section: tuple[Path, list[Script]]) -> None:
    root, scripts = section
    names = [f"scripts/{s.name}.json" for s in scripts[:14]]
    wide = invoke("check", "problem.json", *names, cwd=root, env={"COLUMNS": "132"})
    assert len(wide.stdout.splitlines()) == 2 + 14 + 1 + 1  # one row has two diagnoses
    narrow = invoke("check", "problem.json", *names, cwd=root, env={"COLUMNS": "64"})
    assert max(map(len, wide.stdout.splitlines())) > 64
    assert all(len(line) <= 64 for line in narrow.stdout.splitlines())
    assert len(narrow.stdout.splitlines()) > len(wide.stdout.splitlines())


def test_exit_status_of_a_section(section: tuple[Path, list[Script]]) -> None:
    root, scripts = section
    complete = [s for s in scripts if "complete" in s.name or "rounded" in s.name]
    assert _run(root, scripts=complete).returncode == 0
    blank = next(s for s in scripts if s.name == "s27-blank")
    assert _run(root, scripts=[*complete, blank]).returncode == 1  # a zero, not an error
    alone = _run(root, scripts=[blank])
    assert alone.returncode == 1 and alone.stderr == ""
    assert "Score: 0 of 8 points (0 of 163 entries right, 163 not answered)" in alone.stdout


# --------------------------------------------------------------------------
# Gradescope: one submission's results.json


def _gradescope(root: Path, script: Script) -> tuple[int, Any]:
    run = _run(root, "--format", "gradescope", "--follow-through", "0.5", scripts=[script])
    return run.returncode, json.loads(run.stdout, parse_float=Decimal, parse_int=Decimal)


def test_gradescope_results(s2: Layer, section: tuple[Path, list[Script]]) -> None:
    root, scripts = section
    for script in scripts:
        if script.malformed:
            continue
        status, results = _gradescope(root, script)
        assert status in (0, 1)
        assert set(results) == {"score", "output", "output_format", "tests"}
        assert results["output_format"] == "md"
        tests = results["tests"]
        assert results["score"] == sum(t["score"] for t in tests), script.name
        assert abs(Fraction(results["score"]) - script.points(s2)) <= Fraction(len(tests),
                                                                              2 * 10**PLACES)
        assert [t["number"] for t in tests] == [str(n) for n in range(1, 9)]
        points = script.quantity_points(s2)
        for key, test in zip(KEYS, tests, strict=True):
            assert set(test) == {"name", "number", "score", "max_score", "status", "output",
                                 "output_format"}
            assert test["name"].startswith(f"{key}: ")
            assert test["max_score"] == 1
            assert _close(Fraction(test["score"]), points[key]), (script.name, key)
            assert test["status"] == ("passed" if script.all_right(s2, key) else "failed")
            assert test["output_format"] == "md"
            if key in script.codes:
                assert f"*Diagnosis ({script.codes[key]}):*" in test["output"]
        if script.codes:
            assert "## The working of the wrong entries" in results["output"]
        assert results["output"].startswith("# Marking scripts/")


def test_gradescope_carried_forward_feedback(section: tuple[Path, list[Script]]) -> None:
    root, scripts = section
    script = next(s for s in scripts if s.name.endswith("carried-forward"))
    _, results = _gradescope(root, script)
    grad_filter = results["tests"][KEYS.index("grad_filter")]
    assert grad_filter["status"] == "failed"
    assert "earn 0.5 of their share of the points" in grad_filter["output"]
    assert "earn 0.5 of their share" in results["output"]


def test_gradescope_of_an_unreadable_submission(section: tuple[Path, list[Script]]) -> None:
    root, scripts = section
    run = _run(root, "--format", "gradescope", scripts=[scripts[-1]])
    assert run.returncode == 2
    results = json.loads(run.stdout)
    assert results["score"] == 0 and results["tests"] == []
    assert "invalid JSON" in results["output"]
    assert run.stderr.startswith("cnnstep: error: scripts/s30-not-json.json: line 1")
    assert "invalid JSON" in run.stderr


def test_gradescope_is_one_submission(section: tuple[Path, list[Script]]) -> None:
    root, scripts = section
    assert_one_line_error(_run(root, "--format", "gradescope", scripts=scripts[:2]),
                          "one submission")


# --------------------------------------------------------------------------
# feedback documents, one per student


def _markdown(text: str) -> list[Any]:
    return MarkdownIt("commonmark").enable("table").parse(text)


def test_feedback_dir_has_one_markdown_document_per_student(
        section: tuple[Path, list[Script]], csv_run: tuple[Result, Path]) -> None:
    root, scripts = section
    written = sorted(p.name for p in (root / "feedback").iterdir())
    # the unreadable script has its error in its row, and no document
    assert written == sorted(f"{s.name}.md" for s in scripts if not s.malformed)
    for script in scripts:
        if script.malformed:
            continue
        text = (root / "feedback" / f"{script.name}.md").read_text(encoding="utf-8")
        tokens = _markdown(text)
        headings = [t for t in tokens if t.type == "heading_open"]
        assert headings and headings[0].tag == "h1", script.name
        assert any(t.type == "table_open" for t in tokens), script.name
        assert f"# Marking scripts/{script.name}.json against problem.json" in text
        assert "--only" not in text and "--max-terms" not in text  # no flags for a student
        for key, code in script.codes.items():
            assert f"## {key}:" in text and f"*Diagnosis ({code}):*" in text, script.name
        assert ("## The working of the wrong entries" in text) is bool(script.codes), script.name


def test_feedback_in_html(section: tuple[Path, list[Script]]) -> None:
    root, scripts = section
    chosen = [s for s in scripts if s.name.endswith(("complete", "kernel-not-rotated",
                                                     "carried-forward", "blank"))][-4:]
    run = _run(root, "--format", "json", "--feedback-dir", "html", "--feedback-format",
               "html", scripts=chosen)
    assert run.returncode == 1, run.stderr
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    for script in chosen:
        page = (root / "html" / f"{script.name}.html").read_text(encoding="utf-8")
        assert page.startswith("<!DOCTYPE html>")
        tree = parser.parse(page)
        assert tree.find(".//h1") is not None
        _balanced(page)


class _Tags(HTMLParser):
    VOID: ClassVar[set[str]] = {"meta", "br", "hr", "img", "input", "link", "col", "wbr",
                                "mspace", "none", "mprescripts"}

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: Any) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, (self.open[-3:], tag)
        self.open.pop()


def _balanced(page: str) -> None:
    tags = _Tags()
    tags.feed(page)
    tags.close()
    assert tags.open == []


def _pdflatex() -> str:
    found = shutil.which("pdflatex")
    if found is None:
        reason = "pdflatex not found: install TeX Live to compile the LaTeX feedback"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so this is an error, not a skip")
        pytest.skip(reason)
    return found


def test_feedback_in_latex_compiles(section: tuple[Path, list[Script]]) -> None:
    root, scripts = section
    chosen = [s for s in scripts if s.name.endswith(("stride-not-dilated", "carried-forward",
                                                     "s27-blank"))]
    assert len(chosen) == 3
    run = _run(root, "--format", "latex", "--feedback-dir", "tex", "--follow-through", "0.25",
               scripts=chosen)
    assert run.returncode == 1, run.stderr
    assert run.stdout.startswith("\\documentclass")  # the summary, as a document
    pdflatex = _pdflatex()
    (root / "tex" / "summary.tex").write_text(run.stdout, encoding="utf-8")
    for source in [root / "tex" / "summary.tex",
                   *(root / "tex" / f"{script.name}.tex" for script in chosen)]:
        assert source.read_text(encoding="utf-8").rstrip().endswith("\\end{document}")
        build = subprocess.run(
            [pdflatex, "-interaction=nonstopmode", "-halt-on-error", source.name],
            cwd=source.parent, capture_output=True, timeout=120, check=False,
            stdin=subprocess.DEVNULL)
        assert build.returncode == 0, build.stdout.decode("utf-8", "replace")[-3000:]
        assert source.with_suffix(".pdf").stat().st_size > 0


def test_feedback_documents_in_text_by_default(tmp_path: Path) -> None:
    run = invoke("check", SEED000, ANSWERS / "seed000-correct.json",
                 ANSWERS / "seed000-transposed.json", "--feedback-dir", tmp_path / "fb")
    assert run.returncode == 1
    assert sorted(p.name for p in (tmp_path / "fb").iterdir()) == [
        "seed000-correct.txt", "seed000-transposed.txt"]
    text = (tmp_path / "fb" / "seed000-transposed.txt").read_text(encoding="utf-8")
    assert "Diagnosis (transposed):" in text and "The working of the wrong entries" in text


# --------------------------------------------------------------------------
# options refused with one line


@pytest.mark.parametrize(("args", "needles"), [
    (["--follow-through", "2"], ["--follow-through 2", "from 0 to 1"]),
    (["--follow-through", "-0.5"], ["--follow-through", "from 0 to 1"]),
    (["--follow-through", "half"], ["--follow-through"]),
    (["--feedback-format", "html"], ["--feedback-format goes with --feedback-dir"]),
])
def test_bad_marking_options(args: list[str], needles: list[str]) -> None:
    assert_one_line_error(invoke("check", SEED000, ANSWERS / "seed000-correct.json", *args),
                          *needles)


def test_two_files_with_one_name_would_share_a_document(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    copy = tmp_path / "a" / "seed000-correct.json"
    shutil.copy(ANSWERS / "seed000-correct.json", copy)
    assert_one_line_error(invoke("check", SEED000, ANSWERS / "seed000-correct.json", copy,
                                 "--feedback-dir", tmp_path / "fb"),
                          "--feedback-dir", "would both write")


@pytest.mark.parametrize("fmt", ["csv", "gradescope"])
def test_solve_refuses_the_marking_formats(fmt: str) -> None:
    assert_one_line_error(invoke("solve", SEED000, "--format", fmt),
                          f"--format {fmt} prints marked answers", "cnnstep check")


def test_the_library_refuses_them_too() -> None:
    import cnnstep

    worked = cnnstep.solve(SEED000)
    render: Callable[[str], str] = worked.render
    for fmt in ("csv", "gradescope"):
        with pytest.raises(ValueError, match="prints marked answers"):
            render(fmt)
