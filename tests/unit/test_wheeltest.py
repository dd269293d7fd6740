"""The test step (wheeltest/step.py) and its place in the build (build/scheduler.py) and the bake (build/bake.py), both
through build/landing.py, against fakes at our seams: an engine that answers docker/test.Dockerfile's
stages (and bakes by running each target's build), an index source of prepared wheels."""

from __future__ import annotations

import json
import threading
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from fakes import make_elf, make_target
from fakewheeltest import (
    PROBE,
    TAGS,
    BakingEngine,
    Engine,
    Index,
    bake,
    build,
    listing,
    make_wheel,
    options_for,
)

from muslwheels.build.bake import bake_name
from muslwheels.build.inputs import BuildOptions
from muslwheels.cli import _exit_for
from muslwheels.config.model import Flavour, Mode, Recipe
from muslwheels.engine.interface import BuildRequest, LocalOutput
from muslwheels.errors import BuildError, ExitCode, RegistryError
from muslwheels.publish.images import image_labels, image_wheels
from muslwheels.sources.pipconfig import IndexSettings
from muslwheels.sources.pipdownload import download_command, downloaded_file
from muslwheels.verify.wheelinfo import read_wheel
from muslwheels.wheeltest.owners import RuntimePackages, parse_owners
from muslwheels.wheeltest.probe import parse_probe
from muslwheels.wheeltest.recipe import wheel_test_command, wheel_test_files
from muslwheels.wheeltest.records import WheelTestRecord, closure_fields, read_record

# --- pure parts -----------------------------------------------------------------------------------


def test_probe_and_pip_options() -> None:
    probe = parse_probe(PROBE)
    assert probe.markers["python_full_version"] == "3.11.9"
    assert probe.accepts("x-1.0-py3-none-any.whl")
    assert probe.accepts("x-1.0-cp311-abi3-musllinux_1_2_x86_64.whl")
    assert not probe.accepts("x-1.0-cp311-cp311-manylinux_2_17_x86_64.whl")
    assert probe.pip_target_args("3.11") == (
        "--python-version", "3.11", "--implementation", "cp",
        "--abi", "cp311", "--abi", "abi3", "--abi", "none",
        "--platform", "musllinux_1_2_x86_64",
    )  # fmt: skip
    with pytest.raises(ValueError, match="no marker variables"):
        parse_probe(json.dumps({"tags": TAGS}))


def test_owners_become_packages() -> None:
    found = parse_owners(
        "missing libyaml-0.so.2\n"
        "missing libxslt.so.1\n"
        "missing libfoo.so.3\n"
        "owner-apk libyaml-0.so.2 yaml-0.2.5-r2\n"
        "owner-dpkg libxslt.so.1 libxslt1.1:amd64: /usr/lib/x86_64-linux-gnu/libxslt.so.1\n"
        "unknown libfoo.so.3 the base image has neither apk nor dpkg\n"
    )
    assert found.apk == ("yaml",)
    assert found.apt == ("libxslt1.1",)
    assert found.notes == (
        "no package named for libfoo.so.3: the base image has neither apk nor dpkg",
    )


def test_default_test_imports_what_the_wheel_holds(tmp_path: Path) -> None:
    wheel = make_wheel(
        tmp_path,
        "msgpack",
        "1.0.8",
        "cp311-cp311-musllinux_1_2_x86_64",
        files={
            "msgpack/__init__.py": b"",
            "msgpack/_cmsgpack.cpython-311-x86_64-linux-musl.so": make_elf(["libc.so"]),
        },
    )
    target = make_target("msgpack", version="1.0.8")
    command = wheel_test_command(target, read_wheel(wheel))
    assert command.startswith("python -c ")
    assert "for m in ('msgpack', 'msgpack._cmsgpack',)]" in command
    custom = replace(
        target, recipe=Recipe(test="python -c 'import {module}' # {version} {wheel_dir}")
    )
    assert (
        wheel_test_command(custom, read_wheel(wheel))
        == "python -c 'import msgpack' # 1.0.8 /mw/closure"
    )
    files = wheel_test_files(custom, read_wheel(wheel), RuntimePackages(apt=("libyaml-0-2",)))
    assert files["requirement"] == "msgpack==1.0.8\n"
    assert files["needed"] == "libc.so\n"
    assert files["runtime.apt"] == "libyaml-0-2\n"


