"""What a 3-D exercise asks: the quantities its layer determines, their shapes, and
the questions (result keys or single entries, with their points), read as
:mod:`cnnstep.quantities` and :mod:`cnnstep.check.asked` read a 2-D layer's.

An entry is named in the shape the problem gave, 0-based:
``grad_input[1][0][2]`` (depth, row, column) for an input ``[D][H][W]``. Without
``questions``, everything the layer determines is asked, one point per quantity,
the last stage once (as ``output``). The training history is worked out but not
marked, and so it is not asked; its ``final_loss`` is.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from fractions import Fraction

from cnnstep import volume as engine
from cnnstep.check.asked import Question, read_asked
from cnnstep.problem import Volume
from cnnstep.quantities import BY_KEY, RESULT_KEYS, Need, SelectionError, needs

Index = tuple[int, ...]

_ENTRY = re.compile(r"([a-z_]+)((?:\[[0-9]+\])*)")


def features(volume: Volume) -> frozenset[Need]:
    """What a 3-D layer gives, in the registry's words (a layer alone: no convolution)."""
    return needs(conv=volume.convolution, bias=volume.bias is not None,
                 activation=volume.activation is not None, pool=volume.pool is not None,
                 target=volume.target is not None, gradients=volume.has_gradients,
                 rate=volume.learning_rate is not None, steps=volume.steps > 1)


def present(volume: Volume) -> tuple[str, ...]:
    """The result keys a question may name, in the format's order: every key of the
    layer's result but the history."""
    have = features(volume)
    return tuple(key for key in RESULT_KEYS
                 if BY_KEY[key].needs <= have and key != "history")


def last_key(volume: Volume) -> str | None:
    """The stage the result's ``output`` is, under its own name: ``pooled`` or
    ``activated``; None when the output is Z itself."""
    return ("pooled" if volume.pool is not None else
            "activated" if volume.activation is not None else None)


def asked(volume: Volume) -> tuple[tuple[str, Fraction], ...]:
    """What the exercise asks, with the points of each: its ``questions``, or every
    quantity the layer determines, one point each, the last stage once."""
    if volume.questions is not None:
        return volume.questions
    alias = last_key(volume)
    return tuple((key, Fraction(1)) for key in present(volume) if key != alias)


def total(volume: Volume) -> Fraction:
    """The points of everything the exercise asks, together."""
    return sum((points for _, points in asked(volume)), Fraction(0))


def full_shape(key: str, volume: Volume) -> Index:
    """A quantity's shape in the full layout: (C, D, H, W), (F, C, kd, kh, kw), (F,),
    (F, od, oh, ow), or () for a number."""
    axes = BY_KEY[key].axes
    filters = volume.filter.shape[0]
    if axes == "input":
        return tuple(volume.input.shape)
    if axes == "filter":
        return tuple(volume.filter.shape)
    if axes == "bias":
        return (filters,)
    if axes == "conv" or (axes == "last" and volume.pool is None):
        return (filters, *volume.output_size)
    if axes == "last":
        assert volume.pool is not None
        return (filters, *volume.pool.output_size)
    return ()


def user_shape(key: str, volume: Volume) -> Index:
    """A quantity's shape as the problem gave it (the axes it leaves out dropped)."""
    full = full_shape(key, volume)
    return full[len(full) - engine.user_rank(key, volume):] if full else ()


def parse_entry(text: str, volume: Volume, available: Iterable[str]) -> tuple[str, Index]:
    """``grad_input[1][0][2]`` → (``grad_input``, its full-layout index); what names no
    entry of this layer is a :class:`SelectionError` naming it as written."""
    available = tuple(available)
    word = text.strip()
    match = _ENTRY.fullmatch(word)
    if word == "history":
        raise SelectionError(f"{text}: a 3-D layer's training history is worked out but not "
                             "marked; ask final_loss")
    if not match or match.group(1) not in BY_KEY:
        close = difflib.get_close_matches(word.partition("[")[0], available, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise SelectionError(f"{text}: expected a result key ({', '.join(available)}) or an "
                             f"entry such as {available[0]}[0][0][0]{hint}")
    key = match.group(1)
    if key not in available:
        raise SelectionError(f"{text}: this problem has no {key}")
    digits = re.findall(r"[0-9]+", match.group(2))
    if any(len(n) > 9 for n in digits):
        raise SelectionError(f"{text[:60]}: an index is out of range")
    index = tuple(int(n) for n in digits)
    shape = user_shape(key, volume)
    if len(index) != len(shape):
        if not shape:
            raise SelectionError(f"{text}: {key} is a number and takes no index")
        raise SelectionError(
            f"{text}: {key} has {len(shape)} ax{'es' if len(shape) != 1 else 'is'} "
            f"(shape {''.join(f'[{n}]' for n in shape)}), give {len(shape)} "
            f"ind{'ices' if len(shape) != 1 else 'ex'}")
    for axis, (i, n) in enumerate(zip(index, shape, strict=True)):
        if i >= n:
            raise SelectionError(f"{text}: index {i} on axis {axis} is out of range (size {n})")
    full = full_shape(key, volume)
    return key, (0,) * (len(full) - len(index)) + index


def question_checker(volume: Volume) -> Callable[[str], object]:
    """The check :func:`cnnstep.problem.read_questions` puts each question through: a
    result key of this layer, or an entry inside its shape."""
    available = present(volume)

    def check(text: str) -> object:
        if text.strip() in available:
            return text
        return parse_entry(text, volume, available)

    return check


def questions(volume: Volume, wanted: Iterable[tuple[str, Fraction | int]] | None = None
              ) -> tuple[Question, ...]:
    """The questions (None: :func:`asked`), each a whole quantity or one entry in the
    shape given, as the marker takes them."""
    available = present(volume)

    def entry_of(word: str) -> tuple[str, Index]:
        key, full = parse_entry(word, volume, available)
        return key, full[len(full) - len(user_shape(key, volume)):]

    return read_asked(asked(volume) if wanted is None else wanted, available, entry_of)


def role(key: str, volume: Volume) -> str:
    """The derivation's symbol for a result key's entries: ``output`` and
    ``grad_output`` take the last stage's (P, A or Z)."""
    last = last_key(volume) or "output"
    if key == "output":
        return last
    if key == "grad_output":
        return "grad_" + last
    return BY_KEY[key].role
