"""The builder of a numeric derivation: a solved layer's symbols and numbers."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from cnnstep import engine
from cnnstep.derivation.builder import Builder, Plan
from cnnstep.derivation.nodes import Block, Expr, Matrix, Num, Text, Whole
from cnnstep.engine import Solution
from cnnstep.entries import Computed, standing_in
from cnnstep.problem import Array
from cnnstep.quantities import (
    grad_conv_key,
    is_approximate,
    last_key,
    letter,
    result_name,
    symbol_role,
)

#: a quantity of at most this many entries has its symbols and number nodes made at once
NODES_MADE_WHOLE = 100_000


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
            self.g_num = self.number_nodes(solution.grad_conv, self.approximate("grad_conv"))
        #: the entries of dL/dZ that are 0 because of the layers after the convolution
        #: (no gradient comes back through the pool, or ReLU′(z) = 0), not by chance
        self.masked = self._masked()
        self._padded: list[Matrix] | None = None

    def grad_symbols(self) -> Array:
        """The symbol of every entry of dL/d(output); of a large layer, made when read."""
        shape = self.layer.output_shape
        if math.prod(shape) <= NODES_MADE_WHOLE:
            return super().grad_symbols()
        return standing_in(Computed(shape, lambda e: self.sym("grad_output", e)))

    def number_nodes(self, values: Array, approximate: bool = False) -> Array:
        """The number node of every entry of ``values``: made at once (each is read
        many times when every entry is worked out), or for a large quantity each when
        it is read."""
        if values.size <= NODES_MADE_WHOLE:
            return self.nodes.nums(values, approximate)
        return standing_in(Computed(values.shape, lambda e: self.num(values[e], approximate)))

    def _masked(self) -> Array:
        s, layer = self.s, self.layer
        #: entries the pool sends no gradient; entries where f′(z) = 0
        self.unrouted: Array = np.zeros(layer.output_shape, dtype=bool)
        self.flat: Array = np.zeros(layer.output_shape, dtype=bool)
        if s.images:  # a batch: each image's, stacked
            built = [NumericBuilder(image, self.plan) for image in s.images]
            self.unrouted = np.stack([image.unrouted for image in built])
            self.flat = np.stack([image.flat for image in built])
            stacked: Array = np.stack([image.masked for image in built])
            return stacked
        if s.grad_conv is None or s.grad_output is None:
            return self.unrouted
        if layer.pool is not None:
            routes = engine.pool_routes(layer.pool, s.grad_output.shape, s.winners)
            for e in np.ndindex(*self.unrouted.shape):
                self.unrouted[e] = e not in routes
        if s.slopes is not None:
            self.flat = np.asarray(s.slopes == 0, dtype=bool)
        mask: Array = self.unrouted | self.flat
        return mask

    def pool_reason(self) -> str:
        assert self.layer.pool is not None
        return f"the {self.layer.pool.kind} pool sends them no gradient"

    def slope_reason(self) -> str:
        activation = self.layer.activation
        name = "ReLU" if activation is not None and activation.kind == "relu" else "f"
        return f"{name}′(z) = 0 there"

    def masked_by(self) -> str:
        """Why masked entries of dL/dZ are 0, for a sentence."""
        reasons = []
        if self.unrouted.any():
            reasons.append(self.pool_reason())
        if self.flat.any():
            reasons.append(self.slope_reason())
        return " or ".join(reasons)

    def left_out(self, *, padding: bool = False, inserted: bool = False,
                 masked: bool = False, padding_of: str = "input") -> list[Block]:
        """Once per step: the terms left out because they hold a zero by construction."""
        kinds: list[tuple[str | Expr, ...]] = []
        if padding:
            kinds.append((f"the zeros of the {padding_of}'s padding",))
        if inserted:
            kinds.append(("the zeros inserted for the stride",))
        if masked:
            kinds.append(("the entries of ", Whole("grad_output"), " that are 0 because "
                          + self.masked_by()))
        if not kinds:
            return []
        parts: list[str | Expr] = ["Terms holding a zero by construction are left out: "]
        for k, kind in enumerate(kinds):
            if k:
                parts.append(" and " if k == len(kinds) - 1 else ", ")
            parts += kind
        return self.explain(Text((*parts, ".")))

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
                (Whole("padded_input"),) if self.layer.padded else (Whole("input"),))
            self._padded = self.matrices(label, self.s.padded_input, "input",
                                         border=self.p.padding,
                                         border_end=self.layer.padding_end)
        return self._padded
