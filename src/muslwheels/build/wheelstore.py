"""The ``wheels/`` store: ``wheels_root/<arch>/`` folders of verified wheels.

What is in a folder (``WheelFolders``, each folder listed once), and how wheels get in: all or none,
each copied to a hidden temporary file and renamed over its final name, under the folder's lock
(``install_wheels``), so concurrent runs never see a partial or foreign wheel. ``build``,
``extract`` and ``publish`` all go through here.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..config.model import Target, normalize_name
from ..verify.fit import wheel_fits

#: The lock file of each wheels/<arch>/ folder.
LOCK_NAME = ".muslwheels.lock"


class WheelFolders:
    """The wheels in each ``wheels_root/<arch>/``, listed once and grouped by project: a run over
    a matrix of hundreds of targets reads each folder once and checks only that project's files
    (instead of listing the folder and checking every file in it once per target)."""

    def __init__(self, wheels_root: Path) -> None:
        self.wheels_root = wheels_root
        self._folders: dict[str, dict[str, list[str]]] = {}

    def _by_project(self, wheel_dir: str) -> dict[str, list[str]]:
        if wheel_dir not in self._folders:
            try:
                with os.scandir(self.wheels_root / wheel_dir) as entries:
                    # a symbolic link is never taken for a wheel (it could point anywhere)
                    names = sorted(e.name for e in entries if e.is_file(follow_symlinks=False))
            except FileNotFoundError:
                names = []
            by_project: dict[str, list[str]] = {}
            for name in names:
                if name.endswith(".whl") and not name.startswith("."):
                    # a wheel's file name starts with its project's name (escaped, no dash)
                    by_project.setdefault(normalize_name(name.split("-", 1)[0]), []).append(name)
            self._folders[wheel_dir] = by_project
        return self._folders[wheel_dir]

    def fitting(self, target: Target) -> tuple[str, ...]:
        """File names of the wheels that fit ``target``, sorted."""
        names = self._by_project(target.wheel_dir).get(target.key, [])
        return tuple(n for n in names if wheel_fits(n, target))


@contextlib.contextmanager
def locked_dir(folder: Path) -> Iterator[None]:
    """Hold the exclusive lock of one wheels/<arch>/ directory (other runs wait)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def install_wheels(sources: Sequence[Path], folder: Path) -> tuple[str, ...]:
    """Move the wheel files ``sources`` into ``folder``: each is first copied to a hidden temporary
    file in ``folder`` and then renamed over its final name, all under the directory's lock. Either
    every wheel lands or none does (the temporary files are removed on any error)."""
    with locked_dir(folder):
        staged: list[tuple[Path, Path]] = []
        try:
            for src in sources:
                fd, tmp_name = tempfile.mkstemp(prefix=f".{src.name}.", suffix=".part", dir=folder)
                tmp = Path(tmp_name)
                staged.append((tmp, folder / src.name))
                with os.fdopen(fd, "wb") as out, src.open("rb") as data:
                    shutil.copyfileobj(data, out)
                    out.flush()
                    os.fsync(out.fileno())
                tmp.chmod(0o644)
            for tmp, final in staged:
                tmp.replace(final)
        except BaseException:
            for tmp, _ in staged:
                tmp.unlink(missing_ok=True)
            raise
        fsync_dir(folder)
    return tuple(src.name for src in sources)


def fsync_dir(folder: Path) -> None:
    """Make the renames in ``folder`` durable (where the file system allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def link_or_copy(src: Path, dest: Path) -> None:
    """``dest`` as a hard link to ``src`` (no copy of the bytes), a copy where linking fails
    (another file system)."""
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)
