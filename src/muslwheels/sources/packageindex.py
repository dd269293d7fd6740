"""The package index over the simple repository API, as pip sees it.

PEP 691 JSON is asked for first, PEP 503 HTML is the fallback (one request; the server picks).
The primary index, the extra indexes and the find-links locations are merged as pip merges them.
``file://`` index URLs and find-links directories are read from disk. Versions come from the
distribution file names (sdists and wheels; unparsable names are skipped, as pip skips them);
a version is yanked (PEP 592) when every one of its files is. Each version's Requires-Python
(PEP 503 ``data-requires-python``, PEP 691 ``requires-python``) is kept by the rule documented on
:attr:`~muslwheels.config.model.Project.requires_python`: its sdist's value, else the loosest of its files.

The pure rules (:func:`project_from_files`, :func:`merge_pages`, the page parsers; the version
rules live in :mod:`muslwheels.versions`) take their facts as arguments; :class:`PackageIndex` is
the thin part that asks the outside world, through :class:`~muslwheels.cache.JsonCache`.
"""

from __future__ import annotations

import base64
import concurrent.futures
import functools
import posixpath
import re
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Optional

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from ..config.model import Project, ProjectLookup, normalize_name
from ..errors import BuildError, ResolutionError
from ..names import redact
from ..plan.versions import loosest, newest_sdist
from .cache import CachedClient, Fact, Json, JsonCache
from .jsonfile import loads_untrusted
from .net import (
    Deadlines,
    NetError,
    Openers,
    fetch,
    is_loopback,
    reason,
)
from .pipconfig import IndexSettings

ACCEPT = (
    "application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.01"
)
JSON_TYPES = ("application/vnd.pypi.simple.v1+json", "application/json")
HTML_TYPES = ("application/vnd.pypi.simple.v1+html", "text/html")

# Archive extensions pip accepts for source distributions.
SDIST_EXTENSIONS = (
    ".tar.gz",
    ".tgz",
    ".tar.bz2",
    ".tbz",
    ".tar.xz",
    ".txz",
    ".tlz",
    ".tar.lz",
    ".tar.lzma",
    ".tar",
    ".zip",
)

_HINT_UNREACHABLE = (
    "check PIP_INDEX_URL / PIP_EXTRA_INDEX_URL and `pip config list`, and the network; "
    "--offline answers from the cache"
)
_HINT_TIMEOUT = (
    "check the index and the network; a slow one needs more time: --timeout SECONDS[,BUDGET] "
    "or MUSLWHEELS_TIMEOUT; --offline answers from the cache"
)


# --- pure rules ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DistFile:
    """One file an index lists for a project."""

    filename: str
    yanked: bool = False
    requires_python: str | None = None  # as the index gave it (HTML entities resolved)


def name_and_version(filename: str, project: str) -> tuple[str, str] | None:
    """The name as spelled in a distribution file name and its normalised version, or None.

    None for files of another project, unknown file types and versions that are not PEP 440.
    Names are split off the way pip splits them: a wheel name has no dash; an sdist name is
    the prefix that normalises to the project's name.
    """
    key = canonicalize_name(project)
    raw: str | None = None
    version: str | None = None
    if filename.endswith(".whl"):
        parts = filename[: -len(".whl")].split("-")
        if len(parts) in (5, 6):
            raw, version = parts[0], parts[1]
    else:
        lower = filename.lower()
        ext = next((e for e in SDIST_EXTENSIONS if lower.endswith(e)), None)
        if ext is not None:
            stem = filename[: -len(ext)]
            for i, char in enumerate(stem):
                if char == "-" and canonicalize_name(stem[:i]) == key:
                    raw, version = stem[:i], stem[i + 1 :]
                    break
    if raw is None or version is None or canonicalize_name(raw) != key:
        return None
    try:
        return raw, str(Version(version))
    except ValueError:  # InvalidVersion, or a number past the digit limit of int
        return None


def _spelling_score(raw: str) -> tuple[bool, bool]:
    # Lower case and underscores are what normalising tools produce; mixed case and the
    # dashes or dots of old sdist names are what the author wrote.
    return (raw != raw.lower(), "-" in raw or "." in raw)


