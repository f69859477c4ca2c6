"""The JSON result: one object, numbers written as exact JSON literals."""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

from cnnstep.numbers import json_number


def dumps_value(value: Any) -> str:
    """JSON text for nested lists of Fractions (and plain JSON values)."""
    if isinstance(value, Fraction):
        return json_number(value)
    if isinstance(value, list):
        return "[" + ", ".join(dumps_value(item) for item in value) + "]"
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k))}: {dumps_value(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    return json.dumps(value, ensure_ascii=False)


def dumps(result: dict[str, Any]) -> str:
    """The result object, one key a line."""
    if not result:
        return "{}\n"
    lines = [f"  {json.dumps(key)}: {dumps_value(value)}" for key, value in result.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"
