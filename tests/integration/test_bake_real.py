"""Real bakes: docker buildx bake through DockerEngine on the local engine and on a second Docker
engine this test starts (its own socket, data-root, exec-root and pidfile, a bridge of its own),
reached through a Docker context and --builder; the test step after a bake (a failing test fails its
target alone, exit code 6)."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from support import (
    Recorder,
    make_target,
    run_build,
    run_command,
    run_in_standin,
)

from muslwheels.build.bake import BakeSettings, bake_name, bake_targets
from muslwheels.build.inputs import BuildOptions, WheelTestSettings
from muslwheels.build.scheduler import TargetResult, log_name
from muslwheels.cli import _exit_for as exit_code
from muslwheels.config.model import Recipe, Target
from muslwheels.console import Ui
from muslwheels.engine.docker import DockerEngine
from muslwheels.engine.interface import BakeRequest
from muslwheels.errors import DockerError, ExitCode
from muslwheels.sources.pipconfig import IndexSettings
from muslwheels.sources.pipdownload import PipIndexWheels

pytestmark = pytest.mark.integration

DEP = make_target("muslwheels-fixture-dep-a")
# needs-dep builds only when dep-a's wheel is offered (modules.toml: depends = [dep-a])
NEEDS = make_target(
    "muslwheels-fixture-needs-dep",
    recipe=Recipe(env=(("PIP_ONLY_BINARY", "muslwheels-fixture-dep-a"),)),
    depends=[DEP],
)
BROKEN = make_target("muslwheels-fixture-broken")


class CountingEngine(DockerEngine):
    """The real engine, remembering which bake targets each bake call was given."""

    def __init__(self) -> None:
        super().__init__()
        self.bakes: list[list[str]] = []

    def bake(self, request: BakeRequest, on_line: Callable[[str | None, str], None]) -> None:
        self.bakes.append(list(request.targets))
        super().bake(request, on_line)


def bake(
    targets: Sequence[Target],
    root: Path,
    *,
    index: IndexSettings,
    engine: DockerEngine,
    builder: str | None = None,
    tests: WheelTestSettings | None = None,
    jobs: int = 1,
) -> tuple[dict[str, TargetResult], Path]:
    options = BuildOptions(
        wheels_root=root / "wheels",
        log_dir=root / "logs",
        index=index,
        jobs=jobs,
        builder=builder,
        no_cache=os.environ.get("MUSLWHEELS_TEST_NO_CACHE", "") == "1",
        tests=tests,
    )
    results = bake_targets(
        targets, options=options, settings=BakeSettings(), engine=engine, reporter=Recorder()
    )
    return {r.target.id: r for r in results}, root / "wheels"


def wheels_in(root: Path, arch: str = "amd64") -> list[str]:
    return sorted(p.name for p in (root / arch).glob("*.whl"))


def test_bake_gives_the_wheels_build_gives_with_the_dependency_ordered_by_buildx(
    tmp_path_factory: pytest.TempPathFactory, index_settings: IndexSettings
) -> None:
    engine = CountingEngine()
    built = run_build(
        [DEP, NEEDS], tmp_path_factory.mktemp("build"), index=index_settings, engine=engine
    )
    assert [r.status for r in built.results] == ["built", "built"], built.results
    root = tmp_path_factory.mktemp("bake")
    results, wheels = bake([DEP, NEEDS], root, index=index_settings, engine=engine)
    assert [results[t.id].status for t in (DEP, NEEDS)] == ["built", "built"], results
    # the same verified wheels (names carry project, version and tags)
    assert wheels_in(wheels) == wheels_in(built.wheels_root)
    assert len(wheels_in(wheels)) == 2
    # one bake call for both: buildx ordered the dependency itself, through target:<dep>
    assert engine.bakes == [[bake_name(DEP), bake_name(NEEDS)]]
    log = (root / "logs" / "bake.log").read_text()
    # its wheel step ran in the same bake (BuildKit names a step that two targets share, as the
    # stages before the wheel step are, after either target: look for the step's own command)
    assert f'MW_PROJECT="{DEP.module}" MW_VERSION="{DEP.version}"' in log
    assert f"[{bake_name(NEEDS)} " in log
    found = run_in_standin(
        "linux/amd64",
        [wheels / "amd64" / name for name in wheels_in(wheels)],
        "import mwfixture_dep_a, mwfixture_needs_dep._generated as g; print(g.GREETING)",
    )
    assert found.strip()


def test_a_failing_target_fails_alone_and_the_others_land(
    tmp_path_factory: pytest.TempPathFactory, index_settings: IndexSettings
) -> None:
    engine = CountingEngine()
    root = tmp_path_factory.mktemp("bake-broken")
    results, wheels = bake([BROKEN, DEP, NEEDS], root, index=index_settings, engine=engine)
    bad = results[BROKEN.id]
    assert bad.status == "failed"
    assert bad.message.startswith("building the wheel failed (exit code 1)"), bad.message
    assert "\n" not in bad.message
    assert results[DEP.id].status == "built"
    assert results[NEEDS.id].status == "built"
    assert len(wheels_in(wheels)) == 2
    assert not any(n.startswith("muslwheels_fixture_broken") for n in wheels_in(wheels))
    assert exit_code(tuple(results.values())) == ExitCode.BUILD
    if len(engine.bakes) > 1:  # buildx cancelled the others: baked again without the bad one
        assert engine.bakes[1] == [bake_name(DEP), bake_name(NEEDS)]


# --- the test step after the bake (the code build runs: build/landing.py) ------------------------------------

CEXT = make_target(
    "muslwheels-fixture-cext",
    recipe=Recipe(
        test="python -c \"import mwfixture_cext; raise SystemExit('broken on purpose')\""
    ),
)


def test_bake_tests_each_wheel_and_a_failing_test_fails_only_its_target(
    tmp_path_factory: pytest.TempPathFactory, index_settings: IndexSettings
) -> None:
    tests = WheelTestSettings(
        modules=(DEP.module, NEEDS.module, CEXT.module), index=PipIndexWheels(index_settings)
    )
    root = tmp_path_factory.mktemp("bake-tested")
    results, wheels = bake(
        [CEXT, DEP, NEEDS], root, index=index_settings, engine=DockerEngine(), tests=tests, jobs=2
    )
    for target, module in ((DEP, "mwfixture_dep_a"), (NEEDS, "mwfixture_needs_dep")):
        result = results[target.id]
        assert result.status == "built", result.message
        assert result.tested.startswith(f"tested: import {module}"), result.tested
        log = (root / "logs" / log_name(target)).read_text()
        assert "test.Dockerfile" in log and "muslwheels: test passed on linux/amd64" in log
        assert "muslwheels: timing: closure and test " in log
    bad = results[CEXT.id]
    assert bad.status == "failed"
    assert bad.message.startswith("test failed: "), bad.message
    assert "\n" not in bad.message
    assert bad.log_path is not None and "broken on purpose" in bad.log_path.read_text()
    # nothing of it in wheels/ (nor its record); the others landed with theirs
    landed = sorted(p.name for p in (wheels / "amd64").iterdir())
    assert not any("cext" in name for name in landed), landed
    assert wheels_in(wheels) == sorted(
        name for r in (results[DEP.id], results[NEEDS.id]) for name in r.wheels
    )
    # what the summary shows, and the run's exit code
    err = io.StringIO()
    Ui(err=err, plain=True).summary([results[t.id] for t in (CEXT, DEP, NEEDS)])
    summary = err.getvalue()
    assert "tested: import mwfixture_dep_a" in summary
    assert f"failed      {CEXT.tag} (shared) " in summary and "test failed: " in summary
    assert exit_code(tuple(results.values())) == ExitCode.BUILD  # 6


# --- the builder -------------------------------------------------------------------------------------


def test_unknown_builder_is_one_line_and_exit_code_5(
    tmp_path: Path, index_settings: IndexSettings
) -> None:
    with pytest.raises(DockerError) as caught:
        bake([DEP], tmp_path, index=index_settings, engine=DockerEngine(), builder="mw-no-such")
    assert "no buildx builder called 'mw-no-such'" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert caught.value.exit_code == ExitCode.DOCKER
    assert not (tmp_path / "wheels").exists()


@pytest.fixture
def amd64_only_builder() -> Iterator[str]:
    """A docker-container builder declared for linux/amd64 only (never started: nothing pulled)."""
    name = f"mw-amd64-only-{os.getpid()}"
    done = run_command(
        ["docker", "buildx", "create", "--name", name, "--driver", "docker-container",
         "--platform", "linux/amd64"]
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    yield name
    run_command(["docker", "buildx", "rm", name])


def test_builder_without_a_node_for_the_platform(
    tmp_path: Path, index_settings: IndexSettings, amd64_only_builder: str
) -> None:
    """The arm64 target fails in one line with exit code 5, before anything is baked. (The amd64
    targets of such a run still bake: unit tests. This builder cannot show it here: a
    docker-container builder needs BuildKit's image from a container registry.)"""
    arm = make_target("muslwheels-fixture-dep-a", "arm64v8")
    results, wheels = bake(
        [arm], tmp_path, index=index_settings, engine=DockerEngine(), builder=amd64_only_builder
    )
    bad = results[arm.id]
    assert bad.status == "failed"
    assert bad.message.startswith(f"builder '{amd64_only_builder}' does not support linux/arm64"), (
        bad.message
    )
    assert "\n" not in bad.message
    assert "docker buildx create --append" in bad.message  # what to do
    assert exit_code((bad,)) == ExitCode.DOCKER
    assert not wheels.exists()


# --- a second engine -------------------------------------------------------------------------------


def docker_on(host: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return run_command(["docker", "--host", host, *args], timeout=timeout)


def image_store(host: str | None = None) -> list[str]:
    args = ["images", "-a", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"]
    done = docker_on(host, *args) if host else run_command(["docker", *args])
    assert done.returncode == 0, done.stderr
    return sorted(done.stdout.splitlines())


def build_cache_records(host: str) -> int:
    done = docker_on(host, "system", "df", "--format", "{{.Type}}={{.TotalCount}}")
    assert done.returncode == 0, done.stderr
    counts = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return int(counts["Build Cache"])


def interfaces(name: str) -> list[str]:
    """The network interface ``name`` as `ip -o link show` lists it (empty when there is none)."""
    done = run_command(["ip", "-o", "link", "show", name])
    return [line.split(":")[1].strip() for line in done.stdout.splitlines()]


@pytest.fixture(scope="module")
def second_engine() -> Iterator[str]:
    """A second dockerd on a private unix socket: its own data-root, exec-root and pidfile, a
    bridge of its own that nothing is sent over (its builds use the host network), no iptables
    rules; a Docker context named after it. Started and stopped here, each with a deadline. Yields
    the context's name.

    Not --bridge=none: a dockerd without a bridge deletes the interface docker0 at start, which is
    the first engine's (they share the network namespace), and every build of the first engine
    that needs the default network then fails ("Device does not exist")."""
    if shutil.which("dockerd") is None:
        pytest.fail("dockerd is not installed")
    # short paths: a unix socket path must stay under 108 bytes (containerd's lives in exec-root)
    root = Path(tempfile.mkdtemp(prefix="mw2d-"))
    sock = root / "docker.sock"
    log = (root / "dockerd.log").open("w")
    bridge = f"mw2d{os.getpid() % 100000}"  # an interface name has at most 15 characters
    docker0 = interfaces("docker0")
    assert docker0, "the first engine's bridge docker0 is missing (restart dockerd)"
    made = run_command(["ip", "link", "add", bridge, "type", "bridge"])
    assert made.returncode == 0, made.stderr
    process = subprocess.Popen(
        [
            "dockerd",
            "--host", f"unix://{sock}",
            "--data-root", str(root / "data"),
            "--exec-root", str(root / "exec"),
            "--pidfile", str(root / "docker.pid"),
            f"--bridge={bridge}",
            "--iptables=false",
            "--ip6tables=false",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    context = f"mw-second-{os.getpid()}"
    host = f"unix://{sock}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"the second dockerd exited: {(root / 'dockerd.log').read_text()[-2000:]}"
                )
            if sock.exists() and docker_on(host, "version", timeout=10).returncode == 0:
                break
            if time.monotonic() > deadline:
                pytest.fail("the second dockerd did not answer within 60 s")
            time.sleep(0.5)
        # the first engine's network is untouched: its default bridge is still there
        assert interfaces("docker0") == docker0
        done = run_command(["docker", "context", "create", context, "--docker", f"host={host}"])
        assert done.returncode == 0, done.stderr
        yield context
    finally:
        run_command(["docker", "context", "rm", "-f", context])
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
        with contextlib.suppress(OSError):
            subprocess.run(
                ["umount", "-R", str(root / "exec")], capture_output=True, timeout=10, check=False
            )
        shutil.rmtree(root, ignore_errors=True)
        run_command(["ip", "link", "delete", bridge])


def test_the_same_target_bakes_on_a_second_engine_and_the_first_is_untouched(
    tmp_path: Path, index_settings: IndexSettings, second_engine: str
) -> None:
    host = run_command(
        ["docker", "context", "inspect", second_engine, "--format", "{{.Endpoints.docker.Host}}"]
    ).stdout.strip()
    assert image_store(host) == []  # nothing there: it needs the base image from the registry
    assert build_cache_records(host) == 0
    before = image_store()
    engine = CountingEngine()
    results, wheels = bake(
        [DEP], tmp_path, index=index_settings, engine=engine, builder=second_engine
    )
    assert results[DEP.id].status == "built", results[DEP.id].message
    assert len(wheels_in(wheels)) == 1
    # it ran there: BuildKit of the second engine now has a build cache (the base image it
    # pulled from the local registry is in BuildKit's store, not in `docker images`)
    assert build_cache_records(host) > 0
    assert image_store() == before
