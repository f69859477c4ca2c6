"""A 3-D layer's marked answers for a course: Gradescope's ``results.json``, the
``--feedback-dir`` documents and the single report in Markdown, LaTeX and HTML,
each with the working of the wrong entries, as for a 2-D layer.

The student is the one of the sample ``conv3d-exercise`` (see
``test_volume_course.py``): ∂L/∂K₂₂₂ rounded too far, ∂L/∂X₂₂₂ worked with the
kernel not rotated, and B_new carried forward from a wrong ∂L/∂B. Gradescope's
results and the Markdown feedback are golden files in ``tests/golden/course/``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import html5lib
import pytest
from helpers import SAMPLES, invoke
from markdown_it import MarkdownIt
from test_golden import check_golden
from test_latex_compiles import check_overfull, compile_tex

import cnnstep
from cnnstep.check.volume import VolumeReport

EXERCISE = SAMPLES / "conv3d-exercise.json"
DATA = json.loads(EXERCISE.read_text(encoding="utf-8"))
BATCH = SAMPLES / "conv3d-batch.json"
COURSE = Path(__file__).resolve().parent / "golden" / "course"
WORKING = "## The working of the wrong entries"


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture
def section(tmp_path: Path) -> Path:
    """The exercise without its answers, and three scripts: the sample's, all right,
    and one that is not JSON."""
    (tmp_path / "problem.json").write_text(
        json.dumps({k: v for k, v in DATA.items() if k != "answers"}), encoding="utf-8")
    (tmp_path / "alice.json").write_text(json.dumps(DATA["answers"]), encoding="utf-8")
    right = cnnstep.solve(EXERCISE).result
    (tmp_path / "bob.json").write_text(json.dumps(
        {key: right[key] for key in ("output", "loss", "grad_filter", "grad_input",
                                     "updated_bias")}, default=str), encoding="utf-8")
    (tmp_path / "carol.json").write_text("{", encoding="utf-8")
    return tmp_path


def _results(run_stdout: str) -> Any:
    return json.loads(run_stdout, parse_float=Decimal, parse_int=Decimal)


def test_gradescope_results(section: Path, update_golden: bool) -> None:
    run = invoke("check", "problem.json", "alice.json", "--format", "gradescope",
                 "--follow-through", "0.5", cwd=section)
    assert run.returncode == 1, run.stderr
    results = _results(run.stdout)
    assert set(results) == {"score", "output", "output_format", "tests"}
    assert results["output_format"] == "md"
    tests = results["tests"]
    assert results["score"] == sum(t["score"] for t in tests) == Decimal("6.125")
    assert [t["number"] for t in tests] == ["1", "2", "3", "4", "5"]
    assert [t["name"] for t in tests] == ["output: Z", "loss: L", "grad_filter: ∂L/∂K",
                                         "grad_input[1][1][1]: ∂L/∂X", "updated_bias: Bnew"]
    assert [t["max_score"] for t in tests] == [2, 1, 3, 2, 1]
    assert [t["status"] for t in tests] == ["passed", "passed", "failed", "failed", "failed"]
    for test in tests:
        assert set(test) == {"name", "number", "score", "max_score", "status", "output",
                             "output_format"}
        assert test["output_format"] == "md"
    assert "✗ given 0.75, expected 1.25." in tests[3]["output"]
    assert "*Diagnosis (kernel_not_rotated):*" in tests[3]["output"]
    assert "earn 0.5 of their share of the points" in tests[4]["output"]
    output = results["output"]
    assert output.startswith("# Marking alice.json against problem.json")
    assert WORKING in output and "\\partial L/\\partial X_{222} &=" in output
    assert "\\partial L/\\partial X_{111} &=" not in output  # the wrong entries alone
    check_golden(run.stdout, COURSE / "conv3d-exercise.results.json", update_golden)


def test_gradescope_of_right_and_unreadable_submissions(section: Path) -> None:
    right = invoke("check", "problem.json", "bob.json", "--format", "gradescope",
                   cwd=section)
    assert right.returncode == 0, right.stderr
    results = _results(right.stdout)
    assert results["score"] == 9 and WORKING not in results["output"]
    assert {t["status"] for t in results["tests"]} == {"passed"}
    bad = invoke("check", "problem.json", "carol.json", "--format", "gradescope", cwd=section)
    assert bad.returncode == 2
    results = json.loads(bad.stdout)
    assert results["score"] == 0 and results["tests"] == []
    assert "invalid JSON" in results["output"]
    assert bad.stderr.startswith("cnnstep: error: carol.json: line 1")


def test_feedback_dir_has_a_document_per_student(section: Path, update_golden: bool) -> None:
    run = invoke("check", "problem.json", "alice.json", "bob.json", "carol.json",
                 "--format", "csv", "--feedback-dir", "feedback", cwd=section)
    assert run.returncode == 2  # carol's file is a row with its error, and no document
    assert sorted(p.name for p in (section / "feedback").iterdir()) == ["alice.md", "bob.md"]
    alice = (section / "feedback" / "alice.md").read_text(encoding="utf-8")
    tokens = MarkdownIt("commonmark").enable("table").parse(alice)
    assert next(t.tag for t in tokens if t.type == "heading_open") == "h1"
    assert any(t.type == "table_open" for t in tokens)
    assert alice.startswith("# Marking alice.json against problem.json")
    assert "## grad_input: $\\partial L/\\partial X$" in alice
    assert "*Diagnosis (kernel_not_rotated):*" in alice and WORKING in alice
    assert "--only" not in alice and "--max-terms" not in alice  # no flags for a student
    bob = (section / "feedback" / "bob.md").read_text(encoding="utf-8")
    assert "Score: 9 of 9 points" in bob and WORKING not in bob
    check_golden(alice, COURSE / "conv3d-exercise.feedback.md", update_golden)


@pytest.mark.parametrize(("shape", "suffix", "needle"), [
    ("text", ".txt", "The working of the wrong entries:"),
    ("html", ".html", "The working of the wrong entries"),
    ("latex", ".tex", "The working of the wrong entries"),
])
def test_feedback_formats(section: Path, shape: str, suffix: str, needle: str) -> None:
    run = invoke("check", "problem.json", "alice.json", "--feedback-dir", "out",
                 "--feedback-format", shape, "--format", "json", cwd=section)
    assert run.returncode == 1, run.stderr
    assert json.loads(run.stdout)["score"]["points"] == 6.625  # the report as asked
    document = (section / "out" / f"alice{suffix}").read_text(encoding="utf-8")
    assert needle in document
    if shape == "html":
        html5lib.HTMLParser(strict=False).parse(document)
        assert "kernel_not_rotated" in document


def test_single_report_formats_match_python() -> None:
    report = cnnstep.check(EXERCISE)
    assert isinstance(report, VolumeReport)
    title = f"Marking {EXERCISE}"
    for shape in ("markdown", "latex", "html"):
        run = invoke("check", EXERCISE, "--format", shape)
        assert run.returncode == 1, run.stderr
        assert run.stdout.rstrip("\n") == report.render(shape, title=title).rstrip("\n")
    assert report.to_markdown(title=title).startswith(f"# {title}\n")


def test_the_latex_feedback_compiles(pdflatex: str, section: Path) -> None:
    invoke("check", "problem.json", "alice.json", "--feedback-dir", "out",
           "--feedback-format", "latex", cwd=section)
    source = (section / "out" / "alice.tex").read_text(encoding="utf-8")
    check_overfull(compile_tex(pdflatex, source, section / "pdf", "alice"), "alice.tex")


def test_a_batch_of_volumes_works_its_wrong_quantities(tmp_path: Path) -> None:
    right = cnnstep.solve(BATCH).result
    answers = {**right, "grad_bias": right["grad_bias"] + 1}
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(answers, default=str), encoding="utf-8")
    run = invoke("check", BATCH, path, "--format", "gradescope")
    assert run.returncode == 1, run.stderr
    results = _results(run.stdout)
    assert results["score"] == 7 and len(results["tests"]) == 8
    failed = [t["name"] for t in results["tests"] if t["status"] == "failed"]
    assert failed == ["grad_bias: ∂L/∂B"]
    assert "## Given (volume 1)" in results["output"]
    assert "\\partial L/\\partial B &= \\sum_{n}" in results["output"]
    report = cnnstep.check(BATCH, answers)
    assert isinstance(report, VolumeReport) and report.points == Fraction(7)
    assert "\\sum_{n}" in report.to_markdown()
