"""The worked solution of a 3-D layer: a volume under a kernel of (a, b, e) taps.

Every volume is shown as its depth slices ("depth 1", "depth 2", …), and
every entry carries three indices, depth, row and column (and the channel or
filter before them where there are several):

    Z_ijl = Σ_c Σ_a Σ_b Σ_e Xpad(c, i·sd + a·dd, j·sh + b·dh, l·sw + e·dw)·K(c,a,b,e) + B
    ∂L/∂K_abe = Σ_ijl ∂L/∂Z_ijl · Xpad(c, i·sd + a·dd, …)
    ∂L/∂B = Σ_ijl ∂L/∂Z_ijl
    ∂L/∂X = full conv(rot180(K), ∂L/∂Z): each input entry gathers ∂L/∂Z_ijl · K_abe
            over the windows and taps that read it

with rot180 flipping all three axes. The numbers come from :mod:`cnnstep.volume`;
this module only writes them out. Terms with padding zeros are left out.
"""

from __future__ import annotations

import dataclasses
import itertools
from fractions import Fraction
from typing import Any

import numpy as np

from cnnstep import volume as engine
from cnnstep.derivation.given import ACTIVATION_NAMES, LOSS_NAMES
from cnnstep.derivation.history import later, of_steps, opening, titled
from cnnstep.derivation.nodes import (
    Add,
    Block,
    Call,
    Derivation,
    Div,
    Equation,
    Expr,
    Floor,
    Group,
    Matrix,
    Mul,
    Name,
    Num,
    Pow,
    Ratio,
    Sigma,
    Step,
    Sub,
    Sym,
    Table,
    Text,
    Whole,
)
from cnnstep.problem import Array, Notation, Volume
from cnnstep.quantities import BY_KEY

Index = tuple[int, ...]
AXES = ("depth", "row", "column")
#: the two sides of each axis, as the size formula names their padding
SIDES = (("front", "back"), ("top", "bottom"), ("left", "right"))


#: sigmoid and tanh, computed in floating point
FLOAT_RULES = {"sigmoid": "σ(z) = 1/(1 + e^(−z))",
               "tanh": "tanh(z) = (e^z − e^(−z))/(e^z + e^(−z))"}
FLOAT_DERIVATIVES = {"sigmoid": "σ′(z) = σ(z)(1 − σ(z))", "tanh": "tanh′(z) = 1 − tanh(z)²"}


def _num(value: Fraction | int) -> Num:
    return Num(Fraction(value))


def _positions(shape: tuple[int, ...]) -> list[Index]:
    return list(itertools.product(*(range(n) for n in shape)))


def _padding_words(v: Volume) -> str:
    """The padding as the givens say it: ``1``, ``1×0×2``, ``"same"``, or per side."""
    before, after = v.sides
    if v.padding_form:
        return f'"{v.padding_form}"'
    if before == after:
        return _settings(before)
    return ("[" + ", ".join(f"[{a}, {b}]" for a, b in zip(before, after, strict=True)) + "]"
            + " (front/back, top/bottom, left/right)")


def _settings(values: tuple[int, int, int]) -> str:
    """A per-axis setting: ``2`` when the three axes agree, else ``1×2×2``."""
    return str(values[0]) if len(set(values)) == 1 else "×".join(str(v) for v in values)


