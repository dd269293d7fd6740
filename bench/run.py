"""The benchmark suite: each case times two commands side by side and reports their ratio.

    python -m bench [--case NAME ...] [--runs N] [--build-runs N] [--keep]

Cases (bench/README.md says what each measures and why it is set up that way):

- plan: ``invoke plan --json --offline`` of every module x default Python x every arch of
  modules.toml vs ``invoke --list``;
- no-op: ``invoke build`` of that matrix with every wheel already in wheels/ vs ``invoke --list``;
- overhead: ``invoke build --force`` of one C-extension target vs the same ``docker buildx build``;
- warm: that rebuild with warm caches vs with ``--no-cache``;
- parallel: two arm64 targets under QEMU, ``--jobs 2`` vs ``--jobs 1``;
- emulation: the target for arm64 under QEMU vs for amd64;
- cross: the target for arm64 cross-compiled vs for amd64 natively (and vs arm64 under QEMU), on the
  musl stand-in;
- verify, verify-qemu: what the runtime closure and the test step add to one target's build, amd64
  (native) and arm64 (QEMU), read from the timing line of its log;
- bake: the 4-target matrix through one ``invoke bake`` vs ``invoke build --jobs 2``, cold cache.

Prints one table (Markdown) and writes the raw figures to bench/results/<timestamp>.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench import fixtures
from bench.fixtures import Workspace
from bench.timing import (
    Sample,
    Series,
    buildkit_steps,
    format_seconds,
    interleave,
    render_table,
    run_command,
)

RESULTS = fixtures.REPO / "bench" / "results"
CASES = (
    "plan",
    "no-op",
    "overhead",
    "warm",
    "parallel",
    "emulation",
    "cross",
    "verify",
    "verify-qemu",
    "bake",
    "rust",
)


@dataclass
class CaseResult:
    name: str
    measured: Series
    baseline: Series
    goal: str  # e.g. "<= 1.5x", or "reported"
    limit: float | None
    notes: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.measured.median / self.baseline.median

    @property
    def met(self) -> str:
        if self.limit is None:
            return "-"
        return "yes" if self.ratio <= self.limit else "NO"


class BenchError(RuntimeError):
    pass


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


@dataclass
class Bench:
    ws: Workspace
    env: dict[str, str]
    index: fixtures.IndexServer
    runs: int
    build_runs: int
    invoke: str
    log: Callable[[str], None]

    # -- commands ---------------------------------------------------------------------------

    def run(self, cmd: Sequence[str]) -> Sample:
        return run_command(cmd, env=self.env, cwd=self.ws.root)

    def invoke_cmd(self, *args: str) -> list[str]:
        return [self.invoke, *args]

    def checked(self, cmd: Sequence[str], what: str) -> Sample:
        sample = self.run(cmd)
        if sample.returncode != 0:
            raise BenchError(
                f"{what} failed (exit {sample.returncode}): {' '.join(cmd)}\n{_tail(sample.stderr)}"
            )
        return sample

    def compare(
        self,
        runs: int,
        measured: tuple[str, Sequence[str] | Callable[[int], Sequence[str]]],
        baseline: tuple[str, Sequence[str] | Callable[[int], Sequence[str]]],
        *,
        after: Callable[[str, Sample], None] | None = None,
        steps: bool = False,
    ) -> tuple[Series, Series]:
        series = self.compare_all(runs, [measured, baseline], after=after, steps=steps)
        return series[measured[0]], series[baseline[0]]

    def compare_all(
        self,
        runs: int,
        variants: Sequence[tuple[str, Sequence[str] | Callable[[int], Sequence[str]]]],
        *,
        after: Callable[[str, Sample], None] | None = None,
        steps: bool = False,
    ) -> dict[str, Series]:
        """Run every variant ``runs`` times, interleaved; their series by label."""

        def runner(label: str, cmd: Sequence[str] | Callable[[int], Sequence[str]]) -> Any:
            def run_once(i: int) -> Sample:
                line = cmd(i) if callable(cmd) else cmd
                self.ws.docker_calls()  # forget what came before this run
                self.index.take_requests()
                started = time.time()
                sample = self.run(line)
                sample.docker = [(c.args, c.start, c.end) for c in self.ws.docker_calls()]
                if steps:
                    sample.steps = self.step_timings(sample, since=started)
                if sample.returncode != 0:
                    raise BenchError(
                        f"{label} failed (exit {sample.returncode}):\n{_tail(sample.stderr)}"
                    )
                if after is not None:
                    after(label, sample)
                return sample

            return run_once

        def shown(cmd: Sequence[str] | Callable[[int], Sequence[str]]) -> str:
            line = cmd(0) if callable(cmd) else cmd
            return " ".join(str(c) for c in line)

        return interleave(
            runs,
            [(label, shown(cmd), runner(label, cmd)) for label, cmd in variants],
            progress=self.log,
        )

    def step_timings(self, sample: Sample, *, since: float) -> dict[str, dict[str, float]]:
        """BuildKit's step timings of a build run: from the per-target logs invoke wrote during
        the run, or from the output of a plain ``docker buildx build``."""
        found: dict[str, dict[str, float]] = {}
        logs = self.ws.root / ".musl-wheels" / "logs"
        for log in sorted(logs.glob("*.log")) if logs.is_dir() else []:
            if log.stat().st_mtime >= since:
                found[log.stem] = buildkit_steps(log.read_text(encoding="utf-8", errors="replace"))
        direct = buildkit_steps(sample.stderr)
        if direct:
            found["docker buildx build"] = direct
        return found


# --- the matrix cases ---------------------------------------------------------------------------------


def plan_tags() -> list[str]:
    return [f"{name}-pyall" for name in fixtures.PLAN_PROJECTS]


def plan_args(ws: Workspace) -> list[str]:
    args = ["--config", str(ws.plan_config), "--base-image", fixtures.PLAN_BASE_IMAGE]
    for tag in plan_tags():
        args += ["--tag", tag]
    return args


def _targets(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def case_plan(bench: Bench) -> CaseResult:
    ws = bench.ws
    plan = bench.invoke_cmd("plan", "--json", *plan_args(ws))
    bench.checked(plan, "priming the cache (invoke plan)")
    offline = bench.invoke_cmd("plan", "--json", "--offline", *plan_args(ws))
    first = bench.checked(offline, "invoke plan --offline")
    targets = _targets(first.stdout)
    docker_calls: list[int] = []
    index_requests: list[list[str]] = []

    def after(label: str, sample: Sample) -> None:
        if label == "plan":
            docker_calls.append(len(sample.docker))
            index_requests.append(bench.index.take_requests())
            if len(_targets(sample.stdout)) != len(targets):
                raise BenchError("invoke plan printed a different number of targets")

    measured, baseline = bench.compare(
        bench.runs,
        ("plan", offline),
        ("--list", bench.invoke_cmd("--list")),
        after=after,
    )
    per_target = (measured.median - baseline.median) / max(1, len(targets))
    asked = index_requests[-1] if index_requests else []
    repeated = len(asked) - len(set(asked))
    notes = [
        f"{len(targets)} targets ({len(plan_tags())} modules x "
        f"{len({t['python'] for t in targets})} Pythons x {len({t['arch'] for t in targets})} "
        f"arches); {per_target * 1000:.2f} ms per target above `invoke --list`",
        f"docker calls per plan run: {max(docker_calls, default=0)}; index requests per run: "
        f"{len(asked)} ({repeated} repeated)",
    ]
    return CaseResult(
        "plan",
        measured,
        baseline,
        "<= 1.5x",
        1.5,
        notes,
        {
            "targets": len(targets),
            "ms_per_target": per_target * 1000,
            "docker_calls": docker_calls,
            "index_requests": index_requests,
        },
    )


def populate_wheels(ws: Workspace, targets: Sequence[dict[str, Any]]) -> int:
    from muslwheels.config.arches import lookup_arch

    count = 0
    for target in targets:
        arch = lookup_arch(str(target["arch"]))
        assert arch is not None
        folder = ws.wheels / arch.key
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / fixtures.fake_wheel_name(target, arch.wheel_machine)
        if not path.exists():
            path.write_bytes(b"")
            count += 1
    return count


def case_noop(bench: Bench) -> CaseResult:
    ws = bench.ws
    planned = bench.checked(
        bench.invoke_cmd("plan", "--json", *plan_args(ws)), "invoke plan for the no-op case"
    )
    targets = _targets(planned.stdout)
    populate_wheels(ws, targets)
    build = bench.invoke_cmd("build", "--offline", *plan_args(ws))
    first = bench.checked(build, "invoke build (nothing to do)")
    skipped = f"{len(targets)} skipped"
    if skipped not in first.stderr:
        raise BenchError(f"expected '{skipped}' from invoke build:\n{_tail(first.stderr)}")
    calls: list[list[str]] = []

    def after(label: str, sample: Sample) -> None:
        if label == "no-op build":
            calls.append([call[0] for call in sample.docker])
            if skipped not in sample.stderr:
                raise BenchError(f"invoke build did not skip every target:\n{_tail(sample.stderr)}")

    measured, baseline = bench.compare(
        bench.runs,
        ("no-op build", build),
        ("--list", bench.invoke_cmd("--list")),
        after=after,
    )
    buildx = sum(1 for run in calls for c in run if c.startswith("buildx"))
    any_docker = sum(len(run) for run in calls)
    notes = [
        f"{len(targets)} targets, all skipped; docker calls in {len(calls)} runs: "
        f"{any_docker} (buildx: {buildx})",
    ]
    if any_docker:
        raise BenchError(f"the no-op build called docker: {calls}")
    return CaseResult(
        "no-op",
        measured,
        baseline,
        "<= 2x",
        2.0,
        notes,
        {"targets": len(targets), "docker_calls": calls},
    )


# --- the build cases -------------------------------------------------------------------------------


def build_tag(project: str, arch: str) -> str:
    return f"{project}-py{fixtures.BUILD_PYTHON}-{arch}"


CEXT_A, CEXT_B = fixtures.CEXT_PROJECTS


def target_args(ws: Workspace, *tags: str) -> list[str]:
    """The build cases' modules.toml and tags: what ``invoke plan`` and ``invoke build`` both take."""
    args = ["--config", str(ws.build_config)]
    for tag in tags:
        args += ["--tag", tag]
    return args


