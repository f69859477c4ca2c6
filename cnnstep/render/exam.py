"""LaTeX for the standard ``exam`` document class: a question sheet and its key
in one source.

Each problem is a ``\\question`` worth the points of its parts, with its givens;
each asked quantity is a ``\\part`` with its points, followed by its working in
a ``solution`` environment. The exam class prints the solutions only under
``\\printanswers``: the preamble has that line commented out (the sheet) or, for
the key, in force. Everything else is the LaTeX renderer's, with step headings
run into the text (sections do not belong inside a question) and lines broken
to the narrower measure of a part's framed solution.
"""

from __future__ import annotations

from collections.abc import Sequence

from cnnstep.derivation import Derivation, ExamQuestion
from cnnstep.numbers import display
from cnnstep.render import Options
from cnnstep.render.expr import latex_escape
from cnnstep.render.latex import PREAMBLE, LatexRenderer

#: the width lines are broken to, in ems: the 500 pt of the standalone document's
#: text, less the indentation of a question and a part and the frame of a solution
#: (about 80 pt), less a margin for the estimate of widths
EXAM_EMS = 34.0

#: the exam class sets a solution in a frame that it splits across pages with
#: ``\\vsplit``, then sets each piece with no depth below its last line; that
#: depth must count when the piece is measured, or the piece is taller than the
#: room on the page (a row of equations beside a window hangs far below its
#: centre line) and runs over the footer
SPLIT_DEPTH = "\\splitmaxdepth=0pt  % a solution's page fits its frame and the page\n"
#: the class's ``\\exam@put@frame`` splits a solution to the room left on the
#: page; when not even its first rows fit there, it ejects the page and sets all
#: the rest whole in one frame, however tall, over the footer (its copy of
#: ``framed`` lacks that package's later call to split again). The patch splits
#: that rest on the new page too; on a page already fresh (``\\pagetotal`` below
#: ``\\topskip``, the class's own test) a row taller than a page still goes whole,
#: where splitting again would only eject blank pages without end
SPLIT_REST = r"""\usepackage{etoolbox}
\makeatletter
% split also the rest of a solution that the class would set whole on the next page
\patchcmd{\exam@put@frame}{\exam@fb@resto@set\eject\exam@fb@adjheight}%
  {\exam@fb@resto@set\ifdim\pagetotal<\topskip\eject\exam@fb@adjheight
   \else\eject\exam@fb@adjheight\exam@put@frame\fi}{}{}
\makeatother
"""
#: the preamble's switch between the sheet and the key
PRINT_ANSWERS = "\\printanswers\n"
SHEET_SWITCH = "% \\printanswers  % uncomment for the key: every solution shown\n"


def run_in(level: int, text: str, opening: bool = False) -> str:
    """A heading inside a question: bold, on a line of its own; with ``opening``,
    the first words of a question, on the line of its number and points.

    A question is a list's ``\\item``, whose label waits in ``\\everypar`` for
    the first paragraph. That must start without a ``\\par`` of its own: after
    the previous question's ``parts`` (any list) LaTeX has redefined ``\\par``
    to empty ``\\everypar`` (so that the paragraph after a list is not
    indented), and that would drop this question's number and points, which
    then show at its first part.
    """
    lead = "" if opening else "\\par\\smallskip\\noindent"
    return f"{lead}\\textbf{{{latex_escape(text)}}}\\par\\nobreak\n"


class ExamRenderer(LatexRenderer):
    """The LaTeX renderer inside a question: run-in headings, a narrower measure;
    with ``opening``, the first heading opens the question (see :func:`run_in`)."""

    def __init__(self, derivation: Derivation, options: Options, opening: bool = False) -> None:
        super().__init__(derivation, options)
        self.width = EXAM_EMS
        self.opening = opening

    def heading(self, level: int, text: str) -> str:
        opening, self.opening = self.opening, False
        return run_in(level, text, opening)


def preamble(answers: bool) -> str:
    """The standalone document's preamble for the exam class, with ``\\printanswers``
    in force (``answers``) or commented out."""
    head = PREAMBLE.replace("{article}", "{exam}", 1).removesuffix("\\begin{document}\n")
    return (head + SPLIT_DEPTH + SPLIT_REST + (PRINT_ANSWERS if answers else SHEET_SWITCH)
            + "\\begin{document}\n")


def question(item: ExamQuestion, options: Options) -> str:
    """One problem: ``\\question[points]``, its givens, its parts with their solutions."""
    out = [f"% {item.name}", f"\\question[{display(item.points)}]",
           ExamRenderer(item.givens, options, opening=True).body(title=False), "\\begin{parts}"]
    for part in item.parts:
        shown = ExamRenderer(part.working, options)
        out += [f"\\part[{display(part.points)}] " + shown.inline(("Find ", part.asks, ".")),
                "\\begin{solution}", shown.body(title=False).rstrip("\n"), "\\end{solution}"]
    out.append("\\end{parts}")
    return "\n".join(out) + "\n"


def exam(questions: Sequence[ExamQuestion], *, answers: bool = False,
         options: Options | None = None) -> str:
    """The whole document: every problem a question."""
    options = options or Options()
    body = "".join(question(item, options) for item in questions)
    return preamble(answers) + "\\begin{questions}\n" + body + "\\end{questions}\n\\end{document}\n"
