"""The words every format shares, written once; each renderer adds its markup.

A sentence that names something the reader types (a command-line flag, say)
comes as a list of pieces, with those words as :class:`Code`, so that each
format can set them as code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from fractions import Fraction
from itertools import pairwise
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from cnnstep.numbers import display, exact_decimal, terminates
from cnnstep.values import Value, value_class

if TYPE_CHECKING:
    from cnnstep.check import Diagnosis, Marked, Report, Scored
    from cnnstep.check.volume import VolumeReport
    from cnnstep.derivation import Elided, Expr, Matrix, Omitted, Step
    from cnnstep.geometry import Window
    from cnnstep.render import Hints, Outcome


#: the diagnosis whose wrong entries earn method marks
CARRIED_FORWARD = "carried_forward"


class Code(str):
    """Words the reader types, such as a flag: set as code where a format can."""

    __slots__ = ()


# --------------------------------------------------------------------------
# formulas inside sentences
#
# A sentence is words and expression nodes; its words may hold formulas too
# (``ReLU(z) = max(0, z)``, ``2×2``, the ``= `` between two expressions). Each
# format sets formulas apart from words (in math, or unbroken), so the
# sentence is cut into words and formulas here, once for every format.


class Token(NamedTuple):
    """A piece of formula text: its kind and its characters.

    Kinds: ``num``, ``name`` (a letter or a function's name, with any prime and
    subscript digits), ``partial`` (∂ and a name), ``op`` (a binary operator or
    ^), ``rel`` (a relation), ``post`` (a superscript such as ²), ``open``,
    ``close``, ``comma``, ``space``; and, outside formulas, ``word`` and ``punct``.
    """

    kind: str
    text: str


#: function names a formula in words may apply: ``ReLU(z)``, ``tanh′(z)``
FUNCTIONS = frozenset({
    "ReLU", "LeakyReLU", "max", "min", "mean", "sum", "tanh", "exp", "log", "conv",
    "rot180", "sigmoid", "softmax",
})
RELATIONS = "=≈<>≤≥≠"
OPERATORS = "×⊙+−/·^"
SUPERSCRIPTS = "²³"
_SUBSCRIPT = "₀₁₂₃₄₅₆₇₈₉ᵢⱼₘₙ"
_TOKEN = re.compile(
    rf"(?P<space>\s+)"
    rf"|(?P<num>\d+(?:\.\d+)?)"
    rf"|(?P<partial>∂[^\s/()\[\],;:{RELATIONS}{OPERATORS}]+)"
    rf"|(?P<name>(?:[A-Za-z][A-Za-z0-9]*(?:[-'][A-Za-z]+)*|[α-ωΑ-Ω])′?[{_SUBSCRIPT}]*)"
    rf"|(?P<rel>[{RELATIONS}])|(?P<op>[{OPERATORS}])|(?P<post>[{SUPERSCRIPTS}])"
    rf"|(?P<open>[(\[])|(?P<close>[)\]])|(?P<comma>,)|(?P<punct>.)"
)
#: kinds of token that stand for a value
_OPERANDS = frozenset({"num", "name", "partial", "expr"})


def tokens(text: str) -> list[Token]:
    """Formula text cut into tokens; a name of several letters that is not a
    function's is a ``word``, ``-`` and the rest ``punct``.

    >>> [t.kind for t in tokens("max(0, z)")]
    ['name', 'open', 'num', 'comma', 'space', 'name', 'close']
    """
    out = []
    for match in _TOKEN.finditer(text):
        kind, piece = match.lastgroup or "punct", match.group()
        if kind == "name" and len(piece.rstrip("′" + _SUBSCRIPT)) > 1 and (
                piece.rstrip("′" + _SUBSCRIPT) not in FUNCTIONS):
            kind = "word"
        out.append(Token(kind, piece))
    return out


@value_class
class Formula(Value):
    """A formula inside a sentence: expression nodes and tokens of formula text."""

    parts: tuple[Expr | Token, ...]


#: one piece of a sentence: words (with their spaces) or a formula
Segment = str | Formula


def _kind(item: Expr | Token) -> str:
    return item.kind if isinstance(item, Token) else "expr"


def _is_formula(run: Sequence[Expr | Token]) -> bool:
    """An expression node, an operator or a function applied makes a formula."""
    kinds = [_kind(item) for item in run]
    if any(k in ("expr", "op", "rel", "post") for k in kinds):
        return True
    return any(a == "name" and b == "open" for a, b in pairwise(kinds))


def _balanced(run: list[Expr | Token]) -> list[tuple[bool, list[Expr | Token]]]:
    """A run cut where a bracket has no partner in it: the bracket goes to the
    words; each piece is (whether it is a formula candidate, its items)."""
    unmatched: set[int] = set()
    depth: list[int] = []
    for n, item in enumerate(run):
        kind = _kind(item)
        if kind == "open":
            depth.append(n)
        elif kind == "close":
            if depth:
                depth.pop()
            else:
                unmatched.add(n)
    unmatched.update(depth)
    if not unmatched:
        return [(True, run)]
    out: list[tuple[bool, list[Expr | Token]]] = []
    start = 0
    for n in sorted(unmatched):
        if run[start:n]:
            out.extend(_balanced(run[start:n]))
        out.append((False, [run[n]]))
        start = n + 1
    if run[start:]:
        out.extend(_balanced(run[start:]))
    return out


def _trim(run: list[Expr | Token]) -> tuple[list[Expr | Token], list[Expr | Token]]:
    """Spaces, operators and commas that end a run belong to the words after it."""
    end = len(run)
    while end and _kind(run[end - 1]) in ("space", "op", "rel", "comma", "open"):
        end -= 1
    return run[:end], run[end:]


def _flush(run: list[Expr | Token]) -> Iterable[tuple[bool, list[Expr | Token]]]:
    body, rest = _trim(run)
    yield from ((formula and _is_formula(piece), piece) for formula, piece in _balanced(body))
    if rest:
        yield False, rest


class _Run:
    """The formula run being read: its items, bracket depth, last item's kind
    (spaces aside) and whether a space came after it."""

    def __init__(self) -> None:
        self.items: list[Expr | Token] = []
        self.depth = 0
        self.last = ""
        self.spaced = False

    def accepts(self, item: Expr | Token) -> bool:
        kind, last, spaced = _kind(item), self.last, self.spaced
        if not self.items:  # a value, a bracket or a leading minus starts a run
            return kind in _OPERANDS or kind == "open" or item == Token("op", "−")
        if kind == "space":
            return True
        if kind in ("op", "rel"):
            return True
        if kind == "post":
            return not spaced
        if kind in _OPERANDS:  # after an operator, or written against a value: σ(z)(1 − z)
            return last in ("op", "rel", "open", "comma") or (
                not spaced and last in ("close", "post", "name", "expr", "num"))
        if kind == "open":  # a bracket, or a function applied: f′(
            return last in ("op", "rel", "open", "comma") or (
                not spaced and last in ("name", "close", "expr", "post"))
        if kind in ("close", "comma"):
            return self.depth > 0
        return False

    def add(self, item: Expr | Token) -> None:
        self.items.append(item)
        kind = _kind(item)
        if kind == "space":
            self.spaced = True
            return
        if kind == "open":
            self.depth += 1
        elif kind == "close":
            self.depth -= 1
        self.last, self.spaced = kind, False


def _runs(items: list[Expr | Token]) -> Iterable[tuple[bool, list[Expr | Token]]]:
    """Maximal runs of formula items, each (whether it is a formula, its items)."""
    run = _Run()
    for item in items:
        if run.accepts(item):
            run.add(item)
            continue
        if run.items:
            yield from _flush(run.items)
            run = _Run()
        if run.accepts(item):
            run.add(item)
        else:
            yield False, [item]
    if run.items:
        yield from _flush(run.items)


def _words(items: Iterable[Expr | Token]) -> str:
    return "".join(item.text for item in items if isinstance(item, Token))


class _Slot(NamedTuple):
    """Where the n-th expression node of a sentence stands in its plan."""

    n: int


#: a sentence's plan, by its words with None for each expression node: its
#: segments, words or runs of tokens and slots. A derivation says the same few
#: sentences around different expressions, so most sentences are planned once.
_PLANS: dict[tuple[str | None, ...], list[str | tuple[Token | _Slot, ...]]] = {}
_PLANS_KEPT = 4096


def _plan(key: tuple[str | None, ...]) -> list[str | tuple[Token | _Slot, ...]]:
    items: list[Token | _Slot] = []
    slots = 0
    for part in key:
        if part is None:
            items.append(_Slot(slots))
            slots += 1
        else:
            items.extend(tokens(part))
    plan: list[str | tuple[Token | _Slot, ...]] = []
    for formula, run in _runs(items):  # type: ignore[arg-type]  # a slot reads as "expr"
        if formula:
            plan.append(tuple(run))  # type: ignore[arg-type]
        elif plan and isinstance(plan[-1], str):
            plan[-1] += _words(run)
        else:
            plan.append(_words(run))
    return plan


def segments(parts: Iterable[str | Expr]) -> list[Segment]:
    """A sentence cut into words and formulas.

    An expression node is always a formula, and the words around it join it
    where they continue it: ``dL/dZ``, `` = ``, ``conv(X, dL/dZ)`` make one
    formula; so do formulas written in words (``ReLU(z) = max(0, z)``,
    ``z > 0``, ``2×2``). Words stay words, a lone number or letter included.
    """
    exprs: list[Expr] = []
    key: list[str | None] = []
    for part in parts:
        if isinstance(part, str):
            key.append(part)
        else:
            key.append(None)
            exprs.append(part)
    words = tuple(key)
    plan = _PLANS.get(words)
    if plan is None:
        if len(_PLANS) >= _PLANS_KEPT:
            _PLANS.clear()
        plan = _PLANS[words] = _plan(words)
    return [piece if isinstance(piece, str) else
            Formula(tuple(exprs[item.n] if isinstance(item, _Slot) else item
                          for item in piece))
            for piece in plan]


# --------------------------------------------------------------------------
# the derivation


def step_heading(number: int, step: Step) -> str:
    return f"Step {number}: {step.title}" if step.numbered else step.title


def shortened(hints: Hints) -> list[str]:
    """The note at the top of a derivation that works out only the first entries."""
    words = ["This derivation is long: each step works out its first entries and says "
             "what it left out"]
    if hints.every is not None:
        words += [" (", Code(hints.every), " prints everything)"]
    return [*words, "."]


def omitted(block: Omitted, hints: Hints) -> list[str]:
    """The note in place of the entries a shortened step leaves out."""
    words = [f"… {block.count} more {block.what} are worked out the same way"]
    one = hints.for_one(block.example)
    if one is not None:
        words += ["; see one with ", Code(one)]
    if hints.every is not None:
        words += [", or all with " if one is not None else "; see all with ",
                  Code(hints.every)]
    return [*words, "."]


def elided(block: Elided, hints: Hints) -> list[str]:
    """The note after the first rows and columns of a quantity too large to show."""
    rows, cols = block.shape[-2:]
    cut = [f"{n} {unit}s" if n > 1 else f"{n} {unit}" for n, whole, unit in
           ((block.rows, rows, "row"), (block.columns, cols, "column")) if n < whole]
    part = "the first " + " and ".join(cut) if cut else ""
    if block.shown < block.count:
        first = f"the first {block.shown}" if block.shown > 1 else "the first"
        part += f"{' of ' if part else ''}{first} of its {block.count} matrices"
    words = [f"{'×'.join(map(str, block.shape))} entries, too many to read here: {part} "
             f"{'is' if block.shown == 1 and not cut else 'are'} shown"]
    if hints.whole is not None:
        words += [", the rest in ", Code(hints.whole)]
        if hints.every is not None:
            words += [" or with ", Code(hints.every)]
    else:
        words.append("; the result holds every entry")
    return [*words, "."]


#: what grey entries are, said after the first of them
FILLERS = ("Grey entries are zeros of padding or of zero insertion, not entries of "
           "the data.")
#: the same where entries cannot be grey: the text format's ·
FILLER_LABELS = ("Zeros of padding or of zero insertion, not entries of the data, are "
                 "marked ·: in a window grid the entry itself, in a table its row and "
                 "column labels.")


#: the same two sentences when a pool's padding is −∞ or +∞
FILLERS_INFINITE = ("Grey entries are padding (zeros, or −∞ and +∞ around a max or min "
                    "pool) or zeros of zero insertion, not entries of the data.")
FILLER_LABELS_INFINITE = ("Padding (zeros, or −∞ and +∞ around a max or min pool) and zeros "
                          "of zero insertion, not entries of the data, are marked ·: in a "
                          "window grid the entry itself, in a table its row and column labels.")


def fillers_sentence(blocks: Iterable[Matrix], labels: bool) -> str:
    """What grey (``labels``: ·-marked) entries are; naming ±∞ when a pool pads with it."""
    from cnnstep.derivation import Infinity

    infinite = any(isinstance(value, Infinity) for b in blocks for value in b.values.flat)
    if labels:
        return FILLER_LABELS_INFINITE if infinite else FILLER_LABELS
    return FILLERS_INFINITE if infinite else FILLERS


def has_fillers(blocks: Iterable[Matrix]) -> bool:
    """Whether any of the matrices holds a zero of padding or of zero insertion."""
    for b in blocks:
        if b.bordered or b.step != (1, 1):
            rows, cols = b.values.shape
            if any(b.is_filler(i, j) for i in range(rows) for j in range(cols)):
                return True
    return False


def columns(first: int, last: int, total: int) -> str:
    """The label of a block of columns of a wide matrix (1-based positions)."""
    return f"(columns {first}–{last} of {total})"


def window_span(window: Window, base: int, grid: Matrix) -> tuple[str | Expr, ...]:
    """Where a window lies in the matrix ``grid``, for one too large to draw."""
    rows, cols = window.rows, window.columns
    return (f"window: rows {rows[0] + base}–{rows[-1] + base}, "
            f"columns {cols[0] + base}–{cols[-1] + base} of ", *grid.label)


# --------------------------------------------------------------------------
# a marked hand calculation

#: the columns of a report's table of quantities: the result key, and the
#: quantity as the problem writes it (∂L/∂Z)
SUMMARY_HEADER = ("quantity", "symbol", "mark", "right", "points", "diagnosis")
#: the heading of the worked derivation of the wrong entries
WORKING = "The working of the wrong entries"
ALL_CORRECT = "all correct"
#: the mark of a quantity all right, one with a wrong entry, and one with entries
#: not answered (and none wrong)
RIGHT, WRONG, NOT_ANSWERED = "✓", "✗", "—"


def wrong(report: Report) -> list[Marked]:
    """The quantities with a wrong entry, each given its own section."""
    return [q for q in report.quantities if q.mismatches]


def points(value: Fraction) -> str:
    """Points exactly: ``4.5``, or ``44/9`` where the decimal does not end."""
    return exact_decimal(value) if terminates(value) else str(value)


def out_of(value: Fraction, most: Fraction) -> str:
    """``4.5 of 6``."""
    return f"{points(value)} of {points(most)}"


def entries_right(right: int, total: int, answered: int) -> str:
    """``17 of 26 entries right, 3 not answered``."""
    text = f"{right} of {total} entr{'y' if total == 1 else 'ies'} right"
    if answered < total:
        text += f", {total - answered} not answered"
    return text


def score(report: Report) -> str:
    """``Score: 4.5 of 6 points (17 of 26 entries right, 3 not answered)``."""
    return (f"Score: {out_of(report.points, report.max_points)} points "
            f"({entries_right(report.right, report.total, report.answered)})")


def diagnosis_label(diagnosis: Diagnosis) -> str:
    return f"Diagnosis ({diagnosis.code}):"


def index_text(index: tuple[int, ...]) -> str:
    return "".join(f"[{i}]" for i in index)


def mark(q: Marked | Scored) -> str:
    """✓ every entry right, ✗ an entry wrong, — entries not answered."""
    if q.correct:
        return RIGHT
    return NOT_ANSWERED if q.right == q.answered else WRONG


def summary_rows(report: Report) -> list[tuple[str, Expr, str, str, str, str]]:
    """One row per quantity: its key, its symbol (for each format to print), its
    mark, right out of total, its points, the diagnosis."""
    rows: list[tuple[str, Expr, str, str, str, str]] = []
    for q in report.quantities:
        diagnosis = f"{q.diagnosis.code}: {q.diagnosis.message}" if q.diagnosis else ""
        if q.diagnosis and q.diagnosis.code == CARRIED_FORWARD:
            diagnosis += f" {follow_through(report)}"
        elif not q.answered:
            diagnosis = "not answered"
        rows.append((q.key, report.symbol(q.key), mark(q), f"{q.right}/{q.total}",
                     out_of(q.points, q.max_points), diagnosis))
    return rows


def follow_through(report: Report) -> str:
    """What an entry carried forward earns."""
    share = report.follow_through
    if share == 1:
        return "Entries carried forward earn their full share of the points."
    if share == 0:
        return "Entries carried forward earn no points."
    return f"Entries carried forward earn {points(share)} of their share of the points."


def wrong_count(q: Marked) -> str:
    """``9 wrong entries``."""
    count = len(q.mismatches)
    return f"{count} wrong entr{'y' if count == 1 else 'ies'}"


def departure(report: Report, q: Marked) -> Step | None:
    """The step that shows where the working of a wrong quantity departs, if its
    mistake shows one (:mod:`cnnstep.check.departures`)."""
    return next((step for step in report.departures.steps if step.key == q.key), None)


#: an entry the student left unanswered
UNANSWERED = "—"


def marked_entries(q: Marked, report: Report) -> Any:
    """The student's answers, entry by entry: (given, expected) text, expected None
    where the answer is right and given None where there is no answer."""
    grid = report.answers[q.key]
    wrong = {m.index: m for m in q.mismatches}
    out = np.empty(grid.shape, dtype=object)
    for index in np.ndindex(*grid.shape):
        given = grid.item(index) if index else grid.item()
        miss = wrong.get(index)
        out[index] = (None if given is None else display(given.value),
                      None if miss is None else display(miss.expected))
    return out


def marked_cells(q: Marked, report: Report) -> Any:
    """The student's answers with the wrong ones marked: text per cell."""
    entries = marked_entries(q, report)
    out = np.empty(entries.shape, dtype=object)
    for index in np.ndindex(*entries.shape):
        given, expected = entries[index]
        out[index] = (UNANSWERED if given is None else given if expected is None
                      else f"✗ {given} (expected {expected})")
    return out


