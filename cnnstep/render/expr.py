"""Printing expressions and numbers: one printer per format.

Each printer dispatches on the node's type to a ``_print_<Type>`` method, as
SymPy's printers do; settings (notation, index style, decimals) reach every
nested part through the printer instance. Printers format numbers; they never
compute one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import field
from fractions import Fraction
from typing import Any, ClassVar

from cnnstep.derivation import (
    Add,
    Call,
    Ceil,
    Derivation,
    Div,
    Equation,
    Expr,
    Floor,
    Group,
    Image,
    Infinity,
    More,
    Mul,
    Name,
    Num,
    Partial,
    Pow,
    Ratio,
    Sigma,
    Sub,
    Sym,
    Whole,
)
from cnnstep.numbers import (
    approximate,
    exact_decimal,
    round_places,
    significant,
    terminates,
)
from cnnstep.problem import GREEK_LETTERS, Notation
from cnnstep.quantities import symbol
from cnnstep.render.prose import Token
from cnnstep.values import Value, value_class

#: digits of the rounded decimal shown beside a fraction (1/3 ≈ 0.3333)
APPROX_DIGITS = 4
#: significant digits shown of a float approximation (after sigmoid or tanh)
FLOAT_DIGITS = 6


@value_class
class Settings(Value):
    """What every printer needs to know beyond the node itself."""

    notation: Notation = field(default_factory=Notation)
    #: one channel and one filter: X_ij rather than X_cij
    compact: bool = True
    #: the largest printed index, to decide between X₁₁ and X(1,1)
    largest_index: int = 9
    #: None: a fraction with its rounded decimal; N: rounded to N decimals only
    decimals: int | None = None
    #: one input channel / one filter: that index is left out (K(c,m,n))
    one_channel: bool = False
    one_filter: bool = False
    #: the problem is written in fractions: every non-integer prints as one
    fractions: bool = False
    #: a 1-D layer: its arrays are held as one row, and symbols carry no row index (X₃)
    one_row: bool = False
    #: the spatial axes of an index: 3 for a volume (depth, row, column)
    spatial: int = 2

    @classmethod
    def of(cls, derivation: Derivation, decimals: int | None = None) -> Settings:
        return cls(derivation.notation, derivation.compact, derivation.largest_index, decimals,
                   derivation.one_channel, derivation.one_filter, derivation.fractions,
                   derivation.one_row, derivation.spatial)

    @property
    def subscripts(self) -> bool:
        """1-based single-digit indices print as subscripts (X₁₁), else as X(0,0)."""
        return self.notation.index_base == 1 and self.largest_index <= 9


def _base_name(role: str, notation: Notation) -> str:
    source = symbol(role).letter
    if source.startswith("="):
        return source[1:]
    name: str = getattr(notation, source, role)
    return name


#: the leading axes of each kind of index, before the row and column
_LEADING = {"input": ("channel",), "filter": ("filter", "channel"), "bias": ("filter",),
            "output": ("filter",)}


def shown_index(role: str, index: tuple[int | str, ...],
                settings: Settings) -> tuple[int | str, ...]:
    """The indices a symbol is printed with: compact layers drop channel and filter,
    and any layer the axes of length one (one filter: K(c,m,n)).

    Numbers are shifted to the notation's base; letters stay as they are.
    """
    kind = symbol(role).index
    if kind == "none":
        return ()
    if settings.compact:
        index = () if kind == "bias" else index[-settings.spatial:]
    else:
        single = {"channel": settings.one_channel, "filter": settings.one_filter}
        axes = _LEADING[kind]
        index = (*(i for axis, i in zip(axes, index, strict=False) if not single[axis]),
                 *index[len(axes):])
    if settings.one_row and kind != "bias" and len(index) >= 2:
        index = (*index[:-2], index[-1])
    base = settings.notation.index_base
    return tuple(i + base if isinstance(i, int) else i for i in index)


def _children(node: Expr) -> tuple[Expr, ...]:
    """The expressions directly inside an expression."""
    if isinstance(node, Add):
        return node.terms
    if isinstance(node, Mul):
        return node.factors
    if isinstance(node, Call):
        return node.args
    if isinstance(node, Sub | Div):
        return (node.left, node.right)
    if isinstance(node, Pow):
        return (node.base,)
    if isinstance(node, Group | Floor | Ceil | Sigma | Image):
        return (node.body,)
    if isinstance(node, Partial):
        return (node.of, node.by)
    return ()


class ExprPrinter:
    """Shared dispatch and number rules; subclasses give the symbols of a format."""

    minus = "-"
    times = "×"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._cache: dict[int, tuple[Expr, str]] = {}
        self._operands: dict[tuple[int, str], str] = {}
        #: the text of a symbol or number as a factor, by the node's id (the node
        #: is kept in ``_cache``, so its id cannot be reused meanwhile)
        self._factors: dict[int, str] = {}
        #: the text of each value printed as a result
        self._values: dict[Fraction, str] = {}
        #: the ``_print_<Type>`` method of each type of node
        self._methods: dict[type, Callable[[Any], str]] = {}

    def doprint(self, node: Expr) -> str:
        if isinstance(node, Sym | Num):  # interned: worth caching
            cached = self._cache.get(id(node))
            if cached is None:
                # the node is kept with its text, so its id cannot be reused meanwhile
                cached = (node, self._method(type(node))(node))
                self._cache[id(node)] = cached
            return cached[1]
        method = self._methods.get(type(node)) or self._method(type(node))
        return method(node)

    def _method(self, kind: type) -> Callable[[Any], str]:
        method: Callable[[Any], str] = getattr(self, f"_print_{kind.__name__}")
        self._methods[kind] = method
        return method

    # numbers -------------------------------------------------------------
    def is_rounded(self, node: Num) -> bool:
        """Whether a number prints rounded: a float approximation, or a value with
        no finite decimal under ``decimals``."""
        return node.approximate or (self.settings.decimals is not None
                                    and not terminates(node.value))

    def shows_rounded(self, node: Expr) -> bool:
        """Whether an expression shows a rounded number anywhere in it."""
        stack: list[Expr] = [node]
        while stack:
            item = stack.pop()
            if isinstance(item, Num):
                if self.is_rounded(item):
                    return True
            else:
                stack.extend(_children(item))
        return False

    def as_fraction(self, value: Fraction) -> bool:
        """Whether an exact value prints as a fraction: one with no finite decimal
        (unless ``decimals`` rounds it), or any non-integer of a problem written in
        fractions.

        >>> ExprPrinter(Settings()).as_fraction(Fraction(1, 3))
        True
        """
        if self.settings.decimals is not None:
            return False
        return not terminates(value) or (self.settings.fractions and value.denominator != 1)

    def number(self, value: Fraction) -> str:
        """An operand: exact decimal, fraction, or rounded under ``decimals``."""
        if self.as_fraction(value):
            return self.fraction(value)
        if terminates(value):
            return self.signed(exact_decimal(value))
        return self.signed(round_places(value, self.settings.decimals or 0))

    def signed(self, text: str) -> str:
        return self.minus + text[1:] if text.startswith("-") else text

    def fraction(self, value: Fraction) -> str:
        return self.signed(f"{value.numerator}/{value.denominator}")

    def approx(self, text: str) -> str:
        return f"≈ {text}"

    def value(self, value: Fraction) -> str:
        """A result: exact, or a fraction with its rounded decimal beside it."""
        text = self._values.get(value)
        if text is None:
            text = self._values[value] = self._value(value)
        return text

    def _value(self, value: Fraction) -> str:
        if terminates(value):
            if self.as_fraction(value):
                return self.fraction(value)
            return self.signed(exact_decimal(value))
        if self.settings.decimals is not None:
            return self.approx(self.signed(round_places(value, self.settings.decimals)))
        approx = self.approx(self.signed(approximate(value, APPROX_DIGITS)))
        return f"{self.fraction(value)} {approx}"

    def cell(self, value: Fraction | Expr, approximate: bool = False,
             filler: bool = False) -> str:
        """A matrix entry: a value, or an expression in a symbolic matrix. A
        ``filler`` (padding or an inserted zero) is exact even in an
        ``approximate`` matrix, and prints plainly."""
        if not isinstance(value, Fraction):
            return self.doprint(value)
        if approximate and not filler:
            return f"{self.approximately} {self.signed(significant(value, FLOAT_DIGITS))}"
        return self.value(value)

    equals, approximately = "=", "≈"

    def result(self, value: Fraction, approximate: bool = False) -> tuple[str, str]:
        """The relation and the value that close an equation: ``= 0.3``, or
        ``≈ 0.333`` when ``decimals`` rounds a value with no finite decimal,
        or ``≈ 0.832018`` for a float approximation."""
        if approximate:
            return self.approximately, self.signed(significant(value, FLOAT_DIGITS))
        if self.settings.decimals is not None and not terminates(value):
            return self.approximately, self.signed(round_places(value, self.settings.decimals))
        return self.equals, self.value(value)

    def forms(self, block: Equation) -> list[tuple[str, list[str]]]:
        """The relation and the printed terms of each form of an equation, its
        value last.

        A form that shows a rounded number only approximates the left-hand side:
        from it on every relation is ≈, the value's included. Only an equation
        of float approximations, or one printed under ``decimals``, can show one.
        """
        out: list[tuple[str, list[str]]] = []
        rounded = False
        look = block.approximate or self.settings.decimals is not None
        for form in block.forms:
            rounded = rounded or (look and self.shows_rounded(form))
            out.append((self.approximately if rounded else self.equals, self.terms(form)))
        if block.value is not None:
            relation, value = self.result(block.value, block.approximate)
            out.append((self.approximately if rounded else relation, [value]))
        return out

    def needs_parens(self, node: Expr, context: str) -> bool:
        """Negative numbers inside products, sums and differences; sums inside products."""
        if isinstance(node, Num):
            negative = node.value < 0
            # a float approximation prints as a decimal, never as a fraction
            fraction = not node.approximate and self.as_fraction(node.value)
            if context == "first":
                return False
            if context in ("factor", "base"):
                return negative or fraction
            return negative
        if isinstance(node, Add | Sub):
            return context in ("factor", "base", "right")
        return False

    def operand(self, node: Expr, context: str) -> str:
        if isinstance(node, Sym | Num):  # interned leaves: cache per context
            key = (id(node), context)
            text = self._operands.get(key)
            if text is None:
                text = self.doprint(node)  # caches the node itself
                if self.needs_parens(node, context):
                    text = self.paren(text)
                self._operands[key] = text
            return text
        text = self.doprint(node)
        return self.paren(text) if self.needs_parens(node, context) else text

    def paren(self, text: str) -> str:
        return f"({text})"

    open_square, close_square = "[", "]"

    def terms(self, node: Expr) -> list[str]:
        """The printed terms of a sum, to break long lines at ``+``.

        A sum in square brackets after a factor, as in the loss
        ``(1/4)×[a + b + …]``, is split inside its brackets; anything else is
        one item.
        """
        if isinstance(node, Add) and node.terms:
            out: list[str] = []
            for k, term in enumerate(node.terms):
                if isinstance(term, Group) and isinstance(term.body, Add) and term.body.terms:
                    # a sum of bracketed sums (one per channel) breaks inside its brackets
                    inner = self.terms(term.body)
                    opening, closing = ((self.open_square, self.close_square) if term.square
                                        else ("(", ")"))
                    inner[0] = opening + inner[0]
                    inner[-1] += closing
                    out += inner
                elif type(term) is Mul:  # a product needs no brackets in a sum
                    out.append(self._print_Mul(term))
                else:
                    out.append(self.operand(term, "term" if k else "first"))
            return out
        last = node.factors[-1] if isinstance(node, Mul) and node.factors else None
        if isinstance(node, Mul) and isinstance(last, Group) and last.square:
            inner = self.terms(last.body)
            head = "".join(self.operand(f, "factor") + self.times for f in node.factors[:-1])
            inner[0] = head + self.open_square + inner[0]
            inner[-1] += self.close_square
            return inner
        return [self.doprint(node)]

    # structure -----------------------------------------------------------
    def _print_Num(self, node: Num) -> str:
        if node.approximate:
            return self.signed(significant(node.value, FLOAT_DIGITS))
        return self.number(node.value)

    def _print_Add(self, node: Add) -> str:
        return " + ".join(self.terms(node)) if node.terms else "0"

    def _print_Sub(self, node: Sub) -> str:
        left, right = self.operand(node.left, "first"), self.operand(node.right, "right")
        return f"{left} {self.minus} {right}"

    def _print_Mul(self, node: Mul) -> str:
        known = self._factors
        if len(node.factors) == 2:  # most products: both factors known
            left, right = node.factors
            first, second = known.get(id(left)), known.get(id(right))
            if first is not None and second is not None:
                return first + self.times + second
        texts = []
        for factor in node.factors:
            text = known.get(id(factor))
            if text is None:
                text = self.operand(factor, "factor")
                if isinstance(factor, Sym | Num):  # interned leaves, kept in _cache
                    known[id(factor)] = text
            texts.append(text)
        return self.times.join(texts)

    def _print_Group(self, node: Group) -> str:
        body = node.body
        if isinstance(body, Sub):  # tight, as courses write (1.6−1)
            inner = (f"{self.operand(body.left, 'first')}{self.minus}"
                     f"{self.operand(body.right, 'right')}")
        else:
            inner = self.doprint(body)
        if node.square:
            return f"{self.open_square}{inner}{self.close_square}"
        return f"({inner})"

    #: how the format spells each operation of a Call (the op itself where absent)
    operations: ClassVar[dict[str, str]] = {
        "full_conv": "full conv", "full_corr": "full corr", "relu": "ReLU",
        "leaky_relu": "LeakyReLU", "sigmoid": "σ",
    }
    prime = "′"

    def _print_Call(self, node: Call) -> str:
        name = self.operations.get(node.op, node.op) + (self.prime if node.prime else "")
        return f"{name}({', '.join(self.doprint(a) for a in node.args)})"

    def formula(self, parts: Sequence[Expr | Token]) -> str:
        """A formula of a sentence (:class:`~cnnstep.render.prose.Formula`): its
        expressions printed, its formula text as written."""
        return "".join(part.text if isinstance(part, Token) else self.doprint(part)
                       for part in parts)


class NotationPrinter(ExprPrinter):
    """Symbols in the problem's notation; a subclass spells names, indices and marks."""

    #: the sign of a partial derivative, as in ∂L/∂X
    partial: ClassVar[str]
    learning_rate: ClassVar[str]
    #: the format's words for the marks of a symbol (pad, new, spread, padded)
    marks: ClassVar[dict[str, str]]

    def name(self, text: str) -> str:
        return text

    def base(self, role: str) -> str:
        return self.name(_base_name(role, self.settings.notation))

    def indexed(self, base: str, index: tuple[int | str, ...], mark: str | None = None) -> str:
        raise NotImplementedError

    def gradient(self, of: str) -> str:
        """∂L/∂ of what is given."""
        return f"{self.partial}{self.name(self.settings.notation.loss)}/{self.partial}{of}"

    def marked(self, text: str, mark: str) -> str:
        """A whole expression with a mark on it, as the zero-inserted gradient."""
        raise NotImplementedError

    def _print_Sym(self, node: Sym) -> str:
        role = node.role
        if role == "learning_rate":
            return self.learning_rate
        index = shown_index(role, node.index, self.settings)
        written = symbol(role)
        entry = self.indexed(self.base(role), index, written.mark)
        return self.gradient(entry) if written.gradient else entry

    def image_number(self, image: int | str) -> str:
        """An image of a batch as printed: numbered from the notation's base."""
        return str(image + self.settings.notation.index_base if isinstance(image, int)
                   else image)

    def imaged(self, text: str, image: str) -> str:
        """A symbol marked with its image: K⁽¹⁾."""
        raise NotImplementedError

    def _print_Image(self, node: Image) -> str:
        body = node.body
        image = self.image_number(node.image)
        role = body.role if isinstance(body, Sym | Whole) else None
        if role is not None and symbol(role).gradient:  # ∂L/∂K⁽¹⁾: the mark on K
            index = shown_index(role, body.index, self.settings) if isinstance(body, Sym) else ()
            written = symbol(role)
            inner = self.imaged(self.indexed(self.base(role), index, written.mark), image)
            text = self.gradient(inner)
            return text if isinstance(body, Sym) or written.outer is None else self.marked(
                text, written.outer)
        return self.imaged(self.operand(body, "base"), image)

    def _print_Whole(self, node: Whole) -> str:
        written = symbol(node.role)
        text = self.indexed(self.base(node.role), (), written.mark)
        if written.gradient:
            text = self.gradient(text)
        return text if written.outer is None else self.marked(text, written.outer)

    def _print_Name(self, node: Name) -> str:
        return self.name(node.text)

    def _print_Ratio(self, node: Ratio) -> str:
        return f"({node.numerator}/{node.denominator})"

    def _print_Partial(self, node: Partial) -> str:
        return f"{self.partial}{self.doprint(node.of)}/{self.partial}{self.doprint(node.by)}"


