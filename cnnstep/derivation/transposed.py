"""Steps of a transposed convolution (PyTorch's ``conv_transpose2d``).

Each input entry scatters the kernel into the output,
``Z[f, i·s − p + m·d, j·s − p + n·d] += X[c, i, j]·K[c, f, m, n]``, the filter
being (C, F, kh, kw), input channels first. A course works it as an ordinary
convolution:

* the output size, ``H_out = (H_in − 1)·s − 2p + d·(k − 1) + output_padding + 1``;
* zero insertion (``s − 1`` zeros between the input's entries) and padding by
  ``d·(k − 1) − p`` on each side, ``output_padding`` more at the bottom and
  right: the expanded input Xe;
* the forward pass, a stride-1 correlation of Xe with the kernel rotated by
  180°, its channel axes swapped: ``Z[f,y,x] = B[f] + Σ_c Σ_m Σ_n
  Xe[c, y + m·d, x + n·d]·K[c, f, kh − 1 − m, kw − 1 − n]``;
* ``dL/dK[c,f,m,n] = Σ_i Σ_j X[c,i,j]·dL/dZ[f, i·s − p + m·d, j·s − p + n·d]``;
* ``dL/dX[c,i,j] = Σ_f Σ_m Σ_n dL/dZpad[f, i·s + m·d, j·s + n·d]·K[c,f,m,n]``: the
  transposed convolution's input gradient is an ordinary strided convolution
  of dL/dZ (padded by p) with K.
"""

from __future__ import annotations

from fractions import Fraction

from cnnstep import geometry
from cnnstep.derivation.builder import Index, sums
from cnnstep.derivation.forward import SYMBOLIC_TERMS, sum_forms
from cnnstep.derivation.nodes import (
    Add,
    Block,
    Call,
    Equation,
    Expr,
    Group,
    Matrix,
    Mul,
    Name,
    Step,
    Sub,
    Text,
    Whole,
)
from cnnstep.derivation.numeric import NumericBuilder
from cnnstep.derivation.shapes import TITLE, per_axis, sizes
from cnnstep.derivation.words import axes, count, dims, pair, ranges
from cnnstep.derivation.words import size as size_words
from cnnstep.geometry import Window
from cnnstep.problem import Layer


def _size_formula(b: NumericBuilder, size: Expr, stride: Expr, pad: Expr, dilation: Expr,
                  kernel: Expr, extra: Expr) -> Expr:
    """(size − 1)·s − 2p + d·(k − 1) + output_padding + 1."""
    one, two = b.num(Fraction(1)), b.num(Fraction(2))
    return Add((Sub(Mul((Group(Sub(size, one)), stride)), Mul((two, pad))),
                Mul((dilation, Group(Sub(kernel, one)))), extra, one))


def shapes(b: NumericBuilder) -> Step:
    """The output size of the transposed layer."""
    layer = b.layer
    _, h, w = layer.input_shape
    one_row = layer.layout.one_row
    letters = ("H", "L") if one_row else sizes(layer)  # a signal: its one axis, L
    blocks: list[Block] = []
    for axis, size in enumerate((h, w)):
        if one_row and axis == 0:
            continue
        values = (layer.stride, layer.padding, layer.dilation, layer.output_padding)
        names = [Name(letter if one_row else per_axis(letter, v, axis))
                 for letter, v in zip(("s", "p", "d", "o"), values, strict=True)]
        general = _size_formula(b, Name(f"{letters[axis]}_in"), names[0], names[1], names[2],
                                Name("k" if one_row else f"k_{'hw'[axis]}"), names[3])
        numbers = [b.num(Fraction(v[axis])) for v in values]
        worked = _size_formula(b, b.num(Fraction(size)), numbers[0], numbers[1], numbers[2],
                               b.num(Fraction(layer.kernel_size[axis])), numbers[3])
        blocks.append(Equation(Name(f"{letters[axis]}_out"), (general, worked),
                               Fraction(layer.output_size[axis])))
    shape = layer.output_shape if layer.filters > 1 else layer.output_size
    blocks.append(Text((
        "A transposed convolution (conv_transpose) spreads each input entry over the "
        f"output: {count(layer.channels, 'input channel')}, "
        f"{count(layer.filters, 'output channel')}, a "
        + (f"length-{layer.kernel_size[1]}" if one_row else dims(layer.kernel_size))
        + f" kernel, stride {axes(layer.stride, one_row)}, padding "
        f"{axes(layer.padding, one_row)}, dilation {axes(layer.dilation, one_row)}, "
        f"output_padding {axes(layer.output_padding, one_row)} "
        f"(o above)" + (f", groups {layer.groups}" if layer.groups > 1 else "")
        + f": the output is {size_words(shape, one_row)}.",
    )))
    if layer.groups > 1:
        blocks.append(Text(feeds(layer)))
    return Step("shapes", TITLE, tuple(b.explain(blocks)))


