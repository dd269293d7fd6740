"""Target tags: syntax, readings, settling with a fake index (our own ProjectLookup seam)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from fakes import FakeIndex
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.version import Version

from muslwheels.config.arches import ARCHES, Arch, lookup_arch
from muslwheels.config.model import Config, Defaults, ModuleConfig, Project, normalize_name
from muslwheels.errors import ExitCode, ResolutionError, TagError
from muslwheels.plan.tags import (
    MAX_TAG_LENGTH,
    TagErrors,
    TagRequest,
    candidates,
    index_names,
    parse_tag,
    parse_tags,
    render_tag,
    validate_tag_syntax,
)

# --- fakes ------------------------------------------------------------------------------------


class UnreachableIndex:
    def project(self, name: str) -> Project | None:
        raise ResolutionError("index unreachable", hint="check PIP_INDEX_URL")


def make_config(*modules: ModuleConfig) -> Config:
    return Config(path="modules.toml", defaults=Defaults(pythons=("3.12", "3.13")), modules=modules)


CONFIG = make_config(
    ModuleConfig("cryptography", ssl_variants=("openssl", "libressl")),
    ModuleConfig("psycopg2-binary"),
    ModuleConfig("PyNaCl"),
    ModuleConfig("paramiko"),
    ModuleConfig("pyOpenSSL"),
)


def make_index() -> FakeIndex:
    return FakeIndex(
        [
            Project("cryptography", ("41.0.0", "42.0.5")),
            Project("psycopg2", ("2.9.9", "2.9.10")),
            Project("psycopg", ("3.1.0",)),
            Project("psycopg2-binary", ("2.9.9",)),
            Project("PyNaCl", ("1.5.0",)),
            Project("pyOpenSSL", ("24.1.0",)),
            Project("paramiko", ("3.4.0", "3.3.1")),
            Project("base58", ("2.1.1",)),
            Project("base", ("1.0",)),
            Project("s3transfer", ("0.10.1",)),
            Project("Flask-PyMongo", ("2.3.0",)),
            Project("backports.zoneinfo", ("0.2.1",)),
            Project("requests", ("2.32.3",)),
            Project("foo", ("1.0",)),
            Project("foo-arm", ("2.0",)),
        ]
    )


def arch(name: str) -> Arch:
    found = lookup_arch(name)
    assert found is not None
    return found


def parse(text: str, index: FakeIndex | None = None) -> TagRequest:
    return parse_tag(text, modules=CONFIG, index=index or make_index())


def tag_error(text: str, index: FakeIndex | None = None, config: Config = CONFIG) -> TagError:
    with pytest.raises(TagError) as info:
        parse_tag(text, modules=config, index=index or make_index())
    return info.value


# --- TagRequest and render_tag ----------------------------------------------------------------


def test_render_tag_writes_every_part_in_grammar_order_with_the_arch_tag_suffix() -> None:
    request = TagRequest("x", "cryptography", "libressl", "42.0.5", "3.11", False, arch("i686"))
    assert render_tag(request) == "cryptography-libressl42.0.5-py3.11-386"
    assert request.tag == render_tag(request)
    assert render_tag(TagRequest("x", "PyNaCl")) == "PyNaCl"
    assert render_tag(TagRequest("x", "paramiko", all_pythons=True)) == "paramiko-pyall"


def test_requests_compare_without_the_raw_text() -> None:
    assert TagRequest("foo-arm", "foo", arch=arch("arm")) == TagRequest(
        "foo-armv7", "foo", arch=arch("armv7")
    )
    assert TagRequest("a", "foo") != TagRequest("a", "foo", version="1.0")


def test_request_rejects_python_together_with_all_pythons_and_unknown_ssl() -> None:
    with pytest.raises(ValueError, match="python or all_pythons"):
        TagRequest("x", "foo", python="3.12", all_pythons=True)
    with pytest.raises(ValueError, match="boringssl"):
        TagRequest("x", "foo", ssl="boringssl")


def test_describe_names_every_part() -> None:
    request = TagRequest("x", "cryptography", "openssl", "42.0.5", None, True, arch("aarch64"))
    assert request.describe() == (
        "module cryptography, SSL openssl, version 42.0.5, every default Python, arch arm64v8"
    )


# --- syntax -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        ("", "empty tag", "paramiko-py3.12-aarch64"),
        ("foo bar", "tag 'foo bar' contains ' ' (first at position 4)", "letters, digits"),
        ("foo;rm -rf /", "contains ';', ' ', '/' (first at position 4)", "'.', '_' and '-'"),
        ("foo:1.0", "contains ':'", "letters"),
        ("foo\n", "tag 'foo\\n' contains '\\n'", "letters"),
        ("fooé", "contains 'é'", "letters"),
        ("-foo", "tag '-foo' starts with '-'", "letter or digit"),
        (".foo", "starts with '.'", "letter or digit"),
        ("foo-", "tag 'foo-' ends with '-'", "letter or digit"),
        ("foo_", "ends with '_'", "letter or digit"),
        ("a" * 129, "is 129 characters long", f"at most {MAX_TAG_LENGTH}"),
    ],
)
def test_text_that_cannot_be_a_tag_is_rejected_before_the_index_is_asked(
    text: str, message: str, hint: str
) -> None:
    index = make_index()
    error = tag_error(text, index)
    assert message in error.message
    assert error.hint is not None
    assert hint in error.hint
    assert error.exit_code == ExitCode.USAGE
    assert index.calls == []
    with pytest.raises(TagError):
        candidates(text)


def test_long_tags_are_cut_in_messages_and_the_longest_tag_is_accepted() -> None:
    error = tag_error("a" * 200)
    assert "a" * 57 + "'..." in error.message
    assert "a" * 100 not in error.message
    validate_tag_syntax("a" * MAX_TAG_LENGTH)
    assert candidates("a" * MAX_TAG_LENGTH) == (TagRequest("", "a" * MAX_TAG_LENGTH),)


# --- candidates: every reading the grammar allows ---------------------------------------------


def readings(text: str) -> set[tuple[str, str | None, str | None, str | None, bool, str | None]]:
    return {
        (r.module, r.ssl, r.version, r.python, r.all_pythons, r.arch.key if r.arch else None)
        for r in candidates(text)
    }


def test_candidates_carry_the_raw_text() -> None:
    assert {r.raw for r in candidates("paramiko-py3.9-aarch64")} == {"paramiko-py3.9-aarch64"}


def test_a_name_ending_in_digits_splits_at_every_valid_pep440_version() -> None:
    assert readings("psycopg22.9.9") == {
        ("psycopg22.9.9", None, None, None, False, None),
        ("psycopg2", None, "2.9.9", None, False, None),
        ("psycopg", None, "22.9.9", None, False, None),
    }
    assert readings("base58") == {
        ("base58", None, None, None, False, None),
        ("base5", None, "8", None, False, None),
        ("base", None, "58", None, False, None),
    }


def test_a_version_starts_with_a_digit_and_may_use_pep440_separators() -> None:
    assert ("foo", None, "1.0rc1", None, False, None) in readings("foo1.0rc1")
    assert ("foo", None, "1.0-1", None, False, None) in readings("foo1.0-1")
    assert not any(version == "v1.0" for _, _, version, *_ in readings("foov1.0"))
    assert ("s3transfer", None, "0.10.1", None, False, None) in readings("s3transfer0.10.1")


def test_py_inside_a_name_is_not_a_python() -> None:
    assert readings("flask-pymongo") == {("flask-pymongo", None, None, None, False, None)}
    assert readings("flask-pymongo-py3.12") >= {
        ("flask-pymongo", None, None, "3.12", False, None),
        ("flask-pymongo-py3.12", None, None, None, False, None),
    }
    assert not any(all_py for *_, all_py, _ in readings("foo-pyallx"))
    assert not any(all_py for *_, all_py, _ in readings("foopyall"))
    assert ("foo", None, None, None, True, None) in readings("foo-pyall")


def test_only_major_dot_minor_is_a_python() -> None:
    for text in ("foo-py3", "foo-py3.9.1", "foo-py39", "foo-py3.09"):
        assert all(r.python is None for r in candidates(text)), text
    assert ("foo", None, None, "3.12", False, None) in readings("foo-py3.12")
    assert ("foo", None, None, "3.9", False, None) in readings("foo-py3.9")


def test_an_arch_word_at_the_end_is_an_arch_or_part_of_the_name() -> None:
    assert readings("foo-arm") == {
        ("foo", None, None, None, False, "armv7"),
        ("foo-arm", None, None, None, False, None),
    }
    assert candidates("foo-arm")[0].arch == arch("armv7")  # likeliest first


@pytest.mark.parametrize("spelling", [name for a in ARCHES for name in a.names])
def test_every_arch_spelling_is_read_case_insensitively(spelling: str) -> None:
    expected = lookup_arch(spelling)
    for text in (f"foo-{spelling}", f"foo-{spelling.upper()}"):
        assert any(r.module == "foo" and r.arch == expected for r in candidates(text)), text


def test_ssl_python_and_pyall_are_case_insensitive_and_normalised() -> None:
    text = "cryptography-LibreSSL42.0.5-PY3.11-ARMV7"
    assert ("cryptography", "libressl", "42.0.5", "3.11", False, "armv7") in readings(text)
    assert ("foo", None, None, None, True, None) in readings("foo-PyAll")


def test_an_ssl_suffix_may_also_be_part_of_the_name() -> None:
    assert readings("requests-openssl") == {
        ("requests", "openssl", None, None, False, None),
        ("requests-openssl", None, None, None, False, None),
    }
    assert ("cryptography-libressl", None, "42.0.5", None, False, None) in readings(
        "cryptography-libressl42.0.5"
    )
    assert ("pyOpenSSL", None, None, None, False, None) in readings("pyOpenSSL")
    assert all(r.ssl is None for r in candidates("pyOpenSSL"))


def test_names_keep_their_case_and_dots() -> None:
    assert ("backports.zoneinfo", None, "0.2.1", None, False, None) in readings(
        "backports.zoneinfo0.2.1"
    )
    assert readings("PyNaCl") == {("PyNaCl", None, None, None, False, None)}


def test_readings_that_leave_an_invalid_name_are_not_candidates() -> None:
    assert all(not r.module.endswith((".", "-", "_")) for r in candidates("foo.-arm"))
    assert readings("foo.-arm") == {("foo.-arm", None, None, None, False, None)}


# --- parse_tag: settling with modules.toml and the index --------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("paramiko-py3.9-aarch64", TagRequest("", "paramiko", python="3.9", arch=arch("arm64v8"))),
        (
            "cryptography-libressl42.0.5-py3.11-armv7",
            TagRequest("", "cryptography", "libressl", "42.0.5", "3.11", False, arch("armv7")),
        ),
        (
            "psycopg2-binary2.9.9-py3.12-amd64",
            TagRequest("", "psycopg2-binary", None, "2.9.9", "3.12", False, arch("amd64")),
        ),
        ("PyNaCl", TagRequest("", "PyNaCl")),
        ("pynacl", TagRequest("", "PyNaCl")),
        ("base58", TagRequest("", "base58")),
        ("base582.1.1", TagRequest("", "base58", version="2.1.1")),
        ("psycopg22.9.9", TagRequest("", "psycopg2", version="2.9.9")),
        ("psycopg3.1.0", TagRequest("", "psycopg", version="3.1.0")),
        ("s3transfer0.10.1", TagRequest("", "s3transfer", version="0.10.1")),
        ("flask-pymongo-py3.12", TagRequest("", "Flask-PyMongo", python="3.12")),
        ("flask_pymongo-pyall", TagRequest("", "Flask-PyMongo", all_pythons=True)),
        ("backports.zoneinfo0.2.1", TagRequest("", "backports.zoneinfo", version="0.2.1")),
        ("backports-zoneinfo", TagRequest("", "backports.zoneinfo")),
        (
            "CRYPTOGRAPHY-OpenSSL-PY3.12-X86_64",
            TagRequest("", "cryptography", "openssl", None, "3.12", False, arch("amd64")),
        ),
        ("pyopenssl", TagRequest("", "pyOpenSSL")),
        ("foo-armv7", TagRequest("", "foo", arch=arch("armv7"))),
        ("foo-arm-armv7", TagRequest("", "foo-arm", arch=arch("armv7"))),
        ("foo-arm-py3.13", TagRequest("", "foo-arm", python="3.13")),
    ],
)
def test_parse_tag_returns_the_one_reading_the_index_confirms(
    text: str, expected: TagRequest
) -> None:
    result = parse(text)
    assert result == expected
    assert result.raw == text


def test_module_and_version_come_back_in_the_index_spelling() -> None:
    index = FakeIndex([Project("Zope.Interface", ("6.0", "1.0.post1"))])
    result = parse("zope-interface6.0.0", index)
    assert (result.module, result.version) == ("Zope.Interface", "6.0")
    assert parse("zope_interface1.0-1", index).version == "1.0.post1"


def test_an_ssl_suffix_needs_the_variant_in_modules_toml() -> None:
    config = make_config(ModuleConfig("cryptography", ssl_variants=("openssl",)))
    error = tag_error("cryptography-libressl", config=config)
    assert error.message.startswith("tag 'cryptography-libressl': SSL suffix not allowed: ")
    assert "module 'cryptography' has ssl_variants openssl, not libressl" in error.message
    assert "no project 'cryptography-libressl' on the index" in error.message
    assert error.hint is not None
    assert "write 'cryptography' without the SSL suffix" in error.hint
    assert "ssl_variants of [modules.cryptography] in modules.toml" in error.hint


def test_an_ssl_suffix_on_a_module_without_variants_or_config() -> None:
    error = tag_error("paramiko-libressl3.4.0")
    assert "module 'paramiko' has no ssl_variants in modules.toml" in error.message
    assert error.hint is not None
    assert "'paramiko3.4.0'" in error.hint
    error = tag_error("requests-openssl")
    assert "'requests' is not a module of modules.toml, so it takes no SSL suffix" in error.message


def test_a_refused_ssl_reading_is_not_asked_about_and_a_project_named_so_wins() -> None:
    index = FakeIndex([Project("requests", ("1.0",)), Project("requests-openssl", ("0.1",))])
    assert parse("requests-openssl", index) == TagRequest("", "requests-openssl")
    assert [normalize_name(n) for n in index.calls] == ["requests-openssl"]


def test_the_index_is_asked_once_per_name_per_call_and_not_for_bad_syntax() -> None:
    index = make_index()
    parse_tags(
        ["paramiko-py3.9-aarch64", "paramiko-py3.9-aarch64", "PARAMIKO-py3.9-arm64v8"],
        modules=CONFIG,
        index=index,
    )
    keys = [normalize_name(n) for n in index.calls]
    assert len(keys) == len(set(keys))
    assert "paramiko" in keys


def test_index_errors_propagate() -> None:
    with pytest.raises(ResolutionError, match="unreachable"):
        parse_tag("paramiko", modules=CONFIG, index=UnreachableIndex())


# --- ambiguity --------------------------------------------------------------------------------


def test_an_arch_word_at_the_end_is_the_arch_when_the_index_confirms_that_reading() -> None:
    index = make_index()  # has foo and foo-arm
    assert parse("foo-arm", index) == TagRequest("", "foo", arch=arch("armv7"))
    assert [normalize_name(n) for n in index.calls] == ["foo"]  # foo-arm was not asked about
    assert parse("foo-arm-py3.13") == TagRequest("", "foo-arm", python="3.13")
    assert parse("foo-arm-armv7") == TagRequest("", "foo-arm", arch=arch("armv7"))


def test_the_longer_reading_is_asked_about_when_the_likelier_one_fails() -> None:
    index = FakeIndex([Project("foo-arm", ("2.0",))])
    assert parse("foo-arm", index) == TagRequest("", "foo-arm")
    assert [normalize_name(n) for n in index.calls] == ["foo", "foo-arm"]


def test_an_arch_word_naming_a_configured_module_is_ambiguous_and_the_hint_says_how_to_write_each() -> (
    None
):
    config = make_config(ModuleConfig("foo-arm"))
    error = tag_error("foo-arm", config=config)
    assert error.message == (
        "tag 'foo-arm' is ambiguous: the index has each of its readings "
        "'foo-armv7' (module foo, arch armv7) and 'foo-arm' (module foo-arm)"
    )
    assert error.hint == (
        "write the one you mean: 'foo-armv7' for module foo, arch armv7; "
        "'foo-arm-py3.13' for module foo-arm"
    )
    for suggestion in ("foo-armv7", "foo-arm-py3.13"):  # the advice really is unambiguous
        parse_tag(suggestion, modules=config, index=make_index())


def test_a_name_version_split_both_on_the_index_is_ambiguous_and_cannot_be_respelled() -> None:
    index = FakeIndex([Project("foo1", ("2.0",)), Project("foo", ("12.0",))])
    error = tag_error("foo12.0", index)
    assert "'foo12.0' (module foo1, version 2.0)" in error.message
    assert "'foo12.0' (module foo, version 12.0)" in error.message
    assert error.hint is not None
    assert "no tag can mean only module foo1, version 2.0" in error.hint
    assert parse("foo1", index) == TagRequest("", "foo1")  # foo has no version 1


def test_a_project_named_like_an_ssl_reading_is_ambiguous() -> None:
    index = FakeIndex(
        [Project("cryptography", ("42.0.5",)), Project("cryptography-openssl", ("1",))]
    )
    error = tag_error("cryptography-openssl", index)
    assert "'cryptography-openssl' (module cryptography, SSL openssl)" in error.message
    assert "'cryptography-openssl' (module cryptography-openssl)" in error.message


def test_the_same_project_with_two_versions_in_one_text_is_ambiguous() -> None:
    index = FakeIndex([Project("foo", ("1.0", "1.0.post386"))])
    error = tag_error("foo1.0-386", index)
    assert "'foo1.0-386' (module foo, version 1.0, arch i386)" in error.message
    assert "'foo1.0.post386' (module foo, version 1.0.post386)" in error.message
    assert error.hint is not None
    assert "'foo1.0.post386' for module foo, version 1.0.post386" in error.hint


# --- nothing confirmed ------------------------------------------------------------------------


def test_unknown_module_lists_every_name_tried_and_suggests_a_configured_one() -> None:
    error = tag_error("cryptograpy-py3.12")
    assert error.message == (
        "tag 'cryptograpy-py3.12': unknown module: no project 'cryptograpy', "
        "'cryptograpy-py3.12', 'cryptograpy-py3.1', 'cryptograpy-py' on the index"
    )
    assert error.hint == "did you mean 'cryptography' (from modules.toml)?"
    error = tag_error("zzz")
    assert error.hint == (
        "check the spelling: names are looked up on the package index pip is configured with"
    )


def test_a_dash_before_the_version_is_pointed_out() -> None:
    error = tag_error("paramiko-3.4.0-py3.12")
    assert "unknown module" in error.message
    assert error.hint == "a version follows the name without '-': write 'paramiko3.4.0-py3.12'"


def test_unknown_version_names_the_versions_tried_and_the_newest_ones() -> None:
    error = tag_error("psycopg22.9.99")
    assert error.message == (
        "tag 'psycopg22.9.99': unknown version: 'psycopg2' has no version 2.9.99; "
        "'psycopg' has no version 22.9.99; no project 'psycopg22.9.99', 'psycopg22.9.9' on the index"
    )
    assert error.hint == (
        "newest versions of 'psycopg2': 2.9.10, 2.9.9; newest versions of 'psycopg': 3.1.0; "
        "leave the version out to build the newest"
    )


def test_a_configured_module_the_index_does_not_know_is_an_error() -> None:
    config = make_config(ModuleConfig("foo-arm"))
    index = FakeIndex([Project("foo", ("1.0",))])
    error = tag_error("foo-arm", index, config)
    assert error.message == "tag 'foo-arm': module 'foo-arm' of modules.toml is not on the index"
    assert error.hint is not None
    assert "PIP_INDEX_URL" in error.hint


@pytest.mark.parametrize(
    ("text", "headline", "did_you_mean"),
    [
        ("foo-arm65", "unknown architecture 'arm65'", "'arm64'"),
        ("paramiko-py3.12-aarch46", "unknown architecture 'aarch46'", "'aarch64'"),
        ("paramiko-s390", "unknown architecture 's390'", "'s390x'"),
        ("paramiko-riscv32", "unknown architecture 'riscv32'", "'riscv64'"),
    ],
)
def test_an_arch_typo_is_named_with_did_you_mean_and_the_known_arches(
    text: str, headline: str, did_you_mean: str
) -> None:
    error = tag_error(text)
    assert error.message.startswith(f"tag {text!r}: {headline}; ")
    assert "on the index" in error.message
    assert error.hint is not None
    assert error.hint.startswith("did you mean ")
    assert did_you_mean in error.hint.split("?")[0]
    assert "known architectures: 386, aarch64, amd64, arm, arm64, arm64v8" in error.hint


@pytest.mark.parametrize(
    ("text", "after"),
    [
        ("paramiko-py3.12-mips", "module paramiko, Python 3.12"),
        ("paramiko3.4.0-sparc", "module paramiko, version 3.4.0"),
        ("paramiko-m68k", "module paramiko"),
    ],
)
def test_an_unknown_arch_after_a_known_module_says_unknown_architecture(
    text: str, after: str
) -> None:
    error = tag_error(text)
    last = text.rpartition("-")[2]
    assert error.message == f"tag {text!r}: unknown architecture {last!r} after {after}"
    assert error.hint is not None and error.hint.startswith("known architectures: 386, ")


def test_an_unknown_last_segment_after_an_unknown_module_is_an_unknown_module() -> None:
    error = tag_error("nosuchthing-py3.12-mips")
    assert "unknown module" in error.message


def test_the_arch_typo_readings_are_reported_as_tried() -> None:
    error = tag_error("foo-arm65")
    assert "'foo-arm' has no version 65" in error.message
    assert "no project 'foo-arm65', 'foo-arm6' on the index" in error.message


@pytest.mark.parametrize(
    ("text", "segment", "fixed"),
    [
        ("paramiko-py3", "py3", "paramiko-py3.13"),
        ("paramiko-py3.9.1", "py3.9.1", "paramiko-py3.9"),
        ("paramiko-py3.9.1-arm64", "py3.9.1", "paramiko-py3.9-arm64"),
        ("paramiko-py312-aarch64", "py312", "paramiko-py3.12-aarch64"),
        ("paramiko-py3.012", "py3.012", "paramiko-py3.12"),
    ],
)
def test_a_malformed_python_says_how_to_write_it(text: str, segment: str, fixed: str) -> None:
    error = tag_error(text)
    assert error.message.startswith(
        f"tag {text!r}: bad Python {segment!r} (a Python is -pyX.Y, major.minor, or -pyall); "
    )
    assert error.hint == f"write e.g. {fixed!r}"
    parse(fixed)


def test_a_project_ending_in_py3_is_still_found() -> None:
    index = FakeIndex([Project("bottle-py3", ("1.0",))])
    assert parse("bottle-py3", index) == TagRequest("", "bottle-py3")


# --- several tags -----------------------------------------------------------------------------


def test_parse_tags_keeps_order() -> None:
    result = parse_tags(["PyNaCl", "foo-x86", "paramiko3.4.0"], modules=CONFIG, index=make_index())
    assert [r.tag for r in result] == ["PyNaCl", "foo-386", "paramiko3.4.0"]
    assert parse_tags([], modules=CONFIG, index=make_index()) == ()


def test_parse_tags_reports_every_bad_tag_in_one_error() -> None:
    with pytest.raises(TagErrors) as info:
        parse_tags(
            ["paramiko", "nosuchthing", "paramiko9.9.9", "psycopg22.9.99"],
            modules=CONFIG,
            index=make_index(),
        )
    error = info.value
    assert [e.message.split(":")[0].split(" ")[1] for e in error.errors] == [
        "'nosuchthing'",
        "'paramiko9.9.9'",
        "'psycopg22.9.99'",
    ]
    assert error.message.startswith("3 bad tags: tag 'nosuchthing': unknown module")
    assert all(e.message in error.message for e in error.errors)
    assert error.hint is not None
    assert all(e.hint is not None and e.hint in error.hint for e in error.errors)
    assert isinstance(error, TagError)
    assert error.exit_code == ExitCode.USAGE


def test_parse_tags_reports_syntax_errors_of_all_tags_before_asking_the_index() -> None:
    index = make_index()
    with pytest.raises(TagErrors) as info:
        parse_tags(["paramiko", "a b", "nosuch", "-x"], modules=CONFIG, index=index)
    assert [e.message for e in info.value.errors] == [
        "tag 'a b' contains ' ' (first at position 2)",
        "tag '-x' starts with '-'",
    ]
    assert index.calls == []


def test_a_single_bad_tag_is_raised_as_itself() -> None:
    with pytest.raises(TagError) as info:
        parse_tags(["paramiko", "nosuch"], modules=CONFIG, index=make_index())
    assert not isinstance(info.value, TagErrors)
    assert info.value.message.startswith("tag 'nosuch': unknown module")


# --- properties -------------------------------------------------------------------------------

_SEGMENTS = st.from_regex(r"[A-Za-z0-9]{1,6}", fullmatch=True) | st.sampled_from(
    ["py", "py3", "pymongo", "pyall", "arm", "armv7", "x86_64", "386", "openssl", "2", "58", "12"]
)
_SEPARATORS = st.sampled_from(["-", ".", "_"])


@st.composite
def project_names(draw: st.DrawFn) -> str:
    """Valid project names: digits at the ends, dots, mixed case, ``-py``/arch/ssl words inside."""
    name = draw(_SEGMENTS)
    for _ in range(draw(st.integers(0, 3))):
        name += draw(_SEPARATORS) + draw(_SEGMENTS)
    return name


@st.composite
def versions(draw: st.DrawFn) -> str:
    """PEP 440 versions in normal form (what an index lists)."""
    text = ".".join(str(n) for n in draw(st.lists(st.integers(0, 2025), min_size=1, max_size=4)))
    if draw(st.booleans()):
        text += draw(st.sampled_from(["a", "b", "rc"])) + str(draw(st.integers(0, 9)))
    if draw(st.booleans()):
        text += f".post{draw(st.integers(0, 9))}"
    if draw(st.booleans()):
        text += f".dev{draw(st.integers(0, 9))}"
    return str(Version(text))


@st.composite
def requests(draw: st.DrawFn) -> TagRequest:
    python = draw(st.none() | st.builds("{}.{}".format, st.integers(2, 3), st.integers(0, 20)))
    request = TagRequest(
        raw="",
        module=draw(project_names()),
        ssl=draw(st.sampled_from([None, "openssl", "libressl"])),
        version=draw(st.none() | versions()),
        python=python,
        all_pythons=python is None and draw(st.booleans()),
        arch=draw(st.none() | st.sampled_from(ARCHES)),
    )
    return replace(request, raw=request.tag)


def world_knowing(*known: TagRequest) -> tuple[Config, FakeIndex]:
    """modules.toml and an index that know exactly these requests' modules, versions and ssl."""
    by_key: dict[str, list[TagRequest]] = {}
    for request in known:
        by_key.setdefault(request.key, []).append(request)
    projects, modules = [], []
    for group in by_key.values():
        listed = tuple(dict.fromkeys(r.version for r in group if r.version is not None))
        projects.append(Project(group[0].module, listed or ("1.0",)))
        ssl = tuple(dict.fromkeys(r.ssl for r in group if r.ssl is not None))
        if ssl:
            modules.append(ModuleConfig(group[0].module, ssl_variants=ssl))
    return make_config(*modules), FakeIndex(projects)


