"""A PDF from a LaTeX document, made by pdflatex in a temporary directory.

:func:`compile_pdf` writes the source into a fresh temporary directory, runs
``pdflatex`` there (again while the log asks for a rerun, at most
:data:`MAX_RUNS` times) and gives the PDF's bytes; the directory and everything
pdflatex wrote into it are removed afterwards, also when it fails. A missing
pdflatex, or a document that does not compile, is one :class:`PdfError` line:
the first error line of the log.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

#: how many times pdflatex may run on one document (a rerun settles references
#: and the exam class's point totals)
MAX_RUNS = 3
#: seconds one run of pdflatex may take
TIMEOUT = 120
#: what a log says when the document needs another run
RERUN = re.compile(r"Rerun to get|Rerun LaTeX|may have changed\. Rerun")
#: the TeX Live packages that hold what the documents use
NEEDS = ("texlive-latex-base texlive-latex-recommended, and texlive-latex-extra for the "
         "exam class")


class PdfError(ValueError):
    """No PDF could be made; the message says why, on one line."""


def pdflatex() -> str:
    """The path of pdflatex, found on PATH; a :class:`PdfError` if there is none."""
    found = shutil.which("pdflatex")
    if found is None:
        raise PdfError(f"pdflatex is not installed (not found on PATH); install TeX Live "
                       f"(on Debian: apt-get install {NEEDS})")
    return found


def first_error(log: str) -> str | None:
    """The first error line of a pdflatex log (``! Undefined control sequence.``),
    with the line of the source it points at."""
    lines = log.splitlines()
    for at, line in enumerate(lines):
        if line.startswith("!"):
            place = next((later.split(" ", 1)[0] for later in lines[at + 1:at + 12]
                          if re.match(r"l\.\d+", later)), None)
            return line + (f" (source line {place[2:]})" if place else "")
    return None


def compile_pdf(source: str, program: str | None = None) -> bytes:
    """The PDF of a LaTeX document; nothing is left behind on disk."""
    program = program or pdflatex()
    with tempfile.TemporaryDirectory(prefix="cnnstep-pdf-") as directory:
        where = Path(directory)
        (where / "document.tex").write_text(source, encoding="utf-8")
        for _ in range(MAX_RUNS):
            try:
                run = subprocess.run(
                    [program, "-interaction=nonstopmode", "-halt-on-error",
                     "-no-shell-escape", "document.tex"],
                    cwd=where, stdin=subprocess.DEVNULL, capture_output=True,
                    timeout=TIMEOUT, check=False)
            except subprocess.TimeoutExpired:
                raise PdfError(f"pdflatex took more than {TIMEOUT} s; no PDF was made") from None
            except OSError as error:
                raise PdfError(f"cannot run pdflatex: {error.strerror or error}") from None
            log_path = where / "document.log"
            log = log_path.read_text(encoding="latin-1") if log_path.exists() else ""
            pdf = where / "document.pdf"
            if run.returncode != 0 or not pdf.exists():
                why = first_error(log) or f"pdflatex stopped with exit status {run.returncode}"
                hint = f"; install {NEEDS}" if ".cls' not found" in why or (
                    ".sty' not found" in why) else ""
                raise PdfError(f"pdflatex could not compile the document: {why}{hint}")
            if not RERUN.search(log):
                break
        return pdf.read_bytes()
