"""The mistakes the marker names, one small function each.

Each mistake is registered with its code (the format's table in "Checking
answers"), the step of the working where it is made, the quantities it applies
to, and its message. Its function recomputes a quantity the wrong way, from
the problem alone, or gives None where the mistake cannot be made in this
problem (no target, a stride of 1, …). A wrong answer is diagnosed with the
first mistake in :data:`PRECEDENCE` whose numbers it matches.

``carried_forward`` is the one code that is not a mistake of its own step: it
is recomputed from the student's other answers, by
:mod:`cnnstep.check.follow_through`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Set
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import numpy as np

from cnnstep import engine, quantities
from cnnstep.check import follow_through
from cnnstep.check.answers import Answers, in_user_shape, matches
from cnnstep.derivation.words import count
from cnnstep.engine import Solution
from cnnstep.problem import Array, Problem, Volume
from cnnstep.result import quantity

Value = Array | Fraction

#: a quantity recomputed with the mistake, or None where it cannot be made
Recompute = Callable[[Solution, str], Value | None]
#: the message, from the problem and the quantity it is about (no final full stop)
Message = Callable[[Problem, str], str]


@dataclass(frozen=True)
class InVolume:
    """The same mistake made in a 3-D layer (:mod:`cnnstep.check.volume`): the quantity
    recomputed with it from the layer and its right values by result key (None where it
    cannot be made), and its message."""

    recompute: Callable[[Volume, Mapping[str, Any], str], Value | None]
    message: Callable[[Volume, str], str]


@dataclass(frozen=True)
class Diagnosis:
    code: str
    message: str


@dataclass(frozen=True)
class Mistake:
    code: str
    #: the step where it is made, named in the message (a function of the
    #: quantity where that differs); None where it is not a step's mistake
    step: str | Callable[[str], str] | None
    #: the quantities it applies to, by their names in the quantities registry
    #: (``conv`` and ``grad_conv`` are the result's ``output`` and
    #: ``grad_output`` when no layer follows the convolution)
    keys: frozenset[str]
    message: Message
    #: None for carried_forward, which follow-through recomputes
    recompute: Recompute | None
    #: the mistake in a 3-D layer; None where a 3-D answer is not diagnosed with it
    in_volume: InVolume | None = None

    def applies_to(self, key: str, problem: Problem) -> bool:
        """Whether a result key of this problem is one of the mistake's quantities."""
        return any(quantities.result_name(name, problem.layer) == key for name in self.keys)

    def step_of(self, key: str) -> str | None:
        return self.step(key) if callable(self.step) else self.step

    def diagnosis(self, problem: Problem, key: str) -> Diagnosis:
        step = self.step_of(key)
        return Diagnosis(self.code, self.message(problem, key)
                         + (f" (step: {step})." if step else "."))


#: every mistake, by its code
MISTAKES: dict[str, Mistake] = {}


def register(code: str, *, step: str | Callable[[str], str] | None, keys: Iterable[str],
             message: str | Message, recompute: Recompute | None) -> Mistake:
    """Add a mistake to :data:`MISTAKES`; a code registered twice is an error."""
    if code in MISTAKES:
        raise ValueError(f"mistake {code!r} is registered twice")
    names = frozenset(keys)
    unknown = sorted(names - set(quantities.BY_KEY))
    if unknown or not names:
        raise ValueError(f"mistake {code!r}: not quantities: {unknown or 'none given'}")
    text = message
    explain: Message = (lambda problem, key: text) if isinstance(text, str) else text
    MISTAKES[code] = entry = Mistake(code, step, names, explain, recompute)
    return entry


def in_volume(code: str, message: str | Callable[[Volume, str], str]
              ) -> Callable[[Callable[[Volume, Mapping[str, Any], str], Value | None]],
                            Callable[[Volume, Mapping[str, Any], str], Value | None]]:
    """Register the decorated function as the registered mistake ``code`` in a 3-D
    layer, with its message there."""
    text = message
    explain = (lambda volume, key: text) if isinstance(text, str) else text

    def decorate(recompute: Callable[[Volume, Mapping[str, Any], str], Value | None]
                 ) -> Callable[[Volume, Mapping[str, Any], str], Value | None]:
        found = MISTAKES[code]
        if found.in_volume is not None:
            raise ValueError(f"mistake {code!r} is registered twice for a 3-D layer")
        MISTAKES[code] = replace(found, in_volume=InVolume(recompute, explain))
        return recompute

    return decorate


def mistake(code: str, *, step: str | Callable[[str], str] | None, keys: Iterable[str],
            message: str | Message) -> Callable[[Recompute], Recompute]:
    """Register the decorated function as the mistake ``code``'s recomputation."""
    def decorate(recompute: Recompute) -> Recompute:
        register(code, step=step, keys=keys, message=message, recompute=recompute)
        return recompute

    return decorate


