"""build.WheelFolders: which wheels in wheels/<arch>/ a target already has, each folder listed once."""

from __future__ import annotations

from pathlib import Path

from muslwheels.arches import lookup_arch
from muslwheels.build import WheelFolders, existing_wheels
from muslwheels.model import Flavour, Recipe, Target


def make_target(module: str, arch: str = "amd64", version: str = "1.0") -> Target:
    found = lookup_arch(arch)
    assert found is not None
    return Target(
        module=module,
        version=version,
        python="3.11",
        arch=found,
        ssl=None,
        flavour=Flavour.SHARED,
        base_image="python:3.11-alpine3.20",
        repository="example/wheels",
        recipe=Recipe(),
    )


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
    assert existing_wheels(make_target("PyNaCl"), tmp_path) == folders.fitting(
        make_target("PyNaCl")
    )


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
