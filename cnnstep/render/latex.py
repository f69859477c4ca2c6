"""LaTeX: a standalone document, or its body alone.

Equations are ``align*`` environments, aligned on the equals sign, with long
sums broken over lines; matrices are ``bmatrix``. The document compiles with
pdflatex using only amsmath, amssymb and graphicx. A marked hand calculation
is a table of its quantities, the wrong entries listed, and the working of
them; a batch is one table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING

from cnnstep.derivation import Derivation, Equation, Expr, Matrix, Omitted, Step, Text
from cnnstep.numbers import display
from cnnstep.render import Options, Outcome, Renderer, prose
from cnnstep.render.expr import LatexPrinter, Settings, latex_escape

if TYPE_CHECKING:
    from cnnstep.check import Report

#: visible characters of math on one line of an aligned equation
LINE_WIDTH = 64

PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage{amsmath,amssymb}
\usepackage{graphicx}
\usepackage[margin=2cm]{geometry}
\allowdisplaybreaks
\sloppy
\begin{document}
"""
#: what a fragment needs of the document it is pasted into
FRAGMENT_NEEDS = "% cnnstep: needs \\usepackage{amsmath,amssymb,graphicx}\n"


def visible_length(math: str) -> int:
    """About how wide a piece of math prints, in characters.

    A command such as ``\\partial`` prints as one sign and braces not at all;
    counting, not parsing, keeps this fast on millions of terms.
    """
    return len(math) - 6 * math.count("\\") - 2 * math.count("{")


def fill(pieces: list[str], width: int = LINE_WIDTH) -> list[str]:
    """Terms of a sum joined by ``+`` into lines of about ``width`` visible characters."""
    lines: list[str] = []
    line, used = pieces[0], visible_length(pieces[0])
    for piece in pieces[1:]:
        size = visible_length(piece)
        if used + size > width:
            lines.append(line + " +")
            line, used = piece, size
        else:
            line, used = line + " + " + piece, used + size + 3
    lines.append(line)
    return lines


def document(body: str, fragment: bool = False) -> str:
    """A standalone document around ``body``; with ``fragment`` the body alone."""
    if fragment:
        return FRAGMENT_NEEDS + body
    return PREAMBLE + body + "\\end{document}\n"


def heading(level: int, text: str) -> str:
    return f"\\{'sub' * (level - 1)}section*{{{latex_escape(text)}}}\n"


def code(text: str) -> str:
    return r"\texttt{" + latex_escape(text).replace("-", "-{}") + "}"


def note(words: Sequence[str]) -> str:
    """A remark set apart in italics; :class:`~cnnstep.render.prose.Code` words as code."""
    return (r"\emph{" + "".join(code(w) if isinstance(w, prose.Code) else latex_escape(w)
                                for w in words) + "}\n")


def tabular(header: Sequence[str], rows: Iterable[Sequence[str]], *, framed: bool) -> str:
    """A table of cells already in LaTeX, a rule under the header (and with
    ``framed`` above and below the table)."""
    def row(cells: Sequence[str]) -> str:
        return " & ".join(cells) + " \\\\"

    frame = ["\\hline"] if framed else []
    lines = [f"\\begin{{tabular}}{{{'l' * len(header)}}}", *frame, row(header), "\\hline",
             *map(row, rows), *frame, "\\end{tabular}"]
    return "\n".join(lines)


class LatexRenderer:
    """Blocks to LaTeX source; expressions through :class:`LatexPrinter`."""

    heading = staticmethod(heading)
    note = staticmethod(note)

    def __init__(self, derivation: Derivation, options: Options) -> None:
        self.d = derivation
        self.hints = options.hints
        self.printer = LatexPrinter(Settings.of(derivation, options.decimals))

    def math(self, node: Expr) -> str:
        return self.printer.doprint(node)

    def inline(self, parts: Iterable[str | Expr]) -> str:
        return "".join(latex_escape(p) if isinstance(p, str) else f"${self.math(p)}$"
                       for p in parts)

    def setup(self) -> list[str]:
        """What the body needs set before it starts."""
        widest = max((b.values.shape[1] for s in self.d.steps for b in s.blocks
                      if isinstance(b, Matrix)), default=0)
        if widest > 10:  # bmatrix allows 10 columns unless told otherwise
            return [f"\\setcounter{{MaxMatrixCols}}{{{widest}}}\n"]
        return []

    def body(self, title: bool = True) -> str:
        out = self.setup()
        if title:
            out.append(self.heading(1, self.d.title))
        if self.d.shortened:
            out.append(self.note(prose.shortened(self.hints)))
        for number, step in self.d.numbered():
            out.append(self.step(number, step))
        return "\n".join(out)

    def step(self, number: int, step: Step) -> str:
        parts = [self.heading(2, prose.step_heading(number, step))]
        for block in step.blocks:
            parts.append(getattr(self, f"_print_{type(block).__name__}")(block))
        return "\n".join(parts)

    def _print_Text(self, block: Text) -> str:
        return self.inline(block.parts) + "\n"

    def _print_Omitted(self, block: Omitted) -> str:
        return self.note(prose.omitted(block, self.hints))

    def cell(self, value: Fraction | Expr, approximate: bool = False) -> str:
        return self.printer.cell(value, approximate)

    def _print_Matrix(self, block: Matrix) -> str:
        rows = [" & ".join(self.cell(v, block.approximate) for v in row)
                for row in block.values]
        matrix = "\\begin{bmatrix}\n" + " \\\\\n".join(rows) + "\n\\end{bmatrix}"
        label = self.inline_math(block.label)
        widths = [max(visible_length(self.cell(v, block.approximate)) for v in column) + 2
                  for column in block.values.T]
        if sum(widths) + visible_length(label) > LINE_WIDTH + 16:
            return (f"\\[\n\\resizebox{{\\linewidth}}{{!}}{{$\\displaystyle {label} = "
                    f"{matrix}$}}\n\\]\n")
        return f"\\[\n{label} = {matrix}\n\\]\n"

    def inline_math(self, parts: Iterable[str | Expr]) -> str:
        """A label mixing words and math, inside math mode."""
        return "".join(
            (r"\text{" + latex_escape(p) + "}" if p.strip() else p)
            if isinstance(p, str) else self.math(p) for p in parts
        )

    def equation_lines(self, block: Equation) -> list[str]:
        """``lhs &= …`` lines of one aligned equation."""
        lines: list[str] = []
        lhs = self.math(block.lhs)
        forms, relation = self.printer.forms(block)
        for k, terms in enumerate(forms):
            pieces = fill(terms)
            sign = "=" if k < len(forms) - 1 else relation
            lines.append(f"{lhs if k == 0 else ''} &{sign} {pieces[0]}")
            lines += [f"&\\quad {piece}" for piece in pieces[1:]]
        if block.note:
            lines[-1] += r"\qquad " + self.inline_math(block.note)
        return lines

    def _print_Equation(self, block: Equation) -> str:
        lines = " \\\\\n".join(self.equation_lines(block))
        return "\\begin{align*}\n" + lines + "\n\\end{align*}\n"


def _words(value: str) -> str:
    """Report text in LaTeX, the marks spelled out."""
    return latex_escape(value.replace("✓", "yes").replace("✗", "no").replace("—", "--"))


class Latex(Renderer):
    name = "latex"

    def derivation(self, derivation: Derivation, options: Options) -> str:
        return document(LatexRenderer(derivation, options).body(), options.fragment)

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
