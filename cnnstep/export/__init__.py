"""Problems exported to learning platforms as quiz questions.

Each problem becomes one question whose parts are the asked quantities (see
:func:`~cnnstep.export.blanks.asked`), every entry a numeric blank with the
tolerance of the rounding rule (see :mod:`cnnstep.export.blanks`), and the
worked derivation as its feedback.
"""

from __future__ import annotations

from cnnstep.export.blanks import asked
from cnnstep.export.exercise import Exercise, Source, exercises

__all__ = ["Exercise", "Source", "asked", "exercises"]
