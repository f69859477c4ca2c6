"""An independent check of the engine: differentiate the loss directly with SymPy.

The engine finds the gradients the way a course teaches them (rotate the
kernel, insert zeros, convolve). Here the loss is written out in full as a
SymPy expression of every filter, bias and input entry, straight from the
definition of the layer, differentiated symbol by symbol, and evaluated at
the problem's numbers; the two routes must agree exactly.

With ``grad_output`` given instead of a target, the loss is the linear form
L = Σ G·Z whose gradient with respect to Z is that G.

:class:`Verifier` writes the layer out one stage per method (the forward
pass, the activation, the pool, the loss) and differentiates it for dL/dK,
dL/dB and dL/dX. SymPy is imported only when a Verifier is made, so the plain
``solve`` path never pays for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import numpy as np

from cnnstep import budget, geometry
from cnnstep.engine import Solution
from cnnstep.engine import solve as solve_layer
from cnnstep.exact import ExactArray
from cnnstep.problem import Array, Problem, frozen
from cnnstep.quantities import conv_key, entry_text
from cnnstep.training import Trained, train

#: more symbols than this and direct differentiation would take too long
#: (about 5 ms of SymPy per product in the loss: 2000 products take about 10 s)
MAX_SYMBOLS = 2000
#: nor more products in the loss than this, counting those of a pool's windows (a
#: mean holds them, max and min evaluate them); the work budget bounds the rest
MAX_PRODUCTS = 2000
#: beyond this |z|, float64 sigmoid is exactly 0 or 1 and tanh exactly ±1, both with
#: slope 0, and the true values differ from those by less than e^-750: the entry is
#: that constant, as SymPy would crawl to evaluate exp(−z) and its derivative
SATURATION = 750


class TooLarge(ValueError):
    """The layer is too large to differentiate directly in reasonable time."""


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
    out in SymPy.

    The output (and the loss) by direct evaluation; dL/dK, dL/dB and dL/dX,
    where there are gradients, by direct differentiation of the loss. Raises
    :class:`TooLarge` beyond :data:`MAX_SYMBOLS` symbols or
    :data:`MAX_PRODUCTS` products (those a pool's windows add counted), and
    :class:`budget.WorkLimitError` when the work is estimated over ``max_work``
    operations (None: the default limit, 0: none), both before any work.
    """
    size = budget.verify_size(problem)
    if size.symbols > MAX_SYMBOLS or size.products > MAX_PRODUCTS:
        raise TooLarge(
            f"--verify: the layer has {size.symbols} symbols and {size.products} products "
            f"in its loss; direct differentiation is limited to {MAX_SYMBOLS} symbols and "
            f"{MAX_PRODUCTS} products"
        )
    budget.check_verify(problem, max_work)  # the solve included
    verifier = Verifier(problem)
    solution = solve_layer(problem, max_work=0) if solve is None else solve(problem)
    checks = verifier.checks(solution)
    if problem.steps > 1:
        checks += verify_training(problem, train(problem, max_work=0))
    return checks


