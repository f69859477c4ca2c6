"""``cnnstep check``: marking a hand calculation against the format's "Checking answers".

The fixture answers files in ``tests/answers/`` make each listed mistake on
purpose; their numbers are recomputed here independently (nested loops from
``oracle``, sharing no code with ``cnnstep.engine``) before the CLI is asked
to name the mistake. The stride-2 problem's wrong answers are built the same
way at test time.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from helpers import SAMPLES, Result, invoke
from oracle import (
    flatten,
    fr,
    naive_backward,
    naive_forward,
    naive_grad_output,
    naive_loss,
    naive_padded,
    strip_axes,
    zeros,
)

from cnnstep.check import mark, read_answers
from cnnstep.engine import solve
from cnnstep.problem import load_problem, parse_json

ANSWERS = Path(__file__).resolve().parent / "answers"
SEED000 = SAMPLES / "seed000-filter-update.json"
SEED002 = SAMPLES / "seed002-given-gradient.json"
EXERCISE = SAMPLES / "exercise-with-answers.json"
STRIDE2 = ANSWERS / "stride2-problem.json"

def check(*args: str | Path) -> Result:
    """``cnnstep check ARGS``, run afresh each time."""
    return invoke("check", *args)


def report_of(*args: str | Path) -> tuple[int, Any]:
    """Exit status and the parsed ``--format json`` report (numbers as Decimals)."""
    run = check(*args, "--format", "json")
    assert run.returncode in (0, 1), run.stderr
    return run.returncode, json.loads(run.stdout, parse_float=Decimal, parse_int=Decimal)


def codes(report: dict[str, Any]) -> dict[str, str | None]:
    """quantity → diagnosis code (None when right or undiagnosed)."""
    return {key: (q["diagnosis"] or {}).get("code")
            for key, q in report["quantities"].items()}


def one_error_line(run: Result) -> str:
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert run.stdout == ""
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("cnnstep: error: ")
    return lines[0]


def write_answers(path: Path, answers: dict[str, Any]) -> Path:
    """Answers with Fractions spelled as exact fraction strings ("-3/7")."""
    def spell(value: Any) -> Any:
        if isinstance(value, list):
            return [spell(v) for v in value]
        if isinstance(value, Fraction):
            return f"{value.numerator}/{value.denominator}"
        return value

    path.write_text(json.dumps({k: spell(v) for k, v in answers.items()}), encoding="utf-8")
    return path


# --------------------------------------------------------------------------
# independent arithmetic


def problem_data(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def given_in(name: str) -> dict[str, Any]:
    """A fixture answers file's values as exact Fractions."""
    return {key: fr(value) for key, value in problem_data(ANSWERS / name).items()}


def rot180(k: Any) -> Any:
    """Every kernel of a [F][C][kh][kw] list turned by 180°."""
    return [[[row[::-1] for row in channel[::-1]] for channel in f] for f in k]


def swap_last(value: Any) -> Any:
    """The last two axes swapped (a matrix transposed)."""
    if isinstance(value[0][0], list):
        return [swap_last(v) for v in value]
    return [list(col) for col in zip(*value, strict=True)]


def scale(value: Any, factor: Fraction) -> Any:
    if isinstance(value, list):
        return [scale(v, factor) for v in value]
    return value * factor


def add(a: Any, b: Any) -> Any:
    if isinstance(a, list):
        return [add(x, y) for x, y in zip(a, b, strict=True)]
    return a + b


def scatter_input_gradient(x: Any, k: Any, dz: Any, stride: tuple[int, int],
                           padding: tuple[int, int]) -> Any:
    """dL/dX by scattering each dz[f][i][j]·K[f][c][m][n] onto Xpad[c][i·sh+m][j·sw+n]
    (entries that would fall outside the padded input are cut), then cropping."""
    xp = naive_padded(x, padding)
    sh, sw = stride
    ph, pw = padding
    hp, wp = len(xp[0]), len(xp[0][0])
    dxp = zeros(len(xp), hp, wp)
    for f in range(len(k)):
        for i in range(len(dz[f])):
            for j in range(len(dz[f][i])):
                for c in range(len(k[f])):
                    for m in range(len(k[f][c])):
                        for n in range(len(k[f][c][m])):
                            r, s = i * sh + m, j * sw + n
                            if r < hp and s < wp:
                                dxp[c][r][s] += dz[f][i][j] * k[f][c][m][n]
    height, width = len(x[0]), len(x[0][0])
    return [[row[pw : pw + width] for row in ch[ph : ph + height]] for ch in dxp]


def filter_gradient_stride1(x: Any, k: Any, dz: Any, padding: tuple[int, int]) -> Any:
    """dK[f][c][m][n] = Σ_i Σ_j Xpad[c][m+i][n+j]·dz[f][i][j]: the stride-1 formula."""
    xp = naive_padded(x, padding)
    return [[[[sum((xp[c][m + i][n + j] * dz[f][i][j]
                    for i in range(len(dz[f])) for j in range(len(dz[f][0]))), Fraction(0))
               for n in range(len(k[f][c][m]))]
              for m in range(len(k[f][c]))]
             for c in range(len(k[f]))]
            for f in range(len(k))]


