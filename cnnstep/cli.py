"""The command line: options → load → solve → render → write.

Results go to standard output (or ``-o FILE``), errors to standard error with
exit status 2 for bad input and no traceback.

The module has no ``from __future__ import annotations``: typer reads each
command's annotations several times a run, and evaluating them once, as the
functions are defined, is cheaper than evaluating their text each time.
Annotations that name what only a type checker imports are written as text.
"""

import contextlib
import copy
import os
import sys
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cnnstep import __version__, cliparams, output, samples
from cnnstep.render import FORMATS, Hints, Options

if TYPE_CHECKING:
    from fractions import Fraction

    from cnnstep.check import Report
    from cnnstep.check.volume import VolumeReport
    from cnnstep.problem import Problem, Volume, VolumeBatch
    from cnnstep.verify import Check

app = typer.Typer(
    name="cnnstep",
    cls=cliparams.Group,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Format(StrEnum):
    """The names of :data:`cnnstep.render.FORMATS`, as typer lists choices."""

    text = "text"
    latex = "latex"
    markdown = "markdown"
    html = "html"
    json = "json"
    csv = "csv"
    gradescope = "gradescope"


class SolveFormat(StrEnum):
    """The formats ``cnnstep solve`` takes: the registry's, and pdf (the LaTeX
    document compiled with pdflatex)."""

    text = "text"
    latex = "latex"
    markdown = "markdown"
    html = "html"
    json = "json"
    csv = "csv"
    gradescope = "gradescope"
    pdf = "pdf"


#: the option -o FILE of every command
Output = Annotated[
    Path | None, typer.Option("--output", "-o",
                              help="Write to this file (atomically), not standard output; "
                                   "- is standard output.")
]

def _sample_names(incomplete: str) -> list[str]:
    """The samples whose names start with what has been typed, for shell completion."""
    return [name for name in samples.names() if name.startswith(incomplete)]


#: the option --sample NAME of every command
Sample = Annotated[
    str | None, typer.Option(
        "--sample", metavar="NAME", autocompletion=_sample_names, show_default=False,
        help="A sample problem that comes with cnnstep, in place of a problem file: its name, "
             f"or the start of one (seed000). The samples: {', '.join(samples.names())}.")
]


def sample_paths(names: Iterable[str]) -> list[Path]:
    """The files of the samples named with --sample."""
    return [problem_path(None, name) for name in names]


def problem_path(file: Path | None, sample: str | None) -> Path:
    """The problem file named on the command line, or the sample's file."""
    if sample is None:
        if file is None:
            raise fail("give a problem file, or --sample NAME for a sample")
        return file
    if file is not None:
        raise fail(f"give a problem file or --sample, not both ({file} and --sample {sample})")
    from cnnstep.problem import ProblemError

    try:
        return samples.path(sample)
    except ProblemError as error:
        raise fail(f"--sample: {error}") from None


#: the widest text the command line lays out
MAX_WIDTH = 1000

#: the option --max-work of the commands that solve
MaxWork = Annotated[
    str | None, typer.Option(
        "--max-work", metavar="N", show_default=False,
        help="Refuse a problem whose work, estimated from its shapes and digits before "
             "anything is computed, exceeds N operations (default 1e8: about ten seconds "
             "and 600 MB at most); 0: no limit.")
]

#: the exit status when the reader of standard output goes away: 128 + SIGPIPE,
#: what a shell reports for a program the broken pipe stopped
BROKEN_PIPE = 141

#: how the command line's output says to see what a shortened derivation left out
HINTS = Hints(one="--only {example}", every="--max-terms 0", whole="--format json")


class Detail(StrEnum):
    """The names of :data:`cnnstep.derivation.builder.DETAILS`: how much working to show."""

    full = "full"
    brief = "brief"
    answers = "answers"


def fail(message: str, status: int = 2) -> typer.Exit:
    """Print one line to standard error and give the exit to raise."""
    say("error", message)
    return typer.Exit(status)


def say(kind: str, message: str) -> None:
    """``cnnstep: error: …`` or ``cnnstep: note: …``, on one line of standard error."""
    # control characters (line breaks of every kind included) are shown escaped
    one_line = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                       for ch in message)
    output.to_stderr(f"cnnstep: {kind}: {one_line}")


def write(text: str, to: Path | None, inputs: Iterable[Path] = ()) -> None:
    """The result to standard output (no ``-o``, or ``-o -``) or atomically to a file."""
    try:
        output.write(text, to, inputs=inputs)
    except output.OutputError as error:
        raise fail(str(error)) from None


def write_pieces(pieces: Iterable[str], to: Path | None, inputs: Iterable[Path] = ()) -> None:
    """:func:`write` of a result made in pieces, each written as it comes."""
    try:
        output.write_pieces(pieces, to, inputs=inputs)
    except output.OutputError as error:
        raise fail(str(error)) from None


