"""A wheel whose ELF files are for another machine than its tag never lands: verify.elf_mismatch on
crafted ELF bytes, and build/scheduler.py's landing of a crafted wheel (test_build's fake engine: our seam)."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Literal

import pytest
from fakes import FakeEngine, make_target, run, wheel_name, zip_bytes

from muslwheels.build.inputs import BuildOptions
from muslwheels.config.arches import (
    EM_386,
    EM_AARCH64,
    EM_ARM,
    EM_S390,
    EM_X86_64,
    Arch,
    lookup_arch,
)
from muslwheels.config.model import Mode
from muslwheels.engine.interface import BuildRequest, LocalOutput
from muslwheels.errors import BuildError
from muslwheels.verify.fit import elf_machine_failure, elf_mismatch
from muslwheels.verify.wheelinfo import arm_cpu_arch, elf_kind, elf_members

_SHT_ARM_ATTRIBUTES = 0x70000003


def elf(
    bits: Literal[32, 64], order: Literal["little", "big"], machine: int, attributes: bytes = b""
) -> bytes:
    """A minimal ELF file: its header, and for ``attributes`` an ``.ARM.attributes`` section (32-bit
    only) with their bytes and a section header table of the null section and that one."""
    end = "<" if order == "little" else ">"
    ident = b"\x7fELF" + bytes([1 if bits == 32 else 2, 1 if order == "little" else 2, 1])
    ident = ident.ljust(16, b"\0")
    if bits == 64:
        return ident + struct.pack(
            end + "HHIQQQIHHHHHH", 3, machine, 1, 0, 0, 0, 0, 64, 0, 0, 64, 0, 0
        )
    if not attributes:
        return ident + struct.pack(
            end + "HHIIIIIHHHHHH", 3, machine, 1, 0, 0, 0, 0, 52, 0, 0, 40, 0, 0
        )
    section_at = 52
    table_at = section_at + len(attributes)
    header = ident + struct.pack(
        end + "HHIIIIIHHHHHH", 3, machine, 1, 0, 0, table_at, 0, 52, 0, 0, 40, 2, 0
    )
    null = bytes(40)
    arm = struct.pack(
        end + "IIIIIIIIII", 0, _SHT_ARM_ATTRIBUTES, 0, 0, section_at, len(attributes), 0, 0, 1, 0
    )
    return header + attributes + null + arm


def aeabi(cpu_arch: int, *, cpu_name: bytes = b"") -> bytes:
    """An .ARM.attributes section: the "aeabi" vendor's file-wide attributes, as compilers write them
    (conformance first, a string tag, then Tag_CPU_arch)."""
    attributes = b"\x43" + b"2.09\0"  # Tag_conformance (67), a string
    if cpu_name:
        attributes += b"\x05" + cpu_name + b"\0"  # Tag_CPU_name (5), a string
    attributes += bytes(
        [6, cpu_arch, 8, 1, 9, 2]
    )  # Tag_CPU_arch, Tag_ARM_ISA_use, Tag_THUMB_ISA_use
    file_scope = b"\x01" + struct.pack("<I", 5 + len(attributes)) + attributes
    vendor = b"aeabi\0" + file_scope
    return b"A" + struct.pack("<I", 4 + len(vendor)) + vendor


def arch(name: str) -> Arch:
    found = lookup_arch(name)
    assert found is not None
    return found


X86_64 = elf(64, "little", EM_X86_64)
AARCH64 = elf(64, "little", EM_AARCH64)
S390X = elf(64, "big", EM_S390)
I386 = elf(32, "little", EM_386)
ARM_V6 = elf(32, "little", EM_ARM, aeabi(6, cpu_name=b"arm1176jzf-s"))
ARM_V6KZ = elf(32, "little", EM_ARM, aeabi(7))
ARM_V7 = elf(32, "little", EM_ARM, aeabi(10))
ARM_V8 = elf(32, "little", EM_ARM, aeabi(14))
ARM_BARE = elf(32, "little", EM_ARM)


def test_elf_kind_and_arm_cpu_arch_of_crafted_files() -> None:
    assert elf_kind(X86_64) == (64, "little", EM_X86_64)
    assert elf_kind(S390X) == (64, "big", EM_S390)
    assert elf_kind(I386) == (32, "little", EM_386)
    assert elf_kind(b"#!/bin/sh\n") is None and elf_kind(b"\x7fELF") is None
    assert arm_cpu_arch(ARM_V6) == 6 and arm_cpu_arch(ARM_V7) == 10
    assert arm_cpu_arch(ARM_BARE) is None and arm_cpu_arch(X86_64) is None
    assert arm_cpu_arch(ARM_V7[:60]) is None  # truncated: unknown, no exception


@pytest.mark.parametrize(
    ("data", "key"),
    [
        (X86_64, "amd64"),
        (AARCH64, "arm64v8"),
        (S390X, "s390x"),
        (I386, "i386"),
        (ARM_V6, "armv6"),
        (ARM_V6KZ, "armv6"),
        (ARM_BARE, "armv6"),
        (ARM_V6, "armv7"),
        (ARM_V7, "armv7"),
        (b"not an ELF file", "riscv64"),
    ],
)
def test_files_for_the_machine_fit(data: bytes, key: str) -> None:
    assert elf_mismatch(data, arch(key)) is None


@pytest.mark.parametrize(
    ("data", "key", "why"),
    [
        (X86_64, "arm64v8", "built for x86_64"),
        (AARCH64, "amd64", "built for aarch64"),
        (I386, "amd64", "built for i686"),
        (X86_64, "i386", "built for x86_64"),
        (elf(64, "little", EM_S390), "s390x", "built for ELF machine 22 (64-bit, little-endian)"),
        (AARCH64, "armv7", "built for aarch64"),
        (ARM_V7, "arm64v8", "built for armv6l or armv7l"),
        (ARM_V7, "armv6", "built for ARMv7 (Tag_CPU_arch 10)"),
        (ARM_V8, "armv7", "built for ARMv8-A (Tag_CPU_arch 14)"),
    ],
)
def test_files_for_another_machine_are_named(data: bytes, key: str, why: str) -> None:
    assert elf_mismatch(data, arch(key)) == why


def test_the_failure_names_the_wheel_the_tag_and_the_files() -> None:
    found = [("pkg/_a.so", ARM_V7), ("pkg/data.txt", b"text"), ("pkg.libs/libz.so.1", ARM_V6)]
    assert elf_machine_failure(found, "pkg-1.0-cp311-cp311-linux_armv6l.whl", arch("armv6")) == (
        "pkg-1.0-cp311-cp311-linux_armv6l.whl: its tag says armv6l, but pkg/_a.so is built for "
        "ARMv7 (Tag_CPU_arch 10): a mislabelled wheel never lands"
    )
    assert elf_machine_failure(found, "w.whl", arch("armv7")) is None
    many = [(f"m{i}.so", X86_64) for i in range(5)]
    assert elf_machine_failure(many, "w.whl", arch("riscv64")).endswith(  # type: ignore[union-attr]
        "m2.so is built for x86_64; and 2 more: a mislabelled wheel never lands"
    )


def test_elf_members_reads_every_elf_file_whatever_its_name(tmp_path: Path) -> None:
    wheel = tmp_path / "w.whl"
    wheel.write_bytes(
        zip_bytes({"a/_x.so": X86_64, "a/__init__.py": b"", "w-1.0.data/scripts/tool": AARCH64})
    )
    assert list(elf_members(wheel)) == [("a/_x.so", X86_64), ("w-1.0.data/scripts/tool", AARCH64)]
    broken = tmp_path / "broken.whl"
    broken.write_bytes(b"not a zip")
    with pytest.raises(BuildError, match=r"^broken\.whl: not a readable wheel"):
        list(elf_members(broken))


class ElfEngine(FakeEngine):
    """The fake build, whose wheel holds ``members`` (``cross``: those of a build in cross mode)."""

    def __init__(self, members: dict[str, bytes], cross: dict[str, bytes] | None = None) -> None:
        super().__init__()
        self.members = members
        self.cross = cross

    def build(self, request: BuildRequest, on_line: Callable[[str], None]) -> None:
        super().build(request, on_line)
        assert isinstance(request.output, LocalOutput)
        mode = dict(request.build_args).get("MW_MODE")
        members = self.cross if self.cross is not None and mode == "cross" else self.members
        for wheel in request.output.dest.glob("*.whl"):
            wheel.write_bytes(zip_bytes(members))


@pytest.mark.parametrize("key", ["armv7", "armv6"])
def test_a_mislabelled_wheel_never_lands(options: BuildOptions, key: str) -> None:
    target = make_target("alpha", key)
    engine = ElfEngine({"alpha/_speedups.so": ARM_V7 if key == "armv6" else X86_64})
    (result,) = run([target], options, engine)[0]
    assert result.status == "failed"
    assert result.message.startswith(
        f"{wheel_name(target)}: its tag says {target.arch.wheel_machine}"
    )
    assert "a mislabelled wheel never lands" in result.message
    assert not (options.wheels_root / target.wheel_dir).exists() or not list(
        (options.wheels_root / target.wheel_dir).glob("*.whl")
    )


def test_a_wheel_for_its_machine_lands(options: BuildOptions) -> None:
    target = make_target("alpha", "armv6")
    engine = ElfEngine({"alpha/_speedups.so": ARM_V6, "alpha.libs/libffi.so.8": ARM_BARE})
    (result,) = run([target], options, engine)[0]
    assert result.status == "built", result.message
    assert [p.name for p in (options.wheels_root / "armv6").glob("*.whl")] == [wheel_name(target)]


def test_auto_builds_a_mislabelled_cross_wheel_again_in_emulation(options: BuildOptions) -> None:
    target = make_target("alpha", "armv6")
    engine = ElfEngine({"alpha/_speedups.so": ARM_V6}, cross={"alpha/_speedups.so": ARM_V7})
    auto = replace(options, mode=Mode.AUTO, build_platform="linux/amd64")
    (result,) = run([target], auto, engine)[0]
    assert [dict(r.build_args).get("MW_MODE", "emulate") for r in engine.requests] == [
        "cross",
        "emulate",
    ]
    assert result.status == "built", result.message
    assert result.mode.startswith(
        "emulate (fallback: cross-built wheel alpha-1.0-cp311-cp311-musllinux_1_2_armv6l.whl: its "
        "tag says armv6l, but alpha/_speedups.so is built for ARMv7 (Tag_CPU_arch 10)"
    )


def test_cross_mode_fails_a_mislabelled_wheel(options: BuildOptions) -> None:
    target = make_target("alpha", "armv6")
    engine = ElfEngine({"alpha/_speedups.so": ARM_V7})
    cross = replace(options, mode=Mode.CROSS, build_platform="linux/amd64")
    (result,) = run([target], cross, engine)[0]
    assert [dict(r.build_args).get("MW_MODE", "emulate") for r in engine.requests] == ["cross"]
    assert result.status == "failed" and "a mislabelled wheel never lands" in result.message
