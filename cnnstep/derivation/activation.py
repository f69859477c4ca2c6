"""Steps: the activation A = f(Z), and back through it, dL/dZ = dL/dA ⊙ f′(Z).

ReLU and leaky ReLU keep every number exact; sigmoid and tanh are computed
in floating point, so their values and everything after them are marked ≈.
"""

from __future__ import annotations

from fractions import Fraction

from cnnstep.derivation.builder import Index, Zeros
from cnnstep.derivation.nodes import Call, Equation, Expr, Group, Mul, Pow, Step, Sub, Text, Whole
from cnnstep.derivation.numeric import NumericBuilder
from cnnstep.derivation.words import show
from cnnstep.problem import Activation

#: how each activation is named in titles and sentences
NAMES = {"relu": "ReLU", "leaky_relu": "LeakyReLU", "sigmoid": "σ", "tanh": "tanh"}


def _rule(activation: Activation) -> str:
    return {
        "relu": "ReLU(z) = max(0, z)",
        "leaky_relu": f"LeakyReLU(z) = z for z > 0, else {show(activation.slope)}×z",
        "sigmoid": "σ(z) = 1/(1 + e^(−z))",
        "tanh": "tanh(z) = (e^z − e^(−z))/(e^z + e^(−z))",
    }[activation.kind]


def _derivative_rule(activation: Activation) -> str:
    return {
        "relu": "ReLU′(z) = 1 for z > 0 and 0 otherwise (0 also at z = 0)",
        "leaky_relu": f"LeakyReLU′(z) = 1 for z > 0 and {show(activation.slope)} "
                      "otherwise (also at z = 0)",
        "sigmoid": "σ′(z) = σ(z)(1 − σ(z))",
        "tanh": "tanh′(z) = 1 − tanh(z)²",
    }[activation.kind]


def step(b: NumericBuilder) -> Step:
    """A = f(Z), entry by entry."""
    s, activation = b.s, b.layer.activation
    assert activation is not None and s.activated is not None
    activated = s.activated
    kind = activation.kind
    approximate = b.approximate("activated")

    def equation(e: Index) -> Equation:
        z = s.conv[e]
        if kind == "relu":
            numeric: Expr = Call("max", (b.num(Fraction(0)), b.num(z)))
        elif kind == "leaky_relu":  # z itself when positive, else slope×z
            numeric = (Call("leaky_relu", (b.num(z),)) if z > 0 else
                       Mul((b.num(activation.slope), b.num(z))))
        else:
            numeric = Call(kind, (b.num(z),))
        return Equation(b.sym("activated", e), (Call(kind, (b.sym("output", e),)), numeric),
                        activated[e], ("activated", e), approximate=approximate)

    return Step("activation", f"Activation: {NAMES[kind]}", (
        *b.explain(Text((
            "The activation is applied to each entry of ", Whole("output"), ": ",
            _rule(activation),
            "." if activation.exact else
            ", computed in floating point: from here on the values are rounded, marked ≈.",
        ))),
        *b.work_out("activated", equation, "activated entries"),
        *b.answer(b.show((Whole("activated"),), activated, "output",
                         approximate=approximate)),
    ))


def backward(b: NumericBuilder) -> Step:
    """dL/dZ = dL/dA ⊙ f′(Z), entry by entry; f′ from the engine's slopes."""
    s, activation = b.s, b.layer.activation
    assert activation is not None and s.slopes is not None and s.activated is not None
    assert s.grad_activated is not None and s.grad_conv is not None
    slopes, activated, grad_activated, grad_conv = (s.slopes, s.activated, s.grad_activated,
                                                    s.grad_conv)
    kind = activation.kind
    one = b.num(Fraction(1))

    def equation(e: Index) -> Equation:
        if kind in ("relu", "leaky_relu"):
            slope: Expr = b.num(slopes[e])
        elif kind == "sigmoid":
            a = b.value("activated", activated[e])
            slope = Mul((a, Group(Sub(one, a))))
        else:
            a = b.value("activated", activated[e])
            slope = Group(Sub(one, Pow(a, 2)))
        return Equation(
            b.sym("grad_output", e),
            (Mul((b.sym("grad_activated", e), Call(kind, (b.sym("output", e),), prime=True))),
             Mul((b.value("grad_activated", grad_activated[e]), slope))),
            grad_conv[e], (b.dz_key, e), approximate=b.approximate("grad_conv"))

    entries = b.entries(b.dz_key)
    flat = tuple(e for e in entries if b.flat[e])
    unrouted = tuple(e for e in entries if b.unrouted[e] and not b.flat[e])
    zeros = [Zeros(flat, (b.slope_reason() + ".",))]
    if unrouted:
        zeros.append(Zeros(unrouted, (b.pool_reason() + " (", Whole("grad_activated"),
                                      " = 0).")))
    return Step("activation_backward", "Back through the activation", (
        *b.explain(Text((
            "Back through the activation, entry by entry: ", Whole("grad_output"), " = ",
            Whole("grad_activated"), " ⊙ f′(", Whole("output"), "), with ",
            _derivative_rule(activation), ".",
        ))),
        *b.work_out(b.dz_key, equation, f"entries of {b.d_by('output')}", zeros=zeros,
                    example=next((e for e in entries if not b.masked[e]), None)),
        *b.answer(b.show((Whole("grad_output"),), grad_conv, "output",
                         approximate=b.approximate("grad_conv"))),
    ))