def feeds(layer: Layer) -> tuple[str, ...]:
    """Which output channels each group's input channels feed, as the course says it:
    ``groups 2: input channels 1–2 feed output channels 1–3, …``; the filter is
    [C][F/groups][kh][kw], so K[c, f] carries input channel c to output channel f of
    c's group."""
    base = layer.notation.index_base
    parts = []
    for g in range(layer.groups):
        channels = range(g * layer.group_channels, (g + 1) * layer.group_channels)
        outputs = layer.filters_of(channels[0])
        one_in, one_out = len(channels) == 1, len(outputs) == 1
        parts.append(f"input channel{'' if one_in else 's'} {ranges(channels, base)} "
                     f"feed{'s' if one_in else ''} output channel{'' if one_out else 's'} "
                     f"{ranges(outputs, base)}")
    name = layer.notation.filter
    kernel = (f"[k] = [{layer.channels}][{layer.group_filters}][{layer.kernel_size[1]}]"
              if layer.layout.one_row else
              f"[kh][kw] = [{layer.channels}][{layer.group_filters}]"
              f"[{layer.kernel_size[0]}][{layer.kernel_size[1]}]")
    return (f"With groups {layer.groups}: " + ", ".join(parts) + ". The filter is "
            f"[C][F/groups]{kernel}: weight {name}[c, f] carries "
            "input channel c to the f-th output channel of its group, and no input channel "
            "reaches the output channels of another group.",)


def expanded_matrices(b: NumericBuilder) -> list[Matrix]:
    layer = b.layer
    return b.matrices((Whole("padded_input"),), b.s.padded_input, "input",
                      border=layer.expansion, step=layer.stride, extra=layer.output_padding)


def _side_words(layer: Layer, axis: int) -> str:
    """Along one axis: d·(k − 1) − p worked out, and what it does: that many zeros on
    each side, or, negative, that many rows (columns) of the zero-inserted input
    cropped from each side; with output_padding, what the bottom (right) gets."""
    d, k, p = layer.dilation[axis], layer.kernel_size[axis], layer.padding[axis]
    e, extra = layer.expansion[axis], layer.output_padding[axis]
    unit = ("row", "column")[axis] if not layer.layout.one_row else "entry"
    ends = ("above and below", "left and right")[axis] if not layer.layout.one_row else \
        "at each end"
    end = ("bottom", "right")[axis] if not layer.layout.one_row else "end"
    sides = ("the top and the bottom", "the left and the right")[axis] \
        if not layer.layout.one_row else "each end"
    if e >= 0:
        return f"{d}·({k} − 1) − {p} = {count(e, unit)} {ends}" + (
            f", and output_padding adds {count(extra, unit)} more at the {end}"
            if extra else "")
    worked = f"{d}·({k} − 1) − {p} = −{-e}"
    cut = -e
    words = (f"{worked}, negative: the padding is larger than d·(k − 1), so instead of "
             f"padding, {count(cut, unit)} of the zero-inserted input "
             f"{'is' if cut == 1 else 'are'} cropped from {sides}")
    if not extra:
        return words
    net = e + extra
    if net < 0:
        return words + (f"; output_padding keeps {count(extra, unit)} of those at the {end}, "
                        f"so only {count(-net, unit)} {'is' if net == -1 else 'are'} "
                        f"cropped there")
    return words + (f"; output_padding keeps the {end} uncropped"
                    + (f" and adds {count(net, unit)} of zeros there" if net else ""))


