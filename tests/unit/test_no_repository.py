"""Security: a run that names no wheel repository asks no registry but the base image's.

The project ships no default repository (a namespace it does not own could serve wheels to every
user). Without --repository, DOCKER_REPO or a repository in modules.toml, `build` neither reuses
published wheels nor pushes, and says so in one note.
"""

from __future__ import annotations

import io
import socket
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fakeimages import make_target

from muslwheels import cli
from muslwheels.config.model import NO_REPOSITORY, Defaults, Mode
from muslwheels.console import Ui
from muslwheels.options import Flags, make_run_options
from muslwheels.plan.planner import Plan
from muslwheels.sources.pipconfig import IndexSettings


class _Sources:
    """What cmd_build needs from the run's sources once the plan is made."""

    settings = IndexSettings(index_url="http://127.0.0.1:9/simple/")

    class config:
        defaults = Defaults(mode=Mode.EMULATE)
        modules = ()

    class projects:  # the index's answers (the build asks it about sdists only at run time)
        @staticmethod
        def project(name: str) -> None:
            raise AssertionError(f"the index was asked about {name}")

    def age_notes(self) -> list[str]:
        return []


class _Engine:
    """Records every use (the build itself runs dry: nothing to build)."""

    calls: ClassVar[list[str]] = []

    def __init__(self, docker_host: str = "") -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> bool:
            _Engine.calls.append(name)
            return False

        return record


class _Registry:
    """Stands in for the wheel registry: records what it is asked."""

    def __init__(self, asked: list[str]) -> None:
        self.asked = asked

    def tags(self, repository: str) -> tuple[str, ...]:
        self.asked.append(f"tags {repository}")
        return ()

    def platforms(self, image: str) -> tuple[str, ...] | None:
        self.asked.append(f"platforms {image}")
        return None


def _run_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, repository: str | None
) -> tuple[int, str, list[str]]:
    wheel_registries: list[str] = []
    target = make_target("alpha", repository=repository)
    plan = Plan((target,), (target.id,))
    monkeypatch.setattr(cli, "plan_for_run", lambda ws, options: (plan, _Sources()))
    monkeypatch.setattr(cli, "DockerEngine", _Engine)

    def wheel_registry(options: object) -> _Registry:
        wheel_registries.append("made")
        return _Registry(wheel_registries)

    monkeypatch.setattr(cli, "_wheel_registry", wheel_registry)

    def no_connection(self: socket.socket, address: Any) -> None:
        raise AssertionError(f"connection to {address}")

    monkeypatch.setattr(socket.socket, "connect", no_connection)
    err = io.StringIO()
    ws = cli.Workspace(root=tmp_path, config_path=tmp_path / "modules.toml", ui=Ui(err=err))
    # DO_PUSH and a dry run: reuse and push would both ask the wheel registry
    options = make_run_options({"DO_PUSH": "1", "NOOP": "1"}, Flags(tags=["alpha"]))
    _Engine.calls = []
    code = cli.guarded(ws.ui, lambda: cli.cmd_build(ws, options))
    return code, err.getvalue(), wheel_registries


def test_no_repository_asks_no_registry_and_says_so_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, err, registries = _run_build(tmp_path, monkeypatch, repository=None)
    assert code == 0, err
    assert registries == []
    assert _Engine.calls == []
    assert err.count(NO_REPOSITORY) == 1
    assert "nothing is pushed" in err


def test_with_a_repository_the_registry_is_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other side of the test above: it can fail."""
    code, err, registries = _run_build(tmp_path, monkeypatch, repository="127.0.0.1:5000/me/w")
    assert code == 0, err
    assert "made" in registries and any(a.startswith(("tags", "platforms")) for a in registries)
    assert NO_REPOSITORY not in err


def test_push_without_a_repository_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = make_target("alpha", repository=None)
    plan = Plan((target,), (target.id,))
    monkeypatch.setattr(cli, "plan_for_run", lambda ws, options: (plan, _Sources()))
    err = io.StringIO()
    ws = cli.Workspace(root=tmp_path, config_path=tmp_path / "modules.toml", ui=Ui(err=err))
    options = make_run_options({}, Flags(tags=["alpha"], pushing=True))
    assert cli.guarded(ws.ui, lambda: cli.cmd_push(ws, options)) == 2
    assert "no wheel repository" in err.getvalue()
    assert "--repository" in err.getvalue()
