"""Wheel images in the registry: pushing them, and reusing published wheels instead of building.

**What an image holds.** The per-arch image of a target (tag ``<module>[-ssl]<version>-py<X.Y>-
<archtag>``) is ``FROM scratch`` with, at ``/``, the target's wheels *and the wheels of every
dependency it was built against* (same Python and arch), so one ``COPY --from`` brings everything
pip needs. The image is made from the verified files in ``wheels/<arch>/`` (a build context of
hard links and a two-line Dockerfile; nothing runs), not by building again: what is pushed is byte
for byte what ``build`` verified, and ``push`` works in a later process (Docker Hub's push hook).
The multi-arch tag ``<module>[-ssl]<version>-py<X.Y>`` is a manifest list of every per-arch tag of
that version the repository holds after the push (``docker buildx imagetools create``), so arches
pushed by earlier runs stay in it.

**What is pushed.** Every requested target; a dependency only when the registry lacks its per-arch
tag (later builds can then reuse it). A target whose wheels are not in ``wheels/`` fails (run
``build`` first); one failing push stops nothing else; the multi-arch tag of a version is made again
whenever at least one of its per-arch images was pushed, so it always matches the per-arch tags.

**Reuse.** Before building, a target whose wheel is not in ``wheels/<arch>/`` is looked for as a
published image: first in the engine's local image store, then in the registry (``WHEELS_FORCE_
PULL``: registry only). A dependency is always looked for; a requested target unless
``NO_SELF_PULL``. Found: its wheels are extracted (verified, atomic) and the build skips it. Not
found, or the registry cannot be asked: it is built, with a note.

Registry credentials are Docker's own (``docker login``): the engine pushes with them and
``registry.WheelRegistry`` reads them; nothing secret is printed or stored here.
"""

from __future__ import annotations

import json
import re
import shlex
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..build.wheelstore import WheelFolders, link_or_copy
from ..config.arches import ARCHES
from ..config.model import Target
from ..engine.interface import BuildRequest, ImageEngine, ImageOutput
from ..errors import DockerError, RegistryError
from ..plan.graph import transitive_deps
from ..wheeltest.records import read_record
from .extract import ExtractJob, ExtractOptions, extract_one

# --- seams -------------------------------------------------------------------------------------------


class Published(Protocol):
    """What the wheel registry holds (registry.WheelRegistry implements it, asking afresh)."""

    def tags(self, repository: str) -> tuple[str, ...]:
        """Every tag of ``repository`` (() when it does not exist). RegistryError on failure."""

    def platforms(self, image: str) -> tuple[str, ...] | None:
        """The platforms of ``image``; None when there is no such tag. RegistryError on failure."""


# --- repositories ------------------------------------------------------------------------------------


# --- the wheel image ---------------------------------------------------------------------------------

_LABEL_VALUE = re.compile(r"[\w .,:;/()+@<>=~!#%-]{1,200}")


def image_labels(
    target: Target,
    *,
    revision: str | None = None,
    runtime_packages: Sequence[str] = (),
    base_image: str | None = None,
) -> tuple[tuple[str, str], ...]:
    """OCI labels of a target's wheel image (only values that are plain text). Pure.
    ``runtime_packages``: the system packages a no-shared wheel needs (README "Runtime packages");
    ``base_image``: what the wheels were built and tested on, ``<repository>@<digest>`` (as
    recorded beside them; None: the plan's digest for the target's platform, if any)."""
    labels = [
        ("org.opencontainers.image.title", target.tag),
        ("org.opencontainers.image.version", target.version),
        (
            "org.opencontainers.image.description",
            f"musl-wheels: {target.module} {target.version} wheels for Python {target.python} "
            f"on {target.platform} ({target.flavour.value})",
        ),
    ]
    if revision:
        labels.append(("org.opencontainers.image.revision", revision))
    pinned = base_image or target.base_image_on(target.platform)
    if pinned is not None and "@" in pinned:
        labels.append(("org.opencontainers.image.base.name", target.base_image))
        labels.append(("org.opencontainers.image.base.digest", pinned.rsplit("@", 1)[1]))
        labels.append(("io.musl-wheels.base-image", pinned))
    if runtime_packages:
        labels.append(("io.musl-wheels.runtime-packages", " ".join(runtime_packages)))
    return tuple((k, v) for k, v in labels if _LABEL_VALUE.fullmatch(v))


