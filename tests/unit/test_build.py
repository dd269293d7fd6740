"""build/scheduler.py orchestration against a fake Engine (our own seam): no Docker."""

from __future__ import annotations

import os
import signal
import threading
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from fakes import INDEX, FakeEngine, Recorder, make_target, run, wheel_name

from muslwheels.build.inputs import (
    BuildOptions,
    RunFiles,
    build_request,
    cargo_loopback_urls,
    default_docker_dir,
    pip_settings,
    recipe_files,
)
from muslwheels.build.inputs import (
    test_request as step_request,
)
from muslwheels.build.scheduler import TargetResult, build_targets, validate_graph
from muslwheels.build.wheelstore import LOCK_NAME
from muslwheels.cli import _exit_for
from muslwheels.config.model import Flavour, Mode, Recipe
from muslwheels.config.modules import DEFAULT_BUILD_COMMAND
from muslwheels.engine.interface import BuildRequest, ImageOutput
from muslwheels.errors import BuildError, DockerError, ExitCode, Interrupted, PlatformsUnsupported
from muslwheels.sources.net import is_loopback_url
from muslwheels.sources.pipconfig import IndexSettings


def wheel_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# --- the happy path -------------------------------------------------------------------------------


def test_builds_verifies_and_installs(options: BuildOptions) -> None:
    target = make_target()
    results, engine, recorder = run([target], options)
    (result,) = results
    assert result.status == "built", result.message
    assert result.wheels == (wheel_name(target),)
    with zipfile.ZipFile(options.wheels_root / "amd64" / wheel_name(target)) as landed:
        assert landed.read("built.txt").startswith(b"wheel")
    assert engine.prepared == [(("linux/amd64",), None)]
    assert recorder.events == [("started", target.id), ("built", target.id)]
    assert result.log_path is not None
    log = result.log_path.read_text()
    assert "#1 building alpha" in log
    assert "docker buildx build" in log
    # the private temporary directories are gone
    assert list(options.temp_root.iterdir()) == []  # type: ignore[union-attr]


def test_request_carries_the_target(options: BuildOptions) -> None:
    target = make_target("Beta", "arm64v8", version="2.5", flavour=Flavour.NO_SHARED)
    _, engine, _ = run([target], replace(options, builder="remote", no_cache=True))
    (request,) = engine.requests
    args = dict(request.build_args)
    assert args == {
        "BASE_IMAGE": "python:3.11-alpine3.20",
        "BUILD_BASE_IMAGE": "python:3.11-alpine3.20",
        "MW_PROJECT": "Beta",
        "MW_VERSION": "2.5",
        "MW_PYTHON": "3.11",
        "MW_FLAVOUR": "no-shared",
        "MW_MACHINE": "aarch64",
    }
    assert request.platform == "linux/arm64"
    assert request.builder == "remote"
    assert request.no_cache
    assert request.dockerfile == options.docker_dir / "Dockerfile"
    assert request.allow == ()
    assert request.network is None
    assert [s[0] for s in request.secrets] == ["pipconf"]
    assert engine.prepared == [(("linux/arm64",), "remote")]


ARM64 = "sha256:" + "a" * 64
AMD64 = "sha256:" + "b" * 64
PINNED = (("linux/amd64", AMD64), ("linux/arm64", ARM64))


@pytest.mark.parametrize("mode", [Mode.EMULATE, Mode.CROSS])
def test_build_and_test_use_the_planned_manifests(tmp_path: Path, mode: Mode) -> None:
    """Not the tag, whatever the local image store holds under it: the target platform's
    manifest for the build and the test, the build machine's for the stages that run there."""
    target = make_target("beta", "arm64v8", base_digests=PINNED)
    options = BuildOptions(
        wheels_root=tmp_path, log_dir=tmp_path, index=INDEX, build_platform="linux/amd64"
    )
    files = RunFiles(pipconf=tmp_path / "pip.conf", cert=None, client_cert=None, host_network=False)
    args = dict(
        build_request(
            target, options=options, run_files=files, workdir=tmp_path, mode=mode
        ).build_args
    )
    assert args["BASE_IMAGE"] == f"python@{ARM64}"
    assert args["BUILD_BASE_IMAGE"] == f"python@{AMD64}"
    test = step_request(
        target, stage="report", options=options, run_files=files, contexts=(), out_dir=tmp_path
    )
    assert dict(test.build_args)["BASE_IMAGE"] == f"python@{ARM64}"
    # a builder whose platform is not known: its stages take the tag (BuildKit picks the platform)
    other = replace(options, build_platform=None)
    args = dict(
        build_request(
            target, options=other, run_files=files, workdir=tmp_path, mode=mode
        ).build_args
    )
    assert (args["BASE_IMAGE"], args["BUILD_BASE_IMAGE"]) == (
        f"python@{ARM64}",
        "python:3.11-alpine3.20",
    )


