"""build/bake.py: the plan as a bake definition, and a bake run (fake engine at the BakeEngine seam).

The round trip through the real ``docker buildx bake --print`` runs where buildx is installed."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from fakes import Recorder, make_target, wheel_name, zip_bytes

from muslwheels.build.bake import (
    BakeSettings,
    bake_name,
    bake_targets,
    cache_kind,
    group_name,
    print_definition,
)
from muslwheels.build.inputs import BuildOptions
from muslwheels.build.scheduler import TargetResult
from muslwheels.cli import _exit_for
from muslwheels.config.model import Mode, Target
from muslwheels.engine.interface import BakeFailed, BakeRequest, BuildRequest, LocalOutput
from muslwheels.errors import DockerError, ExitCode, PlatformsUnsupported, UsageError
from muslwheels.sources.pipconfig import IndexSettings

SECRET = "s3cr3t-pa55word"
INDEX = IndexSettings(index_url=f"https://user:{SECRET}@index.example/simple")
LOOPBACK = IndexSettings(index_url="http://127.0.0.1:8080/simple")


def docker_dir(root: Path) -> Path:
    folder = root / "docker"
    folder.mkdir(exist_ok=True)
    (folder / "Dockerfile").write_text("FROM scratch AS wheels\n")
    return folder


def make_options(root: Path, index: IndexSettings = INDEX, **kw: Any) -> BuildOptions:
    return BuildOptions(
        wheels_root=root / "wheels",
        log_dir=root / "logs",
        index=index,
        docker_dir=docker_dir(root),
        temp_root=root,
        **kw,
    )


# a -> b -> c (c depends on b directly, on a transitively); d alone, for arm64
A = make_target("alpha")
B = make_target("beta", depends=[A])
C = make_target("gamma", depends=[B])
D = make_target("delta", "arm64v8")
TARGETS = (A, B, C, D)
GROUPS = (("gamma", (A.id, B.id, C.id)), ("delta-arm64", (D.id,)))


def printed(root: Path, index: IndexSettings = INDEX, **kw: Any) -> tuple[Path, ...]:
    return print_definition(
        TARGETS,
        root / "out" / "bake.json",
        options=make_options(root, index),
        settings=BakeSettings(GROUPS, **kw),
    )


def test_one_bake_target_per_build_target_with_dependencies_as_target_contexts(
    tmp_path: Path,
) -> None:
    (path,) = printed(tmp_path)
    data = json.loads(path.read_text())
    targets = data["target"]
    names = [bake_name(t) for t in TARGETS]
    assert set(names) <= set(targets)
    assert targets[bake_name(B)]["contexts"]["deps"] == f"target:{bake_name(A)}"
    # two dependencies (one transitive): a merge target holds both wheels
    merge = targets[bake_name(C)]["contexts"]["deps"].removeprefix("target:")
    assert merge == f"deps-{bake_name(C)}"
    assert sorted(targets[merge]["contexts"].values()) == sorted(
        [f"target:{bake_name(A)}", f"target:{bake_name(B)}"]
    )
    assert "COPY --from=dep1 / /" in targets[merge]["dockerfile-inline"]
    alpha = targets[bake_name(A)]
    assert alpha["platforms"] == ["linux/amd64"]
    assert targets[bake_name(D)]["platforms"] == ["linux/arm64"]
    assert alpha["args"]["MW_PROJECT"] == "alpha"
    assert alpha["args"]["MW_VERSION"] == "1.0"
    assert Path(alpha["dockerfile"]) == tmp_path / "docker" / "Dockerfile"
    recipe = Path(alpha["contexts"]["recipe"])
    assert (recipe / "build.sh").is_file()  # the recipe files build writes
    assert alpha["output"][0].startswith("type=local,dest=")
    assert data["group"]["default"]["targets"] == names
    assert data["group"][group_name("gamma")]["targets"] == names[:3]
    assert data["group"][group_name("delta-arm64")]["targets"] == [bake_name(D)]
    assert "cache-from" not in alpha


def test_secrets_are_named_never_given(tmp_path: Path) -> None:
    (path,) = printed(tmp_path)
    text = path.read_text()
    assert SECRET not in text
    entry = json.loads(text)["target"][bake_name(A)]
    (secret,) = entry["secret"]
    assert secret.startswith("id=pipconf,src=")
    source = Path(secret.split("src=", 1)[1])
    assert SECRET in source.read_text()  # the value stays in the private file
    assert source.stat().st_mode & 0o077 == 0
    assert not any(SECRET in v for v in entry["args"].values())


def test_loopback_index_gets_the_host_network_through_a_compose_file(tmp_path: Path) -> None:
    path, network = printed(tmp_path, LOOPBACK)
    data = json.loads(path.read_text())
    assert "PIP_NETWORK" not in data["target"][bake_name(A)]["args"]
    assert data["target"][bake_name(A)]["entitlements"] == ["network.host"]
    text = network.read_text()
    for target in TARGETS:
        assert f"  {bake_name(target)}:\n    build:\n      network: host\n" in text
    assert "deps-" not in text  # merge targets run nothing


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (
            "registry",
            "type=registry,ref=registry.test/me/wheels:buildcache-alpha-py3.11-amd64-shared",
        ),
        ("gha", "type=gha,scope=alpha-py3_11-amd64-shared"),
    ],
)
def test_cache_entries(tmp_path: Path, kind: str, expected: str) -> None:
    checked = cache_kind(kind)
    (path,) = printed(tmp_path, cache=checked)
    entry = json.loads(path.read_text())["target"][bake_name(A)]
    assert entry["cache-from"] == [expected.replace("py3.11", "py3_11")]
    assert entry["cache-to"] == [expected.replace("py3.11", "py3_11") + ",mode=max"]


def test_unknown_cache_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--cache s3"):
        cache_kind("s3")


def definition_targets(data: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The targets of a definition as ``docker buildx bake --print`` shows them: keys bake leaves
    out of its output (buildx 0.13 has no ``entitlements``) removed."""
    return {
        name: {k: v for k, v in entry.items() if k != "entitlements"}
        for name, entry in data.get("target", {}).items()
    }


