"""The other platforms of python:<X.Y>-alpine (armv6, i386, ppc64le, s390x, riscv64), matrix tier only:
msgpack (C), cffi (libffi from the target's sysroot) and PyNaCl (libsodium) from the real index,
cross-compiled on amd64 and emulated, into musllinux_1_2_<machine> wheels, each tested by the
product's test step in a container of its platform and then checked there once more.

The base image is the musl stand-in's other tag, 127.0.0.1:5000/standin/python:3.11-musl-extra,
built on demand by the fixture below (tests/standins/build-musl.sh --extra: the script skips in a
second when the tag was made from its recipe). armv6's containers run on QEMU's arm1176 (the table's
qemu_cpu): an ARMv7 instruction in a wheel fails there.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from support import REGISTRY, STANDIN_REPO, build_standin_on_demand
from test_musl_real import MuslRun, assert_built_and_tested, assert_cross_sysroot, run_musl

from muslwheels.config.model import Mode
from muslwheels.sources.pipconfig import IndexSettings

pytestmark = [pytest.mark.integration, pytest.mark.matrix]

EXTRA = f"{REGISTRY}/{STANDIN_REPO}:3.11-musl-extra"
BUILD_SCRIPT = Path(__file__).resolve().parents[1] / "standins" / "build-musl.sh"
ARCHES = ("armv6", "i386", "ppc64le", "s390x", "riscv64")
MODULES = ("msgpack", "cffi", "PyNaCl")


@functools.cache
def extra_standin() -> str:
    """The stand-in's tag of the other platforms in the registry, built on demand."""
    build_standin_on_demand(BUILD_SCRIPT, "--extra", timeout=5400)
    return EXTRA


@pytest.fixture(
    scope="module",
    params=[(a, m) for a in ARCHES for m in (Mode.CROSS, Mode.EMULATE)],
    ids=lambda p: f"{p[0]}-{p[1].value}",
)
def arch_run(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    host_index: IndexSettings,
) -> MuslRun:
    """MODULES for one architecture in one mode (`-k "armv6 and cross"` builds that one only)."""
    arch, mode = request.param
    image = extra_standin()
    root = tmp_path_factory.mktemp(f"musl-{arch}-{mode.value}")
    return run_musl(root, host_index, mode, arch, MODULES, image=image)


@pytest.mark.parametrize("module", MODULES)
def test_wheels_of_the_other_platforms_build_and_work(arch_run: MuslRun, module: str) -> None:
    assert_built_and_tested(arch_run, module, arch_run.mode.value)
    log = arch_run.log(module)
    if arch_run.mode is Mode.CROSS:
        assert_cross_sysroot(arch_run, module)
    else:
        assert "MW_MODE=cross" not in log
    if arch_run.arch == "armv6":
        # auditwheel has no armv6l policy: the repair step says it retagged, in one line
        assert "auditwheel has no policy for armv6l" in log
