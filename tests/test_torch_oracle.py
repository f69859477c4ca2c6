"""The exact engine against PyTorch autograd in float64, on random problems.

PyTorch's conv2d is the cross-correlation of the format, with the same stride
and zero padding; its autograd gives dL/dK, dL/dB and dL/dX independently of
the by-hand formulas the engine uses (rotated kernel, zero-inserted dL/dZ).
With activation and pooling after the convolution, its relu, leaky_relu,
sigmoid, tanh, max_pool2d and avg_pool2d (min pooling as −max(−x)) check the
layers and the tie rule of max and min pooling.

Skipped, with the reason shown, when torch is not installed.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import oracle
import pytest
from helpers import (
    DYADIC,
    DYADIC_SLOPES,
    Case,
    cases,
    engine_result,
    layered_problems,
    needs_torch,
    to_lists,
    torch,
)
from hypothesis import given, settings
from oracle import (
    Spec,
    assert_exact,
    expected_keys,
    flatten,
    floats,
    fr,
    shape_of,
    sides_of,
    spec_from_data,
    user_shaped,
)

from cnnstep.engine import solve
from cnnstep.problem import problem_from_data

pytestmark = needs_torch

RELATIVE = 1e-9


def tensor(values: Any, grad: bool = False) -> Any:
    return torch.tensor(
        [float(v) for v in flatten(values)], dtype=torch.float64
    ).reshape(shape_of(values)).requires_grad_(grad)


def assert_close(exact: Any, approx: Any, name: str) -> None:
    """Every entry within 1e-9 of the exact value, relative to the array's scale."""
    exact_flat = [float(v) for v in flatten(to_lists(exact))]
    approx_flat = approx.detach().reshape(-1).tolist() if hasattr(approx, "detach") else [approx]
    assert len(exact_flat) == len(approx_flat), name
    scale = max([1.0, *(abs(v) for v in exact_flat)])
    for i, (e, a) in enumerate(zip(exact_flat, approx_flat, strict=True)):
        assert abs(e - a) <= RELATIVE * scale, (name, i, e, a)


def torch_conv(case: Case) -> dict[str, Any]:
    x = tensor([case.x], grad=True)  # (1, C, H, W)
    k = tensor(case.k, grad=True)
    b = tensor(case.b, grad=True) if case.b is not None else None
    z = torch.nn.functional.conv2d(x, k, b, stride=case.stride, padding=case.padding)[0]
    out: dict[str, Any] = {"output": z}
    if case.mode == "forward":
        return out
    z.retain_grad()
    if case.mode == "target":
        y = tensor(case.y)
        squares = ((z - y) ** 2).sum()
        loss = {"mse": squares / z.numel(), "sse": squares, "half_sse": squares / 2}[case.loss]
        loss.backward()
        out["loss"] = loss.item()
    else:
        z.backward(tensor(case.g))
    out.update(grad_output=z.grad, grad_filter=k.grad, grad_input=x.grad[0])
    if b is not None:
        out["grad_bias"] = b.grad
    if case.lr is not None:
        with torch.no_grad():
            out["updated_filter"] = k - float(case.lr) * k.grad
            if b is not None:
                out["updated_bias"] = b - float(case.lr) * b.grad
    return out


@settings(settings.get_profile("layer"))
@given(case=cases())
def test_engine_matches_torch_autograd(case: Case) -> None:
    solution = solve(problem_from_data(case.data))
    expected = torch_conv(case)
    for key, approx in expected.items():
        exact = getattr(solution, key)
        assert exact is not None, key
        assert_close(exact, approx, key)
    for key in ("loss", "grad_output", "grad_filter", "grad_bias", "grad_input",
                "updated_filter", "updated_bias"):
        if key not in expected:
            assert getattr(solution, key) is None, key


