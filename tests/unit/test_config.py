"""modules.toml: loading, every validation error, overrides, recipe_for, dependency order."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from muslwheels.config import modules as cfg
from muslwheels.config.arches import ARCHES
from muslwheels.config.model import (
    RECIPE_FIELDS,
    Check,
    Config,
    Defaults,
    Flavour,
    Mode,
    ModuleConfig,
    Recipe,
    RecipeField,
    Selector,
)
from muslwheels.config.modules import (
    BUILD_PLACEHOLDERS,
    DEFAULT_BUILD_COMMAND,
    default_ssl,
    dependency_order,
    load_config,
    parse_config,
    recipe_for,
    render_command,
    selector_matches,
)
from muslwheels.errors import ConfigError, ExitCode

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "modules.toml"
P = "modules.toml"

ORIGINAL_MODULES = {
    "cffi",
    "bcrypt",
    "bottlejwt",
    "cryptography",
    "greenlet",
    "lxml",
    "misaka",
    "maturin",
    "mysqlclient",
    "orderedset",
    "paramiko",
    "pillow",
    "psutil",
    "psycopg2-binary",
    "PyNaCl",
    "pyOpenSSL",
    "zstandard",
}


def fails(data: Mapping[str, Any]) -> ConfigError:
    """The ConfigError parse_config raises for ``data``; checks it is one line."""
    with pytest.raises(ConfigError) as info:
        parse_config(data, P)
    err = info.value
    assert "\n" not in str(err)
    assert str(err).startswith(f"{P}: ")
    assert err.exit_code is ExitCode.CONFIG
    return err


def module(name: str = "demo", **keys: Any) -> dict[str, Any]:
    return {"modules": {name: keys}}


# --- the shipped file ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> Config:
    return load_config(SHIPPED)


def test_shipped_file_has_the_17_original_modules(shipped: Config) -> None:
    assert {m.name for m in shipped.modules} == ORIGINAL_MODULES
    assert len(shipped.modules) == 17


def test_shipped_defaults(shipped: Config) -> None:
    d = shipped.defaults
    assert d.pythons == ("3.12", "3.13")
    assert d.arches == tuple(a.key for a in ARCHES)
    assert d.alpine == "3.20"
    assert d.base_image == "python:{python}-alpine{alpine}"
    # no default repository: one this project does not own could serve wheels to every user
    assert d.repository is None
    assert d.no_shared_repository is None
    assert d.ssl == "openssl"
    assert d.mode is Mode.AUTO


def test_shipped_dependencies_and_ssl(shipped: Config) -> None:
    crypto = shipped.module("cryptography")
    assert crypto is not None
    assert crypto.depends == ("cffi",)
    assert crypto.ssl_variants == ("openssl", "libressl")
    paramiko = shipped.module("paramiko")
    assert paramiko is not None
    assert paramiko.depends == ("bcrypt", "cryptography", "pynacl")  # normalised keys
    nacl = shipped.module("pynacl")
    assert nacl is not None
    assert dict(nacl.recipe.env) == {"SODIUM_INSTALL": "system"}
    assert "libsodium-dev" in nacl.recipe.apk
    assert dependency_order(shipped, ["paramiko"]) == (
        "bcrypt",
        "cffi",
        "cryptography",
        "pynacl",
        "paramiko",
    )


def test_shipped_compiled_modules_list_their_compiler(shipped: Config) -> None:
    # The base image is used as it is (python:*-alpine has no compiler), so every recipe that
    # installs packages for a compiled project names its compiler and C library headers too.
    for mod in shipped.modules:
        if mod.recipe.apk:
            assert "musl-dev" in mod.recipe.apk, mod.name
            assert {"gcc", "g++"} & set(mod.recipe.apk), mod.name
        if mod.recipe.apt:
            assert "libc6-dev" in mod.recipe.apt, mod.name
            assert {"gcc", "g++"} & set(mod.recipe.apt), mod.name
    pure = {m.name for m in shipped.modules if not m.recipe.apk}
    assert pure == {"bottlejwt", "paramiko", "pyOpenSSL"}


def test_every_shipped_recipe_resolves_for_every_target(shipped: Config) -> None:
    for mod in shipped.modules:
        for arch in ARCHES:
            for python in shipped.defaults.pythons:
                for ssl in mod.ssl_variants or (None,):
                    for flavour in Flavour:
                        recipe = recipe_for(
                            mod, arch=arch.key, python=python, ssl=ssl, flavour=flavour
                        )
                        for package in recipe.apk + recipe.apt:
                            assert "{" not in package and "}" not in package
                        if ssl is not None:
                            assert all("openssl" not in p for p in recipe.apk) or ssl == "openssl"


def test_shipped_header_documents_every_key() -> None:
    header = "\n".join(
        line for line in SHIPPED.read_text(encoding="utf-8").splitlines() if line.startswith("#")
    )
    keys = (
        set(cfg._DEFAULT_KEYS)
        | set(cfg._MODULE_KEYS)
        | set(cfg._OVERRIDE_KEYS)
        | set(cfg._SELECT_KEYS)
    )
    for key in keys:
        assert re.search(rf"\b{key}\b", header), f"{key} is not documented in the header"
    for placeholder in BUILD_PLACEHOLDERS:
        assert f"{{{placeholder}}}" in header
    words = " ".join(line.lstrip("#").strip() for line in header.splitlines())
    assert " ".join(DEFAULT_BUILD_COMMAND.split()) in " ".join(words.split())
    assert "REPLACES" in header and "MERGED" in header


# --- reading the file ---------------------------------------------------------------------------


def test_missing_file_says_where_it_looked(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "modules.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: no such file"
    assert info.value.hint is not None
    assert str(path.absolute()) in info.value.hint


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_toml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "modules.toml"
    path.write_text('[defaults]\npythons = ["3.12"]\nalpine 3.20\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: line 3, column 8: invalid TOML: ")
    assert "\n" not in message


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "modules.toml"
    path.write_bytes(b'[defaults]\nalpine = "3.20\xff"\n')
    with pytest.raises(ConfigError, match="is not UTF-8"):
        load_config(path)


def test_load_config_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text('[modules.cffi]\napk = ["libffi-dev"]\n', encoding="utf-8")
    config = load_config(path)
    assert config.path == str(path)
    assert config.defaults == Defaults()
    assert config.modules == (ModuleConfig(name="cffi", recipe=Recipe(apk=("libffi-dev",))),)


def test_empty_file_is_all_defaults() -> None:
    assert parse_config({}, P) == Config(path=P, defaults=Defaults(), modules=())


# --- unknown keys ---------------------------------------------------------------------------------


def test_unknown_module_key_with_suggestion() -> None:
    err = fails(module("cryptography", exclude_arch=["s390x"]))
    assert str(err) == (
        "modules.toml: [modules.cryptography] key 'exclude_arch' is unknown; "
        "did you mean 'exclude_arches'?"
    )
    assert err.hint is not None and "exclude_arches" in err.hint


def test_unknown_top_level_key() -> None:
    err = fails({"module": {}})
    assert str(err) == "modules.toml: top level key 'module' is unknown; did you mean 'modules'?"


def test_unknown_defaults_key() -> None:
    err = fails({"defaults": {"python": ["3.12"]}})
    assert str(err) == "modules.toml: [defaults] key 'python' is unknown; did you mean 'pythons'?"


def test_unknown_key_without_close_match_lists_known_keys() -> None:
    err = fails(module(zzz="1"))
    assert str(err) == "modules.toml: [modules.demo] key 'zzz' is unknown"
    assert err.hint is not None and "apk" in err.hint and "overrides" in err.hint


def test_dotted_module_name_hint() -> None:
    # [modules.backports.zoneinfo] parses as a table "backports" holding a table "zoneinfo".
    err = fails({"modules": {"backports": {"zoneinfo": {}}}})
    assert "[modules.backports] key 'zoneinfo' is unknown" in str(err)
    assert err.hint is not None and '[modules."backports.zoneinfo"]' in err.hint


def test_unknown_override_and_select_keys() -> None:
    err = fails(module(overrides=[{"select": {"arch": ["armv7"]}, "apk": ["x"]}]))
    assert str(err) == (
        "modules.toml: [modules.demo] override #1 key 'select.arch' is unknown; "
        "did you mean 'select.arches'?"
    )
    err = fails(module(overrides=[{"select": {"arches": ["armv7"]}, "apks": ["x"]}]))
    assert "override #1 key 'apks' is unknown; did you mean 'apk'?" in str(err)


def test_module_only_key_in_override() -> None:
    err = fails(module(overrides=[{"select": {"arches": ["armv7"]}, "depends": ["x"]}]))
    assert "[modules.demo] override #1 key 'depends' cannot be set here" in str(err)
    assert "only select, apk, apt, env, before_build, build, mode" in str(err)


# --- wrong types ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            module(apk="libffi-dev"),
            "[modules.demo] key 'apk' must be an array of strings, got a string ('libffi-dev')",
        ),
        (
            module(apt=["a", 3]),
            "[modules.demo] key 'apt' must be an array of strings, but item 2 is an integer (3)",
        ),
        (module(env=["A=1"]), "[modules.demo] key 'env' must be a table, got an array"),
        (
            module(env={"A": 1}),
            "[modules.demo] key 'env.A' must be a string, got an integer (1)",
        ),
        (
            module(build=["pip", "wheel"]),
            "[modules.demo] key 'build' must be a string, got an array",
        ),
        (module(pythons=3.9), "[modules.demo] key 'pythons' must be a string, got a float (3.9)"),
        (module(mode=True), "[modules.demo] key 'mode' must be a string, got a boolean (true)"),
        (
            module(overrides={"select": {}}),
            "[modules.demo] key 'overrides' must be an array of tables, got a single table",
        ),
        (
            module(overrides=[{"select": "armv7", "apk": []}]),
            "[modules.demo] override #1 key 'select' must be a table, got a string ('armv7')",
        ),
        ({"modules": []}, "[modules] must be a table, got an array"),
        ({"modules": {"demo": "x"}}, "[modules.demo] must be a table, got a string ('x')"),
        ({"defaults": {"pythons": "3.12"}}, "[defaults] key 'pythons' must be an array"),
        ({"defaults": {"alpine": 3.2}}, "[defaults] key 'alpine' must be a string, got a float"),
        ({"defaults": []}, "[defaults] must be a table, got an array"),
    ],
)
def test_wrong_types_say_expected_and_got(data: Mapping[str, Any], expected: str) -> None:
    assert expected in str(fails(data))


def test_env_number_hint_says_quote_it() -> None:
    err = fails(module(env={"SODIUM_INSTALL": 1}))
    assert err.hint == 'quote it: SODIUM_INSTALL = "1"'


def test_env_bad_name_and_multiline_value() -> None:
    assert "key 'env.1X' is not a valid environment variable name" in str(
        fails(module(env={"1X": "a"}))
    )
    assert "key 'env.X' must be a single line" in str(fails(module(env={"X": "a\nb"})))


def test_empty_values() -> None:
    assert "key 'apk' item 1 is an empty string" in str(fails(module(apk=[""])))
    assert "key 'build' must not be empty" in str(fails(module(build="  ")))
    assert "[defaults] key 'pythons' must not be empty" in str(fails({"defaults": {"pythons": []}}))


# --- architectures, pythons, specifiers ---------------------------------------------------------


def test_bad_arch_lists_the_known() -> None:
    err = fails(module(exclude_arches=["armv8"]))
    assert str(err).startswith(
        "modules.toml: [modules.demo] key 'exclude_arches' has 'armv8', "
        "which is not a known architecture; did you mean"
    )
    assert err.hint is not None
    for arch in ARCHES:
        assert arch.key in err.hint
    assert "aarch64=arm64v8" in err.hint


def test_arch_aliases_are_stored_canonical() -> None:
    config = parse_config(
        {"defaults": {"arches": ["x86_64", "aarch64", "armhf", "arm", "i686"]}}, P
    )
    assert config.defaults.arches == ("amd64", "arm64v8", "armv6", "armv7", "i386")


def test_same_arch_twice_via_alias() -> None:
    err = fails({"defaults": {"arches": ["arm64", "aarch64"]}})
    assert "[defaults] key 'arches' lists 'aarch64' twice (same as 'arm64')" in str(err)


def test_excluding_every_arch() -> None:
    err = fails(module(exclude_arches=[a.key for a in ARCHES]))
    assert "excludes every architecture" in str(err)


@pytest.mark.parametrize("bad", ["3", "3.12.1", "py3.12", "3.x", "03.12", ""])
def test_bad_python_version(bad: str) -> None:
    err = fails({"defaults": {"pythons": ["3.12", bad]}})
    assert "[defaults] key 'pythons'" in str(err)
    if bad:
        assert f"has {bad!r}, which is not a Python version of the form X.Y" in str(err)


def test_bad_alpine_release() -> None:
    err = fails({"defaults": {"alpine": "edge"}})
    assert "[defaults] key 'alpine' has 'edge', which is not an Alpine release of the form X.Y" in (
        str(err)
    )


def test_duplicate_python() -> None:
    assert "lists '3.12' twice" in str(fails({"defaults": {"pythons": ["3.12", "3.12"]}}))


@pytest.mark.parametrize("bad", ["3.12", ">=3.x", "=>3.9", ">=3.9;", "python>=3"])
def test_bad_specifier(bad: str) -> None:
    err = fails(module(pythons=bad))
    assert (
        f"[modules.demo] key 'pythons' has {bad!r}, which is not a PEP 440 version specifier"
        in (str(err))
    )
    assert err.hint is not None and ">=3.9" in err.hint


def test_bad_specifier_in_select() -> None:
    err = fails(module(overrides=[{"select": {"pythons": "3.13"}, "apk": ["x"]}]))
    assert "override #1 key 'select.pythons' has '3.13', which is not a PEP 440" in str(err)


def test_good_specifiers_kept() -> None:
    config = parse_config(module(pythons=">=3.9, <3.14"), P)
    assert config.modules[0].pythons == ">=3.9, <3.14"


# --- ssl and mode ---------------------------------------------------------------------------------


def test_bad_ssl_values() -> None:
    err = fails({"defaults": {"ssl": "opensll"}})
    assert (
        "[defaults] key 'ssl' has 'opensll', which is not an SSL library; did you mean 'openssl'?"
        in (str(err))
    )
    err = fails(module(ssl_variants=["openssl", "boringssl"]))
    assert "key 'ssl_variants' has 'boringssl', which is not an SSL library" in str(err)
    assert "lists 'OpenSSL' twice (same as 'openssl')" in str(
        fails(module(ssl_variants=["openssl", "OpenSSL"]))
    )


def test_ssl_is_case_insensitive() -> None:
    config = parse_config(
        {"defaults": {"ssl": "LibreSSL"}, **module(ssl_variants=["OpenSSL", "libressl"])}, P
    )
    assert config.defaults.ssl == "libressl"
    assert config.modules[0].ssl_variants == ("openssl", "libressl")


def test_bad_mode() -> None:
    err = fails(module(mode="emulated"))
    assert "key 'mode' has 'emulated', which is not a build mode; did you mean 'emulate'?" in str(
        err
    )
    assert parse_config(module(mode="Cross"), P).modules[0].recipe.mode is Mode.CROSS


# --- templates ------------------------------------------------------------------------------------


def test_base_image_unknown_placeholder() -> None:
    err = fails({"defaults": {"base_image": "python:{pyhton}-alpine{alpine}"}})
    assert (
        "[defaults] key 'base_image' has unknown placeholder {pyhton}; did you mean 'python'?"
        in (str(err))
    )
    assert err.hint is not None and "{python}, {alpine}" in err.hint


@pytest.mark.parametrize("bad", ["python:{python-alpine", "python:{python}}-x", "python:{}"])
def test_base_image_malformed_braces(bad: str) -> None:
    err = fails({"defaults": {"base_image": bad}})
    assert "[defaults] key 'base_image' has" in str(err)
    assert "braces" in str(err) or "empty placeholder" in str(err)


def test_base_image_needs_python_and_valid_reference() -> None:
    assert "does not use {python}" in str(fails({"defaults": {"base_image": "alpine:{alpine}"}}))
    err = fails({"defaults": {"base_image": "Python:{python}"}})
    assert "is not a valid image reference" in str(err)
    parsed = parse_config(
        {"defaults": {"base_image": "127.0.0.1:5000/standin/python:{python}-bookworm"}}, P
    )
    assert parsed.defaults.base_image == "127.0.0.1:5000/standin/python:{python}-bookworm"


def test_base_image_format_spec_rejected() -> None:
    err = fails({"defaults": {"base_image": "python:{python!r}"}})
    assert "placeholders take no conversion or format" in str(err)


@pytest.mark.parametrize(
    ("repo", "problem"),
    [
        ("Musl/wheels", "path component 'Musl' must be lowercase"),
        ("musl/wheels:latest", "must not include a tag"),
        ("musl/wheels@sha256:00", "digest"),
        ("musl//wheels", "path component ''"),
        ("my_reg.example:port/x", "registry 'my_reg.example:port'"),
        ("musl/-wheels", "path component '-wheels'"),
    ],
)
def test_bad_repository(repo: str, problem: str) -> None:
    err = fails({"defaults": {"repository": repo}})
    assert f"[defaults] key 'repository' has {repo!r}, which is not a valid Docker repository" in (
        str(err)
    )
    assert problem in str(err)


@pytest.mark.parametrize(
    "repo", ["python", "me/python-musl-wheels", "127.0.0.1:5000/wheels", "localhost/a/b__c.d-e"]
)
def test_good_repository(repo: str) -> None:
    assert parse_config({"defaults": {"repository": repo}}, P).defaults.repository == repo


def test_same_repository_for_both_flavours() -> None:
    err = fails({"defaults": {"repository": "a/b", "no_shared_repository": "a/b"}})
    assert "the same repository for both flavours" in str(err)


def test_package_names() -> None:
    assert "has 'lib ffi', which is not a package name" in str(fails(module(apk=["lib ffi"])))
    assert "is not a package name" in str(fails(module(apt=["a;rm -rf /"])))
    assert "is not a package name" in str(fails(module(apk=["a>=1"])))
    ok = parse_config(module(apk=["a=1.2", "b~3", "c-dev"], apt=["libc6-dev:arm64"]), P)
    assert ok.modules[0].recipe.apk == ("a=1.2", "b~3", "c-dev")
    assert "lists 'x' twice" in str(fails(module(apk=["x", "x"])))


def test_ssl_placeholder_needs_ssl_variants() -> None:
    err = fails(module(apk=["{ssl}-dev"]))
    assert "[modules.demo] key 'apk' uses {ssl} but the module declares no ssl_variants" in str(err)
    err = fails(module(build="pip wheel -w {wheel_dir} --x {ssl}"))
    assert "key 'build' uses {ssl} but the module declares no ssl_variants" in str(err)


def test_package_unknown_placeholder() -> None:
    err = fails(module(apk=["{arch}-dev"], ssl_variants=["openssl"]))
    assert "key 'apk' has unknown placeholder {arch}" in str(err)


def test_build_placeholders() -> None:
    err = fails(module(build="pip wheel -w {wheeldir} {requirement}"))
    assert "key 'build' has unknown placeholder {wheeldir}; did you mean 'wheel_dir'?" in str(err)
    assert "key 'build' does not write to {wheel_dir}" in str(
        fails(module(build="pip wheel {requirement}"))
    )
    assert "must be a single line" in str(fails(module(build="a {wheel_dir}\nb")))
    err = fails(module(before_build=["echo ${HOME}"]))
    assert "key 'before_build' has unknown placeholder {HOME}" in str(err)
    assert err.hint is not None and "${{HOME}}" in err.hint
    ok = parse_config(
        module(before_build=["echo ${{HOME}} {python} {arch}"], build="x -w {wheel_dir}"), P
    )
    assert ok.modules[0].recipe.before_build == ("echo ${{HOME}} {python} {arch}",)


# --- depends, duplicates, cycles --------------------------------------------------------------------


def test_unknown_dependency_with_suggestion() -> None:
    data = {"modules": {"PyNaCl": {}, "paramiko": {"depends": ["pynacll"]}}}
    err = fails(data)
    assert str(err) == (
        "modules.toml: [modules.paramiko] key 'depends' names 'pynacll', which is not a module "
        "in this file; did you mean 'PyNaCl'?"
    )


def test_depends_are_normalised_keys() -> None:
    config = parse_config({"modules": {"Py_NaCl": {}, "x": {"depends": ["py.nacl"]}}}, P)
    x = config.module("x")
    assert x is not None and x.depends == ("py-nacl",)
    assert "lists 'PyNaCl' twice (same as 'pynacl')" in str(
        fails({"modules": {"PyNaCl": {}, "x": {"depends": ["pynacl", "PyNaCl"]}}})
    )


def test_duplicate_modules_after_normalisation() -> None:
    err = fails({"modules": {"PyNaCl": {}, "pynacl": {}}})
    assert str(err) == (
        "modules.toml: [modules.pynacl] is the same project as [modules.PyNaCl] "
        "(names are compared PEP 503-normalised)"
    )
    err = fails({"modules": {"zope.interface": {}, "zope-interface": {}}})
    assert '[modules.zope-interface] is the same project as [modules."zope.interface"]' in str(err)


def test_invalid_module_name() -> None:
    err = fails({"modules": {"bad name": {}}})
    assert str(err) == 'modules.toml: [modules."bad name"] is not a valid project name'


@pytest.mark.parametrize(
    ("modules", "cycle"),
    [
        ({"a": {"depends": ["b"]}, "b": {"depends": ["a"]}}, "a -> b -> a"),
        ({"a": {"depends": ["a"]}}, "a -> a"),
        (
            {
                "x": {"depends": ["a"]},
                "a": {"depends": ["b"]},
                "b": {"depends": ["C"]},
                "C": {"depends": ["a"]},
            },
            "a -> b -> C -> a",
        ),
    ],
)
def test_dependency_cycle_is_named(modules: dict[str, Any], cycle: str) -> None:
    err = fails({"modules": modules})
    assert str(err).endswith(f"key 'depends' forms a dependency cycle: {cycle}")


# --- overrides ------------------------------------------------------------------------------------


def test_override_needs_select_and_a_setting() -> None:
    assert "override #1 has no 'select'" in str(fails(module(overrides=[{"apk": ["x"]}])))
    err = fails(module(overrides=[{"select": {}, "apk": ["x"]}]))
    assert "override #1 key 'select' is empty" in str(err)
    err = fails(module(overrides=[{"select": {"arches": ["armv7"]}}]))
    assert "[modules.demo] override #1 sets nothing" in str(err)


def test_override_select_values() -> None:
    err = fails(module(overrides=[{"select": {"ssl": "libressl"}, "apk": ["x"]}]))
    assert (
        "override #1 key 'select.ssl' has 'libressl', which is not one of the module's "
        "ssl_variants (none)" in str(err)
    )
    err = fails(module(overrides=[{"select": {"flavours": ["no_shared"]}, "apk": ["x"]}]))
    assert "key 'select.flavours' has 'no_shared', which is not a flavour; did you mean" in str(err)
    err = fails(module(overrides=[{"select": {"arches": ["sparc"]}, "apk": ["x"]}]))
    assert "key 'select.arches' has 'sparc', which is not a known architecture" in str(err)


def test_override_parsed() -> None:
    config = parse_config(
        module(
            ssl_variants=["openssl", "libressl"],
            overrides=[
                {
                    "select": {
                        "arches": ["arm", "armhf"],
                        "pythons": ">=3.13",
                        "ssl": ["LibreSSL"],
                        "flavours": ["no-shared"],
                    },
                    "env": {"A": "1"},
                    "mode": "cross",
                }
            ],
        ),
        P,
    )
    (override,) = config.modules[0].overrides
    assert override.select == Selector(
        arches=("armv7", "armv6"),
        pythons=">=3.13",
        ssl=("libressl",),
        flavours=(Flavour.NO_SHARED,),
    )
    assert override.set_fields == frozenset({"env", "mode"})
    assert override.recipe.env == (("A", "1"),)
    assert override.recipe.mode is Mode.CROSS


def _demo() -> ModuleConfig:
    config = parse_config(
        module(
            apk=["{ssl}-dev", "cargo"],
            apt=["libssl-dev"],
            env={"A": "base", "B": "base"},
            before_build=["echo base"],
            ssl_variants=["openssl", "libressl"],
            overrides=[
                {"select": {"arches": ["armv7"]}, "apk": ["{ssl}-dev", "cargo", "git"]},
                {"select": {"arches": ["armv7"], "pythons": ">=3.13"}, "env": {"B": "py313"}},
                {"select": {"ssl": "libressl"}, "env": {"C": "libre"}, "apt": ["libressl-dev"]},
                {"select": {"flavours": ["no-shared"]}, "build": "b -w {wheel_dir}"},
                {"select": {"arches": ["aarch64"]}, "before_build": [], "mode": "cross"},
                {"select": {"arches": ["armv7"]}, "apk": ["last-wins"]},
            ],
        ),
        P,
    )
    return config.modules[0]


def test_recipe_without_matching_override_is_the_module_recipe() -> None:
    recipe = recipe_for(_demo(), arch="amd64", python="3.12", ssl="openssl", flavour=Flavour.SHARED)
    assert recipe.apk == ("openssl-dev", "cargo")
    assert recipe.apt == ("libssl-dev",)
    assert recipe.env == (("A", "base"), ("B", "base"))
    assert recipe.before_build == ("echo base",)
    assert recipe.build is None
    assert recipe.mode is None


def test_override_lists_replace_and_later_overrides_win() -> None:
    recipe = recipe_for(_demo(), arch="armv7", python="3.12", ssl="openssl", flavour=Flavour.SHARED)
    assert recipe.apk == (
        "last-wins",
    )  # override 1 replaced the list, override 6 replaced it again
    assert recipe.env == (("A", "base"), ("B", "base"))  # override 2 needs Python >= 3.13


def test_override_env_merges_key_by_key() -> None:
    recipe = recipe_for(_demo(), arch="arm", python="3.13", ssl="libressl", flavour=Flavour.SHARED)
    assert recipe.env == (("A", "base"), ("B", "py313"), ("C", "libre"))
    assert recipe.apt == ("libressl-dev",)


def test_override_flavour_build_and_mode() -> None:
    demo = _demo()
    no_shared = recipe_for(
        demo, arch="amd64", python="3.12", ssl="openssl", flavour=Flavour.NO_SHARED
    )
    assert no_shared.build == "b -w {wheel_dir}"
    arm64 = recipe_for(demo, arch="arm64v8", python="3.12", ssl="openssl", flavour=Flavour.SHARED)
    assert arm64.before_build == ()  # an empty list replaces too
    assert arm64.mode is Mode.CROSS


def test_recipe_fills_ssl_in_packages() -> None:
    recipe = recipe_for(
        _demo(), arch="s390x", python="3.12", ssl="LibreSSL", flavour=Flavour.SHARED
    )
    assert recipe.apk == ("libressl-dev", "cargo")


def test_recipe_for_rejects_caller_mistakes() -> None:
    demo = _demo()
    with pytest.raises(ValueError, match="needs ssl"):
        recipe_for(demo, arch="amd64", python="3.12", ssl=None, flavour=Flavour.SHARED)
    with pytest.raises(ValueError, match="needs ssl"):
        recipe_for(demo, arch="amd64", python="3.12", ssl="boringssl", flavour=Flavour.SHARED)
    with pytest.raises(ValueError, match="no ssl_variants"):
        recipe_for(
            ModuleConfig("x"), arch="amd64", python="3.12", ssl="openssl", flavour=Flavour.SHARED
        )
    with pytest.raises(ValueError, match="unknown architecture"):
        recipe_for(demo, arch="sparc", python="3.12", ssl="openssl", flavour=Flavour.SHARED)
    with pytest.raises(ValueError, match=r"X\.Y"):
        recipe_for(demo, arch="amd64", python="3.12.1", ssl="openssl", flavour=Flavour.SHARED)


def test_selector_matches() -> None:
    select = Selector(arches=("armv7",), pythons="<3.13", ssl=("libressl",))
    kw: dict[str, Any] = {"python": "3.12", "ssl": "libressl", "flavour": Flavour.SHARED}
    assert selector_matches(select, arch="armv7l", **kw)
    assert not selector_matches(select, arch="armv6", **kw)
    assert not selector_matches(select, arch="armv7", **{**kw, "python": "3.13"})
    assert not selector_matches(select, arch="armv7", **{**kw, "ssl": None})
    assert selector_matches(Selector(flavours=(Flavour.SHARED,)), arch="amd64", **kw)
    assert not selector_matches(Selector(flavours=(Flavour.NO_SHARED,)), arch="amd64", **kw)


def test_default_ssl() -> None:
    defaults = Defaults(ssl="libressl")
    assert default_ssl(ModuleConfig("x"), defaults) is None
    assert default_ssl(ModuleConfig("x", ssl_variants=("openssl", "libressl")), defaults) == (
        "libressl"
    )
    assert default_ssl(ModuleConfig("x", ssl_variants=("openssl",)), defaults) == "openssl"


# --- dependency order -----------------------------------------------------------------------------


def _graph() -> Config:
    return parse_config(
        {
            "modules": {
                "app": {"depends": ["Web", "db"]},
                "Web": {"depends": ["core"]},
                "db": {"depends": ["core", "driver"]},
                "core": {},
                "driver": {},
                "other": {},
            }
        },
        P,
    )


def test_dependency_order_transitive_dependencies_first() -> None:
    assert dependency_order(_graph(), ["app"]) == ("core", "web", "driver", "db", "app")


def test_dependency_order_is_deterministic_and_deduplicated() -> None:
    graph = _graph()
    first = dependency_order(graph, ["db", "APP", "other", "db"])
    assert first == ("core", "driver", "db", "web", "app", "other")
    assert dependency_order(graph, ["db", "APP", "other", "db"]) == first
    for index, key in enumerate(first):
        module = graph.module(key)
        assert module is not None
        assert all(first.index(dep) < index for dep in module.depends)


def test_dependency_order_keeps_unconfigured_modules() -> None:
    assert dependency_order(_graph(), ["Flask_PyMongo", "web"]) == ("flask-pymongo", "core", "web")
    assert dependency_order(_graph(), []) == ()


def test_dependency_order_names_a_cycle() -> None:
    # parse_config refuses cycles, so build one by hand: dependency_order must not loop.
    config = Config(
        path=P,
        defaults=Defaults(),
        modules=(
            ModuleConfig("top", depends=("a",)),
            ModuleConfig("a", depends=("b",)),
            ModuleConfig("b", depends=("a",)),
        ),
    )
    with pytest.raises(ConfigError) as info:
        dependency_order(config, ["top"])
    assert str(info.value) == (
        "modules.toml: [modules.a] key 'depends' forms a dependency cycle: a -> b -> a"
    )


# --- commands -------------------------------------------------------------------------------------


def test_render_command() -> None:
    values = {
        "deps_dir": "/deps",
        "wheel_dir": "/wheels",
        "requirement": "PyNaCl==1.5.0",
    }
    assert render_command(DEFAULT_BUILD_COMMAND, {**values, "module": "PyNaCl"}) == (
        "python -m pip wheel -v --no-deps --no-binary PyNaCl "
        "--find-links /deps --wheel-dir /wheels PyNaCl==1.5.0"
    )
    assert render_command("echo ${{HOME}} {python}", {"python": "3.12"}) == "echo ${HOME} 3.12"
    with pytest.raises(ValueError, match="no value"):
        render_command("x {arch}", {})
    with pytest.raises(ValueError, match="unsafe"):
        render_command("x {module}", {"module": "a; rm -rf /"})
    with pytest.raises(ValueError, match="unknown placeholder"):
        render_command("x {nope}", {"nope": "1"})


# --- property: defaults fallback ------------------------------------------------------------------

_VALID_DEFAULTS: dict[str, st.SearchStrategy[Any]] = {
    "pythons": st.lists(
        st.tuples(st.integers(2, 3), st.integers(0, 20)).map(lambda t: f"{t[0]}.{t[1]}"),
        min_size=1,
        max_size=4,
        unique=True,
    ),
    "arches": st.lists(
        st.sampled_from([a.key for a in ARCHES]), min_size=1, max_size=8, unique=True
    ),
    "alpine": st.tuples(st.integers(3, 4), st.integers(0, 30)).map(lambda t: f"{t[0]}.{t[1]}"),
    "base_image": st.sampled_from(
        ["python:{python}-alpine{alpine}", "reg.local:5000/py:{python}", "x/{python}/y:z{alpine}"]
    ),
    "repository": st.sampled_from(["me/shared", "127.0.0.1:5000/s", "s"]),
    "no_shared_repository": st.sampled_from(["me/noshared", "127.0.0.1:5000/n", "n"]),
    "ssl": st.sampled_from(["openssl", "libressl"]),
    "mode": st.sampled_from([m.value for m in Mode]),
}


@given(st.fixed_dictionaries({}, optional=_VALID_DEFAULTS))
def test_defaults_fall_back_key_by_key(given_keys: dict[str, Any]) -> None:
    defaults = parse_config({"defaults": given_keys}, P).defaults
    builtin = Defaults()
    for key in cfg._DEFAULT_KEYS:
        value = getattr(defaults, key)
        if key in given_keys:
            expected = given_keys[key]
            if isinstance(expected, list):
                expected = tuple(expected)
            if key == "mode":
                expected = Mode(expected)
            assert value == expected
        else:
            assert value == getattr(builtin, key)


# --- hostile files (#13) ----------------------------------------------------------------------


def test_a_fifo_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "modules.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file") as info:
        cfg.load_config(fifo)  # nothing writes to it: reading would wait forever
    assert info.value.exit_code == ExitCode.CONFIG


def test_a_device_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a regular file"):
        cfg.load_config("/dev/urandom")


def test_a_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "modules.toml"
    with big.open("wb") as handle:
        handle.truncate(cfg.MAX_CONFIG_BYTES + 1)  # sparse: nothing written
    with pytest.raises(ConfigError, match=f"more than {cfg.MAX_CONFIG_BYTES}"):
        cfg.load_config(big)


def test_values_nested_100k_deep_are_one_config_error(tmp_path: Path) -> None:
    deep = tmp_path / "modules.toml"
    deep.write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(ConfigError, match="nested too deeply"):
        cfg.load_config(deep)


def test_a_long_dependency_chain_is_fine(tmp_path: Path) -> None:
    """5000 modules, each depending on the one before: no recursion limit, no cycle."""
    lines = ["[modules.m0]"]
    for i in range(1, 5000):
        lines += [f"[modules.m{i}]", f'depends = ["m{i - 1}"]']
    path = tmp_path / "modules.toml"
    path.write_text("\n".join(lines) + "\n")
    config = cfg.load_config(path)
    assert len(config.modules) == 5000
    assert cfg.dependency_order(config, ["m4999"])[:2] == ("m0", "m1")
    # and a cycle at the end of a long chain is still found
    path.write_text("\n".join([*lines[:-1], 'depends = ["m4999"]']) + "\n")
    with pytest.raises(ConfigError, match="dependency cycle"):
        cfg.load_config(path)


def test_the_shipped_files_name_examples_are_pep_503_true() -> None:
    """modules.toml's header: PyNaCl = pynacl, and Py_NaCl = py.nacl = py-nacl (not pynacl)."""
    from muslwheels.config.model import normalize_name

    assert normalize_name("PyNaCl") == normalize_name("pynacl") == "pynacl"
    assert normalize_name("Py_NaCl") == normalize_name("py.nacl") == "py-nacl"
    header = (Path(__file__).resolve().parents[2] / "modules.toml").read_text()
    assert "(PyNaCl and pynacl are one project; Py_NaCl, py.nacl and py-nacl are another" in header


