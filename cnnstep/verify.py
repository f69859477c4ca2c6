"""An independent check of the engine: differentiate the loss directly with SymPy.

The engine finds the gradients the way a course teaches them (rotate the
kernel, insert zeros, convolve). Here the loss is written out in full as a
SymPy expression of every filter, bias and input entry, straight from the
definition of the layer, differentiated symbol by symbol, and evaluated at
the problem's numbers; the two routes must agree exactly.

With ``grad_output`` given instead of a target, the loss is the linear form
L = Σ G·Z whose gradient with respect to Z is that G.

SymPy is imported only here, so the plain ``solve`` path never pays for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from cnnstep.engine import Solution
from cnnstep.engine import solve as solve_layer
from cnnstep.problem import Array, Problem
from cnnstep.quantities import entry_text

#: more symbols than this and direct differentiation would take too long
#: (about 5 ms of SymPy per product in the loss: 2000 products take about 10 s)
MAX_SYMBOLS = 2000
#: nor more products in the loss than this
MAX_PRODUCTS = 2000


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


def _size(problem: Problem) -> tuple[int, int]:
    layer = problem.layer
    symbols = problem.input.size + problem.filter.size + (layer.filters if layer.has_bias else 0)
    oh, ow = layer.output_size
    kh, kw = layer.kernel_size
    products = layer.filters * oh * ow * layer.channels * kh * kw
    return symbols, products


def verify(problem: Problem, solve: Callable[[Problem], Solution] = solve_layer) -> list[Check]:
    """Compare ``solve(problem)`` with the layer written out in SymPy.

    The output (and the loss) by direct evaluation; dL/dK, dL/dB and dL/dX,
    where there are gradients, by direct differentiation of the loss. Raises
    :class:`TooLarge` beyond :data:`MAX_SYMBOLS` symbols or
    :data:`MAX_PRODUCTS` products.
    """
    symbols, products = _size(problem)
    if symbols > MAX_SYMBOLS or products > MAX_PRODUCTS:
        raise TooLarge(
            f"--verify: the layer has {symbols} symbols and {products} products in its loss; "
            f"direct differentiation is limited to {MAX_SYMBOLS} symbols and "
            f"{MAX_PRODUCTS} products"
        )
    import sympy

    solution = solve(problem)
    layer = problem.layer
    filters, channels, kh, kw = layer.filter_shape
    sh, sw = layer.stride
    ph, pw = layer.padding
    oh, ow = layer.output_size

    def symbols_of(name: str, shape: tuple[int, ...]) -> Array:
        out = np.empty(shape, dtype=object)
        for index in np.ndindex(*shape):
            out[index] = sympy.Symbol(name + "".join(f"_{i}" for i in index))
        return out

    x = symbols_of("X", layer.input_shape)
    k = symbols_of("K", layer.filter_shape)
    b = symbols_of("B", (filters,)) if layer.has_bias else None
    values: dict[Any, Any] = {}
    for syms, numbers in ((x, problem.input), (k, problem.filter), (b, problem.bias)):
        if syms is not None and numbers is not None:
            values.update({s: sympy.Rational(v.numerator, v.denominator)
                           for s, v in zip(syms.flat, numbers.flat, strict=True)})

    _, height, width = layer.input_shape

    def z(f: int, i: int, j: int) -> Any:
        """Z[f,i,j] straight from the definition; padding contributes nothing."""
        terms = []
        for c in range(channels):
            for m in range(kh):
                for n in range(kw):
                    row, col = i * sh + m - ph, j * sw + n - pw
                    if 0 <= row < height and 0 <= col < width:
                        terms.append(x[c, row, col] * k[f, c, m, n])
        if b is not None:
            terms.append(b[f])
        return sympy.Add(*terms)

    def exact(value: Fraction) -> Any:
        return sympy.Rational(value.numerator, value.denominator)

    activation, pool = layer.activation, layer.pool
    approximate = activation is not None and not activation.exact

    def number(expression: Any) -> Fraction:
        """An expression's value at the problem's numbers: exact, or to 40 digits."""
        value = expression.xreplace(values)
        if value.is_Rational:
            return Fraction(int(value.p), int(value.q))
        return Fraction(str(sympy.N(value, 40)))

    outputs = [(f, i, j) for f in range(filters) for i in range(oh) for j in range(ow)]
    forward: dict[tuple[int, ...], Any] = {e: z(*e) for e in outputs}
    stage = forward
    if activation is not None:
        # ReLU and leaky ReLU take the branch their input falls in, with
        # ReLU′(0) = 0 and leaky ReLU′(0) = slope as PyTorch
        stage = {}
        for e, expression in forward.items():
            positive = number(expression) > 0
            if activation.kind == "relu":
                stage[e] = expression if positive else sympy.Integer(0)
            elif activation.kind == "leaky_relu":
                stage[e] = expression if positive else exact(activation.slope) * expression
            elif activation.kind == "sigmoid":
                stage[e] = 1 / (1 + sympy.exp(-expression))
            else:
                stage[e] = sympy.tanh(expression)
    activated = stage
    if pool is not None:
        (ph_, pw_), (psh, psw) = pool.size, pool.stride
        pooled_h, pooled_w = layer.pooled_size
        before = stage
        stage = {}
        for f, i, j in np.ndindex(filters, pooled_h, pooled_w):
            cells = [(f, i * psh + m, j * psw + n) for m in range(ph_) for n in range(pw_)]
            if pool.kind == "mean":
                stage[(f, i, j)] = sympy.Add(*[before[c] for c in cells]) / len(cells)
                continue
            window = [number(before[c]) for c in cells]
            best = max(window) if pool.kind == "max" else min(window)
            stage[(f, i, j)] = before[cells[window.index(best)]]  # the first extreme
    last = list(stage)
    n = problem.notation
    tolerance = Fraction(1, 10**9)

    def agree(direct: Fraction, found: Fraction, rounded: bool) -> bool:
        if not rounded:
            return direct == found
        return abs(direct - found) <= tolerance * max(Fraction(1), abs(direct))

    def evaluated(key: str, label: str, expressions: dict[tuple[int, ...], Any],
                  engine: Any, rounded: bool = False) -> Check:
        mismatches = []
        for index, expression in expressions.items():
            direct = number(expression)
            found: Fraction = engine if isinstance(engine, Fraction) else engine.item(index)
            if not agree(direct, found, rounded):
                mismatches.append(Mismatch(entry_text(key, index, problem.layout), found,
                                           direct))
        how = "direct evaluation" + (", to 1e-9 (floating point)" if rounded else "")
        return Check(key, label, len(expressions), tuple(mismatches), how)

    conv_key = "conv" if layer.layered else "output"
    checks = [evaluated(conv_key, n.output, forward, solution.conv)]
    if activation is not None and pool is not None:
        checks.append(evaluated("activated", "A", activated, solution.activated, approximate))
    if layer.layered:
        name = "P" if pool is not None else "A"
        checks.append(evaluated("output", name, stage, solution.output, approximate))
    # L = factor · Σ_e term_e, each term a function of one entry of the last stage
    if problem.target is not None:
        terms = [(stage[e] - exact(problem.target[e])) ** 2 for e in last]
        factor = {"mse": sympy.Rational(1, len(last)), "sse": sympy.Integer(1),
                  "half_sse": sympy.Rational(1, 2)}[problem.loss]
        checks.append(evaluated("loss", n.loss, {(): factor * sympy.Add(*terms)},
                                solution.loss, approximate))
    elif problem.grad_output is not None:
        terms = [exact(problem.grad_output[e]) * stage[e] for e in last]
        factor = sympy.Integer(1)
    else:
        return checks
    # differentiation is linear: terms free of a symbol contribute nothing, so
    # only the terms that hold it are differentiated
    holding: dict[Any, list[Any]] = {}
    for term in terms:
        for symbol in term.free_symbols:
            holding.setdefault(symbol, []).append(term)

    def derivative(symbol: Any) -> Any:
        return factor * sympy.Add(*[sympy.diff(term, symbol)
                                    for term in holding.get(symbol, [])])

    def compare(key: str, label: str, syms: Array, engine: Array | None) -> Check:
        assert engine is not None
        mismatches = []
        for index in np.ndindex(*syms.shape):
            direct = number(derivative(syms[index]))
            found: Fraction = engine.item(index)
            if not agree(direct, found, approximate):
                where = entry_text(key, index, problem.layout)
                mismatches.append(Mismatch(where, found, direct))
        how = "direct differentiation" + (", to 1e-9 (floating point)" if approximate else "")
        return Check(key, label, syms.size, tuple(mismatches), how)

    checks += [compare("grad_filter", f"d{n.loss}/d{n.filter}", k, solution.grad_filter)]
    if b is not None:
        checks.append(compare("grad_bias", f"d{n.loss}/d{n.bias}", b, solution.grad_bias))
    checks.append(compare("grad_input", f"d{n.loss}/d{n.input}", x, solution.grad_input))
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
