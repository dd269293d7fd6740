"""tasks.py: every flag of every task reaches the run description or its command."""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from muslwheels import cli
from muslwheels.options import Flags, make_run_options

ROOT = Path(__file__).resolve().parents[2]


def _tasks_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("muslwheels_tasks_under_test", ROOT / "tasks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


TASKS = _tasks_module()
TASK_NAMES = ["plan", "post_checkout", "pre_build", "build", "bake", "push", "extract", "check"]


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


def _call(task: Any, values: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, ...]:
    seen: list[tuple[Any, ...]] = []

    def fake_run(
        ws: cli.Workspace, command: Callable[..., int], flags: Flags, **keywords: Any
    ) -> int:
        seen.append((ws.config_path, command.__name__, flags, keywords))
        return 0

    monkeypatch.setattr(TASKS.cli, "run", fake_run)
    task.body(c=None, **values)
    assert len(seen) == 1
    return seen[0]


@pytest.mark.parametrize("name", TASK_NAMES)
def test_every_flag_reaches_the_run_description_or_the_command(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = getattr(TASKS, name)
    params = {k: p for k, p in inspect.signature(task.body).parameters.items() if k != "c"}
    defaults = {k: ([] if k == "tag" else p.default) for k, p in params.items()}
    plain = _call(task, defaults, monkeypatch)
    assert plain[1] == "cmd_" + name
    for flag, p in params.items():
        changed = _call(task, {**defaults, flag: _given(flag, p.default)}, monkeypatch)
        assert changed != plain, f"invoke {name} --{flag.replace('_', '-')} goes nowhere"


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
