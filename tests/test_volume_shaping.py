"""A 3-D layer's derivation cut down: ``--detail``, ``--only`` and ``--max-terms``."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from helpers import SAMPLES, assert_one_line_error, invoke

import cnnstep
from cnnstep.derivation import Derivation, Equation, Matrix, Omitted, Text
from cnnstep.problem import ProblemError

SMALL = cnnstep.sample("conv3d-small")
#: two channels, two filters, padding along the rows
TWO = {"dimensions": 3,
       "input": [[[[1, 2], [0, 1]], [[1, 0], [2, 1]]], [[[0, 1], [1, 1]], [[2, 0], [1, -1]]]],
       "filter": [[[[[1]], [[2]]], [[[-1]], [["0.5"]]]], [[[[0]], [[1]]], [[[1]], [[1]]]]],
       "bias": [1, 0], "padding": [0, 1, 0],
       "target": [[[[1, 2], [0, 1], [1, 1], [0, 0]]], [[[1, 0], [-1, 1], [0, 0], [1, 1]]]]}


def derived(problem: Any, **shaping: Any) -> Derivation:
    worked = cnnstep.solve(problem)
    assert isinstance(worked, cnnstep.WorkedVolume)
    return worked.derivation(**shaping)


def equations(made: Derivation, key: str | None = None) -> list[Equation]:
    return [block for step in made.steps for block in step.blocks
            if isinstance(block, Equation) and block.entry
            and (key is None or block.entry[0] == key)]


def test_brief_works_one_entry_of_each_quantity() -> None:
    made = derived(SMALL, detail="brief")
    whole = derived(SMALL)
    for key in ("output", "grad_output", "grad_filter", "grad_input", "updated_filter"):
        assert len(equations(made, key)) == 1, key
        first, again = equations(made, key)[0], equations(whole, key)[0]
        assert (first.entry, first.value, first.forms) == (again.entry, again.value,
                                                           again.forms)
    texts = [" ".join(part for part in block.parts if isinstance(part, str))
             for step in made.steps for block in step.blocks if isinstance(block, Text)]
    assert "The other 7 output entries are worked out the same way." in texts
    assert "The other 26 entries of ∂L/∂X are worked out the same way." in texts
    assert [s.key for s in made.steps] == [s.key for s in whole.steps]


def test_answers_are_the_givens_and_the_results() -> None:
    made = derived(SMALL, detail="answers")
    assert [s.key for s in made.steps] == ["given", "forward", "loss", "grad_output",
                                           "grad_filter", "grad_bias", "grad_input", "update"]
    values = {e.entry[0]: e.value for e in equations(made) if e.entry}
    assert values == {"loss": Fraction(95, 32), "grad_bias": Fraction(25, 8),
                      "updated_bias": Fraction(3, 16)}
    assert all(not e.forms for e in equations(made))
    forward = next(s for s in made.steps if s.key == "forward")
    assert all(isinstance(block, Matrix) for block in forward.blocks)


def test_only_a_quantity_brings_the_steps_it_rests_on() -> None:
    made = derived(SMALL, only=["grad_bias"])
    assert [s.key for s in made.steps] == ["given", "shapes", "forward", "loss", "grad_output",
                                           "grad_bias"]
    assert [s.key for s in derived(SMALL, only=["update"]).steps] == ["given", "update"]


def test_only_an_entry_is_its_equation_after_its_step_s_rule() -> None:
    made = derived(TWO, only=["grad_input[1][1][0][1]", "output[1][0][2][1]"])
    assert [s.key for s in made.steps] == ["given", "forward", "grad_input"]
    chosen = equations(made)
    assert [e.entry for e in chosen] == [("output", (1, 0, 2, 1)), ("grad_input", (1, 1, 0, 1))]
    result = cnnstep.solve(TWO).result
    assert chosen[0].value == result["output"][1][0][2][1]
    assert chosen[1].value == result["grad_input"][1][1][0][1]
    step = next(s for s in made.steps if s.key == "grad_input")
    assert not any(isinstance(block, Matrix) and "grad_input" in str(block.label)
                   for block in step.blocks)


@pytest.mark.parametrize("only", ["grad_input[3][0][0]", "grad_input[0][0]", "grad_x",
                                  "history", "output[a][0][0]"])
def test_bad_selections_name_themselves(only: str) -> None:
    with pytest.raises(ProblemError, match=r"--only " + only.replace("[", r"\[")):
        derived(SMALL, only=[only])


def test_max_terms_shares_the_products_and_says_what_it_left_out() -> None:
    made = derived(SMALL, max_terms=40)
    assert made.shortened
    left = [block for step in made.steps for block in step.blocks
            if isinstance(block, Omitted)]
    assert {block.what for block in left} >= {"output entries", "entries of ∂L/∂X"}
    shown = equations(made)
    assert sum(e.terms for e in shown if e.entry and e.entry[0] != "loss") < 120
    for block in left:  # each note names an entry that --only works out
        again = equations(derived(SMALL, only=[block.example]))
        assert len(again) == 1
    assert not derived(SMALL, max_terms=0).shortened
    assert not derived(SMALL).shortened  # within the default limit


def test_the_command_takes_the_options(tmp_path: Path) -> None:
    run = invoke("solve", SAMPLES / "conv3d-small.json", "--detail", "brief", "--format",
                 "markdown")
    assert run.returncode == 0, run.stderr
    assert "The other 7 output entries are worked out the same way." in run.stdout
    run = invoke("solve", "--sample", "conv3d-small", "--only", "grad_bias", "--format",
                 "latex")
    assert run.returncode == 0 and "Gradient with respect to the input" not in run.stdout
    path = tmp_path / "two.json"
    path.write_text(json.dumps(TWO))
    assert_one_line_error(invoke("solve", path, "--only", "grad_input[2][0][0][0]"),
                          "two.json", "--only grad_input[2][0][0][0]", "[2][2][2][2]")


POOLED = {"dimensions": 3, "input": [[[1, 2, 0], [0, 1, 3]], [[1, 0, 2], [2, 1, -1]]],
          "filter": [[[1]]], "bias": "0.5", "activation": "relu",
          "pool": {"type": "max", "size": [1, 2, 2], "stride": 1},
          "target": [[[1, 0]], [[0, 1]]], "learning_rate": "0.1"}


def test_brief_names_the_pool_and_its_gradients() -> None:
    text = cnnstep.solve(POOLED).to_text(width=100, detail="brief")
    for name in ("P", "∂L/∂P", "∂L/∂A"):
        assert f"The other 3 entries of {name} are" in text or \
            f"The other 11 entries of {name} are" in text, name
