"""Runtime closure resolution (wheeltest/closure.py) at its seam: a WheelFinder of plain objects."""

from __future__ import annotations

from dataclasses import dataclass, field

from fakeimages import make_target
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from muslwheels.wheeltest.closure import Candidate, marker_environment, resolve_closure


@dataclass
class Finder:
    """Our builds by module name; the index as name -> candidates (any version)."""

    own_builds: dict[str, Candidate] = field(default_factory=dict)
    on_index: dict[str, list[Candidate]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)
    # extra dependency targets built earlier, and the index's sdists: name -> versions
    extra_builds: dict[str, Candidate] = field(default_factory=dict)
    sdists: dict[str, list[str]] = field(default_factory=dict)

    def own(self, name: str) -> Candidate | None:
        return self.own_builds.get(canonicalize_name(name))

    def built(self, name: str) -> Candidate | None:
        return self.extra_builds.get(canonicalize_name(name))

    def sdist(self, requirement: Requirement) -> tuple[str, str] | None:
        versions = self.sdists.get(canonicalize_name(requirement.name), [])
        fitting = list(requirement.specifier.filter(versions))
        return (requirement.name, max(fitting, key=Version)) if fitting else None

    def index(self, requirement: Requirement) -> Candidate | None:
        self.asked.append(str(requirement))
        fitting = [
            c
            for c in self.on_index.get(canonicalize_name(requirement.name), [])
            if requirement.specifier.contains(c.version, prereleases=True)
        ]
        return max(fitting, key=lambda c: Version(c.version), default=None)


def wheel(name: str, version: str, *requires: str) -> Candidate:
    return Candidate(name, version, f"{name}-{version}-py3-none-any.whl", tuple(requires))


ENV = marker_environment(make_target("cffi", "arm64v8"))


def names(closure: object) -> list[str]:
    entries = getattr(closure, "entries", ())
    return [f"{e.candidate.name}=={e.candidate.version}:{e.origin}" for e in entries]


def test_environment_is_the_target_s() -> None:
    env = marker_environment(make_target("x", "armv7"))
    assert env["platform_machine"] == "armv7l"
    assert env["python_version"] == "3.11"
    assert env["sys_platform"] == "linux"
    reported = marker_environment(make_target("x"), {"python_full_version": "3.11.9"})
    assert reported["python_full_version"] == "3.11.9"


def test_plain_requirement_from_the_index_recursively() -> None:
    finder = Finder(
        on_index={
            "pycparser": [wheel("pycparser", "2.21"), wheel("pycparser", "2.22", "ply>=3")],
            "ply": [wheel("ply", "3.11")],
        }
    )
    closure = resolve_closure(
        wheel("cffi", "1.17.1", "pycparser"), environment=ENV, modules=(), finder=finder
    )
    assert names(closure) == ["pycparser==2.22:index", "ply==3.11:index"]
    assert closure.complete
    assert closure.entries[1].chain == ("cffi", "pycparser", "ply")


def test_markers_are_evaluated_for_the_target() -> None:
    finder = Finder(on_index={n: [wheel(n, "1.0")] for n in ("a", "b", "c", "d")})
    root = wheel(
        "root",
        "1.0",
        'a; platform_machine == "aarch64"',  # arm64 target: yes
        'b; platform_machine == "x86_64"',  # no
        'c; python_version < "3.8"',  # no
        'd; sys_platform == "win32"',  # no
    )
    closure = resolve_closure(root, environment=ENV, modules=(), finder=finder)
    assert names(closure) == ["a==1.0:index"]
    assert len(closure.skipped) == 3
    assert finder.asked == ["a"]


