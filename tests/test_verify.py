"""``--verify``: the engine checked against direct differentiation.

* Every numeric sample verifies (exit 0, one "verified" line per quantity;
  ``"verified": true`` in JSON); the shape-only samples exit 2.
* An engine broken on purpose inside the test (the kernel not rotated, dL/dZ
  not spread by zeros for stride 2, the loss gradient without its factor 2, the
  bias left out) is caught: the quantity is named, the differing entries are
  listed with the engine's and the direct value, and the command exits 1.
* So is an engine broken in a layer after the convolution (the activation, its
  slope, the pool, its backward pass, the loss, dL/dB), on every layered
  sample: exactly the quantities that change fail.
* A layer of 20,000 products verifies in well under ten seconds; one too large
  to differentiate gets a clear message and exit 2, quickly.
* Random small layers, with activations and pools, verify, and the two direct
  routes (the exact chain rule and SymPy) agree on them.
* A forward-only problem verifies its output by direct evaluation.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import (
    LAYER_SAMPLES,
    SAMPLES,
    Case,
    Result,
    cases,
    invoke,
    layer_sample,
    worked_samples,
)
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from oracle import flatten, fr, naive_backward, naive_forward, naive_grad_output

from cnnstep import budget, engine, verify
from cnnstep.problem import Problem, problem_from_data
from cnnstep.verify_sympy import SymPyVerifier

ALL_SAMPLES = worked_samples()


def is_shape_only(path: Path) -> bool:
    data = json.loads(path.read_text(encoding="utf-8"))
    return any(isinstance(data.get(key), dict) for key in ("input", "filter", "kernel"))


NUMERIC = [p for p in ALL_SAMPLES if not is_shape_only(p)]
SHAPE_ONLY = [p for p in ALL_SAMPLES if is_shape_only(p)]


def load_sample(name: str) -> Problem:
    return problem_from_data(json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8")))


def expected_keys(data: dict[str, Any]) -> list[str]:
    """The quantities --verify checks, in order, for a conv-only problem."""
    keys = ["output"]
    if "target" in data:
        keys.append("loss")
    if "target" in data or "grad_output" in data:
        keys.append("grad_filter")
        if "bias" in data:
            keys.append("grad_bias")
        keys.append("grad_input")
    if data.get("steps", 1) > 1:
        keys += ["history", "final_loss"]
    return keys


# --------------------------------------------------------------------------
# every numeric sample verifies


class _Runs(dict[str, tuple[Result, Result]]):
    """``--verify`` and ``--verify --format json`` on a sample (in this process), by its
    name, run when a test first asks: a test worker runs only the samples it checks."""

    def __missing__(self, name: str) -> tuple[Result, Result]:
        path = SAMPLES / f"{name}.json"
        self[name] = runs = (invoke("solve", path, "--verify"),
                             invoke("solve", path, "--verify", "--format", "json"))
        return runs


@pytest.fixture(scope="module")
def sample_runs() -> dict[str, tuple[Result, Result]]:
    return _Runs()


def test_verify_report_lines_of_seed002() -> None:
    run = invoke("solve", SAMPLES / "seed002-given-gradient.json", "--verify")
    assert run.returncode == 0, run.stderr
    assert run.stdout == ("Z: verified by direct evaluation (4 entries)\n"
                          "dL/dK: verified by direct differentiation (4 entries)\n"
                          "dL/dB: verified by direct differentiation (1 entry)\n"
                          "dL/dX: verified by direct differentiation (9 entries)\n")
    run = invoke("solve", SAMPLES / "symbolic-3x3-2x2.json", "--verify")
    assert run.returncode == 2
    assert run.stdout == ""
    assert len(run.stderr.splitlines()) == 1


@pytest.mark.parametrize("sample", NUMERIC, ids=lambda p: p.stem)
def test_verify_passes_on_numeric_sample(sample: Path, sample_runs: dict[str, Any]) -> None:
    text, as_json = sample_runs[sample.stem]
    assert text.returncode == 0, (text.stdout, text.stderr)
    assert text.stderr == ""
    lines = text.stdout.splitlines()
    assert lines, "no report"
    for line in lines:
        assert re.fullmatch(r".+: verified by direct (evaluation|differentiation)"
                            r"( at every step| at the weights of the direct route)?"
                            r"(, to 1e-9 \(floating point\))? \(\d+ entr(y|ies)\)", line), line
    data = json.loads(sample.read_text(encoding="utf-8"))
    layered = "activation" in data or "pool" in data
    if not layered:
        assert len(lines) == len(expected_keys(data)), lines

    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["verified"] is True
    assert len(report["quantities"]) == len(lines)
    for key, quantity in report["quantities"].items():
        assert quantity["verified"] is True, key
        assert quantity["mismatches"] == [], key
        assert quantity["entries"] >= 1, key
    if not layered:
        assert list(report["quantities"]) == expected_keys(data)


@pytest.mark.parametrize("sample", SHAPE_ONLY, ids=lambda p: p.stem)
def test_verify_refuses_shape_only_sample(sample: Path, sample_runs: dict[str, Any]) -> None:
    for run in sample_runs[sample.stem]:
        assert run.returncode == 2, run.stdout
        assert run.stdout == ""
        assert len(run.stderr.splitlines()) == 1, run.stderr
        assert run.stderr.startswith("cnnstep: error: ")
    with_symbolic = invoke("solve", sample, "--symbolic", "--verify")
    assert with_symbolic.returncode == 2
    assert with_symbolic.stdout == ""
    assert "--verify" in with_symbolic.stderr and "shapes" in with_symbolic.stderr


@pytest.mark.parametrize("name", LAYER_SAMPLES)
def test_verify_passes_on_layer_sample(name: str, sample_runs: dict[str, Any]) -> None:
    """With activation and pooling, every stage is verified (A, P as well as Z, L, K, X)."""
    run, _ = sample_runs[name]
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.strip().splitlines()
    assert lines and all("verified" in line for line in lines), run.stdout
    labels = {line.split(":")[0] for line in lines}
    assert {"Z", "L", "dL/dK", "dL/dX"} <= labels
    spec = layer_sample(name)[1]
    assert ("P" in labels) == (spec.pool is not None)
    assert ("A" in labels) == (spec.activation is not None)


def test_verify_entry_counts_on_seed002() -> None:
    checks = verify.verify(load_sample("seed002-given-gradient"))
    assert [(c.key, c.entries, c.ok) for c in checks] == [
        ("output", 4, True), ("grad_filter", 4, True), ("grad_bias", 1, True),
        ("grad_input", 9, True)]
    assert [c.how for c in checks] == ["direct evaluation"] + ["direct differentiation"] * 3


# --------------------------------------------------------------------------
# an engine broken on purpose is caught


def assert_reports_failure(checks: list[verify.Check], failing: set[str]) -> None:
    """Exactly the ``failing`` quantities fail, each listing its differing entries."""
    assert {c.key for c in checks if not c.ok} == failing
    text = verify.report(checks)
    for check in checks:
        if check.ok:
            assert f"{check.label}: verified by" in text
            continue
        assert check.mismatches
        header = (f"{check.label}: {len(check.mismatches)} of {check.entries} "
                  f"entr{'y' if check.entries == 1 else 'ies'} differ from {check.how}:")
        assert header in text.splitlines()
        for miss in check.mismatches:
            assert miss.engine != miss.direct
            assert miss.entry.startswith(check.key)
            line = next(row for row in text.splitlines()
                        if row.startswith(f"  {miss.entry}: "))
            assert "engine" in line and check.how in line, line
    as_json = verify.report_json(checks)
    assert as_json["verified"] is False
    for key in failing:
        quantity = as_json["quantities"][key]
        assert quantity["verified"] is False
        assert quantity["mismatches"]
        assert {"entry", "engine", "direct"} <= set(quantity["mismatches"][0])


def naive_gradients(problem: Problem) -> dict[str, Any]:
    """dL/dK, dL/dB, dL/dX (full layout) by the naive loops of the test helpers."""
    x, k = problem.input.tolist(), problem.filter.tolist()
    b = problem.bias.tolist() if problem.bias is not None else None
    z = naive_forward(x, k, b, problem.stride, problem.padding)
    if problem.target is not None:
        dz = naive_grad_output(z, problem.target.tolist(), problem.loss)
    else:
        assert problem.grad_output is not None
        dz = problem.grad_output.tolist()
    dk, dx, db = naive_backward(x, k, dz, problem.stride, problem.padding)
    return {"output": z, "grad_filter": dk, "grad_input": dx, "grad_bias": db}


def entry_index(entry: str) -> tuple[int, ...]:
    return tuple(int(i) for i in re.findall(r"\[(\d+)\]", entry))


def test_unrotated_kernel_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    problem = load_sample("seed002-given-gradient")  # kernel [[0.5, −1], [2, 0.25]]
    monkeypatch.setattr(engine, "rotate180", lambda k: np.ascontiguousarray(k.copy()))
    checks = verify.verify(problem)
    assert_reports_failure(checks, {"grad_input"})
    check = next(c for c in checks if c.key == "grad_input")
    assert check.label == "dL/dX"
    naive = np.array(naive_gradients(problem)["grad_input"], dtype=object)[0]
    broken = engine.solve(problem).grad_input[0]
    for miss in check.mismatches:
        i, j = entry_index(miss.entry)  # the user's 2-D input: grad_input[i][j]
        assert miss.direct == naive[i][j]
        assert miss.engine == broken[i, j]
    # X₂₂ reaches all four outputs: ∂L/∂X₂₂ = Σ dZ·K rotated, the engine's sum is unrotated
    center = next(m for m in check.mismatches if m.entry == "grad_input[1][1]")
    g, k = [[Fraction(1, 10), Fraction(-2, 10)], [Fraction(3, 10), Fraction(4, 10)]], \
        [[Fraction(1, 2), Fraction(-1)], [Fraction(2), Fraction(1, 4)]]
    assert center.direct == g[0][0] * k[1][1] + g[0][1] * k[1][0] + g[1][0] * k[0][1] \
        + g[1][1] * k[0][0]
    assert center.engine == g[0][0] * k[0][0] + g[0][1] * k[0][1] + g[1][0] * k[1][0] \
        + g[1][1] * k[1][1]

    run = invoke("solve", SAMPLES / "seed002-given-gradient.json", "--verify")
    assert run.returncode == 1, (run.stdout, run.stderr)
    assert "dL/dX: 9 of 9 entries differ from direct differentiation:" in run.stdout
    assert re.search(r"^  grad_input\[1\]\[1\]: engine -?[\d.]+, direct differentiation "
                     r"-?[\d.]+$", run.stdout, flags=re.M), run.stdout
    assert "dL/dK: verified by direct differentiation (4 entries)" in run.stdout
    as_json = invoke("solve", SAMPLES / "seed002-given-gradient.json", "--verify", "--format",
                     "json")
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert report["verified"] is False
    assert report["quantities"]["grad_input"]["verified"] is False
    assert len(report["quantities"]["grad_input"]["mismatches"]) == 9
    assert report["quantities"]["grad_filter"]["verified"] is True


def test_stride_without_zeros_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    problem = load_sample("seed001-stride2")
    assert problem.stride == (2, 2)
    monkeypatch.setattr(engine, "insert_zeros", lambda g, stride: g.copy())
    checks = verify.verify(problem)
    assert_reports_failure(checks, {"grad_filter", "grad_input"})
    naive = naive_gradients(problem)
    for check in checks:
        if check.key in ("grad_filter", "grad_input"):
            full = np.array(naive[check.key], dtype=object)
            for miss in check.mismatches:
                index = entry_index(miss.entry)
                assert miss.direct == full.reshape(full.shape[-2:])[index]
    run = invoke("solve", SAMPLES / "seed001-stride2.json", "--verify")
    assert run.returncode == 1
    assert re.search(r"^dL/dK: \d+ of 9 entries differ from direct differentiation:$",
                     run.stdout, flags=re.M), run.stdout
    assert re.search(r"^dL/dX: \d+ of 25 entries differ", run.stdout, flags=re.M)
    assert "dL/dB: verified" in run.stdout  # Σ dL/dZ does not care about the spreading


def test_stride_one_does_not_need_the_zeros(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same break is harmless at stride 1: verify must not cry wolf."""
    monkeypatch.setattr(engine, "insert_zeros", lambda g, stride: g.copy())
    assert all(c.ok for c in verify.verify(load_sample("seed000-filter-update")))


