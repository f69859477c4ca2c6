"""Training steps (``steps``): the history and the final loss, against the naive
oracle looped step by step, against PyTorch's SGD, and by hand on seed 000."""

from __future__ import annotations

import json
from copy import deepcopy
from fractions import Fraction
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import oracle
import pytest
from helpers import Case, cases, invoke
from hypothesis import given, settings
from oracle import flatten, naive_layer, spec_from_data

import cnnstep

SAMPLE = Path(__file__).resolve().parents[1] / "cnnstep" / "samples" / "training-three-steps.json"
SEED000 = json.loads(SAMPLE.read_text(encoding="utf-8"))


def trained(data: dict[str, Any], steps: int) -> tuple[list[tuple[Fraction, list[Fraction]]],
                                                       Fraction]:
    """The oracle's training: each step's loss and its updated weights (filter then
    bias, flat), and the loss after the last update."""
    spec = spec_from_data(data)
    rows = []
    for _ in range(steps):
        out = naive_layer(spec)
        bias = out.get("updated_bias", [])
        rows.append((out["loss"], [*flatten(out["updated_filter"]), *flatten(bias)]))
        spec.k = out["updated_filter"]
        if spec.b is not None:
            spec.b = out["updated_bias"]
    return rows, naive_layer(spec)["loss"]


def history_rows(result: dict[str, Any]) -> list[tuple[Fraction, list[Fraction]]]:
    return [(step["loss"], [*flatten(step["updated_filter"]),
                            *flatten(step.get("updated_bias", []))])
            for step in result["history"]]


@settings(max_examples=25, deadline=None)
@given(case=cases(modes=("target",), max_side=4))
def test_history_equals_the_naive_oracle_step_by_step(case: Case) -> None:
    data = deepcopy(case.data)
    data.setdefault("learning_rate", "0.1")
    data["steps"] = 3
    result = cnnstep.solve(data).result
    rows, final = trained(data, 3)
    assert history_rows(result) == rows
    assert result["final_loss"] == final
    assert [step["step"] for step in result["history"]] == [1, 2, 3]
    # the result's own keys are step 1's
    assert result["loss"] == rows[0][0]
    assert flatten(result["updated_filter"]) == rows[0][1][: len(flatten(
        result["updated_filter"]))]


def test_seed000_by_hand() -> None:
    """Step 2 starts from W = [[0.37, 0.1], [0.295, 0.605]]: Output = [[1.175, 2.345],
    [1.295, 0.865]], errors 0.175, 0.345, −0.705, −0.135, and the loss is
    (0.030625 + 0.119025 + 0.497025 + 0.018225)/4 = 0.166225."""
    result = cnnstep.solve(SAMPLE).result
    history = result["history"]
    assert [step["loss"] for step in history] == [
        Fraction("0.365"), Fraction("0.166225"), Fraction("0.119058875")]
    assert history[0]["updated_filter"] == result["updated_filter"]
    # step 2's gradient: (2/4)·corr(I, errors) = [[0.1665, −0.14], [−0.6, 0.08]]
    assert history[1]["updated_filter"] == [[Fraction("0.3335"), Fraction("0.114")],
                                            [Fraction("0.355"), Fraction("0.597")]]
    assert result["final_loss"] == Fraction("0.085887656875")
    assert "updated_bias" not in history[0]


def test_json_prints_the_history_exactly() -> None:
    run = invoke("solve", "--sample", "training-three", "--format", "json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["history"][1] == {"step": 2, "loss": 0.166225,
                                  "updated_filter": [[0.3335, 0.114], [0.355, 0.597]]}
    assert '"final_loss": 0.085887656875' in run.stdout


def test_bias_is_updated_at_every_step() -> None:
    data = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "bias": 0.25,
            "target": [[1, 1], [2, 2]], "learning_rate": "0.05", "steps": 2}
    result = cnnstep.solve(data).result
    rows, final = trained(data, 2)
    assert history_rows(result) == rows
    assert result["final_loss"] == final
    assert isinstance(result["history"][1]["updated_bias"], Fraction)


@pytest.mark.parametrize(("change", "message"), [
    ({"target": None, "loss": None}, "steps: training steps need a target and a learning_rate; the "
                       "problem has no target"),
    ({"learning_rate": None}, "steps: training steps need a target and a learning_rate; "
                              "the problem has no learning_rate"),
    ({"steps": 0}, "steps: expected an integer ≥ 1, got 0"),
    ({"steps": 1.5}, "steps: expected an integer ≥ 1, got 1.5"),
    ({"steps": "2"}, 'steps: expected an integer ≥ 1, got "2"'),
    ({"steps": [2]}, "steps: expected an integer ≥ 1, got [2]"),
])
def test_bad_steps_are_one_line_naming_the_key(tmp_path: Path, change: dict[str, Any],
                                               message: str) -> None:
    data = {key: value for key, value in {**SEED000, **change}.items() if value is not None}
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    run = invoke("solve", path)
    assert run.returncode == 2
    assert run.stderr.strip() == f"cnnstep: error: {path}: {message}"


def test_a_huge_number_of_steps_is_refused_before_any_work(tmp_path: Path) -> None:
    path = tmp_path / "problem.json"
    path.write_text(json.dumps({**SEED000, "steps": 10**12}), encoding="utf-8")
    for command in (("solve", path, "-f", "json"), ("solve", path), ("check", path)):
        run = invoke(*command)
        assert run.returncode == 2, run.stderr
        assert run.stderr.count("\n") == 1
        assert "1000000000000 training steps needs" in run.stderr
        assert "over the limit of 1e8" in run.stderr


