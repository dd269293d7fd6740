from __future__ import annotations

import json
from pathlib import Path

import pytest

from muslwheels.errors import ResolutionError
from muslwheels.sources.cache import (
    DEFAULT_MAX_AGE,
    Fact,
    Json,
    JsonCache,
    cache_dir_from,
    describe_age,
)


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Asker:
    """Counts how often the outside world was asked."""

    def __init__(self, value: Json) -> None:
        self.value = value
        self.calls = 0

    def __call__(self) -> Json:
        self.calls += 1
        return self.value


def test_asks_once_then_memory_then_disk(tmp_path: Path) -> None:
    clock = Clock()
    ask = Asker({"versions": ["1.0"]})
    cache = JsonCache(tmp_path, clock=clock)
    first = cache.fetch("index", "project cffi", ask, what="x")
    assert first == Fact({"versions": ["1.0"]}, clock.now, cached=False)
    assert cache.fetch("index", "project cffi", ask, what="x") is first
    assert ask.calls == 1

    clock.now += 600
    later = JsonCache(tmp_path, clock=clock)  # a new run
    fact = later.fetch("index", "project cffi", ask, what="x")
    assert ask.calls == 1
    assert fact.cached
    assert fact.value == {"versions": ["1.0"]}
    assert fact.age(clock.now) == 600


def test_expired_answers_are_asked_again(tmp_path: Path) -> None:
    clock = Clock()
    JsonCache(tmp_path, clock=clock).fetch("index", "k", Asker(1), what="x")
    clock.now += DEFAULT_MAX_AGE + 1
    ask = Asker(2)
    fact = JsonCache(tmp_path, clock=clock).fetch("index", "k", ask, what="x")
    assert (ask.calls, fact.value, fact.cached) == (1, 2, False)
    # and the new answer was stored
    assert JsonCache(tmp_path, clock=clock).fetch("index", "k", Asker(3), what="x").value == 2


def test_refresh_bypasses_the_disk_but_writes_it(tmp_path: Path) -> None:
    JsonCache(tmp_path).fetch("index", "k", Asker("old"), what="x")
    ask = Asker("new")
    assert JsonCache(tmp_path, refresh=True).fetch("index", "k", ask, what="x").value == "new"
    assert ask.calls == 1
    assert JsonCache(tmp_path).fetch("index", "k", Asker("other"), what="x").value == "new"


def test_offline_uses_any_age_and_reports_it(tmp_path: Path) -> None:
    clock = Clock()
    JsonCache(tmp_path, clock=clock).fetch("registry", "tags python", Asker(["3.12"]), what="x")
    clock.now += 10 * DEFAULT_MAX_AGE
    ask = Asker(["never"])
    fact = JsonCache(tmp_path, offline=True, clock=clock).fetch(
        "registry", "tags python", ask, what="x"
    )
    assert (fact.value, ask.calls, fact.cached) == (["3.12"], 0, True)
    assert fact.age(clock.now) == 10 * DEFAULT_MAX_AGE


def test_offline_missing_is_a_clear_error(tmp_path: Path) -> None:
    ask = Asker(1)
    cache = JsonCache(tmp_path, offline=True)
    with pytest.raises(ResolutionError) as info:
        cache.fetch("index", "project nope", ask, what='the versions of "nope"')
    assert str(info.value) == f'the versions of "nope" is not in the cache ({tmp_path})'
    assert info.value.hint is not None and "without --offline" in info.value.hint
    assert ask.calls == 0


def test_none_answers_are_cached(tmp_path: Path) -> None:
    JsonCache(tmp_path).fetch("index", "project gone", Asker(None), what="x")
    fact = JsonCache(tmp_path, offline=True).fetch("index", "project gone", Asker(1), what="x")
    assert fact.value is None and fact.cached


