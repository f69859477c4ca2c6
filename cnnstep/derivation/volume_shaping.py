"""How much of a 3-D layer's worked derivation is shown: ``--detail``, ``--only``
and ``--max-terms``, as for a 2-D layer.

The whole derivation is written first (:mod:`cnnstep.derivation.volume`); each
entry's equation is tied to its result entry, so the steps are cut down here,
block by block, without a number computed:

* ``detail="brief"``: each step's rule and working, one entry worked, then "the
  other N … are worked out the same way" and its results; ``"answers"``: the
  givens and each step's results alone;
* ``only``: a result key (its step whole, with the steps it rests on), an
  entry ``key[i][j][l]`` in the shape given (its step's rule and that equation),
  or a step's name (that step whole); the givens always;
* ``max_terms``: the products printed in full, shared out between the
  quantities in proportion to their products; each shortened quantity works its
  first entries out and says how many it left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import numpy as np

from cnnstep import volume as engine
from cnnstep.derivation.nodes import Block, Derivation, Equation, Matrix, Omitted, Step, Text, Whole
from cnnstep.problem import ProblemError, Volume
from cnnstep.quantities import get

Index = tuple[int, ...]

#: the steps every gradient rests on, in order
CHAIN = ("shapes", "padding", "forward", "activation", "pool", "loss", "grad_output",
         "pool_backward", "activation_backward")


def step_of(key: str, layer: Volume) -> str:
    """The step that works a result key out in this layer (the registry's; the last
    stage is the activation's, or the forward pass's)."""
    step = get(key).step
    if step == "last":
        return ("pool" if layer.pool is not None else "activation"
                if layer.activation is not None else "forward")
    if step == "activation_backward" and layer.activation is None:
        return "pool_backward"  # dL/dZ straight from the pool
    if key == "grad_input" and not layer.convolution:  # a layer alone: what comes back
        return "activation_backward" if layer.activation is not None else "pool_backward"
    return step


#: the gradient each update applies, whose step it rests on too
APPLIES = {"updated_filter": "grad_filter", "updated_bias": "grad_bias"}


def rests_on(key: str, layer: Volume) -> tuple[str, ...]:
    """The steps a result key rests on, its own last: the chain up to its step, and
    for an update the step of the gradient it applies."""
    own = step_of(key, layer)
    if own in CHAIN:
        return CHAIN[:CHAIN.index(own) + 1]
    applied = (step_of(APPLIES[key], layer),) if key in APPLIES else ()
    return (*CHAIN, *applied, own)


def what(key: str, layer: Volume) -> str:
    """The entries of a quantity, for the notes: ``entries of ∂L/∂K``."""
    n = layer.notation
    letters = {"output": n.output, "filter": n.filter, "bias": n.bias, "input": n.input}
    if key in ("output", "conv"):
        return "output entries" if key == "output" else f"entries of {n.output}"
    if get(key).letter:  # a stage after the convolution: A, P
        return f"entries of {get(key).letter}"
    if key == "grad_conv":
        return f"entries of ∂{n.loss}/∂{n.output}"
    if key == "grad_activated":
        return f"entries of ∂{n.loss}/∂{get('activated').letter}"
    if key == "grad_output" and (layer.pool is not None or layer.activation is not None):
        last = "pooled" if layer.pool is not None else "activated"
        return f"entries of ∂{n.loss}/∂{get(last).letter}"
    if key.startswith("grad_"):
        return f"entries of ∂{n.loss}/∂{letters[key[5:]]}"
    return f"entries of {letters[key[8:]]}new"


def _key(block: Block) -> str | None:
    """The result key an entry's equation works out; None for any other block."""
    return block.entry[0] if isinstance(block, Equation) and block.entry else None


# --------------------------------------------------------------------------
# --only


