"""cnnstep: one convolution layer of a CNN, solved exactly and step by step.

:func:`solve` works out a layer: its exact result and the derivation a student
writes by hand, as text, LaTeX, Markdown or JSON. :func:`check` marks a
student's answers to it. :func:`sample` finds the sample problems that come
with the package.

>>> import cnnstep
>>> worked = cnnstep.solve(cnnstep.sample("seed000-filter-update"))
>>> worked.result["loss"]
Fraction(73, 200)
>>> report = cnnstep.check(cnnstep.sample("exercise-with-answers"))
>>> report.correct, f"{report.right}/{report.total}"
(False, '17/26')

A problem is a path, JSON text or a mapping (see the README for its keys);
numbers are read exactly, and a Python float by its shortest repr (``0.1`` is
one tenth).
"""

from typing import TYPE_CHECKING, Any

# The subpackage cnnstep.check is imported first, so that the function below
# keeps the name: importing a subpackage later would not rebind it. The
# subpackage loads its modules only when they are used.
from cnnstep import check as _check_package

if TYPE_CHECKING:
    from cnnstep.api import (
        AnswersSource,
        Formulas,
        ProblemSource,
        SymbolicVolume,
        Tolerance,
        VolumeFormulas,
        Worked,
        WorkedVolume,
        solve,
    )
    from cnnstep.check import Report
    from cnnstep.check.volume import VolumeReport
    from cnnstep.problem import ProblemError
    from cnnstep.samples import path as sample

del _check_package

__version__ = "0.1.0"
__all__ = ["Formulas", "ProblemError", "Report", "SymbolicVolume", "VolumeFormulas",
           "VolumeReport", "Worked", "WorkedVolume", "check", "sample", "solve"]

#: each lazily imported name → the module that defines it (and its name there)
_LAZY = {
    "solve": ("cnnstep.api", "solve"),
    "Worked": ("cnnstep.api", "Worked"),
    "Formulas": ("cnnstep.api", "Formulas"),
    "WorkedVolume": ("cnnstep.api", "WorkedVolume"),
    "VolumeFormulas": ("cnnstep.api", "VolumeFormulas"),
    "SymbolicVolume": ("cnnstep.api", "SymbolicVolume"),
    "Report": ("cnnstep.check.marking", "Report"),
    "VolumeReport": ("cnnstep.check.volume", "VolumeReport"),
    "ProblemError": ("cnnstep.problem", "ProblemError"),
    "sample": ("cnnstep.samples", "path"),
}


def check(problem: "ProblemSource", answers: "AnswersSource | None" = None, *,
          tolerance: "Tolerance | None" = None) -> "Report | VolumeReport":
    """Mark a student's answers to ``problem``, as ``cnnstep check`` does.

    ``problem`` is what :func:`solve` takes (a path, JSON text, a mapping or a
    problem). ``answers`` is an answers object (a mapping, JSON text or a
    path) with any subset of the result's keys, in the result's shapes; None
    marks the problem's own ``answers`` key. An answer is right when it is the
    true value rounded to the decimals written (and within 0.01); a fraction
    must be exact. ``tolerance`` accepts anything within it instead. A 3-D
    layer (``"dimensions": 3``) gives a :class:`VolumeReport`, the report that
    ``cnnstep check`` prints for it (text or JSON).


    >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]],
    ...            "target": [[0, 1], [1, 2]], "questions": ["output", "loss"]}
    >>> report = check(problem, {"output": [[0.5, 1], [1.5, 2]], "loss": 0.3})
    >>> report.correct
    False
    >>> [(marked.key, marked.right, marked.total) for marked in report.quantities]
    [('output', 4, 4), ('loss', 0, 1)]
    >>> check(problem, {"output": [[0.5, 1], [1.5, 2]], "loss": 0.3}, tolerance="0.2").correct
    True
    >>> print(report.to_text())  # doctest: +ELLIPSIS
    Marking
    ┌──────────┬────────┬──────┬───────┬────────┬───────────┐
    │ quantity │ symbol │ mark │ right │ points │ diagnosis │
    ├──────────┼────────┼──────┼───────┼────────┼───────────┤
    │ output   │ Z      │ ✓    │ 4/4   │ 1 of 1 │           │
    │ loss     │ L      │ ✗    │ 0/1   │ 0 of 1 │           │
    └──────────┴────────┴──────┴───────┴────────┴───────────┘
    Score: 1 of 2 points (4 of 5 entries right)
    <BLANKLINE>
    loss: 1 wrong entry of L
    <BLANKLINE>
      ✗ 0.3 (expected 0.125)
    <BLANKLINE>
    <BLANKLINE>
    The working of the wrong entries:
    ...
      = 0.125
    <BLANKLINE>

    Raises :class:`ProblemError` for a bad problem or answers object.
    """
    from cnnstep.api import check as mark_answers

    return mark_answers(problem, answers, tolerance=tolerance)


def __getattr__(name: str) -> Any:
    # imported on first use, so that `import cnnstep` (and `cnnstep --help`) stay quick
    if name not in _LAZY:
        raise AttributeError(f"module 'cnnstep' has no attribute {name!r}")
    from importlib import import_module

    module, attribute = _LAZY[name]
    value = getattr(import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*__all__, "__version__"])
