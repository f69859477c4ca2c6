"""The exact engine against an independent naive layer and against finite differences.

Every comparison is exact equality of Fractions. Problems are built through
``problem_from_data`` from user-shaped data whose numbers are spelled in every
accepted way (ints, "p/q", "0.25", Fraction, Decimal, float), so the loader
is exercised as well.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from helpers import Case, cases, to_lists
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import fr, naive_backward, naive_forward, naive_grad_output, naive_loss, strip_axes

from cnnstep import engine
from cnnstep.problem import problem_from_data
from cnnstep.quantities import RESULT_KEYS
from cnnstep.result import quantity, result

PROPERTY = settings.get_profile("layer")


def expected_solution(case: Case) -> dict[str, Any]:
    """Every quantity of the layer in the full layout, by the naive loops."""
    z = naive_forward(case.x, case.k, case.b, case.stride, case.padding)
    out: dict[str, Any] = {"output": z}
    if case.mode == "forward":
        return out
    if case.mode == "target":
        out["loss"] = naive_loss(z, case.y, case.loss)
        dz = naive_grad_output(z, case.y, case.loss)
    else:
        dz = case.g
    dk, dx, db = naive_backward(case.x, case.k, dz, case.stride, case.padding)
    out.update(grad_output=dz, grad_filter=dk, grad_input=dx)
    if case.b is not None:
        out["grad_bias"] = db
    if case.lr is not None:
        lr = case.lr
        out["updated_filter"] = [
            [[[kv - lr * gv for kv, gv in zip(kr, gr, strict=True)]
              for kr, gr in zip(kc, gc, strict=True)]
             for kc, gc in zip(kf, gf, strict=True)]
            for kf, gf in zip(case.k, dk, strict=True)
        ]
        if case.b is not None:
            out["updated_bias"] = [bv - lr * gv for bv, gv in zip(case.b, db, strict=True)]
    return out


def in_user_shape(case: Case, key: str, full: Any) -> Any:
    """What ``result()`` should give for a quantity, in the rank the user wrote."""
    if key == "loss":
        return full
    if key in ("output", "grad_output"):
        return strip_axes(full, 3 - case.output_rank)
    if key in ("grad_filter", "updated_filter"):
        return strip_axes(full, 4 - case.filter_rank)
    if key == "grad_input":
        return strip_axes(full, 3 - case.input_rank)
    if key in ("grad_bias", "updated_bias"):
        return full[0] if case.bias_is_number else full
    raise KeyError(key)


@PROPERTY
@given(case=cases())
def test_engine_equals_naive_layer(case: Case) -> None:
    problem = problem_from_data(case.data)
    solution = engine.solve(problem)
    expected = expected_solution(case)

    assert to_lists(solution.conv) == expected["output"]
    for key in RESULT_KEYS[1:]:
        got = quantity(solution, key)
        if key in expected:
            assert got is not None, key
            assert to_lists(got) == expected[key], key
        else:
            assert got is None, key


@PROPERTY
@given(case=cases())
def test_result_is_in_the_users_shapes(case: Case) -> None:
    """result(): exactly the keys the format lists, each in the user's own rank."""
    values = result(engine.solve(problem_from_data(case.data)))
    expected = expected_solution(case)
    assert set(values) == set(expected)
    for key, full in expected.items():
        assert values[key] == in_user_shape(case, key, full), key
    for value in values.values():
        for item in np.asarray(value, dtype=object).flat:
            assert type(item) is Fraction


def _loss(case: Case, **change: Any) -> Fraction:
    loss = engine.solve(problem_from_data(case.full_data(**change))).loss
    assert loss is not None
    return loss


def _nudged(array: Any, index: tuple[int, ...], delta: Fraction) -> Any:
    copy = fr(array)
    target = copy
    for i in index[:-1]:
        target = target[i]
    target[index[-1]] += delta
    return copy


