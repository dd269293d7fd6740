"""The unit tests' helper layer: fakes at our own seams that several test files share.

- ``make_target``, ``wheel_name``: a planned target and the wheel file name its build writes;
- ``zip_bytes``: what a fake build writes as that wheel (landing reads the ELF files in it);
- ``Recorder``: a ``build.BuildReporter`` that keeps every call;
- ``FakeIndex``: a ``model.ProjectLookup`` over plain data that records every name asked about.

(The wheel-image fakes, an in-memory registry and an image engine, are in ``fakeimages``.)
"""

from __future__ import annotations

import io
import threading
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from muslwheels.build.scheduler import TargetResult
from muslwheels.config.arches import lookup_arch
from muslwheels.config.model import Flavour, Project, Recipe, Target, normalize_name
from muslwheels.sources.pipconfig import IndexSettings

REPO = "registry.test/me/wheels"

#: A package index no test asks over the network.
INDEX = IndexSettings(index_url="https://index.invalid/simple")


def make_target(
    module: str = "alpha",
    arch: str = "amd64",
    *,
    version: str = "1.0",
    python: str = "3.11",
    depends: Sequence[Target | str] = (),
    flavour: Flavour = Flavour.SHARED,
    repository: str | None = REPO,
    ssl: str | None = None,
    recipe: Recipe | None = None,
    base_image: str = "python:3.11-alpine3.20",
    base_digests: Sequence[tuple[str, str]] = (),
) -> Target:
    """The one target factory of the unit tests (``depends``: targets or their ids)."""
    found = lookup_arch(arch)
    assert found is not None
    return Target(
        module=module,
        version=version,
        python=python,
        arch=found,
        ssl=ssl,
        flavour=flavour,
        base_image=base_image,
        repository=repository,
        recipe=recipe or Recipe(),
        depends=tuple(d if isinstance(d, str) else d.id for d in depends),
        base_digests=tuple(base_digests),
    )


def wheel_name(target: Target) -> str:
    """The wheel a fake build of ``target`` writes (cp311, musllinux or linux_<arch>)."""
    machine = target.arch.wheel_machine
    platform = (
        f"linux_{machine}" if target.flavour is Flavour.NO_SHARED else f"musllinux_1_2_{machine}"
    )
    return f"{target.module}-{target.version}-cp311-cp311-{platform}.whl"


def zip_bytes(members: Mapping[str, bytes]) -> bytes:
    """A zip file of ``members`` (name -> bytes): what a fake build writes as a wheel, since
    landing reads the ELF files in it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


class Recorder:
    """A BuildReporter that keeps everything: ``events`` ("started" or the result's status, target
    id), every log ``line`` (and ``by_target``), and the ``finished`` results. Thread-safe."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.lines: list[str] = []
        self.by_target: dict[str, list[str]] = {}
        self.finished: list[TargetResult] = []
        self._lock = threading.Lock()

    def target_started(self, target: Target) -> None:
        with self._lock:
            self.events.append(("started", target.id))

    def target_log(self, target: Target, line: str) -> None:
        with self._lock:
            self.lines.append(line)
            self.by_target.setdefault(target.id, []).append(line)

    def target_finished(self, result: TargetResult) -> None:
        with self._lock:
            self.events.append((result.status, result.target.id))
            self.finished.append(result)


class FakeIndex:
    """A package index over plain data; ``calls``: every name it was asked about, in order.

    ``projects``: ``Project`` objects, or name -> versions (with ``requires_python``: name ->
    {version: Requires-Python}).
    """

    def __init__(
        self,
        projects: Iterable[Project] | Mapping[str, tuple[str, ...]],
        requires_python: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        if isinstance(projects, Mapping):
            requires = requires_python or {}
            projects = [
                Project(name, versions, requires_python=tuple(requires.get(name, {}).items()))
                for name, versions in projects.items()
            ]
        self.projects = {normalize_name(p.name): p for p in projects}
        self.calls: list[str] = []

    def project(self, name: str) -> Project | None:
        self.calls.append(name)
        return self.projects.get(normalize_name(name))


#: The wheel tag of a CPython 3.11 musl x86_64 wheel.
X86 = "cp311-cp311-musllinux_1_2_x86_64"


def metadata_text(name: str, version: str, requires_python: str | None, requires: list[str]) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Requires-Dist: {r}" for r in requires]
    return "\n".join(lines) + "\n\n"


def make_wheel(
    folder: Path,
    name: str,
    version: str = "1.0",
    tag: str = X86,
    *,
    requires_python: str | None = ">=3.8",
    requires: list[str] | None = None,
    metadata: str | None = None,
    module: str | None = None,
) -> Path:
    """A real, installable wheel: one module ``<name>_mod`` printing where it came from."""
    folder.mkdir(parents=True, exist_ok=True)
    escaped = name.replace("-", "_")
    path = folder / f"{escaped}-{version}-{tag}.whl"
    dist = f"{escaped}-{version}.dist-info"
    meta = metadata or metadata_text(name, version, requires_python, requires or [])
    platform = tag.rsplit("-", 1)[1]
    files = {
        f"{module or escaped + '_mod'}.py": f"WHERE = {tag!r}\n",
        f"{dist}/METADATA": meta,
        f"{dist}/WHEEL": (
            f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: "
            f"{'true' if platform == 'any' else 'false'}\nTag: {tag}\n"
        ),
    }
    record = "".join(f"{n},," + "\n" for n in [*files, f"{dist}/RECORD"])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for n, text in files.items():
            archive.writestr(n, text)
        archive.writestr(f"{dist}/RECORD", record)
    return path
