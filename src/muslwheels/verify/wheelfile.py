"""The one way a wheel is opened: wheels from ``wheels/``, from an index, from an image are data.

Everything that looks into a wheel (the index, verify, extract, the test step and the runtime
closure through :mod:`muslwheels.wheelinfo`) goes through here, so the same rules hold everywhere:

- the file name is a wheel name as a whole (``fullmatch``: a trailing newline is no part of a
  name) with no control character, parsed by ``packaging``;
- the file is a regular file, opened without following a symbolic link (``O_NOFOLLOW``); a FIFO,
  a device or a folder named ``*.whl`` is not a wheel, and opening one never blocks;
- every member name is a relative POSIX path: not absolute, no ``..``, no empty or ``.`` part,
  no backslash or control character, no drive letter, no duplicate; no member is a symbolic link
  or a special file;
- decompression is bounded: the members together may declare :attr:`Limits.unpacked` bytes, one
  member read into memory :attr:`Limits.member` bytes (METADATA :attr:`Limits.metadata`), and
  reading one wheel (its CRC check included) takes at most :attr:`Limits.seconds`;
- exactly one ``<name>.dist-info/METADATA``, whose Name and Version agree with the file name.

A wheel that breaks a rule raises :class:`WheelProblem`, whose text is one line (names escaped):
the caller leaves that wheel out and goes on with the others.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from pathlib import Path

from packaging.tags import Tag
from packaging.utils import (
    BuildTag,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from ..names import escape, has_control

# name-version(-build)?-python-abi-platform.whl, each part free of dashes, slashes and spaces
_PART = r"[^-\s/\\]+"
_BUILD = r"\d[^-\s/\\]*"
_WHEEL_NAME = re.compile(rf"{_PART}-{_PART}(?:-{_BUILD})?(?:-{_PART}){{3}}\.whl")
_METADATA = re.compile(r"[^/]+\.dist-info/METADATA")
_DRIVE = re.compile(r"[A-Za-z]:")
_CHUNK = 1 << 20


class WheelProblem(ValueError):
    """The file is not a wheel the tool may use; ``str()`` is the reason on one line."""


@dataclass(frozen=True)
class Limits:
    """How much one wheel may make the tool read."""

    unpacked: int = 8 << 30  # all members together, as declared (the CRC check reads them all)
    member: int = 256 << 20  # one member read into memory (an ELF file)
    metadata: int = 16 << 20  # the METADATA file
    members: int = 200_000  # entries in the archive
    seconds: float = 300.0  # reading one wheel, its CRC check included


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class WheelName:
    """A wheel file name, parsed."""

    filename: str
    name: NormalizedName
    version: Version
    build: BuildTag
    tags: frozenset[Tag]


def parse_wheel_name(filename: str) -> WheelName:
    """The parts of a wheel file name; WheelProblem when ``filename`` is not one as a whole."""
    if has_control(filename) or not _WHEEL_NAME.fullmatch(filename):
        raise WheelProblem(f"not a valid wheel file name ('{escape(filename)}')")
    try:
        name, version, build, tags = parse_wheel_filename(filename)
    except (InvalidWheelFilename, InvalidVersion) as err:
        raise WheelProblem(f"not a valid wheel file name ({escape(str(err))})") from None
    return WheelName(filename, name, version, build, tags)


def member_problem(info: zipfile.ZipInfo) -> str | None:
    """Why one archive member makes a wheel invalid, or None."""
    name = info.filename
    if has_control(name) or "\\" in name:
        return f"member '{escape(name)}' has a control character or a backslash in its name"
    if name.startswith("/") or _DRIVE.match(name):
        return f"member '{escape(name)}' is an absolute path"
    parts = name.rstrip("/").split("/")
    if ".." in parts:
        return f"member '{escape(name)}' climbs out of the wheel (..)"
    if any(p in ("", ".") for p in parts):
        return f"member '{escape(name)}' is not a valid path"
    kind = stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0
    if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
        return f"member '{escape(name)}' is a symbolic link or a special file"
    return None


class WheelReader:
    """An open wheel whose member names were checked; reads are bounded in size and time."""

    def __init__(
        self, archive: zipfile.ZipFile, limits: Limits, clock: Callable[[], float]
    ) -> None:
        self._archive = archive
        self._limits = limits
        self._clock = clock
        self._deadline = clock() + limits.seconds
        infos = archive.infolist()
        if len(infos) > limits.members:
            raise WheelProblem(f"not a valid wheel: more than {limits.members} members")
        seen: set[str] = set()
        declared = 0
        for info in infos:
            problem = member_problem(info)
            if problem is not None:
                raise WheelProblem(f"not a valid wheel: {problem}")
            if info.filename in seen:
                raise WheelProblem(f"not a valid wheel: member '{escape(info.filename)}' twice")
            seen.add(info.filename)
            declared += info.file_size
        if declared > limits.unpacked:
            raise WheelProblem(
                f"not a valid wheel: it would unpack to {declared} bytes, "
                f"more than the {limits.unpacked} allowed"
            )
        self.names: tuple[str, ...] = tuple(i.filename for i in infos)

    def _chunks(self, member: str, limit: int) -> Iterator[bytes]:
        info = self._archive.getinfo(member)
        if info.file_size > limit:
            raise WheelProblem(
                f"not a valid wheel: {escape(member)} would unpack to {info.file_size} bytes, "
                f"more than the {limit} allowed"
            )
        read = 0
        with self._archive.open(info) as data:
            while True:
                try:
                    chunk = data.read(_CHUNK)
                except zipfile.BadZipFile:
                    raise WheelProblem(
                        f"not a valid wheel: {escape(member)} is damaged (CRC mismatch)"
                    ) from None
                if not chunk:
                    return
                read += len(chunk)
                if read > limit:  # zipfile stops at the declared size: a second guard
                    raise WheelProblem(
                        f"not a valid wheel: {escape(member)} is larger than it says"
                    )
                if self._clock() > self._deadline:
                    raise WheelProblem(
                        f"not a valid wheel: reading it took more than {self._limits.seconds:g} s"
                    )
                yield chunk

    def read(self, member: str, limit: int | None = None) -> bytes:
        """One member's bytes (at most ``limit``, default :attr:`Limits.member`)."""
        return b"".join(self._chunks(member, self._limits.member if limit is None else limit))

    def head(self, member: str, size: int) -> bytes:
        """The first ``size`` bytes of one member (at most), whatever its length."""
        with self._archive.open(self._archive.getinfo(member)) as data:
            return data.read(size)

    def check(self) -> None:
        """Read every member once: a damaged member (CRC) or a bomb is a WheelProblem."""
        for info in self._archive.infolist():
            if not info.is_dir():
                for _chunk in self._chunks(info.filename, self._limits.unpacked):
                    pass

    def metadata_member(self) -> str:
        found = [n for n in self.names if _METADATA.fullmatch(n)]
        if len(found) != 1:
            what = "no" if not found else f"{len(found)}"
            raise WheelProblem(f"not a valid wheel: {what} .dist-info/METADATA files")
        return found[0]

    def metadata(self) -> bytes:
        """The bytes of the one ``.dist-info/METADATA`` (bounded)."""
        return self.read(self.metadata_member(), self._limits.metadata)


