"""The symbolic derivation: the general formulas of a layer, before any number.

As a course first writes Z₁₁ = X₁₁K₁₁ + X₁₂K₁₂ + X₂₁K₂₁ + X₂₂K₂₂ + B and
∂L/∂X₂₂ = ∂L/∂Z₁₁·K₂₂ + … with symbols, this module derives, for any shape,
stride, padding (the same on each side, per side or named), dilation, mode,
groups, channels and filters:

* each output entry as a sum of symbol products over its window,
  Z_fij = Σ_c Σ_m Σ_n Xpad_{g(f)+c, i·sh + m·dh, j·sw + n·dw} · K'_fcmn + B_f, where
  K' is K (rot180(K) in mode "convolution") and g(f) the first channel of
  filter f's group;
* for each weight, input entry and bias the chain rule
  ∂L/∂K_mn = Σ ∂L/∂Z_ij · ∂Z_ij/∂K_mn, its local gradients, and the result,
  naming the output entries an input entry does not affect;
* the closing identities dL/dK = conv(X, dL/dZ) and
  dL/dX = full conv(rot180(K), dL/dZ) (rot180(conv(X, dL/dZ)) and
  full corr(K, dL/dZ) in mode "convolution"; the kernel's taps spread by the
  dilation), each checked entry by entry against the term-by-term result.

Gradients are expressed through the upstream gradient dL/dZ. The derivation
is made of the same nodes as the numeric one, so every renderer prints it; the
JSON result's ``symbolic`` key comes from the same sums.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from fractions import Fraction
from typing import Any, cast

import numpy as np

from cnnstep import budget, engine, geometry
from cnnstep.derivation import (
    DEFAULT_MAX_TERMS,
    Add,
    Block,
    Call,
    Derivation,
    Equation,
    Expr,
    Mul,
    Partial,
    Sigma,
    Step,
    Sym,
    Text,
    Whole,
    transposed,
)
from cnnstep.derivation import shapes as shapes_step
from cnnstep.derivation.batch import batch_title
from cnnstep.derivation.builder import Builder, Detail, Index, Plan, sums
from cnnstep.derivation.numeric import NumericBuilder
from cnnstep.derivation.words import group_words, unaffected
from cnnstep.engine import Solution
from cnnstep.problem import Array, Layer, ProblemError
from cnnstep.quantities import (
    QUANTITIES,
    Quantity,
    Selection,
    full_shape,
    result_name,
    user_shape,
)
from cnnstep.symbolic_batch import batch_formulas, batch_steps, one_image


def refuse_unsupported(layer: Layer, only: Iterable[str] = ()) -> None:
    """The symbolic derivation works out a 1-D or 2-D layer (3-D never reaches it); a
    batch's formulas are worked out whole, without a selection."""
    if layer.layout.batch and tuple(only):
        raise ProblemError("only: --symbolic works out a batch's formulas whole; leave out "
                           "--only, or give one image [C][H][W]")


def convolution(layer: Layer) -> Layer:
    """The layer's convolution alone: the formulas stop at dL/dZ."""
    return replace(layer, activation=None, pool=None)


def formulas(layer: Layer) -> list[Quantity]:
    """The quantities a symbolic derivation gives as formulas (dL/dB with a bias only)."""
    return [q for q in QUANTITIES if q.symbolic and ("bias" not in q.needs or layer.has_bias)]


def builder_for(layer: Layer, plan: Plan, *, answers: bool = False) -> SymbolicBuilder:
    """The symbolic builder of a layer: the scatter sums of a transposed layer, else the
    window sums of an ordinary one."""
    if layer.transposed:
        return TransposedSymbolicBuilder(layer, plan, answers=answers)
    return SymbolicBuilder(layer, plan, answers=answers)


class InternalCheckError(AssertionError):
    """The two routes to a gradient disagree: a bug in cnnstep, never the user's input."""


