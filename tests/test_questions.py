"""An exercise's questions: what the key works out, the question sheet, the points."""

from __future__ import annotations

import json
import re
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from helpers import SAMPLES, assert_one_line_error, invoke

import cnnstep
from cnnstep.problem import ProblemError, problem_from_data
from cnnstep.quantities import asked, present

SEED000 = json.loads((SAMPLES / "seed000-filter-update.json").read_text(encoding="utf-8"))


def _with(questions: Any) -> dict[str, Any]:
    return {**SEED000, "questions": questions}


def test_a_list_asks_one_point_each_and_an_object_gives_points() -> None:
    listed = problem_from_data(_with(["loss", "grad_input[1][1]"]))
    assert asked(listed) == (("loss", Fraction(1)), ("grad_input[1][1]", Fraction(1)))
    pointed = problem_from_data(_with({"grad_filter": 4, "updated_filter": "1/2"}))
    assert asked(pointed) == (("grad_filter", Fraction(4)), ("updated_filter", Fraction(1, 2)))
    everything = problem_from_data(SEED000)
    assert asked(everything) == tuple((key, Fraction(1)) for key in present(everything))


@pytest.mark.parametrize(("questions", "needle"), [
    (["grad_x"], "questions[0]: grad_x: expected a result key"),
    (["forward"], "questions[0]: forward: a step of the working"),
    ([3], "questions[0]: expected a result key or an entry"),
    ({"loss": -1}, "questions.loss: points cannot be negative"),
    ([], "the exercise asks nothing"),
    (["loss", "loss"], "questions[1]: loss is asked twice"),
    ("loss", "questions: expected a list"),
    (["grad_input[5][0]"], "questions[0]: grad_input[5][0]: index 5 on axis 0 is out of range"),
    (["grad_bias"], "this problem has no grad_bias"),
])
def test_bad_questions_are_one_line(questions: Any, needle: str) -> None:
    with pytest.raises(ProblemError, match=re.escape(needle)):
        problem_from_data(_with(questions))
    run = invoke("solve", "-", input=json.dumps(_with(questions)))
    assert_one_line_error(run, needle)


def test_the_key_works_out_what_is_asked_and_what_it_rests_on() -> None:
    key = cnnstep.solve(_with(["grad_filter"])).to_text(width=100)
    assert "∂Loss/∂W(0,0)" in key and "Forward pass" in key and "Loss" in key
    assert "Gradient with respect to the input" not in key
    assert "Update" not in key
    entry = cnnstep.solve(_with(["grad_input[1][1]"])).to_text(width=100)
    assert "∂Loss/∂I(1,1)" in entry and "∂Loss/∂I(0,0)" not in entry
    assert "Forward pass" in entry  # the steps it rests on come with it


def test_the_sheet_has_the_questions_and_no_answer() -> None:
    worked = cnnstep.solve(_with({"output": 2, "loss": 1, "grad_filter": 4,
                                  "updated_filter": 3}))
    sheet = worked.questions("text")
    assert "1. (2 points) Find Output." in sheet
    assert "3. (4 points) Find ∂Loss/∂W." in sheet
    assert "Questions (10 points)" in sheet
    assert "[[0.5, 0.2], [0.3, 0.7]]" not in sheet
    for answer in ("0.365", "1.6", "2.9", "0.295", "0.605", "0.95"):
        assert answer not in sheet, answer
    assert "0.5" in sheet and "0.7" in sheet  # the givens are there


@pytest.mark.parametrize("fmt", ["text", "latex", "markdown", "html"])
def test_the_sheet_in_every_format_from_the_command_line(fmt: str) -> None:
    run = invoke("solve", SAMPLES / "seed000-filter-update.json", "--questions",
                 "--format", fmt)
    assert run.returncode == 0, run.stderr
    assert "Questions" in run.stdout
    assert "0.365" not in run.stdout and "0.295" not in run.stdout


def test_the_sheet_compiles(tmp_path: Path) -> None:
    if subprocess.run(["which", "pdflatex"], capture_output=True, check=False).returncode:
        pytest.skip("pdflatex is not installed")
    source = tmp_path / "sheet.tex"
    source.write_text(cnnstep.solve(_with(["loss", "grad_input[1][1]"])).questions("latex"),
                      encoding="utf-8")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                          source.name], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode == 0, run.stdout[-2000:]


@pytest.mark.parametrize("option", [["--format", "json"], ["--verify"], ["--only", "loss"]])
def test_the_sheet_is_not_mixed_with_other_outputs(option: list[str]) -> None:
    run = invoke("solve", SAMPLES / "seed000-filter-update.json", "--questions", *option)
    assert_one_line_error(run, "--questions")
