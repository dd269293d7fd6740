"""The target lifecycle (build/lifecycle.py) driven without Docker: every path build and bake take."""

from __future__ import annotations

import pytest
from fakeimages import make_target

from muslwheels.build.lifecycle import (
    EmulationFallback,
    Gate,
    Lifecycle,
    Phase,
    emulated_failure,
    gate,
)
from muslwheels.build.modes import MUSL_ONLY, ModeDecision, Strategy, decide
from muslwheels.config.model import Mode, Recipe

AUTO = ModeDecision(Strategy.CROSS_THEN_EMULATE)


def started(decision: ModeDecision) -> Lifecycle:
    life = Lifecycle(make_target("alpha", "arm64v8"))
    assert life.phase is Phase.PENDING
    life.start(decision)
    return life


def test_present_wheels_land_without_a_build() -> None:
    life = Lifecycle(make_target())
    life.present("already in wheels/amd64")
    assert (life.phase, life.message) == (Phase.LANDED, "already in wheels/amd64")
    with pytest.raises(ValueError, match="expected pending"):
        life.start(AUTO)


@pytest.mark.parametrize(
    ("decision", "mode", "label"),
    [
        (ModeDecision(Strategy.NATIVE), Mode.EMULATE, "native"),
        (ModeDecision(Strategy.EMULATE), Mode.EMULATE, "emulate"),
        (ModeDecision(Strategy.CROSS), Mode.CROSS, "cross"),
        (AUTO, Mode.CROSS, "cross"),
        (ModeDecision(Strategy.EMULATE, "the module needs Rust"), Mode.EMULATE, None),
    ],
)
def test_the_decision_starts_the_build_in_its_mode(
    decision: ModeDecision, mode: Mode, label: str | None
) -> None:
    life = started(decision)
    assert (life.phase, life.mode) == (Phase.BUILDING, mode)
    assert life.label == (label or "emulate (the module needs Rust)")
    assert life.summary_label == ("" if decision.strategy is Strategy.NATIVE else life.label)


def test_a_decision_that_cannot_work_fails_before_building() -> None:
    life = started(ModeDecision(Strategy.CROSS, error="cross mode is not possible: no Rust"))
    assert (life.phase, life.message) == (Phase.FAILED, "cross mode is not possible: no Rust")


def test_the_happy_path() -> None:
    life = started(AUTO)
    assert life.plan_line() == "muslwheels: mode auto: cross-compiling, emulation if that fails"
    life.built()
    life.testing()
    life.waiting()  # extra dependency targets first
    life.testing()
    life.landed()
    assert (life.phase, life.label) == (Phase.LANDED, "cross")


def test_auto_falls_back_to_emulation_once_and_never_hides_either_failure() -> None:
    life = started(AUTO)
    fallback = life.build_failed("zig: boom")
    assert fallback == EmulationFallback.cross_build("zig: boom")
    assert (life.phase, life.mode) == (Phase.BUILDING, Mode.EMULATE)
    assert life.label == "emulate (fallback: zig: boom)"
    assert fallback.line("baking again") == (
        "muslwheels: the cross build failed (zig: boom); baking again in emulation"
    )
    assert life.build_failed("gcc: boom") is None
    assert life.phase is Phase.FAILED
    assert life.message == emulated_failure("gcc: boom", "the cross build failed: zig: boom")
    assert life.message == "gcc: boom (in emulation, after the cross build failed: zig: boom)"


def test_auto_builds_a_cross_built_wheel_that_fails_its_test_again_in_emulation() -> None:
    life = started(AUTO)
    life.built()
    life.testing()
    fallback = life.test_failed("test failed: segfault")
    assert fallback is not None
    assert (life.phase, life.mode) == (Phase.BUILDING, Mode.EMULATE)
    assert life.label == "emulate (fallback: cross-built wheel test failed: segfault)"
    life.built()
    life.testing()
    assert life.test_failed("test failed: again") is None  # the emulated wheel's test: final
    assert (life.phase, life.message) == (Phase.FAILED, "test failed: again")


@pytest.mark.parametrize(
    ("decision", "message"),
    [
        (ModeDecision(Strategy.CROSS), "cross build failed: boom"),
        (ModeDecision(Strategy.EMULATE), "boom"),
        (ModeDecision(Strategy.NATIVE), "boom"),
    ],
)
def test_without_auto_a_failure_is_final(decision: ModeDecision, message: str) -> None:
    life = started(decision)
    assert life.build_failed("boom") is None
    assert (life.phase, life.message) == (Phase.FAILED, message)


def test_cross_only_a_failed_test_is_final() -> None:
    life = started(ModeDecision(Strategy.CROSS))
    life.built()
    life.testing()
    assert life.test_failed("test failed: x") is None
    assert life.phase is Phase.FAILED


def test_auto_on_a_glibc_base_image_is_emulated_from_the_start() -> None:
    assert started(AUTO).wants_probe
    life = started(AUTO)
    assert life.probed(musl=False)
    assert (life.phase, life.mode, life.fallback) == (Phase.BUILDING, Mode.EMULATE, False)
    assert life.label == f"emulate ({MUSL_ONLY})"
    assert life.plan_line() == "muslwheels: mode emulate: cross mode needs a musl base image"
    assert not life.wants_probe
    assert life.build_failed("boom") is None  # no cross attempt to fall back from
    assert life.message == "boom"


def test_a_musl_base_image_keeps_auto() -> None:
    life = started(AUTO)
    assert not life.probed(musl=True)
    assert (life.mode, life.fallback) == (Mode.CROSS, True)
    assert not started(ModeDecision(Strategy.CROSS)).wants_probe  # asked for cross: no probe


def test_the_decision_says_musl_only_too() -> None:
    arch = make_target("alpha", "arm64v8").arch

    def auto(musl_base: bool | None) -> ModeDecision:
        return decide(
            Recipe(),
            arch,
            run_mode=Mode.AUTO,
            default=Mode.EMULATE,
            build_platform="linux/amd64",
            musl_base=musl_base,
        )

    assert auto(False) == ModeDecision(Strategy.EMULATE, MUSL_ONLY)
    assert auto(True) == auto(None) == AUTO


def test_a_failed_dependency_fails_the_target() -> None:
    life = started(AUTO)
    assert life.dependency_failed("cffi1.17.1-py3.12-arm64v8") == (
        "dependency cffi1.17.1-py3.12-arm64v8 failed"
    )
    assert life.phase is Phase.FAILED


def test_events_out_of_order_are_refused() -> None:
    life = started(AUTO)
    with pytest.raises(ValueError, match="expected built or waiting"):
        life.testing()
    with pytest.raises(ValueError, match="expected testing"):
        life.landed()


def test_gate() -> None:
    results = {"a": False, "b": True}
    assert gate(["a"], results.get) == (Gate.GO, None)
    assert gate(["a", "c", "b"], results.get) == (Gate.WAIT, "c")  # in order: c is not done
    assert gate(["a", "b", "c"], results.get) == (Gate.BLOCKED, "b")
    # one bake: targets baked alongside hold nothing back
    assert gate(["c", "b"], results.get, wait=False) == (Gate.BLOCKED, "b")
    assert gate(["c"], results.get, wait=False) == (Gate.GO, None)
