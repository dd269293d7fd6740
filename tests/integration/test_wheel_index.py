"""The wheels as a package index, consumed for real: pip in the stand-ins (glibc and musl, amd64 and
arm64) installs a module and its dependency from the index `invoke index` made, served over HTTP on
127.0.0.1 (containers on the host network), with --require-hashes and the PEP 658 metadata; and a
consumer image that installs from a wheel image with RUN --mount keeps no wheel in its layers.

The wheels: muslwheels-fixture-app (pure, needs muslwheels-fixture-cext at run time) and the C
extension, built by `invoke build --push --index` on the glibc stand-in for amd64 and arm64, and the
C extension built on the musl stand-in for both; one index over all of them."""

from __future__ import annotations

import io
import json
import re
import shutil
import tarfile
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from localindex import LocalIndex
from support import REGISTRY, REQUIRED, STANDIN, STANDIN_REPO, make_target, run_build, run_command
from test_musl import MUSL, MUSL_TAG, NO_ISOLATION
from test_publish_real import MANIFEST, Project, new_repository, registry_get, remove_local_images

from muslwheels.config.model import Recipe
from muslwheels.engine.docker import DockerEngine
from muslwheels.sources.pipconfig import IndexSettings

pytestmark = pytest.mark.integration

APP = "muslwheels-fixture-app"
CEXT = "muslwheels-fixture-cext"
MODULES_TOML = """
[defaults]
pythons = ["3.11"]
arches = ["amd64", "arm64v8"]
base_image = "127.0.0.1:5000/standin/python:{python}-bookworm"
repository = "@REPOSITORY@"
no_shared_repository = "@REPOSITORY@-no-shared"

[modules.muslwheels-fixture-cext]

[modules.muslwheels-fixture-app]
depends = ["muslwheels-fixture-cext"]  # its image carries the extension's wheel too
"""
PIP = "python -m pip --disable-pip-version-check --no-cache-dir"


@dataclass
class Served:
    project: Project
    server: LocalIndex
    index_run: str  # stderr of `invoke index` after the musl wheels were added
    before_musl: dict[str, int]  # mtimes of the index files after `build --index`
    after_musl: dict[str, int]

    @property
    def wheels(self) -> Path:
        return self.project.wheels

    def files(self, project: str) -> list[dict[str, Any]]:
        page = self.wheels / "simple" / project / "index.json"
        files: list[dict[str, Any]] = json.loads(page.read_text())["files"]
        return files

    def requirements(self) -> str:
        """Both projects pinned, with every hash the index lists for them (any arch may match)."""
        lines = []
        for project in (APP, CEXT):
            hashes = " ".join(f"--hash=sha256:{f['hashes']['sha256']}" for f in self.files(project))
            lines.append(f"{project}==1.0.0 {hashes}")
        return "\n".join(lines) + "\n"


def index_mtimes(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): p.stat().st_mtime_ns
        for p in [*root.glob("simple/**/*"), *root.glob("*/*.metadata")]
        if p.is_file()
    }


def require_musl_standin() -> None:
    url = f"http://{REGISTRY}/v2/{STANDIN_REPO}/tags/list"
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            present = MUSL_TAG in (json.load(answer).get("tags") or [])
    except OSError:
        present = False
    if not present:
        reason = f"{MUSL} is not in the registry; run tests/standins/build-musl.sh"
        if REQUIRED:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
    local_index: LocalIndex,
    index_settings: IndexSettings,
    engine: DockerEngine,
) -> Iterator[Served]:
    require_musl_standin()
    repository = new_repository("index")
    project = Project(
        tmp_path_factory.mktemp("index") / "project",
        repository,
        local_index,
        tmp_path_factory.mktemp("xdg-cache"),
    )
    (project.root / "modules.toml").write_text(MODULES_TOML.replace("@REPOSITORY@", repository))
    tag = f"{APP}-py3.11"  # amd64 and arm64, the extension first (a dependency)
    project.invoke("build", "--push", "--index", "--jobs", "2", "--tag", tag).ok()
    before = index_mtimes(project.wheels)
    # the extension for musl too, into the same wheels/ (the test's own build, on the musl stand-in)
    targets = [
        make_target(CEXT, arch, recipe=Recipe(build=NO_ISOLATION), base_image=MUSL)
        for arch in ("amd64", "arm64v8")
    ]
    musl = run_build(
        targets, tmp_path_factory.mktemp("musl"), index=index_settings, engine=engine, jobs=2
    )
    for target in targets:
        wheel = musl.wheel(target)
        shutil.copy2(wheel, project.wheels / target.wheel_dir / wheel.name)
    done = project.invoke("index").ok()
    server = LocalIndex(project.wheels)
    yield Served(project, server, done.stderr, before, index_mtimes(project.wheels))
    server.close()
    remove_local_images([repository])


