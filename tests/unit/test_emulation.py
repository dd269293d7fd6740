"""engine/emulation.py (binfmt rules) and engine/docker.py's build-failure summary: pure, no Docker."""

from __future__ import annotations

from pathlib import Path

import pytest

from muslwheels.engine.buildxlog import FailureTracker
from muslwheels.engine.emulation import (
    BinfmtEntry,
    emulation_problems,
    parse_binfmt_entry,
    registration_hint,
    unsupported_platforms,
)
from muslwheels.engine.interface import BuildRequest, LocalOutput

GOOD = BinfmtEntry(
    enabled=True, interpreter="/usr/libexec/qemu-binfmt/aarch64-binfmt-P", flags="PF"
)


def test_parse_binfmt_entry() -> None:
    text = (
        "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\noffset 0\n"
        "magic 7f454c460201010000000000000000000200b700\n"
    )
    assert parse_binfmt_entry(text) == GOOD
    assert parse_binfmt_entry("disabled\ninterpreter /x\nflags: \n") == BinfmtEntry(False, "/x", "")


def test_native_platforms_need_nothing() -> None:
    assert (
        emulation_problems(["linux/amd64", "linux/386"], host_machine="x86_64", handlers={}) == ()
    )
    assert emulation_problems(["linux/arm64/v8"], host_machine="aarch64", handlers={}) == ()


def test_foreign_platform_needs_an_enabled_handler_with_the_f_flag() -> None:
    ok = {"qemu-aarch64": GOOD, "qemu-arm": GOOD}
    assert (
        emulation_problems(
            ["linux/arm64", "linux/arm/v7", "linux/arm/v6"], host_machine="x86_64", handlers=ok
        )
        == ()
    )
    (missing,) = emulation_problems(["linux/s390x"], host_machine="x86_64", handlers=ok)
    assert missing.handler == "qemu-s390x"
    assert "no QEMU handler qemu-s390x" in missing.problem
    disabled = {"qemu-aarch64": BinfmtEntry(False, GOOD.interpreter, "PF")}
    (off,) = emulation_problems(["linux/arm64"], host_machine="x86_64", handlers=disabled)
    assert "disabled" in off.problem
    no_f = {"qemu-aarch64": BinfmtEntry(True, GOOD.interpreter, "P")}
    (flag,) = emulation_problems(["linux/arm64"], host_machine="x86_64", handlers=no_f)
    assert "F flag" in flag.problem


def test_one_problem_per_handler_and_a_hint_naming_the_commands() -> None:
    problems = emulation_problems(
        ["linux/arm/v7", "linux/arm/v6", "linux/riscv64"], host_machine="x86_64", handlers={}
    )
    assert [p.handler for p in problems] == ["qemu-arm", "qemu-arm", "qemu-riscv64"]
    hint = registration_hint(problems)
    assert "update-binfmts --enable qemu-arm;" in hint
    assert hint.count("qemu-arm;") == 1
    assert "update-binfmts --enable qemu-riscv64" in hint


def test_arm32_on_arm64_is_trusted_when_the_builder_reports_it() -> None:
    assert (
        emulation_problems(
            ["linux/arm/v7"],
            host_machine="aarch64",
            handlers={},
            builder_platforms=["linux/arm/v7"],
        )
        == ()
    )
    assert emulation_problems(["linux/arm/v7"], host_machine="aarch64", handlers={})


def test_unknown_platform_is_a_caller_bug() -> None:
    with pytest.raises(ValueError, match="unknown platform"):
        emulation_problems(["linux/mips"], host_machine="x86_64", handlers={})


def test_unsupported_platforms_of_a_remote_builder() -> None:
    reported = ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]
    assert unsupported_platforms(["linux/arm64", "linux/arm/v7"], reported) == ()
    assert unsupported_platforms(["linux/s390x", "linux/amd64", "linux/s390x"], reported) == (
        "linux/s390x",
    )


# --- failure summaries -------------------------------------------------------------------------------

REQUEST = BuildRequest(
    context=Path("docker"),
    dockerfile=Path("docker/Dockerfile"),
    platform="linux/arm/v7",
    build_args=(("BASE_IMAGE", "python:3.12-alpine3.20"),),
    build_contexts=(),
    secrets=(),
    output=LocalOutput(Path("/tmp/out")),
)


def reason(lines: list[str]) -> str:
    tracker = FailureTracker()
    for line in lines:
        tracker.feed(line)
    return tracker.reason(REQUEST)


def test_compiler_error_is_preferred_over_pips_summary() -> None:
    lines = [
        "#23 [built-default 1/1] RUN --mount=type=secret,id=pipconf /mw/bin/mw-wheel",
        "#23 0.160 muslwheels: running: python -m pip wheel ...",
        "#23 2.915   gcc -Wsign-compare -Werror=format-security -c x.c",
        '#23 2.916   x.c:2:2: error: #error "broken on purpose"',
        "#23 2.956   error: subprocess-exited-with-error",
        "#23 2.959   ERROR: Failed building wheel for x",
        "#23 2.960 ERROR: Failed to build one or more wheels",
        '#23 ERROR: process "/bin/sh -c /mw/bin/mw-wheel" did not complete successfully: exit code: 1',
        'ERROR: failed to solve: process "/bin/sh -c /mw/bin/mw-wheel" did not complete successfully: exit code: 1',
    ]
    assert reason(lines) == (
        'building the wheel failed (exit code 1): x.c:2:2: error: #error "broken on purpose"'
    )


def test_our_own_error_line_wins() -> None:
    lines = [
        "#17 [system 3/3] RUN /mw/bin/mw-packages",
        "#17 0.1 muslwheels: error: base image x has neither apk nor apt-get, so ... cannot be installed: foo",
        '#17 ERROR: process "/bin/sh -c /mw/bin/mw-packages" did not complete successfully: exit code: 1',
        "ERROR: failed to solve: process did not complete successfully: exit code: 1",
    ]
    assert reason(lines).startswith(
        "installing the module's system packages failed (exit code 1): base image x has neither"
    )


def test_base_image_problems_are_named() -> None:
    assert (
        reason(
            [
                "ERROR: failed to solve: python:3.12-alpine3.20: failed to resolve source metadata "
                "for docker.io/library/python:3.12-alpine3.20: no match for platform in manifest: not found"
            ]
        )
        == "base image python:3.12-alpine3.20 is not published for linux/arm/v7"
    )
    missing = reason(
        [
            "ERROR: failed to solve: python:3.12-alpine3.20: failed to resolve source metadata "
            "for python:3.12-alpine3.20: not found"
        ]
    )
    assert missing.startswith("base image python:3.12-alpine3.20 could not be found")


def test_entitlement_refusal_is_explained() -> None:
    text = reason(
        [
            "ERROR: failed to solve: granting entitlement network.host is not allowed by build daemon configuration"
        ]
    )
    assert "network.host" in text
    assert "loopback index" in text


def test_unknown_failure_keeps_buildx_error() -> None:
    assert reason(["ERROR: something odd"]) == "something odd"
    assert reason([]) == "the build failed (see the log)"
