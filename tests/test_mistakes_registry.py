"""The marker's mistakes as a registry: every code of the format's table
registered once, one precedence, and each mistake recognised.

Each wrong answer here is computed independently of the marker and the
engine: with the naive layer of ``helpers`` (nested loops over Fractions) and
small list functions below, never by calling a mistake's own function.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from helpers import NO_SHARED, SAMPLES, SHARED
from oracle import (
    fr,
    naive_backward,
    naive_forward,
    naive_grad_output,
    naive_loss,
)

from cnnstep import quantities
from cnnstep.check import MISTAKES, PRECEDENCE, mark, read_answers
from cnnstep.check import mistakes as registry
from cnnstep.engine import Solution, solve
from cnnstep.problem import problem_from_data

#: the codes of the table in the format's "Checking answers", in its order
CONTRACT_CODES = (
    "kernel_not_rotated", "true_convolution", "mse_not_averaged", "missing_factor_two",
    "wrong_sign", "stride_not_dilated", "bias_omitted", "bias_averaged", "transposed",
    "carried_forward",
)

#: codes the marker names beyond the format's table, each documented in the README
EXTRA_CODES = ("dilation_ignored",)

STRIDE2 = Path(__file__).resolve().parent / "answers" / "stride2-problem.json"


def test_the_contract_table_has_these_codes() -> None:
    contract = SHARED / "problem-format.md"
    if not contract.is_file():
        pytest.skip(NO_SHARED)
    text = contract.read_text(encoding="utf-8")
    table = text.split("Diagnosis codes", 1)[1].split("\n\n", 2)[1]
    assert tuple(re.findall(r"^\| `([a-z_]+)` \|", table, re.MULTILINE)) == CONTRACT_CODES


def test_every_contract_code_is_registered_once() -> None:
    assert sorted(MISTAKES) == sorted(CONTRACT_CODES + EXTRA_CODES)
    for code, found in MISTAKES.items():
        assert found.code == code


def test_a_code_cannot_be_registered_twice() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("wrong_sign", step="update", keys=["updated_filter"],
                          message="again", recompute=lambda solution, key: None)
    assert MISTAKES["wrong_sign"].recompute is registry.wrong_sign


def test_a_mistake_names_real_quantities() -> None:
    with pytest.raises(ValueError, match="grad_kernel"):
        registry.register("kernel_flipped", step="forward pass", keys=["grad_kernel"],
                          message="x", recompute=lambda solution, key: None)
    assert "kernel_flipped" not in MISTAKES


#: no single step: a transposed matrix can be any step's; carried_forward is
#: a later step done right
NO_STEP = {"transposed", "carried_forward"}


@pytest.mark.parametrize("code", CONTRACT_CODES + EXTRA_CODES)
def test_each_mistake_has_a_step_and_keys(code: str) -> None:
    found = MISTAKES[code]
    assert found.keys and found.keys <= set(quantities.BY_KEY)
    if code in NO_STEP:
        assert found.step is None
        return
    if isinstance(found.step, Mapping):
        assert set(found.step) == set(found.keys)
    for key in found.keys:
        step = found.step_of(key)
        assert isinstance(step, str) and step.strip()


def test_precedence_names_every_code_once() -> None:
    assert len(PRECEDENCE) == len(set(PRECEDENCE))
    assert set(PRECEDENCE) == set(MISTAKES)
    assert PRECEDENCE[-2:] == ("transposed", "carried_forward")


# --------------------------------------------------------------------------
# independent arithmetic on nested lists, full layout


def rot180(k: Any) -> Any:
    return [[[row[::-1] for row in channel[::-1]] for channel in f] for f in k]


def swap_last(value: Any) -> Any:
    if isinstance(value[0][0], list):
        return [swap_last(v) for v in value]
    return [list(column) for column in zip(*value, strict=True)]


def scale(value: Any, factor: Fraction) -> Any:
    return [scale(v, factor) for v in value] if isinstance(value, list) else value * factor


def plus(a: Any, b: Any) -> Any:
    if isinstance(a, list):
        return [plus(x, y) for x, y in zip(a, b, strict=True)]
    return a + b


class Layer:
    """The stride-2, padded, two-channel, two-filter problem with a bias, solved naively."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.x, self.k, self.b = fr(data["input"]), fr(data["filter"]), fr(data["bias"])
        self.y, self.lr = fr(data["target"]), fr(data["learning_rate"])
        stride, padding = data["stride"], data["padding"]
        self.stride, self.padding = (stride, stride), (padding, padding)
        self.z = naive_forward(self.x, self.k, self.b, self.stride, self.padding)
        self.dz = naive_grad_output(self.z, self.y, "mse")
        self.dk, self.dx, self.db = self.backward(self.dz)

    def backward(self, dz: Any, stride: tuple[int, int] | None = None,
                 k: Any = None) -> tuple[Any, Any, Any]:
        return naive_backward(self.x, self.k if k is None else k, dz, stride or self.stride,
                              self.padding)

    def sgd(self, weights: Any, grad: Any, sign: int = -1) -> Any:
        return plus(weights, scale(grad, sign * self.lr))

    def solution(self) -> Solution:
        return solve(problem_from_data(self.data))


