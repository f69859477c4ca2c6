"""The 3-D convolution layer, exactly: a volume [C][D][H][W] under [F][C][kd][kh][kw].

The same layer as the 2-D engine with one more spatial axis, as PyTorch's
``conv3d``; every number is a Fraction. A window's taps are (a, b, e) triples:

    Z[f,i,j,l] = B[f] + Σ_c Σ_a Σ_b Σ_e Xpad[c, i·sd + a·dd, j·sh + b·dh, l·sw + e·dw]·K'[f,c,a,b,e]

with od = ⌊(D + pd + pd' − (dd·(kd − 1) + 1))/sd⌋ + 1 (likewise oh, ow), pd
and pd' the zeros in front and behind. With ``groups``, c runs over the
channels of filter f's block; K' is K, or in mode "convolution" K flipped along
all three axes. The backward pass follows the same sum term by term:

    dL/dK'[f,c,a,b,e] = Σ_i Σ_j Σ_l dL/dZ[f,i,j,l]·Xpad[c, i·sd + a·dd, j·sh + b·dh, l·sw + e·dw]
    dL/dB[f]          = Σ_i Σ_j Σ_l dL/dZ[f,i,j,l]
    dL/dXpad[c, i·sd + a·dd, …] += dL/dZ[f,i,j,l]·K'[f,c,a,b,e]   (then cropped by the padding)

and dL/dK = dL/dK', flipped back in mode "convolution". dL/dX is the full
convolution of K' rotated by 180° (every spatial axis flipped) with the
zero-inserted dL/dZ. The update is K ← K − α·dL/dK, B ← B − α·dL/dB.
:mod:`cnnstep.derivation.volume` writes the numbers out.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import replace
from fractions import Fraction
from typing import Any

import numpy as np

from cnnstep.engine import activate, activation_backward, activation_slope
from cnnstep.problem import Array, Volume, VolumePool, frozen
from cnnstep.quantities import BY_KEY, get

#: an index of an array: slices and integers
Index = tuple[Any, ...]


def _window(volume: Volume, tap: Index, spread: bool = True,
            size: tuple[int, ...] | None = None) -> Index:
    """The padded-input entries kernel tap (a, b, e) meets, one per output entry
    (``a·d + i·s`` for i = 0 … o − 1 along each axis), behind the channel axis.
    Without ``spread`` the output entries are taken as adjacent (s = 1) over
    ``size``: how the stride-1 formulas read an un-spread dL/dZ."""
    stride = volume.stride if spread else (1, 1, 1)
    reach = volume.output_size if size is None else size
    return (slice(None), *(slice(t * d, t * d + (o - 1) * s + 1, s) for t, d, o, s in
                           zip(tap, volume.dilation, reach, stride, strict=True)))


def _weights(tap: Index) -> Index:
    """The (F, C) weights of kernel tap (a, b, e)."""
    return (slice(None), slice(None), *tap)


def blocks(volume: Volume) -> list[tuple[slice, slice]]:
    """Each group's filters and the input channels they see, as slices."""
    per_f = volume.filter.shape[0] // volume.groups
    per_c = volume.input.shape[0] // volume.groups
    return [(slice(g * per_f, (g + 1) * per_f), slice(g * per_c, (g + 1) * per_c))
            for g in range(volume.groups)]


def flip(kernel: Array) -> Array:
    """A kernel rotated by 180° along all three spatial axes."""
    flipped: Array = np.ascontiguousarray(kernel[:, :, ::-1, ::-1, ::-1])
    return flipped


def forward_kernel(volume: Volume) -> Array:
    """The kernel the forward pass slides: K, or in mode "convolution" K flipped along
    all three axes."""
    return flip(volume.filter) if volume.flipped else volume.filter


def padded(volume: Volume) -> Array:
    """Xpad: the input with its zeros on each side of each spatial axis."""
    out = np.full((volume.input.shape[0], *volume.padded_size), Fraction(0), dtype=object)
    out[(slice(None), *inside(volume))] = volume.input
    return out


def taps(volume: Volume) -> list[Index]:
    """Every kernel tap (a, b, e)."""
    return list(itertools.product(*(range(k) for k in volume.filter.shape[2:])))


