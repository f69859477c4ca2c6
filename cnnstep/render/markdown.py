"""Markdown: tables for matrices, ``$…$``/``$$…$$`` math.

The math is the LaTeX printer's, in ``aligned`` blocks, which GitHub and
Jupyter both render. A marked hand calculation and a batch are tables too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from cnnstep.derivation import Derivation, Equation, Expr, Matrix
from cnnstep.render import Options, Outcome, Renderer, prose
from cnnstep.render.latex import LatexRenderer

if TYPE_CHECKING:
    from cnnstep.check import Report

_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def escape(text: str) -> str:
    """Text safe in a table cell."""
    return text.replace("|", r"\|")


def _cell(text: str) -> str:
    """A matrix cell: a plain number as it is, anything else (symbols, fractions,
    approximations) as inline math."""
    if not _PLAIN_NUMBER.fullmatch(text):
        text = f"${text}$"
    return escape(text)


def heading(level: int, text: str) -> str:
    return f"{'#' * level} {text}\n"


def note(words: Sequence[str]) -> str:
    """A remark set apart in italics; :class:`~cnnstep.render.prose.Code` words as code."""
    return "*" + "".join(f"`{w}`" if isinstance(w, prose.Code) else w for w in words) + "*\n"


def table(header: Sequence[str], rows: Iterable[Sequence[str]],
          labels: Sequence[str] | None = None) -> str:
    """A table of cells already in Markdown. With ``labels`` (a matrix's row
    indices) they stand in a first column under an empty corner, and every
    column is right-aligned, as numbers are."""
    def row(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    if labels is None:
        lines = [row(header), "|" + "---|" * len(header), *map(row, rows)]
    else:
        lines = ["| |" + row(header)[1:], "|" + "---:|" * (len(header) + 1)]
        lines += [row([label, *cells]) for label, cells in zip(labels, rows, strict=True)]
    return "\n".join(lines) + "\n"


class MarkdownRenderer(LatexRenderer):
    """Markdown blocks around the LaTeX renderer's math."""

    heading = staticmethod(heading)
    note = staticmethod(note)

    def setup(self) -> list[str]:
        return []

    def inline(self, parts: Iterable[str | Expr]) -> str:
        return "".join(_cell(p).replace("*", r"\*") if isinstance(p, str)
                       else f"${self.math(p)}$" for p in parts)

    def _print_Matrix(self, block: Matrix) -> str:
        base = self.d.notation.index_base
        rows, cols = block.values.shape
        cells = [[_cell(self.printer.cell(v, block.approximate)) for v in row]
                 for row in block.values]
        return f"{self.inline(block.label)}\n\n" + table(
            [block.index_label(1, j, base) for j in range(cols)], cells,
            [block.index_label(0, i, base) for i in range(rows)])

    def _print_Equation(self, block: Equation) -> str:
        body = " \\\\\n".join(self.equation_lines(block))
        return f"$$\n\\begin{{aligned}}\n{body}\n\\end{{aligned}}\n$$\n"


class Markdown(Renderer):
    name = "markdown"

    def derivation(self, derivation: Derivation, options: Options) -> str:
        return MarkdownRenderer(derivation, options).body()

    def report(self, report: Report, title: str, working: Derivation | None,
               options: Options) -> str:
        # the departures carry the problem's notation: the symbols are printed with it
        shown = MarkdownRenderer(report.departures, options)
        summary = [[escape(key), f"${shown.math(symbol)}$", mark, right, escape(points),
                     escape(diagnosis)]
                   for key, symbol, mark, right, points, diagnosis in prose.summary_rows(report)]
        out = [heading(1, title), table(prose.SUMMARY_HEADER, summary),
               f"**{prose.score(report)}**\n"]
        for q in prose.wrong(report):
            out.append(heading(2, f"{q.key}: ${shown.math(report.symbol(q.key))}$"))
            for label, grid in prose.slices(prose.marked_cells(q, report)):
                if label:
                    out.append(f"{q.key}{label}\n")
                out.append(table([""] * grid.shape[1],
                                 [[escape(cell) for cell in row] for row in grid]))
            if q.diagnosis:
                out.append(f"*{prose.diagnosis_label(q.diagnosis)}* {q.diagnosis.message}\n")
            departure = prose.departure(report, q)
            if departure is not None:
                out.append(f"**{departure.title}**\n")
                out += [getattr(shown, f"_print_{type(block).__name__}")(block)
                        for block in departure.blocks]
        if working is not None:
            out.append(heading(2, prose.WORKING))
            out.append(MarkdownRenderer(working, options).body(title=False))
        return "\n".join(out)

    def batch(self, outcomes: Sequence[Outcome], options: Options | None = None) -> str:
        return table(prose.BATCH_HEADER,
                     [[escape(cell) for cell in row] for row in prose.batch_rows(outcomes)])


RENDERER = Markdown()
