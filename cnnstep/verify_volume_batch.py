"""An independent check of a batch of 3-D volumes, by the route of
:mod:`cnnstep.verify_volume`: every volume's layer written out term by term from
its definition, its loss (the batch's mean over every volume's entries under mse)
differentiated directly, and each volume's gradient checked against exact
directional derivatives of its own loss. The batch's loss and its dL/dK and dL/dB
are then the sums over the volumes, L = Σ_n L⁽ⁿ⁾ and dL/dK = Σ_n dL/dK⁽ⁿ⁾, taken
here and compared exactly with the engine's (to 1e-9 after sigmoid or tanh); the
output, every stage and dL/dX keep one volume each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from cnnstep import volume_batch
from cnnstep.problem import Array, VolumeBatch
from cnnstep.verify import Check, Mismatch, TooLarge
from cnnstep.verify_volume import (
    MAX_TERMS,
    Weights,
    activated,
    agree,
    backward,
    consistent,
    dz,
    loss,
    output,
    pool_routes,
    pooled,
    rounded,
    slopes,
    terms,
    through,
    unpooled,
)

#: the quantities that add up over the volumes
SUMMED = ("loss", "grad_filter", "grad_bias")


def direct(batch: VolumeBatch, kernel: Array, bias: Array | None,
           gradients: bool = True) -> dict[str, Any]:
    """Every volume's layer written out with the weights ``kernel`` and ``bias``: its
    stages stacked, its loss and its gradients of the weights summed, each volume's
    gradient checked for consistency."""
    every = terms(batch.layer)
    stages: dict[str, list[Any]] = {}
    for image in batch.images:
        theta = Weights(image.input, kernel, bias)
        z = output(image, theta, every)
        held = slopes(image, z)
        a = activated(z, held)
        routes = pool_routes(image, a)
        p = pooled(a, routes)
        found: dict[str, Any] = {"conv": z, "activated": a, "pooled": p}
        if image.target is not None:
            found["loss"] = loss(image, p)
        if gradients and image.has_gradients:
            g = unpooled(dz(image, p), a.shape, routes)
            found.update(backward(image, theta, every, through(g, held)))
            consistent(image, theta, every, found)
        for key, value in found.items():
            stages.setdefault(key, []).append(value)
    return {key: sum(values[1:], values[0]) if key in SUMMED else np.stack(values)
            for key, values in stages.items()}


def verify_batch(batch: VolumeBatch,
                 solve: Callable[[VolumeBatch], Mapping[str, Any]] | None = None, *,
                 max_work: int | None = None) -> list[Check]:
    """Compare ``solve(batch)`` (the engine's, by default) with every volume's layer
    written out from its definition and differentiated directly. Raises
    :class:`TooLarge` beyond :data:`cnnstep.verify_volume.MAX_TERMS` terms in all,
    before any work."""
    layer = batch.layer
    count = layer.filter.size * int(np.prod(layer.output_size)) * batch.count
    if count > MAX_TERMS:
        raise TooLarge(f"--verify: the batch of 3-D volumes has {count} products in its "
                       f"outputs; direct differentiation is limited to {MAX_TERMS}")
    volume_batch.check(batch, max_work)
    found = (solve or volume_batch.arrays)(batch)
    mine = direct(batch, layer.filter, layer.bias)
    n = layer.notation
    how = "direct evaluation"
    held = layer.activation is not None
    routes = layer.pool is not None
    checks = [compare(batch, "conv" if held or routes else "output", n.output, how,
                      mine["conv"], found.get("conv", found["output"]))]
    if not layer.convolution:  # a layer alone: its first stage reads the input itself
        checks = []
    if held:
        checks.append(compare(batch, "activated", "A", how, mine["activated"],
                              found["activated"]))
    if routes:
        checks.append(compare(batch, "pooled", "P", how, mine["pooled"], found["pooled"]))
    if "loss" in mine:
        checks.append(compare(batch, "loss", n.loss, how, mine["loss"], found["loss"]))
    if "grad_filter" not in mine:
        return checks
    how = "direct differentiation"
    if layer.convolution:  # a layer alone has no weights
        checks.append(compare(batch, "grad_filter", f"d{n.loss}/d{n.filter}", how,
                              mine["grad_filter"], found["grad_filter"]))
    if "grad_bias" in mine:
        checks.append(compare(batch, "grad_bias", f"d{n.loss}/d{n.bias}", how,
                              mine["grad_bias"], found["grad_bias"]))
    checks.append(compare(batch, "grad_input", f"d{n.loss}/d{n.input}", how,
                          mine["grad_input"], found["grad_input"]))
    if layer.steps > 1:
        checks.append(training(batch))
    return checks


def compare(batch: VolumeBatch, key: str, label: str, how: str, mine: Array | Fraction,
            found: Any) -> Check:
    """A quantity found here against the engine's, entry by entry."""
    layer = batch.layer
    if rounded(layer) and key != "conv":
        how += ", to 1e-9 (floating point)"
    if isinstance(mine, Fraction):
        ok = agree(layer, found, mine)
        return Check(key, label, 1, () if ok else (Mismatch(key, found, mine),), how)
    mismatches = tuple(
        Mismatch(volume_batch.entry_text(key, index, batch), found[index], value)
        for index, value in np.ndenumerate(mine) if not agree(layer, found[index], value, key))
    return Check(key, label, mine.size, mismatches, how)


def training(batch: VolumeBatch) -> Check:
    """The engine's history against every training step taken again by the direct
    route (the summed gradients, one update a step), and the final loss."""
    layer = batch.layer
    rate = layer.learning_rate
    assert rate is not None
    rows, final = volume_batch.training(batch)
    kernel, bias = layer.filter, layer.bias
    mismatches: list[Mismatch] = []
    entries = 0
    for k, row in enumerate(rows):
        mine = direct(batch, kernel, bias)
        kernel = kernel - mine["grad_filter"] * rate
        bias = None if bias is None else bias - mine["grad_bias"] * rate
        step = {"loss": mine["loss"], "updated_filter": kernel, "updated_bias": bias}
        for key, value in row.items():
            pairs = ([((), value, step[key])] if isinstance(value, Fraction) else
                     [(i, v, step[key][i]) for i, v in np.ndenumerate(value)])
            entries += len(pairs)
            where = f"history[{k}].{key}"
            mismatches += [Mismatch(where + "".join(f"[{j}]" for j in i), v, m)
                           for i, v, m in pairs if not agree(layer, v, m)]
    last = direct(batch, kernel, bias, gradients=False)["loss"]
    if not agree(layer, final, last):
        mismatches.append(Mismatch("final_loss", final, last))
    return Check("history", "history", entries + 1, tuple(mismatches),
                 "direct differentiation at every step")
