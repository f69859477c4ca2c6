"""The worked solution of a batch: every image's working, then the sum over the batch.

Each image of a batch goes through the layer on its own, so its steps are those of
one image (:func:`cnnstep.derivation.assemble.derive` of its own solution), titled
with the image. The images share the filter and the bias, so the loss and the
gradients of the weights add up over the batch:

``L = Σ_n L⁽ⁿ⁾``, ``∂L/∂K = Σ_n ∂L/∂K⁽ⁿ⁾``, ``∂L/∂B = Σ_n ∂L/∂B⁽ⁿ⁾``;

the step "Sum over the batch" shows each image's contribution and their sum, and
the update (and the training history) works with the sums. With ``steps`` above
1, :func:`cnnstep.derivation.assemble.trained` works every later training step
the same way (in full detail) and the history lists every step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace

from cnnstep.derivation import given, history, update
from cnnstep.derivation.builder import Detail, Index, Plan
from cnnstep.derivation.nodes import (
    Add,
    Block,
    Derivation,
    Equation,
    Expr,
    Image,
    Matrix,
    Omitted,
    Sigma,
    Step,
    Sym,
    Text,
    Whole,
)
from cnnstep.derivation.numeric import NumericBuilder
from cnnstep.engine import Solution
from cnnstep.problem import Array, Layout, Problem
from cnnstep.quantities import BY_KEY, Selection, per_image
from cnnstep.training import Trained

#: the steps worked once for the whole batch, not for each image
ONCE = ("shapes",)
#: the batch's quantities that are sums over its images
SUMMED = ("loss", "grad_filter", "grad_bias")
#: the steps that rest on the sums
SUM_STEPS = frozenset({*SUMMED, "update", "history"})
#: the step that adds up the images' loss and weights' gradients
SUM_STEP = "batch"

Derive = Callable[..., Derivation]


def item(layout: Layout) -> str:
    """What one member of a batch is called: a ``signal`` in 1-D, else an ``image``."""
    return "signal" if layout.one_row else "image"


def image_name(n: int, problem: Problem) -> str:
    """"image 1" ("signal 1" in 1-D): an image numbered from the notation's base."""
    return f"{item(problem.layout)} {n + problem.notation.index_base}"


def marked(step: Step, n: int, layout: Layout) -> Step:
    """An image's step with its contributions marked as that image's: L⁽ⁿ⁾, ∂L/∂K⁽ⁿ⁾
    and ∂L/∂B⁽ⁿ⁾ (the batch's own are their sums); its X, Z and the rest are the
    image's, as the step's title says. An entry it names for ``--only`` takes the
    image's index."""
    return marked_by(step, n, lambda key: key in BY_KEY and per_image(key, layout))


def marked_by(step: Step, n: int, per_member: Callable[[str], bool]) -> Step:
    """:func:`marked`, with ``per_member`` telling the quantities of one member of the
    batch (an image, a signal or a volume) from the batch's."""
    def mark_expr(part: Expr) -> Expr:
        if isinstance(part, Sym | Whole) and part.role in SUMMED:
            return Image(part, n)
        return part

    def mark(part: str | Expr) -> str | Expr:
        return part if isinstance(part, str) else mark_expr(part)

    blocks: list[Block] = []
    for block in step.blocks:
        if isinstance(block, Equation):
            block = replace(block, lhs=mark_expr(block.lhs))
        elif isinstance(block, Matrix):
            block = replace(block, label=tuple(mark(part) for part in block.label))
        elif isinstance(block, Text):
            block = replace(block, parts=tuple(mark(part) for part in block.parts))
        elif isinstance(block, Omitted):
            key, bracket, rest = block.example.partition("[")
            if bracket and per_member(key):
                block = replace(block, example=f"{key}[{n}][{rest}")
        blocks.append(block)
    return replace(step, blocks=tuple(blocks))


def image_selection(selection: Selection, n: int, problem: Problem) -> Selection:
    """What a selection of the batch asks of image ``n``: the whole quantities, its
    own entries (without the image axis), the entries of the weights' gradients."""
    layout = problem.layout
    entries = frozenset(
        (key, index[1:]) if per_image(key, layout) else (key, index)
        for key, index in selection.entries
        if not per_image(key, layout) or index[0] == n)
    return Selection(selection.keys, entries, selection.steps - {SUM_STEP}, selection.context)


def weights_selection(selection: Selection, problem: Problem) -> Selection:
    """What a selection of the batch asks of the sums and the update."""
    layout = problem.layout
    keys = frozenset(key for key in selection.keys if not per_image(key, layout))
    entries = frozenset((key, index) for key, index in selection.entries
                        if not per_image(key, layout))
    return Selection(keys, entries, selection.steps, selection.context)


