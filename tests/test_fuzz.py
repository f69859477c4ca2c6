"""A fuzzer: valid problems mutated the way hostile or unlucky files are.

Each mutation changes one thing of a valid problem — a value's type, an
array's shape, a number's magnitude or digits, the nesting — and runs it
through ``cnnstep solve`` (and ``check``) in this process. Whatever comes in,
the command ends with exit 0, 1 or 2; a refusal is one line on standard
error; there is never a traceback or an internal error (exit 70), and every
run finishes within a few seconds.
"""

from __future__ import annotations

import json
import resource
import time
from typing import Any

from helpers import invoke
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

BASE: dict[str, Any] = {
    "input": [[1, 2, 0], [0, 1, 2], [2, 1, 0]],
    "filter": [[0.5, 0.2], [0.3, 0.7]],
    "bias": 0.1,
    "target": [[1, 2], [2, 1]],
    "loss": "mse",
    "stride": 1,
    "padding": 0,
    "learning_rate": 0.1,
}
LAYERED: dict[str, Any] = {
    "input": [[1, -2, 0, 3], [0, 1, 2, -1], [2, 1, 0, 1], [1, 0, -1, 2]],
    "filter": [[[1, 0], [0, -1]]],
    "target": [[1]],
    "activation": "relu",
    "pool": {"type": "max", "size": 3},
}

#: how long one run may take here, in seconds (the limits keep real runs far below)
SECONDS = 10
#: the peak memory this test process may reach, in KiB (the work limit keeps a run's
#: own need under about 600 MB)
PEAK_KIB = 1_500_000

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["1/0", "1e400", "-1e-400", "1e9999999999999999999", "١٢", "0x10",
                     "3/7", " 2 ", "1e+0000001", "9" * 1200, "1." + "3" * 990,
                     "NaN", "-Infinity", "relu", "max"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.sampled_from(["type", "size", "stride", "slope", "shape", "x"]), inner, max_size=3),
    max_leaves=12)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*path, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*path, key))
    return out


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, list):
        copy = list(value)
        copy[head] = _replace(copy[head], rest, new)
        return copy
    copy_dict = dict(value)
    copy_dict[head] = _replace(copy_dict[head], rest, new)
    return copy_dict


@st.composite
def mutated(draw: Any) -> str:
    problem = draw(st.sampled_from([BASE, LAYERED]))
    kind = draw(st.sampled_from(["replace", "replace", "drop", "add", "nest", "text"]))
    if kind == "replace":
        path = draw(st.sampled_from(_paths(problem)[1:]))
        problem = _replace(problem, path, draw(values))
    elif kind == "drop":
        key = draw(st.sampled_from(sorted(problem)))
        problem = {k: v for k, v in problem.items() if k != key}
    elif kind == "add":
        key = draw(st.sampled_from(["grad_output", "kernel", "notation", "answers", "strid",
                                    "padding", "stride", "activation", "pool", "loss"]))
        problem = {**problem, key: draw(values)}
    elif kind == "nest":
        depth = draw(st.integers(1, 40))
        key = draw(st.sampled_from(["input", "filter", "target"]))
        problem = {**problem, key: json.loads("[" * depth + json.dumps(problem[key])
                                              + "]" * depth)}
    text = json.dumps(problem, allow_nan=True)
    if kind == "text":  # damage the text itself
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.sampled_from(["", "}", "]]", ",", "\ufeff", "\x00", "é"]))
    return text


def _assert_clean(run: Any, started: float) -> None:
    assert run.returncode in (0, 1, 2), (run.returncode, run.stderr)
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr, run.stderr
    if run.returncode == 2:
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("cnnstep: error: "), run.stderr
    assert time.monotonic() - started < SECONDS
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < PEAK_KIB


@settings(settings.get_profile("cli"))
@given(mutated(), st.sampled_from([[], ["--format", "json"], ["--format", "latex"],
                                   ["--symbolic"], ["--verify"]]))
def test_mutated_problems_end_cleanly(text: str, options: list[str]) -> None:
    started = time.monotonic()
    _assert_clean(invoke("solve", "-", *options, input=text), started)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["output", "loss", "grad_filter", "grad_input",
                                        "updated_filter", "grad_bias", "conv", "nonsense"]),
                       values, max_size=3))
def test_mutated_answers_end_cleanly(answers: dict[str, Any]) -> None:
    started = time.monotonic()
    problem = json.dumps({**BASE, "answers": answers}, allow_nan=True)
    _assert_clean(invoke("check", "-", input=problem), started)
