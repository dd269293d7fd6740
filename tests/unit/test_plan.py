"""The planner with plain fakes for the index and the registry (our own seams)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from muslwheels.arches import lookup_arch
from muslwheels.config import parse_config
from muslwheels.errors import ResolutionError, TagError, UsageError
from muslwheels.model import Config, Flavour, Project
from muslwheels.plan import Plan, PlanOptions, make_plan
from muslwheels.tags import parse_tags

ALL = ("linux/amd64", "linux/arm64", "linux/arm/v7", "linux/386", "unknown/unknown")


class FakeIndex:
    def __init__(self, projects: Mapping[str, tuple[str, ...]]) -> None:
        self.data = {k.lower(): Project(k, v) for k, v in projects.items()}
        self.asked: list[str] = []

    def project(self, name: str) -> Project | None:
        self.asked.append(name)
        return self.data.get(name.lower().replace("_", "-"))


class FakeImages:
    def __init__(self, tags: tuple[str, ...], platforms: tuple[str, ...] = ALL) -> None:
        self._tags = tags
        self._platforms = platforms
        self.calls = 0
        self.down = False

    def tags(self, repository: str) -> tuple[str, ...]:
        self.calls += 1
        if self.down:
            raise ResolutionError(f"registry of {repository} is unreachable")
        return self._tags

    def platforms(self, image: str) -> tuple[str, ...] | None:
        self.calls += 1
        if self.down:
            raise ResolutionError(f"registry of {image} is unreachable")
        tag = image.rpartition(":")[2]
        return self._platforms if tag in self._tags else None


CONFIG = {
    "defaults": {
        "pythons": ["3.12", "3.13"],
        "arches": ["amd64", "arm64v8", "armv7"],
        "alpine": "3.20",
        "base_image": "python:{python}-alpine{alpine}",
        "repository": "me/musl",
        "no_shared_repository": "me/alpine",
    },
    "modules": {
        "cffi": {"apk": ["libffi-dev"]},
        "cryptography": {
            "apk": ["{ssl}-dev"],
            "depends": ["cffi"],
            "ssl_variants": ["openssl", "libressl"],
            "exclude_arches": ["armv7"],
        },
        "paramiko": {"depends": ["cryptography", "PyNaCl"]},
        "PyNaCl": {"depends": ["cffi"], "pythons": "<3.13"},
    },
}
TAGS = (
    "3.11-alpine3.19",
    "3.12-alpine3.19",
    "3.12-alpine3.20",
    "3.12-alpine3.21",
    "3.13-alpine3.21",
)
PROJECTS = {
    "cffi": ("1.16.0", "1.17.1"),
    "cryptography": ("42.0.5", "43.0.0", "44.0.0rc1"),
    "paramiko": ("3.4.0", "3.5.0"),
    "PyNaCl": ("1.5.0",),
    "msgpack": ("1.0.8", "1.1.0"),
}


def _config() -> Config:
    return parse_config(CONFIG, "modules.toml")


def _plan(*tags: str, images: FakeImages | None = None, **options: Any) -> Plan:
    config = _config()
    index = FakeIndex(PROJECTS)
    images = images or FakeImages(TAGS)
    requests = parse_tags(tags, modules=config, index=index)
    return make_plan(
        requests,
        config=config,
        projects=index,
        images=images,
        options=PlanOptions(**options),
    )


def test_fully_given_tag() -> None:
    plan = _plan("msgpack1.0.8-py3.12-aarch64")
    (t,) = plan.targets
    assert (t.module, t.version, t.python, t.arch.key, t.ssl) == (
        "msgpack",
        "1.0.8",
        "3.12",
        "arm64v8",
        None,
    )
    assert t.base_image == "python:3.12-alpine3.20"  # lowest Alpine at or above the minimum
    assert t.image == "me/musl:msgpack1.0.8-py3.12-arm64v8"
    assert plan.requested == (t.id,)


def test_missing_parts_are_resolved() -> None:
    plan = _plan("msgpack")
    # newest release, newest Python the base image has, every published arch in [defaults] arches
    assert {(t.version, t.python) for t in plan.targets} == {("1.1.0", "3.13")}
    assert [t.arch.key for t in plan.targets] == ["amd64", "arm64v8", "armv7"]
    assert {t.base_image for t in plan.targets} == {"python:3.13-alpine3.21"}


def test_pyall_uses_default_pythons_limited_by_module() -> None:
    plan = _plan("PyNaCl-pyall-amd64")
    requested = [t for t in plan.targets if t.id in plan.requested]
    assert [t.python for t in requested] == ["3.12"]  # pythons = "<3.13"


def test_dependencies_come_first_and_are_linked() -> None:
    plan = _plan("paramiko-py3.12-amd64")
    order = [t.module for t in plan.targets]
    assert order.index("cffi") < order.index("cryptography") < order.index("paramiko")
    assert order.index("PyNaCl") < order.index("paramiko")
    assert order.count("cffi") == 1  # shared dependency planned once
    by_module = {t.module: t for t in plan.targets}
    assert set(by_module["paramiko"].depends) == {
        by_module["cryptography"].id,
        by_module["PyNaCl"].id,
    }
    assert by_module["cryptography"].ssl == "openssl"
    assert by_module["cryptography"].recipe.apk == ("openssl-dev",)
    assert plan.requested == (by_module["paramiko"].id,)


def test_ssl_variant_reaches_recipe_and_tag() -> None:
    plan = _plan("cryptography-libressl42.0.5-py3.12-amd64")
    t = plan.targets[-1]
    assert t.ssl == "libressl"
    assert t.recipe.apk == ("libressl-dev",)
    assert t.tag == "cryptography-libressl42.0.5-py3.12-amd64"


def test_excluded_arch_is_refused_and_left_out() -> None:
    with pytest.raises(UsageError, match="excluded"):
        _plan("cryptography-py3.12-armv7")
    arches = {
        t.arch.key for t in _plan("cryptography-py3.12").targets if t.module == "cryptography"
    }
    assert arches == {"amd64", "arm64v8"}


def test_no_shared_goes_to_its_repository() -> None:
    plan = _plan("msgpack-py3.12-amd64", flavour=Flavour.NO_SHARED)
    assert plan.targets[0].repository == "me/alpine"
    assert plan.targets[0].flavour is Flavour.NO_SHARED
    plan = _plan("msgpack-py3.12-amd64", repository="other/repo")
    assert plan.targets[0].image.startswith("other/repo:")


def test_base_image_override() -> None:
    images = FakeImages(("3.11-bookworm",), ("linux/amd64", "linux/arm64"))
    plan = _plan(
        "msgpack", images=images, base_image="127.0.0.1:5000/standin/python:{python}-bookworm"
    )
    assert {t.base_image for t in plan.targets} == {"127.0.0.1:5000/standin/python:3.11-bookworm"}
    assert [t.arch.key for t in plan.targets] == ["amd64", "arm64v8"]


def test_unpublished_python_and_platform_are_errors() -> None:
    with pytest.raises(ResolutionError, match=r"Python 3\.9"):
        _plan("msgpack-py3.9-amd64")
    images = FakeImages(TAGS, ("linux/amd64",))
    with pytest.raises(ResolutionError, match="not published for arm64v8"):
        _plan("msgpack-py3.12-aarch64", images=images)


def test_unreachable_registry_is_tolerated_only_when_the_tag_says_everything() -> None:
    images = FakeImages(TAGS)
    images.down = True
    plan = _plan("msgpack-py3.12-aarch64", images=images)
    assert plan.targets[0].base_image == "python:3.12-alpine3.20"
    assert any("not verified" in n for n in plan.notes)
    with pytest.raises(ResolutionError, match="unreachable"):
        _plan("msgpack-aarch64", images=images)


def test_registry_and_index_are_asked_once_per_fact() -> None:
    config = _config()
    index = FakeIndex(PROJECTS)
    images = FakeImages(TAGS)
    requests = parse_tags(["paramiko-pyall", "cryptography"], modules=config, index=index)
    index.asked.clear()
    make_plan(requests, config=config, projects=index, images=images, options=PlanOptions())
    assert len(index.asked) == len(set(index.asked))
    # one tag list + one platform list per distinct base image (3.12 and 3.13)
    assert images.calls == 3


def test_unknown_version_is_a_tag_error() -> None:
    with pytest.raises(TagError):
        _plan("msgpack9.9.9-py3.12-amd64")


def test_targets_are_in_arch_table_order_per_request() -> None:
    plan = _plan("msgpack-py3.12")
    assert [t.arch for t in plan.targets] == [lookup_arch(a) for a in ("amd64", "arm64v8", "armv7")]