@dataclass(frozen=True)
class PageSummary:
    """What one source lists for a project, condensed to what merging sources needs."""

    index_name: str | None = None  # the name the source gave (PEP 691 ``name``), if any
    versions: tuple[tuple[str, bool], ...] = ()  # (version, every file yanked), first-file order
    spellings: tuple[tuple[str, int], ...] = ()  # name as spelled in file names, number of files
    # (version, it has an sdist here, Requires-Python of its sdists if any else of all its files
    # here, by :func:`loosest`), for every version in ``versions``
    requires_python: tuple[tuple[str, bool, str | None], ...] = ()


def summarize(
    project: str, files: Iterable[DistFile], *, index_name: str | None = None
) -> PageSummary:
    """Condense the files one source lists for ``project`` (other projects' files are ignored)."""
    versions: dict[str, bool] = {}
    spellings: dict[str, int] = {}
    sdist_values: dict[str, list[str | None]] = {}
    wheel_values: dict[str, list[str | None]] = {}
    for dist in files:
        parsed = name_and_version(dist.filename, project)
        if parsed is None:
            continue
        raw, version = parsed
        versions[version] = versions.get(version, True) and dist.yanked
        spellings[raw] = spellings.get(raw, 0) + 1
        kind = wheel_values if dist.filename.endswith(".whl") else sdist_values
        kind.setdefault(version, []).append(dist.requires_python)
    requires_python = tuple(
        (v, v in sdist_values, loosest(sdist_values.get(v) or wheel_values.get(v, [])))
        for v in versions
    )
    return PageSummary(
        index_name, tuple(versions.items()), tuple(spellings.items()), requires_python
    )


def merge_pages(project: str, pages: Iterable[PageSummary]) -> Project:
    """One :class:`Project` from what several sources list, as pip merges them.

    Versions keep the order of their first file; a version is yanked only when every file of it
    on every source is. Its Requires-Python is the loosest of what the sources that have an
    sdist of it say, else of what every source says. The spelling: a source's own name when it is more than the normalised
    form, else the most informative spelling in the file names (mixed case, then dashes/dots,
    then the most files), else ``project``.
    """
    versions: dict[str, bool] = {}
    spellings: dict[str, int] = {}
    sdist_values: dict[str, list[str | None]] = {}
    wheel_values: dict[str, list[str | None]] = {}
    index_name: str | None = None
    for page in pages:
        if index_name is None and page.index_name:
            index_name = page.index_name
        for version, all_yanked in page.versions:
            versions[version] = versions.get(version, True) and all_yanked
        for raw, count in page.spellings:
            spellings[raw] = spellings.get(raw, 0) + count
        for version, has_sdist, value in page.requires_python:
            kind = sdist_values if has_sdist else wheel_values
            kind.setdefault(version, []).append(value)
    if index_name and index_name != normalize_name(index_name):
        spelling = index_name
    elif spellings:
        spelling = max(spellings, key=lambda raw: (_spelling_score(raw), spellings[raw]))
    else:
        spelling = index_name or project
    requires_python: list[tuple[str, str]] = []
    for version in versions:
        values = sdist_values.get(version) or wheel_values.get(version)
        value = loosest(values) if values else None
        if value is not None:
            requires_python.append((version, value))
    return Project(
        name=spelling,
        versions=tuple(versions),
        yanked=frozenset(v for v, all_yanked in versions.items() if all_yanked),
        requires_python=tuple(requires_python),
        sdists=frozenset(sdist_values),
    )


def project_from_files(
    name: str, files: Iterable[DistFile], *, index_name: str | None = None
) -> Project:
    """A :class:`Project` from the files one index lists for ``name``."""
    return merge_pages(name, [summarize(name, files, index_name=index_name)])


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, bool, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            return
        attributes = dict(attrs)
        href = attributes.get("href")
        if href:
            # attribute values arrive with their character references resolved (&gt;= -> >=)
            requires = attributes.get("data-requires-python")
            self.links.append((href, "data-yanked" in attributes, requires))


