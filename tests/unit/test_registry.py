from __future__ import annotations

import base64
import json
import stat
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servers.registry import AuthGate, Registry
from servers.routes import Reply, Request, RouteServer

from muslwheels.config.imageref import DOCKER_DEFAULT_REGISTRY, ImageReference, parse_reference
from muslwheels.config.model import ImageLookup
from muslwheels.errors import ResolutionError
from muslwheels.sources.cache import JsonCache
from muslwheels.sources.registry import (
    Credentials,
    RegistryClient,
    credentials_in_config,
    credentials_may_go_to,
    docker_config_path,
    manifests_in_index,
    parse_challenge,
)

DEFAULT = DOCKER_DEFAULT_REGISTRY.name
REPO = "standin/python"

# --- pure parts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("python:3.12-alpine3.20", (DEFAULT, "library/python", "3.12-alpine3.20")),
        ("python", (DEFAULT, "library/python", "latest")),
        ("someone/wheels:cffi1.0-py3.12", (DEFAULT, "someone/wheels", "cffi1.0-py3.12")),
        ("127.0.0.1:5000/standin/python:3.11-bookworm", ("127.0.0.1:5000", REPO, "3.11-bookworm")),
        ("localhost/python", ("localhost", "python", "latest")),  # library/: default registry only
        ("localhost:5000/python:3", ("localhost:5000", "python", "3")),
        ("registry.example/a/b/c:t", ("registry.example", "a/b/c", "t")),
        ("python@sha256:" + "a" * 64, (DEFAULT, "library/python", "sha256:" + "a" * 64)),
        (
            "127.0.0.1:5000/x:1@sha256:" + "b" * 64,
            ("127.0.0.1:5000", "x", "sha256:" + "b" * 64),
        ),
        (f"{DOCKER_DEFAULT_REGISTRY.aliases[0]}/python:3", (DEFAULT, "library/python", "3")),
        (f"{DEFAULT}/library/python:3", (DEFAULT, "library/python", "3")),
    ],
)
def test_parse_reference(text: str, expected: tuple[str, str, str]) -> None:
    assert parse_reference(text) == ImageReference(*expected)


@pytest.mark.parametrize(
    "text", ["", "Python:3", "a//b", "python:bad tag", "python:" + "x" * 200, "x@sha256:12", "-a/b"]
)
def test_parse_reference_rejects(text: str) -> None:
    with pytest.raises(ResolutionError, match="not a valid image reference"):
        parse_reference(text)


def test_image_reference_str() -> None:
    assert str(parse_reference("127.0.0.1:5000/standin/python:3.11")) == (
        "127.0.0.1:5000/standin/python:3.11"
    )
    digest = "sha256:" + "c" * 64
    assert str(parse_reference("localhost/x@" + digest)) == f"localhost/x@{digest}"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_credentials_in_config() -> None:
    config: dict[str, Any] = {
        "auths": {
            "127.0.0.1:5000": {"auth": b64("alice:pw:with:colons")},
            "http://reg.example:8080/v2/": {"username": "bob", "password": "pw2"},
            DOCKER_DEFAULT_REGISTRY.credentials_key: {"auth": b64("carol:pw3")},
            "broken.example": {"auth": "!!not base64"},
        }
    }
    assert credentials_in_config(config, "127.0.0.1:5000") == Credentials("alice", "pw:with:colons")
    assert credentials_in_config(config, "reg.example:8080") == Credentials("bob", "pw2")
    assert credentials_in_config(config, DEFAULT) == Credentials("carol", "pw3")
    assert credentials_in_config(config, "broken.example") is None
    assert credentials_in_config(config, "127.0.0.1:5001") is None
    assert credentials_in_config({}, "127.0.0.1:5000") is None


def test_credential_helpers_rank_above_auths() -> None:
    config = {
        "auths": {"127.0.0.1:5000": {"auth": b64("alice:pw")}},
        "credHelpers": {"127.0.0.1:5000": "pass"},
    }
    assert credentials_in_config(config, "127.0.0.1:5000") == "pass"
    assert credentials_in_config({**config, "credsStore": "desktop"}, "127.0.0.1:5000") == "pass"
    assert credentials_in_config({**config, "credsStore": "desktop"}, "other:1") == "desktop"


