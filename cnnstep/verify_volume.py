"""An independent check of the 3-D engine: the loss differentiated directly, exactly.

:mod:`cnnstep.volume` slides each kernel tap over the padded volume and finds
dL/dX as a full convolution of the rotated kernel. None of that is used here:
the layer is written out from its definition, one term at a time,

    Z[f,i,j,l] = B[f] + Σ_{c,a,b,e} X[c, r, q, u]·K[f,c,a,b,e]

with r = i·sd + a·dd − pd, q = j·sh + b·dh − ph, u = l·sw + e·dw − pw (pd, ph,
pw the zeros in front, above and left; a term whose input entry falls in the
padding holds nothing), c over the channels of f's group, and the kernel's
taps counted from the far end (kd − 1 − a, …) in mode "convolution"; then the
loss, and the
chain rule written from the same terms, each adding its part:

    ∂L/∂K[f,c,a,b,e] += ∂L/∂Z[f,i,j,l]·X[c,r,q,u]
    ∂L/∂X[c,r,q,u]   += ∂L/∂Z[f,i,j,l]·K[f,c,a,b,e]
    ∂L/∂B[f]          = Σ_{i,j,l} ∂L/∂Z[f,i,j,l]

The chain rule is checked in turn as :mod:`cnnstep.verify` checks a 2-D
layer's: L(θ + t·v) is a polynomial of degree at most 4 in t (Z is bilinear in
X and K, the loss at most quadratic in Z), so its derivative at t = 0 is
exactly (L(θ − 2v) − 8·L(θ − v) + 8·L(θ + v) − L(θ + 2v))/12, which must equal
⟨∇L, v⟩ for random exact directions v and a coordinate direction of each of X,
K and B, each activation's branch and each max or min pool's winner held as
they are at the problem's numbers (so that A and P stay linear in Z): sigmoid
and tanh replaced by their tangent there, to :data:`cnnstep.verify.DIGITS`
digits, and everything after them then agreeing to 1e-9 rather than exactly.
With ``grad_output`` given, L = Σ G·P (P the last stage).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from cnnstep import budget
from cnnstep import volume as engine
from cnnstep.problem import Array, Volume
from cnnstep.verify import Check, InconsistentGradient, Mismatch, TooLarge, sigmoid, tanh

#: how near the engine's values after float sigmoid or tanh must be, relative to size
TOLERANCE = Fraction(1, 10**9)

#: more terms X·K than this and the direct route would take about ten seconds
MAX_TERMS = 300_000
#: random directions besides one coordinate direction of each of X, K and B
DIRECTIONS = 2

#: one term of Z: (f, output index, input channel, the kernel entry, input index)
Term = tuple[int, tuple[int, ...], int, tuple[int, ...], tuple[int, ...]]


@dataclass(frozen=True)
class Weights:
    """The numbers θ the loss depends on, full layout, object arrays of Fractions."""

    x: Array
    k: Array
    b: Array | None

    def moved(self, v: Weights, t: int) -> Weights:
        """θ + t·v."""
        return Weights(self.x + v.x * t, self.k + v.k * t,
                       None if self.b is None or v.b is None else self.b + v.b * t)


def terms(volume: Volume) -> list[Term]:
    """Every term of every output entry whose input entry is inside the input: filter
    f reads the channels of its group (the c-th of them is its kernel's channel c),
    and in mode "convolution" tap (a, b, e) weighs by K[f, c, kd−1−a, kh−1−b, kw−1−e].
    A transposed layer's are its scatter sum's (:func:`scattered`)."""
    if volume.transposed:
        return scattered(volume)
    filters = volume.filter.shape[0]
    sizes = volume.filter.shape[2:]
    size = volume.input.shape[1:]
    front = volume.sides[0]
    out: list[Term] = []
    for o in itertools.product(*(range(n) for n in volume.output_size)):
        for tap in itertools.product(*(range(k) for k in sizes)):
            at = tuple(i * s + a * d - p for i, a, s, d, p in
                       zip(o, tap, volume.stride, volume.dilation, front, strict=True))
            if not all(0 <= r < n for r, n in zip(at, size, strict=True)):
                continue
            weight = (tuple(k - 1 - a for k, a in zip(sizes, tap, strict=True))
                      if volume.mode == "convolution" else tap)
            for f in range(filters):
                for local, c in enumerate(volume.channels_of(f)):
                    out.append((f, o, c, (f, local, *weight), at))
    return out


def scattered(volume: Volume) -> list[Term]:
    """Every term of a transposed layer (conv_transpose3d): input entry X[c, i, j, l]
    times weight K[c, f', a, b, e] lands on Z[f, i·sd − pd + a·dd, j·sh − ph + b·dh,
    l·sw − pw + e·dw] when that is inside the output, f the f'-th output channel of
    c's group."""
    per_c = volume.input.shape[0] // volume.groups
    per_f = volume.filters // volume.groups
    out: list[Term] = []
    for c in range(volume.input.shape[0]):
        for at in itertools.product(*(range(n) for n in volume.input.shape[1:])):
            for tap in itertools.product(*(range(k) for k in volume.filter.shape[2:])):
                o = tuple(i * s - p + a * d for i, a, s, d, p in
                          zip(at, tap, volume.stride, volume.dilation, volume.padding,
                              strict=True))
                if not all(0 <= r < n for r, n in zip(o, volume.output_size, strict=True)):
                    continue
                for local in range(per_f):
                    out.append((c // per_c * per_f + local, o, c, (c, local, *tap), at))
    return out


def output(volume: Volume, theta: Weights, every: list[Term]) -> Array:
    """Z, term by term."""
    z = np.full((volume.filters, *volume.output_size), Fraction(0), dtype=object)
    if theta.b is not None:
        for f in range(z.shape[0]):
            z[f] = theta.b[f]
    for f, o, c, weight, at in every:
        z[(f, *o)] += theta.x[(c, *at)] * theta.k[weight]
    return z


def loss(volume: Volume, z: Array) -> Fraction:
    """The loss of Z: mse, sse or half_sse against the target; Σ G·Z for a given G."""
    if volume.target is None:
        assert volume.grad_output is not None
        return sum((g * v for g, v in zip(volume.grad_output.flat, z.flat, strict=True)),
                   Fraction(0))
    total = sum(((v - y) ** 2 for v, y in zip(z.flat, volume.target.flat, strict=True)),
                Fraction(0))
    n = z.size * volume.loss_images  # one volume of a batch: the mean over all of them
    return {"mse": total / n, "sse": total, "half_sse": total / 2}[volume.loss]


#: f′(Z) and the offset f(Z₀) − f′(Z₀)·Z₀ of the activation's tangent at Z₀
Held = tuple[Array, Array]


def slopes(volume: Volume, z: Array) -> Held | None:
    """The activation's tangent at Z, entry by entry: 1 where Z > 0, else 0 (ReLU) or
    the slope (leaky ReLU), as PyTorch at 0, with no offset; sigmoid and tanh to
    :data:`cnnstep.verify.DIGITS` digits. None without an activation."""
    activation = volume.activation
    if activation is None:
        return None
    slope, offset = np.empty(z.shape, dtype=object), np.empty(z.shape, dtype=object)
    if activation.exact:
        below = Fraction(0) if activation.kind == "relu" else activation.slope
        slope.flat[:] = [Fraction(1) if v > 0 else below for v in z.flat]
        offset.flat[:] = [Fraction(0)] * z.size
        return slope, offset
    f = sigmoid if activation.kind == "sigmoid" else tanh
    values = [f(v) for v in z.flat]
    slope.flat[:] = [a * (1 - a) if activation.kind == "sigmoid" else 1 - a * a
                     for a in values]
    offset.flat[:] = [a - d * v for a, d, v in zip(values, slope.flat, z.flat, strict=True)]
    return slope, offset


def activated(z: Array, held: Held | None) -> Array:
    """A on the activation's tangent held at the problem's numbers: ReLU and leaky
    ReLU are linear on each side of 0, so this is f(Z) itself; for sigmoid and tanh
    it is f(Z) at the point the tangent touches."""
    if held is None:
        return z
    out: Array = z * held[0] + held[1]
    return out


def through(grad: Array, held: Held | None) -> Array:
    """dL/dZ = dL/dA ⊙ f′(Z)."""
    if held is None:
        return grad
    out: Array = grad * held[0]
    return out


def rounded(volume: Volume) -> bool:
    """Whether float sigmoid or tanh made the engine's later values approximate."""
    return volume.activation is not None and not volume.activation.exact


def agree(volume: Volume, found: Fraction, direct: Fraction, key: str = "") -> bool:
    """Exactly equal, or to 1e-9 of the value after float sigmoid or tanh (Z, before
    it, exactly)."""
    if not rounded(volume) or key == "conv":
        return found == direct
    return abs(found - direct) <= TOLERANCE * max(Fraction(1), abs(direct))


#: each pooled entry's reads: (input entry, weight); max and min keep the winner
#: alone, held as it is at the problem's numbers
Routes = dict[tuple[int, ...], list[tuple[tuple[int, ...], Fraction]]]


def pool_routes(volume: Volume, a: Array) -> Routes | None:
    """The pool written from its definition: window o of map f reads A[f, o·s − p + t·d]
    for each tap t inside the input; a mean weighs each by 1/divisor (its taps inside
    the padded input, or its entries without count_include_pad), max and min the first
    extreme by 1. In ceil mode the size is ⌈…⌉, less one where the last window would
    start in the padding."""
    pool = volume.pool
    if pool is None:
        return None
    routes: Routes = {}
    out = []
    for n, p, k, s, d in zip(a.shape[1:], pool.padding, pool.size, pool.stride,
                             pool.dilation, strict=True):
        reach = n + 2 * p - d * (k - 1) - 1
        count = (-(-reach // s) if pool.ceil_mode else reach // s) + 1
        out.append(count - 1 if pool.ceil_mode and (count - 1) * s >= n + p else count)
    for f in range(a.shape[0]):
        for o in itertools.product(*(range(n) for n in out)):
            reads, taps = [], 0
            for t in itertools.product(*(range(k) for k in pool.size)):
                at = tuple(i * s - p + u * d for i, s, p, u, d in
                           zip(o, pool.stride, pool.padding, t, pool.dilation, strict=True))
                if all(r < n + p for r, n, p in zip(at, a.shape[1:], pool.padding,
                                                    strict=True)):
                    taps += 1
                if all(0 <= r < n for r, n in zip(at, a.shape[1:], strict=True)):
                    reads.append((f, *at))
            if pool.kind == "mean":
                routes[(f, *o)] = [(r, Fraction(1, taps if pool.count_include_pad
                                                else len(reads))) for r in reads]
            else:
                values = [a[r] for r in reads]
                best = values.index(max(values) if pool.kind == "max" else min(values))
                routes[(f, *o)] = [(reads[best], Fraction(1))]
    return routes


def pooled(a: Array, routes: Routes | None) -> Array:
    """P = Σ weight·A over each window's routes (A itself without a pool)."""
    if routes is None:
        return a
    first = next(iter(routes))
    shape = (a.shape[0], *(max(o[k] for o in routes) + 1 for k in range(1, len(first))))
    out = np.full(shape, Fraction(0), dtype=object)
    for o, reads in routes.items():
        out[o] = sum((w * a[r] for r, w in reads), Fraction(0))
    return out


def unpooled(g: Array, shape: tuple[int, ...], routes: Routes | None) -> Array:
    """∂L/∂A from ∂L/∂P: each window's gradient times each route's weight."""
    if routes is None:
        return g
    out = np.full(shape, Fraction(0), dtype=object)
    for o, reads in routes.items():
        for r, w in reads:
            out[r] += w * g[o]
    return out


def dz(volume: Volume, z: Array) -> Array:
    """∂L/∂(the last stage), from the loss's definition."""
    if volume.target is None:
        assert volume.grad_output is not None
        return volume.grad_output.copy()
    n = z.size * volume.loss_images
    factor = {"mse": Fraction(2, n), "sse": Fraction(2), "half_sse": Fraction(1)}
    grad: Array = (z - volume.target) * factor[volume.loss]
    return grad


def backward(volume: Volume, theta: Weights, every: list[Term], g: Array) -> dict[str, Array]:
    """∂L/∂K, ∂L/∂B and ∂L/∂X, term by term from ∂L/∂Z."""
    gk = np.full(theta.k.shape, Fraction(0), dtype=object)
    gx = np.full(theta.x.shape, Fraction(0), dtype=object)
    for f, o, c, weight, at in every:
        gk[weight] += g[(f, *o)] * theta.x[(c, *at)]
        gx[(c, *at)] += g[(f, *o)] * theta.k[weight]
    out = {"grad_filter": gk, "grad_input": gx}
    if theta.b is not None:
        out["grad_bias"] = np.array([sum(g[f].flat, Fraction(0)) for f in range(g.shape[0])],
                                    dtype=object)
    return out


def directions(theta: Weights, seed: int = 0) -> Iterator[Weights]:
    """A coordinate direction of each of X, K and B, then random small exact ones."""
    rng = random.Random(seed)

    def zero(a: Array) -> Array:
        return np.full(a.shape, Fraction(0), dtype=object)

    def drawn(a: Array) -> Array:
        out = np.empty(a.shape, dtype=object)
        out.flat[:] = [Fraction(rng.randint(-3, 3), rng.choice((1, 2, 4))) for _ in range(a.size)]
        return out

    bias = None if theta.b is None else zero(theta.b)
    for which in ("x", "k", "b"):
        v = Weights(zero(theta.x), zero(theta.k), None if bias is None else zero(bias))
        chosen = getattr(v, which)
        if chosen is None:
            continue
        chosen.flat[rng.randrange(chosen.size)] = Fraction(1)
        yield v
    for _ in range(DIRECTIONS):
        yield Weights(drawn(theta.x), drawn(theta.k), None if bias is None else drawn(bias))


def consistent(volume: Volume, theta: Weights, every: list[Term],
               gradients: Mapping[str, Array]) -> None:
    """Raise :class:`InconsistentGradient` unless ⟨∇L, v⟩ is the exact directional
    derivative of L along every one of :func:`directions`."""
    z0 = output(volume, theta, every)
    held = slopes(volume, z0)
    routes = pool_routes(volume, activated(z0, held))

    def at(v: Weights, t: int) -> Fraction:
        a = activated(output(volume, theta.moved(v, t), every), held)
        return loss(volume, pooled(a, routes))

    for v in directions(theta):
        parts = [(gradients["grad_input"], v.x), (gradients["grad_filter"], v.k)]
        if v.b is not None:
            parts.append((gradients["grad_bias"], v.b))
        inner = sum((sum((g * d for g, d in zip(grad.flat, move.flat, strict=True)),
                         Fraction(0)) for grad, move in parts), Fraction(0))
        along = (at(v, -2) - 8 * at(v, -1) + 8 * at(v, 1) - at(v, 2)) / 12
        if not agree(volume, inner, along):
            raise InconsistentGradient(
                f"direct differentiation: ⟨∇L, v⟩ = {inner} but dL(θ + t·v)/dt = {along} "
                "along a direction v; the verifier is at fault")


def compare(key: str, label: str, how: str, direct: Array | Fraction, found: Any,
            volume: Volume) -> Check:
    """A quantity found here against the engine's, entry by entry."""
    if rounded(volume) and key != "conv":
        how += ", to 1e-9 (floating point)"
    if isinstance(direct, Fraction):
        ok = agree(volume, found, direct)
        return Check(key, label, 1, () if ok else (Mismatch(key, found, direct),), how)
    mismatches = tuple(Mismatch(engine.entry_text(key, index, volume), found[index], value)
                       for index, value in np.ndenumerate(direct)
                       if not agree(volume, found[index], value, key))
    return Check(key, label, direct.size, mismatches, how)


def verify_volume(volume: Volume,
                  solve: Callable[[Volume], Mapping[str, Any]] | None = None, *,
                  max_work: int | None = None) -> list[Check]:
    """Compare ``solve(volume)`` (the engine's, by default) with the layer written out
    from its definition: the output and the loss by direct evaluation, dL/dK, dL/dB
    and dL/dX by direct differentiation of the loss. Raises :class:`TooLarge` beyond
    :data:`MAX_TERMS` terms, before any work."""
    # a transposed layer's terms: one per input entry and weight that reaches the output
    count = volume.filter.size * int(np.prod(volume.input.shape[1:] if volume.transposed
                                             else volume.output_size))
    if count > MAX_TERMS:
        raise TooLarge(f"--verify: the 3-D layer has {count} products in its output; direct "
                       f"differentiation is limited to {MAX_TERMS}")
    budget.check_volume(volume, max_work)
    found = (solve or engine.arrays)(volume)
    theta = Weights(volume.input, volume.filter, volume.bias)
    every = terms(volume)
    z = output(volume, theta, every)
    held = slopes(volume, z)
    a = activated(z, held)
    routes = pool_routes(volume, a)
    p = pooled(a, routes)
    n = volume.notation
    how = "direct evaluation"
    layered = held is not None or routes is not None
    checks = [compare("conv" if layered else "output", n.output, how, z,
                      found.get("conv", found["output"]), volume)]
    if not volume.convolution:  # a layer alone: its first stage reads the input itself
        checks = []
    if held is not None:
        checks.append(compare("activated", "A", how, a, found["activated"], volume))
    if routes is not None:
        checks.append(compare("pooled", "P", how, p, found["pooled"], volume))
    if volume.target is not None:
        checks.append(compare("loss", n.loss, how, loss(volume, p), found["loss"], volume))
    if not volume.has_gradients:
        return checks
    gradient = unpooled(dz(volume, p), a.shape, routes)
    gradients = backward(volume, theta, every,
                         through(gradient, held))
    consistent(volume, theta, every, gradients)
    how = "direct differentiation"
    if volume.convolution:  # a layer alone has no weights
        checks.append(compare("grad_filter", f"d{n.loss}/d{n.filter}", how,
                              gradients["grad_filter"], found["grad_filter"], volume))
    if "grad_bias" in gradients:
        checks.append(compare("grad_bias", f"d{n.loss}/d{n.bias}", how,
                              gradients["grad_bias"], found["grad_bias"], volume))
    checks.append(compare("grad_input", f"d{n.loss}/d{n.input}", how,
                          gradients["grad_input"], found["grad_input"], volume))
    if volume.steps > 1:
        checks.append(training(volume, theta, every))
    return checks


def gradient_step(volume: Volume, theta: Weights, every: list[Term]
                  ) -> tuple[Fraction, Weights]:
    """One training step by the direct route: the loss at θ, and θ after the update
    K − α·dL/dK, B − α·dL/dB (the input held)."""
    z = output(volume, theta, every)
    held = slopes(volume, z)
    a = activated(z, held)
    routes = pool_routes(volume, a)
    p = pooled(a, routes)
    g = unpooled(dz(volume, p), a.shape, routes)
    gradients = backward(volume, theta, every, through(g, held))
    rate = volume.learning_rate
    assert rate is not None
    bias = None if theta.b is None else theta.b - gradients["grad_bias"] * rate
    return loss(volume, p), Weights(theta.x, theta.k - gradients["grad_filter"] * rate, bias)


def training(volume: Volume, theta: Weights, every: list[Term]) -> Check:
    """The engine's history against every training step taken again by the direct
    route, each from the weights it reached itself, and the final loss."""
    rows, final = engine.training(volume)
    mismatches: list[Mismatch] = []
    entries = 0
    for k, row in enumerate(rows):
        step_loss, theta = gradient_step(volume, theta, every)
        direct: dict[str, Any] = {"loss": step_loss, "updated_filter": theta.k,
                                  "updated_bias": theta.b}
        for key, value in row.items():
            mine = direct[key]
            pairs = ([((), value, mine)] if isinstance(value, Fraction) else
                     [(i, v, mine[i]) for i, v in np.ndenumerate(value)])
            entries += len(pairs)
            where = f"history[{k}].{key}"
            mismatches += [Mismatch(where + "".join(f"[{j}]" for j in i), v, m)
                           for i, v, m in pairs if not agree(volume, v, m)]
    z = output(volume, theta, every)
    a = activated(z, slopes(volume, z))
    direct_final = loss(volume, pooled(a, pool_routes(volume, a)))
    if not agree(volume, final, direct_final):
        mismatches.append(Mismatch("final_loss", final, direct_final))
    return Check("history", "history", entries + 1, tuple(mismatches),
                 "direct differentiation at every step")
