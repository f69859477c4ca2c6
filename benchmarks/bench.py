"""Benchmarks for cnnstep, printed as a Markdown table for the README.

Run from the project root::

    .venv/bin/python benchmarks/bench.py            # full run
    .venv/bin/python benchmarks/bench.py --quick    # fewer repetitions
    .venv/bin/python benchmarks/bench.py --write-problem lenet.json   # only write the problem

Every measurement is a small function ``(Context) -> list[Row]`` listed in
:data:`MEASUREMENTS`; add a new one by writing such a function and appending it.

Child processes are timed and measured by a tiny wrapper (``python -c``) that
runs the command once and reports its wall time, its CPU time and
``getrusage(RUSAGE_CHILDREN).ru_maxrss``: a fresh wrapper per run, so the peak
memory is that of the one child and nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "cnnstep" / "samples" / "seed000-filter-update.json"
BIN = Path(sys.executable).parent
CNNSTEP = BIN / "cnnstep"
FLOOR_IMPORTS = "import numpy, typer, rich"

# targets
STARTUP_RATIO_TARGET = 1.3
TEXT_STARTUP_RATIO_TARGET = 1.15
LENET_SECONDS_TARGET = 2.0
LENET_MEGABYTES_TARGET = 300.0
LENET_TEXT_SECONDS_TARGET = 3.0
LENET_LATEX_SECONDS_TARGET = 15.0
#: the every-term LaTeX is written as it is made: its peak memory, in MB
LENET_LATEX_MEGABYTES_TARGET = 200.0
VERIFY_SECONDS_TARGET = 10.0
#: the ResNet stem's worked derivation as text, default term limit: seconds and MB
STEM_TEXT_SECONDS_TARGET = 10.0
STEM_TEXT_MEGABYTES_TARGET = 1000.0

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]

#: Runs ``sys.argv[2:]`` once with standard output sent to the file
#: ``sys.argv[1]`` and prints its wall time, CPU time (user + system), peak RSS
#: and exit status as JSON.
_WRAPPER = """\
import json, resource, subprocess, sys, time
with open(sys.argv[1], "wb") as out:
    start = time.perf_counter()
    done = subprocess.run(sys.argv[2:], stdout=out, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stderr.buffer.write(done.stderr)
print(json.dumps({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
                  "maxrss_kb": usage.ru_maxrss, "returncode": done.returncode}))
"""


# --------------------------------------------------------------------------
# the table


@dataclass(frozen=True)
class Row:
    """One line of the table; ``met`` is None where there is no target."""

    measurement: str
    result: str
    target: str = "—"
    met: bool | None = None


@dataclass
class Context:
    """What the measurements share: repetition counts and the work directory."""

    quick: bool
    workdir: Path
    lenet_path: Path
    startup_repeats: int
    lenet_repeats: int
    numpy_repeats: int
    render_repeats: int
    large_repeats: int = 1
    notes: list[str] = field(default_factory=list)


Measurement = Callable[[Context], list[Row]]


def markdown_table(rows: Sequence[Row]) -> str:
    header = ["measurement", "result", "target", "met"]
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(["---"] * len(header)) + " |",
    ]
    for row in rows:
        met = "—" if row.met is None else ("yes" if row.met else "**no**")
        cells = [row.measurement, row.result, row.target, met]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def machine() -> str:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 0
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    text = (
        f"Machine: {platform.system()} {platform.machine()} ({cpu}), nproc {cpus}, "
        f"Python {platform.python_version()}, numpy {np.__version__}"
    )
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        text += (" (PYTHONDONTWRITEBYTECODE is set: the start-up runs clear it; elsewhere"
                 " modules without a .pyc are compiled per run)")
    return text


# --------------------------------------------------------------------------
# running a child process


@dataclass(frozen=True)
class ChildRun:
    wall: float  # seconds
    cpu: float  # seconds, user + system
    maxrss_mb: float  # peak resident set size of the child, MiB
    output: Path


Command = Sequence[str | Path]


def run_child(command: Command, output: Path,
              env: dict[str, str] | None = None) -> ChildRun:
    """Run ``command`` once through the wrapper; fail loudly if it fails."""
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, str(output), *map(str, command)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrapper failed for {command}: {done.stderr.strip()}")
    report = json.loads(done.stdout)
    if report["returncode"] != 0:
        raise RuntimeError(
            f"{' '.join(map(str, command))} exited with {report['returncode']}: "
            f"{done.stderr.strip()}"
        )
    return ChildRun(report["wall"], report["cpu"], report["maxrss_kb"] / 1024, output)


def seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.1f} s"


# --------------------------------------------------------------------------
# (a) start-up: a tiny problem against the bare imports


#: ``cnnstep solve FILE --format json`` with the command function called
#: directly, so typer neither parses nor converts the arguments: the start-up
#: that the command-line layer adds is the difference to the real command. Like
#: the console script (``cnnstep/__main__.py``), it collects cycles rarely and
#: leaves without the interpreter's teardown.
_DIRECT = """\
import gc, os, sys
gc.set_threshold(100_000, 20, 50)
from pathlib import Path
from cnnstep.cli import SolveFormat, solve
solve([Path(sys.argv[1])], format=SolveFormat.json)
sys.stdout.flush()
os._exit(0)
"""


def measure_startup(ctx: Context) -> list[Row]:
    commands: dict[str, Command] = {
        "solve": [CNNSTEP, "solve", SAMPLE, "--format", "json"],
        "text": [CNNSTEP, "solve", SAMPLE],  # the worked derivation, written to a file
        "floor": [sys.executable, "-c", FLOOR_IMPORTS],
        "direct": [sys.executable, "-c", _DIRECT, SAMPLE],
    }
    out = ctx.workdir / "startup.out"
    # `pip install .` writes the package's bytecode; an editable install does
    # not, and PYTHONDONTWRITEBYTECODE forbids writing it on first use. Compile
    # it here and run every child without the variable, so that both sides of
    # the ratio load .pyc files (the warm-up run writes any that are missing)
    env = {name: value for name, value in os.environ.items()
           if name != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "cnnstep")],
                   check=True, env=env)
    direct_error = None
    for name, command in list(commands.items()):  # warm-up: bytecode, page cache
        try:
            run_child(command, out, env)
        except RuntimeError as error:
            if name != "direct":
                raise
            direct_error = str(error).splitlines()[-1]  # the diagnostic may go stale
            del commands[name]
    runs: dict[str, list[ChildRun]] = {name: [] for name in commands}
    for _ in range(ctx.startup_repeats):  # interleaved, so drift hits all alike
        for name, command in commands.items():
            runs[name].append(run_child(command, out, env))
    # the fastest run of each: on a shared machine, the one least disturbed
    wall = {name: min(r.wall for r in rs) for name, rs in runs.items()}
    cpu = {name: min(r.cpu for r in rs) for name, rs in runs.items()}

    def timing(name: str) -> str:
        return f"{seconds(wall[name])} (CPU {seconds(cpu[name])})"

    ratio = wall["solve"] / wall["floor"]
    text_ratio = wall["text"] / wall["floor"]
    n = ctx.startup_repeats
    direct = (
        f"n/a ({direct_error})" if direct_error
        else f"{wall['direct'] / wall['floor']:.2f} ({timing('direct')})"
    )
    return [
        Row(f"`cnnstep solve {SAMPLE.name} --format json`, wall, fastest of {n}",
            timing("solve")),
        Row(f'floor `python -c "{FLOOR_IMPORTS}"`, wall, fastest of {n}', timing("floor")),
        Row("start-up ratio solve / floor, wall (CPU)",
            f"{ratio:.2f} ({cpu['solve'] / cpu['floor']:.2f})",
            f"≤ {STARTUP_RATIO_TARGET}", ratio <= STARTUP_RATIO_TARGET),
        Row(f"`cnnstep solve {SAMPLE.name}` (text, not a terminal), wall, fastest of {n}",
            timing("text")),
        Row("start-up ratio solve (text) / floor, wall (CPU)",
            f"{text_ratio:.2f} ({cpu['text'] / cpu['floor']:.2f})",
            f"≤ {TEXT_STARTUP_RATIO_TARGET}", text_ratio <= TEXT_STARTUP_RATIO_TARGET),
        Row("same command function called without typer's parsing (diagnostic), "
            "ratio to floor", direct),
    ]


def import_times(command: Command) -> dict[str, int]:
    """Each module imported by ``python -X importtime <command>``: its own time, µs."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *map(str, command)],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )
    modules: dict[str, int] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        own, _, name = line.removeprefix("import time:").split("|")
        if own.strip().isdigit():  # not the header line
            modules[name.strip()] = int(own)
    return modules


def measure_imports(ctx: Context) -> list[Row]:
    # the console script is a Python file: run it as the timed runs do, not via -m
    solve = import_times([CNNSTEP, "solve", SAMPLE, "--format", "json"])
    floor = import_times(["-c", FLOOR_IMPORTS])
    sympy = sorted(m for m in solve if m == "sympy" or m.startswith("sympy."))
    extra: dict[str, int] = {}
    for module in solve.keys() - floor.keys():
        top = module.split(".")[0]
        extra[top] = extra.get(top, 0) + solve[module]
    heaviest = sorted(extra.items(), key=lambda item: -item[1])[:6]
    ctx.notes.append(
        f"`solve --format json` imports {len(solve)} modules, the floor {len(floor)}; "
        f"the {len(solve.keys() - floor.keys())} extra take {sum(extra.values()) / 1000:.0f} ms "
        "of import time, heaviest by top-level package: "
        + ", ".join(f"{name} {us / 1000:.0f} ms" for name, us in heaviest) + "."
    )
    return [
        Row("`sympy` imported by `solve --format json` (`-X importtime`)",
            f"yes ({len(sympy)} modules)" if sympy else "no", "no", not sympy),
    ]


# --------------------------------------------------------------------------
# (b) a LeNet-sized layer


@dataclass(frozen=True)
class Layer:
    """A layer with exact decimal values: each array is ``integers / scale``."""

    input: IntArray  # (C, H, W) / 100
    filter: IntArray  # (F, C, kh, kw) / 1000
    bias: IntArray  # (F,) / 100
    target: IntArray  # (F, oh, ow) / 100
    learning_rate: str
    stride: int
    padding: int
    #: keys after the convolution: an activation and a pool
    after: dict[str, Any] = field(default_factory=dict)

    #: decimal places of each array's values
    SCALES: ClassVar[dict[str, int]] = {"input": 2, "filter": 3, "bias": 2, "target": 2}

    def floats(self, name: str) -> FloatArray:
        array: IntArray = getattr(self, name)
        values: FloatArray = array.astype(np.float64) / 10 ** self.SCALES[name]
        return values

    def problem_json(self) -> str:
        """The problem file: every number a JSON literal spelling an exact decimal."""

        def literal(array: IntArray, places: int) -> Any:
            if array.ndim == 0:
                return _Raw(str(Decimal(int(array)).scaleb(-places)))
            return [literal(item, places) for item in array]

        data = {
            name: literal(getattr(self, name), places) for name, places in self.SCALES.items()
        }
        data |= {"loss": "mse", "stride": self.stride, "padding": self.padding,
                 "learning_rate": _Raw(self.learning_rate)}
        data |= self.after
        order = ["input", "filter", "bias", "target", "loss", "stride", "padding",
                 "learning_rate", *self.after]
        return "{\n" + ",\n".join(f'  "{k}": {_dump(data[k])}' for k in order) + "\n}\n"


class _Raw(str):
    """Text written into the JSON verbatim (a number literal)."""


def _dump(value: Any) -> str:
    if isinstance(value, _Raw):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_dump(item) for item in value) + "]"
    return json.dumps(value)


