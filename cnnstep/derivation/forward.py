"""Step: the forward pass, Z[f,i,j] = Σ_c Σ_m Σ_n Xpad[c, i·sh+m, j·sw+n]·K[f,c,m,n] + B[f].

Each output entry is worked as the products of its window of the (padded)
input with the kernel; terms with padding zeros are left out. With several
channels the sum is written channel by channel, one bracket each, and then
the channels' sums (the engine's ``channel_parts``) are added, as a course
adds the channels' maps. With groups, filter f sums only the C/groups channels
of its group's block, ``Z[f] = Σ_{c in group} Xpad[c] ⋆ K[f, c − first] + B[f]``.

In mode "convolution" (a true convolution) the kernel is flipped first:
Z[f,i,j] = Σ_c Σ_m Σ_n Xpad[c, i·sh+m·dh, j·sw+n·dw]·K[f,c,kh−1−m,kw−1−n] + B[f], so
rot180(K) is drawn and each window meets its entries.
"""

from __future__ import annotations

from cnnstep import engine, geometry
from cnnstep.derivation.builder import Index
from cnnstep.derivation.nodes import (
    Add,
    Block,
    Call,
    Equation,
    Expr,
    Group,
    Matrix,
    Mul,
    Sigma,
    Step,
    Sym,
    Text,
    Whole,
)
from cnnstep.derivation.numeric import NumericBuilder
from cnnstep.derivation.words import group_words

#: a symbolic form of more products than this is written for the first entry only;
#: the windows show which inputs the others use
SYMBOLIC_TERMS = 16


def sum_forms(b: NumericBuilder, f: int, at: tuple[int, int],
              terms: list[tuple[list[Expr], list[Expr]]], shorten: bool) -> tuple[Expr, ...]:
    """The forms of Z[f] at ``at`` from each channel's products (symbols, numbers): one
    square bracket per channel when there are several, then the channels' sums (the
    engine's ``channel_parts``) added, each with the bias; ``shorten`` leaves out the
    symbolic form (the windows show which inputs an entry uses)."""
    p, s = b.p, b.s
    channels = len(terms)
    symbolic: list[Expr] = []
    numeric: list[Expr] = []
    for sym, num in terms:
        if channels == 1:
            symbolic, numeric = list(sym), list(num)
        elif sym:
            symbolic.append(Group(Add(tuple(sym)), square=True))
            numeric.append(Group(Add(tuple(num)), square=True))
    parts: list[Expr] = []
    if channels > 1:
        assert s.channel_parts is not None
        parts = [b.num(s.channel_parts[(f, c, *at)]) for c in range(channels)]
    if p.bias is not None:
        bias = b.num(p.bias[f])
        symbolic.append(b.sym("bias", (f,)))
        numeric.append(bias)
        parts.append(bias)
    forms: list[Expr] = [Add(tuple(symbolic)), Add(tuple(numeric))] if symbolic else []
    if forms and shorten:
        forms = forms[1:]
    if len(parts) > 1:
        forms.append(Add(tuple(parts)))
    return tuple(forms)


