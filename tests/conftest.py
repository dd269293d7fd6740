"""Shared by both test trees: no silent skip in CI.

CI (.ci/run) sets MUSLWHEELS_REQUIRE_INTEGRATION=1. Then a test that skips, for whatever reason
(a missing tool, a skipif, a fixture that cannot start), fails with that reason instead: what CI
cannot run is a failure there, never a quiet gap. Outside CI a skip stays a skip, with its reason
in pytest's summary (-ra)."""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

REQUIRED = os.environ.get("MUSLWHEELS_REQUIRE_INTEGRATION", "") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if REQUIRED and report.skipped and not hasattr(report, "wasxfail"):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        report.outcome = "failed"
        report.longrepr = (
            f"MUSLWHEELS_REQUIRE_INTEGRATION=1 (CI) but the test skipped ({report.when}): {reason}"
        )
