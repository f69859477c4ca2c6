"""The worked solution of a solved layer: which steps, in which order, how long."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from fractions import Fraction

from cnnstep import budget
from cnnstep.derivation import (
    activation,
    forward,
    given,
    grad_bias,
    grad_filter,
    grad_input,
    loss,
    padding,
    pooling,
    shapes,
    stride,
    update,
)
from cnnstep.derivation.builder import Detail, Plan
from cnnstep.derivation.nodes import Deferred, Derivation, Equation, Step, Unfolding
from cnnstep.derivation.numeric import NumericBuilder
from cnnstep.engine import Solution
from cnnstep.exact import ExactArray, Scaled
from cnnstep.numbers import terminates
from cnnstep.problem import Layer, Problem
from cnnstep.quantities import (
    QUANTITIES,
    Selection,
    last_key,
    present,
    problem_steps,
    result_name,
    step_of,
)
from cnnstep.training import Trained

#: the default number of products a derivation may print in full
DEFAULT_MAX_TERMS = 3000

StepMaker = Callable[[NumericBuilder], Step]


def _backward_tail(solution: Solution) -> list[StepMaker]:
    """The steps from the loss back to the layer's output: loss, pool, activation."""
    p, layer = solution.problem, solution.problem.layer
    made: list[StepMaker] = ([loss.step, loss.gradient] if p.exact_target is not None
                             else [loss.given])
    if layer.pool is not None:
        made.append(pooling.backward)
    if layer.activation is not None:
        made.append(activation.backward)
    return made


def transposed_steps(solution: Solution) -> list[StepMaker]:
    """A transposed layer's steps: its size, zero insertion and padding, the forward
    correlation with the rotated kernel, the layers after it, and its gradients."""
    from cnnstep.derivation import history, transposed  # not needed by other layers

    p, layer = solution.problem, solution.problem.layer
    made: list[StepMaker] = [given.step, transposed.shapes, transposed.expansion,
                             transposed.forward]
    if layer.activation is not None:
        made.append(activation.step)
    if layer.pool is not None:
        made.append(pooling.step)
    if solution.grad_conv is None:
        return made
    made += [*_backward_tail(solution), transposed.grad_filter]
    if p.bias is not None:
        made.append(grad_bias.step)
    made.append(transposed.grad_input)
    if p.learning_rate is not None:
        made.append(update.step)
    if isinstance(solution, Trained):
        made.append(history.step)
    return made


def steps(solution: Solution) -> list[StepMaker]:
    """The steps a solved layer is worked in, in order."""
    p = solution.problem
    layer = p.layer
    made: list[StepMaker] = [given.step]
    if layer.transposed:
        return transposed_steps(solution)
    if layer.convolution:  # a layer alone starts at its activation or pool
        made.append(shapes.step)
        if layer.padded:
            made.append(padding.step)
        made.append(forward.step)
    if layer.activation is not None:
        made.append(activation.step)
    if layer.pool is not None:
        made.append(pooling.step)
    if solution.grad_conv is None:
        return made
    made += [loss.step, loss.gradient] if p.exact_target is not None else [loss.given]
    if layer.pool is not None:
        made.append(pooling.backward)
    if layer.activation is not None:
        made.append(activation.backward)
    if not layer.convolution:
        return made
    if layer.stride != (1, 1):
        made.append(stride.step)
    made.append(grad_filter.step)
    if p.bias is not None:
        made.append(grad_bias.step)
    made.append(grad_input.step)
    if p.learning_rate is not None:
        made.append(update.step)
    if isinstance(solution, Trained):
        from cnnstep.derivation import history  # only a trained layer's

        made.append(history.step)
    return made


def title(layer: Layer) -> str:
    """The derivation's title: the layer it works, a convolution or a layer alone."""
    if layer.convolution:
        return ("Worked solution: one 1-D convolution layer" if layer.layout.one_row
                else "Worked solution: one convolution layer")
    names = [name for name, there in (("activation", layer.activation), ("pooling", layer.pool))
             if there is not None]
    return "Worked solution: " + " and ".join(names)


def terms_per_entry(layer: Layer) -> dict[str, int]:
    """Products per entry of each quantity a step works out, to share out the term
    budget; keyed by the names the steps pick entries under."""
    per: dict[str, int] = {}
    for q in QUANTITIES:
        if q.terms is not None:
            # without layers, dL/dZ is grad_output, worked out in its own step
            per.setdefault(result_name(q.key, layer), q.terms(layer))
    return per


