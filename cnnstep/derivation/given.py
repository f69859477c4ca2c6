"""The givens, before any step: the input X, the kernel K, the bias, the
target Y (or the upstream gradient), and the layer's settings.

They are the problem's own numbers, shown as the exercise states them; no
step recomputes or restates them.
"""

from __future__ import annotations

from cnnstep.derivation.nodes import Block, Expr, Matrix, Step, Sym, Text, Whole
from cnnstep.derivation.numeric import NumericBuilder
from cnnstep.derivation.words import axes, dims, padding_words
from cnnstep.entries import given_values
from cnnstep.problem import Pool

TITLE = "Given"

#: how each loss is named among the givens
LOSS_NAMES = {"mse": "the mean squared error", "sse": "the sum of squared errors",
              "half_sse": "half the sum of squared errors"}
#: how each activation is named among the givens
ACTIVATION_NAMES = {"relu": "ReLU", "leaky_relu": "leaky ReLU", "sigmoid": "sigmoid",
                    "tanh": "tanh"}


def pool_words(pool: Pool, one_row: bool = False) -> str:
    """The pool's settings in words: its kind, window and stride, and whichever of
    padding, dilation, ceil mode and the mean's divisor it has (one value each in
    a 1-D layer)."""
    size = f"{pool.size[1]}-entry" if one_row else dims(pool.size)
    words = (f"{pool.kind} pooling over {size} windows with stride "
             f"{axes(pool.stride, one_row)}")
    if any(pool.padding):
        fill = {"max": "−∞", "min": "+∞", "mean": "0"}[pool.kind]
        words += f", padding {axes(pool.padding, one_row)} (of {fill})"
    if pool.dilation != (1, 1):
        words += f", dilation {axes(pool.dilation, one_row)}"
    if pool.ceil_mode:
        words += ", ceil mode"
    if pool.kind == "mean" and any(pool.padding):
        words += (", the padding counted in each divisor" if pool.count_include_pad else
                  ", the padding not counted in the divisors")
    return words


def step(b: NumericBuilder) -> Step:
    p = b.p
    layer = b.layer
    blocks: list[Block] = [*b.show((Whole("input"),), given_values(p.exact_input), "input")]
    if layer.convolution:  # a layer alone has no filter
        blocks += b.show((Whole("filter"),), p.filter, "filter")
    settings: list[str | Expr] = []
    if p.bias is not None:
        if p.filters == 1:
            settings += [Whole("bias"), " = ", b.num(p.bias[0]), "; "]
        else:
            blocks.append(Matrix((Whole("bias"),), p.bias.reshape(1, -1)))
    if p.exact_target is not None:
        blocks += b.show((Whole("target"),), given_values(p.exact_target), "output")
    elif p.exact_grad_output is not None:
        blocks += b.show((Whole(b.grad_last_role),), given_values(p.exact_grad_output),
                          "output")
    if layer.convolution:
        one = layer.layout.one_row
        settings.append(("1-D convolution: " if one else "")
                        + f"stride {axes(layer.stride, one)}, padding {padding_words(layer)}"
                        + (f", dilation {axes(layer.dilation, one)}"
                           if layer.dilation != (1, 1) else "")
                        + (f", groups {layer.groups}" if layer.groups > 1 else "")
                        + ('; mode "convolution": a true convolution, which flips the kernel'
                           if layer.flipped else "")
                        + (f", output_padding {axes(layer.output_padding, one)}; a "
                           "transposed convolution (conv_transpose), the filter "
                           + ("[C][F/groups]" if layer.groups > 1 else "[C][F]")
                           + ("[k]" if one else "[kh][kw]")
                           if layer.transposed else ""))
    else:
        settings.append("no convolution: the input goes straight to the "
                        + ("activation" if layer.activation is not None else "pool"))
    if layer.activation is not None:
        activation = layer.activation
        settings.append(f"; activation {ACTIVATION_NAMES[activation.kind]}")
        if activation.kind == "leaky_relu":
            settings += [" with slope ", b.num(activation.slope)]
    if layer.pool is not None:
        pool = layer.pool
        settings.append(f"; {pool_words(pool, layer.layout.one_row)}")
    if p.exact_target is not None:
        settings.append(f"; loss: {LOSS_NAMES[p.loss]} ({p.loss})")
    if p.learning_rate is not None:
        settings += ["; learning rate ", Sym("learning_rate"), " = ", b.num(p.learning_rate)]
    if p.steps > 1:
        settings += [f"; {p.steps} training steps"]
    settings.append(".")
    first = settings[0]
    if isinstance(first, str):
        settings[0] = first[:1].upper() + first[1:]
    blocks.append(Text(tuple(settings)))
    return Step("given", TITLE, tuple(blocks), numbered=False)
