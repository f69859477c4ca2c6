"""The Python interface: ``cnnstep.solve(problem)`` and what it returns."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnstep.engine import Solution
from cnnstep.engine import solve as solve_layer
from cnnstep.problem import Problem, load_problem, parse_problem, problem_from_data
from cnnstep.result import Nested, result

if TYPE_CHECKING:  # the derivation is built only when asked for
    from cnnstep.derivation import Derivation


class Worked:
    """A solved layer: its exact result and its worked derivation in every format.

    In Jupyter it shows itself as Markdown (``_repr_markdown_``); converting to
    LaTeX (``_repr_latex_``) gives the body of a document.
    """

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.solution: Solution = solve_layer(problem)

    @property
    def result(self) -> dict[str, Nested]:
        """The result object: every quantity in the user's shapes, as Fractions."""
        return result(self.solution)

    def derivation(self, *, max_terms: int | None = None,
                   only: Iterable[str] = ()) -> Derivation:
        """The worked solution; ``max_terms`` None means the default limit, 0 none."""
        from cnnstep.derivation import DEFAULT_MAX_TERMS, derive

        limit = DEFAULT_MAX_TERMS if max_terms is None else max_terms
        return derive(self.solution, max_terms=limit, only=only)

    def to_json(self) -> str:
        from cnnstep.render.json_result import dumps

        return dumps(self.result)

    def to_text(self, *, width: int = 100, max_terms: int | None = None,
                only: Iterable[str] = (), decimals: int | None = None) -> str:
        from cnnstep.render.text import render

        return render(self.derivation(max_terms=max_terms, only=only), width=width,
                      decimals=decimals)

    def to_latex(self, *, fragment: bool = False, max_terms: int | None = None,
                 only: Iterable[str] = (), decimals: int | None = None) -> str:
        from cnnstep.render.latex import render

        return render(self.derivation(max_terms=max_terms, only=only), fragment=fragment,
                      decimals=decimals)

    def to_markdown(self, *, max_terms: int | None = None, only: Iterable[str] = (),
                    decimals: int | None = None) -> str:
        from cnnstep.render.markdown import render

        return render(self.derivation(max_terms=max_terms, only=only), decimals=decimals)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def _repr_latex_(self) -> str:
        return self.to_latex(fragment=True)

    def __repr__(self) -> str:
        keys = ", ".join(self.result)
        return f"<cnnstep.Worked: {keys}>"


def read(problem: str | Path | Mapping[str, Any] | Problem) -> Problem:
    """A problem from a path, a JSON string, a mapping, or a Problem."""
    if isinstance(problem, Problem):
        return problem
    if isinstance(problem, Mapping):
        return problem_from_data(problem)
    if isinstance(problem, str) and problem.lstrip().startswith("{"):
        return parse_problem(problem)
    return load_problem(problem)


def solve(problem: str | Path | Mapping[str, Any] | Problem) -> Worked:
    """Solve one layer exactly.

    >>> worked = solve({"input": [[1, 2], [3, 4]], "filter": [[0.5]]})
    >>> worked.result["output"]
    [[Fraction(1, 2), Fraction(1, 1)], [Fraction(3, 2), Fraction(2, 1)]]
    """
    return Worked(read(problem))