def test_pip_download_command_and_output(tmp_path: Path) -> None:
    index = IndexSettings(
        index_url="https://a.invalid/simple",
        extra_index_urls=("http://127.0.0.1:8080/simple",),
        trusted_hosts=("127.0.0.1:8080",),
        cert="/etc/ssl/ca.pem",
    )
    cmd = download_command(index, "pycparser", ("--platform", "any"), tmp_path, python="py")
    assert cmd[:4] == ["py", "-m", "pip", "download"]
    assert "--no-deps" in cmd and "--only-binary=:all:" in cmd
    joined = " ".join(cmd)
    assert "a.invalid" not in joined and "8080/simple" not in joined  # in pip's environment
    assert "--trusted-host 127.0.0.1:8080" in joined
    assert "--cert /etc/ssl/ca.pem" in joined
    assert cmd[-3:] == ["--platform", "any", "pycparser"]
    assert downloaded_file("Collecting x\n  Saved /d/x-1-py3-none-any.whl\n") == Path(
        "/d/x-1-py3-none-any.whl"
    )
    assert downloaded_file("File was already downloaded /d/y-2-py3-none-any.whl\n") == Path(
        "/d/y-2-py3-none-any.whl"
    )
    assert downloaded_file("Successfully downloaded x\n") is None


# --- the step inside a build ----------------------------------------------------------------------


@pytest.fixture
def index(tmp_path: Path) -> Index:
    folder = tmp_path / "index"
    make_wheel(folder, "pycparser", "2.22")
    make_wheel(folder, "ply", "3.11")
    return Index(folder)


def test_closure_from_the_index_lands_and_is_tested(tmp_path: Path, index: Index) -> None:
    engine = Engine({"cffi": ["pycparser", 'winonly; sys_platform == "win32"']}, {})
    options = options_for(tmp_path, index)
    (result,), recorder = build([make_target("cffi", version="1.17.1")], options, engine)
    assert result.status == "built", result.message
    assert listing(options) == [
        "cffi-1.17.1-cp311-cp311-musllinux_1_2_x86_64.whl",
        "pycparser-2.22-py3-none-any.whl",
    ]
    assert result.tested == "tested: import cffi"
    assert "tested: import cffi" in result.message
    assert "muslwheels: test passed on linux/amd64" in recorder.lines
    assert [s for s, _ in engine.stages] == [None, "probe", "report"]
    # pip was asked with the target's tags, for the requirement whose marker holds only
    assert [r for r, _ in index.asked] == ["pycparser"]
    assert "musllinux_1_2_x86_64" in index.asked[0][1]
    assert (
        "closure: cffi-1.17.1-cp311-cp311-musllinux_1_2_x86_64.whl pycparser-2.22-py3-none-any.whl"
        in recorder.lines
    )


def test_own_build_comes_first_and_the_probe_is_asked_once(tmp_path: Path, index: Index) -> None:
    make_wheel(tmp_path / "index", "mod-b", "9.0")  # the index has it too: ours wins
    engine = Engine({"app": ["mod-b"]}, {})
    options = options_for(tmp_path, index)
    dep = make_target("mod-b", version="1.0")
    app = make_target("app", depends=[dep])
    results, _ = build([dep, app], options, engine)
    assert [r.status for r in results] == ["built", "built"], results[1].message
    assert [r for r, _ in index.asked] == []
    assert "mod_b-1.0-cp311-cp311-musllinux_1_2_x86_64.whl" in results[1].wheels
    assert [s for s, _ in engine.stages].count("probe") == 1


def test_a_failing_test_fails_the_target_and_nothing_lands(tmp_path: Path, index: Index) -> None:
    engine = Engine({"cffi": ["pycparser"]}, {})
    engine.test_fails.add("cffi")
    options = options_for(tmp_path, index)
    other = make_target("other")
    (bad, good), _ = build([make_target("cffi", version="1.17.1"), other], options, engine)
    assert bad.status == "failed"
    assert bad.message.startswith("test failed: ")
    assert good.status == "built"
    assert listing(options) == ["other-1.0-cp311-cp311-musllinux_1_2_x86_64.whl"]
    assert bad.log_path is not None
    assert "ImportError: boom" in bad.log_path.read_text()


