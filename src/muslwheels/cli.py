"""What each invoke task does, end to end: load config, plan, call one library function, report.

``tasks.py`` only declares the tasks and their flags and calls these functions; this module wires
the real clients (package index, registry, Docker) to the pure layers and turns every
``MuslWheelsError`` into one message and an exit code (never a traceback).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .build.bake import BakeSettings, bake_targets, cache_kind, print_definition
from .build.inputs import BuildOptions, WheelTestSettings
from .build.modes import build_arch
from .build.scheduler import TargetResult, build_targets
from .config.model import NO_REPOSITORY, NO_REPOSITORY_HINT, Config, RememberedProjects, Target
from .config.modules import load_config
from .console import ResultLike, Ui
from .engine.docker import DockerEngine, bake_command_line
from .errors import ExitCode, MuslWheelsError, RegistryError, TagError, UsageError
from .options import Flags, PushMode, RunOptions, make_run_options, process_environment
from .outputs import check_output_file, check_output_folder, write_output_text
from .plan.planner import Plan, PlanOptions, make_plan, with_extras
from .plan.savedplan import discard_plan, load_plan, save_plan, target_to_dict
from .plan.tags import TagRequest, index_names, parse_tags
from .publish.check import check_targets, row_to_dict
from .publish.extract import ExtractJob, ExtractOptions, extract_targets, targets_for_platforms
from .publish.images import (
    PushOptions,
    ReuseOptions,
    ReuseReport,
    push_targets,
    reuse_published,
)
from .publish.staticindex import IndexReport, build_index
from .publish.workflow import DEFAULT_DEST, is_ours, matrix_lines, render_workflow
from .sources.cache import JsonCache, cache_dir_from, describe_age
from .sources.net import Deadlines
from .sources.packageindex import IndexSdists, PackageIndex
from .sources.pipconfig import IndexSettings, discover_index_settings
from .sources.pipdownload import PipIndexWheels
from .sources.registry import RegistryClient, WheelRegistry, docker_config_path
from .wheeltest.records import closure_fields, target_record

PLAN_FILE = Path(".musl-wheels") / "plan.json"


@dataclass
class Workspace:
    """Where a run happens: the project folder, its modules.toml, wheels/ and the saved plan."""

    root: Path
    config_path: Path
    ui: Ui = field(default_factory=Ui)

    @property
    def wheels(self) -> Path:
        return self.root / "wheels"

    @property
    def plan_path(self) -> Path:
        return self.root / PLAN_FILE

    @property
    def log_dir(self) -> Path:
        return self.root / ".musl-wheels" / "logs"


def guarded(ui: Ui, action: Callable[[], int]) -> int:
    """Run a task body: user mistakes and faults become one message and their exit code."""
    try:
        return action()
    except BrokenPipeError:
        # the reader went away (`invoke plan --json | head -1`): a normal end; stdout now goes
        # nowhere, so the interpreter's last flush does not fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 0
    except MuslWheelsError as err:
        ui.error(err)
        return int(err.exit_code)
    except KeyboardInterrupt:
        ui.error(UsageError("interrupted; wheels/ holds only complete, verified wheels"))
        return int(ExitCode.INTERRUPTED)


def run(ws: Workspace, command: Callable[..., int], flags: Flags, **keywords: object) -> int:
    """Run one command: the run description made once from the task's flags and this process's
    environment, then ``command(ws, options, **keywords)``, errors as in :func:`guarded`."""
    return guarded(
        ws.ui, lambda: command(ws, make_run_options(process_environment(), flags), **keywords)
    )


# -- planning ----------------------------------------------------------------------------------


class Sources:
    """The configuration and the two outside sources, opened once per run."""

    def __init__(self, ws: Workspace, options: RunOptions) -> None:
        self.ws = ws
        self.options = options
        self.config: Config = load_config(ws.config_path)
        self.cache = JsonCache(
            cache_dir_from(options.env, Path.home()),
            refresh=options.refresh,
            offline=options.offline,
        )
        self._settings: IndexSettings | None = None
        self._index: PackageIndex | None = None
        self._projects: RememberedProjects | None = None
        self.deadlines = _deadlines(options)  # the index and the base-image registry share it
        self.images = RegistryClient(
            cache=self.cache, docker_config_file=_docker_config(options), deadlines=self.deadlines
        )

    @property
    def settings(self) -> IndexSettings:
        if self._settings is None:
            # pip's answer is kept beside the index answers while its files are unchanged
            self._settings = discover_index_settings(
                env=self.options.env, cache_dir=self.cache.root, refresh=self.options.refresh
            )
        return self._settings

    @property
    def index(self) -> PackageIndex:
        if self._index is None:
            self._index = PackageIndex(self.settings, cache=self.cache, deadlines=self.deadlines)
        return self._index

    @property
    def projects(self) -> RememberedProjects:
        """The index's answers, remembered for the run (the tag parser and planner share them)."""
        if self._projects is None:
            self._projects = RememberedProjects(self.index)
        return self._projects

    def plan(self, tags: Sequence[str]) -> Plan:
        # every project the tags (and their dependencies) may need, asked about at once
        self.index.prefetch(index_names(tags, modules=self.config))
        return self.plan_requests(parse_tags(tags, modules=self.config, index=self.projects))

    def plan_requests(self, requests: Sequence[TagRequest]) -> Plan:
        return make_plan(
            requests,
            config=self.config,
            projects=self.projects,
            images=self.images,
            options=PlanOptions(
                flavour=self.options.flavour,
                base_image=self.options.base_image,
                repository=self.options.repository,
            ),
        )

    def age_notes(self) -> list[str]:
        notes: list[str] = []
        now = self.cache.clock()
        if self._index is not None:
            notes.extend(self._index.notes)
            oldest = self._index.oldest_fetched_at
            if self._index.any_cached and oldest is not None:
                notes.append(f"versions from the index, cached {describe_age(now - oldest)}")
        notes.extend(self.images.notes)
        return notes


