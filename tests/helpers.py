"""Test helpers: paths, the one in-process CLI runner, and random problems.

``invoke`` is how the tests run ``cnnstep``: the console script's own ``main()``
in this process, with its own standard streams, argument list and a clean
environment, so that it answers exactly as a fresh ``cnnstep`` would (exit
status, standard output, standard error) in a fraction of the time. The few
tests that need a real interpreter are in ``test_end_to_end.py``.

The expected values come from ``oracle`` (the naive layer), never from here.
"""

from __future__ import annotations

import functools
import io
import math
import os
import sys
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from importlib import import_module
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import strategies as st
from oracle import (
    Spec,
    assert_exact,
    expected_keys,
    flatten,
    naive_layer,
    nest,
    read_sample,
    spec_from_data,
    strip_axes,
    user_shaped,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "cnnstep" / "samples"


def worked_samples() -> list[Path]:
    """The samples whose derivation is worked out, sorted: every one but a 3-D layer's,
    which is solved into its JSON result only."""
    return [path for path in sorted(SAMPLES.glob("*.json"))
            if '"dimensions": 3' not in path.read_text(encoding="utf-8")]
SHARED = Path(__file__).resolve().parents[2] / "shared"
#: why the tests of the shared contract skip without it (it is not part of the repository)
NO_SHARED = ("needs the project's shared format contract and seed cases, which the "
             "project's CI lays beside the repository; a clone alone does not have them")

#: environment variables that would let rich colour or resize piped output
TERMINAL_VARS = ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE",
                 "COLUMNS", "LINES", "CLICOLOR_FORCE", "JUPYTER_COLUMNS", "JUPYTER_LINES")


# --------------------------------------------------------------------------
# PyTorch, the float64 oracle of many tests, imported only by a test that uses it

#: why a module of tests against PyTorch is skipped
NO_TORCH = "PyTorch is not installed; the float64 autograd oracle is skipped"
#: skips a module (``pytestmark = needs_torch``) when torch cannot be imported
needs_torch = pytest.mark.skipif(find_spec("torch") is None, reason=NO_TORCH)


class LazyModule:
    """A module imported when a test first reads one of its names, not while the tests
    are collected: every test worker collects every module, and importing torch takes
    seconds. ``torch`` runs on one thread, as each worker has one core."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: types.ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("_"):
            # pytest probes every module attribute while it collects (``_mock_name``,
            # ``__pytest_wrapped__``...): those probes must not import torch
            raise AttributeError(attribute)
        if self._module is None:
            self._module = import_module(self._name)
            import_module("torch").set_num_threads(1)
        return getattr(self._module, attribute)


#: ``torch`` and ``torch.nn.functional``, imported on first use
torch: Any = LazyModule("torch")
F: Any = LazyModule("torch.nn.functional")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the terminal variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in TERMINAL_VARS}
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra)
    return env


# --------------------------------------------------------------------------
# the CLI, in this process


@dataclass(frozen=True)
class Result:
    """What a run of ``cnnstep`` gives: its exit status and its two output streams."""

    returncode: int
    stdout: str
    stderr: str


def _pipe() -> io.TextIOWrapper:
    """A text stream written like a pipe: UTF-8, not a terminal."""
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)


def _read(stream: io.TextIOWrapper) -> str:
    """What the reading end of that pipe gets, as ``subprocess.run(text=True)`` reads it."""
    stream.flush()
    data = stream.buffer.getvalue()  # type: ignore[attr-defined]
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="replace").read()


def _exit_status(code: object, stderr: io.TextIOWrapper) -> int:
    """The status the interpreter gives ``sys.exit(code)``: None → 0, a message → 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    stderr.write(f"{code}\n")
    return 1