def test_an_incomplete_closure_names_the_chain(tmp_path: Path, index: Index) -> None:
    make_wheel(tmp_path / "index", "mid", "1.0", requires=["nowhere>=1"])
    engine = Engine({"app": ["mid"], "x": ["cffi"]}, {})
    options = options_for(tmp_path, index)
    (app, x), _ = build([make_target("app"), make_target("x")], options, engine)
    assert app.status == "failed"
    assert app.message == (
        "app1.0-py3.11-amd64: the runtime closure is incomplete: app -> mid needs nowhere>=1: "
        "the index has no wheel of it that fits the target"
    )
    assert x.status == "failed"
    assert "x -> needs" not in x.message and "x needs cffi: modules.toml builds it" in x.message
    assert listing(options) == []


def test_no_test_gathers_the_closure_only(tmp_path: Path, index: Index) -> None:
    engine = Engine({"cffi": ["pycparser"]}, {})
    options = options_for(tmp_path, index)
    assert options.tests is not None
    options = replace(options, tests=replace(options.tests, run_tests=False))
    (result,), _ = build([make_target("cffi", version="1.17.1")], options, engine)
    assert result.status == "built"
    assert result.tested == "not tested (--no-test)"
    assert "pycparser-2.22-py3-none-any.whl" in listing(options)
    assert [s for s, _ in engine.stages] == [None, "probe"]
    # a module's no_test says why, and no test runs either
    off = make_target("off", recipe=Recipe(no_test="needs a display"))
    engine.stages.clear()
    (result,), _ = build([off], options_for(tmp_path / "b", index), engine)
    assert result.tested == "test off: needs a display"
    # no requirements and no test: not even the probe runs
    assert [s for s, _ in engine.stages] == [None]


def test_reused_wheels_say_they_were_tested(tmp_path: Path, index: Index) -> None:
    engine = Engine({}, {})
    options = options_for(tmp_path, index)
    build([make_target("other")], options, engine)
    (again,), _ = build([make_target("other")], options, engine)
    assert again.status == "skipped"
    assert again.message == "wheel already present (tested when it was built)"


def test_no_shared_runtime_packages(tmp_path: Path, index: Index) -> None:
    files = {
        "yamlmod/__init__.py": b"",
        "yamlmod/_native.cpython-311-x86_64-linux-gnu.so": make_elf(
            ["libyaml-0.so.2", "libc.so.6"]
        ),
    }
    engine = Engine({}, {"yamlmod": files})
    engine.owners = "missing libyaml-0.so.2\nowner-dpkg libyaml-0.so.2 libyaml-0-2:amd64: /usr/lib/x/libyaml-0.so.2\n"
    options = options_for(tmp_path, index)
    target = make_target("yamlmod", flavour=Flavour.NO_SHARED, recipe=Recipe(apt=("libyaml-dev",)))
    (result,), recorder = build([target], options, engine)
    assert result.status == "built", result.message
    assert result.runtime_packages == ("libyaml-0-2",)
    assert "runtime packages: libyaml-0-2" in result.message
    assert [s for s, _ in engine.stages] == [None, "probe", "owners", "report"]
    owners = engine.recipes["owners:yamlmod"]
    assert owners["needed"] == "libc.so.6\nlibyaml-0.so.2\n"
    assert owners["packages.apt"] == "libyaml-dev\n"
    assert engine.recipes["report:yamlmod"]["runtime.apt"] == "libyaml-0-2\n"
    assert "muslwheels: runtime packages: libyaml-0-2" in recorder.lines
    # the shared flavour bundles its libraries: no owners step
    engine.stages.clear()
    shared = replace(target, flavour=Flavour.SHARED)
    build([shared], options_for(tmp_path / "s", index), engine)
    assert "owners" not in [s for s, _ in engine.stages]


def test_the_record_names_the_base_image_the_wheel_was_tested_on(
    tmp_path: Path, index: Index
) -> None:
    digest = "sha256:" + "e" * 64
    target = make_target("msgpack", base_digests=(("linux/amd64", digest),))
    options = options_for(tmp_path, index)
    results, _ = build([target], options, Engine({}, {}))
    assert [r.status for r in results] == ["built"]
    (wheel,) = results[0].wheels
    record = read_record(options.wheels_root / "amd64", wheel)
    assert record is not None and record.base_image == f"python@{digest}"