def _docker_config(options: RunOptions) -> Path:
    """Docker's CLI configuration (``docker login`` credentials) for this run."""
    return docker_config_path(options.env, Path.home())


def _deadlines(options: RunOptions) -> Deadlines:
    """How long the network may keep this run waiting (--timeout, MUSLWHEELS_TIMEOUT)."""
    return Deadlines(request=options.request_timeout, budget=options.network_budget)


def plan_inputs(ws: Workspace, tags: Sequence[str], options: RunOptions) -> dict[str, object]:
    """What a saved plan depends on: a later phase reuses it only when all of this is equal."""
    try:
        config_digest = hashlib.sha256(ws.config_path.read_bytes()).hexdigest()
    except OSError:
        config_digest = "missing"
    return {
        "tags": list(tags),
        "flavour": options.flavour.value,
        "base_image": options.base_image,
        "repository": options.repository,
        "config": config_digest,
    }


def plan_for_run(ws: Workspace, options: RunOptions) -> tuple[Plan, Sources]:
    """The plan saved by ``post-checkout`` for these exact inputs, else a fresh one."""
    tags = options.require_tags()
    sources = Sources(ws, options)
    inputs = plan_inputs(ws, tags, options)
    saved = load_plan(ws.plan_path, inputs)
    if saved is not None and not options.refresh:
        targets, requested = saved
        return Plan(targets, requested, (f"using the plan saved in {ws.plan_path}",)), sources
    return sources.plan(tags), sources


def cmd_plan(ws: Workspace, options: RunOptions, *, as_json: bool) -> int:
    sources = Sources(ws, options)
    plan = sources.plan(options.require_tags())
    # the extra dependency targets the closures recorded beside tested wheels name
    recorded = {t.id: target_record(t, ws.wheels) for t in plan.targets}
    plan = with_extras(plan, {i: r.extras for i, r in recorded.items() if r is not None})
    if as_json:
        for line in plan_objects(plan, ws.wheels):
            ws.ui.data(line)
    else:
        ws.ui.plan_table(plan.targets, plan.requested, dict(plan.extra_for))
    ws.ui.notes([*plan.notes, *sources.age_notes()])
    return 0


