"""Golden files: the exact output of every sample in every format.

The files in tests/golden/ are the product's output, reviewed by a person. A
change to any of them must be deliberate: regenerate with

    .venv/bin/python -m pytest tests/test_golden.py --update-golden

and read the diff before committing. Without the option a missing or
different golden file fails the test; it is never created silently.

Text is rendered at a fixed width of 100 columns with no colour, so the files
do not depend on the terminal that runs the tests.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import pytest
from helpers import invoke, rendered

from cnnstep.cli import HINTS

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "cnnstep" / "samples").glob("*.json"))
GOLDEN = Path(__file__).resolve().parent / "golden"
WIDTH = 100

#: format name → (file suffix, options of the sample's render, see helpers.rendered); with
#: the command line's hints, so that the files are also exactly what `cnnstep solve` prints
FORMATS: dict[str, tuple[str, dict[str, Any]]] = {
    "text": (".txt", {"width": WIDTH, "hints": HINTS}),
    "latex": (".tex", {"hints": HINTS}),
    "markdown": (".md", {"hints": HINTS}),
    "html": (".html", {"hints": HINTS}),
    "json": (".json", {}),
}


def volume(sample: Path) -> bool:
    """A 3-D layer, which the command line works out (not the Python derivation API)."""
    return '"dimensions": 3' in sample.read_text(encoding="utf-8")


#: every sample with every format
RENDERED = [(sample, fmt) for sample in SAMPLES for fmt in sorted(FORMATS)]


def golden_path(sample: Path, fmt: str) -> Path:
    return GOLDEN / (sample.stem + FORMATS[fmt][0])


def render(sample: Path, fmt: str) -> str:
    if volume(sample):  # what `cnnstep solve` prints, with the options above
        shapes = '"shape"' in sample.read_text(encoding="utf-8")  # formulas alone
        run = invoke("solve", sample, "--format", fmt, *(("--symbolic",) if shapes else ()),
                     *(("--width", str(WIDTH)) if fmt == "text" else ()))
        assert run.returncode == 0, run.stderr
        return run.stdout
    return rendered(sample, fmt, **FORMATS[fmt][1])


def _diff(expected: str, actual: str, name: str, limit: int = 60) -> str:
    lines = list(difflib.unified_diff(
        expected.splitlines(), actual.splitlines(),
        fromfile=f"golden/{name}", tofile="current output", lineterm="", n=2,
    ))
    if len(lines) > limit:
        lines = [*lines[:limit], f"... ({len(lines) - limit} more diff lines)"]
    return "\n".join(lines)


def check_golden(actual: str, path: Path, update: bool) -> None:
    """Compare ``actual`` with the golden file, or rewrite it under --update-golden."""
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8", newline="")
        return
    if not path.exists():
        pytest.fail(
            f"golden file {path.relative_to(ROOT)} is missing; create it deliberately with "
            "`pytest tests/test_golden.py --update-golden` and review it"
        )
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        pytest.fail(
            f"output differs from {path.relative_to(ROOT)} (if the change is intended, "
            f"rerun with --update-golden and review the diff):\n"
            + _diff(expected, actual, path.name),
            pytrace=False,
        )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


def test_samples_exist() -> None:
    assert len(SAMPLES) >= 5, f"expected the sample problems in {ROOT / 'cnnstep' / 'samples'}"


@pytest.mark.parametrize(("sample", "fmt"), RENDERED, ids=lambda v: getattr(v, "stem", v))
def test_golden(sample: Path, fmt: str, update_golden: bool) -> None:
    check_golden(render(sample, fmt), golden_path(sample, fmt), update_golden)


def test_no_stale_golden_files(update_golden: bool) -> None:
    """Every golden file belongs to a sample and a format (a renamed sample leaves none)."""
    expected = {golden_path(s, f).name for s, f in RENDERED}
    present = {p.name for p in GOLDEN.iterdir() if p.is_file() and p.suffix != ".py"} \
        if GOLDEN.is_dir() else set()
    stale = sorted(present - expected)
    if update_golden:
        for name in stale:
            (GOLDEN / name).unlink()
        return
    assert not stale, f"golden files without a sample or format: {stale}"


def test_golden_text_is_plain_and_fits_the_width() -> None:
    """The rendered text has no escape codes and no line wider than the width asked for."""
    for sample in (s for s, fmt in RENDERED if fmt == "text"):
        text = render(sample, "text")
        assert "\x1b" not in text, sample.name
        wide = [line for line in text.splitlines() if len(line) > WIDTH]
        assert not wide, (
            f"{sample.name}: {len(wide)} line(s) wider than --width {WIDTH}, e.g. "
            f"{len(wide[0])} columns: {wide[0]!r}"
        )


# --------------------------------------------------------------------------
# the command line prints exactly what the API renders (piped: no colour, and the
# environment cleaned of COLUMNS and the like, see helpers.invoke)


def _mode(sample: Path) -> list[str]:
    """A problem that gives shapes instead of numbers needs --symbolic on the command line."""
    data = json.loads(sample.read_text(encoding="utf-8"))
    return ["--symbolic"] if isinstance(data.get("input"), dict) else []


@pytest.mark.parametrize("sample", [s for s, fmt in RENDERED if fmt == "text"],
                         ids=lambda p: p.stem)
def test_cli_text_piped_matches_golden(sample: Path) -> None:
    path = golden_path(sample, "text")
    if not path.exists():
        pytest.fail(f"golden file {path.name} is missing (run with --update-golden)")
    run = invoke("solve", sample, "--width", str(WIDTH), *_mode(sample))
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert run.stdout == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", ["latex", "markdown", "html", "json"])
def test_cli_other_formats_match_golden(fmt: str) -> None:
    sample = ROOT / "cnnstep" / "samples" / "seed000-filter-update.json"
    path = golden_path(sample, fmt)
    if not path.exists():
        pytest.fail(f"golden file {path.name} is missing (run with --update-golden)")
    run = invoke("solve", sample, "--format", fmt)
    assert run.returncode == 0, run.stderr
    assert run.stdout == path.read_text(encoding="utf-8")
