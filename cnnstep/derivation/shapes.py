"""Step: the output size, H_out = ⌊(H_in + 2p − k_h)/s⌋ + 1, with the numbers put in.

The sizes have names of their own (H_in, k_h, s, p) so that they never read as
the notation's symbols: in seed 000's notation W is the kernel.
"""

from __future__ import annotations

from fractions import Fraction

from cnnstep import geometry
from cnnstep.derivation.builder import Builder
from cnnstep.derivation.nodes import (
    Add,
    Block,
    Div,
    Equation,
    Expr,
    Floor,
    Mul,
    Name,
    Step,
    Sub,
    Text,
)
from cnnstep.derivation.words import count, dims, pair
from cnnstep.problem import Layer

TITLE = "Output size"


def size_formula(b: Builder, size: Expr, pad: Expr, kernel: Expr, stride: Expr) -> Expr:
    """⌊(size + 2·pad − kernel)/stride⌋ + 1."""
    two, one = b.num(Fraction(2)), b.num(Fraction(1))
    return Add((Floor(Div(Sub(Add((size, Mul((two, pad)))), kernel), stride)), one))


def sizes(layer: Layer) -> tuple[str, str]:
    """The letters of height and width: H and W, or h and w when the notation
    names a quantity H or W (seed 000 names the kernel W)."""
    named = {getattr(layer.notation, field) for field in
             ("input", "filter", "bias", "output", "target", "loss")}
    return ("h", "w") if named & {"H", "W"} else ("H", "W")


def per_axis(letter: str, values: tuple[int, int], axis: int) -> str:
    """``s`` when both axes agree, else ``s_h`` or ``s_w``."""
    return letter if values[0] == values[1] else f"{letter}_{'hw'[axis]}"


def pool_sizes(b: Builder) -> list[Block]:
    """The pool's output size, H_pool = ⌊(H_out − k_pool)/s_pool⌋ + 1, and the rows
    and columns no pool window covers."""
    layer = b.layer
    pool = layer.pool
    assert pool is not None
    letters = sizes(layer)
    one = b.num(Fraction(1))
    square = (layer.output_size[0] == layer.output_size[1] and pool.size[0] == pool.size[1]
              and pool.stride[0] == pool.stride[1])
    blocks: list[Block] = []
    for axis in range(2):
        letter = letters[axis]
        out = Fraction(layer.pooled_size[axis])
        if axis == 1 and square:
            blocks.append(Text((Name(f"{letter}_pool"), " = ", b.num(out), " likewise.")))
            continue
        window = "k_pool" if pool.size[0] == pool.size[1] else f"k_pool,{'hw'[axis]}"
        step = "s_pool" if pool.stride[0] == pool.stride[1] else f"s_pool,{'hw'[axis]}"
        general = Add((Floor(Div(Sub(Name(f"{letter}_out"), Name(window)), Name(step))), one))
        worked = Add((Floor(Div(Sub(b.num(Fraction(layer.output_size[axis])),
                                    b.num(Fraction(pool.size[axis]))),
                                b.num(Fraction(pool.stride[axis])))), one))
        blocks.append(Equation(Name(f"{letter}_pool"), (general, worked), out))
    for axis in range(2):
        left = geometry.uncovered(layer.output_size[axis], pool.size[axis], pool.stride[axis])
        if left:
            what = ("row", "rows") if axis == 0 else ("column", "columns")
            blocks.append(Text((
                f"The pool's stride does not divide evenly: the last {left} "
                f"{what[left != 1]} of the pool's input {'lies' if left == 1 else 'lie'} "
                f"in no pool window, so {'its' if left == 1 else 'their'} gradient is 0.",
            )))
    return b.explain(blocks)


def step(b: Builder) -> Step:
    layer = b.layer
    blocks: list[Block] = []
    _, h, w = layer.input_shape
    letters = sizes(layer)
    square = (h == w and layer.kernel_size[0] == layer.kernel_size[1]
              and layer.stride[0] == layer.stride[1] and layer.padding[0] == layer.padding[1])
    for axis, size in enumerate((h, w)):
        numbers = [layer.padding[axis], layer.kernel_size[axis], layer.stride[axis]]
        letter = letters[axis]
        out = Fraction(layer.output_size[axis])
        if axis == 1 and square:
            blocks.append(Text((Name(f"{letter}_out"), " = ", b.num(out), " likewise.")))
            continue
        general = size_formula(b, Name(f"{letter}_in"),
                               Name(per_axis("p", layer.padding, axis)),
                               Name(f"k_{'hw'[axis]}"), Name(per_axis("s", layer.stride, axis)))
        worked = size_formula(b, *(b.num(Fraction(n)) for n in (size, *numbers)))
        blocks.append(Equation(Name(f"{letter}_out"), (general, worked), out))
    shape = layer.output_shape if layer.filters > 1 else layer.output_size
    blocks.append(Text((
        f"{count(layer.channels, 'input channel')}, {count(layer.filters, 'filter')} of "
        f"{dims(layer.kernel_size)}, stride {pair(layer.stride)}, "
        f"padding {pair(layer.padding)}: the output is {dims(shape)}.",
    )))
    for axis in range(2):
        left = geometry.uncovered(layer.padded_size[axis], layer.kernel_size[axis],
                                  layer.stride[axis])
        if left:
            what = ("row", "rows") if axis == 0 else ("column", "columns")
            blocks.append(Text((
                f"The stride does not divide evenly: the last {left} "
                f"{what[left != 1]} of the padded input "
                f"{'is' if left == 1 else 'are'} reached by no window, so "
                f"{'its' if left == 1 else 'their'} gradient is 0.",
            )))
    return Step("shapes", TITLE, tuple(b.explain(blocks)))
