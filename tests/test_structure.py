"""The code's structure: one owner for every fact.

* every result key is listed once, in the quantities registry, and nothing else
  lists keys of its own;
* no module imports another's private names;
* the geometry module's windows, reach and affected outputs agree with a
  brute-force reading of the layer's formula;
* whether a value is approximate is decided once, so a given exact gradient
  prints the same in every step.
"""

from __future__ import annotations

import ast
import functools
import itertools
import json
from pathlib import Path

import pytest

import cnnstep
from cnnstep import geometry, quantities
from cnnstep.problem import problem_from_data
from cnnstep.result import result

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cnnstep"
SAMPLES = sorted((ROOT / "cnnstep" / "samples").glob("*.json"))


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


# --------------------------------------------------------------------------
# the registry


def test_every_result_key_is_registered_once() -> None:
    keys = [q.key for q in quantities.QUANTITIES]
    assert len(keys) == len(set(keys))
    assert sorted(keys) == sorted(quantities.RESULT_KEYS)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_present_keys_are_the_result_keys(sample: Path) -> None:
    data = json.loads(sample.read_text(encoding="utf-8"))
    if isinstance(data.get("input"), dict):
        pytest.skip("a layer given by shapes has no numeric result")
    if data.get("dimensions") == 3:
        pytest.skip("a 3-D layer's result is its own (cnnstep.volume), tested in "
                    "test_dimensions.py")
    data.pop("answers", None)
    problem = problem_from_data(data)
    worked = cnnstep.solve(problem)
    assert list(result(worked.solution)) == list(quantities.present(problem))
    # the user's shapes: every key's rank is the registry's
    for key, value in result(worked.solution).items():
        if quantities.get(key).axes == "history":  # one object per step; the marker's table
            assert [step["step"] for step in value] == list(range(1, problem.steps + 1))
            continue
        rank = 0
        while isinstance(value, list):
            rank, value = rank + 1, value[0]
        assert rank == quantities.user_rank(key, problem.layout), key


def test_names_of_the_convolution_follow_the_layers() -> None:
    plain = problem_from_data({"input": [[1, 2], [3, 4]], "filter": [[1]]}).layer
    layered = problem_from_data({"input": [[1, 2], [3, 4]], "filter": [[1]],
                                 "activation": "relu"}).layer
    assert quantities.conv_key(plain) == "output"
    assert quantities.grad_conv_key(plain) == "grad_output"
    assert quantities.conv_key(layered) == "conv"
    assert quantities.grad_conv_key(layered) == "grad_conv"
    assert quantities.symbol_role("output", layered) == "activated"
    assert quantities.symbol_role("grad_output", layered) == "grad_activated"


def test_approximate_keys_after_sigmoid() -> None:
    base = {"input": [[1, 2], [3, 4]], "filter": [[1]], "activation": "sigmoid",
            "pool": {"type": "max", "size": 2}}
    with_target = problem_from_data({**base, "target": [[1]]})
    given = problem_from_data({**base, "grad_output": [["1/3"]]})
    assert "conv" not in quantities.approximate_keys(with_target)
    assert {"grad_output", "grad_activated", "grad_conv"} <= quantities.approximate_keys(
        with_target)
    # a given gradient stays exact through the pool; the activation makes dL/dZ approximate
    assert "grad_output" not in quantities.approximate_keys(given)
    assert "grad_activated" not in quantities.approximate_keys(given)
    assert "grad_conv" in quantities.approximate_keys(given)


def test_a_given_exact_gradient_prints_the_same_in_every_step() -> None:
    """Sigmoid, a max pool and a given dL/dP of 1/3: the pool sends 1/3 to one entry
    of A exactly; the activation's step must show it as that exact 1/3, not as a
    rounded float in brackets."""
    worked = cnnstep.solve({"input": [[1, 2], [3, 4]], "filter": [[1]],
                            "activation": "sigmoid", "pool": {"type": "max", "size": 2},
                            "grad_output": [["1/3"]]})
    text = worked.to_text(width=100)
    pool_step = text[text.index("Back through the pool"):text.index("Back through the activation")]
    activation_step = text[text.index("Back through the activation"):]
    assert "= 1/3 ≈ 0.3333" in pool_step
    assert "≈ (1/3)×" in activation_step  # beside rounded floats: the form is ≈
    assert "0.333333" not in text


# --------------------------------------------------------------------------
# one owner: nothing else lists keys, nothing imports another's privates


@functools.cache
def _tree(path: Path) -> ast.Module:
    """A module's syntax tree, parsed once for the tests below."""
    return ast.parse(path.read_text(encoding="utf-8"))


