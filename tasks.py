"""musl-wheels tasks. Run `invoke --list` for the list and `invoke --help TASK` for a task's flags.

Each task only parses its flags and calls one function of muslwheels.cli, which does the work.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit, ParseError
from invoke.parser.context import ParserContext
from invoke.program import Program
from invoke.tasks import task

sys.path.insert(0, str(Path(__file__).parent / "src"))

from muslwheels import cli
from muslwheels.options import Flags

ROOT = Path(__file__).resolve().parent


def _usage_line(context: ParserContext | None) -> str:
    if context is None or not context.name:
        return "usage: invoke TASK [--FLAG ...] (invoke --list shows the tasks)"
    flags = " ".join(
        f"[{name}{' VALUE' if arg.takes_value else ''}]"
        for name, arg in sorted(context.flags.items())
        if name.startswith("--")
    )
    return f"usage: invoke {context.name} {flags} (invoke --help {context.name})"


def _usage_errors(step: Callable[[Program], None]) -> Callable[[Program], None]:
    """A wrong flag or task name is a usage error (README: exit 2) with the task's usage line,
    not invoke's own exit 1."""

    def parse(self: Program) -> None:
        try:
            step(self)
        except ParseError as err:
            raise Exit(f"error: {err}\n  {_usage_line(err.context)}", code=2) from None

    return parse


# Installed when invoke loads this file, before it parses the task part of the command line.
setattr(Program, "parse_tasks", _usage_errors(Program.parse_tasks))  # noqa: B010
setattr(Program, "parse_cleanup", _usage_errors(Program.parse_cleanup))  # noqa: B010

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
    "timeout": "seconds one index/registry request may take, retries included, or SECONDS,BUDGET "
    "with a budget for the whole run (default 30,120; env MUSLWHEELS_TIMEOUT)",
}


def _run(command: Callable[..., int], config: str | None, flags: Flags, **keywords: Any) -> None:
    """Run one cli command: ``flags`` (filled by keyword) become the run description, together
    with the environment; ``keywords`` are the command's own (e.g. ``as_json``)."""
    ws = cli.Workspace(root=ROOT, config_path=Path(config) if config else ROOT / "modules.toml")
    code = cli.run(ws, command, flags, **keywords)
    if code:
        raise Exit(code=code)


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
    timeout: str | None = None,
) -> None:
    """Resolve tags into build targets and print them (no Docker needed)."""
    flags = Flags(
        tags=tag,
        no_shared=no_shared,
        base_image=base_image,
        repository=repository,
        refresh=refresh,
        offline=offline,
        timeout=timeout,
    )
    _run(cli.cmd_plan, config, flags, as_json=json)


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
    timeout: str | None = None,
) -> None:
    """Hook phase 1: resolve the tag(s) and save the plan for the later phases."""
    flags = Flags(
        tags=tag,
        no_shared=no_shared,
        base_image=base_image,
        repository=repository,
        refresh=refresh,
        offline=offline,
        timeout=timeout,
    )
    _run(cli.cmd_post_checkout, config, flags)


INDEX_FLAG_HELP = "then refresh the package index inside the wheels folder (as `invoke index` does)"
BUILDER_HELP = "buildx builder to use (default: the current one; env BUILDX_BUILDER)"
FORCE_PULL_HELP = (
    "read published wheel images from the registry even when a local image exists "
    "(env WHEELS_FORCE_PULL)"
)
PRE_BUILD_HELP = {
    **COMMON_HELP,
    "jobs": "how many independent targets build at once (default 1)",
    "force": "build even when the target's wheel is already in wheels/ or published",
    "dry-run": "print the docker buildx commands instead of running them (env NOOP, NO_BUILD)",
    "builder": BUILDER_HELP,
    "no-cache": "ignore BuildKit's layer cache (cache mounts for pip/apk/apt stay)",
    "force-pull": FORCE_PULL_HELP,
    "no-test": "skip the test of each built wheel; the runtime closure is still gathered "
    "(env NO_TEST)",
}
BUILD_HELP = {
    **PRE_BUILD_HELP,
    "push": "also push the wheel images, per-arch and multi-arch (env DO_PUSH; NO_PUSH or "
    "--dry-run only print what would be pushed)",
    "no-self-pull": "build the requested targets even when their wheels are published "
    "(env NO_SELF_PULL; dependencies are still reused)",
    "mode": "foreign architectures: emulate (QEMU runs the build), cross (a native compiler "
    "targets them), auto (cross, emulate when that fails); default: modules.toml",
    "index": INDEX_FLAG_HELP,
}