def test_docker_config_path() -> None:
    home = Path("/home/u")
    assert docker_config_path({}, home) == Path("/home/u/.docker/config.json")
    assert docker_config_path({"DOCKER_CONFIG": "/etc/d"}, home) == Path("/etc/d/config.json")


def test_parse_challenge() -> None:
    header = (
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:library/python:pull"'
    )
    assert parse_challenge(header) == (
        "bearer",
        {
            "realm": "https://auth.example/token",
            "service": "registry.example",
            "scope": "repository:library/python:pull",
        },
    )
    assert parse_challenge('Basic realm="x \\"y\\""') == ("basic", {"realm": 'x "y"'})
    assert parse_challenge("") == ("", {})


def test_manifests_in_index_platforms_without_attestations() -> None:
    document = {
        "manifests": [
            {"platform": {"os": "linux", "architecture": "amd64"}},
            {"platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
            {"platform": {"os": "linux", "architecture": "amd64"}},
            {
                "platform": {"os": "unknown", "architecture": "unknown"},
                "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
            },
            {"platform": {"os": "unknown", "architecture": "unknown"}},
            {"digest": "sha256:00"},
        ]
    }
    assert tuple(p for p, _ in manifests_in_index(document)) == ("linux/amd64", "linux/arm/v7")
    with pytest.raises(ValueError, match="manifests"):
        manifests_in_index({})


# --- against the real registry -------------------------------------------------------------------

TAGS = ["3.11-bookworm", "3.12-bookworm", "3.13-bookworm", "single-oci", "single-docker", "old"]


@pytest.fixture(scope="module")
def pushed(registry: Registry) -> Registry:
    registry.push_index(REPO, ["3.11-bookworm"], ["linux/amd64", "linux/arm64"], attestation=True)
    registry.push_index(
        REPO,
        ["3.12-bookworm", "3.13-bookworm", "old"],
        ["linux/amd64", "linux/arm/v7", "linux/arm/v6", "linux/arm64/v8", "linux/riscv64"],
        docker=True,
    )
    registry.push_image(REPO, "single-oci", "linux/riscv64")
    registry.push_image(REPO, "single-docker", "linux/arm/v7", docker=True)
    registry.push_index("private/wheels", ["cffi1.0-py3.12"], ["linux/s390x"])
    return registry


def client(**kwargs: Any) -> RegistryClient:
    kwargs.setdefault("docker_config", {})
    return RegistryClient(**kwargs)


def test_tags(pushed: Registry) -> None:
    assert sorted(client().tags(f"{pushed.host}/{REPO}")) == sorted(TAGS)


def test_tags_paginated(pushed: Registry) -> None:
    assert sorted(client(page_size=2).tags(f"{pushed.host}/{REPO}")) == sorted(TAGS)


def test_tags_of_missing_repository(pushed: Registry) -> None:
    with pytest.raises(
        ResolutionError, match=f"repository no/such not found on registry {pushed.host}"
    ):
        client().tags(f"{pushed.host}/no/such")


def test_platforms(pushed: Registry) -> None:
    lookup = client()
    assert lookup.platforms(f"{pushed.host}/{REPO}:3.11-bookworm") == ("linux/amd64", "linux/arm64")
    assert lookup.platforms(f"{pushed.host}/{REPO}:3.12-bookworm") == (
        "linux/amd64",
        "linux/arm/v7",
        "linux/arm/v6",
        "linux/arm64/v8",
        "linux/riscv64",
    )
    assert lookup.platforms(f"{pushed.host}/{REPO}:single-oci") == ("linux/riscv64",)
    assert lookup.platforms(f"{pushed.host}/{REPO}:single-docker") == ("linux/arm/v7",)
    assert lookup.platforms(f"{pushed.host}/{REPO}:3.99-bookworm") is None
    assert lookup.platforms(f"{pushed.host}/no/such:1") is None


def test_platforms_by_digest(pushed: Registry) -> None:
    request = urllib.request.Request(
        f"{pushed.url}/v2/{REPO}/manifests/single-oci",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    with urllib.request.urlopen(request) as response:
        digest = response.headers["Docker-Content-Digest"]
    assert client().platforms(f"{pushed.host}/{REPO}@{digest}") == ("linux/riscv64",)


def test_digests_name_each_platforms_manifest(pushed: Registry) -> None:
    """What a build pins its base image to: each platform's own manifest, never an attestation."""
    lookup = client()
    found = lookup.digests(f"{pushed.host}/{REPO}:3.11-bookworm")
    assert found is not None
    assert [p for p, _ in found] == ["linux/amd64", "linux/arm64"]  # no unknown/unknown
    for platform, digest in found:
        # the registry serves that platform's manifest under the digest, and only it
        assert client().platforms(f"{pushed.host}/{REPO}@{digest}") == (platform,)
    assert dict(lookup.digests(f"{pushed.host}/{REPO}:3.12-bookworm") or ()).keys() == {
        "linux/amd64",
        "linux/arm/v7",
        "linux/arm/v6",
        "linux/arm64/v8",
        "linux/riscv64",
    }
    for tag, accept, platform in [
        ("single-oci", "application/vnd.oci.image.manifest.v1+json", "linux/riscv64"),
        ("single-docker", "application/vnd.docker.distribution.manifest.v2+json", "linux/arm/v7"),
    ]:
        request = urllib.request.Request(
            f"{pushed.url}/v2/{REPO}/manifests/{tag}", headers={"Accept": accept}
        )
        with urllib.request.urlopen(request) as response:
            served = response.headers["Docker-Content-Digest"]
        assert lookup.digests(f"{pushed.host}/{REPO}:{tag}") == ((platform, served),)
    assert lookup.digests(f"{pushed.host}/{REPO}:3.99-bookworm") is None


def test_platforms_and_digests_share_one_question(pushed: Registry, tmp_path: Path) -> None:
    gate = AuthGate(pushed.url)
    try:
        image = f"{gate.host}/{REPO}:3.11-bookworm"
        lookup = client(cache=JsonCache(tmp_path), cache_loopback=True)
        platforms = lookup.platforms(image)
        asked = len(gate.server.requests)
        digests = lookup.digests(image)  # from the same answer: no request
        assert len(gate.server.requests) == asked
        offline = client(cache=JsonCache(tmp_path, offline=True), cache_loopback=True)
        assert offline.platforms(image) == platforms
        assert offline.digests(image) == digests
    finally:
        gate.close()
    assert len(gate.server.requests) == asked
    # offline, a cache without them: the plan says the tag is used (plan/planner.py)
    with pytest.raises(ResolutionError, match=r"manifest digests of .* is not in the cache"):
        client(cache=JsonCache(tmp_path / "other", offline=True), cache_loopback=True).digests(
            image
        )


def test_manifests_in_index_keeps_valid_digests_only() -> None:
    good = "sha256:" + "c" * 64
    document = {
        "manifests": [
            {"platform": {"os": "linux", "architecture": "amd64"}, "digest": good},
            {"platform": {"os": "linux", "architecture": "arm64"}, "digest": "sha256:zz\n"},
            {"platform": {"os": "linux", "architecture": "amd64"}, "digest": "sha256:" + "d" * 64},
            {"platform": {"os": "unknown", "architecture": "unknown"}, "digest": good},
        ]
    }
    assert manifests_in_index(document) == (("linux/amd64", good), ("linux/arm64", None))


def test_localhost_is_plain_http_too(pushed: Registry) -> None:
    assert "old" in client().tags(f"localhost:{pushed.port}/{REPO}")


def test_cache_memo_and_offline(pushed: Registry, tmp_path: Path) -> None:
    gate = AuthGate(pushed.url)
    try:
        image = f"{gate.host}/{REPO}:3.11-bookworm"
        lookup = client(cache=JsonCache(tmp_path), cache_loopback=True)
        first = lookup.tags_fact(f"{gate.host}/{REPO}")
        lookup.tags(f"{gate.host}/{REPO}")
        lookup.platforms(image)
        lookup.platforms(image)
        lists = [p for p in gate.server.paths() if "/tags/list" in p]
        manifests = [p for p in gate.server.paths() if "/manifests/" in p]
        # the tag list once, plus its retry with a token; the manifest reuses that token
        assert (len(lists), len(manifests)) == (2, 1)
        assert gate.tokens_issued == 1
        assert lookup.oldest_fetched_at == first.fetched_at

        asked = len(gate.server.requests)
        offline = client(cache=JsonCache(tmp_path, offline=True), cache_loopback=True)
        again = offline.tags_fact(f"{gate.host}/{REPO}")
        assert again.cached and again.value == first.value
        assert again.fetched_at == first.fetched_at
        assert offline.platforms(image) == ("linux/amd64", "linux/arm64")
    finally:
        gate.close()
    assert len(gate.server.requests) == asked


def test_offline_without_cache_entry(pushed: Registry, tmp_path: Path) -> None:
    offline = client(cache=JsonCache(tmp_path, offline=True), cache_loopback=True)
    with pytest.raises(ResolutionError) as info:
        offline.platforms(f"{pushed.host}/{REPO}:old")
    assert str(info.value) == (
        f"the platforms of {pushed.host}/{REPO}:old is not in the cache ({tmp_path})"
    )


def test_missing_tags_are_cached_as_none(pushed: Registry, tmp_path: Path) -> None:
    image = f"{pushed.host}/{REPO}:3.99-bookworm"
    client(cache=JsonCache(tmp_path), cache_loopback=True).platforms(image)
    offline = client(cache=JsonCache(tmp_path, offline=True), cache_loopback=True)
    assert offline.platforms(image) is None


def test_loopback_registries_are_asked_afresh_even_offline(
    pushed: Registry, tmp_path: Path
) -> None:
    image = f"{pushed.host}/standin/late:1"
    assert client(cache=JsonCache(tmp_path)).platforms(image) is None
    assert not tmp_path.joinpath("registry").exists()
    pushed.push_image("standin/late", "1", "linux/ppc64le")
    offline = client(cache=JsonCache(tmp_path, offline=True))
    assert offline.platforms(image) == ("linux/ppc64le",)


# --- errors --------------------------------------------------------------------------------------


def test_unreachable_registry(dead_url: str) -> None:
    host = dead_url.removeprefix("http://")
    with pytest.raises(ResolutionError) as info:
        client().tags(f"{host}/standin/python")
    assert str(info.value).startswith(f"registry {host} is unreachable: ")
    assert "local registry" in (info.value.hint or "")


def test_registry_that_does_not_speak_http(garbage_url: str) -> None:
    host = garbage_url.removeprefix("http://")
    with pytest.raises(ResolutionError, match=f"registry {host} is unreachable"):
        client().platforms(f"{host}/x:1")


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(200, b"not json", {"Content-Type": "application/json"}), "not JSON"),
        (Reply(200, b"[]", {}), "not a JSON object"),
        (
            Reply(200, b'{"mediaType": "application/x-other"}', {}),
            "unknown manifest type 'application/x-other'",
        ),
        (
            Reply(200, b'{"mediaType": "application/vnd.oci.image.index.v1+json"}', {}),
            'no "manifests" list',
        ),
        (
            Reply(200, b'{"mediaType": "application/vnd.oci.image.manifest.v1+json"}', {}),
            'no "config" digest',
        ),
        (Reply(500, b"", {}), "answered HTTP 500"),
    ],
)
def test_bad_manifest_answers(web: RouteServer, reply: Reply, error: str) -> None:
    web.routes["/v2/x/manifests/1"] = reply
    with pytest.raises(ResolutionError, match=error):
        client().platforms(f"127.0.0.1:{web.port}/x:1")


