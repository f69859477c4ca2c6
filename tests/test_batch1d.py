"""A batch of 1-D signals: an input [N][C][L] with ``"dimensions": 1``.

Every result key keeps the image axis first and never the row a signal is held in;
the numbers are checked against the naive loops of oracle.naive_nd signal by signal
(the loss over the whole batch worked out here) and against PyTorch's conv1d on
[N, C, L] in float64 autograd, and the refusals stay one line.
"""

from __future__ import annotations

import json
from fractions import Fraction
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from helpers import DYADIC, _grid, assert_one_line_error, engine_result, invoke, stringified
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import assert_close, assert_exact, flatten, floats, fr, naive_nd, nest, shape_of

from cnnstep.derivation import derive
from cnnstep.engine import solve
from cnnstep.problem import problem_from_data
from cnnstep.render import Options, renderer
from cnnstep.verify import verify

PROPERTY = settings(max_examples=20, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
#: PyTorch's autograd costs more per example than the loops
TORCH = settings(PROPERTY, max_examples=10)

SAMPLE: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "cnnstep" / "samples" / "batch-signals.json").read_text())


@st.composite
def signal_batches(draw: Any, layered: bool = False) -> dict[str, Any]:
    """A random batch of 1 to 3 signals: one or two channels and filters, a stride,
    a padding and a dilation, a bias sometimes, a target (any loss) or a given dL/dZ;
    ``layered`` adds a ReLU and a max pool sometimes."""
    images, channels, filters = (draw(st.integers(1, 3)), draw(st.integers(1, 2)),
                                 draw(st.integers(1, 2)))
    taps, padding = draw(st.integers(1, 3)), draw(st.integers(0, 1))
    stride, dilation = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    span = dilation * (taps - 1) + 1
    length = draw(st.integers(max(1, span - 2 * padding), span + 3))
    out = (length + 2 * padding - span) // stride + 1
    filter_rank = 3 if filters > 1 else draw(st.sampled_from([2, 3] if channels > 1
                                                             else [1, 2, 3]))
    kernel = _grid(draw, DYADIC, (filters, channels, taps))
    for _ in range(3 - filter_rank):
        kernel = kernel[0]
    data: dict[str, Any] = {
        "dimensions": 1, "input": _grid(draw, DYADIC, (images, channels, length)),
        "filter": kernel, "stride": stride, "padding": padding, "dilation": dilation,
    }
    if draw(st.booleans()):
        data["bias"] = (draw(DYADIC) if filters == 1 and draw(st.booleans())
                        else draw(st.lists(DYADIC, min_size=filters, max_size=filters)))
    if layered and draw(st.booleans()):
        data["activation"] = "relu"
    if layered and out >= 2 and draw(st.booleans()):
        data["pool"] = {"type": "max", "size": 2, "stride": 1}
        out -= 1
    shape = (images, filters, out) if filter_rank == 3 else (images, out)
    if draw(st.booleans()):
        data["target"] = _grid(draw, DYADIC, shape)
        data["loss"] = draw(st.sampled_from(["mse", "sse", "half_sse"]))
        data["learning_rate"] = "1/4"
    elif draw(st.booleans()):
        data["grad_output"] = _grid(draw, DYADIC, shape)
    return stringified(data)



