"""What an exercise on a batch of 3-D volumes asks: result keys, or single entries
in the shape the result gives them, the volume axis first for a quantity of one
volume (``grad_input[1][0][2][1]``: volume 2's ∂L/∂X at depth 0, row 2, column
1), as a 2-D batch's questions name them. The weights' gradients, their update
and the loss have no volume axis (the batch sums them).

Without ``questions`` everything the batch determines is asked, one point each;
with them, what they ask for their points (:mod:`cnnstep.check.volume_batch`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from fractions import Fraction
from typing import TYPE_CHECKING

from cnnstep.check.asked import Question
from cnnstep.problem import ProblemError
from cnnstep.quantities import SelectionError
from cnnstep.volume_batch import per_volume
from cnnstep.volume_questions import parse_entry, present, user_shape

if TYPE_CHECKING:
    from cnnstep.problem import VolumeBatch

Index = tuple[int, ...]

_ENTRY = re.compile(r"([a-z_]+)((?:\[[0-9]+\])*)")


def batch_shape(key: str, batch: VolumeBatch) -> Index:
    """A quantity's shape in the batch's result: a volume's with the volume axis first,
    or the weights' and the loss's own."""
    own = user_shape(key, batch.layer)
    return (batch.count, *own) if per_volume(key) else own


def parse_batch_entry(text: str, batch: VolumeBatch) -> tuple[str, Index]:
    """``grad_input[1][0][2][1]`` → (``grad_input``, its index in the batch's shape);
    what names no entry of the batch is a :class:`SelectionError` naming it as
    written."""
    available = present(batch.layer)
    word = text.strip()
    match = _ENTRY.fullmatch(word)
    if not match or match.group(1) not in available or not per_volume(match.group(1)):
        key, full = parse_entry(word, batch.layer, available)  # its own errors
        return key, full[len(full) - len(user_shape(key, batch.layer)):]
    key = match.group(1)
    digits = re.findall(r"[0-9]+", match.group(2))
    if any(len(n) > 9 for n in digits):
        raise SelectionError(f"{text[:60]}: an index is out of range")
    index = tuple(int(n) for n in digits)
    shape = batch_shape(key, batch)
    if len(index) != len(shape):
        raise SelectionError(
            f"{text}: {key} has {len(shape)} axes in a batch (shape "
            f"{''.join(f'[{n}]' for n in shape)}, the volume first), give {len(shape)} "
            "indices")
    for axis, (i, n) in enumerate(zip(index, shape, strict=True)):
        if i >= n:
            raise SelectionError(f"{text}: index {i} on axis {axis} is out of range (size {n})")
    return key, index


def question_checker(batch: VolumeBatch) -> Callable[[str], object]:
    """The check :func:`cnnstep.problem.read_questions` puts each question through: a
    result key of the batch, or an entry inside its shape."""
    available = present(batch.layer)

    def check(text: str) -> object:
        if text.strip() in available:
            return text
        return parse_batch_entry(text, batch)

    return check


def questions(batch: VolumeBatch) -> tuple[Question, ...]:
    """The batch's questions as the marker takes them, each a whole quantity or one
    entry in the batch's shape (its ``questions`` are read and checked already)."""
    assert batch.questions is not None
    available = present(batch.layer)
    out: list[Question] = []
    for text, points in batch.questions:
        word = text.strip()
        if word in available:
            out.append(Question(word, word, None, Fraction(points)))
            continue
        try:
            key, index = parse_batch_entry(word, batch)
        except SelectionError as error:
            raise ProblemError(f"questions: {error}") from None
        out.append(Question(key + "".join(f"[{i}]" for i in index), key, index,
                            Fraction(points)))
    return tuple(out)
