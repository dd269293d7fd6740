"""The run description: a task's flags cascaded over the environment, decided once per run.

The only module of src/ that reads the process environment (:func:`process_environment`); every
other one gets what it needs from :class:`RunOptions`. One truthiness rule for every switch (README
"Environment switches"): ``1 true yes on`` are true, ``0 false no off`` and the empty string are
false (any case), anything else is a usage error. A flag that was given always wins over the
environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from types import MappingProxyType

from .config.imageref import normalize_repository, split_image_name
from .config.model import Flavour, Mode
from .errors import UsageError, shown
from .plan.baseimage import template_problem
from .sources.net import DEFAULT_REQUEST_TIMEOUT, DEFAULT_RUN_BUDGET

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})

#: Environment switch -> the CLI option it stands for (documented in the README).
SWITCHES: Mapping[str, str] = {
    "DO_PUSH": "--push",
    "NO_PUSH": "--no-push",
    "NO_BUILD": "--dry-run",
    "NOOP": "--dry-run",
    "NO_SHARED": "--no-shared",
    "NO_SELF_PULL": "--no-self-pull",
    "NO_TEST": "--no-test",
    "WHEELS_FORCE_PULL": "--force-pull",
}


def process_environment() -> Mapping[str, str]:
    """A frozen copy of this process's environment: the only place src/ reads it (the layer
    contract test enforces that); everything else gets the mapping as an argument."""
    return MappingProxyType(dict(os.environ))


def truthy(env: Mapping[str, str], name: str) -> bool:
    """The value of one environment switch under the documented rule."""
    raw = env.get(name)
    if raw is None:
        return False
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise UsageError(
        f"environment variable {name}={shown(raw)} is neither true nor false",
        hint="use 1/true/yes/on or 0/false/no/off (or unset it)",
    )


class PushMode(Enum):
    """Whether the wheel images are pushed: not at all, only printed, or for real."""

    OFF = "off"
    DRY = "dry"
    ON = "on"


@dataclass(frozen=True)
class _Common:
    """The fields a flag and the run description share by name, type and default: as given
    (:class:`Flags`), or as decided (:class:`RunOptions`: the flag, else the environment)."""

    dry_run: bool = False  # also NOOP, NO_BUILD
    force_pull: bool = False  # also WHEELS_FORCE_PULL
    force: bool = False
    jobs: int = 1
    builder: str | None = None  # also BUILDX_BUILDER
    base_image: str | None = None  # also BASE_IMAGE (checked); None: modules.toml decides
    repository: str | None = None  # also DOCKER_REPO, IMAGE_NAME (normalised)
    refresh: bool = False
    offline: bool = False
    no_cache: bool = False
    attest: bool = False  # provenance and SBOM attestations on the pushed wheel images


@dataclass(frozen=True)
class Flags(_Common):
    """A task's flags as the user gave them: False / None / () means "not given", so the
    environment decides. Tasks fill it by keyword; :func:`make_run_options` reads it once."""

    tags: Sequence[str] = ()
    no_shared: bool = False
    push: bool = False
    no_self_pull: bool = False
    mode: str | None = None
    timeout: str | None = None  # --timeout SECONDS[,BUDGET]
    no_test: bool = False
    #: the command itself pushes (``invoke push``): DO_PUSH is implied, NO_PUSH still makes it dry
    pushing: bool = False


@dataclass(frozen=True)
class RunOptions(_Common):
    """Everything a command needs to know about how to run, decided once."""

    tags: tuple[str, ...] = ()
    flavour: Flavour = Flavour.SHARED
    push: PushMode = PushMode.OFF
    self_pull: bool = True
    mode: Mode | None = None
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT  # seconds for one HTTP request, retries in
    network_budget: float = DEFAULT_RUN_BUDGET  # seconds for all of them together
    revision: str | None = None  # SOURCE_COMMIT: the wheel images' revision label
    docker_host: str = ""  # DOCKER_HOST, to tell a local daemon from a remote one
    env: Mapping[str, str] = field(default_factory=dict, repr=False)  # for pip and Docker's config
    test: bool = True  # each built target's test step (--no-test / NO_TEST: off)
    #: MUSLWHEELS_CARGO_CONFIG: a cargo config file (a crate mirror, private registries and their
    #: tokens) that the builds' cargo reads as a BuildKit secret; None: cargo gets none of the user's
    cargo_config: str | None = None

    def require_tags(self) -> tuple[str, ...]:
        """The tags, or the usage error that says how to give one."""
        if not self.tags:
            raise UsageError(
                "no target tag given",
                hint="pass --tag MODULE[VERSION][-pyX.Y][-ARCH], e.g. --tag "
                "paramiko-py3.12-aarch64 (or set DOCKER_TAG)",
            )
        return self.tags


def _switch(given: bool, env: Mapping[str, str], *names: str) -> bool:
    return given or any(truthy(env, n) for n in names)


def _push_mode(flags: Flags, env: Mapping[str, str], *, dry_run: bool) -> PushMode:
    """The one place push is decided: --push, DO_PUSH or the push command ask for it; --dry-run
    or NOOP/NO_BUILD only print; NO_PUSH beats DO_PUSH (it is the safer of the two) but not an
    explicit --push."""
    if not (flags.push or flags.pushing or truthy(env, "DO_PUSH")):
        return PushMode.OFF
    if dry_run:
        return PushMode.DRY
    if not flags.push and truthy(env, "NO_PUSH"):
        return PushMode.DRY
    return PushMode.ON


def _tags(flags: Flags, env: Mapping[str, str]) -> tuple[str, ...]:
    """--tag values, else DOCKER_TAG (Docker Hub's hooks) comma-separated, else the tag of
    IMAGE_NAME; () when none of them names one."""
    found = [t.strip() for t in flags.tags if t.strip()]
    if not found and env.get("DOCKER_TAG"):
        found = [t.strip() for t in env["DOCKER_TAG"].split(",") if t.strip()]
    if not found and env.get("IMAGE_NAME"):
        tag = split_image_name(env["IMAGE_NAME"])[1]
        found = [tag] if tag else []
    return tuple(dict.fromkeys(found))


def _repository(flags: Flags, env: Mapping[str, str]) -> str | None:
    """--repository, else DOCKER_REPO (Docker Hub's form, with the registry host in front,
    normalised), else the repository of IMAGE_NAME, else None (modules.toml decides)."""
    repository = flags.repository or env.get("DOCKER_REPO") or None
    if not repository and env.get("IMAGE_NAME"):
        repository = split_image_name(env["IMAGE_NAME"])[0]
    return normalize_repository(repository) if repository else None


def _cargo_config(env: Mapping[str, str]) -> str | None:
    """MUSLWHEELS_CARGO_CONFIG: the one way the builds' cargo gets the user's settings (a crate
    mirror, a private registry and its token). Nothing else of the user's cargo setup (its
    CARGO_* variables, ~/.cargo) reaches a build."""
    raw = env.get("MUSLWHEELS_CARGO_CONFIG", "")
    if not raw:
        return None
    if not Path(raw).is_file():
        raise UsageError(
            f"MUSLWHEELS_CARGO_CONFIG={shown(raw)} is not a file",
            hint="name a cargo config.toml (it reaches the builds as a secret), or unset it",
        )
    if not os.access(raw, os.R_OK):
        raise UsageError(
            f"MUSLWHEELS_CARGO_CONFIG={shown(raw)} cannot be read",
            hint="make it readable by this user, or unset it",
        )
    return raw


def _timeouts(flags: Flags, env: Mapping[str, str]) -> tuple[float, float]:
    """--timeout, else MUSLWHEELS_TIMEOUT: ``SECONDS`` for one request (retries included) or
    ``SECONDS,BUDGET`` with the run's budget for all of them; the budget defaults to four
    requests' worth, and at least the default."""
    given, source = flags.timeout, "--timeout"
    if given is None and env.get("MUSLWHEELS_TIMEOUT", "").strip():
        given, source = env["MUSLWHEELS_TIMEOUT"], "MUSLWHEELS_TIMEOUT"
    if given is None:
        return DEFAULT_REQUEST_TIMEOUT, DEFAULT_RUN_BUDGET
    parts = given.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(parts) > 2 or not values or not all(0 < v <= 86400 for v in values):
        raise UsageError(
            f"{source} {shown(given, 40)} is not SECONDS or SECONDS,BUDGET",
            hint="e.g. --timeout 60 (each request) or --timeout 60,300 (and the whole run); "
            "seconds above 0, at most 86400",
        )
    request = values[0]
    budget = values[1] if len(values) == 2 else max(DEFAULT_RUN_BUDGET, 4 * request)
    return request, budget


