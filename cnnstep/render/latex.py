"""LaTeX: a standalone document, or its body alone.

Equations are aligned on the equals sign, with long sums broken over lines
and the value after the last form when it fits there, as it is written by
hand; matrices are ``bmatrix``. Every formula of a sentence is in math.
Padding and inserted zeros are grey (``\\cnnfiller``), and the window of an
entry is drawn as a small matrix with the window's cells framed
(``\\cnnwindow``): beside its equation, on the left, where both fit the line,
else above it. Of a matrix larger than :data:`WINDOW_WHOLE` only the window's
rows and columns are drawn. Both commands are defined in the preamble, and at
the head of a fragment, where a document may restyle them. One after another,
one-line equations share a display, as many to a row as fit; so do matrices;
and the equations set beside their windows stand in one ``gather*``, a row
each, which may break across pages between rows. The document compiles with
pdflatex using only amsmath, amssymb, graphicx and xcolor.

Lines are broken to fit the text, by an estimate of how wide each piece of
math prints (:func:`math_width`): the 50 em of a standalone document (10 pt,
2 cm margins), or the 32.5 em a fragment has at least in a plain article (at
10, 11 or 12 pt), with a margin for the estimate. In a fragment, a paragraph
may stretch its spaces (``sloppypar``) rather than run into the margin. A
matrix too wide for the line is split into blocks of columns; a block still
near the edge is shrunk to the line, never more. A marked hand calculation is
a table of its quantities, the wrong entries listed, and the working of them;
a batch is one table.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import groupby
from typing import TYPE_CHECKING, cast

from cnnstep.derivation import (
    Block,
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
from cnnstep.derivation.nodes import number_steps
from cnnstep.numbers import display
from cnnstep.render import Options, Outcome, Renderer, prose
from cnnstep.render.expr import LatexPrinter, Settings, latex_escape

if TYPE_CHECKING:
    from cnnstep.check import Report

#: the width lines are broken to, in ems of the font: a standalone document
#: (10 pt, 2 cm margins on letter paper: 500 pt, 50 em) and a fragment (a plain
#: article: 345 pt at 10 pt, 360 pt at 11 pt, 390 pt at 12 pt: 32.5 em at least),
#: each less a margin for the estimate of widths
DOCUMENT_EMS = 46.0
FRAGMENT_EMS = 31.0
#: a matrix wider than this share of the line is shrunk to fit should the
#: estimate fall short; one wider than the line is split first
SHRINK_SHARE = 0.8
#: windows are drawn as matrices only for inputs up to this size; a larger
#: input's window is told by the rows and columns it spans
WINDOW_GRID_LIMIT = 12
#: a matrix up to this size is drawn whole around a window; of a larger one
#: only the window's rows and columns
WINDOW_WHOLE = 5
#: the size of a window's matrix: footnote size (8 pt of 10), columns 3 pt apart
WINDOW_SCALE = 0.8
#: the height of a row of a window's matrix, and of a line of a display, in
#: points of the standalone document (8 pt type on 9.5 pt, 10 pt math with
#: 3 pt between lines)
PICTURE_ROW_PT = 9.5
LINE_PT = 15.0
#: the tallest equation set beside its window, in points: such a row cannot
#: break across pages, so a taller one (a long sum, a form a line) would leave
#: much of a page empty or run off its foot; it goes under its window instead,
#: in a display that breaks between lines (about half the 680 pt of a page)
BESIDE_MAX_PT = 330.0

#: what the body uses: grey padding and inserted zeros, framed window cells
MACROS = (
    "\\providecommand{\\cnnfiller}[1]{\\textcolor{gray}{#1}}\n"
    "\\providecommand{\\cnnwindow}[1]{{\\setlength{\\fboxsep}{1pt}"
    "\\fcolorbox{black}{yellow!35}{$#1$}}}\n"
)
PREAMBLE = r"""\documentclass[10pt]{article}
\usepackage{amsmath,amssymb}
\usepackage{graphicx}
\usepackage{xcolor}
\usepackage[margin=2cm]{geometry}
\allowdisplaybreaks
\sloppy
\makeatletter
\renewcommand\section{\@startsection{section}{1}{\z@}{-2.5ex \@plus -1ex \@minus -.2ex}%
  {1.5ex \@plus .2ex}{\normalfont\Large\bfseries}}
\renewcommand\subsection{\@startsection{subsection}{2}{\z@}{-2ex \@plus -.5ex \@minus -.2ex}%
  {.8ex \@plus .2ex}{\normalfont\large\bfseries}}
\makeatother
\setlength{\parskip}{2pt plus 1pt}
\AtBeginDocument{\setlength{\abovedisplayskip}{4pt plus 2pt minus 2pt}%
  \setlength{\belowdisplayskip}{4pt plus 2pt minus 2pt}%
  \setlength{\abovedisplayshortskip}{2pt plus 2pt}%
  \setlength{\belowdisplayshortskip}{2pt plus 2pt}}