def notes(problem: object, file: Path) -> None:
    """What the problem's reading has to say besides the result."""
    from cnnstep.problem import where

    for note in getattr(problem, "notes", ()):
        say("note", f"{where(file)}: {note}")


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

    Examples:

      cnnstep solve --sample seed000-filter-update

      cnnstep check --sample exercise-with-answers
    """


@app.command(cls=cliparams.Command)
def solve(
    files: Annotated[list[Path] | None, typer.Argument(
        help="The problem files (JSON); - reads standard input. Several make one document, "
             "a numbered exercise each.", metavar="FILE", show_default=False)] = None,
    sample: Annotated[list[str] | None, typer.Option(
        "--sample", metavar="NAME", autocompletion=_sample_names, show_default=False,
        help="A sample problem that comes with cnnstep, in place of a problem file: its name, "
             "or the start of one (seed000); repeat it for several. The samples: "
             f"{', '.join(samples.names())}.")] = None,
    format: Annotated[
        SolveFormat, typer.Option(
            "--format", "-f",
            help="text: the worked solution for the terminal; latex: a document that "
                 "compiles with pdflatex; markdown: for GitHub and Jupyter; html: a "
                 "self-contained page, MathML for the mathematics; json: the result object "
                 "(several files: a list); pdf: the LaTeX document compiled by pdflatex.")
    ] = SolveFormat.text,
    to: Output = None,
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
            "--only", metavar="KEY[i][j]|STEP",
            help="Work out only this: a result key (grad_filter: the quantity and the steps "
                 "it rests on), an entry (grad_input[1][2]: that entry alone) or a step "
                 "(forward); repeat for several.")
    ] = None,
    detail: Annotated[
        Detail | None, typer.Option(
            "--detail", show_default=False,
            help="full (default): every entry worked out; brief: each step's rule, one "
                 "entry worked out and the results; answers: the givens and the results.")
    ] = None,
    width: Annotated[
        int | None, typer.Option("--width", min=40, max=MAX_WIDTH,
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
            help="Check the gradients against direct differentiation of the loss in exact "
                 "numbers and print one line per quantity; exit 1 if any entry differs.")
    ] = False,
    questions: Annotated[
        bool, typer.Option(
            "--questions",
            help="Print the question sheet instead: the givens and the numbered questions "
                 "with their points (the problem's 'questions', or every quantity), no "
                 "answers.")
    ] = False,
    exam: Annotated[
        bool, typer.Option(
            "--exam",
            help="With --format latex or pdf: a document for the exam class, each problem a "
                 "\\question, each asked quantity a \\part with its points and its working "
                 "in a solution, shown only under \\printanswers (commented out).")
    ] = False,
    print_answers: Annotated[
        bool, typer.Option(
            "--print-answers",
            help="With --exam: \\printanswers in force, so the document is the key.")
    ] = False,
    work: MaxWork = None,
) -> None:
    """Solve the layer in FILE: forward pass, loss, gradients and update, worked out exactly.

    Several files make one document, a numbered exercise each.

    Examples:

      cnnstep solve --sample seed000-filter-update

      cnnstep solve --sample seed000-filter-update --format latex -o key.tex

      cnnstep solve --sample two-filters-padding --only grad_input[0][1][2]

      cnnstep solve --sample seed000-filter-update --only grad_filter --detail brief

      cnnstep solve --sample seed000-filter-update --format json

      cnnstep solve --sample symbolic-3x3-2x2 --symbolic

      cnnstep solve --sample seed002-given-gradient --verify

      cnnstep solve --sample seed000-filter-update --questions --format latex

      cnnstep solve --sample seed000 --sample half-sse --format latex -o key.tex

      cnnstep solve --sample seed000 --sample relu-maxpool --format latex --exam -o exam.tex
    """
    max_work = work_limit(work)
    from cnnstep.problem import Layer, ProblemError, load, where

    files, names = files or [], sample or []
    if files and names:
        raise fail(f"give problem files or --sample, not both ({files[0]} and "
                   f"--sample {names[0]})")
    paths = files or (sample_paths(names) if names else [problem_path(None, None)])
    pdf = format is SolveFormat.pdf
    if not pdf and not FORMATS[format.value].solves:
        raise fail(f"--format {format.value} prints marked answers; it goes with cnnstep check")
    if fragment and format is not SolveFormat.latex:
        raise fail("--fragment goes with --format latex")
    shaping = (("--only", bool(only)), ("--decimals", decimals is not None),
               ("--max-terms", max_terms is not None), ("--detail", detail is not None))
    if format is SolveFormat.json or verify:
        for name, given in shaping:
            if given:
                raise fail(f"{name} shapes the worked derivation; "
                           + ("--verify prints a report" if verify else
                              "the JSON result always holds every entry, exact"))
    if verify and format not in (SolveFormat.text, SolveFormat.json):
        raise fail("--verify prints a text report, or JSON with --format json")
    if questions:
        for name, given in (*shaping, ("--verify", verify), ("--symbolic", symbolic),
                            ("--format json", format is SolveFormat.json)):
            if given:
                raise fail(f"--questions prints the question sheet; it does not go with {name}")
    _check_exam(exam, print_answers, format, fragment,
                (("--questions", questions), ("--only", bool(only)), ("--detail",
                 detail is not None), ("--symbolic", symbolic), ("--verify", verify)))
    if len(paths) > 1:
        for name, given in (("--verify", verify), ("--symbolic", symbolic)):
            if given:
                raise fail(f"{name} works on one problem at a time; give one file")
    program = _pdf_target(to) if pdf else None
    if len(paths) > 1 or exam:
        _solve_set(paths, format, to, Options(decimals=decimals, hints=HINTS, width=width,
                                              fragment=fragment, color=_styled(to)),
                   program, max_work=max_work, max_terms=max_terms, only=only or (),
                   detail=detail, questions=questions, exam=exam, answers=print_answers)
        return
    file = paths[0]
    options = Options(decimals=decimals, hints=HINTS, width=width, fragment=fragment,
                      color=_styled(to))
    if verify:
        _verify_volume(file, format.value, to, max_work)
    if symbolic:
        _symbolic_volume(file, "latex" if pdf else format.value, to, options, program,
                         (only or (), (detail or Detail.full).value, max_terms), max_work)
    if questions:
        _volume_sheet(file, "latex" if pdf else format.value, to, options, program, max_work)
    try:
        read_in = (load(file) if symbolic or verify or questions else
                   _problem_or_volume(file, to, max_work, "latex" if pdf else format.value,
                                      options, program,
                                      (only or (), (detail or Detail.full).value, max_terms)))
    except ProblemError as error:
        raise fail(str(error)) from None
    notes(read_in, file)

    if verify:
        if isinstance(read_in, Layer):
            raise fail("--verify checks the numbers of a problem; this one gives only shapes")
        run_verify(read_in, format.value, to, [file], max_work)
        return

    from cnnstep.api import Formulas, Worked
    from cnnstep.quantities import SelectionError

    try:
        shown = (Formulas(read_in, max_work=max_work) if isinstance(read_in, Layer)
                 else Worked(read_in, symbolic=symbolic, max_work=max_work))
    except ProblemError as error:  # more work than the limit allows
        raise fail(refusal(error, where(file))) from None
    shape = "latex" if pdf else format.value
    if questions and isinstance(shown, Worked):
        _emit(shown.questions(shape, options), to, [file], program)
        return
    try:
        # written as it is made, but the PDF: pdflatex reads the whole document
        pieces = shown.stream(shape, options, max_terms=max_terms, only=only or (),
                              detail=(detail or Detail.full).value)
        if program is None:
            write_pieces(pieces, to, [file])
            return
        text = "".join(pieces)
    except SelectionError as error:
        raise fail(f"--only {error}") from None
    except ProblemError as error:  # a result JSON cannot hold, or too much work
        raise fail(refusal(error, where(file))) from None
    _emit(text, to, [file], program)


def _verify_volume(file: Path, format: str, to: Path | None, max_work: int | None) -> None:
    """``--verify`` on a 3-D layer: its report, and exit 0 or 1; anything else returns."""
    from cnnstep.problem import ProblemError, is_symbolic, is_volume, parse_json, read_text, where

    try:
        data = parse_json(read_text(file))
        if not is_volume(data):
            return
        if is_symbolic(data):
            raise fail("--verify checks the numbers of a problem; this one gives only shapes")
        from cnnstep.problem import VolumeBatch, volumes_from_data
        from cnnstep.verify_volume import verify_volume
        from cnnstep.verify_volume_batch import verify_batch

        layer = volumes_from_data(data)
        checks = (verify_batch(layer, max_work=max_work) if isinstance(layer, VolumeBatch)
                  else verify_volume(layer, max_work=max_work))
    except (ProblemError, ValueError) as error:
        raise fail(refusal(error, where(file))) from None
    _verify_report(checks, format, to, [file])
    raise typer.Exit(0)


def _symbolic_volume(file: Path, shape: str, to: Path | None, options: Options,
                     program: str | None, shaping: tuple[Iterable[str], str, int | None],
                     max_work: int | None) -> None:
    """``--symbolic`` on a 3-D layer: its formulas (then its numbers) written out, and
    the command is done; anything else returns."""
    from cnnstep.problem import ProblemError, is_volume, parse_json, read_text, where
    from cnnstep.quantities import SelectionError

    only, detail, max_terms = shaping
    try:
        data = parse_json(read_text(file))
        if not is_volume(data):
            return
        from cnnstep.api import solve

        shown = solve(data, symbolic=True, max_work=max_work)
        text = "".join(shown.stream(shape, options, max_terms=max_terms, only=only,
                                    detail=detail))  # type: ignore[arg-type]
    except SelectionError as error:
        raise fail(f"--only {error}") from None
    except ProblemError as error:
        raise fail(refusal(error, where(file))) from None
    _emit(text, to, [file], program)
    raise typer.Exit(0)


def _volume_sheet(file: Path, shape: str, to: Path | None, options: Options,
                  program: str | None, max_work: int | None) -> None:
    """``--questions`` on a 3-D layer: its question sheet, and the command is done;
    anything else returns."""
    from cnnstep.api import WorkedVolume
    from cnnstep.problem import ProblemError, read_text, read_volumes, where

    try:
        layer = read_volumes(read_text(file))  # a batch is refused by name
        if layer is None:
            return
        text = WorkedVolume(layer, max_work=max_work).questions(shape, options)
    except ProblemError as error:
        raise fail(refusal(error, where(file))) from None
    _emit(text, to, [file], program)
    raise typer.Exit(0)


def _problem_or_volume(file: Path, to: Path | None, max_work: int | None, shape: str,
                       options: Options, program: str | None,
                       shaping: tuple[Iterable[str], str, int | None]) -> "Problem":
    """The problem in a file. A 3-D problem is solved and written out here (its JSON
    result, or its worked derivation as ``shaping`` asks: ``--only``, ``--detail``,
    ``--max-terms``), and the command is done."""
    from cnnstep.problem import ProblemError, is_volume, parse_json, parse_problem, read_text, where

    only, detail, max_terms = shaping
    try:
        text = read_text(file)
        data = parse_json(text)
        if not is_volume(data):
            return parse_problem(text)
        # a 3-D layer's modules, imported only for one
        from cnnstep.problem import volumes_from_data
        from cnnstep.volume_batch import solve_volumes, worked_volumes

        layer = volumes_from_data(data)
        if shape != "json":
            from cnnstep.derivation import DEFAULT_MAX_TERMS

            worked = worked_volumes(
                layer, max_work, detail=detail, only=only,
                max_terms=DEFAULT_MAX_TERMS if max_terms is None else max_terms)
    except ProblemError as error:
        raise ProblemError(refusal(error, where(file))) from None
    from cnnstep.render import renderer
    from cnnstep.render.json_result import dumps

    if shape == "json":
        try:
            result, rounded = solve_volumes(layer, max_work)
        except ProblemError as error:
            raise ProblemError(refusal(error, where(file))) from None
        _emit(dumps(result, rounded), to, [file], None)
    else:
        _emit(renderer(shape).derivation(worked, options), to, [file], program)
    raise typer.Exit(0)


def _check_exam(exam: bool, answers: bool, format: SolveFormat, fragment: bool,
                others: Iterable[tuple[str, bool]]) -> None:
    """``--exam`` is a whole LaTeX document (or its PDF) of what each problem asks."""
    if answers and not exam:
        raise fail("--print-answers goes with --exam")
    if not exam:
        return
    if format not in (SolveFormat.latex, SolveFormat.pdf):
        raise fail("--exam goes with --format latex (or pdf): it writes a document for the "
                   "exam class")
    if fragment:
        raise fail("--exam writes a whole document for the exam class; it does not go "
                   "with --fragment")
    for name, given in others:
        if given:
            raise fail(f"--exam asks what each problem's questions ask, with the sheet and "
                       f"the key in one document; it does not go with {name}")


def _pdf_target(to: Path | None) -> str:
    """``--format pdf``: pdflatex's path, once it is known to be there and the PDF has
    somewhere to go other than a terminal."""
    from cnnstep import pdf

    if _to_stdout(to) and _isatty():
        raise fail("--format pdf writes a binary file; give -o FILE.pdf (or redirect "
                   "standard output to a file)")
    try:
        return pdf.pdflatex()
    except pdf.PdfError as error:
        raise fail(f"--format pdf: {error}") from None


def _emit(text: str, to: Path | None, inputs: Iterable[Path], program: str | None) -> None:
    """The text, or with ``program`` (pdflatex) the PDF compiled from it."""
    if program is None:
        write(text, to, inputs)
        return
    from cnnstep import pdf

    try:
        data = pdf.compile_pdf(text, program)
    except pdf.PdfError as error:
        raise fail(f"--format pdf: {error}") from None
    try:
        if _to_stdout(to):
            output.bytes_to_stdout(data)
        else:
            assert to is not None
            output.write_bytes(data, to, inputs=inputs)
    except output.OutputError as error:
        raise fail(str(error)) from None


def _solve_set(paths: list[Path], format: SolveFormat, to: Path | None, options: Options,
               program: str | None, *, max_work: int | None, max_terms: int | None,
               only: Iterable[str], detail: Detail | None, questions: bool, exam: bool,
               answers: bool) -> None:
    """Several problems (or one, as an exam) in one document: every file read and
    solved first, so that a bad one stops everything before anything is written."""
    from cnnstep.problem import ProblemError
    from cnnstep.sets import ExerciseError, ProblemSet

    try:
        problems = ProblemSet.read(paths, max_work=max_work)
    except ExerciseError as error:
        raise fail(refusal(error.error, error.source)) from None
    except ProblemError as error:
        raise fail(str(error)) from None
    for path, worked in zip(paths, problems.worked, strict=True):
        notes(getattr(worked, "problem", None), path)
    shape = "latex" if program is not None else format.value
    progress = _progress(len(paths), "solving", minimum=2)
    try:
        if exam:
            text = problems.exam(answers=answers, max_terms=max_terms, options=options,
                                 progress=progress)
        elif questions:
            text = problems.questions(shape, options, progress=progress)
        else:
            text = problems.render(shape, options, max_terms=max_terms, only=only,
                                   detail=(detail or Detail.full).value, progress=progress)
    except ExerciseError as error:
        progress.stop()
        cause = error.error
        from cnnstep.quantities import SelectionError

        prefix = "--only " if isinstance(cause, SelectionError) else ""
        raise fail(f"{error.source}: {prefix}{refusal(cause)}") from None
    progress.stop()
    _emit(text, to, paths, program)


def refusal(error: Exception, name: str = "") -> str:
    """An error's message for the command line: prefixed by the file, and over the
    work limit with the option that raises it."""
    from cnnstep.budget import WorkLimitError, round_limit

    text = f"{name}: {error}" if name else str(error)
    if isinstance(error, WorkLimitError):
        text += (f"; raise it with --max-work {round_limit(error.estimate.work)}"
                 " (0: no limit)")
    return text


def work_limit(text: str | None) -> int | None:
    """``--max-work N``: a whole number of operations, such as 4e9; None: the default."""
    if text is None:
        return None
    from cnnstep.problem import ProblemError, to_number

    try:
        number = to_number(text.strip(), "--max-work")
    except ProblemError:
        number = None
    if number is None or number < 0:
        raise fail(f"--max-work {text}: expected a number of operations ≥ 0, such as 4e9 "
                   "(0: no limit)")
    return int(number)


def run_verify(problem: "Problem", format: str, to: Path | None,
               inputs: Iterable[Path], max_work: int | None = None) -> None:
    """``--verify``: the report, and exit 1 when an entry differs."""
    from cnnstep import verify

    try:
        checks = verify.verify(problem, max_work=max_work)
    except ValueError as error:  # too large, or nothing to verify
        raise fail(refusal(error)) from None
    _verify_report(checks, format, to, inputs)


def _verify_report(checks: "list[Check]", format: str, to: Path | None,
                   inputs: Iterable[Path]) -> None:
    """The verifier's report, and exit 1 when an entry differs."""
    from cnnstep import verify

    if format == "json":
        from cnnstep.render.json_result import dumps

        write(dumps(verify.report_json(checks)), to, inputs)
    else:
        write(verify.report(checks), to, inputs)
    if not all(check.ok for check in checks):
        raise typer.Exit(1)