def test_extras_only_when_asked_for() -> None:
    finder = Finder(
        on_index={
            "lib": [wheel("lib", "2.0", "base", 'fast; extra == "speed"', 'doc; extra == "docs"')],
            "base": [wheel("base", "1.0")],
            "fast": [wheel("fast", "1.0")],
            "doc": [wheel("doc", "1.0")],
        }
    )
    plain = resolve_closure(wheel("root", "1", "lib"), environment=ENV, modules=(), finder=finder)
    assert names(plain) == ["lib==2.0:index", "base==1.0:index"]
    with_extra = resolve_closure(
        wheel("root", "1", "lib[speed]"), environment=ENV, modules=(), finder=finder
    )
    assert names(with_extra) == ["lib==2.0:index", "base==1.0:index", "fast==1.0:index"]
    # the root's own extras are not installed: its extra-only requirements stay out
    root_extra = resolve_closure(
        wheel("root", "1", 'doc; extra == "docs"'), environment=ENV, modules=(), finder=finder
    )
    assert names(root_extra) == []


def test_an_extra_asked_for_later_adds_its_requirements() -> None:
    finder = Finder(
        on_index={
            "lib": [wheel("lib", "2.0", 'fast; extra == "speed"')],
            "other": [wheel("other", "1.0", "lib[speed]")],
            "fast": [wheel("fast", "1.0")],
        }
    )
    closure = resolve_closure(
        wheel("root", "1", "lib", "other"), environment=ENV, modules=(), finder=finder
    )
    assert names(closure) == ["lib==2.0:index", "other==1.0:index", "fast==1.0:index"]
    assert closure.entries[2].chain == ("root", "lib", "fast")


def test_cycles_end() -> None:
    finder = Finder(
        on_index={
            "a": [wheel("a", "1.0", "b")],
            "b": [wheel("b", "1.0", "a", "root>=1")],
        }
    )
    closure = resolve_closure(wheel("root", "1.0", "a"), environment=ENV, modules=(), finder=finder)
    assert names(closure) == ["a==1.0:index", "b==1.0:index"]
    assert closure.complete
    assert finder.asked == ["a", "b"]


def test_a_cycle_back_to_the_root_that_the_root_does_not_satisfy_is_missing() -> None:
    finder = Finder(on_index={"a": [wheel("a", "1.0", "root>=2")]})
    closure = resolve_closure(wheel("root", "1.0", "a"), environment=ENV, modules=(), finder=finder)
    assert [m.describe() for m in closure.missing] == [
        "root -> a needs root>=2: root 1.0 is the version chosen"
    ]


def test_modules_toml_wins_over_the_index() -> None:
    ours = Candidate(
        "cffi", "1.17.1", "cffi-1.17.1-cp311-cp311-musllinux_1_2_aarch64.whl", ("pycparser",)
    )
    finder = Finder(
        own_builds={"cffi": ours},
        on_index={"cffi": [wheel("cffi", "1.17.1")], "pycparser": [wheel("pycparser", "2.22")]},
    )
    closure = resolve_closure(
        wheel("cryptography", "43.0", "cffi>=1.12"),
        environment=ENV,
        modules=("CFFI", "maturin"),
        finder=finder,
    )
    assert names(closure) == ["cffi==1.17.1:module", "pycparser==2.22:index"]
    assert closure.entries[0].candidate is ours
    assert finder.asked == ["pycparser"]  # never asked the index for cffi


def test_a_module_not_built_is_missing_not_taken_from_the_index() -> None:
    finder = Finder(on_index={"cffi": [wheel("cffi", "1.17.1")]})
    closure = resolve_closure(
        wheel("cryptography", "43.0", "cffi"), environment=ENV, modules=("cffi",), finder=finder
    )
    assert names(closure) == []
    assert "modules.toml builds it" in closure.missing[0].describe()


def test_our_build_must_satisfy_the_specifier() -> None:
    finder = Finder(own_builds={"cffi": wheel("cffi", "1.15.0")})
    closure = resolve_closure(
        wheel("x", "1", "cffi>=1.17"), environment=ENV, modules=("cffi",), finder=finder
    )
    assert closure.missing[0].reason == "modules.toml builds cffi 1.15.0"


def test_missing_requirements_name_the_chain() -> None:
    finder = Finder(on_index={"a": [wheel("a", "1.0", "nowheel>=2")]})
    closure = resolve_closure(wheel("root", "1.0", "a"), environment=ENV, modules=(), finder=finder)
    assert not closure.complete
    assert [m.describe() for m in closure.missing] == [
        "root -> a needs nowheel>=2: the index has no wheel of it that fits the target"
    ]


