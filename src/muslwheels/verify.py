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
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from packaging.tags import Tag
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .arches import ARCHES, Arch, ElfKind
from .model import Flavour, Target
from .names import escape
from .wheelfile import WheelProblem, parse_wheel_name

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

_SHT_ARM_ATTRIBUTES = 0x70000003
_TAG_FILE = 1
_TAG_CPU_ARCH = 6
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


def elf_kind(data: bytes) -> ElfKind | None:
    """(class in bits, byte order, e_machine) of an ELF file's header; None when ``data`` does not
    start with one."""
    if data[:4] != b"\x7fELF" or len(data) < 20 or data[4] not in (1, 2) or data[5] not in (1, 2):
        return None
    order: Literal["little", "big"] = "little" if data[5] == 1 else "big"
    bits: Literal[32, 64] = 32 if data[4] == 1 else 64
    return bits, order, int.from_bytes(data[18:20], order)


def _uleb128(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def arm_cpu_arch(data: bytes) -> int | None:
    """``Tag_CPU_arch`` of a 32-bit ARM ELF file's ``.ARM.attributes`` (the file-wide "aeabi"
    attributes); None when it has none or they cannot be read."""
    kind = elf_kind(data)
    if kind is None or kind[0] != 32:
        return None
    end = "<" if kind[1] == "little" else ">"
    try:
        shoff = struct.unpack_from(end + "I", data, 0x20)[0]
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x2E)
        for i in range(shnum):
            _, kind_, _, _, offset, size = struct.unpack_from(
                end + "IIIIII", data, shoff + i * shentsize
            )
            if kind_ == _SHT_ARM_ATTRIBUTES and size > 1 and data[offset] == 0x41:  # "A"
                return _aeabi_cpu_arch(data[offset + 1 : offset + size], end)
    except (struct.error, IndexError, ValueError):
        return None
    return None


def _aeabi_cpu_arch(section: bytes, end: str) -> int | None:
    pos = 0
    while pos + 4 <= len(section):
        length = struct.unpack_from(end + "I", section, pos)[0]
        if length < 5:
            return None
        sub = section[pos + 4 : pos + length]
        pos += length
        vendor, _, rest = sub.partition(b"\0")
        if vendor != b"aeabi":
            continue
        inner = 0
        while inner + 5 <= len(rest):
            tag = rest[inner]
            size = struct.unpack_from(end + "I", rest, inner + 1)[0]
            if size < 5:
                return None
            if tag == _TAG_FILE:
                return _attribute(rest[inner + 5 : inner + size], _TAG_CPU_ARCH)
            inner += size
    return None


def _attribute(attributes: bytes, wanted: int) -> int | None:
    """One integer attribute of an "aeabi" attribute list (tags 4, 5 and 67, and odd tags above 32,
    are strings; tag 32 is an integer and a string; the others are integers)."""
    pos = 0
    while pos < len(attributes):
        tag, pos = _uleb128(attributes, pos)
        if tag in (4, 5, 67) or (tag > 32 and tag % 2):
            pos = attributes.index(b"\0", pos) + 1
            continue
        value, pos = _uleb128(attributes, pos)
        if tag == wanted:
            return value
        if tag == 32:
            pos = attributes.index(b"\0", pos) + 1
    return None


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
