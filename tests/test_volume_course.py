"""A 3-D layer as an exercise: its ``questions``, the key they ask for, the marking
with points, Python's ``cnnstep.check()``, the question sheet, sets, the exam and
the exports to the course platforms.

The sample ``conv3d-exercise`` asks five things of the ``conv3d-small`` layer
(a 3×3×3 volume, a 2×2×2 kernel, a bias, an MSE target and an update), worth 9
points, and holds a student's answers: Z and L right, one entry of ∂L/∂K rounded
too far (2.6 for 2.625), ∂L/∂X₂₂₂ worked with the kernel not rotated (0.75 for
1.25), and B_new right for the student's own wrong ∂L/∂B (0.2 from 3, for
0.1875). The sheets and the exam are golden files in ``tests/golden/course/``.
"""

from __future__ import annotations

import json
import re
import zipfile
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from helpers import SAMPLES, assert_one_line_error, invoke
from test_golden import check_golden
from test_latex_compiles import check_overfull, compile_tex

import cnnstep
from cnnstep.check.volume import VolumeReport, mark_volume
from cnnstep.problem import ProblemError, volume_from_data
from cnnstep.volume_questions import asked

EXERCISE = SAMPLES / "conv3d-exercise.json"
DATA = json.loads(EXERCISE.read_text(encoding="utf-8"))
SMALL = json.loads((SAMPLES / "conv3d-small.json").read_text(encoding="utf-8"))
COURSE = Path(__file__).resolve().parent / "golden" / "course"
#: a 2-D problem to set beside it
SEED000 = SAMPLES / "seed000-filter-update.json"


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


def _with(questions: Any, **more: Any) -> dict[str, Any]:
    return {**SMALL, "questions": questions, **more}


# --------------------------------------------------------------------------
# reading the questions


def test_a_list_asks_one_point_each_and_an_object_gives_points() -> None:
    listed = volume_from_data(_with(["loss", "grad_input[1][1][1]"]))
    assert asked(listed) == (("loss", Fraction(1)), ("grad_input[1][1][1]", Fraction(1)))
    pointed = volume_from_data(_with({"grad_filter": 4, "updated_bias": "1/2"}))
    assert asked(pointed) == (("grad_filter", Fraction(4)), ("updated_bias", Fraction(1, 2)))
    everything = volume_from_data(SMALL)
    assert [key for key, _ in asked(everything)] == [
        "output", "loss", "grad_output", "grad_filter", "grad_bias", "grad_input",
        "updated_filter", "updated_bias"]


def test_without_questions_the_last_stage_is_asked_once() -> None:
    pooled = volume_from_data({**SMALL, "activation": "relu",
                               "pool": {"type": "max", "size": [1, 2, 2]},
                               "target": [[[1]], [[2]]]})
    keys = [key for key, _ in asked(pooled)]
    assert "pooled" not in keys and keys.count("output") == 1
    assert {"conv", "activated", "grad_activated", "grad_conv"} <= set(keys)
    # an answer under the stage's own name is the output's
    report = mark_volume(pooled, {"pooled": [[[2.5]], [[3.5]]]})
    output = report.marked("output")
    assert output is not None and output.right == 2 and report.marked("pooled") is None


@pytest.mark.parametrize(("questions", "needle"), [
    (["grad_x"], "questions[0]: grad_x: expected a result key"),
    (["grad_input[1][1]"], "questions[0]: grad_input[1][1]: grad_input has 3 axes "
                           "(shape [3][3][3]), give 3 indices"),
    (["grad_input[3][0][0]"], "index 3 on axis 0 is out of range (size 3)"),
    (["loss[0]"], "questions[0]: loss[0]: loss is a number and takes no index"),
    (["history"], "questions[0]: history: a 3-D layer's training history is worked out but "
                  "not marked"),
    (["conv"], "questions[0]: conv: this problem has no conv"),
    ({"loss": -1}, "questions.loss: points cannot be negative"),
    (["loss", " loss"], "questions[1]:  loss is asked twice"),
    ([], "the exercise asks nothing"),
])
def test_bad_questions_are_one_line(questions: Any, needle: str, tmp_path: Path) -> None:
    with pytest.raises(ProblemError, match=re.escape(needle)):
        volume_from_data(_with(questions))
    path = tmp_path / "p.json"
    path.write_text(json.dumps(_with(questions)))
    assert_one_line_error(invoke("solve", path), needle)


