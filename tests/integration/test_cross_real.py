"""Cross mode against the musl stand-ins: arm64 wheels compiled on amd64 by zig through crossenv
(a C extension, msgpack, a C++ extension compiled and linked in one call), repaired on arm64 and
imported there under QEMU; auto falling back to emulation (a failed cross build,
and in a bake a cross-built wheel that fails its test); cross failing cleanly.

The stand-in's Python has no ssl module, so pip inside the build reaches only the tests' own plain-HTTP
index on the loopback: it serves the fixture sdists plus crossenv and msgpack's sdist, fetched once on
the host with the host's pip settings.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from localindex import LocalIndex, build_index, write_simple_tree
from packaging.utils import parse_wheel_filename
from support import REGISTRY, REQUIRED, STANDIN_REPO, Recorder, make_target, run_in_standin

from muslwheels.build.bake import BakeSettings, bake_targets
from muslwheels.build.inputs import BuildOptions, WheelTestSettings
from muslwheels.build.scheduler import TargetResult, build_targets
from muslwheels.config.model import Mode, Recipe, Target
from muslwheels.engine.docker import DockerEngine
from muslwheels.sources.pipconfig import IndexSettings
from muslwheels.sources.pipdownload import PipIndexWheels

pytestmark = pytest.mark.integration

MUSL_TAG = "3.11-musl"
MUSL = f"{REGISTRY}/{STANDIN_REPO}:{MUSL_TAG}"
CEXT = "muslwheels-fixture-cext"
CXX = "muslwheels-fixture-cxx"
MSGPACK_VERSION = "1.1.0"
CROSSENV_VERSION = "1.6.2"
NO_ISOLATION = (
    "python -m pip wheel -v --no-deps --no-build-isolation --no-binary {module} "
    "--find-links {deps_dir} --wheel-dir {wheel_dir} {requirement}"
)
ARM64 = ("linux/arm64", "aarch64")


@pytest.fixture(scope="module")
def cross_index(
    tmp_path_factory: pytest.TempPathFactory, host_index: IndexSettings
) -> Iterator[IndexSettings]:
    """The fixture sdists, crossenv and msgpack's sdist on a loopback index (the only one pip in
    the musl stand-in can reach)."""
    try:
        with urllib.request.urlopen(
            f"http://{REGISTRY}/v2/{STANDIN_REPO}/tags/list", timeout=10
        ) as answer:
            tags = json.load(answer).get("tags") or []
    except OSError:
        tags = []
    if MUSL_TAG not in tags:
        reason = f"{MUSL} is not in the registry; run tests/standins/build-musl.sh"
        if REQUIRED:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    root = build_index(tmp_path_factory.mktemp("cross-index"), ["cext", "cxx"])
    downloads = root / "downloads"
    pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(downloads)]
    for args in (
        [f"crossenv=={CROSSENV_VERSION}"],
        ["--no-binary", ":all:", f"msgpack=={MSGPACK_VERSION}"],
    ):
        done = subprocess.run([*pip, *args], capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"pip download {args}: {done.stderr[-2000:]}"
    write_simple_tree([*sorted((root / "dist").iterdir()), *sorted(downloads.iterdir())], root)
    index = LocalIndex(root)
    yield replace(host_index, index_url=index.url, extra_index_urls=())
    index.close()


def build(
    targets: list[Target], root: Path, index: IndexSettings, mode: Mode
) -> tuple[tuple[TargetResult, ...], Recorder, float]:
    recorder = Recorder()
    options = BuildOptions(
        wheels_root=root / "wheels",
        log_dir=root / "logs",
        index=index,
        force=True,
        mode=mode,
        build_platform="linux/amd64",
    )
    start = time.monotonic()
    results = build_targets(targets, options=options, engine=DockerEngine(), reporter=recorder)
    return results, recorder, time.monotonic() - start


def wheel_of(result: TargetResult, root: Path) -> Path:
    assert result.status == "built", result.message
    (name,) = result.wheels
    return root / "wheels" / result.target.wheel_dir / name


def assert_musllinux_aarch64(wheel: Path) -> None:
    _, _, _, tags = parse_wheel_filename(wheel.name)
    assert {f"{t.interpreter}-{t.abi}-{t.platform}" for t in tags} == {
        "cp311-cp311-musllinux_1_2_aarch64"
    }


def test_cross_builds_the_fixture_and_msgpack_for_arm64(
    tmp_path_factory: pytest.TempPathFactory, cross_index: IndexSettings
) -> None:
    cext = make_target(CEXT, "arm64v8", recipe=Recipe(build=NO_ISOLATION), base_image=MUSL)
    msgpack = make_target(
        "msgpack",
        "arm64v8",
        version=MSGPACK_VERSION,
        recipe=Recipe(build=NO_ISOLATION),
        base_image=MUSL,
    )
    root = tmp_path_factory.mktemp("cross")
    results, recorder, _ = build([cext, msgpack], root, cross_index, Mode.CROSS)
    for result in results:
        assert result.status == "built", result.message
        assert result.mode == "cross"
        lines = recorder.lines[result.target.id]
        assert any("MW_MODE=cross" in line for line in lines)
        assert any("[crossbuilt " in line for line in lines)  # compiled on the build platform
    cext_wheel, msgpack_wheel = (wheel_of(r, root) for r in results)
    assert_musllinux_aarch64(cext_wheel)
    assert_musllinux_aarch64(msgpack_wheel)
    platform, machine = ARM64
    out = run_in_standin(
        platform,
        [cext_wheel],
        "import platform, mwfixture_cext as m; print(m.add(2, 40), m.machine(), platform.machine())",
        image=MUSL,
    )
    assert out == f"42 {machine} {machine}"
    out = run_in_standin(
        platform,
        [msgpack_wheel],
        "import msgpack; print(msgpack.Packer.__module__, msgpack.unpackb(msgpack.packb([1, 'a'])))",
        image=MUSL,
    )
    assert out == "msgpack._cmsgpack [1, 'a']"


def test_cross_builds_a_cxx_extension_compiled_and_linked_in_one_call(
    tmp_path_factory: pytest.TempPathFactory, cross_index: IndexSettings
) -> None:
    # `c++ -O2 -fPIC -shared x.cc -o x.so`, as hand-written Makefiles do: zig 0.17 crashed on it when
    # the cross compiler also forced libc into the link (as it does for links of objects)
    target = make_target(CXX, "arm64v8", recipe=Recipe(build=NO_ISOLATION), base_image=MUSL)
    root = tmp_path_factory.mktemp("cross-cxx")
    (result,), _, _ = build([target], root, cross_index, Mode.CROSS)
    assert result.status == "built", result.message
    assert result.mode == "cross"
    wheel = wheel_of(result, root)
    assert_musllinux_aarch64(wheel)
    code = "import mwfixture_cxx as m\ntry:\n    m.twice('')\nexcept ValueError as e:\n    print(m.twice('ab'), e)"
    assert run_in_standin(ARM64[0], [wheel], code, image=MUSL) == "abab nothing to repeat"


def test_module_marked_emulate_is_emulated_under_auto(
    tmp_path_factory: pytest.TempPathFactory, cross_index: IndexSettings
) -> None:
    target = make_target(
        CEXT, "arm64v8", recipe=Recipe(build=NO_ISOLATION, mode=Mode.EMULATE), base_image=MUSL
    )
    root = tmp_path_factory.mktemp("cross-marked")
    (result,), recorder, _ = build([target], root, cross_index, Mode.AUTO)
    assert result.status == "built", result.message
    assert result.mode == 'emulate (the module\'s recipe says mode = "emulate")'
    assert result.message == result.mode  # what the summary shows
    assert not any("MW_MODE=cross" in line for line in recorder.lines[target.id])
    assert_musllinux_aarch64(wheel_of(result, root))


# A build command whose compile step fails when (and only when) it cross-compiles.
FAILS_WHEN_CROSS = (
    'if [ -n "${{VIRTUAL_ENV:-}}" ]; then echo "error: no cross build for this module" >&2; exit 3; fi; '
    + NO_ISOLATION
)


def test_failing_cross_build_falls_back_under_auto_and_fails_cleanly_under_cross(
    tmp_path_factory: pytest.TempPathFactory, cross_index: IndexSettings
) -> None:
    target = make_target(CEXT, "arm64v8", recipe=Recipe(build=FAILS_WHEN_CROSS), base_image=MUSL)
    root = tmp_path_factory.mktemp("cross-fallback")
    (auto,), _, _ = build([target], root, cross_index, Mode.AUTO)
    assert auto.status == "built", auto.message
    assert auto.mode.startswith("emulate (fallback: cross-compiling the wheel failed (exit code 3)")
    assert "no cross build for this module" in auto.mode
    assert_musllinux_aarch64(wheel_of(auto, root))

    (cross,), _, _ = build(
        [target], tmp_path_factory.mktemp("cross-fails"), cross_index, Mode.CROSS
    )
    assert cross.status == "failed"
    assert cross.message.startswith(
        "cross build failed: cross-compiling the wheel failed (exit code 3)"
    )
    assert "no cross build for this module" in cross.message


# A build command whose wheel builds but breaks on import when (and only when) it was cross-compiled
# (as a miscompiled extension crashes): the cross build's wheel gets a failing line in its
# __init__.py (the repair that follows writes its RECORD again). The test step catches it on the
# target's platform.
BREAK_THE_WHEEL = (
    "import sys, glob, zipfile as Z; p = glob.glob(sys.argv[1] + '/*.whl')[0]; o = Z.ZipFile(p); "
    "d = [(i, o.read(i)) for i in o.infolist()]; o.close(); n = Z.ZipFile(p, 'w', Z.ZIP_DEFLATED); "
    "[n.writestr(i, b + (b'\\nraise ImportError(1234567)\\n' "
    "if i.filename.endswith('cext/__init__.py') else b'')) for i, b in d]; n.close()"
)
BROKEN_WHEN_CROSS = (
    NO_ISOLATION + f'; if [ -n "${{{{VIRTUAL_ENV:-}}}}" ]; then python -c "{BREAK_THE_WHEEL}" '
    "{wheel_dir}; fi"
)


def test_bake_auto_bakes_again_in_emulation_when_the_cross_built_wheel_fails_its_test(
    tmp_path_factory: pytest.TempPathFactory, cross_index: IndexSettings
) -> None:
    target = make_target(
        CEXT,
        "arm64v8",
        recipe=Recipe(build=BROKEN_WHEN_CROSS),
        base_image=MUSL,
    )
    root = tmp_path_factory.mktemp("bake-test-fallback")
    options = BuildOptions(
        wheels_root=root / "wheels",
        log_dir=root / "logs",
        index=cross_index,
        force=True,
        mode=Mode.AUTO,
        build_platform="linux/amd64",
        tests=WheelTestSettings(modules=(CEXT,), index=PipIndexWheels(cross_index)),
    )
    recorder = Recorder()
    (result,) = bake_targets(
        [target], options=options, settings=BakeSettings(), engine=DockerEngine(), reporter=recorder
    )
    assert result.status == "built", result.message
    assert result.mode.startswith("emulate (fallback: cross-built wheel test failed: "), result.mode
    assert result.tested.startswith("tested: "), result.tested
    lines = recorder.lines[target.id]
    assert any(
        "the cross-built wheel failed its test" in line and "baking again in emulation" in line
        for line in lines
    )
    assert any("ImportError: 1234567" in line for line in lines)  # the cross-built wheel's test
    wheel = wheel_of(result, root)
    assert_musllinux_aarch64(wheel)
    platform, machine = ARM64
    assert (
        run_in_standin(
            platform, [wheel], "import mwfixture_cext as m; print(m.machine())", image=MUSL
        )
        == machine
    )
