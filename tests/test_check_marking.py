"""``cnnstep check``: which answers are right, by the format's "Checking answers".

Right values, the rounding rule, exact fractions, ``--tol``, null and missing
entries, and the score, on seed 000 and on a stride-2, padded, two-channel,
two-filter problem whose answers are built with the naive oracle.
"""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from check_helpers import (
    ANSWERS,
    EXERCISE,
    SEED000,
    STRIDE2,
    Layer,
    given_in,
    report_of,
    s2_correct,
    seed000_2d,
    stride2_layer,
    write_answers,
)
from helpers import invoke
from oracle import flatten

from cnnstep.check import mark, read_answers
from cnnstep.engine import solve
from cnnstep.problem import load_problem, parse_json


@pytest.fixture(scope="module")
def s2() -> Layer:
    return stride2_layer()


# --------------------------------------------------------------------------
# seed 000: right answers, rounding, fractions, tolerance


def test_all_correct_seed000() -> None:
    status, report = report_of(SEED000, ANSWERS / "seed000-correct.json")
    assert status == 0
    assert report["correct"] is True
    assert report["score"] == {"right": 26, "answered": 26, "total": 26, "points": 6,
                               "max_points": 6}
    assert set(report["quantities"]) == {"output", "loss", "grad_output", "grad_filter",
                                         "grad_input", "updated_filter"}
    assert all(q["correct"] and q["mismatches"] == [] and q["diagnosis"] is None
               for q in report["quantities"].values())


def test_correct_fixture_is_the_independent_solution() -> None:
    layer = Layer(SEED000)
    given = given_in("seed000-correct.json")
    assert given["output"] == seed000_2d(layer.z)
    assert given["loss"] == layer.loss
    assert given["grad_output"] == seed000_2d(layer.dz)
    assert given["grad_filter"] == seed000_2d(layer.dk)
    assert given["grad_input"] == seed000_2d(layer.dx)
    assert given["updated_filter"] == seed000_2d(layer.sgd(layer.k, layer.dk))


@pytest.mark.parametrize("name", ["seed000-rounded.json", "seed000-rounded-other-way.json",
                                  "seed000-fractions.json"])
def test_rounded_and_fraction_answers_are_right(name: str) -> None:
    status, report = report_of(SEED000, ANSWERS / name)
    score = report["score"]
    assert score["right"] == score["answered"] > 0
    assert all(not q["mismatches"] for q in report["quantities"].values())
    # the fractions file leaves out output, grad_filter and grad_input: not all correct
    complete = score["answered"] == score["total"]
    assert (status, report["correct"]) == ((0, True) if complete else (1, False)), report
    assert complete is (name != "seed000-fractions.json")


@pytest.fixture(scope="module")
def seed000_solution() -> Any:
    return solve(load_problem(SEED000))


