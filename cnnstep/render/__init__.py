"""One renderer per output format, all in one registry: :data:`FORMATS`.

A renderer prints what it is given and computes nothing: the worked
derivation of a solved layer, its result object, a marked hand calculation
(with the derivation of its wrong entries, built by the caller) and the
summary of a batch of them. Two formats print marked answers only: ``csv``
(a gradebook's rows) and ``gradescope`` (the ``results.json`` of a Gradescope
autograder). The command line and the Python interface both
look a format up here and never spell one themselves.

Importing this package is cheap: a format's module (and rich, for text) is
imported when the format is first looked up.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from importlib import import_module
from typing import TYPE_CHECKING, Any, ClassVar

from cnnstep.values import Value, value_class

if TYPE_CHECKING:
    from cnnstep.check import Report
    from cnnstep.check.volume import VolumeReport
    from cnnstep.derivation import Derivation, Exercises, Step

#: one answers file of a batch: its name, and its report (a 3-D layer's its own) or the
#: error that stopped it
Outcome = tuple[str, "Report | VolumeReport | str"]
#: one problem of a set: its name, its result object, and the keys that hold float
#: approximations
Named = tuple[str, Mapping[str, Any], frozenset[str]]


@value_class
class Hints(Value):
    """How a shortened derivation tells the reader to see what it left out.

    ``one`` is how to work out one entry, with ``{example}`` standing for the
    entry (``"--only {example}"`` on the command line); ``every`` how to work
    out everything; ``whole`` where every entry of a quantity too large to show
    is. None says nothing, the library's default: a caller of
    :func:`cnnstep.solve` has no command-line flags to type.
    """

    one: str | None = None
    every: str | None = None
    #: how to see every entry of a quantity too large to show (``"--format json"``)
    whole: str | None = None

    def for_one(self, example: str) -> str | None:
        return None if self.one is None else self.one.replace("{example}", example)


#: no hints: the library's default
NO_HINTS = Hints()


#: the width of text when none is given and no terminal tells it: a report's,
#: the Python API's, and the command line's when its output is not a terminal
TEXT_WIDTH = 80


@value_class
class Options(Value):
    """How to print; each format reads the fields it has a use for."""

    #: None: a fraction with its rounded decimal beside it; N: rounded to N places
    decimals: int | None = None
    hints: Hints = NO_HINTS
    #: text: the width (None: the terminal's)
    width: int | None = None
    #: text: colour and styles, for a terminal
    color: bool = False
    #: latex: the body alone, to paste into a document
    fragment: bool = False


class Renderer:
    """One output format. A format that shows the worked derivation (``worked``)
    prints derivations; the one that does not prints the result object. A format
    that does not ``solve`` prints marked answers only."""

    #: the format's name, as ``--format`` takes it
    name: ClassVar[str]
    #: True: a solved layer shows as its worked derivation (and a report comes with
    #: the working of its wrong entries); False: as its result object
    worked: ClassVar[bool] = True
    #: False: the format prints marked answers only, never a solved layer
    solves: ClassVar[bool] = True
    #: True: a report is one row of a table, always printed as a batch
    always_batch: ClassVar[bool] = False

    def derivation(self, derivation: Derivation, options: Options) -> str:
        raise NotImplementedError(f"{self.name} prints the result, not a derivation")

    def stream(self, head: Derivation, steps: Iterable[Step], options: Options) -> Iterator[str]:
        """:meth:`derivation` in pieces, to be written one after another: the
        derivation's ``head`` (its steps left out) and its ``steps``, built as
        they are asked for. A format that cannot lay a step out before it has
        seen every one builds them all first and gives its whole text."""
        from dataclasses import replace

        # an Unfolding's blocks are read once, here: a printer may read them again
        whole = tuple(replace(step, blocks=tuple(step.blocks)) for step in steps)
        yield self.derivation(replace(head, steps=whole), options)

    def result(self, result: Mapping[str, Any], approximate: frozenset[str]) -> str:
        """The result object; keys in ``approximate`` hold float approximations."""
        raise NotImplementedError(f"{self.name} prints the worked derivation, not the result")

    def exercises(self, exercises: Exercises, options: Options) -> str:
        """Several derivations in one document, each a numbered exercise."""
        raise NotImplementedError(f"{self.name} prints the result, not a derivation")

    def results(self, results: Sequence[Named]) -> str:
        """The result objects of several problems, each with its name."""
        raise NotImplementedError(f"{self.name} prints the worked derivation, not the result")

    def report(self, report: Report, title: str, working: Derivation | None,
               options: Options) -> str:
        """A marked hand calculation; ``working`` is the derivation of its wrong
        entries (None when all are right, or when the format does not show it)."""
        raise NotImplementedError

    def batch(self, outcomes: Sequence[Outcome], options: Options | None = None) -> str:
        """Many answers files marked against one problem: a summary (text fits
        ``options.width``, None: the terminal's)."""
        raise NotImplementedError


#: format name → the module of its renderer (each holds one, named RENDERER)
_MODULES = {"text": "text", "latex": "latex", "markdown": "markdown", "html": "html",
            "json": "json_result", "csv": "csv_table", "gradescope": "gradescope"}


class _Formats(Mapping[str, Renderer]):
    """The registry: a format's module is imported when the format is looked up."""

    def __getitem__(self, name: str) -> Renderer:
        module = import_module(f"{__name__}.{_MODULES[name]}")
        renderer: Renderer = module.RENDERER
        return renderer

    def __iter__(self) -> Iterator[str]:
        return iter(_MODULES)

    def __len__(self) -> int:
        return len(_MODULES)

    def __repr__(self) -> str:
        return f"<cnnstep formats: {', '.join(_MODULES)}>"


#: every output format by name: text, latex, markdown, html, json, csv, gradescope
FORMATS: Mapping[str, Renderer] = _Formats()


def renderer(name: str) -> Renderer:
    """The renderer of a format; a ValueError names the formats there are."""
    if name not in _MODULES:
        raise ValueError(f"unknown format {name!r}; expected one of {', '.join(_MODULES)}")
    return FORMATS[name]
