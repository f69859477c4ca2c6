"""The small public API every step is written with.

A :class:`Plan` says which entries of each quantity to work out (all, the
first few under the term budget, or the ones a selection names).
A :class:`Builder` knows the layer: the symbol of every entry, the matrices of
a quantity, and the one helper each step uses to work out its entries —
:meth:`Builder.work_out` — which honours the plan and says what was left out.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from fractions import Fraction
from functools import cached_property
from typing import Any, Literal, overload

import numpy as np

from cnnstep.derivation.nodes import (
    Add,
    Block,
    Deferred,
    Elided,
    Expr,
    Matrix,
    Num,
    Omitted,
    Sym,
    Text,
)
from cnnstep.problem import Array, Layer
from cnnstep.quantities import entry_text, full_shape, symbol_role
from cnnstep.values import Value, value_class

Index = tuple[int, ...]


class Symbols:
    """Interned symbols and numbers: large derivations reuse the same nodes."""

    def __init__(self) -> None:
        self._syms: dict[tuple[str, Index], Sym] = {}
        self._nums: dict[tuple[int, int, bool], Num] = {}

    def sym(self, role: str, index: Index = ()) -> Sym:
        key = (role, index)
        node = self._syms.get(key)
        if node is None:
            node = self._syms[key] = Sym(role, index)
        return node

    def num(self, value: Fraction, approximate: bool = False) -> Num:
        key = (value.numerator, value.denominator, approximate)  # faster than a Fraction's hash
        node = self._nums.get(key)
        if node is None:
            node = self._nums[key] = Num(value, approximate)
        return node

    def syms(self, role: str, shape: tuple[int, ...]) -> Array:
        """An array of the symbols of every entry of a quantity."""
        out = np.empty(shape, dtype=object)
        for index in itertools.product(*(range(n) for n in shape)):
            out[index] = self.sym(role, index)
        return out

    def nums(self, values: Array, approximate: bool = False) -> Array:
        """An array of the number nodes of every entry of ``values``."""
        out = np.empty(values.shape, dtype=object)
        out.flat[:] = [self.num(v, approximate) for v in values.flat]
        return out


#: how much of the working a derivation shows: every entry; each step's rule, one entry
#: and its results; or the givens and the results alone
Detail = Literal["full", "brief", "answers"]
DETAILS: tuple[Detail, ...] = ("full", "brief", "answers")


class Plan:
    """Which entries of each quantity to work out.

    ``only`` holds (key, full-layout index) pairs when a selection names
    entries: the quantities not in ``whole_keys`` then show just those
    equations. Otherwise ``detail`` decides: ``full`` works out every entry
    (``max_terms`` bounds the products printed, 0: no bound, shared out between
    the steps by :meth:`share`), ``brief`` one entry of each quantity (its
    ``example``), ``answers`` none.
    """

    def __init__(self, max_terms: int, only: frozenset[tuple[str, Index]] | None = None,
                 detail: Detail = "full", whole_keys: frozenset[str] = frozenset()) -> None:
        # a plain class, not a dataclass: made without code generation at start-up
        self.max_terms = max_terms
        self.only = only
        self.detail = detail
        #: under a selection, the quantities worked out whole (their steps in full)
        self.whole_keys = whole_keys
        #: the entries each quantity may work out, when :meth:`share` shares the terms
        self.budget: dict[str, int] = {}

    @property
    def whole(self) -> bool:
        """The whole derivation is shown: no selection."""
        return self.only is None

    def in_full(self, key: str) -> bool:
        """Every entry of ``key`` is worked out (as far as the detail goes)."""
        return self.only is None or key in self.whole_keys

    def shows(self, key: str) -> bool:
        """Some entry of ``key`` is worked out or shown: the whole quantity, or an
        entry of it the selection names."""
        return self.in_full(key) or any(k == key for k, _ in self.only or ())

    def share(self, per: dict[str, int], counts: dict[str, int]) -> bool:
        """Share the term budget between the steps in proportion to their products
        (``per`` entry times ``counts`` entries); whether anything had to be left out."""
        if self.detail != "full":
            return False
        counts = {key: n for key, n in counts.items() if self.in_full(key)}
        total = sum(per[key] * n for key, n in counts.items())
        if self.max_terms <= 0 or total <= self.max_terms:
            return False
        for key, n in counts.items():
            share = self.max_terms * per[key] * n // total
            self.budget[key] = max(1, min(n, share // per[key]))
        return True

    def pick(self, key: str, entries: Sequence[Index], example: Index | None = None
             ) -> list[Index]:
        """The entries of ``key`` to work out; ``example`` is the one a brief
        derivation works (the first entry by default)."""
        if not self.in_full(key):
            assert self.only is not None
            return [e for e in entries if (key, e) in self.only]
        if self.detail == "answers" or not entries:
            return []
        if self.detail == "brief":
            return [example if example is not None and example in entries else entries[0]]
        limit = self.budget.get(key)
        return list(entries) if limit is None else list(entries[:limit])


class Cells(Sequence[Index]):
    """Every index of an array of ``shape`` in row-major order, each made when read:
    a quantity of a large layer has millions, of which a derivation reads a few.

    >>> cells = Cells((2, 3))
    >>> len(cells), cells[4], cells[:2], (1, 2) in cells
    (6, (1, 1), [(0, 0), (0, 1)], True)
    """

    __slots__ = ("shape",)

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def __len__(self) -> int:
        return math.prod(self.shape)

    def __iter__(self) -> Iterator[Index]:
        return itertools.product(*(range(n) for n in self.shape))

    @overload
    def __getitem__(self, k: int) -> Index: ...

    @overload
    def __getitem__(self, k: slice) -> list[Index]: ...

    def __getitem__(self, k: int | slice) -> Index | list[Index]:
        if isinstance(k, slice):
            start, stop, step = k.indices(len(self))
            return [self[n] for n in range(start, stop, step)]
        n = k + len(self) if k < 0 else k
        if not 0 <= n < len(self):
            raise IndexError(k)
        return tuple(int(i) for i in np.unravel_index(n, self.shape))

    def __contains__(self, e: object) -> bool:
        return (isinstance(e, tuple) and len(e) == len(self.shape)
                and all(isinstance(i, int) and 0 <= i < n
                        for i, n in zip(e, self.shape, strict=True)))


@value_class
class Zeros(Value):
    """Entries of a quantity that are 0 for one reason, said once."""

    entries: tuple[Index, ...]
    reason: tuple[str | Expr, ...]


#: a line of zero entries names at most this many of them
ZERO_NAMES = 24

#: a quantity of more entries than this is too large to read on a page: under a term
#: limit its matrices are shown by their first rows and columns (the largest sample,
#: and the LeNet-sized layer's padded dL/dZ of 9,600 entries, are shown whole)
MATRIX_ENTRIES = 20_000
#: of such a quantity: the rows and columns shown of each matrix, and how many matrices
ELIDED_ROWS = ELIDED_COLUMNS = 10
ELIDED_MATRICES = 2


def sums(*forms: Sequence[Expr]) -> tuple[Expr, ...]:
    """Each list of terms as a sum; none at all when there are no terms (the value is 0)."""
    return tuple(Add(tuple(terms)) for terms in forms) if forms[0] else ()


#: how the slices of each kind of array are labelled, outermost axis first
AXIS_NAMES = {"input": ("channel",), "filter": ("filter", "channel"), "output": ("filter",),
              # the kernel a transposed layer correlates with, rot180(K) swapped: (F, C/G)
              "rotated": ("filter", "channel")}


class Builder:
    """What every derivation shares: the layer's symbols, matrices, entries."""

    def __init__(self, layer: Layer, plan: Plan) -> None:
        self.layer = layer
        self.plan = plan
        #: the equations of :meth:`work_out` are made when the step's blocks are read
        #: (a :class:`Deferred` block, for a step that is an :class:`Unfolding`)
        self.deferred = False
        self.nodes = Symbols()
        self.base = layer.notation.index_base
        self.compact = layer.compact
        ph, pw = layer.padding
        _, h, w = layer.input_shape
        # the symbol of every entry, made once; padding has no symbol
        self.x_sym = np.full((layer.channels, *layer.padded_size), None, dtype=object)
        if layer.transposed:  # the expanded input: the entries s apart, inside its padding
            # (those a padding above d·(k − 1) crops away have no place in it)
            places = [e + np.arange(n) * s for e, n, s in
                      zip(layer.expansion, (h, w), layer.stride, strict=True)]
            kept = [(at >= 0) & (at < n) for at, n in zip(places, layer.padded_size,
                                                            strict=True)]
            syms = self.nodes.syms("input", layer.input_shape)
            self.x_sym[:, places[0][kept[0]][:, None], places[1][kept[1]][None, :]] = \
                syms[:, kept[0]][:, :, kept[1]]
        else:
            self.x_sym[:, ph : ph + h, pw : pw + w] = self.nodes.syms("input", layer.input_shape)
        self.k_sym = self.nodes.syms("filter", layer.filter_shape)
        self.g_sym = self.grad_symbols()

    def grad_symbols(self) -> Array:
        """The symbol of every entry of dL/d(output)."""
        return self.nodes.syms("grad_output", self.layer.output_shape)

    @cached_property
    def x_real(self) -> Array:
        """Where the padded input holds an entry of the input (not padding)."""
        real: Array = self.x_sym != None  # noqa: E711
        return real

    def sym(self, role: str, index: Index = ()) -> Sym:
        return self.nodes.sym(role, index)

    def num(self, value: Fraction, approximate: bool = False) -> Num:
        return self.nodes.num(value, approximate)

    def entries(self, key: str) -> Cells:
        """Every index of a result quantity, in the full layout."""
        return Cells(full_shape(key, self.layer))

    def matrices(self, label: tuple[str | Expr, ...], array: Array, kind: str,
                 **options: Any) -> list[Matrix]:
        """One Matrix per 2-D slice of ``array``, labelled with its leading indices
        (those of axes longer than one: none for a one-channel, one-filter layer)."""
        if array.ndim == 2:
            return [Matrix(label, array, **options)]
        lead = array.shape[:-2]
        if all(n == 1 for n in lead):
            return [Matrix(label, array.reshape(array.shape[-2:]), **options)]
        if kind == "filter" and self.layer.transposed:
            return self._transposed_filter(label, array, **options)
        names = AXIS_NAMES[kind]
        if len(lead) > len(names):  # a batch: the image axis first
            names = ("image", *names)
        out = []
        for index in np.ndindex(*lead):
            where = ", ".join(f"{name} {i + self.base}"
                              for name, i, n in zip(names, index, lead, strict=True)
                              if n > 1)
            if kind in ("filter", "rotated") and len(index) == 2 and self.layer.groups > 1 \
                    and lead[1] > 1:
                # a grouped filter's channel c is a channel of its group's block
                seen = self.layer.channels_of(index[0])[index[1]]
                where += f", reading input channel {seen + self.base}"
            out.append(Matrix((*label, f" ({where})"), array[index], **options))
        return out

    def _transposed_filter(self, label: tuple[str | Expr, ...], array: Array,
                           **options: Any) -> list[Matrix]:
        """A transposed layer's filter (C, F/G, kh, kw), one Matrix per weight K[c, f],
        labelled with its input channel and the output channel it feeds."""
        channels, per_group = array.shape[:2]
        out = []
        for c, f in np.ndindex(channels, per_group):
            where = [f"input channel {c + self.base}"] if channels > 1 else []
            if self.layer.filters > 1:
                where.append(f"output channel {self.layer.filters_of(c)[f] + self.base}")
            out.append(Matrix((*label, f" ({', '.join(where)})"), array[c, f], **options))
        return out

    def show(self, label: tuple[str | Expr, ...], array: Array, kind: str,
             **options: Any) -> list[Block]:
        """:meth:`matrices` as the page shows them (see :meth:`shown`)."""
        return self.shown(self.matrices(label, array, kind, **options), array.shape)

    def shown(self, matrices: Sequence[Matrix], shape: tuple[int, ...]) -> list[Block]:
        """A quantity's matrices as the page shows them: whole, or, when it has more
        than :data:`MATRIX_ENTRIES` entries and the derivation has a term limit, the
        first rows and columns of its first matrices and a note of the rest (the
        quantity's ``shape`` without its axes of one). Only the entries shown are
        read."""
        total = sum(m.values.size for m in matrices)
        if self.plan.max_terms <= 0 or total <= MATRIX_ENTRIES:
            return [replace(m, values=np.asarray(m.values)) for m in matrices]
        out: list[Block] = []
        for m in matrices[:ELIDED_MATRICES]:
            rows, cols = m.values.shape
            out.append(replace(
                m, values=np.asarray(m.values[:ELIDED_ROWS, :ELIDED_COLUMNS]),
                border_end=(0 if rows > ELIDED_ROWS else m.border_after[0],
                            0 if cols > ELIDED_COLUMNS else m.border_after[1]),
                extra=(0 if rows > ELIDED_ROWS else m.extra[0],
                       0 if cols > ELIDED_COLUMNS else m.extra[1])))
        rows, cols = matrices[0].values.shape
        lead = tuple(n for n in shape[:-2] if n > 1)
        return [*out, Elided((*lead, *shape[-2:]), min(rows, ELIDED_ROWS),
                             min(cols, ELIDED_COLUMNS), len(out), len(matrices))]

    def explain(self, *blocks: Block | Iterable[Block]) -> list[Block]:
        """Prose and the working's matrices: left out when only the answers are shown."""
        if self.plan.detail == "answers":
            return []
        return self.answer(*blocks)

    def answer(self, *blocks: Block | Iterable[Block]) -> list[Block]:
        """A step's results (its matrices), shown at every detail."""
        out: list[Block] = []
        for block in blocks:
            if isinstance(block, Block):
                out.append(block)
            else:
                out.extend(block)
        return out

    def work_out(self, key: str, equation: Callable[[Index], Block | Sequence[Block]],
                 what: str, entries: Sequence[Index] | None = None, *,
                 example: Index | None = None, zeros: Sequence[Zeros] = ()) -> list[Block]:
        """The equations of the entries of ``key`` the plan picks, and a note of the
        rest: "… N more ``what`` are worked out the same way".

        ``equation`` gives an entry's equation (or its blocks, such as a line of
        local gradients and then the equation). ``example`` is the entry a brief
        derivation works out. ``zeros`` are entries known to be 0, each group for
        one reason: when every entry is worked out, each group is one line naming
        them instead of an equation each.
        """
        every: Sequence[Index] = self.entries(key) if entries is None else list(entries)
        grouped: list[Zeros] = []
        if self.plan.in_full(key) and self.plan.detail == "full":
            grouped = [group for group in zeros if group.entries]
            skip = {e for group in grouped for e in group.entries}
            if skip:
                every = [e for e in every if e not in skip]
        chosen = self.plan.pick(key, every, example)

        def equations() -> Iterator[Block]:
            for e in chosen:
                made = equation(e)
                if isinstance(made, Block):
                    yield made
                else:
                    yield from made

        blocks: list[Block] = ([Deferred((), equations)] if self.deferred and chosen
                               else list(equations()))
        blocks += [self.zero_line(key, group) for group in grouped]
        if len(chosen) < len(every) and self.plan.in_full(key) and self.plan.detail != "answers":
            done = set(chosen)
            rest = len(every) - len(done)
            if self.plan.detail == "brief":  # by choice, not for length: no way to see more
                blocks.append(Text((f"The other {rest} {what} are worked out the same "
                                    "way." if rest > 1 else
                                    f"The last of the {what} is worked out the same way.",)))
            else:
                first = next(e for e in every if e not in done)
                blocks.append(Omitted(rest, what, entry_text(key, first, self.layer.layout)))
        return blocks

    def zero_line(self, key: str, group: Zeros) -> Text:
        """One line for entries that are 0 for one reason: "X₁₁, X₁₂ are 0: …"."""
        role = symbol_role(key, self.layer)
        names: list[str | Expr] = []
        shown = (group.entries if len(group.entries) <= ZERO_NAMES
                 else group.entries[: ZERO_NAMES - 4])
        for k, e in enumerate(shown):
            names += [", " if k else "", self.sym(role, e)]
        if len(shown) < len(group.entries):
            names.append(f" and {len(group.entries) - len(shown)} more")
        verb = " is 0: " if len(group.entries) == 1 else " are 0: "
        return Text((*names, verb, *group.reason))

    def d_by(self, field_name: str) -> str:
        """∂L/∂K in the problem's notation, for plain sentences."""
        n = self.layer.notation
        return f"∂{n.loss}/∂{getattr(n, field_name)}"
