"""The tasks, as invoke tasks made from one table: each flag declared once, each task a list of them.

``tasks.py`` (``invoke`` in a checkout) and the ``musl-wheels`` console script (``pip install``,
``pipx install``: any folder with a ``modules.toml``) serve the same tasks, flags and ``--help``;
each task only turns its flags into a call of one function of :mod:`muslwheels.cli`.
``musl-wheels`` is an invoke ``Program`` of its own whose bad flags and task names are usage errors
(README: exit 2), with the task's usage line.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from invoke.collection import Collection
from invoke.exceptions import Exit, ParseError
from invoke.parser.context import ParserContext
from invoke.program import Program
from invoke.tasks import Task

from . import __version__, cli
from .options import Flags

#: A flag without a default: the task's positional argument (``tag``: may be repeated).
REQUIRED = inspect.Parameter.empty


@dataclass(frozen=True)
class Flag:
    """One command-line flag: its Python name (``print_`` is ``--print``), default and help."""

    name: str
    default: Any
    help: str


def _flags(*flags: Flag) -> dict[str, Flag]:
    return {f.name: f for f in flags}


TAG_HELP = (
    "target tag MODULE[-openssl|-libressl][VERSION][-pyX.Y|-pyall][-ARCH], "
    "e.g. paramiko-py3.12-aarch64; repeat for several (default: $DOCKER_TAG)"
)
BUILDER_HELP = "buildx builder to use (default: the current one; env BUILDX_BUILDER)"
INDEX_FLAG_HELP = "then refresh the package index inside the wheels folder (as `invoke index` does)"

#: Every flag of every task, declared once.
FLAGS: Mapping[str, Flag] = _flags(
    Flag("tag", REQUIRED, TAG_HELP),
    Flag("json", False, "one JSON object per target on stdout"),
    Flag("dest", None, "folder the output goes to"),
    Flag("print_", None, "write the bake definition to FILE (and the files it names to "
         "FILE.files/) and stop"),
    Flag("builder", None, BUILDER_HELP),
    Flag("push", False, "also push the wheel images, per-arch and multi-arch (env DO_PUSH; "
         "NO_PUSH or --dry-run only print what would be pushed)"),
    Flag("attest", False, "give the pushed wheel images BuildKit's provenance (mode=max) and "
         "SBOM attestations; needs a builder that supports them (docker-container driver)"),
    Flag("cache", None, "buildx layer cache to read and write: registry (the wheel repository), "
         "gha (GitHub Actions) or local (.musl-wheels/buildx-cache); not with the docker driver"),
    Flag("jobs", 1, "how many independent targets build at once (default 1)"),
    Flag("force", False, "build even when the target's wheel is already in wheels/ or published"),
    Flag("dry_run", False, "print the docker buildx commands instead of running them (env NOOP, "
         "NO_BUILD)"),
    Flag("no_shared", False, "no-shared flavour: skip auditwheel, linux_<arch> tags "
         "(env NO_SHARED)"),
    Flag("base_image", None, "base image template for this run, e.g. "
         "'python:{python}-alpine{alpine}' (env BASE_IMAGE)"),
    Flag("repository", None, "wheel image repository for this run (env DOCKER_REPO)"),
    Flag("config", None, "modules.toml to use (default: the one beside tasks.py, or in the "
         "current folder for musl-wheels)"),
    Flag("refresh", False, "ask the index and registries again instead of using the cache"),
    Flag("offline", False, "use only cached index and registry answers"),
    Flag("no_cache", False, "ignore BuildKit's layer cache (cache mounts for pip/apk/apt stay)"),
    Flag("no_self_pull", False, "build the requested targets even when their wheels are "
         "published (env NO_SELF_PULL; dependencies are still reused)"),
    Flag("force_pull", False, "read published wheel images from the registry even when a local "
         "image exists (env WHEELS_FORCE_PULL)"),
    Flag("mode", None, "foreign architectures: emulate (QEMU runs the build), cross (a native "
         "compiler targets them), auto (cross, emulate when that fails); default: modules.toml"),
    Flag("index", False, INDEX_FLAG_HELP),
    Flag("timeout", None, "seconds one index/registry request may take, retries included, or "
         "SECONDS,BUDGET with a budget for the whole run (default 30,120; env MUSLWHEELS_TIMEOUT)"),
    Flag("no_test", False, "skip the test of each built wheel; the runtime closure is still "
         "gathered (env NO_TEST)"),
    Flag("base_url", None, "absolute URL DEST is published at, for absolute links (default: "
         "relative links, so the folder works from any host or file:// path)"),
    Flag("github", False, "write a GitHub Actions workflow (replaces the Docker Hub hooks)"),
    Flag("matrix", None, "print the build matrix of PLAN (the output of invoke plan --json) as "
         "GITHUB_OUTPUT lines, as the workflow's plan job does"),
)  # fmt: skip

#: The flags of every task that resolves tags, after ``tag``.
RESOLVING = ("no_shared", "base_image", "repository", "config", "refresh", "offline", "timeout")
#: The flags of the tasks that build.
BUILDING = ("jobs", "force", "dry_run", "builder", "no_cache", "force_pull", "no_test")


@dataclass(frozen=True)
class TaskSpec:
    """One task: its command, its flags (names of :data:`FLAGS`) and how they reach the command.

    Flags that are fields of ``options.Flags`` become the run description (``cli.run``); the
    others go to the command as the keyword ``keywords`` names (default: their own name).
    ``direct`` tasks take no run description: every flag is a keyword of the command.
    """

    name: str
    doc: str
    command: Callable[..., int]
    flags: Sequence[str]
    help: Mapping[str, str] = field(default_factory=dict)  # flag -> this task's wording
    keywords: Mapping[str, str] = field(default_factory=dict)  # flag -> the command's keyword
    fixed: Mapping[str, Any] = field(default_factory=dict)  # options.Flags fields set always
    direct: bool = False


_FLAG_FIELDS = frozenset(Flags.__dataclass_fields__)

EXTRACT_DEST_HELP = "folder the wheels go to, as DEST/<arch>/ (default: wheels/ beside tasks.py)"

TASKS: tuple[TaskSpec, ...] = (
    TaskSpec(
        "plan",
        "Resolve tags into build targets and print them (no Docker needed).",
        cli.cmd_plan,
        ("tag", "json", *RESOLVING),
        keywords={"json": "as_json"},
    ),
    TaskSpec(
        "post-checkout",
        "Hook phase 1: resolve the tag(s) and save the plan for the later phases.",
        cli.cmd_post_checkout,
        ("tag", *RESOLVING),
    ),
    TaskSpec(
        "pre-build",
        "Hook phase 2: emulation for every platform; dependency wheels from wheels/, images or "
        "built.",
        cli.cmd_pre_build,
        ("tag", *BUILDING, *RESOLVING),
    ),
    TaskSpec(
        "build",
        "Hook phase 3: build the tag(s) into wheels/<arch>/, reusing published wheels (--push: "
        "push).",
        cli.cmd_build,
        ("tag", *BUILDING, *RESOLVING, "push", "attest", "no_self_pull", "mode", "index"),
        keywords={"index": "with_index"},
    ),
    TaskSpec(
        "push",
        "Hook phase 4: push the wheel images from wheels/, per-arch tags and the multi-arch tag.",
        cli.cmd_push,
        ("tag", "dry_run", "builder", "attest", *RESOLVING, "index"),
        help={"dry_run": "print what would be pushed instead of pushing (env NO_PUSH, NOOP)"},
        keywords={"index": "with_index"},
        fixed={"pushing": True},
    ),
    TaskSpec(
        "extract",
        "Copy the wheels of the tag(s)' images into DEST/<arch>/ (no arch in a tag: every arch).",
        cli.cmd_extract,
        ("tag", "dest", "force_pull", "dry_run", "builder", *RESOLVING, "index"),
        help={
            "dest": EXTRACT_DEST_HELP,
            "dry_run": "print what would be extracted",
            "index": "then refresh the package index inside DEST (as `invoke index --dest DEST` "
            "does)",
        },
        keywords={"index": "with_index"},
    ),
    TaskSpec(
        "check",
        "List the newest releases whose wheel images the registry lacks (exit 8: work pending).",
        cli.cmd_check,
        ("tag", "json", *RESOLVING),
        help={
            "tag": TAG_HELP + "; none: every module in modules.toml for every default Python",
            "json": "one JSON object per image on stdout",
        },
        keywords={"json": "as_json"},
    ),
    TaskSpec(
        "index",
        "Make wheels/ a static package index: PEP 503 HTML + PEP 691 JSON, hashes, PEP 658 "
        "metadata.",
        cli.cmd_index,
        ("dest", "base_url"),
        help={
            "dest": "folder the index goes to (default: wheels/ itself, served as it is); the "
            "wheels are linked or copied into DEST/<arch>/ when it is another folder"
        },
        direct=True,
    ),
    TaskSpec(
        "bake",
        "The plan as one buildx bake: buildx orders the targets (--print FILE: write it and stop).",
        cli.cmd_bake,
        (
            "tag",
            "print_",
            "push",
            "attest",
            "cache",
            *BUILDING,
            *RESOLVING,
            "no_self_pull",
            "mode",
            "index",
        ),
        help={
            "jobs": "how many built targets are tested at once after the bake (default 1; buildx "
            "itself runs the builds of the graph in parallel)",
            "builder": BUILDER_HELP
            + "; a multi-node, kubernetes or remote builder spreads the targets",
            "dry_run": "write the definition to .musl-wheels/bake.json instead of baking "
            "(env NOOP)",
        },
        keywords={"print_": "print_path", "index": "with_index"},
    ),
    TaskSpec(
        "ci",
        "Write the CI workflow that plans, bakes per arch group, pushes and rebuilds on a "
        "schedule.",
        cli.cmd_ci,
        ("github", "dest", "force", "matrix"),
        help={
            "dest": "where the workflow goes (default: .github/workflows/musl-wheels.yml)",
            "force": "overwrite a workflow file that invoke ci did not write",
        },
        direct=True,
    ),
)


def _call(spec: TaskSpec, root: Path, values: Mapping[str, Any]) -> int:
    """Run the task's command with the flags the user gave; its exit code."""
    config = values.get("config")
    ws = cli.Workspace(root=root, config_path=Path(config) if config else root / "modules.toml")
    given = {k: v for k, v in values.items() if k != "config"}
    if spec.direct:
        keywords = {spec.keywords.get(k, k): v for k, v in given.items()}
        return cli.guarded(ws.ui, lambda: spec.command(ws, **keywords))
    fields = {_field(k): v for k, v in given.items() if _field(k) in _FLAG_FIELDS}
    rest = {spec.keywords.get(k, k): v for k, v in given.items() if _field(k) not in fields}
    return cli.run(ws, spec.command, Flags(**fields, **spec.fixed), **rest)