def lenet_layer(seed: int = 0) -> Layer:
    """LeNet-5's first layer on a 3×32×32 image: 6 filters 3×5×5, stride 1, padding 2."""
    rng = random.Random(seed)
    channels, size, filters, kernel, padding, stride = 3, 32, 6, 5, 2, 1
    out = (size + 2 * padding - kernel) // stride + 1

    def ints(shape: tuple[int, ...], low: int, high: int) -> IntArray:
        count = int(np.prod(shape))
        return np.array([rng.randint(low, high) for _ in range(count)],
                        dtype=np.int64).reshape(shape)

    return Layer(
        input=ints((channels, size, size), 0, 99),  # 0.00 … 0.99
        filter=ints((filters, channels, kernel, kernel), -200, 200),  # -0.200 … 0.200
        bias=ints((filters,), -50, 50),  # -0.50 … 0.50
        target=ints((filters, out, out), -100, 100),  # -1.00 … 1.00
        learning_rate="0.01",
        stride=stride,
        padding=padding,
    )


@dataclass(frozen=True)
class FloatResult:
    output: FloatArray
    loss: float
    grad_output: FloatArray
    grad_filter: FloatArray
    grad_bias: FloatArray
    grad_input: FloatArray
    updated_filter: FloatArray
    updated_bias: FloatArray


