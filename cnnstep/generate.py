"""Homework variants: seeded problems whose every answer is short and exact.

``generate(Exercise(...), seed=S, count=N)`` draws N problems of one shape
(input size, channels, filters, kernel, stride, padding, activation, pool,
loss, learning rate) with values a student can work by hand — small integers,
one-decimal numbers, or simple fractions — and keeps a draw only when its
answer key is pleasant: every result value a terminating decimal with at most
``places`` decimal places, no tie in a max or min pool window unless asked
for, and no ReLU map that is zero everywhere. The same seed and options give
the same problems on any machine: the draws use :class:`random.Random` seeded
with an integer, and the files are written in a fixed order and format.

Some shapes can never meet the rule (an MSE over 9 outputs divides by 9); the
generator says so before drawing rather than searching forever, and every
search is bounded (:data:`MAX_DRAWS`).

An exercise may say what it asks (``Exercise(ask=...)``, ``--ask`` on the
command line): each problem then carries the key ``questions`` of the problem
format, a list of result keys or entries, or an object from them to points when
any points are given.
"""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from cnnstep import geometry
from cnnstep.engine import solve
from cnnstep.numbers import exact_decimal, parse_number, terminates
from cnnstep.problem import (
    Activation,
    Layer,
    NumberText,
    Pool,
    ProblemError,
    is_volume,
    problem_from_data,
    to_number,
)
from cnnstep.quantities import Selection, SelectionError, present

Style = Literal["integers", "decimals", "fractions"]

#: draws tried for one problem before giving up
MAX_DRAWS = 4000
#: problems one call may generate
MAX_COUNT = 10_000

#: the values each style draws from (targets too), chosen to keep sums short
VALUES: dict[str, tuple[Fraction, ...]] = {
    "integers": tuple(Fraction(n) for n in range(-3, 4)),
    "decimals": tuple(Fraction(n, 10) for n in range(-10, 11)),
    # halves: a product of four of them still has at most four decimal places
    "fractions": tuple(Fraction(n, 2) for n in range(-6, 7)),
}


#: what a target differs from the output by: whole steps keep (z − y), its square,
#: the loss's mean and dL/dZ as short as the output itself allows
DIFFERENCES = tuple(Fraction(n) for n in (-2, -1, 1, 2))


class GenerateError(ProblemError):
    """Options that no problem can meet, or a search that found none."""


@dataclass(frozen=True)
class Exercise:
    """The shape of an exercise; the numbers are drawn."""

    size: tuple[int, int] = (3, 3)
    channels: int = 1
    filters: int = 1
    kernel: tuple[int, int] = (2, 2)
    stride: int = 1
    padding: int = 0
    #: spacing of the kernel's taps (1: adjacent)
    dilation: int = 1
    #: the channels split into this many groups, each filter seeing its group's block
    groups: int = 1
    bias: bool = False
    activation: str | None = None
    pool: str | None = None
    pool_size: int = 2
    target: bool = True
    loss: str = "mse"
    learning_rate: Fraction | None = Fraction(1, 10)
    style: Style = "decimals"
    places: int = 4
    ties: bool = False
    #: a template problem (its keys other than numbers are kept); None: built from the fields
    template: dict[str, Any] | None = field(default=None, compare=False)
    #: what each problem asks, the ``questions`` key: result keys or entries, each with
    #: its points (None: not given, one point); empty: the key is not written (a
    #: template's own is kept)
    ask: tuple[tuple[str, Fraction | None], ...] = ()


def asking(texts: list[str] | tuple[str, ...]) -> tuple[tuple[str, Fraction | None], ...]:
    """``KEY`` or ``KEY=POINTS`` (``grad_filter=4``, ``grad_input[1][1]=1/2``) as what an
    exercise asks.

    >>> asking(["loss", "grad_filter=4"])
    (('loss', None), ('grad_filter', Fraction(4, 1)))
    """
    out: list[tuple[str, Fraction | None]] = []
    for text in texts:
        key, equals, value = text.partition("=")
        key = key.strip()
        if not key:
            raise GenerateError(f"ask: {text!r}: expected a result key or an entry, such as "
                                "grad_filter or grad_filter=4")
        points = to_number(value.strip(), f"ask: {key}: points") if equals else None
        if points is not None and points < 0:
            raise GenerateError(f"ask: {key}: points cannot be negative, got {value.strip()}")
        if key.replace(" ", "") in (k.replace(" ", "") for k, _ in out):
            raise GenerateError(f"ask: {key} is asked twice")
        out.append((key, points))
    return tuple(out)


