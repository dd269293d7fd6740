"""Real builds: docker buildx through DockerEngine, QEMU for arm64, real sdists, real wheels."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest
from localindex import LocalIndex
from packaging.utils import parse_wheel_filename
from support import (
    STANDIN,
    Run,
    make_target,
    run_build,
    run_in_standin,
)

from muslwheels.build.inputs import WheelTestSettings
from muslwheels.build.wheelstore import LOCK_NAME
from muslwheels.config.model import Flavour, Recipe
from muslwheels.config.modules import parse_config, recipe_for
from muslwheels.engine.docker import DockerEngine
from muslwheels.errors import DockerError
from muslwheels.sources.pipconfig import IndexSettings
from muslwheels.sources.pipdownload import PipIndexWheels

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.integration

CEXT = "muslwheels-fixture-cext"
MSGPACK_VERSION = "1.0.8"  # has an sdist; its C extension needs g++

# How the fixture modules are configured, as a user writes it in modules.toml.
MODULES_TOML = """
[modules.muslwheels-fixture-sysenv]
apt = ["libyaml-dev"]
apk = ["yaml-dev"]
env = { MWFIXTURE_BAKED = "baked by modules.toml's env" }

[modules.muslwheels-fixture-dep-a]

[modules.muslwheels-fixture-needs-dep]
depends = ["muslwheels-fixture-dep-a"]
# dep-a only as a wheel: the build works only when the dependency wheel is offered
env = { PIP_ONLY_BINARY = "muslwheels-fixture-dep-a" }
"""


def configured_recipe(
    module: str, arch: str = "amd64", flavour: Flavour = Flavour.SHARED
) -> Recipe:
    config = parse_config(tomllib.loads(MODULES_TOML), "test modules.toml")
    found = config.module(module)
    assert found is not None
    return recipe_for(found, arch=arch, python="3.11", ssl=None, flavour=flavour)


def wheel_tags(path: Path) -> tuple[str, str, set[str], set[str]]:
    """(name, version, {interpreter-abi}, {platform}) of a wheel file."""
    name, version, _, tags = parse_wheel_filename(path.name)
    return (
        str(name),
        str(version),
        {f"{t.interpreter}-{t.abi}" for t in tags},
        {t.platform for t in tags},
    )


def folder_listing(run: Run, arch: str) -> list[str]:
    folder = run.wheels_root / arch
    return sorted(p.name for p in folder.iterdir())


# --- a C extension from the tests' own sdist, native and under QEMU -------------------------------


@pytest.fixture(scope="module")
def cext_run(
    tmp_path_factory: pytest.TempPathFactory, index_settings: IndexSettings, engine: DockerEngine
) -> Run:
    targets = [make_target(CEXT, "amd64"), make_target(CEXT, "arm64v8")]
    return run_build(
        targets, tmp_path_factory.mktemp("cext"), index=index_settings, engine=engine, force=True
    )


@pytest.mark.parametrize(
    ("arch", "platform", "machine"),
    [("amd64", "linux/amd64", "x86_64"), ("arm64v8", "linux/arm64", "aarch64")],
)
def test_c_extension_builds_and_imports(
    cext_run: Run, local_index: LocalIndex, arch: str, platform: str, machine: str
) -> None:
    target = make_target(CEXT, arch)
    result = cext_run.result(target)
    assert result.status == "built", result.message
    wheel = cext_run.wheel(target)
    name, version, pythons, platforms = wheel_tags(wheel)
    assert (name, version, pythons) == (CEXT, "1.0.0", {"cp311-cp311"})
    # auditwheel ran (shared flavour) on the glibc stand-in: manylinux tags for this machine only
    assert platforms, wheel.name
    assert all(p.startswith("manylinux") and p.endswith(f"_{machine}") for p in platforms), (
        platforms
    )
    assert folder_listing(cext_run, arch) == sorted([LOCK_NAME, wheel.name])
    # pip inside the build fetched the sdist from our loopback index
    assert any("muslwheels_fixture_cext-1.0.0.tar.gz" in r for r in local_index.requests)
    # the log on disk holds the whole build
    assert result.log_path is not None
    log = result.log_path.read_text()
    assert "auditwheel repair" in log
    assert f"--platform {platform}" in log
    # it imports and runs on that CPU, and the compiler really targeted it
    out = run_in_standin(
        platform,
        [wheel],
        "import platform, mwfixture_cext as m; print(m.add(2, 40), m.machine(), platform.machine())",
    )
    assert out == f"42 {machine} {machine}"


PLAINLIB = "muslwheels-fixture-plainlib"


def test_a_plain_library_named_like_a_module_builds_and_passes_the_default_test(
    index_settings: IndexSettings, engine: DockerEngine, tmp_path: Path
) -> None:
    """``_native.abi3.so`` exports no ``PyInit__native`` (ctypes loads it): the default test
    imports the package only, not the library, so the wheel lands."""
    target = make_target(PLAINLIB, "amd64")
    tests = WheelTestSettings(modules=(PLAINLIB,), index=PipIndexWheels(index_settings))
    run = run_build(
        [target], tmp_path, index=index_settings, engine=engine, force=True, tests=tests
    )
    result = run.result(target)
    assert result.status == "built", result.message
    assert result.tested == "tested: import mwfixture_plainlib", result.tested
    wheel = run.wheel(target)
    with zipfile.ZipFile(wheel) as archive:
        assert "mwfixture_plainlib/_native.abi3.so" in archive.namelist()
    out = run_in_standin(
        "linux/amd64", [wheel], "import mwfixture_plainlib as m; print(m.add(2, 40))"
    )
    assert out == "42"


def test_present_wheels_are_skipped_without_building(
    cext_run: Run, index_settings: IndexSettings, engine: DockerEngine, tmp_path: Path
) -> None:
    targets = [make_target(CEXT, "amd64"), make_target(CEXT, "arm64v8")]
    for t in targets:
        assert cext_run.result(t).status == "built"

    class NoDocker(DockerEngine):
        def prepare(self, *args: object, **kwargs: object) -> None:
            raise AssertionError("a run with nothing to build must not touch Docker")

    again = run_build(targets, cext_run.wheels_root.parent, index=index_settings, engine=NoDocker())
    assert [r.status for r in again.results] == ["skipped", "skipped"]
    assert [r.wheels for r in again.results] == [cext_run.result(t).wheels for t in targets]


# --- a real package from the real index, through the CA bundle secret ---------------------------


def test_real_package_from_the_index_through_the_ca_secret(
    tmp_path_factory: pytest.TempPathFactory, host_index: IndexSettings, engine: DockerEngine
) -> None:
    # pip's settings of this machine as they are: the default index, PIP_CERT for the TLS proxy
    assert host_index.cert, "this test needs PIP_CERT (pip's CA bundle) set, as on the CI machine"
    target = make_target("msgpack", "amd64", version=MSGPACK_VERSION, recipe=Recipe(apt=("g++",)))
    run = run_build(
        [target], tmp_path_factory.mktemp("msgpack"), index=host_index, engine=engine, force=True
    )
    result = run.result(target)
    assert result.status == "built", result.message
    wheel = run.wheel(target)
    name, version, pythons, platforms = wheel_tags(wheel)
    assert (name, version, pythons) == ("msgpack", MSGPACK_VERSION, {"cp311-cp311"})
    assert all(p.endswith("_x86_64") and not p.startswith("linux_") for p in platforms)
    log = "\n".join(run.recorder.lines[target.id])
    assert f"msgpack-{MSGPACK_VERSION}.tar.gz" in log  # built from the sdist
    out = run_in_standin(
        "linux/amd64",
        [wheel],
        "import msgpack; print(msgpack.Packer.__module__, msgpack.unpackb(msgpack.packb([1, 'a'])))",
    )
    assert out == "msgpack._cmsgpack [1, 'a']"

    # The same build without the CA bundle cannot reach the index: the secret is what makes it
    # work. (Forced: secrets are not part of BuildKit's cache keys.)
    without = run_build(
        [target],
        tmp_path_factory.mktemp("msgpack-nocert"),
        index=IndexSettings(index_url=host_index.index_url),
        engine=engine,
        force=True,
    )
    failed = without.result(target)
    assert failed.status == "failed"
    assert "certificate verify failed" in "\n".join(without.recorder.lines[target.id]).lower()


# --- dependencies: needs-dep builds only with dep-a's wheel offered --------------------------------


def test_dependency_wheel_is_offered_to_the_dependent_build(
    tmp_path_factory: pytest.TempPathFactory, index_settings: IndexSettings, engine: DockerEngine
) -> None:
    dep = make_target(
        "muslwheels-fixture-dep-a", recipe=configured_recipe("muslwheels-fixture-dep-a")
    )
    needs = make_target(
        "muslwheels-fixture-needs-dep",
        recipe=configured_recipe("muslwheels-fixture-needs-dep"),
        depends=[dep],
    )
    # listed dependent-first: the run orders them
    run = run_build(
        [needs, dep],
        tmp_path_factory.mktemp("deps"),
        index=index_settings,
        engine=engine,
        force=True,
    )
    assert [r.status for r in run.results] == ["built", "built"], [r.message for r in run.results]
    dep_wheel, needs_wheel = run.wheel(dep), run.wheel(needs)
    assert dep_wheel.name == "muslwheels_fixture_dep_a-1.0.0-py3-none-any.whl"
    assert needs_wheel.name == "muslwheels_fixture_needs_dep-1.0.0-py3-none-any.whl"
    log = "\n".join(run.recorder.lines[needs.id])
    assert f"offering dependency wheel {dep_wheel.name}" in log
    out = run_in_standin(
        "linux/amd64", [needs_wheel], "import mwfixture_needs_dep as m; print(m.GREETING)"
    )
    assert out == "hello from dep-a 1.0.0"

    # Without the dependency, the same recipe cannot build: dep-a exists only as that wheel.
    alone = make_target("muslwheels-fixture-needs-dep", recipe=needs.recipe)
    control = run_build(
        [alone], tmp_path_factory.mktemp("deps-alone"), index=index_settings, engine=engine
    )
    assert control.result(alone).status == "failed"
    assert "muslwheels-fixture-dep-a" in "\n".join(control.recorder.lines[alone.id])


# --- system packages and env from the recipe; both flavours ---------------------------------------


@pytest.fixture(scope="module")
def sysenv_run(
    tmp_path_factory: pytest.TempPathFactory, index_settings: IndexSettings, engine: DockerEngine
) -> Run:
    module = "muslwheels-fixture-sysenv"
    targets = [
        make_target(module, recipe=configured_recipe(module)),
        make_target(
            module,
            recipe=configured_recipe(module, flavour=Flavour.NO_SHARED),
            flavour=Flavour.NO_SHARED,
        ),
    ]
    return run_build(
        targets, tmp_path_factory.mktemp("sysenv"), index=index_settings, engine=engine, force=True
    )


def test_system_package_and_env_reach_the_build(sysenv_run: Run) -> None:
    shared = sysenv_run.results[0].target
    assert shared.recipe.apt == ("libyaml-dev",)
    wheel = sysenv_run.wheel(shared)
    _, _, _, platforms = wheel_tags(wheel)
    assert all(p.startswith("manylinux") for p in platforms)
    with zipfile.ZipFile(wheel) as z:
        bundled = [n for n in z.namelist() if ".libs/" in n]
    assert any("libyaml" in n for n in bundled), bundled  # auditwheel grafted the system library
    # the compiler found yaml.h only because the package was installed (the packages step itself
    # may come from the layer cache: its key is the package list)
    # a fresh stand-in has no libyaml: the wheel brings its own; the env value was compiled in
    out = run_in_standin(
        "linux/amd64",
        [wheel],
        "import mwfixture_sysenv as m; print(m.baked()); print(m.yaml_version())",
    )
    baked, yaml_version = out.splitlines()
    assert baked == "baked by modules.toml's env"
    assert yaml_version.count(".") == 2


def test_no_shared_flavour_keeps_the_system_library_outside(sysenv_run: Run) -> None:
    target = sysenv_run.results[1].target
    wheel = sysenv_run.wheel(target)
    _, _, _, platforms = wheel_tags(wheel)
    assert platforms == {"linux_x86_64"}
    with zipfile.ZipFile(wheel) as z:
        assert not [n for n in z.namelist() if ".libs/" in n]
    # it relies on the image's libyaml: without it, the import fails; with it, it works
    with pytest.raises(AssertionError, match="libyaml"):
        run_in_standin("linux/amd64", [wheel], "import mwfixture_sysenv")


# --- a failing module next to a good one ----------------------------------------------------------


def test_failure_is_isolated_and_leaves_nothing(
    tmp_path_factory: pytest.TempPathFactory, index_settings: IndexSettings, engine: DockerEngine
) -> None:
    good = make_target(CEXT)
    bad = make_target("muslwheels-fixture-broken")
    run = run_build(
        [bad, good], tmp_path_factory.mktemp("broken"), index=index_settings, engine=engine
    )
    bad_result, good_result = run.results
    assert good_result.status == "built", good_result.message
    assert bad_result.status == "failed"
    assert bad_result.message.startswith("building the wheel failed (exit code 1)")
    assert "fails to compile on purpose" in bad_result.message
    assert bad_result.wheels == ()
    assert bad_result.log_path is not None
    assert "fails to compile on purpose" in bad_result.log_path.read_text()
    # only the good wheel (and the lock file) in wheels/: no partial or temporary file
    assert folder_listing(run, "amd64") == sorted([LOCK_NAME, *good_result.wheels])


# --- engine problems become clear errors -----------------------------------------------------------


def test_missing_base_image_and_platform_are_named(
    tmp_path_factory: pytest.TempPathFactory, index_settings: IndexSettings, engine: DockerEngine
) -> None:
    missing = make_target(CEXT, base_image=STANDIN.replace("3.11-bookworm", "0.0-no-such-tag"))
    foreign = make_target(CEXT, "armv7")  # the stand-in exists for amd64 and arm64 only
    run = run_build(
        [missing, foreign], tmp_path_factory.mktemp("errors"), index=index_settings, engine=engine
    )
    missing_result, foreign_result = run.results
    assert missing_result.status == "failed"
    assert missing_result.message.startswith(f"base image {missing.base_image} could not be found")
    assert foreign_result.status == "failed"
    assert foreign_result.message == f"base image {STANDIN} is not published for linux/arm/v7"


def test_unknown_builder_is_a_docker_error(engine: DockerEngine) -> None:
    with pytest.raises(DockerError, match="no buildx builder called 'no-such-builder'") as info:
        engine.prepare(["linux/amd64"], builder="no-such-builder")
    assert info.value.hint is not None
    assert "default" in info.value.hint
