"""The symbolic derivation of a 3-D transposed convolution: its scatter sums.

As :class:`cnnstep.symbolic.TransposedSymbolicBuilder` does for a 1-D or 2-D
layer, along three axes. Each input entry scatters the kernel into the output,

    Z[f, i·sd − pd + a·dd, j·sh − ph + b·dh, l·sw − pw + e·dw] += X[c,i,j,l]·K[c,f',a,b,e]

(f the f'-th output channel of c's group), so each output entry is the sum of
the products that reach it, then + B_f; products that land outside the output
(in the cropped padding) are left out. By the chain rule, read off these sums
term by term,

* ∂L/∂K_cf'abe = Σ_ijl X_cijl · ∂L/∂Z[f, i·sd − pd + a·dd, …], over the products
  that land in the output;
* ∂L/∂X_cijl = Σ_f' Σ_abe ∂L/∂Z[f, i·sd − pd + a·dd, …] · K_cf'abe, an ordinary
  strided correlation of dL/dZ (padded by p) with K itself;
* ∂L/∂B_f = Σ ∂L/∂Z_f.

The kernel's symbols follow its own axes, ``K_c_f_a_b_e``; there is no closing
identities step (the gradients are read off the scatter sums directly).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnstep.derivation.nodes import (
    Add,
    Block,
    Call,
    Equation,
    Mul,
    Partial,
    Step,
    Sym,
    Text,
    Whole,
)
from cnnstep.derivation.volume_transposed import TransposedWriter
from cnnstep.problem import Volume
from cnnstep.symbolic_volume import Index, VolumeSymbols, symbols


def scatter(layer: Volume) -> list[tuple[Index, Index, Index]]:
    """(input index, weight index, output index) of every product that reaches the
    output, in the order of the input's entries, then the weight's."""
    per_group = layer.filters // layer.groups
    per_channel = layer.input.shape[0] // layer.groups
    out = []
    for c, *at in np.ndindex(*layer.input.shape):
        first = c // per_channel * per_group
        for local, *tap in np.ndindex(*layer.filter.shape[1:]):
            o = tuple(i * s - p + t * d for i, t, s, p, d in
                      zip(at, tap, layer.stride, layer.padding, layer.dilation, strict=True))
            if all(0 <= y < n for y, n in zip(o, layer.output_size, strict=True)):
                out.append(((c, *at), (c, local, *tap), (first + local, *o)))
    return out


class TransposedSymbols(VolumeSymbols):
    """The formulas of a 3-D transposed layer, and the steps that derive them."""

    title = "Symbolic derivation: one 3-D transposed convolution layer"

    def __init__(self, layer: Volume) -> None:
        #: the products that reach each output entry, (X, K) in scatter order
        self.landing: dict[Index, list[tuple[Sym, Sym]]] = {}
        x, k = symbols("input", layer.input.shape), symbols("filter", layer.filter.shape)
        for a, w, z in scatter(layer):
            self.landing.setdefault(z, []).append((x[a], k[w]))
        super().__init__(layer)

    @property
    def one_channel(self) -> bool:
        """A transposed filter's first axis is the input channel: its symbols keep every
        index unless the layer is compact, as the numeric derivation writes them."""
        return self.channels == 1 and self.filters == 1

    @property
    def one_filter(self) -> bool:
        return self.one_channel

    def window_terms(self, f: int, o: Index) -> list[tuple[Sym, Sym]]:
        """The (X, K) products that land in Z_fo."""
        return self.landing.get((f, *o), [])

    def letters(self, role: str) -> tuple[str, ...]:
        """K_cfabe: a transposed layer's filter is [C][F/groups][kd][kh][kw]."""
        if role == "filter":
            return ("c", "f", "a", "b", "e")
        return super().letters(role)

    def shapes(self) -> Step:
        return _TransposedSizes(self.v).shapes()

    def symbols(self) -> Step:
        sizes = _TransposedSizes(self.v)
        return Step("symbols", "The layer in symbols", (
            Text(("Every entry of the input, the kernel and the upstream gradient is a "
                  "symbol:",)),
            *self.slices((Whole("input"),), self.x, ("channel",)),
            *sizes.kernel_slices((Whole("filter"),), self.k),
            *self.slices((Whole("grad_output"),), self.g, ("filter",)),
        ))

    def forward_notes(self) -> list[Text]:
        v = self.v
        notes = [Text((
            "A transposed convolution scatters each input entry over the output: "
            "Z[f, i·s − p + a·d, j·s − p + b·d, l·s − p + e·d] += X[c, i, j, l]·K[c, f, a, b, e]"
            ". Each output entry is the sum of the products that reach it"
            + (", plus its bias" if v.bias is not None else "")
            + "; products that land in the cropped padding are left out.",
        ))]
        if v.groups > 1:
            notes.append(Text(_TransposedSizes(v).feeds()))
        return notes

    def grad_filter(self) -> Step:
        landed: dict[Any, list[Index]] = {}
        for z, terms in self.forward_sums.items():
            for _, k in terms:
                landed.setdefault(k.index, []).append(z)

        def worked(e: Index) -> list[Block]:
            weight = Sym("filter", e)
            chain = [Mul((self.g[z], Partial(Sym("output", z), weight)))
                     for z in landed.get(e, [])]
            result = [Mul(pair) for pair in self.filter_terms(e)]
            forms = (Add(tuple(chain)), Add(tuple(result))) if chain else (self.zero,)
            return [Equation(Sym("grad_filter", e), forms, None, ("grad_filter", e))]

        return Step("grad_filter", "Gradient with respect to the kernel, in symbols", (
            Text(("Each weight multiplies every entry of its input channel once, and each "
                  "product lands in one output entry, so by the chain rule its gradient "
                  "collects, for every product that lands in the output, that input entry "
                  "times the upstream gradient where it lands.",)),
            *(block for e in np.ndindex(*self.k.shape) for block in worked(e)),
        ))

    def grad_input(self) -> Step:
        step = super().grad_input()
        v = self.v
        note = Text((
            "An input entry affects only the output entries its products land in; for the "
            "others ∂Z/∂X is 0 and their terms vanish. ",
            "Gathered per input entry, these sums are an ordinary strided correlation: ",
            Whole("grad_input"), " = ", Call("corr", (Whole("grad_output"), Whole("filter"))),
            f" with stride {self.settings(v.stride)}, padding {self.settings(v.padding)} and "
            f"dilation {self.settings(v.dilation)}, each input channel against the output "
            "channels it feeds.",
        ))
        return Step(step.key, step.title, (note, *step.blocks[1:]))

    def identities(self) -> Step:
        """The gradients were read off the scatter sums directly: nothing more to check."""
        return Step("identities", "The gradients as convolutions", ())


class _TransposedSizes(TransposedWriter):
    """The numeric writer's output sizes, kernel slices and group words, for a layer
    whose numbers are not read (nothing is solved)."""

    def __init__(self, layer: Volume) -> None:  # no super().__init__: it solves the layer
        self.v = layer
        self.channels, self.filters = layer.input.shape[0], layer.filters
        self.compact = self.channels == 1 and self.filters == 1
