"""Text for the terminal, through rich.

Colour and highlighting appear only when asked for (``Options.color``: the
command line asks on a terminal, and rich honours NO_COLOR); otherwise the
output is plain text, with the window of each output entry marked by brackets
instead of colour.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text as RichText

from cnnstep.derivation import (
    Derivation,
    Equation,
    Expr,
    Matrix,
    Omitted,
    Step,
    Text,
)
from cnnstep.render import Options, Outcome, Renderer, prose
from cnnstep.render.expr import Settings, TextPrinter

if TYPE_CHECKING:
    from cnnstep.check import Report

#: windows are drawn beside an equation only for inputs up to this size
WINDOW_GRID_LIMIT = 12
#: larger matrices are printed as plain aligned text, in bands of columns
TABLE_LIMIT = 12


class TextRenderer:
    """One derivation to a rich console."""

    def __init__(self, derivation: Derivation, console: Console, options: Options) -> None:
        self.d = derivation
        self.console = console
        self.hints = options.hints
        self.printer = TextPrinter(Settings.of(derivation, options.decimals))
        self.plain = console.color_system is None
        self.spaced = self.printed = False

    # ------------------------------------------------------------------
    def render(self) -> None:
        self.console.print(Panel(RichText(self.d.title, style="bold"), expand=False))
        if self.d.shortened:
            self.note(prose.shortened(self.hints))
        for number, step in self.d.numbered():
            self.printed = False
            self.step(number, step)

    def step(self, number: int, step: Step) -> None:
        self.console.print()
        self.spaced = False
        self.console.rule(RichText(prose.step_heading(number, step), style="bold cyan"),
                          align="left")
        for block in step.blocks:
            self._print_block(block)

    def _print_block(self, block: object) -> None:
        # equations and notes stand apart by a blank line; nothing ends a step with two
        apart = isinstance(block, Equation | Omitted)
        if self.spaced or (apart and self.printed):
            self.console.print()
        method = getattr(self, f"_print_{type(block).__name__}")
        method(block)
        self.spaced, self.printed = apart, True

    # blocks -----------------------------------------------------------
    def _print_Text(self, block: Text) -> None:
        self.console.print(self.inline(block.parts))

    def inline(self, parts: Iterable[str | Expr]) -> str:
        return "".join(p if isinstance(p, str) else self.printer.doprint(p) for p in parts)

    def _print_Matrix(self, block: Matrix) -> None:
        self.console.print(RichText(self.inline(block.label), style="bold"))
        rows, cols = block.values.shape
        if cols <= TABLE_LIMIT and rows <= TABLE_LIMIT:
            self.console.print(self.matrix(block))
        else:
            self.console.print(RichText(self.bands(block)), soft_wrap=True)

    def bands(self, block: Matrix) -> str:
        """A large matrix as plain aligned text, in bands of columns that fit the width."""
        base = self.d.notation.index_base
        rows, cols = block.values.shape
        cells = [[self.printer.cell(v, block.approximate) for v in row] for row in block.values]
        width = max(len(c) for row in cells for c in row)
        row_labels = [block.index_label(0, i, base) for i in range(rows)]
        lead = max(len(x) for x in row_labels) + 1
        per_band = max(1, (max(self.console.width, 40) - lead) // (width + 1))
        out: list[str] = []
        for start in range(0, cols, per_band):
            stop = min(cols, start + per_band)
            out.append(" " * lead + "".join(
                block.index_label(1, j, base).rjust(width + 1) for j in range(start, stop)))
            for i in range(rows):
                out.append(row_labels[i].rjust(lead - 1) + " " + "".join(
                    cells[i][j].rjust(width + 1) for j in range(start, stop)))
            out.append("")
        return "\n".join(out).rstrip("\n")

    def matrix(self, block: Matrix) -> Table:
        base = self.d.notation.index_base
        rows, cols = block.values.shape
        table = Table(box=box.SQUARE, show_header=True, header_style="dim", padding=(0, 1))
        table.add_column("", style="dim", justify="right")
        for j in range(cols):
            table.add_column(block.index_label(1, j, base), justify="right")
        for i in range(rows):
            cells: list[RichText] = []
            for j in range(cols):
                text = self.printer.cell(block.values[i, j], block.approximate)
                cells.append(RichText(text, style="dim" if block.is_filler(i, j) else ""))
            table.add_row(block.index_label(0, i, base), *cells)
        return table

    def window_grids(self, equation: Equation) -> RichText:
        """The input (channels side by side, as many as fit the width) with the
        window's cells picked out: reversed on a terminal, in [brackets] when plain."""
        grids = equation.window_of
        window = equation.window
        cells = [[[self.printer.cell(v, grid.approximate) for v in row] for row in grid.values]
                 for grid in grids]
        width = max(len(c) for grid in cells for row in grid for c in row)
        labels = [self.inline(grid.label) for grid in grids]
        span = [max(len(label), (width + 3) * grid.values.shape[1] - 1)
                for label, grid in zip(labels, grids, strict=True)]
        # pack the channels into bands that fit the width
        bands: list[list[int]] = [[]]
        used = 0
        for g, size in enumerate(span):
            if bands[-1] and used + 3 + size > self.console.width:
                bands.append([])
                used = 0
            used += (3 if bands[-1] else 0) + size
            bands[-1].append(g)
        out = RichText(style="dim" if not self.plain else "")
        for number, band in enumerate(bands):
            if number:
                out.append("\n")
            out.append("   ".join(labels[g].ljust(span[g]) for g in band).rstrip() + "\n",
                       style="dim")
            for i in range(grids[0].values.shape[0]):
                for position, g in enumerate(band):
                    if position:
                        out.append("   ")
                    drawn = 0
                    for j, text in enumerate(cells[g][i]):
                        inside = window is not None and (i, j) in window
                        cell = text.rjust(width)
                        if j:
                            out.append(" ")
                        if self.plain:
                            out.append(f"[{cell}]" if inside else f" {cell} ")
                        else:
                            out.append(f" {cell} ", style="bold reverse" if inside else "dim")
                        drawn += width + 2 + (1 if j else 0)
                    if position < len(band) - 1:
                        out.append(" " * (span[g] - drawn))
                out.append("\n")
        out.rstrip()
        return out

    def _print_Equation(self, block: Equation) -> None:
        if block.window is not None and block.window_of:
            first = block.window_of[0]
            if max(first.values.shape) <= WINDOW_GRID_LIMIT:
                self.console.print(self.window_grids(block), soft_wrap=True)
            else:
                rows, cols = block.window.rows, block.window.columns
                base = self.d.notation.index_base
                self.console.print(RichText(
                    f"window: rows {rows[0] + base}–{rows[-1] + base}, "
                    f"columns {cols[0] + base}–{cols[-1] + base} of "
                    f"{self.inline(first.label)}", style="dim"))
        self.console.print(RichText(self.equation(block)), soft_wrap=True)

    def equation(self, block: Equation) -> str:
        """``lhs = form`` lines aligned on '=', long sums wrapped at '+'."""
        lhs = self.printer.doprint(block.lhs)
        indent = " " * len(lhs)
        width = max(self.console.width, 40)
        lines: list[str] = []
        forms, relation = self.printer.forms(block)
        for k, pieces in enumerate(forms):
            head = (lhs if k == 0 else indent) + (" = " if k < len(forms) - 1 else f" {relation} ")
            line = head + pieces[0]
            for n, piece in enumerate(pieces[1:], start=2):
                room = width - (2 if n < len(pieces) else 0)  # for a trailing " +"
                if len(line) + 3 + len(piece) > room:
                    lines.append(line + " +")
                    line = indent + "   " + piece
                else:
                    line += " + " + piece
            lines.append(line)
        if block.note:
            lines[-1] += "   " + self.inline(block.note)
        return "\n".join(lines)

    def note(self, words: Sequence[str]) -> None:
        self.console.print(RichText("".join(words), style="italic"))

    def _print_Omitted(self, block: Omitted) -> None:
        self.note(prose.omitted(block, self.hints))