# --------------------------------------------------------------------------
# the key and the marking


def test_the_key_works_out_what_is_asked_and_what_it_rests_on() -> None:
    key = cnnstep.solve(_with(["grad_filter"])).to_text(width=100)
    assert "∂L/∂K₂₂₂ = " in key and "Forward pass" in key and "Loss" in key
    assert "Gradient with respect to the input" not in key and "Update" not in key
    entry = cnnstep.solve(_with(["grad_input[1][1][1]"])).to_text(width=100)
    assert "∂L/∂X₂₂₂ = " in entry and "∂L/∂X₁₁₁ = " not in entry
    assert "Forward pass" in entry and "∂L/∂Z₂₂₂ = " in entry  # what it rests on, whole
    # --only chooses otherwise, as for a 2-D layer
    run = invoke("solve", EXERCISE, "--only", "grad_bias")
    assert "Gradient with respect to the bias" in run.stdout
    assert "Gradient with respect to the input" not in run.stdout


def test_check_marks_with_points_and_method_marks() -> None:
    run = invoke("check", EXERCISE, "--format", "json")
    assert run.returncode == 1, run.stderr
    report = json.loads(run.stdout)
    assert report["score"] == {"right": 16, "answered": 19, "total": 19, "points": 6.625,
                               "max_points": 9}
    questions = {q["question"]: (q["points"], q["max_points"]) for q in report["questions"]}
    assert questions == {"output": (2, 2), "loss": (1, 1), "grad_filter": (2.625, 3),
                         "grad_input[1][1][1]": (0, 2), "updated_bias": (1, 1)}
    quantities = report["quantities"]
    assert quantities["grad_input"]["diagnosis"]["code"] == "kernel_not_rotated"
    assert quantities["updated_bias"]["diagnosis"]["code"] == "carried_forward"
    assert "grad_bias" not in quantities  # answered, used for follow-through, not asked
    half = json.loads(invoke("check", EXERCISE, "--format", "json",
                             "--follow-through", "0.5").stdout)
    assert half["score"]["points"] == 6.125


def test_a_section_is_summarised_as_for_a_2d_layer(tmp_path: Path) -> None:
    alice, bob, carol = (tmp_path / f"{name}.json" for name in ("alice", "bob", "carol"))
    alice.write_text(json.dumps(DATA["answers"]))
    bob.write_text('{"loss": "95/32"}')
    carol.write_text('{"loss": "x"}')
    run = invoke("check", EXERCISE, "alice.json", "bob.json", "--format", "csv", cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    assert run.stdout.splitlines() == [
        "file,points,max_points,output,loss,grad_filter,grad_input[1][1][1],updated_bias,"
        "diagnoses",
        "alice.json,6.625,9,2,1,2.625,0,1,grad_input: kernel_not_rotated; "
        "updated_bias: carried_forward",
        "bob.json,1,9,0,1,0,0,0,"]
    table = invoke("check", EXERCISE, alice, bob, carol, "--width", "100")
    assert table.returncode == 2 and "carol.json" in table.stdout
    assert "1 of 3 answers files could not be read" in table.stderr
    listed = json.loads(invoke("check", EXERCISE, alice, "--batch", "--format", "json").stdout)
    assert listed[0]["file"] == str(alice) and listed[0]["score"]["points"] == 6.625
    # a feedback document per file read, as for a 2-D layer
    feedback = tmp_path / "feedback"
    run = invoke("check", EXERCISE, alice, bob, carol, "--feedback-dir", feedback)
    assert run.returncode == 2
    assert sorted(path.name for path in feedback.iterdir()) == ["alice.txt", "bob.txt"]


def test_an_asked_entry_not_answered_scores_zero() -> None:
    layer = volume_from_data(DATA)
    report = mark_volume(layer, {"loss": "95/32"})
    assert report.points == 1 and report.max_points == 9
    assert report.total == 19 and report.answered == 1 and not report.correct


# --------------------------------------------------------------------------
# Python


def test_python_check_gives_the_report_the_command_line_prints(tmp_path: Path) -> None:
    report = cnnstep.check(EXERCISE)
    assert isinstance(report, VolumeReport) and not report.correct
    assert (report.points, report.max_points) == (Fraction(53, 8), 9)
    assert repr(report) == "<cnnstep.VolumeReport: 6.625 of 9 points, 16 of 19 entries right>"
    assert report._repr_markdown_().startswith("```text\nMarking\n")
    assert report.wrong_entries() == ["grad_filter[1][1][1]", "grad_input[1][1][1]",
                                      "updated_bias"]
    title = f"Marking {EXERCISE}"
    assert report.to_text(title=title) == invoke("check", EXERCISE).stdout
    assert report.to_json() == invoke("check", EXERCISE, "--format", "json").stdout
    # a mapping, JSON text, or a path, with the answers apart
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps(DATA["answers"]))
    for problem in (DATA, json.dumps(DATA), str(EXERCISE)):
        again = cnnstep.check(problem, answers)
        assert isinstance(again, VolumeReport) and again.points == report.points
    assert cnnstep.check(DATA, DATA["answers"], tolerance="0.6").correct


