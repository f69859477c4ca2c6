"""A large layer's worked derivation: its numbers read from the integer path an
entry at a time (``engine.solve_lazily``), the same as the Fraction solve's, and
each matrix too large to read shown by its first rows and columns with a note
saying so, decided in the derivation and the same in every format. The limit is
lowered here so that a small layer stands for a large one."""

from __future__ import annotations

import dataclasses
import json
import random
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import cases, invoke
from hypothesis import HealthCheck, given, settings

import cnnstep
from cnnstep import engine
from cnnstep.derivation import Derivation, Elided, Matrix, numeric
from cnnstep.derivation import builder as derivation_builder
from cnnstep.entries import Computed, Entries

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "cnnstep" / "samples").glob("*.json"))
NUMERIC = [s for s in SAMPLES if '"shape"' not in s.read_text(encoding="utf-8")]

#: the lowered limit: a quantity of more entries than this is elided
LIMIT = 30


def read_entry(values: Any, index: tuple[int, ...]) -> Any:
    return values[index]


def assert_same_solution(problem: Any) -> None:
    """Every quantity of the lazily read solution equals the Fraction solve's."""
    lazily = engine.solve_lazily(problem, max_work=0)
    assert lazily is not None
    whole = engine.solve(problem, max_work=0)
    for field in dataclasses.fields(whole):
        if field.name in ("problem", "images"):
            continue
        want, got = getattr(whole, field.name), getattr(lazily, field.name)
        if want is None or isinstance(want, Fraction):
            assert got == want, field.name
            continue
        assert isinstance(got, np.ndarray | Entries | Computed), field.name
        assert tuple(got.shape) == want.shape, field.name
        for index in np.ndindex(*want.shape):
            assert read_entry(got, index) == want[index], (field.name, index)


@pytest.mark.parametrize("sample", NUMERIC, ids=lambda p: p.stem)
def test_samples_read_lazily_are_the_fraction_solve(sample: Path) -> None:
    worked = cnnstep.solve(sample)
    if not isinstance(worked, cnnstep.Worked) or engine.solve_lazily(worked.problem) is None:
        pytest.skip("a layer the derivation reads from the Fraction solve")
    assert_same_solution(worked.problem)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(modes=("forward", "target", "grad_output")))
def test_random_layers_read_lazily_are_the_fraction_solve(case: Any) -> None:
    assert_same_solution(cnnstep.solve(case.data).problem)


def test_layers_it_does_not_cover_are_solved_with_fractions() -> None:
    for extra in ({"activation": "relu"}, {"pool": {"type": "max", "size": 2}},
                  {"activation": "sigmoid"}):
        problem = cnnstep.solve({"input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
                                 "filter": [[1, 0], [0, 1]], "target": [[0, 1], [1, 0]]}
                                | ({"target": [[1]]} if "pool" in extra else {})
                                | extra).problem
        assert engine.solve_lazily(problem) is None


# --------------------------------------------------------------------------
# matrices too large to read


def layer(tmp_path: Path) -> Path:
    """2 channels of 12×12, 3 filters of 3×3, padding 1: Z is 3×12×12; every value
    has a finite decimal (sse), which the JSON writes exactly."""
    rng = random.Random(7)

    def grid(shape: tuple[int, ...], low: int, high: int, scale: int) -> Any:
        if len(shape) == 1:
            return [rng.randint(low, high) / scale for _ in range(shape[0])]
        return [grid(shape[1:], low, high, scale) for _ in range(shape[0])]

    data = {"input": grid((2, 12, 12), 0, 99, 100), "filter": grid((3, 2, 3, 3), -20, 20, 100),
            "bias": grid((3,), -5, 5, 10), "target": grid((3, 12, 12), -10, 10, 10),
            "loss": "sse", "padding": 1, "learning_rate": 0.5}
    path = tmp_path / "layer.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def lowered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(derivation_builder, "MATRIX_ENTRIES", LIMIT)


def step_blocks(derivation: Derivation, key: str) -> list[Any]:
    return next(list(step.blocks) for step in derivation.steps if step.key == key)


def test_a_large_quantity_is_its_first_rows_and_columns_and_a_note(
        tmp_path: Path, lowered: None) -> None:
    derivation = cnnstep.solve(layer(tmp_path)).derivation()
    blocks = step_blocks(derivation, "forward")
    note = blocks[-1]
    assert isinstance(note, Elided)
    assert (note.shape, note.rows, note.columns, note.shown, note.count) == (
        (3, 12, 12), 10, 10, 2, 3)
    shown = [block for block in blocks if isinstance(block, Matrix)]
    assert [m.values.shape for m in shown] == [(10, 10), (10, 10)]
    assert all(isinstance(m.values, np.ndarray) for m in shown)
    # many small matrices: the first two of them, whole
    filters = [b for b in step_blocks(derivation, "given") if isinstance(b, Elided)][1]
    assert (filters.shape, filters.rows, filters.columns, filters.shown, filters.count) == (
        (3, 2, 3, 3), 3, 3, 2, 6)


