"""The worked solution of a 3-D transposed convolution (PyTorch's ``conv_transpose3d``).

The filter is (C, F/groups, kd, kh, kw), input channels first, and each input
entry scatters the kernel into the output. The layer is worked as a course
works a 2-D one (:mod:`cnnstep.derivation.transposed`), along three axes:

* the output size, ``D_out = (D_in − 1)·s − 2p + d·(k_d − 1) + output_padding + 1``
  (likewise H_out and W_out);
* zero insertion (``s − 1`` zeros between neighbouring depth slices, rows and
  columns) and padding by ``d·(k − 1) − p`` on each side, ``output_padding``
  more behind, below and right (a negative ``d·(k − 1) − p`` crops): the
  expanded input Xe;
* the forward pass, a stride-1 correlation of Xe with the kernel rotated by 180°
  along all three axes, its channel axes swapped:
  ``Z[f,y] = B[f] + Σ_c Σ_t Xe[c, y + t·d]·K[c, f', k − 1 − t]``;
* ``dL/dK[c,f',t] = Σ_i X[c,i]·dL/dZ[f, i·s − p + t·d]``;
* ``dL/dX[c,i] = Σ_f Σ_t dL/dZpad[f, i·s + t·d]·K[c,f',t]``: an ordinary strided
  correlation of dL/dZ (padded by p) with K itself.

Here y, i and t are (depth, row, column) triples and f' the place of f among
its group's output channels. The numbers come from :mod:`cnnstep.volume`
(:mod:`cnnstep.volume_transposed`); this module only writes them out, leaving
out the terms that hold an inserted or padding zero.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np

from cnnstep import volume_transposed as scatter
from cnnstep.derivation.nodes import (
    Add,
    Block,
    Call,
    Equation,
    Expr,
    Group,
    Matrix,
    Mul,
    Name,
    Num,
    Step,
    Sub,
    Sym,
    Text,
    Whole,
)
from cnnstep.derivation.volume import VolumeWriter
from cnnstep.derivation.words import count, ranges
from cnnstep.problem import Array

Index = tuple[int, ...]
#: along each axis: its unit, where the zeros go on both sides, the side that
#: output_padding adds to, and both sides by name
UNITS = ("depth slice", "row", "column")
ENDS = ("in front and behind", "above and below", "left and right")
END = ("behind", "at the bottom", "at the right")
BOTH = ("the front and the back", "the top and the bottom", "the left and the right")


def _num(value: Fraction | int) -> Num:
    return Num(Fraction(value))


def _positions(shape: tuple[int, ...]) -> list[Index]:
    """Every index of an array of ``shape``, in order."""
    return list(itertools.product(*(range(n) for n in shape)))


def _settings(values: tuple[int, ...]) -> str:
    """A per-axis setting: ``2`` when the three axes agree, else ``1×2×2``."""
    return str(values[0]) if len(set(values)) == 1 else "×".join(str(v) for v in values)


def _size_formula(n: Expr, s: Expr, p: Expr, d: Expr, k: Expr, o: Expr) -> Expr:
    """(n − 1)·s − 2p + d·(k − 1) + o + 1."""
    one, two = _num(1), _num(2)
    return Add((Sub(Mul((Group(Sub(n, one)), s)), Mul((two, p))),
                Mul((d, Group(Sub(k, one)))), o, one))


class TransposedWriter(VolumeWriter):
    """Writes a solved 3-D transposed layer out: its own output size, expansion,
    forward pass and gradients of the kernel and the input; the activation, pool,
    loss, bias and update as any 3-D layer's."""

    # --- pieces

    @property
    def per_group(self) -> int:
        """F/groups: the output channels each group's input channels feed."""
        return self.filters // self.v.groups

    def outputs_of(self, c: int) -> range:
        """The output channels input channel ``c`` feeds: those of its group."""
        first = c // (self.channels // self.v.groups) * self.per_group
        return range(first, first + self.per_group)

    def kernel_slices(self, label: tuple[str | Expr, ...], array: Array) -> list[Block]:
        """A filter-shaped array (C, F/groups, kd, kh, kw), one matrix per depth slice
        of each weight K[c, f'], labelled with its input channel and the output
        channel it feeds."""
        base = self.v.notation.index_base
        out: list[Block] = []
        for c, local, depth in np.ndindex(*array.shape[:3]):
            words = ([f"input channel {c + base}"] if self.channels > 1 else []) + (
                [f"output channel {self.outputs_of(c)[local] + base}"] if self.filters > 1
                else []) + [f"depth {depth + base}"]
            out.append(Matrix((*label, f" ({', '.join(words)})"), array[c, local, depth]))
        return out

    def layer_words(self) -> str:
        v = self.v
        return ("3-D transposed convolution (conv_transpose): stride "
                f"{_settings(v.stride)}, padding {_settings(v.padding)}"
                + (f", dilation {_settings(v.dilation)}" if set(v.dilation) != {1} else "")
                + f", output_padding {_settings(v.output_padding)}"
                + (f", {v.groups} groups" if v.groups > 1 else "")
                + f"; the filter [C][F{'/groups' * (v.groups > 1)}][kd][kh][kw]")

    def window(self, o: Index) -> list[tuple[Index, Index]]:
        """The taps of output entry ``o``'s window in the expanded input that meet an
        input entry (not an inserted or padding zero), each with that entry's index:
        along each axis, tap t reads Xe at o + t·d, which holds X[q] where
        o + t·d = q·s + d·(k − 1) − p."""
        v = self.v
        axes = []
        for y, e, s, n, d, k in zip(o, scatter.expansion(v), v.stride, v.input.shape[1:],
                                    v.dilation, v.filter.shape[2:], strict=True):
            met = [(t, divmod(y + t * d - e, s)) for t in range(k)]
            axes.append([(t, q) for t, (q, r) in met if not r and 0 <= q < n])
        return [(tuple(t for t, _ in pairs), tuple(q for _, q in pairs))
                for pairs in itertools.product(*axes)]

    def reached(self, at: Index, tap: Index) -> Index | None:
        """The output entry input entry ``at`` reaches through tap t, at·s − p + t·d
        along each axis, or None outside the output."""
        v = self.v
        o = tuple(i * s - p + t * d for i, t, s, p, d in
                  zip(at, tap, v.stride, v.padding, v.dilation, strict=True))
        return o if all(0 <= y < n for y, n in zip(o, v.output_size, strict=True)) else None

    # --- steps

    def shapes(self) -> Step:
        v = self.v
        blocks: list[Block] = []
        for axis, letter in enumerate("DHW"):
            general = _size_formula(Name(f"{letter}_in"), Name("s"), Name("p"), Name("d"),
                                    Name(f"k_{'dhw'[axis]}"), Name("o"))
            worked = _size_formula(_num(v.input.shape[1 + axis]), _num(v.stride[axis]),
                                   _num(v.padding[axis]), _num(v.dilation[axis]),
                                   _num(v.filter.shape[2 + axis]),
                                   _num(v.output_padding[axis]))
            blocks.append(Equation(Name(f"{letter}_out"), (general, worked),
                                   Fraction(v.output_size[axis])))
        shape = "×".join(str(n) for n in v.output_size)
        blocks.append(Text((
            "A transposed convolution (conv_transpose) spreads each input entry over the "
            f"output: {count(self.channels, 'input channel')}, "
            f"{count(self.filters, 'output channel')}, a "
            + "×".join(str(n) for n in v.filter.shape[2:])
            + f" kernel, stride {_settings(v.stride)}, padding {_settings(v.padding)}, "
            f"dilation {_settings(v.dilation)}, output_padding "
            f"{_settings(v.output_padding)} (o above)"
            + (f", groups {v.groups}" if v.groups > 1 else "")
            + f": the output is a volume of {shape} (depth, rows, columns)"
            + (" per output channel." if self.filters > 1 else "."),)))
        if v.groups > 1:
            blocks.append(Text(self.feeds()))
        return Step("shapes", "Output size", tuple(blocks))

    def feeds(self) -> tuple[str, ...]:
        """Which output channels each group's input channels feed."""
        v, base = self.v, self.v.notation.index_base
        per = self.channels // v.groups
        parts = []
        for g in range(v.groups):
            channels = range(g * per, (g + 1) * per)
            outputs = self.outputs_of(channels[0])
            one_in, one_out = len(channels) == 1, len(outputs) == 1
            parts.append(f"input channel{'' if one_in else 's'} {ranges(channels, base)} "
                         f"feed{'s' if one_in else ''} output channel{'' if one_out else 's'} "
                         f"{ranges(outputs, base)}")
        return (f"With groups {v.groups}: " + ", ".join(parts) + ". The filter is "
                f"[C][F/groups][kd][kh][kw] = [{self.channels}][{self.per_group}]"
                + "".join(f"[{k}]" for k in v.filter.shape[2:])
                + f": weight {v.notation.filter}[c, f] carries input channel c to the f-th "
                "output channel of its group, and no input channel reaches the output "
                "channels of another group.",)

    def _side(self, axis: int) -> str:
        """Along one axis: d·(k − 1) − p worked out, and what it does: that many zeros
        on each side, or, negative, that many slices (rows, columns) of the
        zero-inserted input cropped from each side; with output_padding, what the
        far side gets."""
        v = self.v
        d, k, p = v.dilation[axis], v.filter.shape[2 + axis], v.padding[axis]
        e, extra = scatter.expansion(v)[axis], v.output_padding[axis]
        unit, end = UNITS[axis], END[axis]
        if e >= 0:
            return f"{d}·({k} − 1) − {p} = {count(e, unit)} {ENDS[axis]}" + (
                f", and output_padding adds {count(extra, unit)} more {end}" if extra else "")
        cut = -e
        words = (f"{d}·({k} − 1) − {p} = −{cut}, negative: the padding is larger than "
                 f"d·(k − 1), so instead of padding, {count(cut, unit)} of the zero-inserted "
                 f"input {'is' if cut == 1 else 'are'} cropped from {BOTH[axis]}")
        if not extra:
            return words
        net = e + extra
        if net < 0:
            return words + (f"; output_padding keeps {count(extra, unit)} of those {end}, "
                            f"so only {count(-net, unit)} {'is' if net == -1 else 'are'} "
                            "cropped there")
        return words + (f"; output_padding keeps the far side uncropped {end}"
                        + (f" and adds {count(net, unit)} of zeros there" if net else ""))

    def expanded_slices(self, xe: Array) -> list[Block]:
        """Xe, one matrix per depth slice of each channel, each saying which depth
        slice of the input it holds (or that it is all zeros)."""
        v, base = self.v, self.v.notation.index_base
        e, s = scatter.expansion(v), v.stride
        out: list[Block] = []
        for c, depth in np.ndindex(*xe.shape[:2]):
            q, r = divmod(depth - e[0], s[0])
            held = (f"{v.notation.input}'s depth {q + base}" if not r
                    and 0 <= q < v.input.shape[1] else "zeros")
            words = ([f"channel {c + base}"] if self.channels > 1 else []) + [
                f"depth {depth + base}: {held}"]
            out.append(Matrix((Whole("padded_input"), f" ({', '.join(words)})"), xe[c, depth],
                              border=(e[1], e[2]), step=(s[1], s[2]),
                              extra=(v.output_padding[1], v.output_padding[2])))
        return out

    def padding(self) -> Step:
        """Zero insertion, padding (or cropping) and the rotated kernel: the transposed
        layer made an ordinary stride-1 correlation."""
        v = self.v
        e = scatter.expansion(v)
        cropped = any(n < 0 for n in e)
        padded = any(n > 0 or n + o > 0 for n, o in zip(e, v.output_padding, strict=True))
        sd, sh, sw = v.stride
        words: list[str | Expr] = [
            "The transposed convolution is worked as an ordinary one. First zero insertion: "
            f"{count(sd - 1, 'zero')} between the depth slices of ", Whole("input"),
            f", {count(sh - 1, 'zero')} between its rows and {count(sw - 1, 'zero')} between "
            f"its columns (stride {_settings(v.stride)}). Then "
            + ("padding (or cropping)" if cropped else "padding")
            + " by d·(k − 1) − p on each side: "
            + "; ".join(self._side(axis) for axis in range(3))
            + ". This gives the expanded input ", Whole("padded_input"), "."]
        groups = v.groups > 1
        turned = ("The kernel is rotated by 180° (flipped along all three axes: depth, rows "
                  "and columns)")
        kernel_words = (
            f"{turned} and, as the filter is [C][F{'/groups' * groups}][kd][kh][kw] (input "
            "channels first), its channel axes are swapped: output channel f reads weight "
            f"{v.notation.filter}[c, f] of every input channel c"
            + (" of its group" if groups else "") + "." if not self.compact else f"{turned}.")
        title = ("Zero insertion and padding" if not cropped else
                 "Zero insertion, padding and cropping" if padded else
                 "Zero insertion and cropping")
        return Step("padding", title, (
            Text(tuple(words)),
            *self.expanded_slices(scatter.expand(v)),
            Text((kernel_words,)),
            *self.kernel_slices((Call("rot180", (Whole("filter"),)),),
                                v.filter[:, :, ::-1, ::-1, ::-1]),
        ))

    def forward(self) -> Step:
        v = self.v
        sizes = v.filter.shape[2:]

        def equation(f: int, o: Index) -> Equation:
            column = f % self.per_group  # f's place among its group's output channels
            symbolic: list[Expr] = []
            numeric: list[Expr] = []
            met = self.window(o)
            for c in v.channels_of(f):
                for tap, at in met:
                    weight = (c, column, *(k - 1 - t for k, t in zip(sizes, tap, strict=True)))
                    symbolic.append(Mul((Sym("input", (c, *at)), Sym("filter", weight))))
                    numeric.append(Mul((_num(v.input[(c, *at)]), _num(v.filter[weight]))))
            products = bool(symbolic)
            if v.bias is not None:
                symbolic.append(Sym("bias", (f,)))
                numeric.append(_num(v.bias[f]))
            forms: tuple[Expr, ...] = ((Add(tuple(symbolic)), Add(tuple(numeric))) if products
                                       else (Add(tuple(symbolic)),) if symbolic else ())
            return Equation(Sym("output", (f, *o)), forms, self.z[(f, *o)],
                            ("conv" if v.activation or v.pool else "output", (f, *o)))

        rule: tuple[str | Expr, ...] = (
            "Each output entry is the sum of the products of its window of ",
            Whole("padded_input"), " with the rotated kernel, stride 1",
            *((f" and its taps {_settings(v.dilation)} apart",) if set(v.dilation) != {1}
              else ()),
            *((", plus the bias ", Whole("bias")) if v.bias is not None else ()),
            ": ", Whole("output"), " = ",
            Add((Call("conv", (Whole("padded_input"), Call("rot180", (Whole("filter"),)))),
                 *((Whole("bias"),) if v.bias is not None else ()))),
            ". Terms holding an inserted or padding zero are left out, so each product is an "
            "input entry times the kernel weight it meets.",
            *((f" With {v.groups} groups, c runs over the {self.channels // v.groups} input "
               f"channel{'s' * (self.channels // v.groups != 1)} of the output channel's "
               "group.",) if v.groups > 1 else ()))
        return Step("forward", "Forward pass", (
            Text(rule),
            *(equation(f, o) for f in range(self.filters) for o in _positions(v.output_size)),
            *self.slices((Whole("output"),), self.z, ("filter",)),
        ))

    def padded_grad(self) -> list[Block]:
        """dL/dZ padded by p on each side of each axis, one matrix per depth slice,
        each labelled with the depth slice of dL/dZ it holds or the padding it is;
        nothing without padding."""
        v, base = self.v, self.v.notation.index_base
        if not any(v.padding):
            return []
        grad = np.full((self.filters, *(n + 2 * p for n, p in
                                        zip(v.output_size, v.padding, strict=True))),
                       Fraction(0), dtype=object)
        grad[(slice(None), *(slice(p, p + n) for n, p in
                             zip(v.output_size, v.padding, strict=True)))] = self.dz
        front, depth = v.padding[0], v.output_size[0]
        out: list[Block] = []
        for f, r in np.ndindex(*grad.shape[:2]):
            held = ("padding in front" if r < front else "padding behind"
                    if r >= front + depth else f"depth {r - front + base}")
            words = ([f"filter {f + base}"] if self.filters > 1 else []) + [held]
            out.append(Matrix((Whole("padded_grad"), f" ({', '.join(words)})"), grad[f, r],
                              border=(v.padding[1], v.padding[2])))
        return out

    def _indices(self) -> tuple[str, str, str]:
        """The indices a sentence writes a weight, an input entry and the output entry
        it reaches with."""
        return ("a, b, e", "i, j, l", "i·s − p + a·d, j·s − p + b·d, l·s − p + e·d")

    def grad_filter(self) -> Step:
        v, s = self.v, self.solved
        grad, names = self.dz, v.notation
        inputs = _positions(v.input.shape[1:])

        def equation(e: Index) -> Equation:
            c, column, *tap = e
            f = self.outputs_of(c)[column]  # the output channel weight K[c, column] feeds
            symbolic: list[Expr] = []
            numeric: list[Expr] = []
            for at in inputs:
                o = self.reached(at, tuple(tap))
                if o is None:
                    continue
                symbolic.append(Mul((Sym("input", (c, *at)), Sym("grad_output", (f, *o)))))
                numeric.append(Mul((_num(v.input[(c, *at)]), _num(grad[(f, *o)]))))
            forms: tuple[Expr, ...] = ((Add(tuple(symbolic)), Add(tuple(numeric))) if symbolic
                                       else ())
            return Equation(Sym("grad_filter", e), forms, s["grad_filter"][e],
                            ("grad_filter", e))

        weight, entry, reached = self._indices()
        return Step("grad_filter", "Gradient with respect to the kernel", (
            Text((
                f"Weight {names.filter}[c, f, {weight}] carries input entry "
                f"{names.input}[c, {entry}] to output entry {names.output}[f, {reached}], so "
                "by the chain rule ", Whole("grad_filter"),
                f"[c, f, {weight}] = Σ_i Σ_j Σ_l {names.input}[c, {entry}]·",
                Whole("grad_output"), f"[f, {reached}]. Each weight meets, in ",
                Whole("padded_grad"), f" (padded by {_settings(v.padding)}), a window of the "
                f"input's shape with its taps {_settings(v.stride)} apart, and the sum is "
                "that window times the input; terms in the padding are left out.",)),
            *self.padded_grad(),
            *(equation(e) for e in _positions(v.filter.shape)),
            *self.kernel_slices((Whole("grad_filter"),), s["grad_filter"]),
        ))

    def grad_input(self) -> Step:
        v, s = self.v, self.solved
        grad, names = self.dz, v.notation
        taps = _positions(v.filter.shape[2:])

        def equation(e: Index) -> Equation:
            c, *at = e
            symbolic: list[Expr] = []
            numeric: list[Expr] = []
            for f in self.outputs_of(c):
                column = f % self.per_group
                for tap in taps:
                    o = self.reached(tuple(at), tap)
                    if o is None:
                        continue
                    symbolic.append(Mul((Sym("grad_output", (f, *o)),
                                         Sym("filter", (c, column, *tap)))))
                    numeric.append(Mul((_num(grad[(f, *o)]), _num(v.filter[(c, column, *tap)]))))
            forms: tuple[Expr, ...] = ((Add(tuple(symbolic)), Add(tuple(numeric))) if symbolic
                                       else ())
            return Equation(Sym("grad_input", e), forms, s["grad_input"][e],
                            ("grad_input", e))

        weight, entry, reached = self._indices()
        return Step("grad_input", "Gradient with respect to the input", (
            Text((
                "The transposed convolution's input gradient is an ordinary convolution: "
                f"input entry {names.input}[c, {entry}] reached output entries "
                f"{names.output}[f, {reached}] through weight {names.filter}[c, f, {weight}], "
                "so ", Whole("grad_input"), " = ",
                Call("conv", (Whole("padded_grad"), Whole("filter"))),
                ", the correlation of ", Whole("grad_output"), " padded by "
                f"{_settings(v.padding)} with the kernel itself (not rotated), stride "
                f"{_settings(v.stride)}",
                *((f", taps {_settings(v.dilation)} apart",) if set(v.dilation) != {1}
                  else ()),
                *((", summed over the output channels f",) if self.per_group > 1 else ()),
                ". Terms in the padding are left out.",)),
            *(equation(e) for e in _positions(v.input.shape)),
            *self.slices((Whole("grad_input"),), s["grad_input"], ("channel",)),
        ))
