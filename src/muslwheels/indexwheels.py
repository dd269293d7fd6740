"""Wheels of the runtime closure from the package index, through pip on this machine.

pip itself picks and downloads (``pip download --no-deps --only-binary=:all:``) with the run's index
settings (the same ones the build gets) and the target's interpreter, ABIs and platforms from the test
step's probe, so the choice is the one pip on the target would make among wheels. Every call has a
deadline.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import BuildError
from .pipconfig import IndexSettings

#: How long one download may take (pip's own socket timeout is shorter: --timeout).
DOWNLOAD_DEADLINE = 300.0

_NOT_FOUND = ("No matching distribution found", "Could not find a version that satisfies")
_SAVED = ("Saved ", "File was already downloaded ")


def download_command(
    index: IndexSettings,
    requirement: str,
    target_args: Sequence[str],
    dest: Path,
    *,
    python: str = sys.executable,
) -> list[str]:
    """The pip command line; ``--isolated``: only ``index`` counts, not this machine's pip files."""
    cmd = [
        python,
        "-m",
        "pip",
        "download",
        "--isolated",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
        "--timeout",
        "30",
        "--retries",
        "2",
        "--no-deps",
        "--only-binary=:all:",
        "--dest",
        str(dest),
        "--index-url",
        index.index_url,
    ]
    for url in index.extra_index_urls:
        cmd += ["--extra-index-url", url]
    for host in index.trusted_hosts:
        cmd += ["--trusted-host", host]
    for link in index.find_links:
        cmd += ["--find-links", link]
    if index.cert:
        cmd += ["--cert", index.cert]
    if index.client_cert:
        cmd += ["--client-cert", index.client_cert]
    return [*cmd, *target_args, requirement]


def downloaded_file(output: str) -> Path | None:
    """The wheel pip saved (or found saved already), from its output."""
    for line in output.splitlines():
        text = line.strip()
        for prefix in _SAVED:
            if text.startswith(prefix) and text.endswith(".whl"):
                return Path(text[len(prefix) :].strip())
    return None


class PipIndexWheels:
    """wheeltest.IndexSource through ``python -m pip download``."""

    def __init__(self, index: IndexSettings, *, python: str = sys.executable) -> None:
        self.index = index
        self.python = python

    def download(self, requirement: str, target_args: Sequence[str], dest: Path) -> Path | None:
        cmd = download_command(self.index, requirement, target_args, dest, python=self.python)
        try:
            done = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=DOWNLOAD_DEADLINE,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise BuildError(
                f"pip could not download {requirement} within {DOWNLOAD_DEADLINE:.0f}s",
                hint="check the package index pip is configured for",
            ) from None
        except OSError as err:
            raise BuildError(f"cannot run pip to download {requirement}: {err}") from None
        output = done.stdout + "\n" + done.stderr
        if done.returncode != 0:
            if any(marker in output for marker in _NOT_FOUND):
                return None
            last = next((x for x in reversed(output.splitlines()) if x.strip()), "no output")
            raise BuildError(
                f"pip could not download {requirement}: {last.strip()}",
                hint="check the package index pip is configured for (PIP_INDEX_URL)",
            )
        found = downloaded_file(output)
        if found is None:
            candidates = sorted(dest.glob("*.whl"))
            raise BuildError(
                f"pip downloaded {requirement} but did not say where "
                f"({len(candidates)} wheels in {dest})"
            )
        return found if found.is_absolute() else dest / found.name
