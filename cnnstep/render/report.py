"""A marked hand calculation, in every format: text, Markdown, LaTeX and JSON.

The report shows each quantity with ✓ or ✗ and a score; for a wrong matrix,
the student's matrix with the wrong entries marked and the expected value
beside each; the diagnosis in plain words; and then the worked derivation of
the wrong entries only, so the student finds the line where their working
departs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cnnstep.check import Marked, Report
from cnnstep.derivation import Derivation, derive
from cnnstep.numbers import display
from cnnstep.quantities import approximate_keys
from cnnstep.render.json_result import dumps_value
from cnnstep.render.latex import PREAMBLE, LatexRenderer
from cnnstep.render.markdown import MarkdownRenderer

#: wrong entries worked out in full at the most
WORKED_LIMIT = 12


def _index(index: tuple[int, ...]) -> str:
    return "".join(f"[{i}]" for i in index)


def as_json(report: Report) -> dict[str, Any]:
    """The format's report object (numbers as Fractions, for ``dumps_value``)."""
    return {
        "correct": report.correct,
        "score": {"right": report.right, "total": report.total},
        "quantities": {
            q.key: {
                "correct": q.correct,
                "mismatches": [{"index": list(m.index), "expected": m.expected,
                                "given": m.given.value} for m in q.mismatches],
                "diagnosis": ({"code": q.diagnosis.code, "message": q.diagnosis.message}
                              if q.diagnosis else None),
            } for q in report.quantities
        },
    }


def to_json(report: Report) -> str:
    approximate = bool(approximate_keys(report.solution.problem))
    return dumps_value(as_json(report), approximate) + "\n"


def worked(report: Report) -> Derivation | None:
    """The derivation of the wrong entries alone."""
    entries = report.wrong_entries(WORKED_LIMIT)
    return derive(report.solution, only=entries) if entries else None


def _cells(q: Marked, report: Report) -> Any:
    """The student's answers with the wrong ones marked: text per cell."""
    grid = report.answers[q.key]
    wrong = {m.index: m for m in q.mismatches}
    out = np.empty(grid.shape, dtype=object)
    for index in np.ndindex(*grid.shape):
        given = grid.item(index) if index else grid.item()
        if given is None:
            text = "—"
        elif index in wrong:
            text = f"✗ {display(given.value)} (expected {display(wrong[index].expected)})"
        else:
            text = display(given.value)
        out[index] = text
    return out


def _slices(cells: Any) -> list[tuple[str, Any]]:
    """2-D slices of a marked array, labelled with their leading indices."""
    if cells.ndim <= 2:
        return [("", cells.reshape((1,) * (2 - cells.ndim) + cells.shape))]
    return [(f" {_index(lead)}", cells[lead]) for lead in np.ndindex(*cells.shape[:-2])]


def summary_rows(report: Report) -> list[tuple[str, str, str, str]]:
    rows = []
    for q in report.quantities:
        diagnosis = f"{q.diagnosis.code}: {q.diagnosis.message}" if q.diagnosis else ""
        rows.append((q.key, "✓" if q.correct else "✗", f"{q.right}/{q.total}", diagnosis))
    return rows


# --------------------------------------------------------------------------
# text


def to_text(report: Report, title: str, width: int | None = None,
            color: bool | None = None) -> str:
    """The report for a terminal or a file (plain when not a terminal)."""
    import io

    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from cnnstep.render import text as text_render

    buffer = io.StringIO()
    console = Console(file=buffer, width=width or 100, highlight=False, markup=False,
                      color_system=None if not color else "standard",
                      force_terminal=bool(color))
    console.print(Text(title, style="bold"))
    table = Table(box=box.SQUARE, show_header=True)
    for name in ("quantity", "mark", "right", "diagnosis"):
        table.add_column(name)
    for row in summary_rows(report):
        table.add_row(*row)
    console.print(table)
    console.print(Text(f"Score: {report.right}/{report.total}"
                       + (" — all correct." if report.correct else ""), style="bold"))
    for q in report.quantities:
        if q.correct:
            continue
        console.print()
        count = len(q.mismatches)
        console.print(Text(f"{q.key}: {count} wrong entr{'y' if count == 1 else 'ies'}",
                           style="bold"))
        for label, grid in _slices(_cells(q, report)):
            if label:
                console.print(Text(q.key + label))
            marked = Table(box=box.SIMPLE, show_header=False)
            for _ in range(grid.shape[1]):
                marked.add_column(justify="right")
            for row in grid:
                marked.add_row(*row)
            console.print(marked)
        if q.diagnosis:
            console.print(Text(f"Diagnosis ({q.diagnosis.code}): {q.diagnosis.message}"))
    derivation = worked(report)
    body = buffer.getvalue()
    if derivation is not None:
        body += "\nThe working of the wrong entries:\n\n"
        body += text_render.render(derivation, width=width or 100)
    return "\n".join(line.rstrip() for line in body.split("\n"))