class TextPrinter(NotationPrinter):
    """Plain Unicode for the terminal: X₁₁, ∂L/∂Z₁₁, 2×(−0.25)."""

    minus = "−"
    partial = "∂"
    learning_rate = "α"
    marks: ClassVar[dict[str, str]] = {
        "pad": "pad", "new": "new", "spread": "zero-inserted", "padded": "padded",
        "final": "final",
    }
    _SUB = str.maketrans("0123456789ijmn", "₀₁₂₃₄₅₆₇₈₉ᵢⱼₘₙ")

    def indexed(self, base: str, index: tuple[int | str, ...], mark: str | None = None) -> str:
        word = self.marks[mark] if mark else ""
        if not index:
            return base + word
        # an index such as i·s + m or l has no subscript letters: it is written X(i·s + m)
        plain = all(isinstance(i, int) or i in "ijmn" for i in index)
        if self.settings.subscripts and self.settings.compact and plain:
            return base + "".join(str(i) for i in index).translate(self._SUB) + word
        return f"{base}({','.join(str(i) for i in index)})" + word

    def marked(self, text: str, mark: str) -> str:
        return f"{text} ({self.marks[mark]})"

    def imaged(self, text: str, image: str) -> str:
        raised = image.translate(str.maketrans("0123456789n", "⁰¹²³⁴⁵⁶⁷⁸⁹ⁿ"))
        return f"{text}⁽{raised}⁾"

    def _print_Pow(self, node: Pow) -> str:
        exponent = str(node.exponent).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))
        return self.operand(node.base, "base") + exponent

    def _print_Floor(self, node: Floor) -> str:
        return f"⌊{self.doprint(node.body)}⌋"

    def _print_Div(self, node: Div) -> str:
        return f"{self.operand(node.left, 'factor')}/{self.operand(node.right, 'factor')}"

    def _print_More(self, node: More) -> str:
        return f"… ({node.count} more) …"

    def _print_Ceil(self, node: Ceil) -> str:
        return f"⌈{self.doprint(node.body)}⌉"

    def _print_Infinity(self, node: Infinity) -> str:
        return "−∞" if node.negative else "+∞"

    def _print_Sigma(self, node: Sigma) -> str:
        return f"Σ{node.indices.translate(self._SUB)} {self.doprint(node.body)}"


