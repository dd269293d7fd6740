"""What starting a task costs: python-on-whales (and pydantic) load only when Docker is used.

They are a third of the start-up time of every task; `invoke --list`, `invoke plan` and a build with
nothing to do never need them (bench/README.md, the plan and no-op cases).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys
sys.path.insert(0, {src!r})
import muslwheels.cli
from muslwheels.engine.docker import DockerEngine
engine = DockerEngine()
engine.cancel()  # nothing started: nothing to load
heavy = sorted(m for m in ("python_on_whales", "pydantic") if m in sys.modules)
print(",".join(heavy) or "none")
engine.client  # the first question to Docker loads it
print("python_on_whales" in sys.modules)
"""


def test_the_cli_loads_python_on_whales_only_when_docker_is_used() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(src=str(ROOT / "src"))],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["none", "True"]