@task(name="pre-build", auto_shortflags=False, iterable=["tag"], help=PRE_BUILD_HELP)
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
    timeout: str | None = None,
    no_cache: bool = False,
    force_pull: bool = False,
    no_test: bool = False,
) -> None:
    """Hook phase 2: emulation for every platform; dependency wheels from wheels/, images or built."""
    flags = Flags(
        tags=tag,
        jobs=jobs,
        force=force,
        dry_run=dry_run,
        builder=builder,
        no_shared=no_shared,
        base_image=base_image,
        repository=repository,
        refresh=refresh,
        offline=offline,
        timeout=timeout,
        no_cache=no_cache,
        force_pull=force_pull,
        no_test=no_test,
    )
    _run(cli.cmd_pre_build, config, flags)


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
    timeout: str | None = None,
    no_cache: bool = False,
    push: bool = False,
    no_self_pull: bool = False,
    force_pull: bool = False,
    mode: str | None = None,
    index: bool = False,
    no_test: bool = False,
) -> None:
    """Hook phase 3: build the tag(s) into wheels/<arch>/, reusing published wheels (--push: push)."""
    flags = Flags(
        tags=tag,
        jobs=jobs,
        force=force,
        dry_run=dry_run,
        builder=builder,
        no_shared=no_shared,
        base_image=base_image,
        repository=repository,
        refresh=refresh,
        offline=offline,
        timeout=timeout,
        no_cache=no_cache,
        push=push,
        no_self_pull=no_self_pull,
        force_pull=force_pull,
        mode=mode,
        no_test=no_test,
    )
    _run(cli.cmd_build, config, flags, with_index=index)


PUSH_HELP = {
    **COMMON_HELP,
    "dry-run": "print what would be pushed instead of pushing (env NO_PUSH, NOOP)",
    "builder": BUILDER_HELP,
    "index": INDEX_FLAG_HELP,
}


@task(auto_shortflags=False, iterable=["tag"], help=PUSH_HELP)
def push(
    c: Context,
    tag: list[str],
    dry_run: bool = False,
    builder: str | None = None,
    no_shared: bool = False,
    base_image: str | None = None,
    repository: str | None = None,
    config: str | None = None,
    refresh: bool = False,
    offline: bool = False,
    timeout: str | None = None,
    index: bool = False,
) -> None:
    """Hook phase 4: push the wheel images from wheels/, per-arch tags and the multi-arch tag."""
    flags = Flags(
        tags=tag,
        pushing=True,
        dry_run=dry_run,
        builder=builder,
        no_shared=no_shared,
        base_image=base_image,
        repository=repository,
        refresh=refresh,
        offline=offline,
        timeout=timeout,
    )
    _run(cli.cmd_push, config, flags, with_index=index)


EXTRACT_HELP = {
    **COMMON_HELP,
    "dest": "folder the wheels go to, as DEST/<arch>/ (default: wheels/ beside tasks.py)",
    "force-pull": FORCE_PULL_HELP,
    "dry-run": "print what would be extracted",
    "builder": BUILDER_HELP,
    "index": "then refresh the package index inside DEST (as `invoke index --dest DEST` does)",
}


@task(auto_shortflags=False, iterable=["tag"], help=EXTRACT_HELP)
def extract(
    c: Context,
    tag: list[str],
    dest: str | None = None,
    force_pull: bool = False,
    dry_run: bool = False,
    builder: str | None = None,
    no_shared: bool = False,
    base_image: str | None = None,
    repository: str | None = None,
    config: str | None = None,
    refresh: bool = False,
    offline: bool = False,
    timeout: str | None = None,
    index: bool = False,
) -> None:
    """Copy the wheels of the tag(s)' images into DEST/<arch>/ (no arch in a tag: every arch)."""
    flags = Flags(
        tags=tag,
        force_pull=force_pull,
        dry_run=dry_run,
        builder=builder,
        no_shared=no_shared,
        base_image=base_image,
        repository=repository,
        refresh=refresh,
        offline=offline,
        timeout=timeout,
    )
    _run(cli.cmd_extract, config, flags, dest=dest, with_index=index)


CHECK_HELP = {
    **COMMON_HELP,
    "tag": TAG_HELP + "; none: every module in modules.toml for every default Python",
    "json": "one JSON object per image on stdout",
}