def test_bad_tag_lists(web: RouteServer) -> None:
    web.routes["/v2/x/tags/list"] = Reply(200, b'{"name": "x", "tags": "3.12"}', {})
    with pytest.raises(ResolutionError, match='"tags" is not a list of strings'):
        client().tags(f"127.0.0.1:{web.port}/x")
    web.routes["/v2/x/tags/list"] = Reply(200, b'{"name": "x", "tags": null}', {})
    assert client().tags(f"127.0.0.1:{web.port}/x") == ()


def test_pagination_loop_stops(web: RouteServer) -> None:
    web.routes["/v2/x/tags/list"] = Reply(
        200, b'{"tags": ["a"]}', {"Link": '</v2/x/tags/list?n=1000>; rel="next"'}
    )
    assert client().tags(f"127.0.0.1:{web.port}/x") == ("a",)


# --- authentication ------------------------------------------------------------------------------


@pytest.fixture
def gate(pushed: Registry) -> Iterator[AuthGate]:
    server = AuthGate(pushed.url, users={"alice": "s3cret"}, private=("private/wheels",))
    yield server
    server.close()


def test_anonymous_bearer_token(gate: AuthGate) -> None:
    lookup = client()
    assert lookup.platforms(f"{gate.host}/{REPO}:single-oci") == ("linux/riscv64",)
    token_requests = [r for r in gate.server.requests if r.path.startswith("/token")]
    assert len(token_requests) == 1
    assert "Authorization" not in token_requests[0].headers
    assert "service=gate.test" in token_requests[0].path
    assert "scope=repository%3Astandin%2Fpython%3Apull" in token_requests[0].path


