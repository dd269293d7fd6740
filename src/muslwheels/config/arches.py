"""The architecture table (README "Target tags"): every per-architecture fact, written once.

Python reads the table directly; the Dockerfile's scripts (docker/bin) receive what they need of it
as build args (``build.modes.cross_build_args``), and keep no table of their own.
tests/unit/test_arch_table.py holds the stand-in's build scripts (tests/standins) to it.

One row per architecture:

- ``key``: canonical; also the folder under wheels/;
- ``tag``: the suffix used in image tags; ``platform``: Docker's platform string;
- ``aliases``: other accepted spellings of the architecture;
- ``wheel_machine``: ``platform.machine()`` (``uname -m``) on it, hence the machine part of its
  ``linux_``/``musllinux_`` wheel platform tags, the ``platform_machine`` marker, and the
  ``--machine`` crossenv is given in cross mode (``MW_CROSS_MACHINE``);
- ``machine_aliases``: other spellings of ``platform.machine()`` some systems report for it;
- ``apk_arch``: Alpine's name of it (``apk --arch``, ``/etc/apk/arch``);
- ``zig_triple``, ``zig_cpu``: zig's target for the musl C library and the ``-mcpu`` Alpine's
  baseline needs ("" when the triple alone pins it);
- ``rust_triple``: Rust's target for the musl C library ("" when Rust has none);
- ``multiarch``: the triplet CPython reports on musl (sysconfig ``MULTIARCH``);
- ``qemu``: QEMU's name for it (the binfmt handler ``qemu-<name>``, the binary
  ``qemu-<name>-static``), needed wherever the build machine's CPU does not run it;
- ``qemu_cpu``: the CPU QEMU must emulate (``QEMU_CPU``) for a container of the platform to run only
  what the platform's CPUs run and report its machine in ``uname -m`` ("" when QEMU's default
  does: armv6 shares ``qemu-arm`` with armv7, whose default CPU runs ARMv7 code and says armv7l);
- ``elf``: (ELF class: 32 or 64 bits, byte order: "little" or "big", ``e_machine``) of its programs;
- ``arm_cpu_arches``: for 32-bit ARM, where ``e_machine`` is one for v6 and v7 alike: the
  ``Tag_CPU_arch`` values (of an ELF file's ``.ARM.attributes``) its CPUs run (empty: not checked);
- ``also_runs``: the architectures each CPU of this one runs natively besides its own;
  ``may_run``: those some CPUs of it run natively and others do not (64-bit ARM without AArch32),
  trusted when the builder itself reports the platform.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ElfKind = tuple[Literal[32, 64], Literal["little", "big"], int]

# ELF e_machine values (the System V ABI's registry).
EM_386 = 3
EM_PPC64 = 21
EM_S390 = 22
EM_ARM = 40
EM_X86_64 = 62
EM_AARCH64 = 183
EM_RISCV = 243

# Tag_CPU_arch values (the ARM ELF ABI's build attributes): pre-v4 to v6KZ, v6T2, v6K, v7 (A/R).
ARM_UP_TO_V6KZ = (0, 1, 2, 3, 4, 5, 6, 7)
ARM_V6T2, ARM_V6K, ARM_V7 = 8, 9, 10


@dataclass(frozen=True, order=True)
class Arch:
    key: str
    tag: str
    platform: str
    aliases: tuple[str, ...] = ()
    wheel_machine: str = ""
    machine_aliases: tuple[str, ...] = ()
    apk_arch: str = ""
    zig_triple: str = ""
    zig_cpu: str = ""
    rust_triple: str = ""
    multiarch: str = ""
    qemu: str = ""
    qemu_cpu: str = ""
    elf: ElfKind | None = None
    arm_cpu_arches: tuple[int, ...] = ()
    also_runs: tuple[str, ...] = ()
    may_run: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return (self.key, self.tag, *self.aliases)

    @property
    def qemu_handler(self) -> str:
        """The binfmt handler QEMU registers for this architecture (``qemu-aarch64``)."""
        return f"qemu-{self.qemu}"


ARCHES: tuple[Arch, ...] = (
    Arch(
        "amd64",
        "amd64",
        "linux/amd64",
        ("x86_64",),
        wheel_machine="x86_64",
        machine_aliases=("amd64",),
        apk_arch="x86_64",
        zig_triple="x86_64-linux-musl",
        rust_triple="x86_64-unknown-linux-musl",
        multiarch="x86_64-linux-musl",
        qemu="x86_64",
        elf=(64, "little", EM_X86_64),
        also_runs=("i386",),
    ),
    Arch(
        "arm64v8",
        "arm64v8",
        "linux/arm64",
        ("arm64", "aarch64"),
        wheel_machine="aarch64",
        machine_aliases=("arm64",),
        apk_arch="aarch64",
        zig_triple="aarch64-linux-musl",
        rust_triple="aarch64-unknown-linux-musl",
        multiarch="aarch64-linux-musl",
        qemu="aarch64",
        elf=(64, "little", EM_AARCH64),
        may_run=("armv7", "armv6"),
    ),
    Arch(
        "armv6",
        "armv6",
        "linux/arm/v6",
        ("armhf", "armv6l"),
        wheel_machine="armv6l",
        apk_arch="armhf",
        zig_triple="arm-linux-musleabihf",
        zig_cpu="arm1176jzf_s",
        rust_triple="arm-unknown-linux-musleabihf",
        multiarch="arm-linux-musleabihf",
        qemu="arm",
        qemu_cpu="arm1176",
        elf=(32, "little", EM_ARM),
        arm_cpu_arches=(*ARM_UP_TO_V6KZ, ARM_V6K),  # ARM1176JZF-S: ARMv6KZ, no Thumb-2
    ),
    Arch(
        "armv7",
        "armv7",
        "linux/arm/v7",
        ("arm", "armv7l"),
        wheel_machine="armv7l",
        apk_arch="armv7",
        zig_triple="arm-linux-musleabihf",
        zig_cpu="generic+v7a+vfp3d16",
        rust_triple="armv7-unknown-linux-musleabihf",
        multiarch="arm-linux-musleabihf",
        qemu="arm",
        elf=(32, "little", EM_ARM),
        arm_cpu_arches=(*ARM_UP_TO_V6KZ, ARM_V6T2, ARM_V6K, ARM_V7),
        also_runs=("armv6",),
    ),
    Arch(
        "i386",
        "386",
        "linux/386",
        ("386", "i686", "x86"),
        wheel_machine="i686",
        machine_aliases=("i386",),
        apk_arch="x86",
        zig_triple="x86-linux-musl",
        zig_cpu="pentium4",
        rust_triple="i686-unknown-linux-musl",
        multiarch="i386-linux-musl",
        qemu="i386",
        elf=(32, "little", EM_386),
    ),
    Arch(
        "ppc64le",
        "ppc64le",
        "linux/ppc64le",
        wheel_machine="ppc64le",
        apk_arch="ppc64le",
        zig_triple="powerpc64le-linux-musl",
        rust_triple="powerpc64le-unknown-linux-musl",
        multiarch="powerpc64le-linux-musl",
        qemu="ppc64le",
        elf=(64, "little", EM_PPC64),
    ),
    Arch(
        "s390x",
        "s390x",
        "linux/s390x",
        wheel_machine="s390x",
        apk_arch="s390x",
        zig_triple="s390x-linux-musl",
        rust_triple="s390x-unknown-linux-musl",
        multiarch="s390x-linux-musl",
        qemu="s390x",
        elf=(64, "big", EM_S390),
    ),
    Arch(
        "riscv64",
        "riscv64",
        "linux/riscv64",
        wheel_machine="riscv64",
        apk_arch="riscv64",
        zig_triple="riscv64-linux-musl",
        rust_triple="riscv64gc-unknown-linux-musl",
        multiarch="riscv64-linux-musl",
        qemu="riscv64",
        elf=(64, "little", EM_RISCV),
    ),
)

_BY_NAME: dict[str, Arch] = {name.lower(): a for a in ARCHES for name in a.names}
_BY_PLATFORM: dict[str, Arch] = {a.platform: a for a in ARCHES}
_BY_MACHINE: dict[str, Arch] = {
    m: a for a in ARCHES for m in (a.wheel_machine, *a.machine_aliases) if m
}


def lookup_arch(name: str) -> Arch | None:
    """The architecture a key, tag suffix or alias names (case-insensitive), or None."""
    return _BY_NAME.get(name.lower())


def arch_for_platform(platform: str) -> Arch | None:
    """The architecture of a docker platform string (``linux/arm64``, ``linux/arm64/v8``...)."""
    normalized = platform.lower()
    if normalized == "linux/arm64/v8":
        normalized = "linux/arm64"
    if normalized == "linux/arm":
        normalized = "linux/arm/v7"
    return _BY_PLATFORM.get(normalized)


def arch_for_machine(machine: str) -> Arch | None:
    """The architecture of a CPU as ``platform.machine()`` names it (x86_64, aarch64...), or None."""
    return _BY_MACHINE.get(machine.lower())


def arch_names() -> tuple[str, ...]:
    """Every accepted spelling, for error messages and the tag grammar."""
    return tuple(sorted(_BY_NAME))
