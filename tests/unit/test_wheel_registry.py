"""registry.WheelRegistry against the real docker-registry and loopback servers; engine/docker.py's pure
reading of Docker's error messages."""

from __future__ import annotations

import base64
import json

import pytest
from servers.registry import AuthGate, Registry
from servers.routes import Reply, Request, RouteServer

from muslwheels.engine.buildxlog import buildx_error, registry_failure
from muslwheels.errors import ExitCode, RegistryError
from muslwheels.sources.registry import RegistryClient, WheelRegistry


def wheels(**config: object) -> WheelRegistry:
    return WheelRegistry(RegistryClient(docker_config=config))


@pytest.fixture(scope="module")
def pushed(registry: Registry) -> Registry:
    registry.push_image("me/wheels", "alpha1.0-py3.11-amd64", "linux/amd64")
    registry.push_image("me/wheels", "alpha1.0-py3.11-arm64v8", "linux/arm64")
    registry.push_index("me/wheels", ["alpha1.0-py3.11"], ["linux/amd64", "linux/arm64"])
    return registry


def test_tags_and_platforms(pushed: Registry) -> None:
    lookup = wheels()
    repo = f"{pushed.host}/me/wheels"
    assert sorted(lookup.tags(repo)) == [
        "alpha1.0-py3.11",
        "alpha1.0-py3.11-amd64",
        "alpha1.0-py3.11-arm64v8",
    ]
    assert lookup.platforms(f"{repo}:alpha1.0-py3.11") == ("linux/amd64", "linux/arm64")
    assert lookup.platforms(f"{repo}:alpha1.0-py3.11-arm64v8") == ("linux/arm64",)
    assert lookup.platforms(f"{repo}:alpha2.0-py3.11") is None


def test_a_repository_never_pushed_to_is_empty(pushed: Registry) -> None:
    assert wheels().tags(f"{pushed.host}/me/nothing-yet") == ()
    assert wheels().platforms(f"{pushed.host}/me/nothing-yet:t") is None


def test_answers_are_never_cached(pushed: Registry) -> None:
    lookup = wheels()
    repo = f"{pushed.host}/me/growing"
    assert lookup.tags(repo) == ()
    pushed.push_image("me/growing", "beta1.0-py3.11-amd64", "linux/amd64")
    assert lookup.tags(repo) == ("beta1.0-py3.11-amd64",)


def test_unreachable_registry_is_a_registry_error(dead_url: str) -> None:
    host = dead_url.removeprefix("http://")
    with pytest.raises(
        RegistryError, match=f"wheel registry: registry {host} is unreachable"
    ) as info:
        wheels().tags(f"{host}/me/wheels")
    assert info.value.exit_code is ExitCode.REGISTRY
    assert info.value.hint is not None
    assert "--repository" in info.value.hint


def test_refusing_registry_says_to_log_in(pushed: Registry) -> None:
    gate = AuthGate(pushed.url, mode="basic", users={"alice": "s3cret"})
    try:
        with pytest.raises(RegistryError, match="refused anonymous access") as info:
            wheels().tags(f"{gate.host}/me/wheels")
        assert info.value.hint is not None
        assert f"docker login {gate.host}" in info.value.hint
        auth = base64.b64encode(b"alice:s3cret").decode()
        logged_in = wheels(auths={gate.host: {"auth": auth}})
        assert "alpha1.0-py3.11" in logged_in.tags(f"{gate.host}/me/wheels")
    finally:
        gate.close()


def test_challenge_header_in_any_case(web: RouteServer) -> None:
    """The distribution registry sends ``Www-Authenticate`` (Go's spelling); HTTP/2 servers send
    it in lower case. Either way the stored credentials must be offered."""
    auth = "Basic " + base64.b64encode(b"ci:ci-password").decode()

    def tags(request: Request) -> Reply:
        if request.headers.get("Authorization") == auth:
            body = json.dumps({"name": "me/wheels", "tags": ["t"]}).encode()
            return Reply(200, body, {"Content-Type": "application/json"})
        return Reply(401, b"{}", {"Www-Authenticate": 'Basic realm="ci"'})

    web.routes["/v2/me/wheels/tags/list"] = tags
    host = web.url.removeprefix("http://")
    lookup = wheels(auths={host: {"auth": base64.b64encode(b"ci:ci-password").decode()}})
    assert lookup.tags(f"{host}/me/wheels") == ("t",)


def test_bad_repository_name() -> None:
    with pytest.raises(RegistryError, match="not a valid image reference") as info:
        wheels().tags("Not A Repo")
    assert info.value.hint is not None


