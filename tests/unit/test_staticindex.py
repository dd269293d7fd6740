"""staticindex: the static PEP 503/691 index over wheels/ with PEP 658/714 metadata files."""

from __future__ import annotations

import hashlib
import html.parser
import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import X86, make_wheel, metadata_text

from muslwheels import cli
from muslwheels.console import Ui
from muslwheels.errors import ExitCode, UsageError
from muslwheels.publish import staticindex
from muslwheels.publish.staticindex import (
    STAGING_NAME,
    build_index,
    check_base_url,
)

ARM = "cp311-cp311-musllinux_1_2_aarch64"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Anchors(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.anchors.append(dict(attrs))


def anchors(page: Path) -> list[dict[str, str | None]]:
    parser = Anchors()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.anchors


def mtimes(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): p.stat().st_mtime_ns
        for p in root.rglob("*")
        if p.is_file() and STAGING_NAME not in p.parts and not p.name.endswith(".lock")
    }


def contents(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not p.name.endswith(".lock")
    }


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    root = tmp_path / "wheels"
    make_wheel(root / "amd64", "alpha", requires=["beta"])
    make_wheel(root / "arm64v8", "alpha", tag=ARM, requires=["beta"])
    make_wheel(root / "amd64", "Beta", "2.0", "py3-none-any", requires_python=">=3.9, <4")
    make_wheel(root / "arm64v8", "Beta", "2.0", "py3-none-any", requires_python=">=3.9, <4")
    return root


# --- the pages --------------------------------------------------------------------------------


def test_links_carry_hashes_requires_python_and_metadata_hashes(wheels: Path) -> None:
    report = build_index(wheels, wheels)
    assert report.projects == ("alpha", "beta")
    assert not report.problems
    page = wheels / "simple" / "alpha" / "index.html"
    found = anchors(page)
    assert len(found) == 2  # the amd64 and the arm64 wheel, one index
    for anchor in found:
        href = anchor["href"]
        assert href is not None
        url, _, fragment = href.partition("#")
        wheel = (page.parent / url).resolve()
        assert wheel.is_file()
        assert fragment == f"sha256={sha(wheel)}"
        assert anchor["data-requires-python"] == ">=3.8"
        metadata = Path(f"{wheel}.metadata")
        with zipfile.ZipFile(wheel) as archive:
            assert metadata.read_bytes() == archive.read("alpha-1.0.dist-info/METADATA")
        assert anchor["data-dist-info-metadata"] == f"sha256={sha(metadata)}"
        assert anchor["data-core-metadata"] == f"sha256={sha(metadata)}"
    assert sorted(Path(str(a["href"])).parent.name for a in found) == ["amd64", "arm64v8"]
    # the escaped attribute reads back as the specifier
    assert "&gt;=3.9, &lt;4" in (wheels / "simple" / "beta" / "index.html").read_text()


def test_json_pages_match_the_html(wheels: Path) -> None:
    build_index(wheels, wheels)
    root = json.loads((wheels / "simple" / "index.json").read_text())
    assert root["meta"] == {"api-version": "1.1"}
    assert root["projects"] == [{"name": "alpha"}, {"name": "Beta"}]
    beta = json.loads((wheels / "simple" / "beta" / "index.json").read_text())
    assert beta["name"] == "beta"
    assert beta["versions"] == ["2.0"]
    (entry,) = beta["files"]  # the same pure wheel in two arch folders is served once
    assert entry["filename"] == "Beta-2.0-py3-none-any.whl"
    assert entry["url"] == "../../amd64/Beta-2.0-py3-none-any.whl"
    wheel = wheels / "amd64" / entry["filename"]
    assert entry["hashes"] == {"sha256": sha(wheel)}
    assert entry["size"] == wheel.stat().st_size
    assert entry["requires-python"] == ">=3.9, <4"
    meta = {"sha256": sha(Path(f"{wheel}.metadata"))}
    assert entry["core-metadata"] == meta
    assert entry["dist-info-metadata"] == meta
    root_html = anchors(wheels / "simple" / "index.html")
    assert [a["href"] for a in root_html] == ["alpha/", "beta/"]


