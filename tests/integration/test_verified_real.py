"""The runtime closure and the test step against the real engine (issue #14): the closure lands in
wheels/<arch>/ and installs offline; every wheel is tested on its platform (QEMU for arm64) in a clean
container of its base image, in emulate and in cross mode; a failing test fails only its target and
nothing of it lands; a no-shared wheel's runtime packages are found, installed and reported."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import (
    STANDIN,
    Recorder,
    Run,
    make_target,
    run_build,
    run_command,
)
from test_build_real import MSGPACK_VERSION, configured_recipe
from test_cross_real import MUSL, NO_ISOLATION, cross_index  # noqa: F401 - a fixture

from muslwheels.build.inputs import BuildOptions, WheelTestSettings
from muslwheels.build.scheduler import build_targets
from muslwheels.config.model import Flavour, Mode, Recipe
from muslwheels.engine.docker import DockerEngine
from muslwheels.sources.pipconfig import IndexSettings
from muslwheels.sources.pipdownload import PipIndexWheels

pytestmark = pytest.mark.integration

CEXT = "muslwheels-fixture-cext"
SYSENV = "muslwheels-fixture-sysenv"
CFFI_VERSION = "1.17.1"
MODULES = ("cffi", CEXT, SYSENV, "msgpack")


def verify(index: IndexSettings) -> WheelTestSettings:
    return WheelTestSettings(modules=MODULES, index=PipIndexWheels(index))


def listing(root: Path, arch: str) -> list[str]:
    folder = root / arch
    return sorted(p.name for p in folder.glob("*.whl")) if folder.is_dir() else []


def log_of(run: Run, target_id: str) -> str:
    return "\n".join(run.recorder.lines.get(target_id, []))


def install_offline(platform: str, folder: Path, requirement: str, code: str, image: str) -> str:
    """``pip install --no-index --find-links`` of ``requirement`` from ``folder`` in a clean
    container without a network, then ``code``; its stdout."""
    script = (
        "set -e; python -m pip install -q --no-index --no-cache-dir --disable-pip-version-check "
        '--root-user-action=ignore --find-links /w "$1" >&2; exec python -c "$0"'
    )
    done = run_command(
        [
            "docker", "run", "--rm", "--network", "none", "--platform", platform,
            "-v", f"{folder}:/w:ro", image, "sh", "-c", script, code, requirement,
        ],
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, f"offline install failed: {done.stderr[-3000:]}"
    return done.stdout.strip()


# --- the closure: cffi's pure-Python runtime requirement travels with it --------------------------


def test_cffi_closure_installs_offline(
    tmp_path_factory: pytest.TempPathFactory, host_index: IndexSettings, engine: DockerEngine
) -> None:
    target = make_target(
        "cffi",
        "amd64",
        version=CFFI_VERSION,
        recipe=Recipe(apt=("gcc", "libc6-dev", "libffi-dev")),
    )
    run = run_build(
        [target],
        tmp_path_factory.mktemp("cffi"),
        index=host_index,
        engine=engine,
        tests=verify(host_index),
    )
    result = run.result(target)
    assert result.status == "built", result.message
    names = listing(run.wheels_root, "amd64")
    assert len(names) == 2, names
    assert names[0].startswith(f"cffi-{CFFI_VERSION}-cp311-cp311-manylinux")
    assert names[1].startswith("pycparser-") and names[1].endswith("-py3-none-any.whl")
    assert result.tested == "tested: import _cffi_backend, cffi"
    log = log_of(run, target.id)
    assert f"closure: {names[1]} (index; cffi -> pycparser)" in log
    assert "muslwheels: test passed on linux/amd64" in log  # (its output is cached once run)
    out = install_offline(
        "linux/amd64",
        run.wheels_root / "amd64",
        "cffi",
        "import cffi, pycparser; print(cffi.FFI().sizeof('int'), pycparser.__name__)",
        STANDIN,
    )
    assert out == "4 pycparser"


# --- the C-extension fixture and msgpack, amd64 and arm64, emulate and cross ------------------------


def test_cext_and_msgpack_are_tested_on_amd64_and_arm64_in_emulation(
    tmp_path_factory: pytest.TempPathFactory, index_settings: IndexSettings, engine: DockerEngine
) -> None:
    targets = [
        make_target(module, arch, version=version, recipe=recipe)
        for module, version, recipe in (
            (CEXT, "1.0.0", Recipe()),
            ("msgpack", MSGPACK_VERSION, Recipe(apt=("g++",))),
        )
        for arch in ("amd64", "arm64v8")
    ]
    run = run_build(
        targets,
        tmp_path_factory.mktemp("emulated"),
        index=index_settings,
        engine=engine,
        tests=verify(index_settings),
    )
    for target in targets:
        result = run.result(target)
        assert result.status == "built", result.message
        expected = (
            "tested: import mwfixture_cext, mwfixture_cext._native"
            if target.module == CEXT
            else "tested: import msgpack, msgpack._cmsgpack"
        )
        assert result.tested == expected
        assert expected in result.message  # what the summary shows
        log = log_of(run, target.id)
        assert "--file" in log and "test.Dockerfile" in log
        assert f"--platform {target.platform}" in log
        assert "muslwheels: test passed on " in log


def test_cext_and_msgpack_cross_built_are_tested_under_qemu(
    tmp_path_factory: pytest.TempPathFactory,
    cross_index: IndexSettings,  # noqa: F811 - the fixture
) -> None:
    targets = [
        make_target(CEXT, "arm64v8", recipe=Recipe(build=NO_ISOLATION), base_image=MUSL),
        make_target(
            "msgpack",
            "arm64v8",
            version="1.1.0",
            recipe=Recipe(build=NO_ISOLATION),
            base_image=MUSL,
        ),
    ]  # amd64 is native in every mode: the emulation test above covers it
    root = tmp_path_factory.mktemp("cross-tested")
    recorder = Recorder()
    options = BuildOptions(
        wheels_root=root / "wheels",
        log_dir=root / "logs",
        index=cross_index,
        jobs=2,
        force=True,
        mode=Mode.CROSS,
        build_platform="linux/amd64",
        tests=verify(cross_index),
    )
    results = build_targets(targets, options=options, engine=DockerEngine(), reporter=recorder)
    for result in results:
        assert result.status == "built", result.message
        assert result.tested.startswith("tested: import "), result.tested
        lines = recorder.lines[result.target.id]
        assert any("muslwheels: test passed on " in line for line in lines)
        assert result.mode == "cross"
        assert "cross; tested: import" in result.message
        # the build ran on the build platform; the test is what ran on arm64
        assert any("--platform linux/arm64" in x and "test.Dockerfile" in x for x in lines)
        assert any("[crossbuilt" in line for line in lines)


# --- a failing test ------------------------------------------------------------------------------------


def test_a_failing_test_fails_the_target_and_nothing_lands(
    tmp_path_factory: pytest.TempPathFactory, index_settings: IndexSettings, engine: DockerEngine
) -> None:
    failing = make_target(
        CEXT,
        "amd64",
        recipe=Recipe(
            test="python -c \"import mwfixture_cext; raise SystemExit('broken on purpose')\""
        ),
    )
    independent = make_target("muslwheels-fixture-dep-a", "amd64")
    run = run_build(
        [failing, independent],
        tmp_path_factory.mktemp("failing"),
        index=index_settings,
        engine=engine,
        tests=verify(index_settings),
    )
    bad = run.result(failing)
    assert bad.status == "failed"
    assert bad.message.startswith("test failed: ")
    assert run.result(independent).status == "built"
    assert [n for n in listing(run.wheels_root, "amd64") if "cext" in n] == []
    assert bad.log_path is not None
    assert "broken on purpose" in bad.log_path.read_text()


# --- no-shared: the runtime package the wheel links ----------------------------------------------------


def test_no_shared_runtime_package_found_installed_and_needed(
    tmp_path_factory: pytest.TempPathFactory, index_settings: IndexSettings, engine: DockerEngine
) -> None:
    recipe = configured_recipe(SYSENV, flavour=Flavour.NO_SHARED)
    target = make_target(SYSENV, "amd64", recipe=recipe, flavour=Flavour.NO_SHARED)
    run = run_build(
        [target],
        tmp_path_factory.mktemp("noshared"),
        index=index_settings,
        engine=engine,
        tests=verify(index_settings),
        no_cache=True,  # the install is read from the test step's own output: it must run
    )
    result = run.result(target)
    assert result.status == "built", result.message
    assert result.runtime_packages == ("libyaml-0-2",)
    assert "runtime packages: libyaml-0-2" in result.message
    log = log_of(run, target.id)
    assert "runtime packages: apt-get install libyaml-0-2" in log
    assert "muslwheels: test passed on " in log

    # the same wheel with the package taken away again before the import: the test fails
    withheld = make_target(
        SYSENV,
        "amd64",
        recipe=Recipe(
            apt=recipe.apt,
            env=recipe.env,
            test="dpkg --remove --force-depends libyaml-0-2 && python -c 'import mwfixture_sysenv'",
        ),
        flavour=Flavour.NO_SHARED,
    )
    again = run_build(
        [withheld],
        tmp_path_factory.mktemp("noshared-withheld"),
        index=index_settings,
        engine=engine,
        tests=verify(index_settings),
    )
    failed = again.result(withheld)
    assert failed.status == "failed"
    assert "libyaml-0.so.2" in log_of(again, withheld.id)
    assert listing(again.wheels_root, "amd64") == []
