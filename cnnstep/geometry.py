"""The layer's geometry: sizes, windows and reach, without any numbers.

Every other module asks here where a sum runs:

* the size of the convolution's and the pool's output along an axis;
* the *window* of an output entry: the list of input taps it reads, each a
  (row, column) of the padded input, in the order of the kernel's entries
  (so a strided, a padded and a spaced window are one idea);
* the *reach* of a weight: the padded-input entries it multiplies, one per
  output entry;
* the output entries an input entry affects, with the weight that joins them;
* the pool's windows.

Positions are 0-based; "padded" rows and columns count the zero padding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnnstep.values import Value, value_class

if TYPE_CHECKING:
    from cnnstep.problem import Layer, Pool

Pair = tuple[int, int]


def output_size(size: int, kernel: int, stride: int, padding: int = 0) -> int:
    """⌊(size + 2·padding − kernel)/stride⌋ + 1 along one axis."""
    return (size + 2 * padding - kernel) // stride + 1


def sizes(size: Pair, kernel: Pair, stride: Pair, padding: Pair = (0, 0)) -> Pair:
    """:func:`output_size` along both axes."""
    return (output_size(size[0], kernel[0], stride[0], padding[0]),
            output_size(size[1], kernel[1], stride[1], padding[1]))


def effective_kernel(kernel: Pair, dilation: Pair) -> Pair:
    """The span of a dilated kernel, d·(k − 1) + 1 along each axis."""
    return (dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1)


def transposed_sizes(size: Pair, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair,
                     output_padding: Pair) -> Pair:
    """A transposed convolution's output, (H − 1)·s − 2p + d·(k − 1) + output_padding + 1
    along each axis."""
    return ((size[0] - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kernel[0] - 1)
            + output_padding[0] + 1,
            (size[1] - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kernel[1] - 1)
            + output_padding[1] + 1)


def expanded_size(size: Pair, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair,
                  output_padding: Pair) -> Pair:
    """The input of a transposed convolution made ready for an ordinary one: stride − 1
    zeros between its entries, (H − 1)·s + 1, then d·(k − 1) − p zeros on each side and
    output_padding more at the bottom (right)."""
    return ((size[0] - 1) * stride[0] + 1 + 2 * (dilation[0] * (kernel[0] - 1) - padding[0])
            + output_padding[0],
            (size[1] - 1) * stride[1] + 1 + 2 * (dilation[1] * (kernel[1] - 1) - padding[1])
            + output_padding[1])


def uncovered(size: int, kernel: int, stride: int) -> int:
    """Rows (or columns) at the end of an axis of ``size`` that no window reaches."""
    return (size - kernel) % stride


@value_class(slots=True)
class Window(Value):
    """The input taps one output entry reads, in the order of the kernel's entries."""

    taps: tuple[Pair, ...]

    def __contains__(self, cell: object) -> bool:
        return cell in self.taps

    @property
    def rows(self) -> tuple[int, ...]:
        """The rows the taps lie in, top to bottom."""
        return tuple(sorted({row for row, _ in self.taps}))

    @property
    def columns(self) -> tuple[int, ...]:
        """The columns the taps lie in, left to right."""
        return tuple(sorted({col for _, col in self.taps}))


def window(top_left: Pair, kernel: Pair, dilation: Pair = (1, 1)) -> Window:
    """The taps of a kernel placed with its first entry at ``top_left``, spaced by
    the dilation."""
    (row, col), (kh, kw), (dh, dw) = top_left, kernel, dilation
    return Window(tuple((row + m * dh, col + n * dw) for m in range(kh) for n in range(kw)))


def conv_window(layer: Layer, i: int, j: int) -> Window:
    """The padded-input taps under output entry (i, j): ``(i·sh + m·dh, j·sw + n·dw)``."""
    (sh, sw) = layer.stride
    return window((i * sh, j * sw), layer.kernel_size, layer.dilation)


def conv_slices(layer: Layer, i: int, j: int) -> tuple[slice, slice]:
    """:func:`conv_window` as slices of the padded input, for arrays."""
    (sh, sw), (eh, ew), (dh, dw) = layer.stride, layer.effective_kernel, layer.dilation
    return slice(i * sh, i * sh + eh, dh), slice(j * sw, j * sw + ew, dw)


def reach(layer: Layer, m: int, n: int) -> tuple[slice, slice]:
    """The padded-input entries weight (m, n) multiplies, one per output entry."""
    (sh, sw), (oh, ow), (dh, dw) = layer.stride, layer.output_size, layer.dilation
    return (slice(m * dh, m * dh + (oh - 1) * sh + 1, sh),
            slice(n * dw, n * dw + (ow - 1) * sw + 1, sw))


