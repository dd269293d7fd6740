"""console.py off a terminal: whole values, no control bytes."""

from __future__ import annotations

import io

from fakeimages import make_target

from muslwheels.build.scheduler import TargetResult
from muslwheels.console import Ui
from muslwheels.errors import UsageError
from muslwheels.publish.images import ReuseResult


def test_plan_piped_prints_every_value_whole() -> None:
    long_image = "127.0.0.1:5000/" + "a" * 120 + "/python:3.11-alpine3.20"
    dep = make_target("cryptography-with-a-long-name", base_image=long_image)
    top = make_target("paramiko", depends=[dep], base_image=long_image)
    out = io.StringIO()
    Ui(out=out).plan_table([dep, top], [top.id])
    lines = out.getvalue().splitlines()
    assert lines[0].split("\t")[:2] == ["tag", "module"]
    assert len(lines) == 3
    rows = [line.split("\t") for line in lines[1:]]
    assert rows[0][0] == f"{dep.tag} (dependency)"
    assert rows[1][0] == top.tag
    assert rows[1][7] == long_image  # not cut to a terminal's width
    assert rows[1][8] == dep.tag
    assert "…" not in out.getvalue()


def test_messages_never_send_control_bytes() -> None:
    err = io.StringIO()
    ui = Ui(err=err)
    ui.error(UsageError("bad \x1b[2J value\r", hint="\x07ring"))
    ui.note("\x1b]0;title\x07")
    text = err.getvalue()
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    assert "\\x1b[2J" in text


def test_no_message_can_forge_a_line() -> None:
    err = io.StringIO()
    ui = Ui(err=err)
    name = "x\nFORGED LINE-1.0-py3-none-any.whl"
    ui.error(UsageError(f"bad {name}", hint=f"see\r\n{name}\u2028"))
    ui.note(f"left out of the index: amd64/{name}: not a valid wheel file name")
    ui.info(f"wrote {name}\tsomewhere")
    lines = err.getvalue().splitlines()
    assert len(lines) == 4
    assert not any(line.startswith("FORGED") for line in lines)
    assert "x\\x0aFORGED LINE" in lines[0]


def test_a_reused_target_finishes_as_reused_not_as_skipped() -> None:
    err = io.StringIO()
    ui = Ui(err=err, plain=True)
    reused, built = make_target("alpha"), make_target("beta")
    instead = {reused.id: ReuseResult(reused, "reused", message="wheels:alpha (registry)")}
    with ui.build_reporter(2, instead) as progress:
        progress.target_finished(TargetResult(reused, "skipped", message="present"))
        progress.target_finished(TargetResult(built, "built", 1.5))
    lines = err.getvalue().splitlines()
    assert [line.split()[:2] for line in lines] == [["reused", reused.tag], ["built", built.tag]]
