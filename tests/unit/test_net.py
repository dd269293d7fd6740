"""Faulty and hostile servers on 127.0.0.1: every request ends by its deadline, transient
failures are tried again, a dead index is asked once, and nothing ends in a traceback."""

from __future__ import annotations

import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from servers.faulty import DripServer, ResettingServer, SilentServer
from servers.routes import Reply, Request, RouteServer

from muslwheels.config.model import Config, Defaults, RememberedProjects
from muslwheels.errors import ExitCode, ResolutionError, TagError
from muslwheels.names import redact
from muslwheels.plan.tags import index_names, parse_tags
from muslwheels.plan.versions import find_version, newest_version, python_allowed
from muslwheels.sources.cache import FORMAT, Fact, JsonCache
from muslwheels.sources.net import Deadlines, NetError, Openers, fetch, is_loopback, reason
from muslwheels.sources.packageindex import DistFile, PackageIndex, summarize, summary_to_json
from muslwheels.sources.pipconfig import IndexSettings
from muslwheels.sources.registry import RegistryClient, RegistryUnreachable

T = TypeVar("T")

FAST_BACKOFF = (0.01, 0.01, 0.01)
HTML = {"Content-Type": "text/html"}
CONFIG = Config(path="modules.toml", defaults=Defaults(pythons=("3.12",)), modules=())


def finishes(work: Callable[[], T], within: float = 20.0) -> T:
    """``work()``'s result (or its exception, raised here); a failure instead of a hang when it
    runs past ``within`` seconds. Not a speed measurement (bench/ does those): a bound."""
    results: list[T] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            results.append(work())
        except BaseException as exc:  # handed to the test's thread
            errors.append(exc)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(within), f"still waiting after {within} s"
    if errors:
        raise errors[0]
    return results[0]


def index_at(url: str, *extra: str, **deadlines: object) -> PackageIndex:
    settings = IndexSettings(index_url=url, extra_index_urls=extra)
    options: dict[str, object] = {"backoff": FAST_BACKOFF, **deadlines}
    return PackageIndex(settings, deadlines=Deadlines(**options))  # type: ignore[arg-type]


def page(*files: str) -> bytes:
    links = "".join(f'<a href="/files/{f}">{f}</a>' for f in files)
    return f"<!DOCTYPE html><html><body>{links}</body></html>".encode()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


@pytest.fixture
def web() -> Iterator[RouteServer]:
    server = RouteServer()
    yield server
    server.close()


# --- deadlines ------------------------------------------------------------------------------------


def test_a_server_that_never_answers_fails_at_the_request_deadline(silent: SilentServer) -> None:
    index = index_at(silent.url + "/simple", request=0.3)
    with pytest.raises(ResolutionError, match="is unreachable: timed out") as info:
        finishes(lambda: index.project("msgpack"))
    assert info.value.exit_code is ExitCode.RESOLUTION
    assert info.value.hint is not None and "--timeout" in info.value.hint


@pytest.mark.parametrize("header_drip", [False, True], ids=["body", "headers"])
def test_a_server_that_drips_its_answer_fails_at_the_request_deadline(header_drip: bool) -> None:
    # each byte comes within 0.05 s, so no socket read ever times out: only a total deadline ends it
    server = DripServer(0.05, header_drip=header_drip)
    try:
        index = index_at(server.url + "/simple", request=0.4)
        with pytest.raises(ResolutionError, match="timed out"):
            finishes(lambda: index.project("msgpack"))
    finally:
        server.close()


def test_a_dead_index_is_asked_once_per_run_whatever_the_number_of_tags(
    silent: SilentServer,
) -> None:
    tags = [f"mod{i}-py3.11-amd64" for i in range(10)]
    index = index_at(silent.url + "/simple", request=0.3)
    names = index_names(tags, modules=CONFIG)
    assert len(names) >= len(tags)

    def plan() -> None:
        index.prefetch(names)
        parse_tags(tags, modules=CONFIG, index=RememberedProjects(index))

    with pytest.raises(ResolutionError, match="timed out"):
        finishes(plan)
    assert 1 <= silent.connections <= 4  # the questions in flight when it first failed


