from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from muslwheels.errors import ResolutionError
from muslwheels.sources import pipconfig
from muslwheels.sources.pipconfig import IndexSettings, discover_index_settings, settings_from

DEFAULT = "https://index.invalid/simple"


def test_nothing_configured_gives_pips_default() -> None:
    assert settings_from({}, {}, DEFAULT) == IndexSettings(index_url=DEFAULT)


def test_environment_ranks_above_files() -> None:
    env = {
        "PIP_INDEX_URL": "https://env.invalid/simple",
        "PIP_EXTRA_INDEX_URL": "https://e1.invalid/simple  https://e2.invalid/simple",
        "PIP_CERT": "/env/ca.pem",
        "PIP_CLIENT_CERT": "/env/client.pem",
        "PIP_TRUSTED_HOST": "a.invalid b.invalid:8080",
        "PIP_FIND_LINKS": "/env/wheels",
    }
    config = {
        "global.index-url": "https://file.invalid/simple",
        "global.extra-index-url": "https://file-extra.invalid/simple",
        "global.cert": "/file/ca.pem",
        "global.find-links": "/file/wheels",
    }
    assert settings_from(env, config, DEFAULT) == IndexSettings(
        index_url="https://env.invalid/simple",
        extra_index_urls=("https://e1.invalid/simple", "https://e2.invalid/simple"),
        cert="/env/ca.pem",
        client_cert="/env/client.pem",
        trusted_hosts=("a.invalid", "b.invalid:8080"),
        find_links=("/env/wheels",),
    )


def test_files_command_section_over_global() -> None:
    config = {
        "global.index-url": "https://global.invalid/simple",
        "wheel.index-url": "https://wheel.invalid/simple",
        "install.index-url": "https://install.invalid/simple",
        "global.extra-index-url": "file:///opt/a/simple\nfile:///opt/b/simple",
        "global.trusted-host": "x.invalid\ny.invalid",
    }
    settings = settings_from({}, config, DEFAULT)
    assert settings.index_url == "https://wheel.invalid/simple"
    assert settings.extra_index_urls == ("file:///opt/a/simple", "file:///opt/b/simple")
    assert settings.trusted_hosts == ("x.invalid", "y.invalid")
    assert settings_from({}, config, DEFAULT, command="install").index_url == (
        "https://install.invalid/simple"
    )


def test_empty_environment_values_count_as_unset() -> None:
    config = {"global.cert": "/file/ca.pem"}
    assert settings_from({"PIP_CERT": "  ", "PIP_INDEX_URL": ""}, config, DEFAULT) == (
        IndexSettings(index_url=DEFAULT, cert="/file/ca.pem")
    )


def test_index_urls_without_repeats() -> None:
    env = {"PIP_INDEX_URL": "https://a.invalid/s", "PIP_EXTRA_INDEX_URL": "https://a.invalid/s"}
    settings = settings_from(env, {}, DEFAULT)
    assert settings.extra_index_urls == ()
    settings = IndexSettings("https://a.invalid/s", ("https://b.invalid/s", "https://b.invalid/s"))
    assert settings.index_urls == ("https://a.invalid/s", "https://b.invalid/s")


