"""What an exercise asks, and the points each question is worth.

A question is a result key (the whole quantity) or a single entry
(``grad_input[1][1]``), with its points. A quantity's points are shared
equally by its entries; an entry asked on its own carries all of its
question's points. Without a list of questions, everything the problem
determines is asked, one point per quantity (:func:`everything`).

The marker takes the questions as pairs ``(text, points)``, in the order
they are asked; :func:`questions` reads them against the problem.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction

from cnnstep import quantities
from cnnstep.engine import Solution
from cnnstep.problem import Problem, ProblemError
from cnnstep.quantities import SelectionError, parse_entry, present, user_index

#: one question as the marker is given it: a result key or an entry, and its points
Asked = tuple[str, Fraction | int]


@dataclass(frozen=True)
class Question:
    """One thing asked: a whole quantity, or one entry of it."""

    #: as asked: ``grad_input`` or ``grad_input[1][1]``
    text: str
    key: str
    #: the entry's index in the user's shape; None: the whole quantity
    entry: tuple[int, ...] | None
    points: Fraction

    @property
    def whole(self) -> bool:
        return self.entry is None


def everything(problem: Problem) -> tuple[Asked, ...]:
    """What the problem asks: its ``questions``, or every quantity it determines,
    one point each (:func:`cnnstep.quantities.asked`)."""
    return quantities.asked(problem)


def questions(solution: Solution, asked: Iterable[Asked] | None = None) -> tuple[Question, ...]:
    """The questions, read against the problem; None asks :func:`everything` (the
    problem's own ``questions``, or every quantity).

    A question that names nothing in this problem's result, a negative number
    of points, or a question asked twice is a :class:`ProblemError`.
    """
    problem = solution.problem
    if asked is None:
        asked = everything(problem)
    available = present(problem)

    def entry_of(word: str) -> tuple[str, tuple[int, ...]]:
        key, full_index = parse_entry(word, problem.layer, available)
        return key, user_index(key, full_index, problem.layout)

    return read_asked(asked, available, entry_of)


def read_asked(asked: Iterable[Asked], available: Iterable[str],
               entry_of: Callable[[str], tuple[str, tuple[int, ...]]]
               ) -> tuple[Question, ...]:
    """The questions of any layer: a whole quantity among ``available``, or an entry
    that ``entry_of`` reads (its key and index in the user's shape; a
    :class:`SelectionError` when it names nothing); each asked once, with points
    at least 0."""
    names = frozenset(available)
    out: list[Question] = []
    seen: set[str] = set()
    for text, points in asked:
        word = text.strip()
        entry: tuple[int, ...] | None = None
        if word in names:
            key, name = word, word
        else:
            try:
                key, entry = entry_of(word)
            except SelectionError as error:
                raise ProblemError(f"questions: {error}") from None
            name = key + "".join(f"[{i}]" for i in entry)
        if name in seen:
            raise ProblemError(f"questions: {name} is asked twice")
        seen.add(name)
        value = Fraction(points)
        if value < 0:
            raise ProblemError(f"questions: {name}: the points cannot be negative")
        out.append(Question(name, key, entry, value))
    return tuple(out)