class Feedback(StrEnum):
    """The formats of a feedback document."""

    text = "text"
    markdown = "markdown"
    latex = "latex"
    html = "html"


#: the file extension of each feedback format
FEEDBACK_SUFFIX = {"text": ".txt", "markdown": ".md", "latex": ".tex", "html": ".html"}


@app.command(cls=cliparams.Command)
def check(
    problem: Annotated[Path | None, typer.Argument(
        help="The problem file (JSON). With --sample, the first answers file.",
        metavar="PROBLEM", show_default=False)] = None,
    answers: Annotated[
        list[Path] | None, typer.Argument(
            help="Answers files (JSON): any subset of the result's keys, in its shapes; "
                 "null for an entry not answered. Without one, the problem file's own "
                 "'answers' key is marked.", metavar="ANSWERS", show_default=False)
    ] = None,
    sample: Sample = None,
    format: Annotated[
        Format, typer.Option("--format", "-f",
                             help="text, markdown, latex or html: a report with the worked "
                                  "derivation of the wrong entries (several files: a summary "
                                  "table); json: the report object (several files: a list); "
                                  "csv: one row per file, for a gradebook; gradescope: the "
                                  "results.json of a Gradescope autograder, for one file.")
    ] = Format.text,
    to: Output = None,
    tol: Annotated[
        str | None, typer.Option(
            "--tol", metavar="X",
            help="Accept any answer within X of the true value, instead of the rounding "
                 "rule (right to the decimals written, and within 0.01).")
    ] = None,
    follow_through: Annotated[
        str | None, typer.Option(
            "--follow-through", metavar="F",
            help="The fraction of its points a wrong entry earns when it is worked out "
                 "correctly from the student's own wrong earlier answer (carried_forward), "
                 "from 0 to 1 (default 1: full method marks).")
    ] = None,
    batch: Annotated[
        bool, typer.Option("--batch",
                           help="Print a summary table (json: a list; csv: rows) even for "
                                "one answers file.")
    ] = False,
    feedback_dir: Annotated[
        Path | None, typer.Option(
            "--feedback-dir", metavar="DIR",
            help="Also write one feedback document per answers file into DIR (made if "
                 "missing), named after it: the report with the working of the wrong "
                 "entries.")
    ] = None,
    feedback_format: Annotated[
        Feedback | None, typer.Option(
            "--feedback-format", show_default=False,
            help="The format of the feedback documents: text, markdown, latex or html "
                 "(default: --format when it is one of them, else markdown).")
    ] = None,
    width: Annotated[
        int | None, typer.Option("--width", min=40, max=MAX_WIDTH,
                                 help="Text width: a report's (default 80), a summary "
                                      "table's (default: the terminal's).")
    ] = None,
    work: MaxWork = None,
) -> None:
    """Mark hand calculations: points per question, the mistakes named, the right working.

    Without an answers file, the problem file's own 'answers' key is marked;
    several answers files (or --batch) give one summary, a row per file. Every
    quantity asked is marked, answered or not: an entry not answered scores 0.

    Exit status: 0 all correct, 1 something wrong or not answered, 2 bad input
    (a batch still marks every file it can read).

    Examples:

      cnnstep check --sample exercise-with-answers

      cnnstep check --sample exercise-with-answers --format markdown -o feedback.md

      cnnstep check --sample exercise-with-answers --format csv --batch

      cnnstep check --sample exercise-with-answers --format gradescope -o results.json
    """
    max_work = work_limit(work)
    from fractions import Fraction

    from cnnstep.check import answers as marking
    from cnnstep.check import mark
    from cnnstep.problem import (
        ANSWERS_KEY,
        ProblemError,
        is_volume,
        parse_json,
        problem_from_data,
        read_text,
        to_number,
        where,
    )
    from cnnstep.training import train

    if sample is not None and problem is not None:  # every file named is an answers file
        answers = [problem, *(answers or [])]
        problem = None
    problem = problem_path(problem, sample)
    try:
        tolerance = marking.tolerance_of(tol) if tol is not None else None
        share = (to_number(follow_through, "--follow-through")
                 if follow_through is not None else Fraction(1))
    except ProblemError as error:
        raise fail(str(error)) from None
    if not 0 <= share <= 1:
        raise fail(f"--follow-through {follow_through}: expected a number from 0 to 1")
    if feedback_format is not None and feedback_dir is None:
        raise fail("--feedback-format goes with --feedback-dir")
    files = answers or []
    printer = FORMATS[format.value]
    if format is Format.gradescope and len(files) > 1:
        raise fail("--format gradescope prints the results.json of one submission; "
                   "give one answers file")
    try:
        data = parse_json(read_text(problem))
        if is_volume(data):
            _check_volume(problem, data, files, format, to, (tolerance, share), width,
                          (batch, feedback_dir, feedback_format))
        read_in = problem_from_data(data)
    except ProblemError as error:
        raise fail(f"{where(problem)}: {error}") from None
    notes(read_in, problem)
    try:
        from cnnstep import budget

        budget.check_marking(read_in, max_work, format=None, scripts=max(1, len(answers or [])))
        solution = train(read_in, max_work=max_work)
    except ProblemError as error:  # more work than the limit allows
        raise fail(refusal(error, where(problem))) from None

    documents: dict[str, Path] = {}
    document_format = (feedback_format.value if feedback_format is not None
                       else format.value if format.value in FEEDBACK_SUFFIX else "markdown")
    if feedback_dir is not None:
        documents = _feedback_paths(files or [problem], feedback_dir,
                                    FEEDBACK_SUFFIX[document_format])

    inputs = [problem, *files]
    results: list[tuple[str, Report | str]] = []
    if not files:
        try:
            inside = data.get(ANSWERS_KEY) if isinstance(data, dict) else None
            if inside is None:
                raise ProblemError("no answers to mark; give an answers file, or put them "
                                   f"in the problem under the key '{ANSWERS_KEY}'")
            own = marking.read_answers(inside, solution, ANSWERS_KEY)
            outcome: Report | str = mark(solution, own, tolerance, follow_through=share,
                                         max_work=max_work)
        except ProblemError as error:
            raise fail(f"{where(problem)}: {error}") from None
        results.append((where(problem), outcome))
        _write_feedback(outcome, f"Marking {where(problem)}", documents.get(where(problem)),
                        document_format, width, inputs)
    else:
        progress = _progress(len(files))
        for path in files:
            name = where(path)
            try:
                marked: Report | str = mark(
                    solution, marking.load_answers(path, solution), tolerance,
                    follow_through=share, max_work=max_work)
            except ProblemError as error:
                text = str(error)
                marked = text if text.startswith(f"{name}: ") else f"{name}: {text}"
            results.append((name, marked))
            _write_feedback(marked, f"Marking {name} against {problem}", documents.get(name),
                            document_format, width, inputs)
            progress()

    errors = [outcome for _, outcome in results if isinstance(outcome, str)]
    if (batch or printer.always_batch or len(results) > 1) and format is not Format.gradescope:
        write(printer.batch(results, Options(width=width, color=_colour(to))), to, inputs)
    else:
        name, single = results[0]
        if isinstance(single, str):
            if format is Format.gradescope:  # Gradescope still gets its results.json
                write(printer.batch(results), to, inputs)
            raise fail(single)
        from cnnstep.api import render_report

        title = f"Marking {name} against {problem}" if files else f"Marking {name}"
        write(render_report(single, title, format.value,
                            Options(hints=HINTS, width=width, color=_colour(to))), to, inputs)
    if errors:
        say("note", f"{len(errors)} of {len(results)} answers files could not be read; "
                    "their rows say why")
        raise typer.Exit(2)
    if not all(not isinstance(outcome, str) and outcome.correct for _, outcome in results):
        raise typer.Exit(1)


