"""The exact forward and backward pass of one convolution layer.

Pure functions over numpy object arrays of :class:`~fractions.Fraction`; no
printing. The gradients are computed the way a course teaches them by hand,
because the derivation prints exactly these steps:

* dL/dK is the (valid) cross-correlation of the padded input with dL/dZ, whose
  entries are first spread apart by ``stride − 1`` zeros when the stride is
  larger than one;
* dL/dX is the full convolution of the 180°-rotated kernel with that
  zero-inserted dL/dZ (a correlation of the rotated kernel with dL/dZ padded
  by ``kernel − 1`` zeros on each side), cropped back by the padding.

Sums of products are vectorised: each operand is scaled to integers over a
common denominator, multiplied as ``int64`` when no sum can overflow (else as
Python integers), and divided back exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cnnstep.problem import Activation, Array, LossName, Pool, Problem
from cnnstep.problem import frozen as _frozen

IntArray = np.ndarray[Any, np.dtype[Any]]

_INT64_LIMIT = 2**62


def fractions(values: Any, shape: tuple[int, ...] | None = None) -> Array:
    """An object array of Fractions from numbers (ints, Fractions, strings)."""
    flat = [Fraction(v) for v in np.asarray(values, dtype=object).flat]
    array = np.empty(len(flat), dtype=object)
    array[:] = flat
    return array.reshape(np.shape(values) if shape is None else shape)


def zeros(shape: tuple[int, ...]) -> Array:
    """An object array of exact zeros."""
    return np.full(shape, Fraction(0), dtype=object)


# --------------------------------------------------------------------------
# exact sums of products


def _scaled(array: Array) -> tuple[IntArray, int]:
    """Integers ``n`` and a common denominator ``d`` with ``array == n / d``."""
    denominator = math.lcm(*(value.denominator for value in array.flat)) if array.size else 1
    integers = np.empty(array.size, dtype=object)
    integers[:] = [value.numerator * (denominator // value.denominator) for value in array.flat]
    return integers.reshape(array.shape), denominator


def _largest(integers: IntArray) -> int:
    """The largest magnitude in an array of Python integers."""
    if not integers.size:
        return 0
    return max(-int(integers.min()), int(integers.max()))


def _matmul(a: IntArray, b: IntArray, bound: int) -> IntArray:
    """``a @ b`` over Python integers; ``bound`` ≥ the largest |a[i, k]·b[k, j]|.

    Done in int64 when no sum can overflow, else with Python integers.
    """
    if bound * max(a.shape[-1], 1) < _INT64_LIMIT:
        return np.asarray(a.astype(np.int64) @ b.astype(np.int64), dtype=object)
    return np.asarray(a @ b, dtype=object)


def _unscaled(integers: IntArray, denominator: int) -> Array:
    values = np.empty(integers.size, dtype=object)
    values[:] = [Fraction(int(v), denominator) for v in integers.flat]
    return values.reshape(integers.shape)


def correlate(x: Array, k: Array, stride: tuple[int, int] = (1, 1)) -> Array:
    """Valid cross-correlation summed over channels.

    ``x`` is (C, H, W), ``k`` is (F, C, kh, kw); the result is (F, oh, ow) with
    ``out[f, i, j] = Σ_c Σ_m Σ_n x[c, i·sh + m, j·sw + n] · k[f, c, m, n]``.
    """
    channels = x.shape[0]
    filters, _, kh, kw = k.shape
    sh, sw = stride
    xi, dx = _scaled(x)
    ki, dk = _scaled(k)
    windows = sliding_window_view(xi, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
    oh, ow = windows.shape[1], windows.shape[2]
    columns = windows.transpose(1, 2, 0, 3, 4).reshape(oh * ow, channels * kh * kw)
    products = _matmul(columns, ki.reshape(filters, -1).T, _largest(xi) * _largest(ki))
    return _unscaled(products.T.reshape(filters, oh, ow), dx * dk)


def pad(x: Array, padding: tuple[int, int]) -> Array:
    """Zeros added on each side of the last two axes."""
    ph, pw = padding
    out = zeros((*x.shape[:-2], x.shape[-2] + 2 * ph, x.shape[-1] + 2 * pw))
    out[..., ph : ph + x.shape[-2], pw : pw + x.shape[-1]] = x
    return out


def dilate(g: Array, stride: tuple[int, int]) -> Array:
    """dL/dZ with ``stride − 1`` zeros inserted between neighbouring entries."""
    sh, sw = stride
    rows, cols = g.shape[-2], g.shape[-1]
    out = zeros((*g.shape[:-2], (rows - 1) * sh + 1, (cols - 1) * sw + 1))
    out[..., ::sh, ::sw] = g
    return out


def rotate180(k: Array) -> Array:
    """The kernel turned by 180°: flipped vertically, then horizontally."""
    return np.ascontiguousarray(k[..., ::-1, ::-1])


# --------------------------------------------------------------------------
# the layer, step by step


def forward(xpad: Array, k: Array, bias: Array | None, stride: tuple[int, int]) -> Array:
    """Z = corr(Xpad, K) + B, shape (F, oh, ow)."""
    z = correlate(xpad, k, stride)
    if bias is not None:
        z = z + bias.reshape(-1, 1, 1)
    return z


def loss_value(z: Array, y: Array, loss: LossName) -> Fraction:
    """L for the given loss: ``mse`` averages over every output element."""
    total = sum((d * d for d in (z - y).flat), Fraction(0))
    if loss == "mse":
        return total / z.size
    if loss == "half_sse":
        return total / 2
    return total


def loss_gradient(z: Array, y: Array, loss: LossName) -> Array:
    """dL/dZ: (2/N)(Z − Y) for mse, 2(Z − Y) for sse, (Z − Y) for half_sse."""
    factor = {"mse": Fraction(2, z.size), "sse": Fraction(2), "half_sse": Fraction(1)}[loss]
    result: Array = (z - y) * factor
    return result


def filter_gradient(xpad: Array, spread: Array, kernel_size: tuple[int, int]) -> Array:
    """dL/dK = corr(Xpad, dL/dZ zero-inserted), shape (F, C, kh, kw).

    ``dK[f, c, m, n] = Σ_i Σ_j xpad[c, m + i, n + j] · spread[f, i, j]``.
    """
    channels = xpad.shape[0]
    filters, rows, cols = spread.shape
    kh, kw = kernel_size
    xi, dx = _scaled(xpad)
    gi, dg = _scaled(spread)
    windows = sliding_window_view(xi, (rows, cols), axis=(1, 2))[:, :kh, :kw]
    products = _matmul(windows.reshape(channels * kh * kw, rows * cols),
                       gi.reshape(filters, rows * cols).T, _largest(xi) * _largest(gi))
    return _unscaled(products.T.reshape(filters, channels, kh, kw), dx * dg)


def full_pad(spread: Array, kernel_size: tuple[int, int]) -> Array:
    """dL/dZ (zero-inserted) with ``kernel − 1`` zeros on each side, for the full convolution."""
    return pad(spread, (kernel_size[0] - 1, kernel_size[1] - 1))


def input_gradient(rotated: Array, padded_grad: Array, padded_size: tuple[int, int]) -> Array:
    """dL/dXpad = full conv(rot180(K), dL/dZ), shape (C, Hp, Wp).

    Rows and columns of the padded input that no window reached (when the
    stride does not divide evenly) receive zero gradient.
    """
    reached = correlate(padded_grad, rotated.transpose(1, 0, 2, 3))
    out = zeros((reached.shape[0], *padded_size))
    out[:, : reached.shape[1], : reached.shape[2]] = reached
    return out


def crop(x: Array, padding: tuple[int, int]) -> Array:
    """The inverse of :func:`pad`."""
    ph, pw = padding
    return x[..., ph : x.shape[-2] - ph, pw : x.shape[-1] - pw]


def sgd(weights: Array, gradient: Array, learning_rate: Fraction) -> Array:
    """W − α·dL/dW."""
    result: Array = weights - gradient * learning_rate
    return result


# --------------------------------------------------------------------------
# the layers after the convolution


def _float_exact(value: float) -> Fraction:
    """A float as the decimal of its shortest repr (17 significant digits at most)."""
    return Fraction(repr(value))


def _sigmoid(z: Fraction) -> Fraction:
    x = float(z)
    if x >= 0:
        return _float_exact(1 / (1 + math.exp(-x)))
    e = math.exp(x)
    return _float_exact(e / (1 + e))


def _tanh(z: Fraction) -> Fraction:
    return _float_exact(math.tanh(float(z)))


def activate(z: Array, activation: Activation) -> Array:
    """A = f(Z) element-wise; sigmoid and tanh as float64, so approximate."""
    kind, slope = activation.kind, activation.slope
    if kind == "relu":
        values = [v if v > 0 else Fraction(0) for v in z.flat]
    elif kind == "leaky_relu":
        values = [v if v > 0 else v * slope for v in z.flat]
    else:
        f = _sigmoid if kind == "sigmoid" else _tanh
        values = [f(v) for v in z.flat]
    return fractions(values, z.shape)


def activation_slope(z: Array, a: Array, activation: Activation) -> Array:
    """f′(Z): ReLU′(0) = 0 and leaky ReLU′(0) = slope, as PyTorch;
    σ′ = σ(1 − σ) and tanh′ = 1 − tanh², from the float values of A."""
    kind = activation.kind
    if kind == "relu":
        values = [Fraction(1) if v > 0 else Fraction(0) for v in z.flat]
    elif kind == "leaky_relu":
        values = [Fraction(1) if v > 0 else activation.slope for v in z.flat]
    elif kind == "sigmoid":
        values = [v * (1 - v) for v in a.flat]
    else:
        values = [1 - v * v for v in a.flat]
    return fractions(values, z.shape)


def pool_windows(a: Array, pool: Pool) -> Array:
    """Every pooling window, shape (F, ph, pw, kh·kw), in row-major order."""
    (kh, kw), (sh, sw) = pool.size, pool.stride
    windows = sliding_window_view(a, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
    return windows.reshape(*windows.shape[:3], kh * kw)


def pool_forward(a: Array, pool: Pool) -> tuple[Array, IntArray | None]:
    """P and, for max and min, the position in its window of each first extreme."""
    windows = pool_windows(a, pool)
    if pool.kind == "mean":
        size = windows.shape[-1]
        return fractions([sum(w, Fraction(0)) / size for w in windows.reshape(-1, size)],
                         windows.shape[:3]), None
    # argmax and argmin return the first extreme in row-major order, as PyTorch
    winners = windows.argmax(axis=-1) if pool.kind == "max" else windows.argmin(axis=-1)
    chosen = np.take_along_axis(windows, winners[..., None], axis=-1)[..., 0]
    return fractions(chosen.ravel(), chosen.shape), np.asarray(winners)


def pool_backward(grad: Array, pool: Pool, shape: tuple[int, ...],
                  winners: IntArray | None) -> Array:
    """dL/dA: each window's gradient to its winner (max, min) or shared equally (mean);
    where windows overlap, the parts add up."""
    (kh, kw), (sh, sw) = pool.size, pool.stride
    out = zeros(shape)
    for f, i, j in np.ndindex(*grad.shape):
        g = grad[f, i, j]
        if winners is None:
            share = g / (kh * kw)
            for m in range(kh):
                for n in range(kw):
                    out[f, i * sh + m, j * sw + n] += share
        else:
            m, n = divmod(int(winners[f, i, j]), kw)
            out[f, i * sh + m, j * sw + n] += g
    return out


@dataclass(frozen=True, eq=False)
class Solution:
    """Every quantity of the worked solution, in the full layout.

    Arrays are (C, H, W) for inputs, (F, C, kh, kw) for filters and
    (F, oh, ow) for outputs; gradients are None for a forward-only problem.
    ``output`` and ``grad_output`` are always the convolution's Z and dL/dZ;
    with an activation or a pool, ``activated``/``pooled`` and their
    gradients follow, and the result's ``output`` is the last stage
    (see :mod:`cnnstep.result`).
    """

    problem: Problem
    padded_input: Array
    output: Array
    loss: Fraction | None = None
    grad_output: Array | None = None
    spread_grad: Array | None = None  # dL/dZ with stride − 1 zeros inserted
    grad_filter: Array | None = None
    grad_bias: Array | None = None
    rotated_filter: Array | None = None
    padded_grad: Array | None = None  # spread dL/dZ padded by kernel − 1 for the full conv
    grad_padded_input: Array | None = None  # (C, Hp, Wp), before cropping
    grad_input: Array | None = None
    updated_filter: Array | None = None
    updated_bias: Array | None = None
    activated: Array | None = None  # A = f(Z)
    pooled: Array | None = None  # P = pool(A or Z)
    winners: IntArray | None = None  # position in its window of each max (min)
    slopes: Array | None = None  # f′(Z)
    grad_pooled: Array | None = None  # dL/dP
    grad_activated: Array | None = None  # dL/dA

    @property
    def last(self) -> Array:
        """The last stage: what the loss compares with the target."""
        for stage in (self.pooled, self.activated):
            if stage is not None:
                return stage
        return self.output

    @property
    def grad_last(self) -> Array | None:
        layer = self.problem.layer
        if layer.pool is not None:
            return self.grad_pooled
        return self.grad_activated if layer.activation is not None else self.grad_output

    @property
    def approximate(self) -> bool:
        """Whether sigmoid or tanh made every later quantity a float approximation."""
        activation = self.problem.layer.activation
        return activation is not None and not activation.exact


def solve(problem: Problem) -> Solution:
    """The whole layer: forward pass, loss, gradients and SGD update."""
    layer = problem.layer
    xpad = pad(problem.input, problem.padding)
    z = forward(xpad, problem.filter, problem.bias, problem.stride)
    stages: dict[str, Any] = {}
    last = z
    if layer.activation is not None:
        last = stages["activated"] = _frozen(activate(z, layer.activation))
    if layer.pool is not None:
        pooled, winners = pool_forward(last, layer.pool)
        last = stages["pooled"] = _frozen(pooled)
        stages["winners"] = winners
    if problem.target is not None:
        loss: Fraction | None = loss_value(last, problem.target, problem.loss)
        grad = loss_gradient(last, problem.target, problem.loss)
    elif problem.grad_output is not None:
        loss, grad = None, problem.grad_output
    else:
        return Solution(problem, _frozen(xpad), _frozen(z), **stages)

    # back through the pool and the activation to dL/dZ
    if layer.pool is not None:
        stages["grad_pooled"] = _frozen(grad)
        before = stages.get("activated", z)
        grad = pool_backward(grad, layer.pool, before.shape, stages["winners"])
    if layer.activation is not None:
        stages["grad_activated"] = _frozen(grad)
        slopes = activation_slope(z, stages["activated"], layer.activation)
        stages["slopes"] = _frozen(slopes)
        grad = grad * slopes
    dz = grad

    spread = dilate(dz, problem.stride)
    grad_filter = filter_gradient(xpad, spread, problem.kernel_size)
    grad_bias = None
    if problem.bias is not None:
        grad_bias = fractions([sum(dz[f].flat, Fraction(0)) for f in range(dz.shape[0])])
    rotated = rotate180(problem.filter)
    padded_grad = full_pad(spread, problem.kernel_size)
    grad_xpad = input_gradient(rotated, padded_grad, problem.padded_size)
    grad_input = crop(grad_xpad, problem.padding)

    updated_filter = updated_bias = None
    if problem.learning_rate is not None:
        updated_filter = sgd(problem.filter, grad_filter, problem.learning_rate)
        if problem.bias is not None and grad_bias is not None:
            updated_bias = sgd(problem.bias, grad_bias, problem.learning_rate)

    return Solution(
        problem=problem,
        padded_input=_frozen(xpad),
        output=_frozen(z),
        loss=loss,
        grad_output=_frozen(dz),
        spread_grad=_frozen(spread),
        grad_filter=_frozen(grad_filter),
        grad_bias=_frozen(grad_bias) if grad_bias is not None else None,
        rotated_filter=_frozen(rotated),
        padded_grad=_frozen(padded_grad),
        grad_padded_input=_frozen(grad_xpad),
        grad_input=_frozen(np.ascontiguousarray(grad_input)),
        updated_filter=_frozen(updated_filter) if updated_filter is not None else None,
        updated_bias=_frozen(updated_bias) if updated_bias is not None else None,
        **stages,
    )