def test_digit_growth_is_bounded_by_the_estimate() -> None:
    """The estimate's bound on the weights' digits holds after many steps."""
    from dataclasses import replace

    from cnnstep import budget
    from cnnstep.problem import load_problem

    problem = replace(load_problem(SAMPLE), steps=60)
    result = cnnstep.solve(problem).result
    last = result["history"][-1]["updated_filter"][1][1]
    bound = budget.growth(problem).at(61)[0]
    assert last.denominator.bit_length() <= bound.denominator + 1
    assert abs(last.numerator).bit_length() <= bound.numerator


def test_symbolic_is_refused_for_several_steps() -> None:
    run = invoke("solve", "--sample", "training-three", "--symbolic")
    assert run.returncode == 2
    assert "steps: the symbolic formulas are the same at every training step" in run.stderr


def test_derivation_shows_every_step_in_full_and_the_table_otherwise() -> None:
    worked = cnnstep.solve(SAMPLE)
    full = worked.to_text(width=100)
    assert "Forward pass (training step 2 of 3)" in full
    assert "Update (training step 3 of 3)" in full
    assert "Loss (after training step 3)" in full
    assert "Lossfinal = 0.085887656875" in full
    for detail in ("brief", "answers"):
        text = worked.to_text(width=100, detail=detail)  # type: ignore[arg-type]
        assert "training step 2 of 3" not in text
        row = next(line for line in text.splitlines() if line.startswith("│    2 │"))
        assert [cell.strip() for cell in row.split("│")[2:4]] == ["0.166225", "0.3335"]
        assert "Lossfinal = 0.085887656875" in text
    only = worked.to_text(width=100, only=["final_loss"])
    assert "Forward pass" not in only and "0.119058875" in only


def test_check_marks_history_and_final_loss() -> None:
    answers = {"final_loss": "0.085887656875",
               "history": [{"step": 1, "loss": 0.365}, {"loss": 0.17},
                           {"step": 3, "loss": 0.2, "updated_filter": None}]}
    report = cnnstep.check(SAMPLE, answers)
    history = report.marked("history")
    final = report.marked("final_loss")
    assert final is not None and final.correct
    assert history is not None and (history.right, history.answered) == (2, 3)
    assert [m.index for m in history.mismatches] == [(2, 0)]
    assert report.wrong_entries() == ["history"]


def test_check_refuses_a_history_of_the_wrong_length() -> None:
    with pytest.raises(cnnstep.ProblemError, match="history: expected a list of 3 objects"):
        cnnstep.check(SAMPLE, {"history": [{"loss": 0.365}]})
    with pytest.raises(cnnstep.ProblemError, match=r"history\[1\].step: expected 2"):
        cnnstep.check(SAMPLE, {"history": [None, {"step": 3}, None]})


def test_verify_checks_the_history_by_direct_differentiation() -> None:
    run = invoke("solve", "--sample", "training-three", "--verify")
    assert run.returncode == 0, run.stderr
    assert "history: verified by direct differentiation at every step (15 entries)" in run.stdout
    assert "Loss after training: verified" in run.stdout


def test_schema_has_steps() -> None:
    from cnnstep.schema import schema

    made = schema()
    assert made["properties"]["steps"]["minimum"] == 1
    assert "history" in made["properties"]["answers"]["properties"]


@pytest.mark.skipif(find_spec("torch") is None, reason="PyTorch is not installed")
@settings(max_examples=10, deadline=None)
@given(case=cases(modes=("target",), max_side=4))
def test_history_agrees_with_pytorch_sgd(case: Case) -> None:
    import torch

    data = deepcopy(case.data)
    data.setdefault("learning_rate", "0.1")
    data["steps"] = 3
    result = cnnstep.solve(data).result
    spec = spec_from_data(data)
    x = torch.tensor(oracle.floats(spec.x), dtype=torch.float64).unsqueeze(0)
    k = torch.tensor(oracle.floats(spec.k), dtype=torch.float64, requires_grad=True)
    b = (torch.tensor(oracle.floats(spec.b), dtype=torch.float64, requires_grad=True)
         if spec.b is not None else None)
    y = torch.tensor(oracle.floats(spec.y), dtype=torch.float64).unsqueeze(0)
    rate = float(spec.lr or 0)
    optimizer = torch.optim.SGD([k] + ([b] if b is not None else []), lr=rate)

    def loss() -> Any:
        z = torch.nn.functional.conv2d(x, k, b, stride=spec.stride, padding=spec.padding)
        squared = ((z - y) ** 2).sum()
        return {"mse": squared / z.numel(), "sse": squared, "half_sse": squared / 2}[spec.loss]

    for step in result["history"]:
        optimizer.zero_grad()
        value = loss()
        value.backward()
        optimizer.step()
        assert float(step["loss"]) == pytest.approx(value.item(), rel=1e-9, abs=1e-9)
        assert [float(v) for v in flatten(step["updated_filter"])] == pytest.approx(
            k.detach().flatten().tolist(), rel=1e-9, abs=1e-9)
    with torch.no_grad():
        assert float(result["final_loss"]) == pytest.approx(loss().item(), rel=1e-9, abs=1e-9)