def test_seed000_matches_torch() -> None:
    x = torch.tensor([[[[1.0, 2, 1], [0, 1, 2], [2, 1, 0]]]], dtype=torch.float64,
                     requires_grad=True)
    k = torch.tensor([[[[0.5, 0.2], [0.3, 0.7]]]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([[1.0, 2], [2, 1]], dtype=torch.float64)
    z = torch.nn.functional.conv2d(x, k)[0, 0]
    loss = ((z - y) ** 2).mean()
    loss.backward()
    solution = solve(problem_from_data({
        "input": [[1, 2, 1], [0, 1, 2], [2, 1, 0]], "filter": [["0.5", "0.2"], ["0.3", "0.7"]],
        "target": [[1, 2], [2, 1]], "learning_rate": "0.1",
    }))
    assert solution.loss == Fraction("0.365")
    assert_close(solution.loss, loss.item(), "loss")
    assert_close(solution.grad_filter, k.grad, "grad_filter")
    assert_close(solution.grad_input, x.grad[0], "grad_input")
    with torch.no_grad():
        assert_close(solution.updated_filter, k - 0.1 * k.grad, "updated_filter")


# --------------------------------------------------------------------------
# activation and pooling after the convolution


def torch_layer(torch: Any, spec: Spec) -> dict[str, Any]:
    """Every result key by PyTorch float64 autograd, in the full layout."""
    functional = torch.nn.functional

    def tensor(values: Any, grad: bool = False) -> Any:
        return torch.tensor(floats(values), dtype=torch.float64).requires_grad_(grad)

    x = tensor([spec.x], grad=True)
    k = tensor(spec.k, grad=True)
    b = tensor(spec.b, grad=True) if spec.b is not None else None
    if spec.transposed:
        z = functional.conv_transpose2d(x, k, b, stride=spec.stride, padding=spec.padding,
                                        output_padding=spec.output_padding,
                                        groups=spec.groups, dilation=spec.dilation)
    else:
        top, bottom, left, right = sides_of(spec.padding)
        kernel = torch.flip(k, (-2, -1)) if spec.flip else k  # a true convolution flips K
        z = functional.conv2d(functional.pad(x, (left, right, top, bottom)), kernel, b,
                              stride=spec.stride, dilation=spec.dilation, groups=spec.groups)
    z.retain_grad()
    a = z
    if spec.activation is not None:
        a = {"relu": functional.relu,
             "leaky_relu": lambda t: functional.leaky_relu(t, float(spec.slope)),
             "sigmoid": torch.sigmoid, "tanh": torch.tanh}[spec.activation](z)
        a.retain_grad()
    last = a
    if spec.pool is not None:
        size, stride = spec.pool_size, spec.pool_stride
        if spec.pool == "max":
            last = functional.max_pool2d(a, size, stride)
        elif spec.pool == "min":  # the first smallest, as -max(-x) picks the first largest
            last = -functional.max_pool2d(-a, size, stride)
        else:
            last = functional.avg_pool2d(a, size, stride)
        last.retain_grad()
    out: dict[str, Any] = {"output": last, "conv": z}
    if spec.activation is not None:
        out["activated"] = a
    if spec.pool is not None:
        out["pooled"] = last
    if spec.y is None and spec.g is None:
        return {key: value[0].tolist() for key, value in out.items()}
    if spec.y is not None:
        squares = ((last[0] - tensor(spec.y)) ** 2).sum()
        loss = {"mse": squares / last.numel(), "sse": squares,
                "half_sse": squares / 2}[spec.loss]
        loss.backward()
        out["loss"] = loss
    else:
        last.backward(tensor([spec.g]))
    grads: dict[str, Any] = {"grad_output": last.grad[0], "grad_conv": z.grad[0],
                             "grad_filter": k.grad, "grad_input": x.grad[0]}
    if spec.activation is not None:
        grads["grad_activated"] = a.grad[0]
    if b is not None:
        grads["grad_bias"] = b.grad
    if spec.lr is not None:
        with torch.no_grad():
            grads["updated_filter"] = k - float(spec.lr) * k.grad
            if b is not None:
                grads["updated_bias"] = b - float(spec.lr) * b.grad
    full = {key: value[0] for key, value in out.items() if key != "loss"}
    full.update(grads)
    values = {key: value.detach().tolist() for key, value in full.items()}
    if "loss" in out:
        values["loss"] = out["loss"].item()
    return values


LAYERS_PROPERTY = settings.get_profile("layer")


@LAYERS_PROPERTY
@given(layered_problems(values=DYADIC, slopes=DYADIC_SLOPES))
def test_random_layers_match_torch(problem: tuple[dict[str, Any], Spec]) -> None:
    """Dyadic inputs keep PyTorch's convolution exact, so exact ties stay ties there too."""
    data, spec = problem
    got = engine_result(problem_from_data(data))
    want = torch_layer(torch, spec)
    assert set(got) == expected_keys(spec)
    for key, value in got.items():
        oracle.assert_close(value, user_shaped(key, want[key], spec), key)


TIE_CASES = [
    ({"input": [[5, 5], [5, 1]], "filter": [[1]], "pool": {"type": "max", "size": 2},
      "grad_output": [[7]]}),
    ({"input": [[1, 2, 0, 1], [0, 9, 1, 9], [2, 9, 9, 0], [1, 0, 2, 1]], "filter": [[1]],
      "pool": {"type": "max", "size": 3, "stride": 1}, "grad_output": [[1, 2], [3, 4]]}),
    ({"input": [[-1, 0, -3], [0, -1, 0], [-2, 0, -5]], "filter": [[1]],
      "activation": "relu", "pool": {"type": "min", "size": 2, "stride": 1},
      "grad_output": [[1, 2], [3, 4]]}),
]


@pytest.mark.parametrize("data", TIE_CASES)
def test_tie_rule_agrees_with_torch(data: dict[str, Any]) -> None:
    spec = spec_from_data(data)
    got = engine_result(problem_from_data(data))
    want = torch_layer(torch, spec)
    for key, value in got.items():
        assert_exact(value, [[Fraction(v) for v in row] for row in
                             user_shaped(key, want[key], spec)], key)


def torch_batch(torch: Any, data: dict[str, Any]) -> dict[str, Any]:
    """The batch by PyTorch float64 autograd: conv2d on [N, C, H, W], then relu and
    max_pool2d, and mse_loss (reduction "mean"), the summed squares, or half that."""
    functional = torch.nn.functional

    def tensor(values: Any, grad: bool = False) -> Any:
        return torch.tensor(floats(values), dtype=torch.float64).requires_grad_(grad)

    x = tensor(fr(data["input"]), grad=True)
    kernel = fr(data["filter"])
    rank = len(shape_of(kernel))
    k = tensor(kernel, grad=True)
    k4 = k.reshape((1,) * (4 - rank) + tuple(k.shape))
    bias = data.get("bias")
    b = None
    if bias is not None:
        b = tensor(fr(bias) if isinstance(bias, list) else [fr(bias)], grad=True)
    z = functional.conv2d(x, k4, b, stride=data["stride"], padding=data["padding"])
    last = functional.relu(z) if "activation" in data else z
    if "pool" in data:
        last = functional.max_pool2d(last, 2, 1)
    flat = rank < 4  # one filter given without its axis: the maps lose it
    shown = last[:, 0] if flat else last
    out: dict[str, Any] = {"output": shown}
    if "target" in data:
        y = tensor(fr(data["target"]))
        loss = {"mse": lambda: functional.mse_loss(shown, y, reduction="mean"),
                "sse": lambda: functional.mse_loss(shown, y, reduction="sum"),
                "half_sse": lambda: functional.mse_loss(shown, y, reduction="sum") / 2,
                }[data["loss"]]()
        loss.backward()
        out["loss"] = loss.item()
    elif "grad_output" in data:
        shown.backward(tensor(fr(data["grad_output"])))
    else:
        return {key: value.detach().tolist() for key, value in out.items()}
    out["grad_filter"] = k.grad
    out["grad_input"] = x.grad
    if b is not None:
        out["grad_bias"] = b.grad if isinstance(bias, list) else b.grad[0]
    return {key: value if isinstance(value, float) else value.detach().tolist()
            for key, value in out.items()}
