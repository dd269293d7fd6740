"""Build planned targets into verified wheels in ``wheels/<arch>/``: the scheduler.

This module orchestrates; it never talks to Docker itself. The engine (``engine.BuildEngine``:
``docker.DockerEngine`` in real runs, a fake in unit tests) runs one ``docker buildx build`` per
target from the ``BuildRequest`` that ``build_inputs`` makes:

- dependencies first: a target whose dependency failed fails without building; independent targets
  build in parallel, up to ``jobs`` at a time (threads); a failing target stops nothing else;
- a target whose verified wheel is already in ``wheels/<arch>/`` is skipped unless ``force`` (that
  path makes no engine call at all), and ``dry_run`` makes none either: it reports the command lines;
  ``force`` also re-runs the wheel step instead of taking it from BuildKit's layer cache;
- the dependency wheels reach the dependent's build through the ``deps`` build context;
- pip's index settings reach the build only as BuildKit secrets (``build_inputs``);
- the build's wheels are verified (``verify/fit.py``) and only then moved into ``wheels/<arch>/``
  (``wheelstore.install_wheels``: atomic, under the folder's lock);
- a runtime requirement that neither a modules.toml module nor a fitting wheel on the index provides
  but an sdist on the index does (``wheeltest.NeedsExtras``) becomes an *extra dependency target*
  (``plan.extra_target``): the requester's verified wheels wait in the run's directory, the extra
  target is built and tested like any other (its summary says whose runtime requirement it is),
  then the requester's closure is gathered again and it lands; a cycle among extra targets fails
  them, naming it;
- the build mode (``build/modes.py`` decides it per target): ``emulate`` runs every step on the target
  platform, ``cross`` compiles on the build machine's platform for the target (build arg
  ``MW_MODE=cross``), ``auto`` tries cross and builds again in emulation when that fails; the result
  carries the mode used (``TargetResult.mode``) and the summary shows it;
- Ctrl-C stops the running builds, removes the private temporary directories and raises
  ``errors.Interrupted``; ``wheels/`` is left as it was or complete.
"""

from __future__ import annotations

import queue
import re
import shlex
import shutil
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Protocol

from ..config.model import Mode, Target
from ..engine.interface import BuildEngine, BuildRequest
from ..errors import BuildError, ExitCode, Interrupted, MuslWheelsError, PlatformsUnsupported
from ..plan.graph import find_cycle, transitive_deps
from ..plan.planner import extra_target
from ..verify.fit import verification_failure, verify_wheels
from ..wheeltest.step import ExtraNeed, NeedsExtras, TestFailed, WheelTestStep
from .inputs import (
    BuildOptions,
    RunFiles,
    base_image_line,
    build_request,
    pip_settings,
    placeholder_run_files,
    recipe_files,
    stage_workdir,
    write_run_files,
)
from .landing import land_wheels, present_message, wheel_test_step
from .lifecycle import Gate, Lifecycle, Phase, cannot_order, dependency_failure, gate
from .modes import ModeDecision, decide
from .wheelstore import WheelFolders

__all__ = [
    "BuildReporter",
    "TargetResult",
    "build_targets",
    "log_name",
    "require_dockerfile",
    "served_platforms",
    "unserved_result",
    "validate_graph",
]

Status = Literal["built", "skipped", "failed", "would-build"]

_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9._@+-]")


# --- results and progress ----------------------------------------------------------------------


@dataclass(frozen=True)
class TargetResult:
    target: Target
    status: Status
    seconds: float = 0.0
    wheels: tuple[str, ...] = ()  # file names in wheels_root/<arch>/
    log_path: Path | None = None
    message: str = ""  # why it failed / was skipped; the command line for would-build; the mode
    mode: str = ""  # how it was built: native, emulate, cross, "emulate (fallback: <reason>)"
    tested: str = ""  # what the test step said: "tested: import ...", "test off: <reason>"...
    runtime_packages: tuple[str, ...] = ()  # system packages the wheel needs (no-shared flavour)
    exit_code: ExitCode = ExitCode.BUILD  # what its failure calls for (5: the builder cannot)
    extra_for: str = ""  # an extra dependency target: the tag of the target that needed it


@dataclass(frozen=True)
class _Built:
    """How a target's wheels were built: the mode used, its label, and how long it took."""

    used: str
    label: str
    seconds: float


