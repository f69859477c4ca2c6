"""HTML: one self-contained page, its mathematics in MathML.

The page needs nothing but a browser: no script, no web font, no request to
the network; its style sheet is inline. Every formula is a ``<math>`` element
that is also well-formed XML, so the page reads the same in any browser with
MathML Core (Chromium, Firefox, Safari) and can be taken apart by any XML tool.

* A step is a ``<section>``; an equation is one ``<mtable>`` whose rows are
  aligned on the equals sign, long sums broken after a ``+``.
* A matrix is an ``<mtable>`` framed, with its indices in grey outside the
  frame; zero padding (``Matrix.border``) and the zeros inserted for a stride
  (``Matrix.step``) are dimmed, padding also shaded, so that they stand apart
  from zeros of the data.
* The window of an equation (``Equation.window`` over ``Equation.window_of``)
  is drawn beside it: the input, small, with the window's cells picked out.
* Runs of matrices stand side by side (the channels of an input, a kernel and
  its rotation).

With ``Options.fragment`` the page is a ``<div>`` with its own ``<style>``,
every rule scoped to it: what a notebook shows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from fractions import Fraction
from html import escape
from typing import TYPE_CHECKING, ClassVar

from cnnstep.derivation import (
    Add,
    Call,
    Ceil,
    Derivation,
    Div,
    Elided,
    Equation,
    Exercises,
    Expr,
    Floor,
    Group,
    Infinity,
    Matrix,
    More,
    Name,
    Omitted,
    Partial,
    Pow,
    Ratio,
    Sigma,
    Step,
    Sub,
    Text,
)
from cnnstep.derivation import Table as Rows
from cnnstep.render import Options, Outcome, Renderer, prose
from cnnstep.render.expr import NotationPrinter, Settings

if TYPE_CHECKING:
    from cnnstep.check import Report

#: visible characters of mathematics on one row of an aligned equation
LINE_WIDTH = 60
#: windows are drawn beside an equation only for inputs up to this size
WINDOW_GRID_LIMIT = 12

#: a space MathML keeps at the end of a text
NBSP = "\u00a0"

#: the one style sheet, every rule under ``.cnnstep`` so that a fragment in a
#: notebook styles nothing else; colours are translucent to suit light and dark pages.
#: Chromium lays out a table cell of MathML as a block of its own: it aligns it by
#: ``-webkit-right`` and ``-webkit-center`` only, so these follow the standard values
#: (Firefox aligns by the ``columnalign`` attributes)
STYLE = """\
.cnnstep{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;line-height:1.5;\
max-width:64rem}
.cnnstep.page{margin:0 auto;padding:0 1rem 2rem}
.cnnstep math{font-family:"STIX Two Math","Latin Modern Math","Cambria Math",math;\
font-size:1.1em}
.cnnstep h1{font-size:1.6rem;margin:1rem 0 .5rem}
.cnnstep h2{font-size:1.3rem;margin:0 0 .5rem;padding-top:.75rem}
.cnnstep h3{font-size:1.1rem;margin:0 0 .5rem;padding-top:.5rem}
.cnnstep section{border-top:1px solid rgba(127,127,127,.35);margin-top:1.25rem}
.cnnstep nav ul{columns:2 16rem;margin:.25rem 0;padding-left:1.5rem}
.cnnstep a{color:inherit}
.cnnstep .note{font-style:italic}
.cnnstep code{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:.9em;\
background:rgba(127,127,127,.12);padding:0 .25em;border-radius:3px}
.cnnstep .equation{display:flex;flex-wrap:wrap;align-items:center;gap:.25rem 2.5rem;\
margin:.75rem 0}
.cnnstep .equation>math{margin:0;padding:.2em 0;flex-shrink:0}
.cnnstep mtable.eq>mtr>mtd{padding:.2em 0}
.cnnstep mtable.eq>mtr>mtd:first-child{text-align:right;text-align:-webkit-right}
.cnnstep mtable.eq>mtr>mtd:last-child{text-align:left}
.cnnstep .matrices{display:flex;flex-wrap:wrap;align-items:flex-start;gap:.5rem 3rem;\
margin:.75rem 0}
.cnnstep figure{margin:0;padding:.2em 0}
.cnnstep figure>math{margin:0;width:fit-content}
.cnnstep figcaption{font-size:.85em;opacity:.75}
.cnnstep mtable.m>mtr>mtd{padding:.15em .55em;text-align:right;text-align:-webkit-right}
.cnnstep mtable.m>mtr:first-child>mtd,.cnnstep mtable.m>mtr>mtd:first-child{\
font-size:.7em;opacity:.55;text-align:center;text-align:-webkit-center}
.cnnstep mtable.m>mtr:nth-child(2)>mtd:not(:first-child){border-top:1.5px solid}
.cnnstep mtable.m>mtr:last-child>mtd:not(:first-child){border-bottom:1.5px solid}
.cnnstep mtable.m>mtr:not(:first-child)>mtd:nth-child(2){border-left:1.5px solid}
.cnnstep mtable.m>mtr:not(:first-child)>mtd:last-child{border-right:1.5px solid}
.cnnstep mtd.f>*{opacity:.4}
.cnnstep mtd.p{background:rgba(127,127,127,.14)}
.cnnstep .window{display:flex;flex-wrap:wrap;gap:.25rem 1.25rem;font-size:.8em;margin-left:auto}
.cnnstep .window .label{font-size:.85em;opacity:.75}
.cnnstep mtable.w>mtr>mtd{padding:.05em .35em;text-align:right;text-align:-webkit-right;\
border:1px solid rgba(127,127,127,.25)}
.cnnstep mtable.w>mtr>mtd.in{background:rgba(255,179,0,.45);font-weight:bold}
.cnnstep table.report{border-collapse:collapse;margin:.75rem 0}
.cnnstep table.report th,.cnnstep table.report td{border:1px solid rgba(127,127,127,.45);\
padding:.25em .6em;text-align:left;vertical-align:top}
.cnnstep table.report td.n{text-align:right}
.cnnstep .right{color:#2e7d32}
.cnnstep .wrong{color:#c62828}
.cnnstep td.wrong{background:rgba(198,40,40,.08)}
.cnnstep td .expected{font-size:.85em;opacity:.8}
.cnnstep .diagnosis{border-left:3px solid #c62828;padding-left:.75em}
@media print{.cnnstep{max-width:none}.cnnstep section{break-inside:avoid-page}}
"""

#: a tag, which shows nothing
_TAG = re.compile(r"<[^>]*>")
#: a character reference, which shows one character
_REFERENCE = re.compile(r"&#?\w+;")
#: the invisible operators (function application, separator), which show none
_INVISIBLE = frozenset(f"&#x206{n};" for n in range(5))


def esc(words: str) -> str:
    """Text safe in HTML and in MathML token elements (quotes left as they are)."""
    return escape(words, quote=False)


def visible_length(markup: str) -> int:
    """About how many characters a piece of MathML shows: its text without tags."""
    shown = _TAG.sub("", markup)
    if "&" in shown:  # rare: tags hold most markup
        shown = _REFERENCE.sub(lambda m: "" if m.group() in _INVISIBLE else "x", shown)
    return len(shown)


def fill(pieces: list[str], width: int = LINE_WIDTH) -> list[str]:
    """Terms of a sum joined by ``+`` into rows of about ``width`` visible characters;
    every row but the last ends with its ``+``."""
    plus = "<mo>+</mo>"
    rows: list[str] = []
    row, used = pieces[0], visible_length(pieces[0])
    for piece in pieces[1:]:
        size = visible_length(piece)
        if used + size > width:
            rows.append(row + plus)
            row, used = piece, size
        else:
            row, used = row + plus + piece, used + size + 3
    rows.append(row)
    return rows


def document(title: str, body: str, fragment: bool = False) -> str:
    """A whole HTML5 page around ``body``; with ``fragment`` a ``<div>`` with its style."""
    if fragment:
        return f'<div class="cnnstep">\n<style>\n{STYLE}</style>\n{body}</div>\n'
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n"
        f'<div class="cnnstep page">\n{body}</div>\n</body>\n</html>\n'
    )


def note(words: Sequence[str]) -> str:
    """A remark set apart in italics; :class:`~cnnstep.render.prose.Code` words as code."""
    return ('<p class="note">'
            + "".join(f"<code>{esc(w)}</code>" if isinstance(w, prose.Code) else esc(w)
                      for w in words) + "</p>\n")


def row(tag: str, cells: Iterable[str]) -> str:
    return "<tr>" + "".join(f"<{tag}>{cell}</{tag}>" for cell in cells) + "</tr>"


# --------------------------------------------------------------------------
# expressions


class MathMLPrinter(NotationPrinter):
    """Presentation MathML: ``<msub><mi>X</mi><mn>11</mn></msub>``, ∂L/∂Z as a
    fraction, 2 × (−0.25) with a real minus sign.

    Each method returns a sequence of MathML elements; a sequence that has to
    act as one (a base, a bracketed group) is wrapped in ``<mrow>``.
    """

    minus = "<mo>−</mo>"
    times = "<mo>×</mo>"
    equals = "<mo>=</mo>"
    approximately = "<mo>≈</mo>"
    open_square, close_square = '<mo stretchy="false">[</mo>', '<mo stretchy="false">]</mo>'
    partial = "<mi>∂</mi>"
    #: a slash written close, as in ∂L/∂Z and (2/4)
    slash = '<mo lspace="0" rspace="0">/</mo>'
    learning_rate = "<mi>α</mi>"
    marks: ClassVar[dict[str, str]] = {
        "pad": "pad", "new": "new", "spread": "spread", "padded": "pad", "final": "final",
    }
    #: the invisible separator between the digits of a compact index (X₁₁)
    SEPARATOR = "<mo>&#x2063;</mo>"
    #: the invisible function application, after a function's name
    APPLY = "<mo>&#x2061;</mo>"

    # numbers -------------------------------------------------------------
    def signed(self, text: str) -> str:
        if text.startswith("-"):
            return f"<mrow>{self.minus}<mn>{text[1:]}</mn></mrow>"
        return f"<mn>{text}</mn>"

    def fraction(self, value: Fraction) -> str:
        body = f"<mfrac><mn>{abs(value.numerator)}</mn><mn>{value.denominator}</mn></mfrac>"
        return f"<mrow>{self.minus}{body}</mrow>" if value < 0 else body

    def approx(self, text: str) -> str:
        return self.approximately + text

    def paren(self, text: str) -> str:
        return self.bracket("(", text, ")")

    @staticmethod
    def bracket(left: str, text: str, right: str) -> str:
        """Brackets around ``text``: as tall as it where it holds a fraction, else the
        plain glyphs, which sit closer."""
        fixed = "" if "<mfrac" in text else ' stretchy="false"'
        return f"<mrow><mo{fixed}>{left}</mo>{text}<mo{fixed}>{right}</mo></mrow>"

    # symbols -------------------------------------------------------------
    def name(self, text: str) -> str:
        if " " in text:
            return f"<mtext>{esc(text)}</mtext>"
        return f"<mi>{esc(text)}</mi>"

    def index(self, index: tuple[int | str, ...], compact: bool) -> str:
        """The indices of a symbol, compact (11) or with commas (1,1,2): numbers as
        one ``<mn>``, as a subscript is written by hand; letters each an ``<mi>``."""
        if all(isinstance(i, int) for i in index):
            return f"<mn>{('' if compact else ',').join(str(i) for i in index)}</mn>"
        items = [f"<mn>{i}</mn>" if isinstance(i, int) else f"<mi>{esc(i)}</mi>"
                 for i in index]
        if any(len(str(i)) > 1 for i in index):  # an index such as i·s + a: commas
            compact = False
        joined = (self.SEPARATOR if compact else "<mo>,</mo>").join(items)
        return joined if len(items) == 1 else f"<mrow>{joined}</mrow>"

    def indexed(self, base: str, index: tuple[int | str, ...], mark: str | None = None) -> str:
        decoration = f"<mtext>{self.marks[mark]}</mtext>" if mark else ""
        if not index:
            return f"<msub>{base}{decoration}</msub>" if decoration else base
        if self.settings.subscripts:
            sub = self.index(index, self.settings.compact)
            if decoration:
                return f"<msubsup>{base}{sub}{decoration}</msubsup>"
            return f"<msub>{base}{sub}</msub>"
        written = (f'<mrow>{base}<mo stretchy="false">(</mo>{self.index(index, False)}'
                   '<mo stretchy="false">)</mo></mrow>')
        return f"<msub>{written}{decoration}</msub>" if decoration else written

    def gradient(self, of: str) -> str:
        loss = self.name(self.settings.notation.loss)
        return f"<mrow>{self.partial}{loss}{self.slash}{self.partial}{of}</mrow>"

    def marked(self, text: str, mark: str) -> str:
        return f"<msub>{self.paren(text)}<mtext>{self.marks[mark]}</mtext></msub>"

    def imaged(self, text: str, image: str) -> str:
        number = f"<mn>{image}</mn>" if image.isdigit() else f"<mi>{esc(image)}</mi>"
        return (f'<msup><mrow>{text}</mrow><mrow><mo stretchy="false">(</mo>{number}'
                '<mo stretchy="false">)</mo></mrow></msup>')

    # structure -----------------------------------------------------------
    def _print_Add(self, node: Add) -> str:
        return "<mo>+</mo>".join(self.terms(node)) if node.terms else "<mn>0</mn>"

    def _print_Sub(self, node: Sub) -> str:
        return (f"{self.operand(node.left, 'first')}{self.minus}"
                f"{self.operand(node.right, 'right')}")

    def _print_Group(self, node: Group) -> str:
        inner = self.doprint(node.body)
        return self.bracket("[", inner, "]") if node.square else self.paren(inner)

    def _print_Pow(self, node: Pow) -> str:
        base = self.operand(node.base, "base")
        return f"<msup><mrow>{base}</mrow><mn>{node.exponent}</mn></msup>"

    def _print_Floor(self, node: Floor) -> str:
        return f"<mrow><mo>⌊</mo>{self.doprint(node.body)}<mo>⌋</mo></mrow>"

    def _print_Div(self, node: Div) -> str:
        return (f"<mfrac><mrow>{self.doprint(node.left)}</mrow>"
                f"<mrow>{self.doprint(node.right)}</mrow></mfrac>")

    def _print_More(self, node: More) -> str:
        return f"<mo>…</mo><mtext>({node.count} more)</mtext><mo>…</mo>"

    def _print_Ceil(self, node: Ceil) -> str:
        return f"<mrow><mo>⌈</mo>{self.doprint(node.body)}<mo>⌉</mo></mrow>"

    def _print_Infinity(self, node: Infinity) -> str:
        return f"<mrow><mo>{'−' if node.negative else '+'}</mo><mi>∞</mi></mrow>"

    def _print_Sigma(self, node: Sigma) -> str:
        indices = "".join(f"<mi>{esc(letter)}</mi>" for letter in node.indices)
        return (f"<mrow><munder><mo>∑</mo><mrow>{indices}</mrow></munder>"
                f"{self.doprint(node.body)}</mrow>")

    def _print_Ratio(self, node: Ratio) -> str:
        return self.paren(f"<mn>{node.numerator}</mn>{self.slash}<mn>{node.denominator}</mn>")

    def _print_Partial(self, node: Partial) -> str:
        return (f"<mrow>{self.partial}{self.doprint(node.of)}{self.slash}"
                f"{self.partial}{self.doprint(node.by)}</mrow>")

    def _print_Name(self, node: Name) -> str:
        """``h_in`` as h with the subscript "in", as the other formats write it."""
        base, _, sub = node.text.partition("_")
        if sub and base:
            return f"<msub>{self.name(base)}<mtext>{esc(sub)}</mtext></msub>"
        return self.name(node.text)

    operations: ClassVar[dict[str, str]] = {
        "rot180": "<msub><mi>rot</mi><mn>180°</mn></msub>",
        "conv": "<mi>conv</mi>", "full_conv": "<mrow><mi>full</mi><mspace width=\"0.3em\"/>"
                                               "<mi>conv</mi></mrow>",
        "full_corr": "<mrow><mi>full</mi><mspace width=\"0.3em\"/><mi>corr</mi></mrow>",
        "corr": "<mi>corr</mi>",
        "sum": "<mi>sum</mi>", "relu": "<mi>ReLU</mi>", "leaky_relu": "<mi>LeakyReLU</mi>",
        "sigmoid": "<mi>σ</mi>", "tanh": "<mi>tanh</mi>", "max": "<mi>max</mi>",
        "min": "<mi>min</mi>", "mean": "<mi>mean</mi>",
    }
    prime = '<mo lspace="0" rspace="0">′</mo>'

    def _print_Call(self, node: Call) -> str:
        name = self.operations.get(node.op, f"<mi>{esc(node.op)}</mi>")
        if node.prime:  # the prime glyph sits high already: no superscript
            name = f"<mrow>{name}{self.prime}</mrow>"
        args = "<mo>,</mo>".join(self.doprint(a) for a in node.args)
        return f"<mrow>{name}{self.APPLY}{self.paren(args)}</mrow>"


# --------------------------------------------------------------------------
# blocks


class HtmlRenderer:
    """Blocks to HTML, expressions through :class:`MathMLPrinter`."""

    def __init__(self, derivation: Derivation, options: Options, prefix: str = "") -> None:
        self.d = derivation
        self.hints = options.hints
        self.fragment = options.fragment
        #: what the ids of the steps start with: one page of several exercises keeps
        #: each exercise's apart
        self.prefix = prefix
        self.printer = MathMLPrinter(Settings.of(derivation, options.decimals))
        # the cells of the matrices that windows lie in, printed once (kept with
        # the matrix, so that its id cannot be reused meanwhile)
        self._grids: dict[int, tuple[Matrix, list[list[str]]]] = {}

    def math(self, node: Expr) -> str:
        return self.printer.doprint(node)

    def inline(self, parts: Iterable[str | Expr]) -> str:
        """Words and inline formulas."""
        return "".join(esc(p) if isinstance(p, str) else f"<math>{self.math(p)}</math>"
                       for p in parts)

    def inline_math(self, parts: Iterable[str | Expr]) -> str:
        """Words and formulas inside one formula: the words as ``<mtext>``, their
        spaces at either end kept (MathML drops them) as no-break spaces."""
        def words(p: str) -> str:
            core = p.strip(" ")
            if not core:
                return '<mspace width="0.3em"/>'
            lead, trail = len(p) - len(p.lstrip(" ")), len(p) - len(p.rstrip(" "))
            return f"<mtext>{NBSP * lead}{esc(core)}{NBSP * trail}</mtext>"

        return "".join(words(p) if isinstance(p, str) else self.math(p) for p in parts)

    def body(self, title: bool = True, level: int = 1) -> str:
        """The steps as sections (headings from ``level`` down), with the title when
        ``title``; a whole page also lists the steps, linked (a fragment does not:
        a notebook holds many, and the links' targets would repeat)."""
        out: list[str] = []
        if title:
            out.append(f"<h{level}>{esc(self.d.title)}</h{level}>\n")
        if self.d.shortened:
            out.append(note(prose.shortened(self.hints)))
        anchor = title and not self.fragment
        if anchor and len(self.d.steps) > 1:
            links = "".join(f'<li><a href="#{self.anchor(n)}">{esc(step.title)}</a></li>'
                            for n, step in self.d.numbered())
            out.append(f'<nav aria-label="Steps"><ul>{links}</ul></nav>\n')
        for number, step in self.d.numbered():
            out.append(self.step(number, step, level + 1, anchor=anchor))
        return "".join(out)

    def anchor(self, number: int) -> str:
        """The id of a step's section: ``step-3``; ``given`` for the unnumbered givens
        (after the prefix of its exercise, ``exercise-2-step-3``, on a page of several)."""
        return self.prefix + (f"step-{number}" if number else "given")

    def step(self, number: int, step: Step, level: int = 2, anchor: bool = True) -> str:
        heading = esc(prose.step_heading(number, step))
        where = f' id="{self.anchor(number)}"' if anchor else ""
        return (f"<section{where}>\n<h{level}>{heading}</h{level}>\n"
                + self.blocks(step.blocks) + "</section>\n")

    def blocks(self, blocks: Sequence[object]) -> str:
        """Blocks in order; a run of matrices stands side by side."""
        out: list[str] = []
        run: list[str] = []
        for block in blocks:
            printed: str = getattr(self, f"_print_{type(block).__name__}")(block)
            if isinstance(block, Matrix):
                run.append(printed)
                continue
            if run:
                out.append(self.side_by_side(run))
                run = []
            out.append(printed)
        if run:
            out.append(self.side_by_side(run))
        return "".join(out)

    @staticmethod
    def side_by_side(figures: list[str]) -> str:
        return '<div class="matrices">\n' + "".join(figures) + "</div>\n"

    def _print_Text(self, block: Text) -> str:
        return f"<p>{self.inline(block.parts)}</p>\n"

    def _print_Omitted(self, block: Omitted) -> str:
        return note(prose.omitted(block, self.hints))

    def _print_Elided(self, block: Elided) -> str:
        return note(prose.elided(block, self.hints))

    def _print_Table(self, block: Rows) -> str:
        heads = "".join(f"<th><math>{self.math(head)}</math></th>" for head in block.columns)
        rows = "".join(
            f"<tr><th>{esc(label)}</th>" + "".join(
                f'<td class="n"><math>{self.printer.cell(v, block.approximate)}</math></td>'
                for v in row) + "</tr>\n"
            for label, row in zip(block.rows, block.values, strict=True))
        return (f'<table class="report">\n<thead><tr><th>{esc(block.corner)}</th>{heads}'
                f"</tr></thead>\n<tbody>\n{rows}</tbody>\n</table>\n")

    # matrices ----------------------------------------------------------
    def cells(self, block: Matrix) -> list[list[str]]:
        return [[self.printer.cell(v, block.approximate) for v in values_row]
                for values_row in block.values]

    @staticmethod
    def kind(block: Matrix, i: int, j: int) -> str:
        """The class of a cell: ``f p`` for padding, ``f`` for an inserted zero, none
        for an entry."""
        if not block.is_filler(i, j):
            return ""
        (rows, cols), (br, bc) = block.values.shape, block.border
        er, ec = block.border_after
        xr, xc = block.extra
        padding = i < br or i >= rows - er - xr or j < bc or j >= cols - ec - xc
        return ' class="f p"' if padding else ' class="f"'

    def _print_Matrix(self, block: Matrix) -> str:
        base = self.d.notation.index_base
        rows, cols = block.values.shape
        cells = self.cells(block)

        def label(axis: int, position: int) -> str:
            index = block.index_label(axis, position, base)
            return "<mtext>·</mtext>" if index == "·" else f"<mn>{index}</mn>"

        lines = ["<mtr><mtd></mtd>" + "".join(f"<mtd>{label(1, j)}</mtd>" for j in range(cols))
                 + "</mtr>"]
        for i in range(rows):
            lines.append(f"<mtr><mtd>{label(0, i)}</mtd>" + "".join(
                f"<mtd{self.kind(block, i, j)}>{cells[i][j]}</mtd>" for j in range(cols))
                + "</mtr>")
        table = '<mtable class="m" columnalign="right">\n' + "\n".join(lines) + "\n</mtable>"
        legend = []
        if block.bordered:
            zeros = all(isinstance(value, Fraction) for value in block.values.flat)
            legend.append("shaded: the zero padding" if zeros else "shaded: the padding")
        if block.step != (1, 1):
            legend.append("grey: the zeros inserted for the stride")
        caption = f"<figcaption>{esc('; '.join(legend))}</figcaption>\n" if legend else ""
        return (f'<figure>\n<math display="block"><mrow>{self.inline_math(block.label)}'
                f"<mo>=</mo>{table}</mrow></math>\n{caption}</figure>\n")

    # equations ---------------------------------------------------------
    def equation_rows(self, block: Equation) -> list[str]:
        """``<mtr>`` rows of one aligned equation: the left side, then each form."""
        lhs = self.math(block.lhs)
        rows: list[list[str]] = []
        for k, (sign, terms) in enumerate(self.printer.forms(block)):
            pieces = fill(terms)
            rows.append([lhs if k == 0 else "", sign + pieces[0]])
            rows += [["", '<mspace width="2em"/>' + piece] for piece in pieces[1:]]
        if not rows:
            rows.append([lhs, ""])
        if block.note:
            rows[-1][1] += '<mspace width="2em"/>' + self.inline_math(block.note)
        return [f"<mtr><mtd>{left}</mtd><mtd>{right}</mtd></mtr>" for left, right in rows]

    def _print_Equation(self, block: Equation) -> str:
        rows = "\n".join(self.equation_rows(block))
        out = ['<div class="equation">\n<math display="block">'
               f'<mtable class="eq" columnalign="right left" displaystyle="true">\n{rows}\n'
               "</mtable></math>\n"]
        if block.window is not None and block.window_of:
            out.append(self.window(block))
        return "".join(out) + "</div>\n"

    def window(self, block: Equation) -> str:
        """The matrices the window lies in, small, the window's cells picked out; for a
        large input, the window's rows and columns in words."""
        window, grids = block.window, block.window_of
        assert window is not None
        first = grids[0]
        if max(first.values.shape) > WINDOW_GRID_LIMIT:
            base = self.d.notation.index_base
            rows, cols = window.rows, window.columns
            where = "padded input" if first.bordered else "input"
            return (f'<p class="window">window: rows {rows[0] + base}–{rows[-1] + base}, '
                    f"columns {cols[0] + base}–{cols[-1] + base} of the {where}</p>\n")
        out = ['<div class="window" role="img" aria-label="the window in the input">\n']
        for grid in grids:
            kept = self._grids.get(id(grid))
            if kept is None:
                kept = self._grids[id(grid)] = (grid, self.cells(grid))
            cells = kept[1]
            lines = []
            for i, values_row in enumerate(cells):
                lines.append("<mtr>" + "".join(
                    f'<mtd class="in">{cell}</mtd>' if (i, j) in window
                    else f"<mtd{self.kind(grid, i, j)}>{cell}</mtd>"
                    for j, cell in enumerate(values_row)) + "</mtr>")
            out.append(f'<div><div class="label">{self.inline(grid.label)}</div>'
                       '<math><mtable class="w">' + "".join(lines) + "</mtable></math></div>\n")
        return "".join(out) + "</div>\n"


# --------------------------------------------------------------------------
# the format


def marked(entry: tuple[str | None, str | None]) -> str:
    """One answer of a student: as given, or crossed with the value expected."""
    given, expected = (None if text is None else esc(text).replace("-", "−")
                       for text in entry)
    if given is None:
        return f'<td class="n">{prose.UNANSWERED}</td>'
    if expected is None:
        return f'<td class="n">{given}</td>'
    return (f'<td class="n wrong">✗ {given} '
            f'<span class="expected">(expected {expected})</span></td>')


class Html(Renderer):
    name = "html"

    def derivation(self, derivation: Derivation, options: Options) -> str:
        return document(derivation.title, HtmlRenderer(derivation, options).body(),
                        options.fragment)

    def exercises(self, exercises: Exercises, options: Options) -> str:
        """One page: the set's title, then each exercise a section of its own, its
        steps' ids prefixed with its number."""
        out = [f"<h1>{esc(exercises.title)}</h1>\n"]
        out += [f"<p><strong>{esc(line)}</strong></p>\n" for line in exercises.intro]
        for number, derivation in enumerate(exercises.exercises, start=1):
            where = f"exercise-{number}"
            out.append(f'<section id="{where}">\n'
                       + HtmlRenderer(derivation, options, f"{where}-").body(level=2)
                       + "</section>\n")
        return document(exercises.title, "".join(out), options.fragment)

    def report(self, report: Report, title: str, working: Derivation | None,
               options: Options) -> str:
        # the departures carry the problem's notation: the symbols are printed with it
        shown = HtmlRenderer(report.departures, options)

        def symbol(key: str) -> str:
            return f"<math>{shown.math(report.symbol(key))}</math>"

        rows = "\n".join(
            row("td", [f"<code>{esc(key)}</code>", symbol(key),
                       f'<span class="{"right" if mark == "✓" else "wrong"}">{mark}</span>',
                       esc(right), esc(points), esc(diagnosis)])
            for key, _, mark, right, points, diagnosis in prose.summary_rows(report))
        verdict = f" — {prose.ALL_CORRECT}." if report.correct else ""
        out = [f"<h1>{esc(title)}</h1>\n",
               f'<table class="report">\n<thead>{row("th", prose.SUMMARY_HEADER)}</thead>\n'
               f"<tbody>\n{rows}\n</tbody>\n</table>\n",
               f"<p><strong>{esc(prose.score(report) + verdict)}</strong></p>\n"]
        for q in prose.wrong(report):
            out.append(f"<section>\n<h2><code>{esc(q.key)}</code> {symbol(q.key)}: "
                       f"{prose.wrong_count(q)}</h2>\n")
            for label, grid in prose.slices(prose.marked_entries(q, report)):
                if label:
                    out.append(f"<p>{esc(q.key + label)}</p>\n")
                body = "\n".join("<tr>" + "".join(map(marked, cells)) + "</tr>"
                                  for cells in grid)
                out.append(f'<table class="report">\n{body}\n</table>\n')
            if q.diagnosis:
                out.append(f'<p class="diagnosis"><strong>'
                           f"{esc(prose.diagnosis_label(q.diagnosis))}</strong> "
                           f"{esc(q.diagnosis.message)}</p>\n")
            departure = prose.departure(report, q)
            if departure is not None:
                out.append(f"<h3>{esc(departure.title)}</h3>\n" + shown.blocks(departure.blocks))
            out.append("</section>\n")
        if working is not None:
            out.append(f"<section>\n<h2>{esc(prose.WORKING)}</h2>\n"
                       + HtmlRenderer(working, options).body(title=False, level=2)
                       + "</section>\n")
        return document(title, "".join(out), options.fragment)

    def batch(self, outcomes: Sequence[Outcome], options: Options | None = None) -> str:
        rows = "\n".join(row("td", map(esc, cells)) for cells in prose.batch_rows(outcomes))
        body = (f'<table class="report">\n<thead>{row("th", prose.BATCH_HEADER)}</thead>\n'
                f"<tbody>\n{rows}\n</tbody>\n</table>\n<p>{esc(prose.tally(outcomes))}</p>\n")
        return document("Marked answers", body)


RENDERER = Html()
