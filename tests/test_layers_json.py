"""Activation and pooling after the convolution: the JSON result through the CLI.

Keys, shapes and values against the naive oracle; exact literals where the
layers are exact, correctly rounded ones (at most 17 significant digits)
where sigmoid or tanh makes them approximate.
"""

from __future__ import annotations

import json
import math
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    FLOAT_PROBLEMS,
    LAYER_SAMPLES,
    SAMPLES,
    engine_result,
    invoke,
    layer_sample,
    literal_value,
    significant_digits,
)
from oracle import (
    RESULT_KEYS,
    expected_keys,
    flatten,
    naive_layer,
    shape_of,
    spec_from_data,
    user_shaped,
)

from cnnstep.problem import problem_from_data
from cnnstep.quantities import approximate_keys


def cli_json(path: str) -> tuple[dict[str, Any], str]:
    run = invoke("solve", path, "--format", "json")
    assert run.returncode == 0, run.stderr
    literals = json.loads(run.stdout, parse_float=str, parse_int=str)
    return literals, run.stdout


def _literals(value: Any) -> list[str]:
    return [str(v) for v in flatten(value)]


@pytest.mark.parametrize("name", LAYER_SAMPLES)
def test_json_keys_shapes_and_values(name: str) -> None:
    _, spec = layer_sample(name)
    literals, _ = cli_json(str(SAMPLES / f"{name}.json"))
    assert set(literals) == expected_keys(spec)
    assert list(literals) == [key for key in RESULT_KEYS if key in literals]
    want = naive_layer(spec)
    for key, value in literals.items():
        expected = user_shaped(key, want[key], spec)
        assert shape_of(value) == shape_of(expected), key
        for i, (literal, exact) in enumerate(zip(_literals(value), flatten(expected),
                                                 strict=True)):
            assert significant_digits(literal) <= 17, (key, i, literal)
            if isinstance(exact, Fraction):
                assert literal_value(literal) == exact, (key, i, literal, exact)
            else:
                assert math.isclose(float(literal), exact, rel_tol=1e-9, abs_tol=1e-12), (
                    key, i, literal, exact)


def test_json_shapes_follow_the_user() -> None:
    """seed003 gives a [C][H][W] input and a [C][kh][kw] filter: one 2-D output."""
    literals, _ = cli_json(str(SAMPLES / "seed003-rgb-edge-maxpool.json"))
    assert shape_of(literals["conv"]) == (4, 4)
    assert shape_of(literals["output"]) == shape_of(literals["pooled"]) == (2, 2)
    assert shape_of(literals["grad_filter"]) == (3, 3, 3)
    assert shape_of(literals["grad_input"]) == (3, 6, 6)
    literals, _ = cli_json(str(SAMPLES / "relu-maxpool.json"))
    assert isinstance(literals["grad_bias"], str)  # a number bias gives a number
    assert isinstance(literals["updated_bias"], str)


def _approximate_json_check(path: Path, data: dict[str, Any]) -> None:
    spec = spec_from_data(data)
    literals, _ = cli_json(str(path))
    exact = engine_result(problem_from_data(data))
    approx = approximate_keys(problem_from_data(data))
    want = naive_layer(spec)
    assert set(literals) == expected_keys(spec)
    for key, value in literals.items():
        for literal, value_exact, naive in zip(_literals(value), flatten(exact[key]),
                                               flatten(user_shaped(key, want[key], spec)),
                                               strict=True):
            assert significant_digits(literal) <= 17, (key, literal)
            assert re.fullmatch(r"-?\d+(\.\d+)?(e-?\d+)?", literal), (key, literal)
            if key in approx and value_exact:
                # correctly rounded to 17 significant digits: within one unit of the 17th
                assert abs(literal_value(literal) - value_exact) <= abs(value_exact) * Fraction(
                    1, 10**16), (key, literal)
            else:
                assert literal_value(literal) == value_exact, (key, literal)
            assert math.isclose(float(literal), float(naive), rel_tol=1e-9, abs_tol=1e-12)


def test_json_sigmoid_sample_is_rounded_not_expanded() -> None:
    path = SAMPLES / "sigmoid-half-sse.json"
    literals, text = cli_json(str(path))
    # no long exact binary expansion: at most 17 significant digits in any number
    numbers = re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", text)
    assert numbers and max(significant_digits(n) for n in numbers) <= 17
    assert literals["conv"] == [["1.2", "-0.95"], ["-0.8", "0.95"]]  # Z is exact
    _approximate_json_check(path, layer_sample("sigmoid-half-sse")[0])


@pytest.mark.parametrize("name", sorted(FLOAT_PROBLEMS))
def test_json_float_problems_are_rounded(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(FLOAT_PROBLEMS[name]), encoding="utf-8")
    _approximate_json_check(path, FLOAT_PROBLEMS[name])