def test_no_requires_python_no_attribute(tmp_path: Path) -> None:
    root = tmp_path / "wheels"
    make_wheel(root / "amd64", "gamma", requires_python=None)
    build_index(root, root)
    (anchor,) = anchors(root / "simple" / "gamma" / "index.html")
    assert "data-requires-python" not in anchor
    (entry,) = json.loads((root / "simple" / "gamma" / "index.json").read_text())["files"]
    assert "requires-python" not in entry


def test_base_url_makes_absolute_links(wheels: Path) -> None:
    build_index(wheels, wheels, base_url="https://wheels.test/musl")
    (anchor,) = anchors(wheels / "simple" / "beta" / "index.html")
    assert str(anchor["href"]).startswith(
        "https://wheels.test/musl/amd64/Beta-2.0-py3-none-any.whl#sha256="
    )


@pytest.mark.parametrize(
    "url", ["wheels.test/musl", "/srv/wheels", "../up", "https://", "https://h/x?y=1", "ftp:x"]
)
def test_base_url_that_is_not_absolute_is_a_usage_error(url: str) -> None:
    with pytest.raises(UsageError) as caught:
        check_base_url(url)
    assert caught.value.exit_code == ExitCode.USAGE
    assert "not an absolute URL" in str(caught.value)


def test_base_url_usage_error_through_the_cli_writes_nothing(wheels: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    ws = cli.Workspace(root=wheels.parent, config_path=wheels.parent / "modules.toml")
    ws.ui = Ui(out=out, err=err, plain=True)
    code = cli.guarded(ws.ui, lambda: cli.cmd_index(ws, base_url="wheels.test/musl"))
    assert code == 2
    assert "--base-url 'wheels.test/musl' is not an absolute URL" in err.getvalue()
    assert "Traceback" not in err.getvalue()
    assert not (wheels / "simple").exists()


def test_a_name_that_needs_quoting(tmp_path: Path) -> None:
    root = tmp_path / "wheels"
    wheel = make_wheel(root / "amd64", "delta", "1.0+local.1", "py3-none-any")
    build_index(root, root)
    (anchor,) = anchors(root / "simple" / "delta" / "index.html")
    assert str(anchor["href"]).startswith("../../amd64/delta-1.0%2Blocal.1-py3-none-any.whl#")
    assert wheel.is_file()


# --- bad input --------------------------------------------------------------------------------


def test_bad_files_are_reported_and_left_out(wheels: Path) -> None:
    amd = wheels / "amd64"
    (amd / "notes.txt").write_text("hello")
    (amd / "broken-1.0-py3-none-any.whl").write_bytes(b"not a zip")
    make_wheel(amd, "armonly", tag=ARM)  # an aarch64 wheel in the x86_64 folder
    make_wheel(amd, "liar", metadata=metadata_text("somebody-else", "1.0", None, []))
    (wheels / "arm64").mkdir()  # an alias, not the arch folder's name
    make_wheel(wheels / "arm64", "epsilon", tag=ARM)
    (wheels / "loose.whl").write_bytes(b"")
    (amd / ".alpha-1.0-cp311-cp311-musllinux_1_2_x86_64.whl.part").write_bytes(b"moving in")
    (amd / ".muslwheels.lock").write_bytes(b"")

    report = build_index(wheels, wheels)
    reasons = {p.path: p.reason for p in report.problems}
    assert reasons["amd64/notes.txt"] == "not a wheel file"
    assert (
        "not a valid wheel: not a readable zip file" in reasons["amd64/broken-1.0-py3-none-any.whl"]
    )
    assert reasons[f"amd64/armonly-1.0-{ARM}.whl"] == (
        "platform musllinux_1_2_aarch64 does not run on amd64 (x86_64): wrong arch folder"
    )
    assert reasons[f"amd64/liar-1.0-{X86}.whl"] == (
        "its METADATA names project 'somebody-else', the file name 'liar'"
    )
    assert reasons["arm64/"].startswith("not an arch folder (the arch folders are amd64, arm64v8")
    assert reasons["loose.whl"] == "not in an arch folder"
    assert not any(".part" in p or ".lock" in p for p in reasons)
    assert report.projects == ("alpha", "beta")
    served = {w.filename for w in report.wheels}
    for left_out in ("notes.txt", "broken", "armonly", "liar", "epsilon"):
        assert not any(left_out in name for name in served)
        assert left_out not in (wheels / "simple" / "index.html").read_text()
        assert not list(wheels.rglob(f"*{left_out}*.metadata"))
    assert not (wheels / "simple" / "armonly").exists()


def test_a_damaged_member_is_found(tmp_path: Path) -> None:
    root = tmp_path / "wheels"
    wheel = make_wheel(root / "amd64", "zeta")
    # stored uncompressed, then one byte of the module changed: the CRC no longer matches
    with zipfile.ZipFile(wheel) as archive:
        members = {i.filename: archive.read(i) for i in archive.infolist()}
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as archive:
        for n, data in members.items():
            archive.writestr(n, data)
    raw = wheel.read_bytes()
    wheel.write_bytes(raw.replace(b"WHERE = ", b"WHERE - ", 1))
    report = build_index(root, root)
    (problem,) = report.problems
    assert problem.reason == "not a valid wheel: zeta_mod.py is damaged (CRC mismatch)"
    assert report.wheels == ()


def test_a_wheel_that_turns_bad_is_taken_out(wheels: Path) -> None:
    build_index(wheels, wheels)
    wheel = wheels / "amd64" / f"alpha-1.0-{X86}.whl"
    assert Path(f"{wheel}.metadata").exists()
    wheel.write_bytes(b"truncated")
    report = build_index(wheels, wheels)
    assert [p.path for p in report.problems] == [f"amd64/alpha-1.0-{X86}.whl"]
    assert not Path(f"{wheel}.metadata").exists()
    assert wheel.name not in (wheels / "simple" / "alpha" / "index.html").read_text()


def test_a_pure_wheel_built_for_each_arch_is_served_once(tmp_path: Path) -> None:
    root = tmp_path / "wheels"
    make_wheel(root / "arm64v8", "eta", tag="py3-none-any", requires_python=">=3.10")
    make_wheel(root / "amd64", "eta", tag="py3-none-any")  # the same name, other bytes
    report = build_index(root, root)
    assert not report.problems
    (wheel,) = report.wheels
    assert wheel.path == "amd64/eta-1.0-py3-none-any.whl"
    assert wheel.facts.sha256 == sha(root / wheel.path)
    assert not (root / "arm64v8" / "eta-1.0-py3-none-any.whl.metadata").exists()


def test_missing_wheels_folder_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no wheels folder"):
        build_index(tmp_path / "nowhere", tmp_path / "nowhere")


def test_dest_inside_the_wheels_folder_is_refused(wheels: Path) -> None:
    with pytest.raises(UsageError, match="is inside the wheels folder"):
        build_index(wheels, wheels / "amd64" / "site")


# --- another destination ----------------------------------------------------------------------


def test_another_dest_gets_the_wheels_and_nothing_is_added_to_wheels(
    wheels: Path, tmp_path: Path
) -> None:
    build_index(wheels, wheels)  # an index inside wheels/ too: its files are not wheels to serve
    before = contents(wheels)
    site = tmp_path / "site"
    assert build_index(wheels, site).problems == ()
    assert contents(wheels) == before
    for wheel in [*wheels.glob("amd64/*.whl"), wheels / "arm64v8" / f"alpha-1.0-{ARM}.whl"]:
        copy = site / wheel.parent.name / wheel.name
        assert copy.read_bytes() == wheel.read_bytes()
        assert Path(f"{copy}.metadata").is_file()
    # the pure wheel is served once, from the first folder
    assert not (site / "arm64v8" / "Beta-2.0-py3-none-any.whl").exists()
    # a wheel removed from wheels/ goes from the index and from DEST
    (wheels / "arm64v8" / f"alpha-1.0-{ARM}.whl").unlink()
    report = build_index(wheels, site)
    assert f"arm64v8/alpha-1.0-{ARM}.whl" in report.removed
    assert not (site / "arm64v8" / f"alpha-1.0-{ARM}.whl").exists()
    assert not (site / "arm64v8" / f"alpha-1.0-{ARM}.whl.metadata").exists()
    assert report.changed_projects == ("alpha",)


def test_a_project_that_is_gone_loses_its_pages(wheels: Path) -> None:
    build_index(wheels, wheels)
    for wheel in wheels.rglob("Beta-*.whl"):
        wheel.unlink()
    report = build_index(wheels, wheels)
    assert report.projects == ("alpha",)
    assert not (wheels / "simple" / "beta").exists()
    assert "beta" not in (wheels / "simple" / "index.html").read_text().lower()
    assert not list(wheels.rglob("Beta-*.metadata"))


# --- incremental and atomic -------------------------------------------------------------------


def test_adding_one_wheel_rewrites_only_that_projects_pages(
    wheels: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_index(wheels, wheels)
    before = mtimes(wheels)
    read: list[str] = []
    real = staticindex.read_wheel

    def counting(path: Path) -> Any:
        read.append(path.name)
        return real(path)

    monkeypatch.setattr(staticindex, "read_wheel", counting)
    new = make_wheel(wheels / "amd64", "alpha", "1.1")
    os.utime(new, ns=(before["simple/index.html"] + 10**9,) * 2)
    report = build_index(wheels, wheels)
    after = mtimes(wheels)
    changed = sorted(k for k in after if before.get(k) != after[k])
    assert changed == [
        ".muslwheels-index.json",
        "amd64/alpha-1.1-cp311-cp311-musllinux_1_2_x86_64.whl",  # the new wheel itself
        "amd64/alpha-1.1-cp311-cp311-musllinux_1_2_x86_64.whl.metadata",
        "simple/alpha/index.html",
        "simple/alpha/index.json",
    ]
    assert report.changed_projects == ("alpha",)
    assert read == [new.name]  # the unchanged wheels were not read again
    # nothing changed: nothing written at all
    again = build_index(wheels, wheels)
    assert again.written == ()
    assert mtimes(wheels) == after


def test_a_new_project_rewrites_its_pages_and_the_root(wheels: Path) -> None:
    build_index(wheels, wheels)
    before = mtimes(wheels)
    make_wheel(wheels / "arm64v8", "theta", tag=ARM)
    build_index(wheels, wheels)
    after = mtimes(wheels)
    pages = sorted(k for k in after if k.startswith("simple/") and before.get(k) != after[k])
    assert pages == [
        "simple/index.html",
        "simple/index.json",
        "simple/theta/index.html",
        "simple/theta/index.json",
    ]


class Interrupt(KeyboardInterrupt):
    pass


def test_an_interrupted_run_leaves_the_previous_index_intact(
    wheels: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    build_index(wheels, site)
    before, stamps = contents(site), mtimes(site)
    make_wheel(wheels / "amd64", "alpha", "1.1")
    make_wheel(wheels / "amd64", "iota", tag="py3-none-any")
    real = staticindex.stage_bytes
    calls: list[Path] = []

    def interrupted(path: Path, data: bytes) -> None:
        calls.append(path)
        if len(calls) == 3:
            raise Interrupt
        real(path, data)

    monkeypatch.setattr(staticindex, "stage_bytes", interrupted)
    with pytest.raises(Interrupt):
        build_index(wheels, site)
    assert len(calls) == 3
    assert contents(site) == before
    assert mtimes(site) == stamps
    assert not (site / STAGING_NAME).exists()
    monkeypatch.setattr(staticindex, "stage_bytes", real)
    report = build_index(wheels, site)
    assert report.projects == ("alpha", "beta", "iota")
    assert (site / "simple" / "iota" / "index.html").is_file()


def test_a_run_that_died_while_renaming_is_completed_by_the_next(
    wheels: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    build_index(wheels, site)
    make_wheel(wheels / "amd64", "iota", tag="py3-none-any")
    real = staticindex.apply_journal

    def dies(dest: Path, staging: Path) -> None:
        raise Interrupt  # the process died after the journal was written, before any rename

    monkeypatch.setattr(staticindex, "apply_journal", dies)
    with pytest.raises(Interrupt):
        build_index(wheels, site)
    assert (site / STAGING_NAME / "COMMIT").is_file()
    assert not (site / "simple" / "iota").exists()  # nothing renamed yet
    monkeypatch.setattr(staticindex, "apply_journal", real)
    # the next run completes the journal first, then has nothing left to do
    report = build_index(wheels, site)
    assert report.recovered
    assert report.written == ()
    assert (site / "simple" / "iota" / "index.html").is_file()
    assert not (site / STAGING_NAME).exists()


def test_a_copy_that_was_changed_in_dest_is_replaced(wheels: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    build_index(wheels, site)
    copy = site / "amd64" / f"alpha-1.0-{X86}.whl"
    copy.unlink()
    copy.write_bytes(b"something else")
    report = build_index(wheels, site)
    assert report.written == (f"amd64/alpha-1.0-{X86}.whl",)
    assert copy.read_bytes() == (wheels / "amd64" / copy.name).read_bytes()


def test_unwritable_dest_is_one_error_without_traceback(wheels: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    out, err = io.StringIO(), io.StringIO()
    ws = cli.Workspace(root=wheels.parent, config_path=wheels.parent / "modules.toml")
    ws.ui = Ui(out=out, err=err, plain=True)
    code = cli.guarded(ws.ui, lambda: cli.cmd_index(ws, dest=blocker / "site"))
    assert code == 2
    assert "could not be written" in err.getvalue()
    assert "Traceback" not in err.getvalue()


def test_cli_reports_left_out_files_and_the_pages(wheels: Path) -> None:
    (wheels / "amd64" / "notes.txt").write_text("")
    out, err = io.StringIO(), io.StringIO()
    ws = cli.Workspace(root=wheels.parent, config_path=wheels.parent / "modules.toml")
    ws.ui = Ui(out=out, err=err, plain=True)
    assert cli.guarded(ws.ui, lambda: cli.cmd_index(ws)) == 0
    text = err.getvalue()
    assert "note: left out of the index: amd64/notes.txt: not a wheel file" in text
    assert "2 project(s), 3 wheel(s); pages rewritten: alpha, beta" in text


# --- pip reads it -----------------------------------------------------------------------------


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k == "PIP_CERT"}
    env["PIP_CONFIG_FILE"] = os.devnull
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-cache-dir", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


@pytest.fixture
def pure(tmp_path: Path) -> Iterator[Path]:
    """Two pure wheels (omega needs kappa) and a wheel for another machine, indexed in place."""
    root = tmp_path / "wheels"
    make_wheel(root / "amd64", "omega", tag="py3-none-any", requires=["kappa"])
    make_wheel(root / "arm64v8", "kappa", "1.0", "py3-none-any", module="kappa_mod")
    build_index(root, root)
    yield root


def test_pip_installs_from_the_index_as_a_file_url(pure: Path, tmp_path: Path) -> None:
    target = tmp_path / "site-packages"
    done = pip(
        "install",
        "--index-url",
        (pure / "simple").as_uri() + "/",
        "--target",
        str(target),
        "omega",
    )
    assert done.returncode == 0, done.stderr
    assert (target / "omega_mod.py").is_file()
    assert (target / "kappa_mod.py").is_file()


def test_pip_refuses_a_wheel_whose_hash_is_not_the_indexs(pure: Path, tmp_path: Path) -> None:
    wheel = pure / "arm64v8" / "kappa-1.0-py3-none-any.whl"
    wheel.write_bytes(wheel.read_bytes() + b"\0")  # still a zip, another hash
    done = pip(
        "install",
        "--index-url",
        (pure / "simple").as_uri() + "/",
        "--target",
        str(tmp_path / "t"),
        "kappa",
    )
    assert done.returncode != 0
    assert "HASHES" in done.stderr.upper()


def test_pip_find_links_on_an_arch_folder(pure: Path, tmp_path: Path) -> None:
    target = tmp_path / "site-packages"
    done = pip(
        "install",
        "--no-index",
        "--find-links",
        str(pure / "amd64"),
        "--find-links",
        str(pure / "arm64v8"),
        "--target",
        str(target),
        "omega",
    )
    assert done.returncode == 0, done.stderr
    assert (target / "kappa_mod.py").is_file()
