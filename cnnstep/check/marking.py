"""Marking every answered quantity, in the order of the steps, and the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from cnnstep import budget
from cnnstep.check.answers import Answers, Given, entries, in_user_shape, is_right
from cnnstep.check.mistakes import Diagnosis, diagnose
from cnnstep.engine import Solution
from cnnstep.problem import ProblemError
from cnnstep.quantities import entry_text, full_shape, in_step_order
from cnnstep.result import quantity


@dataclass(frozen=True)
class Mismatch:
    index: tuple[int, ...]  # in the user's shape
    full_index: tuple[int, ...]  # in the full layout
    expected: Fraction
    given: Given


@dataclass(frozen=True)
class Marked:
    """One quantity, marked."""

    key: str
    right: int
    total: int
    mismatches: tuple[Mismatch, ...]
    diagnosis: Diagnosis | None = None

    @property
    def correct(self) -> bool:
        return not self.mismatches


@dataclass(frozen=True)
class Report:
    solution: Solution
    quantities: tuple[Marked, ...]
    answers: Answers = field(repr=False, default_factory=dict)

    @property
    def correct(self) -> bool:
        return all(q.correct for q in self.quantities)

    @property
    def right(self) -> int:
        return sum(q.right for q in self.quantities)

    @property
    def total(self) -> int:
        return sum(q.total for q in self.quantities)

    def wrong_entries(self, limit: int = 12) -> list[str]:
        """The wrong entries as ``--only`` selections, for their worked derivation."""
        out = []
        for marked in self.quantities:
            for miss in marked.mismatches:
                out.append(entry_text(marked.key, miss.full_index,
                                      self.solution.problem.layout))
        return out[:limit]


def mark(solution: Solution, answers: Answers, tolerance: Fraction | None = None, *,
         max_work: int | None = None) -> Report:
    """Mark every answered quantity and diagnose the wrong ones.

    The quantities are marked in the order of the steps, so that an earlier
    wrong answer is known when a later one is checked for follow-through.
    The recomputations are estimated first and refused over ``max_work``
    operations (:func:`budget.check_marking`; None: the default limit, 0: none).
    """
    budget.check_marking(solution.problem, max_work, format=None, solved=True)
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
