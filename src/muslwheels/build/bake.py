"""Build planned targets through one ``docker buildx bake``: the plan as a bake definition.

The definition has one bake target per build target, made from the very request ``invoke build``
makes (``build_inputs.build_request``: the same Dockerfile, recipe files, build args and secret ids; a
secret is named by its id and the host file it is read from, never by its value). A dependency's
wheels reach its dependent as the ``deps`` named context ``target:<dependency>``, so buildx orders
and parallelises the graph itself, on whatever nodes the builder has. A target with several
dependencies (direct or transitive) gets a small merge target (``FROM scratch`` and one COPY per
dependency); dependency wheels already in ``wheels/`` come from a local directory instead. One
group per requested tag, and ``default`` with every target.

A target whose build needs the host's network (pip's index on the loopback: ``invoke build`` passes
``--network host --allow network.host``) cannot say so in buildx 0.13's bake definition: the run
adds a compose file (``build.network: host`` per such target) beside the definition, which bake
merges in and which grants the entitlement. Newer buildx also reads the definition's
``entitlements`` key.

Running: every target builds into its own local output directory; the wheels are then verified,
tested and moved into ``wheels/<arch>/`` exactly as ``build.build_targets`` does (``landing``: the
runtime closure, the test step in a clean container of the target's platform, the records; a
failing test fails that target alone). The tests run after the bake, up to ``jobs`` at once, each
target once those it depends on have landed (a dependent's closure takes its dependency's tested
wheel), on the same builder. buildx stops every build of a bake when one fails; the failed target
(and what depends on it) is then reported failed and the others are baked again (their layers come
from BuildKit's cache), so one bad target costs the rest nothing. A target planned ``auto`` (cross,
emulation when that fails) is baked again in emulation in a further round when its cross bake fails
or when its cross-built wheel fails its test, as ``invoke build`` builds it again: nothing of the
cross-built wheel lands, and the targets of that bake that depend on it (built against it) are
baked again with it.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..config.model import Target
from ..engine.interface import BakeEngine, BakeFailed, BakeRequest, BuildRequest, LocalOutput
from ..errors import BuildError, Interrupted, MuslWheelsError, UsageError
from ..outputs import (
    check_output_file,
    check_output_folder,
    output_file_problem,
    write_output_text,
)
from ..plan.graph import transitive_deps
from ..verify.fit import verification_failure, verify_wheels
from ..wheeltest.step import TestFailed, WheelTestStep
from .inputs import (
    BuildOptions,
    RunFiles,
    base_image_line,
    build_request,
    pip_settings,
    stage_workdir,
    write_run_files,
)
from .landing import land_wheels, wheel_test_step
from .lifecycle import Gate, Lifecycle, Phase, cannot_order, gate
from .modes import decide
from .scheduler import (
    BuildReporter,
    TargetResult,
    log_name,
    present,
    require_dockerfile,
    served_platforms,
    unserved_result,
    validate_graph,
)
from .wheelstore import WheelFolders

CacheKind = Literal["registry", "gha", "local"]
CACHE_KINDS: tuple[CacheKind, ...] = ("registry", "gha", "local")

#: The compose file that grants ``network.host`` to the targets that need it (see the docstring).
NETWORK_SUFFIX = ".network.yml"

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_-]")


def bake_name(target: Target) -> str:
    """The bake target name of ``target``: its id with every character bake refuses as ``_``."""
    return _UNSAFE_NAME.sub("_", target.id)


def group_name(tag: str) -> str:
    """The bake group of a requested tag."""
    return "tag-" + _UNSAFE_NAME.sub("_", tag)


def cache_kind(value: str | None) -> CacheKind | None:
    """``--cache``'s value, checked."""
    if value is None or value == "":
        return None
    for kind in CACHE_KINDS:
        if value == kind:
            return kind
    raise UsageError(
        f"--cache {value}: unknown build cache",
        hint="use registry (the wheel repository), gha (GitHub Actions' cache) or local",
    )


@dataclass(frozen=True)
class BakeSettings:
    groups: tuple[tuple[str, tuple[str, ...]], ...] = ()  # requested tag -> its target ids
    cache: CacheKind | None = None
    cache_dir: Path | None = None  # --cache local: where the caches live (one folder a scope)