@pytest.fixture
def clean_pip_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No PIP_* variables; PIP_CONFIG_FILE points at an (empty) file in tmp_path."""
    for name in list(os.environ):
        if name.startswith("PIP_"):
            monkeypatch.delenv(name)
    config = tmp_path / "pip.conf"
    config.write_text("")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(config))
    return config


def pips_default_index() -> str:
    from pip._internal.models.index import PyPI

    return str(PyPI.simple_url)


def test_discover_reads_pips_files_and_default(clean_pip_env: Path) -> None:
    clean_pip_env.write_text(
        "[global]\n"
        "extra-index-url =\n"
        "    http://127.0.0.1:9/one\n"
        "    file:///srv/two\n"
        "trusted_host = 127.0.0.2\n"
        "[wheel]\n"
        "find-links = /srv/wheels\n"
    )
    settings = discover_index_settings(env=os.environ)
    assert settings.index_url == pips_default_index()
    assert settings.extra_index_urls == ("http://127.0.0.1:9/one", "file:///srv/two")
    assert settings.trusted_hosts == ("127.0.0.2",)
    assert settings.find_links == ("/srv/wheels",)


def test_discover_environment_overrides_file(
    clean_pip_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean_pip_env.write_text("[global]\nindex-url = http://127.0.0.1:9/file\n")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/env")
    assert discover_index_settings(env=os.environ).index_url == "http://127.0.0.1:9/env"
    monkeypatch.delenv("PIP_INDEX_URL")
    assert discover_index_settings(env=os.environ).index_url == "http://127.0.0.1:9/file"


def test_discover_with_a_python_that_has_no_pip(clean_pip_env: Path, tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho \"No module named 'pip'\" >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    with pytest.raises(ResolutionError, match="could not read pip's configuration: No module"):
        discover_index_settings(str(fake), env=os.environ)


def test_discover_with_a_missing_python(clean_pip_env: Path, tmp_path: Path) -> None:
    with pytest.raises(ResolutionError, match="could not run"):
        discover_index_settings(str(tmp_path / "nope"), env=os.environ)


# --- pip's answer kept on disk ---------------------------------------------------------------------


def _no_pip(*args: object) -> object:
    raise AssertionError("pip was asked although its answer is on disk")


def test_answer_is_reused_from_disk_while_the_files_are_unchanged(
    clean_pip_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean_pip_env.write_text("[global]\nindex-url = http://127.0.0.1:9/file\n")
    cache = tmp_path / "cache"
    first = discover_index_settings(env=os.environ, cache_dir=cache)
    assert first.index_url == "http://127.0.0.1:9/file"
    assert list((cache / "pip").glob("settings-*.json"))
    # a later process: nothing in memory, and pip must not run
    monkeypatch.setattr(pipconfig, "_ask_pip", _no_pip)
    assert discover_index_settings(env=os.environ, cache_dir=cache) == first
    # the environment still ranks above the stored file values
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/env")
    assert (
        discover_index_settings(env=os.environ, cache_dir=cache).index_url
        == "http://127.0.0.1:9/env"
    )


def test_a_changed_config_file_asks_pip_again(clean_pip_env: Path, tmp_path: Path) -> None:
    clean_pip_env.write_text("[global]\nindex-url = http://127.0.0.1:9/old\n")
    cache = tmp_path / "cache"
    assert (
        discover_index_settings(env=os.environ, cache_dir=cache).index_url
        == "http://127.0.0.1:9/old"
    )
    pipconfig._ask_pip.cache_clear()
    clean_pip_env.write_text("[global]\nindex-url = http://127.0.0.1:9/newer\n")
    assert (
        discover_index_settings(env=os.environ, cache_dir=cache).index_url
        == "http://127.0.0.1:9/newer"
    )


def test_a_new_user_config_file_asks_pip_again(
    clean_pip_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file pip looks for but that did not exist counts as a change when it appears."""
    monkeypatch.delenv("PIP_CONFIG_FILE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "etc-xdg"))
    cache = tmp_path / "cache"
    before = discover_index_settings(env=os.environ, cache_dir=cache)
    pipconfig._ask_pip.cache_clear()
    user = tmp_path / "config" / "pip" / "pip.conf"
    user.parent.mkdir(parents=True)
    user.write_text("[global]\nextra-index-url = http://127.0.0.1:9/user\n")
    after = discover_index_settings(env=os.environ, cache_dir=cache)
    assert "http://127.0.0.1:9/user" not in before.extra_index_urls
    assert after.extra_index_urls[-1:] == ("http://127.0.0.1:9/user",)


def test_refresh_asks_pip_even_with_an_answer_on_disk(
    clean_pip_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    discover_index_settings(env=os.environ, cache_dir=cache)
    monkeypatch.setattr(pipconfig, "_ask_pip", _no_pip)
    with pytest.raises(AssertionError, match="pip was asked"):
        discover_index_settings(env=os.environ, cache_dir=cache, refresh=True)


def test_no_cache_dir_writes_nothing(clean_pip_env: Path, tmp_path: Path) -> None:
    discover_index_settings(env=os.environ)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pip.conf"]


def test_a_password_in_pips_files_is_never_written_to_the_cache(
    clean_pip_env: Path, tmp_path: Path
) -> None:
    clean_pip_env.write_text(
        "[global]\nindex-url = http://user:s3cret@127.0.0.1:9/simple\n"
        "extra-index-url = https://TOKEN123@127.0.0.1:9/extra\n"
    )
    cache = tmp_path / "cache"
    settings = discover_index_settings(env=os.environ, cache_dir=cache)
    assert settings.index_url == "http://user:s3cret@127.0.0.1:9/simple"  # pip's answer, used
    written = b"".join(p.read_bytes() for p in cache.rglob("*") if p.is_file())
    assert b"s3cret" not in written
    assert b"TOKEN123" not in written


def test_a_cache_file_of_the_old_format_is_removed(clean_pip_env: Path, tmp_path: Path) -> None:
    clean_pip_env.write_text("[global]\nindex-url = http://127.0.0.1:9/file\n")
    cache = tmp_path / "cache"
    discover_index_settings(env=os.environ, cache_dir=cache)
    (stored,) = (cache / "pip").glob("settings-*.json")
    stored.write_text(stored.read_text().replace('"format": 2', '"format": 1'))
    pipconfig._ask_pip.cache_clear()
    clean_pip_env.write_text("[global]\nindex-url = http://u:s3cret@127.0.0.1:9/file\n")
    discover_index_settings(env=os.environ, cache_dir=cache)
    assert not list((cache / "pip").glob("settings-*.json"))
