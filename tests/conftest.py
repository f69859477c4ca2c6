"""Shared fixtures: writing problem files."""

from __future__ import annotations

import json
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