class Layer:
    """A problem file read with helpers only, in the full layout, solved naively."""

    def __init__(self, path: Path) -> None:
        data = problem_data(path)
        x = fr(data["input"])
        self.x = x if isinstance(x[0][0], list) else [x]
        k = fr(data["filter"])
        self.k = {2: [[k]], 3: [k], 4: k}[len(_shape(k))]
        bias = data.get("bias")
        self.b = None if bias is None else fr(bias if isinstance(bias, list) else [bias])
        self.stride = _pair(data.get("stride", 1))
        self.padding = _pair(data.get("padding", 0))
        self.lr = fr(data["learning_rate"]) if "learning_rate" in data else None
        self.loss_name = data.get("loss", "mse")
        self.z = naive_forward(self.x, self.k, self.b, self.stride, self.padding)
        if "target" in data:
            y = fr(data["target"])
            self.y = y if isinstance(y[0][0], list) else [y]
            self.loss = naive_loss(self.z, self.y, self.loss_name)
            self.dz = naive_grad_output(self.z, self.y, self.loss_name)
        else:
            g = fr(data["grad_output"])
            self.y = None
            self.dz = g if isinstance(g[0][0], list) else [g]
        self.dk, self.dx, self.db = naive_backward(self.x, self.k, self.dz, self.stride,
                                                   self.padding)

    def backward(self, dz: Any) -> tuple[Any, Any, Any]:
        return naive_backward(self.x, self.k, dz, self.stride, self.padding)

    def sgd(self, weights: Any, grad: Any, sign: int = -1) -> Any:
        assert self.lr is not None
        return add(weights, scale(grad, sign * self.lr))

    def count(self) -> int:
        return len(flatten(self.z))


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)  # type: ignore[return-value]


def seed000_2d(value: Any) -> Any:
    """Full layout → the seed's 2-D (one channel, one filter) shape."""
    depth = 0
    probe = value
    while isinstance(probe, list):
        depth, probe = depth + 1, probe[0]
    return strip_axes(value, depth - 2)


# --------------------------------------------------------------------------
# 1. seed 000: right answers, rounding, fractions, tolerance


def test_all_correct_seed000() -> None:
    status, report = report_of(SEED000, ANSWERS / "seed000-correct.json")
    assert status == 0
    assert report["correct"] is True
    assert report["score"] == {"right": 26, "total": 26}
    assert set(report["quantities"]) == {"output", "loss", "grad_output", "grad_filter",
                                         "grad_input", "updated_filter"}
    assert all(q["correct"] and q["mismatches"] == [] and q["diagnosis"] is None
               for q in report["quantities"].values())


def test_correct_fixture_is_the_independent_solution() -> None:
    layer = Layer(SEED000)
    given = given_in("seed000-correct.json")
    assert given["output"] == seed000_2d(layer.z)
    assert given["loss"] == layer.loss
    assert given["grad_output"] == seed000_2d(layer.dz)
    assert given["grad_filter"] == seed000_2d(layer.dk)
    assert given["grad_input"] == seed000_2d(layer.dx)
    assert given["updated_filter"] == seed000_2d(layer.sgd(layer.k, layer.dk))


@pytest.mark.parametrize("name", ["seed000-rounded.json", "seed000-rounded-other-way.json",
                                  "seed000-fractions.json"])
def test_rounded_and_fraction_answers_are_right(name: str) -> None:
    status, report = report_of(SEED000, ANSWERS / name)
    assert status == 0, report
    assert report["correct"] is True
    assert report["score"]["right"] == report["score"]["total"] > 0


@pytest.fixture(scope="module")
def seed000_solution() -> Any:
    return solve(load_problem(SEED000))


# (key, index, the JSON text of the answer, right?) — true values:
# output[0][0] = 1.6, loss = 0.365, grad_input[0][1] = 0.285, grad_input[1][0] = -0.035,
# updated_filter[1][0] = 0.295
ROUNDING = [
    ("updated_filter", (1, 0), "0.295", True),
    ("updated_filter", (1, 0), "0.3", True),
    ("updated_filter", (1, 0), "0.30", True),
    ("updated_filter", (1, 0), '"0.30"', True),
    ("updated_filter", (1, 0), "0.29", True),  # halfway: either way
    ("updated_filter", (1, 0), "0.2950", True),
    ("updated_filter", (1, 0), "2.95e-1", True),
    ("updated_filter", (1, 0), '"59/200"', True),
    ("updated_filter", (1, 0), '"3/10"', False),  # a fraction must be exact
    ("updated_filter", (1, 0), "0.290", False),  # three decimals written: 0.295 → 0.295
    ("updated_filter", (1, 0), "0.296", False),
    ("updated_filter", (1, 0), "0.31", False),
    ("updated_filter", (1, 0), "0", False),
    ("grad_input", (0, 1), "0.28", True),
    ("grad_input", (0, 1), "0.29", True),
    ("grad_input", (0, 1), "0.3", False),  # right to one decimal, but 0.015 away
    ("grad_input", (0, 1), "0.30", False),
    ("grad_input", (0, 1), "0.27", False),
    ("grad_input", (1, 0), "-0.03", True),
    ("grad_input", (1, 0), "-0.04", True),
    ("grad_input", (1, 0), "-0.02", False),
    ("grad_input", (1, 0), "0.035", False),
    ("output", (0, 0), "1.6", True),
    ("output", (0, 0), "1.60", True),
    ("output", (0, 0), "1.600", True),
    ("output", (0, 0), "16e-1", True),
    ("output", (0, 0), '"8/5"', True),
    ("output", (0, 0), "2", False),  # correctly rounded to 0 decimals, but 0.4 away
    ("output", (0, 0), '"2"', False),
    ("output", (0, 0), "1.5", False),
    ("output", (0, 0), "1.7", False),
    ("loss", (), "0.365", True),
    ("loss", (), "0.36", True),
    ("loss", (), "0.37", True),
    ("loss", (), "0.4", False),
    ("loss", (), '"73/200"', True),
    ("loss", (), '" 0.37 "', True),
]


