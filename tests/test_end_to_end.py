"""The few tests that need a fresh interpreter: ``python -m cnnstep`` as a real program.

Every other test runs the command in-process with ``helpers.invoke``; these
check what only a new process shows: the real entry points, what gets
imported, colour decided from the environment at start-up, the shared seed
tool, and that ``invoke`` answers exactly as the console script does.

The processes are independent: each starts in the background when a test first
asks for it (a test that needs several starts them together), once per test
process, so the test workers share them out.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from helpers import NO_SHARED, ROOT, SAMPLES, assert_one_line_error, clean_env, invoke

import cnnstep
from cnnstep import engine

SEED000 = SAMPLES / "seed000-filter-update.json"
GOLDEN = Path(__file__).resolve().parent / "golden"
WIDTH = 100
_ANSI = re.compile(r"\x1b\[([0-9;]*)m")
Completed = subprocess.CompletedProcess[str]


def python_m_cnnstep(*args: str | Path, flags: tuple[str, ...] = ()) -> list[str]:
    """``python [FLAGS] -m cnnstep ARGS``."""
    return [sys.executable, *flags, "-m", "cnnstep", *map(str, args)]


#: the console script's entry point, as pyproject.toml declares it
ENTRY_POINT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
    "project"]["scripts"]["cnnstep"]


def console_script(*args: str | Path, before: str = "") -> list[str]:
    """``cnnstep ARGS`` as the installed console script starts it (its program name is
    "cnnstep"), through its entry point, after running the Python code ``before``."""
    module, function = ENTRY_POINT.split(":")
    code = before + ("import sys\n"
                     "sys.argv[0] = 'cnnstep'\n"
                     f"from {module} import {function}\n"
                     f"sys.exit({function}())\n")
    return [sys.executable, "-c", code, *map(str, args)]


def _run(command: list[str], env: dict[str, str], text_mode: str) -> Completed:
    """From the project root; ``text_mode`` "utf-8" reads the output as UTF-8 (with
    replacement), "locale" as ``subprocess.run(text=True)`` does by default."""
    options: dict[str, Any] = ({"encoding": "utf-8", "errors": "replace"}
                               if text_mode == "utf-8" else {})
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=120, check=False, **options)


class Processes:
    """Commands by name, each started in the background when first asked for;
    ``result(name)`` waits for one.

    Each runs from the project root, in the environment given, by default this
    process's without the terminal variables (``helpers.clean_env``)."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=(os.cpu_count() or 1) + 1)
        self.commands: dict[str, tuple[list[str], dict[str, str], str]] = {}
        self.jobs: dict[str, Future[Completed]] = {}

    def add(self, name: str, command: list[str], env: dict[str, str] | None = None,
            text_mode: str = "utf-8") -> None:
        environment = env if env is not None else clean_env()  # read now, not in a thread
        self.commands[name] = (command, environment, text_mode)

    def start(self, *names: str) -> None:
        """Start these commands (those not started yet), without waiting for them."""
        for name in names:
            if name not in self.jobs:
                self.jobs[name] = self.pool.submit(_run, *self.commands[name])

    def result(self, name: str) -> Completed:
        self.start(name)
        return self.jobs[name].result()


