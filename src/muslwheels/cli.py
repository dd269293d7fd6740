"""What each invoke task does, end to end: load config, plan, call one library function, report.

``tasks.py`` only declares the tasks and their flags and calls these functions; this module wires
the real clients (package index, registry, Docker) to the pure layers and turns every
``MuslWheelsError`` into one message and an exit code (never a traceback).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .build import BuildOptions, TargetResult, build_targets
from .cache import JsonCache, describe_age, user_cache_dir
from .config import load_config
from .console import Ui
from .errors import ExitCode, MuslWheelsError, UsageError
from .index import PackageIndex
from .model import Config, Target
from .options import RunOptions
from .pipconfig import IndexSettings, discover_index_settings
from .plan import Plan, PlanOptions, make_plan
from .registry import RegistryClient
from .state import load_state, save_state, target_to_dict
from .tags import parse_tags

if TYPE_CHECKING:
    from .build import BuildRequest
    from .docker import DockerEngine

STATE_FILE = Path(".musl-wheels") / "plan.json"


@dataclass
class Workspace:
    """Where a run happens: the project folder, its modules.toml, wheels/ and state."""

    root: Path
    config_path: Path
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    ui: Ui = field(default_factory=Ui)

    @property
    def wheels(self) -> Path:
        return self.root / "wheels"

    @property
    def state_path(self) -> Path:
        return self.root / STATE_FILE

    @property
    def log_dir(self) -> Path:
        return self.root / ".musl-wheels" / "logs"


def guarded(ui: Ui, action: Callable[[], int]) -> int:
    """Run a task body: user mistakes and faults become one message and their exit code."""
    try:
        return action()
    except MuslWheelsError as err:
        ui.error(err)
        return int(err.exit_code)
    except KeyboardInterrupt:
        ui.error(UsageError("interrupted; wheels/ holds only complete, verified wheels"))
        return int(ExitCode.INTERRUPTED)


# -- planning ----------------------------------------------------------------------------------


class Resolver:
    """The configuration and the two outside sources, opened once per run."""

    def __init__(self, ws: Workspace, options: RunOptions) -> None:
        self.ws = ws
        self.options = options
        self.config: Config = load_config(ws.config_path)
        self.cache = JsonCache(user_cache_dir(), refresh=options.refresh, offline=options.offline)
        self._settings: IndexSettings | None = None
        self._index: PackageIndex | None = None
        self.images = RegistryClient(cache=self.cache)

    @property
    def settings(self) -> IndexSettings:
        if self._settings is None:
            # pip's answer is kept beside the index answers while its files are unchanged
            self._settings = discover_index_settings(
                cache_dir=self.cache.root, refresh=self.options.refresh
            )
        return self._settings

    @property
    def index(self) -> PackageIndex:
        if self._index is None:
            self._index = PackageIndex(self.settings, cache=self.cache)
        return self._index

    def plan(self, tags: Sequence[str]) -> Plan:
        requests = parse_tags(tags, modules=self.config, index=self.index)
        return make_plan(
            requests,
            config=self.config,
            projects=self.index,
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


def requested_tags(tags: Sequence[str], env: Mapping[str, str]) -> tuple[str, ...]:
    """The tags of a run: --tag values, else DOCKER_TAG (Docker Hub's hooks), comma-separated."""
    found = [t.strip() for t in tags if t.strip()]
    if not found and env.get("DOCKER_TAG"):
        found = [t.strip() for t in env["DOCKER_TAG"].split(",") if t.strip()]
    if not found:
        raise UsageError(
            "no target tag given",
            hint="pass --tag MODULE[VERSION][-pyX.Y][-ARCH], e.g. --tag paramiko-py3.12-aarch64 "
            "(or set DOCKER_TAG)",
        )
    return tuple(dict.fromkeys(found))


def state_inputs(ws: Workspace, tags: Sequence[str], options: RunOptions) -> dict[str, object]:
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


def plan_for_run(ws: Workspace, tags: Sequence[str], options: RunOptions) -> tuple[Plan, Resolver]:
    """The plan saved by ``post-checkout`` for these exact inputs, else a fresh one."""
    resolver = Resolver(ws, options)
    inputs = state_inputs(ws, tags, options)
    saved = load_state(ws.state_path, inputs)
    if saved is not None and not options.refresh:
        targets, requested = saved
        return Plan(targets, requested, (f"using the plan saved in {ws.state_path}",)), resolver
    return resolver.plan(tags), resolver


def cmd_plan(ws: Workspace, tags: Sequence[str], options: RunOptions, *, as_json: bool) -> int:
    tags = requested_tags(tags, ws.env)
    resolver = Resolver(ws, options)
    plan = resolver.plan(tags)
    if as_json:
        for target in plan.targets:
            ws.ui.data({**target_to_dict(target), "requested": target.id in plan.requested})
    else:
        ws.ui.plan_table(plan.targets, plan.requested)
    ws.ui.notes([*plan.notes, *resolver.age_notes()])
    return 0


def cmd_post_checkout(ws: Workspace, tags: Sequence[str], options: RunOptions) -> int:
    tags = requested_tags(tags, ws.env)
    resolver = Resolver(ws, options)
    ws.state_path.unlink(missing_ok=True)  # never leave a stale plan behind a failure
    plan = resolver.plan(tags)
    save_state(ws.state_path, state_inputs(ws, tags, options), plan.targets, plan.requested)
    ws.ui.notes([*plan.notes, *resolver.age_notes()])
    ws.ui.info(f"planned {len(plan.targets)} target(s); plan saved to {ws.state_path}")
    for target in plan.targets:
        ws.ui.info(f"  {target.tag} ({target.flavour.value}, {target.platform})")
    return 0


# -- building ----------------------------------------------------------------------------------


def _build_options(
    ws: Workspace, resolver: Resolver, options: RunOptions, *, no_cache: bool = False
) -> BuildOptions:
    return BuildOptions(
        wheels_root=ws.wheels,
        log_dir=ws.log_dir,
        index=resolver.settings,
        jobs=options.jobs,
        force=options.force,
        dry_run=options.dry_run,
        builder=options.builder,
        no_cache=no_cache,
    )


class LazyDockerEngine:
    """``build.Engine`` that imports and creates the ``DockerEngine`` at its first use: a run with
    nothing to build never loads python-on-whales (and pydantic), a third of the start-up time."""

    def __init__(self) -> None:
        self._engine: DockerEngine | None = None

    @property
    def engine(self) -> DockerEngine:
        if self._engine is None:
            from .docker import DockerEngine

            self._engine = DockerEngine()
        return self._engine

    def prepare(self, platforms: Sequence[str], *, builder: str | None) -> None:
        self.engine.prepare(platforms, builder=builder)

    def build(self, request: BuildRequest, on_line: Callable[[str], None]) -> None:
        self.engine.build(request, on_line)

    def cancel(self) -> None:
        if self._engine is not None:
            self._engine.cancel()


def _run_builds(
    ws: Workspace, targets: Sequence[Target], build_options: BuildOptions
) -> tuple[TargetResult, ...]:
    engine = LazyDockerEngine()
    with ws.ui.build_reporter(len(targets)) as progress:
        results = build_targets(targets, options=build_options, engine=engine, reporter=progress)
    if build_options.dry_run:
        for r in results:
            if r.status == "would-build":
                ws.ui.lines(r.message)
    ws.ui.summary(results)
    failed = [r for r in results if r.status == "failed"]
    logs = {str(r.log_path) for r in failed if r.log_path is not None}
    if logs:
        ws.ui.info("full logs: " + ", ".join(sorted(logs)))
    return results


def _exit_for(results: Sequence[TargetResult]) -> int:
    return int(ExitCode.BUILD) if any(r.status == "failed" for r in results) else 0


def cmd_build(ws: Workspace, tags: Sequence[str], options: RunOptions, *, no_cache: bool) -> int:
    tags = requested_tags(tags, ws.env)
    plan, resolver = plan_for_run(ws, tags, options)
    ws.ui.notes([*plan.notes, *resolver.age_notes()])
    results = _run_builds(
        ws, plan.targets, _build_options(ws, resolver, options, no_cache=no_cache)
    )
    return _exit_for(results)


def cmd_pre_build(ws: Workspace, tags: Sequence[str], options: RunOptions) -> int:
    """Emulation ready for every planned platform, and the dependency wheels in wheels/."""
    tags = requested_tags(tags, ws.env)
    plan, resolver = plan_for_run(ws, tags, options)
    ws.ui.notes([*plan.notes, *resolver.age_notes()])
    platforms = sorted({t.platform for t in plan.targets})
    if not options.dry_run:
        LazyDockerEngine().prepare(platforms, builder=options.builder)
        ws.ui.info(f"emulation ready for {', '.join(platforms)}")
    requested = set(plan.requested)
    deps = [t for t in plan.targets if t.id not in requested]
    if not deps:
        ws.ui.info("no dependency wheels needed")
        return 0
    return _exit_for(_run_builds(ws, deps, _build_options(ws, resolver, options)))