@dataclass(frozen=True)
class Definition:
    """A rendered bake definition and the compose file that grants the host network (if any)."""

    data: dict[str, Any]
    host_network: tuple[str, ...]  # bake target names that need network.host

    def network_text(self) -> str:
        lines = ["# musl-wheels: the bake targets that need the host's network", "services:"]
        for name in self.host_network:
            lines += [f"  {name}:", "    build:", "      network: host"]
        return "\n".join(lines) + "\n"

    def write(self, path: Path) -> tuple[Path, ...]:
        """Write the definition to ``path`` (and the compose file beside it when needed); the
        files to hand to ``docker buildx bake -f``."""
        text = json.dumps(self.data, indent=2) + "\n"
        write_output_text(path, text, what="the bake definition", flag="--print")
        network = path.with_name(path.name + NETWORK_SUFFIX)
        if not self.host_network:
            if output_file_problem(network) is None:
                network.unlink(missing_ok=True)
            return (path,)
        write_output_text(
            network, self.network_text(), what="the bake network file", flag="--print"
        )
        return (path, network)


# --- the definition (pure) ----------------------------------------------------------------------


def _cache_entries(
    target: Target, kind: CacheKind, cache_dir: Path | None
) -> tuple[list[str], list[str]]:
    """cache-from / cache-to of a target. One cache per module, Python, arch and flavour (not per
    version: a new release reuses the tools and system-package layers of the last one)."""
    scope = _UNSAFE_NAME.sub("_", f"{target.key}-py{target.python}-{target.arch.key}")
    scope += f"-{target.flavour.value}"
    if kind == "registry":
        if not target.repository:
            raise UsageError(
                "--cache registry keeps the build cache in the wheel repository, and none is named",
                hint="pass --repository (or set DOCKER_REPO, or repository in modules.toml), or "
                "use --cache local",
            )
        ref = f"{target.repository}:buildcache-{scope}"
        return [f"type=registry,ref={ref}"], [f"type=registry,ref={ref},mode=max"]
    if kind == "gha":
        return [f"type=gha,scope={scope}"], [f"type=gha,scope={scope},mode=max"]
    folder = (cache_dir or Path(".musl-wheels/buildx-cache")) / scope
    return [f"type=local,src={folder}"], [f"type=local,dest={folder},mode=max"]


def render_definition(
    targets: Sequence[Target],
    requests: Mapping[str, BuildRequest],
    *,
    present_deps: Mapping[str, Path],
    by_id: Mapping[str, Target],
    settings: BakeSettings,
) -> Definition:
    """The bake definition of ``targets`` (dependencies first). Pure.

    ``requests``: target id -> the request ``build_inputs.build_request`` made for it; ``present_deps``:
    target id -> a directory with its dependency wheels that are already in ``wheels/`` (those
    dependencies are not baked); ``by_id``: every planned target.
    """
    baking = {t.id for t in targets}
    names = {t.id: bake_name(t) for t in targets}
    seen: dict[str, str] = {}
    for target_id, name in names.items():
        if name in seen:
            raise BuildError(f"targets {seen[name]} and {target_id} get the same bake name {name}")
        seen[name] = target_id
    entries: dict[str, dict[str, Any]] = {}
    host_network: list[str] = []
    for target in targets:
        request = requests[target.id]
        name = names[target.id]
        contexts = dict(request.build_contexts)
        sources = [
            f"target:{names[dep]}"
            for dep in transitive_deps(target.id, lambda i: by_id[i].depends)
            if dep in baking
        ]
        if target.id in present_deps:
            sources.append(str(present_deps[target.id]))
        if len(sources) == 1:
            contexts["deps"] = sources[0]
        elif sources:
            merge = f"deps-{name}"
            entries[merge] = {
                "context": str(request.context),
                "dockerfile": "Dockerfile",  # what bake names it; the inline text is used
                "dockerfile-inline": "FROM scratch\n"
                + "".join(f"COPY --from=dep{i} / /\n" for i in range(len(sources))),
                "contexts": {f"dep{i}": source for i, source in enumerate(sources)},
                "platforms": [request.platform],
            }
            contexts["deps"] = f"target:{merge}"
        if not isinstance(request.output, LocalOutput):
            raise BuildError(f"{target.tag}: a bake target needs a local output")
        entry: dict[str, Any] = {
            "context": str(request.context),
            "dockerfile": str(request.dockerfile),
            "platforms": [request.platform],
            "args": dict(request.build_args),
            "contexts": contexts,
            "secret": [f"id={sid},src={src}" for sid, src in request.secrets],
            "output": [f"type=local,dest={request.output.dest}"],
        }
        if request.stage:
            entry["target"] = request.stage
        if request.no_cache:
            entry["no-cache"] = True
        if settings.cache is not None:
            entry["cache-from"], entry["cache-to"] = _cache_entries(
                target, settings.cache, settings.cache_dir
            )
        if request.network == "host":
            entry["entitlements"] = ["network.host"]
            host_network.append(name)
        entries[name] = entry
    groups: dict[str, dict[str, list[str]]] = {"default": {"targets": list(names.values())}}
    for tag, ids in settings.groups:
        members = [names[i] for i in ids if i in names]
        if members:
            groups[group_name(tag)] = {"targets": members}
    return Definition({"group": groups, "target": entries}, tuple(host_network))


