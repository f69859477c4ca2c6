"""Where a student's working departs: the matrices of the step a mistake is made in.

A diagnosis names the mistake in words; its departure shows it, in the
problem's notation, with what the student used beside what the step needs:

* ``kernel_not_rotated``: K as it is beside rot180(K), the kernel the full
  convolution of dL/dX slides;
* ``true_convolution``: rot180(K) beside K, the kernel the forward pass slides;
* ``stride_not_dilated``: dL/dZ as it is beside the zero-inserted dL/dZ that the
  stride-1 formulas apply to.

In a transposed layer the first and last are mistakes of the forward pass: K (its
channel axes swapped) beside rot180(K), and X as it is beside the expanded input.

They are derivation blocks (:class:`~cnnstep.derivation.Text` and
:class:`~cnnstep.derivation.Matrix`), built here, so that every format prints
them as it prints any matrix of a derivation. Each is registered with the code
of its mistake in :data:`DEPARTURES`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from cnnstep import engine
from cnnstep.check.mistakes import MISTAKES
from cnnstep.derivation import Block, Call, Derivation, Expr, Matrix, Step, Text, Whole
from cnnstep.derivation.builder import Plan
from cnnstep.derivation.numeric import NumericBuilder
from cnnstep.derivation.transposed import expanded_matrices
from cnnstep.derivation.words import count, pair
from cnnstep.engine import Solution
from cnnstep.problem import Array
from cnnstep.quantities import symbol_role

if TYPE_CHECKING:
    from cnnstep.check.marking import Marked

#: the blocks that show a mistake made in a quantity (the result key)
Show = Callable[[NumericBuilder, str], list[Block]]

#: the title of the blocks of a departure
TITLE = "Where the working departs"
#: the words after the label of what the student used, and of what the step needs
USED, NEEDED = " (as used)", " (as needed)"

#: mistake code → the blocks that show it
DEPARTURES: dict[str, Show] = {}


def departure(code: str) -> Callable[[Show], Show]:
    """Register the decorated function as the departure of the mistake ``code``."""
    def register(show: Show) -> Show:
        if code not in MISTAKES:
            raise ValueError(f"departure of {code!r}: no such mistake")
        if code in DEPARTURES:
            raise ValueError(f"departure of {code!r} is registered twice")
        DEPARTURES[code] = show
        return show

    return register


def symbol(key: str, solution: Solution) -> Whole:
    """A result key's quantity as the problem writes it: ∂L/∂Z, ∂Loss/∂Output, K_new."""
    return Whole(symbol_role(key, solution.problem.layer))


def side_by_side(b: NumericBuilder, used: tuple[Expr, Array], needed: tuple[Expr, Array],
                 kind: str, *, step: tuple[int, int] = (1, 1),
                 approximate: bool = False) -> list[Block]:
    """What was used and what was needed, slice by slice in pairs, each labelled so;
    ``step`` is the stride of what was needed, when it is zero-inserted."""
    def labelled(label: Expr, values: Array, words: str,
                 spread: tuple[int, int]) -> list[Matrix]:
        return [replace(m, label=(*m.label, words)) for m in
                b.matrices((label,), values, kind, step=spread, approximate=approximate)]

    as_used = labelled(*used, USED, (1, 1))
    as_needed = labelled(*needed, NEEDED, step)
    return [m for both in zip(as_used, as_needed, strict=True) for m in both]


# --------------------------------------------------------------------------
# the departures


def _rotated(solution: Solution) -> Array:
    """rot180(K): the engine's, or (for a forward pass alone) the kernel turned here."""
    if solution.rotated_filter is not None:
        return solution.rotated_filter
    return engine.backward_kernel(solution.problem.filter, solution.problem.layer)


