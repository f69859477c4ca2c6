"""Every quantity of the result, once: its axes, its step, its symbol, when it is there.

This is the one place that lists result keys. The result object, the
derivation, the symbolic formulas, the marker and the verifier read it; none
of them lists keys of its own.

A quantity's key is also the name of its value on the engine's
:class:`~cnnstep.engine.Solution`. Two of them have a second name: the
convolution's Z and dL/dZ are the result's ``conv`` and ``grad_conv`` when an
activation or a pool follows, and simply ``output`` and ``grad_output`` when
nothing does (then they *are* the last stage).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable
from fractions import Fraction
from typing import Any, Literal

from cnnstep.problem import Array, Layer, Layout, Problem
from cnnstep.values import Value, value_class

#: how a quantity's array is laid out (its full-layout shape)
Axes = Literal["input", "filter", "bias", "conv", "last", "number", "history"]

#: what must be given for a quantity to be in the result
Need = Literal["target", "gradients", "bias", "rate", "activation", "pool", "layered", "conv",
               "steps"]


@value_class
class Quantity(Value):
    """One key of the result."""

    key: str
    axes: Axes
    #: the derivation step that works it out
    step: str
    #: the symbol of its entries in the derivation (a role of the printers: Z's is
    #: "output"); empty for the last stage, whose symbol is that stage's
    role: str
    #: what the problem must give for the result to hold it
    needs: frozenset[Need]
    #: float sigmoid or tanh before it makes it approximate: "never", "always"
    #: (after such an activation), or "target" (only when it comes from a target)
    approximate: Literal["never", "always", "target"]
    #: products a student writes out for one entry (None: not worked out on its own)
    terms: Callable[[Layer], int] | None = None
    #: in a symbolic derivation (``--symbolic``), the forms of each entry's equation
    #: (the chain rule, then the result): 0 where it gives no formula
    forms: int = 0
    #: its key when no layer follows the convolution
    unlayered: str | None = None
    #: the letter of a stage after the convolution (A, P); empty: the notation's
    letter: str = ""
    #: in words, for messages
    meaning: str = ""

    @property
    def symbolic(self) -> bool:
        """A symbolic derivation gives it as formulas."""
        return self.forms > 0


def _q(key: str, axes: Axes, step: str, role: str, needs: Iterable[Need] = (),
       approximate: Literal["never", "always", "target"] = "always", **more: Any) -> Quantity:
    return Quantity(key, axes, step, role, frozenset(needs), approximate, **more)


def _window(layer: Layer) -> int:
    """Entries in one pool window."""
    return layer.pool.size[0] * layer.pool.size[1] if layer.pool else 1


def _one(layer: Layer) -> int:
    return 1


def _stage_back(layer: Layer) -> int:
    """Products per entry of the gradient back through the first stage after the
    convolution (or after the input, for a layer alone)."""
    return 2 if layer.activation else _window(layer)


#: in the order the steps compute them: an earlier mistake is known before the
#: quantities computed from it are marked
QUANTITIES: tuple[Quantity, ...] = (
    _q("conv", "conv", "forward", "output", ["layered", "conv"], "never",
       terms=lambda layer: layer.channels * layer.kernel_size[0] * layer.kernel_size[1],
       forms=1, unlayered="output", meaning="Z = conv(X, K) + B"),
    _q("activated", "conv", "activation", "activated", ["activation"],
       terms=lambda layer: 2, letter="A", meaning="A = f(Z)"),
    _q("pooled", "last", "pool", "pooled", ["pool"],
       terms=lambda layer: 2 * _window(layer), letter="P", meaning="P = pool(A or Z)"),
    _q("output", "last", "last", "", meaning="the last stage"),
    _q("loss", "number", "loss", "loss", ["target"], terms=lambda layer: 3, meaning="L"),
    _q("grad_output", "last", "grad_output", "", ["gradients"], "target", terms=_one,
       meaning="dL/d(last stage)"),
    _q("grad_activated", "conv", "pool_backward", "grad_activated",
       ["gradients", "activation", "pool"], "target", terms=_window, meaning="dL/dA"),
    _q("grad_conv", "conv", "activation_backward", "grad_output",
       ["gradients", "layered", "conv"],
       terms=_stage_back, unlayered="grad_output", meaning="dL/dZ"),
    _q("grad_filter", "filter", "grad_filter", "grad_filter", ["gradients", "conv"],
       terms=lambda layer: layer.output_size[0] * layer.output_size[1], forms=2,
       meaning="dL/dK"),
    _q("grad_bias", "bias", "grad_bias", "grad_bias", ["gradients", "bias", "conv"],
       terms=lambda layer: layer.output_size[0] * layer.output_size[1], forms=3,
       meaning="dL/dB"),
    _q("grad_input", "input", "grad_input", "grad_input", ["gradients"],
       terms=lambda layer: (layer.filters * layer.kernel_size[0] * layer.kernel_size[1]
                            if layer.convolution else _stage_back(layer)),
       forms=2, meaning="dL/dX"),
    _q("updated_filter", "filter", "update", "updated_filter", ["gradients", "rate", "conv"],
       terms=_one, meaning="K − α·dL/dK"),
    _q("updated_bias", "bias", "update", "updated_bias", ["gradients", "rate", "bias", "conv"],
       terms=_one, meaning="B − α·dL/dB"),
    # with ``steps`` above 1: every training step's loss and weights, and the loss after
    # the last update (the marker sees the history as a table, one row per step)
    _q("history", "history", "history", "history", ["steps"],
       meaning="the loss and the updated weights of every training step"),
    _q("final_loss", "number", "history", "final_loss", ["steps"],
       meaning="the loss with the last update's weights"),
)

BY_KEY = {q.key: q for q in QUANTITIES}

#: the result's keys in the order the format lists them (and the JSON prints them)
RESULT_KEYS = (
    "output", "loss", "grad_output", "grad_filter", "grad_bias", "grad_input",
    "updated_filter", "updated_bias", "conv", "activated", "pooled", "grad_conv",
    "grad_activated", "history", "final_loss",
)


def get(key: str) -> Quantity:
    return BY_KEY[key]


@value_class
class Symbol(Value):
    """How the derivation writes the symbol of a role."""

    #: the Notation field of its letter, or "=A": a fixed letter (the stages after
    #: the convolution)
    letter: str
    #: which index it takes: input (c, i, j), filter (f, c, m, n), bias (f,),
    #: output (f, i, j), or none
    index: str
    #: written as a gradient, ∂L/∂·
    gradient: bool = False
    #: the mark on its name: "pad" (Xpad) or "new" (K_new)
    mark: str | None = None
    #: the mark on the whole gradient: "spread" (zero-inserted) or "padded"
    outer: str | None = None


def _symbols() -> dict[str, Symbol]:
    a, p = "=" + BY_KEY["activated"].letter, "=" + BY_KEY["pooled"].letter
    return {
        "input": Symbol("input", "input"), "filter": Symbol("filter", "filter"),
        "bias": Symbol("bias", "bias"), "output": Symbol("output", "output"),
        "target": Symbol("target", "output"), "loss": Symbol("loss", "none"),
        "activated": Symbol(a, "output"), "pooled": Symbol(p, "output"),
        "padded_input": Symbol("input", "input", mark="pad"),
        "grad_output": Symbol("output", "output", gradient=True),
        "grad_activated": Symbol(a, "output", gradient=True),
        "grad_pooled": Symbol(p, "output", gradient=True),
        "spread_grad": Symbol("output", "output", gradient=True, outer="spread"),
        "padded_grad": Symbol("output", "output", gradient=True, outer="padded"),
        "grad_filter": Symbol("filter", "filter", gradient=True),
        "grad_bias": Symbol("bias", "bias", gradient=True),
        "grad_input": Symbol("input", "input", gradient=True),
        "grad_padded_input": Symbol("input", "input", gradient=True, mark="pad"),
        "updated_filter": Symbol("filter", "filter", mark="new"),
        "updated_bias": Symbol("bias", "bias", mark="new"),
        "final_loss": Symbol("loss", "none", mark="final"),
        "history": Symbol("history", "none"),
    }


#: the symbol of every role the derivation writes
SYMBOLS = _symbols()


def symbol(role: str) -> Symbol:
    """How a role's symbol is written; an unknown role is written as its own name,
    without an index."""
    return SYMBOLS.get(role) or Symbol(role, "none")


# --------------------------------------------------------------------------
# which quantities a problem has


def needs(*, conv: bool, bias: bool, activation: bool, pool: bool, target: bool = False,
          gradients: bool = False, rate: bool = False, steps: bool = False
          ) -> frozenset[Need]:
    """What a layer of any dimension gives, in the registry's words: the ``needs``
    that decide which quantities it has."""
    given: dict[Need, bool] = {
        "conv": conv, "bias": bias, "activation": activation, "pool": pool,
        "layered": activation or pool, "target": target, "gradients": gradients,
        "rate": rate, "steps": steps}
    return frozenset(need for need, there in given.items() if there)


def features(layer: Layer, problem: Problem | None = None) -> frozenset[Need]:
    """What a layer (and its numbers, if any) give."""
    return needs(conv=layer.convolution, bias=layer.has_bias,
                 activation=layer.activation is not None, pool=layer.pool is not None,
                 target=problem is not None and problem.exact_target is not None,
                 gradients=problem is not None and problem.has_gradients,
                 rate=problem is not None and problem.learning_rate is not None,
                 steps=problem is not None and problem.steps > 1)


def present(problem: Problem) -> tuple[str, ...]:
    """The result keys this problem has, in the format's order."""
    have = features(problem.layer, problem)
    return tuple(key for key in RESULT_KEYS if BY_KEY[key].needs <= have)


