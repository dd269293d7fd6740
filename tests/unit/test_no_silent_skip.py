"""tests/conftest.py's rule, run on a throw-away test file in its own pytest: under
MUSLWHEELS_REQUIRE_INTEGRATION=1 (CI) a skip of any kind fails with its reason; without it, a skip
stays a skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]

SKIPPING = """
import pytest

def test_skips_in_its_body():
    pytest.skip("no such tool here")

@pytest.mark.skipif(True, reason="a skipif marker")
def test_skipped_by_a_marker():
    pass

@pytest.fixture
def unavailable():
    pytest.skip("a fixture that cannot start")

def test_skipped_by_its_fixture(unavailable):
    pass

@pytest.mark.xfail(reason="known", strict=True)
def test_an_expected_failure():
    assert False
"""


def outcomes(tmp_path: Path, required: bool) -> str:
    (tmp_path / "test_skipping.py").write_text(SKIPPING)
    env = {k: v for k, v in os.environ.items() if k != "MUSLWHEELS_REQUIRE_INTEGRATION"}
    if required:
        env["MUSLWHEELS_REQUIRE_INTEGRATION"] = "1"
    env["PYTHONPATH"] = str(TESTS)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rA",
            "-p",
            "conftest",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            "-c",
            os.devnull,
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    return done.stdout


@pytest.mark.parametrize("required", [True, False])
def test_a_skip_fails_in_ci_and_stays_a_skip_elsewhere(tmp_path: Path, required: bool) -> None:
    out = outcomes(tmp_path, required)
    summary = out.strip().splitlines()[-1]
    if required:
        # a skip in the body fails the test; one at setup (a marker, a fixture) is an error there
        assert "1 failed" in summary and "2 errors" in summary, out
        assert "skipped" not in summary and "passed" not in summary, out
        assert "1 xfailed" in summary, out  # an expected failure is not a skip
        for reason in ("no such tool here", "a skipif marker", "a fixture that cannot start"):
            assert "but the test skipped (" in out and reason in out, out
    else:
        assert "3 skipped" in summary and " failed" not in summary, out