class VolumeWriter:
    """Writes a solved 3-D layer out as steps; it computes no number of its own
    beyond reading the solved arrays."""

    def __init__(self, layer: Volume, solved: dict[str, Any] | None = None) -> None:
        self.v = layer
        #: the solved arrays (:func:`cnnstep.volume.arrays`), or a batch's sums to write
        self.solved = engine.arrays(layer) if solved is None else solved
        self.channels, self.filters = layer.input.shape[0], layer.filters
        self.compact = self.channels == 1 and self.filters == 1
        #: the stage the loss compares: Z, or A after an activation
        self.last = ("pooled" if layer.pool is not None else "output"
                     if layer.activation is None else "activated")
        #: the stage the pool reads: A after an activation, else Z
        self.read_by_pool = "output" if layer.activation is None else "activated"
        #: dL/dZ, which the gradients of the weights and the input read
        self.dz: Any = self.solved.get("grad_conv", self.solved.get("grad_output"))
        #: Z, the convolution's output
        self.z: Array = self.solved.get("conv", self.solved["output"])
        #: what the maps of an output are: one per filter, or per channel for a layer
        #: alone
        self.maps = ("filter",) if layer.convolution else ("channel",)

    # --- pieces

    def slices(self, label: tuple[str | Expr, ...], array: Array,
               lead: tuple[str, ...], border: tuple[int, int] = (0, 0),
               border_end: tuple[int, int] | None = None,
               approximate: bool = False) -> list[Block]:
        """One matrix per depth slice (per channel or filter where there are several)."""
        out: list[Block] = []
        base = self.v.notation.index_base
        for index in np.ndindex(*array.shape[:-2]):
            words = [f"{name} {i + base}" for name, i, n in
                     zip((*lead, "depth"), index, array.shape[:-2], strict=True)
                     if n > 1 or name == "depth"]
            out.append(Matrix((*label, f" ({', '.join(words)})"), array[index], border=border,
                              border_end=None if border_end == border else border_end,
                              approximate=approximate))
        return out

    def kernel_slices(self, label: tuple[str | Expr, ...], array: Array) -> list[Block]:
        """A filter-shaped array, one matrix per depth slice of each filter's channel."""
        return self.slices(label, array, ("filter", "channel"))

    def layer_words(self) -> str:
        """What kind of layer the givens describe, with its settings."""
        v = self.v
        return (f"3-D convolution: stride {_settings(v.stride)}, padding "
                + _padding_words(v)
                + (f", dilation {_settings(v.dilation)}" if set(v.dilation) != {1} else "")
                + (f", {v.groups} groups" if v.groups > 1 else "")
                + ('; mode "convolution": the kernel is flipped along all three axes '
                   "in the forward pass" if v.flipped else ""))

    def x(self, c: int, at: Index) -> tuple[Sym, Num] | None:
        """The input entry at a padded position, its symbol and its number, or None for
        a padding zero."""
        inside = (c, *(a - p for a, p in zip(at, self.v.sides[0], strict=True)))
        if all(0 <= i < n for i, n in zip(inside[1:], self.v.input.shape[1:], strict=True)):
            return Sym("input", inside), _num(self.v.input[inside])
        return None

    def weight(self, tap: Index) -> Index:
        """The kernel entry forward tap (a, b, e) multiplies: itself, or in mode
        "convolution" (kd − 1 − a, kh − 1 − b, kw − 1 − e)."""
        if not self.v.flipped:
            return tap
        return tuple(k - 1 - t for k, t in zip(self.v.filter.shape[2:], tap, strict=True))

    def read(self, o: Index, tap: Index) -> Index:
        """The padded position tap (a, b, e) of output (i, j, l) reads."""
        return tuple(oi * s + t * d for oi, t, s, d in
                     zip(o, tap, self.v.stride, self.v.dilation, strict=True))

    # --- steps

    def given(self) -> Step:
        v = self.v
        if not v.convolution:
            return self.given_alone()
        blocks: list[Block] = [*self.slices((Whole("input"),), v.input, ("channel",)),
                               *self.kernel_slices((Whole("filter"),), v.filter)]
        words: list[str | Expr] = []
        if v.bias is not None:
            if self.filters == 1:
                words += [Whole("bias"), " = ", _num(v.bias[0]), "; "]
            else:
                blocks.append(Matrix((Whole("bias"),), v.bias.reshape(1, -1)))
        if v.target is not None:
            blocks += self.slices((Whole("target"),), v.target, self.maps)
        elif v.grad_output is not None:
            blocks += self.slices((Whole("grad_output"),), v.grad_output, self.maps)
        words.append(self.layer_words())
        if v.target is not None:
            words.append(f"; loss: {LOSS_NAMES[v.loss]} ({v.loss})")
        if v.learning_rate is not None:
            words += ["; learning rate ", Sym("learning_rate"), " = ", _num(v.learning_rate)]
        words.append(".")
        first = words[0]
        if isinstance(first, str):
            words[0] = first[:1].upper() + first[1:]
        blocks.append(Text(tuple(words)))
        return Step("given", "Given", tuple(blocks), numbered=False)

    def given_alone(self) -> Step:
        """The givens of a layer alone: the input, the target or gradient, and what
        the input goes through, as a 2-D layer alone states them."""
        v = self.v
        blocks: list[Block] = list(self.slices((Whole("input"),), v.input, ("channel",)))
        if v.target is not None:
            blocks += self.slices((Whole("target"),), v.target, self.maps)
        elif v.grad_output is not None:
            of = "grad_pooled" if v.pool is not None else "grad_activated"
            blocks += self.slices((Whole(of),), v.grad_output, self.maps)
        words = ["No convolution: the input goes straight to the "
                 + ("activation" if v.activation is not None else "pool")]
        if v.activation is not None:
            words.append(f"; activation {ACTIVATION_NAMES[v.activation.kind]}")
        if v.pool is not None:
            words.append(f"; {v.pool.kind} pooling over {_settings(v.pool.size)} windows "
                         f"with stride {_settings(v.pool.stride)}")
        if v.target is not None:
            words.append(f"; loss: {LOSS_NAMES[v.loss]} ({v.loss})")
        blocks.append(Text(("".join(words) + ".",)))
        return Step("given", "Given", tuple(blocks), numbered=False)

    def shapes(self) -> Step:
        v = self.v
        blocks: list[Block] = []
        two, one = _num(2), _num(1)
        for axis, letter in enumerate("DHW"):
            k, d = v.filter.shape[2 + axis], v.dilation[axis]
            kernel: Expr = Name(f"k_{'dhw'[axis]}")
            worked: Expr = _num(k)
            if d != 1:
                kernel = Group(Add((Mul((Name("d"), Group(Sub(kernel, one)))), one)))
                worked = Group(Add((Mul((_num(d), Group(Sub(worked, one)))), one)))

            def size(n: Expr, p: tuple[Expr, ...], k: Expr, s: Expr) -> Expr:
                added = Mul((two, p[0])) if len(p) == 1 else Add(p)
                return Add((Floor(Div(Sub(Add((n, added)), k), s)), one))

            before, after = (side[axis] for side in v.sides)
            names = (Name("p"),) if before == after else tuple(
                Name(f"p_{side}") for side in SIDES[axis])
            numbers = (_num(before),) if before == after else (_num(before), _num(after))
            blocks.append(Equation(Name(f"{letter}_out"), (
                size(Name(f"{letter}_in"), names, kernel, Name("s")),
                size(_num(v.input.shape[1 + axis]), numbers, worked,
                     _num(v.stride[axis]))), Fraction(v.output_size[axis])))
        shape = "×".join(str(n) for n in v.output_size)
        groups = (f" in {v.groups} groups (each filter sees {self.channels // v.groups} of the "
                  "channels)" if v.groups > 1 else "")
        blocks.append(Text((
            f"{self.channels} input channel{'s' * (self.channels != 1)}, {self.filters} "
            f"filter{'s' * (self.filters != 1)} of "
            + "×".join(str(n) for n in v.filter.shape[2:]) + groups
            + f": the output is a volume of {shape} (depth, rows, columns)"
            + (" per filter." if self.filters > 1 else "."),)))
        return Step("shapes", "Output size", tuple(blocks))

    def padding(self) -> Step | None:
        before, after = self.v.sides
        if not any(before) and not any(after):
            return None
        if before == after:
            pd, ph, pw = before
            where = (f"on each side: {pd} slice{'s' * (pd != 1)} in front and behind, {ph} "
                     f"row{'s' * (ph != 1)} above and below, {pw} column{'s' * (pw != 1)} "
                     "left and right")
        else:
            where = ": " + ", ".join(
                f"{n} {unit}{'s' * (n != 1)} {side}" for n, unit, side in zip(
                    (*before, *after), ("slice", "row", "column") * 2,
                    ("in front", "above", "left", "behind", "below", "right"), strict=True))
        named = (f' (padding "{self.v.padding_form}")' if self.v.padding_form else "")
        return Step("padding", "Padding", (
            Text((f"Zeros are added{named}{' ' if before == after else ''}{where}. Terms "
                  "with these zeros are left out of the sums below.",)),
            *self.slices((Whole("padded_input"),), engine.padded(self.v), ("channel",),
                         border=before[1:], border_end=after[1:]),
        ))

    def forward(self) -> Step:
        v = self.v
        taps = _positions(v.filter.shape[2:])

        def equation(f: int, o: Index) -> Equation:
            symbolic: list[Expr] = []
            numeric: list[Expr] = []
            for local, c in enumerate(v.channels_of(f)):
                for tap in taps:
                    x = self.x(c, self.read(o, tap))
                    if x is None:
                        continue
                    weight = (f, local, *self.weight(tap))
                    symbolic.append(Mul((x[0], Sym("filter", weight))))
                    numeric.append(Mul((x[1], _num(v.filter[weight]))))
            products = bool(symbolic)
            if v.bias is not None:
                symbolic.append(Sym("bias", (f,)))
                numeric.append(_num(v.bias[f]))
            # a window in the padding alone reads no input: only the bias is left
            forms: tuple[Expr, ...] = ((Add(tuple(symbolic)), Add(tuple(numeric))) if products
                                       else (Add(tuple(symbolic)),) if symbolic else ())
            return Equation(Sym("output", (f, *o)), forms, self.z[(f, *o)],
                            ("conv" if v.activation or v.pool else "output", (f, *o)))

        index = ("f", "i", "j", "l")
        tap_at = ("c", "i·s + a", "j·s + b", "l·s + e") if set(v.dilation) == {1} else (
            "c", "i·s + a·d", "j·s + b·d", "l·s + e·d")
        rule: tuple[str | Expr, ...] = (
            "Each output entry is the sum of the products of its window of the input, a "
            "block of taps across depth, rows and columns, with the kernel",
            *((", plus the bias",) if v.bias is not None else ()), ": ",
            Sym("output", index), " = ",
            Add((Sigma("c,a,b,e" if self.channels > 1 else "a,b,e",
                       Mul((Sym("input", tap_at), Sym("filter", ("f", "c", "a", "b", "e"))))),
                 *((Sym("bias", ("f",)),) if v.bias is not None else ()))),
            ", with i, j, l the output's depth, row and column and a, b, e the kernel's"
            + (" (over the padded input)." if any(v.padded_size[k] != v.input.shape[1 + k]
                                                  for k in range(3)) else "."),
            *((" Mode \"convolution\" flips the kernel along all three axes first: tap "
               "(a, b, e) multiplies the kernel's entry (kd − 1 − a, kh − 1 − b, kw − 1 − e).",)
              if v.flipped else ()),
            *((f" With {v.groups} groups, c runs over the {self.channels // v.groups} input "
               f"channel{'s' * (self.channels // v.groups != 1)} of the filter's group.",)
              if v.groups > 1 else ()))
        return Step("forward", "Forward pass", (
            Text(rule),
            *(equation(f, o) for f in range(self.filters) for o in _positions(v.output_size)),
            *self.slices((Whole("output"),), self.z, self.maps),
        ))

    def loss(self) -> Step | None:
        v, s = self.v, self.solved
        if v.target is None:
            return None
        z, y, last = s["output"], v.target, self.last
        entries = _positions(z.shape)
        n = z.size * v.loss_images  # a batch's mean is over every volume's entries
        scales: dict[str, tuple[Expr, ...]] = {"mse": (Ratio(1, n),), "sse": (),
                                               "half_sse": (Ratio(1, 2),)}
        scale = scales[v.loss]
        differences = Add(tuple(Pow(Group(Sub(Sym(last, e), Sym("target", e))), 2)
                                for e in entries))
        numbers = Add(tuple(Pow(Group(Sub(_num(z[e]), _num(y[e]))), 2) for e in entries))
        squares = Add(tuple(_num((z[e] - y[e]) ** 2) for e in entries))
        total = sum(((z[e] - y[e]) ** 2 for e in entries), Fraction(0))
        forms: list[Expr] = [Mul((*scale, Group(body, square=True))) if scale else body
                             for body in (differences, numbers, squares)]
        if scale:
            forms.append(Mul((*scale, _num(total))))
        return Step("loss", "Loss", (
            Text((f"The loss is {LOSS_NAMES[v.loss]} over all {z.size} entries of ",
                  Whole(last), " against the target ", Whole("target"), ".")),
            Equation(Sym("loss"), tuple(forms), s["loss"], ("loss", ())),
        ))

    def grad_output(self) -> Step | None:
        v, s = self.v, self.solved
        if v.target is None:
            return None
        z, y, grad, last = s["output"], v.target, s["grad_output"], self.last
        of = "grad_output" if last == "output" else "grad_" + last
        factors: dict[str, tuple[Expr, ...]] = {"mse": (Ratio(2, z.size * v.loss_images),),
                                                "sse": (_num(2),),
                                                "half_sse": ()}
        factor = factors[v.loss]

        def times(a: Expr, b: Expr) -> Expr:
            return Mul((*factor, Group(Sub(a, b)))) if factor else Sub(a, b)

        return Step("grad_output", "Gradient of the loss with respect to the output", (
            Text(("The derivative of the loss with respect to each entry of ", Whole(last),
                  ": ", Whole(of), " = ", times(Whole(last), Whole("target")),
                  ".")),
            *(Equation(Sym(of, e), (times(_num(z[e]), _num(y[e])),), grad[e],
                       ("grad_output", e)) for e in _positions(z.shape)),
            *self.slices((Whole(of),), grad, self.maps),
        ))

    def activation(self) -> Step | None:
        """A = f(Z), entry by entry."""
        v, s = self.v, self.solved
        activation = v.activation
        if activation is None:
            return None
        z, a = s["conv"], s["activated"]
        slope = activation.slope

        floats = not activation.exact

        def equation(e: Index) -> Equation:
            if floats:
                forms: tuple[Expr, ...] = (Call(activation.kind, (Sym("output", e),)),
                                           Call(activation.kind, (_num(z[e]),)))
            elif activation.kind == "relu":
                forms = (Call("max", (_num(0), Sym("output", e))),
                         Call("max", (_num(0), _num(z[e]))))
            elif z[e] > 0:
                forms = (Sym("output", e),)
            else:
                forms = (Mul((_num(slope), Sym("output", e))), Mul((_num(slope), _num(z[e]))))
            return Equation(Sym("activated", e), forms, a[e], ("activated", e),
                            approximate=floats)

        rule: tuple[str | Expr, ...] = (
            (FLOAT_RULES[activation.kind], " is applied to each entry of ", Whole("output"),
             ", computed in floating point: from here on the values are rounded, marked ≈.")
            if floats else
            ("ReLU keeps each positive entry of ", Whole("output"), " and sets the others to "
             "0: ", Whole("activated"), " = ", Call("max", (_num(0), Whole("output"))), ".")
            if activation.kind == "relu" else
            ("Leaky ReLU keeps each positive entry of ", Whole("output"), " and multiplies "
             "the others by the slope ", _num(slope), "."))
        title = {"relu": "ReLU", "leaky_relu": "leaky ReLU", "sigmoid": "σ",
                 "tanh": "tanh"}[activation.kind]
        return Step("activation", f"Activation: {title}", (
            Text(rule),
            *(equation(e) for e in _positions(z.shape)),
            *self.slices((Whole("activated"),), a, self.maps, approximate=floats),
        ))

    def pool(self) -> Step | None:
        """P = pool(A), window by window."""
        v, s = self.v, self.solved
        pool = v.pool
        if pool is None:
            return None
        read = self.read_by_pool
        a = s.get("activated", s["conv"])
        name = {"max": "max", "min": "min", "mean": "mean"}[pool.kind]

        def equation(e: Index) -> Equation:
            f, o = e[0], e[1:]
            cells = pool.window(o)
            symbols = tuple(Sym(read, (f, *c)) for c in cells)
            numbers = tuple(_num(a[(f, *c)]) for c in cells)
            if pool.kind == "mean":
                divisor = _num(pool.divisor(o))
                forms: tuple[Expr, ...] = (Div(Group(Add(symbols)), divisor),
                                           Div(Group(Add(numbers)), divisor))
            else:
                forms = (Call(name, symbols), Call(name, numbers))
            return Equation(Sym("pooled", e), forms, s["pooled"][e], ("pooled", e))

        words = (f"{pool.kind} pooling with a {'×'.join(str(k) for k in pool.size)} window, "
                 f"stride {_settings(pool.stride)}"
                 + (f", its taps {_settings(pool.dilation)} apart (dilation)"
                    if pool.dilation != (1, 1, 1) else "")
                 + (", in ceil mode (a last partial window counts)" if pool.ceil_mode else "")
                 + (f", padding {_settings(pool.padding)} ("
                    + ("adding nothing" if pool.kind == "mean" else "never chosen") + ")"
                    if any(pool.padding) else "")
                 + (", dividing by the entries inside the input"
                    if pool.kind == "mean" and not pool.count_include_pad else ""))
        return Step("pool", f"Pooling: {pool.kind}", (
            Text(("Each entry of ", Whole("pooled"), " is the " + name + " of its window of ",
                  Whole(read), ": " + words + ".")),
            *(equation(e) for e in _positions(s["pooled"].shape)),
            *self.slices((Whole("pooled"),), s["pooled"], self.maps),
        ))

    def pool_backward(self) -> Step | None:
        """dL/dA: each window's gradient sent back to its winner, or shared out."""
        v, s = self.v, self.solved
        pool = v.pool
        if pool is None or "grad_conv" not in s:
            return None
        key = "grad_activated" if v.activation is not None else "grad_conv"
        role = "grad_activated" if v.activation is not None else "grad_output"
        grad, back, a = s["grad_output"], s[key], s.get("activated", s["conv"])
        sources: dict[Index, list[tuple[Index, Fraction]]] = {}
        for e in _positions(grad.shape):
            f, o = e[0], e[1:]
            cells = pool.window(o)
            if pool.kind == "mean":
                share = Fraction(1, pool.divisor(o))
            else:
                values = [a[(f, *c)] for c in cells]
                best = max(values) if pool.kind == "max" else min(values)
                cells, share = [cells[values.index(best)]], Fraction(1)
            for c in cells:
                sources.setdefault((f, *c), []).append((e, share))

        def equation(e: Index) -> Equation:
            terms = sources.get(e, [])
            symbolic = [Sym("grad_pooled", g) if d == 1 else Mul((_num(d), Sym("grad_pooled", g)))
                        for g, d in terms]
            numeric = [_num(grad[g]) if d == 1 else Mul((_num(d), _num(grad[g])))
                       for g, d in terms]
            forms: tuple[Expr, ...] = (Add(tuple(symbolic)), Add(tuple(numeric))) if terms else ()
            if len(terms) == 1 and terms[0][1] == 1:
                forms = forms[:1]  # ∂L/∂Z₂₁₂ = ∂L/∂P₁₁₁ = 5: the number once
            return Equation(Sym(role, e), forms, back[e], (key, e))

        rule = ("the entry that won it (the first, where several tie)" if pool.kind != "mean"
                else "every entry inside it, each getting 1/divisor of it")
        return Step("pool_backward", "Back through the pool", (
            Text(("Each window's gradient ", Whole("grad_pooled"), " goes back to " + rule
                  + "; an entry in several windows adds their parts, one in none gets 0.",)),
            *(equation(e) for e in _positions(back.shape)),
            *self.slices((Whole(role),), back, self.maps),
        ))

    def activation_backward(self) -> Step | None:
        """dL/dZ = dL/dA ⊙ f′(Z)."""
        v, s = self.v, self.solved
        activation = v.activation
        if activation is None or "grad_conv" not in s:
            return None
        z, ga, gz = s["conv"], s.get("grad_activated", s["grad_output"]), s["grad_conv"]
        slope, kind = activation.slope, activation.kind
        one = _num(1)

        def derivative(e: Index) -> Expr:
            """f′ at Z: from the float value of A for sigmoid and tanh."""
            if kind == "sigmoid":
                a = Num(s["activated"][e], True)
                return Mul((a, Group(Sub(one, a))))
            if kind == "tanh":
                return Group(Sub(one, Pow(Num(s["activated"][e], True), 2)))
            return _num(Fraction(1) if z[e] > 0 else (Fraction(0) if kind == "relu"
                                                      else slope))

        def equation(e: Index) -> Equation:
            named: Expr = (Call(kind, (Sym("output", e),), prime=True)
                           if kind in FLOAT_DERIVATIVES else derivative(e))
            return Equation(Sym("grad_output", e), (
                Mul((Sym("grad_activated", e), named)), Mul((_num(ga[e]), derivative(e)))),
                gz[e], ("grad_conv", e))

        below = "0" if kind == "relu" else f"the slope {slope}"
        rule = (f"{FLOAT_DERIVATIVES[kind]}, from the float values of "
                if kind in FLOAT_DERIVATIVES else
                f"1 where it is positive, {below} elsewhere (at 0 too, as PyTorch)")
        return Step("activation_backward", "Back through the activation", (
            Text(("Each entry of ", Whole("grad_activated"), " is multiplied by the "
                  "activation's derivative at ", Whole("output"), ": ", rule,
                  *((Whole("activated"),) if kind in FLOAT_DERIVATIVES else ()), ".")),
            *(equation(e) for e in _positions(z.shape)),
            *self.slices((Whole("grad_output"),), gz, self.maps),
        ))

    def grad_filter(self) -> Step:
        v, s = self.v, self.solved
        grad = self.dz
        outputs = _positions(v.output_size)

        def equation(e: Index) -> Equation:
            f, local, *weight = e
            c = v.channels_of(f)[local]
            tap = self.weight(tuple(weight))  # flipping is its own inverse
            symbolic: list[Expr] = []
            numeric: list[Expr] = []
            for o in outputs:
                x = self.x(c, self.read(o, tap))
                if x is None:
                    continue
                symbolic.append(Mul((Sym("grad_output", (f, *o)), x[0])))
                numeric.append(Mul((_num(grad[(f, *o)]), x[1])))
            forms: tuple[Expr, ...] = ((Add(tuple(symbolic)), Add(tuple(numeric))) if symbolic
                                       else ())
            return Equation(Sym("grad_filter", e), forms, s["grad_filter"][e],
                            ("grad_filter", e))

        rule: Expr = Call("conv", (Whole("input"), Whole("grad_output")))
        if v.flipped:  # the forward pass weighed tap (a, b, e) by K's far entry
            rule = Call("rot180", (rule,))
        return Step("grad_filter", "Gradient with respect to the kernel", (
            Text((Whole("grad_filter"), " = ", rule,
                  ": each weight meets every output entry, so each entry is the sum, over the "
                  "output's depth, rows and columns, of ", Whole("grad_output"),
                  " times the input entry that weight reads there.")),
            *(equation(e) for e in _positions(v.filter.shape)),
            *self.kernel_slices((Whole("grad_filter"),), s["grad_filter"]),
        ))

    def grad_bias(self) -> Step | None:
        v, s = self.v, self.solved
        if v.bias is None:
            return None
        grad = self.dz
        return Step("grad_bias", "Gradient with respect to the bias", (
            Text(("The bias is added to every output entry of its filter: ", Whole("grad_bias"),
                  " = ", Call("sum", (Whole("grad_output"),)), ".")),
            *(Equation(Sym("grad_bias", (f,)), (
                Add(tuple(Sym("grad_output", (f, *o)) for o in _positions(v.output_size))),
                Add(tuple(_num(grad[(f, *o)]) for o in _positions(v.output_size)))),
                s["grad_bias"][f], ("grad_bias", (f,))) for f in range(self.filters)),
        ))

    def grad_input(self) -> Step:
        v, s = self.v, self.solved
        grad, size = self.dz, v.input.shape[1:]
        taps = _positions(v.filter.shape[2:])
        outputs = _positions(v.output_size)
        reaches: dict[Index, list[tuple[int, Index, Index]]] = {}
        for f in range(self.filters):
            for o in outputs:
                for tap in taps:
                    at = tuple(r - p for r, p in
                               zip(self.read(o, tap), v.sides[0], strict=True))
                    if all(0 <= a < n for a, n in zip(at, size, strict=True)):
                        reaches.setdefault(at, []).append((f, o, self.weight(tap)))

        def equation(e: Index) -> Equation:
            c, *at = e
            terms = [(f, o, (f, v.channels_of(f).index(c), *weight))
                     for f, o, weight in reaches.get(tuple(at), []) if c in v.channels_of(f)]
            symbolic = [Mul((Sym("grad_output", (f, *o)), Sym("filter", k)))
                        for f, o, k in terms]
            numeric = [Mul((_num(grad[(f, *o)]), _num(v.filter[k]))) for f, o, k in terms]
            forms = (Add(tuple(symbolic)), Add(tuple(numeric))) if symbolic else ()
            return Equation(Sym("grad_input", e), forms, s["grad_input"][e],
                            ("grad_input", e))

        rotated = v.filter[:, :, ::-1, ::-1, ::-1]
        slid: Expr = Whole("filter") if v.flipped else Call("rot180", (Whole("filter"),))
        rotation: tuple[Block, ...] = (
            Text(('Mode "convolution" flipped the kernel in the forward pass; flipping it '
                  "back, the full convolution slides ", Whole("filter"), " as it is.")),
        ) if v.flipped else (
            Text(("Rotate ", Whole("filter"), " by 180°: flip it along all three axes (depth, "
                  "rows and columns), so each tap (a, b, e) moves to (kd − 1 − a, kh − 1 − b, "
                  "kw − 1 − e):",)),
            *self.slices((Call("rot180", (Whole("filter"),)),), rotated,
                         ("filter", "channel")))
        return Step("grad_input", "Gradient with respect to the input", (
            *rotation,
            Text((Whole("grad_input"), " = ", Call("full_conv", (slid, Whole("grad_output"))),
                  ": the " + ("kernel" if v.flipped else "rotated kernel") + " slides over ",
                  Whole("grad_output"),
                  ", padded with k − 1 zeros on each side of each axis"
                  + (" after s − 1 zeros are inserted between its entries" if set(v.stride)
                     != {1} else "")
                  + ". By the chain rule each entry of ", Whole("grad_input"),
                  " gathers, for every output whose window reads it, that output's gradient "
                  "times the weight that joins them; the padding zeros have no gradient of "
                  "their own.",)),
            *(equation(e) for e in _positions(v.input.shape)),
            *self.slices((Whole("grad_input"),), s["grad_input"], ("channel",)),
        ))

    def update(self) -> Step | None:
        v, s = self.v, self.solved
        rate = v.learning_rate
        if rate is None or "updated_filter" not in s:
            return None
        alpha = _num(rate)
        blocks: list[Block] = [Text((
            "Gradient descent with learning rate ", Sym("learning_rate"), " = ", alpha, ": ",
            Whole("updated_filter"), " = ", Sub(Whole("filter"), Mul((Sym("learning_rate"),
                                                                      Whole("grad_filter")))),
            *((" and ", Whole("updated_bias"), " = ",
               Sub(Whole("bias"), Mul((Sym("learning_rate"), Whole("grad_bias")))))
              if v.bias is not None else ()), "."))]
        for e in _positions(v.filter.shape):
            blocks.append(Equation(Sym("updated_filter", e), (
                Sub(_num(v.filter[e]), Mul((alpha, _num(s["grad_filter"][e])))),),
                s["updated_filter"][e], ("updated_filter", e)))
        if v.bias is not None:
            for f in range(self.filters):
                blocks.append(Equation(Sym("updated_bias", (f,)), (
                    Sub(_num(v.bias[f]), Mul((alpha, _num(s["grad_bias"][f])))),),
                    s["updated_bias"][f], ("updated_bias", (f,))))
        blocks += self.kernel_slices((Whole("updated_filter"),), s["updated_filter"])
        return Step("update", "Update", tuple(blocks))


