"""The architecture table (README "Target tags"): canonical key, image tag suffix, platform, aliases."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Arch:
    key: str  # canonical; also the folder under wheels/
    tag: str  # suffix used in image tags
    platform: str  # docker platform string
    aliases: tuple[str, ...] = ()
    wheel_machine: str = ""  # the machine part of linux_/musllinux_ wheel platform tags

    @property
    def names(self) -> tuple[str, ...]:
        return (self.key, self.tag, *self.aliases)


ARCHES: tuple[Arch, ...] = (
    Arch("amd64", "amd64", "linux/amd64", ("x86_64",), "x86_64"),
    Arch("arm64v8", "arm64v8", "linux/arm64", ("arm64", "aarch64"), "aarch64"),
    Arch("armv6", "armv6", "linux/arm/v6", ("armhf", "armv6l"), "armv6l"),
    Arch("armv7", "armv7", "linux/arm/v7", ("arm", "armv7l"), "armv7l"),
    Arch("i386", "386", "linux/386", ("386", "i686", "x86"), "i686"),
    Arch("ppc64le", "ppc64le", "linux/ppc64le", (), "ppc64le"),
    Arch("s390x", "s390x", "linux/s390x", (), "s390x"),
    Arch("riscv64", "riscv64", "linux/riscv64", (), "riscv64"),
)

_BY_NAME: dict[str, Arch] = {name.lower(): a for a in ARCHES for name in a.names}
_BY_PLATFORM: dict[str, Arch] = {a.platform: a for a in ARCHES}


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


def arch_names() -> tuple[str, ...]:
    """Every accepted spelling, for error messages and the tag grammar."""
    return tuple(sorted(_BY_NAME))