def _one_entry(solution: Any, key: str, index: tuple[int, ...], text: str) -> dict[str, Any]:
    """An answers object with just this entry given, every other entry null."""
    if not index:
        return parse_json(f'{{"{key}": {text}}}')
    rows, cols = {"output": (2, 2), "grad_input": (3, 3), "updated_filter": (2, 2)}[key]
    cells = [["null"] * cols for _ in range(rows)]
    cells[index[0]][index[1]] = text
    grid = "[" + ", ".join("[" + ", ".join(row) + "]" for row in cells) + "]"
    return parse_json(f'{{"{key}": {grid}}}')


@pytest.mark.parametrize(("key", "index", "text", "right"), ROUNDING,
                         ids=[f"{k}{list(i)}={t}" for k, i, t, _ in ROUNDING])
def test_rounding_rule(seed000_solution: Any, key: str, index: tuple[int, ...], text: str,
                       right: bool) -> None:
    report = mark(seed000_solution, read_answers(_one_entry(seed000_solution, key, index, text),
                                                 seed000_solution))
    (marked,) = report.quantities
    assert (marked.right, marked.total) == ((1, 1) if right else (0, 1))
    assert report.correct is right


TOLERANCE = [
    ("0.1", "output", (0, 0), "1.5", True),
    ("0.1", "output", (0, 0), "1.7", True),
    ("0.1", "output", (0, 0), "1.71", False),
    ("0.09", "output", (0, 0), "1.5", False),
    ("0.01", "updated_filter", (1, 0), '"3/10"', True),  # the tolerance replaces exactness
    ("0", "updated_filter", (1, 0), "0.3", False),
    ("0", "updated_filter", (1, 0), '"59/200"', True),
    ("1/2", "output", (0, 0), "2", True),
]


@pytest.mark.parametrize(("tol", "key", "index", "text", "right"), TOLERANCE)
def test_tolerance(seed000_solution: Any, tol: str, key: str, index: tuple[int, ...],
                   text: str, right: bool) -> None:
    from cnnstep.check import tolerance_of

    answers = read_answers(_one_entry(seed000_solution, key, index, text), seed000_solution)
    report = mark(seed000_solution, answers, tolerance_of(tol))
    assert report.correct is right


def test_tol_on_the_command_line(tmp_path: Path) -> None:
    answers = write_answers(tmp_path / "a.json", {"output": [[1.5, 2.9], [1.5, 1.2]]})
    status, report = report_of(SEED000, answers)
    assert status == 1
    assert report["quantities"]["output"]["mismatches"] == [
        {"index": [0, 0], "expected": Decimal("1.6"), "given": Decimal("1.5")}]
    status, report = report_of(SEED000, answers, "--tol", "0.1")
    assert status == 0 and report["correct"] is True
    assert report["score"] == {"right": 4, "total": 4}
    assert report_of(SEED000, answers, "--tol", "0.05")[0] == 1


@pytest.mark.parametrize("tol", ["-0.1", "abc", "1/0"])
def test_bad_tolerance(tol: str) -> None:
    line = one_error_line(check(SEED000, ANSWERS / "seed000-correct.json", "--tol", tol))
    assert "--tol" in line


# --------------------------------------------------------------------------
# 1. seed 000 and seed 002: each mistake, made on purpose, named


def _seed000_mistakes() -> dict[str, dict[str, Any]]:
    """The fixture files' numbers, recomputed independently."""
    layer = Layer(SEED000)
    t = seed000_2d
    z_flipped = naive_forward(layer.x, rot180(layer.k), layer.b, layer.stride, layer.padding)
    slip = [[[layer.dz[0][0][0], layer.dz[0][0][1]], [-layer.dz[0][1][0], layer.dz[0][1][1]]]]
    slip_dk, slip_dx, _ = layer.backward(slip)
    chain_dz = naive_grad_output(z_flipped, layer.y, "mse")
    return {
        "seed000-kernel-not-rotated.json": {
            "grad_input": t(scatter_input_gradient(layer.x, rot180(layer.k), layer.dz,
                                                   layer.stride, layer.padding))},
        "seed000-true-convolution.json": {"output": t(z_flipped)},
        "seed000-mse-not-averaged.json": {
            "loss": naive_loss(layer.z, layer.y, "sse"),
            "grad_output": t(naive_grad_output(layer.z, layer.y, "sse"))},
        "seed000-missing-factor-two.json": {"grad_output": t(scale(layer.dz, Fraction(1, 2)))},
        "seed000-wrong-sign.json": {
            "grad_output": t(scale(layer.dz, Fraction(-1))),
            "updated_filter": t(layer.sgd(layer.k, layer.dk, sign=+1))},
        "seed000-transposed.json": {"grad_filter": swap_last(t(layer.dk)),
                                    "grad_input": swap_last(t(layer.dx))},
        "seed000-carried-forward.json": {
            "grad_output": t(slip), "grad_filter": t(slip_dk), "grad_input": t(slip_dx),
            "updated_filter": t(layer.sgd(layer.k, slip_dk))},
        "seed000-carried-chain.json": {
            "output": t(z_flipped), "loss": naive_loss(z_flipped, layer.y, "mse"),
            "grad_output": t(chain_dz)},
    }


