"""Several problems in one document: a numbered exercise each.

``cnnstep solve A.json B.json …`` reads every file first, then puts the
problems together as a :class:`ProblemSet`: its worked solutions (the key),
its question sheet, its exam for the ``exam`` document class, or its result
objects as one JSON list. Each exercise is titled by its number and its file's
name, ``Exercise 2 (problem-02.json)``.

A problem that cannot be worked out (over the work limit, or an ``--only``
that names nothing in it) stops the set with an :class:`ExerciseError` that
names its file; nothing is printed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from cnnstep.api import Worked, WorkedVolume
from cnnstep.derivation import ExamQuestion, Exercises
from cnnstep.numbers import printing
from cnnstep.problem import STDIN, Problem, ProblemError, Volume, where
from cnnstep.quantities import SelectionError
from cnnstep.render import Options, renderer

if TYPE_CHECKING:
    from cnnstep.derivation import Derivation, Detail

#: a solved problem of a set: a 1-D or 2-D layer, or a 3-D one
Solved = Worked | WorkedVolume

#: called each time a problem of the set has been worked out (a progress bar's step)
Progress = Callable[[], None]

T = TypeVar("T")

#: the title of a set's worked solutions, and of its question sheet, where a
#: format needs one (an HTML page's)
KEY_TITLE = "Worked solutions"
SHEET_TITLE = "Exercises"


def _nothing() -> None:
    """No progress to show."""


def exercise_name(source: str | Path) -> str:
    """How an exercise names its problem: the file's name without its folder,
    ``standard input`` for ``-``.

    >>> exercise_name("week3/problem-02.json"), exercise_name("-"), exercise_name("<stdin>")
    ('problem-02.json', 'standard input', 'standard input')
    """
    return "standard input" if str(source) in (STDIN, where(STDIN)) else Path(source).name


def exercise_title(number: int, name: str) -> str:
    """``Exercise 2 (problem-02.json)``."""
    return f"Exercise {number} ({name})"


class ExerciseError(ValueError):
    """One problem of a set could not be worked out: ``source`` names its file and
    ``error`` says why (a :class:`~cnnstep.budget.WorkLimitError`, a
    :class:`~cnnstep.problem.ProblemError` or a
    :class:`~cnnstep.quantities.SelectionError`)."""

    def __init__(self, source: str, error: Exception) -> None:
        super().__init__(f"{source}: {error}")
        self.source, self.error = source, error


@dataclass(frozen=True)
class ProblemSet:
    """Solved problems, in order, each with the file it was read from (as messages
    name it)."""

    sources: tuple[str, ...]
    worked: tuple[Solved, ...]

    def _each(self, make: Callable[[str, Solved], T], progress: Progress) -> list[T]:
        """``make(source, worked)`` for each problem, errors named by its file."""
        out = []
        for source, worked in zip(self.sources, self.worked, strict=True):
            try:
                out.append(make(source, worked))
            except (ProblemError, SelectionError) as error:  # WorkLimitError is a ProblemError
                raise ExerciseError(source, error) from None
            progress()
        return out

    def _titled(self, derivations: Sequence[Derivation]) -> tuple[Derivation, ...]:
        return tuple(replace(d, title=exercise_title(number, exercise_name(source)))
                     for number, (source, d) in enumerate(zip(self.sources, derivations,
                                                                strict=True), start=1))

    def render(self, format: str = "text", options: Options | None = None, *,
               max_terms: int | None = None, only: Iterable[str] = (),
               detail: Detail = "full", progress: Progress = _nothing) -> str:
        """The worked solutions in one document, each a numbered exercise; in JSON, a
        list of ``{"exercise": n, "file": name, "result": {…}}``.

        >>> problems = ProblemSet.read([cnnstep.sample("seed000"), cnnstep.sample("half-sse")])
        >>> text = problems.render("text")
        >>> text.count("│ Exercise 1 (seed000-filter-update.json) │")
        1
        >>> print(problems.render("json").splitlines()[4])
            "result": {
        """
        only = tuple(only)
        printer = renderer(format)
        with printing():
            if not printer.worked:
                return printer.results([
                    (exercise_name(source), worked.result, worked.approximate_keys())
                    for source, worked in zip(self.sources, self.worked, strict=True)])
            derivations = self._each(lambda _, worked: worked.checked_derivation(
                format, max_terms=max_terms, only=only, detail=detail), progress)
            return printer.exercises(Exercises(KEY_TITLE, self._titled(derivations)),
                                     options or Options())

    def questions(self, format: str = "text", options: Options | None = None, *,
                  progress: Progress = _nothing) -> str:
        """The question sheet of the set: each exercise's givens and numbered
        questions with their points, and the points of the whole set first."""
        from cnnstep.derivation.questions import points

        printer = renderer(format)
        if not printer.worked:
            raise ValueError(f"the {format} format prints results, not a question sheet")
        with printing():
            sheets = self._each(lambda _, worked: _sheet(worked), progress)
            whole = sum((_total(worked) for worked in self.worked), Fraction(0))
            return printer.exercises(
                Exercises(SHEET_TITLE, self._titled(sheets), (f"Total: {points(whole)}",)),
                options or Options())

    def exam(self, *, answers: bool = False, max_terms: int | None = None,
             options: Options | None = None, progress: Progress = _nothing) -> str:
        """A document for the ``exam`` class: each problem a ``\\question`` with its
        givens, each asked quantity a ``\\part`` with its points and its working in a
        ``solution``; ``answers`` prints the solutions (``\\printanswers``), else the
        line that would is commented out.

        >>> source = ProblemSet.read([cnnstep.sample("seed000")]).exam()
        >>> print(source[source.index("\\\\begin{questions}"):].splitlines()[2])
        \\question[6]
        """
        from cnnstep.derivation import DEFAULT_MAX_TERMS
        from cnnstep.derivation.questions import exam_question
        from cnnstep.render.exam import exam

        limit = DEFAULT_MAX_TERMS if max_terms is None else max_terms

        def question(source: str, worked: Solved) -> ExamQuestion:
            worked.check_work("latex", max_terms=max_terms)
            if isinstance(worked, WorkedVolume):
                from cnnstep.derivation import volume_questions

                return volume_questions.exam_question(worked.exercise(), exercise_name(source),
                                                      limit)
            return exam_question(worked.solution, exercise_name(source), limit)

        with printing():
            questions = self._each(question, progress)
            return exam(questions, answers=answers, options=options)

    @classmethod
    def read(cls, sources: Sequence[str | Path], *, max_work: int | None = None) -> ProblemSet:
        """Read and solve problem files; the first that cannot be read raises its
        :class:`~cnnstep.problem.ProblemError`, which names it. A 3-D layer
        (``"dimensions": 3``) is a :class:`~cnnstep.api.WorkedVolume`."""
        worked: list[Solved] = []
        for source in sources:
            problem = _load(source)
            try:
                worked.append(WorkedVolume(problem, max_work=max_work)
                              if isinstance(problem, Volume) else
                              Worked(problem, max_work=max_work))
            except ProblemError as error:
                raise ExerciseError(where(source), error) from None
        return cls(tuple(where(source) for source in sources), tuple(worked))


def _load(source: str | Path) -> Problem | Volume:
    """A problem file's 1-D or 2-D problem, or its 3-D layer; errors are prefixed by
    its name."""
    from cnnstep.problem import parse_problem, read_text, read_volume

    try:
        text = read_text(Path(source))
        volume = read_volume(text) if '"dimensions"' in text else None
        return volume if volume is not None else parse_problem(text)
    except ProblemError as error:
        raise ProblemError(f"{where(source)}: {error}") from None


def _sheet(worked: Solved) -> Derivation:
    """A problem's question sheet."""
    if isinstance(worked, WorkedVolume):
        from cnnstep.derivation import volume_questions

        return volume_questions.sheet(worked.exercise())
    from cnnstep.derivation.questions import sheet

    return sheet(worked.solution)


def _total(worked: Solved) -> Fraction:
    """The points of everything a problem asks."""
    if isinstance(worked, WorkedVolume):
        from cnnstep.volume_questions import total as volume_total

        return volume_total(worked.exercise())
    from cnnstep.derivation.questions import total

    return total(worked.solution)

