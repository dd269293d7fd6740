"""The only module that talks to Docker.

``DockerEngine`` implements ``engine.BuildEngine``: it checks that the daemon, buildx, the chosen
builder and QEMU emulation are there (``DockerError`` with a hint otherwise), runs one
``docker buildx build`` per request with its output streamed line by line, translates a failed build
into a one-line ``BuildError``, and stops running builds on request.

A build runs exactly ``BuildRequest.command_line()`` (what ``--dry-run`` prints), as a child process
in its own process group; stopping it is a signal to that group. Questions to Docker (versions,
builders, images, ``imagetools``) go through python-on-whales, imported at the first of them: a run
that builds nothing never loads it (nor pydantic), a third of a task's start-up time.

It also implements ``engine.ImageEngine`` (the wheel images): push a wheel image, join per-arch
images into a multi-arch tag (``docker buildx imagetools create``), tell whether an image is in the
local store, and read an image's files without running anything from it: a build of
``FROM <image>`` exported with ``--output type=local``. BuildKit only unpacks the image's layers for
that (no container, no RUN); with the ``docker`` driver it takes a local image of the requested
platform first and pulls otherwise (``--pull`` always asks the registry), with the same credentials
as ``docker pull``. Registry failures there become ``RegistryError`` (see ``buildxlog.registry_failure``).
"""

from __future__ import annotations

import contextlib
import os
import platform as host_platform
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import (
    BuildError,
    DockerError,
    MuslWheelsError,
    PlatformsUnsupported,
)
from .buildxlog import BakeTracker, FailureTracker, buildx_error, last_line, registry_failure
from .emulation import (
    BinfmtEntry,
    EmulationProblem,
    emulation_problems,
    parse_binfmt_entry,
    registration_hint,
    remote_registration,
    unsupported_platforms,
)
from .interface import (
    BakeFailed,
    BakeRequest,
    BuildRequest,
    ExportRequest,
    ImageOutput,
    LocalOutput,
)

if TYPE_CHECKING:
    from python_on_whales import DockerClient, DockerException

BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")

_START_DOCKER = "start the Docker daemon (systemctl start docker, or run dockerd)"
_INSTALL_DOCKER = "install the Docker CLI and engine (Debian: apt-get install docker.io)"
_INSTALL_BUILDX = "install the buildx plugin (Debian: apt-get install docker-buildx)"

#: How long stopped builds get to finish before they are killed.
_GRACE_SECONDS = 15.0


@dataclass(frozen=True)
class BuilderInfo:
    name: str
    driver: str  # docker, docker-container, remote, kubernetes...
    platforms: tuple[str, ...]  # as its nodes report them
    endpoints: tuple[str, ...]  # one per node


