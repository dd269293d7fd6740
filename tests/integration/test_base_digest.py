"""The base image is the one planned, whatever the local image store holds under its tag.

Issue 25: after `docker run --platform linux/arm/v7 <base image>` the store holds only the armv7
image under the tag, and arm64 builds in emulation were built on it (their armv7l wheels refused).
Here the trap is set for real on the musl stand-in (under a tag of its own in the local registry, a
copy with the same manifests, so the stand-in's own tag stays as other tests expect it), then the
fixture sdist is planned against that registry and built and tested for arm64 in emulate mode.
"""

from __future__ import annotations

import platform
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from packaging.utils import parse_wheel_filename
from support import REGISTRY, Recorder, run_command
from test_musl import CEXT, MUSL, NO_ISOLATION, skip_without_musl_standin

from muslwheels.build.inputs import BuildOptions, WheelTestSettings
from muslwheels.build.modes import build_arch
from muslwheels.build.scheduler import build_targets
from muslwheels.config.arches import lookup_arch
from muslwheels.config.model import Mode
from muslwheels.config.modules import parse_config
from muslwheels.engine.docker import DockerEngine
from muslwheels.plan.planner import PlanOptions, make_plan
from muslwheels.plan.tags import parse_tags
from muslwheels.sources.cache import JsonCache
from muslwheels.sources.packageindex import PackageIndex
from muslwheels.sources.pipconfig import IndexSettings
from muslwheels.sources.pipdownload import PipIndexWheels
from muslwheels.sources.registry import RegistryClient

pytestmark = pytest.mark.integration

#: the stand-in copied under a repository of the tests' own
TRAP_REPO = f"{REGISTRY}/muslwheels-test/digest-python"
TRAP = f"{TRAP_REPO}:3.11-musl"


def _arch_under_tag(image: str) -> str:
    done = run_command(
        ["docker", "image", "inspect", "--format", "{{.Architecture}}/{{.Variant}}", image]
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def armv7_under_the_tag() -> Iterator[str]:
    """The trap: the stand-in's armv7 image is what the local store holds under ``TRAP``."""
    skip_without_musl_standin()
    copied = run_command(["docker", "buildx", "imagetools", "create", "-t", TRAP, MUSL], 300)
    assert copied.returncode == 0, copied.stderr
    ran = run_command(
        [
            *("docker", "run", "--rm", "--platform", "linux/arm/v7", "--network", "none", TRAP),
            *("python", "-c", "import platform; print(platform.machine())"),
        ],
        600,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "armv7l"
    assert _arch_under_tag(TRAP) == "arm/v7"
    yield TRAP
    run_command(["docker", "image", "rm", TRAP])


def test_arm64_is_built_on_the_arm64_manifest_though_the_store_holds_armv7(
    armv7_under_the_tag: str,
    tmp_path: Path,
    index_settings: IndexSettings,
    engine: DockerEngine,
) -> None:
    config = parse_config(
        {
            "defaults": {
                "pythons": ["3.11"],
                "base_image": TRAP_REPO + ":{python}-musl",
                "repository": f"{REGISTRY}/muslwheels-test/wheels",
            },
            "modules": {CEXT: {"build": NO_ISOLATION}},
        },
        "modules.toml",
    )
    # the fixture's facts from the tests' own index only; the image's from the real registry
    (local,) = index_settings.extra_index_urls[-1:]
    projects = PackageIndex(replace(index_settings, index_url=local, extra_index_urls=()))
    images = RegistryClient(cache=JsonCache(None), docker_config={})
    plan = make_plan(
        parse_tags([f"{CEXT}-py3.11-aarch64"], modules=config, index=projects),
        config=config,
        projects=projects,
        images=images,
        options=PlanOptions(),
    )
    (target,) = plan.targets
    assert target.arch == lookup_arch("arm64v8")
    digests = dict(images.digests(TRAP) or ())
    assert target.pinned_base_image == f"{TRAP_REPO}@{digests['linux/arm64']}"

    machine = build_arch(platform.machine())
    recorder = Recorder()
    options = BuildOptions(
        wheels_root=tmp_path / "wheels",
        log_dir=tmp_path / "logs",
        index=index_settings,
        force=True,
        mode=Mode.EMULATE,
        build_platform=machine.platform if machine else None,
        tests=WheelTestSettings(modules=(CEXT,), index=PipIndexWheels(index_settings)),
    )
    (result,) = build_targets([target], options=options, engine=engine, reporter=recorder)
    assert result.status == "built", result.message
    (wheel,) = result.wheels
    _, _, _, tags = parse_wheel_filename(wheel)
    assert {t.platform.rsplit("_", 1)[-1] for t in tags} == {"aarch64"}, wheel
    assert result.tested.startswith("tested"), result.tested
    lines = recorder.lines[target.id]
    assert f"muslwheels: base image {target.pinned_base_image} ({TRAP} for linux/arm64)" in lines
    # the build did not pull the tag: the store still holds armv7 under it
    assert _arch_under_tag(TRAP) == "arm/v7"