#: Greek letters a notation may use, as LaTeX math commands
GREEK = {
    letter: "\\" + name for letter, name in zip(GREEK_LETTERS, [
        "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota",
        "kappa", "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi",
        "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma",
        "Upsilon", "Phi", "Psi", "Omega",
    ], strict=True)
}

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&",
    "#": r"\#", "^": r"\^{}", "_": r"\_", "%": r"\%", "~": r"\~{}",
    # the default (OT1) text font has no < > |: they would print as ¡ ¿ —
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
}


def latex_escape(text: str) -> str:
    """Text safe inside LaTeX (outside math or inside \\text{})."""
    out = "".join(_LATEX_SPECIAL.get(ch, f"${GREEK[ch]}$" if ch in GREEK else ch)
                  for ch in text)
    for unicode, command in (("×", r"$\times$"), ("−", "$-$"), ("°", r"$^\circ$"),
                             ("≈", r"$\approx$"), ("…", r"\dots{}"), ("⌊", r"$\lfloor$"),
                             ("⌋", r"$\rfloor$"), ("α", r"$\alpha$"), ("∂", r"$\partial$"),
                             ("⊙", r"$\odot$"), ("′", r"$'$"), ("≤", r"$\le$"),
                             ("≥", r"$\ge$"), ("≠", r"$\neq$"), ("²", r"$^2$"),
                             ("·", r"$\cdot$"), ("Σ", r"$\Sigma$"), ("∞", r"$\infty$"),
                             ("⌈", r"$\lceil$"), ("⌉", r"$\rceil$")):
        out = out.replace(unicode, command)
    return out