def test_one_index_over_every_arch_and_libc(served: Served) -> None:
    names = sorted(str(f["filename"]) for f in served.files(CEXT))
    assert len(names) == 4, names
    assert sum("manylinux" in n for n in names) == 2
    assert sum("musllinux_1_2" in n for n in names) == 2
    assert sum(n.endswith("_x86_64.whl") for n in names) == 2
    (app,) = served.files(APP)  # the pure wheel, built for each arch, served once
    assert str(app["filename"]).endswith("-py3-none-any.whl")
    assert app["requires-python"] == ">=3.8"
    # adding the musl wheels rewrote the extension's pages and nothing of the app's
    changed = sorted(k for k, v in served.after_musl.items() if served.before_musl.get(k) != v)
    assert "simple/muslwheels-fixture-cext/index.html" in changed
    assert not [k for k in changed if "fixture-app" in k or "fixture_app" in k]
    assert "simple/index.html" not in changed
    assert "pages rewritten: muslwheels-fixture-cext" in served.index_run


def run_pip(
    platform: str, image: str, script: str, files: dict[Path, str] | None = None
) -> tuple[int, str]:
    """``script`` (sh) in a fresh container on the host network, with ``files`` written and
    mounted at /work/<name>; its exit code and all its output."""
    mounts: list[str] = []
    for path, text in (files or {}).items():
        path.write_text(text)
        mounts += ["-v", f"{path}:/work/{path.name}:ro"]
    done = run_command(
        [
            "docker",
            "run",
            "--rm",
            "--network",
            "host",
            "--platform",
            platform,
            *mounts,
            image,
            "sh",
            "-c",
            script,
        ],
        timeout=600,
    )
    return done.returncode, done.stdout + done.stderr


def resolved_before_downloading(requests: Sequence[str]) -> bool:
    """Whether pip asked for no page and no metadata file after its first wheel download, i.e.
    resolved from the index's metadata files alone (an index without them makes pip download
    each wheel to read its dependencies, then ask for the next page)."""
    first_wheel = next((i for i, p in enumerate(requests) if p.endswith(".whl")), len(requests))
    return not any(
        p.startswith("/simple/") or p.endswith(".metadata") for p in requests[first_wheel:]
    )


PLATFORMS = [
    ("glibc", "linux/amd64", "x86_64"),
    ("glibc", "linux/arm64", "aarch64"),
    ("musl", "linux/amd64", "x86_64"),
    ("musl", "linux/arm64", "aarch64"),
]


def resolve_only(url: str) -> str:
    """pip resolving the app afresh, installing nothing (pip < 23.3 still downloads the chosen
    wheels after resolving; newer ones download none)."""
    return f"{PIP} install -q --root-user-action=ignore --dry-run --ignore-installed --index-url {url} {APP}"


