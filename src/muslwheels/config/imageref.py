"""Image references and repositories: the distribution reference grammar, in one place. Pure.

Docker's rules: a first path component with a dot or a colon, or ``localhost``, is a registry host;
otherwise the reference belongs to Docker's default registry, and a single-component name there is
an official image under ``library/``. Every reference the user gives (base image, repository) is
checked here before anything else happens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ResolutionError, UsageError, shown

#: The longest name (registry host and path) the grammar allows.
NAME_MAX = 255

_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN = re.compile(
    r"(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
    r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*"
    r"|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")

OFFICIAL_PREFIX = "library/"


@dataclass(frozen=True)
class DefaultRegistry:
    """Where image references without a registry host go."""

    name: str  # how references spell it
    endpoint: str  # the host that serves the v2 API for it
    aliases: tuple[str, ...] = ()  # other spellings that mean the same registry
    legacy_index: str = ""  # the host in the server URL ``docker login`` files credentials under

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, self.endpoint, *self.aliases)

    @property
    def credentials_key(self) -> str:
        return f"https://{self.legacy_index}/v1/" if self.legacy_index else self.name


#: Docker's own default for image references without a registry host (``python:3.12`` means this
#: registry's ``library/python:3.12``), exactly as the Docker engine and CLI hard-wire it. The only
#: place these names appear; the token service is never named: it comes from the registry's own
#: ``WWW-Authenticate`` challenge.
DOCKER_DEFAULT_REGISTRY = DefaultRegistry(
    name="docker.io",
    endpoint="registry-1.docker.io",
    aliases=("index.docker.io",),
    legacy_index="index.docker.io",
)


def reference_problem(reference: str, *, allow_tag: bool) -> str | None:
    """Why ``reference`` is not an image reference (``[registry/]path[:tag]``; a repository when
    not ``allow_tag``), or None."""
    if len(reference) > 2 * NAME_MAX:
        return f"it is {len(reference)} characters long"
    if "@" in reference:
        return "a digest (@...) is not allowed here"
    name, tag = reference, None
    last_slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > last_slash:
        name, tag = reference[:colon], reference[colon + 1 :]
    if tag is not None:
        if not allow_tag:
            return "it must not include a tag (':...')"
        if not _TAG.fullmatch(tag):
            return f"tag {shown(tag)} is not letters, digits, '_', '.', '-' (at most 128)"
    if not name:
        return "the name is empty"
    if len(name) > NAME_MAX:
        return f"the name is longer than {NAME_MAX} characters"
    components = name.split("/")
    first = components[0]
    # Docker also takes an upper-case first component for a registry; here that is far more
    # likely a mistyped user name, so it is reported as not lowercase instead.
    if len(components) > 1 and ("." in first or ":" in first or first == "localhost"):
        if not _DOMAIN.fullmatch(first):
            return f"registry {shown(first)} is not a host name with an optional :port"
        components = components[1:]
    for component in components:
        if not _PATH_COMPONENT.fullmatch(component):
            return (
                f"path component {shown(component)} must be lowercase letters and digits "
                "separated by '.', '_', '__' or '-'"
            )
    return None


@dataclass(frozen=True)
class ImageReference:
    registry: str  # host[:port] as written, or the default registry's name
    repository: str  # path inside the registry (``library/python`` for official images)
    reference: str  # tag or digest; "latest" when the reference names neither

    @property
    def is_digest(self) -> bool:
        return ":" in self.reference

    def __str__(self) -> str:
        separator = "@" if self.is_digest else ":"
        return f"{self.registry}/{self.repository}{separator}{self.reference}"


def parse_reference(
    text: str, *, default: DefaultRegistry = DOCKER_DEFAULT_REGISTRY
) -> ImageReference:
    """Split an image reference as Docker does; ResolutionError when it is not one."""
    rest, digest = text, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        registry, path = first, remainder
    else:
        registry, path = default.name, rest
    tag = None
    if ":" in path:
        path, tag = path.rsplit(":", 1)
    if registry in default.names:
        registry = default.name
        if "/" not in path:
            path = OFFICIAL_PREFIX + path
    reference = digest or tag or "latest"
    valid = (
        len(text) <= 2 * NAME_MAX + 200
        and _DOMAIN.fullmatch(registry) is not None
        and all(_PATH_COMPONENT.fullmatch(c) for c in path.split("/"))
        and len(registry) + 1 + len(path) <= NAME_MAX
        and (digest is None or DIGEST.fullmatch(digest) is not None)
        and (tag is None or _TAG.fullmatch(tag) is not None)
    )
    if not valid:
        raise ResolutionError(
            f"{shown(text)} is not a valid image reference",
            hint="check base_image in modules.toml: [registry/]repository[:tag], lower-case path",
        )
    return ImageReference(registry, path, reference)


def normalize_repository(text: str, *, default: DefaultRegistry = DOCKER_DEFAULT_REGISTRY) -> str:
    """A repository as our tags use it: Docker Hub's ``DOCKER_REPO`` (the default registry's
    host in front, e.g. ``<hub host>/user/repo``) becomes ``user/repo``; anything else stays as
    written. UsageError for something that is not a repository (a tag, upper case, too long...)."""
    value = text.strip()
    if "://" in value:
        value = value.split("://", 1)[1]
    value = value.rstrip("/")
    first, slash, rest = value.partition("/")
    if slash and first in default.names:
        value = rest
    last = value.rsplit("/", 1)[-1]
    if "@" in value or ":" in last:
        raise UsageError(
            f"repository {shown(text)} names a tag or digest",
            hint="give the repository alone, e.g. user/python-musl-wheels or "
            "127.0.0.1:5000/wheels; the tags come from the targets",
        )
    reason = reference_problem(value, allow_tag=False)
    problem = UsageError(
        f"{shown(text)} is not a valid repository" + (f": {reason}" if reason else ""),
        hint="[registry[:port]/]path in lower case, e.g. user/python-musl-wheels",
    )
    if reason:
        raise problem
    try:
        ref = parse_reference(value, default=default)
    except ResolutionError:
        raise problem from None
    host = ref.registry
    if host != default.name and "." not in host and ":" not in host and host != "localhost":
        raise problem  # an upper-case first component is no registry host
    return value


def split_image_name(image_name: str) -> tuple[str, str | None]:
    """Docker Hub's ``IMAGE_NAME`` (``<repo>:<tag>``) -> (repository, tag or None)."""
    head, sep, tail = image_name.rpartition(":")
    if sep and "/" not in tail:
        return head, tail or None
    return image_name, None
