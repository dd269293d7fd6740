"""Base-image facts from a container registry, over the registry HTTP API v2.

:class:`RegistryClient` answers the two questions planning asks (which tags a repository has,
which platforms an image is published for), anonymously where the registry allows it, else with
the credentials ``docker login`` stored. Registries on loopback addresses are spoken to in plain
HTTP, as Docker does; every other registry over verified HTTPS. Answers are memoised for the run
and cached on disk through :class:`~muslwheels.cache.JsonCache`.

Image references follow Docker's rules: a first path component with a dot or a colon, or
``localhost``, is a registry host; otherwise the reference belongs to Docker's default registry,
and a single-component name there is an official image under ``library/``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import ssl
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config.imageref import (
    DIGEST,
    DOCKER_DEFAULT_REGISTRY,
    DefaultRegistry,
    ImageReference,
    parse_reference,
)
from ..errors import RegistryError, ResolutionError
from ..names import escape
from .cache import CachedClient, Fact, Json, JsonCache
from .jsonfile import loads_untrusted
from .net import (
    Deadlines,
    NetError,
    Openers,
    fetch,
    is_loopback,
    is_loopback_url,
    same_origin,
)

MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json"
MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
MANIFEST_ACCEPT = ", ".join((OCI_INDEX, MANIFEST_LIST, OCI_MANIFEST, MANIFEST_V2))
INDEX_TYPES = (MANIFEST_LIST, OCI_INDEX)
IMAGE_TYPES = (MANIFEST_V2, OCI_MANIFEST)
V1_TYPES = (MANIFEST_V1, MANIFEST_V1_SIGNED)

_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
_CHALLENGE_PARAM = re.compile(r'([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


# --- what went wrong ---------------------------------------------------------------------------
# Subclasses of ResolutionError, so callers that only care that the registry could not answer keep
# catching that; the wheel registry (WheelRegistry below) tells them apart.


class RegistryUnreachable(ResolutionError):
    """No HTTP answer at all: connection refused, DNS, TLS verification, timeout."""


class RegistryDenied(ResolutionError):
    """The registry answered 401/403: the repository is private, missing, or the login is wrong."""


class RepositoryNotFound(ResolutionError):
    """The registry answered 404 for the repository's tag list: nothing was ever pushed to it."""


# --- credentials --------------------------------------------------------------------------------


def docker_config_path(env: Mapping[str, str], home: Path) -> Path:
    """Where the Docker CLI keeps its configuration: ``$DOCKER_CONFIG`` or ``~/.docker``."""
    directory = env.get("DOCKER_CONFIG")
    return (Path(directory) if directory else home / ".docker") / "config.json"


def load_docker_config(path: Path) -> dict[str, Any]:
    """The Docker CLI configuration at ``path`` ({} when there is none)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ResolutionError(
            f"cannot read Docker's configuration {path}: {exc}",
            hint="fix or remove that file (it holds the credentials of `docker login`)",
        ) from exc
    if not isinstance(data, dict):
        raise ResolutionError(
            f"Docker's configuration {path} is not a JSON object",
            hint="fix or remove that file (it holds the credentials of `docker login`)",
        )
    return data


def _host_of(key: str) -> str:
    """``<scheme>://<host>:5000/v1/`` -> ``<host>:5000`` (the forms `docker login` writes)."""
    if "://" in key:
        return urllib.parse.urlsplit(key).netloc
    return key.split("/", 1)[0]


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


def credentials_in_config(
    config: Mapping[str, Any], registry: str, *, default: DefaultRegistry = DOCKER_DEFAULT_REGISTRY
) -> Credentials | str | None:
    """What Docker's configuration holds for ``registry``: credentials from ``auths``, the name
    of the credential helper that holds them (``credHelpers`` / ``credsStore``), or None."""
    hosts = set(default.names) if registry in default.names else {registry}
    helpers = config.get("credHelpers")
    if isinstance(helpers, dict):
        for key, helper in helpers.items():
            if _host_of(str(key)) in hosts and isinstance(helper, str) and helper:
                return helper
    store = config.get("credsStore")
    if isinstance(store, str) and store:
        return store
    auths = config.get("auths")
    if not isinstance(auths, dict):
        return None
    for key, entry in auths.items():
        if _host_of(str(key)) not in hosts or not isinstance(entry, dict):
            continue
        username, password = entry.get("username"), entry.get("password")
        if isinstance(username, str) and isinstance(password, str) and username:
            return Credentials(username, password)
        encoded = entry.get("auth")
        if isinstance(encoded, str) and encoded:
            try:
                decoded = base64.b64decode(encoded, validate=True).decode()
            except ValueError:
                continue
            user, sep, secret = decoded.partition(":")
            if sep and user:
                return Credentials(user, secret)
    return None


