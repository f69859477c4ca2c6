"""The LaTeX output compiles with a real pdflatex, without lines running off the page.

No box may be overfull, by any amount, in a sample's standalone document or in
its fragment pasted into a plain article (narrower text, no \\sloppy); the
text of the PDF must not hold ¿ or ¡, which is what < and > become when set
as text in the default font.

Without pdflatex on PATH these tests are skipped with the reason shown; when the
environment variable CI is set they fail instead, since CI installs TeX Live.

Each pdflatex run costs a tenth of a second or more before it typesets a
line, so the documents that share a preamble are compiled together, each on
pages of its own: one run for the standalone documents, one for the fragments.
A failure still names its document: the log and the PDF's pages are split at
each document's marks, and when pdflatex stops on an error each document is
compiled alone to find the one that breaks.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import rendered

import cnnstep

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "cnnstep" / "samples").glob("*.json"))
TIMEOUT = 60

WRAPPER = (
    "\\documentclass{article}\n"
    "\\usepackage{amsmath,amssymb,graphicx,xcolor}\n"
    "\\begin{document}\n"
    "%s\n"
    "\\end{document}\n"
)


def compile_tex(pdflatex: str, source: str, directory: Path, name: str = "doc",
                pdf: bool = True) -> str:
    """Run pdflatex once on ``source``; give the log. Fails the test on an error.
    Without ``pdf``, the pages are typeset (and the log written) but no PDF."""
    directory.mkdir(parents=True, exist_ok=True)
    tex = directory / f"{name}.tex"
    tex.write_text(source, encoding="utf-8")
    try:
        run = subprocess.run(
            [pdflatex, *([] if pdf else ["-draftmode"]), "-interaction=nonstopmode",
             "-halt-on-error", tex.name],
            cwd=directory, capture_output=True, timeout=TIMEOUT, check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"pdflatex took more than {TIMEOUT} s on {name}.tex")
    log_path = directory / f"{name}.log"
    log = log_path.read_text(encoding="latin-1") if log_path.exists() else ""
    if run.returncode != 0 or (pdf and not (directory / f"{name}.pdf").exists()):
        errors = [line for line in log.splitlines() if line.startswith("!")]
        context = "\n".join(log.splitlines()[-25:])
        pytest.fail(f"pdflatex failed on {name}.tex (exit {run.returncode}): {errors[:3]}\n"
                    f"{context}", pytrace=False)
    return log


_OVERFULL = re.compile(r"Overfull \\([hv])box \(([\d.]+)pt too (?:wide|high)\)")


def overfull(log: str) -> list[str]:
    """How boxes overflow: ``hbox 3.2pt`` (a line into the margin) or ``vbox
    6.7pt`` (a page, or a piece of a framed solution, over the bottom margin)."""
    return [f"{kind}box {float(pt):.1f}pt"
            for kind, pt in _OVERFULL.findall(log)]


def check_overfull(log: str, name: str) -> None:
    """Fail on any overfull box: a line running into the margin, or a page
    running over its foot."""
    boxes = overfull(log)
    assert not boxes, f"{name}: {len(boxes)} overfull box(es): {', '.join(boxes[:5])}"


def pdf_text(pdf: Path) -> str | None:
    """The text of a PDF, by pdftotext (None without it)."""
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        return None
    return subprocess.run([pdftotext, "-enc", "UTF-8", str(pdf), "-"], capture_output=True,
                          text=True, timeout=TIMEOUT, check=True).stdout


def check_glyphs(text: str | None, name: str) -> None:
    """No ¿ or ¡ in the text of a PDF (None: no pdftotext to read it): a > or < set
    as text in the default font."""
    if text is None:
        return
    wrong = sorted({line for line in text.splitlines() if "¿" in line or "¡" in line})
    assert not wrong, f"{name}: < or > printed as ¡ or ¿: {wrong[:3]}"


#: a font file pdfTeX embeds from METAFONT's bitmaps (``ecrm1000.600pk``), as its log
#: names it
_BITMAP = re.compile(r"([\w-]+\.[0-9]+pk)>")


def check_no_bitmap_fonts(log: str) -> None:
    """T1-encoded text without an outline font package makes pdflatex fall back on
    METAFONT bitmaps (Type 3 in the PDF): blurry on screen and slow to build on a
    fresh machine. pdfTeX names every font file it embeds at the end of its log, an
    outline font by its ``.pfb`` and a bitmap by its ``.pk``; the log breaks its
    lines at 79 characters, so they are joined first."""
    fonts = log.replace("\n", "")
    assert ".pfb>" in fonts, "the log lists no font file: not pdfTeX's log of a PDF"
    bitmap = sorted(set(_BITMAP.findall(fonts)))
    assert not bitmap, f"{len(bitmap)} bitmap (Type 3) font(s) in the PDF: {bitmap}"


#: the marks a batch writes in its log around each of its documents
_MARK = re.compile(r"^cnnstep-batch (\d+) (begins|ends) after page (\d+)$", re.M)

#: what a batch adds to its documents' preamble: before each document, LaTeX's
#: counters (but the page number, which runs on) and those its documents set are put
#: back as they were at \begin{document}, so that one document's
#: \setcounter{MaxMatrixCols} cannot help the next; everything else a document sets
#: is undone by the group it is set in
_RESET = r"""\makeatletter
\gdef\cnnbatchreset{}
\def\cnnbatch@save#1{\ifnum\pdfstrcmp{#1}{page}=0 \else
  \xdef\cnnbatchreset{\unexpanded\expandafter{\cnnbatchreset}%
    \noexpand\setcounter{#1}{\the\value{#1}}}\fi}
\AtBeginDocument{\begingroup\let\@elt\cnnbatch@save\cl@@ckpt<counters>\endgroup}
\makeatother
"""

#: the commands that set a counter, and those whose settings outlive a group
_COUNTER_SET = re.compile(r"\\(?:set|addto|step|refstep)counter\{([^}]+)\}")
_GLOBAL = re.compile(r"\\(?:global|gdef|xdef|globaldefs)(?![A-Za-z@])")


@dataclass(frozen=True)
class Compiled:
    """One document's share of a batch: its part of the log, the text of its pages
    (None without pdftotext), the batch's PDF and how many pages are the document's."""

    log: str
    text: str | None
    pdf: Path
    pages: int


def _split(source: str) -> tuple[str, str]:
    """A standalone document's preamble and body."""
    preamble, rest = source.split("\\begin{document}\n", 1)
    body, tail = rest.rsplit("\\end{document}", 1)
    assert not tail.strip(), tail
    return preamble, body


def _file_name(name: str) -> str:
    return re.sub(r"[^\w.-]+", "-", name).strip("-")


def _batch(pdflatex: str, sources: dict[str, str], directory: Path) -> dict[str, Compiled]:
    """Documents with one preamble compiled in one run, each on pages of its own,
    inside a group and with the counters as they were at \\begin{document}."""
    preambles = {_split(source)[0] for source in sources.values()}
    assert len(preambles) == 1, "a batch shares one preamble"
    bodies = [_split(source)[1] for source in sources.values()]
    counters = sorted({name for body in bodies for name in _COUNTER_SET.findall(body)})
    parts = [preambles.pop(), _RESET.replace(
        "<counters>", "".join(f"\\cnnbatch@save{{{c}}}" for c in counters)),
             "\\begin{document}\n"]
    for number, body in enumerate(bodies):
        mark = f"\\typeout{{cnnstep-batch {number} %s after page \\the\\ReadonlyShipoutCounter}}"
        parts += [mark % "begins", "\n\\begingroup\\cnnbatchreset\n", body,
                  "\n\\par\\endgroup\\clearpage\n", mark % "ends", "\n"]
    parts.append("\\end{document}\n")
    try:
        log = compile_tex(pdflatex, "".join(parts), directory)
    except pytest.fail.Exception:
        _name_the_culprit(pdflatex, sources, directory)
        raise
    pdf = directory / "doc.pdf"
    text = pdf_text(pdf)
    pages = None if text is None else text.split("\f")
    marks = list(_MARK.finditer(log))
    names = list(sources)
    assert [(int(m[1]), m[2]) for m in marks] == [
        (n, side) for n in range(len(names)) for side in ("begins", "ends")], "batch marks"
    ends = [0, *(end.end() for end in marks[1::2])]
    outside = "".join(log[end:begin.start()] for end, begin in zip(ends, marks[0::2], strict=False))
    check_overfull(outside + log[ends[-1]:], "between the documents of a batch")
    compiled = {}
    for name, begin, end in zip(names, marks[0::2], marks[1::2], strict=True):
        first, last = int(begin[3]), int(end[3])
        assert last > first, f"{name}: no page"
        compiled[name] = Compiled(log[begin.end():end.start()],
                                  None if pages is None else "\f".join(pages[first:last]), pdf,
                                  last - first)
    return compiled


def _name_the_culprit(pdflatex: str, sources: dict[str, str], directory: Path) -> None:
    """After a batch stopped on an error: compile each document alone (the first
    that fails fails the test with its own name and error)."""
    for name, source in sources.items():
        compile_tex(pdflatex, source, directory / "alone", _file_name(name), pdf=False)


def compile_batches(pdflatex: str, sources: dict[str, str], directory: Path
                    ) -> dict[str, Compiled]:
    """Standalone documents compiled a batch per preamble (alone, one that sets
    something globally); each document's share."""
    by_preamble: dict[tuple[str, str], dict[str, str]] = {}
    for name, source in sources.items():
        preamble, body = _split(source)
        # what a group cannot undo: such a document is compiled alone
        alone = name if _GLOBAL.search(body) else ""
        by_preamble.setdefault((preamble, alone), {})[name] = source
    compiled: dict[str, Compiled] = {}
    for number, batch in enumerate(by_preamble.values()):
        compiled |= _batch(pdflatex, batch, directory / f"batch{number}")
    return compiled


def _all_hold(checks: list[Callable[[], None]]) -> None:
    """Every check run; a failure names each one that does not hold."""
    failed = []
    for check in checks:
        try:
            check()
        except AssertionError as error:
            failed.append(str(error))
    assert not failed, f"{len(failed)} failed:\n" + "\n".join(failed)


def _wide_problem() -> dict[str, Any]:
    """A 3×12 input: the matrices have more than the 10 columns bmatrix allows by default."""
    return {"input": [[(i * j) % 5 - 2 for j in range(12)] for i in range(3)],
            "filter": [[1, "-1/3"]], "target": [[0] * 11] * 3, "learning_rate": "0.1"}


def _long_problem() -> dict[str, Any]:
    """Long enough to be shortened: the ellipses and the "more entries" notes."""
    return {"input": [[[(3 * i + 5 * j + c) % 7 - 3 for j in range(16)] for i in range(16)]
                      for c in range(2)],
            "filter": [[[[(m + n + c + f) % 3 - 1 for n in range(3)] for m in range(3)]
                        for c in range(2)] for f in range(3)],
            "bias": [0.5, "-1/3", 0], "padding": 1, "stride": 2,
            "target": [[[1] * 8] * 8] * 3, "learning_rate": "0.05"}


GENERATED = [_wide_problem, _long_problem]

NOTATIONS = {
    "ascii-specials": {"input": "x_in", "filter": "W^1", "output": "O&P", "loss": "100%",
                       "index_base": 0},
    "greek": {"input": "θ", "filter": "ω", "output": "σ"},
}


def _with_notation(names: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "cnnstep" / "samples" / "half-sse.json").read_text(
        encoding="utf-8"))
    data["notation"] = names
    return data


def _markdown_math() -> str:
    """Every math span of every sample's Markdown, in one document: what GitHub or
    Jupyter render, and what the Markdown becomes when converted to LaTeX."""
    from test_markdown_math import spans

    body = []
    for sample in SAMPLES:
        math, _ = spans(rendered(sample, "markdown"))
        body += [f"\\[{m}\\]" if display else f"${m}$" for m, display in math]
    return ("\\documentclass{article}\n\\usepackage{amsmath,amssymb,xcolor}\n"
            "\\begin{document}\n" + "\n\n".join(body) + "\n\\end{document}\n")




def _sample_documents() -> dict[str, str]:
    return {sample.name: rendered(sample, "latex") for sample in SAMPLES}


def _other_documents() -> dict[str, str]:
    """The documents of the custom notations and of the generated problems."""
    documents = {name: cnnstep.solve(_with_notation(names)).to_latex()
                 for name, names in NOTATIONS.items()}
    for problem in GENERATED:
        documents[problem.__name__] = cnnstep.solve(problem()).to_latex()
        documents[problem.__name__ + " --decimals 3"] = cnnstep.solve(problem()).to_latex(
            decimals=3)
    return documents


def test_documents_compile(pdflatex: str, tmp_path: Path) -> None:
    """Every sample's standalone document, the custom notations' and the generated
    problems': no overfull box, no < or > printed as ¡ or ¿, no bitmap font."""
    compiled = compile_batches(pdflatex, _sample_documents() | _other_documents(), tmp_path)
    _all_hold([check
               for name, done in compiled.items()
               for check in (lambda n=name, d=done: check_overfull(d.log, n),
                             lambda n=name, d=done: check_glyphs(d.text, n))])
    for pdf in sorted({done.pdf for done in compiled.values()}):
        check_no_bitmap_fonts(pdf.with_suffix(".log").read_text(encoding="latin-1"))


def _fragments() -> dict[str, str]:
    fragments = {sample.name: rendered(sample, "latex", fragment=True) for sample in SAMPLES}
    fragments["wide fragment"] = cnnstep.solve(_wide_problem()).to_latex(fragment=True)
    return fragments


def test_fragments_compile_in_a_minimal_document(pdflatex: str, tmp_path: Path) -> None:
    """Each sample's fragment pasted into a plain article (default margins, no
    \\sloppy): no line runs into the margin.

    The wide fragment says it needs only amsmath, amssymb, graphicx and xcolor: a
    matrix with more than 10 columns must not need the full document's
    \\setcounter{MaxMatrixCols}, and its columns must fit the narrower text."""
    fragments = _fragments()
    for fragment in fragments.values():
        assert "\\documentclass" not in fragment and "\\begin{document}" not in fragment
    assert fragments["wide fragment"].startswith(
        "% cnnstep: needs \\usepackage{amsmath,amssymb,graphicx,xcolor}\n")
    compiled = compile_batches(
        pdflatex, {name: WRAPPER % fragment for name, fragment in fragments.items()}, tmp_path)
    where = " (fragment, default article margins)"
    _all_hold([check
               for name, done in compiled.items()
               for check in (lambda n=name, d=done: check_overfull(d.log, n + where),
                             lambda n=name, d=done: check_glyphs(d.text, n + " (fragment)"))])


def test_the_bitmap_font_check_reads_pdftexs_font_list() -> None:
    """The font list at the end of a log, as pdfTeX writes it with T1 text and no
    outline fonts: lines broken at 79 characters, even inside a file's name."""
    outline = ("{/usr/share/texlive/texmf-dist/fonts/enc/dvips/cm-super/cm-super-t1.enc}"
               "</usr/share/texlive/texmf-dist/fonts/type1/public/amsfonts/cm/cmr10.pfb>")
    # a bitmap font's name broken across two lines of the log
    wrapped = (outline + "</var/lib/texmf/fonts/pk/ljfour/jknappen/ec/ecrm\n"
               "1000.600pk></var/lib/texmf/fonts/pk/ljfour/jknappen/ec/ecbx1200.600pk>")
    check_no_bitmap_fonts(outline)
    with pytest.raises(AssertionError, match=r"\['ecbx1200\.600pk', 'ecrm1000\.600pk'\]"):
        check_no_bitmap_fonts(wrapped + "\nOutput written on doc.pdf (1 page).\n")
    with pytest.raises(AssertionError, match="lists no font file"):
        check_no_bitmap_fonts("Output written on doc.pdf (1 page).\n")


def test_a_batch_keeps_its_documents_apart(pdflatex: str, tmp_path: Path) -> None:
    """A batch names the document that runs into the margin, and one document's
    \\setcounter{MaxMatrixCols} does not let the next have more than 10 columns."""
    wide = " & ".join("1" for _ in range(12))
    sources = {
        "narrow": WRAPPER % "text",
        "overfull": WRAPPER % "\\noindent\\rule{2\\textwidth}{1pt}\n\n> in text",
        "more columns": WRAPPER % ("\\setcounter{MaxMatrixCols}{12}\n"
                                   f"\\[\\begin{{bmatrix}}{wide}\\end{{bmatrix}}\\]"),
        "too many": WRAPPER % f"\\[\\begin{{bmatrix}}{wide}\\end{{bmatrix}}\\]",
    }
    with pytest.raises(pytest.fail.Exception, match=r"pdflatex failed on too-many\.tex"):
        compile_batches(pdflatex, sources, tmp_path / "with")
    del sources["too many"]
    compiled = compile_batches(pdflatex, sources, tmp_path / "without")
    assert overfull(compiled["narrow"].log) == [] == overfull(compiled["more columns"].log)
    assert overfull(compiled["overfull"].log) == ["hbox 345.0pt"]
    assert compiled["narrow"].text is None or compiled["narrow"].text.split() == ["text", "1"]
    assert compiled["overfull"].text is None or "¿" in compiled["overfull"].text


def test_markdown_math_is_latex(pdflatex: str, tmp_path: Path) -> None:
    """The Markdown's math compiles as LaTeX math, with amsmath and xcolor only."""
    compile_tex(pdflatex, _markdown_math(), tmp_path, pdf=False)