def parse_html_page(body: bytes | str) -> list[DistFile]:
    """The files a PEP 503 page links to (file name = last path segment of each link), with their
    ``data-yanked`` and ``data-requires-python`` (HTML-unescaped)."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    parser = _LinkParser()
    try:
        parser.feed(text)
        parser.close()
    except AssertionError as err:
        # html.parser's markup-declaration scanner asserts on some broken declarations (`<![A`):
        # found by the fuzz target (tests/fuzz, corpus simple_html)
        raise ValueError(f"broken markup: {err}") from None
    files = []
    for href, yanked, requires in parser.links:
        path = urllib.parse.urlsplit(href).path
        filename = urllib.parse.unquote(posixpath.basename(path))
        if filename:
            files.append(DistFile(filename, yanked, requires))
    return files


_PROJECT_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")
_MARKUP = re.compile(rb"<\s*(!doctype|html|head|body|a)[\s>]", re.IGNORECASE)


def _check_html(body: bytes) -> None:
    """ValueError unless ``body`` looks like an HTML page (a PEP 503 page with no files still
    does): an empty answer or one without any markup is a broken server, not an empty project."""
    if not body.strip():
        raise ValueError("an empty page")
    if b"\x00" in body:
        raise ValueError("binary data, not an HTML page")
    if _MARKUP.search(body[:65536]) is None:
        raise ValueError("not an HTML page")


def is_distribution_file(filename: str) -> bool:
    """Whether ``filename`` has the extension of a wheel or of an sdist pip accepts."""
    lower = filename.lower()
    return lower.endswith(".whl") or any(lower.endswith(e) for e in SDIST_EXTENSIONS)


def _distribution_links(files: list[DistFile]) -> list[DistFile]:
    """``files`` of a project page; ValueError when it links somewhere yet to no distribution
    file at all (a web site, a login or error page answered with 200): not an index page."""
    if files and not any(is_distribution_file(f.filename) for f in files):
        raise ValueError(f"it links to {len(files)} file(s), none of them a distribution")
    return files


def parse_json_page(body: bytes | str) -> tuple[str | None, list[DistFile]]:
    """The project name and files of a PEP 691 project page; ValueError when it is not one."""
    data = loads_untrusted(body)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    meta = data.get("meta")
    api_version = meta.get("api-version") if isinstance(meta, dict) else None
    if not isinstance(api_version, str) or api_version.split(".")[0] != "1":
        raise ValueError(f"unsupported simple API version {api_version!r}")
    raw_files = data.get("files")
    if not isinstance(raw_files, list):
        raise ValueError('no "files" list')
    files = []
    for entry in raw_files:
        if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
            raise ValueError('a "files" entry has no "filename"')
        yanked = entry.get("yanked", False)
        requires = entry.get("requires-python")
        files.append(
            DistFile(
                entry["filename"],
                yanked is True or isinstance(yanked, str),
                requires if isinstance(requires, str) else None,
            )
        )
    name = data.get("name")
    # the project's own spelling, used only when it is a project name (it names files and tags)
    usable = isinstance(name, str) and _PROJECT_NAME.fullmatch(name) is not None
    return (name if usable and isinstance(name, str) else None), files


def summary_to_json(summary: PageSummary | None) -> Json:
    """The cache record of one source's answer (None: the source has no such project)."""
    if summary is None:
        return None
    versions: list[Json] = [[v, y] for v, y in summary.versions]
    spellings: list[Json] = [[raw, n] for raw, n in summary.spellings]
    requires_python: list[Json] = [[v, s, r] for v, s, r in summary.requires_python]
    return {
        "name": summary.index_name,
        "versions": versions,
        "spellings": spellings,
        "requires_python": requires_python,
    }


def _pairs(value: Json, second: type) -> bool:
    return isinstance(value, list) and all(
        isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and type(p[1]) is second
        for p in value
    )


def _requires_python_triples(value: Json) -> bool:
    return isinstance(value, list) and all(
        isinstance(t, list)
        and len(t) == 3
        and isinstance(t[0], str)
        and isinstance(t[1], bool)
        and (t[2] is None or isinstance(t[2], str))
        for t in value
    )


