"""Marking a hand calculation: which answers are right, and what went wrong.

* :mod:`~cnnstep.check.answers` reads an answers object and holds the rule
  that marks one entry right;
* :mod:`~cnnstep.check.mistakes` is the registry of the mistakes the marker
  can name (the format's table) and the order in which they are tried;
* :mod:`~cnnstep.check.follow_through` finds a later step done right from the
  student's own wrong earlier answer (``carried_forward``);
* :mod:`~cnnstep.check.asked` reads what an exercise asks and the points of
  each question;
* :mod:`~cnnstep.check.marking` marks a script out of everything asked and
  makes the report.

The names below are imported from those modules on first use, so that
``import cnnstep`` (which imports this package, for the function
:func:`cnnstep.check` to take its name) stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cnnstep.check.answers import (
        NEAR,
        Answers,
        Given,
        answers_in_problem,
        is_right,
        load_answers,
        read_answers,
        tolerance_of,
    )
    from cnnstep.check.asked import Asked, Question, everything, questions
    from cnnstep.check.marking import Entry, Marked, Mismatch, Report, Scored, mark
    from cnnstep.check.mistakes import MISTAKES, PRECEDENCE, Diagnosis, Mistake

#: each name of ``__all__`` → the module that defines it
_HOMES = {
    **dict.fromkeys(["NEAR", "Answers", "Given", "answers_in_problem", "is_right",
                     "load_answers", "read_answers", "tolerance_of"], "answers"),
    **dict.fromkeys(["Asked", "Question", "everything", "questions"], "asked"),
    **dict.fromkeys(["Entry", "Marked", "Mismatch", "Report", "Scored", "mark"], "marking"),
    **dict.fromkeys(["MISTAKES", "PRECEDENCE", "Diagnosis", "Mistake"], "mistakes"),
}

__all__ = [
    "MISTAKES",
    "NEAR",
    "PRECEDENCE",
    "Answers",
    "Asked",
    "Diagnosis",
    "Entry",
    "Given",
    "Marked",
    "Mismatch",
    "Mistake",
    "Question",
    "Report",
    "Scored",
    "answers_in_problem",
    "everything",
    "is_right",
    "load_answers",
    "mark",
    "questions",
    "read_answers",
    "tolerance_of",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'cnnstep.check' has no attribute {name!r}")
    value = getattr(import_module(f"cnnstep.check.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