def test_the_log_names_the_base_image_by_digest_or_says_it_is_the_tag(
    options: BuildOptions,
) -> None:
    pinned = make_target("alpha", base_digests=PINNED)
    loose = make_target("gamma")
    results, _, _ = run([pinned, loose], options)
    logs = [r.log_path.read_text() for r in results if r.log_path is not None]
    lines = [[x for x in log.splitlines() if "base image" in x] for log in logs]
    assert lines[0] == [
        f"muslwheels: base image python@{AMD64} (python:3.11-alpine3.20 for linux/amd64)"
    ]
    assert lines[1] == [
        "muslwheels: base image python:3.11-alpine3.20 by its tag (the plan has no digest for "
        "linux/amd64): whatever the image store holds under that tag"
    ]


# --- skip, force, dry run: no engine call --------------------------------------------------------


class NoEngine:
    """Any call is a test failure: the no-op paths must not touch the engine at all."""

    def prepare(self, platforms: Sequence[str], *, builder: str | None) -> None:
        raise AssertionError("prepare called")

    def build(self, request: BuildRequest, on_line: Callable[[str], None]) -> None:
        raise AssertionError("build called")

    def cancel(self) -> None:
        raise AssertionError("cancel called")


def test_present_wheel_is_skipped_without_any_engine_call(options: BuildOptions) -> None:
    target = make_target()
    folder = options.wheels_root / "amd64"
    folder.mkdir(parents=True)
    (folder / wheel_name(target)).write_bytes(b"old")
    recorder = Recorder()
    results = build_targets([target], options=options, engine=NoEngine(), reporter=recorder)
    assert [(r.status, r.wheels) for r in results] == [("skipped", (wheel_name(target),))]
    assert recorder.events == [("skipped", target.id)]


def test_foreign_wheel_in_the_folder_does_not_count(options: BuildOptions) -> None:
    target = make_target()
    folder = options.wheels_root / "amd64"
    folder.mkdir(parents=True)
    # right project, wrong flavour and wrong Python: not this target's wheel
    (folder / "alpha-1.0-cp311-cp311-linux_x86_64.whl").write_bytes(b"x")
    (folder / "alpha-1.0-cp312-cp312-musllinux_1_2_x86_64.whl").write_bytes(b"x")
    results, engine, _ = run([target], options)
    assert results[0].status == "built"
    assert len(engine.requests) == 1


def test_force_rebuilds_a_present_wheel(options: BuildOptions) -> None:
    target = make_target()
    folder = options.wheels_root / "amd64"
    folder.mkdir(parents=True)
    (folder / wheel_name(target)).write_bytes(b"old")
    results, engine, _ = run([target], replace(options, force=True))
    assert results[0].status == "built"
    assert (folder / wheel_name(target)).read_bytes() != b"old"
    # and not from BuildKit's layer cache either: a new MW_FRESH value per forced run
    fresh = dict(engine.requests[0].build_args)["MW_FRESH"]
    _, again, _ = run([target], replace(options, force=True))
    assert len(fresh) >= 16
    assert dict(again.requests[0].build_args)["MW_FRESH"] != fresh


def test_dry_run_makes_no_engine_call_and_shows_the_command(options: BuildOptions) -> None:
    present = make_target("present")
    missing = make_target("missing", "arm64v8")
    folder = options.wheels_root / "amd64"
    folder.mkdir(parents=True)
    (folder / wheel_name(present)).write_bytes(b"old")
    recorder = Recorder()
    results = build_targets(
        [present, missing],
        options=replace(options, dry_run=True),
        engine=NoEngine(),
        reporter=recorder,
    )
    assert [r.status for r in results] == ["skipped", "would-build"]
    command = results[1].message
    assert command.startswith("docker buildx build ")
    assert "--platform linux/arm64" in command
    assert "MW_PROJECT=missing" in command
    assert "id=pipconf" in command
    assert not options.log_dir.exists()
    assert list(options.temp_root.iterdir()) == []  # type: ignore[union-attr]