def test_missing_factor_two_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    problem = load_sample("seed000-filter-update")  # MSE, no bias
    original = engine.loss_gradient
    monkeypatch.setattr(engine, "loss_gradient",
                        lambda z, y, loss: original(z, y, loss) / 2)
    checks = verify.verify(problem)
    assert_reports_failure(checks, {"grad_filter", "grad_input"})
    for check in checks:
        for miss in check.mismatches:
            assert miss.direct == 2 * miss.engine, miss
    # seed 000: dL/dK₂₁ is 0.05 (the engine without its factor 2 says 0.025)
    grad_filter = next(c for c in checks if c.key == "grad_filter")
    miss = next(m for m in grad_filter.mismatches if m.entry == "grad_filter[1][0]")
    assert (miss.engine, miss.direct) == (Fraction("0.025"), Fraction("0.05"))
    # the notation names the quantity: seed 000 writes W for the kernel and Loss for L
    assert grad_filter.label == "dLoss/dW"

    run = invoke("solve", SAMPLES / "seed000-filter-update.json", "--verify")
    assert run.returncode == 1
    assert "dLoss/dW: 4 of 4 entries differ from direct differentiation:" in run.stdout
    assert "  grad_filter[1][0]: engine 0.025, direct differentiation 0.05" in run.stdout
    assert "Loss: verified by direct evaluation (1 entry)" in run.stdout