# --- test keys (test, test_requires, no_test) -----------------------------------------------------


def test_test_keys_parse_and_override() -> None:
    config = parse_config(
        module(
            test="python -c 'import demo' # {module} {version}",
            test_requires=["pytest>=8", "requests[socks]; python_version >= '3.9'"],
            overrides=[
                {"select": {"arches": ["armv7"]}, "no_test": "QEMU cannot run its JIT"},
                {"select": {"arches": ["armv7"], "pythons": ">=3.13"}, "test": "true"},
            ],
        ),
        P,
    )
    found = config.module("demo")
    assert found is not None
    amd = recipe_for(found, arch="amd64", python="3.12", ssl=None, flavour=Flavour.SHARED)
    assert amd.test == "python -c 'import demo' # {module} {version}"
    assert amd.test_requires == ("pytest>=8", "requests[socks]; python_version >= '3.9'")
    assert amd.no_test is None
    arm = recipe_for(found, arch="armv7", python="3.12", ssl=None, flavour=Flavour.SHARED)
    assert (arm.test, arm.no_test) == (None, "QEMU cannot run its JIT")
    newer = recipe_for(found, arch="armv7", python="3.13", ssl=None, flavour=Flavour.SHARED)
    assert (newer.test, newer.no_test) == ("true", None)