def build_args(ws: Workspace, *tags: str, tested: bool = False) -> list[str]:
    """``target_args`` and ``--no-test`` unless ``tested`` (``invoke build`` only): the build cases
    time the build (the verify cases, what the test step adds to it)."""
    return [*target_args(ws, *tags), *(() if tested else ("--no-test",))]


def prime_builds(bench: Bench) -> float:
    """Build every target of the build cases once: the layers they share are cached after this."""
    tags = [build_tag(p, a) for p in fixtures.CEXT_PROJECTS for a in ("amd64", "arm64v8")]
    sample = bench.checked(
        bench.invoke_cmd("build", "--force", "--jobs", "2", *build_args(bench.ws, *tags)),
        "priming build of the C-extension targets",
    )
    return sample.seconds


def case_overhead(bench: Bench) -> CaseResult:
    from muslwheels.build.inputs import BuildOptions, staged_request
    from muslwheels.plan.savedplan import target_from_dict
    from muslwheels.sources.pipconfig import IndexSettings

    ws = bench.ws
    tag = build_tag(CEXT_A, "amd64")
    planned = bench.checked(
        bench.invoke_cmd("plan", "--json", *target_args(ws, tag)), "invoke plan (overhead)"
    )
    (target,) = [target_from_dict(t) for t in _targets(planned.stdout)]
    options = BuildOptions(
        wheels_root=ws.wheels,
        log_dir=ws.root / ".musl-wheels" / "logs",
        index=IndexSettings(index_url=bench.index.url),
        temp_root=ws.root,
    )
    with staged_request(target, options=options) as request:

        def raw(i: int) -> list[str]:
            fresh = dataclasses.replace(
                request, build_args=(*request.build_args, ("MW_FRESH", uuid.uuid4().hex))
            )
            return list(fresh.command_line())

        measured, baseline = bench.compare(
            bench.build_runs,
            ("invoke build", bench.invoke_cmd("build", "--force", *build_args(ws, tag))),
            ("docker buildx build", raw),
            steps=True,
        )
    return CaseResult(
        "overhead",
        measured,
        baseline,
        "<= 1.10x",
        1.10,
        [f"{tag}: both re-run the wheel step (--force / a new MW_FRESH); other layers cached"],
    )


