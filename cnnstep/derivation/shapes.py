"""Step: the output size, by the formula ⌊(H + 2P − K)/S⌋ + 1 with the numbers put in."""

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

TITLE = "Output size"


def size_formula(b: Builder, size: Expr, pad: Expr, kernel: Expr, stride: Expr) -> Expr:
    """⌊(size + 2·pad − kernel)/stride⌋ + 1."""
    two, one = b.num(Fraction(2)), b.num(Fraction(1))
    return Add((Floor(Div(Sub(Add((size, Mul((two, pad)))), kernel), stride)), one))


def step(b: Builder) -> Step:
    layer = b.layer
    if not b.plan.whole:
        return Step("shapes", TITLE, ())
    blocks: list[Block] = []
    _, h, w = layer.input_shape
    for axis, (size, name) in enumerate(((h, "height"), (w, "width"))):
        numbers = [layer.padding[axis], layer.kernel_size[axis], layer.stride[axis]]
        general = size_formula(b, Name("HW"[axis]), Name("P"), Name("K"), Name("S"))
        worked = size_formula(b, *(b.num(Fraction(n)) for n in (size, *numbers)))
        blocks.append(Equation(Name(f"output {name}"), (general, worked),
                               Fraction(layer.output_size[axis])))
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
    return Step("shapes", TITLE, tuple(blocks))
