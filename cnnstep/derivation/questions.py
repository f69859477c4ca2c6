"""The question sheet of an exercise: the givens and the numbered questions with
their points, and no answer."""

from __future__ import annotations

from fractions import Fraction

from cnnstep.derivation import given
from cnnstep.derivation.builder import Plan
from cnnstep.derivation.nodes import Derivation, Expr, Step, Text, Whole
from cnnstep.derivation.numeric import NumericBuilder
from cnnstep.engine import Solution
from cnnstep.numbers import display
from cnnstep.quantities import Selection, asked, present, symbol_role


def points(value: Fraction) -> str:
    """``1 point``, ``2 points``, ``1.5 points``, ``1/3 point ≈ 0.3333``."""
    return f"{display(value)} point{'' if value == 1 else 's'}"


def question(b: NumericBuilder, text: str) -> Expr:
    """The symbol a question asks for: the whole quantity (∂L/∂K), or one entry (∂L/∂X₁₂)."""
    layer = b.layer
    selection = Selection.parse([text], layer, present(b.p), ())
    if selection.keys:
        (key,) = selection.keys
        return Whole(symbol_role(key, layer))
    ((key, index),) = selection.entries
    return b.sym(symbol_role(key, layer), index)


def sheet(solution: Solution) -> Derivation:
    """The question sheet of a solved layer (its numbers are not shown, only its givens)."""
    p = solution.problem
    b = NumericBuilder(solution, Plan(0))
    lines = tuple(
        Text((f"{number}. ({points(value)}) Find ", question(b, text), "."))
        for number, (text, value) in enumerate(asked(p), start=1))
    total = sum((value for _, value in asked(p)), Fraction(0))
    largest = max(max(p.input.shape), max(p.filter.shape), *p.output_size)
    return Derivation(
        title="Exercise",
        notation=p.notation,
        compact=b.compact,
        steps=(given.step(b), Step("questions", f"Questions ({points(total)})", lines,
                                   numbered=False)),
        largest_index=largest - 1 + p.notation.index_base,
        one_channel=p.layer.channels == 1,
        one_filter=p.layer.filters == 1,
    )