def naive_signals(data: dict[str, Any]) -> dict[str, Any]:
    """Every result key of a batch of signals by oracle.naive_nd, one signal at a time:
    a forward pass of each, dL/dZ of the loss over all N·F·L_out entries (mse divides
    by all of them, sse and half_sse add them up), a backward pass of each with that
    dL/dZ, and the weights' gradients and the loss summed over the signals."""
    shared = {key: value for key, value in data.items()
              if key not in ("input", "target", "grad_output", "loss", "learning_rate")}
    signals = data["input"]
    outputs = [naive_nd({**shared, "input": x})["output"] for x in signals]
    count = len(signals) * len(flatten(outputs[0]))
    out: dict[str, Any] = {"output": outputs}
    if "target" in data:
        loss = data.get("loss", "mse")
        factor = {"mse": Fraction(2, count), "sse": Fraction(2), "half_sse": Fraction(1)}[loss]
        grads, total = [], Fraction(0)
        for z, y in zip(outputs, fr(data["target"]), strict=True):
            errors = [a - b for a, b in zip(flatten(z), flatten(y), strict=True)]
            squares = sum((e * e for e in errors), Fraction(0))
            total += {"mse": squares / count, "sse": squares, "half_sse": squares / 2}[loss]
            grads.append(nest([factor * e for e in errors], shape_of(z)))
        out["loss"] = total
    elif "grad_output" in data:
        grads = fr(data["grad_output"])
    else:
        return out
    backs = [naive_nd({**shared, "input": x, "grad_output": g})
             for x, g in zip(signals, grads, strict=True)]
    out["grad_output"] = grads
    out["grad_input"] = [back["grad_input"] for back in backs]
    for key in ("grad_filter", "grad_bias"):
        if key in backs[0]:
            first = backs[0][key]
            parts = [flatten(back[key]) if isinstance(first, list) else [back[key]]
                     for back in backs]
            sums = [sum(values, Fraction(0)) for values in zip(*parts, strict=True)]
            out[key] = nest(sums, shape_of(first)) if isinstance(first, list) else sums[0]
    if "learning_rate" in data and "target" in data:
        rate = fr(data["learning_rate"])
        kernel = fr(data["filter"])
        out["updated_filter"] = nest([w - rate * d for w, d in zip(
            flatten(kernel), flatten(out["grad_filter"]), strict=True)], shape_of(kernel))
        if "bias" in data:
            bias = fr(data["bias"])
            if isinstance(bias, list):
                out["updated_bias"] = [w - rate * d for w, d in
                                       zip(bias, out["grad_bias"], strict=True)]
            else:
                out["updated_bias"] = bias - rate * out["grad_bias"]
    return out


@PROPERTY
@given(signal_batches())
def test_a_batch_of_signals_matches_the_naive_loops(data: dict[str, Any]) -> None:
    got = engine_result(problem_from_data(data))
    want = naive_signals(data)
    assert set(got) == set(want)
    for key, value in got.items():
        assert_exact(value, want[key], key)


def torch_signals(torch: Any, data: dict[str, Any]) -> dict[str, Any]:
    """The batch by PyTorch float64 autograd: conv1d on [N, C, L], then relu and
    max_pool1d, and mse_loss over all entries (reduction "mean"), the summed squares,
    or half that."""
    functional = torch.nn.functional

    def tensor(values: Any, grad: bool = False) -> Any:
        return torch.tensor(floats(values), dtype=torch.float64).requires_grad_(grad)

    x = tensor(fr(data["input"]), grad=True)
    kernel = fr(data["filter"])
    rank = len(shape_of(kernel))
    k = tensor(kernel, grad=True)
    k3 = k.reshape((1,) * (3 - rank) + tuple(k.shape))
    bias = data.get("bias")
    b = None
    if bias is not None:
        b = tensor(fr(bias) if isinstance(bias, list) else [fr(bias)], grad=True)
    z = functional.conv1d(x, k3, b, stride=data["stride"], padding=data["padding"],
                          dilation=data["dilation"])
    last = functional.relu(z) if "activation" in data else z
    if "pool" in data:
        last = functional.max_pool1d(last, 2, 1)
    shown = last[:, 0] if rank < 3 else last  # one filter without its axis
    out: dict[str, Any] = {"output": shown}
    if "target" in data:
        y = tensor(fr(data["target"]))
        loss = {"mse": lambda: functional.mse_loss(shown, y, reduction="mean"),
                "sse": lambda: functional.mse_loss(shown, y, reduction="sum"),
                "half_sse": lambda: functional.mse_loss(shown, y, reduction="sum") / 2,
                }[data["loss"]]()
        loss.backward()
        out["loss"] = loss.item()
    elif "grad_output" in data:
        shown.backward(tensor(fr(data["grad_output"])))
    else:
        return {key: value.detach().tolist() for key, value in out.items()}
    out["grad_filter"] = k.grad
    out["grad_input"] = x.grad
    if b is not None:
        out["grad_bias"] = b.grad if isinstance(bias, list) else b.grad[0]
    return {key: value if isinstance(value, float) else value.detach().tolist()
            for key, value in out.items()}


@pytest.mark.skipif(find_spec("torch") is None,
                    reason="PyTorch is not installed; the float64 autograd oracle is skipped")