class SymbolicBuilder(Builder):
    """Steps of the symbolic derivation of a layer."""

    def __init__(self, layer: Layer, plan: Plan, *, answers: bool = False) -> None:
        super().__init__(layer, plan)
        #: the formulas alone: each entry's result, without the chain rule or prose
        self.answers = answers
        self.zero, self.one = self.num(Fraction(0)), self.num(Fraction(1))
        # the padded input with its zeros, for display
        self.x_shown = self.x_sym.copy()
        self.x_shown[self.x_sym == None] = self.zero  # noqa: E711
        #: the kernel as the forward pass reads it: rot180(K) in a true convolution
        self.k_read = engine.forward_kernel(self.k_sym, layer)

    # the sums, shared by the derivation and the JSON result ---------------
    def seen(self, f: int, c: int) -> int:
        """The input channel that channel ``c`` of filter ``f`` reads (its group's block)."""
        return self.layer.channels_of(f)[c]

    def tap(self, m: int, n: int) -> tuple[int, int]:
        """Where weight (m, n) sits in every window: turned by 180° in a true convolution."""
        kh, kw = self.layer.kernel_size
        return (kh - 1 - m, kw - 1 - n) if self.layer.flipped else (m, n)

    def forward_terms(self, f: int, i: int, j: int) -> list[Expr]:
        """Z_fij as X·K products over its window (padding left out), then + B: the
        window's taps d apart, the kernel turned by 180° in a true convolution, the
        channels of the filter's group alone."""
        rows, cols = geometry.conv_slices(self.layer, i, j)
        terms: list[Expr] = []
        for c, channel in enumerate(self.layer.channels_of(f)):
            terms += [Mul((x, k)) for x, k in zip(self.x_sym[channel, rows, cols].flat,
                                                  self.k_read[f, c].flat, strict=True)
                      if x is not None]
        if self.layer.has_bias:
            terms.append(self.sym("bias", (f,)))
        return terms

    def reached(self, f: int, c: int, m: int, n: int) -> Array:
        """The padded-input entries weight K_fcmn multiplies, one per output entry of
        filter f (None for padding)."""
        rows, cols = geometry.reach(self.layer, *self.tap(m, n))
        reached: Array = self.x_sym[self.seen(f, c), rows, cols]
        return reached

    def filter_terms(self, f: int, c: int, m: int, n: int) -> list[tuple[Sym, Sym]]:
        """(∂L/∂Z_fij, X) pairs whose product sums to ∂L/∂K_fcmn."""
        return [(g, x) for g, x in zip(self.g_sym[f].flat, self.reached(f, c, m, n).flat,
                                        strict=True) if x is not None]

    def affecting(self, c: int, a: int, b: int) -> list[tuple[int, int, int, Sym]]:
        """(f, i, j, K) for every output entry Z_fij that input entry X_cab is in the
        window of (filters of its group alone), with the weight that joins them."""
        ph, pw = self.layer.padding
        mine = self.layer.filters_of(c)
        return [(f, i, j, self.k_read[f, c - self.layer.channels_of(f).start, m, n])
                for f, i, j, m, n in geometry.affected(self.layer, a + ph, b + pw)
                if f in mine]

    def input_terms(self, c: int, a: int, b: int) -> list[tuple[Sym, Sym]]:
        """(∂L/∂Z_fij, K_fcmn) pairs whose product sums to ∂L/∂X_cab."""
        return [(self.g_sym[f, i, j], k) for f, i, j, k in self.affecting(c, a, b)]

    def bias_terms(self, f: int) -> list[Sym]:
        return list(self.g_sym[f].flat)

    # each symbolic quantity's formula, as the JSON result gives it
    def formula_conv(self, e: Index) -> Expr:
        return Add(tuple(self.forward_terms(*e)))

    def formula_grad_filter(self, e: Index) -> Expr:
        return Add(tuple(Mul(pair) for pair in self.filter_terms(*e)))

    def formula_grad_bias(self, e: Index) -> Expr:
        return Add(tuple(self.bias_terms(*e)))

    def formula_grad_input(self, e: Index) -> Expr:
        return Add(tuple(Mul(pair) for pair in self.input_terms(*e)))

    def formula(self, key: str, e: Index) -> Expr:
        """The sum that entry ``e`` of quantity ``key`` is, in symbols."""
        made: Expr = getattr(self, f"formula_{key}")(e)
        return made

    # the steps -------------------------------------------------------------
    def build(self, full: frozenset[str] | None = None) -> list[Step]:
        """The steps; under a selection the identities only when ``full`` has them."""
        steps = [self.shapes(), self.symbols(), self.forward(), self.grad_filter()]
        if self.layer.has_bias:
            steps.append(self.grad_bias())
        steps.append(self.grad_input())
        if not self.answers and (full is None or "identities" in full):
            steps.append(self.identities())
        if self.answers:
            steps = [Step(step.key, step.title, tuple(
                Equation(block.lhs, block.forms[-1:], block.value, block.entry)
                for block in step.blocks if isinstance(block, Equation) and block.entry))
                for step in steps]
        return [step for step in steps if step.blocks]

    def shapes(self) -> Step:
        return shapes_step.step(self)

    def symbols(self) -> Step:
        layer = self.layer
        label: tuple[str | Expr, ...] = (Whole("padded_input") if layer.padded
                                         else Whole("input"),)
        return Step("symbols", "The layer in symbols", tuple(self.explain(
            Text((
                "Every entry of the input, the kernel and the upstream gradient is a symbol"
                + (" (the input with its padding zeros)" if layer.padded else "") + ":",
            )),
            self.matrices(label, self.x_shown, "input", border=layer.padding,
                          border_end=layer.padding_end),
            self.matrices((Whole("filter"),), self.k_sym, "filter"),
            self.matrices((Whole("grad_output"),), self.g_sym, "output"),
        )))

    def forward(self) -> Step:
        def equation(e: Index) -> Equation:
            return Equation(self.sym("output", e),
                            sums(self.forward_terms(*e)) or (self.zero,), None, ("output", e))

        return Step("forward", "Forward pass in symbols", (
            *self.explain(*self.forward_notes()),
            *self.work_out("output", equation, "output entries"),
        ))

    def forward_notes(self) -> list[Text]:
        """What a dilated kernel, a true convolution and groups change in each window."""
        layer = self.layer
        notes = []
        if layer.dilation != (1, 1):
            span = self.axes(layer.effective_kernel)
            notes.append(Text((
                f"The kernel is dilated by {self.axes(layer.dilation)}: its taps are "
                + ("that many entries apart, so each window spans "
                   if layer.layout.one_row else
                   "that many rows and columns apart, so each window spans ")
                + f"{span}{' entries' if layer.layout.one_row else ''} and reads only the "
                "entries under the taps.",
            )))
        if layer.flipped:
            notes.append(Text((
                'Mode "convolution": each window is multiplied by ',
                Call("rot180", (Whole("filter"),)),
                ", so the kernel's last weight meets the window's first entry.",
            )))
        if layer.groups > 1:
            notes.append(Text((
                *group_words(layer), ". Each filter's sum runs over its group's channels "
                "only.",
            )))
        return notes

    def letters(self, role: str) -> tuple[str, ...]:
        """The letters of a general entry of ``role``: Z_fij, K_fcmn, X_cmn, B_f (a
        1-D layer's symbols carry no row, so its row letter is never printed)."""
        letters = {"output": ("f", "i", "j"), "filter": ("f", "c", "m", "n"),
                   "input": ("c", "m", "n"), "bias": ("f",)}[role]
        if self.layer.layout.one_row and role != "bias":
            letters = (*letters[:-2], "", letters[-2])
        return letters

    def general(self, by: str) -> Expr:
        """Σ_ij ∂L/∂Z_ij · ∂Z_ij/∂(by), written with letters (Σ_i ∂L/∂Z_i · ∂Z_i/∂K_m
        in 1-D)."""
        over = "i" if self.layer.layout.one_row else "i,j"
        z = Sym("output", self.letters("output"))
        return Sigma("f," + over if by == "input" and self.layer.filters > 1 else over,
                     Mul((Sym("grad_output", self.letters("output")),
                          Partial(z, Sym(by, self.letters(by))))))

    def grad_filter(self) -> Step:
        ow = self.layer.output_size[1]

        def worked(e: Index) -> list[Block]:
            f, c, m, n = e
            weight = self.sym("filter", e)
            chain: list[Expr] = []
            local: list[str | Expr] = ["Local gradients: "]
            for k, (g, x) in enumerate(zip(self.g_sym[f].flat, self.reached(f, c, m, n).flat,
                                           strict=True)):
                i, j = divmod(k, ow)
                z = self.sym("output", (f, i, j))
                chain.append(Mul((g, Partial(z, weight))))
                local += [", " if k else "", Partial(z, weight), " = ",
                          x if x is not None else self.zero]
                if x is None:
                    local.append(" (padding)")
            local.append(".")
            result = [Mul(pair) for pair in self.filter_terms(f, c, m, n)]
            return [Text(tuple(local)),
                    Equation(self.sym("grad_filter", e), (Add(tuple(chain)), *sums(result)),
                             None, ("grad_filter", e))]

        return Step("grad_filter", "Gradient with respect to the kernel, in symbols", (
            *self.explain(Text((
                "Each weight is used at every window position, so by the chain rule its "
                "gradient collects a term from every output entry of its filter: ",
                Sym("grad_filter", self.letters("filter")), " = ", self.general("filter"),
                ".",
            ))),
            *self.work_out("grad_filter", worked, "weights"),
        ))

    def grad_bias(self) -> Step:
        oh, ow = self.layer.output_size

        def equation(e: Index) -> Equation:
            (f,) = e
            bias = self.sym("bias", e)
            chain = [Mul((self.g_sym[f, i, j], Partial(self.sym("output", (f, i, j)), bias)))
                     for i, j in np.ndindex(oh, ow)]
            ones = [Mul((g, self.one)) for g in self.g_sym[f].flat]
            return Equation(self.sym("grad_bias", e),
                            (Add(tuple(chain)), Add(tuple(ones)), Add(tuple(self.bias_terms(f)))),
                            None, ("grad_bias", e))

        return Step("grad_bias", "Gradient with respect to the bias, in symbols", (
            *self.explain(Text((
                "The bias is added to every output entry of its filter, so every local "
                "gradient ∂Z/∂B is 1: ", Whole("grad_bias"), " = ",
                Call("sum", (Whole("grad_output"),)), ".",
            ))),
            *self.work_out("grad_bias", equation, "biases"),
        ))

    def grad_input(self) -> Step:
        outputs = list(np.ndindex(*self.layer.output_shape))

        def worked(e: Index) -> list[Block]:
            c, a, b = e
            x = self.sym("input", e)
            affecting = self.affecting(c, a, b)
            hit = {(f, i, j) for f, i, j, _ in affecting}
            chain = [Mul((self.g_sym[f, i, j], Partial(self.sym("output", (f, i, j)), x)))
                     for f, i, j, _ in affecting]
            result = [Mul(pair) for pair in self.input_terms(c, a, b)]
            missed = [self.sym("output", o) for o in outputs if o not in hit]
            blocks: list[Block] = []
            if missed:
                blocks.append(unaffected(x, missed))
            # an entry no window reads has no terms: its gradient is 0
            blocks.append(Equation(self.sym("grad_input", e),
                                   (*sums(chain), *sums(result)) or (self.zero,), None,
                                   ("grad_input", e)))
            return blocks

        return Step("grad_input", "Gradient with respect to the input, in symbols", (
            *self.explain(Text((
                "An input entry affects only the output entries whose window holds it; for "
                "the others ∂Z/∂X is 0 and their terms vanish.",
            ))),
            *self.work_out("grad_input", worked, "input entries"),
        ))

    def identities(self) -> Step:
        """dL/dK = conv(X, dL/dZ) and dL/dX = full conv(rot180(K), dL/dZ), checked
        (rot180 of the first and K itself in the second for a true convolution; the
        kernel dilated and each filter over its group's channels alone)."""
        layer = self.layer
        spread = self.spread_symbols()
        operand = Whole("spread_grad") if layer.stride != (1, 1) else Whole("grad_output")
        source = Whole("padded_input") if layer.padded else Whole("input")
        kernel_checked = self.check_filter_identity(spread)
        input_checked = self.check_input_identity(spread)
        conv: Expr = Call("conv", (source, operand))
        blocks: list[Block] = [Text((
            Whole("grad_filter"), " = ", Call("rot180", (conv,)) if layer.flipped else conv,
            ": sliding ", operand, " over ", source,
            *((f" in steps of the dilation {self.axes(layer.dilation)}",)
              if layer.dilation != (1, 1) else ()),
            *((" (each filter over its group's channels)",) if layer.groups > 1 else ()),
            *((", then turning the result by 180° (the forward pass read the kernel turned)",)
              if layer.flipped else ()),
            " gives, for "
            + (f"every one of the {kernel_checked} weights" if kernel_checked > 1
               else "the weight")
            + ", exactly the terms found above by the chain rule.",
        ))]
        if layer.stride != (1, 1):
            blocks.append(Text((
                f"With stride {self.axes(layer.stride)}, ", Whole("grad_output"),
                " is first spread apart by zeros between its entries:",
            )))
            blocks += self.matrices((Whole("spread_grad"),), spread, "output",
                                    step=layer.stride)
        eh, ew = layer.effective_kernel
        padded = self.pad_symbols(spread, (eh - 1, ew - 1))
        kernel: Expr = Whole("filter") if layer.flipped else Call("rot180", (Whole("filter"),))
        blocks.append(Text((
            Whole("grad_input"), " = ",
            Call("full_corr" if layer.flipped else "full_conv", (kernel, operand)),
            (": in a true convolution the gradient slides the kernel as it is (the forward "
             "pass already turned it); " if layer.flipped else
             ": reverse the kernel (its 180° rotation), " if layer.layout.one_row else
             ": rotate the kernel by 180°, "),
            *((f"spread its taps {self.axes(layer.dilation)} apart as in the forward pass, ",)
              if layer.dilation != (1, 1) else ()),
            ("pad the gradient with as many zeros as the dilated kernel spans, less one, "
             "and slide; " if layer.dilation != (1, 1) else
             "pad the gradient with kernel − 1 zeros, and slide; ")
            + (f"each of the {input_checked} input entries" if input_checked > 1
               else "the input entry")
            + (" gets, from the filters of its group," if layer.groups > 1 else " gets")
            + " exactly the terms found above.",
        )))
        slid = self.slid_kernel()
        label: tuple[str | Expr, ...] = (kernel,)
        if layer.dilation != (1, 1):
            label = (kernel, f", dilated by {self.axes(layer.dilation)}")
        blocks += self.matrices(label, slid, "filter", step=layer.dilation)
        if (eh, ew) == (1, 1):  # nothing to pad, nothing to show beyond the sums above
            return Step("identities", "The gradients as convolutions", tuple(blocks))
        blocks += self.matrices((Whole("padded_grad"),), padded, "output",
                                border=(eh - 1, ew - 1), step=layer.stride)
        example = self.full_conv_example(padded, slid)
        if example is not None:
            blocks.append(Text(("For example, the window at the top left:",)))
            blocks.append(example)
        return Step("identities", "The gradients as convolutions", tuple(blocks))

    # helpers for the identities ---------------------------------------------
    def axes(self, values: tuple[int, int]) -> str:
        """A stride or a dilation: ``2×2``, or ``2`` along a 1-D layer's one axis."""
        return str(values[1]) if self.layer.layout.one_row else f"{values[0]}×{values[1]}"

    def as_nodes(self, array: Array) -> Array:
        """An engine array of symbols with its inserted zeros as number nodes."""
        out = np.empty(array.shape, dtype=object)
        out.flat[:] = [self.zero if isinstance(v, Fraction) else v for v in array.flat]
        return out

    def spread_symbols(self) -> Array:
        """dL/dZ's symbols spread apart for the stride (:func:`engine.insert_zeros`)."""
        return self.as_nodes(engine.insert_zeros(self.g_sym, self.layer.stride))

    def pad_symbols(self, array: Array, padding: tuple[int, int]) -> Array:
        """Symbols padded with zeros (:func:`engine.pad`)."""
        return self.as_nodes(engine.pad(array, padding))

    def slid_kernel(self) -> Array:
        """The kernel dL/dX slides over the padded gradient: rot180(K) (K itself in a
        true convolution), its taps spread apart by the dilation."""
        turned = engine.backward_kernel(self.k_sym, self.layer)
        return self.as_nodes(engine.insert_zeros(turned, self.layer.dilation))

    def check_filter_identity(self, spread: Array) -> int:
        """conv(Xpad, spread dL/dZ), at steps of the dilation, entry by entry against
        the chain-rule terms (turned by 180° in a true convolution)."""
        rows, cols = spread.shape[-2:]
        dh, dw = self.layer.dilation
        count = 0
        for f, c, m, n in np.ndindex(*self.layer.filter_shape):
            tm, tn = self.tap(m, n)
            window = self.x_sym[self.seen(f, c), tm * dh : tm * dh + rows,
                                tn * dw : tn * dw + cols]
            conv = Counter((g, x) for g, x in zip(spread[f].flat, window.flat, strict=True)
                           if isinstance(g, Sym) and x is not None)
            if conv != Counter(self.filter_terms(f, c, m, n)):
                raise InternalCheckError(f"conv route differs for K{(f, c, m, n)}")
            count += 1
        return count

    def check_input_identity(self, spread: Array) -> int:
        """full conv(rot180(K), spread dL/dZ), cropped, against the chain-rule terms."""
        layer = self.layer
        eh, ew = layer.effective_kernel
        ph, pw = layer.padding
        padded = self.pad_symbols(spread, (eh - 1, ew - 1))
        slid = self.slid_kernel()
        count = 0
        for c, a, b in np.ndindex(*layer.input_shape):
            row, col = a + ph, b + pw
            conv: Counter[tuple[Any, Any]] = Counter()
            if row < padded.shape[1] - eh + 1 and col < padded.shape[2] - ew + 1:
                window = padded[:, row : row + eh, col : col + ew]
                for f in layer.filters_of(c):
                    own = c - layer.channels_of(f).start
                    conv.update((g, k) for g, k in zip(window[f].flat, slid[f, own].flat,
                                                       strict=True)
                                if isinstance(g, Sym) and isinstance(k, Sym))
            if conv != Counter(self.input_terms(c, a, b)):
                raise InternalCheckError(f"full conv route differs for X{(c, a, b)}")
            count += 1
        return count

    def full_conv_example(self, padded: Array, slid: Array) -> Equation | None:
        """The first input entry through the full convolution, zeros and all."""
        layer = self.layer
        eh, ew = layer.effective_kernel
        ph, pw = layer.padding
        if ph >= padded.shape[1] - eh + 1 or pw >= padded.shape[2] - ew + 1:
            return None
        window = padded[:, ph : ph + eh, pw : pw + ew]
        terms: list[Expr] = []
        for f in layer.filters_of(0):
            terms += [Mul((g, k)) for g, k in zip(window[f].flat, slid[f, 0].flat,
                                                  strict=True)]
        result = [Mul(pair) for pair in self.input_terms(0, 0, 0)]
        return Equation(self.sym("grad_input", (0, 0, 0)), (Add(tuple(terms)), *sums(result)),
                        None, None)


