"""Push's multi-arch tag, joined for real (`docker buildx imagetools create`) from per-arch indexes
that hold BuildKit's `unknown/unknown` attestation entries, as `push --attest` on a docker-container
builder (the generated workflow's) leaves them; then extracted per platform.

The engine here has only the docker driver, which cannot make attestations: the per-arch indexes are
written through the local registry's API, laid out as buildx writes them."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import urllib.parse
import urllib.request
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from support import REGISTRY

from muslwheels.config.arches import lookup_arch
from muslwheels.config.model import Flavour, Recipe, Target
from muslwheels.engine.docker import DockerEngine
from muslwheels.publish.extract import ExtractJob, ExtractOptions, extract_one
from muslwheels.sources.registry import RegistryClient, WheelRegistry

pytestmark = pytest.mark.integration

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
BASE = f"http://{REGISTRY}"


def _blob(repository: str, data: bytes) -> dict[str, Any]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    start = urllib.request.Request(f"{BASE}/v2/{repository}/blobs/uploads/", method="POST")
    with urllib.request.urlopen(start, timeout=30) as answer:
        location = urllib.parse.urljoin(BASE, answer.headers["Location"])
    separator = "&" if "?" in location else "?"
    finish = urllib.request.Request(
        f"{location}{separator}digest={urllib.parse.quote(digest)}", data=data, method="PUT"
    )
    finish.add_header("Content-Type", "application/octet-stream")
    with urllib.request.urlopen(finish, timeout=30) as answer:
        assert answer.status == 201
    return {"digest": digest, "size": len(data)}


def _manifest(repository: str, reference: str, document: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(document).encode()
    request = urllib.request.Request(
        f"{BASE}/v2/{repository}/manifests/{reference}", data=body, method="PUT"
    )
    request.add_header("Content-Type", document["mediaType"])
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 201
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    return {"mediaType": document["mediaType"], "digest": digest, "size": len(body)}


def _wheel(name: str) -> bytes:
    project, version = name.split("-")[:2]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        metadata = f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n\n"
        stamp = (2020, 1, 1, 0, 0, 0)  # equal names give equal bytes
        archive.writestr(
            zipfile.ZipInfo(f"{project}-{version}.dist-info/METADATA", stamp), metadata
        )
        archive.writestr(zipfile.ZipInfo(f"{project}/__init__.py", stamp), f"# {name}\n")
    return out.getvalue()


def _image(repository: str, platform: str, files: dict[str, bytes]) -> dict[str, Any]:
    os_name, arch, *variant = platform.split("/")
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    layer_bytes = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config: dict[str, Any] = {
        "os": os_name,
        "architecture": arch,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    if variant:
        config["variant"] = variant[0]
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            **_blob(repository, json.dumps(config).encode()),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                **_blob(repository, layer_bytes),
            }
        ],
    }
    descriptor = _manifest(
        repository, "sha256:" + hashlib.sha256(json.dumps(document).encode()).hexdigest(), document
    )
    entry: dict[str, Any] = {**descriptor, "platform": {"os": os_name, "architecture": arch}}
    if variant:
        entry["platform"]["variant"] = variant[0]
    return entry


def _attested_per_arch(repository: str, tag: str, platform: str, wheel: str) -> None:
    """An index as buildx pushes an image with attestations: the image, then its attestation
    manifest (platform unknown/unknown, pointing at the image by an annotation)."""
    image = _image(repository, platform, {wheel: _wheel(wheel)})
    statement = json.dumps({"subject": [{"digest": image["digest"]}]}).encode()
    attestation = _image(repository, "unknown/unknown", {"provenance.json": statement})
    attestation["annotations"] = {
        "vnd.docker.reference.type": "attestation-manifest",
        "vnd.docker.reference.digest": image["digest"],
    }
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [image, attestation]}
    _manifest(repository, tag, index)


def _target(repository: str, arch: str) -> Target:
    found = lookup_arch(arch)
    assert found is not None
    return Target(
        module="attested",
        version="1.0",
        python="3.11",
        arch=found,
        ssl=None,
        flavour=Flavour.SHARED,
        base_image="python:3.11-alpine3.20",
        repository=repository,
        recipe=Recipe(),
    )


def test_join_and_extract_past_attestation_entries(tmp_path: Path, engine: DockerEngine) -> None:
    path = f"muslwheels-test/attested-{uuid.uuid4().hex[:10]}"
    repository = f"{REGISTRY}/{path}"
    targets = [_target(repository, arch) for arch in ("amd64", "arm64v8")]
    wheels = {
        "amd64": "attested-1.0-cp311-cp311-musllinux_1_2_x86_64.whl",
        "arm64v8": "attested-1.0-cp311-cp311-musllinux_1_2_aarch64.whl",
    }
    for target in targets:
        _attested_per_arch(path, target.tag, target.platform, wheels[target.arch.key])
    registry = WheelRegistry(RegistryClient(docker_config={}))
    assert registry.platforms(targets[1].image) == ("linux/arm64",)

    multi = targets[0].multiarch_image
    engine.create_manifest_list(multi, [t.image for t in targets], builder=None)

    assert registry.platforms(multi) == ("linux/amd64", "linux/arm64")
    request = urllib.request.Request(
        f"{BASE}/v2/{path}/manifests/{multi.rsplit(':', 1)[1]}",
        headers={"Accept": OCI_INDEX},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        joined = json.load(answer)
    kinds = [
        (
            m.get("platform", {}).get("architecture"),
            m.get("annotations", {}).get("vnd.docker.reference.type"),
        )
        for m in joined["manifests"]
    ]
    # the attestation entries came along (the provenance stays with the multi-arch tag)
    assert sorted(kinds, key=str) == sorted(
        [
            ("amd64", None),
            ("arm64", None),
            ("unknown", "attestation-manifest"),
            ("unknown", "attestation-manifest"),
        ],
        key=str,
    )
    dest = tmp_path / "wheels"
    for target in targets:
        names = extract_one(
            ExtractJob(target, multi), ExtractOptions(dest, pull=True), engine=engine
        )
        assert names == (wheels[target.arch.key],)
        assert (dest / target.wheel_dir / names[0]).read_bytes() == _wheel(names[0])