def case_warm(bench: Bench) -> CaseResult:
    ws = bench.ws
    tag = build_tag(CEXT_A, "amd64")
    measured, baseline = bench.compare(
        bench.build_runs,
        ("warm rebuild", bench.invoke_cmd("build", "--force", *build_args(ws, tag))),
        ("cold build", bench.invoke_cmd("build", "--force", "--no-cache", *build_args(ws, tag))),
        steps=True,
    )
    return CaseResult(
        "warm",
        measured,
        baseline,
        "<= 0.35x",
        0.35,
        [
            f"{tag}: --force re-runs the wheel step on cached tool/system layers; cold = "
            "--no-cache (every layer built again; cache mounts stay, the index is on the loopback)"
        ],
    )


#: About a second of pure CPU work for the machine's parallel headroom (no I/O, no Docker).
CPU_LOOP = "sum(i * i for i in range(20_000_000))"


def case_parallel(bench: Bench) -> CaseResult:
    ws = bench.ws
    tags = [build_tag(CEXT_A, "arm64v8"), build_tag(CEXT_B, "arm64v8")]
    jobs2 = (
        "--jobs 2",
        bench.invoke_cmd("build", "--force", "--jobs", "2", *build_args(ws, *tags)),
    )
    jobs1 = (
        "--jobs 1",
        bench.invoke_cmd("build", "--force", "--jobs", "1", *build_args(ws, *tags)),
    )
    # Between the build runs, what the machine itself allows at the time: two CPU-bound
    # processes side by side vs one after the other (0.5x on two idle cores; more when other
    # work takes a share of them).
    loop = f"{shlex.quote(sys.executable)} -c {shlex.quote(CPU_LOOP)}"
    side_cmd = ("side by side", ["sh", "-c", f"{loop} & {loop} & wait"])
    serial_cmd = ("one after the other", ["sh", "-c", f"{loop}; {loop}"])
    measured, baseline = (
        Series(jobs2[0], " ".join(jobs2[1])),
        Series(jobs1[0], " ".join(jobs1[1])),
    )
    side, serial = Series(side_cmd[0], " ".join(side_cmd[1])), Series(serial_cmd[0], "")
    for i in range(bench.build_runs):
        pair = (jobs2, jobs1) if i % 2 == 0 else (jobs1, jobs2)
        first, second = bench.compare(1, *pair, steps=True)
        for found in (first, second):
            (measured if found.label == jobs2[0] else baseline).samples.extend(found.samples)
        probe_side, probe_serial = bench.compare(2, side_cmd, serial_cmd)
        side.samples.extend(probe_side.samples)
        serial.samples.extend(probe_serial.samples)
    headroom = side.median / serial.median
    return CaseResult(
        "parallel",
        measured,
        baseline,
        "<= 0.65x",
        0.65,
        [
            f"{' + '.join(tags)} under QEMU on {os.cpu_count()} cores",
            f"the machine's own parallel headroom in this run: two CPU-bound processes side by "
            f"side took {headroom:.2f}x the time of one after the other "
            f"({format_seconds(side.median)} vs {format_seconds(serial.median)}; 0.50x when "
            "both cores are free)",
        ],
        {"headroom": headroom, "side_by_side": series_json(side), "serial": series_json(serial)},
    )