#: the problem of the symbolic sample, given as shapes
SEED_LAYER = {"input": {"shape": [3, 3]}, "filter": {"shape": [2, 2]}, "bias": "symbolic"}
#: two of the loader's rules for shapes (all of them: test_symbolic.py), as
#: (problem, extra options, substrings of the one error line)
FRESH_LOADER_CASES: dict[str, tuple[Any, tuple[str, ...], tuple[str, ...]]] = {
    "shape-without-symbolic": (SEED_LAYER, (), ("input", "--symbolic")),
    "verify-shape-only": (SEED_LAYER, ("--symbolic", "--verify"), ("--verify",)),
}
GOLDEN_SAMPLES = ["seed000-filter-update", "two-filters-padding"]
#: commands whose result in a fresh console script and in ``invoke`` must be the same
RUNNER_CASES = {
    "bad-input": ("solve", SAMPLES / "symbolic-3x3-2x2.json"),
    "missing-file": ("solve", "samples/no-such-problem.json"),
    "usage-error": ("solve", SEED000, "--width", "30"),
    "no-command": (),
    "check-wrong": ("check", SAMPLES / "exercise-with-answers.json", "--format", "markdown"),
}
#: the contract's checker of the seed cases, as a path from the project root
SEED_TOOL = Path("..") / "shared" / "tools" / "check-seed-cases"
#: an exception inside cnnstep: the engine made to fail
BOOM = ("import cnnstep.engine\n"
        "def boom(*args, **kwargs):\n"
        "    raise RuntimeError('boom')\n"
        "cnnstep.engine.solve = boom\n")


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Processes]:
    """Every process of this module, started when a test asks for it."""
    folder = tmp_path_factory.mktemp("fresh")
    runs = Processes()
    for sample in GOLDEN_SAMPLES:
        runs.add(f"golden-{sample}",
                 python_m_cnnstep("solve", SAMPLES / f"{sample}.json", "--width", str(WIDTH)))
    runs.add("version", python_m_cnnstep("--version"))
    tiny = folder / "tiny.json"
    tiny.write_text(json.dumps({"input": [[2]], "filter": [[3]]}), encoding="utf-8")
    runs.add("tiny-json", python_m_cnnstep("solve", tiny, "--format", "json"))
    runs.add("help", python_m_cnnstep("solve", "--help"), env=dict(os.environ),
             text_mode="locale")
    for name, (problem, options, _) in FRESH_LOADER_CASES.items():
        path = folder / f"{name}.json"
        path.write_text(json.dumps(problem), encoding="utf-8")
        runs.add(f"loader-{name}", python_m_cnnstep("solve", path, *options))
    runs.add("importtime", python_m_cnnstep("solve", SEED000, "--format", "json",
                                            flags=("-X", "importtime")),
             env=dict(os.environ), text_mode="locale")
    runs.add("piped", python_m_cnnstep("solve", SEED000))
    runs.add("force-color", python_m_cnnstep("solve", SEED000, "--width", str(WIDTH)),
             env=clean_env(FORCE_COLOR="1"))
    runs.add("force-and-no-color", python_m_cnnstep("solve", SEED000, "--width", str(WIDTH)),
             env=clean_env(FORCE_COLOR="1", NO_COLOR="1"))
    runs.add("no-color", python_m_cnnstep("solve", SEED000, "--width", str(WIDTH)),
             env=clean_env(NO_COLOR="1"))
    for name, args in RUNNER_CASES.items():
        runs.add(f"runner-{name}", console_script(*args))
    runs.add("boom", console_script("check", SAMPLES / "exercise-with-answers.json",
                                    before=BOOM))
    if (ROOT / SEED_TOOL).is_file():
        # given this interpreter's -m cnnstep to run: its default (a cnnstep on PATH, or
        # python3) may be another installation, or none
        runs.add("seed-tool", [str(SEED_TOOL), sys.executable, "-m", "cnnstep"],
                 env=dict(os.environ), text_mode="locale")
    yield runs
    runs.pool.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------
# the real entry points


@pytest.mark.parametrize("sample", GOLDEN_SAMPLES)
def test_cli_text_piped_matches_golden_in_a_fresh_interpreter(fresh: Processes,
                                                              sample: str) -> None:
    """Piped text is the golden file, byte for byte (the in-process runs cover every
    sample in test_golden.py)."""
    run = fresh.result(f"golden-{sample}")
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert run.stdout == (GOLDEN / f"{sample}.txt").read_text(encoding="utf-8")


def test_python_dash_m_cnnstep_works(fresh: Processes) -> None:
    run = fresh.result("version")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"cnnstep {cnnstep.__version__}"
    run = fresh.result("tiny-json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"output": [[6]]}


def test_help_runs_as_a_program(fresh: Processes) -> None:
    """The same help through the real entry point (rich formatting, no test runner)."""
    run = fresh.result("help")
    assert run.returncode == 0, run.stderr
    assert "Example" in run.stdout and "cnnstep solve --sample " in run.stdout


@pytest.mark.parametrize("name", list(FRESH_LOADER_CASES))
def test_loader_rules_through_a_fresh_interpreter(fresh: Processes, name: str) -> None:
    _, _, needles = FRESH_LOADER_CASES[name]
    assert_one_line_error(fresh.result(f"loader-{name}"), *needles)


# --------------------------------------------------------------------------
# what a fresh interpreter imports


def _imported(stderr: str) -> set[str]:
    """Module names from ``python -X importtime`` output."""
    names = set()
    for line in stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+\d+ \|\s*(\S+)", line)
        if match:
            names.add(match.group(1))
    return names


def test_json_answer_does_not_import_sympy(fresh: Processes) -> None:
    run = fresh.result("importtime")
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout)["loss"] == 0.365
    modules = _imported(run.stderr)
    assert "cnnstep.cli" in modules, "importtime output not understood"
    sympy = sorted(m for m in modules if m.split(".")[0] == "sympy")
    assert not sympy, f"--format json imported sympy ({len(sympy)} modules)"