def _field(flag: str) -> str:
    """The ``options.Flags`` field of a flag (``--tag`` fills ``tags``)."""
    return "tags" if flag == "tag" else flag


def _signature(names: Iterable[str]) -> inspect.Signature:
    params = [inspect.Parameter("c", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for name in names:
        flag = FLAGS[name]
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=flag.default))
    return inspect.Signature(params)


def make_task(spec: TaskSpec, root: Callable[[], Path]) -> Task[Any]:
    """The invoke task of ``spec``; ``root()``: the project folder (modules.toml, wheels/)."""

    def body(c: object, **values: Any) -> None:
        if "tag" in values:
            values["tag"] = list(values["tag"] or ())
        code = _call(spec, root(), values)
        if code:
            raise Exit(code=code)

    body.__name__ = spec.name.replace("-", "_")
    body.__doc__ = spec.doc
    body.__signature__ = _signature(spec.flags)  # type: ignore[attr-defined]
    help_text = {
        name.rstrip("_").replace("_", "-"): spec.help.get(name, FLAGS[name].help)
        for name in spec.flags
    }
    return Task(
        body,
        name=spec.name,
        auto_shortflags=False,
        help=help_text,
        iterable=["tag"] if "tag" in spec.flags else None,
    )


def make_namespace(root: Callable[[], Path]) -> Collection:
    """Every task, for ``root()``'s project."""
    return Collection(*(make_task(spec, root) for spec in TASKS))


