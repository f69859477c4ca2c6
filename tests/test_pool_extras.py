"""Pool padding, dilation, ceil mode and count_include_pad, and a layer alone.

The engine's pool is checked, forward and backward (the gradient with respect to
the pool's input), on random shapes and settings against the naive window-by-
window pool of ``oracle.padded_pool`` (always) and against PyTorch's float64
``max_pool2d`` and ``avg_pool2d`` with autograd (min pooling as −max(−x)), which
is skipped when torch is not installed. Every validation rule gives one line
naming the key.
"""

from __future__ import annotations

import json
from fractions import Fraction
from importlib import import_module
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from helpers import assert_one_line_error, invoke
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from oracle import padded_pool, pool_backward, torch_pool_size

import cnnstep
from cnnstep import geometry
from cnnstep.engine import solve
from cnnstep.problem import ProblemError, problem_from_data

HAS_TORCH = find_spec("torch") is not None


@st.composite
def pool_problems(draw: st.DrawFn) -> dict[str, Any]:
    """A layer alone: a random input of one or two channels straight into a pool with
    random padding, dilation, ceil mode and count_include_pad, with a grad_output."""
    kind = draw(st.sampled_from(["max", "min", "mean"]))
    size = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, size[0] // 2)), draw(st.integers(0, size[1] // 2)))
    dilation = ((1, 1) if kind == "mean" else
                (draw(st.integers(1, 3)), draw(st.integers(1, 3))))
    channels = draw(st.integers(1, 2))
    height, width = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    # few distinct values, so that max and min windows tie often
    values = st.sampled_from([Fraction(n, 2) for n in range(-4, 5)])
    plane = [[[draw(values) for _ in range(width)] for _ in range(height)]
             for _ in range(channels)]
    pool: dict[str, Any] = {"type": kind, "size": list(size), "stride": list(stride),
                            "padding": list(padding), "dilation": list(dilation),
                            "ceil_mode": draw(st.booleans())}
    if kind == "mean":
        pool["count_include_pad"] = draw(st.booleans())
    data: dict[str, Any] = {"input": [[[str(v) for v in row] for row in p] for p in plane],
                            "pool": pool}
    try:
        shape = problem_from_data(data).layer.last_shape
    except ProblemError:
        assume(False)
        raise
    grads = st.integers(-3, 3)
    data["grad_output"] = [[[draw(grads) for _ in range(shape[2])] for _ in range(shape[1])]
                           for _ in range(shape[0])]
    return data


def _settings(pool: dict[str, Any]) -> tuple[Any, ...]:
    return (tuple(pool["size"]), tuple(pool["stride"]), tuple(pool["padding"]),
            tuple(pool["dilation"]), pool["ceil_mode"], pool.get("count_include_pad", True))