def case_emulation(bench: Bench) -> CaseResult:
    ws = bench.ws
    arm, amd = build_tag(CEXT_A, "arm64v8"), build_tag(CEXT_A, "amd64")
    measured, baseline = bench.compare(
        bench.build_runs,
        ("arm64 (QEMU)", bench.invoke_cmd("build", "--force", *build_args(ws, arm))),
        ("amd64 (native)", bench.invoke_cmd("build", "--force", *build_args(ws, amd))),
        steps=True,
    )
    return CaseResult(
        "emulation",
        measured,
        baseline,
        "reported",
        None,
        [f"{CEXT_A} (a small C extension; pip build isolation, compile, auditwheel) per arch"],
    )


EXTRA_BASE_IMAGE = f"{fixtures.REGISTRY}/standin/python:{{python}}-musl-extra"
MUSL_STANDIN_SCRIPT = fixtures.REPO / "tests" / "standins" / "build-musl.sh"
#: The other platforms of python:<X.Y>-alpine (the stand-in's extra tag).
EXTRA_ARCHES = ("armv6", "i386", "ppc64le", "s390x", "riscv64")


def case_cross(bench: Bench) -> CaseResult:
    """The C-extension target for arm64 and armv7 on the musl stand-in: cross-compiled on this
    machine (zig, crossenv, auditwheel against the target's files) vs emulated under QEMU vs built
    for amd64; the goal is arm64 cross vs amd64 native, armv7's figures are reported, and so are
    those of the extra tag's platforms (EXTRA_ARCHES: cross vs amd64 native, emulate vs cross)."""
    ws = bench.ws
    image = fixtures.MUSL_BASE_IMAGE
    done = subprocess.run(  # the extra tag, built on demand (skipped in a second when present)
        ["bash", str(MUSL_STANDIN_SCRIPT), "--extra"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"{MUSL_STANDIN_SCRIPT.name} --extra failed:\n{_tail(done.stderr)}")
    arm, amd = build_tag(CEXT_A, "arm64v8"), build_tag(CEXT_A, "amd64")
    armv7 = build_tag(CEXT_A, "armv7")

    def build(tag: str, mode: str, base: str = image) -> list[str]:
        return bench.invoke_cmd(
            "build", "--force", "--mode", mode, "--base-image", base, *build_args(ws, tag)
        )

    variants = [
        ("arm64 cross", build(arm, "cross")),
        ("amd64 native", build(amd, "cross")),  # the build platform's own: native whatever the mode
        ("arm64 emulate", build(arm, "emulate")),
        ("armv7 cross", build(armv7, "cross")),
        ("armv7 emulate", build(armv7, "emulate")),
    ]
    for extra in EXTRA_ARCHES:
        tag = build_tag(CEXT_A, extra)
        variants += [
            (f"{extra} cross", build(tag, "cross", EXTRA_BASE_IMAGE)),
            (f"{extra} emulate", build(tag, "emulate", EXTRA_BASE_IMAGE)),
        ]
    prime = 0.0
    for (
        label,
        cmd,
    ) in variants:  # the musl stand-in's layers, once (prime_builds uses the glibc one)
        prime += bench.checked(cmd, f"priming build ({label}, musl stand-in)").seconds
    series = bench.compare_all(bench.build_runs, variants, steps=True)
    cross, native, emulate, cross_v7, emulate_v7 = (series[label] for label, _ in variants[:5])
    extra_notes: list[str] = []
    extra_json: dict[str, object] = {}
    for extra in EXTRA_ARCHES:
        x_cross, x_emulate = series[f"{extra} cross"], series[f"{extra} emulate"]
        extra_notes.append(
            f"{extra}: cross {format_seconds(x_cross.median)} = "
            f"{x_cross.median / native.median:.2f}x amd64 native; emulate "
            f"{format_seconds(x_emulate.median)}: emulate / cross = "
            f"{x_emulate.median / x_cross.median:.2f}x"
        )
        extra_json[f"{extra}_cross"] = series_json(x_cross)
        extra_json[f"{extra}_emulate"] = series_json(x_emulate)
    ratio = emulate.median / cross.median
    ratio_v7 = emulate_v7.median / cross_v7.median
    native_v7 = cross_v7.median / native.median
    return CaseResult(
        "cross",
        cross,
        native,
        "<= 1.0x",
        1.0,
        [
            f"{CEXT_A} on {image.replace('{python}', fixtures.BUILD_PYTHON)} (pip build "
            "isolation, compile, auditwheel repair); arm64 emulate (QEMU) median "
            f"{format_seconds(emulate.median)}: emulate / cross = {ratio:.2f}x",
            f"slowest BuildKit steps of arm64 emulate (medians): {slowest_steps(emulate)}",
            f"armv7: cross {format_seconds(cross_v7.median)} = {native_v7:.2f}x amd64 native; "
            f"emulate {format_seconds(emulate_v7.median)}: emulate / cross = {ratio_v7:.2f}x",
            *extra_notes,
        ],
        {
            "emulate": series_json(emulate),
            "emulate_over_cross": ratio,
            "armv7_cross": series_json(cross_v7),
            "armv7_emulate": series_json(emulate_v7),
            "armv7_cross_over_native": native_v7,
            "armv7_emulate_over_cross": ratio_v7,
            **extra_json,
            "prime_seconds": prime,
        },
    )


RUST_BASE_IMAGE = f"{fixtures.REGISTRY}/standin/python:{{python}}-musl-rust"
RUST_STANDIN_SCRIPT = fixtures.REPO / "tests" / "standins" / "build-musl-rust.sh"


def case_rust(bench: Bench) -> CaseResult:
    """bcrypt (PyO3 through setuptools-rust, real crates) from the real index, on the musl stand-in
    with Rust: arm64 and armv7 cross-compiled against emulated under QEMU, and cross against amd64
    native. Every build is --force --no-cache, so cargo compiles every crate each time (its crates
    stay in the registry cache; its target directory, a cache mount, keeps what cargo built: the
    first round of each variant pays the std's build from rust-src). Goals: cross at least 5x faster
    than emulate, and within 1.3x of native."""
    # Rust for the emulated platforms too (Debian 13's rustc under QEMU); skipped when present.
    done = subprocess.run(
        ["bash", str(RUST_STANDIN_SCRIPT), "--arches", "amd64,arm64,armhf"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"{RUST_STANDIN_SCRIPT.name} failed:\n{_tail(done.stderr)}")
    # the user's own index (crates come from cargo's registry either way), not the bench's loopback one
    real = replace(bench, env={**os.environ, "XDG_CACHE_HOME": str(bench.ws.cache)})

    def build(arch: str, mode: str) -> list[str]:
        tag = f"bcrypt-py{fixtures.BUILD_PYTHON}-{arch}"
        return real.invoke_cmd(
            *("build", "--force", "--no-cache", "--no-test", "--mode", mode),
            *("--base-image", RUST_BASE_IMAGE, "--config", str(fixtures.REPO / "modules.toml")),
            *("--tag", tag),
        )

    variants = [
        ("amd64 native", build("amd64", "cross")),
        ("arm64 cross", build("arm64v8", "cross")),
        ("armv7 cross", build("armv7", "cross")),
        ("arm64 emulate", build("arm64v8", "emulate")),
        ("armv7 emulate", build("armv7", "emulate")),
    ]
    series = real.compare_all(max(1, bench.build_runs), variants, steps=True)
    native, cross, cross_v7, emulate, emulate_v7 = (series[label] for label, _ in variants)
    return CaseResult(
        "rust",
        cross,
        native,
        "<= 1.3x",
        1.3,
        [
            "bcrypt from the real index on the musl stand-in with Rust, --force --no-cache --no-test",
            f"arm64: emulate / cross = {emulate.median / cross.median:.2f}x (goal >= 5x)",
            f"armv7: cross = {cross_v7.median / native.median:.2f}x amd64 native (goal <= 1.3x); "
            f"emulate / cross = {emulate_v7.median / cross_v7.median:.2f}x (goal >= 5x)",
        ],
        {
            "armv7_cross": series_json(cross_v7),
            "arm64_emulate": series_json(emulate),
            "armv7_emulate": series_json(emulate_v7),
            "arm64_emulate_over_cross": emulate.median / cross.median,
            "armv7_emulate_over_cross": emulate_v7.median / cross_v7.median,
            "armv7_cross_over_native": cross_v7.median / native.median,
        },
    )


def case_bake(bench: Bench) -> CaseResult:
    """The 4-target matrix (two modules, amd64 + arm64, one depending on the other) through one
    ``invoke bake`` (buildx orders and runs the graph) vs ``invoke build --jobs 2`` (our scheduler,
    one ``docker buildx build`` per target), each round with a cold BuildKit cache (``--no-cache``:
    every layer built again), the two alternating which goes first."""
    ws = bench.ws
    config = ws.root / "bench-bake-modules.toml"
    text = ws.build_config.read_text(encoding="utf-8")
    dependent = f"[modules.{CEXT_B}]\n"
    if dependent not in text:
        raise BenchError(f"{ws.build_config} has no {dependent.strip()} table")
    config.write_text(
        text.replace(dependent, f'{dependent}depends = ["{CEXT_A}"]\n'), encoding="utf-8"
    )
    tags = [build_tag(p, a) for p in (CEXT_A, CEXT_B) for a in ("amd64", "arm64v8")]
    # --force: every target is built (none taken from wheels/); --no-cache: a cold BuildKit cache
    # (cache mounts for pip/apt stay); --no-test: the builds alone (the verify cases time the test)
    args = ["--force", "--no-cache", "--no-test", "--config", str(config)]
    for tag in tags:
        args += ["--tag", tag]
    rounds = max(2, bench.build_runs)
    logs = ws.root / ".musl-wheels" / "logs"

    def after(label: str, sample: Sample) -> None:
        # every target built in this run: one fresh per-target log each, with its installed line
        fresh = [
            log
            for log in logs.glob("*.log")
            if log.name != "bake.log" and log.stat().st_mtime >= time.time() - sample.seconds - 1
        ]
        built = [
            log for log in fresh if "muslwheels: installed " in log.read_text(errors="replace")
        ]
        if len(built) != len(tags):
            raise BenchError(f"bake case, {label}: {len(built)} of {len(tags)} targets built")

    measured, baseline = bench.compare(
        rounds,
        ("invoke bake", bench.invoke_cmd("bake", *args)),
        ("invoke build --jobs 2", bench.invoke_cmd("build", "--jobs", "2", *args)),
        after=after,
        steps=True,
    )
    per_round = "; ".join(
        f"{i + 1}: bake {m.seconds:.1f}s, build {b.seconds:.1f}s ({m.seconds / b.seconds:.2f}x)"
        for i, (m, b) in enumerate(zip(measured.samples, baseline.samples))
    )
    return CaseResult(
        "bake",
        measured,
        baseline,
        "reported",
        None,
        [
            f"{CEXT_B} depends on {CEXT_A}; 4 targets (amd64 native, arm64 under QEMU), "
            "--force --no-cache --no-test on both sides: a cold BuildKit cache each round (every "
            "layer built again; pip/apt cache mounts and the local base image stay)",
            f"rounds (alternating which goes first): {per_round}",
        ],
        {"rounds": rounds},
    )


#: The line build/scheduler.py writes into a tested target's log after its test step.
_TIMING = re.compile(r"muslwheels: timing: build ([0-9.]+)s, closure and test ([0-9.]+)s")


def verify_case(bench: Bench, name: str, arch: str, where: str) -> CaseResult:
    """What the runtime closure and the test step add to one target's build, from the timing line
    of its log: the test step's seconds against the build's (the wheel step re-run by --force)."""
    ws = bench.ws
    tag = build_tag(CEXT_A, arch)
    cmd = bench.invoke_cmd("build", "--force", *build_args(ws, tag, tested=True))
    shown = " ".join(cmd)
    build = Series(f"build {where}", shown)
    verify = Series(f"closure + test {where}", shown)
    logs = ws.root / ".musl-wheels" / "logs"
    for i in range(bench.build_runs):
        started = time.time()
        sample = bench.checked(cmd, f"{name} run {i + 1}")
        found = [
            _TIMING.search(log.read_text(encoding="utf-8", errors="replace"))
            for log in sorted(logs.glob("*.log"))
            if log.stat().st_mtime >= started
        ]
        timings = [m for m in found if m is not None]
        if len(timings) != 1:
            raise BenchError(f"{name}: expected one timing line in the target's log")
        build_seconds, verify_seconds = (float(x) for x in timings[0].groups())
        build.samples.append(dataclasses.replace(sample, seconds=build_seconds, docker=[]))
        verify.samples.append(dataclasses.replace(sample, seconds=verify_seconds, docker=[]))
        bench.log(
            f"  run {i + 1}/{bench.build_runs}: build {build_seconds:.2f}s, "
            f"closure and test {verify_seconds:.2f}s"
        )
    return CaseResult(
        name,
        verify,
        build,
        "reported",
        None,
        [
            f"{tag}: the closure (the probe of the base image, nothing to download) and the test "
            "(a clean container of the base image, pip install --no-index, the imports) against "
            "the build they follow (--force: the wheel step re-run, other layers cached)"
        ],
    )


def case_verify(bench: Bench) -> CaseResult:
    return verify_case(bench, "verify", "amd64", "amd64 (native)")


def case_verify_qemu(bench: Bench) -> CaseResult:
    return verify_case(bench, "verify-qemu", "arm64v8", "arm64 (QEMU)")


CASE_FUNCTIONS: dict[str, Callable[[Bench], CaseResult]] = {
    "plan": case_plan,
    "no-op": case_noop,
    "overhead": case_overhead,
    "warm": case_warm,
    "parallel": case_parallel,
    "emulation": case_emulation,
    "cross": case_cross,
    "bake": case_bake,
    "verify": case_verify,
    "verify-qemu": case_verify_qemu,
    "rust": case_rust,
}
BUILD_CASES = ("overhead", "warm", "parallel", "emulation", "cross", "bake", "rust")
#: Build cases whose two series come from one run's log (no buildx timing of their own).
VERIFY_CASES = ("verify", "verify-qemu")


# --- report ------------------------------------------------------------------------------------------


def _command_output(cmd: Sequence[str]) -> str:
    try:
        done = subprocess.run(list(cmd), capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() or "unknown"


def machine_facts() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) // 1024 // 1024} GiB"
                break
    except (OSError, ValueError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "kernel": platform.release(),
        "os": _command_output(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "python": platform.python_version(),
        "docker": _command_output(["docker", "version", "--format", "{{.Server.Version}}"]),
        "buildx": _command_output(["docker", "buildx", "version"]),
    }


def describe_machine(facts: dict[str, Any]) -> str:
    return (
        f"{facts['os']}, {facts['cores']} cores ({facts['cpu']}), {facts['memory']} RAM, "
        f"Docker {facts['docker']}, {facts['buildx'].split(' ')[1] if ' ' in facts['buildx'] else facts['buildx']}"
        f" (buildx), Python {facts['python']}"
    )


def table(results: Sequence[CaseResult]) -> str:
    rows = []
    for r in results:
        rows.append(
            [
                r.name,
                r.measured.label,
                format_seconds(r.measured.median),
                r.baseline.label,
                format_seconds(r.baseline.median),
                f"{r.ratio:.2f}x",
                r.goal,
                r.met,
            ]
        )
    return render_table(
        ["case", "measured", "median", "compared with", "median", "ratio", "goal", "met"], rows
    )


def conditions(results: Sequence[CaseResult]) -> str:
    samples = [s for r in results for series in (r.measured, r.baseline) for s in series.samples]
    if not samples:
        return ""
    loads = [s.load for s in samples]
    others = [s.other_builds for s in samples]
    idle = [s.idle for s in samples if s.idle == s.idle]  # not NaN
    busy = sum(1 for n in others if n)
    text = (
        f"load average at run starts {min(loads):.1f}-{max(loads):.1f}; other buildx builds "
        f"running at {busy} of {len(samples)} run starts (up to {max(others)} at once)"
    )
    if idle:
        text += f"; CPU idle during runs {min(idle):.0%}-{max(idle):.0%}"
    return text


def series_json(series: Series) -> dict[str, Any]:
    return {
        "label": series.label,
        "command": series.command,
        "median": series.median,
        "seconds": series.seconds,
        "load": [s.load for s in series.samples],
        "other_builds": [s.other_builds for s in series.samples],
        "idle": [s.idle for s in series.samples],
        "outside_buildx_build": [s.outside_builds for s in series.samples],
        "docker_calls": [s.docker for s in series.samples],
        "buildkit_steps": [s.steps for s in series.samples],
    }


def slowest_steps(series: Series, count: int = 2) -> str:
    """The slowest BuildKit steps of a series, medians over its runs (all targets together)."""
    per_step: dict[str, list[float]] = {}
    for sample in series.samples:
        for target, steps in sample.steps.items():
            for step, seconds in steps.items():
                # the log's name without the flavour: module, version, Python and arch (cut shorter,
                # the amd64 and arm64 targets of a module would share one entry)
                where = target.split("@")[0]
                per_step.setdefault(f"{step.split(':')[0]} ({where})", []).append(seconds)
    ranked = sorted(per_step.items(), key=lambda item: -statistics.median(item[1]))[:count]
    return ", ".join(f"{name} {statistics.median(v):.1f}s" for name, v in ranked) or "none"


def write_results(
    results: Sequence[CaseResult], facts: dict[str, Any], extra: dict[str, Any]
) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    path = RESULTS / f"{stamp}.json"
    document = {
        "machine": facts,
        **extra,
        "cases": [
            {
                "case": r.name,
                "goal": r.goal,
                "limit": r.limit,
                "ratio": r.ratio,
                "met": r.met,
                "measured": series_json(r.measured),
                "baseline": series_json(r.baseline),
                "notes": r.notes,
                "facts": r.facts,
            }
            for r in results
        ],
    }
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return path


# --- main -----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--case", action="append", choices=CASES, help="run only this case (repeatable)"
    )
    parser.add_argument("--runs", type=int, default=10, help="runs of the plan/no-op cases")
    parser.add_argument("--build-runs", type=int, default=3, help="runs of each build case")
    parser.add_argument(
        "--base-image",
        default=fixtures.BUILD_BASE_IMAGE,
        help="base-image template of the build cases (default: the glibc stand-in)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the workspace (its path is printed)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cases = args.case or list(CASES)

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    if not fixtures.registry_answers():
        log(f"error: the local registry {fixtures.REGISTRY} does not answer; run .ci/setup first")
        return 2
    needs_build = any(c in (*BUILD_CASES, *VERIFY_CASES) for c in cases)
    standin = args.base_image.replace("{python}", fixtures.BUILD_PYTHON)
    if needs_build and not fixtures.image_in_registry(standin):
        log(f"error: the stand-in {standin} is not in the registry; run .ci/setup first")
        return 2
    musl = fixtures.MUSL_BASE_IMAGE.replace("{python}", fixtures.BUILD_PYTHON)
    if "cross" in cases and not fixtures.image_in_registry(musl):
        log(
            f"error: the musl stand-in {musl} is not in the registry; run tests/standins/build-musl.sh"
        )
        return 2
    invoke = shutil.which("invoke", path=str(Path(sys.executable).parent)) or shutil.which("invoke")
    if invoke is None:
        log("error: no invoke command beside this Python; install the project (pip install -e .)")
        return 2
    facts = machine_facts()
    root = Path(tempfile.mkdtemp(prefix="muslwheels-bench-"))
    index: fixtures.IndexServer | None = None
    try:
        ws = fixtures.make_workspace(root, base_image=args.base_image)
        log(f"bench workspace: {root}")
        support: list[Path] = []
        if needs_build:
            log("fetching the build's support wheels (once; cached)")
            support = fixtures.download_build_support(
                fixtures.bench_cache_dir(os.environ) / "dist", os.environ
            )
        fixtures.build_index(root / "index", support)
        index = fixtures.IndexServer(root / "index")
        fixtures.publish_plan_images()
        env = fixtures.run_environment(os.environ, ws, index.url)
        bench = Bench(ws, env, index, args.runs, args.build_runs, invoke, log)
        extra: dict[str, Any] = {"runs": args.runs, "build_runs": args.build_runs}
        if needs_build:
            log("priming: building every target of the build cases once")
            extra["prime_seconds"] = prime_builds(bench)
        results: list[CaseResult] = []
        for name in cases:
            log(f"case {name}")
            result = CASE_FUNCTIONS[name](bench)
            if name in BUILD_CASES:
                result.notes.append(
                    "outside `docker buildx build` / `bake` (medians): "
                    + "; ".join(
                        f"{series.label} {statistics.median(s.outside_builds for s in series.samples):.2f}s"
                        for series in (result.measured, result.baseline)
                    )
                )
                result.notes.append(
                    f"slowest BuildKit steps (medians): {result.measured.label}: "
                    f"{slowest_steps(result.measured)}; {result.baseline.label}: "
                    f"{slowest_steps(result.baseline)}"
                )
            results.append(result)
        print()
        print(f"musl-wheels bench, {time.strftime('%Y-%m-%d')}: {describe_machine(facts)}")
        print(f"runs: {args.runs} (plan, no-op), {args.build_runs} (build cases), interleaved")
        print()
        print(table(results))
        print()
        for r in results:
            for note in r.notes:
                print(f"- {r.name}: {note}")
        print(f"- conditions: {conditions(results)}")
        extra["conditions"] = conditions(results)
        path = write_results(results, facts, extra)
        print(f"\nraw figures: {path}")
        return 0
    except BenchError as err:
        log(f"error: {err}")
        return 1
    finally:
        if index is not None:
            index.close()
        if args.keep:
            log(f"workspace kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
