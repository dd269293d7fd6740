"""Sessions: lint, typecheck, tests (unit), integration (real Docker, tier 1), matrix (tier 2), fuzz,
bench.

`nox` (what .ci/run runs) is tier 1: lint, typecheck, tests and integration, the integration set that
exercises every capability once. `nox -s matrix` is tier 2, never in .ci/run: the tests marked
`matrix` (every real-module combination, every bench case once as a smoke run); it writes its result to
MATRIX.md. Which tier a test is in is one marker: `@pytest.mark.matrix` puts it in tier 2, none keeps it
in tier 1 (.ci/README.md). Both need the Docker engine, buildx, QEMU, the local registries and the
stand-in images that `.ci/setup` installs and starts; their tests skip with a reason when no engine
answers, and fail instead when MUSLWHEELS_REQUIRE_INTEGRATION=1 (CI).
`nox -s fuzz` runs the fuzz targets (the matrix session runs it after its own tests).
`nox -s bench` (never run by default) times the tool against what it controls (bench/README.md).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "tests", "integration"]
nox.options.reuse_existing_virtualenvs = True

TEST_TREES = ("tests/unit", "tests/integration", "tests/fuzz")


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # every shell script of the repository (.shellcheckrc: follow what they source); .ci/setup
    # installs shellcheck. A sourced library without a shebang says its shell itself.
    session.run("shellcheck", "--severity=warning", *shell_scripts(), external=True)


_SHEBANG = re.compile(rb"#!\s*\S*/(env\s+)?(ba|da)?sh\b")


def shell_scripts() -> list[str]:
    """The tracked shell scripts: ``*.sh`` files and files whose first line runs sh or bash."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], capture_output=True, check=True, cwd=Path(__file__).parent
    ).stdout.decode()
    found = []
    for name in filter(None, tracked.split("\0")):
        path = Path(__file__).parent / name
        if not path.is_file() or path.is_symlink():
            continue
        with path.open("rb") as handle:
            first = handle.readline(200)
        if name.endswith(".sh") or _SHEBANG.match(first):
            found.append(name)
    return found


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("mypy")
    # Each test tree imports its own helpers (conftest, servers/, support.py) as top-level
    # modules, as pytest does: check each tree on its own with its folder on the path.
    for tree in TEST_TREES:
        session.run("mypy", tree, env={"MYPYPATH": tree})
    session.run("mypy", "tests/conftest.py")  # shared by both trees


@nox.session
def tests(session: nox.Session) -> None:
    """Unit tests: no Docker, no network beyond loopback servers the tests start."""
    session.install("-e", ".[test]")
    session.run("pytest", "tests/unit", "-q", *session.posargs)


@nox.session
def integration(session: nox.Session) -> None:
    """Tier 1: real engine, buildx, QEMU, registry and sdists (see .ci/setup), every capability once."""
    session.install("-e", ".[test]")
    # The slowest tests listed at the end: where a CI run's time goes.
    session.run(
        "pytest",
        "tests/integration",
        "-q",
        "-m",
        "integration and not matrix",
        "--durations=15",
        *session.posargs,
    )


@nox.session
def matrix(session: nox.Session) -> None:
    """Tier 2 (hours; never in .ci/run): every real-module combination, every bench case once.
    Its result goes to MATRIX.md (date, commit, per cell: built, tested, time). The fuzz session
    follows it."""
    session.notify("fuzz", posargs=[])  # the matrix's pytest arguments are not the fuzz run's
    session.install("-e", ".[test]")
    session.run(
        "pytest",
        "tests/integration",
        "-q",
        "-m",
        "matrix",
        "--durations=0",
        "--matrix-record",
        "MATRIX.md",
        *session.posargs,
    )


@nox.session
def fuzz(session: nox.Session) -> None:
    """Fuzz targets (tests/fuzz), each for MUSLWHEELS_FUZZ_SECONDS (default 60 here) from the
    corpus in tests/fuzz/corpus/; for the matrix tier. A crash becomes a regression test."""
    session.install("-e", ".[test]")
    # session.env holds only what nox sets: the caller's value is in the process environment
    seconds = os.environ.get("MUSLWHEELS_FUZZ_SECONDS") or "60"
    session.run(
        "pytest", "tests/fuzz", "-q", *session.posargs, env={"MUSLWHEELS_FUZZ_SECONDS": seconds}
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks, on what .ci/setup starts; arguments go to `python -m bench` (e.g. --runs 3)."""
    session.install("-e", ".")
    session.run("python", "-m", "bench", *session.posargs)