@pytest.fixture(scope="module")
def layer() -> Layer:
    data = json.loads(STRIDE2.read_text(encoding="utf-8"))
    assert data["stride"] == 2 and data["padding"] == 1 and data["loss"] == "mse"
    return Layer(data)


def _kernel_not_rotated(s: Layer) -> dict[str, Any]:
    # scattering dL/dZ with the turned kernel = the full convolution with K as it is
    return {"grad_input": s.backward(s.dz, k=rot180(s.k))[1]}


def _true_convolution(s: Layer) -> dict[str, Any]:
    return {"output": naive_forward(s.x, rot180(s.k), s.b, s.stride, s.padding)}


def _mse_not_averaged(s: Layer) -> dict[str, Any]:
    return {"loss": naive_loss(s.z, s.y, "sse"), "grad_output": naive_grad_output(s.z, s.y, "sse")}


def _missing_factor_two(s: Layer) -> dict[str, Any]:
    return {"grad_output": scale(s.dz, Fraction(1, 2))}


def _wrong_sign(s: Layer) -> dict[str, Any]:
    return {"grad_output": scale(s.dz, Fraction(-1)),
            "updated_filter": s.sgd(s.k, s.dk, sign=+1), "updated_bias": s.sgd(s.b, s.db, sign=+1)}


def _stride_not_dilated(s: Layer) -> dict[str, Any]:
    # the stride-1 formulas on dL/dZ as it is: it lands at the top-left
    dk, dx, _ = s.backward(s.dz, stride=(1, 1))
    return {"grad_filter": dk, "grad_input": dx}


def _bias_omitted(s: Layer) -> dict[str, Any]:
    return {"output": naive_forward(s.x, s.k, None, s.stride, s.padding)}


def _bias_averaged(s: Layer) -> dict[str, Any]:
    positions = len(s.dz[0]) * len(s.dz[0][0])
    return {"grad_bias": [d / positions for d in s.db]}


def _transposed(s: Layer) -> dict[str, Any]:
    return {"grad_filter": swap_last(s.dk), "grad_input": swap_last(s.dx),
            "updated_filter": swap_last(s.sgd(s.k, s.dk))}


def _carried_forward(s: Layer) -> dict[str, Any]:
    slip = [[[v + (1 if (f, i, j) == (0, 1, 2) else 0) for j, v in enumerate(row)]
             for i, row in enumerate(channel)] for f, channel in enumerate(s.dz)]
    dk, dx, db = s.backward(slip)
    return {"grad_output": slip, "grad_filter": dk, "grad_bias": db, "grad_input": dx,
            "updated_filter": s.sgd(s.k, dk), "updated_bias": s.sgd(s.b, db)}


#: code → the student's answers made with that mistake (full layout, the problem's shapes)
MADE: dict[str, Callable[[Layer], dict[str, Any]]] = {
    "kernel_not_rotated": _kernel_not_rotated,
    "true_convolution": _true_convolution,
    "mse_not_averaged": _mse_not_averaged,
    "missing_factor_two": _missing_factor_two,
    "wrong_sign": _wrong_sign,
    "stride_not_dilated": _stride_not_dilated,
    "bias_omitted": _bias_omitted,
    "bias_averaged": _bias_averaged,
    "transposed": _transposed,
    "carried_forward": _carried_forward,
}


def test_every_registered_mistake_is_made_here() -> None:
    assert set(MADE) | set(MADE_DILATED) == set(MISTAKES)


def diagnoses(solution: Solution, answers: dict[str, Any]) -> dict[str, tuple[str, str] | None]:
    report = mark(solution, read_answers(answers, solution))
    return {q.key: (q.diagnosis.code, q.diagnosis.message) if q.diagnosis else None
            for q in report.quantities if q.answered}


@pytest.mark.parametrize("code", CONTRACT_CODES)
def test_each_mistake_is_diagnosed(layer: Layer, code: str) -> None:
    answers = MADE[code](layer)
    found = diagnoses(layer.solution(), answers)
    # carried_forward rests on a slip in grad_output, which no mistake explains
    expected: dict[str, str | None] = {key: code for key in answers}
    if code == "carried_forward":
        expected["grad_output"] = None
    assert {key: d and d[0] for key, d in found.items()} == expected


