"""The unit tests' helper layer: fakes at our own seams that several test files share.

- ``make_target``, ``wheel_name``: a planned target and the wheel file name its build writes;
- ``zip_bytes``: what a fake build writes as that wheel (landing reads the ELF files in it);
- ``Recorder``: a ``build.BuildReporter`` that keeps every call;
- ``FakeIndex``: a ``model.ProjectLookup`` over plain data that records every name asked about;
- ``FakeEngine``, ``run``: a build engine that writes a wheel named after the target (can fail, block
  or misname), and ``build_targets`` over it with a ``Recorder``;
- ``make_elf``: a minimal ELF shared object with the given NEEDED, SONAME and exported symbols.

(The wheel-image fakes, an in-memory registry and an image engine, are in ``fakeimages``; the test
step's engine and index, in ``fakewheeltest``.)
"""

from __future__ import annotations

import io
import struct
import threading
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from muslwheels.build.inputs import BuildOptions
from muslwheels.build.scheduler import TargetResult, build_targets
from muslwheels.config.arches import arch_for_platform, lookup_arch
from muslwheels.config.model import Flavour, Project, Recipe, Target, normalize_name
from muslwheels.engine.interface import BuildRequest, LocalOutput
from muslwheels.errors import BuildError
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


class FakeEngine:
    """Writes a wheel named after the target into the local output; can fail, block or misname."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.prepared: list[tuple[tuple[str, ...], str | None]] = []
        self.requests: list[BuildRequest] = []
        self.fail: dict[str, str] = {}  # MW_PROJECT -> error message
        self.produce: dict[str, list[str]] = {}  # MW_PROJECT -> file names to write instead
        self.deps_seen: dict[str, list[str]] = {}  # MW_PROJECT -> files in the deps context
        self.gate: threading.Barrier | None = None  # builds wait here (proves parallelism)
        self.running = 0
        self.max_running = 0
        self.on_build: Callable[[BuildRequest], None] | None = None
        self.cancelled = threading.Event()

    def prepare(self, platforms: Sequence[str], *, builder: str | None) -> None:
        self.prepared.append((tuple(platforms), builder))

    def build(self, request: BuildRequest, on_line: Callable[[str], None]) -> None:
        args = dict(request.build_args)
        project = args["MW_PROJECT"]
        with self.lock:
            self.requests.append(request)
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        try:
            deps = Path(dict(request.build_contexts)["deps"])
            self.deps_seen[project] = sorted(p.name for p in deps.iterdir())
            on_line(f"#1 building {project}")
            if self.on_build is not None:
                self.on_build(request)
            if self.gate is not None:
                self.gate.wait(timeout=10)
            if project in self.fail:
                raise BuildError(self.fail[project])
            if isinstance(request.output, LocalOutput):
                names = self.produce.get(project)
                if names is None:
                    target = _target_from(request)
                    names = [wheel_name(target)]
                for name in names:
                    (request.output.dest / name).write_bytes(
                        zip_bytes({"built.txt": b"wheel " + name.encode()})
                    )
        finally:
            with self.lock:
                self.running -= 1

    def cancel(self) -> None:
        self.cancelled.set()


def _target_from(request: BuildRequest) -> Target:
    args = dict(request.build_args)
    arch = arch_for_platform(request.platform)
    assert arch is not None, request.platform
    return make_target(
        args["MW_PROJECT"],
        arch.key,
        version=args["MW_VERSION"],
        flavour=Flavour(args["MW_FLAVOUR"]),
    )


def run(
    targets: Sequence[Target], options: BuildOptions, engine: FakeEngine | None = None
) -> tuple[tuple[TargetResult, ...], FakeEngine, Recorder]:
    engine = engine or FakeEngine()
    recorder = Recorder()
    results = build_targets(targets, options=options, engine=engine, reporter=recorder)
    return results, engine, recorder


def make_elf(
    needed: list[str],
    soname: str | None = None,
    *,
    bits: int = 64,
    big: bool = False,
    exports: list[str] | None = None,
    imports: tuple[str, ...] = (),
) -> bytes:
    """A minimal ELF shared object: a header, .dynstr, .dynamic and their section headers, and
    with ``exports`` a .dynsym of those defined symbols and the undefined ``imports``."""
    end = ">" if big else "<"
    strtab = b"\0"
    offsets = {}
    for name in [*needed, *([soname] if soname else []), *(exports or []), *imports]:
        offsets[name] = len(strtab)
        strtab += name.encode() + b"\0"
    entry = end + ("qQ" if bits == 64 else "iI")
    entries = [(1, offsets[name]) for name in needed]
    if soname:
        entries.append((14, offsets[soname]))
    entries.append((0, 0))
    dynamic = b"".join(struct.pack(entry, tag, value) for tag, value in entries)
    symbol = end + ("IBBHQQ" if bits == 64 else "IIIBBH")
    symbols = [(0, 0, 0)] + [(offsets[n], 7, 0x12) for n in exports or []]
    symbols += [(offsets[n], 0, 0x12) for n in imports]  # section 0: undefined
    if bits == 64:
        dynsym = b"".join(struct.pack(symbol, o, i, 0, x, 0, 0) for o, x, i in symbols)
    else:
        dynsym = b"".join(struct.pack(symbol, o, 0, 0, i, 0, x) for o, x, i in symbols)
    header_size = 64 if bits == 64 else 52
    strtab_off = header_size
    dynamic_off = strtab_off + len(strtab)
    dynsym_off = dynamic_off + len(dynamic)
    shoff = dynsym_off + (len(dynsym) if exports is not None else 0)
    word = 8 if bits == 64 else 4
    sections = [
        (0,) * 10,
        (0, 3, 0, 0, strtab_off, len(strtab), 0, 0, 1, 0),
        (0, 6, 0, 0, dynamic_off, len(dynamic), 1, 0, word, 2 * word),
    ]
    if exports is not None:
        sections.append(
            (0, 11, 0, 0, dynsym_off, len(dynsym), 1, 1, word, len(dynsym) // len(symbols))
        )
    if bits == 64:
        shfmt = end + "IIQQQQIIQQ"
        ident = b"\x7fELF" + bytes([2, 2 if big else 1, 1]) + b"\0" * 9
        header = ident + struct.pack(
            end + "HHIQQQIHHHHHH", 3, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, len(sections), 0
        )
    else:
        shfmt = end + "IIIIIIIIII"
        ident = b"\x7fELF" + bytes([1, 2 if big else 1, 1]) + b"\0" * 9
        header = ident + struct.pack(
            end + "HHIIIIIHHHHHH", 3, 40, 1, 0, 0, shoff, 0, 52, 0, 0, 40, len(sections), 0
        )
    assert len(header) == header_size
    body = strtab + dynamic + (dynsym if exports is not None else b"")
    return header + body + b"".join(struct.pack(shfmt, *s) for s in sections)
