"""Where the tool may write what the user asked for (``--dest``, ``--print``): nowhere else.

An output file must be a regular file (it is replaced) or a new name in a folder that exists or
can be made, and that the tool can write. Anything else (a device such as ``/dev/full``, a FIFO, a
socket, a folder, a symbolic link, a path through a file or through a folder that cannot be
made or written) is a UsageError (one line, exit code 2) before anything is written, and nothing
is replaced. An output folder must be a folder or a new name that can be made.

Files are written whole or not at all: into a temporary file beside the output, then renamed
over it (the path is checked again just before the rename).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from .errors import UsageError
from .names import escape

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str | None:
    """What a non-regular file is ("a device", ...), None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _folder_problem(folder: Path) -> str | None:
    """Why files cannot be made in ``folder`` (which may not exist yet), or None."""
    current = folder
    while True:
        try:
            found = current.lstat()
        except (FileNotFoundError, NotADirectoryError):
            if current.parent == current:
                return f"{escape(str(current))} does not exist"
            current = current.parent
            continue
        except OSError as err:
            return f"{escape(str(current))} cannot be read ({err.strerror or err})"
        if stat.S_ISLNK(found.st_mode):
            with contextlib.suppress(OSError):
                found = current.stat()  # a link to a folder is a folder the user set up
        if not stat.S_ISDIR(found.st_mode):
            return f"{escape(str(current))} is not a folder"
        if not os.access(current, os.W_OK | os.X_OK):
            return f"the folder {escape(str(current))} cannot be written"
        return None


def output_file_problem(path: Path) -> str | None:
    """Why ``path`` may not be written as an output file, or None."""
    try:
        found = path.lstat()
    except (FileNotFoundError, NotADirectoryError):
        found = None
    except OSError as err:
        return f"it cannot be read ({err.strerror or err})"
    if found is not None:
        kind = _kind(found.st_mode)
        if kind is not None:
            return f"it is {kind}, not a regular file"
    return _folder_problem(path.parent)


def check_output_file(path: Path, *, what: str, flag: str) -> Path:
    """``path`` when it may be written as ``what``; UsageError (naming ``flag``) otherwise."""
    hint = f"pass {flag} with a regular file, or a new name, in a folder you can write"
    return _checked(path, output_file_problem(path), f"cannot write {what} to", hint)


def check_output_folder(path: Path, *, what: str, flag: str) -> Path:
    """``path`` when it is a folder or can be made one; UsageError (naming ``flag``) otherwise."""
    hint = f"pass {flag} with a folder you can write (or a new name in one)"
    return _checked(path, _folder_problem(path), f"cannot write {what} into", hint)


def _checked(path: Path, problem: str | None, cannot: str, hint: str) -> Path:
    if problem is not None:
        raise UsageError(f"{cannot} {escape(str(path))}: {problem}; nothing was written", hint=hint)
    return path


def write_output_text(path: Path, text: str, *, what: str, flag: str) -> None:
    """Write ``text`` to ``path`` atomically, after :func:`check_output_file`; UsageError (one
    line) when it cannot be written, and then ``path`` is as it was."""
    check_output_file(path, what=what, flag=flag)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        check_output_file(path, what=what, flag=flag)  # it may have changed meanwhile
        Path(tmp).replace(path)
        tmp = None
    except OSError as err:
        raise UsageError(
            f"cannot write {what} to {escape(str(path))}: {err.strerror or err}; "
            "nothing was written",
            hint=f"pass {flag} with a regular file, or a new name, in a folder you can write",
        ) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()