def verify_training(problem: Problem, trained: Solution) -> list[Check]:
    """The history and the final loss by a route of their own: at each step the loss
    written out in SymPy at the weights this route reached, evaluated, differentiated
    by every weight, and the update K − α·dL/dK made here from that; then the final
    loss at the last weights. Each number is compared with the engine's."""
    assert isinstance(trained, Trained) and trained.history is not None
    assert problem.learning_rate is not None
    rate = problem.learning_rate
    current = problem
    rows: list[list[Fraction]] = []
    for _ in range(problem.steps):
        verifier = Verifier(current)
        objective = verifier.loss(verifier.pool(verifier.activation(verifier.forward())))
        assert objective is not None and objective.loss is not None
        kernel = _stepped(verifier, objective, verifier.k, current.filter, rate)
        bias = (None if verifier.b is None or current.bias is None else
                _stepped(verifier, objective, verifier.b, current.bias, rate))
        rows.append([verifier.number(objective.loss), *kernel.flat,
                     *(bias.flat if bias is not None else ())])
        current = replace(current, exact_filter=ExactArray(frozen(kernel)),
                          exact_bias=None if bias is None else ExactArray(frozen(bias)))
    verifier = Verifier(current)
    final = verifier.loss(verifier.pool(verifier.activation(verifier.forward())))
    assert final is not None and final.loss is not None
    how = ("direct differentiation at every step"
           + (", to 1e-9 (floating point)" if verifier.approximate else ""))
    mismatches = []
    for k, row in enumerate(rows):
        for j, direct in enumerate(row):
            found: Fraction = trained.history[k, j]
            if not verifier.agree(direct, found, verifier.approximate):
                mismatches.append(Mismatch(f"history[{k}][{j}]", found, direct))
    checks = [Check("history", "history", len(rows) * len(rows[0]), tuple(mismatches), how)]
    assert trained.final_loss is not None
    direct = verifier.number(final.loss)
    checks.append(Check(
        "final_loss", f"{problem.notation.loss} after training", 1,
        () if verifier.agree(direct, trained.final_loss, verifier.approximate) else
        (Mismatch("final_loss", trained.final_loss, direct),),
        "direct evaluation at the weights of the direct route"
        + (", to 1e-9 (floating point)" if verifier.approximate else "")))
    return checks


def _stepped(verifier: Verifier, objective: Objective, syms: Array, weights: Array,
             rate: Fraction) -> Array:
    """W − α·dL/dW with dL/dW differentiated directly."""
    out = np.empty(weights.shape, dtype=object)
    for index in np.ndindex(*syms.shape):
        gradient = verifier.number(verifier.derivative(objective, syms[index]))
        out[index] = weights[index] - rate * gradient
    return out


#: the entries of one stage, each a SymPy expression, by full-layout index
Stage = dict[tuple[int, ...], Any]


@dataclass(frozen=True)
class Objective:
    """L = factor · Σ terms, each term a function of one entry of the last stage:
    the loss, or the linear form Σ G·Z when dL/dZ is given."""

    terms: list[Any]
    factor: Any
    #: the value of L itself (None for the linear form, which is no result)
    loss: Any
    #: symbol → the terms that hold it: differentiation is linear, so only
    #: those terms need differentiating
    holding: dict[Any, list[Any]]


