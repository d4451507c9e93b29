"""``bulletin web``: the small HTTP endpoint behind the digest's unsubscribe links (stdlib only).

``GET /unsubscribe?token=T`` shows a page with a button and changes nothing: link checkers and
mail scanners fetch URLs, and RFC 8058 3.2 says such a GET must not unsubscribe. ``POST`` to the
same URL unsubscribes: the mail client's one-click request (body ``List-Unsubscribe=One-Click``)
or the page's button. A forged or damaged token changes nothing and gets a page saying so.
``GET /health`` answers ``ok`` for load balancers; given a ``Monitor`` (``bulletin serve``
does), it answers the service's state as JSON, 503 when it is stale (a digest overdue), and
``GET /metrics`` gives counts in the Prometheus text format (version 0.0.4). Run it behind a
TLS-terminating proxy, and keep /metrics to the monitoring network.
"""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from bulletin.metrics import Metric, render_metrics

_MAX_BODY = 10_000


class Left(Protocol):
    """What an unsubscribe request did: whose (None: the token was not genuine)."""

    @property
    def address(self) -> str | None: ...


class Unsubscriber(Protocol):
    """Checks tokens and unsubscribes; the pipeline provides it."""

    def check(self, token: str) -> str | None: ...
    def unsubscribe(self, token: str) -> Left: ...


class Monitor(Protocol):
    """The service's health and counts; the pipeline provides it from the store."""

    def health(self) -> tuple[bool, dict[str, object]]: ...
    def metrics(self) -> Sequence[Metric]: ...


class WebServer:
    """The endpoint on ``host:port``; ``path`` is where unsubscribe requests come."""

    def __init__(
        self,
        unsubscriber: Unsubscriber,
        host: str,
        port: int,
        path: str,
        title: str,
        monitor: Monitor | None = None,
    ) -> None:
        handler = _handler(unsubscriber, "/" + path.strip("/"), title, monitor)
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True

    @property
    def address(self) -> tuple[str, int]:
        """The host and port it listens on (the port is chosen when 0 was asked for)."""
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    def serve_forever(self) -> None:
        """Answer requests until ``shutdown`` (or ^C)."""
        self.server.serve_forever(poll_interval=0.2)

    def start(self) -> threading.Thread:
        """Serve in a background thread (for tests and embedding)."""
        thread = threading.Thread(target=self.serve_forever, name="bulletin-web", daemon=True)
        thread.start()
        return thread

    def shutdown(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()


def _handler(
    unsubscriber: Unsubscriber, path: str, title: str, monitor: Monitor | None
) -> type[BaseHTTPRequestHandler]:
    attributes = {"unsubscriber": unsubscriber, "path_": path, "title": title, "monitor": monitor}
    return type("Handler", (_Handler,), attributes)


class _Handler(BaseHTTPRequestHandler):
    """The requests of one endpoint; ``_handler`` fills in what it serves."""

    server_version = "bulletin"
    unsubscriber: Unsubscriber
    path_: str  # where unsubscribe requests come
    title: str
    monitor: Monitor | None

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/health":
            self._health()
        elif url.path == "/metrics" and self.monitor is not None:
            body = render_metrics(self.monitor.metrics())
            self._send(HTTPStatus.OK, body, "text/plain; version=0.0.4; charset=utf-8")
        elif url.path.rstrip("/") != self.path_:
            self._page(HTTPStatus.NOT_FOUND, "Not found", "There is nothing here.")
        else:
            self._confirmation(_token(url.query))

    def _confirmation(self, token: str) -> None:
        """The page asking to confirm: a GET never unsubscribes (RFC 8058 3.2)."""
        address = self.unsubscriber.check(token) if token else None
        if address is None:
            self._invalid()
            return
        action = html.escape(f"{self.path_}?token={token}", quote=True)
        self._page(
            HTTPStatus.OK,
            "Unsubscribe?",
            f"Stop sending {self.title} to <strong>{html.escape(address)}</strong>?",
            f'<form method="post" action="{action}">'
            '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
            '<button type="submit">Unsubscribe</button></form>',
        )

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            self._page(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Too large", "")
            return
        self.rfile.read(length)  # List-Unsubscribe=One-Click (RFC 8058); nothing else
        if url.path.rstrip("/") != self.path_:
            self._page(HTTPStatus.NOT_FOUND, "Not found", "There is nothing here.")
            return
        left = self.unsubscriber.unsubscribe(_token(url.query))
        if left.address is None:
            self._invalid()
            return
        self._page(
            HTTPStatus.OK,
            "Unsubscribed",
            f"<strong>{html.escape(left.address)}</strong> will get no more of {self.title}.",
        )

    def _health(self) -> None:
        if self.monitor is None:
            self._send(HTTPStatus.OK, "ok\n", "text/plain")
            return
        try:
            healthy, details = self.monitor.health()
        except Exception as error:  # the store is unreachable: that is the answer
            healthy, details = False, {"state": "error", "error": str(error)}
        status = HTTPStatus.OK if healthy else HTTPStatus.SERVICE_UNAVAILABLE
        body = json.dumps(details, default=str, ensure_ascii=False, indent=1) + "\n"
        self._send(status, body, "application/json")

    def _invalid(self) -> None:
        self._page(
            HTTPStatus.BAD_REQUEST,
            "This link is not valid",
            "The link is incomplete or was changed, so nothing was done. Use the "
            "unsubscribe link of a recent digest, or reply to it and ask to leave the list.",
        )

    def _page(self, status: HTTPStatus, heading: str, text: str, extra: str = "") -> None:
        title = html.escape(self.title)
        body = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(heading)} · {title}</title></head>"
            '<body style="font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em">'
            f"<h1>{html.escape(heading)}</h1><p>{text}</p>{extra}</body></html>\n"
        )
        self._send(status, body, "text/html; charset=utf-8")

    def _send(self, status: HTTPStatus, body: str, kind: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "no-referrer")  # the URL holds the token
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return None  # the request line holds the token: keep it out of logs


def _token(query: str) -> str:
    values = parse_qs(query).get("token", [])
    return values[0] if len(values) == 1 else ""