def invoke(*args: str | Path, input: str | None = None,
           env: Mapping[str, str] | None = None, cwd: Path = ROOT) -> Result:
    """``cnnstep ARGS`` as the console script runs it, in this process.

    ``cnnstep.cli.main`` (which turns an unexpected exception into exit 70)
    runs with ``sys.argv`` set to ``["cnnstep", *ARGS]``, standard input
    ``input`` (empty by default), standard output and error captured apart as
    UTF-8 pipes (not terminals), the environment cleaned of the variables that
    let rich colour or resize output (see :data:`TERMINAL_VARS`) plus ``env``,
    and the working directory ``cwd``; all are restored afterwards. No result is
    cached: every call runs the command again, so a test may rewrite a file
    and check it again, and a monkeypatched ``cnnstep`` module is the one used
    (only typer's parser of each command is built once per process).
    """
    from cnnstep import cli

    stdin = io.TextIOWrapper(io.BytesIO((input or "").encode("utf-8")), encoding="utf-8")
    stdout, stderr = _pipe(), _pipe()
    # click prints the program name of a console script, whatever runs pytest
    main_module = sys.modules["__main__"]
    previous_dir, previous_hook = Path.cwd(), sys.excepthook
    with mock.patch.dict(os.environ, clean_env(**dict(env or {})), clear=True), \
            mock.patch.object(sys, "argv", ["cnnstep", *map(str, args)]), \
            mock.patch.object(sys, "stdin", stdin), \
            mock.patch.object(sys, "stdout", stdout), \
            mock.patch.object(sys, "stderr", stderr):
        sys.modules["__main__"] = types.ModuleType("__main__")
        os.chdir(cwd)
        try:
            cli.main()
            status = 0
        except SystemExit as exit_:
            status = _exit_status(exit_.code, stderr)
        finally:
            os.chdir(previous_dir)
            sys.modules["__main__"] = main_module
            sys.excepthook = previous_hook  # typer installs its own
    return Result(status, _read(stdout), _read(stderr))


def assert_one_line_error(run: Result, *needles: str) -> str:
    """A refusal: exit 2, nothing on standard output, one ``cnnstep: error:`` line
    holding every needle, and no traceback or internal error. Gives the line."""
    assert "Traceback" not in run.stderr, run.stderr
    assert run.returncode == 2, (run.returncode, run.stdout[:300], run.stderr)
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert run.stderr.endswith("\n")
    line = lines[0]
    assert line.startswith("cnnstep: error: "), line
    assert "internal error" not in line
    for needle in needles:
        assert needle in line, (needle, line)
    return line


# --------------------------------------------------------------------------
# the samples, rendered once per test process


def rendered(sample: Path | str, fmt: str = "text", **options: Any) -> str:
    """``cnnstep.solve(sample).to_FMT(**options)``: a sample (its path, or its name)
    in ``fmt`` (``text``, ``latex``, ``markdown`` or ``json``) with that method's
    options; for ``html``, ``render("html", Options(...), max_terms=..., only=...,
    detail=...)`` with the options of both.

    Many modules check the same sample in the same format (the golden files, the
    widths, float noise, the flags, the LaTeX compiles...): each output is rendered
    once per test process and shared. It is a string, which no test can change; a
    test that patches cnnstep, or checks how a render behaves, renders for itself."""
    path = SAMPLES / f"{sample}.json" if isinstance(sample, str) else sample
    defaults = _defaults(fmt)
    given = {name: tuple(value) if name == "only" else value
             for name, value in options.items()}
    key = tuple(sorted((name, value) for name, value in given.items()
                       if name not in defaults or value != defaults[name]))
    return _rendered(path.resolve(), fmt, key)


@functools.cache
def _defaults(fmt: str) -> dict[str, Any]:
    """The options of a render that it may be given or not, with their defaults:
    ``max_terms=None`` is the same render as none."""
    import dataclasses
    import inspect

    from cnnstep import Worked
    from cnnstep.render import Options

    method = Worked.render if fmt == "html" else getattr(Worked, f"to_{fmt}")
    defaults = {name: parameter.default
                for name, parameter in inspect.signature(method).parameters.items()
                if parameter.default is not inspect.Parameter.empty}
    if fmt == "html":
        defaults |= {field.name: field.default for field in dataclasses.fields(Options)}
    return {name: tuple(value) if name == "only" else value
            for name, value in defaults.items()}


