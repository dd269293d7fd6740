"""What goes into one build of a target: the files and the ``BuildRequest``. Pure but for staging.

- pip's index settings reach the build only as BuildKit secrets (a generated pip.conf, the CA bundle,
  the client certificate), written once per run (``write_run_files``); an index on the loopback
  makes the whole build use the host's network (``--network host``);
- the recipe becomes the files of the ``recipe`` build context (``recipe_files``), the dependency
  wheels the ``deps`` context (``stage_workdir``);
- ``build_request`` puts it together for one mode (``cross`` or ``emulate``); ``staged_request``
  gives the request with its files in place, for tests and benchmarks.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ..config.model import Mode, Target
from ..config.modules import DEFAULT_BUILD_COMMAND, render_command
from ..engine.interface import BuildRequest, LocalOutput, Output
from ..errors import BuildError
from ..names import redact
from ..sources.net import is_loopback_url
from ..sources.pipconfig import IndexSettings
from .modes import cross_build_args, rust_packages
from .wheelstore import link_or_copy

#: Where things are inside the build (docker/bin/mw-lib.sh uses the same paths).
CONTAINER_WHEEL_DIR = "/mw/wheelhouse"
CONTAINER_DEPS_DIR = "/mw/deps"

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def default_docker_dir() -> Path:
    """The build's ``docker/`` directory: package data wherever the package is installed (in a
    checkout ``src/muslwheels/docker`` is a symlink to the tree's ``docker/``)."""
    return (Path(__file__).resolve().parents[1] / "docker").resolve()


class IndexSource(Protocol):
    """Wheels of the runtime closure from the package index (indexwheels.PipIndexWheels)."""

    def download(self, requirement: str, target_args: Sequence[str], dest: Path) -> Path | None:
        """The wheel pip picks for ``requirement`` among those ``target_args`` (pip's --platform,
        --abi... options) allow, saved in ``dest``; None when the index has none. BuildError when
        the index cannot be asked."""


class SdistSource(Protocol):
    """The index's sdists (index.IndexSdists): what an extra dependency target would build."""

    def newest(self, requirement: Requirement, python: str) -> tuple[str, str] | None:
        """(name as the index spells it, version) of the newest sdist that satisfies
        ``requirement`` on Python ``python``; None when there is none. BuildError when the index
        cannot be asked."""


@dataclass(frozen=True)
class WheelTestSettings:
    """The runtime closure and the test step (wheeltest/step.py) of every built target."""

    modules: tuple[str, ...]  # the modules.toml module names (their wheels are our own builds)
    index: IndexSource
    run_tests: bool = True  # False (--no-test / NO_TEST): the closure only
    # a runtime requirement with no fitting wheel but an sdist here is built as an extra dependency
    # target (by build/scheduler.py's scheduler); None: such a requirement is missing
    sdists: SdistSource | None = None


@dataclass(frozen=True)
class BuildOptions:
    wheels_root: Path  # wheels land in wheels_root/<arch key>/
    log_dir: Path  # one <target id>.log per built target
    index: IndexSettings  # pip's settings, mirrored into the build as secrets
    jobs: int = 1
    force: bool = False  # build again (not from the layer cache) even when the wheel is there
    dry_run: bool = False  # no engine call: report what would run
    builder: str | None = None  # buildx builder (None: the current one)
    no_cache: bool = False  # ignore BuildKit's layer cache (cache mounts stay)
    docker_dir: Path = field(default_factory=default_docker_dir)  # holds the Dockerfile
    temp_root: Path | None = None  # where private temporary directories go (None: system default)
    mode: Mode | None = None  # the run's --mode (None: default_mode, unless a module sets its own)
    default_mode: Mode = Mode.EMULATE  # [defaults] mode
    build_platform: str | None = None  # the builder's own platform (None: every target is foreign)
    tests: WheelTestSettings | None = None  # None: no closure and no test step
    cargo_config: str | None = None  # the user's cargo config file (the ``cargoconfig`` secret)


# --- pip's settings inside the build ------------------------------------------------------------


@dataclass(frozen=True)
class PipSettings:
    """What of the user's pip configuration the build gets, and what was left out (and why)."""

    config_text: str  # the pip.conf handed in as the ``pipconf`` secret
    cert: str | None  # host path of the CA bundle (``pipcert`` secret)
    client_cert: str | None  # host path of the client certificate (``pipclientcert`` secret)
    host_network: bool  # an index/find-links URL is on the loopback
    notes: tuple[str, ...]


def _is_remote_url(location: str) -> bool:
    return urlsplit(location).scheme.lower() in ("http", "https")


