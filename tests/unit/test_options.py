from __future__ import annotations

from pathlib import Path

import pytest

from muslwheels.config.model import Flavour, Mode
from muslwheels.errors import UsageError
from muslwheels.options import Flags, PushMode, make_run_options, truthy


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "On", " 1 "])
def test_truthy_values(value: str) -> None:
    assert truthy({"X": value}, "X") is True


@pytest.mark.parametrize("value", ["", "0", "false", "No", "OFF"])
def test_falsy_values(value: str) -> None:
    assert truthy({"X": value}, "X") is False


def test_unset_is_false() -> None:
    assert truthy({}, "X") is False


def test_ambiguous_value_is_a_usage_error_naming_the_variable() -> None:
    with pytest.raises(UsageError, match=r"NO_SHARED='maybe'") as info:
        truthy({"NO_SHARED": "maybe"}, "NO_SHARED")
    assert info.value.hint is not None and "1/true/yes/on" in info.value.hint


def test_defaults_without_environment() -> None:
    o = make_run_options({})
    assert o.flavour is Flavour.SHARED
    assert (o.dry_run, o.push, o.self_pull, o.force_pull, o.jobs) == (
        False,
        PushMode.OFF,
        True,
        False,
        1,
    )


def test_environment_switches_map_to_options() -> None:
    env = {
        "NO_SHARED": "1",
        "NOOP": "1",
        "DO_PUSH": "1",
        "NO_SELF_PULL": "yes",
        "WHEELS_FORCE_PULL": "true",
        "DOCKER_REPO": "me/wheels",
        "BASE_IMAGE": "img:{python}",
    }
    o = make_run_options(env)
    assert o.flavour is Flavour.NO_SHARED
    assert o.dry_run and not o.self_pull and o.force_pull
    assert o.push is PushMode.DRY  # NOOP: print what would be pushed
    assert o.repository == "me/wheels"
    assert o.base_image == "img:{python}"


def test_no_build_means_dry_run() -> None:
    assert make_run_options({"NO_BUILD": "1"}).dry_run


def test_no_push_beats_do_push() -> None:
    assert make_run_options({"DO_PUSH": "1", "NO_PUSH": "1"}).push is PushMode.DRY
    assert make_run_options({"DO_PUSH": "1"}).push is PushMode.ON
    assert make_run_options({"NO_PUSH": "1"}).push is PushMode.OFF


def test_push_decided_in_one_place() -> None:
    # the push command pushes unless NO_PUSH or a dry run says to print only
    assert make_run_options({}, Flags(pushing=True)).push is PushMode.ON
    assert make_run_options({"NO_PUSH": "1"}, Flags(pushing=True)).push is PushMode.DRY
    assert make_run_options({"NOOP": "1"}, Flags(pushing=True)).push is PushMode.DRY
    # an explicit --push beats NO_PUSH, not --dry-run
    assert make_run_options({"NO_PUSH": "1"}, Flags(push=True)).push is PushMode.ON
    assert make_run_options({}, Flags(push=True, dry_run=True)).push is PushMode.DRY


def test_cli_flag_wins_over_environment() -> None:
    env = {"NO_SHARED": "0", "BASE_IMAGE": "env:{python}", "BUILDX_BUILDER": "env"}
    o = make_run_options(env, Flags(no_shared=True, base_image="cli:{python}", builder="cli"))
    assert o.flavour is Flavour.NO_SHARED
    assert o.base_image == "cli:{python}"
    assert o.builder == "cli"


def test_mode_is_parsed_and_checked() -> None:
    assert make_run_options({}, Flags(mode="CROSS")).mode is Mode.CROSS
    with pytest.raises(UsageError, match="unknown --mode 'fast'"):
        make_run_options({}, Flags(mode="fast"))


def test_bad_jobs_and_contradictions() -> None:
    with pytest.raises(UsageError, match="--jobs"):
        make_run_options({}, Flags(jobs=0))
    with pytest.raises(UsageError, match="--refresh and --offline"):
        make_run_options({}, Flags(refresh=True, offline=True))


def _timeouts(env: dict[str, str], timeout: str | None = None) -> tuple[float, float]:
    options = make_run_options(env, Flags(timeout=timeout))
    return options.request_timeout, options.network_budget


