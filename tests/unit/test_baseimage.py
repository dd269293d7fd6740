from __future__ import annotations

import pytest
from packaging.specifiers import SpecifierSet

from muslwheels.config.arches import Arch, lookup_arch
from muslwheels.errors import ConfigError, ResolutionError, TagError, UsageError
from muslwheels.plan.baseimage import (
    arches_for,
    newest_python,
    parse_pythons_specifier,
    python_versions_for,
    render_base_image,
    split_image_ref,
)

ALPINE_TAGS = [
    "3.12-alpine3.19",
    "3.12-alpine3.20",
    "3.12-alpine3.21",
    "3.12.1-alpine3.20",  # patch release: not X.Y
    "3.12-alpine",  # no Alpine release
    "3.13-alpine3.21",
    "3.13-alpine3.20",
    "3.9-alpine3.20",
    "3.10-alpine3.22",
    "3.11-alpine3.18",  # only below the minimum
    "3.14-rc-alpine3.21",
    "alpine",
    "latest",
    "3.12-bookworm",
]


def test_python_versions_for_picks_lowest_alpine_at_or_above_minimum() -> None:
    found = python_versions_for("python:{python}-alpine{alpine}", ALPINE_TAGS, min_alpine="3.20")
    assert found == {"3.9": "3.20", "3.10": "3.22", "3.12": "3.20", "3.13": "3.20"}
    assert list(found) == ["3.9", "3.10", "3.12", "3.13"]  # numeric order, not text order


def test_python_versions_for_compares_alpine_numerically() -> None:
    tags = ["3.12-alpine3.9", "3.12-alpine3.10", "3.12-alpine3.100"]
    assert python_versions_for("python:{python}-alpine{alpine}", tags, min_alpine="3.10") == {
        "3.12": "3.10"
    }


def test_python_versions_for_template_without_alpine() -> None:
    tags = ["3.11-bookworm", "3.12-bookworm", "3.11-bullseye", "3.11.2-bookworm", "bookworm"]
    template = "127.0.0.1:5000/standin/python:{python}-bookworm"
    assert python_versions_for(template, tags, min_alpine="3.20") == {"3.11": None, "3.12": None}


