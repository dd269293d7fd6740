"""The wheels as a static package index: PEP 503 HTML and PEP 691 JSON with PEP 658/714 metadata.

``build_index(wheels_root, dest)`` writes, for every arch folder of ``wheels_root`` in one index:

- ``DEST/simple/index.html`` + ``index.json``: every project;
- ``DEST/simple/<project>/index.html`` + ``index.json``: its wheels, each link with ``#sha256=``, the
  wheel's ``Requires-Python`` (``data-requires-python`` / ``requires-python``) and the hash of its
  core metadata (``data-core-metadata`` and the older ``data-dist-info-metadata``; ``core-metadata``
  and ``dist-info-metadata`` in JSON);
- ``DEST/<arch>/<wheel>.metadata``: the wheel's own ``METADATA`` file, byte for byte (PEP 658), so pip
  resolves without downloading wheels;
- ``DEST/<arch>/<wheel>``: the wheel itself (a hard link, else a copy) when DEST is not the wheels
  folder. With DEST = the wheels folder (the default) the wheels are served where they are.

Links are relative (the folder works from any static host or as a ``file://`` path) unless a base
URL is given, the address DEST is published at. Wheels pip should not see are left out and
reported: files that are not valid wheels (name, zip, METADATA agreeing with the name) and wheels in
an arch folder their platform tags do not run on.

Writes are incremental and atomic. A state file beside the index remembers each wheel's size, mtime
and hashes (unchanged wheels are not read again) and the files the index owns; only files whose
content changes are written (so only the pages of projects whose wheels changed get a new mtime).
Everything new is first staged in a hidden folder in DEST; then a journal is written, and the staged
files are renamed into place (wheels and metadata first, then project pages, then the root pages)
with SIGINT/SIGTERM held back. An interruption before the journal leaves the previous index as it
was (the next run discards the staging folder); a crash after it is completed by the next run.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import html
import json
import os
import shutil
import signal
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from ..build.wheelstore import fsync_dir
from ..config.arches import ARCHES, Arch
from ..errors import UsageError
from ..names import escape
from ..verify.fit import wheel_problem_for_folder
from ..verify.wheelfile import WheelProblem, check_wheel

SIMPLE = "simple"
STATE_NAME = ".muslwheels-index.json"
STAGING_NAME = ".muslwheels-index.staging"
LOCK_NAME = ".muslwheels-index.lock"
JOURNAL_NAME = "COMMIT"
API_VERSION = "1.1"
_STATE_VERSION = 1
_ARCH_KEYS = {a.key: a for a in ARCHES}
_CHUNK = 1 << 20


# --- what the index holds ---------------------------------------------------------------------


@dataclass(frozen=True)
class WheelFacts:
    """What one wheel file contributes to the index (all from its bytes)."""

    sha256: str
    size: int
    name: str  # the METADATA Name, as the project spells it
    version: str
    requires_python: str | None
    metadata_sha256: str


@dataclass(frozen=True)
class IndexedWheel:
    arch: str  # the folder it is served from
    filename: str
    facts: WheelFacts

    @property
    def project(self) -> str:
        return canonicalize_name(self.facts.name)

    @property
    def path(self) -> str:
        """Relative to DEST (and to the wheels folder)."""
        return f"{self.arch}/{self.filename}"


@dataclass(frozen=True)
class Problem:
    """A file of the wheels folder that is left out of the index, and why."""

    path: str  # relative to the wheels folder
    reason: str


@dataclass(frozen=True)
class IndexReport:
    dest: Path
    wheels: tuple[IndexedWheel, ...]
    projects: tuple[str, ...]  # normalised names
    changed_projects: tuple[str, ...]  # projects whose pages were written
    written: tuple[str, ...]  # files written, relative to DEST
    removed: tuple[str, ...]  # files of an earlier index removed
    problems: tuple[Problem, ...]
    recovered: bool = False  # an interrupted commit of an earlier run was completed first


class IndexWriteError(UsageError):
    """DEST could not be written (permissions, space); the previous index is left as it was."""


# --- the base URL -----------------------------------------------------------------------------


def check_base_url(url: str) -> str:
    """The base URL the index is published at, ending in ``/``; UsageError if not absolute."""
    parts = urlsplit(url.strip())
    absolute = (parts.scheme in ("http", "https") and parts.netloc) or (
        parts.scheme == "file" and parts.path.startswith("/")
    )
    if not absolute or parts.query or parts.fragment:
        raise UsageError(
            f"--base-url {url!r} is not an absolute URL",
            hint="give the address the index folder is published at, e.g. "
            "https://<host>/<path>/ or file:///srv/wheels/ (or leave it out for relative links)",
        )
    text = url.strip()
    return text if text.endswith("/") else text + "/"


# --- reading one wheel ------------------------------------------------------------------------


def _sha256_of(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as data:
        while chunk := data.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def read_wheel(path: Path) -> tuple[WheelFacts, bytes]:
    """The facts of one wheel and its METADATA bytes; WheelProblem if it is not a valid wheel
    (every rule of :mod:`muslwheels.wheelfile`: name, regular file, members, bounds, CRC)."""
    checked = check_wheel(path)
    requires = str(checked.headers.get("Requires-Python") or "").strip() or None
    if requires is not None:
        try:
            SpecifierSet(requires)
        except InvalidSpecifier:
            requires = None  # pip ignores what it cannot read; so do we
    sha256, size = _sha256_of(path)
    facts = WheelFacts(
        sha256=sha256,
        size=size,
        name=checked.name,
        version=str(checked.wheel.version),
        requires_python=requires,
        metadata_sha256=hashlib.sha256(checked.metadata).hexdigest(),
    )
    return facts, checked.metadata


# --- rendering (pure) -------------------------------------------------------------------------


def _href(wheel: IndexedWheel, base_url: str | None) -> str:
    relative = f"{wheel.arch}/{quote(wheel.filename)}"
    return base_url + relative if base_url else f"../../{relative}"


def _sorted(wheels: Sequence[IndexedWheel]) -> list[IndexedWheel]:
    return sorted(wheels, key=lambda w: (Version(w.facts.version), w.filename))


def render_project_html(name: str, wheels: Sequence[IndexedWheel], base_url: str | None) -> str:
    """PEP 503 project page (with PEP 658/714 metadata attributes)."""
    title = html.escape(f"Links for {name}")
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "<head>",
        f'<meta name="pypi:repository-version" content="{API_VERSION}">',
        f"<title>{title}</title>",
        "</head>",
        "<body>",
        f"<h1>{title}</h1>",
    ]
    for wheel in _sorted(wheels):
        href = f"{_href(wheel, base_url)}#sha256={wheel.facts.sha256}"
        attrs = [f'href="{html.escape(href)}"']
        if wheel.facts.requires_python:
            attrs.append(f'data-requires-python="{html.escape(wheel.facts.requires_python)}"')
        meta = f"sha256={wheel.facts.metadata_sha256}"
        attrs += [f'data-dist-info-metadata="{meta}"', f'data-core-metadata="{meta}"']
        lines.append(f"<a {' '.join(attrs)}>{html.escape(wheel.filename)}</a><br>")
    lines += ["</body>", "</html>", ""]
    return "\n".join(lines)


def render_project_json(name: str, wheels: Sequence[IndexedWheel], base_url: str | None) -> str:
    """PEP 691 project page (api-version 1.1: PEP 700's versions and sizes)."""
    files: list[dict[str, Any]] = []
    for wheel in _sorted(wheels):
        entry: dict[str, Any] = {
            "filename": wheel.filename,
            "url": _href(wheel, base_url),
            "hashes": {"sha256": wheel.facts.sha256},
        }
        if wheel.facts.requires_python:
            entry["requires-python"] = wheel.facts.requires_python
        meta = {"sha256": wheel.facts.metadata_sha256}
        entry.update({"core-metadata": meta, "dist-info-metadata": meta})
        entry["size"] = wheel.facts.size
        files.append(entry)
    versions = sorted({w.facts.version for w in wheels}, key=Version)
    page = {
        "meta": {"api-version": API_VERSION},
        "name": canonicalize_name(name),
        "versions": versions,
        "files": files,
    }
    return json.dumps(page, indent=1) + "\n"


def render_root_html(names: Mapping[str, str]) -> str:
    """PEP 503 root page; ``names`` maps normalised name -> display name."""
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "<head>",
        f'<meta name="pypi:repository-version" content="{API_VERSION}">',
        "<title>Simple index</title>",
        "</head>",
        "<body>",
    ]
    lines += [f'<a href="{quote(key)}/">{html.escape(names[key])}</a><br>' for key in sorted(names)]
    lines += ["</body>", "</html>", ""]
    return "\n".join(lines)


