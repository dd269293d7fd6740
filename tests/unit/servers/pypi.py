"""Small real sdists, and pypiserver serving them."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

from .routes import free_port, wait_until_serving

SETUP_PY = """from setuptools import setup
setup(name={name!r}, version={version!r}, py_modules=[])
"""

PKG_INFO = """Metadata-Version: 2.1
Name: {name}
Version: {version}
Summary: a tiny test project
"""


def make_sdist(
    directory: Path, name: str, version: str, *, filename_name: str | None = None
) -> Path:
    """A real (tiny) sdist: ``<name>-<version>/{setup.py,PKG-INFO}`` in a .tar.gz.

    ``filename_name`` spells the name in the file name differently (as PEP 625 tools do).
    """
    stem = f"{filename_name or name}-{version}"
    path = directory / f"{stem}.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for member, text in (
            ("setup.py", SETUP_PY.format(name=name, version=version)),
            ("PKG-INFO", PKG_INFO.format(name=name, version=version)),
        ):
            data = text.encode()
            info = tarfile.TarInfo(f"{stem}/{member}")
            info.size = len(data)
            info.mtime = 0
            archive.addfile(info, io.BytesIO(data))
    return path


class PypiServer:
    """pypiserver on a free 127.0.0.1 port, serving ``directory`` (no fallback to any other index)."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        executable = Path(sys.executable).with_name("pypi-server")
        self.process = subprocess.Popen(
            [
                str(executable),
                "run",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--disable-fallback",
                "--log-stream",
                "none",
                str(directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        wait_until_serving(self.url + "/simple/", self.process, self.close, "pypiserver")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()