def test_the_record_beside_the_wheel_gives_its_image_the_closure_and_the_label(
    tmp_path: Path, index: Index
) -> None:
    engine = Engine({"cffi": ["pycparser"]}, {})
    options = options_for(tmp_path, index)
    target = make_target("cffi", version="1.17.1", depends=[make_target("buildonly")])
    build_only = make_target("buildonly")
    results, _ = build([build_only, target], options, engine)
    assert [r.status for r in results] == ["built", "built"]
    folder = options.wheels_root / "amd64"
    wheel = "cffi-1.17.1-cp311-cp311-musllinux_1_2_x86_64.whl"
    record = read_record(folder, wheel)
    assert record == WheelTestRecord(
        ("pycparser-2.22-py3-none-any.whl",), (), "tested: import cffi"
    )
    assert closure_fields(target, options.wheels_root) == {
        "closure": ["pycparser-2.22-py3-none-any.whl"],
        "runtime_packages": [],
        "tested": "tested: import cffi",
    }
    assert closure_fields(make_target("unbuilt"), options.wheels_root) == {
        "closure": None,
        "runtime_packages": None,
        "tested": None,
    }
    by_id = {t.id: t for t in (build_only, target)}
    # the runtime closure travels, the build-only dependency does not
    assert [p.name for p in image_wheels(target, by_id, options.wheels_root)] == [
        wheel,
        "pycparser-2.22-py3-none-any.whl",
    ]
    (folder / "pycparser-2.22-py3-none-any.whl").unlink()
    with pytest.raises(RegistryError, match="of its runtime closure is not in"):
        image_wheels(target, by_id, options.wheels_root)
    labels = dict(image_labels(target, runtime_packages=("libxml2", "libxslt")))
    assert labels["io.musl-wheels.runtime-packages"] == "libxml2 libxslt"
    assert "io.musl-wheels.runtime-packages" not in dict(image_labels(target))


def test_no_owner_known_is_a_note_and_the_test_still_runs(tmp_path: Path, index: Index) -> None:
    files = {
        "yamlmod/__init__.py": b"",
        "yamlmod/_native.cpython-311-x86_64-linux-musl.so": make_elf(["libyaml-0.so.2"]),
    }
    engine = Engine({}, {"yamlmod": files})
    engine.owners = "missing libyaml-0.so.2\nunknown libyaml-0.so.2 img has neither apk nor dpkg\n"
    target = make_target("yamlmod", flavour=Flavour.NO_SHARED)
    (result,), _ = build([target], options_for(tmp_path, index), engine)
    assert result.status == "built"
    assert result.runtime_packages == ()
    assert result.tested == (
        "tested: import yamlmod, yamlmod._native; note: no package named for libyaml-0.so.2: "
        "img has neither apk nor dpkg"
    )
    assert "report" in [s for s, _ in engine.stages]


# --- the same step after a bake (build/landing.py: one home for build and bake) ---------------------------


def landed(options: BuildOptions) -> dict[str, str]:
    """Every file in wheels/amd64/ (records included, the lock left out) and its text or size."""
    folder = options.wheels_root / "amd64"
    return {
        p.name: p.read_text() if p.name.endswith(".json") else str(p.stat().st_size)
        for p in sorted(folder.iterdir())
        if p.name != ".muslwheels.lock"
    }


