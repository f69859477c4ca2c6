"""``questions`` on a batch of 3-D volumes: entries with the volume axis first, in
the shape the result gives them; the key works out what is asked, and the
marking gives each question its points, as for a 2-D batch.

The sample ``conv3d-batch`` is two 1×2×3×3 volumes (one filter given without its
axis): its ``grad_input`` is [2][1][2][3][3] and its ``output`` [2][1][2][2].
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from helpers import SAMPLES, assert_one_line_error, invoke

import cnnstep
from cnnstep.check.volume import VolumeReport
from cnnstep.problem import ProblemError, VolumeBatch, volumes_from_data

BATCH = json.loads((SAMPLES / "conv3d-batch.json").read_text(encoding="utf-8"))
ASKED = {"loss": 1, "grad_filter": 3, "grad_input[1][0][1][1][1]": 2, "output[1][0][1][1]": 1}


def _answers(**wrong: Any) -> dict[str, Any]:
    right = json.loads(json.dumps(cnnstep.solve(BATCH).result, default=str))
    right["grad_filter"][0][0][0] = wrong.get("kernel", right["grad_filter"][0][0][0])
    right["grad_input"][1][0][1][1][1] = wrong.get("entry", right["grad_input"][1][0][1][1][1])
    return right


def test_the_questions_are_read_in_the_batch_s_shapes() -> None:
    layer = volumes_from_data({**BATCH, "questions": ASKED})
    assert isinstance(layer, VolumeBatch)
    assert layer.questions == tuple((key, Fraction(points)) for key, points in ASKED.items())
    assert volumes_from_data(BATCH).questions is None  # type: ignore[union-attr]


@pytest.mark.parametrize(("asked", "needles"), [
    (["grad_input[2][0][0][0][0]"], ("questions[0]", "index 2 on axis 0", "size 2")),
    (["grad_input[0][0][0]"], ("grad_input has 5 axes in a batch", "[2][1][2][3][3]",
                               "the volume first")),
    (["grad_filter[0][0][0][0]"], ("grad_filter has 3 axes",)),
    (["loss[0]"], ("loss is a number",)),
    (["grad_fliter"], ("did you mean 'grad_filter'",)),
])
def test_a_question_that_names_nothing_is_one_line(asked: list[str],
                                                    needles: tuple[str, ...]) -> None:
    with pytest.raises(ProblemError) as caught:
        volumes_from_data({**BATCH, "questions": asked})
    message = str(caught.value)
    assert "\n" not in message and all(needle in message for needle in needles), message


def test_the_key_works_out_what_is_asked() -> None:
    steps = [step.title for step in cnnstep.solve({**BATCH, "questions": ASKED})
             .derivation().steps]
    assert "Gradient with respect to the input (volume 2)" in steps
    assert "Gradient with respect to the input (volume 1)" not in steps
    assert "Sum over the batch" in steps and "Update" not in " ".join(steps)
    whole = [step.title for step in cnnstep.solve(BATCH).derivation().steps]
    assert "Gradient with respect to the input (volume 1)" in whole


def test_the_marking_gives_each_question_its_points() -> None:
    report = cnnstep.check({**BATCH, "questions": ASKED}, _answers(kernel=99, entry=99))
    assert isinstance(report, VolumeReport)
    scored = {q.question.text: (q.points, q.max_points) for q in report.questions}
    assert scored == {"loss": (1, 1), "grad_filter": (Fraction(21, 8), 3),
                      "grad_input[1][0][1][1][1]": (0, 2), "output[1][0][1][1]": (1, 1)}
    assert [q.key for q in report.quantities] == ["output", "loss", "grad_filter",
                                                  "grad_input"]
    assert report.total == 11 and report.points == Fraction(37, 8)
    assert cnnstep.check({**BATCH, "questions": ASKED}, _answers()).correct


def test_the_command_line_marks_and_summarises_them(tmp_path: Path) -> None:
    problem = tmp_path / "batch.json"
    problem.write_text(json.dumps({**BATCH, "questions": ASKED}), encoding="utf-8")
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps(_answers(entry=99)), encoding="utf-8")
    run = invoke("check", problem, answers, "--format", "json")
    assert run.returncode == 1, run.stderr
    report = json.loads(run.stdout)
    assert report["score"]["points"] == 5 and report["score"]["max_points"] == 7
    csv = invoke("check", problem, answers, "--format", "csv")
    assert csv.stdout.splitlines()[0] == ("file,points,max_points,loss,grad_filter,"
                                          "grad_input[1][0][1][1][1],output[1][0][1][1],"
                                          "diagnoses")
    assert_one_line_error(invoke("solve", problem, "--questions"), "one volume")
