"""PrairieLearn: one question directory per problem (``info.json``,
``question.html``, ``server.py``).

Each asked quantity is a ``pl-matrix-component-input`` (one per 2-D slice of a
3-D or 4-D array, a 1×F row for a list of biases) or, for a number, a
``pl-number-input``. Both grade with ``comparison="relabs"``: ``rtol="0"``
and ``atol`` the tolerance of the rounding rule. A matrix element takes one
tolerance for all its entries, the strictest of theirs, and
``allow-partial-credit`` gives credit entry by entry. Element weights are
whole numbers: a quantity's points are shared by its entries and scaled as
for Moodle.

``server.py`` writes the exact answers as literals (a decimal that
terminates as itself, any other value to 17 significant digits) and puts the
worked derivation in ``params``, where the answer panel shows it. The
question's ``uuid`` is a uuid5 of the problem's content: exporting the same
problem again gives the same question.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from fractions import Fraction
from html import escape
from typing import Any

import numpy as np

from cnnstep.export.blanks import Part, integer_weights
from cnnstep.export.exercise import Exercise
from cnnstep.export.feedback import solution_html
from cnnstep.export.givens import givens_html, slices, text
from cnnstep.numbers import exact_decimal, json_number

#: the topic every exported question is filed under
TOPIC = "Convolution layers"

#: the files of a question directory
FILES = ("info.json", "question.html", "server.py")

INTRO = ("<p>One convolution layer, computed as deep-learning frameworks do "
         "(a cross-correlation). Work out each quantity below. Write each value exactly, "
         "or rounded to 4 decimal places when it has more. Indices start at 0.</p>")


def literal(value: Fraction) -> str:
    """A Python float literal for ``value``: its exact decimal when it
    terminates, else 17 significant digits."""
    text = json_number(value)
    return text if any(c in text for c in ".eE") else text + ".0"


def _nested(values: Any) -> str:
    if isinstance(values, list):
        return "[" + ", ".join(_nested(v) for v in values) + "]"
    return literal(values)


def answers_name(text: str) -> str:
    """A name PrairieLearn takes for ``grad_input[0]``: ``grad_input_0``."""
    return re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_]", "_", text)).strip("_")


def elements(part: Part) -> list[tuple[str, str, list[Any] | Fraction]]:
    """A part's input elements: (answers-name, label, the correct answer) each,
    a 2-D list for a matrix element and a number for a number element."""
    if not part.shape:
        return [(answers_name(part.asked), part.asked, part.blanks[0].value)]
    values = np.empty(part.shape, dtype=object)
    for place, blank in part.cells().items():
        values[place] = blank.value
    if values.ndim == 1:
        return [(answers_name(part.asked), part.asked, [values.tolist()])]
    out: list[tuple[str, str, list[Any] | Fraction]] = []
    for lead in slices(part.shape):
        name = part.asked + "".join(f"[{i}]" for i in lead)
        out.append((answers_name(name), name, values[lead].tolist()))
    return out


def _size(answer: list[Any] | Fraction) -> int:
    return int(np.array(answer, dtype=object).size)


def question_html(exercise: Exercise) -> str:
    """The question: the givens, then each part's input elements."""
    per_element = [(part, element) for part in exercise.parts for element in elements(part)]
    shares = [part.points * _size(answer) / len(part.blanks)
              for part, (_, _, answer) in per_element]
    weights = iter(integer_weights(shares))
    out = ["<pl-question-panel>", INTRO, "<h4>Given</h4>", givens_html(exercise.problem),
           "</pl-question-panel>", ""]
    for number, part in enumerate(exercise.parts, 1):
        size = f" ({'×'.join(map(str, part.shape))})" if part.shape else ""
        points = f"{part.points} point" + ("" if part.points == 1 else "s")
        out.append(f"<pl-question-panel><p><strong>{number}. {text(part.asked)}</strong>: "
                   f"{text(part.meaning)}{size}, {points}</p></pl-question-panel>")
        atol = exact_decimal(part.tolerance)
        for name, label, answer in elements(part):
            tag = "pl-number-input" if isinstance(answer, Fraction) else \
                "pl-matrix-component-input"
            partial = "" if isinstance(answer, Fraction) else ' allow-partial-credit="true"'
            out.append(f'<{tag} answers-name="{name}" label="{escape(label)} =" '
                       f'comparison="relabs" rtol="0" atol="{atol}" weight="{next(weights)}"'
                       f"{partial}></{tag}>")
        out.append("")
    out += ["<pl-answer-panel>", "<h4>Worked solution</h4>",
            "{{{params.solution_html}}}", "</pl-answer-panel>"]
    return "\n".join(out) + "\n"


def _python_string(text: str) -> str:
    """A Python expression for ``text``, one source line per line of it."""
    lines = text.splitlines(keepends=True)
    if len(lines) <= 1:
        return repr(text)
    return "(\n" + "".join(f"    {line!r}\n" for line in lines) + ")"


def server_py(exercise: Exercise) -> str:
    """``server.py``: ``generate`` sets the worked solution and the exact answers."""
    answers = "".join(f"    {name!r}: {_nested(answer)},\n"
                      for part in exercise.parts for name, _, answer in elements(part))
    about = (f"{exercise.title}: the exact answers and the worked solution "
             "(one fixed variant), exported by cnnstep.")
    return (f"{about!r}\n\n"
            f"SOLUTION_HTML = {_python_string(solution_html(exercise.worked))}\n\n"
            f"CORRECT_ANSWERS = {{\n{answers}}}\n\n\n"
            "def generate(data):\n"
            '    data["params"]["solution_html"] = SOLUTION_HTML\n'
            '    data["correct_answers"].update(CORRECT_ANSWERS)\n')


def info_json(exercise: Exercise) -> str:
    info = {"uuid": str(exercise.uid), "title": exercise.title, "topic": TOPIC,
            "tags": ["cnnstep"], "type": "v3", "singleVariant": True}
    return json.dumps(info, indent=2, ensure_ascii=False) + "\n"


def questions(exercises: Sequence[Exercise]) -> dict[str, dict[str, str]]:
    """Every question directory: its name → its files."""
    return {exercise.slug: {"info.json": info_json(exercise),
                            "question.html": question_html(exercise),
                            "server.py": server_py(exercise)}
            for exercise in exercises}