def plan_objects(plan: Plan, wheels_root: Path | None = None) -> list[dict[str, object]]:
    """What ``invoke plan --json`` prints: one object per target; with ``wheels_root``, each
    target's runtime closure as recorded beside its tested wheel there (null before)."""
    extra_for = dict(plan.extra_for)
    return [
        {
            **target_to_dict(t),
            "requested": t.id in plan.requested,
            "extra_for": extra_for.get(t.id),
            **(closure_fields(t, wheels_root) if wheels_root is not None else {}),
        }
        for t in plan.targets
    ]


def cmd_post_checkout(ws: Workspace, options: RunOptions) -> int:
    discard_plan(ws.plan_path)  # first: a failure below must not leave an older plan standing
    tags = options.require_tags()
    sources = Sources(ws, options)
    plan = sources.plan(tags)
    save_plan(ws.plan_path, plan_inputs(ws, tags, options), plan.targets, plan.requested)
    ws.ui.notes([*plan.notes, *sources.age_notes()])
    ws.ui.info(f"planned {len(plan.targets)} target(s); plan saved to {ws.plan_path}")
    for target in plan.targets:
        ws.ui.info(f"  {target.tag} ({target.flavour.value}, {target.platform})")
    return 0


# -- building ----------------------------------------------------------------------------------


def _build_options(ws: Workspace, sources: Sources, options: RunOptions) -> BuildOptions:
    return BuildOptions(
        wheels_root=ws.wheels,
        log_dir=ws.log_dir,
        index=sources.settings,
        jobs=options.jobs,
        force=options.force,
        dry_run=options.dry_run,
        builder=options.builder,
        no_cache=options.no_cache,
        mode=options.mode,
        default_mode=sources.config.defaults.mode,
        build_platform=_build_platform(options.builder),
        cargo_config=options.cargo_config,
        tests=WheelTestSettings(
            modules=tuple(m.name for m in sources.config.modules),
            index=PipIndexWheels(sources.settings, env=options.env),
            run_tests=options.test,
            sdists=IndexSdists(sources.projects),
        ),
    )


def _build_platform(builder: str | None) -> str | None:
    """The platform builds run natively on: this machine's, for the default (local) builder; not
    known for a builder named with --builder (then every target counts as foreign)."""
    if builder:
        return None
    arch = build_arch(platform.machine())
    return arch.platform if arch else None


def _run_builds(
    ws: Workspace,
    targets: Sequence[Target],
    build_options: BuildOptions,
    *,
    engine: DockerEngine,
    reused: ReuseReport | None = None,
    bake: BakeSettings | None = None,
) -> tuple[TargetResult, ...]:
    """Build (with ``bake``: bake) ``targets``, showing the progress and the summary."""
    # a target reused from a published image is "skipped" by the build: say where it came from
    instead = {r.target.id: r for r in (reused.results if reused else ())}
    with ws.ui.build_reporter(len(targets), instead) as reporter:
        if bake is None:
            results = build_targets(
                targets, options=build_options, engine=engine, reporter=reporter
            )
        else:
            results = bake_targets(
                targets, options=build_options, settings=bake, engine=engine, reporter=reporter
            )
    shown: list[ResultLike] = [instead.get(r.target.id, r) for r in results]
    if build_options.dry_run:
        for r in shown:
            if r.status == "would-build":
                ws.ui.lines(r.message)
    ws.ui.summary(shown)
    failed = [r for r in results if r.status == "failed"]
    logs = {str(r.log_path) for r in failed if r.log_path is not None}
    if logs:
        ws.ui.info("full logs: " + ", ".join(sorted(logs)))
    return results


def _exit_for(results: Sequence[TargetResult]) -> int:
    """0, or the exit code the failed targets call for: 5 when the builder could not build one
    (a platform it has no node for), else 6."""
    return min((int(r.exit_code) for r in results if r.status == "failed"), default=0)