def pip_settings(index: IndexSettings) -> PipSettings:
    """Mirror ``index`` into a pip.conf for the build. Pure.

    file:// URLs and local paths name places on this machine the build cannot see: they are left
    out, with a note. When the main index is such a place, the first remote extra index takes its
    role; with no remote index at all, pip inside the build gets ``no-index``.
    """
    notes: list[str] = []

    def keep(location: str, what: str) -> bool:
        if _is_remote_url(location):
            return True
        notes.append(
            f"{what} {redact(location)} left out of the build: it is on this machine, "
            "which the build cannot see"
        )
        return False

    indexes = [u for u in index.index_urls if keep(u, "index")]
    links = [u for u in index.find_links if keep(u, "find-links")]
    lines = ["[global]"]
    if indexes:
        if indexes[0] != index.index_url:
            notes.append(f"pip inside the build uses {redact(indexes[0])} as its main index")
        lines.append(f"index-url = {indexes[0]}")
        if indexes[1:]:
            lines.append(f"extra-index-url = {' '.join(indexes[1:])}")
    else:
        notes.append("no package index can be reached from inside the build: pip gets no-index")
        lines.append("no-index = true")
    if index.trusted_hosts:
        lines.append(f"trusted-host = {' '.join(index.trusted_hosts)}")
    if links:
        lines.append(f"find-links = {' '.join(links)}")
    host_network = any(is_loopback_url(u) for u in (*indexes, *links))
    if host_network:
        notes.append("an index is on the loopback: the build runs with the host's network")
    return PipSettings(
        config_text="\n".join(lines) + "\n",
        cert=index.cert,
        client_cert=index.client_cert,
        host_network=host_network,
        notes=tuple(notes),
    )


# --- recipe files and the request ---------------------------------------------------------------


def command_values(target: Target) -> dict[str, str]:
    """Values of the build/before_build placeholders (config.BUILD_PLACEHOLDERS) for ``target``."""
    values = {
        "module": target.module,
        "version": target.version,
        "requirement": f"{target.module}=={target.version}",
        "python": target.python,
        "arch": target.arch.key,
        "wheel_dir": CONTAINER_WHEEL_DIR,
        "deps_dir": CONTAINER_DEPS_DIR,
    }
    if target.ssl:
        values["ssl"] = target.ssl
    return values


def recipe_files(target: Target) -> dict[str, str]:
    """The files of the ``recipe`` build context for ``target`` (name -> text). Pure.

    Raises BuildError when the recipe cannot be turned into safe shell text.
    """
    recipe = target.recipe
    values = command_values(target)
    try:
        before = [render_command(c, values) for c in recipe.before_build]
        build = render_command(recipe.build or DEFAULT_BUILD_COMMAND, values)
    except ValueError as err:
        raise BuildError(f"{target.tag}: cannot fill in the build command: {err}") from None
    env_lines = []
    for name, value in recipe.env:
        if not _ENV_NAME.fullmatch(name):
            raise BuildError(f"{target.tag}: {name!r} is not a valid environment variable name")
        env_lines.append(f"export {name}={shlex.quote(value)}")

    def text(lines: Sequence[str]) -> str:
        return "".join(f"{line}\n" for line in lines)

    return {
        "packages.apk": text(recipe.apk),
        "packages.apt": text(recipe.apt),
        "env.sh": text(env_lines),
        "before_build.sh": text(before),
        "build.sh": text([build]),
    }


@dataclass(frozen=True)
class RunFiles:
    """Per-run secret sources (host paths) and the network rule."""

    pipconf: Path
    cert: Path | None
    client_cert: Path | None
    host_network: bool
    fresh: str = ""  # MW_FRESH: a new value per forced run re-runs the wheel step
    cargo_config: Path | None = None  # the user's cargo config (``cargoconfig`` secret)

    def secrets(self) -> tuple[tuple[str, str], ...]:
        """The build's ``--secret`` pairs (id, source file)."""
        found = [("pipconf", str(self.pipconf))]
        for secret_id, path in (
            ("pipcert", self.cert),
            ("pipclientcert", self.client_cert),
            ("cargoconfig", self.cargo_config),
        ):
            if path is not None:
                found.append((secret_id, str(path)))
        return tuple(found)


def base_image_line(target: Target) -> str:
    """The log's line on the base image ``target`` is built and tested on."""
    pinned = target.base_image_on(target.platform)
    if pinned is not None:
        return f"base image {pinned} ({target.base_image} for {target.platform})"
    return (
        f"base image {target.base_image} by its tag (the plan has no digest for "
        f"{target.platform}): whatever the image store holds under that tag"
    )