def test_layout_and_atomic_files(tmp_path: Path) -> None:
    cache = JsonCache(tmp_path, clock=Clock(5.0))
    cache.fetch("registry", "tags 127.0.0.1:5000/standin/python", Asker(["a"]), what="x")
    files = list((tmp_path / "registry").iterdir())
    assert len(files) == 1
    assert files[0].name.startswith("tags_127.0.0.1_5000_standin_python-")
    assert files[0].suffix == ".json"
    record = json.loads(files[0].read_text())
    assert record == {
        "format": 2,
        "key": "tags 127.0.0.1:5000/standin/python",
        "fetched_at": 5.0,
        "value": ["a"],
    }
    assert cache.path_for("registry", "tags 127.0.0.1:5000/standin/python") == files[0]


def test_keys_that_slug_alike_do_not_collide(tmp_path: Path) -> None:
    cache = JsonCache(tmp_path)
    cache.fetch("index", "a/b", Asker(1), what="x")
    cache.fetch("index", "a:b", Asker(2), what="x")
    fresh = JsonCache(tmp_path, offline=True)
    assert fresh.fetch("index", "a/b", Asker(0), what="x").value == 1
    assert fresh.fetch("index", "a:b", Asker(0), what="x").value == 2


@pytest.mark.parametrize(
    "content", ["{not json", "[]", '{"format": 99, "key": "k", "fetched_at": 1, "value": 1}']
)
def test_unreadable_records_count_as_missing(tmp_path: Path, content: str) -> None:
    cache = JsonCache(tmp_path)
    path = cache.path_for("index", "k")
    assert path is not None
    path.parent.mkdir(parents=True)
    path.write_text(content)
    ask = Asker(7)
    assert cache.fetch("index", "k", ask, what="x").value == 7
    assert ask.calls == 1


def test_invalid_values_count_as_missing(tmp_path: Path) -> None:
    JsonCache(tmp_path).fetch("index", "k", Asker("a string"), what="x")
    ask = Asker([1])
    fact = JsonCache(tmp_path).fetch(
        "index", "k", ask, what="x", valid=lambda v: isinstance(v, list)
    )
    assert (fact.value, ask.calls) == ([1], 1)


def test_failures_are_not_remembered(tmp_path: Path) -> None:
    cache = JsonCache(tmp_path)

    def broken() -> Json:
        raise ResolutionError("unreachable")

    with pytest.raises(ResolutionError):
        cache.fetch("index", "k", broken, what="x")
    assert cache.fetch("index", "k", Asker(1), what="x").value == 1


def test_memory_only_cache() -> None:
    cache = JsonCache(None)
    ask = Asker(1)
    cache.fetch("index", "k", ask, what="x")
    cache.fetch("index", "k", ask, what="x")
    assert ask.calls == 1
    with pytest.raises(ResolutionError, match=r"not in the cache$"):
        JsonCache(None, offline=True).fetch("index", "k", ask, what="x")


def test_unwritable_cache_dir_is_not_fatal(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    cache = JsonCache(blocker / "cache")
    assert cache.fetch("index", "k", Asker(1), what="x").value == 1


def test_refresh_and_offline_exclude_each_other(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exclude"):
        JsonCache(tmp_path, refresh=True, offline=True)


def test_cache_dir_from() -> None:
    home = Path("/home/u")
    assert cache_dir_from({}, home) == Path("/home/u/.cache/muslwheels")
    assert cache_dir_from({"XDG_CACHE_HOME": "/var/c"}, home) == Path("/var/c/muslwheels")
    assert cache_dir_from({"XDG_CACHE_HOME": "rel"}, home) == Path("/home/u/.cache/muslwheels")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5, "just now"),
        (12 * 60 + 3, "12 min ago"),
        (3 * 3600, "3 h ago"),
        (5 * 86400, "5 days ago"),
    ],
)
def test_describe_age(seconds: float, text: str) -> None:
    assert describe_age(seconds) == text


def test_local_answers_are_remembered_for_the_run_only(tmp_path: Path) -> None:
    cache = JsonCache(tmp_path, offline=True)
    ask = Asker(["3.11-bookworm"])
    assert cache.fetch("registry", "k", ask, what="x", persist=False).value == ["3.11-bookworm"]
    cache.fetch("registry", "k", ask, what="x", persist=False)
    assert ask.calls == 1
    assert not (tmp_path / "registry").exists()