# --- order, parallelism, failures ------------------------------------------------------------------


def test_dependencies_build_first_and_their_wheels_are_offered(options: BuildOptions) -> None:
    base = make_target("base")
    middle = make_target("middle", depends=[base])
    top = make_target("top", depends=[middle])
    # listed in the wrong order on purpose: the run orders them
    results, engine, _ = run([top, middle, base], replace(options, jobs=3))
    assert [r.status for r in results] == ["built"] * 3
    order = [dict(r.build_args)["MW_PROJECT"] for r in engine.requests]
    assert order == ["base", "middle", "top"]
    assert engine.deps_seen["base"] == []
    assert engine.deps_seen["middle"] == [wheel_name(base)]
    assert engine.deps_seen["top"] == sorted([wheel_name(base), wheel_name(middle)])


def test_skipped_dependency_still_offers_its_wheel(options: BuildOptions) -> None:
    dep = make_target("dep")
    top = make_target("top", depends=[dep])
    folder = options.wheels_root / "amd64"
    folder.mkdir(parents=True)
    (folder / wheel_name(dep)).write_bytes(b"present")
    results, engine, _ = run([dep, top], options)
    assert [r.status for r in results] == ["skipped", "built"]
    assert engine.deps_seen == {"top": [wheel_name(dep)]}


def test_independent_targets_run_in_parallel(options: BuildOptions) -> None:
    targets = [make_target(name) for name in ("a", "b", "c")]
    engine = FakeEngine()
    engine.gate = threading.Barrier(3)  # only passes when three builds wait at once
    results, engine, _ = run(targets, replace(options, jobs=3), engine)
    assert [r.status for r in results] == ["built"] * 3
    assert engine.max_running == 3


def test_jobs_limits_parallelism(options: BuildOptions) -> None:
    targets = [make_target(name) for name in ("a", "b", "c", "d")]
    results, engine, _ = run(targets, replace(options, jobs=2))
    assert [r.status for r in results] == ["built"] * 4
    assert engine.max_running <= 2


def test_failure_does_not_stop_independent_targets(options: BuildOptions) -> None:
    good = make_target("good")
    bad = make_target("bad")
    after = make_target("after", depends=[bad])
    also_after = make_target("also-after", depends=[after])
    engine = FakeEngine()
    engine.fail["bad"] = "building the wheel failed (exit code 1): error: boom"
    results, engine, recorder = run(
        [bad, good, after, also_after], replace(options, jobs=2), engine
    )
    by_module = {r.target.module: r for r in results}
    assert by_module["good"].status == "built"
    assert by_module["bad"].status == "failed"
    assert by_module["bad"].message == "building the wheel failed (exit code 1): error: boom"
    assert by_module["after"].status == "failed"
    assert by_module["after"].message == f"dependency {bad.tag} failed"
    assert by_module["also-after"].message == f"dependency {after.tag} failed"
    built = sorted(dict(r.build_args)["MW_PROJECT"] for r in engine.requests)
    assert built == ["bad", "good"]  # the dependents were never built
    assert ("failed", after.id) in recorder.events
    assert wheel_files(options.wheels_root) == [
        f"amd64/{LOCK_NAME}",
        f"amd64/{wheel_name(good)}",
    ]


def test_verification_failure_leaves_nothing(options: BuildOptions) -> None:
    target = make_target("alpha", "arm64v8")
    engine = FakeEngine()
    # one right wheel and one for the wrong machine: the whole output is refused
    engine.produce["alpha"] = [
        wheel_name(target),
        "alpha-1.0-cp311-cp311-musllinux_1_2_x86_64.whl",
    ]
    results, _, _ = run([target], options, engine)
    (result,) = results
    assert result.status == "failed"
    assert "alpha-1.0-cp311-cp311-musllinux_1_2_x86_64.whl" in result.message
    assert "musllinux_*_aarch64" in result.message
    assert not (options.wheels_root / "arm64v8").exists() or not any(
        p.suffix == ".whl" for p in (options.wheels_root / "arm64v8").iterdir()
    )


