"""The user's pip configuration: which package indexes to ask, and how.

pip is the authority: its configuration files are read by pip itself (in a subprocess of the
Python that builds the wheels), and the default index URL is pip's own, so nothing here names
a package index. Environment variables rank above the files, as in pip; within the files the
``[wheel]`` section (the pip command our builds run) overrides ``[global]``.

Asking pip costs a Python start-up (~0.15 s, more than planning hundreds of targets), so with a
``cache_dir`` its answer is kept on disk together with what it depended on: the interpreter, the
environment variables that decide where pip looks (``HOME``, ``XDG_CONFIG_HOME``,
``XDG_CONFIG_DIRS``, ``PIP_CONFIG_FILE``, ``VIRTUAL_ENV`` and ``PYTHON*``) and the size,
modification time and inode of every configuration file pip itself named (existing or not) and of
pip's own package. The answer is used again only while all of that is unchanged.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import ResolutionError
from ..names import has_credentials
from .jsonfile import write_json_atomic

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
# own default index, the effective value of each ``section.option`` key given as argument, the
# configuration files pip considered (None when it cannot tell) and pip's own file.
_PIP_SCRIPT = r"""
import contextlib, io, json, sys
import pip
from pip._internal.models.index import PyPI
keys, config, files = sys.argv[1:], {}, None
try:
    from pip._internal.configuration import Configuration, ConfigurationError
    configuration = Configuration(isolated=False)
    configuration.load()
    for key in keys:
        try:
            config[key] = str(configuration.get_value(key))
        except ConfigurationError:
            pass
    try:
        files = [str(f) for _kind, paths in configuration.iter_config_files() for f in paths]
    except Exception:
        files = None
except ImportError:  # pip's internals moved: ask its command line instead
    from pip._internal.cli.main import main
    for key in keys:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            status = main(["config", "get", key])
        if status == 0:
            config[key] = out.getvalue().strip()
json.dump(
    {"default_index": PyPI.simple_url, "config": config, "files": files, "pip": pip.__file__},
    sys.stdout,
)
"""

#: Environment variables that decide which pip runs and which files it reads (the cache key).
_LOOKUP_VARIABLES = ("HOME", "XDG_CONFIG_HOME", "XDG_CONFIG_DIRS", "PIP_CONFIG_FILE", "VIRTUAL_ENV")
#: 2: answers that hold credentials are no longer kept (format 1 kept them in clear)
_CACHE_FORMAT = 2


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


@dataclass(frozen=True)
class _PipAnswer:
    default_index: str
    config: tuple[tuple[str, str], ...]  # section.option -> value, as pip's files set them
    depends_on: tuple[str, ...] | None  # the files the answer came from (None: unknown)


@functools.cache
def _ask_pip(
    python: str, environment: tuple[tuple[str, str], ...], keys: tuple[str, ...]
) -> _PipAnswer:
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
        files, pip_file = data.get("files"), data.get("pip")
        depends_on: tuple[str, ...] | None = None
        if isinstance(files, list) and isinstance(pip_file, str):
            depends_on = (*(str(f) for f in files), pip_file)
    except (ValueError, KeyError, TypeError) as exc:
        raise ResolutionError(
            f"{python} gave an unreadable answer about pip's configuration: {exc}",
            hint=f"check that `{python} -m pip config list` works",
        ) from exc
    return _PipAnswer(default_index, pairs, depends_on)


def _signature(path: str) -> list[int] | str:
    """What changes when a file does: [modification time, size, inode]; "missing" when it does
    not exist; "special" for anything but a regular file (``os.devnull`` never changes)."""
    try:
        found = Path(path).stat()
    except FileNotFoundError:
        return "missing"
    except OSError:
        return "unreadable"
    if not stat.S_ISREG(found.st_mode):
        return "special"
    return [found.st_mtime_ns, found.st_size, found.st_ino]


def _cache_key(python: str, environment: Mapping[str, str], keys: tuple[str, ...]) -> str:
    lookup = {
        name: value
        for name, value in sorted(environment.items())
        if name in _LOOKUP_VARIABLES or name.startswith("PYTHON")
    }
    return json.dumps({"python": python, "environment": lookup, "keys": list(keys)}, sort_keys=True)


def _cache_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / "pip" / f"settings-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


def _cached_answer(cache_dir: Path, python: str, key: str) -> _PipAnswer | None:
    """The stored answer for ``key`` when nothing it depends on changed since, else None."""
    try:
        path = _cache_path(cache_dir, key)
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != _CACHE_FORMAT:
            path.unlink()  # an older format may hold a password in clear
            return None
        if data["key"] != key:
            return None
        signatures = data["signatures"]
        if not isinstance(signatures, dict) or python not in signatures:
            return None
        for path, signature in signatures.items():
            if _signature(path) != signature:
                return None
        config = tuple((str(k), str(v)) for k, v in data["config"])
        return _PipAnswer(str(data["default_index"]), config, tuple(signatures))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _store_answer(
    cache_dir: Path, python: str, key: str, answer: _PipAnswer, *, asked_at: int
) -> None:
    """Keep ``answer`` with the signatures of what it depends on. Nothing is kept when that is
    unknown, when a file changed after ``asked_at`` (ns): pip may have read the older content, or
    when pip's files hold credentials (user info in a URL): those never leave pip's files. A cache
    that cannot be written is not used."""
    path = _cache_path(cache_dir, key)
    if answer.depends_on is None:
        return
    if any(has_credentials(v) for v in (answer.default_index, *(v for _k, v in answer.config))):
        # a password or token from pip's files: asked from pip each run, never written here
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
        return
    signatures = {p: _signature(p) for p in (python, *answer.depends_on)}
    if any(isinstance(s, list) and s[0] >= asked_at for s in signatures.values()):
        return
    record = {
        "format": _CACHE_FORMAT,
        "key": key,
        "signatures": signatures,
        "default_index": answer.default_index,
        "config": [list(pair) for pair in answer.config],
    }
    try:
        write_json_atomic(path, record)
    except OSError:
        return


def pip_config_keys(command: str = PIP_COMMAND) -> tuple[str, ...]:
    """The ``section.option`` keys :func:`settings_from` reads."""
    return tuple(f"{section}.{option}" for section in ("global", command) for option in _OPTIONS)


def discover_index_settings(
    python: str | None = None,
    *,
    env: Mapping[str, str],
    command: str = PIP_COMMAND,
    cache_dir: Path | None = None,
    refresh: bool = False,
) -> IndexSettings:
    """The index settings pip would use here: the environment ``env`` (the run's, from the
    run options), pip's configuration files as read by ``python``'s pip (default: this
    interpreter) in that environment, pip's default index.

    With ``cache_dir``, pip's answer is reused from there while its files are unchanged (see the
    module's documentation); ``refresh`` asks pip again (and stores the new answer).
    """
    interpreter = os.path.realpath(python or sys.executable)
    environment = tuple(
        sorted(
            (name, value)
            for name, value in env.items()
            if not name.startswith("PIP_") or name == "PIP_CONFIG_FILE"
        )
    )
    keys = pip_config_keys(command)
    key = _cache_key(interpreter, dict(environment), keys)
    answer = None
    if cache_dir is not None and not refresh:
        answer = _cached_answer(cache_dir, interpreter, key)
    if answer is None:
        asked_at = time.time_ns()
        answer = _ask_pip(python or sys.executable, environment, keys)
        if cache_dir is not None:
            _store_answer(cache_dir, interpreter, key, answer, asked_at=asked_at)
    return settings_from(env, dict(answer.config), answer.default_index, command=command)
