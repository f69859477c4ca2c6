"""``cnnstep check``: the report in every format, where it goes, where the answers
come from, and many answers files at once (batch mode)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from check_helpers import (
    ANSWERS,
    EXERCISE,
    SEED000,
    SEED002,
    STRIDE2,
    Layer,
    check,
    codes,
    problem_data,
    report_of,
    s2_mistakes,
    stride2_layer,
    write_answers,
)


@pytest.fixture(scope="module")
def s2() -> Layer:
    return stride2_layer()


# --------------------------------------------------------------------------
# the report: text, Markdown, LaTeX, JSON


@pytest.fixture(scope="module")
def one_mistake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seed 000 all right except grad_input, made with the kernel not rotated."""
    answers = problem_data(ANSWERS / "seed000-correct.json")
    answers["grad_input"] = problem_data(ANSWERS / "seed000-kernel-not-rotated.json")[
        "grad_input"]
    path = tmp_path_factory.mktemp("report") / "one-mistake.json"
    path.write_text(json.dumps(answers), encoding="utf-8")
    return path


def test_text_report(one_mistake: Path) -> None:
    run = check(SEED000, one_mistake, "--width", "120")
    assert run.returncode == 1, run.stderr
    text = run.stdout
    rows = {line.split("│")[1].strip(): line for line in text.splitlines()
            if line.startswith("│") and line.split("│")[1].strip()}
    for key in ("output", "loss", "grad_output", "grad_filter", "updated_filter"):
        assert "✓" in rows[key] and "✗" not in rows[key], rows[key]
    assert "✗" in rows["grad_input"] and "0/9" in rows["grad_input"]
    assert "0 of 1" in rows["grad_input"] and "1 of 1" in rows["output"]
    assert "kernel_not_rotated" in rows["grad_input"]
    assert "Score: 5 of 6 points (17 of 26 entries right)" in text
    assert "grad_input: 9 wrong entries" in text
    assert "✗ 0.21 (expected 0.15)" in text
    assert "✗ -0.115 (expected -0.035)" in text
    assert "Diagnosis (kernel_not_rotated):" in text
    assert "rotated by 180°" in text
    # then the worked derivation of the wrong entries, and only of those
    assert text.index("Diagnosis (kernel_not_rotated)") < text.index("The working of")
    working = text[text.index("The working of the wrong entries"):]
    assert "∂Loss/∂I(0,0) =" in working
    assert "∂Loss/∂I(2,2) =" in working
    assert "= 0.15" in working
    assert "∂Loss/∂W(0,0) =" not in working
    assert "Traceback" not in run.stderr
    assert all(len(line) <= 120 for line in text.splitlines())


def test_text_report_all_correct() -> None:
    run = check(SEED000, ANSWERS / "seed000-correct.json", "--width", "120")
    assert run.returncode == 0
    assert "Score: 6 of 6 points (26 of 26 entries right) — all correct." in run.stdout
    assert "✗" not in run.stdout
    assert "The working of" not in run.stdout


def test_text_report_carried_forward() -> None:
    run = check(SEED000, ANSWERS / "seed000-carried-forward.json", "--width", "120")
    assert run.returncode == 1
    assert "carried_forward" in run.stdout
    assert "Diagnosis (carried_forward): Right for your own grad_output" in run.stdout


def test_markdown_report(one_mistake: Path) -> None:
    run = check(SEED000, one_mistake, "--format", "markdown")
    assert run.returncode == 1, run.stderr
    md = run.stdout
    assert md.startswith("# Marking ")
    assert "| quantity | symbol | mark | right | points | diagnosis |" in md
    assert re.search(r"^\| output \| \$\\text\{Output\}\$ \| ✓ \| 4/4 \| 1 of 1 \|", md, re.M)
    assert re.search(r"^\| grad_input \| \$\\partial \\text\{Loss\}/\\partial I\$ \| ✗ \| "
                     r"0/9 \| 0 of 1 \| kernel_not_rotated", md, re.M)
    assert "**Score: 5 of 6 points (17 of 26 entries right)**" in md
    assert "## grad_input" in md
    assert "✗ 0.21 (expected 0.15)" in md
    assert "*Diagnosis (kernel_not_rotated):*" in md
    assert "## The working of the wrong entries" in md


