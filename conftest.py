"""Root-level pytest hooks: command-line options must be declared by a root conftest,
and the doctests of the package (``--doctest-modules``) are collected from here.

The test fixtures live in tests/conftest.py; this file only adds options and
the name every docstring example may use.
"""

from __future__ import annotations

from typing import Any

import pytest

import cnnstep


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