@pytest.mark.skipif(shutil.which("docker") is None, reason="docker CLI (buildx) not installed")
def test_definition_round_trips_through_buildx_print(tmp_path: Path) -> None:
    files = printed(tmp_path, LOOPBACK, cache="gha")
    args = ["docker", "buildx", "bake", "--print"]
    for f in files:
        args += ["-f", str(f)]
    done = subprocess.run(
        [*args, "default"], capture_output=True, text=True, timeout=60, check=False
    )
    if "is not a docker command" in done.stderr:
        pytest.skip("docker buildx is not installed")
    assert done.returncode == 0, done.stderr
    ours = json.loads(files[0].read_text())
    theirs = json.loads(done.stdout)
    assert theirs["target"] == definition_targets(ours)
    assert SECRET not in done.stdout


# --- a bake run, with a fake engine ----------------------------------------------------------------


class FakeBake:
    """Bakes by writing each target's wheel into its output directory. ``fail`` (bake name ->
    reason) makes a bake that includes that target fail, once."""

    def __init__(self, targets: Sequence[Target]) -> None:
        self.by_name = {bake_name(t): t for t in targets}
        self.fail: dict[str, str] = {}
        self.calls: list[list[str]] = []
        self.definitions: list[dict[str, Any]] = []
        self.deps_files: dict[str, list[str]] = {}  # bake target -> files of its deps directory
        self.prepared: list[tuple[list[str], str | None, bool]] = []
        self.wheel_for: Callable[[Target], str] = wheel_name

    def prepare_bake(
        self, platforms: Sequence[str], *, builder: str | None, cache_export: bool
    ) -> None:
        self.prepared.append((list(platforms), builder, cache_export))

    def bake(self, request: BakeRequest, on_line: Callable[[str | None, str], None]) -> None:
        targets = request.targets
        self.calls.append(list(targets))
        data = json.loads(request.files[0].read_text())
        self.definitions.append(data)
        for name, entry in data["target"].items():
            deps = entry.get("contexts", {}).get("deps", "")
            if not deps.startswith("target:"):
                self.deps_files[name] = sorted(p.name for p in Path(deps).iterdir())
        for name in targets:
            on_line(name, f"#1 [{name} built 1/1] RUN mw-wheel")
            if name in self.fail:
                reason = self.fail.pop(name)
                raise BakeFailed("failed to solve", {name: reason})
        for name in targets:
            dest = Path(data["target"][name]["output"][0].split("dest=", 1)[1])
            dest.mkdir(parents=True, exist_ok=True)
            (dest / self.wheel_for(self.by_name[name])).write_bytes(
                zip_bytes({"built.txt": b"wheel"})
            )

    def build(self, request: BuildRequest, on_line: Callable[[str], None]) -> None:
        raise AssertionError("these runs have no test step (test_wheeltest.py bakes with one)")

    def cancel(self) -> None:
        pass


