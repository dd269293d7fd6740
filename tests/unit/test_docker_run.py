"""docker.DockerEngine runs a build as the exact command --dry-run shows, and stops it with a signal.

A stand-in ``docker`` on PATH records its arguments and plays a build; no Docker is involved.
"""

from __future__ import annotations

import shlex
import threading
from pathlib import Path

import pytest

from muslwheels.engine.docker import DockerEngine
from muslwheels.engine.interface import BuildRequest, LocalOutput
from muslwheels.errors import BuildError, DockerError

#: Records its argv (one argument a line), then plays the build MW_PLAY names.
STAND_IN = """#!/bin/sh
printf '%s\\n' "$@" > "$MW_ARGV"
case "$MW_PLAY" in
  ok)
    echo '#1 [tools 1/2] RUN /mw/bin/mw-tools'
    echo '#1 DONE 0.1s' >&2
    ;;
  fail)
    echo '#5 [built 2/2] RUN /mw/bin/mw-wheel'
    echo '#5 0.2 muslwheels: error: no compiler for this' >&2
    echo '#5 ERROR: process "/bin/sh -c /mw/bin/mw-wheel" did not complete successfully: exit code: 3'
    echo 'ERROR: failed to solve: process "/bin/sh -c /mw/bin/mw-wheel" did not complete successfully: exit code: 3' >&2
    exit 1
    ;;
  hang)
    trap 'echo "stopped by SIGINT"; exit 130' INT
    echo 'building'
    while :; do sleep 0.1; done
    ;;
esac
"""


@pytest.fixture
def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake ``docker`` first on PATH; the file it writes its arguments to."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(STAND_IN)
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    argv = tmp_path / "argv"
    monkeypatch.setenv("MW_ARGV", str(argv))
    return argv


def request(tmp_path: Path) -> BuildRequest:
    return BuildRequest(
        context=tmp_path / "docker dir",
        dockerfile=tmp_path / "docker dir" / "Dockerfile",
        platform="linux/arm64",
        build_args=(("BASE_IMAGE", "python:3.11-alpine3.20"), ("MW_PROJECT", "a b")),
        build_contexts=(("recipe", str(tmp_path / "recipe")),),
        secrets=(("pipconf", str(tmp_path / "pip.conf")),),
        output=LocalOutput(tmp_path / "out"),
        network="host",
        allow=("network.host",),
    )


def test_the_build_runs_exactly_the_shown_command(
    stand_in: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MW_PLAY", "ok")
    lines: list[str] = []
    req = request(tmp_path)
    DockerEngine().build(req, lines.append)
    ran = stand_in.read_text().splitlines()
    assert ["docker", *ran] == list(req.command_line())
    assert shlex.split(shlex.join(req.command_line()))[1:] == ran  # what --dry-run prints
    assert lines == ["#1 [tools 1/2] RUN /mw/bin/mw-tools", "#1 DONE 0.1s"]  # stderr too


def test_a_failed_build_is_one_line_from_its_output(
    stand_in: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MW_PLAY", "fail")
    with pytest.raises(BuildError) as info:
        DockerEngine().build(request(tmp_path), lambda _line: None)
    assert str(info.value) == "building the wheel failed (exit code 3): no compiler for this"


def test_cancel_signals_the_running_build(
    stand_in: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MW_PLAY", "hang")
    engine = DockerEngine()
    started = threading.Event()
    lines: list[str] = []
    errors: list[Exception] = []

    def on_line(line: str) -> None:
        lines.append(line)
        started.set()

    def build() -> None:
        try:
            engine.build(request(tmp_path), on_line)
        except BuildError as err:
            errors.append(err)

    worker = threading.Thread(target=build)
    worker.start()
    assert started.wait(timeout=10)
    engine.cancel()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert lines == ["building", "stopped by SIGINT"]
    assert len(errors) == 1


def test_no_docker_command_is_a_docker_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DockerError, match="docker command was not found"):
        DockerEngine().build(request(tmp_path), lambda _line: None)
