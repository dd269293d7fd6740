"""Wheels out of wheel images, into ``<dest>/<arch>/``: verified and atomic, like ``build``.

The engine (``docker.DockerEngine`` in real runs, a fake in unit tests) writes the files of one
image (one platform of it) into a private temporary directory without running anything from it
(``engine.ExportEngine.export_image``); this module then decides whether they may go in:

- every entry must be a wheel file at the image's top level. Anything else (a directory, a text
  file, the root file system of an ordinary image) means the tag does not hold a wheel image:
  ``RegistryError`` and nothing is moved;
- at least one wheel must belong to the target (``verify.wheel_fits``). The others must be wheels
  for the same Python, machine and flavour: the dependency wheels a target's image carries too;
- the wheels are moved in with ``wheelstore.install_wheels`` (all or none, under the folder's lock).

A failure of one target does not stop the others; each one gets an ``ExtractResult``.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..build.wheelstore import install_wheels
from ..config.arches import Arch, arch_for_platform
from ..config.model import Target
from ..engine.interface import ExportEngine, ExportRequest
from ..errors import RegistryError
from ..names import escape
from ..verify.fit import dependency_wheel_problem, expected_tags, wheel_fits
from ..verify.wheelfile import WheelProblem, check_wheel

#: How many unexpected entries an error message lists.
_SHOWN = 5


@dataclass(frozen=True)
class ExtractJob:
    """One image to read for one target: ``ref`` is the per-arch tag, or the multi-arch tag
    read for the target's platform."""

    target: Target
    ref: str


@dataclass(frozen=True)
class ExtractOptions:
    """Where the wheels go (``dest_root/<arch>/``) and how the images are read."""

    dest_root: Path
    pull: bool = False  # WHEELS_FORCE_PULL: ask the registry even for a local image
    builder: str | None = None
    temp_root: Path | None = None  # where the exported files wait for their checks


@dataclass(frozen=True)
class ExtractResult:
    target: Target
    status: str  # "extracted", "would-extract" or "failed"
    seconds: float = 0.0
    wheels: tuple[str, ...] = ()  # file names now in <dest>/<arch>/
    message: str = ""
    ref: str = ""
    hint: str = ""  # what to do about a failure


# --- pure rules ------------------------------------------------------------------------------------


def sort_image_files(entries: Sequence[str], target: Target, ref: str) -> tuple[str, ...]:
    """The wheel files of an exported image that may go into ``target``'s folder, the target's
    own first. ``entries`` lists every path in the image (relative, ``/``-separated; directories
    end with ``/``). RegistryError when the image holds anything but such wheels. Pure."""
    hint = (
        "the tag does not hold a musl-wheels wheel image for this target (check the tag and "
        "--repository); nothing was written"
    )
    other = sorted(e for e in entries if "/" in e or not e.endswith(".whl"))
    if other:
        shown = ", ".join(escape(o) for o in other[:_SHOWN]) + (
            f" and {len(other) - _SHOWN} more" if len(other) > _SHOWN else ""
        )
        raise RegistryError(f"image {ref} holds something other than wheels: {shown}", hint=hint)
    wheels = sorted(entries)
    own = [w for w in wheels if wheel_fits(w, target)]
    if not own:
        found = ", ".join(escape(w) for w in wheels) or "nothing"
        raise RegistryError(
            f"image {ref} holds no wheel of {target.module} {target.version} for "
            f"{target.platform} (it holds {found}; expected {expected_tags(target)})",
            hint=hint,
        )
    foreign = []
    for wheel in wheels:
        if wheel in own:
            continue
        problem = dependency_wheel_problem(wheel, target)
        if problem is not None:
            foreign.append(f"{escape(wheel)} ({problem})")
    if foreign:
        raise RegistryError(
            f"image {ref} holds wheels that do not fit {target.tag}: {', '.join(foreign)}",
            hint=hint,
        )
    return (*own, *(w for w in wheels if w not in own))


def targets_for_platforms(
    template: Target, platforms: Sequence[str]
) -> tuple[tuple[Target, ...], tuple[str, ...]]:
    """``template`` for every platform a multi-arch tag holds (its order, each arch once), and
    the platforms that are no architecture we know. Pure."""
    arches: list[Arch] = []
    unknown: list[str] = []
    for platform in platforms:
        arch = arch_for_platform(platform)
        if arch is None:
            unknown.append(platform)
        elif arch not in arches:
            arches.append(arch)
    return tuple(replace(template, arch=a) for a in arches), tuple(unknown)


# --- doing it ---------------------------------------------------------------------------------------


def _entries(root: Path) -> list[str]:
    """Every path under ``root``: files as ``a/b``, directories as ``a/``, symlinks as files."""
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        rel = Path(folder).relative_to(root)
        for name in dirs:
            found.append(f"{(rel / name).as_posix()}/")
        for name in files:
            path = rel / name
            entry = path.as_posix()
            if (Path(folder) / name).is_symlink() or not (Path(folder) / name).is_file():
                entry += " (not a regular file)"
            found.append(entry)
    return found


def extract_one(
    job: ExtractJob,
    options: ExtractOptions,
    *,
    engine: ExportEngine,
    on_line: Callable[[str], None] = lambda _line: None,
) -> tuple[str, ...]:
    """Export ``job.ref`` for the target's platform, check it, move its wheels into
    ``dest_root/<arch>/``; the file names moved in. RegistryError when the image cannot be had
    or holds anything else (then nothing is moved)."""
    target = job.target
    with tempfile.TemporaryDirectory(prefix="muslwheels-extract-", dir=options.temp_root) as tmp:
        out = Path(tmp) / "image"
        engine.export_image(
            ExportRequest(job.ref, target.platform, out, options.pull, options.builder), on_line
        )
        entries = _entries(out) if out.exists() else []
        names = sort_image_files(entries, target, job.ref)
        for name in names:
            try:
                check_wheel(out / name)
            except WheelProblem as err:
                raise RegistryError(
                    f"image {job.ref} holds a wheel that is not valid: {escape(name)}: {err}",
                    hint="the image was not written by musl-wheels, or it is damaged; "
                    "nothing was written",
                ) from None
        return install_wheels([out / n for n in names], options.dest_root / target.wheel_dir)


def extract_targets(
    jobs: Sequence[ExtractJob],
    options: ExtractOptions,
    *,
    engine: ExportEngine,
    dry_run: bool = False,
) -> tuple[ExtractResult, ...]:
    """Extract every job (one result each, in order); a failing one stops nothing else."""
    if dry_run:
        return tuple(
            ExtractResult(
                job.target,
                "would-extract",
                message=f"{job.ref} ({job.target.platform}) -> "
                f"{options.dest_root / job.target.wheel_dir}",
                ref=job.ref,
            )
            for job in jobs
        )
    if jobs:
        engine.require_ready(builder=options.builder)
    results: list[ExtractResult] = []
    for job in jobs:
        start = time.monotonic()
        try:
            names = extract_one(job, options, engine=engine)
        except RegistryError as err:
            results.append(
                ExtractResult(
                    job.target,
                    "failed",
                    time.monotonic() - start,
                    message=str(err),
                    ref=job.ref,
                    hint=err.hint or "",
                )
            )
            continue
        results.append(
            ExtractResult(job.target, "extracted", time.monotonic() - start, names, "", job.ref)
        )
    return tuple(results)