#: the messages, word for word, for the stride-2 problem (default notation)
MESSAGES = {
    ("kernel_not_rotated", "grad_input"):
        "∂L/∂X was computed with the kernel as it is; the full convolution needs the kernel "
        "rotated by 180° (step: gradient with respect to the input).",
    ("true_convolution", "output"):
        "The forward pass flipped the kernel (a true convolution); a CNN layer computes the "
        "cross-correlation, with the kernel as it is (step: forward pass).",
    ("mse_not_averaged", "loss"):
        "The squared errors were summed instead of averaged over the output entries "
        "(step: loss).",
    ("missing_factor_two", "grad_output"):
        "∂L/∂Z is missing the factor 2 that comes from differentiating the square "
        "(step: gradient of the loss).",
    ("wrong_sign", "grad_output"):
        "∂L/∂Z was taken from (Y − Z) instead of (Z − Y) (step: gradient of the loss).",
    ("wrong_sign", "updated_filter"):
        "The update added α·∂L/∂K instead of subtracting it (step: update).",
    ("wrong_sign", "updated_bias"):
        "The update added α·∂L/∂B instead of subtracting it (step: update).",
    ("stride_not_dilated", "grad_filter"):
        "With a stride above 1, ∂L/∂Z must first be spread apart by inserting 1 zero between "
        "its rows and 1 zero between its columns; it was used as it is (step: zero insertion).",
    ("bias_omitted", "output"):
        "The bias was left out of the forward pass (step: forward pass).",
    ("bias_averaged", "grad_bias"):
        "∂L/∂B is the sum of ∂L/∂Z over the output positions, not their mean "
        "(step: gradient with respect to the bias).",
    ("transposed", "grad_filter"):
        "The matrix is right but transposed (rows and columns swapped).",
    ("carried_forward", "updated_bias"):
        "Right for your own grad_bias: this step was done correctly from the wrong grad_bias "
        "above, so it deserves method marks.",
    ("carried_forward", "grad_input"):
        "Right for your own grad_output: this step was done correctly from the wrong "
        "grad_output above, so it deserves method marks.",
}


@pytest.mark.parametrize(("code", "key"), sorted(MESSAGES))
def test_messages_word_for_word(layer: Layer, code: str, key: str) -> None:
    found = diagnoses(layer.solution(), MADE[code](layer))
    assert found[key] == (code, MESSAGES[code, key])


# --------------------------------------------------------------------------
# under dilation: the stride-2 problem with its kernel's taps 2 apart


class DilatedLayer(Layer):
    """The stride-2 problem with its kernel's taps spaced, solved naively; 5×5
    padded by 1 is 7×7, so a 3×3 kernel dilated by 2 spans 5: a 2×2 output."""

    def __init__(self, data: dict[str, Any], dilation: tuple[int, int] = (2, 2)) -> None:
        self.data, self.dilation = dict(data, dilation=list(dilation)), dilation
        self.x, self.k, self.b = fr(data["input"]), fr(data["filter"]), fr(data["bias"])
        self.y, self.lr = fr(data["target"]), fr(data["learning_rate"])
        self.stride, self.padding = (2, 2), (1, 1)
        self.z = naive_forward(self.x, self.k, self.b, self.stride, self.padding, self.dilation)
        self.dz = naive_grad_output(self.z, self.y, "mse")

    def backward_with(self, stride: tuple[int, int], dilation: tuple[int, int],
                      k: Any = None) -> tuple[Any, Any, Any]:
        return naive_backward(self.x, self.k if k is None else k, self.dz, stride,
                              self.padding, dilation)


#: code → the student's answers to the dilated problem made with that mistake
MADE_DILATED: dict[str, Callable[[DilatedLayer], dict[str, Any]]] = {
    # the taps side by side: the undilated kernel's backward pass
    "dilation_ignored": lambda s: dict(zip(("grad_filter", "grad_input"),
                                           s.backward_with((2, 2), (1, 1))[:2], strict=True)),
    "kernel_not_rotated": lambda s: {
        "grad_input": s.backward_with((2, 2), (2, 2), k=rot180(s.k))[1]},
    "stride_not_dilated": lambda s: dict(zip(("grad_filter", "grad_input"),
                                             s.backward_with((1, 1), (2, 2))[:2], strict=True)),
    "true_convolution": lambda s: {
        "output": naive_forward(s.x, rot180(s.k), s.b, s.stride, s.padding, s.dilation)},
    "bias_omitted": lambda s: {
        "output": naive_forward(s.x, s.k, None, s.stride, s.padding, s.dilation)},
}


