"""A batch of 3-D volumes through one layer: an input [N][C][D][H][W].

Each volume goes through the layer on its own (:mod:`cnnstep.volume`), as one
image of a 2-D batch does (:func:`cnnstep.engine.solve_batch`); the volumes share
the filter and the bias, so

    L = Σ_n L⁽ⁿ⁾          (under mse each volume's share is Σ(Z − Y)²/(N·F·od·oh·ow),
                          PyTorch's reduction="mean"; sse and half_sse add up as they are)
    dL/dK = Σ_n dL/dK⁽ⁿ⁾,  dL/dB = Σ_n dL/dB⁽ⁿ⁾

and the batch updates once, K ← K − α·dL/dK, B ← B − α·dL/dB. Every quantity of
one volume (X, Z, A, P, Y and their gradients) gains the leading volume axis.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnstep import volume as engine
from cnnstep.engine import activate
from cnnstep.problem import Array, Volume, VolumeBatch, frozen
from cnnstep.quantities import BY_KEY, PER_IMAGE

if TYPE_CHECKING:
    from cnnstep.derivation.nodes import Derivation

#: the batch's quantities that are sums over its volumes; the updates apply them
SUMMED = ("loss", "grad_filter", "grad_bias")


def per_volume(key: str) -> bool:
    """Whether a result key has a leading volume axis: every quantity of one volume;
    the weights, their gradients (the sums) and the loss have none."""
    return key in BY_KEY and BY_KEY[key].axes in PER_IMAGE


# --------------------------------------------------------------------------
# solving


def arrays(batch: VolumeBatch) -> dict[str, Any]:
    """Every quantity of the batch in the full layout: each volume's stacked along a
    leading volume axis, the loss and the weights' gradients summed over the volumes,
    and the update with the sums."""
    return combined(batch, [engine.arrays(image) for image in batch.images])


def combined(batch: VolumeBatch, each: list[dict[str, Any]]) -> dict[str, Any]:
    """The batch's quantities from its volumes' own (:func:`cnnstep.volume.arrays` of
    each): stacked, or summed, and the update."""
    out: dict[str, Any] = {}
    for key in each[0]:
        values = [solved[key] for solved in each]
        out[key] = (sum(values[1:], values[0]) if key in SUMMED
                    else frozen(np.stack(values)))
        if key == "grad_input":
            out.update(update(batch.layer, out["grad_filter"], out.get("grad_bias")))
    return out


def result_arrays(batch: VolumeBatch, each: list[dict[str, Any]] | None = None
                  ) -> dict[str, Any]:
    """The quantities of the batch's result (:func:`arrays`, or :func:`combined` of
    ``each``): a layer alone has no convolution's (:data:`cnnstep.volume.NOT_ALONE`)."""
    solved = arrays(batch) if each is None else combined(batch, each)
    if batch.layer.convolution:
        return solved
    return {key: value for key, value in solved.items() if key not in engine.NOT_ALONE}


def update(layer: Volume, grad_filter: Array, grad_bias: Array | None) -> dict[str, Array]:
    """K − α·dL/dK and B − α·dL/dB with the batch's sums; nothing without a rate."""
    rate = layer.learning_rate
    if rate is None:
        return {}
    out = {"updated_filter": layer.filter - grad_filter * rate}
    if layer.bias is not None and grad_bias is not None:
        out["updated_bias"] = layer.bias - grad_bias * rate
    return out


def with_weights(batch: VolumeBatch, kernel: Array, bias: Array | None) -> VolumeBatch:
    """The batch with other weights: every volume's and the layer's."""
    def moved(v: Volume) -> Volume:
        return replace(v, filter=frozen(kernel), bias=None if bias is None else frozen(bias))

    return VolumeBatch(moved(batch.layer), tuple(moved(image) for image in batch.images),
                       batch.questions)


def training(batch: VolumeBatch) -> tuple[list[dict[str, Any]], Fraction]:
    """Gradient descent for ``steps`` steps, every volume held: each step's loss (the
    batch's, before its update) and updated weights (full layout), and the loss with
    the last update's weights."""
    history: list[dict[str, Any]] = []
    current = batch
    for _ in range(batch.layer.steps):
        solved = arrays(current)
        row = {"loss": solved["loss"], "updated_filter": solved["updated_filter"]}
        if "updated_bias" in solved:
            row["updated_bias"] = solved["updated_bias"]
        history.append(row)
        current = with_weights(current, solved["updated_filter"], solved.get("updated_bias"))
    final = sum((engine.loss_value(image, _last(image)) for image in current.images),
                Fraction(0))
    return history, final