def run_bake(
    root: Path, engine: FakeBake, targets: Sequence[Target] = TARGETS, **kw: Any
) -> dict[str, TargetResult]:
    results = bake_targets(
        targets,
        options=make_options(root, **kw),
        settings=BakeSettings(GROUPS),
        engine=engine,
        reporter=Recorder(),
    )
    return {r.target.id: r for r in results}


def installed(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "wheels").glob("*/*.whl"))


def test_bake_verifies_and_installs_every_wheel(tmp_path: Path) -> None:
    engine = FakeBake(TARGETS)
    results = run_bake(tmp_path, engine)
    assert {r.status for r in results.values()} == {"built"}
    assert installed(tmp_path) == sorted(wheel_name(t) for t in TARGETS)
    assert engine.calls == [[bake_name(t) for t in TARGETS]]
    assert engine.prepared == [(["linux/amd64", "linux/arm64"], None, False)]
    assert (tmp_path / "logs" / "bake.log").read_text().count("RUN mw-wheel") == 4


def test_present_dependency_is_offered_from_wheels_not_baked(tmp_path: Path) -> None:
    engine = FakeBake(TARGETS)
    folder = tmp_path / "wheels" / "amd64"
    folder.mkdir(parents=True)
    (folder / wheel_name(A)).write_bytes(b"present")
    results = run_bake(tmp_path, engine, (A, B))
    assert results[A.id].status == "skipped"
    assert engine.calls == [[bake_name(B)]]
    assert engine.deps_files[bake_name(B)] == [wheel_name(A)]


def test_one_failed_target_fails_its_dependents_and_the_rest_still_land(tmp_path: Path) -> None:
    engine = FakeBake(TARGETS)
    engine.fail[bake_name(B)] = "building the wheel failed: boom"
    results = run_bake(tmp_path, engine)
    assert results[B.id].status == "failed"
    assert results[B.id].message == "building the wheel failed: boom"
    assert results[C.id].status == "failed"
    assert results[C.id].message == f"dependency {B.tag} failed"
    assert results[A.id].status == "built"
    assert results[D.id].status == "built"
    assert installed(tmp_path) == sorted([wheel_name(A), wheel_name(D)])
    # baked again without the failed target and what needs it
    assert engine.calls[1] == [bake_name(A), bake_name(D)]
    log = results[B.id].log_path
    assert log is not None
    assert "boom" in log.read_text()


def test_a_wheel_that_does_not_fit_is_not_installed(tmp_path: Path) -> None:
    engine = FakeBake(TARGETS)
    engine.wheel_for = lambda t: wheel_name(t).replace("alpha", "other")
    results = run_bake(tmp_path, engine, (A, B))
    assert results[A.id].status == "failed"
    assert results[B.id].status == "failed"  # built against a wheel that did not pass
    assert installed(tmp_path) == []


def test_a_failure_no_target_owns_fails_every_target(tmp_path: Path) -> None:
    class Broken(FakeBake):
        def bake(self, *args: Any, **kw: Any) -> None:
            raise BakeFailed("failed to dial the builder", {})

    results = run_bake(tmp_path, Broken(TARGETS))
    assert {r.message for r in results.values()} == {"failed to dial the builder"}


def test_targets_of_a_platform_the_builder_lacks_fail_and_the_rest_bake(tmp_path: Path) -> None:
    class Armless(FakeBake):
        def prepare_bake(
            self, platforms: Sequence[str], *, builder: str | None, cache_export: bool
        ) -> None:
            super().prepare_bake(platforms, builder=builder, cache_export=cache_export)
            if "linux/arm64" in platforms:
                raise PlatformsUnsupported(
                    "builder 'wheels' does not support linux/arm64 (it reports: linux/amd64)",
                    platforms=["linux/arm64"],
                )

    engine = Armless(TARGETS)
    results = run_bake(tmp_path, engine, builder="wheels")
    assert results[D.id].status == "failed"
    assert results[D.id].message == (
        "builder 'wheels' does not support linux/arm64 (it reports: linux/amd64)"
    )
    assert results[D.id].exit_code == ExitCode.DOCKER
    assert [results[t.id].status for t in (A, B, C)] == ["built"] * 3
    assert engine.calls == [[bake_name(t) for t in (A, B, C)]]
    assert [p for p, _, _ in engine.prepared] == [["linux/amd64", "linux/arm64"], ["linux/amd64"]]
    assert installed(tmp_path) == sorted(wheel_name(t) for t in (A, B, C))
    assert _exit_for(tuple(results.values())) == ExitCode.DOCKER


