"""Homework variants: the same seed gives the same files; every answer is short and exact."""

from __future__ import annotations

import itertools
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from helpers import SAMPLES, assert_one_line_error, invoke

from cnnstep.engine import solve
from cnnstep.generate import Exercise, GenerateError, dumps, generate
from cnnstep.numbers import terminates
from cnnstep.problem import parse_problem
from cnnstep.quantities import present
from cnnstep.schema import schema


def _inlined(node: Any, definitions: dict[str, Any]) -> Any:
    """The schema with each reference to ``#/$defs/NAME`` replaced by the definition
    (none refers to itself), so that no number of a problem needs a look-up."""
    if isinstance(node, dict):
        if set(node) == {"$ref"} and node["$ref"].startswith("#/$defs/"):
            return _inlined(definitions[node["$ref"].removeprefix("#/$defs/")], definitions)
        return {key: _inlined(value, definitions) for key, value in node.items()}
    if isinstance(node, list):
        return [_inlined(value, definitions) for value in node]
    return node


_ANY_OF = jsonschema.Draft202012Validator.VALIDATORS["anyOf"]


def _any_of(validator: Any, any_of: Any, instance: Any, schema: Any) -> Any:
    """jsonschema's anyOf, but a subschema is given up at its first error instead of
    after all of them (an array of numbers tried as a matrix fails at its first
    entry); when none holds, jsonschema's own anyOf gives the errors."""
    for index, subschema in enumerate(any_of):
        if next(validator.descend(instance, subschema, schema_path=index), None) is None:
            return
    yield from _ANY_OF(validator, any_of, instance, schema)


#: the problem schema's Draft 2020-12 validator, with its verdicts and errors, made
#: faster on the thousand problems below (a third of their time was validation)
VALIDATOR = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"anyOf": _any_of})(
    _inlined(schema(), schema()["$defs"]))

MIXES: list[dict[str, Any]] = [
    {},
    {"style": "integers", "bias": True},
    {"style": "fractions", "loss": "half_sse"},
    {"size": (5, 5), "kernel": (3, 3), "stride": 2, "channels": 2, "filters": 2},
    {"size": (4, 4), "padding": 1, "activation": "relu", "bias": True, "loss": "sse"},
    {"size": (6, 6), "kernel": (3, 3), "channels": 3, "filters": 2, "activation": "relu",
     "pool": "max"},
    {"size": (5, 5), "pool": "mean", "activation": "relu", "style": "integers"},
    {"size": (4, 4), "activation": "leaky_relu", "style": "integers", "loss": "half_sse"},
    {"size": (5, 4), "kernel": (2, 3), "pool": "min", "pool_size": 1, "learning_rate": None},
    {"target": False, "learning_rate": None, "activation": "relu"},
    {"size": (5, 5), "kernel": (2, 2), "dilation": 2, "loss": "sse", "bias": True},
    {"size": (6, 6), "kernel": (2, 2), "dilation": 2, "padding": 1, "stride": 2,
     "activation": "relu", "pool": "max", "pool_size": 2, "loss": "half_sse"},
]

