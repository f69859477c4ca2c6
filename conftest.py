"""Root-level pytest hooks: command-line options must be declared by a root conftest,
and the doctests of the package (``--doctest-modules``) are collected from here.

The test fixtures live in tests/conftest.py; this file only adds options and
the name every docstring example may use.
"""

from __future__ import annotations

import atexit
import compileall
import contextlib
import gc
import os
import sys
from pathlib import Path
from typing import Any

# Each test worker, and each cnnstep process the end-to-end tests start, imports
# cnnstep: let them write and share its compiled bytecode (__pycache__, which git
# ignores) even where the environment turns that off, rather than compile the
# package again in every process.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
# On a fresh clone the run compiles the package here, once, before the test workers
# start: otherwise each worker compiles every module of it as it collects the
# doctests, at the same moment as the other.
if "PYTEST_XDIST_WORKER" not in os.environ:
    compileall.compile_dir(Path(__file__).resolve().parent / "cnnstep", quiet=2)

# The tests make many objects and keep many (the rendered samples, SymPy's caches):
# the cyclic garbage collector, by default run every 700 new objects and often over
# all of them, took about a tenth of the run. Every 100,000 is plenty for the few
# cycles there are (the console script does the same, see cnnstep/__main__.py).
gc.set_threshold(100_000, 20, 50)

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


def pytest_unconfigure(config: pytest.Config) -> None:
    """A test worker (pytest-xdist) has sent every result by now: let it leave at
    once, without the interpreter's teardown of each module and cached object
    (SymPy's caches, torch, the rendered samples), which after a whole run takes
    seconds that the run waits for. Exit handlers registered before this one do not
    run in a worker (nothing the tests use registers one). The run alone (no
    worker) ends as usual."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        atexit.register(_leave)


def _leave() -> None:
    """The last thing a worker does (registered last, so run first, at exit)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, OSError, ValueError):
            stream.flush()
    os._exit(0)
