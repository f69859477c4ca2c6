"""The nodes of a worked solution: expressions, blocks, steps and the whole.

Expressions are small trees of :class:`Sym` (one entry of a quantity, by its
role and 0-based index in the full layout), :class:`Num`, :class:`Add`,
:class:`Mul` and a few more; symbols are printed through the problem's
notation by the renderers. A :class:`Step` is a list of blocks:
:class:`Text`, :class:`Matrix`, :class:`Equation` and :class:`Omitted`.
Everything here is immutable data: it holds every number the page shows, so
no renderer computes one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction

from cnnstep.geometry import Window
from cnnstep.problem import Array, Notation
from cnnstep.values import Value, value_class

# --------------------------------------------------------------------------
# expressions


@value_class(slots=True)
class Num(Value):
    """A number: exact, or ``approximate`` when it came through float sigmoid or tanh."""

    value: Fraction
    approximate: bool = False


@value_class(slots=True)
class Ratio(Value):
    """A constant written as the unreduced fraction the course writes: (2/4)."""

    numerator: int
    denominator: int


@value_class(slots=True)
class Sym(Value):
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


@value_class(slots=True)
class Partial(Value):
    """A local derivative ∂of/∂by, such as ∂Z₁₁/∂K₁₁."""

    of: Expr
    by: Expr


@value_class(slots=True)
class Sigma(Value):
    """A sum written with Σ over the named indices: ``Σ_ij body``."""

    indices: str
    body: Expr


@value_class(slots=True)
class Whole(Value):
    """A whole quantity, as in ``dL/dK = conv(X, dL/dZ)``."""

    role: str


@value_class(slots=True)
class Name(Value):
    """A plain variable such as H, P or oh, printed in italics."""

    text: str


@value_class(slots=True)
class Add(Value):
    terms: tuple[Expr, ...]


@value_class(slots=True)
class Sub(Value):
    left: Expr
    right: Expr


@value_class(slots=True)
class Mul(Value):
    factors: tuple[Expr, ...]


@value_class(slots=True)
class Pow(Value):
    base: Expr
    exponent: int


@value_class(slots=True)
class Group(Value):
    """Brackets the course writes on purpose: ``[ … ]`` around the loss sum."""

    body: Expr
    square: bool = False


@value_class(slots=True)
class Floor(Value):
    body: Expr


@value_class(slots=True)
class Ceil(Value):
    body: Expr


@value_class(slots=True)
class Infinity(Value):
    """−∞ or +∞: a max pool's padding (−∞, never the largest) or a min pool's (+∞)."""

    negative: bool


@value_class(slots=True)
class Div(Value):
    """``left / right`` written on one line."""

    left: Expr
    right: Expr


@value_class(slots=True)
class Call(Value):
    """A named operation applied to its arguments; each format spells the name.

    ``op`` is one of :data:`OPERATIONS`; ``prime`` asks for its derivative
    (ReLU′(Z)).
    """

    op: str
    args: tuple[Expr, ...]
    prime: bool = False


#: the operations a :class:`Call` may name: the convolutions, the kernel's
#: rotation, a sum over all entries, and the activations and pools (``full_corr``, the
#: full correlation, is dL/dX of a true convolution: the kernel slides unrotated)
OPERATIONS = ("conv", "full_conv", "full_corr", "rot180", "sum", "max", "min", "mean",
              "relu", "leaky_relu", "sigmoid", "tanh")


@value_class(slots=True)
class More(Value):
    """``count`` terms of a long sum left out: printed as an ellipsis."""

    count: int


@value_class(slots=True)
class Image(Value):
    """A quantity of one image of a batch, marked with that image: K⁽ⁿ⁾, ∂L/∂K⁽¹⁾.

    ``image`` is 0-based (shifted to the notation's base when printed), or a letter
    such as ``"n"`` for a general formula.
    """

    body: Expr
    image: int | str


Expr = (Num | Ratio | Sym | Whole | Name | Add | Sub | Mul | Pow | Group | Floor | Ceil | Div
        | Call | More | Partial | Sigma | Infinity | Image)


# --------------------------------------------------------------------------
# blocks and steps


@value_class(slots=True)
class Text(Value):
    """A sentence; parts are words or inline expressions."""

    parts: tuple[str | Expr, ...]


@value_class(eq=False)
class Matrix(Value):
    """A labelled 2-D matrix of exact values.

    ``border`` counts the rows and columns of zero padding on each side (at the
    top and left when ``border_end`` gives the bottom and right): they carry no
    index of the quantity and are shown apart.
    """

    label: tuple[str | Expr, ...]
    values: Array
    border: tuple[int, int] = (0, 0)
    #: the values are float approximations (after sigmoid or tanh)
    approximate: bool = False
    #: the stride of a zero-inserted gradient: only every step-th row is an entry
    step: tuple[int, int] = (1, 1)
    #: the padding rows at the bottom and columns at the right, when they differ from
    #: ``border``
    border_end: tuple[int, int] | None = None
    #: rows and columns of zeros past the bottom and right border (a transposed
    #: convolution's output_padding)
    extra: tuple[int, int] = (0, 0)

    @property
    def border_after(self) -> tuple[int, int]:
        """The padding rows at the bottom and columns at the right."""
        return self.border if self.border_end is None else self.border_end

    @property
    def bordered(self) -> bool:
        """Whether any side has padding (or a transposed convolution's extra rows); a
        negative border is a crop (a transposed convolution's padding above
        d·(k − 1)), which adds no zeros."""
        return any(before > 0 or after + extra > 0 for before, after, extra in
                   zip(self.border, self.border_after, self.extra, strict=True))

    def index_label(self, axis: int, position: int, base: int) -> str:
        """The quantity's own index of a row (axis 0) or column (axis 1), or ·
        for padding and inserted zeros, which have none."""
        border, step = self.border[axis], self.step[axis]
        inner = position - border
        size = self.values.shape[axis] - border - self.border_after[axis] - self.extra[axis]
        if inner < 0 or inner >= size or inner % step:
            return "·"
        return str(inner // step + base)

    def is_filler(self, row: int, col: int) -> bool:
        """Whether the cell is padding or an inserted zero (shown dimmed)."""
        return self._fillers(0)[row] or self._fillers(1)[col]

    def _fillers(self, axis: int) -> tuple[bool, ...]:
        """Which rows (axis 0) or columns (axis 1) are padding or inserted zeros,
        worked out once per matrix: a printer asks for every cell."""
        name = ("_filler_rows", "_filler_columns")[axis]
        made: tuple[bool, ...] | None = self.__dict__.get(name)
        if made is None:
            made = tuple(self.index_label(axis, position, 0) == "·"
                         for position in range(self.values.shape[axis]))
            self.__dict__[name] = made
        return made


@value_class(eq=False, slots=True)
class Equation(Value):
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


@value_class(slots=True)
class Omitted(Value):
    """What a shortened derivation leaves out, and how to see it."""

    count: int
    what: str
    example: str


@value_class(slots=True)
class Elided(Value):
    """The matrices before it are the first ``rows`` and ``columns`` of the first
    ``shown`` of a quantity's ``count`` matrices: it has ``shape`` entries, too many
    to read on a page, and the rest are printed without a term limit."""

    shape: tuple[int, ...]
    rows: int
    columns: int
    shown: int
    count: int


@value_class(eq=False)
class Table(Value):
    """Numbers under a heading per column, a labelled row each: the loss and the
    weights of every training step."""

    #: the heading of the rows' labels, and of each column of ``values``
    corner: str
    columns: tuple[Expr, ...]
    #: each row's label (a training step's number)
    rows: tuple[str, ...]
    #: (rows, columns) exact values
    values: Array
    #: the values are float approximations (after sigmoid or tanh)
    approximate: bool = False


Block = Text | Matrix | Equation | Omitted | Elided | Table


@value_class(slots=True)
class Deferred(Text):
    """Blocks of a step made only when its blocks are read (see :class:`Unfolding`):
    the equations of the entries a step works out, for a derivation written out
    as it is built. It stands in a step's blocks only inside an Unfolding."""

    make: Callable[[], Iterator[Block]]


class Unfolding(tuple[Block, ...]):
    """A step's blocks, some of them :class:`Deferred`: reading them makes those
    (each equation when it is reached), so that a step of many equations is
    never held whole. They are made once: read them once, in order.
    """

    __slots__ = ()

    def __iter__(self) -> Iterator[Block]:
        for block in super().__iter__():
            if isinstance(block, Deferred):
                yield from block.make()
            else:
                yield block


@value_class
class Step(Value):
    key: str
    title: str
    blocks: tuple[Block, ...]
    #: counted as "Step n"; the givens are headed by their title alone
    numbered: bool = True


@value_class
class Derivation(Value):
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
    #: the layer has one input channel / one filter: symbols leave that index out
    #: (K(c,m,n) for one filter over three channels)
    one_channel: bool = False
    one_filter: bool = False
    #: a number the problem gives has no finite decimal (such as 1/3): the
    #: problem is written in fractions, and every non-integer prints as one
    fractions: bool = False
    #: a 1-D layer: symbols carry one spatial index (X₃, not X₁₃)
    one_row: bool = False
    #: the spatial axes of every entry's index: 3 for a volume (X₁₂₃: depth, row, column)
    spatial: int = 2
    #: the number of the first numbered step (a part of a longer solution goes on
    #: counting where the part before it stopped)
    first_step: int = 1

    def numbered(self) -> Iterator[tuple[int, Step]]:
        """Each step with its number; an unnumbered step (the givens) has 0 and does
        not count."""
        return number_steps(self.steps, self.first_step)

    def equations(self) -> Iterator[Equation]:
        for step in self.steps:
            for block in step.blocks:
                if isinstance(block, Equation):
                    yield block




def number_steps(steps: Iterable[Step], first: int = 1) -> Iterator[tuple[int, Step]]:
    """Each step with its number, counting from ``first``; an unnumbered step (the
    givens) has 0 and does not count."""
    number = first - 1
    for step in steps:
        if step.numbered:
            number += 1
        yield (number if step.numbered else 0), step


# --------------------------------------------------------------------------
# several problems in one document


@value_class
class Exercises(Value):
    """Several problems in one document, each a numbered exercise: their worked
    solutions, or their question sheets, each titled ``Exercise N (name)``."""

    #: what the document is: its title where a format needs one (an HTML page's)
    title: str
    exercises: tuple[Derivation, ...]
    #: sentences before the first exercise (a question sheet's total of points)
    intro: tuple[str, ...] = ()


@value_class
class Part(Value):
    """One question of an exam problem: what it asks, its points, and the working
    that answers it (the steps of the solution that no earlier part showed)."""

    asks: Expr
    points: Fraction
    working: Derivation


@value_class
class ExamQuestion(Value):
    """One problem of an exam: its givens, shown with the question, and its parts."""

    #: where the problem came from (a file's name), for the reader of the source
    name: str
    #: the points of its parts, together
    points: Fraction
    givens: Derivation
    parts: tuple[Part, ...]