# (key, index, the JSON text of the answer, right?) — true values:
# output[0][0] = 1.6, loss = 0.365, grad_input[0][1] = 0.285, grad_input[1][0] = -0.035,
# updated_filter[1][0] = 0.295
ROUNDING = [
    ("updated_filter", (1, 0), "0.295", True),
    ("updated_filter", (1, 0), "0.3", True),
    ("updated_filter", (1, 0), "0.30", True),
    ("updated_filter", (1, 0), '"0.30"', True),
    ("updated_filter", (1, 0), "0.29", True),  # halfway: either way
    ("updated_filter", (1, 0), "0.2950", True),
    ("updated_filter", (1, 0), "2.95e-1", True),
    ("updated_filter", (1, 0), '"59/200"', True),
    ("updated_filter", (1, 0), '"3/10"', False),  # a fraction must be exact
    ("updated_filter", (1, 0), "0.290", False),  # three decimals written: 0.295 → 0.295
    ("updated_filter", (1, 0), "0.296", False),
    ("updated_filter", (1, 0), "0.31", False),
    ("updated_filter", (1, 0), "0", False),
    ("grad_input", (0, 1), "0.28", True),
    ("grad_input", (0, 1), "0.29", True),
    ("grad_input", (0, 1), "0.3", False),  # right to one decimal, but 0.015 away
    ("grad_input", (0, 1), "0.30", False),
    ("grad_input", (0, 1), "0.27", False),
    ("grad_input", (1, 0), "-0.03", True),
    ("grad_input", (1, 0), "-0.04", True),
    ("grad_input", (1, 0), "-0.02", False),
    ("grad_input", (1, 0), "0.035", False),
    ("output", (0, 0), "1.6", True),
    ("output", (0, 0), "1.60", True),
    ("output", (0, 0), "1.600", True),
    ("output", (0, 0), "16e-1", True),
    ("output", (0, 0), '"8/5"', True),
    ("output", (0, 0), "2", False),  # correctly rounded to 0 decimals, but 0.4 away
    ("output", (0, 0), '"2"', False),
    ("output", (0, 0), "1.5", False),
    ("output", (0, 0), "1.7", False),
    ("loss", (), "0.365", True),
    ("loss", (), "0.36", True),
    ("loss", (), "0.37", True),
    ("loss", (), "0.4", False),
    ("loss", (), '"73/200"', True),
    ("loss", (), '" 0.37 "', True),
]


def _one_entry(solution: Any, key: str, index: tuple[int, ...], text: str) -> dict[str, Any]:
    """An answers object with just this entry given, every other entry null."""
    if not index:
        return parse_json(f'{{"{key}": {text}}}')
    rows, cols = {"output": (2, 2), "grad_input": (3, 3), "updated_filter": (2, 2)}[key]
    cells = [["null"] * cols for _ in range(rows)]
    cells[index[0]][index[1]] = text
    grid = "[" + ", ".join("[" + ", ".join(row) + "]" for row in cells) + "]"
    return parse_json(f'{{"{key}": {grid}}}')


@pytest.mark.parametrize(("key", "index", "text", "right"), ROUNDING,
                         ids=[f"{k}{list(i)}={t}" for k, i, t, _ in ROUNDING])
def test_rounding_rule(seed000_solution: Any, key: str, index: tuple[int, ...], text: str,
                       right: bool) -> None:
    entry = key + "".join(f"[{i}]" for i in index)
    report = mark(seed000_solution, read_answers(_one_entry(seed000_solution, key, index, text),
                                                 seed000_solution), asked=[(entry, 1)])
    (marked,) = report.quantities
    assert (marked.right, marked.total) == ((1, 1) if right else (0, 1))
    assert report.correct is right


TOLERANCE = [
    ("0.1", "output", (0, 0), "1.5", True),
    ("0.1", "output", (0, 0), "1.7", True),
    ("0.1", "output", (0, 0), "1.71", False),
    ("0.09", "output", (0, 0), "1.5", False),
    ("0.01", "updated_filter", (1, 0), '"3/10"', True),  # the tolerance replaces exactness
    ("0", "updated_filter", (1, 0), "0.3", False),
    ("0", "updated_filter", (1, 0), '"59/200"', True),
    ("1/2", "output", (0, 0), "2", True),
]


@pytest.mark.parametrize(("tol", "key", "index", "text", "right"), TOLERANCE)
def test_tolerance(seed000_solution: Any, tol: str, key: str, index: tuple[int, ...],
                   text: str, right: bool) -> None:
    from cnnstep.check import tolerance_of

    answers = read_answers(_one_entry(seed000_solution, key, index, text), seed000_solution)
    entry = key + "".join(f"[{i}]" for i in index)
    report = mark(seed000_solution, answers, tolerance_of(tol), asked=[(entry, 1)])
    assert report.correct is right


