"""Root-level pytest hooks: command-line options must be declared by a root conftest.

The test fixtures live in tests/conftest.py; this file only adds options.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite the golden files in tests/golden/ from the current output "
        "instead of comparing against them (review the diff before committing).",
    )
