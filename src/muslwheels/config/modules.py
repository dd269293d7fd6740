"""modules.toml: load it, validate every key, and answer the questions the planner asks of it.

Pure apart from ``load_config`` reading the one file it is given: no Docker, no network, no environment.

Public API
----------
``load_config(path)``            read and validate a modules.toml -> ``model.Config``
``parse_config(data, path)``     validate an already-parsed TOML mapping -> ``model.Config``
``recipe_for(module, ...)``      the module's recipe for one target, overrides applied, ``{ssl}`` filled in
``selector_matches(select, ...)`` whether an override's ``select`` covers a target
``default_ssl(module, defaults)`` the SSL library a tag without an SSL suffix builds
``dependency_order(config, names)`` module keys in build order, transitive dependencies first
``render_command(template, values)`` fill the placeholders of a ``build`` / ``before_build`` command
``BUILD_PLACEHOLDERS``, ``DEFAULT_BUILD_COMMAND``, ``SSL_LIBRARIES``

Override semantics (documented for users in the header of the shipped modules.toml): matching
overrides apply in file order; a list an override sets (apk, apt, before_build) *replaces* the list
built so far; ``env`` is merged key by key (the override's value wins, other keys are kept);
``build`` and ``mode`` replace.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import string
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from ..errors import ConfigError
from ..plan import graph
from .arches import ARCHES, lookup_arch
from .imageref import reference_problem
from .model import (
    RECIPE_FIELDS,
    Check,
    Config,
    Defaults,
    Flavour,
    Merge,
    Mode,
    ModuleConfig,
    Override,
    Recipe,
    Selector,
    normalize_name,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python < 3.11 only
    import tomli as tomllib

__all__ = [
    "BUILD_PLACEHOLDERS",
    "DEFAULT_BUILD_COMMAND",
    "SSL_LIBRARIES",
    "default_ssl",
    "dependency_order",
    "load_config",
    "parse_config",
    "recipe_for",
    "render_command",
    "selector_matches",
]

#: The SSL libraries a module can be built against (``ssl_variants``, ``[defaults] ssl``).
SSL_LIBRARIES: tuple[str, ...] = ("openssl", "libressl")

#: Placeholders of ``build`` and ``before_build`` commands, with what each one becomes.
BUILD_PLACEHOLDERS: Mapping[str, str] = {
    "module": "the project name as the package index spells it, e.g. PyNaCl",
    "version": "the version being built, e.g. 1.5.0",
    "requirement": "{module}=={version}, e.g. PyNaCl==1.5.0",
    "python": "the target Python as X.Y, e.g. 3.12",
    "arch": "the canonical architecture key, e.g. arm64v8",
    "ssl": "openssl or libressl (only in modules that declare ssl_variants)",
    "wheel_dir": "the directory the built wheel(s) must be written to",
    "deps_dir": "the directory holding the dependency wheels (give it to pip as --find-links)",
}

#: The wheel command used when a module sets no ``build``: this project's wheel only, always from
#: the sdist. (Documented in the header of the shipped modules.toml.)
DEFAULT_BUILD_COMMAND = (
    "python -m pip wheel -v --no-deps --no-binary {module} "
    "--find-links {deps_dir} --wheel-dir {wheel_dir} {requirement}"
)

_BASE_IMAGE_PLACEHOLDERS: Mapping[str, str] = {
    "python": "the Python version X.Y",
    "alpine": "the Alpine release X.Y",
}
_PACKAGE_PLACEHOLDERS: Mapping[str, str] = {"ssl": "openssl or libressl"}

_TOP_KEYS = ("defaults", "modules")
_DEFAULT_KEYS = (
    "pythons",
    "arches",
    "alpine",
    "base_image",
    "repository",
    "no_shared_repository",
    "ssl",
    "mode",
)
_RECIPE_KEYS = tuple(f.name for f in RECIPE_FIELDS)
_OVERRIDABLE_KEYS = tuple(f.name for f in RECIPE_FIELDS if f.rule.overridable)
_MODULE_ONLY_KEYS = ("depends", "ssl_variants", "exclude_arches", "pythons", "overrides")
_MODULE_KEYS = (*_RECIPE_KEYS, *_MODULE_ONLY_KEYS)
_OVERRIDE_KEYS = ("select", *_OVERRIDABLE_KEYS)
_SELECT_KEYS = ("arches", "pythons", "ssl", "flavours")

_XY = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
_PROJECT_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A system package: a name, optionally ":arch" (apt), optionally pinned with = or ~ (apk/apt).
# No spaces, quotes, < > or other shell characters: the list ends up on a shell command line.
_PACKAGE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9.+_-]*(:[A-Za-z0-9_-]+)?([=~]{1,2}[A-Za-z0-9.+_~:*-]+)?"
)
_SAFE_VALUE = re.compile(r"[A-Za-z0-9._+=/@:,~-]*")
_TOML_POSITION = re.compile(r"(?P<msg>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)")


# --- loading ----------------------------------------------------------------------------------


#: The largest modules.toml read (validation is linear: 20000 modules, 1.3 MB, take ~6 s).
MAX_CONFIG_BYTES = 2 * 1024 * 1024


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read ``path`` (TOML) and validate it. Every problem is a one-line ``ConfigError``."""
    shown = os.fspath(path)
    file = Path(shown)
    try:
        # stat first: opening a FIFO would wait for a writer, a device could never end
        info = file.stat()
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(shown)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(
                f"{shown}: is not a regular file (a pipe, socket or device)",
                hint="give the path of a modules.toml file",
            )
        if info.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"{shown}: is {info.st_size} bytes, more than {MAX_CONFIG_BYTES}",
                hint="a modules.toml of 20000 modules is about 1.3 MB; check the path",
            )
        with file.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(
            f"{shown}: no such file",
            hint=f"looked for {file.absolute()}; run from the directory holding modules.toml "
            "or give its path",
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            f"{shown}: is a directory, not a modules.toml file",
            hint=f"give the path of the file, e.g. {file / 'modules.toml'}",
        ) from None
    except OSError as err:
        raise ConfigError(
            f"{shown}: cannot be read ({err.strerror or err})",
            hint="check the file's permissions",
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{shown}: is not UTF-8 text (bad byte at offset {err.start})",
            hint="TOML files must be UTF-8; re-save the file as UTF-8",
        ) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{shown}: grew past {MAX_CONFIG_BYTES} bytes while it was read",
            hint="give the path of a modules.toml file",
        )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise _toml_error(shown, err) from None
    except RecursionError:
        raise ConfigError(
            f"{shown}: values are nested too deeply to read",
            hint="modules.toml needs at most a table of tables of arrays; check the file",
        ) from None
    return parse_config(data, shown)


