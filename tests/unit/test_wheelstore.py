"""wheelstore: which wheels in wheels/<arch>/ a target already has (each folder listed once), and
how wheels get in (all or none, under the folder's lock)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fakeimages import make_target, wheel_name

from muslwheels.build.wheelstore import LOCK_NAME, WheelFolders, install_wheels, locked_dir


def put(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")


def test_each_target_gets_only_its_own_fitting_wheels(tmp_path: Path) -> None:
    put(
        tmp_path / "amd64",
        "PyNaCl-1.0-cp311-cp311-musllinux_1_2_x86_64.whl",  # spelled in mixed case
        "pynacl-1.0-cp311-cp311-musllinux_1_2_aarch64.whl",  # another CPU
        "pynacl-0.9-cp311-cp311-musllinux_1_2_x86_64.whl",  # another version
        "pynacl_extra-1.0-cp311-cp311-musllinux_1_2_x86_64.whl",  # another project
        ".pynacl-1.0-cp311-cp311-musllinux_1_2_x86_64.whl.part",  # being moved in
        "cffi-1.0-cp311-cp311-musllinux_1_2_x86_64.whl",
        "cffi-1.0-cp311-cp311-linux_x86_64.whl",  # not repaired: not for the shared flavour
        "notes.txt",
    )
    (tmp_path / "amd64" / "pynacl-1.0-cp311-cp311-musllinux_1_1_x86_64.whl").mkdir()
    folders = WheelFolders(tmp_path)
    assert folders.fitting(make_target("PyNaCl")) == (
        "PyNaCl-1.0-cp311-cp311-musllinux_1_2_x86_64.whl",
    )
    assert folders.fitting(make_target("cffi")) == (
        "cffi-1.0-cp311-cp311-musllinux_1_2_x86_64.whl",
    )
    assert folders.fitting(make_target("cffi", "arm64v8")) == ()  # no folder at all
    assert folders.fitting(make_target("zstandard")) == ()


def test_a_folder_is_listed_once_per_run(tmp_path: Path) -> None:
    put(tmp_path / "amd64", "alpha-1.0-cp311-cp311-musllinux_1_2_x86_64.whl")
    folders = WheelFolders(tmp_path)
    assert folders.fitting(make_target("alpha")) != ()
    put(tmp_path / "amd64", "beta-1.0-cp311-cp311-musllinux_1_2_x86_64.whl")
    assert folders.fitting(make_target("beta")) == ()  # the run's listing is kept
    assert WheelFolders(tmp_path).fitting(make_target("beta")) != ()  # a new run sees it


def test_names_compare_normalised(tmp_path: Path) -> None:
    put(tmp_path / "amd64", "psycopg2_binary-2.9-cp311-cp311-musllinux_1_2_x86_64.whl")
    assert WheelFolders(tmp_path).fitting(make_target("psycopg2-binary", version="2.9")) == (
        "psycopg2_binary-2.9-cp311-cp311-musllinux_1_2_x86_64.whl",
    )


def test_install_is_all_or_nothing(tmp_path: Path) -> None:
    src = tmp_path / "out"
    src.mkdir()
    (src / "a-1.0-py3-none-any.whl").write_bytes(b"a")
    dest = tmp_path / "wheels" / "amd64"
    with pytest.raises(FileNotFoundError):
        install_wheels([src / "a-1.0-py3-none-any.whl", src / "missing.whl"], dest)
    assert [p.name for p in dest.iterdir()] == [LOCK_NAME]
    assert install_wheels([src / "a-1.0-py3-none-any.whl"], dest) == ("a-1.0-py3-none-any.whl",)
    assert (dest / "a-1.0-py3-none-any.whl").read_bytes() == b"a"


def test_install_waits_for_the_directory_lock(tmp_path: Path) -> None:
    src = tmp_path / "out"
    src.mkdir()
    (src / "a-1.0-py3-none-any.whl").write_bytes(b"a")
    dest = tmp_path / "wheels" / "amd64"
    landed = threading.Event()

    def install() -> None:
        install_wheels([src / "a-1.0-py3-none-any.whl"], dest)
        landed.set()

    with locked_dir(dest):
        worker = threading.Thread(target=install)
        worker.start()
        assert not landed.wait(timeout=0.5)  # blocked while another run holds the lock
        assert not (dest / "a-1.0-py3-none-any.whl").exists()
    worker.join(timeout=10)
    assert landed.is_set()


def test_hidden_and_partial_files_do_not_count(tmp_path: Path) -> None:
    target = make_target()
    folder = tmp_path / "amd64"
    folder.mkdir()
    (folder / f".{wheel_name(target)}.abc.part").write_bytes(b"partial")
    assert WheelFolders(tmp_path).fitting(target) == ()
    (folder / wheel_name(target)).write_bytes(b"whole")
    assert WheelFolders(tmp_path).fitting(target) == (wheel_name(target),)
    assert WheelFolders(tmp_path).fitting(make_target(arch="arm64v8")) == ()


def test_a_symlink_named_like_a_wheel_is_never_taken_for_one(tmp_path: Path) -> None:
    """It could point anywhere (a secret of this machine) and would be pushed in an image."""
    target = make_target("alpha")
    folder = tmp_path / target.wheel_dir
    folder.mkdir()
    secret = tmp_path / "secret"
    secret.write_text("password")
    (folder / wheel_name(target)).symlink_to(secret)
    assert WheelFolders(tmp_path).fitting(target) == ()
    (folder / wheel_name(target)).unlink()
    (folder / wheel_name(target)).write_bytes(b"a real file")
    assert WheelFolders(tmp_path).fitting(target) == (wheel_name(target),)