def test_bake_tests_and_lands_what_build_does(tmp_path: Path, index: Index) -> None:
    requires = {"cffi": ["pycparser"], "app": ["cffi"]}
    dep = make_target("cffi", version="1.17.1")
    app = make_target("app", depends=[dep])
    built, _ = build([dep, app], options_for(tmp_path / "build", index), Engine(requires, {}))
    options = options_for(tmp_path / "bake", index)
    engine = BakingEngine(requires, {})
    baked, recorder = bake([dep, app], options, engine)
    assert [r.status for r in baked] == ["built", "built"], [r.message for r in baked]
    assert engine.bakes == [[bake_name(dep), bake_name(app)]]
    for b, k in zip(built, baked):
        assert (k.wheels, k.tested, k.runtime_packages, k.message) == (
            b.wheels,
            b.tested,
            b.runtime_packages,
            b.message,
        )
    assert baked[1].tested == "tested: import app"
    # the same files, the records beside the wheels included
    assert landed(options) == landed(options_for(tmp_path / "build", index))
    assert read_record(
        options.wheels_root / "amd64", "app-1.0-cp311-cp311-musllinux_1_2_x86_64.whl"
    )
    # the probe once; each target tested after the bake, the dependency first
    stages = [s for s in engine.stages if s[0] is not None]
    assert stages == [("probe", ""), ("report", "cffi"), ("report", "app")]
    assert "muslwheels: test passed on linux/amd64" in recorder.lines
    log = baked[1].log_path
    assert log is not None
    assert "muslwheels: timing: closure and test " in log.read_text()


def test_bake_a_failing_test_fails_that_target_and_nothing_of_it_lands(
    tmp_path: Path, index: Index
) -> None:
    engine = BakingEngine({"cffi": ["pycparser"]}, {})
    engine.test_fails.add("cffi")
    options = options_for(tmp_path, index)
    bad_target = make_target("cffi", version="1.17.1")
    needs_bad = make_target("app", depends=[bad_target])
    (bad, dependent, good), _ = bake([bad_target, needs_bad, make_target("other")], options, engine)
    assert bad.status == "failed"
    assert bad.message.startswith("test failed: ")
    assert dependent.status == "failed"
    assert dependent.message == f"dependency {bad_target.tag} failed"
    assert good.status == "built"
    assert good.tested == "tested: import other"
    assert listing(options) == ["other-1.0-cp311-cp311-musllinux_1_2_x86_64.whl"]
    assert bad.log_path is not None
    assert "ImportError: boom" in bad.log_path.read_text()


def test_bake_no_test_gathers_the_closure_only(tmp_path: Path, index: Index) -> None:
    options = options_for(tmp_path, index)
    assert options.tests is not None
    options = replace(options, tests=replace(options.tests, run_tests=False))
    engine = BakingEngine({"cffi": ["pycparser"]}, {})
    (result,), _ = bake([make_target("cffi", version="1.17.1")], options, engine)
    assert result.status == "built"
    assert result.tested == "not tested (--no-test)"
    assert "not tested (--no-test)" in result.message
    assert "pycparser-2.22-py3-none-any.whl" in listing(options)
    (again,), _ = bake([make_target("cffi", version="1.17.1")], options, engine)
    assert again.message == "wheel already present"


def test_bake_tests_up_to_jobs_targets_at_once_each_after_its_dependencies(
    tmp_path: Path, index: Index
) -> None:
    gate = threading.Barrier(2, timeout=10)

    class Gated(BakingEngine):
        def build(self, request: BuildRequest, on_line: Callable[[str], None]) -> None:
            if request.stage == "report":
                recipe = dict(request.build_contexts)["testrecipe"]
                project = (Path(recipe) / "requirement").read_text().split("==")[0]
                if project in ("cffi", "other"):
                    gate.wait()  # both tests at once, or the barrier breaks
            super().build(request, on_line)

    engine = Gated({"cffi": ["pycparser"], "app": ["cffi"]}, {})
    dep = make_target("cffi", version="1.17.1")
    app = make_target("app", depends=[dep])
    results, _ = bake(
        [dep, app, make_target("other")], options_for(tmp_path, index, jobs=2), engine
    )
    assert [r.status for r in results] == ["built"] * 3, [r.message for r in results]
    reports = [project for stage, project in engine.stages if stage == "report"]
    assert reports.index("app") > reports.index("cffi")  # its closure takes cffi's tested wheel
    assert "cffi-1.17.1-cp311-cp311-musllinux_1_2_x86_64.whl" in results[1].wheels


