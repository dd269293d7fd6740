"""The test step of a target, after its wheel was built and repaired (README "Tests").

In a clean container of the target's base image on the target's platform (``docker/test.Dockerfile``;
QEMU for a foreign one, in cross mode too: the test is what runs under emulation there), nothing from
the build stage:

1. ``probe``: the target interpreter's marker variables and the wheel tags it accepts (once per base
   image and platform in a run; BuildKit keeps the layer);
2. the runtime closure (``wheeltest/closure.py``): our own builds of modules.toml modules from
   ``wheels/<arch>/``, everything else from the index through pip (``IndexWheels``), only wheels whose
   tags the probe accepts; a requirement with no such wheel but an sdist on the index raises
   ``NeedsExtras``: the scheduler builds it as an extra dependency target, then runs the step again;
3. ``owners`` (no-shared flavour, only when the wheel needs libraries the clean image lacks): which
   system packages hold them (apk ``--who-owns`` / ``dpkg -S`` with the module's build packages in place);
4. the test: those runtime packages installed, the wheel installed from its closure alone
   (``pip install --no-index``), ``test_requires`` from the index, then the module's ``test`` command
   or an import of every top-level and extension module the wheel holds.

A failure anywhere is a BuildError: the target fails and nothing of it lands. The pieces it reads
and writes are their own modules: ``probe`` (1), ``closure`` (2), ``owners`` (3), ``recipe`` (4) and
``records`` (what a pass leaves beside the wheel).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from ..build.inputs import IndexSource, SdistSource
from ..build.wheelstore import link_or_copy
from ..config.model import Target
from ..errors import BuildError
from ..verify.fit import wheel_fits
from ..verify.wheelinfo import WheelContents, read_wheel
from .closure import Candidate, Closure, marker_environment, resolve_closure
from .owners import RuntimePackages, parse_owners, runtime_label
from .probe import Probe, parse_probe
from .recipe import describe_test, wheel_test_files

# --- wheels to choose from ------------------------------------------------------------------------


def own_wheels(target: Target, name: str, wheels_root: Path) -> list[Path]:
    """Our builds of project ``name`` in ``wheels_root/<arch>/`` that fit ``target``'s Python,
    machine and flavour, newest first."""
    folder = wheels_root / target.wheel_dir
    key = canonicalize_name(name)
    found: list[tuple[Version, Path]] = []
    try:
        files = sorted(folder.iterdir())
    except FileNotFoundError:
        return []
    for path in files:
        try:
            project, version, _, _ = parse_wheel_filename(path.name)
        except (InvalidWheelFilename, InvalidVersion):
            continue
        if project != key:
            continue
        like = replace(target, module=name, version=str(version))
        if wheel_fits(path.name, like):
            found.append((version, path))
    return [p for _, p in sorted(found, key=lambda item: item[0], reverse=True)]


class _Finder:
    """closure.WheelFinder over wheels/<arch>/ (our builds) and the index (through pip)."""

    def __init__(
        self,
        target: Target,
        probe: Probe,
        wheels_root: Path,
        index: IndexSource,
        dest: Path,
        *,
        sdists: SdistSource | None = None,
    ) -> None:
        self.target = target
        self.probe = probe
        self.wheels_root = wheels_root
        self.index_source = index
        self.dest = dest
        self.sdists = sdists
        self.paths: dict[str, Path] = {}

    def _candidate(self, path: Path) -> Candidate:
        contents = read_wheel(path)
        self.paths[path.name] = path
        return Candidate(contents.name, contents.version, path.name, contents.requires_dist)

    def own(self, name: str) -> Candidate | None:
        for path in own_wheels(self.target, name, self.wheels_root):
            if self.probe.accepts(path.name):
                return self._candidate(path)
        return None

    def index(self, requirement: Requirement) -> Candidate | None:
        args = self.probe.pip_target_args(self.target.python)
        path = self.index_source.download(str(requirement), args, self.dest)
        if path is None or not self.probe.accepts(path.name):
            return None
        return self._candidate(path)

    def built(self, name: str) -> Candidate | None:
        # an extra dependency target's wheel lands in wheels/<arch>/ like a module's
        return self.own(name)

    def sdist(self, requirement: Requirement) -> tuple[str, str] | None:
        if self.sdists is None:
            return None
        return self.sdists.newest(requirement, self.target.python)


def gather_closure(
    target: Target,
    contents: WheelContents,
    wheel: Path,
    *,
    probe: Probe,
    modules: Sequence[str],
    wheels_root: Path,
    index: IndexSource,
    dest: Path,
    sdists: SdistSource | None = None,
) -> tuple[Closure, dict[str, Path]]:
    """The runtime closure of ``wheel`` for ``target``, and where each of its wheels is."""
    finder = _Finder(target, probe, wheels_root, index, dest, sdists=sdists)
    root = Candidate(contents.name, contents.version, wheel.name, contents.requires_dist)
    closure = resolve_closure(
        root,
        environment=marker_environment(target, probe.markers),
        modules=modules,
        finder=finder,
    )
    return closure, finder.paths


def closure_failure(target: Target, closure: Closure) -> str:
    listed = "; ".join(m.describe() for m in closure.missing)
    return f"{target.tag}: the runtime closure is incomplete: {listed}"


@dataclass(frozen=True)
class ExtraNeed:
    """A runtime requirement to build as an extra dependency target (closure.Missing.build)."""

    name: str  # as the index spells it
    version: str
    chain: tuple[str, ...]  # root first, ending with the project whose metadata asks for it
    requirement: str


class TestFailed(BuildError):
    """The wheel built, but its test failed on the target's platform (mode auto then builds the
    target again in emulation when the wheel was cross-compiled)."""


class NeedsExtras(BuildError):
    """The closure needs projects the index has only as sdists. The scheduler builds them as extra
    dependency targets and runs the test step again; where nobody does (bake), it is the failure
    its message says."""

    def __init__(self, target: Target, closure: Closure, wheels: Sequence[Path]) -> None:
        needs: dict[tuple[str, str], ExtraNeed] = {}
        for missing in closure.missing:
            assert missing.build is not None  # Closure.buildable
            name, version = missing.build
            key = (canonicalize_name(name), version)
            needs.setdefault(key, ExtraNeed(name, version, missing.chain, missing.requirement))
        self.extras = tuple(needs.values())
        self.wheels = tuple(wheels)
        listed = ", ".join(f"{e.name} {e.version}" for e in self.extras)
        super().__init__(
            f"{closure_failure(target, closure)} (to build as extra dependency targets: {listed})",
            hint="`invoke build` builds a runtime requirement the index has only as an sdist",
        )


def _not_tested(reason: str | None) -> str:
    return f"test off: {reason}" if reason is not None else "not tested (--no-test)"


# --- the step -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tested:
    """What the test step gives the build: the closure's wheels and what to say about the test."""

    closure: tuple[
        Path, ...
    ]  # the closure's wheels (ours in wheels/<arch>/, the index's elsewhere)
    summary: str  # e.g. "tested: import msgpack, msgpack._cmsgpack"
    runtime_packages: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    extras: tuple[tuple[str, str], ...] = ()  # (name, version) of the closure's extra targets