@pytest.mark.parametrize(("libc", "platform", "machine"), PLATFORMS)
def test_pip_installs_its_own_wheels_from_the_index_with_hashes(
    served: Served, tmp_path: Path, libc: str, platform: str, machine: str
) -> None:
    image = STANDIN if libc == "glibc" else MUSL
    served.server.requests.clear()
    # pip does not use metadata files when it must check hashes: the PEP 658 resolution is a
    # second pip run, against a second server on the same folder (its own access log)
    metadata_server = LocalIndex(served.wheels)
    try:
        code, output = run_pip(
            platform,
            image,
            f"set -e; {PIP} install -q --root-user-action=ignore --index-url {served.server.url} "
            "--require-hashes -r /work/requirements.txt; "
            'python -c "import mwfixture_app; print(mwfixture_app.report())"; '
            + resolve_only(metadata_server.url),
            {tmp_path / "requirements.txt": served.requirements()},
        )
    finally:
        metadata_server.close()
    assert code == 0, output[-3000:]
    assert f"42 {machine} {machine}" in output.splitlines(), output[-3000:]
    requests = list(served.server.requests)
    wheels = {Path(p).name for p in requests if p.endswith(".whl")}
    (cext,) = {w for w in wheels if w.startswith("muslwheels_fixture_cext")}
    assert cext.endswith(f"_{machine}.whl")
    assert ("musllinux" in cext) == (libc == "musl"), cext
    assert len(wheels) == 2, requests  # the app and its own extension wheel, nothing else
    # PEP 658: the metadata of both was read, and resolution finished before any wheel download
    resolving = list(metadata_server.requests)
    metadata = {Path(p).name for p in resolving if p.endswith(".whl.metadata")}
    assert metadata == {f"{w}.metadata" for w in wheels}, resolving
    assert resolved_before_downloading(resolving), resolving


def test_without_metadata_files_pip_downloads_to_resolve(served: Served, tmp_path: Path) -> None:
    """The check above can fail: the same index with the PEP 658 attributes taken out."""
    bare = tmp_path / "bare"
    shutil.copytree(served.wheels, bare, ignore=shutil.ignore_patterns("*.metadata", "*.json"))
    for page in bare.glob("simple/*/index.html"):
        text = page.read_text()
        page.write_text(re.sub(r' data-(dist-info|core)-metadata="[^"]*"', "", text))
    server = LocalIndex(bare)
    try:
        code, output = run_pip("linux/amd64", STANDIN, resolve_only(server.url))
        assert code == 0, output[-3000:]
        assert not any(p.endswith(".metadata") for p in server.requests)
        assert not resolved_before_downloading(server.requests), server.requests
    finally:
        server.close()


def test_a_tampered_wheel_fails_the_hash_check(served: Served, tmp_path: Path) -> None:
    tampered = tmp_path / "tampered"
    shutil.copytree(served.wheels, tampered)
    (entry,) = [
        f
        for f in served.files(CEXT)
        if "manylinux" in str(f["filename"]) and str(f["filename"]).endswith("_x86_64.whl")
    ]
    wheel = tampered / "amd64" / str(entry["filename"])
    wheel.write_bytes(wheel.read_bytes() + b"\0")  # a zip still, but not the bytes indexed
    server = LocalIndex(tampered)
    try:
        # no hashes on the command line: the index's #sha256 alone catches it
        code, output = run_pip(
            "linux/amd64",
            STANDIN,
            f"{PIP} install --root-user-action=ignore --index-url {server.url} {APP}",
        )
    finally:
        server.close()
    assert code != 0
    assert "DO NOT MATCH THE HASHES" in output
    assert f"Expected sha256 {entry['hashes']['sha256']}" in output


# --- a consumer image that installs from a wheel image without keeping it -----------------------

CONSUMER_MOUNT = """\
FROM {standin}
RUN --mount=type=bind,from={wheels},target=/wheels \\
    python -m pip install --no-index --find-links /wheels {module}
RUN python -c "import mwfixture_app; print(mwfixture_app.report())" > /result
"""
CONSUMER_COPY = """\
FROM {standin}
COPY --from={wheels} / /wheels/
RUN python -m pip install --no-index --find-links /wheels {module}
RUN python -c "import mwfixture_app; print(mwfixture_app.report())" > /result
"""


INDEX_MEDIA = (
    "application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json"
)