def _without_repository(plan: Plan) -> list[str]:
    """The one note of a run whose targets have no wheel repository: no registry is asked."""
    if all(t.repository is not None for t in plan.targets):
        return []
    return [
        f"{NO_REPOSITORY}: published wheels are not reused and nothing is pushed "
        f"({NO_REPOSITORY_HINT})"
    ]


def cmd_build(ws: Workspace, options: RunOptions, *, with_index: bool = False) -> int:
    """Published wheels reused, the rest built; with --push / DO_PUSH, the images pushed too;
    with --index, the index in wheels/ refreshed."""
    plan, sources = plan_for_run(ws, options)
    ws.ui.notes([*plan.notes, *sources.age_notes(), *_without_repository(plan)])
    engine = DockerEngine(docker_host=options.docker_host)
    reused = _reuse(ws, plan.targets, plan.requested, options, engine)
    results = _run_builds(
        ws,
        plan.targets,
        _build_options(ws, sources, options),
        engine=engine,
        reused=reused,
    )
    return _after_build(ws, plan, results, options, engine, with_index=with_index)


def _after_build(
    ws: Workspace,
    plan: Plan,
    results: Sequence[TargetResult],
    options: RunOptions,
    engine: DockerEngine,
    *,
    with_index: bool,
) -> int:
    """After a build or bake: the index refreshed (--index), what did not fail pushed (--push /
    DO_PUSH); the exit code."""
    code = _exit_for(results)
    if with_index:
        refresh_index(ws, ws.wheels, dry_run=options.dry_run)
    if options.push is not PushMode.OFF and not _without_repository(plan):
        ok = {r.target.id for r in results if r.status != "failed"}
        error = _push(
            ws,
            [t for t in plan.targets if t.id in ok],
            [i for i in plan.requested if i in ok],
            options,
            engine,
            dry_run=options.push is PushMode.DRY,
        )
        if error is not None:
            if code:
                ws.ui.error(error)
                return code
            raise error
    return code


def cmd_pre_build(ws: Workspace, options: RunOptions) -> int:
    """Emulation ready for every planned platform, and the dependency wheels in wheels/."""
    plan, sources = plan_for_run(ws, options)
    ws.ui.notes([*plan.notes, *sources.age_notes(), *_without_repository(plan)])
    platforms = sorted({t.platform for t in plan.targets})
    # one engine: what prepare checked, the builds do not check again
    engine = DockerEngine(docker_host=options.docker_host)
    if not options.dry_run:
        engine.prepare(platforms, builder=options.builder)
        ws.ui.info(f"emulation ready for {', '.join(platforms)}")
    requested = set(plan.requested)
    deps = [t for t in plan.targets if t.id not in requested]
    if not deps:
        ws.ui.info("no dependency wheels needed")
        return 0
    reused = _reuse(ws, deps, (), options, engine)
    return _exit_for(
        _run_builds(
            ws,
            deps,
            _build_options(ws, sources, options),
            engine=engine,
            reused=reused,
        )
    )