@TORCH
@given(signal_batches(layered=True))
def test_a_batch_of_signals_matches_torch_conv1d(data: dict[str, Any]) -> None:
    import torch

    torch.set_num_threads(1)
    got = engine_result(problem_from_data(data))
    want = torch_signals(torch, data)
    for key, value in want.items():
        assert_close(got[key], value, key)


@PROPERTY
@given(signal_batches(layered=True))
def test_the_integer_path_of_a_batch_of_signals_matches_the_fraction_path(
        data: dict[str, Any]) -> None:
    from cnnstep.result import result, scaled_result

    loaded = problem_from_data(data)
    scaled = scaled_result(loaded)
    full = result(solve(loaded))
    assert scaled is not None and set(scaled) == set(full)
    for key, value in scaled.items():
        if isinstance(value, Fraction):
            assert value == full[key], key
        else:
            assert value.fractions.tolist() == full[key], key


def test_the_sample_by_hand() -> None:
    """Two signals of 6 through k = [1, 0, −1] with B = 1/2 and stride 2:
    Zᵢ = X₂ᵢ₋₁ − X₂ᵢ₊₁ + 1/2; mse over all 2·2 entries, dL/dZ = (Z − Y)/2."""
    got = engine_result(problem_from_data(SAMPLE))
    assert got["output"] == [[Fraction(-1, 2), Fraction(5, 2)],
                             [Fraction(-1, 2), Fraction(-3, 2)]]
    assert got["loss"] == (Fraction(1, 4) + Fraction(9, 4) + Fraction(9, 4) + Fraction(1, 4)) / 4
    assert got["grad_output"] == [[Fraction(-1, 4), Fraction(3, 4)],
                                  [Fraction(-3, 4), Fraction(-1, 4)]]
    # dL/dK₁ = Σₙ Σᵢ dL/dZᵢ⁽ⁿ⁾·X₂ᵢ₋₁⁽ⁿ⁾ = (−1/4·2 + 3/4·3) + (−3/4·0 − 1/4·1)
    assert got["grad_filter"] == [Fraction(3, 2), Fraction(-2), Fraction(-3, 2)]
    assert got["grad_input"] == [[[Fraction(-1, 4), 0, 1, 0, Fraction(-3, 4), 0]],
                                 [[Fraction(-3, 4), 0, Fraction(1, 2), 0, Fraction(1, 4), 0]]]


def test_the_verifier_checks_a_batch_of_signals() -> None:
    checks = verify(problem_from_data(SAMPLE))
    assert [check.key for check in checks] == ["output", "loss", "grad_filter", "grad_bias",
                                               "grad_input"]
    assert all(check.ok for check in checks)
    assert checks[-1].entries == 2 * 6


def test_training_a_batch_of_signals_uses_the_same_signals_each_step() -> None:
    from cnnstep.training import train

    data = {**SAMPLE, "steps": 2}
    trained = train(problem_from_data(data))
    first = trained.history[0]
    step_two = naive_signals({**SAMPLE, "filter": [str(v) for v in first[1:4]],
                              "bias": str(first[4]), "padding": 0, "dilation": 1})
    assert trained.history[1][0] == step_two["loss"]
    assert all(check.ok for check in verify(problem_from_data(data)))


def _text(data: dict[str, Any], **options: Any) -> str:
    return renderer("text").derivation(derive(solve(problem_from_data(data)), **options),
                                       Options(width=200))


def test_the_derivation_works_each_signal_in_one_index_then_the_sum() -> None:
    text = _text(SAMPLE)
    assert "a batch of 2 signals" in text
    assert "Forward pass (signal 2)" in text and "Sum over the batch" in text
    assert "Z₂ = X₃×K₁ + X₄×K₂ + X₅×K₃ + B" in text  # one index, no row
    assert "∂L/∂K₁ = ∂L/∂K₁⁽¹⁾ + ∂L/∂K₁⁽²⁾" in text
    assert "each squared error counts 1/4" in text


def test_an_entry_of_one_signal_is_selected_with_the_image_axis() -> None:
    text = _text(SAMPLE, only=["grad_input[1][0][3]"])
    assert "(signal 2)" in text and "(signal 1)" not in text


def _report(tmp_path: Path, problem: dict[str, Any], answers: dict[str, Any],
            *more: str) -> Any:
    files = tmp_path / "p.json", tmp_path / "a.json"
    files[0].write_text(json.dumps(problem))
    files[1].write_text(json.dumps(answers))
    return invoke("check", *files, *more)


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return str(value)


