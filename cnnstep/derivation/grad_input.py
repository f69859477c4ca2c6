"""Step: the gradient with respect to the input, worked as the full convolution.

dL/dX = full conv(rot180(K), dL/dZ): the kernel rotated by 180°, dL/dZ
(zero-inserted for the stride) padded by kernel − 1 zeros, and the rotated
kernel slid over it; the result is the gradient of the padded input, cropped
back by the layer's padding. With a dilation the rotated kernel is dilated
too: its taps are spaced by the dilation, and dL/dZ is padded by its span
d·(k − 1) + 1 less one. Each entry is worked on its window of the padded
gradient, times the entries of rot180(K) (named by the kernel entries they
are: rot180(K)₁₁ = K₂₂ for a 2×2 kernel). By the chain rule these are exactly
the output entries the input entry affects, each times the weight that joins
them. Every number comes from the engine: ``padded_grad``, ``rotated_filter``,
``filter_parts`` and ``grad_padded_input``.

The crop removes ``top`` rows at the start and ``bottom`` at the end (``left``
and ``right`` columns) when the padding differs on the two sides. In mode
"convolution" the forward pass already read rot180(K), so dL/dX slides the
rotation of that kernel, K itself: dL/dX = full corr(K, dL/dZ), the full
correlation, with no rotation.
"""

from __future__ import annotations

import numpy as np

from cnnstep import engine, geometry
from cnnstep.derivation.builder import Index, Zeros, sums
from cnnstep.derivation.nodes import (
    Add,
    Block,
    Call,
    Equation,
    Expr,
    Group,
    Mul,
    Step,
    Text,
    Whole,
)
from cnnstep.derivation.numeric import NumericBuilder
from cnnstep.derivation.words import axes, count, group_words, size
from cnnstep.exact import IntArray


