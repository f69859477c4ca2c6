"""The worked solution of a batch of 3-D volumes: every volume's working, then the
sum over the batch, as a batch of images is worked (:mod:`cnnstep.derivation.batch`,
whose words and nodes these are).

Each volume's steps are those of one 3-D layer (:mod:`cnnstep.derivation.volume`),
titled with the volume, its contributions marked as its own (L⁽ⁿ⁾, ∂L/∂K⁽ⁿ⁾,
∂L/∂B⁽ⁿ⁾); then the step "Sum over the batch" adds them up,

    L = Σ_n L⁽ⁿ⁾,  ∂L/∂K = Σ_n ∂L/∂K⁽ⁿ⁾,  ∂L/∂B = Σ_n ∂L/∂B⁽ⁿ⁾,

and the update (and the training history) works with the sums. ``--only``,
``--detail`` and ``--max-terms`` shape each volume's steps as one layer's
(:mod:`cnnstep.derivation.volume_shaping`), an entry of one volume named with the
volume's index first (``grad_input[1][0][2][1]``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np

from cnnstep import volume_batch
from cnnstep.derivation import volume_shaping as shaping
from cnnstep.derivation.batch import (
    ONCE,
    SUM_STEP,
    entry_sum,
    loss_sum,
    marked_by,
    sum_intro,
    sum_rule,
    titled,
)
from cnnstep.derivation.history import later, of_steps
from cnnstep.derivation.history import titled as training_titled
from cnnstep.derivation.loss import batch_share
from cnnstep.derivation.nodes import (
    Block,
    Derivation,
    Equation,
    Expr,
    Image,
    Matrix,
    Num,
    Step,
    Sym,
    Whole,
)
from cnnstep.derivation.volume import VolumeWriter, derivation, history, rounded, start, writer_of
from cnnstep.derivation.volume_shaping import APPLIES, CHAIN
from cnnstep.problem import Array, ProblemError, Volume, VolumeBatch
from cnnstep.quantities import BY_KEY
from cnnstep.volume_batch import per_volume

Index = tuple[int, ...]
#: what one member of a batch of volumes is called
NAME = "volume"
#: the steps worked once for the whole batch: the sum, the update, the history
LATER = (SUM_STEP, "update", "history")
#: the steps of the updates with the sums, and of the training that repeats them
UPDATING = LATER[1:]
#: the steps of the batch's derivation, by name
STEP_NAMES = ("given", *CHAIN, "grad_filter", "grad_bias", "grad_input", *LATER)


def weights_word(word: str) -> bool:
    """Whether ``--only`` names a step after the volumes or a quantity of the batch's
    own (the loss, the weights' gradients, the updates, the training)."""
    return word in LATER or (word in BY_KEY and not per_volume(word))


def updating(word: str) -> bool:
    """Whether ``--only`` names the update, the training or a quantity of them."""
    return word in UPDATING or (word in BY_KEY and BY_KEY[word].step in UPDATING)


def towards(key: str) -> tuple[str, ...]:
    """What each volume works out towards a quantity of the batch: the gradient an
    update applies, every one for the training, else the quantity itself."""
    if key in APPLIES:
        return (APPLIES[key],)
    if key in BY_KEY and BY_KEY[key].step == "history":
        return tuple(APPLIES.values())
    return (key,)


def volume_name(n: int, layer: Volume) -> str:
    """"volume 1": a volume numbered from the notation's base."""
    return f"{NAME} {n + layer.notation.index_base}"


def worked(batch: VolumeBatch, *, detail: str = "full", only: Iterable[str] = (),
           max_terms: int = 0) -> Derivation:
    """Every volume's steps, titled with the volume, then the sum over the batch, the
    update and (with ``steps``) the history, shaped as ``detail``, ``only`` and
    ``max_terms`` ask."""
    layer, count = batch.layer, batch.count
    writers = [writer_of(image) for image in batch.images]
    each = [writer.solved for writer in writers]
    solved = volume_batch.combined(batch, each)
    chosen = tuple(word.strip() for word in only)
    per, weights = _split(chosen, batch, solved)
    steps: list[Step] = []
    made: list[Derivation] = []
    for n, (image, writer) in enumerate(zip(batch.images, writers, strict=True)):
        whole = derivation(image, writer)
        given = writer_of(replace(image, learning_rate=layer.learning_rate,
                                     steps=layer.steps), writer.solved).given()
        whole = replace(whole, steps=tuple(
            given if step.key == "given" else _shared(step, image, count)
            for step in whole.steps))
        own = per[n]
        if chosen and not own:  # nothing of this volume is asked: its givens alone
            own = ("given",)
        shown = shaping.shaped(whole, image, detail=detail, only=own, max_terms=max_terms)
        made.append(shown)
        title = volume_name(n, layer)
        steps += [step if step.key in ONCE else
                  replace(marked_by(step, n, per_volume), title=f"{step.title} ({title})")
                  for step in shown.steps if n == 0 or step.key not in ONCE]
    later = _later(batch, solved, each, _sums(weights) if chosen else None)
    if chosen:
        later = _chosen(later, weights, solved)
    first = made[0]
    after = shaping.shaped(replace(first, steps=tuple(step for step in later if step.blocks)),
                           layer, detail=detail, max_terms=max_terms)
    out = [step for step in (*steps, *after.steps) if step.blocks]
    if layer.steps > 1:
        out = _trained(batch, out, max_terms, every=detail == "full" and not chosen)
    return replace(first, title=titled(first.title, count, NAME), steps=tuple(out),
                   largest_index=max(d.largest_index for d in made),
                   shortened=after.shortened or any(d.shortened for d in made))


def _trained(batch: VolumeBatch, made: list[Step], max_terms: int, *,
             every: bool) -> list[Step]:
    """Step 1's steps titled with their training step, then (``every``) each later
    step's working, every volume's and the sums, from the weights the step before
    updated, and every volume's loss after the last update with their sum; the
    history last (as :func:`cnnstep.derivation.volume.training` for one volume)."""
    count = batch.layer.steps
    out = [training_titled(step, of_steps(1, count)) for step in made
           if step.key != "history"]
    if every:
        current = batch
        for k in range(2, count + 2):
            solved = volume_batch.arrays(current)
            current = volume_batch.with_weights(current, solved["updated_filter"],
                                                solved.get("updated_bias"))
            once = VolumeBatch(replace(current.layer, steps=1), current.images)
            again = worked(once, max_terms=max_terms, only=("loss",) if k > count else ())
            out += later(again.steps, k, count, start(current.layer, k), also=(SUM_STEP,))
    return out + [step for step in made if step.key == "history"]


def _shared(step: Step, image: Volume, count: int) -> Step:
    """A volume's loss step says it is its share of the batch's loss."""
    if step.key != "loss" or image.target is None:
        return step
    share: list[Block] = list(batch_share(image.loss, image.target.size, count, NAME))
    return replace(step, blocks=(*step.blocks[:1], *share, *step.blocks[1:]))


def _later(batch: VolumeBatch, solved: dict[str, Any], each: list[dict[str, Any]],
           sums: frozenset[str] | None = None) -> list[Step]:
    """The sum over the batch (of ``sums`` alone when given), the update with the sums,
    and the training history; after float sigmoid or tanh every number in them is
    rounded."""
    layer = batch.layer
    steps: list[Step] = []
    writer = writer_of(layer, solved)
    if not layer.convolution:  # a layer alone: no weights, the loss alone adds up
        sums = frozenset({"loss"}) if sums is None else sums & {"loss"}
    if "loss" in solved or (layer.convolution and "grad_filter" in solved):
        steps.append(sum_step(writer, batch.count, solved, each, sums))
    update = writer.update()
    if update is not None:
        steps.append(update)
    if layer.steps > 1:
        trained = history(writer, volume_batch.training(batch))
        if trained is not None:
            steps.append(trained)
    activation = layer.activation
    if activation is not None and not activation.exact:
        steps = [replace(step, blocks=rounded(step.blocks)) for step in steps]
    return steps


def sum_step(writer: VolumeWriter, count: int, solved: dict[str, Any],
             each: list[dict[str, Any]], sums: frozenset[str] | None = None) -> Step:
    """L, ∂L/∂K and ∂L/∂B of the batch (those of ``sums`` when given): each volume's
    contribution, then the sum."""
    blocks: list[Block] = [sum_intro(count, NAME)]
    if sums is not None:
        solved = {key: value for key, value in solved.items() if key in sums}
    if "loss" in solved:
        parts = tuple(Num(own["loss"]) for own in each)
        blocks.append(Equation(Sym("loss"), loss_sum(count, parts), solved["loss"],
                               ("loss", ())))
    for key, lead in (("grad_filter", ("filter", "channel")), ("grad_bias", ())):
        if key not in solved:
            continue
        total = solved[key]
        single = total.size == 1  # one number: its equation says it all, the rule first
        if not single:
            blocks.append(sum_rule(key, count))
            for n, own in enumerate(each):
                blocks += _matrices(writer, (Image(Whole(key), n),), own[key], lead)
        for e in np.ndindex(*total.shape):
            forms = entry_sum(Sym(key, e), count, tuple(Num(own[key][e]) for own in each),
                              single)
            blocks.append(Equation(Sym(key, e), forms, total[e], (key, e)))
        if not single:
            blocks += _matrices(writer, (Whole(key),), total, lead)
    return Step(SUM_STEP, "Sum over the batch", tuple(blocks))


def _matrices(writer: VolumeWriter, label: tuple[str | Expr, ...], values: Array,
              lead: tuple[str, ...]) -> list[Block]:
    """A kernel's gradient as its depth slices; the biases' as one row."""
    if not lead:
        return [Matrix(label, values.reshape(1, -1))]
    return writer.slices(label, values, lead)


# --------------------------------------------------------------------------
# --only


def _split(chosen: tuple[str, ...], batch: VolumeBatch, solved: dict[str, Any]
           ) -> tuple[list[tuple[str, ...]], tuple[str, ...]]:
    """What ``--only`` asks of each volume (an entry of one volume without its volume
    index) and of the steps after them; an unknown name is a ProblemError."""
    per: list[list[str]] = [[] for _ in batch.images]
    weights: list[str] = []
    for word in chosen:
        key, bracket, rest = word.partition("[")
        if not bracket:
            if weights_word(word):
                weights.append(word)
            elif word not in solved and word not in STEP_NAMES:
                raise ProblemError(
                    f"--only {word}: not a quantity or step of this batch of 3-D volumes; "
                    f"it has {', '.join(solved)} and the steps {', '.join(STEP_NAMES)}")
            for own in per:
                own += () if word in LATER else towards(word)
            continue
        index = _index(word, key, bracket + rest, batch, solved)
        if per_volume(key):
            per[index[0]].append(key + "".join(f"[{i}]" for i in index[1:]))
            continue
        weights.append(word)
        applied = towards(key)[0]
        if applied in solved:
            for own in per:
                own.append(applied + "".join(f"[{i}]" for i in index))
    return [tuple(own) for own in per], tuple(weights)


def _index(word: str, key: str, brackets: str, batch: VolumeBatch,
           solved: dict[str, Any]) -> Index:
    """``grad_input[1][0][2][1]`` (0-based, in the shape given, the volume first) as
    its indices in that shape."""
    value = solved.get(key)
    if not isinstance(value, np.ndarray):
        raise ProblemError(f"--only {word}: {key} is not an array of this batch of 3-D "
                           "volumes")
    rank = volume_batch.user_rank(key, batch)
    shape = ((value.shape[0], *value.shape[value.ndim - rank + 1:]) if per_volume(key)
             else value.shape[value.ndim - rank:])
    parts = brackets[1:-1].split("][") if brackets.endswith("]") else []
    try:
        index = tuple(int(part) for part in parts)
    except ValueError:
        index = ()
    if len(index) != rank or not all(0 <= i < n for i, n in zip(index, shape, strict=True)):
        raise ProblemError(f"--only {word}: expected {key} and {rank} indices from 0 inside "
                           f"its shape {''.join(f'[{n}]' for n in shape)}")
    return index


def _sums(words: tuple[str, ...]) -> frozenset[str] | None:
    """The sums ``--only`` asks to be worked out: every one (None) for the sum's step,
    an update or the history; else those of the quantities named."""
    keys = {word for word in words if "[" not in word}
    if SUM_STEP in keys or any(updating(key) for key in keys):
        return None
    return frozenset(keys)


def _chosen(steps: list[Step], words: tuple[str, ...], solved: dict[str, Any]) -> list[Step]:
    """The steps after the volumes as ``--only`` asks: the sum whole when a sum, an
    update or a step after the volumes is named; the entries asked alone; else not."""
    keys = {word for word in words if "[" not in word}
    entries: set[tuple[str, Index]] = set()
    for word in words:
        key, bracket, rest = word.partition("[")
        if bracket:
            index = tuple(int(part) for part in rest[:-1].split("]["))
            full = solved[key].ndim
            entries.add((key, (0,) * (full - len(index)) + index))
            entries.add((towards(key)[0], (0,) * (full - len(index)) + index))
    history = {key for key in keys if key == "history" or
               (key in BY_KEY and BY_KEY[key].step == "history")}
    out = []
    for step in steps:
        if step.key == SUM_STEP:
            step = step if keys else _entries_alone(step, entries)
        elif step.key == "update":
            step = step if any(updating(key) for key in keys) else _entries_alone(step,
                                                                                   entries)
        elif step.key == "history" and not history:
            step = replace(step, blocks=())
        out.append(step)
    return out


def _entries_alone(step: Step, entries: set[tuple[str, Index]]) -> Step:
    """A step as entries asked alone show it: what it sets out before its first
    entry, then those entries' equations; nothing when none of them is in it."""
    worked = [k for k, block in enumerate(step.blocks)
              if isinstance(block, Equation) and block.entry]
    chosen = tuple(block for block in step.blocks
                   if isinstance(block, Equation) and block.entry in entries)
    first = worked[0] if worked else len(step.blocks)
    return replace(step, blocks=step.blocks[:first] + chosen if chosen else ())
