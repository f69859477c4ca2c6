"""cnnstep new: a starting problem with // comments that solves as it is."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import assert_one_line_error, invoke

from cnnstep.problem import ProblemError, parse_json, without_comments
from cnnstep.starter import STARTER


def test_the_starter_solves_to_the_seed_example() -> None:
    run = invoke("new")
    assert run.returncode == 0
    assert run.stdout == STARTER
    solved = invoke("solve", "-", "--format", "json", input=run.stdout)
    assert solved.returncode == 0, solved.stderr
    assert json.loads(solved.stdout)["updated_filter"] == [[0.37, 0.1], [0.295, 0.605]]


def test_every_commented_option_works_when_uncommented() -> None:
    text = re.sub(r"^(\s*)// (\"|, \")", r"\1\2", STARTER, flags=re.M)
    assert '// "bias"' not in text and '"questions"' in text
    # the 2×2 pool makes the output 1×1
    text = text.replace('"target": [[1, 2],\n             [2, 1]]', '"target": [[1]]')
    text = text.replace('"output": 2, "loss": 1, "grad_filter": 4, "updated_filter": 2',
                        '"output": 2, "loss": 1, "grad_filter": 4, "updated_filter": 2, '
                        '"grad_bias": 1')
    solved = invoke("solve", "-", "--format", "json", input=text)
    assert solved.returncode == 0, solved.stderr
    assert set(json.loads(solved.stdout)) >= {"conv", "activated", "pooled", "grad_bias"}


def test_it_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "p.json"
    assert invoke("new", "-o", target).returncode == 0
    assert target.read_text(encoding="utf-8") == STARTER
    assert_one_line_error(invoke("new", "-o", target), "already exists")


@pytest.mark.parametrize(("text", "value"), [
    ('{"a": "x//y"} // end', {"a": "x//y"}),
    ('{"a": "q\\"//"}', {"a": 'q"//'}),
    ('{"a": "q\\\\"} // c', {"a": "q\\"}),
    ("// first\n{}", {}),
])
def test_comments_are_blanked_outside_strings(text: str, value: object) -> None:
    assert parse_json(text) == value
    assert len(without_comments(text)) == len(text)


def test_errors_keep_the_file_s_lines_and_columns() -> None:
    with pytest.raises(ProblemError, match="line 2, column 3"):
        parse_json('{"a": // a comment\n  x}')
