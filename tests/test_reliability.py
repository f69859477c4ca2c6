"""Hostile and unlucky input: every case ends in a clear answer or a one-line refusal.

Each case here once ended in an internal error, a hang or a silently wrong
answer; they are regressions tests of the library (the command line's own
cases are with the other command-line tests).
"""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path

import pytest

import cnnstep
from cnnstep import engine
from cnnstep.problem import MAX_NESTING, ProblemError, load_problem, problem_from_data
from cnnstep.quantities import SelectionError, parse_entry, present
from cnnstep.result import result


def test_int64_path_is_judged_from_both_operands() -> None:
    """A zero upstream gradient must not let a 1e19 input through the int64 path."""
    worked = cnnstep.solve({"input": [[1e19, 3]], "filter": [[1]], "grad_output": [[0, 0]]})
    assert worked.result["output"] == [[Fraction(10**19), Fraction(3)]]
    assert worked.result["grad_filter"] == [[Fraction(0)]]
    big = engine.fractions([[[10**19, 2**63 + 5]]])
    zero = engine.fractions([[[[0]]]])
    assert engine.correlate(big, zero).tolist() == [[[0, 0]]]
    ones = engine.fractions([[[[1]]]])
    assert engine.correlate(big, ones).tolist() == [[[10**19, 2**63 + 5]]]


@pytest.mark.parametrize("z", ["1e300", "-1e300", "1e12"])
@pytest.mark.parametrize("kind", ["sigmoid", "tanh"])
def test_saturated_activations_do_not_overflow(kind: str, z: str) -> None:
    worked = cnnstep.solve({"input": [[z]], "filter": [[1]], "activation": kind,
                            "target": [[0]]})
    value = worked.result["output"][0][0]
    low = 0 if kind == "sigmoid" else -1
    assert value == (1 if z[0] != "-" else low)


@pytest.mark.parametrize("spelled", ["1e9999999999999999999", "-1e-99999999", "1e301",
                                     "١٢", "۳"])
def test_numbers_out_of_range_or_not_ascii_are_refused(spelled: str) -> None:
    with pytest.raises(ProblemError) as caught:
        problem_from_data({"input": [[spelled]], "filter": [[1]]})
    assert str(caught.value).startswith("input[0][0]: expected a number"), caught.value


def test_deep_nesting_is_refused_without_recursion(tmp_path: Path) -> None:
    depth = 5000
    path = tmp_path / "deep.json"
    path.write_text('{"input": ' + "[" * depth + "1" + "]" * depth + ', "filter": [[1]]}',
                    encoding="utf-8")
    with pytest.raises(ProblemError, match="nested"):
        load_problem(path)
    path.write_text('{"input": ' + "[" * 600 + "1" + "]" * 600 + ', "filter": [[1]]}',
                    encoding="utf-8")
    with pytest.raises(ProblemError, match=f"more than {MAX_NESTING} deep"):
        load_problem(path)


def test_huge_indices_are_out_of_range() -> None:
    layer = problem_from_data({"input": [[1, 2], [3, 4]], "filter": [[1]]}).layer
    with pytest.raises(SelectionError, match="out of range"):
        parse_entry("output[" + "9" * 5000 + "][0]", layer, ["output"])
    with pytest.raises(SelectionError, match="give 2 indices"):
        parse_entry("output[1]", layer, ["output"])
    two_filters = problem_from_data(
        {"input": [[1, 2]], "filter": [[[[1]]], [[[2]]]], "bias": [1, 2]}).layer
    with pytest.raises(SelectionError, match=r"give 1 index$"):
        parse_entry("grad_bias", two_filters, ["grad_bias"])
    # leading zeros are not digits of magnitude
    assert problem_from_data({"input": [["1e+0000000000000000000001"]],
                              "filter": [[1]]}).input[0, 0, 0] == 10


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_devices_and_fifos_are_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    with pytest.raises(ProblemError, match="not a regular file"):
        load_problem(fifo)  # would block forever if it were opened
    if Path("/dev/zero").exists():
        with pytest.raises(ProblemError, match="not a regular file"):
            load_problem("/dev/zero")


def test_a_file_over_the_size_limit_is_refused(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from cnnstep import problem

    monkeypatch.setattr(problem, "MAX_FILE_BYTES", 100)
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"input": [[1] * 60], "filter": [[1]]}), encoding="utf-8")
    with pytest.raises(ProblemError, match="larger than"):
        load_problem(path)