def forward(volume: Volume) -> Array:
    """Z[f,i,j,l] = B[f] + Σ_c Σ_(a,b,e) Xpad[c, i·sd + a·dd, j·sh + b·dh, l·sw + e·dw]
    ·K'[f,c,a,b,e], c over the channels of f's group, K' the forward kernel; a
    transposed layer's by :mod:`cnnstep.volume_transposed`."""
    if volume.transposed:
        from cnnstep import volume_transposed
        return volume_transposed.forward(volume)
    xpad, kernel = padded(volume), forward_kernel(volume)
    filters = volume.filters
    out = np.full((filters, *volume.output_size), Fraction(0), dtype=object)
    for tap in taps(volume):
        window = xpad[_window(volume, tap)]
        for fs, cs in blocks(volume):
            out[fs] = out[fs] + np.tensordot(kernel[fs][_weights(tap)], window[cs], axes=1)
    if volume.bias is not None:
        out = out + volume.bias.reshape(filters, 1, 1, 1)
    return out


def loss_value(volume: Volume, z: Array) -> Fraction:
    """mse: Σ(Z − Y)²/n; sse: Σ(Z − Y)²; half_sse: Σ(Z − Y)²/2. For one volume of a
    batch of N, n counts the entries of all N (PyTorch's ``reduction="mean"``)."""
    assert volume.target is not None
    total = sum(((a - b) ** 2 for a, b in zip(z.flat, volume.target.flat, strict=True)),
                Fraction(0))
    n = z.size * volume.loss_images
    return {"mse": total / n, "sse": total, "half_sse": total / 2}[volume.loss]


def loss_gradient(volume: Volume, z: Array) -> Array:
    """dL/dZ = (2/n)·(Z − Y) for mse, 2·(Z − Y) for sse, Z − Y for half_sse."""
    assert volume.target is not None
    n = z.size * volume.loss_images
    factor = {"mse": Fraction(2, n), "sse": Fraction(2), "half_sse": Fraction(1)}
    grad: Array = (z - volume.target) * factor[volume.loss]
    return grad


def kernel_gradient(volume: Volume, grad: Array, spread: bool = True) -> Array:
    """dL/dK[f,c,a,b,e] = Σ_(i,j,l) dL/dZ[f,i,j,l]·Xpad[c, i·sd + a·dd, j·sh + b·dh,
    l·sw + e·dw], c over f's group, flipped back in mode "convolution" (the forward
    pass's K' = flip(K), so dL/dK = flip(dL/dK')). Without ``spread``: the stride-1
    correlation of the un-spread dL/dZ. A transposed layer's by
    :mod:`cnnstep.volume_transposed`."""
    if volume.transposed:
        from cnnstep import volume_transposed
        return volume_transposed.kernel_gradient(volume, grad)
    xpad = padded(volume)
    out = np.empty(volume.filter.shape, dtype=object)
    for tap in taps(volume):
        patch = xpad[_window(volume, tap, spread, grad.shape[1:])]  # (C, od, oh, ow)
        for fs, cs in blocks(volume):
            out[fs][_weights(tap)] = np.tensordot(grad[fs], patch[cs],
                                                  axes=([1, 2, 3], [1, 2, 3]))
    return flip(out) if volume.flipped else out


def bias_gradient(grad: Array) -> Array:
    """dL/dB[f] = Σ_(i,j,l) dL/dZ[f,i,j,l]."""
    return np.array([sum(grad[f].flat, Fraction(0)) for f in range(grad.shape[0])],
                    dtype=object)