SEED000_MISTAKES = {
    "seed000-kernel-not-rotated.json": {"grad_input": "kernel_not_rotated"},
    "seed000-true-convolution.json": {"output": "true_convolution"},
    "seed000-mse-not-averaged.json": {"loss": "mse_not_averaged",
                                      "grad_output": "mse_not_averaged"},
    "seed000-missing-factor-two.json": {"grad_output": "missing_factor_two"},
    "seed000-wrong-sign.json": {"grad_output": "wrong_sign", "updated_filter": "wrong_sign"},
    "seed000-transposed.json": {"grad_filter": "transposed", "grad_input": "transposed"},
    "seed000-carried-forward.json": {"grad_output": None, "grad_filter": "carried_forward",
                                     "grad_input": "carried_forward",
                                     "updated_filter": "carried_forward"},
    "seed000-carried-chain.json": {"output": "true_convolution", "loss": "carried_forward",
                                   "grad_output": "carried_forward"},
}


@pytest.mark.parametrize("name", sorted(SEED000_MISTAKES))
def test_seed000_fixture_holds_the_mistake(name: str) -> None:
    given = given_in(name)
    assert given == _seed000_mistakes()[name]


@pytest.mark.parametrize("name", sorted(SEED000_MISTAKES))
def test_seed000_mistake_is_diagnosed(name: str) -> None:
    status, report = report_of(SEED000, ANSWERS / name)
    assert status == 1
    assert report["correct"] is False
    assert codes(report) == SEED000_MISTAKES[name]
    for q in report["quantities"].values():
        assert q["correct"] is False and q["mismatches"]
        if q["diagnosis"] is not None:
            assert q["diagnosis"]["message"].strip()


def test_seed002_fixtures_hold_the_mistakes() -> None:
    layer = Layer(SEED002)
    z_plain = naive_forward(layer.x, layer.k, None, layer.stride, layer.padding)
    count = Fraction(len(flatten(layer.dz)))
    averaged = layer.db[0] / count
    assert given_in("seed002-bias-omitted.json") == {
        "output": seed000_2d(z_plain), "grad_bias": layer.db[0]}
    assert given_in("seed002-bias-averaged.json") == {
        "grad_bias": averaged, "updated_bias": layer.b[0] - layer.lr * averaged}
    assert given_in("seed002-wrong-sign-bias.json") == {
        "updated_bias": layer.b[0] + layer.lr * layer.db[0]}


@pytest.mark.parametrize(("name", "expected"), [
    ("seed002-bias-omitted.json", {"output": "bias_omitted", "grad_bias": None}),
    ("seed002-bias-averaged.json", {"grad_bias": "bias_averaged",
                                    "updated_bias": "carried_forward"}),
    ("seed002-wrong-sign-bias.json", {"updated_bias": "wrong_sign"}),
])
def test_bias_mistakes(name: str, expected: dict[str, str | None]) -> None:
    status, report = report_of(SEED002, ANSWERS / name)
    assert status == 1
    assert codes(report) == expected
    if name == "seed002-bias-omitted.json":
        assert report["quantities"]["grad_bias"]["correct"] is True
        assert report["score"] == {"right": 1, "total": 5}
    # a number bias gives number grad_bias and updated_bias: the index of a number is []
    for key in ("grad_bias", "updated_bias"):
        for miss in report["quantities"].get(key, {}).get("mismatches", []):
            assert miss["index"] == []


def test_bias_mistakes_in_half_sse(tmp_path: Path) -> None:
    """The other bias sample: bias "1/3", half_sse loss (no factor-two or averaging codes)."""
    layer = Layer(SAMPLES / "half-sse.json")
    z_plain = naive_forward(layer.x, layer.k, None, layer.stride, layer.padding)
    count = Fraction(len(flatten(layer.dz)))
    answers = write_answers(tmp_path / "a.json", {
        "output": seed000_2d(z_plain), "grad_bias": layer.db[0] / count})
    status, report = report_of(SAMPLES / "half-sse.json", answers)
    assert status == 1
    assert codes(report) == {"output": "bias_omitted", "grad_bias": "bias_averaged"}


def test_missing_and_null_entries_are_not_counted() -> None:
    status, report = report_of(SEED000, ANSWERS / "seed000-partial.json")
    assert status == 1
    # loss is null, grad_output, grad_input and updated_filter are absent: not marked
    assert set(report["quantities"]) == {"output", "grad_filter"}
    assert report["score"] == {"right": 5, "total": 6}
    output = report["quantities"]["output"]
    assert output["mismatches"] == [
        {"index": [1, 1], "expected": Decimal("1.2"), "given": Decimal("1.3")}]
    assert report["quantities"]["grad_filter"]["correct"] is True


def test_exercise_null_entry_is_skipped() -> None:
    status, report = report_of(EXERCISE)
    assert status == 1
    grad_input = report["quantities"]["grad_input"]
    assert len(grad_input["mismatches"]) == 8  # the ninth entry is null
    assert report["score"] == {"right": 17, "total": 25}


# --------------------------------------------------------------------------
# 1. bad answers files: exit 2, one line naming the key


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
    assert re.search(r"_Literal|NoneType|\bbool\b|\bstr\b", line) is None, line
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


# --------------------------------------------------------------------------
# 2. a stride-2, padded, two-channel, two-filter problem


@pytest.fixture(scope="module")
def s2() -> Layer:
    layer = Layer(STRIDE2)
    assert layer.stride == (2, 2) and layer.padding == (1, 1)
    assert len(layer.x) == 2 and len(layer.k) == 2 and len(layer.k[0][0]) == 3
    assert layer.b is not None and layer.lr is not None and layer.loss_name == "mse"
    return layer