# --------------------------------------------------------------------------
# the forward pass


def _true_convolution_message(problem: Problem, key: str) -> str:
    if problem.layer.flipped:
        return ("The forward pass used the kernel as it is (a cross-correlation); "
                'mode "convolution" is a true convolution, which flips the kernel by 180°')
    return ("The forward pass flipped the kernel (a true convolution); a CNN layer "
            "computes the cross-correlation, with the kernel as it is")


@mistake("true_convolution", step="forward pass", keys=["conv"],
         message=_true_convolution_message)
def true_convolution(solution: Solution, key: str) -> Value | None:
    """The forward pass with the kernel flipped the other way from the mode's: the true
    convolution of a cross-correlation layer, the cross-correlation of mode
    "convolution"."""
    p = solution.problem
    if p.layer.transposed:  # its forward pass rotates the kernel by design
        return None
    return engine.forward(solution.padded_input, engine.backward_kernel(p.filter, p.layer),
                          p.bias, p.stride, p.layer.dilation)


@mistake("bias_omitted", step="forward pass", keys=["conv"],
         message="The bias was left out of the forward pass")
def bias_omitted(solution: Solution, key: str) -> Value | None:
    p = solution.problem
    if p.bias is None:
        return None
    if p.layer.transposed:
        return engine.transposed_forward(solution.padded_input, p.filter, None, p.layer)
    return engine.forward(solution.padded_input, engine.forward_kernel(p.filter, p.layer), None,
                          p.stride, p.layer.dilation)


# --------------------------------------------------------------------------
# the loss and its gradient


@mistake("mse_not_averaged", step="loss", keys=["loss", "grad_output"],
         message="The squared errors were summed instead of averaged over the output entries")
def mse_not_averaged(solution: Solution, key: str) -> Value | None:
    p = solution.problem
    if p.target is None or p.loss != "mse":
        return None
    if key == "loss":
        return engine.loss_value(solution.output, p.target, "sse")
    return engine.loss_gradient(solution.output, p.target, "sse")


def gradient(problem: Problem, of: str) -> str:
    """∂L/∂Z in the problem's notation, for messages, as the working writes it:
    ∂Loss/∂Output."""
    return f"∂{problem.notation.loss}/∂{of}"


def last(problem: Problem) -> str:
    """The letter of the last stage, the one the loss compares: Z (as the problem
    writes it), A or P."""
    layer = problem.layer
    return quantities.letter(quantities.last_key(layer), layer)


@mistake("missing_factor_two", step="gradient of the loss", keys=["grad_output"],
         message=lambda problem, key: f"{gradient(problem, last(problem))} is missing the "
                                      "factor 2 that comes from differentiating the square")
def missing_factor_two(solution: Solution, key: str) -> Value | None:
    p = solution.problem
    if p.target is None or p.loss == "half_sse":
        return None
    half: Array = engine.loss_gradient(solution.output, p.target, p.loss) / 2
    shared: Array = half * engine.image_share(p.loss, p.loss_images)
    return shared


def _wrong_sign_message(problem: Problem, key: str) -> str:
    n = problem.notation
    if key.startswith("updated"):
        weight = n.bias if key == "updated_bias" else n.filter
        return f"The update added α·{gradient(problem, weight)} instead of subtracting it"
    z = last(problem)
    return (f"{gradient(problem, z)} was taken from ({n.target} − {z}) "
            f"instead of ({z} − {n.target})")


def _wrong_sign_step(key: str) -> str:
    return "update" if key.startswith("updated") else "gradient of the loss"


@mistake("wrong_sign", step=_wrong_sign_step,
         keys=["grad_output", "updated_filter", "updated_bias"], message=_wrong_sign_message)
def wrong_sign(solution: Solution, key: str) -> Value | None:
    p = solution.problem
    if key == "grad_output":
        if p.target is None:
            return None
        negated: Array = -engine.loss_gradient(solution.output, p.target, p.loss) * \
            engine.image_share(p.loss, p.loss_images)
        return negated
    weights, grad = ((p.filter, solution.grad_filter) if key == "updated_filter"
                     else (p.bias, solution.grad_bias))
    if p.learning_rate is None or weights is None or grad is None:
        return None
    added: Array = weights + grad * p.learning_rate
    return added


# --------------------------------------------------------------------------
# the backward pass