def float_layer(
    x: FloatArray, k: FloatArray, b: FloatArray, y: FloatArray, lr: float, padding: int
) -> FloatResult:
    """The same layer in float64: forward, MSE, dZ, dK, dB, dX and the SGD update.

    Stride 1 only. ``tensordot`` over sliding windows (im2col + BLAS).
    """
    kh, kw = k.shape[2], k.shape[3]
    xpad = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    windows = sliding_window_view(xpad, (kh, kw), axis=(1, 2))  # (C, oh, ow, kh, kw)
    z = np.tensordot(k, windows, axes=([1, 2, 3], [0, 3, 4])) + b[:, None, None]  # (F, oh, ow)
    diff = z - y
    loss = float(np.mean(diff * diff))
    dz = diff * (2 / diff.size)
    dk = np.tensordot(dz, windows, axes=([1, 2], [1, 2]))  # (F, C, kh, kw)
    db = dz.sum(axis=(1, 2))
    dz_full = np.pad(dz, ((0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1)))
    dz_windows = sliding_window_view(dz_full, (kh, kw), axis=(1, 2))  # (F, Hp, Wp, kh, kw)
    rotated = k[:, :, ::-1, ::-1]
    dxpad = np.tensordot(rotated, dz_windows, axes=([0, 2, 3], [0, 3, 4]))  # (C, Hp, Wp)
    dx = dxpad[:, padding : dxpad.shape[1] - padding, padding : dxpad.shape[2] - padding]
    return FloatResult(z, loss, dz, dk, db, dx, k - lr * dk, b - lr * db)