def render_root_json(names: Mapping[str, str]) -> str:
    page = {
        "meta": {"api-version": API_VERSION},
        "projects": [{"name": names[key]} for key in sorted(names)],
    }
    return json.dumps(page, indent=1) + "\n"


def render_pages(wheels: Sequence[IndexedWheel], base_url: str | None) -> dict[str, str]:
    """Every page of the index: path relative to DEST -> text."""
    by_project: dict[str, list[IndexedWheel]] = {}
    for wheel in wheels:
        by_project.setdefault(wheel.project, []).append(wheel)
    names = {key: _sorted(group)[-1].facts.name for key, group in by_project.items()}
    pages = {
        f"{SIMPLE}/index.html": render_root_html(names),
        f"{SIMPLE}/index.json": render_root_json(names),
    }
    for key, group in by_project.items():
        pages[f"{SIMPLE}/{key}/index.html"] = render_project_html(names[key], group, base_url)
        pages[f"{SIMPLE}/{key}/index.json"] = render_project_json(names[key], group, base_url)
    return pages


# --- the wheels folder ------------------------------------------------------------------------


@dataclass
class _Cache:
    """The state file: what earlier runs learnt and wrote."""

    wheels: dict[str, dict[str, Any]] = field(default_factory=dict)  # source path -> facts
    owned: dict[str, dict[str, Any]] = field(default_factory=dict)  # DEST path -> stat

    @classmethod
    def load(cls, path: Path) -> _Cache:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        if not isinstance(raw, dict) or raw.get("version") != _STATE_VERSION:
            return cls()
        wheels, owned = raw.get("wheels"), raw.get("owned")
        if not isinstance(wheels, dict) or not isinstance(owned, dict):
            return cls()
        return cls(wheels, owned)

    def dumps(self) -> str:
        return json.dumps(
            {"version": _STATE_VERSION, "wheels": self.wheels, "owned": self.owned},
            indent=1,
            sort_keys=True,
        )


