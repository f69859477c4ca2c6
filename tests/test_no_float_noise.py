"""No output carries binary floating-point noise such as 0.29500000000000004.

cnnstep computes with exact fractions; a long run of 0s or 9s after a decimal
point means a value went through a float somewhere. Every sample is checked in
every format, and so are random problems whose inputs are fractions and
decimals that have no exact binary form ("1/3", "0.1", "2/7").
"""

from __future__ import annotations

import random
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from helpers import rendered

import cnnstep

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "cnnstep" / "samples").glob("*.json"))

#: a digit, a decimal point, then 9 or more repeated 0s or 9s followed by a digit
NOISE = re.compile(r"\d\.\d*?(0{9,}|9{9,})\d")

#: the same quantities, spelled so that none of them is a binary float
POOL: list[Any] = ["1/3", "0.1", "2/7", "-0.3", "0.7", "-1/6", "1.1", "-2/9", 0.1, 0.2, -0.7,
                   3, -1, 0, "0.35", 1.15]


def renderings(worked: Any, decimals: bool = True) -> dict[str, str]:
    """A solved problem in every format; ``worked`` may also be a sample's path, whose
    renders are shared with the other modules (``helpers.rendered``)."""
    def render(fmt: str, **options: Any) -> str:
        if isinstance(worked, Path):
            return rendered(worked, fmt, **options)
        text: str = getattr(worked, f"to_{fmt}")(**options)
        return text

    outputs = {
        "text": render("text", width=100),
        "latex": render("latex"),
        "markdown": render("markdown"),
        "json": render("json"),
    }
    if decimals:  # the text printer is the slow one: rounded forms in LaTeX suffice
        outputs["latex --decimals 4"] = render("latex", decimals=4)
    return outputs


def assert_no_noise(outputs: dict[str, str], name: str) -> None:
    for fmt, text in outputs.items():
        match = NOISE.search(text)
        if match:
            start = max(0, match.start() - 60)
            pytest.fail(f"{name} ({fmt}): float noise {match.group(0)!r} in "
                        f"…{text[start:match.end() + 20]!r}…")


def test_the_pattern_finds_noise() -> None:
    assert NOISE.search("0.1 + 0.2 = 0.30000000000000004")
    assert NOISE.search("[[0.29500000000000004]]")
    assert NOISE.search("x = 1.9999999999999998")
    assert not NOISE.search("0.295 1/3 ≈ 0.3333 0.33333333333333333 1000000000")


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_samples_have_no_float_noise(sample: Path) -> None:
    assert_no_noise(renderings(sample), sample.name)


def _random_array(rng: random.Random, shape: tuple[int, ...]) -> Any:
    if not shape:
        return rng.choice(POOL)
    return [_random_array(rng, shape[1:]) for _ in range(shape[0])]


def _random_problem(seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    # small: rendering text through rich costs about 25 ms per equation
    channels, filters = rng.choice([(1, 1), (2, 1), (1, 2)])
    kh, kw = rng.choice([(2, 2), (3, 3), (2, 3)])
    stride, padding = rng.choice([1, 2]), rng.choice([0, 1])
    h, w = rng.randint(kh, 4), rng.randint(kw, 4)
    problem: dict[str, Any] = {
        "input": _random_array(rng, (channels, h, w) if channels > 1 else (h, w)),
        "filter": _random_array(rng, (filters, channels, kh, kw) if filters > 1
                                else (channels, kh, kw) if channels > 1 else (kh, kw)),
        "stride": stride, "padding": padding,
        "learning_rate": rng.choice(["0.1", "1/3", 0.01, "0.05"]),
    }
    oh = (h + 2 * padding - kh) // stride + 1
    ow = (w + 2 * padding - kw) // stride + 1
    out_shape = (filters, oh, ow) if filters > 1 else (oh, ow)
    if rng.random() < 0.7:
        problem["bias"] = _random_array(rng, (filters,)) if filters > 1 else rng.choice(POOL)
    if seed % 3 == 2:
        problem["grad_output"] = _random_array(rng, out_shape)
    else:
        problem["target"] = _random_array(rng, out_shape)
        problem["loss"] = rng.choice(["mse", "sse", "half_sse"])
    return problem


@pytest.mark.parametrize("seed", range(8))
def test_random_fraction_problems_have_no_float_noise(seed: int) -> None:
    problem = _random_problem(seed)
    worked = cnnstep.solve(problem)
    assert_no_noise(renderings(worked), f"random problem {seed}: {problem}")


def test_classic_float_traps_are_exact() -> None:
    """0.1 + 0.2 and 0.5 − 0.1×2.05 come out as the decimals a person writes."""
    worked = cnnstep.solve({"input": [[0.1, 0.2]], "filter": [[1, 1]],
                            "target": [[0]], "learning_rate": 0.1})
    assert worked.result["output"] == [[Fraction("0.3")]]
    text = worked.to_text(width=100)
    assert "= 0.3\n" in text
    assert '"output": [[0.3]]' in worked.to_json()
    assert_no_noise(renderings(worked), "0.1 + 0.2")