def cmd_bake(
    ws: Workspace,
    options: RunOptions,
    *,
    print_path: str | None = None,
    cache: str | None = None,
    with_index: bool = False,
) -> int:
    """The plan as one ``docker buildx bake`` definition: written with ``--print FILE`` (or
    ``--dry-run``), else baked on the builder and the wheels verified and installed as ``build``
    does (published wheels reused the same way; ``--push`` and ``--index`` as with ``build``)."""
    kind = cache_kind(cache)
    if print_path is not None:  # before any question to the network
        check_output_file(Path(print_path).absolute(), what="the bake definition", flag="--print")
    tags = options.require_tags()
    sources = Sources(ws, options)
    plan = sources.plan(tags)
    ws.ui.notes([*plan.notes, *sources.age_notes(), *_without_repository(plan)])
    groups = tuple(
        (
            tag,
            sources.plan_requests(
                parse_tags([tag], modules=sources.config, index=sources.projects)
            ).requested,
        )
        for tag in tags
    )
    settings = BakeSettings(groups, kind, ws.root / ".musl-wheels" / "buildx-cache")
    build_options = _build_options(ws, sources, options)
    if print_path is not None or options.dry_run:
        dest = Path(print_path) if print_path else ws.root / ".musl-wheels" / "bake.json"
        files = print_definition(
            plan.targets, dest.absolute(), options=build_options, settings=settings
        )
        ws.ui.info(f"wrote the bake definition of {len(plan.targets)} target(s) to {files[0]}")
        command = bake_command_line(files, [], builder=options.builder)
        ws.ui.info("build it with: " + shlex.join(command))
        return 0
    engine = DockerEngine(docker_host=options.docker_host)
    reused = _reuse(ws, plan.targets, plan.requested, options, engine)
    results = _run_builds(
        ws, plan.targets, build_options, engine=engine, reused=reused, bake=settings
    )
    return _after_build(ws, plan, results, options, engine, with_index=with_index)


def cmd_ci(
    ws: Workspace,
    *,
    github: bool,
    dest: str | None = None,
    force: bool = False,
    matrix: str | None = None,
) -> int:
    """``--github``: write the GitHub Actions workflow (only over a file it wrote itself, unless
    ``--force``). ``--matrix PLAN``: the build matrix of ``invoke plan --json``'s output, as the
    workflow's plan job hands it on."""
    if matrix is not None:
        path = Path(matrix)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise UsageError(f"cannot read the plan {path}: {err.strerror}") from None
        try:
            lines = matrix_lines(text.splitlines())
        except (ValueError, KeyError, TypeError) as err:
            raise UsageError(
                f"{path} is not the output of `invoke plan --json`: {err}",
                hint="write it with: invoke plan --json --tag ... > FILE",
            ) from None
        for line in lines:
            ws.ui.lines(line)
        return 0
    if not github:
        raise UsageError(
            "name the CI to write a workflow for", hint="invoke ci --github (GitHub Actions)"
        )
    target = Path(dest) if dest else ws.root / DEFAULT_DEST
    if not target.is_absolute():
        target = ws.root / target
    if target.is_dir():
        raise UsageError(
            f"{target} is a directory, not a workflow file",
            hint="pass --dest with the file to write, e.g. .github/workflows/musl-wheels.yml",
        )
    check_output_file(target, what="the workflow", flag="--dest")
    if target.exists() and not force:
        try:
            existing = target.read_text(encoding="utf-8", errors="replace")
        except OSError as err:
            raise UsageError(f"cannot read {target}: {err.strerror}") from None
        if not is_ours(existing):
            raise UsageError(
                f"{target} exists and was not written by invoke ci: not overwriting it",
                hint="pass --force to replace it, or --dest to write the workflow elsewhere",
            )
    write_output_text(target, render_workflow(), what="the workflow", flag="--dest")
    ws.ui.info(f"wrote {target}")
    return 0


# -- the registry ------------------------------------------------------------------------------


def _wheel_registry(options: RunOptions) -> WheelRegistry:
    return WheelRegistry(
        RegistryClient(docker_config_file=_docker_config(options), deadlines=_deadlines(options))
    )


def _reuse(
    ws: Workspace,
    targets: Sequence[Target],
    requested: Sequence[str],
    options: RunOptions,
    engine: DockerEngine,
) -> ReuseReport:
    """Published wheels (local images, then the registry) for what is not in wheels/ yet;
    nothing with --force, which builds everything anew."""
    published = [t for t in targets if t.repository is not None]
    if options.force or not published:
        return ReuseReport(())
    report = reuse_published(
        published,
        [i for i in requested if any(t.id == i for t in published)],
        options=ReuseOptions(
            wheels_root=ws.wheels,
            self_pull=options.self_pull,
            force_pull=options.force_pull,
            dry_run=options.dry_run,
            builder=options.builder,
        ),
        engine=engine,
        registry=_wheel_registry(options),
    )
    ws.ui.notes(report.notes)
    return report


