"""The matrix tier's record: a pytest plugin (registered by conftest.py when the session is given
``--matrix-record PATH``, as ``nox -s matrix`` does) that collects each test's outcome and time and
the targets the session's runs built (support.MATRIX_CELLS), and writes them to PATH at the end:
the date, the commit, the selection, then per cell: built, tested, time.

The whole matrix takes hours, so a session often runs a part of it (`-k`): the newest session comes
first and the earlier ones stay below it (up to KEEP), so each part's latest result is in the file
with its own date and commit."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import MatrixCell

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Each session's part of the file starts with this line.
SESSION_MARK = "<!-- matrix session -->"
#: How many earlier sessions stay below the newest.
KEEP = 5
HEADER = [
    "# Matrix (tier 2): the latest results",
    "",
    "Written by the matrix session itself (`nox -s matrix`: pytest's `--matrix-record`, "
    "tests/integration/matrixrecord.py) at its end; not edited by hand. The newest session comes "
    f"first; up to {KEEP} earlier ones (often other parts of the matrix, selected with `-k`) stay "
    "below it, each with its own date, commit and selection. What the tiers hold and how to run "
    "them: [.ci/README.md](.ci/README.md).",
    "",
]


@dataclass
class Outcome:
    outcome: str = "passed"
    seconds: float = 0.0
    reason: str = ""


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _cell(text: str) -> str:
    """Text for a Markdown table cell: one line, no pipe."""
    return " ".join(text.split()).replace("|", "\\|") or "-"


def _reason(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2])
    lines = [line for line in report.longreprtext.splitlines() if line.strip()]
    found = [line for line in lines if line.startswith("E ")]
    return (found or lines or [""])[0].removeprefix("E ").strip()[:200]


def render(
    *,
    started: float,
    finished: float,
    args: Sequence[str],
    exitstatus: int,
    tests: dict[str, Outcome],
    cells: Sequence[MatrixCell],
    loads: tuple[str, str],
) -> str:
    commit = _git("rev-parse", "--short=12", "HEAD") or "unknown"
    subject = _git("log", "-1", "--format=%s")
    dirty = _git("status", "--porcelain", "--", ".", ":(exclude)MATRIX.md")
    counts: dict[str, int] = {}
    for line in tests.values():
        counts[line.outcome] = counts.get(line.outcome, 0) + 1
    summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "no tests"
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(finished))
    out = [
        SESSION_MARK,
        f"## Session of {when} at {commit}",
        "",
        f"- date: {when} (the session took {finished - started:.0f} s)",
        f"- commit: {commit} {subject}" + (" (with uncommitted changes)" if dirty else ""),
        f"- selection: `pytest {shlex.join(args)}`",
        f"- result: {summary} of {len(tests)} tests (pytest exit status {exitstatus})",
        f"- machine: {os.cpu_count()} cores; load average at the start {loads[0]}, "
        f"at the end {loads[1]}",
        "",
        "### Targets built (one row a target of the session's real-module runs)",
        "",
        "| module | arch | mode | built | tested | time |",
        "|---|---|---|---|---|---|",
    ]
    out += [
        f"| {_cell(c.what)} | {c.arch} | {c.mode} | {_cell(c.built)} | {_cell(c.tested)} "
        f"| {c.seconds:.0f} s |"
        for c in cells
    ] or ["| (none in this selection) | | | | | |"]
    out += [
        "",
        "### Tests (time: setup, call and teardown; a run's build counts in its first test)",
        "",
        "| test | outcome | time | reason |",
        "|---|---|---|---|",
    ]
    out += [
        f"| `{_cell(nodeid)}` | {line.outcome} | {line.seconds:.0f} s | {_cell(line.reason)} |"
        for nodeid, line in tests.items()
    ]
    return "\n".join(out) + "\n"


def earlier_sessions(previous: str) -> list[str]:
    """The sessions of an earlier record, newest first."""
    parts = previous.split(SESSION_MARK + "\n")[1:]
    return [SESSION_MARK + "\n" + part.rstrip("\n") + "\n" for part in parts]


def merged(session: str, previous: str) -> str:
    """The whole file: the header, ``session``, then up to KEEP sessions of ``previous``."""
    return "\n".join(["\n".join(HEADER), session, *earlier_sessions(previous)[:KEEP]])


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


class MatrixRecorder:
    def __init__(self, path: Path, args: Sequence[str], cells: list[MatrixCell]) -> None:
        self.path = path
        self.args = list(args)
        self.cells = cells
        self.tests: dict[str, Outcome] = {}
        self.started = time.time()
        self.load_at_start = _load()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        line = self.tests.setdefault(report.nodeid, Outcome())
        line.seconds += report.duration
        if report.failed:
            line.outcome = "failed" if report.when == "call" else f"error ({report.when})"
            line.reason = line.reason or _reason(report)
        elif report.skipped and line.outcome == "passed":
            line.outcome = "skipped"
            line.reason = _reason(report)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        text = render(
            started=self.started,
            finished=time.time(),
            args=self.args,
            exitstatus=int(exitstatus),
            tests=self.tests,
            cells=self.cells,
            loads=(self.load_at_start, _load()),
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            previous = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            previous = ""
        partial = self.path.with_name(f".{self.path.name}.part")
        partial.write_text(merged(text, previous), encoding="utf-8")
        partial.replace(self.path)
