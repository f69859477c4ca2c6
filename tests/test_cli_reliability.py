"""The command line as a Unix tool: pipes, encodings, full disks, standard input.

Where what is tested is the process (a full disk or a closed pipe as its standard
output, the encoding Python gives its streams), the real console entry point
runs in a subprocess; the rest run it in this process (``helpers.invoke``), with
the same exit status and streams.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import assert_one_line_error, invoke

ROOT = Path(__file__).resolve().parents[1]
SEED000 = ROOT / "cnnstep" / "samples" / "seed000-filter-update.json"
#: the console script's entry point, which ends the process itself (cnnstep/__main__.py)
ENTRY = [sys.executable, "-c", "import sys; from cnnstep.__main__ import main; sys.exit(main())"]


def run(*args: str | Path, stdin: bytes | None = None, env: dict[str, str] | None = None,
        **options: object) -> subprocess.CompletedProcess[bytes]:
    merged = {**os.environ, "PYTHONIOENCODING": "utf-8", **(env or {})}
    return subprocess.run([*ENTRY, *map(str, args)], input=stdin, capture_output=True,
                          env=merged, cwd=ROOT, timeout=120, check=False, **options)  # type: ignore[call-overload]


def one_line_error(stderr: bytes) -> str:
    text = stderr.decode("utf-8")
    assert "Traceback" not in text, text
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert lines[0].startswith("cnnstep: error: "), text
    return lines[0]


def test_standard_input_and_output_by_dash() -> None:
    run_ = invoke("solve", "-", "--format", "json", "-o", "-",
                  input=SEED000.read_text(encoding="utf-8"))
    assert run_.returncode == 0, run_.stderr
    assert json.loads(run_.stdout)["loss"] == 0.365


def test_errors_from_standard_input_are_named_stdin() -> None:
    run_ = invoke("solve", "-", input='{"input": [[1]]}')
    assert assert_one_line_error(run_).startswith("cnnstep: error: <stdin>: filter: missing")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_a_full_disk_is_one_line_and_exit_2() -> None:
    with open("/dev/full", "wb") as full:
        run_ = subprocess.run([*ENTRY, "solve", str(SEED000)], stdout=full,
                              stderr=subprocess.PIPE, cwd=ROOT, timeout=120, check=False,
                              env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert run_.returncode == 2
    assert "No space left on device" in one_line_error(run_.stderr)


@pytest.mark.parametrize("entry", ["cnnstep.cli", "cnnstep.__main__"])
def test_a_closed_standard_output_is_one_line_and_exit_2(entry: str) -> None:
    """Through cnnstep.cli.main, and through the console script's entry point, which
    flushes the streams itself before it ends the process."""
    code = ("import os, sys; os.close(1); sys.stdout = None; "
            f"from {entry} import main; sys.argv = ['cnnstep', 'solve', sys.argv[1]]; main()")
    run_ = subprocess.run([sys.executable, "-c", code, str(SEED000)], capture_output=False,
                          stderr=subprocess.PIPE, timeout=120, check=False, cwd=ROOT)
    assert run_.returncode == 2
    assert "standard output is closed" in one_line_error(run_.stderr)


def test_the_console_script_with_no_standard_streams() -> None:
    """Started with standard output and error closed (``>&- 2>&-``): the status alone."""
    for args, status in ((["--version"], 0), (["solve", "missing.json"], 2)):
        code = ("import os, sys; os.close(1); os.close(2); sys.stdout = sys.stderr = None; "
                "from cnnstep.__main__ import main; sys.argv = ['cnnstep', *sys.argv[1:]]; "
                "main()")
        run_ = subprocess.run([sys.executable, "-c", code, *args], capture_output=False,
                              timeout=120, check=False, cwd=ROOT)
        assert run_.returncode == status, args


def test_the_console_script_ends_with_the_commands_status_and_all_its_output(
        tmp_path: Path) -> None:
    """The console script ends the process itself once the command is done: every
    byte written first (to standard output, or to the file of -o), the status the
    command's (0, or 2 for bad input), and a message given to sys.exit on stderr
    with status 1, as the interpreter would."""
    whole = run("solve", SEED000, "--max-terms", "0", "--format", "latex")
    assert whole.returncode == 0 and whole.stderr == b""
    assert whole.stdout.endswith(b"\\end{document}\n")
    assert run("solve", tmp_path / "missing.json").returncode == 2
    to = tmp_path / "out.json"
    written = run("solve", SEED000, "--format", "json", "-o", to)
    assert written.returncode == 0 and json.loads(to.read_text(encoding="utf-8"))["loss"]
    message = subprocess.run(
        [sys.executable, "-c", "import sys, cnnstep.cli\n"
         "def stop(): sys.exit('stopped: a message')\n"
         "cnnstep.cli.main = stop\n"
         "from cnnstep.__main__ import main\n"
         "main()\n"], capture_output=True, cwd=ROOT, timeout=120, check=False)
    assert (message.returncode, message.stderr) == (1, b"stopped: a message\n")


def test_a_broken_pipe_stops_quietly() -> None:
    """The reader goes away after a few bytes: exit 141 (128 + SIGPIPE), nothing on
    standard error, and never 1, which --verify uses for "not verified"."""
    # its every-term LaTeX is some 750 kB, many times what a pipe holds
    problem = {"input": [[(i * j) % 7 for j in range(20)] for i in range(20)],
               "filter": [[1, 2, 3], [4, 5, 6], [7, 8, 9]], "target": [[0] * 18] * 18}
    process = subprocess.Popen(
        [*ENTRY, "solve", "-", "--max-terms", "0", "--format", "latex"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert process.stdin is not None and process.stdout is not None
    assert process.stderr is not None
    process.stdin.write(json.dumps(problem).encode())
    process.stdin.close()
    assert process.stdout.read(20).startswith(b"\\documentclass")
    process.stdout.close()
    status = process.wait(timeout=120)
    with process.stderr:
        assert process.stderr.read() == b""
    assert status == 141


@pytest.mark.parametrize("encoding", ["cp1252", "ascii"])
def test_a_narrow_stdout_encoding_gets_ascii_stand_ins(encoding: str) -> None:
    run_ = run("solve", SEED000, env={"PYTHONIOENCODING": encoding})
    assert run_.returncode == 0, run_.stderr
    text = run_.stdout.decode(encoding)
    # seed 000's notation: Loss, Output(0,0), I and W
    assert "dLoss/dOutput=(2/4)x(Output-Y)" in "".join(text.split())
    assert "dLoss/dOutput(1,0)=(2/4)x(1.5-2)" in "".join(text.split())
    assert "+---" in text
    assert "∂" not in text and "×" not in text


def test_the_output_file_is_never_an_input(tmp_path: Path) -> None:
    problem = tmp_path / "p.json"
    problem.write_bytes(SEED000.read_bytes())
    assert_one_line_error(invoke("solve", problem, "-o", problem), "is an input file")
    assert problem.read_bytes() == SEED000.read_bytes()


def test_a_failed_write_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "key.tex"
    target.write_text("the old key", encoding="utf-8")
    run_ = invoke("solve", tmp_path / "missing.json", "-o", target)
    assert run_.returncode == 2
    assert target.read_text(encoding="utf-8") == "the old key"
    run_ = invoke("solve", SEED000, "--format", "latex", "-o", target)
    assert run_.returncode == 0
    assert target.read_text(encoding="utf-8").startswith("\\documentclass")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key.tex"]


def test_the_width_is_bounded() -> None:
    run_ = invoke("solve", SEED000, "--width", "100000000")
    assert run_.returncode == 2
    assert "Traceback" not in run_.stderr


def test_a_learning_rate_without_gradients_is_solved_with_a_note(tmp_path: Path) -> None:
    problem = tmp_path / "forward.json"
    problem.write_text('{"input": [[1, 2]], "filter": [[3]], "learning_rate": 0.1}',
                       encoding="utf-8")
    run_ = invoke("solve", problem, "--format", "json")
    assert run_.returncode == 0
    assert json.loads(run_.stdout) == {"output": [[3, 6]]}
    note = run_.stderr.strip()
    assert note.startswith(f"cnnstep: note: {problem}: learning_rate: no update is made")


def test_a_result_beyond_double_range_is_refused_in_json(tmp_path: Path) -> None:
    problem = tmp_path / "huge.json"
    problem.write_text('{"input": [["1e300"]], "filter": [["1e300"]]}', encoding="utf-8")
    assert_one_line_error(invoke("solve", problem, "--format", "json"),
                          "output[0][0]: about 1e600 is outside the range")
    assert invoke("solve", problem).returncode == 0  # the text shows it exactly


def test_a_bad_answers_file_is_reported_in_its_row(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text('{"loss": 0.365}', encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text('{"loss": 1e9999999999999999999}', encoding="utf-8")
    run_ = invoke("check", SEED000, good, bad, "--format", "json")
    assert run_.returncode == 2
    reports = json.loads(run_.stdout)
    assert reports[0]["quantities"]["loss"]["correct"] is True  # the rest is not answered
    assert reports[1]["error"].startswith(f"{bad}: loss: expected a number")
    assert "Traceback" not in run_.stderr


def test_a_huge_tolerance_exponent_is_one_line() -> None:
    run_ = invoke("check", ROOT / "cnnstep" / "samples" / "exercise-with-answers.json",
                  "--tol", "1e9999999999999999999")
    assert_one_line_error(run_, "--tol")
