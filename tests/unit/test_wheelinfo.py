"""Reading wheels (verify/wheelinfo.py): metadata, importable modules, ELF NEEDED / SONAME."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from fakes import make_elf

from muslwheels.errors import BuildError
from muslwheels.verify.wheelinfo import (
    elf_dynamic,
    elf_module_inits,
    importable_modules,
    parse_metadata,
    read_wheel,
)


@pytest.mark.parametrize(("bits", "big"), [(64, False), (64, True), (32, False), (32, True)])
def test_elf_needed_and_soname(bits: int, big: bool) -> None:
    data = make_elf(["libxml2.so.2", "libc.musl-x86_64.so.1"], "libfoo.so.1", bits=bits, big=big)
    assert elf_dynamic(data) == (("libxml2.so.2", "libc.musl-x86_64.so.1"), "libfoo.so.1")


@pytest.mark.parametrize(("bits", "big"), [(64, False), (64, True), (32, False), (32, True)])
def test_elf_module_inits_are_the_defined_pyinit_symbols(bits: int, big: bool) -> None:
    data = make_elf(
        ["libc.so"],
        bits=bits,
        big=big,
        exports=["PyInit__speedups", "helper"],
        imports=("PyInit_other", "PyLong_FromLong"),
    )
    assert elf_module_inits(data) == frozenset({"PyInit__speedups"})
    assert elf_dynamic(data) == (("libc.so",), None)
    assert (
        elf_module_inits(make_elf([], exports=["sodium_init"], bits=bits, big=big)) == frozenset()
    )
    assert elf_module_inits(make_elf([], bits=bits, big=big)) is None  # no .dynsym: cannot tell
    assert elf_module_inits(b"#!/bin/sh\n" * 10) is None


def test_not_elf_and_broken_elf() -> None:
    assert elf_dynamic(b"#!/bin/sh\n" * 10) is None
    with pytest.raises(ValueError, match="not a readable ELF"):
        elf_dynamic(make_elf(["libz.so.1"])[:80])


def test_metadata() -> None:
    text = (
        "Metadata-Version: 2.1\nName: cffi\nVersion: 1.17.1\n"
        "Requires-Dist: pycparser\nRequires-Dist: x; extra == 'y'\n\nlong description\n"
    )
    assert parse_metadata(text) == ("cffi", "1.17.1", ("pycparser", "x; extra == 'y'"))
    with pytest.raises(ValueError, match="no Name"):
        parse_metadata("Metadata-Version: 2.1\n")


def test_importable_modules_from_the_file_list() -> None:
    top, extensions = importable_modules(
        [
            "_cffi_backend.cpython-311-x86_64-linux-musl.so",  # a root extension
            "cffi/__init__.py",
            "cffi/api.py",
            "cffi/_sub/__init__.py",
            "six.py",  # a root module
            "msgpack/__init__.py",
            "msgpack/_cmsgpack.cpython-311-aarch64-linux-gnu.so",
            "lxml/etree.abi3.so",
            "lxml/__init__.py",
            "cffi.libs/libffi-3a2b1c.so.8.1.0",  # a bundled library: not a module
            "google/protobuf/__init__.py",  # namespace package google
            "google/protobuf/message.py",
            "zope/interface.py",  # module in a namespace package
            "pkg.data/purelib/datamod.py",  # installed into the library
            "pkg.data/scripts/tool.py",  # not
            "pkg-1.0.dist-info/METADATA",
            "not-a-name/__init__.py",
            "__init__.py",
        ]
    )
    assert top == (
        "_cffi_backend",
        "cffi",
        "datamod",
        "google.protobuf",
        "lxml",
        "msgpack",
        "six",
        "zope.interface",
    )
    assert extensions == ("_cffi_backend", "lxml.etree", "msgpack._cmsgpack")


def write_wheel(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def test_read_wheel(tmp_path: Path) -> None:
    path = write_wheel(
        tmp_path / "demo-1.0-cp311-cp311-musllinux_1_2_x86_64.whl",
        {
            "demo/__init__.py": b"",
            "demo/_ext.cpython-311-x86_64-linux-musl.so": make_elf(
                ["libyaml-abc.so.0.2.5", "libxslt.so.1", "libc.musl-x86_64.so.1"]
            ),
            "demo.libs/libyaml-abc.so.0.2.5": make_elf(
                ["libc.musl-x86_64.so.1"], "libyaml-abc.so.0.2.5"
            ),
            "demo-1.0.dist-info/METADATA": b"Name: demo\nVersion: 1.0\nRequires-Dist: six\n",
            "demo-1.0.dist-info/RECORD": b"",
        },
    )
    contents = read_wheel(path)
    assert (contents.name, contents.version, contents.requires_dist) == ("demo", "1.0", ("six",))
    assert contents.top_level == ("demo",)
    assert contents.extensions == ("demo._ext",)
    assert contents.needed_from_outside() == ("libc.musl-x86_64.so.1", "libxslt.so.1")


def test_a_plain_library_named_like_a_module_is_not_imported(tmp_path: Path) -> None:
    """A ``_name.abi3.so`` loaded with ctypes exports no ``PyInit__name``: not a module."""
    path = write_wheel(
        tmp_path / "demo-1.0-cp311-abi3-musllinux_1_2_x86_64.whl",
        {
            "demo/__init__.py": b"",
            "demo/_sodium.abi3.so": make_elf(["libc.musl-x86_64.so.1"], exports=["sodium_init"]),
            "demo/_ext.cpython-311-x86_64-linux-musl.so": make_elf([], exports=["PyInit__ext"]),
            "demo/_unknown.so": make_elf([]),  # no symbol table: imported, as before
            "_rootlib.abi3.so": make_elf(
                [], exports=["rootlib_init"], imports=("PyInit__rootlib",)
            ),
            "demo-1.0.dist-info/METADATA": b"Name: demo\nVersion: 1.0\n",
        },
    )
    contents = read_wheel(path)
    assert contents.top_level == ("demo",)
    assert contents.extensions == ("demo._ext", "demo._unknown")
    assert "demo/_sodium.abi3.so" in {elf.path for elf in contents.elf_files}


def test_unreadable_wheel(tmp_path: Path) -> None:
    bad = tmp_path / "bad-1.0-py3-none-any.whl"
    bad.write_bytes(b"not a zip")
    with pytest.raises(BuildError, match=r"bad-1\.0-py3-none-any\.whl: not a readable wheel"):
        read_wheel(bad)
    no_meta = write_wheel(tmp_path / "x-1.0-py3-none-any.whl", {"x.py": b""})
    with pytest.raises(BuildError, match=r"no \.dist-info/METADATA files"):
        read_wheel(no_meta)
