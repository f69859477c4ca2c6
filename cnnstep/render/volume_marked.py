"""A 3-D layer's marked answers in the formats of a 2-D report: Markdown, LaTeX,
HTML, text with the working, and Gradescope's ``results.json``.

The 2-D report printers (each renderer's ``report``, and
:func:`cnnstep.render.gradescope.results`) read a report's counts, its marked
quantities and questions, each quantity's symbol and a derivation that carries
the notation. :class:`Marking` gives them a
:class:`~cnnstep.check.volume.VolumeReport` that way: its symbols are the 3-D
derivation's, printed with the layer's notation, and it has no departures (a 3-D
mistake is shown by its diagnosis and the working). The working of the wrong
entries is the 3-D derivation cut down to them
(:mod:`cnnstep.derivation.volume_shaping`); a batch of volumes works its wrong
quantities whole.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING, cast

from cnnstep.problem import ProblemError, VolumeBatch

if TYPE_CHECKING:
    from cnnstep.check.answers import Answers
    from cnnstep.check.marking import Marked, Report, Scored
    from cnnstep.check.volume import VolumeReport
    from cnnstep.derivation import Derivation, Whole
    from cnnstep.problem import Volume
    from cnnstep.render import Options

#: the wrong entries whose working is shown, at most (as for a 2-D report)
WORKED_LIMIT = 12
#: the formats a single 3-D report is printed in with the 2-D report printers
FORMATS = ("markdown", "latex", "html", "gradescope")


def role(key: str, volume: Volume) -> str:
    """The derivation's symbol for a result key's entries: ``output`` and
    ``grad_output`` take the last stage's (P, A or Z)."""
    from cnnstep.quantities import BY_KEY

    own = BY_KEY[key].role
    if own:
        return own
    last = ("pooled" if volume.pool is not None else
            "activated" if volume.activation is not None else "conv")
    stage = BY_KEY[last].role
    return stage if key == "output" else "grad_" + stage


@dataclass(frozen=True)
class Marking:
    """A 3-D layer's report as the 2-D report printers read it.

    ``notation`` is a derivation of the layer without steps: the printers spell the
    symbols with it, as they spell a 2-D report's with its departures.
    """

    report: VolumeReport
    notation: Derivation

    @property
    def quantities(self) -> tuple[Marked, ...]:
        return self.report.quantities

    @property
    def questions(self) -> tuple[Scored, ...]:
        return self.report.questions

    @property
    def answers(self) -> Answers:
        return self.report.answers

    @property
    def follow_through(self) -> Fraction:
        return self.report.follow_through

    @property
    def correct(self) -> bool:
        return self.report.correct

    @property
    def right(self) -> int:
        return self.report.right

    @property
    def answered(self) -> int:
        return self.report.answered

    @property
    def total(self) -> int:
        return self.report.total

    @property
    def points(self) -> Fraction:
        return self.report.points

    @property
    def max_points(self) -> Fraction:
        return self.report.max_points

    @property
    def blank(self) -> bool:
        return self.report.blank

    @property
    def departures(self) -> Derivation:
        """No step: a 3-D mistake is shown by its diagnosis and the working."""
        return self.notation

    def marked(self, key: str) -> Marked | None:
        return self.report.marked(key)

    def symbol(self, key: str) -> Whole:
        from cnnstep.derivation import Whole

        return Whole(role(key, self.report.volume))


def wrong(report: VolumeReport, layer: Volume | VolumeBatch) -> list[str]:
    """What the working shows: the wrong entries as ``--only`` takes them (the first
    :data:`WORKED_LIMIT`); a batch's wrong quantities whole."""
    if isinstance(layer, VolumeBatch):
        return [q.key for q in report.quantities if q.mismatches]
    return report.wrong_entries(WORKED_LIMIT)


def working(report: VolumeReport, layer: Volume | VolumeBatch) -> Derivation | None:
    """The worked derivation of the wrong entries alone, None when every answer is
    right."""
    from cnnstep.derivation import DEFAULT_MAX_TERMS
    from cnnstep.volume_batch import worked_volumes

    only = wrong(report, layer)
    if not only:
        return None
    return worked_volumes(layer, 0, only=only, max_terms=DEFAULT_MAX_TERMS)


def marking(report: VolumeReport, layer: Volume | VolumeBatch,
            shown: Derivation | None) -> Marking:
    """The report with the notation of its layer's derivation (of the working when
    there is one, else of the givens alone)."""
    from cnnstep.volume_batch import worked_volumes

    derivation = shown if shown is not None else worked_volumes(layer, 0, only=["given"])
    return Marking(report, replace(derivation, steps=()))


def render(report: VolumeReport, layer: Volume | VolumeBatch, title: str, format: str,
           options: Options) -> str:
    """The report in ``format`` (text, markdown, latex, html or gradescope), with the
    working of its wrong entries, as a 2-D report is printed; ``layer`` is the one
    volume or the batch the report marks."""
    from cnnstep.numbers import printing
    from cnnstep.render import FORMATS as PRINTERS

    if format not in ("text", *FORMATS) or format not in PRINTERS:
        raise ProblemError(f"--format {format}: a 3-D layer's answers are marked as text, "
                           "json, markdown, latex, html or gradescope")
    printer = PRINTERS[format]
    with printing():
        shown = working(report, layer)
        # the 2-D printers read only what Marking gives them
        as_report = cast("Report", marking(report, layer, shown))
        return printer.report(as_report, title, shown, options)
