"""Serving the application with uvicorn (its one importer), set for hostile and busy traffic.

The listening socket is bound here, before uvicorn starts, so that a port in use is an error
at once (not a log line in a background thread) and the listen backlog is ours: the standard
library's default of 5 dropped readers' one-click requests under load. Requests are answered
on one event loop, blocking work in a thread pool; idle connections are closed after a few
seconds, a request that does not arrive whole within ``request_seconds`` is cut off
(``DeadlineProtocol``), and past ``MAX_CONNECTIONS`` new ones get 503 instead of a slot.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

BACKLOG = 2048
MAX_CONNECTIONS = 1000
KEEP_ALIVE_SECONDS = 5
REQUEST_SECONDS = 10.0  # web.request_timeout: a whole request (headers and body) must come in
MAX_HEADER_BYTES = 16 * 1024  # h11 answers 400 to a request head larger than this


class DeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, with a deadline for each request to arrive whole.

    uvicorn times out idle keep-alive connections, but not a client that sends its request a
    byte at a time, or opens a connection and says nothing (slowloris): each such client
    would hold a connection, and with it a slot of ``MAX_CONNECTIONS``, for ever. Here a
    timer starts with the connection, and again with the first byte of each next request; it
    stops when the request's last byte is in, and if it fires first the connection is closed.
    """

    deadline: float = REQUEST_SECONDS

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._timer: asyncio.TimerHandle | None = self.loop.call_later(self.deadline, self._late)

    def data_received(self, data: bytes) -> None:
        if self._timer is None and (self.cycle is None or self.cycle.response_complete):
            self._timer = self.loop.call_later(self.deadline, self._late)  # the next request
        super().data_received(data)
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and not cycle.more_body:
            self._stop()  # this request is in whole: the application has it now

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        super().connection_lost(exc)

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _late(self) -> None:
        self._timer = None
        if not self.transport.is_closing():
            self.transport.close()


def _protocol(seconds: float) -> type[DeadlineProtocol]:
    """The protocol class with a deadline of ``seconds`` (uvicorn takes a class)."""
    return type("DeadlineProtocol", (DeadlineProtocol,), {"deadline": seconds})


class WebServer:
    """An application served on ``host:port`` (0: a free port), in this thread or another."""

    def __init__(
        self, app: ASGIApp, host: str, port: int, request_seconds: float = REQUEST_SECONDS
    ) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.socket.bind((host, port))
            self.socket.listen(BACKLOG)
        except OSError:
            self.socket.close()
            raise
        config = uvicorn.Config(
            app,
            log_config=None,  # bulletin's own logging; uvicorn's errors still reach it
            access_log=False,  # request lines hold tokens: keep them out of logs
            backlog=BACKLOG,
            limit_concurrency=MAX_CONNECTIONS,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            timeout_graceful_shutdown=5,
            server_header=False,
            date_header=True,
            lifespan="off",
            # The pure-Python parser (it refuses malformed Content-Length with 400), with a
            # deadline for each request.
            http=_protocol(request_seconds),
            h11_max_incomplete_event_size=MAX_HEADER_BYTES,
            # X-Forwarded-For is believed from a proxy on this host only (uvicorn's default,
            # said here because the rate limits count client addresses).
            proxy_headers=True,
            forwarded_allow_ips="127.0.0.1",
        )
        self.server = uvicorn.Server(config)
        self.thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The host and port it listens on (the port is chosen when 0 was asked for)."""
        host, port = self.socket.getsockname()[:2]
        return str(host), int(port)

    def serve_forever(self) -> None:
        """Answer requests until ``shutdown`` (or ^C)."""
        self.server.run(sockets=[self.socket])

    def start(self) -> threading.Thread:
        """Serve in a background thread (for ``bulletin serve`` and tests); ready on return."""
        self.thread = threading.Thread(target=self.serve_forever, name="bulletin-web", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.thread

    def shutdown(self) -> None:
        """Stop serving, let requests in progress finish, and close the socket."""
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(10)
        self.socket.close()
