"""musllinux wheels from the musl stand-in (CPython on musl, zig cc as its compiler, no apk, no ssl)."""

from __future__ import annotations

import json
import urllib.request

import pytest
from packaging.utils import parse_wheel_filename
from support import (
    REGISTRY,
    REQUIRED,
    STANDIN_REPO,
    Run,
    make_target,
    run_build,
    run_in_standin,
)

from muslwheels.docker import DockerEngine
from muslwheels.model import Recipe
from muslwheels.pipconfig import IndexSettings

pytestmark = pytest.mark.integration

MUSL_TAG = "3.11-musl"
MUSL = f"{REGISTRY}/{STANDIN_REPO}:{MUSL_TAG}"
CEXT = "muslwheels-fixture-cext"
# The stand-in's Python has no ssl module, so pip reaches only plain-HTTP indexes (the tests' own, on the
# loopback); the build uses the image's own setuptools instead of fetching one into an isolated env.
NO_ISOLATION = (
    "python -m pip wheel -v --no-deps --no-build-isolation --no-binary {module} "
    "--find-links {deps_dir} --wheel-dir {wheel_dir} {requirement}"
)


@pytest.fixture(scope="module")
def musl_run(
    tmp_path_factory: pytest.TempPathFactory, index_settings: IndexSettings, engine: DockerEngine
) -> Run:
    try:
        url = f"http://{REGISTRY}/v2/{STANDIN_REPO}/tags/list"
        with urllib.request.urlopen(url, timeout=10) as answer:
            tags = json.load(answer).get("tags") or []
    except OSError as err:
        tags = []
        reason = f"the registry does not answer: {err}"
    else:
        reason = f"{MUSL} is not in the registry; run tests/standins/build-musl.sh"
    if MUSL_TAG not in tags:
        if REQUIRED:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    recipe = Recipe(build=NO_ISOLATION)
    targets = [
        make_target(CEXT, arch, recipe=recipe, base_image=MUSL) for arch in ("amd64", "arm64v8")
    ]
    return run_build(
        targets, tmp_path_factory.mktemp("musl"), index=index_settings, engine=engine, force=True
    )


@pytest.mark.parametrize(
    ("arch", "platform", "machine"),
    [("amd64", "linux/amd64", "x86_64"), ("arm64v8", "linux/arm64", "aarch64")],
)
def test_musllinux_wheel_builds_and_imports(
    musl_run: Run, arch: str, platform: str, machine: str
) -> None:
    target = make_target(CEXT, arch, recipe=Recipe(build=NO_ISOLATION), base_image=MUSL)
    result = musl_run.result(target)
    assert result.status == "built", result.message
    wheel = musl_run.wheel(target)
    _, _, _, tags = parse_wheel_filename(wheel.name)
    assert {f"{t.interpreter}-{t.abi}" for t in tags} == {"cp311-cp311"}
    platforms = {t.platform for t in tags}
    assert all(p.startswith("musllinux_1_") and p.endswith(f"_{machine}") for p in platforms), (
        platforms
    )
    out = run_in_standin(
        platform,
        [wheel],
        "import platform, mwfixture_cext as m; print(m.add(2, 40), m.machine(), platform.machine())",
        image=MUSL,
    )
    assert out == f"42 {machine} {machine}"


def test_packages_on_an_image_without_a_package_manager_fail_clearly(
    musl_run: Run,
    tmp_path_factory: pytest.TempPathFactory,
    index_settings: IndexSettings,
    engine: DockerEngine,
) -> None:
    # the musl stand-in has neither apk nor apt-get
    target = make_target(
        CEXT,
        recipe=Recipe(apk=("yaml-dev",), apt=("libyaml-dev",), build=NO_ISOLATION),
        base_image=MUSL,
    )
    run = run_build(
        [target], tmp_path_factory.mktemp("musl-pkgs"), index=index_settings, engine=engine
    )
    result = run.result(target)
    assert result.status == "failed"
    assert result.message == (
        "installing the module's system packages failed (exit code 1): "
        f"base image {MUSL} has neither apk nor apt-get, so the module's system packages "
        "cannot be installed: yaml-dev libyaml-dev"
    )
