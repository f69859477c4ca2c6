"""The report of ``cnnstep check`` in the student's own notation, showing where
their working departs.

* every quantity is named by its key and by its symbol as the problem writes it
  (∂L/∂Z by default, ∂Loss/∂Output in seed 000's notation), in every format;
* the messages of the diagnoses use the problem's letters;
* ``kernel_not_rotated`` shows K as used beside rot180(K); ``true_convolution``
  the reverse; ``stride_not_dilated`` dL/dZ as used beside the zero-inserted
  dL/dZ; these are derivation matrices built by the check layer (the engine's
  own arrays), so every format prints them, and JSON is unchanged.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from check_helpers import (
    ANSWERS,
    SEED000,
    STRIDE2,
    check,
    problem_data,
    s2_mistakes,
    stride2_layer,
    write_answers,
)
from helpers import SAMPLES

from cnnstep import engine
from cnnstep.check import MISTAKES, Report, load_answers, mark, read_answers
from cnnstep.check import departures as departing
from cnnstep.derivation import Call, Matrix, Text, Whole
from cnnstep.engine import solve as solve_layer
from cnnstep.problem import load_problem, problem_from_data
from cnnstep.render import FORMATS, Options
from cnnstep.render.expr import Settings, TextPrinter
from cnnstep.result import result

WORKED = ("text", "markdown", "latex", "html")


def _report(problem: Path, answers: Path) -> Report:
    solution = solve_layer(load_problem(problem))
    return mark(solution, load_answers(answers, solution))


def _symbols(report: Report) -> dict[str, str]:
    printer = TextPrinter(Settings.of(report.departures))
    return {q.key: printer.doprint(report.symbol(q.key)) for q in report.quantities}


def _matrices(report: Report, key: str) -> list[Matrix]:
    step = next(s for s in report.departures.steps if s.key == key)
    return [b for b in step.blocks if isinstance(b, Matrix)]


def _label(report: Report, matrix: Matrix) -> str:
    printer = TextPrinter(Settings.of(report.departures))
    return "".join(p if isinstance(p, str) else printer.doprint(p) for p in matrix.label)


# --------------------------------------------------------------------------
# the quantities in the problem's notation


def test_symbols_in_the_notation_of_seed000() -> None:
    report = _report(SEED000, ANSWERS / "seed000-correct.json")
    assert _symbols(report) == {
        "output": "Output", "loss": "Loss", "grad_output": "∂Loss/∂Output",
        "grad_filter": "∂Loss/∂W", "grad_input": "∂Loss/∂I", "updated_filter": "Wnew",
    }


def test_symbols_of_a_layered_problem_name_each_stage() -> None:
    problem = load_problem(SAMPLES / "relu-maxpool.json")
    solution = solve_layer(problem)
    answers = read_answers(json.loads(json.dumps(result(solution), default=str)), solution)
    report = mark(solution, answers)
    symbols = _symbols(report)
    # the last stage is asked once, as the output
    assert symbols["output"] == "P" and "pooled" not in symbols
    assert symbols["conv"] == "Z" and symbols["activated"] == "A"
    assert symbols["grad_output"] == "∂L/∂P"
    assert symbols["grad_activated"] == "∂L/∂A" and symbols["grad_conv"] == "∂L/∂Z"
    assert symbols["grad_bias"] == "∂L/∂B" and symbols["updated_bias"] == "Bnew"


@pytest.mark.parametrize(("fmt", "shown"), [
    ("text", "│ grad_output +│ ∂Loss/∂Output +│"),
    ("markdown", re.escape(r"| grad_output | $\partial \text{Loss}/\partial \text{Output}$ |")),
    ("latex", re.escape(r"grad\_output & $\partial \text{Loss}/\partial \text{Output}$ &")),
    ("html", re.escape("<td><code>grad_output</code></td><td><math><mrow><mi>∂</mi>"
                       "<mi>Loss</mi>")),
])
def test_every_format_shows_the_symbol_beside_the_key(fmt: str, shown: str) -> None:
    run = check(SEED000, ANSWERS / "seed000-missing-factor-two.json", "--format", fmt,
                "--width", "120")
    assert run.returncode == 1, run.stderr
    assert re.search(shown, run.stdout), run.stdout[:2000]
    assert "symbol" in run.stdout  # the column's header


def test_the_heading_of_a_wrong_quantity_names_its_symbol() -> None:
    run = check(SEED000, ANSWERS / "seed000-kernel-not-rotated.json", "--width", "120")
    assert "grad_input: 9 wrong entries of ∂Loss/∂I" in run.stdout


def test_messages_use_the_problems_letters() -> None:
    seed = _report(SEED000, ANSWERS / "seed000-kernel-not-rotated.json")
    marked = seed.marked("grad_input")
    assert marked is not None
    diagnosis = marked.diagnosis
    assert diagnosis is not None
    assert diagnosis.message.startswith("∂Loss/∂I was computed with the kernel as it is")
    problem = load_problem(SEED000)
    assert MISTAKES["missing_factor_two"].diagnosis(problem, "grad_output").message.startswith(
        "∂Loss/∂Output is missing the factor 2")
    assert MISTAKES["wrong_sign"].diagnosis(problem, "grad_output").message.startswith(
        "∂Loss/∂Output was taken from (Y − Output) instead of (Output − Y)")
    layered = problem_from_data({"input": [[1, 2], [3, 4]], "filter": [[1]],
                                 "pool": {"type": "max", "size": 2}, "target": [[1]]})
    assert MISTAKES["wrong_sign"].diagnosis(layered, "grad_output").message.startswith(
        "∂L/∂P was taken from (Y − P) instead of (P − Y)")


# --------------------------------------------------------------------------
# where the working departs


def test_kernel_not_rotated_shows_the_kernel_beside_its_rotation() -> None:
    report = _report(SEED000, ANSWERS / "seed000-kernel-not-rotated.json")
    used, needed = _matrices(report, "grad_input")
    solution = report.solution
    assert solution.rotated_filter is not None
    assert np.array_equal(used.values, solution.problem.filter[0, 0])
    assert np.array_equal(needed.values, solution.rotated_filter[0, 0])
    assert _label(report, used) == "W (as used)"
    assert _label(report, needed) == "rot180(W) (as needed)"
    assert needed.label[0] == Call("rot180", (Whole("filter"),))
    step = report.departures.steps[0]
    assert step.title == departing.TITLE
    assert isinstance(step.blocks[0], Text)


def test_true_convolution_shows_the_rotation_the_student_used() -> None:
    report = _report(SEED000, ANSWERS / "seed000-true-convolution.json")
    key = next(q.key for q in report.quantities
               if q.diagnosis and q.diagnosis.code == "true_convolution")
    used, needed = _matrices(report, key)
    assert _label(report, used) == "rot180(W) (as used)"
    assert _label(report, needed) == "W (as needed)"
    assert np.array_equal(used.values, engine.rotate180(report.solution.problem.filter)[0, 0])


@pytest.fixture(scope="module")
def stride_report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    answers = s2_mistakes(stride2_layer())["stride_not_dilated"][0]
    path = write_answers(tmp_path_factory.mktemp("s2") / "answers.json", answers)
    return _report(STRIDE2, path)


def test_stride_not_dilated_shows_the_zero_inserted_gradient(stride_report: Report) -> None:
    solution = stride_report.solution
    assert solution.grad_conv is not None and solution.spread_grad is not None
    for key in ("grad_filter", "grad_input"):
        matrices = _matrices(stride_report, key)
        assert len(matrices) == 4  # two filters: (as used, as needed) each
        for f, (used, needed) in enumerate(zip(matrices[::2], matrices[1::2], strict=True)):
            assert np.array_equal(used.values, solution.grad_conv[f])
            assert np.array_equal(needed.values, solution.spread_grad[f])
            assert needed.step == (2, 2) and used.step == (1, 1)
            assert _label(stride_report, used) == f"∂L/∂Z (filter {f + 1}) (as used)"
            assert _label(stride_report, needed) == (
                f"∂L/∂Z (zero-inserted) (filter {f + 1}) (as needed)")
            # the inserted zeros are fillers; every entry of dL/dZ is not
            fillers = {(i, j) for i in range(5) for j in range(5) if needed.is_filler(i, j)}
            assert fillers == {(i, j) for i in range(5) for j in range(5) if i % 2 or j % 2}


@pytest.mark.parametrize("fmt", WORKED)
def test_every_format_prints_the_departure(fmt: str, stride_report: Report) -> None:
    text = FORMATS[fmt].report(stride_report, "T", None, Options(width=120))
    assert text.count(departing.TITLE) == 2
    assert text.index(departing.TITLE) > text.index("Diagnosis (stride")
    spread = {"text": "∂L/∂Z (zero-inserted) (filter 2) (as needed)",
              "markdown": r"\left(\partial L/\partial Z\right)_{\text{spread}}",
              "latex": r"\left(\partial L/\partial Z\right)_{\text{spread}}",
              "html": "<mtext>spread</mtext>"}[fmt]
    assert spread in text


@pytest.mark.parametrize("fmt", WORKED)
def test_kernel_not_rotated_in_every_format(fmt: str) -> None:
    run = check(SEED000, ANSWERS / "seed000-kernel-not-rotated.json", "--format", fmt)
    assert run.returncode == 1, run.stderr
    out = run.stdout
    assert departing.TITLE in out
    rotation = {"text": "rot180(W) (as needed)", "markdown": r"\operatorname{rot}_{180^\circ}(W)",
                "latex": r"\operatorname{rot}_{180^\circ}(W)\text{ (as needed)}",
                "html": "<msub><mi>rot</mi><mn>180°</mn></msub>"}[fmt]
    assert rotation in out
    # the departure comes before the working of the wrong entries
    assert out.index(departing.TITLE) < out.index("The working of the wrong entries")


def test_the_html_report_sets_them_side_by_side() -> None:
    run = check(SEED000, ANSWERS / "seed000-kernel-not-rotated.json", "--format", "html")
    section = run.stdout[run.stdout.index(f"<h3>{departing.TITLE}</h3>"):]
    group = re.search(r'<div class="matrices">\n(.*?)</div>\n', section, re.S)
    assert group is not None and group.group(1).count("<figure>") == 2


def test_no_departure_without_a_mistake_that_shows_one() -> None:
    for name in ("seed000-transposed.json", "seed000-missing-factor-two.json",
                 "seed000-correct.json"):
        report = _report(SEED000, ANSWERS / name)
        assert report.departures.steps == ()
        text = FORMATS["text"].report(report, "T", None, Options())
        assert departing.TITLE not in text


def test_the_json_report_is_unchanged_and_builds_no_departure() -> None:
    report = _report(SEED000, ANSWERS / "seed000-kernel-not-rotated.json")
    data: dict[str, Any] = json.loads(FORMATS["json"].report(report, "T", None, Options()))
    assert set(data) == {"correct", "score", "quantities", "questions"}
    assert set(data["quantities"]["grad_input"]) == {
        "correct", "right", "answered", "total", "points", "max_points", "mismatches",
        "unanswered", "diagnosis"}
    assert "departures" not in vars(report)  # made only when a format prints it


def test_departures_are_registered_for_mistakes_only() -> None:
    assert set(departing.DEPARTURES) == {"kernel_not_rotated", "true_convolution",
                                         "stride_not_dilated"}
    assert set(departing.DEPARTURES) <= set(MISTAKES)
    with pytest.raises(ValueError, match="no such mistake"):
        departing.departure("not_a_mistake")(departing.DEPARTURES["kernel_not_rotated"])
    with pytest.raises(ValueError, match="registered twice"):
        departing.departure("kernel_not_rotated")(departing.DEPARTURES["kernel_not_rotated"])


def test_the_latex_report_with_departures_is_balanced(stride_report: Report) -> None:
    source = FORMATS["latex"].report(stride_report, "T", None, Options())
    # wide matrices are set in blocks of columns, each its own bmatrix
    assert source.count(r"\begin{bmatrix}") == source.count(r"\end{bmatrix}") >= 8
    assert source.count("$") % 2 == 0


def test_answers_in_the_problem_file_get_the_same_feedback(tmp_path: Path) -> None:
    data = problem_data(SEED000)
    data["answers"] = problem_data(ANSWERS / "seed000-kernel-not-rotated.json")
    path = tmp_path / "exercise.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    run = check(path, "--width", "120")
    assert run.returncode == 1
    assert "rot180(W) (as needed)" in run.stdout
