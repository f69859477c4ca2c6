"""Every number printed in the seeds, reproduced exactly (Fractions, exact decimals)."""

from __future__ import annotations

import decimal
import json
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from helpers import NO_SHARED, SAMPLES, SHARED, dec, invoke
from oracle import fr

from cnnstep.engine import solve
from cnnstep.problem import load_problem, parse_problem
from cnnstep.result import result

SEED000 = SAMPLES / "seed000-filter-update.json"
SEED001_STRIDE1 = SAMPLES / "seed001-stride1.json"
SEED001_STRIDE2 = SAMPLES / "seed001-stride2.json"

# seed 000_f5fe4bbf4b71c164.txt, steps 1–4, and the format's example result
SEED000_RESULT = {
    "output": [["1.6", "2.9"], ["1.5", "1.2"]],
    "loss": "0.365",
    "grad_output": [["0.3", "0.45"], ["-0.25", "0.1"]],
    "grad_filter": [["1.3", "1.0"], ["0.05", "0.95"]],
    "grad_input": [
        ["0.15", "0.285", "0.09"], ["-0.035", "0.345", "0.335"], ["-0.075", "-0.145", "0.07"]
    ],
    "updated_filter": [["0.37", "0.10"], ["0.295", "0.605"]],
}

# seed 001_a2a0d12a40990eef.txt: "Stride 1 output" and "Stride 2 output"
SEED001_STRIDE1_OUTPUT = [[9, -9, 7], [2, 5, 6], [-7, 9, -10]]
SEED001_STRIDE2_OUTPUT = [[9, 7], [-7, -10]]


def solved(path: Path) -> dict[str, Any]:
    return result(solve(load_problem(path)))


def cli_json(path: Path) -> tuple[dict[str, Any], str]:
    run = invoke("solve", path, "--format", "json")
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    return json.loads(run.stdout, parse_float=decimal.Decimal), run.stdout


# --------------------------------------------------------------------------
# seed 000 through the Python API


def test_seed000_forward_pass() -> None:
    assert solved(SEED000)["output"] == fr([["1.6", "2.9"], ["1.5", "1.2"]])


def test_seed000_each_output_entry_as_the_seed_sums_it() -> None:
    # Output(0,0) = 1×0.5 + 2×0.2 + 0×0.3 + 1×0.7 = 1.6, and so on
    half, fifth, three, seven = fr(["0.5", "0.2", "0.3", "0.7"])
    sums = [
        [1 * half + 2 * fifth + 0 * three + 1 * seven,
         2 * half + 1 * fifth + 1 * three + 2 * seven],
        [0 * half + 1 * fifth + 2 * three + 1 * seven,
         1 * half + 2 * fifth + 1 * three + 0 * seven],
    ]
    assert solved(SEED000)["output"] == sums


def test_seed000_mse_loss() -> None:
    values = solved(SEED000)
    assert values["loss"] == Fraction("0.365")
    assert values["loss"] == Fraction(1, 4) * fr("1.46")
    assert isinstance(values["loss"], Fraction)


def test_seed000_grad_output() -> None:
    assert solved(SEED000)["grad_output"] == fr([["0.3", "0.45"], ["-0.25", "0.1"]])


def test_seed000_grad_filter() -> None:
    assert solved(SEED000)["grad_filter"] == fr([["1.3", "1.0"], ["0.05", "0.95"]])


def test_seed000_updated_filter() -> None:
    updated = solved(SEED000)["updated_filter"]
    assert updated == fr([["0.37", "0.10"], ["0.295", "0.605"]])
    assert updated[1][0] == Fraction(59, 200)


def test_seed000_grad_input_of_the_format_example() -> None:
    assert solved(SEED000)["grad_input"] == fr(SEED000_RESULT["grad_input"])


def test_seed000_whole_result_exactly() -> None:
    values = solved(SEED000)
    assert values == {key: fr(value) for key, value in SEED000_RESULT.items()}
    for value in values.values():
        items = value if isinstance(value, list) else [[value]]
        assert all(type(v) is Fraction for row in items for v in row)


def test_seed000_notation_changes_no_number() -> None:
    data = json.loads(SEED000.read_text())
    assert data.pop("notation")
    assert result(solve(parse_problem(json.dumps(data)))) == solved(SEED000)


# --------------------------------------------------------------------------
# seed 000 through the command line


def test_seed000_cli_json_is_exact() -> None:
    values, _ = cli_json(SEED000)
    assert values == {key: dec(value) for key, value in SEED000_RESULT.items()}
    assert list(values) == list(SEED000_RESULT)