def valid_summary_record(value: Json) -> bool:
    """Whether ``value`` is a record :func:`summary_to_json` wrote."""
    if value is None:
        return True
    return (
        isinstance(value, dict)
        and (value.get("name") is None or isinstance(value.get("name"), str))
        and _pairs(value.get("versions"), bool)
        and _pairs(value.get("spellings"), int)
        and _requires_python_triples(value.get("requires_python"))
    )


def summary_from_json(value: Json) -> PageSummary | None:
    """The inverse of :func:`summary_to_json`; ValueError for anything it did not write."""
    if not valid_summary_record(value):
        raise ValueError("not a page summary record")
    if not isinstance(value, dict):
        return None
    name, versions, spellings = value.get("name"), value["versions"], value["spellings"]
    requires = value["requires_python"]
    assert isinstance(versions, list) and isinstance(spellings, list)
    assert isinstance(requires, list)
    version_pairs: list[tuple[str, bool]] = []
    for pair in versions:
        assert isinstance(pair, list)
        version_pairs.append((str(pair[0]), pair[1] is True))
    spelling_pairs: list[tuple[str, int]] = []
    for pair in spellings:
        assert isinstance(pair, list) and isinstance(pair[1], int)
        spelling_pairs.append((str(pair[0]), pair[1]))
    requires_triples: list[tuple[str, bool, str | None]] = []
    for triple in requires:
        assert isinstance(triple, list)
        spec = triple[2]
        requires_triples.append(
            (str(triple[0]), triple[1] is True, spec if isinstance(spec, str) else None)
        )
    return PageSummary(
        name if isinstance(name, str) else None,
        tuple(version_pairs),
        tuple(spelling_pairs),
        tuple(requires_triples),
    )


# --- talking to the index -----------------------------------------------------------------------


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be an index URL (not parsable, no scheme, an unsupported scheme, a
    ``file://`` path that does not exist), or None."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (raises for a port that is not a number)
    except ValueError as exc:
        return f"not a URL ({exc})"
    scheme = parts.scheme.lower()
    if not scheme:
        return "not a URL (no scheme://)"
    if scheme not in ("http", "https", "file"):
        return f"unsupported URL scheme {scheme!r} (http, https or file)"
    if scheme == "file" and not _file_path(url).exists():
        return "it does not exist"
    if scheme != "file" and not parts.hostname:
        return "not a URL (no host)"
    return None


def _file_path(url: str) -> Path:
    return Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))