def questions(ask: tuple[tuple[str, Fraction | None], ...]) -> list[str] | dict[str, Fraction]:
    """The ``questions`` key of what is asked: a list, or with any points an object
    (one point where none is given).

    >>> questions((("loss", None), ("grad_filter", None)))
    ['loss', 'grad_filter']
    >>> questions((("loss", None), ("grad_filter", Fraction(4))))
    {'loss': Fraction(1, 1), 'grad_filter': Fraction(4, 1)}
    """
    if all(points is None for _, points in ask):
        return [key for key, _ in ask]
    return {key: Fraction(1) if points is None else points for key, points in ask}


def _asked(data: dict[str, Any], exercise: Exercise) -> dict[str, Any]:
    """A drawn problem with the exercise's questions; each must name a quantity or an
    entry the problem has (a message with the closest name if not)."""
    if not exercise.ask:
        return data
    problem = problem_from_data(data)
    for key, _ in exercise.ask:
        try:
            Selection.parse([key], problem.layer, present(problem), steps=())
        except SelectionError as error:
            raise GenerateError(f"ask: {error}") from None
    return {**{k: v for k, v in data.items() if k != "questions"},
            "questions": questions(exercise.ask)}


def _check(exercise: Exercise) -> None:
    """Refuse options that can never give short exact answers, before drawing."""
    if exercise.style not in VALUES:
        raise GenerateError(f"style: expected one of {', '.join(VALUES)}, "
                            f"got {exercise.style!r}")
    if not 0 <= exercise.places <= 12:
        raise GenerateError("places: expected 0 to 12 decimal places")
    loss: str | None
    if exercise.template is not None:
        # the template's own numbers make a problem of the shape to be drawn
        problem = problem_from_data(skeleton(exercise))
        layer = problem.layer
        loss = problem.loss if problem.exact_target is not None else None
        given = problem.exact_grad_output is not None
        rate = problem.learning_rate
    else:
        layer = _layer(exercise)
        loss = exercise.loss if exercise.target else None
        given = False
        rate = exercise.learning_rate if exercise.target else None
    activation, pool = layer.activation, layer.pool
    if activation is not None and not activation.exact:
        raise GenerateError(f"activation: {activation.kind} has no exact values; use relu "
                            "or leaky_relu for exact answer keys")
    if pool is not None and pool.kind == "mean" and not terminates(
            Fraction(1, pool.size[0] * pool.size[1])):
        raise GenerateError(f"pool_size: a mean over {pool.size[0] * pool.size[1]} entries "
                            "has no finite decimal; use a size of 2 or 4")
    count = math.prod(layer.last_shape)
    if loss == "mse" and not terminates(Fraction(2, count)):
        raise GenerateError(
            f"loss: an MSE over {count} outputs divides by {count}, so its gradients never "
            "have a finite decimal; choose another size, or sse or half_sse")
    check_steps(result_steps(layer, VALUES[exercise.style], loss, given, rate),
                exercise.places)


