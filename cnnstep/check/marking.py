"""Marking every answered quantity, in the order of the steps, and the report.

The examples mark answers to a 2×2 input, a 1×1 filter and a target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from typing import TYPE_CHECKING

from cnnstep.check.answers import Answers, Given, entries, in_user_shape, is_right
from cnnstep.check.mistakes import Diagnosis, diagnose
from cnnstep.engine import Solution
from cnnstep.problem import ProblemError
from cnnstep.quantities import entry_text, full_shape, in_step_order
from cnnstep.result import quantity

if TYPE_CHECKING:
    from cnnstep.derivation import Derivation, Whole
    from cnnstep.render import Options

#: the first line of a report made in Python, where the command line names the files
TITLE = "Marking"


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
class Marked:
    """One quantity, marked: how many of its answered entries are right, the
    wrong ones, and the mistake that explains them, if one does.

    >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
    >>> report = cnnstep.check(problem, {"output": [[0.5, 1], [1.5, 2.5]], "loss": 0.13})
    >>> [(marked.key, marked.right, marked.total) for marked in report.quantities]
    [('output', 3, 4), ('loss', 1, 1)]
    """

    key: str
    right: int
    total: int
    mismatches: tuple[Mismatch, ...]
    diagnosis: Diagnosis | None = None

    @property
    def correct(self) -> bool:
        """Whether every answered entry of the quantity is right.

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> report = cnnstep.check(problem, {"output": [[0.5, 1], [1.5, 2.5]], "loss": 0.13})
        >>> [marked.correct for marked in report.quantities]
        [False, True]
        """
        return not self.mismatches


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
    (False, 4, 5)
    >>> report.wrong_entries()
    ['output[1][1]']
    """

    solution: Solution
    quantities: tuple[Marked, ...]
    answers: Answers = field(repr=False, default_factory=dict)

    @property
    def correct(self) -> bool:
        """Whether every answered entry is right.

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> cnnstep.check(problem, {"loss": 0.13}).correct
        True
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
    def total(self) -> int:
        """How many entries were answered (``null`` is not an answer).

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> cnnstep.check(problem, {"output": [[0.5, None], [None, 2.5]]}).total
        2
        """
        return sum(q.total for q in self.quantities)

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

    def to_text(self, *, width: int = 80, title: str = TITLE) -> str:
        """The report as plain text, ``width`` columns wide: a table of the
        quantities, each wrong matrix with its wrong entries marked, the
        mistakes named, and the worked derivation of the wrong entries.

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> report = cnnstep.check(problem, {"output": [[0.5, 1], [1.5, 2.5]], "loss": 0.13})
        >>> print(report.to_text())  # doctest: +ELLIPSIS
        Marking
        ┌──────────┬────────┬──────┬───────┬───────────┐
        │ quantity │ symbol │ mark │ right │ diagnosis │
        ├──────────┼────────┼──────┼───────┼───────────┤
        │ output   │ Z      │ ✗    │ 3/4   │           │
        │ loss     │ L      │ ✓    │ 1/1   │           │
        └──────────┴────────┴──────┴───────┴───────────┘
        Score: 4/5
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
        | quantity | symbol | mark | right | diagnosis |
        ...
        **Score: 4/5**
        ...
        """
        return self.render("markdown", title=title)

    def to_latex(self, *, title: str = TITLE) -> str:
        """The report as a LaTeX document that compiles with pdflatex.

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> report = cnnstep.check(problem, {"output": [[0.5, 1], [1.5, 2.5]], "loss": 0.13})
        >>> print(report.to_latex())  # doctest: +ELLIPSIS
        \\documentclass[11pt]{article}
        ...
        """
        return self.render("latex", title=title)

    def to_json(self) -> str:
        """The report object as JSON, as ``cnnstep check --format json`` writes it.

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> report = cnnstep.check(problem, {"output": [[0.5, 1], [1.5, 2.5]], "loss": 0.13})
        >>> print(report.to_json())  # doctest: +ELLIPSIS
        {"correct": false, "score": {"right": 4, "total": 5}, "quantities": {"output": ...}
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
            for miss in marked.mismatches:
                out.append(entry_text(marked.key, miss.full_index,
                                      self.solution.problem.layout))
        return out[:limit]


def mark(solution: Solution, answers: Answers, tolerance: Fraction | None = None) -> Report:
    """Mark every answered quantity and diagnose the wrong ones.

    The quantities are marked in the order of the steps, so that an earlier
    wrong answer is known when a later one is checked for follow-through.
    :func:`cnnstep.check` reads the problem and the answers and calls this.

    >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
    >>> from cnnstep.check import read_answers
    >>> solution = cnnstep.solve(problem).solution
    >>> mark(solution, read_answers({"loss": "1/8"}, solution)).correct
    True
    """
    wrong: set[str] = set()
    marked: list[Marked] = []
    for key in in_step_order(answers):
        value = quantity(solution, key)
        assert value is not None  # read_answers accepts the result's keys only
        true = in_user_shape(value, key, solution)
        full = full_shape(key, solution.problem.layer)
        mismatches = []
        right = total = 0
        for index, given in entries(answers[key]):
            total += 1
            if is_right(given, true[index], tolerance):
                right += 1
            else:
                full_index = (0,) * (len(full) - len(index)) + index
                mismatches.append(Mismatch(index, full_index, true[index], given))
        if not total:
            continue  # every entry null: nothing to mark
        diagnosis = None
        if mismatches:
            wrong.add(key)
            diagnosis = diagnose(solution, key, answers, wrong, tolerance)
        marked.append(Marked(key, right, total, tuple(mismatches), diagnosis))
    if not marked:
        raise ProblemError("no answers to mark: the answers are empty or all null")
    return Report(solution, tuple(marked), answers)
