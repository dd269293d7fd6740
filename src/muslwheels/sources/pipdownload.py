"""Wheels of the runtime closure from the package index, through pip on this machine.

pip itself picks and downloads (``pip download --no-deps --only-binary=:all:``) with the run's index
settings (the same ones the build gets) and the target's interpreter, ABIs and platforms from the test
step's probe, so the choice is the one pip on the target would make among wheels. Every call has a
deadline.

The index URLs (which may hold a password) reach pip through its environment, never its command line
(which every user of the machine can read); pip reads no configuration file (``PIP_CONFIG_FILE`` is
the null device) and no other ``PIP_*`` variable, so only the run's settings count.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import BuildError
from .pipconfig import IndexSettings

#: How long one download may take (pip's own socket timeout is shorter: --timeout).
DOWNLOAD_DEADLINE = 300.0

_NOT_FOUND = ("No matching distribution found", "Could not find a version that satisfies")
_SAVED = ("Saved ", "File was already downloaded ")


def download_environment(index: IndexSettings, base: Mapping[str, str]) -> dict[str, str]:
    """pip's environment: ``base`` without its ``PIP_*`` variables, no configuration file, and the
    index URLs and find-links of ``index``."""
    env = {k: v for k, v in base.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_INDEX_URL"] = index.index_url
    if index.extra_index_urls:
        env["PIP_EXTRA_INDEX_URL"] = " ".join(index.extra_index_urls)
    if index.find_links:
        env["PIP_FIND_LINKS"] = " ".join(index.find_links)
    return env


def download_command(
    index: IndexSettings,
    requirement: str,
    target_args: Sequence[str],
    dest: Path,
    *,
    python: str = sys.executable,
) -> list[str]:
    """The pip command line (the URLs are in :func:`download_environment`)."""
    cmd = [
        python,
        "-m",
        "pip",
        "download",
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
    ]
    for host in index.trusted_hosts:
        cmd += ["--trusted-host", host]
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

    def __init__(
        self,
        index: IndexSettings,
        *,
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.index = index
        self.python = python
        self.env = download_environment(index, env or {})

    def download(self, requirement: str, target_args: Sequence[str], dest: Path) -> Path | None:
        cmd = download_command(self.index, requirement, target_args, dest, python=self.python)
        try:
            done = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=DOWNLOAD_DEADLINE,
                check=False,
                env=self.env,
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