def credentials_from_helper(
    helper: str, server: str, *, timeout: float = 30.0
) -> Credentials | None:
    """Ask ``docker-credential-<helper> get`` for ``server``'s credentials (None: it has none).

    Identity tokens (OAuth refresh tokens) are not used: they come back as None.
    """
    try:
        completed = subprocess.run(
            [f"docker-credential-{helper}", "get"],
            input=server,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if completed.returncode != 0:
        return None
    try:
        data = json.loads(completed.stdout)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    username, secret = data.get("Username"), data.get("Secret")
    if not isinstance(username, str) or not isinstance(secret, str) or username == "<token>":
        return None
    return Credentials(username, secret)


# --- WWW-Authenticate ---------------------------------------------------------------------------


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="...",service="..."`` -> ("bearer", {"realm": ..., "service": ...})."""
    scheme, _, params = header.strip().partition(" ")
    values = {}
    for match in _CHALLENGE_PARAM.finditer(params):
        quoted, bare = match.group(2), match.group(3)
        values[match.group(1).lower()] = (
            re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        )
    return scheme.lower(), values


def platform_string(platform: Mapping[str, Any]) -> str | None:
    """``{"os": "linux", "architecture": "arm", "variant": "v7"}`` -> ``linux/arm/v7``."""
    os_name, arch = platform.get("os"), platform.get("architecture")
    if not isinstance(os_name, str) or not isinstance(arch, str) or not os_name or not arch:
        return None
    variant = platform.get("variant")
    return (
        f"{os_name}/{arch}/{variant}"
        if isinstance(variant, str) and variant
        else f"{os_name}/{arch}"
    )


def manifests_in_index(document: Mapping[str, Any]) -> tuple[tuple[str, str | None], ...]:
    """(platform, digest of its manifest) of a manifest list / OCI index, in order, one per
    platform (the first), without attestation entries; the digest is None when the entry names
    no valid one."""
    manifests = document.get("manifests")
    if not isinstance(manifests, list):
        raise ValueError('no "manifests" list')
    found: dict[str, str | None] = {}
    for entry in manifests:
        if not isinstance(entry, dict):
            raise ValueError('a "manifests" entry is not an object')
        annotations = entry.get("annotations")
        if isinstance(annotations, dict) and (
            annotations.get("vnd.docker.reference.type") == "attestation-manifest"
        ):
            continue
        platform = entry.get("platform")
        text = platform_string(platform) if isinstance(platform, dict) else None
        if text is None or text == "unknown/unknown" or text in found:
            continue
        digest = entry.get("digest")
        found[text] = digest if isinstance(digest, str) and DIGEST.fullmatch(digest) else None
    return tuple(found.items())


def credentials_may_go_to(realm: str, registry_base: str) -> bool:
    """Whether a token service at ``realm`` may be sent the registry's credentials: on the
    registry's own origin, over HTTPS, or on this machine (never in clear to another host)."""
    if same_origin(realm, registry_base) or is_loopback_url(realm):
        return True
    try:
        return urllib.parse.urlsplit(realm).scheme.lower() == "https"
    except ValueError:
        return False


class _Headers(dict[str, str]):
    """Response headers looked up case-insensitively, as HTTP requires: the distribution
    registry sends ``Www-Authenticate`` (Go's spelling), HTTP/2 servers send lower case."""

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key.lower() if isinstance(key, str) else key)


def _header_map(items: Any) -> _Headers:
    headers = _Headers()
    for name, value in items:
        dict.__setitem__(headers, str(name).lower(), str(value))
    return headers


@dataclass
class _Response:
    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str


# --- the client ---------------------------------------------------------------------------------