@pytest.mark.parametrize("code", sorted(MADE_DILATED))
def test_mistakes_stay_apart_under_dilation(layer: Layer, code: str) -> None:
    dilated = DilatedLayer(dict(layer.data, target=[[[1, 0], [0, 3]], [[0, 1], [2, 0]]]))
    answers = MADE_DILATED[code](dilated)
    found = diagnoses(dilated.solution(), answers)
    assert {key: d and d[0] for key, d in found.items()} == {key: code for key in answers}


def test_dilation_ignored_message(layer: Layer) -> None:
    dilated = DilatedLayer(dict(layer.data, target=[[[1, 0, 2]] * 2, [[0, 1, 1]] * 2]),
                           dilation=(2, 1))
    found = diagnoses(dilated.solution(),
                      {"grad_filter": dilated.backward_with((2, 2), (1, 1))[0]})
    assert found["grad_filter"] == ("dilation_ignored", (
        "∂L/∂K was computed with the kernel's taps side by side; with dilation (2, 1) they "
        "lie 2 rows and 1 column apart (step: gradient with respect to the filter)."))


def test_stride_message_counts_each_axis(layer: Layer) -> None:
    """A stride of 1 down and 2 across: zeros between the columns only."""
    target = [[[0, 1, 0]] * 5, [[1, 0, 2]] * 5]
    data = dict(layer.data, stride=[1, 2], target=target)
    z = naive_forward(layer.x, layer.k, layer.b, (1, 2), layer.padding)
    dz = naive_grad_output(z, fr(target), "mse")
    unspread = naive_backward(layer.x, layer.k, dz, (1, 1), layer.padding)[1]
    found = diagnoses(solve(problem_from_data(data)), {"grad_input": unspread})
    assert found["grad_input"] == ("stride_not_dilated", (
        "With a stride above 1, ∂L/∂Z must first be spread apart by inserting 1 zero between "
        "its columns; it was used as it is (step: zero insertion)."))


# --------------------------------------------------------------------------
# precedence and names, in examples


def test_a_sign_mistake_wins_over_transposed() -> None:
    """dL/dZ with Gᵀ = −G: the negated answer is also the transposed one."""
    data = json.loads((SAMPLES / "seed000-filter-update.json").read_text(encoding="utf-8"))
    z = naive_forward([fr(data["input"])], [[fr(data["filter"])]], None, (1, 1), (0, 0))
    target = [[z[0][0][0], z[0][0][1] - 1], [z[0][1][0] + 1, z[0][1][1]]]
    dz = naive_grad_output(z, [target], "mse")[0]
    assert swap_last(dz) == scale(dz, Fraction(-1)) != dz
    solution = solve(problem_from_data(dict(data, target=target)))
    found = diagnoses(solution, {"grad_output": scale(dz, Fraction(-1))})
    assert found["grad_output"] is not None and found["grad_output"][0] == "wrong_sign"


def test_a_mistake_of_the_step_wins_over_follow_through(layer: Layer) -> None:
    """dL/dK with the wrong sign, then K + α·dL/dK: right for the student's own
    dL/dK, but that is the update with the wrong sign, and it is named so."""
    negated = scale(layer.dk, Fraction(-1))
    update = layer.sgd(layer.k, negated)
    assert update == layer.sgd(layer.k, layer.dk, sign=+1)
    found = diagnoses(layer.solution(), {"grad_filter": negated, "updated_filter": update})
    assert found["updated_filter"] is not None
    assert found["updated_filter"][0] == "wrong_sign"


def test_forward_mistakes_apply_to_conv_when_a_layer_follows() -> None:
    """With an activation and a pool, Z is the result's conv; output is the pool's."""
    data = json.loads((SAMPLES / "relu-maxpool.json").read_text(encoding="utf-8"))
    x, k, b = [fr(data["input"])], [[fr(data["filter"])]], [fr(data["bias"])]
    flipped = naive_forward(x, rot180(k), b, (1, 1), (0, 0))[0]
    solution = solve(problem_from_data(data))
    found = diagnoses(solution, {"conv": flipped})
    assert found["conv"] is not None and found["conv"][0] == "true_convolution"
    assert MISTAKES["true_convolution"].applies_to("conv", solution.problem)
    assert not MISTAKES["true_convolution"].applies_to("output", solution.problem)
    plain = solve(problem_from_data(json.loads(
        (SAMPLES / "seed000-filter-update.json").read_text(encoding="utf-8"))))
    assert MISTAKES["true_convolution"].applies_to("output", plain.problem)
