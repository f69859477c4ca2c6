"""JSON: the result object, or a marked hand calculation, with numbers written as
exact JSON literals."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from cnnstep.exact import Scaled, json_text
from cnnstep.numbers import json_number, terminates
from cnnstep.quantities import approximate_keys
from cnnstep.render import Named, Options, Outcome, Renderer
from cnnstep.result import check_range

if TYPE_CHECKING:
    from cnnstep.check import Report
    from cnnstep.check.marking import Marked
    from cnnstep.check.volume import VolumeReport
    from cnnstep.derivation import Derivation


def dumps_value(value: Any, approximate: bool = False) -> str:
    """JSON text for nested lists of Fractions (and plain JSON values).

    ``approximate`` values (from float sigmoid or tanh) are rounded to 17
    significant digits rather than written out exactly.
    """
    if isinstance(value, Fraction):
        return json_number(value, approximate)
    if isinstance(value, Scaled):  # written in bulk
        if not approximate:
            return json_text(value)
        return dumps_value(value.fractions.item() if value.numerators.ndim == 0
                           else value.fractions.tolist(), approximate)
    if isinstance(value, list):
        return "[" + ", ".join(dumps_value(item, approximate) for item in value) + "]"
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k))}: {dumps_value(v, approximate)}"
                 for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    return json.dumps(value, ensure_ascii=False)


def dumps(result: Mapping[str, Any], approximate: frozenset[str] = frozenset()) -> str:
    """The result object, one key a line; keys in ``approximate`` rounded."""
    if not result:
        return "{}\n"
    lines = [f"  {json.dumps(key)}: {dumps_value(value, key in approximate)}"
             for key, value in result.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def points(value: Fraction) -> Fraction | str:
    """Points exactly: a number whose decimal ends, else a fraction as a string ("44/9")."""
    return value if terminates(value) else str(value)


def score_json(report: Report | VolumeReport) -> dict[str, Any]:
    """A report's score: its counts of entries and its points."""
    return {"right": report.right, "answered": report.answered, "total": report.total,
            "points": points(report.points), "max_points": points(report.max_points)}


def marked_json(q: Marked) -> dict[str, Any]:
    """One marked quantity: its counts, its points, its wrong entries, the indices of
    the entries not answered, and its diagnosis."""
    return {
        "correct": q.correct,
        "right": q.right, "answered": q.answered, "total": q.total,
        "points": points(q.points), "max_points": points(q.max_points),
        "mismatches": [{"index": list(m.index), "expected": m.expected,
                        "given": m.given.value} for m in q.mismatches],
        "unanswered": [list(e.index) for e in q.entries if e.given is None],
        "diagnosis": ({"code": q.diagnosis.code, "message": q.diagnosis.message}
                      if q.diagnosis else None),
    }


def as_json(report: Report | VolumeReport) -> dict[str, Any]:
    """A marked hand calculation as a JSON object (numbers as Fractions).

    Every asked quantity is there, answered or not: its counts (``right``,
    ``answered`` and ``total`` asked entries), its points, its wrong entries
    and the indices of the entries not answered.
    """
    return {
        "correct": report.correct,
        "score": score_json(report),
        "quantities": {q.key: marked_json(q) for q in report.quantities},
        "questions": [
            {"question": s.question.text, "right": s.right, "answered": s.answered,
             "total": s.total, "points": points(s.points), "max_points": points(s.max_points)}
            for s in report.questions
        ],
    }


class Json(Renderer):
    """The result object, not a derivation; reports as objects."""

    name = "json"
    worked = False

    def result(self, result: Mapping[str, Any], approximate: frozenset[str]) -> str:
        check_range(dict(result))
        return dumps(result, approximate)

    def results(self, results: Sequence[Named]) -> str:
        """A list with one object per problem: its number as an exercise, its file
        and its result object, indented as the result alone is."""
        items = []
        for number, (name, result, approximate) in enumerate(results, start=1):
            check_range(dict(result))
            inner = dumps(result, approximate).rstrip("\n").replace("\n", "\n    ")
            items.append(f'  {{\n    "exercise": {number},\n    "file": '
                         f"{json.dumps(name, ensure_ascii=False)},\n    \"result\": {inner}\n  }}")
        return "[\n" + ",\n".join(items) + "\n]\n"

    def report(self, report: Report, title: str, working: Derivation | None,
               options: Options) -> str:
        approximate = bool(approximate_keys(report.solution.problem))
        return dumps_value(as_json(report), approximate) + "\n"

    def batch(self, outcomes: Sequence[Outcome], options: Options | None = None) -> str:
        reports = [{"file": name, "error": outcome} if isinstance(outcome, str)
                   else {"file": name, **as_json(outcome)} for name, outcome in outcomes]
        return dumps_value(reports) + "\n"


RENDERER = Json()