def _float_inputs(layer: Layer) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, float]:
    return (layer.floats("input"), layer.floats("filter"), layer.floats("bias"),
            layer.floats("target"), float(layer.learning_rate))


def measure_lenet_exact(ctx: Context) -> list[Row]:
    command: Command = [CNNSTEP, "solve", ctx.lenet_path, "--format", "json"]
    out = ctx.workdir / "lenet.out"
    runs = [run_child(command, out) for _ in range(ctx.lenet_repeats)]
    wall = statistics.median(run.wall for run in runs)
    cpu = statistics.median(run.cpu for run in runs)
    peak = statistics.median(run.maxrss_mb for run in runs)
    n = ctx.lenet_repeats

    # sanity: the exact answer agrees with float64 to rounding error
    layer = lenet_layer()
    reference = float_layer(*_float_inputs(layer), padding=layer.padding)
    exact = json.loads(out.read_text())
    keys = ("output", "loss", "grad_output", "grad_filter", "grad_bias", "grad_input",
            "updated_filter", "updated_bias")
    worst = 0.0
    for key in keys:
        if key not in exact:
            worst = float("inf")
            continue
        given = np.asarray(exact[key], dtype=np.float64)
        worst = max(worst, float(np.max(np.abs(given - getattr(reference, key)))))
    return [
        Row(f"LeNet layer exact `cnnstep solve --format json`, wall, median of {n}",
            f"{seconds(wall)} (CPU {seconds(cpu)})",
            f"< {LENET_SECONDS_TARGET:g} s", wall < LENET_SECONDS_TARGET),
        Row(f"LeNet layer exact, peak RSS of the child, median of {n}", f"{peak:.0f} MiB",
            f"< {LENET_MEGABYTES_TARGET:g} MB", peak < LENET_MEGABYTES_TARGET),
        Row("LeNet layer exact vs float64: max |difference| over all 8 result keys",
            f"{worst:.1e}", "< 1e-9", worst < 1e-9),
    ]


def measure_lenet_float(ctx: Context) -> list[Row]:
    layer = lenet_layer()
    inputs = _float_inputs(layer)
    float_layer(*inputs, padding=layer.padding)  # warm-up
    times = []
    for _ in range(ctx.numpy_repeats):
        start = time.perf_counter()
        float_layer(*inputs, padding=layer.padding)
        times.append(time.perf_counter() - start)
    best = statistics.median(times)
    return [
        Row(f"LeNet layer float64 numpy, in-process, median of {ctx.numpy_repeats}",
            f"{best * 1000:.2f} ms"),
    ]