def _index(data: st.DataObject, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(data.draw(st.integers(0, n - 1)) for n in shape)


@settings(settings.get_profile("layer"))
@given(case=cases(modes=("target",), max_side=5), data=st.data(),
       h=st.sampled_from([Fraction(1), Fraction(1, 2), Fraction(3, 7), Fraction(-5, 3)]))
def test_gradients_equal_exact_central_differences(
    case: Case, data: st.DataObject, h: Fraction
) -> None:
    """L is quadratic in any single weight, so (L(w+h) − L(w−h))/2h is dL/dw exactly."""
    solution = engine.solve(problem_from_data(case.data))
    assert solution.grad_filter is not None and solution.grad_input is not None
    grad_filter, grad_input = to_lists(solution.grad_filter), to_lists(solution.grad_input)

    k_shape = (len(case.k), len(case.k[0]), len(case.k[0][0]), len(case.k[0][0][0]))
    for _ in range(3):
        index = _index(data, k_shape)
        slope = (_loss(case, k=_nudged(case.k, index, h))
                 - _loss(case, k=_nudged(case.k, index, -h))) / (2 * h)
        assert slope == grad_filter[index[0]][index[1]][index[2]][index[3]], ("K", index)

    x_shape = (len(case.x), len(case.x[0]), len(case.x[0][0]))
    for _ in range(3):
        index = _index(data, x_shape)
        slope = (_loss(case, x=_nudged(case.x, index, h))
                 - _loss(case, x=_nudged(case.x, index, -h))) / (2 * h)
        assert slope == grad_input[index[0]][index[1]][index[2]], ("X", index)

    if case.b is not None:
        assert solution.grad_bias is not None
        for f in range(len(case.b)):
            slope = (_loss(case, b=_nudged(case.b, (f,), h))
                     - _loss(case, b=_nudged(case.b, (f,), -h))) / (2 * h)
            assert slope == solution.grad_bias[f], ("B", f)


@PROPERTY
@given(case=cases(modes=("target", "grad_output")))
def test_sgd_update_is_weights_minus_rate_times_gradient(case: Case) -> None:
    solution = engine.solve(problem_from_data(case.data))
    assert solution.grad_filter is not None
    if case.lr is None:
        assert solution.updated_filter is None and solution.updated_bias is None
        return
    k = np.asarray(case.k, dtype=object)
    assert to_lists(solution.updated_filter) == to_lists(k - case.lr * solution.grad_filter)
    if case.b is None:
        assert solution.updated_bias is None
    else:
        assert solution.grad_bias is not None
        assert to_lists(solution.updated_bias) == [
            b - case.lr * g for b, g in zip(case.b, solution.grad_bias, strict=True)
        ]


@PROPERTY
@given(case=cases(modes=("grad_output",)))
def test_given_grad_output_is_used_as_is(case: Case) -> None:
    solution = engine.solve(problem_from_data(case.data))
    assert solution.loss is None
    assert to_lists(solution.grad_output) == case.g
    assert "loss" not in result(solution)


@PROPERTY
@given(case=cases(modes=("target",)))
def test_intermediate_steps_have_the_taught_shapes(case: Case) -> None:
    """Zero-inserted dL/dZ, its kernel−1 padding, and dL/dXpad before cropping."""
    problem = problem_from_data(case.data)
    solution = engine.solve(problem)
    filters, channels = len(case.k), len(case.x)
    kh, kw = len(case.k[0][0]), len(case.k[0][0][0])
    (sh, sw), (ph, pw) = case.stride, case.padding
    hp, wp = len(case.x[0]) + 2 * ph, len(case.x[0][0]) + 2 * pw
    oh, ow = problem.output_size
    assert solution.padded_input.shape == (channels, hp, wp)
    assert solution.conv.shape == (filters, oh, ow)
    spread = solution.spread_grad
    assert spread is not None
    assert spread.shape == (filters, (oh - 1) * sh + 1, (ow - 1) * sw + 1)
    assert to_lists(spread[:, ::sh, ::sw]) == to_lists(solution.grad_output)
    inserted = np.ones(spread.shape, dtype=bool)
    inserted[:, ::sh, ::sw] = False
    assert all(v == 0 for v in spread[inserted])
    assert solution.padded_grad is not None
    assert solution.padded_grad.shape == (filters, spread.shape[1] + 2 * (kh - 1),
                                          spread.shape[2] + 2 * (kw - 1))
    assert solution.rotated_filter is not None
    assert to_lists(solution.rotated_filter) == [
        [[row[::-1] for row in channel[::-1]] for channel in f] for f in case.k
    ]
    assert solution.grad_padded_input is not None
    assert solution.grad_padded_input.shape == (channels, hp, wp)
    assert to_lists(solution.grad_padded_input[:, ph : ph + hp - 2 * ph, pw : pw + wp - 2 * pw]
                    ) == to_lists(solution.grad_input)


# --------------------------------------------------------------------------
# the engine's building blocks, by hand


def arr(values: Any) -> Any:
    return engine.fractions(values)


def test_pad_adds_zeros_on_each_side() -> None:
    x = arr([[[1, 2], [3, 4]]])
    assert to_lists(engine.pad(x, (1, 0))) == [[[0, 0], [1, 2], [3, 4], [0, 0]]]
    assert to_lists(engine.pad(x, (0, 2))) == [[[0, 0, 1, 2, 0, 0], [0, 0, 3, 4, 0, 0]]]
    assert to_lists(engine.crop(engine.pad(x, (2, 1)), (2, 1))) == to_lists(x)


def test_dilate_inserts_stride_minus_one_zeros() -> None:
    g = arr([[[1, 2], [3, 4]]])
    assert to_lists(engine.insert_zeros(g, (1, 1))) == [[[1, 2], [3, 4]]]
    assert to_lists(engine.insert_zeros(g, (2, 3))) == [
        [[1, 0, 0, 2], [0, 0, 0, 0], [3, 0, 0, 4]]
    ]


def test_rotate180_flips_both_axes() -> None:
    k = arr([[[[1, 2, 3], [4, 5, 6]]]])
    assert to_lists(engine.rotate180(k)) == [[[[6, 5, 4], [3, 2, 1]]]]


def test_correlate_by_hand() -> None:
    x = arr([[[1, 2, 3], [4, 5, 6], [7, 8, 9]], [[1, 0, 0], [0, 1, 0], [0, 0, 1]]])
    k = arr([[[[1, 0], [0, -1]], [[2, 0], [0, 0]]], [[[0, 1], [0, 0]], [[0, 0], [0, 3]]]])
    # f0: x0[i][j] − x0[i+1][j+1] + 2·x1[i][j];  f1: x0[i][j+1] + 3·x1[i+1][j+1]
    assert to_lists(engine.correlate(x, k)) == [
        [[-4 + 2, -4], [-4, -4 + 2]],
        [[2 + 3, 3], [5, 6 + 3]],
    ]
    assert to_lists(engine.correlate(x, k, (2, 2))) == [[[-2]], [[5]]]


def test_correlate_is_exact_for_fractions_and_huge_values() -> None:
    x = arr([[[Fraction(1, 3), Fraction(10**40)], [Fraction(-2, 7), Fraction(1, 10**30)]]])
    k = arr([[[[Fraction(3), Fraction(1, 10**40)], [Fraction(7, 2), Fraction(10**30)]]]])
    assert to_lists(engine.correlate(x, k)) == [[[Fraction(1) + 1 - 1 + 1]]]


def test_unreached_rows_and_columns_get_zero_gradient() -> None:
    # H = W = 5, kernel 2, stride 3: windows start at 0 and 3, row/col 2 is never read
    problem = problem_from_data({
        "input": [[1] * 5] * 5, "filter": [[1, 2], [3, 4]], "stride": 3,
        "grad_output": [[1, 10], [100, 1000]],
    })
    solution = engine.solve(problem)
    assert to_lists(solution.grad_input) == fr([[
        [1, 2, 0, 10, 20],
        [3, 4, 0, 30, 40],
        [0, 0, 0, 0, 0],
        [100, 200, 0, 1000, 2000],
        [300, 400, 0, 3000, 4000],
    ]])
    # H = W = 5, kernel 2, stride 2: the last row and column are never read
    problem = problem_from_data({
        "input": [[1] * 5] * 5, "filter": [[1, 2], [3, 4]], "stride": 2,
        "grad_output": [[1, 1], [1, 1]],
    })
    solution = engine.solve(problem)
    assert to_lists(solution.grad_input) == fr([[
        [1, 2, 1, 2, 0], [3, 4, 3, 4, 0], [1, 2, 1, 2, 0], [3, 4, 3, 4, 0], [0, 0, 0, 0, 0],
    ]])
    assert solution.grad_padded_input is not None
    assert solution.grad_padded_input.shape == (1, 5, 5)


@pytest.mark.parametrize(
    ("loss", "value", "gradient"),
    [
        ("mse", Fraction(1 + 9, 2), [[[1, -3]]]),
        ("sse", Fraction(10), [[[2, -6]]]),
        ("half_sse", Fraction(5), [[[1, -3]]]),
    ],
)
def test_losses_by_hand(loss: str, value: Fraction, gradient: Any) -> None:
    # output [[2, 3]] against target [[1, 6]]: errors 1 and −3
    problem = problem_from_data({
        "input": [[2, 3]], "filter": [[1]], "target": [[1, 6]], "loss": loss,
    })
    solution = engine.solve(problem)
    assert solution.loss == value
    assert to_lists(solution.grad_output) == fr(gradient)


def test_mse_averages_over_every_filter_and_position() -> None:
    problem = problem_from_data({
        "input": [[1, 2]], "filter": [[[[1]]], [[[2]]]],
        "target": [[[0, 0]], [[0, 0]]],
    })
    solution = engine.solve(problem)
    assert solution.loss == Fraction(1 + 4 + 4 + 16, 4)
    assert to_lists(solution.grad_output) == fr([[["1/2", 1]], [[1, 2]]])


def test_solution_arrays_are_read_only() -> None:
    solution = engine.solve(problem_from_data({
        "input": [[1, 2], [3, 4]], "filter": [[1]], "bias": 1, "target": [[0, 0], [0, 0]],
        "learning_rate": "0.5",
    }))
    for name in ("output", "grad_output", "grad_filter", "grad_input", "grad_bias",
                 "updated_filter", "updated_bias"):
        array = getattr(solution, name)
        assert not array.flags.writeable, name
