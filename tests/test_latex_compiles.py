"""The LaTeX output compiles with a real pdflatex, without lines running off the page.

No box may be overfull, by any amount, in a sample's standalone document or in
its fragment pasted into a plain article (narrower text, no \\sloppy); the
text of the PDF must not hold ¿ or ¡, which is what < and > become when set
as text in the default font.

Without pdflatex on PATH these tests are skipped with the reason shown; when the
environment variable CI is set they fail instead, since CI installs TeX Live.

Each document is written and compiled when a test first asks for it, once per
test process: the test workers share the documents out between them, and a
failure names its sample. Where only the log is checked, pdflatex runs with
-draftmode (it typesets every page, and writes no PDF).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
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


def check_glyphs(pdf: Path, name: str) -> None:
    """No ¿ or ¡ in the PDF: a > or < set as text in the default font."""
    text = pdf_text(pdf)
    if text is None:
        return
    wrong = sorted({line for line in text.splitlines() if "¿" in line or "¡" in line})
    assert not wrong, f"{name}: < or > printed as ¡ or ¿: {wrong[:3]}"


class Builds:
    """The documents of this module, each compiled when a test first asks for it."""

    def __init__(self, pdflatex: str, directory: Path) -> None:
        self.pdflatex, self.directory = pdflatex, directory
        self.sources: dict[str, tuple[Callable[[], str], str, bool]] = {}
        self.logs: dict[str, str] = {}
        #: what each document's ``make`` gave (the fragment itself, for a fragment)
        self.made: dict[str, str] = {}

    def add(self, key: str, make: Callable[[], str], wrapper: str = "%s",
            pdf: bool = True) -> None:
        """The document ``wrapper % make()``, compiled as ``KEY/doc.tex`` when asked
        for; without ``pdf``, only its log is checked (-draftmode)."""
        self.sources[key] = (make, wrapper, pdf)

    def log(self, key: str) -> str:
        """The log of that compile (a failure of ``make`` or pdflatex fails the test)."""
        if key not in self.logs:
            make, wrapper, pdf = self.sources[key]
            self.made[key] = made = make()
            self.logs[key] = compile_tex(self.pdflatex, wrapper % made, self.directory / key,
                                         pdf=pdf)
        return self.logs[key]

    def pdf(self, key: str) -> Path:
        assert self.sources[key][2], f"{key} is compiled without a PDF"
        self.log(key)
        return self.directory / key / "doc.pdf"


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


@pytest.fixture(scope="module")
def builds(pdflatex: str, tmp_path_factory: pytest.TempPathFactory) -> Builds:
    """Every document the tests below compile."""
    jobs = Builds(pdflatex, tmp_path_factory.mktemp("latex"))
    for sample in SAMPLES:
        jobs.add(f"document-{sample.stem}", lambda s=sample: rendered(s, "latex"))
        jobs.add(f"fragment-{sample.stem}",
                 lambda s=sample: rendered(s, "latex", fragment=True), WRAPPER)
    for problem in GENERATED:
        jobs.add(f"generated-{problem.__name__}",
                 lambda p=problem: cnnstep.solve(p()).to_latex(), pdf=False)
        jobs.add(f"generated-{problem.__name__}-decimals",
                 lambda p=problem: cnnstep.solve(p()).to_latex(decimals=3), pdf=False)
    jobs.add("wide-fragment", lambda: cnnstep.solve(_wide_problem()).to_latex(fragment=True),
             WRAPPER, pdf=False)
    for name, names in NOTATIONS.items():
        jobs.add(f"notation-{name}", lambda n=names: cnnstep.solve(
            _with_notation(n)).to_latex())
    jobs.add("markdown-math", _markdown_math, pdf=False)
    return jobs


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_document_compiles(builds: Builds, sample: Path) -> None:
    key = f"document-{sample.stem}"
    check_overfull(builds.log(key), sample.name)
    check_glyphs(builds.pdf(key), sample.name)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_fragment_compiles_in_a_minimal_document(builds: Builds, sample: Path) -> None:
    """Pasted into a plain article (default margins, no \\sloppy), no line runs
    into the margin."""
    key = f"fragment-{sample.stem}"
    log = builds.log(key)
    fragment = builds.made[key]
    assert "\\documentclass" not in fragment and "\\begin{document}" not in fragment
    check_overfull(log, sample.name + " (fragment, default article margins)")
    check_glyphs(builds.pdf(key), sample.name + " (fragment)")


@pytest.mark.parametrize("problem", GENERATED, ids=lambda f: f.__name__)
def test_generated_problems_compile(builds: Builds, problem: Any) -> None:
    log = builds.log(f"generated-{problem.__name__}")
    check_overfull(log, problem.__name__)
    log = builds.log(f"generated-{problem.__name__}-decimals")
    check_overfull(log, problem.__name__ + " --decimals 3")


def test_wide_fragment_compiles_in_a_minimal_document(builds: Builds) -> None:
    """The fragment says it needs only amsmath, amssymb, graphicx and xcolor: a matrix
    with more than 10 columns must not need the full document's
    \\setcounter{MaxMatrixCols}, and its columns must fit the narrower text."""
    check_overfull(builds.log("wide-fragment"), "wide fragment")
    assert builds.made["wide-fragment"].startswith(
        "% cnnstep: needs \\usepackage{amsmath,amssymb,graphicx,xcolor}\n")


@pytest.mark.parametrize("name", list(NOTATIONS))
def test_custom_notation_compiles(builds: Builds, name: str) -> None:
    check_overfull(builds.log(f"notation-{name}"), name)
    check_glyphs(builds.pdf(f"notation-{name}"), name)


def test_markdown_math_is_latex(builds: Builds) -> None:
    """The Markdown's math compiles as LaTeX math, with amsmath and xcolor only."""
    builds.log("markdown-math")


def test_pdf_uses_no_bitmap_fonts(builds: Builds) -> None:
    """T1-encoded text without an outline font package makes pdflatex fall back on
    METAFONT bitmaps (Type 3): blurry on screen and slow to build on a fresh machine."""
    pdffonts = shutil.which("pdffonts")
    if pdffonts is None:
        pytest.skip("pdffonts (poppler-utils) not found")
    # seed 000's document, built for test_document_compiles
    fonts = subprocess.run([pdffonts, str(builds.pdf("document-seed000-filter-update"))],
                           capture_output=True, text=True, timeout=TIMEOUT, check=True).stdout
    bitmap = [line for line in fonts.splitlines() if "Type 3" in line]
    assert not bitmap, f"{len(bitmap)} Type 3 (bitmap) font(s) in the PDF:\n{fonts}"
