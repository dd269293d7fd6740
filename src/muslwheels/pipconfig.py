"""The user's pip configuration: which package indexes to ask, and how.

pip is the authority: its configuration files are read by pip itself (in a subprocess of the
Python that builds the wheels), and the default index URL is pip's own, so nothing here names
a package index. Environment variables rank above the files, as in pip; within the files the
``[wheel]`` section (the pip command our builds run) overrides ``[global]``.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import ResolutionError

#: The pip command whose configuration section applies on top of ``[global]``.
PIP_COMMAND = "wheel"

# option name in pip's config files -> environment variable
_OPTIONS: dict[str, str] = {
    "index-url": "PIP_INDEX_URL",
    "extra-index-url": "PIP_EXTRA_INDEX_URL",
    "cert": "PIP_CERT",
    "client-cert": "PIP_CLIENT_CERT",
    "trusted-host": "PIP_TRUSTED_HOST",
    "find-links": "PIP_FIND_LINKS",
}

# Runs inside the target Python, with no PIP_* variables but PIP_CONFIG_FILE, so that pip reports
# what its configuration files say (the environment is ranked by settings_from); prints pip's
# own default index and the effective value of each ``section.option`` key given as argument.
_PIP_SCRIPT = r"""
import contextlib, io, json, sys
from pip._internal.models.index import PyPI
keys, config = sys.argv[1:], {}
try:
    from pip._internal.configuration import Configuration, ConfigurationError
    configuration = Configuration(isolated=False)
    configuration.load()
    for key in keys:
        try:
            config[key] = str(configuration.get_value(key))
        except ConfigurationError:
            pass
except ImportError:  # pip's internals moved: ask its command line instead
    from pip._internal.cli.main import main
    for key in keys:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            status = main(["config", "get", key])
        if status == 0:
            config[key] = out.getvalue().strip()
json.dump({"default_index": PyPI.simple_url, "config": config}, sys.stdout)
"""


@dataclass(frozen=True)
class IndexSettings:
    """Where pip looks for distributions (the part of pip's configuration we mirror)."""

    index_url: str
    extra_index_urls: tuple[str, ...] = ()
    cert: str | None = None  # CA bundle (file or directory) for TLS verification
    client_cert: str | None = None  # PEM file with client certificate and key
    trusted_hosts: tuple[str, ...] = ()  # host or host:port; TLS not verified, plain HTTP allowed
    find_links: tuple[str, ...] = ()  # local directories, HTML files or URLs of link pages

    @property
    def index_urls(self) -> tuple[str, ...]:
        """The primary index, then the extra ones, without repeats."""
        return tuple(dict.fromkeys((self.index_url, *self.extra_index_urls)))


def _split(value: str) -> tuple[str, ...]:
    return tuple(value.split())


def _config_value(pip_config: Mapping[str, str], option: str, command: str) -> str | None:
    for section in (command, "global"):
        value = pip_config.get(f"{section}.{option}")
        if value is not None:
            return value
    return None


def settings_from(
    env: Mapping[str, str],
    pip_config: Mapping[str, str],
    default_index: str,
    *,
    command: str = PIP_COMMAND,
) -> IndexSettings:
    """Rank the sources as pip does: ``PIP_*`` environment variables, then the ``[command]`` then
    ``[global]`` sections of pip's configuration files (``pip_config`` as ``section.option`` keys,
    as ``pip config list`` shows them), then pip's default index.

    Multi-valued options (extra index URLs, trusted hosts, find-links) are whitespace separated;
    a source that sets an option replaces, not extends, a lower-ranked one. An empty value counts
    as unset.
    """
    values: dict[str, str | None] = {}
    for option, variable in _OPTIONS.items():
        value = env.get(variable)
        if not value or not value.strip():
            value = _config_value(pip_config, option, command)
        values[option] = value.strip() if value and value.strip() else None
    index_url = values["index-url"] or default_index
    extra = values["extra-index-url"]
    return IndexSettings(
        index_url=index_url,
        extra_index_urls=tuple(u for u in _split(extra or "") if u != index_url),
        cert=values["cert"],
        client_cert=values["client-cert"],
        trusted_hosts=_split(values["trusted-host"] or ""),
        find_links=_split(values["find-links"] or ""),
    )


@functools.cache
def _ask_pip(
    python: str, environment: tuple[tuple[str, str], ...], keys: tuple[str, ...]
) -> tuple[str, tuple[tuple[str, str], ...]]:
    """pip's default index and what its configuration files set for ``keys`` (once per process)."""
    try:
        completed = subprocess.run(
            [python, "-c", _PIP_SCRIPT, *keys],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
            env=dict(environment),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ResolutionError(
            f"could not run {python} to read pip's configuration: {exc}",
            hint="make sure this Python runs and has pip installed",
        ) from exc
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise ResolutionError(
            f"{python} could not read pip's configuration: {last}",
            hint=f"check that `{python} -m pip config list` works",
        )
    try:
        data = json.loads(completed.stdout)
        default_index = data["default_index"]
        config = data["config"]
        if not isinstance(default_index, str) or not isinstance(config, dict):
            raise TypeError("unexpected shape")
        pairs = tuple(sorted((str(k), str(v)) for k, v in config.items()))
    except (ValueError, KeyError, TypeError) as exc:
        raise ResolutionError(
            f"{python} gave an unreadable answer about pip's configuration: {exc}",
            hint=f"check that `{python} -m pip config list` works",
        ) from exc
    return default_index, pairs


def pip_config_keys(command: str = PIP_COMMAND) -> tuple[str, ...]:
    """The ``section.option`` keys :func:`settings_from` reads."""
    return tuple(f"{section}.{option}" for section in ("global", command) for option in _OPTIONS)


def discover_index_settings(
    python: str | None = None, *, command: str = PIP_COMMAND
) -> IndexSettings:
    """The index settings pip would use here: this process's environment, pip's configuration
    files as read by ``python``'s pip (default: this interpreter), pip's default index."""
    interpreter = python or sys.executable
    environment = tuple(
        sorted(
            (name, value)
            for name, value in os.environ.items()
            if not name.startswith("PIP_") or name == "PIP_CONFIG_FILE"
        )
    )
    default_index, pairs = _ask_pip(interpreter, environment, pip_config_keys(command))
    return settings_from(os.environ, dict(pairs), default_index, command=command)