@functools.cache
def _rendered(path: Path, fmt: str, options: tuple[tuple[str, Any], ...]) -> str:
    import cnnstep
    from cnnstep.render import Options

    worked = cnnstep.solve(path)
    kwargs = dict(options)
    if fmt == "html":
        layout = {name: kwargs.pop(name) for name in ("max_terms", "only", "detail")
                  if name in kwargs}
        return worked.render("html", Options(**kwargs), **layout)
    text: str = getattr(worked, f"to_{fmt}")(**kwargs)
    return text


# --------------------------------------------------------------------------
# nested lists of results


def to_lists(array: Any) -> Any:
    """A numpy object array (or a Fraction) → nested lists of Fractions."""
    return array.tolist() if hasattr(array, "tolist") else array


def dec(value: Any) -> Any:
    """Nested lists of exact decimals written as strings or numbers → Decimals."""
    if isinstance(value, list):
        return [dec(item) for item in value]
    return Decimal(str(value))


def significant_digits(literal: str) -> int:
    """How many significant digits a JSON number literal spells."""
    mantissa = literal.lstrip("-").lower().split("e")[0].replace(".", "")
    return len(mantissa.lstrip("0")) or 1


def literal_value(literal: str) -> Fraction:
    return Fraction(Decimal(literal))


# --------------------------------------------------------------------------
# random problems


# Hypothesis draws cost tens of microseconds each and a problem has dozens of
# numbers: the strategies below are built once, and every number is one draw for
# its value and one for its spelling.
_DENOMINATORS = [1, 1, 1, 2, 3, 4, 5, 7, 8, 10]

#: a small fraction: numerator −12…12 over 1 (often), 2, 3, 4, 5, 7, 8 or 10, every
#: pair as likely; 0 first, then numerators growing in size, so that failures shrink
#: towards small numbers
_SMALL = [Fraction(n, d) for n in sorted(range(-12, 13), key=abs) for d in _DENOMINATORS]
SMALL = st.sampled_from(_SMALL)


def _terminates(value: Fraction) -> bool:
    d = value.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    return d == 1


def _decimal_text(value: Fraction) -> str:
    text = format(Decimal(value.numerator) / Decimal(value.denominator), "f")
    return text


#: the spellings of a value, by (is it an integer, does its decimal terminate)
_FORMS = {
    (True, True): st.sampled_from(["Fraction", "ratio", "int", "int-string",
                                   "decimal-string", "Decimal", "float"]),
    (False, True): st.sampled_from(["Fraction", "ratio", "decimal-string", "Decimal",
                                    "float"]),
    (False, False): st.sampled_from(["Fraction", "ratio"]),
}


def _spelled_number(draw: Any, values: Any) -> tuple[Fraction, Any]:
    value = draw(values)
    form = draw(_FORMS[(value.denominator == 1, _terminates(value))])
    if form == "Fraction":
        return value, value
    if form == "ratio":
        return value, f"{value.numerator}/{value.denominator}"
    if form == "int":
        return value, int(value)
    if form == "int-string":
        return value, str(int(value))
    if form == "decimal-string":
        return value, _decimal_text(value)
    if form == "Decimal":
        return value, Decimal(_decimal_text(value))
    assert form == "float"
    return value, float(_decimal_text(value))


@st.composite
def spelled_numbers(draw: Any, values: Any = SMALL) -> tuple[Fraction, Any]:
    """An exact value and one of the ways a user (or a caller) may spell it."""
    return _spelled_number(draw, values)


def _array(draw: Any, shape: tuple[int, ...], values: Any = SMALL) -> tuple[Any, Any]:
    count = 1
    for n in shape:
        count *= n
    pairs = [_spelled_number(draw, values) for _ in range(count)]
    return nest([p[0] for p in pairs], shape), nest([p[1] for p in pairs], shape)


