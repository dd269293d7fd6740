"""musllinux wheels from the musl stand-in (CPython on musl, zig cc as its compiler, a stand-in apk) of the
tests' own fixture sdist; the stand-in apk's one-line refusal and real apk's trust rule."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import pytest
from packaging.utils import parse_wheel_filename
from support import (
    REGISTRY,
    REQUIRED,
    STANDIN_REPO,
    Run,
    make_target,
    run_build,
    run_command,
    run_in_standin,
)

from muslwheels.config.model import Recipe
from muslwheels.engine.docker import DockerEngine
from muslwheels.sources.pipconfig import IndexSettings

pytestmark = pytest.mark.integration

MUSL_TAG = "3.11-musl"
MUSL = f"{REGISTRY}/{STANDIN_REPO}:{MUSL_TAG}"
CEXT = "muslwheels-fixture-cext"
# The fixture comes from the tests' own index on the loopback; the build uses the image's own setuptools
# instead of fetching one into an isolated env.
NO_ISOLATION = (
    "python -m pip wheel -v --no-deps --no-build-isolation --no-binary {module} "
    "--find-links {deps_dir} --wheel-dir {wheel_dir} {requirement}"
)


def skip_without_musl_standin() -> None:
    try:
        url = f"http://{REGISTRY}/v2/{STANDIN_REPO}/tags/list"
        with urllib.request.urlopen(url, timeout=10) as answer:
            tags = json.load(answer).get("tags") or []
    except OSError:
        tags = []
    if MUSL_TAG not in tags:
        reason = f"{MUSL} is not in the registry; run tests/standins/build-musl.sh"
        if REQUIRED:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


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


def test_an_apk_name_the_standin_lacks_fails_clearly(
    musl_run: Run,
    tmp_path_factory: pytest.TempPathFactory,
    index_settings: IndexSettings,
    engine: DockerEngine,
) -> None:
    # the stand-in's apk has a few packages only, and says so in one line
    target = make_target(
        CEXT,
        recipe=Recipe(apk=("gcc", "no-such-lib-dev"), apt=("libyaml-dev",), build=NO_ISOLATION),
        base_image=MUSL,
    )
    run = run_build(
        [target], tmp_path_factory.mktemp("musl-pkgs"), index=index_settings, engine=engine
    )
    result = run.result(target)
    assert result.status == "failed"
    prefix = (
        "installing the module's system packages failed (exit code 1): ERROR: unable to select "
        "packages: no-such-lib-dev: this musl-wheels stand-in apk does not have it (it has "
    )
    assert result.message.startswith(prefix), result.message
    assert " libsodium-dev " in result.message


def test_cross_apk_refuses_the_build_platforms_keys(tmp_path: Path) -> None:
    """Real apk's trust rule: arm64's index is signed with arm64's key; the amd64 image's
    /etc/apk/keys lacks it, so `--keys-dir /etc/apk/keys` (what mw-packages once ran) is refused and
    the target's own keys are accepted."""
    skip_without_musl_standin()
    created = run_command(["docker", "create", "--platform", "linux/arm64", MUSL])
    assert created.returncode == 0, created.stderr
    container = created.stdout.strip()
    target = tmp_path / "target"
    try:
        for path in ("/etc/apk", "/lib/apk", "/usr/lib/muslwheels-standin"):
            (target / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            copied = run_command(
                ["docker", "cp", f"{container}:{path}", str(target / path.lstrip("/"))]
            )
            assert copied.returncode == 0, copied.stderr
    finally:
        subprocess.run(["docker", "rm", container], capture_output=True, check=False)

    def apk(keys: str) -> subprocess.CompletedProcess[str]:
        return run_command(
            [
                *("docker", "run", "--rm", "--network", "none", "--platform", "linux/amd64"),
                *("-v", f"{target}:/target", MUSL, "sh", "-c"),
                "apk add --root /target --arch aarch64 --no-scripts "
                f"--keys-dir {keys} --cache-dir /var/cache/apk zlib-dev && "
                "test -f /target/usr/include/zlib.h",
            ]
        )

    refused = apk("/etc/apk/keys")
    assert refused.returncode == 1
    assert refused.stderr.strip().endswith("aarch64/APKINDEX.tar.gz: UNTRUSTED signature")
    accepted = apk("/target/etc/apk/keys")
    assert accepted.returncode == 0, accepted.stderr
    assert "Installing zlib-dev" in accepted.stdout
