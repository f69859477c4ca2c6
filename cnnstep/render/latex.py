"""The worked solution as LaTeX: a standalone document, or its body alone.

Equations are ``align*`` environments, aligned on the equals sign, with long
sums broken over lines; matrices are ``bmatrix``. The document compiles with
pdflatex using only amsmath, amssymb and graphicx.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

from cnnstep.derivation import Derivation, Equation, Expr, Matrix, Omitted, Step, Text
from cnnstep.render.expr import LatexPrinter, Settings, latex_escape

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


class LatexRenderer:
    """Blocks to LaTeX source; expressions through :class:`LatexPrinter`."""

    def __init__(self, derivation: Derivation, decimals: int | None = None) -> None:
        self.d = derivation
        self.printer = LatexPrinter(Settings.of(derivation, decimals))

    def math(self, node: Expr) -> str:
        return self.printer.doprint(node)

    def inline(self, parts: Iterable[str | Expr]) -> str:
        return "".join(latex_escape(p) if isinstance(p, str) else f"${self.math(p)}$"
                       for p in parts)

    def document(self) -> str:
        return PREAMBLE + self.body() + "\\end{document}\n"

    def body(self, title: bool = True) -> str:
        out = [f"\\section*{{{latex_escape(self.d.title)}}}\n"] if title else []
        widest = max((b.values.shape[1] for s in self.d.steps for b in s.blocks
                      if isinstance(b, Matrix)), default=0)
        if widest > 10:  # bmatrix allows 10 columns unless told otherwise
            out.insert(0, f"\\setcounter{{MaxMatrixCols}}{{{widest}}}\n")
        if self.d.shortened:
            out.append(
                r"\emph{" + latex_escape("This derivation is long: each step works out its "
                                         "first entries and says what it left out (")
                + self.code("--max-terms 0") + " prints everything).}\n")
        for number, step in enumerate(self.d.steps, start=1):
            out.append(self.step(number, step))
        return "\n".join(out)

    def step(self, number: int, step: Step) -> str:
        parts = [f"\\subsection*{{Step {number}: {latex_escape(step.title)}}}\n"]
        for block in step.blocks:
            parts.append(getattr(self, f"_print_{type(block).__name__}")(block))
        return "\n".join(parts)

    def _print_Text(self, block: Text) -> str:
        return self.inline(block.parts) + "\n"

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

    def code(self, text: str) -> str:
        return r"\texttt{" + latex_escape(text).replace("-", "-{}") + "}"

    def _print_Omitted(self, block: Omitted) -> str:
        return (
            r"\emph{" + latex_escape(f"… {block.count} more {block.what} are worked out the "
                                     "same way; see one with ")
            + self.code(f"--only {block.example}") + ", or all with "
            + self.code("--max-terms 0") + ".}\n"
        )


def render(derivation: Derivation, *, fragment: bool = False, decimals: int | None = None) -> str:
    """LaTeX source: a whole document, or with ``fragment`` the body to paste."""
    renderer = LatexRenderer(derivation, decimals)
    if fragment:
        return ("% cnnstep: needs \\usepackage{amsmath,amssymb,graphicx}\n"
                + renderer.body())
    return renderer.document()
