"""Shared fixtures: writing problem files; pdflatex, for the tests that compile."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


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
