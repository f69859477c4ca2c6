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

from dataclasses import dataclass
from typing import TYPE_CHECKING

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


def uncovered(size: int, kernel: int, stride: int) -> int:
    """Rows (or columns) at the end of an axis of ``size`` that no window reaches."""
    return (size - kernel) % stride


@dataclass(frozen=True, slots=True)
class Window:
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


def window(top_left: Pair, kernel: Pair) -> Window:
    """The taps of a kernel placed with its first entry at ``top_left``."""
    (row, col), (kh, kw) = top_left, kernel
    return Window(tuple((row + m, col + n) for m in range(kh) for n in range(kw)))


def conv_window(layer: Layer, i: int, j: int) -> Window:
    """The padded-input taps under output entry (i, j)."""
    (sh, sw) = layer.stride
    return window((i * sh, j * sw), layer.kernel_size)


def conv_slices(layer: Layer, i: int, j: int) -> tuple[slice, slice]:
    """:func:`conv_window` as slices of the padded input, for arrays."""
    (sh, sw), (kh, kw) = layer.stride, layer.kernel_size
    return slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw)


def reach(layer: Layer, m: int, n: int) -> tuple[slice, slice]:
    """The padded-input entries weight (m, n) multiplies, one per output entry."""
    (sh, sw), (oh, ow) = layer.stride, layer.output_size
    return slice(m, m + (oh - 1) * sh + 1, sh), slice(n, n + (ow - 1) * sw + 1, sw)


def affected(layer: Layer, row: int, col: int) -> list[tuple[int, int, int, int, int]]:
    """(f, i, j, m, n) for every output entry (f, i, j) whose window holds the
    padded-input entry (row, col), at kernel position (m, n)."""
    (sh, sw), (kh, kw), (oh, ow) = layer.stride, layer.kernel_size, layer.output_size
    first_i, last_i = max(0, -(-(row - kh + 1) // sh)), min(oh - 1, row // sh)
    first_j, last_j = max(0, -(-(col - kw + 1) // sw)), min(ow - 1, col // sw)
    return [(f, i, j, row - i * sh, col - j * sw)
            for f in range(layer.filters)
            for i in range(first_i, last_i + 1)
            for j in range(first_j, last_j + 1)]


def pool_window(pool: Pool, i: int, j: int) -> Window:
    """The cells of the pool's input under pooled entry (i, j), row-major."""
    (sh, sw) = pool.stride
    return window((i * sh, j * sw), pool.size)


def pool_cells(pool: Pool, f: int, i: int, j: int) -> list[tuple[int, int, int]]:
    """:func:`pool_window` with the channel in front: (f, row, column) cells."""
    return [(f, row, col) for row, col in pool_window(pool, i, j).taps]

