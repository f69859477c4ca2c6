"""How much of the working is shown: ``--detail`` and ``--only``.

* ``full`` works out every entry, ``brief`` one entry of each step with the
  step's rule and its matrices, ``answers`` the givens and the results alone;
* ``--only`` takes a whole quantity (with the givens and every step it rests
  on), an entry (alone) or a step (in full), through the
  :class:`~cnnstep.quantities.Selection` an exercise's questions can reuse.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import SAMPLES, invoke, worked_samples

import cnnstep
from cnnstep.derivation import DETAILS, Derivation, Equation, Matrix, Omitted, Text, Whole
from cnnstep.problem import problem_from_data
from cnnstep.quantities import (
    STEPS,
    Selection,
    SelectionError,
    present,
    problem_steps,
)

NUMERIC = [p for p in worked_samples() if not p.name.startswith("symbolic-")]
SEED000 = SAMPLES / "seed000-filter-update.json"
WIDTH = 100

#: the matrices of the working, which only the full and brief derivations show
WORKING = {"padded_input", "spread_grad", "padded_grad", "grad_padded_input"}


def worked_keys(derivation: Derivation) -> dict[str, int]:
    counts: dict[str, int] = {}
    for eq in derivation.equations():
        if eq.entry is not None and eq.forms:
            counts[eq.entry[0]] = counts.get(eq.entry[0], 0) + 1
    return counts


def step_titles(text: str) -> list[str]:
    return [line.split(" ─")[0] for line in text.splitlines()
            if line.startswith(("Step ", "Given ─"))]


# --------------------------------------------------------------------------
# detail


def test_cli_details_are_the_derivations() -> None:
    from cnnstep.cli import Detail

    assert tuple(d.value for d in Detail) == DETAILS


@pytest.mark.parametrize("sample", NUMERIC, ids=lambda p: p.stem)
def test_brief_works_out_one_entry_of_each_step(sample: Path) -> None:
    worked = cnnstep.solve(sample)
    if worked.problem.steps > 1:
        pytest.skip("training: brief works step 1 and tables the rest (test_steps.py)")
    if worked.problem.batch:
        pytest.skip("a batch: brief works one entry of each image's steps (test_batch.py)")
    full, brief = worked.derivation(), worked.derivation(detail="brief")
    assert not full.shortened
    assert set(worked_keys(brief)) == set(worked_keys(full))
    assert all(n == 1 for n in worked_keys(brief).values()), worked_keys(brief)
    # the same steps, each with its results, and no note of entries left out for length
    assert [s.key for s in brief.steps] == [s.key for s in full.steps]
    for step in full.steps:
        mine = next(s for s in brief.steps if s.key == step.key)
        assert [b.label for b in mine.blocks if isinstance(b, Matrix)] == [
            b.label for b in step.blocks if isinstance(b, Matrix)], step.key
    assert not any(isinstance(b, Omitted) for s in brief.steps for b in s.blocks)


@pytest.mark.parametrize("sample", NUMERIC, ids=lambda p: p.stem)
def test_answers_are_the_givens_and_the_results(sample: Path) -> None:
    worked = cnnstep.solve(sample)
    answers = worked.derivation(detail="answers")
    assert answers.steps[0].key == "given"
    labels = set()
    for step in answers.steps:
        for block in step.blocks:
            if isinstance(block, Equation):
                assert not block.forms, (step.key, block.lhs)  # a value, never working
            elif isinstance(block, Text):
                assert step.key == "given", step.key  # no prose
            else:
                assert not isinstance(block, Omitted)
                if isinstance(block, Matrix):
                    labels.update(p.role for p in block.label if isinstance(p, Whole))
    assert not labels & WORKING, labels & WORKING
    # every result of the problem is there, as a matrix or a value
    values = {eq.entry[0] for eq in answers.equations() if eq.entry is not None}
    if "loss" in present(worked.problem):
        assert "loss" in values
    # a layer alone has no filter
    assert ({"filter", "input"} if worked.problem.layer.convolution else {"input"}) <= labels


def test_full_works_out_every_entry() -> None:
    derivation = cnnstep.solve(SEED000).derivation(detail="full")
    assert worked_keys(derivation) == {"output": 4, "loss": 1, "grad_output": 4,
                                       "grad_filter": 4, "grad_input": 9, "updated_filter": 4}


def test_detail_on_the_command_line() -> None:
    brief = invoke("solve", SEED000, "--detail", "brief", "--width", str(WIDTH))
    assert brief.returncode == 0, brief.stderr
    assert "The other 8 entries of ∂Loss/∂I are worked out the same way." in " ".join(
        brief.stdout.split())
    assert "= 0.3×0.7 + 0.45×0.3 + (−0.25)×0.2 + 0.1×0.5" in brief.stdout  # the fullest
    answers = invoke("solve", SEED000, "--detail", "answers", "--format", "markdown")
    assert answers.returncode == 0, answers.stderr
    assert "\\times" not in answers.stdout and "Loss = 0.365" not in answers.stdout
    assert "0.365" in answers.stdout and "| 1 | 0.295 | 0.605 |" in answers.stdout
    bad = invoke("solve", SEED000, "--detail", "some")
    assert bad.returncode == 2 and bad.stdout == ""
    refused = invoke("solve", SEED000, "--detail", "brief", "--format", "json")
    assert refused.returncode == 2
    assert refused.stderr.startswith("cnnstep: error: --detail shapes the worked derivation")


def test_detail_in_python() -> None:
    worked = cnnstep.solve(SEED000)
    assert worked.to_text(detail="brief") != worked.to_text()
    assert "Given" in worked.to_markdown(detail="answers")
    # I, W, Y; Output, ∂Loss/∂Output, ∂Loss/∂W, ∂Loss/∂I, Wnew
    assert worked.render("latex", detail="answers").count("\\begin{bmatrix}") == 8


# --------------------------------------------------------------------------
# --only: whole quantities, entries, steps


def test_only_a_whole_quantity_brings_the_steps_it_rests_on() -> None:
    run = invoke("solve", SEED000, "--only", "grad_filter", "--width", str(WIDTH))
    assert run.returncode == 0, run.stderr
    assert step_titles(run.stdout) == [
        "Given", "Step 1: Output size", "Step 2: Forward pass",
        "Step 3: Gradient of the loss with respect to the output",
        "Step 4: Gradient with respect to the kernel"]
    for entry in ("(0,0)", "(0,1)", "(1,0)", "(1,1)"):
        assert f"∂Loss/∂W{entry} =" in run.stdout
    assert "∂Loss/∂I" not in run.stdout and "new" not in run.stdout


def test_only_a_quantity_of_a_given_gradient_needs_no_forward_pass() -> None:
    run = invoke("solve", SAMPLES / "seed002-given-gradient.json", "--only", "grad_input",
                 "--width", str(WIDTH))
    assert run.returncode == 0, run.stderr
    assert step_titles(run.stdout) == ["Given", "Step 1: Gradient with respect to the input"]


def test_only_layers_and_updates() -> None:
    worked = cnnstep.solve(SAMPLES / "relu-maxpool.json")
    output = [s.key for s in worked.derivation(only=["output"]).steps]
    assert output == ["given", "shapes", "forward", "activation", "pool"]
    update = [s.key for s in worked.derivation(only=["updated_filter"]).steps]
    assert update[-2:] == ["grad_filter", "update"] and "grad_input" not in update
    alone = [s.key for s in worked.derivation(only=["pool", "pool_backward"]).steps]
    assert alone == ["given", "pool", "pool_backward"]


def _update_entries(derivation: Derivation) -> set[str]:
    """The result keys of the update step's worked equations and matrices."""
    step = next(s for s in derivation.steps if s.key == "update")
    keys = {b.entry[0] for b in step.blocks if isinstance(b, Equation) and b.entry}
    keys |= {part.role for b in step.blocks if isinstance(b, Matrix)
             for part in b.label if isinstance(part, Whole)}
    return keys