def _check_volume(problem: Path, data: Any, files: list[Path], format: Format,
                  to: Path | None, rules: "tuple[Fraction | None, Fraction]", width: int | None,
                  summary: "tuple[bool, Path | None, Feedback | None]") -> None:
    """``cnnstep check`` on a 3-D layer: one answers file (or the problem's own), its
    report in any format of a 2-D report; several files (or ``--batch``), the summary
    in any format but Gradescope's, as for a 2-D layer; with ``--feedback-dir`` a
    document per file, the report with the working of the wrong entries. Exit 0 all
    correct, 1 otherwise, 2 when a file of a batch could not be read."""
    from cnnstep.check.volume_batch import mark_volumes
    from cnnstep.problem import (
        ANSWERS_KEY,
        ProblemError,
        parse_json,
        read_text,
        volumes_from_data,
        where,
    )

    batch, feedback_dir, feedback_format = summary
    layer = volumes_from_data(data)
    tolerance, share = rules
    printer = FORMATS[format.value]
    documents = _volume_documents(files or [problem], format, feedback_dir, feedback_format)
    if (len(files) > 1 or batch or printer.always_batch) and format is not Format.gradescope:
        _check_volumes(problem, (data, layer), files, format, to, rules, (width, documents))
    if files:
        name, title = where(files[0]), f"Marking {where(files[0])} against {problem}"
    else:
        name, title = where(problem), f"Marking {where(problem)}"
    try:
        given = (parse_json(read_text(files[0])) if files else data.get(ANSWERS_KEY))
        if given is None:
            raise ProblemError("no answers to mark; give an answers file, or put them in the "
                               f"problem under the key '{ANSWERS_KEY}'")
        report = mark_volumes(layer, given, tolerance, follow_through=share,
                              where=ANSWERS_KEY if not files else "")
    except ProblemError as error:
        text = str(error)
        text = text if text.startswith(f"{name}: ") else f"{name}: {text}"
        if format is Format.gradescope:  # Gradescope still gets its results.json
            write(printer.batch([(name, text)]), to, [problem, *files])
        raise fail(text) from None
    _volume_feedback(report, title, documents.get(name), width, [problem, *files])
    # text and JSON as ever; the other formats with the working of the wrong entries
    write(report.render(format.value, Options(hints=HINTS, width=width, color=_colour(to)),
                        title=title), to, [problem, *files])
    raise typer.Exit(0 if report.correct else 1)