def build_request(
    target: Target,
    *,
    options: BuildOptions,
    run_files: RunFiles,
    workdir: Path,
    output: Output | None = None,
    mode: Mode = Mode.EMULATE,
) -> BuildRequest:
    """The request for one target; ``workdir`` holds its recipe/, deps/ and out/. ``Mode.CROSS``
    compiles on the build machine's platform for the target's (native and emulate: everything on
    the target platform)."""
    cross_args: tuple[tuple[str, str], ...] = ()
    if mode is Mode.CROSS:
        settings = cross_build_args(target.arch)
        if settings is None:
            raise BuildError(
                f"{target.tag}: no cross compiler target is known for {target.arch.key}"
            )
        cross_args = (("MW_MODE", "cross"), *settings)
    if rust_packages(target.recipe) and target.arch.rust_triple:
        # every mode: the crates stage fetches for this triple on the build machine's platform
        cross_args = (*cross_args, ("MW_RUST_TRIPLE", target.arch.rust_triple))
    return _request(
        target,
        "Dockerfile",
        options=options,
        run_files=run_files,
        build_args=(
            # the stages that run on the build machine's platform: its own manifest of the image
            ("BUILD_BASE_IMAGE", target.base_image_on(options.build_platform) or target.base_image),
            ("MW_PROJECT", target.module),
            ("MW_VERSION", target.version),
            ("MW_PYTHON", target.python),
            ("MW_FLAVOUR", target.flavour.value),
            ("MW_MACHINE", target.arch.wheel_machine),
            *cross_args,
        ),
        contexts=(("recipe", workdir / "recipe"), ("deps", workdir / "deps")),
        output=output or LocalOutput(workdir / "out"),
    )


def test_request(
    target: Target,
    *,
    stage: str,
    options: BuildOptions,
    run_files: RunFiles,
    contexts: Sequence[tuple[str, Path]],
    out_dir: Path,
) -> BuildRequest:
    """A build of docker/test.Dockerfile's ``stage`` for ``target``: FROM its base image on its
    platform, whatever the build mode; the output (a report file) goes to ``out_dir``."""
    return _request(
        target,
        "test.Dockerfile",
        options=options,
        run_files=run_files,
        build_args=tuple((("MW_QEMU_CPU", target.arch.qemu_cpu),) if target.arch.qemu_cpu else ()),
        contexts=contexts,
        output=LocalOutput(out_dir),
        stage=stage,
    )


def _request(
    target: Target,
    dockerfile: str,
    *,
    options: BuildOptions,
    run_files: RunFiles,
    build_args: tuple[tuple[str, str], ...],
    contexts: Sequence[tuple[str, Path]],
    output: Output,
    stage: str | None = None,
) -> BuildRequest:
    """A build of docker/``dockerfile`` for ``target``'s platform, FROM its planned base image,
    with the run's secrets and network rule."""
    return BuildRequest(
        context=options.docker_dir,
        dockerfile=options.docker_dir / dockerfile,
        platform=target.platform,
        build_args=(
            ("BASE_IMAGE", target.pinned_base_image),
            *build_args,
            *((("MW_FRESH", run_files.fresh),) if run_files.fresh else ()),
        ),
        build_contexts=tuple((name, str(path)) for name, path in contexts),
        secrets=run_files.secrets(),
        output=output,
        network="host" if run_files.host_network else None,
        allow=("network.host",) if run_files.host_network else (),
        builder=options.builder,
        stage=stage,
        no_cache=options.no_cache,
    )


# --- the files of a run and of a target ----------------------------------------------------------


def cargo_loopback_urls(config_text: str) -> tuple[str, ...]:
    """The URLs on this machine's loopback that a cargo config names (a local crate mirror or
    registry: ``sparse+http://127.0.0.1:8080/index/``, ``registry+...``, ``git+...``). Pure; a text
    that is not TOML names none (cargo itself says what is wrong with it)."""
    try:
        data = tomllib.loads(config_text)
    except tomllib.TOMLDecodeError:
        return ()
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            url = re.sub(r"^(sparse|registry|git)\+", "", value)
            if "://" in url and is_loopback_url(url):
                found.append(value)

    walk(data)
    return tuple(found)


def _cargo_on_loopback(cargo_config: str | None) -> bool:
    """Whether the user's cargo config names a registry on the loopback: its fetch must run with
    the host's network, as pip's does for a loopback index."""
    if cargo_config is None:
        return False
    try:
        text = Path(cargo_config).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return bool(cargo_loopback_urls(text))