def _toml_error(path: str, err: ValueError) -> ConfigError:
    line = getattr(err, "lineno", None)
    col = getattr(err, "colno", None)
    msg = getattr(err, "msg", None)
    text = str(err)
    found = _TOML_POSITION.fullmatch(text)
    if found is not None:
        msg = found.group("msg")
        line = int(found.group("line"))
        col = int(found.group("col"))
    if not isinstance(msg, str) or not msg:
        msg = text
    where = f"line {line}, column {col}: " if line is not None and col is not None else ""
    return ConfigError(
        f"{path}: {where}invalid TOML: {msg}",
        hint="fix the syntax at that position (strings need quotes, arrays [ ], tables { })",
    )


# --- error context ----------------------------------------------------------------------------


class _Where:
    """Where a value came from, to build the one-line messages: file, table, key."""

    def __init__(self, path: str, section: str) -> None:
        self.path = path
        self.section = section

    def fail(self, key: str | None, problem: str, hint: str | None = None) -> NoReturn:
        where = f"{self.section} key '{key}'" if key else self.section
        raise ConfigError(f"{self.path}: {where} {problem}", hint=hint)


def _module_section(name: str) -> str:
    shown = name if _BARE_KEY.fullmatch(name) else '"' + name.replace('"', '\\"') + '"'
    return f"[modules.{shown}]"


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a float ({value})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({shown!r})"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    return f"a {type(value).__name__}"


