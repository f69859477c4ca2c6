"""The Python interface: :func:`solve`, :func:`check` and what they return.

``import cnnstep`` gives these as ``cnnstep.solve`` and ``cnnstep.check``. The
examples use a 2×2 input, a 1×1 filter and a target.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sized
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from cnnstep.engine import Solution
from cnnstep.numbers import printing
from cnnstep.problem import (
    VOLUME_ONLY,
    Layer,
    Problem,
    ProblemError,
    Volume,
    VolumeBatch,
    is_symbolic,
    is_volume,
    load,
    parse_json,
    problem_from_data,
    problem_or_layer,
    read_text,
    to_number,
    volumes_from_data,
    where,
)
from cnnstep.render import NO_HINTS, TEXT_WIDTH, Hints, Options, renderer
from cnnstep.result import result, scaled_result
from cnnstep.training import train

if TYPE_CHECKING:  # the derivation is built only when asked for
    from cnnstep.check import Report
    from cnnstep.check.volume import VolumeReport
    from cnnstep.derivation import Derivation, Step
    from cnnstep.derivation.builder import Detail
    from cnnstep.symbolic_volume import VolumeShapes

#: wrong entries of a marked hand calculation worked out in full, at the most
WORKED_LIMIT = 12

#: a problem: a path, JSON text, a mapping like the JSON object, or one already read
ProblemSource: TypeAlias = "str | Path | Mapping[str, Any] | Problem | Layer | Volume"
#: an answers object: a path, JSON text or a mapping like the JSON object
AnswersSource: TypeAlias = "str | Path | Mapping[str, Any]"
#: a tolerance for :func:`check`: an exact number, or text such as ``"0.05"``
Tolerance: TypeAlias = "Fraction | Decimal | int | float | str"


class _Shown:
    """Rendering shared by a solved layer and a layer's formulas.

    In Jupyter either shows itself as HTML with MathML (``_repr_html_``):
    Jupyter shows the richest of the forms an object offers, and it ranks HTML
    above Markdown, which is what is wanted here, because the page needs no
    MathJax and shows each window in its input and the padding apart from the
    data. The notebook still keeps the Markdown (``_repr_markdown_``) and the
    LaTeX body (``_repr_latex_``) beside it, for viewers that show no HTML and
    for converting the notebook to LaTeX.
    """

    #: the work limit of :mod:`cnnstep.budget` (None: its default, 0: none)
    max_work: int | None = None
    #: the derivations found within the work limit: format, term limit, work limit and
    #: the number of entries selected
    _within: frozenset[tuple[str, int | None, int | None, int]] = frozenset()

    def derivation(self, *, max_terms: int | None = None, only: Iterable[str] = (),
                   detail: Detail = "full") -> Derivation:
        """The worked solution as data, which the printers lay out (see the subclasses)."""
        raise NotImplementedError

    def _subject(self) -> Problem | Layer:
        """What the work of a derivation is estimated from."""
        raise NotImplementedError

    def _printed_result(self) -> dict[str, Any]:
        """The result object as a result-only format prints it."""
        return self.result

    def approximate_keys(self) -> frozenset[str]:
        """Result keys whose values are float approximations (sigmoid, tanh).

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> sorted(cnnstep.solve({**problem, "activation": "sigmoid"}).approximate_keys())
        ['activated', 'grad_conv', 'grad_filter', 'grad_input', 'grad_output', 'loss', 'output']
        >>> cnnstep.solve(problem).approximate_keys()
        frozenset()
        """
        return frozenset()

    @property
    def result(self) -> dict[str, Any]:
        """The result object, as ``--format json`` writes it but with exact values."""
        raise NotImplementedError

    def render(self, format: str = "text", options: Options | None = None, *,
               max_terms: int | None = None, only: Iterable[str] = (),
               detail: Detail = "full") -> str:
        """This layer in one of :data:`cnnstep.render.FORMATS`: its worked
        derivation, or (in JSON) its result object. The ``to_…`` methods are
        the same with the options spelled out.

        ``only`` selects what to work out (a quantity, an entry or a step);
        ``detail`` is ``full`` (every entry), ``brief`` (each step's rule, one
        entry worked, the results) or ``answers`` (the givens and the results).

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> cnnstep.solve(problem).render("json") == cnnstep.solve(problem).to_json()
        True
        """
        with printing():
            return self._render(format, options, max_terms=max_terms, only=only,
                                detail=detail)

    def _render(self, format: str, options: Options | None, *, max_terms: int | None,
                only: Iterable[str], detail: Detail) -> str:
        printer = renderer(format)
        if not printer.worked:
            return printer.result(self._printed_result(), self.approximate_keys())
        return printer.derivation(self.checked_derivation(format, max_terms=max_terms, only=only,
                                                          detail=detail), options or Options())

    def stream(self, format: str = "text", options: Options | None = None, *,
               max_terms: int | None = None, only: Iterable[str] = (),
               detail: Detail = "full") -> Iterator[str]:
        """:meth:`render` in pieces, to be written one after another as they come:
        the derivation is built a step at a time, and a format that can (LaTeX)
        lays each step out before the next is built, so that the whole text is
        never held at once. A selection that names nothing, or more work than
        the limit allows, is refused here, before any piece is made.

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> worked = cnnstep.solve(problem)
        >>> "".join(worked.stream("latex")) == worked.render("latex")
        True
        """
        printer = renderer(format)
        if not printer.worked:
            return iter((self.render(format, options),))
        with printing():
            head, steps = self.lazy_derivation(format, max_terms=max_terms, only=only,
                                               detail=detail)
        return _printed(printer.stream(head, steps, options or Options()))

    def lazy_derivation(self, format: str, *, max_terms: int | None = None,
                        only: Iterable[str] = (), detail: Detail = "full",
                        ) -> tuple[Derivation, Iterator[Step]]:
        """:meth:`checked_derivation` as its head (no steps) and its steps, built
        as they are asked for where the derivation allows.

        >>> formulas = cnnstep.solve({"input": {"shape": [3, 3]}, "filter": {"shape": [2, 2]}})
        >>> head, steps = formulas.lazy_derivation("latex")
        >>> head.steps, next(steps).title
        ((), 'Output size')
        """
        from dataclasses import replace

        whole = self.checked_derivation(format, max_terms=max_terms, only=only, detail=detail)
        return replace(whole, steps=()), iter(whole.steps)

    def checked_derivation(self, format: str, *, max_terms: int | None = None,
                           only: Iterable[str] = (), detail: Detail = "full") -> Derivation:
        """:meth:`derivation`, once the work of writing it out in ``format`` has been
        estimated and found within the work limit (a
        :class:`~cnnstep.budget.WorkLimitError` if not).

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]]}
        >>> [step.key for step in cnnstep.solve(problem).checked_derivation("text").steps]
        ['given', 'shapes', 'forward']
        """
        self.check_work(format, max_terms=max_terms, only=only)
        return self.derivation(max_terms=max_terms, only=only, detail=detail)

    def check_work(self, format: str, *, max_terms: int | None = None,
                   only: Iterable[str] = ()) -> None:
        """Estimate the work of the derivation written out in ``format``, before it is
        built; a :class:`~cnnstep.budget.WorkLimitError` over the work limit.

        >>> worked = cnnstep.solve({"input": [[1, 2], [3, 4]], "filter": [[0.5]]})
        >>> worked.check_work("latex")  # well within the limit: nothing to say
        """
        from cnnstep import budget

        written = format if format in ("text", "latex", "markdown") else "markdown"
        # the estimate counts the entries selected, not which ones: the derivations of a
        # quantity's entries one by one (an export's feedback) are estimated once
        key = (written, max_terms, self.max_work, len(only)) if isinstance(only, Sized) else None
        if key in self._within:
            return
        budget.check_derivation(
            self._subject(), max_terms, self.max_work, symbolic=getattr(self, "symbolic", True),
            only=only, solved=True, format=written)  # type: ignore[arg-type]
        if key is not None:
            self._within = self._within | {key}

    def to_json(self) -> str:
        """The result object as JSON text, as ``--format json`` writes it: exact
        decimals where they are finite, 17 significant digits otherwise.

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> print(cnnstep.solve(problem).to_json())
        {
          "output": [[0.5, 1], [1.5, 2]],
          "loss": 0.125,
          "grad_output": [[0.25, 0], [0.25, 0]],
          "grad_filter": [[1]],
          "grad_input": [[0.125, 0], [0.125, 0]]
        }
        <BLANKLINE>
        """
        return self.render("json")

    def to_text(self, *, width: int = TEXT_WIDTH, max_terms: int | None = None,
                only: Iterable[str] = (), decimals: int | None = None,
                hints: Hints = NO_HINTS, detail: Detail = "full") -> str:
        """The worked derivation as plain text, ``width`` columns wide (80 unless
        told, as on the command line when its output is not a terminal).

        ``only`` works out just the chosen quantities, entries or steps
        (``"grad_input[1][0]"``, ``"loss"``); ``detail`` is ``full``, ``brief``
        or ``answers``, as ``--detail``; ``max_terms`` limits the products
        worked out (None: the default limit of 3000, 0: none); ``decimals``
        rounds values that have no finite decimal to that many places instead
        of showing a fraction.

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> print(cnnstep.solve(problem).to_text(only=["grad_input[1][0]"]))
        ... # doctest: +ELLIPSIS
        ╭────────────────────────────────────────╮
        │ Worked solution: one convolution layer │
        ╰────────────────────────────────────────╯
        <BLANKLINE>
        Given ───...
        Step 1: Gradient with respect to the input ─────────────────────────────────────
        ...
        ∂L/∂Z (padded)
         0.25      0
        [0.25]     0
        ∂L/∂X₂₁ = ∂L/∂Z₂₁×K₁₁
                = 0.25×0.5
                = 0.125
        <BLANKLINE>
        """
        return self.render("text", Options(decimals=decimals, hints=hints, width=width),
                           max_terms=max_terms, only=only, detail=detail)

    def to_latex(self, *, fragment: bool = False, max_terms: int | None = None,
                 only: Iterable[str] = (), decimals: int | None = None,
                 hints: Hints = NO_HINTS, detail: Detail = "full") -> str:
        """The worked derivation as a LaTeX document that compiles with pdflatex,
        or with ``fragment`` its body alone, to paste into a document that loads
        ``amsmath``, ``amssymb`` and ``graphicx``. The other options are
        :meth:`to_text`'s.

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> print(cnnstep.solve(problem).to_latex(only=["grad_input[1][0]"]))
        ... # doctest: +ELLIPSIS
        \\documentclass[10pt]{article}
        ...
        \\begin{aligned}[c]
        \\partial L/\\partial X_{21} &= \\partial L/\\partial Z_{21} \\times K_{11} \\\\
         &= 0.25 \\times 0.5 = 0.125
        \\end{aligned}
        \\end{gather*}
        \\end{document}
        <BLANKLINE>
        >>> print(cnnstep.solve(problem).to_latex(fragment=True).splitlines()[0])
        % cnnstep: needs \\usepackage{amsmath,amssymb,graphicx,xcolor}
        """
        return self.render("latex", Options(decimals=decimals, hints=hints, fragment=fragment),
                           max_terms=max_terms, only=only, detail=detail)

    def to_markdown(self, *, max_terms: int | None = None, only: Iterable[str] = (),
                    decimals: int | None = None, hints: Hints = NO_HINTS,
                    detail: Detail = "full") -> str:
        """The worked derivation as Markdown with ``$…$`` math, which GitHub and
        Jupyter render. The options are :meth:`to_text`'s.

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> markdown = cnnstep.solve(problem).to_markdown(only=["grad_input[1][0]"])
        >>> print(markdown[markdown.index("$$\\n\\\\begin{aligned}"):])
        $$
        \\begin{aligned}
        \\partial L/\\partial X_{21} &= \\partial L/\\partial Z_{21} \\times K_{11} \\\\
         &= 0.25 \\times 0.5 \\\\
         &= 0.125
        \\end{aligned}
        $$
        <BLANKLINE>
        """
        return self.render("markdown", Options(decimals=decimals, hints=hints),
                           max_terms=max_terms, only=only, detail=detail)

    def _repr_markdown_(self) -> str:
        """How Jupyter shows this object: its derivation as Markdown."""
        return self.to_markdown()

    def _repr_latex_(self) -> str:
        """How a notebook converted to LaTeX shows this object: the LaTeX body."""
        return self.to_latex(fragment=True)

    def _repr_html_(self) -> str:
        """The page as a fragment: a ``<div>`` whose style sheet styles nothing else."""
        return self.render("html", Options(fragment=True))


def _printed(pieces: Iterator[str]) -> Iterator[str]:
    """The pieces of a printer, made with Python's limit on the digits of an
    integer lifted and the collector of cycles paused (:func:`~cnnstep.numbers.printing`)."""
    while True:  # paused while a piece is made, not while the caller writes it
        with printing():
            piece = next(pieces, None)
        if piece is None:
            return
        yield piece


class Worked(_Shown):
    """A solved layer: its exact result and its worked derivation in every format.

    :func:`solve` makes one. With ``symbolic``, the derivation starts with the
    general formulas and the result gains the key ``symbolic``.

    >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
    >>> worked = cnnstep.solve(problem)
    >>> worked
    <cnnstep.Worked: output, loss, grad_output, grad_filter, grad_input>
    >>> worked.problem.loss, worked.solution.loss
    ('mse', Fraction(1, 8))
    """

    def __init__(self, problem: Problem, *, symbolic: bool = False,
                 max_work: int | None = None) -> None:
        if symbolic and not problem.layer.convolution:
            raise ProblemError(
                "--symbolic derives the convolution's formulas; a layer alone (no filter) "
                "has no convolution, and its activation and pool are worked with numbers "
                "without --symbolic")
        if symbolic and problem.steps > 1:
            raise ProblemError(
                "steps: the symbolic formulas are the same at every training step; derive "
                "them without steps (or with steps 1)")
        from cnnstep import budget

        self.problem = problem
        self.symbolic = symbolic
        self.max_work = max_work
        # refused here, before any work: one step as the JSON result is solved, over
        # integer arrays where the engine can (any other route checks its own work)
        budget.check_training(problem, max_work, integers=True)
        self._solution: Solution | None = None
        self._lazily: Solution | None = None
        self._tried = False

    @property
    def solution(self) -> Solution:
        """Every quantity of the worked solution (:class:`cnnstep.engine.Solution`),
        worked out when first asked for: step 1's, and with ``steps`` above 1 a
        :class:`~cnnstep.training.Trained` one with the training after it.

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> cnnstep.solve(problem).solution.grad_filter.tolist()
        [[[[Fraction(1, 1)]]]]
        """
        if self._solution is None:
            self._solution = train(self.problem, max_work=self.max_work)
        return self._solution

    def _printed_result(self) -> dict[str, Any]:
        # a layer the engine solves over integer arrays is written from them in bulk,
        # without a Fraction per entry; the same values, the same text
        if self._solution is None and not self.symbolic and self.problem.steps == 1:
            values = scaled_result(self.problem)
            if values is not None:
                return values
        return self.result

    def _subject(self) -> Problem:
        return self.problem

    @property
    def result(self) -> dict[str, Any]:
        """The result object: every quantity in the shape it was given in, as
        exact Fractions (floats after a sigmoid or tanh).

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> cnnstep.solve(problem).result["grad_input"]
        [[Fraction(1, 8), Fraction(0, 1)], [Fraction(1, 8), Fraction(0, 1)]]
        """
        values: dict[str, Any] = dict(result(self.solution))
        if self.symbolic:
            from cnnstep.symbolic import symbolic_result

            values["symbolic"] = symbolic_result(self.problem.layer, max_work=self.max_work)
        return values

    def approximate_keys(self) -> frozenset[str]:
        """Result keys whose values are float approximations (sigmoid, tanh).

        >>> layer = {"input": [[1, -2]], "filter": [[1]], "activation": "tanh"}
        >>> sorted(cnnstep.solve(layer).approximate_keys())
        ['activated', 'output']
        """
        from cnnstep.quantities import approximate_keys

        return approximate_keys(self.problem)

    def derivation(self, *, max_terms: int | None = None, only: Iterable[str] = (),
                   detail: Detail = "full") -> Derivation:
        """The worked solution as data, which the printers lay out; ``max_terms``
        None means the default limit, 0 none.

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
        >>> [step.title for step in cnnstep.solve(problem).derivation().steps]
        ... # doctest: +NORMALIZE_WHITESPACE
        ['Given', 'Output size', 'Forward pass', 'Loss',
         'Gradient of the loss with respect to the output',
         'Gradient with respect to the kernel', 'Gradient with respect to the input']
        """
        from cnnstep.derivation import DEFAULT_MAX_TERMS, derive

        limit = DEFAULT_MAX_TERMS if max_terms is None else max_terms
        if self.symbolic:
            from cnnstep.symbolic import derive_both

            return derive_both(self.solution, max_terms=limit, only=only, detail=detail,
                               max_work=self.max_work)
        return derive(self._derived(), max_terms=limit, only=only, detail=detail,
                      max_work=self.max_work)

    def lazy_derivation(self, format: str, *, max_terms: int | None = None,
                        only: Iterable[str] = (), detail: Detail = "full",
                        ) -> tuple[Derivation, Iterator[Step]]:
        """The derivation's head and its steps, each built when it is reached;
        one training step with numbers makes a step's equations as they are read
        (its blocks an :class:`~cnnstep.derivation.nodes.Unfolding`, read once).

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]]}
        >>> head, steps = cnnstep.solve(problem).lazy_derivation("text")
        >>> [step.key for step in steps]
        ['given', 'shapes', 'forward']
        """
        if self.symbolic or self.problem.steps > 1:  # these are put together whole
            return super().lazy_derivation(format, max_terms=max_terms, only=only,
                                           detail=detail)
        from cnnstep.derivation import DEFAULT_MAX_TERMS
        from cnnstep.derivation.assemble import derive_lazily

        self.check_work(format, max_terms=max_terms, only=only)
        limit = DEFAULT_MAX_TERMS if max_terms is None else max_terms
        # estimated just now, for this format: derive_lazily need not estimate it again
        return derive_lazily(self._derived(), max_terms=limit, only=only, detail=detail,
                             max_work=0, unfold=True)

    def _derived(self) -> Solution:
        """The solution a derivation reads: unless the Fraction solve is at hand, the
        integer path's values, made Fractions only where they are read
        (:func:`~cnnstep.engine.solve_lazily`), for the layers it covers."""
        if self._solution is None and not self._tried and self.problem.steps == 1:
            from cnnstep.engine import solve_lazily

            self._tried = True
            self._lazily = solve_lazily(self.problem, max_work=self.max_work)
        if self._solution is None and self._lazily is not None:
            return self._lazily
        return self.solution

    def questions(self, format: str = "text", options: Options | None = None) -> str:
        """The exercise's question sheet in one of :data:`cnnstep.render.FORMATS`: the
        givens and the numbered questions with their points, no answer (the
        problem's ``questions``, or every quantity it determines).

        >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]],
        ...            "questions": {"loss": 1, "grad_input[1][0]": 2}}
        >>> print(cnnstep.solve(problem).questions())  # doctest: +ELLIPSIS
        ╭──────────╮
        │ Exercise │
        ╰──────────╯
        ...
        Questions (3 points) ───────────────────────────────────────────────────────────
        1. (1 point) Find L.
        2. (2 points) Find ∂L/∂X₂₁.
        <BLANKLINE>
        """
        from cnnstep.derivation.questions import sheet

        printer = renderer(format)
        if not printer.worked:
            raise ValueError(f"the {format} format prints results, not a question sheet")
        return printer.derivation(sheet(self.solution), options or Options())

    def __repr__(self) -> str:
        return f"<cnnstep.Worked: {', '.join(self.result)}>"


class Formulas(_Shown):
    """A layer given by shapes: its symbolic derivation, with no numbers.

    :func:`solve` makes one when the input and filter are given as shapes.

    >>> formulas = cnnstep.solve({"input": {"shape": [3, 3]}, "filter": {"shape": [2, 2]}})
    >>> formulas
    <cnnstep.Formulas: (1, 3, 3) ⋆ (1, 1, 2, 2)>
    """

    def __init__(self, layer: Layer, *, max_work: int | None = None) -> None:
        self.layer = layer
        self.max_work = max_work

    def _subject(self) -> Layer:
        return self.layer

    @property
    def result(self) -> dict[str, Any]:
        """The formulas, under the key ``symbolic``, as strings in SymPy syntax.

        >>> layer = {"input": {"shape": [3, 3]}, "filter": {"shape": [2, 2]}}
        >>> cnnstep.solve(layer).result["symbolic"]["output"][0][0]
        'X_1_1*K_1_1 + X_1_2*K_1_2 + X_2_1*K_2_1 + X_2_2*K_2_2'
        """
        from cnnstep.symbolic import symbolic_result

        return {"symbolic": symbolic_result(self.layer, max_work=self.max_work)}

    def derivation(self, *, max_terms: int | None = None, only: Iterable[str] = (),
                   detail: Detail = "full") -> Derivation:
        """The symbolic derivation as data, which the printers lay out.

        >>> layer = {"input": {"shape": [3, 3]}, "filter": {"shape": [2, 2]}}
        >>> [step.title for step in cnnstep.solve(layer).derivation().steps][:2]
        ['Output size', 'The layer in symbols']
        """
        from cnnstep.derivation import DEFAULT_MAX_TERMS
        from cnnstep.symbolic import derive_symbolic

        limit = DEFAULT_MAX_TERMS if max_terms is None else max_terms
        return derive_symbolic(self.layer, max_terms=limit, only=only, detail=detail,
                               max_work=self.max_work)

    def __repr__(self) -> str:
        return f"<cnnstep.Formulas: {self.layer.input_shape} ⋆ {self.layer.filter_shape}>"


class WorkedVolume(_Shown):
    """A solved 3-D layer (``"dimensions": 3``): its exact result and its worked
    derivation, written whole (every entry, the volumes as depth slices).

    >>> worked = cnnstep.solve({"dimensions": 3, "input": [[[1, 2], [3, 4]], [[5, 6], [7, 8]]],
    ...                         "filter": [[[1]], [[-1]]], "grad_output": [[[1, 0], [0, 0]]]})
    >>> worked.result["output"]
    [[[Fraction(-4, 1), Fraction(-4, 1)], [Fraction(-4, 1), Fraction(-4, 1)]]]
    >>> worked.result["grad_input"][1]
    [[Fraction(-1, 1), Fraction(0, 1)], [Fraction(0, 1), Fraction(0, 1)]]
    """

    def __init__(self, layer: Volume | VolumeBatch, *, max_work: int | None = None) -> None:
        from cnnstep.volume_batch import check

        self.layer = layer
        self.max_work = max_work
        check(layer, max_work)

    @property
    def result(self) -> dict[str, Any]:
        """The result object, each array in the shape given, exact (a batch's
        quantities of one volume with the volume axis first).

        >>> volume = cnnstep.solve(cnnstep.sample("conv3d-small"))
        >>> volume.result["grad_bias"], volume.result["updated_filter"][0][0][0]
        (Fraction(25, 8), Fraction(29, 40))
        """
        from cnnstep.volume_batch import solve_volumes

        return solve_volumes(self.layer, 0)[0]

    def derivation(self, *, max_terms: int | None = None, only: Iterable[str] = (),
                   detail: Detail = "full") -> Derivation:
        """The worked derivation as data, as for a 2-D layer: ``only`` a quantity,
        an entry or a step, ``detail`` full, brief or answers, ``max_terms`` None
        the default limit, 0 none.

        >>> volume = cnnstep.solve(cnnstep.sample("conv3d-small"))
        >>> [step.title for step in volume.derivation().steps][:3]
        ['Given', 'Output size', 'Forward pass']
        >>> [step.title for step in volume.derivation(only=["grad_bias"]).steps][-1]
        'Gradient with respect to the bias'
        """
        from cnnstep.derivation import DEFAULT_MAX_TERMS
        from cnnstep.volume_batch import worked_volumes

        return worked_volumes(self.layer, 0, detail=detail, only=only,
                              max_terms=DEFAULT_MAX_TERMS if max_terms is None else max_terms)

    def check_work(self, format: str, *, max_terms: int | None = None,
                   only: Iterable[str] = ()) -> None:
        from cnnstep.volume_batch import check

        check(self.layer, self.max_work, derivation=True)

    def approximate_keys(self) -> frozenset[str]:
        """Result keys whose values are float approximations (after sigmoid or tanh).

        >>> volume = {"dimensions": 3, "input": [[[1, -2]]], "filter": [[[1]]],
        ...           "activation": "tanh"}
        >>> sorted(cnnstep.solve(volume).approximate_keys())
        ['activated', 'output']
        """
        from cnnstep import volume

        layer = self.layer.layer if isinstance(self.layer, VolumeBatch) else self.layer
        return volume.approximate_keys(layer, self.result)

    def exercise(self) -> Volume:
        """The one volume an exercise (its question sheet, a set, an exam, an export)
        is made of; a batch of volumes is refused.

        >>> cnnstep.solve(cnnstep.sample("conv3d-small")).exercise().output_size
        (2, 2, 2)
        >>> cnnstep.solve(cnnstep.sample("conv3d-batch")).exercise()
        Traceback (most recent call last):
        ...
        cnnstep.problem.ProblemError: input: a batch of 3-D volumes is solved and marked as ...
        """
        if isinstance(self.layer, VolumeBatch):
            raise ProblemError("input: a batch of 3-D volumes is solved and marked as a batch; "
                               "question sheets, sets, exams and exports take one volume "
                               "[C][D][H][W]")
        return self.layer

    def questions(self, format: str = "text", options: Options | None = None) -> str:
        """The exercise's question sheet, as :meth:`Worked.questions`: the givens (each
        volume as its depth slices) and the numbered questions with their points.

        >>> volume = {"dimensions": 3, "input": [[[1, 2], [3, 4]]], "filter": [[[2]]],
        ...           "target": [[[3, 5], [7, 8]]],
        ...           "questions": {"loss": 1, "grad_input[0][1][0]": 2}}
        >>> print(cnnstep.solve(volume).questions())  # doctest: +ELLIPSIS
        ╭──────────╮
        │ Exercise │
        ╰──────────╯
        ...
        Questions (3 points) ───────────────────────────────────────────────────────────
        1. (1 point) Find L.
        2. (2 points) Find ∂L/∂X₁₂₁.
        <BLANKLINE>
        """
        from cnnstep.derivation.volume_questions import sheet

        printer = renderer(format)
        if not printer.worked:
            raise ValueError(f"the {format} format prints results, not a question sheet")
        with printing():
            return printer.derivation(sheet(self.exercise()), options or Options())

    def __repr__(self) -> str:
        if isinstance(self.layer, VolumeBatch):
            return (f"<cnnstep.WorkedVolume: a batch of {self.layer.count} × "
                    f"{self.layer.layer.input.shape} ⋆ {self.layer.layer.filter.shape}>")
        return (f"<cnnstep.WorkedVolume: {self.layer.input.shape} ⋆ "
                f"{self.layer.filter.shape}>")


class VolumeFormulas(_Shown):
    """A 3-D layer given by shapes: its symbolic derivation, with no numbers
    (:mod:`cnnstep.symbolic_volume`).

    >>> formulas = cnnstep.solve({"dimensions": 3, "input": {"shape": [2, 2, 2]},
    ...                           "filter": {"shape": [2, 1, 1]}})
    >>> formulas.result["symbolic"]["output"][0][0][0]
    'X_1_1_1*K_1_1_1 + X_2_1_1*K_2_1_1'
    """

    def __init__(self, layer: Volume, *, max_work: int | None = None) -> None:
        from cnnstep.symbolic_volume import check_work

        self.layer = layer
        self.max_work = max_work
        check_work(layer, max_work, derivation=False, numbers=False)

    @property
    def result(self) -> dict[str, Any]:
        """The formulas, under the key ``symbolic``, as strings in SymPy syntax: one
        channel and one filter give ``X_d_i_j``, ``K_a_b_e``, ``B``, ``dZ_d_i_j``.

        >>> layer = {"dimensions": 3, "input": {"shape": [2, 2, 2]},
        ...          "filter": {"shape": [1, 1, 2]}, "bias": "symbolic"}
        >>> cnnstep.solve(layer).result["symbolic"]["grad_input"][0][0]
        ['dZ_1_1_1*K_1_1_1', 'dZ_1_1_1*K_1_1_2']
        """
        from cnnstep.symbolic_volume import symbolic_result

        return {"symbolic": symbolic_result(self.layer)}

    def derivation(self, *, max_terms: int | None = None, only: Iterable[str] = (),
                   detail: Detail = "full") -> Derivation:
        """The symbolic derivation as data, shaped as for a 2-D layer's formulas
        (``only``, ``detail``, ``max_terms``).

        >>> layer = {"dimensions": 3, "input": {"shape": [2, 2, 2]},
        ...          "filter": {"shape": [1, 1, 2]}}
        >>> [step.key for step in cnnstep.solve(layer).derivation(only=["grad_filter"]).steps]
        ['shapes', 'symbols', 'grad_filter']
        """
        from cnnstep.derivation import DEFAULT_MAX_TERMS
        from cnnstep.symbolic_volume import formulas

        return formulas(self.layer, detail=detail, only=only,
                        max_terms=DEFAULT_MAX_TERMS if max_terms is None else max_terms)

    def check_work(self, format: str, *, max_terms: int | None = None,
                   only: Iterable[str] = ()) -> None:
        from cnnstep.symbolic_volume import check_work

        check_work(self.layer, self.max_work, derivation=True, numbers=False)

    def __repr__(self) -> str:
        return (f"<cnnstep.VolumeFormulas: {self.layer.input.shape} ⋆ "
                f"{self.layer.filter.shape}>")


class SymbolicVolume(WorkedVolume):
    """A solved 3-D layer whose derivation starts with the general formulas; its
    result gains the key ``symbolic``.

    >>> worked = cnnstep.solve(cnnstep.sample("conv3d-small"), symbolic=True)
    >>> worked.result["symbolic"]["grad_bias"]
    'dZ_1_1_1 + dZ_1_1_2 + dZ_1_2_1 + dZ_1_2_2 + dZ_2_1_1 + dZ_2_1_2 + dZ_2_2_1 + dZ_2_2_2'
    """

    def __init__(self, layer: Volume | VolumeBatch, *, max_work: int | None = None) -> None:
        from cnnstep.symbolic_volume import check_work

        super().__init__(layer, max_work=max_work)
        check_work(layer, max_work, derivation=False, numbers=True)

    @property
    def result(self) -> dict[str, Any]:
        from cnnstep.symbolic_volume import symbolic_result

        return {**super().result, "symbolic": symbolic_result(self.layer)}

    def approximate_keys(self) -> frozenset[str]:
        from cnnstep import volume

        layer = self.layer.layer if isinstance(self.layer, VolumeBatch) else self.layer
        return volume.approximate_keys(layer, super().result)

    def derivation(self, *, max_terms: int | None = None, only: Iterable[str] = (),
                   detail: Detail = "full") -> Derivation:
        """The givens, the formulas, then the numbers put in (the answers alone: the
        numbers').

        >>> worked = cnnstep.solve(cnnstep.sample("conv3d-small"), symbolic=True)
        >>> [step.title for step in worked.derivation().steps][2:4]
        ['The layer in symbols', 'Forward pass in symbols']
        """
        from cnnstep.derivation import DEFAULT_MAX_TERMS
        from cnnstep.symbolic_volume import with_numbers

        return with_numbers(self.layer, detail=detail, only=only,
                            max_terms=DEFAULT_MAX_TERMS if max_terms is None else max_terms)

    def check_work(self, format: str, *, max_terms: int | None = None,
                   only: Iterable[str] = ()) -> None:
        from cnnstep.symbolic_volume import check_work
        from cnnstep.volume_batch import check

        check(self.layer, self.max_work, derivation=True)
        check_work(self.layer, self.max_work, derivation=True, numbers=True)

    def __repr__(self) -> str:
        return super().__repr__().replace("WorkedVolume", "SymbolicVolume")


def _read_any(problem: ProblemSource, symbolic: bool = False, max_work: int | None = None,
              ) -> Volume | VolumeBatch | VolumeShapes | Problem | Layer:
    """:func:`read`, or the 3-D layer (``"dimensions": 3``) the source holds (for
    ``symbolic`` or given by shapes, as :func:`cnnstep.symbolic_volume.read` reads it),
    one volume or a batch; a file is read once."""
    if isinstance(problem, Problem | Layer | Volume | VolumeBatch):
        return problem
    if isinstance(problem, Mapping):
        return _volume(problem, symbolic, max_work) if str(problem.get("dimensions")) == "3" \
            else read(problem)
    if isinstance(problem, str) and problem.lstrip().startswith("{"):
        data = parse_json(problem)
        return _volume(data, symbolic, max_work) if isinstance(data, Mapping) and str(
            data.get("dimensions")) == "3" else problem_or_layer(data)
    try:
        data = parse_json(read_text(Path(problem)))
        if isinstance(data, Mapping) and str(data.get("dimensions")) == "3":
            return _volume(data, symbolic, max_work)
        return problem_or_layer(data)
    except ProblemError as error:
        raise ProblemError(f"{where(problem)}: {error}") from None


def _volume(data: Mapping[str, Any], symbolic: bool, max_work: int | None,
            ) -> Volume | VolumeBatch | VolumeShapes:
    """A 3-D layer, one volume or a batch; for its formulas (``symbolic``, or given by
    shapes) read by :mod:`cnnstep.symbolic_volume`."""
    if symbolic or is_symbolic(data):
        from cnnstep.symbolic_volume import read as read_formulas

        return read_formulas(data, max_work)
    return volumes_from_data(data)


def read(problem: ProblemSource) -> Problem | Layer:
    """A problem (or a layer given by shapes) from a path, JSON text or a mapping.

    >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
    >>> read(problem).output_size
    (2, 2)
    >>> read('{"input": [[1]], "filter": [[1, 2]]}')
    Traceback (most recent call last):
    ...
    cnnstep.problem.ProblemError: filter 1×2 is larger than the padded input 1×1
    """
    if isinstance(problem, Problem | Layer):
        return problem
    if isinstance(problem, Volume):
        raise ProblemError(VOLUME_ONLY)
    if isinstance(problem, Mapping):
        return problem_or_layer(problem)
    if isinstance(problem, str) and problem.lstrip().startswith("{"):
        return problem_or_layer(parse_json(problem))
    return load(problem)


def solve(problem: ProblemSource, *, symbolic: bool = False,
          max_work: int | None = None,
          ) -> Worked | Formulas | WorkedVolume | VolumeFormulas:
    """Solve one layer exactly, as ``cnnstep solve`` does.

    ``problem`` is a path to a problem file, its JSON text, a mapping like the
    JSON object (numbers may be ints, Fractions, Decimals, strings such as
    ``"1/3"``, or floats, read by their shortest repr) or a problem already
    read. The result is a :class:`Worked`; a layer given by shapes gives its
    :class:`Formulas`. With ``symbolic``, the derivation starts with the
    general formulas. Work beyond ``max_work`` operations (estimated from the
    shapes and the digits before anything large is built; None: the default
    limit of :mod:`cnnstep.budget`, 0: no limit) is refused with a
    :class:`~cnnstep.budget.WorkLimitError`.

    >>> worked = cnnstep.solve({"input": [[1, 2], [3, 4]], "filter": [[0.5]]})
    >>> worked.result["output"]
    [[Fraction(1, 2), Fraction(1, 1)], [Fraction(3, 2), Fraction(2, 1)]]
    >>> cnnstep.solve(cnnstep.sample("seed000")).result["updated_filter"]
    [[Fraction(37, 100), Fraction(1, 10)], [Fraction(59, 200), Fraction(121, 200)]]
    >>> cnnstep.solve({"input": [[1, 2]], "filter": [[1, 2, 3]]})
    Traceback (most recent call last):
    ...
    cnnstep.problem.ProblemError: filter 1×3 is larger than the padded input 1×2
    """
    read_in = _read_any(problem, symbolic, max_work)
    if not isinstance(read_in, Volume | VolumeBatch | Problem | Layer):  # 3-D by shapes
        return VolumeFormulas(read_in.layer, max_work=max_work)
    if isinstance(read_in, Volume | VolumeBatch):
        if symbolic:  # read by cnnstep.symbolic_volume: one volume or a batch
            return SymbolicVolume(read_in, max_work=max_work)
        return WorkedVolume(read_in, max_work=max_work)
    if isinstance(read_in, Layer):
        return Formulas(read_in, max_work=max_work)
    return Worked(read_in, symbolic=symbolic, max_work=max_work)


def working(report: Report) -> Derivation | None:
    """The worked derivation of a report's wrong entries alone (the first
    :data:`WORKED_LIMIT`), or None when every answer is right.

    >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
    >>> wrong = cnnstep.check(problem, {"loss": 0.3, "grad_filter": [[1]]})
    >>> [step.title for step in working(wrong).steps]
    ['Given', 'Output size', 'Forward pass', 'Loss']
    >>> working(cnnstep.check(problem, {"loss": 0.125})) is None
    True
    """
    from cnnstep.derivation import derive

    entries = report.wrong_entries(WORKED_LIMIT)
    return derive(report.solution, only=entries) if entries else None


def render_report(report: Report, title: str, format: str = "text",
                  options: Options | None = None) -> str:
    """A marked hand calculation in one of :data:`cnnstep.render.FORMATS`, with
    the working of its wrong entries where the format shows derivations.

    >>> problem = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
    >>> report = cnnstep.check({**problem, "questions": ["loss"]}, {"loss": 0.125})
    >>> print(render_report(report, "Marking", "json"))  # doctest: +ELLIPSIS
    {"correct": true, "score": {"right": 1, "answered": 1, "total": 1, ...}
    <BLANKLINE>
    """
    printer = renderer(format)
    with printing():
        return printer.report(report, title, working(report) if printer.worked else None,
                              options or Options())


def check(problem: ProblemSource, answers: AnswersSource | None = None, *,
          tolerance: Tolerance | None = None) -> Report | VolumeReport:
    """Mark a student's answers to ``problem``; see :func:`cnnstep.check`. A 3-D layer
    gives a :class:`~cnnstep.check.volume.VolumeReport`."""
    from cnnstep.check import mark, read_answers
    from cnnstep.problem import ANSWERS_KEY

    data: Any = None
    if isinstance(problem, Volume | VolumeBatch):
        return _check_volume(problem, None, answers, tolerance)
    if isinstance(problem, Problem | Layer):
        read_in: Problem | Layer = problem
    else:
        data, name = _data(problem)
        try:
            if is_volume(data):
                return _check_volume(volumes_from_data(data), data, answers, tolerance)
            read_in = problem_from_data(data)
        except ProblemError as error:
            raise ProblemError(f"{name}{error}") from None
    if isinstance(read_in, Layer):
        raise ProblemError("a layer given by shapes has no numbers to mark answers against")
    solution = train(read_in)
    if answers is None:
        inside = data.get(ANSWERS_KEY) if isinstance(data, Mapping) else None
        if inside is None:
            raise ProblemError("no answers to mark; give them, or put them in the problem "
                               f"under the key '{ANSWERS_KEY}'")
        given, label = inside, ANSWERS_KEY
    else:
        given, name = _data(answers)
        label = name.removesuffix(": ")
    return mark(solution, read_answers(given, solution, label), _tolerance(tolerance))


def _check_volume(layer: Volume | VolumeBatch, data: Any, answers: AnswersSource | None,
                  tolerance: Tolerance | None) -> VolumeReport:
    """A 3-D layer's answers (one volume's or a batch's) marked, as ``cnnstep check``
    marks them; without ``answers``, the problem's own."""
    from cnnstep.check.volume_batch import mark_volumes as mark_volume
    from cnnstep.problem import ANSWERS_KEY
    from cnnstep.volume_batch import check

    check(layer, None)
    if answers is None:
        inside = data.get(ANSWERS_KEY) if isinstance(data, Mapping) else None
        if inside is None:
            raise ProblemError("no answers to mark; give them, or put them in the problem "
                               f"under the key '{ANSWERS_KEY}'")
        return mark_volume(layer, inside, _tolerance(tolerance), where=ANSWERS_KEY)
    given, name = _data(answers)
    return mark_volume(layer, given, _tolerance(tolerance), where=name.removesuffix(": "))


def _data(source: AnswersSource) -> tuple[Any, str]:
    """A JSON object from a path, JSON text or a mapping, and how messages name it
    (``"answers.json: "`` for a file, else nothing)."""
    if isinstance(source, Mapping):
        return source, ""
    if isinstance(source, str) and source.lstrip().startswith("{"):
        return parse_json(source), ""
    try:
        return parse_json(read_text(Path(source))), f"{where(source)}: "
    except ProblemError as error:
        raise ProblemError(f"{where(source)}: {error}") from None


def _tolerance(value: Tolerance | None) -> Fraction | None:
    if value is None:
        return None
    tolerance = to_number(value, "tolerance")
    if tolerance < 0:
        raise ProblemError("tolerance: cannot be negative")
    return tolerance
