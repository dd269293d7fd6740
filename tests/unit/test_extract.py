"""publish/extract.py: what an exported image may hold, and extraction into <dest>/<arch>/ (fake engine)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakeimages import FakeEngine, FakeRegistry, Image, make_target, real_wheel, wheel_name

from muslwheels.build.wheelstore import LOCK_NAME
from muslwheels.config.model import Flavour
from muslwheels.errors import RegistryError
from muslwheels.publish.extract import (
    ExtractJob,
    ExtractOptions,
    extract_one,
    extract_targets,
    sort_image_files,
    targets_for_platforms,
)
from muslwheels.verify.fit import dependency_wheel_problem

TARGET = make_target("alpha", "arm64v8")
OWN = wheel_name(TARGET)  # alpha-1.0-cp311-cp311-musllinux_1_2_aarch64.whl
DEP = "cffi-1.17.1-cp311-cp311-musllinux_1_2_aarch64.whl"
PURE = "pycparser-2.22-py3-none-any.whl"


def test_own_wheel_first_then_the_dependencies() -> None:
    assert sort_image_files([PURE, DEP, OWN], TARGET, "ref") == (OWN, DEP, PURE)


@pytest.mark.parametrize(
    ("entries", "match"),
    [
        ([OWN, "README.txt"], "something other than wheels: README.txt"),
        ([OWN, "wheels/", f"wheels/{OWN}"], "something other than wheels: wheels/, wheels/"),
        ([f"{OWN} (not a regular file)"], "something other than wheels"),
        (
            ["bin/", "etc/", "etc/passwd", "usr/", "usr/bin/", "usr/bin/python3", "lib/"],
            "and 2 more",
        ),
        ([], "holds no wheel of alpha 1.0 for linux/arm64 \\(it holds nothing"),
        ([DEP], "holds no wheel of alpha 1.0"),
        ([wheel_name(make_target("alpha", "amd64"))], "holds no wheel of alpha 1.0"),
        (
            [OWN, "cffi-1.17.1-cp311-cp311-musllinux_1_2_x86_64.whl"],
            "not a shared wheel for aarch64",
        ),
        ([OWN, "cffi-1.17.1-cp310-cp310-musllinux_1_2_aarch64.whl"], "not for Python 3.11"),
        ([OWN, "not-a-wheel.whl"], "not a valid wheel file name"),
    ],
)
def test_anything_else_is_refused(entries: list[str], match: str) -> None:
    with pytest.raises(RegistryError, match=match) as info:
        sort_image_files(entries, TARGET, "registry.test/w:alpha1.0-py3.11-arm64v8")
    assert "registry.test/w:alpha1.0-py3.11-arm64v8" in str(info.value)
    assert info.value.hint is not None
    assert "nothing was written" in info.value.hint


def test_dependency_wheel_rules() -> None:
    assert dependency_wheel_problem(PURE, TARGET) is None
    assert dependency_wheel_problem(DEP, TARGET) is None
    no_shared = make_target("alpha", "arm64v8", flavour=Flavour.NO_SHARED)
    assert dependency_wheel_problem("x-1-cp311-cp311-linux_aarch64.whl", no_shared) is None
    assert dependency_wheel_problem(DEP, no_shared) == "not a no-shared wheel for aarch64"
    assert dependency_wheel_problem("x-1-cp311-cp311-linux_aarch64.whl", TARGET) == (
        "not a shared wheel for aarch64"
    )


def test_targets_for_the_platforms_of_a_multi_arch_tag() -> None:
    template = make_target("alpha", "amd64")
    targets, unknown = targets_for_platforms(
        template, ["linux/arm64/v8", "linux/amd64", "linux/arm64", "windows/amd64"]
    )
    assert [t.arch.key for t in targets] == ["arm64v8", "amd64"]
    assert all(t.module == "alpha" and t.version == "1.0" for t in targets)
    assert unknown == ("windows/amd64",)


# --- extracting ----------------------------------------------------------------------------------


def setup() -> tuple[FakeRegistry, FakeEngine]:
    registry = FakeRegistry()
    registry.put(
        TARGET.image,
        Image(
            "linux/arm64",
            {OWN: real_wheel(OWN, b"own"), DEP: real_wheel(DEP), PURE: real_wheel(PURE)},
        ),
    )
    return registry, FakeEngine(registry)


def test_extract_writes_verified_wheels(tmp_path: Path) -> None:
    _registry, engine = setup()
    names = extract_one(ExtractJob(TARGET, TARGET.image), ExtractOptions(tmp_path), engine=engine)
    assert names == (OWN, DEP, PURE)
    folder = tmp_path / "arm64v8"
    assert sorted(p.name for p in folder.iterdir()) == sorted([LOCK_NAME, OWN, DEP, PURE])
    assert (folder / OWN).read_bytes() == real_wheel(OWN, b"own")
    assert engine.exports == [(TARGET.image, "linux/arm64", False)]


def test_junk_image_writes_nothing(tmp_path: Path) -> None:
    registry, engine = setup()
    registry.put(TARGET.image, Image("linux/arm64", {OWN: b"own", "notes.txt": b"junk"}))
    with pytest.raises(RegistryError, match=r"notes\.txt"):
        extract_one(ExtractJob(TARGET, TARGET.image), ExtractOptions(tmp_path), engine=engine)
    assert not (tmp_path / "arm64v8").exists()


def test_one_failure_stops_nothing_else(tmp_path: Path) -> None:
    _registry, engine = setup()
    missing = make_target("beta", "arm64v8")
    results = extract_targets(
        [ExtractJob(missing, missing.image), ExtractJob(TARGET, TARGET.image)],
        ExtractOptions(tmp_path, pull=True),
        engine=engine,
    )
    assert [r.status for r in results] == ["failed", "extracted"]
    assert results[0].message == f"image {missing.image} does not exist"
    assert results[0].hint == "check the tag"
    assert results[1].wheels == (OWN, DEP, PURE)
    assert engine.ready == 1
    assert [e[2] for e in engine.exports] == [True, True]  # WHEELS_FORCE_PULL reaches the engine


def test_dry_run_touches_nothing(tmp_path: Path) -> None:
    _registry, engine = setup()
    results = extract_targets(
        [ExtractJob(TARGET, TARGET.multiarch_image)],
        ExtractOptions(tmp_path),
        engine=engine,
        dry_run=True,
    )
    assert [r.status for r in results] == ["would-extract"]
    assert TARGET.multiarch_image in results[0].message
    assert engine.exports == []
    assert engine.ready == 0
    assert list(tmp_path.iterdir()) == []


def test_multi_arch_tag_read_for_one_platform(tmp_path: Path) -> None:
    registry, engine = setup()
    registry.put(TARGET.multiarch_image, Image(None, members=(TARGET.image,)))
    (result,) = extract_targets(
        [ExtractJob(TARGET, TARGET.multiarch_image)], ExtractOptions(tmp_path), engine=engine
    )
    assert result.status == "extracted"
    assert engine.exports == [(TARGET.multiarch_image, "linux/arm64", False)]


def test_a_wheel_that_is_not_valid_inside_is_refused_and_nothing_written(tmp_path: Path) -> None:
    registry, engine = setup()
    files = {OWN: real_wheel(OWN), DEP: b"PK\x03\x04 not a zip at all"}
    registry.put(TARGET.image, Image("linux/arm64", files))
    with pytest.raises(RegistryError, match=f"holds a wheel that is not valid: {DEP}: not a valid"):
        extract_one(ExtractJob(TARGET, TARGET.image), ExtractOptions(tmp_path), engine=engine)
    assert not (tmp_path / "arm64v8").exists()