def test_python_check_refuses_what_the_command_line_refuses(tmp_path: Path) -> None:
    report = cnnstep.check(EXERCISE)
    with pytest.raises(ProblemError, match="--format csv: a 3-D layer's answers are "
                                           "marked as text, json, markdown"):
        report.render("csv")
    with pytest.raises(ProblemError, match="no answers to mark"):
        cnnstep.check(SMALL)
    with pytest.raises(ProblemError, match=r"answers: grad_x: not a quantity"):
        cnnstep.check({**SMALL, "answers": {"grad_x": 1}})
    bad = tmp_path / "bad.json"
    bad.write_text('{"loss": "x"}')
    with pytest.raises(ProblemError, match=r"bad.json: loss"):
        cnnstep.check(SMALL, bad)


def test_python_sheet_and_approximate_keys() -> None:
    worked = cnnstep.solve(EXERCISE)
    assert isinstance(worked, cnnstep.WorkedVolume)
    assert worked.questions() == invoke("solve", EXERCISE, "--questions").stdout
    assert worked.approximate_keys() == frozenset()
    tanh = cnnstep.solve({**SMALL, "activation": "tanh"})
    assert "grad_filter" in tanh.approximate_keys() and "conv" not in tanh.approximate_keys()


# --------------------------------------------------------------------------
# the sheet, sets and the exam


SHEETS = {"text": ".sheet.txt", "latex": ".sheet.tex", "markdown": ".sheet.md",
          "html": ".sheet.html"}


@pytest.mark.parametrize("fmt", sorted(SHEETS))
def test_the_sheet_has_the_questions_and_no_answer(fmt: str, update_golden: bool) -> None:
    run = invoke("solve", EXERCISE, "--questions", "--format", fmt)
    assert run.returncode == 0, run.stderr
    check_golden(run.stdout, COURSE / f"conv3d-exercise{SHEETS[fmt]}", update_golden)
    if fmt == "text":
        assert "Questions (9 points)" in run.stdout
        assert "4. (2 points) Find ∂L/∂X₂₂₂." in run.stdout
        for answer in ("2.96875", "3.125", "1.25", "0.1875", "2.625"):
            assert answer not in run.stdout, answer


def test_a_set_puts_a_volume_beside_an_image() -> None:
    run = invoke("solve", SEED000, EXERCISE, "--format", "json")
    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout)
    assert [r["file"] for r in results] == ["seed000-filter-update.json", "conv3d-exercise.json"]
    assert results[1]["result"]["grad_bias"] == 3.125
    key = invoke("solve", SEED000, EXERCISE, "--width", "100").stdout
    assert "Exercise 2 (conv3d-exercise.json)" in key and "∂L/∂X₂₂₂ = " in key
    assert "∂L/∂X₁₁₁ = " not in key
    sheet = invoke("solve", SEED000, EXERCISE, "--questions").stdout
    assert "Total: 15 points" in sheet  # 6 of the image's, 9 of the volume's