def _open_regular(path: Path) -> int:
    """A descriptor of ``path`` when it is a regular file (a symbolic link is not followed; a
    FIFO does not block the open); WheelProblem otherwise."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise WheelProblem("not a wheel: a symbolic link") from None
        raise WheelProblem(f"cannot read it: {err.strerror or err}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise WheelProblem("not a wheel: not a regular file")
    return fd


@contextlib.contextmanager
def open_wheel(
    path: Path,
    *,
    limits: Limits = DEFAULT_LIMITS,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[WheelReader]:
    """``path`` opened as a wheel (its name is not checked here: see :func:`read_wheel_name`);
    WheelProblem for anything that is not a wheel the rules of this module allow."""
    fd = _open_regular(path)
    try:
        with os.fdopen(fd, "rb") as handle, zipfile.ZipFile(handle) as archive:
            yield WheelReader(archive, limits, clock)
    except WheelProblem:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError) as err:
        raise WheelProblem(f"not a valid wheel: not a readable zip file ({err})") from None
    except (OSError, ValueError, RuntimeError, NotImplementedError, KeyError) as err:
        # a damaged member (CRC: BadZipFile above; RuntimeError for an encrypted one), a
        # compression method zipfile lacks (it raises NotImplementedError), a read error
        raise WheelProblem(f"not a valid wheel: {escape(str(err)) or type(err).__name__}") from None
    except MemoryError:
        raise WheelProblem("not a valid wheel: it needs more memory than there is") from None


def read_wheel_name(path: Path) -> WheelName:
    """The parsed name of the wheel at ``path`` (see :func:`parse_wheel_name`)."""
    return parse_wheel_name(path.name)


def metadata_headers(metadata: bytes) -> Message:
    return BytesHeaderParser().parsebytes(metadata)


def check_metadata_agrees(wheel: WheelName, headers: Message) -> str:
    """The METADATA's Name (as the project spells it) when its Name and Version are the file
    name's; WheelProblem otherwise."""
    meta_name = str(headers.get("Name") or "").strip()
    meta_version = str(headers.get("Version") or "").strip()
    if has_control(meta_name) or canonicalize_name(meta_name) != wheel.name:
        raise WheelProblem(
            f"its METADATA names project '{escape(meta_name)}', the file name {wheel.name!r}"
        )
    try:
        same_version = Version(meta_version) == wheel.version
    except InvalidVersion:
        same_version = False
    if not same_version:
        raise WheelProblem(
            f"its METADATA has version '{escape(meta_version)}', the file name {wheel.version}"
        )
    return meta_name


@dataclass(frozen=True)
class CheckedWheel:
    """A wheel that passed every rule of this module, whole (CRC of every member included)."""

    wheel: WheelName
    name: str  # the METADATA Name, as the project spells it
    metadata: bytes
    headers: Message


def check_wheel(path: Path, *, limits: Limits = DEFAULT_LIMITS) -> CheckedWheel:
    """Every rule of this module on the wheel at ``path``; WheelProblem for the first broken."""
    wheel = read_wheel_name(path)
    with open_wheel(path, limits=limits) as reader:
        metadata = reader.metadata()
        reader.check()
    headers = metadata_headers(metadata)
    name = check_metadata_agrees(wheel, headers)
    return CheckedWheel(wheel, name, metadata, headers)


def is_wheel_path(path: Path) -> bool:
    """Whether ``path`` names a regular file (not through a symbolic link) called ``*.whl``."""
    return path.name.endswith(".whl") and path.is_file() and not path.is_symlink()
