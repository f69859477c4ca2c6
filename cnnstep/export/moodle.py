"""Moodle XML: one Embedded Answers (Cloze) question per problem.

The question text gives the layer and then every asked quantity as a table of
blanks ``{w:NUMERICAL:=0.295:0.0005}``: weight ``w``, ``=`` the right answer,
then ``answer:tolerance``, the accepted error either side. Moodle reads both
numbers as plain decimals (an optional ``-``, digits and one ``.``), so they
need no escaping; only text answers would (``\\}``, ``\\#``, ``\\~``). A
weight must be a whole number: each quantity's points are shared by its
entries, and the shares are scaled to the smallest whole numbers in the same
ratio (a cloze question's mark is the sum of its weights; a quiz rescales it).

HTML goes in ``<![CDATA[…]]>`` sections, as the Moodle XML format asks, and
the worked derivation is the question's general feedback.
"""

from __future__ import annotations

from collections.abc import Sequence

from cnnstep.export.blanks import Blank, integer_weights
from cnnstep.export.exercise import Exercise
from cnnstep.export.feedback import solution_html
from cnnstep.export.givens import givens_html, matrix, text

#: what every question says before its givens
INTRO = ("<p>One convolution layer, computed as deep-learning frameworks do "
         "(a cross-correlation). Work out each quantity below. Write each value exactly, "
         "or rounded to 4 decimal places when it has more. Indices start at 0.</p>")


def cdata(text: str) -> str:
    """``text`` as CDATA, whatever it holds (a ``]]>`` is split across two sections)."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def blank(item: Blank, weight: int) -> str:
    """One numeric blank: ``{weight:NUMERICAL:=answer:tolerance}``."""
    return f"{{{weight}:NUMERICAL:={item.text}:{item.tolerance_text}}}"


def _points(points: object) -> str:
    return f"{points} point" + ("" if points == 1 else "s")


def question_text(exercise: Exercise) -> str:
    """The question: the givens, then each part's blanks laid out as its matrix."""
    weights = iter(integer_weights([b.points for part in exercise.parts for b in part.blanks]))
    out = [INTRO, "<h4>Given</h4>", givens_html(exercise.problem), "<h4>Questions</h4>"]
    for number, part in enumerate(exercise.parts, 1):
        cells = {place: blank(b, next(weights)) for place, b in part.cells().items()}
        size = f" ({'×'.join(map(str, part.shape))})" if part.shape else ""
        out.append(f"<p><strong>{number}. {text(part.asked)}</strong>: "
                   f"{text(part.meaning)}{size}, {_points(part.points)}</p>")
        out.append(matrix(part.asked, part.shape, cells.__getitem__))
    return "\n".join(out)


def question(exercise: Exercise) -> str:
    return (f'  <question type="cloze">\n'
            f"    <name><text>{text(exercise.title)}</text></name>\n"
            f'    <questiontext format="html"><text>{cdata(question_text(exercise))}'
            f"</text></questiontext>\n"
            f'    <generalfeedback format="html"><text>{cdata(solution_html(exercise.worked))}'
            f"</text></generalfeedback>\n"
            f"    <penalty>0.3333333</penalty>\n"
            f"    <hidden>0</hidden>\n"
            f"  </question>\n")


def quiz(exercises: Sequence[Exercise]) -> str:
    """The Moodle XML file: ``<quiz>`` with one cloze question per exercise."""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<quiz>\n'
            + "".join(question(exercise) for exercise in exercises) + "</quiz>\n")
