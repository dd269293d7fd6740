"""What the HTTP clients (package index, registry) and the build share about URLs and sockets.

``is_loopback`` decides which hosts are this machine (spoken to in plain HTTP, not cached on
disk, reached from a build through the host's network); ``reason`` turns a urllib or socket
failure into the few words a message needs; :class:`Openers` keeps a client's openers, which
make a TLS context only when a request needs one.

:func:`fetch` is the one way a request is made: it has a total deadline (connecting, name
resolution and a server that sends one byte every few seconds included), retries connection
failures, resets and 5xx answers with a backoff within that deadline (never a 4xx), and spends
from the run's :class:`Deadlines` budget.
"""

from __future__ import annotations

import functools
import http.client
import ipaddress
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

_Key = TypeVar("_Key")

#: One request (its retries included) may take this long, in seconds ...
DEFAULT_REQUEST_TIMEOUT = 30.0
#: ... and all the requests of a run together this long.
DEFAULT_RUN_BUDGET = 120.0
#: The pauses before the second, third and fourth attempt of a request that failed transiently.
DEFAULT_BACKOFF = (0.25, 0.5, 1.0)
#: The largest answer body read (an index page, a manifest, a token): more is refused.
MAX_ANSWER_BYTES = 64 << 20


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine: ``localhost`` (and ``*.localhost``), 127.0.0.0/8 or
    ``::1``. ``host`` may carry a port (``127.0.0.1:5000``, ``[::1]:5000``) or IPv6 brackets."""
    if host.startswith("["):
        name = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        name = host.split(":", 1)[0]
    else:
        name = host
    name = name.lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` names this machine (see :func:`is_loopback`); False for a malformed URL."""
    try:
        host = urllib.parse.urlsplit(url).hostname or ""
    except ValueError:
        return False
    return is_loopback(host)


def reason(exc: BaseException) -> str:
    """A urllib or socket failure in a few words: ``Connection refused``, ``timed out``, ..."""
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        inner = exc.reason
        if isinstance(inner, (socket.timeout, TimeoutError)):
            return "timed out"
        text = str(inner.strerror if isinstance(inner, OSError) and inner.strerror else inner)
    elif isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    else:
        text = str(exc)
    return " ".join(text.split()) or type(exc).__name__


class LazyHTTPSHandler(urllib.request.HTTPSHandler):
    """An HTTPS handler whose TLS context is made once, when the first https request needs it
    (loading a CA bundle costs ~30 ms, more than a plain-HTTP request to a loopback server)."""

    def __init__(self, make_context: Callable[[], ssl.SSLContext]) -> None:
        super().__init__()
        self._make_context = make_context
        self._made: ssl.SSLContext | None = None

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        if self._made is None:
            self._made = self._make_context()
        self._context = self._made
        return super().https_open(req)


@dataclass
class Deadlines:
    """How long the network may keep a run waiting: each request (retries included) ``request``
    seconds, all of them together ``budget`` seconds from the first request. Shared by the index
    and registry clients of one run (the budget is spent by whichever asks). It also remembers
    the hosts that gave no answer at all: the run does not wait for them again."""

    request: float = DEFAULT_REQUEST_TIMEOUT
    budget: float = DEFAULT_RUN_BUDGET
    backoff: Sequence[float] = DEFAULT_BACKOFF
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _end: float | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _down: dict[str, NetError] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if not (self.request > 0 and self.budget > 0):
            raise ValueError("timeouts must be positive")

    def next_deadline(self) -> float:
        """The moment (on ``clock``) a request starting now must be done by."""
        now = self.clock()
        with self._lock:
            if self._end is None:
                self._end = now + self.budget
            return min(now + self.request, self._end)

    def budget_spent(self) -> bool:
        return self._end is not None and self.clock() >= self._end

    def failure_of(self, origin: str) -> NetError | None:
        """Why ``origin`` (``scheme://host:port``) gave no answer earlier in the run, or None."""
        with self._lock:
            return self._down.get(origin)

    def gave_no_answer(self, origin: str, error: NetError) -> None:
        with self._lock:
            self._down.setdefault(origin, error)