def asked(problem: Problem) -> tuple[tuple[str, Fraction], ...]:
    """What an exercise asks, with the points of each: its ``questions`` (result keys
    or single entries), or every quantity the problem determines, one point each;
    the last stage once, as ``output`` (with a pool, ``pooled`` is the output)."""
    if problem.questions is not None:
        return problem.questions
    alias = last_key(problem.layer) if problem.layer.layered else None
    return tuple((key, Fraction(1)) for key in present(problem) if key != alias)


def in_step_order(keys: Iterable[str]) -> list[str]:
    """``keys`` in the order the steps compute them."""
    wanted = set(keys)
    return [q.key for q in QUANTITIES if q.key in wanted]


def why_absent(key: str, problem: Problem) -> str:
    """Why a result key is not in this problem's result, in a few words."""
    missing = BY_KEY[key].needs - features(problem.layer, problem)
    reasons: dict[Need, str] = {
        "bias": "it has no bias",
        "rate": "it has no learning_rate",
        "target": "it has no target",
        "layered": "there is no activation or pool after the convolution",
        "activation": "it has no activation",
        "gradients": "it has no target or grad_output, so no gradients",
        "conv": "it has no filter (a layer alone: no convolution)",
        "steps": "it trains for one step (give steps above 1 for a history)",
    }
    if "pool" in missing and "activation" not in missing:
        return ("it has no pool, so dL/dA is grad_output" if key == "grad_activated"
                else "it has no pool")
    for need, reason in reasons.items():
        if need in missing:
            return reason
    return "it is not part of this problem's result"