# --- Docker's messages ------------------------------------------------------------------------------

# as buildx 0.13 / dockerd 26 print them (seen on the CI machine)
NO_LOGIN = [
    "#6 pushing 127.0.0.1:5001/me/w:t-amd64 with docker",
    "#6 ERROR: no basic auth credentials",
    "------",
    " > pushing 127.0.0.1:5001/me/w:t-amd64 with docker:",
    "------",
    "ERROR: no basic auth credentials",
]
REFUSED = 'Get "http://127.0.0.1:5999/v2/": dial tcp 127.0.0.1:5999: connect: connection refused'
NOT_FOUND = (
    "failed to solve: 127.0.0.1:5000/me/w:t: failed to resolve source metadata for "
    "127.0.0.1:5000/me/w:t: 127.0.0.1:5000/me/w:t: not found"
)
PRIVATE = (
    "failed to solve: 127.0.0.1:5001/me/w:t: failed to resolve source metadata for "
    "127.0.0.1:5001/me/w:t: unexpected status from HEAD request to "
    "http://127.0.0.1:5001/v2/me/w/manifests/t: 401 Unauthorized"
)
IMAGETOOLS_PRIVATE = (
    "pull access denied, repository does not exist or may require authorization: "
    "authorization failed: no basic auth credentials"
)


def test_buildx_error_takes_the_last_error_line() -> None:
    assert buildx_error(NO_LOGIN) == "no basic auth credentials"
    assert buildx_error(["#3 [1/1] COPY", "#3 ERROR: failed to copy: short write"]) == (
        "failed to copy: short write"
    )
    assert buildx_error(["something", "went wrong"]) == "went wrong"
    assert buildx_error([]) == "no error message"


@pytest.mark.parametrize(
    ("text", "action", "message", "hint"),
    [
        (
            "no basic auth credentials",
            "push",
            "registry 127.0.0.1:5001 refused to let us push 127.0.0.1:5001/me/w:t",
            "docker login 127.0.0.1:5001",
        ),
        (PRIVATE, "read", "refused to let us read", "docker login 127.0.0.1:5001"),
        (
            IMAGETOOLS_PRIVATE,
            "create the multi-arch tag",
            "refused to let us create the multi-arch tag",
            "docker login 127.0.0.1:5001",
        ),
        (REFUSED, "push", "registry 127.0.0.1:5001 is unreachable", "check that the registry runs"),
        (NOT_FOUND, "read", "image 127.0.0.1:5001/me/w:t does not exist", "invoke check"),
        ("disk full", "push", "could not push 127.0.0.1:5001/me/w:t: disk full", "Docker's own"),
    ],
)
def test_registry_failures_are_explained(text: str, action: str, message: str, hint: str) -> None:
    error = registry_failure(text, "127.0.0.1:5001/me/w:t", action=action)
    assert error.exit_code is ExitCode.REGISTRY
    assert message in error.message
    assert error.hint is not None
    assert hint in error.hint


def test_docker_hub_login_hint_names_no_host() -> None:
    error = registry_failure("unauthorized: authentication required", "me/w:t", action="push")
    assert error.hint is not None
    assert error.hint.startswith("run `docker login` ")


def test_readers_of_images_cope_with_attestation_entries(registry: Registry) -> None:
    """buildx with the docker-container driver (GitHub Actions) pushes every image as an index
    holding ``unknown/unknown`` attestation manifests: check, extract's multi-arch reading and
    reuse see only the real platforms, the per-arch tags included."""
    from fakeimages import make_target

    from muslwheels.publish.check import check_targets
    from muslwheels.publish.extract import targets_for_platforms

    repo = f"{registry.host}/me/attested"
    amd = make_target("alpha", "amd64", repository=repo)
    arm = make_target("alpha", "arm64v8", repository=repo)
    for target in (amd, arm):
        registry.push_index("me/attested", [target.tag], [target.platform], attestation=True)
    registry.push_index(
        "me/attested", [amd.version_tag], [amd.platform, arm.platform], attestation=True
    )
    lookup = wheels()
    assert lookup.platforms(amd.image) == ("linux/amd64",)  # reuse: the per-arch tag is there
    assert lookup.platforms(amd.multiarch_image) == ("linux/amd64", "linux/arm64")
    targets, unknown = targets_for_platforms(amd, lookup.platforms(amd.multiarch_image) or ())
    assert [t.arch.key for t in targets] == ["amd64", "arm64v8"] and unknown == ()
    report = check_targets([amd, arm], lookup)
    assert [row.status for row in report.rows] == ["done", "done"]
