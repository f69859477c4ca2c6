"""Text for the terminal, through rich.

Colour and highlighting appear only when asked for (``Options.color``: the
command line asks on a terminal, and rich honours NO_COLOR); otherwise the
output is plain text, with the window of each output entry marked by brackets
instead of colour.

Everything keeps to the width: sentences are wrapped between words and never
inside an expression (a long formula may break after a relation sign), an
equation too wide beside its left-hand side goes under it, and window grids
and matrices too wide for the line are cut into bands of columns. Padding and
inserted zeros are · in a grid, and their rows and columns are labelled · in
a matrix.
"""

from __future__ import annotations

import builtins
import io
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import IO, TYPE_CHECKING, Any, Protocol

from cnnstep.derivation import (
    Derivation,
    Elided,
    Equation,
    Exercises,
    Expr,
    Matrix,
    Omitted,
    Step,
    Text,
)
from cnnstep.derivation import Table as Rows
from cnnstep.render import TEXT_WIDTH, Options, Outcome, Renderer, prose
from cnnstep.render.expr import Settings, TextPrinter
from cnnstep.render.prose import Token

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text as RichText

    from cnnstep.check import Report

#: windows are drawn beside an equation only for inputs up to this size
WINDOW_GRID_LIMIT = 12
#: larger matrices are printed as plain aligned text, in bands of columns
TABLE_LIMIT = 12
#: the narrowest width anything is laid out for
MIN_WIDTH = 20
#: how far the forms of an equation too wide beside its left-hand side are indented
NARROW_INDENT = 2
#: the control codes rich drops from text it prints (rich.control.STRIP_CONTROL_CODES:
#: bell, backspace, vertical tab, form feed, carriage return)
_CONTROL_CODES = dict.fromkeys([7, 8, 11, 12, 13])


def strip_control_codes(text: str) -> str:
    """``text`` without the control codes rich would drop from it."""
    return text.translate(_CONTROL_CODES)


class Writer(Protocol):
    """What the renderer writes to: a rich Console, or a :class:`PlainConsole`."""

    @property
    def file(self) -> IO[str]: ...

    @property
    def width(self) -> int: ...

    @property
    def color_system(self) -> str | None: ...

    def print(self, *objects: Any, soft_wrap: bool | None = None) -> None: ...

    def rule(self, title: Any, *, align: Any) -> None: ...


class PlainConsole:
    """Plain text of a known width, written to ``file``: what the renderer writes
    itself needs no rich console; anything it leaves to rich (a table, a line with a
    tab) goes to one made on first use, of the same width, writing to the same file."""

    color_system = None

    def __init__(self, file: IO[str], width: int, make: Callable[[int], Console]) -> None:
        self.file, self.width = file, width
        self._make: Callable[[int], Console] = make
        self._console: Console | None = None

    def _rich(self) -> Console:
        if self._console is None:
            self._console = self._make(self.width)
        return self._console

    def print(self, *objects: Any, soft_wrap: bool | None = None) -> None:
        self._rich().print(*objects, soft_wrap=soft_wrap)

    def rule(self, title: Any, *, align: Any) -> None:
        self._rich().rule(title, align=align)


def plain_width(width: int | None) -> int | None:
    """The width rich's console takes for plain text to a buffer: ``width``, or
    the terminal's (stdin's, stdout's or stderr's), with COLUMNS over it, else 80.
    None where rich would decide otherwise (Jupyter, Windows, an environment that
    makes a buffer a terminal, a COLUMNS that is not a positive number)."""
    if width is not None:
        return width
    environ = os.environ
    columns = environ.get("COLUMNS")
    if (sys.platform == "win32" or hasattr(builtins, "get_ipython")
            or "TTY_COMPATIBLE" in environ or "FORCE_COLOR" in environ
            or (columns is not None and not (columns.isdigit() and int(columns) > 0))):
        return None
    if columns is not None:
        return int(columns)
    for descriptor in (0, 1, 2):
        try:
            size = os.get_terminal_size(descriptor)
        except (AttributeError, ValueError, OSError):  # not a terminal
            continue
        return size.columns or 80
    return 80


