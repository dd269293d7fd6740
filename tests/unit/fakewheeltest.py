"""Fakes of the unit tests of the test step (test_wheeltest.py) and of extra targets
(test_extras.py), at our own seams: a build engine that writes real wheels and answers
docker/test.Dockerfile's stages (``Engine``; ``BakingEngine`` bakes by running each build), an
index source of prepared wheels (``Index``), and the runs over them (``build``, ``bake``)."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from fakes import Recorder

from muslwheels.build.bake import BakeSettings, bake_targets
from muslwheels.build.inputs import BuildOptions, WheelTestSettings
from muslwheels.build.scheduler import TargetResult, build_targets
from muslwheels.config.model import Target
from muslwheels.engine.interface import BakeFailed, BakeRequest, BuildRequest, LocalOutput
from muslwheels.errors import BuildError
from muslwheels.sources.pipconfig import IndexSettings

INDEX = IndexSettings(index_url="https://index.invalid/simple")
TAGS = ["cp311-cp311-musllinux_1_2_x86_64", "cp311-abi3-musllinux_1_2_x86_64", "py3-none-any"]
PROBE = json.dumps(
    {"markers": {"python_full_version": "3.11.9", "platform_machine": "x86_64"}, "tags": TAGS}
)


def make_wheel(
    folder: Path,
    name: str,
    version: str,
    tag: str = "py3-none-any",
    *,
    requires: Sequence[str] = (),
    files: dict[str, bytes] | None = None,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name.replace('-', '_')}-{version}-{tag}.whl"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in (files or {f"{name.replace('-', '_')}/__init__.py": b""}).items():
            archive.writestr(member, data)
        archive.writestr(f"{name.replace('-', '_')}-{version}.dist-info/METADATA", meta)
    return path


class Index:
    """IndexSource over prepared wheels: the newest whose name matches (specifiers ignored)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.asked: list[tuple[str, tuple[str, ...]]] = []

    def download(self, requirement: str, target_args: Sequence[str], dest: Path) -> Path | None:
        self.asked.append((requirement, tuple(target_args)))
        name = (
            requirement.split("<", maxsplit=1)[0]
            .split(">", maxsplit=1)[0]
            .split("=", maxsplit=1)[0]
            .strip()
        )
        found = sorted(self.folder.glob(f"{name}-*.whl"))
        if not found:
            return None
        copy = dest / found[-1].name
        copy.write_bytes(found[-1].read_bytes())
        return copy


class Engine:
    """The build writes a real wheel; the test stages answer from ``probe`` / ``owners`` /
    ``test_fails``."""

    def __init__(self, requires: dict[str, list[str]], files: dict[str, dict[str, bytes]]) -> None:
        self.requires = requires
        self.files = files
        self.owners = ""
        self.test_fails: set[str] = set()
        self.stages: list[tuple[str | None, str]] = []
        self.recipes: dict[str, dict[str, str]] = {}

    def prepare(self, platforms: Sequence[str], *, builder: str | None) -> None:
        pass

    def build(self, request: BuildRequest, on_line: Callable[[str], None]) -> None:
        assert isinstance(request.output, LocalOutput)
        out = request.output.dest
        args = dict(request.build_args)
        if request.dockerfile.name == "Dockerfile":
            project = args["MW_PROJECT"]
            self.stages.append((None, project))
            tag = (
                "cp311-cp311-linux_x86_64"
                if args["MW_FLAVOUR"] == "no-shared"
                else "cp311-cp311-musllinux_1_2_x86_64"
            )
            make_wheel(
                out,
                project,
                args["MW_VERSION"],
                tag,
                requires=self.requires.get(project, []),
                files=self.files.get(project),
            )
            return
        assert request.dockerfile.name == "test.Dockerfile"
        assert request.stage is not None
        contexts = {k: Path(v) for k, v in request.build_contexts}
        project = ""
        if "testrecipe" in contexts:
            recipe = {p.name: p.read_text() for p in contexts["testrecipe"].iterdir()}
            project = recipe["requirement"].split("==")[0]
            self.recipes[f"{request.stage}:{project}"] = recipe
        self.stages.append((request.stage, project))
        if request.stage == "probe":
            (out / "probe.json").write_text(PROBE)
        elif request.stage == "owners":
            (out / "owners.txt").write_text(self.owners)
        elif request.stage == "report":
            closure = sorted(p.name for p in contexts["closure"].iterdir())
            on_line("closure: " + " ".join(closure))
            if project in self.test_fails:
                on_line("ImportError: boom")
                raise BuildError("the build failed at step 'RUN /mw/bin/mw-test'")
            (out / "report.txt").write_text("passed\n")

    def cancel(self) -> None:
        pass


def options_for(tmp_path: Path, index: Index, **keys: object) -> BuildOptions:
    (tmp_path / "docker").mkdir(parents=True, exist_ok=True)
    (tmp_path / "docker" / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "tmp").mkdir(exist_ok=True)
    settings = WheelTestSettings(modules=("cffi", "mod-b"), index=index)
    options = BuildOptions(
        wheels_root=tmp_path / "wheels",
        log_dir=tmp_path / "logs",
        index=INDEX,
        temp_root=tmp_path / "tmp",
        docker_dir=tmp_path / "docker",
        tests=settings,
    )
    return replace(options, **keys)  # type: ignore[arg-type]


def build(
    targets: Sequence[Target], options: BuildOptions, engine: Engine
) -> tuple[tuple[TargetResult, ...], Recorder]:
    recorder = Recorder()
    results = build_targets(targets, options=options, engine=engine, reporter=recorder)
    return results, recorder


def listing(options: BuildOptions) -> list[str]:
    folder = options.wheels_root / "amd64"
    return sorted(p.name for p in folder.glob("*.whl")) if folder.is_dir() else []


class BakingEngine(Engine):
    """Bakes by running each bake target's build request, in the order bake gives them (the
    dependencies first); the test stages as ``Engine`` answers them."""

    def __init__(self, requires: dict[str, list[str]], files: dict[str, dict[str, bytes]]) -> None:
        super().__init__(requires, files)
        self.bakes: list[list[str]] = []

    def prepare_bake(
        self, platforms: Sequence[str], *, builder: str | None, cache_export: bool
    ) -> None:
        pass

    def bake(self, request: BakeRequest, on_line: Callable[[str | None, str], None]) -> None:
        self.bakes.append(list(request.targets))
        for name in request.targets:

            def line_of(line: str, name: str = name) -> None:
                on_line(name, line)

            try:
                self.build(request.requests[name], line_of)
            except BuildError as err:
                raise BakeFailed(str(err), {name: str(err)}) from None


def bake(
    targets: Sequence[Target], options: BuildOptions, engine: BakingEngine
) -> tuple[tuple[TargetResult, ...], Recorder]:
    recorder = Recorder()
    results = bake_targets(
        targets, options=options, settings=BakeSettings(), engine=engine, reporter=recorder
    )
    return results, recorder
