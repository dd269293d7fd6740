"""What happens to a target's verified wheels after they were built, for ``build`` and ``bake`` alike.

The one home of the tail of a target: the test step (``wheeltest.WheelTestStep``: the runtime closure,
the test in a clean container of the target's platform), the timing line the bench reads, the
``WheelTestRecord`` beside each wheel, and the atomic move of the wheels and the closure's wheels
from the index into ``wheels/<arch>/`` (``wheelstore.install_wheels``). A failing closure or test
raises BuildError before anything moves: nothing of the target lands. Neither does a wheel holding
an ELF file for another machine than its tag names (``check_elf_machines``, before the test step:
QEMU's default CPU would run ARMv7 code in an armv6l wheel).
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config.model import Target
from ..engine.interface import BuildRequest
from ..verify.fit import elf_machine_failure
from ..verify.wheelinfo import elf_members
from ..wheeltest.records import WheelTestRecord, record_name, record_text
from ..wheeltest.step import TestFailed, WheelTestStep
from .inputs import BuildOptions, RunFiles, test_request
from .wheelstore import install_wheels

#: Runs one build (``engine.build`` and whatever the caller checks around it).
RunRequest = Callable[[BuildRequest, Callable[[str], None]], None]


def wheel_test_step(
    options: BuildOptions, run_files: RunFiles, run: RunRequest
) -> WheelTestStep | None:
    """The test step of a run (None when ``options.tests`` is None): its builds of
    docker/test.Dockerfile are made by ``build_inputs.test_request`` and run through ``run``."""
    tests = options.tests
    if tests is None:
        return None

    def run_build(
        stage: str,
        target: Target,
        contexts: Mapping[str, Path],
        out_dir: Path,
        on_line: Callable[[str], None],
    ) -> None:
        request = test_request(
            target,
            stage=stage,
            options=options,
            run_files=run_files,
            contexts=tuple(contexts.items()),
            out_dir=out_dir,
        )
        on_line("muslwheels: " + shlex.join(request.command_line()))
        run(request, on_line)

    return WheelTestStep(
        run_build=run_build,
        modules=tests.modules,
        wheels_root=options.wheels_root,
        index=tests.index,
        sdists=tests.sdists,
    )


def present_message(options: BuildOptions) -> str:
    """The summary's message of a target whose wheel is already in ``wheels/<arch>/``."""
    if options.tests is not None and options.tests.run_tests:
        return "wheel already present (tested when it was built)"
    return "wheel already present"


@dataclass(frozen=True)
class Landed:
    """What landed in ``wheels/<arch>/`` for one target."""

    wheels: tuple[str, ...]  # the target's wheels and its closure's, file names in the folder
    tested: str = ""  # "tested: import ...", "test off: <reason>", "" without a test step
    runtime_packages: tuple[str, ...] = ()

    def message(self, mode: str) -> str:
        """The summary's message of the built target: its mode (when not native) and its test."""
        return "; ".join(m for m in (mode, self.tested) if m)


def check_elf_machines(target: Target, sources: Sequence[Path]) -> None:
    """Every ELF file in the wheels ``sources`` is for the machine their tag names (the target's):
    TestFailed naming the first wheel that holds one for another machine (mode auto then builds a
    cross-compiled target again in emulation, as for a failed test)."""
    for source in sources:
        failure = elf_machine_failure(elf_members(source), source.name, target.arch)
        if failure:
            raise TestFailed(failure)


def land_wheels(
    target: Target,
    sources: Sequence[Path],
    *,
    options: BuildOptions,
    step: WheelTestStep | None,
    workdir: Path,
    on_line: Callable[[str], None],
    label: str,
    build_seconds: float | None = None,
) -> Landed:
    """Test the verified wheels ``sources`` of ``target`` (``step``; its closure gathered) and move
    them, their records and the closure's wheels from the index into ``wheels/<arch>/``.

    ``workdir``: a private directory of the target (test contexts and records go under it);
    ``label``: the build mode, for the log line; ``build_seconds``: how long the build took, for
    the bench's timing line (None: not known, e.g. one bake built every target). BuildError when
    the closure is incomplete or the test fails (``wheeltest.NeedsExtras`` when all it lacks can be
    built as extra dependency targets: build/scheduler.py's scheduler does, bake fails the target): nothing
    moves.
    """
    check_elf_machines(target, sources)
    folder = options.wheels_root / target.wheel_dir
    if step is None:
        installed = install_wheels(sources, folder)
        on_line(f"muslwheels: installed {', '.join(installed)} in {folder} (mode {label})")
        return Landed(installed)
    run_tests = options.tests.run_tests if options.tests is not None else True
    began = time.monotonic()
    tested = step.run(target, sources, workdir / "test", on_line, test=run_tests)
    took = time.monotonic() - began
    # the bench reads this line (bench/run.py, cases "verify" and "verify-qemu")
    built = f"build {build_seconds:.2f}s, " if build_seconds is not None else ""
    on_line(f"muslwheels: timing: {built}closure and test {took:.2f}s")
    # what the step found, beside each wheel: the wheel image carries the closure and names the
    # runtime packages (wheeltest.WheelTestRecord)
    record = WheelTestRecord(
        tuple(p.name for p in tested.closure),
        tested.runtime_packages,
        tested.summary,
        tested.extras,
        target.base_image_on(target.platform),
    )
    records = workdir / "records"
    records.mkdir(parents=True, exist_ok=True)
    record_files: list[Path] = []
    for source in sources:
        record_files.append(records / record_name(source.name))
        record_files[-1].write_text(record_text(record), encoding="utf-8")
    # the closure's wheels from the index land with the target's (ours are there already)
    installed = install_wheels(
        [*sources, *(p for p in tested.closure if p.parent != folder), *record_files], folder
    )
    installed = tuple(n for n in installed if not n.startswith("."))
    on_line(f"muslwheels: installed {', '.join(installed)} in {folder} (mode {label})")
    wheels = tuple(dict.fromkeys((*installed, *(p.name for p in tested.closure))))
    return Landed(wheels, tested.summary, tested.runtime_packages)