def test_the_run_budget_is_shared_by_every_request(silent: SilentServer, web: RouteServer) -> None:
    web.routes["/simple/msgpack/"] = Reply(200, page("msgpack-1.0.tar.gz"), HTML)
    deadlines = Deadlines(request=10, budget=0.3, backoff=FAST_BACKOFF)
    slow = PackageIndex(IndexSettings(index_url=silent.url + "/simple"), deadlines=deadlines)
    with pytest.raises(ResolutionError, match="timed out"):
        finishes(lambda: slow.project("msgpack"))
    fine = PackageIndex(IndexSettings(index_url=web.url + "/simple"), deadlines=deadlines)
    with pytest.raises(ResolutionError, match=r"network budget of 0\.3 s is spent"):
        fine.project("msgpack")
    assert web.requests == []


def test_a_registry_that_never_answers_fails_at_the_deadline_and_is_asked_once(
    silent: SilentServer,
) -> None:
    host = silent.url.removeprefix("http://")
    client = RegistryClient(deadlines=Deadlines(request=0.3, backoff=FAST_BACKOFF))
    for _ in range(2):
        with pytest.raises(RegistryUnreachable, match="timed out"):
            finishes(lambda: client.tags(f"{host}/standin/python"))
    with pytest.raises(RegistryUnreachable, match="timed out"):
        client.platforms(f"{host}/standin/python:3.12")
    assert silent.connections == 1


def test_deadlines_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="positive"):
        Deadlines(request=0)
    with pytest.raises(ValueError, match="positive"):
        Deadlines(budget=-1)


# --- retries --------------------------------------------------------------------------------------


def test_reset_connections_are_tried_again() -> None:
    server = ResettingServer(2, page("msgpack-1.0.tar.gz"))
    try:
        project = index_at(server.url + "/simple").project("msgpack")
        assert project is not None and project.versions == ("1.0",)
        assert server.connections == 3
    finally:
        server.close()


def test_a_connection_that_keeps_failing_fails_after_the_last_retry() -> None:
    server = ResettingServer(100, b"")
    try:
        with pytest.raises(ResolutionError, match=r"unreachable: (Remote end closed|.*reset)"):
            index_at(server.url + "/simple").project("msgpack")
        assert server.connections == 1 + len(FAST_BACKOFF)
    finally:
        server.close()


def test_5xx_answers_are_tried_again(web: RouteServer) -> None:
    answers = [Reply(503, b"busy"), Reply(502, b"bad gateway")]

    def flaky(_request: Request) -> Reply:
        return answers.pop(0) if answers else Reply(200, page("msgpack-1.0.tar.gz"), HTML)

    web.routes["/simple/msgpack/"] = flaky
    project = index_at(web.url + "/simple").project("msgpack")
    assert project is not None and project.versions == ("1.0",)
    assert web.paths().count("/simple/msgpack/") == 3


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(404, None), (410, None), (400, "HTTP 400"), (401, "refused access"), (403, "refused access")],
)
def test_4xx_answers_are_never_tried_again(
    web: RouteServer, status: int, outcome: str | None
) -> None:
    web.routes["/simple/msgpack/"] = Reply(status, b"no")
    index = index_at(web.url + "/simple")
    if outcome is None:
        assert index.project("msgpack") is None
    else:
        with pytest.raises(ResolutionError, match=outcome):
            index.project("msgpack")
    assert web.paths() == ["/simple/msgpack/"]


def test_fetch_returns_the_last_5xx_when_the_retries_are_spent(web: RouteServer) -> None:
    web.routes["/x"] = Reply(500, b"down")
    opener = urllib.request.build_opener()
    answer = fetch(opener, urllib.request.Request(web.url + "/x"), Deadlines(backoff=(0.01,)))
    assert answer.status == 500 and answer.body == b"down"
    assert len(web.requests) == 2


