"""outputs.py: --dest and --print write only regular files or new names in folders that can be
written; anything else is one line, exit code 2, and nothing is replaced."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from muslwheels.errors import UsageError
from muslwheels.outputs import check_output_folder, write_output_text


def refused(path: Path, match: str) -> UsageError:
    with pytest.raises(UsageError, match=match) as caught:
        write_output_text(path, "new\n", what="the workflow", flag="--dest")
    assert caught.value.exit_code == 2
    assert "\n" not in str(caught.value)
    return caught.value


def test_a_regular_file_is_replaced_whole_and_a_new_name_made(tmp_path: Path) -> None:
    old = tmp_path / "old.yml"
    old.write_text("old\n")
    write_output_text(old, "new\n", what="the workflow", flag="--dest")
    assert old.read_text() == "new\n"
    fresh = tmp_path / "a" / "b" / "fresh.yml"  # folders that can be made are made
    write_output_text(fresh, "new\n", what="the workflow", flag="--dest")
    assert fresh.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "old.yml"]  # no temp file left


def test_a_device_is_never_replaced() -> None:
    before = Path("/dev/full").stat()
    refused(Path("/dev/full"), "it is a device, not a regular file")
    after = Path("/dev/full").stat()
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


def test_a_fifo_a_folder_a_socket_and_a_symlink_are_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    refused(fifo, "it is a FIFO")
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    refused(tmp_path, "it is a folder")
    link = tmp_path / "link.yml"
    (tmp_path / "real.yml").write_text("mine\n")
    link.symlink_to(tmp_path / "real.yml")
    refused(link, "it is a symbolic link")
    assert link.is_symlink() and (tmp_path / "real.yml").read_text() == "mine\n"


def test_a_path_through_a_file_or_a_folder_that_cannot_be_made(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("")
    refused(tmp_path / "plain" / "sub" / "ci.yml", r"plain is not a folder")
    # /proc takes no new folders, not even from root
    refused(Path("/proc/musl-wheels-test/ci.yml"), "cannot write the workflow to /proc/")
    assert not Path("/proc/musl-wheels-test").exists()


def test_output_folders(tmp_path: Path) -> None:
    assert check_output_folder(tmp_path / "new", what="the wheels", flag="--dest")
    (tmp_path / "file").write_text("")
    for path, match in (
        (tmp_path / "file", "file is not a folder"),
        (Path("/dev/full"), "/dev/full is not a folder"),
        (tmp_path / "file" / "below", "file is not a folder"),
    ):
        with pytest.raises(UsageError, match=match) as caught:
            check_output_folder(path, what="the wheels", flag="--dest")
        assert caught.value.exit_code == 2