def s2_correct(layer: Layer) -> dict[str, Any]:
    assert layer.b is not None
    return {
        "output": layer.z, "loss": layer.loss, "grad_output": layer.dz,
        "grad_filter": layer.dk, "grad_bias": layer.db, "grad_input": layer.dx,
        "updated_filter": layer.sgd(layer.k, layer.dk),
        "updated_bias": layer.sgd(layer.b, layer.db),
    }


def kernel_not_rotated(layer: Layer) -> Any:
    """dL/dX with the kernel left as it is: the scatter with the kernel turned around."""
    return scatter_input_gradient(layer.x, rot180(layer.k), layer.dz, layer.stride,
                                  layer.padding)


def stride_not_dilated_input(layer: Layer) -> Any:
    """The stride-1 formula on the un-spread dL/dZ, at the top-left, zero-filled/cut."""
    return scatter_input_gradient(layer.x, layer.k, layer.dz, (1, 1), layer.padding)


def stride_not_dilated_filter(layer: Layer) -> Any:
    return filter_gradient_stride1(layer.x, layer.k, layer.dz, layer.padding)


def test_stride2_solution_matches_the_naive_layer(s2: Layer) -> None:
    run = invoke("solve", STRIDE2, "--format", "json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout, parse_float=Decimal, parse_int=Decimal)
    for key, exact in s2_correct(s2).items():
        printed = [Fraction(v) for v in flatten(result[key])]
        assert all(abs(p - e) < Fraction(1, 10**15)
                   for p, e in zip(printed, flatten(exact), strict=True)), key


def test_stride2_all_correct(s2: Layer, tmp_path: Path) -> None:
    answers = write_answers(tmp_path / "right.json", s2_correct(s2))
    status, report = report_of(STRIDE2, answers)
    assert status == 0
    assert report["correct"] is True
    total = sum(len(flatten(v)) for v in s2_correct(s2).values())
    assert total == 18 + 1 + 18 + 36 + 2 + 50 + 36 + 2
    assert report["score"] == {"right": total, "total": total}


def test_stride2_rounded_answers(s2: Layer, tmp_path: Path) -> None:
    """Every value rounded to two decimals, written as strings so "0.30" keeps its zero."""
    def rounded(value: Any) -> Any:
        if isinstance(value, list):
            return [rounded(v) for v in value]
        return format(Decimal(value.numerator) / Decimal(value.denominator), ".2f")

    answers = tmp_path / "rounded.json"
    answers.write_text(json.dumps({k: rounded(v) for k, v in s2_correct(s2).items()}),
                       encoding="utf-8")
    status, report = report_of(STRIDE2, answers)
    assert status == 0, report
    assert report["score"]["right"] == report["score"]["total"] == 163


def test_stride_not_dilated_and_kernel_not_rotated_differ(s2: Layer) -> None:
    right = s2.dx
    unrotated, undilated = kernel_not_rotated(s2), stride_not_dilated_input(s2)
    # the two mistakes give different numbers, so each can get its own code
    assert unrotated != right and undilated != right and unrotated != undilated
    assert stride_not_dilated_filter(s2) != s2.dk


def _s2_mistakes(layer: Layer) -> dict[str, tuple[dict[str, Any], dict[str, str | None]]]:
    """name → (answers, the expected diagnosis of each answered quantity)."""
    assert layer.b is not None and layer.y is not None and layer.lr is not None
    z_flipped = naive_forward(layer.x, rot180(layer.k), layer.b, layer.stride, layer.padding)
    z_plain = naive_forward(layer.x, layer.k, None, layer.stride, layer.padding)
    averaged = [d / Fraction(len(flatten(layer.dz[0]))) for d in layer.db]
    slip = [[[v + (1 if (f, i, j) == (1, 2, 0) else 0) for j, v in enumerate(row)]
             for i, row in enumerate(ch)] for f, ch in enumerate(layer.dz)]
    slip_dk, slip_dx, slip_db = layer.backward(slip)
    return {
        "kernel_not_rotated": ({"grad_input": kernel_not_rotated(layer)},
                               {"grad_input": "kernel_not_rotated"}),
        "stride_not_dilated": ({"grad_filter": stride_not_dilated_filter(layer),
                                "grad_input": stride_not_dilated_input(layer)},
                               {"grad_filter": "stride_not_dilated",
                                "grad_input": "stride_not_dilated"}),
        "true_convolution": ({"output": z_flipped}, {"output": "true_convolution"}),
        "bias_omitted": ({"output": z_plain}, {"output": "bias_omitted"}),
        "mse_not_averaged": ({"loss": naive_loss(layer.z, layer.y, "sse"),
                              "grad_output": naive_grad_output(layer.z, layer.y, "sse")},
                             {"loss": "mse_not_averaged", "grad_output": "mse_not_averaged"}),
        "missing_factor_two": ({"grad_output": scale(layer.dz, Fraction(1, 2))},
                               {"grad_output": "missing_factor_two"}),
        "wrong_sign": ({"grad_output": scale(layer.dz, Fraction(-1)),
                        "updated_filter": layer.sgd(layer.k, layer.dk, sign=+1),
                        "updated_bias": layer.sgd(layer.b, layer.db, sign=+1)},
                       {"grad_output": "wrong_sign", "updated_filter": "wrong_sign",
                        "updated_bias": "wrong_sign"}),
        "bias_averaged": ({"grad_bias": averaged,
                           "updated_bias": layer.sgd(layer.b, averaged)},
                          {"grad_bias": "bias_averaged", "updated_bias": "carried_forward"}),
        "transposed": ({"grad_filter": swap_last(layer.dk), "grad_input": swap_last(layer.dx)},
                       {"grad_filter": "transposed", "grad_input": "transposed"}),
        "carried_forward": ({"grad_output": slip, "grad_filter": slip_dk,
                             "grad_bias": slip_db, "grad_input": slip_dx,
                             "updated_filter": layer.sgd(layer.k, slip_dk),
                             "updated_bias": layer.sgd(layer.b, slip_db)},
                            {"grad_output": None, "grad_filter": "carried_forward",
                             "grad_bias": "carried_forward", "grad_input": "carried_forward",
                             "updated_filter": "carried_forward",
                             "updated_bias": "carried_forward"}),
    }


S2_MISTAKES = ["kernel_not_rotated", "stride_not_dilated", "true_convolution", "bias_omitted",
               "mse_not_averaged", "missing_factor_two", "wrong_sign", "bias_averaged",
               "transposed", "carried_forward"]


@pytest.mark.parametrize("mistake", S2_MISTAKES)
def test_stride2_mistake_is_diagnosed(s2: Layer, tmp_path: Path, mistake: str) -> None:
    answers, expected = _s2_mistakes(s2)[mistake]
    path = write_answers(tmp_path / f"{mistake}.json", answers)
    status, report = report_of(STRIDE2, path)
    assert status == 1
    assert codes(report) == expected
    for key, q in report["quantities"].items():
        assert q["correct"] is False, key
        # full-rank indices, 0-based, inside the quantity's shape
        for miss in q["mismatches"]:
            assert len(miss["index"]) == len(_shape(answers[key]))
            assert all(0 <= i < n for i, n in zip(miss["index"], _shape(answers[key]),
                                                   strict=True))


def _shape(value: Any) -> tuple[int, ...]:
    shape: list[int] = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0]
    return tuple(shape)


