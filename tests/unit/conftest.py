"""Fixtures that start real loopback servers (see tests/unit/servers/)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fakes import INDEX
from servers.pypi import PypiServer
from servers.registry import Registry, registry_available
from servers.routes import GarbageServer, RouteServer, free_port

from muslwheels.build.inputs import BuildOptions


@pytest.fixture(scope="session", autouse=True)
def sigint_delivered() -> Iterator[None]:
    """Ctrl-C as in a terminal, even when pytest was started as a background job: a shell without
    job control starts those with SIGINT ignored, which Python and every child then inherit, and
    the tests of Ctrl-C and of cancelling a build would wait for a signal that never arrives."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.fixture
def web() -> Iterator[RouteServer]:
    """An HTTP server on 127.0.0.1 answering ``web.routes[path]`` and recording requests."""
    server = RouteServer()
    yield server
    server.close()


@pytest.fixture
def garbage_url() -> Iterator[str]:
    """The URL of a server on 127.0.0.1 that answers bytes that are not HTTP."""
    server = GarbageServer()
    yield server.url
    server.close()


@pytest.fixture
def dead_url() -> str:
    """The URL of a port on 127.0.0.1 where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (the certificate is its own CA)."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """The real distribution registry (docker-registry) on a free 127.0.0.1 port, empty."""
    if not registry_available():
        reason = "docker-registry is not installed (apt-get install docker-registry)"
        if os.environ.get("MUSLWHEELS_REQUIRE_INTEGRATION") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    server = Registry(tmp_path_factory.mktemp("registry"))
    yield server
    server.close()


@pytest.fixture
def start_pypiserver() -> Iterator[Callable[[Path], PypiServer]]:
    """Starts pypiserver on a free 127.0.0.1 port serving a directory (never falling back to
    another index); stopped after the test."""
    started: list[PypiServer] = []

    def start(directory: Path) -> PypiServer:
        server = PypiServer(directory)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


@pytest.fixture
def options(tmp_path: Path) -> BuildOptions:
    """Build options over ``tmp_path``: wheels/, logs/, tmp/ and a docker/ with a Dockerfile."""
    (tmp_path / "tmp").mkdir()
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "Dockerfile").write_text("FROM scratch\n")
    return BuildOptions(
        wheels_root=tmp_path / "wheels",
        log_dir=tmp_path / "logs",
        index=INDEX,
        temp_root=tmp_path / "tmp",
        docker_dir=tmp_path / "docker",
    )
