"""The question sheet and the exam question of a 3-D layer, as
:mod:`cnnstep.derivation.questions` makes a 2-D layer's: the givens (every volume
as its depth slices) and the numbered questions with their points, no answer; or
each asked quantity or entry a part with its points and the working that answers
it."""

from __future__ import annotations

from dataclasses import replace

from cnnstep.derivation.nodes import Derivation, ExamQuestion, Expr, Part, Step, Sym, Text, Whole
from cnnstep.derivation.questions import points
from cnnstep.derivation.volume import VolumeWriter, derivation, writer_of
from cnnstep.derivation.volume_shaping import shaped, step_of
from cnnstep.numbers import terminates
from cnnstep.problem import ProblemError, Volume
from cnnstep.volume_questions import asked, parse_entry, present, role, total


def question(text: str, layer: Volume) -> Expr:
    """The symbol a question asks for: the whole quantity (∂L/∂K), or one entry
    (∂L/∂X₂₁₃), written as the derivation writes it."""
    word = text.strip()
    available = present(layer)
    if word in available:
        return Whole(role(word, layer))
    key, index = parse_entry(word, layer, available)
    return Sym(role(key, layer), index)


def _page(writer: VolumeWriter, title: str, steps: tuple[Step, ...]) -> Derivation:
    """A derivation of the layer's own steps, without working."""
    layer = writer.v
    largest = max(*layer.input.shape, *layer.filter.shape, *layer.output_size)
    return Derivation(title=title, notation=layer.notation, compact=writer.compact,
                      steps=steps, largest_index=largest - 1 + layer.notation.index_base,
                      one_channel=writer.channels == 1, one_filter=writer.filters == 1,
                      spatial=3)


def sheet(layer: Volume) -> Derivation:
    """The question sheet of a 3-D layer: its givens and the numbered questions."""
    writer = writer_of(layer)
    lines = tuple(
        Text((f"{number}. ({points(value)}) Find ", question(text, layer), "."))
        for number, (text, value) in enumerate(asked(layer), start=1))
    return _page(writer, "Exercise", (
        writer.given(),
        Step("questions", f"Questions ({points(total(layer))})", lines, numbered=False)))


def _own_step(text: str, layer: Volume) -> str:
    """The step that works out what a question asks."""
    word = text.strip()
    key = word if word in present(layer) else parse_entry(word, layer, present(layer))[0]
    return step_of(key, layer)


def exam_question(layer: Volume, name: str, max_terms: int) -> ExamQuestion:
    """The layer as an exam question: its givens, and each asked quantity or entry a
    part with its points and its working, as for a 2-D layer
    (:func:`cnnstep.derivation.questions.exam_question`): what the key of that
    question alone shows, less the steps an earlier part showed, the step of the
    part's own quantity always; the steps numbered on from part to part."""
    writer = writer_of(layer)
    made = derivation(layer)
    shown = {"given"}
    parts = []
    first = 1
    for text, value in asked(layer):
        if not terminates(value):
            raise ProblemError(f"questions: {text}: {points(value)} has no finite decimal, "
                               "which the exam class cannot add up; give decimal points")
        whole = shaped(made, layer, only=[text], max_terms=max_terms, context=True)
        own = _own_step(text, layer)
        steps = tuple(step for step in whole.steps
                      if step.key != "given" and (step.key not in shown or step.key == own))
        shown.update(step.key for step in steps)
        parts.append(Part(question(text, layer), value,
                          replace(whole, steps=steps, first_step=first)))
        first += sum(step.numbered for step in steps)
    return ExamQuestion(name=name, points=total(layer),
                        givens=_page(writer, "Given", (writer.given(),)),
                        parts=tuple(parts))