def test_learning_rate_without_gradients_is_a_forward_pass_with_a_note() -> None:
    problem = problem_from_data({"input": [[1, 2]], "filter": [[3]], "learning_rate": 0.1})
    assert present(problem) == ("output",)
    assert result(cnnstep.solve(problem).solution) == {"output": [[3, 6]]}
    assert len(problem.notes) == 1
    assert "no update is made" in problem.notes[0]


@pytest.mark.parametrize(("given", "named"), [("abc", "a string"), (5, "a number"),
                                              (True, "true"), ({"a": 1}, "an object")])
def test_an_answer_where_a_list_belongs_is_named_for_what_it_is(given: object,
                                                                 named: str) -> None:
    from cnnstep.check import read_answers

    solution = cnnstep.solve({"input": [[1, 2], [3, 4]], "filter": [[1]]}).solution
    with pytest.raises(ProblemError) as caught:
        read_answers({"output": given}, solution)
    assert str(caught.value).endswith(f"got {named}")


def test_all_zero_input_with_sigmoid_and_a_pool() -> None:
    """Found by Hypothesis: the zero input let the int64 path take sigmoid's
    17-digit values (an OverflowError, exit 70)."""
    worked = cnnstep.solve({"input": [[0, 0, 0, 0, 0, 0]], "filter": [[[[0]]], [[[0]]]],
                            "stride": 2, "bias": [0, 1], "activation": "sigmoid",
                            "pool": {"type": "max", "size": [1, 2]},
                            "target": [[[0]], [[0]]]})
    assert worked.result["grad_filter"] == [[[[0]]], [[[0]]]]
    assert worked.result["output"][0] == [[Fraction(1, 2)]]


def test_the_command_line_refuses_over_the_work_limit_and_says_how_to_raise_it(
        tmp_path: Path) -> None:
    from helpers import assert_one_line_error, invoke

    padded = tmp_path / "padded.json"
    padded.write_text('{"input": [[1]], "filter": [[1]], "padding": 3000}', encoding="utf-8")
    line = assert_one_line_error(invoke("solve", padded), "over the limit of 1e8",
                                 "raise it with --max-work 5e8")
    assert line.startswith(f"cnnstep: error: {padded}: the layer needs about")
    huge = tmp_path / "huge.json"
    huge.write_text('{"input": [[1]], "filter": [[1]], "padding": 1e300}', encoding="utf-8")
    assert_one_line_error(invoke("solve", huge, "--format", "json"), "over the limit")
    shapes = tmp_path / "shapes.json"
    shapes.write_text('{"input": {"shape": [1000, 1000]}, "filter": {"shape": [3, 3]}}',
                      encoding="utf-8")
    assert_one_line_error(invoke("solve", shapes, "--symbolic"), "symbolic derivation")
    assert_one_line_error(invoke("solve", shapes, "--symbolic", "--format", "json"),
                          "over the limit")
    assert_one_line_error(invoke("solve", padded, "--max-work", "x"), "--max-work x")
    sample = str(Path(cnnstep.sample("seed000-filter-update")))
    assert_one_line_error(invoke("solve", sample, "--max-work", "10"), "--max-work 4e4")
    assert invoke("solve", sample, "--max-work", "4e4", "--format", "json").returncode == 0
    assert invoke("check", "--sample", "exercise-with-answers", "--max-work", "10"
                  ).returncode == 2


def test_long_fractions_print_in_every_format() -> None:
    """Fractions of 200-digit denominators, multiplied out, are longer than the 4300
    digits Python prints by default; printing them must not fail."""
    import random

    draw = random.Random(2)
    problem = {"input": [[f"{draw.randint(1, 10**200)}/{draw.randint(1, 10**200)}"
                          for _ in range(3)] for _ in range(3)],
               "filter": [[f"1/{draw.randint(1, 10**200)}" for _ in range(2)]
                          for _ in range(2)],
               "target": [["1", "2"], ["3", "4"]], "learning_rate": "1/3"}
    worked = cnnstep.solve(problem)
    for fmt in ("text", "latex", "markdown", "html"):
        assert len(worked.render(fmt)) > 1000