def test_openers_are_one_per_key_and_make_no_tls_context_for_plain_http(web: RouteServer) -> None:
    web.routes["/x"] = Reply(200, b"plain")
    asked: list[str] = []

    def context_for(host: str) -> ssl.SSLContext:
        asked.append(host)
        return ssl.create_default_context()

    openers: Openers[str] = Openers(context_for)
    assert openers["a"] is openers["a"] and openers["a"] is not openers["b"]
    answer = fetch(openers["a"], urllib.request.Request(web.url + "/x"), Deadlines())
    assert answer.body == b"plain"
    assert asked == []  # the CA bundle is loaded only when an https request needs it
    https = web.url.replace("http://", "https://", 1) + "/x"  # a plain server: the handshake fails
    for _ in range(2):
        with pytest.raises(NetError):
            fetch(openers["a"], urllib.request.Request(https), Deadlines(backoff=FAST_BACKOFF))
    assert asked == ["a"]  # made once for the key, then kept


@pytest.mark.parametrize("url", ["gopher://127.0.0.1/", "http:///nohost"])
def test_fetch_does_not_retry_what_cannot_get_better(url: str) -> None:
    pauses: list[float] = []
    opener = urllib.request.build_opener()
    with pytest.raises(NetError):
        fetch(opener, urllib.request.Request(url), Deadlines(sleep=pauses.append))
    assert pauses == []


def test_fetch_pauses_as_the_backoff_says_between_attempts() -> None:
    server = ResettingServer(100, b"")
    pauses: list[float] = []
    try:
        opener = urllib.request.build_opener()
        with pytest.raises(NetError):
            fetch(opener, urllib.request.Request(server.url), Deadlines(sleep=pauses.append))
        assert pauses == [0.25, 0.5, 1.0]
    finally:
        server.close()


# --- answers that used to end in a traceback ------------------------------------------------------


def test_a_version_with_5000_digits_is_skipped_as_pip_skips_unparsable_ones(
    web: RouteServer,
) -> None:
    huge = "1" * 5000
    web.routes["/simple/msgpack/"] = Reply(
        200, page(f"msgpack-{huge}.tar.gz", "msgpack-1.0.tar.gz"), HTML
    )
    project = index_at(web.url + "/simple").project("msgpack")
    assert project is not None and project.versions == ("1.0",)


def test_a_version_with_5000_digits_read_back_from_the_cache(tmp_path: Path) -> None:
    huge = "1" * 5000
    source = "http://127.0.0.1:9/simple"  # nothing listens there: the answer must come from disk
    record = summary_to_json(summarize("msgpack", [DistFile("msgpack-1.0.tar.gz")]))
    assert isinstance(record, dict) and isinstance(record["versions"], list)
    record["versions"].append([huge, False])
    record["requires_python"] = [["1.0", False, ">=" + huge]]
    cache = JsonCache(tmp_path, clock=time.time)
    cache.write("index", f"msgpack on {redact(source)}", Fact(record, time.time()))
    index = PackageIndex(IndexSettings(index_url=source), cache=cache, cache_loopback=True)
    project = index.project("msgpack")
    assert project is not None and huge in project.versions
    assert newest_version(project) == "1.0"
    assert newest_version(project, python="3.12") == "1.0"
    assert python_allowed(project, "1.0", "3.12")  # an unreadable Requires-Python admits all
    assert find_version(project, "2.0") is None


@pytest.mark.parametrize("fetched_at", ["NaN", "-Infinity", "Infinity", "1e999", "true"])
def test_a_cache_file_with_a_time_that_is_not_a_time_counts_as_missing(
    tmp_path: Path, fetched_at: str
) -> None:
    cache = JsonCache(tmp_path)
    path = cache.path_for("index", "key")
    assert path is not None
    path.parent.mkdir(parents=True)
    path.write_text(f'{{"format": {FORMAT}, "key": "key", "fetched_at": {fetched_at}, "value": 1}}')
    assert cache.read("index", "key") is None
    assert cache.fetch("index", "key", lambda: 2, what="it").value == 2


