"""Step: zero insertion for the stride.

With stride s > 1, dL/dZ is spread apart by s − 1 zeros between neighbouring
entries; the backward formulas of stride 1 then apply to the spread gradient.
"""

from __future__ import annotations

from cnnstep.derivation.nodes import Step, Text, Whole
from cnnstep.derivation.numeric import NumericBuilder
from cnnstep.derivation.words import axes, count


def step(b: NumericBuilder) -> Step:
    sh, sw = b.p.stride
    assert b.s.spread_grad is not None
    return Step("spread", "Zero insertion for the stride", tuple(b.explain(
        Text((
            f"With stride {axes(b.p.stride, b.layer.layout.one_row)}, the entries of ",
            Whole("grad_output"),
            (f" are spread apart by inserting {count(sw - 1, 'zero')} between neighbours"
             if b.layer.layout.one_row else
             f" are spread apart by inserting {count(sh - 1, 'zero')} between rows"
             f" and {count(sw - 1, 'zero')} between columns") + "; the backward "
            "formulas of stride 1 then apply to this spread gradient.",
        )),
        b.show((Whole("spread_grad"),), b.s.spread_grad, "output", step=b.p.stride,
               approximate=b.approximate("grad_conv")),
    )))
