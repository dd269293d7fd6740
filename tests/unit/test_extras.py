"""Extra dependency targets (issue #14): a runtime requirement that neither a modules.toml module nor
a fitting wheel on the index provides, but an sdist on the index does, is built as a target of its
own before the target that needs it lands. At our seams: build/scheduler.py's scheduler with the fake engine
and index of test_wheeltest, and a fake of the index's sdists."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest
from fakeimages import make_target
from fakewheeltest import (
    BakingEngine,
    Engine,
    Index,
    bake,
    build,
    listing,
    make_wheel,
    options_for,
)
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from rich.console import Console

from muslwheels import cli
from muslwheels.build.inputs import BuildOptions
from muslwheels.build.scheduler import TargetResult
from muslwheels.console import BuildProgress, Ui
from muslwheels.plan.planner import Plan, extra_target, with_extras
from muslwheels.wheeltest.records import read_record, target_record

MUSL = "cp311-cp311-musllinux_1_2_x86_64"


class Sdists:
    """build_inputs.SdistSource over name -> versions (the newest that fits is taken)."""

    def __init__(self, **versions: list[str]) -> None:
        self.versions = {canonicalize_name(k): v for k, v in versions.items()}
        self.asked: list[str] = []

    def newest(self, requirement: Requirement, python: str) -> tuple[str, str] | None:
        self.asked.append(f"{requirement} py{python}")
        have = self.versions.get(canonicalize_name(requirement.name), [])
        fitting = sorted(requirement.specifier.filter(have))
        return (requirement.name, fitting[-1]) if fitting else None


@pytest.fixture
def index(tmp_path: Path) -> Index:
    folder = tmp_path / "index"
    make_wheel(folder, "pycparser", "2.22")
    return Index(folder)


def with_sdists(tmp_path: Path, index: Index, sdists: Sdists, **keys: object) -> BuildOptions:
    options = options_for(tmp_path, index, **keys)
    assert options.tests is not None
    return replace(options, tests=replace(options.tests, sdists=sdists))


def by_module(results: tuple[TargetResult, ...]) -> dict[str, TargetResult]:
    return {r.target.module: r for r in results}


def built_stages(engine: Engine) -> list[str]:
    return [f"{stage or 'build'}:{project}" for stage, project in engine.stages]


def test_an_sdist_only_requirement_is_built_first_and_joins_the_closure(
    tmp_path: Path, index: Index
) -> None:
    engine = Engine({"app": ["srconly>=1.5"], "srconly": ["pycparser"]}, {})
    sdists = Sdists(srconly=["1.0", "2.0"])
    options = with_sdists(tmp_path, index, sdists)  # jobs=1: the held target frees its worker
    app = make_target("app")
    results, recorder = build([app], options, engine)
    found = by_module(results)
    assert [r.target.module for r in results] == ["app", "srconly"]
    assert found["app"].status == "built", found["app"].message
    extra = found["srconly"]
    assert extra.status == "built", extra.message
    assert extra.target == extra_target(app, "srconly", "2.0")
    assert extra.target.recipe == app.recipe and extra.target.depends == ()
    assert extra.message.startswith("extra: built as runtime requirement of app1.0-py3.11-amd64")
    assert extra.extra_for == "app1.0-py3.11-amd64"
    assert listing(options) == [
        f"app-1.0-{MUSL}.whl",
        "pycparser-2.22-py3-none-any.whl",
        f"srconly-2.0-{MUSL}.whl",
    ]
    # built, then held; the extra built and tested; then the app's closure again and its test
    assert built_stages(engine) == [
        "build:app",
        "probe:",
        "build:srconly",
        "report:srconly",
        "report:app",
    ]
    assert engine.recipes["report:app"]["requirement"] == "app==1.0\n"
    assert set(found["app"].wheels) == set(listing(options))
    record = read_record(options.wheels_root / "amd64", f"app-1.0-{MUSL}.whl")
    assert record is not None
    assert record.extras == (("srconly", "2.0"),)
    assert f"srconly-2.0-{MUSL}.whl" in record.closure
    assert any(
        "extra dependency target: srconly 2.0 (app needs srconly>=1.5" in line
        for line in recorder.lines
    )
    assert "muslwheels: extra: built as runtime requirement of app1.0-py3.11-amd64" in (
        recorder.lines
    )
    assert found["app"].log_path is not None
    log = found["app"].log_path.read_text()
    assert "the wheel waits for it" in log and "test passed" in log  # one log, both parts


def test_neither_wheel_nor_sdist_fails_that_target_only_naming_the_chain(
    tmp_path: Path, index: Index
) -> None:
    make_wheel(tmp_path / "index", "mid", "1.0", requires=["nowhere>=1", "srconly"])
    engine = Engine({"app": ["mid"]}, {})
    options = with_sdists(tmp_path, index, Sdists(srconly=["1.0"]))
    (app, other), _ = build([make_target("app"), make_target("other")], options, engine)
    assert app.status == "failed"
    assert "app -> mid needs nowhere>=1: the index has no wheel of it that fits" in app.message
    assert other.status == "built"
    assert "build:srconly" not in built_stages(engine)  # it would not make the closure whole
    assert listing(options) == [f"other-1.0-{MUSL}.whl"]


def test_extras_of_extras_and_one_extra_for_two_targets(tmp_path: Path, index: Index) -> None:
    engine = Engine({"app": ["x"], "app2": ["x"], "x": ["y"]}, {})
    options = with_sdists(tmp_path, index, Sdists(x=["1.0"], y=["3.0"]), jobs=2)
    results, _ = build([make_target("app"), make_target("app2")], options, engine)
    found = by_module(results)
    assert sorted(found) == ["app", "app2", "x", "y"]
    assert all(r.status == "built" for r in results), [r.message for r in results]
    assert built_stages(engine).count("build:x") == 1
    assert found["y"].extra_for == "x1.0-py3.11-amd64"
    assert found["x"].extra_for in ("app1.0-py3.11-amd64", "app21.0-py3.11-amd64")
    for name in ("app", "app2"):
        record = read_record(options.wheels_root / "amd64", f"{name}-1.0-{MUSL}.whl")
        assert record is not None and record.extras == (("x", "1.0"), ("y", "3.0"))


def test_a_cycle_among_extra_targets_ends_and_nothing_lands(tmp_path: Path, index: Index) -> None:
    engine = Engine({"app": ["x"], "x": ["y"], "y": ["x"]}, {})
    options = with_sdists(tmp_path, index, Sdists(x=["1.0"], y=["1.0"]))
    results, _ = build([make_target("app")], options, engine)
    found = by_module(results)
    assert [r.status for r in results] == ["failed", "failed", "failed"]
    assert found["y"].message.endswith(
        "cycle among extra dependency targets: y1.0-py3.11-amd64 -> x1.0-py3.11-amd64 -> "
        "y1.0-py3.11-amd64"
    )
    assert found["x"].message.endswith(
        "extra dependency target y1.0-py3.11-amd64 failed (x needs y)"
    )
    assert found["app"].message == "extra dependency target x1.0-py3.11-amd64 failed (app needs x)"
    assert listing(options) == []
    assert found["app"].log_path is not None
    assert "failed: extra dependency target x1.0" in found["app"].log_path.read_text()


def test_a_failing_extra_target_fails_the_target_that_needs_it(
    tmp_path: Path, index: Index
) -> None:
    engine = Engine({"app": ["srconly"]}, {})
    engine.test_fails.add("srconly")
    options = with_sdists(tmp_path, index, Sdists(srconly=["1.0"]))
    (app, extra), _ = build([make_target("app")], options, engine)
    assert extra.status == "failed"
    assert extra.message.startswith(
        "extra: runtime requirement of app1.0-py3.11-amd64; test failed"
    )
    assert app.status == "failed"
    assert app.message == (
        "extra dependency target srconly1.0-py3.11-amd64 failed (app needs srconly)"
    )
    assert listing(options) == []


def test_without_sdists_the_requirement_is_missing_as_before(tmp_path: Path, index: Index) -> None:
    engine = Engine({"app": ["srconly"]}, {})
    (app,), _ = build([make_target("app")], options_for(tmp_path, index), engine)
    assert app.status == "failed"
    assert app.message.endswith(
        "app needs srconly: the index has no wheel of it that fits the target"
    )


def test_the_plan_shows_the_extra_targets_once_the_closure_is_known(
    tmp_path: Path, index: Index
) -> None:
    engine = Engine({"app": ["srconly"]}, {})
    options = with_sdists(tmp_path, index, Sdists(srconly=["1.0"]))
    app = make_target("app")
    plan = Plan((app,), (app.id,))
    assert target_record(app, options.wheels_root) is None
    assert with_extras(plan, {}) == plan  # before the build: nothing known
    build([app], options, engine)
    record = target_record(app, options.wheels_root)
    assert record is not None
    known = with_extras(plan, {app.id: record.extras})
    extra = extra_target(app, "srconly", "1.0")
    assert known.targets == (app, extra)
    assert known.extra_for == ((extra.id, app.tag),)
    assert with_extras(known, {app.id: record.extras}) == known  # each extra once
    objects = cli.plan_objects(known, options.wheels_root)
    assert [(o["tag"], o["requested"], o["extra_for"]) for o in objects] == [
        (app.tag, True, None),
        (extra.tag, False, app.tag),
    ]
    assert objects[1]["tested"] == "tested: import srconly"
    assert objects[0]["closure"] == [f"srconly-1.0-{MUSL}.whl"]
    out = io.StringIO()
    Ui(out=out).plan_table(known.targets, known.requested, dict(known.extra_for))
    rows = [line.split("\t")[0] for line in out.getvalue().splitlines()[1:]]
    assert rows == [app.tag, f"{extra.tag} (extra: runtime requirement of {app.tag})"]


def test_the_progress_counts_extra_targets_that_join_the_run() -> None:
    err = io.StringIO()
    progress = BuildProgress(Ui(err=err, plain=True), 1)
    app = make_target("app")
    extra = extra_target(app, "srconly", "1.0")

    def shown() -> str:
        console = Console(file=io.StringIO(), width=200)
        console.print(progress._render())
        return console.file.getvalue().splitlines()[0]  # type: ignore[attr-defined,no-any-return]

    progress.target_started(app)
    assert shown().startswith("[0/1] done")
    progress.target_started(extra)  # the app waits for it
    assert shown().startswith("[0/2] done")
    progress.target_finished(TargetResult(extra, "built"))
    progress.target_finished(TargetResult(app, "built"))
    assert shown().startswith("[2/2] done")
    assert f"start       {extra.tag}" in err.getvalue()


def test_bake_builds_no_extra_target_and_says_so(tmp_path: Path, index: Index) -> None:
    engine = BakingEngine({"app": ["srconly"]}, {})
    options = with_sdists(tmp_path, index, Sdists(srconly=["1.0"]))
    (app,), _ = bake([make_target("app")], options, engine)
    assert app.status == "failed"
    assert app.message.endswith(
        "app needs srconly: the index has only the sdist of srconly 1.0 "
        "(to build as extra dependency targets: srconly 1.0)"
    )
    assert listing(options) == []
