"""The matrix tier runs every bench case once (`python -m bench --case X --runs 1 --build-runs 1`):
a smoke run, no goal checked (the bench reports goals, it does not fail on them), so a case that
cannot run any more fails here instead of going unnoticed until someone times something."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.run import CASES  # noqa: E402

pytestmark = pytest.mark.matrix

#: One case's deadline (the slowest, bake, takes about 6 minutes a round on 2 free cores).
DEADLINE = 3600


@pytest.mark.parametrize("case", CASES)
def test_bench_case_runs_once(case: str) -> None:
    cmd = [sys.executable, "-m", "bench", "--case", case, "--runs", "1", "--build-runs", "1"]
    try:
        done = subprocess.run(
            cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=DEADLINE, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"bench case {case} did not finish within {DEADLINE} s", pytrace=False)
    assert done.returncode == 0, f"{' '.join(cmd)}: exit {done.returncode}\n{done.stderr[-3000:]}"
    assert "raw figures: " in done.stdout  # it got to the report