def test_empty_output_fails(options: BuildOptions) -> None:
    engine = FakeEngine()
    engine.produce["alpha"] = []
    results, _, _ = run([make_target()], options, engine)
    assert results[0].status == "failed"
    assert "no wheel" in results[0].message


def test_engine_unusable_is_an_error_for_the_run(options: BuildOptions) -> None:
    class Broken(FakeEngine):
        def prepare(self, platforms: Sequence[str], *, builder: str | None) -> None:
            raise DockerError("the Docker daemon is not reachable", hint="start dockerd")

    with pytest.raises(DockerError):
        run([make_target()], options, Broken())


def test_docker_error_during_one_build_fails_that_target(options: BuildOptions) -> None:
    def explode(request: BuildRequest) -> None:
        if dict(request.build_args)["MW_PROJECT"] == "bad":
            raise DockerError("the docker command was not found")

    engine = FakeEngine()
    engine.on_build = explode
    results, _, _ = run([make_target("bad"), make_target("good")], options, engine)
    assert [r.status for r in results] == ["failed", "built"]
    assert results[0].message == "the docker command was not found"


def test_broken_target_lists_are_refused() -> None:
    a = make_target("a")
    b = make_target("b", depends=[a])
    with pytest.raises(BuildError, match="not in the plan"):
        validate_graph([b])
    with pytest.raises(BuildError, match="listed twice"):
        validate_graph([a, a])
    cyclic_a = replace(a, depends=(b.id,))
    with pytest.raises(BuildError, match="cycle"):
        validate_graph([cyclic_a, b])


def test_image_output_pushes_by_name() -> None:
    """Wheel images (publish/images.py) are built with an ImageOutput: pushed, or kept locally."""
    request = BuildRequest(
        context=Path("ctx"),
        dockerfile=Path("ctx/Dockerfile"),
        platform="linux/arm64",
        build_args=(),
        build_contexts=(),
        secrets=(),
        output=ImageOutput("example/wheels:t-arm64v8"),
    )
    assert request.command_line()[-2] == "type=image,name=example/wheels:t-arm64v8,push=true"
    kept = replace(request, output=ImageOutput("example/wheels:t", push=False))
    assert kept.output_spec() == {"type": "image", "name": "example/wheels:t"}
    # no attestation unless asked for (buildx adds provenance by default on some drivers)
    assert "--provenance=false" in request.command_line()
    assert "--sbom=true" not in request.command_line()
    attested = replace(request, attest=True).command_line()
    assert ("--provenance=mode=max" in attested, "--sbom=true" in attested) == (True, True)
    assert "--provenance=false" not in attested


def test_ctrl_c_stops_cleanly(options: BuildOptions) -> None:
    """A real SIGINT while builds run: the engine is told to cancel, the temporary directories
    go, wheels/ keeps only what was complete, and Interrupted is raised."""
    done = make_target("done")
    folder = options.wheels_root / "amd64"
    folder.mkdir(parents=True)
    (folder / wheel_name(done)).write_bytes(b"complete")
    engine = FakeEngine()

    def interrupt(request: BuildRequest) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        assert engine.cancelled.wait(timeout=10), "the run did not cancel the engine"
        raise BuildError("cancelled")

    engine.on_build = interrupt
    targets = [done, make_target("slow"), make_target("other")]
    with pytest.raises(Interrupted):
        run(targets, replace(options, jobs=2), engine)
    assert engine.cancelled.is_set()
    assert wheel_files(options.wheels_root) == [f"amd64/{wheel_name(done)}"]
    assert list(options.temp_root.iterdir()) == []  # type: ignore[union-attr]


# --- pip settings, recipe files, installing -------------------------------------------------------


