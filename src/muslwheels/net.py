"""What the HTTP clients (package index, registry) and the build share about URLs and sockets.

``is_loopback`` decides which hosts are this machine (spoken to in plain HTTP, not cached on
disk, reached from a build through the host's network); ``reason`` turns a urllib or socket
failure into the few words a message needs; ``LazyHTTPSHandler`` makes a TLS context only when
a request needs one.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable


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
    """An HTTPS handler whose TLS context is made when the first https request needs it (loading
    a CA bundle costs ~30 ms, more than a plain-HTTP request to a loopback server)."""

    def __init__(self, make_context: Callable[[], ssl.SSLContext]) -> None:
        super().__init__()
        self._make_context = make_context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        self._context = self._make_context()
        return super().https_open(req)
