"""engine.buildxlog: every Dockerfile stage that runs a process has a step name for failure messages."""

from __future__ import annotations

import re
from pathlib import Path

from muslwheels.engine.buildxlog import _STEPS, step_of

DOCKERFILE = Path(__file__).resolve().parents[2] / "docker" / "Dockerfile"

_STAGE = re.compile(r"^FROM\s+(?:--\S+\s+)*\S+\s+AS\s+(\S+)\s*$", re.IGNORECASE)


def running_stages(text: str) -> list[str]:
    """The stages of a Dockerfile that have a RUN instruction (only a RUN fails with a process
    exit code, the failure FailureTracker names by its stage)."""
    stages: list[str] = []
    current: str | None = None
    for line in text.splitlines():
        stage = _STAGE.match(line.strip())
        if stage:
            current = stage.group(1)
        elif current and line.strip().upper().startswith("RUN ") and current not in stages:
            stages.append(current)
    return stages


def unnamed_stages(text: str) -> list[str]:
    return [stage for stage in running_stages(text) if step_of(stage) is None]


def test_every_running_stage_of_the_dockerfile_has_a_step() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert len(running_stages(text)) >= 8, "the stage parser found too few stages: it is broken"
    missing = unnamed_stages(text)
    assert not missing, (
        f"docker/Dockerfile stage {missing[0]!r} runs commands but _STEPS in "
        "src/muslwheels/engine/buildxlog.py names no step for it: its failures would read "
        f"'step {missing[0]} failed'"
    )


def test_every_step_names_a_stage_of_the_dockerfile() -> None:
    stages = {
        m.group(1).split("-")[0]
        for m in map(_STAGE.match, DOCKERFILE.read_text(encoding="utf-8").splitlines())
        if m
    }
    stale = sorted(set(_STEPS) - stages)
    assert not stale, f"_STEPS names {stale}, which no stage of docker/Dockerfile starts with"


def test_a_stage_without_a_step_is_found() -> None:
    text = "FROM alpine AS tools\nRUN true\nFROM tools AS polish-x\nRUN make\nFROM scratch AS out\n"
    assert running_stages(text) == ["tools", "polish-x"]
    assert unnamed_stages(text) == ["polish-x"]
    assert step_of("repaired-cross") == step_of("repaired") == "auditwheel repair"
