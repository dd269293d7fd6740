"""The runtime closure of a built wheel: every distribution ``pip install`` of it needs, for one target.

Pure: the wheels to choose from arrive through the ``WheelFinder`` Protocol (build/scheduler.py hands in our own
builds and the index through pip; unit tests hand in plain objects).

Rules (README "Runtime closure"):

- the wheel's ``Requires-Dist`` are read; each one's environment marker is evaluated for the target's
  Python and platform (``marker_environment``); requirements under an extra count only when a
  requirement that pulled the project in asked for that extra;
- a requirement that a module of modules.toml provides comes from our own build of it, never from the
  index, even when the index has a fitting wheel;
- anything else comes from the best wheel on the index that fits the target (pure Python, or binary
  with tags the target accepts); when the index has none, from our own build of it as an *extra
  dependency target* (a wheel of it in ``wheels/<arch>/``); when there is none yet either but the
  index has an sdist of a fitting version, the requirement is missing with ``build`` set: the
  scheduler builds that version as an extra target and resolves again;
- recursively, each project once (cycles end there); a project asked for twice must satisfy both
  specifiers with the one version chosen;
- a requirement nothing satisfies is *missing*, reported with the chain of projects that needs it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from packaging.markers import InvalidMarker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..config.model import Target

Origin = Literal["module", "index", "extra"]


@dataclass(frozen=True)
class Candidate:
    """One wheel that can satisfy a requirement."""

    name: str  # as its metadata spells it
    version: str
    filename: str
    requires_dist: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClosureEntry:
    candidate: Candidate
    origin: Origin
    chain: tuple[str, ...]  # the projects from the root down to this one (root first)

    @property
    def key(self) -> str:
        return canonicalize_name(self.candidate.name)


@dataclass(frozen=True)
class Missing:
    requirement: str  # as written in the Requires-Dist that asked for it
    chain: tuple[str, ...]  # root first, ending with the project whose metadata asks for it
    reason: str
    build: tuple[str, str] | None = None  # (name, version) of an sdist on the index to build

    def describe(self) -> str:
        return f"{' -> '.join(self.chain)} needs {self.requirement}: {self.reason}"


@dataclass(frozen=True)
class Closure:
    entries: tuple[ClosureEntry, ...] = ()  # in the order they were found (breadth first)
    missing: tuple[Missing, ...] = ()
    skipped: tuple[str, ...] = ()  # requirements whose marker is false for the target

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def buildable(self) -> bool:
        """Incomplete, but every missing requirement can be built from an sdist on the index."""
        return bool(self.missing) and all(m.build is not None for m in self.missing)


class WheelFinder(Protocol):
    def own(self, name: str) -> Candidate | None:
        """Our own build of the modules.toml module ``name`` for the target (None: not built)."""

    def index(self, requirement: Requirement) -> Candidate | None:
        """The wheel pip would pick from the index for ``requirement`` (name and specifier only)
        among those the target accepts; None when there is none. May raise BuildError when the
        index cannot be asked."""

    def built(self, name: str) -> Candidate | None:
        """Our own build of project ``name`` (not a modules.toml module: an extra dependency target
        built earlier) that fits the target; None when there is none."""

    def sdist(self, requirement: Requirement) -> tuple[str, str] | None:
        """(name as the index spells it, version) of the newest sdist on the index that satisfies
        ``requirement`` for the target's Python; None when there is none (or sdists are not to be
        built). May raise BuildError when the index cannot be asked."""


def marker_environment(
    target: Target, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The PEP 508 marker variables of ``target``'s interpreter: CPython X.Y on Linux on its CPU.
    ``overrides`` (e.g. what the target's own interpreter reported) win."""
    env = {
        "implementation_name": "cpython",
        "implementation_version": f"{target.python}.0",
        "os_name": "posix",
        "platform_machine": target.arch.wheel_machine,  # uname -m
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": f"{target.python}.0",
        "python_version": target.python,
        "sys_platform": "linux",
    }
    env.update(overrides or {})
    return env