class DockerEngine:
    """``engine.BuildEngine`` and ``engine.ImageEngine`` over the docker CLI."""

    def __init__(
        self,
        *,
        binfmt_dir: Path = BINFMT_DIR,
        register_emulation: bool = True,
        docker_host: str = "",
    ) -> None:
        self.docker_host = docker_host  # the run's DOCKER_HOST
        self.binfmt_dir = binfmt_dir
        self.register_emulation = register_emulation
        self._client: DockerClient | None = None
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[str]] = set()  # the buildx processes of this engine
        self._prepared: set[tuple[str | None, str]] = set()  # (builder, platform) found ready
        self._contexts: dict[str, str | None] = {}  # builder -> its Docker context (docker_context)

    @property
    def client(self) -> DockerClient:
        """python-on-whales' client, made (and the library imported) at the first question."""
        if self._client is None:
            from python_on_whales import DockerClient

            self._client = DockerClient()
        return self._client

    # -- checks ----------------------------------------------------------------------------------

    def require_daemon(self) -> None:
        """The docker CLI runs and the daemon answers (``docker version`` asks the daemon for its
        version: the cheapest call that needs it; ``docker info`` costs four times as much)."""
        with docker_errors(
            lambda err: DockerError(
                f"the Docker daemon is not reachable: {last_line(err.stderr)}", hint=_START_DOCKER
            )
        ):
            version = self.client.version()
        if version.server is None:
            raise DockerError("the Docker daemon is not reachable", hint=_START_DOCKER)

    def require_buildx(self) -> str:
        """buildx is installed; its version."""
        with docker_errors(
            lambda err: DockerError(
                f"docker buildx is not available: {last_line(err.stderr)}", hint=_INSTALL_BUILDX
            )
        ):
            return str(self.client.buildx.version()).strip()

    def builder_info(self, name: str | None) -> BuilderInfo:
        """What buildx says about builder ``name`` (None: the current one).

        One ``docker buildx ls`` (it fails when buildx is missing, so no separate check is
        needed), read at once: python-on-whales asks ``buildx ls`` again for a builder's fields
        read 0.2 s later. ``docker buildx inspect`` names the current builder only when there
        are several to choose from.
        """
        with docker_errors(
            lambda err: DockerError(
                f"cannot list the buildx builders: {last_line(err.stderr)}", hint=_INSTALL_BUILDX
            )
        ):
            found = self.client.buildx.list()
            known = {b.name: (b.driver, b.nodes) for b in found if b.name}
            if name is None:
                name = next(iter(known)) if len(known) == 1 else self.client.buildx.inspect().name
                name = name or "default"
        if name not in known:
            raise DockerError(
                f"there is no buildx builder called {name!r}",
                hint="known builders: "
                + (", ".join(sorted(known)) or "none")
                + " (docker buildx ls; create one with docker buildx create)",
            )
        driver, nodes = known[name]
        platforms: list[str] = []
        endpoints: list[str] = []
        for node in nodes or ():
            platforms.extend(node.platforms or ())
            endpoints.append(node.endpoint or "")
        return BuilderInfo(name, driver or "", tuple(dict.fromkeys(platforms)), tuple(endpoints))

    def binfmt_handlers(self) -> dict[str, BinfmtEntry]:
        handlers: dict[str, BinfmtEntry] = {}
        try:
            entries = sorted(self.binfmt_dir.iterdir())
        except OSError:
            return handlers
        for entry in entries:
            if entry.name in ("register", "status"):
                continue
            try:
                handlers[entry.name] = parse_binfmt_entry(entry.read_text())
            except OSError:
                continue
        return handlers

    def _register(self, problems: Sequence[EmulationProblem]) -> bool:
        """Try ``update-binfmts --enable`` for each handler; whether it ran for all of them."""
        tool = shutil.which("update-binfmts")
        if not self.register_emulation or tool is None or os.geteuid() != 0:
            return False
        for handler in sorted({p.handler for p in problems}):
            done = subprocess.run(
                [tool, "--enable", handler], capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                return False
        return True

    def ensure_emulation(self, platforms: Sequence[str], *, builder: str | None) -> None:
        """Every platform can be built by ``builder``: natively, or with a registered QEMU
        handler (registered here where allowed). DockerError naming what to run otherwise."""
        info = self.builder_info(builder)
        name, reported = info.name, info.platforms
        if info.driver == "docker" and self._is_local_daemon(info.endpoints):
            machine = host_platform.machine()
            problems = emulation_problems(
                platforms,
                host_machine=machine,
                handlers=self.binfmt_handlers(),
                builder_platforms=reported,
            )
            if problems and self._register(problems):
                problems = emulation_problems(
                    platforms,
                    host_machine=machine,
                    handlers=self.binfmt_handlers(),
                    builder_platforms=reported,
                )
            if problems:
                raise PlatformsUnsupported(
                    "; ".join(p.problem for p in problems),
                    platforms=[p.arch.platform for p in problems],
                    hint=registration_hint(problems),
                )
            return
        missing = unsupported_platforms(platforms, reported)
        if missing:
            raise PlatformsUnsupported(
                f"builder {name!r} does not support {', '.join(missing)} "
                f"(it reports: {', '.join(reported) or 'nothing'})",
                platforms=missing,
                hint=f"register QEMU on the builder's host ({remote_registration(missing)}) "
                "or add a node for that platform (docker buildx create --append ...)",
            )

    def _is_local_daemon(self, endpoints: Sequence[str]) -> bool:
        """The builder runs in this machine's dockerd, so this machine's binfmt handlers count."""
        if any(e not in ("default", "") and not e.startswith("unix://") for e in endpoints):
            return False
        host = self.client.client_config.host or self.docker_host
        return host == "" or host.startswith("unix://")

    def prepare(self, platforms: Sequence[str], *, builder: str | None) -> None:
        """Two docker calls (``version``, ``buildx ls``): a missing buildx fails the second. Once
        per engine: platforms already found ready for ``builder`` are not checked again."""
        wanted = [p for p in dict.fromkeys(platforms) if (builder, p) not in self._prepared]
        if not wanted:
            return
        self.require_daemon()
        self.ensure_emulation(wanted, builder=builder)
        self._prepared.update((builder, p) for p in wanted)

    # -- builds ----------------------------------------------------------------------------------

    def build(self, request: BuildRequest, on_line: Callable[[str], None]) -> None:
        tracker = FailureTracker()

        def seen(line: str) -> None:
            tracker.feed(line)
            on_line(line)

        if self._run(request, seen) != 0:
            raise BuildError(tracker.reason(request))

    def _run(self, request: BuildRequest, on_line: Callable[[str], None]) -> int:
        """Run ``request.command_line()`` in its own process group, its output (stdout and
        stderr) handed to ``on_line`` line by line; its exit code."""
        context = self.docker_context(request.builder)
        return self._run_argv(request.command_line(context=context), on_line)

    def docker_context(self, builder: str | None) -> str | None:
        """``builder`` when it is a ``docker``-driver builder, i.e. a Docker context (buildx takes
        it only as ``docker --context NAME buildx ...``); None otherwise. Asked once a builder."""
        if not builder:
            return None
        with self._lock:
            if builder in self._contexts:
                return self._contexts[builder]
        found = builder if self.builder_info(builder).driver == "docker" else None
        with self._lock:
            self._contexts[builder] = found
        return found

    def _run_argv(self, argv: Sequence[str], on_line: Callable[[str], None]) -> int:
        """Run ``argv`` as ``_run`` runs a build."""
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                encoding="utf-8",
                errors="replace",
                start_new_session=True,  # its own process group: cancel() signals all of it
            )
        except FileNotFoundError:
            raise DockerError("the docker command was not found", hint=_INSTALL_DOCKER) from None
        with self._lock:
            self._running.add(proc)
        try:
            assert proc.stdout is not None
            with proc.stdout:
                for line in proc.stdout:
                    on_line(line.rstrip("\r\n"))
        except BaseException:
            _signal_group(proc, signal.SIGKILL)  # on_line failed: the build must not outlive it
            raise
        finally:
            proc.wait()  # its output has ended: it has exited or is exiting
            with self._lock:
                self._running.discard(proc)
        return proc.returncode

    def cancel(self) -> None:
        """Interrupt the running builds (SIGINT to each one's process group: buildx cancels the
        build), and kill those still running after a grace period."""
        with self._lock:
            running = list(self._running)
        for proc in running:
            _signal_group(proc, signal.SIGINT)
        if running:

            def kill() -> None:
                for proc in running:
                    _signal_group(proc, signal.SIGKILL)

            timer = threading.Timer(_GRACE_SECONDS, kill)
            timer.daemon = True
            timer.start()

    # -- bake (engine.BakeEngine) ------------------------------------------------------------------

    def prepare_bake(
        self, platforms: Sequence[str], *, builder: str | None, cache_export: bool
    ) -> None:
        """As ``prepare``; a build cache (``--cache``) also needs a builder that can export one,
        which the ``docker`` driver cannot."""
        self.prepare(platforms, builder=builder)
        if cache_export:
            info = self.builder_info(builder)
            if info.driver == "docker":
                raise DockerError(
                    f"builder {info.name!r} uses the docker driver, which cannot export a build "
                    "cache (--cache)",
                    hint="use a builder with the docker-container, kubernetes or remote driver "
                    "(docker buildx create --driver docker-container --use), or leave --cache out",
                )

    def bake(self, request: BakeRequest, on_line: Callable[[str | None, str], None]) -> None:
        """Run ``bake_command_line(...)`` as builds run (own process group, ``cancel`` stops it)."""
        tracker = BakeTracker(request.requests)
        builder = request.builder
        context = self.docker_context(builder)
        if context:  # a docker-driver builder is a Docker context: buildx refuses it as --builder
            builder = None
        if self._run_argv(
            bake_command_line(request.files, request.targets, builder=builder, context=context),
            lambda line: on_line(tracker.feed(line), line),
        ):
            raise BakeFailed(tracker.summary(), tracker.reasons())

    # -- wheel images (engine.ImageEngine) ------------------------------------------------------

    def require_ready(self, *, builder: str | None) -> None:
        """Daemon, buildx and the builder are there. Wheel-image work runs nothing inside an
        image, so it needs no emulation."""
        self.require_daemon()
        self.require_buildx()
        self.builder_info(builder)

    def require_attestations(self, *, builder: str | None) -> None:
        """The ``docker`` driver puts attestations on an image only with the containerd image
        store; every other driver does."""
        info = self.builder_info(builder)
        if info.driver != "docker":
            return
        with docker_errors(
            lambda err: DockerError(
                f"cannot ask the Docker daemon about its image store: {last_line(err.stderr)}",
                hint=_START_DOCKER,
            )
        ):
            status = self.client.system.info().driver_status
        if "io.containerd.snapshotter" in str(status):
            return
        raise DockerError(
            f"builder {info.name!r} uses the docker driver, which cannot put provenance and SBOM "
            "attestations on an image (--attest) with this daemon's image store",
            hint="use a builder with the docker-container driver (docker buildx create --driver "
            "docker-container --use), or leave --attest out",
        )

    def push_image(self, request: BuildRequest, on_line: Callable[[str], None]) -> None:
        """Build a wheel image (``FROM scratch`` + COPY: nothing runs) and push it to its
        registry (the docker driver also keeps it in the local image store). RegistryError with
        the registry's reason when the push fails."""
        if not isinstance(request.output, ImageOutput):
            raise ValueError("push_image needs an image output")
        name = request.output.name
        reason = self._stream(request, on_line)
        if reason is not None:
            # the docker driver names the image before pushing it: a local copy of an image that
            # never reached the registry must not pass for a published one later
            with contextlib.suppress(DockerError), docker_errors(lambda e: DockerError(str(e))):
                self.client.image.remove(name, force=True)
            raise registry_failure(reason, name, action="push")

    def create_manifest_list(
        self, name: str, sources: Sequence[str], *, builder: str | None
    ) -> None:
        """Point the tag ``name`` at a manifest list of the images ``sources`` (already in the
        same registry), with ``docker buildx imagetools create``."""
        with docker_errors(
            lambda err: registry_failure(
                buildx_error([*(err.stderr or "").splitlines(), *(err.stdout or "").splitlines()]),
                name,
                action="create the multi-arch tag",
            )
        ):
            self.client.buildx.imagetools.create(
                sources=list(sources), tags=[name], builder=builder
            )

    def local_image_exists(self, ref: str) -> bool:
        """Whether the engine's local image store has ``ref``."""
        with docker_errors(
            lambda err: DockerError(
                f"cannot ask the Docker daemon about {ref}: {last_line(err.stderr)}",
                hint=_START_DOCKER,
            )
        ):
            return bool(self.client.image.exists(ref))

    def export_image(self, request: ExportRequest, on_line: Callable[[str], None]) -> None:
        """Write the files of the image (its platform's variant) into ``request.dest`` by a
        build whose only stage is the image. A local image of that platform is used when there
        is one, unless ``request.pull``. RegistryError when the image cannot be had."""
        with tempfile.TemporaryDirectory(prefix="muslwheels-export-") as tmp:
            context = Path(tmp) / "context"
            context.mkdir()
            dockerfile = Path(tmp) / "Dockerfile"
            dockerfile.write_text(EXPORT_DOCKERFILE, encoding="utf-8")
            build = BuildRequest(
                context=context,
                dockerfile=dockerfile,
                platform=request.platform,
                build_args=(("MW_IMAGE", request.ref),),
                build_contexts=(),
                secrets=(),
                output=LocalOutput(request.dest),
                builder=request.builder,
                pull=request.pull,
            )
            reason = self._stream(build, on_line)
            if reason is not None:
                raise registry_failure(reason, request.ref, action="read")

    def _stream(self, request: BuildRequest, on_line: Callable[[str], None]) -> str | None:
        """Run one small build with its lines streamed; None, or why it failed."""
        seen: list[str] = []

        def keep(line: str) -> None:
            seen.append(line)
            on_line(line)

        return None if self._run(request, keep) == 0 else buildx_error(seen)