def test_pip_settings_leave_out_local_places() -> None:
    index = IndexSettings(
        index_url="https://index.invalid/simple",
        extra_index_urls=("file:///opt/pypi/simple", "http://127.0.0.1:8080/simple/"),
        cert="/etc/ssl/certs/ca-certificates.crt",
        trusted_hosts=("mirror.invalid",),
        find_links=("/opt/wheels", "https://links.invalid/"),
    )
    settings = pip_settings(index)
    assert settings.config_text.splitlines() == [
        "[global]",
        "index-url = https://index.invalid/simple",
        "extra-index-url = http://127.0.0.1:8080/simple/",
        "trusted-host = mirror.invalid",
        "find-links = https://links.invalid/",
    ]
    assert settings.host_network
    assert settings.cert == "/etc/ssl/certs/ca-certificates.crt"
    notes = " ".join(settings.notes)
    assert "file:///opt/pypi/simple" in notes
    assert "/opt/wheels" in notes
    assert "host's network" in notes


def test_pip_settings_without_a_remote_index_get_no_index() -> None:
    settings = pip_settings(IndexSettings(index_url="file:///srv/simple"))
    assert "no-index = true" in settings.config_text
    assert not settings.host_network
    promoted = pip_settings(
        IndexSettings(index_url="file:///srv/simple", extra_index_urls=("https://b.invalid/s",))
    )
    assert "index-url = https://b.invalid/s" in promoted.config_text