@dataclass(frozen=True)
class _Suspended:
    """A built target whose runtime closure waits for extra dependency targets."""

    target: Target
    wheels: tuple[Path, ...]  # its verified wheels, kept in the run's directory meanwhile
    needs: tuple[ExtraNeed, ...]
    waits: tuple[str, ...]  # the ids of the extra targets it waits for (set by the scheduler)
    asked: frozenset[str]  # every extra target id it waited for so far (a second ask fails)
    built: _Built
    log_path: Path


class BuildReporter(Protocol):
    """Progress callbacks (console.BuildProgress implements it). build_targets serialises the calls."""

    def target_started(self, target: Target) -> None: ...

    def target_log(self, target: Target, line: str) -> None: ...

    def target_finished(self, result: TargetResult) -> None: ...


# --- ordering -----------------------------------------------------------------------------------


def validate_graph(targets: Sequence[Target]) -> None:
    """Every dependency must be a target of the list, ids unique, no cycles (BuildError)."""
    ids = [t.id for t in targets]
    seen: set[str] = set()
    for target_id in ids:
        if target_id in seen:
            raise BuildError(f"target {target_id} is listed twice")
        seen.add(target_id)
    by_id = {t.id: t for t in targets}
    for t in targets:
        for dep in t.depends:
            if dep not in by_id:
                raise BuildError(
                    f"target {t.id} depends on {dep}, which is not in the plan",
                    hint="plan the dependencies together with the targets that need them",
                )
    cycle = find_cycle(ids, lambda target_id: by_id[target_id].depends)
    if cycle:
        raise BuildError(f"dependency cycle: {' -> '.join(cycle)}")


def log_name(target: Target) -> str:
    return _UNSAFE_FILE_CHARS.sub("_", target.id) + ".log"


def served_platforms(
    platforms: Sequence[str], prepare: Callable[[Sequence[str]], None]
) -> tuple[tuple[str, ...], PlatformsUnsupported | None]:
    """Have the builder ready (``prepare``: the engine's check) for ``platforms``, or for those it
    can serve: the platforms to build, and the error that names the others (None: every one).
    Any other DockerError (no daemon, no such builder) stops the run."""
    try:
        prepare(platforms)
        return tuple(platforms), None
    except PlatformsUnsupported as err:
        served = tuple(p for p in platforms if p not in err.platforms)
        if len(served) == len(platforms):  # it named none of ours: nothing can be said per target
            raise
        if served:
            prepare(served)
        return served, err


def require_dockerfile(docker_dir: Path) -> None:
    """The build's Dockerfile must be there before any build starts (BuildError)."""
    dockerfile = docker_dir / "Dockerfile"
    if not dockerfile.is_file():
        raise BuildError(
            f"no Dockerfile at {dockerfile}",
            hint="run from a musl-wheels checkout, or pass its docker/ directory as docker_dir",
        )


def present(target: Target, found: tuple[str, ...], options: BuildOptions) -> TargetResult:
    """Skip if present: the result of a target whose verified wheels are in wheels/."""
    life = Lifecycle(target)
    life.present(present_message(options))
    return TargetResult(target, "skipped", wheels=found, message=life.message)


def unserved_result(target: Target, err: PlatformsUnsupported) -> TargetResult:
    """The failure of a target whose platform the builder cannot build (exit code 5)."""
    message = f"{err}: {err.hint}" if err.hint else str(err)
    return TargetResult(target, "failed", message=message, exit_code=err.exit_code)


# --- the run --------------------------------------------------------------------------------------


class _Cancelled(Exception):
    pass


