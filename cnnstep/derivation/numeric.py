"""The builder of a numeric derivation: a solved layer's symbols and numbers."""

from __future__ import annotations

from fractions import Fraction

from cnnstep.derivation.builder import Builder, Plan
from cnnstep.derivation.nodes import Expr, Matrix, Num, Whole
from cnnstep.engine import Solution
from cnnstep.quantities import (
    grad_conv_key,
    is_approximate,
    last_key,
    letter,
    result_name,
    symbol_role,
)


class NumericBuilder(Builder):
    """A :class:`Builder` that also holds the solved layer's numbers.

    Every number comes from the engine's :class:`~cnnstep.engine.Solution`;
    whether it is a float approximation, from :mod:`cnnstep.quantities`.
    """

    def __init__(self, solution: Solution, plan: Plan) -> None:
        super().__init__(solution.problem.layer, plan)
        self.s = solution
        self.p = solution.problem
        layer = self.layer
        #: the result keys of the convolution's Z and dL/dZ, and the role of the last stage
        self.z_key = result_name("conv", layer)
        self.dz_key = grad_conv_key(layer)
        self.last_role = symbol_role("output", layer)
        self.grad_last_role = symbol_role("grad_output", layer)
        # the number node of every entry, made once
        self.x_num = self.nodes.nums(solution.padded_input)
        self.k_num = self.nodes.nums(self.p.filter)
        if solution.grad_conv is not None:
            self.g_num = self.nodes.nums(solution.grad_conv, self.approximate("grad_conv"))
        self._padded: list[Matrix] | None = None

    def approximate(self, key: str) -> bool:
        """Whether float sigmoid or tanh went into quantity ``key``."""
        return is_approximate(key, self.p)

    def value(self, key: str, value: Fraction) -> Num:
        """The number node of an entry of quantity ``key``."""
        return self.num(value, self.approximate(key))

    def dz_operand(self) -> Whole:
        """dL/dZ as the backward formulas use it: zero-inserted when the stride is above 1."""
        return Whole("spread_grad") if self.layer.stride != (1, 1) else Whole("grad_output")

    @property
    def pool_input_role(self) -> str:
        """The symbol of what the pool reads: A, or Z when there is no activation."""
        return "activated" if self.layer.activation else "output"

    @property
    def last_letter(self) -> str:
        """The letter of the last stage: Z (in the notation), A or P."""
        return letter(last_key(self.layer), self.layer)

    @property
    def padded_matrices(self) -> list[Matrix]:
        """The input (padded, when there is padding), made once: the forward pass's
        windows lie in it."""
        if self._padded is None:
            label: tuple[str | Expr, ...] = (
                (Whole("padded_input"),) if any(self.p.padding) else (Whole("input"),))
            self._padded = self.matrices(label, self.s.padded_input, "input",
                                         border=self.p.padding)
        return self._padded
