"""The verifiers' stages, one method each, against the naive layer of ``helpers``.

``verify()`` is one :class:`Verifier` run over a solution; here each stage is
checked on its own: the forward pass from the definition, the activation and
the pool, the loss (or the linear form Σ G·Z), and dL/dK, dL/dB, dL/dX by
differentiation, all compared with nested-loop arithmetic that shares no code
with the engine or the verifier. The same for :class:`SymPyVerifier`, which
writes the loss out in SymPy; the chain rule's own check by directional
derivatives catches a wrong direct gradient.
"""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT, SAMPLES
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from oracle import (
    flatten,
    fr,
    naive_backward,
    naive_forward,
    naive_loss,
)

from cnnstep import engine, verify
from cnnstep.problem import Problem, ProblemError, problem_from_data
from cnnstep.verify import InconsistentGradient, Verifier
from cnnstep.verify_sympy import SymPyVerifier

STAGES = ("forward", "activation", "pool", "loss", "derivative", "grad_filter", "grad_bias",
          "grad_input")
HELPERS = ("number", "agree", "evaluated", "compare", "checks")

#: samples with no layer after the convolution: (input, filter, bias, stride, padding)
PLAIN = ["seed000-filter-update", "two-filters-padding", "seed001-stride2", "half-sse",
         "seed002-given-gradient", "seed003-rgb-edge-stride2"]
LAYERED = ["relu-maxpool", "meanpool", "maxpool-3x3-overlap", "sigmoid-half-sse"]


def load(name: str) -> tuple[dict[str, Any], Problem]:
    data = json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    return data, problem_from_data(data)


def pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (value[0], value[1])


def full(value: Any, rank: int) -> Any:
    """A nested list given with fewer axes, with leading axes of one added."""
    depth, probe = 0, value
    while isinstance(probe, list):
        depth, probe = depth + 1, probe[0]
    for _ in range(rank - depth):
        value = [value]
    return value


def naive(data: dict[str, Any]) -> dict[str, Any]:
    """X, K, B, stride, padding in the full layout, and Z, from helpers only."""
    x, k = full(fr(data["input"]), 3), full(fr(data["filter"]), 4)
    bias = data.get("bias")
    b = None if bias is None else fr(bias if isinstance(bias, list) else [bias])
    stride, padding = pair(data.get("stride", 1)), pair(data.get("padding", 0))
    return {"x": x, "k": k, "b": b, "stride": stride, "padding": padding,
            "z": naive_forward(x, k, b, stride, padding)}


def values(verifier: SymPyVerifier, stage: dict[tuple[int, ...], Any]) -> list[Fraction]:
    return [verifier.number(stage[index]) for index in sorted(stage)]


def test_a_method_per_stage() -> None:
    for name in STAGES + HELPERS:
        assert callable(getattr(SymPyVerifier, name, None)), name


@pytest.mark.parametrize("name", PLAIN + LAYERED)
def test_forward_is_the_definition(name: str) -> None:
    data, problem = load(name)
    verifier = SymPyVerifier(problem)
    assert values(verifier, verifier.forward()) == flatten(naive(data)["z"])


