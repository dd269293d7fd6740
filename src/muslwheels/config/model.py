"""Frozen dataclasses shared by every layer: the parsed configuration and the planned targets.

Nothing downstream of ``config.load_config`` sees raw TOML dicts; nothing downstream of
``plan.make_plan`` recomputes what a target is.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from ..errors import UsageError
from ..plan.baseimage import split_image_ref
from .arches import Arch

NO_REPOSITORY = "no wheel repository for this run"
NO_REPOSITORY_HINT = (
    "give --repository REPO, set DOCKER_REPO, or write repository (and no_shared_repository) "
    "in [defaults] of modules.toml"
)


class Flavour(str, Enum):
    SHARED = "shared"  # auditwheel-repaired, musllinux_1_x tags, repository
    NO_SHARED = "no-shared"  # linux_<arch> tags, no_shared_repository

    def __str__(self) -> str:
        return self.value


class Mode(str, Enum):
    EMULATE = "emulate"  # QEMU runs the whole build for a foreign platform
    CROSS = "cross"  # native compiler targets the foreign platform
    AUTO = "auto"  # cross where allowed, fall back to emulate

    def __str__(self) -> str:
        return self.value


# --- configuration (modules.toml) -------------------------------------------------------------


@dataclass(frozen=True)
class Selector:
    """Which targets an override applies to; an empty tuple / None means "any"."""

    arches: tuple[str, ...] = ()  # canonical arch keys
    pythons: str | None = None  # a PEP 440 specifier string, e.g. ">=3.12"
    ssl: tuple[str, ...] = ()
    flavours: tuple[Flavour, ...] = ()


class Check(Enum):
    """How ``config`` validates a recipe field, which also fixes the field's JSON shape."""

    PACKAGES = "packages"  # system package names; {ssl} allowed
    ENV = "env"  # a table of environment variables
    COMMANDS = "commands"  # a list of command templates
    BUILD = "build"  # one command template that writes to {wheel_dir}
    TEST = "test"  # one command template
    MODE = "mode"  # a build mode
    REQUIREMENTS = "requirements"  # PEP 508 requirements
    REASON = "reason"  # a one-line reason

    @property
    def shape(self) -> Shape:
        return _SHAPES[self]


class Shape(Enum):
    """The JSON shape of a recipe field (saved plan, ``plan --json``)."""

    STRINGS = "strings"  # tuple[str, ...] <-> list
    PAIRS = "pairs"  # tuple[tuple[str, str], ...] <-> object
    TEXT = "text"  # str | None <-> string or null
    MODE = "mode"  # Mode | None <-> string or null


_SHAPES: dict[Check, Shape] = {
    Check.PACKAGES: Shape.STRINGS,
    Check.ENV: Shape.PAIRS,
    Check.COMMANDS: Shape.STRINGS,
    Check.BUILD: Shape.TEXT,
    Check.TEST: Shape.TEXT,
    Check.MODE: Shape.MODE,
    Check.REQUIREMENTS: Shape.STRINGS,
    Check.REASON: Shape.TEXT,
}


class Merge(Enum):
    """How a matching override's value combines with the recipe built so far."""

    REPLACE = "replace"  # the override's value replaces it
    UPDATE = "update"  # key by key, the override's value wins (env)


@dataclass(frozen=True)
class FieldRule:
    """What a recipe field is besides its type and default (declared in :class:`Recipe`)."""

    check: Check
    overridable: bool = True  # whether an override may set it
    merge: Merge = Merge.REPLACE
    fill_ssl: bool = False  # {ssl} is filled in per target (package names)
    clears: tuple[str, ...] = ()  # setting this field resets these to their default
    conflict: str | None = None  # the error when this field and one it clears are both set


@dataclass(frozen=True)
class RecipeField:
    name: str
    default: object
    rule: FieldRule

    @property
    def check(self) -> Check:
        return self.rule.check


def _rule(check: Check, **rule: Any) -> dict[str, FieldRule]:
    """A ``Recipe`` field's metadata: its :class:`FieldRule`."""
    return {"rule": FieldRule(check, **rule)}