def test_seed000_cli_json_has_no_float_noise() -> None:
    _, text = cli_json(SEED000)
    assert "0.295" in text
    assert "0.29500000000000004" not in text
    # every number literal is the short exact decimal: no run of 0s or 9s from binary floats
    for literal in re.findall(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", text):
        assert "0000" not in literal and "9999" not in literal, literal
        assert len(literal.lstrip("-").replace(".", "")) <= 5, literal


def test_seed000_cli_json_numbers_are_numbers_not_strings() -> None:
    _, text = cli_json(SEED000)
    plain = json.loads(text)
    assert plain["loss"] == 0.365
    assert plain["updated_filter"] == [[0.37, 0.1], [0.295, 0.605]]


def test_seed000_cli_text_summary_shows_the_exact_values() -> None:
    run = invoke("solve", SEED000)
    assert run.returncode == 0, run.stderr
    # the text layout is free; the exact values must be in it
    for shown in ("1.6", "2.9", "0.365", "0.295", "0.605"):
        assert shown in run.stdout
    assert "0.29500000000000004" not in run.stdout


# --------------------------------------------------------------------------
# seed 001


def test_seed001_stride1_output() -> None:
    assert solved(SEED001_STRIDE1) == {"output": fr(SEED001_STRIDE1_OUTPUT)}


def test_seed001_stride2_output() -> None:
    assert solved(SEED001_STRIDE2)["output"] == fr(SEED001_STRIDE2_OUTPUT)


def test_seed001_stride2_drops_the_intermediates_of_stride1() -> None:
    stride1 = solved(SEED001_STRIDE1)["output"]
    stride2 = solved(SEED001_STRIDE2)["output"]
    assert stride2 == [row[::2] for row in stride1[::2]]


def test_seed001_first_entry_by_hand() -> None:
    # Z_11 = Σ A·W + b over the top-left 3×3 window
    a = [[0, 2, -3], [-2, -2, -2], [-3, -3, 2]]
    w = [[-1, 0, -2], [1, 1, -1], [-1, -1, 0]]
    z11 = sum(a[m][n] * w[m][n] for m in range(3) for n in range(3)) - 1
    assert z11 == 9 == solved(SEED001_STRIDE1)["output"][0][0]


@pytest.mark.parametrize(
    ("path", "expected"),
    [(SEED001_STRIDE1, SEED001_STRIDE1_OUTPUT), (SEED001_STRIDE2, SEED001_STRIDE2_OUTPUT)],
)
def test_seed001_cli_json(path: Path, expected: list[list[int]]) -> None:
    values, _ = cli_json(path)
    assert values["output"] == expected
    assert all(type(v) is int for row in values["output"] for v in row)


def test_seed001_stride2_gradients_by_the_naive_chain_rule() -> None:
    """The stride-2 sample also has a target: its gradients match the chain rule."""
    from oracle import naive_backward, naive_forward, naive_grad_output, naive_loss

    data = json.loads(SEED001_STRIDE2.read_text())
    x, k, b = fr([data["input"]]), fr([[data["filter"]]]), [Fraction(data["bias"])]
    y = fr([data["target"]])
    z = naive_forward(x, k, b, (2, 2), (0, 0))
    dz = naive_grad_output(z, y, "mse")
    dk, dx, db = naive_backward(x, k, dz, (2, 2), (0, 0))
    values = solved(SEED001_STRIDE2)
    assert values["loss"] == naive_loss(z, y, "mse") == Fraction(1 + 0 + 1 + 0, 4)
    assert values["grad_output"] == dz[0] == fr([["0.5", 0], ["-0.5", 0]])
    assert values["grad_filter"] == dk[0][0]
    assert values["grad_input"] == dx[0]
    assert values["grad_bias"] == db[0] == 0
    assert values["updated_bias"] == -1
    assert values["updated_filter"] == [
        [kv - Fraction(1, 100) * g for kv, g in zip(kr, gr, strict=True)]
        for kr, gr in zip(k[0][0], dk[0][0], strict=True)
    ]


# --------------------------------------------------------------------------
# the shared contract and seed cases


def _needs_shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(NO_SHARED)
    return SHARED


def _json_blocks(markdown: str) -> list[str]:
    return re.findall(r"```json\n(.*?)```", markdown, flags=re.DOTALL)


def test_format_example_problem_and_result_from_the_contract(tmp_path: Path) -> None:
    """The problem-format's own example, run through the CLI, gives its result exactly."""
    shared = _needs_shared()
    blocks = _json_blocks((shared / "problem-format.md").read_text(encoding="utf-8"))
    problem_text, result_text = blocks[0], blocks[1]
    assert '"input"' in problem_text and '"output"' in result_text
    path = tmp_path / "example.json"
    path.write_text(problem_text, encoding="utf-8")
    values, _ = cli_json(path)
    assert values == json.loads(result_text, parse_float=decimal.Decimal)


def test_shared_seed_cases_match_exactly() -> None:
    cases = sorted((_needs_shared() / "seed-cases").glob("*.problem.json"))
    assert len(cases) >= 3
    for problem in cases:
        expected_path = problem.with_name(problem.name.replace(".problem.", ".expected."))
        expected = json.loads(expected_path.read_text(), parse_float=decimal.Decimal)
        values, _ = cli_json(problem)
        for key, value in expected.items():
            assert values[key] == value, (problem.name, key)