# --- the run ------------------------------------------------------------------------------------


@dataclass
class _State:
    """A target of the bake: its lifecycle, its bake name and its open log file."""

    life: Lifecycle
    name: str
    log: Any = None  # the open per-target log file

    @property
    def target(self) -> Target:
        return self.life.target


class _Bake:
    def __init__(
        self,
        targets: Sequence[Target],
        options: BuildOptions,
        settings: BakeSettings,
        engine: BakeEngine,
        reporter: BuildReporter,
    ) -> None:
        self.targets = tuple(targets)
        self.by_id = {t.id: t for t in targets}
        self.options = options
        self.settings = settings
        self.engine = engine
        self.reporter = reporter
        self.results: dict[str, TargetResult] = {}
        self.pip = pip_settings(options.index)
        self.fresh = uuid.uuid4().hex if options.force else ""
        self.start = time.monotonic()
        self.test_step: WheelTestStep | None = None  # made with the run's files (run())
        self.report_lock = threading.Lock()

    def deps_of(self, target: Target) -> list[str]:
        return transitive_deps(target.id, lambda i: self.by_id[i].depends)

    def finish(self, result: TargetResult) -> None:
        with self.report_lock:  # the tests after a bake run in threads (install_all)
            self.results[result.target.id] = result
            self.reporter.target_finished(result)

    def run(self) -> tuple[TargetResult, ...]:
        validate_graph(self.targets)
        folders = WheelFolders(self.options.wheels_root)
        pending: list[_State] = []
        for target in self.targets:
            found = () if self.options.force else folders.fitting(target)
            if found:
                self.finish(present(target, found, self.options))
                continue
            life = Lifecycle(target)
            life.start(
                decide(
                    target.recipe,
                    target.arch,
                    run_mode=self.options.mode,
                    default=self.options.default_mode,
                    build_platform=self.options.build_platform,
                )
            )
            if life.phase is Phase.FAILED:
                self.finish(TargetResult(target, "failed", message=life.message))
                continue
            pending.append(_State(life, bake_name(target)))
        pending = self.drop_orphans(pending)
        if not pending:
            return self.ordered()
        require_dockerfile(self.options.docker_dir)
        served, unserved = served_platforms(
            sorted({s.target.platform for s in pending}),
            lambda platforms: self.engine.prepare_bake(
                platforms,
                builder=self.options.builder,
                cache_export=self.settings.cache is not None,
            ),
        )
        if unserved is not None:
            for state in pending:
                if state.target.platform not in served:
                    self.finish(unserved_result(state.target, unserved))
            pending = self.drop_orphans([s for s in pending if s.target.platform in served])
            if not pending:
                return self.ordered()
        self.options.log_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(
            prefix="muslwheels-bake-", dir=self.options.temp_root
        ) as tmp:
            run_dir = Path(tmp)
            run_files = write_run_files(
                self.pip, run_dir / "run", fresh=self.fresh, cargo_config=self.options.cargo_config
            )
            self.test_step = wheel_test_step(self.options, run_files, self.engine.build)
            for state in pending:
                self.reporter.target_started(state.target)
                state.log = (self.options.log_dir / log_name(state.target)).open(
                    "w", encoding="utf-8", errors="replace"
                )
                for note in self.pip.notes:
                    state.log.write(f"muslwheels: note: {note}\n")
            try:
                pending = self.drop_orphans(self.musl_only(pending, run_dir / "probe"))
                with (self.options.log_dir / "bake.log").open(
                    "w", encoding="utf-8", errors="replace"
                ) as bake_log:
                    self.rounds(pending, run_files, run_dir, bake_log)
            finally:
                for state in pending:
                    state.log.close()
        return self.ordered()

    def musl_only(self, pending: list[_State], work: Path) -> list[_State]:
        """Mode auto: cross mode is musl-only, so a target whose base image's probe says glibc
        is baked in emulation from the start (a failed probe fails the target)."""
        kept: list[_State] = []
        for state in pending:
            if state.life.wants_probe and self.test_step is not None:

                def on_line(line: str, state: _State = state) -> None:
                    state.log.write(line + "\n")
                    self.reporter.target_log(state.target, line)

                try:
                    probe = self.test_step.probe(state.target, work / state.name, on_line)
                except MuslWheelsError as err:
                    on_line(f"muslwheels: failed: {err}")
                    state.life.fail(str(err))
                    self.finish(self.result(state, "failed", state.life.message))
                    continue
                line = state.life.plan_line() if state.life.probed(probe.musl) else None
                if line:
                    on_line(line)
            kept.append(state)
        return kept

    def ordered(self) -> tuple[TargetResult, ...]:
        return tuple(self.results[t.id] for t in self.targets)

    def drop_orphans(self, pending: list[_State]) -> list[_State]:
        """Targets whose dependency failed fail too (in plan order: dependencies come first)."""
        kept: list[_State] = []
        for state in pending:
            deps, bad = gate(self.deps_of(state.target), self.failed, wait=False)
            if deps is not Gate.BLOCKED or bad is None:
                kept.append(state)
                continue
            message = state.life.dependency_failed(self.by_id[bad].tag)
            if state.log is not None:
                state.log.write(f"muslwheels: {message}\n")
            self.finish(self.result(state, "failed", message))
        return kept

    def failed(self, target_id: str) -> bool | None:
        """Whether a target failed; None while it has no result."""
        result = self.results.get(target_id)
        return None if result is None else result.status == "failed"

    def result(
        self, state: _State, status: Literal["built", "failed"], message: str, **kw: Any
    ) -> TargetResult:
        log_path = self.options.log_dir / log_name(state.target)
        seconds = time.monotonic() - self.start
        return TargetResult(state.target, status, seconds, log_path=log_path, message=message, **kw)

    def rounds(
        self, pending: list[_State], run_files: RunFiles, run_dir: Path, bake_log: Any
    ) -> None:
        number = 0
        while pending:
            number += 1
            failed, again = self.one_round(pending, run_files, run_dir / f"round{number}", bake_log)
            if not failed:  # every target landed or failed, but those to bake again
                pending = self.drop_orphans(again)
                continue
            still: list[_State] = []
            for state in pending:
                reason = failed.get(state.name)
                if reason is None:
                    still.append(state)
                    continue
                state.log.write(f"muslwheels: failed: {reason}\n")
                fallback = state.life.build_failed(reason)
                if fallback is not None:
                    state.log.write(fallback.line("baking again") + "\n")
                    still.append(state)
                else:
                    self.finish(self.result(state, "failed", state.life.message))
            pending = self.drop_orphans(still)

    def one_round(
        self, pending: list[_State], run_files: RunFiles, work: Path, bake_log: Any
    ) -> tuple[dict[str, str], list[_State]]:
        """Bake ``pending`` once. When the bake failed: bake name -> reason for the targets that
        failed (and nothing installed). When it succeeded (no reasons): every target is verified
        and installed, or failed, but the targets to bake again (``install_all``)."""
        baking = {s.target.id for s in pending}
        requests: dict[str, BuildRequest] = {}
        by_target: dict[str, BuildRequest] = {}
        present: dict[str, Path] = {}
        for state in pending:
            target = state.target
            workdir = work / state.name
            wheels = [
                self.options.wheels_root / self.results[d].target.wheel_dir / name
                for d in self.deps_of(target)
                if d not in baking
                for name in self.results[d].wheels
            ]
            stage_workdir(target, workdir, wheels)
            if wheels:
                present[target.id] = workdir / "deps"
            request = build_request(
                target,
                options=self.options,
                run_files=run_files,
                workdir=workdir,
                mode=state.life.mode,
            )
            requests[state.name] = by_target[target.id] = request
            for wheel in wheels:
                state.log.write(f"muslwheels: offering dependency wheel {wheel.name}\n")
        definition = render_definition(
            [s.target for s in pending],
            by_target,
            present_deps=present,
            by_id=self.by_id,
            settings=self.settings,
        )
        files = definition.write(work / "musl-wheels.bake.json")
        states = {s.name: s for s in pending}
        for state in pending:
            state.log.write(
                f"muslwheels: bake target {state.name} ({state.target.platform}, "
                f"mode {state.life.mode.value}) in {files[0]}\n"
                f"muslwheels: {base_image_line(state.target)}\n"
            )
            state.log.flush()

        def on_line(name: str | None, line: str) -> None:
            bake_log.write(line + "\n")
            owner = states.get(name.removeprefix("deps-")) if name else None
            if owner is not None:
                owner.log.write(line + "\n")
                self.reporter.target_log(owner.target, line)

        try:
            self.engine.bake(
                BakeRequest(
                    tuple(files), tuple(s.name for s in pending), requests, self.options.builder
                ),
                on_line,
            )
        except BakeFailed as err:
            bake_log.flush()
            reasons = {
                (k.removeprefix("deps-") if k.removeprefix("deps-") in states else k): v
                for k, v in err.reasons.items()
            }
            reasons = {k: v for k, v in reasons.items() if k in states}
            if not reasons:  # nothing to blame: every target failed the same way
                reasons = {name: str(err) for name in states}
            return reasons, []
        except KeyboardInterrupt:
            self.engine.cancel()
            raise Interrupted(
                "interrupted: the bake was stopped",
                hint="wheels/ holds only complete wheels; run the bake again to finish",
            ) from None
        return {}, self.install_all(pending, by_target)

    def install_all(
        self, pending: Sequence[_State], by_target: Mapping[str, BuildRequest]
    ) -> list[_State]:
        """Verify, test and land every baked target, up to ``jobs`` at once, each once the targets
        of this bake it depends on have landed (or failed). The targets to bake again (plan order):
        those planned auto whose cross-built wheel failed its test, in emulation, and the targets
        of this bake that depend on one of them (built against that wheel), as they were."""
        jobs = max(1, self.options.jobs)
        baked = {s.target.id for s in pending}
        waiting = list(pending)  # plan order: dependencies first
        running: dict[Future[bool], _State] = {}
        again: set[str] = set()
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="muslwheels-test") as pool:
            try:
                while waiting or running:
                    for state in list(waiting):
                        if len(running) >= jobs:
                            break
                        deps = self.deps_of(state.target)
                        rebaked = next((d for d in deps if d in again), None)
                        if rebaked is not None:
                            waiting.remove(state)
                            again.add(state.target.id)
                            state.log.write(
                                f"muslwheels: baking again with dependency "
                                f"{self.by_id[rebaked].tag}, which is baked again\n"
                            )
                            continue
                        if any(d in baked and d not in self.results for d in deps):
                            continue
                        waiting.remove(state)
                        request = by_target[state.target.id]
                        running[pool.submit(self.install, state, request)] = state
                    if not running:
                        if not waiting:
                            break
                        raise cannot_order(s.target.id for s in waiting)
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        state = running.pop(future)
                        if not future.result():
                            again.add(state.target.id)
            except KeyboardInterrupt:
                self.engine.cancel()
                raise
        return [s for s in pending if s.target.id in again]

    def install(self, state: _State, request: BuildRequest) -> bool:
        """Verify, test and land one baked target (or fail it): True; False when it is to be
        baked again in emulation (mode auto: its cross-built wheel failed its test)."""
        target, life = state.target, state.life
        deps, bad = gate(self.deps_of(target), self.failed, wait=False)
        if deps is Gate.BLOCKED and bad is not None:  # built against a wheel that did not pass
            self.finish(self.result(state, "failed", life.dependency_failed(self.by_id[bad].tag)))
            return True
        life.built()
        assert isinstance(request.output, LocalOutput)
        out = request.output.dest
        produced = sorted(p.name for p in out.iterdir() if p.is_file()) if out.is_dir() else []
        failure = verification_failure(verify_wheels(produced, target), target)
        if failure:
            state.log.write(f"muslwheels: failed: {failure}\n")
            life.fail(failure)
            self.finish(self.result(state, "failed", failure))
            return True
        life.testing()

        def on_line(line: str) -> None:
            state.log.write(line + "\n")
            state.log.flush()
            with self.report_lock:
                self.reporter.target_log(target, line)

        try:
            landed = land_wheels(
                target,
                [out / n for n in produced],
                options=self.options,
                step=self.test_step,
                workdir=out.parent,
                on_line=on_line,
                label=life.label,
            )
        except TestFailed as err:
            fallback = life.test_failed(err)
            if fallback is not None:
                # auto: a cross-built wheel that fails its test counts as a failed cross build
                on_line(fallback.line("baking again"))
                return False
            on_line(f"muslwheels: failed: {err}")
            self.finish(self.result(state, "failed", life.message))
            return True
        except MuslWheelsError as err:
            life.fail(str(err))
            on_line(f"muslwheels: failed: {err}")
            self.finish(self.result(state, "failed", life.message))
            return True
        life.landed()
        self.finish(
            self.result(
                state,
                "built",
                landed.message(life.summary_label),
                wheels=landed.wheels,
                mode=life.label,
                tested=landed.tested,
                runtime_packages=landed.runtime_packages,
            )
        )
        return True