#: a history of at most this many numbers a step is one table; a longer one is shown
#: step by step, the loss and the weights' slices
TABLE_COLUMNS = 9


def history(writer: VolumeWriter,
            trained: tuple[list[dict[str, Any]], Fraction] | None = None) -> Step | None:
    """Training: the loss before each step's update and the weights after it, then
    the loss with the last update's weights (``trained``: a batch's, else the layer's)."""
    v = writer.v
    if v.steps == 1:
        return None
    rows, final = engine.training(v) if trained is None else trained
    blocks: list[Block] = [Text((
        f"Training repeats the forward pass, the loss, the backward pass and the update "
        f"{v.steps} times with the same input and target, each step starting from the "
        "weights the step before it updated. The loss ", Whole("loss"),
        " of a training step is computed before its update; ", Whole("updated_filter"),
        *((" and ", Whole("updated_bias")) if v.bias is not None else ()),
        " are the weights after it.",))]
    filters = _positions(v.filter.shape)
    biases = [(f,) for f in range(writer.filters)] if v.bias is not None else []
    if 1 + len(filters) + len(biases) <= TABLE_COLUMNS:
        heads: list[Expr] = [Whole("loss"), *(Sym("updated_filter", e) for e in filters),
                             *(Sym("updated_bias", e) for e in biases)]
        values = np.empty((len(rows), len(heads)), dtype=object)
        for k, row in enumerate(rows):
            values[k] = [row["loss"], *(row["updated_filter"][e] for e in filters),
                         *(row["updated_bias"][e] for e in biases)]
        blocks.append(Table("step", tuple(heads), tuple(str(k) for k in
                                                        range(1, v.steps + 1)), values))
    else:
        for k, row in enumerate(rows, start=1):
            blocks += [Text((f"Training step {k}:",)),
                       Equation(Whole("loss"), (), row["loss"]),
                       *writer.kernel_slices((Whole("updated_filter"),),
                                             row["updated_filter"])]
            blocks += [Equation(Sym("updated_bias", e), (), row["updated_bias"][e])
                       for e in biases]
    blocks += [Text((f"The loss with the weights of training step {v.steps}'s update, from "
                     "a forward pass and the loss with those weights:",)),
               Equation(Whole("final_loss"), (), final, ("final_loss", ()))]
    return Step("history", f"Training: the loss and the weights at each of {v.steps} steps",
                tuple(blocks))


