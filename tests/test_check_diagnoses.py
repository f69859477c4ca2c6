"""``cnnstep check``: each mistake of the format's diagnosis table, made on purpose, named.

Seed 000's and seed 002's fixture answers (whose numbers are first recomputed
with the naive oracle), the stride-2 problem's wrong answers built at test
time, the carried-forward follow-through, and layered problems.
"""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from check_helpers import (
    ANSWERS,
    S2_MISTAKES,
    SEED000,
    SEED002,
    STRIDE2,
    Layer,
    codes,
    given_in,
    kernel_not_rotated,
    problem_data,
    report_of,
    rot180,
    s2_mistakes,
    scale,
    scatter_input_gradient,
    seed000_2d,
    stride2_layer,
    stride_not_dilated_filter,
    stride_not_dilated_input,
    swap_last,
    write_answers,
)
from helpers import SAMPLES
from oracle import (
    flatten,
    fr,
    naive_backward,
    naive_forward,
    naive_grad_output,
    naive_loss,
    shape_of,
)


@pytest.fixture(scope="module")
def s2() -> Layer:
    return stride2_layer()


# --------------------------------------------------------------------------
# seed 000 and seed 002


def _seed000_mistakes() -> dict[str, dict[str, Any]]:
    """The fixture files' numbers, recomputed independently."""
    layer = Layer(SEED000)
    t = seed000_2d
    z_flipped = naive_forward(layer.x, rot180(layer.k), layer.b, layer.stride, layer.padding)
    slip = [[[layer.dz[0][0][0], layer.dz[0][0][1]], [-layer.dz[0][1][0], layer.dz[0][1][1]]]]
    slip_dk, slip_dx, _ = layer.backward(slip)
    chain_dz = naive_grad_output(z_flipped, layer.y, "mse")
    return {
        "seed000-kernel-not-rotated.json": {
            "grad_input": t(scatter_input_gradient(layer.x, rot180(layer.k), layer.dz,
                                                   layer.stride, layer.padding))},
        "seed000-true-convolution.json": {"output": t(z_flipped)},
        "seed000-mse-not-averaged.json": {
            "loss": naive_loss(layer.z, layer.y, "sse"),
            "grad_output": t(naive_grad_output(layer.z, layer.y, "sse"))},
        "seed000-missing-factor-two.json": {"grad_output": t(scale(layer.dz, Fraction(1, 2)))},
        "seed000-wrong-sign.json": {
            "grad_output": t(scale(layer.dz, Fraction(-1))),
            "updated_filter": t(layer.sgd(layer.k, layer.dk, sign=+1))},
        "seed000-transposed.json": {"grad_filter": swap_last(t(layer.dk)),
                                    "grad_input": swap_last(t(layer.dx))},
        "seed000-carried-forward.json": {
            "grad_output": t(slip), "grad_filter": t(slip_dk), "grad_input": t(slip_dx),
            "updated_filter": t(layer.sgd(layer.k, slip_dk))},
        "seed000-carried-chain.json": {
            "output": t(z_flipped), "loss": naive_loss(z_flipped, layer.y, "mse"),
            "grad_output": t(chain_dz)},
    }


SEED000_MISTAKES = {
    "seed000-kernel-not-rotated.json": {"grad_input": "kernel_not_rotated"},
    "seed000-true-convolution.json": {"output": "true_convolution"},
    "seed000-mse-not-averaged.json": {"loss": "mse_not_averaged",
                                      "grad_output": "mse_not_averaged"},
    "seed000-missing-factor-two.json": {"grad_output": "missing_factor_two"},
    "seed000-wrong-sign.json": {"grad_output": "wrong_sign", "updated_filter": "wrong_sign"},
    "seed000-transposed.json": {"grad_filter": "transposed", "grad_input": "transposed"},
    "seed000-carried-forward.json": {"grad_output": None, "grad_filter": "carried_forward",
                                     "grad_input": "carried_forward",
                                     "updated_filter": "carried_forward"},
    "seed000-carried-chain.json": {"output": "true_convolution", "loss": "carried_forward",
                                   "grad_output": "carried_forward"},
}


