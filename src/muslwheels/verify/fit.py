"""Does a wheel's file name fit the target it was built for? Pure rules, no file system.

A wheel belongs to a target when its project name and version are the target's, at least one of its
tags runs on the target's Python, and every one of its platform tags is for the target's machine in the
target's flavour:

- *shared* (auditwheel-repaired): ``musllinux_X_Y_<machine>`` or ``manylinux_X_Y_<machine>`` (and the
  legacy ``manylinux1/2010/2014_<machine>`` aliases auditwheel adds); ``linux_<machine>`` is refused,
  it means the repair did not happen.
- *no-shared*: ``linux_<machine>`` only.
- either flavour: ``any`` (a pure-Python wheel; nothing to repair).

The Python part accepts ``cpXY-cpXY`` (the target's own ABI), ``cpXY-none``, ``cp3Z-abi3`` with
Z <= Y (the stable ABI, built against an older minimum), and ``py3`` / ``py3Z`` (Z <= Y) with ABI
``none`` (pure or version-independent wheels).

A wheel's ELF files must be for the machine its tag names (``elf_mismatch``, read from their bytes:
the ELF class, byte order and ``e_machine``, and on 32-bit ARM the ``Tag_CPU_arch`` attribute that
tells ARMv6 code from ARMv7 code).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from packaging.tags import Tag
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..config.arches import ARCHES, Arch, ElfKind
from ..config.model import Flavour, Target
from ..names import escape
from .wheelfile import WheelProblem, parse_wheel_name
from .wheelinfo import arm_cpu_arch, elf_kind

_MANYLINUX_LEGACY = ("manylinux1", "manylinux2010", "manylinux2014")
_POLICY = re.compile(r"(musllinux|manylinux)_(\d+)_(\d+)_(.+)")
_CP = re.compile(r"cp(\d)(\d+)")
_PY = re.compile(r"py(\d)(\d*)")


@dataclass(frozen=True)
class WheelVerdict:
    """The verdict on one wheel file name: ``problems`` is empty when it fits the target."""

    filename: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def _python_tuple(python: str) -> tuple[int, int]:
    major, _, minor = python.partition(".")
    return int(major), int(minor)


def python_fits(tag: Tag, python: str) -> bool:
    """Whether the interpreter/ABI part of one tag runs on CPython ``python`` ("X.Y")."""
    major, minor = _python_tuple(python)
    cp = _CP.fullmatch(tag.interpreter)
    if cp:
        tag_major, tag_minor = int(cp.group(1)), int(cp.group(2))
        if tag_major != major:
            return False
        if tag.abi == "abi3":
            return tag_minor <= minor
        if tag.abi in (f"cp{major}{minor}", "none"):
            return tag_minor == minor
        return False
    py = _PY.fullmatch(tag.interpreter)
    if py and tag.abi == "none":
        if int(py.group(1)) != major:
            return False
        return not py.group(2) or int(py.group(2)) <= minor
    return False


def platform_fits(platform: str, *, machine: str, flavour: Flavour) -> bool:
    """Whether one platform tag is acceptable for a wheel of ``flavour`` on ``machine``."""
    if platform == "any":
        return True
    if flavour is Flavour.NO_SHARED:
        return platform == f"linux_{machine}"
    policy = _POLICY.fullmatch(platform)
    if policy:
        return policy.group(4) == machine
    return any(platform == f"{legacy}_{machine}" for legacy in _MANYLINUX_LEGACY)


def expected_tags(target: Target) -> str:
    """A one-line description of what fits ``target``, for error messages."""
    major, minor = _python_tuple(target.python)
    machine = target.arch.wheel_machine
    if target.flavour is Flavour.NO_SHARED:
        platforms = f"linux_{machine}"
    else:
        platforms = f"musllinux_*_{machine} or manylinux_*_{machine}"
    return (
        f"{target.module} {target.version}, Python cp{major}{minor}-cp{major}{minor} "
        f"(or cp{major}x-abi3 with x <= {minor}, or py{major}-none), "
        f"platform {platforms} (or any)"
    )


def verify_wheel(filename: str, target: Target) -> WheelVerdict:
    """Check one wheel file name against ``target``; every problem found is listed."""
    try:
        parsed = parse_wheel_name(filename)
    except WheelProblem as err:
        return WheelVerdict(escape(filename), (str(err),))
    name, version, tags = parsed.name, parsed.version, parsed.tags
    problems: list[str] = []
    if name != canonicalize_name(target.module):
        problems.append(f"project {name!r} is not {target.module!r}")
    try:
        wanted = Version(target.version)
    except InvalidVersion:
        wanted = None
    if wanted is None or version != wanted:
        problems.append(f"version {version} is not {target.version}")
    if not any(python_fits(tag, target.python) for tag in tags):
        found = ", ".join(sorted({f"{t.interpreter}-{t.abi}" for t in tags}))
        problems.append(f"Python tags {found} do not run on Python {target.python}")
    machine = target.arch.wheel_machine
    foreign = sorted(
        {
            t.platform
            for t in tags
            if not platform_fits(t.platform, machine=machine, flavour=target.flavour)
        }
    )
    if foreign:
        problems.append(
            f"platform {', '.join(foreign)} is not a {target.flavour.value} tag for {machine}"
        )
    return WheelVerdict(filename, tuple(problems))


def dependency_wheel_problem(filename: str, target: Target) -> str | None:
    """None when ``filename`` is a wheel another project may ship in ``target``'s image (same
    Python, machine and flavour), else why not."""
    try:
        tags = parse_wheel_name(filename).tags
    except WheelProblem as err:
        return str(err)
    if not any(python_fits(tag, target.python) for tag in tags):
        return f"not for Python {target.python}"
    machine = target.arch.wheel_machine
    if not all(platform_fits(t.platform, machine=machine, flavour=target.flavour) for t in tags):
        return f"not a {target.flavour.value} wheel for {machine}"
    return None


def wheel_problem_for_folder(filename: str, arch: Arch) -> str | None:
    """Why a wheel (by name) does not belong in ``arch``'s folder (of the index), or None."""
    try:
        tags = parse_wheel_name(filename).tags
    except WheelProblem as err:
        return str(err)
    machine = arch.wheel_machine
    foreign = sorted(
        {
            t.platform
            for t in tags
            if not any(platform_fits(t.platform, machine=machine, flavour=f) for f in Flavour)
        }
    )
    if foreign:
        return (
            f"platform {', '.join(escape(f) for f in foreign)} does not run on {arch.key} "
            f"({machine}): wrong arch folder"
        )
    return None