class Verifier:
    """The layer written out in SymPy, stage by stage, from its definition.

    Every input, filter and bias entry is a symbol (``X_c_i_j``, ``K_f_c_m_n``,
    ``B_f``, 0-based); :attr:`values` gives each its number in the problem.
    """

    #: how near a float (sigmoid, tanh) value must be, relative to its size
    TOLERANCE = Fraction(1, 10**9)

    def __init__(self, problem: Problem) -> None:
        import sympy

        self.sympy: Any = sympy
        self.problem = problem
        self.layer = layer = problem.layer
        self.x = self._symbols("X", layer.input_shape)
        self.k = self._symbols("K", layer.filter_shape)
        self.b = self._symbols("B", (layer.filters,)) if layer.has_bias else None
        self.values: dict[Any, Any] = {}
        for syms, numbers in ((self.x, problem.input), (self.k, problem.filter),
                              (self.b, problem.bias)):
            if syms is not None and numbers is not None:
                self.values.update({s: self.exact(v)
                                    for s, v in zip(syms.flat, numbers.flat, strict=True)})
        activation = layer.activation
        #: float sigmoid or tanh: stages after it agree to TOLERANCE, not exactly
        self.approximate = activation is not None and not activation.exact

    def _symbols(self, name: str, shape: tuple[int, ...]) -> Array:
        out = np.empty(shape, dtype=object)
        for index in np.ndindex(*shape):
            out[index] = self.sympy.Symbol(name + "".join(f"_{i}" for i in index))
        return out

    # ----------------------------------------------------------------------
    # numbers

    def exact(self, value: Fraction) -> Any:
        return self.sympy.Rational(value.numerator, value.denominator)

    def number(self, expression: Any) -> Fraction:
        """An expression's value at the problem's numbers: exact, or to 40 digits."""
        value = expression.xreplace(self.values)
        if value.is_Rational:
            return Fraction(int(value.p), int(value.q))
        return Fraction(str(self.sympy.N(value, 40)))

    def agree(self, direct: Fraction, found: Fraction, rounded: bool) -> bool:
        if not rounded:
            return direct == found
        return abs(direct - found) <= self.TOLERANCE * max(Fraction(1), abs(direct))

    # ----------------------------------------------------------------------
    # the stages

    def forward(self) -> Stage:
        """Z[f,i,j] straight from the definition; padding contributes nothing. A layer
        alone has no convolution: its stages read X itself."""
        layer, x, k, b = self.layer, self.x, self.k, self.b
        if not layer.convolution:
            return {index: x[index] for index in np.ndindex(*x.shape)}
        filters, channels, kh, kw = layer.filter_shape
        (_, height, width), (ph, pw) = layer.input_shape, layer.padding
        oh, ow = layer.output_size
        stage: Stage = {}
        for f, i, j in np.ndindex(filters, oh, ow):
            taps = list(zip(np.ndindex(kh, kw), geometry.conv_window(layer, i, j).taps,
                            strict=True))
            terms = [x[c, row - ph, col - pw] * k[f, c, m, n]
                     for c in range(channels) for (m, n), (row, col) in taps
                     if 0 <= row - ph < height and 0 <= col - pw < width]
            if b is not None:
                terms.append(b[f])
            stage[(f, i, j)] = self.sympy.Add(*terms)
        return stage

    def activation(self, conv: Stage) -> Stage:
        """A = f(Z); Z itself without an activation.

        ReLU and leaky ReLU take the branch their input falls in, with
        ReLU′(0) = 0 and leaky ReLU′(0) = slope as PyTorch. Sigmoid and tanh of
        |z| > :data:`SATURATION` are their saturated constants.
        """
        activation, sympy = self.layer.activation, self.sympy
        if activation is None:
            return conv
        stage: Stage = {}
        for e, expression in conv.items():
            z = self.number(expression)
            positive = z > 0
            if activation.kind == "relu":
                stage[e] = expression if positive else sympy.Integer(0)
            elif activation.kind == "leaky_relu":
                stage[e] = expression if positive else self.exact(activation.slope) * expression
            elif abs(z) > SATURATION:  # saturated: a constant, with slope 0
                low = 0 if activation.kind == "sigmoid" else -1
                stage[e] = sympy.Integer(1 if positive else low)
            elif activation.kind == "sigmoid":
                stage[e] = 1 / (1 + sympy.exp(-expression))
            else:
                stage[e] = sympy.tanh(expression)
        return stage

    def pool(self, before: Stage) -> Stage:
        """P = pool(A or Z); the stage itself without a pool. Max and min take the
        first extreme of each window, row-major, as PyTorch."""
        pool = self.layer.pool
        if pool is None:
            return before
        pooled_h, pooled_w = self.layer.pooled_size
        stage: Stage = {}
        for f, i, j in np.ndindex(self.layer.filters, pooled_h, pooled_w):
            cells = geometry.pool_cells(pool, f, i, j)  # the padding adds nothing, never wins
            if pool.kind == "mean":
                divisor = geometry.pool_divisor(pool, i, j)
                stage[(f, i, j)] = self.sympy.Add(*[before[c] for c in cells]) / divisor
                continue
            window = [self.number(before[c]) for c in cells]
            best = max(window) if pool.kind == "max" else min(window)
            stage[(f, i, j)] = before[cells[window.index(best)]]  # the first extreme
        return stage

    def loss(self, last: Stage) -> Objective | None:
        """L from the target, or the linear form Σ G·Z whose gradient is the given
        G; None for a forward pass alone."""
        problem, sympy = self.problem, self.sympy
        if problem.target is not None:
            target = problem.target
            terms = [(last[e] - self.exact(target[e])) ** 2 for e in last]
            factor = {"mse": sympy.Rational(1, len(last)), "sse": sympy.Integer(1),
                      "half_sse": sympy.Rational(1, 2)}[problem.loss]
            loss = factor * sympy.Add(*terms)
        elif problem.grad_output is not None:
            given = problem.grad_output
            terms = [self.exact(given[e]) * last[e] for e in last]
            factor, loss = sympy.Integer(1), None
        else:
            return None
        holding: dict[Any, list[Any]] = {}
        for term in terms:
            for symbol in term.free_symbols:
                holding.setdefault(symbol, []).append(term)
        return Objective(terms, factor, loss, holding)

    def derivative(self, objective: Objective, symbol: Any) -> Any:
        """dL/d(symbol)."""
        return objective.factor * self.sympy.Add(
            *[self.sympy.diff(term, symbol) for term in objective.holding.get(symbol, [])])

    def grad_filter(self, objective: Objective, engine: Array | None) -> Check:
        n = self.problem.notation
        return self.compare("grad_filter", f"d{n.loss}/d{n.filter}", self.k, engine, objective)

    def grad_bias(self, objective: Objective, engine: Array | None) -> Check:
        assert self.b is not None
        n = self.problem.notation
        return self.compare("grad_bias", f"d{n.loss}/d{n.bias}", self.b, engine, objective)

    def grad_input(self, objective: Objective, engine: Array | None) -> Check:
        n = self.problem.notation
        return self.compare("grad_input", f"d{n.loss}/d{n.input}", self.x, engine, objective)

    # ----------------------------------------------------------------------
    # comparing with the engine

    def evaluated(self, key: str, label: str, expressions: Stage, engine: Any,
                  rounded: bool = False) -> Check:
        """A stage's entries evaluated at the problem's numbers, against the engine's."""
        mismatches = []
        for index, expression in expressions.items():
            direct = self.number(expression)
            found: Fraction = engine if isinstance(engine, Fraction) else engine.item(index)
            if not self.agree(direct, found, rounded):
                mismatches.append(Mismatch(entry_text(key, index, self.problem.layout), found,
                                           direct))
        how = "direct evaluation" + (", to 1e-9 (floating point)" if rounded else "")
        return Check(key, label, len(expressions), tuple(mismatches), how)

    def compare(self, key: str, label: str, syms: Array, engine: Array | None,
                objective: Objective) -> Check:
        """dL/d(each symbol), evaluated, against the engine's gradient."""
        assert engine is not None
        mismatches = []
        for index in np.ndindex(*syms.shape):
            direct = self.number(self.derivative(objective, syms[index]))
            found: Fraction = engine.item(index)
            if not self.agree(direct, found, self.approximate):
                where = entry_text(key, index, self.problem.layout)
                mismatches.append(Mismatch(where, found, direct))
        how = ("direct differentiation"
               + (", to 1e-9 (floating point)" if self.approximate else ""))
        return Check(key, label, syms.size, tuple(mismatches), how)

    def checks(self, solution: Solution) -> list[Check]:
        """Every stage of ``solution`` against the layer written out here."""
        layer, n, approximate = self.layer, self.problem.notation, self.approximate
        conv = self.forward()
        checks = ([self.evaluated(conv_key(layer), n.output, conv, solution.conv)]
                  if layer.convolution else [])
        activated = self.activation(conv)
        last = self.pool(activated)
        if layer.activation is not None and layer.pool is not None:
            checks.append(self.evaluated("activated", "A", activated, solution.activated,
                                         approximate))
        if layer.layered:
            name = "P" if layer.pool is not None else "A"
            checks.append(self.evaluated("output", name, last, solution.output, approximate))
        objective = self.loss(last)
        if objective is None:
            return checks
        if objective.loss is not None:
            checks.append(self.evaluated("loss", n.loss, {(): objective.loss}, solution.loss,
                                         approximate))
        if layer.convolution:
            checks.append(self.grad_filter(objective, solution.grad_filter))
        if self.b is not None:
            checks.append(self.grad_bias(objective, solution.grad_bias))
        checks.append(self.grad_input(objective, solution.grad_input))
        return checks


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
