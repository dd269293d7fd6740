"""musl-wheels tasks. Run `invoke --list` for the list and `invoke --help TASK` for a task's flags.

Each task only parses its flags and calls one function of muslwheels.cli, which does the work.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

sys.path.insert(0, str(Path(__file__).parent / "src"))

from muslwheels import cli
from muslwheels.options import RunOptions, resolve_options

ROOT = Path(__file__).resolve().parent

TAG_HELP = (
    "target tag MODULE[-openssl|-libressl][VERSION][-pyX.Y|-pyall][-ARCH], "
    "e.g. paramiko-py3.12-aarch64; repeat for several (default: $DOCKER_TAG)"
)
COMMON_HELP = {
    "tag": TAG_HELP,
    "config": "modules.toml to use (default: the one beside tasks.py)",
    "no-shared": "no-shared flavour: skip auditwheel, linux_<arch> tags (env NO_SHARED)",
    "base-image": "base image template for this run, e.g. 'python:{python}-alpine{alpine}' (env BASE_IMAGE)",
    "repository": "wheel image repository for this run (env DOCKER_REPO)",
    "refresh": "ask the index and registries again instead of using the cache",
    "offline": "use only cached index and registry answers",
}


def _flag(value: bool) -> bool | None:
    """A flag that was not given leaves the decision to the environment switch."""
    return True if value else None


def _workspace(config: str | None) -> cli.Workspace:
    return cli.Workspace(root=ROOT, config_path=Path(config) if config else ROOT / "modules.toml")


def _finish(code: int) -> None:
    if code:
        raise Exit(code=code)


def _options(
    ws: cli.Workspace,
    *,
    no_shared: bool = False,
    base_image: str | None = None,
    repository: str | None = None,
    refresh: bool = False,
    offline: bool = False,
    **more: object,
) -> RunOptions:
    return resolve_options(
        os.environ,
        no_shared=_flag(no_shared),
        base_image=base_image,
        repository=repository,
        refresh=refresh,
        offline=offline,
        **more,  # type: ignore[arg-type]
    )


@task(
    auto_shortflags=False,
    iterable=["tag"],
    help={**COMMON_HELP, "json": "one JSON object per target on stdout"},
)
def plan(
    c: Context,
    tag: list[str],
    json: bool = False,
    no_shared: bool = False,
    base_image: str | None = None,
    repository: str | None = None,
    config: str | None = None,
    refresh: bool = False,
    offline: bool = False,
) -> None:
    """Resolve tags into build targets and print them (no Docker needed)."""
    ws = _workspace(config)
    _finish(
        cli.guarded(
            ws.ui,
            lambda: cli.cmd_plan(
                ws,
                tag,
                _options(
                    ws,
                    no_shared=no_shared,
                    base_image=base_image,
                    repository=repository,
                    refresh=refresh,
                    offline=offline,
                ),
                as_json=json,
            ),
        )
    )


@task(name="post-checkout", auto_shortflags=False, iterable=["tag"], help=COMMON_HELP)
def post_checkout(
    c: Context,
    tag: list[str],
    no_shared: bool = False,
    base_image: str | None = None,
    repository: str | None = None,
    config: str | None = None,
    refresh: bool = False,
    offline: bool = False,
) -> None:
    """Hook phase 1: resolve the tag(s) and save the plan for the later phases."""
    ws = _workspace(config)
    _finish(
        cli.guarded(
            ws.ui,
            lambda: cli.cmd_post_checkout(
                ws,
                tag,
                _options(
                    ws,
                    no_shared=no_shared,
                    base_image=base_image,
                    repository=repository,
                    refresh=refresh,
                    offline=offline,
                ),
            ),
        )
    )


BUILD_HELP = {
    **COMMON_HELP,
    "jobs": "how many independent targets build at once (default 1)",
    "force": "build even when the target's wheel is already in wheels/",
    "dry-run": "print the docker buildx commands instead of running them (env NOOP, NO_BUILD)",
    "builder": "buildx builder to use (default: the current one; env BUILDX_BUILDER)",
    "no-cache": "ignore BuildKit's layer cache (cache mounts for pip/apk/apt stay)",
}


@task(name="pre-build", auto_shortflags=False, iterable=["tag"], help=BUILD_HELP)
def pre_build(
    c: Context,
    tag: list[str],
    jobs: int = 1,
    force: bool = False,
    dry_run: bool = False,
    builder: str | None = None,
    no_shared: bool = False,
    base_image: str | None = None,
    repository: str | None = None,
    config: str | None = None,
    refresh: bool = False,
    offline: bool = False,
    no_cache: bool = False,
) -> None:
    """Hook phase 2: make emulation work for every planned platform and build missing dependency wheels."""
    ws = _workspace(config)
    _finish(
        cli.guarded(
            ws.ui,
            lambda: cli.cmd_pre_build(
                ws,
                tag,
                _options(
                    ws,
                    no_shared=no_shared,
                    base_image=base_image,
                    repository=repository,
                    refresh=refresh,
                    offline=offline,
                    jobs=jobs,
                    force=force,
                    dry_run=_flag(dry_run),
                    builder=builder,
                ),
            ),
        )
    )


@task(auto_shortflags=False, iterable=["tag"], help=BUILD_HELP)
def build(
    c: Context,
    tag: list[str],
    jobs: int = 1,
    force: bool = False,
    dry_run: bool = False,
    builder: str | None = None,
    no_shared: bool = False,
    base_image: str | None = None,
    repository: str | None = None,
    config: str | None = None,
    refresh: bool = False,
    offline: bool = False,
    no_cache: bool = False,
) -> None:
    """Build the wheels of the tag(s) with docker buildx into wheels/<arch>/ (dependencies first)."""
    ws = _workspace(config)
    _finish(
        cli.guarded(
            ws.ui,
            lambda: cli.cmd_build(
                ws,
                tag,
                _options(
                    ws,
                    no_shared=no_shared,
                    base_image=base_image,
                    repository=repository,
                    refresh=refresh,
                    offline=offline,
                    jobs=jobs,
                    force=force,
                    dry_run=_flag(dry_run),
                    builder=builder,
                ),
                no_cache=no_cache,
            ),
        )
    )