def is_approximate(key: str, problem: Problem) -> bool:
    """Whether float sigmoid or tanh went into this quantity's values."""
    activation = problem.layer.activation
    if activation is None or activation.exact:
        return False
    rule = BY_KEY[key].approximate
    return rule == "always" or (rule == "target" and problem.exact_target is not None)


def approximate_keys(problem: Problem) -> frozenset[str]:
    """The result keys whose values are float approximations."""
    return frozenset(key for key in present(problem) if is_approximate(key, problem))


# --------------------------------------------------------------------------
# names: the convolution's Z and dL/dZ, and the last stage


def conv_key(layer: Layer) -> str:
    """The result key of the convolution's Z: ``conv`` when a layer follows, else ``output``."""
    return result_name("conv", layer)


def grad_conv_key(layer: Layer) -> str:
    """The result key of dL/dZ: ``grad_conv`` when a layer follows, else ``grad_output``;
    for a layer alone, whose stages read the input itself, ``grad_input``."""
    return result_name("grad_conv", layer) if layer.convolution else "grad_input"


def result_name(key: str, layer: Layer) -> str:
    """The name a quantity has in this layer's result."""
    other = BY_KEY[key].unlayered
    return other if other is not None and not layer.layered else key


def last_key(layer: Layer) -> str:
    """The quantity the last stage is: ``pooled``, ``activated`` or ``conv``."""
    return "pooled" if layer.pool else "activated" if layer.activation else "conv"


def letter(key: str, layer: Layer) -> str:
    """The letter a stage is written with: Z in the problem's notation, A or P."""
    return BY_KEY[key].letter or layer.notation.output


def symbol_role(key: str, layer: Layer) -> str:
    """The derivation's symbol for the entries of a result key: ``output`` and
    ``grad_output`` take the last stage's (P, A or Z)."""
    role = BY_KEY[key].role
    if role:
        return role
    last = BY_KEY[last_key(layer)].role
    return last if key == "output" else "grad_" + last


