"""The README's exit codes for hostile command lines, run as a user runs them (musl-wheels or invoke
in the checkout, a process).

Every case here fails before any network or Docker use, so no server is needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"


#: How each entry point is started: the musl-wheels console script (as ``python -m muslwheels``)
#: in the project folder, and invoke over this checkout's tasks.py.
ENTRY_POINTS = {
    "musl-wheels": [sys.executable, "-m", "muslwheels"],
    "invoke": [sys.executable, "-m", "invoke", "-r", str(ROOT)],
}


def _invoke(
    *args: str, env: dict[str, str] | None = None, entry: str = "musl-wheels"
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("BASE_IMAGE", "DOCKER_REPO")}
    return subprocess.run(
        [*ENTRY_POINTS[entry], *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**clean, **(env or {})},
    )


def test_an_unknown_flag_is_a_usage_error_with_the_usage_line() -> None:
    done = _invoke("plan", "--bogus")
    assert done.returncode == 2, done.stderr
    assert "No idea what '--bogus' is!" in done.stderr
    assert "usage: musl-wheels plan " in done.stderr and "[--tag VALUE]" in done.stderr


def test_an_unknown_task_is_a_usage_error() -> None:
    done = _invoke("bogus")
    assert done.returncode == 2
    assert "musl-wheels --list" in done.stderr


def test_plain_invoke_refuses_an_unknown_flag_its_own_way() -> None:
    """invoke's own Program is not patched: its parse errors keep invoke's exit code 1."""
    done = _invoke("plan", "--bogus", entry="invoke")
    assert done.returncode == 1, done.stderr
    assert "No idea what '--bogus' is!" in done.stderr


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"BASE_IMAGE": "{bogus}"}, "BASE_IMAGE"),
        ({"BASE_IMAGE": "$(id):{python}"}, "BASE_IMAGE"),
        ({"DOCKER_REPO": "a" * 100_000}, "a valid repository"),
        ({"NO_SHARED": "y" * 100_000}, "NO_SHARED"),
    ],
)
def test_hostile_environment_is_exit_2_in_one_short_message(
    env: dict[str, str], names: str, entry: str
) -> None:
    done = _invoke("plan", "--tag", "msgpack-py3.12-amd64", env=env, entry=entry)
    assert done.returncode == 2, done.stderr
    assert names in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr) < 600
    assert "modules.toml" not in done.stderr.splitlines()[-1]  # the hint names the variable


def test_a_closed_stdout_is_a_normal_end(tmp_path: Path) -> None:
    """`invoke plan --json | head -1`: the reader leaves early; no traceback, exit 0."""
    program = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(SRC)!r})
        from muslwheels.cli import guarded
        from muslwheels.console import Ui
        ui = Ui()

        def body() -> int:
            for n in range(200_000):
                ui.data({{"n": n, "pad": "x" * 50}})
            return 0

        sys.exit(guarded(ui, body))
        """
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", program], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert writer.stdout is not None and writer.stderr is not None
    first = writer.stdout.readline()
    writer.stdout.close()
    code = writer.wait(timeout=60)
    stderr = writer.stderr.read().decode()
    assert first.startswith(b'{"n": 0')
    assert code == 0, stderr
    assert stderr == ""
