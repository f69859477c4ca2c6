"""Marking a script: every asked entry, in the order of the steps, and the report.

The marking rules of the format ("Questions, points and course documents"):

* a script is marked out of everything asked (:mod:`cnnstep.check.asked`);
  an asked entry with no answer scores 0;
* a quantity's points are shared equally by its entries;
* a wrong entry of a quantity diagnosed ``carried_forward`` earns the fraction
  ``follow_through`` of its share (1: full method marks).

Every answered quantity is checked, asked or not, so that a later quantity
worked out from a wrong earlier one is recognised; the report holds the asked
quantities alone.

The examples mark answers to a 2×2 input, a 1×1 filter and a target.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnstep import budget, quantities
from cnnstep.check.answers import Answers, Given, entries, in_user_shape, is_right
from cnnstep.check.asked import Asked, Question, questions
from cnnstep.check.mistakes import Diagnosis, diagnose
from cnnstep.engine import Solution
from cnnstep.problem import ProblemError
from cnnstep.quantities import entry_text, full_shape, get, in_step_order
from cnnstep.result import quantity

if TYPE_CHECKING:
    from cnnstep.derivation import Derivation, Whole
    from cnnstep.render import Options

#: the first line of a report made in Python, where the command line names the files
TITLE = "Marking"

#: the code of the diagnosis whose wrong entries earn method marks
CARRIED_FORWARD = "carried_forward"


@dataclass(frozen=True)
class Mismatch:
    """A wrong entry: where it is, the true value, and the answer given.

    >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
    >>> report = cnnstep.check(problem, {"output": [[0.5, 1], [1.5, 2.5]], "loss": 0.13})
    >>> wrong = report.quantities[0].mismatches[0]
    >>> wrong.index, wrong.expected, wrong.given.value
    ((1, 1), Fraction(2, 1), Fraction(5, 2))
    """

    index: tuple[int, ...]  # in the user's shape
    full_index: tuple[int, ...]  # in the full layout
    expected: Fraction
    given: Given


@dataclass(frozen=True)
class Entry:
    """One asked entry, marked: its answer (None: not answered), whether it is
    right, and the points it earned of the points it carries."""

    index: tuple[int, ...]  # in the user's shape
    expected: Fraction
    given: Given | None
    right: bool
    points: Fraction
    max_points: Fraction


@dataclass(frozen=True)
class Marked:
    """One asked quantity, marked: counts and points over its asked entries.

    >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
    >>> report = cnnstep.check(problem, {"output": [[0.5, 1], [1.5, 2.5]], "loss": 0.13})
    >>> [(marked.key, marked.right, marked.answered, marked.total)
    ...  for marked in report.quantities][:2]
    [('output', 3, 4, 4), ('loss', 1, 1, 1)]
    """

    key: str
    right: int
    #: asked entries with an answer
    answered: int
    #: asked entries
    total: int
    mismatches: tuple[Mismatch, ...]
    diagnosis: Diagnosis | None = None
    points: Fraction = Fraction(0)
    max_points: Fraction = Fraction(0)
    #: every asked entry, in the order of its indices
    entries: tuple[Entry, ...] = ()

    @property
    def correct(self) -> bool:
        """Every asked entry answered, and right.

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> report = cnnstep.check(problem, {"output": [[0.5, 1], [1.5, 2.5]], "loss": 0.13})
        >>> [marked.correct for marked in report.quantities][:2]
        [False, True]
        """
        return self.right == self.total

    @property
    def unanswered(self) -> int:
        return self.total - self.answered


@dataclass(frozen=True)
class Scored:
    """One question, marked."""

    question: Question
    right: int
    answered: int
    total: int
    points: Fraction
    max_points: Fraction

    @property
    def correct(self) -> bool:
        return self.right == self.total


@dataclass(frozen=True)
class Report:
    """A marked hand calculation: each answered quantity (:class:`Marked`) in
    the order of the steps, and the solution they were marked against.

    :func:`cnnstep.check` makes one. It shows itself as text, Markdown, LaTeX
    or JSON, with the worked derivation of the wrong entries, as ``cnnstep
    check`` prints it; Jupyter shows the Markdown.

    >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
    >>> report = cnnstep.check(problem, {"output": [[0.5, 1], [1.5, 2.5]], "loss": 0.13})
    >>> report.correct, report.right, report.total
    (False, 4, 14)
    >>> report.wrong_entries()
    ['output[1][1]']
    """

    solution: Solution
    #: the asked quantities, in the order of the steps
    quantities: tuple[Marked, ...]
    answers: Answers = field(repr=False, default_factory=dict)
    #: the questions, in the order they are asked
    questions: tuple[Scored, ...] = ()
    #: the fraction of its share a carried-forward entry earns
    follow_through: Fraction = Fraction(1)

    @property
    def correct(self) -> bool:
        """Every asked entry answered, and right.

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> cnnstep.check(problem, {"loss": 0.13}).correct
        False
        """
        return all(q.correct for q in self.quantities)

    @property
    def right(self) -> int:
        """How many answered entries are right.

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> cnnstep.check(problem, {"output": [[0.5, 1], [1.5, 2.5]]}).right
        3
        """
        return sum(q.right for q in self.quantities)

    @property
    def answered(self) -> int:
        """How many asked entries were answered (``null`` is not an answer).

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> cnnstep.check(problem, {"output": [[0.5, None], [None, 2.5]]}).answered
        2
        """
        return sum(q.answered for q in self.quantities)

    @property
    def total(self) -> int:
        """How many entries were asked, answered or not.

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> cnnstep.check(problem, {"output": [[0.5, None], [None, 2.5]]}).total
        14
        """
        return sum(q.total for q in self.quantities)

    @property
    def points(self) -> Fraction:
        """The points scored, exactly.

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> cnnstep.check(problem, {"output": [[0.5, 1], [1.5, 2.5]], "loss": 0.13}).points
        Fraction(7, 4)
        """
        return sum((q.points for q in self.questions), Fraction(0))

    @property
    def max_points(self) -> Fraction:
        """The points of everything asked.

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> cnnstep.check(problem, {"loss": 0.13}).max_points
        Fraction(5, 1)
        """
        return sum((q.max_points for q in self.questions), Fraction(0))

    @property
    def blank(self) -> bool:
        """Nothing asked is answered.

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> cnnstep.check(problem, {}).blank
        True
        """
        return self.answered == 0

    def marked(self, key: str) -> Marked | None:
        """The marked quantity of a result key, None when it was not asked.

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> cnnstep.check(problem, {"loss": 0.13}).marked("loss").right
        1
        """
        return next((q for q in self.quantities if q.key == key), None)

    def render(self, format: str = "text", options: Options | None = None, *,
               title: str = TITLE) -> str:
        """The report in one of :data:`cnnstep.render.FORMATS`; the ``to_…``
        methods are the same with the options spelled out.

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> report = cnnstep.check(problem, {"output": [[0.5, 1], [1.5, 2.5]], "loss": 0.13})
        >>> report.render("json") == report.to_json()
        True
        """
        from cnnstep.api import render_report

        return render_report(self, title, format, options)

    def to_text(self, *, width: int | None = None, title: str = TITLE) -> str:
        """The report as plain text, ``width`` columns wide (by default
        :data:`cnnstep.render.TEXT_WIDTH`, as on the command line): a table of the
        quantities, each wrong matrix with its wrong entries marked, the
        mistakes named, and the worked derivation of the wrong entries.

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> report = cnnstep.check(problem, {"output": [[0.5, 1], [1.5, 2.5]], "loss": 0.13})
        >>> print(report.to_text())  # doctest: +ELLIPSIS
        Marking
        ┌─────────────┬────────┬──────┬───────┬───────────┬──────────────┐
        │ quantity    │ symbol │ mark │ right │ points    │ diagnosis    │
        ├─────────────┼────────┼──────┼───────┼───────────┼──────────────┤
        │ output      │ Z      │ ✗    │ 3/4   │ 0.75 of 1 │              │
        │ loss        │ L      │ ✓    │ 1/1   │ 1 of 1    │              │
        │ grad_output │ ∂L/∂Z  │ —    │ 0/4   │ 0 of 1    │ not answered │
        │ grad_filter │ ∂L/∂K  │ —    │ 0/1   │ 0 of 1    │ not answered │
        │ grad_input  │ ∂L/∂X  │ —    │ 0/4   │ 0 of 1    │ not answered │
        └─────────────┴────────┴──────┴───────┴───────────┴──────────────┘
        Score: 1.75 of 5 points (4 of 14 entries right, 9 not answered)
        ...
        The working of the wrong entries:
        ...
        """
        from cnnstep.render import Options

        return self.render("text", Options(width=width), title=title)

    def to_markdown(self, *, title: str = TITLE) -> str:
        """The report as Markdown, for GitHub and Jupyter.

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> report = cnnstep.check(problem, {"output": [[0.5, 1], [1.5, 2.5]], "loss": 0.13})
        >>> print(report.to_markdown())  # doctest: +ELLIPSIS
        # Marking
        <BLANKLINE>
        | quantity | symbol | mark | right | points | diagnosis |
        ...
        **Score: 1.75 of 5 points (4 of 14 entries right, 9 not answered)**
        ...
        """
        return self.render("markdown", title=title)

    def to_latex(self, *, title: str = TITLE) -> str:
        """The report as a LaTeX document that compiles with pdflatex.

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> report = cnnstep.check(problem, {"output": [[0.5, 1], [1.5, 2.5]], "loss": 0.13})
        >>> print(report.to_latex())  # doctest: +ELLIPSIS
        \\documentclass[10pt]{article}
        ...
        """
        return self.render("latex", title=title)

    def to_json(self) -> str:
        """The report object as JSON, as ``cnnstep check --format json`` writes it.

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> report = cnnstep.check(problem, {"output": [[0.5, 1], [1.5, 2.5]], "loss": 0.13})
        >>> print(report.to_json())  # doctest: +ELLIPSIS
        {"correct": false, "score": {"right": 4, "answered": 5, "total": 14, ...}
        <BLANKLINE>
        """
        return self.render("json")

    def _repr_markdown_(self) -> str:
        """How Jupyter shows a report: as Markdown."""
        return self.to_markdown()

    @cached_property
    def departures(self) -> Derivation:
        """Where the working departs: a step (keyed by the result key) for each
        wrong quantity whose mistake shows it, made once, when first asked for.
        Its notation is the problem's: the report's symbols are printed with it.

        >>> exercise = cnnstep.check(cnnstep.sample("exercise-with-answers"))
        >>> [step.title for step in exercise.departures.steps]
        ['Where the working departs']
        """
        from cnnstep.check.departures import departures

        return departures(self.solution, self.quantities)

    def symbol(self, key: str) -> Whole:
        """A result key's quantity as the problem writes it: ∂L/∂Z, ∂Loss/∂Output
        (a node of the derivation, which the printers spell).

        >>> exercise = cnnstep.check(cnnstep.sample("exercise-with-answers"))
        >>> exercise.symbol("grad_output")
        Whole(role='grad_output')
        """
        from cnnstep.check.departures import symbol

        return symbol(key, self.solution)

    def wrong_entries(self, limit: int = 12) -> list[str]:
        """The wrong entries as ``--only`` selections, for their worked derivation
        (the first ``limit``).

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> cnnstep.check(problem, {"output": [[0, 1], [1, 2]], "loss": 0}).wrong_entries(2)
        ['output[0][0]', 'output[1][0]']
        """
        out = []
        for marked in self.quantities:
            if marked.mismatches and get(marked.key).axes == "history":
                out.append(marked.key)  # the history is worked out whole
                continue
            for miss in marked.mismatches:
                out.append(entry_text(marked.key, miss.full_index,
                                      self.solution.problem.layout))
        return out[:limit]


def _weights(solution: Solution, asked: tuple[Question, ...]
             ) -> dict[str, tuple[Any, Any]]:
    """Asked key → (the points each entry carries, which entries are asked), in the
    user's shape: a whole quantity shares its points equally among its entries."""
    out: dict[str, tuple[Any, Any]] = {}
    for question in asked:
        if question.key not in out:
            value = quantity(solution, question.key)
            assert value is not None  # questions() accepts the result's keys only
            shape = in_user_shape(value, question.key, solution).shape
            weights = np.empty(shape, dtype=object)
            weights.fill(Fraction(0))
            out[question.key] = (weights, np.zeros(shape, dtype=bool))
        weights, mask = out[question.key]
        if question.whole:
            share = question.points / max(1, weights.size)
            for index in np.ndindex(*weights.shape):
                weights[index] += share
            mask[...] = True
        else:
            assert question.entry is not None
            weights[question.entry] += question.points
            mask[question.entry] = True
    return out


def mark(solution: Solution, answers: Answers, tolerance: Fraction | None = None, *,
         asked: Iterable[Asked] | None = None,
         follow_through: Fraction = Fraction(1), max_work: int | None = None) -> Report:
    """Mark a script out of everything ``asked`` (None: every quantity the
    problem determines, one point each) and diagnose the wrong quantities.

    The quantities are checked in the order of the steps, so that an earlier
    wrong answer is known when a later one is checked for follow-through. A
    blank script is marked too: it scores 0. The recomputations are estimated
    first and refused over ``max_work`` operations (:func:`budget.check_marking`;
    None: the default limit, 0: none).

    >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
    >>> from cnnstep.check import read_answers
    >>> solution = cnnstep.solve(problem).solution
    >>> mark(solution, read_answers({"loss": "1/8"}, solution), asked=[("loss", 1)]).correct
    True
    """
    budget.check_marking(solution.problem, max_work, format=None, solved=True)
    if not 0 <= follow_through <= 1:
        raise ProblemError("the follow-through fraction must be from 0 to 1")
    wanted = questions(solution, asked)
    weights = _weights(solution, wanted)

    wrong: set[str] = set()
    diagnoses: dict[str, Diagnosis | None] = {}
    for key in in_step_order(answers):
        value = quantity(solution, key)
        assert value is not None  # read_answers accepts the result's keys only
        true = in_user_shape(value, key, solution)
        if any(not is_right(given, true[index], tolerance)
               for index, given in entries(answers[key])):
            wrong.add(key)
            diagnoses[key] = diagnose(solution, key, answers, wrong, tolerance)

    marked: list[Marked] = []
    for key in in_step_order(weights):
        marked.append(_mark_quantity(solution, key, answers, weights[key], diagnoses.get(key),
                                     tolerance, follow_through))
    scored = tuple(score(question, marked) for question in wanted)
    return Report(solution, tuple(marked), answers, scored, follow_through)


def _mark_quantity(solution: Solution, key: str, answers: Answers, weighted: tuple[Any, Any],
                   diagnosis: Diagnosis | None, tolerance: Fraction | None,
                   follow_through: Fraction) -> Marked:
    weights, mask = weighted
    value = quantity(solution, key)
    assert value is not None
    true = in_user_shape(value, key, solution)
    grid = answers.get(key)
    full = full_shape(key, solution.problem.layer)
    carried = diagnosis is not None and diagnosis.code == CARRIED_FORWARD
    marked_entries: list[Entry] = []
    mismatches: list[Mismatch] = []
    right = answered = 0
    for index in np.ndindex(*mask.shape):
        if not mask[index]:
            continue
        expected: Fraction = true.item(index) if index else true.item()
        weight: Fraction = weights.item(index) if index else weights.item()
        given: Given | None = (None if grid is None
                               else grid.item(index) if index else grid.item())
        ok = given is not None and is_right(given, expected, tolerance)
        points = Fraction(0)
        if given is not None:
            answered += 1
            if ok:
                right += 1
                points = weight
            else:
                mismatches.append(Mismatch(index, quantities.full_index(
                    key, index, full, solution.problem.layout), expected, given))
                points = weight * follow_through if carried else Fraction(0)
        marked_entries.append(Entry(index, expected, given, ok, points, weight))
    return Marked(key, right, answered, len(marked_entries), tuple(mismatches),
                  diagnosis if mismatches else None,
                  sum((e.points for e in marked_entries), Fraction(0)),
                  sum((e.max_points for e in marked_entries), Fraction(0)),
                  tuple(marked_entries))


def score(question: Question, marked: list[Marked]) -> Scored:
    """A question's points: its share of each of its entries' points."""
    quantity_of = next(q for q in marked if q.key == question.key)
    chosen = [e for e in quantity_of.entries
              if question.whole or e.index == question.entry]
    share = question.points / max(1, len(chosen))
    points = Fraction(0)
    for e in chosen:
        if e.max_points:
            points += share * (e.points / e.max_points)
    return Scored(question, sum(e.right for e in chosen),
                  sum(e.given is not None for e in chosen), len(chosen), points,
                  question.points)
