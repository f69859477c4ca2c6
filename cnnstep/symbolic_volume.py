"""The symbolic derivation of a 3-D layer: its general formulas, before any number.

As :mod:`cnnstep.symbolic` does for a 1-D or 2-D layer, with a third index
(depth, row, column) on every entry and a window of (a, b, e) taps:

* each output entry as a sum of symbol products over its window,
  Z_fijl = Σ_c Σ_a Σ_b Σ_e Xpad_{g(f)+c, i·sd + a·dd, j·sh + b·dh, l·sw + e·dw} · K'_fcabe
  + B_f, where K' is K (K flipped along all three axes in mode "convolution")
  and g(f) the first channel of filter f's group; padding zeros are left out;
* for each weight, bias and input entry the chain rule
  ∂L/∂K_fcabe = Σ_ijl ∂L/∂Z_fijl · ∂Z_fijl/∂K_fcabe, its local gradients and the
  result, read off the forward sums term by term; an input entry names the
  output entries it does not affect;
* the closing identities dL/dK = conv(Xpad, dL/dZ) and
  dL/dX = full conv(rot180(K), dL/dZ) (rot180(conv(Xpad, dL/dZ)) and
  full corr(K, dL/dZ) in mode "convolution"), each checked entry by entry
  against the chain-rule terms by sliding the arrays of symbols.

Gradients are expressed through the upstream gradient dL/dZ; with an
activation or a pool after the convolution the formulas stop there. A layer is
given by shapes (``{"shape": [C, D, H, W]}``, ``{"shape": [F, C, kd, kh, kw]}``,
``"bias": "symbolic"``) or with numbers, which are then put in by the numeric
3-D derivation (:mod:`cnnstep.derivation.volume`). The derivation is made of the
nodes every renderer prints; the JSON result's ``symbolic`` key comes from the
same sums. ``--detail``, ``--only`` and ``--max-terms`` shape it as
:mod:`cnnstep.derivation.volume_shaping` shapes the numeric one.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import numpy as np

from cnnstep import budget
from cnnstep import volume as engine
from cnnstep.derivation.nodes import (
    Add,
    Block,
    Call,
    Derivation,
    Equation,
    Expr,
    Matrix,
    Mul,
    Num,
    Omitted,
    Partial,
    Sigma,
    Step,
    Sym,
    Text,
    Whole,
)
from cnnstep.derivation.volume import VolumeWriter, derivation
from cnnstep.derivation.volume_shaping import shaped, what
from cnnstep.derivation.words import unaffected
from cnnstep.problem import (
    SHAPE_KEYS,
    Array,
    ProblemError,
    Volume,
    VolumeBatch,
    read_shape,
    volume_from_data,
    volumes_from_data,
)
from cnnstep.quantities import QUANTITIES, Quantity

Index = tuple[int, ...]

#: the steps of a 3-D symbolic derivation, in order
SYMBOLIC_STEPS = ("shapes", "symbols", "forward", "grad_filter", "grad_bias", "grad_input",
                  "identities")



def symbolic_quantities(layer: Volume) -> list[Quantity]:
    """The quantities the formulas give (the registry's): Z, dL/dK, dL/dB with a bias,
    dL/dX."""
    return [q for q in QUANTITIES if q.symbolic and ("bias" not in q.needs
                                                     or layer.bias is not None)]


def own_key(q: Quantity) -> str:
    """The key of a formula's entries in the derivation: Z's is ``output``, as the
    convolution alone names it."""
    return q.unlayered or q.key


def result_key(q: Quantity, layer: Volume) -> str:
    """The key of a formula in the result: Z's is ``conv`` after an activation or a
    pool, as the result's."""
    return q.key if layer.activation is not None or layer.pool is not None else own_key(q)


# --------------------------------------------------------------------------
# reading: a 3-D layer given by shapes, or with numbers


@dataclass(frozen=True)
class VolumeShapes:
    """A 3-D layer given by shapes: its geometry, as a :class:`Volume` whose arrays are
    zeros standing in for the symbols (no number of them is ever read)."""

    layer: Volume


def _rank(value: Any) -> int:
    rank = 0
    while isinstance(value, list) and value:
        rank, value = rank + 1, value[0]
    return rank


def refuse_unsupported(data: Mapping[str, Any]) -> None:
    """What ``--symbolic`` does not derive on a 3-D layer, each refused on one line."""
    if "filter" not in data and "kernel" not in data:
        if isinstance(data.get("input"), dict):
            raise ProblemError("filter: missing; a layer given by shapes needs an input and a "
                               "filter")
        raise ProblemError(
            "--symbolic derives the convolution's formulas; a layer alone (no filter) has no "
            "convolution, and its activation and pool are worked with numbers without "
            "--symbolic")


def read(data: Mapping[str, Any], max_work: int | None = None,
         ) -> Volume | VolumeBatch | VolumeShapes:
    """A 3-D problem for ``--symbolic``: with numbers, its :class:`Volume` (a batch
    [N][C][D][H][W], its :class:`VolumeBatch`); given by shapes, its
    :class:`VolumeShapes` (``max_work`` bounds the symbols made for it)."""
    refuse_unsupported(data)
    if not any(isinstance(data.get(key), dict) for key in ("input", "filter", "kernel")):
        if data.get("bias") == "symbolic":
            raise ProblemError("bias: \"symbolic\" goes with input and filter given as shapes "
                               "({\"shape\": [3, 3, 3]}) and --symbolic")
        layer = volumes_from_data(data)
        steps = layer.layer.steps if isinstance(layer, VolumeBatch) else layer.steps
        if steps > 1:
            raise ProblemError("steps: the symbolic formulas are the same at every training "
                               "step; derive them without steps (or with steps 1)")
        return layer
    return VolumeShapes(from_shapes(data, max_work))


def from_shapes(data: Mapping[str, Any], max_work: int | None = None) -> Volume:
    """The geometry of a 3-D layer given by shapes, checked as a layer with numbers is."""
    filter_key = "kernel" if "kernel" in data else "filter"
    for key in ("input", filter_key):
        if not isinstance(data[key], dict):
            raise ProblemError(f"{key}: give input and filter both as shapes, or both as "
                               "numbers")
    for key in data:
        if key not in SHAPE_KEYS:
            raise ProblemError(f"{key}: a layer given by shapes has only formulas; {key} needs "
                               "the input and the filter given as numbers")
    bias = data.get("bias")
    if bias is not None and bias != "symbolic":
        raise ProblemError("bias: with input and filter given as shapes, the bias is "
                           f"\"symbolic\" or left out, got {json.dumps(bias)}")
    image = read_shape(data["input"], "input", (3, 4), 3)
    kernel = read_shape(data[filter_key], filter_key, (3, 4, 5), 3)
    entries = math.prod(image) + math.prod(kernel)
    budget.require(budget.Estimate("the symbolic result", (
        budget.Part(f"the layer's {entries} symbols", entries * budget.NODE_ENTRY),)),
        max_work)
    stand_in: dict[str, Any] = {**data, "input": np.zeros(image, dtype=int).tolist(),
                                filter_key: np.zeros(kernel, dtype=int).tolist()}
    stand_in.pop("bias", None)
    layer = volume_from_data(stand_in)
    if "bias" in data:  # one zero per filter (a transposed layer's F is C·F/groups's)
        stand_in["bias"] = [0] * layer.filters if layer.filters > 1 else 0
        layer = volume_from_data(stand_in)
    return layer


# --------------------------------------------------------------------------
# the sums


def symbols(role: str, shape: tuple[int, ...]) -> Array:
    """An array of symbols, one per entry: Sym(role, index)."""
    out = np.empty(shape, dtype=object)
    for index in np.ndindex(*shape):
        out[index] = Sym(role, tuple(int(i) for i in index))
    return out


def spread(array: Array, steps: tuple[int, ...], value: Any = None) -> Array:
    """``array`` with ``step − 1`` entries of ``value`` inserted between neighbours along
    each of its last three axes (zero insertion for a stride or a dilation)."""
    lead = array.shape[:-3]
    sizes = tuple((n - 1) * s + 1 for n, s in zip(array.shape[-3:], steps, strict=True))
    out = np.full((*lead, *sizes), value, dtype=object)
    where: tuple[Any, ...] = (..., *(slice(None, None, s) for s in steps))
    out[where] = array
    return out


def symbols_of(layer: Volume) -> VolumeSymbols:
    """The formulas of a 3-D layer: a transposed layer's scatter sums
    (:mod:`cnnstep.symbolic_volume_transposed`), else an ordinary layer's window sums."""
    if layer.transposed:
        from cnnstep.symbolic_volume_transposed import TransposedSymbols

        return TransposedSymbols(layer)
    return VolumeSymbols(layer)


class VolumeSymbols:
    """The formulas of a 3-D layer, and the steps that derive them."""

    #: the derivation's title
    title = "Symbolic derivation: one 3-D convolution layer"

    def __init__(self, layer: Volume) -> None:
        self.v = layer
        self.channels, self.filters = layer.input.shape[0], layer.filters
        self.x = symbols("input", layer.input.shape)
        self.k = symbols("filter", layer.filter.shape)
        self.g = symbols("grad_output", (self.filters, *layer.output_size))
        self.zero = Num(Fraction(0))
        #: the padded input, None for a padding zero
        self.x_pad = np.full((self.channels, *layer.padded_size), None, dtype=object)
        self.x_pad[(slice(None), *engine.inside(layer))] = self.x
        #: the kernel as the forward pass reads it: K, or K flipped in a true convolution
        self.k_read = engine.flip(self.k) if layer.flipped else self.k
        self.outputs = list(itertools.product(*(range(n) for n in layer.output_size)))
        self.taps = engine.taps(layer)
        self.forward_sums = {(f, *o): self.window_terms(f, o)
                             for f in range(self.filters) for o in self.outputs}
        # the chain rule: every product X·K of Z_fo is dZ_fo·X in ∂L/∂K and dZ_fo·K in ∂L/∂X
        self.by_weight: dict[Any, list[tuple[Sym, Sym]]] = {}
        self.by_input: dict[Any, list[tuple[Index, Sym]]] = {}
        for z, terms in self.forward_sums.items():
            for x, k in terms:
                self.by_weight.setdefault(k.index, []).append((self.g[z], x))
                self.by_input.setdefault(x.index, []).append((z, k))

    @property
    def one_channel(self) -> bool:
        """Whether the symbols leave out the channel index (one input channel)."""
        return bool(self.channels == 1)

    @property
    def one_filter(self) -> bool:
        """Whether the symbols leave out the filter index (one filter)."""
        return self.filters == 1

    # the sums, shared by the derivation and the JSON result ---------------
    def read(self, o: Index, tap: Index) -> Index:
        """The padded position tap (a, b, e) of output (i, j, l) reads."""
        return tuple(i * s + t * d for i, t, s, d in
                     zip(o, tap, self.v.stride, self.v.dilation, strict=True))

    def window_terms(self, f: int, o: Index) -> list[tuple[Sym, Sym]]:
        """The (X, K) products of Z_fo: its window's entries, padding left out, each with
        the weight of its tap (the far one in a true convolution), over the channels of
        the filter's group."""
        terms = []
        for local, c in enumerate(self.v.channels_of(f)):
            for tap in self.taps:
                x = self.x_pad[(c, *self.read(o, tap))]
                if x is not None:
                    terms.append((x, self.k_read[(f, local, *tap)]))
        return terms

    def forward_terms(self, e: Index) -> list[Expr]:
        terms: list[Expr] = [Mul(pair) for pair in self.forward_sums[e]]
        if self.v.bias is not None:
            terms.append(Sym("bias", (e[0],)))
        return terms

    def filter_terms(self, e: Index) -> list[tuple[Sym, Sym]]:
        """(∂L/∂Z, X) pairs whose products sum to ∂L/∂K_e."""
        return self.by_weight.get(e, [])

    def input_terms(self, e: Index) -> list[tuple[Sym, Sym]]:
        """(∂L/∂Z, K) pairs whose products sum to ∂L/∂X_e."""
        return [(self.g[z], k) for z, k in self.by_input.get(e, [])]

    def bias_terms(self, f: int) -> list[Expr]:
        return list(self.g[f].flat)

    def formula(self, q: Quantity, e: Index) -> Expr:
        """The sum that entry ``e`` of quantity ``q`` is, in symbols."""
        if q.axes == "conv":
            return Add(tuple(self.forward_terms(e)))
        if q.axes == "bias":
            return Add(tuple(self.bias_terms(e[0])))
        pairs = self.filter_terms(e) if q.axes == "filter" else self.input_terms(e)
        return Add(tuple(Mul(pair) for pair in pairs))

    def quantities(self) -> list[Quantity]:
        return symbolic_quantities(self.v)

    def shape(self, q: Quantity) -> tuple[int, ...]:
        shapes: dict[str, tuple[int, ...]] = {
            "conv": self.g.shape, "filter": self.k.shape, "bias": (self.filters,),
            "input": self.x.shape}
        return shapes[q.axes]

    # words -------------------------------------------------------------------
    def letters(self, role: str) -> tuple[str, ...]:
        """The letters of a general entry: Z_fijl, K_fcabe, X_cpqr, B_f."""
        return {"output": ("f", "i", "j", "l"), "filter": ("f", "c", "a", "b", "e"),
                "input": ("c", "p", "q", "r"), "bias": ("f",)}[role]

    def general(self, by: str) -> Expr:
        """Σ_ijl ∂L/∂Z_ijl · ∂Z_ijl/∂(by), written with letters."""
        z = Sym("output", self.letters("output"))
        over = "f,i,j,l" if by == "input" and self.filters > 1 else "i,j,l"
        return Sigma(over, Mul((Sym("grad_output", self.letters("output")),
                                Partial(z, Sym(by, self.letters(by))))))

    def settings(self, values: tuple[int, ...]) -> str:
        return str(values[0]) if len(set(values)) == 1 else "×".join(map(str, values))

    # the steps -----------------------------------------------------------------
    def steps(self) -> list[Step]:
        made = [self.shapes(), self.symbols(), self.forward(), self.grad_filter(),
                self.grad_bias(), self.grad_input(), self.identities()]
        return [step for step in made if step is not None and step.blocks]

    def shapes(self) -> Step:
        return _Sizes(self.v).shapes()

    def slices(self, label: tuple[str | Expr, ...], array: Array, lead: tuple[str, ...],
               depth: tuple[int, int] = (0, 0), depth_step: int = 1,
               **options: Any) -> list[Block]:
        """One matrix per depth slice (per channel or filter where there are several),
        as the numeric derivation shows a volume; ``depth`` counts the slices of
        padding in front and behind, and ``depth_step`` spreads the slices of a
        zero-inserted array, its inserted slices named as such."""
        base = self.v.notation.index_base
        out: list[Block] = []
        for index in np.ndindex(*array.shape[:-2]):
            words = [f"{name} {i + base}" for name, i, n in
                     zip(lead, index[:-1], array.shape[:-3], strict=True) if n > 1]
            d = index[-1]
            d -= depth[0]
            words.append("padding in front" if d < 0 else "padding behind"
                         if d >= array.shape[-3] - depth[0] - depth[1] else "inserted zeros"
                         if d % depth_step else f"depth {d // depth_step + base}")
            out.append(Matrix((*label, f" ({', '.join(words)})"), array[index], **options))
        return out

    def symbols(self) -> Step:
        v = self.v
        padded = any(v.sides[0]) or any(v.sides[1])
        shown = self.x_pad.copy()
        shown[self.x_pad == None] = self.zero  # noqa: E711
        return Step("symbols", "The layer in symbols", (
            Text(("Every entry of the input, the kernel and the upstream gradient is a symbol"
                  + (" (the input with its padding zeros)" if padded else "") + ":",)),
            *self.slices((Whole("padded_input" if padded else "input"),), shown, ("channel",),
                         (v.sides[0][0], v.sides[1][0]), border=v.sides[0][1:],
                         border_end=None if v.sides[1] == v.sides[0] else v.sides[1][1:]),
            *self.slices((Whole("filter"),), self.k, ("filter", "channel")),
            *self.slices((Whole("grad_output"),), self.g, ("filter",)),
        ))

    def forward_notes(self) -> list[Text]:
        v = self.v
        notes = [Text((
            "Each output entry is the sum of the products of its window of the input, a block "
            "of taps across depth, rows and columns, with the kernel",
            *((", plus the bias",) if v.bias is not None else ()), ": ",
            Sym("output", self.letters("output")), " = ",
            Add((Sigma("c,a,b,e" if self.channels > 1 else "a,b,e", Mul((
                Sym("input", ("c", "i·s + a·d", "j·s + b·d", "l·s + e·d")
                    if set(v.dilation) != {1} else ("c", "i·s + a", "j·s + b", "l·s + e")),
                Sym("filter", self.letters("filter"))))),
                *((Sym("bias", ("f",)),) if v.bias is not None else ()))),
            ", with i, j, l the output's depth, row and column and a, b, e the kernel's"
            + (" (over the padded input); the padding zeros are left out." if any(v.sides[0])
               or any(v.sides[1]) else "."),
        ))]
        if set(v.dilation) != {1}:
            notes.append(Text((
                f"The kernel is dilated by {self.settings(v.dilation)}: its taps are that many "
                "slices, rows and columns apart, so each window spans "
                + "×".join(map(str, v.effective_kernel))
                + " and reads only the entries under the taps.",)))
        if v.flipped:
            notes.append(Text((
                'Mode "convolution": each window is multiplied by ',
                Call("rot180", (Whole("filter"),)),
                " (the kernel flipped along all three axes), so tap (a, b, e) meets the "
                "weight (kd − 1 − a, kh − 1 − b, kw − 1 − e).",)))
        if v.groups > 1:
            notes.append(Text((
                f"The {self.channels} input channels are split into {v.groups} groups of "
                f"{self.channels // v.groups}; each filter's sum runs over its group's "
                "channels only.",)))
        return notes

    def forward(self) -> Step:
        return Step("forward", "Forward pass in symbols", (
            *self.forward_notes(),
            *(Equation(Sym("output", e), (Add(tuple(self.forward_terms(e))),), None,
                       ("output", e)) for e in self.forward_sums),
        ))

    def grad_filter(self) -> Step:
        v = self.v

        def worked(e: Index) -> list[Block]:
            f, local, *weight = e
            c = v.channels_of(f)[local]
            tap = tuple(k - 1 - t for k, t in zip(v.filter.shape[2:], weight, strict=True)) \
                if v.flipped else tuple(weight)
            w = Sym("filter", e)
            local_words: list[str | Expr] = ["Local gradients: "]
            chain: list[Expr] = []
            for n, o in enumerate(self.outputs):
                z = Sym("output", (f, *o))
                x = self.x_pad[(c, *self.read(o, tap))]
                chain.append(Mul((self.g[(f, *o)], Partial(z, w))))
                local_words += [", " if n else "", Partial(z, w), " = ",
                                x if x is not None else self.zero,
                                *((" (padding)",) if x is None else ())]
            local_words.append(".")
            result = [Mul(pair) for pair in self.filter_terms(e)]
            return [Text(tuple(local_words)),
                    Equation(Sym("grad_filter", e), (Add(tuple(chain)),
                                                     Add(tuple(result)) if result else self.zero),
                             None, ("grad_filter", e))]

        return Step("grad_filter", "Gradient with respect to the kernel, in symbols", (
            Text(("Each weight is used at every window position, so by the chain rule its "
                  "gradient collects a term from every output entry of its filter: ",
                  Sym("grad_filter", self.letters("filter")), " = ", self.general("filter"),
                  ".",)),
            *(block for e in np.ndindex(*v.filter.shape) for block in worked(e)),
        ))

    def grad_bias(self) -> Step | None:
        if self.v.bias is None:
            return None
        one = Num(Fraction(1))

        def equation(f: int) -> Equation:
            b = Sym("bias", (f,))
            chain = [Mul((self.g[(f, *o)], Partial(Sym("output", (f, *o)), b)))
                     for o in self.outputs]
            ones = [Mul((self.g[(f, *o)], one)) for o in self.outputs]
            return Equation(Sym("grad_bias", (f,)), (
                Add(tuple(chain)), Add(tuple(ones)), Add(tuple(self.bias_terms(f)))),
                None, ("grad_bias", (f,)))

        return Step("grad_bias", "Gradient with respect to the bias, in symbols", (
            Text(("The bias is added to every output entry of its filter, so every local "
                  "gradient ∂Z/∂B is 1: ", Whole("grad_bias"), " = ",
                  Call("sum", (Whole("grad_output"),)), ".",)),
            *(equation(f) for f in range(self.filters)),
        ))

    def grad_input(self) -> Step:
        every = [(f, *o) for f in range(self.filters) for o in self.outputs]

        def worked(e: Index) -> list[Block]:
            x = Sym("input", e)
            reached = self.by_input.get(e, [])
            hit = {z for z, _ in reached}
            chain = [Mul((self.g[z], Partial(Sym("output", z), x))) for z, _ in reached]
            result = [Mul(pair) for pair in self.input_terms(e)]
            missed = [Sym("output", z) for z in every if z not in hit]
            blocks: list[Block] = []
            if missed:
                blocks.append(unaffected(x, missed))
            forms = (Add(tuple(chain)), Add(tuple(result))) if chain else (self.zero,)
            blocks.append(Equation(Sym("grad_input", e), forms, None, ("grad_input", e)))
            return blocks

        return Step("grad_input", "Gradient with respect to the input, in symbols", (
            Text(("An input entry affects only the output entries whose window holds it; for "
                  "the others ∂Z/∂X is 0 and their terms vanish.",)),
            *(block for e in np.ndindex(*self.x.shape) for block in worked(e)),
        ))

    # the closing identities, checked ---------------------------------------------
    def check_filter_identity(self) -> int:
        """conv(Xpad, dL/dZ spread by the stride), at steps of the dilation, entry by
        entry against the chain-rule terms (flipped back in a true convolution)."""
        v = self.v
        g = spread(self.g, v.stride)
        count = 0
        for e in np.ndindex(*v.filter.shape):
            f, local, *weight = e
            tap = tuple(k - 1 - t for k, t in zip(v.filter.shape[2:], weight, strict=True)) \
                if v.flipped else tuple(weight)
            at: tuple[Any, ...] = (v.channels_of(f)[local], *(
                slice(t * d, t * d + n) for t, d, n in
                zip(tap, v.dilation, g.shape[1:], strict=True)))
            window = self.x_pad[at]
            conv = Counter((a, b) for a, b in zip(g[f].flat, window.flat, strict=True)
                           if a is not None and b is not None)
            if conv != Counter(self.filter_terms(e)):
                raise InternalCheckError(f"the conv route differs for K{e}")
            count += 1
        return count

    def padded_grad(self) -> Array:
        """dL/dZ spread by the stride and padded on each side of each axis with as many
        zeros as the dilated kernel spans, less one (None for a zero)."""
        g, span = spread(self.g, self.v.stride), self.v.effective_kernel
        padded = np.full((self.filters, *(n + 2 * (s - 1) for n, s in
                                          zip(g.shape[1:], span, strict=True))), None,
                         dtype=object)
        inside: tuple[Any, ...] = (slice(None), *(slice(s - 1, s - 1 + n) for n, s in
                                                  zip(g.shape[1:], span, strict=True)))
        padded[inside] = g
        return padded

    def slid_kernel(self) -> Array:
        """The kernel dL/dX slides: rot180(K) (K itself in a true convolution), its taps
        spread apart by the dilation (None between them)."""
        return spread(engine.flip(self.k_read), self.v.dilation)

    def as_nodes(self, array: Array) -> Array:
        """An array of symbols with its zeros (None) as number nodes, for display."""
        out = array.copy()
        out[array == None] = self.zero  # noqa: E711
        return out

    def full_conv_window(self, e: Index) -> list[tuple[Any, Any]] | None:
        """The (dL/dZ, K) pairs of the full convolution's window for input entry ``e``,
        zeros (None) and all, over the filters of its group; None where the window
        reaches past the padded gradient (no output reads that entry)."""
        v = self.v
        padded, slid, span = self.padded_grad(), self.slid_kernel(), v.effective_kernel
        c, *at = e
        p = [a + before for a, before in zip(at, v.sides[0], strict=True)]
        if any(q + s > n for q, s, n in zip(p, span, padded.shape[1:], strict=True)):
            return None
        pairs: list[tuple[Any, Any]] = []
        for f in range(self.filters):
            if c not in v.channels_of(f):
                continue
            cut: tuple[Any, ...] = (f, *(slice(q, q + s) for q, s in zip(p, span, strict=True)))
            pairs += zip(padded[cut].flat, slid[f, v.channels_of(f).index(c)].flat,
                         strict=True)
        return pairs

    def check_input_identity(self) -> int:
        """full conv(rot180(K'), dL/dZ spread by the stride and padded by the dilated
        kernel's span less one), cropped, against the chain-rule terms."""
        count = 0
        for e in np.ndindex(*self.x.shape):
            pairs = self.full_conv_window(e) or []
            conv = Counter((a, b) for a, b in pairs if a is not None and b is not None)
            if conv != Counter(self.input_terms(e)):
                raise InternalCheckError(f"the full conv route differs for X{e}")
            count += 1
        return count

    def identities(self) -> Step:
        v = self.v
        kernels, inputs = self.check_filter_identity(), self.check_input_identity()
        padded = any(v.sides[0]) or any(v.sides[1])
        source = Whole("padded_input" if padded else "input")
        strided = set(v.stride) != {1}
        dilated = set(v.dilation) != {1}
        operand = Whole("spread_grad" if strided else "grad_output")
        conv: Expr = Call("conv", (source, operand))
        kernel: Expr = Whole("filter") if v.flipped else Call("rot180", (Whole("filter"),))
        blocks: list[Block] = [
            Text((Whole("grad_filter"), " = ", Call("rot180", (conv,)) if v.flipped else conv,
                  ": sliding ", operand, " over ", source,
                  *((f" in steps of the dilation {self.settings(v.dilation)}",)
                    if dilated else ()),
                  *((" (each filter over its group's channels)",) if v.groups > 1 else ()),
                  *((", then flipping the result along all three axes (the forward pass read "
                     "the kernel flipped)",) if v.flipped else ()),
                  " gives, for " + (f"every one of the {kernels} weights" if kernels > 1
                                    else "the weight")
                  + ", exactly the terms found above by the chain rule.",)),
            Text((Whole("grad_input"), " = ",
                  Call("full_corr" if v.flipped else "full_conv", (kernel, operand)),
                  (": in a true convolution the gradient slides the kernel as it is (the "
                   "forward pass already flipped it); " if v.flipped else
                   ": rotate the kernel by 180° (flip it along depth, rows and columns), "),
                  *((f"spread its taps {self.settings(v.dilation)} apart as in the forward "
                     "pass, ",) if dilated else ()),
                  ("pad the gradient with "
                   + ("as many zeros as the dilated kernel spans, less one," if dilated
                      else "k − 1 zeros") + " on each side of each axis, and slide; "
                   + (f"each of the {inputs} input entries" if inputs > 1
                      else "the input entry")
                   + (" gets, from the filters of its group," if v.groups > 1 else " gets")
                   + " exactly the terms found above."),)),
        ]
        if strided:
            shown = spread(self.g, v.stride, self.zero)
            blocks += [Text((f"With stride {self.settings(v.stride)}, ", Whole("grad_output"),
                             " is first spread apart by s − 1 zeros between its entries along "
                             "each axis:",)),
                       *self.slices((operand,), shown, ("filter",), depth_step=v.stride[0],
                                     step=v.stride[1:])]
        label: tuple[str | Expr, ...] = (kernel, *((f", dilated by {self.settings(v.dilation)}",)
                                                   if dilated else ()))
        blocks += self.slices(label, self.as_nodes(self.slid_kernel()), ("filter", "channel"),
                              depth_step=v.dilation[0], step=v.dilation[1:])
        span = v.effective_kernel
        if span == (1, 1, 1):  # nothing to pad, nothing to show beyond the sums above
            return Step("identities", "The gradients as convolutions", tuple(blocks))
        blocks += self.slices((Whole("padded_grad"),), self.as_nodes(self.padded_grad()),
                              ("filter",), (span[0] - 1, span[0] - 1), v.stride[0],
                              border=(span[1] - 1, span[2] - 1), step=v.stride[1:])
        first = (0,) * self.x.ndim
        pairs = self.full_conv_window(first)
        if pairs is not None:
            result = [Mul(pair) for pair in self.input_terms(first)]
            blocks += [Text(("For example, the window of the first input entry:",)),
                       Equation(Sym("grad_input", first), (
                           Add(tuple(Mul((self.zero if g is None else g,
                                          self.zero if k is None else k)) for g, k in pairs)),
                           Add(tuple(result)) if result else self.zero), None, None)]
        return Step("identities", "The gradients as convolutions", tuple(blocks))


class InternalCheckError(AssertionError):
    """The two routes to a gradient disagree: a bug in cnnstep, never the user's input."""


class _Sizes(VolumeWriter):
    """The numeric writer's output sizes and slices, for a layer whose numbers are not
    read (nothing is solved)."""

    def __init__(self, layer: Volume) -> None:  # no super().__init__: it solves the layer
        self.v = layer
        self.channels, self.filters = layer.input.shape[0], layer.filter.shape[0]


# --------------------------------------------------------------------------
# the derivation, shaped as --detail, --only and --max-terms ask


TITLE = VolumeSymbols.title


def formulas(layer: Volume, *, detail: str = "full", only: Iterable[str] = (),
             max_terms: int = 0, numbers: bool = False) -> Derivation:
    """The symbolic derivation of a 3-D layer: ``detail`` full, brief or answers (the
    formulas alone), ``only`` a formula (its step with the layer's sizes and symbols),
    an entry (``grad_input[0][1][1]``, 0-based in the shape given) or a step,
    ``max_terms`` the products printed in full (0: every one). With ``numbers`` a word
    of ``only`` that names no formula is left to the numeric derivation."""
    builder = symbols_of(layer)
    steps = builder.steps()
    whole = frozenset(step.key for step in steps)
    if tuple(only):
        whole, entries = selection(only, builder, numbers)
        alone = {step_of(key, builder) for key, _ in entries}
        steps = [step if step.key in whole else trimmed(step, entries) if step.key in alone
                 else replace(step, blocks=()) for step in steps]
    cut = False
    if detail == "brief":  # the steps shown whole: one entry worked, a note of the rest
        steps = [brief(step, layer) if step.key in whole else step for step in steps]
    elif detail == "full":
        steps, cut = shortened(steps, layer, max_terms)
    largest = max(*layer.input.shape, *layer.filter.shape, *layer.output_size)
    made = Derivation(title=builder.title, notation=layer.notation,
                      compact=builder.channels == 1 and builder.filters == 1,
                      steps=tuple(step for step in steps if step.blocks),
                      largest_index=largest - 1 + layer.notation.index_base, shortened=cut,
                      one_channel=builder.one_channel, one_filter=builder.one_filter,
                      spatial=3)
    if detail == "answers":  # each formula's result alone
        return replace(made, steps=tuple(step for step in (replace(step, blocks=tuple(
            replace(block, forms=block.forms[-1:]) for block in step.blocks
            if isinstance(block, Equation) and block.entry)) for step in made.steps)
            if step.blocks))
    return made


def step_of(key: str, builder: VolumeSymbols) -> str:
    """The step that works out the entries of a formula (by its key in the derivation)."""
    return next(q.step for q in builder.quantities() if own_key(q) == key)


def selection(only: Iterable[str], builder: VolumeSymbols, numbers: bool,
              ) -> tuple[frozenset[str], frozenset[tuple[str, Index]]]:
    """The steps shown whole and the entries shown alone, from the words of ``only``:
    a formula's key (as the result names it), an entry of one, or a step."""
    layer = builder.v
    names = {result_key(q, layer): q for q in builder.quantities()}
    whole: set[str] = set()
    entries: set[tuple[str, Index]] = set()
    for text in only:
        word = text.strip()
        name, bracket, rest = word.partition("[")
        if name in names and bracket:
            q = names[name]
            entries.add((own_key(q), entry_index(word, name, rest, builder.shape(q), layer)))
        elif name in names:
            whole.add(names[name].step)
        elif word in SYMBOLIC_STEPS:
            whole.add(word)
        elif not numbers:
            raise ProblemError(f"--only {word}: not a formula or step of this layer's symbolic "
                               f"derivation; it has {', '.join(names)} and the steps "
                               f"{', '.join(SYMBOLIC_STEPS)}")
    if whole or entries:
        whole |= {"shapes", "symbols"}
    return frozenset(whole), frozenset(entries)


def entry_index(word: str, key: str, rest: str, shape: tuple[int, ...],
                layer: Volume) -> Index:
    """``grad_input[1][0][2]`` (0-based, in the shape given) as a full-layout index."""
    rank = engine.user_rank(key, layer)
    given = shape[len(shape) - rank:]
    parts = rest[:-1].split("][") if rest.endswith("]") else []
    try:
        index = tuple(int(part) for part in parts)
    except ValueError:
        index = ()
    if len(index) != rank or not all(0 <= i < n for i, n in zip(index, given, strict=True)):
        raise ProblemError(f"--only {word}: expected {key} and {rank} indices from 0 inside "
                           f"its shape {''.join(f'[{n}]' for n in given)}")
    return (0,) * (len(shape) - rank) + index


#: the steps whose entries each come with a note before them (local gradients, the
#: outputs an input entry does not affect), after the step's one rule
NOTED = ("grad_filter", "grad_input")

#: an entry as a step shows it: its note, where it has one, and its equation
Unit = tuple[Block, ...]


def units(step: Step) -> tuple[Unit, list[Unit], Unit]:
    """A step's blocks before its entries (its rule), each entry's blocks, and the blocks
    after the last entry."""
    blocks = step.blocks
    keys = [n for n, block in enumerate(blocks) if isinstance(block, Equation) and block.entry]
    if not keys:
        return blocks, [], ()
    head = 1 if step.key in NOTED else keys[0]
    starts = [head, *(n + 1 for n in keys[:-1])]
    return (blocks[:head], [blocks[a:n + 1] for a, n in zip(starts, keys, strict=True)],
            blocks[keys[-1] + 1:])


def entry_of(unit: Unit) -> tuple[str, Index]:
    equation = unit[-1]
    assert isinstance(equation, Equation) and equation.entry is not None
    return equation.entry


def trimmed(step: Step, entries: frozenset[tuple[str, Index]]) -> Step:
    """A step as an entry alone shows it: its rule, then each chosen entry (with its
    note)."""
    head, made, _ = units(step)
    kept = [block for unit in made if entry_of(unit) in entries for block in unit]
    return replace(step, blocks=(*head, *kept) if kept else ())


def brief(step: Step, layer: Volume) -> Step:
    """A step with one entry worked out and a note of how many more there are."""
    head, made, tail = units(step)
    if len(made) < 2:
        return step
    key = entry_of(made[0])[0]
    rest = len(made) - 1
    note = Text((f"The other {rest} {what(key, layer)} are worked out the same way." if rest > 1
                 else f"The last of the {what(key, layer)} is worked out the same way.",))
    return replace(step, blocks=(*head, *made[0], note, *tail))


def shortened(steps: list[Step], layer: Volume, max_terms: int) -> tuple[list[Step], bool]:
    """The steps with at most about ``max_terms`` products printed (0: every one), shared
    out between the formulas in proportion to their products; each shortened formula
    works its first entries out and says how many it left out."""
    counts: dict[str, int] = {}
    for step in steps:
        for unit in units(step)[1]:
            key = entry_of(unit)[0]
            terms = unit[-1].terms if isinstance(unit[-1], Equation) else 0
            counts[key] = counts.get(key, 0) + max(1, terms)
    total = sum(counts.values())
    if max_terms <= 0 or total <= max_terms:
        return steps, False
    left = {key: max(1, max_terms * n // total) for key, n in counts.items()}
    out = []
    for step in steps:
        head, made, tail = units(step)
        kept: list[Block] = []
        skipped: list[tuple[str, Index]] = []
        for unit in made:
            key, index = entry_of(unit)
            if left[key] > 0:
                kept += unit
                left[key] -= max(1, unit[-1].terms if isinstance(unit[-1], Equation) else 0)
            else:
                skipped.append((key, index))
        if skipped:
            key, index = skipped[0]
            kept.append(Omitted(len(skipped), what(key, layer),
                                engine.entry_text(key, index, layer)))
        out.append(replace(step, blocks=(*head, *kept, *tail)) if made else step)
    return out, True


def with_numbers(layer: Volume | VolumeBatch, *, detail: str = "full",
                 only: Iterable[str] = (), max_terms: int = 0) -> Derivation:
    """The givens, the formulas, then the same derivation with the numbers put in (the
    answers alone: the numbers' answers), as :func:`cnnstep.symbolic.derive_both`; a
    batch's as :func:`cnnstep.symbolic_volume_batch.batch_with_numbers`."""
    if isinstance(layer, VolumeBatch):
        from cnnstep.symbolic_volume_batch import batch_with_numbers

        return batch_with_numbers(layer, detail=detail, only=only, max_terms=max_terms)
    chosen = tuple(only)
    numeric = shaped(derivation(layer), layer, detail=detail, only=chosen, max_terms=max_terms)
    names = {result_key(q, layer) for q in symbolic_quantities(layer)}
    symbolic_words = [word for word in chosen if word.strip().partition("[")[0] in names
                      or word.strip() in SYMBOLIC_STEPS]
    if (chosen and not symbolic_words) or detail == "answers":
        return numeric
    symbolic = formulas(layer, detail=detail, only=symbolic_words, max_terms=max_terms,
                        numbers=True)
    given = tuple(step for step in numeric.steps if not step.numbered)
    rest = tuple(replace(step, title=f"{step.title}, with numbers") for step in numeric.steps
                 if step.numbered and step.key != "shapes")
    return replace(numeric, title="Worked solution: the formulas, then the numbers",
                   steps=(*given, *symbolic.steps, *rest),
                   shortened=numeric.shortened or symbolic.shortened)


# --------------------------------------------------------------------------
# the JSON result's key "symbolic", and the work they take


def symbolic_result(layer: Volume | VolumeBatch) -> dict[str, Any]:
    """Every formula as a string in SymPy syntax, in the result's shapes: ``X_d_i_j``,
    ``K_a_b_e``, ``B``, ``dZ_d_i_j`` (1-based) for one channel and one filter, else
    ``X_c_d_i_j``, ``K_f_c_a_b_e``, ``B_f``, ``dZ_f_d_i_j``; Z is the key ``conv`` after
    an activation or a pool. A transposed layer's kernel is ``K_c_f_a_b_e``; a batch's
    symbols of one volume carry the volume first
    (:mod:`cnnstep.symbolic_volume_batch`)."""
    from cnnstep.render.expr import SympyPrinter

    if isinstance(layer, VolumeBatch):
        from cnnstep.symbolic_volume_batch import batch_result

        return batch_result(layer)

    builder = symbols_of(layer)
    printer = SympyPrinter(builder.channels == 1 and builder.filters == 1, spatial=3)
    out: dict[str, Any] = {}
    for q in builder.quantities():
        strings = np.empty(builder.shape(q), dtype=object)
        for e in np.ndindex(*strings.shape):
            strings[e] = printer.doprint(builder.formula(q, e))
        name = result_key(q, layer)
        out[name] = engine.shaped(name, strings, layer)
    return out


def estimate(layer: Volume, *, derivation: bool) -> budget.Estimate:
    """The formulas' terms (Z, dL/dK and dL/dX hold one product per tap inside the
    input, dL/dB one term per output entry), printed in SymPy syntax, or written out
    with their chain rule and the identities' check (about four forms each)."""
    filters, outputs = layer.filters, math.prod(layer.output_size)
    # a transposed layer's products: each input entry scattered once per weight
    products = float(layer.filter.size * math.prod(layer.input.shape[1:])) if \
        layer.transposed else float(filters * layer.filter[0].size * outputs)
    terms = 3 * products + (float(filters * outputs) if layer.bias is not None else 0.0)
    entries = float(layer.input.size + layer.filter.size + filters * outputs)
    if derivation:
        return budget.Estimate("the symbolic derivation", (budget.Part(
            f"the formulas: {terms:,.0f} terms written out",
            terms * 4 * budget.WRITE + entries * budget.NODE_ENTRY,
            held=terms * 4 * budget.FORMULA_BYTES * 10),))
    return budget.Estimate("the symbolic result", (budget.Part(
        f"the formulas: {terms:,.0f} terms",
        terms * budget.FORMULA_TERM + entries * budget.NODE_ENTRY,
        held=terms * budget.FORMULA_BYTES, passing=terms * budget.FORMULA_BYTES),))


def check_work(layer: Volume | VolumeBatch, max_work: int | None, *, derivation: bool,
               numbers: bool) -> None:
    """Refuse, before any work, formulas (and with ``numbers`` the numeric solve beside
    them) over the work limit; a batch's, every volume's counted."""
    if not budget.limit_of(max_work):
        return
    count = layer.count if isinstance(layer, VolumeBatch) else 1
    one = layer.layer if isinstance(layer, VolumeBatch) else layer
    work = estimate(one, derivation=derivation).images(count)
    if numbers:
        work = budget.volume_estimate(one, count) + work
    budget.require(work, max_work)