def _render(ctx: Context, label: str, options: Sequence[str], target: float,
            megabytes: float | None = None) -> list[Row]:
    """Time one rendering of the LeNet layer written to a file with ``-o`` (and with
    ``megabytes``, hold its peak memory to that target)."""
    out = ctx.workdir / "rendered"
    command: Command = [CNNSTEP, "solve", ctx.lenet_path, *options, "-o", out]
    runs = [run_child(command, ctx.workdir / "stdout") for _ in range(ctx.render_repeats)]
    wall = statistics.median(run.wall for run in runs)
    cpu = statistics.median(run.cpu for run in runs)
    peak = statistics.median(run.maxrss_mb for run in runs)
    size = out.stat().st_size / 2**20
    n = ctx.render_repeats
    rows = [
        Row(f"LeNet layer {label}, wall, median of {n}",
            f"{seconds(wall)} (CPU {seconds(cpu)}), {size:.1f} MiB written, "
            f"peak RSS {peak:.0f} MiB", f"< {target:g} s", wall < target),
    ]
    if megabytes is not None:
        rows.append(Row(f"LeNet layer {label}, peak RSS of the child, median of {n}",
                        f"{peak:.0f} MiB", f"< {megabytes:g} MB", peak < megabytes))
    return rows


def measure_lenet_text(ctx: Context) -> list[Row]:
    return _render(ctx, "worked derivation as text (default term limit)",
                   ["--format", "text"], LENET_TEXT_SECONDS_TARGET)


def measure_lenet_latex(ctx: Context) -> list[Row]:
    return _render(ctx, "every term as LaTeX (`--max-terms 0`)",
                   ["--format", "latex", "--max-terms", "0", "--max-work", "0"],
                   LENET_LATEX_SECONDS_TARGET, LENET_LATEX_MEGABYTES_TARGET)


# --------------------------------------------------------------------------
# (c) larger layers, exact JSON against a float64 PyTorch script doing the same job

#: name → (channels, size, filters, kernel, padding, stride) and what follows the
#: convolution
LARGE_LAYERS: dict[str, tuple[tuple[int, ...], dict[str, Any]]] = {
    "3×128×128, 32 filters 3×3×3, padding 1": ((3, 128, 32, 3, 1, 1), {}),
    "ResNet stem 3×224×224, 64 filters 3×7×7, stride 2, padding 3":
        ((3, 224, 64, 7, 3, 2), {}),
    "the ResNet stem with ReLU and a 3×3 max pool, stride 2, padding 1":
        ((3, 224, 64, 7, 3, 2),
         {"activation": "relu", "pool": {"type": "max", "size": 3, "stride": 2, "padding": 1}}),
}

#: read the problem JSON, forward, MSE, backward, SGD update, write the result JSON
#: (with an activation and a pool: every stage and its gradient, as cnnstep writes them)
_TORCH_SCRIPT = """\
import json, sys
import torch
data = json.load(open(sys.argv[1]))
x = torch.tensor(data["input"], dtype=torch.float64, requires_grad=True)
k = torch.tensor(data["filter"], dtype=torch.float64, requires_grad=True)
b = torch.tensor(data["bias"], dtype=torch.float64, requires_grad=True)
y = torch.tensor(data["target"], dtype=torch.float64)
z = torch.nn.functional.conv2d(x[None], k, b, stride=data["stride"], padding=data["padding"])[0]
z.retain_grad()
stages = {}
last = z
if data.get("activation") == "relu":
    last = stages["activated"] = torch.relu(z)
    last.retain_grad()
if "pool" in data:
    p = data["pool"]
    last = stages["pooled"] = torch.nn.functional.max_pool2d(
        last[None], p["size"], p["stride"], p["padding"])[0]
    last.retain_grad()
loss = torch.mean((last - y) ** 2)
loss.backward()
lr = float(data["learning_rate"])
out = {"output": last.tolist(), "loss": loss.item(), "grad_output": last.grad.tolist(),
       "grad_filter": k.grad.tolist(), "grad_bias": b.grad.tolist(),
       "grad_input": x.grad.tolist(), "updated_filter": (k - lr * k.grad).tolist(),
       "updated_bias": (b - lr * b.grad).tolist()}
if stages:
    out["conv"] = z.tolist()
    out.update((key, value.tolist()) for key, value in stages.items())
    out["grad_conv"] = z.grad.tolist()
    if "activated" in stages and "pooled" in stages:
        out["grad_activated"] = stages["activated"].grad.tolist()
sys.stdout.write(json.dumps(out))
"""


