"""Answers from the package index and the image registry, remembered for a run and on disk.

Layout (one small JSON file per question)::

    <cache dir>/<namespace>/<slug>-<hash>.json
        {"format": 2, "key": "<the full question>", "fetched_at": <unix time>, "value": <answer>}

``format`` changes whenever the shape of an answer does (2: index answers carry each version's
Requires-Python), so files written by another version of this tool count as missing.

``namespace`` is ``index`` or ``registry``; ``slug`` is a readable, file-name-safe form of the key
and ``hash`` the first 16 hex digits of its SHA-256, so different questions never share a file.
Files are written to a temporary name in the same directory and moved into place with
``os.replace``: a reader sees the old answer or the new one, never half of one.

Within one process every question is asked at most once (in-memory memo), whatever the options.
``refresh`` ignores what is on disk (but still writes the new answer); ``offline`` never asks the
outside world and accepts a cached answer of any age; otherwise an answer older than ``max_age``
seconds is asked again. Answers from local sources (loopback servers, directories) are not put
on disk at all: they are cheap to ask and change under the user's own hands.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Generic, TypeVar, Union

from ..errors import ResolutionError
from .jsonfile import write_json_atomic
from .net import Deadlines

FORMAT = 2
DEFAULT_MAX_AGE = 3600.0

Json = Union[None, bool, int, float, str, list["Json"], dict[str, "Json"]]
T = TypeVar("T")

_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Fact(Generic[T]):
    """An answer and when it was fetched from its source (unix time); ``cached``: read from disk."""

    value: T
    fetched_at: float
    cached: bool = False

    def age(self, now: float) -> float:
        return max(0.0, now - self.fetched_at)


def describe_age(seconds: float) -> str:
    """``just now``, ``12 min ago``, ``3 h ago``, ``2 days ago``: for "versions from the index, cached ..."."""
    if seconds < 60:
        return "just now"
    minutes = int(seconds // 60)
    if minutes < 120:
        return f"{minutes} min ago"
    hours = int(seconds // 3600)
    if hours < 48:
        return f"{hours} h ago"
    return f"{int(seconds // 86400)} days ago"


def cache_dir_from(env: Mapping[str, str], home: Path) -> Path:
    """The cache directory for an environment: ``$XDG_CACHE_HOME/muslwheels`` or ``~/.cache/muslwheels``.

    A relative ``XDG_CACHE_HOME`` is ignored, as the XDG base directory specification requires.
    """
    xdg = env.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".cache"
    return base / "muslwheels"


def _is_time(value: object) -> bool:
    """A unix time as the cache writes it: a finite number (not NaN, not infinite, not a bool)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an int too large for a float
        return False


