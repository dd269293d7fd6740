"""Build planned targets into verified wheels in ``wheels/<arch>/``.

This module orchestrates; it never talks to Docker itself. The engine (``docker.DockerEngine`` in real
runs, a fake in unit tests) runs one ``docker buildx build`` per target from a ``BuildRequest``:

- dependencies first: a target whose dependency failed fails without building; independent targets
  build in parallel, up to ``jobs`` at a time (threads); a failing target stops nothing else;
- a target whose verified wheel is already in ``wheels/<arch>/`` is skipped unless ``force`` (that
  path makes no engine call at all), and ``dry_run`` makes none either: it reports the command lines;
  ``force`` also re-runs the wheel step instead of taking it from BuildKit's layer cache;
- the dependency wheels reach the dependent's build through the ``deps`` build context;
- pip's index settings reach the build only as BuildKit secrets (a generated pip.conf, the CA bundle,
  the client certificate); an index on the loopback makes the pip steps use the host's network;
- the build's wheels are verified (``verify.py``) and only then moved into ``wheels/<arch>/``,
  atomically and under a per-directory lock, so concurrent runs never see a partial or foreign wheel;
- the build mode (``cross.py`` decides it per target): ``emulate`` runs every step on the target
  platform, ``cross`` compiles on the build machine's platform for the target (build arg
  ``MW_MODE=cross``), ``auto`` tries cross and builds again in emulation when that fails; the result
  carries the mode used (``TargetResult.mode``) and the summary shows it;
- Ctrl-C stops the running builds, removes the private temporary directories and raises
  ``errors.Interrupted``; ``wheels/`` is left as it was or complete.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import queue
import re
import shlex
import shutil
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Protocol, Union
from urllib.parse import urlsplit

from .config import DEFAULT_BUILD_COMMAND, render_command
from .cross import ModeDecision, cross_target, decide, mode_label
from .errors import BuildError, Interrupted, MuslWheelsError
from .model import Mode, Target, normalize_name
from .pipconfig import IndexSettings
from .verify import verification_failure, verify_wheels, wheel_fits

Status = Literal["built", "skipped", "failed", "would-build"]

#: The wheel command when a module sets no ``build`` (config.py documents it for modules.toml):
#: ``--no-deps``, only this project's wheel; ``--no-binary``, from the sdist even where the index
#: has a wheel for the platform.
DEFAULT_WHEEL_COMMAND = DEFAULT_BUILD_COMMAND

#: Where things are inside the build (docker/bin/mw-lib.sh uses the same paths).
CONTAINER_WHEEL_DIR = "/mw/wheelhouse"
CONTAINER_DEPS_DIR = "/mw/deps"

LOCK_NAME = ".muslwheels.lock"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9._@+-]")


def default_docker_dir() -> Path:
    """The ``docker/`` directory of this source tree (beside ``src/``)."""
    return Path(__file__).resolve().parents[2] / "docker"


# --- options, results, the seams ---------------------------------------------------------------


@dataclass(frozen=True)
class BuildOptions:
    wheels_root: Path  # wheels land in wheels_root/<arch key>/
    log_dir: Path  # one <target id>.log per built target
    index: IndexSettings  # pip's settings, mirrored into the build as secrets
    jobs: int = 1
    force: bool = False  # build again (not from the layer cache) even when the wheel is there
    dry_run: bool = False  # no engine call: report what would run
    builder: str | None = None  # buildx builder (None: the current one)
    no_cache: bool = False  # ignore BuildKit's layer cache (cache mounts stay)
    docker_dir: Path = field(default_factory=default_docker_dir)  # holds the Dockerfile
    temp_root: Path | None = None  # where private temporary directories go (None: system default)
    mode: Mode | None = None  # the run's --mode (None: default_mode, unless a module sets its own)
    default_mode: Mode = Mode.EMULATE  # [defaults] mode
    build_platform: str | None = None  # the builder's own platform (None: every target is foreign)


@dataclass(frozen=True)
class TargetResult:
    target: Target
    status: Status
    seconds: float = 0.0
    wheels: tuple[str, ...] = ()  # file names in wheels_root/<arch>/
    log_path: Path | None = None
    message: str = ""  # why it failed / was skipped; the command line for would-build; the mode
    mode: str = ""  # how it was built: native, emulate, cross, "emulate (fallback: <reason>)"


@dataclass(frozen=True)
class LocalOutput:
    dest: Path  # the wheels end up as files here


@dataclass(frozen=True)
class ImageOutput:
    name: str  # image reference
    push: bool = True  # False: keep it in the engine's image store


Output = Union[LocalOutput, ImageOutput]


@dataclass(frozen=True)
class BuildRequest:
    """Everything one ``docker buildx build`` needs; the engine translates it, nothing more."""

    context: Path
    dockerfile: Path
    platform: str
    build_args: tuple[tuple[str, str], ...]
    build_contexts: tuple[tuple[str, str], ...]
    secrets: tuple[tuple[str, str], ...]  # (id, source file on the host)
    output: Output
    allow: tuple[str, ...] = ()  # entitlements, e.g. network.host
    builder: str | None = None
    stage: str | None = None  # None: the Dockerfile's last stage (the wheels)
    no_cache: bool = False

    def output_spec(self) -> dict[str, str]:
        if isinstance(self.output, LocalOutput):
            return {"type": "local", "dest": str(self.output.dest)}
        spec = {"type": "image", "name": self.output.name}
        if self.output.push:
            spec["push"] = "true"
        return spec

    def command_line(self) -> tuple[str, ...]:
        """The equivalent ``docker buildx build`` command (what the engine runs)."""
        cmd = ["docker", "buildx", "build", "--progress", "plain"]
        if self.builder:
            cmd += ["--builder", self.builder]
        cmd += ["--platform", self.platform, "--file", str(self.dockerfile)]
        for key, value in self.build_args:
            cmd += ["--build-arg", f"{key}={value}"]
        for name, path in self.build_contexts:
            cmd += ["--build-context", f"{name}={path}"]
        for secret_id, src in self.secrets:
            cmd += ["--secret", f"id={secret_id},src={src}"]
        for entitlement in self.allow:
            cmd += ["--allow", entitlement]
        if self.stage:
            cmd += ["--target", self.stage]
        if self.no_cache:
            cmd.append("--no-cache")
        cmd += ["--provenance=false", "--output"]
        cmd.append(",".join(f"{k}={v}" for k, v in self.output_spec().items()))
        cmd.append(str(self.context))
        return tuple(cmd)


class Engine(Protocol):
    """What build_targets needs from the container engine (docker.DockerEngine implements it)."""

    def prepare(self, platforms: Sequence[str], *, builder: str | None) -> None:
        """Check, once per run before the first build, that builds for ``platforms`` can run:
        daemon reachable, buildx present, the builder exists and supports them, emulation ready.
        Raises DockerError saying what is missing and what to run."""

    def build(self, request: BuildRequest, on_line: Callable[[str], None]) -> None:
        """Run one build, handing every output line to ``on_line`` (from the calling thread).
        Raises BuildError (one-line reason) when the build fails, DockerError when the engine
        itself is unusable."""

    def cancel(self) -> None:
        """Stop every build in progress (called from another thread, e.g. on Ctrl-C)."""


class BuildReporter(Protocol):
    """Progress callbacks (console.BuildProgress implements it). build_targets serialises the calls."""

    def target_started(self, target: Target) -> None: ...

    def target_log(self, target: Target, line: str) -> None: ...

    def target_finished(self, result: TargetResult) -> None: ...


# --- pip's settings inside the build ------------------------------------------------------------


@dataclass(frozen=True)
class PipSettings:
    """What of the user's pip configuration the build gets, and what was left out (and why)."""

    config_text: str  # the pip.conf handed in as the ``pipconf`` secret
    cert: str | None  # host path of the CA bundle (``pipcert`` secret)
    client_cert: str | None  # host path of the client certificate (``pipclientcert`` secret)
    host_network: bool  # an index/find-links URL is on the loopback
    notes: tuple[str, ...]