def rounded(node: Any) -> Any:
    """A block or expression with every number, equation and matrix in it marked as a
    float approximation (printed rounded, after ≈)."""
    if isinstance(node, tuple):
        return tuple(rounded(item) for item in node)
    if isinstance(node, Num):
        return Num(node.value, True)
    if isinstance(node, Equation):
        return dataclasses.replace(node, lhs=rounded(node.lhs), forms=rounded(node.forms),
                                   approximate=node.value is not None)
    if isinstance(node, (Matrix, Table)):
        return dataclasses.replace(node, approximate=True)
    if isinstance(node, (Text, type)) or not dataclasses.is_dataclass(node):
        return node
    item: Any = node
    return dataclasses.replace(item, **{field.name: rounded(getattr(item, field.name))
                                        for field in dataclasses.fields(item)
                                        if field.init})


def _marked(layer: Volume, step: Step | None) -> Step | None:
    """A step after float sigmoid or tanh with its numbers marked approximate: the
    steps of the quantities the registry says it reaches
    (:data:`cnnstep.quantities.BY_KEY`)."""
    activation = layer.activation
    if step is None or activation is None or activation.exact:
        return step
    # the activation's own step marks A itself; Z there is exact
    reached = step.key != "activation" and any(
        q.step == step.key and (q.approximate == "always" or
                                (q.approximate == "target" and layer.target is not None))
        for q in BY_KEY.values())
    return dataclasses.replace(step, blocks=rounded(step.blocks)) if reached else step


