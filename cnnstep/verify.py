"""An independent check of the engine: the loss differentiated directly, in exact numbers.

The engine finds the gradients the way a course teaches them (rotate the
kernel, insert zeros, convolve). None of that route is used here, nor the
engine's windows: the layer is written out from its definition, every index
worked out in this module,

    Z[f,i,j] = Σ_{c,m,n} X[c, i·s_h + m − p_h, j·s_w + n − p_w] · K[f,c,m,n] + B[f]

(a term whose input entry falls in the padding holds nothing), then the
activation, the pool and the loss; and the loss is differentiated by the chain
rule written from the same sum, one pass over its terms, each adding its part:

    ∂L/∂K[f,c,m,n] += ∂L/∂Z[f,i,j] · X[c,r,q]
    ∂L/∂X[c,r,q]   += ∂L/∂Z[f,i,j] · K[f,c,m,n]
    ∂L/∂B[f]        = Σ_{i,j} ∂L/∂Z[f,i,j]

with r = i·s_h + m − p_h and q = j·s_w + n − p_w. The sums run over Python
integers, each array's numerators over its common denominator, so they are
exact and need no Fraction per term.

The chain rule is checked in turn by exact directional derivatives. With each
ReLU's branch and each max or min pool's winner held as they are at the
problem's numbers θ (sigmoid and tanh replaced by their tangent there, which
has the same derivative at θ), L(θ + t·v) is a polynomial in t of degree at
most 4 for any direction v of the inputs, weights and biases (Z is bilinear in
X and K, the loss at most quadratic in Z), so its derivative at t = 0 is
exactly

    dL(θ + t·v)/dt |₀ = (L(θ − 2v) − 8·L(θ − v) + 8·L(θ + v) − L(θ + 2v)) / 12,

found by evaluating the layer alone; it must equal ⟨∇L, v⟩ for a few random
exact directions and a coordinate direction of each of X, K and B. A
disagreement there is the verifier's own fault (:class:`InconsistentGradient`),
never blamed on the engine.

With ``grad_output`` given instead of a target, the loss is the linear form
L = Σ G·P (P the last stage) whose gradient with respect to P is that G.

The pool's windows are worked out here too (:func:`pooled_taps`): its padding
(−∞ for max, +∞ for min, 0 for mean) never wins and adds nothing, its taps are
``dilation`` apart, ceil mode keeps a last partial window, and a mean divides
by its taps inside the padded input or, without ``count_include_pad``, by its
entries. A layer alone has no convolution: its stages read X itself, and there
is no dL/dK or dL/dB. With training steps, :func:`verify_training` repeats the
direct route at every step from the weights it reached itself.

Sigmoid and tanh are evaluated to :data:`DIGITS` significant digits, and
their stages and every quantity after them are compared with the engine's
float64 values to 1e-9. :class:`~cnnstep.verify_sympy.SymPyVerifier` writes
the same loss out as a SymPy expression instead, for small layers.
"""

from __future__ import annotations

import decimal
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import numpy as np

from cnnstep import budget
from cnnstep.engine import Solution
from cnnstep.engine import solve as solve_layer
from cnnstep.exact import ExactArray
from cnnstep.problem import Array, Problem, frozen
from cnnstep.quantities import conv_key, entry_text
from cnnstep.training import Trained, train

#: more products X·K in Z than this and the check would take about ten seconds on a
#: loaded machine (about 2 µs of CPU per product, eleven passes over them); the work
#: budget bounds the rest
MAX_PRODUCTS = 2_000_000
#: more input, filter and bias entries than this and the arrays held per entry would
#: take about a gigabyte
MAX_SYMBOLS = 1_000_000
#: beyond this |z|, float64 sigmoid is exactly 0 or 1 and tanh exactly ±1, both with
#: slope 0, and the true values differ from those by less than e^-750: the entry is
#: that constant
SATURATION = 750
#: significant digits of sigmoid and tanh here (the engine's float64 has 17)
DIGITS = 50
#: random directions along which the chain rule is checked (besides one coordinate
#: direction of each of X, K and B)
DIRECTIONS = 2


class TooLarge(ValueError):
    """The layer is too large to differentiate directly in reasonable time."""


class InconsistentGradient(AssertionError):
    """The direct gradient disagrees with a directional derivative: a bug here."""


@dataclass(frozen=True)
class Mismatch:
    entry: str  # e.g. grad_input[0][1]
    engine: Fraction
    direct: Fraction


@dataclass(frozen=True)
class Check:
    """One quantity compared between the engine and direct differentiation."""

    key: str  # output, loss, grad_filter, grad_bias, grad_input
    label: str  # dL/dK
    entries: int
    mismatches: tuple[Mismatch, ...]
    how: str  # "direct differentiation" or "direct evaluation"

    @property
    def ok(self) -> bool:
        return not self.mismatches


def verify(problem: Problem, solve: Callable[[Problem], Solution] | None = None, *,
           max_work: int | None = None) -> list[Check]:
    """Compare ``solve(problem)`` (the engine's, by default) with the layer written
    out from its definition.

    The output (and the loss) by direct evaluation; dL/dK, dL/dB and dL/dX,
    where there are gradients, by direct differentiation of the loss. Raises
    :class:`TooLarge` beyond :data:`MAX_SYMBOLS` entries or :data:`MAX_PRODUCTS`
    products, and :class:`budget.WorkLimitError` when the work is estimated over
    ``max_work`` operations (None: the default limit, 0: none), both before any
    work.
    """
    size = budget.verify_size(problem)
    if size.symbols > MAX_SYMBOLS or size.products > MAX_PRODUCTS:
        raise TooLarge(
            f"--verify: the layer has {size.symbols} symbols and {size.products} products "
            f"in its loss; direct differentiation is limited to {MAX_SYMBOLS} symbols and "
            f"{MAX_PRODUCTS} products"
        )
    budget.check_verify(problem, max_work)  # the solve included
    verifier = BatchVerifier(problem) if problem.batch else Verifier(problem)
    checks = verifier.checks(solve_layer(problem, max_work=0) if solve is None
                             else solve(problem))
    if problem.steps > 1:
        checks += verify_training(problem, train(problem, max_work=0))
    return checks