class RegistryClient(CachedClient[Json]):
    """:class:`~muslwheels.config.model.ImageLookup` over the registry HTTP API v2.

    ``docker_config``: Docker's CLI configuration (credentials); None reads it from
    ``docker_config_file`` (default ``~/.docker/config.json``; see :func:`docker_config_path`). ``insecure``: further registry hosts spoken to in plain
    HTTP (loopback ones always are). ``certs_dir``: Docker's per-registry CA directory
    (``<certs_dir>/<host>/*.crt`` are trusted for that host). ``page_size``: tags asked for per
    request (the registry may send fewer and a ``Link`` to the next page).

    Answers are memoised for the run; those of remote registries are also cached on disk by
    ``cache``. A loopback registry (a local test or CI registry whose content changes under the
    user's hands) is asked afresh each run, even ``--offline``, unless ``cache_loopback``.
    """

    def __init__(
        self,
        *,
        cache: JsonCache | None = None,
        deadlines: Deadlines | None = None,
        docker_config: Mapping[str, Any] | None = None,
        docker_config_file: Path | None = None,
        insecure: tuple[str, ...] = (),
        certs_dir: Path | None = Path("/etc/docker/certs.d"),
        default: DefaultRegistry = DOCKER_DEFAULT_REGISTRY,
        page_size: int = 1000,
        cache_loopback: bool = False,
    ) -> None:
        super().__init__(cache=cache, deadlines=deadlines, cache_loopback=cache_loopback)
        self.page_size = page_size
        self._docker_config = docker_config
        self._docker_config_file = docker_config_file or docker_config_path({}, Path.home())
        self.insecure = insecure
        self.certs_dir = certs_dir
        self.default = default
        self._tokens: dict[tuple[str, str], str] = {}
        self._credentials: dict[str, Credentials | None] = {}
        self._openers: Openers[str] = Openers(self._context)  # one per host and run
        self._manifest_answers: dict[str, tuple[tuple[str, str | None], ...] | None] = {}

    # -- ImageLookup --------------------------------------------------------------------------

    def tags(self, repository: str) -> tuple[str, ...]:
        return self.tags_fact(repository).value

    def platforms(self, image: str) -> tuple[str, ...] | None:
        return self.platforms_fact(image).value

    # -- with ages ----------------------------------------------------------------------------

    def tags_fact(self, repository: str) -> Fact[tuple[str, ...]]:
        ref = parse_reference(repository, default=self.default)
        name = f"{ref.registry}/{ref.repository}"
        raw = self._fetch(
            ref,
            "tags " + name,
            lambda: list(self.ask_tags(ref)),
            what=f"the tags of {repository}",
            valid=lambda v: isinstance(v, list) and all(isinstance(t, str) for t in v),
        )
        assert isinstance(raw.value, list)
        return Fact(tuple(str(t) for t in raw.value), raw.fetched_at, raw.cached)

    def platforms_fact(self, image: str) -> Fact[tuple[str, ...] | None]:
        ref = parse_reference(image, default=self.default)
        key = f"platforms {ref}"

        def ask() -> Json:
            found = self._manifests_now(ref)
            return None if found is None else [p for p, _ in found]

        raw = self._fetch(
            ref,
            key,
            ask,
            what=f"the platforms of {image}",
            valid=lambda v: (
                v is None or (isinstance(v, list) and all(isinstance(p, str) for p in v))
            ),
        )
        value = tuple(str(p) for p in raw.value) if isinstance(raw.value, list) else None
        return Fact(value, raw.fetched_at, raw.cached)

    def digests(self, image: str) -> tuple[tuple[str, str], ...] | None:
        return self.digests_fact(image).value

    def digests_fact(self, image: str) -> Fact[tuple[tuple[str, str], ...] | None]:
        """(platform, digest of its manifest) for each platform of ``image`` that has one."""
        ref = parse_reference(image, default=self.default)
        key = f"digests {ref}"

        def ask() -> Json:
            found = self._manifests_now(ref)
            if found is None:
                return None
            return {p: d for p, d in found if d is not None}

        raw = self._fetch(
            ref,
            key,
            ask,
            what=f"the manifest digests of {image}",
            valid=lambda v: (
                v is None
                or (
                    isinstance(v, dict)
                    and all(isinstance(d, str) and DIGEST.fullmatch(d) for d in v.values())
                )
            ),
        )
        value = (
            tuple((str(p), str(d)) for p, d in raw.value.items())
            if isinstance(raw.value, dict)
            else None
        )
        return Fact(value, raw.fetched_at, raw.cached)

    def _fetch(
        self,
        ref: ImageReference,
        key: str,
        ask: Callable[[], Json],
        *,
        what: str,
        valid: Callable[[Json], bool],
    ) -> Fact[Json]:
        """The cache's answer for ``key`` about ``ref`` (asking when it has none), kept in
        ``facts`` for the run's oldest-answer report."""
        raw = self.cache.fetch(
            "registry", key, ask, what=what, valid=valid, persist=self._persist(ref)
        )
        self.facts[key] = raw
        return raw

    def _manifests_now(self, ref: ImageReference) -> tuple[tuple[str, str | None], ...] | None:
        """:meth:`ask_manifests`, asked once per run for the platforms and digests alike."""
        key = str(ref)
        if key not in self._manifest_answers:
            self._manifest_answers[key] = self.ask_manifests(ref)
        return self._manifest_answers[key]

    def _persist(self, ref: ImageReference) -> bool:
        return self.cache_loopback or not is_loopback(ref.registry)

    # -- questions ----------------------------------------------------------------------------

    def ask_tags(self, ref: ImageReference) -> tuple[str, ...]:
        """Every tag of ``ref``'s repository, asked now (no memo, no cache): for repositories
        that change while we work. RepositoryNotFound when nothing was ever pushed to it."""
        found: list[str] = []
        url: str | None = (
            f"{self._base(ref.registry)}/v2/{ref.repository}/tags/list?n={self.page_size}"
        )
        seen: set[str] = set()
        while url is not None and url not in seen:
            seen.add(url)
            response = self._get(ref, url, accept="application/json")
            if response.status == 404:
                raise RepositoryNotFound(
                    f"repository {ref.repository} not found on registry {ref.registry}",
                    hint="check the base_image in modules.toml (and that the image was pushed)",
                )
            self._expect_ok(ref, response)
            document = self._json(ref, response)
            tags = document.get("tags")
            if tags is None:
                tags = []
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                raise self._malformed(ref, response, '"tags" is not a list of strings')
            found.extend(t for t in tags if t not in found)
            url = None
            link = response.headers.get("Link")
            if link:
                match = _LINK_NEXT.search(link)
                if match:
                    url = urllib.parse.urljoin(response.url, match.group(1))
        return tuple(found)

    def ask_platforms(self, ref: ImageReference) -> tuple[str, ...] | None:
        """The platforms ``ref`` is published for, asked now (no memo, no cache); None when the
        registry has no such tag."""
        manifests = self.ask_manifests(ref)
        return None if manifests is None else tuple(p for p, _ in manifests)

    def ask_manifests(self, ref: ImageReference) -> tuple[tuple[str, str | None], ...] | None:
        """(platform, digest of that platform's manifest) for every platform ``ref`` is
        published for, asked now (no memo, no cache); None when the registry has no such tag.
        The digest is None where the registry gives none (a schema 1 manifest)."""
        url = f"{self._base(ref.registry)}/v2/{ref.repository}/manifests/{ref.reference}"
        response = self._get(ref, url, accept=MANIFEST_ACCEPT)
        if response.status == 404:
            return None
        self._expect_ok(ref, response)
        document = self._json(ref, response)
        media_type = document.get("mediaType")
        if not isinstance(media_type, str):
            media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        try:
            if media_type in INDEX_TYPES or (not media_type and "manifests" in document):
                return manifests_in_index(document)
            if media_type in V1_TYPES:
                arch = document.get("architecture")
                if not isinstance(arch, str):
                    raise ValueError('no "architecture"')
                return ((f"linux/{arch}", None),)
            if media_type in IMAGE_TYPES or (not media_type and "config" in document):
                # the manifest's digest is that of its bytes as served
                digest = "sha256:" + hashlib.sha256(response.body).hexdigest()
                return ((self._config_platform(ref, document), digest),)
        except ValueError as exc:
            raise self._malformed(ref, response, str(exc)) from exc
        raise self._malformed(ref, response, f"unknown manifest type {media_type!r}")

    def _config_platform(self, ref: ImageReference, manifest: Mapping[str, Any]) -> str:
        config = manifest.get("config")
        digest = config.get("digest") if isinstance(config, dict) else None
        if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
            raise ValueError('no "config" digest')
        url = f"{self._base(ref.registry)}/v2/{ref.repository}/blobs/{digest}"
        response = self._get(ref, url, accept="application/json, */*")
        if response.status == 404:
            raise ValueError(f"its config blob {digest} is missing")
        self._expect_ok(ref, response)
        platform = platform_string(self._json(ref, response))
        if platform is None:
            raise ValueError("its config names no os/architecture")
        return platform

    # -- HTTP ---------------------------------------------------------------------------------

    def _base(self, registry: str) -> str:
        host = self.default.endpoint if registry == self.default.name else registry
        plain = is_loopback(host) or host in self.insecure
        return f"{'http' if plain else 'https'}://{host}"

    def _get(self, ref: ImageReference, url: str, *, accept: str) -> _Response:
        scope = f"repository:{ref.repository}:pull"
        headers = {"Accept": accept}
        token = self._tokens.get((ref.registry, scope))
        if token:
            headers["Authorization"] = token
        response = self._request(ref, url, headers)
        if response.status != 401:
            return response
        challenge = response.headers.get("WWW-Authenticate", "")
        scheme, params = parse_challenge(challenge)
        credentials = self._credentials_for(ref.registry)
        if scheme == "bearer" and params.get("realm"):
            authorization = "Bearer " + self._token(ref, params, scope, credentials)
        elif scheme == "basic" and credentials is not None:
            pair = f"{credentials.username}:{credentials.password}".encode()
            authorization = "Basic " + base64.b64encode(pair).decode()
        else:
            raise self._denied(ref, credentials, 401)
        self._tokens[(ref.registry, scope)] = authorization
        headers["Authorization"] = authorization
        response = self._request(ref, url, headers)
        if response.status in (401, 403):
            raise self._denied(ref, credentials, response.status)
        return response

    def _token(
        self,
        ref: ImageReference,
        params: Mapping[str, str],
        scope: str,
        credentials: Credentials | None,
    ) -> str:
        query = {"scope": params.get("scope") or scope}
        if params.get("service"):
            query["service"] = params["service"]
        realm = params["realm"]
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        if urllib.parse.urlsplit(realm).scheme.lower() not in ("http", "https"):
            raise ResolutionError(
                f"registry {ref.registry} named a token service that is not an HTTP URL: "
                f"{escape(realm)}",
                hint="check the registry (its WWW-Authenticate answer)",
            )
        if credentials is not None and not credentials_may_go_to(realm, self._base(ref.registry)):
            self.notes.append(
                f"token service {escape(realm)} of registry {ref.registry} is plain HTTP on "
                "another host: asked without your credentials"
            )
            credentials = None
        headers = {"Accept": "application/json"}
        if credentials is not None:
            pair = f"{credentials.username}:{credentials.password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        response = self._request(ref, url, headers, what=f"token service {escape(realm)}")
        if response.status in (401, 403):
            raise self._denied(ref, credentials, response.status)
        if not 200 <= response.status < 300:
            raise ResolutionError(
                f"token service {escape(realm)} of registry {ref.registry} answered HTTP {response.status}",
                hint="try again later; --offline answers from the cache",
            )
        try:
            document = loads_untrusted(response.body)
            token = document.get("token") or document.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise ResolutionError(
                f"token service {escape(realm)} of registry {ref.registry} gave no token",
                hint="check the registry; --offline answers from the cache",
            )
        return token

    def _request(
        self,
        ref: ImageReference,
        url: str,
        headers: Mapping[str, str],
        *,
        what: str | None = None,
    ) -> _Response:
        host = urllib.parse.urlsplit(url).netloc
        opener = self._openers[host]
        request = urllib.request.Request(
            url, headers={"User-Agent": "muslwheels", **headers}, method="GET"
        )
        subject = what or f"registry {ref.registry}"
        try:
            answer = fetch(opener, request, self.deadlines)
        except NetError as exc:
            hint = (
                "put the registry's CA certificate into "
                f"{self.certs_dir or '/etc/docker/certs.d'}/{host}/ca.crt"
                if exc.certificate is not None
                else self._hint_unreachable(ref)
            )
            raise RegistryUnreachable(exc.about(subject), hint=hint) from None
        return _Response(answer.status, _header_map(answer.headers), answer.body, answer.url)

    def _hint_unreachable(self, ref: ImageReference) -> str:
        if is_loopback(ref.registry):
            return "start the local registry (.ci/run does), or check base_image in modules.toml"
        return "check the network and base_image in modules.toml; --offline answers from the cache"

    def _context(self, host: str) -> ssl.SSLContext:
        """The TLS context for ``host``, with Docker's CA certificates for it (made once per host
        by its opener)."""
        context = ssl.create_default_context()
        if self.certs_dir is not None:
            directory = self.certs_dir / host
            try:
                for crt in sorted(directory.glob("*.crt")):
                    context.load_verify_locations(cafile=str(crt))
            except (OSError, ssl.SSLError) as exc:
                raise ResolutionError(
                    f"cannot load the CA certificates in {directory}: {exc}",
                    hint="fix or remove the broken certificate file",
                ) from exc
        return context

    def _credentials_for(self, registry: str) -> Credentials | None:
        if registry in self._credentials:
            return self._credentials[registry]
        if self._docker_config is None:
            self._docker_config = load_docker_config(self._docker_config_file)
        found = credentials_in_config(self._docker_config, registry, default=self.default)
        if isinstance(found, str):
            server = self.default.credentials_key if registry == self.default.name else registry
            helper = found
            found = credentials_from_helper(helper, server)
            if found is None:
                self.notes.append(
                    f"docker-credential-{helper} has no credentials for {registry} "
                    "(or could not be run); asking anonymously"
                )
        self._credentials[registry] = found
        return found

    def _denied(
        self, ref: ImageReference, credentials: Credentials | None, status: int
    ) -> RegistryDenied:
        if credentials is None:
            return RegistryDenied(
                f"registry {ref.registry} refused anonymous access to {ref.repository} "
                f"(HTTP {status}): the repository does not exist or is private",
                hint=f"check the image name; for a private repository run "
                f"`docker login {ref.registry}`",
            )
        return RegistryDenied(
            f"registry {ref.registry} refused {credentials.username}'s access to "
            f"{ref.repository} (HTTP {status})",
            hint=f"check the image name; run `docker login {ref.registry}` again if the "
            "credentials changed",
        )

    def _expect_ok(self, ref: ImageReference, response: _Response) -> None:
        if 200 <= response.status < 300:
            return
        if response.status in (401, 403):
            raise self._denied(ref, self._credentials_for(ref.registry), response.status)
        raise ResolutionError(
            f"registry {ref.registry} answered HTTP {response.status} for {ref.repository}",
            hint=self._hint_unreachable(ref),
        )

    def _json(self, ref: ImageReference, response: _Response) -> dict[str, Any]:
        try:
            document = loads_untrusted(response.body)
        except ValueError as exc:
            raise self._malformed(ref, response, "not JSON") from exc
        if not isinstance(document, dict):
            raise self._malformed(ref, response, "not a JSON object")
        return document

    def _malformed(self, ref: ImageReference, response: _Response, why: str) -> ResolutionError:
        path = urllib.parse.urlsplit(response.url).path
        return ResolutionError(
            f"registry {ref.registry} gave a malformed answer for {path}: {why}",
            hint="check that base_image in modules.toml names a container registry",
        )