def added_files(image: str, platform: str) -> list[str]:
    """The files in the layers ``image`` (for ``platform``) adds on top of ``STANDIN``, read
    through the registry API; layers compare by their uncompressed digests (a push may compress
    the base layers anew)."""

    def manifest_and_config(ref: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
        name, tag = ref.split("/", 1)[1].rsplit(":", 1)
        found = registry_get(f"/v2/{name}/manifests/{tag}", f"{MANIFEST}, {INDEX_MEDIA}")
        if "manifests" in found:
            os_, arch = platform.split("/")
            (entry,) = [
                m
                for m in found["manifests"]
                if m.get("platform", {}).get("os") == os_
                and m.get("platform", {}).get("architecture") == arch
            ]
            found = registry_get(f"/v2/{name}/manifests/{entry['digest']}", MANIFEST)
        config = registry_get(f"/v2/{name}/blobs/{found['config']['digest']}")
        return name, found, config

    _, _, base_config = manifest_and_config(STANDIN)
    base = set(base_config["rootfs"]["diff_ids"])
    name, manifest, config = manifest_and_config(image)
    files: list[str] = []
    for layer, diff_id in zip(manifest["layers"], config["rootfs"]["diff_ids"]):
        if diff_id in base:
            continue
        blob = registry_get(f"/v2/{name}/blobs/{layer['digest']}", "*/*")
        with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
            files.extend(m.name for m in tar.getmembers() if m.isfile())
    return files


@pytest.mark.parametrize("form", ["mount", "copy"])
def test_run_mount_consumer_keeps_no_wheel_in_its_image(
    served: Served, tmp_path: Path, form: str
) -> None:
    """RUN --mount=type=bind,from=<wheel image>: the app installs and no layer of the image holds a
    wheel; COPY --from (the control) leaves the wheels in a layer."""
    (row,) = (
        served.project.invoke("check", "--tag", f"{APP}1.0.0-py3.11-amd64", "--json")
        .ok()
        .json_lines()
    )
    multiarch = f"{row['repository']}:{row['multiarch_tag']}"
    context = tmp_path / "consumer"
    context.mkdir()
    template = CONSUMER_MOUNT if form == "mount" else CONSUMER_COPY
    (context / "Dockerfile").write_text(
        template.format(standin=STANDIN, wheels=multiarch, module=APP)
    )
    image = f"{REGISTRY}/muslwheels-test/consumer-{form}-{uuid.uuid4().hex[:8]}:latest"
    done = run_command(
        [
            "docker",
            "buildx",
            "build",
            "--progress",
            "plain",
            "--platform",
            "linux/amd64",
            "--provenance=false",
            "--network",
            "host",  # the RUN needs no network; the host's is the one this machine has for it
            "--output",
            f"type=image,name={image},push=true",
            str(context),
        ],
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    files = added_files(image, "linux/amd64")
    assert "result" in files
    wheels = [f for f in files if f.endswith(".whl")]
    installed = [f for f in files if "mwfixture_cext" in f and f.endswith(".so")]
    assert installed, files  # the extension was installed into a layer
    if form == "mount":
        assert wheels == []
    else:
        assert sorted(Path(w).name.split("-")[0] for w in wheels) == [
            "muslwheels_fixture_app",
            "muslwheels_fixture_cext",
        ]
    remove_local_images([image.rsplit(":", 1)[0]])


def test_extract_index_makes_an_index_in_dest(served: Served, tmp_path: Path) -> None:
    dest = tmp_path / "extracted"
    done = served.project.invoke(
        "extract", "--tag", f"{APP}1.0.0-py3.11", "--dest", str(dest), "--index"
    ).ok()
    assert "2 extracted" in done.stderr
    page = json.loads((dest / "simple" / CEXT / "index.json").read_text())
    assert sorted(f["url"].split("/")[2] for f in page["files"]) == ["amd64", "arm64v8"]
    for entry in page["files"]:
        assert (dest / "simple" / CEXT / entry["url"]).resolve().is_file()