def verify_training(problem: Problem, trained: Solution) -> list[Check]:
    """The history and the final loss by a route of their own: at each step the layer
    written out at the weights this route reached, its loss evaluated and
    differentiated directly (the chain rule checked by directional derivatives), and
    the update W − α·dL/dW made here from that; then the final loss at the last
    weights. Each number is compared with the engine's."""
    assert isinstance(trained, Trained) and trained.history is not None
    assert problem.learning_rate is not None
    rate = problem.learning_rate
    current = problem
    rows: list[list[Fraction]] = []
    for _ in range(problem.steps):
        loss, gradients = _weights_gradients(current)
        kernel = current.filter - rate * gradients["grad_filter"]
        bias = (None if "grad_bias" not in gradients or current.bias is None else
                current.bias - rate * gradients["grad_bias"])
        rows.append([loss, *kernel.flat, *(bias.flat if bias is not None else ())])
        current = replace(current, exact_filter=ExactArray(frozen(kernel)),
                          exact_bias=None if bias is None else ExactArray(frozen(bias)))
    final_loss = Fraction(0)
    for one in _images(current):
        verifier = Verifier(one)
        final = verifier.loss(verifier.pool(verifier.activation(verifier.forward())))
        assert final is not None and final.loss is not None
        final_loss += final.loss
    rounded = verifier.approximate
    note = ", to 1e-9 (floating point)" if rounded else ""
    mismatches = []
    for k, row in enumerate(rows):
        for j, direct in enumerate(row):
            found: Fraction = trained.history[k, j]
            if not verifier.agree(direct, found, rounded):
                mismatches.append(Mismatch(f"history[{k}][{j}]", found, direct))
    checks = [Check("history", "history", len(rows) * len(rows[0]), tuple(mismatches),
                    "direct differentiation at every step" + note)]
    assert trained.final_loss is not None
    checks.append(Check(
        "final_loss", f"{problem.notation.loss} after training", 1,
        () if verifier.agree(final_loss, trained.final_loss, rounded) else
        (Mismatch("final_loss", trained.final_loss, final_loss),),
        "direct evaluation at the weights of the direct route" + note))
    return checks


def _images(problem: Problem) -> list[Problem]:
    """The images of a batch, each a problem of its own (the loss over all of them);
    a problem without a batch alone."""
    return [problem.image(n) for n in range(problem.batch)] if problem.batch else [problem]


def _weights_gradients(problem: Problem) -> tuple[Fraction, dict[str, Array]]:
    """The loss and dL/dK (and dL/dB) by the direct route, the chain rule checked; a
    batch adds up the loss and the gradients of its images."""
    loss = Fraction(0)
    total: dict[str, Array] = {}
    for one in _images(problem):
        verifier = Verifier(one)
        conv = verifier.forward()
        activated = verifier.activation(conv)
        last = verifier.pool(activated)
        objective = verifier.loss(last)
        assert objective is not None and objective.loss is not None
        held = verifier.held(conv, activated, last)
        gradients = verifier.backward(held, objective)
        verifier.consistent(held, gradients)
        loss += objective.loss
        for key in ("grad_filter", "grad_bias"):
            if key in gradients:
                total[key] = total[key] + gradients[key] if key in total else gradients[key]
    return loss, total


# --------------------------------------------------------------------------
# exact sums over integers

#: nested lists of Python integers, in an array's shape
Nested = list[Any]