def test_a_cache_entry_dated_in_the_future_expires(tmp_path: Path) -> None:
    now = 1_000_000.0
    cache = JsonCache(tmp_path, clock=lambda: now)
    cache.write("index", "key", Fact("stored", now + 86400))
    asked: list[str] = []

    def ask() -> str:
        asked.append("again")
        return "fresh"

    assert cache.fetch("index", "key", ask, what="it").value == "fresh"
    assert asked == ["again"]
    # offline, any stored answer is accepted, whatever its date
    offline = JsonCache(tmp_path, clock=lambda: now - 10**6, offline=True)
    assert offline.fetch("index", "key", ask, what="it").value == "fresh"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://[::1/simple/", "not a URL (Invalid IPv6 URL)"),
        ("http://127.0.0.1:port/simple/", "not a URL"),
        ("not a url", "not a URL (no scheme://)"),
        ("ftp://127.0.0.1/simple/", "unsupported URL scheme 'ftp'"),
        ("file:///nonexistent/simple/", "it does not exist"),
        ("http:///simple/", "not a URL (no host)"),
    ],
)
def test_a_primary_index_that_cannot_be_one_is_an_error_even_with_an_extra_index(
    web: RouteServer, url: str, problem: str
) -> None:
    web.routes["/simple/msgpack/"] = Reply(200, page("msgpack-1.0.tar.gz"), HTML)
    index = index_at(url, web.url + "/simple")
    with pytest.raises(ResolutionError) as info:
        index.project("msgpack")
    assert info.value.exit_code is ExitCode.RESOLUTION
    assert problem in info.value.message and "\n" not in info.value.message
    assert web.requests == []


def test_an_extra_index_that_cannot_be_one_is_left_out_with_a_note(web: RouteServer) -> None:
    web.routes["/simple/msgpack/"] = Reply(200, page("msgpack-1.0.tar.gz"), HTML)
    index = index_at(web.url + "/simple", "http://[::1/simple/", "file:///nonexistent/simple/")
    assert index.project("msgpack") is not None
    assert index.notes == [
        "ignored index 'http://[::1/simple/': not a URL (Invalid IPv6 URL)",
        "ignored index 'file:///nonexistent/simple/': it does not exist",
    ]


# --- broken pages, redirects ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "problem"),
    [(b"", "an empty page"), (b"  \n", "an empty page"), (b"gateway says hi", "not an HTML page")],
)
def test_a_broken_page_is_an_index_error_not_an_ambiguous_tag(
    web: RouteServer, body: bytes, problem: str
) -> None:
    web.routes["*"] = Reply(200, body, HTML)  # every name "exists"
    index = index_at(web.url + "/simple")
    with pytest.raises(ResolutionError, match=f"malformed answer: {problem}") as info:
        parse_tags(["msgpack-py3.11-amd64"], modules=CONFIG, index=index)
    assert info.value.exit_code is ExitCode.RESOLUTION


def test_a_server_answering_one_page_for_every_name_confirms_no_reading(web: RouteServer) -> None:
    web.routes["*"] = Reply(200, page("msgpack-1.0.tar.gz"), HTML)
    index = index_at(web.url + "/simple")
    assert index.project("msgpack") is not None
    assert index.project("msgpack-py3-11") is None  # the page lists no file of it
    parsed = parse_tags(["msgpack-py3.11-amd64"], modules=CONFIG, index=index)
    assert [r.module for r in parsed] == ["msgpack"]


def test_an_empty_project_page_is_no_project(web: RouteServer) -> None:
    web.routes["*"] = Reply(200, b"<html><body></body></html>", HTML)
    with pytest.raises(TagError, match="unknown module"):
        parse_tags(["msgpack"], modules=CONFIG, index=index_at(web.url + "/simple"))


def test_a_redirect_loop_is_one_line(web: RouteServer) -> None:
    web.routes["/simple/msgpack/"] = Reply(302, b"", {"Location": "/simple/msgpack/"})
    with pytest.raises(ResolutionError) as info:
        index_at(web.url + "/simple").project("msgpack")
    assert "\n" not in info.value.message
    assert "HTTP 302 redirects in a loop or more than 10 of them" in info.value.message


# --- small parts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.1:5000", True),
        ("[::1]:5000", True),
        ("::1", True),
        ("LOCALHOST", True),
        ("registry.localhost:5000", True),
        ("10.0.0.1:5000", False),
        ("example.invalid", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_reason_is_one_line() -> None:
    assert reason(ValueError("a\nb  c")) == "a b c"
    assert reason(TimeoutError()) == "timed out"


def test_redact_never_raises_and_hides_passwords() -> None:
    assert redact("http://u:secret@[::1/simple/") == "http://***@[::1/simple/"
    assert redact("https://u:secret@host/simple/") == "https://u:***@host/simple/"
    assert len(redact("http://h/" + "x" * 10_000)) == 200
