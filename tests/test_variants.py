"""The convolution variants together: groups, padding forms, mode, dilation and
stride drawn at once, against the naive loops of ``oracle`` (exact), the integer
path, the verifier and PyTorch float64 autograd.

Each variant has its own tests (test_groups.py, test_padmode.py,
test_dilation.py); these check that they combine as PyTorch combines them.
"""

from __future__ import annotations

import json
from fractions import Fraction
from importlib.util import find_spec
from pathlib import Path
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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import Spec, assert_exact, expected_keys, naive_layer, spec_from_data, user_shaped
from test_torch_oracle import torch_layer

from cnnstep.engine import solve
from cnnstep.problem import problem_from_data
from cnnstep.result import result, scaled_result
from cnnstep.verify import verify

PROPERTY = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def variant_problems(draw: Any) -> tuple[dict[str, Any], Spec]:
    """A random layer with groups, a padding form, a mode, a dilation and a stride, and
    perhaps a (leaky) ReLU and a pool after it."""
    groups = draw(st.integers(1, 2))
    channels = groups * draw(st.integers(1, 2))
    filters = groups * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    spans = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)
    form = draw(st.sampled_from(["sides", "valid", "same", "full", "pair"]))
    stride = (1, 1) if form == "same" else (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pair = (draw(st.integers(0, 1)), draw(st.integers(0, 1)))
    sides = {"sides": tuple(draw(st.integers(0, 2)) for _ in range(4)),
             "pair": (pair[0], pair[0], pair[1], pair[1]),
             "valid": (0, 0, 0, 0),
             "same": ((spans[0] - 1) // 2, spans[0] // 2, (spans[1] - 1) // 2, spans[1] // 2),
             "full": (spans[0] - 1,) * 2 + (spans[1] - 1,) * 2}[form]
    top, bottom, left, right = sides
    height = draw(st.integers(max(1, spans[0] - top - bottom), spans[0] + 2))
    width = draw(st.integers(max(1, spans[1] - left - right), spans[1] + 2))
    oh = (height + top + bottom - spans[0]) // stride[0] + 1
    ow = (width + left + right - spans[1]) // stride[1] + 1
    padding: Any = {"sides": [[top, bottom], [left, right]], "pair": list(pair)}.get(form, form)
    data: dict[str, Any] = {
        "input": _grid(draw, DYADIC, (channels, height, width)),
        "filter": _grid(draw, DYADIC, (filters, channels // groups, kh, kw)),
        "stride": list(stride), "padding": padding, "dilation": list(dilation),
        "groups": groups,
    }
    if draw(st.booleans()):
        data["mode"] = "convolution"
    if draw(st.booleans()):
        data["bias"] = draw(st.lists(DYADIC, min_size=filters, max_size=filters))
    if draw(st.booleans()):
        data["activation"] = draw(st.sampled_from(["relu", "leaky_relu"]))
    if oh > 1 and ow > 1 and draw(st.booleans()):  # a 2×2 pool, stride 1, after the layer
        data["pool"] = {"type": draw(st.sampled_from(["max", "min", "mean"])), "size": 2,
                        "stride": 1}
        oh, ow = oh - 1, ow - 1
    if draw(st.booleans()):
        data["target"] = _grid(draw, DYADIC, (filters, oh, ow))
        data["learning_rate"] = "1/4"
    else:
        data["grad_output"] = _grid(draw, DYADIC, (filters, oh, ow))
    data = stringified(data)
    return data, spec_from_data(data)


@PROPERTY
@given(variant_problems())
def test_variants_together_match_the_naive_loops(problem: tuple[dict[str, Any], Spec]) -> None:
    matches_the_naive_loops(*problem)


@PROPERTY
@given(variant_problems())
def test_variants_together_on_the_integer_path(problem: tuple[dict[str, Any], Spec]) -> None:
    integer_path_is_the_fraction_path(problem_from_data(problem[0]))


@PROPERTY
@given(variant_problems())
def test_variants_together_verify(problem: tuple[dict[str, Any], Spec]) -> None:
    checks = verify(problem_from_data(problem[0]))
    assert checks and all(check.ok for check in checks), checks


@pytest.mark.skipif(find_spec("torch") is None,
                    reason="PyTorch is not installed; the float64 autograd oracle is skipped")
@settings(PROPERTY, max_examples=20)
@given(variant_problems())
def test_variants_together_match_torch(problem: tuple[dict[str, Any], Spec]) -> None:
    import torch

    data, spec = problem
    got = engine_result(problem_from_data(data))
    want = torch_layer(torch, spec)
    for key, value in got.items():
        oracle.assert_close(value, user_shaped(key, want[key], spec), key)


@settings(PROPERTY, max_examples=10)
@given(variant_problems())
def test_variants_together_are_worked_in_every_format(
        problem: tuple[dict[str, Any], Spec]) -> None:
    """The worked solution of any mix prints in text, LaTeX and Markdown, and each
    names the values of the result."""
    import cnnstep

    worked = cnnstep.solve(problem[0])
    assert isinstance(worked, cnnstep.Worked)
    text, latex, markdown = worked.to_text(), worked.to_latex(), worked.to_markdown()
    for output in (text, latex, markdown):
        assert "Gradient with respect to the input" in output
    assert latex.rstrip().endswith(r"\end{document}")


TRANSPOSED = {"input": [[1, 2], [3, 4]], "filter": [[1, 0, -1], [2, 1, 0], [0, 1, 1]],
              "layer": "conv_transpose", "stride": 2, "grad_output": [[1] * 3] * 3}


@pytest.mark.parametrize(("extra", "needles"), [
    ({"padding": "same"}, ("padding:", "conv_transpose", '"same"')),
    ({"padding": [[0, 1], [1, 0]]}, ("padding:", "integer or [ph, pw]")),
    ({"mode": "convolution"}, ("mode:", "conv_transpose")),
    ({"groups": 2}, ("groups:", "1 input channel", "conv_transpose")),
])
def test_what_a_transposed_layer_does_not_take_is_one_line(
        tmp_path: Path, extra: dict[str, Any], needles: tuple[str, ...]) -> None:
    path = tmp_path / "transposed.json"
    path.write_text(json.dumps(TRANSPOSED | extra), encoding="utf-8")
    assert_one_line_error(invoke("solve", path), *needles)


def test_a_transposed_layer_takes_a_padding_pair_and_one_group(tmp_path: Path) -> None:
    path = tmp_path / "transposed.json"
    path.write_text(json.dumps(TRANSPOSED | {"padding": [1, 1], "groups": 1}), encoding="utf-8")
    run = invoke("solve", path, "--format", "json")
    assert run.returncode == 0, run.stderr
    # PyTorch's conv_transpose2d(x, k, stride=2, padding=1)
    assert json.loads(run.stdout)["output"] == [[1, 4, 2], [1, 2, 2], [3, 8, 4]]


@st.composite
def transposed_variants(draw: Any) -> tuple[dict[str, Any], Spec]:
    """A random transposed layer with groups, a dilation, a stride, an output_padding
    and a padding that may crop (above d·(k − 1)), and perhaps a (leaky) ReLU and a
    pool after it."""
    groups = draw(st.integers(1, 2))
    channels, per_group = groups * draw(st.integers(1, 2)), draw(st.integers(1, 2))
    filters = groups * per_group
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    size = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    extra = tuple(draw(st.integers(0, max(stride[a], dilation[a]) - 1)) for a in range(2))
    reach = [(size[a] - 1) * stride[a] + dilation[a] * (kernel[a] - 1) + extra[a]
             for a in range(2)]  # the output size less 1 before the padding
    padding = tuple(draw(st.integers(0, reach[a] // 2)) for a in range(2))
    oh, ow = (reach[a] - 2 * padding[a] + 1 for a in range(2))
    data: dict[str, Any] = {
        "layer": "conv_transpose", "groups": groups,
        "input": _grid(draw, DYADIC, (channels, *size)),
        "filter": _grid(draw, DYADIC, (channels, per_group, *kernel)),
        "stride": list(stride), "padding": list(padding), "dilation": list(dilation),
        "output_padding": list(extra),
    }
    if draw(st.booleans()):
        data["bias"] = draw(st.lists(DYADIC, min_size=filters, max_size=filters))
    if draw(st.booleans()):
        data["activation"] = draw(st.sampled_from(["relu", "leaky_relu"]))
    if oh > 1 and ow > 1 and draw(st.booleans()):
        data["pool"] = {"type": draw(st.sampled_from(["max", "min", "mean"])), "size": 2,
                        "stride": 1}
        oh, ow = oh - 1, ow - 1
    if draw(st.booleans()):
        data["target"] = _grid(draw, DYADIC, (filters, oh, ow))
        data["learning_rate"] = "1/4"
    else:
        data["grad_output"] = _grid(draw, DYADIC, (filters, oh, ow))
    data = stringified(data)
    return data, spec_from_data(data)


@settings(PROPERTY, max_examples=20)
@given(transposed_variants())
def test_transposed_variants_match_the_naive_scatter_and_the_integer_path(
        problem: tuple[dict[str, Any], Spec]) -> None:
    data, spec = problem
    loaded = problem_from_data(data)
    got = engine_result(loaded)
    want = naive_layer(spec)
    assert set(got) == expected_keys(spec)
    for key, value in got.items():
        assert_exact(value, user_shaped(key, want[key], spec), key)
    scaled = scaled_result(loaded)
    assert scaled is not None and set(scaled) == set(got)
    for key, number in scaled.items():
        if not isinstance(number, Fraction):
            values = [Fraction(int(n), number.denominator) for n in number.numerators.flat]
            assert values == oracle.flatten(got[key]), key
    checks = verify(loaded)
    assert checks and all(check.ok for check in checks), checks


@pytest.mark.skipif(find_spec("torch") is None,
                    reason="PyTorch is not installed; the float64 autograd oracle is skipped")
@settings(PROPERTY, max_examples=15)
@given(transposed_variants())
def test_transposed_variants_match_torch(problem: tuple[dict[str, Any], Spec]) -> None:
    import torch

    data, spec = problem
    got = engine_result(problem_from_data(data))
    want = torch_layer(torch, spec)
    for key, value in got.items():
        oracle.assert_close(value, user_shaped(key, want[key], spec), key)


# --------------------------------------------------------------------------
# a 1-D layer with the variants, against PyTorch's conv1d


@st.composite
def signal_problems(draw: Any) -> dict[str, Any]:
    """A random 1-D layer with groups, a named or numeric padding, a mode, a dilation."""
    groups = draw(st.integers(1, 2))
    channels, filters = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    k, dilation = draw(st.integers(1, 4)), draw(st.integers(1, 2))
    span = dilation * (k - 1) + 1
    form = draw(st.sampled_from(["valid", "same", "full", 0, 1]))
    stride = 1 if form == "same" else draw(st.integers(1, 2))
    before, after = {"valid": (0, 0), "same": ((span - 1) // 2, span // 2),
                     "full": (span - 1, span - 1), 0: (0, 0), 1: (1, 1)}[form]
    length = draw(st.integers(max(1, span - before - after), span + 3))
    out = (length + before + after - span) // stride + 1
    data: dict[str, Any] = {
        "dimensions": 1, "input": _grid(draw, DYADIC, (channels, length)),
        "filter": _grid(draw, DYADIC, (filters, channels // groups, k)),
        "stride": stride, "padding": form, "dilation": dilation, "groups": groups,
        "grad_output": _grid(draw, DYADIC, (filters, out)),
    }
    if draw(st.booleans()):
        data["mode"] = "convolution"
    if draw(st.booleans()):
        data["bias"] = draw(st.lists(DYADIC, min_size=filters, max_size=filters))
    return stringified(data)


def _conv1d(torch: Any, data: dict[str, Any], batch: bool = False) -> dict[str, Any]:
    """PyTorch's conv1d on [1, C, L], or on the [N, C, L] of a ``batch`` of signals."""
    functional = torch.nn.functional

    def lead(values: Any) -> Any:
        return values if batch else [values]

    def tensor(values: Any) -> Any:
        return torch.tensor(oracle.floats(oracle.fr(values)),
                            dtype=torch.float64).requires_grad_()

    x, k = tensor(lead(data["input"])), tensor(data["filter"])
    b = tensor(data["bias"]) if "bias" in data else None
    span = data["dilation"] * (len(data["filter"][0][0]) - 1) + 1
    form = data["padding"]
    before, after = {"valid": (0, 0), "same": ((span - 1) // 2, span // 2),
                     "full": (span - 1, span - 1)}.get(form, (form, form))
    kernel = torch.flip(k, (-1,)) if data.get("mode") == "convolution" else k
    z = functional.conv1d(functional.pad(x, (before, after)), kernel, b,
                          stride=data["stride"], dilation=data["dilation"],
                          groups=data["groups"])
    z.backward(tensor(lead(data["grad_output"])).detach())
    out = {"output": z if batch else z[0], "grad_filter": k.grad,
           "grad_input": x.grad if batch else x.grad[0]}
    if b is not None:
        out["grad_bias"] = b.grad
    return {key: value.detach().tolist() for key, value in out.items()}


@pytest.mark.skipif(find_spec("torch") is None,
                    reason="PyTorch is not installed; the float64 autograd oracle is skipped")
@settings(PROPERTY, max_examples=25)
@given(signal_problems())
def test_signal_variants_match_torch_conv1d(data: dict[str, Any]) -> None:
    import torch

    got = engine_result(problem_from_data(data))
    want = _conv1d(torch, data)
    for key, value in want.items():
        oracle.assert_close(got[key], value, key)


@st.composite
def signal_batches(draw: Any) -> dict[str, Any]:
    """Two or three signals [N][C][L] through one drawn 1-D layer, each with its own
    dL/dZ."""
    data = draw(signal_problems())
    signals = draw(st.integers(2, 3))
    shapes = (oracle.shape_of(oracle.fr(data["input"])),
              oracle.shape_of(oracle.fr(data["grad_output"])))
    return dict(data, **{key: [data[key]] + [
        stringified(_grid(draw, DYADIC, shape)) for _ in range(signals - 1)]
        for key, shape in zip(("input", "grad_output"), shapes, strict=True)})


@pytest.mark.skipif(find_spec("torch") is None,
                    reason="PyTorch is not installed; the float64 autograd oracle is skipped")
@settings(PROPERTY, max_examples=15)
@given(signal_batches())
def test_batches_of_signal_variants_match_torch_conv1d(data: dict[str, Any]) -> None:
    import torch

    problem = problem_from_data(data)
    got = engine_result(problem)
    want = _conv1d(torch, data, batch=True)
    for key, value in want.items():
        oracle.assert_close(got[key], value, key)
    assert all(check.ok for check in verify(problem))
    scaled, full = scaled_result(problem), result(solve(problem))
    assert scaled is not None and set(scaled) == set(full)
    for key, exact in scaled.items():
        assert (exact if isinstance(exact, Fraction) else exact.fractions.tolist()) == full[key]


# --------------------------------------------------------------------------
# a batch of images through a layer with the variants


@st.composite
def batch_problems(draw: Any) -> dict[str, Any]:
    """Two or three images through one drawn layer, each with its own target or dL/dZ."""
    data, spec = draw(variant_problems())
    images = draw(st.integers(2, 3))
    shape = oracle.shape_of(spec.x)
    out_key = "target" if "target" in data else "grad_output"
    out_shape = oracle.shape_of(oracle.fr(data[out_key]))
    batch = dict(data, input=[data["input"]] + [
        stringified(_grid(draw, DYADIC, shape)) for _ in range(images - 1)])
    batch[out_key] = [data[out_key]] + [
        stringified(_grid(draw, DYADIC, out_shape)) for _ in range(images - 1)]
    return batch


@settings(PROPERTY, max_examples=20)
@given(batch_problems())
def test_batches_of_the_variants_match_the_naive_loops(data: dict[str, Any]) -> None:
    got = engine_result(problem_from_data(data))
    want = oracle.naive_batch(data)
    assert set(got) == set(want)
    for key, value in want.items():
        assert_exact(got[key], value, key)