def test_the_padded_input_keeps_its_labels_when_cut(tmp_path: Path, lowered: None) -> None:
    derivation = cnnstep.solve(layer(tmp_path)).derivation()
    padded = next(b for b in step_blocks(derivation, "padding") if isinstance(b, Matrix))
    assert padded.values.shape == (10, 10)
    labels = [padded.index_label(0, i, 1) for i in range(10)]
    assert labels == ["·", *map(str, range(1, 10))]
    assert padded.values[0, 0] == 0 and padded.is_filler(0, 3) and not padded.is_filler(1, 1)


def test_the_entries_shown_are_the_json_results(tmp_path: Path, lowered: None) -> None:
    worked = cnnstep.solve(layer(tmp_path))
    derivation = worked.derivation()
    run = invoke("solve", tmp_path / "layer.json", "--format", "json")
    assert run.returncode == 0
    result = json.loads(run.stdout, parse_float=Fraction)
    for step, key in (("forward", "output"), ("grad_output", "grad_output"),
                      ("grad_input", "grad_input")):
        matrices = [b for b in step_blocks(derivation, step) if isinstance(b, Matrix)
                    and b.values.shape == (10, 10) and not b.bordered]
        assert len(matrices) == 2, step
        for slice_, matrix in enumerate(matrices):
            expected = [[Fraction(v) for v in row[:10]] for row in result[key][slice_][:10]]
            assert matrix.values.tolist() == expected, (key, slice_)


@pytest.mark.parametrize(("fmt", "words"), [
    ("text", "3×12×12 entries, too many to read here: the first 10 rows and 10 columns of "
             "the first 2 of its 3 matrices are shown, the rest in --format json or with "
             "--max-terms 0."),
    ("markdown", r"*$3\times 12\times 12$ entries, too many to read here: the first 10 rows "
                 "and 10 columns of the first 2 of its 3 matrices are shown, the rest in "
                 "`--format json` or with `--max-terms 0`.*"),
    ("latex", r"\emph{$3\times 12\times 12$ entries, too many to read here: the first 10 rows "
              "and 10 columns of the first 2 of its 3 matrices are shown, the rest in "
              r"\texttt{-{}-{}format json} or with \texttt{-{}-{}max-{}terms 0}.}"),
    ("html", '<p class="note">3×12×12 entries, too many to read here: the first 10 rows and '
             "10 columns of the first 2 of its 3 matrices are shown, the rest in "
             "<code>--format json</code> or with <code>--max-terms 0</code>.</p>"),
])
def test_every_format_says_what_it_left_out(tmp_path: Path, lowered: None, fmt: str,
                                            words: str) -> None:
    run = invoke("solve", layer(tmp_path), "--format", fmt, "--width", "200")
    assert run.returncode == 0
    assert words in run.stdout


def test_without_a_term_limit_every_entry_is_shown(tmp_path: Path, lowered: None) -> None:
    derivation = cnnstep.solve(layer(tmp_path)).derivation(max_terms=0, detail="answers")
    assert not any(isinstance(b, Elided) for step in derivation.steps for b in step.blocks)
    shown = [b for b in step_blocks(derivation, "forward") if isinstance(b, Matrix)]
    assert [m.values.shape for m in shown] == [(12, 12)] * 3
    run = invoke("solve", layer(tmp_path), "--max-terms", "0", "--detail", "answers")
    assert run.returncode == 0
    assert "too many to read" not in run.stdout


def test_the_library_says_where_the_rest_is(tmp_path: Path, lowered: None) -> None:
    text = cnnstep.solve(layer(tmp_path)).to_text(width=200)
    assert ("of the first 2 of its 3 matrices are shown; the result holds every entry."
            in text)


def test_nodes_made_when_read_print_the_same(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A large layer's symbols and number nodes are made as they are read: the same
    derivation as when they are made at once."""
    path = layer(tmp_path)
    at_once = cnnstep.solve(path).to_text(width=100)
    monkeypatch.setattr(numeric, "NODES_MADE_WHOLE", 0)
    assert cnnstep.solve(path).to_text(width=100) == at_once
