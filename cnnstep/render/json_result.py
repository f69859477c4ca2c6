"""The JSON result: one object, numbers written as exact JSON literals."""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

from cnnstep.numbers import json_number


def dumps_value(value: Any, approximate: bool = False) -> str:
    """JSON text for nested lists of Fractions (and plain JSON values).

    ``approximate`` values (from float sigmoid or tanh) are rounded to 17
    significant digits rather than written out exactly.
    """
    if isinstance(value, Fraction):
        return json_number(value, approximate)
    if isinstance(value, list):
        return "[" + ", ".join(dumps_value(item, approximate) for item in value) + "]"
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k))}: {dumps_value(v, approximate)}"
                 for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    return json.dumps(value, ensure_ascii=False)


def dumps(result: dict[str, Any], approximate: frozenset[str] = frozenset()) -> str:
    """The result object, one key a line; keys in ``approximate`` rounded."""
    if not result:
        return "{}\n"
    lines = [f"  {json.dumps(key)}: {dumps_value(value, key in approximate)}"
             for key, value in result.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"