# --------------------------------------------------------------------------
# shapes


def history_columns(layer: Layer) -> int:
    """The numbers of one training step in the history: its loss, every weight of the
    updated filter, and every updated bias."""
    return 1 + math.prod(layer.filter_shape) + (layer.filters if layer.has_bias else 0)


def full_shape(key: str, layer: Layer) -> tuple[int, ...]:
    """The shape of a quantity in the full layout: (C, H, W), (F, C, kh, kw), (F,), …

    The history is a table of one row per training step (the layer does not know
    how many: 1 here) and :func:`history_columns` columns.
    """
    axes = BY_KEY[key].axes
    if axes == "history":
        return (1, history_columns(layer))
    shape: tuple[int, ...] = {
        "input": layer.input_shape, "filter": layer.filter_shape, "bias": (layer.filters,),
        "conv": layer.output_shape, "last": layer.last_shape, "number": (),
    }[axes]
    return (layer.layout.batch, *shape) if per_image(key, layer.layout) else shape


#: the axes of the quantities each image of a batch has its own of
PER_IMAGE: tuple[Axes, ...] = ("input", "conv", "last")


def per_image(key: str, layout: Layout) -> bool:
    """Whether a quantity has a leading image axis: in a batch, every quantity of one
    image (X, Z, A, P, Y and their gradients); the weights, their gradients (the sum
    over the images) and the loss have none."""
    return bool(layout.batch) and BY_KEY[key].axes in PER_IMAGE


def user_rank(key: str, layout: Layout) -> int:
    """How many axes the user's shape of a quantity has (with a batch, the image
    axis counts)."""
    return _image_rank(key, layout) + (1 if per_image(key, layout) else 0)


def _image_rank(key: str, layout: Layout) -> int:
    """The user's axes of a quantity of one image."""
    axes = BY_KEY[key].axes
    if axes == "number":
        return 0
    if axes == "history":
        return 2
    if axes == "bias":
        return 0 if layout.bias_is_number else 1
    return {"input": layout.input_rank, "filter": layout.filter_rank}.get(
        axes, layout.output_rank)


def _spatial(key: str) -> bool:
    """Whether a quantity's last two axes are rows and columns."""
    return BY_KEY[key].axes in ("input", "filter", "conv", "last")


def user_shape(key: str, array: Array, layout: Layout) -> Array:
    """An array in the full layout reshaped to the rank the user gave it in (a 1-D
    layer's arrays without the row of length one they are held in); a batch keeps its
    image axis first."""
    if per_image(key, layout):
        return array.reshape((array.shape[0], *_users(key, array.shape[1:], layout)))
    return array.reshape(_users(key, array.shape, layout))


def _users(key: str, full: tuple[int, ...], layout: Layout) -> tuple[int, ...]:
    """One image's full-layout shape or index as the user writes it: the axes they
    leave out dropped, and a 1-D layer's row with them."""
    if layout.one_row and _spatial(key) and len(full) >= 2:
        full = (*full[:-2], full[-1])
    return full[len(full) - _image_rank(key, layout):]


def user_index(key: str, index: tuple[int, ...], layout: Layout) -> tuple[int, ...]:
    """A full-layout index as the user would write it for ``key``."""
    if per_image(key, layout):
        return (index[0], *_users(key, index[1:], layout))
    return _users(key, index, layout)


def full_index(key: str, index: tuple[int, ...], full: tuple[int, ...],
               layout: Layout) -> tuple[int, ...]:
    """The full-layout index of an entry the user wrote as ``index`` (the inverse of
    :func:`user_index`): the axes the user leaves out are 0, a 1-D layer's row with
    them; a batch keeps its image axis first."""
    if per_image(key, layout):
        return (index[0], *_full(key, index[1:], full[1:], layout))
    return _full(key, index, full, layout)


def _full(key: str, index: tuple[int, ...], full: tuple[int, ...],
          layout: Layout) -> tuple[int, ...]:
    """One image's full-layout index of an entry the user wrote as ``index``."""
    if layout.one_row and _spatial(key) and index:
        index = (*index[:-1], 0, index[-1])
    return (0,) * (len(full) - len(index)) + index


def entry_text(key: str, index: tuple[int, ...], layout: Layout) -> str:
    """``grad_input[1][2]``: an entry as the user names it."""
    return key + "".join(f"[{i}]" for i in user_index(key, index, layout))