def parse(only: Iterable[str], layer: Volume, solved: dict[str, object],
          steps: tuple[str, ...], context: bool = False,
          ) -> tuple[frozenset[str], frozenset[tuple[str, Index]]]:
    """The steps shown whole and the entries shown alone (full layout), from what
    ``--only`` names (a result key, an entry, or one of the derivation's ``steps``);
    a name that is none of them is a ProblemError. With ``context`` (an exercise's
    questions), an entry comes with the steps it rests on, shown whole."""
    whole: set[str] = {"given"}
    entries: set[tuple[str, Index]] = set()
    for text in only:
        word = text.strip()
        key, _, rest = word.partition("[")
        if not rest:
            if word in solved or (word == "final_loss" and layer.steps > 1):
                whole.update(rests_on(word, layer))
            elif word in steps:
                whole.add(word)
            else:
                raise ProblemError(f"--only {word}: not a quantity or step of this 3-D layer; "
                                   f"it has {', '.join(solved)} and the steps "
                                   f"{', '.join(steps)}")
            continue
        index = _entry(word, key, "[" + rest, layer, solved)
        if context:
            whole.update(rests_on(key, layer)[:-1])
        # after a pool or an activation the result's output is P or A, worked out as
        # "pooled" or "activated"
        last = ("pooled" if layer.pool is not None else "activated"
                if layer.activation is not None else "output")
        entries.add((last if key == "output" else key, index))
    return frozenset(whole), frozenset(entries)


def _entry(word: str, key: str, brackets: str, layer: Volume,
           solved: dict[str, object]) -> Index:
    """``grad_input[1][0][2]`` (0-based, in the shape given) as a full-layout index."""
    value = solved.get(key)
    if not isinstance(value, np.ndarray):
        raise ProblemError(f"--only {word}: {key} is not an array of this 3-D layer")
    rank = engine.user_rank(key, layer)
    shape = value.shape[value.ndim - rank:]
    parts = brackets[1:-1].split("][") if brackets.endswith("]") else []
    try:
        index = tuple(int(part) for part in parts)
    except ValueError:
        index = ()
    if len(index) != rank or not all(0 <= i < n for i, n in zip(index, shape, strict=True)):
        raise ProblemError(f"--only {word}: expected {key} and {rank} indices from 0 inside "
                           f"its shape {''.join(f'[{n}]' for n in shape)}")
    return (0,) * (value.ndim - rank) + index


def _trim(step: Step, entries: frozenset[tuple[str, Index]]) -> Step:
    """A step as an entry alone shows it: what it sets out before its first entry,
    then the chosen entries' equations."""
    keys = [k for k, block in enumerate(step.blocks) if _key(block)]
    first = keys[0] if keys else len(step.blocks)
    chosen = tuple(step.blocks[k] for k in keys
                   if isinstance(block := step.blocks[k], Equation) and block.entry in entries)
    return replace(step, blocks=step.blocks[:first] + chosen if chosen else ())


# --------------------------------------------------------------------------
# --detail and --max-terms


def _brief(step: Step, layer: Volume) -> Step:
    """Every block, but one equation of each quantity and a note of the rest."""
    out: list[Block] = []
    runs = _runs(step)
    for k, block in enumerate(step.blocks):
        key = _key(block)
        if key is None:
            out.append(block)
            continue
        start, end = runs[key]
        if k == start:
            out.append(block)
        if k == end - 1 and end - start > 1:
            rest = end - start - 1
            out.append(Text((f"The other {rest} {what(key, layer)} are worked out the same "
                             "way." if rest > 1 else
                             f"The last of the {what(key, layer)} is worked out the same way.",)))
    return replace(step, blocks=tuple(out))


def _answers(step: Step) -> Step:
    """The step's results: its matrices after the working, and the values of the
    quantities no matrix shows (the loss, the biases)."""
    if step.key in ("given", "history"):  # the history is the training's answers
        return step
    if step.key in ("shapes", "padding"):
        return replace(step, blocks=())
    keys = [k for k, block in enumerate(step.blocks) if _key(block)]
    if not keys:
        return replace(step, blocks=())
    shown = {role for block in step.blocks[keys[0]:] if isinstance(block, Matrix)
             for role in _roles(block)}
    out: list[Block] = []
    for block in step.blocks[keys[0]:]:
        key = _key(block)
        if isinstance(block, Matrix):
            out.append(block)
        elif key is not None and key not in shown and isinstance(block, Equation):
            out.append(replace(block, forms=()))
    return replace(step, blocks=tuple(out))