def step(b: NumericBuilder) -> Step:
    p, s = b.p, b.s
    assert s.grad_conv is not None and s.grad_input is not None
    assert s.rotated_filter is not None and s.padded_grad is not None
    assert s.spread_grad is not None and s.grad_padded_input is not None
    grad = s.grad_input
    kh, kw = p.kernel_size
    eh, ew = p.layer.effective_kernel
    dh, dw = p.layer.dilation
    dilated = p.layer.dilation != (1, 1)
    one_row = p.layout.one_row
    ph, pw = p.padding
    sh, sw = p.stride
    approximate = b.approximate("grad_input")
    strided = p.stride != (1, 1)
    _, h, w = grad.shape
    _, spread_h, spread_w = s.spread_grad.shape
    _, grad_h, grad_w = s.padded_grad.shape
    padded_grads = b.matrices((Whole("padded_grad"),), s.padded_grad, "output",
                              border=(eh - 1, ew - 1), step=p.stride,
                              approximate=b.approximate("grad_conv"))
    rotated = b.nodes.nums(s.rotated_filter)
    # the kernel's symbols as they slide: rot180(K), or K itself for a true convolution
    slid = engine.backward_kernel(b.k_sym, p.layer)
    flipped = p.layer.flipped
    grad_nums = b.number_nodes(s.padded_grad, b.approximate("grad_conv"))

    def source(row: int, col: int) -> tuple[int, int] | None:
        """The entry (i, j) of dL/dZ at this place of the padded gradient, or None for
        a zero of its padding or of the zero insertion."""
        u, v = row - (eh - 1), col - (ew - 1)
        if not (0 <= u < spread_h and 0 <= v < spread_w) or u % sh or v % sw:
            return None
        return u // sh, v // sw

    def reached(e: Index) -> bool:
        """The rotated kernel's window at this entry lies inside the padded gradient."""
        _, row, col = e
        return bool(row + ph + eh <= grad_h and col + pw + ew <= grad_w)

    def kept() -> dict[Index, int]:
        """How many terms each entry keeps (-1: its window is off the gradient): the
        filters of the entry's group not masked at each place of its window of the
        padded gradient."""
        places = [(row, col, at) for row in range(grad_h) for col in range(grad_w)
                  if (at := source(row, col)) is not None]

        def totals(unmasked: IntArray) -> IntArray:
            live = np.zeros((grad_h + ph + kh * dh + h, grad_w + pw + kw * dw + w),
                            dtype=np.int64)
            for row, col, at in places:
                live[row, col] = unmasked[at]
            total = np.zeros((h, w), dtype=np.int64)
            for m in range(kh):
                for n in range(kw):
                    top, left = ph + m * dh, pw + n * dw
                    total += live[top:top + h, left:left + w]
            return total

        by_group: dict[range, IntArray] = {}
        for c in {e[0] for e in entries}:
            mine = b.layer.filters_of(c)
            if mine not in by_group:
                by_group[mine] = totals((~b.masked[mine.start : mine.stop]).sum(axis=0))
        return {e: int(by_group[b.layer.filters_of(e[0])][e[1], e[2]]) if reached(e) else -1
                for e in entries}

    def terms(e: Index, f: int) -> tuple[list[Expr], list[Expr]]:
        channel, row, col = e
        c = channel - b.layer.channels_of(f).start  # the channel's place in filter f
        top, left = row + ph, col + pw
        symbolic: list[Expr] = []
        numeric: list[Expr] = []
        for m in range(kh):
            for n in range(kw):
                at = source(top + m * dh, left + n * dw)
                if at is None or b.masked[f, at[0], at[1]]:
                    continue
                symbolic.append(Mul((b.g_sym[f, at[0], at[1]], slid[f, c, m, n])))
                numeric.append(Mul((grad_nums[f, top + m * dh, left + n * dw],
                                    rotated[f, c, m, n])))
        return symbolic, numeric

    def equation(e: Index) -> Equation:
        c, row, col = e
        if not reached(e):
            return Equation(b.sym("grad_input", e), (), grad[e], ("grad_input", e),
                            approximate=approximate)
        symbolic: list[Expr] = []
        numeric: list[Expr] = []
        parts: list[Expr] = []
        mine = b.layer.filters_of(c)  # every filter, or those of the channel's group
        for f in mine:
            sym, num = terms(e, f)
            if len(mine) == 1:
                symbolic, numeric = sym, num
            elif sym:
                assert s.filter_parts is not None
                symbolic.append(Group(Add(tuple(sym)), square=True))
                numeric.append(Group(Add(tuple(num)), square=True))
                parts.append(b.value("grad_input", s.filter_parts[f, c, row + ph, col + pw]))
        forms = sums(symbolic, numeric)
        if forms and len(parts) > 1:
            forms = (*forms, Add(tuple(parts)))
        window = geometry.window((row + ph, col + pw), (kh, kw), p.layer.dilation)
        shown = (tuple(padded_grads) if len(padded_grads) == 1
                 else tuple(padded_grads[f] for f in mine))
        return Equation(b.sym("grad_input", e), forms, grad[e], ("grad_input", e),
                        window, shown, approximate=approximate)

    entries = b.entries("grad_input")
    counts = kept()
    unreached = tuple(e for e in entries if counts[e] < 0)
    empty = tuple(e for e in entries if counts[e] == 0)
    rot: Expr = Whole("filter") if flipped else Call("rot180", (Whole("filter"),))
    full = "full_corr" if flipped else "full_conv"
    single = (kh, kw) == (1, 1)  # a 1×1 kernel: nothing to turn, nothing to pad
    blocks: list[Block] = [*b.explain(
        *(unrotated(b) if flipped else (
            Text(("A 1×1 kernel is its own rotation by 180°: ", rot, " = ", Whole("filter"),
                  ".")),) if single else (
            Text(("Rotate ", Whole("filter"), " by 180° (reverse it: a 1-D kernel has one "
                  "axis to flip): its entries in reverse order," if one_row else
                  " by 180° (flip it vertically, then horizontally): its entries in reverse "
                  "order,",)),
            rotated_symbols(b),
            b.show((rot,), s.rotated_filter, "filter"))),
        Text((
            "The kernel size less one is 0, so the full convolution adds no zeros around ",
            *(("the zero-inserted ",) if strided else ()), Whole("grad_output"), ":",
        )) if single else Text((
            f"Pad {'the zero-inserted ' if strided else ''}", Whole("grad_output"),
            (f" with {count(ew - 1, 'zero')} at each end" if one_row else
             f" with {count(eh - 1, 'row')} and {count(ew - 1, 'column')} of zeros on each "
             "side")
            + (" (the dilated kernel's span d·(k − 1) + 1 less one):" if dilated
               else " (the kernel size less one):"),
        )),
        b.shown(padded_grads, s.padded_grad.shape),
        Text((
            Whole("grad_input"), " = ", Call(full, (rot, b.dz_operand())), ": ", rot,
            *((f", dilated by {axes(p.layer.dilation, one_row)} (its taps "
               f"{axes(p.layer.dilation, one_row)} "
               "apart, as in the forward pass),",) if dilated else ()),
            " slides over the padded gradient; each entry is its window there times ", rot,
            ", entry by entry"
            + (", one bracket per filter, then the filters' sums added"
               if p.layer.group_filters > 1 else "")
            + ". By the chain rule these are the output entries the input entry affects, "
            "each times the weight that joins them.",
        )),
        *((Text(("With groups, each input channel's gradient sums only the filters of its "
                 "group, the filters that see it; ", *group_words(p.layer), ".")),)
          if p.layer.groups > 1 else ()),
    )]
    blocks += b.left_out(padding=True, inserted=strided, masked=bool(b.masked.any()),
                         padding_of="gradient")
    zeros = [Zeros(unreached, ("the stride leaves them out of every window of the forward "
                               "pass.",)),
             Zeros(empty, ("their window of the padded gradient holds only zeros by "
                           "construction.",))]
    blocks += b.work_out("grad_input", equation, f"entries of {b.d_by('input')}",
                         example=max(entries, key=counts.__getitem__, default=None),
                         zeros=zeros)
    blocks += b.explain(crop(b))
    blocks += b.answer(b.show((Whole("grad_input"),), grad, "input",
                              approximate=approximate))
    return Step("grad_input", "Gradient with respect to the input", tuple(blocks))