#: The whole Dockerfile of an export: the image as the build's only stage, exported as files.
EXPORT_DOCKERFILE = "ARG MW_IMAGE\nFROM ${MW_IMAGE}\n"


@contextlib.contextmanager
def docker_errors(failed: Callable[[DockerException], MuslWheelsError]) -> Iterator[None]:
    """python-on-whales' errors as ours: no docker command is a DockerError, a docker command
    that failed becomes ``failed(err)``."""
    from python_on_whales import DockerException
    from python_on_whales.client_config import ClientNotFoundError

    try:
        yield
    except ClientNotFoundError:
        raise DockerError("the docker command was not found", hint=_INSTALL_DOCKER) from None
    except DockerException as err:
        raise failed(err) from None


def _signal_group(proc: subprocess.Popen[str], sig: signal.Signals) -> None:
    """Send ``sig`` to the process group of ``proc`` (its session: it leads it) while it runs."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)


def bake_command_line(
    files: Sequence[Path],
    targets: Sequence[str],
    *,
    builder: str | None,
    context: str | None = None,
) -> tuple[str, ...]:
    """The ``docker buildx bake`` command of a definition (its files) and targets, on ``builder``
    or on the ``docker`` builder of Docker context ``context``."""
    cmd = ["docker", *(("--context", context) if context else ()), "buildx", "bake"]
    cmd += ["--progress", "plain"]
    if builder:
        cmd += ["--builder", builder]
    for path in files:
        cmd += ["--file", str(path)]
    return (*cmd, *targets)