def test_builder_problems_stop_the_run_before_baking(tmp_path: Path) -> None:
    class NoBuilder(FakeBake):
        def prepare_bake(self, *args: Any, **kw: Any) -> None:
            raise DockerError("there is no buildx builder called 'nosuch'")

    engine = NoBuilder(TARGETS)
    with pytest.raises(DockerError, match="nosuch"):
        run_bake(tmp_path, engine, builder="nosuch")
    assert engine.calls == []


# --- reading bake's plain progress (docker.BakeTracker) ----------------------------------------------

BAKE_OUTPUT = """\
#1 [internal] load local bake definitions
#1 DONE 0.0s
#9 [bad built-default 3/3] RUN /mw/bin/mw-wheel
#9 1.20 ERROR: Could not find a version that satisfies the requirement nosuch==1.0
#9 ERROR: process "/bin/sh -c /mw/bin/mw-wheel" did not complete successfully: exit code: 1
#10 [ok1 internal] load .dockerignore
#10 CANCELED
#12 [top built-default 3/3] RUN /mw/bin/mw-wheel
#12 ERROR: process "/bin/sh -c /mw/bin/mw-wheel" did not complete successfully: context canceled
#11 [deps-top wheels 1/2] COPY --from=dep0 / /
#11 DONE 0.1s
ERROR: failed to solve: process "/bin/sh -c /mw/bin/mw-wheel" did not complete successfully: exit code: 1
"""


def test_bake_progress_is_split_by_target_and_the_failed_one_named(tmp_path: Path) -> None:
    from muslwheels.engine.buildxlog import BakeTracker

    options = make_options(tmp_path)
    request = BuildRequest(
        context=options.docker_dir,
        dockerfile=options.docker_dir / "Dockerfile",
        platform="linux/amd64",
        build_args=(("BASE_IMAGE", "python:3.11-alpine3.20"),),
        build_contexts=(),
        secrets=(),
        output=LocalOutput(tmp_path),
    )
    tracker = BakeTracker({"bad": request, "ok1": request, "top": request})
    owners = [tracker.feed(line) for line in BAKE_OUTPUT.splitlines()]
    assert owners == [
        *(None, None, "bad", "bad", "bad", "ok1", "ok1", "top", "top"),
        *("deps-top", "deps-top", None),
    ]
    assert tracker.reasons() == {  # top was only cancelled: not named
        "bad": "building the wheel failed (exit code 1): ERROR: Could not find a version that "
        "satisfies the requirement nosuch==1.0"
    }
    assert tracker.summary().startswith("failed to solve")


def test_registry_cache_needs_a_wheel_repository(tmp_path: Path) -> None:
    import dataclasses

    nowhere = dataclasses.replace(A, repository=None)
    with pytest.raises(UsageError, match="--cache registry"):
        print_definition(
            [nowhere],
            tmp_path / "bake.json",
            options=make_options(tmp_path),
            settings=BakeSettings(cache="registry"),
        )


BAKE_STAND_IN = """#!/bin/sh
printf '%s\\n' "$@" > "$MW_ARGV"
cat "$MW_OUTPUT"
exit 1
"""