RunBuild = Callable[[str, Target, Mapping[str, Path], Path, Callable[[str], None]], None]


class WheelTestStep:
    """The test step for every target of a run (threads share it: the probe memo is locked).

    ``run_build(stage, target, contexts, out_dir, on_line)`` runs one build of docker/test.Dockerfile
    (build/scheduler.py makes the request: secrets, network, builder).
    """

    def __init__(
        self,
        *,
        run_build: RunBuild,
        modules: Sequence[str],
        wheels_root: Path,
        index: IndexSource,
        temp_root: Path | None = None,
        sdists: SdistSource | None = None,
    ) -> None:
        self.run_build = run_build
        self.modules = tuple(modules)
        self.wheels_root = wheels_root
        self.index = index
        self.sdists = sdists
        self.temp_root = temp_root
        self._probes: dict[tuple[str, str], Probe] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()

    def probe(self, target: Target, workdir: Path, on_line: Callable[[str], None]) -> Probe:
        key = (target.base_image, target.platform)
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._probes:
                out = workdir / "probe"
                out.mkdir(parents=True, exist_ok=True)
                on_line(f"muslwheels: test: what {target.base_image} on {target.platform} accepts")
                self.run_build("probe", target, {}, out, on_line)
                try:
                    self._probes[key] = parse_probe(
                        (out / "probe.json").read_text(encoding="utf-8")
                    )
                except (OSError, ValueError) as err:
                    raise BuildError(
                        f"{target.tag}: the base image's Python did not say which wheels it "
                        f"accepts ({err})"
                    ) from None
            return self._probes[key]

    def run(
        self,
        target: Target,
        wheels: Sequence[Path],
        workdir: Path,
        on_line: Callable[[str], None],
        *,
        test: bool = True,
    ) -> Tested:
        """Gather ``target``'s closure and (unless ``test`` is False) test it. ``wheels``: what the
        build produced (verified). BuildError when the closure is incomplete or the test fails;
        NeedsExtras when all it lacks are projects the index has as sdists."""
        workdir.mkdir(parents=True, exist_ok=True)
        wheel = wheels[0]
        contents = read_wheel(wheel)
        reason = target.recipe.no_test
        testing = test and reason is None
        if not testing and not contents.requires_dist:
            # nothing to gather and nothing to test: the probe is not needed either
            on_line(f"muslwheels: {_not_tested(reason)}; no runtime requirements")
            return Tested((), _not_tested(reason))
        probe = self.probe(target, workdir, on_line)
        downloads = workdir / "downloads"
        downloads.mkdir(exist_ok=True)
        closure, paths = gather_closure(
            target,
            contents,
            wheel,
            probe=probe,
            modules=self.modules,
            wheels_root=self.wheels_root,
            index=self.index,
            dest=downloads,
            sdists=self.sdists,
        )
        for entry in closure.entries:
            on_line(
                f"muslwheels: closure: {entry.candidate.filename} ({entry.origin}; "
                f"{' -> '.join(entry.chain)})"
            )
        if closure.buildable:
            raise NeedsExtras(target, closure, wheels)
        if not closure.complete:
            raise BuildError(closure_failure(target, closure))
        closure_paths = tuple(paths[e.candidate.filename] for e in closure.entries)
        extras = tuple(
            (e.candidate.name, e.candidate.version) for e in closure.entries if e.origin == "extra"
        )
        if not testing:
            on_line(f"muslwheels: {_not_tested(reason)}")
            return Tested(closure_paths, _not_tested(reason), extras=extras)
        packages = RuntimePackages()
        contexts_dir = workdir / "test"
        closure_dir = contexts_dir / "closure"
        recipe_dir = contexts_dir / "recipe"
        for folder in (closure_dir, recipe_dir):
            folder.mkdir(parents=True, exist_ok=True)
        for path in (*wheels, *closure_paths):
            link_or_copy(path, closure_dir / path.name)

        def write_recipe(found: RuntimePackages) -> None:
            for name, text in wheel_test_files(target, contents, found).items():
                (recipe_dir / name).write_text(text, encoding="utf-8")

        write_recipe(packages)
        contexts = {"closure": closure_dir, "testrecipe": recipe_dir}
        if contents.needed_from_outside() and target.flavour.value == "no-shared":
            out = workdir / "owners"
            out.mkdir(exist_ok=True)
            on_line("muslwheels: test: which packages hold the libraries the wheel links")
            self.run_build("owners", target, contexts, out, on_line)
            packages = parse_owners((out / "owners.txt").read_text(encoding="utf-8"))
            for note in packages.notes:
                on_line(f"muslwheels: note: {note}")
            if packages.names:
                on_line(f"muslwheels: {runtime_label(packages)}")
            write_recipe(packages)
        out = workdir / "report"
        out.mkdir(exist_ok=True)
        on_line(f"muslwheels: test on {target.platform} in a clean {target.base_image}")
        try:
            self.run_build("report", target, contexts, out, on_line)
        except BuildError as err:
            raise TestFailed(f"test failed: {err}") from None
        try:
            report = (out / "report.txt").read_text(encoding="utf-8").split()
        except OSError:
            report = []
        if report[-1:] != ["passed"]:
            raise TestFailed("test failed: the test left no report that it passed")
        # said here too: BuildKit replays an unchanged test from its cache without its output
        on_line(f"muslwheels: test passed on {target.platform}")
        summary = describe_test(target, contents)
        if packages.names:
            summary += f"; {runtime_label(packages)}"
        for note in packages.notes:
            summary += f"; note: {note}"
        return Tested(closure_paths, summary, packages.names, packages.notes, extras)
