"""Writing what a command prints: standard output or a file, safely.

* A file is written atomically: to a temporary file beside it, then renamed
  over it, so a failure never leaves it empty or half written; a file that is
  also an input (``solve p.json -o p.json``) is refused.
* ``-`` is standard output.
* Standard output that cannot encode a character (a Windows code page, an
  ASCII locale) gets the same text with ASCII stand-ins (``×`` → ``x``,
  ``∂L/∂Z₁₁`` → ``dL/dZ11``) rather than a crash.
* A full disk, a closed or unwritable standard output, or a file name the
  system cannot encode is one :class:`OutputError` line, never a traceback.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

#: the path that means standard output
STDOUT = "-"

#: characters written to standard output at a time
CHUNK = 1 << 16


class OutputError(OSError):
    """The result could not be written; the message says where and why."""


class PipeClosed(Exception):
    """The reader of standard output went away (``cnnstep solve … | head``)."""


#: ASCII for the symbols the renderers use, for a stream that cannot encode them
STAND_INS = {
    "×": "x", "−": "-", "∂": "d", "≈": "~=", "⌊": "floor(", "⌋": ")", "…": "...",
    "·": ".", "°": " deg", "′": "'", "⊙": "(.)", "Σ": "sum ", "√": "sqrt", "≤": "<=",
    "≥": ">=", "→": "->", "←": "<-", "✓": "ok", "✗": "x", "—": "--", "–": "-",
    "α": "alpha", "σ": "sigma", "ᵢ": "i", "ⱼ": "j", "ₘ": "m", "ₙ": "n",
    "₀": "0", "₁": "1", "₂": "2", "₃": "3", "₄": "4", "₅": "5", "₆": "6", "₇": "7",
    "₈": "8", "₉": "9", "⁰": "^0", "¹": "^1", "²": "^2", "³": "^3", "⁴": "^4",
    "⁵": "^5", "⁶": "^6", "⁷": "^7", "⁸": "^8", "⁹": "^9",
    "│": "|", "─": "-", "┌": "+", "┐": "+", "└": "+", "┘": "+", "├": "+", "┤": "+",
    "┬": "+", "┴": "+", "┼": "+", "╭": "+", "╮": "+", "╰": "+", "╯": "+",
}
_TABLE = str.maketrans(STAND_INS)


def encodable(text: str, encoding: str | None) -> str:
    """``text`` as a stream of ``encoding`` can take it: unchanged when it can,
    else with ASCII stand-ins, and ``?`` for anything still left over."""
    codec = codecs.lookup(encoding or "utf-8").name
    try:
        text.encode(codec)
        return text
    except UnicodeEncodeError:
        plain = text.translate(_TABLE)
        return plain.encode(codec, errors="replace").decode(codec)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except (OSError, ValueError):
        return False


def write(text: str, output: Path | str | None, *, inputs: Iterable[Path | str] = ()) -> None:
    """``text`` to standard output (``output`` None or ``-``) or atomically to a file,
    as UTF-8."""
    if output is None or str(output) == STDOUT:
        to_stdout(text)
        return
    write_bytes(text.encode("utf-8"), Path(output), inputs=inputs)


def write_pieces(pieces: Iterable[str], output: Path | str | None, *,
                 inputs: Iterable[Path | str] = ()) -> None:
    """Text made in pieces, written as they come, as :func:`write` writes it whole:
    to standard output, or to a file that appears (atomically) once the last
    piece is written."""
    if output is None or str(output) == STDOUT:
        for text in _gathered(pieces):
            to_stdout(text)
        return

    def fill(handle: BinaryIO) -> None:
        for text in _gathered(pieces):
            handle.write(text.encode("utf-8"))

    _atomically(Path(output), fill, inputs)


def _gathered(pieces: Iterable[str]) -> Iterator[str]:
    """The pieces joined into runs of at least :data:`CHUNK` characters (the last
    may be shorter), so that many small pieces make few writes."""
    run: list[str] = []
    size = 0
    for piece in pieces:
        run.append(piece)
        size += len(piece)
        if size >= CHUNK:
            yield "".join(run)
            run, size = [], 0
    if run:
        yield "".join(run)


def write_bytes(data: bytes, target: Path, *, inputs: Iterable[Path | str] = ()) -> None:
    """``data`` to the file ``target`` atomically: written beside it under a temporary
    name, then renamed over it; never over one of ``inputs``."""
    _atomically(target, lambda handle: handle.write(data), inputs)


def _atomically(target: Path, fill: Callable[[BinaryIO], object],
                inputs: Iterable[Path | str]) -> None:
    """What ``fill`` writes, to the file ``target``: written beside it under a
    temporary name, then renamed over it; never over one of ``inputs``. The
    temporary file is removed if anything goes wrong on the way."""
    for given in inputs:
        if str(given) != STDOUT and _same_file(target, Path(given)):
            raise OutputError(f"{target}: this is an input file; it is not overwritten")
    try:
        str(target).encode(sys.getfilesystemencoding())
    except UnicodeEncodeError:
        raise OutputError(f"{str(target)!a}: the system cannot encode this file name") from None
    import tempfile  # only a file written with -o needs it

    temporary: str | None = None
    try:
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                                 suffix=".tmp")
        with open(descriptor, "wb") as handle:
            fill(handle)
            handle.flush()
            os.fsync(handle.fileno())
        mode = target.stat().st_mode & 0o7777 if target.exists() else 0o666 & ~_umask()
        with contextlib.suppress(OSError):
            os.chmod(temporary, mode)
        os.replace(temporary, target)
    except OSError as error:
        _remove(temporary)
        raise OutputError(f"{target}: cannot write: {error.strerror or error}") from None
    except BaseException:  # the pieces stopped coming: no half-written file is left
        _remove(temporary)
        raise


def _remove(temporary: str | None) -> None:
    if temporary is not None:
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def to_stdout(text: str) -> None:
    """Write to standard output, with stand-ins where its encoding needs them.

    A closed standard output or a full disk raise :class:`OutputError`; a
    broken pipe, :class:`PipeClosed`.
    """
    stream = sys.stdout
    if stream is None:
        raise OutputError("standard output is closed")
    text = encodable(text, getattr(stream, "encoding", None))
    try:
        # in pieces, each flushed: a reader that leaves (``| head``) is then noticed
        # at the next piece, where one large write may be cut short without a word
        for start in range(0, len(text), CHUNK):
            stream.write(text[start:start + CHUNK])
            stream.flush()
    except BrokenPipeError:
        raise PipeClosed from None
    except (OSError, ValueError) as error:  # ValueError: the stream was closed
        reason = getattr(error, "strerror", None) or str(error)
        raise OutputError(f"cannot write to standard output: {reason}") from None


def bytes_to_stdout(data: bytes) -> None:
    """Write bytes (a PDF) to standard output as they are; errors as :func:`to_stdout`'s."""
    stream = getattr(sys.stdout, "buffer", None)
    if stream is None:
        raise OutputError("standard output takes no binary data")
    try:
        sys.stdout.flush()
        for start in range(0, len(data), CHUNK):
            stream.write(data[start:start + CHUNK])
            stream.flush()
    except BrokenPipeError:
        raise PipeClosed from None
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise OutputError(f"cannot write to standard output: {reason}") from None


def to_stderr(line: str) -> None:
    """One line to standard error, whatever its encoding; nothing if it is closed."""
    stream = sys.stderr
    if stream is None:
        return
    with contextlib.suppress(OSError, ValueError):
        stream.write(encodable(line + "\n", getattr(stream, "encoding", None)))
        stream.flush()
