"""The tasks (program.py, served by tasks.py and musl-wheels): every flag of every task reaches the
run description or its command, and both entry points serve the same tasks."""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from muslwheels import cli, program
from muslwheels.options import Flags, make_run_options

ROOT = Path(__file__).resolve().parents[2]


def _given(name: str, default: Any) -> Any:
    """A value for a flag that differs from its default."""
    if name == "tag":
        return ["msgpack"]
    if default is False:
        return True
    if name == "jobs":
        return 2
    if name == "mode":
        return "cross"
    return "given"


def _call(
    spec: program.TaskSpec, values: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, ...]:
    seen: list[tuple[Any, ...]] = []

    def fake_run(
        ws: cli.Workspace, command: Callable[..., int], flags: Flags, **keywords: Any
    ) -> int:
        seen.append((ws.config_path, command.__name__, flags, keywords))
        return 0

    def fake_command(ws: cli.Workspace, **keywords: Any) -> int:
        seen.append((ws.config_path, spec.name, keywords))
        return 0

    monkeypatch.setattr(cli, "run", fake_run)
    if spec.direct:  # no run description: the command itself is called (under cli.guarded)
        spec = dataclasses.replace(spec, command=fake_command)
    program.make_task(spec, lambda: ROOT).body(None, **values)
    assert len(seen) == 1
    return seen[0]


@pytest.mark.parametrize("spec", program.TASKS, ids=lambda s: s.name)
def test_every_flag_reaches_the_run_description_or_the_command(
    spec: program.TaskSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = program.make_task(spec, lambda: ROOT)
    params = {k: p for k, p in inspect.signature(task.body).parameters.items() if k != "c"}
    assert list(params) == list(spec.flags)
    defaults = {k: ([] if k == "tag" else p.default) for k, p in params.items()}
    plain = _call(spec, defaults, monkeypatch)
    if not spec.direct:
        assert plain[1] == spec.command.__name__
    for flag, p in params.items():
        changed = _call(spec, {**defaults, flag: _given(flag, p.default)}, monkeypatch)
        assert changed != plain, (
            f"invoke {spec.name} --{flag.rstrip('_').replace('_', '-')} goes nowhere"
        )


def test_every_flag_is_used_and_documented() -> None:
    used = {name for spec in program.TASKS for name in spec.flags}
    assert used == set(program.FLAGS)
    for spec in program.TASKS:
        assert set(spec.help) <= set(spec.flags), spec.name
        assert set(spec.keywords) <= set(spec.flags), spec.name


def test_every_flag_field_changes_the_run_description() -> None:
    plain = make_run_options({}, Flags())
    for field in dataclasses.fields(Flags):
        value: Any = {
            "tags": ("msgpack",),
            "jobs": 2,
            "mode": "cross",
            "builder": "b",
            "base_image": "img:{python}",
            "repository": "me/wheels",
            "timeout": "5",
        }.get(field.name, True)
        given = make_run_options({}, dataclasses.replace(Flags(), **{field.name: value}))
        assert given != plain, f"Flags.{field.name} does not reach RunOptions"


def test_tasks_py_and_musl_wheels_serve_the_same_tasks() -> None:
    spec = importlib.util.spec_from_file_location("muslwheels_tasks_under_test", ROOT / "tasks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    names = sorted(s.name for s in program.TASKS)
    assert sorted(module.ns.task_names) == names
    served = program.program().namespace
    assert served is not None
    assert sorted(served.task_names) == names
    listed = subprocess.run(
        [sys.executable, "-m", "muslwheels", "--list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for name in names:
        assert f"  {name} " in listed