def _push(
    ws: Workspace,
    targets: Sequence[Target],
    requested: Sequence[str],
    options: RunOptions,
    engine: DockerEngine,
    *,
    dry_run: bool,
) -> RegistryError | None:
    """Push the images and make the multi-arch tags; print what happened; the error that sums
    up what failed (None when nothing did). The pushes' own output goes to logs/push.log."""
    ws.log_dir.mkdir(parents=True, exist_ok=True)
    log_path = ws.log_dir / "push.log"
    with log_path.open("w", encoding="utf-8", errors="replace") as log:

        def on_line(text: str) -> None:
            log.write(text.rstrip("\r\n") + "\n")
            log.flush()

        report = push_targets(
            targets,
            requested,
            options=PushOptions(
                wheels_root=ws.wheels,
                dry_run=dry_run,
                builder=options.builder,
                revision=options.revision,
                attest=options.attest,
            ),
            engine=engine,
            registry=_wheel_registry(options),
            on_line=on_line,
        )
    if dry_run:
        for r in report.results:
            if r.status == "would-push":
                ws.ui.lines(r.message)
        for m in report.manifests:
            if m.status == "would-create":
                ws.ui.lines(m.message)
    ws.ui.notes(report.notes)
    ws.ui.summary(report.results, title="push")
    ws.ui.manifest_lists(report.manifests)
    error = report.failure()
    if error is not None:
        ws.ui.info(f"full log: {log_path}")
    return error


def cmd_push(ws: Workspace, options: RunOptions, *, with_index: bool = False) -> int:
    """Push the wheel images of the plan (NO_PUSH / --dry-run: print what would be pushed);
    with --index, the index in wheels/ refreshed first."""
    plan, sources = plan_for_run(ws, options)
    if _without_repository(plan):
        raise UsageError(f"{NO_REPOSITORY}: nothing to push to", hint=NO_REPOSITORY_HINT)
    ws.ui.notes([*plan.notes, *sources.age_notes()])
    if with_index:
        refresh_index(ws, ws.wheels, dry_run=options.dry_run)
    error = _push(
        ws,
        plan.targets,
        plan.requested,
        options,
        DockerEngine(docker_host=options.docker_host),
        dry_run=options.push is not PushMode.ON,
    )
    if error is not None:
        raise error
    return 0


def extract_jobs(
    sources: Sources, tags: Sequence[str], registry: WheelRegistry
) -> tuple[list[ExtractJob], list[str]]:
    """What to read for each tag: a tag with an arch reads that per-arch image; one without
    reads every platform its multi-arch tag holds. Also notes."""
    jobs: list[ExtractJob] = []
    notes: list[str] = []
    for tag in tags:
        requests = parse_tags([tag], modules=sources.config, index=sources.projects)
        plan = sources.plan_requests(requests)
        notes.extend(plan.notes)
        wanted = [t for t in plan.targets if t.id in plan.requested]
        if all(r.arch is not None for r in requests):
            jobs.extend(ExtractJob(t, t.image) for t in wanted)
            continue
        for multi in dict.fromkeys(t.multiarch_image for t in wanted):
            template = next(t for t in wanted if t.multiarch_image == multi)
            platforms = registry.platforms(multi)
            if platforms is None:
                raise RegistryError(
                    f"{tag}: the registry has no image {multi}",
                    hint="check the tag and --repository (`invoke check --tag ...` shows what "
                    "is missing); name an arch to read one per-arch image",
                )
            targets, unknown = targets_for_platforms(template, platforms)
            if unknown:
                notes.append(f"{multi} also holds {', '.join(unknown)}: not an arch we build")
            jobs.extend(ExtractJob(t, multi) for t in targets)
    return jobs, notes