def test_private_repository_without_credentials(gate: AuthGate) -> None:
    with pytest.raises(ResolutionError) as info:
        client().tags(f"{gate.host}/private/wheels")
    assert str(info.value) == (
        f"registry {gate.host} refused anonymous access to private/wheels (HTTP 401): "
        "the repository does not exist or is private"
    )
    assert f"docker login {gate.host}" in (info.value.hint or "")


def test_private_repository_with_docker_login_credentials(gate: AuthGate) -> None:
    config = {"auths": {gate.host: {"auth": b64("alice:s3cret")}}}
    lookup = client(docker_config=config)
    assert lookup.tags(f"{gate.host}/private/wheels") == ("cffi1.0-py3.12",)
    assert lookup.platforms(f"{gate.host}/private/wheels:cffi1.0-py3.12") == ("linux/s390x",)
    # the password went to the token service only, never to the registry endpoints
    for request in gate.server.requests:
        if not request.path.startswith("/token"):
            assert not request.headers.get("Authorization", "").startswith("Basic")


def test_wrong_credentials(gate: AuthGate) -> None:
    config = {"auths": {gate.host: {"auth": b64("alice:wrong")}}}
    with pytest.raises(ResolutionError, match="refused alice's access to private/wheels") as info:
        client(docker_config=config).tags(f"{gate.host}/private/wheels")
    assert f"docker login {gate.host}" in (info.value.hint or "")


