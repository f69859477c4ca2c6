"""Step: the output size, H_out = ⌊(H_in + 2p − k_h)/s⌋ + 1, with the numbers put in.

With different padding on the two sides of an axis the 2p is their sum:
H_out = ⌊(H_in + p_t + p_b − k_h)/s⌋ + 1 (p_l + p_r along the width).

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
    Ceil,
    Div,
    Equation,
    Expr,
    Floor,
    Group,
    Mul,
    Name,
    Step,
    Sub,
    Text,
)
from cnnstep.derivation.words import count, dims, group_size, group_words, padding_words, pair
from cnnstep.problem import Layer, Pool

TITLE = "Output size"


def size_formula(b: Builder, size: Expr, pad: Expr, kernel: Expr, stride: Expr) -> Expr:
    """⌊(size + 2·pad − kernel)/stride⌋ + 1."""
    two, one = b.num(Fraction(2)), b.num(Fraction(1))
    return Add((Floor(Div(Sub(Add((size, Mul((two, pad)))), kernel), stride)), one))


def sides_formula(b: Builder, size: Expr, before: Expr, after: Expr, kernel: Expr,
                  stride: Expr) -> Expr:
    """⌊(size + before + after − kernel)/stride⌋ + 1: padding that differs on the two sides."""
    one = b.num(Fraction(1))
    return Add((Floor(Div(Sub(Add((size, before, after)), kernel), stride)), one))


def dilated_kernel(b: Builder, kernel: Expr, dilation: Expr) -> Expr:
    """(d·(k − 1) + 1): the span of a kernel whose taps are d apart."""
    one = b.num(Fraction(1))
    return Group(Add((Mul((dilation, Group(Sub(kernel, one)))), one)))


def sizes(layer: Layer) -> tuple[str, str]:
    """The letters of height and width: H and W, or h and w when the notation
    names a quantity H or W (seed 000 names the kernel W)."""
    named = {getattr(layer.notation, field) for field in
             ("input", "filter", "bias", "output", "target", "loss")}
    return ("h", "w") if named & {"H", "W"} else ("H", "W")


def per_axis(letter: str, values: tuple[int, int], axis: int) -> str:
    """``s`` when both axes agree, else ``s_h`` or ``s_w``."""
    return letter if values[0] == values[1] else f"{letter}_{'hw'[axis]}"


def pool_formula(b: Builder, axis: int, size: Expr, pad: Expr, kernel: Expr, dilation: Expr,
                 stride: Expr) -> Expr:
    """⌊(size + 2·pad − kernel)/stride⌋ + 1 or, with the pool's padding, dilation and
    ceil mode where it has them, ⌈(size + 2·pad − d·(kernel − 1) − 1)/stride⌉ + 1."""
    pool = b.layer.pool
    assert pool is not None
    two, one = b.num(Fraction(2)), b.num(Fraction(1))
    top: Expr = Add((size, Mul((two, pad)))) if pool.padding[axis] else size
    if pool.dilation[axis] != 1:
        top = Sub(Sub(top, Mul((dilation, Group(Sub(kernel, one))))), one)
    else:
        top = Sub(top, kernel)
    rounded = Ceil(Div(top, stride)) if pool.ceil_mode else Floor(Div(top, stride))
    return Add((rounded, one))


def pool_sizes(b: Builder) -> list[Block]:
    """The pool's output size, H_pool = ⌊(H_out + 2p − d·(k − 1) − 1)/s⌋ + 1 (⌈…⌉ in
    ceil mode; the padding and dilation where the pool has them), the last window
    dropped or partial in ceil mode, and the rows and columns no pool window reads."""
    layer = b.layer
    pool = layer.pool
    assert pool is not None
    letters = sizes(layer)
    given = "out" if layer.convolution else "in"
    square = all(values[0] == values[1] for values in (
        pool.input_size, pool.size, pool.stride, pool.padding, pool.dilation))
    blocks: list[Block] = []
    one_row = layer.layout.one_row
    if one_row:  # a signal: its one axis, the columns of the row it is held in
        letters, square = ("H", "L"), False
    for axis in range(1 if one_row else 0, 2):
        letter = letters[axis]
        # in ceil mode, before a last window that would start in the padding is dropped
        out = Fraction(_rounded_up(pool, axis) if pool.ceil_mode else layer.pooled_size[axis])
        if axis == 1 and square:
            blocks.append(Text((Name(f"{letter}_pool"), " = ", b.num(out), " likewise.")))
            continue

        def name(symbol: str, values: tuple[int, int], axis: int = axis) -> Name:
            return Name(symbol if values[0] == values[1] or one_row
                        else f"{symbol},{'hw'[axis]}")

        general = pool_formula(b, axis, Name(f"{letter}_{given}"),
                               name("p_pool", pool.padding), name("k_pool", pool.size),
                               name("d_pool", pool.dilation), name("s_pool", pool.stride))
        worked = pool_formula(b, axis, *(b.num(Fraction(values[axis])) for values in (
            pool.input_size, pool.padding, pool.size, pool.dilation, pool.stride)))
        blocks.append(Equation(Name(f"{letter}_pool"), (general, worked), out))
    blocks += _ceil_notes(b)
    for axis in range(2):
        unread = geometry.pool_unread(pool, axis)
        if not unread:
            continue
        what = (("row", "rows") if axis == 0 else ("entry", "entries") if one_row
                else ("column", "columns"))
        n = len(unread)
        tail = list(range(pool.input_size[axis] - n, pool.input_size[axis]))
        if unread == tail:
            blocks.append(Text((
                f"The pool's stride does not divide evenly: the last {n} "
                f"{what[n != 1]} of the pool's input {'lies' if n == 1 else 'lie'} "
                f"in no pool window, so {'its' if n == 1 else 'their'} gradient is 0.",
            )))
        else:
            names = ", ".join(str(i + layer.notation.index_base) for i in unread)
            blocks.append(Text((
                f"{what[n != 1].capitalize()} {names} of the pool's input "
                f"{'lies' if n == 1 else 'lie'} between the dilated taps of every window, "
                f"so {'its' if n == 1 else 'their'} gradient is 0.",
            )))
    return b.explain(blocks)


def _rounded_up(pool: Pool, axis: int) -> int:
    """⌈(size + 2p − d·(k − 1) − 1)/s⌉ + 1, before PyTorch's correction."""
    reach = pool.input_size[axis] + 2 * pool.padding[axis] - pool.span[axis]
    return -(-reach // pool.stride[axis]) + 1


def _ceil_notes(b: Builder) -> list[Block]:
    """In ceil mode: along each axis, the last window dropped because it would start in
    the padding (PyTorch's rule), or the last window named partial."""
    pool = b.layer.pool
    assert pool is not None
    if not pool.ceil_mode:
        return []
    blocks: list[Block] = []
    square = pool.input_size[0] == pool.input_size[1] and all(
        values[0] == values[1] for values in (pool.size, pool.stride, pool.padding, pool.dilation))
    letters = sizes(b.layer)
    for axis in range(1 if square else 2):
        what = "each axis" if square else f"the {('rows', 'columns')[axis]}"
        size, pad, stride = pool.input_size[axis], pool.padding[axis], pool.stride[axis]
        rounded_up = _rounded_up(pool, axis)
        if rounded_up != b.layer.pooled_size[axis]:
            names: tuple[str | Expr, ...] = (
                (Name(f"{letters[0]}_pool"), " = ", Name(f"{letters[1]}_pool")) if square
                else (Name(f"{letters[axis]}_pool"),))
            blocks.append(Text((
                f"Along {what}, the last of those {rounded_up} windows would start at "
                f"{(rounded_up - 1) * stride} ≥ {size} + {pad}, in the padding; a window "
                "never starts in the padding (as in PyTorch), so ", *names,
                f" = {rounded_up - 1}.",
            )))
        missing = geometry.pool_partial(pool, axis)
        if missing:
            last = b.layer.pooled_size[axis]
            blocks.append(Text((
                f"Ceil mode: the last window along {what} (window {last}) is partial: "
                f"{missing} of its {pool.size[axis]} taps "
                f"{'falls' if missing == 1 else 'fall'} past the padded input, and "
                "only the taps inside count.",
            )))
    return blocks


def signal_step(b: Builder) -> Step:
    """A 1-D layer's output length, L_out = ⌊(L_in + 2p − d·(k − 1) − 1)/s⌋ + 1 (with
    p_start + p_end for 2p when the two ends differ)."""
    layer = b.layer
    length, k, d = layer.input_shape[2], layer.kernel_size[1], layer.dilation[1]
    stride, pad = layer.stride[1], layer.padding[1]
    blocks: list[Block] = []
    kernel: Expr = Name("k")
    worked_kernel: Expr = b.num(Fraction(k))
    if d != 1:
        blocks.append(Text((
            f"Dilation {d}: the kernel's taps are {d} apart, so a kernel of {k} taps spans "
            f"d·(k − 1) + 1 = {layer.effective_kernel[1]} entries of the padded signal.",)))
        kernel = dilated_kernel(b, kernel, Name("d"))
        worked_kernel = dilated_kernel(b, worked_kernel, b.num(Fraction(d)))
    out = Fraction(layer.output_size[1])
    if layer.padding_end is None:
        forms = (size_formula(b, Name("L_in"), Name("p"), kernel, Name("s")),
                 size_formula(b, b.num(Fraction(length)), b.num(Fraction(pad)), worked_kernel,
                              b.num(Fraction(stride))))
    else:  # the padding differs at the two ends: their sum
        forms = (sides_formula(b, Name("L_in"), Name("p_start"), Name("p_end"), kernel,
                               Name("s")),
                 sides_formula(b, b.num(Fraction(length)), b.num(Fraction(pad)),
                               b.num(Fraction(layer.padding_after[1])), worked_kernel,
                               b.num(Fraction(stride))))
    blocks.append(Equation(Name("L_out"), forms, out))
    shape = (layer.filters, int(out)) if layer.filters > 1 else (int(out),)
    blocks.append(Text((
        f"{count(layer.channels, 'input channel')}, {count(layer.filters, 'filter')} of "
        f"{count(k, 'tap')}, stride {stride}, padding {padding_words(layer)}"
        + (f", dilation {d}" if d != 1 else "") + ": the output is "
        + (f"{dims(shape)}, a signal of {int(out)} entries per filter." if layer.filters > 1
           else f"a signal of {int(out)} entr{'y' if out == 1 else 'ies'}."),
    )))
    left = geometry.uncovered(layer.padded_size[1], layer.effective_kernel[1], stride)
    if left:
        blocks.append(Text((
            f"The stride does not divide evenly: the last {left} "
            f"{'entry' if left == 1 else 'entries'} of the padded signal "
            f"{'is' if left == 1 else 'are'} reached by no window, so "
            f"{'its' if left == 1 else 'their'} gradient is 0.",
        )))
    return Step("shapes", TITLE, tuple(b.explain(blocks)))


def step(b: Builder) -> Step:
    layer = b.layer
    if layer.layout.one_row:
        return signal_step(b)
    blocks: list[Block] = []
    _, h, w = layer.input_shape
    letters = sizes(layer)
    square = (h == w and layer.kernel_size[0] == layer.kernel_size[1]
              and layer.stride[0] == layer.stride[1] and layer.padding[0] == layer.padding[1]
              and layer.padding_after[0] == layer.padding_after[1]
              and layer.dilation[0] == layer.dilation[1])
    dilated = layer.dilation != (1, 1)
    if dilated:
        spans = layer.effective_kernel
        blocks.append(Text((
            f"Dilation {pair(layer.dilation)}: the kernel's taps are "
            f"{pair(layer.dilation)} apart, so a {dims(layer.kernel_size)} kernel spans "
            f"d·(k − 1) + 1 = {dims(spans)} entries of the padded input, and its windows "
            "skip the entries between its taps.",
        )))
    for axis, size in enumerate((h, w)):
        numbers = [layer.padding[axis], layer.kernel_size[axis], layer.stride[axis]]
        letter = letters[axis]
        out = Fraction(layer.output_size[axis])
        if axis == 1 and square:
            blocks.append(Text((Name(f"{letter}_out"), " = ", b.num(out), " likewise.")))
            continue
        kernel: Expr = Name(f"k_{'hw'[axis]}")
        worked_kernel: Expr = b.num(Fraction(numbers[1]))
        if dilated:
            kernel = dilated_kernel(b, kernel, Name(per_axis("d", layer.dilation, axis)))
            worked_kernel = dilated_kernel(b, worked_kernel,
                                           b.num(Fraction(layer.dilation[axis])))
        if layer.padding_end is None:
            general = size_formula(b, Name(f"{letter}_in"),
                                   Name(per_axis("p", layer.padding, axis)),
                                   kernel, Name(per_axis("s", layer.stride, axis)))
            worked = size_formula(b, b.num(Fraction(size)), b.num(Fraction(numbers[0])),
                                  worked_kernel, b.num(Fraction(numbers[2])))
        else:  # the padding differs on the two sides: their sum
            before, after = ("p_t", "p_b") if axis == 0 else ("p_l", "p_r")
            general = sides_formula(b, Name(f"{letter}_in"), Name(before), Name(after),
                                    kernel, Name(per_axis("s", layer.stride, axis)))
            worked = sides_formula(b, b.num(Fraction(size)), b.num(Fraction(numbers[0])),
                                   b.num(Fraction(layer.padding_after[axis])),
                                   worked_kernel, b.num(Fraction(numbers[2])))
        blocks.append(Equation(Name(f"{letter}_out"), (general, worked), out))
    shape = layer.output_shape if layer.filters > 1 else layer.output_size
    blocks.append(Text((
        f"{count(layer.channels, 'input channel')}, {count(layer.filters, 'filter')} of "
        f"{dims(layer.kernel_size)}, stride {pair(layer.stride)}, "
        f"padding {padding_words(layer)}"
        + (f", dilation {pair(layer.dilation)}" if dilated else "")
        + (f", groups {layer.groups}" if layer.groups > 1 else "")
        + f": the output is {dims(shape)}.",
    )))
    if layer.groups > 1:
        blocks.append(Text((
            *group_words(layer), ". Each filter has ", *group_size(layer),
            f" channel{'s' * (layer.group_channels != 1)}, and output map ", Name("f"),
            " is made from " + ("its own channel of the input only." if layer.depthwise
                                else "its group's channels only."),
        )))
    for axis in range(2):
        left = geometry.uncovered(layer.padded_size[axis], layer.effective_kernel[axis],
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