@pytest.mark.parametrize(("sample", "asked", "other"), [
    ("relu-maxpool", "updated_bias", "updated_filter"),
    ("seed001-stride2", "updated_filter", "updated_bias"),
])
def test_one_update_alone_leaves_out_the_other(sample: str, asked: str, other: str) -> None:
    """Asking for B's update does not work out K's, whose gradient is not shown."""
    worked = cnnstep.solve(SAMPLES / f"{sample}.json")
    derivation = worked.derivation(only=[asked])
    assert asked in _update_entries(derivation)
    assert other not in _update_entries(derivation)
    gradient = "grad_filter" if other == "updated_filter" else "grad_bias"
    assert gradient not in [s.key for s in derivation.steps]
    # with the update step asked by name, both are shown
    both = worked.derivation(only=["update"])
    assert {asked, other} <= _update_entries(both)


def test_only_mixes_quantities_entries_and_steps() -> None:
    derivation = cnnstep.solve(SEED000).derivation(
        only=["grad_filter", "grad_input[1][1]", "update"])
    keys = [s.key for s in derivation.steps]
    assert keys == ["given", "shapes", "forward", "grad_output", "grad_filter", "grad_input",
                    "update"]
    grad_input = next(s for s in derivation.steps if s.key == "grad_input")
    # the step's rule and rot180(K) first, then the one entry, and no result matrix
    assert [b.entry for b in grad_input.blocks if isinstance(b, Equation)] == [
        ("grad_input", (0, 1, 1))]
    assert isinstance(grad_input.blocks[-1], Equation)
    assert not any(isinstance(b, Matrix) and Whole("grad_input") in b.label
                   for b in grad_input.blocks)