def check_round_trip(
    parser: Callable[[str, Config, FakeIndex], TagRequest], request: TagRequest
) -> None:
    """The parse of a request's rendering, with an index knowing only it, is that request."""
    config, index = world_knowing(request)
    result = parser(request.tag, config, index)
    assert result == request
    assert result.tag == request.tag


def real_parser(text: str, config: Config, index: FakeIndex) -> TagRequest:
    return parse_tag(text, modules=config, index=index)


@given(requests())
def test_property_a_request_is_among_the_candidates_of_its_rendering(request: TagRequest) -> None:
    assert request in candidates(request.tag)


@given(requests())
@settings(max_examples=300)
def test_property_an_index_knowing_only_the_request_gives_it_back_exactly(
    request: TagRequest,
) -> None:
    """No other reading can hold: every other reading names another project or another version."""
    check_round_trip(real_parser, request)


@given(st.data())
@settings(max_examples=300)
def test_property_a_second_confirmed_reading_makes_the_tag_ambiguous_or_is_never_asked(
    data: st.DataObject,
) -> None:
    """The index knows the request and one more reading of the same text (drawn from the
    candidates). When that reading is the request, the parse is the request. When both take the
    same trailing segments as Python/arch, or the one that takes fewer names a configured module
    or a project asked about for a likelier reading, the parse is a TagError listing both (rendering and description) -
    never a guess. Otherwise the one that recognises fewer parts is never asked about, and the
    other one is what the tag means."""
    request = data.draw(requests())
    other = data.draw(st.sampled_from(candidates(request.tag)))
    config, index = world_knowing(request, other)
    if other == request:
        assert parse_tag(request.tag, modules=config, index=index) == request
        return
    likely, unlikely = sorted((request, other), key=lambda r: -tag_parts(r))
    # Every reading at least as likely as the confirmed one is asked about; a less likely reading
    # of a project asked about that way costs no request and is judged too.
    asked_anyway = {c.key for c in candidates(request.tag) if tag_parts(c) >= tag_parts(likely)}
    if (
        tag_parts(likely) == tag_parts(unlikely)
        or unlikely.key in asked_anyway
        or config.module(unlikely.module) is not None
    ):
        with pytest.raises(TagError) as info:
            parse_tag(request.tag, modules=config, index=index)
        assert "is ambiguous" in info.value.message
        for reading in (request, other):
            assert f"{reading.tag!r} ({reading.describe()})" in info.value.message
        return
    try:
        assert parse_tag(request.tag, modules=config, index=index) == likely
    except TagError as error:  # a third reading of the likelier kind holds as well
        assert "is ambiguous" in error.message
        assert f"{likely.tag!r} ({likely.describe()})" in error.message
    assert unlikely.key not in {normalize_name(n) for n in index.calls}