def test_engine_runs_the_bake_command_and_names_the_failed_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docker.DockerEngine.bake runs bake_command_line (a stand-in docker on PATH records it)."""
    from muslwheels.engine.docker import DockerEngine, bake_command_line

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(BAKE_STAND_IN)
    (bin_dir / "docker").chmod(0o755)
    (tmp_path / "output").write_text(BAKE_OUTPUT)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("MW_ARGV", str(tmp_path / "argv"))
    monkeypatch.setenv("MW_OUTPUT", str(tmp_path / "output"))
    options = make_options(tmp_path)
    request = BuildRequest(
        context=options.docker_dir,
        dockerfile=options.docker_dir / "Dockerfile",
        platform="linux/amd64",
        build_args=(("BASE_IMAGE", "python:3.11-alpine3.20"),),
        build_contexts=(),
        secrets=(),
        output=LocalOutput(tmp_path),
    )
    files = (tmp_path / "bake.json", tmp_path / "bake.json.network.yml")
    seen: list[tuple[str | None, str]] = []
    with pytest.raises(BakeFailed) as caught:
        DockerEngine().bake(
            BakeRequest(
                files, ("bad", "ok1", "top"), {"bad": request, "ok1": request, "top": request}
            ),
            lambda name, line: seen.append((name, line)),
        )
    argv = (tmp_path / "argv").read_text().splitlines()
    assert ["docker", *argv] == list(bake_command_line(files, ["bad", "ok1", "top"], builder=None))
    assert argv[:4] == ["buildx", "bake", "--progress", "plain"]
    assert list(caught.value.reasons) == ["bad"]
    assert str(caught.value).startswith("failed to solve")
    assert ("bad", "#9 [bad built-default 3/3] RUN /mw/bin/mw-wheel") in seen


def test_bake_command_line_on_a_builder_or_a_docker_context(tmp_path: Path) -> None:
    from muslwheels.engine.docker import bake_command_line

    files = [tmp_path / "bake.json"]
    assert bake_command_line(files, ["t"], builder="wheels") == (
        *("docker", "buildx", "bake", "--progress", "plain", "--builder", "wheels"),
        *("--file", str(files[0]), "t"),
    )
    # buildx refuses a docker-driver builder (a Docker context) as --builder
    assert bake_command_line(files, ["t"], builder=None, context="other")[:5] == (
        "docker", "--context", "other", "buildx", "bake",
    )  # fmt: skip


def test_a_build_on_a_docker_context_runs_as_docker_context_buildx_build(tmp_path: Path) -> None:
    request = BuildRequest(
        context=tmp_path,
        dockerfile=tmp_path / "test.Dockerfile",
        platform="linux/amd64",
        build_args=(),
        build_contexts=(),
        secrets=(),
        output=LocalOutput(tmp_path / "out"),
        builder="other",
    )
    assert request.command_line()[:7] == (
        "docker", "buildx", "build", "--progress", "plain", "--builder", "other",
    )  # fmt: skip
    # the test step's builds on a docker-driver builder (a Docker context) after a bake
    line = request.command_line(context="other")
    assert line[:5] == ("docker", "--context", "other", "buildx", "build")
    assert "--builder" not in line


# --- mode auto: a failed cross bake is baked again in emulation, whose failure stays a failure ------


class _Sticky(dict[str, str]):
    """A ``FakeBake.fail`` whose targets fail every time, not once."""

    def pop(self, key: str, *default: str) -> str:  # type: ignore[override]
        return self[key]


def baked_modes(engine: FakeBake, target: Target) -> list[str]:
    """MW_MODE of ``target`` in each bake (the Dockerfile's default, emulate, when not given)."""
    return [
        d["target"][bake_name(target)]["args"].get("MW_MODE", "emulate") for d in engine.definitions
    ]


def test_auto_bakes_a_failed_cross_target_again_in_emulation(tmp_path: Path) -> None:
    engine = FakeBake((D,))
    engine.fail[bake_name(D)] = "cross-compiling the wheel failed: boom"
    results = run_bake(tmp_path, engine, (D,), mode=Mode.AUTO, build_platform="linux/amd64")
    assert baked_modes(engine, D) == ["cross", "emulate"]
    assert results[D.id].status == "built"
    assert results[D.id].mode == "emulate (fallback: cross-compiling the wheel failed: boom)"
    assert installed(tmp_path) == [wheel_name(D)]


def test_auto_never_hides_a_failed_emulated_bake(tmp_path: Path) -> None:
    engine = FakeBake((D,))
    engine.fail = _Sticky({bake_name(D): "building the wheel failed: boom"})
    results = run_bake(tmp_path, engine, (D,), mode=Mode.AUTO, build_platform="linux/amd64")
    assert baked_modes(engine, D) == ["cross", "emulate"]
    assert results[D.id].status == "failed"
    # build's wording: the emulated failure, and what went wrong in cross mode
    assert results[D.id].message == (
        "building the wheel failed: boom (in emulation, after the cross build failed: "
        "building the wheel failed: boom)"
    )
    assert installed(tmp_path) == []


def test_print_into_a_folder_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("")
    for dest in (tmp_path / "plain" / "bake.json", Path("/proc/musl-wheels-test/bake.json")):
        with pytest.raises(UsageError, match="cannot write the bake definition") as caught:
            print_definition(
                TARGETS, dest, options=make_options(tmp_path, INDEX), settings=BakeSettings(GROUPS)
            )
        assert caught.value.exit_code == 2
