"""The 3-D transposed convolution, exactly, as PyTorch's ``conv_transpose3d``.

The filter is (C, F/groups, kd, kh, kw), input channels first, and each input
entry scatters the kernel into the output:

    Z[f, i·sd − pd + a·dd, j·sh − ph + b·dh, l·sw − pw + e·dw] += X[c,i,j,l]·K[c,f',a,b,e]

then + B[f], with c over the input channels of f's group and f' the place of f
among that group's output channels. Along each axis the output is
(n − 1)·s − 2p + d·(k − 1) + output_padding + 1 long. The engine scatters tap by
tap, one product per input entry and weight; a course works the same sum as an
ordinary layer, which :func:`expand` and :func:`as_correlation` build for the
derivation:

* Xe, the expanded input: s − 1 zeros between neighbouring entries along each
  axis, then d·(k − 1) − p zeros on each side (output_padding more behind, below
  and right); a negative d·(k − 1) − p crops that many instead;
* K' = rot180(K) (all three axes flipped) with its channel axes swapped group by
  group, (F, C/groups, kd, kh, kw): ``K'[f, c', a, b, e] = K[c, f', kd − 1 − a, …]``;
* Z = corr(Xe, K') + B, stride 1, the taps d apart.

The backward pass:

    dL/dK[c,f',a,b,e] = Σ_(i,j,l) X[c,i,j,l]·dL/dZ[f, i·sd − pd + a·dd, …]
    dL/dB[f]          = Σ dL/dZ[f, …]
    dL/dX[c,i,j,l]    = Σ_f Σ_(a,b,e) dL/dZpad[f, i·sd + a·dd, j·sh + b·dh, …]·K[c,f',a,b,e]

dL/dK is the gradient of K' in the correlation, rotated back and its channel
axes swapped back; dL/dX is an ordinary strided correlation of dL/dZ padded by p
with K itself (not rotated), over the D×H×W input entries (output_padding adds
output entries no input entry reaches). :mod:`cnnstep.volume` calls these for a
transposed layer; :mod:`cnnstep.derivation.volume_transposed` writes them out.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from typing import Any

import numpy as np

from cnnstep import volume as engine
from cnnstep.problem import Array, Triple, Volume, frozen

#: an index of an array: slices and integers
Index = tuple[Any, ...]


def expansion(volume: Volume) -> Triple:
    """d·(k − 1) − p along each axis: the zeros on each side of the zero-inserted
    input, or negative, how many of its slices (rows, columns) are cropped."""
    a, b, c = (d * (k - 1) - p for d, k, p in
               zip(volume.dilation, volume.filter.shape[2:], volume.padding, strict=True))
    return (a, b, c)


def expanded_size(volume: Volume) -> Triple:
    """Xe's size: (n − 1)·s + 1, then d·(k − 1) − p on each side and output_padding
    more behind (below, right)."""
    a, b, c = ((n - 1) * s + 1 + 2 * e + o for n, s, e, o in
               zip(volume.input.shape[1:], volume.stride, expansion(volume),
                   volume.output_padding, strict=True))
    return (a, b, c)


def _placed(shift: int, size: int, length: int) -> tuple[slice, slice]:
    """Along one axis, where ``size`` entries shifted by ``shift`` land in ``length``
    (a negative shift crops the first ones), and which of them land."""
    first, start = max(0, -shift), max(0, shift)
    count = max(0, min(size - first, length - start))
    return slice(start, start + count), slice(first, first + count)


def expand(volume: Volume) -> Array:
    """Xe: ``Xe[c, r, q, u] = X[c, i, j, l]`` where (r, q, u) = (i·sd, j·sh, l·sw) +
    d·(k − 1) − p, inside Xe; 0 everywhere else."""
    x = volume.input
    spread = np.full((x.shape[0], *((n - 1) * s + 1 for n, s in
                                    zip(x.shape[1:], volume.stride, strict=True))),
                     Fraction(0), dtype=object)
    sd, sh, sw = volume.stride
    spread[:, ::sd, ::sh, ::sw] = x
    size = expanded_size(volume)
    out = np.full((x.shape[0], *size), Fraction(0), dtype=object)
    to, source = zip(*(_placed(e, n, length) for e, n, length in
                       zip(expansion(volume), spread.shape[1:], size, strict=True)),
                     strict=True)
    out[(slice(None), *to)] = spread[(slice(None), *source)]
    return out


def swap_groups(kernel: Array, groups: int) -> Array:
    """(C, F/G, …) → (F, C/G, …), group by group: block g of the input channels,
    (C/G, F/G), becomes block g of the output channels, (F/G, C/G). The same swap
    turns it back."""
    blocks = np.split(kernel, groups)
    swapped: Array = np.ascontiguousarray(np.concatenate([b.swapaxes(0, 1) for b in blocks]))
    return swapped


def rotated(volume: Volume) -> Array:
    """K' = rot180(K) with its channel axes swapped, (F, C/groups, kd, kh, kw)."""
    return swap_groups(engine.flip(volume.filter), volume.groups)


