"""The command line: options → load → solve → render → write.

Results go to standard output (or ``-o FILE``), errors to standard error with
exit status 2 for bad input and no traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cnnstep import __version__

if TYPE_CHECKING:
    from cnnstep.check import Report
    from cnnstep.problem import Problem

app = typer.Typer(
    name="cnnstep",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Format(StrEnum):
    text = "text"
    latex = "latex"
    markdown = "markdown"
    json = "json"


def fail(message: str, status: int = 2) -> typer.Exit:
    """Print one line to standard error and give the exit to raise."""
    one_line = message.replace("\r", "\\r").replace("\n", "\\n")
    typer.echo(f"cnnstep: error: {one_line}", err=True)
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

    Example:

      cnnstep solve samples/seed000-filter-update.json
    """


@app.command()
def solve(
    file: Annotated[Path, typer.Argument(help="The problem file (JSON).", metavar="FILE",
                                         show_default=False)],
    format: Annotated[
        Format, typer.Option(
            "--format", "-f",
            help="text: the worked solution for the terminal; latex: a document that "
                 "compiles with pdflatex; markdown: for GitHub and Jupyter; json: the "
                 "result object.")
    ] = Format.text,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not standard output.")
    ] = None,
    fragment: Annotated[
        bool, typer.Option("--fragment", help="With --format latex: the body alone, to paste "
                                              "into an existing document.")
    ] = False,
    decimals: Annotated[
        int | None, typer.Option(
            "--decimals", min=0, max=30,
            help="Print values without a finite decimal rounded to N places, instead of "
                 "as a fraction with its rounded decimal beside it (1/3 ≈ 0.3333).")
    ] = None,
    max_terms: Annotated[
        int | None, typer.Option(
            "--max-terms", min=0, show_default=False,
            help="Work out every entry only while the derivation has at most N products "
                 "(default 3000); beyond, work out the first entries of each step. "
                 "0: no limit.")
    ] = None,
    only: Annotated[
        list[str] | None, typer.Option(
            "--only", metavar="KEY[i][j]",
            help="Work out only this result entry, e.g. grad_input[1][2] or loss; "
                 "repeat for several.")
    ] = None,
    width: Annotated[
        int | None, typer.Option("--width", min=40,
                                 help="Text width (default: the terminal's, else 80).")
    ] = None,
    symbolic: Annotated[
        bool, typer.Option(
            "--symbolic",
            help="Derive the general formulas first, with symbols, then put the numbers in. "
                 "A problem may then give input and filter as shapes, {\"shape\": [3, 3]}, "
                 "and the bias as \"symbolic\"; with --format json the result gains the key "
                 "'symbolic'.")
    ] = False,
    verify: Annotated[
        bool, typer.Option(
            "--verify",
            help="Check the gradients against direct differentiation of the loss with SymPy "
                 "and print one line per quantity; exit 1 if any entry differs.")
    ] = False,
) -> None:
    """Solve the layer in FILE: forward pass, loss, gradients and update, worked out exactly.

    Examples:

      cnnstep solve samples/seed000-filter-update.json

      cnnstep solve samples/seed000-filter-update.json --format latex -o key.tex

      cnnstep solve samples/two-filters-padding.json --only grad_input[0][1][2]

      cnnstep solve samples/seed000-filter-update.json --format json

      cnnstep solve samples/symbolic-3x3-2x2.json --symbolic

      cnnstep solve samples/seed002-given-gradient.json --verify
    """
    from cnnstep.problem import Layer, ProblemError, load, load_problem

    if fragment and format is not Format.latex:
        raise fail("--fragment goes with --format latex")
    shaping = (("--only", bool(only)), ("--decimals", decimals is not None),
               ("--max-terms", max_terms is not None))
    if format is Format.json or verify:
        for name, given in shaping:
            if given:
                raise fail(f"{name} shapes the worked derivation; "
                           + ("--verify prints a report" if verify else
                              "the JSON result always holds every entry, exact"))
    if verify and format not in (Format.text, Format.json):
        raise fail("--verify prints a text report, or JSON with --format json")
    try:
        read_in = load(file) if symbolic or verify else load_problem(file)
    except ProblemError as error:
        raise fail(str(error)) from None

    if verify:
        if isinstance(read_in, Layer):
            raise fail("--verify checks the numbers of a problem; this one gives only shapes")
        run_verify(read_in, format, output)
        return

    from cnnstep.api import Formulas, Worked

    shown = Formulas(read_in) if isinstance(read_in, Layer) else Worked(read_in,
                                                                         symbolic=symbolic)
    if format is Format.json:
        write(shown.to_json(), output)
        return
    from cnnstep.quantities import SelectionError

    try:
        derivation = shown.derivation(max_terms=max_terms, only=only or ())
    except SelectionError as error:
        raise fail(f"--only {error}") from None
    if format is Format.latex:
        from cnnstep.render import latex

        write(latex.render(derivation, fragment=fragment, decimals=decimals), output)
    elif format is Format.markdown:
        from cnnstep.render import markdown

        write(markdown.render(derivation, decimals=decimals), output)
    else:
        from cnnstep.render import text

        if output is None and (sys.stdout.isatty() or os.environ.get("FORCE_COLOR")):
            text.render(derivation, file=sys.stdout, width=width, decimals=decimals)
        else:  # a file or a pipe: plain text
            write(text.render(derivation, width=width, decimals=decimals), output)


def run_verify(problem: Problem, format: Format, output: Path | None) -> None:
    """``--verify``: the report, and exit 1 when an entry differs."""
    from cnnstep import verify

    try:
        checks = verify.verify(problem)
    except ValueError as error:  # too large, or nothing to verify
        raise fail(str(error)) from None
    if format is Format.json:
        from cnnstep.render.json_result import dumps

        write(dumps(verify.report_json(checks)), output)
    else:
        write(verify.report(checks), output)
    if not all(check.ok for check in checks):
        raise typer.Exit(1)