def input_gradient(volume: Volume, grad: Array, spread: bool = True) -> Array:
    """dL/dX: every tap sends dL/dZ[f,i,j,l]·K'[f,c,a,b,e] back to the entry it read,
    Xpad[c, i·sd + a·dd, j·sh + b·dh, l·sw + e·dw]; the sum over taps is the full
    convolution of rot180(K') with the zero-inserted dL/dZ, cropped by the padding.
    Without ``spread``: the same with the un-spread dL/dZ, its entries adjacent. A
    transposed layer's by :mod:`cnnstep.volume_transposed`."""
    if volume.transposed:
        from cnnstep import volume_transposed
        return volume_transposed.input_gradient(volume, grad)
    xpad, kernel = padded(volume), forward_kernel(volume)
    out = np.full(xpad.shape, Fraction(0), dtype=object)
    for tap in taps(volume):
        where = _window(volume, tap, spread, grad.shape[1:])
        for fs, cs in blocks(volume):
            sent = np.tensordot(kernel[fs][_weights(tap)], grad[fs], axes=([0], [0]))
            out[cs][where] = out[cs][where] + sent
    return out[(slice(None), *inside(volume))]


def inside(volume: Volume) -> Index:
    """The entries of Xpad that are the input's, along the spatial axes."""
    return tuple(slice(p, p + n) for p, n in zip(volume.sides[0], volume.input.shape[1:],
                                                 strict=True))


def solve(volume: Volume) -> dict[str, Any]:
    """The result object of a 3-D layer, each array in the shape the user gave; with
    ``steps`` above 1 also ``history`` and ``final_loss`` (:func:`training`)."""
    result = {key: shaped(key, value, volume) for key, value in
              result_arrays(volume).items()}
    if volume.steps > 1:
        history, final = training(volume)
        result["history"] = [
            {"step": k, "loss": row["loss"],
             **{key: shaped(key, row[key], volume) for key in row if key != "loss"}}
            for k, row in enumerate(history, start=1)]
        result["final_loss"] = final
    return result


def approximate_keys(volume: Volume, result: Mapping[str, Any]) -> frozenset[str]:
    """The result keys whose values came through float sigmoid or tanh, by the 2-D
    layer's rules (:data:`cnnstep.quantities.BY_KEY`)."""
    activation = volume.activation
    if activation is None or activation.exact:
        return frozenset()
    rules = {key: BY_KEY[key].approximate for key in result if key in BY_KEY}
    return frozenset(key for key, rule in rules.items() if rule == "always"
                     or (rule == "target" and volume.target is not None))


def training(volume: Volume) -> tuple[list[dict[str, Any]], Fraction]:
    """Gradient descent for ``steps`` steps from the problem's weights, the input and
    the target held: each step's loss (before its update) and updated weights (full
    layout), and the loss with the last update's weights."""
    history: list[dict[str, Any]] = []
    current = volume
    for _ in range(volume.steps):
        solved = arrays(current)
        row = {"loss": solved["loss"], "updated_filter": solved["updated_filter"]}
        if "updated_bias" in solved:
            row["updated_bias"] = solved["updated_bias"]
        history.append(row)
        current = updated(current, solved)
    last = forward(current)
    if current.activation is not None:
        last = activate(last, current.activation)
    if current.pool is not None:
        last = pool_forward(current.pool, last)[0]
    return history, loss_value(current, last)


def updated(volume: Volume, solved: dict[str, Any]) -> Volume:
    """The layer of the next training step: the same, with the weights ``solved``
    (its :func:`arrays`) updated."""
    return replace(volume, filter=frozen(solved["updated_filter"]),
                   bias=frozen(solved["updated_bias"]) if "updated_bias" in solved else None)


def arrays(volume: Volume) -> dict[str, Any]:
    """Every quantity of a 3-D layer in the full layout (Fractions, object arrays).

    With an activation, ``output`` is A = f(Z) and ``grad_output`` dL/dA, as for a
    2-D layer, and ``conv`` (Z), ``activated`` (A) and ``grad_conv`` (dL/dZ =
    dL/dA ⊙ f′(Z)) follow the update."""
    z = forward(volume)
    activation, pool = volume.activation, volume.pool
    a = z if activation is None else activate(z, activation)
    p, winners = (a, None) if pool is None else pool_forward(pool, a)
    last = p
    result: dict[str, Any] = {"output": last}
    grad = volume.grad_output
    if volume.target is not None:
        result["loss"] = loss_value(volume, last)
        grad = loss_gradient(volume, last)
    if grad is not None:
        result["grad_output"] = grad
        da = grad if pool is None else pool_backward(pool, grad, a.shape, winners)
        dz = (da if activation is None
              else activation_backward(da, activation_slope(z, a, activation)))
        result["grad_filter"] = kernel_gradient(volume, dz)
        if volume.bias is not None:
            result["grad_bias"] = bias_gradient(dz)
        result["grad_input"] = input_gradient(volume, dz)
        rate = volume.learning_rate
        if rate is not None:
            result["updated_filter"] = volume.filter - result["grad_filter"] * rate
            if volume.bias is not None:
                result["updated_bias"] = volume.bias - result["grad_bias"] * rate
    if activation is not None or pool is not None:
        result["conv"] = z
        if activation is not None:
            result["activated"] = a
        if pool is not None:
            result["pooled"] = p
        if grad is not None:
            if activation is not None and pool is not None:
                result["grad_activated"] = da
            result["grad_conv"] = dz
    return result


