"""verify/wheelfile.py: the one wheel reader. Hostile wheels give one line each (WheelProblem), never a
traceback, a MemoryError or a wait; the index leaves them out and serves the rest."""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path

import pytest
from fakes import X86, make_wheel

from muslwheels.publish.staticindex import build_index
from muslwheels.verify.wheelfile import (
    Limits,
    WheelProblem,
    check_wheel,
    open_wheel,
    parse_wheel_name,
)

TWO_GB = 2 << 30


def patch_headers(path: Path, member: str, offsets: tuple[int, int], fmt: str, value: int) -> None:
    """Write ``value`` (struct ``fmt``) at ``offsets`` (local header, central header) of ``member``'s
    two zip headers."""
    raw = bytearray(path.read_bytes())
    encoded = member.encode()
    for signature, offset in zip((b"PK\x03\x04", b"PK\x01\x02"), offsets, strict=True):
        start = 0
        while (start := raw.find(signature, start)) != -1:
            name_at = start + (30 if signature == b"PK\x03\x04" else 46)
            if raw[name_at : name_at + len(encoded)] == encoded:
                struct.pack_into(fmt, raw, start + offset, value)
            start += 4
    path.write_bytes(bytes(raw))


def declare_size(path: Path, member: str, size: int) -> None:
    """Make ``member``'s headers declare ``size`` uncompressed bytes: a METADATA that says it
    inflates to ``size``, at the cost of a few bytes on disk."""
    patch_headers(path, member, (22, 24), "<I", size)


def zip_with(path: Path, members: dict[str, bytes], *, symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x-1.0.dist-info/METADATA", b"Name: x\nVersion: 1.0\n\n")
        for name, data in members.items():
            archive.writestr(name, data)
        if symlink is not None:
            info = zipfile.ZipInfo(symlink)
            info.create_system = 3
            info.external_attr = 0o120777 << 16
            archive.writestr(info, b"/etc/passwd")
    return path


def test_a_metadata_that_inflates_to_2_gb_is_one_line(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "bomb")
    declare_size(wheel, "bomb-1.0.dist-info/METADATA", TWO_GB)
    with pytest.raises(WheelProblem) as info:
        check_wheel(wheel)
    assert str(info.value) == (
        "not a valid wheel: bomb-1.0.dist-info/METADATA would unpack to 2147483648 bytes, "
        "more than the 16777216 allowed"
    )


def test_members_that_unpack_to_too_much_together(tmp_path: Path) -> None:
    wheel = zip_with(tmp_path / "x-1.0-py3-none-any.whl", {"a": b"a" * 100, "b": b"b" * 100})
    with pytest.raises(WheelProblem, match=r"would unpack to 2\d\d bytes, more than the 150"):
        check_wheel(wheel, limits=Limits(unpacked=150))


def test_a_member_that_inflates_past_its_declared_size_is_damaged(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "liar")
    declare_size(wheel, "liar-1.0.dist-info/METADATA", 5)
    with pytest.raises(WheelProblem, match=r"METADATA is damaged \(CRC mismatch\)"):
        check_wheel(wheel)


def set_method(path: Path, member: str, method: int) -> None:
    """Make ``member``'s headers name compression ``method``."""
    patch_headers(path, member, (8, 10), "<H", method)


def test_a_compression_method_zipfile_lacks_is_one_line(tmp_path: Path) -> None:
    """zipfile raises NotImplementedError for a method it cannot decompress (98: PPMd)."""
    wheel = make_wheel(tmp_path, "odd")
    set_method(wheel, "odd-1.0.dist-info/METADATA", 98)
    with pytest.raises(WheelProblem, match=r"^not a valid wheel: .*compression"):
        check_wheel(wheel)


def test_reading_is_bounded_in_time(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "slow")
    ticks = iter(range(0, 1000, 10))
    with (
        pytest.raises(WheelProblem, match="reading it took more than 5 s"),
        open_wheel(wheel, limits=Limits(seconds=5), clock=lambda: float(next(ticks))) as reader,
    ):
        reader.check()


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ("../../etc/cron.d/x", "climbs out of the wheel"),
        ("x/../../y", "climbs out of the wheel"),
        ("/etc/passwd", "is an absolute path"),
        ("C:/Windows/x", "is an absolute path"),
        ("x\\..\\y", "backslash"),
        ("x//y", "is not a valid path"),
        ("./x", "is not a valid path"),
        ("x\ny", "control character"),
    ],
)
def test_member_names_that_are_not_relative_paths(tmp_path: Path, member: str, reason: str) -> None:
    wheel = zip_with(tmp_path / "x-1.0-py3-none-any.whl", {member: b"x"})
    with pytest.raises(WheelProblem, match=reason) as info:
        check_wheel(wheel)
    assert "\n" not in str(info.value)


