"""Pure resolution rules: which Python, which Alpine release, which architectures.

Every function takes its facts (tag lists, platform lists) as arguments; the questions to the
outside world are asked by :mod:`muslwheels.sources.registry` and :mod:`muslwheels.sources.packageindex`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from ..config.arches import ARCHES, Arch, arch_for_platform, lookup_arch
from ..config.imageref import reference_problem
from ..errors import ConfigError, ResolutionError, TagError, UsageError, shown

PLACEHOLDERS = ("python", "alpine")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_RELEASE = r"[0-9]+\.[0-9]+"  # X.Y, for both Python and Alpine


def _xy(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


def split_image_ref(ref: str) -> tuple[str, str]:
    """``python:3.12-alpine3.20`` -> (``python``, ``3.12-alpine3.20``); a registry port is not a
    tag (``127.0.0.1:5000/standin/python:3.11`` -> (``127.0.0.1:5000/standin/python``, ``3.11``)).
    A reference with a digest gives the digest as its tag; one with neither gives ``latest``.
    """
    if "@" in ref:
        repository, digest = ref.split("@", 1)
        name, _, _tag = repository.rpartition(":")
        if name and "/" not in repository[len(name) :]:
            repository = name
        return repository, digest
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, "latest"


def template_problem(template: str) -> tuple[str, str] | None:
    """What is wrong with a base image template, and how to write it; None when it is a valid
    image reference with ``{python}`` (and optionally ``{alpine}``) in its tag."""
    unknown = [p for p in _PLACEHOLDER.findall(template) if p not in PLACEHOLDERS]
    if unknown:
        return (
            f"has unknown placeholder {{{shown(unknown[0], 20)[1:-1]}}}",
            "only {python} and {alpine} may appear in braces",
        )
    if "{python}" not in template:
        return "has no {python} placeholder", 'write it like "python:{python}-alpine{alpine}"'
    repository, _ = split_image_ref(template)
    if "{" in repository:
        return (
            "has a placeholder outside its tag",
            'only the tag may vary, e.g. "python:{python}-alpine{alpine}"',
        )
    problem = reference_problem(
        template.replace("{python}", "3.12").replace("{alpine}", "3.20"), allow_tag=True
    )
    if problem:
        return (
            f"is not an image reference: {problem}",
            'write [registry/]repository:tag, e.g. "python:{python}-alpine{alpine}"',
        )
    return None


def _validate_template(template: str) -> None:
    problem = template_problem(template)
    if problem:
        raise ConfigError(
            f"base image template {shown(template)} {problem[0]}",
            hint=f"base_image in modules.toml: {problem[1]}",
        )


def _tag_pattern(tag_template: str) -> re.Pattern[str]:
    pattern = ""
    position = 0
    for match in _PLACEHOLDER.finditer(tag_template):
        pattern += re.escape(tag_template[position : match.start()])
        pattern += f"(?P<{match.group(1)}>{_RELEASE})"
        position = match.end()
    pattern += re.escape(tag_template[position:])
    return re.compile(pattern)


def python_versions_for(
    template: str, tags: Iterable[str], *, min_alpine: str
) -> dict[str, str | None]:
    """Which X.Y Pythons the base-image repository publishes, oldest first, each with the lowest
    Alpine release at or above ``min_alpine`` published for it (None when the template has no
    ``{alpine}``). Pythons published only for older Alpine releases are left out.

    Tags match the template exactly: for ``python:{python}-alpine{alpine}``, ``3.12-alpine3.20``
    counts, ``3.12.1-alpine3.20`` and ``3.12-alpine`` do not.
    """
    _validate_template(template)
    if re.fullmatch(_RELEASE, min_alpine) is None:
        raise ConfigError(
            f"minimum Alpine release {min_alpine!r} is not X.Y",
            hint='write alpine = "3.20" in [defaults]',
        )
    _, tag_template = split_image_ref(template)
    pattern = _tag_pattern(tag_template)
    has_alpine = "{alpine}" in tag_template
    floor = _xy(min_alpine)
    best: dict[str, str | None] = {}
    for tag in tags:
        match = pattern.fullmatch(tag)
        if match is None:
            continue
        python = match.group("python")
        if not has_alpine:
            best[python] = None
            continue
        alpine = match.group("alpine")
        if _xy(alpine) < floor:
            continue
        current = best.get(python)
        if current is None or _xy(alpine) < _xy(current):
            best[python] = alpine
    return {python: best[python] for python in sorted(best, key=_xy)}


def _describe(template: str | None, min_alpine: str | None) -> tuple[str, str]:
    """("python:*-alpine* tag", " at or above Alpine 3.20") for messages."""
    if template is None:
        return "base image", ""
    text = template.replace("{python}", "*").replace("{alpine}", "*") + " tag"
    if min_alpine is not None and "{alpine}" in template:
        return text, f" at or above Alpine {min_alpine}"
    return text, ""


def newest_python(
    available: Iterable[str],
    *,
    allowed: SpecifierSet | None,
    requested: str | None,
    template: str | None = None,
    min_alpine: str | None = None,
) -> str:
    """The Python to build for: ``requested`` when the base image has it and ``allowed``
    admits it, else the newest available one that ``allowed`` admits.

    ``available`` are X.Y strings (the keys of :func:`python_versions_for`); ``template`` and
    ``min_alpine`` only make the error messages precise.
    """
    pythons = sorted(set(available), key=_xy)
    what, floor = _describe(template, min_alpine)
    listing = ", ".join(pythons) if pythons else "none"
    if requested is not None:
        if requested not in pythons:
            raise TagError(
                f"no {what} for Python {requested}{floor}; available: {listing}",
                hint="pick one of the available Pythons, or change base_image / alpine "
                "in modules.toml",
            )
        if allowed is not None and not allowed.contains(Version(requested), prereleases=True):
            raise UsageError(
                f"Python {requested} is outside the module's pythons = {str(allowed)!r}",
                hint="ask for a Python the module supports, or change its pythons in modules.toml",
            )
        return requested
    candidates = [
        p for p in pythons if allowed is None or allowed.contains(Version(p), prereleases=True)
    ]
    if not candidates:
        limit = f" allowed by {str(allowed)!r}" if allowed is not None else ""
        raise ResolutionError(
            f"no {what} for a Python{limit}{floor}; available: {listing}",
            hint="change the module's pythons, base_image or alpine in modules.toml",
        )
    return candidates[-1]


def parse_pythons_specifier(text: str | None) -> SpecifierSet | None:
    """A module's ``pythons`` string as a SpecifierSet (None stays None)."""
    if text is None:
        return None
    try:
        return SpecifierSet(text)
    except InvalidSpecifier as exc:
        raise ConfigError(
            f"pythons = {text!r} is not a version specifier",
            hint='write it like ">=3.8" or ">=3.9,<3.14"',
        ) from exc