class TransposedSymbolicBuilder(SymbolicBuilder):
    """Steps of the symbolic derivation of a transposed convolution.

    Each input entry scatters the kernel into the output,
    Z[f, i·s − p + m·d, j·s − p + n·d] += X[c,i,j]·K[c,f',m,n] (f the f'-th output
    channel of c's group), so each output entry is the sum of the products that
    reach it, then + B_f; ∂L/∂K_cf'mn = Σ_ij X_cij·∂L/∂Z[f, i·s − p + m·d, …] and
    ∂L/∂X_cij = Σ_f' Σ_m Σ_n ∂L/∂Z[f, i·s − p + m·d, …]·K_cf'mn, an ordinary strided
    correlation of dL/dZ (padded by p) with K. Products that land outside the
    output (cropped by the padding) are left out.
    """

    def __init__(self, layer: Layer, plan: Plan, *, answers: bool = False) -> None:
        super().__init__(layer, plan, answers=answers)
        self.x_plain = self.nodes.syms("input", layer.input_shape)
        #: (input index, weight index, output index) of every product that reaches the
        #: output, in the order of the input's entries, then the weight's
        self.products = list(self.scatter())

    def scatter(self) -> Iterable[tuple[Index, Index, Index]]:
        layer = self.layer
        (sh, sw), (ph, pw), (dh, dw) = layer.stride, layer.padding, layer.dilation
        oh, ow = layer.output_size
        for c, i, j in np.ndindex(*layer.input_shape):
            outputs = layer.filters_of(c)
            for fl, m, n in np.ndindex(*layer.filter_shape[1:]):
                y, x = i * sh - ph + m * dh, j * sw - pw + n * dw
                if 0 <= y < oh and 0 <= x < ow:
                    yield (c, i, j), (c, fl, m, n), (outputs[fl], y, x)

    def forward_terms(self, f: int, i: int, j: int) -> list[Expr]:
        terms: list[Expr] = [Mul((self.x_plain[a], self.k_sym[k]))
                             for a, k, z in self.products if z == (f, i, j)]
        if self.layer.has_bias:
            terms.append(self.sym("bias", (f,)))
        return terms

    def filter_terms(self, *e: int) -> list[tuple[Sym, Sym]]:
        return [(self.g_sym[z], self.x_plain[a]) for a, k, z in self.products if k == e]

    def affecting(self, c: int, a: int, b: int) -> list[tuple[int, int, int, Sym]]:
        return [(z[0], z[1], z[2], self.k_sym[k]) for x, k, z in self.products
                if x == (c, a, b)]

    def letters(self, role: str) -> tuple[str, ...]:
        """K_cfmn: a transposed layer's filter is [C][F/groups][kh][kw]."""
        if role == "filter":
            return ("c", "f", "", "n") if self.layer.layout.one_row else ("c", "f", "m", "n")
        return super().letters(role)

    def symbols(self) -> Step:
        return Step("symbols", "The layer in symbols", tuple(self.explain(
            Text(("Every entry of the input, the kernel and the upstream gradient is a "
                  "symbol:",)),
            self.matrices((Whole("input"),), self.x_plain, "input"),
            self.matrices((Whole("filter"),), self.k_sym, "filter"),
            self.matrices((Whole("grad_output"),), self.g_sym, "output"),
        )))

    def forward_notes(self) -> list[Text]:
        one_row = self.layer.layout.one_row
        where = ("Z[f, i·s − p + m·d]", "X[c, i]·K[c, f, m]") if one_row else (
            "Z[f, i·s − p + m·d, j·s − p + n·d]", "X[c, i, j]·K[c, f, m, n]")
        notes = [Text((
            f"A transposed convolution scatters each input entry over the output: {where[0]}"
            f" += {where[1]}. Each output entry is the sum of the products that reach it"
            + (", plus its bias" if self.layer.has_bias else "")
            + "; products that land in the cropped padding are left out.",
        ))]
        if self.layer.groups > 1:
            notes.append(Text(transposed.feeds(self.layer)))
        return notes

    def grad_filter(self) -> Step:
        def worked(e: Index) -> list[Block]:
            weight = self.sym("filter", e)
            pairs = self.filter_terms(*e)
            chain = [Mul((self.g_sym[z], Partial(self.sym("output", z), weight)))
                     for _, k, z in self.products if k == e]
            return [Equation(self.sym("grad_filter", e), (*sums(chain),
                             *sums([Mul(pair) for pair in pairs])) or (self.zero,), None,
                             ("grad_filter", e))]

        return Step("grad_filter", "Gradient with respect to the kernel, in symbols", (
            *self.explain(Text((
                "Each weight multiplies every entry of its input channel once, and each "
                "product lands in one output entry, so by the chain rule its gradient "
                "collects, for every product that lands in the output, that input entry "
                "times the upstream gradient where it lands.",
            ))),
            *self.work_out("grad_filter", worked, "weights"),
        ))

    def grad_input(self) -> Step:
        step = super().grad_input()
        note = self.explain(Text((
            "An input entry affects only the output entries its products land in; for the "
            "others ∂Z/∂X is 0 and their terms vanish. ",
            "Gathered per input entry, these sums are an ordinary strided correlation: ",
            Whole("grad_input"), " = ", Call("corr", (Whole("grad_output"), Whole("filter"))),
            f" with stride {self.axes(self.layer.stride)}, padding "
            f"{self.axes(self.layer.padding)} and dilation {self.axes(self.layer.dilation)}"
            ", each input channel against the output channels it feeds.",
        )))
        rest = step.blocks[1:] if self.plan.detail != "answers" else step.blocks
        return Step(step.key, step.title, (*note, *rest))

    def identities(self) -> Step:
        """The gradients were read off the scatter sums directly: nothing more to check."""
        return Step("identities", "The gradients as convolutions", ())

    def shapes(self) -> Step:
        return transposed.shapes(cast(NumericBuilder, self))


