"""The Python interface: ``cnnstep.solve(problem)`` and what it returns."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnstep.engine import Solution
from cnnstep.engine import solve as solve_layer
from cnnstep.problem import Layer, Problem, load, parse_json, problem_or_layer
from cnnstep.render import NO_HINTS, Hints, Options, renderer
from cnnstep.result import result

if TYPE_CHECKING:  # the derivation is built only when asked for
    from cnnstep.check import Report
    from cnnstep.derivation import Derivation
    from cnnstep.derivation.builder import Detail

#: wrong entries of a marked hand calculation worked out in full, at the most
WORKED_LIMIT = 12


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

    def derivation(self, *, max_terms: int | None = None, only: Iterable[str] = (),
                   detail: Detail = "full") -> Derivation:
        raise NotImplementedError

    def approximate_keys(self) -> frozenset[str]:
        """Result keys whose values are float approximations (sigmoid, tanh)."""
        return frozenset()

    @property
    def result(self) -> dict[str, Any]:
        raise NotImplementedError

    def render(self, format: str = "text", options: Options | None = None, *,
               max_terms: int | None = None, only: Iterable[str] = (),
               detail: Detail = "full") -> str:
        """This layer in one of :data:`cnnstep.render.FORMATS`: its worked
        derivation, or (in JSON) its result object.

        ``only`` selects what to work out (a quantity, an entry or a step);
        ``detail`` is ``full`` (every entry), ``brief`` (each step's rule, one
        entry worked, the results) or ``answers`` (the givens and the results).
        """
        printer = renderer(format)
        if not printer.worked:
            return printer.result(self.result, self.approximate_keys())
        return printer.derivation(self.derivation(max_terms=max_terms, only=only, detail=detail),
                                  options or Options())

    def to_json(self) -> str:
        return self.render("json")

    def to_text(self, *, width: int = 100, max_terms: int | None = None,
                only: Iterable[str] = (), decimals: int | None = None,
                hints: Hints = NO_HINTS, detail: Detail = "full") -> str:
        return self.render("text", Options(decimals=decimals, hints=hints, width=width),
                           max_terms=max_terms, only=only, detail=detail)

    def to_latex(self, *, fragment: bool = False, max_terms: int | None = None,
                 only: Iterable[str] = (), decimals: int | None = None,
                 hints: Hints = NO_HINTS, detail: Detail = "full") -> str:
        return self.render("latex", Options(decimals=decimals, hints=hints, fragment=fragment),
                           max_terms=max_terms, only=only, detail=detail)

    def to_markdown(self, *, max_terms: int | None = None, only: Iterable[str] = (),
                    decimals: int | None = None, hints: Hints = NO_HINTS,
                    detail: Detail = "full") -> str:
        return self.render("markdown", Options(decimals=decimals, hints=hints),
                           max_terms=max_terms, only=only, detail=detail)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def _repr_latex_(self) -> str:
        return self.to_latex(fragment=True)

    def _repr_html_(self) -> str:
        """The page as a fragment: a ``<div>`` whose style sheet styles nothing else."""
        return self.render("html", Options(fragment=True))


class Worked(_Shown):
    """A solved layer: its exact result and its worked derivation in every format.

    With ``symbolic``, the derivation starts with the general formulas and the
    result gains the key ``symbolic``.
    """

    def __init__(self, problem: Problem, *, symbolic: bool = False) -> None:
        self.problem = problem
        self.symbolic = symbolic
        self.solution: Solution = solve_layer(problem)

    @property
    def result(self) -> dict[str, Any]:
        """The result object: every quantity in the user's shapes, as Fractions."""
        values: dict[str, Any] = dict(result(self.solution))
        if self.symbolic:
            from cnnstep.symbolic import symbolic_result

            values["symbolic"] = symbolic_result(self.problem.layer)
        return values

    def approximate_keys(self) -> frozenset[str]:
        from cnnstep.quantities import approximate_keys

        return approximate_keys(self.problem)

    def derivation(self, *, max_terms: int | None = None, only: Iterable[str] = (),
                   detail: Detail = "full") -> Derivation:
        """The worked solution; ``max_terms`` None means the default limit, 0 none."""
        from cnnstep.derivation import DEFAULT_MAX_TERMS, derive

        limit = DEFAULT_MAX_TERMS if max_terms is None else max_terms
        if self.symbolic:
            from cnnstep.symbolic import derive_both

            return derive_both(self.solution, max_terms=limit, only=only, detail=detail)
        return derive(self.solution, max_terms=limit, only=only, detail=detail)

    def questions(self, format: str = "text", options: Options | None = None) -> str:
        """The exercise's question sheet in one of :data:`cnnstep.render.FORMATS`: the
        givens and the numbered questions with their points, no answer (the
        problem's ``questions``, or every quantity it determines)."""
        from cnnstep.derivation.questions import sheet

        printer = renderer(format)
        if not printer.worked:
            raise ValueError(f"the {format} format prints results, not a question sheet")
        return printer.derivation(sheet(self.solution), options or Options())

    def __repr__(self) -> str:
        return f"<cnnstep.Worked: {', '.join(self.result)}>"


