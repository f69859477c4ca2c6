"""Step: zero padding around the input."""

from __future__ import annotations

from cnnstep.derivation.nodes import Step, Text
from cnnstep.derivation.numeric import NumericBuilder
from cnnstep.derivation.words import count


def step(b: NumericBuilder) -> Step:
    ph, pw = b.p.padding
    return Step("padding", "Padding", tuple(b.explain(
        Text((
            (f"Zeros are added on each side: {count(pw, 'zero')} at each end of the signal. "
             if b.layer.layout.one_row else
             f"Zeros are added on each side: {count(ph, 'row')} above and below, "
             f"{count(pw, 'column')} left and right. ") + "Terms with these zeros are "
            "left out of the sums below.",
        )),
        b.padded_matrices,
    )))
