"""Which platforms need QEMU, and whether the registered binfmt handlers are good enough. Pure.

engine/docker.py reads ``/proc/sys/fs/binfmt_misc`` and the builder's platform list and hands them in here.
A handler is good enough for container builds when it is enabled and has the ``F`` (fix binary) flag:
the interpreter is then opened at registration time and works inside any container, whose file system
does not hold it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..config.arches import Arch, arch_for_machine, arch_for_platform


@dataclass(frozen=True)
class BinfmtEntry:
    enabled: bool
    interpreter: str
    flags: str


@dataclass(frozen=True)
class EmulationProblem:
    arch: Arch
    handler: str  # qemu-<name>
    problem: str  # one line


def handler_name(arch: Arch) -> str:
    return arch.qemu_handler


def native_keys(host_machine: str) -> tuple[str, ...]:
    """The architectures a ``host_machine`` CPU (``uname -m``) runs without emulation."""
    host = arch_for_machine(host_machine)
    return (host.key, *host.also_runs) if host is not None else ()


def maybe_native_keys(host_machine: str) -> tuple[str, ...]:
    """The architectures some ``host_machine`` CPUs run natively and others do not (64-bit ARM
    without AArch32): trusted when the builder itself reports the platform."""
    host = arch_for_machine(host_machine)
    return host.may_run if host is not None else ()


def parse_binfmt_entry(text: str) -> BinfmtEntry:
    """Parse one /proc/sys/fs/binfmt_misc/<name> file."""
    enabled = False
    interpreter = ""
    flags = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line == "enabled":
            enabled = True
        elif line.startswith("interpreter "):
            interpreter = line.partition(" ")[2].strip()
        elif line.startswith("flags:"):
            flags = line.partition(":")[2].strip()
    return BinfmtEntry(enabled, interpreter, flags)


def normalize_platform(platform: str) -> str:
    arch = arch_for_platform(platform)
    return arch.platform if arch else platform.lower()


def emulation_problems(
    platforms: Iterable[str],
    *,
    host_machine: str,
    handlers: Mapping[str, BinfmtEntry],
    builder_platforms: Sequence[str] = (),
) -> tuple[EmulationProblem, ...]:
    """What keeps a local builder on a ``host_machine`` CPU from running builds for ``platforms``,
    given the registered binfmt ``handlers`` (by name). One problem per architecture at most."""
    native = native_keys(host_machine)
    maybe = maybe_native_keys(host_machine)
    reported = {normalize_platform(p) for p in builder_platforms}
    problems: list[EmulationProblem] = []
    seen: set[str] = set()
    for platform in platforms:
        arch = arch_for_platform(platform)
        if arch is None:
            raise ValueError(f"unknown platform {platform!r}")
        if arch.key in seen or arch.key in native:
            continue
        seen.add(arch.key)
        if arch.key in maybe and arch.platform in reported:
            continue
        name = handler_name(arch)
        entry = handlers.get(name)
        if entry is None:
            problem = f"no QEMU handler {name} is registered for {arch.platform}"
        elif not entry.enabled:
            problem = f"the QEMU handler {name} for {arch.platform} is disabled"
        elif "F" not in entry.flags:
            problem = (
                f"the QEMU handler {name} for {arch.platform} lacks the F flag "
                "(its interpreter cannot be found inside containers)"
            )
        else:
            continue
        problems.append(EmulationProblem(arch, name, problem))
    return tuple(problems)


def registration_hint(problems: Sequence[EmulationProblem]) -> str:
    """What to run to fix ``problems`` (Debian's qemu-user-static registers with the F flag)."""
    names = sorted({p.handler for p in problems})
    enable = "; ".join(f"update-binfmts --enable {n}" for n in names)
    return (
        f"as root run: {enable} (install qemu-user-static and binfmt-support first if "
        "update-binfmts is missing or does not know the handler)"
    )


def remote_registration(platforms: Iterable[str]) -> str:
    """What registers the QEMU handlers of ``platforms`` on a builder's host, naming each handler
    (``update-binfmts --enable qemu-s390x``); ``qemu-<arch>`` for a platform the table lacks."""
    names = sorted(
        {a.qemu_handler if (a := arch_for_platform(p)) else "qemu-<arch>" for p in platforms}
    )
    return "; ".join(f"update-binfmts --enable {n}" for n in names)


def unsupported_platforms(
    platforms: Iterable[str], builder_platforms: Sequence[str]
) -> tuple[str, ...]:
    """The platforms a (remote or container) builder does not report."""
    reported = {normalize_platform(p) for p in builder_platforms}
    return tuple(dict.fromkeys(p for p in platforms if normalize_platform(p) not in reported))