def write_run_files(
    pip: PipSettings, run_dir: Path, *, fresh: str = "", cargo_config: str | None = None
) -> RunFiles:
    """Write the run's pip.conf (mode 0600, in a private directory) and find the certificate
    files and the user's cargo config (a copy when its path cannot be a secret source): the
    sources of the build secrets."""
    run_dir.mkdir(mode=0o700, exist_ok=True)
    run_dir.chmod(0o700)
    pipconf = run_dir / "pip.conf"
    fd = os.open(pipconf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(pip.config_text)
    return RunFiles(
        pipconf=pipconf,
        cert=_secret_file(pip.cert, run_dir / "cert.pem"),
        client_cert=_secret_file(pip.client_cert, run_dir / "client-cert.pem"),
        host_network=pip.host_network or _cargo_on_loopback(cargo_config),
        fresh=fresh,
        cargo_config=_secret_file(cargo_config, run_dir / "cargo-config.toml", what="cargo"),
    )


def stage_workdir(target: Target, workdir: Path, dep_wheels: Sequence[Path]) -> None:
    """Fill a target's private directory: recipe/ (the recipe context), deps/ (the dependency
    wheels: the deps context) and an empty out/ (where the wheels arrive)."""
    recipe_dir, deps_dir, out_dir = workdir / "recipe", workdir / "deps", workdir / "out"
    for folder in (recipe_dir, deps_dir, out_dir):
        folder.mkdir(parents=True)
    for name, text in recipe_files(target).items():
        (recipe_dir / name).write_text(text, encoding="utf-8")
    # Several dependencies may share a requirement (pycparser under cffi, for cryptography and PyNaCl
    # alike): one wheel file name is one wheel, offered once.
    for wheel in {w.name: w for w in dep_wheels}.values():
        link_or_copy(wheel, deps_dir / wheel.name)


@contextlib.contextmanager
def staged_request(
    target: Target,
    *,
    options: BuildOptions,
    stage: str | None = None,
    output: Output | None = None,
) -> Iterator[BuildRequest]:
    """The request ``build_targets`` would make for ``target`` (without dependency wheels), its
    private files in place until the block ends; ``stage``/``output`` pick another Dockerfile
    stage or destination (e.g. the builder stage as a local image, to inspect it)."""
    pip = pip_settings(options.index)
    with tempfile.TemporaryDirectory(prefix="muslwheels-", dir=options.temp_root) as tmp:
        run_files = write_run_files(pip, Path(tmp) / "run", cargo_config=options.cargo_config)
        workdir = Path(tmp) / "target"
        stage_workdir(target, workdir, ())
        request = build_request(target, options=options, run_files=run_files, workdir=workdir)
        yield replace(request, stage=stage, output=output or request.output)


def _secret_file(source: str | None, copy_to: Path, *, what: str = "pip") -> Path | None:
    """A host file usable as a BuildKit secret source: the file itself when it is a plain path,
    else a private copy (a CA directory is concatenated into one bundle)."""
    if source is None:
        return None
    path = Path(source)
    if path.is_dir():
        parts = [p.read_bytes() for p in sorted(path.iterdir()) if p.suffix in (".pem", ".crt")]
        copy_to.write_bytes(b"\n".join(parts))
        copy_to.chmod(0o600)
        return copy_to
    if not path.is_file():
        if what == "cargo":
            raise BuildError(
                f"the cargo config {source} (MUSLWHEELS_CARGO_CONFIG) does not exist",
                hint="name an existing cargo config.toml, or unset MUSLWHEELS_CARGO_CONFIG",
            )
        raise BuildError(
            f"pip's certificate file {source} does not exist",
            hint="fix PIP_CERT / PIP_CLIENT_CERT or pip's cert / client-cert setting",
        )
    if "," in str(path) or "=" in str(path):
        shutil.copyfile(path, copy_to)
        copy_to.chmod(0o600)
        return copy_to
    return path


def placeholder_run_files(
    pip: PipSettings, *, fresh: str = "", cargo_config: str | None = None
) -> RunFiles:
    """The run files a dry run shows (``<tmp>`` where the private directory would be)."""
    return RunFiles(
        pipconf=Path("<tmp>") / "pip.conf",
        cert=Path(pip.cert) if pip.cert else None,
        client_cert=Path(pip.client_cert) if pip.client_cert else None,
        host_network=pip.host_network or _cargo_on_loopback(cargo_config),
        fresh=fresh,
        cargo_config=Path(cargo_config) if cargo_config else None,
    )
