"""What the build, push and extract code asks of the container engine.

A ``BuildRequest`` is everything one ``docker buildx build`` needs; ``BuildRequest.command_line`` is
the command ``--dry-run`` prints and ``docker.DockerEngine`` runs. The interfaces say what each caller
needs from the engine: ``BuildEngine`` (build/scheduler.py), ``ExportEngine`` (publish/extract.py), ``ImageEngine``
(publish/images.py) and ``BakeEngine`` (build/bake.py). ``docker.DockerEngine`` implements them all; unit tests
use fakes of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Union

from ..errors import BuildError

# --- the request -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalOutput:
    dest: Path  # the wheels end up as files here


@dataclass(frozen=True)
class ImageOutput:
    name: str  # image reference
    push: bool = True  # False: keep it in the engine's image store


Output = Union[LocalOutput, ImageOutput]


@dataclass(frozen=True)
class ExportRequest:
    """One image whose files are to be written into ``dest`` (created), for one platform,
    without running anything from it."""

    ref: str
    platform: str
    dest: Path
    pull: bool = False  # ask the registry even when the engine's image store has the image
    builder: str | None = None


@dataclass(frozen=True)
class BuildRequest:
    """Everything one ``docker buildx build`` needs."""

    context: Path
    dockerfile: Path
    platform: str
    build_args: tuple[tuple[str, str], ...]
    build_contexts: tuple[tuple[str, str], ...]
    secrets: tuple[tuple[str, str], ...]  # (id, source file on the host)
    output: Output
    allow: tuple[str, ...] = ()  # entitlements, e.g. network.host
    network: str | None = None  # "host": every step uses the host's network (a loopback index)
    builder: str | None = None
    stage: str | None = None  # None: the Dockerfile's last stage (the wheels)
    no_cache: bool = False
    pull: bool = False  # ask the registry for every image, never take a local one
    # BuildKit's provenance (mode=max) and SBOM attestations on the image (a builder that
    # supports them: not the docker driver on the classic image store)
    attest: bool = False

    def output_spec(self) -> dict[str, str]:
        """The fields of ``--output``."""
        if isinstance(self.output, LocalOutput):
            return {"type": "local", "dest": str(self.output.dest)}
        spec = {"type": "image", "name": self.output.name}
        if self.output.push:
            spec["push"] = "true"
        return spec

    def command_line(self, *, context: str | None = None) -> tuple[str, ...]:
        """The ``docker buildx build`` command: what ``--dry-run`` shows is what the engine runs.
        ``context``: the builder is the ``docker`` builder of that Docker context, which buildx
        refuses as ``--builder`` (``docker --context NAME buildx build`` instead)."""
        cmd = ["docker", *(("--context", context) if context else ()), "buildx", "build"]
        cmd += ["--progress", "plain"]
        if self.builder and not context:
            cmd += ["--builder", self.builder]
        cmd += ["--platform", self.platform, "--file", str(self.dockerfile)]
        for key, value in self.build_args:
            cmd += ["--build-arg", f"{key}={value}"]
        for name, path in self.build_contexts:
            cmd += ["--build-context", f"{name}={path}"]
        for secret_id, src in self.secrets:
            cmd += ["--secret", f"id={secret_id},src={src}"]
        if self.network:
            cmd += ["--network", self.network]
        for entitlement in self.allow:
            cmd += ["--allow", entitlement]
        if self.stage:
            cmd += ["--target", self.stage]
        if self.no_cache:
            cmd.append("--no-cache")
        if self.pull:
            cmd.append("--pull")
        output = ",".join(f"{k}={v}" for k, v in self.output_spec().items())
        attest = ["--provenance=mode=max", "--sbom=true"] if self.attest else ["--provenance=false"]
        cmd += [*attest, "--output", output, str(self.context)]
        return tuple(cmd)


# --- what each caller needs from the engine -----------------------------------------------------


class BuildEngine(Protocol):
    """What build.build_targets needs."""

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


class ExportEngine(Protocol):
    """What publish/extract.py needs."""

    def require_ready(self, *, builder: str | None) -> None:
        """DockerError when the daemon, buildx or the builder is missing."""

    def export_image(self, request: ExportRequest, on_line: Callable[[str], None]) -> None:
        """Write the files of the image into ``request.dest``; a local image first unless
        ``request.pull``. RegistryError when the image cannot be had (missing, registry
        unreachable or refusing)."""


class ImageEngine(ExportEngine, Protocol):
    """What publish/images.py (pushing and reuse) needs."""

    def push_image(self, request: BuildRequest, on_line: Callable[[str], None]) -> None:
        """Build the wheel image of ``request`` (its output is an ImageOutput) and push it.
        RegistryError when the registry refuses or cannot be reached."""

    def create_manifest_list(
        self, name: str, sources: Sequence[str], *, builder: str | None
    ) -> None:
        """Make tag ``name`` a manifest list of the images ``sources``. RegistryError on failure."""

    def local_image_exists(self, ref: str) -> bool:
        """Whether the engine's local image store holds ``ref``."""

    def require_attestations(self, *, builder: str | None) -> None:
        """DockerError when ``builder`` cannot put attestations on an image (``--attest``)."""


class BakeFailed(BuildError):
    """``docker buildx bake`` failed: ``reasons`` names the bake targets that failed and why (empty
    when the failure belongs to no target, e.g. the builder went away)."""

    def __init__(self, message: str, reasons: Mapping[str, str]) -> None:
        super().__init__(message)
        self.reasons = dict(reasons)


@dataclass(frozen=True)
class BakeRequest:
    """One ``docker buildx bake -f FILES TARGETS``, and the single-build request of each target
    (bake name -> request), by which a failure is explained as a single build's is."""

    files: tuple[Path, ...]
    targets: tuple[str, ...]
    requests: Mapping[str, BuildRequest]
    builder: str | None = None


class BakeEngine(Protocol):
    """What bake.bake_targets needs: the bake, and single builds for the test step."""

    def prepare_bake(
        self, platforms: Sequence[str], *, builder: str | None, cache_export: bool
    ) -> None:
        """As ``BuildEngine.prepare``; with ``cache_export``, also that the builder can export a
        build cache. DockerError otherwise."""

    def bake(self, request: BakeRequest, on_line: Callable[[str | None, str], None]) -> None:
        """Run the bake; every output line goes to ``on_line`` with the bake target it belongs
        to (None: the bake as a whole). BakeFailed when the bake fails, DockerError when the
        engine itself is unusable."""

    def build(self, request: BuildRequest, on_line: Callable[[str], None]) -> None:
        """As ``BuildEngine.build``: one build of docker/test.Dockerfile for the test step."""

    def cancel(self) -> None:
        """Stop the running bake (from another thread, e.g. on Ctrl-C)."""