class CrossBrokenEngine(Engine):
    """Builds arm64 wheels (each saying in its ``__init__.py`` which mode built it); a cross-built
    one of ``broken`` (None: of every project) fails its test (as greenlet's first switch crashed
    on 32-bit ARM when clang dropped its frame pointer), an emulated one passes, unless
    ``emulated`` says "test fails" or "build fails"."""

    broken: frozenset[str] | None = None
    emulated = "passes"

    def build(self, request: BuildRequest, on_line: Callable[[str], None]) -> None:
        args = dict(request.build_args)
        if request.dockerfile.name != "Dockerfile":
            super().build(request, on_line)
            return
        assert isinstance(request.output, LocalOutput)
        project = args["MW_PROJECT"]
        mode = args.get("MW_MODE", "emulate")
        self.stages.append((mode, project))
        if mode == "emulate" and self.emulated == "build fails":
            raise BuildError("building the wheel failed: boom")
        if (mode == "cross" and (self.broken is None or project in self.broken)) or (
            mode == "emulate" and self.emulated == "test fails"
        ):
            self.test_fails.add(project)
        else:
            self.test_fails.discard(project)
        tag = "cp311-cp311-musllinux_1_2_aarch64"
        files = {f"{project}/__init__.py": f"# {mode}\n".encode()}
        make_wheel(request.output.dest, project, args["MW_VERSION"], tag, files=files)


#: mode auto, the cross-built wheel of alpha failing its test: what was built and tested, in order
CROSS_TESTED_THEN_EMULATED = [
    ("cross", "alpha"),
    ("report", "alpha"),
    ("emulate", "alpha"),
    ("report", "alpha"),
]


def builds_and_tests(engine: Engine) -> list[tuple[str | None, str]]:
    """The wheel builds (their mode) and the tests (``report``) the engine ran, in order."""
    return [s for s in engine.stages if s[0] in ("cross", "emulate", "report")]


def test_auto_builds_again_in_emulation_when_the_cross_built_wheel_fails_its_test(
    tmp_path: Path, index: Index
) -> None:
    engine = CrossBrokenEngine({}, {})
    options = options_for(tmp_path, index, mode=Mode.AUTO, build_platform="linux/amd64")
    (result,), recorder = build([make_target("alpha", "arm64v8")], options, engine)
    assert result.status == "built", result.message
    assert builds_and_tests(engine) == CROSS_TESTED_THEN_EMULATED
    assert result.mode.startswith("emulate (fallback: cross-built wheel test failed: ")
    assert any("the cross-built wheel failed its test" in line for line in recorder.lines)
    folder = options.wheels_root / "arm64v8"
    assert sorted(p.name for p in folder.glob("*.whl")) == [
        "alpha-1.0-cp311-cp311-musllinux_1_2_aarch64.whl"
    ]


def test_a_cross_built_wheel_failing_its_test_in_cross_mode_fails_the_target(
    tmp_path: Path, index: Index
) -> None:
    engine = CrossBrokenEngine({}, {})
    options = options_for(tmp_path, index, mode=Mode.CROSS, build_platform="linux/amd64")
    (result,), _ = build([make_target("alpha", "arm64v8")], options, engine)
    assert result.status == "failed" and "test failed" in result.message
    assert ("emulate", "alpha") not in engine.stages  # mode cross: no emulated build
    assert not (options.wheels_root / "arm64v8").is_dir() or not any(
        (options.wheels_root / "arm64v8").glob("*.whl")
    )


# --- bake, mode auto: a cross-built wheel that fails its test is baked again in emulation, as build
# builds it again -------------------------------------------------------------------------------


class CrossBrokenBakingEngine(CrossBrokenEngine, BakingEngine):
    """CrossBrokenEngine's wheels, baked."""


AUTO: dict[str, object] = {"mode": Mode.AUTO, "build_platform": "linux/amd64"}


def arm64_landed(options: BuildOptions) -> dict[str, str]:
    """The wheels in wheels/arm64v8/ and the mode that built each (its ``__init__.py``)."""
    folder = options.wheels_root / "arm64v8"
    out: dict[str, str] = {}
    for wheel in sorted(folder.glob("*.whl")) if folder.is_dir() else ():
        with zipfile.ZipFile(wheel) as archive:
            init = next(n for n in archive.namelist() if n.endswith("/__init__.py"))
            out[wheel.name] = archive.read(init).decode().strip()
    return out


