"""Which build mode each target gets, and what cross-compiling a target means. Pure.

Three ways to build a target (``model.Mode`` plus the native case):

- ``native``: the target's platform is the build machine's own; neither QEMU nor a cross compiler is
  involved, whatever the mode says;
- ``emulate``: QEMU runs the whole build for the foreign platform (the Dockerfile's default path);
- ``cross``: the build runs on the build machine's own platform (``$BUILDPLATFORM``) with zig as a
  C/C++ compiler targeting the foreign one, and crossenv around the target Python's sysconfig;
  auditwheel repair runs there too, searching only the target's libraries (copied out of the target
  platform's image, plus the module's system packages installed for the target): nothing runs under
  QEMU.

``auto`` tries cross where the module allows it and falls back to emulation when the cross build
fails; a module whose recipe says ``mode = "emulate"`` (or that needs Rust for an architecture Rust
has no musl target for), or a target whose base image is not musl-based (its probe says so before
anything is built), is emulated from the start, and the summary says why.

Rust in cross mode: cargo and rustc of the build machine's platform, building for the target's musl
triple (``Arch.rust_triple``) with zig as linker and C compiler (docker/bin/mw-cross-tools).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..config.arches import Arch, arch_for_machine, arch_for_platform
from ..config.model import Mode, Recipe


class Strategy(Enum):
    """How a target is to be built (``decide``): the mode of its first attempt, and whether a
    failure falls back to emulation."""

    NATIVE = "native"  # the build machine's own platform: no QEMU, no cross compiler
    EMULATE = "emulate"
    CROSS = "cross"
    CROSS_THEN_EMULATE = "cross-then-emulate"  # mode auto

    @property
    def first_mode(self) -> Mode:
        """The mode of the first build request (native builds on the Dockerfile's default path)."""
        return Mode.CROSS if self in (Strategy.CROSS, Strategy.CROSS_THEN_EMULATE) else Mode.EMULATE


#: System packages that mean the build compiles Rust: in cross mode they are installed for the build
#: machine's platform (with rust-src), not for the target.
RUST_PACKAGES = frozenset({"cargo", "rust", "rustc", "rustup", "rust-src"})

#: Why mode auto emulates a target whose base image is not musl-based (glibc: Debian's python
#: images): cross mode sets up the target's Python from a musl image only.
MUSL_ONLY = "cross mode needs a musl base image"


def build_arch(machine: str) -> Arch | None:
    """The architecture of a build machine (``platform.machine()``: x86_64, aarch64...)."""
    return arch_for_machine(machine)


def cross_build_args(arch: Arch) -> tuple[tuple[str, str], ...] | None:
    """What the Dockerfile's cross stages need to know about ``arch``, as build args; None when
    there is no cross compiler target for it. ``MW_CROSS_CPU`` is "" for the triple's default,
    ``MW_CROSS_RUST_TRIPLE`` "" when Rust has no musl target for it."""
    if not arch.zig_triple:
        return None
    return (
        ("MW_CROSS_TRIPLE", arch.zig_triple),  # zig -target
        ("MW_CROSS_CPU", arch.zig_cpu),  # zig -mcpu
        ("MW_CROSS_APK_ARCH", arch.apk_arch),  # apk --arch
        ("MW_CROSS_MULTIARCH", arch.multiarch),  # the target Python's MULTIARCH
        ("MW_CROSS_MACHINE", arch.wheel_machine),  # crossenv --machine, the wheels' tags
        ("MW_CROSS_RUST_TRIPLE", arch.rust_triple),  # cargo --target
    )


def requested_mode(recipe: Recipe, run_mode: Mode | None, default: Mode) -> Mode:
    """The module's own mode wins (its recipe knows whether it cross-compiles), then the run's
    ``--mode``, then ``[defaults] mode``."""
    if recipe.mode is not None:
        return recipe.mode
    if run_mode is not None:
        return run_mode
    return default


def cross_blocker(recipe: Recipe, arch: Arch) -> str | None:
    """Why ``recipe`` cannot be cross-compiled for ``arch`` at all (decided before building),
    or None."""
    if cross_build_args(arch) is None:
        return f"no cross compiler target is known for {arch.key}"
    rust = rust_packages(recipe)
    if rust and not arch.rust_triple:
        return (
            f"the module needs Rust ({', '.join(rust)}), and Rust has no musl target for {arch.key}"
        )
    return None


def rust_packages(recipe: Recipe) -> list[str]:
    """The recipe's system packages that mean it compiles Rust."""
    return sorted(p for p in (*recipe.apk, *recipe.apt) if _package_name(p) in RUST_PACKAGES)


def _package_name(spec: str) -> str:
    for sep in ("=", "~", "<", ">"):
        spec = spec.split(sep, 1)[0]
    return spec.strip().lower()


@dataclass(frozen=True)
class ModeDecision:
    strategy: Strategy
    note: str = ""  # why the plan is not the one asked for (shown in the summary)
    error: str = ""  # set: the target cannot be built as asked (cross for a module that cannot)


def decide(
    recipe: Recipe,
    arch: Arch,
    *,
    run_mode: Mode | None,
    default: Mode,
    build_platform: str | None,
    musl_base: bool | None = None,
) -> ModeDecision:
    """How to build one target.

    ``build_platform`` is the build machine's own platform (``linux/amd64``), None when unknown
    (then every target counts as foreign). ``cross`` for a recipe that cannot cross-compile is an
    error (the target fails saying why) rather than a silent emulation. ``musl_base``: whether the
    base image is musl-based (its probe's tags), None when not known yet; under auto a glibc base
    image is emulated from the start.
    """
    native = arch_for_platform(build_platform) if build_platform else None
    if native is not None and native.key == arch.key:
        return ModeDecision(Strategy.NATIVE)
    mode = requested_mode(recipe, run_mode, default)
    asked = run_mode or default
    if mode is Mode.EMULATE:
        if recipe.mode is Mode.EMULATE and asked is not Mode.EMULATE:
            return ModeDecision(Strategy.EMULATE, 'the module\'s recipe says mode = "emulate"')
        return ModeDecision(Strategy.EMULATE)
    blocker = cross_blocker(recipe, arch)
    if mode is Mode.CROSS:
        if blocker is not None:
            return ModeDecision(Strategy.CROSS, error=f"cross mode is not possible: {blocker}")
        return ModeDecision(Strategy.CROSS)
    if blocker is not None:
        return ModeDecision(Strategy.EMULATE, blocker)
    if musl_base is False:
        return ModeDecision(Strategy.EMULATE, MUSL_ONLY)
    return ModeDecision(Strategy.CROSS_THEN_EMULATE)


def mode_label(used: str, note: str) -> str:
    """How the summary names the mode a target was built in: ``cross``, ``emulate (fallback:
    <reason>)``, ``emulate (<reason>)``, ``native``."""
    if not note:
        return used
    return f"{used} ({note})"