@dataclass
class Case:
    """A random problem: the data handed to the loader and its exact meaning."""

    data: dict[str, Any]
    x: Any  # [C][H][W]
    k: Any  # [F][C][kh][kw]
    b: Any | None  # [F]
    stride: tuple[int, int]
    padding: tuple[int, int]
    mode: str  # "forward", "target" or "grad_output"
    loss: str = "mse"
    y: Any | None = None  # [F][oh][ow]
    g: Any | None = None  # [F][oh][ow]
    lr: Fraction | None = None
    input_rank: int = 3
    filter_rank: int = 4
    bias_is_number: bool = False
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def output_rank(self) -> int:
        return 3 if self.filter_rank == 4 else 2

    def full_data(self, x: Any = None, k: Any = None, b: Any = None) -> dict[str, Any]:
        """The same problem in the full layout, optionally with other X, K, B."""
        data: dict[str, Any] = {
            "input": self.x if x is None else x,
            "filter": self.k if k is None else k,
            "stride": list(self.stride),
            "padding": list(self.padding),
        }
        bias = self.b if b is None else b
        if bias is not None:
            data["bias"] = bias
        if self.y is not None:
            data["target"] = self.y
            data["loss"] = self.loss
        if self.g is not None:
            data["grad_output"] = self.g
        if self.lr is not None:
            data["learning_rate"] = self.lr
        return data


@st.composite
def cases(draw: Any, modes: tuple[str, ...] = ("forward", "target", "grad_output"),
          max_side: int = 7) -> Case:
    """A random convolution problem within the ranges of the format."""
    channels = draw(st.integers(1, 3))
    filters = draw(st.integers(1, 3))
    height = draw(st.integers(1, max_side))
    width = draw(st.integers(1, max_side))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    kh = draw(st.integers(1, min(4, height + 2 * padding[0])))
    kw = draw(st.integers(1, min(4, width + 2 * padding[1])))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))

    x, x_spelled = _array(draw, (channels, height, width))
    k, k_spelled = _array(draw, (filters, channels, kh, kw))
    input_rank = 2 if channels == 1 and draw(st.booleans()) else 3
    if filters == 1:
        filter_rank = draw(st.sampled_from([2, 3, 4] if channels == 1 else [3, 4]))
    else:
        filter_rank = 4
    data: dict[str, Any] = {
        "input": strip_axes(x_spelled, 3 - input_rank),
        "filter" if draw(st.booleans()) else "kernel": strip_axes(k_spelled, 4 - filter_rank),
    }
    if stride != (1, 1) or draw(st.booleans()):
        data["stride"] = (
            stride[0] if stride[0] == stride[1] and draw(st.booleans()) else list(stride)
        )
    if padding != (0, 0) or draw(st.booleans()):
        data["padding"] = (
            padding[0] if padding[0] == padding[1] and draw(st.booleans()) else list(padding)
        )

    bias_kind = draw(st.sampled_from(["none", "list"] + (["number"] if filters == 1 else [])))
    b = None
    bias_is_number = bias_kind != "list"
    if bias_kind != "none":
        b, b_spelled = _array(draw, (filters,))
        data["bias"] = b_spelled[0] if bias_kind == "number" else b_spelled

    oh = (height + 2 * padding[0] - kh) // stride[0] + 1
    ow = (width + 2 * padding[1] - kw) // stride[1] + 1
    output_rank = 3 if filter_rank == 4 else 2
    # one filter given without its filter axis: the target may still be [1][oh][ow]
    given_rank = output_rank if output_rank == 3 else draw(st.sampled_from([2, 2, 3]))

    mode = draw(st.sampled_from(modes))
    case = Case(data, x, k, b, stride, padding, mode, input_rank=input_rank,
                filter_rank=filter_rank, bias_is_number=bias_is_number)
    if mode == "target":
        case.y, y_spelled = _array(draw, (filters, oh, ow))
        data["target"] = strip_axes(y_spelled, 3 - given_rank)
        loss = draw(st.sampled_from([None, "mse", "sse", "half_sse"]))
        if loss is not None:
            data["loss"] = loss
        case.loss = loss or "mse"
    elif mode == "grad_output":
        case.g, g_spelled = _array(draw, (filters, oh, ow))
        data["grad_output"] = strip_axes(g_spelled, 3 - given_rank)
    if mode != "forward" and draw(st.booleans()):
        case.lr, data["learning_rate"] = draw(
            spelled_numbers(st.sampled_from([Fraction(1, 10), Fraction(1, 100), Fraction(1, 3),
                                             Fraction(1, 2), Fraction(2)]))
        )
    return case


