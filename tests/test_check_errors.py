"""``cnnstep check``: bad answers files and options give exit 2 and one line naming
the file, the key and the position."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from check_helpers import ANSWERS, EXERCISE, SEED000, STRIDE2, check, one_error_line, problem_data
from helpers import assert_one_line_error, invoke


@pytest.mark.parametrize("tol", ["-0.1", "abc", "1/0"])
def test_bad_tolerance(tol: str) -> None:
    line = one_error_line(check(SEED000, ANSWERS / "seed000-correct.json", "--tol", tol))
    assert "--tol" in line


def test_no_answers_at_all() -> None:
    line = one_error_line(check(SEED000))
    assert "no answers to mark" in line
    assert "answers" in line.split("no answers to mark", 1)[1]


def test_bad_answers_inside_the_problem(tmp_path: Path) -> None:
    data = problem_data(EXERCISE)
    data["answers"] = {"grad_filtre": [[1.3, 1.0], [0.05, 0.95]]}
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    line = one_error_line(check(path))
    assert "answers: grad_filtre" in line and "'grad_filter'" in line
    data["answers"] = [1, 2]
    path = tmp_path / "problem-array.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    line = one_error_line(check(path))
    assert "answers" in line and "expected a JSON object" in line


@pytest.mark.parametrize(("name", "needles"), [
    ("bad-shape.json", ["grad_input[1]", "3 entries", "[3][3]", "got 2"]),
    ("bad-non-number.json", ["grad_filter[0][1]", "expected a number", '"one"']),
    ("bad-unknown-key.json", ["grad_filtre", "did you mean 'grad_filter'"]),
    ("bad-no-bias.json", ["grad_bias", "has no bias"]),
    ("bad-not-json.json", ["invalid JSON", "line 1"]),
    ("bad-not-object.json", ["expected a JSON object", "array"]),
])
def test_bad_answers_file(name: str, needles: list[str]) -> None:
    line = one_error_line(check(SEED000, ANSWERS / name))
    assert name in line
    for needle in needles:
        assert needle in line, line


def test_no_bias_message_does_not_suggest_another_key() -> None:
    line = one_error_line(check(SEED000, ANSWERS / "bad-no-bias.json"))
    assert "did you mean" not in line
    assert "bias" in line.split("grad_bias", 1)[1]


@pytest.mark.parametrize(("text", "kind"), [
    ("3", "a number"), ("null", "null"), ("true", "true"), ('"x"', "a string")])
def test_not_an_object_message_names_the_json_kind(tmp_path: Path, text: str,
                                                   kind: str) -> None:
    path = tmp_path / "a.json"
    path.write_text(text, encoding="utf-8")
    line = one_error_line(check(SEED000, path))
    assert "expected a JSON object" in line
    assert re.search(r"_Literal|NumberText|NoneType|\bbool\b|\bstr\b", line) is None, line
    assert kind in line


def test_more_bad_entries(tmp_path: Path) -> None:
    cases = {
        '{"loss": [0.365]}': "loss: expected a number",
        '{"loss": NaN}': "loss: expected a finite number",
        '{"loss": true}': "loss: expected a number",
        '{"grad_input": [[0.15, 0.285, 0.09], [-0.035, 0.345, 0.335], '
        '[-0.075, -0.145, [0.07]]]}': "grad_input[2][2]: expected a number or null",
        '{"output": 1.6}': "output: expected 2 entries",
        '{"loss": 0.365, "loss": 0.37}': "loss",
        '{"updated_filter": [[0.37, 0.1], [0.295, 0.605], [0, 0]]}': "updated_filter",
    }
    for i, (text, needle) in enumerate(cases.items()):
        path = tmp_path / f"a{i}.json"
        path.write_text(text, encoding="utf-8")
        line = one_error_line(check(SEED000, path))
        assert needle in line, (text, line)


def test_missing_answers_file() -> None:
    line = one_error_line(check(SEED000, ANSWERS / "no-such-file.json"))
    assert "no-such-file.json" in line and "no such file" in line


def test_stride2_bad_shape(tmp_path: Path) -> None:
    path = tmp_path / "three-filters.json"
    path.write_text(json.dumps({"grad_filter": [[[[0] * 3] * 3] * 2] * 3}), encoding="utf-8")
    line = one_error_line(check(STRIDE2, path))
    assert "grad_filter" in line and "[2][2][3][3]" in line and "got 3" in line
    path = tmp_path / "number-bias.json"
    path.write_text(json.dumps({"grad_bias": 2.5}), encoding="utf-8")
    line = one_error_line(check(STRIDE2, path))
    assert "grad_bias" in line and "[2]" in line


def test_batch_of_one_bad_file_is_a_plain_error() -> None:
    line = one_error_line(check(SEED000, ANSWERS / "bad-shape.json"))
    assert "grad_input[1]" in line


RELU = {"input": [[1, 2], [3, 4]], "filter": [[1]], "activation": "relu",
        "target": [[1, 1], [1, 1]]}


def test_the_last_stage_answered_under_its_own_name_is_the_output(tmp_path: Path) -> None:
    """A, answered as ``activated``, is marked as the layer's output, not ignored."""
    problem = tmp_path / "relu.json"
    problem.write_text(json.dumps(RELU | {"answers": {"activated": [[1, 2], [3, 5]]}}),
                       encoding="utf-8")
    report = json.loads(invoke("check", problem, "--format", "json").stdout)
    assert "activated" not in report["quantities"]
    output = report["quantities"]["output"]
    assert (output["right"], output["answered"]) == (3, 4)
    assert output["mismatches"] == [{"index": [1, 1], "expected": 4, "given": 5}]


def test_the_last_stage_answered_twice_differently_is_refused(tmp_path: Path) -> None:
    problem = tmp_path / "relu.json"
    problem.write_text(json.dumps(RELU | {"answers": {"activated": [[1, 2], [3, 4]],
                                                      "output": [[1, 2], [3, 5]]}}),
                       encoding="utf-8")
    assert_one_line_error(invoke("check", problem), "activated", "output", "give it once")
