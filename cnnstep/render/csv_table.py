"""CSV for a gradebook: one row per answers file.

The columns are ``file``, ``points``, ``max_points``, then one per question
(the quantity's key, or the entry, as asked) holding the points it earned,
then ``diagnoses`` (``grad_input: kernel_not_rotated; …``). A file that could
not be read has empty points and its error in ``diagnoses``. Quoting follows
RFC 4180 (the csv module's), lines end in CRLF.

Points are decimals, so that a spreadsheet reads them as numbers: exact where
the decimal ends, else rounded to :data:`PLACES` places (a fraction such as
8/9 would be read as a date).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from cnnstep.numbers import exact_decimal, round_places, terminates
from cnnstep.render import Options, Outcome, Renderer, prose

if TYPE_CHECKING:
    from cnnstep.check import Report
    from cnnstep.check.volume import VolumeReport
    from cnnstep.derivation import Derivation

#: decimal places of points whose decimal does not end
PLACES = 4
#: the columns before the questions, and the last one
LEADING = ("file", "points", "max_points")
TRAILING = "diagnoses"


def number(value: Fraction) -> str:
    """Points as a spreadsheet reads them: ``4.5``, ``4.8889``."""
    return exact_decimal(value) if terminates(value) else round_places(value, PLACES)


def header(outcomes: Sequence[Outcome]) -> list[str]:
    """The columns: the questions are those of the first script that was read
    (every script is marked against the same problem)."""
    first = next((o for _, o in outcomes if not isinstance(o, str)), None)
    asked = [] if first is None else [s.question.text for s in first.questions]
    return [*LEADING, *asked, TRAILING]


def row(name: str, outcome: Report | VolumeReport | str, width: int) -> list[str]:
    if isinstance(outcome, str):
        return [name, "", "", *[""] * width, f"error: {outcome}"]
    return [name, number(outcome.points), number(outcome.max_points),
            *[number(s.points) for s in outcome.questions],
            "; ".join(prose.diagnoses(outcome))]


class Csv(Renderer):
    """Marked answers only: a batch is a table, and one report is a batch of one."""

    name = "csv"
    worked = False
    solves = False
    always_batch = True

    def derivation(self, derivation: Derivation, options: Options) -> str:
        raise ValueError("csv prints marked answers, not a worked derivation")

    def result(self, result: Mapping[str, Any], approximate: frozenset[str]) -> str:
        raise ValueError("csv prints marked answers, not a result")

    def report(self, report: Report, title: str, working: Derivation | None,
               options: Options) -> str:
        return self.batch([(title, report)], options)

    def batch(self, outcomes: Sequence[Outcome], options: Options | None = None) -> str:
        columns = header(outcomes)
        width = len(columns) - len(LEADING) - 1
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(columns)
        for name, outcome in outcomes:
            writer.writerow(row(name, outcome, width))
        return buffer.getvalue()


RENDERER = Csv()
