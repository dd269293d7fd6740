"""Fakes at our own seams for the wheel-image code: an in-memory registry (``publish.Published``)
and an engine (``engine.ImageEngine``) that pushes into it, keeps local copies and exports files."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fakes import REPO, make_target, wheel_name

from muslwheels.config.model import Target
from muslwheels.engine.interface import BuildRequest, ExportRequest, ImageOutput
from muslwheels.errors import DockerError, RegistryError

#: REPO, make_target and wheel_name live in fakes (the helper layer); imported from here as well
__all__ = ["REPO", "FakeEngine", "FakeRegistry", "Image", "make_target", "put_wheel", "wheel_name"]


def real_wheel(filename: str, note: bytes = b"") -> bytes:
    """The bytes of a small valid wheel named ``filename`` (METADATA agreeing with the name), with
    ``note`` in a file of its own: equal arguments give equal bytes, so copies can be compared."""
    name, version = filename.split("-")[:2]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        stamp = (2020, 1, 1, 0, 0, 0)
        metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n".encode()
        archive.writestr(zipfile.ZipInfo(f"{name}-{version}.dist-info/METADATA", stamp), metadata)
        archive.writestr(zipfile.ZipInfo(f"{name}/note.txt", stamp), note)
    return out.getvalue()


def put_wheel(root: Path, target: Target, data: bytes | None = None) -> Path:
    """A wheel of ``target`` in ``root/<arch>/`` (its bytes name it, so copies can be compared)."""
    folder = root / target.wheel_dir
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / wheel_name(target)
    path.write_bytes(data if data is not None else published_bytes(target, "wheel of"))
    return path


def published_bytes(target: Target, what: str = "published") -> bytes:
    """A valid wheel of ``target`` holding ``f"{what} {target.id}"``."""
    return real_wheel(wheel_name(target), f"{what} {target.id}".encode())


#: the platform buildx gives an attestation manifest in an image index
ATTESTATION = "unknown/unknown"


@dataclass
class Image:
    platform: str | None  # None: a manifest list
    files: dict[str, bytes] = field(default_factory=dict)
    members: tuple[str, ...] = ()  # a list's source references
    dockerfile: str = ""


def split(ref: str) -> tuple[str, str]:
    repository, _, tag = ref.rpartition(":")
    return repository, tag


class FakeRegistry:
    """``publish.Published`` over a dict; ``fail`` makes every question fail."""

    def __init__(self) -> None:
        self.repos: dict[str, dict[str, Image]] = {}
        self.fail: RegistryError | None = None
        self.asked: list[str] = []

    def put(self, ref: str, image: Image) -> None:
        repository, tag = split(ref)
        self.repos.setdefault(repository, {})[tag] = image

    def get(self, ref: str) -> Image | None:
        repository, tag = split(ref)
        return self.repos.get(repository, {}).get(tag)

    def tags(self, repository: str) -> tuple[str, ...]:
        self.asked.append(f"tags {repository}")
        if self.fail is not None:
            raise self.fail
        return tuple(self.repos.get(repository, {}))

    def platforms(self, image: str) -> tuple[str, ...] | None:
        self.asked.append(f"platforms {image}")
        if self.fail is not None:
            raise self.fail
        found = self.get(image)
        if found is None:
            return None
        if found.platform is not None:
            return (found.platform,)
        # as WheelRegistry reads an index (registry.manifests_in_index): attestations are no platform
        return tuple(
            p for m in found.members if (p := self.platform_of(m)) not in (None, ATTESTATION)
        )

    def platform_of(self, ref: str) -> str | None:
        found = self.get(ref)
        return found.platform if found is not None else None

    def resolve(self, ref: str, platform: str) -> Image | None:
        found = self.get(ref)
        if found is None:
            return None
        if found.platform is not None:
            return found if found.platform == platform else None
        for member in found.members:
            image = self.get(member)
            if image is not None and image.platform == platform:
                return image
        return None


class FakeEngine:
    """``engine.ImageEngine``: pushes into a FakeRegistry (keeping a local copy, as the docker
    driver does), joins lists, exports files; failures per image name on request."""

    def __init__(self, registry: FakeRegistry) -> None:
        self.registry = registry
        self.local: dict[str, Image] = {}
        self.ready = 0
        self.pushed: list[str] = []
        self.lists: list[tuple[str, tuple[str, ...]]] = []
        self.exports: list[tuple[str, str, bool]] = []
        self.fail_push: dict[str, RegistryError] = {}
        self.fail_list: RegistryError | None = None
        self.no_attestations: DockerError | None = None  # the builder cannot attest
        self.requests: list[BuildRequest] = []

    def require_ready(self, *, builder: str | None) -> None:
        self.ready += 1

    def push_image(self, request: BuildRequest, on_line: Callable[[str], None]) -> None:
        assert isinstance(request.output, ImageOutput)
        name = request.output.name
        on_line(f"pushing {name}")
        if name in self.fail_push:
            raise self.fail_push[name]
        files = {p.name: p.read_bytes() for p in sorted(request.context.iterdir())}
        image = Image(request.platform, files, dockerfile=request.dockerfile.read_text())
        if request.attest:
            # buildx pushes an index: the image and its attestation manifest (unknown/unknown)
            self.registry.put(f"{name}-image", image)
            self.registry.put(f"{name}-attestation", Image(ATTESTATION, {"provenance.json": b"{}"}))
            self.registry.put(name, Image(None, members=(f"{name}-image", f"{name}-attestation")))
        else:
            self.registry.put(name, image)
        self.local[name] = image
        self.pushed.append(name)
        self.requests.append(request)

    def create_manifest_list(
        self, name: str, sources: Sequence[str], *, builder: str | None
    ) -> None:
        if self.fail_list is not None:
            raise self.fail_list
        members: list[str] = []
        for source in sources:
            found = self.registry.get(source)
            assert found is not None, f"{source} is not in the registry"
            # as imagetools create does: an index's entries, attestations included, are copied
            members.extend(found.members if found.platform is None else (source,))
        self.registry.put(name, Image(None, members=tuple(members)))
        self.lists.append((name, tuple(sources)))

    def local_image_exists(self, ref: str) -> bool:
        return ref in self.local

    def require_attestations(self, *, builder: str | None) -> None:
        if self.no_attestations is not None:
            raise self.no_attestations

    def export_image(self, request: ExportRequest, on_line: Callable[[str], None]) -> None:
        ref, platform, dest, pull = request.ref, request.platform, request.dest, request.pull
        self.exports.append((ref, platform, pull))
        image = None
        local = self.local.get(ref)
        if not pull and local is not None and local.platform == platform:
            image = local
        if image is None:
            image = self.registry.resolve(ref, platform)
        if image is None:
            raise RegistryError(f"image {ref} does not exist", hint="check the tag")
        dest.mkdir(parents=True)
        for name, data in image.files.items():
            path = dest / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
