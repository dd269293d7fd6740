from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fakeimages import make_target

from muslwheels import cli
from muslwheels.config.model import Mode, Recipe, Shape, Target
from muslwheels.console import Ui
from muslwheels.errors import UsageError
from muslwheels.options import Flags, make_run_options
from muslwheels.plan.savedplan import (
    discard_plan,
    load_plan,
    save_plan,
    target_from_dict,
    target_to_dict,
)


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


ARM64 = "sha256:" + "a" * 64
AMD64 = "sha256:" + "b" * 64


def test_the_base_images_digests_are_saved_and_shown() -> None:
    t = replace(_target(), base_digests=(("linux/arm64", ARM64), ("linux/amd64", AMD64)))
    d = target_to_dict(t)
    assert d["base_image"] == "python:3.12-alpine3.20"
    assert d["base_image_pinned"] == f"python@{ARM64}"
    assert d["base_digests"] == {"linux/arm64": ARM64, "linux/amd64": AMD64}
    assert target_from_dict(json.loads(json.dumps(d))) == t
    # planned without the registry: the tag, and nothing to round-trip
    d = target_to_dict(_target())
    assert (d["base_image_pinned"], d["base_digests"]) == ("python:3.12-alpine3.20", {})


@pytest.mark.parametrize("digests", [{"linux/arm64": "latest"}, ["linux/arm64"], {"a": 1}])
def test_a_saved_plan_with_a_bad_digest_is_damaged(tmp_path: Path, digests: Any) -> None:
    path = tmp_path / "plan.json"
    inputs = {"tags": ["PyNaCl-py3.12-aarch64"]}
    save_plan(path, inputs, [_target()], [_target().id])
    payload = json.loads(path.read_text())
    payload["targets"][0]["base_digests"] = digests
    path.write_text(json.dumps(payload))
    with pytest.raises(UsageError, match="damaged"):
        load_plan(path, dict(inputs))


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


def _every_field_set() -> Recipe:
    """A recipe whose every field (read from the dataclass, so a new one is included) is set."""
    samples: dict[Shape, Callable[[str], Any]] = {
        Shape.STRINGS: lambda name: (f"{name}-1", f"{name}-2"),
        Shape.PAIRS: lambda name: ((f"{name.upper()}_A", "1"), (f"{name.upper()}_B", "two")),
        Shape.TEXT: lambda name: f"the {name} value",
        Shape.MODE: lambda name: Mode.CROSS,
    }
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Recipe):
        value = samples[f.metadata["rule"].check.shape](f.name)
        assert value != f.default, f.name
        values[f.name] = value
    return Recipe(**values)


def test_every_recipe_field_survives_the_saved_plan(tmp_path: Path) -> None:
    recipe = _every_field_set()
    target = replace(_target(), recipe=recipe)
    assert target_from_dict(json.loads(json.dumps(target_to_dict(target)))).recipe == recipe
    path = tmp_path / "plan.json"
    save_plan(path, {}, [target], [target.id])
    loaded = load_plan(path, {})
    assert loaded is not None
    for f in dataclasses.fields(Recipe):
        assert getattr(loaded[0][0].recipe, f.name) == getattr(recipe, f.name), f.name


def test_plan_json_shows_every_recipe_field() -> None:
    shown = target_to_dict(replace(_target(), recipe=_every_field_set()))["recipe"]
    assert list(shown) == [f.name for f in dataclasses.fields(Recipe)]
    assert shown["test_requires"] == ["test_requires-1", "test_requires-2"]
    assert shown["no_test"] == "the no_test value"


def test_a_plan_saved_without_a_recipe_field_is_damaged(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    save_plan(path, {}, [_target()], [])
    data = json.loads(path.read_text())
    del data["targets"][0]["recipe"]["no_test"]
    path.write_text(json.dumps(data))
    with pytest.raises(UsageError, match="damaged"):
        load_plan(path, {})


def test_a_target_without_repository_round_trips() -> None:
    t = make_target("alpha", repository=None)
    d = target_to_dict(t)
    assert d["repository"] is None and d["image"] is None
    assert target_from_dict(json.loads(json.dumps(d))) == t


def _old_plan(tmp_path: Path) -> Path:
    path = tmp_path / ".musl-wheels" / "plan.json"
    save_plan(path, {"tags": ["alpha"]}, [_target()], [_target().id])
    return path


def test_a_failed_post_checkout_leaves_no_older_plan(tmp_path: Path) -> None:
    path = _old_plan(tmp_path)
    err = io.StringIO()
    ws = cli.Workspace(root=tmp_path, config_path=tmp_path / "missing.toml", ui=Ui(err=err))
    options = make_run_options({}, Flags(tags=["alpha"]))
    code = cli.guarded(ws.ui, lambda: cli.cmd_post_checkout(ws, options))
    assert code == 3, err.getvalue()  # modules.toml is missing
    assert not path.exists()


@pytest.mark.parametrize("shape", ["folder is a file", "plan is a folder"])
def test_post_checkout_on_a_bad_plan_path_is_one_message(tmp_path: Path, shape: str) -> None:
    if shape == "folder is a file":
        (tmp_path / ".musl-wheels").write_text("not a folder")
    else:
        (tmp_path / ".musl-wheels" / "plan.json").mkdir(parents=True)
    err = io.StringIO()
    ws = cli.Workspace(root=tmp_path, config_path=tmp_path / "modules.toml", ui=Ui(err=err))
    options = make_run_options({}, Flags(tags=["alpha"]))
    code = cli.guarded(ws.ui, lambda: cli.cmd_post_checkout(ws, options))
    assert code == 2
    assert "cannot use the saved plan" in err.getvalue()
    assert "Traceback" not in err.getvalue()
    # the later phases read it: the same message, not a traceback
    with pytest.raises(UsageError, match="cannot use the saved plan"):
        load_plan(ws.plan_path, {})


NOBODY = 65534


@contextlib.contextmanager
def unprivileged() -> Iterator[None]:
    """Root writes into any folder: as root (CI), run the block with the effective user and group
    nobody (file permissions are checked against them), and root again after it."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def test_an_unwritable_folder_is_one_message() -> None:
    # not in tmp_path: pytest's folders are root's own (0700) when root runs the tests, and nobody
    # must reach the plan's folder to meet its permissions
    top = Path(tempfile.mkdtemp(prefix="mw-unwritable-"))
    folder = top / ".musl-wheels"
    try:
        top.chmod(0o755)
        path = _old_plan(top)
        assert path.parent == folder
        folder.chmod(0o555)
        with unprivileged():
            with pytest.raises(UsageError, match="cannot use the saved plan"):
                discard_plan(path)
            with pytest.raises(UsageError, match="cannot use the saved plan"):
                save_plan(path.parent / "other.json", {}, [], [])
        assert path.exists()
    finally:
        if folder.exists():
            folder.chmod(0o755)
        shutil.rmtree(top, ignore_errors=True)