def _layer(exercise: Exercise) -> Layer:
    """The layer an exercise's fields describe; refused if a window does not fit."""
    dilation = (exercise.dilation,) * 2
    spans = geometry.effective_kernel(exercise.kernel, dilation)
    outputs = geometry.sizes(exercise.size, spans, (exercise.stride,) * 2,
                             (exercise.padding,) * 2)
    for count, what in ((exercise.channels, "channels"), (exercise.filters, "filters")):
        if count % exercise.groups:
            raise GenerateError(f"groups: {exercise.groups} does not divide the {count} "
                                f"{what}; choose --channels and --filters that it divides")
    if min(outputs) < 1:
        if exercise.dilation != 1:
            raise GenerateError(f"dilation: the kernel {exercise.kernel[0]}×{exercise.kernel[1]} "
                                f"dilated by {exercise.dilation} spans {spans[0]}×{spans[1]}, "
                                "more than the padded input")
        raise GenerateError(f"the kernel {exercise.kernel[0]}×{exercise.kernel[1]} does not fit "
                            f"the padded input")
    pool = None
    if exercise.pool:
        size = (exercise.pool_size,) * 2
        if min(geometry.sizes(outputs, size, size)) < 1:
            raise GenerateError(f"pool_size: a {exercise.pool_size}×{exercise.pool_size} window "
                                f"does not fit the {outputs[0]}×{outputs[1]} output")
        pool = Pool(exercise.pool, size, size, input_size=outputs)
    return Layer(
        input_shape=(exercise.channels, *exercise.size),
        filter_shape=(exercise.filters, exercise.channels // exercise.groups, *exercise.kernel),
        has_bias=exercise.bias, stride=(exercise.stride,) * 2, padding=(exercise.padding,) * 2,
        activation=Activation(exercise.activation) if exercise.activation else None, pool=pool,
        dilation=dilation, groups=exercise.groups)


@dataclass(frozen=True)
class Grid:
    """What every entry of a result is a whole multiple of, whatever the draw."""

    #: the step: each entry is a whole multiple of it
    step: Fraction
    #: how many entries the result has
    entries: int
    #: the fixed factors the step is the product of, in words
    factors: str


def _gcd(a: Fraction, b: Fraction) -> Fraction:
    """The largest step that both steps are whole multiples of."""
    return Fraction(math.gcd(a.numerator, b.numerator), math.lcm(a.denominator, b.denominator))


def _show(value: Fraction) -> str:
    return exact_decimal(value) if terminates(value) else str(value)


def result_steps(layer: Layer, values: tuple[Fraction, ...], loss: str | None, given: bool,
           rate: Fraction | None) -> dict[str, Grid]:
    """The step of each result whatever the draw: drawn values are multiples of the
    style's step, a target differs from the output by whole steps, and each stage
    multiplies the step of the one before by its fixed factors (the MSE's 2/N, a
    mean pool's 1/k², a leaky slope, the learning rate)."""
    unit = Fraction(1, math.lcm(*(v.denominator for v in values)))
    shown = f"the values' {_show(unit)}"
    conv_entries, last_entries = math.prod(layer.output_shape), math.prod(layer.last_shape)
    kernel_entries = math.prod(layer.filter_shape)
    slope = layer.activation.slope if (layer.activation is not None
                                       and layer.activation.kind == "leaky_relu") else None
    window = (layer.pool.size[0] * layer.pool.size[1]
              if layer.pool is not None and layer.pool.kind == "mean" else None)
    step, factors = unit * unit, f"{shown} squared"
    grids = {"conv": Grid(step, conv_entries, factors)}
    if slope is not None:
        step, factors = _gcd(step, step * slope), factors + f" × the slope {_show(slope)}"
        grids["activated"] = Grid(step, conv_entries, factors)
    if window is not None:
        step, factors = step / window, factors + f" × the mean's 1/{window}"
        grids["pooled"] = Grid(step, last_entries, factors)
    if given:
        step, factors = unit, f"the given ∂L/∂Z's {_show(unit)}"
    elif loss is not None:  # (z − y) is a whole number
        step = {"mse": Fraction(2, last_entries), "sse": Fraction(2)}.get(loss, Fraction(1))
        factors = (f"the MSE's 2/{last_entries} = {_show(step)}" if loss == "mse"
                   else f"the {loss} loss's {step}")
        grids["loss"] = Grid(step / 2, 1, f"the MSE's 1/{last_entries}" if loss == "mse"
                             else f"the {loss} loss's {step / 2}")
        grids["grad_output"] = Grid(step, last_entries, factors)
    else:
        return grids
    if window is not None:
        step, factors = step / window, factors + f" × the mean's 1/{window}"
    if slope is not None:
        step, factors = _gcd(step, step * slope), factors + f" × the slope {_show(slope)}"
    grids["grad_conv"] = Grid(step, conv_entries, factors)
    grids["grad_filter"] = Grid(step * unit, kernel_entries, f"{factors} × {shown}")
    grids["grad_input"] = Grid(step * unit, math.prod(layer.input_shape),
                               f"{factors} × {shown}")
    if rate is not None:
        grids["updated_filter"] = Grid(_gcd(unit, rate * step * unit), kernel_entries,
                                       f"α {_show(rate)} × {factors} × {shown}")
        if layer.has_bias:
            grids["updated_bias"] = Grid(_gcd(unit, rate * step), layer.filters,
                                         f"α {_show(rate)} × {factors}")
    return grids


#: a search is refused before it starts when it would find a problem in :data:`MAX_DRAWS`
#: draws with about this chance or less: the chance is estimated from the result
#: that is least likely to come out short, each of its entries short by chance
#: (about 1 in m, where its step times 10^places has denominator m)
HOPELESS = 1e-3


def check_steps(grids: dict[str, Grid], places: int) -> None:
    """Refuse a shape whose fixed factors leave some result short only by a chance
    too small for the search (see :data:`HOPELESS`)."""
    def odds(grid: Grid) -> float:  # log10 of 1 / the chance that every entry is short
        return grid.entries * math.log10((grid.step * 10**places).denominator)

    key, worst = max(grids.items(), key=lambda item: odds(item[1]))
    if odds(worst) < math.log10(MAX_DRAWS / HOPELESS):
        return
    needed = (f"{_places(worst.step)} decimal places" if terminates(worst.step)
              else "no finite decimal")
    raise GenerateError(
        f"{key}: every entry is a multiple of {_show(worst.step)} ({worst.factors}): "
        f"{needed}, and all {worst.entries} entries would have at most {places} only by a "
        "rare chance; allow more --places, or choose integer values, another loss or "
        "learning rate")


def _places(step: Fraction) -> int:
    """How many decimal places a multiple of ``step`` may need (it terminates)."""
    return next(n for n in range(64) if (step * 10**n).denominator == 1)


def _grid(rng: random.Random, values: tuple[Fraction, ...], shape: tuple[int, ...]) -> Any:
    if not shape:
        return rng.choice(values)
    return [_grid(rng, values, shape[1:]) for _ in range(shape[0])]


def _shaped(value: Any) -> tuple[int, ...]:
    shape: list[int] = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0]
    return tuple(shape)