def writer_of(layer: Volume, solved: dict[str, Any] | None = None) -> VolumeWriter:
    """The writer of a 3-D layer's steps: a transposed layer's
    (:class:`~cnnstep.derivation.volume_transposed.TransposedWriter`) or an ordinary
    one's."""
    if layer.transposed:
        from cnnstep.derivation.volume_transposed import TransposedWriter

        return TransposedWriter(layer, solved)
    return VolumeWriter(layer, solved)


def worked(layer: Volume, writer: VolumeWriter | None = None) -> list[Step]:
    """The steps of a 3-D layer's solution (by ``writer``, one made for the layer by
    default), the history (with ``steps``) last."""
    writer = writer_of(layer) if writer is None else writer
    made: list[Step | None] = [writer.given(), writer.shapes(), writer.padding(),
                               writer.forward(), writer.activation(), writer.pool(),
                               writer.loss(), writer.grad_output(), writer.pool_backward(),
                               writer.activation_backward()]
    if layer.has_gradients:
        made += [writer.grad_filter(), writer.grad_bias(), writer.grad_input(),
                 writer.update(), history(writer)]
    return [step for step in (_marked(layer, step) for step in made) if step is not None]


def start(layer: Volume, k: int) -> list[Block]:
    """What training step ``k`` of ``layer.steps`` works from: its filter and bias."""
    writer = writer_of(layer)
    blocks: list[Block] = [opening(k, layer.steps, layer.bias is not None),
                           *writer.kernel_slices((Whole("filter"),), layer.filter)]
    if layer.bias is not None:
        blocks.append(Equation(Sym("bias", (0,)), (), layer.bias[0]) if writer.filters == 1
                      else Matrix((Whole("bias"),), layer.bias.reshape(1, -1)))
    return blocks


