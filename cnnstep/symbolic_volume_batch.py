"""The symbolic derivation of a batch of 3-D volumes [N][C][D][H][W]: each volume's
formulas, then the weights' gradients summed over the volumes.

As :mod:`cnnstep.symbolic_batch` does for a batch of images, with one 3-D
layer's formulas (:mod:`cnnstep.symbolic_volume`, a transposed layer's scatter
sums among them). The N volumes pass through the same filter and bias, so

* Z⁽ⁿ⁾ and ∂L/∂X⁽ⁿ⁾ are one volume's formulas in volume n's symbols, X⁽ⁿ⁾ and
  ∂L/∂Z⁽ⁿ⁾ (K and B, shared, as they are);
* ∂L/∂K = Σ_n ∂L/∂K⁽ⁿ⁾ and ∂L/∂B = Σ_n ∂L/∂B⁽ⁿ⁾, written with every volume's
  terms; L is the batch's loss, so each ∂L/∂Z⁽ⁿ⁾ already carries a mean loss's
  division by every entry of every volume.

In the JSON result the symbols of one volume carry the volume first,
``X_n_c_d_i_j`` and ``dZ_n_f_d_i_j`` (``X_n_d_i_j``, ``dZ_n_d_i_j`` for one
channel and one filter); ``K`` and ``B`` are named as for one volume. A batch's
formulas are worked out whole (``--only`` is refused), without the closing
identities step.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np

from cnnstep.derivation.batch import titled
from cnnstep.derivation.builder import sums
from cnnstep.derivation.nodes import (
    Add,
    Block,
    Derivation,
    Equation,
    Image,
    Matrix,
    Omitted,
    Step,
    Sym,
    Text,
    Whole,
)
from cnnstep.problem import ProblemError, VolumeBatch
from cnnstep.symbolic_batch import PER_IMAGE_ROLES, in_image
from cnnstep.symbolic_volume import (
    VolumeSymbols,
    brief,
    own_key,
    result_key,
    shortened,
    symbols_of,
)
from cnnstep.volume_batch import per_volume, shaped

#: what one member of the batch is called
NAME = "volume"


def refuse_only(only: Iterable[str]) -> None:
    """A batch's formulas are worked out whole."""
    if tuple(only):
        raise ProblemError("only: --symbolic works out a batch's formulas whole; leave out "
                           "--only, or give one volume [C][D][H][W]")


# --------------------------------------------------------------------------
# the steps


def volume_step(step: Step, n: int, batch: VolumeBatch) -> Step:
    """One volume's step: its symbols and entries volume ``n``'s, its title saying so."""
    base = batch.notation.index_base
    return Step(step.key, f"{step.title}, {NAME} {n + base}",
                tuple(_in_volume(block, n) for block in step.blocks))


def _in_volume(block: Block, n: int) -> Block:
    """A block in volume ``n``'s symbols; a note of entries left out names the volume."""
    if isinstance(block, Omitted):
        name, bracket, rest = block.example.partition("[")
        return replace(block, example=f"{name}[{n}]{bracket}{rest}")
    made: Block = in_image(block, n)
    return made


def symbols_step(step: Step, batch: VolumeBatch) -> Step:
    """The symbols: the kernel once, each volume's input and upstream gradient."""
    def own(block: Block) -> bool:
        return isinstance(block, Matrix) and any(
            isinstance(part, Whole) and part.role in PER_IMAGE_ROLES for part in block.label)

    shared = [block for block in step.blocks if not own(block)]
    each = [in_image(block, n) for n in range(batch.count) for block in step.blocks
            if own(block)]
    return Step(step.key, step.title, (*shared, *each))


def summed_step(builder: VolumeSymbols, key: str, batch: VolumeBatch) -> Step:
    """∂L/∂K (or ∂L/∂B) as the sum of each volume's, then every volume's terms."""
    count = batch.count
    q = next(q for q in builder.quantities() if own_key(q) == key)
    what = "the weights'" if key == "grad_filter" else "the biases'"

    def equation(e: tuple[int, ...]) -> Equation:
        terms = builder.formula(q, e)
        assert isinstance(terms, Add)
        each = Add(tuple(Image(Sym(key, e), n) for n in range(count)))
        every = [in_image(term, n) for n in range(count) for term in terms.terms]
        return Equation(Sym(key, e), (each, *(sums(every) or (builder.zero,))), None,
                        (key, e))

    title = ("Gradient with respect to the kernel, summed over the batch"
             if key == "grad_filter" else
             "Gradient with respect to the bias, summed over the batch")
    return Step(key, title, (
        Text((f"L is the loss of the whole batch (a mean loss divides by the entries of all "
              f"{count} {NAME}s), and ", Image(Whole("grad_output"), "n"),
              f" is its gradient with respect to {NAME} n's output. The {NAME}s pass "
              "through the same filter and bias, so " + what + " gradients add up over "
              f"the {NAME}s: ", Whole(key), " = Σₙ ", Image(Whole(key), "n"),
              f", each {NAME}'s term as for one {NAME}.",)),
        *(equation(e) for e in np.ndindex(*builder.shape(q))),
    ))