#: the steps of a symbolic derivation, in order
SYMBOLIC_STEPS = ("shapes", "symbols", "forward", "grad_filter", "grad_bias", "grad_input",
                  "identities")


def derive_symbolic(layer: Layer, *, max_terms: int = DEFAULT_MAX_TERMS,
                    only: Iterable[str] = (), detail: Detail = "full",
                    max_work: int | None = None) -> Derivation:
    """The symbolic derivation of a layer (``max_terms``, ``only``, ``detail`` and
    ``max_work`` as in ``derive``; the answers of a symbolic derivation are the
    formulas alone).

    It covers the convolution: with an activation or a pool after it, the
    formulas stop at dL/dZ, the upstream gradient of the convolution. A
    quantity asked whole is shown with the layer's symbols.
    """
    only = tuple(only)
    refuse_unsupported(layer, only)
    if not only:
        budget.check_derivation(layer, max_terms, max_work, format=None)
    layer = convolution(layer)
    if layer.layout.batch:
        return derive_batch(layer, max_terms, detail)
    available = [result_name(q.key, layer) for q in formulas(layer)]
    selection = Selection.parse(only, layer, available, SYMBOLIC_STEPS) if only else None
    full: frozenset[str] | None = None
    if selection is None:
        plan = Plan(max_terms, detail="full" if detail == "answers" else detail)
    else:
        full = selection.steps | {"forward" if key == result_name("conv", layer) else key
                                  for key in selection.keys}
        full = full | {"shapes", "symbols"} if full else full
        whole = frozenset(key for key in available
                          if ("forward" if key == result_name("conv", layer) else key) in full)
        plan = Plan(max_terms, selection.entries, detail="full" if detail == "answers"
                    else detail, whole_keys=whole)
    builder = builder_for(layer, plan, answers=detail == "answers")
    # each entry's equation has ``forms`` sums of its quantity's terms
    per = {result_name(q.key, layer): q.forms * q.terms(layer)
           for q in formulas(layer) if q.terms is not None}
    shortened = plan.share(per, {key: len(builder.entries(key)) for key in available})
    steps = builder.build(full)
    if selection is not None:
        assert full is not None
        steps = [step if step.key in full else Step(step.key, step.title, tuple(
            block for block in step.blocks if isinstance(block, Equation) and block.entry))
            for step in steps]
    return Derivation(
        title=derivation_title(layer),
        notation=layer.notation,
        compact=layer.compact,
        steps=tuple(step for step in steps if step.blocks),
        largest_index=max(*layer.input_shape, *layer.filter_shape, *layer.output_size)
        - 1 + layer.notation.index_base,
        shortened=shortened,
        one_channel=layer.channels == 1,
        one_filter=layer.filters == 1,
        one_row=layer.layout.one_row,
    )


