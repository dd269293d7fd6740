"""Target tags (README "Target tags"): what a tag may look like, every way it reads, and which reading holds.

``<module>[-openssl|-libressl][<version>][-py<X.Y>|-pyall][-<arch>]``

Parsing takes two steps. :func:`candidates` is pure syntax: every reading the grammar allows (a
trailing ``-arm`` is an architecture or the end of a module name, ``psycopg22.9.9`` is ``psycopg2``
2.9.9 or ``psycopg`` 22.9.9, ``-openssl`` is an SSL suffix or part of a name...). :func:`parse_tags`
then asks the package index about each reading and keeps the ones it confirms; exactly one must be
left, otherwise the error lists what was tried or what the tag could mean.
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum

from packaging.version import Version

from ..config.arches import ARCHES, Arch, arch_names, lookup_arch
from ..config.model import (
    Config,
    Defaults,
    Project,
    ProjectLookup,
    RememberedProjects,
    normalize_name,
    remembered,
)
from ..errors import ResolutionError, TagError
from .versions import find_version

__all__ = [
    "MAX_TAG_LENGTH",
    "SSL_VARIANTS",
    "TagErrors",
    "TagRequest",
    "candidates",
    "index_names",
    "parse_tag",
    "parse_tags",
    "render_tag",
    "validate_tag_syntax",
]

MAX_TAG_LENGTH = 128  # Docker's limit for an image tag
SSL_VARIANTS: tuple[str, ...] = ("openssl", "libressl")

_TAG = re.compile(r"[A-Za-z0-9._-]+")
_NAME = re.compile(r"[A-Z0-9]([A-Z0-9._-]*[A-Z0-9])?", re.IGNORECASE)  # a PEP 508 project name
_PYTHON = re.compile(r"py(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)", re.IGNORECASE)
_ALL_PYTHONS = "pyall"
_SSL_SUFFIX = re.compile(r"-(openssl|libressl)", re.IGNORECASE)
# Only used to explain a failure: segments a user probably meant as a Python or an architecture.
_PYTHON_LIKE = re.compile(r"py[0-9][0-9.]*", re.IGNORECASE)
_ARCH_LIKE = re.compile(
    r"(arm|aarch|amd|x86|x64|i[3-6]86|ppc|powerpc|s390|riscv|rv|mips|loong)[a-z0-9_]*",
    re.IGNORECASE,
)
_EXAMPLE_TAG = "paramiko-py3.12-aarch64"


# --- the request ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TagRequest:
    """One reading of a target tag. Parts the tag leaves out are None (resolved later)."""

    raw: str = field(compare=False)  # the tag as given: two spellings of one request are equal
    module: str  # as typed; after parse_tags the index's own spelling
    ssl: str | None = None  # "openssl" / "libressl"
    version: str | None = None  # PEP 440; as typed, after parse_tags the index's spelling
    python: str | None = None  # "X.Y"
    all_pythons: bool = False  # -pyall
    arch: Arch | None = None

    def __post_init__(self) -> None:
        if self.python is not None and self.all_pythons:
            raise ValueError("a TagRequest has a python or all_pythons, not both")
        if self.ssl is not None and self.ssl not in SSL_VARIANTS:
            raise ValueError(f"ssl must be one of {SSL_VARIANTS}, not {self.ssl!r}")

    @property
    def key(self) -> str:
        """The module name, PEP 503-normalised."""
        return normalize_name(self.module)

    @property
    def tag(self) -> str:
        return render_tag(self)

    def describe(self) -> str:
        """In words, for messages: ``module foo, version 1.0, Python 3.12, arch armv7``."""
        parts = [f"module {self.module}"]
        if self.ssl is not None:
            parts.append(f"SSL {self.ssl}")
        if self.version is not None:
            parts.append(f"version {self.version}")
        if self.python is not None:
            parts.append(f"Python {self.python}")
        if self.all_pythons:
            parts.append("every default Python")
        if self.arch is not None:
            parts.append(f"arch {self.arch.key}")
        return ", ".join(parts)


def render_tag(request: TagRequest) -> str:
    """The canonical text of a request; the architecture is written as its image tag suffix."""
    ssl = f"-{request.ssl}" if request.ssl is not None else ""
    version = request.version or ""
    if request.python is not None:
        python = f"-py{request.python}"
    else:
        python = f"-{_ALL_PYTHONS}" if request.all_pythons else ""
    arch = f"-{request.arch.tag}" if request.arch is not None else ""
    return f"{request.module}{ssl}{version}{python}{arch}"


class TagErrors(TagError):
    """Several tags were bad: one error for all of them; ``errors`` holds each, in input order."""

    def __init__(self, errors: Sequence[TagError]) -> None:
        self.errors = tuple(errors)
        hints = [e.hint for e in self.errors if e.hint]
        super().__init__(
            f"{len(self.errors)} bad tags: " + " | ".join(e.message for e in self.errors),
            hint=" | ".join(hints) or None,
        )


# --- syntax -----------------------------------------------------------------------------------


def _shown(text: str) -> str:
    """A tag for a one-line message: quoted, control characters escaped, very long ones cut."""
    return repr(text) if len(text) <= 60 else repr(text[:57]) + "..."


def validate_tag_syntax(text: str) -> None:
    """Reject, with a TagError, text that cannot be a tag whatever the index says."""
    if not text:
        raise TagError("empty tag", hint=f"a tag names a module, e.g. {_EXAMPLE_TAG!r}")
    if not _TAG.fullmatch(text):
        bad = dict.fromkeys(c for c in text if not _TAG.fullmatch(c))
        first = next(i for i, c in enumerate(text) if c in bad)
        raise TagError(
            f"tag {_shown(text)} contains {', '.join(map(repr, bad))} (first at position {first + 1})",
            hint="a tag holds only letters, digits, '.', '_' and '-'",
        )
    if len(text) > MAX_TAG_LENGTH:
        raise TagError(
            f"tag {_shown(text)} is {len(text)} characters long",
            hint=f"Docker allows at most {MAX_TAG_LENGTH} characters in a tag",
        )
    if not text[0].isalnum():
        raise TagError(
            f"tag {_shown(text)} starts with {text[0]!r}",
            hint="a tag starts with the module name, i.e. with a letter or digit",
        )
    if not text[-1].isalnum():
        raise TagError(
            f"tag {_shown(text)} ends with {text[-1]!r}",
            hint="a tag ends with a letter or digit (name, version, Python or arch)",
        )


def _is_name(text: str) -> bool:
    return _NAME.fullmatch(text) is not None


def _is_version(text: str) -> bool:
    """A PEP 440 version written right after a name: it starts with a digit (no ``v``)."""
    if not text[:1].isdigit():
        return False
    try:
        Version(text)
    except ValueError:  # InvalidVersion, or a number past the digit limit of int
        return False
    return True


def _arch_readings(text: str) -> Iterator[tuple[str, Arch | None]]:
    head, _, last = text.rpartition("-")
    arch = lookup_arch(last) if head else None
    if arch is not None:
        yield head, arch
    yield text, None


def _python_readings(text: str) -> Iterator[tuple[str, str | None, bool]]:
    head, _, last = text.rpartition("-")
    if head:
        if last.lower() == _ALL_PYTHONS:
            yield head, None, True
        match = _PYTHON.fullmatch(last)
        if match:
            yield head, f"{match[1]}.{match[2]}", False
    yield text, None, False


def _stem_readings(stem: str) -> Iterator[tuple[str, str | None, str | None]]:
    """``(module, ssl, version)`` for ``<module>[-ssl][<version>]``; longest module names first."""
    for match in _SSL_SUFFIX.finditer(stem):
        name, rest = stem[: match.start()], stem[match.end() :]
        if _is_name(name) and (not rest or _is_version(rest)):
            yield name, match[1].lower(), rest or None
    for cut in range(len(stem), 0, -1):
        name, rest = stem[:cut], stem[cut:]
        if _is_name(name) and (not rest or _is_version(rest)):
            yield name, None, rest or None


def candidates(text: str) -> tuple[TagRequest, ...]:
    """Every reading of ``text`` the grammar allows, likeliest first (most parts recognised).

    Raises TagError when ``text`` cannot be a tag at all (see :func:`validate_tag_syntax`); otherwise
    the result is never empty (the whole text is always a possible module name).
    """
    validate_tag_syntax(text)
    found: dict[TagRequest, None] = {}
    for rest, arch in _arch_readings(text):
        for stem, python, all_pythons in _python_readings(rest):
            for module, ssl, version in _stem_readings(stem):
                request = TagRequest(text, module, ssl, version, python, all_pythons, arch)
                found.setdefault(request)
    return tuple(found)


def index_names(texts: Iterable[str], *, modules: Config) -> tuple[str, ...]:
    """The project names that parsing and planning ``texts`` ask the index about first, likeliest
    first: the module of each tag's readings that recognise the most parts (see
    :func:`_verdicts`; less likely ones are asked only when these fail), every reading that names a
    module of modules.toml and, for those, their dependencies, transitively (tags that are not
    tags at all are skipped). Pure: lets a caller ask about them all at once.
    """
    found: dict[str, str] = {}
    pending: list[str] = []
    for text in texts:
        try:
            readings = candidates(text)
        except TagError:
            continue
        most = _parts(readings[0])
        pending.extend(
            r.module for r in readings if _parts(r) == most or modules.module(r.module) is not None
        )
    while pending:
        name = pending.pop(0)
        key = normalize_name(name)
        if key in found:
            continue
        found[key] = name
        module = modules.module(name)
        if module is not None:
            pending.extend(module.depends)
    return tuple(found.values())


# --- settling a reading with modules.toml and the index ---------------------------------------


class _Offline:
    """What the index already told us; names never asked about count as unknown."""

    def __init__(self, known: dict[str, Project | None]) -> None:
        self._known = known

    def project(self, name: str) -> Project | None:
        return self._known.get(normalize_name(name))


class _Fault(IntEnum):
    """Why a reading failed; a higher value got further and explains a failed tag better."""

    NO_PROJECT = 1
    SSL_REFUSED = 2
    NO_VERSION = 3
    UNINDEXED_MODULE = 4  # configured in modules.toml, unknown to the index


@dataclass(frozen=True)
class _Verdict:
    reading: TagRequest
    settled: TagRequest | None = None  # the confirmed reading, in the index's spelling
    fault: _Fault | None = None
    problem: str = ""  # the fault in words
    project: Project | None = None


def _ssl_problem(reading: TagRequest, modules: Config) -> str | None:
    module = modules.module(reading.module)
    if module is None:
        return f"{reading.module!r} is not a module of {modules.path}, so it takes no SSL suffix"
    variants = tuple(v.lower() for v in module.ssl_variants)
    if not variants:
        return f"module {module.name!r} has no ssl_variants in {modules.path}"
    if reading.ssl not in variants:
        return f"module {module.name!r} has ssl_variants {', '.join(variants)}, not {reading.ssl}"
    return None


def _judge(reading: TagRequest, modules: Config, index: ProjectLookup) -> _Verdict:
    """Is ``reading`` confirmed? Local checks (modules.toml) come before asking the index."""
    if reading.ssl is not None:
        problem = _ssl_problem(reading, modules)
        if problem is not None:
            return _Verdict(reading, fault=_Fault.SSL_REFUSED, problem=problem)
    project = index.project(reading.module)
    if project is None:
        if modules.module(reading.module) is not None:
            problem = f"module {reading.module!r} of {modules.path} is not on the index"
            return _Verdict(reading, fault=_Fault.UNINDEXED_MODULE, problem=problem)
        return _Verdict(reading, fault=_Fault.NO_PROJECT, problem=repr(reading.module))
    if reading.version is None:
        return _Verdict(reading, settled=replace(reading, module=project.name))
    version = find_version(project, reading.version)
    if version is None:
        problem = f"{project.name!r} has no version {reading.version}"
        return _Verdict(reading, fault=_Fault.NO_VERSION, problem=problem, project=project)
    return _Verdict(reading, settled=replace(reading, module=project.name, version=version))


def _parts(reading: TagRequest) -> int:
    """How many trailing segments of its tag ``reading`` takes as a Python or an arch."""
    return (reading.arch is not None) + (reading.python is not None or reading.all_pythons)


def _verdicts(text: str, modules: Config, index: ProjectLookup) -> list[_Verdict]:
    """The readings of ``text`` judged, the ones that recognise the most parts first.

    The readings that take the same trailing segments as a Python or an arch are judged together
    (they may be ambiguous among themselves: ``psycopg22.9.9``). The readings that take fewer,
    reading a ``-py3.12`` or ``-arm`` as part of the module's name, are judged only while no
    reading was confirmed - except those naming a module of modules.toml or a project already
    asked about for this tag, which cost no speculative request. So ``msgpack-py3.11-amd64``
    asks about msgpack only when the index has it.
    """
    verdicts: list[_Verdict] = []
    asked: set[str] = set()
    for _, group in itertools.groupby(candidates(text), key=_parts):
        confirmed = any(v.settled is not None for v in verdicts)
        for reading in group:
            known = reading.key in asked or modules.module(reading.module) is not None
            if confirmed and not known:
                continue
            verdicts.append(_judge(reading, modules, index))
            asked.add(reading.key)
    return verdicts


def _confirmed(text: str, modules: Config, index: ProjectLookup) -> tuple[TagRequest, ...]:
    """The settled readings of ``text`` that ``index`` confirms."""
    verdicts = _verdicts(text, modules, index)
    return tuple(dict.fromkeys(v.settled for v in verdicts if v.settled is not None))


# --- error messages ---------------------------------------------------------------------------


def _example_python(defaults: Defaults) -> str:
    return defaults.pythons[-1] if defaults.pythons else "3.12"


def _example_arch(defaults: Defaults) -> Arch:
    arch = lookup_arch(defaults.arches[0]) if defaults.arches else None
    return arch if arch is not None else ARCHES[0]


def _spellings(request: TagRequest, defaults: Defaults) -> Iterator[TagRequest]:
    """``request`` as written, then with an explicit Python and/or arch where it has none."""
    yield request
    has_python = request.python is not None or request.all_pythons
    if not has_python:
        yield replace(request, python=_example_python(defaults))
    if request.arch is None:
        yield replace(request, arch=_example_arch(defaults))
        if not has_python:
            yield replace(request, python=_example_python(defaults), arch=_example_arch(defaults))


def _unambiguous_spelling(request: TagRequest, modules: Config, known: _Offline) -> str | None:
    """A tag that, by what the index told us, can only mean ``request`` (or None)."""
    for option in _spellings(request, modules.defaults):
        try:
            if _confirmed(option.tag, modules, known) == (option,):
                return option.tag
        except TagError:  # adding parts made it too long
            continue
    return None


def _ambiguous_error(
    text: str, readings: Sequence[TagRequest], modules: Config, known: _Offline
) -> TagError:
    listed = " and ".join(f"{r.tag!r} ({r.describe()})" for r in readings)
    advice = []
    for reading in readings:
        spelling = _unambiguous_spelling(reading, modules, known)
        if spelling is None:
            advice.append(f"no tag can mean only {reading.describe()}")
        else:
            advice.append(f"{spelling!r} for {reading.describe()}")
    return TagError(
        f"tag {_shown(text)} is ambiguous: the index has each of its readings {listed}",
        hint="write the one you mean: " + "; ".join(advice),
    )


def _looks_like_arch(segment: str) -> bool:
    if lookup_arch(segment) is not None:
        return False
    if _ARCH_LIKE.fullmatch(segment) and any(c.isdigit() for c in segment):
        return True
    return bool(difflib.get_close_matches(segment.lower(), arch_names(), n=1, cutoff=0.75))


def _fixed_python(segment: str, defaults: Defaults) -> str:
    """``py3.9.1`` -> ``py3.9``, ``py312`` -> ``py3.12``, ``py3`` -> the newest default Python."""
    parts = [p for p in segment[2:].split(".") if p]
    if len(parts) >= 2:
        return f"py{int(parts[0])}.{int(parts[1])}"
    if len(parts) == 1 and len(parts[0]) >= 2:
        return f"py{parts[0][0]}.{int(parts[0][1:])}"
    return f"py{_example_python(defaults)}"


def _segment_problem(text: str, defaults: Defaults) -> tuple[str, str] | None:
    """``(headline, hint)`` when a trailing segment looks like a mistyped arch or Python."""
    segments = text.split("-")
    position = len(segments) - 1
    last = segments[position]
    if position and _looks_like_arch(last):
        close = difflib.get_close_matches(last.lower(), arch_names(), n=3, cutoff=0.6)
        known = f"known architectures: {', '.join(arch_names())}"
        hint = f"did you mean {' or '.join(map(repr, close))}? {known}" if close else known
        return f"unknown architecture {last!r}", hint
    if position and lookup_arch(last) is not None:
        position -= 1
    segment = segments[position]
    if position and _PYTHON_LIKE.fullmatch(segment) and not _PYTHON.fullmatch(segment):
        segments[position] = _fixed_python(segment, defaults)
        return (
            f"bad Python {segment!r} (a Python is -pyX.Y, major.minor, or -pyall)",
            f"write e.g. {'-'.join(segments)!r}",
        )
    return None


def _dash_before_version(text: str) -> str | None:
    """``paramiko-3.4.0-py3.12`` -> ``paramiko3.4.0-py3.12``: the version follows the name directly."""
    for match in re.finditer(r"-(?=[0-9])", text):
        rest = text[match.end() :].split("-", maxsplit=1)[0]
        if _is_name(text[: match.start()]) and _is_version(rest):
            return text[: match.start()] + text[match.end() :]
    return None


def _unknown_module_hint(text: str, missing: Sequence[str], modules: Config) -> str:
    fixed = _dash_before_version(text)
    if fixed is not None:
        return f"a version follows the name without '-': write {fixed!r}"
    keys = {m.key: m.name for m in modules.modules}
    close = dict.fromkeys(
        keys[key]
        for name in missing
        for key in difflib.get_close_matches(normalize_name(name), keys, n=2, cutoff=0.75)
    )
    if close:
        return f"did you mean {' or '.join(map(repr, close))} (from {modules.path})?"
    return "check the spelling: names are looked up on the package index pip is configured with"


def _versions_hint(projects: Sequence[Project]) -> str:
    listed = []
    for project in projects:
        valid = []
        for version in project.versions:
            try:
                valid.append((Version(version), version))
            except ValueError:  # InvalidVersion, or a number past the digit limit of int
                continue
        newest = ", ".join(v for _, v in sorted(valid, reverse=True)[:5])
        listed.append(f"newest versions of {project.name!r}: {newest or 'none'}")
    return "; ".join(listed) + "; leave the version out to build the newest"


def _ssl_hint(verdicts: Sequence[_Verdict], modules: Config) -> str:
    reading = verdicts[0].reading
    without = render_tag(replace(reading, ssl=None))
    return (
        f"write {without!r} without the SSL suffix, or list {reading.ssl!r} under ssl_variants "
        f"of [modules.{reading.module}] in {modules.path}"
    )


def _tried(verdicts: Sequence[_Verdict]) -> str:
    """Every failed reading in words, the most telling first."""
    missing = dict.fromkeys(v.problem for v in verdicts if v.fault is _Fault.NO_PROJECT)
    others = sorted(
        (v for v in verdicts if v.fault is not _Fault.NO_PROJECT and v.fault is not None),
        key=lambda v: -int(v.fault or 0),
    )
    parts = list(dict.fromkeys(v.problem for v in others))
    if missing:
        parts.append(f"no project {', '.join(missing)} on the index")
    return "; ".join(parts)


def _unknown_arch(text: str, modules: Config, index: ProjectLookup) -> TagError | None:
    """``msgpack-py3.11-mips``: the last segment is no arch, but the rest reads as a module."""
    head, _, last = text.rpartition("-")
    if not head or not last.isalnum() or last.isdigit() or _PYTHON_LIKE.fullmatch(last):
        return None
    try:
        readings = _confirmed(head, modules, index)
    except (TagError, ResolutionError):  # the probe only words the error better
        return None
    if not readings:
        return None
    return TagError(
        f"tag {_shown(text)}: unknown architecture {last[:20]!r} after {readings[0].describe()}",
        hint=f"known architectures: {', '.join(arch_names())}",
    )


def _not_found_error(
    text: str, verdicts: Sequence[_Verdict], modules: Config, index: ProjectLookup
) -> TagError:
    tried = _tried(verdicts)
    segment = _segment_problem(text, modules.defaults)
    if segment is not None:
        headline, hint = segment
        return TagError(f"tag {_shown(text)}: {headline}; {tried}", hint=hint)
    if all(v.fault is _Fault.NO_PROJECT for v in verdicts):
        arch_error = _unknown_arch(text, modules, index)
        if arch_error is not None:
            return arch_error
    worst = max(v.fault or 0 for v in verdicts)
    if worst == _Fault.NO_VERSION:
        projects = tuple(dict.fromkeys(v.project for v in verdicts if v.project is not None))
        return TagError(
            f"tag {_shown(text)}: unknown version: {tried}", hint=_versions_hint(projects)
        )
    if worst == _Fault.SSL_REFUSED:
        refused = [v for v in verdicts if v.fault is _Fault.SSL_REFUSED]
        hint = _ssl_hint(refused, modules)
        return TagError(f"tag {_shown(text)}: SSL suffix not allowed: {tried}", hint=hint)
    missing = [v.reading.module for v in verdicts if v.fault is _Fault.NO_PROJECT]
    hint = _unknown_module_hint(text, missing, modules)
    return TagError(f"tag {_shown(text)}: unknown module: {tried}", hint=hint)


def _unindexed_error(text: str, verdict: _Verdict, modules: Config) -> TagError:
    return TagError(
        f"tag {_shown(text)}: {verdict.problem}",
        hint=(
            f"check the module's name in {modules.path} and the package index pip is configured "
            "with (PIP_INDEX_URL, pip config)"
        ),
    )


# --- parsing ----------------------------------------------------------------------------------


def _settle(text: str, modules: Config, index: RememberedProjects) -> TagRequest:
    verdicts = _verdicts(text, modules, index)
    for verdict in verdicts:
        if verdict.fault is _Fault.UNINDEXED_MODULE:
            raise _unindexed_error(text, verdict, modules)
    settled = tuple(dict.fromkeys(v.settled for v in verdicts if v.settled is not None))
    if len(settled) == 1:
        return settled[0]
    if settled:
        raise _ambiguous_error(text, settled, modules, _Offline(index.known))
    raise _not_found_error(text, verdicts, modules, index)


def _raise_all(errors: Sequence[TagError]) -> None:
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise TagErrors(errors)


def parse_tags(
    texts: Iterable[str], *, modules: Config, index: ProjectLookup
) -> tuple[TagRequest, ...]:
    """Parse several tags, in order; one TagError (TagErrors for several) names every bad tag.

    The syntax of every tag is checked before the index is asked anything. A reading holds when
    its module is a project on the index (compared PEP 503-normalised) and the index has its
    version, if it names one; an SSL suffix also needs the variant in the module's ssl_variants.
    Exactly one reading must hold; its module (and version) come back in the index's spelling.
    A reading naming a module of modules.toml that the index does not know fails the tag, even
    when another reading holds (the configuration is wrong, or the user meant that module).
    Each name is asked about once per call. The index's ResolutionError propagates.
    """
    texts = tuple(texts)
    errors: list[TagError] = []
    for text in texts:
        try:
            validate_tag_syntax(text)
        except TagError as error:
            errors.append(error)
    _raise_all(errors)
    cached = remembered(index)
    requests: list[TagRequest] = []
    for text in texts:
        try:
            requests.append(_settle(text, modules, cached))
        except TagError as error:
            errors.append(error)
    _raise_all(errors)
    return tuple(requests)


def parse_tag(text: str, *, modules: Config, index: ProjectLookup) -> TagRequest:
    """Parse one tag (see :func:`parse_tags`)."""
    return parse_tags((text,), modules=modules, index=index)[0]