class LatexPrinter(NotationPrinter):
    """LaTeX math: X_{11}, \\partial L/\\partial Z_{11}, 2 \\times (-0.25)."""

    times = r" \times "
    # \bigl and \bigr, unlike \left and \right, may stand on different lines
    open_square, close_square = r"\bigl[", r"\bigr]"
    partial = r"\partial "
    learning_rate = r"\alpha"
    marks: ClassVar[dict[str, str]] = {
        "pad": r"\text{pad}", "new": r"\text{new}", "spread": r"\text{spread}",
        "padded": r"\text{pad}", "final": r"\text{final}",
    }

    def name(self, text: str) -> str:
        if len(text) == 1 and text.isalpha() and text.isascii():
            return text
        if all(ch in GREEK for ch in text):
            return " ".join(GREEK[ch] for ch in text)
        return r"\text{" + latex_escape(text) + "}"

    def indexed(self, base: str, index: tuple[int | str, ...], mark: str | None = None) -> str:
        decoration = self.marks[mark] if mark else ""
        if not index:
            return base + (f"_{{{decoration}}}" if decoration else "")
        digits = [str(i).replace("·", r"\cdot ").replace("−", "-") for i in index]
        if self.settings.subscripts:
            # an index such as i·s + a is set apart by commas
            run = self.settings.compact and all(len(str(i)) == 1 for i in index)
            inner = "".join(digits) if run else ",".join(digits)
            sub = f"_{{{inner}}}"
            return base + sub + (f"^{{{decoration}}}" if decoration else "")
        return f"{base}({','.join(digits)})" + (f"_{{{decoration}}}" if decoration else "")

    def marked(self, text: str, mark: str) -> str:
        return rf"\left({text}\right)_{{{self.marks[mark]}}}"

    def imaged(self, text: str, image: str) -> str:
        return f"{{{text}}}^{{({image})}}"

    def fraction(self, value: Fraction) -> str:
        sign = "-" if value < 0 else ""
        return rf"{sign}\tfrac{{{abs(value.numerator)}}}{{{value.denominator}}}"

    approximately = r"\approx"

    def approx(self, text: str) -> str:
        return rf"\approx {text}"

    def _print_Pow(self, node: Pow) -> str:
        return f"{self.operand(node.base, 'base')}^{{{node.exponent}}}"

    def _print_Name(self, node: Name) -> str:
        """``H_in`` as H with the subscript "in"."""
        base, _, sub = node.text.partition("_")
        return self.name(base) + (f"_{{{self.name(sub)}}}" if sub and base else "")

    def _print_Floor(self, node: Floor) -> str:
        return rf"\left\lfloor {self.doprint(node.body)} \right\rfloor"

    def _print_Div(self, node: Div) -> str:
        return rf"\frac{{{self.doprint(node.left)}}}{{{self.doprint(node.right)}}}"

    def _print_More(self, node: More) -> str:
        return rf"\dots\ (\text{{{node.count} more}})\ \dots"

    def _print_Ceil(self, node: Ceil) -> str:
        return rf"\left\lceil {self.doprint(node.body)} \right\rceil"

    def _print_Infinity(self, node: Infinity) -> str:
        return r"-\infty" if node.negative else r"+\infty"

    def _print_Sigma(self, node: Sigma) -> str:
        return rf"\sum_{{{node.indices}}} {self.doprint(node.body)}"

    operations: ClassVar[dict[str, str]] = {
        "rot180": r"\operatorname{rot}_{180^\circ}", "full_conv": r"\operatorname{full\ conv}",
        "full_corr": r"\operatorname{full\ corr}", "corr": r"\operatorname{corr}",
        "conv": r"\operatorname{conv}", "sum": r"\operatorname{sum}",
        "relu": r"\operatorname{ReLU}", "leaky_relu": r"\operatorname{LeakyReLU}",
        "sigmoid": r"\sigma", "tanh": r"\tanh", "max": r"\max", "min": r"\min",
        "mean": r"\operatorname{mean}",
    }
    prime = "'"

    #: the functions a formula in words names (``ReLU(z) = max(0, z)``)
    functions: ClassVar[dict[str, str]] = {
        "ReLU": r"\operatorname{ReLU}", "LeakyReLU": r"\operatorname{LeakyReLU}",
        "max": r"\max", "min": r"\min", "mean": r"\operatorname{mean}",
        "sum": r"\operatorname{sum}", "tanh": r"\tanh", "exp": r"\exp", "log": r"\log",
        "conv": r"\operatorname{conv}", "rot180": r"\operatorname{rot}_{180^\circ}",
        "sigmoid": r"\sigma", "softmax": r"\operatorname{softmax}",
    }
    #: the signs of formula text, each with the space that ends a command
    signs: ClassVar[dict[str, str]] = {
        "×": r"\times ", "⊙": r"\odot ", "−": "-", "·": r"\cdot ", "≈": r"\approx ",
        "≤": r"\le ", "≥": r"\ge ", "≠": r"\neq ", "²": "^{2}", "³": "^{3}",
        "∞": r"\infty ",
    }
    _SUBSCRIPTS = str.maketrans("₀₁₂₃₄₅₆₇₈₉ᵢⱼₘₙ", "0123456789ijmn")

    def formula_name(self, text: str) -> str:
        """A name of formula text: ``ReLU′`` → ``\\operatorname{ReLU}'``, ``A₁₂`` → ``A_{12}``."""
        base = text.rstrip("′₀₁₂₃₄₅₆₇₈₉ᵢⱼₘₙ")
        rest = text[len(base):]
        primes, subscript = rest.count("′"), rest.replace("′", "")
        out = self.functions.get(base) or self.name(base)
        out += "'" * primes
        if subscript:
            out += "_{" + subscript.translate(self._SUBSCRIPTS) + "}"
        return out

    def formula(self, parts: Sequence[Expr | Token]) -> str:
        """A formula of a sentence in LaTeX math; ``^(…)`` becomes ``^{…}``."""
        out: list[str] = []
        #: for each open bracket, whether it opened an exponent
        exponents: list[bool] = []
        caret = False
        for part in parts:
            if not isinstance(part, Token):
                text = self.doprint(part)
                out.append("{" + text + "}" if caret else text)
                caret = False
                continue
            kind, text = part
            if kind == "open":
                exponents.append(caret)
                out.append("{" if caret else text)
            elif kind == "close":
                out.append("}" if exponents and exponents.pop() else text)
            elif kind == "op" and text == "^":
                out.append("^")
                caret = True
                continue
            elif kind == "name":
                name = self.formula_name(text)
                out.append("{" + name + "}" if caret else name)
            elif kind == "partial":
                out.append(self.partial + self.name(text[1:]))
            elif kind == "space":
                out.append(" ")
            else:
                sign = self.signs.get(text, latex_escape(text) if kind == "punct" else text)
                out.append("{" + sign.strip() + "}" if caret else sign)
            caret = False
        return re.sub(" {2,}", " ", "".join(out)).strip()


