"""A 3-D layer's marked answers as text or as a JSON object.

The same table, score line and marked slices as a 2-D report; the volumes are
shown as their 2-D slices, each labelled with its leading indices.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text as RichText

from cnnstep.numbers import display
from cnnstep.quantities import BY_KEY
from cnnstep.render import TEXT_WIDTH, prose
from cnnstep.render.json_result import as_json, dumps_value

if TYPE_CHECKING:
    from cnnstep.check.answers import Given
    from cnnstep.check.marking import Marked
    from cnnstep.check.volume import VolumeReport
    from cnnstep.problem import Notation


def symbol(key: str, notation: Notation, last: str = "conv") -> str:
    """A result key as the problem writes it: Z, L, ∂L/∂K, K (new); the stages after
    the convolution as the derivation names them, Z, A and P, and ``output`` as the
    last of them (``last``: "conv", "activated" or "pooled")."""
    letters = {"input": notation.input, "filter": notation.filter,
               "bias": notation.bias, "conv": notation.output}
    letters |= {name: q.letter for name, q in BY_KEY.items() if q.letter}
    letters["output"] = letters[last]
    if key == "loss":
        return notation.loss
    if key.startswith("grad_"):
        return f"∂{notation.loss}/∂{letters[key[5:]]}"
    if key.startswith("updated_"):
        return f"{letters[key[8:]]} (new)"
    return letters[key]


def last_stage(report: VolumeReport) -> str:
    """The stage the result's ``output`` is: the pool's, the activation's or Z."""
    volume = report.volume
    return ("pooled" if volume.pool is not None else
            "activated" if volume.activation is not None else "conv")


def cells(q: Marked, report: VolumeReport) -> Any:
    """The student's answers with the wrong ones marked: text per cell."""
    grid = report.answers.get(q.key)
    wrong = {m.index: m for m in q.mismatches}
    shape = tuple(np.shape(grid)) if grid is not None else ()
    out = np.empty(shape, dtype=object)
    for index in np.ndindex(*shape):
        assert grid is not None
        given: Given | None = grid.item(index) if index else grid.item()
        miss = wrong.get(index)
        out[index] = (prose.UNANSWERED if given is None else display(given.value) if miss is None
                      else f"✗ {display(given.value)} (expected {display(miss.expected)})")
    return out


def text(report: VolumeReport, title: str, width: int | None = None) -> str:
    """The report as plain text, ``width`` columns wide (80 unless told)."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width or TEXT_WIDTH, highlight=False, markup=False,
                      color_system=None)
    console.print(RichText(title, style="bold"))
    table = Table(box=box.SQUARE, show_header=True)
    for name in prose.SUMMARY_HEADER:
        table.add_column(name)
    for q in report.quantities:
        diagnosis = f"{q.diagnosis.code}: {q.diagnosis.message}" if q.diagnosis else ""
        if q.diagnosis and q.diagnosis.code == "carried_forward":
            diagnosis += " " + _follow_through(report.follow_through)
        elif not q.answered:
            diagnosis = "not answered"
        table.add_row(q.key, symbol(q.key, report.volume.notation, last_stage(report)),
                      prose.mark(q),
                      f"{q.right}/{q.total}", prose.out_of(q.points, q.max_points), diagnosis)
    console.print(table)
    verdict = f" — {prose.ALL_CORRECT}." if report.correct else ""
    console.print(RichText(
        f"Score: {prose.out_of(report.points, report.max_points)} points "
        f"({prose.entries_right(report.right, report.total, report.answered)})" + verdict))
    for q in report.quantities:
        if not q.mismatches:
            continue
        console.print()
        console.print(RichText(f"{q.key}: {prose.wrong_count(q)} of "
                               f"{symbol(q.key, report.volume.notation, last_stage(report))}"))
        for label, grid in prose.slices(cells(q, report)):
            if label:
                console.print(RichText(q.key + label))
            shown = Table(box=box.SIMPLE, show_header=False)
            for _ in range(grid.shape[1]):
                shown.add_column(justify="right")
            for row in grid:
                shown.add_row(*row)
            console.print(shown)
        if q.diagnosis:
            console.print(RichText(f"{prose.diagnosis_label(q.diagnosis)} "
                                   f"{q.diagnosis.message}"))
    return "\n".join(line.rstrip() for line in buffer.getvalue().split("\n"))


def _follow_through(share: Any) -> str:
    if share == 1:
        return "Entries carried forward earn their full share of the points."
    if share == 0:
        return "Entries carried forward earn no points."
    return f"Entries carried forward earn {prose.points(share)} of their share of the points."


def json(report: VolumeReport) -> str:
    """The report object, as a 2-D report's (:func:`cnnstep.render.json_result.as_json`):
    its score, every asked quantity, and the points of each question."""
    return dumps_value(as_json(report)) + "\n"