class Formulas(_Shown):
    """A layer given by shapes: its symbolic derivation, with no numbers."""

    def __init__(self, layer: Layer) -> None:
        self.layer = layer

    @property
    def result(self) -> dict[str, Any]:
        from cnnstep.symbolic import symbolic_result

        return {"symbolic": symbolic_result(self.layer)}

    def derivation(self, *, max_terms: int | None = None, only: Iterable[str] = (),
                   detail: Detail = "full") -> Derivation:
        from cnnstep.derivation import DEFAULT_MAX_TERMS
        from cnnstep.symbolic import derive_symbolic

        limit = DEFAULT_MAX_TERMS if max_terms is None else max_terms
        return derive_symbolic(self.layer, max_terms=limit, only=only, detail=detail)

    def __repr__(self) -> str:
        return f"<cnnstep.Formulas: {self.layer.input_shape} ⋆ {self.layer.filter_shape}>"


def read(problem: str | Path | Mapping[str, Any] | Problem | Layer) -> Problem | Layer:
    """A problem (or a layer given by shapes) from a path, JSON text or a mapping."""
    if isinstance(problem, Problem | Layer):
        return problem
    if isinstance(problem, Mapping):
        return problem_or_layer(problem)
    if isinstance(problem, str) and problem.lstrip().startswith("{"):
        return problem_or_layer(parse_json(problem))
    return load(problem)


def solve(problem: str | Path | Mapping[str, Any] | Problem | Layer, *,
          symbolic: bool = False) -> Worked | Formulas:
    """Solve one layer exactly; a layer given by shapes gives its formulas.

    >>> worked = solve({"input": [[1, 2], [3, 4]], "filter": [[0.5]]})
    >>> worked.result["output"]
    [[Fraction(1, 2), Fraction(1, 1)], [Fraction(3, 2), Fraction(2, 1)]]
    """
    read_in = read(problem)
    if isinstance(read_in, Layer):
        return Formulas(read_in)
    return Worked(read_in, symbolic=symbolic)


def working(report: Report) -> Derivation | None:
    """The worked derivation of a report's wrong entries alone (the first
    :data:`WORKED_LIMIT`), or None when every answer is right."""
    from cnnstep.derivation import derive

    entries = report.wrong_entries(WORKED_LIMIT)
    return derive(report.solution, only=entries) if entries else None


def render_report(report: Report, title: str, format: str = "text",
                  options: Options | None = None) -> str:
    """A marked hand calculation in one of :data:`cnnstep.render.FORMATS`, with
    the working of its wrong entries where the format shows derivations."""
    printer = renderer(format)
    return printer.report(report, title, working(report) if printer.worked else None,
                          options or Options())
