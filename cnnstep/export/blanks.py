"""The blanks of an exported question: what is asked, each entry's answer and tolerance.

A problem becomes one question whose parts are the asked quantities, in the
result's order, and every entry of a part is one numeric blank. The answer a
blank shows is the entry's exact decimal when it has at most
:data:`MAX_PLACES` decimals, else the value rounded to that many. Its
tolerance is the rounding rule of ``cnnstep check`` for a value written with
that many decimals: half a unit in the last place, and never more than
:data:`~cnnstep.check.answers.NEAR` (0.01). So ``0.295`` is asked as
``0.295 ± 0.0005``, ``1/3`` as ``0.3333 ± 0.00005`` and ``2`` as ``2 ± 0.01``.

A quantity's points are shared equally by its entries: each blank carries a
share, and the platforms that mark blanks with whole-number weights get the
shares scaled to the smallest whole numbers in the same ratio.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, cast

import numpy as np

from cnnstep import quantities
from cnnstep.check.answers import NEAR
from cnnstep.numbers import exact_decimal, terminates
from cnnstep.problem import Problem
from cnnstep.quantities import BY_KEY, SelectionError, parse_entry, present, user_index

#: the most decimals an answer is asked to
MAX_PLACES = 4



def asked(problem: Problem) -> list[tuple[str, Fraction]]:
    """What the question asks, in order, with its points: result keys (a whole
    quantity) or single entries (``grad_input[1][1]``): the problem's
    ``questions``, or every quantity it determines, one point each."""
    return list(quantities.asked(problem))


def answer(value: Fraction) -> tuple[str, int]:
    """The answer a blank shows and the decimals it is asked to: the exact
    decimal when it has at most :data:`MAX_PLACES` decimals, else the value
    rounded to that many.

    A value exactly halfway between two such roundings (``0.00625``) is shown
    exact: it stays the middle of the accepted interval, and both roundings
    are at its ends, as the marking rule allows either.
    """
    if terminates(value):
        text = exact_decimal(value)
        decimals = len(text.partition(".")[2])
        if decimals <= MAX_PLACES:
            return text, decimals
        if (value * 2 * 10**MAX_PLACES).denominator == 1:  # halfway
            return text, MAX_PLACES
    return fixed(value, MAX_PLACES), MAX_PLACES


def fixed(value: Fraction, decimals: int) -> str:
    """``value`` rounded half to even to exactly ``decimals`` places, trailing
    zeros kept (``0.3100``): they say how many places the answer has."""
    whole, part = divmod(round(abs(value) * 10**decimals), 10**decimals)
    sign = "-" if value < 0 and (whole or part) else ""
    return f"{sign}{whole}.{part:0{decimals}d}"


def tolerance(decimals: int) -> Fraction:
    """How far from the answer a value written to ``decimals`` places may be:
    half a unit in the last place, at most :data:`NEAR`."""
    return min(Fraction(1, 2 * 10**decimals), NEAR)


@dataclass(frozen=True)
class Blank:
    """One numeric blank: an entry of the result."""

    #: the entry as the result names it: ``grad_input[1][2]``, ``loss``
    name: str
    #: its index in the quantity's array as the user gave it (0-based; () for a number)
    index: tuple[int, ...]
    #: the exact value
    value: Fraction
    #: the decimals it is asked to
    places: int
    #: the answer shown: a plain decimal with ``places`` decimals (one more
    #: for a value halfway between two roundings)
    text: str
    #: the half-width of the accepted interval around ``text``
    tolerance: Fraction
    #: its share of the points
    points: Fraction

    @property
    def tolerance_text(self) -> str:
        return exact_decimal(self.tolerance)


@dataclass(frozen=True)
class Part:
    """One asked quantity (or entry): its blanks, row-major."""

    #: what was asked: a result key, or one entry
    asked: str
    #: the result key it belongs to
    key: str
    #: in words: ``dL/dK``
    meaning: str
    #: its shape as the user gave it (() for a number or a single entry)
    shape: tuple[int, ...]
    points: Fraction
    blanks: tuple[Blank, ...]

    def cells(self) -> dict[tuple[int, ...], Blank]:
        """Its blanks by their place in the part's shape (``()`` for one entry)."""
        return dict(zip(np.ndindex(self.shape), self.blanks, strict=True))

    @property
    def tolerance(self) -> Fraction:
        """The strictest tolerance of its blanks (for a platform that takes one
        per matrix)."""
        return min(blank.tolerance for blank in self.blanks)


def _blank(key: str, index: tuple[int, ...], value: Fraction, points: Fraction) -> Blank:
    text, decimals = answer(value)
    return Blank(name=key + "".join(f"[{i}]" for i in index), index=index, value=value,
                 places=decimals, text=text, tolerance=tolerance(decimals), points=points)


def meaning(key: str) -> str:
    """A quantity in a few words, for a part's label."""
    return {"output": "the layer's output",
            "grad_output": "dL/d(output)"}.get(key, BY_KEY[key].meaning)


def parts(problem: Problem, result: dict[str, Any],
          questions: Sequence[tuple[str, Fraction]] | None = None) -> tuple[Part, ...]:
    """The parts of the question about ``problem`` whose exact result is
    ``result``: those of :func:`asked`, or of ``questions``."""
    available = present(problem)
    out: list[Part] = []
    for selection, points in (asked(problem) if questions is None else questions):
        if "[" in selection:  # one entry
            key, full = parse_entry(selection, problem.layer, available)
            value = np.array(result[key], dtype=object)
            index = user_index(key, full, problem.layout)
            blank = _blank(key, index, cast(Fraction, value[index]), points)
            out.append(Part(selection, key, meaning(key), (), points, (blank,)))
            continue
        key = selection
        if key not in available:
            raise SelectionError(f"{key}: this problem has no {key}")
        value = (table(result[key]) if BY_KEY[key].axes == "history"
                 else np.array(result[key], dtype=object))
        indices = list(np.ndindex(value.shape))
        share = points / len(indices)
        out.append(Part(selection, key, meaning(key), value.shape, points,
                        tuple(_blank(key, index, cast(Fraction, value[index]), share)
                              for index in indices)))
    return tuple(out)


def table(history: list[dict[str, Any]]) -> np.ndarray[Any, np.dtype[Any]]:
    """The history as the marker sees it: a row per training step, its loss, then its
    updated filter's entries and its updated bias's, in order."""
    rows = []
    for step in history:
        row = [step["loss"]]
        for name in ("updated_filter", "updated_bias"):
            if name in step:
                row += list(np.array(step[name], dtype=object).flat)
        rows.append(row)
    out = np.empty((len(rows), len(rows[0])), dtype=object)
    for k, row in enumerate(rows):
        out[k, :] = row
    return out


def integer_weights(shares: Sequence[Fraction]) -> list[int]:
    """``shares`` scaled to the smallest whole numbers in the same ratio
    (for blanks whose weight must be an integer)."""
    scale = math.lcm(*(share.denominator for share in shares))
    whole = [int(share * scale) for share in shares]
    common = math.gcd(*whole) or 1
    return [weight // common for weight in whole]


def split_points(points: Fraction, count: int, decimals: int = MAX_PLACES) -> list[Fraction]:
    """``points`` shared by ``count`` blanks, each share a decimal of at most
    ``decimals`` places: equal shares rounded, the last one taking what makes
    the sum exact."""
    share = Fraction(round(points / count * 10**decimals), 10**decimals)
    return [share] * (count - 1) + [points - share * (count - 1)]