class NetError(Exception):
    """A request got no usable HTTP answer: ``reason`` in a few words (one line);
    ``certificate`` holds the TLS verification failure when that was the cause."""

    def __init__(
        self, reason: str, *, certificate: ssl.SSLCertVerificationError | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.certificate = certificate

    def about(self, subject: str) -> str:
        """The one-line message of a client that asked ``subject`` (``registry <host>``...)."""
        if self.certificate is not None:
            return f"TLS verification failed for {subject}: {self.reason}"
        return f"{subject} is unreachable: {self.reason}"


@dataclass(frozen=True)
class Answer:
    """An HTTP answer of any status (urllib's HTTPError included): what the clients read."""

    status: int
    reason: str  # the status line's words, on one line
    headers: tuple[tuple[str, str], ...]
    body: bytes
    url: str  # after redirects

    def header(self, name: str, default: str = "") -> str:
        """A header's value, its name compared case-insensitively (the first one, if repeated)."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), default)


_REDIRECT_LOOP = urllib.request.HTTPRedirectHandler.inf_msg
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: Headers that carry credentials: never sent on to another origin.
_CREDENTIAL_HEADERS = ("Authorization", "Proxy-Authorization", "Cookie")


def same_origin(first: str, second: str) -> bool:
    """Whether two URLs share scheme, host and port (a missing port is the scheme's default);
    False when either does not parse."""
    try:
        a, b = urllib.parse.urlsplit(first), urllib.parse.urlsplit(second)
        a_scheme, b_scheme = a.scheme.lower(), b.scheme.lower()
        a_port = a.port or _DEFAULT_PORTS.get(a_scheme)
        b_port = b.port or _DEFAULT_PORTS.get(b_scheme)
    except ValueError:
        return False
    return (a_scheme, a.hostname, a_port) == (b_scheme, b.hostname, b_port)


class SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects as urllib does, but send credentials (``Authorization``, cookies) only to
    the origin (scheme, host and port) they were meant for, as pip and requests do: urllib's own
    handler copies every header to wherever the server points."""

    def redirect_request(  # noqa: PLR0917 (urllib's signature)
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is None or same_origin(req.full_url, new.full_url):
            return new
        for name in _CREDENTIAL_HEADERS:
            for store in (new.headers, new.unredirected_hdrs):
                for key in [k for k in store if k.lower() == name.lower()]:
                    del store[key]
        return new


class Openers(Generic[_Key]):
    """A client's urllib openers for the run, one per key (a TLS setting, a host): each follows
    redirects with :class:`SameOriginRedirects` and makes the key's TLS context
    (``context_for(key)``) only at its first https request."""

    def __init__(self, context_for: Callable[[_Key], ssl.SSLContext]) -> None:
        self._context_for = context_for
        self._made: dict[_Key, urllib.request.OpenerDirector] = {}

    def __getitem__(self, key: _Key) -> urllib.request.OpenerDirector:
        if key not in self._made:
            https = LazyHTTPSHandler(functools.partial(self._context_for, key))
            self._made[key] = urllib.request.build_opener(https, SameOriginRedirects())
        return self._made[key]


def _answer_of_error(exc: urllib.error.HTTPError) -> Answer:
    text = str(exc.reason)
    if text.startswith(_REDIRECT_LOOP):
        text = "redirects in a loop or more than 10 of them"
    try:
        body = exc.read(MAX_ANSWER_BYTES) if exc.fp is not None else b""
    except (OSError, http.client.HTTPException):
        body = b""
    received = tuple(exc.headers.items()) if exc.headers is not None else ()
    return Answer(exc.code, " ".join(text.split()), received, body, exc.geturl())


def _transient(exc: BaseException) -> bool:
    """Worth another attempt: refused or reset connections, a name that did not resolve now, a
    connection closed before the answer. Not: TLS verification, malformed URLs or answers."""
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        if not isinstance(exc.reason, BaseException):
            return False  # urllib's own refusal: an unknown URL type, no host given
        exc = exc.reason
    if isinstance(exc, ssl.SSLCertVerificationError):
        return False
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return False  # the deadline is spent: see fetch
    if isinstance(exc, (http.client.RemoteDisconnected, http.client.IncompleteRead)):
        return True
    return isinstance(exc, OSError) and not isinstance(exc, ssl.SSLError)


def _attempt(
    opener: urllib.request.OpenerDirector, request: urllib.request.Request, timeout: float
) -> Answer:
    try:
        with opener.open(request, timeout=timeout) as response:
            body = response.read(MAX_ANSWER_BYTES + 1)
            if len(body) > MAX_ANSWER_BYTES:
                raise ValueError(f"the answer is larger than the {MAX_ANSWER_BYTES} bytes allowed")
            return Answer(
                response.status,
                " ".join(str(response.reason).split()),
                tuple(response.headers.items()),
                body,
                response.geturl(),
            )
    except urllib.error.HTTPError as exc:
        return _answer_of_error(exc)


def _within(deadline: float, clock: Callable[[], float], work: Callable[[], Answer]) -> Answer:
    """``work()`` in a daemon thread, given up (NetError "timed out") at ``deadline``: socket
    timeouts bound each read, not a server that sends a byte every few seconds, nor a name
    lookup. A thread given up on ends with its socket's own timeout or the process."""
    outcome: list[Answer | BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # handed to the waiting thread
            outcome.append(exc)
        done.set()

    threading.Thread(target=run, name="muslwheels-http", daemon=True).start()
    if not done.wait(max(0.0, deadline - clock())):
        raise NetError("timed out")
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


def _origin(url: str) -> str:
    try:
        parts = urllib.parse.urlsplit(url)
        return f"{parts.scheme}://{parts.hostname}:{parts.port}".lower()
    except ValueError:
        return url


def fetch(
    opener: urllib.request.OpenerDirector,
    request: urllib.request.Request,
    deadlines: Deadlines,
) -> Answer:
    """The answer to ``request`` (any HTTP status), within one request deadline.

    Connection failures, resets and 5xx answers are tried again after the pauses of
    ``deadlines.backoff`` while the deadline allows; the last 5xx answer is returned. NetError
    when no answer came: timed out, the run's budget spent, refused, TLS verification failed,
    not HTTP, a malformed URL. A host that gave no answer is not asked again in the run: its
    NetError comes back at once.
    """
    origin = _origin(request.full_url)
    earlier = deadlines.failure_of(origin)
    if earlier is not None:
        raise NetError(earlier.reason, certificate=earlier.certificate)
    if deadlines.budget_spent():
        raise NetError(f"the run's network budget of {deadlines.budget:g} s is spent")
    try:
        return _fetch(opener, request, deadlines)
    except NetError as error:
        deadlines.gave_no_answer(origin, error)
        raise


def _fetch(
    opener: urllib.request.OpenerDirector,
    request: urllib.request.Request,
    deadlines: Deadlines,
) -> Answer:
    deadline = deadlines.next_deadline()
    clock = deadlines.clock
    pauses = list(deadlines.backoff)
    while True:
        left = deadline - clock()
        if left <= 0:
            raise NetError("timed out")
        try:
            answer = _within(deadline, clock, functools.partial(_attempt, opener, request, left))
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, ssl.SSLCertVerificationError):
                raise NetError(
                    exc.reason.verify_message or str(exc.reason), certificate=exc.reason
                ) from exc
            failure: NetError | None = NetError(reason(exc))
            if not _transient(exc):
                raise NetError(reason(exc)) from exc
        except (OSError, ValueError, http.client.HTTPException) as exc:
            # timeouts while reading, resets, answers that are not HTTP, malformed URLs
            failure = NetError(reason(exc))
            if not _transient(exc):
                raise NetError(reason(exc)) from exc
        else:
            if answer.status < 500:
                return answer
            failure = None
        # a transient failure: again after a pause, if the deadline leaves room for it
        if not pauses or clock() + pauses[0] >= deadline:
            if failure is None:
                return answer
            raise failure
        deadlines.sleep(pauses.pop(0))