def slices(cells: Any) -> list[tuple[str, Any]]:
    """2-D slices of a marked array, labelled with their leading indices."""
    if cells.ndim <= 2:
        return [("", cells.reshape((1,) * (2 - cells.ndim) + cells.shape))]
    return [(f" {index_text(lead)}", cells[lead]) for lead in np.ndindex(*cells.shape[:-2])]


# --------------------------------------------------------------------------
# a batch of answers files

#: the columns of the summary of a batch
BATCH_HEADER = ("file", "points", "right", "diagnoses")
#: the diagnoses column of a script with nothing answered
BLANK = "nothing answered"


def diagnoses(report: Report | VolumeReport) -> list[str]:
    """``grad_input: kernel_not_rotated``: each diagnosis with its quantity."""
    if report.blank:
        return [BLANK]
    return [f"{q.key}: {q.diagnosis.code}" for q in report.quantities if q.diagnosis]


def batch_rows(outcomes: Sequence[Outcome], joined: str = "; ") -> list[tuple[str, str, str, str]]:
    """One row per answers file: the file, its points (or "error"), its entries
    right, its diagnoses (or the error), ``joined``."""
    rows = []
    for name, outcome in outcomes:
        if isinstance(outcome, str):
            rows.append((name, "error", "", outcome.removeprefix(f"{name}: ")))
            continue
        rows.append((name, out_of(outcome.points, outcome.max_points),
                     f"{outcome.right}/{outcome.total}", joined.join(diagnoses(outcome))))
    return rows


def tally(outcomes: Sequence[Outcome]) -> str:
    """``2 of 3 all correct`` (``, 1 could not be read``)."""
    right = sum(1 for _, outcome in outcomes if not isinstance(outcome, str) and outcome.correct)
    errors = sum(1 for _, outcome in outcomes if isinstance(outcome, str))
    text = f"{right} of {len(outcomes)} {ALL_CORRECT}"
    return text + (f", {errors} could not be read" if errors else "")