def test_tol_on_the_command_line(tmp_path: Path) -> None:
    answers = write_answers(tmp_path / "a.json", {"output": [[1.5, 2.9], [1.5, 1.2]]})
    status, report = report_of(SEED000, answers)
    assert status == 1
    assert report["quantities"]["output"]["mismatches"] == [
        {"index": [0, 0], "expected": Decimal("1.6"), "given": Decimal("1.5")}]
    status, report = report_of(SEED000, answers, "--tol", "0.1")
    assert status == 1  # the other quantities are not answered
    assert report["quantities"]["output"]["correct"] is True
    assert report["score"]["right"] == report["score"]["answered"] == 4
    assert report["score"]["points"] == 1
    assert report_of(SEED000, answers, "--tol", "0.05")[0] == 1


# --------------------------------------------------------------------------
# what is counted: every asked entry, answered or not


def test_missing_and_null_entries_score_zero() -> None:
    status, report = report_of(SEED000, ANSWERS / "seed000-partial.json")
    assert status == 1
    # loss is null, grad_output, grad_input and updated_filter are absent: asked, 0 points
    assert list(report["quantities"]) == ["output", "loss", "grad_output", "grad_filter",
                                          "grad_input", "updated_filter"]
    assert report["score"] == {"right": 5, "answered": 6, "total": 26,
                               "points": Decimal("1.25"), "max_points": 6}
    output = report["quantities"]["output"]
    assert output["mismatches"] == [
        {"index": [1, 1], "expected": Decimal("1.2"), "given": Decimal("1.3")}]
    assert output["unanswered"] == [[0, 1], [1, 0]]
    assert (output["right"], output["answered"], output["total"]) == (1, 2, 4)
    assert output["points"] == Decimal("0.25")  # one right entry of four: a quarter point
    assert report["quantities"]["grad_filter"]["correct"] is True
    assert report["quantities"]["grad_filter"]["points"] == 1
    for key in ("loss", "grad_output", "grad_input", "updated_filter"):
        q = report["quantities"][key]
        assert (q["answered"], q["points"], q["correct"]) == (0, 0, False), key
        assert len(q["unanswered"]) == q["total"]


def test_exercise_null_entry_is_counted() -> None:
    status, report = report_of(EXERCISE)
    assert status == 1
    grad_input = report["quantities"]["grad_input"]
    assert len(grad_input["mismatches"]) == 8  # the ninth entry is null
    assert grad_input["unanswered"] == [[2, 2]]
    assert report["score"]["right"] == 17
    assert report["score"]["answered"] == 25
    assert report["score"]["total"] == 26


# --------------------------------------------------------------------------
# the stride-2 problem, all right


def test_stride2_solution_matches_the_naive_layer(s2: Layer) -> None:
    run = invoke("solve", STRIDE2, "--format", "json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout, parse_float=Decimal, parse_int=Decimal)
    for key, exact in s2_correct(s2).items():
        printed = [Fraction(v) for v in flatten(result[key])]
        assert all(abs(p - e) < Fraction(1, 10**15)
                   for p, e in zip(printed, flatten(exact), strict=True)), key


def test_stride2_all_correct(s2: Layer, tmp_path: Path) -> None:
    answers = write_answers(tmp_path / "right.json", s2_correct(s2))
    status, report = report_of(STRIDE2, answers)
    assert status == 0
    assert report["correct"] is True
    total = sum(len(flatten(v)) for v in s2_correct(s2).values())
    assert total == 18 + 1 + 18 + 36 + 2 + 50 + 36 + 2
    assert report["score"] == {"right": total, "answered": total, "total": total,
                               "points": 8, "max_points": 8}


def test_stride2_rounded_answers(s2: Layer, tmp_path: Path) -> None:
    """Every value rounded to two decimals, written as strings so "0.30" keeps its zero."""
    def rounded(value: Any) -> Any:
        if isinstance(value, list):
            return [rounded(v) for v in value]
        return format(Decimal(value.numerator) / Decimal(value.denominator), ".2f")

    answers = tmp_path / "rounded.json"
    answers.write_text(json.dumps({k: rounded(v) for k, v in s2_correct(s2).items()}),
                       encoding="utf-8")
    status, report = report_of(STRIDE2, answers)
    assert status == 0, report
    assert report["score"]["right"] == report["score"]["total"] == 163