def _pdflatex() -> str:
    found = shutil.which("pdflatex")
    if found is None:
        reason = "pdflatex not found: install TeX Live to compile the LaTeX report"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so this is an error, not a skip")
        pytest.skip(reason)
    return found


@pytest.mark.parametrize("args", [
    ("seed000", "one_mistake"), ("stride2", "transposed"), ("seed002", "bias-averaged")])
def test_latex_report_compiles(args: tuple[str, str], one_mistake: Path, s2: Layer,
                               tmp_path: Path) -> None:
    problem, which = args
    if problem == "seed000":
        path, answers = SEED000, one_mistake
    elif problem == "stride2":
        path = STRIDE2
        answers = write_answers(tmp_path / "a.json", s2_mistakes(s2)[which][0])
    else:
        path, answers = SEED002, ANSWERS / "seed002-bias-averaged.json"
    out = tmp_path / "report.tex"
    run = check(path, answers, "--format", "latex", "-o", out)
    assert run.returncode == 1, run.stderr
    assert run.stdout == ""
    source = out.read_text(encoding="utf-8")
    assert "\\documentclass" in source and source.rstrip().endswith("\\end{document}")
    assert "Score:" in source
    assert "\\_" in source  # the codes and keys are escaped
    pdflatex = _pdflatex()
    build = subprocess.run(
        [pdflatex, "-interaction=nonstopmode", "-halt-on-error", out.name],
        cwd=tmp_path, capture_output=True, timeout=60, check=False, stdin=subprocess.DEVNULL)
    log = build.stdout.decode("utf-8", "replace")
    assert build.returncode == 0, log[-3000:]
    assert (tmp_path / "report.pdf").stat().st_size > 0


def test_json_report_shape(one_mistake: Path) -> None:
    status, report = report_of(SEED000, one_mistake)
    assert status == 1
    assert list(report) == ["correct", "score", "quantities", "questions"]
    assert report["correct"] is False
    assert report["score"] == {"right": 17, "answered": 26, "total": 26, "points": 5,
                               "max_points": 6}
    for key, q in report["quantities"].items():
        assert set(q) == {"correct", "right", "answered", "total", "points", "max_points",
                          "mismatches", "unanswered", "diagnosis"}, key
        for miss in q["mismatches"]:
            assert set(miss) == {"index", "expected", "given"}
        if q["diagnosis"] is not None:
            assert set(q["diagnosis"]) == {"code", "message"}
    grad_input = report["quantities"]["grad_input"]
    assert grad_input["correct"] is False
    assert grad_input["mismatches"][0] == {
        "index": [0, 0], "expected": Decimal("0.15"), "given": Decimal("0.21")}
    assert [m["index"] for m in grad_input["mismatches"]] == [
        [i, j] for i in range(3) for j in range(3)]
    assert grad_input["diagnosis"]["code"] == "kernel_not_rotated"
    assert report["quantities"]["loss"] == {
        "correct": True, "right": 1, "answered": 1, "total": 1, "points": 1, "max_points": 1,
        "mismatches": [], "unanswered": [], "diagnosis": None}
    assert report["questions"][4] == {"question": "grad_input", "right": 0, "answered": 9,
                                      "total": 9, "points": 0, "max_points": 1}


def test_json_report_index_of_a_number() -> None:
    status, report = report_of(SEED000, ANSWERS / "seed000-mse-not-averaged.json")
    assert status == 1
    assert report["quantities"]["loss"]["mismatches"] == [
        {"index": [], "expected": Decimal("0.365"), "given": Decimal("1.46")}]