def wheel_image_dockerfile(labels: Sequence[tuple[str, str]]) -> str:
    """The Dockerfile of a wheel image: nothing but the wheels of the context, at /. Pure."""
    lines = ["# musl-wheels wheel image: only wheels, at /", "FROM scratch"]
    if labels:
        lines.append("LABEL " + " ".join(f"{k}={json.dumps(v)}" for k, v in labels))
    lines.append("COPY *.whl /")
    return "\n".join(lines) + "\n"


def wheel_image_request(
    target: Target, workdir: Path, *, builder: str | None, push: bool = True, attest: bool = False
) -> BuildRequest:
    """The build of ``target``'s wheel image from ``workdir`` (``Dockerfile`` + ``context/``);
    ``attest``: with BuildKit's provenance and SBOM attestations."""
    return BuildRequest(
        context=workdir / "context",
        dockerfile=workdir / "Dockerfile",
        platform=target.platform,
        build_args=(),
        build_contexts=(),
        secrets=(),
        output=ImageOutput(target.image, push=push),
        builder=builder,
        attest=attest,
    )


def dependencies(target: Target, by_id: Mapping[str, Target]) -> tuple[Target, ...]:
    """Every target of ``by_id`` that ``target`` needs, nearest first, each once. Pure."""

    def depends(target_id: str) -> tuple[str, ...]:
        return by_id[target_id].depends if target_id in by_id else ()

    found = transitive_deps(target.id, depends)
    return tuple(by_id[d] for d in found if d in by_id)


def image_wheels(
    target: Target,
    by_id: Mapping[str, Target],
    wheels_root: Path,
    folders: WheelFolders | None = None,
) -> tuple[Path, ...]:
    """The files of ``target``'s image: its wheels, then its dependencies' (from
    ``wheels_root/<arch>/``, listed through ``folders``). RegistryError naming what is missing."""
    folders = folders or WheelFolders(wheels_root)
    folder = wheels_root / target.wheel_dir
    own = folders.fitting(target)
    if not own:
        raise RegistryError(
            f"{target.tag}: no wheel of it in {folder}, so there is nothing to push",
            hint="run `invoke build` for it first (or `invoke build --push`)",
        )
    paths = [folder / n for n in own]
    records = [r for r in (read_record(folder, n) for n in own) if r is not None]
    if records:
        # tested wheels: the image holds their runtime closure, not what was needed to build
        for name in (n for r in records for n in r.closure):
            if not (folder / name).is_file():
                raise RegistryError(
                    f"{target.tag}: {name} of its runtime closure is not in {folder}",
                    hint="run `invoke build --force` for it to gather the closure again",
                )
            paths.append(folder / name)
        return tuple(dict.fromkeys(paths))
    for dep in dependencies(target, by_id):
        found = folders.fitting(dep)
        if not found:
            raise RegistryError(
                f"{target.tag}: the wheel of its dependency {dep.tag} is not in "
                f"{wheels_root / dep.wheel_dir}, and its image carries its dependencies",
                hint="run `invoke build` (or `invoke pre-build`) for it first",
            )
        paths.extend(wheels_root / dep.wheel_dir / n for n in found if n not in own)
    return tuple(dict.fromkeys(paths))


# --- results -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushResult:
    target: Target
    status: str  # "pushed", "would-push", "present" (a dependency the registry has) or "failed"
    seconds: float = 0.0
    wheels: tuple[str, ...] = ()  # what the image holds
    message: str = ""
    hint: str = ""


