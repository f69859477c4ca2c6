"""The words every format shares, written once; each renderer adds its markup.

A sentence that names something the reader types (a command-line flag, say)
comes as a list of pieces, with those words as :class:`Code`, so that each
format can set them as code.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnstep.numbers import display, exact_decimal, terminates

if TYPE_CHECKING:
    from cnnstep.check import Diagnosis, Marked, Report, Scored
    from cnnstep.derivation import Expr, Omitted, Step
    from cnnstep.render import Hints, Outcome


#: the diagnosis whose wrong entries earn method marks
CARRIED_FORWARD = "carried_forward"


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
SUMMARY_HEADER = ("quantity", "symbol", "mark", "right", "points", "diagnosis")
#: the heading of the worked derivation of the wrong entries
WORKING = "The working of the wrong entries"
ALL_CORRECT = "all correct"
#: the mark of a quantity all right, one with a wrong entry, and one with entries
#: not answered (and none wrong)
RIGHT, WRONG, NOT_ANSWERED = "✓", "✗", "—"


def wrong(report: Report) -> list[Marked]:
    """The quantities with a wrong entry, each given its own section."""
    return [q for q in report.quantities if q.mismatches]


def points(value: Fraction) -> str:
    """Points exactly: ``4.5``, or ``44/9`` where the decimal does not end."""
    return exact_decimal(value) if terminates(value) else str(value)


def out_of(value: Fraction, most: Fraction) -> str:
    """``4.5 of 6``."""
    return f"{points(value)} of {points(most)}"


def entries_right(right: int, total: int, answered: int) -> str:
    """``17 of 26 entries right, 3 not answered``."""
    text = f"{right} of {total} entr{'y' if total == 1 else 'ies'} right"
    if answered < total:
        text += f", {total - answered} not answered"
    return text


def score(report: Report) -> str:
    """``Score: 4.5 of 6 points (17 of 26 entries right, 3 not answered)``."""
    return (f"Score: {out_of(report.points, report.max_points)} points "
            f"({entries_right(report.right, report.total, report.answered)})")


def diagnosis_label(diagnosis: Diagnosis) -> str:
    return f"Diagnosis ({diagnosis.code}):"


def index_text(index: tuple[int, ...]) -> str:
    return "".join(f"[{i}]" for i in index)


def mark(q: Marked | Scored) -> str:
    """✓ every entry right, ✗ an entry wrong, — entries not answered."""
    if q.correct:
        return RIGHT
    return NOT_ANSWERED if q.right == q.answered else WRONG


def summary_rows(report: Report) -> list[tuple[str, Expr, str, str, str, str]]:
    """One row per quantity: its key, its symbol (for each format to print), its
    mark, right out of total, its points, the diagnosis."""
    rows: list[tuple[str, Expr, str, str, str, str]] = []
    for q in report.quantities:
        diagnosis = f"{q.diagnosis.code}: {q.diagnosis.message}" if q.diagnosis else ""
        if q.diagnosis and q.diagnosis.code == CARRIED_FORWARD:
            diagnosis += f" {follow_through(report)}"
        elif not q.answered:
            diagnosis = "not answered"
        rows.append((q.key, report.symbol(q.key), mark(q), f"{q.right}/{q.total}",
                     out_of(q.points, q.max_points), diagnosis))
    return rows


def follow_through(report: Report) -> str:
    """What an entry carried forward earns."""
    share = report.follow_through
    if share == 1:
        return "Entries carried forward earn their full share of the points."
    if share == 0:
        return "Entries carried forward earn no points."
    return f"Entries carried forward earn {points(share)} of their share of the points."


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
BATCH_HEADER = ("file", "points", "right", "diagnoses")
#: the diagnoses column of a script with nothing answered
BLANK = "nothing answered"


def diagnoses(report: Report) -> list[str]:
    """``grad_input: kernel_not_rotated``: each diagnosis with its quantity."""
    if report.blank:
        return [BLANK]
    return [f"{q.key}: {q.diagnosis.code}" for q in report.quantities if q.diagnosis]


def batch_rows(outcomes: Sequence[Outcome], joined: str = "; ") -> list[tuple[str, str, str, str]]:
    """One row per answers file: the file, its points (or "error"), its entries
    right, its diagnoses (or the error), ``joined``."""
    rows = []
    for name, outcome in outcomes:
        if isinstance(outcome, str):
            rows.append((name, "error", "", outcome.removeprefix(f"{name}: ")))
            continue
        rows.append((name, out_of(outcome.points, outcome.max_points),
                     f"{outcome.right}/{outcome.total}", joined.join(diagnoses(outcome))))
    return rows


def tally(outcomes: Sequence[Outcome]) -> str:
    """``2 of 3 all correct`` (``, 1 could not be read``)."""
    right = sum(1 for _, outcome in outcomes if not isinstance(outcome, str) and outcome.correct)
    errors = sum(1 for _, outcome in outcomes if isinstance(outcome, str))
    text = f"{right} of {len(outcomes)} {ALL_CORRECT}"
    return text + (f", {errors} could not be read" if errors else "")
