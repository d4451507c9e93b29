"""Serving the application with uvicorn (its one importer), set for hostile and busy traffic.

The listening socket is bound here, before uvicorn starts, so that a port in use is an error
at once (not a log line in a background thread) and the listen backlog is ours: the standard
library's default of 5 dropped readers' one-click requests under load. Requests are answered
on one event loop, blocking work in a thread pool; idle connections are closed after a few
seconds, and past ``max_connections`` new ones get 503 instead of a slot.
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from starlette.types import ASGIApp

BACKLOG = 2048
MAX_CONNECTIONS = 1000
KEEP_ALIVE_SECONDS = 5


class WebServer:
    """An application served on ``host:port`` (0: a free port), in this thread or another."""

    def __init__(self, app: ASGIApp, host: str, port: int) -> None:
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
            http="h11",  # the pure-Python parser: it refuses malformed Content-Length with 400
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