@dataclass(frozen=True)
class ManifestResult:
    name: str  # <repository>:<multi-arch tag>
    arches: tuple[str, ...]  # arch keys joined, in ARCHES order
    status: str  # "created", "would-create", "failed" or "not-updated"
    message: str = ""
    hint: str = ""


@dataclass(frozen=True)
class PushReport:
    results: tuple[PushResult, ...]
    manifests: tuple[ManifestResult, ...]
    notes: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return any(r.status == "failed" for r in self.results) or any(
            m.status == "failed" for m in self.manifests
        )

    def failure(self) -> RegistryError | None:
        """One error summing up what failed (None when nothing did)."""
        failed = [r for r in self.results if r.status == "failed"]
        lists = [m for m in self.manifests if m.status == "failed"]
        if not failed and not lists:
            return None
        pushed = [r for r in self.results if r.status == "pushed"]
        parts = []
        if failed:
            parts.append(f"{len(failed)} of {len(failed) + len(pushed)} image(s) not pushed")
        if lists:
            parts.append(f"{len(lists)} multi-arch tag(s) not made")
        message, hint = (
            (failed[0].message, failed[0].hint) if failed else (lists[0].message, lists[0].hint)
        )
        return RegistryError(
            "push incomplete: " + ", ".join(parts) + f"; first failure: {message}",
            hint=(hint + "; " if hint else "")
            + "wheels/ is unchanged; run `invoke push` again to finish",
        )


@dataclass(frozen=True)
class PushOptions:
    wheels_root: Path
    dry_run: bool = False  # NO_PUSH / NOOP: report what would be pushed
    builder: str | None = None
    revision: str | None = None  # SOURCE_COMMIT: the image's org.opencontainers.image.revision
    temp_root: Path | None = None
    attest: bool = False  # --attest: BuildKit's provenance and SBOM attestations on each image


# --- pushing -----------------------------------------------------------------------------------------