def written_in_fractions(p: Problem) -> bool:
    """Whether a number the problem gives has no finite decimal, such as 1/3."""
    given = [p.exact_input, p.exact_filter, p.exact_bias, p.exact_target, p.exact_grad_output]
    numbers = [p.learning_rate] if p.learning_rate is not None else []
    activation = p.layer.activation
    numbers += [activation.slope] if activation is not None else []
    return not (all(terminates(v) for v in numbers)
                and all(decimals(array) for array in given if array is not None))


def decimals(array: ExactArray) -> bool:
    """Whether every number of a given array has a finite decimal: at once when they
    are integers over a denominator 2^a·5^b, else number by number."""
    if isinstance(array.given, Scaled) and terminates(Fraction(1, array.given.denominator)):
        return True
    return all(terminates(v) for v in array.fractions.flat)


def derive(solution: Solution, *, max_terms: int = DEFAULT_MAX_TERMS,
           only: Iterable[str] | Selection = (), detail: Detail = "full",
           max_work: int | None = None) -> Derivation:
    """The worked solution of a solved layer: :func:`derive_lazily`'s head with
    every step built.
    """
    head, worked = derive_lazily(solution, max_terms=max_terms, only=only, detail=detail,
                                 max_work=max_work)
    return replace(head, steps=tuple(worked))


def derive_lazily(solution: Solution, *, max_terms: int = DEFAULT_MAX_TERMS,
                  only: Iterable[str] | Selection = (), detail: Detail = "full",
                  max_work: int | None = None,
                  unfold: bool = False) -> tuple[Derivation, Iterator[Step]]:
    """The worked solution of a solved layer, as its head (a :class:`Derivation`
    with no steps: its title, notation and settings) and its steps, each built
    when it is asked for, so that a printer can write one out and let it go
    before the next is built. Steps with no blocks are left out. With
    ``unfold`` (and no selection, one training step), a step's equations are
    made as its blocks are read: those steps are :class:`Unfolding` blocks,
    to be read once.

    ``max_terms`` bounds the products printed in full (0: no bound); beyond it
    each step works out its first entries and says what it left out. ``only``
    selects what to work out (a :class:`~cnnstep.quantities.Selection`, or the
    strings it is parsed from): a whole quantity (``"grad_filter"``) with the
    steps it rests on, an entry (``"grad_input[1][2]"``) alone, or a step
    (``"forward"``); a string that names nothing raises
    :class:`~cnnstep.quantities.SelectionError`. ``detail`` is ``full`` (every
    entry), ``brief`` (each step's rule, one entry, the results) or ``answers``
    (the givens and the results).
    Building the whole derivation is estimated first and refused over ``max_work``
    operations (:func:`budget.check_derivation`; None: the default limit, 0: none);
    a selection costs no more than the solve, and is not checked.
    """
    if not isinstance(only, Selection):
        only = tuple(only)
    if not only and solution.problem.questions is None:
        budget.check_derivation(solution.problem, max_terms, max_work, format=None,
                                solved=True)
    p = solution.problem
    layer = p.layer
    available = present(p)
    selection = only if isinstance(only, Selection) else (
        Selection.parse(only, layer, available, problem_steps(p)) if only else None)
    if selection is None and p.questions is not None:
        # an exercise's key: the asked quantities and entries, and the steps they rest on
        selection = Selection.parse((text for text, _ in p.questions), layer, available, (),
                                    context=True)
    if solution.images:  # a batch: each image's steps, then the sum, built whole
        from cnnstep.derivation import batch  # only a batch's

        whole = batch.derive_batch(solution, derive, selected_plan, trim, max_terms=max_terms,
                                   selection=selection, detail=detail,
                                   title=batch.batch_title(title(layer), p.batch,
                                                           layer.layout))
        made: Iterable[Step] = whole.steps
        if isinstance(solution, Trained):
            made = trained(solution, list(made), max_terms,
                           detail if selection is None else None)
        return replace(whole, steps=()), iter(made)
    plan = selected_plan(solution, selection, max_terms, detail)
    builder = NumericBuilder(solution, plan)
    builder.deferred = unfold and selection is None and not isinstance(solution, Trained)
    per = terms_per_entry(layer)
    counts = {key: len(builder.entries(key)) for key in per
              if key != "loss" and key in available}
    if solution.loss is not None:
        counts["loss"] = solution.output.size
    shortened = plan.share(per, counts)
    largest = max(max(p.exact_input.shape), max(p.exact_filter.shape), *p.output_size)
    worked: Iterable[Step] = (make(builder) for make in steps(solution))
    if selection is not None:
        full, alone = selection.full_steps(p), selection.entry_steps(p)
        worked = (trim(step, full, alone) for step in worked)
    if isinstance(solution, Trained):
        worked = trained(solution, list(worked), max_terms,
                         detail if selection is None else None)
    head = Derivation(
        title=title(layer),
        notation=p.notation,
        compact=builder.compact,
        steps=(),
        largest_index=largest - 1 + p.notation.index_base,
        shortened=shortened,
        one_channel=layer.channels == 1,
        one_filter=layer.filters == 1,
        fractions=written_in_fractions(p),
        one_row=layer.layout.one_row,
    )
    if builder.deferred:
        worked = (unfolded(step) for step in worked)
    return head, (step for step in worked if step.blocks)