def test_bake_auto_bakes_again_in_emulation_when_the_cross_built_wheel_fails_its_test(
    tmp_path: Path, index: Index
) -> None:
    alpha = make_target("alpha", "arm64v8")
    built, _ = build(
        [alpha], options_for(tmp_path / "build", index, **AUTO), CrossBrokenEngine({}, {})
    )
    engine = CrossBrokenBakingEngine({}, {})
    options = options_for(tmp_path / "bake", index, **AUTO)
    (result,), recorder = bake([alpha], options, engine)
    assert result.status == "built", result.message
    assert engine.bakes == [[bake_name(alpha)], [bake_name(alpha)]]  # a further round
    assert builds_and_tests(engine) == CROSS_TESTED_THEN_EMULATED
    assert result.mode.startswith("emulate (fallback: cross-built wheel test failed: ")
    # the summary says what build's says
    assert (result.mode, result.message, result.tested) == (
        built[0].mode,
        built[0].message,
        built[0].tested,
    )
    line = "muslwheels: the cross-built wheel failed its test (test failed: "
    assert any(
        x.startswith(line) and x.endswith("; baking again in emulation") for x in recorder.lines
    )
    # nothing of the cross-built wheel landed: the emulated one did
    assert arm64_landed(options) == {"alpha-1.0-cp311-cp311-musllinux_1_2_aarch64.whl": "# emulate"}


@pytest.mark.parametrize("emulated", ["test fails", "build fails"])
def test_bake_auto_never_hides_the_emulated_failure_after_a_failed_test(
    tmp_path: Path, index: Index, emulated: str
) -> None:
    alpha = make_target("alpha", "arm64v8")
    build_engine = CrossBrokenEngine({}, {})
    build_engine.emulated = emulated
    built, _ = build([alpha], options_for(tmp_path / "build", index, **AUTO), build_engine)
    engine = CrossBrokenBakingEngine({}, {})
    engine.emulated = emulated
    options = options_for(tmp_path / "bake", index, **AUTO)
    (result,), _ = bake([alpha], options, engine)
    assert result.status == "failed"
    assert engine.bakes == [[bake_name(alpha)], [bake_name(alpha)]]  # emulated once, not again
    assert result.message == built[0].message  # build's words, build's exit code
    if emulated == "test fails":
        assert result.message.startswith("test failed: ")
    else:
        assert result.message.startswith("building the wheel failed: boom (in emulation, after ")
        assert "after the cross-built wheel failed its test: test failed: " in result.message
    assert _exit_for([result]) == _exit_for(built) == ExitCode.BUILD
    assert arm64_landed(options) == {}


def test_bake_only_the_auto_target_is_baked_again_a_cross_one_fails(
    tmp_path: Path, index: Index
) -> None:
    alpha = make_target("alpha", "arm64v8")  # auto, the run's mode
    beta = make_target("beta", "arm64v8", recipe=Recipe(mode=Mode.CROSS))  # pinned: cross only
    engine = CrossBrokenBakingEngine({}, {})  # both cross-built wheels fail their test
    options = options_for(tmp_path, index, **AUTO)
    (good, bad), _ = bake([alpha, beta], options, engine)
    assert good.status == "built", good.message
    assert bad.status == "failed"
    assert bad.message.startswith("test failed: ")
    assert engine.bakes == [[bake_name(alpha), bake_name(beta)], [bake_name(alpha)]]
    assert ("emulate", "beta") not in engine.stages
    assert _exit_for([good, bad]) == ExitCode.BUILD
    assert arm64_landed(options) == {"alpha-1.0-cp311-cp311-musllinux_1_2_aarch64.whl": "# emulate"}
    assert bad.log_path is not None
    assert "baking again" not in bad.log_path.read_text()