def test_stride_not_dilated_message_counts_the_zeros(s2: Layer, tmp_path: Path) -> None:
    answers, _ = _s2_mistakes(s2)["stride_not_dilated"]
    path = write_answers(tmp_path / "a.json", answers)
    _, report = report_of(STRIDE2, path)
    message = report["quantities"]["grad_input"]["diagnosis"]["message"]
    assert "stride" not in message.split("inserting", 1)[1].split("zero", 1)[0]
    assert re.search(r"inserting 1 zero", message), message


def test_stride2_bad_shape(tmp_path: Path) -> None:
    path = tmp_path / "three-filters.json"
    path.write_text(json.dumps({"grad_filter": [[[[0] * 3] * 3] * 2] * 3}), encoding="utf-8")
    line = one_error_line(check(STRIDE2, path))
    assert "grad_filter" in line and "[2][2][3][3]" in line and "got 3" in line
    path = tmp_path / "number-bias.json"
    path.write_text(json.dumps({"grad_bias": 2.5}), encoding="utf-8")
    line = one_error_line(check(STRIDE2, path))
    assert "grad_bias" in line and "[2]" in line


# --------------------------------------------------------------------------
# 3. the report: text, Markdown, LaTeX, JSON


@pytest.fixture(scope="module")
def one_mistake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seed 000 all right except grad_input, made with the kernel not rotated."""
    answers = problem_data(ANSWERS / "seed000-correct.json")
    answers["grad_input"] = problem_data(ANSWERS / "seed000-kernel-not-rotated.json")[
        "grad_input"]
    path = tmp_path_factory.mktemp("report") / "one-mistake.json"
    path.write_text(json.dumps(answers), encoding="utf-8")
    return path


def test_text_report(one_mistake: Path) -> None:
    run = check(SEED000, one_mistake, "--width", "120")
    assert run.returncode == 1, run.stderr
    text = run.stdout
    rows = {line.split("│")[1].strip(): line for line in text.splitlines()
            if line.startswith("│") and line.split("│")[1].strip()}
    for key in ("output", "loss", "grad_output", "grad_filter", "updated_filter"):
        assert "✓" in rows[key] and "✗" not in rows[key], rows[key]
    assert "✗" in rows["grad_input"] and "0/9" in rows["grad_input"]
    assert "kernel_not_rotated" in rows["grad_input"]
    assert "Score: 17/26" in text
    assert "grad_input: 9 wrong entries" in text
    assert "✗ 0.21 (expected 0.15)" in text
    assert "✗ -0.115 (expected -0.035)" in text
    assert "Diagnosis (kernel_not_rotated):" in text
    assert "rotated by 180°" in text
    # then the worked derivation of the wrong entries, and only of those
    assert text.index("Diagnosis (kernel_not_rotated)") < text.index("The working of")
    working = text[text.index("The working of the wrong entries"):]
    assert "∂Loss/∂I(0,0) =" in working
    assert "∂Loss/∂I(2,2) =" in working
    assert "= 0.15" in working
    assert "∂Loss/∂W(0,0) =" not in working
    assert "Traceback" not in run.stderr
    assert all(len(line) <= 120 for line in text.splitlines())


def test_text_report_all_correct() -> None:
    run = check(SEED000, ANSWERS / "seed000-correct.json", "--width", "120")
    assert run.returncode == 0
    assert "Score: 26/26 — all correct." in run.stdout
    assert "✗" not in run.stdout
    assert "The working of" not in run.stdout


def test_text_report_carried_forward() -> None:
    run = check(SEED000, ANSWERS / "seed000-carried-forward.json", "--width", "120")
    assert run.returncode == 1
    assert "carried_forward" in run.stdout
    assert "Diagnosis (carried_forward): Right for your own grad_output" in run.stdout


def test_markdown_report(one_mistake: Path) -> None:
    run = check(SEED000, one_mistake, "--format", "markdown")
    assert run.returncode == 1, run.stderr
    md = run.stdout
    assert md.startswith("# Marking ")
    assert "| quantity | mark | right | diagnosis |" in md
    assert re.search(r"^\| output \| ✓ \| 4/4 \|", md, re.M)
    assert re.search(r"^\| grad_input \| ✗ \| 0/9 \| kernel_not_rotated", md, re.M)
    assert "**Score: 17/26**" in md
    assert "## grad_input" in md
    assert "✗ 0.21 (expected 0.15)" in md
    assert "*Diagnosis (kernel_not_rotated):*" in md
    assert "## The working of the wrong entries" in md


def _pdflatex() -> str:
    found = shutil.which("pdflatex")
    if found is None:
        reason = "pdflatex not found: install TeX Live to compile the LaTeX report"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so this is an error, not a skip")
        pytest.skip(reason)
    return found


@pytest.mark.parametrize("args", [
    ("seed000", "one_mistake"), ("stride2", "transposed"), ("seed002", "bias-averaged")])
def test_latex_report_compiles(args: tuple[str, str], one_mistake: Path, s2: Layer,
                               tmp_path: Path) -> None:
    problem, which = args
    if problem == "seed000":
        path, answers = SEED000, one_mistake
    elif problem == "stride2":
        path = STRIDE2
        answers = write_answers(tmp_path / "a.json", _s2_mistakes(s2)[which][0])
    else:
        path, answers = SEED002, ANSWERS / "seed002-bias-averaged.json"
    out = tmp_path / "report.tex"
    run = check(path, answers, "--format", "latex", "-o", out)
    assert run.returncode == 1, run.stderr
    assert run.stdout == ""
    source = out.read_text(encoding="utf-8")
    assert "\\documentclass" in source and source.rstrip().endswith("\\end{document}")
    assert "Score:" in source
    assert "\\_" in source  # the codes and keys are escaped
    pdflatex = _pdflatex()
    build = subprocess.run(
        [pdflatex, "-interaction=nonstopmode", "-halt-on-error", out.name],
        cwd=tmp_path, capture_output=True, timeout=60, check=False, stdin=subprocess.DEVNULL)
    log = build.stdout.decode("utf-8", "replace")
    assert build.returncode == 0, log[-3000:]
    assert (tmp_path / "report.pdf").stat().st_size > 0


def test_json_report_shape(one_mistake: Path) -> None:
    status, report = report_of(SEED000, one_mistake)
    assert status == 1
    assert list(report) == ["correct", "score", "quantities"]
    assert report["correct"] is False
    assert report["score"] == {"right": 17, "total": 26}
    assert set(report["score"]) == {"right", "total"}
    for key, q in report["quantities"].items():
        assert set(q) == {"correct", "mismatches", "diagnosis"}, key
        for miss in q["mismatches"]:
            assert set(miss) == {"index", "expected", "given"}
        if q["diagnosis"] is not None:
            assert set(q["diagnosis"]) == {"code", "message"}
    grad_input = report["quantities"]["grad_input"]
    assert grad_input["correct"] is False
    assert grad_input["mismatches"][0] == {
        "index": [0, 0], "expected": Decimal("0.15"), "given": Decimal("0.21")}
    assert [m["index"] for m in grad_input["mismatches"]] == [
        [i, j] for i in range(3) for j in range(3)]
    assert grad_input["diagnosis"]["code"] == "kernel_not_rotated"
    assert report["quantities"]["loss"] == {"correct": True, "mismatches": [],
                                            "diagnosis": None}


def test_json_report_index_of_a_number() -> None:
    status, report = report_of(SEED000, ANSWERS / "seed000-mse-not-averaged.json")
    assert status == 1
    assert report["quantities"]["loss"]["mismatches"] == [
        {"index": [], "expected": Decimal("0.365"), "given": Decimal("1.46")}]


def test_json_report_numbers_are_exact(tmp_path: Path) -> None:
    """Expected values of non-terminating fractions carry ≥ 15 significant digits, no noise."""
    run = check(SEED000, ANSWERS / "seed000-wrong-sign.json", "--format", "json")
    assert "0000000000" not in run.stdout and "9999999999" not in run.stdout
    status, report = report_of(STRIDE2, write_answers(tmp_path / "a.json", {"loss": 9}))
    assert status == 1
    expected = report["quantities"]["loss"]["mismatches"][0]["expected"]
    assert abs(expected - Decimal(53) / Decimal(6)) < Decimal("1e-14")


def test_output_file(one_mistake: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    run = check(SEED000, one_mistake, "--format", "json", "-o", out)
    assert run.returncode == 1
    assert run.stdout == ""
    assert json.loads(out.read_text(encoding="utf-8"))["score"] == {"right": 17, "total": 26}


# --------------------------------------------------------------------------
# 4. answers inside the problem file


def test_answers_inside_the_problem() -> None:
    status, report = report_of(EXERCISE)
    assert status == 1
    assert codes(report) == {"output": None, "loss": None, "grad_output": None,
                             "grad_filter": None, "grad_input": "kernel_not_rotated",
                             "updated_filter": None}
    run = check(EXERCISE, "--width", "120")
    assert run.returncode == 1
    assert "Diagnosis (kernel_not_rotated)" in run.stdout
    assert "∂Loss/∂I(0,0) =" in run.stdout


def test_answers_file_overrides_the_problems_own() -> None:
    status, report = report_of(EXERCISE, ANSWERS / "seed000-correct.json")
    assert status == 0 and report["correct"] is True


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


# --------------------------------------------------------------------------
# 5. batch mode


def test_batch_summary_with_a_bad_file() -> None:
    files = [ANSWERS / "seed000-correct.json", ANSWERS / "seed000-kernel-not-rotated.json",
             ANSWERS / "bad-unknown-key.json"]
    run = check(SEED000, *files)
    assert run.returncode == 2, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split() == ["file", "score", "diagnoses"]
    assert len(lines) == 1 + 3 + 1
    correct, wrong, bad = lines[1:4]
    assert "seed000-correct.json" in correct and "26/26" in correct
    assert "seed000-kernel-not-rotated.json" in wrong and "0/9" in wrong
    assert "kernel_not_rotated" in wrong
    assert "bad-unknown-key.json" in bad and "error" in bad and "grad_filtre" in bad
    assert "1 of 3 all correct" in lines[-1]


def test_batch_exit_status() -> None:
    right = ANSWERS / "seed000-correct.json"
    assert check(SEED000, right, ANSWERS / "seed000-rounded.json").returncode == 0
    some_wrong = check(SEED000, right, ANSWERS / "seed000-wrong-sign.json",
                       ANSWERS / "seed000-transposed.json")
    assert some_wrong.returncode == 1
    assert "transposed" in some_wrong.stdout and "wrong_sign" in some_wrong.stdout


def test_batch_json() -> None:
    files = [ANSWERS / "seed000-correct.json", ANSWERS / "seed000-carried-forward.json",
             ANSWERS / "bad-not-json.json"]
    run = check(SEED000, *files, "--format", "json")
    assert run.returncode == 2
    reports = json.loads(run.stdout)
    assert isinstance(reports, list) and len(reports) == 3
    assert [r["file"] for r in reports] == [str(f) for f in files]
    assert reports[0]["correct"] is True and reports[0]["score"] == {"right": 26, "total": 26}
    assert codes(reports[1])["grad_filter"] == "carried_forward"
    assert set(reports[1]) == {"file", "correct", "score", "quantities"}
    assert "invalid JSON" in reports[2]["error"]


@pytest.mark.parametrize("fmt", ["markdown", "latex"])
def test_batch_other_formats(fmt: str) -> None:
    run = check(SEED000, ANSWERS / "seed000-correct.json",
                ANSWERS / "seed000-kernel-not-rotated.json", "--format", fmt)
    assert run.returncode == 1, run.stderr
    assert "kernel" in run.stdout and "26/26" in run.stdout


def test_batch_of_one_bad_file_is_a_plain_error() -> None:
    line = one_error_line(check(SEED000, ANSWERS / "bad-shape.json"))
    assert "grad_input[1]" in line



# --------------------------------------------------------------------------
# layered problems and uneven strides


RELU_MAXPOOL = SAMPLES / "relu-maxpool.json"
#: dL/dZ of the convolution in relu-maxpool (the result's grad_conv), with one slip:
#: [3][3] is 0.5 instead of 0
RELU_MAXPOOL_SLIPPED_GRAD_CONV = [[0, 0.375, -0.125, 0], [0, 0, 0, 0], [-0.25, 0, 0, 0.25],
                                  [0, 0, 0, 0.5]]


def test_layered_carried_forward_from_grad_conv(tmp_path: Path) -> None:
    data = problem_data(RELU_MAXPOOL)
    x, k = [fr(data["input"])], [[fr(data["filter"])]]
    slip = [fr(RELU_MAXPOOL_SLIPPED_GRAD_CONV)]
    dk, dx, db = naive_backward(x, k, slip, (1, 1), (0, 0))
    answers = write_answers(tmp_path / "a.json", {
        "grad_conv": slip[0], "grad_filter": dk[0][0], "grad_bias": db[0],
        "grad_input": dx[0]})
    status, report = report_of(RELU_MAXPOOL, answers)
    assert status == 1
    assert codes(report) == {"grad_conv": None, "grad_filter": "carried_forward",
                             "grad_bias": "carried_forward", "grad_input": "carried_forward"}


def test_layered_loss_carried_forward_from_output(tmp_path: Path) -> None:
    y = [fr(problem_data(RELU_MAXPOOL)["target"])]
    wrong_output = [[[Fraction(7, 4), Fraction(7, 4)], [Fraction(1, 2), Fraction(3, 2)]]]
    answers = write_answers(tmp_path / "a.json", {
        "output": wrong_output[0], "loss": naive_loss(wrong_output, y, "mse"),
        "grad_output": naive_grad_output(wrong_output, y, "mse")[0]})
    status, report = report_of(RELU_MAXPOOL, answers)
    assert status == 1
    assert codes(report) == {"output": None, "loss": "carried_forward",
                             "grad_output": "carried_forward"}


def test_stride_not_dilated_message_with_an_uneven_stride(tmp_path: Path) -> None:
    data = problem_data(STRIDE2)
    for key in ("target", "loss"):
        del data[key]
    data["stride"] = [1, 2]
    data["grad_output"] = [[[1, 2, 3]] * 5, [[0, -1, 2]] * 5]
    problem = tmp_path / "uneven.json"
    problem.write_text(json.dumps(data), encoding="utf-8")
    layer = Layer(problem)
    answers = write_answers(tmp_path / "a.json", {"grad_input": stride_not_dilated_input(layer)})
    status, report = report_of(problem, answers)
    assert status == 1
    diagnosis = report["quantities"]["grad_input"]["diagnosis"]
    assert diagnosis["code"] == "stride_not_dilated"
    assert "0 zeros" not in diagnosis["message"], diagnosis["message"]