def wheel_fits(filename: str, target: Target) -> bool:
    return verify_wheel(filename, target).ok


def verify_wheels(filenames: Iterable[str], target: Target) -> tuple[WheelVerdict, ...]:
    """Check what one build produced: every file must be a wheel that fits (at least one)."""
    return tuple(verify_wheel(f, target) for f in sorted(filenames))


def verification_failure(checks: tuple[WheelVerdict, ...], target: Target) -> str | None:
    """None when the build output is acceptable; otherwise the one-line reason it is not."""
    if not checks:
        return f"the build produced no wheel (expected {expected_tags(target)})"
    bad = [c for c in checks if not c.ok]
    if not bad:
        return None
    listed = "; ".join(f"{c.filename}: {', '.join(c.problems)}" for c in bad)
    return f"wheel does not match the target: {listed} (expected {expected_tags(target)})"


# --- the machine of a wheel's ELF files ----------------------------------------------------------

_ARM_ARCH_NAMES = {
    6: "ARMv6",
    7: "ARMv6KZ",
    8: "ARMv6T2",
    9: "ARMv6K",
    10: "ARMv7",
    11: "ARMv6-M",
    12: "ARMv6S-M",
    13: "ARMv7E-M",
    14: "ARMv8-A",
}


def _describe_kind(kind: ElfKind) -> str:
    machines = [a.wheel_machine for a in ARCHES if a.elf == kind]
    if machines:
        return " or ".join(machines)
    bits, order, machine = kind
    return f"ELF machine {machine} ({bits}-bit, {order}-endian)"


def elf_mismatch(data: bytes, arch: Arch) -> str | None:
    """Why an ELF file (its bytes) cannot run on ``arch``'s CPUs, in a few words; None when it can,
    when ``data`` is no ELF file, or when the table knows nothing to check for ``arch``."""
    kind = elf_kind(data)
    if kind is None or arch.elf is None:
        return None
    if kind != arch.elf:
        return f"built for {_describe_kind(kind)}"
    if arch.arm_cpu_arches:
        cpu = arm_cpu_arch(data)
        if cpu is not None and cpu not in arch.arm_cpu_arches:
            name = _ARM_ARCH_NAMES.get(cpu, "an ARM architecture")
            return f"built for {name} (Tag_CPU_arch {cpu})"
    return None


def elf_machine_failure(found: Iterable[tuple[str, bytes]], wheel: str, arch: Arch) -> str | None:
    """None when every ELF file in ``found`` ((member, bytes) of wheel ``wheel``) runs on
    ``arch``; otherwise the one-line reason the wheel must not land."""
    bad = [f"{member} is {why}" for member, data in found if (why := elf_mismatch(data, arch))]
    if not bad:
        return None
    shown = "; ".join(bad[:3]) + (f"; and {len(bad) - 3} more" if len(bad) > 3 else "")
    return (
        f"{wheel}: its tag says {arch.wheel_machine}, but {shown}: a mislabelled wheel never lands"
    )
