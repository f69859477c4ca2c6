"""Problems exported to learning platforms: Moodle, Canvas and PrairieLearn.

Each problem becomes one question whose parts are the asked quantities (see
:func:`~cnnstep.export.blanks.asked`), every entry a numeric blank with the
tolerance of the rounding rule (see :mod:`cnnstep.export.blanks`), and the
worked derivation as its feedback.

>>> import tempfile
>>> from pathlib import Path
>>> from cnnstep.export import export
>>> with tempfile.TemporaryDirectory() as folder:
...     quiz = Path(folder) / "quiz.xml"
...     written = export([cnnstep.sample("seed000-filter-update")], to="moodle", path=quiz)
...     print(len(written), quiz.read_text(encoding="utf-8")[:38])
1 <?xml version="1.0" encoding="UTF-8"?>

* ``moodle``: a Moodle XML file with one Cloze question per problem;
* ``canvas``: a QTI 1.2 zip for Canvas (Classic Quizzes), one numerical
  question per entry;
* ``prairielearn``: a directory holding one question directory per problem.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from cnnstep.export.blanks import asked
from cnnstep.export.exercise import Exercise, Source, exercises

__all__ = ["PLATFORMS", "Exercise", "asked", "exercises", "export"]


def _moodle(items: Sequence[Exercise], path: Path, inputs: Iterable[Path | str]) -> None:
    from cnnstep.export import files, moodle

    files.write_text(moodle.quiz(items), path, inputs)


def _canvas(items: Sequence[Exercise], path: Path, inputs: Iterable[Path | str]) -> None:
    from cnnstep.export import canvas, files

    files.write_zip(canvas.package(items), path, inputs)


def _prairielearn(items: Sequence[Exercise], path: Path,
                  inputs: Iterable[Path | str]) -> None:
    from cnnstep.export import files, prairielearn

    files.write_tree(prairielearn.questions(items), path)


#: platform → how an export to it is written: an XML file, a zip, a directory
PLATFORMS: dict[str, Callable[[Sequence[Exercise], Path, Iterable[Path | str]], None]] = {
    "moodle": _moodle, "canvas": _canvas, "prairielearn": _prairielearn}


def export(problems: Iterable[Source], *, to: str, path: str | Path) -> list[Exercise]:
    """Export ``problems`` (paths, JSON texts, mappings or read problems) to the
    platform ``to`` at ``path``: a Moodle XML file, a Canvas zip or a
    PrairieLearn directory. Gives the exercises written.

    Bad problems raise :class:`~cnnstep.problem.ProblemError`; a path that
    cannot be written, :class:`~cnnstep.output.OutputError`.
    """
    if to not in PLATFORMS:
        raise ValueError(f"unknown platform {to!r}; expected one of {', '.join(PLATFORMS)}")
    sources = list(problems)
    items = exercises(sources)
    inputs = [source for source in sources if isinstance(source, str | Path)]
    PLATFORMS[to](items, Path(path), inputs)
    return items
