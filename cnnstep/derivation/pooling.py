"""Steps: the pool over each channel, and back through it.

Max (min) pooling takes the first largest (smallest) entry of each window in
row-major order and sends the window's gradient there alone; mean pooling
averages the window and shares its gradient equally. Where windows overlap,
the gradients add up. Which entry wins and where each gradient goes come from
the engine (``winners``, :func:`~cnnstep.engine.pool_routes`).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from cnnstep import engine, geometry
from cnnstep.derivation import shapes
from cnnstep.derivation.builder import Index, Zeros, sums
from cnnstep.derivation.nodes import (
    Add,
    Call,
    Equation,
    Expr,
    Group,
    Infinity,
    Matrix,
    Mul,
    Ratio,
    Step,
    Text,
    Whole,
)
from cnnstep.derivation.numeric import NumericBuilder
from cnnstep.derivation.words import axes, dims
from cnnstep.problem import Array, Pool

#: what each pool picks from its window
PICKS = {"max": "largest", "min": "smallest", "mean": "mean"}


#: what each pool pads with: never the largest (smallest), adding nothing to a sum
FILLS = {"max": "−∞", "min": "+∞", "mean": "0"}


def padded_maps(b: NumericBuilder, role: str, values: Array, approximate: bool
                ) -> list[Matrix]:
    """The pool's input, one matrix per channel; with pool padding, framed by it (−∞,
    +∞ or 0), shown apart from the data as the convolution's padding is."""
    pool = b.layer.pool
    assert pool is not None
    if not any(pool.padding):
        return b.matrices((Whole(role),), values, "output", approximate=approximate)
    (ph, pw), (channels, h, w) = pool.padding, values.shape
    framed = np.empty((channels, h + 2 * ph, w + 2 * pw), dtype=object)
    framed.fill(Fraction(0) if pool.kind == "mean" else Infinity(pool.kind == "max"))
    framed[:, ph : ph + h, pw : pw + w] = values
    return b.matrices((Whole(role), " (padded)"), framed, "output",
                      approximate=approximate, border=pool.padding)


def _settings(pool: Pool, one_row: bool = False) -> str:
    """The pool's window and stride, and its padding and dilation where it has them
    (one value each in a 1-D layer)."""
    size = f"{pool.size[1]}-entry" if one_row else dims(pool.size)
    words = f"a {size} window and stride {axes(pool.stride, one_row)}"
    if any(pool.padding):
        fill = "zeros" if pool.kind == "mean" else FILLS[pool.kind]
        words += f", padding {axes(pool.padding, one_row)} of {fill}"
    if pool.dilation != (1, 1):
        dilation = axes(pool.dilation, one_row)
        words += (f", dilation {dilation} (its taps {dilation} apart, the "
                  + ("entries" if one_row else "rows and columns") + " between them skipped)")
    return words + (", ceil mode" if pool.ceil_mode else "")


def _padding_words(pool: Pool) -> tuple[str, ...]:
    """What the derivation does with the padding's entries, once."""
    if not any(pool.padding) and not pool.ceil_mode:
        return ()
    if pool.kind == "mean":
        divisor = ("its whole window, the padding included (count_include_pad)"
                   if pool.count_include_pad else
                   "the entries inside the input alone (count_include_pad false)")
        return (" The padding's zeros add nothing and are left out of the sums; each "
                f"window is divided by {divisor}, stated with it.",)
    word = PICKS[pool.kind]
    return (f" The padding's {FILLS[pool.kind]} is never the {word} entry: it is left out "
            f"of each {pool.kind}, and gets no gradient.",) if any(pool.padding) else ()


