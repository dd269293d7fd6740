"""One target's lifecycle, the same for ``invoke build`` and ``invoke bake``: a pure state machine.

::

    PENDING --present--> LANDED                     (skip: its verified wheel is in wheels/)
    PENDING --start--> BUILDING(mode) | FAILED      (the mode decision, cross.decide)
    BUILDING(cross, auto) --probed(glibc)--> BUILDING(emulate)   (cross mode is musl-only)
    BUILDING --build_failed--> BUILDING(emulate) | FAILED        (auto's fallback, or the failure)
    BUILDING --built--> BUILT --testing--> TESTING --landed--> LANDED
    TESTING --test_failed--> BUILDING(emulate) | FAILED          (auto: a cross-built wheel)
    TESTING --waiting--> WAITING --testing--> TESTING            (extra dependency targets)
    any --dependency_failed--> FAILED

The drivers (``build._Run``: one thread per target; ``bake._Bake``: rounds of bakes) run the
builds, tests and landings and report what happened; the lifecycle says what follows and in which
words. A new mode or fallback rule is one change here. No Docker, no files, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum

from ..config.model import Mode, Target
from ..errors import BuildError
from .modes import MUSL_ONLY, ModeDecision, Strategy, mode_label


class Phase(Enum):
    PENDING = "pending"  # planned, not started (its dependencies may still be building)
    BUILDING = "building"  # a build in ``Lifecycle.mode`` is next or running
    BUILT = "built"  # its wheels were built and verified
    TESTING = "testing"  # the test step and the landing
    WAITING = "waiting"  # built; its closure waits for extra dependency targets
    LANDED = "landed"  # its tested wheels are in wheels/ (or were already: skipped)
    FAILED = "failed"


class Gate(Enum):
    """Whether a target may start, given the results of the targets it needs."""

    GO = "go"
    WAIT = "wait"  # one has no result yet
    BLOCKED = "blocked"  # one failed


def gate(
    needed: Iterable[str], failed: Callable[[str], bool | None], *, wait: bool = True
) -> tuple[Gate, str | None]:
    """The gate of a target that needs ``needed`` (ids, in order) and the first id that decides
    it. ``failed(id)``: None while that target has no result. ``wait=False``: targets without a
    result are being built alongside (one bake) and do not hold it back."""
    for target_id in needed:
        status = failed(target_id)
        if status is None:
            if wait:
                return Gate.WAIT, target_id
            continue
        if status:
            return Gate.BLOCKED, target_id
    return Gate.GO, None


def cannot_order(ids: Iterable[str]) -> BuildError:
    """The error when targets are left that can never start (a driver's bug, or a cycle the
    graph check did not see)."""
    return BuildError("cannot order the remaining targets: " + ", ".join(ids))


def dependency_failure(tag: str) -> str:
    return f"dependency {tag} failed"


def emulated_failure(message: str, why: str) -> str:
    """Mode auto: the failure of the emulated second attempt, naming what went wrong in cross mode
    (``why``), so that neither failure hides the other."""
    return f"{message} (in emulation, after {why})"


@dataclass(frozen=True)
class EmulationFallback:
    """Mode auto: what went wrong in cross mode, after which the target is built again in
    emulation. How the log, the summary and a later failure say so."""

    what: str  # "the cross build failed", "the cross-built wheel failed its test"
    error: str
    note: str  # the note of the emulated wheel's mode (``cross.mode_label``)

    @classmethod
    def cross_build(cls, error: object) -> EmulationFallback:
        """The cross build itself failed."""
        return cls("the cross build failed", str(error), f"fallback: {error}")

    @classmethod
    def wheel_test(cls, error: object) -> EmulationFallback:
        """The cross-built wheel failed its test on the target's platform."""
        return cls(
            "the cross-built wheel failed its test",
            str(error),
            f"fallback: cross-built wheel {error}",
        )

    def line(self, again: str) -> str:
        """The log line; ``again``: what happens next ("building again", "baking again")."""
        return f"muslwheels: {self.what} ({self.error}); {again} in emulation"

    @property
    def why(self) -> str:
        """For ``emulated_failure``."""
        return f"{self.what}: {self.error}"


