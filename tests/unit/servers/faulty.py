"""Servers on 127.0.0.1 that misbehave: one that never answers, one that drips its answer a byte
at a time, one that resets the first connections before it answers."""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from collections.abc import Callable


class _Server:
    """A threaded TCP server on a free 127.0.0.1 port running ``serve(connection)`` per
    connection; ``connections`` counts them; ``close`` stops every handler."""

    def __init__(self, serve: Callable[[socket.socket], None]) -> None:
        self.connections = 0
        self.stopped = threading.Event()
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                owner.connections += 1
                try:
                    serve(self.request)
                except OSError:
                    return

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()


class SilentServer(_Server):
    """Accepts every connection and reads the request, then never answers."""

    def __init__(self) -> None:
        super().__init__(self._serve)

    def _serve(self, connection: socket.socket) -> None:
        connection.recv(65536)
        self.stopped.wait()


class DripServer(_Server):
    """Sends a status line and headers promising a large page, then one byte every ``interval``
    seconds (``header_drip``: the headers too, a byte at a time)."""

    def __init__(self, interval: float, *, header_drip: bool = False) -> None:
        self.interval = interval
        self.header_drip = header_drip
        super().__init__(self._serve)

    def _serve(self, connection: socket.socket) -> None:
        connection.recv(65536)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000000\r\n\r\n"
        if self.header_drip:
            for byte in head:
                if self.stopped.wait(self.interval):
                    return
                connection.sendall(bytes([byte]))
        else:
            connection.sendall(head)
        while not self.stopped.wait(self.interval):
            connection.sendall(b" ")


class ResettingServer(_Server):
    """Resets the first ``resets`` connections (RST, no answer), then answers every request with
    ``body`` (200, ``content_type``)."""

    def __init__(self, resets: int, body: bytes, content_type: str = "text/html") -> None:
        self.resets = resets
        self.body = body
        self.content_type = content_type
        super().__init__(self._serve)

    def _serve(self, connection: socket.socket) -> None:
        connection.recv(65536)
        if self.connections <= self.resets:
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: "
            + self.content_type.encode()
            + b"\r\nConnection: close\r\nContent-Length: "
            + str(len(self.body)).encode()
            + b"\r\n\r\n"
            + self.body
        )