def test_check_marks_a_batch_of_signals_and_diagnoses_it(tmp_path: Path) -> None:
    """Right outputs in [N][L_out]; dL/dX with the kernel not reversed, in both
    signals; a dL/dZ without its factor 2."""
    right = naive_signals(SAMPLE)
    reversed_kernel = {key: value for key, value in SAMPLE.items()
                       if key not in ("target", "learning_rate", "loss")}
    reversed_kernel["filter"] = SAMPLE["filter"][::-1]
    reversed_kernel["grad_output"] = _plain(right["grad_output"])
    unrotated = naive_signals(reversed_kernel)["grad_input"]
    half = [[str(v / 2) for v in signal] for signal in right["grad_output"]]
    answers = {"output": _plain(right["output"]), "grad_input": _plain(unrotated),
               "grad_output": half}
    run = _report(tmp_path, SAMPLE, answers, "--format", "json")
    marked = json.loads(run.stdout)["quantities"]
    assert marked["output"]["correct"]
    assert marked["grad_output"]["diagnosis"]["code"] == "missing_factor_two"
    assert marked["grad_input"]["diagnosis"]["code"] == "kernel_not_rotated"


BAD = {
    "target-signals": ({"target": [[0, 1]]}, ("target", "[2][2]", "[1][2]", "signals")),
    "target-rank": ({"target": [0, 1]}, ("target", "2-D or a 3-D")),
    "target-ragged": ({"target": [[0, 1], [1]]}, ("target", "signal 2 has 1 entry")),
    "grad-output-length": ({"grad_output": [[1, 2, 3], [3, 4, 5]]},
                           ("grad_output", "[2][2]", "[2][3]")),
    "signal-lengths": ({"input": [[[1, 2, 3, 4, 5]], [[1, 2, 3]]]},
                       ("input", "signal 2 is 1×3", "signal 1 is 1×5")),
    "channels": ({"input": [[[1, 2, 3], [4, 5, 6]]] * 2, "filter": [[1, 0]]},
                 ("filter", "input has 2")),
    "five-axes": ({"input": [[[[1, 2, 3]]]]}, ("dimensions", "input", "[N][C][L]", "4-D")),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_batch_of_signals_is_one_line(tmp_path: Path, case: str) -> None:
    change, needles = BAD[case]
    data = {key: value for key, value in SAMPLE.items() if key != "target"}
    data.pop("learning_rate")
    data.pop("loss")
    path = tmp_path / "p.json"
    path.write_text(json.dumps({**data, **change}))
    assert_one_line_error(invoke("solve", path, "--format", "json"), *needles)


def test_the_user_indices_of_a_batch_of_signals_drop_the_row_and_keep_the_image() -> None:
    import numpy as np

    from cnnstep.quantities import full_index, full_shape, user_index, user_shape

    layer = problem_from_data(SAMPLE).layer
    wanted = {"grad_input": (2, 1, 6), "output": (2, 2),
              "grad_output": (2, 2), "grad_filter": (3,), "loss": ()}
    for key, shape in wanted.items():
        full = full_shape(key, layer)
        assert user_shape(key, np.zeros(full), layer.layout).shape == shape, key
        for index in np.ndindex(*full):
            mine = user_index(key, index, layer.layout)
            assert len(mine) == len(shape), (key, index)
            assert full_index(key, mine, full, layer.layout) == index, (key, index)


def test_a_long_batch_of_signals_read_in_bulk_is_the_one_read_entry_by_entry(
        tmp_path: Path) -> None:
    from cnnstep.exact import Scaled
    from cnnstep.problem import BULK_LEAST, load_problem

    length = BULK_LEAST // 2 + 3
    data = {"dimensions": 1, "filter": [1, 0, -1],
            "input": [[[(i * 7 + n) % 5 - 2 for i in range(length)]] for n in range(2)],
            "target": [[(i + n) % 3 for i in range(length - 2)] for n in range(2)]}
    path = tmp_path / "long.json"
    path.write_text(json.dumps(data))
    bulk, plain = load_problem(path), problem_from_data(data)
    assert isinstance(bulk.exact_input.given, Scaled)  # read straight from the text
    assert bulk.layout == plain.layout and plain.batch == 2
    for name in ("exact_input", "exact_target"):
        assert (getattr(bulk, name).fractions == getattr(plain, name).fractions).all(), name