def expansion(b: NumericBuilder) -> Step:
    """Zero insertion, padding (or cropping) and the rotated kernel: the transposed
    layer made an ordinary stride-1 correlation."""
    layer = b.layer
    axes = (1,) if layer.layout.one_row else (0, 1)
    cropped = any(layer.expansion[axis] < 0 for axis in axes)
    padded = any(layer.expansion[axis] > 0
                 or layer.expansion[axis] + layer.output_padding[axis] > 0 for axis in axes)
    (sh, sw) = layer.stride
    if layer.layout.one_row:
        inserted = f"{count(sw - 1, 'zero')} between the entries of "
        tail = f" (stride {sw})"
    else:
        inserted = f"{count(sh - 1, 'zero')} between the rows of "
        tail = f" and {count(sw - 1, 'zero')} between its columns (stride {pair(layer.stride)})"
    words: list[str | Expr] = [
        "The transposed convolution is worked as an ordinary one. First zero insertion: "
        + inserted, Whole("input"), tail + ". Then "]
    if cropped or layer.layout.one_row:
        words.append(("padding by d·(k − 1) − p on each side: " if not cropped else
                      "padding (or cropping) by d·(k − 1) − p on each side: ")
                     + "; ".join(_side_words(layer, axis) for axis in axes))
    else:
        (eh, ew), (oh, ow) = layer.expansion, layer.output_padding
        (dh, dw), (kh, kw) = layer.dilation, layer.kernel_size
        words.append(
            f"padding by d·(k − 1) − p on each side: {dh}·({kh} − 1) − {layer.padding[0]} "
            f"= {count(eh, 'row')} above and below, {dw}·({kw} − 1) − {layer.padding[1]} = "
            f"{count(ew, 'column')} left and right")
        if oh or ow:
            words.append(f", and output_padding adds {count(oh, 'row')} more at the bottom "
                         f"and {count(ow, 'column')} more at the right")
    words += [". This gives the expanded input ", Whole("padded_input"), "."]
    groups = layer.groups > 1
    one_row = layer.layout.one_row
    turned = ("The kernel is reversed (its entries in reverse order, a 1-D kernel's "
              "rotation by 180°)" if one_row else
              "The kernel is rotated by 180° (flipped vertically and horizontally)")
    form = "[C][F/groups]" if groups else "[C][F]"
    kernel_words: tuple[str | Expr, ...] = (
        f"{turned} and, as the filter is {form}{'[k]' if one_row else '[kh][kw]'} (input "
        "channels first), its channel axes are swapped: "
        f"output channel f reads weight {b.layer.notation.filter}[c, f] of every input "
        "channel c" + (" of its group" if groups else "") + ".",
    ) if not b.compact else (f"{turned}.",)
    rotated = b.s.rotated_filter
    assert rotated is not None
    title = ("Zero insertion and padding" if not cropped else
             "Zero insertion, padding and cropping" if padded else
             "Zero insertion and cropping")
    return Step("padding", title, tuple(b.explain(
        Text(tuple(words)),
        b.shown(expanded_matrices(b), b.s.padded_input.shape),
        Text(kernel_words),
        b.show((Call("rot180", (Whole("filter"),)),), rotated, "rotated"),
    )))


