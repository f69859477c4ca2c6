"""Step: zero padding around the input.

The padding may differ on each side (top, bottom, left, right). A named form
is resolved to numbers here, with the reason: "same" pads a total of
k_eff − 1 along each axis (k_eff = d·(k − 1) + 1, the dilated span) so that the
output keeps the input's size at stride 1, an odd total with the extra zero at
the bottom (right), as TensorFlow; "full" pads k_eff − 1 on every side, so that
every tap of the kernel meets every input entry.
"""

from __future__ import annotations

from cnnstep.derivation.nodes import Step, Text
from cnnstep.derivation.numeric import NumericBuilder
from cnnstep.derivation.words import count
from cnnstep.problem import Layer

#: each axis's words: its unit and its two sides
AXES = (("row", "at the top", "at the bottom"), ("column", "at the left", "at the right"))
#: a 1-D layer's one axis (held as the columns of a single row)
SIGNAL = ("zero", "at the start", "at the end")


def axes(layer: Layer) -> list[tuple[int, tuple[str, str, str]]]:
    """The axes a padding is told along, with their words: both, or a signal's one."""
    if layer.layout.one_row:
        return [(1, SIGNAL)]
    return list(enumerate(AXES))


def total(layer: Layer, axis: int) -> str:
    """k − 1, or d·(k − 1) for a dilated kernel, worked out along an axis."""
    k, d = layer.kernel_size[axis], layer.dilation[axis]
    span = layer.effective_kernel[axis] - 1
    if d == 1:
        return f"k − 1 = {k} − 1 = {span}"
    return f"k_eff − 1 = d·(k − 1) = {d}·({k} − 1) = {span}"


def same(layer: Layer) -> str:
    """Why "same" pads as it does, axis by axis."""
    parts = []
    for axis, (unit, before, after) in axes(layer):
        first, last = layer.padding[axis], layer.padding_after[axis]
        split = (f"{first} {before} and {last} {after}"
                 + (f" (the odd one {after}, as TensorFlow)" if last != first else ""))
        along = "along the signal" if layer.layout.one_row else f"along the {unit}s"
        span = layer.effective_kernel[axis] - 1
        parts.append(f"{along} a total of {total(layer, axis)} {unit}{'s' * (span != 1)}, "
                     f"{split}")
    return ('Padding "same" keeps the input\'s size at stride 1, so each axis gets the '
            "kernel's span less one in zeros: " + "; ".join(parts) + ".")


def full(layer: Layer) -> str:
    """Why "full" pads as it does."""
    parts = [f"along the {'signal' if layer.layout.one_row else unit + 's'} "
             f"{total(layer, axis)} {unit}{'s' * (layer.effective_kernel[axis] != 2)} "
             f"{before} and {layer.padding_after[axis]} {after}"
             for axis, (unit, before, after) in axes(layer)]
    return ('Padding "full" adds the kernel\'s span less one on every side, so that every '
            "tap of the kernel meets every input entry: " + "; ".join(parts) + ".")


def numbers(layer: Layer) -> str:
    """The zeros on each side, as given."""
    ph, pw = layer.padding
    if layer.layout.one_row and layer.padding_end is None:
        return f"Zeros are added on each side: {count(pw, 'zero')} at each end of the signal."
    if layer.layout.one_row:
        _, _, start, end = layer.sides
        return (f"Zeros are added: {count(start, 'zero')} at the start of the signal and "
                f"{end} at the end.")
    if layer.padding_end is None:
        return (f"Zeros are added on each side: {count(ph, 'row')} above and below, "
                f"{count(pw, 'column')} left and right.")
    top, bottom, left, right = layer.sides
    return (f"Zeros are added: {count(top, 'row')} at the top and {bottom} at the bottom, "
            f"{count(left, 'column')} at the left and {right} at the right.")


def step(b: NumericBuilder) -> Step:
    layer = b.layer
    words = {"same": same, "full": full}.get(layer.padding_form or "", numbers)(layer)
    return Step("padding", "Padding", tuple(b.explain(
        Text((
            words + " Terms with these zeros are left out of the sums below.",
        )),
        b.shown(b.padded_matrices, b.s.padded_input.shape),
    )))
