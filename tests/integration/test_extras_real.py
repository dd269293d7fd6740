"""An extra dependency target against the real engine (issue #14): the fixture app's runtime
requirement, the C-extension fixture, is on the (loopback) index only as an sdist and is no module
of the run: it is built as a target of its own first, joins the app's closure, and both install
offline from wheels/<arch>/ in a clean container of the glibc stand-in."""

from __future__ import annotations

import pytest
from localindex import LocalIndex
from packaging.utils import canonicalize_name
from support import STANDIN, make_target, run_build
from test_publish_real import Project, new_repository
from test_verified_real import install_offline, listing, log_of

from muslwheels.build.inputs import WheelTestSettings
from muslwheels.engine.docker import DockerEngine
from muslwheels.sources.packageindex import IndexSdists, PackageIndex
from muslwheels.sources.pipconfig import IndexSettings
from muslwheels.sources.pipdownload import PipIndexWheels
from muslwheels.wheeltest.records import read_record

pytestmark = pytest.mark.integration

APP = "muslwheels-fixture-app"
CEXT = "muslwheels-fixture-cext"
MODULES_TOML = """
[defaults]
pythons = ["3.11"]
arches = ["amd64"]
base_image = "127.0.0.1:5000/standin/python:{python}-bookworm"
repository = "@REPOSITORY@"

[modules.muslwheels-fixture-app]  # the C extension it needs at run time is no module here
"""


def test_an_sdist_only_runtime_requirement_is_built_as_an_extra_target(
    tmp_path_factory: pytest.TempPathFactory, index_settings: IndexSettings, engine: DockerEngine
) -> None:
    app = make_target(APP, "amd64")
    tests = WheelTestSettings(
        modules=("cffi",),  # the C extension is not a module of this run
        index=PipIndexWheels(index_settings),
        sdists=IndexSdists(PackageIndex(index_settings)),
    )
    run = run_build(
        [app], tmp_path_factory.mktemp("extra"), index=index_settings, engine=engine, tests=tests
    )
    result = run.result(app)
    assert result.status == "built", result.message
    assert result.tested == "tested: import mwfixture_app"  # which imports the extension
    (extra,) = [r for r in run.results if r.target.id != app.id]
    assert canonicalize_name(extra.target.module) == CEXT
    assert extra.status == "built", extra.message
    assert (extra.target.version, extra.target.python, extra.target.base_image) == (
        "1.0.0",
        "3.11",
        STANDIN,
    )
    assert extra.message.startswith(f"extra: built as runtime requirement of {app.tag}; ")
    assert "tested: import mwfixture_cext, mwfixture_cext._native" in extra.message
    names = listing(run.wheels_root, "amd64")
    assert len(names) == 2, names
    assert names[0].startswith("muslwheels_fixture_app-1.0.0-py3-none-any")
    assert names[1].startswith("muslwheels_fixture_cext-1.0.0-cp311-cp311-manylinux")
    record = read_record(run.wheels_root / "amd64", names[0])
    assert record is not None
    assert record.closure == (names[1],)
    assert [canonicalize_name(n) for n, _ in record.extras] == [CEXT]
    log = log_of(run, app.id)
    assert "extra dependency target: " in log and "the wheel waits for it" in log
    assert f"closure: {names[1]} (extra; " in log
    assert "muslwheels: test passed on linux/amd64" in log
    assert f"extra: built as runtime requirement of {app.tag}" in log_of(run, extra.target.id)
    out = install_offline(
        "linux/amd64",
        run.wheels_root / "amd64",
        APP,
        "import mwfixture_app; print(mwfixture_app.report())",
        STANDIN,
    )
    assert out == "42 x86_64 x86_64"


def test_the_run_and_the_plan_show_the_extra_target(
    tmp_path_factory: pytest.TempPathFactory, local_index: LocalIndex
) -> None:
    repository = new_repository("extra")
    project = Project(
        tmp_path_factory.mktemp("extra-cli") / "project",
        repository,
        local_index,
        tmp_path_factory.mktemp("xdg-cache"),
    )
    (project.root / "modules.toml").write_text(MODULES_TOML.replace("@REPOSITORY@", repository))
    tag = f"{APP}1.0.0-py3.11-amd64"
    before = project.invoke("plan", "--json", "--tag", tag).ok()
    (planned,) = before.json_lines()
    assert planned["extra_for"] is None and planned["closure"] is None
    app_tag = planned["tag"]  # as the index spells the project
    built = project.invoke("build", "--tag", tag).ok()
    assert f"extra: built as runtime requirement of {app_tag}" in built.stderr
    assert "2 built" in built.stderr
    after = project.invoke("plan", "--json", "--tag", tag).ok()
    app, extra = after.json_lines()
    assert (app["tag"], app["extra_for"]) == (app_tag, None)
    assert canonicalize_name(extra["module"]) == CEXT
    assert (extra["extra_for"], extra["requested"]) == (app_tag, False)
    assert extra["tested"] == "tested: import mwfixture_cext, mwfixture_cext._native"
    assert app["closure"] == [n for n in listing(project.wheels, "amd64") if "cext" in n]
    table = project.invoke("plan", "--tag", tag).ok()
    assert f"(extra: runtime requirement of {app_tag})" in table.stdout
