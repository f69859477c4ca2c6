"""``python -m cnnstep`` and the console script ``cnnstep``: the command line.

A run is one command, then the process ends. Two things a long-lived Python
process needs cost a short run a good part of its time, so the console script
does without them:

* the cyclic garbage collector, which by default runs every 700 new objects,
  runs every 100,000 (a run makes many objects and almost no cycles: numbers,
  tuples and strings are freed as soon as they are dropped);
* the interpreter's teardown at exit, which frees every module and object one by
  one: once the command has ended and its output is flushed, the process ends at
  once with the command's exit status.

The library (``import cnnstep``) and :func:`cnnstep.cli.main` called in Python
leave both as they are.
"""

import gc
import os
import sys
from contextlib import suppress


def main() -> None:
    """The console script: :func:`cnnstep.cli.main`, then exit at once."""
    gc.set_threshold(100_000, 20, 50)
    try:
        from cnnstep.cli import main as command

        command()
        status = 0
    except SystemExit as exit_:
        status = _status(exit_.code)
    os._exit(_flushed(status))


def _status(code: object) -> int:
    """The exit status of ``sys.exit(code)``, as the interpreter gives it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    _say(str(code))
    return 1


def _flushed(status: int) -> int:
    """Flush what is left in the standard streams (one that was closed when the
    process started is None); give the status to end with: the command's, or, when
    standard output cannot take the rest, what cnnstep.cli says of that."""
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except BrokenPipeError:  # the reader left
        from cnnstep.cli import BROKEN_PIPE

        status = BROKEN_PIPE
    except (OSError, ValueError) as error:  # a full disk; a stream closed since
        reason = getattr(error, "strerror", None) or error
        _say(f"cnnstep: error: cannot write to standard output: {reason}")
        status = status or 2
    with suppress(OSError, ValueError):
        if sys.stderr is not None:
            sys.stderr.flush()
    return status


def _say(line: str) -> None:
    """A line on standard error, if there is one to write to."""
    with suppress(OSError, ValueError):
        if sys.stderr is not None:
            sys.stderr.write(f"{line}\n")


if __name__ == "__main__":
    main()
