"""The symbolic derivation of a batch [N][C][H][W]: each image's formulas, then the
weights' gradients summed over the images.

The N images pass through the same filter and bias, so each image's formulas are
one image's with that image's symbols:

* Z⁽ⁿ⁾_fij = Σ_c Σ_m Σ_n X⁽ⁿ⁾ · K + B_f and ∂L/∂X⁽ⁿ⁾ = Σ ∂L/∂Z⁽ⁿ⁾ · K;
* ∂L/∂K = Σ_n ∂L/∂K⁽ⁿ⁾ and ∂L/∂B = Σ_n ∂L/∂B⁽ⁿ⁾, the loss L being the batch's: its
  upstream gradient ∂L/∂Z⁽ⁿ⁾ already carries a mean loss's division by every
  entry of every image.

In the JSON result the symbols of one image carry the image first:
``X_n_c_i_j`` and ``dZ_n_f_i_j`` (``X_n_i_j``, ``dZ_n_i_j`` for one channel and
one filter); ``K`` and ``B`` are shared and named as for one image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, is_dataclass, replace
from typing import Any

import numpy as np

from cnnstep.derivation import Add, Block, Equation, Expr, Step, Sym, Text, Whole
from cnnstep.derivation.builder import Builder, Index, sums
from cnnstep.derivation.nodes import Image, Matrix
from cnnstep.problem import Layer
from cnnstep.quantities import per_image

#: the symbols each image has its own of
PER_IMAGE_ROLES = frozenset({"input", "output", "grad_output", "grad_input", "padded_input",
                             "spread_grad", "padded_grad"})
#: the quantities that are sums over the images
SUMMED = ("grad_filter", "grad_bias")


def one_image(layer: Layer) -> Layer:
    """The layer as one image of the batch sees it."""
    return replace(layer, layout=replace(layer.layout, batch=0))


def in_image(node: Any, n: int) -> Any:
    """A node of one image's derivation with image ``n``'s symbols: X → X⁽ⁿ⁾,
    ∂L/∂Z → ∂L/∂Z⁽ⁿ⁾ (K and B, shared by the images, as they are); an equation's
    entry gains the image axis."""
    if isinstance(node, Sym | Whole):
        return Image(node, n) if node.role in PER_IMAGE_ROLES else node
    if isinstance(node, Image | str):
        return node
    if isinstance(node, tuple):
        return tuple(in_image(part, n) for part in node)
    if isinstance(node, np.ndarray):
        out = np.empty(node.shape, dtype=object)
        out.flat[:] = [in_image(value, n) for value in node.flat]
        return out
    if isinstance(node, Equation) and node.entry is not None:
        key, index = node.entry
        entry = (key, (n, *index)) if key not in SUMMED else node.entry
        return replace(in_image(replace(node, entry=None), n), entry=entry)
    if is_dataclass(node) and not isinstance(node, type):
        return replace(node, **{f.name: in_image(getattr(node, f.name), n)
                                for f in fields(node) if f.init})
    return node


def image_title(title: str, n: int, layer: Layer) -> str:
    return f"{title}, image {n + layer.notation.index_base}"


def per_image_step(step: Step, n: int, layer: Layer) -> Step:
    return Step(step.key, image_title(step.title, n, layer),
                tuple(in_image(block, n) for block in step.blocks))


def symbols_step(step: Step, images: int, layer: Layer) -> Step:
    """The symbols: the kernel once, each image's input and upstream gradient."""
    def own(block: Block) -> bool:
        return isinstance(block, Matrix) and any(
            isinstance(part, Whole) and part.role in PER_IMAGE_ROLES for part in block.label)

    shared = [block for block in step.blocks if not own(block)]
    imaged = [in_image(block, n) for n in range(images) for block in step.blocks if own(block)]
    return Step(step.key, step.title, (*shared, *imaged))


def summed_step(b: Builder, formula: Callable[[str, Index], Expr], key: str, images: int,
                title: str, what: str) -> Step:
    """∂L/∂K (or ∂L/∂B) as the sum of each image's, then every image's terms."""
    def equation(e: Index) -> Equation:
        terms = formula(key, e)
        assert isinstance(terms, Add)
        each = Add(tuple(Image(b.sym(key, e), n) for n in range(images)))
        every = [in_image(term, n) for n in range(images) for term in terms.terms]
        return Equation(b.sym(key, e), (each, *sums(every)), None, (key, e))

    return Step(key, title, (
        *b.explain(Text((
            f"L is the loss of the whole batch (a mean loss divides by the entries of all "
            f"{images} images), and ", Image(Whole("grad_output"), "n"),
            " is its gradient with respect to image n's output. The images pass through "
            "the same filter and bias, so " + what + " gradients add up over the images: ",
            Whole(key), " = Σₙ ", Image(Whole(key), "n"),
            ", each image's term as for one image.",
        ))),
        *b.work_out(key, equation, "weights" if key == "grad_filter" else "biases"),
    ))


def batch_steps(b: Builder, formula: Callable[[str, Index], Expr],
                one: Callable[[], dict[str, Step]], layer: Layer) -> list[Step]:
    """Every step of a batch: the shapes, the symbols of every image, each image's
    forward pass, the weights' gradients summed, each image's input gradient."""
    images = layer.layout.batch
    made = one()
    steps = [made["shapes"], symbols_step(made["symbols"], images, layer)]
    steps += [per_image_step(made["forward"], n, layer) for n in range(images)]
    steps.append(summed_step(b, formula, "grad_filter", images,
                             "Gradient with respect to the kernel, summed over the batch",
                             "the weights'"))
    if layer.has_bias:
        steps.append(summed_step(b, formula, "grad_bias", images,
                                 "Gradient with respect to the bias, summed over the batch",
                                 "the biases'"))
    steps += [per_image_step(made["grad_input"], n, layer) for n in range(images)]
    return [step for step in steps if step.blocks]


def batch_formulas(key: str, layer: Layer, formula: Callable[[str, Index], Expr],
                   shape: tuple[int, ...]) -> Any:
    """Every entry of ``key`` for the batch, in the full layout with the image axis:
    one image's formula in that image's symbols, or the sum over the images."""
    images = layer.layout.batch
    out = np.empty(((images,) if per_image(key, layer.layout) else ()) + shape, dtype=object)
    for e in np.ndindex(*shape):
        if per_image(key, layer.layout):
            for n in range(images):
                out[(n, *e)] = in_image(formula(key, e), n)
        else:
            terms = formula(key, e)
            assert isinstance(terms, Add)
            out[e] = Add(tuple(in_image(term, n) for n in range(images)
                               for term in terms.terms))
    return out

