"""Every example in every ``--help`` works as printed, from any directory.

The examples are what a new user types first, after ``pip install cnnstep``,
in a directory of their own: they reach the problems that come with the
package (``--sample``), never a file of the repository.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from unittest import mock

import pytest
import typer
from helpers import invoke

from cnnstep import cli
from cnnstep.cli import app


def _commands() -> list[str]:
    group = typer.main.get_command(app)
    return sorted(getattr(group, "commands", {}))


def examples(help_text: str) -> list[str]:
    """The command lines under "Example:" or "Examples:", up to the next box."""
    found: list[str] = []
    taking = False
    for line in help_text.splitlines():
        text = line.strip(" │")
        if re.fullmatch(r"Examples?:", text):
            taking = True
        elif text.startswith(("╭", "Usage:")) or (taking and text.endswith(":")):
            taking = False
        elif taking and text.startswith("cnnstep "):
            found.append(text)
    return found


def _help(*command: str) -> str:
    run = invoke(*command, "--help", env={"COLUMNS": "300"})
    assert run.returncode == 0, run.stderr
    return run.stdout


HELP = {command: _help(*command) for command in [(), *[(name,) for name in _commands()]]}
EXAMPLES = [(command, example) for command, text in HELP.items() for example in examples(text)]


@pytest.mark.parametrize("command", list(HELP), ids=lambda c: " ".join(("cnnstep", *c)))
def test_every_help_has_examples(command: tuple[str, ...]) -> None:
    assert examples(HELP[command]), HELP[command]


@pytest.mark.parametrize(("command", "example"), EXAMPLES, ids=[e for _, e in EXAMPLES])
def test_example_runs_from_any_directory(tmp_path: Path, command: tuple[str, ...],
                                         example: str) -> None:
    piped: str | None = None
    for part in example.split(" | "):  # a pipeline: each command reads the one before
        words = shlex.split(part)
        assert words[0] == "cnnstep", part
        run = invoke(*words[1:], cwd=tmp_path, input=piped)
        # cnnstep check exits 1 when it finds a wrong answer, as the samples' student does
        allowed = (0, 1) if words[1:2] == ["check"] else (0,)
        assert run.returncode in allowed, (part, run.returncode, run.stderr[-1000:])
        piped = run.stdout
    assert run.stdout or list(tmp_path.iterdir()), f"{example} wrote nothing"


@pytest.mark.parametrize("command", _commands())
@pytest.mark.parametrize("rest", [["--help"], ["--no-such-option"], []], ids=" ".join)
def test_a_command_alone_reads_as_in_the_whole_app(command: str, rest: list[str]) -> None:
    """The console script builds only the command it is given; its help, its usage
    and its errors are those of the whole app."""
    alone = invoke(command, *rest, env={"COLUMNS": "300"})
    with mock.patch.object(cli, "invoked", lambda args: app):
        whole = invoke(command, *rest, env={"COLUMNS": "300"})
    assert cli.invoked([command, *rest]) is not app
    assert alone == whole