def test_activation_and_pool_stages() -> None:
    data, problem = load("relu-maxpool")
    assert data["activation"] == "relu" and data["pool"] == {"type": "max", "size": 2}
    z = naive(data)["z"][0]
    a = [[max(v, Fraction(0)) for v in row] for row in z]
    p = [[max(a[r][c] for r in (2 * i, 2 * i + 1) for c in (2 * j, 2 * j + 1))
          for j in range(len(a[0]) // 2)] for i in range(len(a) // 2)]
    verifier = SymPyVerifier(problem)
    activated = verifier.activation(verifier.forward())
    assert values(verifier, activated) == flatten(a)
    assert values(verifier, verifier.pool(activated)) == flatten(p)


def test_leaky_relu_and_mean_pool_stages() -> None:
    data, problem = load("meanpool")
    slope = fr(data["activation"]["slope"])
    assert data["pool"] == {"type": "mean", "size": 2, "stride": 1}
    a = [[v if v > 0 else slope * v for v in row] for row in naive(data)["z"][0]]
    p = [[(a[i][j] + a[i][j + 1] + a[i + 1][j] + a[i + 1][j + 1]) / 4
          for j in range(len(a[0]) - 1)] for i in range(len(a) - 1)]
    verifier = SymPyVerifier(problem)
    pooled = verifier.pool(verifier.activation(verifier.forward()))
    assert values(verifier, pooled) == flatten(p)


def test_stages_pass_through_without_a_layer() -> None:
    _, problem = load("seed000-filter-update")
    verifier = SymPyVerifier(problem)
    conv = verifier.forward()
    assert verifier.activation(conv) is conv and verifier.pool(conv) is conv


@pytest.mark.parametrize("name", ["seed000-filter-update", "two-filters-padding",
                                  "seed001-stride2", "half-sse"])
def test_loss_and_gradients_are_the_naive_ones(name: str) -> None:
    data, problem = load(name)
    layer = naive(data)
    y = full(fr(data["target"]), 3)
    loss = data.get("loss", "mse")
    count = len(flatten(y))
    factor = {"mse": Fraction(2, count), "sse": Fraction(2), "half_sse": Fraction(1)}[loss]
    dz = [[[factor * (zv - yv) for zv, yv in zip(zr, yr, strict=True)]
           for zr, yr in zip(zm, ym, strict=True)] for zm, ym in zip(layer["z"], y, strict=True)]
    dk, dx, db = naive_backward(layer["x"], layer["k"], dz, layer["stride"], layer["padding"])
    verifier = SymPyVerifier(problem)
    objective = verifier.loss(verifier.forward())
    assert objective is not None
    assert verifier.number(objective.loss) == naive_loss(layer["z"], y, loss)
    solution = engine.solve(problem)
    assert [verifier.number(verifier.derivative(objective, s)) for s in verifier.k.flat] \
        == flatten(dk)
    assert [verifier.number(verifier.derivative(objective, s)) for s in verifier.x.flat] \
        == flatten(dx)
    checks = [verifier.grad_filter(objective, solution.grad_filter),
              verifier.grad_input(objective, solution.grad_input)]
    if layer["b"] is not None:
        assert verifier.b is not None
        assert [verifier.number(verifier.derivative(objective, s)) for s in verifier.b.flat] == db
        checks.append(verifier.grad_bias(objective, solution.grad_bias))
    assert all(check.ok and check.how == "direct differentiation" for check in checks)


def test_a_given_gradient_is_the_linear_form() -> None:
    data, problem = load("seed002-given-gradient")
    layer = naive(data)
    g = full(fr(data["grad_output"]), 3)
    dk, dx, db = naive_backward(layer["x"], layer["k"], g, layer["stride"], layer["padding"])
    verifier = SymPyVerifier(problem)
    objective = verifier.loss(verifier.forward())
    assert objective is not None and objective.loss is None  # no loss to report
    assert [verifier.number(verifier.derivative(objective, s)) for s in verifier.k.flat] \
        == flatten(dk)
    assert verifier.b is not None
    assert [verifier.number(verifier.derivative(objective, s)) for s in verifier.b.flat] == db
    assert [verifier.number(verifier.derivative(objective, s)) for s in verifier.x.flat] \
        == flatten(dx)


def test_forward_only_has_no_loss() -> None:
    _, problem = load("seed001-stride1")
    verifier = SymPyVerifier(problem)
    assert verifier.loss(verifier.forward()) is None


def test_compare_names_a_wrong_entry() -> None:
    _, problem = load("two-filters-padding")
    solution = engine.solve(problem)
    verifier = SymPyVerifier(problem)
    objective = verifier.loss(verifier.forward())
    assert objective is not None and solution.grad_input is not None
    broken = solution.grad_input.copy()
    broken[1, 2, 0] += Fraction(1, 7)
    check = verifier.grad_input(objective, broken)
    assert [(m.entry, m.engine - m.direct) for m in check.mismatches] == [
        ("grad_input[1][2][0]", Fraction(1, 7))]
    assert check.entries == broken.size and check.label == "dL/dX"


def test_agree_is_exact_unless_rounded() -> None:
    _, problem = load("seed000-filter-update")
    verifier = SymPyVerifier(problem)
    near = Fraction(1) + Fraction(1, 10**10)
    assert not verifier.agree(Fraction(1), near, rounded=False)
    assert verifier.agree(Fraction(1), near, rounded=True)
    assert not verifier.agree(Fraction(1), Fraction(1) + Fraction(1, 10**8), rounded=True)
    assert verifier.agree(Fraction(10**3), Fraction(10**3) + Fraction(1, 10**7), rounded=True)


@pytest.mark.parametrize(("name", "keys"), [
    ("seed000-filter-update", ["output", "loss", "grad_filter", "grad_input"]),
    ("seed001-stride1", ["output"]),
    ("seed002-given-gradient", ["output", "grad_filter", "grad_bias", "grad_input"]),
    ("relu-maxpool", ["conv", "activated", "output", "loss", "grad_filter", "grad_bias",
                      "grad_input"]),
    ("sigmoid-half-sse", ["conv", "output", "loss", "grad_filter", "grad_bias",
                          "grad_input"]),
])
def test_the_sympy_class_gives_verifys_checks(name: str, keys: list[str]) -> None:
    _, problem = load(name)
    checks = SymPyVerifier(problem).checks(engine.solve(problem))
    assert [check.key for check in checks] == keys
    assert all(check.ok for check in checks), verify.report(checks)
    assert checks == verify.verify(problem)


def test_verify_passes_its_solve_to_the_class() -> None:
    _, problem = load("seed000-filter-update")
    right = engine.solve(problem)
    assert right.grad_filter is not None
    wrong = engine.Solution(**{**vars(right), "grad_filter": right.grad_filter * 2})
    checks = verify.verify(problem, solve=lambda p: wrong)
    assert [check.key for check in checks if not check.ok] == ["grad_filter"]


def test_importing_the_verifier_does_not_import_sympy() -> None:
    code = "import sys, cnnstep.verify; print('sympy' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(ROOT), timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"


# --------------------------------------------------------------------------
# the exact verifier: its stages and its chain rule


EXACT_STAGES = ("forward", "activation", "slopes", "routes", "pool", "loss", "held", "changed",
                "backward", "directions", "along", "consistent", "grad_filter", "grad_bias",
                "grad_input", "compare", "checks")


def test_the_exact_verifier_has_a_method_per_stage() -> None:
    for name in (*EXACT_STAGES, "number", "agree", "evaluated", "differentiated", "stages"):
        assert callable(getattr(Verifier, name, None)), name


@pytest.mark.parametrize("name", PLAIN + LAYERED)
def test_exact_forward_is_the_definition(name: str) -> None:
    data, problem = load(name)
    assert list(Verifier(problem).forward().flat) == flatten(naive(data)["z"])


@pytest.mark.parametrize("name", LAYERED)
def test_exact_stages_are_the_sympy_ones(name: str) -> None:
    _, problem = load(name)
    exact, written = Verifier(problem), SymPyVerifier(problem)
    conv = exact.forward()
    activated, pooled = exact.activation(conv), exact.pool(exact.activation(conv))
    written_activated = written.activation(written.forward())
    rounded = exact.approximate
    for mine, theirs in ((activated, written_activated),
                         (pooled, written.pool(written_activated))):
        got = list(mine.flat)
        want = values(written, theirs)
        assert all(exact.agree(w, g, rounded) for g, w in zip(got, want, strict=True))


@pytest.mark.parametrize("name", PLAIN + LAYERED)
def test_exact_gradients_are_the_sympy_ones(name: str) -> None:
    """The two direct routes agree entry by entry: exactly, or to 1e-30 after sigmoid."""
    _, problem = load(name)
    exact = Verifier(problem)
    conv = exact.forward()
    activated = exact.activation(conv)
    last = exact.pool(activated)
    objective = exact.loss(last)
    assert objective is not None
    gradients = exact.backward(exact.held(conv, activated, last), objective)
    written = SymPyVerifier(problem)
    sympy_objective = written.loss(written.pool(written.activation(written.forward())))
    assert sympy_objective is not None
    for key, symbols in (("grad_filter", written.k), ("grad_input", written.x),
                         ("grad_bias", written.b)):
        if symbols is None:
            assert key not in gradients
            continue
        for mine, symbol in zip(gradients[key].flat, symbols.flat, strict=True):
            theirs = written.number(written.derivative(sympy_objective, symbol))
            assert abs(mine - theirs) <= Fraction(1, 10**30) * max(1, abs(theirs)), key


@pytest.mark.parametrize("name", ["seed000-filter-update", "seed002-given-gradient",
                                  "relu-maxpool", "meanpool", "sigmoid-half-sse",
                                  "maxpool-3x3-overlap"])
def test_a_wrong_direct_gradient_fails_its_own_check(name: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The chain rule is checked by directional derivatives of the loss alone: a wrong
    entry of the direct gradient is the verifier's fault and is never reported as a
    mismatch of the engine's."""
    _, problem = load(name)
    original = verify.transpose

    def off_by_one(taps: Any, dz: Any, x: Any, k: Any) -> Any:
        grad_k, grad_x = original(taps, dz, x, k)
        grad_x.numerators[0][0][0] += grad_x.denominator  # one entry of dL/dX, off by 1
        return grad_k, grad_x

    monkeypatch.setattr(verify, "transpose", off_by_one)
    with pytest.raises(InconsistentGradient, match="the verifier is at fault"):
        verify.verify(problem)


def test_every_direction_is_checked() -> None:
    """Two random directions over every entry, then one coordinate direction in each of
    X, K and B; along each, the directional derivative is ⟨∇L, v⟩."""
    _, problem = load("two-filters-padding")
    verifier = Verifier(problem)
    directions = list(verifier.directions())
    assert len(directions) == verify.DIRECTIONS + 3
    for v in directions[:verify.DIRECTIONS]:
        assert set(v) == {"grad_input", "grad_filter", "grad_bias"}
        assert not v["grad_input"].zero and not v["grad_filter"].zero
    for key, v in zip(("grad_input", "grad_filter", "grad_bias"),
                      directions[verify.DIRECTIONS:], strict=True):
        assert [sum(map(abs, v[other].flat)) for other in v] == [
            1 if other == key else 0 for other in v]
    again = next(Verifier(problem).directions())  # the same every run
    assert [d.flat for d in again.values()] == [d.flat for d in directions[0].values()]


def test_verify_imports_no_sympy() -> None:
    code = ("import sys, cnnstep.verify as v, cnnstep.problem as p\n"
            "v.verify(p.load_problem('cnnstep/samples/relu-maxpool.json'))\n"
            "print('sympy' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(ROOT), timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"


@pytest.mark.parametrize("name", ["maxpool-padding-ceil", "meanpool-exclude-padding",
                                  "maxpool-alone", "minpool-dilated-alone"])
def test_pool_extras_and_a_layer_alone_by_both_routes(name: str) -> None:
    """Padded, dilated and ceil-mode pools and a layer alone: the exact route works its
    windows out itself and agrees with the engine and with SymPy's, which reads them
    from the geometry."""
    _, problem = load(name)
    solution = engine.solve(problem)
    checks = Verifier(problem).checks(solution)
    assert all(check.ok for check in checks), verify.report(checks)
    assert SymPyVerifier(problem).checks(solution) == checks
    if not problem.layer.convolution:
        assert "grad_filter" not in [check.key for check in checks]


@st.composite
def extra_pools(draw: Any) -> dict[str, Any]:
    """A small layer, with or without its convolution, and a pool with padding,
    dilation, ceil mode and count_include_pad drawn at random."""
    numbers = st.sampled_from(["0", "1", "-1", "0.5", "-0.25", "2", "1/3", "-1.5"])

    def array(*shape: int) -> Any:
        if not shape:
            return draw(numbers)
        return [array(*shape[1:]) for _ in range(shape[0])]

    side = draw(st.integers(3, 6))
    data: dict[str, Any] = {"input": array(1, side, side)}
    if draw(st.booleans()):
        data["filter"] = array(draw(st.integers(1, 2)), 1, 2, 2)
        side -= 1
    kind = draw(st.sampled_from(["max", "min", "mean"]))
    size = draw(st.integers(2, 3))
    pool: dict[str, Any] = {"type": kind, "size": size, "stride": draw(st.integers(1, 2)),
                            "padding": draw(st.integers(0, size // 2)),
                            "ceil_mode": draw(st.booleans())}
    if kind == "mean":
        pool["count_include_pad"] = draw(st.booleans())
    else:
        pool["dilation"] = draw(st.integers(1, 2))
    data["pool"] = pool
    if draw(st.booleans()):
        data["activation"] = draw(st.sampled_from(["relu", "leaky_relu"]))
    return data


@given(extra_pools())
@settings(settings.get_profile("sympy"))
def test_random_pool_extras_verify_by_both_routes(data: dict[str, Any]) -> None:
    try:
        problem = problem_from_data(data)
    except ProblemError:
        assume(False)
        raise
    filters, height, width = problem.layer.last_shape
    given = [[[["1", "-2", "0.5"][(i + j) % 3] for j in range(width)] for i in range(height)]
             for _ in range(filters)]
    problem = problem_from_data({**data, "grad_output": given})
    solution = engine.solve(problem)
    checks = Verifier(problem).checks(solution)
    assert all(check.ok for check in checks), verify.report(checks)
    assert SymPyVerifier(problem).checks(solution) == checks