def large_layer(channels: int, size: int, filters: int, kernel: int, padding: int,
                stride: int, seed: int = 0, after: dict[str, Any] | None = None) -> Layer:
    rng = np.random.default_rng(seed)
    out = (size + 2 * padding - kernel) // stride + 1
    pool = (after or {}).get("pool")
    if pool:
        out = (out + 2 * pool["padding"] - pool["size"]) // pool["stride"] + 1
    return Layer(input=rng.integers(0, 100, (channels, size, size)),
                 filter=rng.integers(-200, 201, (filters, channels, kernel, kernel)),
                 bias=rng.integers(-50, 51, (filters,)),
                 target=rng.integers(-100, 101, (filters, out, out)),
                 learning_rate="0.01", stride=stride, padding=padding, after=after or {})


def _torch_available() -> bool:
    done = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True,
                          check=False)
    return done.returncode == 0


def measure_large(ctx: Context) -> list[Row]:
    rows: list[Row] = []
    torch = _torch_available()
    for label, (spec, after) in LARGE_LAYERS.items():
        path = ctx.workdir / "large.json"
        path.write_text(large_layer(*spec, after=after).problem_json(), encoding="utf-8")
        exact_runs, torch_runs = [], []
        for _ in range(ctx.large_repeats):  # interleaved, so drift hits both alike
            exact_runs.append(run_child([CNNSTEP, "solve", path, "--format", "json"],
                                        ctx.workdir / "large.out"))
            if torch:
                torch_runs.append(run_child([sys.executable, "-c", _TORCH_SCRIPT, path],
                                            ctx.workdir / "torch.out"))
        # the machine may be shared: the least of each, wall and CPU, is the least
        # disturbed run
        wall = min(r.wall for r in exact_runs)
        cpu = min(r.cpu for r in exact_runs)
        peak = max(r.maxrss_mb for r in exact_runs)
        n = ctx.large_repeats
        if torch:
            torch_wall = min(r.wall for r in torch_runs)
            torch_cpu = min(r.cpu for r in torch_runs)
            torch_peak = max(r.maxrss_mb for r in torch_runs)
            rows += [
                Row(f"{label}: exact JSON vs float64 PyTorch script, wall (CPU), least of {n}",
                    f"{seconds(wall)} ({seconds(cpu)}) vs {seconds(torch_wall)} "
                    f"({seconds(torch_cpu)})", "≤ PyTorch",
                    wall <= torch_wall and cpu <= torch_cpu),
                Row(f"{label}: peak RSS, exact vs PyTorch", f"{peak:.0f} MiB vs "
                    f"{torch_peak:.0f} MiB", "≤ PyTorch", peak <= torch_peak),
            ]
        else:
            rows += [Row(f"{label}: exact JSON, wall (CPU), least of {n} (no torch to compare)",
                         f"{seconds(wall)} ({seconds(cpu)}), peak RSS {peak:.0f} MiB")]
    return rows


def measure_stem_text(ctx: Context) -> list[Row]:
    """The ResNet stem's worked derivation as text with the default term limit, written
    to a file: its numbers read from the integer path, its large matrices shown by
    their first rows and columns."""
    spec, after = LARGE_LAYERS["ResNet stem 3×224×224, 64 filters 3×7×7, stride 2, padding 3"]
    path = ctx.workdir / "stem.json"
    path.write_text(large_layer(*spec, after=after).problem_json(), encoding="utf-8")
    out = ctx.workdir / "stem.txt"
    command: Command = [CNNSTEP, "solve", path, "-o", out]
    runs = [run_child(command, ctx.workdir / "stdout") for _ in range(ctx.large_repeats)]
    wall = min(r.wall for r in runs)
    cpu = min(r.cpu for r in runs)
    peak = max(r.maxrss_mb for r in runs)
    size = out.stat().st_size / 2**20
    n = ctx.large_repeats
    return [
        Row(f"ResNet stem, worked derivation as text (default term limit), wall (CPU), "
            f"least of {n}", f"{seconds(wall)} ({seconds(cpu)}), {size:.1f} MiB written",
            f"< {STEM_TEXT_SECONDS_TARGET:g} s", wall < STEM_TEXT_SECONDS_TARGET),
        Row("the same, peak RSS of the child", f"{peak:.0f} MiB",
            f"< {STEM_TEXT_MEGABYTES_TARGET:g} MB", peak < STEM_TEXT_MEGABYTES_TARGET),
    ]


# --------------------------------------------------------------------------
# (d) --verify on larger layers


