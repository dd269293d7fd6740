"""Run options: the CLI's flags cascaded over the environment switches of the original system.

Pure: the environment arrives as a mapping. One truthiness rule for every switch (README "Environment
switches"): ``1 true yes on`` are true, ``0 false no off`` and the empty string are false (any case),
anything else is a usage error. An explicit CLI flag always wins over the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from .errors import UsageError
from .model import Flavour, Mode

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
        f"environment variable {name}={raw!r} is neither true nor false",
        hint="use 1/true/yes/on or 0/false/no/off (or unset it)",
    )


def _flag(cli: bool | None, env: Mapping[str, str], *names: str) -> bool:
    if cli is not None:
        return cli
    return any(truthy(env, n) for n in names)


@dataclass(frozen=True)
class RunOptions:
    """Everything a task needs to know about how to run, after the cascade."""

    flavour: Flavour = Flavour.SHARED
    dry_run: bool = False
    push: bool = False
    self_pull: bool = True
    force_pull: bool = False
    force: bool = False
    jobs: int = 1
    builder: str | None = None
    base_image: str | None = None
    repository: str | None = None
    mode: Mode | None = None
    refresh: bool = False
    offline: bool = False


def make_run_options(
    env: Mapping[str, str],
    *,
    no_shared: bool | None = None,
    dry_run: bool | None = None,
    push: bool | None = None,
    no_self_pull: bool | None = None,
    force_pull: bool | None = None,
    force: bool = False,
    jobs: int | None = None,
    builder: str | None = None,
    base_image: str | None = None,
    repository: str | None = None,
    mode: str | None = None,
    refresh: bool = False,
    offline: bool = False,
) -> RunOptions:
    """Cascade CLI values (None = not given) over the environment switches."""
    if push is None:
        # NO_PUSH wins over DO_PUSH: it is the safer of the two.
        push = truthy(env, "DO_PUSH") and not truthy(env, "NO_PUSH")
    if jobs is None:
        jobs = 1
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {jobs}")
    if refresh and offline:
        raise UsageError("--refresh and --offline contradict each other", hint="give one of them")
    chosen_mode: Mode | None = None
    if mode is not None:
        try:
            chosen_mode = Mode(mode.lower())
        except ValueError:
            known = ", ".join(m.value for m in Mode)
            raise UsageError(f"unknown --mode {mode!r}", hint=f"use one of: {known}") from None
    shared = not _flag(no_shared, env, "NO_SHARED")
    return RunOptions(
        flavour=Flavour.SHARED if shared else Flavour.NO_SHARED,
        dry_run=_flag(dry_run, env, "NOOP", "NO_BUILD"),
        push=push,
        self_pull=not _flag(no_self_pull, env, "NO_SELF_PULL"),
        force_pull=_flag(force_pull, env, "WHEELS_FORCE_PULL"),
        force=force,
        jobs=jobs,
        builder=builder or env.get("BUILDX_BUILDER") or None,
        base_image=base_image or env.get("BASE_IMAGE") or None,
        repository=repository or env.get("DOCKER_REPO") or None,
        mode=chosen_mode,
        refresh=refresh,
        offline=offline,
    )