def _volume_documents(files: list[Path], format: Format, directory: Path | None,
                      chosen: "Feedback | None") -> "dict[str, tuple[Path, str]]":
    """Each answers file's feedback document and its format, as for a 2-D layer."""
    if directory is None:
        return {}
    shape = (chosen.value if chosen is not None
             else format.value if format.value in FEEDBACK_SUFFIX else "markdown")
    paths = _feedback_paths(files, directory, FEEDBACK_SUFFIX[shape])
    return {name: (path, shape) for name, path in paths.items()}


def _volume_feedback(report: "VolumeReport", title: str, document: "tuple[Path, str] | None",
                     width: int | None, inputs: Iterable[Path]) -> None:
    """A student's feedback document on a 3-D layer: the report with the working of
    the wrong entries (as text too), without the command line's hints."""
    if document is None:
        return
    from cnnstep.render import volume_marked

    path, shape = document
    write(volume_marked.render(report, report.layer, title, shape, Options(width=width)),
          path, inputs)


def _check_volumes(problem: Path, read_in: "tuple[Any, Volume | VolumeBatch]",
                   files: list[Path], format: Format, to: Path | None,
                   rules: "tuple[Fraction | None, Fraction]",
                   shown: "tuple[int | None, dict[str, tuple[Path, str]]]") -> None:
    """Answers files to a 3-D layer marked one by one (or the problem's own), and their
    summary, as for a 2-D layer: a file that cannot be read is a row with its error;
    each file read has its feedback document when ``shown`` names one."""
    from cnnstep.check.volume import VolumeReport
    from cnnstep.check.volume_batch import mark_volumes
    from cnnstep.problem import ANSWERS_KEY, ProblemError, parse_json, read_text, where

    tolerance, share = rules
    data, layer = read_in
    width, documents = shown
    sources: list[tuple[str, Path | None]] = ([(where(path), path) for path in files]
                                              or [(where(problem), None)])
    results: list[tuple[str, VolumeReport | str]] = []
    progress = _progress(len(sources))
    for name, path in sources:
        try:
            given = (parse_json(read_text(path)) if path is not None
                     else data.get(ANSWERS_KEY))
            if given is None:
                raise ProblemError("no answers to mark; give an answers file, or put them "
                                   f"in the problem under the key '{ANSWERS_KEY}'")
            outcome: VolumeReport | str = mark_volumes(
                layer, given, tolerance, follow_through=share,
                where=ANSWERS_KEY if path is None else "")
        except ProblemError as error:
            outcome = f"{name}: {error}"
        results.append((name, outcome))
        if not isinstance(outcome, str):
            title = (f"Marking {name} against {problem}" if path is not None
                     else f"Marking {name}")
            _volume_feedback(outcome, title, documents.get(name), width, [problem, *files])
        progress()
    progress.stop()
    write(FORMATS[format.value].batch(list(results), Options(width=width, color=_colour(to))),
          to, [problem, *files])
    errors = sum(isinstance(outcome, str) for _, outcome in results)
    if errors:
        say("note", f"{errors} of {len(results)} answers files could not be read; their "
                    "rows say why")
        raise typer.Exit(2)
    raise typer.Exit(0 if all(not isinstance(outcome, str) and outcome.correct
                              for _, outcome in results) else 1)