def test_basic_auth_registry(pushed: Registry) -> None:
    gate = AuthGate(pushed.url, mode="basic", users={"alice": "s3cret"})
    try:
        with pytest.raises(ResolutionError, match="refused anonymous access"):
            client().tags(f"{gate.host}/{REPO}")
        config = {"auths": {f"http://{gate.host}": {"auth": b64("alice:s3cret")}}}
        assert "old" in client(docker_config=config).tags(f"{gate.host}/{REPO}")
    finally:
        gate.close()


def test_credential_helper(gate: AuthGate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    helper = tmp_path / "docker-credential-testhelper"
    helper.write_text(
        "#!/bin/sh\n"
        "read server\n"
        f'if [ "$1" = get ] && [ "$server" = "{gate.host}" ]; then\n'
        '  echo \'{"ServerURL": "x", "Username": "alice", "Secret": "s3cret"}\'\n'
        "else\n  echo 'credentials not found in native keychain'; exit 1\nfi\n"
    )
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    lookup = client(docker_config={"credsStore": "testhelper"})
    assert lookup.tags(f"{gate.host}/private/wheels") == ("cffi1.0-py3.12",)

    other = AuthGate(gate.upstream, private=("private/wheels",))
    try:
        lookup = client(docker_config={"credsStore": "testhelper"})
        with pytest.raises(ResolutionError, match="refused anonymous access"):
            lookup.tags(f"{other.host}/private/wheels")
        assert lookup.notes == [
            f"docker-credential-testhelper has no credentials for {other.host} "
            "(or could not be run); asking anonymously"
        ]
    finally:
        other.close()


def test_docker_config_read_from_docker_config_dir(gate: AuthGate, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {gate.host: {"auth": b64("alice:s3cret")}}})
    )
    file = docker_config_path({"DOCKER_CONFIG": str(tmp_path)}, tmp_path / "home")
    assert file == tmp_path / "config.json"
    client = RegistryClient(docker_config_file=file)
    assert client.tags(f"{gate.host}/private/wheels") == ("cffi1.0-py3.12",)
    (tmp_path / "config.json").write_text("{broken")
    with pytest.raises(ResolutionError, match="cannot read Docker's configuration"):
        RegistryClient(docker_config_file=file).tags(f"{gate.host}/private/wheels")


