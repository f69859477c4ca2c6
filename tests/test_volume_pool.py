"""A 3-D pool's ``dilation`` (max and min) and ``ceil_mode``, as PyTorch's
``max_pool3d`` and ``avg_pool3d``: the sizes, the windows, a mean's divisor at a
last partial window, the derivation's words and ``--verify``."""

from __future__ import annotations

from typing import Any

import oracle
import pytest
from helpers import F, needs_torch, torch

import cnnstep
from cnnstep import volume
from cnnstep.problem import volume_from_data
from cnnstep.verify_volume import verify_volume

pytestmark = needs_torch

INPUT = [[[1, 2, 0, 1], [0, 1, 3, 2], [2, 1, 1, 0], [1, 0, 2, 2]],
         [[0, 1, 1, 3], [2, 0, 1, 1], [1, 1, 0, 2], [0, 2, 1, 1]],
         [[1, 0, 2, 1], [1, 1, 1, 0], [0, 2, 1, 3], [2, 1, 0, 1]]]
POOLS = [
    {"type": "max", "size": 2, "stride": [2, 1, 2], "dilation": [1, 2, 2], "ceil_mode": True},
    {"type": "min", "size": [1, 2, 2], "stride": 2, "dilation": [1, 1, 2], "padding": [0, 1, 0]},
    {"type": "avg", "size": 2, "stride": 2, "padding": 1, "ceil_mode": True},
    {"type": "avg", "size": 2, "stride": 2, "padding": [0, 1, 1], "ceil_mode": True,
     "count_include_pad": False},
]


def _torch(pool: dict[str, Any]) -> Any:
    x = torch.tensor(INPUT, dtype=torch.float64)[None, None]
    options = {"kernel_size": pool["size"], "stride": pool["stride"],
               "padding": pool.get("padding", 0), "ceil_mode": pool.get("ceil_mode", False)}
    if pool["type"] == "avg":
        return F.avg_pool3d(x, count_include_pad=pool.get("count_include_pad", True),
                            **options)[0, 0]
    sign = -1 if pool["type"] == "min" else 1
    return sign * F.max_pool3d(sign * x, dilation=pool.get("dilation", 1), **options)[0, 0]


@pytest.mark.parametrize("pool", POOLS, ids=["max", "min", "avg", "avg-entries"])
def test_dilation_and_ceil_mode_agree_with_pytorch(pool: dict[str, Any]) -> None:
    want = _torch(pool)
    data = {"dimensions": 3, "input": INPUT, "filter": [[[1]]], "pool": pool,
            "grad_output": oracle.nest([1] * want.numel(), tuple(want.shape))}
    layer = volume_from_data(data)
    assert layer.pool is not None and layer.pool.output_size == tuple(want.shape)
    got = volume.solve(layer)
    oracle.assert_close(got["output"], want.tolist(), "output", relative=1e-15)
    oracle.assert_close(got["output"], oracle.naive_nd(data)["output"], "output",
                        relative=0)
    assert all(check.ok for check in verify_volume(layer))


def test_the_derivation_names_the_dilation_and_the_ceil_mode() -> None:
    data = {"dimensions": 3, "input": INPUT, "filter": [[[1]]], "pool": POOLS[0]}
    text = " ".join(cnnstep.solve(data).to_text(width=100).split())
    assert "its taps 1×2×2 apart (dilation), in ceil mode (a last partial window counts)" \
        in text
    assert "P₁₁₁ = max(Z₁₁₁, Z₁₁₃, Z₁₃₁, Z₁₃₃, Z₂₁₁, Z₂₁₃, Z₂₃₁, Z₂₃₃)" in text
    # the ceil mode's last window along the depth reads depth 3 alone
    assert "P₂₁₁ = max(Z₃₁₁, Z₃₁₃, Z₃₃₁, Z₃₃₃)" in text


def test_a_winner_takes_its_windows_gradient_written_once() -> None:
    layer = {"dimensions": 3, "input": [[[1, 2], [3, 4]], [[5, 6], [7, 9]]],
             "filter": [[[1]]], "pool": {"type": "max", "size": 2}, "target": [[[1]]]}
    text = cnnstep.solve(layer).to_text(width=100)
    assert "∂L/∂Z₂₂₂ = ∂L/∂P₁₁₁\n         = 16\n\n" in text  # 2·(9 − 1)
