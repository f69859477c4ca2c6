"""Marking a 3-D layer's answers, with the rules and the mistakes of a 2-D layer's.

What the layer's ``questions`` ask is marked, for their points (without the key,
every quantity the layer determines, one point each, the last stage once); a
quantity's points are shared equally by its entries; an entry is right by
:func:`cnnstep.check.answers.is_right`. A wrong quantity is diagnosed with the
first mistake of :data:`cnnstep.check.mistakes.PRECEDENCE` that has a 3-D form
(registered here with :func:`~cnnstep.check.mistakes.in_volume`) and whose
numbers it matches, then ``carried_forward``: the step done right from the
student's own wrong answer to the quantity it rests on. The mistakes are the 2-D ones along three
axes: the kernel flipped along all three (true_convolution), not rotated in
dL/dX (kernel_not_rotated), dL/dZ used without its ``s − 1`` zeros between
neighbours along each strided axis (stride_not_dilated), and so on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnstep import volume as engine
from cnnstep import volume_transposed
from cnnstep.check.answers import (
    Answers,
    Given,
    answer_grid,
    as_output,
    entries,
    given_entry,
    given_values,
    is_right,
)
from cnnstep.check.asked import Asked, Question
from cnnstep.check.follow_through import STEPS
from cnnstep.check.marking import (
    CARRIED_FORWARD,
    TITLE,
    Entry,
    Marked,
    Mismatch,
    Scored,
    score,
)
from cnnstep.check.mistakes import MISTAKES, PRECEDENCE, Diagnosis, Value, in_volume
from cnnstep.problem import Array, ProblemError, Volume, VolumeBatch, frozen
from cnnstep.quantities import in_step_order
from cnnstep.volume_questions import last_key, questions

if TYPE_CHECKING:
    from cnnstep.render import Options



def result_name(name: str, volume: Volume) -> str:
    """A registry name as this layer's result key: ``conv`` and ``grad_conv`` are
    ``output`` and ``grad_output`` without an activation."""
    if volume.activation is None and volume.pool is None:
        return {"conv": "output", "grad_conv": "grad_output"}.get(name, name)
    return name


def sources(volume: Volume) -> dict[str, str]:
    """The quantity each later one is computed from, for follow-through (the 2-D
    layer's steps, :data:`cnnstep.check.follow_through.STEPS`)."""
    return {key: result_name(step.source, volume) for key, step in STEPS.items()}


def _dz(right: Mapping[str, Any]) -> Any:
    """dL/dZ, after the activation's derivative where there is one."""
    return right.get("grad_conv", right.get("grad_output"))


def _gradient(volume: Volume, of: str) -> str:
    """∂L/∂Z in the problem's notation."""
    return f"∂{volume.notation.loss}/∂{of}"


def flipped(kernel: Array) -> Array:
    """The kernel rotated by 180° in all three spatial axes: K[f, c, kd−1−a, kh−1−b,
    kw−1−e]."""
    return frozen(engine.flip(kernel))


# --------------------------------------------------------------------------
# the mistakes, in 3-D


def _true_convolution_message(volume: Volume, key: str) -> str:
    if volume.flipped:
        return ("The forward pass used the kernel as it is (a cross-correlation); mode "
                '"convolution" is a true convolution, which flips the kernel along all three '
                "axes")
    return ("The forward pass flipped the kernel along all three axes (a true convolution); "
            "a CNN layer computes the cross-correlation, with the kernel as it is")


@in_volume("true_convolution", _true_convolution_message)
def _true_convolution(volume: Volume, right: Mapping[str, Any], key: str) -> Value | None:
    if volume.transposed:  # its forward pass rotates the kernel by design
        return None
    return engine.forward(replace(volume, filter=flipped(volume.filter)))


@in_volume("bias_omitted", "The bias was left out of the forward pass")
def _bias_omitted(volume: Volume, right: Mapping[str, Any], key: str) -> Value | None:
    return None if volume.bias is None else engine.forward(replace(volume, bias=None))


@in_volume("mse_not_averaged", "The squared errors were summed instead of averaged over the "
                               "output entries")
def _mse_not_averaged(volume: Volume, right: Mapping[str, Any], key: str) -> Value | None:
    if volume.target is None or volume.loss != "mse":
        return None
    summed = replace(volume, loss="sse")
    z = right["output"]
    return engine.loss_value(summed, z) if key == "loss" else engine.loss_gradient(summed, z)


@in_volume("missing_factor_two",
           lambda volume, key: f"{_gradient(volume, volume.notation.output)} is missing the "
                               "factor 2 that comes from differentiating the square")
def _missing_factor_two(volume: Volume, right: Mapping[str, Any], key: str) -> Value | None:
    if volume.target is None or volume.loss == "half_sse":
        return None
    half: Array = right["grad_output"] / 2
    return half


def _wrong_sign_message(volume: Volume, key: str) -> str:
    n = volume.notation
    if key.startswith("updated"):
        weight = n.bias if key == "updated_bias" else n.filter
        return f"The update added α·{_gradient(volume, weight)} instead of subtracting it"
    return (f"{_gradient(volume, n.output)} was taken from ({n.target} − {n.output}) "
            f"instead of ({n.output} − {n.target})")


@in_volume("wrong_sign", _wrong_sign_message)
def _wrong_sign(volume: Volume, right: Mapping[str, Any], key: str) -> Value | None:
    if key == "grad_output":
        negated: Array = -right["grad_output"]
        return None if volume.target is None else negated
    weights = volume.bias if key == "updated_bias" else volume.filter
    grad = right.get("grad_bias" if key == "updated_bias" else "grad_filter")
    if volume.learning_rate is None or weights is None or grad is None:
        return None
    added: Array = weights + grad * volume.learning_rate
    return added


def _kernel_not_rotated_message(volume: Volume, key: str) -> str:
    if key != "grad_input":  # a transposed layer's forward pass
        return ("The forward pass slid the kernel over the expanded input as it is; a "
                "transposed convolution worked as an ordinary one slides the kernel rotated "
                f"by 180° along all three axes (each input entry scatters "
                f"{volume.notation.filter} itself, not its flip)")
    of = _gradient(volume, volume.notation.input)
    if volume.flipped:
        return (f"{of} was computed with the kernel rotated by 180° along all three axes, as "
                "for a cross-correlation; a true convolution's forward pass already flips the "
                "kernel, so the full correlation uses the kernel as it is")
    return (f"{of} was computed with the kernel as it is; the full convolution needs the "
            "kernel rotated by 180° along all three axes")


@in_volume("kernel_not_rotated", _kernel_not_rotated_message)
def _kernel_not_rotated(volume: Volume, right: Mapping[str, Any], key: str) -> Value | None:
    """The full convolution of K itself: the right dL/dX of the flipped kernel. In a
    transposed layer, its forward pass correlating the expanded input with K as it is
    (the scatter of the flipped kernel); its dL/dX uses K as it is."""
    if key != "grad_input":
        return (engine.forward(replace(volume, filter=flipped(volume.filter)))
                if volume.transposed else None)
    grad = _dz(right)
    if grad is None or volume.transposed:
        return None
    return engine.input_gradient(replace(volume, filter=flipped(volume.filter)), grad)


def _stride_message(volume: Volume, key: str) -> str:
    zeros = " and ".join(f"{s - 1} zero{'s' * (s != 2)} between its {axis}"
                         for s, axis in zip(volume.stride, ("depth slices", "rows", "columns"),
                                            strict=True) if s > 1)
    if key != "grad_filter" and key != "grad_input":  # a transposed layer's forward pass
        return (f"With a stride above 1, a transposed convolution first spreads "
                f"{volume.notation.input} apart by inserting {zeros}; the forward pass used "
                "it as it is")
    return (f"With a stride above 1, {_gradient(volume, volume.notation.output)} must first be "
            f"spread apart by inserting {zeros}; it was used as it is")


@in_volume("stride_not_dilated", _stride_message)
def _stride_not_dilated(volume: Volume, right: Mapping[str, Any], key: str) -> Value | None:
    """The stride-1 formulas on the un-spread dL/dZ: the taps of each kernel entry read
    (or send to) adjacent entries. In a transposed layer's forward pass, the input
    expanded without zeros between its entries, placed at the front, top and left of
    the output, cut or zero-filled."""
    if volume.stride == (1, 1, 1):
        return None
    if key != "grad_filter" and key != "grad_input":
        return volume_transposed.unspread(volume) if volume.transposed else None
    grad = _dz(right)
    if grad is None or volume.transposed:
        return None
    if key == "grad_filter":
        return engine.kernel_gradient(volume, grad, spread=False)
    return engine.input_gradient(volume, grad, spread=False)


@in_volume("bias_averaged",
           lambda volume, key: f"{_gradient(volume, volume.notation.bias)} is the sum of "
                               f"{_gradient(volume, volume.notation.output)} over the output "
                               "positions, not their mean")
def _bias_averaged(volume: Volume, right: Mapping[str, Any], key: str) -> Value | None:
    grad = _dz(right)
    if grad is None:
        return None
    averaged: Array = engine.bias_gradient(grad) / int(np.prod(grad.shape[1:]))
    return averaged


@in_volume("transposed", "The matrix is right but transposed (rows and columns swapped)")
def _transposed(volume: Volume, right: Mapping[str, Any], key: str) -> Value | None:
    true = right[key]
    if isinstance(true, np.ndarray) and true.ndim >= 2 and true.shape[-1] == true.shape[-2] > 1:
        swapped: Array = np.swapaxes(true, -1, -2)
        return swapped
    return None


# --------------------------------------------------------------------------
# follow-through


def follow(volume: Volume, key: str, earlier: Array) -> Value | None:
    """``key`` worked out right from ``earlier``, the student's own value of its source."""
    rate = volume.learning_rate
    if key in ("loss", "grad_output"):
        if volume.target is None:
            return None
        return (engine.loss_value(volume, earlier) if key == "loss"
                else engine.loss_gradient(volume, earlier))
    if key == "grad_filter":
        return engine.kernel_gradient(volume, earlier)
    if key == "grad_bias":
        return engine.bias_gradient(earlier)
    if key == "grad_input":
        return engine.input_gradient(volume, earlier)
    weights = volume.filter if key == "updated_filter" else volume.bias
    if rate is None or weights is None:
        return None
    updated: Array = weights - earlier * rate
    return updated


# --------------------------------------------------------------------------
# marking


@dataclass(frozen=True)
class VolumeReport:
    """A 3-D layer's answers, marked: each asked quantity (:class:`Marked`) in the
    order of the steps, and each question (:class:`Scored`) with its points.

    :func:`cnnstep.check` makes one for a layer with ``"dimensions": 3``; it shows
    itself as text or JSON, as ``cnnstep check`` prints it. The examples mark
    answers to a 1×2×2 volume under a 1×1×1 kernel with a bias and a target.

    >>> layer = {"dimensions": 3, "input": [[[1, 2], [3, 4]]], "filter": [[[2]]], "bias": 1,
    ...          "target": [[[3, 5], [7, 8]]], "questions": {"output": 2, "loss": 1}}
    >>> report = cnnstep.check(layer, {"output": [[[3, 5], [7, 8]]], "loss": "1/4"})
    >>> report.correct, report.right, report.total, report.points, report.max_points
    (False, 4, 5, Fraction(5, 2), Fraction(3, 1))
    """

    volume: Volume
    quantities: tuple[Marked, ...]
    answers: Answers = field(repr=False, default_factory=dict)
    follow_through: Fraction = Fraction(1)
    #: the questions, in the order they are asked
    questions: tuple[Scored, ...] = ()
    #: the batch of volumes marked, None for one volume (``volume``)
    batch: VolumeBatch | None = field(repr=False, default=None)

    @property
    def layer(self) -> Volume | VolumeBatch:
        """What was marked: the one volume, or the batch of volumes.

        >>> cnnstep.check(cnnstep.sample("conv3d-batch"), {"loss": 0}).layer.count
        2
        """
        return self.batch if self.batch is not None else self.volume

    @property
    def correct(self) -> bool:
        """Every asked entry answered, and right.

        >>> layer = {"dimensions": 3, "input": [[[1, 2], [3, 4]]], "filter": [[[2]]], "bias": 1,
        ...          "target": [[[3, 5], [7, 8]]]}
        >>> cnnstep.check(dict(layer, questions=["loss"]), {"loss": 0.25}).correct
        True
        """
        return all(q.correct for q in self.quantities)

    @property
    def right(self) -> int:
        """How many asked entries are right.

        >>> layer = {"dimensions": 3, "input": [[[1, 2], [3, 4]]], "filter": [[[2]]], "bias": 1,
        ...          "target": [[[3, 5], [7, 8]]]}
        >>> cnnstep.check(layer, {"output": [[[3, 5], [7, 8]]]}).right
        3
        """
        return sum(q.right for q in self.quantities)

    @property
    def answered(self) -> int:
        """How many asked entries were answered (``null`` is not an answer).

        >>> layer = {"dimensions": 3, "input": [[[1, 2], [3, 4]]], "filter": [[[2]]], "bias": 1,
        ...          "target": [[[3, 5], [7, 8]]]}
        >>> cnnstep.check(layer, {"output": [[[3, None], [7, 8]]]}).answered
        3
        """
        return sum(q.answered for q in self.quantities)

    @property
    def total(self) -> int:
        """How many entries were asked, answered or not.

        >>> layer = {"dimensions": 3, "input": [[[1, 2], [3, 4]]], "filter": [[[2]]], "bias": 1,
        ...          "target": [[[3, 5], [7, 8]]]}
        >>> cnnstep.check(layer, {}).total
        15
        """
        return sum(q.total for q in self.quantities)

    @property
    def points(self) -> Fraction:
        """The points scored, exactly.

        >>> layer = {"dimensions": 3, "input": [[[1, 2], [3, 4]]], "filter": [[[2]]], "bias": 1,
        ...          "target": [[[3, 5], [7, 8]]]}
        >>> cnnstep.check(layer, {"output": [[[3, 5], [7, 8]]], "loss": 0.25}).points
        Fraction(7, 4)
        """
        return sum((q.points for q in self.questions), Fraction(0))

    @property
    def max_points(self) -> Fraction:
        """The points of everything asked.

        >>> layer = {"dimensions": 3, "input": [[[1, 2], [3, 4]]], "filter": [[[2]]], "bias": 1,
        ...          "target": [[[3, 5], [7, 8]]]}
        >>> cnnstep.check(layer, {}).max_points
        Fraction(6, 1)
        """
        return sum((q.max_points for q in self.questions), Fraction(0))

    @property
    def blank(self) -> bool:
        """Nothing asked is answered.

        >>> layer = {"dimensions": 3, "input": [[[1, 2], [3, 4]]], "filter": [[[2]]], "bias": 1,
        ...          "target": [[[3, 5], [7, 8]]]}
        >>> cnnstep.check(layer, {}).blank
        True
        """
        return self.answered == 0

    def marked(self, key: str) -> Marked | None:
        """The marked quantity of a result key, None when it was not asked.

        >>> layer = {"dimensions": 3, "input": [[[1, 2], [3, 4]]], "filter": [[[2]]], "bias": 1,
        ...          "target": [[[3, 5], [7, 8]]]}
        >>> cnnstep.check(layer, {"loss": 0.25}).marked("loss").right
        1
        """
        return next((q for q in self.quantities if q.key == key), None)

    def wrong_entries(self, limit: int = 12) -> list[str]:
        """The wrong entries as ``--only`` takes them (``grad_input[1][0][2]``, in the
        shape given), the first ``limit``.

        >>> layer = {"dimensions": 3, "input": [[[1, 2], [3, 4]]], "filter": [[[2]]], "bias": 1,
        ...          "target": [[[3, 5], [7, 8]]], "questions": ["loss", "grad_input[0][1][1]"]}
        >>> cnnstep.check(layer, {"loss": 3, "grad_input": [[[0, 0], [0, 2]]]}).wrong_entries()
        ['loss', 'grad_input[0][1][1]']
        """
        return [engine.entry_text(q.key, miss.full_index, self.volume)
                for q in self.quantities for miss in q.mismatches][:limit]

    def render(self, format: str = "text", options: Options | None = None, *,
               title: str = TITLE) -> str:
        """The report as ``cnnstep check`` prints it: ``text`` (the table, the score and
        each wrong quantity's slices) or ``json``; ``markdown``, ``latex``, ``html`` and
        ``gradescope`` (its ``results.json``) with the working of the wrong entries, as
        a 2-D report (:mod:`cnnstep.render.volume_marked`).

        >>> layer = {"dimensions": 3, "input": [[[1, 2], [3, 4]]], "filter": [[[2]]], "bias": 1,
        ...          "target": [[[3, 5], [7, 8]]]}
        >>> report = cnnstep.check(layer, {"loss": 0.25})
        >>> report.render("json") == report.to_json()
        True
        >>> report.render("html").startswith("<!DOCTYPE html>")
        True
        >>> report.render("csv")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        cnnstep.problem.ProblemError: --format csv: a 3-D layer's answers are marked as ...
        """
        from cnnstep.render import Options, volume_marked, volume_report

        if format == "json":
            return volume_report.json(self)
        if format == "text":
            return volume_report.text(self, title, options.width if options else None)
        return volume_marked.render(self, self.layer, title, format, options or Options())

    def to_text(self, *, width: int | None = None, title: str = TITLE) -> str:
        """The report as plain text, ``width`` columns wide (80 unless told).

        >>> layer = {"dimensions": 3, "input": [[[1, 2], [3, 4]]], "filter": [[[2]]], "bias": 1,
        ...          "target": [[[3, 5], [7, 8]]], "questions": {"loss": 2, "grad_bias": 1}}
        >>> print(cnnstep.check(layer, {"loss": 0.25, "grad_bias": 1}).to_text())
        ... # doctest: +NORMALIZE_WHITESPACE
        Marking
        ┌───────────┬────────┬──────┬───────┬────────┬───────────┐
        │ quantity  │ symbol │ mark │ right │ points │ diagnosis │
        ├───────────┼────────┼──────┼───────┼────────┼───────────┤
        │ loss      │ L      │ ✓    │ 1/1   │ 2 of 2 │           │
        │ grad_bias │ ∂L/∂B  │ ✗    │ 0/1   │ 0 of 1 │           │
        └───────────┴────────┴──────┴───────┴────────┴───────────┘
        Score: 2 of 3 points (1 of 2 entries right)
        <BLANKLINE>
        grad_bias: 1 wrong entry of ∂L/∂B
        <BLANKLINE>
          ✗ 1 (expected 0.5)
        <BLANKLINE>
        """
        from cnnstep.render import Options

        return self.render("text", Options(width=width), title=title)

    def to_json(self) -> str:
        """The report object as JSON, as ``cnnstep check --format json`` writes it.

        >>> layer = {"dimensions": 3, "input": [[[1, 2], [3, 4]]], "filter": [[[2]]], "bias": 1,
        ...          "target": [[[3, 5], [7, 8]]]}
        >>> print(cnnstep.check(layer, {"loss": "1/4"}).to_json())  # doctest: +ELLIPSIS
        {"correct": false, "score": {"right": 1, "answered": 1, "total": 15, ...}
        <BLANKLINE>
        """
        return self.render("json")

    def to_markdown(self, *, title: str = TITLE) -> str:
        """The report as Markdown, with the working of the wrong entries, as
        ``cnnstep check --format markdown`` writes it.

        >>> layer = {"dimensions": 3, "input": [[[1]]], "filter": [[[2]]], "target": [[[1]]]}
        >>> print(cnnstep.check(dict(layer, questions=["loss"]), {"loss": 1}).to_markdown())
        ... # doctest: +ELLIPSIS
        # Marking
        <BLANKLINE>
        | quantity | symbol | mark | right | points | diagnosis |
        |---|---|---|---|---|---|
        | loss | $L$ | ✓ | 1/1 | 1 of 1 |  |
        <BLANKLINE>
        **Score: 1 of 1 points (1 of 1 entry right)**
        <BLANKLINE>
        """
        return self.render("markdown", title=title)

    def to_latex(self, *, title: str = TITLE) -> str:
        """The report as LaTeX, with the working of the wrong entries, as
        ``cnnstep check --format latex`` writes it.

        >>> layer = {"dimensions": 3, "input": [[[1]]], "filter": [[[2]]], "target": [[[1]]]}
        >>> "section*{Marking}" in cnnstep.check(layer, {"loss": 1}).to_latex()
        True
        """
        return self.render("latex", title=title)

    def _repr_markdown_(self) -> str:
        """How Jupyter shows a 3-D layer's report: its text in a code block (a 2-D
        layer's report shows itself as Markdown)."""
        return f"```text\n{self.to_text()}```\n"

    def __repr__(self) -> str:
        from cnnstep.numbers import display

        return (f"<cnnstep.VolumeReport: {display(self.points)} of "
                f"{display(self.max_points)} points, {self.right} of {self.total} entries "
                "right>")



def user_shaped(volume: Volume, right: Mapping[str, Any]) -> dict[str, Array]:
    """Each quantity in the shape the student answers it in (a number: a 0-D array)."""
    out: dict[str, Array] = {}
    for key in right:
        value = engine.shaped(key, right[key], volume)
        array = np.empty((), dtype=object) if isinstance(value, Fraction) else None
        if array is not None:
            array[()] = value
        else:
            array = np.array(value, dtype=object)
        out[key] = array
    return out


def read_volume_answers(data: Any, volume: Volume, shaped: Mapping[str, Array],
                        where: str = "") -> Answers:
    """Check an answers object against a 3-D layer: its result keys, in their shapes."""
    prefix = f"{where}: " if where else ""
    if not isinstance(data, Mapping):
        raise ProblemError(f"{prefix}expected a JSON object of answers")
    answers: Answers = {}
    for key, value in data.items():
        if key not in shaped:
            raise ProblemError(f"{prefix}{key}: not a quantity of this 3-D layer's result; "
                               f"it has {', '.join(shaped)}")
        if value is None:
            continue
        if shaped[key].ndim == 0:
            grid = np.empty((), dtype=object)
            grid[()] = given_entry(value, f"{prefix}{key}")
        else:
            grid = answer_grid(value, f"{prefix}{key}", shaped[key].shape)
        answers[key] = grid
    return as_output(answers, prefix, last_key(volume))


def mark_volume(volume: Volume, data: Any, tolerance: Fraction | None = None, *,
                follow_through: Fraction = Fraction(1), where: str = "",
                asked: Iterable[Asked] | None = None) -> VolumeReport:
    """Mark the answers object ``data`` to a 3-D layer out of everything ``asked``
    (None: the layer's ``questions``, else every quantity, one point each).

    Every answered quantity is checked, asked or not, in the order of the steps, so
    that a later one worked out from a wrong earlier one is recognised; the report
    holds the asked quantities alone."""
    if not 0 <= follow_through <= 1:
        raise ProblemError("the follow-through fraction must be from 0 to 1")
    wanted = questions(volume, asked)
    right = engine.result_arrays(volume)
    if volume.steps > 1:  # the loss after training; the history itself is not marked
        right["final_loss"] = engine.training(volume)[1]
    shaped = user_shaped(volume, right)
    answers = read_volume_answers(data, volume, shaped, where)
    weights = weights_of(wanted, shaped)
    wrong: set[str] = set()
    diagnoses: dict[str, Diagnosis | None] = {}
    for key in in_step_order(answers):
        if any(not is_right(given, shaped[key][index], tolerance)
               for index, given in entries(answers[key])):
            wrong.add(key)
            diagnoses[key] = diagnose(volume, right, key, answers, wrong, tolerance)
    marked = [mark_quantity(key, shaped[key], right[key], answers.get(key), diagnoses.get(key),
                    tolerance, follow_through, weights[key])
              for key in in_step_order(weights)]
    scored = tuple(score(question, marked) for question in wanted)
    return VolumeReport(volume, tuple(marked), answers, follow_through, scored)


def weights_of(asked: tuple[Question, ...], shaped: Mapping[str, Array]
             ) -> dict[str, tuple[Array, Array]]:
    """Asked key → (the points each entry carries, which entries are asked), in the
    shape given: a whole quantity shares its points equally among its entries."""
    out: dict[str, tuple[Array, Array]] = {}
    for question in asked:
        if question.key not in out:
            weights = np.empty(shaped[question.key].shape, dtype=object)
            weights.fill(Fraction(0))
            out[question.key] = (weights, np.zeros(weights.shape, dtype=bool))
        weights, mask = out[question.key]
        if question.entry is None:
            share = question.points / max(1, weights.size)
            for index in np.ndindex(*weights.shape):
                weights[index] += share
            mask[...] = True
        else:
            weights[question.entry] += question.points
            mask[question.entry] = True
    return out


def diagnose(volume: Volume, right: Mapping[str, Any], key: str, answers: Answers,
             wrong: set[str], tolerance: Fraction | None) -> Diagnosis | None:
    """The first mistake in :data:`PRECEDENCE` with a 3-D form that the answers to
    ``key`` match, else carried_forward, else None."""
    grid = answers[key]
    for code in PRECEDENCE:
        found = MISTAKES[code]
        names = {result_name(name, volume) for name in found.keys}
        if key not in names:
            continue
        if code == CARRIED_FORWARD:
            values = _carried(volume, right, key, answers, wrong)
        elif found.in_volume is not None:
            values = found.in_volume.recompute(volume, right, key)
        else:
            continue
        if values is not None and matches(grid, values, tolerance):
            step = found.step_of(key)
            message = (carried_message(sources(volume)[key]) if found.in_volume is None
                       else found.in_volume.message(volume, key))
            return Diagnosis(code, message + (f" (step: {step})." if step else "."))
    return None


def _carried(volume: Volume, right: Mapping[str, Any], key: str, answers: Answers,
             wrong: set[str]) -> Value | None:
    earlier = sources(volume).get(key)
    if earlier is None or earlier not in wrong:
        return None
    values = given_values(answers[earlier])
    if values is None:
        return None
    return follow(volume, key, frozen(values.reshape(np.shape(right[earlier]))))


def carried_message(earlier: str) -> str:
    return (f"Right for your own {earlier}: this step was done correctly from the wrong "
            f"{earlier} above, so it deserves method marks")


def matches(grid: Array, values: Value, tolerance: Fraction | None) -> bool:
    """Whether every answered entry is right for ``values`` (any layout of the same
    entries: the student's shape drops the leading axes of length 1)."""
    if isinstance(values, Fraction):
        return all(is_right(given, values, tolerance) for _, given in entries(grid))
    if values.size != grid.size:
        return False
    reshaped = values.reshape(grid.shape)
    return all(is_right(given, reshaped[index], tolerance) for index, given in entries(grid))


def mark_quantity(key: str, true: Array, full: Any, grid: Array | None, diagnosis: Diagnosis | None,
          tolerance: Fraction | None, follow_through: Fraction,
          weighted: tuple[Array, Array]) -> Marked:
    """One quantity's asked entries, each worth its share of the points."""
    weights, mask = weighted
    carried = diagnosis is not None and diagnosis.code == CARRIED_FORWARD
    full_shape = np.shape(full)
    marked: list[Entry] = []
    mismatches: list[Mismatch] = []
    for index in np.ndindex(*true.shape):
        if not mask[index]:
            continue
        share: Fraction = weights.item(index) if index else weights.item()
        expected: Fraction = true.item(index) if index else true.item()
        given: Given | None = (None if grid is None
                               else grid.item(index) if index else grid.item())
        ok = given is not None and is_right(given, expected, tolerance)
        points = share if ok else Fraction(0)
        if given is not None and not ok:
            position = int(np.ravel_multi_index(index, true.shape)) if index else 0
            full_index = tuple(int(i) for i in np.unravel_index(position, full_shape))
            mismatches.append(Mismatch(index, full_index, expected, given))
            points = share * follow_through if carried else Fraction(0)
        marked.append(Entry(index, expected, given, ok, points, share))
    return Marked(key, sum(e.right for e in marked), sum(e.given is not None for e in marked),
                  len(marked), tuple(mismatches), diagnosis if mismatches else None,
                  sum((e.points for e in marked), Fraction(0)),
                  sum((e.max_points for e in marked), Fraction(0)), tuple(marked))