@dataclass(frozen=True)
class Scaled:
    """An array as integer numerators over one denominator: v = n/d, the numerators
    as nested lists in the array's shape."""

    numerators: Nested
    denominator: int
    shape: tuple[int, ...]

    @staticmethod
    def of(values: Array) -> Scaled:
        """Over d, the lcm of the values' denominators.

        >>> Scaled.of(np.array([Fraction(1, 2), Fraction(-2, 3)], dtype=object)).numerators
        [3, -4]
        """
        flat = list(values.flat)
        denominator = math.lcm(*(v.denominator for v in flat)) if flat else 1
        integers = np.array([v.numerator * (denominator // v.denominator) for v in flat],
                            dtype=object).reshape(values.shape)
        return Scaled(integers.tolist(), denominator, values.shape)

    @property
    def flat(self) -> list[int]:
        """The numerators in row-major order."""
        flat: list[int] = np.array(self.numerators, dtype=object).ravel().tolist()
        return flat

    @property
    def zero(self) -> bool:
        return not any(self.flat)

    @property
    def fractions(self) -> Array:
        """The values, as an object array of Fractions."""
        out = np.empty(self.shape, dtype=object)
        out.ravel()[:] = [Fraction(n, self.denominator) for n in self.flat]
        return out

    def over(self, denominator: int) -> list[int]:
        """The numerators over a multiple of the denominator, in row-major order."""
        times = denominator // self.denominator
        return [n * times for n in self.flat]


def zeros(shape: tuple[int, ...]) -> Nested:
    nested: Nested = np.zeros(shape, dtype=object).tolist()
    return nested


@dataclass(frozen=True)
class Taps:
    """For each output row i the pairs (m, r) with r = i·s_h + m·d_h − p_top inside the
    input, and the same (n, q) for each output column j: the terms of Z[f,i,j]
    are X[c,r,q]·K[f,c,m,n] for every c and every such pair of pairs. With groups,
    ``seen[f]`` lists the pairs (c, input channel) of filter f: its channel c is
    the input channel ⌊f/(F/G)⌋·C/G + c.

    A true convolution (mode "convolution") reads the kernel flipped: the pairs are
    then (k_h − 1 − m, r), so that the terms are X[c,r,q]·K[f,c,k_h−1−m,k_w−1−n]."""

    rows: tuple[tuple[tuple[int, int], ...], ...]
    columns: tuple[tuple[tuple[int, int], ...], ...]
    seen: tuple[tuple[tuple[int, int], ...], ...] = ()

    @staticmethod
    def of(problem: Problem) -> Taps:
        layer = problem.layer
        if layer.transposed:
            return Taps.scattered(problem)
        _, height, width = layer.input_shape
        (kh, kw), (sh, sw) = layer.kernel_size, layer.stride
        top, bottom, left, right = layer.sides
        dh, dw = layer.dilation
        # the output size from the defining sum: the last window's last tap,
        # (o − 1)·s + (k − 1)·d, inside the input padded on both sides
        oh = (height + top + bottom - (kh - 1) * dh - 1) // sh + 1
        ow = (width + left + right - (kw - 1) * dw - 1) // sw + 1
        flipped = layer.mode == "convolution"

        def along(outputs: int, kernel: int, stride: int, padding: int, dilation: int,
                  size: int) -> tuple[tuple[tuple[int, int], ...], ...]:
            return tuple(tuple((kernel - 1 - m if flipped else m,
                                i * stride + m * dilation - padding) for m in range(kernel)
                               if 0 <= i * stride + m * dilation - padding < size)
                         for i in range(outputs))

        # which input channels each filter reads, straight from the grouping rule
        channels, filters, groups = layer.input_shape[0], layer.filter_shape[0], layer.groups
        per_group, per_filter = filters // groups, channels // groups
        seen = tuple(tuple((c, (f // per_group) * per_filter + c) for c in range(per_filter))
                     for f in range(filters))
        return Taps(along(oh, kh, sh, top, dh, height), along(ow, kw, sw, left, dw, width),
                    seen)

    def channels(self, f: int, count: int) -> tuple[tuple[int, int], ...]:
        """The pairs (kernel channel, input channel) of filter ``f``, of ``count``."""
        return self.seen[f] if self.seen else tuple((c, c) for c in range(count))


    @staticmethod
    def scattered(problem: Problem) -> Taps:
        """A transposed layer, from its defining scatter sum
        ``Y[f, i·s − p + m·d, j·s − p + n·d] += X[c, i, j]·K[c, f, m, n]``: for each output
        row y the pairs (m, i) with i·s − p + m·d = y (likewise for the columns), over
        the output (H − 1)·s − 2p + d·(k − 1) + output_padding + 1 long."""
        layer = problem.layer
        _, height, width = layer.input_shape
        (kh, kw), (sh, sw), (ph, pw) = layer.kernel_size, layer.stride, layer.padding
        (dh, dw), (eh, ew) = layer.dilation, layer.output_padding

        def along(size: int, kernel: int, stride: int, padding: int, dilation: int,
                  extra: int) -> tuple[tuple[tuple[int, int], ...], ...]:
            outputs = (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + extra + 1
            hits: list[list[tuple[int, int]]] = [[] for _ in range(outputs)]
            for i in range(size):
                for m in range(kernel):
                    y = i * stride - padding + m * dilation
                    if 0 <= y < outputs:
                        hits[y].append((m, i))
            return tuple(tuple(sorted(row)) for row in hits)

        # with groups, output channel f reads the input channels of its group, straight
        # from the grouping rule
        channels, filters, groups = layer.channels, layer.filters, layer.groups
        per_group, per_filter = filters // groups, channels // groups
        seen = tuple(tuple((c, (f // per_group) * per_filter + c) for c in range(per_filter))
                     for f in range(filters)) if groups > 1 else ()
        return Taps(along(height, kh, sh, ph, dh, eh), along(width, kw, sw, pw, dw, ew), seen)


def swap_channels(k: Scaled, groups: int = 1) -> Scaled:
    """A transposed layer's filter (C, F/G, kh, kw) as (F, C/G, kh, kw), the order the
    sums here index it in (or back), group by group: block g of the input channels,
    (C/G, F/G), is block g of the output channels, (F/G, C/G). No rotation, the same
    weights."""
    weights = np.array(k.numerators, dtype=object)
    size = weights.shape[0] // groups
    swapped = np.concatenate([weights[g * size : (g + 1) * size].transpose(1, 0, 2, 3)
                              for g in range(groups)])
    return Scaled(swapped.tolist(), k.denominator, swapped.shape)


def correlate(taps: Taps, x: Scaled, k: Scaled) -> Scaled:
    """Σ_{c,m,n} X[c,r,q]·K[f,c,m,n] for every (f, i, j), without the bias."""
    xs, ks = x.numerators, k.numerators
    filters, channels = k.shape[:2]
    sums = zeros((filters, len(taps.rows), len(taps.columns)))
    seen = [taps.channels(f, channels) for f in range(filters)]
    for f in range(filters):
        kf = ks[f]
        for i, rows in enumerate(taps.rows):
            out = sums[f][i]
            for j, columns in enumerate(taps.columns):
                total = 0
                for c, source in seen[f]:
                    xc, kc = xs[source], kf[c]
                    for m, r in rows:
                        xr, km = xc[r], kc[m]
                        for n, q in columns:
                            total += xr[q] * km[n]
                out[j] = total
    return Scaled(sums, x.denominator * k.denominator,
                  (filters, len(taps.rows), len(taps.columns)))


def transpose(taps: Taps, dz: Scaled, x: Scaled, k: Scaled) -> tuple[Scaled, Scaled]:
    """dL/dK and dL/dX from dL/dZ: one pass over the terms X[c,r,q]·K[f,c,m,n] of
    every Z[f,i,j], adding ∂L/∂Z[f,i,j]·X[c,r,q] to ∂L/∂K[f,c,m,n] and
    ∂L/∂Z[f,i,j]·K[f,c,m,n] to ∂L/∂X[c,r,q]."""
    gs, xs, ks = dz.numerators, x.numerators, k.numerators
    filters, channels = k.shape[:2]
    grad_k, grad_x = zeros(k.shape), zeros(x.shape)
    seen = [taps.channels(f, channels) for f in range(filters)]
    for f in range(filters):
        for i, rows in enumerate(taps.rows):
            for j, columns in enumerate(taps.columns):
                g = gs[f][i][j]
                if not g:
                    continue
                for c, source in seen[f]:
                    xc, kc, gkc, gxc = xs[source], ks[f][c], grad_k[f][c], grad_x[source]
                    for m, r in rows:
                        xr, km, gkm, gxr = xc[r], kc[m], gkc[m], gxc[r]
                        for n, q in columns:
                            gkm[n] += g * xr[q]
                            gxr[q] += g * km[n]
    return (Scaled(grad_k, dz.denominator * x.denominator, k.shape),
            Scaled(grad_x, dz.denominator * k.denominator, x.shape))


# --------------------------------------------------------------------------
# sigmoid and tanh to DIGITS digits


def _decimal(z: Fraction, context: decimal.Context) -> decimal.Decimal:
    return context.divide(decimal.Decimal(z.numerator), decimal.Decimal(z.denominator))


def sigmoid(z: Fraction) -> Fraction:
    """σ(z) = 1/(1 + e^−z), to :data:`DIGITS` significant digits."""
    context = decimal.Context(prec=DIGITS + 10)
    value = context.divide(1, context.add(1, context.exp(context.minus(_decimal(z, context)))))
    return Fraction(context.plus(value))


def tanh(z: Fraction) -> Fraction:
    """tanh z = 1 − 2/(e^{2z} + 1), to :data:`DIGITS` significant digits."""
    context = decimal.Context(prec=DIGITS + 10)
    e = context.exp(context.multiply(2, _decimal(z, context)))
    return Fraction(context.plus(context.subtract(1, context.divide(2, context.add(e, 1)))))


# --------------------------------------------------------------------------
# the layer, stage by stage

#: a pooled entry's cells of the pool's input at the problem's numbers: the window's
#: for mean, the first extreme's for max and min
Route = tuple[tuple[int, int, int], ...]
#: a pooled entry's route and what the sum of its cells is divided by (1 for max and min)
Window = tuple[Route, int]


def pooled_taps(size: int, kernel: int, stride: int, padding: int, dilation: int,
                ceil_mode: bool) -> list[tuple[list[int], int]]:
    """Along one axis of the pool's input (``size`` entries), each window's positions
    inside the input, and how many of its taps fall inside the padded input.

    Window i reads i·s + u·d − p for u < kernel: those before the end of the padded
    input count (a ceil mode's last window may reach past it), those inside the input
    are its cells; the padding is −∞ for max, +∞ for min and 0 for mean, so it never
    wins and adds nothing. There are ⌊(size + 2p − d·(k − 1) − 1)/s⌋ + 1 windows,
    ⌈…⌉ in ceil mode less one when the last would start in the right padding (as
    PyTorch)."""
    reach = size + 2 * padding - dilation * (kernel - 1) - 1
    count = (-(-reach // stride) if ceil_mode else reach // stride) + 1
    if ceil_mode and (count - 1) * stride >= size + padding:
        count -= 1
    out = []
    for i in range(count):
        taps = [i * stride + u * dilation - padding for u in range(kernel)]
        taps = [p for p in taps if p < size + padding]
        out.append(([p for p in taps if 0 <= p < size], len(taps)))
    return out


@dataclass(frozen=True)
class Objective:
    """The loss at the last stage P: its value (None for the linear form Σ G·P, which
    is no result) and dL/dP."""

    loss: Fraction | None
    gradient: Array


@dataclass(frozen=True)
class Held:
    """The layer after the convolution with its branches held as at the problem's
    numbers: A = A₀ + f′(Z₀)·(Z − Z₀) (the activation itself for ReLU and leaky
    ReLU, its tangent for sigmoid and tanh), P[e] = Σ A[cell] / divisor over the
    entry's route. Its derivative at the problem's numbers is the layer's."""

    conv: Array  # Z₀
    slopes: Scaled | None  # f′(Z₀)
    routes: dict[tuple[int, int, int], Window] | None
    last: Array  # P₀, the last stage at the problem's numbers


class Oracle:
    """What both direct routes share: the problem, how a value is compared with the
    engine's, and the checks of the stages up to the loss."""

    #: how near a float (sigmoid, tanh) value must be, relative to its size
    TOLERANCE = Fraction(1, 10**9)

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.layer = layer = problem.layer
        activation = layer.activation
        #: float sigmoid or tanh: stages after it agree to TOLERANCE, not exactly
        self.approximate = activation is not None and not activation.exact

    def number(self, value: Any) -> Fraction:
        """A stage entry's value at the problem's numbers."""
        assert isinstance(value, Fraction)
        return value

    def agree(self, direct: Fraction, found: Fraction, rounded: bool) -> bool:
        if not rounded:
            return direct == found
        return abs(direct - found) <= self.TOLERANCE * max(Fraction(1), abs(direct))

    def evaluated(self, key: str, label: str, values: dict[tuple[int, ...], Any],
                  engine: Any, rounded: bool = False) -> Check:
        """A stage's entries evaluated at the problem's numbers, against the engine's."""
        mismatches = []
        for index, value in values.items():
            direct = self.number(value)
            found: Fraction = engine if isinstance(engine, Fraction) else engine.item(index)
            if not self.agree(direct, found, rounded):
                mismatches.append(Mismatch(entry_text(key, index, self.problem.layout), found,
                                           direct))
        how = "direct evaluation" + (", to 1e-9 (floating point)" if rounded else "")
        return Check(key, label, len(values), tuple(mismatches), how)

    def differentiated(self, key: str, label: str, direct: dict[tuple[int, ...], Fraction],
                       engine: Array | None) -> Check:
        """A gradient found directly, entry by entry, against the engine's."""
        assert engine is not None
        mismatches = []
        for index, value in direct.items():
            found: Fraction = engine.item(index)
            if not self.agree(value, found, self.approximate):
                where = entry_text(key, index, self.problem.layout)
                mismatches.append(Mismatch(where, found, value))
        how = ("direct differentiation"
               + (", to 1e-9 (floating point)" if self.approximate else ""))
        return Check(key, label, len(direct), tuple(mismatches), how)

    def stages(self, solution: Solution, conv: dict[tuple[int, ...], Any],
               activated: dict[tuple[int, ...], Any], last: dict[tuple[int, ...], Any],
               loss: Any) -> list[Check]:
        """Z (with a convolution), A (with a pool after it), the last stage (with a
        layer after Z) and the loss (None: none), each against the engine's."""
        layer, n, approximate = self.layer, self.problem.notation, self.approximate
        checks = ([self.evaluated(conv_key(layer), n.output, conv, solution.conv)]
                  if layer.convolution else [])
        if layer.activation is not None and layer.pool is not None:
            checks.append(self.evaluated("activated", "A", activated, solution.activated,
                                         approximate))
        if layer.layered:
            name = "P" if layer.pool is not None else "A"
            checks.append(self.evaluated("output", name, last, solution.output, approximate))
        if loss is not None:
            checks.append(self.evaluated("loss", n.loss, {(): loss}, solution.loss,
                                         approximate))
        return checks


class Verifier(Oracle):
    """The layer written out from its definition, stage by stage, in exact numbers.

    :attr:`x`, :attr:`k`, :attr:`b` are the problem's input (C, H, W), filter
    (F, C, kh, kw) and bias (F,) as object arrays of Fractions.
    """

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem)
        self.x = problem.input
        self.k = problem.filter
        self.b = problem.bias if self.layer.has_bias else None
        self.taps = Taps.of(problem)
        self.scaled_x, self.scaled_k = Scaled.of(self.x), self.filters(Scaled.of(self.k))

    def filters(self, k: Scaled) -> Scaled:
        """A filter in the (F, C, kh, kw) order of the sums: a transposed layer's
        (C, F, kh, kw) swapped (and back)."""
        return swap_channels(k, self.layer.groups) if self.layer.transposed else k

    # ----------------------------------------------------------------------
    # the stages

    def forward(self, x: Array | None = None, k: Array | None = None,
                b: Array | None = None) -> Array:
        """Z[f,i,j] = Σ_{c,m,n} X[c,r,q]·K[f,c,m,n] + B[f], of the problem's numbers or
        the given ones; padding contributes nothing. A layer alone has no
        convolution: X itself."""
        scaled_x = self.scaled_x if x is None else Scaled.of(x)
        scaled_k = self.scaled_k if k is None else self.filters(Scaled.of(k))
        b = self.b if b is None else b
        if not self.layer.convolution:  # a layer alone: its stages read X itself
            return (self.x if x is None else x).copy()
        conv = correlate(self.taps, scaled_x, scaled_k).fractions
        if b is not None:
            for f in range(conv.shape[0]):
                conv[f] += b[f]
        return conv

    def activation(self, conv: Array) -> Array:
        """A = f(Z); Z itself without an activation. Sigmoid and tanh of
        |z| > :data:`SATURATION` are their saturated constants."""
        activation = self.layer.activation
        if activation is None:
            return conv
        out = np.empty(conv.shape, dtype=object)
        for index, z in np.ndenumerate(conv):
            if activation.kind == "relu":
                out[index] = z if z > 0 else Fraction(0)
            elif activation.kind == "leaky_relu":
                out[index] = z if z > 0 else activation.slope * z
            elif abs(z) > SATURATION:
                low = 0 if activation.kind == "sigmoid" else -1
                out[index] = Fraction(1 if z > 0 else low)
            else:
                out[index] = sigmoid(z) if activation.kind == "sigmoid" else tanh(z)
        return out

    def slopes(self, conv: Array, activated: Array) -> Array:
        """f′(Z): ReLU′(0) = 0 and leaky ReLU′(0) = slope, as PyTorch; σ′ = σ(1 − σ),
        tanh′ = 1 − tanh², and 0 where saturated."""
        activation = self.layer.activation
        assert activation is not None
        out = np.empty(conv.shape, dtype=object)
        for index, z in np.ndenumerate(conv):
            a = activated[index]
            if activation.kind == "relu":
                out[index] = Fraction(1 if z > 0 else 0)
            elif activation.kind == "leaky_relu":
                out[index] = Fraction(1) if z > 0 else activation.slope
            elif abs(z) > SATURATION:
                out[index] = Fraction(0)
            else:
                out[index] = a * (1 - a) if activation.kind == "sigmoid" else 1 - a * a
        return out

    def routes(self, before: Array) -> dict[tuple[int, int, int], Window]:
        """Each pooled entry (f, i, j), the cells it takes at the problem's numbers and
        its divisor: every cell of its window (:func:`pooled_taps`) for mean, divided by
        the taps inside the padded input with ``count_include_pad``, else by its cells;
        the first extreme, row-major, for max and min (as PyTorch), divided by 1."""
        pool = self.layer.pool
        assert pool is not None
        filters, height, width = before.shape
        rows = pooled_taps(height, pool.size[0], pool.stride[0], pool.padding[0],
                           pool.dilation[0], pool.ceil_mode)
        columns = pooled_taps(width, pool.size[1], pool.stride[1], pool.padding[1],
                              pool.dilation[1], pool.ceil_mode)
        routes: dict[tuple[int, int, int], Window] = {}
        for f in range(filters):
            for i, (row_cells, row_taps) in enumerate(rows):
                for j, (column_cells, column_taps) in enumerate(columns):
                    cells = tuple((f, r, q) for r in row_cells for q in column_cells)
                    if pool.kind == "mean":
                        divisor = (row_taps * column_taps if pool.count_include_pad
                                   else len(cells))
                        routes[(f, i, j)] = (cells, divisor)
                        continue
                    window = [before[cell] for cell in cells]
                    best = max(window) if pool.kind == "max" else min(window)
                    routes[(f, i, j)] = ((cells[window.index(best)],), 1)  # first extreme
        return routes

    def pool(self, before: Array) -> Array:
        """P = pool(A or Z); the stage itself without a pool."""
        if self.layer.pool is None:
            return before
        routes = self.routes(before)
        f, i, j = max(routes) if routes else (-1, -1, -1)
        out = np.empty((f + 1, i + 1, j + 1), dtype=object)
        for e, (cells, divisor) in routes.items():
            out[e] = sum((before[cell] for cell in cells), Fraction(0)) / divisor
        return out

    def factor(self, entries: int) -> Fraction:
        """The loss's factor: 1/N for mse over N entries (of every image of a batch,
        when the problem is one of them), 1 for sse, 1/2 for half_sse."""
        return {"mse": Fraction(1, entries * self.problem.loss_images), "sse": Fraction(1),
                "half_sse": Fraction(1, 2)}[self.problem.loss]

    def loss(self, last: Array) -> Objective | None:
        """L = factor·Σ (P − Y)² and dL/dP = 2·factor·(P − Y); or, with a given G,
        L = Σ G·P and dL/dP = G; None for a forward pass alone."""
        problem = self.problem
        if problem.target is not None:
            factor = self.factor(last.size)
            errors = last - problem.target
            loss = factor * sum((e * e for e in errors.flat), Fraction(0))
            return Objective(loss, 2 * factor * errors)
        if problem.grad_output is not None:
            return Objective(None, problem.grad_output)
        return None

    # ----------------------------------------------------------------------
    # the chain rule, and its check

    def held(self, conv: Array, activated: Array, last: Array) -> Held:
        """The stages after the convolution held as at ``conv``."""
        layer = self.layer
        slopes = (Scaled.of(self.slopes(conv, activated)) if layer.activation is not None
                  else None)
        routes = self.routes(activated) if layer.pool is not None else None
        return Held(conv, slopes, routes, last)

    def changed(self, held: Held, change: Scaled) -> Scaled:
        """The change of the held layer's last stage for a change of Z: f′(Z₀)·ΔZ, then
        Σ ΔA[cell] / divisor over each pooled entry's route."""
        if held.slopes is not None:
            change = Scaled(np.array([s * n for s, n in zip(held.slopes.flat, change.flat,
                                                             strict=True)], dtype=object)
                            .reshape(change.shape).tolist(),
                            held.slopes.denominator * change.denominator, change.shape)
        if held.routes is None:
            return change
        before = change.numerators
        shape = held.last.shape
        common = math.lcm(*(divisor for _, divisor in held.routes.values()))
        sums = zeros(shape)
        for (f, i, j), (cells, divisor) in held.routes.items():
            sums[f][i][j] = sum(before[c][r][q] for c, r, q in cells) * (common // divisor)
        return Scaled(sums, change.denominator * common, shape)

    def backward(self, held: Held, objective: Objective) -> dict[str, Array]:
        """dL/dK, dL/dB and dL/dX: dL/dP back through the pool's routes (each cell
        receives dL/dP[e] / divisor from every entry whose route holds it) and the
        activation (·f′(Z)), then through the convolution's terms; a layer alone has
        no convolution: dL/dX is dL/dZ, and there is no dL/dK."""
        grad = objective.gradient
        if held.routes is not None:
            spread = np.empty(held.conv.shape, dtype=object)
            spread.fill(Fraction(0))
            for e, (cells, divisor) in held.routes.items():
                for cell in cells:
                    spread[cell] += grad[e] / divisor
            grad = spread
        if held.slopes is not None:
            grad = grad * held.slopes.fractions
        if not self.layer.convolution:
            return {"grad_input": grad}
        grad_k, grad_x = transpose(self.taps, Scaled.of(grad), self.scaled_x, self.scaled_k)
        gradients = {"grad_filter": self.filters(grad_k).fractions,
                     "grad_input": grad_x.fractions}
        if self.b is not None:
            gradients["grad_bias"] = np.array(
                [sum(grad[f].flat, Fraction(0)) for f in range(grad.shape[0])], dtype=object)
        return gradients

    def directions(self) -> Iterator[dict[str, Scaled]]:
        """The directions v the chain rule is checked along, keyed by the gradient
        each pairs with: :data:`DIRECTIONS` random ones of small integers in every
        entry, then one coordinate direction in each of X, K and B (X alone for a layer
        alone); the same every run."""
        rng = random.Random(0)
        shapes = {"grad_input": self.x.shape}
        if self.layer.convolution:
            shapes["grad_filter"] = self.k.shape
        if self.b is not None:
            shapes["grad_bias"] = self.b.shape

        def random_in(shape: tuple[int, ...]) -> Scaled:
            values = [rng.randint(-3, 3) for _ in range(math.prod(shape))]
            return Scaled(np.array(values, dtype=object).reshape(shape).tolist(), 1, shape)

        def unit(shape: tuple[int, ...], corner: tuple[int, ...] | None) -> Scaled:
            values = np.zeros(shape, dtype=object)
            if corner is not None:
                values[corner] = 1
            return Scaled(values.tolist(), 1, shape)

        for _ in range(DIRECTIONS):
            yield {key: random_in(shape) for key, shape in shapes.items()}
        for key, shape in shapes.items():
            corner = tuple(rng.randrange(size) for size in shape)
            yield {other: unit(size, corner if other == key else None)
                   for other, size in shapes.items()}

    def along(self, held: Held, base: Scaled, v: dict[str, Scaled]) -> Fraction:
        """dL(θ + t·v)/dt at t = 0 for the held layer, from L alone; ``base`` is
        P₀ − Y (P₀ for the linear form).

        Z is bilinear, so Z(θ + t·v) = Z₀ + t·(Z(v_X, K) + Z(X, v_K) + v_B) +
        t²·Z(v_X, v_K), and the held layer is affine in Z: P(t) = P₀ + t·P₁ + t²·P₂.
        L(t), factor·Σ (P(t) − Y)² or Σ G·P(t), is then a polynomial of degree 4 at
        most, and (L(−2) − 8·L(−1) + 8·L(1) − L(2))/12 is its derivative at 0 exactly.
        The sums run over integers, every array over one denominator D. A layer alone
        has Z = X, so Z(θ + t·v) = X + t·v_X."""
        vx, vb = v["grad_input"], v.get("grad_bias")
        shape = held.conv.shape
        if not self.layer.convolution:
            first = self.changed(held, vx)
            second = self.changed(held, Scaled(zeros(shape), 1, shape))
        else:
            vk = self.filters(v["grad_filter"])
            k, x = self.scaled_k, self.scaled_x
            d1 = k.denominator * x.denominator
            linear = [0] * held.conv.size
            parts = []
            if not vx.zero:  # a coordinate direction needs only its part
                parts.append(correlate(self.taps, vx, k))
            if not vk.zero:
                parts.append(correlate(self.taps, x, vk))
            for part in parts:
                linear = [a + b for a, b in zip(linear, part.over(d1), strict=True)]
            if vb is not None:
                biases = vb.flat
                per = held.conv.size // len(biases)
                linear = [a + biases[index // per] * d1 for index, a in enumerate(linear)]
            square = (correlate(self.taps, vx, vk) if not (vx.zero or vk.zero)
                      else Scaled(zeros(shape), 1, shape))
            first = self.changed(held, Scaled(np.array(linear, dtype=object).reshape(shape)
                                              .tolist(), d1, shape))
            second = self.changed(held, square)
        d = math.lcm(base.denominator, first.denominator, second.denominator)
        b0, b1, b2 = base.over(d), first.over(d), second.over(d)
        given = self.problem.grad_output
        if self.problem.target is None:
            assert given is not None
            weights = Scaled.of(given)
            g = weights.flat

            def at(t: int) -> int:  # D·D_G·Σ G·P(t)
                return sum(w * (p + t * q + t * t * r)
                           for w, p, q, r in zip(g, b0, b1, b2, strict=True))

            scale = Fraction(1, d * weights.denominator)
        else:
            def at(t: int) -> int:  # D²·Σ (P(t) − Y)²
                return sum((p + t * q + t * t * r) ** 2
                           for p, q, r in zip(b0, b1, b2, strict=True))

            scale = self.factor(held.last.size) / (d * d)
        return scale * Fraction(at(-2) - 8 * at(-1) + 8 * at(1) - at(2), 12)

    def consistent(self, held: Held, gradients: dict[str, Array]) -> None:
        """Raise :class:`InconsistentGradient` unless ⟨∇L, v⟩ equals the directional
        derivative along every one of :meth:`directions`."""
        scaled = {key: Scaled.of(grad) for key, grad in gradients.items()}
        target = self.problem.target
        base = Scaled.of(held.last if target is None else held.last - target)
        for v in self.directions():
            inner = sum((Fraction(sum(g * d for g, d in zip(grad.flat, v[key].flat,
                                                             strict=True)),
                                  grad.denominator) for key, grad in scaled.items()),
                        Fraction(0))
            along = self.along(held, base, v)
            if inner != along:
                raise InconsistentGradient(
                    f"direct differentiation: ⟨∇L, v⟩ = {inner} but dL(θ + t·v)/dt = "
                    f"{along} along a direction v; the verifier is at fault")

    def grad_filter(self, direct: Array, engine: Array | None) -> Check:
        n = self.problem.notation
        return self.compare("grad_filter", f"d{n.loss}/d{n.filter}", direct, engine)

    def grad_bias(self, direct: Array, engine: Array | None) -> Check:
        n = self.problem.notation
        return self.compare("grad_bias", f"d{n.loss}/d{n.bias}", direct, engine)

    def grad_input(self, direct: Array, engine: Array | None) -> Check:
        n = self.problem.notation
        return self.compare("grad_input", f"d{n.loss}/d{n.input}", direct, engine)

    def compare(self, key: str, label: str, direct: Array, engine: Array | None) -> Check:
        """The direct gradient, entry by entry, against the engine's."""
        return self.differentiated(key, label, entries(direct), engine)

    def checks(self, solution: Solution) -> list[Check]:
        """Every stage of ``solution`` against the layer written out here."""
        conv = self.forward()
        activated = self.activation(conv)
        last = self.pool(activated)
        objective = self.loss(last)
        checks = self.stages(solution, entries(conv), entries(activated), entries(last),
                             None if objective is None else objective.loss)
        if objective is None:
            return checks
        held = self.held(conv, activated, last)
        gradients = self.backward(held, objective)
        self.consistent(held, gradients)
        if self.layer.convolution:
            checks.append(self.grad_filter(gradients["grad_filter"], solution.grad_filter))
        if self.b is not None:
            checks.append(self.grad_bias(gradients["grad_bias"], solution.grad_bias))
        checks.append(self.grad_input(gradients["grad_input"], solution.grad_input))
        return checks


class BatchVerifier(Oracle):
    """A batch: every image written out and differentiated by a :class:`Verifier` of
    its own (the loss taken over all N images), its stages and dL/dX compared with
    the engine's image by image, the loss and dL/dK, dL/dB as the sums over the
    images."""

    def checks(self, solution: Solution) -> list[Check]:
        """Every stage of the batch's ``solution`` against the images written out here."""
        stages: list[dict[tuple[int, ...], Any]] = [{}, {}, {}]
        loss: Fraction | None = None
        stacked: dict[tuple[int, ...], Fraction] = {}
        summed: dict[str, Array] = {}
        for n, one in enumerate(_images(self.problem)):
            verifier = Verifier(one)
            conv = verifier.forward()
            activated = verifier.activation(conv)
            last = verifier.pool(activated)
            for held_stage, stage in zip(stages, (conv, activated, last), strict=True):
                held_stage.update({(n, *e): v for e, v in entries(stage).items()})
            objective = verifier.loss(last)
            if objective is None:
                continue
            if objective.loss is not None:
                loss = objective.loss + (loss or Fraction(0))
            held = verifier.held(conv, activated, last)
            gradients = verifier.backward(held, objective)
            verifier.consistent(held, gradients)
            stacked.update({(n, *e): v for e, v in entries(gradients["grad_input"]).items()})
            for key in ("grad_filter", "grad_bias"):
                if key in gradients:
                    summed[key] = (summed[key] + gradients[key] if key in summed
                                   else gradients[key])
        checks = self.stages(solution, stages[0], stages[1], stages[2], loss)
        if not stacked:
            return checks
        names = self.problem.notation
        if "grad_filter" in summed:
            checks.append(self.differentiated("grad_filter", f"d{names.loss}/d{names.filter}",
                                              entries(summed["grad_filter"]),
                                              solution.grad_filter))
        if "grad_bias" in summed:
            checks.append(self.differentiated("grad_bias", f"d{names.loss}/d{names.bias}",
                                              entries(summed["grad_bias"]), solution.grad_bias))
        checks.append(self.differentiated("grad_input", f"d{names.loss}/d{names.input}", stacked,
                                          solution.grad_input))
        return checks


def entries(stage: Array) -> dict[tuple[int, ...], Any]:
    """A stage's entries by index."""
    return {index: value for index, value in np.ndenumerate(stage)}


def report(checks: list[Check]) -> str:
    """One line per quantity, and the differing entries of any that disagree."""
    lines = []
    for check in checks:
        if check.ok:
            lines.append(f"{check.label}: verified by {check.how} "
                         f"({check.entries} entr{'y' if check.entries == 1 else 'ies'})")
            continue
        lines.append(f"{check.label}: {len(check.mismatches)} of {check.entries} "
                     f"entr{'y' if check.entries == 1 else 'ies'} differ from {check.how}:")
        from cnnstep.numbers import display

        for miss in check.mismatches:
            lines.append(f"  {miss.entry}: engine {display(miss.engine)}, "
                         f"{check.how} {display(miss.direct)}")
    return "\n".join(lines) + "\n"


def report_json(checks: list[Check]) -> dict[str, Any]:
    """The same as a JSON-ready object (numbers as Fractions)."""
    return {
        "verified": all(check.ok for check in checks),
        "quantities": {
            check.key: {
                "verified": check.ok,
                "entries": check.entries,
                "mismatches": [{"entry": m.entry, "engine": m.engine, "direct": m.direct}
                               for m in check.mismatches],
            } for check in checks
        },
    }