# --------------------------------------------------------------------------
# naming entries: ``grad_input[1][2]``

_ENTRY = re.compile(r"([a-z_]+)((?:\[[0-9]+\])*)")


class SelectionError(ValueError):
    """A selection that names no entry of the result."""


def parse_entry(text: str, layer: Layer, available: Iterable[str]
                ) -> tuple[str, tuple[int, ...]]:
    """``grad_input[1][2]`` → (``grad_input``, full-layout index).

    Messages name the selection as written; the caller says where it came from.
    """
    available = tuple(available)
    match = _ENTRY.fullmatch(text.strip())
    if not match or match.group(1) not in BY_KEY:
        close = difflib.get_close_matches(text.partition("[")[0].strip(), available, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise SelectionError(
            f"{text}: expected a result key ({', '.join(available)}) with an index{hint}")
    key = match.group(1)
    digits = re.findall(r"[0-9]+", match.group(2))
    if any(len(n) > 9 for n in digits):
        raise SelectionError(f"{text[:60]}: an index is out of range")
    index = tuple(int(n) for n in digits)
    if key not in available:
        raise SelectionError(f"{text}: this problem has no {key}")
    if BY_KEY[key].axes == "history":
        raise SelectionError(f"{text}: the history is worked out as a whole; ask for "
                             f"{key} without an index")
    full = full_shape(key, layer)
    shape = user_index(key, full, layer.layout)
    if len(index) != len(shape):
        if not shape:
            raise SelectionError(f"{text}: {key} is a number and takes no index")
        raise SelectionError(
            f"{text}: {key} has {len(shape)} ax{'es' if len(shape) != 1 else 'is'}"
            f" (shape {''.join(f'[{n}]' for n in shape)}), give {len(shape)} "
            f"ind{'ices' if len(shape) != 1 else 'ex'}")
    for axis, (i, n) in enumerate(zip(index, shape, strict=True)):
        if i >= n:
            raise SelectionError(f"{text}: index {i} on axis {axis} is out of range (size {n})")
    return key, full_index(key, index, full, layer.layout)


# --------------------------------------------------------------------------
# the steps of the derivation, and what each rests on

#: every step the worked derivation may have, in order, with the steps whose results
#: it uses (a problem has only some of them). ``given`` lists the problem's data;
#: the update rests on the gradients through the quantities it updates.
STEPS: dict[str, tuple[str, ...]] = {
    "given": (),
    "shapes": (),
    "padding": ("shapes",),
    "forward": ("shapes", "padding"),
    "activation": ("forward",),
    "pool": ("activation", "forward"),
    "loss": ("pool", "activation", "forward"),
    "grad_output": ("pool", "activation", "forward"),
    "pool_backward": ("grad_output", "pool"),
    "activation_backward": ("pool_backward", "grad_output", "activation"),
    "spread": ("activation_backward", "pool_backward", "grad_output"),
    "grad_filter": ("spread", "activation_backward", "pool_backward", "grad_output"),
    "grad_bias": ("activation_backward", "pool_backward", "grad_output"),
    "grad_input": ("spread", "activation_backward", "pool_backward", "grad_output"),
    # a batch: its loss and its weights' gradients, the sums over its images
    "batch": ("loss", "grad_filter", "grad_bias"),
    "update": (),
    "history": (),
}

#: what an updated quantity rests on besides the update itself
_UPDATES = {"updated_filter": "grad_filter", "updated_bias": "grad_bias"}


def step_of(key: str, layer: Layer) -> str:
    """The step that works out result key ``key`` (a result name) in this layer."""
    if key == "output":
        key = last_key(layer)
    if key == "grad_input" and not layer.convolution:  # a layer alone: its first stage's
        key = "grad_conv"
    if key == "grad_conv":  # with a pool and no activation, the pool's backward step
        return "activation_backward" if layer.activation is not None else "pool_backward"
    return BY_KEY[key].step


def problem_steps(problem: Problem) -> tuple[str, ...]:
    """The steps this problem's derivation has, in order."""
    layer = problem.layer
    backward = problem.has_gradients
    conv = layer.convolution
    has = {
        "shapes": conv, "forward": conv,
        "padding": layer.padded or layer.transposed,
        "activation": layer.activation is not None,
        "pool": layer.pool is not None, "loss": problem.exact_target is not None,
        "grad_output": backward,
        "pool_backward": backward and layer.pool is not None,
        "activation_backward": backward and layer.activation is not None,
        "spread": backward and layer.stride != (1, 1) and not layer.transposed,
        "grad_filter": backward and conv, "grad_bias": backward and problem.exact_bias is not None,
        "grad_input": backward and conv,
        "batch": bool(problem.batch) and (problem.exact_target is not None
                                          or (backward and conv)),
        "update": backward and conv and problem.learning_rate is not None,
        "history": problem.steps > 1,
    }
    return tuple(step for step in STEPS if has.get(step, True))


def rests_on(steps: Iterable[str], problem: Problem) -> frozenset[str]:
    """``steps`` and every step they rest on, of those this problem has.

    A given upstream gradient rests on nothing: dL/dK and dL/dX then need no
    forward pass (unless a pool or an activation routes it back).
    """
    have = set(problem_steps(problem))
    out: set[str] = set()
    todo = [step for step in steps if step in have]
    while todo:
        step = todo.pop()
        if step in out:
            continue
        out.add(step)
        if step == "grad_output" and problem.exact_target is None:
            continue
        todo.extend(before for before in STEPS[step] if before in have)
    return frozenset(out)


# --------------------------------------------------------------------------
# a selection: whole quantities, single entries, steps


@value_class
class Selection(Value):
    """What a reader asks to see of the worked derivation.

    Parsed from strings: a result key alone (``grad_filter``) asks for the whole
    quantity, which is worked out with the steps it rests on; a key with its
    index (``grad_input[1][2]``) asks for that entry; a step's name
    (``forward``) asks for that step. Entries stand alone, each its own
    equation, unless ``context`` asks for the steps they rest on as well (an
    exercise's questions do).

    Keys and entries are by the result's names, entries with their full-layout
    index.
    """

    keys: frozenset[str] = frozenset()
    entries: frozenset[tuple[str, tuple[int, ...]]] = frozenset()
    steps: frozenset[str] = frozenset()
    context: bool = False

    @classmethod
    def parse(cls, texts: Iterable[str], layer: Layer, available: Iterable[str],
              steps: Iterable[str] = tuple(STEPS), *, context: bool = False) -> Selection:
        """The selection the strings name; a string that names nothing raises
        :class:`SelectionError`, naming it as written."""
        available, steps = tuple(available), tuple(steps)
        keys: set[str] = set()
        entries: set[tuple[str, tuple[int, ...]]] = set()
        named: set[str] = set()
        for text in texts:
            word = text.strip()
            if word in available and "[" not in word:
                keys.add(word)
            elif word in steps and word not in BY_KEY:
                named.add(word)
            elif word in STEPS and word not in BY_KEY:
                raise SelectionError(f"{text}: this problem has no {word} step" if steps else
                                     f"{text}: a step of the working, not a result key or "
                                     "an entry")
            else:
                try:
                    entries.add(parse_entry(text, layer, available))
                except SelectionError as error:
                    if word in BY_KEY or "[" in word:
                        raise
                    close = difflib.get_close_matches(word.partition("[")[0],
                                                      [*available, *steps], n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    first = available[0]
                    example = entry_text(first, (0,) * len(full_shape(first, layer)),
                                         layer.layout)
                    or_step = f", or a step ({', '.join(steps)})" if steps else ""
                    raise SelectionError(
                        f"{text}: expected a result key ({', '.join(available)})"
                        f"{',' if steps else ' or'} an entry such as {example}{or_step}{hint}"
                    ) from error
        return cls(frozenset(keys), frozenset(entries), frozenset(named), context)

    def full_steps(self, problem: Problem) -> frozenset[str]:
        """The steps worked out in full: the steps named, the steps of the
        quantities asked whole, and every step those rest on (with ``context``,
        also every step the entries asked rest on). The givens come with them,
        and with entries asked alone."""
        layer = problem.layer
        wanted = {step_of(key, layer) for key in self.keys}
        wanted |= {_UPDATES[key] for key in self.keys if key in _UPDATES}
        if self.context:
            for key, _ in self.entries:
                wanted.update(STEPS[step_of(key, layer)])
                if key in _UPDATES:
                    wanted.add(_UPDATES[key])
        found = rests_on(wanted, problem) | self.steps
        return found | {"given"} if found or self.entries else found

    def entry_steps(self, problem: Problem) -> frozenset[str]:
        """The steps that show single entries alone."""
        return frozenset(step_of(key, problem.layer) for key, _ in self.entries)