def test_json_answer_does_not_import_pydantic(fresh: Processes) -> None:
    """typer 0.29 and later convert options with pydantic adapters, which cost more
    than the rest of the command; cnnstep.cliparams converts them without."""
    modules = _imported(fresh.result("importtime").stderr)
    assert "cnnstep.cli" in modules, "importtime output not understood"
    pydantic = sorted(m for m in modules if m.split(".")[0] in ("pydantic", "pydantic_core"))
    assert not pydantic, f"--format json imported pydantic ({len(pydantic)} modules)"


# --------------------------------------------------------------------------
# pipes and colour, as the environment of a new process sets them


def _colour_codes(text: str) -> list[str]:
    """SGR parameters that set a colour (foreground or background)."""
    found = []
    for params in _ANSI.findall(text):
        for p in params.split(";"):
            if p.isdigit() and (30 <= int(p) <= 49 or 90 <= int(p) <= 107):
                found.append(p)
    return found


def test_piped_text_has_no_escape_codes(fresh: Processes) -> None:
    run = fresh.result("piped")
    assert run.returncode == 0, run.stderr
    assert "\x1b" not in run.stdout
    assert "Output(0,0)" in run.stdout


def test_force_color_gives_escape_codes(fresh: Processes) -> None:
    run = fresh.result("force-color")
    assert run.returncode == 0, run.stderr
    assert _ANSI.search(run.stdout)
    assert _colour_codes(run.stdout)
    # the words are all still there once the codes are removed
    plain = _ANSI.sub("", run.stdout)
    assert "Output(0,0) = I(0,0)×W(0,0)" in plain and "= 0.365" in plain


def test_no_color_removes_colour(fresh: Processes) -> None:
    """rich honours NO_COLOR even when FORCE_COLOR makes it style the output: bold and
    reverse may stay (they are not colours), no colour code may."""
    fresh.start("force-and-no-color", "no-color")
    forced = fresh.result("force-and-no-color")
    assert forced.returncode == 0, forced.stderr
    assert not _colour_codes(forced.stdout)
    assert "Output(0,0)" in _ANSI.sub("", forced.stdout)
    plain = fresh.result("no-color")
    assert "\x1b" not in plain.stdout


# --------------------------------------------------------------------------
# the in-process runner answers as the console script does


def test_in_process_runner_matches_the_console_script(fresh: Processes) -> None:
    """Exit status, standard output and standard error, for bad input, a usage error
    (click's own message), no command at all, and a mark of 1. (For results, the golden
    files are the same both ways: test_golden.py and the first test above.)"""
    fresh.start(*(f"runner-{name}" for name in RUNNER_CASES))
    statuses = {}
    for name, args in RUNNER_CASES.items():
        console = fresh.result(f"runner-{name}")
        here = invoke(*args)
        assert (here.returncode, here.stdout, here.stderr) == (
            console.returncode, console.stdout, console.stderr), name
        statuses[name] = here.returncode
    assert statuses == {"bad-input": 2, "missing-file": 2, "usage-error": 2, "no-command": 2,
                        "check-wrong": 1}


def test_internal_error_exits_70_with_a_message(fresh: Processes,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception inside cnnstep: no traceback, two lines on standard error, exit 70,
    in a fresh console script and in the in-process runner alike."""

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(engine, "solve", boom)
    here = invoke("check", SAMPLES / "exercise-with-answers.json")
    for run in (fresh.result("boom"), here):
        assert run.returncode == 70, (run.stdout, run.stderr)
        assert run.stdout == ""
        assert "Traceback" not in run.stderr
        assert run.stderr == ("cnnstep: internal error: RuntimeError: boom\n"
                              "This is a bug in cnnstep; please report it with the problem "
                              "file.\n")


# --------------------------------------------------------------------------
# the shared seed tool


def test_check_seed_cases_tool_passes(fresh: Processes) -> None:
    """The contract's own checker passes on every seed case."""
    if not (ROOT / SEED_TOOL).is_file():
        pytest.skip(NO_SHARED)
    run = fresh.result("seed-tool")
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(r"seed cases: (\d+)/\1 match", run.stdout), run.stdout
