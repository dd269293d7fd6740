"""Helpers of the integration tests: targets for the stand-in image, running builds, running wheels."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from muslwheels.build.inputs import BuildOptions, WheelTestSettings
from muslwheels.build.scheduler import TargetResult, build_targets
from muslwheels.config.arches import lookup_arch
from muslwheels.config.model import Flavour, Recipe, Target
from muslwheels.engine.docker import DockerEngine
from muslwheels.sources.pipconfig import IndexSettings

REGISTRY = "127.0.0.1:5000"
STANDIN_REPO = "standin/python"
STANDIN_TAG = "3.11-bookworm"
STANDIN = f"{REGISTRY}/{STANDIN_REPO}:{STANDIN_TAG}"  # Debian glibc, linux/amd64 + linux/arm64
WHEEL_REPOSITORY = f"{REGISTRY}/muslwheels-test/wheels"
#: CI sets MUSLWHEELS_REQUIRE_INTEGRATION=1: a missing engine or stand-in is then a failure, not a skip.
REQUIRED = os.environ.get("MUSLWHEELS_REQUIRE_INTEGRATION", "") == "1"


@dataclass(frozen=True)
class MatrixCell:
    """One target of a run, for the matrix record (MATRIX.md): what was built, where, how."""

    what: str  # module and version
    arch: str
    mode: str
    built: str  # the target's status: built, failed, skipped
    tested: str  # its test step's line, or "-"
    seconds: float


#: The cells of this session's runs; tests/integration/conftest.py writes them out at the end when
#: the session was given --matrix-record (the matrix session).
MATRIX_CELLS: list[MatrixCell] = []


def record_cell(cell: MatrixCell) -> None:
    MATRIX_CELLS.append(cell)


def run_command(cmd: Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, check=False)


# --- running builds ----------------------------------------------------------------------------------


def make_target(
    module: str,
    arch: str = "amd64",
    *,
    version: str = "1.0.0",
    recipe: Recipe | None = None,
    depends: Sequence[Target] = (),
    flavour: Flavour = Flavour.SHARED,
    base_image: str = STANDIN,
) -> Target:
    found = lookup_arch(arch)
    assert found is not None
    return Target(
        module=module,
        version=version,
        python="3.11",
        arch=found,
        ssl=None,
        flavour=flavour,
        base_image=base_image,
        repository=WHEEL_REPOSITORY,
        recipe=recipe or Recipe(),
        depends=tuple(d.id for d in depends),
    )


@dataclass
class Recorder:
    """A BuildReporter that keeps everything."""

    lines: dict[str, list[str]] = field(default_factory=dict)
    finished: list[TargetResult] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def target_started(self, target: Target) -> None:
        with self.lock:
            self.lines.setdefault(target.id, [])

    def target_log(self, target: Target, line: str) -> None:
        with self.lock:
            self.lines.setdefault(target.id, []).append(line)

    def target_finished(self, result: TargetResult) -> None:
        with self.lock:
            self.finished.append(result)


@dataclass
class Run:
    results: tuple[TargetResult, ...]
    wheels_root: Path
    recorder: Recorder
    seconds: float

    def result(self, target: Target) -> TargetResult:
        return next(r for r in self.results if r.target.id == target.id)

    def wheel(self, target: Target) -> Path:
        result = self.result(target)
        assert result.status in ("built", "skipped"), f"{target.id}: {result.message}"
        (name,) = result.wheels
        return self.wheels_root / target.wheel_dir / name


def run_build(
    targets: Sequence[Target],
    root: Path,
    *,
    index: IndexSettings,
    engine: DockerEngine,
    jobs: int = 2,
    force: bool = False,
    no_cache: bool = False,
    tests: WheelTestSettings | None = None,
) -> Run:
    recorder = Recorder()
    # MUSLWHEELS_TEST_NO_CACHE=1: every layer built anew, as on a machine with an empty cache
    no_cache = no_cache or os.environ.get("MUSLWHEELS_TEST_NO_CACHE", "") == "1"
    options = BuildOptions(
        wheels_root=root / "wheels",
        log_dir=root / "logs",
        index=index,
        jobs=jobs,
        force=force,
        no_cache=no_cache,
        tests=tests,
    )
    start = time.monotonic()
    results = build_targets(targets, options=options, engine=engine, reporter=recorder)
    return Run(results, options.wheels_root, recorder, time.monotonic() - start)


def run_in_standin(
    platform: str, wheels: Sequence[Path], code: str, *, image: str = STANDIN
) -> str:
    """Install ``wheels`` (no index, no network) in a fresh container of ``image`` for ``platform``
    and run ``code`` with its Python; its stdout."""
    mounts: list[str] = []
    for i, wheel in enumerate(wheels):
        mounts += ["-v", f"{wheel}:/w/{i}/{wheel.name}:ro"]
    script = (
        "set -e; python -m pip install -q --no-index --no-cache-dir --no-deps "
        "--disable-pip-version-check --root-user-action=ignore /w/*/*.whl >&2; "
        'exec python -c "$0"'
    )
    done = run_command(
        [
            "docker",
            "run",
            "--rm",
            "--network",
            "none",
            "--platform",
            platform,
            *mounts,
            image,
            "sh",
            "-c",
            script,
            code,
        ],
        timeout=600,
    )
    assert done.returncode == 0, f"container failed ({done.returncode}): {done.stderr[-3000:]}"
    return done.stdout.strip()


def build_standin_on_demand(script: Path, *args: str, timeout: float = 3600) -> None:
    """Run a stand-in's build script (it skips in a second when the registry holds its tag made
    from its recipe); a failure fails the test under MUSLWHEELS_REQUIRE_INTEGRATION, else skips it
    with the script's reason."""
    done = subprocess.run(
        ["bash", str(script), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        reason = f"{' '.join((script.name, *args))} failed: {done.stderr[-2000:]}"
        if REQUIRED:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
