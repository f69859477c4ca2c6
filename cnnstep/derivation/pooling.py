"""Steps: the pool over each channel, and back through it.

Max (min) pooling takes the first largest (smallest) entry of each window in
row-major order and sends the window's gradient there alone; mean pooling
averages the window and shares its gradient equally. Where windows overlap,
the gradients add up. Which entry wins and where each gradient goes come from
the engine (``winners``, :func:`~cnnstep.engine.pool_routes`).
"""

from __future__ import annotations

from cnnstep import engine, geometry
from cnnstep.derivation import shapes
from cnnstep.derivation.builder import Index, Zeros, sums
from cnnstep.derivation.nodes import (
    Add,
    Call,
    Equation,
    Expr,
    Group,
    Mul,
    Ratio,
    Step,
    Text,
    Whole,
)
from cnnstep.derivation.numeric import NumericBuilder
from cnnstep.derivation.words import dims, pair

#: what each pool picks from its window
PICKS = {"max": "largest", "min": "smallest", "mean": "mean"}


def step(b: NumericBuilder) -> Step:
    """P[f,i,j] = max / min / mean of its window of A (or Z)."""
    s, pool = b.s, b.layer.pool
    assert pool is not None and s.pooled is not None
    pooled = s.pooled
    (kh, kw), (sh, sw) = pool.size, pool.stride
    role = b.pool_input_role
    values = s.pool_input
    approximate = b.approximate("activated") if role == "activated" else False
    maps = b.matrices((Whole(role),), values, "output", approximate=approximate)
    word = PICKS[pool.kind]

    def equation(e: Index) -> Equation:
        f, i, j = e
        cells = geometry.pool_cells(pool, f, i, j)
        syms = tuple(b.sym(role, c) for c in cells)
        nums = tuple(b.num(values[c], approximate) for c in cells)
        note: tuple[str | Expr, ...] = ()
        if pool.kind == "mean":
            share = Ratio(1, kh * kw)
            forms: tuple[Expr, ...] = (Mul((share, Group(Add(syms)))),
                                       Mul((share, Group(Add(nums)))))
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

    overlap = sh < kh or sw < kw
    return Step("pool", f"{pool.kind.capitalize()} pooling", (
        *b.explain(Text((
            f"{pool.kind.capitalize()} pooling with a {dims(pool.size)} window and stride "
            f"{pair(pool.stride)}: each entry of ", Whole("pooled"), f" is the {word} of "
            "its window of ", Whole(role), ", channel by channel"
            + ("; the windows overlap." if overlap else "."),
            " Its size:",
        ))),
        *shapes.pool_sizes(b),
        *b.work_out("pooled", equation, "pooled entries"),
        *b.answer(b.matrices((Whole("pooled"),), pooled, "output", approximate=approximate)),
    ))


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
    size = pool.size[0] * pool.size[1]
    routes = engine.pool_routes(pool, grad_pooled.shape, s.winners)
    reached = [e for e in b.entries(key) if e in routes]
    weight = (Ratio(1, size),) if pool.kind == "mean" else ()
    picked = PICKS[pool.kind]

    def equation(e: Index) -> Equation:
        sources = routes.get((e[0], e[1], e[2]), [])
        symbolic = [Mul((*weight, b.sym("grad_pooled", g))) if weight
                    else b.sym("grad_pooled", g) for g in sources]
        numeric = [Mul((*weight, b.num(grad_pooled[g], approximate))) if weight
                   else b.num(grad_pooled[g], approximate) for g in sources]
        forms = sums(symbolic, numeric)
        if len(symbolic) == 1 and not weight:
            forms = forms[:1]  # ∂L/∂A₁₂ = ∂L/∂P₁₁ = 0.25: the number once
        return Equation(b.sym(grad_role, e), forms, grad[e], (key, e), approximate=approximate)

    if pool.kind == "mean":
        rule = f"each window shares its gradient equally: every entry of it gets 1/{size} of "
    else:
        rule = (f"the gradient of each window goes only to its {picked} entry (the one "
                "found above); the others get 0 from it. It comes from ")
    skipped = tuple(e for e in b.entries(key) if e not in routes)
    why = ("no pool window covers them." if pool.kind == "mean" else
           f"they are no window's {picked} entry.")
    return Step("pool_backward", "Back through the pool", (
        *b.explain(Text((
            "Back through the pool: ", rule, Whole("grad_pooled"),
            ". Where windows overlap, the parts add up.",
        ))),
        *b.work_out(key, equation, "entries", example=reached[0] if reached else None,
                    zeros=[Zeros(skipped, (why,))]),
        *b.answer(b.matrices((Whole(grad_role),), grad, "output", approximate=approximate)),
    ))