@task(auto_shortflags=False, iterable=["tag"], help=CHECK_HELP)
def check(
    c: Context,
    tag: list[str],
    json: bool = False,
    no_shared: bool = False,
    base_image: str | None = None,
    repository: str | None = None,
    config: str | None = None,
    refresh: bool = False,
    offline: bool = False,
    timeout: str | None = None,
) -> None:
    """List the newest releases whose wheel images the registry lacks (exit 8: work pending)."""
    flags = Flags(
        tags=tag,
        no_shared=no_shared,
        base_image=base_image,
        repository=repository,
        refresh=refresh,
        offline=offline,
        timeout=timeout,
    )
    _run(cli.cmd_check, config, flags, as_json=json)


INDEX_HELP = {
    "dest": "folder the index goes to (default: wheels/ itself, served as it is); the wheels are "
    "linked or copied into DEST/<arch>/ when it is another folder",
    "base-url": "absolute URL DEST is published at, for absolute links (default: relative links, "
    "so the folder works from any host or file:// path)",
}


@task(auto_shortflags=False, help=INDEX_HELP)
def index(c: Context, dest: str | None = None, base_url: str | None = None) -> None:
    """Make wheels/ a static package index: PEP 503 HTML + PEP 691 JSON, hashes, PEP 658 metadata."""
    ws = cli.Workspace(root=ROOT, config_path=ROOT / "modules.toml")
    code = cli.guarded(ws.ui, lambda: cli.cmd_index(ws, dest=dest, base_url=base_url))
    if code:
        raise Exit(code=code)


BAKE_HELP = {
    **BUILD_HELP,
    "jobs": "how many built targets are tested at once after the bake (default 1; buildx itself "
    "runs the builds of the graph in parallel)",
    "print": "write the bake definition to FILE (and the files it names to FILE.files/) and stop",
    "builder": BUILDER_HELP + "; a multi-node, kubernetes or remote builder spreads the targets",
    "cache": "buildx layer cache to read and write: registry (the wheel repository), gha "
    "(GitHub Actions) or local (.musl-wheels/buildx-cache); not with the docker driver",
    "dry-run": "write the definition to .musl-wheels/bake.json instead of baking (env NOOP)",
}


@task(auto_shortflags=False, iterable=["tag"], help=BAKE_HELP)
def bake(
    c: Context,
    tag: list[str],
    print_: str | None = None,
    builder: str | None = None,
    push: bool = False,
    cache: str | None = None,
    jobs: int = 1,
    force: bool = False,
    dry_run: bool = False,
    no_shared: bool = False,
    base_image: str | None = None,
    repository: str | None = None,
    config: str | None = None,
    refresh: bool = False,
    offline: bool = False,
    no_cache: bool = False,
    no_self_pull: bool = False,
    force_pull: bool = False,
    mode: str | None = None,
    index: bool = False,
    timeout: str | None = None,
    no_test: bool = False,
) -> None:
    """The plan as one buildx bake: buildx orders the targets (--print FILE: write it and stop)."""
    flags = Flags(
        tags=tag,
        jobs=jobs,
        force=force,
        dry_run=dry_run,
        builder=builder,
        no_shared=no_shared,
        base_image=base_image,
        repository=repository,
        refresh=refresh,
        offline=offline,
        no_cache=no_cache,
        push=push,
        no_self_pull=no_self_pull,
        force_pull=force_pull,
        mode=mode,
        timeout=timeout,
        no_test=no_test,
    )
    _run(cli.cmd_bake, config, flags, print_path=print_, cache=cache, with_index=index)


CI_HELP = {
    "github": "write a GitHub Actions workflow (replaces the Docker Hub hooks)",
    "dest": "where the workflow goes (default: .github/workflows/musl-wheels.yml)",
    "force": "overwrite a workflow file that invoke ci did not write",
    "matrix": "print the build matrix of PLAN (the output of invoke plan --json) as "
    "GITHUB_OUTPUT lines, as the workflow's plan job does",
}


@task(auto_shortflags=False, help=CI_HELP)
def ci(
    c: Context,
    github: bool = False,
    dest: str | None = None,
    force: bool = False,
    matrix: str | None = None,
) -> None:
    """Write the CI workflow that plans, bakes per arch group, pushes and rebuilds on a schedule."""
    ws = cli.Workspace(root=ROOT, config_path=ROOT / "modules.toml")
    code = cli.guarded(
        ws.ui,
        lambda: cli.cmd_ci(ws, github=github, dest=dest, force=force, matrix=matrix),
    )
    if code:
        raise Exit(code=code)
