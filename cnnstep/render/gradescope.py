"""Gradescope: the ``results.json`` of an autograder, for one submission.

The fields follow the Gradescope autograder specification ("Output format",
https://gradescope-autograders.readthedocs.io/en/latest/specs/):

* ``score``: the submission's points, the sum of its tests' scores;
* ``output`` and ``output_format: "md"``: the score and the working of the
  wrong entries, in Markdown;
* ``tests``: one per question, in the order asked, each with ``name`` (the
  quantity or entry and its symbol), ``number``, ``score``, ``max_score``,
  ``status`` (``passed`` when every entry is right, else ``failed``, even
  when method marks give it full points) and its feedback as ``output`` with
  ``output_format: "md"``.

Scores are JSON numbers: exact where their decimal ends, else rounded to
:data:`~cnnstep.render.csv_table.PLACES` places; ``score`` adds up the
rounded scores, so that it equals the sum of the tests' scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from cnnstep.numbers import terminates
from cnnstep.render import Options, Outcome, Renderer, prose
from cnnstep.render.csv_table import PLACES
from cnnstep.render.expr import Settings, TextPrinter
from cnnstep.render.json_result import dumps_value
from cnnstep.render.markdown import MarkdownRenderer, escape, heading, table

if TYPE_CHECKING:
    from cnnstep.check import Report, Scored
    from cnnstep.derivation import Derivation

#: the ``status`` of a test whose entries are all right, and of any other
PASSED, FAILED = "passed", "failed"
MARKDOWN = "md"


def rounded(value: Fraction) -> Fraction:
    """The score as written: exact where its decimal ends, else to PLACES places."""
    if terminates(value):
        return value
    return Fraction(round(value * 10**PLACES), 10**PLACES)


def _entry_feedback(scored: Scored, report: Report) -> list[str]:
    """The marked entries of a question: a table for a whole quantity, a line for
    an entry."""
    question = scored.question
    marked = report.marked(question.key)
    assert marked is not None
    if question.entry is not None:
        entry = next(e for e in marked.entries if e.index == question.entry)
        if entry.given is None:
            return ["Not answered.\n"]
        if entry.right:
            return [f"{escape(prose.points(entry.given.value))}: right.\n"]
        return [f"✗ given {escape(prose.points(entry.given.value))}, expected "
                f"{escape(prose.points(entry.expected))}.\n"]
    if marked.correct or question.key not in report.answers:
        return []
    out = []
    for label, grid in prose.slices(prose.marked_cells(marked, report)):
        if label:
            out.append(f"{escape(question.key + label)}\n")
        out.append(table([""] * grid.shape[1], [[escape(cell) for cell in row]
                                                  for row in grid]))
    return out


def test_output(scored: Scored, report: Report, shown: MarkdownRenderer) -> str:
    """A question's feedback, in Markdown."""
    out = [f"{prose.entries_right(scored.right, scored.total, scored.answered)}; "
           f"{prose.out_of(scored.points, scored.max_points)} points.\n"]
    out += _entry_feedback(scored, report)
    marked = report.marked(scored.question.key)
    assert marked is not None
    if marked.diagnosis and not scored.correct:
        sentence = marked.diagnosis.message
        if marked.diagnosis.code == prose.CARRIED_FORWARD:
            sentence += " " + prose.follow_through(report)
        out.append(f"*{prose.diagnosis_label(marked.diagnosis)}* {escape(sentence)}\n")
        departure = prose.departure(report, marked)
        if departure is not None:
            out.append(f"**{departure.title}**\n")
            out += [getattr(shown, f"_print_{type(block).__name__}")(block)
                    for block in departure.blocks]
    return "\n".join(out)


def results(report: Report, title: str, working: Derivation | None,
            options: Options) -> dict[str, Any]:
    """The ``results.json`` object of one submission (numbers as Fractions)."""
    shown = MarkdownRenderer(report.departures, options)
    printer = TextPrinter(Settings.of(report.departures))
    tests: list[dict[str, Any]] = []
    scores: list[Fraction] = []
    for number, scored in enumerate(report.questions, start=1):
        question = scored.question
        symbol = printer.doprint(report.symbol(question.key))
        scores.append(rounded(scored.points))
        tests.append({
            "name": f"{question.text}: {symbol}",
            "number": str(number),
            "score": scores[-1],
            "max_score": rounded(scored.max_points),
            "status": PASSED if scored.correct else FAILED,
            "output": test_output(scored, report, shown),
            "output_format": MARKDOWN,
        })
    summary = [heading(1, title), f"**{prose.score(report)}**\n"]
    if report.follow_through != 1 and any(
            q.diagnosis and q.diagnosis.code == prose.CARRIED_FORWARD
            for q in report.quantities):
        summary.append(prose.follow_through(report) + "\n")
    if working is not None:
        summary += [heading(2, prose.WORKING), MarkdownRenderer(working, options).body(
            title=False)]
    return {
        "score": sum(scores, Fraction(0)),
        "output": "\n".join(summary),
        "output_format": MARKDOWN,
        "tests": tests,
    }


def unread(error: str) -> dict[str, Any]:
    """The results of a submission whose answers could not be read: no points."""
    return {"score": Fraction(0), "output": f"The answers could not be marked: {error}",
            "output_format": "text", "tests": []}


def dumps(results: Mapping[str, Any]) -> str:
    return dumps_value(dict(results)) + "\n"


class Gradescope(Renderer):
    """Marked answers only: one submission's results, never a batch of several."""

    name = "gradescope"
    worked = True  # its output holds the working of the wrong entries
    solves = False

    def derivation(self, derivation: Derivation, options: Options) -> str:
        raise ValueError("gradescope prints marked answers, not a worked derivation")

    def result(self, result: Mapping[str, Any], approximate: frozenset[str]) -> str:
        raise ValueError("gradescope prints marked answers, not a result")

    def report(self, report: Report, title: str, working: Derivation | None,
               options: Options) -> str:
        return dumps(results(report, title, working, options))

    def batch(self, outcomes: Sequence[Outcome], options: Options | None = None) -> str:
        """The results of one submission, or of one that could not be read: no
        points, and the error as its output."""
        if len(outcomes) != 1:
            raise ValueError("gradescope prints the results of one submission")
        name, outcome = outcomes[0]
        if isinstance(outcome, str):
            return dumps(unread(outcome))
        from cnnstep.check.marking import Report

        if not isinstance(outcome, Report):  # a 3-D layer's, with its own working
            return outcome.render(self.name, options or Options(), title=f"Marking {name}")
        return self.report(outcome, f"Marking {name}", None, options or Options())


RENDERER = Gradescope()