def _stat_key(st: os.stat_result) -> dict[str, int]:
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}


def _facts_from(record: Mapping[str, Any]) -> WheelFacts | None:
    try:
        return WheelFacts(
            sha256=str(record["sha256"]),
            size=int(record["size"]),
            name=str(record["name"]),
            version=str(record["version"]),
            requires_python=record.get("requires_python"),
            metadata_sha256=str(record["metadata_sha256"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


@dataclass
class _Scan:
    wheels: list[IndexedWheel] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    sources: dict[str, Path] = field(default_factory=dict)  # served path -> source file
    metadata: dict[str, bytes] = field(default_factory=dict)  # served path -> METADATA (read now)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)


def _scan(wheels_root: Path, cache: _Cache) -> _Scan:
    """Every servable wheel of ``wheels_root`` (facts from the cache when the file is unchanged)."""
    scan = _Scan()
    candidates: list[tuple[Arch, Path]] = []
    with os.scandir(wheels_root) as top:
        entries = sorted(top, key=lambda e: e.name)
    for entry in entries:
        if entry.name.startswith(".") or entry.name == SIMPLE:
            continue
        if not entry.is_dir():
            scan.problems.append(Problem(escape(entry.name), "not in an arch folder"))
            continue
        arch = _ARCH_KEYS.get(entry.name)
        if arch is None:
            keys = ", ".join(_ARCH_KEYS)
            scan.problems.append(
                Problem(
                    f"{escape(entry.name)}/", f"not an arch folder (the arch folders are {keys})"
                )
            )
            continue
        with os.scandir(entry.path) as inner:
            files = sorted(inner, key=lambda e: e.name)
        for item in files:
            rel = f"{arch.key}/{item.name}"
            # hidden files (locks, wheels being moved in) and the metadata files of an index
            # written into this folder are not candidates (only the index's own are served)
            if item.name.startswith(".") or item.name.endswith(".whl.metadata"):
                continue
            if not item.is_file(follow_symlinks=False) or not item.name.endswith(".whl"):
                scan.problems.append(Problem(escape(rel), "not a wheel file"))
            else:
                candidates.append((arch, Path(item.path)))
    seen: dict[str, IndexedWheel] = {}
    for arch, path in candidates:
        rel = f"{arch.key}/{path.name}"
        misplaced = wheel_problem_for_folder(path.name, arch)
        if misplaced:
            scan.problems.append(Problem(escape(rel), misplaced))
            continue
        st = path.stat()
        record = cache.wheels.get(rel)
        facts = None
        if record is not None and record.get("stat") == _stat_key(st):
            facts = _facts_from(record)
        if facts is None:
            try:
                facts, metadata = read_wheel(path)
            except WheelProblem as err:
                scan.problems.append(Problem(rel, str(err)))
                continue
            except OSError as err:
                scan.problems.append(
                    Problem(rel, f"cannot be read ({escape(str(err.strerror or err))})")
                )
                continue
            scan.metadata[rel] = metadata
        scan.records[rel] = {
            "stat": _stat_key(st),
            "sha256": facts.sha256,
            "size": facts.size,
            "name": facts.name,
            "version": facts.version,
            "requires_python": facts.requires_python,
            "metadata_sha256": facts.metadata_sha256,
        }
        wheel = IndexedWheel(arch.key, path.name, facts)
        # a wheel whose tags fit several arches (a pure one) may be in several folders, built
        # once for each: its file name is its identity in the index, so the first is served
        if path.name not in seen:
            seen[path.name] = wheel
            scan.sources[rel] = path
    scan.wheels = sorted(seen.values(), key=lambda w: w.path)
    return scan


# --- writing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Move:
    staged: str  # name in the staging folder
    final: str  # path relative to DEST


def _write_file(path: Path, data: bytes) -> None:
    with path.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    path.chmod(0o644)


def stage_bytes(path: Path, data: bytes) -> None:
    """Write one staged file (a seam: the tests interrupt a run here)."""
    _write_file(path, data)


def stage_wheel(path: Path, source: Path) -> None:
    """Stage one wheel: a hard link to ``source`` when DEST shares its file system, else a copy."""
    try:
        os.link(source, path)
    except OSError as err:
        if err.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        with source.open("rb") as data, path.open("wb") as out:
            shutil.copyfileobj(data, out, _CHUNK)
            out.flush()
            os.fsync(out.fileno())
        path.chmod(0o644)


def _order(final: str) -> int:
    """Renames go data first, then project pages, then the root pages, then the state."""
    if final == STATE_NAME:
        return 3
    if final.startswith(f"{SIMPLE}/"):
        return 2 if final.count("/") == 1 else 1
    return 0


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block is done (they arrive right after it)."""
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _remove_owned(dest: Path, rel: str) -> None:
    path = dest / rel
    path.unlink(missing_ok=True)
    parent = path.parent
    # an empty project folder of a project that is gone goes too
    if parent != dest and parent.parent == dest / SIMPLE:
        with contextlib.suppress(OSError):
            parent.rmdir()


def apply_journal(dest: Path, staging: Path) -> None:
    """Rename every staged file listed in the journal into place, then remove what it lists;
    each step can be repeated (a run that stopped half-way is completed by the next)."""
    journal = json.loads((staging / JOURNAL_NAME).read_text(encoding="utf-8"))
    touched: set[Path] = set()
    for staged, final in journal["moves"]:
        source = staging / staged
        if source.exists():
            target = dest / final
            target.parent.mkdir(parents=True, exist_ok=True)
            source.replace(target)
            touched.add(target.parent)
    for rel in journal["remove"]:
        _remove_owned(dest, rel)
    for folder in sorted(touched):
        fsync_dir(folder)
    shutil.rmtree(staging, ignore_errors=True)


def _recover(dest: Path) -> bool:
    """Finish the commit an earlier run journaled, or discard what it staged. True if finished."""
    staging = dest / STAGING_NAME
    if not staging.exists():
        return False
    if (staging / JOURNAL_NAME).is_file():
        with _signals_held():
            apply_journal(dest, staging)
        return True
    shutil.rmtree(staging, ignore_errors=True)
    return False


@contextlib.contextmanager
def _locked(dest: Path) -> Iterator[None]:
    fd = os.open(dest / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _current_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _is_current_copy(target: Path, source: Path, facts: WheelFacts, owned: Any) -> bool:
    """Whether DEST already holds this wheel (the same inode, or the copy an earlier run made)."""
    try:
        st = target.stat()
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode):
        return False
    with contextlib.suppress(OSError):
        if target.samefile(source):
            return True
    return (
        isinstance(owned, dict)
        and owned.get("stat") == _stat_key(st)
        and owned.get("sha256") == facts.sha256
    )


def _metadata_of(scan: _Scan, wheel: IndexedWheel) -> bytes:
    if wheel.path not in scan.metadata:
        scan.metadata[wheel.path] = read_wheel(scan.sources[wheel.path])[1]
    return scan.metadata[wheel.path]


def build_index(wheels_root: Path, dest: Path, *, base_url: str | None = None) -> IndexReport:
    """Write (or bring up to date) the index of every wheel in ``wheels_root`` into ``dest``."""
    wheels_root = wheels_root.absolute()
    dest = dest.absolute()
    base = check_base_url(base_url) if base_url is not None else None
    if not wheels_root.is_dir():
        raise UsageError(
            f"no wheels folder {wheels_root}",
            hint="build or extract wheels first (`invoke build --tag ...`)",
        )
    in_place = dest == wheels_root
    if not in_place and wheels_root in dest.parents:
        raise UsageError(
            f"--dest {dest} is inside the wheels folder {wheels_root}",
            hint="write the index into the wheels folder itself (leave --dest out) or outside it",
        )
    try:
        return _build(wheels_root, dest, base, in_place=in_place)
    except OSError as err:
        where = err.filename or dest
        raise IndexWriteError(
            f"the index in {dest} could not be written: {where}: {err.strerror or err}",
            hint="check that the folder is writable and has space; the previous index is intact",
        ) from None


def _build(wheels_root: Path, dest: Path, base: str | None, *, in_place: bool) -> IndexReport:
    dest.mkdir(parents=True, exist_ok=True)
    with _locked(dest):
        recovered = _recover(dest)
        cache = _Cache.load(dest / STATE_NAME)
        scan = _scan(wheels_root, cache)
        pages = render_pages(scan.wheels, base)
        changes: dict[str, bytes | Path] = {}  # DEST path -> content, or the wheel to link/copy
        owned: dict[str, dict[str, Any]] = {}  # DEST path -> what the state keeps of it
        for wheel in scan.wheels:
            meta_rel = f"{wheel.path}.metadata"
            current = _current_bytes(dest / meta_rel)
            if current is None or hashlib.sha256(current).hexdigest() != (
                wheel.facts.metadata_sha256
            ):
                changes[meta_rel] = _metadata_of(scan, wheel)
            owned[meta_rel] = {}
            if in_place:
                continue
            copy, source = dest / wheel.path, scan.sources[wheel.path]
            owned[wheel.path] = {"sha256": wheel.facts.sha256}
            if _is_current_copy(copy, source, wheel.facts, cache.owned.get(wheel.path)):
                owned[wheel.path]["stat"] = _stat_key(copy.stat())
            else:
                changes[wheel.path] = source
        for rel, text in pages.items():
            data = text.encode("utf-8")
            if _current_bytes(dest / rel) != data:
                changes[rel] = data
            owned[rel] = {}
        removed = sorted(
            rel
            for rel in cache.owned
            if rel not in owned and rel != STATE_NAME and (dest / rel).exists()
        )
        # only the wheels folder's own files are never ours to remove
        if in_place:
            removed = [r for r in removed if not r.endswith(".whl")]
        state = _Cache(wheels=scan.records, owned=owned)
        if changes or removed or _current_bytes(dest / STATE_NAME) != state.dumps().encode():
            _commit(dest, changes, removed, state)
    changed_projects = sorted(
        {
            rel.split("/")[1]
            for rel in [*changes, *removed]
            if rel.startswith(f"{SIMPLE}/") and rel.count("/") == 2
        }
    )
    return IndexReport(
        dest=dest,
        wheels=tuple(scan.wheels),
        projects=tuple(sorted({w.project for w in scan.wheels})),
        changed_projects=tuple(changed_projects),
        written=tuple(sorted(changes)),
        removed=tuple(removed),
        problems=tuple(scan.problems),
        recovered=recovered,
    )


def _commit(
    dest: Path,
    changes: Mapping[str, bytes | Path],
    removed: Sequence[str],
    state: _Cache,
) -> None:
    """Stage ``changes``, journal them, rename them into place, remove ``removed``, save state."""
    staging = dest / STAGING_NAME
    staging.mkdir()
    moves: list[_Move] = []
    try:
        for number, (rel, content) in enumerate(sorted(changes.items())):
            staged = staging / str(number)
            if isinstance(content, Path):
                stage_wheel(staged, content)
                state.owned[rel]["stat"] = _stat_key(staged.stat())  # a rename keeps it
            else:
                stage_bytes(staged, content)
            moves.append(_Move(str(number), rel))
        stage_bytes(staging / "state", state.dumps().encode("utf-8"))
        moves.append(_Move("state", STATE_NAME))
        moves.sort(key=lambda m: (_order(m.final), m.final))
        journal = {"moves": [[m.staged, m.final] for m in moves], "remove": list(removed)}
        stage_bytes(staging / f"{JOURNAL_NAME}.part", json.dumps(journal).encode("utf-8"))
        fsync_dir(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    with _signals_held():
        (staging / f"{JOURNAL_NAME}.part").replace(staging / JOURNAL_NAME)
        fsync_dir(staging)
        apply_journal(dest, staging)