# --- the wheel images' repositories ---------------------------------------------------------------


class WheelRegistry:
    """What the wheel-image repositories hold, for push, extract, reuse and check.

    Unlike base-image facts these change while we work (a push adds tags), so every question is
    asked afresh, never from the cache. Failures are :class:`~muslwheels.errors.RegistryError`
    (exit code 7) with a hint about the wheel repository rather than about ``base_image``.
    """

    def __init__(self, client: RegistryClient | None = None) -> None:
        self.client = client or RegistryClient()

    def tags(self, repository: str) -> tuple[str, ...]:
        """Every tag of ``repository``; () when nothing was ever pushed to it."""
        ref = self._reference(repository)
        try:
            return self.client.ask_tags(ref)
        except RepositoryNotFound:
            return ()
        except ResolutionError as err:
            raise self._error(err, ref) from None

    def platforms(self, image: str) -> tuple[str, ...] | None:
        """The platforms ``image`` holds (one for a per-arch tag); None when there is no such tag."""
        ref = self._reference(image)
        try:
            return self.client.ask_platforms(ref)
        except ResolutionError as err:
            raise self._error(err, ref) from None

    def _reference(self, text: str) -> ImageReference:
        try:
            return parse_reference(text, default=self.client.default)
        except ResolutionError as err:
            raise RegistryError(
                err.message,
                hint="check --repository, DOCKER_REPO or repository in modules.toml "
                "([registry[:port]/]path, lower case)",
            ) from None

    def _error(self, err: ResolutionError, ref: ImageReference) -> RegistryError:
        registry = "" if ref.registry == self.client.default.name else f" {ref.registry}"
        if isinstance(err, RegistryDenied):
            hint = (
                f"log in with `docker login{registry}` (the same login `docker push` uses), "
                "and check the repository name"
            )
        elif isinstance(err, RegistryUnreachable):
            hint = (
                "check that the registry runs and that --repository, DOCKER_REPO or repository "
                "in modules.toml names the right one"
            )
        else:
            hint = "check --repository, DOCKER_REPO or repository in modules.toml"
        return RegistryError(f"wheel registry: {err.message}", hint=hint)