def test_missing_factor_two_with_bias(monkeypatch: pytest.MonkeyPatch) -> None:
    problem = load_sample("two-filters-padding")
    naive = naive_gradients(problem)
    original = engine.loss_gradient
    monkeypatch.setattr(engine, "loss_gradient",
                        lambda z, y, loss: original(z, y, loss) / 2)
    checks = verify.verify(problem)
    # half of a zero is still right: only the quantities with a nonzero entry fail
    failing = {key for key in ("grad_filter", "grad_bias", "grad_input")
               if any(v != 0 for v in flatten(naive[key]))}
    assert "grad_bias" in failing
    assert_reports_failure(checks, failing)
    for check in checks:
        for miss in check.mismatches:
            assert miss.direct == 2 * miss.engine, miss


def test_bias_left_out_of_the_forward_pass_is_caught(monkeypatch: pytest.MonkeyPatch,
                                                    problem_file: Callable[..., Path]) -> None:
    original = engine.forward
    monkeypatch.setattr(engine, "forward",
                        lambda xpad, k, bias, stride, *rest: original(xpad, k, None, stride,
                                                                      *rest))
    problem = problem_from_data({"input": [[1, 2], [3, 4]], "filter": [[1]], "bias": 5})
    checks = verify.verify(problem)
    assert_reports_failure(checks, {"output"})
    (check,) = checks
    assert check.how == "direct evaluation"
    assert [(m.entry, m.engine, m.direct) for m in check.mismatches] == [
        ("output[0][0]", 1, 6), ("output[0][1]", 2, 7), ("output[1][0]", 3, 8),
        ("output[1][1]", 4, 9)]
    run = invoke("solve", problem_file({"input": [[1, 2], [3, 4]], "filter": [[1]], "bias": 5}),
                 "--verify")
    assert run.returncode == 1
    assert "Z: 4 of 4 entries differ from direct evaluation:" in run.stdout
    assert "  output[0][0]: engine 1, direct evaluation 6" in run.stdout