def test_only_a_bad_step_or_key_is_one_line() -> None:
    for text, words in (("forwrd", "did you mean 'forward'?"),
                        ("spread", "this problem has no spread step"),
                        ("grad_filter[9][0]", "out of range")):
        run = invoke("solve", SEED000, "--only", text)
        assert run.returncode == 2, (text, run.stdout[-200:])
        message = run.stderr.strip()
        assert "\n" not in message and message.startswith(f"cnnstep: error: --only {text}:")
        assert words in message


def test_symbolic_only_a_whole_quantity() -> None:
    derivation = cnnstep.solve(SAMPLES / "symbolic-3x3-2x2.json").derivation(
        only=["grad_input"])
    keys = [s.key for s in derivation.steps]
    assert keys == ["shapes", "symbols", "grad_input"]
    assert sum(1 for eq in derivation.equations() if eq.entry) == 9


# --------------------------------------------------------------------------
# the selection itself, as an exercise's questions will use it


def _problem(name: str) -> cnnstep.problem.Problem:
    return problem_from_data(json.loads((SAMPLES / name).read_text(encoding="utf-8")))


def test_selection_parses_keys_entries_and_steps() -> None:
    problem = _problem("seed000-filter-update.json")
    selection = Selection.parse(["grad_filter", "grad_input[1][2]", "forward"], problem.layer,
                                present(problem), problem_steps(problem))
    assert selection.keys == {"grad_filter"}
    assert selection.entries == {("grad_input", (0, 1, 2))}
    assert selection.steps == {"forward"}
    assert selection.full_steps(problem) == {"given", "shapes", "forward", "grad_output",
                                             "grad_filter"}
    assert selection.entry_steps(problem) == {"grad_input"}
    with pytest.raises(SelectionError, match="give 2 indices"):
        Selection.parse(["grad_filter[0]"], problem.layer, present(problem))


def test_selection_with_context_brings_what_entries_rest_on() -> None:
    """An exercise's questions: an asked entry comes with the steps it rests on."""
    problem = _problem("relu-maxpool.json")
    asked = Selection.parse(["grad_input[1][1]"], problem.layer, present(problem),
                            context=True)
    assert asked.full_steps(problem) == {"given", "shapes", "forward", "activation", "pool",
                                         "grad_output", "pool_backward",
                                         "activation_backward"}
    assert asked.entry_steps(problem) == {"grad_input"}
    derivation = cnnstep.solve(problem).derivation(only=asked)
    assert [s.key for s in derivation.steps][-1] == "grad_input"
    assert sum(1 for eq in derivation.equations() if eq.entry
               and eq.entry[0] == "grad_input") == 1


@pytest.mark.parametrize("sample", NUMERIC, ids=lambda p: p.stem)
def test_the_steps_of_a_problem_are_the_derivations(sample: Path) -> None:
    problem = _problem(sample.name) if "answers" not in sample.name else None
    if problem is None:
        data = json.loads(sample.read_text(encoding="utf-8"))
        data.pop("answers")
        problem = problem_from_data(data)
    # training steps repeat the steps of the layer: each key in its first place
    derived = list(dict.fromkeys(s.key for s in cnnstep.solve(problem).derivation().steps))
    have = problem_steps(problem)
    # every step the derivation shows is one the problem has, in the registry's order
    assert derived == [s for s in have if s in derived]
    assert [s for s in have if s not in derived] in ([], ["grad_output"])  # given upstream
    assert list(STEPS) == sorted(STEPS, key=list(STEPS).index)