def test_timeout_defaults_flag_and_environment() -> None:
    assert _timeouts({}) == (30.0, 120.0)
    assert _timeouts({}, "5") == (5.0, 120.0)
    assert _timeouts({}, "60") == (60.0, 240.0)  # the budget: four requests' worth at least
    assert _timeouts({}, "2.5,10") == (2.5, 10.0)
    assert _timeouts({"MUSLWHEELS_TIMEOUT": "7,8"}) == (7.0, 8.0)
    assert _timeouts({"MUSLWHEELS_TIMEOUT": " "}) == (30.0, 120.0)
    assert _timeouts({"MUSLWHEELS_TIMEOUT": "7,8"}, "3") == (3.0, 120.0)  # the flag wins


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "1,2,3", "soon", "", "1e9", "5,"])
def test_a_bad_timeout_is_a_usage_error(value: str) -> None:
    with pytest.raises(UsageError, match="is not SECONDS or SECONDS,BUDGET") as info:
        make_run_options({}, Flags(timeout=value))
    assert info.value.hint is not None and "--timeout 60" in info.value.hint
    with pytest.raises(UsageError, match="MUSLWHEELS_TIMEOUT"):
        make_run_options({"MUSLWHEELS_TIMEOUT": value or "x"}, Flags())


@pytest.mark.parametrize(
    ("env", "flags"),
    [
        ({"BASE_IMAGE": "{bogus}"}, Flags()),
        ({"BASE_IMAGE": "python:{python}-alpine{alpine}{"}, Flags()),
        ({"BASE_IMAGE": "$(id):{python}"}, Flags()),
        ({}, Flags(base_image="{bogus}")),
    ],
)
def test_a_bad_base_image_is_refused_naming_where_it_came_from(
    env: dict[str, str], flags: Flags
) -> None:
    source = "BASE_IMAGE" if env else "--base-image"
    with pytest.raises(UsageError) as info:
        make_run_options(env, flags)
    assert info.value.exit_code == 2
    assert str(info.value).startswith(source)
    assert info.value.hint is not None
    assert source in info.value.hint and "modules.toml" not in info.value.hint


@pytest.mark.parametrize(
    "env",
    [
        {"DOCKER_REPO": "a" * 100_000},
        {"NO_SHARED": "x" * 100_000},
        {"BASE_IMAGE": "python:{python}" + "x" * 100_000},
        {"NO_SHARED": "\x1b[31mred\x07\r"},
    ],
)
def test_messages_echo_input_short_and_without_control_bytes(env: dict[str, str]) -> None:
    with pytest.raises(UsageError) as info:
        make_run_options(env)
    text = f"{info.value} {info.value.hint}"
    assert len(text) < 400
    assert not any(ord(c) < 32 or ord(c) == 127 for c in text)


def test_a_valid_base_image_and_repository_pass() -> None:
    o = make_run_options(
        {"BASE_IMAGE": "127.0.0.1:5000/standin/python:{python}-bookworm", "DOCKER_REPO": "me/w"}
    )
    assert o.base_image == "127.0.0.1:5000/standin/python:{python}-bookworm"
    assert o.repository == "me/w"


def test_no_test_switch_and_flag() -> None:
    assert make_run_options({}).test is True
    assert make_run_options({"NO_TEST": "1"}).test is False
    assert make_run_options({"NO_TEST": "off"}).test is True
    assert make_run_options({}, Flags(no_test=True)).test is False
    with pytest.raises(UsageError, match="NO_TEST"):
        make_run_options({"NO_TEST": "maybe"})


def test_a_cargo_config_comes_from_the_environment_and_must_be_a_readable_file(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[net]\nretry = 2\n")
    assert make_run_options({}).cargo_config is None
    assert make_run_options({"MUSLWHEELS_CARGO_CONFIG": str(config)}).cargo_config == str(config)
    with pytest.raises(UsageError) as err:
        make_run_options({"MUSLWHEELS_CARGO_CONFIG": str(tmp_path / "missing.toml")})
    assert str(err.value).startswith("MUSLWHEELS_CARGO_CONFIG=") and "is not a file" in str(
        err.value
    )
    with pytest.raises(UsageError) as err:
        make_run_options({"MUSLWHEELS_CARGO_CONFIG": str(tmp_path)})
    assert "is not a file" in str(err.value)