def listed(items: list[str]) -> str:
    """``a and b``, ``a, b and c``."""
    return " and ".join(items) if len(items) < 3 else ", ".join(items[:-1]) + " and " + items[-1]


def unrotated(b: NumericBuilder) -> list[Block]:
    """A true convolution: why dL/dX slides the kernel as it is."""
    rot = Call("rot180", (Whole("filter"),))
    return [Text((
        'Mode "convolution": the forward pass already flipped the kernel (it slid ', rot,
        "), and the gradient slides the 180° rotation of the kernel the forward pass "
        "used: ", Call("rot180", (rot,)), " = ", Whole("filter"), ", the kernel as it is. "
        "So there is no rotation here: ", Whole("grad_input"), " is the full correlation "
        "of ", Whole("filter"), " with ", b.dz_operand(), ".",
    ))]


def rotated_symbols(b: NumericBuilder) -> list[Block]:
    """rot180(K) in the kernel's own symbols, as the course draws it: the first
    filter and channel alone when there are several (the others are alike)."""
    rotated = engine.rotate180(b.k_sym)
    label: tuple[str | Expr, ...] = (Call("rot180", (Whole("filter"),)),)
    if rotated.shape[0] * rotated.shape[1] > 1:
        return [b.matrices(label, rotated, "filter")[0],
                Text(("and likewise for every filter and channel. In numbers:",))]
    return [*b.show(label, rotated, "filter"), Text(("In numbers:",))]


def crop(b: NumericBuilder) -> list[Block]:
    """With padding, the full result and the rows and columns the crop removes."""
    p, s = b.p, b.s
    assert s.grad_padded_input is not None
    ph, pw = p.padding
    top, bottom, left, right = p.layer.sides
    if not p.layer.padded:
        return []
    _, h, w = p.layer.input_shape
    hp, wp = p.padded_size
    # the full convolution reaches (o − 1)·s + k places along an axis: with a
    # stride that leaves the padded input's last rows unread, fewer than it has
    full = tuple((o - 1) * st + k for o, st, k in
                 zip(p.output_size, p.layer.stride, p.layer.effective_kernel, strict=True))
    operation = "full correlation" if p.layer.flipped else "full convolution"
    removed = []
    one_row = p.layout.one_row
    across = "entry" if one_row else "column"  # a signal's one axis
    if p.layer.padding_end is None:
        if ph:
            removed.append("the first and last " + (f"{ph} rows" if ph > 1 else "row"))
        if pw:
            removed.append("the first and last " + (count(pw, across) if pw > 1 else across))
    else:  # different padding on the two sides: each crop as its own
        for n, unit, where in ((top, "row", "first"), (bottom, "row", "last"),
                               (left, across, "first"), (right, across, "last")):
            if n:
                removed.append(f"the {where} " + (count(n, unit) if n > 1 else unit))
    if full == (hp, wp):
        said: tuple[str, ...] = (
            f"The {operation} has one entry for each place of the padded input, "
            f"{size((hp, wp), one_row)}: it is the gradient of the padded input. ",)
    else:
        unread = [count(n, unit) for n, unit in
                  ((hp - full[0], "row"), (wp - full[1], across)) if n]
        said = (f"The {operation} is {size(full, one_row)}. The padded input has "
                f"{' and '.join(unread)} more at the end that no window reads, so their "
                f"gradient is 0: with them, the gradient of the padded input is "
                f"{size((hp, wp), one_row)}. ",)
    return [
        Text((
            *said,
            f"{listed(removed).capitalize()} are the padding, not entries of ",
            Whole("input"), f", so they are cropped away, leaving the "
            f"{size((h, w), one_row)} ",
            Whole("grad_input"), ":",
        )),
        *b.show((Whole("grad_padded_input"),), s.grad_padded_input, "input",
                border=(ph, pw), border_end=p.layer.padding_end,
                    approximate=b.approximate("grad_input")),
    ]

