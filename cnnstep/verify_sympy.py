"""The loss written out in full with SymPy and differentiated symbol by symbol.

A second direct route, for small layers: every input, filter and bias entry is
a symbol, the layer is the SymPy expression of its definition, and dL/dK,
dL/dB and dL/dX are its derivatives evaluated at the problem's numbers. It
costs about 5 ms of SymPy per product of the loss, so ``verify`` uses
:class:`cnnstep.verify.Verifier` instead; this one gives the loss itself as a
formula, and a check of that verifier on small layers. SymPy is imported only
when a :class:`SymPyVerifier` is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from cnnstep import geometry
from cnnstep.engine import Solution
from cnnstep.problem import Array, Problem
from cnnstep.verify import SATURATION, Check, Oracle

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


class SymPyVerifier(Oracle):
    """The layer written out in SymPy, stage by stage, from its definition.

    Every input, filter and bias entry is a symbol (``X_c_i_j``, ``K_f_c_m_n``,
    ``B_f``, 0-based); :attr:`values` gives each its number in the problem.
    """

    def __init__(self, problem: Problem) -> None:
        import sympy

        super().__init__(problem)
        self.sympy: Any = sympy
        layer = self.layer
        self.x = self._symbols("X", layer.input_shape)
        self.k = self._symbols("K", layer.filter_shape)
        self.b = self._symbols("B", (layer.filters,)) if layer.has_bias else None
        self.values: dict[Any, Any] = {}
        for syms, numbers in ((self.x, problem.input), (self.k, problem.filter),
                              (self.b, problem.bias)):
            if syms is not None and numbers is not None:
                self.values.update({s: self.exact(v)
                                    for s, v in zip(syms.flat, numbers.flat, strict=True)})

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

    # ----------------------------------------------------------------------
    # the stages

    def forward(self) -> Stage:
        """Z[f,i,j] straight from the definition; padding contributes nothing. A layer
        alone has no convolution: its stages read X itself."""
        layer, x, k, b = self.layer, self.x, self.k, self.b
        if not layer.convolution:
            return {index: x[index] for index in np.ndindex(*x.shape)}
        filters, channels, kh, kw = layer.filter_shape
        (_, height, width), (ph, pw) = layer.input_shape, layer.padding  # top, left
        oh, ow = layer.output_size
        flip = layer.flipped  # a true convolution reads K[kh − 1 − m, kw − 1 − n]
        stage: Stage = {}
        for f, i, j in np.ndindex(filters, oh, ow):
            taps = list(zip(np.ndindex(kh, kw), geometry.conv_window(layer, i, j).taps,
                            strict=True))
            first = f // (filters // layer.groups) * channels  # the group's block
            terms = [x[first + c, row - ph, col - pw]
                     * k[f, c, kh - 1 - m if flip else m, kw - 1 - n if flip else n]
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

    def compare(self, key: str, label: str, syms: Array, engine: Array | None,
                objective: Objective) -> Check:
        """dL/d(each symbol), evaluated, against the engine's gradient."""
        direct = {index: self.number(self.derivative(objective, syms[index]))
                  for index in np.ndindex(*syms.shape)}
        return self.differentiated(key, label, direct, engine)

    def checks(self, solution: Solution) -> list[Check]:
        """Every stage of ``solution`` against the layer written out here."""
        conv = self.forward()
        activated = self.activation(conv)
        last = self.pool(activated)
        objective = self.loss(last)
        checks = self.stages(solution, conv, activated, last,
                             None if objective is None else objective.loss)
        if objective is None:
            return checks
        if self.layer.convolution:
            checks.append(self.grad_filter(objective, solution.grad_filter))
        if self.b is not None:
            checks.append(self.grad_bias(objective, solution.grad_bias))
        checks.append(self.grad_input(objective, solution.grad_input))
        return checks