def _last(volume: Volume) -> Array:
    """The last stage of one volume: Z, A or P."""
    last = engine.forward(volume)
    if volume.activation is not None:
        last = activate(last, volume.activation)
    if volume.pool is not None:
        last = engine.pool_forward(volume.pool, last)[0]
    return last


def solve(batch: VolumeBatch) -> dict[str, Any]:
    """The result object of a batch, each array in the shape the user gave: the
    quantities of one volume with the volume axis first; with ``steps`` above 1 also
    ``history`` and ``final_loss``."""
    result = {key: shaped(key, value, batch) for key, value in
              result_arrays(batch).items()}
    layer = batch.layer
    if layer.steps > 1:
        history, final = training(batch)
        result["history"] = [
            {"step": k, "loss": row["loss"],
             **{key: engine.shaped(key, row[key], layer) for key in row if key != "loss"}}
            for k, row in enumerate(history, start=1)]
        result["final_loss"] = final
    return result


def shaped(key: str, value: Any, batch: VolumeBatch) -> Any:
    """A quantity in the user's shape: a volume's with the volume axis first."""
    if per_volume(key):
        return [engine.shaped(key, value[n], image) for n, image in enumerate(batch.images)]
    return engine.shaped(key, value, batch.layer)


def user_rank(key: str, batch: VolumeBatch) -> int:
    """The rank the user gives (and reads) a quantity in, the volume axis counted."""
    return engine.user_rank(key, batch.layer) + per_volume(key)


def entry_text(key: str, index: tuple[int, ...], batch: VolumeBatch) -> str:
    """``grad_input[1][0][2][1]``: a full-layout entry (the volume first for a quantity
    of one volume) in the shape the user gave (0-based)."""
    if per_volume(key):
        inner = engine.entry_text(key, index[1:], batch.images[index[0]])
        name, bracket, rest = inner.partition("[")
        return f"{name}[{index[0]}]{bracket}{rest}"
    return engine.entry_text(key, index, batch.layer)


# --------------------------------------------------------------------------
# one volume or a batch, as the command line and Python take them


def solve_volumes(layer: Volume | VolumeBatch, max_work: int | None = None
                  ) -> tuple[dict[str, Any], frozenset[str]]:
    """The result object of one volume or a batch, and its keys rounded after float
    sigmoid or tanh; over the work limit, a ProblemError before the work."""
    check(layer, max_work)
    if isinstance(layer, VolumeBatch):
        result = solve(layer)
        return result, engine.approximate_keys(layer.layer, result)
    result = engine.solve(layer)
    return result, engine.approximate_keys(layer, result)


def worked_volumes(layer: Volume | VolumeBatch, max_work: int | None = None, *,
                   detail: str = "full", only: Iterable[str] = (),
                   max_terms: int = 0) -> Derivation:
    """The worked derivation of one volume or a batch, shaped as ``detail``, ``only``
    and ``max_terms`` ask; over the work limit, a ProblemError before the work."""
    check(layer, max_work, derivation=True)
    if isinstance(layer, VolumeBatch):
        from cnnstep.derivation.volume_batch import worked

        chosen = tuple(only)
        if not chosen and layer.questions is not None:  # an exercise's key: what it asks
            chosen = tuple(text for text, _ in layer.questions)
        return worked(layer, detail=detail, only=chosen, max_terms=max_terms)
    from cnnstep.derivation.volume_shaping import derived

    return derived(layer, detail=detail, only=only, max_terms=max_terms)


def check(layer: Volume | VolumeBatch, max_work: int | None = None, *,
          derivation: bool = False) -> None:
    """Refuse one volume or a batch whose work is over the limit (every volume's
    counted)."""
    from cnnstep import budget

    if isinstance(layer, VolumeBatch):
        budget.check_volume(layer.images[0], max_work, derivation=derivation,
                            images=layer.count)
    else:
        budget.check_volume(layer, max_work, derivation=derivation)