def test_loopback_secrets_and_network(options: BuildOptions) -> None:
    cert = options.wheels_root.parent / "ca.pem"
    cert.write_text("---- a CA ----\n")
    index = IndexSettings(
        index_url="http://localhost:3141/simple", cert=str(cert), client_cert=str(cert)
    )
    _, engine, _ = run([make_target()], replace(options, index=index))
    (request,) = engine.requests
    assert request.network == "host"
    assert request.allow == ("network.host",)
    line = request.command_line()
    at = line.index("--network")
    assert line[at : at + 4] == ("--network", "host", "--allow", "network.host")
    secrets = dict(request.secrets)
    assert secrets["pipcert"] == str(cert)
    assert secrets["pipclientcert"] == str(cert)
    # the secret values are nowhere in the build args
    assert all("localhost" not in v and str(cert) not in v for _, v in request.build_args)


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:5000/simple", True),
        ("http://127.3.4.5/simple", True),
        ("http://[::1]:8080/", True),
        ("http://localhost/simple", True),
        ("http://LOCALHOST/simple", True),
        ("https://index.invalid/simple", False),
        ("http://172.17.0.1:8080/simple", False),
        ("http://10.0.0.1/", False),
    ],
)
def test_loopback_rule(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_recipe_files() -> None:
    recipe = Recipe(
        apk=("openssl-dev", "cargo"),
        apt=("libssl-dev",),
        env=(("GREETING", "it's a test"), ("EMPTY", "")),
        before_build=("python -m pip install cython=={version}",),
        build="python -m pip wheel --wheel-dir {wheel_dir} --find-links {deps_dir} {requirement}",
    )
    files = recipe_files(make_target("Foo", version="2.0", recipe=recipe))
    assert files["packages.apk"] == "openssl-dev\ncargo\n"
    assert files["packages.apt"] == "libssl-dev\n"
    assert files["env.sh"] == "export GREETING='it'\"'\"'s a test'\nexport EMPTY=''\n"
    assert files["before_build.sh"] == "python -m pip install cython==2.0\n"
    assert files["build.sh"] == (
        "python -m pip wheel --wheel-dir /mw/wheelhouse --find-links /mw/deps Foo==2.0\n"
    )
    default = recipe_files(make_target("Foo", version="2.0"))
    assert (
        default["build.sh"]
        == DEFAULT_BUILD_COMMAND.format(
            module="Foo", deps_dir="/mw/deps", wheel_dir="/mw/wheelhouse", requirement="Foo==2.0"
        )
        + "\n"
    )
    assert "--no-deps" in default["build.sh"]
    assert default["packages.apk"] == default["env.sh"] == ""


def test_recipe_with_a_bad_env_name_fails_the_target(options: BuildOptions) -> None:
    bad = make_target("bad", recipe=Recipe(env=(("NOT VALID", "x"),)))
    results, _, _ = run([bad, make_target("good")], options)
    assert [r.status for r in results] == ["failed", "built"]
    assert "NOT VALID" in results[0].message


def test_missing_dockerfile_is_an_error_before_any_build(options: BuildOptions) -> None:
    (options.docker_dir / "Dockerfile").unlink()
    with pytest.raises(BuildError, match="no Dockerfile at"):
        build_targets([make_target()], options=options, engine=NoEngine(), reporter=Recorder())


def test_default_docker_dir_is_this_checkouts() -> None:
    assert (default_docker_dir() / "Dockerfile").is_file()


# --- a builder without a node for a platform ----------------------------------------------------------


class ArmlessEngine(FakeEngine):
    """A builder that has no node for linux/arm64 (as docker.DockerEngine.prepare says it)."""

    def prepare(self, platforms: Sequence[str], *, builder: str | None) -> None:
        super().prepare(platforms, builder=builder)
        if "linux/arm64" in platforms:
            raise PlatformsUnsupported(
                "builder 'wheels' does not support linux/arm64 (it reports: linux/amd64)",
                platforms=["linux/arm64"],
                hint="add a node for that platform (docker buildx create --append ...)",
            )


def test_targets_of_a_platform_the_builder_lacks_fail_with_exit_5_and_the_rest_land(
    options: BuildOptions,
) -> None:
    amd = make_target("alpha")
    arm = make_target("alpha", "arm64v8")
    needs_arm = make_target("beta", "arm64v8", depends=[arm])
    results, engine, _ = run(
        [amd, arm, needs_arm], replace(options, builder="wheels"), ArmlessEngine()
    )
    by_id = {r.target.id: r for r in results}
    assert by_id[amd.id].status == "built"
    assert sorted(p.name for p in options.wheels_root.glob("*/*.whl")) == [wheel_name(amd)]
    bad = by_id[arm.id]
    assert bad.status == "failed"
    assert bad.message == (
        "builder 'wheels' does not support linux/arm64 (it reports: linux/amd64): add a node for "
        "that platform (docker buildx create --append ...)"
    )
    assert bad.exit_code == ExitCode.DOCKER
    assert by_id[needs_arm.id].message == bad.message  # its platform too
    # asked for both, then ready for the one it serves; nothing was built for arm64
    assert engine.prepared == [
        (("linux/amd64", "linux/arm64"), "wheels"),
        (("linux/amd64",), "wheels"),
    ]
    assert [r.platform for r in engine.requests] == ["linux/amd64"]
    assert _exit_for(results) == ExitCode.DOCKER


def test_exit_code_of_a_run_is_the_first_failure_that_calls_for_one(options: BuildOptions) -> None:
    target = make_target()
    built = TargetResult(target, "built")
    failed = TargetResult(target, "failed", message="boom")
    unserved = replace(failed, exit_code=ExitCode.DOCKER)
    assert _exit_for([built]) == 0
    assert _exit_for([built, failed]) == ExitCode.BUILD
    assert _exit_for([failed, unserved]) == ExitCode.DOCKER


def test_a_builder_problem_no_platform_owns_stops_the_run(options: BuildOptions) -> None:
    class NoBuilder(FakeEngine):
        def prepare(self, platforms: Sequence[str], *, builder: str | None) -> None:
            raise DockerError("there is no buildx builder called 'nosuch'")

    with pytest.raises(DockerError, match="nosuch"):
        run([make_target()], replace(options, builder="nosuch"), NoBuilder())


def test_a_wheel_several_dependencies_share_is_offered_once(tmp_path: Path) -> None:
    """pycparser is in the closures of both cryptography and PyNaCl (through cffi): paramiko's
    build gets it once (a second link onto the same file failed with SameFileError)."""
    from muslwheels.build.inputs import stage_workdir

    shared = tmp_path / "wheels" / "pycparser-3.12-py3-none-any.whl"
    shared.parent.mkdir()
    shared.write_bytes(b"wheel")
    other = tmp_path / "wheels" / "bcrypt-5.0.0-cp39-abi3-musllinux_1_2_armv7l.whl"
    other.write_bytes(b"other")
    work = tmp_path / "work"
    stage_workdir(make_target("paramiko", "armv7"), work, [shared, other, shared])
    assert sorted(p.name for p in (work / "deps").iterdir()) == sorted([shared.name, other.name])


def test_the_users_cargo_config_reaches_the_build_only_as_a_secret(options: BuildOptions) -> None:
    """MUSLWHEELS_CARGO_CONFIG (a mirror, a private registry's token) is a BuildKit secret of every
    build: never a build arg, never in the recipe files. Without it, no cargo secret at all."""
    config = options.wheels_root.parent / "cargo config,with=odd name.toml"
    config.write_text('[registries.private]\ntoken = "mw-token-not-to-be-seen"\n')
    rust = make_target("alpha", recipe=Recipe(apk=("cargo",)))
    _, engine, _ = run([rust], replace(options, cargo_config=str(config)))
    (request,) = engine.requests
    secrets = dict(request.secrets)
    # a path with "," or "=" cannot be a --secret src: a private copy (in the run's private
    # folder, gone after the run) stands in for it
    assert Path(secrets["cargoconfig"]).name == "cargo-config.toml"
    assert Path(secrets["cargoconfig"]) != config
    assert all("mw-token" not in v and "cargo" not in v.lower() for _, v in request.build_args)
    plain = config.with_name("config.toml")
    plain.write_text(config.read_text())
    _, engine, _ = run([rust], replace(options, cargo_config=str(plain), force=True))
    (request,) = engine.requests
    assert dict(request.secrets)["cargoconfig"] == str(plain)
    _, engine, _ = run([rust], replace(options, force=True))
    (request,) = engine.requests
    assert "cargoconfig" not in dict(request.secrets)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[source.crates-io]\nreplace-with = "m"\n[source.m]\nregistry = "sparse+http://127.0.0.1:8/i/"\n',
            ("sparse+http://127.0.0.1:8/i/",),
        ),
        (
            '[registries.own]\nindex = "registry+http://localhost:9/git"\n',
            ("registry+http://localhost:9/git",),
        ),
        ('[source.m]\ngit = "git+http://[::1]:7/r.git"\n', ("git+http://[::1]:7/r.git",)),
        ('[source.m]\nregistry = "sparse+https://crates.example.test/i/"\n', ()),
        ('[http]\ntimeout = 5\nproxy = "127.0.0.1"\n', ()),  # no URL: not a registry
        ("[source.m\nregistry = 'sparse+http://127.0.0.1:8/'", ()),  # not TOML: cargo says so
    ],
)
def test_a_cargo_config_on_the_loopback_is_found(text: str, expected: tuple[str, ...]) -> None:
    assert cargo_loopback_urls(text) == expected


