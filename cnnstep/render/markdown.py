"""Markdown: tables for matrices, ``$…$``/``$$…$$`` math.

The math is the LaTeX printer's, in ``aligned`` blocks, which GitHub and
Jupyter both render; the words of a sentence are Markdown text (its special
characters escaped) and only its formulas are math. Padding and inserted
zeros are grey (``\\color{gray}``, which GitHub, Jupyter and KaTeX know), said
in a sentence the first time; the window of an entry is a matrix above its
equation, the window's cells boxed (plain LaTeX math, so that the Markdown
also converts to LaTeX). A marked hand calculation and a batch are tables
too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from cnnstep.derivation import Derivation, Equation, Exercises, Expr, Matrix, Step
from cnnstep.derivation import Table as Rows
from cnnstep.render import Options, Outcome, Renderer, prose
from cnnstep.render.latex import WINDOW_GRID_LIMIT, LatexRenderer

if TYPE_CHECKING:
    from cnnstep.check import Report

_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")
#: what Markdown (with dollar math) reads as markup inside a line
_SPECIAL = re.compile(r"([\\`*_\[\]<>$|~])")
#: what it reads as markup at the start of a line: a heading, a bullet; and the
#: mark after the number of a numbered list (escaped itself: a digit cannot be)
_LINE_START = re.compile(r"^(#|[-+](?= ))")
_NUMBERED = re.compile(r"^(\d+)([.)] )")


def escape(text: str) -> str:
    """Text safe in a table cell."""
    return text.replace("|", r"\|")


def escape_words(text: str) -> str:
    r"""Words as Markdown text: every character that would start markup escaped.

    >>> escape_words("x_in * 2 [sic]")
    'x\\_in \\* 2 \\[sic\\]'
    """
    return _SPECIAL.sub(r"\\\1", text)


def _cell(text: str) -> str:
    """A matrix cell: a plain number as it is, anything else (symbols, fractions,
    approximations) as inline math."""
    if not _PLAIN_NUMBER.fullmatch(text):
        text = f"${text}$"
    return escape(text)


def heading(level: int, text: str) -> str:
    return f"{'#' * level} {text}\n"


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


#: the width math lines are broken to, in ems: about what GitHub and Jupyter
#: show of display math before they scroll
MARKDOWN_EMS = 42.0


class MarkdownRenderer(LatexRenderer):
    """Markdown blocks around the LaTeX renderer's math."""

    heading = staticmethod(heading)

    def __init__(self, derivation: Derivation, options: Options) -> None:
        super().__init__(derivation, options)
        self.fragment, self.width = False, MARKDOWN_EMS

    def setup(self) -> str:
        return ""

    def step(self, number: int, step: Step) -> Iterator[str]:
        """A step's heading and blocks, each block on its own."""
        yield self.heading(2, prose.step_heading(number, step))
        for block in step.blocks:
            yield "\n"
            yield getattr(self, f"_print_{type(block).__name__}")(block)

    # sentences ----------------------------------------------------------
    def words(self, text: str) -> str:
        return escape_words(text)

    def formula(self, math: str) -> str:
        return f"${math}$"

    def code(self, text: str) -> str:
        return f"`{text}`"

    def paragraph(self, text: str) -> str:
        return _NUMBERED.sub(r"\1\\\2", _LINE_START.sub(r"\\\1", text)) + "\n"

    def note(self, words: Sequence[str | Expr]) -> str:
        return self.paragraph("*" + self.sentence(words) + "*")

    # matrices -----------------------------------------------------------
    def filler(self, text: str) -> str:
        return f"{{\\color{{gray}}{text}}}"

    def window_cell(self, text: str) -> str:
        return f"\\boxed{{{text}}}"

    def _print_Matrix(self, block: Matrix) -> str:
        base = self.d.notation.index_base
        rows, cols = block.values.shape
        cells = [[self.table_cell(block, i, j) for j in range(cols)] for i in range(rows)]
        told = self.fillers_note([block])
        return f"{self.inline(block.label)}\n\n" + table(
            [block.index_label(1, j, base) for j in range(cols)], cells,
            [block.index_label(0, i, base) for i in range(rows)]) + (
            "\n" + told.rstrip("\n") + "\n" if told else "")

    def _print_Table(self, block: Rows) -> str:
        heads = [escape(f"${self.math(head)}$") for head in block.columns]
        rows = [[label, *(_cell(self.printer.cell(v, block.approximate)) for v in row)]
                for label, row in zip(block.rows, block.values, strict=True)]
        lines = ["| " + " | ".join([escape(block.corner), *heads]) + " |",
                 "|" + "---:|" * (len(heads) + 1)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines) + "\n"

    def table_cell(self, block: Matrix, i: int, j: int) -> str:
        """A plain number as it is; anything else (symbols, fractions,
        approximations, grey zeros) as inline math."""
        if block.is_filler(i, j):
            return escape(f"${self.cell(block, i, j)}$")
        return _cell(self.cell(block, i, j))

    # windows ------------------------------------------------------------
    def windows(self, block: Equation) -> str:
        grids, window = block.window_of, block.window
        if window is None or not grids:
            return ""
        first = grids[0]
        if max(first.values.shape) > WINDOW_GRID_LIMIT:
            return self.note(prose.window_span(window, self.d.notation.index_base,
                                               first)) + "\n"
        drawn = " \\qquad ".join(f"{self.inline_math(grid.label)} = "
                                  f"{self.window_matrix(grid, block)[0]}" for grid in grids)
        return self.fillers_note(grids) + f"$$\n{drawn}\n$$\n\n"

    # equations ----------------------------------------------------------
    def note_beside(self, block: Equation, lines: list[str],
                    width: float | None = None) -> str | None:
        """Never: a remark is prose, and prose stays out of math here."""
        return None

    def _print_Equation(self, block: Equation) -> str:
        lines = self.equation_lines(block)
        beside = self.note_beside(block, lines)
        after = ""
        if beside is not None:
            lines[-1] += r"\qquad " + beside
        elif block.note:
            after = "\n" + self.paragraph(self.inline(block.note))
        body = " \\\\\n".join(lines)
        return (self.windows(block) + f"$$\n\\begin{{aligned}}\n{body}\n\\end{{aligned}}\n$$\n"
                + after)


class Markdown(Renderer):
    name = "markdown"

    def derivation(self, derivation: Derivation, options: Options) -> str:
        return MarkdownRenderer(derivation, options).body()

    def exercises(self, exercises: Exercises, options: Options) -> str:
        """The exercises one after the other, each a top-level heading."""
        intro = [f"**{escape_words(line)}**\n" for line in exercises.intro]
        return "\n".join(intro + [MarkdownRenderer(derivation, options).body()
                                   for derivation in exercises.exercises])

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