def derivation(layer: Volume, writer: VolumeWriter | None = None, *,
               every_step: bool = False) -> Derivation:
    """The worked solution of a 3-D layer, every entry written out (by ``writer``, one
    made for the layer by default); trained over ``steps``, step 1's working (each
    step titled with its training step) and, with ``every_step``, every later step's
    and the loss after the last update, then the history."""
    writer = writer_of(layer) if writer is None else writer
    if not layer.convolution:
        return alone(layer, writer)
    made = worked(layer, writer)
    if layer.steps > 1:
        made = training(layer, made, every_step)
    largest = max(*layer.input.shape, *layer.filter.shape, *layer.output_size)
    notation: Notation = layer.notation
    # a transposed filter's first axis is the input channel: its symbols keep every
    # index unless the layer is compact
    extra: dict[str, Any] = {"one_channel": writer.channels == 1 and not layer.transposed,
                             "one_filter": writer.filters == 1 and not layer.transposed}
    return Derivation(title="Worked solution: one 3-D convolution layer", notation=notation,
                      compact=writer.compact,
                      steps=tuple(step for step in made if step.blocks),
                      largest_index=largest - 1 + notation.index_base, spatial=3, **extra)


def training(layer: Volume, made: list[Step], every_step: bool) -> list[Step]:
    """Step 1's steps titled with their training step, then (``every_step``) each later
    step's working from the weights the step before updated and the forward pass and
    the loss after the last update, then the history."""
    count = layer.steps
    out = [titled(step, of_steps(1, count)) for step in made if step.key != "history"]
    if every_step:
        current = layer
        for k in range(2, count + 2):
            current = engine.updated(current, engine.arrays(current))
            out += later(worked(dataclasses.replace(current, steps=1)), k, count,
                         start(current, k))
    return out + [step for step in made if step.key == "history"]