def bake_targets(
    targets: Sequence[Target],
    *,
    options: BuildOptions,
    settings: BakeSettings,
    engine: BakeEngine,
    reporter: BuildReporter,
) -> tuple[TargetResult, ...]:
    """Bake ``targets`` (dependencies before dependents) into ``wheels/<arch>/``: one result per
    target, in their order, as ``build.build_targets`` gives them.

    Raises BuildError for a broken target list, DockerError when the builder cannot build them,
    Interrupted on Ctrl-C. A failed target is a result, not an error.
    """
    try:
        return _Bake(targets, options, settings, engine, reporter).run()
    except KeyboardInterrupt:
        raise Interrupted("interrupted", hint="run the bake again to finish") from None


def print_definition(
    targets: Sequence[Target],
    dest: Path,
    *,
    options: BuildOptions,
    settings: BakeSettings,
) -> tuple[Path, ...]:
    """Write the bake definition of ``targets`` to ``dest`` without building anything, with the
    files it names in ``<dest>.files/`` (each target's recipe/, deps/ and out/, and the pip
    configuration, mode 0600, that the ``pipconf`` secret reads). Every target is in it, whatever
    ``wheels/`` holds. The files to pass to ``docker buildx bake -f``."""
    pip = pip_settings(options.index)
    support = dest.with_name(dest.name + ".files")
    check_output_file(dest, what="the bake definition", flag="--print")
    check_output_folder(support, what="the bake definition's files", flag="--print")
    try:
        if support.exists():
            shutil.rmtree(support)
        support.mkdir(mode=0o700, parents=True)
    except OSError as err:
        raise UsageError(
            f"cannot write the bake definition's files to {support}: {err.strerror or err}",
            hint="pass --print with a new name in a folder you can write",
        ) from None
    run_files = write_run_files(
        pip,
        support / "run",
        fresh=uuid.uuid4().hex if options.force else "",
        cargo_config=options.cargo_config,
    )
    by_id = {t.id: t for t in targets}
    validate_graph(targets)
    requests: dict[str, BuildRequest] = {}
    for target in targets:
        decision = decide(
            target.recipe,
            target.arch,
            run_mode=options.mode,
            default=options.default_mode,
            build_platform=options.build_platform,
        )
        if decision.error:
            raise BuildError(f"{target.tag}: {decision.error}")
        workdir = support / bake_name(target)
        stage_workdir(target, workdir, ())
        requests[target.id] = build_request(
            target,
            options=options,
            run_files=run_files,
            workdir=workdir,
            mode=decision.strategy.first_mode,
        )
    definition = render_definition(
        targets, requests, present_deps={}, by_id=by_id, settings=settings
    )
    return definition.write(dest)
