"""One error base class; every user-facing failure is a subclass with its own exit code.

Only the CLI layer prints these (without a traceback); library code raises them.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum


class ExitCode(IntEnum):
    """Documented exit codes (README "Exit codes")."""

    OK = 0
    USAGE = 2  # bad tag, bad option, unknown module/arch/python
    CONFIG = 3  # modules.toml is broken
    RESOLUTION = 4  # index or base-image registry could not answer / has no such version
    DOCKER = 5  # Docker daemon, buildx, builder or emulation unavailable
    BUILD = 6  # at least one target failed to build
    REGISTRY = 7  # pushing to / pulling from the wheel registry failed
    PENDING = 8  # `check`: work is pending (not an error, a status for scripts)
    INTERRUPTED = 130  # Ctrl-C


#: How much of a user's input a message echoes.
ECHO_LIMIT = 80


def shown(text: str, limit: int = ECHO_LIMIT) -> str:
    """User input as a message echoes it: quoted, control characters escaped, at most ``limit``
    characters of it (a longer one is cut, with its length)."""
    if len(text) > limit:
        return f"{text[:limit]!r}... ({len(text)} characters)"
    return repr(text)


class MuslWheelsError(Exception):
    """Base class. ``str(err)`` is one line saying what was wrong and where; ``hint`` what to do."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(MuslWheelsError):
    exit_code = ExitCode.USAGE


class TagError(UsageError):
    """A target tag is malformed, ambiguous or names something that does not exist."""


class ConfigError(MuslWheelsError):
    exit_code = ExitCode.CONFIG


class ResolutionError(MuslWheelsError):
    """The package index or the base-image registry could not answer the question we asked."""

    exit_code = ExitCode.RESOLUTION


class DockerError(MuslWheelsError):
    exit_code = ExitCode.DOCKER


class PlatformsUnsupported(DockerError):
    """The builder can build for none of ``platforms`` (no node for them, no emulation): the
    targets of those platforms cannot be built, the others can."""

    def __init__(self, message: str, *, platforms: Sequence[str], hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.platforms = tuple(platforms)


class BuildError(MuslWheelsError):
    exit_code = ExitCode.BUILD


class RegistryError(MuslWheelsError):
    exit_code = ExitCode.REGISTRY


class Interrupted(MuslWheelsError):
    exit_code = ExitCode.INTERRUPTED