def proxy(solution: Solution) -> Solution:
    """The batch's weights, sums and update on image 1's solution, for the steps that
    work with the sums (the update and the history read no image)."""
    p = solution.problem
    first = solution.images[0]
    problem = replace(first.problem, learning_rate=p.learning_rate, steps=p.steps,
                      loss_images=1)
    values = {f.name: getattr(first, f.name) for f in fields(Solution)}
    values.update(problem=problem, images=(), loss=solution.loss, loss_sum=solution.loss_sum,
                  grad_filter=solution.grad_filter, grad_bias=solution.grad_bias,
                  updated_filter=solution.updated_filter, updated_bias=solution.updated_bias)
    if isinstance(solution, Trained):
        return Trained(**values, history=solution.history, final_loss=solution.final_loss,
                       iterations=solution.iterations, after=solution.after)
    return Solution(**values)


def given_steps(solution: Solution) -> list[Step]:
    """Each image's givens, titled with the image: its input and target, and the
    shared filter, bias and settings (the learning rate and steps of the batch)."""
    p = solution.problem
    out = []
    for n, image in enumerate(solution.images):
        problem = replace(image.problem, learning_rate=p.learning_rate, steps=p.steps)
        step = given.step(NumericBuilder(replace(image, problem=problem), Plan(0)))
        out.append(replace(step, title=f"{step.title} ({image_name(n, p)})"))
    return out


def given_step(solution: Solution) -> Step:
    """The givens of a batch in one step, as a question sheet opens: each image's,
    introduced by its name."""
    steps = given_steps(solution)
    blocks: list[Block] = []
    for n, step in enumerate(steps):
        blocks += [Text((image_name(n, solution.problem).capitalize() + ":",)), *step.blocks]
    first = steps[0]
    return replace(first, title=first.title.partition(" (")[0], blocks=tuple(blocks))


def question(b: NumericBuilder, problem: Problem, key: str, index: Index) -> Expr:
    """One entry a question of a batch asks for: a quantity of one image is marked
    with its image (X₁₂⁽²⁾), the weights' gradients and the loss are the batch's."""
    from cnnstep.quantities import symbol_role

    role = symbol_role(key, problem.layer)
    if per_image(key, problem.layout):
        return Image(b.sym(role, index[1:]), index[0])
    return b.sym(role, index)


def sum_intro(count: int, name: str) -> Text:
    """Why the batch's loss and weights' gradients are sums over its members."""
    return Text((
        f"The {count} {name}s of the batch pass through the same filter and bias, so the "
        f"loss and the gradients of the weights add up over the batch: each {name}'s "
        "contribution, then their sum.",))


def loss_sum(count: int, parts: tuple[Expr, ...]) -> tuple[Expr, ...]:
    """``L = Σ_n L⁽ⁿ⁾ = L⁽¹⁾ + L⁽²⁾ = …``: the forms of the batch's loss, ``parts`` each
    member's loss in numbers."""
    return (Sigma("n", Image(Sym("loss"), "n")),
            Add(tuple(Image(Sym("loss"), n) for n in range(count))), Add(parts))


def sum_rule(key: str, count: int) -> Text:
    """``∂L/∂K = Σ_n ∂L/∂K⁽ⁿ⁾ = ∂L/∂K⁽¹⁾ + ∂L/∂K⁽²⁾:``, introducing the members' matrices."""
    return Text((Whole(key), " = ", Sigma("n", Image(Whole(key), "n")), " = ",
                 Add(tuple(Image(Whole(key), n) for n in range(count))), ":"))


def entry_sum(symbol: Expr, count: int, numbers: tuple[Expr, ...],
              single: bool) -> tuple[Expr, ...]:
    """The forms of one entry of a summed gradient: its members' symbols added, then
    their numbers; for a single number the rule Σ_n first."""
    forms: tuple[Expr, ...] = (Add(tuple(Image(symbol, n) for n in range(count))),
                               Add(numbers))
    return (Sigma("n", Image(symbol, "n")), *forms) if single else forms


def sum_step(b: NumericBuilder, solution: Solution) -> Step:
    """L, ∂L/∂K and ∂L/∂B of the batch: each image's contribution, then the sum."""
    images = solution.images
    count = len(images)
    name = item(solution.problem.layout)
    blocks: list[Block] = b.explain(sum_intro(count, name))
    if solution.loss is not None and b.plan.shows("loss"):
        parts = [image.loss for image in images]
        forms = loss_sum(count, tuple(b.num(v) for v in parts if v is not None))
        blocks.append(Equation(Sym("loss"), forms if b.plan.detail != "answers" else (),
                               solution.loss, ("loss", ()), approximate=b.approximate("loss")))
    for key, kind, what in (("grad_filter", "filter", "entries of the filter's gradient"),
                            ("grad_bias", "bias", "biases' gradients")):
        total = getattr(solution, key)
        if total is not None and b.plan.shows(key):
            blocks += _summed(b, images, key, kind, total, what)
    return Step(SUM_STEP, "Sum over the batch", tuple(blocks))


