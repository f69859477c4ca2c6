"""A problem made ready for export: solved, named, identified and cut into parts."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnstep.api import Worked, WorkedVolume
from cnnstep.export import volume as volume_export
from cnnstep.export.blanks import Part, parts
from cnnstep.problem import (
    Layer,
    Problem,
    ProblemError,
    Volume,
    is_volume,
    parse_json,
    problem_or_layer,
    read_text,
    volume_from_data,
    where,
)

#: the namespace of the questions' identifiers (uuid5 of a problem's content)
NAMESPACE = uuid.UUID("5f1d8f0e-2b7c-5a51-9c43-6e6e73746570")

#: what a problem may be given as: a path, JSON text, a mapping or a read problem
Source = str | Path | Mapping[str, Any] | Problem | Volume


@dataclass(frozen=True)
class Exercise:
    """One problem as a question."""

    #: the question's title: the file's name without ``.json``, or ``problem N``
    title: str
    #: a name for files and directories: letters, digits, ``-`` and ``_``, unique
    slug: str
    #: deterministic: the same problem always has the same identifier
    uid: uuid.UUID
    worked: Worked | WorkedVolume
    parts: tuple[Part, ...]

    @property
    def problem(self) -> Problem | Volume:
        """The problem: a 1-D or 2-D layer's, or a 3-D layer."""
        worked = self.worked
        return worked.exercise() if isinstance(worked, WorkedVolume) else worked.problem


def content(problem: Problem) -> str:
    """Everything that makes the problem what it is, as canonical text."""
    def nested(array: Any) -> Any:
        return None if array is None else [str(v) for v in array.ravel()] + [
            list(array.shape)]

    return json.dumps({
        "layer": repr(problem.layer),
        "input": nested(problem.input), "filter": nested(problem.filter),
        "bias": nested(problem.bias), "target": nested(problem.target),
        "grad_output": nested(problem.grad_output), "loss": problem.loss,
        "learning_rate": str(problem.learning_rate),
    }, sort_keys=True)


def _slug(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", title).strip("-") or "problem"


def _any(data: Any) -> Problem | Layer | Volume:
    """A parsed problem: a 3-D layer (``"dimensions": 3``), or a 1-D or 2-D one."""
    return volume_from_data(data) if is_volume(data) else problem_or_layer(data)


def _read(source: Source, number: int) -> tuple[str, Problem | Volume]:
    """A problem and its title; a problem given by shapes alone is refused."""
    if isinstance(source, Problem | Volume):
        read_in: Problem | Layer | Volume = source
        title = f"problem {number}"
    elif isinstance(source, Mapping):
        read_in, title = _any(source), f"problem {number}"
    elif isinstance(source, str) and source.lstrip().startswith("{"):
        read_in, title = _any(parse_json(source)), f"problem {number}"
    else:
        path = Path(source)
        try:
            read_in = _any(parse_json(read_text(path)))
        except ProblemError as error:
            raise ProblemError(f"{where(path)}: {error}") from None
        title = path.stem if str(path) != "-" else f"problem {number}"
        if isinstance(read_in, Layer):
            raise ProblemError(f"{where(path)}: gives only shapes; an exported question "
                               "needs the numbers")
    if isinstance(read_in, Layer):
        raise ProblemError(f"{title} gives only shapes; an exported question needs the numbers")
    return title, read_in


def exercises(sources: Iterable[Source]) -> list[Exercise]:
    """The problems, solved and cut into parts, in the order given.

    Titles that repeat get a number (``seed000-2``); so do identical problems,
    whose identifiers then differ too.
    """
    out: list[Exercise] = []
    slugs: set[str] = set()
    uids: set[uuid.UUID] = set()
    for number, source in enumerate(sources, 1):
        title, problem = _read(source, number)
        worked: Worked | WorkedVolume
        if isinstance(problem, Volume):
            worked = WorkedVolume(problem)
            made, text = (volume_export.parts(problem, worked.result),
                          volume_export.content(problem))
        else:
            worked = Worked(problem)
            made, text = parts(problem, worked.result), content(problem)
        slug, repeat = _slug(title), 1
        while slug.lower() in slugs:  # file systems may ignore case
            repeat += 1
            slug = f"{_slug(title)}-{repeat}"
        uid, repeat = uuid.uuid5(NAMESPACE, text), 1
        while uid in uids:
            repeat += 1
            uid = uuid.uuid5(NAMESPACE, f"{text}#{repeat}")
        slugs.add(slug.lower())
        uids.add(uid)
        out.append(Exercise(title, slug, uid, worked, made))
    return out
