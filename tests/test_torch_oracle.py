"""The exact engine against PyTorch autograd in float64, on random problems.

PyTorch's conv2d is the cross-correlation of the format, with the same stride
and zero padding; its autograd gives dL/dK, dL/dB and dL/dX independently of
the by-hand formulas the engine uses (rotated kernel, zero-inserted dL/dZ).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

torch = pytest.importorskip(
    "torch", reason="PyTorch is not installed; the float64 autograd oracle is skipped"
)

from helpers import Case, cases, to_lists  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from oracle import flatten  # noqa: E402

from cnnstep.engine import solve  # noqa: E402
from cnnstep.problem import problem_from_data  # noqa: E402

torch.set_num_threads(1)
RELATIVE = 1e-9


def tensor(values: Any, grad: bool = False) -> Any:
    return torch.tensor(
        [float(v) for v in flatten(values)], dtype=torch.float64
    ).reshape(_shape(values)).requires_grad_(grad)


def _shape(values: Any) -> tuple[int, ...]:
    shape = []
    while isinstance(values, list):
        shape.append(len(values))
        values = values[0]
    return tuple(shape)


def assert_close(exact: Any, approx: Any, name: str) -> None:
    """Every entry within 1e-9 of the exact value, relative to the array's scale."""
    exact_flat = [float(v) for v in flatten(to_lists(exact))]
    approx_flat = approx.detach().reshape(-1).tolist() if hasattr(approx, "detach") else [approx]
    assert len(exact_flat) == len(approx_flat), name
    scale = max([1.0, *(abs(v) for v in exact_flat)])
    for i, (e, a) in enumerate(zip(exact_flat, approx_flat, strict=True)):
        assert abs(e - a) <= RELATIVE * scale, (name, i, e, a)


def torch_layer(case: Case) -> dict[str, Any]:
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


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=cases())
def test_engine_matches_torch_autograd(case: Case) -> None:
    solution = solve(problem_from_data(case.data))
    expected = torch_layer(case)
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