def _kernel_not_rotated_message(problem: Problem, key: str) -> str:
    if key != "grad_input":  # a transposed layer's forward pass
        return ("The forward pass slid the kernel over the expanded input as it is; a "
                "transposed convolution worked as an ordinary one slides the kernel rotated "
                f"by 180° (each input entry scatters {problem.notation.filter} itself, not "
                "its flip)")
    if problem.layer.flipped:
        return (f"{gradient(problem, problem.notation.input)} was computed with the kernel "
                "rotated by 180°, as for a cross-correlation; a true convolution's forward "
                "pass already flips the kernel, so the full correlation uses the kernel as it "
                "is")
    return (f"{gradient(problem, problem.notation.input)} was computed with the kernel as it "
            "is; the full convolution needs the kernel rotated by 180°")


def _kernel_not_rotated_step(key: str) -> str:
    return "gradient with respect to the input" if key == "grad_input" else "forward pass"


@mistake("kernel_not_rotated", step=_kernel_not_rotated_step, keys=["conv", "grad_input"],
         message=_kernel_not_rotated_message)
def kernel_not_rotated(solution: Solution, key: str) -> Value | None:
    """dL/dX sliding the forward pass's kernel itself instead of its rotation: K for a
    cross-correlation, rot180(K) for a true convolution. A transposed layer's forward
    pass correlating the expanded input with K (its channel axes swapped) instead of
    rot180(K): the scatter of the flipped kernel."""
    p, grad_conv = solution.problem, solution.grad_conv
    if key != "grad_input":
        if not p.layer.transposed:
            return None
        return engine.forward(solution.padded_input, engine.swap_groups(p.filter, p.layer.groups),
                              p.bias, (1, 1), p.layer.dilation)
    if grad_conv is None or p.layer.transposed:  # its dL/dX uses K as it is
        return None
    return engine.input_gradient(engine.forward_kernel(p.filter, p.layer),
                                 engine.insert_zeros(grad_conv, p.stride), p.layer)


def _stride_not_dilated_message(problem: Problem, key: str) -> str:
    zeros = " and ".join(f"{n - 1} zero{'s' * (n != 2)} between its {axis}"
                         for n, axis in zip(problem.stride, ("rows", "columns"), strict=True)
                         if n > 1)
    if key != "grad_filter" and key != "grad_input":  # a transposed layer's forward pass
        return (f"With a stride above 1, a transposed convolution first spreads "
                f"{problem.notation.input} apart by inserting {zeros}; the forward pass used "
                "it as it is")
    return (f"With a stride above 1, {gradient(problem, problem.notation.output)} must first "
            f"be spread apart by inserting {zeros}; it was used as it is")


@mistake("stride_not_dilated", step="zero insertion", keys=["conv", "grad_filter", "grad_input"],
         message=_stride_not_dilated_message)
def stride_not_dilated(solution: Solution, key: str) -> Value | None:
    """The stride-1 formulas on the un-spread dL/dZ. In a transposed layer's forward
    pass, the input padded (or cropped) by d·(k − 1) − p without zeros inserted, then
    correlated with the rotated kernel: placed at the top-left, cut or zero-filled to
    the output's shape."""
    p, grad_conv = solution.problem, solution.grad_conv
    if p.stride == (1, 1):
        return None
    if key != "grad_filter" and key != "grad_input":
        return _transposed_unspread(solution) if p.layer.transposed else None
    if grad_conv is None or p.layer.transposed:
        return None
    if key == "grad_filter":
        correlation = engine.filter_gradient(solution.padded_input, grad_conv, p.kernel_size,
                                             p.layer.dilation, p.layer.groups)
        return engine.rotate180(correlation) if p.layer.flipped else correlation
    return engine.input_gradient(engine.backward_kernel(p.filter, p.layer), grad_conv, p.layer)


def _transposed_unspread(solution: Solution) -> Array | None:
    """A transposed layer's Z worked without zero insertion, in the output's shape."""
    p = solution.problem
    layer = replace(p.layer, stride=(1, 1))
    if any(size < span for size, span in zip(layer.padded_size, layer.effective_kernel,
                                             strict=True)):
        return None
    z = engine.transposed_forward(engine.expand(p.input, layer), p.filter, p.bias, layer)
    placed = engine.zeros(p.layer.output_shape)
    rows, cols = min(z.shape[1], placed.shape[1]), min(z.shape[2], placed.shape[2])
    placed[:, :rows, :cols] = z[:, :rows, :cols]
    return placed


def _dilation_ignored_message(problem: Problem, key: str) -> str:
    dh, dw = problem.layer.dilation
    spacing = (f"with dilation {dh} they lie {dh} apart" if dh == dw else
               f"with dilation ({dh}, {dw}) they lie {count(dh, 'row')} and "
               f"{count(dw, 'column')} apart")
    of = problem.notation.filter if key == "grad_filter" else problem.notation.input
    return f"{gradient(problem, of)} was computed with the kernel's taps side by side; {spacing}"


def _dilation_ignored_step(key: str) -> str:
    return ("gradient with respect to the filter" if key == "grad_filter"
            else "gradient with respect to the input")


