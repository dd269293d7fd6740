from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakeimages import make_target

from muslwheels.errors import UsageError
from muslwheels.model import Mode, Recipe, Target
from muslwheels.savedplan import load_plan, save_plan, target_from_dict, target_to_dict


def _target(depends: tuple[str, ...] = ()) -> Target:
    return make_target(
        "PyNaCl",
        "aarch64",
        version="1.5.0",
        python="3.12",
        base_image="python:3.12-alpine3.20",
        repository="me/wheels",
        recipe=Recipe(apk=("libsodium-dev",), env=(("SODIUM_INSTALL", "system"),), mode=Mode.CROSS),
        depends=depends,
    )


def test_target_dict_round_trip_and_fields() -> None:
    t = _target(depends=("cffi1.17.1-py3.12-arm64v8@shared",))
    d = target_to_dict(t)
    assert target_from_dict(json.loads(json.dumps(d))) == t
    assert d["tag"] == "PyNaCl1.5.0-py3.12-arm64v8"
    assert d["image"] == "me/wheels:PyNaCl1.5.0-py3.12-arm64v8"
    assert d["platform"] == "linux/arm64"
    assert d["wheel_dir"] == "wheels/arm64v8"
    for key in ("module", "version", "python", "arch", "ssl", "flavour", "depends"):
        assert key in d


def test_saved_plan_is_used_only_for_the_same_inputs(tmp_path: Path) -> None:
    path = tmp_path / "state" / "plan.json"
    inputs = {"tags": ["PyNaCl-py3.12-aarch64"], "flavour": "shared"}
    save_plan(path, inputs, [_target()], [_target().id])
    loaded = load_plan(path, dict(inputs))
    assert loaded == ((_target(),), (_target().id,))
    # Different inputs: the stale saved plan is discarded, and deleted.
    assert load_plan(path, {**inputs, "flavour": "no-shared"}) is None
    assert not path.exists()


def test_missing_saved_plan_is_none(tmp_path: Path) -> None:
    assert load_plan(tmp_path / "nope.json", {}) is None


def test_damaged_saved_plan_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    save_plan(path, {"a": 1}, [_target()], [])
    data = json.loads(path.read_text())
    del data["targets"][0]["module"]
    path.write_text(json.dumps(data))
    with pytest.raises(UsageError, match=str(path)):
        load_plan(path, {"a": 1})


def test_save_leaves_no_temporary_files(tmp_path: Path) -> None:
    save_plan(tmp_path / "plan.json", {}, [_target()], [])
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]
