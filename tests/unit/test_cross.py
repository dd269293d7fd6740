"""build/modes.py: which mode a target gets, the fallback rules, the per-arch triples; and build/scheduler.py's use
of them against the fake engine of test_build (our own seam)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fakes import FakeEngine, make_target, run, wheel_name

from muslwheels.build.inputs import BuildOptions
from muslwheels.build.modes import (
    ModeDecision,
    Strategy,
    build_arch,
    cross_blocker,
    cross_build_args,
    decide,
    mode_label,
    requested_mode,
)
from muslwheels.config.arches import ARCHES, Arch, lookup_arch
from muslwheels.config.model import Mode, Recipe
from muslwheels.engine.interface import BuildRequest
from muslwheels.errors import BuildError


def arch(name: str) -> Arch:
    found = lookup_arch(name)
    assert found is not None
    return found


# --- the pure rules ------------------------------------------------------------------------------


def test_every_arch_has_a_triple_an_apk_arch_and_a_multiarch() -> None:
    for a in ARCHES:
        assert a.zig_triple and a.apk_arch and a.multiarch and a.rust_triple and a.wheel_machine
        assert cross_build_args(a) is not None


def test_cross_build_args_for_arm64() -> None:
    settings = cross_build_args(arch("arm64"))
    assert settings is not None
    assert dict(settings) == {
        "MW_CROSS_TRIPLE": "aarch64-linux-musl",
        "MW_CROSS_CPU": "",
        "MW_CROSS_APK_ARCH": "aarch64",
        "MW_CROSS_MULTIARCH": "aarch64-linux-musl",
        "MW_CROSS_MACHINE": "aarch64",
        "MW_CROSS_RUST_TRIPLE": "aarch64-unknown-linux-musl",
    }
    armv7 = dict(cross_build_args(arch("armv7")) or ())
    assert armv7["MW_CROSS_TRIPLE"] == "arm-linux-musleabihf" and armv7["MW_CROSS_CPU"]


@pytest.mark.parametrize(
    ("machine", "key"),
    [("x86_64", "amd64"), ("aarch64", "arm64v8"), ("arm64", "arm64v8"), ("ppc64le", "ppc64le")],
)
def test_build_arch(machine: str, key: str) -> None:
    found = build_arch(machine)
    assert found is not None and found.key == key


def test_build_arch_unknown() -> None:
    assert build_arch("sparc64") is None


def test_requested_mode_order() -> None:
    assert requested_mode(Recipe(mode=Mode.EMULATE), Mode.CROSS, Mode.AUTO) is Mode.EMULATE
    assert requested_mode(Recipe(), Mode.CROSS, Mode.EMULATE) is Mode.CROSS
    assert requested_mode(Recipe(), None, Mode.AUTO) is Mode.AUTO


def test_rust_cross_compiles_where_rust_has_a_musl_target() -> None:
    assert cross_blocker(Recipe(apk=("gcc", "cargo")), arch("arm64")) is None
    assert cross_blocker(Recipe(apt=("rustc=1.70",)), arch("armv7")) is None
    assert cross_blocker(Recipe(apk=("gcc", "musl-dev")), arch("arm64")) is None
    assert (
        dict(cross_build_args(arch("armv7")) or ())["MW_CROSS_RUST_TRIPLE"]
        == "armv7-unknown-linux-musleabihf"
    )
    assert (
        dict(cross_build_args(arch("armv6")) or ())["MW_CROSS_RUST_TRIPLE"]
        == "arm-unknown-linux-musleabihf"
    )
    assert (
        dict(cross_build_args(arch("arm64")) or ())["MW_CROSS_RUST_TRIPLE"]
        == "aarch64-unknown-linux-musl"
    )


def test_rust_without_a_musl_target_blocks_cross() -> None:
    no_rust = replace(arch("riscv64"), rust_triple="")
    assert cross_blocker(Recipe(apk=("cargo",)), no_rust) == (
        "the module needs Rust (cargo), and Rust has no musl target for riscv64"
    )
    assert cross_blocker(Recipe(apk=("gcc",)), no_rust) is None


def decide_for(
    recipe: Recipe, key: str = "arm64", run_mode: Mode | None = None, default: Mode = Mode.EMULATE
) -> ModeDecision:
    return decide(
        recipe, arch(key), run_mode=run_mode, default=default, build_platform="linux/amd64"
    )


def test_native_target_ignores_the_mode() -> None:
    assert decide_for(Recipe(), "amd64", Mode.CROSS) == ModeDecision(Strategy.NATIVE)


def test_unknown_build_platform_makes_every_target_foreign() -> None:
    decision = decide(
        Recipe(), arch("amd64"), run_mode=Mode.CROSS, default=Mode.EMULATE, build_platform=None
    )
    assert decision == ModeDecision(Strategy.CROSS)


def test_emulate_is_the_default() -> None:
    assert decide_for(Recipe()) == ModeDecision(Strategy.EMULATE)


def test_cross_is_cross() -> None:
    assert decide_for(Recipe(), run_mode=Mode.CROSS) == ModeDecision(Strategy.CROSS)


def test_auto_tries_cross_then_emulates() -> None:
    assert decide_for(Recipe(), run_mode=Mode.AUTO) == ModeDecision(Strategy.CROSS_THEN_EMULATE)
    assert decide_for(Recipe(), default=Mode.AUTO) == ModeDecision(Strategy.CROSS_THEN_EMULATE)


def test_a_module_marked_emulate_is_emulated_under_auto_and_says_why() -> None:
    decision = decide_for(Recipe(mode=Mode.EMULATE), run_mode=Mode.AUTO)
    assert decision == ModeDecision(Strategy.EMULATE, 'the module\'s recipe says mode = "emulate"')
    # nothing to explain when emulation was asked for anyway
    assert decide_for(Recipe(mode=Mode.EMULATE)) == ModeDecision(Strategy.EMULATE)


def test_rust_under_auto_tries_cross_first() -> None:
    rust = Recipe(apk=("cargo",))
    assert decide_for(rust, run_mode=Mode.AUTO) == ModeDecision(Strategy.CROSS_THEN_EMULATE)
    assert decide_for(rust, run_mode=Mode.CROSS) == ModeDecision(Strategy.CROSS)


def test_mode_label() -> None:
    assert mode_label("cross", "") == "cross"
    assert mode_label("emulate", "fallback: boom") == "emulate (fallback: boom)"


# --- build/scheduler.py with the modes --------------------------------------------------------------------


def modes(engine: FakeEngine) -> list[str]:
    return [dict(r.build_args).get("MW_MODE", "emulate") for r in engine.requests]


def test_cross_mode_request_carries_the_cross_build_args(options: BuildOptions) -> None:
    target = make_target("alpha", "arm64v8")
    results, engine, _ = run(
        [target], replace(options, mode=Mode.CROSS, build_platform="linux/amd64")
    )
    (result,) = results
    assert result.status == "built" and result.mode == "cross" and result.message == "cross"
    args = dict(engine.requests[0].build_args)
    assert args["MW_MODE"] == "cross"
    assert args["MW_CROSS_TRIPLE"] == "aarch64-linux-musl"
    assert engine.requests[0].platform == "linux/arm64"
    assert result.wheels == (wheel_name(target),)


def test_native_target_builds_as_today(options: BuildOptions) -> None:
    target = make_target("alpha", "amd64")
    results, engine, _ = run(
        [target], replace(options, mode=Mode.CROSS, build_platform="linux/amd64")
    )
    assert results[0].mode == "native" and results[0].message == ""
    assert "MW_MODE" not in dict(engine.requests[0].build_args)


def test_auto_falls_back_to_emulation_and_says_why(options: BuildOptions) -> None:
    target = make_target("alpha", "arm64v8")
    engine = FakeEngine()

    def fail_cross(request: BuildRequest) -> None:
        if dict(request.build_args).get("MW_MODE") == "cross":
            raise BuildError("cross-compiling the wheel failed (exit code 1): error: boom")

    engine.on_build = fail_cross
    results, engine, _ = run(
        [target], replace(options, mode=Mode.AUTO, build_platform="linux/amd64"), engine
    )
    (result,) = results
    assert modes(engine) == ["cross", "emulate"]
    assert result.status == "built"
    assert result.mode == (
        "emulate (fallback: cross-compiling the wheel failed (exit code 1): error: boom)"
    )
    assert result.message == result.mode


def test_auto_uses_cross_when_it_works(options: BuildOptions) -> None:
    results, engine, _ = run(
        [make_target("alpha", "arm64v8")],
        replace(options, mode=Mode.AUTO, build_platform="linux/amd64"),
    )
    assert modes(engine) == ["cross"] and results[0].mode == "cross"


def test_cross_failure_fails_cleanly_without_emulating(options: BuildOptions) -> None:
    engine = FakeEngine()
    engine.fail["alpha"] = "cross-compiling the wheel failed (exit code 1): error: boom"
    results, engine, _ = run(
        [make_target("alpha", "arm64v8")],
        replace(options, mode=Mode.CROSS, build_platform="linux/amd64"),
        engine,
    )
    assert modes(engine) == ["cross"]
    assert results[0].status == "failed"
    assert results[0].message == (
        "cross build failed: cross-compiling the wheel failed (exit code 1): error: boom"
    )


def test_auto_fallback_that_fails_too_names_both(options: BuildOptions) -> None:
    engine = FakeEngine()
    engine.fail["alpha"] = "boom"
    results, engine, _ = run(
        [make_target("alpha", "arm64v8")],
        replace(options, mode=Mode.AUTO, build_platform="linux/amd64"),
        engine,
    )
    assert modes(engine) == ["cross", "emulate"]
    assert results[0].message == "boom (in emulation, after the cross build failed: boom)"


def test_module_marked_emulate_under_auto(options: BuildOptions) -> None:
    target = make_target("alpha", "arm64v8", recipe=Recipe(mode=Mode.EMULATE))
    results, engine, _ = run(
        [target], replace(options, mode=Mode.AUTO, build_platform="linux/amd64")
    )
    assert modes(engine) == ["emulate"]
    assert results[0].message == 'emulate (the module\'s recipe says mode = "emulate")'


def test_cross_for_a_rust_module_builds_with_the_rust_triple(options: BuildOptions) -> None:
    target = make_target("alpha", "armv7", recipe=Recipe(apk=("cargo",)))
    results, engine, _ = run(
        [target], replace(options, mode=Mode.CROSS, build_platform="linux/amd64")
    )
    assert [dict(r.build_args)["MW_CROSS_RUST_TRIPLE"] for r in engine.requests] == [
        "armv7-unknown-linux-musleabihf"
    ]
    assert results[0].status == "built" and results[0].mode == "cross"


def test_cross_for_a_rust_module_without_a_rust_target_fails_without_building(
    options: BuildOptions,
) -> None:
    target = make_target("alpha", "arm64v8", recipe=Recipe(apk=("cargo",)))
    target = replace(target, arch=replace(target.arch, rust_triple=""))
    results, engine, _ = run(
        [target], replace(options, mode=Mode.CROSS, build_platform="linux/amd64")
    )
    assert engine.requests == []
    assert results[0].status == "failed" and "Rust has no musl target" in results[0].message


def test_dry_run_shows_the_cross_command(options: BuildOptions) -> None:
    results, engine, _ = run(
        [make_target("alpha", "arm64v8")],
        replace(options, mode=Mode.AUTO, build_platform="linux/amd64", dry_run=True),
    )
    assert engine.requests == []
    assert "MW_MODE=cross" in results[0].message


def test_emulating_a_rust_module_names_its_triple_for_the_crates_stage(
    options: BuildOptions,
) -> None:
    rust = make_target("alpha", "armv7", recipe=Recipe(apk=("cargo",)))
    plain = make_target("beta", "armv7")
    _, engine, _ = run(
        [rust, plain], replace(options, mode=Mode.EMULATE, build_platform="linux/amd64")
    )
    args = {dict(r.build_args)["MW_PROJECT"]: dict(r.build_args) for r in engine.requests}
    assert args["alpha"]["MW_RUST_TRIPLE"] == "armv7-unknown-linux-musleabihf"
    assert "MW_RUST_TRIPLE" not in args["beta"]


def test_cross_building_a_rust_module_names_its_triple_for_the_crates_stage(
    options: BuildOptions,
) -> None:
    """The crates stage fetches ahead in cross mode too (the wheel step then runs cargo offline)."""
    rust = make_target("alpha", "armv7", recipe=Recipe(apk=("cargo",)))
    plain = make_target("beta", "armv7")
    _, engine, _ = run(
        [rust, plain], replace(options, mode=Mode.CROSS, build_platform="linux/amd64")
    )
    args = {dict(r.build_args)["MW_PROJECT"]: dict(r.build_args) for r in engine.requests}
    assert args["alpha"]["MW_MODE"] == "cross"
    assert args["alpha"]["MW_RUST_TRIPLE"] == "armv7-unknown-linux-musleabihf"
    assert args["alpha"]["MW_CROSS_RUST_TRIPLE"] == "armv7-unknown-linux-musleabihf"
    assert "MW_RUST_TRIPLE" not in args["beta"]