@departure("kernel_not_rotated")
def kernel_not_rotated(b: NumericBuilder, key: str) -> list[Block]:
    kernel, rotated = Whole("filter"), Call("rot180", (Whole("filter"),))
    if key != "grad_input":  # a transposed layer's forward pass
        assert b.s.rotated_filter is not None
        return [
            Text(("Your ", symbol(key, b.s), " is the correlation of ", Whole("padded_input"),
                  " with ", kernel, " as it is; a transposed convolution worked as an "
                  "ordinary one slides the kernel rotated by 180° (each with its channel axes "
                  "swapped):")),
            *side_by_side(b, (kernel, engine.swap_groups(b.p.filter, b.layer.groups)),
                          (rotated, b.s.rotated_filter), "rotated"),
        ]
    if b.layer.flipped:  # a true convolution: dL/dX slides K itself
        return [
            Text(("Your ", symbol(key, b.s), " is the full correlation of ", b.dz_operand(),
                  " with ", rotated, "; the forward pass of a true convolution already "
                  "flipped the kernel, so the full correlation slides ", kernel, " as it is:")),
            *side_by_side(b, (rotated, engine.rotate180(b.p.filter)), (kernel, b.p.filter),
                          "filter"),
        ]
    return [
        Text(("Your ", symbol(key, b.s), " is the full convolution of ", b.dz_operand(),
              " with ", kernel, " as it is; the full convolution slides the kernel rotated "
              "by 180°:")),
        *side_by_side(b, (kernel, b.p.filter), (rotated, _rotated(b.s)), "filter"),
    ]


@departure("true_convolution")
def true_convolution(b: NumericBuilder, key: str) -> list[Block]:
    kernel, rotated = Whole("filter"), Call("rot180", (Whole("filter"),))
    if b.layer.flipped:  # mode "convolution": the flip was left out
        return [
            Text(("Your ", symbol(key, b.s), " is what the kernel as it is gives (a "
                  "cross-correlation); a true convolution flips the kernel and slides ",
                  rotated, ":")),
            *side_by_side(b, (kernel, b.p.filter), (rotated, engine.rotate180(b.p.filter)),
                          "filter"),
        ]
    return [
        Text(("Your ", symbol(key, b.s), " is what the kernel rotated by 180° gives (a true "
              "convolution); the layer slides ", kernel, " as it is:")),
        *side_by_side(b, (rotated, _rotated(b.s)), (kernel, b.p.filter), "filter"),
    ]


@departure("stride_not_dilated")
def stride_not_dilated(b: NumericBuilder, key: str) -> list[Block]:
    sh, sw = b.p.stride
    if key != "grad_filter" and key != "grad_input":  # a transposed layer's forward pass
        return [
            Text(("Your ", symbol(key, b.s), " slides the rotated kernel over ",
                  Whole("input"), " padded as it is; with stride ", pair(b.p.stride),
                  f" a transposed convolution first spreads it apart, {count(sh - 1, 'zero')} "
                  f"inserted between rows and {count(sw - 1, 'zero')} between columns, "
                  "before the padding:")),
            *[replace(m, label=(*m.label, USED)) for m in
              b.matrices((Whole("input"),), b.p.input, "input")],
            *[replace(m, label=(*m.label, NEEDED)) for m in expanded_matrices(b)],
        ]
    assert b.s.grad_conv is not None and b.s.spread_grad is not None
    return [
        Text(("Your ", symbol(key, b.s), " applies the stride-1 formulas to ",
              Whole("grad_output"), " as it is; with stride ", pair(b.p.stride),
              f" they apply to it spread apart, {count(sh - 1, 'zero')} inserted between "
              f"rows and {count(sw - 1, 'zero')} between columns:")),
        *side_by_side(b, (Whole("grad_output"), b.s.grad_conv),
                      (Whole("spread_grad"), b.s.spread_grad), "output",
                      step=b.p.stride, approximate=b.approximate("grad_conv")),
    ]


# --------------------------------------------------------------------------
# a report's departures


def departures(solution: Solution, marked: Iterable[Marked]) -> Derivation:
    """One step (keyed by the quantity's result key) for each wrong quantity whose
    diagnosis has a departure; none when no diagnosis has one.

    Its notation is the problem's, so it is also what a report prints the
    quantities' symbols with.
    """
    p = solution.problem
    builder: NumericBuilder | None = None
    steps = []
    for q in marked:
        show = DEPARTURES.get(q.diagnosis.code) if q.diagnosis is not None else None
        if show is None:
            continue
        if builder is None:
            builder = NumericBuilder(solution, Plan(0))
        steps.append(Step(q.key, TITLE, tuple(show(builder, q.key))))
    largest = max(max(p.input.shape), max(p.filter.shape), *p.output_size)
    return Derivation(title=TITLE, notation=p.notation, compact=p.layer.compact,
                      steps=tuple(steps), largest_index=largest - 1 + p.notation.index_base,
                      one_row=p.layout.one_row)