def test_test_unknown_placeholder() -> None:
    err = fails(module(test="python -c 'import {modul}'"))
    assert (
        "[modules.demo] key 'test' has unknown placeholder {modul}; did you mean 'module'?"
        in str(err)
    )


def test_test_requires_must_be_requirements() -> None:
    err = fails(module(test_requires=["pytest >= 8", "not a requirement!"]))
    assert "key 'test_requires' has 'not a requirement!', which is not a valid requirement" in str(
        err
    )
    err = fails(module(test_requires="pytest"))
    assert "key 'test_requires'" in str(err)


def test_no_test_needs_a_reason_and_excludes_test() -> None:
    err = fails(module(no_test="  "))
    assert "[modules.demo] key 'no_test' needs a reason" in str(err)
    err = fails(module(no_test=True))
    assert "key 'no_test' must be a string" in str(err)
    err = fails(module(no_test="why", test="true"))
    assert "key 'no_test' switches the test off, but 'test' sets one" in str(err)


#: A valid modules.toml value for each kind of recipe field (a new kind fails the test below).
_TOML_SAMPLE: Mapping[Check, Any] = {
    Check.PACKAGES: ["pkg-a"],
    Check.ENV: {"SAMPLE": "1"},
    Check.COMMANDS: ["echo {module}"],
    Check.BUILD: "pip wheel --wheel-dir {wheel_dir} {requirement}",
    Check.TEST: "python -c 'import demo'",
    Check.MODE: "cross",
    Check.REQUIREMENTS: ["pytest>=8"],
    Check.REASON: "no display",
}


@pytest.mark.parametrize("field", RECIPE_FIELDS, ids=lambda f: f.name)
def test_every_recipe_field_parses_and_overrides(field: RecipeField) -> None:
    value = _TOML_SAMPLE[field.check]
    config = parse_config(
        module(overrides=[{"select": {"arches": ["armv7"]}, field.name: value}]), P
    )
    found = config.module("demo")
    assert found is not None
    assert found.overrides[0].set_fields == frozenset({field.name})
    base = recipe_for(found, arch="amd64", python="3.12", ssl=None, flavour=Flavour.SHARED)
    arm = recipe_for(found, arch="armv7", python="3.12", ssl=None, flavour=Flavour.SHARED)
    assert getattr(base, field.name) == field.default
    assert getattr(arm, field.name) != field.default
    in_module = parse_config(module(**{field.name: value}), P).module("demo")
    assert in_module is not None
    assert getattr(in_module.recipe, field.name) == getattr(arm, field.name)
