"""A plain-text summary of the result: every quantity, exact."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from cnnstep.numbers import display


def _rows(value: Any, indent: str) -> list[str]:
    if isinstance(value, Fraction):
        return [indent + display(value)]
    if value and isinstance(value[0], Fraction):
        cells = [display(v) for v in value]
        return [indent + "[" + "  ".join(cells) + "]"]
    lines: list[str] = []
    for i, item in enumerate(value):
        if i and not isinstance(item[0], Fraction):
            lines.append("")
        lines += _rows(item, indent)
    return lines


def render(result: dict[str, Any]) -> str:
    """Each result key and its value; matrices one row a line."""
    out: list[str] = []
    for key, value in result.items():
        if isinstance(value, Fraction):
            out.append(f"{key}: {display(value)}")
        else:
            out.append(f"{key}:")
            out += _rows(value, "  ")
        out.append("")
    return "\n".join(out)