#: a padding or inserted zero in a window grid
FILLER = "·"
#: a formula of a sentence up to this long is never broken (``z > 0``); a longer one
#: may break after a relation sign that stands outside brackets
UNBROKEN_FORMULA = 30
#: one atom of a wrapped sentence: its text, and whether a line may break before it
Atom = tuple[str, bool]


def wrap_atoms(atoms: Sequence[Atom], width: int) -> list[str]:
    """Atoms into lines of at most ``width`` characters, broken only where an
    atom allows it (before it, at a space); an atom wider than a line is cut."""
    lines: list[str] = []
    line = ""
    for text, breaks in atoms:
        if not line:
            line = text
        elif not breaks:
            line += text
        elif len(line) + 1 + len(text) <= width:
            line += " " + text
        else:
            lines.append(line)
            line = text
        while len(line) > width:
            cut = _cut(line, width)
            lines.append(line[:cut].rstrip())
            line = line[cut:].lstrip()
    if line:
        lines.append(line)
    return lines


def _chunks(text: str, first: int, rest: int) -> list[str]:
    """``text`` cut to fit ``first`` characters, then ``rest`` a line."""
    out: list[str] = []
    room = max(first, MIN_WIDTH // 2)
    while len(text) > room:
        cut = _cut(text, room)
        out.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
        room = max(rest, MIN_WIDTH // 2)
    return [*out, text]


def _cut(text: str, width: int) -> int:
    """Where to cut a line too long for ``width``: after its last comma or
    space that fits, else at the width."""
    for mark in (", ", " "):
        at = text.rfind(mark, 1, width)
        if at > 0:
            return at + len(mark)
    return width


class TextRenderer:
    """One derivation to a rich console."""

    def __init__(self, derivation: Derivation, console: Writer, options: Options) -> None:
        self.d = derivation
        self.console = console
        self.hints = options.hints
        self.printer = TextPrinter(Settings.of(derivation, options.decimals))
        self.plain = console.color_system is None
        self.spaced = self.printed = False
        self.width = max(console.width, MIN_WIDTH)
        #: whether the · of padding and inserted zeros has been explained
        self.fillers_told = False
        #: the cells of each input grid drawn beside an equation, by the grid's id
        #: (the grid kept with them): every equation of a step draws the same grid
        self.grid_cells: dict[int, tuple[Matrix, list[list[str]]]] = {}

    # ------------------------------------------------------------------
    def render(self) -> None:
        drawn = titled(self.d.title, self.console.width) if self.plain else None
        if drawn is not None:
            self.console.file.write(drawn + "\n")
        else:
            from rich.panel import Panel
            from rich.text import Text as RichText

            self.console.print(Panel(RichText(self.d.title, style="bold"), expand=False))
        if self.d.shortened:
            self.note(prose.shortened(self.hints))
        for number, step in self.d.numbered():
            self.printed = False
            self.step(number, step)

    def step(self, number: int, step: Step) -> None:
        self.blank()
        self.spaced = False
        self.heading(prose.step_heading(number, step))
        for block in step.blocks:
            self._print_block(block)

    def heading(self, title: str) -> None:
        """A step's title at the left of a rule across the width. Plain, it is written
        straight, as ``console.rule`` draws it when the title fits. A title longer
        than the line is wrapped, its last line before the rule: nothing of it is
        cut off."""
        width = self.console.width
        lines = [title]
        if _one_line(title) and cell_len(title) > width - 2:
            import textwrap

            lines = textwrap.wrap(title, width - 2) or [title]
        for line in lines[:-1]:
            self.line(line, "bold cyan")
        drawn = ruled(lines[-1], width) if self.plain else None
        if drawn is not None:
            self.console.file.write(drawn + "\n")
        else:
            from rich.text import Text as RichText

            self.console.rule(RichText(lines[-1], style="bold cyan"), align="left")

    def blank(self) -> None:
        """An empty line."""
        if self.plain:
            self.console.file.write("\n")
        else:
            self.console.print()

    def _print_block(self, block: object) -> None:
        # equations and notes stand apart by a blank line; nothing ends a step with two
        apart = isinstance(block, Equation | Omitted)
        if self.spaced or (apart and self.printed):
            self.blank()
        method = getattr(self, f"_print_{type(block).__name__}")
        method(block)
        self.spaced, self.printed = apart, True

    def line(self, text: str, style: str = "") -> None:
        """Text as it is, not wrapped (a soft wrap, left to the terminal). Plain
        text is written straight after what the console has written, as it would
        write it (control characters dropped); styled text goes through rich."""
        if self.plain and "\t" not in text:
            self.console.file.write(strip_control_codes(text) + "\n")
        else:
            from rich.text import Text as RichText

            self.console.print(RichText(text, style=style), soft_wrap=True)

    # sentences --------------------------------------------------------
    def atoms(self, parts: Iterable[str | Expr]) -> list[Atom]:
        """A sentence as atoms: each word, and each expression whole; a formula
        may break only after a relation sign that stands outside brackets. A
        :class:`~cnnstep.render.prose.Code` part is one atom."""
        atoms: list[Atom] = []
        spaced = False  # a space comes before the next atom: a line may break there

        def add(text: str) -> None:
            nonlocal spaced
            if not text:
                return
            if atoms and not spaced:  # written against the last atom: one with it
                atoms[-1] = (atoms[-1][0] + text, atoms[-1][1])
            else:
                atoms.append((text, bool(atoms)))
            spaced = False

        runs: list[list[str | Expr]] = [[]]
        for part in parts:
            if isinstance(part, prose.Code):
                runs += [[part], []]
            else:
                runs[-1].append(part)
        for run in runs:
            if len(run) == 1 and isinstance(run[0], prose.Code):
                add(run[0])
                continue
            for segment in prose.segments(run):
                if isinstance(segment, str):
                    for n, word in enumerate(segment.split(" ")):
                        spaced = spaced or n > 0
                        add(word)
                    continue
                pieces = [""]
                depth = 0
                for item in segment.parts:
                    if not isinstance(item, Token):
                        pieces[-1] += self.printer.doprint(item)
                        continue
                    kind, text = item
                    depth += (kind == "open") - (kind == "close")
                    if (kind == "space" and depth == 0
                            and pieces[-1].endswith(tuple(prose.RELATIONS))):
                        pieces.append("")
                    else:
                        pieces[-1] += text
                if sum(map(len, pieces)) + len(pieces) - 1 <= UNBROKEN_FORMULA:
                    pieces = [" ".join(pieces)]
                for n, piece in enumerate(pieces):
                    spaced = spaced or n > 0
                    add(piece)
        return atoms

    def sentence(self, parts: Iterable[str | Expr], indent: int = 0) -> str:
        """A sentence wrapped to the width, its expressions never split."""
        lines = wrap_atoms(self.atoms(parts), self.width - indent)
        return "\n".join(" " * indent + line for line in lines)

    # blocks -----------------------------------------------------------
    def _print_Text(self, block: Text) -> None:
        self.line(self.sentence(block.parts))

    def inline(self, parts: Iterable[str | Expr]) -> str:
        return "".join(p if isinstance(p, str) else self.printer.doprint(p) for p in parts)

    def fillers_note(self, blocks: Iterable[Matrix]) -> None:
        """The sentence saying what · means, the first time there is one."""
        blocks = list(blocks)
        if self.fillers_told or not prose.has_fillers(blocks):
            return
        self.fillers_told = True
        self.note((prose.fillers_sentence(blocks, labels=True),))

    def _print_Matrix(self, block: Matrix) -> None:
        self.line(self.sentence(block.label), "bold")
        rows, cols = block.values.shape
        cells = self.matrix_cells(block) if cols <= TABLE_LIMIT and rows <= TABLE_LIMIT else None
        if cells is not None and table_width(*cells) <= self.width:
            header, lines = cells
            if self.plain and boxable([header, *lines]):  # no styles: written straight
                self.console.file.write(boxed(header, lines) + "\n")
            else:
                self.console.print(self.matrix(block))
        else:
            self.line(self.bands(block))
        self.fillers_note([block])

    def bands(self, block: Matrix) -> str:
        """A large matrix as plain aligned text, in bands of columns that fit the width."""
        base = self.d.notation.index_base
        rows, cols = block.values.shape
        cells = [[self.printer.cell(block.values[i, j], block.approximate, block.is_filler(i, j))
                  for j in range(cols)] for i in range(rows)]
        width = max(len(c) for row in cells for c in row)
        row_labels = [block.index_label(0, i, base) for i in range(rows)]
        lead = max(len(x) for x in row_labels) + 1
        per_band = max(1, (self.width - lead) // (width + 1))
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

    def matrix_cells(self, block: Matrix) -> tuple[list[str], list[list[str]]]:
        """A matrix's column headings (the first, over the row labels, empty) and its
        rows, each led by its label."""
        base = self.d.notation.index_base
        rows, cols = block.values.shape
        header = ["", *(block.index_label(1, j, base) for j in range(cols))]
        return header, [[block.index_label(0, i, base), *(
            self.printer.cell(block.values[i, j], block.approximate, block.is_filler(i, j))
            for j in range(cols))] for i in range(rows)]

    def matrix(self, block: Matrix) -> Table:
        from rich import box
        from rich.table import Table
        from rich.text import Text as RichText

        base = self.d.notation.index_base
        rows, cols = block.values.shape
        table = Table(box=box.SQUARE, show_header=True, header_style="dim", padding=(0, 1))
        table.add_column("", style="dim", justify="right")
        for j in range(cols):
            table.add_column(block.index_label(1, j, base), justify="right")
        for i in range(rows):
            cells: list[RichText] = []
            for j in range(cols):
                filler = block.is_filler(i, j)
                text = self.printer.cell(block.values[i, j], block.approximate, filler)
                cells.append(RichText(text, style="dim" if filler else ""))
            table.add_row(block.index_label(0, i, base), *cells)
        return table

    def window_grids(self, equation: Equation) -> list[tuple[str, str]] | None:
        """The input (channels side by side, as many as fit the width) with the
        window's cells picked out: reversed on a terminal, in [brackets] when
        plain; padding and inserted zeros are ·. A grid wider than the line is
        cut into bands of columns; None when not even one column fits. The grids are
        pieces of text, each with its style."""
        grids = equation.window_of
        taps = set(equation.window.taps) if equation.window is not None else set()
        cells = [self.cells_of(grid) for grid in grids]
        width = max(len(c) for grid in cells for row in grid for c in row)
        if width + 2 > self.width:
            return None
        labels = [self.inline(grid.label) for grid in grids]
        # each grid, or each band of its columns when it is wider than the line: a panel
        per_band = max(1, (self.width + 1) // (width + 3))
        panels: list[tuple[int, range, str]] = []
        for g, grid in enumerate(grids):
            cols = grid.values.shape[1]
            for start in range(0, cols, per_band):
                part = range(start, min(cols, start + per_band))
                label = labels[g] if len(part) == cols else (
                    f"{labels[g]} {prose.columns(part.start + 1, part.stop, cols)}")
                if len(label) > self.width:  # a label never runs past the line
                    label = label[: self.width - 1] + "…"
                panels.append((g, part, label))
        span = [max(len(label), (width + 3) * len(part) - 1) for _, part, label in panels]
        # pack the panels into bands that fit the width
        bands: list[list[int]] = [[]]
        used = 0
        for p, size in enumerate(span):
            if bands[-1] and used + 3 + size > self.width:
                bands.append([])
                used = 0
            used += (3 if bands[-1] else 0) + size
            bands[-1].append(p)
        out: list[tuple[str, str]] = []
        for number, band in enumerate(bands):
            if number:
                out.append(("\n", ""))
            out.append(("   ".join(panels[p][2].ljust(span[p]) for p in band).rstrip() + "\n",
                        "dim"))
            for i in range(grids[0].values.shape[0]):
                for position, p in enumerate(band):
                    g, part, _ = panels[p]
                    if position:
                        out.append(("   ", ""))
                    drawn = 0
                    for n, j in enumerate(part):
                        inside = (i, j) in taps
                        cell = cells[g][i][j].rjust(width)
                        if n:
                            out.append((" ", ""))
                        if self.plain:
                            out.append((f"[{cell}]" if inside else f" {cell} ", ""))
                        else:
                            out.append((f" {cell} ", "bold reverse" if inside else "dim"))
                        drawn += width + 2 + (1 if n else 0)
                    if position < len(band) - 1:
                        out.append((" " * (span[p] - drawn), ""))
                out.append(("\n", ""))
        return out

    def cells_of(self, grid: Matrix) -> list[list[str]]:
        """The cells of an input grid as :meth:`window_grids` draws them, padding and
        inserted zeros as ·; worked out once for each grid."""
        known = self.grid_cells.get(id(grid))
        if known is not None and known[0] is grid:
            return known[1]
        cells = [[FILLER if grid.is_filler(i, j) else self.printer.cell(v, grid.approximate)
                  for j, v in enumerate(row)] for i, row in enumerate(grid.values)]
        self.grid_cells[id(grid)] = (grid, cells)
        return cells

    def _print_Equation(self, block: Equation) -> None:
        if block.window is not None and block.window_of:
            first = block.window_of[0]
            grids = (self.window_grids(block)
                     if max(first.values.shape) <= WINDOW_GRID_LIMIT else None)
            if grids is not None:
                self.fillers_note(block.window_of)
                if self.plain:
                    self.line("".join(text for text, _ in grids).rstrip())
                else:
                    from rich.text import Text as RichText

                    styled = RichText(style="dim")
                    for text, style in grids:
                        styled.append(text, style=style)
                    styled.rstrip()
                    self.console.print(styled, soft_wrap=True)
            else:
                self.line(self.sentence(prose.window_span(
                    block.window, self.d.notation.index_base, first)), "dim")
        self.line(self.equation(block))

    def equation(self, block: Equation) -> str:
        """``lhs = form`` lines aligned on '=', long sums wrapped at '+'.

        When a form does not fit beside the left-hand side, the forms go under
        it, indented; a term wider than a line is cut after a comma or a space.
        """
        lhs = self.printer.doprint(block.lhs)
        forms = self.printer.forms(block)
        widest = max((len(t) for _, terms in forms for t in terms), default=0)
        narrow = len(lhs) + 3 + widest + 2 > self.width
        indent = " " * (NARROW_INDENT if narrow else len(lhs))
        lines: list[str] = [lhs] if narrow else []
        for k, (relation, pieces) in enumerate(forms):
            head = (lhs if k == 0 and not narrow else indent) + f" {relation} "
            lines += self.sum_lines(head, pieces, " " * len(head))
        if block.note:
            note = self.inline(block.note)
            if len(lines[-1]) + 3 + len(note) <= self.width:
                lines[-1] += "   " + note
            else:
                lines.append(self.sentence(block.note, indent=len(indent) + 3))
        return "\n".join(lines)

    def sum_lines(self, head: str, pieces: Sequence[str], indent: str) -> list[str]:
        """Terms joined by ' + ' after ``head``, wrapped at '+' to the width; a
        term wider than a line is cut, its rest indented a little more."""
        lines: list[str] = []
        line = head
        for n, piece in enumerate(pieces):
            room = self.width - (0 if n == len(pieces) - 1 else 2)  # for a trailing " +"
            if n and len(line) + 3 + len(piece) > room:
                lines.append(line + " +")
                line = indent
            elif n:
                line += " + "
            chunks = _chunks(piece, room - len(line), room - len(indent) - 2)
            line += chunks[0]
            for chunk in chunks[1:]:
                lines.append(line)
                line = indent + "  " + chunk
        lines.append(line)
        return lines

    def note(self, words: Sequence[str]) -> None:
        self.line(self.sentence(words), "italic")

    def _print_Omitted(self, block: Omitted) -> None:
        self.note(prose.omitted(block, self.hints))

    def _print_Elided(self, block: Elided) -> None:
        self.note(prose.elided(block, self.hints))

    def _print_Table(self, block: Rows) -> None:
        """A boxed table when it fits the width; else a line per row, each number
        beside its column's heading, wrapped between numbers."""
        heads = [self.printer.doprint(head) for head in block.columns]
        cells = [[self.printer.cell(v, block.approximate) for v in row] for row in block.values]
        widths = [max(len(block.corner), *map(len, block.rows)),
                  *(max(len(heads[j]), *(len(row[j]) for row in cells))
                    for j in range(len(heads)))]
        if sum(widths) + 3 * len(widths) + 1 <= self.width:
            from rich import box
            from rich.table import Table

            table = Table(box=box.SQUARE, show_header=True, header_style="bold",
                          padding=(0, 1))
            table.add_column(block.corner, justify="right", no_wrap=True)
            for head in heads:
                table.add_column(head, justify="right", no_wrap=True)
            for label, row in zip(block.rows, cells, strict=True):
                table.add_row(label, *row)
            self.console.print(table)
            return
        for label, row in zip(block.rows, cells, strict=True):
            atoms: list[Atom] = [(f"{block.corner} {label}:", False)]
            atoms += [(f"{head} = {cell}" + ("," if j < len(row) - 1 else ""), True)
                      for j, (head, cell) in enumerate(zip(heads, row, strict=True))]
            lines = wrap_atoms(atoms, self.width - 2)
            self.line("\n".join(
                (line if n == 0 else "  " + line) for n, line in enumerate(lines)))


#: characters one terminal cell wide in every Unicode version rich measures with: rich's
#: own single-cell ranges, and the punctuation, sub- and superscripts, letterlike
#: symbols, arrows, mathematical operators and brackets of the derivations
#: (``tests/test_text_width.py`` checks each against rich's tables)
NARROW_RANGES = ((0x20, 0x7E), (0xA0, 0xAC), (0xAE, 0x2FF), (0x370, 0x482),
                 (0x2010, 0x2027), (0x2030, 0x205E), (0x2070, 0x208E), (0x2100, 0x214F),
                 (0x2190, 0x21FF), (0x2200, 0x22FF), (0x2308, 0x230B), (0x2500, 0x25FC))
_narrow: frozenset[str] = frozenset()


def table_width(header: list[str], rows: list[list[str]]) -> int:
    """The width of a matrix as a boxed table, from its :meth:`TextRenderer.matrix_cells`:
    each column its widest entry and a space either side, a rule between and
    around the columns."""
    widths = [max(len(row[n]) for row in (header, *rows)) for n in range(len(header))]
    return sum(w + 2 for w in widths) + len(widths) + 1


def cell_len(text: str) -> int:
    """The terminal cells ``text`` takes, as rich counts them; rich's tables (and the
    time to load them) are needed only for characters beyond :data:`NARROW_RANGES`."""
    global _narrow
    if not _narrow:
        _narrow = frozenset(chr(code) for start, end in NARROW_RANGES
                            for code in range(start, end + 1))
    if _narrow.issuperset(text):
        return len(text)
    from rich.cells import cell_len as rich_cell_len

    return rich_cell_len(text)


def _one_line(title: str) -> bool:
    """Whether rich prints a title as it is: on one line, with no space at an end."""
    return bool(title) and title == title.strip() and "\n" not in title and "\t" not in title


def titled(title: str, width: int) -> str | None:
    """``title`` in a box, as rich draws ``Panel(title, expand=False)`` without styles;
    None when it does not fit on one line of ``width``."""
    title = strip_control_codes(title)
    if not _one_line(title) or cell_len(title) + 4 > width:
        return None
    rule = "─" * (cell_len(title) + 2)
    return f"╭{rule}╮\n│ {title} │\n╰{rule}╯"


def ruled(title: str, width: int) -> str | None:
    """``title`` at the left of a rule across ``width``, as rich draws
    ``console.rule(title, align="left")`` without styles; None when it does not fit."""
    title = strip_control_codes(title)
    if not _one_line(title) or cell_len(title) > width - 2:
        return None
    return f"{title} {'─' * (width - cell_len(title) - 1)}"


def boxable(rows: Iterable[Sequence[str]]) -> bool:
    """Whether :func:`boxed` draws these cells as rich would: each on one line, with
    no space at either end."""
    return all("\n" not in cell and cell == cell.strip() for row in rows for cell in row)


def boxed(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table as rich draws ``Table(box=box.SQUARE, padding=(0, 1))`` of right-justified
    columns when it fits the width, without styles: each column as wide as its widest
    cell (in terminal cells), a space either side, a rule between and around."""
    widths = [max(map(cell_len, column)) for column in zip(header, *rows, strict=True)]

    def rule(left: str, middle: str, right: str) -> str:
        return left + middle.join("─" * (width + 2) for width in widths) + right

    def line(cells: Sequence[str]) -> str:
        return "│" + "│".join(" " * (width - cell_len(cell) + 1) + cell + " "
                              for cell, width in zip(cells, widths, strict=True)) + "│"

    return "\n".join([rule("┌", "┬", "┐"), line(header), rule("├", "┼", "┤"),
                      *map(line, rows), rule("└", "┴", "┘")])


def _plain(text: str) -> str:
    """Text without the spaces rich leaves at the ends of lines."""
    return "\n".join(line.rstrip() for line in text.split("\n"))


def _summary(report: Report, printer: TextPrinter) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SQUARE, show_header=True)
    for name in prose.SUMMARY_HEADER:
        table.add_column(name)
    for key, symbol, mark, right, points, diagnosis in prose.summary_rows(report):
        table.add_row(key, printer.doprint(symbol), mark, right, points, diagnosis)
    return table


def _marked(grid: Sequence[Sequence[str]], columns: int) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE, show_header=False)
    for _ in range(columns):
        table.add_column(justify="right")
    for row in grid:
        table.add_row(*row)
    return table


def _console(buffer: IO[str], width: int | None, color: bool) -> Console:
    """The rich console a derivation is printed to (width None: the terminal's)."""
    from rich.console import Console

    return Console(file=buffer, width=width, highlight=False, emoji=False, markup=False,
                   force_terminal=color or None, color_system="auto" if color else None)


class TextFormat(Renderer):
    name = "text"

    def derivation(self, derivation: Derivation, options: Options) -> str:
        """Plain text; with ``color``, styled for a terminal as it is (width None
        follows the terminal)."""
        buffer = io.StringIO()
        width = None if options.color else plain_width(options.width)
        console: Writer = (_console(buffer, options.width, options.color) if width is None
                           else PlainConsole(buffer, width, lambda known: _console(
                               buffer, known, options.color)))
        TextRenderer(derivation, console, options).render()
        return buffer.getvalue() if options.color else _plain(buffer.getvalue())

    def exercises(self, exercises: Exercises, options: Options) -> str:
        """The exercises one after the other, each under its own title."""
        intro = "".join(line + "\n" for line in exercises.intro)
        return "\n".join([intro] * bool(intro) + [self.derivation(derivation, options)
                                                  for derivation in exercises.exercises])

    def report(self, report: Report, title: str, working: Derivation | None,
               options: Options) -> str:
        """The report, :data:`~cnnstep.render.TEXT_WIDTH` columns wide unless told."""
        from rich.console import Console
        from rich.text import Text as RichText

        width = options.width or TEXT_WIDTH
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
        from rich import box
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text as RichText

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