def step(b: NumericBuilder) -> Step:
    p, s = b.p, b.s
    grids = tuple(b.padded_matrices)
    channels = p.layer.group_channels  # the channels each filter sees
    kh, kw = p.kernel_size
    every_symbolic = channels * kh * kw <= SYMBOLIC_TERMS
    written: list[Index] = []
    flipped = b.layer.flipped
    # the kernel each window meets: K, or rot180(K) for a true convolution
    k_sym = engine.rotate180(b.k_sym) if flipped else b.k_sym
    k_num = engine.rotate180(b.k_num) if flipped else b.k_num

    def seen_grids(f: int) -> tuple[Matrix, ...]:
        """The input's channels filter ``f`` reads: all of them, or its group's block."""
        if b.layer.groups == 1 or len(grids) == 1:
            return grids
        return tuple(grids[c] for c in b.layer.channels_of(f))

    def equation(e: Index) -> Equation:
        f, i, j = e
        rows, cols = geometry.conv_slices(b.layer, i, j)
        terms: list[tuple[list[Expr], list[Expr]]] = []
        for c, seen in enumerate(b.layer.channels_of(f)):
            sym: list[Expr] = []
            num: list[Expr] = []
            for x, k, xv, kv in zip(b.x_sym[seen, rows, cols].flat, k_sym[f, c].flat,
                                    b.x_num[seen, rows, cols].flat, k_num[f, c].flat,
                                    strict=True):
                if x is not None:  # terms with padding zeros are left out
                    sym.append(Mul((x, k)))
                    num.append(Mul((xv, kv)))
            terms.append((sym, num))
        forms = sum_forms(b, f, (i, j), terms, not every_symbolic and bool(written))
        written.append(e)
        return Equation(b.sym("output", e), forms, s.conv[e], (b.z_key, e),
                        geometry.conv_window(b.layer, i, j), seen_grids(f))

    kernel: Expr = Call("rot180", (Whole("filter"),)) if flipped else Whole("filter")
    rule: list[str | Expr] = [
        Whole("output"), " = ",
        Add((Call("conv", (Whole("input"), kernel)),
             *((Whole("bias"),) if p.bias is not None else ()))),
    ]
    if b.layer.groups > 1:
        words: tuple[str | Expr, ...] = (
            *group_words(b.layer), ". Each filter's kernel slides over "
            + ("its own channel only" if b.layer.depthwise
               else "its group's one channel only" if channels == 1
               else "its own group's channels only"), *((
                "; each bracket below is one channel's sum of products, and the "
                f"{channels} channels' sums of the group are then added",)
                if channels > 1 else ()),
            *((", with the bias",) if p.bias is not None else ()),
            ": ", *rule, ".",
            *(() if every_symbolic else (
                " The symbols are written out for the first entry; the others use their own "
                "windows the same way.",)))
    elif channels == 1:
        words = (
            "Each output entry is the sum of the products of its window of ", Whole("input"),
            " with the kernel ", kernel,
            *((", plus the bias ", Whole("bias")) if p.bias is not None else ()),
            ": ", *rule, ".")
    else:
        words = (
            f"Channel c of the kernel slides over channel c of the input. Each bracket "
            f"below is one channel's sum of products; the {channels} channels' sums are "
            "then added", *((", with the bias",) if p.bias is not None else ()),
            ": ", *rule, ".",
            *(() if every_symbolic else (
                " The symbols are written out for the first entry; the others use their own "
                "windows the same way.",)))
    if b.layer.layout.one_row:
        words = (*words, *one_axis(b))
    first = next(iter(b.entries(b.z_key)), None)
    flip: list[Block] = []
    if flipped:
        flip = [Text(('Mode "convolution": a true convolution flips the kernel, so the windows '
                      "meet ", kernel, ", the kernel rotated by 180° (its last entry first), "
                      "not ", Whole("filter"), " as it is; the layer is then the "
                      "cross-correlation with ", kernel, ".")),
                *b.show((kernel,), engine.rotate180(p.filter), "filter")]
    return Step("forward", "Forward pass", (
        *b.explain(*flip, Text(words)),
        *b.work_out(b.z_key, equation, "output entries", example=first),
        *b.answer(b.show((Whole("output"),), s.conv, "output")),
    ))



def one_axis(b: NumericBuilder) -> tuple[str | Expr, ...]:
    """A 1-D layer's forward pass as a course writes it, with one index:
    Z_i = Σ_m X_(i·s + m)·K_m + B counting from 0, Z_i = Σ_m X_((i−1)·s + m)·K_m + B
    counting from 1 (Σ_c Σ_m over several channels, f for a filter)."""
    layer = b.layer
    dilated = layer.dilation != (1, 1)
    if b.p.notation.index_base == 0:
        tap = "i·s + m·d" if dilated else "i·s + m"
    else:  # i and m from 1: the first window's first tap is X_1
        tap = "(i−1)·s + (m−1)·d + 1" if dilated else "(i−1)·s + m"
    several = layer.channels > 1
    body = Mul((Sym("input", ("c", 0, tap)), Sym("filter", ("f", "c", 0, "m"))))
    total: Expr = Sigma("c,m" if several else "m", body)
    if b.p.bias is not None:
        total = Add((total, Sym("bias", ("f",))))
    settings = f"s = {layer.stride[1]}" + (f", d = {layer.dilation[1]}"
                                          if layer.dilation != (1, 1) else "")
    return (" Along the signal's one axis: ", Sym("output", ("f", 0, "i")), " = ", total,
            f", with {settings}" + (", over the padded signal." if layer.padded
                                   else "."))