def _suggest(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest choice (compared case-insensitively), or ``""``."""
    by_lower: dict[str, str] = {}
    for choice in choices:
        by_lower.setdefault(choice.lower(), choice)
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return f"; did you mean '{by_lower[close[0]]}'?" if close else ""


def _validate_keys(
    where: _Where,
    table: Mapping[str, object],
    allowed: Sequence[str],
    *,
    prefix: str = "",
    elsewhere: Mapping[str, str] | None = None,
) -> None:
    for key, value in table.items():
        if key in allowed:
            continue
        shown = f"{prefix}{key}"
        if elsewhere and key in elsewhere:
            where.fail(shown, f"cannot be set here ({elsewhere[key]})")
        hint = "known keys: " + ", ".join(allowed)
        if isinstance(value, Mapping) and where.section.startswith("[modules."):
            hint += '; a module name containing dots must be quoted, e.g. [modules."backports.zoneinfo"]'
        suggestion = _suggest(key, allowed)
        if suggestion and prefix:
            suggestion = suggestion.replace("'", f"'{prefix}", 1)
        where.fail(shown, f"is unknown{suggestion}", hint=hint)


# --- scalar and list readers ------------------------------------------------------------------


def _table(where: _Where, key: str | None, value: object) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        where.fail(key, f"must be a table, got {_describe(value)}")
    return value


def _string(where: _Where, key: str, value: object) -> str:
    if not isinstance(value, str):
        hint = f'quote it: "{value}"' if isinstance(value, (int, float)) else None
        where.fail(key, f"must be a string, got {_describe(value)}", hint=hint)
    if not value.strip():
        where.fail(key, "must not be empty", hint="give a value or remove the key")
    if "\n" in value or "\r" in value or "\0" in value:
        where.fail(
            key,
            "must be a single line",
            hint="split a multi-line script into several before_build entries",
        )
    return value


def _string_list(where: _Where, key: str, value: object, *, allow_empty: bool = True) -> list[str]:
    if isinstance(value, str):
        where.fail(
            key,
            f"must be an array of strings, got {_describe(value)}",
            hint=f'write it as an array: {key} = ["{value}"]',
        )
    if not isinstance(value, list):
        where.fail(key, f"must be an array of strings, got {_describe(value)}")
    items: list[str] = []
    for index, item in enumerate(value, start=1):
        if not isinstance(item, str):
            where.fail(key, f"must be an array of strings, but item {index} is {_describe(item)}")
        if not item.strip():
            where.fail(key, f"item {index} is an empty string")
        items.append(item)
    if not items and not allow_empty:
        where.fail(key, "must not be empty", hint="list at least one value or remove the key")
    return items


def _no_duplicates(where: _Where, key: str, values: Sequence[str], shown: Sequence[str]) -> None:
    seen: dict[str, str] = {}
    for value, original in zip(values, shown):
        if value in seen:
            same = "" if seen[value] == original else f" (same as '{seen[value]}')"
            where.fail(key, f"lists '{original}' twice{same}", hint="remove the repeated entry")
        seen[value] = original


def _xy(where: _Where, key: str, value: str, what: str) -> str:
    if not _XY.fullmatch(value):
        where.fail(key, f"has {value!r}, which is not {what} of the form X.Y (e.g. '3.12')")
    return value


def _arch_keys(where: _Where, key: str, value: object, *, allow_empty: bool) -> tuple[str, ...]:
    names = _string_list(where, key, value, allow_empty=allow_empty)
    keys: list[str] = []
    for name in names:
        arch = lookup_arch(name)
        if arch is None:
            known = [a.key for a in ARCHES]
            spellings = sorted({n for a in ARCHES for n in a.names})
            where.fail(
                key,
                f"has '{name}', which is not a known architecture{_suggest(name, spellings)}",
                hint="known architectures: "
                + ", ".join(known)
                + " (aliases: "
                + ", ".join(f"{alias}={a.key}" for a in ARCHES for alias in a.aliases)
                + ")",
            )
        keys.append(arch.key)
    _no_duplicates(where, key, keys, names)
    return tuple(keys)


def _ssl_names(where: _Where, key: str, names: Sequence[str]) -> tuple[str, ...]:
    result: list[str] = []
    for name in names:
        lowered = name.lower()
        if lowered not in SSL_LIBRARIES:
            where.fail(
                key,
                f"has '{name}', which is not an SSL library{_suggest(lowered, SSL_LIBRARIES)}",
                hint="use " + " or ".join(SSL_LIBRARIES),
            )
        result.append(lowered)
    _no_duplicates(where, key, result, names)
    return tuple(result)


def _mode(where: _Where, key: str, value: object) -> Mode:
    text = _string(where, key, value)
    choices = [m.value for m in Mode]
    if text.lower() not in choices:
        where.fail(
            key,
            f"has '{text}', which is not a build mode{_suggest(text.lower(), choices)}",
            hint="use " + ", ".join(choices),
        )
    return Mode(text.lower())


def _specifier(where: _Where, key: str, value: object) -> str:
    text = _string(where, key, value)
    try:
        SpecifierSet(text)
    except InvalidSpecifier:
        where.fail(
            key,
            f"has {text!r}, which is not a PEP 440 version specifier",
            hint="write e.g. '>=3.9', '<3.13' or '==3.12.*' (several joined with commas)",
        )
    return text.strip()


def _template(
    where: _Where,
    key: str,
    text: str,
    allowed: Mapping[str, str],
    *,
    forbidden: Mapping[str, str] | None = None,
) -> frozenset[str]:
    """Check a ``{placeholder}`` template; return the placeholders it uses."""
    literal_hint = "write a literal brace as {{ or }} (e.g. ${{HOME}} for the shell's ${HOME})"
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as err:
        where.fail(key, f"has malformed braces in {text!r} ({err})", hint=literal_hint)
    used: set[str] = set()
    for _literal, field, spec, conversion in parts:
        if field is None:
            continue
        if field == "":
            where.fail(key, f"has an empty placeholder {{}} in {text!r}", hint=literal_hint)
        if spec or conversion:
            where.fail(
                key,
                f"has placeholder '{{{field}"
                + (f"!{conversion}" if conversion else "")
                + (f":{spec}" if spec else "")
                + f"}}' in {text!r}; placeholders take no conversion or format",
                hint=f"write it as {{{field}}}",
            )
        if forbidden and field in forbidden:
            where.fail(key, f"uses {{{field}}} but {forbidden[field]}")
        if field not in allowed:
            where.fail(
                key,
                f"has unknown placeholder {{{field}}}{_suggest(field, allowed)}",
                hint="allowed placeholders: "
                + ", ".join(f"{{{name}}}" for name in allowed)
                + "; "
                + literal_hint,
            )
        used.add(field)
    return frozenset(used)


def _fill(template: str, values: Mapping[str, str]) -> str:
    return template.format_map(dict(values))


# --- [defaults] -------------------------------------------------------------------------------


def _repository(where: _Where, key: str, value: object) -> str:
    text = _string(where, key, value).strip()
    problem = reference_problem(text, allow_tag=False)
    if problem:
        where.fail(
            key,
            f"has {text!r}, which is not a valid Docker repository name: {problem}",
            hint="write [registry[:port]/]path, lowercase, e.g. 'myname/python-musl-wheels' "
            "or '127.0.0.1:5000/wheels'",
        )
    return text


def _base_image(where: _Where, key: str, value: object) -> str:
    text = _string(where, key, value).strip()
    used = _template(where, key, text, _BASE_IMAGE_PLACEHOLDERS)
    if "python" not in used:
        where.fail(
            key,
            f"has {text!r}, which does not use {{python}}",
            hint="every Python needs its own base image, e.g. 'python:{python}-alpine{alpine}'",
        )
    problem = reference_problem(_fill(text, {"python": "3.12", "alpine": "3.20"}), allow_tag=True)
    if problem:
        where.fail(
            key,
            f"has {text!r}, which is not a valid image reference: {problem}",
            hint="write e.g. 'python:{python}-alpine{alpine}' or "
            "'127.0.0.1:5000/standin/python:{python}-bookworm'",
        )
    return text


def _parse_defaults(path: str, raw: object) -> Defaults:
    where = _Where(path, "[defaults]")
    table = _table(where, None, raw)
    _validate_keys(where, table, _DEFAULT_KEYS)
    values: dict[str, Any] = {}  # checked field by field below
    if "pythons" in table:
        pythons = _string_list(where, "pythons", table["pythons"], allow_empty=False)
        for python in pythons:
            _xy(where, "pythons", python, "a Python version")
        _no_duplicates(where, "pythons", pythons, pythons)
        values["pythons"] = tuple(pythons)
    if "arches" in table:
        values["arches"] = _arch_keys(where, "arches", table["arches"], allow_empty=False)
    if "alpine" in table:
        alpine = _string(where, "alpine", table["alpine"]).strip()
        values["alpine"] = _xy(where, "alpine", alpine, "an Alpine release")
    if "base_image" in table:
        values["base_image"] = _base_image(where, "base_image", table["base_image"])
    for key in ("repository", "no_shared_repository"):
        if key in table:
            values[key] = _repository(where, key, table[key])
    if "ssl" in table:
        values["ssl"] = _ssl_names(where, "ssl", [_string(where, "ssl", table["ssl"])])[0]
    if "mode" in table:
        values["mode"] = _mode(where, "mode", table["mode"])
    defaults = replace(Defaults(), **values)
    if defaults.repository is not None and defaults.repository == defaults.no_shared_repository:
        key = "no_shared_repository" if "no_shared_repository" in table else "repository"
        where.fail(
            key,
            f"is {defaults.repository!r}, the same repository for both flavours",
            hint="shared and no-shared wheel images use the same tags; give them two repositories",
        )
    return defaults


# --- [modules.*] ------------------------------------------------------------------------------


class _ModuleDraft:
    """A module section being validated; depends are resolved once every module is known."""

    def __init__(self, name: str, where: _Where) -> None:
        self.name = name
        self.where = where
        self.depends: list[str] = []
        self.module = ModuleConfig(name=name)


def _packages(
    where: _Where, key: str, value: object, ssl_variants: Sequence[str]
) -> tuple[str, ...]:
    names = _string_list(where, key, value)
    forbidden = (
        None
        if ssl_variants
        else {"ssl": "the module declares no ssl_variants (add ssl_variants = [...])"}
    )
    for name in names:
        _template(where, key, name, _PACKAGE_PLACEHOLDERS, forbidden=forbidden)
        for ssl in ssl_variants or ("",):
            filled = _fill(name, {"ssl": ssl})
            if not _PACKAGE.fullmatch(filled):
                where.fail(
                    key,
                    f"has {name!r}, which is not a package name",
                    hint="one package per entry: letters, digits and . + _ - (optionally "
                    ":arch, or pinned with name=version / name~version)",
                )
    _no_duplicates(where, key, names, names)
    return tuple(names)


def _env(where: _Where, key: str, value: object) -> tuple[tuple[str, str], ...]:
    table = _table(where, key, value)
    pairs: list[tuple[str, str]] = []
    for name, item in table.items():
        if not _ENV_NAME.fullmatch(name):
            where.fail(
                f"{key}.{name}",
                "is not a valid environment variable name",
                hint="use letters, digits and '_', not starting with a digit",
            )
        if not isinstance(item, str):
            hint = f'quote it: {name} = "{item}"' if isinstance(item, (int, float)) else None
            where.fail(f"{key}.{name}", f"must be a string, got {_describe(item)}", hint=hint)
        if "\n" in item or "\r" in item or "\0" in item:
            where.fail(f"{key}.{name}", "must be a single line")
        pairs.append((name, item))
    return tuple(pairs)


def _commands(
    where: _Where,
    key: str,
    value: object,
    has_ssl: bool,
    *,
    single: bool = False,
    required: str | None = None,
) -> tuple[str, ...]:
    forbidden = (
        None
        if has_ssl
        else {"ssl": "the module declares no ssl_variants (add ssl_variants = [...])"}
    )
    commands = [value] if single else _string_list(where, key, value)
    result: list[str] = []
    for command in commands:
        text = _string(where, key, command)
        used = _template(where, key, text, BUILD_PLACEHOLDERS, forbidden=forbidden)
        if required and required not in used:
            where.fail(
                key,
                f"does not write to {{{required}}}",
                hint=f"the wheel command must put the wheel in {{{required}}}, e.g. "
                f"'... pip wheel --wheel-dir {{{required}}} {{requirement}}'",
            )
        result.append(text)
    return tuple(result)


def _recipe(
    where: _Where, table: Mapping[str, object], ssl_variants: Sequence[str]
) -> tuple[Recipe, frozenset[str]]:
    """The recipe keys of a module or override table, and which of them were given."""
    values = {
        f.name: _check_field(where, f.check, f.name, table[f.name], ssl_variants)
        for f in RECIPE_FIELDS
        if f.name in table
    }
    for f in RECIPE_FIELDS:
        if f.rule.conflict and f.name in values and any(c in values for c in f.rule.clears):
            where.fail(f.name, f.rule.conflict, hint="keep one of them")
    return Recipe(**values), frozenset(values)


def _check_field(
    where: _Where, check: Check, key: str, value: object, ssl_variants: Sequence[str]
) -> Any:
    """One recipe field's value, validated by the rule its field declares."""
    has_ssl = bool(ssl_variants)
    if check is Check.PACKAGES:
        return _packages(where, key, value, ssl_variants)
    if check is Check.ENV:
        return _env(where, key, value)
    if check is Check.COMMANDS:
        return _commands(where, key, value, has_ssl)
    if check is Check.BUILD:
        return _commands(where, key, value, has_ssl, single=True, required="wheel_dir")[0]
    if check is Check.TEST:
        return _commands(where, key, value, has_ssl, single=True)[0]
    if check is Check.MODE:
        return _mode(where, key, value)
    if check is Check.REQUIREMENTS:
        return _requirements(where, key, value)
    return _reason(where, key, value)


def _requirements(where: _Where, key: str, value: object) -> tuple[str, ...]:
    """A list of PEP 508 requirements (``test_requires``), each on one line."""
    items = _string_list(where, key, value)
    for item in items:
        try:
            Requirement(item)
        except InvalidRequirement as err:
            where.fail(
                key,
                f"has {item!r}, which is not a valid requirement "
                f"({str(err).splitlines()[0] if str(err) else 'unreadable'})",
                hint="write requirements as pip takes them, e.g. 'pytest>=8' or 'requests[socks]'",
            )
        if any(c in item for c in "\n\r\0"):
            where.fail(key, f"has {item!r}, which is not a single line")
    _no_duplicates(where, key, items, items)
    return tuple(items)


def _reason(where: _Where, key: str, value: object) -> str:
    """A required, one-line reason (``no_test``)."""
    text = value.strip() if isinstance(value, str) else _string(where, key, value)
    if not text:
        where.fail(
            key,
            "needs a reason",
            hint='say why the test is off, e.g. no_test = "importing it needs a display"',
        )
    if "\n" in text or "\r" in text:
        where.fail(key, "must be a single line")
    return text


def _select(where: _Where, raw: object, ssl_variants: Sequence[str]) -> Selector:
    table = _table(where, "select", raw)
    _validate_keys(where, table, _SELECT_KEYS, prefix="select.")
    if not table:
        where.fail(
            "select",
            "is empty, so the override would apply to every target",
            hint="put settings for every target in the module itself, or add a condition "
            "(arches, pythons, ssl, flavours)",
        )
    arches: tuple[str, ...] = ()
    if "arches" in table:
        arches = _arch_keys(where, "select.arches", table["arches"], allow_empty=False)
    pythons = _specifier(where, "select.pythons", table["pythons"]) if "pythons" in table else None
    ssl: tuple[str, ...] = ()
    if "ssl" in table:
        raw_ssl = table["ssl"]
        names = (
            [_string(where, "select.ssl", raw_ssl)]
            if isinstance(raw_ssl, str)
            else _string_list(where, "select.ssl", raw_ssl, allow_empty=False)
        )
        ssl = _ssl_names(where, "select.ssl", names)
        for name in ssl:
            if name not in ssl_variants:
                declared = ", ".join(ssl_variants) if ssl_variants else "none"
                where.fail(
                    "select.ssl",
                    f"has '{name}', which is not one of the module's ssl_variants ({declared})",
                    hint="add it to ssl_variants or drop it from the selector",
                )
    flavours: tuple[Flavour, ...] = ()
    if "flavours" in table:
        names = _string_list(where, "select.flavours", table["flavours"], allow_empty=False)
        choices = [f.value for f in Flavour]
        for name in names:
            if name not in choices:
                where.fail(
                    "select.flavours",
                    f"has '{name}', which is not a flavour{_suggest(name, choices)}",
                    hint="use " + " or ".join(repr(c) for c in choices),
                )
        _no_duplicates(where, "select.flavours", names, names)
        flavours = tuple(Flavour(n) for n in names)
    return Selector(arches=arches, pythons=pythons, ssl=ssl, flavours=flavours)


def _overrides(
    path: str, section: str, raw: object, ssl_variants: Sequence[str]
) -> tuple[Override, ...]:
    where = _Where(path, section)
    if isinstance(raw, Mapping):
        where.fail(
            "overrides",
            "must be an array of tables, got a single table",
            hint=f"write each one as [[{section[1:-1]}.overrides]]",
        )
    if not isinstance(raw, list):
        where.fail("overrides", f"must be an array of tables, got {_describe(raw)}")
    result: list[Override] = []
    not_here = {
        k: "only select, " + ", ".join(_OVERRIDABLE_KEYS) + " can be set in an override"
        for k in _MODULE_KEYS
        if k not in _OVERRIDE_KEYS
    }
    for index, item in enumerate(raw, start=1):
        ov_where = _Where(path, f"{section} override #{index}")
        table = _table(ov_where, None, item)
        _validate_keys(ov_where, table, _OVERRIDE_KEYS, elsewhere=not_here)
        if "select" not in table:
            ov_where.fail(
                None,
                "has no 'select'",
                hint='say which targets it is for, e.g. select = { arches = ["armv7"] }',
            )
        select = _select(ov_where, table["select"], ssl_variants)
        recipe, set_fields = _recipe(ov_where, table, ssl_variants)
        if not set_fields:
            ov_where.fail(
                None,
                "sets nothing",
                hint="add at least one of " + ", ".join(_OVERRIDABLE_KEYS) + ", or remove it",
            )
        result.append(Override(select=select, recipe=recipe, set_fields=set_fields))
    return tuple(result)


def _parse_module(path: str, name: str, raw: object) -> _ModuleDraft:
    section = _module_section(name)
    where = _Where(path, section)
    if not _PROJECT_NAME.fullmatch(name):
        where.fail(
            None,
            "is not a valid project name",
            hint="project names are letters, digits, '.', '_' and '-', starting and ending "
            "with a letter or digit",
        )
    table = _table(where, None, raw)
    _validate_keys(where, table, _MODULE_KEYS)
    draft = _ModuleDraft(name, where)

    ssl_variants: tuple[str, ...] = ()
    if "ssl_variants" in table:
        ssl_variants = _ssl_names(
            where, "ssl_variants", _string_list(where, "ssl_variants", table["ssl_variants"])
        )
    recipe, _ = _recipe(where, table, ssl_variants)
    if "depends" in table:
        draft.depends = _depends_list(where, table["depends"])
    draft.module = ModuleConfig(
        name=name,
        recipe=recipe,
        ssl_variants=ssl_variants,
        exclude_arches=(
            _excluded(where, table["exclude_arches"]) if "exclude_arches" in table else ()
        ),
        pythons=_specifier(where, "pythons", table["pythons"]) if "pythons" in table else None,
        overrides=(
            _overrides(path, section, table["overrides"], ssl_variants)
            if "overrides" in table
            else ()
        ),
    )
    return draft


def _depends_list(where: _Where, raw: object) -> list[str]:
    """A module's ``depends``: project names, each once."""
    depends = _string_list(where, "depends", raw)
    for dep in depends:
        if not _PROJECT_NAME.fullmatch(dep):
            where.fail("depends", f"has {dep!r}, which is not a valid project name")
    _no_duplicates(where, "depends", [normalize_name(d) for d in depends], depends)
    return depends


def _excluded(where: _Where, raw: object) -> tuple[str, ...]:
    """A module's ``exclude_arches``: canonical arch keys, never all of them."""
    exclude = _arch_keys(where, "exclude_arches", raw, allow_empty=True)
    if len(exclude) == len(ARCHES):
        where.fail(
            "exclude_arches",
            "excludes every architecture, so the module could never be built",
            hint="remove the module, or keep the architectures it can be built for",
        )
    return exclude


def parse_config(data: Mapping[str, object], path: str) -> Config:
    """Validate a parsed modules.toml. ``path`` is only used in messages (and kept in the Config)."""
    top = _Where(path, "top level")
    _validate_keys(top, data, _TOP_KEYS)
    defaults = _parse_defaults(path, data["defaults"]) if "defaults" in data else Defaults()

    drafts: list[_ModuleDraft] = []
    if "modules" in data:
        modules_table = _table(_Where(path, "[modules]"), None, data["modules"])
        by_key: dict[str, _ModuleDraft] = {}
        for name, raw in modules_table.items():
            draft = _parse_module(path, name, raw)
            key = normalize_name(name)
            if key in by_key:
                draft.where.fail(
                    None,
                    f"is the same project as {_module_section(by_key[key].name)} "
                    "(names are compared PEP 503-normalised)",
                    hint="merge the two tables into one",
                )
            by_key[key] = draft
            drafts.append(draft)

        names = [d.name for d in drafts]
        for draft in drafts:
            resolved: list[str] = []
            for dep in draft.depends:
                dep_key = normalize_name(dep)
                if dep_key not in by_key:
                    draft.where.fail(
                        "depends",
                        f"names '{dep}', which is not a module in this file{_suggest(dep, names)}",
                        hint=f"add a [modules.{dep}] table (it may be empty) or fix the name",
                    )
                resolved.append(dep_key)
            draft.module = replace(draft.module, depends=tuple(resolved))

    config = Config(path=path, defaults=defaults, modules=tuple(d.module for d in drafts))
    cycle = graph.find_cycle([m.key for m in config.modules], lambda key: _depends(config, key))
    if cycle:
        raise _cycle_error(config, cycle)
    return config


# --- dependencies -----------------------------------------------------------------------------


def _display(config: Config, key: str) -> str:
    module = config.module(key)
    return module.name if module is not None else key


def _depends(config: Config, key: str) -> tuple[str, ...]:
    module = config.module(key)
    return tuple(normalize_name(d) for d in module.depends) if module is not None else ()


def _cycle_error(config: Config, cycle: Sequence[str]) -> ConfigError:
    """The error for a dependency cycle (module keys, first == last), named by where it starts."""
    start = config.module(cycle[0])
    section = _module_section(start.name) if start is not None else f"[modules.{cycle[0]}]"
    return ConfigError(
        f"{config.path}: {section} key 'depends' forms a dependency cycle: "
        + " -> ".join(_display(config, k) for k in cycle),
        hint="remove one of the depends along that cycle",
    )


def dependency_order(config: Config, names: Iterable[str]) -> tuple[str, ...]:
    """Module keys (PEP 503-normalised) in build order: every module after all it depends on.

    Includes the transitive ``depends`` of ``names``; each key appears once. Deterministic: names
    are visited in the order given and each module's depends in the order written, dependencies
    first (depth-first post-order). A name with no table in the config is kept (it has no
    dependencies). A dependency cycle raises ``ConfigError`` naming it.
    """
    try:
        order = graph.dependency_order(
            [normalize_name(name) for name in names], lambda key: _depends(config, key)
        )
    except graph.CycleFound as found:
        raise _cycle_error(config, found.path) from None
    return tuple(order)


# --- recipes per target -----------------------------------------------------------------------


def selector_matches(
    select: Selector, *, arch: str, python: str, ssl: str | None, flavour: Flavour
) -> bool:
    """Whether an override's ``select`` covers the target; every condition given must hold."""
    if select.arches:
        found = lookup_arch(arch)
        if found is None or found.key not in select.arches:
            return False
    if select.pythons is not None and not SpecifierSet(select.pythons).contains(
        python, prereleases=True
    ):
        return False
    if select.ssl and (ssl is None or ssl.lower() not in select.ssl):
        return False
    return not (select.flavours and flavour not in select.flavours)


def default_ssl(module: ModuleConfig, defaults: Defaults) -> str | None:
    """The SSL library a tag without ``-openssl``/``-libressl`` builds the module with.

    None for a module without ssl_variants; the default ssl if the module offers it; otherwise the
    module's first variant.
    """
    if not module.ssl_variants:
        return None
    if defaults.ssl in module.ssl_variants:
        return defaults.ssl
    return module.ssl_variants[0]


def recipe_for(
    module: ModuleConfig, *, arch: str, python: str, ssl: str | None, flavour: Flavour
) -> Recipe:
    """The module's recipe for one target: matching overrides applied in order, ``{ssl}`` filled.

    Each field combines as its :class:`~muslwheels.config.model.FieldRule` says: lists an override sets
    replace the list so far; ``env`` merges key by key (the override wins); ``build`` and ``mode``
    replace; ``test`` and ``no_test`` reset each other. ``{ssl}`` is substituted in apk/apt
    package names only;
    ``build`` and ``before_build`` keep their placeholders for ``render_command``.

    ``ssl`` must be one of the module's ssl_variants, or None when it has none (ValueError
    otherwise: that is a caller's bug, not a user's).
    """
    if lookup_arch(arch) is None:
        raise ValueError(f"unknown architecture {arch!r}")
    if not _XY.fullmatch(python):
        raise ValueError(f"python must be X.Y, got {python!r}")
    if module.ssl_variants:
        if ssl is None or ssl.lower() not in module.ssl_variants:
            raise ValueError(
                f"module {module.name} needs ssl to be one of {module.ssl_variants}, got {ssl!r}"
            )
        ssl = ssl.lower()
    elif ssl is not None:
        raise ValueError(f"module {module.name} has no ssl_variants, got ssl={ssl!r}")

    values: dict[str, Any] = {f.name: getattr(module.recipe, f.name) for f in RECIPE_FIELDS}
    defaults = {f.name: f.default for f in RECIPE_FIELDS}
    for override in module.overrides:
        if not selector_matches(
            override.select, arch=arch, python=python, ssl=ssl, flavour=flavour
        ):
            continue
        for f in RECIPE_FIELDS:
            if f.name not in override.set_fields:
                continue
            value = getattr(override.recipe, f.name)
            if f.rule.merge is Merge.UPDATE:
                value = tuple({**dict(values[f.name]), **dict(value)}.items())
            values[f.name] = value
            for cleared in f.rule.clears:
                values[cleared] = defaults[cleared]

    filled = {"ssl": ssl or ""}
    for f in RECIPE_FIELDS:
        if f.rule.fill_ssl:
            values[f.name] = tuple(_fill(p, filled) for p in values[f.name])
    return Recipe(**values)


def render_command(template: str, values: Mapping[str, str]) -> str:
    """Fill the placeholders of a ``build``/``before_build`` command (or DEFAULT_BUILD_COMMAND).

    Every placeholder the template uses must be in ``values``, and every value must be free of
    shell metacharacters (they are pasted into a shell command line unquoted). ValueError
    otherwise.
    """
    for _literal, field, _spec, _conv in string.Formatter().parse(template):
        if field is None:
            continue
        if field not in BUILD_PLACEHOLDERS:
            raise ValueError(f"unknown placeholder {{{field}}} in {template!r}")
        if field not in values:
            raise ValueError(f"no value for placeholder {{{field}}} in {template!r}")
        if not _SAFE_VALUE.fullmatch(values[field]):
            raise ValueError(f"unsafe value for {{{field}}}: {values[field]!r}")
    return _fill(template, values)