@pytest.mark.parametrize("name", sorted(SEED000_MISTAKES))
def test_seed000_fixture_holds_the_mistake(name: str) -> None:
    given = given_in(name)
    assert given == _seed000_mistakes()[name]


@pytest.mark.parametrize("name", sorted(SEED000_MISTAKES))
def test_seed000_mistake_is_diagnosed(name: str) -> None:
    status, report = report_of(SEED000, ANSWERS / name)
    assert status == 1
    assert report["correct"] is False
    assert codes(report) == SEED000_MISTAKES[name]
    for q in report["quantities"].values():
        if not q["answered"]:  # asked, not answered: no points, no diagnosis
            assert q["points"] == 0 and q["diagnosis"] is None and not q["mismatches"]
            continue
        assert q["correct"] is False and q["mismatches"]
        if q["diagnosis"] is not None:
            assert q["diagnosis"]["message"].strip()


def test_seed002_fixtures_hold_the_mistakes() -> None:
    layer = Layer(SEED002)
    z_plain = naive_forward(layer.x, layer.k, None, layer.stride, layer.padding)
    count = Fraction(len(flatten(layer.dz)))
    averaged = layer.db[0] / count
    assert given_in("seed002-bias-omitted.json") == {
        "output": seed000_2d(z_plain), "grad_bias": layer.db[0]}
    assert given_in("seed002-bias-averaged.json") == {
        "grad_bias": averaged, "updated_bias": layer.b[0] - layer.lr * averaged}
    assert given_in("seed002-wrong-sign-bias.json") == {
        "updated_bias": layer.b[0] + layer.lr * layer.db[0]}


@pytest.mark.parametrize(("name", "expected"), [
    ("seed002-bias-omitted.json", {"output": "bias_omitted", "grad_bias": None}),
    ("seed002-bias-averaged.json", {"grad_bias": "bias_averaged",
                                    "updated_bias": "carried_forward"}),
    ("seed002-wrong-sign-bias.json", {"updated_bias": "wrong_sign"}),
])
def test_bias_mistakes(name: str, expected: dict[str, str | None]) -> None:
    status, report = report_of(SEED002, ANSWERS / name)
    assert status == 1
    assert codes(report) == expected
    if name == "seed002-bias-omitted.json":
        assert report["quantities"]["grad_bias"]["correct"] is True
        assert report["score"]["right"] == 1 and report["score"]["answered"] == 5
    # a number bias gives number grad_bias and updated_bias: the index of a number is []
    for key in ("grad_bias", "updated_bias"):
        for miss in report["quantities"].get(key, {}).get("mismatches", []):
            assert miss["index"] == []


def test_bias_mistakes_in_half_sse(tmp_path: Path) -> None:
    """The other bias sample: bias "1/3", half_sse loss (no factor-two or averaging codes)."""
    layer = Layer(SAMPLES / "half-sse.json")
    z_plain = naive_forward(layer.x, layer.k, None, layer.stride, layer.padding)
    count = Fraction(len(flatten(layer.dz)))
    answers = write_answers(tmp_path / "a.json", {
        "output": seed000_2d(z_plain), "grad_bias": layer.db[0] / count})
    status, report = report_of(SAMPLES / "half-sse.json", answers)
    assert status == 1
    assert codes(report) == {"output": "bias_omitted", "grad_bias": "bias_averaged"}


# --------------------------------------------------------------------------
# the stride-2, padded, two-channel, two-filter problem


def test_stride_not_dilated_and_kernel_not_rotated_differ(s2: Layer) -> None:
    right = s2.dx
    unrotated, undilated = kernel_not_rotated(s2), stride_not_dilated_input(s2)
    # the two mistakes give different numbers, so each can get its own code
    assert unrotated != right and undilated != right and unrotated != undilated
    assert stride_not_dilated_filter(s2) != s2.dk