# --------------------------------------------------------------------------
# Markdown and LaTeX


def _md_table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", r"\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def to_markdown(report: Report, title: str) -> str:
    out = [f"# {title}\n", _md_table(summary_rows(report),
                                      ("quantity", "mark", "right", "diagnosis")),
           f"**Score: {report.right}/{report.total}**\n"]
    for q in report.quantities:
        if q.correct:
            continue
        out.append(f"## {q.key}\n")
        for label, grid in _slices(_cells(q, report)):
            if label:
                out.append(f"{q.key}{label}\n")
            out.append(_md_table([list(row) for row in grid], [""] * grid.shape[1]))
        if q.diagnosis:
            out.append(f"*Diagnosis ({q.diagnosis.code}):* {q.diagnosis.message}\n")
    derivation = worked(report)
    if derivation is not None:
        out.append("## The working of the wrong entries\n")
        out.append(MarkdownRenderer(derivation).document(title=False))
    return "\n".join(out)


def to_latex(report: Report, title: str, fragment: bool = False) -> str:
    from cnnstep.render.expr import latex_escape

    def text(value: str) -> str:
        return latex_escape(value.replace("✓", "yes").replace("✗", "no"))

    out = [f"\\section*{{{latex_escape(title)}}}\n",
           "\\begin{tabular}{llll}\n\\hline\nquantity & mark & right & diagnosis \\\\\n\\hline"]
    for key, mark, right, diagnosis in summary_rows(report):
        out.append(f"{text(key)} & {text(mark)} & {right} & "
                   f"\\parbox[t]{{8cm}}{{{text(diagnosis)}}} \\\\")
    out.append("\\hline\n\\end{tabular}\n")
    out.append(f"\\textbf{{Score: {report.right}/{report.total}}}\n")
    for q in report.quantities:
        if q.correct:
            continue
        out.append(f"\\subsection*{{{text(q.key)}}}\n\\begin{{itemize}}")
        for miss in q.mismatches:
            out.append(f"\\item {text(q.key + _index(miss.index))}: given "
                       f"{text(display(miss.given.value))}, expected "
                       f"{text(display(miss.expected))}")
        out.append("\\end{itemize}\n")
        if q.diagnosis:
            out.append(f"\\emph{{Diagnosis ({text(q.diagnosis.code)}):}} "
                       f"{text(q.diagnosis.message)}\n")
    derivation = worked(report)
    if derivation is not None:
        out.append("\\subsection*{The working of the wrong entries}\n")
        out.append(LatexRenderer(derivation).body(title=False))
    document = "\n".join(out)
    if fragment:
        return "% cnnstep: needs \\usepackage{amsmath,amssymb,graphicx}\n" + document
    return PREAMBLE + document + "\\end{document}\n"


def summary(results: Sequence[tuple[str, Report | str]]) -> list[tuple[str, str, str]]:
    """One row per answers file: the file, its score (or its error), its diagnoses."""
    rows = []
    for name, outcome in results:
        if isinstance(outcome, str):
            rows.append((name, "error", outcome))
            continue
        codes = sorted({q.diagnosis.code for q in outcome.quantities if q.diagnosis})
        rows.append((name, f"{outcome.right}/{outcome.total}", ", ".join(codes)))
    return rows