def derive_batch(layer: Layer, max_terms: int, detail: Detail) -> Derivation:
    """The symbolic derivation of a batch (:mod:`cnnstep.symbolic_batch`): the term
    budget is shared by the images."""
    images = layer.layout.batch
    one = one_image(layer)
    plan = Plan(max_terms // images if max_terms > 0 else 0,
                detail="full" if detail == "answers" else detail)
    builder = builder_for(one, plan, answers=detail == "answers")
    per = {result_name(q.key, one): q.forms * q.terms(one) for q in formulas(one)
           if q.terms is not None}
    shortened = plan.share(per, {key: len(builder.entries(key)) for key in per})

    def steps() -> dict[str, Step]:
        return {"shapes": builder.shapes(), "symbols": builder.symbols(),
                "forward": builder.forward(), "grad_input": builder.grad_input()}

    made = batch_steps(builder, builder.formula, steps, layer)
    if detail == "answers":
        made = [Step(step.key, step.title, tuple(
            Equation(block.lhs, block.forms[-1:], block.value, block.entry)
            for block in step.blocks if isinstance(block, Equation) and block.entry))
            for step in made]
    return Derivation(
        title=batch_title(derivation_title(layer), images, layer.layout),
        notation=layer.notation,
        compact=layer.compact,
        steps=tuple(step for step in made if step.blocks),
        largest_index=max(images, *layer.input_shape, *layer.filter_shape,
                          *layer.output_size) - 1 + layer.notation.index_base,
        shortened=shortened,
        one_channel=layer.channels == 1,
        one_filter=layer.filters == 1,
        one_row=layer.layout.one_row,
    )


