"""Every path at the work budget's limit: wall time, CPU time and peak memory.

Run from the project root::

    .venv/bin/python benchmarks/budget.py              # at the default limit
    .venv/bin/python benchmarks/budget.py --limit 2e7  # at another limit
    .venv/bin/python benchmarks/budget.py --only verify

For each path (the JSON result, the text derivation, LaTeX with every term,
the symbolic derivation and its JSON formulas, ``--verify`` and ``check``) and
a few families of problems (large layers, large padding, long numbers, a large
kernel, sigmoid), the size of the problem is searched so that the path's
estimate (:mod:`cnnstep.budget`) is just under the limit; the command then
runs once as a child process (``python -m cnnstep …``) through a small
wrapper that reports its wall time, CPU time and peak resident memory
(``getrusage(RUSAGE_CHILDREN)``). The table says how long the worst problem
the limit lets through takes, and how much memory it needs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnnstep import budget  # noqa: E402
from cnnstep.problem import Layer, Problem, problem_or_layer  # noqa: E402

#: Runs ``sys.argv[2:]`` once with standard output sent to the file
#: ``sys.argv[1]`` and prints its wall time, CPU time, peak RSS and exit status.
_WRAPPER = """\
import json, resource, subprocess, sys, time
with open(sys.argv[1], "wb") as out:
    start = time.perf_counter()
    done = subprocess.run(sys.argv[2:], stdout=out, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stderr.buffer.write(done.stderr[-2000:])
print(json.dumps({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
                  "maxrss_kb": usage.ru_maxrss, "returncode": done.returncode}))
"""

Data = dict[str, Any]


# --------------------------------------------------------------------------
# families of problems, each grown by one integer


def _decimal(seed: int, places: int = 2) -> str:
    """A deterministic decimal in (-1, 1) with ``places`` places."""
    value = (seed * 7919 + 104729) % (2 * 10**places) - 10**places
    sign, digits = ("-" if value < 0 else ""), str(abs(value)).rjust(places + 1, "0")
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


def _matrix(rows: int, cols: int, seed: int, places: int = 2) -> list[list[str]]:
    return [[_decimal(seed + i * cols + j, places) for j in range(cols)] for i in range(rows)]


def _long(seed: int, digits: int) -> str:
    """A decimal in (0, 1) with ``digits`` places, written without its leading zero
    (a number has at most 1000 characters)."""
    body = "".join(str((seed * 31 + k * 17 + k * k) % 10) for k in range(digits - 1))
    return "." + body + "7"


def layer_family(size: int) -> Data:
    """A LeNet-like layer: 3 channels of size×size, 6 filters 3×5×5, padding 2, MSE
    target, bias and learning rate."""
    out = size
    return {
        "input": [_matrix(size, size, 11 * c) for c in range(3)],
        "filter": [[_matrix(5, 5, 100 * f + 7 * c, 3) for c in range(3)] for f in range(6)],
        "bias": [_decimal(f) for f in range(6)],
        "target": [_matrix(out, out, 1000 + f) for f in range(6)],
        "padding": 2, "learning_rate": "0.01",
    }


def padding_family(padding: int) -> Data:
    """One number with a large padding: the 97-byte file that used to take 4 GB."""
    return {"input": [[1]], "filter": [[1]], "padding": padding}


def digits_family(size: int) -> Data:
    """size×size decimals of 999 places through a 2×2 kernel, with a target."""
    return {"input": [[_long(i * size + j, 999) for j in range(size)] for i in range(size)],
            "filter": [[_long(90001 + k, 999) for k in range(2)] for _ in range(2)],
            "target": [["0"] * (size - 1) for _ in range(size - 1)]}


def kernel_family(size: int) -> Data:
    """A size×size kernel over a size×size input: one output, a large dL/dX."""
    return {"input": _matrix(size, size, 3), "filter": _matrix(size, size, 5),
            "target": [["1"]]}


def sigmoid_family(size: int) -> Data:
    """Sigmoid and a 2×2 max pool after a 3×3 kernel, with a target."""
    pooled = (size - 2) // 2
    return {"input": _matrix(size, size, 1), "filter": _matrix(3, 3, 2), "bias": "0.1",
            "activation": "sigmoid", "pool": {"type": "max", "size": 2},
            "target": _matrix(pooled, pooled, 3)}


def shapes_family(size: int) -> Data:
    """A layer given by shapes: size×size input, 3×3 kernel, a bias."""
    return {"input": {"shape": [size, size]}, "filter": {"shape": [3, 3]},
            "bias": "symbolic"}


def channels_family(size: int) -> Data:
    """A layer given by shapes: 3 channels of size×size, 4 filters of 3×3×3, stride 2,
    padding 1."""
    return {"input": {"shape": [3, size, size]}, "filter": {"shape": [4, 3, 3, 3]},
            "stride": 2, "padding": 1}


def window_family(size: int) -> Data:
    """One output entry over a 1×size window, with a target: direct differentiation
    of one long sum by every symbol in it."""
    return {"input": [[str(i % 5 - 2) for i in range(size)]],
            "filter": [[str(i % 3 - 1) for i in range(size)]], "target": [["1"]]}


# --------------------------------------------------------------------------
# the paths: the command and the estimate that bounds it


@dataclass(frozen=True)
class Path_:
    name: str
    options: tuple[str, ...]
    estimate: Callable[[Problem | Layer], budget.Estimate]
    command: str = "solve"


def _derivation(format: budget.Format, max_terms: int | None = None, symbolic: bool = False
                ) -> Callable[[Problem | Layer], budget.Estimate]:
    def estimate(item: Problem | Layer) -> budget.Estimate:
        return budget.derivation_estimate(item, max_terms, format=format, symbolic=symbolic)
    return estimate


def _solve(item: Problem | Layer) -> budget.Estimate:
    assert isinstance(item, Problem)
    return budget.solve_estimate(item, integers=True)


def _verify(item: Problem | Layer) -> budget.Estimate:
    assert isinstance(item, Problem)
    return budget.verify_estimate(item)


def _marking(item: Problem | Layer) -> budget.Estimate:
    assert isinstance(item, Problem)
    return budget.marking_estimate(item, format="text")


PATHS = {
    "json": Path_("solve --format json", ("--format", "json"), _solve),
    "text": Path_("solve (text)", (), _derivation("text")),
    "latex": Path_("solve --format latex --max-terms 0", ("--format", "latex", "--max-terms", "0"),
                   _derivation("latex", 0)),
    "symbolic": Path_("solve --symbolic (shapes, text)", ("--symbolic",),
                      _derivation("text")),
    "symbolic-json": Path_("solve --symbolic --format json (shapes)",
                           ("--symbolic", "--format", "json"), budget.symbolic_estimate),
    "verify": Path_("solve --verify", ("--verify",), _verify),
    "check": Path_("check (every answer wrong)", (), _marking, "check"),
}

#: (path, family, smallest size, largest size)
CASES: list[tuple[str, Callable[[int], Data], int, int]] = [
    ("json", layer_family, 8, 800),
    ("json", padding_family, 10, 5000),
    ("json", digits_family, 2, 60),
    ("json", kernel_family, 4, 1000),
    ("json", sigmoid_family, 8, 600),
    ("text", layer_family, 8, 400),
    ("text", padding_family, 1, 2000),
    ("text", sigmoid_family, 8, 600),
    ("latex", layer_family, 4, 200),
    ("symbolic", shapes_family, 4, 2000),
    ("symbolic", channels_family, 1, 200),
    ("symbolic-json", shapes_family, 4, 2000),
    ("verify", layer_family, 4, 400),
    ("verify", window_family, 2, 200_000),
    ("verify", sigmoid_family, 4, 400),
    ("check", layer_family, 4, 400),
]


# --------------------------------------------------------------------------
# search and run


def _load(data: Data) -> Problem | Layer:
    return problem_or_layer(json.loads(json.dumps(data)))


def largest_within(family: Callable[[int], Data], path: Path_, low: int, high: int,
                   limit: float) -> tuple[int, float]:
    """The largest size in [low, high] whose estimate is within the limit, and its work."""
    def work(size: int) -> float:
        try:
            return path.estimate(_load(family(size))).work
        except budget.WorkLimitError:  # refused while reading: over any limit
            return float("inf")

    best, best_work = low, work(low)
    while low <= high:
        middle = (low + high) // 2
        found = work(middle)
        if found <= limit:
            best, best_work, low = middle, found, middle + 1
        else:
            high = middle - 1
    return best, best_work


def _answers(data: Data) -> Data:
    """Every entry of every result key, wrong by one."""
    from cnnstep import engine
    from cnnstep.problem import problem_from_data
    from cnnstep.result import result

    def wrong(value: Any) -> Any:
        if isinstance(value, list):
            return [wrong(item) for item in value]
        return str(value + 1)

    solution = engine.solve(problem_from_data(json.loads(json.dumps(data))), max_work=0)
    return {key: wrong(value) for key, value in result(solution).items()}


@dataclass(frozen=True)
class Measured:
    path: str
    family: str
    size: int
    work: float
    wall: float
    cpu: float
    megabytes: float
    status: int


def run(path: Path_, family: Callable[[int], Data], size: int, work: float,
        folder: Path) -> Measured:
    data = family(size)
    problem = folder / "problem.json"
    problem.write_text(json.dumps(data), encoding="utf-8")
    command = [sys.executable, "-m", "cnnstep", path.command, str(problem)]
    if path.command == "check":
        answers = folder / "answers.json"
        answers.write_text(json.dumps(_answers(data)), encoding="utf-8")
        command.append(str(answers))
    command += path.options
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", _WRAPPER, str(folder / "out"), *command],
                          capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    report = json.loads(done.stdout)
    if report["returncode"] not in (0, 1):  # 1: a wrong answer, a differing entry
        raise RuntimeError(f"{' '.join(command)} exited with {report['returncode']}: "
                           f"{done.stderr.strip()}")
    return Measured(path.name, family.__name__.removesuffix("_family"), size, work,
                    report["wall"], report["cpu"], report["maxrss_kb"] / 1024,
                    report["returncode"])


def table(rows: Sequence[Measured], limit: float) -> str:
    lines = [f"Limit {limit:.3g} operations. " + machine(), "",
             "| path | problem | size | estimate | wall | CPU | peak memory |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r.path} | {r.family} | {r.size} | {r.work:.2g} | {r.wall:.1f} s | "
                     f"{r.cpu:.1f} s | {r.megabytes:.0f} MiB |")
    worst_wall = max(r.wall for r in rows)
    worst_memory = max(r.megabytes for r in rows)
    lines += ["", f"Within the limit every path above finished in at most {worst_wall:.1f} s "
                  f"and {worst_memory:.0f} MiB."]
    return "\n".join(lines)


def machine() -> str:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 0
    return (f"{platform.system()} {platform.machine()}, nproc {cpus}, "
            f"Python {platform.python_version()}, load average "
            f"{os.getloadavg()[0]:.1f} at the start")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=float, default=budget.DEFAULT_MAX_WORK,
                        help="the work limit the problems are sized for (default: the "
                             "default limit)")
    parser.add_argument("--only", action="append", choices=sorted(PATHS),
                        help="run only this path (repeat for several)")
    args = parser.parse_args(argv)
    if args.limit != budget.DEFAULT_MAX_WORK:
        budget.DEFAULT_MAX_WORK = int(args.limit)  # for the estimates searched here
        print("note: the commands run with their own default limit", file=sys.stderr)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, family, low, high in CASES:
            if args.only and name not in args.only:
                continue
            path = PATHS[name]
            size, work = largest_within(family, path, low, high, args.limit)
            measured = run(path, family, size, work, Path(folder))
            print(f"{measured.path:40s} {measured.family:8s} size {size:5d}  "
                  f"estimate {work:9.3g}  wall {measured.wall:5.1f} s  "
                  f"cpu {measured.cpu:5.1f} s  {measured.megabytes:6.0f} MiB", file=sys.stderr)
            rows.append(measured)
    print(table(rows, args.limit))
    return 0


if __name__ == "__main__":
    sys.exit(main())