def affected(layer: Layer, row: int, col: int) -> list[tuple[int, int, int, int, int]]:
    """(f, i, j, m, n) for every output entry (f, i, j) whose window holds the
    padded-input entry (row, col), at kernel position (m, n)."""
    (sh, sw), (kh, kw), (oh, ow) = layer.stride, layer.kernel_size, layer.output_size
    dh, dw = layer.dilation
    rows = [(i, (row - i * sh) // dh) for i in range(oh)
            if 0 <= row - i * sh < dh * kh and (row - i * sh) % dh == 0]
    cols = [(j, (col - j * sw) // dw) for j in range(ow)
            if 0 <= col - j * sw < dw * kw and (col - j * sw) % dw == 0]
    return [(f, i, j, m, n)
            for f in range(layer.filters)
            for i, m in rows
            for j, n in cols]


def pool_output_size(size: int, kernel: int, stride: int, padding: int = 0,
                     dilation: int = 1, ceil_mode: bool = False) -> int:
    """PyTorch's pooled size along one axis:
    ⌊(size + 2·padding − dilation·(kernel − 1) − 1)/stride⌋ + 1, with ⌈…⌉ in ceil
    mode, less one when the last window would then start in the right padding."""
    reach = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (-(-reach // stride) if ceil_mode else reach // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def pool_sizes(pool: Pool) -> Pair:
    """:func:`pool_output_size` along both axes."""
    return (pool_output_size(pool.input_size[0], pool.size[0], pool.stride[0],
                             pool.padding[0], pool.dilation[0], pool.ceil_mode),
            pool_output_size(pool.input_size[1], pool.size[1], pool.stride[1],
                             pool.padding[1], pool.dilation[1], pool.ceil_mode))


def pool_taps(pool: Pool, axis: int, i: int) -> list[int]:
    """The padded positions window ``i`` reads along an axis: ``i·s + m·d`` for each
    tap m, those inside the padded input (a ceil mode's last window may reach past it)."""
    start, step, end = i * pool.stride[axis], pool.dilation[axis], pool.padded_size[axis]
    return [p for p in range(start, start + step * pool.size[axis], step) if p < end]


def pool_window(pool: Pool, i: int, j: int) -> Window:
    """The taps of pooled entry (i, j) in the padded pool input, row-major: padding
    taps included, taps past the padded input (a partial window's) left out."""
    rows, cols = pool_taps(pool, 0, i), pool_taps(pool, 1, j)
    return Window(tuple((row, col) for row in rows for col in cols))


def pool_cells(pool: Pool, f: int, i: int, j: int) -> list[tuple[int, int, int]]:
    """The entries of the pool's input (not its padding) under pooled entry (i, j),
    row-major, as (f, row, column) cells of the unpadded input."""
    (ph, pw), (h, w) = pool.padding, pool.input_size
    return [(f, row - ph, col - pw) for row, col in pool_window(pool, i, j).taps
            if 0 <= row - ph < h and 0 <= col - pw < w]


def pool_divisor(pool: Pool, i: int, j: int) -> int:
    """What mean pooling divides window (i, j) by, as PyTorch's ``avg_pool2d``: its taps
    inside the padded input (padding included) with ``count_include_pad``, else its
    entries inside the input."""
    if pool.count_include_pad:
        return len(pool_window(pool, i, j).taps)
    return len(pool_cells(pool, 0, i, j))


def pool_divisors(pool: Pool) -> set[int]:
    """Every divisor a mean pool's windows have (:func:`pool_divisor`), from the counts
    along each axis, without listing the windows."""
    counts: list[set[int]] = []
    for axis in range(2):
        low, high = pool.padding[axis], pool.padding[axis] + pool.input_size[axis]
        counts.append({len([p for p in pool_taps(pool, axis, i)
                            if pool.count_include_pad or low <= p < high])
                       for i in range(pool_sizes(pool)[axis])})
    return {rows * cols for rows in counts[0] for cols in counts[1]}


def pool_overlap(pool: Pool, axis: int) -> int:
    """The most windows that read one entry along an axis: at most one per tap, and
    no more than the windows a span d·(k − 1) + 1 meets at the stride."""
    return min(pool.size[axis], -(-pool.span[axis] // pool.stride[axis]))


def pool_partial(pool: Pool, axis: int) -> int:
    """How many taps the last window along an axis lacks because it reaches past the
    padded input (ceil mode's partial window); 0 when it is whole."""
    last = pool_sizes(pool)[axis] - 1
    return pool.size[axis] - len(pool_taps(pool, axis, last))


def pool_empty_window(pool: Pool) -> Pair | None:
    """(axis, window) of the first window along an axis whose taps all fall in the
    padding (a dilated window can skip a small input), or None."""
    out = pool_sizes(pool)
    for axis in range(2):
        low, high = pool.padding[axis], pool.padding[axis] + pool.input_size[axis]
        for i in range(max(out[axis], 0)):
            if not any(low <= p < high for p in pool_taps(pool, axis, i)):
                return axis, i
    return None


def pool_unread(pool: Pool, axis: int) -> list[int]:
    """The rows (axis 0) or columns (axis 1) of the pool's input, 0-based, that no
    window reads: past the last window when the stride does not divide evenly, and
    between a dilated window's taps."""
    read = {p - pool.padding[axis] for i in range(pool_sizes(pool)[axis])
            for p in pool_taps(pool, axis, i)}
    return [p for p in range(pool.input_size[axis]) if p not in read]
