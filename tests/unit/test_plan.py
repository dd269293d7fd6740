"""The planner with plain fakes for the index and the registry (our own seams)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from fakes import FakeIndex

from muslwheels.config.arches import lookup_arch
from muslwheels.config.model import Config, Flavour
from muslwheels.config.modules import parse_config
from muslwheels.errors import ResolutionError, TagError, UsageError
from muslwheels.plan.planner import Plan, PlanOptions, extra_target, make_plan
from muslwheels.plan.tags import parse_tags

ALL = ("linux/amd64", "linux/arm64", "linux/arm/v7", "linux/386", "unknown/unknown")


class FakeImages:
    def __init__(self, tags: tuple[str, ...], platforms: tuple[str, ...] = ALL) -> None:
        self._tags = tags
        self._platforms = platforms
        self.calls = 0
        self.down = False
        self.digests_down = False  # only the digests cannot be had (offline, no cached answer)

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

    def digests(self, image: str) -> tuple[tuple[str, str], ...] | None:
        self.calls += 1
        if self.down or self.digests_down:
            raise ResolutionError(f"registry of {image} is unreachable")
        tag = image.rpartition(":")[2]
        if tag not in self._tags:
            return None
        return tuple(
            (p, digest_of(image, p)) for p in self._platforms if not p.startswith("unknown")
        )


def digest_of(image: str, platform: str) -> str:
    return "sha256:" + hashlib.sha256(f"{image} {platform}".encode()).hexdigest()


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


def _plan(
    *tags: str, images: FakeImages | None = None, index: FakeIndex | None = None, **options: Any
) -> Plan:
    config = _config()
    index = index or FakeIndex(PROJECTS)
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
    with pytest.raises(TagError, match=r"Python 3\.9") as info:  # README: unknown Python, 2
        _plan("msgpack-py3.9-amd64")
    assert info.value.exit_code == 2
    for unknown in ("3.1000", "2.7"):
        with pytest.raises(TagError, match=f"Python {unknown}"):
            _plan(f"msgpack-py{unknown}-amd64")
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
    index.calls.clear()
    make_plan(requests, config=config, projects=index, images=images, options=PlanOptions())
    assert len(index.calls) == len(set(index.calls))
    # one tag list + one platform list and one digest list per distinct base image (3.12, 3.13)
    assert images.calls == 5


def test_each_target_carries_its_base_images_digests() -> None:
    plan = _plan("msgpack-py3.12")
    image = "python:3.12-alpine3.20"
    for target in plan.targets:
        assert target.base_image == image
        assert dict(target.base_digests) == {
            p: digest_of(image, p) for p in ALL if not p.startswith("unknown")
        }
        assert target.pinned_base_image == f"python@{digest_of(image, target.platform)}"
        # the build machine's platform (cross mode's tools): the same image's amd64 manifest
        assert target.base_image_on("linux/amd64") == f"python@{digest_of(image, 'linux/amd64')}"
    assert not [n for n in plan.notes if "digest" in n]


def test_without_digests_the_tag_is_used_and_said_once() -> None:
    images = FakeImages(TAGS)
    images.digests_down = True
    plan = _plan("msgpack-py3.12", images=images)
    assert [t.pinned_base_image for t in plan.targets] == ["python:3.12-alpine3.20"] * 3
    assert all(t.base_digests == () for t in plan.targets)
    (note,) = [n for n in plan.notes if "digest" in n]
    assert note.startswith("python:3.12-alpine3.20 used by its tag, not by digest: ")
    images = FakeImages(TAGS)
    images.down = True
    plan = _plan("msgpack-py3.12-aarch64", images=images)
    assert plan.targets[0].pinned_base_image == "python:3.12-alpine3.20"
    assert any("used by its tag, not by digest" in n for n in plan.notes)


def test_extra_targets_keep_the_digests() -> None:
    plan = _plan("msgpack-py3.12-aarch64")
    (target,) = plan.targets
    extra = extra_target(target, "six", "1.0")
    assert extra.pinned_base_image == target.pinned_base_image


def test_unknown_version_is_a_tag_error() -> None:
    with pytest.raises(TagError):
        _plan("msgpack9.9.9-py3.12-amd64")


def test_targets_are_in_arch_table_order_per_request() -> None:
    plan = _plan("msgpack-py3.12")
    assert [t.arch for t in plan.targets] == [lookup_arch(a) for a in ("amd64", "arm64v8", "armv7")]


# --- Requires-Python ---------------------------------------------------------------------------


def with_39() -> FakeImages:
    return FakeImages((*TAGS, "3.9-alpine3.20"))


REQUIRES_PYTHON = {
    "paramiko": {"3.4.0": ">=3.6", "3.5.0": ">=3.10"},
    "cryptography": {"42.0.5": ">=3.7", "43.0.0": ">=3.10"},
    "cffi": {"1.16.0": ">=3.8", "1.17.1": ">=3.8"},
    "PyNaCl": {"1.5.0": ">=3.6"},
    "msgpack": {"1.0.8": ">=3.10", "1.1.0": ">=3.10,<4"},
}


def _versions(plan: Plan) -> dict[str, str]:
    return {t.module: t.version for t in plan.targets}


def test_newest_release_that_admits_the_python_is_planned() -> None:
    index = FakeIndex(PROJECTS, REQUIRES_PYTHON)
    plan = _plan("paramiko-py3.9-aarch64", images=with_39(), index=index)
    # dependencies too: each gets the newest release that supports Python 3.9
    assert _versions(plan) == {
        "cffi": "1.17.1",
        "cryptography": "42.0.5",
        "PyNaCl": "1.5.0",
        "paramiko": "3.4.0",
    }
    assert {t.python for t in plan.targets} == {"3.9"}
    assert "paramiko 3.4.0 for Python 3.9: the newest release, 3.5.0, requires Python >=3.10" in (
        plan.notes
    )
    # the same index for a newer Python: the newest releases
    newer = _plan("paramiko-py3.12-aarch64", images=with_39(), index=index)
    assert _versions(newer) == {
        "cffi": "1.17.1",
        "cryptography": "43.0.0",
        "PyNaCl": "1.5.0",
        "paramiko": "3.5.0",
    }
    assert not any("requires Python" in n for n in newer.notes)


def test_named_version_whose_requires_python_excludes_the_python() -> None:
    index = FakeIndex(PROJECTS, REQUIRES_PYTHON)
    with pytest.raises(TagError) as info:
        _plan("paramiko3.5.0-py3.9-aarch64", images=with_39(), index=index)
    assert str(info.value) == (
        "paramiko3.5.0-py3.9-aarch64: paramiko 3.5.0 requires Python >=3.10, not 3.9"
    )
    assert "paramiko 3.4.0 is the newest release that supports Python 3.9" in (
        info.value.hint or ""
    )
    # a named version that admits the Python is planned as named
    plan = _plan("paramiko3.4.0-py3.9-aarch64", images=with_39(), index=index)
    assert _versions(plan)["paramiko"] == "3.4.0"


def test_no_release_supports_the_python() -> None:
    index = FakeIndex(PROJECTS, REQUIRES_PYTHON)
    with pytest.raises(TagError) as info:
        _plan("msgpack-py3.9-amd64", images=with_39(), index=index)
    assert str(info.value) == (
        "msgpack-py3.9-amd64: no release of msgpack supports Python 3.9; "
        "the newest, 1.1.0, requires Python >=3.10,<4"
    )
    assert "newer Python" in (info.value.hint or "")
    with pytest.raises(TagError) as named:
        _plan("msgpack1.0.8-py3.9-amd64", images=with_39(), index=index)
    assert str(named.value) == (
        "msgpack1.0.8-py3.9-amd64: msgpack 1.0.8 requires Python >=3.10, not 3.9"
    )
    assert "no release of msgpack supports Python 3.9" in (named.value.hint or "")


def test_dependency_without_a_release_for_the_python_names_it() -> None:
    index = FakeIndex(
        PROJECTS, {**REQUIRES_PYTHON, "cffi": {"1.16.0": ">=3.10", "1.17.1": ">=3.10"}}
    )
    with pytest.raises(
        TagError, match=r"^PyNaCl-py3\.9-amd64: no release of cffi supports Python 3\.9"
    ):
        _plan("PyNaCl-py3.9-amd64", images=with_39(), index=index)


def test_invalid_requires_python_on_the_index_is_ignored() -> None:
    index = FakeIndex(PROJECTS, {"msgpack": {"1.1.0": "python3 please"}})
    plan = _plan("msgpack-py3.9-amd64", images=with_39(), index=index)
    assert _versions(plan) == {"msgpack": "1.1.0"}
