"""The worked solution as Markdown: tables for matrices, ``$…$``/``$$…$$`` math.

The math is the LaTeX printer's, in ``aligned`` blocks, which GitHub and
Jupyter both render.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from cnnstep.derivation import Derivation, Equation, Expr, Matrix, Omitted, Step, Text
from cnnstep.render.latex import LatexRenderer

_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def _cell(text: str) -> str:
    """A table cell: a plain number as it is, anything else (symbols, fractions,
    approximations) as inline math."""
    if not _PLAIN_NUMBER.fullmatch(text):
        text = f"${text}$"
    return text.replace("|", r"\|")


class MarkdownRenderer(LatexRenderer):
    """Markdown blocks around the LaTeX renderer's math."""

    def inline(self, parts: Iterable[str | Expr]) -> str:
        return "".join(_cell(p).replace("*", r"\*") if isinstance(p, str)
                       else f"${self.math(p)}$" for p in parts)

    def document(self, title: bool = True) -> str:
        out = [f"# {self.d.title}\n"] if title else []
        if self.d.shortened:
            out.append("*This derivation is long: each step works out its first entries and "
                       "says what it left out (`--max-terms 0` prints everything).*\n")
        for number, step in enumerate(self.d.steps, start=1):
            out.append(self.step(number, step))
        return "\n".join(out)

    def step(self, number: int, step: Step) -> str:
        parts = [f"## Step {number}: {step.title}\n"]
        for block in step.blocks:
            parts.append(getattr(self, f"_print_{type(block).__name__}")(block))
        return "\n".join(parts)

    def _print_Text(self, block: Text) -> str:
        return self.inline(block.parts) + "\n"

    def _print_Matrix(self, block: Matrix) -> str:
        base = self.d.notation.index_base
        rows, cols = block.values.shape


        lines = [f"{self.inline(block.label)}\n",
                 "| | " + " | ".join(block.index_label(1, j, base) for j in range(cols)) + " |",
                 "|---:|" + "---:|" * cols]
        for i in range(rows):
            cells = (_cell(self.printer.cell(v, block.approximate)) for v in block.values[i])
            lines.append(f"| {block.index_label(0, i, base)} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def _print_Equation(self, block: Equation) -> str:
        body = " \\\\\n".join(self.equation_lines(block))
        return f"$$\n\\begin{{aligned}}\n{body}\n\\end{{aligned}}\n$$\n"

    def _print_Omitted(self, block: Omitted) -> str:
        return (f"*… {block.count} more {block.what} are worked out the same way; see one "
                f"with `--only {block.example}`, or all with `--max-terms 0`.*\n")


def render(derivation: Derivation, *, decimals: int | None = None) -> str:
    """The derivation as one Markdown document."""
    return MarkdownRenderer(derivation, decimals).document()