def _oracle(data: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """Pooled and dL/dX of every channel, by the naive window-by-window oracle."""
    pool = data["pool"]
    pooled, grads = [], []
    for plane, grad in zip(data["input"], data["grad_output"], strict=True):
        exact = [[Fraction(v) for v in row] for row in plane]
        out, routes = padded_pool(exact, pool["type"], *_settings(pool))
        pooled.append(out)
        grads.append(pool_backward([[[Fraction(g) for g in row] for row in grad]], [routes],
                                   (len(exact), len(exact[0])))[0])
    return pooled, grads


@settings(settings.get_profile("layer"))
@given(data=pool_problems())
def test_pool_extras_match_the_naive_oracle(data: dict[str, Any]) -> None:
    solution = solve(problem_from_data(data))
    pooled, grads = _oracle(data)
    assert solution.pooled is not None and solution.grad_input is not None
    assert solution.pooled.tolist() == pooled
    assert solution.grad_input.tolist() == grads


@settings(max_examples=300, deadline=None)
@given(size=st.integers(1, 12), kernel=st.integers(1, 4), stride=st.integers(1, 4),
       dilation=st.integers(1, 3), ceil_mode=st.booleans(), data=st.data())
def test_pool_output_size_is_pytorchs(size: int, kernel: int, stride: int, dilation: int,
                                      ceil_mode: bool, data: st.DataObject) -> None:
    padding = data.draw(st.integers(0, kernel // 2))
    assume(dilation * (kernel - 1) + 1 <= size + 2 * padding)
    expected = torch_pool_size(size, kernel, stride, padding, dilation, ceil_mode)
    assert geometry.pool_output_size(size, kernel, stride, padding, dilation,
                                     ceil_mode) == expected


@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is not installed; the float64 "
                    "max_pool2d/avg_pool2d oracle is skipped")
@settings(settings.get_profile("layer"))
@given(data=pool_problems())
def test_pool_extras_match_torch(data: dict[str, Any]) -> None:
    torch = import_module("torch")
    torch.set_num_threads(1)
    functional = torch.nn.functional
    pool = data["pool"]
    size, stride, padding, dilation, ceil_mode, include = _settings(pool)
    x = torch.tensor([[[float(Fraction(v)) for v in row] for row in plane]
                      for plane in data["input"]], dtype=torch.float64)[None]
    x.requires_grad_(True)
    if pool["type"] == "mean":
        out = functional.avg_pool2d(x, size, stride, padding, ceil_mode, include)
    else:
        sign = 1 if pool["type"] == "max" else -1
        out = sign * functional.max_pool2d(sign * x, size, stride, padding, dilation,
                                           ceil_mode)
    out.backward(torch.tensor(data["grad_output"], dtype=torch.float64)[None])
    solution = solve(problem_from_data(data))
    assert solution.pooled is not None and solution.grad_input is not None
    assert list(out.shape[1:]) == list(solution.pooled.shape)
    for exact, approx in ((solution.pooled, out[0]), (solution.grad_input, x.grad[0])):
        for e, a in zip(exact.flat, approx.reshape(-1).tolist(), strict=True):
            assert abs(float(e) - a) <= 1e-9, (e, a)


# --------------------------------------------------------------------------
# examples worked by hand


def test_padded_ceil_max_pool_by_hand() -> None:
    """5×5 through a 2×2 max pool, stride 2, padding 1, ceil mode: ⌈(5 + 2 − 2)/2⌉ + 1 = 4,
    less the window that would start in the padding: 3×3."""
    data = {"input": [[1, 3, 2, 1, 0], [4, 6, 5, 2, 1], [3, 1, 0, 7, 2], [2, 8, 4, 1, 3],
                      [0, 1, 2, 3, 4]],
            "pool": {"type": "max", "size": 2, "stride": 2, "padding": 1, "ceil_mode": True}}
    result = cnnstep.solve(data).result
    assert result["output"] == [[1, 3, 1], [4, 6, 7], [2, 8, 4]]


def test_mean_pool_without_the_padding_in_its_divisor() -> None:
    data = {"input": [[2, 4, 1], [1, 1, 3], [2, 2, 2]],
            "pool": {"type": "avg", "size": 2, "padding": 1, "count_include_pad": False},
            "grad_output": [[1, 1], [1, 1]]}
    result = cnnstep.solve(data).result
    assert result["output"] == [[2, Fraction(5, 2)], [Fraction(3, 2), 2]]
    assert result["grad_input"][1][1] == Fraction(1, 4)
    data["pool"]["count_include_pad"] = True
    assert cnnstep.solve(data).result["output"] == [[Fraction(1, 2), Fraction(5, 4)],
                                                    [Fraction(3, 4), 2]]


def test_a_partial_window_counts_only_its_taps_inside() -> None:
    """A 3×3 window, stride 2, on 4 columns in ceil mode: the last window starts at
    column 2 and has only 2 columns; its mean divides by 3×2."""
    data = {"input": [[1, 2, 3, 4]] * 3,
            "pool": {"type": "mean", "size": 3, "stride": 2, "ceil_mode": True}}
    assert cnnstep.solve(data).result["output"] == [[2, Fraction(7, 2)]]
    text = cnnstep.solve(data).to_text(width=100)
    assert "the last window along the columns (window 2) is partial" in text
    assert "divisor 6" in text


# --------------------------------------------------------------------------
# a layer alone


def test_a_layer_alone_has_no_filter_keys() -> None:
    worked = cnnstep.solve(cnnstep.sample("maxpool-alone"))
    assert list(worked.result) == ["output", "loss", "grad_output", "grad_input", "pooled"]
    assert worked.result["output"] == [[6, 5], [8, 7]]
    assert worked.result["grad_input"][1] == [0, Fraction(1, 2), Fraction(1, 2), 0]
    text = worked.to_text(width=100)
    assert "Worked solution: pooling" in text
    assert "Output size" not in text and "K" not in text.split("Step 1")[0]


def test_a_layer_alone_keeps_the_channel_axis_it_was_given() -> None:
    flat = cnnstep.solve({"input": [[1, -2], [3, 4]], "activation": "relu",
                          "target": [[1, 1], [1, 1]]}).result
    assert flat["output"] == [[1, 0], [3, 4]]
    assert flat["grad_input"] == [[0, 0], [1, Fraction(3, 2)]]
    assert set(flat) == {"output", "loss", "grad_output", "grad_input", "activated"}
    deep = cnnstep.solve({"input": [[[1, -2], [3, 4]], [[0, 5], [-1, 2]]],
                          "pool": {"type": "max", "size": 2}}).result
    assert deep["output"] == [[[4]], [[5]]]


def test_a_layer_alone_verifies_and_marks(tmp_path: Path) -> None:
    for sample in ("maxpool-alone", "minpool-dilated-alone"):
        run = invoke("solve", "--sample", sample, "--verify")
        assert run.returncode == 0, run.stderr
        assert "dL/dX: verified by direct differentiation" in run.stdout
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"output": [[6, 5], [8, 7]], "loss": 1,
                                   "grad_input": [[0] * 4] * 4}), encoding="utf-8")
    run = invoke("check", "--sample", "maxpool-alone", answers)
    assert run.returncode == 1 and "grad_input" in run.stdout, run.stdout


