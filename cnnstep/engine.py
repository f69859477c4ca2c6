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

With a dilation every window's taps are spaced by it: the forward pass and
dL/dK read Xpad at ``i·s + m·d``, and dL/dX slides the dilated rot180(K) over
dL/dZ padded by the dilated span less one, ``d·(k − 1)``.

A batch of N images (:func:`solve_batch`) is solved image by image, the loss
taken over all N: its loss and dL/dK, dL/dB are the sums of the images', and
every other quantity keeps one array per image along a leading axis.
The padding may differ on each side (top, bottom, left, right): Xpad has
``top`` zero rows above and ``bottom`` below, and dL/dX is the full convolution
cropped by ``top``/``left`` at the start and ``bottom``/``right`` at the end.

In mode "convolution" (a true convolution) the forward pass reads the kernel
rotated by 180°, ``Z[i,j] = Σ Xpad[i·s + m·d, j·s + n·d]·K[kh−1−m, kw−1−n]``:
the layer is a correlation with ``rot180(K)``. So dL/dK is the 180° rotation of
corr(Xpad, zero-inserted dL/dZ), and dL/dX is the full *correlation* of the
dilated K itself (the rotation of rot180(K)) with the zero-inserted dL/dZ.
With ``groups`` G the C input channels fall into G blocks of C/G and the F
filters into G groups of F/G; filter f, of shape (C/G, kh, kw), sees only the
block of its group g = ⌊f/(F/G)⌋: ``Z[f] = Σ_c Xpad[g·C/G + c] ⋆ K[f, c] + B[f]``.
So dL/dK[f] reads only that block of Xpad, and dL/dX of a channel sums only
the filters of its group. Each function below does G ungrouped convolutions,
one per group, and puts their results side by side.
A transposed convolution (PyTorch's ``conv_transpose2d``, filter (C, F, kh, kw))
scatters each input entry times the kernel into the output,
``Z[f, i·s − p + m·d, j·s − p + n·d] += X[c, i, j]·K[c, f, m, n]``. It is worked
as a course shows it: the input spread apart by ``s − 1`` zeros, padded by
``d·(k − 1) − p`` on each side (and ``output_padding`` more at the bottom and
right), and an ordinary stride-1 correlation with the rotated kernel, its
channel axes swapped. dL/dK is that correlation's kernel gradient turned back;
dL/dX is an ordinary strided correlation of dL/dZ (padded by p) with K.

Sums of products are vectorised: each operand is scaled to integers over a
common denominator, multiplied as ``int64`` when no sum can overflow (else as
Python integers), and divided back exactly.
"""

from __future__ import annotations

import math
from dataclasses import fields
from fractions import Fraction
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cnnstep import budget, exact, geometry
from cnnstep.entries import Computed, Entries
from cnnstep.exact import Scaled
from cnnstep.problem import Activation, Array, Layer, LossName, Pool, Problem
from cnnstep.problem import frozen as _frozen
from cnnstep.values import Value, value_class

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


def _matmul(a: IntArray, b: IntArray) -> IntArray:
    """``a @ b`` over Python integers.

    Done in int64 when every operand fits and no sum can overflow, judged from
    the largest magnitudes of *both* operands (an all-zero one does not let
    the other through unchecked); else with Python integers.
    """
    largest_a, largest_b = _largest(a), _largest(b)
    if (largest_a < _INT64_LIMIT and largest_b < _INT64_LIMIT
            and largest_a * largest_b * max(a.shape[-1], 1) < _INT64_LIMIT):
        return np.asarray(a.astype(np.int64) @ b.astype(np.int64), dtype=object)
    return np.asarray(a @ b, dtype=object)


def _unscaled(integers: IntArray, denominator: int) -> Array:
    values = np.empty(integers.size, dtype=object)
    values[:] = [Fraction(int(v), denominator) for v in integers.flat]
    return values.reshape(integers.shape)


def correlate(x: Array, k: Array, stride: tuple[int, int] = (1, 1),
              dilation: tuple[int, int] = (1, 1)) -> Array:
    """Valid cross-correlation summed over channels.

    ``x`` is (C, H, W), ``k`` is (F, C, kh, kw); the result is (F, oh, ow) with
    ``out[f, i, j] = Σ_c Σ_m Σ_n x[c, i·sh + m·dh, j·sw + n·dw] · k[f, c, m, n]``.
    A ``k`` of (F, C/G, kh, kw) is grouped: filter f reads only the block
    ``x[g·C/G : (g + 1)·C/G]`` of its group g = ⌊f/(F/G)⌋.
    """
    groups = x.shape[0] // k.shape[1] if k.shape[1] else 1
    if groups > 1:
        return np.concatenate([correlate(xb, kb, stride, dilation)
                               for xb, kb in zip(split(x, groups), split(k, groups),
                                                 strict=True)])
    channels = x.shape[0]
    filters, _, kh, kw = k.shape
    sh, sw = stride
    dh, dw = dilation
    xi, dx = _scaled(x)
    ki, dk = _scaled(k)
    span = geometry.effective_kernel((kh, kw), dilation)
    windows = sliding_window_view(xi, span, axis=(1, 2))[:, ::sh, ::sw, ::dh, ::dw]
    oh, ow = windows.shape[1], windows.shape[2]
    columns = windows.transpose(1, 2, 0, 3, 4).reshape(oh * ow, channels * kh * kw)
    products = _matmul(columns, ki.reshape(filters, -1).T)
    return _unscaled(products.T.reshape(filters, oh, ow), dx * dk)


def pad_sides(x: Array, sides: tuple[int, int, int, int]) -> Array:
    """Zeros added around the last two axes: (top, bottom, left, right)."""
    top, bottom, left, right = sides
    out = zeros((*x.shape[:-2], x.shape[-2] + top + bottom, x.shape[-1] + left + right))
    out[..., top : top + x.shape[-2], left : left + x.shape[-1]] = x
    return out


def crop_sides(x: Array, sides: tuple[int, int, int, int]) -> Array:
    """The inverse of :func:`pad_sides`."""
    top, bottom, left, right = sides
    return x[..., top : x.shape[-2] - bottom, left : x.shape[-1] - right]


def forward_kernel(k: Array, layer: Layer) -> Array:
    """The kernel the forward pass correlates with: K, or rot180(K) for a true
    convolution (mode "convolution")."""
    return rotate180(k) if layer.flipped else k
def split(array: Array, groups: int) -> list[Array]:
    """The first axis cut into ``groups`` equal blocks, one per group."""
    size = array.shape[0] // groups
    return [array[g * size : (g + 1) * size] for g in range(groups)]


def pad(x: Array, padding: tuple[int, int]) -> Array:
    """Zeros added on each side of the last two axes."""
    ph, pw = padding
    out = zeros((*x.shape[:-2], x.shape[-2] + 2 * ph, x.shape[-1] + 2 * pw))
    out[..., ph : ph + x.shape[-2], pw : pw + x.shape[-1]] = x
    return out


def insert_zeros(g: Array, stride: tuple[int, int]) -> Array:
    """dL/dZ spread apart for the stride: ``stride − 1`` zeros between neighbouring entries."""
    sh, sw = stride
    rows, cols = g.shape[-2], g.shape[-1]
    out = zeros((*g.shape[:-2], (rows - 1) * sh + 1, (cols - 1) * sw + 1))
    out[..., ::sh, ::sw] = g
    return out


def rotate180(k: Array) -> Array:
    """The kernel turned by 180°: flipped vertically, then horizontally."""
    return np.ascontiguousarray(k[..., ::-1, ::-1])


def crop(x: Array, padding: tuple[int, int]) -> Array:
    """The inverse of :func:`pad`."""
    ph, pw = padding
    return x[..., ph : x.shape[-2] - ph, pw : x.shape[-1] - pw]


# --------------------------------------------------------------------------
# the convolution, forward and backward


def forward(xpad: Array, k: Array, bias: Array | None, stride: tuple[int, int],
            dilation: tuple[int, int] = (1, 1)) -> Array:
    """Z = corr(Xpad, K) + B, shape (F, oh, ow), the kernel's taps spaced by the dilation."""
    z = correlate(xpad, k, stride, dilation)
    if bias is not None:
        z = z + bias.reshape(-1, 1, 1)
    return z


def channel_parts(xpad: Array, k: Array, stride: tuple[int, int],
                  dilation: tuple[int, int] = (1, 1)) -> Array:
    """Each channel's part of Z, before the bias, shape (F, C, oh, ow):
    ``Z[f] = Σ_c parts[f, c] + B[f]``, as a course adds the channels' maps. With
    groups (``k`` of (F, C/G, kh, kw)) the parts are (F, C/G, oh, ow), part c of
    filter f from channel c of its group's block."""
    groups = xpad.shape[0] // k.shape[1]
    parts = [np.concatenate([correlate(xb[c : c + 1], kb[:, c : c + 1], stride, dilation)
                             for xb, kb in zip(split(xpad, groups), split(k, groups),
                                               strict=True)])
             for c in range(k.shape[1])]
    return np.stack(parts, axis=1)


def filter_gradient(xpad: Array, spread: Array, kernel_size: tuple[int, int],
                    dilation: tuple[int, int] = (1, 1), groups: int = 1) -> Array:
    """dL/dK = corr(Xpad, dL/dZ zero-inserted), shape (F, C, kh, kw), taps spaced by
    the dilation.

    ``dK[f, c, m, n] = Σ_i Σ_j xpad[c, m·dh + i, n·dw + j] · spread[f, i, j]``.
    With groups, (F, C/G, kh, kw): each filter's gradient from its own block,
    ``dK[f, c] = Σ_i Σ_j xpad[g·C/G + c, …] · spread[f, i, j]``.
    """
    if groups > 1:
        return np.concatenate([filter_gradient(xb, gb, kernel_size, dilation)
                               for xb, gb in zip(split(xpad, groups), split(spread, groups),
                                                 strict=True)])
    channels = xpad.shape[0]
    filters, rows, cols = spread.shape
    kh, kw = kernel_size
    dh, dw = dilation
    xi, dx = _scaled(xpad)
    gi, dg = _scaled(spread)
    windows = sliding_window_view(xi, (rows, cols), axis=(1, 2))[:, : dh * kh : dh,
                                                                 : dw * kw : dw]
    products = _matmul(windows.reshape(channels * kh * kw, rows * cols),
                       gi.reshape(filters, rows * cols).T)
    return _unscaled(products.T.reshape(filters, channels, kh, kw), dx * dg)


def kernel_gradient(xpad: Array, grad_conv: Array, layer: Layer) -> Array:
    """dL/dK from dL/dZ: zero insertion for the stride, then :func:`filter_gradient`
    (turned by 180° in mode "convolution", whose forward pass reads rot180(K))."""
    correlation = filter_gradient(xpad, insert_zeros(grad_conv, layer.stride),
                                  layer.kernel_size, layer.dilation, layer.groups)
    return rotate180(correlation) if layer.flipped else correlation


def backward_kernel(k: Array, layer: Layer) -> Array:
    """The kernel dL/dX slides over dL/dZ: the rotation of the forward pass's kernel,
    rot180(K), or K itself in mode "convolution"."""
    return rotate180(forward_kernel(k, layer))


def bias_gradient(grad_conv: Array) -> Array:
    """dL/dB[f] = Σ_i Σ_j dL/dZ[f, i, j]: the bias is added to every entry of its map."""
    return fractions([sum(grad_conv[f].flat, Fraction(0)) for f in range(grad_conv.shape[0])])


def full_pad(spread: Array, kernel_size: tuple[int, int]) -> Array:
    """dL/dZ (zero-inserted) with ``kernel − 1`` zeros on each side, for the full convolution
    (the dilated kernel's span d·(k − 1) + 1 when it is dilated)."""
    return pad(spread, (kernel_size[0] - 1, kernel_size[1] - 1))


def full_convolution(kernel: Array, padded_grad: Array, padded_size: tuple[int, int],
                     dilation: tuple[int, int] = (1, 1), groups: int = 1) -> Array:
    """dL/dXpad = corr(padded dL/dZ, kernel) summed over filters, shape (C, Hp, Wp),
    the kernel's taps spaced by the dilation.

    With the rotated kernel this is the full convolution of the (dilated) rot180(K)
    with dL/dZ. Rows and columns of the padded input that no window reached (when
    the stride does not divide evenly) receive zero gradient. With groups a channel
    of block g sums only the filters of group g:
    ``dXpad[g·C/G + c] = Σ_{f in group g} padded_grad[f] ⋆ kernel[f, c]``.
    """
    if groups > 1:
        return np.concatenate([full_convolution(kb, gb, padded_size, dilation)
                               for kb, gb in zip(split(kernel, groups),
                                                 split(padded_grad, groups), strict=True)])
    reached = correlate(padded_grad, kernel.transpose(1, 0, 2, 3), (1, 1), dilation)
    out = zeros((reached.shape[0], *padded_size))
    out[:, : reached.shape[1], : reached.shape[2]] = reached
    return out


def filter_parts(kernel: Array, padded_grad: Array, padded_size: tuple[int, int],
                 dilation: tuple[int, int] = (1, 1), groups: int = 1) -> Array:
    """Each filter's part of dL/dXpad, shape (F, C, Hp, Wp): :func:`full_convolution`
    of one filter's rotated kernel with its own padded gradient; the parts add up
    to dL/dXpad. With groups a filter's part is 0 outside its group's channels."""
    filters, seen = kernel.shape[0], kernel.shape[1]
    parts = zeros((filters, seen * groups, *padded_size))
    for f in range(filters):
        first = f // (filters // groups) * seen
        parts[f, first : first + seen] = full_convolution(
            kernel[f : f + 1], padded_grad[f : f + 1], padded_size, dilation)
    return parts


def input_gradient(kernel: Array, spread: Array, layer: Layer) -> Array:
    """dL/dX: :func:`full_convolution` of ``kernel`` (rot180(K)) with the zero-inserted
    dL/dZ padded by kernel − 1, cropped back by the layer's padding."""
    padded = full_pad(spread, layer.effective_kernel)
    return crop_sides(full_convolution(kernel, padded, layer.padded_size, layer.dilation,
                                       layer.groups), layer.sides)


# --------------------------------------------------------------------------
# the transposed convolution


def expand(x: Array, layer: Layer) -> Array:
    """Xe, the transposed layer's input made ready for an ordinary correlation:
    ``s − 1`` zeros between neighbouring entries, then ``d·(k − 1) − p`` zeros on each
    side and ``output_padding`` more at the bottom and right, shape (C, *padded_size).
    A negative ``d·(k − 1) − p`` (a padding above d·(k − 1)) crops that many rows
    (columns) instead: ``Xe[c, r, q] = spread[c, r − e_h, q − e_w]`` wherever that is
    inside the spread input, else 0."""
    spread = insert_zeros(x, layer.stride)
    out = zeros((x.shape[0], *layer.padded_size))
    (to_rows, from_rows), (to_cols, from_cols) = (
        _placed(e, spread.shape[axis + 1], layer.padded_size[axis])
        for axis, e in enumerate(layer.expansion))
    out[:, to_rows, to_cols] = spread[:, from_rows, from_cols]
    return out


def _placed(shift: int, size: int, length: int) -> tuple[slice, slice]:
    """Along one axis, where ``size`` entries shifted by ``shift`` land in ``length``
    (a negative shift crops the first ones), and which of them land."""
    first = max(0, -shift)
    start = max(0, shift)
    count = max(0, min(size - first, length - start))
    return slice(start, start + count), slice(first, first + count)


def swap_groups(k: Array, groups: int = 1) -> Array:
    """A transposed layer's filter with its channel axes swapped group by group:
    (C, F/G, kh, kw) → (F, C/G, kh, kw), block g of the C input channels, (C/G, F/G),
    becoming block g of the F output channels, (F/G, C/G); the same swap turns it back.
    With one group, a plain swap of the first two axes."""
    return np.ascontiguousarray(np.concatenate([block.swapaxes(0, 1)
                                                for block in split(k, groups)]))


def swapped_rotation(k: Array, groups: int = 1) -> Array:
    """K' = rot180(K) with its channel axes swapped: (C, F/G, kh, kw) → (F, C/G, kh, kw),
    ``K'[g·F/G + f, c, m, n] = K[g·C/G + c, f, kh − 1 − m, kw − 1 − n]`` for group g; a
    grouped kernel of an ordinary correlation."""
    return swap_groups(rotate180(k), groups)


def transposed_forward(xe: Array, k: Array, bias: Array | None, layer: Layer) -> Array:
    """Z = corr(Xe, K') + B with stride 1, the taps spaced by the dilation:
    ``Z[f, y, x] = B[f] + Σ_c Σ_m Σ_n Xe[c, y + m·dh, x + n·dw]·K'[f, c, m, n]``, the sum
    over the input channels of f's group."""
    return forward(xe, swapped_rotation(k, layer.groups), bias, (1, 1), layer.dilation)


def transposed_filter_gradient(xe: Array, grad_conv: Array, layer: Layer) -> Array:
    """dL/dK, (C, F/G, kh, kw): the gradient of K' in the forward correlation,
    ``dK'[f, c, m, n] = Σ_y Σ_x Xe[c, y + m·dh, x + n·dw]·dL/dZ[f, y, x]``, rotated back
    and its channel axes swapped back; the same as
    ``dK[c, f, m, n] = Σ_i Σ_j X[c, i, j]·dL/dZ[f, i·s − p + m·d, j·s − p + n·d]``."""
    rotated = filter_gradient(xe, grad_conv, layer.kernel_size, layer.dilation, layer.groups)
    return swap_groups(rotate180(rotated), layer.groups)


def transposed_input_gradient(k: Array, padded_grad: Array, layer: Layer) -> Array:
    """dL/dX, an ordinary strided correlation of dL/dZ padded by p with K:
    ``dX[c, i, j] = Σ_f Σ_m Σ_n dZpad[f, i·s + m·d, j·s + n·d]·K[c, f, m, n]``, f over
    the output channels of c's group (the first H×W entries: an output_padding adds
    rows no input entry reaches)."""
    _, height, width = layer.input_shape
    reached = correlate(padded_grad, k, layer.stride, layer.dilation)
    return np.ascontiguousarray(reached[:, :height, :width])


def transposed_filter_parts(k: Array, padded_grad: Array, layer: Layer) -> Array:
    """Each output channel's part of dL/dX, (F, C, H, W); the parts add up to dL/dX,
    and part f is 0 outside the input channels of f's group."""
    parts = zeros((layer.filters, *layer.input_shape))
    for f in range(layer.filters):
        block = layer.channels_of(f)
        column = f % layer.group_filters
        parts[f, block.start : block.stop] = transposed_input_gradient(
            k[block.start : block.stop, column : column + 1], padded_grad[f : f + 1], layer)
    return parts


def _transposed_backward(problem: Problem, stages: dict[str, Any], dz: Array) -> None:
    """dL/dK, dL/dB and dL/dX of a transposed layer from dL/dZ."""
    layer = problem.layer
    stages["grad_filter"] = transposed_filter_gradient(stages["padded_input"], dz, layer)
    if problem.exact_bias is not None:
        stages["grad_bias"] = bias_gradient(dz)
    stages["padded_grad"] = padded = pad(dz, layer.padding)
    stages["grad_input"] = transposed_input_gradient(problem.filter, padded, layer)
    if layer.filters > 1:
        stages["filter_parts"] = transposed_filter_parts(problem.filter, padded, layer)


def sgd(weights: Array, gradient: Array, learning_rate: Fraction) -> Array:
    """W − α·dL/dW."""
    result: Array = weights - gradient * learning_rate
    return result


# --------------------------------------------------------------------------
# the loss


def loss_scale(loss: LossName, count: int) -> tuple[int, int]:
    """L = (a/b)·Σ (z − y)²: (1, N) for mse over N entries, (1, 1) for sse, (1, 2)
    for half_sse; unreduced, as a course writes it."""
    return {"mse": (1, count), "sse": (1, 1), "half_sse": (1, 2)}[loss]


def loss_factor(loss: LossName, count: int) -> tuple[int, int]:
    """dL/dz = (a/b)·(z − y): (2, N) for mse, (2, 1) for sse, (1, 1) for half_sse
    (the 2 of the square cancels the half)."""
    return {"mse": (2, count), "sse": (2, 1), "half_sse": (1, 1)}[loss]


def squared_errors(z: Array, y: Array) -> Array:
    """(z − y)² entry by entry."""
    d = z - y
    result: Array = d * d
    return result


def loss_value(z: Array, y: Array, loss: LossName) -> Fraction:
    """L for the given loss: ``mse`` averages over every output element."""
    total = sum(squared_errors(z, y).flat, Fraction(0))
    return total * Fraction(*loss_scale(loss, z.size))


def loss_gradient(z: Array, y: Array, loss: LossName) -> Array:
    """dL/dZ: (2/N)(Z − Y) for mse, 2(Z − Y) for sse, (Z − Y) for half_sse."""
    result: Array = (z - y) * Fraction(*loss_factor(loss, z.size))
    return result


def image_share(loss: LossName, images: int) -> Fraction:
    """What one image of a batch of ``images`` carries of :func:`loss_value` and
    :func:`loss_gradient` over its own entries: 1/N under mse, whose mean is over
    the N·F·oh·ow entries of the whole batch (PyTorch's ``reduction="mean"``);
    1 under sse and half_sse, which add up over the batch as they are."""
    return Fraction(1, images) if loss == "mse" else Fraction(1)


# --------------------------------------------------------------------------
# the layers after the convolution


def _float_exact(value: float) -> Fraction:
    """A float as the decimal of its shortest repr (17 significant digits at most)."""
    return Fraction(repr(value))


#: sigmoid and tanh are flat to float64 precision well before |z| = 1000, so larger
#: inputs are clamped there rather than overflowing float()
_SATURATED = Fraction(1000)


def _float(z: Fraction) -> float:
    return float(max(-_SATURATED, min(_SATURATED, z)))


def _sigmoid(z: Fraction) -> Fraction:
    x = _float(z)
    if x >= 0:
        return _float_exact(1 / (1 + math.exp(-x)))
    e = math.exp(x)
    return _float_exact(e / (1 + e))


def _tanh(z: Fraction) -> Fraction:
    return _float_exact(math.tanh(_float(z)))


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


def pool_cell_lists(pool: Pool) -> dict[tuple[int, int], list[tuple[int, int]]]:
    """The (row, column) entries of the pool's input under each pooled position
    (i, j), row-major; padding and taps past a partial window are not entries."""
    oh, ow = geometry.pool_sizes(pool)
    return {(i, j): [(row, col) for _, row, col in geometry.pool_cells(pool, 0, i, j)]
            for i, j in np.ndindex(oh, ow)}


def pool_forward(a: Array, pool: Pool) -> tuple[Array, IntArray | None]:
    """P and, for max and min, the position among its window's entries of each first
    extreme.

    ``P[f,i,j] = max`` (``min``) of the window's entries, or their sum over
    :func:`geometry.pool_divisor` for mean. The padding (−∞ for max, +∞ for min, 0
    for mean) never wins and adds nothing, so only the entries are read: every
    window holds at least one (the problem is checked for it).
    """
    cells = pool_cell_lists(pool)
    channels, (oh, ow) = a.shape[0], geometry.pool_sizes(pool)
    if pool.kind == "mean":
        divisors = {ij: geometry.pool_divisor(pool, *ij) for ij in cells}
        return fractions([sum((a[f, r, c] for r, c in cells[i, j]), Fraction(0))
                          / divisors[i, j]
                          for f, i, j in np.ndindex(channels, oh, ow)],
                         (channels, oh, ow)), None
    values: list[Fraction] = []
    winners = np.zeros((channels, oh, ow), dtype=np.int64)
    pick = max if pool.kind == "max" else min
    for f, i, j in np.ndindex(channels, oh, ow):
        window = [a[f, r, c] for r, c in cells[i, j]]
        best = pick(window)
        winners[f, i, j] = window.index(best)  # the first extreme in row-major order
        values.append(best)
    return fractions(values, (channels, oh, ow)), winners


def pool_routes(pool: Pool, pooled_shape: tuple[int, ...], winners: IntArray | None
                ) -> dict[tuple[int, int, int], list[tuple[int, int, int]]]:
    """Where the pool sends each window's gradient: for every entry of the pool's
    input, the pooled entries whose gradient reaches it (several where windows
    overlap). Max and min send a window's gradient to its winner alone; mean
    shares it out over the window's entries. Padding receives nothing."""
    routes: dict[tuple[int, int, int], list[tuple[int, int, int]]] = {}
    cells = pool_cell_lists(pool)
    for f, i, j in np.ndindex(*pooled_shape):
        window = cells[i, j]
        if winners is not None:
            window = [window[int(winners[f, i, j])]]
        for row, col in window:
            routes.setdefault((f, row, col), []).append((f, i, j))
    return routes


def pool_share(pool: Pool, i: int, j: int) -> Fraction:
    """The part of window (i, j)'s gradient each routed entry gets: 1/divisor for mean
    (:func:`geometry.pool_divisor`), else 1."""
    return Fraction(1, geometry.pool_divisor(pool, i, j)) if pool.kind == "mean" else Fraction(1)


def pool_backward(grad: Array, pool: Pool, shape: tuple[int, ...],
                  winners: IntArray | None) -> Array:
    """dL/dA: each window's gradient to its winner (max, min) or shared by 1/divisor
    (mean); where windows overlap, the parts add up. The padding gets none."""
    out = zeros(shape)
    shares = {ij: pool_share(pool, *ij) for ij in np.ndindex(*grad.shape[1:])}
    for cell, sources in pool_routes(pool, grad.shape, winners).items():
        out[cell] = sum((grad[g] * shares[g[1], g[2]] for g in sources), Fraction(0))
    return out


def activation_backward(grad: Array, slopes: Array) -> Array:
    """dL/dZ = dL/dA ⊙ f′(Z)."""
    result: Array = grad * slopes
    return result


# --------------------------------------------------------------------------
# the whole layer


@value_class(eq=False)
class Solution(Value):
    """Every quantity of the worked solution, in the full layout, by the result's names.

    Arrays are (C, H, W) for inputs, (F, C, kh, kw) for filters and
    (F, oh, ow) for the convolution's output; gradients are None for a
    forward-only problem. ``conv`` is Z and ``grad_conv`` dL/dZ; ``output``
    is the last stage (Z itself when nothing follows the convolution) and
    ``grad_output`` its gradient. Which of them the result holds is the
    business of :mod:`cnnstep.quantities`.

    The solution :func:`solve_lazily` makes for a derivation holds
    :mod:`cnnstep.entries` arrays in place of most of these, each entry made a
    Fraction when it is read.
    """

    problem: Problem
    padded_input: Array
    conv: Array  # Z = conv(X, K) + B
    activated: Array | None = None  # A = f(Z)
    pooled: Array | None = None  # P = pool(A or Z)
    winners: IntArray | None = None  # position in its window of each max (min)
    channel_parts: Array | None = None  # (F, C/G, oh, ow), with several channels: Z by channel
    loss: Fraction | None = None
    squared_errors: Array | None = None  # (output − target)², entry by entry
    loss_sum: Fraction | None = None  # Σ (output − target)², before the loss's scale
    grad_output: Array | None = None  # dL/d(last stage)
    grad_activated: Array | None = None  # dL/dA
    slopes: Array | None = None  # f′(Z)
    grad_conv: Array | None = None  # dL/dZ
    spread_grad: Array | None = None  # dL/dZ with stride − 1 zeros inserted
    grad_filter: Array | None = None
    grad_bias: Array | None = None
    rotated_filter: Array | None = None  # what dL/dX slides: rot180(K) (K in convolution mode)
    #: mode "convolution": corr(Xpad, spread dL/dZ), the gradient of rot180(K), before
    #: it is turned back into dL/dK
    grad_flipped_filter: Array | None = None
    padded_grad: Array | None = None  # spread dL/dZ padded by kernel − 1 for the full conv
    grad_padded_input: Array | None = None  # (C, Hp, Wp), before cropping
    filter_parts: Array | None = None  # (F, C, Hp, Wp), with several filters: by filter
    grad_input: Array | None = None
    updated_filter: Array | None = None
    updated_bias: Array | None = None
    #: a batch: every image's own solution (no update), whose arrays the ones above
    #: stack along a leading image axis, and whose dL/dK, dL/dB and L they add up
    images: tuple[Solution, ...] = ()

    @property
    def output(self) -> Array:
        """The last stage: what the loss compares with the target."""
        for stage in (self.pooled, self.activated):
            if stage is not None:
                return stage
        return self.conv

    @property
    def pool_input(self) -> Array:
        """What the pool reads: A, or Z when there is no activation."""
        return self.activated if self.activated is not None else self.conv


def _forward(problem: Problem) -> dict[str, Any]:
    """The forward stages: padded input, Z, A, P and the pool's winners."""
    layer = problem.layer
    if layer.transposed:
        xe = expand(problem.input, layer)
        stages: dict[str, Any] = {
            "padded_input": xe,
            "rotated_filter": swapped_rotation(problem.filter, layer.groups),
            "conv": transposed_forward(xe, problem.filter, problem.bias, layer)}
        if layer.channels > 1:
            stages["channel_parts"] = channel_parts(xe, stages["rotated_filter"], (1, 1),
                                                    layer.dilation)
    else:
        xpad = pad_sides(problem.input, layer.sides)
        kernel = forward_kernel(problem.filter, layer)
        conv = (forward(xpad, kernel, problem.bias, layer.stride, layer.dilation)
                if layer.convolution
                else problem.input)  # a layer alone: the input goes straight on
        stages = {"padded_input": xpad, "conv": conv}
        if layer.channels > 1 and layer.convolution:
            stages["channel_parts"] = channel_parts(xpad, kernel, layer.stride,
                                                    layer.dilation)
    last = stages["conv"]
    if layer.activation is not None:
        last = stages["activated"] = activate(last, layer.activation)
    if layer.pool is not None:
        stages["pooled"], stages["winners"] = pool_forward(last, layer.pool)
    return stages


def _layers_backward(problem: Problem, stages: dict[str, Any], grad: Array) -> Array:
    """Back from dL/d(last stage) through the pool and the activation to dL/dZ."""
    layer = problem.layer
    if layer.pool is not None:
        before = stages.get("activated", stages["conv"])
        grad = pool_backward(grad, layer.pool, before.shape, stages["winners"])
    if layer.activation is not None:
        stages["grad_activated"] = grad
        stages["slopes"] = activation_slope(stages["conv"], stages["activated"],
                                            layer.activation)
        grad = activation_backward(grad, stages["slopes"])
    return grad


def _conv_backward(problem: Problem, stages: dict[str, Any], dz: Array) -> None:
    """dL/dK, dL/dB and dL/dX from dL/dZ, with every intermediate the derivation shows."""
    layer = problem.layer
    if not layer.convolution:  # a layer alone: dL/dX is what came back through it
        stages["grad_input"] = dz
        return
    if layer.transposed:
        _transposed_backward(problem, stages, dz)
        return
    stages["spread_grad"] = spread = insert_zeros(dz, layer.stride)
    correlation = filter_gradient(stages["padded_input"], spread, layer.kernel_size,
                                  layer.dilation, layer.groups)
    if layer.flipped:  # the gradient of rot180(K), turned back
        stages["grad_flipped_filter"] = correlation
        stages["grad_filter"] = rotate180(correlation)
    else:
        stages["grad_filter"] = correlation
    if problem.exact_bias is not None:
        stages["grad_bias"] = bias_gradient(dz)
    # dL/dX slides the rotation of the forward kernel: rot180(K), or K itself in mode
    # "convolution"
    stages["rotated_filter"] = rotated = rotate180(forward_kernel(problem.filter, layer))
    stages["padded_grad"] = padded = full_pad(spread, layer.effective_kernel)
    stages["grad_padded_input"] = full = full_convolution(rotated, padded, layer.padded_size,
                                                          layer.dilation, layer.groups)
    if layer.filters > 1:
        stages["filter_parts"] = filter_parts(rotated, padded, layer.padded_size,
                                              layer.dilation, layer.groups)
    stages["grad_input"] = np.ascontiguousarray(crop_sides(full, layer.sides))


def solve(problem: Problem, *, max_work: int | None = None) -> Solution:
    """The whole layer: forward pass, loss, gradients and SGD update.

    First the work of the solve and of writing its result is estimated, from the
    shapes and the digits alone; over ``max_work`` operations (None:
    :data:`budget.DEFAULT_MAX_WORK`, 0: no limit) it raises
    :class:`budget.WorkLimitError` before anything is allocated.
    """
    budget.check_solve(problem, max_work)
    if problem.batch:
        return solve_batch(problem)
    stages = _forward(problem)
    last = stages.get("pooled", stages.get("activated", stages["conv"]))
    if problem.target is not None:
        stages["squared_errors"] = errors = squared_errors(last, problem.target)
        stages["loss_sum"] = sum(errors.flat, Fraction(0))
        share = image_share(problem.loss, problem.loss_images)
        stages["loss"] = loss_value(last, problem.target, problem.loss) * share
        grad = loss_gradient(last, problem.target, problem.loss)
        if share != 1:
            grad = grad * share
    elif problem.grad_output is not None:
        grad = problem.grad_output
    else:
        return _solution(problem, stages)
    stages["grad_output"] = grad
    stages["grad_conv"] = dz = _layers_backward(problem, stages, grad)
    _conv_backward(problem, stages, dz)
    if problem.learning_rate is not None:
        stages["updated_filter"] = sgd(problem.filter, stages["grad_filter"],
                                       problem.learning_rate)
        if problem.bias is not None:
            stages["updated_bias"] = sgd(problem.bias, stages["grad_bias"],
                                         problem.learning_rate)
    return _solution(problem, stages)


#: the Solution's arrays of a batch that are the sums of its images' (the weights are
#: shared), and the one every image has the same of; every other array is stacked
_SUMMED = ("grad_filter", "grad_bias")
_SHARED = "rotated_filter"


def solve_batch(problem: Problem) -> Solution:
    """A batch of N images through the same layer: each image solved on its own
    (:meth:`Problem.image`, the loss taken over all N images), then

    * ``L = Σ_n L⁽ⁿ⁾`` (under mse each image's share is ``(1/(N·F·oh·ow))·Σ (z − y)²``,
      PyTorch's ``reduction="mean"``; sse and half_sse add up as they are);
    * ``dL/dK = Σ_n dL/dK⁽ⁿ⁾`` and ``dL/dB = Σ_n dL/dB⁽ⁿ⁾``: the weights are shared,
      so every image's contribution adds up; dL/dX keeps one map per image;
    * one update ``K − α·dL/dK`` with the summed gradient.

    Every per-image array is stacked along a leading image axis. The work limit is
    checked by the caller, for the whole batch.
    """
    images = tuple(solve(problem.image(n), max_work=0) for n in range(problem.batch))
    first = images[0]
    stages: dict[str, Any] = {_SHARED: getattr(first, _SHARED)}
    for field in fields(Solution):
        values = [getattr(image, field.name) for image in images]
        if values[0] is None or field.name == _SHARED:
            continue
        if isinstance(values[0], Fraction):  # the loss, and its sum of squares
            stages[field.name] = sum(values, Fraction(0))
        elif field.name in _SUMMED:
            total: Array = sum(values[1:], values[0].copy())
            stages[field.name] = total
        elif isinstance(values[0], np.ndarray):
            stages[field.name] = np.stack(values)
    if problem.learning_rate is not None and "grad_filter" in stages:
        stages["updated_filter"] = sgd(problem.filter, stages["grad_filter"],
                                       problem.learning_rate)
        if problem.bias is not None:
            stages["updated_bias"] = sgd(problem.bias, stages["grad_bias"],
                                         problem.learning_rate)
    stages["images"] = images
    return _solution(problem, stages)


def _solution(problem: Problem, stages: dict[str, Any]) -> Solution:
    """The Solution, every array read-only."""
    frozen_stages: dict[str, Any] = {
        key: _frozen(value) if isinstance(value, np.ndarray) else value
        for key, value in stages.items()}
    return Solution(problem=problem, **frozen_stages)


# --------------------------------------------------------------------------
# the plain layer over integer arrays


def scaled_correlation_columns(xpad: IntArray, kernel_size: tuple[int, int],
                               stride: tuple[int, int],
                               dilation: tuple[int, int] = (1, 1)) -> IntArray:
    """The windows of Xpad as rows, (oh·ow, C·kh·kw): row (i, j) holds
    ``xpad[c, i·sh + m·dh, j·sw + n·dw]`` in (c, m, n) order."""
    sh, sw = stride
    dh, dw = dilation
    span = geometry.effective_kernel(kernel_size, dilation)
    windows = sliding_window_view(xpad, span, axis=(1, 2))[:, ::sh, ::sw, ::dh, ::dw]
    oh, ow = windows.shape[1], windows.shape[2]
    return windows.transpose(1, 2, 0, 3, 4).reshape(oh * ow, -1)


def scaled_input_gradient(kernel: Scaled, grad: Scaled, layer: Layer) -> Scaled:
    """dL/dX: :func:`scaled_padded_input_gradient` cropped by the padding on each side."""
    return cropped(scaled_padded_input_gradient(kernel, grad, layer), layer)


def cropped(padded: Scaled, layer: Layer) -> Scaled:
    """The gradient of the padded input cropped back to the input's."""
    hp, wp = layer.padded_size
    top, bottom, left, right = layer.sides
    return Scaled(np.ascontiguousarray(padded.numerators[:, top : hp - bottom, left : wp - right]),
                  padded.denominator).reduced()


def scaled_padded_input_gradient(kernel: Scaled, grad: Scaled, layer: Layer) -> Scaled:
    """dL/dXpad without a window tensor: ``dXpad[c, i·sh + m·dh, j·sw + n·dw] += Σ_f K[f, c, m, n] ·
    dZ[f, i, j]``, one (kw·C/G × F/G)·(F/G × oh·ow) product per kernel row m and group
    (each group's channels take the products of its own filters only); ``kernel`` is
    the one the forward pass correlates with (rot180(K) in mode "convolution"). The
    same numbers as the full convolution of rot180(K) with the zero-inserted dL/dZ;
    memory in proportion to X."""
    filters, seen, kh, kw = kernel.shape
    _, oh, ow = grad.shape
    sh, sw = layer.stride
    dh, dw = layer.dilation
    hp, wp = layer.padded_size
    channels, groups = layer.channels, layer.groups
    g = grad.numerators.reshape(filters, oh * ow)
    # every entry of dXpad adds at most kh·kw products per filter
    bound = exact.largest(kernel.numerators) * exact.largest(g) * filters * kh * kw
    out: IntArray = np.zeros((channels, hp, wp),
                             dtype=np.int64 if bound < exact.INT64 else object)
    for m in range(kh):  # one product per kernel row and group: (kw·C/G × F/G)·(F/G × oh·ow)
        blocks = []
        for kb, gb in zip(split(kernel.numerators[:, :, m, :], groups), split(g, groups),
                          strict=True):
            row = kb.transpose(0, 2, 1).reshape(kb.shape[0], kw * seen)
            # as (dZᵀ · rowᵀ)ᵀ, the way round BLAS takes fastest
            blocks.append(exact.matmul(gb.T, row).T.reshape(kw, seen, oh, ow))
        parts = np.concatenate(blocks, axis=1)
        for n in range(kw):
            top, left = m * dh, n * dw
            out[:, top : top + sh * (oh - 1) + 1 : sh, left : left + sw * (ow - 1) + 1 : sw] += \
                parts[n]
    return Scaled(exact.fitted(out, bound), kernel.denominator * grad.denominator).reduced()


def _rotated(k: Scaled) -> Scaled:
    """A kernel over integers turned by 180°."""
    return Scaled(np.ascontiguousarray(k.numerators[..., ::-1, ::-1]), k.denominator)


def _forward_kernel(problem: Problem) -> Scaled:
    """The kernel the forward pass correlates with, over integers: K, or rot180(K) for
    a true convolution."""
    k = problem.exact_filter.scaled
    return _rotated(k) if problem.layer.flipped else k


def _scaled_expanded(x: IntArray, layer: Layer) -> IntArray:
    """The transposed layer's expanded input over integers, as :func:`expand`: the entries
    s apart, then padded (or cropped) by d·(k − 1) − p, output_padding more at the
    bottom and right."""
    spread = np.zeros((x.shape[0], (x.shape[1] - 1) * layer.stride[0] + 1,
                       (x.shape[2] - 1) * layer.stride[1] + 1), dtype=x.dtype)
    spread[:, :: layer.stride[0], :: layer.stride[1]] = x
    out = np.zeros((x.shape[0], *layer.padded_size), dtype=x.dtype)
    (to_rows, from_rows), (to_cols, from_cols) = (
        _placed(e, spread.shape[axis + 1], layer.padded_size[axis])
        for axis, e in enumerate(layer.expansion))
    out[:, to_rows, to_cols] = spread[:, from_rows, from_cols]
    return out


def _scaled_swapped_rotation(problem: Problem) -> Scaled:
    """K' of :func:`swapped_rotation` over integers: (F, C/G, kh, kw)."""
    k = problem.exact_filter.scaled
    return Scaled(swap_groups(_rotated(k).numerators, problem.layer.groups), k.denominator)


def _scaled_conv(problem: Problem) -> tuple[Scaled, list[IntArray]]:
    """Z = Xpad ⋆ K + B as one product of the windows of Xpad with K per group, and the
    windows of each group's block of channels. A transposed layer: Z = Xe ⋆ K' + B,
    stride 1, over its expanded input."""
    layer = problem.layer
    x = problem.exact_input.scaled
    if layer.transposed:
        k, stride = _scaled_swapped_rotation(problem), (1, 1)
        xpad = _scaled_expanded(x.numerators, layer)
    else:
        k, stride = _forward_kernel(problem), layer.stride
        top, bottom, left, right = layer.sides
        xpad = np.pad(x.numerators, ((0, 0), (top, bottom), (left, right)))
    columns = [scaled_correlation_columns(block, layer.kernel_size, stride,
                                          layer.dilation) for block in split(xpad, layer.groups)]
    oh, ow = layer.output_size
    weights = split(k.numerators.reshape(layer.filters, -1), layer.groups)
    products = np.concatenate([exact.matmul(cb, np.ascontiguousarray(wb.T)).T
                               for wb, cb in zip(weights, columns, strict=True)])
    z = Scaled(np.ascontiguousarray(products).reshape(layer.filters, oh, ow),
               x.denominator * k.denominator)
    if problem.exact_bias is None:
        return z.reduced(), columns
    b = problem.exact_bias.scaled
    ones = Scaled(np.ones((1, oh, ow), dtype=np.int64), 1)
    broadcast = Scaled(exact.fitted(np.asarray(b.numerators.reshape(-1, 1, 1)
                                               * ones.numerators)), b.denominator)
    return exact.linear([(z, Fraction(1)), (broadcast, Fraction(1))]), columns


def _scaled_forward(problem: Problem
                    ) -> tuple[dict[str, Scaled], tuple[list[IntArray] | None, IntArray | None]]:
    """Z (or the input of a layer alone), A and P over integer arrays, and what the
    backward pass needs of them: the windows of Xpad and the pool's winning taps."""
    layer = problem.layer
    columns: list[IntArray] | None = None
    if layer.convolution:
        z, columns = _scaled_conv(problem)
    else:  # a layer alone: the input goes straight on
        z = problem.exact_input.scaled
    stages = {"conv": z}
    last = z
    if layer.activation is not None:
        last = stages["activated"] = _scaled_leaky(z.numerators > 0, z, layer.activation)
    taps = None
    if layer.pool is not None:
        last, taps = scaled_pool_forward(last, layer.pool)
        stages["pooled"] = last
    stages["output"] = last
    return stages, (columns, taps)


def solve_scaled(problem: Problem) -> dict[str, Scaled | Fraction] | None:
    """The result of a layer over integer arrays: the same values as :func:`solve`
    (by the same formulas, summed in another order), keyed by the :class:`Solution`
    attributes ``output``, ``loss``, ``grad_output``, ``grad_filter``, ``grad_bias``,
    ``grad_input``, ``updated_filter`` and ``updated_bias``, and ``conv``,
    ``activated``, ``pooled``, ``grad_conv`` and ``grad_activated`` with an
    activation or a pool, and ``grad_padded_input`` (dL/dXpad, before the crop) of a
    layer that is not transposed; None after a sigmoid or tanh, whose values are floats. A
    transposed layer is the stride-1 correlation of its expanded input with K', its
    dL/dX the strided correlation of dL/dZ padded by p with K.

    ``Z = Xpad ⋆ K + B`` as one product of the windows of Xpad with K;
    ``dL/dK[f] = Σ_ij dL/dZ[f, i, j] · window(i, j)`` with the same windows;
    ``dL/dX`` by :func:`scaled_input_gradient`; the activation and the pool by
    :func:`_scaled_leaky`, :func:`scaled_pool_forward` and
    :func:`scaled_pool_backward`. The work limit is not checked here.
    """
    layer = problem.layer
    if problem.batch:
        return _scaled_batch(problem)
    if layer.activation is not None and not layer.activation.exact:
        return None
    stages, (columns, taps) = _scaled_forward(problem)
    out: dict[str, Scaled | Fraction] = dict(stages)
    last = stages["output"]
    if problem.exact_target is not None:
        difference = exact.linear([(last, Fraction(1)),
                                   (problem.exact_target.scaled, Fraction(-1))])
        squares = Fraction(exact.sum_of_squares(difference.numerators),
                           difference.denominator ** 2)
        share = image_share(problem.loss, problem.loss_images)
        out["loss"] = squares * Fraction(*loss_scale(problem.loss, last.size)) * share
        grad = exact.times(difference,
                           Fraction(*loss_factor(problem.loss, last.size)) * share)
    elif problem.exact_grad_output is not None:
        grad = problem.exact_grad_output.scaled
    else:
        return out
    out["grad_output"] = grad
    if layer.pool is not None:
        before = stages.get("activated", stages["conv"])
        grad = scaled_pool_backward(grad, layer.pool, before.shape, taps)
    if layer.activation is not None:
        out["grad_activated"] = grad
        grad = _scaled_leaky(stages["conv"].numerators > 0, grad, layer.activation)
    out["grad_conv"] = grad
    if columns is None:  # a layer alone: dL/dX is what came back through it
        out["grad_input"] = grad
        return out
    out.update(_scaled_conv_backward(problem, columns, grad))
    return out


def _scaled_conv_backward(problem: Problem, columns: list[IntArray], dz: Scaled
                          ) -> dict[str, Scaled]:
    """dL/dK, dL/dB, dL/dX and the updated weights from dL/dZ over integer arrays; each
    group's filters meet the windows of its own block of channels."""
    layer = problem.layer
    x, k = problem.exact_input.scaled, problem.exact_filter.scaled
    oh, ow = layer.output_size
    g = dz.numerators.reshape(layer.filters, oh * ow)
    # as (windowsᵀ · dZᵀ)ᵀ: BLAS takes the long inner axis this way round many times faster
    grads = np.concatenate([exact.matmul(cb.T, np.ascontiguousarray(gb.T)).T
                            for cb, gb in zip(columns, split(g, layer.groups), strict=True)])
    if layer.transposed:  # the gradient of K', rotated back and its channel axes swapped
        kh, kw = layer.kernel_size
        rotated = np.ascontiguousarray(grads).reshape(layer.filters, layer.group_channels,
                                                      kh, kw)
        dk = Scaled(swap_groups(np.ascontiguousarray(rotated[..., ::-1, ::-1]), layer.groups),
                    x.denominator * dz.denominator).reduced()
    else:
        dk = Scaled(np.ascontiguousarray(grads).reshape(layer.filter_shape),
                    x.denominator * dz.denominator).reduced()
    if layer.flipped:  # the gradient of rot180(K), turned back
        dk = _rotated(dk)
    out = {"grad_filter": dk}
    if problem.exact_bias is not None:
        out["grad_bias"] = Scaled(exact.total(g, (1,)), dz.denominator).reduced()
    if layer.transposed:
        out["grad_input"] = scaled_transposed_input_gradient(k, dz, layer)
    else:  # the padded input's gradient too, for a derivation to show before its crop
        out["grad_padded_input"] = padded = scaled_padded_input_gradient(
            _forward_kernel(problem), dz, layer)
        out["grad_input"] = cropped(padded, layer)
    rate = problem.learning_rate
    if rate is not None:
        out["updated_filter"] = exact.linear([(k, Fraction(1)), (dk, -rate)])
        if problem.exact_bias is not None:
            out["updated_bias"] = exact.linear([(problem.exact_bias.scaled, Fraction(1)),
                                                (out["grad_bias"], -rate)])
    return out


def _scaled_batch(problem: Problem) -> dict[str, Scaled | Fraction] | None:
    """A batch over integer arrays, as :func:`solve_batch` computes it: each image's
    :func:`solve_scaled` (the loss over all N images), every array of one image
    stacked along the image axis, the loss and dL/dK, dL/dB added up, and one update
    with the sums."""
    images = [solve_scaled(problem.image(n)) for n in range(problem.batch)]
    solved = [image for image in images if image is not None]
    if len(solved) < len(images):
        return None
    out: dict[str, Scaled | Fraction] = {}
    for key, first in solved[0].items():
        values = [image[key] for image in solved]
        if isinstance(first, Fraction):
            out[key] = sum((value for value in values if isinstance(value, Fraction)),
                           Fraction(0))
            continue
        parts = [value for value in values if isinstance(value, Scaled)]
        out[key] = (exact.linear([(part, Fraction(1)) for part in parts]) if key in _SUMMED
                    else exact.stacked(parts))
    rate = problem.learning_rate
    grad_filter, grad_bias = out.get("grad_filter"), out.get("grad_bias")
    if rate is not None and isinstance(grad_filter, Scaled):
        out["updated_filter"] = exact.linear([(problem.exact_filter.scaled, Fraction(1)),
                                              (grad_filter, -rate)])
        if problem.exact_bias is not None and isinstance(grad_bias, Scaled):
            out["updated_bias"] = exact.linear([(problem.exact_bias.scaled, Fraction(1)),
                                                (grad_bias, -rate)])
    return out
def scaled_transposed_input_gradient(kernel: Scaled, grad: Scaled, layer: Layer) -> Scaled:
    """A transposed layer's dL/dX over integers, as :func:`transposed_input_gradient`:
    the windows of dL/dZ padded by p, stride s, times K (C, F/G, kh, kw), one product per
    group, the first H×W entries."""
    ph, pw = layer.padding
    _, height, width = layer.input_shape
    padded = np.pad(grad.numerators, ((0, 0), (ph, ph), (pw, pw)))
    weights = split(kernel.numerators.reshape(layer.channels, -1), layer.groups)
    blocks = []
    for block, wb in zip(split(padded, layer.groups), weights, strict=True):
        columns = scaled_correlation_columns(block, layer.kernel_size, layer.stride,
                                             layer.dilation)
        rows = (padded.shape[1] - layer.effective_kernel[0]) // layer.stride[0] + 1
        reached = exact.matmul(columns, np.ascontiguousarray(wb.T)).T
        blocks.append(reached.reshape(wb.shape[0], rows, -1)[:, :height, :width])
    return Scaled(np.ascontiguousarray(np.concatenate(blocks)),
                  kernel.denominator * grad.denominator).reduced()


# --------------------------------------------------------------------------
# the activation and the pool over integer arrays


def _scaled_leaky(positive: IntArray, values: Scaled, activation: Activation) -> Scaled:
    """``values`` where ``positive``, else ``slope · values``: A = f(Z) with the mask
    Z > 0, and dL/dZ = dL/dA ⊙ f′(Z) likewise, as f′ is 1 where Z > 0 and the slope
    elsewhere (ReLU: slope 0, so ReLU′(0) = 0; leaky ReLU′(0) = slope, as PyTorch).
    With the slope p/q, the numerators are n·q or n·p over the denominator times q."""
    slope = activation.slope if activation.kind == "leaky_relu" else Fraction(0)
    n = values.numerators
    chosen = exact.choose(positive, exact.scale(n, slope.denominator),
                          exact.scale(n, slope.numerator))
    return Scaled(chosen, values.denominator * slope.denominator).reduced()


def _tap_windows(pool: Pool, axis: int, tap: int) -> tuple[slice, slice]:
    """Along one axis, the windows whose tap ``tap`` reads an entry of the pool's input
    (not its padding, nor past it), and the entries they read: window i reads
    ``i·s + tap·d − p``, in range for a run of consecutive windows."""
    count = geometry.pool_sizes(pool)[axis]
    step, size = pool.stride[axis], pool.input_size[axis]
    offset = tap * pool.dilation[axis] - pool.padding[axis]
    first = max(0, -(offset // step))  # ⌈−offset / s⌉
    last = min(count - 1, (size - 1 - offset) // step)
    if last < first:
        return slice(0, 0), slice(0, 0)
    start = first * step + offset
    return slice(first, last + 1), slice(start, start + (last - first) * step + 1, step)


def _taps(pool: Pool) -> list[tuple[int, tuple[slice, slice], tuple[slice, slice]]]:
    """Every tap of the window in row-major order: its number, the windows (rows,
    columns) it reads an entry for, and those entries."""
    out = []
    for m in range(pool.size[0]):
        rows, cells_r = _tap_windows(pool, 0, m)
        for n in range(pool.size[1]):
            cols, cells_c = _tap_windows(pool, 1, n)
            out.append((m * pool.size[1] + n, (rows, cols), (cells_r, cells_c)))
    return out


def _mean_shares(pool: Pool) -> tuple[IntArray, int]:
    """Mean pooling's divisors as integers over their least common multiple L: for
    each window, L / its divisor (:func:`geometry.pool_divisor`), and L."""
    counts = []
    for axis in range(2):
        taps = np.arange(pool.size[axis]) * pool.dilation[axis]
        start = np.arange(geometry.pool_sizes(pool)[axis])[:, None] * pool.stride[axis]
        padded = start + taps
        inside = padded < pool.padded_size[axis]
        if not pool.count_include_pad:
            inside &= (padded >= pool.padding[axis]) & (
                padded < pool.padding[axis] + pool.input_size[axis])
        counts.append(inside.sum(axis=1))
    divisors = counts[0][:, None] * counts[1][None, :]
    common = math.lcm(*{int(v) for v in divisors.flat})
    return np.asarray(common // divisors, dtype=np.int64), common


def scaled_pool_forward(a: Scaled, pool: Pool) -> tuple[Scaled, IntArray | None]:
    """P over integer arrays, and for max and min the tap (row-major in the window)
    of each first extreme: the taps in order, each compared with the best so far on
    the windows where it reads an entry, only a strictly better one replacing it.
    Mean: the window's sum times L / divisor over the denominator times L."""
    channels = a.shape[0]
    oh, ow = geometry.pool_sizes(pool)
    n = a.numerators
    taps = _taps(pool)
    if pool.kind == "mean":
        shares, common = _mean_shares(pool)
        bound = exact.largest(n) * len(taps)
        sums = np.zeros((channels, oh, ow), dtype=np.int64 if bound < exact.INT64
                        and n.dtype != object else object)
        for _, (rows, cols), (cells_r, cells_c) in taps:
            sums[:, rows, cols] += n[:, cells_r, cells_c]
        pooled = exact.product(exact.fitted(sums, bound), shares[None])
        return Scaled(pooled, a.denominator * common).reduced(), None
    best = np.zeros((channels, oh, ow), dtype=n.dtype)
    winner = np.full((channels, oh, ow), -1, dtype=np.int64)
    for tap, (rows, cols), (cells_r, cells_c) in taps:
        value, held = n[:, cells_r, cells_c], best[:, rows, cols]
        better = value > held if pool.kind == "max" else value < held
        replace = (winner[:, rows, cols] < 0) | better
        best[:, rows, cols] = np.where(replace, value, held)
        winner[:, rows, cols] = np.where(replace, tap, winner[:, rows, cols])
    return Scaled(exact.fitted(best), a.denominator), winner


def scaled_pool_backward(grad: Scaled, pool: Pool, shape: tuple[int, ...],
                         winners: IntArray | None) -> Scaled:
    """dL/dA over integer arrays: tap by tap, each window's gradient to the entry the
    tap reads, where the tap won (max, min) or always, times L / divisor (mean); at
    most one part per tap reaches an entry, so the bound is the taps times the
    largest part."""
    g, denominator = grad.numerators, grad.denominator
    if pool.kind == "mean":
        shares, common = _mean_shares(pool)
        g, denominator = exact.product(g, shares[None]), denominator * common
    taps = _taps(pool)
    bound = exact.largest(g) * len(taps)
    out = np.zeros(shape, dtype=np.int64 if bound < exact.INT64 and g.dtype != object
                   else object)
    for tap, (rows, cols), (cells_r, cells_c) in taps:
        part = g[:, rows, cols]
        if winners is not None:
            part = np.where(winners[:, rows, cols] == tap, part, 0)
        out[:, cells_r, cells_c] += part
    return Scaled(exact.fitted(out, bound), denominator).reduced()


# --------------------------------------------------------------------------
# the plain layer for a derivation: the integer path's values, read entry by entry


def solve_lazily(problem: Problem, *, max_work: int | None = None) -> Solution | None:
    """The :class:`Solution` a worked derivation reads, from :func:`solve_scaled`: the
    same values as :func:`solve`, each made a Fraction only when the derivation reads
    it (:mod:`cnnstep.entries`), so that a large layer is not solved a second time with
    a Fraction per entry. Each channel's part of Z and each filter's part of dL/dXpad
    are summed only for the entries read.

    None for the layers it does not cover, which :func:`solve` works: a batch, a
    transposed layer, a layer alone, and one with an activation or a pool. The work
    limit is checked as :func:`solve` checks it.
    """
    layer = problem.layer
    if (problem.batch or layer.transposed or not layer.convolution
            or layer.activation is not None or layer.pool is not None):
        return None
    budget.check_solve(problem, max_work, integers=True)
    values = solve_scaled(problem)
    if values is None:
        return None
    x = problem.exact_input.scaled
    top, bottom, left, right = layer.sides
    xpad = np.pad(x.numerators, ((0, 0), (top, bottom), (left, right)))
    kernel = _forward_kernel(problem)
    stages: dict[str, Any] = {"padded_input": Entries(xpad, x.denominator),
                              "conv": _entries(values["conv"])}
    if layer.channels > 1:
        stages["channel_parts"] = _channel_parts(xpad, x.denominator, kernel, layer)
    if "grad_output" not in values:
        return _solution(problem, stages)
    if problem.exact_target is not None:
        stages.update(_errors(values["conv"], problem.exact_target.scaled))
        stages["loss"] = values["loss"]
    grad = values["grad_output"]
    assert isinstance(grad, Scaled)
    stages["grad_output"] = stages["grad_conv"] = _entries(grad)
    sh, sw = layer.stride
    filters, oh, ow = grad.shape
    spread = np.zeros((filters, (oh - 1) * sh + 1, (ow - 1) * sw + 1), dtype=grad.numerators.dtype)
    spread[:, ::sh, ::sw] = grad.numerators
    eh, ew = layer.effective_kernel
    padded = np.pad(spread, ((0, 0), (eh - 1, eh - 1), (ew - 1, ew - 1)))
    stages["spread_grad"] = Entries(spread, grad.denominator)
    stages["padded_grad"] = Entries(padded, grad.denominator)
    rotated = _rotated(kernel)
    stages["rotated_filter"] = rotated.fractions
    if layer.filters > 1:
        stages["filter_parts"] = _filter_parts(padded, grad.denominator, rotated, layer)
    solved = {field.name for field in fields(Solution)}
    for key, value in values.items():  # the gradients of the weights and the input, the update
        if key in solved and key not in stages and isinstance(value, Scaled):
            stages[key] = Entries.of(value)
    if layer.flipped:  # the correlation before its rotation back
        dk = values["grad_filter"]
        assert isinstance(dk, Scaled)
        stages["grad_flipped_filter"] = Entries.of(_rotated(dk))
    return Solution(problem=problem, **stages)


def _entries(values: Scaled | Fraction) -> Entries:
    assert isinstance(values, Scaled)
    return Entries.of(values)


def _dot(a: IntArray, b: IntArray) -> int:
    """``Σ a·b`` over two integer arrays of one shape, exactly, as a Python integer."""
    return int(exact.total(exact.product(a, b)))


def _channel_parts(xpad: IntArray, denominator: int, kernel: Scaled, layer: Layer
                   ) -> Computed:
    """Each channel's part of Z, (F, C/G, oh, ow) as :func:`channel_parts`, summed for
    an entry when it is read: ``Σ_mn Xpad[c, i·sh + m·dh, j·sw + n·dw]·K[f, c, m, n]``
    with c the channel's place in filter f's block."""
    k = kernel.numerators
    whole = denominator * kernel.denominator

    def part(e: tuple[int, ...]) -> Fraction:
        f, c, i, j = e
        rows, cols = geometry.conv_slices(layer, i, j)
        seen = layer.channels_of(f)[c]
        return Fraction(_dot(xpad[seen, rows, cols], k[f, c]), whole)

    return Computed((layer.filters, layer.group_channels, *layer.output_size), part)


def _filter_parts(padded: IntArray, denominator: int, rotated: Scaled, layer: Layer
                  ) -> Computed:
    """Each filter's part of dL/dXpad, (F, C, Hp, Wp) as :func:`filter_parts`, summed for
    an entry when it is read: ``Σ_mn padded[f, row + m·dh, col + n·dw]·rot[f, c, m, n]``,
    0 outside the filter's group and where no window reaches."""
    k = rotated.numerators
    whole = denominator * rotated.denominator
    dh, dw = layer.dilation
    eh, ew = layer.effective_kernel

    def part(e: tuple[int, ...]) -> Fraction:
        f, c, row, col = e
        channels = layer.channels_of(f)
        if c not in channels or row + eh > padded.shape[1] or col + ew > padded.shape[2]:
            return Fraction(0)
        window = padded[f, row : row + eh : dh, col : col + ew : dw]
        return Fraction(_dot(window, k[f, c - channels.start]), whole)

    hp, wp = layer.padded_size
    return Computed((layer.filters, layer.channels, hp, wp), part)


def _errors(last: Scaled | Fraction, target: Scaled) -> dict[str, Any]:
    """The squared errors, read entry by entry, and their sum."""
    assert isinstance(last, Scaled)
    difference = exact.linear([(last, Fraction(1)), (target, Fraction(-1))])
    d = difference.denominator ** 2
    n = difference.numerators
    return {"squared_errors": Computed(difference.shape,
                                       lambda e: Fraction(int(n[e]) ** 2, d)),
            "loss_sum": Fraction(exact.sum_of_squares(n), d)}
