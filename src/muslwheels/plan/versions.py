"""Which version pip would take: the pure version rules over a :class:`~muslwheels.config.model.Project`.

Versions compare as PEP 440 versions; Requires-Python values that are not valid specifier sets
admit every Python, as pip ignores them. Nothing here asks the index: the facts arrive as
arguments (the planner and the tag parser use these, the index module only to merge pages).
"""

from __future__ import annotations

from collections.abc import Iterable

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from ..config.model import Project

_PROBE = Version("3.0")


def valid_specifier(value: str | None) -> str | None:
    """A Requires-Python value as written (stripped), or None when it admits every Python:
    missing, empty, or not a valid specifier set (pip ignores those, so they admit anything)."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        SpecifierSet(text).contains(_PROBE, prereleases=True)  # parses every clause
    except ValueError:  # InvalidSpecifier, or a number past the digit limit of int
        return None
    return text


# The Pythons a specifier's looseness is measured on: every X.Y release there is or may be.
_LOOSENESS_PROBES = tuple(
    Version(v) for v in [f"2.{minor}" for minor in range(8)] + [f"3.{m}" for m in range(51)]
)


def loosest(values: Iterable[str | None]) -> str | None:
    """The loosest of several Requires-Python values, None when one of them admits every Python.

    Specifier sets are not totally ordered; the loosest is the one that admits the most of the
    Python releases 2.0-2.7 and 3.0-3.50 (the first one given among equals).
    """
    best: str | None = None
    best_count = -1
    for value in values:
        text = valid_specifier(value)
        if text is None:
            return None
        specifier = SpecifierSet(text)
        count = sum(1 for v in _LOOSENESS_PROBES if specifier.contains(v, prereleases=True))
        if count > best_count:
            best, best_count = text, count
    return best


def is_yanked(project: Project, version: str) -> bool:
    """Whether ``version`` (compared as PEP 440 versions) is yanked: pip accepts it only pinned."""
    found = find_version(project, version)
    return found is not None and found in project.yanked


def find_version(project: Project, version: str) -> str | None:
    """The project's own spelling of ``version``: the same string, else the first PEP 440-equal
    one (``1.0`` is ``1.0.0``), else None."""
    if version in project.versions:
        return version
    try:
        wanted = Version(version)
    except ValueError:  # InvalidVersion, or a number past the digit limit of int
        return None
    for candidate in project.versions:
        try:
            if Version(candidate) == wanted:
                return candidate
        except ValueError:  # InvalidVersion, or a number past the digit limit of int
            continue
    return None


def requires_python_of(project: Project, version: str) -> str | None:
    """The Requires-Python of ``version`` (compared as PEP 440 versions), None when it has none."""
    found = find_version(project, version)
    return dict(project.requires_python).get(found) if found is not None else None


def _python_releases(python: str) -> tuple[Version, ...]:
    """The Python releases that stand for ``python``: itself when it names a patch release; for
    ``X.Y`` (a base image's patch release is not known here) X.Y.0 and a late X.Y.99."""
    version = Version(python)
    if len(version.release) >= 3:
        return (version,)
    major, minor = (*version.release, 0)[:2]
    return (Version(f"{major}.{minor}.0"), Version(f"{major}.{minor}.99"))


def python_allowed(project: Project, version: str, python: str) -> bool:
    """Whether pip running on Python ``python`` would accept ``version`` of ``project``.

    True when the version has no Requires-Python, or one that is not a valid specifier set (pip
    ignores those), or one that admits ``python``. ``python`` is ``X.Y`` or ``X.Y.Z``; ``X.Y`` is
    admitted when X.Y.0 or a late patch release (X.Y.99) is, so ``>=3.9.1`` admits ``3.9``, as
    pip in a current 3.9 image would. Raises ValueError when ``python`` is not a version.
    """
    try:
        releases = _python_releases(python)
    except ValueError as exc:
        raise ValueError(f"not a Python version: {python!r}") from exc
    value = valid_specifier(requires_python_of(project, version))
    if value is None:
        return True
    specifier = SpecifierSet(value)
    return any(specifier.contains(release, prereleases=True) for release in releases)


def newest_version(project: Project, *, pre: bool = False, python: str | None = None) -> str | None:
    """The version ``pip install <project>`` would pick, or None when pip would find none.

    As pip does: versions whose Requires-Python excludes ``python`` (when given, see
    :func:`python_allowed`) are not candidates at all; of the rest, pre-releases count only with
    ``pre`` or when no final release is left (yanked ones included in that test); yanked versions
    are never picked without a pin.
    """
    parsed: dict[Version, str] = {}
    for text in project.versions:
        if python is not None and not python_allowed(project, text, python):
            continue
        try:
            parsed.setdefault(Version(text), text)
        except ValueError:  # InvalidVersion, or a number past the digit limit of int
            continue
    applicable = SpecifierSet("").filter(parsed, prereleases=True if pre else None)
    usable = [v for v in applicable if parsed[v] not in project.yanked]
    return parsed[max(usable)] if usable else None


def newest_sdist(project: Project, specifier: SpecifierSet, *, python: str) -> str | None:
    """The newest version of ``project`` with an sdist that satisfies ``specifier`` and admits
    Python ``python``, by pip's rules (pre-releases only when the specifier names one or nothing
    else is left; a yanked version only when the specifier pins it with ``==``); None when none."""
    parsed: dict[Version, str] = {}
    for text in project.sdists:
        if not python_allowed(project, text, python):
            continue
        try:
            parsed.setdefault(Version(text), text)
        except ValueError:  # InvalidVersion, or a number past the digit limit of int
            continue
    pinned = any(s.operator in ("==", "===") for s in specifier)
    usable = [v for v in specifier.filter(parsed) if pinned or parsed[v] not in project.yanked]
    return parsed[max(usable)] if usable else None