def skeleton(exercise: Exercise) -> dict[str, Any]:
    """The problem's keys with placeholder arrays of the right shapes."""
    if exercise.template is not None:
        return {key: _numbers(value) for key, value in exercise.template.items()
                if key != "answers"}
    h, w = exercise.size
    kh, kw = exercise.kernel
    one = exercise.channels == 1 and exercise.filters == 1
    data: dict[str, Any] = {
        "input": [[0] * w] * h if exercise.channels == 1 else [[[0] * w] * h] * exercise.channels,
        "filter": ([[0] * kw] * kh if one else
                   [[[[0] * kw] * kh] * (exercise.channels // exercise.groups)]
                   * exercise.filters),
    }
    if exercise.bias:
        data["bias"] = 0 if exercise.filters == 1 else [0] * exercise.filters
    if exercise.stride != 1:
        data["stride"] = exercise.stride
    if exercise.padding:
        data["padding"] = exercise.padding
    if exercise.dilation != 1:
        data["dilation"] = exercise.dilation
    if exercise.groups != 1:
        data["groups"] = exercise.groups
    if exercise.activation:
        data["activation"] = exercise.activation
    if exercise.pool:
        data["pool"] = {"type": exercise.pool, "size": exercise.pool_size}
    if exercise.target:
        data["target"] = None  # shaped once the layer is known
        data["loss"] = exercise.loss
    if exercise.learning_rate is not None and exercise.target:
        data["learning_rate"] = exercise.learning_rate
    return data


def _numbers(value: Any) -> Any:
    """A template's JSON number literals as exact numbers (its names stay text)."""
    if isinstance(value, NumberText):
        number = parse_number(value)
        return int(number) if number.denominator == 1 else number
    if isinstance(value, list):
        return [_numbers(item) for item in value]
    if isinstance(value, dict):
        return {key: _numbers(item) for key, item in value.items()}
    return value


def _draw(rng: random.Random, exercise: Exercise) -> dict[str, Any]:
    values = VALUES[exercise.style]
    data = skeleton(exercise)
    for key in ("input", "filter", "kernel", "bias"):
        if key in data and data[key] != "symbolic":
            data[key] = _grid(rng, values, _shaped(data[key]))
    for key in ("target", "grad_output"):
        if key not in data:
            continue
        probe = problem_from_data({k: v for k, v in data.items()
                                   if k not in ("target", "grad_output", "loss",
                                                "learning_rate")})
        last = solve(probe).output
        rank = probe.layout.output_rank
        if key == "grad_output":
            grid = _grid(rng, values, last.shape)
        else:
            # the output plus a small whole or half step: the differences (z − y) stay
            # short, so their squares and the loss's mean stay short too
            grid = [[[z + rng.choice(DIFFERENCES) for z in row] for row in channel]
                    for channel in last.tolist()]
        data[key] = grid if rank == 3 else grid[0]
    return data


def _short(value: Fraction, places: int) -> bool:
    """At most ``places`` decimals: the denominator (in lowest terms) divides 10^places."""
    return bool(10**places % value.denominator == 0)


def _acceptable(data: dict[str, Any], exercise: Exercise) -> bool:
    """Every result value short and exact; no pool ties unless asked; no dead ReLU map."""
    problem = problem_from_data(data)
    solution = solve(problem)
    for key in present(problem):
        value = getattr(solution, key)
        entries = [value] if isinstance(value, Fraction) else list(value.flat)
        if not all(_short(v, exercise.places) for v in entries):
            return False
    if problem.layer.activation is not None and problem.layer.activation.kind == "relu":
        activated = solution.activated
        assert activated is not None
        if any(not any(activated[f].flat) for f in range(activated.shape[0])):
            return False
    pool = problem.layer.pool
    if pool is not None and pool.kind in ("max", "min") and not exercise.ties:
        source = solution.pool_input
        for f, i, j in ((f, i, j) for f in range(source.shape[0])
                        for i in range(solution.output.shape[1])
                        for j in range(solution.output.shape[2])):
            window = [source[cell] for cell in geometry.pool_cells(pool, f, i, j)]
            best = max(window) if pool.kind == "max" else min(window)
            if window.count(best) > 1:
                return False
    return True


def generate(exercise: Exercise, *, seed: int, count: int,
             max_draws: int = MAX_DRAWS) -> list[dict[str, Any]]:
    """``count`` problems of the exercise's shape, the same for the same seed; each
    found within ``max_draws`` draws or refused."""
    if not 1 <= count <= MAX_COUNT:
        raise GenerateError(f"count: expected 1 to {MAX_COUNT}, got {count}")
    draw, acceptable, asked = _draw, _acceptable, _asked
    if exercise.template is not None and is_volume(exercise.template):
        from cnnstep import generate_volume as volume  # a 3-D template: its own rules

        volume.check(exercise)
        draw, acceptable, asked = volume.draw, volume.acceptable, volume.asked
    else:
        _check(exercise)
    rng = random.Random(seed)
    problems = []
    for number in range(1, count + 1):
        for _ in range(max_draws):
            data = draw(rng, exercise)
            if acceptable(data, exercise):
                problems.append(asked(data, exercise))
                break
        else:
            raise GenerateError(
                f"problem {number}: no draw in {max_draws} gave short exact answers; allow more "
                "decimal places, another style of values, or a smaller layer")
    return problems


def dumps(data: dict[str, Any], *, fractions: bool = False) -> str:
    """A problem file's text: stable key order, one line per top-level key; integers as
    JSON numbers, other values as exact decimals or, with ``fractions`` (or when they
    have no finite decimal), as strings such as "3/2"."""
    lines = [f"  {json.dumps(key)}: {_dump(value, fractions)}" for key, value in data.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _dump(value: Any, fractions: bool) -> str:
    if isinstance(value, Fraction):
        if value.denominator == 1 or (terminates(value) and not fractions):
            return exact_decimal(value)
        return json.dumps(f"{value.numerator}/{value.denominator}")
    if isinstance(value, list):
        return "[" + ", ".join(_dump(item, fractions) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_dump(v, fractions)}"
                               for k, v in value.items()) + "}"
    return json.dumps(value, ensure_ascii=False)


def names(count: int, prefix: str = "problem") -> list[str]:
    """File names for ``count`` problems: problem-01.json … (zero-padded, sorted)."""
    digits = max(2, len(str(count)))
    return [f"{prefix}-{n:0{digits}d}.json" for n in range(1, count + 1)]


def held(directory: Path, prefix: str = "problem") -> list[Path]:
    """The files of a set already in ``directory``, named as :func:`names` names
    them (``problem-01.json`` …), sorted; none if it is no directory."""
    pattern = re.compile(rf"{re.escape(prefix)}-[0-9]+\.json")
    if not directory.is_dir():
        return []
    return sorted(path for path in directory.iterdir() if pattern.fullmatch(path.name))


def refusal(directory: Path, old: list[Path]) -> str:
    """Why a set is not written into a directory that holds the files ``old`` of another."""
    more = f" and {len(old) - 1} more" if len(old) > 1 else ""
    return (f"{directory}: already holds a set of problems ({old[0].name}{more}); write into "
            "another directory, or replace that set with --overwrite")


def write(problems: list[dict[str, Any]], directory: Path, *, prefix: str = "problem",
          fractions: bool = False, replace: bool = False) -> list[Path]:
    """Write the problems into ``directory`` (made if missing) and give their paths.

    A directory that already holds a set (:func:`held`) is refused, naming one of
    its files, unless ``replace``: then the set is replaced, its files that this
    set does not overwrite removed, so that ``directory/*.json`` is one set."""
    old = held(directory, prefix)
    if old and not replace:
        raise GenerateError(refusal(directory, old))
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in zip(names(len(problems), prefix), problems, strict=True):
        path = directory / name
        path.write_text(dumps(data, fractions=fractions), encoding="utf-8")
        paths.append(path)
    for path in set(old) - set(paths):
        path.unlink()
    return paths


def from_template(template: dict[str, Any], exercise: Exercise | None = None) -> Exercise:
    """An exercise that redraws the numbers of a template problem (in the style,
    places and ties of ``exercise``; its shape options are the template's)."""
    return replace(exercise or Exercise(), template=template)
