"""A non-editable install of this checkout into a fresh venv, for the tests of the installed tool
(tests/unit/test_installed.py, tests/integration/test_installed_real.py load this file by path:
each test tree has its own import path).

The wheel is built from a copy of the tracked files without build isolation (offline: setuptools and
wheel come from the test extra), then installed with pip into a venv of its own. The dependencies
(invoke, packaging...) are read from the running venv's site-packages through a .pth line: only its
directory is added, so that venv's editable muslwheels is not.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=600, check=False, env=env
    )


def install_fresh(work: Path) -> Path:
    """The bin/ folder of a new venv under ``work`` with muslwheels installed into it."""
    for module in ("setuptools", "wheel"):
        if importlib.util.find_spec(module) is None:
            raise AssertionError(
                f"{module} is missing: pip install -e '.[test]' (it builds the wheel offline)"
            )
    source = work / "source"
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, tracked.split("\0")):
        origin = ROOT / name
        if not origin.exists() and not origin.is_symlink():
            continue  # deleted in the working tree, not yet committed
        copy = source / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_symlink():
            copy.symlink_to(origin.readlink())
        else:
            shutil.copy2(origin, copy)
    quiet = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    dist = work / "dist"
    pip = [sys.executable, "-m", "pip"]
    done = run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(source)],
        work,
        quiet,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    wheel = next(dist.glob("muslwheels-*.whl"))
    done = run([*pip, "--python", str(python), "install", "--no-deps", str(wheel)], work, quiet)
    assert done.returncode == 0, done.stdout + done.stderr
    site = run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], work
    )
    (Path(site.stdout.strip()) / "dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n"
    )
    return venv / "bin"