#: problems of each mix: a thousand in all, rounded up
EACH = -(-1000 // len(MIXES))


def _short(value: Fraction, places: int) -> bool:
    return terminates(value) and (value * 10**places).denominator == 1


@pytest.mark.parametrize("number", range(len(MIXES)))
def test_a_thousand_problems_are_valid_exact_and_short(number: int) -> None:
    """A thousand problems and a few more, as many of each mix, each mix a test of
    its own so that the test workers share them out."""
    count = 0
    exercise = Exercise(**MIXES[number])
    for data in generate(exercise, seed=number, count=EACH):
        text = dumps(data, fractions=exercise.style == "fractions")
        VALIDATOR.validate(json.loads(text))
        problem = parse_problem(text)
        solution = solve(problem)
        for key in present(problem):
            value = getattr(solution, key)
            entries = [value] if isinstance(value, Fraction) else list(value.flat)
            assert all(_short(v, exercise.places) for v in entries), (key, text)
        if problem.layer.pool is not None and problem.layer.pool.kind != "mean":
            windows = solution.pool_input
            (kh, kw), (sh, sw) = problem.layer.pool.size, problem.layer.pool.stride
            for f, i, j in itertools.product(*map(range, solution.output.shape)):
                window = list(windows[f, i * sh:i * sh + kh, j * sw:j * sw + kw].flat)
                best = max(window) if problem.layer.pool.kind == "max" else min(window)
                assert window.count(best) == 1, text
        if problem.layer.activation is not None and problem.layer.activation.kind == "relu":
            assert solution.activated is not None
            assert all(any(solution.activated[f].flat)
                       for f in range(solution.activated.shape[0])), text
        count += 1
    assert count == EACH


def test_the_validator_is_the_schemas() -> None:
    """The faster validator above gives jsonschema's verdicts and errors."""
    plain = jsonschema.Draft202012Validator(schema())
    valid = json.loads((SAMPLES / "two-filters-padding.json").read_text(encoding="utf-8"))
    invalid = [{**valid, "input": [[1, "x"]]}, {**valid, "input": [[[["1/2", "x"]]]]},
               {**valid, "filter": [[[[[1]]]]]}, {"input": [[1]]}, {**valid, "pool": "max"},
               {**valid, "loss": "hinge"}]
    assert VALIDATOR.is_valid(valid) and plain.is_valid(valid)
    for problem in invalid:
        assert sorted(e.message for e in VALIDATOR.iter_errors(problem)) == sorted(
            e.message for e in plain.iter_errors(problem)) != []


def test_the_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    args = ["generate", "--seed", "42", "--count", "12", "--size", "4", "--kernel", "3",
            "--activation", "relu", "--bias"]
    assert invoke(*args, "-o", tmp_path / "a").returncode == 0
    assert invoke(*args, "-o", tmp_path / "b").returncode == 0
    first = sorted((tmp_path / "a").iterdir())
    assert [p.name for p in first] == [f"problem-{n:02d}.json" for n in range(1, 13)]
    for path in first:
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes()
    other = invoke(*args[:2], "43", *args[3:], "-o", tmp_path / "c")
    assert other.returncode == 0
    assert (tmp_path / "c" / "problem-01.json").read_bytes() != first[0].read_bytes()


def test_generated_files_solve_from_the_command_line(tmp_path: Path) -> None:
    assert invoke("generate", "--seed", "3", "-n", "3", "--values", "fractions",
                  "-o", tmp_path).returncode == 0
    for path in sorted(tmp_path.iterdir()):
        run = invoke("solve", path, "--format", "json")
        assert run.returncode == 0, run.stderr
        assert '"/' not in run.stdout  # answers are numbers
        assert "/" in path.read_text(encoding="utf-8")  # the givens are fractions


def test_a_template_keeps_its_keys_and_redraws_its_numbers(tmp_path: Path) -> None:
    template = SAMPLES / "seed000-filter-update.json"
    assert invoke("generate", "--seed", "5", "--template", template, "-n", "2",
                  "-o", tmp_path).returncode == 0
    original = json.loads(template.read_text(encoding="utf-8"))
    for path in sorted(tmp_path.iterdir()):
        data = json.loads(path.read_text(encoding="utf-8"))
        assert list(data) == list(original)
        assert data["notation"] == original["notation"]
        assert data["input"] != original["input"]


@pytest.mark.parametrize(("args", "needle"), [
    (["--size", "4", "--kernel", "2"], "MSE over 9 outputs"),
    (["--activation", "sigmoid"], "no exact values"),
    (["--size", "2", "--kernel", "3"], "does not fit"),
    (["--size", "3", "--kernel", "2", "--dilation", "3"], "dilation: the kernel 2×2 dilated by 3"),
    (["--size", "x"], "--size x"),
    (["--pool", "mean", "--pool-size", "3", "--size", "5", "--kernel", "2"], "mean over 9"),
])
def test_options_that_cannot_give_short_answers_are_refused(tmp_path: Path, args: list[str],
                                                            needle: str) -> None:
    run = invoke("generate", "--seed", "1", *args, "-o", tmp_path)
    assert run.returncode == 2
    assert needle in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_the_search_is_bounded() -> None:
    # one place: short only by chance (Z needs 2 places), but not so rarely as to be refused
    with pytest.raises(GenerateError, match="no draw in 50"):
        generate(Exercise(places=1), seed=1, count=1, max_draws=50)


@pytest.mark.parametrize(("sample", "needles"), [
    # the MSE's 2/32 × α 0.1 × one-place values: K_new needs 6 places, not 4
    ("two-filters-padding", ("updated_filter", "multiple of 0.000625", "2/32", "6 decimal")),
    ("sigmoid-half-sse", ("activation: sigmoid has no exact values",)),
])
def test_a_template_that_cannot_give_short_answers_is_refused_at_once(
        tmp_path: Path, sample: str, needles: tuple[str, ...]) -> None:
    """Refused from the template's fixed factors, before any draw (not after 4000)."""
    run = invoke("generate", "--seed", "1", "--sample", sample, "-o", tmp_path / "out")
    assert_one_line_error(run, *needles)
    assert "no draw" not in run.stderr
    assert not (tmp_path / "out").exists()


def test_more_places_let_that_template_through(tmp_path: Path) -> None:
    run = invoke("generate", "--seed", "1", "--sample", "two-filters-padding", "--places", "6",
                 "-o", tmp_path)
    assert run.returncode == 0, run.stderr
    data = json.loads((tmp_path / "problem-01.json").read_text(encoding="utf-8"))
    VALIDATOR.validate(data)


# --------------------------------------------------------------------------
# what generated problems ask


def test_generate_writes_what_is_asked(tmp_path: Path) -> None:
    args = ("generate", "--seed", "4", "--count", "3", "--ask", "grad_filter=2",
            "--ask", "grad_input[1][1]", "--ask", "loss")
    assert invoke(*args, "-o", tmp_path / "a").returncode == 0
    assert invoke(*args, "-o", tmp_path / "b").returncode == 0
    for name in ("problem-01.json", "problem-02.json", "problem-03.json"):
        first = (tmp_path / "a" / name).read_bytes()
        assert first == (tmp_path / "b" / name).read_bytes()
        assert json.loads(first)["questions"] == {"grad_filter": 2, "grad_input[1][1]": 1,
                                                  "loss": 1}
    listed = tmp_path / "c"
    assert invoke("generate", "--seed", "4", "--ask", "output", "--ask", "loss",
                  "-o", listed).returncode == 0
    data = json.loads((listed / "problem-01.json").read_text(encoding="utf-8"))
    assert data["questions"] == ["output", "loss"]
    # what is asked is what the sheet asks, with its points
    sheet = invoke("solve", tmp_path / "a" / "problem-01.json", "--questions")
    assert sheet.returncode == 0, sheet.stderr
    assert "Questions (4 points)" in sheet.stdout
    assert "1. (2 points) Find ∂L/∂K." in sheet.stdout


@pytest.mark.parametrize(("ask", "needles"), [
    ("grad_fliter", ("ask: grad_fliter", "did you mean 'grad_filter'?")),
    ("grad_bias", ("ask: grad_bias", "no grad_bias")),
    ("loss=-1", ("ask: loss", "negative")),
    ("grad_input[9][0]", ("ask: grad_input[9][0]", "out of range")),
])
def test_generate_ask_errors(tmp_path: Path, ask: str, needles: tuple[str, ...]) -> None:
    run = invoke("generate", "--seed", "1", "--ask", ask, "-o", tmp_path / "out")
    assert_one_line_error(run, *needles)
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------
# a directory that holds a set


def test_a_directory_that_holds_a_set_is_refused(tmp_path: Path) -> None:
    """Three problems over thirty would leave 04 to 30 of the old set beside them."""
    week = tmp_path / "week3"
    assert invoke("generate", "--seed", "1", "--count", "5", "-o", week).returncode == 0
    before = {path.name: path.read_bytes() for path in week.iterdir()}
    run = invoke("generate", "--seed", "2", "--count", "3", "-o", week)
    assert_one_line_error(run, "week3", "problem-01.json and 4 more", "--overwrite")
    assert {path.name: path.read_bytes() for path in week.iterdir()} == before


def test_overwrite_replaces_the_set(tmp_path: Path) -> None:
    week = tmp_path / "week3"
    assert invoke("generate", "--seed", "1", "--count", "5", "-o", week).returncode == 0
    (week / "notes.txt").write_text("mine", encoding="utf-8")
    run = invoke("generate", "--seed", "2", "--count", "3", "--overwrite", "-o", week)
    assert run.returncode == 0, run.stderr
    assert "removed 2" in run.stderr
    assert sorted(path.name for path in week.iterdir()) == [
        "notes.txt", "problem-01.json", "problem-02.json", "problem-03.json"]
    fresh = tmp_path / "fresh"
    assert invoke("generate", "--seed", "2", "--count", "3", "-o", fresh).returncode == 0
    for name in ("problem-01.json", "problem-02.json", "problem-03.json"):
        assert (week / name).read_bytes() == (fresh / name).read_bytes()