def tag_parts(reading: TagRequest) -> int:
    return (reading.arch is not None) + (reading.python is not None or reading.all_pythons)


def test_the_round_trip_check_catches_a_parser_that_guesses() -> None:
    def first_candidate(text: str, config: Config, index: FakeIndex) -> TagRequest:
        return candidates(text)[0]

    request = TagRequest("foo-arm", "foo-arm")
    check_round_trip(real_parser, request)
    with pytest.raises(AssertionError):
        check_round_trip(first_candidate, request)


def test_the_round_trip_check_catches_a_parser_that_ignores_the_index_spelling() -> None:
    def as_typed(text: str, config: Config, index: FakeIndex) -> TagRequest:
        return replace(real_parser(text, config, index), module=text.lower())

    with pytest.raises(AssertionError):
        check_round_trip(as_typed, TagRequest("PyNaCl", "PyNaCl"))


# --- the names a run asks the index about ---------------------------------------------------------


def test_index_names_are_the_likeliest_readings_and_the_configured_dependencies() -> None:
    config = make_config(
        ModuleConfig("paramiko", depends=("cryptography", "pynacl")),
        ModuleConfig("cryptography", depends=("cffi",), ssl_variants=("openssl", "libressl")),
        ModuleConfig("PyNaCl", depends=("cffi",)),
        ModuleConfig("cffi"),
        ModuleConfig("bar-arm"),
    )
    tags = ["paramiko-pyall", "foo-arm", "bar-arm", "psycopg22.9.9", "not a tag!"]
    names = index_names(tags, modules=config)
    keys = [normalize_name(n) for n in names]
    # the likeliest readings, in tag order (paramiko for every Python, foo for armv7, the name
    # psycopg22.9.9 and its two name/version splits), a configured module whatever its reading
    # (bar-arm), then the dependencies modules.toml gives paramiko, transitively; each name once
    assert keys == [
        "paramiko",
        "foo",
        "bar",
        "bar-arm",
        "psycopg22-9-9",
        "psycopg2",
        "psycopg",
        "cryptography",
        "pynacl",
        "cffi",
    ]