def _string_literals(node: ast.AST) -> list[str]:
    return [elt.value for elt in getattr(node, "elts", [])
            if isinstance(elt, ast.Constant) and isinstance(elt.value, str)]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_registry_lists_result_keys(path: Path) -> None:
    """A tuple, list, set or dict literal naming four or more result keys is a second
    list of keys: it belongs in cnnstep/quantities.py. (A mistake names the two or
    three quantities it applies to; that is its own fact.)"""
    if path.name == "quantities.py":
        return
    keys = set(quantities.RESULT_KEYS)
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            named = [s for s in _string_literals(node) if s in keys]
            assert len(named) < 4, f"{path.name}:{node.lineno} lists result keys {named}"
        if isinstance(node, ast.Dict):
            named = [k.value for k in node.keys
                     if isinstance(k, ast.Constant) and k.value in keys]
            assert len(named) < 4, f"{path.name}:{node.lineno} maps result keys {named}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_name_is_imported_across_modules(path: Path) -> None:
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cnnstep"):
            private = [a.name for a in node.names
                       if a.name.startswith("_") and not a.name.endswith("__")]
            assert not private, f"{path.name}:{node.lineno} imports {private} from {node.module}"


def test_the_derivation_is_a_package_of_steps() -> None:
    steps = PACKAGE / "derivation"
    assert (steps / "__init__.py").exists()
    assert not (PACKAGE / "derivation.py").exists()
    for name in ("shapes", "padding", "forward", "activation", "pooling", "loss", "stride",
                 "grad_filter", "grad_bias", "grad_input", "update"):
        assert (steps / f"{name}.py").exists(), name


# --------------------------------------------------------------------------
# geometry against the formula


LAYERS = [
    {"input": [[0] * 5] * 5, "filter": [[0] * 3] * 3},
    {"input": [[0] * 5] * 6, "filter": [[0] * 2] * 3, "stride": [2, 1], "padding": [1, 2]},
    {"input": [[[0] * 4] * 4] * 2, "filter": [[[[0] * 2] * 2] * 2] * 3, "stride": 2},
]


@pytest.mark.parametrize("data", LAYERS)
def test_windows_reach_and_affected_agree_with_the_formula(data: dict[str, object]) -> None:
    layer = problem_from_data(data).layer
    (sh, sw), (kh, kw), (oh, ow) = layer.stride, layer.kernel_size, layer.output_size
    # Z[f,i,j] reads Xpad[c, i·sh + m, j·sw + n] at kernel position (m, n)
    uses = {(i, j, m, n): (i * sh + m, j * sw + n)
            for i, j, m, n in itertools.product(range(oh), range(ow), range(kh), range(kw))}
    for i, j in itertools.product(range(oh), range(ow)):
        window = geometry.conv_window(layer, i, j)
        assert window.taps == tuple(uses[i, j, m, n] for m in range(kh) for n in range(kw))
        rows, cols = geometry.conv_slices(layer, i, j)
        assert list(range(*rows.indices(10**6))) == list(window.rows)
        assert list(range(*cols.indices(10**6))) == list(window.columns)
    for m, n in itertools.product(range(kh), range(kw)):
        rows, cols = geometry.reach(layer, m, n)
        cells = [(r, c) for r in range(*rows.indices(10**6)) for c in range(*cols.indices(10**6))]
        assert cells == [uses[i, j, m, n] for i in range(oh) for j in range(ow)]
    hp, wp = layer.padded_size
    for row, col in itertools.product(range(hp), range(wp)):
        expected = sorted((f, i, j, m, n) for f in range(layer.filters)
                          for (i, j, m, n), cell in uses.items() if cell == (row, col))
        assert sorted(geometry.affected(layer, row, col)) == expected


def test_pool_windows_and_sizes() -> None:
    problem = problem_from_data({"input": [[0] * 5] * 5, "filter": [[0]],
                                 "pool": {"type": "max", "size": [2, 3], "stride": [2, 1]}})
    pool = problem.layer.pool
    assert pool is not None
    assert problem.layer.pooled_size == (2, 3) == geometry.sizes((5, 5), (2, 3), (2, 1))
    assert geometry.pool_cells(pool, 0, 1, 2) == [
        (0, 2, 2), (0, 2, 3), (0, 2, 4), (0, 3, 2), (0, 3, 3), (0, 3, 4)]
    assert geometry.uncovered(5, 2, 2) == 1
    assert geometry.uncovered(6, 2, 2) == 0


def test_why_a_key_is_absent() -> None:
    plain = problem_from_data({"input": [[1, 2]], "filter": [[1]]})
    activated = problem_from_data({"input": [[1, 2]], "filter": [[1]], "activation": "relu",
                                   "target": [[1, 2]]})
    assert quantities.why_absent("grad_activated", plain) == "it has no activation"
    assert quantities.why_absent("grad_activated", activated) == (
        "it has no pool, so dL/dA is grad_output")
    assert quantities.why_absent("loss", plain) == "it has no target"
    assert quantities.why_absent("grad_bias", activated) == "it has no bias"
    assert quantities.why_absent("updated_filter", activated) == "it has no learning_rate"
