"""bench/: the argument lists its cases give `invoke` exist on the tasks they go to (`invoke plan`
has no --no-test: the overhead case once stopped at once on it). The cases themselves run in the
matrix tier (`nox -s matrix`: every case once, as a smoke run)."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import fixtures, run  # noqa: E402


def _tasks_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("muslwheels_tasks_for_bench", ROOT / "tasks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


TASKS = _tasks_module()


def task_flags(name: str) -> set[str]:
    parameters = list(inspect.signature(getattr(TASKS, name).body).parameters)[1:]  # c: Context
    return {"--" + p.replace("_", "-") for p in parameters}


def flags(args: list[str]) -> set[str]:
    return {a for a in args if a.startswith("--")}


@pytest.fixture
def workspace(tmp_path: Path) -> fixtures.Workspace:
    return fixtures.Workspace(
        root=tmp_path,
        plan_config=tmp_path / "modules.toml",
        build_config=tmp_path / "bench-modules.toml",
        bin_dir=tmp_path / "bin",
        docker_log=tmp_path / "docker.log",
        cache=tmp_path / "cache",
    )


@pytest.mark.parametrize("task", ["plan", "build"])
def test_plan_and_target_args_are_flags_of_plan_and_build(
    workspace: fixtures.Workspace, task: str
) -> None:
    tag = run.build_tag(run.CEXT_A, "amd64")
    for args in (run.plan_args(workspace), run.target_args(workspace, tag)):
        assert flags(args) <= task_flags(task), args


@pytest.mark.parametrize("task", ["build", "bake"])
def test_build_args_are_flags_of_build_and_bake(workspace: fixtures.Workspace, task: str) -> None:
    tag = run.build_tag(run.CEXT_A, "amd64")
    for tested in (False, True):
        args = run.build_args(workspace, tag, tested=tested)
        assert flags(args) <= task_flags(task), args
    assert "--no-test" not in task_flags("plan")  # so build_args never goes to plan