@pytest.mark.parametrize("mistake", S2_MISTAKES)
def test_stride2_mistake_is_diagnosed(s2: Layer, tmp_path: Path, mistake: str) -> None:
    answers, expected = s2_mistakes(s2)[mistake]
    path = write_answers(tmp_path / f"{mistake}.json", answers)
    status, report = report_of(STRIDE2, path)
    assert status == 1
    assert codes(report) == expected
    for key, q in report["quantities"].items():
        assert q["correct"] is False, key
        # full-rank indices, 0-based, inside the quantity's shape
        for miss in q["mismatches"]:
            assert len(miss["index"]) == len(shape_of(answers[key]))
            assert all(0 <= i < n for i, n in zip(miss["index"], shape_of(answers[key]),
                                                   strict=True))


def test_stride_not_dilated_message_counts_the_zeros(s2: Layer, tmp_path: Path) -> None:
    answers, _ = s2_mistakes(s2)["stride_not_dilated"]
    path = write_answers(tmp_path / "a.json", answers)
    _, report = report_of(STRIDE2, path)
    message = report["quantities"]["grad_input"]["diagnosis"]["message"]
    assert "stride" not in message.split("inserting", 1)[1].split("zero", 1)[0]
    assert re.search(r"inserting 1 zero", message), message


# --------------------------------------------------------------------------
# layered problems and uneven strides


RELU_MAXPOOL = SAMPLES / "relu-maxpool.json"


#: dL/dZ of the convolution in relu-maxpool (the result's grad_conv), with one slip:
#: [3][3] is 0.5 instead of 0
RELU_MAXPOOL_SLIPPED_GRAD_CONV = [[0, 0.375, -0.125, 0], [0, 0, 0, 0], [-0.25, 0, 0, 0.25],
                                  [0, 0, 0, 0.5]]


def test_layered_carried_forward_from_grad_conv(tmp_path: Path) -> None:
    data = problem_data(RELU_MAXPOOL)
    x, k = [fr(data["input"])], [[fr(data["filter"])]]
    slip = [fr(RELU_MAXPOOL_SLIPPED_GRAD_CONV)]
    dk, dx, db = naive_backward(x, k, slip, (1, 1), (0, 0))
    answers = write_answers(tmp_path / "a.json", {
        "grad_conv": slip[0], "grad_filter": dk[0][0], "grad_bias": db[0],
        "grad_input": dx[0]})
    status, report = report_of(RELU_MAXPOOL, answers)
    assert status == 1
    assert codes(report) == {"grad_conv": None, "grad_filter": "carried_forward",
                             "grad_bias": "carried_forward", "grad_input": "carried_forward"}


def test_layered_loss_carried_forward_from_output(tmp_path: Path) -> None:
    y = [fr(problem_data(RELU_MAXPOOL)["target"])]
    wrong_output = [[[Fraction(7, 4), Fraction(7, 4)], [Fraction(1, 2), Fraction(3, 2)]]]
    answers = write_answers(tmp_path / "a.json", {
        "output": wrong_output[0], "loss": naive_loss(wrong_output, y, "mse"),
        "grad_output": naive_grad_output(wrong_output, y, "mse")[0]})
    status, report = report_of(RELU_MAXPOOL, answers)
    assert status == 1
    assert codes(report) == {"output": None, "loss": "carried_forward",
                             "grad_output": "carried_forward"}


def test_stride_not_dilated_message_with_an_uneven_stride(tmp_path: Path) -> None:
    data = problem_data(STRIDE2)
    for key in ("target", "loss"):
        del data[key]
    data["stride"] = [1, 2]
    data["grad_output"] = [[[1, 2, 3]] * 5, [[0, -1, 2]] * 5]
    problem = tmp_path / "uneven.json"
    problem.write_text(json.dumps(data), encoding="utf-8")
    layer = Layer(problem)
    answers = write_answers(tmp_path / "a.json", {"grad_input": stride_not_dilated_input(layer)})
    status, report = report_of(problem, answers)
    assert status == 1
    diagnosis = report["quantities"]["grad_input"]["diagnosis"]
    assert diagnosis["code"] == "stride_not_dilated"
    assert "0 zeros" not in diagnosis["message"], diagnosis["message"]
