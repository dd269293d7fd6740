"""Fuzz targets: whatever comes in, each parser answers or raises its one documented error (a
one-line message), never another exception, never a hang (a deadline per input). Seeded from
tests/fuzz/corpus/<target>/; `nox -s fuzz` runs each for MUSLWHEELS_FUZZ_SECONDS. A crash found
here becomes a regression test in tests/unit (and its input a corpus file)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fuzzing import FUZZ, inputs, keep_going, texts
from hypothesis import given

from muslwheels.config.model import Config, Defaults, ModuleConfig, Project, normalize_name
from muslwheels.errors import BuildError, ConfigError, TagError
from muslwheels.names import escape
from muslwheels.plan.tags import parse_tags
from muslwheels.sources.jsonfile import loads_untrusted
from muslwheels.sources.packageindex import (
    _check_html,
    _distribution_links,
    parse_html_page,
    parse_json_page,
)
from muslwheels.sources.registry import manifests_in_index, parse_challenge
from muslwheels.verify.wheelfile import WheelProblem, check_wheel, parse_wheel_name
from muslwheels.verify.wheelinfo import read_wheel

CONFIG = Config(
    path="modules.toml",
    defaults=Defaults(pythons=("3.12", "3.13")),
    modules=(
        ModuleConfig("cryptography", ssl_variants=("openssl", "libressl")),
        ModuleConfig("cffi"),
    ),
)


PROJECTS = {
    normalize_name(p.name): p
    for p in (
        Project("cffi", ("1.16.0", "1.17.0")),
        Project("cryptography", ("41.0.7", "42.0.0")),
        Project("PyNaCl", ("1.5.0",)),
        Project("paramiko", ("3.4.0",)),
    )
}


class Index:
    def project(self, name: str) -> Project | None:
        return PROJECTS.get(normalize_name(name))


def one_line(message: str) -> None:
    assert "\n" not in escape(message)


def test_tag_parser() -> None:
    @FUZZ
    @given(texts("tags"))
    def run(text: str) -> None:
        try:
            parse_tags([text], modules=CONFIG, index=Index())
        except TagError as err:
            one_line(str(err))

    keep_going(run)


def test_modules_toml_loader() -> None:
    from muslwheels.config.modules import load_config

    @FUZZ
    @given(inputs("modules_toml"))
    def run(data: bytes) -> None:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "modules.toml"
            path.write_bytes(data)
            try:
                load_config(path)
            except ConfigError as err:
                one_line(str(err))

    keep_going(run)


def test_wheel_reader() -> None:
    @FUZZ
    @given(inputs("wheel"))
    def run(data: bytes) -> None:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "seed-1.0-py3-none-any.whl"
            path.write_bytes(data)
            try:
                check_wheel(path)
            except WheelProblem as err:
                one_line(str(err))
            try:
                read_wheel(path)
            except BuildError as err:
                one_line(str(err))

    keep_going(run)


def test_wheel_names() -> None:
    @FUZZ
    @given(texts("wheel"))
    def run(text: str) -> None:
        try:
            parsed = parse_wheel_name(text)
        except WheelProblem as err:
            one_line(str(err))
        else:
            assert escape(parsed.filename) == parsed.filename

    keep_going(run)


def test_simple_index_html_page() -> None:
    @FUZZ
    @given(inputs("simple_html"))
    def run(data: bytes) -> None:
        try:
            _check_html(data)
            _distribution_links(parse_html_page(data))
        except ValueError as err:
            one_line(str(err))

    keep_going(run)


def test_simple_index_json_page() -> None:
    @FUZZ
    @given(inputs("simple_json"))
    def run(data: bytes) -> None:
        try:
            name, _files = parse_json_page(data)
        except ValueError as err:
            one_line(str(err))
        else:
            assert name is None or escape(name) == name

    keep_going(run)


def test_registry_manifest() -> None:
    @FUZZ
    @given(inputs("manifest"))
    def run(data: bytes) -> None:
        try:
            document = loads_untrusted(data)
            if not isinstance(document, dict):
                raise ValueError("not a JSON object")
            platforms = [platform for platform, _ in manifests_in_index(document)]
        except ValueError as err:
            one_line(str(err))
        else:
            assert "unknown/unknown" not in platforms

    keep_going(run)


def test_registry_challenge() -> None:
    @FUZZ
    @given(texts("challenge"))
    def run(text: str) -> None:
        scheme, params = parse_challenge(text)
        assert isinstance(scheme, str) and all(isinstance(v, str) for v in params.values())

    keep_going(run)