@dataclass(frozen=True)
class Recipe:
    """How to build one module; the mergeable part of a module section and of an override.

    The one table of recipe fields: each field's type, default and :class:`FieldRule`. Config
    parsing, overrides, ``config.recipe_for``, the saved plan and ``plan --json`` all read it
    through :data:`RECIPE_FIELDS`.
    """

    apk: tuple[str, ...] = field(default=(), metadata=_rule(Check.PACKAGES, fill_ssl=True))
    apt: tuple[str, ...] = field(default=(), metadata=_rule(Check.PACKAGES, fill_ssl=True))
    # ordered (name, value) pairs
    env: tuple[tuple[str, str], ...] = field(
        default=(), metadata=_rule(Check.ENV, merge=Merge.UPDATE)
    )
    before_build: tuple[str, ...] = field(default=(), metadata=_rule(Check.COMMANDS))
    # replaces the default wheel command
    build: str | None = field(default=None, metadata=_rule(Check.BUILD))
    # None: take the run's --mode
    mode: Mode | None = field(default=None, metadata=_rule(Check.MODE))
    # replaces the default test (import the wheel's modules); a test set later switches it on again
    test: str | None = field(default=None, metadata=_rule(Check.TEST, clears=("no_test",)))
    # requirements installed from the index for the test only
    test_requires: tuple[str, ...] = field(default=(), metadata=_rule(Check.REQUIREMENTS))
    # the test is off, for this reason (shown in the summary)
    no_test: str | None = field(
        default=None,
        metadata=_rule(
            Check.REASON, clears=("test",), conflict="switches the test off, but 'test' sets one"
        ),
    )


#: The recipe fields in declaration order (which is also the order they are validated and shown).
RECIPE_FIELDS: tuple[RecipeField, ...] = tuple(
    RecipeField(f.name, f.default, f.metadata["rule"]) for f in dataclasses.fields(Recipe)
)


@dataclass(frozen=True)
class Override:
    select: Selector
    recipe: Recipe  # fields left at their default do not override
    set_fields: frozenset[str] = frozenset()  # which Recipe fields the override sets


@dataclass(frozen=True)
class ModuleConfig:
    name: str  # as written in modules.toml
    recipe: Recipe = field(default_factory=Recipe)
    depends: tuple[str, ...] = ()  # module names (normalised keys of other [modules.*])
    ssl_variants: tuple[str, ...] = ()  # empty: the module has no SSL choice
    exclude_arches: tuple[str, ...] = ()  # canonical arch keys
    pythons: str | None = None  # PEP 440 specifier limiting Pythons
    overrides: tuple[Override, ...] = ()

    @property
    def key(self) -> str:
        return normalize_name(self.name)


@dataclass(frozen=True)
class Defaults:
    pythons: tuple[str, ...] = ("3.12", "3.13")
    arches: tuple[str, ...] = ("amd64", "arm64v8", "armv7")
    alpine: str = "3.20"
    base_image: str = "python:{python}-alpine{alpine}"
    # no default: a repository this project does not own could serve wheels to every user
    repository: str | None = None
    no_shared_repository: str | None = None
    ssl: str = "openssl"
    mode: Mode = Mode.EMULATE


@dataclass(frozen=True)
class Config:
    path: str  # the file it came from, for messages
    defaults: Defaults
    modules: tuple[ModuleConfig, ...] = ()

    def module(self, name: str) -> ModuleConfig | None:
        return self._by_key.get(normalize_name(name))

    @functools.cached_property
    def _by_key(self) -> dict[str, ModuleConfig]:
        """The modules by key, made once: a look-up per dependency stays O(1) for big files."""
        return {m.key: m for m in self.modules}


