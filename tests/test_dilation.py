"""Dilated convolutions: the kernel's taps spaced by the dilation.

The engine against the naive loops of ``oracle`` (exact) and against PyTorch's
``conv2d(..., dilation=d)`` with float64 autograd, on random problems; the
integer path against the Fraction path; and the refusals of a bad ``dilation``.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

import oracle
import pytest
from helpers import (
    DYADIC,
    _grid,
    assert_one_line_error,
    engine_result,
    integer_path_is_the_fraction_path,
    invoke,
    matches_the_naive_loops,
    stringified,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import Spec, spec_from_data, user_shaped
from test_torch_oracle import torch_layer

from cnnstep.engine import solve
from cnnstep.problem import problem_from_data

PROPERTY = settings.get_profile("layer")


@st.composite
def dilated_problems(draw: Any) -> tuple[dict[str, Any], Spec]:
    """A random dilated layer in the full layout, with a target or a given dL/dZ."""
    channels, filters = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    spans = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)
    height = draw(st.integers(max(1, spans[0] - 2 * padding[0]), spans[0] + 3))
    width = draw(st.integers(max(1, spans[1] - 2 * padding[1]), spans[1] + 3))
    oh = (height + 2 * padding[0] - spans[0]) // stride[0] + 1
    ow = (width + 2 * padding[1] - spans[1]) // stride[1] + 1
    data: dict[str, Any] = {
        "input": _grid(draw, DYADIC, (channels, height, width)),
        "filter": _grid(draw, DYADIC, (filters, channels, kh, kw)),
        "stride": list(stride), "padding": list(padding),
        "dilation": (dilation[0] if dilation[0] == dilation[1] and draw(st.booleans())
                     else list(dilation)),
    }
    if draw(st.booleans()):
        data["bias"] = draw(st.lists(DYADIC, min_size=filters, max_size=filters))
    if draw(st.booleans()):
        data["target"] = _grid(draw, DYADIC, (filters, oh, ow))
        data["loss"] = draw(st.sampled_from(["mse", "sse", "half_sse"]))
        data["learning_rate"] = "1/4"
    else:
        data["grad_output"] = _grid(draw, DYADIC, (filters, oh, ow))
    data = stringified(data)
    return data, spec_from_data(data)



@PROPERTY
@given(dilated_problems())
def test_dilated_layer_matches_the_naive_loops(problem: tuple[dict[str, Any], Spec]) -> None:
    matches_the_naive_loops(*problem)


@PROPERTY
@given(dilated_problems())
def test_dilated_integer_path_matches_the_fraction_path(
        problem: tuple[dict[str, Any], Spec]) -> None:
    integer_path_is_the_fraction_path(problem_from_data(problem[0]))



@pytest.mark.skipif(find_spec("torch") is None,
                    reason="PyTorch is not installed; the float64 autograd oracle is skipped")
@PROPERTY
@given(dilated_problems())
def test_dilated_layer_matches_torch(problem: tuple[dict[str, Any], Spec]) -> None:
    import torch

    data, spec = problem
    got = engine_result(problem_from_data(data))
    want = torch_layer(torch, spec)
    for key, value in got.items():
        oracle.assert_close(value, user_shaped(key, want[key], spec), key)


def test_dilation_two_by_hand() -> None:
    """A 2×2 kernel dilated by 2 reads the corners of each 3×3 window."""
    solution = solve(problem_from_data({
        "input": [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16]],
        "filter": [[1, 2], [3, 4]], "dilation": 2, "grad_output": [[1, 0], [0, 0]]}))
    assert solution.conv.tolist() == [[[1 + 2 * 3 + 3 * 9 + 4 * 11, 2 + 2 * 4 + 3 * 10 + 4 * 12],
                                       [5 + 2 * 7 + 3 * 13 + 4 * 15, 6 + 2 * 8 + 3 * 14 + 4 * 16]]]
    assert solution.grad_filter.tolist() == [[[[1, 3], [9, 11]]]]
    assert solution.grad_input.tolist() == [[[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0],
                                             [0, 0, 0, 0]]]


@pytest.mark.parametrize(("dilation", "needles"), [
    (0, ("dilation", "integer ≥ 1")),
    ("2", ("dilation", "integer ≥ 1")),
    ([1, 2, 3], ("dilation", "pair")),
    ([2, "x"], ("dilation[1]",)),
    (1.5, ("dilation", "integer ≥ 1")),
    (3, ("dilation", "spans 7×7", "padded input 4×4")),
    ([1, 4], ("dilation", "spans 3×9")),
])
def test_bad_dilation_is_one_line(tmp_path: Any, dilation: Any, needles: tuple[str, ...]
                                  ) -> None:
    import json

    data = {"input": [[1, 2, 3, 4]] * 4, "filter": [[1, 0, 1]] * 3, "dilation": dilation}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    run = invoke("solve", path, "--format", "json")
    assert_one_line_error(run, *needles)


def test_dilation_is_not_a_key_of_a_layer_alone(tmp_path: Any) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"input": [[1, 2], [3, 4]], "activation": "relu", "dilation": 2}')
    assert_one_line_error(invoke("solve", path, "--format", "json"), "dilation")


def test_generate_writes_the_dilation(tmp_path: Any) -> None:
    import json

    run = invoke("generate", "--seed", "4", "--size", "5", "--kernel", "2", "--dilation", "2",
                 "--loss", "sse", "-o", tmp_path)
    assert run.returncode == 0, run.stderr
    data = json.loads((tmp_path / "problem-01.json").read_text())
    assert data["dilation"] == 2
    assert problem_from_data(data).layer.output_size == (3, 3)


@PROPERTY
@given(dilated_problems())
def test_verify_agrees_on_dilated_layers(problem: tuple[dict[str, Any], Spec]) -> None:
    from cnnstep.verify import verify

    checks = verify(problem_from_data(problem[0]))
    assert checks and all(check.ok for check in checks), checks