# --------------------------------------------------------------------------
# problems with layers after the convolution


LAYER_SAMPLES = ("relu-maxpool", "maxpool-3x3-overlap", "meanpool", "sigmoid-half-sse",
                 "seed003-rgb-edge-maxpool")


#: further problems with sigmoid and tanh, which the samples cover only once
FLOAT_PROBLEMS: dict[str, dict[str, Any]] = {
    "tanh-maxpool-overlap": {
        "input": [[0.5, -1, 2, 0], [1, 0, -0.5, 1], [-2, 1, 0.5, 0], [0, 1, 1, -1]],
        "filter": [[0.2, -0.4], [0.6, 0.1]], "bias": [0.1],
        "activation": "tanh", "pool": {"type": "max", "size": 2, "stride": 1},
        "target": [[0.5, 0], [0, 0.5]], "loss": "mse", "learning_rate": 0.5,
    },
    "sigmoid-meanpool-two-filters-given": {
        "input": [[[1, 0.5, -1, 2], [0, 1, 1, -0.5], [2, -1, 0, 1]],
                  [[0.5, 0.5, 1, 0], [-1, 2, 0, 1], [1, 1, -2, 0.5]]],
        "filter": [[[[0.3, -0.2], [0.1, 0.4]], [[-0.5, 0.2], [0.3, 0.1]]],
                   [[[0.1, 0.1], [-0.3, 0.2]], [[0.2, -0.1], [0.4, -0.6]]]],
        "bias": [0.1, -0.2], "activation": "sigmoid",
        "pool": {"type": "mean", "size": [2, 1], "stride": [1, 2]},
        "grad_output": [[[0.5, -1]], [[2, 0.25]]],
        "learning_rate": 0.25,
    },
    "tanh-minpool-sse-padding": {
        "input": [[0.3, -0.7, 1.1], [0.9, 0.2, -1.3], [-0.4, 0.8, 0.6]],
        "filter": [[0.5, -0.3], [0.2, 0.7]], "bias": -0.05, "padding": 1, "stride": [1, 2],
        "activation": "tanh", "pool": {"type": "min", "size": [2, 2], "stride": [1, 1]},
        "target": [[0.1], [-0.2], [0.3]], "loss": "sse",
        "learning_rate": 0.1,
    },
}