def _file_name(key: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    slug = _SLUG.sub("_", key).strip("._-")[:80] or "key"
    return f"{slug}-{digest}.json"


class JsonCache:
    """The memo + disk cache shared by :class:`~muslwheels.sources.packageindex.PackageIndex` and
    :class:`~muslwheels.registry.RegistryClient`.

    ``root`` None keeps answers in memory only (and ``offline`` then always fails).
    ``clock`` gives the current unix time (injectable so expiry can be tested without waiting).
    """

    def __init__(
        self,
        root: Path | None,
        *,
        max_age: float = DEFAULT_MAX_AGE,
        refresh: bool = False,
        offline: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if refresh and offline:
            raise ValueError("refresh and offline exclude each other")
        self.root = root
        self.max_age = max_age
        self.refresh = refresh
        self.offline = offline
        self.clock = clock
        self._memo: dict[tuple[str, str], Fact[Json]] = {}
        self._lock = threading.Lock()
        self._key_locks: dict[tuple[str, str], threading.Lock] = {}

    def path_for(self, namespace: str, key: str) -> Path | None:
        """Where the answer to ``key`` lives on disk (None without a cache directory)."""
        if self.root is None:
            return None
        return self.root / namespace / _file_name(key)

    def read(self, namespace: str, key: str) -> Fact[Json] | None:
        """The stored answer of any age, or None (missing, unreadable or from another format)."""
        path = self.path_for(namespace, key)
        if path is None:
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if (
            not isinstance(data, dict)
            or data.get("format") != FORMAT
            or data.get("key") != key
            or not _is_time(data.get("fetched_at"))
            or "value" not in data
        ):
            return None
        return Fact(data["value"], float(data["fetched_at"]), cached=True)

    def write(self, namespace: str, key: str, fact: Fact[Json]) -> None:
        """Store an answer atomically; a cache that cannot be written is silently not used."""
        path = self.path_for(namespace, key)
        if path is None:
            return
        record = {"format": FORMAT, "key": key, "fetched_at": fact.fetched_at, "value": fact.value}
        try:
            write_json_atomic(path, record, sort_keys=True)
        except OSError:
            return

    def _fresh(self, fact: Fact[Json]) -> bool:
        """Fetched at most ``max_age`` seconds ago; an answer dated in the future (a clock that
        was wrong, a file from elsewhere) is not fresh either."""
        return 0.0 <= self.clock() - fact.fetched_at <= self.max_age

    def fetch(
        self,
        namespace: str,
        key: str,
        ask: Callable[[], Json],
        *,
        what: str,
        valid: Callable[[Json], bool] | None = None,
        persist: bool = True,
    ) -> Fact[Json]:
        """The answer to ``key``: from memory, else from disk when fresh enough, else ``ask()``.

        ``what`` names the question for the offline error, e.g. ``versions of "cffi"``; a stored
        answer that ``valid`` rejects (written by another version of this tool) counts as missing.
        ``persist=False`` is for local sources (a loopback registry, a directory): their answers
        are remembered for the run only, and they are asked even offline.
        """
        memo_key = (namespace, key)
        with self._lock:
            if memo_key in self._memo:
                return self._memo[memo_key]
            key_lock = self._key_locks.setdefault(memo_key, threading.Lock())
        with key_lock:
            with self._lock:
                if memo_key in self._memo:
                    return self._memo[memo_key]
            if persist:
                fact = self._fetch_uncached(namespace, key, ask, what=what, valid=valid)
            else:
                fact = Fact(ask(), self.clock())
            with self._lock:
                self._memo[memo_key] = fact
            return fact

    def _fetch_uncached(
        self,
        namespace: str,
        key: str,
        ask: Callable[[], Json],
        *,
        what: str,
        valid: Callable[[Json], bool] | None,
    ) -> Fact[Json]:
        if not self.refresh:
            stored = self.read(namespace, key)
            if stored is not None and valid is not None and not valid(stored.value):
                stored = None
            if stored is not None and (self.offline or self._fresh(stored)):
                return stored
        if self.offline:
            where = f" ({self.root})" if self.root is not None else ""
            raise ResolutionError(
                f"{what} is not in the cache{where}",
                hint="run once without --offline so the answer can be fetched and cached",
            )
        fact: Fact[Json] = Fact(ask(), self.clock())
        self.write(namespace, key, fact)
        return fact


class CachedClient(Generic[T]):
    """What the package index and the registry clients share: the answer cache (memory for the
    run, disk for remote servers; a loopback server's answers only with ``cache_loopback``), the
    run's network deadlines, the answers this run used (``facts``) and the notes of what was
    skipped and why."""

    def __init__(
        self, *, cache: JsonCache | None, deadlines: Deadlines | None, cache_loopback: bool
    ) -> None:
        self.cache_loopback = cache_loopback
        self.cache = cache if cache is not None else JsonCache(None)
        self.deadlines = deadlines if deadlines is not None else Deadlines()
        self.facts: dict[str, Fact[T]] = {}
        self.notes: list[str] = []

    @property
    def oldest_fetched_at(self) -> float | None:
        """When the oldest answer used in this run was fetched (None: no lookup yet)."""
        return min((f.fetched_at for f in self.facts.values()), default=None)
