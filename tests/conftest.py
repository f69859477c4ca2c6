"""Shared fixtures: writing problem files; pdflatex, for the tests that compile; and the
Hypothesis profiles that say how many examples the slowest property tests draw."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

#: How many examples a property test of each kind draws. The suite's time on two cores
#: is mostly these draws, so the slowest property tests take their number from here by
#: kind, ``@settings(settings.get_profile("layer"))``, rather than each its own.
DRAWS = {
    # SymPy's derivatives, or the verifier by both routes, on each example (~0.4 s each)
    "sympy": 10,
    # the symbolic formulas of a random layer, derived with SymPy
    "symbolic": 15,
    # a random layer solved exactly and compared with the naive loops or another path
    "layer": 30,
    # a random problem text through the whole command
    "cli": 30,
    # numbers, or an array of them, read, written or multiplied near the int64 bounds
    "numbers": 100,
}

for _kind, _examples in DRAWS.items():
    settings.register_profile(
        _kind, max_examples=_examples, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.filter_too_much])


@pytest.fixture
def problem_file(tmp_path: Path) -> Callable[..., Path]:
    """Write a problem (a dict, JSON text, or raw bytes) to a file and give its path."""
    counter = iter(range(10**6))

    def write(content: Any, name: str | None = None) -> Path:
        path = tmp_path / (name or f"problem{next(counter)}.json")
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_text(json.dumps(content), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="module")
def pdflatex() -> str:
    """pdflatex's path; without it the test is skipped with the reason, or fails when
    the environment variable CI is set (CI installs TeX Live)."""
    found = shutil.which("pdflatex")
    if found is None:
        reason = ("pdflatex not found: install TeX Live (e.g. apt-get install texlive-latex-base "
                  "texlive-latex-recommended, and texlive-latex-extra for the exam class) to "
                  "compile the LaTeX output")
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so this is an error, not a skip")
        pytest.skip(reason)
    return found