def test_a_symlink_member_makes_the_wheel_invalid(tmp_path: Path) -> None:
    wheel = zip_with(tmp_path / "x-1.0-py3-none-any.whl", {}, symlink="x/link")
    with pytest.raises(WheelProblem, match="symbolic link or a special file"):
        check_wheel(wheel)


def test_a_duplicate_member_makes_the_wheel_invalid(tmp_path: Path) -> None:
    wheel = tmp_path / "x-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("x-1.0.dist-info/METADATA", b"Name: x\nVersion: 1.0\n\n")
        with pytest.warns(UserWarning):
            archive.writestr("x-1.0.dist-info/METADATA", b"Name: y\nVersion: 2.0\n\n")
    with pytest.raises(WheelProblem, match="twice"):
        check_wheel(wheel)


def test_a_symlink_a_fifo_or_a_folder_is_never_read_as_a_wheel(tmp_path: Path) -> None:
    real = make_wheel(tmp_path / "real", "good")
    link = tmp_path / real.name
    link.symlink_to(real)
    with pytest.raises(WheelProblem, match="a symbolic link"):
        check_wheel(link)
    fifo = tmp_path / "fifo-1.0-py3-none-any.whl"
    os.mkfifo(fifo)
    with pytest.raises(WheelProblem, match="not a regular file"):  # and no wait for a writer
        check_wheel(fifo)
    folder = tmp_path / "dir-1.0-py3-none-any.whl"
    folder.mkdir()
    with pytest.raises(WheelProblem, match="not a regular file"):
        check_wheel(folder)


@pytest.mark.parametrize(
    "name",
    [
        "x\nFORGED LINE-1.0-py3-none-any.whl",
        "x-1.0-py3-none-any.whl\n",
        "x-1.0-py3-none-any\n.whl",
        "x-1.0-py3-none-any\r.whl",
        "x-1.0-py3-none-any.whl.txt",
        "x-1.0-py3-none-any\u2028.whl",
        "x-1.0-py3-none-any.whl\x00",
    ],
)
def test_file_names_match_as_a_whole(name: str) -> None:
    with pytest.raises(WheelProblem) as info:
        parse_wheel_name(name)
    assert "\n" not in str(info.value) and "\r" not in str(info.value)
    assert "\u2028" not in str(info.value)


def test_the_index_leaves_hostile_wheels_out_and_serves_the_rest(tmp_path: Path) -> None:
    root = tmp_path / "wheels"
    amd = root / "amd64"
    make_wheel(amd, "good")
    bomb = make_wheel(amd, "bomb")
    declare_size(bomb, "bomb-1.0.dist-info/METADATA", TWO_GB)
    zip_with(amd / "x-1.0-py3-none-any.whl", {"../../evil": b"x"})
    (amd / f"forged\nFORGED LINE-1.0-{X86}.whl").write_bytes(make_wheel(tmp_path, "f").read_bytes())
    (amd / f"nl-1.0-{X86}.whl\n").write_bytes(make_wheel(tmp_path, "nl").read_bytes())
    (amd / f"link-1.0-{X86}.whl").symlink_to(make_wheel(tmp_path / "elsewhere", "link"))
    report = build_index(root, root)
    assert [w.filename for w in report.wheels] == [f"good-1.0-{X86}.whl"]
    reasons = {p.path: p.reason for p in report.problems}
    assert len(reasons) == 5
    assert all("\n" not in f"{p}: {r}" for p, r in reasons.items())
    assert "would unpack to 2147483648 bytes" in reasons[f"amd64/bomb-1.0-{X86}.whl"]
    assert "climbs out" in reasons["amd64/x-1.0-py3-none-any.whl"]
    assert reasons[f"amd64/link-1.0-{X86}.whl"] == "not a wheel file"
    written = [p.name for p in root.rglob("*")]
    assert not any("\n" in name for name in written if name.endswith(".metadata"))