def parse_json_file(path: Path, read: Any) -> Any:
    """An answers file's JSON, its errors naming the file."""
    from cnnstep.problem import ProblemError, parse_json, where

    try:
        return parse_json(read(path))
    except ProblemError as error:
        raise fail(f"{where(path)}: {error}") from None


def _feedback_paths(files: list[Path], directory: Path, suffix: str) -> dict[str, Path]:
    """Each answers file's feedback document: ``DIR/<its name><suffix>``; two files
    with the same name are refused."""
    from cnnstep.problem import where

    paths: dict[str, Path] = {}
    taken: dict[Path, Path] = {}
    for path in files:
        document = directory / (path.stem + suffix)
        if document in taken:
            raise fail(f"--feedback-dir: {where(taken[document])} and {where(path)} would "
                       f"both write {document}")
        taken[document] = path
        paths[where(path)] = document
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise fail(f"{directory}: cannot make the directory: {error.strerror or error}"
                   ) from None
    return paths


def _write_feedback(outcome: "Report | str", title: str, document: Path | None, format: str,
                    width: int | None, inputs: Iterable[Path]) -> None:
    """A student's feedback document: the report with the working of the wrong
    entries, without the command line's hints (the student runs no command)."""
    if document is None or isinstance(outcome, str):
        return
    from cnnstep.api import render_report

    write(render_report(outcome, title, format, Options(width=width)), document, inputs)