class Lifecycle:
    """The state of one target. Each event returns what the driver needs to say or do next."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.phase = Phase.PENDING
        self.strategy: Strategy | None = None
        self.mode = Mode.EMULATE  # the mode of the current (or last) build request
        self.fallback = False  # auto: a failure in cross mode is built again in emulation
        self.note = ""  # why the mode is not the one asked for (the summary's label)
        self.after = ""  # auto, in emulation: what went wrong in cross mode
        self.message = ""  # why it failed, or why it was skipped

    def __repr__(self) -> str:
        return f"Lifecycle({self.target.id}, {self.phase.value}, {self.mode.value})"

    # -- the mode --

    @property
    def native(self) -> bool:
        return self.strategy is Strategy.NATIVE

    @property
    def used(self) -> str:
        """The mode the wheel is built in, as the summary names it: native, emulate or cross."""
        return Strategy.NATIVE.value if self.native else self.mode.value

    @property
    def label(self) -> str:
        """``TargetResult.mode``: ``cross``, ``emulate (fallback: ...)``, ``native``..."""
        return mode_label(self.used, self.note)

    @property
    def summary_label(self) -> str:
        """The mode as the landed wheel's message shows it (nothing for a native build)."""
        return "" if self.native else self.label

    @property
    def wants_probe(self) -> bool:
        """Mode auto before its first build: the base image's probe decides whether cross mode
        can work at all (it is musl-only)."""
        return self.phase is Phase.BUILDING and self.fallback and self.mode is Mode.CROSS

    def plan_line(self) -> str | None:
        """The log line that says how the first build goes, if there is one to say."""
        if self.fallback:
            return "muslwheels: mode auto: cross-compiling, emulation if that fails"
        if self.note:
            return f"muslwheels: mode {self.used}: {self.note}"
        return None

    # -- events --

    def present(self, message: str) -> None:
        """Its verified wheel is already in wheels/: skipped."""
        self._expect(Phase.PENDING)
        self.phase, self.message = Phase.LANDED, message

    def start(self, decision: ModeDecision) -> None:
        """The mode decision: BUILDING in its first mode, or FAILED (cross was asked and cannot
        work for this target)."""
        self._expect(Phase.PENDING)
        if decision.error:
            self._fail(decision.error)
            return
        self.strategy = decision.strategy
        self.mode = decision.strategy.first_mode
        self.fallback = decision.strategy is Strategy.CROSS_THEN_EMULATE
        self.note = decision.note
        self.phase = Phase.BUILDING

    def probed(self, musl: bool) -> bool:
        """The base image's probe answered; a glibc one under auto is emulated from the start
        (True: the mode changed, ``plan_line`` says how)."""
        if not self.wants_probe or musl:
            return False
        self.strategy = Strategy.EMULATE
        self.mode, self.fallback, self.note = Mode.EMULATE, False, MUSL_ONLY
        return True

    def build_failed(self, error: object) -> EmulationFallback | None:
        """A build attempt failed: auto falls back to emulation (returned: the driver builds
        again), anything else FAILED with the message that names the mode."""
        self._expect(Phase.BUILDING)
        if self.mode is Mode.CROSS and self.fallback:
            fallback = EmulationFallback.cross_build(error)
            self._emulate_after(fallback)
            return fallback
        if self.mode is Mode.CROSS:
            self._fail(f"cross build failed: {error}")
        elif self.after:
            self._fail(emulated_failure(str(error), self.after))
        else:
            self._fail(str(error))
        return None

    def built(self) -> None:
        self._expect(Phase.BUILDING)
        self.phase = Phase.BUILT

    def testing(self) -> None:
        self._expect(Phase.BUILT, Phase.WAITING)
        self.phase = Phase.TESTING

    def waiting(self) -> None:
        """Its closure waits for extra dependency targets."""
        self._expect(Phase.TESTING)
        self.phase = Phase.WAITING

    def test_failed(self, error: object) -> EmulationFallback | None:
        """Its test (or landing) failed: auto's cross-built wheel is built again in emulation
        (returned), anything else FAILED."""
        self._expect(Phase.TESTING, Phase.BUILT)
        if self.mode is Mode.CROSS and self.fallback:
            fallback = EmulationFallback.wheel_test(error)
            self._emulate_after(fallback)
            return fallback
        self._fail(str(error))
        return None

    def landed(self) -> None:
        self._expect(Phase.TESTING)
        self.phase = Phase.LANDED

    def dependency_failed(self, tag: str) -> str:
        """A target it needs failed: FAILED, and the message."""
        self._fail(dependency_failure(tag))
        return self.message

    def fail(self, message: str) -> None:
        """Any other failure (a wheel that does not fit, an error of the run)."""
        self._fail(message)

    # -- inside --

    def _emulate_after(self, fallback: EmulationFallback) -> None:
        self.mode, self.fallback = Mode.EMULATE, False
        self.note, self.after = fallback.note, fallback.why
        self.phase = Phase.BUILDING

    def _fail(self, message: str) -> None:
        self.phase, self.message = Phase.FAILED, message

    def _expect(self, *phases: Phase) -> None:
        if self.phase not in phases:
            shown = " or ".join(p.value for p in phases)
            raise ValueError(f"{self!r}: expected {shown}")
