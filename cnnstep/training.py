"""Training steps: the layer solved again and again with its updated weights.

With ``steps`` above 1, forward → loss → backward → update is repeated with the
same input and target, each step starting from the weights the step before it
updated. Each step is one :func:`cnnstep.engine.solve` of the problem with that
step's weights: this module only loops around the engine.

The result's keys describe step 1; the history adds each step's loss and
updated weights, and ``final_loss`` the loss with the last update's weights:

* ``L_k`` = the loss of step k, with the weights K_k (K_1 = K);
* ``K_{k+1}`` = K_k − α·dL/dK at K_k (likewise B);
* ``final_loss`` = the loss at K_{steps+1}, from one more solve (its forward pass
  and loss are what the derivation shows of it).
"""

from __future__ import annotations

from dataclasses import fields, replace
from fractions import Fraction

import numpy as np

from cnnstep import budget, engine
from cnnstep.engine import Solution
from cnnstep.exact import ExactArray
from cnnstep.problem import Array, Problem
from cnnstep.problem import frozen as _frozen
from cnnstep.quantities import history_columns
from cnnstep.values import value_class


@value_class(eq=False)
class Trained(Solution):
    """Step 1's :class:`~cnnstep.engine.Solution`, with the training after it.

    ``history`` is the table the marker reads, one row per step: the step's loss,
    then every weight of its updated filter (full layout, row-major), then every
    updated bias. ``iterations`` are the solutions of every step, step 1 first.
    """

    history: Array | None = None
    final_loss: Fraction | None = None
    iterations: tuple[Solution, ...] = ()
    #: the solution at the last update's weights, whose loss is the final loss
    after: Solution | None = None


def next_problem(problem: Problem, solution: Solution) -> Problem:
    """The problem of the next step: the same, with the weights this step updated."""
    assert solution.updated_filter is not None
    return replace(problem, exact_filter=ExactArray(solution.updated_filter),
                   exact_bias=(ExactArray(solution.updated_bias)
                               if problem.exact_bias is not None
                               and solution.updated_bias is not None else None))


def history_row(solution: Solution) -> list[Fraction]:
    """One step's row of the history table: its loss, its updated filter and bias."""
    assert solution.loss is not None and solution.updated_filter is not None
    row = [solution.loss, *solution.updated_filter.flat]
    if solution.updated_bias is not None:
        row += list(solution.updated_bias.flat)
    return row


def after(problem: Problem) -> Solution:
    """The layer at the last update's weights, for its loss (the final loss)."""
    return engine.solve(problem, max_work=0)


def train(problem: Problem, *, max_work: int | None = None) -> Solution:
    """Step 1's solution, or with ``steps`` above 1 a :class:`Trained` one.

    The work of every step, with the digits the weights grow by, is estimated
    first (:func:`budget.check_training`) and refused over ``max_work``.
    """
    if problem.steps <= 1:
        return engine.solve(problem, max_work=max_work)
    budget.check_training(problem, max_work)
    iterations: list[Solution] = []
    current = problem
    for _ in range(problem.steps):
        solution = engine.solve(current, max_work=0)  # estimated with every step above
        iterations.append(solution)
        current = next_problem(current, solution)
    rows = [history_row(solution) for solution in iterations]
    table = np.empty((len(rows), history_columns(problem.layer)), dtype=object)
    for k, row in enumerate(rows):
        table[k, :] = row
    first = iterations[0]
    values = {f.name: getattr(first, f.name) for f in fields(Solution)}
    last = after(current)
    return Trained(**values, history=_frozen(table), final_loss=last.loss,
                   iterations=tuple(iterations), after=last)


def iterations(solution: Solution) -> tuple[Solution, ...]:
    """Every training step's solution: step 1's alone unless it was trained."""
    return solution.iterations if isinstance(solution, Trained) else (solution,)