# --- the musl-wheels program --------------------------------------------------------------------


def usage_line(context: ParserContext | None, binary: str) -> str:
    if context is None or not context.name:
        return f"usage: {binary} TASK [--FLAG ...] ({binary} --list shows the tasks)"
    flags = " ".join(
        f"[{name}{' VALUE' if arg.takes_value else ''}]"
        for name, arg in sorted(context.flags.items())
        if name.startswith("--")
    )
    return f"usage: {binary} {context.name} {flags} ({binary} --help {context.name})"


class MuslWheelsProgram(Program):
    """invoke's Program over the tasks; a wrong flag or task name is a usage error (README: exit
    2) with the task's usage line, not invoke's own exit 1."""

    def parse_tasks(self) -> None:
        try:
            super().parse_tasks()
        except ParseError as err:
            raise self._usage_error(err) from None

    def parse_cleanup(self) -> None:
        try:
            super().parse_cleanup()
        except ParseError as err:
            raise self._usage_error(err) from None

    def _usage_error(self, err: ParseError) -> Exit:
        return Exit(
            f"error: {err}\n  {usage_line(err.context, self.binary or 'musl-wheels')}", code=2
        )


def program(root: Callable[[], Path] = Path.cwd) -> MuslWheelsProgram:
    return MuslWheelsProgram(
        namespace=make_namespace(root),
        name="musl-wheels",
        binary="musl-wheels",
        version=__version__,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """The ``musl-wheels`` console script: the tasks for the project in the current folder."""
    program().run(list(argv) if argv is not None else sys.argv)