def as_correlation(volume: Volume) -> Volume:
    """The ordinary layer the course works: Xe under K', stride 1, no padding, the
    same dilation, groups and bias."""
    return replace(volume, input=frozen(expand(volume)), filter=frozen(rotated(volume)),
                   stride=(1, 1, 1), padding=(0, 0, 0), padding_end=None, padding_form=None,
                   transposed=False, output_padding=(0, 0, 0), mode="cross_correlation")


def _scatter(volume: Volume, tap: Index) -> tuple[Index, Index]:
    """Where tap (a, b, e) carries the input: the input entries whose output
    i·s − p + t·d lies inside the output, and those outputs, as slices behind the
    channel axis."""
    source, target = [slice(None)], [slice(None)]
    for t, n, o, s, p, d in zip(tap, volume.input.shape[1:], volume.output_size,
                                volume.stride, volume.padding, volume.dilation, strict=True):
        shift = t * d - p  # input entry i lands on i·s + shift
        first = max(0, -(shift // s))  # the least i with i·s + shift ≥ 0
        last = min(n - 1, (o - 1 - shift) // s)
        count = max(0, last - first + 1)
        source.append(slice(first, first + count))
        start = first * s + shift
        target.append(slice(start, start + (count - 1) * s + 1 if count else start, s))
    return tuple(source), tuple(target)


def forward(volume: Volume) -> Array:
    """Z[f, i·s − p + t·d] += X[c, i]·K[c, f', t] for every input entry and tap, c over
    f's group, then + B[f]: the scatter sum, tap by tap (the same numbers as
    corr(Xe, K') + B, without the products of Xe's zeros)."""
    out = np.full((volume.filters, *volume.output_size), Fraction(0), dtype=object)
    for tap in engine.taps(volume):
        source, target = _scatter(volume, tap)
        for fs, cs in _blocks(volume):
            weights = volume.filter[(cs, slice(None), *tap)]  # (C/groups, F/groups)
            out[fs][target] = out[fs][target] + np.tensordot(
                weights, volume.input[cs][source], axes=([0], [0]))
    if volume.bias is not None:
        out = out + volume.bias.reshape(-1, 1, 1, 1)
    return out


def kernel_gradient(volume: Volume, grad: Array) -> Array:
    """dL/dK[c,f',a,b,e] = Σ_(i,j,l) X[c,i,j,l]·dL/dZ[f, i·s − p + a·d, …], tap by tap
    (the gradient of K' in the correlation, rotated back and its channel axes swapped
    back)."""
    out = np.full(volume.filter.shape, Fraction(0), dtype=object)
    for tap in engine.taps(volume):
        source, target = _scatter(volume, tap)
        if any(part.stop == part.start for part in source[1:]):
            continue  # the tap reaches no output entry from any input entry
        for fs, cs in _blocks(volume):
            out[(cs, slice(None), *tap)] = np.tensordot(
                volume.input[cs][source], grad[fs][target], axes=([1, 2, 3], [1, 2, 3]))
    return out


def input_gradient(volume: Volume, grad: Array) -> Array:
    """dL/dX[c,i,j,l] = Σ_f Σ_(a,b,e) dL/dZpad[f, i·s + a·d, …]·K[c,f',a,b,e]: every
    input entry gathers, tap by tap, the gradient of the output entry it reached
    times the weight that took it there (the strided correlation of dL/dZ padded by p
    with K itself)."""
    out = np.full(volume.input.shape, Fraction(0), dtype=object)
    for tap in engine.taps(volume):
        source, target = _scatter(volume, tap)
        for fs, cs in _blocks(volume):
            weights = volume.filter[(cs, slice(None), *tap)]  # (C/groups, F/groups)
            out[cs][source] = out[cs][source] + np.tensordot(
                weights, grad[fs][target], axes=([1], [0]))
    return out


def _blocks(volume: Volume) -> list[tuple[slice, slice]]:
    """Each group's output channels and the input channels that feed them."""
    per_f, per_c = volume.filters // volume.groups, volume.input.shape[0] // volume.groups
    return [(slice(g * per_f, (g + 1) * per_f), slice(g * per_c, (g + 1) * per_c))
            for g in range(volume.groups)]


def unspread(volume: Volume) -> Array | None:
    """Z worked without zero insertion (as with stride 1), placed at the front, top
    and left of the output and cut or zero-filled to its shape; None when the kernel
    no longer fits the expanded input."""
    flat = replace(volume, stride=(1, 1, 1))
    spans = (d * (k - 1) + 1 for d, k in zip(volume.dilation, volume.filter.shape[2:],
                                             strict=True))
    if any(n < span for n, span in zip(expanded_size(flat), spans, strict=True)):
        return None
    z = forward(flat)
    placed = np.full((volume.filters, *volume.output_size), Fraction(0), dtype=object)
    reach = tuple(slice(0, min(a, b)) for a, b in
                  zip(z.shape[1:], placed.shape[1:], strict=True))
    placed[(slice(None), *reach)] = z[(slice(None), *reach)]
    return placed