def forward(b: NumericBuilder) -> Step:
    """Z = corr(Xe, rot180(K) with channel axes swapped) + B, stride 1."""
    p, s, layer = b.p, b.s, b.layer
    grids = tuple(expanded_matrices(b))
    channels, (kh, kw), (dh, dw) = layer.group_channels, p.kernel_size, layer.dilation
    every_symbolic = channels * kh * kw <= SYMBOLIC_TERMS
    written: list[Index] = []

    def equation(e: Index) -> Equation:
        f, y, x = e
        column = f % layer.group_filters  # f's place among its group's output channels
        terms: list[tuple[list[Expr], list[Expr]]] = []
        for c in layer.channels_of(f):
            sym: list[Expr] = []
            num: list[Expr] = []
            for m in range(kh):
                for n in range(kw):
                    row, col = y + m * dh, x + n * dw
                    xs = b.x_sym[c, row, col]
                    if xs is None:  # an inserted or padding zero
                        continue
                    weight = (c, column, kh - 1 - m, kw - 1 - n)
                    sym.append(Mul((xs, b.k_sym[weight])))
                    num.append(Mul((b.x_num[c, row, col], b.k_num[weight])))
            terms.append((sym, num))
        forms = sum_forms(b, f, (y, x), terms, not every_symbolic and bool(written))
        written.append(e)
        return Equation(b.sym("output", e), forms, s.conv[e], (b.z_key, e),
                        geometry.window((y, x), (kh, kw), layer.dilation), grids)

    words: tuple[str | Expr, ...] = (
        "Each output entry is the sum of the products of its window of ", Whole("padded_input"),
        " with the rotated kernel, stride 1",
        *((f" and its taps {axes(layer.dilation, layer.layout.one_row)} apart",)
          if layer.dilation != (1, 1) else ()),
        *((", plus the bias ", Whole("bias")) if p.bias is not None else ()),
        ": ", Whole("output"), " = ",
        Add((Call("conv", (Whole("padded_input"), Call("rot180", (Whole("filter"),)))),
             *((Whole("bias"),) if p.bias is not None else ()))),
        ". Terms holding an inserted or padding zero are left out, so each product is an "
        "input entry times the kernel weight it meets.",
        *((f" With {channels} input channels each bracket is one channel's sum.",)
          if channels > 1 else ()),
    )
    first = next(iter(b.entries(b.z_key)), None)
    return Step("forward", "Forward pass", (
        *b.explain(Text(words)),
        *b.work_out(b.z_key, equation, "output entries", example=first),
        *b.answer(b.show((Whole("output"),), s.conv, "output")),
    ))


def _padded_grad_matrices(b: NumericBuilder) -> list[Matrix]:
    assert b.s.padded_grad is not None
    return b.matrices((Whole("padded_grad"),), b.s.padded_grad, "output",
                      border=b.layer.padding, approximate=b.approximate("grad_conv"))


def _indices(one_row: bool) -> tuple[str, str, str]:
    """The indices a sentence writes a weight, an input entry and the output entry it
    reaches with: (m, n), (i, j) and (i·s − p + m·d, j·s − p + n·d); n, j and
    j·s − p + n·d along a signal's one axis."""
    if one_row:
        return "n", "j", "j·s − p + n·d"
    return "m, n", "i, j", "i·s − p + m·d, j·s − p + n·d"


def grad_filter(b: NumericBuilder) -> Step:
    """dL/dK[c,f,m,n] = Σ_i Σ_j X[c,i,j]·dL/dZ[f, i·s − p + m·d, j·s − p + n·d]."""
    s, layer = b.s, b.layer
    assert s.grad_filter is not None and s.grad_conv is not None
    assert s.padded_grad is not None
    grad = s.grad_filter
    _, height, width = layer.input_shape
    (sh, sw), (ph, pw), (dh, dw) = layer.stride, layer.padding, layer.dilation
    oh, ow = layer.output_size
    approximate = b.approximate("grad_filter")
    grids = tuple(_padded_grad_matrices(b))
    names = layer.notation
    x_sym = b.nodes.syms("input", layer.input_shape)
    x_num = b.nodes.nums(b.p.input)

    def equation(e: Index) -> Equation:
        c, column, m, n = e
        f = layer.filters_of(c)[column]  # the output channel weight K[c, column] feeds
        symbolic: list[Expr] = []
        numeric: list[Expr] = []
        taps = []
        for i in range(height):
            for j in range(width):
                row, col = i * sh + m * dh, j * sw + n * dw  # in dL/dZ padded by p
                taps.append((row, col))
                y, x = row - ph, col - pw
                if not (0 <= y < oh and 0 <= x < ow) or b.masked[f, y, x]:
                    continue
                symbolic.append(Mul((x_sym[c, i, j], b.g_sym[f, y, x])))
                numeric.append(Mul((x_num[c, i, j], b.g_num[f, y, x])))
        return Equation(b.sym("grad_filter", e), sums(symbolic, numeric), grad[e],
                        ("grad_filter", e), Window(tuple(taps)), grids, approximate)

    one = layer.layout.one_row
    weight, entry, reached = _indices(one)
    return Step("grad_filter", "Gradient with respect to the kernel", (
        *b.explain(Text((
            f"Weight {names.filter}[c, f, {weight}] carries input entry "
            f"{names.input}[c, {entry}] to output entry {names.output}[f, {reached}], so by "
            "the chain rule ", Whole("grad_filter"),
            f"[c, f, {weight}] = {'Σ_j' if one else 'Σ_i Σ_j'} {names.input}[c, {entry}]·",
            Whole("grad_output"), f"[f, {reached}]. Each weight meets, in ",
            Whole("padded_grad"), f" (padded by {axes(layer.padding, one)}), a window of the "
            f"input's shape with its taps {axes(layer.stride, one)} apart, and the sum is that "
            "window times the input.",
        ))),
        *b.left_out(padding=any(layer.padding), masked=bool(b.masked.any()),
                    padding_of="gradient"),
        *(b.explain(b.shown(grids, s.padded_grad.shape)) if any(layer.padding) else []),
        *b.work_out("grad_filter", equation, f"entries of {b.d_by('filter')}"),
        *b.answer(b.show((Whole("grad_filter"),), s.grad_filter, "filter",
                         approximate=approximate)),
    ))