def _pair_option(text: str, name: str) -> tuple[int, int]:
    """``3`` or ``3x4`` (rows × columns)."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        numbers = [int(part) for part in parts]
    except ValueError:
        raise fail(f"{name} {text}: expected N or NxM, such as 3 or 4x5") from None
    if len(numbers) not in (1, 2) or min(numbers) < 1 or max(numbers) > 64:
        raise fail(f"{name} {text}: expected N or NxM with sizes from 1 to 64")
    return numbers[0], numbers[-1]


class Values(StrEnum):
    integers = "integers"
    decimals = "decimals"
    fractions = "fractions"


@app.command(cls=cliparams.Command)
def generate(
    seed: Annotated[int, typer.Option("--seed", help="The seed: the same seed and options "
                                                     "give the same files on any machine.")],
    to: Annotated[Path, typer.Option("--output", "-o", help="The directory to write into "
                                                            "(made if missing).")],
    count: Annotated[int, typer.Option("--count", "-n", min=1, max=10_000,
                                       help="How many problems.")] = 1,
    size: Annotated[str, typer.Option("--size", help="Input size, N or HxW.")] = "3",
    channels: Annotated[int, typer.Option("--channels", min=1, max=8)] = 1,
    filters: Annotated[int, typer.Option("--filters", min=1, max=8)] = 1,
    kernel: Annotated[str, typer.Option("--kernel", help="Kernel size, N or HxW.")] = "2",
    stride: Annotated[int, typer.Option("--stride", min=1, max=8)] = 1,
    padding: Annotated[int, typer.Option("--padding", min=0, max=8)] = 0,
    dilation: Annotated[int, typer.Option(
        "--dilation", min=1, max=8,
        help="Spacing of the kernel's taps: a k×k kernel spans d·(k − 1) + 1.")] = 1,
    groups: Annotated[int, typer.Option(
        "--groups", min=1, max=16,
        help="Split the channels into G groups, each filter seeing its group's block; "
             "G must divide --channels and --filters (G = C = F: depthwise).")] = 1,
    bias: Annotated[bool, typer.Option("--bias/--no-bias", help="A bias per filter.")] = False,
    activation: Annotated[str | None, typer.Option(
        "--activation", help="relu or leaky_relu (sigmoid and tanh have no exact values).")
    ] = None,
    pool: Annotated[str | None, typer.Option("--pool", help="max, min or mean.")] = None,
    pool_size: Annotated[int, typer.Option("--pool-size", min=1, max=8)] = 2,
    loss: Annotated[str, typer.Option("--loss", help="mse, sse or half_sse.")] = "mse",
    learning_rate: Annotated[str | None, typer.Option(
        "--learning-rate", help="α of the update (default 0.1); 0: no update.")] = None,
    values: Annotated[Values, typer.Option(
        "--values", help="integers (−3 to 3), decimals (one place, −1 to 1) or fractions "
                         "(halves, written as fractions).")] = Values.decimals,
    places: Annotated[int, typer.Option(
        "--places", min=0, max=12,
        help="Every answer a terminating decimal with at most this many places.")] = 4,
    ties: Annotated[bool, typer.Option("--ties", help="Allow ties in max and min pool "
                                                      "windows.")] = False,
    template: Annotated[Path | None, typer.Option(
        "--template", help="A problem file whose numbers are redrawn (its other keys kept); "
                           "the shape options are then ignored.")] = None,
    sample: Annotated[str | None, typer.Option(
        "--sample", metavar="NAME", autocompletion=_sample_names, show_default=False,
        help="A sample that comes with cnnstep as the template, in place of --template FILE: "
             "its name, or the start of one (seed000).")] = None,
    ask: Annotated[list[str] | None, typer.Option(
        "--ask", metavar="KEY[=POINTS]", show_default=False,
        help="A quantity or entry each problem asks (grad_filter, grad_input[1][1]), with its "
             "points (grad_filter=4; default 1); repeat for several. Written as the problem's "
             "'questions'.")] = None,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace a set already in the directory: its problem-NN.json "
                            "files are overwritten, and those this run does not write are "
                            "removed.")] = False,
) -> None:
    """Write homework variants: seeded problems whose answers are short and exact.

    Every result value of every problem is a terminating decimal with at most
    --places decimal places; max and min pool windows have no ties (unless
    --ties), and no ReLU map is zero everywhere.

    Examples:

      cnnstep generate --seed 7 --count 30 -o week3

      cnnstep generate --seed 1 --size 4 --kernel 3 --activation relu --pool max -o set

      cnnstep generate --seed 2 --sample seed000-filter-update -o variants

      cnnstep generate --seed 7 --count 3 --ask grad_filter=2 --ask grad_input -o quiz
    """
    from fractions import Fraction

    from cnnstep import generate as generator
    from cnnstep.problem import ProblemError, parse_json, read_text, to_number, where

    if sample is not None:
        template = problem_path(template, sample)
    old = generator.held(to)
    if old and not overwrite:
        raise fail(generator.refusal(to, old))
    try:
        rate = (to_number(learning_rate, "--learning-rate") if learning_rate is not None
                else Fraction(1, 10))
        exercise = generator.Exercise(
            size=_pair_option(size, "--size"), channels=channels, filters=filters,
            kernel=_pair_option(kernel, "--kernel"), stride=stride, padding=padding,
            dilation=dilation, groups=groups, bias=bias,
            activation=activation, pool=pool, pool_size=pool_size, loss=loss,
            learning_rate=rate or None, style=values.value, places=places, ties=ties,
            ask=generator.asking(ask or []))
        if template is not None:
            data = parse_json(read_text(template))
            if not isinstance(data, dict):
                raise ProblemError(f"{where(template)}: expected a JSON object")
            exercise = generator.from_template(data, exercise)
        problems = generator.generate(exercise, seed=seed, count=count)
    except ProblemError as error:
        raise fail(str(error)) from None
    try:
        paths = generator.write(problems, to, fractions=values is Values.fractions,
                                replace=overwrite)
    except generator.GenerateError as error:
        raise fail(str(error)) from None
    except OSError as error:
        raise fail(f"{to}: cannot write: {error.strerror or error}") from None
    removed = len(set(old) - set(paths))
    say("note", f"wrote {len(paths)} problem{'s' * (len(paths) != 1)} to {to}"
                + (f", and removed {removed} left from the set before" if removed else ""))


@app.command(cls=cliparams.Command)
def new(to: Output = None) -> None:
    """Write a starting problem, every key explained in a // comment.

    Problem files may hold // comments; edit this one and solve it.

    Examples:

      cnnstep new -o problem.json

      cnnstep new | cnnstep solve -
    """
    from cnnstep.starter import STARTER

    if to is not None and str(to) != output.STDOUT and to.exists():
        raise fail(f"{to}: already exists; give another name (it is not overwritten)")
    write(STARTER, to)


@app.command(cls=cliparams.Command)
def schema(to: Output = None) -> None:
    """Print the JSON Schema (draft 2020-12) of a problem file, for editors and validators.

    The schema checks each key's type, names and ranges; the shapes agreeing
    is left to `cnnstep solve`.

    Example:

      cnnstep schema -o cnnstep-problem.schema.json
    """
    from cnnstep.schema import text

    write(text(), to)


def _styled(to: Path | None) -> bool:
    """A derivation is styled on a terminal, or when FORCE_COLOR asks (rich then
    honours NO_COLOR: styles without colour)."""
    return _to_stdout(to) and (_isatty() or bool(os.environ.get("FORCE_COLOR")))


def _colour(to: Path | None) -> bool:
    """A report is coloured on a terminal, unless NO_COLOR."""
    return _to_stdout(to) and _isatty() and not os.environ.get("NO_COLOR")


def _to_stdout(to: Path | None) -> bool:
    return to is None or str(to) == output.STDOUT


def _isatty() -> bool:
    return sys.stdout is not None and sys.stdout.isatty()


class _Bar:
    """A progress bar on standard error, advanced by calling it; it goes away when
    full or stopped. Without a terminal on standard error it shows nothing."""

    def __init__(self, total: int, label: str, minimum: int) -> None:
        self.bar: Any = None
        if total < minimum or sys.stderr is None or not sys.stderr.isatty():
            return
        from rich.console import Console
        from rich.progress import Progress

        self.bar = Progress(console=Console(stderr=True), transient=True)
        self.task = self.bar.add_task(label, total=total)
        self.bar.start()

    def __call__(self) -> None:
        if self.bar is not None:
            self.bar.advance(self.task)
            if self.bar.finished:
                self.stop()

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _progress(total: int, label: str = "marking", minimum: int = 10) -> _Bar:
    """A progress bar on standard error for many files on a terminal: ``minimum``
    files or more (ten when marking; two problems of a set, whose derivations take
    longer)."""
    return _Bar(total, label, minimum)


class Platform(StrEnum):
    """The platforms of :data:`cnnstep.export.PLATFORMS`, as typer lists choices."""

    moodle = "moodle"
    canvas = "canvas"
    prairielearn = "prairielearn"


@app.command(cls=cliparams.Command)
def export(
    to: Annotated[
        Platform, typer.Option(
            "--to", show_default=False,
            help="moodle: a Moodle XML file of Cloze questions; canvas: a QTI 1.2 zip for "
                 "Canvas, one numerical question per entry; prairielearn: a directory of "
                 "PrairieLearn questions.")
    ],
    output_path: Annotated[
        Path, typer.Option("--output", "-o", metavar="OUT", show_default=False,
                           help="The XML file, the zip or the directory to write.")
    ],
    files: Annotated[
        list[Path] | None, typer.Argument(help="Problem files (JSON), one question each.",
                                          metavar="FILE", show_default=False)
    ] = None,
    sample: Annotated[list[str] | None, typer.Option(
        "--sample", metavar="NAME", autocompletion=_sample_names, show_default=False,
        help="A sample that comes with cnnstep, exported after the files: its name, or the "
             "start of one (seed000); repeat it for several.")] = None,
) -> None:
    """Export problems as quiz questions: every entry of every quantity a numeric blank.

    Each blank accepts its value within the rounding rule of cnnstep check (the
    exact decimal, or 4 decimals; half a unit in the last place, at most 0.01),
    and the worked solution is the question's feedback.

    Examples:

      cnnstep export --to moodle --sample seed000-filter-update -o quiz.xml

      cnnstep export --to canvas --sample half-sse --sample meanpool -o quiz.zip

      cnnstep export --to prairielearn --sample seed000-filter-update -o questions/cnn
    """
    from cnnstep.export import PLATFORMS, exercises
    from cnnstep.output import OutputError
    from cnnstep.problem import ProblemError
    from cnnstep.quantities import SelectionError

    files = [*(files or []), *sample_paths(sample or [])]
    if not files:
        raise fail("give problem files, or --sample NAME for a sample")
    try:
        items = exercises(files)
    except (ProblemError, SelectionError) as error:
        raise fail(str(error)) from None
    for file, item in zip(files, items, strict=True):
        notes(item.problem, file)
    try:
        PLATFORMS[to.value](items, output_path, files)
    except OutputError as error:
        raise fail(str(error)) from None


def invoked(args: list[str]) -> typer.Typer:
    """The app as the arguments call it: when they start with a command's name, an
    app of that command alone, so that typer builds the options of one command,
    not of all of them (the command's help, its usage and its errors read the
    same); else the whole app (the list of commands, ``--version``, completion)."""
    if not args or any(name.endswith("_COMPLETE") for name in os.environ):
        return app
    for info in app.registered_commands:
        callback = info.callback
        name = info.name or (callback.__name__.lower().replace("_", "-") if callback else None)
        if name == args[0]:
            one = _ONE.get(name)
            if one is None:
                one = _ONE[name] = copy.copy(app)
                one.registered_commands = [info]
            return one
    return app


#: the app of each command alone, made once
_ONE: dict[str, typer.Typer] = {}
#: each app as a click command, built once per process (a caller in Python, such as
#: the tests, runs many commands): the app and its command
_BUILT: dict[int, tuple[typer.Typer, Any]] = {}


def _command(app: typer.Typer) -> Any:
    """The click command typer builds of ``app``, built once."""
    built = _BUILT.get(id(app))
    if built is None or built[0] is not app:
        built = _BUILT[id(app)] = (app, typer.main.get_command(app))
    return built[1]


def main() -> None:
    """The console script: never a traceback."""
    # numbers of any length may be written: the work limit bounds them
    sys.set_int_max_str_digits(0)
    try:
        _command(invoked(sys.argv[1:]))()
    except output.PipeClosed:
        # the reader left (``cnnstep solve … | head``): stop quietly, as a program
        # killed by SIGPIPE does, and keep Python from complaining on exit
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        sys.exit(BROKEN_PIPE)
    except KeyboardInterrupt:
        sys.stderr.write("cnnstep: interrupted\n")
        sys.exit(130)
    except Exception as error:  # an internal fault, not the user's input
        sys.stderr.write(
            f"cnnstep: internal error: {type(error).__name__}: {error}\n"
            "This is a bug in cnnstep; please report it with the problem file.\n"
        )
        sys.exit(70)