def _is_remote_url(location: str) -> bool:
    return urlsplit(location).scheme.lower() in ("http", "https")


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` names this machine (127.0.0.0/8, ::1, localhost): then the build must use the
    host's network to reach it (a Docker bridge address is never used instead)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def pip_settings(index: IndexSettings) -> PipSettings:
    """Mirror ``index`` into a pip.conf for the build. Pure.

    file:// URLs and local paths name places on this machine the build cannot see: they are left
    out, with a note. When the main index is such a place, the first remote extra index takes its
    role; with no remote index at all, pip inside the build gets ``no-index``.
    """
    notes: list[str] = []

    def keep(location: str, what: str) -> bool:
        if _is_remote_url(location):
            return True
        notes.append(
            f"{what} {location} left out of the build: it is on this machine, "
            "which the build cannot see"
        )
        return False

    indexes = [u for u in index.index_urls if keep(u, "index")]
    links = [u for u in index.find_links if keep(u, "find-links")]
    lines = ["[global]"]
    if indexes:
        if indexes[0] != index.index_url:
            notes.append(f"pip inside the build uses {indexes[0]} as its main index")
        lines.append(f"index-url = {indexes[0]}")
        if indexes[1:]:
            lines.append(f"extra-index-url = {' '.join(indexes[1:])}")
    else:
        notes.append("no package index can be reached from inside the build: pip gets no-index")
        lines.append("no-index = true")
    if index.trusted_hosts:
        lines.append(f"trusted-host = {' '.join(index.trusted_hosts)}")
    if links:
        lines.append(f"find-links = {' '.join(links)}")
    host_network = any(is_loopback_url(u) for u in (*indexes, *links))
    if host_network:
        notes.append("an index is on the loopback: pip steps run with the host's network")
    return PipSettings(
        config_text="\n".join(lines) + "\n",
        cert=index.cert,
        client_cert=index.client_cert,
        host_network=host_network,
        notes=tuple(notes),
    )


# --- recipe files and the request ---------------------------------------------------------------


def command_values(target: Target) -> dict[str, str]:
    """Values of the build/before_build placeholders (config.BUILD_PLACEHOLDERS) for ``target``."""
    values = {
        "module": target.module,
        "version": target.version,
        "requirement": f"{target.module}=={target.version}",
        "python": target.python,
        "arch": target.arch.key,
        "wheel_dir": CONTAINER_WHEEL_DIR,
        "deps_dir": CONTAINER_DEPS_DIR,
    }
    if target.ssl:
        values["ssl"] = target.ssl
    return values


def recipe_files(target: Target) -> dict[str, str]:
    """The files of the ``recipe`` build context for ``target`` (name -> text). Pure.

    Raises BuildError when the recipe cannot be turned into safe shell text.
    """
    recipe = target.recipe
    values = command_values(target)
    try:
        before = [render_command(c, values) for c in recipe.before_build]
        build = render_command(recipe.build or DEFAULT_WHEEL_COMMAND, values)
    except ValueError as err:
        raise BuildError(f"{target.tag}: cannot fill in the build command: {err}") from None
    env_lines = []
    for name, value in recipe.env:
        if not _ENV_NAME.fullmatch(name):
            raise BuildError(f"{target.tag}: {name!r} is not a valid environment variable name")
        env_lines.append(f"export {name}={shlex.quote(value)}")

    def text(lines: Sequence[str]) -> str:
        return "".join(f"{line}\n" for line in lines)

    return {
        "packages.apk": text(recipe.apk),
        "packages.apt": text(recipe.apt),
        "env.sh": text(env_lines),
        "before_build.sh": text(before),
        "build.sh": text([build]),
    }


@dataclass(frozen=True)
class _RunFiles:
    """Per-run secret sources (host paths) and the network rule."""

    pipconf: Path
    cert: Path | None
    client_cert: Path | None
    host_network: bool
    fresh: str = ""  # MW_FRESH: a new value per forced run re-runs the wheel step


def build_request(
    target: Target,
    *,
    options: BuildOptions,
    run_files: _RunFiles,
    workdir: Path,
    output: Output | None = None,
    mode: str = "emulate",
) -> BuildRequest:
    """The request for one target; ``workdir`` holds its recipe/, deps/ and out/. ``mode`` "cross"
    compiles on the build machine's platform for the target's (native and emulate: everything on
    the target platform)."""
    cross_args: tuple[tuple[str, str], ...] = ()
    if mode == "cross":
        settings = cross_target(target.arch)
        if settings is None:
            raise BuildError(
                f"{target.tag}: no cross compiler target is known for {target.arch.key}"
            )
        cross_args = (("MW_MODE", "cross"), *settings.build_args())
    secrets = [("pipconf", str(run_files.pipconf))]
    if run_files.cert is not None:
        secrets.append(("pipcert", str(run_files.cert)))
    if run_files.client_cert is not None:
        secrets.append(("pipclientcert", str(run_files.client_cert)))
    return BuildRequest(
        context=options.docker_dir,
        dockerfile=options.docker_dir / "Dockerfile",
        platform=target.platform,
        build_args=(
            ("BASE_IMAGE", target.base_image),
            ("PIP_NETWORK", "host" if run_files.host_network else "default"),
            ("MW_PROJECT", target.module),
            ("MW_VERSION", target.version),
            ("MW_PYTHON", target.python),
            ("MW_FLAVOUR", target.flavour.value),
            *((("MW_FRESH", run_files.fresh),) if run_files.fresh else ()),
            *cross_args,
        ),
        build_contexts=(("recipe", str(workdir / "recipe")), ("deps", str(workdir / "deps"))),
        secrets=tuple(secrets),
        output=output or LocalOutput(workdir / "out"),
        allow=("network.host",) if run_files.host_network else (),
        builder=options.builder,
        no_cache=options.no_cache,
    )


# --- wheels/<arch>/ -------------------------------------------------------------------------------


class WheelFolders:
    """The wheels in each ``wheels_root/<arch>/``, listed once and grouped by project: a run over
    a matrix of hundreds of targets reads each folder once and checks only that project's files
    (instead of listing the folder and checking every file in it once per target)."""

    def __init__(self, wheels_root: Path) -> None:
        self.wheels_root = wheels_root
        self._folders: dict[str, dict[str, list[str]]] = {}

    def _by_project(self, wheel_dir: str) -> dict[str, list[str]]:
        if wheel_dir not in self._folders:
            try:
                with os.scandir(self.wheels_root / wheel_dir) as entries:
                    names = sorted(e.name for e in entries if e.is_file())
            except FileNotFoundError:
                names = []
            by_project: dict[str, list[str]] = {}
            for name in names:
                if name.endswith(".whl") and not name.startswith("."):
                    # a wheel's file name starts with its project's name (escaped, no dash)
                    by_project.setdefault(normalize_name(name.split("-", 1)[0]), []).append(name)
            self._folders[wheel_dir] = by_project
        return self._folders[wheel_dir]

    def fitting(self, target: Target) -> tuple[str, ...]:
        """File names of the wheels that fit ``target``, sorted."""
        names = self._by_project(target.wheel_dir).get(target.key, [])
        return tuple(n for n in names if wheel_fits(n, target))


def existing_wheels(target: Target, wheels_root: Path) -> tuple[str, ...]:
    """File names of the wheels in wheels_root/<arch>/ that fit ``target``."""
    return WheelFolders(wheels_root).fitting(target)


@contextlib.contextmanager
def locked_dir(folder: Path) -> Iterator[None]:
    """Hold the exclusive lock of one wheels/<arch>/ directory (other runs wait)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def install_wheels(sources: Sequence[Path], folder: Path) -> tuple[str, ...]:
    """Move the wheel files ``sources`` into ``folder``: each is first copied to a hidden temporary
    file in ``folder`` and then renamed over its final name, all under the directory's lock. Either
    every wheel lands or none does (the temporary files are removed on any error)."""
    with locked_dir(folder):
        staged: list[tuple[Path, Path]] = []
        try:
            for src in sources:
                fd, tmp_name = tempfile.mkstemp(prefix=f".{src.name}.", suffix=".part", dir=folder)
                tmp = Path(tmp_name)
                staged.append((tmp, folder / src.name))
                with os.fdopen(fd, "wb") as out, src.open("rb") as data:
                    shutil.copyfileobj(data, out)
                    out.flush()
                    os.fsync(out.fileno())
                tmp.chmod(0o644)
            for tmp, final in staged:
                tmp.replace(final)
        except BaseException:
            for tmp, _ in staged:
                tmp.unlink(missing_ok=True)
            raise
        with contextlib.suppress(OSError):
            dir_fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    return tuple(src.name for src in sources)


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
    state: dict[str, int] = {}  # 1: visiting, 2: done

    def visit(target_id: str, path: list[str]) -> None:
        if state.get(target_id) == 2:
            return
        if state.get(target_id) == 1:
            cycle = [*path[path.index(target_id) :], target_id]
            raise BuildError(f"dependency cycle: {' -> '.join(cycle)}")
        state[target_id] = 1
        for dep in by_id[target_id].depends:
            visit(dep, [*path, target_id])
        state[target_id] = 2

    for target_id in ids:
        visit(target_id, [])


def _transitive_deps(target: Target, by_id: Mapping[str, Target]) -> list[str]:
    found: list[str] = []
    stack = list(target.depends)
    while stack:
        dep = stack.pop(0)
        if dep not in found:
            found.append(dep)
            stack.extend(by_id[dep].depends)
    return found


def log_name(target: Target) -> str:
    return _UNSAFE_FILE_CHARS.sub("_", target.id) + ".log"


# --- the run --------------------------------------------------------------------------------------


class _Cancelled(Exception):
    pass


class _Run:
    def __init__(
        self,
        targets: Sequence[Target],
        options: BuildOptions,
        engine: Engine,
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

    # -- reporting (serialised: workers are threads) --

    def started(self, target: Target) -> None:
        with self.report_lock:
            self.reporter.target_started(target)

    def line(self, target: Target, text: str) -> None:
        with self.report_lock:
            self.reporter.target_log(target, text)

    def finish(self, result: TargetResult) -> TargetResult:
        self.results[result.target.id] = result
        with self.report_lock:
            self.reporter.target_finished(result)
        return result

    def decision(self, target: Target) -> ModeDecision:
        return decide(
            target.recipe,
            target.arch,
            run_mode=self.options.mode,
            default=self.options.default_mode,
            build_platform=self.options.build_platform,
        )

    # -- the run --

    def run(self) -> tuple[TargetResult, ...]:
        validate_graph(self.targets)
        to_build: list[Target] = []
        folders = WheelFolders(self.options.wheels_root)
        for target in self.targets:
            found = () if self.options.force else folders.fitting(target)
            if found:
                self.finish(
                    TargetResult(target, "skipped", wheels=found, message="wheel already present")
                )
            else:
                to_build.append(target)
        if self.options.dry_run:
            for target in to_build:
                self.finish(self.would_build(target))
        elif to_build:
            dockerfile = self.options.docker_dir / "Dockerfile"
            if not dockerfile.is_file():
                raise BuildError(
                    f"no Dockerfile at {dockerfile}",
                    hint="run from a musl-wheels checkout, or pass its docker/ directory as docker_dir",
                )
            self.engine.prepare(
                sorted({t.platform for t in to_build}), builder=self.options.builder
            )
            with tempfile.TemporaryDirectory(
                prefix="muslwheels-run-", dir=self.options.temp_root
            ) as run_dir:
                run_files = write_run_files(self.pip, Path(run_dir), fresh=self.fresh)
                self.build_all(to_build, run_files)
        return tuple(self.results[t.id] for t in self.targets)

    def would_build(self, target: Target) -> TargetResult:
        placeholder = Path("<tmp>")
        run_files = _RunFiles(
            pipconf=placeholder / "pip.conf",
            cert=Path(self.pip.cert) if self.pip.cert else None,
            client_cert=Path(self.pip.client_cert) if self.pip.client_cert else None,
            host_network=self.pip.host_network,
            fresh=self.fresh,
        )
        try:
            recipe_files(target)
        except BuildError as err:
            return TargetResult(target, "failed", message=str(err))
        decision = self.decision(target)
        if decision.error:
            return TargetResult(target, "failed", message=decision.error)
        cross = decision.plan in ("cross", "cross-then-emulate")
        try:
            request = build_request(
                target,
                options=self.options,
                run_files=run_files,
                workdir=placeholder / log_name(target).removesuffix(".log"),
                mode="cross" if cross else "emulate",
            )
        except BuildError as err:
            return TargetResult(target, "failed", message=str(err))
        return TargetResult(target, "would-build", message=shlex.join(request.command_line()))

    def build_all(self, to_build: list[Target], run_files: _RunFiles) -> None:
        """Hand ready targets to ``jobs`` worker threads, dependencies first."""
        jobs = max(1, self.options.jobs)
        tasks: queue.Queue[Target | None] = queue.Queue()
        done: queue.Queue[TargetResult] = queue.Queue()

        def worker() -> None:
            while True:
                target = tasks.get()
                if target is None:
                    return
                done.put(self.build_one(target, run_files))

        # Every thread is known before it starts, so an interrupt can always join all of them.
        threads = [
            threading.Thread(target=worker, name=f"muslwheels-build-{i}") for i in range(jobs)
        ]
        waiting = list(to_build)  # in plan order
        running = 0
        try:
            for thread in threads:
                thread.start()
            while waiting or running:
                progress = False
                for target in list(waiting):
                    if running >= jobs:
                        break
                    state = self.dependency_state(target)
                    if state == "wait":
                        continue
                    waiting.remove(target)
                    progress = True
                    if state != "ok":
                        self.finish(TargetResult(target, "failed", message=state))
                        continue
                    running += 1
                    tasks.put(target)
                if running:
                    self.finish(done.get())
                    running -= 1
                elif waiting and not progress:
                    raise BuildError(
                        "cannot order the remaining targets: " + ", ".join(t.id for t in waiting)
                    )
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

    def _stop(self, threads: list[threading.Thread], tasks: queue.Queue[Target | None]) -> None:
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

    def dependency_state(self, target: Target) -> str:
        """ "ok", "wait", or the failure message when a dependency failed."""
        for dep in target.depends:
            result = self.results.get(dep)
            if result is None:
                return "wait"
            if result.status == "failed":
                return f"dependency {self.by_id[dep].tag} failed"
        return "ok"

    def dependency_wheels(self, target: Target) -> list[Path]:
        paths: list[Path] = []
        for dep in _transitive_deps(target, self.by_id):
            result = self.results[dep]
            folder = self.options.wheels_root / result.target.wheel_dir
            paths.extend(folder / name for name in result.wheels)
        return paths

    def build_one(self, target: Target, run_files: _RunFiles) -> TargetResult:
        start = time.monotonic()
        self.options.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.options.log_dir / log_name(target)

        def result(
            status: Status, message: str = "", wheels: tuple[str, ...] = (), mode: str = ""
        ) -> TargetResult:
            seconds = time.monotonic() - start
            return TargetResult(target, status, seconds, wheels, log_path, message, mode)

        if self.cancel.is_set():
            return result("failed", "interrupted before it started")
        self.started(target)
        with log_path.open("w", encoding="utf-8", errors="replace") as log:

            def on_line(text: str) -> None:
                text = text.rstrip("\r\n")
                log.write(text + "\n")
                log.flush()
                self.line(target, text)

            try:
                with tempfile.TemporaryDirectory(
                    prefix="muslwheels-", dir=self.options.temp_root
                ) as tmp:
                    return self._build_in(target, run_files, Path(tmp), on_line, result)
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
        run_files: _RunFiles,
        workdir: Path,
        on_line: Callable[[str], None],
        result: Callable[..., TargetResult],
    ) -> TargetResult:
        on_line(f"muslwheels: target {target.id} ({target.platform}, {target.base_image})")
        for note in self.pip.notes:
            on_line(f"muslwheels: note: {note}")
        decision = self.decision(target)
        if decision.error:
            raise BuildError(decision.error)
        dep_wheels = self.dependency_wheels(target)
        stage_workdir(target, workdir, dep_wheels)
        for wheel in dep_wheels:
            on_line(f"muslwheels: offering dependency wheel {wheel.name}")
        if decision.plan == "cross-then-emulate":
            on_line("muslwheels: mode auto: cross-compiling, emulation if that fails")
            try:
                produced = self._attempt(target, run_files, workdir, on_line, "cross")
                used, note = "cross", ""
            except BuildError as err:
                on_line(f"muslwheels: the cross build failed ({err}); building again in emulation")
                try:
                    produced = self._attempt(target, run_files, workdir, on_line, "emulate")
                except BuildError as again:
                    raise BuildError(
                        f"{again} (in emulation, after the cross build failed: {err})"
                    ) from None
                used, note = "emulate", f"fallback: {err}"
        else:
            used, note = decision.plan, decision.note
            if note:
                on_line(f"muslwheels: mode {used}: {note}")
            try:
                produced = self._attempt(
                    target, run_files, workdir, on_line, "cross" if used == "cross" else "emulate"
                )
            except BuildError as err:
                if used == "cross":
                    raise BuildError(f"cross build failed: {err}") from None
                raise
        folder = self.options.wheels_root / target.wheel_dir
        installed = install_wheels([workdir / "out" / n for n in produced], folder)
        label = mode_label(used, note)
        on_line(f"muslwheels: installed {', '.join(installed)} in {folder} (mode {label})")
        return result("built", "" if used == "native" else label, installed, label)

    def _attempt(
        self,
        target: Target,
        run_files: _RunFiles,
        workdir: Path,
        on_line: Callable[[str], None],
        mode: str,
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
        if self.cancel.is_set():
            raise _Cancelled
        self.engine.build(request, on_line)
        if self.cancel.is_set():
            raise _Cancelled
        produced = sorted(p.name for p in out_dir.iterdir() if p.is_file())
        failure = verification_failure(verify_wheels(produced, target), target)
        if failure:
            raise BuildError(failure)
        return produced


def write_run_files(pip: PipSettings, run_dir: Path, *, fresh: str = "") -> _RunFiles:
    """Write the run's pip.conf (mode 0600, in a private directory) and find the certificate
    files: the sources of the build secrets."""
    run_dir.mkdir(mode=0o700, exist_ok=True)
    run_dir.chmod(0o700)
    pipconf = run_dir / "pip.conf"
    fd = os.open(pipconf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(pip.config_text)
    return _RunFiles(
        pipconf=pipconf,
        cert=_secret_file(pip.cert, run_dir / "cert.pem"),
        client_cert=_secret_file(pip.client_cert, run_dir / "client-cert.pem"),
        host_network=pip.host_network,
        fresh=fresh,
    )


def stage_workdir(target: Target, workdir: Path, dep_wheels: Sequence[Path]) -> None:
    """Fill a target's private directory: recipe/ (the recipe context), deps/ (the dependency
    wheels: the deps context) and an empty out/ (where the wheels arrive)."""
    recipe_dir, deps_dir, out_dir = workdir / "recipe", workdir / "deps", workdir / "out"
    for folder in (recipe_dir, deps_dir, out_dir):
        folder.mkdir(parents=True)
    for name, text in recipe_files(target).items():
        (recipe_dir / name).write_text(text, encoding="utf-8")
    for wheel in dep_wheels:
        _link_or_copy(wheel, deps_dir / wheel.name)


@contextlib.contextmanager
def staged_request(
    target: Target,
    *,
    options: BuildOptions,
    stage: str | None = None,
    output: Output | None = None,
) -> Iterator[BuildRequest]:
    """The request ``build_targets`` would make for ``target`` (without dependency wheels), its
    private files in place until the block ends; ``stage``/``output`` pick another Dockerfile
    stage or destination (e.g. the builder stage as a local image, to inspect it)."""
    pip = pip_settings(options.index)
    with tempfile.TemporaryDirectory(prefix="muslwheels-", dir=options.temp_root) as tmp:
        run_files = write_run_files(pip, Path(tmp) / "run")
        workdir = Path(tmp) / "target"
        stage_workdir(target, workdir, ())
        request = build_request(target, options=options, run_files=run_files, workdir=workdir)
        yield replace(request, stage=stage, output=output or request.output)


def _secret_file(source: str | None, copy_to: Path) -> Path | None:
    """A host file usable as a BuildKit secret source: the file itself when it is a plain path,
    else a private copy (a CA directory is concatenated into one bundle)."""
    if source is None:
        return None
    path = Path(source)
    if path.is_dir():
        parts = [p.read_bytes() for p in sorted(path.iterdir()) if p.suffix in (".pem", ".crt")]
        copy_to.write_bytes(b"\n".join(parts))
        copy_to.chmod(0o600)
        return copy_to
    if not path.is_file():
        raise BuildError(
            f"pip's certificate file {source} does not exist",
            hint="fix PIP_CERT / PIP_CLIENT_CERT or pip's cert / client-cert setting",
        )
    if "," in str(path) or "=" in str(path):
        shutil.copyfile(path, copy_to)
        copy_to.chmod(0o600)
        return copy_to
    return path


def _link_or_copy(src: Path, dest: Path) -> None:
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def build_targets(
    targets: Sequence[Target],
    *,
    options: BuildOptions,
    engine: Engine,
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
