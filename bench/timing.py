"""Repetition, medians and ratios (hyperfine-style, in Python).

The compared commands of a case run interleaved, run by run (A B, B A, A B...), so that whatever
else the machine does at the time weighs on both sides alike; ratios are taken from the medians of
the same run of the suite, never across runs.
"""

from __future__ import annotations

import os
import re
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
    idle: float = float("nan")  # share of the machine's CPU time left idle during the run
    steps: dict[str, dict[str, float]] = field(default_factory=dict)  # BuildKit step timings
    docker: list[tuple[str, float, float]] = field(default_factory=list)  # (arguments, start, end)

    @property
    def outside_builds(self) -> float:
        """Seconds of the run when no ``docker buildx build`` or ``bake`` call was running."""
        spans = sorted(
            (a, b)
            for args, a, b in self.docker
            if args.startswith(("buildx build", "buildx bake")) or " buildx bake " in args
        )
        covered, reach = 0.0, float("-inf")
        for start, end in spans:
            if end > reach:
                covered += end - max(start, reach)
                reach = end
        return self.seconds - covered


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


def cpu_times() -> tuple[int, int]:
    """(idle, total) jiffies of the whole machine since boot (/proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        values = [int(v) for v in fields]
    except (OSError, ValueError, IndexError):
        return 0, 0
    return values[3] + (values[4] if len(values) > 4 else 0), sum(values[:8])


def run_command(
    cmd: Sequence[str], *, env: Mapping[str, str], cwd: Path, timeout: float = 3600
) -> Sample:
    load = load_average()
    others = other_buildx_processes()
    idle_before, total_before = cpu_times()
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
    idle_after, total_after = cpu_times()
    total = total_after - total_before
    idle = (idle_after - idle_before) / total if total > 0 else float("nan")
    return Sample(seconds, done.returncode, done.stdout, done.stderr, load, others, idle)


#: ``#N [stage i/n] instruction``; in a bake's output ``#N [target stage i/n] instruction``.
_STEP_HEADER = re.compile(r"^#(\d+) \[(?:([A-Za-z0-9_.-]+) )?([A-Za-z0-9_-]+)(?: \d+/\d+)?\] (.*)$")
_STEP_DONE = re.compile(r"^#(\d+) DONE (\d+(?:\.\d+)?)s$")


def buildkit_steps(log: str) -> dict[str, float]:
    """Seconds per Dockerfile step that ran (not CACHED) in a ``--progress plain`` log, keyed
    ``stage: instruction`` (a bake's: ``stage [target]: instruction``; cut to 60 characters);
    BuildKit's own bookkeeping is left out."""
    names: dict[str, str] = {}
    found: dict[str, float] = {}
    for line in log.splitlines():
        header = _STEP_HEADER.match(line)
        if header:
            number, target, stage, instruction = header.groups()
            if stage != "internal" and not stage.startswith("context"):
                where = f"{stage} [{target[:24]}]" if target else stage
                names[number] = f"{where}: {instruction}"[:60]
            continue
        done = _STEP_DONE.match(line)
        if done and done.group(1) in names:
            found[names[done.group(1)]] = float(done.group(2))
    return found


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