def unfolded(step: Step) -> Step:
    """A step whose equations are :class:`Deferred` with its blocks an Unfolding."""
    if any(isinstance(block, Deferred) for block in step.blocks):
        return replace(step, blocks=Unfolding(step.blocks))
    return step


def trained(solution: Trained, worked: list[Step], max_terms: int,
            detail: Detail | None) -> list[Step]:
    """The steps of step 1, each titled with its training step, then (in full
    detail, ``detail`` "full") the working of every later training step, each
    starting from its weights, and the history last."""
    from cnnstep.derivation import batch, history

    count = solution.problem.steps
    out = [history.titled(step, history.of_steps(1, count)) for step in worked
           if step.key != "history"]
    if detail == "full":
        assert solution.after is not None
        for k, later in enumerate((*solution.iterations[1:], solution.after), start=2):
            # a batch's final loss is its images' losses and their sum
            made = derive(later, max_terms=max_terms, detail="full", max_work=0,
                          only=("loss",) if k > count and later.images else ())
            start = history.start(NumericBuilder(weights(later), Plan(0)),
                                  weights(later).problem, k)
            out += history.later(made.steps, k, count, start, also=(batch.SUM_STEP,))
    return out + [step for step in worked if step.key == "history"]


def weights(solution: Solution) -> Solution:
    """The solution whose filter and bias a training step starts from: a batch's
    shared weights are read from its first image's."""
    from cnnstep.derivation import batch

    return batch.proxy(solution) if solution.images else solution


def selected_plan(solution: Solution, selection: Selection | None, max_terms: int,
                  detail: Detail) -> Plan:
    """The plan of a derivation: everything, or what a selection asks for."""
    if selection is None:
        return Plan(max_terms, detail=detail)
    layer = solution.problem.layer
    # the result's output is the last stage, worked out in that stage's own step
    last = result_name(last_key(layer), layer)
    entries = frozenset((last if key == "output" else key, index)
                        for key, index in selection.entries)
    full = selection.full_steps(solution.problem)
    # a quantity asked for (or its entries) brings its step, not the other
    # quantities of that step (dL/dB's update is not K's)
    asked = {step_of(key, layer) for key in selection.keys} | {
        step_of(key, layer) for key, _ in selection.entries}
    whole = frozenset(key for key in present(solution.problem)
                      if step_of(key, layer) in full and (
                          key in selection.keys or step_of(key, layer) not in asked
                          or step_of(key, layer) in selection.steps))
    return Plan(max_terms, entries, detail, whole | {last} if "output" in whole else whole)


def trim(step: Step, full: frozenset[str], alone: frozenset[str]) -> Step:
    """A step as a selection shows it: whole (the steps in ``full``), its chosen
    entries' equations (those in ``alone``) after what the step sets out before
    its first entry (its rule, rot180(K), the padded gradient), or not at all.
    What follows the entries, the step's results, is left out: it would answer
    more than was asked."""
    if step.key in full:
        return step
    if step.key not in alone:
        return Step(step.key, step.title, (), step.numbered)
    entries = [k for k, block in enumerate(step.blocks)
               if isinstance(block, Equation) and block.entry]
    first = entries[0] if entries else len(step.blocks)
    return Step(step.key, step.title, step.blocks[:first] + tuple(
        step.blocks[k] for k in entries), step.numbered)