def cmd_extract(
    ws: Workspace, options: RunOptions, *, dest: str | Path | None, with_index: bool = False
) -> int:
    """Copy the wheels of the tags' images into <dest>/<arch>/ (no container runs); with --index,
    the index in <dest> refreshed."""
    dest = Path(dest).absolute() if dest else None
    if dest is not None:
        check_output_folder(dest, what="the wheels", flag="--dest")
    tags = options.require_tags()
    sources = Sources(ws, options)
    jobs, notes = extract_jobs(sources, tags, _wheel_registry(options))
    ws.ui.notes([*notes, *sources.age_notes()])
    results = extract_targets(
        jobs,
        ExtractOptions(dest or ws.wheels, options.force_pull, options.builder),
        engine=DockerEngine(docker_host=options.docker_host),
        dry_run=options.dry_run,
    )
    ws.ui.summary(results, title="extract")
    if with_index:
        refresh_index(ws, dest or ws.wheels, dry_run=options.dry_run)
    failed = [r for r in results if r.status == "failed"]
    if failed:
        raise RegistryError(
            f"{len(failed)} of {len(results)} image(s) not extracted; first: {failed[0].message}",
            hint=(failed[0].hint + "; " if failed[0].hint else "")
            + ("the other images were extracted" if len(results) > 1 else "nothing was written"),
        )
    return 0


def check_tags(sources: Sources, tags: Sequence[str]) -> tuple[list[Target], list[str]]:
    """The targets ``check`` compares: those of the tags given, else every configured module
    for every default Python (a module none of them suits is left out, with a note)."""
    if tags:
        plan = sources.plan(tags)
        return [t for t in plan.targets if t.id in plan.requested], list(plan.notes)
    targets: list[Target] = []
    notes: list[str] = []
    for module in sources.config.modules:
        try:
            plan = sources.plan([f"{module.name}-pyall"])
        except TagError as err:
            notes.append(f"{module.name} not checked: {err}")
            continue
        notes.extend(plan.notes)
        targets.extend(t for t in plan.targets if t.id in plan.requested)
    if not targets:
        raise UsageError(
            "nothing to check: no --tag given and no module in modules.toml can be planned",
            hint="pass --tag MODULE[VERSION][-pyX.Y][-ARCH]",
        )
    return targets, notes


def cmd_check(ws: Workspace, options: RunOptions, *, as_json: bool) -> int:
    """Newest releases vs. the registry; exit code PENDING (8) when images are missing."""
    sources = Sources(ws, options)
    targets, notes = check_tags(sources, options.tags)
    report = check_targets(targets, _wheel_registry(options))
    if as_json:
        for row in report.rows:
            ws.ui.data(row_to_dict(row))
    else:
        ws.ui.check_table(report.rows)
    ws.ui.notes([*notes, *sources.age_notes()])
    return int(ExitCode.PENDING) if report.pending else 0


# -- the static index --------------------------------------------------------------------------


def report_index(ws: Workspace, report: IndexReport) -> None:
    """What ``build_index`` did, for people: left-out files, then one line."""
    if report.recovered:
        ws.ui.note("completed the index update an earlier run was interrupted in")
    for problem in report.problems:
        ws.ui.note(f"left out of the index: {problem.path}: {problem.reason}")
    changed = ", ".join(report.changed_projects) or "none"
    ws.ui.info(
        f"index {report.dest / 'simple'}/: {len(report.projects)} project(s), "
        f"{len(report.wheels)} wheel(s); pages rewritten: {changed}"
    )


def cmd_index(ws: Workspace, *, dest: str | Path | None = None, base_url: str | None = None) -> int:
    """The static PEP 503/691 index (with PEP 658 metadata) over wheels/, into DEST."""
    target = Path(dest).absolute() if dest else ws.wheels
    report_index(ws, build_index(ws.wheels, target, base_url=base_url))
    return 0


def refresh_index(ws: Workspace, wheels_root: Path, *, dry_run: bool) -> None:
    """``--index`` of build, extract and push: bring the index inside ``wheels_root`` up to date."""
    if dry_run:
        ws.ui.note(f"index in {wheels_root} not refreshed (dry run)")
        return
    report_index(ws, build_index(wheels_root, wheels_root))