def test_symbolic_refuses_a_layer_alone() -> None:
    assert_one_line_error(invoke("solve", "--sample", "maxpool-alone", "--symbolic"),
                          "--symbolic", "no convolution")


# --------------------------------------------------------------------------
# validation: one line naming the key

BAD: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "padding-over-half": ({"pool": {"type": "max", "size": 2, "padding": 2}},
                          ("pool.padding", "⌊2/2⌋ = 1")),
    "padding-over-half-one-axis": ({"pool": {"type": "max", "size": [2, 3],
                                             "padding": [1, 2]}},
                                   ("pool.padding[1]", "at most ⌊3/2⌋ = 1")),
    "padding-negative": ({"pool": {"type": "max", "size": 2, "padding": -1}},
                         ("pool.padding", "≥ 0")),
    "dilation-zero": ({"pool": {"type": "max", "size": 2, "dilation": 0}},
                      ("pool.dilation", "≥ 1")),
    "dilation-on-mean": ({"pool": {"type": "mean", "size": 2, "dilation": 2}},
                         ("pool.dilation", "avg_pool2d")),
    "window-larger-than-padded": ({"pool": {"type": "max", "size": 2, "dilation": 4}},
                                  ("pool", "dilated to 5×5", "larger", "4×4")),
    "ceil-not-a-flag": ({"pool": {"type": "max", "size": 2, "ceil_mode": "yes"}},
                        ("pool.ceil_mode", "true or false")),
    "count-include-pad-on-max": ({"pool": {"type": "max", "size": 2,
                                           "count_include_pad": False}},
                                 ("pool.count_include_pad", "max pooling")),
    "count-include-pad-not-a-flag": ({"pool": {"type": "mean", "size": 2,
                                               "count_include_pad": 0}},
                                     ("pool.count_include_pad", "true or false")),
    "unknown-pool-key": ({"pool": {"type": "max", "size": 2, "ceil": True}},
                         ("pool.ceil", "did you mean 'ceil_mode'?")),
    "unknown-pool-key-dilation": ({"pool": {"type": "max", "size": 2, "dilatation": 2}},
                                  ("pool.dilatation", "did you mean 'dilation'?")),
    "unknown-pool-type": ({"pool": {"type": "average", "size": 2}},
                          ("pool.type", '"avg"')),
}
INPUT = [[1, 2, 0, 1], [0, 1, 3, 1], [2, 1, 0, 2], [1, 0, 2, 1]]


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_pool_extras_exit_2_with_one_line(case: str, tmp_path: Path) -> None:
    extra, needles = BAD[case]
    path = tmp_path / "problem.json"
    path.write_text(json.dumps({"input": INPUT, **extra}), encoding="utf-8")
    assert_one_line_error(invoke("solve", path), *needles)


def test_a_window_of_padding_alone_is_refused() -> None:
    """A 1-row input, a 2-tall window dilated 2 with padding 1: its taps are the rows
    above and below the input, both padding; PyTorch would give −∞."""
    with pytest.raises(ProblemError, match=r"pool: window 1 along the rows reads only padding"):
        problem_from_data({"input": [[1, 2, 3]],
                           "pool": {"type": "max", "size": [2, 1], "dilation": [2, 1],
                                    "padding": [1, 0]}})


BAD_ALONE: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "nothing-to-do": ({}, ("filter: missing", "activation or a pool")),
    "bias": ({"activation": "relu", "bias": 1}, ("bias", "no filter")),
    "stride": ({"pool": {"type": "max", "size": 2}, "stride": 2}, ("stride", "pool.stride")),
    "padding": ({"pool": {"type": "max", "size": 2}, "padding": 1},
                ("padding", "pool.padding")),
    "learning-rate": ({"activation": "relu", "target": INPUT, "learning_rate": 0.1},
                      ("learning_rate", "no weights")),
    "notation-output": ({"activation": "relu", "notation": {"output": "O"}},
                        ("notation.output", "layer alone")),
    "target-shape": ({"pool": {"type": "max", "size": 2}, "target": INPUT},
                     ("target", "[2][2]", "[4][4]")),
}


@pytest.mark.parametrize("case", sorted(BAD_ALONE))
def test_bad_layer_alone_exits_2_with_one_line(case: str, tmp_path: Path) -> None:
    extra, needles = BAD_ALONE[case]
    path = tmp_path / "problem.json"
    path.write_text(json.dumps({"input": INPUT, **extra}), encoding="utf-8")
    assert_one_line_error(invoke("solve", path), *needles)