def _applies(req: Requirement, environment: Mapping[str, str], extras: Collection[str]) -> bool:
    if req.marker is None:
        return True
    for extra in ("", *extras):
        try:
            if req.marker.evaluate({**environment, "extra": extra}):
                return True
        except (UndefinedComparison, UndefinedEnvironmentName):
            continue
    return False


def _fits(candidate: Candidate, specifier: SpecifierSet) -> bool:
    try:
        return specifier.contains(Version(candidate.version), prereleases=True)
    except InvalidVersion:
        return False


def resolve_closure(
    root: Candidate,
    *,
    environment: Mapping[str, str],
    modules: Collection[str],
    finder: WheelFinder,
) -> Closure:
    """The closure of ``root`` (not included in it). ``modules``: the modules.toml module names."""
    module_keys = {canonicalize_name(m) for m in modules}
    root_key = canonicalize_name(root.name)
    candidates: dict[str, Candidate] = {root_key: root}
    chains: dict[str, tuple[str, ...]] = {root_key: (root.name,)}
    expanded: dict[str, set[str]] = {root_key: set()}  # the extras whose requirements are queued
    chosen: dict[str, ClosureEntry] = {}
    missing: list[Missing] = []
    skipped: list[str] = []
    # (requirement text, chain of the project asking for it, the extras it was asked for with)
    queue: list[tuple[str, tuple[str, ...], frozenset[str]]] = [
        (r, (root.name,), frozenset()) for r in root.requires_dist
    ]

    def lost(text: str, chain: tuple[str, ...], reason: str) -> None:
        missing.append(Missing(text, chain, reason))

    while queue:
        text, chain, extras = queue.pop(0)
        try:
            req = Requirement(text)
        except (InvalidRequirement, InvalidMarker) as err:
            lost(text, chain, f"not a valid requirement ({err})")
            continue
        if not _applies(req, environment, extras):
            skipped.append(f"{' -> '.join(chain)}: {text}")
            continue
        key = canonicalize_name(req.name)
        if key in candidates:  # chosen already (or the root itself): one version for all
            have = candidates[key]
            if not _fits(have, req.specifier):
                lost(text, chain, f"{have.name} {have.version} is the version chosen")
                continue
            wanted = set(req.extras) - expanded[key]
        else:
            found: Candidate | None
            origin: Origin
            if req.url:
                lost(text, chain, "a direct URL reference cannot be taken from an index")
                continue
            if key in module_keys:
                found, origin = finder.own(req.name), "module"
                if found is None:
                    lost(text, chain, "modules.toml builds it, but no build of it is at hand")
                    continue
                if not _fits(found, req.specifier):
                    lost(text, chain, f"modules.toml builds {found.name} {found.version}")
                    continue
            else:
                bare = Requirement(f"{req.name}{req.specifier}")
                found, origin = finder.index(bare), "index"
                if found is None:
                    found, origin = finder.built(req.name), "extra"
                    if found is not None and not _fits(found, req.specifier):
                        found = None
                if found is None:
                    sdist = finder.sdist(bare)
                    if sdist is None:
                        lost(text, chain, "the index has no wheel of it that fits the target")
                    else:
                        reason = f"the index has only the sdist of {sdist[0]} {sdist[1]}"
                        missing.append(Missing(text, chain, reason, sdist))
                    continue
            candidates[key] = found
            chains[key] = (*chain, found.name)
            chosen[key] = ClosureEntry(found, origin, chains[key])
            expanded[key] = set()
            wanted = {""} | set(req.extras)
        if not wanted:
            continue
        expanded[key] |= wanted - {""}
        named = frozenset(wanted - {""})
        for sub in candidates[key].requires_dist:
            queue.append((sub, chains[key], named))
    return Closure(tuple(chosen.values()), tuple(missing), tuple(skipped))
