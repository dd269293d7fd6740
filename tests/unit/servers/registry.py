"""The real distribution registry (Debian's ``docker-registry``) on a free loopback port, images
pushed into it through the registry API, and an auth gate in front of it."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from .routes import Reply, Request, RouteServer, free_port, wait_until_serving

REGISTRY_BINARY = "/usr/bin/docker-registry"

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def registry_available() -> bool:
    return shutil.which(REGISTRY_BINARY) is not None


class Registry:
    """``docker-registry serve`` with a throw-away config and storage under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        config = directory / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: error\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {directory / 'storage'}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n"
        )
        self.log = (directory / "registry.log").open("wb")
        self.process = subprocess.Popen(
            [REGISTRY_BINARY, "serve", str(config)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={"PATH": "/usr/bin:/bin"},
        )
        wait_until_serving(self.url + "/v2/", self.process, self.close, "docker-registry")

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    # -- pushing, through the API --------------------------------------------------------------

    def push_blob(self, repository: str, data: bytes) -> str:
        digest = digest_of(data)
        start = urllib.request.Request(
            f"{self.url}/v2/{repository}/blobs/uploads/", method="POST", data=b""
        )
        with urllib.request.urlopen(start) as response:
            location = urllib.parse.urljoin(self.url, response.headers["Location"])
        separator = "&" if "?" in location else "?"
        finish = urllib.request.Request(
            f"{location}{separator}digest={urllib.parse.quote(digest)}",
            method="PUT",
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        with urllib.request.urlopen(finish) as response:
            assert response.status == 201
        return digest

    def push_manifest(self, repository: str, reference: str, document: dict[str, Any]) -> str:
        body = json.dumps(document).encode()
        request = urllib.request.Request(
            f"{self.url}/v2/{repository}/manifests/{reference}",
            method="PUT",
            data=body,
            headers={"Content-Type": document["mediaType"]},
        )
        with urllib.request.urlopen(request) as response:
            assert response.status == 201
        return digest_of(body)

    def push_image(
        self, repository: str, tag: str | None, platform: str, *, docker: bool = False
    ) -> dict[str, Any]:
        """A single-platform image (config + one empty layer); returns its descriptor."""
        os_name, arch, *variant = platform.split("/")
        config: dict[str, Any] = {"os": os_name, "architecture": arch, "rootfs": {"type": "layers"}}
        if variant:
            config["variant"] = variant[0]
        config_bytes = json.dumps(config).encode()
        layer = b"layer for " + platform.encode()
        manifest = {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
            "config": {
                "mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
                "digest": self.push_blob(repository, config_bytes),
                "size": len(config_bytes),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": self.push_blob(repository, layer),
                    "size": len(layer),
                }
            ],
        }
        body = json.dumps(manifest).encode()
        digest = self.push_manifest(repository, tag or digest_of(body), manifest)
        descriptor: dict[str, Any] = {
            "mediaType": manifest["mediaType"],
            "digest": digest,
            "size": len(body),
        }
        return descriptor

    def push_index(
        self,
        repository: str,
        tags: list[str],
        platforms: list[str],
        *,
        docker: bool = False,
        attestation: bool = False,
    ) -> None:
        """A multi-platform image under every tag in ``tags`` (with a BuildKit-style attestation
        manifest when ``attestation``)."""
        entries = []
        for platform in platforms:
            descriptor = self.push_image(repository, None, platform, docker=docker)
            os_name, arch, *variant = platform.split("/")
            descriptor["platform"] = {"os": os_name, "architecture": arch}
            if variant:
                descriptor["platform"]["variant"] = variant[0]
            entries.append(descriptor)
        if attestation:
            descriptor = self.push_image(repository, None, "unknown/unknown")
            descriptor["platform"] = {"os": "unknown", "architecture": "unknown"}
            descriptor["annotations"] = {
                "vnd.docker.reference.type": "attestation-manifest",
                "vnd.docker.reference.digest": entries[0]["digest"],
            }
            entries.append(descriptor)
        document = {
            "schemaVersion": 2,
            "mediaType": DOCKER_LIST if docker else OCI_INDEX,
            "manifests": entries,
        }
        for tag in tags:
            self.push_manifest(repository, tag, document)


class AuthGate:
    """A token-auth (or basic-auth) front for a registry, as hosted registries have.

    ``bearer`` mode: /v2/ requests need ``Authorization: Bearer <token for the repository>``,
    else 401 with a ``WWW-Authenticate: Bearer realm=...,service=...,scope=...`` challenge; the
    realm (``/token`` on this server) gives tokens, anonymously for public repositories and only
    with the right basic credentials for ``private`` ones. ``basic`` mode: /v2/ needs the basic
    credentials themselves. Authorised requests are forwarded to the registry.
    """

    SERVICE = "gate.test"

    def __init__(
        self,
        upstream: str,
        *,
        mode: str = "bearer",
        users: dict[str, str] | None = None,
        private: tuple[str, ...] = (),
    ) -> None:
        self.upstream = upstream
        self.mode = mode
        self.users = users or {}
        self.private = private
        self.server = RouteServer()
        self.server.routes["/token"] = self._token
        self.server.routes["*"] = self._forward
        self.blob_redirect: str | None = None  # answer config-blob requests with a redirect here
        self.tokens_issued = 0
        self.realm: str | None = None  # the token service named in challenges (default: /token)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def close(self) -> None:
        self.server.close()

    def _user(self, request: Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user if self.users.get(user) == password else None

    def _token(self, request: Request) -> Reply:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query)
        scope = query.get("scope", [""])[0]
        repository = scope.split(":")[1] if scope.count(":") == 2 else ""
        if query.get("service") != [self.SERVICE]:
            return Reply(400, b'{"errors": "wrong service"}')
        header = request.headers.get("Authorization")
        user = self._user(request)
        if header is not None and user is None:
            return Reply(401, b'{"details": "incorrect username or password"}')
        if repository in self.private and user is None:
            # anonymous: a token without the scope, as hosted registries do
            scope = "none"
        self.tokens_issued += 1
        body = json.dumps({"token": f"tok/{scope}", "expires_in": 300}).encode()
        return Reply(200, body, {"Content-Type": "application/json"})

    def _forward(self, request: Request) -> Reply:
        path = request.path.split("?")[0]
        parts = path.split("/")
        # /v2/<repository...>/(tags|manifests|blobs)/...
        kind = next((i for i, p in enumerate(parts) if p in ("tags", "manifests", "blobs")), 0)
        repository = "/".join(parts[2:kind])
        header = request.headers.get("Authorization", "")
        if self.mode == "basic":
            if self._user(request) is None:
                return Reply(401, b"{}", {"WWW-Authenticate": 'Basic realm="gate"'})
        elif header != f"Bearer tok/repository:{repository}:pull":
            challenge = (
                f'Bearer realm="{self.realm or self.url + "/token"}",service="{self.SERVICE}",'
                f'scope="repository:{repository}:pull"'
            )
            return Reply(401, b'{"errors": []}', {"WWW-Authenticate": challenge})
        if parts[kind] == "blobs" and self.blob_redirect is not None:
            return Reply(307, b"", {"Location": f"{self.blob_redirect}{path}"})
        upstream = urllib.request.Request(
            self.upstream + request.path,
            headers={k: v for k, v in request.headers.items() if k.lower() == "accept"},
        )
        try:
            with urllib.request.urlopen(upstream) as response:
                headers = {
                    k: v
                    for k, v in response.headers.items()
                    if k.lower() in ("content-type", "link", "docker-content-digest")
                }
                return Reply(response.status, response.read(), headers)
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, exc.read(), {"Content-Type": "application/json"})
