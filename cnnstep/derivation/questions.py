"""The question sheet of an exercise: the givens and the numbered questions with
their points, and no answer; and an exam question: the givens, and each asked
quantity a part with its points and the working that answers it."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

from cnnstep.derivation import batch, given
from cnnstep.derivation.assemble import DEFAULT_MAX_TERMS, derive
from cnnstep.derivation.builder import Plan
from cnnstep.derivation.nodes import (
    Derivation,
    ExamQuestion,
    Expr,
    Part,
    Step,
    Text,
    Whole,
)
from cnnstep.derivation.numeric import NumericBuilder
from cnnstep.engine import Solution
from cnnstep.numbers import display, terminates
from cnnstep.problem import Problem, ProblemError
from cnnstep.quantities import Selection, asked, present, step_of, symbol_role


def points(value: Fraction) -> str:
    """``1 point``, ``2 points``, ``1.5 points``, ``1/3 point ≈ 0.3333``."""
    return f"{display(value)} point{'' if value == 1 else 's'}"


def question(b: NumericBuilder, text: str, problem: Problem | None = None) -> Expr:
    """The symbol a question asks for: the whole quantity (∂L/∂K), or one entry (∂L/∂X₁₂);
    ``problem``: a batch whose images ``b`` writes, for an entry of one image (X₁₂⁽²⁾)."""
    p = b.p if problem is None else problem
    layer = p.layer
    selection = Selection.parse([text], layer, present(p), ())
    if selection.keys:
        (key,) = selection.keys
        return Whole(symbol_role(key, layer))
    ((key, index),) = selection.entries
    if p.batch:
        return batch.question(b, p, key, index)
    return b.sym(symbol_role(key, layer), index)


def _builder(solution: Solution) -> NumericBuilder:
    """The builder of a sheet's symbols: of one image, for a batch."""
    return NumericBuilder(batch.proxy(solution) if solution.images else solution, Plan(0))


def _givens(solution: Solution, b: NumericBuilder) -> tuple[Step, ...]:
    """The problem's givens: each image's, for a batch."""
    return (batch.given_step(solution),) if solution.images else (given.step(b),)


def total(solution: Solution) -> Fraction:
    """The points of everything the exercise asks, together."""
    return sum((value for _, value in asked(solution.problem)), Fraction(0))


def _page(solution: Solution, b: NumericBuilder, title: str,
          steps: tuple[Step, ...]) -> Derivation:
    """A derivation of the problem's own steps, without working."""
    p = solution.problem
    largest = max(max(p.input.shape), max(p.filter.shape), *p.output_size)
    return Derivation(
        title=title,
        notation=p.notation,
        compact=b.compact,
        steps=steps,
        largest_index=largest - 1 + p.notation.index_base,
        one_channel=p.layer.channels == 1,
        one_filter=p.layer.filters == 1,
        one_row=p.layout.one_row,
    )


def sheet(solution: Solution) -> Derivation:
    """The question sheet of a solved layer (its numbers are not shown, only its givens)."""
    p = solution.problem
    b = _builder(solution)
    lines = tuple(
        Text((f"{number}. ({points(value)}) Find ", question(b, text, p), "."))
        for number, (text, value) in enumerate(asked(p), start=1))
    return _page(solution, b, "Exercise", (
        *_givens(solution, b),
        Step("questions", f"Questions ({points(total(solution))})", lines, numbered=False)))


def exam_question(solution: Solution, name: str,
                  max_terms: int = DEFAULT_MAX_TERMS) -> ExamQuestion:
    """The problem as an exam question: its givens, and each asked quantity or
    entry a part with its points and its working.

    A part's working is what the worked solution of that question alone shows,
    less the steps an earlier part already showed (the forward pass comes with
    the first part that rests on it); the step that works out the part's own
    quantity is always shown. The steps are numbered on from part to part.
    Points must be terminating decimals, which the exam class can add up.
    """
    p = solution.problem
    b = _builder(solution)
    layer, available = p.layer, present(p)
    shown = {"given"}
    parts = []
    first = 1
    for text, value in asked(p):
        if not terminates(value):
            raise ProblemError(f"questions: {text}: {points(value)} has no finite decimal, "
                               "which the exam class cannot add up; give decimal points")
        selection = Selection.parse([text], layer, available, (), context=True)
        own = selection.entry_steps(p) | {step_of(key, layer) for key in selection.keys}
        whole = derive(solution, only=selection, max_terms=max_terms)
        steps = tuple(step for step in whole.steps
                      if step.key != "given" and (step.key not in shown or step.key in own))
        shown.update(step.key for step in steps)
        parts.append(Part(question(b, text, p), value,
                          replace(whole, steps=steps, first_step=first)))
        first += sum(step.numbered for step in steps)
    return ExamQuestion(name=name, points=total(solution),
                        givens=_page(solution, b, "Given", _givens(solution, b)),
                        parts=tuple(parts))
