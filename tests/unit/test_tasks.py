"""tasks.py: every flag of every task reaches either the option cascade or its command."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from muslwheels import cli
from muslwheels.options import RunOptions, make_run_options

ROOT = Path(__file__).resolve().parents[2]


def _tasks_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("muslwheels_tasks_under_test", ROOT / "tasks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


TASKS = _tasks_module()
TASK_NAMES = ["plan", "post_checkout", "pre_build", "build", "push", "extract", "check"]


@pytest.mark.parametrize("name", TASK_NAMES)
def test_every_flag_reaches_options_or_the_command(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = getattr(TASKS, name)
    params = inspect.signature(task.body).parameters
    seen: dict[str, Any] = {}

    def fake_command(ws: cli.Workspace, tags: list[str], options: RunOptions, **kw: Any) -> int:
        seen.update(tags=tags, options=options, keywords=kw)
        return 0

    command_name = "cmd_" + name
    monkeypatch.setattr(TASKS.cli, command_name, fake_command)
    # every flag given a non-default value, so a flag that goes nowhere would raise TypeError
    values: dict[str, Any] = {}
    for pname, p in params.items():
        if pname == "c":
            values[pname] = None
        elif pname == "tag":
            values[pname] = ["msgpack"]
        elif p.default is False:
            values[pname] = True
        elif pname == "jobs":
            values[pname] = 2
        elif pname == "mode":
            values[pname] = "cross"
        else:
            values[pname] = None
    values["refresh"] = False  # --refresh and --offline contradict each other
    task.body(**values)
    assert seen["tags"] == ["msgpack"]
    options: RunOptions = seen["options"]
    assert isinstance(options, RunOptions)
    if "dry_run" in params:
        assert options.dry_run is True
    if "jobs" in params:
        assert options.jobs == 2
    if "no_shared" in params:
        assert options.flavour.value == "no-shared"


def test_switch_flags_are_options() -> None:
    accepted = set(inspect.signature(make_run_options).parameters)
    assert accepted >= TASKS.SWITCH_FLAGS