class _Pusher:
    def __init__(
        self,
        targets: Sequence[Target],
        requested: Sequence[str],
        *,
        options: PushOptions,
        engine: ImageEngine,
        registry: Published,
        on_line: Callable[[str], None],
    ) -> None:
        self.targets = tuple(targets)
        self.requested = set(requested)
        self.options = options
        self.engine = engine
        self.registry = registry
        self.on_line = on_line
        self.by_id = {t.id: t for t in targets}
        self.notes: list[str] = []
        self._tags: dict[str, tuple[str, ...]] = {}
        self.folders = WheelFolders(options.wheels_root)  # pushing never changes wheels/

    def tags(self, repository: str) -> tuple[str, ...]:
        if repository not in self._tags:
            self._tags[repository] = self.registry.tags(repository)
        return self._tags[repository]

    def wanted(self, target: Target) -> bool:
        """Requested targets always; a dependency when the registry lacks it."""
        if target.id in self.requested:
            return True
        try:
            return target.tag not in self.tags(target.wheel_repository)
        except RegistryError as err:
            if not self.options.dry_run:
                raise
            self.notes.append(f"could not ask the registry whether it has {target.image}: {err}")
            return True

    def run(self) -> PushReport:
        todo = [t for t in self.targets if self.wanted(t)]
        results: list[PushResult] = [
            PushResult(t, "present", message="already in the registry")
            for t in self.targets
            if t not in todo
        ]
        if todo and not self.options.dry_run:
            self.engine.require_ready(builder=self.options.builder)
            if self.options.attest:
                self.engine.require_attestations(builder=self.options.builder)
        for target in todo:
            results.append(self.push_one(target))
        order = {t.id: i for i, t in enumerate(self.targets)}
        results.sort(key=lambda r: order[r.target.id])
        manifests = self.join(results)
        return PushReport(tuple(results), manifests, tuple(self.notes))

    def push_one(self, target: Target) -> PushResult:
        start = time.monotonic()
        try:
            paths = image_wheels(target, self.by_id, self.options.wheels_root, self.folders)
        except RegistryError as err:
            if not self.options.dry_run:
                return PushResult(target, "failed", message=str(err), hint=err.hint or "")
            self.notes.append(f"{err} (a dry run builds nothing)")
            paths = ()
        names = tuple(p.name for p in paths)
        folder = self.options.wheels_root / target.wheel_dir
        records = [read_record(folder, p.name) for p in paths if p.parent == folder]
        labels = image_labels(
            target,
            revision=self.options.revision,
            runtime_packages=tuple(
                dict.fromkeys(n for r in records if r is not None for n in r.runtime_packages)
            ),
            base_image=next((r.base_image for r in records if r and r.base_image), None),
        )
        if self.options.dry_run:
            request = wheel_image_request(
                target, Path("<tmp>"), builder=self.options.builder, attest=self.options.attest
            )
            return PushResult(
                target, "would-push", wheels=names, message=shlex.join(request.command_line())
            )
        with tempfile.TemporaryDirectory(
            prefix="muslwheels-image-", dir=self.options.temp_root
        ) as tmp:
            workdir = Path(tmp)
            (workdir / "context").mkdir()
            for path in paths:
                link_or_copy(path, workdir / "context" / path.name)
            (workdir / "Dockerfile").write_text(wheel_image_dockerfile(labels), encoding="utf-8")
            request = wheel_image_request(
                target, workdir, builder=self.options.builder, attest=self.options.attest
            )
            self.on_line(f"muslwheels: pushing {target.image} ({', '.join(names)})")
            try:
                self.engine.push_image(request, self.on_line)
            except RegistryError as err:
                return PushResult(
                    target,
                    "failed",
                    time.monotonic() - start,
                    names,
                    str(err),
                    err.hint or "",
                )
        return PushResult(target, "pushed", time.monotonic() - start, names)

    def join(self, results: Sequence[PushResult]) -> tuple[ManifestResult, ...]:
        """The multi-arch tag of every version with a per-arch image pushed in this run."""
        groups: dict[tuple[str, str], list[PushResult]] = {}
        for r in results:
            if r.status != "present":
                key = (r.target.wheel_repository, r.target.version_tag)
                groups.setdefault(key, []).append(r)
        manifests: list[ManifestResult] = []
        for (repository, version_tag), members in groups.items():
            name = f"{repository}:{version_tag}"
            done = [r for r in members if r.status in ("pushed", "would-push")]
            if not done:
                manifests.append(
                    ManifestResult(
                        name,
                        (),
                        "not-updated",
                        "none of its per-arch images was pushed in this run",
                    )
                )
                continue
            manifests.append(self.join_one(name, repository, version_tag, done))
        return tuple(manifests)

    def join_one(
        self, name: str, repository: str, version_tag: str, done: Sequence[PushResult]
    ) -> ManifestResult:
        self._tags.pop(repository, None)  # the pushes just changed it
        try:
            present = set(self.tags(repository))
        except RegistryError as err:
            if not self.options.dry_run:
                return ManifestResult(name, (), "failed", str(err), err.hint or "")
            self.notes.append(f"could not list {repository}: {err}")
            present = set()
        if self.options.dry_run:
            present |= {r.target.tag for r in done}
        arches = [a for a in ARCHES if f"{version_tag}-{a.tag}" in present]
        sources = [f"{repository}:{version_tag}-{a.tag}" for a in arches]
        keys = tuple(a.key for a in arches)
        if not sources:
            return ManifestResult(
                name,
                (),
                "failed",
                f"the registry lists no per-arch tag of {version_tag} in {repository} "
                "right after pushing one",
                "check that the repository is the one pushed to",
            )
        if self.options.dry_run:
            return ManifestResult(
                name,
                keys,
                "would-create",
                "docker buildx imagetools create -t " + shlex.join([name, *sources]),
            )
        self.on_line(f"muslwheels: joining {name} from {', '.join(sources)}")
        try:
            self.engine.create_manifest_list(name, sources, builder=self.options.builder)
        except RegistryError as err:
            return ManifestResult(name, keys, "failed", str(err), err.hint or "")
        return ManifestResult(name, keys, "created")