def _base_image(flags: Flags, env: Mapping[str, str]) -> str | None:
    """--base-image, else BASE_IMAGE, checked here (before anything runs) against the template
    rules and the image reference grammar; None: modules.toml decides."""
    if flags.base_image:
        value, source = flags.base_image, "--base-image"
    elif env.get("BASE_IMAGE"):
        value, source = env["BASE_IMAGE"], "BASE_IMAGE"
    else:
        return None
    problem = template_problem(value)
    if problem:
        raise UsageError(f"{source} {shown(value)} {problem[0]}", hint=f"{source}: {problem[1]}")
    return value


def make_run_options(env: Mapping[str, str], flags: Flags | None = None) -> RunOptions:
    """Cascade the flags over the environment switches: the run description."""
    flags = flags or Flags()
    if flags.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {flags.jobs}")
    if flags.refresh and flags.offline:
        raise UsageError("--refresh and --offline contradict each other", hint="give one of them")
    mode: Mode | None = None
    if flags.mode is not None:
        try:
            mode = Mode(flags.mode.lower())
        except ValueError:
            known = ", ".join(m.value for m in Mode)
            raise UsageError(
                f"unknown --mode {shown(flags.mode)}", hint=f"use one of: {known}"
            ) from None
    base_image = _base_image(flags, env)
    repository = _repository(flags, env)
    dry_run = _switch(flags.dry_run, env, "NOOP", "NO_BUILD")
    request_timeout, network_budget = _timeouts(flags, env)
    shared = not _switch(flags.no_shared, env, "NO_SHARED")
    return RunOptions(
        tags=_tags(flags, env),
        flavour=Flavour.SHARED if shared else Flavour.NO_SHARED,
        dry_run=dry_run,
        push=_push_mode(flags, env, dry_run=dry_run),
        self_pull=not _switch(flags.no_self_pull, env, "NO_SELF_PULL"),
        force_pull=_switch(flags.force_pull, env, "WHEELS_FORCE_PULL"),
        force=flags.force,
        jobs=flags.jobs,
        builder=flags.builder or env.get("BUILDX_BUILDER") or None,
        base_image=base_image,
        repository=repository,
        mode=mode,
        refresh=flags.refresh,
        offline=flags.offline,
        no_cache=flags.no_cache,
        request_timeout=request_timeout,
        network_budget=network_budget,
        revision=env.get("SOURCE_COMMIT") or None,
        docker_host=env.get("DOCKER_HOST", ""),
        env=MappingProxyType(dict(env)),
        test=not _switch(flags.no_test, env, "NO_TEST"),
        attest=flags.attest,
        cargo_config=_cargo_config(env),
    )