#: ways to break the engine after the convolution, each a function of the original
BREAKS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "activation": ("activate", lambda f: lambda z, a: f(z, a) * 2),
    "slope": ("activation_slope", lambda f: lambda z, a, act: f(z, a, act) + 1),
    "activation backward": ("activation_backward", lambda f: lambda g, s: f(g, s) * 3),
    "pool": ("pool_forward", lambda f: lambda a, pool: (f(a, pool)[0] + 1, f(a, pool)[1])),
    "pool backward": ("pool_backward",
                      lambda f: lambda g, pool, shape, winners: f(g, pool, shape, winners) / 2),
    "loss": ("loss_value", lambda f: lambda z, y, loss: f(z, y, loss) + 1),
    "dL/dB": ("bias_gradient", lambda f: lambda g: f(g) - 1),
}
CHECKED = ("conv", "activated", "output", "loss", "grad_filter", "grad_bias", "grad_input")


def changed_keys(right: engine.Solution, wrong: engine.Solution) -> set[str]:
    """The checked quantities that differ (beyond 1e-9) between two solutions."""
    changed = set()
    for key in CHECKED:
        a, b = getattr(right, key), getattr(wrong, key)
        if a is None:
            continue
        pairs = [(a, b)] if isinstance(a, Fraction) else zip(a.flat, b.flat, strict=True)
        if any(abs(x - y) > Fraction(1, 10**9) * max(1, abs(x)) for x, y in pairs):
            changed.add(key)
    return changed