def test_a_crate_mirror_on_the_loopback_gives_the_build_the_hosts_network(
    options: BuildOptions,
) -> None:
    """A local crate mirror (127.0.0.1) is reached as a loopback index is: with the host's
    network; a remote one keeps the build's own network."""
    config = options.wheels_root.parent / "config.toml"
    rust = make_target("alpha", recipe=Recipe(apk=("cargo",)))
    for url, network in (
        ("sparse+http://127.0.0.1:9/index/", "host"),
        ("sparse+https://m.test/", None),
    ):
        config.write_text(
            f'[source.crates-io]\nreplace-with = "m"\n[source.m]\nregistry = "{url}"\n'
        )
        _, engine, _ = run([rust], replace(options, cargo_config=str(config), force=True))
        (request,) = engine.requests
        assert request.network == network
        assert request.allow == (("network.host",) if network else ())


@pytest.mark.parametrize(("arch", "cpu"), [("armv6", "arm1176"), ("armv7", None), ("amd64", None)])
def test_the_test_step_runs_on_the_platforms_own_cpu(
    options: BuildOptions, tmp_path: Path, arch: str, cpu: str | None
) -> None:
    """armv6 shares qemu-arm with armv7, whose default CPU runs ARMv7 code and says armv7l: the test
    step's build gets the table's QEMU CPU (an ARMv6 one); the others keep QEMU's default."""
    target = make_target("Beta", arch)
    files = RunFiles(pipconf=tmp_path / "pip.conf", cert=None, client_cert=None, host_network=False)
    test = step_request(
        target, stage="report", options=options, run_files=files, contexts=(), out_dir=tmp_path
    )
    assert dict(test.build_args).get("MW_QEMU_CPU") == cpu
    build = build_request(target, options=options, run_files=files, workdir=tmp_path)
    assert dict(build.build_args)["MW_MACHINE"] == target.arch.wheel_machine
