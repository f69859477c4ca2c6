"""Step: the gradient with respect to the kernel.

dL/dK[f,c,m,n] = Σ_i Σ_j dL/dZ[f,i,j]·Xpad[c, i·sh+m·dh, j·sw+n·dw]: each weight
touches every output entry, so dL/dK is the convolution of the (padded)
input with the (zero-inserted) dL/dZ, which slides over the input as a kernel.
In mode "convolution" the forward pass met weight (m, n) at the flipped place
(kh − 1 − m, kw − 1 − n) of each window, so dL/dK is that correlation rotated by
180°: dL/dK[f,c,m,n] = Σ_i Σ_j dL/dZ[f,i,j]·Xpad[c, i·sh+(kh−1−m)·dh, j·sw+(kw−1−n)·dw].
Each entry is worked on its window of the input: the taps weight (m, n) meets
(:func:`~cnnstep.geometry.reach`). Terms with a factor that is 0 by
construction (padding, the zeros inserted for the stride, entries of dL/dZ the
pool or the activation make 0) are left out, and the step says so. With
groups, filter f's channel c is input channel ``channels_of(f)[c]`` of its
group's block: each filter's gradient comes from its own block of X.
"""

from __future__ import annotations

from cnnstep import geometry
from cnnstep.derivation.builder import Index, Zeros, sums
from cnnstep.derivation.nodes import Block, Call, Equation, Expr, Mul, Step, Text, Whole
from cnnstep.derivation.numeric import NumericBuilder
from cnnstep.derivation.words import group_words, pair
from cnnstep.geometry import Window


def step(b: NumericBuilder) -> Step:
    s, layer = b.s, b.layer
    assert s.grad_conv is not None and s.grad_filter is not None
    grad = s.grad_filter
    approximate = b.approximate("grad_filter")
    grids = b.padded_matrices
    (sh, sw), (oh, ow) = layer.stride, layer.output_size
    dh, dw = layer.dilation
    padded = layer.padded

    def terms(e: Index) -> tuple[list[Expr], list[Expr], Window]:
        f, local, m, n = e
        c = layer.channels_of(f)[local]  # the input channel this weight meets
        m, n = tap(b, m, n)
        symbolic: list[Expr] = []
        numeric: list[Expr] = []
        taps = []
        for i in range(oh):
            for j in range(ow):
                row, col = m * dh + i * sh, n * dw + j * sw
                taps.append((row, col))
                x = b.x_sym[c, row, col]
                if x is None or b.masked[f, i, j]:
                    continue
                symbolic.append(Mul((b.g_sym[f, i, j], x)))
                numeric.append(Mul((b.g_num[f, i, j], b.x_num[c, row, col])))
        return symbolic, numeric, Window(tuple(taps))

    def equation(e: Index) -> Equation:
        symbolic, numeric, window = terms(e)
        c = layer.channels_of(e[0])[e[1]]
        return Equation(b.sym("grad_filter", e), sums(symbolic, numeric), grad[e],
                        ("grad_filter", e), window, (grids[c] if len(grids) > 1 else grids[0],),
                        approximate=approximate)

    entries = b.entries("grad_filter")
    empty = tuple(e for e in entries if not geometry_terms(b, e))
    source = Whole("padded_input") if padded else Whole("input")
    correlation: Expr = Call("conv", (source, b.dz_operand()))
    if layer.flipped:  # a true convolution: the correlation turned back
        correlation = Call("rot180", (correlation,))
    return Step("grad_filter", "Gradient with respect to the kernel", (
        *b.explain(Text((
            Whole("grad_filter"), " = ", correlation,
            ": each weight meets every output entry, so ", Whole("grad_output"),
            " slides over the input as a kernel, and each entry is the window of the input "
            "it covers times ", Whole("grad_output"),
            *((" (per filter and channel)",) if not b.compact else ()), ".",
            *((f" With dilation {dw}, weight m reads each window at {dw}·m: the taps are "
               "spaced by the dilation.",) if layer.dilation != (1, 1) and layer.layout.one_row
              else (f" With dilation {pair(layer.dilation)}, weight (m, n) reads each window "
                    f"at ({dh}·m, {dw}·n): the taps are spaced by the dilation.",)
              if layer.dilation != (1, 1) else ()),
            *((" With groups, each filter's gradient comes from its own group's channels "
               "of the input only; ", *group_words(layer), ".") if layer.groups > 1 else ()),
        )), *flip_words(b)),
        *b.left_out(padding=padded, inserted=layer.stride != (1, 1),
                    masked=bool(b.masked.any())),
        *b.work_out("grad_filter", equation, f"entries of {b.d_by('filter')}",
                    example=next((e for e in entries if e not in empty), None),
                    zeros=[Zeros(empty, ("every term has a factor that is 0 by "
                                         "construction.",))]),
        *b.explain(*before_rotation(b, source)),
        *b.answer(b.show((Whole("grad_filter"),), grad, "filter",
                         approximate=approximate)),
    ))


def tap(b: NumericBuilder, m: int, n: int) -> tuple[int, int]:
    """Where weight (m, n) sits in every window: (m, n), or the flipped place
    (kh − 1 − m, kw − 1 − n) in a true convolution."""
    if not b.layer.flipped:
        return m, n
    kh, kw = b.layer.kernel_size
    return kh - 1 - m, kw - 1 - n


def flip_words(b: NumericBuilder) -> list[Text]:
    """What a true convolution changes here: the flipped taps and the rotation back."""
    if not b.layer.flipped:
        return []
    kh, kw = b.layer.kernel_size
    last = 2 * b.base - 1  # m and its flipped place add up to kh − 1 + 2·base
    return [Text((
        'Mode "convolution": the forward pass met weight (m, n) at the flipped place '
        f"({kh + last} − m, {kw + last} − n) of each window (counting from {b.base}), so each "
        "entry below reads the input there, and ", Whole("grad_filter"), " is the "
        "correlation of the input with ", b.dz_operand(), " rotated by 180°.",
    ))]


def before_rotation(b: NumericBuilder, source: Expr) -> list[Block]:
    """A true convolution: the correlation itself, which rotated gives dL/dK."""
    if b.s.grad_flipped_filter is None:
        return []
    label = Call("conv", (source, b.dz_operand()))
    return [Text(("The correlation before the rotation, ", label, ", whose 180° rotation "
                  "is ", Whole("grad_filter"), ":")),
            *b.show((label,), b.s.grad_flipped_filter, "filter",
                    approximate=b.approximate("grad_filter"))]


def geometry_terms(b: NumericBuilder, e: Index) -> int:
    """How many terms entry ``e`` of dL/dK keeps: real input entries times entries of
    dL/dZ that are not 0 by construction."""
    f, local, m, n = e
    c = b.layer.channels_of(f)[local]
    rows, cols = geometry.reach(b.layer, *tap(b, m, n))
    return int((b.x_real[c, rows, cols] & ~b.masked[f]).sum())
