"""The sample problems that come with cnnstep, one JSON file each.

A sample is named by its file name without ``.json``, or by the start of it
when only one name starts that way (``seed000`` is ``seed000-filter-update``).
``cnnstep solve --sample NAME`` and :func:`cnnstep.sample` find them here, so
they work from any directory once cnnstep is installed.
"""

from __future__ import annotations

import os
from pathlib import Path

#: the folder that holds the sample files, inside the installed package
FOLDER = Path(__file__).resolve().parent


def names() -> list[str]:
    """The names of the samples, sorted.

    >>> "seed000-filter-update" in names()
    True
    """
    return sorted(name[:-5] for name in os.listdir(FOLDER) if name.endswith(".json"))


def path(name: str) -> Path:
    """The file of the sample ``name``: its full name, or the start of exactly one.

    >>> path("seed000").name
    'seed000-filter-update.json'
    >>> path("seed001")
    Traceback (most recent call last):
    ...
    cnnstep.problem.ProblemError: 'seed001' could be seed001-stride1 or seed001-stride2
    """
    from cnnstep.problem import ProblemError

    known = names()
    if name in known:
        return FOLDER / f"{name}.json"
    starting = [known_name for known_name in known if known_name.startswith(name)] if name else []
    if len(starting) == 1:
        return FOLDER / f"{starting[0]}.json"
    if starting:
        raise ProblemError(f"{name!r} could be {', '.join(starting[:-1])} or {starting[-1]}")
    raise ProblemError(f"no sample is called {name!r}; the samples are {', '.join(known)}")