def test_the_exam(update_golden: bool) -> None:
    run = invoke("solve", EXERCISE, "--format", "latex", "--exam")
    assert run.returncode == 0, run.stderr
    check_golden(run.stdout, COURSE / "conv3d-exercise.exam.tex", update_golden)
    source = run.stdout
    assert "\\question[9]" in source
    parts = re.findall(r"\\part\[([^]]*)\]", source)
    assert parts == ["2", "1", "3", "2", "1"]
    # each step shown once, with the part that first needs it, numbered on
    assert source.count("Forward pass") == 1 and source.count("Step 8") == 1


def test_the_exam_refuses_points_without_a_finite_decimal(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(_with({"loss": "1/3"})))
    assert_one_line_error(invoke("solve", path, "--format", "latex", "--exam"),
                          "questions: loss: 1/3", "exam class")


def test_sheet_key_and_exam_compile(pdflatex: str, tmp_path: Path) -> None:
    sources = {
        "sheet": invoke("solve", EXERCISE, "--questions", "--format", "latex").stdout,
        "key": invoke("solve", EXERCISE, "--format", "latex").stdout,
        "set": invoke("solve", SEED000, EXERCISE, "--format", "latex").stdout,
        "exam": invoke("solve", SEED000, EXERCISE, "--format", "latex", "--exam",
                       "--print-answers").stdout,
    }
    for name, source in sources.items():
        check_overfull(compile_tex(pdflatex, source, tmp_path / name), name)


# --------------------------------------------------------------------------
# the course platforms


def test_moodle_asks_each_entry_for_its_share(tmp_path: Path) -> None:
    quiz = tmp_path / "quiz.xml"
    run = invoke("export", "--to", "moodle", EXERCISE, "-o", quiz)
    assert run.returncode == 0, run.stderr
    xml = quiz.read_text(encoding="utf-8")
    blanks = re.findall(r"\{(\d+):NUMERICAL:=([-0-9.]+):([0-9.]+)\}", xml)
    assert len(blanks) == 19  # 8 + 1 + 8 + 1 + 1 entries
    answers = [float(answer) for _, answer, _ in blanks]
    assert answers[:9] == [1.5, 1.5, 2, 2.5, 2.5, 3.5, 2.5, 2.5, 2.96875]
    assert answers[-2:] == [1.25, 0.1875]
    # weights in the ratio of the shares: 2/8 for Z's, 1 for L, 3/8 for ∂L/∂K's, 2, 1
    weights = [int(weight) for weight, _, _ in blanks]
    assert weights == [2] * 8 + [8] + [3] * 8 + [16, 8]
    assert "Kernel K (2×2×2)" in xml and "K[1]" in xml


def test_canvas_and_prairielearn(tmp_path: Path) -> None:
    package = tmp_path / "quiz.zip"
    assert invoke("export", "--to", "canvas", EXERCISE, "-o", package).returncode == 0
    with zipfile.ZipFile(package) as archive:
        assessment = next(archive.read(name).decode("utf-8") for name in archive.namelist()
                          if name.endswith(".xml") and name != "imsmanifest.xml")
    item = assessment.split("conv3d-exercise: grad_input[1][1][1]")[1].split("<item ")[0]
    assert "Gradient with respect to the input" in item  # its feedback, that entry's working
    assert "Update" not in item
    folder = tmp_path / "questions"
    assert invoke("export", "--to", "prairielearn", EXERCISE, "-o", folder).returncode == 0
    server = (folder / "conv3d-exercise" / "server.py").read_text(encoding="utf-8")
    assert "2.96875" in server and "0.1875" in server
    question = (folder / "conv3d-exercise" / "question.html").read_text(encoding="utf-8")
    assert question.count("pl-matrix-component-input") == 2 * 2 * 2 + 0  # Z, ∂L/∂K slices