def test_json_report_numbers_are_exact(tmp_path: Path) -> None:
    """Expected values of non-terminating fractions carry ≥ 15 significant digits, no noise."""
    run = check(SEED000, ANSWERS / "seed000-wrong-sign.json", "--format", "json")
    assert "0000000000" not in run.stdout and "9999999999" not in run.stdout
    status, report = report_of(STRIDE2, write_answers(tmp_path / "a.json", {"loss": 9}))
    assert status == 1
    expected = report["quantities"]["loss"]["mismatches"][0]["expected"]
    assert abs(expected - Decimal(53) / Decimal(6)) < Decimal("1e-14")


def test_output_file(one_mistake: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    run = check(SEED000, one_mistake, "--format", "json", "-o", out)
    assert run.returncode == 1
    assert run.stdout == ""
    assert json.loads(out.read_text(encoding="utf-8"))["score"]["points"] == 5


# --------------------------------------------------------------------------
# answers inside the problem file


def test_answers_inside_the_problem() -> None:
    status, report = report_of(EXERCISE)
    assert status == 1
    assert codes(report) == {"output": None, "loss": None, "grad_output": None,
                             "grad_filter": None, "grad_input": "kernel_not_rotated",
                             "updated_filter": None}
    run = check(EXERCISE, "--width", "120")
    assert run.returncode == 1
    assert "Diagnosis (kernel_not_rotated)" in run.stdout
    assert "∂Loss/∂I(0,0) =" in run.stdout


def test_answers_file_overrides_the_problems_own() -> None:
    status, report = report_of(EXERCISE, ANSWERS / "seed000-correct.json")
    assert status == 0 and report["correct"] is True


# --------------------------------------------------------------------------
# batch mode


def test_batch_summary_with_a_bad_file() -> None:
    files = [ANSWERS / "seed000-correct.json", ANSWERS / "seed000-kernel-not-rotated.json",
             ANSWERS / "bad-unknown-key.json"]
    run = check(SEED000, *files, "--width", "300")
    assert run.returncode == 2, run.stderr  # bad input, yet every other file is marked
    assert "1 of 3 answers files could not be read" in run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split() == ["file", "points", "right", "diagnoses"]
    assert set(lines[1]) == {"─"}
    assert len(lines) == 2 + 3 + 1
    correct, wrong, bad = lines[2:5]
    assert "seed000-correct.json" in correct and "6 of 6" in correct and "26/26" in correct
    assert "seed000-kernel-not-rotated.json" in wrong and "0 of 6" in wrong
    assert "0/26" in wrong and "grad_input: kernel_not_rotated" in wrong
    assert "bad-unknown-key.json" in bad and "error" in bad and "grad_filtre" in bad
    assert "1 of 3 all correct, 1 could not be read" in lines[-1]


def test_batch_exit_status() -> None:
    right = ANSWERS / "seed000-correct.json"
    assert check(SEED000, right, ANSWERS / "seed000-rounded.json").returncode == 0
    some_wrong = check(SEED000, right, ANSWERS / "seed000-wrong-sign.json",
                       ANSWERS / "seed000-transposed.json")
    assert some_wrong.returncode == 1
    assert "transposed" in some_wrong.stdout and "wrong_sign" in some_wrong.stdout


def test_batch_json() -> None:
    files = [ANSWERS / "seed000-correct.json", ANSWERS / "seed000-carried-forward.json",
             ANSWERS / "bad-not-json.json"]
    run = check(SEED000, *files, "--format", "json")
    assert run.returncode == 2
    reports = json.loads(run.stdout)
    assert isinstance(reports, list) and len(reports) == 3
    assert [r["file"] for r in reports] == [str(f) for f in files]
    assert reports[0]["correct"] is True and reports[0]["score"]["points"] == 6
    assert codes(reports[1])["grad_filter"] == "carried_forward"
    assert set(reports[1]) == {"file", "correct", "score", "quantities", "questions"}
    assert "invalid JSON" in reports[2]["error"]


@pytest.mark.parametrize("fmt", ["markdown", "latex"])
def test_batch_other_formats(fmt: str) -> None:
    run = check(SEED000, ANSWERS / "seed000-correct.json",
                ANSWERS / "seed000-kernel-not-rotated.json", "--format", fmt)
    assert run.returncode == 1, run.stderr
    assert "kernel" in run.stdout and "26/26" in run.stdout
