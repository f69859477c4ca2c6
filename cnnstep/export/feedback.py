"""The worked derivation as HTML, for a question's general feedback.

The format registry is asked at run time: when it has an ``html`` format, that
renderer writes the feedback; otherwise the Markdown one does, and
:func:`markdown_html` turns its few constructs (headings, paragraphs, tables,
``$$…$$`` blocks and ``$…$`` math) into HTML. The math is left for the
platform's MathJax, with the ``\\(…\\)`` and ``\\[…\\]`` delimiters that Moodle,
Canvas and PrairieLearn all read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from html import escape

from cnnstep.api import Worked, WorkedVolume
from cnnstep.render import FORMATS, Options


def solution_html(worked: Worked | WorkedVolume, only: Iterable[str] = ()) -> str:
    """The worked derivation (of the entries ``only``, or of everything) as an
    HTML fragment."""
    if "html" in FORMATS:
        return body(worked.render("html", Options(fragment=True), only=only))
    return markdown_html(worked.render("markdown", Options(), only=only))


def body(html: str) -> str:
    """The inside of a document's ``<body>``, or the fragment as it is."""
    match = re.search(r"<body[^>]*>(.*)</body>", html, re.DOTALL | re.IGNORECASE)
    return (match.group(1) if match else html).strip()


# --------------------------------------------------------------------------
# the Markdown of the markdown renderer, as HTML

_HEADING = re.compile(r"(#{1,6})\s+(.*)")
# code spans, then math: their insides are kept as they are
_SPANS = re.compile(r"(`[^`]+`|(?<!\\)\$[^$]+?(?<!\\)\$)")


def _inline(text: str) -> str:
    """A line of Markdown text as HTML: code, math, bold and italics."""
    out = []
    for piece in _SPANS.split(text):
        if not piece:
            continue
        if piece.startswith("`") and piece.endswith("`") and len(piece) > 1:
            out.append(f"<code>{escape(piece[1:-1], quote=False)}</code>")
        elif piece.startswith("$") and piece.endswith("$") and len(piece) > 1:
            out.append(r"\(" + escape(piece[1:-1], quote=False) + r"\)")
        else:
            plain = escape(piece.replace(r"\*", "\0").replace(r"\|", "|"), quote=False)
            plain = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", plain)
            plain = re.sub(r"\*(.+?)\*", r"<em>\1</em>", plain)
            out.append(plain.replace("\0", "*"))
    return "".join(out)


def _cells(line: str) -> list[str]:
    """The cells of a table row ``| a | b |`` (``\\|`` stays in its cell)."""
    inner = line.strip()[1:]
    if inner.endswith("|") and not inner.endswith(r"\|"):
        inner = inner[:-1]
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", inner)]


def _table(lines: list[str]) -> str:
    header, rows = _cells(lines[0]), [_cells(line) for line in lines[2:]]
    head = "".join(f"<th>{_inline(cell)}</th>" for cell in header)
    cells = "".join("<tr>" + "".join(f"<td>{_inline(cell)}</td>" for cell in row) + "</tr>"
                    for row in rows)
    return (f'<table border="1" style="border-collapse: collapse;"><thead><tr>{head}</tr>'
            f"</thead><tbody>{cells}</tbody></table>")


def markdown_html(markdown: str) -> str:
    """The Markdown the markdown renderer writes, as an HTML fragment."""
    lines = markdown.splitlines()
    out: list[str] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            out.append("<p>" + "<br>".join(_inline(line) for line in paragraph) + "</p>")
            paragraph.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        heading = _HEADING.fullmatch(line)
        if line.strip() == "$$":
            flush()
            end = i + 1
            while end < len(lines) and lines[end].strip() != "$$":
                end += 1
            out.append(r"<div>\[" + escape("\n".join(lines[i + 1:end]), quote=False) + r"\]</div>")
            i = end + 1
            continue
        if heading:
            flush()
            level = min(len(heading.group(1)) + 2, 6)
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif line.startswith("|"):
            flush()
            end = i
            while end < len(lines) and lines[end].startswith("|"):
                end += 1
            out.append(_table(lines[i:end]))
            i = end
            continue
        elif not line.strip():
            flush()
        else:
            paragraph.append(line)
        i += 1
    flush()
    return "\n".join(out)