def layer_sample(name: str) -> tuple[dict[str, Any], Spec]:
    """A sample problem's data (numbers as exact Fractions) and its oracle Spec."""
    data = read_sample((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    return data, spec_from_data(data)


def engine_result(problem: Any) -> dict[str, Any]:
    """The engine's result object for a loaded problem."""
    from cnnstep.engine import solve
    from cnnstep.result import result

    return result(solve(problem))


def matches_the_naive_loops(data: dict[str, Any], spec: Spec) -> None:
    """The engine's result for ``data`` has exactly the format's keys, each equal to
    the naive loops' value for ``spec``."""
    from cnnstep.problem import problem_from_data

    got = engine_result(problem_from_data(data))
    want = naive_layer(spec)
    assert set(got) == expected_keys(spec)
    for key, value in got.items():
        assert_exact(value, user_shaped(key, want[key], spec), key)


def integer_path_is_the_fraction_path(problem: Any) -> None:
    """The integer path (``scaled_result``) gives the Fraction path's numbers, key by
    key, for a loaded problem."""
    from cnnstep.result import scaled_result

    scaled = scaled_result(problem)
    assert scaled is not None
    full = engine_result(problem)
    assert set(scaled) == set(full)
    for key, value in scaled.items():
        if isinstance(value, Fraction):
            assert value == full[key], key
        else:
            got = [Fraction(int(n), value.denominator) for n in value.numerators.flat]
            assert got == flatten(full[key]), key


def stringified(value: Any) -> Any:
    """Fractions as strings, as a problem file spells them."""
    if isinstance(value, dict):
        return {key: stringified(item) for key, item in value.items()}
    if isinstance(value, list):
        return [stringified(item) for item in value]
    return str(value) if isinstance(value, Fraction) else value


#: small integers half the time, so zeros (ReLU′(0)) and ties in the pools are common
_INTEGERS = [Fraction(n) for n in sorted(range(-2, 3), key=abs)]


def _half_integers(others: list[Fraction]) -> st.SearchStrategy[Fraction]:
    """A small integer half the time, else one of ``others``, in a single draw (a
    choice of strategies is several, and a layer draws dozens of numbers): the
    integers stand in the list as often as the others do. The integers come first,
    then the others from small to large, so that failures shrink towards 0."""
    repeats = max(1, len(others) // len(_INTEGERS) - 1)
    return st.sampled_from(_INTEGERS + others + _INTEGERS * repeats)


#: a small integer or a :data:`SMALL` fraction, half the time each
VALUES = _half_integers(_SMALL)

#: a small integer, or n/1, n/2 or n/4 for n in −8…8, half the time each
DYADIC = _half_integers([Fraction(n, d) for n in sorted(range(-8, 9), key=abs)
                         for d in (1, 2, 4)])


SLOPES = st.sampled_from([None, Fraction(1, 100), Fraction(1, 10), Fraction(1, 3),
                          Fraction(-1, 2), Fraction(0), Fraction(3, 2), Fraction(2, 7)])


DYADIC_SLOPES = st.sampled_from([None, Fraction(1, 2), Fraction(1, 4), Fraction(0),
                                 Fraction(-1, 2), Fraction(3, 2)])


def _grid(draw: Any, values: Any, shape: tuple[int, ...]) -> Any:
    count = math.prod(shape)
    return nest(draw(st.lists(values, min_size=count, max_size=count)), shape)


def _spelled(draw: Any, pair: tuple[int, int]) -> Any:
    if pair[0] == pair[1] and draw(st.booleans()):
        return pair[0]
    return list(pair)


_LAYER_FORMS = st.sampled_from(["fraction", "ratio", "decimal"])


def _spell_numbers(draw: Any, value: Any) -> Any:
    """Fractions spelled as Fraction, "p/q" or (when exact) a decimal string."""
    if isinstance(value, list):
        return [_spell_numbers(draw, v) for v in value]
    form = draw(_LAYER_FORMS)
    if form == "ratio":
        return f"{value.numerator}/{value.denominator}"
    if form == "decimal" and value.denominator in (1, 2, 4, 5, 8, 10):
        return str(float(value))
    return value


@st.composite
def layered_problems(draw: Any, values: Any = VALUES, slopes: Any = SLOPES
                     ) -> tuple[dict[str, Any], Spec]:
    """A random conv layer with a random activation and pool, and its Spec."""
    channels, filters = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    height, width = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    padding = (draw(st.integers(0, 1)), draw(st.integers(0, 1)))
    kh = draw(st.integers(1, min(3, height + 2 * padding[0])))
    kw = draw(st.integers(1, min(3, width + 2 * padding[1])))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    oh = (height + 2 * padding[0] - kh) // stride[0] + 1
    ow = (width + 2 * padding[1] - kw) // stride[1] + 1

    x = _grid(draw, values, (channels, height, width))
    k = _grid(draw, values, (filters, channels, kh, kw))
    input_rank = 2 if channels == 1 and draw(st.booleans()) else 3
    filter_rank = (draw(st.sampled_from([2, 3, 4] if channels == 1 else [3, 4]))
                   if filters == 1 else 4)
    spec = Spec(x, k, None, stride, padding, input_rank=input_rank, filter_rank=filter_rank)
    data: dict[str, Any] = {
        "input": _spell_numbers(draw, x[0] if input_rank == 2 else x),
        "filter": _spell_numbers(draw, k[0][0] if filter_rank == 2 else
                                 k[0] if filter_rank == 3 else k),
        "stride": _spelled(draw, stride),
        "padding": _spelled(draw, padding),
    }
    bias_kind = draw(st.sampled_from(["none", "list", *(["number"] if filters == 1 else [])]))
    if bias_kind != "none":
        spec.b = _grid(draw, values, (filters,))
        spec.bias_is_number = bias_kind == "number"
        data["bias"] = spec.b[0] if spec.bias_is_number else spec.b

    activation = draw(st.sampled_from([None, "relu", "leaky_relu", "sigmoid", "tanh"]))
    if activation is not None:
        spec.activation = activation
        slope = draw(slopes) if activation == "leaky_relu" else None
        if slope is not None:
            spec.slope = slope
            data["activation"] = {"type": activation, "slope": _spell_numbers(draw, slope)}
        else:
            data["activation"] = (activation if draw(st.booleans())
                                  else {"type": activation})
    last = (oh, ow)
    pool = draw(st.sampled_from([None, "max", "max", "mean", "min"]))
    if pool is not None:
        size = (draw(st.integers(1, min(3, oh))), draw(st.integers(1, min(3, ow))))
        spec.pool, spec.pool_size = pool, size
        data["pool"] = {"type": pool, "size": _spelled(draw, size)}
        if draw(st.booleans()):
            steps = st.sampled_from([1, 1, 2, 3])  # stride 1 often: overlapping windows
            spec.pool_stride = (draw(steps), draw(steps))
            data["pool"]["stride"] = _spelled(draw, spec.pool_stride)
        else:
            spec.pool_stride = size
        last = ((oh - size[0]) // spec.pool_stride[0] + 1,
                (ow - size[1]) // spec.pool_stride[1] + 1)

    mode = draw(st.sampled_from(["target", "target", "grad_output", "forward"]))
    given_rank = 3 if spec.output_rank == 3 else draw(st.sampled_from([2, 2, 3]))
    if mode != "forward":
        values_last = _grid(draw, values, (filters, *last))
        user = values_last[0] if given_rank == 2 else values_last
        if mode == "target":
            spec.y = values_last
            data["target"] = _spell_numbers(draw, user)
            loss = draw(st.sampled_from([None, "mse", "sse", "half_sse"]))
            if loss is not None:
                data["loss"] = loss
            spec.loss = loss or "mse"
        else:
            spec.g = values_last
            data["grad_output"] = _spell_numbers(draw, user)
        if draw(st.booleans()):
            spec.lr = draw(st.sampled_from([Fraction(1, 10), Fraction(1, 2), Fraction(1, 3)]))
            data["learning_rate"] = spec.lr
    return data, spec


# --------------------------------------------------------------------------
# SymPy's derivatives of a loss, the oracle of the symbolic formulas


class LossDerivatives:
    """∂L/∂s of a loss L = Σ ``terms`` (SymPy expressions), by SymPy's own
    differentiation, term by term: each term is differentiated by the symbols it
    holds, the others giving 0 (the sum rule). Differentiating the whole sum once
    per symbol, as ``sympy.diff(L, s)`` does, walks every term for every symbol."""

    def __init__(self, terms: Iterable[Any]) -> None:
        self.terms = [(term, term.free_symbols) for term in terms]

    def __call__(self, symbol: Any) -> Any:
        import sympy

        return sympy.Add(*[sympy.diff(term, symbol) for term, free in self.terms
                           if symbol in free])