def _canonical(names: Iterable[str], what: str) -> list[Arch]:
    found: list[Arch] = []
    for name in names:
        arch = lookup_arch(name)
        if arch is None:
            known = ", ".join(a.key for a in ARCHES)
            raise UsageError(f"unknown architecture {name!r} in {what}", hint=f"known: {known}")
        if arch not in found:
            found.append(arch)
    return found


def arches_for(
    platforms: Iterable[str],
    *,
    wanted: tuple[str, ...],
    excluded: tuple[str, ...],
    image: str = "the base image",
) -> tuple[Arch, ...]:
    """The architectures to build, in table order: ``wanted`` (any accepted spelling; empty
    means every architecture the image is published for) minus ``excluded``.

    Platforms this tool has no architecture for (``windows/amd64``, attestation entries
    ``unknown/unknown``) are ignored. Asking for an excluded or unpublished architecture fails.
    """
    published: list[Arch] = []
    for platform in platforms:
        arch = arch_for_platform(platform)
        if arch is not None and arch not in published:
            published.append(arch)
    shown = ", ".join(a.key for a in ARCHES if a in published) or "none"
    excluded_arches = _canonical(excluded, "exclude_arches")
    if wanted:
        chosen = _canonical(wanted, "the requested architectures")
        for arch in chosen:
            if arch in excluded_arches:
                raise UsageError(
                    f"architecture {arch.key} is excluded for this module (exclude_arches)",
                    hint="ask for another architecture, or change exclude_arches in modules.toml",
                )
            if arch not in published:
                raise ResolutionError(
                    f"{image} is not published for {arch.key} ({arch.platform}); "
                    f"published: {shown}",
                    hint="ask for a published architecture, or use a base image built for it",
                )
    else:
        chosen = [a for a in published if a not in excluded_arches]
        if not chosen:
            raise ResolutionError(
                f"no architecture left to build: {image} is published for {shown}, "
                f"excluded: {', '.join(a.key for a in excluded_arches) or 'none'}",
                hint="check exclude_arches in modules.toml and the base image's platforms",
            )
    return tuple(a for a in ARCHES if a in chosen)


def render_base_image(template: str, python: str, alpine: str | None) -> str:
    """The base image for one Python: the template with ``{python}`` and ``{alpine}`` filled in."""
    _validate_template(template)
    if "{alpine}" in template and alpine is None:
        raise ResolutionError(
            f"base image template {template!r} needs an Alpine release for Python {python}",
            hint="ask python_versions_for for the Alpine release first",
        )
    return template.replace("{python}", python).replace("{alpine}", alpine or "")
