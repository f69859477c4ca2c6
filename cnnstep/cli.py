"""The command line: options → load → solve → render → write.

Results go to standard output (or ``-o FILE``), errors to standard error with
exit status 2 for bad input and no traceback.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from cnnstep import __version__

app = typer.Typer(
    name="cnnstep",
    help="Solve one convolution layer of a CNN exactly, with every step shown.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Format(str, Enum):
    text = "text"
    json = "json"


def fail(message: str, status: int = 2) -> typer.Exit:
    """Print one line to standard error and give the exit to raise."""
    typer.echo(f"cnnstep: error: {message}", err=True)
    return typer.Exit(status)


def write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        raise fail(f"{output}: cannot write: {error.strerror or error}") from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cnnstep {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True,
                           help="Print the version and exit.")
    ] = False,
) -> None:
    """Solve one convolution layer of a CNN exactly, with every step shown.

    Example: cnnstep solve samples/seed000-filter-update.json
    """


@app.command()
def solve(
    file: Annotated[Path, typer.Argument(help="The problem file (JSON).", show_default=False)],
    format: Annotated[
        Format, typer.Option("--format", "-f", help="text: a summary; json: the result object.")
    ] = Format.text,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not standard output.")
    ] = None,
) -> None:
    """Solve the layer in FILE: forward pass, loss, gradients and update, exactly.

    Example: cnnstep solve samples/seed000-filter-update.json --format json
    """
    from cnnstep.engine import solve as solve_layer
    from cnnstep.problem import ProblemError, load_problem
    from cnnstep.result import result

    try:
        problem = load_problem(file)
    except ProblemError as error:
        raise fail(str(error)) from None
    values = result(solve_layer(problem))
    if format is Format.json:
        from cnnstep.render.json_result import dumps

        write(dumps(values), output)
    else:
        from cnnstep.render.summary import render

        write(render(values), output)


def main() -> None:
    """The console script: never a traceback."""
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("cnnstep: interrupted\n")
        sys.exit(130)
    except Exception as error:  # an internal fault, not the user's input
        sys.stderr.write(
            f"cnnstep: internal error: {type(error).__name__}: {error}\n"
            "This is a bug in cnnstep; please report it with the problem file.\n"
        )
        sys.exit(70)