def push_targets(
    targets: Sequence[Target],
    requested: Sequence[str],
    *,
    options: PushOptions,
    engine: ImageEngine,
    registry: Published,
    on_line: Callable[[str], None] = lambda _line: None,
) -> PushReport:
    """Push the wheel images of ``targets`` (a plan: dependencies before dependents) and make
    their multi-arch tags. A failed push is a result, not an error; ``report.failure()`` sums
    them up. Raises DockerError when the engine cannot work at all."""
    return _Pusher(
        targets, requested, options=options, engine=engine, registry=registry, on_line=on_line
    ).run()


# --- reuse -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReuseResult:
    target: Target
    status: str  # "reused" or "would-reuse"
    seconds: float = 0.0
    wheels: tuple[str, ...] = ()
    message: str = ""  # where the wheels came from


@dataclass(frozen=True)
class ReuseOptions:
    wheels_root: Path
    self_pull: bool = True  # NO_SELF_PULL=1 -> False: requested targets are always built
    force_pull: bool = False  # WHEELS_FORCE_PULL: ignore local images, ask the registry
    dry_run: bool = False
    builder: str | None = None
    temp_root: Path | None = None

    @property
    def extract(self) -> ExtractOptions:
        """How a published image's wheels are brought into wheels/."""
        return ExtractOptions(self.wheels_root, self.force_pull, self.builder, self.temp_root)


@dataclass(frozen=True)
class ReuseReport:
    results: tuple[ReuseResult, ...]  # only the targets reused (or that would be)
    notes: tuple[str, ...] = ()

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(r.target.id for r in self.results)


def _where(
    target: Target, options: ReuseOptions, engine: ImageEngine, registry: Published
) -> tuple[str | None, str | None]:
    """("local image" / "registry" / None, a note when the lookup itself failed)."""
    if not options.force_pull:
        try:
            if engine.local_image_exists(target.image):
                return "local image", None
        except DockerError as err:
            if not options.dry_run:
                raise
            return None, f"could not ask Docker about {target.image}: {err}"
    try:
        found = registry.platforms(target.image)
    except RegistryError as err:
        return (
            None,
            f"{target.tag}: could not ask the registry for {target.image} ({err}); building it",
        )
    return ("registry" if found else None), None


def reuse_published(
    targets: Sequence[Target],
    requested: Sequence[str],
    *,
    options: ReuseOptions,
    engine: ImageEngine,
    registry: Published,
    on_line: Callable[[str], None] = lambda _line: None,
) -> ReuseReport:
    """Bring the published wheels of ``targets`` that are not in ``wheels/`` yet into it, so the
    build that follows skips them. What cannot be reused is left to the build, with a note."""
    wanted = set(requested)
    results: list[ReuseResult] = []
    notes: list[str] = []
    folders = WheelFolders(options.wheels_root)  # each wheels/<arch>/ listed once
    for target in targets:
        if target.id in wanted and not options.self_pull:
            continue
        if folders.fitting(target):
            continue
        where, note = _where(target, options, engine, registry)
        if note:
            notes.append(note)
        if where is None:
            continue
        source = f"{target.image} ({where})"
        if options.dry_run:
            results.append(ReuseResult(target, "would-reuse", message=source))
            continue
        start = time.monotonic()
        try:
            names = extract_one(
                ExtractJob(target, target.image), options.extract, engine=engine, on_line=on_line
            )
        except RegistryError as err:
            notes.append(f"{target.tag}: could not reuse {target.image} ({err}); building it")
            continue
        results.append(
            ReuseResult(
                target,
                "reused",
                time.monotonic() - start,
                names,
                f"from {source}; tested when it was built",
            )
        )
        folders = WheelFolders(options.wheels_root)  # it has new wheels now
    return ReuseReport(tuple(results), tuple(notes))