def alone(layer: Volume, writer: VolumeWriter) -> Derivation:
    """The worked solution of a 3-D layer alone: the input through its activation
    and/or pool, the loss, and back; dL/dX is what comes back through the first of
    them, as for a 2-D layer alone."""
    made = [writer.given(), writer.activation(), writer.pool(), writer.loss(),
            writer.grad_output(), writer.pool_backward(), writer.activation_backward()]
    steps = [_as_input(step) for step in
             (_marked(layer, step) for step in made) if step is not None and step.blocks]
    names = [name for name, there in (("activation", layer.activation),
                                      ("pooling", layer.pool)) if there is not None]
    largest = max(*layer.input.shape, *layer.output_size)
    return Derivation(title="Worked solution: 3-D " + " and ".join(names),
                      notation=layer.notation, compact=layer.input.shape[0] == 1,
                      steps=tuple(steps), largest_index=largest - 1 + layer.notation.index_base,
                      spatial=3, one_channel=layer.input.shape[0] == 1, one_filter=True)


def _as_input(step: Step) -> Step:
    """A step of a layer alone with the gradient it sends back to the input entered
    as dL/dX (the result's grad_input), not as a convolution's dL/dZ."""
    def entered(block: Block) -> Block:
        if isinstance(block, Equation) and block.entry and block.entry[0] == "grad_conv":
            return dataclasses.replace(block, entry=("grad_input", block.entry[1]))
        return block

    return dataclasses.replace(step, blocks=tuple(entered(block) for block in step.blocks))
