"""The worked solution as immutable data.

A :class:`Derivation` is made once from a solved layer and printed by every
renderer; it holds every number the page shows, so no renderer computes one.

It is a list of :class:`Step` (output size, padding, forward pass, loss,
dL/dZ, zero insertion, dL/dK, dL/dB, rotated kernel and padded gradient,
dL/dX, update), each a list of blocks: :class:`Text`, :class:`Matrix`,
:class:`Equation` and :class:`Omitted`. An equation is a left-hand side and a
chain of right-hand forms (the symbolic sum, the same with numbers put in,
any intermediate) ending in its exact value. Expressions are small trees of
:class:`Sym` (one entry of a quantity, by its role and 0-based index in the
full layout), :class:`Num`, :class:`Add`, :class:`Mul` and a few more; symbols
are printed through the problem's notation by the renderers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from cnnstep.engine import Solution
from cnnstep.problem import Array, Layer, Notation
from cnnstep.quantities import RESULT_KEYS, entry_text, full_shape, is_approximate, parse_entry

# --------------------------------------------------------------------------
# expressions


@dataclass(frozen=True, slots=True)
class Num:
    """A number: exact, or ``approximate`` when it came through float sigmoid or tanh."""

    value: Fraction
    approximate: bool = False


@dataclass(frozen=True, slots=True)
class Ratio:
    """A constant written as the unreduced fraction the course writes: (2/4)."""

    numerator: int
    denominator: int


@dataclass(frozen=True, slots=True)
class Sym:
    """One entry of a quantity: ``role`` names it, ``index`` is 0-based, full layout.

    An index may also hold letters (``("m", "n")``) for a general formula such
    as ∂L/∂K_mn; letters are printed as they are.

    Roles: input (c, i, j), filter (f, c, m, n), bias (f,), output, target and
    grad_output (f, i, j), grad_filter and updated_filter (f, c, m, n),
    grad_bias and updated_bias (f,), grad_input (c, i, j), loss and
    learning_rate (no index).
    """

    role: str
    index: tuple[int | str, ...] = ()


@dataclass(frozen=True, slots=True)
class Partial:
    """A local derivative ∂of/∂by, such as ∂Z₁₁/∂K₁₁."""

    of: Expr
    by: Expr


@dataclass(frozen=True, slots=True)
class Sigma:
    """A sum written with Σ over the named indices: ``Σ_ij body``."""

    indices: str
    body: Expr


@dataclass(frozen=True, slots=True)
class Whole:
    """A whole quantity, as in ``dL/dK = conv(X, dL/dZ)``."""

    role: str


@dataclass(frozen=True, slots=True)
class Name:
    """A plain variable such as H, P or oh, printed in italics."""

    text: str


@dataclass(frozen=True, slots=True)
class Add:
    terms: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Sub:
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Mul:
    factors: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Pow:
    base: Expr
    exponent: int


@dataclass(frozen=True, slots=True)
class Group:
    """Brackets the course writes on purpose: ``[ … ]`` around the loss sum."""

    body: Expr
    square: bool = False


@dataclass(frozen=True, slots=True)
class Floor:
    body: Expr


@dataclass(frozen=True, slots=True)
class Div:
    """``left / right`` written on one line."""

    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Call:
    """A named operation applied to its arguments; each format spells the name.

    ``op`` is one of :data:`OPERATIONS`; ``prime`` asks for its derivative
    (ReLU′(Z)).
    """

    op: str
    args: tuple[Expr, ...]
    prime: bool = False


#: the operations a :class:`Call` may name: the convolutions, the kernel's
#: rotation, a sum over all entries, and the activations and pools
OPERATIONS = ("conv", "full_conv", "rot180", "sum", "max", "min", "mean",
              "relu", "leaky_relu", "sigmoid", "tanh")


@dataclass(frozen=True, slots=True)
class More:
    """``count`` terms of a long sum left out: printed as an ellipsis."""

    count: int


Expr = (Num | Ratio | Sym | Whole | Name | Add | Sub | Mul | Pow | Group | Floor | Div | Call
        | More | Partial | Sigma)


# --------------------------------------------------------------------------
# blocks and steps


@dataclass(frozen=True, slots=True)
class Window:
    """The cells of the padded input that produced an output entry."""

    top: int
    left: int
    height: int
    width: int

    def __contains__(self, cell: object) -> bool:
        if not isinstance(cell, tuple):
            return False
        row, col = cell
        return bool(
            self.top <= row < self.top + self.height and self.left <= col < self.left + self.width
        )


@dataclass(frozen=True, slots=True)
class Text:
    """A sentence; parts are words or inline expressions."""

    parts: tuple[str | Expr, ...]


@dataclass(frozen=True, eq=False)
class Matrix:
    """A labelled 2-D matrix of exact values.

    ``border`` counts the rows and columns of zero padding on each side: they
    carry no index of the quantity and are shown apart.
    """

    label: tuple[str | Expr, ...]
    values: Array
    border: tuple[int, int] = (0, 0)
    #: the values are float approximations (after sigmoid or tanh)
    approximate: bool = False
    #: the stride of a zero-inserted gradient: only every step-th row is an entry
    step: tuple[int, int] = (1, 1)

    def index_label(self, axis: int, position: int, base: int) -> str:
        """The quantity's own index of a row (axis 0) or column (axis 1), or ·
        for padding and inserted zeros, which have none."""
        border, step = self.border[axis], self.step[axis]
        inner = position - border
        size = self.values.shape[axis] - 2 * border
        if inner < 0 or inner >= size or inner % step:
            return "·"
        return str(inner // step + base)

    def is_filler(self, row: int, col: int) -> bool:
        """Whether the cell is padding or an inserted zero (shown dimmed)."""
        base = 0
        return "·" in (self.index_label(0, row, base), self.index_label(1, col, base))


@dataclass(frozen=True, slots=True, eq=False)
class Equation:
    """``lhs = forms[0] = forms[1] = … = value``; ``entry`` ties it to a result entry.

    A symbolic equation has no value; an entry with no terms (an input entry
    no window reaches) has no forms.
    """

    lhs: Expr
    forms: tuple[Expr, ...]
    value: Fraction | None
    entry: tuple[str, tuple[int, ...]] | None = None
    window: Window | None = None
    #: the matrices the window lies in (one per input channel)
    window_of: tuple[Matrix, ...] = ()
    #: the value is a float approximation: printed rounded, after ≈
    approximate: bool = False
    #: a remark after the value, such as which entry of a window was the largest
    note: tuple[str | Expr, ...] = ()

    @property
    def terms(self) -> int:
        """Products in the first form: what a student writes out."""
        first = self.forms[0] if self.forms else None
        return len(first.terms) if isinstance(first, Add) else 1


@dataclass(frozen=True, slots=True)
class Omitted:
    """What a shortened derivation leaves out, and how to see it."""

    count: int
    what: str
    example: str


Block = Text | Matrix | Equation | Omitted


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Derivation:
    """The whole worked solution, ready for any renderer."""

    title: str
    notation: Notation
    #: one channel and one filter: symbols carry two indices (X_ij), else all (X_cij)
    compact: bool
    steps: tuple[Step, ...]
    #: the largest index any symbol has, per role kind, to choose index style
    largest_index: int
    #: a note when the derivation was shortened
    shortened: bool = False

    def equations(self) -> Iterator[Equation]:
        for step in self.steps:
            for block in step.blocks:
                if isinstance(block, Equation):
                    yield block


# --------------------------------------------------------------------------
# building


class _Symbols:
    """Interned symbols and numbers: large derivations reuse the same nodes."""

    def __init__(self) -> None:
        self._syms: dict[tuple[str, tuple[int, ...]], Sym] = {}
        self._nums: dict[tuple[int, int, bool], Num] = {}

    def sym(self, role: str, index: tuple[int, ...] = ()) -> Sym:
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
        for index in np.ndindex(*shape):
            out[index] = self.sym(role, index)
        return out

    def nums(self, values: Array, approximate: bool = False) -> Array:
        """An array of the number nodes of every entry of ``values``."""
        out = np.empty(values.shape, dtype=object)
        out.flat[:] = [self.num(v, approximate) for v in values.flat]
        return out


@dataclass
class _Plan:
    """Which entries of each step to work out."""

    max_terms: int
    only: frozenset[tuple[str, tuple[int, ...]]] | None
    budget: dict[str, int] = field(default_factory=dict)

    def share(self, per: dict[str, int], counts: dict[str, int]) -> bool:
        """Share the term budget between the steps in proportion to their products
        (``per`` entry times ``counts`` entries); whether anything had to be left out."""
        total = sum(per[key] * n for key, n in counts.items())
        if self.only is not None or self.max_terms <= 0 or total <= self.max_terms:
            return False
        for key, n in counts.items():
            share = self.max_terms * per[key] * n // total
            self.budget[key] = max(1, min(n, share // per[key]))
        return True

    def pick(self, key: str, entries: Sequence[tuple[int, ...]]) -> list[tuple[int, ...]]:
        if self.only is not None:
            return [e for e in entries if (key, e) in self.only]
        limit = self.budget.get(key)
        return list(entries) if limit is None else list(entries[:limit])


def _matrices(label: tuple[str | Expr, ...], array: Array, names: tuple[str, ...],
              compact: bool, base: int, **options: Any) -> list[Matrix]:
    """One Matrix per 2-D slice of ``array``, labelled with its leading indices."""
    if array.ndim == 2:
        return [Matrix(label, array, **options)]
    lead = array.shape[:-2]
    if compact and all(n == 1 for n in lead):
        return [Matrix(label, array.reshape(array.shape[-2:]), **options)]
    out = []
    for index in np.ndindex(*lead):
        where = ", ".join(f"{name} {i + base}" for name, i in zip(names, index, strict=True))
        out.append(Matrix((*label, f" ({where})"), array[index], **options))
    return out


class _Base:
    """What every derivation shares: the layer's symbols, matrices, entries, sizes."""

    def __init__(self, layer: Layer, plan: _Plan) -> None:
        self.layer = layer
        self.plan = plan
        self.nodes = _Symbols()
        self.base = layer.notation.index_base
        self.compact = layer.compact
        ph, pw = layer.padding
        _, h, w = layer.input_shape
        # the symbol of every entry, made once; padding has no symbol
        self.x_sym = np.full((layer.channels, *layer.padded_size), None, dtype=object)
        self.x_sym[:, ph : ph + h, pw : pw + w] = self.nodes.syms("input", layer.input_shape)
        self.k_sym = self.nodes.syms("filter", layer.filter_shape)
        self.g_sym = self.nodes.syms("grad_output", layer.output_shape)

    # small helpers -----------------------------------------------------
    def sym(self, role: str, index: tuple[int, ...] = ()) -> Sym:
        return self.nodes.sym(role, index)

    def num(self, value: Fraction, approximate: bool = False) -> Num:
        return self.nodes.num(value, approximate)

    def matrices(self, label: tuple[str | Expr, ...], array: Array, kind: str,
                 **options: Any) -> list[Matrix]:
        names = {"input": ("channel",), "filter": ("filter", "channel"),
                 "output": ("filter",)}[kind]
        return _matrices(label, array, names, self.compact, self.base, **options)

    def omitted(self, key: str, shown: int, total: int, what: str) -> list[Block]:
        if shown >= total or self.plan.only is not None:
            return []
        example = self.first_hidden(key, shown)
        return [Omitted(total - shown, what, example)]

    # where the sums run -------------------------------------------------
    def window(self, i: int, j: int) -> tuple[slice, slice]:
        """The rows and columns of the padded input under output entry (i, j)."""
        (sh, sw), (kh, kw) = self.layer.stride, self.layer.kernel_size
        return slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw)

    def reach(self, m: int, n: int) -> tuple[slice, slice]:
        """The padded-input entries weight (m, n) multiplies, one per output entry."""
        (sh, sw), (oh, ow) = self.layer.stride, self.layer.output_size
        return slice(m, m + (oh - 1) * sh + 1, sh), slice(n, n + (ow - 1) * sw + 1, sw)

    def affected(self, row: int, col: int) -> list[tuple[int, int, int, int, int]]:
        """(f, i, j, m, n) for every output entry whose window holds padded (row, col)
        at kernel position (m, n)."""
        layer = self.layer
        (sh, sw), (kh, kw), (oh, ow) = layer.stride, layer.kernel_size, layer.output_size
        first_i, last_i = max(0, -(-(row - kh + 1) // sh)), min(oh - 1, row // sh)
        first_j, last_j = max(0, -(-(col - kw + 1) // sw)), min(ow - 1, col // sw)
        return [(f, i, j, row - i * sh, col - j * sw)
                for f in range(layer.filters)
                for i in range(first_i, last_i + 1)
                for j in range(first_j, last_j + 1)]

    def d_by(self, field: str) -> str:
        """∂L/∂K in the problem's notation, for plain sentences."""
        n = self.layer.notation
        return f"∂{n.loss}/∂{getattr(n, field)}"

    def first_hidden(self, key: str, shown: int) -> str:
        entries = self.entries(key)
        return entry_text(key, entries[shown], self.layer.layout)

    def entries(self, key: str) -> list[tuple[int, ...]]:
        """Every index of a result quantity, in the full layout."""
        return list(np.ndindex(*full_shape(key, self.layer)))

    def shapes(self) -> Step:
        """The output size by the formula, with the numbers put in."""
        layer = self.layer
        blocks: list[Block] = []
        if self.plan.only is not None:
            return Step("shapes", "Output size", ())
        _, h, w = layer.input_shape
        for axis, (size, pad, k, stride, out, name) in enumerate((
            (h, layer.padding[0], layer.kernel_size[0], layer.stride[0], layer.output_size[0],
             "height"),
            (w, layer.padding[1], layer.kernel_size[1], layer.stride[1], layer.output_size[1],
             "width"),
        )):
            letter = "HW"[axis]
            general = Add((Floor(Div(Sub(Add((Name(letter), Mul((self.num(Fraction(2)),
                                                                   Name("P"))))), Name("K")),
                                     Name("S"))), self.num(Fraction(1))))
            numbers = Add((Floor(Div(Sub(Add((self.num(Fraction(size)),
                                              Mul((self.num(Fraction(2)),
                                                   self.num(Fraction(pad)))))),
                                         self.num(Fraction(k))),
                                     self.num(Fraction(stride)))), self.num(Fraction(1))))
            blocks.append(Equation(Name(f"output {name}"), (general, numbers), Fraction(out)))
        shape = layer.output_shape if layer.filters > 1 else layer.output_size
        blocks.append(Text((
            f"{layer.channels} input channel{'s' * (layer.channels != 1)}, "
            f"{layer.filters} filter{'s' * (layer.filters != 1)} of "
            f"{layer.kernel_size[0]}×{layer.kernel_size[1]}, stride {_pair(layer.stride)}, "
            f"padding {_pair(layer.padding)}: the output is {_dims(shape)}.",
        )))
        for axis in range(2):
            left = (layer.padded_size[axis] - layer.kernel_size[axis]) % layer.stride[axis]
            if left:
                what = ("row", "rows") if axis == 0 else ("column", "columns")
                blocks.append(Text((
                    f"The stride does not divide evenly: the last {left} "
                    f"{what[left != 1]} of the padded input "
                    f"{'is' if left == 1 else 'are'} reached by no window, so "
                    f"{'its' if left == 1 else 'their'} gradient is 0.",
                )))
        return Step("shapes", "Output size", tuple(blocks))


class _Builder(_Base):
    """The numeric derivation of a solved layer."""

    def __init__(self, solution: Solution, plan: _Plan) -> None:
        super().__init__(solution.problem.layer, plan)
        self.s = solution
        self.p = solution.problem
        layer = self.layer
        #: after sigmoid or tanh every later number is a float approximation
        self.approx = is_approximate("activated", self.p)
        # the result keys and roles of the convolution and of the last stage
        self.z_key = "conv" if layer.layered else "output"
        self.dz_key = "grad_conv" if layer.layered else "grad_output"
        self.last_role = ("pooled" if layer.pool else
                          "activated" if layer.activation else "output")
        self.grad_last_role = "grad_" + ("output" if self.last_role == "output"
                                         else self.last_role)
        # the number node of every entry, made once
        self.x_num = self.nodes.nums(solution.padded_input)
        self.k_num = self.nodes.nums(self.p.filter)
        if solution.grad_conv is not None:
            self.g_num = self.nodes.nums(solution.grad_conv, self.approx)

    def anum(self, value: Fraction) -> Num:
        """A number after the activation: approximate after sigmoid or tanh."""
        return self.num(value, self.approx)

    # steps ---------------------------------------------------------------
    def build(self) -> list[Step]:
        layer = self.layer
        steps = [self.shapes()]
        if any(self.p.padding):
            steps.append(self.padding())
        steps.append(self.forward())
        if layer.activation is not None:
            steps.append(self.activation())
        if layer.pool is not None:
            steps.append(self.pooling())
        if self.s.grad_conv is None:
            return [s for s in steps if s.blocks]
        if self.p.target is not None:
            steps.append(self.loss())
            steps.append(self.grad_output())
        else:
            steps.append(self.given_grad_output())
        if layer.pool is not None:
            steps.append(self.pool_backward())
        if layer.activation is not None:
            steps.append(self.activation_backward())
        if self.p.stride != (1, 1):
            steps.append(self.spread())
        steps.append(self.grad_filter())
        if self.p.bias is not None:
            steps.append(self.grad_bias())
        steps.append(self.grad_input())
        if self.p.learning_rate is not None:
            steps.append(self.update())
        return [s for s in steps if s.blocks]

    def padding(self) -> Step:
        if self.plan.only is not None:
            return Step("padding", "Padding", ())
        ph, pw = self.p.padding
        blocks: list[Block] = [Text((
            f"Zeros are added on each side: {ph} row{'s' * (ph != 1)} above and below, "
            f"{pw} column{'s' * (pw != 1)} left and right. Terms with these zeros are "
            "left out of the sums below.",
        ))]
        blocks += self.padded_matrices
        return Step("padding", "Padding", tuple(blocks))

    @property
    def padded_matrices(self) -> list[Matrix]:
        cached = getattr(self, "_padded", None)
        if cached is None:
            label: tuple[str | Expr, ...] = (
                (Whole("padded_input"),) if any(self.p.padding) else (Whole("input"),)
            )
            cached = self.matrices(label, self.s.padded_input, "input", border=self.p.padding)
            self._padded: list[Matrix] = cached
        return cached

    def forward(self) -> Step:
        p, s = self.p, self.s
        kh, kw = p.kernel_size
        sh, sw = p.stride
        entries = self.entries(self.z_key)
        chosen = self.plan.pick(self.z_key, entries)
        blocks: list[Block] = []
        if self.plan.only is None:
            blocks.append(Text((
                "Each output entry is the sum of the products of the window of ",
                Whole("input"), " with the kernel ", Whole("filter"),
                *((" over every channel",) if p.channels > 1 else ()),
                *((", plus the bias ", Whole("bias")) if p.bias is not None else ()),
                ".",
            )))
        grids = tuple(self.padded_matrices)
        for f, i, j in chosen:
            symbolic: list[Expr] = []
            numeric: list[Expr] = []
            rows, cols = self.window(i, j)
            for x, k, a, b in zip(self.x_sym[:, rows, cols].flat, self.k_sym[f].flat,
                                  self.x_num[:, rows, cols].flat, self.k_num[f].flat,
                                  strict=True):
                if x is not None:  # terms with padding zeros are left out
                    symbolic.append(Mul((x, k)))
                    numeric.append(Mul((a, b)))
            if p.bias is not None:
                symbolic.append(self.sym("bias", (f,)))
                numeric.append(self.num(p.bias[f]))
            blocks.append(Equation(
                self.sym("output", (f, i, j)), _sums(symbolic, numeric),
                s.conv[f, i, j], (self.z_key, (f, i, j)),
                Window(i * sh, j * sw, kh, kw), grids,
            ))
        blocks += self.omitted(self.z_key, len(chosen), len(entries), "output entries")
        if self.plan.only is None:
            blocks += self.matrices((Whole("output"),), s.conv, "output")
        return Step("forward", "Forward pass", tuple(blocks))

    # after the convolution --------------------------------------------------
    def activation(self) -> Step:
        s, activation = self.s, self.layer.activation
        assert activation is not None and s.activated is not None
        kind = activation.kind
        name = {"relu": "ReLU", "leaky_relu": "LeakyReLU", "sigmoid": "σ", "tanh": "tanh"}[kind]
        entries = self.entries("activated")
        chosen = self.plan.pick("activated", entries)
        blocks: list[Block] = []
        if self.plan.only is None:
            rule = {
                "relu": "ReLU(z) = max(0, z)",
                "leaky_relu": f"LeakyReLU(z) = z for z > 0, else {_show(activation.slope)}×z",
                "sigmoid": "σ(z) = 1/(1 + e^(−z))",
                "tanh": "tanh(z) = (e^z − e^(−z))/(e^z + e^(−z))",
            }[kind]
            blocks.append(Text((
                "The activation is applied to each entry of ", Whole("output"), ": ", rule,
                "." if activation.exact else
                ", computed in floating point: from here on the values are rounded, "
                "marked ≈.",
            )))
        for e in chosen:
            z = s.conv[e]
            if kind == "relu":
                numeric: Expr = Call("max", (self.num(Fraction(0)), self.num(z)))
            elif kind == "leaky_relu":  # z itself when positive, else slope×z
                numeric = (Call("leaky_relu", (self.num(z),)) if z > 0 else
                           Mul((self.num(activation.slope), self.num(z))))
            else:
                numeric = Call(kind, (self.num(z),))
            blocks.append(Equation(
                self.sym("activated", e), (Call(kind, (self.sym("output", e),)), numeric),
                s.activated[e], ("activated", e), approximate=self.approx))
        blocks += self.omitted("activated", len(chosen), len(entries), "activated entries")
        if self.plan.only is None:
            blocks += self.matrices((Whole("activated"),), s.activated, "output",
                                    approximate=self.approx)
        return Step("activation", f"Activation: {name}", tuple(blocks))

    @property
    def pool_input_role(self) -> str:
        return "activated" if self.layer.activation else "output"

    def pool_input(self) -> Array:
        return self.s.pool_input

    def pooling(self) -> Step:
        s, pool = self.s, self.layer.pool
        assert pool is not None and s.pooled is not None
        (kh, kw), (sh, sw) = pool.size, pool.stride
        role = self.pool_input_role
        values = self.pool_input()
        approximate = self.approx if role == "activated" else False
        maps = self.matrices((Whole(role),), values, "output", approximate=approximate)
        entries = self.entries("pooled")
        chosen = self.plan.pick("pooled", entries)
        blocks: list[Block] = []
        word = {"max": "largest", "min": "smallest", "mean": "mean"}[pool.kind]
        if self.plan.only is None:
            overlap = sh < kh or sw < kw
            blocks.append(Text((
                f"{pool.kind.capitalize()} pooling with a {kh}×{kw} window and stride "
                f"{_pair(pool.stride)}: each entry of ", Whole("pooled"), f" is the {word} of "
                "its window of ", Whole(role), ", channel by channel"
                + ("; the windows overlap." if overlap else "."),
            )))
        for f, i, j in chosen:
            cells = [(f, i * sh + m, j * sw + n) for m in range(kh) for n in range(kw)]
            syms = tuple(self.sym(role, c) for c in cells)
            nums = tuple(self.num(values[c], approximate) for c in cells)
            note: tuple[str | Expr, ...] = ()
            if pool.kind == "mean":
                forms: tuple[Expr, ...] = (Mul((Ratio(1, kh * kw), Group(Add(syms)))),
                                           Mul((Ratio(1, kh * kw), Group(Add(nums)))))
            else:
                forms = (Call(pool.kind, syms), Call(pool.kind, nums))
                assert s.winners is not None
                winner = cells[int(s.winners[f, i, j])]
                ties = [c for c in cells if values[c] == values[winner]]
                note = (f"({word}: ", self.sym(role, winner), ")") if len(ties) == 1 else (
                    f"({len(ties)} entries tie; the first in row-major order, ",
                    self.sym(role, winner), ", counts)")
            blocks.append(Equation(
                self.sym("pooled", (f, i, j)), forms, s.pooled[f, i, j], ("pooled", (f, i, j)),
                Window(i * sh, j * sw, kh, kw), (maps[f] if len(maps) > 1 else maps[0],),
                approximate=approximate, note=note))
        blocks += self.omitted("pooled", len(chosen), len(entries), "pooled entries")
        if self.plan.only is None:
            blocks += self.matrices((Whole("pooled"),), s.pooled, "output",
                                    approximate=approximate)
        return Step("pool", f"{pool.kind.capitalize()} pooling", tuple(blocks))

    # the loss on the last stage -----------------------------------------------
    def loss(self) -> Step:
        p, s = self.p, self.s
        assert p.target is not None and s.loss is not None
        if self.plan.only is not None and ("loss", ()) not in self.plan.only:
            return Step("loss", "Loss", ())
        last, role = s.output, self.last_role
        n = last.size
        entries = list(np.ndindex(*last.shape))
        shown = entries
        limit = self.plan.budget.get("loss")
        if limit is not None and limit < n:
            shown = entries[: max(limit - 1, 1)]
        hidden = n - len(shown) - (1 if len(shown) < n else 0)

        def elided(terms: list[Expr]) -> Add:
            if len(shown) == n:
                return Add(tuple(terms))
            return Add((*terms[: len(shown)], More(hidden), terms[-1]))

        picked = shown if len(shown) == n else [*shown, entries[-1]]
        diffs_sym = elided([Pow(Group(Sub(self.sym(role, e), self.sym("target", e))), 2)
                            for e in picked])
        diffs_num = elided([Pow(Group(Sub(self.anum(last.item(e)),
                                          self.num(p.target.item(e)))), 2) for e in picked])
        squares = elided([self.anum((last.item(e) - p.target.item(e)) ** 2) for e in picked])
        total = s.loss * {"mse": n, "sse": 1, "half_sse": 2}[p.loss]
        scales: dict[str, tuple[Expr, ...]] = {
            "mse": (Ratio(1, n),), "sse": (), "half_sse": (Ratio(1, 2),),
        }
        scale = scales[p.loss]
        forms: list[Expr] = []
        for body in (diffs_sym, diffs_num, squares):
            forms.append(Mul((*scale, Group(body, square=True))) if scale else body)
        if scale:
            forms.append(Mul((*scale, self.anum(total))))
        name = {"mse": "the mean squared error, the mean of the squared errors over all",
                "sse": "the sum of the squared errors over all",
                "half_sse": "half the sum of the squared errors over all"}[p.loss]
        blocks: list[Block] = [
            Text((f"The loss is {name} {n} entries of ", Whole(role), ".")),
            *self.matrices((Whole("target"),), p.target, "output"),
            Equation(self.sym("loss"), tuple(forms), s.loss, ("loss", ()),
                     approximate=self.approx),
        ]
        return Step("loss", "Loss", tuple(blocks))

    def grad_output(self) -> Step:
        p, s = self.p, self.s
        grad = s.grad_output
        assert p.target is not None and grad is not None
        last, role, grad_role = s.output, self.last_role, self.grad_last_role
        n = last.size
        factors: dict[str, tuple[Expr, ...]] = {
            "mse": (Ratio(2, n),), "sse": (self.num(Fraction(2)),), "half_sse": (),
        }
        factor = factors[p.loss]
        entries = self.entries("grad_output")
        chosen = self.plan.pick("grad_output", entries)
        blocks: list[Block] = []
        if self.plan.only is None:
            difference = Sub(Whole(role), Whole("target"))
            blocks.append(Text((
                "The derivative of the loss with respect to each entry of ", Whole(role), ": ",
                Whole(grad_role), " = ",
                Mul((*factor, Group(difference))) if factor else difference, ".",
            )))
        for e in chosen:
            forms: list[Expr] = []
            for z, y in ((self.sym(role, e), self.sym("target", e)),
                         (self.anum(last[e]), self.num(p.target[e]))):
                forms.append(Mul((*factor, Group(Sub(z, y)))) if factor else Sub(z, y))
            blocks.append(Equation(self.sym(grad_role, e), tuple(forms), grad[e],
                                   ("grad_output", e), approximate=self.approx))
        blocks += self.omitted("grad_output", len(chosen), len(entries),
                               f"entries of ∂{self.layer.notation.loss}/∂{self.stage_name(role)}")
        if self.plan.only is None:
            blocks += self.matrices((Whole(grad_role),), grad, "output",
                                    approximate=self.approx)
        return Step("grad_output", "Gradient of the loss with respect to the output",
                    tuple(blocks))

    def stage_name(self, role: str) -> str:
        return {"output": self.layer.notation.output, "activated": "A", "pooled": "P"}[role]

    def given_grad_output(self) -> Step:
        given = self.s.grad_output
        assert given is not None
        role = self.grad_last_role
        if self.plan.only is not None:
            chosen = self.plan.pick("grad_output", self.entries("grad_output"))
            return Step("grad_output", "Upstream gradient", tuple(
                [Text(("Given by the problem:",))] if chosen else []) + tuple(
                Equation(self.sym(role, e), (), given[e], ("grad_output", e))
                for e in chosen))
        return Step("grad_output", "Upstream gradient", (
            Text(("The gradient ", Whole(role), " is given by the problem.")),
            *self.matrices((Whole(role),), given, "output"),
        ))

    # back through the pool and the activation ---------------------------------
    def pool_backward(self) -> Step:
        s, pool = self.s, self.layer.pool
        assert pool is not None and s.grad_output is not None
        (kh, kw), (sh, sw) = pool.size, pool.stride
        role = self.pool_input_role
        grad_role = "grad_activated" if role == "activated" else "grad_output"
        key = "grad_activated" if role == "activated" else "grad_conv"
        grad = s.grad_activated if role == "activated" else s.grad_conv
        assert grad is not None
        approximate = is_approximate(key, self.p)
        # where each entry of the pool's input sends its gradient from
        sources: dict[tuple[int, ...], list[tuple[int, ...]]] = {}
        for f, i, j in np.ndindex(*s.grad_output.shape):
            if pool.kind == "mean":
                cells = [(f, i * sh + m, j * sw + n) for m in range(kh) for n in range(kw)]
            else:
                assert s.winners is not None
                m, n = divmod(int(s.winners[f, i, j]), kw)
                cells = [(f, i * sh + m, j * sw + n)]
            for cell in cells:
                sources.setdefault(cell, []).append((f, i, j))
        entries = [e for e in self.entries(key) if e in sources]
        chosen = self.plan.pick(key, entries)
        blocks: list[Block] = []
        if self.plan.only is None:
            if pool.kind == "mean":
                rule = (f"each window shares its gradient equally: every entry of it gets "
                        f"1/{kh * kw} of ")
            else:
                rule = (f"the gradient of each window goes only to its "
                        f"{'largest' if pool.kind == 'max' else 'smallest'} entry (the one "
                        "found above); the others get 0 from it. It comes from ")
            blocks.append(Text((
                "Back through the pool: ", rule, Whole("grad_pooled"),
                ". Where windows overlap, the parts add up.",
            )))
        weight = (Ratio(1, kh * kw),) if pool.kind == "mean" else ()
        for e in chosen:
            symbolic = [Mul((*weight, self.sym("grad_pooled", g))) if weight
                        else self.sym("grad_pooled", g) for g in sources[e]]
            numeric = [Mul((*weight, self.num(s.grad_output[g], approximate))) if weight
                       else self.num(s.grad_output[g], approximate) for g in sources[e]]
            forms = _sums(symbolic, numeric)
            if len(symbolic) == 1 and not weight:
                forms = forms[:1]  # ∂L/∂A₁₂ = ∂L/∂P₁₁ = 0.25: the number once
            blocks.append(Equation(self.sym(grad_role, e), forms, grad[e],
                                   (key, e), approximate=approximate))
        skipped = len(self.entries(key)) - len(entries)
        blocks += self.omitted(key, len(chosen), len(entries), "entries")
        if self.plan.only is None:
            if skipped:
                blocks.append(Text((
                    f"The other {skipped} entr{'y' if skipped == 1 else 'ies'} of ",
                    Whole(grad_role), f" {'is' if skipped == 1 else 'are'} 0: "
                    + ("no window reaches them." if pool.kind == "mean" else
                       f"they are no window's {'largest' if pool.kind == 'max' else 'smallest'}"
                       " entry."),
                )))
            blocks += self.matrices((Whole(grad_role),), grad, "output",
                                    approximate=approximate)
        return Step("pool_backward", "Back through the pool", tuple(blocks))

    def activation_backward(self) -> Step:
        s, activation = self.s, self.layer.activation
        assert activation is not None and s.slopes is not None
        assert s.grad_activated is not None and s.grad_conv is not None
        assert s.activated is not None
        kind = activation.kind
        prime = {"relu": "ReLU′", "leaky_relu": "LeakyReLU′", "sigmoid": "σ′",
                 "tanh": "tanh′"}[kind]
        entries = self.entries("grad_conv")
        chosen = self.plan.pick("grad_conv", entries)
        blocks: list[Block] = []
        if self.plan.only is None:
            rule = {
                "relu": "ReLU′(z) = 1 for z > 0 and 0 otherwise (0 also at z = 0)",
                "leaky_relu": f"LeakyReLU′(z) = 1 for z > 0 and {_show(activation.slope)} "
                              "otherwise (also at z = 0)",
                "sigmoid": "σ′(z) = σ(z)(1 − σ(z))",
                "tanh": "tanh′(z) = 1 − tanh(z)²",
            }[kind]
            blocks.append(Text((
                "Back through the activation, entry by entry: ", Whole("grad_output"), " = ",
                Whole("grad_activated"), " ⊙ f′(", Whole("output"), "), with ", rule, ".",
            )))
        for e in chosen:
            da = self.num(s.grad_activated[e], is_approximate("grad_activated", self.p))
            if kind in ("relu", "leaky_relu"):
                slope: Expr = self.num(s.slopes[e])
            elif kind == "sigmoid":
                a = self.anum(s.activated[e])
                slope = Mul((a, Group(Sub(self.num(Fraction(1)), a))))
            else:
                a = self.anum(s.activated[e])
                slope = Group(Sub(self.num(Fraction(1)), Pow(a, 2)))
            blocks.append(Equation(
                self.sym("grad_output", e),
                (Mul((self.sym("grad_activated", e), Call(kind, (self.sym("output", e),), prime=True))),
                 Mul((da, slope))),
                s.grad_conv[e], ("grad_conv", e), approximate=self.approx))
        blocks += self.omitted("grad_conv", len(chosen), len(entries),
                               f"entries of {self.d_by('output')}")
        if self.plan.only is None:
            blocks += self.matrices((Whole("grad_output"),), s.grad_conv, "output",
                                    approximate=self.approx)
        return Step("activation_backward", "Back through the activation", tuple(blocks))

    def spread(self) -> Step:
        if self.plan.only is not None:
            return Step("spread", "Zero insertion for the stride", ())
        sh, sw = self.p.stride
        assert self.s.spread_grad is not None
        return Step("spread", "Zero insertion for the stride", (
            Text((
                f"With stride {_pair(self.p.stride)}, the entries of ", Whole("grad_output"),
                f" are spread apart by inserting {sh - 1} zero{'s' * (sh != 2)} between rows"
                f" and {sw - 1} zero{'s' * (sw != 2)} between columns; the backward "
                "formulas of stride 1 then apply to this spread gradient.",
            )),
            *self.matrices((Whole("spread_grad"),), self.s.spread_grad, "output",
                           step=self.p.stride, approximate=self.approx),
        ))

    def grad_filter(self) -> Step:
        p, s = self.p, self.s
        assert s.grad_conv is not None and s.grad_filter is not None
        entries = self.entries("grad_filter")
        chosen = self.plan.pick("grad_filter", entries)
        blocks: list[Block] = []
        if self.plan.only is None:
            operand = Whole("spread_grad") if p.stride != (1, 1) else Whole("grad_output")
            source = Whole("padded_input") if any(p.padding) else Whole("input")
            blocks.append(Text((
                "Each weight touches every output entry, so its gradient sums over all of them: ",
                Whole("grad_filter"), " = ", Call("conv", (source, operand)),
                ", the convolution of the input with the loss gradient",
                *((" (per filter and channel)",) if not self.compact else ()), ".",
            )))
        for f, c, m, n in chosen:
            symbolic: list[Expr] = []
            numeric: list[Expr] = []
            rows, cols = self.reach(m, n)
            for g, x, a, b in zip(self.g_sym[f].flat, self.x_sym[c, rows, cols].flat,
                                  self.g_num[f].flat, self.x_num[c, rows, cols].flat,
                                  strict=True):
                if x is not None:
                    symbolic.append(Mul((g, x)))
                    numeric.append(Mul((a, b)))
            blocks.append(Equation(
                self.sym("grad_filter", (f, c, m, n)), _sums(symbolic, numeric),
                s.grad_filter[f, c, m, n], ("grad_filter", (f, c, m, n)),
                approximate=self.approx,
            ))
        blocks += self.omitted("grad_filter", len(chosen), len(entries),
                               f"entries of {self.d_by('filter')}")
        if self.plan.only is None:
            blocks += self.matrices((Whole("grad_filter"),), s.grad_filter, "filter",
                                    approximate=self.approx)
        return Step("grad_filter", "Gradient with respect to the kernel", tuple(blocks))

    def grad_bias(self) -> Step:
        s = self.s
        assert s.grad_conv is not None and s.grad_bias is not None
        entries = self.entries("grad_bias")
        chosen = self.plan.pick("grad_bias", entries)
        blocks: list[Block] = []
        if self.plan.only is None:
            blocks.append(Text((
                "The bias is added to every output entry of its filter: ",
                Whole("grad_bias"), " = ", Call("sum", (Whole("grad_output"),)), ".",
            )))
        for (f,) in chosen:
            cells = list(np.ndindex(*s.grad_conv.shape[1:]))
            blocks.append(Equation(
                self.sym("grad_bias", (f,)),
                (Add(tuple(self.sym("grad_output", (f, i, j)) for i, j in cells)),
                 Add(tuple(self.g_num[f, i, j] for i, j in cells))),
                s.grad_bias[f], ("grad_bias", (f,)), approximate=self.approx,
            ))
        blocks += self.omitted("grad_bias", len(chosen), len(entries),
                               f"entries of {self.d_by('bias')}")
        return Step("grad_bias", "Gradient with respect to the bias", tuple(blocks))

    def grad_input(self) -> Step:
        p, s = self.p, self.s
        assert s.grad_conv is not None and s.grad_input is not None
        assert s.rotated_filter is not None and s.padded_grad is not None
        kh, kw = p.kernel_size
        ph, pw = p.padding
        entries = self.entries("grad_input")
        chosen = self.plan.pick("grad_input", entries)
        blocks: list[Block] = []
        if self.plan.only is None:
            spread = Whole("spread_grad") if p.stride != (1, 1) else Whole("grad_output")
            blocks.append(Text((
                "Rotate the kernel by 180° (flip it vertically, then horizontally):",
            )))
            blocks += self.matrices((Call("rot180", (Whole("filter"),)),), s.rotated_filter,
                                    "filter")
            blocks.append(Text((
                f"Pad {'the zero-inserted ' if p.stride != (1, 1) else ''}",
                Whole("grad_output"), f" with {_count(kh - 1, 'row')} and "
                f"{_count(kw - 1, 'column')} of zeros on each side (the kernel size less one):",
            )))
            blocks += self.matrices((Whole("padded_grad"),), s.padded_grad, "output",
                                    border=(kh - 1, kw - 1), step=p.stride,
                                    approximate=self.approx)
            blocks.append(Text((
                Whole("grad_input"), " = ",
                Call("full_conv", (Call("rot180", (Whole("filter"),)), spread)),
                ": slide the rotated kernel over the padded gradient"
                + (" and add over the filters" if p.filters > 1 else "")
                + ". Each entry, term by term (only the output entries the input entry"
                " affects appear; the others have zero derivative):",
            )))
        for c, a, b in chosen:
            row, col = a + ph, b + pw
            symbolic: list[Expr] = []
            numeric: list[Expr] = []
            g_sym, g_num, k_sym, k_num = self.g_sym, self.g_num, self.k_sym, self.k_num
            for f, i, j, m, n in self.affected(row, col):
                symbolic.append(Mul((g_sym[f, i, j], k_sym[f, c, m, n])))
                numeric.append(Mul((g_num[f, i, j], k_num[f, c, m, n])))
            blocks.append(Equation(
                self.sym("grad_input", (c, a, b)), _sums(symbolic, numeric),
                s.grad_input[c, a, b], ("grad_input", (c, a, b)),
                approximate=self.approx,
            ))
        blocks += self.omitted("grad_input", len(chosen), len(entries),
                               f"entries of {self.d_by('input')}")
        if self.plan.only is None:
            if any(p.padding):
                assert s.grad_padded_input is not None
                blocks.append(Text((
                    "The full convolution gives the gradient of the padded input; the rows and"
                    " columns that are padding are cropped away:",
                )))
                blocks += self.matrices((Whole("grad_padded_input"),), s.grad_padded_input,
                                        "input", border=(ph, pw), approximate=self.approx)
            blocks += self.matrices((Whole("grad_input"),), s.grad_input, "input",
                                    approximate=self.approx)
        return Step("grad_input", "Gradient with respect to the input", tuple(blocks))

    def update(self) -> Step:
        p, s = self.p, self.s
        assert p.learning_rate is not None and s.updated_filter is not None
        assert s.grad_filter is not None
        alpha = self.num(p.learning_rate)
        blocks: list[Block] = []
        if self.plan.only is None:
            blocks.append(Text((
                "Gradient descent with learning rate ", Sym("learning_rate"), " = ", alpha, ": ",
                Whole("updated_filter"), " = ", Sub(Whole("filter"),
                                                    Mul((Sym("learning_rate"),
                                                         Whole("grad_filter")))),
                *((" and ", Whole("updated_bias"), " = ",
                   Sub(Whole("bias"), Mul((Sym("learning_rate"), Whole("grad_bias")))))
                  if p.bias is not None else ()),
                ".",
            )))
        groups = [("updated_filter", "filter", "grad_filter", p.filter, s.grad_filter,
                   s.updated_filter)]
        if p.bias is not None:
            assert s.grad_bias is not None and s.updated_bias is not None
            groups.append(("updated_bias", "bias", "grad_bias", p.bias, s.grad_bias,
                           s.updated_bias))
        for key, weight, grad, before, gradient, after in groups:
            entries = self.entries(key)
            chosen = self.plan.pick(key, entries)
            for e in chosen:
                blocks.append(Equation(
                    self.sym(key, e),
                    (Sub(self.sym(weight, e), Mul((self.sym("learning_rate"), self.sym(grad, e)))),
                     Sub(self.num(before[e]), Mul((alpha, self.anum(gradient[e]))))),
                    after[e], (key, e), approximate=self.approx,
                ))
            blocks += self.omitted(key, len(chosen), len(entries),
                                   "updated weights" if key == "updated_filter" else "biases")
        if self.plan.only is None:
            blocks += self.matrices((Whole("updated_filter"),), s.updated_filter, "filter",
                                    approximate=self.approx)
            if s.updated_bias is not None and p.filters > 1:
                blocks.append(Matrix((Whole("updated_bias"),), s.updated_bias.reshape(1, -1),
                                     approximate=self.approx))
        return Step("update", "Update", tuple(blocks))


def _show(value: Fraction) -> str:
    """A parameter such as a slope, for a sentence."""
    from cnnstep.numbers import display

    return display(value)


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}{'s' * (n != 1)}"


def _pair(values: tuple[int, int]) -> str:
    return str(values[0]) if values[0] == values[1] else f"{values[0]}×{values[1]}"


def _dims(shape: Iterable[int]) -> str:
    return "×".join(str(n) for n in shape)


#: the default number of products a derivation may print in full
DEFAULT_MAX_TERMS = 3000


def _equation_terms(builder: _Builder) -> dict[str, int]:
    """Products per entry of each step, to share out the term budget."""
    layer = builder.layer
    kh, kw = layer.kernel_size
    oh, ow = layer.output_size
    window = layer.pool.size[0] * layer.pool.size[1] if layer.pool else 1
    per = {builder.z_key: layer.channels * kh * kw, "loss": 3, "grad_output": 1,
           "grad_filter": oh * ow, "grad_bias": oh * ow,
           "grad_input": layer.filters * kh * kw, "updated_filter": 1, "updated_bias": 1}
    if layer.activation:
        per["activated"] = 2
        per["grad_conv"] = 2
    if layer.pool:
        per["pooled"] = 2 * window
        per["grad_activated" if layer.activation else "grad_conv"] = window
    return per


def derive(solution: Solution, *, max_terms: int = DEFAULT_MAX_TERMS,
           only: Iterable[str] = ()) -> Derivation:
    """The worked solution of a solved layer.

    ``max_terms`` bounds the products printed in full (0: no bound); beyond it
    each step works out its first entries and says what it left out. ``only``
    lists result entries (``"grad_input[1][2]"``) to work out alone.
    """
    from cnnstep.result import quantity

    available = [key for key in RESULT_KEYS if quantity(solution, key) is not None]
    layer = solution.problem.layer
    # with layers, the result's output is the last stage, worked in its own step
    last = "pooled" if layer.pool else "activated" if layer.activation else "output"
    chosen = (frozenset((last if key == "output" else key, index)
                        for key, index in (parse_entry(text, layer, available) for text in only))
              if only else None)
    plan = _Plan(max_terms, chosen)
    builder = _Builder(solution, plan)
    per = _equation_terms(builder)
    counts = {key: len(builder.entries(key)) for key in per
              if key != "loss" and key in available}
    if solution.loss is not None:
        counts["loss"] = solution.output.size
    shortened = plan.share(per, counts)
    p = solution.problem
    largest = max(max(p.input.shape), max(p.filter.shape), *p.output_size)
    return Derivation(
        title="Worked solution: one convolution layer",
        notation=p.notation,
        compact=builder.compact,
        steps=tuple(builder.build()),
        largest_index=largest - 1 + p.notation.index_base,
        shortened=shortened,
    )


def _sums(*forms: Sequence[Expr]) -> tuple[Expr, ...]:
    """Each list of terms as a sum; none at all when there are no terms (the value is 0)."""
    return tuple(Add(tuple(terms)) for terms in forms) if forms[0] else ()
