"""The integration tests' own package index: sdists made from tests/fixtures/projects, served as a
PEP 503 "simple" tree by an HTTP server on 127.0.0.1 (no network, nothing from the outside)."""

from __future__ import annotations

import functools
import html
import io
import re
import sys
import tarfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PROJECTS = Path(__file__).resolve().parents[1] / "fixtures" / "projects"


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def make_sdist(project_dir: Path, dest: Path) -> Path:
    """A source distribution of ``project_dir`` (name and version from its pyproject.toml),
    written as ``dest/<name>-<version>.tar.gz`` with a PKG-INFO, as pip expects."""
    meta = tomllib.loads((project_dir / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    name, version = meta["name"], meta["version"]
    stem = f"{normalize(name).replace('-', '_')}-{version}"
    pkg_info = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        f"Summary: {meta.get('description', '')}\n"
    ).encode()
    path = dest / f"{stem}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for file in sorted(project_dir.rglob("*")):
            if not file.is_file() or "__pycache__" in file.parts or file.suffix == ".pyc":
                continue
            tar.add(file, arcname=f"{stem}/{file.relative_to(project_dir).as_posix()}")
        info = tarfile.TarInfo(f"{stem}/PKG-INFO")
        info.size = len(pkg_info)
        tar.addfile(info, io.BytesIO(pkg_info))
    return path


def write_simple_tree(files: list[Path], root: Path) -> None:
    """``root/simple/<normalized name>/index.html`` linking each file in ``root/files/``."""
    by_project: dict[str, list[str]] = {}
    files_dir = root / "files"
    files_dir.mkdir(parents=True, exist_ok=True)
    for file in files:
        target = files_dir / file.name
        if file != target:
            target.write_bytes(file.read_bytes())
        project = normalize(file.name.split("-")[0])
        by_project.setdefault(project, []).append(file.name)
    simple = root / "simple"
    simple.mkdir(parents=True, exist_ok=True)
    links = []
    for project, names in sorted(by_project.items()):
        page = simple / project
        page.mkdir(exist_ok=True)
        anchors = "\n".join(
            f'<a href="../../files/{html.escape(n)}">{html.escape(n)}</a><br/>' for n in names
        )
        (page / "index.html").write_text(
            f"<!DOCTYPE html><html><body>\n{anchors}\n</body></html>\n", encoding="utf-8"
        )
        links.append(f'<a href="{project}/">{project}</a><br/>')
    (simple / "index.html").write_text(
        "<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>\n",
        encoding="utf-8",
    )


class _QuietHandler(SimpleHTTPRequestHandler):
    requests: list[str]

    def log_message(self, format: str, *args: Any) -> None:
        self.requests.append(self.path)


class LocalIndex:
    """Serves ``root`` on 127.0.0.1 (a free port) until ``close()``; records the paths asked for."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        handler = type("Handler", (_QuietHandler,), {"requests": self.requests})
        self.server = ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(root))
        )
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/simple/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def build_index(root: Path, projects: list[str]) -> Path:
    """Make the sdists of ``projects`` (directory names under tests/fixtures/projects) and the
    simple tree for them under ``root``."""
    dist = root / "dist"
    dist.mkdir(parents=True, exist_ok=True)
    sdists = [make_sdist(PROJECTS / p, dist) for p in projects]
    write_simple_tree(sdists, root)
    return root