def derivation_title(layer: Layer) -> str:
    return ("Symbolic derivation: one "
            + ("1-D " if layer.layout.one_row else "")
            + ("transposed convolution" if layer.transposed else "convolution") + " layer")


def symbolic_result(layer: Layer, *, max_work: int | None = None) -> dict[str, Any]:
    """The result's ``symbolic`` key: every entry as a string in SymPy syntax.

    Symbols are ``X_i_j``, ``K_m_n``, ``B``, ``dZ_i_j`` (1-based) for one
    channel and one filter, else ``X_c_i_j``, ``K_f_c_m_n``, ``B_f``,
    ``dZ_f_i_j``; each array has the shape of the matching result key (after
    an activation or a pool, the convolution's Z is the key ``conv``).
    Refused before any work over ``max_work`` operations
    (:func:`budget.check_symbolic`; None: the default limit, 0: none).
    """
    budget.check_symbolic(layer, max_work)
    from cnnstep.render.expr import SympyPrinter

    conv = convolution(layer)
    one = one_image(conv)
    builder = builder_for(one, Plan(0, None))
    printer = SympyPrinter(conv.compact, one_row=conv.layout.one_row)
    out: dict[str, Any] = {}
    for q in formulas(conv):
        shape = full_shape(q.key, one)
        nodes = (batch_formulas(q.key, conv, builder.formula, shape) if conv.layout.batch
                 else None)
        strings = np.empty(shape if nodes is None else nodes.shape, dtype=object)
        for e in np.ndindex(*strings.shape):
            strings[e] = printer.doprint(builder.formula(q.key, e) if nodes is None
                                         else nodes[e])
        shaped = user_shape(q.key, strings, conv.layout)
        out[result_name(q.key, layer)] = shaped.item() if shaped.ndim == 0 else shaped.tolist()
    return out