def test_authorization_is_not_sent_to_redirected_blob_storage(
    gate: AuthGate, web: RouteServer
) -> None:
    def storage(request: Request) -> Reply:
        with urllib.request.urlopen(gate.upstream + request.path) as response:
            return Reply(200, response.read(), {"Content-Type": "application/octet-stream"})

    web.routes["*"] = storage
    gate.blob_redirect = web.url
    assert client().platforms(f"{gate.host}/{REPO}:single-docker") == ("linux/arm/v7",)
    assert [r.path.split("/")[-2] for r in web.requests] == ["blobs"]
    assert "Authorization" not in web.requests[0].headers


def test_registry_client_is_an_image_lookup(pushed: Registry) -> None:
    lookup: ImageLookup = client()
    assert lookup.platforms(f"{pushed.host}/{REPO}:single-oci") == ("linux/riscv64",)


def test_credentials_go_to_a_token_service_only_over_https_or_on_the_loopback() -> None:
    base = "https://registry.example.invalid"
    assert credentials_may_go_to("https://registry.example.invalid/token", base)
    assert credentials_may_go_to("https://auth.example.invalid/token", base)
    assert credentials_may_go_to("http://127.0.0.1:5000/token", base)
    assert credentials_may_go_to("http://localhost/token", base)
    assert not credentials_may_go_to("http://auth.example.invalid/token", base)
    # the registry's own origin, in plain HTTP (an insecure registry the user named)
    assert credentials_may_go_to("http://registry.local:5000/t", "http://registry.local:5000")
    assert not credentials_may_go_to("http://evil.local:5000/t", "http://registry.local:5000")
    assert not credentials_may_go_to("http://[::1/t", base)


def test_a_token_service_that_is_not_http_is_refused(gate: AuthGate) -> None:
    gate.realm = "file:///etc/passwd"
    config = {"auths": {gate.host: {"auth": b64("alice:s3cret")}}}
    with pytest.raises(ResolutionError, match="not an HTTP URL: file:///etc/passwd"):
        client(docker_config=config).tags(f"{gate.host}/private/wheels")


def test_a_token_service_on_another_loopback_origin_gets_the_credentials(
    gate: AuthGate, web: RouteServer
) -> None:
    web.routes["/token"] = gate._token
    gate.realm = web.url + "/token"
    config = {"auths": {gate.host: {"auth": b64("alice:s3cret")}}}
    assert client(docker_config=config).tags(f"{gate.host}/private/wheels") == ("cffi1.0-py3.12",)
    assert web.requests[0].headers.get("Authorization") == "Basic " + b64("alice:s3cret")