def test_python_versions_for_template_is_matched_literally() -> None:
    # a dot in the template is a dot, not "any character"
    tags = ["3.12-alpine3.20", "3.12Xalpine3.20"]
    assert python_versions_for("x:{python}.alpine{alpine}", tags, min_alpine="3.20") == {}


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("python:{py}-alpine", "unknown placeholder {py}"),
        ("python:3.12-alpine{alpine}", "no {python}"),
        ("reg/{python}/python:3.12", "outside its tag"),
        ("python:{python}-alpine{alpine}{", "not an image reference"),
        ("$(id):{python}", "not an image reference"),
        ("Python:{python}", "not an image reference"),
    ],
)
def test_bad_templates(template: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        python_versions_for(template, [], min_alpine="3.20")


def test_bad_min_alpine() -> None:
    with pytest.raises(ConfigError, match=r"not X\.Y"):
        python_versions_for("python:{python}-alpine{alpine}", [], min_alpine="edge")


def test_newest_python_newest_allowed() -> None:
    assert newest_python(["3.9", "3.13", "3.10"], allowed=None, requested=None) == "3.13"
    assert newest_python(
        ["3.9", "3.13", "3.10"], allowed=SpecifierSet("<3.11"), requested=None
    ) == ("3.10")


def test_newest_python_requested() -> None:
    assert (
        newest_python(["3.12", "3.13"], allowed=SpecifierSet(">=3.8"), requested="3.12") == "3.12"
    )


def test_newest_python_requested_missing_lists_available() -> None:
    # an unknown Python is a usage error (README: exit 2), whatever the registry holds
    with pytest.raises(TagError) as info:
        newest_python(
            {"3.12": "3.20", "3.13": "3.20"},
            allowed=None,
            requested="3.7",
            template="python:{python}-alpine{alpine}",
            min_alpine="3.20",
        )
    assert str(info.value) == (
        "no python:*-alpine* tag for Python 3.7 at or above Alpine 3.20; available: 3.12, 3.13"
    )
    assert info.value.hint


def test_newest_python_requested_outside_module_range() -> None:
    with pytest.raises(UsageError, match=r"outside the module's pythons = '>=3.13'"):
        newest_python(["3.12", "3.13"], allowed=SpecifierSet(">=3.13"), requested="3.12")


def test_newest_python_nothing_allowed() -> None:
    with pytest.raises(ResolutionError, match=r"allowed by '<3.8'.*available: 3.12, 3.13"):
        newest_python(["3.12", "3.13"], allowed=SpecifierSet("<3.8"), requested=None)
    with pytest.raises(ResolutionError, match="available: none"):
        newest_python([], allowed=None, requested=None)


def test_parse_pythons_specifier() -> None:
    assert parse_pythons_specifier(None) is None
    assert parse_pythons_specifier(">=3.8") == SpecifierSet(">=3.8")
    with pytest.raises(ConfigError, match="not a version specifier"):
        parse_pythons_specifier("3.8+")


MULTI = (
    "linux/amd64",
    "linux/arm/v6",
    "linux/arm/v7",
    "linux/arm64/v8",
    "linux/386",
    "linux/ppc64le",
    "linux/s390x",
    "unknown/unknown",
    "windows/amd64",
)


def keys(arches: tuple[Arch, ...]) -> list[str]:
    return [a.key for a in arches]


def test_arches_for_everything_published_minus_excluded() -> None:
    found = arches_for(MULTI, wanted=(), excluded=("s390x", "armhf"))
    assert keys(found) == ["amd64", "arm64v8", "armv7", "i386", "ppc64le"]


def test_arches_for_wanted_in_any_spelling_in_table_order() -> None:
    found = arches_for(MULTI, wanted=("aarch64", "x86_64", "arm64"), excluded=())
    assert found == (lookup_arch("amd64"), lookup_arch("arm64v8"))


def test_arches_for_unpublished() -> None:
    with pytest.raises(ResolutionError) as info:
        arches_for(("linux/amd64", "linux/arm64"), wanted=("riscv64",), excluded=(), image="x:1")
    assert str(info.value) == (
        "x:1 is not published for riscv64 (linux/riscv64); published: amd64, arm64v8"
    )


def test_arches_for_excluded_requested() -> None:
    with pytest.raises(UsageError, match="s390x is excluded"):
        arches_for(MULTI, wanted=("s390x",), excluded=("s390x",))


def test_arches_for_unknown_name() -> None:
    with pytest.raises(UsageError, match="unknown architecture 'sparc'"):
        arches_for(MULTI, wanted=("sparc",), excluded=())


def test_arches_for_nothing_left() -> None:
    with pytest.raises(ResolutionError, match="no architecture left"):
        arches_for(("linux/amd64", "unknown/unknown"), wanted=(), excluded=("amd64",))


def test_render_base_image() -> None:
    assert render_base_image("python:{python}-alpine{alpine}", "3.12", "3.20") == (
        "python:3.12-alpine3.20"
    )
    assert render_base_image("127.0.0.1:5000/standin/python:{python}-bookworm", "3.11", None) == (
        "127.0.0.1:5000/standin/python:3.11-bookworm"
    )
    with pytest.raises(ResolutionError, match="needs an Alpine release"):
        render_base_image("python:{python}-alpine{alpine}", "3.12", None)


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("python:3.12-alpine3.20", ("python", "3.12-alpine3.20")),
        ("python", ("python", "latest")),
        ("127.0.0.1:5000/standin/python:3.11", ("127.0.0.1:5000/standin/python", "3.11")),
        ("127.0.0.1:5000/standin/python", ("127.0.0.1:5000/standin/python", "latest")),
        ("python@sha256:" + "a" * 64, ("python", "sha256:" + "a" * 64)),
        ("python:3.12@sha256:" + "a" * 64, ("python", "sha256:" + "a" * 64)),
        ("localhost:5000/x@sha256:" + "b" * 64, ("localhost:5000/x", "sha256:" + "b" * 64)),
    ],
)
def test_split_image_ref(ref: str, expected: tuple[str, str]) -> None:
    assert split_image_ref(ref) == expected
