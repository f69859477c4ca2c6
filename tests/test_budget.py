"""The work budget: every path estimated before any allocation, and refused over the limit.

* each hostile problem (a huge padding, a huge kernel, huge shapes for the
  symbolic derivation, long numbers, distinct long denominators, a direct
  differentiation too long) is refused with WorkLimitError within a second,
  with one line naming the estimate, the limit and what dominates, and no
  command-line flag;
* ``max_work=0`` lifts the limit, None is the default;
* estimates grow with every size: the input, the kernel, channels, filters,
  padding, digits and the terms printed;
* every sample is within the default limit on every path;
* the estimate is neither far too optimistic nor far too pessimistic on two
  medium problems (the calibration).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from helpers import SAMPLES, worked_samples

from cnnstep import budget, engine, symbolic, verify
from cnnstep.budget import WorkLimitError
from cnnstep.check import mark, read_answers
from cnnstep.derivation import derive
from cnnstep.problem import (
    Layer,
    Problem,
    ProblemError,
    layer_from_data,
    load,
    parse_problem,
    problem_from_data,
)
from cnnstep.result import result

SAMPLE_FILES = worked_samples()


@contextmanager
def refused_within(seconds: float = 1.0) -> Iterator[list[WorkLimitError]]:
    """Expect WorkLimitError, raised within ``seconds``."""
    caught: list[WorkLimitError] = []
    start = time.perf_counter()
    with pytest.raises(WorkLimitError) as error:
        yield caught
    elapsed = time.perf_counter() - start
    assert elapsed < seconds, f"refused only after {elapsed:.2f} s"
    caught.append(error.value)


def one_line(error: WorkLimitError) -> str:
    message = str(error)
    assert "\n" not in message
    assert "--" not in message, "the library names no command-line flag"
    assert "over the limit of 1e8" in message
    assert " operations" in message
    return message


def decimals(rows: int, cols: int, places: int = 2, seed: int = 0) -> list[list[str]]:
    """Decimals in (-1, 1) with ``places`` random places."""
    rng = random.Random(seed)

    def one() -> str:
        digits = "".join(rng.choice("0123456789") for _ in range(places - 1))
        return f"{rng.choice(['', '-'])}0.{digits}{rng.choice('123456789')}"

    return [[one() for _ in range(cols)] for _ in range(rows)]


# --------------------------------------------------------------------------
# the hostile problems


def test_a_huge_padding_is_refused_at_once() -> None:
    """97 bytes that used to take 83 s and 4.2 GB."""
    problem = problem_from_data({"input": [[1]], "filter": [[1]], "padding": 3000})
    with refused_within() as caught:
        engine.solve(problem)
    message = one_line(caught[0])
    assert message.startswith("the layer needs about ")


def test_a_padding_of_1e300_is_refused_without_overflow() -> None:
    problem = parse_problem('{"input": [[1]], "filter": [[1]], "padding": 1e300}')
    with refused_within() as caught:
        engine.solve(problem)
    message = one_line(caught[0])
    assert "more than 1e300" in message
    assert "2e300×2e300 padded input" in message


def test_a_huge_kernel_is_refused_by_its_memory() -> None:
    """A 300×300 kernel over a 300×300 input: one output, but dL/dX through an im2col
    matrix of 358801 × 90000 entries."""
    problem = problem_from_data({"input": [[1] * 300] * 300, "filter": [[1] * 300] * 300,
                                 "target": [[0]]})
    with refused_within() as caught:
        engine.solve(problem)
    message = one_line(caught[0])
    assert "GB of memory" in message
    assert "dL/dX: a 300×300 kernel over a 599×599 padded gradient" in message


@pytest.mark.parametrize("size", [1000, 100000])
def test_a_huge_symbolic_layer_is_refused(size: int) -> None:
    layer = layer_from_data({"input": {"shape": [size, size]}, "filter": {"shape": [3, 3]}})
    with refused_within() as derived:
        symbolic.derive_symbolic(layer)
    assert one_line(derived[0]).startswith("the symbolic derivation needs about ")
    with refused_within() as formulas:
        symbolic.symbolic_result(layer)
    assert one_line(formulas[0]).startswith("the symbolic result needs about ")
    with refused_within():
        budget.check_derivation(layer, None, format="text")


def test_the_symbolic_result_has_a_term_limit() -> None:
    """300×300 with a 3×3 kernel: 2.4 million terms of formulas."""
    layer = layer_from_data({"input": {"shape": [300, 300]}, "filter": {"shape": [3, 3]}})
    with refused_within() as caught:
        symbolic.symbolic_result(layer)
    assert "the formulas: 2.4e6 terms" in one_line(caught[0])


def _distinct_denominators(count: int, digits: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.randrange(10**(digits - 110), 10**(digits - 100))}/"
            f"{rng.randrange(10**(digits - 1), 10**digits) | 1}" for _ in range(count)]


def test_distinct_long_denominators_are_refused() -> None:
    """400 fractions with distinct 490-digit denominators: their lcm has about 200000
    digits, which every sum of products is carried over."""
    numbers = _distinct_denominators(400, 490)
    image = [numbers[20 * i: 20 * i + 20] for i in range(20)]
    forward = problem_from_data({"input": image, "filter": [[1]]})
    with refused_within() as caught:
        engine.solve(forward)
    assert "digits" in one_line(caught[0])
    backward = problem_from_data({"input": image, "filter": [[1, 1], [1, 1]],
                                  "target": [[0] * 19] * 19})
    with refused_within():
        engine.solve(backward)


def test_long_decimals_are_refused() -> None:
    """999-digit decimals in a 30×30 input: 90 s, mostly writing them out."""
    rng = random.Random(2)
    image = [["." + "".join(rng.choice("0123456789") for _ in range(998)) + "7"
              for _ in range(30)] for _ in range(30)]
    problem = problem_from_data({"input": image, "filter": [[1, 2], [3, 4]],
                                 "target": [[0] * 29] * 29})
    with refused_within() as caught:
        engine.solve(problem)
    assert "digits" in one_line(caught[0])


def test_a_long_direct_differentiation_is_refused() -> None:
    """Three 1×1 filters over a 200×200 input with a target: 120000 products, well within
    the product limit, but 120000 entries of Z, each worked through every stage and
    every direction of the check in Fractions."""
    problem = problem_from_data({"input": [decimals(200, 200)],
                                 "filter": [[[["0.5"]]], [[["-0.25"]]], [[["2"]]]],
                                 "target": [decimals(200, 200, seed=f) for f in range(3)]})
    assert budget.verify_size(problem).products == 120000 < verify.MAX_PRODUCTS
    with refused_within() as caught:
        verify.verify(problem)
    message = one_line(caught[0])
    assert message.startswith("direct differentiation needs about ")
    assert "the stages: 1.2e5 entries" in message


def test_pool_cells_count_in_the_verify_size() -> None:
    """A 40×40 input and a mean pool of 20: 1600 products in Z, and as many cells in the
    pooled means, which the old limit of 2000 products refused; it verifies now."""
    problem = problem_from_data({
        "input": [[(i + j) % 3 for j in range(40)] for i in range(40)], "filter": [[1]],
        "pool": {"type": "mean", "size": 20}, "target": [[0, 0], [0, 0]]})
    size = budget.verify_size(problem)
    assert (size.products, size.cells) == (1600, 1600)
    start = time.perf_counter()
    checks = verify.verify(problem)
    assert time.perf_counter() - start < 10
    assert all(check.ok for check in checks), verify.report(checks)
    maxpool = problem_from_data({
        "input": [[(i + j) % 3 for j in range(12)] for i in range(12)], "filter": [[1]],
        "pool": {"type": "max", "size": 3, "stride": 1}, "target": [[0] * 10] * 10})
    size = budget.verify_size(maxpool)
    assert (size.products, size.last, size.cells) == (144, 100, 900)  # 9 cells a window


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
@pytest.mark.parametrize("z", ["1e12", "-1e12", "751", "-800"])
def test_a_saturated_activation_is_verified_quickly(activation: str, z: str) -> None:
    """exp(−1e12) is not worked out: beyond |z| = 750 float64 is saturated and the
    entry is a constant with slope 0."""
    problem = problem_from_data({"input": [[z, "0.5"]], "filter": [[1]],
                                 "activation": activation, "target": [["0.25", "0.5"]]})
    start = time.perf_counter()
    checks = verify.verify(problem)
    assert time.perf_counter() - start < 10
    assert all(check.ok for check in checks), verify.report(checks)


def test_marking_a_large_layer_is_refused() -> None:
    """The marker recomputes the layer under every mistake: refused before solving."""
    problem = problem_from_data({"input": [decimals(64, 64, seed=c) for c in range(3)],
                                 "filter": [[decimals(5, 5, 3, 10 * f + c) for c in range(3)]
                                            for f in range(8)],
                                 "target": [decimals(60, 60, seed=f) for f in range(8)]})
    with refused_within() as caught:
        budget.check_marking(problem)
    assert one_line(caught[0]).startswith("marking needs about ")


# --------------------------------------------------------------------------
# the limit itself


def test_the_error_is_a_problem_error_with_its_numbers() -> None:
    problem = problem_from_data({"input": [[1]], "filter": [[1]], "padding": 3000})
    with pytest.raises(ProblemError) as caught:
        budget.check_solve(problem, 10**6)
    error = caught.value
    assert isinstance(error, WorkLimitError)
    assert error.limit == 10**6
    assert error.estimate.work > 10**6
    assert str(error).endswith("over the limit of 1e6")


def test_zero_lifts_the_limit_and_none_is_the_default() -> None:
    problem = problem_from_data({"input": [[1]], "filter": [[1]], "padding": 100})
    assert budget.limit_of(None) == budget.DEFAULT_MAX_WORK
    assert budget.limit_of(0) == 0
    with pytest.raises(ValueError):
        budget.limit_of(-1)
    work = budget.solve_estimate(problem).work
    with pytest.raises(WorkLimitError):
        engine.solve(problem, max_work=int(work / 2))
    solution = engine.solve(problem, max_work=int(work * 2))
    assert solution.conv.shape == (1, 201, 201)
    assert budget.check_solve(problem, 0).parts == ()  # nothing estimated
    engine.solve(problem, max_work=0)


def test_a_raised_limit_reaches_the_derivation_and_the_marker() -> None:
    problem = load(SAMPLES / "seed000-filter-update.json")
    assert isinstance(problem, Problem)
    solution = engine.solve(problem)
    with pytest.raises(WorkLimitError):
        derive(solution, max_work=10)
    derive(solution, max_work=0)
    derive(solution, only=["grad_input[0][0]"], max_work=10)  # a selection: as the solve
    answers = read_answers({"loss": 0.5}, solution)
    with pytest.raises(WorkLimitError):
        mark(solution, answers, max_work=10)
    assert not mark(solution, answers, max_work=0).correct
    with pytest.raises(WorkLimitError):
        symbolic.derive_both(solution, max_work=10)
    with pytest.raises(WorkLimitError):
        verify.verify(problem, max_work=10)


def test_memory_binds_when_it_is_larger() -> None:
    """The padding that used to take 4.2 GB: its memory is estimated in gigabytes."""
    problem = problem_from_data({"input": [[1]], "filter": [[1]], "padding": 3000})
    estimate = budget.solve_estimate(problem)
    assert 2e9 < estimate.memory < 2e10
    kernel = problem_from_data({"input": [[1] * 120] * 120, "filter": [[1] * 120] * 120,
                                "target": [[0]]})
    estimate = budget.solve_estimate(kernel)
    assert estimate.memory_binds
    assert estimate.dominant().what.startswith("dL/dX")


# --------------------------------------------------------------------------
# the sizes of numbers


def test_digits_of_decimals_fractions_and_integers() -> None:
    values = engine.fractions([["0.25", "1.5", "-0.125"], ["3", "0", "12.04"]])
    digits = budget.digits_of(values)
    assert (digits.twos, digits.fives, digits.rest) == (3, 2, 0)  # a common 2³·5²
    assert digits.places == 3
    assert digits.zeros == pytest.approx(1.2, abs=0.1)  # 0.04: one zero after the point
    assert 3 <= digits.magnitude <= 5  # 12.04 < 16
    thirds = budget.digits_of(engine.fractions([["1/3", "2/7", "5/21"]]))
    assert thirds.rest == 4  # the lcm 21, exactly: 4 bits and a little
    assert budget.digits_of(None) == budget.ONE
    assert budget.digits_of(engine.fractions([[0, 0]])) == budget.ONE


def test_the_lcm_of_many_long_denominators_is_bounded_by_their_sum() -> None:
    numbers = _distinct_denominators(50, 300)
    digits = budget.digits_of(engine.fractions([numbers]))
    each = max(Fraction(n).denominator.bit_length() for n in numbers)
    assert 45 * (each - 1) <= digits.rest <= 50 * each
    assert digits.own_denominator <= each  # one value's own stays small


# --------------------------------------------------------------------------
# estimates grow with every size


def _layer(size: int = 8, kernel: int = 3, channels: int = 1, filters: int = 1,
           padding: int = 0, places: int = 2, **more: Any) -> Problem:
    out = size + 2 * padding - kernel + 1
    data = {"input": [decimals(size, size, places, c) for c in range(channels)],
            "filter": [[decimals(kernel, kernel, places, 9 + f * channels + c)
                        for c in range(channels)] for f in range(filters)],
            "target": [decimals(out, out, places, 99 + f) for f in range(filters)],
            "padding": padding, "bias": ["0.5"] * filters, "learning_rate": "0.1", **more}
    return problem_from_data(data)


ESTIMATES: dict[str, Callable[[Problem], budget.Estimate]] = {
    "solve": budget.solve_estimate,
    "text": lambda p: budget.derivation_estimate(p, 0, format="text"),
    "latex": lambda p: budget.derivation_estimate(p, 0, format="latex"),
    "markdown, symbolic": lambda p: budget.derivation_estimate(p, 0, format="markdown",
                                                               symbolic=True),
    "symbolic result": budget.symbolic_estimate,
    "verify": budget.verify_estimate,
    "marking": budget.marking_estimate,
}

GROWING: dict[str, Callable[[int], Problem]] = {
    "input": lambda n: _layer(size=13 + 6 * n),
    "kernel": lambda n: _layer(size=20 + 3 * n, kernel=1 + 3 * n),
    "channels": lambda n: _layer(channels=1 + 2 * n),
    "filters": lambda n: _layer(filters=1 + 2 * n),
    "padding": lambda n: _layer(padding=8 * n),
    "digits": lambda n: _layer(places=2 + 40 * n),
    "sigmoid": lambda n: _layer(size=13 + 6 * n, activation="sigmoid"),
    "mean pool": lambda n: _layer(size=16 + 6 * n, pool={"type": "mean", "size": 2},
                                  target=decimals(7 + 3 * n, 7 + 3 * n)),
}


@pytest.mark.parametrize("path", ESTIMATES)
@pytest.mark.parametrize("growing", GROWING)
def test_estimates_grow_with_every_size(path: str, growing: str) -> None:
    """Derivations with every term: one with the default term limit prints fewer
    entries when each has more terms (a larger kernel, more channels), and draws the
    window beside each output only for inputs up to 12×12 (hence sizes from 13)."""
    estimate = ESTIMATES[path]
    works = [estimate(GROWING[growing](n)).work for n in range(4)]
    assert works == sorted(works), works
    assert works[-1] > works[0]


@pytest.mark.parametrize("format", ["text", "latex", "markdown"])
@pytest.mark.parametrize("growing", ["input", "padding", "digits", "filters"])
def test_the_default_term_limit_grows_with_the_layer(format: budget.Format,
                                                     growing: str) -> None:
    works = [budget.derivation_estimate(GROWING[growing](n), None, format=format).work
             for n in range(4)]
    assert works == sorted(works), works


def test_more_terms_printed_cost_more() -> None:
    problem = _layer(size=24, channels=2, filters=2)
    works = [budget.derivation_estimate(problem, terms, format="latex").work
             for terms in (10, 100, 1000, 10000, 0)]
    assert works == sorted(works), works


def test_symbolic_estimates_grow_with_the_shapes() -> None:
    def layer(n: int) -> Layer:
        return layer_from_data({"input": {"shape": [2, 10 * n, 10 * n]},
                                "filter": {"shape": [3, 2, 3, 3]}})

    for estimate in (budget.symbolic_estimate,
                     lambda item: budget.derivation_estimate(item, None, format="text"),
                     lambda item: budget.derivation_estimate(item, 0, format="latex")):
        works = [estimate(layer(n)).work for n in range(1, 6)]
        assert works == sorted(works), works


# --------------------------------------------------------------------------
# every sample is within the default limit, on every path


def _sample(path: Path) -> Problem | Layer:
    return load(path)


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.stem)
def test_every_sample_is_within_the_default_limit(path: Path) -> None:
    item = _sample(path)
    limit = budget.DEFAULT_MAX_WORK
    estimates = [budget.derivation_estimate(item, terms, format=format, symbolic=True)
                 for terms in (None, 0) for format in ("text", "latex", "markdown")]
    estimates.append(budget.symbolic_estimate(item))
    if isinstance(item, Problem):
        estimates += [budget.solve_estimate(item), budget.verify_estimate(item),
                      budget.derivation_estimate(item, 0, format="text")]
        estimates += [budget.marking_estimate(item, format=format)
                      for format in ("text", "latex", "markdown", "json")]
    for estimate in estimates:
        assert estimate.work < limit / 2, (estimate.subject, estimate.message(limit))


# --------------------------------------------------------------------------
# calibration: the estimate against the time taken


def _cpu(run: Callable[[], object]) -> float:
    start = time.process_time()
    run()
    return time.process_time() - start


def _seconds(estimate: budget.Estimate) -> float:
    return estimate.operations * budget.NANOSECONDS_PER_OPERATION / 1e9


def test_calibration_of_the_solve_and_its_json() -> None:
    """A 3×40×40 layer of 6 filters: the estimate is an upper bound on the time taken,
    and not a wild one. At the limit that makes every path a few seconds."""
    from cnnstep.render.json_result import dumps

    problem = _layer(size=40, kernel=5, channels=3, filters=6)
    estimated = _seconds(budget.solve_estimate(problem))
    taken = _cpu(lambda: dumps(result(engine.solve(problem))))
    assert taken < 2 * estimated, (taken, estimated)
    assert estimated < 8 * taken, (taken, estimated)


def test_calibration_of_the_text_derivation() -> None:
    from cnnstep.render import FORMATS, Options

    problem = _layer(size=14, kernel=3, channels=2, filters=2)
    estimated = _seconds(budget.derivation_estimate(problem, 0, format="text"))
    taken = _cpu(lambda: FORMATS["text"].derivation(derive(engine.solve(problem), max_terms=0),
                                                   Options(width=100)))
    assert taken < 2 * estimated, (taken, estimated)
    assert estimated < 8 * taken, (taken, estimated)


def test_calibration_of_verify() -> None:
    """A 2×24×24 layer of 3 filters with a bias and a target, and the same with ReLU and
    a max pool: ``verify`` (its solve included) within its estimate."""
    plain = _layer(size=24, kernel=3, channels=2, filters=3)
    pooled = _layer(size=24, kernel=3, channels=2, filters=3, activation="relu",
                    pool={"type": "max", "size": 2},
                    target=[decimals(11, 11, seed=99 + f) for f in range(3)])
    for problem in (plain, pooled):
        estimated = _seconds(budget.verify_estimate(problem))
        taken = _cpu(partial(verify.verify, problem))
        assert taken < 2 * estimated, (taken, estimated)
        assert estimated < 8 * taken, (taken, estimated)


def _integer_layer(size: int, filters: int, **more: Any) -> Problem:
    """A layer of integers like the benchmark's large ones (inputs 0…99, weights
    −200…200, a bias, a target and a learning rate of 0.01), ``size`` × ``size`` over
    3 channels, 3×3 kernels, padding 1."""
    rng = np_random(size)
    out = size if "pool" not in more else size // 2
    return problem_from_data({
        "input": rng.integers(0, 100, (3, size, size)),
        "filter": rng.integers(-200, 201, (filters, 3, 3, 3)),
        "bias": rng.integers(-50, 51, (filters,)),
        "target": rng.integers(-100, 101, (filters, out, out)),
        "learning_rate": "0.01", "padding": 1, **more})


def np_random(seed: int) -> Any:
    import numpy as np

    return np.random.default_rng(seed)


@pytest.mark.parametrize("more", [
    {}, {"activation": "relu", "pool": {"type": "max", "size": 2}},
    {"activation": {"type": "leaky_relu", "slope": "0.1"}, "pool": {"type": "mean", "size": 2}},
], ids=["plain", "relu-max", "leaky-mean"])
def test_calibration_of_the_integer_solve_and_its_json(more: dict[str, Any]) -> None:
    """A 3×40×40 layer of 12 filters solved over integer arrays and written in bulk, as
    the JSON result is: the estimate is an upper bound on the time taken, and not a
    wild one."""
    from cnnstep.render.json_result import dumps
    from cnnstep.result import scaled_result

    problem = _integer_layer(40, 12, **more)
    estimate = budget.solve_estimate(problem, integers=True)
    assert any("products as integers" in part.what for part in estimate.parts)
    estimated = _seconds(estimate)
    taken = min(_cpu(lambda: dumps(scaled_result(problem))) for _ in range(2))
    assert taken < 2 * estimated, (taken, estimated)
    assert estimated < 8 * taken, (taken, estimated)


def test_a_sigmoid_is_estimated_on_the_fraction_route() -> None:
    """After a sigmoid the values are floats, and the engine has no integer route: the
    JSON result is estimated as the Fraction solve it is."""
    problem = _integer_layer(12, 2, activation="sigmoid")
    assert not budget.integer_route(problem)
    assert (budget.solve_estimate(problem, integers=True).work
            == budget.solve_estimate(problem).work)


def _benchmark() -> Any:
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(
        "bench_benchmark", SAMPLES.parents[1] / "benchmarks" / "bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def _large_layer(layer: Any) -> Problem:
    """A benchmark layer's problem, its numbers the same as its file's (written here as
    the shortest decimals of floats, which is quicker)."""
    data = {name: (getattr(layer, name) / 10**places).tolist()
            for name, places in layer.SCALES.items()}
    data |= {"loss": "mse", "stride": layer.stride, "padding": layer.padding,
             "learning_rate": layer.learning_rate, **layer.after}
    problem = parse_problem(json.dumps(data))
    assert isinstance(problem, Problem)
    return problem


def test_the_large_layers_are_within_the_default_limit() -> None:
    """The benchmark's large layers (3×128×128 with 32 filters, the ResNet stem, and the
    stem with ReLU and a max pool) take a second or two as exact JSON: their estimate,
    computed without solving them, is within the default limit, and so is the stem's
    worked derivation as text (default term limit); the stem over ten times the area
    is refused."""
    from dataclasses import replace

    bench = _benchmark()
    limit = budget.DEFAULT_MAX_WORK
    for spec, after in bench.LARGE_LAYERS.values():
        problem = _large_layer(bench.large_layer(*spec, after=after))
        estimate = budget.solve_estimate(problem, integers=True)
        assert estimate.work < limit, estimate.message(limit)
        # the Fraction solve of the same layer takes a minute: still refused
        assert budget.solve_estimate(problem).work > limit
        if not after:
            text = budget.derivation_estimate(problem, format="text")
            assert text.work < 1.5 * limit, text.message(limit)
            assert budget.derivation_estimate(problem, format="text", solved=True).work < limit
    layer = problem.layer
    larger = replace(problem, layer=replace(layer, input_shape=(3, 708, 708)))
    with pytest.raises(WorkLimitError, match=r"^the layer needs about .* operations \("
                       r"the result written out: .* numbers.*over the limit of 1e8"):
        budget.check_solve(larger, integers=True)


def test_the_estimate_is_quick() -> None:
    """Estimating reads each number once: well under a second for 180000 numbers."""
    problem = problem_from_data({"input": [[1] * 300] * 300, "filter": [[1] * 300] * 300})
    assert _cpu(lambda: budget.solve_estimate(problem)) < 0.5


def test_the_benchmark_problems_are_valid() -> None:
    """benchmarks/budget.py builds its problems from families of sizes: each is a
    problem the format accepts."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(
        "budget_benchmark", SAMPLES.parents[1] / "benchmarks" / "budget.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    for _, family, low, _ in module.CASES:
        data = json.loads(json.dumps(family(low)))
        assert isinstance(module._load(data), Problem | Layer)


def test_a_few_numbers_are_sized_as_numpy_sizes_many() -> None:
    # up to budget._FEW numbers are read one by one, to numpy's integers
    import numpy as np

    from cnnstep.exact import Scaled

    draw = random.Random(7)
    for _ in range(300):
        denominator = draw.choice([1, 2, 8, 10, 12, 75, 1000, 3**20, 2**40 * 7])
        count = draw.randint(1, budget._FEW)
        numerators = np.array([draw.choice([0, draw.randint(-10**12, 10**12),
                                            draw.randint(-9, 9)]) for _ in range(count)],
                              dtype=np.int64).reshape(1, count)
        scaled = Scaled(numerators, denominator)
        few = budget._scaled_sizes(scaled)
        saved, budget._FEW = budget._FEW, 0
        try:
            many = budget._scaled_sizes(scaled)
        finally:
            budget._FEW = saved
        assert few == many
