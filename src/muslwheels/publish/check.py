"""``invoke check``: which planned wheel images the registry does not hold yet.

The plan says what the newest release on the package index is for each module, Python and arch
(planning resolves versions exactly as ``build`` does); this compares it with the wheel repository:
a target is *done* when its per-arch tag exists and its version's multi-arch tag lists its platform,
*pending* otherwise. For a pending target the versions the registry does hold for the same module,
SSL variant, Python and arch are listed, newest first (e.g. it has 1.0 and the index now has 1.1).

Each repository's tag list is asked once, each multi-arch tag's platforms once, always afresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from packaging.version import InvalidVersion, Version

from ..config.arches import arch_for_platform
from ..config.model import Target
from .images import Published


@dataclass(frozen=True)
class CheckRow:
    target: Target
    present: bool  # the per-arch tag exists
    multiarch_present: bool  # the multi-arch tag exists and lists the target's platform
    held_versions: tuple[str, ...] = ()  # versions of this module/ssl/python/arch the registry has

    @property
    def done(self) -> bool:
        return self.present and self.multiarch_present

    @property
    def status(self) -> str:
        return "done" if self.done else "pending"

    @property
    def missing(self) -> str:
        """What is missing, in words ("" when done)."""
        if not self.present:
            return f"no image {self.target.tag}"
        if not self.multiarch_present:
            return f"multi-arch tag {self.target.version_tag} lacks {self.target.arch.key}"
        return ""


@dataclass(frozen=True)
class CheckReport:
    rows: tuple[CheckRow, ...]

    @property
    def pending(self) -> tuple[CheckRow, ...]:
        return tuple(r for r in self.rows if not r.done)


def held_versions(tags: Sequence[str], target: Target) -> tuple[str, ...]:
    """The versions in ``tags`` of per-arch tags for ``target``'s module, SSL variant, Python and
    arch, newest first. Pure."""
    ssl = f"-{target.ssl}" if target.ssl else ""
    prefix = f"{target.module}{ssl}"
    suffix = f"-py{target.python}-{target.arch.tag}"
    found: dict[str, Version] = {}
    for tag in tags:
        if not (tag.startswith(prefix) and tag.endswith(suffix)):
            continue
        middle = tag[len(prefix) : len(tag) - len(suffix)]
        try:
            found[middle] = Version(middle)
        except InvalidVersion:
            continue
    return tuple(sorted(found, key=lambda v: found[v], reverse=True))


def check_targets(targets: Sequence[Target], registry: Published) -> CheckReport:
    """One row per target (in order). RegistryError when the registry cannot be asked."""
    tags: dict[str, frozenset[str]] = {}
    all_tags: dict[str, tuple[str, ...]] = {}
    platforms: dict[str, frozenset[str]] = {}
    rows: list[CheckRow] = []
    for target in targets:
        repository = target.wheel_repository
        if repository not in tags:
            all_tags[repository] = registry.tags(repository)
            tags[repository] = frozenset(all_tags[repository])
        present = target.tag in tags[repository]
        multi = target.multiarch_image
        if multi not in platforms:
            listed: tuple[str, ...] | None = ()
            if target.version_tag in tags[repository]:
                listed = registry.platforms(multi)
            arches = {arch_for_platform(p) for p in listed or ()}
            platforms[multi] = frozenset(a.key for a in arches if a is not None)
        multi_ok = target.arch.key in platforms[multi]
        held = () if present else held_versions(all_tags[repository], target)
        rows.append(CheckRow(target, present, multi_ok, held))
    return CheckReport(tuple(rows))


def row_to_dict(row: CheckRow) -> dict[str, Any]:
    """The JSON shape of one row (``invoke check --json`` prints one per line)."""
    t = row.target
    return {
        "module": t.module,
        "version": t.version,
        "python": t.python,
        "arch": t.arch.key,
        "platform": t.platform,
        "ssl": t.ssl,
        "flavour": t.flavour.value,
        "repository": t.repository,
        "tag": t.tag,
        "multiarch_tag": t.version_tag,
        "present": row.present,
        "multiarch_present": row.multiarch_present,
        "held_versions": list(row.held_versions),
        "status": row.status,
    }