class SympyPrinter(ExprPrinter):
    """SymPy syntax for the JSON result: ``dZ_1_1*K_2_2 + dZ_1_2*K_2_1``.

    Names follow the result format, 1-based whatever the notation: ``X_i_j``,
    ``K_m_n``, ``B``, ``dZ_i_j`` for one channel and one filter, else
    ``X_c_i_j``, ``K_f_c_m_n``, ``B_f``, ``dZ_f_i_j``; a 1-D layer's symbols
    leave out the row (``X_i``, ``K_f_c_m``); a 3-D layer's carry depth, row and
    column (``X_d_i_j``, ``K_f_c_a_b_e``).
    """

    times = "*"
    _NAMES: ClassVar[dict[str, str]] = {
        "input": "X", "filter": "K", "bias": "B", "grad_output": "dZ", "output": "Z",
    }

    def __init__(self, compact: bool, one_row: bool = False, spatial: int = 2) -> None:
        super().__init__(Settings(compact=compact, one_row=one_row, spatial=spatial))

    def _print_Sym(self, node: Sym) -> str:
        name = self._NAMES[node.role]
        index = [i for i in node.index if isinstance(i, int)]
        if self.settings.compact:
            index = [] if node.role == "bias" else index[-self.settings.spatial:]
        if self.settings.one_row and node.role != "bias" and len(index) >= 2:
            del index[-2]
        return "_".join([name, *(str(i + 1) for i in index)])

    def _print_Image(self, node: Image) -> str:
        """One image's symbol of a batch: the image first, ``X_2_1_1``."""
        assert isinstance(node.body, Sym) and isinstance(node.image, int)
        name, _, rest = self._print_Sym(node.body).partition("_")
        return "_".join([name, str(node.image + 1), *([rest] if rest else [])])

    def fraction(self, value: Fraction) -> str:
        return f"{value.numerator}/{value.denominator}"