def _summed(b: NumericBuilder, images: tuple[Solution, ...], key: str, kind: str,
            total: Array, what: str) -> list[Block]:
    """``∂L/∂K = Σ_n ∂L/∂K⁽ⁿ⁾ = ∂L/∂K⁽¹⁾ + ∂L/∂K⁽²⁾``: the rule, each image's matrix,
    the entries worked out and the sum."""
    count = len(images)
    approximate = b.approximate(key)
    parts = [getattr(image, key) for image in images]
    single = total.size == 1  # one number: its equation says it all, the rule first
    blocks: list[Block] = [] if single else b.explain(sum_rule(key, count))
    for n, part in enumerate(parts):
        if not single:
            blocks += b.explain(_matrices(b, (Image(Whole(key), n),), part, kind, approximate))

    def equation(e: Index) -> Equation:
        forms = entry_sum(b.sym(key, e), count, tuple(b.value(key, part[e]) for part in parts),
                          single)
        return Equation(b.sym(key, e), forms, total[e], (key, e), approximate=approximate)

    blocks += b.work_out(key, equation, what)
    if single and b.plan.detail == "answers" and b.plan.in_full(key):
        blocks.append(Equation(b.sym(key, (0,)), (), total[0], (key, (0,)),
                               approximate=approximate))
    if not single:
        blocks += b.answer(_matrices(b, (Whole(key),), total, kind, approximate))
    return blocks


def _matrices(b: NumericBuilder, label: tuple[str | Expr, ...], values: Array, kind: str,
              approximate: bool) -> list[Block]:
    if kind == "bias":
        return [Matrix(label, values.reshape(1, -1), approximate=approximate)]
    return list(b.matrices(label, values, kind, approximate=approximate))


def derive_batch(solution: Solution, derive: Derive, plan_of: Callable[..., Plan],
                 trim: Callable[[Step, frozenset[str], frozenset[str]], Step], *,
                 max_terms: int, selection: Selection | None, detail: Detail,
                 title: str) -> Derivation:
    """Every image's steps, titled with the image, then the sum over the batch, the
    update and (with ``steps``) the history."""
    p = solution.problem
    images = solution.images
    steps: list[Step] = []
    made: list[Derivation] = []
    givens = given_steps(solution)
    for n, image in enumerate(images):
        only = image_selection(selection, n, p) if selection is not None else ()
        worked = derive(image, max_terms=max_terms, only=only, detail=detail, max_work=0)
        made.append(worked)
        steps += [step if step.key in ONCE else givens[n] if step.key == "given" else
                  replace(marked(step, n, p.layout), title=f"{step.title} ({image_name(n, p)})")
                  for step in worked.steps if n == 0 or step.key not in ONCE]
    weights = proxy(solution)
    chosen = weights_selection(selection, p) if selection is not None else None
    builder = NumericBuilder(weights, plan_of(weights, chosen, max_terms, detail))
    later: list[Step] = []
    if weights.grad_filter is not None or weights.loss is not None:
        # the step asked by its name (--only batch) works out every sum it holds
        summing = (NumericBuilder(weights, plan_of(weights, None, max_terms, detail))
                   if chosen is not None and SUM_STEP in chosen.steps else builder)
        later.append(sum_step(summing, solution))
    if weights.updated_filter is not None:
        later.append(update.step(builder))
    if isinstance(weights, Trained):
        later.append(history.step(builder))
    if chosen is not None:
        full, alone = chosen.full_steps(weights.problem), chosen.entry_steps(weights.problem)
        wanted = (full | alone) & SUM_STEPS or SUM_STEP in chosen.steps
        later = [step if step.key != SUM_STEP else
                 (step if wanted else Step(step.key, step.title, ())) for step in later]
        later = [trim(step, full, alone) if step.key != SUM_STEP else step for step in later]
    steps += later
    first = made[0]
    return replace(first, title=title, steps=tuple(step for step in steps if step.blocks),
                   largest_index=max(d.largest_index for d in made),
                   shortened=any(d.shortened for d in made))


def batch_title(title: str, images: int, layout: Layout) -> str:
    """The derivation's title with its batch: "…, a batch of 2 images" (of signals
    in 1-D)."""
    return titled(title, images, item(layout))


def titled(title: str, count: int, name: str) -> str:
    """"…, a batch of 2 volumes": a title with its batch of ``name``s."""
    return f"{title}, a batch of {count} {name}s"