def verify_layer(channels: int, size: int, filters: int, kernel: int, padding: int,
                 seed: int = 1) -> Layer:
    """A layer of two-place decimals with a target, for ``--verify``."""
    rng = random.Random(seed)
    out = size + 2 * padding - kernel + 1

    def ints(shape: tuple[int, ...], low: int, high: int) -> IntArray:
        count = int(np.prod(shape))
        return np.array([rng.randint(low, high) for _ in range(count)],
                        dtype=np.int64).reshape(shape)

    return Layer(input=ints((channels, size, size), -99, 99),
                 filter=ints((filters, channels, kernel, kernel), -200, 200),
                 bias=ints((filters,), -50, 50), target=ints((filters, out, out), -100, 100),
                 learning_rate="0.01", stride=1, padding=padding)


def measure_verify(ctx: Context) -> list[Row]:
    """``cnnstep solve --verify`` (the solve included) on a layer of 20,808 products
    (2×17×17, 4 filters of 2×3×3, padding 1) and on the LeNet-sized one (460,800)."""
    rows = []
    n = ctx.lenet_repeats
    for label, layer, products in (
            ("2×17×17, 4 filters 3×3, padding 1", verify_layer(2, 17, 4, 3, 1), 20_808),
            ("LeNet layer", lenet_layer(), 460_800)):
        path = ctx.workdir / "verify.json"
        path.write_text(layer.problem_json(), encoding="utf-8")
        out = ctx.workdir / "verify.out"
        runs = [run_child([CNNSTEP, "solve", path, "--verify"], out) for _ in range(n)]
        if " differ from " in out.read_text(encoding="utf-8"):  # run_child checks the exit
            raise RuntimeError(f"--verify found a difference on the {label}")
        wall = statistics.median(run.wall for run in runs)
        cpu = statistics.median(run.cpu for run in runs)
        peak = statistics.median(run.maxrss_mb for run in runs)
        rows.append(Row(f"`--verify`, {label}: {products:,} products, wall, median of {n}",
                        f"{seconds(wall)} (CPU {seconds(cpu)}), {peak:.0f} MiB peak",
                        f"< {VERIFY_SECONDS_TARGET:g} s", wall < VERIFY_SECONDS_TARGET))
    return rows


#: Every measurement, in table order: add new ones here.
MEASUREMENTS: list[tuple[str, Measurement]] = [
    ("startup", measure_startup),
    ("imports", measure_imports),
    ("lenet-exact", measure_lenet_exact),
    ("lenet-float", measure_lenet_float),
    ("lenet-text", measure_lenet_text),
    ("lenet-latex", measure_lenet_latex),
    ("large", measure_large),
    ("stem-text", measure_stem_text),
    ("verify", measure_verify),
]


# --------------------------------------------------------------------------


def write_problem(path: Path) -> None:
    path.write_text(lenet_layer().problem_json(), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--write-problem", type=Path, metavar="PATH",
                        help="only write the LeNet-sized problem file to PATH and exit")
    parser.add_argument("--only", action="append", choices=[n for n, _ in MEASUREMENTS],
                        metavar="NAME",
                        help="run only this measurement (repeatable): "
                        + ", ".join(n for n, _ in MEASUREMENTS))
    args = parser.parse_args(argv)

    if args.write_problem is not None:
        write_problem(args.write_problem)
        print(f"wrote {args.write_problem}", file=sys.stderr)
        return 0
    if not CNNSTEP.exists():
        parser.error(f"no console script at {CNNSTEP}; run with the venv's python")

    with tempfile.TemporaryDirectory(prefix="cnnstep-bench-") as tmp:
        workdir = Path(tmp)
        ctx = Context(
            quick=args.quick,
            workdir=workdir,
            lenet_path=workdir / "lenet.json",
            startup_repeats=5 if args.quick else 20,
            lenet_repeats=1 if args.quick else 5,
            numpy_repeats=5 if args.quick else 50,
            render_repeats=1 if args.quick else 3,
            large_repeats=1 if args.quick else 3,
        )
        write_problem(ctx.lenet_path)
        rows: list[Row] = []
        for name, measure in MEASUREMENTS:
            if args.only and name not in args.only:
                continue
            print(f"… {name}", file=sys.stderr, flush=True)
            rows.extend(measure(ctx))

    print(machine())
    print()
    print(markdown_table(rows))
    if ctx.notes:
        print()
        for note in ctx.notes:
            print(f"- {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