class PackageIndex(CachedClient[Optional[Project]]):
    """:class:`~muslwheels.config.model.ProjectLookup` over the indexes pip is configured with.

    Every source's answer is memoised for the run by ``cache`` (callers that ask about a name
    often wrap this in a :class:`~muslwheels.config.model.RememberedProjects`); answers of remote
    indexes are also cached on disk (per index and project). Local sources (``file://``, directories, and loopback
    servers unless ``cache_loopback``) are read afresh each run, even ``--offline``: they change
    under the user's hands and cost nothing to ask. ``facts`` holds what each lookup used and
    when it was fetched, ``notes`` the sources that were skipped and why.
    """

    def __init__(
        self,
        settings: IndexSettings,
        *,
        cache: JsonCache | None = None,
        deadlines: Deadlines | None = None,
        use_find_links: bool = True,
        cache_loopback: bool = False,
    ) -> None:
        super().__init__(cache=cache, deadlines=deadlines, cache_loopback=cache_loopback)
        self.settings = settings
        self.use_find_links = use_find_links
        # one opener per TLS setting for the run: the TLS context (loading the CA bundle costs
        # more than asking a loopback index for every project) only at the first https request
        self._openers: Openers[bool] = Openers(self._context)
        self._failures: dict[str, ResolutionError] = {}  # from prefetch, raised by lookup
        self._lock = threading.Lock()
        self._sources: tuple[str, ...] | None = None
        self._find_link_files: dict[str, list[DistFile]] = {}

    # -- public -------------------------------------------------------------------------------

    def project(self, name: str) -> Project | None:
        return self.lookup(name).value

    def lookup(self, name: str) -> Fact[Project | None]:
        """The project and when its data was fetched (for "versions from the index, cached ...").

        ``fetched_at`` is that of the oldest remote answer used (local sources are read now).
        """
        key = normalize_name(name)
        if key in self._failures:
            raise self._failures[key]
        if not key or not all(c.isalnum() or c == "-" for c in key):
            return Fact(None, self.cache.clock())
        sources = self._usable_sources()
        if not sources:
            raise ResolutionError(
                "no package index to ask: " + "; ".join(self.notes),
                hint="check PIP_INDEX_URL / PIP_EXTRA_INDEX_URL and `pip config list`",
            )
        pages: list[PageSummary] = []
        fetched: list[float] = []
        cached = False
        for source in sources:
            local = self._is_local(source)
            raw = self.cache.fetch(
                "index",
                f"{key} on {redact(source)}",
                functools.partial(self._ask_page, source, key),
                what=f'the versions of "{name}" on {redact(source.removeprefix("links:"))}',
                valid=valid_summary_record,
                persist=not local,
            )
            if not local:
                fetched.append(raw.fetched_at)
                cached = cached or raw.cached
            summary = summary_from_json(raw.value)
            if summary is not None:
                pages.append(summary)
        project = merge_pages(key, pages) if pages else None
        if project is not None and not project.versions:
            project = None  # a page that lists no file of it: nothing pip could install
        fact: Fact[Project | None] = Fact(project, min(fetched, default=self.cache.clock()), cached)
        self.facts[key] = fact
        return fact

    def prefetch(self, names: Iterable[str], *, workers: int = 4) -> None:
        """Look several projects up at once, in threads: a run's questions to a remote index then
        cost about one round trip instead of one per project. ``workers`` stays below the listen
        backlog of small index servers (Python's own is 5: a connection past it waits a second for
        TCP to retry). A lookup that fails is not asked again: its error is raised by the
        :meth:`lookup` that needs the answer."""
        wanted: dict[str, str] = {}
        for name in names:
            key = normalize_name(name)
            if key and key not in self.facts and key not in self._failures:
                wanted.setdefault(key, name)
        if len(wanted) < 2:
            return
        self._usable_sources()  # once, before the threads (it may add notes)

        def ask(key: str) -> None:
            try:
                self.lookup(wanted[key])
            except ResolutionError as err:
                self._failures[key] = err

        with concurrent.futures.ThreadPoolExecutor(max_workers=min(workers, len(wanted))) as pool:
            list(pool.map(ask, wanted))

    @property
    def any_cached(self) -> bool:
        return any(f.cached for f in self.facts.values())

    # -- sources ------------------------------------------------------------------------------

    def _usable_sources(self) -> tuple[str, ...]:
        """Index URLs then find-links entries (prefixed ``links:``) that may be asked.

        A primary index that cannot be an index (see :func:`url_problem`) is an error, as it is
        for pip; such an extra index is left out with a note."""
        if self._sources is not None:
            return self._sources
        usable: list[str] = []
        problem = url_problem(self.settings.index_url)
        if problem is not None:
            raise ResolutionError(
                f"package index {redact(self.settings.index_url)!r}: {problem}",
                hint="fix PIP_INDEX_URL or index-url in pip's configuration (`pip config list`)",
            )
        for url in self.settings.index_urls:
            if self._allowed(url, "index"):
                usable.append(url)
        if self.use_find_links:
            for link in self.settings.find_links:
                if "://" not in link or self._allowed(link, "find-links location"):
                    usable.append("links:" + link)
        self._sources = tuple(usable)
        return self._sources

    def _allowed(self, url: str, what: str) -> bool:
        problem = url_problem(url)
        if problem is not None and not (what != "index" and problem == "it does not exist"):
            self.notes.append(f"ignored {what} {redact(url)!r}: {problem}")
            return False
        parts = urllib.parse.urlsplit(url)
        if parts.scheme.lower() != "http":
            return True
        if is_loopback(parts.hostname or "") or self._trusted(parts):
            return True
        self.notes.append(
            f"ignored {what} {redact(url)}: plain HTTP to a host that is not trusted "
            "(pip ignores it too; add it to trusted-host or use https)"
        )
        return False

    def _trusted(self, parts: urllib.parse.SplitResult) -> bool:
        host = parts.hostname or ""
        with_port = f"{host}:{parts.port}" if parts.port is not None else host
        return host in self.settings.trusted_hosts or with_port in self.settings.trusted_hosts

    # -- asking -------------------------------------------------------------------------------

    def _is_local(self, source: str) -> bool:
        """Sources read from disk or a loopback server are not cached on disk."""
        location = source.removeprefix("links:")
        if "://" not in location:
            return True
        parts = urllib.parse.urlsplit(location)
        if parts.scheme.lower() == "file":
            return True
        return not self.cache_loopback and is_loopback(parts.hostname or "")

    def _ask_page(self, source: str, key: str) -> Json:
        if source.startswith("links:"):
            files = [
                f
                for f in self._find_links(source.removeprefix("links:"))
                if name_and_version(f.filename, key) is not None
            ]
            return summary_to_json(summarize(key, files)) if files else None
        answer = self._project_page(source, key)
        if answer is None:
            return None
        index_name, files = answer
        return summary_to_json(summarize(key, files, index_name=index_name))

    def _project_page(self, base: str, key: str) -> tuple[str | None, list[DistFile]] | None:
        url = base.rstrip("/") + "/" + key + "/"
        if urllib.parse.urlsplit(url).scheme.lower() == "file":
            return self._local_project_page(url)
        status, content_type, body, final_url = self._get(url)
        if status in (404, 410):
            return None
        mime = content_type.split(";")[0].strip().lower()
        try:
            if mime in JSON_TYPES:
                return parse_json_page(body)
            if mime in HTML_TYPES:
                _check_html(body)
                return None, _distribution_links(parse_html_page(body))
        except ValueError as exc:
            raise ResolutionError(
                f"package index {redact(final_url)} gave a malformed answer: {exc}",
                hint="check that this URL is a PEP 503/691 simple index (PIP_INDEX_URL, "
                "`pip config list`)",
            ) from exc
        raise ResolutionError(
            f"package index {redact(final_url)} answered with {mime or 'no content type'}, "
            "not a simple-API page",
            hint="check that this URL is a PEP 503/691 simple index (PIP_INDEX_URL, "
            "`pip config list`)",
        )

    def _local_project_page(self, url: str) -> tuple[str | None, list[DistFile]] | None:
        path = _file_path(url)
        if path.is_dir() and (path / "index.html").is_file():
            path = path / "index.html"
        elif path.is_dir():
            return None, [DistFile(p.name) for p in sorted(path.iterdir()) if p.is_file()]
        if not path.is_file():
            return None
        try:
            return None, parse_html_page(path.read_bytes())
        except OSError as exc:
            raise ResolutionError(
                f"cannot read local index page {path}: {exc.strerror or exc}",
                hint="check the file:// index URL in PIP_EXTRA_INDEX_URL / `pip config list`",
            ) from exc
        except ValueError as exc:
            raise ResolutionError(
                f"local index page {path} is malformed: {exc}",
                hint="check the file:// index URL in PIP_EXTRA_INDEX_URL / `pip config list`",
            ) from exc

    def _find_links(self, location: str) -> list[DistFile]:
        with self._lock:  # read once per run, even by prefetch's threads
            return self._read_find_links(location)

    def _read_find_links(self, location: str) -> list[DistFile]:
        if location in self._find_link_files:
            return self._find_link_files[location]
        files: list[DistFile]
        scheme = urllib.parse.urlsplit(location).scheme.lower() if "://" in location else ""
        if scheme in ("", "file"):
            path = _file_path(location) if scheme == "file" else Path(location)
            if path.is_dir():
                files = [DistFile(p.name) for p in sorted(path.iterdir()) if p.is_file()]
            elif path.is_file() and path.suffix.lower() in (".html", ".htm"):
                files = self._find_links_page(location, path.read_bytes())
            elif path.is_file():
                files = [DistFile(path.name)]
            else:
                self.notes.append(f"ignored find-links location {location}: it does not exist")
                files = []
        else:
            status, _type, body, _url = self._get(location)
            if status in (404, 410):
                self.notes.append(f"ignored find-links location {redact(location)}: not found")
                files = []
            else:
                files = self._find_links_page(location, body)
        self._find_link_files[location] = files
        return files

    def _find_links_page(self, location: str, body: bytes) -> list[DistFile]:
        """The files a find-links HTML page links to; a malformed page is left out with a note."""
        try:
            return parse_html_page(body)
        except ValueError as exc:
            self.notes.append(
                f"ignored find-links location {redact(location)}: malformed page: {exc}"
            )
            return []

    def _context(self, verify: bool) -> ssl.SSLContext:
        """The TLS context of pip's cert settings (made once per setting by its opener)."""
        cert = self.settings.cert
        try:
            if cert and Path(cert).is_dir():
                context = ssl.create_default_context(capath=cert)
            else:
                context = ssl.create_default_context(cafile=cert)
            if self.settings.client_cert:
                context.load_cert_chain(self.settings.client_cert)
        except (OSError, ssl.SSLError) as exc:
            raise ResolutionError(
                f"cannot load the TLS certificates from pip's configuration "
                f"(cert={cert}, client-cert={self.settings.client_cert}): {reason(exc)}",
                hint="fix PIP_CERT / PIP_CLIENT_CERT or the cert settings in `pip config list`",
            ) from exc
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _get(self, url: str) -> tuple[int, str, bytes, str]:
        """GET ``url``: (status, content type, body, final URL); raises for anything but 2xx/404/410."""
        shown = redact(url)
        parts = urllib.parse.urlsplit(url)
        headers = {"Accept": ACCEPT, "User-Agent": "muslwheels"}
        if parts.username is not None:
            credentials = f"{urllib.parse.unquote(parts.username)}:" + urllib.parse.unquote(
                parts.password or ""
            )
            headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
            host = parts.hostname or ""
            netloc = f"{host}:{parts.port}" if parts.port is not None else host
            url = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
        opener = self._openers[not self._trusted(parts)]
        request = urllib.request.Request(url, headers=headers)
        try:
            answer = fetch(opener, request, self.deadlines)
        except NetError as exc:
            if exc.certificate is not None:
                hint = "point PIP_CERT (or cert in pip's config) at the CA bundle that signs this index"
            elif "timed out" in exc.reason or "budget" in exc.reason:
                hint = _HINT_TIMEOUT
            else:
                hint = _HINT_UNREACHABLE
            raise ResolutionError(exc.about(f"package index {shown}"), hint=hint) from None
        if answer.status in (404, 410):
            return answer.status, "", b"", url
        if answer.status in (401, 403):
            raise ResolutionError(
                f"package index {shown} refused access (HTTP {answer.status})",
                hint="put credentials into the index URL (scheme://user:password@<host>/...) "
                "or check PIP_INDEX_URL / `pip config list`",
            )
        if not 200 <= answer.status < 300:
            raise ResolutionError(
                f"package index {shown} answered HTTP {answer.status} {answer.reason}".rstrip(),
                hint=_HINT_UNREACHABLE,
            )
        return answer.status, answer.header("Content-Type"), answer.body, answer.url


class IndexSdists:
    """The sdists of the index (build_inputs.SdistSource): which version of a runtime requirement
    that has no fitting wheel can be built as an extra dependency target. Asks ``projects`` (the
    run's memo of the index's answers, within the run's deadlines)."""

    def __init__(self, projects: ProjectLookup) -> None:
        self.projects = projects

    def newest(self, requirement: Requirement, python: str) -> tuple[str, str] | None:
        try:
            project = self.projects.project(requirement.name)
        except ResolutionError as err:
            raise BuildError(
                f"cannot ask the index for an sdist of {requirement.name}: {err}",
                hint=err.hint,
            ) from None
        if project is None:
            return None
        version = newest_sdist(project, requirement.specifier, python=python)
        return (project.name, version) if version is not None else None
