"""Root-level pytest hooks: command-line options must be declared by a root conftest,
and the doctests of the package (``--doctest-modules``) are collected from here.

The test fixtures live in tests/conftest.py; this file only adds options and
the name every docstring example may use.
"""

from __future__ import annotations

import os
import sys
from typing import Any

# Each test worker, and each cnnstep process the end-to-end tests start, imports
# cnnstep: let them write and share its compiled bytecode (__pycache__, which git
# ignores) even where the environment turns that off, rather than compile the
# package again in every process.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

import pytest  # noqa: E402

import cnnstep  # noqa: E402


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace: dict[str, Any]) -> None:
    """The examples in docstrings start as after ``import cnnstep``."""
    doctest_namespace["cnnstep"] = cnnstep


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite the golden files in tests/golden/ from the current output "
        "instead of comparing against them (review the diff before committing).",
    )