def _roles(block: Matrix) -> set[str]:
    """The quantities a matrix shows, by the roles in its label."""
    return {part.role for part in block.label if isinstance(part, Whole)}


def _runs(step: Step) -> dict[str, tuple[int, int]]:
    """Each quantity's equations: from the first block to one past the last."""
    runs: dict[str, tuple[int, int]] = {}
    for k, block in enumerate(step.blocks):
        key = _key(block)
        if key is not None:
            start = runs.get(key, (k, k))[0]
            runs[key] = (start, k + 1)
    return runs


def _terms(block: Block) -> int:
    return max(1, block.terms) if isinstance(block, Equation) else 0


def shortened(steps: list[Step], layer: Volume, max_terms: int) -> tuple[list[Step], bool]:
    """The steps with at most about ``max_terms`` products printed (0: every one)."""
    counts: dict[str, int] = {}
    for step in steps:
        for block in step.blocks:
            key = _key(block)
            if key is not None and key != "loss":
                counts[key] = counts.get(key, 0) + _terms(block)
    total = sum(counts.values())
    if max_terms <= 0 or total <= max_terms:
        return steps, False
    out = []
    for step in steps:
        budget = {key: max(1, max_terms * n // total) for key, n in counts.items()}
        blocks: list[Block] = []
        left: dict[str, list[Index]] = {}
        runs = _runs(step)
        for k, block in enumerate(step.blocks):
            key = _key(block)
            if key is None or key == "loss":
                blocks.append(block)
                continue
            assert isinstance(block, Equation) and block.entry is not None
            if budget[key] > 0:
                blocks.append(block)
                budget[key] -= _terms(block)
            else:
                left.setdefault(key, []).append(block.entry[1])
            if k == runs[key][1] - 1 and left.get(key):
                rest = left[key]
                blocks.append(Omitted(len(rest), what(key, layer),
                                      engine.entry_text(key, rest[0], layer)))
        out.append(replace(step, blocks=tuple(blocks)))
    return out, True


def derived(layer: Volume, *, detail: str = "full", only: Iterable[str] = (),
            max_terms: int = 0) -> Derivation:
    """A 3-D layer's worked derivation as ``detail``, ``only`` and ``max_terms`` ask:
    trained over ``steps``, every training step is worked in full detail alone."""
    from cnnstep.derivation.volume import derivation

    chosen = tuple(only)
    return shaped(derivation(layer, every_step=detail == "full" and not chosen), layer,
                  detail=detail, only=chosen, max_terms=max_terms)


def shaped(made: Derivation, layer: Volume, *, detail: str = "full",
           only: Iterable[str] = (), max_terms: int = 0, context: bool = False) -> Derivation:
    """The derivation as ``detail``, ``only`` and ``max_terms`` ask; without ``only``,
    an exercise's key: what its ``questions`` ask, with the steps it rests on."""
    steps = list(made.steps)
    chosen = tuple(only)
    if not chosen and layer.questions is not None:
        chosen, context = tuple(text for text, _ in layer.questions), True
    whole = frozenset(step.key for step in steps)
    if chosen:
        whole, entries = parse(chosen, layer, engine.arrays(layer),
                               tuple(step.key for step in steps), context)
        alone = {step_of(key, layer) for key, _ in entries}
        steps = [step if step.key in whole else _trim(step, entries) if step.key in alone
                 else replace(step, blocks=()) for step in steps]
    if detail == "brief":
        steps = [_brief(step, layer) if step.key in whole else step for step in steps]
    elif detail == "answers":
        steps = [_answers(step) if step.key in whole else step for step in steps]
    cut = False
    if detail == "full":
        steps, cut = shortened(steps, layer, max_terms)
    return replace(made, steps=tuple(step for step in steps if step.blocks), shortened=cut)