def derive_both(solution: Solution, *, max_terms: int = DEFAULT_MAX_TERMS,
                only: Iterable[str] = (), detail: Detail = "full",
                max_work: int | None = None) -> Derivation:
    """The givens, the formulas, then the same derivation with the numbers put in
    (the answers alone: the numbers' answers; ``max_work`` as in ``derive``, for
    the two together)."""
    from cnnstep.derivation import derive

    only = tuple(only)
    refuse_unsupported(solution.problem.layer, only)
    if not only:
        budget.check_derivation(solution.problem, max_terms, max_work, format=None,
                                symbolic=True, solved=True)
    layer = solution.problem.layer
    conv = convolution(layer)
    # a selection names result keys; the formulas name the convolution's own
    names = {result_name(q.key, layer): result_name(q.key, conv) for q in formulas(layer)}
    symbolic_only = []
    for text in only:
        key, bracket, rest = text.strip().partition("[")
        if key in names:
            symbolic_only.append(names[key] + bracket + rest)
        elif key in SYMBOLIC_STEPS and not bracket:
            symbolic_only.append(key)
    numeric = derive(solution, max_terms=max_terms, only=only, detail=detail, max_work=0)
    if (only and not symbolic_only) or detail == "answers":
        return numeric
    symbolic = derive_symbolic(layer, max_terms=max_terms, only=symbolic_only, detail=detail,
                               max_work=0)
    given = tuple(step for step in numeric.steps if not step.numbered)
    numbers = tuple(step for step in numeric.steps if step.numbered and step.key != "shapes")
    return Derivation(
        title="Worked solution: the formulas, then the numbers",
        notation=numeric.notation,
        compact=numeric.compact,
        steps=(*given, *symbolic.steps, *(Step(s.key, f"{s.title}, with numbers", s.blocks)
                                          for s in numbers)),
        largest_index=numeric.largest_index,
        shortened=numeric.shortened or symbolic.shortened,
        one_channel=numeric.one_channel,
        one_filter=numeric.one_filter,
        one_row=numeric.one_row,
    )
