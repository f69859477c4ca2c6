"""The words every format shares, written once; each renderer adds its markup.

A sentence that names something the reader types (a command-line flag, say)
comes as a list of pieces, with those words as :class:`Code`, so that each
format can set them as code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnstep.numbers import display

if TYPE_CHECKING:
    from cnnstep.check import Diagnosis, Marked, Report
    from cnnstep.derivation import Expr, Omitted, Step
    from cnnstep.render import Hints, Outcome


class Code(str):
    """Words the reader types, such as a flag: set as code where a format can."""

    __slots__ = ()


# --------------------------------------------------------------------------
# the derivation


def step_heading(number: int, step: Step) -> str:
    return f"Step {number}: {step.title}" if step.numbered else step.title


def shortened(hints: Hints) -> list[str]:
    """The note at the top of a derivation that works out only the first entries."""
    words = ["This derivation is long: each step works out its first entries and says "
             "what it left out"]
    if hints.every is not None:
        words += [" (", Code(hints.every), " prints everything)"]
    return [*words, "."]


def omitted(block: Omitted, hints: Hints) -> list[str]:
    """The note in place of the entries a shortened step leaves out."""
    words = [f"… {block.count} more {block.what} are worked out the same way"]
    one = hints.for_one(block.example)
    if one is not None:
        words += ["; see one with ", Code(one)]
    if hints.every is not None:
        words += [", or all with " if one is not None else "; see all with ",
                  Code(hints.every)]
    return [*words, "."]


# --------------------------------------------------------------------------
# a marked hand calculation

#: the columns of a report's table of quantities: the result key, and the
#: quantity as the problem writes it (∂L/∂Z)
SUMMARY_HEADER = ("quantity", "symbol", "mark", "right", "diagnosis")
#: the heading of the worked derivation of the wrong entries
WORKING = "The working of the wrong entries"
ALL_CORRECT = "all correct"


def wrong(report: Report) -> list[Marked]:
    """The quantities with a wrong entry, each given its own section."""
    return [q for q in report.quantities if not q.correct]


def score(report: Report) -> str:
    return f"Score: {report.right}/{report.total}"


def diagnosis_label(diagnosis: Diagnosis) -> str:
    return f"Diagnosis ({diagnosis.code}):"


def index_text(index: tuple[int, ...]) -> str:
    return "".join(f"[{i}]" for i in index)


def summary_rows(report: Report) -> list[tuple[str, Expr, str, str, str]]:
    """One row per quantity: its key, its symbol (for each format to print), ✓ or ✗,
    right out of total, the diagnosis."""
    rows: list[tuple[str, Expr, str, str, str]] = []
    for q in report.quantities:
        diagnosis = f"{q.diagnosis.code}: {q.diagnosis.message}" if q.diagnosis else ""
        rows.append((q.key, report.symbol(q.key), "✓" if q.correct else "✗",
                     f"{q.right}/{q.total}", diagnosis))
    return rows


def wrong_count(q: Marked) -> str:
    """``9 wrong entries``."""
    count = len(q.mismatches)
    return f"{count} wrong entr{'y' if count == 1 else 'ies'}"


def departure(report: Report, q: Marked) -> Step | None:
    """The step that shows where the working of a wrong quantity departs, if its
    mistake shows one (:mod:`cnnstep.check.departures`)."""
    return next((step for step in report.departures.steps if step.key == q.key), None)


#: an entry the student left unanswered
UNANSWERED = "—"


def marked_entries(q: Marked, report: Report) -> Any:
    """The student's answers, entry by entry: (given, expected) text, expected None
    where the answer is right and given None where there is no answer."""
    grid = report.answers[q.key]
    wrong = {m.index: m for m in q.mismatches}
    out = np.empty(grid.shape, dtype=object)
    for index in np.ndindex(*grid.shape):
        given = grid.item(index) if index else grid.item()
        miss = wrong.get(index)
        out[index] = (None if given is None else display(given.value),
                      None if miss is None else display(miss.expected))
    return out


def marked_cells(q: Marked, report: Report) -> Any:
    """The student's answers with the wrong ones marked: text per cell."""
    entries = marked_entries(q, report)
    out = np.empty(entries.shape, dtype=object)
    for index in np.ndindex(*entries.shape):
        given, expected = entries[index]
        out[index] = (UNANSWERED if given is None else given if expected is None
                      else f"✗ {given} (expected {expected})")
    return out


def slices(cells: Any) -> list[tuple[str, Any]]:
    """2-D slices of a marked array, labelled with their leading indices."""
    if cells.ndim <= 2:
        return [("", cells.reshape((1,) * (2 - cells.ndim) + cells.shape))]
    return [(f" {index_text(lead)}", cells[lead]) for lead in np.ndindex(*cells.shape[:-2])]


# --------------------------------------------------------------------------
# a batch of answers files

#: the columns of the summary of a batch
BATCH_HEADER = ("file", "score", "diagnoses")


def batch_rows(outcomes: Sequence[Outcome]) -> list[tuple[str, str, str]]:
    """One row per answers file: the file, its score (or its error), its diagnoses."""
    rows = []
    for name, outcome in outcomes:
        if isinstance(outcome, str):
            rows.append((name, "error", outcome))
            continue
        codes = sorted({q.diagnosis.code for q in outcome.quantities if q.diagnosis})
        rows.append((name, f"{outcome.right}/{outcome.total}", ", ".join(codes)))
    return rows


def tally(outcomes: Sequence[Outcome]) -> str:
    right = sum(1 for _, outcome in outcomes if not isinstance(outcome, str) and outcome.correct)
    return f"{right} of {len(outcomes)} {ALL_CORRECT}"
