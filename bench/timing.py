"""Repetition, medians and ratios (hyperfine-style, in Python).

The compared commands of a case run interleaved, run by run (A B, B A, A B...), so that whatever
else the machine does at the time weighs on both sides alike; ratios are taken from the medians of
the same run of the suite, never across runs.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Sample:
    seconds: float
    returncode: int
    stdout: str
    stderr: str
    load: float  # 1-minute load average when the run started
    other_builds: int  # buildx processes of others running when it started


@dataclass
class Series:
    label: str
    command: str  # for the report
    samples: list[Sample] = field(default_factory=list)

    @property
    def seconds(self) -> list[float]:
        return [s.seconds for s in self.samples]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def spread(self) -> tuple[float, float]:
        return min(self.seconds), max(self.seconds)


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def other_buildx_processes() -> int:
    """How many ``docker-buildx`` processes not started by this process tree are running."""
    mine = {os.getpid()}
    count = 0
    procs: dict[int, tuple[int, str]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            ppid = int(stat.rpartition(")")[2].split()[1])
            cmd = (proc / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        procs[int(proc.name)] = (ppid, cmd)
    for pid, (_ppid, cmd) in procs.items():
        if not cmd.endswith("docker-buildx"):
            continue
        ancestor, seen = pid, 0
        ours = False
        while ancestor in procs and seen < 64:
            if ancestor in mine:
                ours = True
                break
            ancestor = procs[ancestor][0]
            seen += 1
        if not ours:
            count += 1
    return count


def run_command(
    cmd: Sequence[str], *, env: Mapping[str, str], cwd: Path, timeout: float = 3600
) -> Sample:
    load = load_average()
    others = other_buildx_processes()
    start = time.perf_counter()
    done = subprocess.run(
        list(cmd),
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    seconds = time.perf_counter() - start
    return Sample(seconds, done.returncode, done.stdout, done.stderr, load, others)


Runner = Callable[[int], Sample]  # run number -> one timed run


def interleave(
    runs: int,
    variants: Sequence[tuple[str, str, Runner]],
    *,
    check: Callable[[str, Sample], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Series]:
    """Run each variant ``runs`` times, alternating their order run by run."""
    series = {label: Series(label, shown) for label, shown, _ in variants}
    for i in range(runs):
        order = list(variants) if i % 2 == 0 else list(reversed(variants))
        for label, _shown, runner in order:
            sample = runner(i)
            if check is not None:
                check(label, sample)
            series[label].samples.append(sample)
            if progress is not None:
                progress(f"  run {i + 1}/{runs} {label}: {sample.seconds:.3f}s")
    return series


def format_seconds(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.3f}s"
    return f"{seconds:.1f}s"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table (what the README holds, and readable in a terminal)."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    out = [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out.extend(line(row) for row in rows)
    return "\n".join(out)