class _Run:
    def __init__(
        self,
        targets: Sequence[Target],
        options: BuildOptions,
        engine: BuildEngine,
        reporter: BuildReporter,
    ) -> None:
        self.targets = tuple(targets)
        self.options = options
        self.engine = engine
        self.reporter = reporter
        self.by_id = {t.id: t for t in targets}
        self.results: dict[str, TargetResult] = {}
        self.report_lock = threading.Lock()
        self.cancel = threading.Event()
        self.pip = pip_settings(options.index)
        self.fresh = uuid.uuid4().hex if options.force else ""
        self.tests = options.tests
        self.test_step: WheelTestStep | None = None  # made with the run's files (run())
        self.run_dir: Path | None = None  # the run's private directory (held wheels go there)
        self.extras: list[Target] = []  # extra dependency targets, in the order they were added
        self.extra_of: dict[str, Target] = {}  # extra target id -> the target that first needed it
        self.suspended: dict[str, _Suspended] = {}  # by target id

    # -- reporting (serialised: workers are threads) --

    def started(self, target: Target) -> None:
        with self.report_lock:
            self.reporter.target_started(target)

    def line(self, target: Target, text: str) -> None:
        with self.report_lock:
            self.reporter.target_log(target, text)

    def finish(self, result: TargetResult) -> TargetResult:
        of = self.extra_of.get(result.target.id)
        if of is not None:
            note = (
                f"extra: {'built as ' if result.status == 'built' else ''}runtime requirement of "
            )
            message = "; ".join(m for m in (note + of.tag, result.message) if m)
            result = replace(result, message=message, extra_for=of.tag)
        self.results[result.target.id] = result
        with self.report_lock:
            self.reporter.target_finished(result)
        return result

    def decision(self, target: Target, musl_base: bool | None = None) -> ModeDecision:
        return decide(
            target.recipe,
            target.arch,
            run_mode=self.options.mode,
            default=self.options.default_mode,
            build_platform=self.options.build_platform,
            musl_base=musl_base,
        )

    # -- the run --

    def run(self) -> tuple[TargetResult, ...]:
        validate_graph(self.targets)
        to_build: list[Target] = []
        folders = WheelFolders(self.options.wheels_root)
        for target in self.targets:
            found = () if self.options.force else folders.fitting(target)
            if found:
                self.finish(present(target, found, self.options))
            else:
                to_build.append(target)
        if self.options.dry_run:
            for target in to_build:
                self.finish(self.would_build(target))
        elif to_build:
            require_dockerfile(self.options.docker_dir)
            served, unserved = served_platforms(
                sorted({t.platform for t in to_build}),
                lambda platforms: self.engine.prepare(platforms, builder=self.options.builder),
            )
            if unserved is not None:
                for target in to_build:
                    if target.platform not in served:
                        self.finish(unserved_result(target, unserved))
                to_build = [t for t in to_build if t.platform in served]
            with tempfile.TemporaryDirectory(
                prefix="muslwheels-run-", dir=self.options.temp_root
            ) as run_dir:
                run_files = write_run_files(
                    self.pip,
                    Path(run_dir),
                    fresh=self.fresh,
                    cargo_config=self.options.cargo_config,
                )
                self.test_step = wheel_test_step(self.options, run_files, self._run_checked)
                self.run_dir = Path(run_dir)
                self.build_all(to_build, run_files)
        return tuple(self.results[t.id] for t in (*self.targets, *self.extras))

    def would_build(self, target: Target) -> TargetResult:
        placeholder = Path("<tmp>")
        run_files = placeholder_run_files(
            self.pip, fresh=self.fresh, cargo_config=self.options.cargo_config
        )
        try:
            recipe_files(target)
        except BuildError as err:
            return TargetResult(target, "failed", message=str(err))
        life = Lifecycle(target)
        life.start(self.decision(target))
        if life.phase is Phase.FAILED:
            return TargetResult(target, "failed", message=life.message)
        try:
            request = build_request(
                target,
                options=self.options,
                run_files=run_files,
                workdir=placeholder / log_name(target).removesuffix(".log"),
                mode=life.mode,
            )
        except BuildError as err:
            return TargetResult(target, "failed", message=str(err))
        return TargetResult(target, "would-build", message=shlex.join(request.command_line()))

    def build_all(self, to_build: list[Target], run_files: RunFiles) -> None:
        """Hand ready targets to ``jobs`` worker threads, dependencies first."""
        jobs = max(1, self.options.jobs)
        tasks: queue.Queue[Target | _Suspended | None] = queue.Queue()
        done: queue.Queue[TargetResult | _Suspended] = queue.Queue()

        def worker() -> None:
            while True:
                item = tasks.get()
                if item is None:
                    return
                if isinstance(item, _Suspended):
                    done.put(self.resume_one(item))
                else:
                    done.put(self.build_one(item, run_files))

        # Every thread is known before it starts, so an interrupt can always join all of them.
        threads = [
            threading.Thread(target=worker, name=f"muslwheels-build-{i}") for i in range(jobs)
        ]
        waiting = list(to_build)  # in plan order
        running = 0
        try:
            for thread in threads:
                thread.start()
            while waiting or running or self.suspended:
                progress = False
                for held in list(self.suspended.values()):
                    if running >= jobs:
                        break
                    extras, failure = self.extras_state(held)
                    if extras is Gate.WAIT:
                        continue
                    del self.suspended[held.target.id]
                    progress = True
                    if extras is Gate.BLOCKED:
                        self.finish(self.held_failure(held, failure))
                        continue
                    running += 1
                    tasks.put(held)
                for target in list(waiting):
                    if running >= jobs:
                        break
                    deps, failed = gate(target.depends, self.failed)
                    if deps is Gate.WAIT:
                        continue
                    waiting.remove(target)
                    progress = True
                    if failed is not None:
                        message = dependency_failure(self.by_id[failed].tag)
                        self.finish(TargetResult(target, "failed", message=message))
                        continue
                    running += 1
                    tasks.put(target)
                if running:
                    item = done.get()
                    running -= 1
                    if isinstance(item, _Suspended):
                        waiting[:0] = self.suspend(item)  # extras first: a built target waits
                    else:
                        self.finish(item)
                elif (waiting or self.suspended) and not progress:
                    stuck = [*(t.id for t in waiting), *self.suspended]
                    raise cannot_order(stuck)
        except KeyboardInterrupt:
            self.cancel.set()
            self.engine.cancel()
            self._stop(threads, tasks)
            raise Interrupted(
                "interrupted: the running builds were stopped",
                hint="wheels/ holds only complete wheels; run the build again to finish",
            ) from None
        finally:
            self._stop(threads, tasks)

    def _stop(
        self, threads: list[threading.Thread], tasks: queue.Queue[Target | _Suspended | None]
    ) -> None:
        """Let every worker finish (a worker that takes a target after cancel() returns at once)."""
        for _ in threads:
            tasks.put(None)
        for thread in threads:
            while thread.ident is not None and thread.is_alive():
                try:
                    thread.join()
                except KeyboardInterrupt:
                    self.cancel.set()
                    self.engine.cancel()

    def failed(self, target_id: str) -> bool | None:
        """Whether a target failed; None while it has no result."""
        result = self.results.get(target_id)
        return None if result is None else result.status == "failed"

    def dependency_wheels(self, target: Target) -> list[Path]:
        paths: list[Path] = []
        for dep in transitive_deps(target.id, lambda t: self.by_id[t].depends):
            result = self.results[dep]
            folder = self.options.wheels_root / result.target.wheel_dir
            paths.extend(folder / name for name in result.wheels)
        return paths

    # -- extra dependency targets (scheduler thread only) --

    def suspend(self, held: _Suspended) -> list[Target]:
        """Plan the extra targets ``held`` waits for; the ones new to the run, to build first."""
        extras = [extra_target(held.target, n.name, n.version) for n in held.needs]
        again = [e for e in extras if e.id in held.asked]
        if again:
            # built (or failed) once for this target already: asking again would never end
            self.finish(
                self.held_failure(
                    held,
                    f"the runtime closure still lacks {', '.join(e.tag for e in again)} after it "
                    "was built as an extra dependency target",
                )
            )
            return []
        new: list[Target] = []
        for extra in extras:
            if extra.id not in self.by_id:
                self.by_id[extra.id] = extra
                self.extra_of[extra.id] = held.target
                self.extras.append(extra)
                new.append(extra)
        waits = tuple(dict.fromkeys(e.id for e in extras))
        held = replace(held, waits=waits, asked=held.asked | set(waits))
        self.suspended[held.target.id] = held
        cycle = find_cycle([held.target.id], self.waits_on)
        if cycle:
            del self.suspended[held.target.id]
            tags = " -> ".join(self.by_id[i].tag for i in cycle)
            self.finish(self.held_failure(held, f"cycle among extra dependency targets: {tags}"))
        return new

    def waits_on(self, target_id: str) -> tuple[str, ...]:
        held = self.suspended.get(target_id)
        return (*self.by_id[target_id].depends, *(held.waits if held else ()))

    def extras_state(self, held: _Suspended) -> tuple[Gate, str]:
        """The gate of a held target, and the failure message when an extra target it needs
        failed."""
        extras, failed = gate(held.waits, self.failed)
        if failed is None or extras is not Gate.BLOCKED:
            return extras, ""
        extra = self.by_id[failed]
        need = next(
            (n for n in held.needs if extra_target(held.target, n.name, n.version) == extra),
            None,
        )
        chain = f" ({' -> '.join(need.chain)} needs {need.requirement})" if need else ""
        return extras, f"extra dependency target {extra.tag} failed{chain}"

    def held_failure(self, held: _Suspended, message: str) -> TargetResult:
        with held.log_path.open("a", encoding="utf-8", errors="replace") as log:
            log.write(f"muslwheels: failed: {message}\n")
        return TargetResult(
            held.target, "failed", held.built.seconds, (), held.log_path, message, held.built.label
        )

    def hold(
        self,
        target: Target,
        need: NeedsExtras,
        on_line: Callable[[str], None],
        built: _Built,
        *,
        asked: frozenset[str] = frozenset(),
    ) -> _Suspended:
        """Keep ``need.wheels`` in the run's directory while the extra targets are built."""
        assert self.run_dir is not None  # set before the first build starts
        keep = self.run_dir / "held" / log_name(target).removesuffix(".log")
        shutil.rmtree(keep, ignore_errors=True)
        keep.mkdir(parents=True)
        kept = tuple(Path(shutil.copy2(w, keep / w.name)) for w in need.wheels)
        for extra in need.extras:
            on_line(
                f"muslwheels: extra dependency target: {extra.name} {extra.version} "
                f"({' -> '.join(extra.chain)} needs {extra.requirement}; the index has only its "
                "sdist); the wheel waits for it"
            )
        log_path = self.options.log_dir / log_name(target)
        return _Suspended(target, kept, need.extras, (), asked, built, log_path)

    # -- one target in a worker thread --

    def build_one(self, target: Target, run_files: RunFiles) -> TargetResult | _Suspended:
        return self._logged(
            target,
            "w",
            0.0,
            lambda workdir, on_line, result: self._build_in(
                target, run_files, workdir, on_line, result
            ),
        )

    def resume_one(self, held: _Suspended) -> TargetResult | _Suspended:
        """Gather the closure of a target whose extra dependency targets are built, and land it."""

        def body(
            workdir: Path, on_line: Callable[[str], None], result: Callable[..., TargetResult]
        ) -> TargetResult | _Suspended:
            on_line("muslwheels: its extra dependency targets are built: the closure again")
            try:
                return self._land(
                    held.target, list(held.wheels), workdir, on_line, result, built=held.built
                )
            except NeedsExtras as need:
                return self.hold(held.target, need, on_line, held.built, asked=held.asked)

        return self._logged(held.target, "a", held.built.seconds, body)

    def _logged(
        self,
        target: Target,
        log_mode: Literal["w", "a"],
        seconds_before: float,
        body: Callable[
            [Path, Callable[[str], None], Callable[..., TargetResult]],
            TargetResult | _Suspended,
        ],
    ) -> TargetResult | _Suspended:
        """Run ``body`` with a private directory, a log line callback and a result maker; its
        errors become failed results (``seconds_before``: time spent on it in an earlier part)."""
        start = time.monotonic()
        self.options.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.options.log_dir / log_name(target)

        def result(
            status: Status, message: str = "", wheels: tuple[str, ...] = (), mode: str = ""
        ) -> TargetResult:
            seconds = seconds_before + time.monotonic() - start
            return TargetResult(target, status, seconds, wheels, log_path, message, mode)

        if self.cancel.is_set():
            return result("failed", "interrupted before it started")
        self.started(target)
        with log_path.open(log_mode, encoding="utf-8", errors="replace") as log:

            def on_line(text: str) -> None:
                text = text.rstrip("\r\n")
                log.write(text + "\n")
                log.flush()
                self.line(target, text)

            try:
                with tempfile.TemporaryDirectory(
                    prefix="muslwheels-", dir=self.options.temp_root
                ) as tmp:
                    return body(Path(tmp), on_line, result)
            except _Cancelled:
                on_line("muslwheels: interrupted")
                return result("failed", "interrupted")
            except MuslWheelsError as err:
                on_line(f"muslwheels: failed: {err}")
                return result("failed", str(err))
            except Exception as err:
                log.write(traceback.format_exc())
                return result("failed", f"unexpected error: {err!r} (see {log_path})")

    def _build_in(
        self,
        target: Target,
        run_files: RunFiles,
        workdir: Path,
        on_line: Callable[[str], None],
        result: Callable[..., TargetResult],
    ) -> TargetResult | _Suspended:
        started = time.monotonic()
        on_line(f"muslwheels: target {target.id} ({target.platform}, {target.base_image})")
        on_line(f"muslwheels: {base_image_line(target)}")
        of = self.extra_of.get(target.id)
        if of is not None:
            on_line(f"muslwheels: extra: built as runtime requirement of {of.tag}")
        for note in self.pip.notes:
            on_line(f"muslwheels: note: {note}")
        life = Lifecycle(target)
        life.start(self.decision(target))
        if life.phase is Phase.FAILED:
            raise BuildError(life.message)
        dep_wheels = self.dependency_wheels(target)
        stage_workdir(target, workdir, dep_wheels)
        for wheel in dep_wheels:
            on_line(f"muslwheels: offering dependency wheel {wheel.name}")
        if life.wants_probe and self.test_step is not None:
            # cross mode is musl-only: the base image's probe says so before anything is built
            life.probed(self.test_step.probe(target, workdir, on_line).musl)
        line = life.plan_line()
        if line:
            on_line(line)
        produced = self._attempts(life, run_files, workdir, on_line)
        while True:
            life.testing()
            built = _Built(life.used, life.label, time.monotonic() - started)
            try:
                landed = self._land(
                    target,
                    [workdir / "out" / n for n in produced],
                    workdir,
                    on_line,
                    result,
                    built=built,
                )
            except NeedsExtras as need:
                life.waiting()
                return self.hold(target, need, on_line, built)
            except TestFailed as err:
                fallback = life.test_failed(err)
                if fallback is None:
                    raise
                # auto: a cross-built wheel that fails its test counts as a failed cross build
                on_line(fallback.line("building again"))
                shutil.rmtree(workdir / "test", ignore_errors=True)
                produced = self._attempts(life, run_files, workdir, on_line)
                continue
            life.landed()
            return landed

    def _attempts(
        self,
        life: Lifecycle,
        run_files: RunFiles,
        workdir: Path,
        on_line: Callable[[str], None],
    ) -> list[str]:
        """Build in the lifecycle's mode until a build succeeds (mode auto: in emulation after a
        failed cross build); BuildError with the lifecycle's words when it failed."""
        while True:
            try:
                produced = self._attempt(life.target, run_files, workdir, on_line, life.mode)
            except BuildError as err:
                fallback = life.build_failed(err)
                if fallback is not None:
                    on_line(fallback.line("building again"))
                    continue
                if life.message == str(err):
                    raise
                raise BuildError(life.message) from None
            life.built()
            return produced

    def _land(
        self,
        target: Target,
        sources: list[Path],
        workdir: Path,
        on_line: Callable[[str], None],
        result: Callable[..., TargetResult],
        *,
        built: _Built,
    ) -> TargetResult:
        """The test step and the landing (landing.land_wheels) of verified wheels; NeedsExtras
        when their closure waits for extra dependency targets."""
        landed = land_wheels(
            target,
            sources,
            options=self.options,
            step=self.test_step,
            workdir=workdir,
            on_line=on_line,
            label=built.label,
            build_seconds=built.seconds,
        )
        return replace(
            result(
                "built",
                landed.message("" if built.used == "native" else built.label),
                landed.wheels,
                built.label,
            ),
            tested=landed.tested,
            runtime_packages=landed.runtime_packages,
        )

    def _run_checked(self, request: BuildRequest, on_line: Callable[[str], None]) -> None:
        """One engine build that a Ctrl-C stops before it starts and after it ends."""
        if self.cancel.is_set():
            raise _Cancelled
        self.engine.build(request, on_line)
        if self.cancel.is_set():
            raise _Cancelled

    def _attempt(
        self,
        target: Target,
        run_files: RunFiles,
        workdir: Path,
        on_line: Callable[[str], None],
        mode: Mode,
    ) -> list[str]:
        """One build of ``target`` in ``mode`` into workdir/out/; the verified wheel names."""
        out_dir = workdir / "out"
        for stale in out_dir.iterdir():
            if stale.is_file():
                stale.unlink()
        request = build_request(
            target, options=self.options, run_files=run_files, workdir=workdir, mode=mode
        )
        on_line("muslwheels: " + shlex.join(request.command_line()))
        self._run_checked(request, on_line)
        produced = sorted(p.name for p in out_dir.iterdir() if p.is_file())
        failure = verification_failure(verify_wheels(produced, target), target)
        if failure:
            raise BuildError(failure)
        return produced


def build_targets(
    targets: Sequence[Target],
    *,
    options: BuildOptions,
    engine: BuildEngine,
    reporter: BuildReporter,
) -> tuple[TargetResult, ...]:
    """Build ``targets`` (dependencies before dependents); one result per target, in their order.

    Raises BuildError for a broken target list (unknown dependency, cycle), DockerError when the
    engine cannot build at all, Interrupted on Ctrl-C. A failed target is a result, not an error.
    """
    try:
        return _Run(targets, options, engine, reporter).run()
    except KeyboardInterrupt:  # before or after the builds ran: nothing to stop
        raise Interrupted("interrupted", hint="run the build again to finish") from None
