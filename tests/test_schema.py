"""The JSON Schema of a problem file agrees with the loader on what it can judge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from helpers import SAMPLES, invoke

from cnnstep.problem import KEYS
from cnnstep.schema import schema

VALIDATOR = jsonschema.Draft202012Validator(schema())


def test_the_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_schema_describes_every_key_the_loader_reads() -> None:
    assert sorted(schema()["properties"]) == sorted(KEYS)


@pytest.mark.parametrize("sample", sorted(SAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_every_sample_is_valid(sample: Path) -> None:
    VALIDATOR.validate(json.loads(sample.read_text(encoding="utf-8")))


BASE: dict[str, Any] = {"input": [[1, 2], [3, 4]], "filter": [[1]]}


@pytest.mark.parametrize("problem", [
    {"dimensions": 1, "input": [1, 2, 3], "filter": [1, 1], "padding": [[2, 1]]},
    {**BASE, "padding": [[0, 1], [1, 0]]},
    {"dimensions": 3, "input": [[[1, 2], [3, 4]]], "filter": [[[1]]],
     "padding": [[0, 1], [1, 0], [0, 0]]},
])
def test_padding_per_side_is_valid_and_solved(problem: dict[str, Any]) -> None:
    VALIDATOR.validate(problem)
    run = invoke("solve", "-", "--format", "json", input=json.dumps(problem))
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("problem", [
    {**BASE, "strid": 2},
    {**BASE, "loss": "mae", "target": [[1, 1], [1, 1]]},
    {**BASE, "target": [[1, 1], [1, 1]], "grad_output": [[1, 1], [1, 1]]},
    {"input": [[1]]},
    {**BASE, "kernel": [[1]]},
    {**BASE, "stride": 0},
    {**BASE, "padding": -1},
    {**BASE, "learning_rate": "fast"},
    {**BASE, "input": [["١٢"]]},
    {**BASE, "input": [1, 2]},
    {**BASE, "activation": "softmax"},
    {**BASE, "pool": {"type": "max"}},
    {**BASE, "notation": {"index_base": 2}},
    {**BASE, "loss": "mse"},
    {"dimensions": 1, "input": [[[[1, 2]]]], "filter": [1]},  # a batch is [N][C][L]
    {"dimensions": 3, "input": [[[[[[1]]]]]], "filter": [[[1]]]},  # 6-D: no such input
])
def test_the_schema_and_the_loader_both_refuse(problem: dict[str, Any]) -> None:
    assert not VALIDATOR.is_valid(problem)
    run = invoke("solve", "-", "--format", "json", input=json.dumps(problem))
    assert run.returncode == 2, run.stdout


@pytest.mark.parametrize(("points", "valid"), [
    (-1, False), (-0.5, False), ("-1", False), ("-1/2", False), (" -0.5 ", False),
    ("-1e-3", False), ("-.5", False), ("-0.05", False),
    (0, True), (-0.0, True), ("0", True), ("-0", True), ("-0.0", True), ("-0/3", True),
    (1, True), (1.5, True), ("3/2", True), (" 2 ", True), ("1e2", True), ("+1", True),
])
def test_points_are_at_least_zero_as_solve_reads_them(points: object, valid: bool) -> None:
    problem = {**BASE, "questions": {"output": points}}
    assert VALIDATOR.is_valid(problem) is valid
    run = invoke("solve", "-", "--format", "json", input=json.dumps(problem))
    assert run.returncode == (0 if valid else 2), run.stderr


@pytest.mark.parametrize("spelled", ["0.1", "-3/7", " 2 ", "1e-3", ".5", "5."])
def test_numbers_as_strings(spelled: str) -> None:
    assert VALIDATOR.is_valid({"input": [[spelled]], "filter": [[1]]})


def test_the_command_prints_it(tmp_path: Path) -> None:
    run = invoke("schema")
    assert run.returncode == 0
    assert json.loads(run.stdout) == schema()
    target = tmp_path / "problem.schema.json"
    assert invoke("schema", "-o", target).returncode == 0
    assert json.loads(target.read_text(encoding="utf-8")) == schema()