def grad_input(b: NumericBuilder) -> Step:
    """dL/dX[c,i,j] = Σ_f Σ_m Σ_n dL/dZpad[f, i·s + m·d, j·s + n·d]·K[c,f,m,n]."""
    s, layer = b.s, b.layer
    assert s.grad_input is not None and s.padded_grad is not None
    grad = s.grad_input
    (sh, sw), (ph, pw), (dh, dw) = layer.stride, layer.padding, layer.dilation
    (kh, kw), filters = layer.kernel_size, layer.group_filters
    oh, ow = layer.output_size
    approximate = b.approximate("grad_input")
    grids = tuple(_padded_grad_matrices(b))
    names = layer.notation
    g_num = b.nodes.nums(s.padded_grad, b.approximate("grad_conv"))

    def equation(e: Index) -> Equation:
        c, i, j = e
        symbolic: list[Expr] = []
        numeric: list[Expr] = []
        for f in layer.filters_of(c):
            sym: list[Expr] = []
            num: list[Expr] = []
            weight = f % layer.group_filters
            for m in range(kh):
                for n in range(kw):
                    row, col = i * sh + m * dh, j * sw + n * dw
                    y, x = row - ph, col - pw
                    if not (0 <= y < oh and 0 <= x < ow) or b.masked[f, y, x]:
                        continue
                    sym.append(Mul((b.g_sym[f, y, x], b.k_sym[c, weight, m, n])))
                    num.append(Mul((g_num[f, row, col], b.k_num[c, weight, m, n])))
            if filters == 1:
                symbolic, numeric = sym, num
            elif sym:
                symbolic.append(Group(Add(tuple(sym)), square=True))
                numeric.append(Group(Add(tuple(num)), square=True))
        forms = sums(symbolic, numeric)
        if forms and filters > 1 and s.filter_parts is not None:
            forms = (*forms, Add(tuple(b.num(s.filter_parts[f, c, i, j])
                                       for f in layer.filters_of(c))))
        return Equation(b.sym("grad_input", e), forms, grad[e], ("grad_input", e),
                        geometry.window((i * sh, j * sw), (kh, kw), layer.dilation), grids,
                        approximate)

    one = layer.layout.one_row
    weight, entry, reached = _indices(one)
    return Step("grad_input", "Gradient with respect to the input", (
        *b.explain(Text((
            "The transposed convolution's input gradient is an ordinary convolution: "
            f"input entry {names.input}[c, {entry}] reached output entries {names.output}[f, "
            f"{reached}] through weight {names.filter}[c, f, {weight}], so ",
            Whole("grad_input"),
            " = ", Call("conv", (Whole("padded_grad"), Whole("filter"))),
            ", the correlation of ", Whole("grad_output"), " padded by "
            f"{axes(layer.padding, one)} with the kernel itself (not rotated), stride "
            f"{axes(layer.stride, one)}",
            *((f", taps {axes(layer.dilation, one)} apart",) if layer.dilation != (1, 1)
              else ()),
            *((", summed over the output channels f",) if filters > 1 else ()),
            ".",
        ))),
        *b.left_out(padding=any(layer.padding), masked=bool(b.masked.any()),
                    padding_of="gradient"),
        *b.work_out("grad_input", equation, f"entries of {b.d_by('input')}"),
        *b.answer(b.show((Whole("grad_input"),), s.grad_input, "input",
                         approximate=approximate)),
    ))
