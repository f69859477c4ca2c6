"""cnnstep: one convolution layer of a CNN, solved exactly and step by step.

>>> import cnnstep
>>> worked = cnnstep.solve("samples/seed000-filter-update.json")  # doctest: +SKIP
>>> print(worked.to_markdown())  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["ProblemError", "Worked", "solve"]

if TYPE_CHECKING:
    from cnnstep.api import Worked, solve
    from cnnstep.problem import ProblemError


def __getattr__(name: str) -> Any:
    # imported on first use, so that `cnnstep --help` stays quick
    if name in ("solve", "Worked"):
        from cnnstep import api

        return getattr(api, name)
    if name == "ProblemError":
        from cnnstep.problem import ProblemError

        return ProblemError
    raise AttributeError(f"module 'cnnstep' has no attribute {name!r}")