# --- planned targets ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One wheel to build: module x version x Python x arch x SSL x flavour."""

    module: str  # the index's own spelling
    version: str
    python: str  # "X.Y"
    arch: Arch
    ssl: str | None  # None when the module has no SSL variants
    flavour: Flavour
    base_image: str  # fully resolved, e.g. python:3.12-alpine3.20
    repository: (
        str | None
    )  # where the wheel image goes (per flavour, or --repository); None: nowhere
    recipe: Recipe
    depends: tuple[str, ...] = ()  # ids of the targets this one needs first
    # (platform, digest of the base image's manifest for it), as the registry gave them when the
    # target was planned; empty when it could not be asked (then the tag is used)
    base_digests: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        return normalize_name(self.module)

    def base_image_on(self, platform: str | None) -> str | None:
        """``<repository>@<digest>``: the base image's manifest for ``platform`` as planned;
        None when the plan has no digest for it."""
        digest = dict(self.base_digests).get(platform) if platform else None
        if digest is None:
            return None
        return f"{split_image_ref(self.base_image)[0]}@{digest}"

    @property
    def pinned_base_image(self) -> str:
        """The base image the target's build and test use: its platform's manifest by digest,
        else (no digest planned) the tag, whatever the local image store holds under it."""
        return self.base_image_on(self.platform) or self.base_image

    @property
    def version_tag(self) -> str:
        """``<module>[-ssl]<version>-py<X.Y>``: the multi-arch image tag."""
        ssl = f"-{self.ssl}" if self.ssl else ""
        return f"{self.module}{ssl}{self.version}-py{self.python}"

    @property
    def tag(self) -> str:
        """``<module>[-ssl]<version>-py<X.Y>-<archtag>``: the per-arch image tag."""
        return f"{self.version_tag}-{self.arch.tag}"

    @property
    def wheel_repository(self) -> str:
        """The repository, or the usage error that says how to name one."""
        if self.repository is None:
            raise UsageError(NO_REPOSITORY, hint=NO_REPOSITORY_HINT)
        return self.repository

    @property
    def image(self) -> str:
        return f"{self.wheel_repository}:{self.tag}"

    @property
    def multiarch_image(self) -> str:
        return f"{self.wheel_repository}:{self.version_tag}"

    @property
    def wheel_dir(self) -> str:
        """Relative to the wheels root: the canonical arch key."""
        return self.arch.key

    @property
    def platform(self) -> str:
        return self.arch.platform

    @property
    def id(self) -> str:
        """Unique within a plan (the flavour is part of it: both may be planned together)."""
        return f"{self.tag}@{self.flavour.value}"


_NORMALIZE = re.compile(r"[-_.]+")


def normalize_name(name: str) -> str:
    """PEP 503 normalisation."""
    return _NORMALIZE.sub("-", name).lower()


# --- facts from the outside world (the index, the base-image registry) -------------------------
# Pure logic receives these through the two Protocols below; sources/packageindex.py and sources/registry.py implement them
# over HTTP, unit tests implement them with plain objects.


@dataclass(frozen=True)
class Project:
    """What the package index knows about one project."""

    name: str  # the index's own spelling, e.g. "PyNaCl"
    versions: tuple[str, ...]  # every version with at least one file, in index order
    yanked: frozenset[str] = frozenset()  # versions whose every file is yanked
    # version -> its Requires-Python specifier (PEP 503 ``data-requires-python``, PEP 691
    # ``requires-python``), in ``versions`` order. One rule per version: the value of its sdist
    # when it has one (we build from the sdist), else the loosest value among its files; a file
    # without a value, or with one that is not a valid specifier (pip ignores those), admits
    # every Python and so is the loosest. Versions that admit every Python are left out.
    requires_python: tuple[tuple[str, str], ...] = ()
    sdists: frozenset[str] = frozenset()  # versions with a source distribution on the index


class ProjectLookup(Protocol):
    def project(self, name: str) -> Project | None:
        """The project called ``name`` (compared PEP 503-normalised), or None if the index has none.

        Raises ResolutionError when the index cannot be asked (unreachable, bad answer).
        """


class RememberedProjects:
    """A :class:`ProjectLookup` that asks ``source`` about each (PEP 503-normalised) name once.

    The one memo of project answers: a run makes one and hands it to the tag parser and the
    planner (each wraps a bare lookup in its own, see :func:`remembered`). ``known`` holds every
    answer so far (None: the index has no such project). Errors are not remembered.
    """

    def __init__(self, source: ProjectLookup) -> None:
        self.source = source
        self.known: dict[str, Project | None] = {}

    def project(self, name: str) -> Project | None:
        key = normalize_name(name)
        if key not in self.known:
            self.known[key] = self.source.project(name)
        return self.known[key]


def remembered(lookup: ProjectLookup) -> RememberedProjects:
    """``lookup`` itself when it already remembers its answers, else a memo around it."""
    return lookup if isinstance(lookup, RememberedProjects) else RememberedProjects(lookup)


class ImageLookup(Protocol):
    def tags(self, repository: str) -> tuple[str, ...]:
        """Every tag of an image repository (``python``, ``127.0.0.1:5000/standin/python``).

        Raises ResolutionError when the registry cannot be asked.
        """

    def platforms(self, image: str) -> tuple[str, ...] | None:
        """The platforms (``linux/arm64``...) an image is published for; None if no such tag.

        A single-platform image (no manifest list) gives its one platform.
        """

    def digests(self, image: str) -> tuple[tuple[str, str], ...] | None:
        """(platform, digest of its manifest) for the platforms of ``image`` (a platform whose
        manifest has no digest is left out); None if no such tag.

        Raises ResolutionError when the registry cannot be asked.
        """