@app.command()
def check(
    problem: Annotated[Path, typer.Argument(help="The problem file (JSON).", metavar="PROBLEM",
                                            show_default=False)],
    answers: Annotated[
        list[Path] | None, typer.Argument(
            help="Answers files (JSON): any subset of the result's keys, in its shapes; "
                 "null for an entry not answered. Without one, the problem file's own "
                 "'answers' key is marked.", metavar="[ANSWERS]...", show_default=False)
    ] = None,
    format: Annotated[
        Format, typer.Option("--format", "-f",
                             help="text, markdown or latex: a report with the worked "
                                  "derivation of the wrong entries; json: the report object.")
    ] = Format.text,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not standard output.")
    ] = None,
    tol: Annotated[
        str | None, typer.Option(
            "--tol", metavar="X",
            help="Accept any answer within X of the true value, instead of the rounding "
                 "rule (right to the decimals written, and within 0.01).")
    ] = None,
    width: Annotated[
        int | None, typer.Option("--width", min=40, help="Text width (default 100).")
    ] = None,
) -> None:
    """Mark a hand calculation: ✓ or ✗ per quantity, the mistake named, the right working.

    Exit status: 0 all correct, 1 something wrong, 2 bad input.

    Examples:

      cnnstep check samples/seed000-filter-update.json answers.json

      cnnstep check samples/exercise-with-answers.json

      cnnstep check problem.json scripts/*.json --format json
    """
    from cnnstep import check as marking
    from cnnstep.engine import solve as solve_layer
    from cnnstep.problem import ProblemError, load_problem
    from cnnstep.render import report as printer

    try:
        tolerance = marking.tolerance_of(tol) if tol is not None else None
        solution = solve_layer(load_problem(problem))
    except ProblemError as error:
        raise fail(str(error)) from None

    files = answers or []
    if not files:
        try:
            inside = marking.answers_in_problem(problem)
            if inside is None:
                raise ProblemError(f"{problem}: no answers to mark; give an answers file, or "
                                   "put them in the problem under the key 'answers'")
            own = marking.read_answers(inside, solution, "answers")
            outcome: Report | str = marking.mark(solution, own, tolerance)
        except ProblemError as error:
            raise fail(str(error)) from None
        results: list[tuple[str, Report | str]] = [(str(problem), outcome)]
    else:
        results = []
        progress = _progress(len(files))
        for path in files:
            try:
                marked: Report | str = marking.mark(
                    solution, marking.load_answers(path, solution), tolerance)
            except ProblemError as error:
                marked = str(error)
            results.append((str(path), marked))
            progress()

    if len(results) == 1:
        name, single = results[0]
        if isinstance(single, str):
            raise fail(single)
        title = f"Marking {name} against {problem}" if files else f"Marking {name}"
        if format is Format.json:
            write(printer.to_json(single), output)
        elif format is Format.markdown:
            write(printer.to_markdown(single, title), output)
        elif format is Format.latex:
            write(printer.to_latex(single, title), output)
        else:
            write(printer.to_text(single, title, width, _colour(output)), output)
        if not single.correct:
            raise typer.Exit(1)
        return
    _write_batch(results, format, output)
    if any(isinstance(outcome, str) for _, outcome in results):
        raise typer.Exit(2)
    if not all(not isinstance(outcome, str) and outcome.correct for _, outcome in results):
        raise typer.Exit(1)


def _colour(output: Path | None) -> bool:
    return output is None and sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _progress(total: int) -> Callable[[], None]:
    """A progress bar on standard error when marking many files on a terminal."""
    if total < 10 or not sys.stderr.isatty():
        return lambda: None
    from rich.console import Console
    from rich.progress import Progress

    bar = Progress(console=Console(stderr=True), transient=True)
    task = bar.add_task("marking", total=total)
    bar.start()

    def advance() -> None:
        bar.advance(task)
        if bar.finished:
            bar.stop()

    return advance


def _write_batch(results: list[tuple[str, Report | str]], format: Format,
                 output: Path | None) -> None:
    """Many answers files: one summary table, or every report as JSON."""
    from cnnstep.render import report as printer
    from cnnstep.render.json_result import dumps_value

    if format is Format.json:
        reports = [{"file": name, "error": outcome} if isinstance(outcome, str)
                   else {"file": name, **printer.as_json(outcome)}
                   for name, outcome in results]
        write(dumps_value(reports) + "\n", output)
        return
    rows = printer.summary(results)
    if format is Format.markdown:
        lines = ["| file | score | diagnoses |", "|---|---|---|"]
        lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
        write("\n".join(lines) + "\n", output)
        return
    if format is Format.latex:
        from cnnstep.render.expr import latex_escape
        from cnnstep.render.latex import PREAMBLE

        body = ["\\begin{tabular}{lll}", "file & score & diagnoses \\\\", "\\hline"]
        body += [" & ".join(latex_escape(cell) for cell in row) + " \\\\" for row in rows]
        body.append("\\end{tabular}")
        write(PREAMBLE + "\n".join(body) + "\n\\end{document}\n", output)
        return
    widths = [max(len(r[i]) for r in [("file", "score", "diagnoses"), *rows]) for i in range(3)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(("file", "score", "diagnoses"), widths,
                                                     strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
              for row in rows]
    right = sum(1 for _, o in results if not isinstance(o, str) and o.correct)
    lines.append(f"{right} of {len(results)} all correct")
    write("\n".join(lines) + "\n", output)


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