def test_bake_a_dependent_lands_after_the_emulated_wheel_of_its_dependency(
    tmp_path: Path, index: Index
) -> None:
    alpha = make_target("alpha", "arm64v8")
    app = make_target("app", "arm64v8", depends=[alpha])
    engine = CrossBrokenBakingEngine({}, {})
    engine.broken = frozenset({"alpha"})  # app's cross-built wheel passes its test
    options = options_for(tmp_path, index, **AUTO)
    results, _ = bake([alpha, app], options, engine)
    assert [r.status for r in results] == ["built", "built"], [r.message for r in results]
    assert results[0].mode.startswith("emulate (fallback: cross-built wheel test failed: ")
    assert results[1].mode == "cross"
    # app, built against the cross-built wheel, is baked again with the emulated one and only
    # then tested
    assert engine.bakes == [[bake_name(alpha), bake_name(app)]] * 2
    assert [s for s in engine.stages if s[0] is not None and s[0] != "probe"] == [
        ("cross", "alpha"),
        ("cross", "app"),
        ("report", "alpha"),
        ("emulate", "alpha"),
        ("cross", "app"),
        ("report", "alpha"),
        ("report", "app"),
    ]
    assert arm64_landed(options) == {
        "alpha-1.0-cp311-cp311-musllinux_1_2_aarch64.whl": "# emulate",
        "app-1.0-cp311-cp311-musllinux_1_2_aarch64.whl": "# cross",
    }
    log = results[1].log_path
    assert log is not None
    assert f"baking again with dependency {alpha.tag}" in log.read_text()


def test_bake_a_dependent_of_a_target_whose_emulated_wheel_fails_too_fails(
    tmp_path: Path, index: Index
) -> None:
    alpha = make_target("alpha", "arm64v8")
    app = make_target("app", "arm64v8", depends=[alpha])
    engine = CrossBrokenBakingEngine({}, {})
    engine.broken = frozenset({"alpha"})
    engine.emulated = "test fails"
    options = options_for(tmp_path, index, **AUTO)
    results, _ = bake([alpha, app], options, engine)
    assert [r.status for r in results] == ["failed", "failed"]
    assert engine.bakes == [[bake_name(alpha), bake_name(app)]] * 2  # app waited for alpha
    assert results[1].message == f"dependency {alpha.tag} failed"
    assert ("report", "app") not in engine.stages
    assert arm64_landed(options) == {}


class GlibcEngine(CrossBrokenEngine):
    """A glibc (Debian) base image: its probe takes manylinux wheels, and so are its wheels."""

    GLIBC_TAGS = ("cp311-cp311-manylinux_2_17_aarch64", "py3-none-any")

    def build(self, request: BuildRequest, on_line: Callable[[str], None]) -> None:
        if request.stage == "probe":
            assert isinstance(request.output, LocalOutput)
            self.stages.append(("probe", ""))
            probe = {"markers": {"python_full_version": "3.11.9"}, "tags": self.GLIBC_TAGS}
            (request.output.dest / "probe.json").write_text(json.dumps(probe))
            return
        if request.dockerfile.name != "Dockerfile":
            super().build(request, on_line)
            return
        assert isinstance(request.output, LocalOutput)
        args = dict(request.build_args)
        mode = args.get("MW_MODE", "emulate")
        self.stages.append((mode, args["MW_PROJECT"]))
        files = {f"{args['MW_PROJECT']}/__init__.py": f"# {mode}\n".encode()}
        make_wheel(
            request.output.dest,
            args["MW_PROJECT"],
            args["MW_VERSION"],
            self.GLIBC_TAGS[0],
            files=files,
        )


class GlibcBakingEngine(GlibcEngine, BakingEngine):
    """GlibcEngine's wheels, baked."""


@pytest.mark.parametrize("runner", ["build", "bake"])
def test_auto_emulates_a_glibc_base_image_from_the_start(
    tmp_path: Path, index: Index, runner: str
) -> None:
    """Cross mode is musl-only: the probe of a Debian base image says so before any build."""
    alpha = make_target("alpha", "arm64v8", base_image="python:3.11-bookworm")
    options = options_for(tmp_path, index, **AUTO)
    if runner == "build":
        engine: Engine = GlibcEngine({}, {})
        (result,), recorder = build([alpha], options, engine)
    else:
        baking = GlibcBakingEngine({}, {})
        (result,), recorder = bake([alpha], options, baking)
        engine = baking
    assert result.status == "built", result.message
    assert result.mode == "emulate (cross mode needs a musl base image)"
    wheel_builds = [s for s in engine.stages if s[0] in ("probe", "cross", "emulate")]
    assert wheel_builds == [("probe", ""), ("emulate", "alpha")]  # no cross attempt at all
    assert "muslwheels: mode emulate: cross mode needs a musl base image" in recorder.lines
