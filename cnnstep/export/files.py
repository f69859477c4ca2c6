"""Writing an export safely: a file, a zip or a directory of question directories.

Each is written under a temporary name beside its place and then renamed
into it, so a failure never leaves half an export. An input file is never
overwritten, and an existing question directory is replaced only when it
holds nothing but the files an export writes.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from cnnstep import output
from cnnstep.output import OutputError

#: a fixed date for the members of a zip: the same export gives the same bytes
ZIP_DATE = (2024, 1, 1, 0, 0, 0)


def _mode(full: int = 0o666) -> int:
    """The permissions a new file (or, with 0o777, a directory) gets by the umask."""
    mask = os.umask(0)
    os.umask(mask)
    return full & ~mask


def write_text(text: str, path: Path, inputs: Iterable[Path | str] = ()) -> None:
    """One text file, atomically (``-``: standard output)."""
    output.write(text, path, inputs=inputs)


def zip_bytes(members: Mapping[str, str]) -> bytes:
    """A zip of text members (UTF-8), in the order given, with fixed dates."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in members.items():
            info = zipfile.ZipInfo(name, ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, text.encode("utf-8"))
    return buffer.getvalue()


def write_zip(members: Mapping[str, str], path: Path,
              inputs: Iterable[Path | str] = ()) -> None:
    """A zip file, atomically."""
    if str(path) == output.STDOUT:
        raise OutputError("a zip file is written to a file; give its name with -o")
    output.write_bytes(zip_bytes(members), path, inputs=inputs)


def write_tree(directories: Mapping[str, Mapping[str, str]], path: Path) -> None:
    """Question directories (name → file name → text) inside the directory
    ``path``, made with its parents if missing; each is written under a
    temporary name and renamed into place."""
    if str(path) == output.STDOUT:
        raise OutputError("question directories are written to a directory; "
                          "give it with -o")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{path}: cannot make the directory: "
                          f"{error.strerror or error}") from None
    if not path.is_dir():
        raise OutputError(f"{path}: not a directory")
    for name, files in directories.items():
        _check_replaceable(path / name, files)
    for name, files in directories.items():
        _write_directory(path / name, files)


def _check_replaceable(target: Path, files: Mapping[str, str]) -> None:
    """Refuse to replace anything but an earlier export of a question."""
    if not target.exists() and not target.is_symlink():
        return
    if target.is_symlink() or not target.is_dir():
        raise OutputError(f"{target}: exists and is not a question directory; "
                          "it is not replaced")
    others = sorted(entry.name for entry in target.iterdir() if entry.name not in files)
    if others:
        raise OutputError(f"{target}: holds files an export does not write "
                          f"({', '.join(others[:3])}); it is not replaced")


def _write_directory(target: Path, files: Mapping[str, str]) -> None:
    staging: str | None = None
    aside: str | None = None
    done = False
    try:
        staging = tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        for file_name, text in files.items():
            with open(Path(staging, file_name), "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(staging, _mode(0o777))
        if target.exists():
            aside = tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.",
                                     suffix=".old")
            os.rmdir(aside)
            os.rename(target, aside)
        os.rename(staging, target)
        staging, done = None, True
    except OSError as error:
        if aside is not None and not target.exists():
            with contextlib.suppress(OSError):
                os.rename(aside, target)
                aside = None
        raise OutputError(f"{target}: cannot write: {error.strerror or error}") from None
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        if done and aside is not None:  # the earlier export, now replaced
            shutil.rmtree(aside, ignore_errors=True)