def test_conflicting_specifiers_for_one_project() -> None:
    finder = Finder(
        on_index={
            "a": [wheel("a", "1.0", "shared<2")],
            "shared": [wheel("shared", "1.5"), wheel("shared", "2.5")],
        }
    )
    closure = resolve_closure(
        wheel("root", "1.0", "shared>=2", "a"), environment=ENV, modules=(), finder=finder
    )
    assert names(closure) == ["shared==2.5:index", "a==1.0:index"]
    assert closure.missing[0].describe() == (
        "root -> a needs shared<2: shared 2.5 is the version chosen"
    )


def test_invalid_and_url_requirements_are_missing() -> None:
    finder = Finder()
    closure = resolve_closure(
        wheel("root", "1.0", "not a requirement!", "x @ https://example.invalid/x.whl"),
        environment=ENV,
        modules=(),
        finder=finder,
    )
    reasons = [m.reason for m in closure.missing]
    assert reasons[0].startswith("not a valid requirement")
    assert reasons[1] == "a direct URL reference cannot be taken from an index"
    assert finder.asked == []


# --- extra dependency targets: no fitting wheel, but an sdist on the index ---------------------------


def test_a_requirement_with_only_an_sdist_is_to_be_built() -> None:
    finder = Finder(
        on_index={"a": [wheel("a", "1.0", "srconly>=1.1", "nothing")]},
        sdists={"srconly": ["1.0", "1.2", "2.0"]},
    )
    closure = resolve_closure(wheel("root", "1.0", "a"), environment=ENV, modules=(), finder=finder)
    assert names(closure) == ["a==1.0:index"]
    srconly, nothing = closure.missing
    assert srconly.build == ("srconly", "2.0")
    assert srconly.chain == ("root", "a")
    assert (
        srconly.describe()
        == "root -> a needs srconly>=1.1: the index has only the sdist of srconly 2.0"
    )
    assert nothing.build is None  # neither wheel nor sdist: the target fails, naming the chain
    assert not closure.buildable and not closure.complete
    assert "root -> a needs nothing: the index has no wheel" in nothing.describe()


def test_only_sdists_missing_is_buildable() -> None:
    finder = Finder(sdists={"srconly": ["1.0"]})
    closure = resolve_closure(
        wheel("root", "1.0", "srconly"), environment=ENV, modules=(), finder=finder
    )
    assert closure.buildable
    assert [m.build for m in closure.missing] == [("srconly", "1.0")]


def test_an_extra_target_built_before_joins_the_closure_with_its_requirements() -> None:
    finder = Finder(
        on_index={"pure": [wheel("pure", "3.0")]},
        extra_builds={"srconly": wheel("srconly", "2.0", "pure")},
        sdists={"srconly": ["2.0"]},
    )
    closure = resolve_closure(
        wheel("root", "1.0", "srconly>=2"), environment=ENV, modules=(), finder=finder
    )
    assert closure.complete
    assert names(closure) == ["srconly==2.0:extra", "pure==3.0:index"]
    assert closure.entries[1].chain == ("root", "srconly", "pure")


def test_the_index_s_wheel_wins_over_an_extra_build_and_a_stale_build_is_not_taken() -> None:
    finder = Finder(
        on_index={"both": [wheel("both", "1.0")]},
        extra_builds={"both": wheel("both", "0.9"), "srconly": wheel("srconly", "1.0")},
        sdists={"srconly": ["1.0", "2.0"]},
    )
    closure = resolve_closure(
        wheel("root", "1.0", "both", "srconly>=2"), environment=ENV, modules=(), finder=finder
    )
    assert names(closure) == ["both==1.0:index"]
    assert [m.build for m in closure.missing] == [("srconly", "2.0")]


def test_a_modules_toml_module_is_never_an_extra_target() -> None:
    finder = Finder(sdists={"cffi": ["1.17.1"]})
    closure = resolve_closure(
        wheel("x", "1", "cffi"), environment=ENV, modules=("cffi",), finder=finder
    )
    assert closure.missing[0].build is None
    assert "modules.toml builds it" in closure.missing[0].reason