def _plain(text: str) -> str:
    """Text without the spaces rich leaves at the ends of lines."""
    return "\n".join(line.rstrip() for line in text.split("\n"))


def _summary(report: Report, printer: TextPrinter) -> Table:
    table = Table(box=box.SQUARE, show_header=True)
    for name in prose.SUMMARY_HEADER:
        table.add_column(name)
    for key, symbol, mark, right, points, diagnosis in prose.summary_rows(report):
        table.add_row(key, printer.doprint(symbol), mark, right, points, diagnosis)
    return table


def _marked(grid: Sequence[Sequence[str]], columns: int) -> Table:
    table = Table(box=box.SIMPLE, show_header=False)
    for _ in range(columns):
        table.add_column(justify="right")
    for row in grid:
        table.add_row(*row)
    return table


class TextFormat(Renderer):
    name = "text"

    def derivation(self, derivation: Derivation, options: Options) -> str:
        """Plain text; with ``color``, styled for a terminal as it is (width None
        follows the terminal)."""
        buffer = io.StringIO()
        console = Console(file=buffer, width=options.width, highlight=False, emoji=False,
                          markup=False, force_terminal=options.color or None,
                          color_system="auto" if options.color else None)
        TextRenderer(derivation, console, options).render()
        return buffer.getvalue() if options.color else _plain(buffer.getvalue())

    def report(self, report: Report, title: str, working: Derivation | None,
               options: Options) -> str:
        """The report, 100 columns wide unless told."""
        width = options.width or 100
        buffer = io.StringIO()
        console = Console(file=buffer, width=width, highlight=False, markup=False,
                          color_system="standard" if options.color else None,
                          force_terminal=options.color)
        # the departures carry the problem's notation: the symbols are printed with it
        shown = TextRenderer(report.departures, console,
                             Options(decimals=options.decimals, hints=options.hints))
        console.print(RichText(title, style="bold"))
        console.print(_summary(report, shown.printer))
        verdict = f" — {prose.ALL_CORRECT}." if report.correct else ""
        console.print(RichText(prose.score(report) + verdict, style="bold"))
        for q in prose.wrong(report):
            console.print()
            symbol = shown.printer.doprint(report.symbol(q.key))
            console.print(RichText(f"{q.key}: {prose.wrong_count(q)} of {symbol}", style="bold"))
            for label, grid in prose.slices(prose.marked_cells(q, report)):
                if label:
                    console.print(RichText(q.key + label))
                console.print(_marked(grid, grid.shape[1]))
            if q.diagnosis:
                console.print(RichText(
                    f"{prose.diagnosis_label(q.diagnosis)} {q.diagnosis.message}"))
            departure = prose.departure(report, q)
            if departure is not None:
                console.print()
                console.print(RichText(f"{departure.title}:", style="bold"))
                shown.spaced = shown.printed = False
                for block in departure.blocks:
                    shown._print_block(block)
        body = buffer.getvalue()
        if working is not None:
            body += f"\n{prose.WORKING}:\n\n"
            body += self.derivation(working, Options(decimals=options.decimals,
                                                     hints=options.hints, width=width))
        return _plain(body)

    def batch(self, outcomes: Sequence[Outcome], options: Options | None = None) -> str:
        """A table as wide as the terminal (or ``options.width``), each diagnosis on
        a line of its own, and how many files are all correct."""
        options = options or Options()
        buffer = io.StringIO()
        console = Console(file=buffer, width=options.width, highlight=False, markup=False,
                          emoji=False, color_system="standard" if options.color else None,
                          force_terminal=options.color or None)
        table = Table(box=box.SIMPLE_HEAD, show_header=True, header_style="bold",
                      show_edge=False, pad_edge=False)
        rows = prose.batch_rows(outcomes, joined="\n")
        widths = [max(len(line) for row in [prose.BATCH_HEADER, *rows]
                      for line in row[i].split("\n")) for i in range(len(prose.BATCH_HEADER))]
        # the points and the counts never wrap; the file names and the diagnoses share
        # the rest of the width, the names up to two thirds of it
        room = max(24, console.width - widths[1] - widths[2] - 3 * len(widths))
        file_width = min(widths[0], max(room * 2 // 3, room - widths[3]))
        for i, name in enumerate(prose.BATCH_HEADER):
            numbers = name in ("points", "right")
            table.add_column(name, overflow="fold", justify="right" if numbers else "left",
                             no_wrap=numbers, width=file_width if i == 0 else None,
                             min_width=widths[i] if numbers else None)
        for row in rows:
            error = row[1] == "error"
            table.add_row(*(RichText(cell, style="red" if error and options.color else "")
                            for cell in row))
        console.print(table)
        console.print(RichText(prose.tally(outcomes)))
        text = buffer.getvalue()
        return text if options.color else _plain(text)


RENDERER = TextFormat()
