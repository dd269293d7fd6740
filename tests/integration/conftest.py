"""Integration tests: the real Docker engine, buildx, QEMU, the local registry and real sdists.

They skip with the reason when no engine (or no stand-in base image) is there, and FAIL instead when
``MUSLWHEELS_REQUIRE_INTEGRATION=1`` (CI sets it). Run the CI set-up first: ``.ci/setup`` starts dockerd
and the registry on 127.0.0.1:5000 and builds the stand-in images.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from localindex import LocalIndex, build_index
from matrixrecord import MatrixRecorder
from support import (
    MATRIX_CELLS,
    REGISTRY,
    REQUIRED,
    STANDIN,
    STANDIN_REPO,
    STANDIN_TAG,
    run_command,
)

from muslwheels.engine.docker import DockerEngine
from muslwheels.sources.pipconfig import IndexSettings, discover_index_settings

FIXTURE_PROJECTS = ["cext", "sysenv", "dep-a", "needs-dep", "broken", "app", "plainlib"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--matrix-record",
        metavar="PATH",
        default=None,
        help="write the session's result (date, commit, per cell: built, tested, time) to PATH "
        "at its end (nox -s matrix: MATRIX.md)",
    )


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--matrix-record")
    if path:
        recorder = MatrixRecorder(Path(path).resolve(), config.invocation_params.args, MATRIX_CELLS)
        config.pluginmanager.register(recorder, "muslwheels-matrix-record")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


@functools.cache
def _environment_problem() -> str | None:
    """Why the integration tests cannot run here, or None."""
    try:
        info = run_command(["docker", "info", "--format", "{{.ServerVersion}}"])
    except FileNotFoundError:
        return "no docker command on PATH"
    except subprocess.TimeoutExpired:
        return "`docker info` timed out"
    if info.returncode != 0:
        last = (info.stderr.strip().splitlines() or ["no output"])[-1]
        return f"no Docker engine reachable (`docker info` failed: {last}); start dockerd"
    if run_command(["docker", "buildx", "version"]).returncode != 0:
        return "docker buildx is not installed"
    url = f"http://{REGISTRY}/v2/{STANDIN_REPO}/tags/list"
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            tags = json.load(answer).get("tags") or []
    except OSError as err:
        return f"the local registry {REGISTRY} does not answer ({err}); run .ci/setup"
    if STANDIN_TAG not in tags:
        return f"stand-in image {STANDIN} is not in the registry; run tests/standins/build-glibc.sh"
    return None


@pytest.fixture(scope="session", autouse=True)
def integration_environment() -> None:
    problem = _environment_problem()
    if problem is None:
        return
    if REQUIRED:
        pytest.fail(f"MUSLWHEELS_REQUIRE_INTEGRATION=1 but {problem}", pytrace=False)
    pytest.skip(problem)


# --- the tests' own package index and pip settings --------------------------------------------------


@pytest.fixture(scope="session")
def local_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalIndex]:
    root = build_index(tmp_path_factory.mktemp("index"), FIXTURE_PROJECTS)
    index = LocalIndex(root)
    yield index
    index.close()


@pytest.fixture(scope="session")
def host_index() -> IndexSettings:
    """pip's settings on this machine (PIP_CERT, the default index...), as a user's run sees them."""
    return discover_index_settings(env=os.environ)


@pytest.fixture(scope="session")
def index_settings(host_index: IndexSettings, local_index: LocalIndex) -> IndexSettings:
    """The host's settings plus the tests' own index on the loopback."""
    return replace(host_index, extra_index_urls=(*host_index.extra_index_urls, local_index.url))


@pytest.fixture(scope="session")
def engine() -> DockerEngine:
    return DockerEngine()
