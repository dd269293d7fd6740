"""hooks/: each Docker Hub hook runs its invoke task from the project root (a stand-in invoke
records what it was asked; the real run is in tests/integration/test_publish_real.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HOOKS = {
    "post_checkout": "post-checkout",
    "pre_build": "pre-build",
    "build": "build",
    "push": "push",
}
RECORDER = """#!/bin/sh
printf '%s|%s|%s|%s\\n' "$PWD" "$*" "${DOCKER_TAG:-}" "${DOCKER_REPO:-}" >> "$HOOK_LOG"
exit "${FAKE_EXIT:-0}"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    shutil.copytree(REPO / "hooks", root / "hooks")
    (root / "tasks.py").write_text("# stand-in\n")
    (root / "docker").mkdir()
    (root / "docker" / "hooks").symlink_to("../hooks")
    return root


def recorder(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(RECORDER)
    path.chmod(0o755)
    return path


def run_hook(
    hook: Path, log: Path, *, cwd: Path, invoke: Path | None, **env: str
) -> subprocess.CompletedProcess[str]:
    full = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(log.parent),
        "HOOK_LOG": str(log),
        "DOCKER_TAG": "cffi-py3.12-aarch64",
        "DOCKER_REPO": "hub.example/someone/wheels",
        "SOURCE_BRANCH": "main",
        "SOURCE_COMMIT": "0123abcd",
        "DOCKERFILE_PATH": "docker/Dockerfile",
        **env,
    }
    if invoke is not None:
        full["MUSLWHEELS_INVOKE"] = str(invoke)
    return subprocess.run(
        [str(hook)], cwd=cwd, env=full, capture_output=True, text=True, check=False, timeout=30
    )


def test_repository_hooks_are_executable_and_beside_the_dockerfile() -> None:
    for name in [*HOOKS, "run-task"]:
        assert os.access(REPO / "hooks" / name, os.X_OK), name
    # Docker Hub looks for hooks/ next to the Dockerfile of the build rule
    assert (REPO / "docker" / "hooks").resolve() == (REPO / "hooks").resolve()


@pytest.mark.parametrize("folder", ["hooks", "docker/hooks"])
def test_each_hook_runs_its_task_from_the_project_root(
    project: Path, tmp_path: Path, folder: str
) -> None:
    fake = recorder(tmp_path / "bin" / "fake-invoke")
    log = tmp_path / "calls.log"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for hook in HOOKS:
        done = run_hook(project / folder / hook, log, cwd=elsewhere, invoke=fake)
        assert done.returncode == 0, done.stderr
        assert "DOCKER_TAG='cffi-py3.12-aarch64'" in done.stderr
        assert "SOURCE_COMMIT='0123abcd'" in done.stderr
    calls = [line.split("|") for line in log.read_text().splitlines()]
    assert [c[1] for c in calls] == list(HOOKS.values())
    assert {c[0] for c in calls} == {str(project)}
    assert {(c[2], c[3]) for c in calls} == {("cffi-py3.12-aarch64", "hub.example/someone/wheels")}


def test_the_projects_venv_is_used_and_the_exit_code_kept(project: Path, tmp_path: Path) -> None:
    recorder(project / ".venv" / "bin" / "invoke")
    log = tmp_path / "calls.log"
    done = run_hook(project / "hooks" / "push", log, cwd=project, invoke=None, FAKE_EXIT="7")
    assert done.returncode == 7
    assert log.read_text().split("|")[1] == "push"


def test_no_project_no_run(tmp_path: Path) -> None:
    lonely = tmp_path / "lonely"
    shutil.copytree(REPO / "hooks", lonely / "hooks")
    fake = recorder(tmp_path / "bin" / "fake-invoke")
    done = run_hook(lonely / "hooks" / "build", tmp_path / "log", cwd=lonely, invoke=fake)
    assert done.returncode == 2
    assert "no tasks.py" in done.stderr
    assert not (tmp_path / "log").exists()