def step(b: NumericBuilder) -> Step:
    """P[f,i,j] = max / min / mean of its window of A (or Z, or X for a layer alone)."""
    s, pool = b.s, b.layer.pool
    assert pool is not None and s.pooled is not None
    pooled = s.pooled
    sh, sw = pool.stride
    role = b.pool_input_role
    values = s.pool_input
    approximate = b.approximate("activated") if role == "activated" else False
    maps = padded_maps(b, role, values, approximate)
    word = PICKS[pool.kind]

    def equation(e: Index) -> Equation:
        f, i, j = e
        cells = geometry.pool_cells(pool, f, i, j)
        syms = tuple(b.sym(role, c) for c in cells)
        nums = tuple(b.num(values[c], approximate) for c in cells)
        note: tuple[str | Expr, ...] = ()
        if pool.kind == "mean":
            divisor = geometry.pool_divisor(pool, i, j)
            share = Ratio(1, divisor)
            forms: tuple[Expr, ...] = (Mul((share, Group(Add(syms)))),
                                       Mul((share, Group(Add(nums)))))
            note = _divisor_note(pool, i, j, len(cells), divisor)
        else:
            forms = (Call(pool.kind, syms), Call(pool.kind, nums))
            assert s.winners is not None
            winner = cells[int(s.winners[e])]
            ties = [c for c in cells if values[c] == values[winner]]
            note = (f"({word}: ", b.sym(role, winner), ")") if len(ties) == 1 else (
                f"({len(ties)} entries tie; the first in row-major order, ",
                b.sym(role, winner), ", counts)")
        return Equation(b.sym("pooled", e), forms, pooled[e], ("pooled", e),
                        geometry.pool_window(pool, i, j),
                        (maps[f] if len(maps) > 1 else maps[0],),
                        approximate=approximate, note=note)

    overlap = pool.span[0] > sh or pool.span[1] > sw
    return Step("pool", f"{pool.kind.capitalize()} pooling", (
        *b.explain(Text((
            f"{pool.kind.capitalize()} pooling with "
            f"{_settings(pool, b.layer.layout.one_row)}: each entry of ",
            Whole("pooled"), f" is the {word} of its window of ", Whole(role),
            ", channel by channel" + ("; the windows overlap." if overlap else "."),
            *_padding_words(pool), " Its size:",
        ))),
        *shapes.pool_sizes(b),
        *(b.explain(b.shown(maps, (len(maps), *maps[0].values.shape)))
          if any(pool.padding) else []),
        *b.work_out("pooled", equation, "pooled entries"),
        *b.answer(b.show((Whole("pooled"),), pooled, "output", approximate=approximate)),
    ))


def _divisor_note(pool: Pool, i: int, j: int, entries: int, divisor: int
                  ) -> tuple[str | Expr, ...]:
    """Why a mean window is divided by what it is, when that is not its plain size."""
    taps = len(geometry.pool_window(pool, i, j).taps)
    whole = pool.size[0] * pool.size[1]
    if entries == divisor == whole:
        return ()
    if pool.count_include_pad:
        inside = f"{entries} inside the input, {taps - entries} of padding"
        partial = f"; {whole - taps} past the padded input do not count" if taps < whole else ""
        return (f"(divisor {divisor}: {inside}{partial})",)
    return (f"(divisor {divisor}: the entries inside the input)",)


def backward(b: NumericBuilder) -> Step:
    """dL/dA: each entry collects the gradient of the windows that route to it."""
    s, pool = b.s, b.layer.pool
    assert pool is not None and s.grad_output is not None
    grad_pooled = s.grad_output
    role = b.pool_input_role
    grad_role = "grad_activated" if role == "activated" else "grad_output"
    key = "grad_activated" if role == "activated" else b.dz_key
    grad = s.grad_activated if role == "activated" else s.grad_conv
    assert grad is not None
    approximate = b.approximate("grad_activated" if role == "activated" else "grad_conv")
    routes = engine.pool_routes(pool, grad_pooled.shape, s.winners)
    reached = [e for e in b.entries(key) if e in routes]
    picked = PICKS[pool.kind]
    divisors = {g: geometry.pool_divisor(pool, g[1], g[2]) for g in np.ndindex(*grad_pooled.shape)
                } if pool.kind == "mean" else {}

    def part(g: Index, value: Expr) -> Expr:
        return Mul((Ratio(1, divisors[g]), value)) if divisors else value

    def equation(e: Index) -> Equation:
        sources = routes.get((e[0], e[1], e[2]), [])
        symbolic = [part(g, b.sym("grad_pooled", g)) for g in sources]
        numeric = [part(g, b.num(grad_pooled[g], approximate)) for g in sources]
        forms = sums(symbolic, numeric)
        if len(symbolic) == 1 and not divisors:
            forms = forms[:1]  # ∂L/∂A₁₂ = ∂L/∂P₁₁ = 0.25: the number once
        return Equation(b.sym(grad_role, e), forms, grad[e], (key, e), approximate=approximate)

    if pool.kind == "mean":
        size = pool.size[0] * pool.size[1]
        same = len(set(divisors.values())) == 1 and size in divisors.values()
        rule = (f"each window shares its gradient equally: every entry of it gets 1/{size} of "
                if same else
                "each window shares its gradient equally: every entry of it gets 1/divisor "
                "of its window's ")
    else:
        rule = (f"the gradient of each window goes only to its {picked} entry (the one "
                "found above); the others get 0 from it. It comes from ")
    skipped = tuple(e for e in b.entries(key) if e not in routes)
    why = ("no pool window covers them." if pool.kind == "mean" else
           f"they are no window's {picked} entry.")
    padding = " The padding gets no gradient." if any(pool.padding) else ""
    return Step("pool_backward", "Back through the pool", (
        *b.explain(Text((
            "Back through the pool: ", rule, Whole("grad_pooled"),
            ". Where windows overlap, the parts add up." + padding,
        ))),
        *b.work_out(key, equation, "entries", example=reached[0] if reached else None,
                    zeros=[Zeros(skipped, (why,))]),
        *b.answer(b.show((Whole(grad_role),), grad, "output", approximate=approximate)),
    ))