""" + MACROS + "\\begin{document}\n"
#: characters of a body held in a temporary file read back at a time
SPOOL_CHUNK = 1 << 20
#: what a fragment needs of the document it is pasted into, and its commands
FRAGMENT_NEEDS = "% cnnstep: needs \\usepackage{amsmath,amssymb,graphicx,xcolor}\n" + MACROS

# --------------------------------------------------------------------------
# how wide math prints

#: ems of the characters of math, in text style: digits, letters (italic),
#: capitals, and signs with the space TeX sets around them (a relation
#: 0.78 + 2 × 0.28, a binary sign 0.78 + 2 × 0.22, a comma 0.28 + 0.17)
_CHAR_EMS = {
    **dict.fromkeys("0123456789", 0.5), **dict.fromkeys("abcdefghijklmnopqrstuvwxyz", 0.53),
    **dict.fromkeys("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 0.8), "(": 0.39, ")": 0.39, "[": 0.28,
    "]": 0.28, ".": 0.28, ",": 0.45, "/": 0.5, "'": 0.3, "|": 0.28, ":": 0.5, ";": 0.5,
    "=": 1.33, "<": 1.33, ">": 1.33, "+": 1.22, "-": 1.22, "*": 1.0, "!": 0.3, "?": 0.5,
}
#: the same in a subscript or superscript (set at 0.7, signs without their spaces)
_SCRIPT_SIGNS = {"=": 0.78, "<": 0.78, ">": 0.78, "+": 0.78, "-": 0.78, ",": 0.28}
#: ems of commands that print one sign (with its spaces); those that print
#: nothing themselves (\left, \bigl …) are 0, and any other counts one letter
_COMMAND_EMS = {
    r"\times": 1.22, r"\cdot": 0.72, r"\odot": 1.22, r"\approx": 1.33, r"\le": 1.33,
    r"\ge": 1.33, r"\neq": 1.33, r"\partial": 0.6, r"\lfloor": 0.45, r"\rfloor": 0.45,
    r"\quad": 1.0, r"\qquad": 2.0, r"\dots": 1.2, r"\max": 1.7, r"\min": 1.5, r"\tanh": 2.1,
    r"\exp": 1.5, r"\log": 1.3, r"\sum": 1.2, r"\circ": 0.5, r"\ ": 0.33, r"\,": 0.17,
    r"\;": 0.28, r"\left": 0.0, r"\right": 0.0, r"\bigl": 0.0, r"\bigr": 0.0,
    r"\displaystyle": 0.0, r"\scriptstyle": 0.0, r"\%": 0.83, r"\&": 0.78, r"\#": 0.83,
    r"\$": 0.5, r"\_": 0.5, r"\{": 0.5, r"\}": 0.5, r"\^": 0.5, r"\~": 0.5,
    r"\textless": 0.78, r"\textgreater": 0.78, r"\textbar": 0.28, r"\textbackslash": 0.5,
}
#: commands whose one argument prints in upright text, and those that print
#: their last argument alone
_TEXT_COMMANDS = frozenset({r"\text", r"\operatorname", r"\mathrm", r"\texttt", r"\textit"})
_WRAPPERS = {r"\cnnfiller": 1, r"\cnnwindow": 1, r"\textcolor": 2, r"\boxed": 1}
_MATH_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|.", re.S)


def _group(tokens: list[str], at: int) -> tuple[list[str], int]:
    """The tokens of the argument that starts at ``at`` (a braced group or one
    token), and where the next one starts."""
    if at >= len(tokens):
        return [], at
    if tokens[at] != "{":
        return tokens[at:at + 1], at + 1
    depth, end = 0, at
    while end < len(tokens):
        depth += (tokens[end] == "{") - (tokens[end] == "}")
        if depth == 0:
            break
        end += 1
    return tokens[at + 1:end], end + 1


def _measure(tokens: list[str], scale: float = 1.0, upright: bool = False) -> float:
    """The width of math tokens, in ems of the text style."""
    ems, at = 0.0, 0
    while at < len(tokens):
        token = tokens[at]
        at += 1
        if token in ("_", "^"):
            script, at = _group(tokens, at)
            ems += _measure(script, scale * 0.7)
        elif token in (r"\frac", r"\tfrac"):
            top, at = _group(tokens, at)
            bottom, at = _group(tokens, at)
            inner = scale * (0.7 if token == r"\tfrac" else 1.0)
            ems += max(_measure(top, inner), _measure(bottom, inner)) + 0.24 * scale
        elif token in _TEXT_COMMANDS:
            words, at = _group(tokens, at)
            ems += _measure(words, scale, upright=True) + (0.17 if "operator" in token else 0)
        elif token in _WRAPPERS:
            argument: list[str] = []
            for _ in range(_WRAPPERS[token]):
                argument, at = _group(tokens, at)
            ems += _measure(argument, scale) + (0.3 if token != r"\textcolor" else 0)
        elif token[0] == "\\" and len(token) > 1:
            ems += scale * _COMMAND_EMS.get(token, 0.6)
        elif token in "{} ":
            continue
        elif upright:
            ems += scale * (0.72 if token.isupper() else 0.33 if token == " " else 0.5)
        elif scale < 1 and token in _SCRIPT_SIGNS:
            ems += scale * _SCRIPT_SIGNS[token]
        else:
            ems += scale * _CHAR_EMS.get(token, 0.6)
    return ems


@lru_cache(maxsize=1 << 16)
def _factor_width(math: str) -> float:
    return _measure(_MATH_TOKEN.findall(math))


#: products are measured factor by factor: the factors recur, term after term
_TIMES = " \\times "
_TIMES_EMS = _COMMAND_EMS[r"\times"]
#: the width of ``+`` between terms
_PLUS_EMS = _CHAR_EMS["+"]


@lru_cache(maxsize=1 << 16)
def math_width(math: str) -> float:
    """About how wide a piece of math prints in display, in ems of its font.

    Each character and command has its width (a relation or a binary sign
    with its spaces), a subscript 0.7 of its characters, a fraction its wider
    part; braces and spaces print nothing. A product is measured factor by
    factor, and each factor once: the factors recur, term after term.
    """
    return term_width(math)


def term_width(math: str) -> float:
    """:func:`math_width` without keeping the answer: for the terms of a sum, which
    seldom recur whole (their factors do, and those are kept)."""
    factors = math.split(_TIMES)
    return sum(map(_factor_width, factors)) + (len(factors) - 1) * _TIMES_EMS


def fill(pieces: list[str], width: float, sizes: Sequence[float] | None = None) -> list[str]:
    """Terms of a sum joined by ``+`` into as few lines of at most ``width`` ems
    as they need, the lines about as long as one another (``sizes``: the
    terms' widths, when already measured): ``a + b + c +`` then ``d``
    becomes ``a + b +`` then ``c + d``."""
    if sizes is None:
        sizes = [math_width(piece) for piece in pieces]
    count = _lines_needed(sizes, width)
    if count < 2:
        return fill_greedily(pieces, width, sizes)
    # the narrowest width that needs no more lines
    low, high = max(sizes) + _PLUS_EMS, width
    while high - low > 0.5:
        middle = (low + high) / 2
        if _lines_needed(sizes, middle, count) > count:
            low = middle
        else:
            high = middle
    return fill_greedily(pieces, high, sizes)


def _lines_needed(sizes: Sequence[float], width: float, most: int | None = None) -> int:
    """How many lines :func:`fill_greedily` makes of terms this wide; once past
    ``most``, any number above it."""
    count, used, last = 1, sizes[0], len(sizes) - 1
    plus = _PLUS_EMS
    most = last + 1 if most is None else most
    for k in range(1, last):  # a line that goes on ends with its own +
        size = sizes[k]
        if used + plus + size + plus > width:
            count, used = count + 1, size
            if count > most:
                return count
        else:
            used += plus + size
    if last > 0 and used + plus + sizes[last] > width:
        count += 1
    return count


def fill_greedily(pieces: list[str], width: float,
                  sizes: Sequence[float] | None = None) -> list[str]:
    """Terms of a sum joined by ``+``, each line as full as ``width`` ems allow,
    the ``+`` that ends a line included."""
    if sizes is None:
        sizes = [math_width(piece) for piece in pieces]
    lines: list[str] = []
    line, used = pieces[0], sizes[0]
    plus = _PLUS_EMS
    last = len(pieces) - 1
    for k, (piece, size) in enumerate(zip(pieces[1:], sizes[1:], strict=True), 1):
        # a line that goes on ends with its own +
        if used + plus + size + (plus if k < last else 0.0) > width:
            lines.append(line + " +")
            line, used = piece, size
        else:
            line, used = line + " + " + piece, used + plus + size
    lines.append(line)
    return lines


def shrink(math: str, inline: bool = False) -> str:
    """Math set at its own width, or shrunk to the line if wider (display
    style unless ``inline``)."""
    style = "" if inline else "\\displaystyle "
    return ("\\resizebox{\\ifdim\\width>\\linewidth\\linewidth\\else\\width\\fi}{!}"
            f"{{${style}{math}$}}")


# --------------------------------------------------------------------------
# text


_BEFORE_DISPLAY = re.compile(r"\n\n+\\begin\{align\*\}")


def _displays_joined(pieces: Iterable[str]) -> Iterator[str]:
    """The pieces with no blank line before a display: a display joins the
    paragraph before it, where a blank line would set an empty line above it."""
    held = ""  # the line breaks that end what has gone before
    for piece in pieces:
        text = _BEFORE_DISPLAY.sub(r"\n\\begin{align*}", held + piece)
        kept = text.rstrip("\n")
        held = text[len(kept):]
        if kept:
            yield kept
    if held:
        yield held


def document(body: str, fragment: bool = False) -> str:
    """A standalone document around ``body``; with ``fragment`` the body alone."""
    if fragment:
        return FRAGMENT_NEEDS + body
    return PREAMBLE + body + "\\end{document}\n"


def heading(level: int, text: str) -> str:
    return f"\\{'sub' * (level - 1)}section*{{{latex_escape(text)}}}\n"


def code(text: str) -> str:
    """Words the reader types, in typewriter type; a line may break after a
    bracket or an underscore."""
    escaped = latex_escape(text).replace("-", "-{}")
    for mark in ("]", r"\_"):
        escaped = escaped.replace(mark, mark + r"\allowbreak{}")
    return r"\texttt{" + escaped + "}"


def tabular(header: Sequence[str], rows: Iterable[Sequence[str]], *, framed: bool) -> str:
    """A table of cells already in LaTeX, a rule under the header (and with
    ``framed`` above and below the table)."""
    def row(cells: Sequence[str]) -> str:
        return " & ".join(cells) + " \\\\"

    frame = ["\\hline"] if framed else []
    lines = [f"\\begin{{tabular}}{{{'l' * len(header)}}}", *frame, row(header), "\\hline",
             *map(row, rows), *frame, "\\end{tabular}"]
    return "\n".join(lines)


@dataclass(frozen=True)
class Pictures:
    """The windows of an entry drawn in small matrices, as LaTeX (text mode)."""

    tex: str
    #: how wide they print, in ems of the text
    width: float
    #: how many rows of small type they take, a label above included
    rows: int


class LatexRenderer:
    """Blocks to LaTeX source; expressions through :class:`LatexPrinter`."""

    heading = staticmethod(heading)

    def __init__(self, derivation: Derivation, options: Options) -> None:
        self.d = derivation
        self.hints = options.hints
        self.printer = LatexPrinter(Settings.of(derivation, options.decimals))
        self.fragment = options.fragment
        self.width = FRAGMENT_EMS if options.fragment else DOCUMENT_EMS
        #: whether the grey of padding and inserted zeros has been explained
        self.fillers_told = False
        #: the most columns of a matrix laid out so far
        self.widest = 0
        #: the note of each span of a window too large to draw, once written
        self.spans: dict[tuple[str | Expr, ...], str] = {}

    def math(self, node: Expr) -> str:
        return self.printer.doprint(node)

    # sentences ----------------------------------------------------------
    def words(self, text: str) -> str:
        return latex_escape(text)

    def formula(self, math: str) -> str:
        return f"${math}$"

    def code(self, text: str) -> str:
        return code(text)

    def inline(self, parts: Iterable[str | Expr]) -> str:
        """A sentence: words as text, every formula in it as math."""
        return "".join(
            self.words(piece) if isinstance(piece, str)
            else self.formula(self.printer.formula(piece.parts))
            for piece in prose.segments(parts))

    def sentence(self, words: Sequence[str | Expr]) -> str:
        """A note's words, :class:`~cnnstep.render.prose.Code` as code."""
        return "".join(self.code(w) if isinstance(w, prose.Code) else self.inline((w,))
                       for w in words)

    def paragraph(self, text: str) -> str:
        """A paragraph; in a fragment it may stretch its spaces rather than run
        into the margin, as the standalone document's do (``\\sloppy``)."""
        if self.fragment:
            return f"\\begin{{sloppypar}}\n{text}\n\\end{{sloppypar}}\n"
        return text + "\n"

    def note(self, words: Sequence[str | Expr]) -> str:
        """A remark set apart in italics."""
        return self.paragraph(r"\emph{" + self.sentence(words) + "}")

    # the derivation -----------------------------------------------------
    def setup(self) -> str:
        """What the body needs set before it starts, once its steps have been
        laid out: the columns of the widest matrix, when bmatrix's 10 are too few."""
        if self.widest > 10:  # bmatrix allows 10 columns unless told otherwise
            return f"\\setcounter{{MaxMatrixCols}}{{{self.widest}}}\n"
        return ""

    def body(self, title: bool = True) -> str:
        text = "".join(self.chunks(self.d.steps, title))
        setup = self.setup()
        return setup + "\n" + text if setup and text else setup + text

    def chunks(self, steps: Iterable[Step], title: bool = True) -> Iterator[str]:
        """The body after :meth:`setup`, in pieces, each step laid out as it comes."""
        def pieces() -> Iterator[str]:
            first = True
            if title:
                yield self.heading(1, self.d.title)
                first = False
            if self.d.shortened:
                yield "" if first else "\n"
                yield self.note(prose.shortened(self.hints))
                first = False
            for number, step in number_steps(steps, self.d.first_step):
                yield "" if first else "\n"
                yield from self.step(number, step)
                first = False

        return _displays_joined(pieces())

    def step(self, number: int, step: Step) -> Iterator[str]:
        """A step's heading and blocks, in pieces. One after another, one-line
        equations share a display, as many to a row as fit; so do matrices; and
        equations with their windows beside them stand in one display, a row each.

        The blocks are read once, in order (a step may be an
        :class:`~cnnstep.derivation.nodes.Unfolding`), each laid out and let go,
        unless the grey's note is still to come: which block tells it depends on
        the whole step, so such a step is laid out whole first."""
        yield self.heading(2, prose.step_heading(number, step))
        laid: Iterable[tuple[str, object]]
        if self.fillers_told:
            laid = (self.lay_out(block) for block in self.measured(step.blocks))
        else:
            blocks = list(step.blocks)
            laid = (self.lay_out(block) for block in self.measured(blocks))
            grids = {id(grid): grid for block in blocks for grid in self.grids(block)}
            if prose.has_fillers(grids.values()):
                laid = list(laid)
        for kind, group in groupby(laid, key=lambda item: item[0]):
            if kind == "alone":
                for _, piece in group:
                    yield "\n"
                    yield cast(str, piece)
                continue
            pieces = [piece for _, piece in group]
            yield "\n"
            if kind == "line":
                yield self.side_by_side(cast(list[tuple[Equation, str]], pieces))
            elif kind == "matrix":
                yield self.matrices(cast(list[Matrix], pieces))
            else:
                rows = cast(list[tuple[str, str]], pieces)
                yield ("".join(told for told, _ in rows) + "\\begin{gather*}\n"
                       + " \\displaybreak[0]\\\\[2pt]\n".join(row for _, row in rows)
                       + "\n\\end{gather*}\n")

    @staticmethod
    def grids(block: Block) -> tuple[Matrix, ...]:
        """The matrices a block shows: itself, or the matrices of an equation's window."""
        if isinstance(block, Matrix):
            return (block,)
        return block.window_of if isinstance(block, Equation) else ()

    def measured(self, blocks: Iterable[Block]) -> Iterator[Block]:
        """The blocks, the widest of their matrices noted (for :meth:`setup`)."""
        for block in blocks:
            for grid in self.grids(block):
                self.widest = max(self.widest, grid.values.shape[1])
            yield block

    def lay_out(self, block: Block) -> tuple[str, object]:
        """How a block is set: ``line`` (a one-line equation, with its line),
        ``matrix``, ``beside`` (the grey note if due, and the row of an equation
        with its window beside it) or ``alone`` (its LaTeX)."""
        if isinstance(block, Matrix):
            return "matrix", block
        if isinstance(block, Equation):
            line = self.one_line(block)
            if line is not None:
                return "line", (block, line)
            row = self.beside(block)
            if row is not None:
                return "beside", row
        return "alone", getattr(self, f"_print_{type(block).__name__}")(block)

    def one_line(self, block: Equation) -> str | None:
        """An equation with no window and no remark that fits one line, as that
        line (``lhs &= …``); else None."""
        if block.window is not None or block.note or block.value is None:
            return None
        lines = self.equation_lines(block, join_value=True)
        return lines[0] if len(lines) == 1 and not lines[0].startswith("&") else None

    def side_by_side(self, run: list[tuple[Equation, str]]) -> str:
        """One-line equations in one display, as many to a row as fit, aligned
        in columns on their equals signs."""
        widest = max(self.lines_width(block, [line]) for block, line in run)
        columns = max(1, min(len(run), int((self.width + 2.0) // (widest + 2.0))))
        rows = [" & ".join(line for _, line in run[at:at + columns])
                for at in range(0, len(run), columns)]
        return ("\\begin{align*}\n" + " \\displaybreak[0]\\\\\n".join(rows)
                + "\n\\end{align*}\n")

    def _print_Text(self, block: Text) -> str:
        return self.paragraph(self.inline(block.parts))

    def _print_Omitted(self, block: Omitted) -> str:
        return self.note(prose.omitted(block, self.hints))

    def _print_Elided(self, block: Elided) -> str:
        return self.note(prose.elided(block, self.hints))

    def _print_Table(self, block: Rows) -> str:
        """A tabular, shrunk to the line when it is wider."""
        heads = [self.math(head) for head in block.columns]
        cells = [[self.printer.cell(v, block.approximate) for v in row] for row in block.values]
        widths = [max(math_width(heads[j]), *(math_width(row[j]) for row in cells)) + 1.5
                  for j in range(len(heads))]
        lines = [" & ".join([self.words(block.corner), *(f"${h}$" for h in heads)]) + r" \\",
                 r"\hline"]
        lines += [" & ".join([label, *(f"${c}$" for c in row)]) + r" \\"
                  for label, row in zip(block.rows, cells, strict=True)]
        tabular = ("\\begin{tabular}{" + "r" * (len(heads) + 1) + "}\n" + "\n".join(lines)
                   + "\n\\end{tabular}")
        if sum(widths) + 3.0 > self.width:
            tabular = f"\\resizebox{{\\linewidth}}{{!}}{{{tabular}}}"
        return f"\\begin{{center}}\n{tabular}\n\\end{{center}}\n"

    # matrices -----------------------------------------------------------
    def cell(self, block: Matrix, i: int, j: int, window: bool = False) -> str:
        """One entry: padding and inserted zeros grey, a window's cells framed."""
        filler = block.is_filler(i, j)
        text = self.printer.cell(block.values[i, j], block.approximate, filler)
        if filler:
            text = self.filler(text)
        return self.window_cell(text) if window else text

    def filler(self, text: str) -> str:
        return f"\\cnnfiller{{{text}}}"

    def window_cell(self, text: str) -> str:
        return f"\\cnnwindow{{{text}}}"

    def fillers_note(self, blocks: Iterable[Matrix]) -> str:
        """The sentence saying what grey entries are, the first time there are some."""
        blocks = list(blocks)
        if self.fillers_told or not prose.has_fillers(blocks):
            return ""
        self.fillers_told = True
        return self.note((prose.fillers_sentence(blocks, labels=False),)) + "\n"

    def column_blocks(self, cells: list[list[str]], room: float) -> list[range]:
        """Columns in blocks that fit ``room`` ems (at least one column each)."""
        widths = [max(math_width(row[j]) for row in cells) + 1.0 for j in range(len(cells[0]))]
        blocks: list[range] = []
        start, used = 0, 0.0
        for j, w in enumerate(widths):
            if j > start and used + w > room:
                blocks.append(range(start, j))
                start, used = j, 0.0
            used += w
        blocks.append(range(start, len(widths)))
        return blocks

    def matrix_parts(self, block: Matrix) -> list[tuple[str, float]]:
        """``label = [matrix]`` as math, split into blocks of columns that fit the
        line, each with how wide it prints in ems."""
        rows, cols = block.values.shape
        cells = [[self.cell(block, i, j) for j in range(cols)] for i in range(rows)]
        label = self.inline_math(block.label)
        room = self.width - math_width(label) - 3.5  # the sign, the brackets, a margin
        parts = self.column_blocks(cells, room)
        out = []
        for part in parts:
            matrix = ("\\begin{bmatrix}\n" + " \\\\\n".join(
                " & ".join(row[j] for j in part) for row in cells) + "\n\\end{bmatrix}")
            name = label
            if len(parts) > 1:
                name += r"\ \text{" + latex_escape(
                    prose.columns(part.start + 1, part.stop, cols)) + "}"
            used = math_width(name) + 3.0 + sum(
                max(math_width(row[j]) for row in cells) + 1.0 for j in part)
            out.append((f"{name} = {matrix}", used))
        return out

    def _print_Matrix(self, block: Matrix) -> str:
        out = []
        for math, used in self.matrix_parts(block):
            if used > SHRINK_SHARE * self.width:
                math = shrink(math)
            out.append(f"\\[\n{math}\n\\]\n")
        told = self.fillers_note([block])
        return "".join(out) + ("\n" + told.rstrip("\n") + "\n" if told else "")

    def matrices(self, run: list[Matrix]) -> str:
        """Matrices one after another: side by side in one display while they fit
        the line, each alone if any is split or shrunk."""
        parts = [self.matrix_parts(block) for block in run]
        if any(len(p) > 1 or p[0][1] > SHRINK_SHARE * self.width for p in parts):
            return "\n".join(map(self._print_Matrix, run))
        rows: list[list[str]] = [[]]
        used = 0.0
        for (math, size), in parts:
            if rows[-1] and used + 3.0 + size > self.width:
                rows.append([])
                used = 0.0
            rows[-1].append(math)
            used += size + 3.0  # the \qquad
        out = "".join("\\[\n" + " \\qquad\n".join(row) + "\n\\]\n" for row in rows)
        told = self.fillers_note(run)
        return out + ("\n" + told.rstrip("\n") + "\n" if told else "")

    def inline_math(self, parts: Iterable[str | Expr]) -> str:
        """A label mixing words and math, inside math mode."""
        return "".join(
            (r"\text{" + latex_escape(p) + "}" if p.strip() else p)
            if isinstance(p, str) else self.math(p) for p in parts
        )

    # windows ------------------------------------------------------------
    def window_matrix(self, grid: Matrix, block: Equation,
                      crop: bool = False) -> tuple[str, float]:
        """A matrix with the window's cells framed (with ``crop``, the window's
        rows and columns alone), and how wide it prints in ems of the text at
        the small size windows are set in."""
        taps = block.window.taps if block.window is not None else ()
        rows, cols = grid.values.shape
        if crop and taps:
            row_span = range(min(r for r, _ in taps), max(r for r, _ in taps) + 1)
            col_span = range(min(c for _, c in taps), max(c for _, c in taps) + 1)
        else:
            row_span, col_span = range(rows), range(cols)
        marked = set(taps)
        cells = [[self.cell(grid, i, j, (i, j) in marked) for j in col_span] for i in row_span]
        math = ("\\begin{bmatrix}" + " \\\\ ".join(" & ".join(row) for row in cells)
                + "\\end{bmatrix}")
        size = WINDOW_SCALE * (1.0 + sum(
            max(math_width(row[j]) for row in cells) + 0.6 for j in range(len(col_span))))
        return math, size

    def window_pictures(self, block: Equation, stacked: bool = False) -> Pictures | None:
        """The window of an equation's entry in each matrix it lies in, in small
        type, each labelled (with ``stacked``, the label above the matrix); None
        for a large input, whose window is told by the rows and columns it spans.

        A matrix of up to :data:`WINDOW_WHOLE` rows and columns is drawn whole,
        the window's cells framed; of a larger one only the window's rows and
        columns are drawn.
        """
        grids, window = block.window_of, block.window
        if window is None or not grids or max(grids[0].values.shape) > WINDOW_GRID_LIMIT:
            return None
        crop = max(grids[0].values.shape) > WINDOW_WHOLE
        pictures, total = [], 0.0
        for grid in grids:
            label = self.inline_math(grid.label)
            math, size = self.window_matrix(grid, block, crop)
            if crop:
                label = r"\text{window of }" + label
            label_ems = WINDOW_SCALE * (math_width(label) + 0.6)
            if stacked:
                pictures.append(f"\\begin{{tabular}}{{@{{}}c@{{}}}}${label}$:\\\\ ${math}$"
                                "\\end{tabular}")
                total += max(label_ems, size) + 1.0
            else:
                pictures.append(f"${label}$: ${math}$")
                total += label_ems + size + 1.0
        rows = len(window.rows) if crop else grids[0].values.shape[0]
        small = "{\\footnotesize\\setlength{\\arraycolsep}{3pt}"
        if stacked:
            return Pictures("\\mbox" + small + "\\quad ".join(pictures) + "}", total,
                            rows + 1)
        # a line may break between the matrices, the space before the break
        # stretching to fill the line (the glue stays on the line: the break
        # is at the penalty after it)
        return Pictures("\\hskip 1em plus .5\\linewidth\\penalty0\n".join(
            f"\\mbox{small}{p}}}" for p in pictures), total, rows)

    def windows(self, block: Equation) -> str:
        """The window of an equation's entry, drawn in the matrices it lies in,
        above the equation; for a large input, the rows and columns it spans."""
        grids, window = block.window_of, block.window
        if window is None or not grids:
            return ""
        pictures = self.window_pictures(block)
        if pictures is None:  # the same span recurs, filter after filter
            words = prose.window_span(window, self.d.notation.index_base, grids[0])
            told = self.spans.get(words)
            if told is None:
                told = self.spans[words] = self.note(words)
            return told
        drawn = pictures.tex
        return self.fillers_note(grids) + self.paragraph("\\noindent " + drawn)

    # equations ----------------------------------------------------------
    def equation_lines(self, block: Equation, width: float | None = None,
                       join_value: bool = False) -> list[str]:
        """``lhs &= …`` lines of one aligned equation, broken to fit ``width`` ems
        (the text's, unless given).

        A left-hand side too wide to leave room beside it stands on a line of
        its own, and the forms follow, indented. With ``join_value``, the value
        follows the last form on its line when it fits there
        (``= 1×0.5 + 2×0.2 = 0.9``), as it is written by hand.
        """
        width = self.width if width is None else width
        lines: list[str] = []
        #: how wide the last line is, in ems
        used = 0.0
        lhs = self.math(block.lhs)
        lhs_ems = math_width(lhs)
        forms = self.printer.forms(block)
        sizes = [[term_width(t) for t in terms] for _, terms in forms]
        sign = 1.4  # the relation, or \quad before a continued line
        room = width - lhs_ems - sign
        widest = max((max(s) for s in sizes if s), default=0.0)
        alone = room < widest and room < 0.6 * width
        if alone:
            room = width - 1.0 - sign
            lines.append(f"&{lhs}")
        for k, (relation, terms) in enumerate(forms):
            if (join_value and k == len(forms) - 1 and k > 0 and block.value is not None
                    and used + sign + sizes[k][0] <= width):
                lines[-1] += f" {relation} {terms[0]}"
                used += sign + sizes[k][0]
                continue
            pieces = fill(terms, room, sizes[k])
            if alone:
                lines.append(f"&\\quad {relation} {pieces[0]}")
                lines += [f"&\\qquad {piece}" for piece in pieces[1:]]
                used = 2.0 + sign + math_width(pieces[-1])
            else:
                lines.append(f"{lhs if k == 0 else ''} &{relation} {pieces[0]}")
                lines += [f"&\\quad {piece}" for piece in pieces[1:]]
                used = lhs_ems + sign + math_width(pieces[-1]) + (1.0 if len(pieces) > 1 else 0)
        return lines

    def note_beside(self, block: Equation, lines: list[str],
                    width: float | None = None) -> str | None:
        """The note after an equation's value on its last line, if it fits there."""
        if not block.note:
            return None
        width = self.width if width is None else width
        note = self.inline_math(block.note)
        last = lines[-1].split("&", 1)[-1]
        lhs = 0.0 if lines[0].startswith("&") else math_width(self.math(block.lhs))
        if lhs + math_width(last) + 2.0 + math_width(note) <= width:
            return note
        return None

    def lines_width(self, block: Equation, lines: list[str]) -> float:
        """How wide the widest of an equation's lines prints, in ems."""
        lhs = math_width(self.math(block.lhs))
        return max((0.0 if line.startswith("&") else lhs)
                   + math_width(line.split("&", 1)[-1]) for line in lines)

    def beside_layout(self, block: Equation) -> tuple[Pictures, list[str], float] | None:
        """The window's pictures, the equation's lines (its remark placed) and
        the room they have, when the equation fits beside its window; else None.

        The window's label stands beside its matrix or above it, whichever
        leaves the display lower (a narrower picture leaves the equation
        longer lines); a display taller than :data:`BESIDE_MAX_PT` is not set
        beside.
        """
        best: tuple[float, Pictures, list[str], float] | None = None
        for stacked in (False, True):
            pictures = self.window_pictures(block, stacked)
            if pictures is None:
                return None
            room = self.width - pictures.width - 2.0  # the \qquad
            lines = self.equation_lines(block, room, join_value=True)
            if room < 0.4 * self.width or self.lines_width(block, lines) > room:
                continue
            if block.note:  # after the value, or on a line of its own that it fits
                beside = self.note_beside(block, lines, room)
                if beside is not None:
                    lines[-1] += r"\qquad " + beside
                elif math_width(remark := self.inline_math(block.note)) <= room:
                    lines.append("&" + remark)
                else:
                    continue
            height = max(PICTURE_ROW_PT * pictures.rows, LINE_PT * len(lines))
            if height > BESIDE_MAX_PT:
                continue
            if best is None or height < best[0]:
                best = (height, pictures, lines, room)
        return None if best is None else best[1:]

    def beside(self, block: Equation) -> tuple[str, str] | None:
        """The grey note if due, and the row of a display that sets the equation
        beside its window, on the left, when both fit the line; else None."""
        laid = self.beside_layout(block)
        if laid is None:
            return None
        pictures, lines, _ = laid
        body = " \\\\\n".join(lines)
        return (self.fillers_note(block.window_of), f"{pictures.tex}\\qquad\n"
                f"\\begin{{aligned}}[c]\n{body}\n\\end{{aligned}}")

    def _print_Equation(self, block: Equation) -> str:
        lines = self.equation_lines(block, join_value=True)
        beside = self.note_beside(block, lines)
        after = ""
        if beside is not None:
            lines[-1] += r"\qquad " + beside
        elif block.note:
            after = self.paragraph(self.inline(block.note))
        body = " \\\\\n".join(lines)
        return (self.windows(block) + "\\begin{align*}\n" + body + "\n\\end{align*}\n"
                + after)


def _words(value: str) -> str:
    """Report text in LaTeX, the marks spelled out."""
    return latex_escape(value.replace("✓", "yes").replace("✗", "no").replace("—", "--"))


class Latex(Renderer):
    name = "latex"

    def derivation(self, derivation: Derivation, options: Options) -> str:
        return document(LatexRenderer(derivation, options).body(), options.fragment)

    def stream(self, head: Derivation, steps: Iterable[Step], options: Options) -> Iterator[str]:
        """The document of :meth:`derivation`, each step laid out as it comes. The
        body is held in a temporary file until the last step has told how wide
        the widest matrix is, which the document sets before the body starts."""
        shown = LatexRenderer(head, options)
        with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as body:
            written = 0
            for chunk in shown.chunks(steps):
                written += body.write(chunk)
            yield FRAGMENT_NEEDS if options.fragment else PREAMBLE
            setup = shown.setup()
            yield setup + "\n" if setup and written else setup
            body.seek(0)
            while chunk := body.read(SPOOL_CHUNK):
                yield chunk
        if not options.fragment:
            yield "\\end{document}\n"

    def exercises(self, exercises: Exercises, options: Options) -> str:
        """One document (or fragment): each exercise a section."""
        intro = [f"\\noindent\\textbf{{{latex_escape(line)}}}\n" for line in exercises.intro]
        bodies = [LatexRenderer(derivation, options).body() for derivation in exercises.exercises]
        return document("\n".join(intro + bodies), options.fragment)

    def report(self, report: Report, title: str, working: Derivation | None,
               options: Options) -> str:
        # the departures carry the problem's notation: the symbols are printed with it
        shown = LatexRenderer(report.departures, options)
        rows = [[_words(key), f"${shown.math(symbol)}$", _words(mark), _words(right),
                 _words(points), f"\\parbox[t]{{6cm}}{{{_words(diagnosis)}}}"]
                for key, symbol, mark, right, points, diagnosis in prose.summary_rows(report)]
        out = [heading(1, title), tabular(prose.SUMMARY_HEADER, rows, framed=True) + "\n",
               f"\\textbf{{{latex_escape(prose.score(report))}}}\n"]
        for q in prose.wrong(report):
            out.append(f"\\subsection*{{{_words(q.key)}: "
                       f"${shown.math(report.symbol(q.key))}$}}\n\\begin{{itemize}}")
            for miss in q.mismatches:
                out.append(f"\\item {_words(q.key + prose.index_text(miss.index))}: given "
                           f"{_words(display(miss.given.value))}, expected "
                           f"{_words(display(miss.expected))}")
            out.append("\\end{itemize}\n")
            if q.diagnosis:
                out.append(f"\\emph{{{_words(prose.diagnosis_label(q.diagnosis))}}} "
                           f"{_words(q.diagnosis.message)}\n")
            departure = prose.departure(report, q)
            if departure is not None:
                out.append(f"\\textbf{{{latex_escape(departure.title)}}}\n")
                out += [getattr(shown, f"_print_{type(block).__name__}")(block)
                        for block in departure.blocks]
        if working is not None:
            out.append(heading(2, prose.WORKING))
            out.append(LatexRenderer(working, options).body(title=False))
        return document("\n".join(out), options.fragment)

    def batch(self, outcomes: Sequence[Outcome], options: Options | None = None) -> str:
        # the diagnoses one a line, in a column that wraps
        rows = [[*(latex_escape(cell) for cell in row[:-1]),
                 "\\parbox[t]{7cm}{\\raggedright "
                 + latex_escape(row[-1]).replace("\n", "\\newline ") + "}"]
                for row in prose.batch_rows(outcomes, joined="\n")]
        return document(tabular(prose.BATCH_HEADER, rows, framed=False) + "\n")


RENDERER = Latex()
