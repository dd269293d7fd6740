"""verify/fit.py: which wheel file names belong to a target."""

from __future__ import annotations

import pytest
from fakeimages import make_target

from muslwheels.config.model import Flavour, Target
from muslwheels.verify.fit import (
    expected_tags,
    verification_failure,
    verify_wheel,
    verify_wheels,
    wheel_fits,
)


def target(
    module: str = "msgpack",
    version: str = "1.0.8",
    arch: str = "amd64",
    flavour: Flavour = Flavour.SHARED,
) -> Target:
    return make_target(module, arch, version=version, flavour=flavour)


SHARED = Flavour.SHARED
NO_SHARED = Flavour.NO_SHARED


@pytest.mark.parametrize(
    ("filename", "arch", "flavour"),
    [
        ("msgpack-1.0.8-cp311-cp311-musllinux_1_2_x86_64.whl", "amd64", SHARED),
        ("msgpack-1.0.8-cp311-cp311-musllinux_1_1_aarch64.whl", "arm64v8", SHARED),
        (
            "msgpack-1.0.8-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
            "arm64v8",
            SHARED,
        ),
        ("msgpack-1.0.8-cp311-cp311-manylinux_2_36_x86_64.whl", "amd64", SHARED),
        ("msgpack-1.0.8-cp311-cp311-musllinux_1_2_armv7l.whl", "armv7", SHARED),
        ("msgpack-1.0.8-cp311-cp311-musllinux_1_2_i686.whl", "i386", SHARED),
        ("msgpack-1.0.8-cp311-cp311-linux_x86_64.whl", "amd64", NO_SHARED),
        ("msgpack-1.0.8-cp311-cp311-linux_armv6l.whl", "armv6", NO_SHARED),
        ("msgpack-1.0.8-py3-none-any.whl", "amd64", SHARED),
        ("msgpack-1.0.8-py2.py3-none-any.whl", "s390x", NO_SHARED),
        ("msgpack-1.0.8-cp37-abi3-musllinux_1_2_x86_64.whl", "amd64", SHARED),
        ("msgpack-1.0.8-cp311-abi3-linux_x86_64.whl", "amd64", NO_SHARED),
        ("msgpack-1.0.8-py311-none-any.whl", "amd64", SHARED),
        ("msgpack-1.0.8-1-cp311-cp311-linux_x86_64.whl", "amd64", NO_SHARED),  # build tag
        ("msgpack-1.0.8.0-cp311-cp311-linux_x86_64.whl", "amd64", NO_SHARED),  # 1.0.8 == 1.0.8.0
    ],
)
def test_fitting_wheels(filename: str, arch: str, flavour: Flavour) -> None:
    check = verify_wheel(filename, target(arch=arch, flavour=flavour))
    assert check.ok, check.problems


@pytest.mark.parametrize(
    ("filename", "arch", "flavour", "problem"),
    [
        # unrepaired wheel in the shared flavour
        ("msgpack-1.0.8-cp311-cp311-linux_x86_64.whl", "amd64", SHARED, "linux_x86_64"),
        # repaired wheel in the no-shared flavour
        ("msgpack-1.0.8-cp311-cp311-musllinux_1_2_x86_64.whl", "amd64", NO_SHARED, "musllinux"),
        # wrong machine
        ("msgpack-1.0.8-cp311-cp311-musllinux_1_2_x86_64.whl", "arm64v8", SHARED, "aarch64"),
        ("msgpack-1.0.8-cp311-cp311-linux_aarch64.whl", "amd64", NO_SHARED, "linux_aarch64"),
        ("msgpack-1.0.8-cp311-cp311-musllinux_1_2_armv7l.whl", "armv6", SHARED, "armv7l"),
        # one foreign platform in a compressed tag set spoils the wheel
        (
            "msgpack-1.0.8-cp311-cp311-musllinux_1_2_x86_64.musllinux_1_2_aarch64.whl",
            "amd64",
            SHARED,
            "aarch64",
        ),
        # wrong Python
        ("msgpack-1.0.8-cp312-cp312-musllinux_1_2_x86_64.whl", "amd64", SHARED, "3.11"),
        ("msgpack-1.0.8-cp310-cp310-musllinux_1_2_x86_64.whl", "amd64", SHARED, "3.11"),
        ("msgpack-1.0.8-cp312-abi3-musllinux_1_2_x86_64.whl", "amd64", SHARED, "3.11"),
        ("msgpack-1.0.8-py2-none-any.whl", "amd64", SHARED, "3.11"),
        ("msgpack-1.0.8-pp311-pypy311_pp73-musllinux_1_2_x86_64.whl", "amd64", SHARED, "3.11"),
        ("msgpack-1.0.8-cp311-cp311d-musllinux_1_2_x86_64.whl", "amd64", SHARED, "3.11"),
        # wrong project or version
        ("msgpack_python-1.0.8-cp311-cp311-linux_x86_64.whl", "amd64", NO_SHARED, "project"),
        ("msgpack-1.0.9-cp311-cp311-linux_x86_64.whl", "amd64", NO_SHARED, "version 1.0.9"),
        # not a wheel name at all
        ("msgpack-1.0.8.tar.gz", "amd64", SHARED, "not a valid wheel"),
        ("msgpack-1.0.8-cp311.whl", "amd64", SHARED, "not a valid wheel"),
    ],
)
def test_foreign_wheels(filename: str, arch: str, flavour: Flavour, problem: str) -> None:
    check = verify_wheel(filename, target(arch=arch, flavour=flavour))
    assert not check.ok
    assert problem in " ".join(check.problems)


def test_name_is_compared_normalised() -> None:
    t = target(module="PyNaCl", version="1.5.0")
    assert wheel_fits("PyNaCl-1.5.0-cp311-cp311-musllinux_1_2_x86_64.whl", t)
    assert wheel_fits("pynacl-1.5.0-cp311-cp311-musllinux_1_2_x86_64.whl", t)
    t = target(module="backports.zoneinfo", version="0.2.1")
    assert wheel_fits("backports_zoneinfo-0.2.1-cp311-cp311-musllinux_1_2_x86_64.whl", t)


def test_every_problem_is_listed() -> None:
    check = verify_wheel("other-2.0-cp312-cp312-linux_aarch64.whl", target())
    assert len(check.problems) == 4


def test_build_output_needs_at_least_one_wheel() -> None:
    t = target()
    reason = verification_failure(verify_wheels([], t), t)
    assert reason is not None
    assert "no wheel" in reason
    assert "musllinux_*_x86_64" in reason


def test_one_bad_wheel_fails_the_output_and_names_it() -> None:
    t = target(flavour=NO_SHARED)
    good = "msgpack-1.0.8-cp311-cp311-linux_x86_64.whl"
    bad = "cython-3.0.0-cp311-cp311-linux_x86_64.whl"
    assert verification_failure(verify_wheels([good], t), t) is None
    reason = verification_failure(verify_wheels([good, bad], t), t)
    assert reason is not None
    assert bad in reason
    assert good not in reason
    assert expected_tags(t) in reason


def test_expected_tags_describe_the_flavour() -> None:
    assert "linux_aarch64" in expected_tags(target(arch="arm64v8", flavour=NO_SHARED))
    shared = expected_tags(target(arch="arm64v8"))
    assert "musllinux_*_aarch64" in shared
    assert "cp311-cp311" in shared