@mistake("dilation_ignored", step=_dilation_ignored_step, keys=["grad_filter", "grad_input"],
         message=_dilation_ignored_message)
def dilation_ignored(solution: Solution, key: str) -> Value | None:
    """The backward pass of the undilated kernel: dL/dK read at adjacent taps, dL/dX
    the full convolution of rot180(K) as it is, placed at the top-left and zero-filled
    to the input's shape."""
    p, spread = solution.problem, solution.spread_grad
    if spread is None or p.layer.dilation == (1, 1):
        return None
    if key == "grad_filter":
        correlation = engine.filter_gradient(solution.padded_input, spread, p.kernel_size,
                                             (1, 1), p.layer.groups)
        return engine.rotate180(correlation) if p.layer.flipped else correlation
    return engine.input_gradient(engine.backward_kernel(p.filter, p.layer), spread,
                                 replace(p.layer, dilation=(1, 1)))


@mistake("bias_averaged", step="gradient with respect to the bias", keys=["grad_bias"],
         message=lambda problem, key: f"{gradient(problem, problem.notation.bias)} is the sum "
                                      f"of {gradient(problem, problem.notation.output)} over the "
                                      "output positions, not their mean")
def bias_averaged(solution: Solution, key: str) -> Value | None:
    grad_conv = solution.grad_conv
    if grad_conv is None:
        return None
    averaged: Array = engine.bias_gradient(grad_conv) / (grad_conv.shape[1] * grad_conv.shape[2])
    return averaged


# --------------------------------------------------------------------------
# any matrix


@mistake("transposed", step=None,
         keys=[q.key for q in quantities.QUANTITIES
               if q.axes not in ("number", "bias", "history")],
         message="The matrix is right but transposed (rows and columns swapped)")
def transposed(solution: Solution, key: str) -> Value | None:
    """The right value with its last two axes swapped, where they are square."""
    true = quantity(solution, key)
    if isinstance(true, np.ndarray) and true.ndim >= 2 and true.shape[-1] == true.shape[-2] > 1:
        swapped: Array = np.swapaxes(true, -1, -2)
        return swapped
    return None


# --------------------------------------------------------------------------
# follow-through


def _carried_forward_message(problem: Problem, key: str) -> str:
    earlier = follow_through.source(key, problem.layer)
    return (f"Right for your own {earlier}: this step was done correctly from the wrong "
            f"{earlier} above, so it deserves method marks")


register("carried_forward", step=None, keys=follow_through.STEPS,
         message=_carried_forward_message, recompute=None)


# --------------------------------------------------------------------------
# which diagnosis wins

#: The order in which the mistakes are tried; the first that matches is named.
#: It is the order of the steps where they are made (forward pass, loss,
#: gradient of the loss, update, backward pass), so where two recomputations
#: agree the earlier step is blamed. Two codes come last on purpose:
#: ``transposed`` after every mistake of method, because a swapped matrix
#: coincides with one whenever the values are symmetric (a dL/dZ with
#: Gᵀ = −G is both transposed and of the wrong sign), and the step is the
#: better explanation; ``carried_forward`` last of all, because it gives
#: method marks and must never hide a mistake made in the step itself.
PRECEDENCE = (
    "true_convolution",
    "bias_omitted",
    "mse_not_averaged",
    "missing_factor_two",
    "wrong_sign",
    "kernel_not_rotated",
    "stride_not_dilated",
    "dilation_ignored",
    "bias_averaged",
    "transposed",
    "carried_forward",
)


def recomputed(recompute: Callable[[Solution, str], Value | None], solution: Solution,
               key: str) -> Value | None:
    """A mistake's value of ``key``; for a batch, the mistake made in every image (the
    updates and a transposed matrix are the batch's own)."""
    if not solution.images or recompute is transposed or quantities.get(key).step == "update":
        return recompute(solution, key)
    return follow_through.over_images(key, solution, [recompute(image, key)
                                                      for image in solution.images])


def diagnose(solution: Solution, key: str, answers: Answers, wrong: Set[str],
             tolerance: Fraction | None) -> Diagnosis | None:
    """The first mistake in :data:`PRECEDENCE` that the answers to ``key`` match.

    ``wrong`` holds the quantities already marked wrong (the ones before
    ``key`` in the order of the steps), for follow-through.
    """
    grid = answers[key]
    problem = solution.problem
    for code in PRECEDENCE:
        found = MISTAKES[code]
        if not found.applies_to(key, problem):
            continue
        values = (recomputed(found.recompute, solution, key) if found.recompute is not None
                  else follow_through.recompute(solution, key, answers, wrong))
        if values is not None and matches(grid, in_user_shape(values, key, solution), tolerance):
            return found.diagnosis(problem, key)
    return None