#: what a layer alone has not: no convolution, so no Z of its own and no weights (the
#: registry's quantities that need one)
NOT_ALONE = frozenset(key for key, quantity in BY_KEY.items() if "conv" in quantity.needs)


def result_arrays(volume: Volume) -> dict[str, Any]:
    """The quantities of the result (:func:`arrays`); a layer alone (no filter) has
    no convolution's: its dL/dX is what came back through its activation or pool."""
    solved = arrays(volume)
    if volume.convolution:
        return solved
    return {key: value for key, value in solved.items() if key not in NOT_ALONE}


def pool_forward(pool: VolumePool, a: Array) -> tuple[Array, dict[Index, int] | None]:
    """P[f,o] = max (min) of window o's entries of A, or their sum over the divisor
    for mean; and for max and min the place in its window of each first extreme."""
    out = np.empty((a.shape[0], *pool.output_size), dtype=object)
    winners: dict[Index, int] = {}
    for f in range(a.shape[0]):
        for o in itertools.product(*(range(n) for n in pool.output_size)):
            values = [a[(f, *cell)] for cell in pool.window(o)]
            if pool.kind == "mean":
                out[(f, *o)] = sum(values, Fraction(0)) / pool.divisor(o)
                continue
            best = max(values) if pool.kind == "max" else min(values)
            winners[(f, *o)] = values.index(best)
            out[(f, *o)] = best
    return out, None if pool.kind == "mean" else winners


def pool_backward(pool: VolumePool, grad: Array, shape: tuple[int, ...],
                  winners: dict[Index, int] | None) -> Array:
    """dL/dA: each window's gradient to its winner (max, min), or shared out by
    1/divisor over its entries (mean); where windows overlap the parts add up."""
    out = np.full(shape, Fraction(0), dtype=object)
    for index in itertools.product(*(range(n) for n in grad.shape)):
        f, o = index[0], index[1:]
        cells = pool.window(o)
        if winners is not None:
            cells = [cells[winners[index]]]
            share = grad[index]
        else:
            share = grad[index] / pool.divisor(o)
        for cell in cells:
            out[(f, *cell)] += share
    return out


def shaped(key: str, value: Any, volume: Volume) -> Any:
    """A quantity in the user's shape: nested lists of Fractions, or a Fraction."""
    if isinstance(value, Fraction):
        return value
    rank = user_rank(key, volume)
    shaped = value.reshape(value.shape[value.ndim - rank:])
    return shaped.item() if rank == 0 else shaped.tolist()


def user_rank(key: str, volume: Volume) -> int:
    """The rank the user gives (and reads) a quantity in: the input's, the filter's,
    the bias's (0 for a number) or the output's (4 with a filter axis given, else 3)."""
    axes = get(key).axes  # the registry's: input, filter, bias or an output's
    return {"filter": volume.filter_rank, "input": volume.input_rank,
            "bias": 0 if volume.bias_is_number else 1}.get(
        axes, 4 if volume.filter_rank == 5 else 3)


def entry_text(key: str, index: Index, volume: Volume) -> str:
    """``grad_input[1][0][2]``: a full-layout entry in the shape the user gave (0-based),
    as ``--only`` takes it."""
    rank = user_rank(key, volume)
    return key + "".join(f"[{i}]" for i in index[len(index) - rank:])