@pytest.mark.parametrize("break_name", BREAKS)
@pytest.mark.parametrize("name", LAYER_SAMPLES)
def test_a_broken_layer_after_the_convolution_is_caught(
        name: str, break_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each stage of the engine after the convolution broken in turn: exactly the
    quantities the break changes fail, each differing entry with the right value."""
    problem = load_sample(name)
    layer = problem.layer
    function, broken = BREAKS[break_name]
    if ("activ" in function or "slope" in function) and layer.activation is None:
        pytest.skip("no activation")
    if "pool" in function and layer.pool is None:
        pytest.skip("no pool")
    if (function == "loss_value" and problem.target is None) or (
            function == "bias_gradient" and problem.bias is None):
        pytest.skip("nothing to break")
    right = engine.solve(problem)
    monkeypatch.setattr(engine, function, broken(getattr(engine, function)))
    wrong = engine.solve(problem)
    changed = changed_keys(right, wrong)
    assert changed, "the break changes nothing here"
    checks = verify.verify(problem)

    def key_of(check: verify.Check) -> str:  # Z is "output" when no layer follows
        return "conv" if check.label == "Z" else check.key

    failing = {key_of(check) for check in checks if not check.ok}
    assert failing == changed & {key_of(check) for check in checks}, verify.report(checks)
    for check in checks:
        key = key_of(check)
        for miss in check.mismatches:
            index = tuple(int(i) for i in re.findall(r"\[(\d+)\]", miss.entry))
            value = getattr(right, key)
            truth = value if isinstance(value, Fraction) else value[
                (0,) * (value.ndim - len(index)) + index]
            assert verify.Oracle(problem).agree(truth, miss.direct, verify.Verifier(
                problem).approximate), (miss, truth)


# --------------------------------------------------------------------------
# too large: a clear message, at once


def big_problem() -> dict[str, Any]:
    """A 3×64×64 input and 16 filters of 3×5×5: 4.3 million products."""
    image = [[[(c + i * j) % 5 for j in range(64)] for i in range(64)] for c in range(3)]
    kernel = [[[[(f + c + m - n) % 3 - 1 for n in range(5)] for m in range(5)]
               for c in range(3)] for f in range(16)]
    return {"input": image, "filter": kernel, "bias": [0] * 16,
            "grad_output": [[[1] * 60 for _ in range(60)] for _ in range(16)]}


def test_too_large_in_process() -> None:
    problem = problem_from_data(big_problem())
    start = time.monotonic()
    with pytest.raises(verify.TooLarge) as caught:
        verify.verify(problem)
    assert time.monotonic() - start < 2
    message = str(caught.value)
    assert "--verify" in message
    assert "13504 symbols and 4320000 products" in message  # 12288 + 1200 + 16
    assert f"limited to {verify.MAX_SYMBOLS} symbols and {verify.MAX_PRODUCTS}" in message


def test_too_large_through_the_cli(problem_file: Callable[..., Path]) -> None:
    path = problem_file(big_problem())
    for options in ((), ("--format", "json")):
        start = time.monotonic()
        run = invoke("solve", path, "--verify", *options)
        elapsed = time.monotonic() - start
        assert elapsed < 10, elapsed
        assert run.returncode == 2, (run.stdout[:200], run.stderr)
        assert run.stdout == ""
        lines = run.stderr.splitlines()
        assert len(lines) == 1, run.stderr
        assert lines[0].startswith("cnnstep: error: --verify: the layer has")
        assert "Traceback" not in run.stderr


def decimal_layer(channels: int, side: int, filters: int, kernel: int, padding: int,
                  seed: int = 0) -> dict[str, Any]:
    """Two-place decimals in the input and target, three in the filter, and a bias."""
    rng = np.random.default_rng(seed)
    out = side + 2 * padding - kernel + 1

    def decimals(shape: tuple[int, ...], places: int) -> Any:
        return (rng.integers(-999, 1000, size=shape) / 10**places).round(places).tolist()

    return {"input": decimals((channels, side, side), 2),
            "filter": decimals((filters, channels, kernel, kernel), 3),
            "bias": decimals((filters,), 2), "padding": padding, "learning_rate": "0.1",
            "target": decimals((filters, out, out), 2)}


def test_twenty_thousand_products_verify_quickly() -> None:
    """The old route took about 5 ms of SymPy per product and refused beyond 2000."""
    problem = problem_from_data(decimal_layer(2, 17, 4, 3, padding=1))
    assert budget.verify_size(problem).products == 20808
    start = time.process_time()
    checks = verify.verify(problem)
    assert time.process_time() - start < 5
    assert all(check.ok for check in checks), verify.report(checks)


def test_a_layer_the_old_limit_refused_verifies() -> None:
    """One 40×40 channel and a 3×3 kernel: 38·38·9 products, over the old limit."""
    image = [[(i + j) % 3 for j in range(40)] for i in range(40)]
    problem = problem_from_data({"input": image, "filter": [[1, 0, -1]] * 3,
                                 "grad_output": [[1] * 38 for _ in range(38)]})
    assert budget.verify_size(problem).products == 12996
    checks = verify.verify(problem)
    assert all(check.ok for check in checks), verify.report(checks)


# --------------------------------------------------------------------------
# forward only: the output by direct evaluation


def test_forward_only_sample_verifies_its_output() -> None:
    problem = load_sample("seed001-stride1")
    assert not problem.has_gradients
    checks = verify.verify(problem)
    assert [c.key for c in checks] == ["output"]
    (check,) = checks
    assert check.ok and check.how == "direct evaluation"
    assert check.entries == problem.layer.output_shape[0] * problem.output_size[0] \
        * problem.output_size[1]
    assert verify.report(checks) == f"Z: verified by direct evaluation ({check.entries} entries)\n"


def test_forward_only_multi_filter_with_bias(problem_file: Callable[..., Path]) -> None:
    data = {"input": [[[1, 2, 0], [0, 1, 3]], [[2, 0, 1], [1, 1, 0]]],
            "filter": [[[[1, -1]], [[0.5, 2]]], [[[0, 1]], [[-1, 0.25]]]],
            "bias": [1, "-1/3"], "stride": [1, 2], "padding": [0, 1]}
    checks = verify.verify(problem_from_data(data))
    assert [(c.key, c.ok, c.how) for c in checks] == [("output", True, "direct evaluation")]
    run = invoke("solve", problem_file(data), "--verify", "--format", "json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report == {"verified": True, "quantities": {
        "output": {"verified": True, "entries": checks[0].entries, "mismatches": []}}}


# --------------------------------------------------------------------------
# random small problems verify


@given(cases(max_side=4))
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.filter_too_much])
def test_random_small_problems_verify(case: Case) -> None:
    problem = problem_from_data(case.data)
    layer = problem.layer
    oh, ow = layer.output_size
    kh, kw = layer.kernel_size
    assume(layer.filters * oh * ow * layer.channels * kh * kw <= 200)
    checks = verify.verify(problem)
    assert all(c.ok for c in checks), verify.report(checks)
    keys = ["output"]
    if case.mode == "target":
        keys.append("loss")
    if case.mode != "forward":
        keys += ["grad_filter", *(["grad_bias"] if case.b is not None else []), "grad_input"]
    assert [c.key for c in checks] == keys
    # the direct route agrees with the naive loops too (not only with the engine)
    z = naive_forward(case.x, case.k, case.b, case.stride, case.padding)
    assert [fr(v) for v in flatten(z)] == list(engine.solve(problem).output.flat)


@st.composite
def layered_problems(draw: Any) -> dict[str, Any]:
    """A small layer with an activation and a pool (either may be absent), a target or a
    given gradient, and small decimals or fractions."""
    numbers = st.sampled_from(["0", "1", "-1", "0.5", "-0.25", "2", "1/3", "-1.5", "0.1"])

    def array(*shape: int) -> Any:
        if not shape:
            return draw(numbers)
        return [array(*shape[1:]) for _ in range(shape[0])]

    channels, filters = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    side, kernel = draw(st.integers(2, 5)), draw(st.integers(1, 2))
    padding, stride = draw(st.integers(0, 1)), draw(st.integers(1, 2))
    out = (side + 2 * padding - kernel) // stride + 1
    data: dict[str, Any] = {"input": array(channels, side, side),
                            "filter": array(filters, channels, kernel, kernel),
                            "padding": padding, "stride": stride}
    if draw(st.booleans()):
        data["bias"] = array(filters)
    activation = draw(st.sampled_from([None, "relu", "leaky_relu", "sigmoid", "tanh"]))
    if activation is not None:
        data["activation"] = activation
    last = out
    if out >= 2 and draw(st.booleans()):
        size = draw(st.integers(1, 2))
        pool_stride = draw(st.integers(1, 2))
        data["pool"] = {"type": draw(st.sampled_from(["max", "min", "mean"])), "size": size,
                        "stride": pool_stride}
        last = (out - size) // pool_stride + 1
    if draw(st.booleans()):
        data["target"] = array(filters, last, last)
        data["loss"] = draw(st.sampled_from(["mse", "sse", "half_sse"]))
    else:
        data["grad_output"] = array(filters, last, last)
    return data


@given(layered_problems())
@settings(settings.get_profile("sympy"))
def test_random_layered_problems_verify_by_both_routes(data: dict[str, Any]) -> None:
    """The exact chain rule agrees with the engine on random small layers, its own
    directional check passes, and SymPy's derivatives give the same report."""
    problem = problem_from_data(data)
    solution = engine.solve(problem)
    checks = verify.Verifier(problem).checks(solution)
    assert all(check.ok for check in checks), verify.report(checks)
    assert SymPyVerifier(problem).checks(solution) == checks