def batch_formulas(batch: VolumeBatch, *, detail: str = "full",
                   max_terms: int = 0) -> Derivation:
    """The symbolic derivation of a batch: the shapes, the symbols of every volume, each
    volume's forward pass, the weights' gradients summed, each volume's input
    gradient; ``detail`` and ``max_terms`` (shared by the volumes) as for one volume."""
    layer, count = batch.layer, batch.count
    builder = symbols_of(layer)
    worked = [builder.forward(), summed_step(builder, "grad_filter", batch)]
    if layer.bias is not None:
        worked.append(summed_step(builder, "grad_bias", batch))
    worked.append(builder.grad_input())
    cut = False
    if detail == "brief":
        worked = [brief(step, layer) for step in worked]
    elif detail == "full" and max_terms > 0:
        worked, cut = shortened(worked, layer, max(1, max_terms // count))
    forward, *summed, grad_input = worked
    steps = [builder.shapes(), symbols_step(builder.symbols(), batch),
             *(volume_step(forward, n, batch) for n in range(count)), *summed,
             *(volume_step(grad_input, n, batch) for n in range(count))]
    if detail == "answers":  # each formula's result alone
        steps = [replace(step, blocks=tuple(
            replace(block, forms=block.forms[-1:]) for block in step.blocks
            if isinstance(block, Equation) and block.entry)) for step in steps]
    largest = max(count, *layer.input.shape, *layer.filter.shape, *layer.output_size)
    return Derivation(title=titled(builder.title, count, NAME), notation=layer.notation,
                      compact=builder.channels == 1 and builder.filters == 1,
                      steps=tuple(step for step in steps if step.blocks),
                      largest_index=largest - 1 + layer.notation.index_base, shortened=cut,
                      one_channel=builder.one_channel, one_filter=builder.one_filter,
                      spatial=3)


def batch_with_numbers(batch: VolumeBatch, *, detail: str = "full",
                       only: Iterable[str] = (), max_terms: int = 0) -> Derivation:
    """The givens, the formulas, then the batch's derivation with the numbers put in
    (the answers alone: the numbers' answers), as
    :func:`cnnstep.symbolic.derive_both` does for a batch of images."""
    from cnnstep.derivation.volume_batch import worked

    refuse_only(only)
    numeric = worked(batch, detail=detail, max_terms=max_terms)
    if detail == "answers":
        return numeric
    symbolic = batch_formulas(batch, detail=detail, max_terms=max_terms)
    given = tuple(step for step in numeric.steps if not step.numbered)
    rest = tuple(replace(step, title=f"{step.title}, with numbers") for step in numeric.steps
                 if step.numbered and step.key != "shapes")
    return replace(numeric, title="Worked solution: the formulas, then the numbers",
                   steps=(*given, *symbolic.steps, *rest),
                   shortened=numeric.shortened or symbolic.shortened)


# --------------------------------------------------------------------------
# the JSON result's key "symbolic"


def batch_result(batch: VolumeBatch) -> dict[str, Any]:
    """Every formula as a string in SymPy syntax, in the result's shapes: a volume's
    quantity with the volume axis first and its symbols with the volume first
    (``X_2_1_1_1``), the sums over the volumes with every volume's terms."""
    from cnnstep.render.expr import SympyPrinter

    layer, count = batch.layer, batch.count
    builder = symbols_of(layer)
    printer = SympyPrinter(builder.channels == 1 and builder.filters == 1, spatial=3)
    out: dict[str, Any] = {}
    for q in builder.quantities():
        name = result_key(q, layer)
        each = per_volume(name)
        shape = builder.shape(q)
        strings = np.empty(((count,) if each else ()) + shape, dtype=object)
        for e in np.ndindex(*shape):
            terms = builder.formula(q, e)
            if each:
                for n in range(count):
                    strings[(n, *e)] = printer.doprint(in_image(terms, n))
            else:
                assert isinstance(terms, Add)
                strings[e] = printer.doprint(Add(tuple(
                    in_image(term, n) for n in range(count) for term in terms.terms)))
        out[name] = shaped(name, strings, batch)
    return out
