"""A real HTTP server on loopback that plays upstream feeds and a WebSub hub for the tests.

Each path answers with a ``Reply`` or with a function of the request; every request is
recorded with its headers (and a POST's form), so tests can see what bulletin sent.
``conditional`` answers as a well-behaved server does: 304 when the validators match.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

UPSTREAM = Path(__file__).parent / "upstream"
# The W3C validator, in the shared tools beside the checkout (../shared/tools/...).
VALIDATOR = Path(__file__).resolve().parents[2] / "shared" / "tools" / "feedvalidator" / "fv.py"


@dataclass
class Reply:
    """What a path answers."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drip: float = 0.0  # seconds between single bytes of the body; 0: all at once


@dataclass(frozen=True)
class Request:
    """A request the server received."""

    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    form: tuple[tuple[str, str], ...] = ()


Handler = Callable[[Request], Reply]


class FeedServer:
    """A threading HTTP server on 127.0.0.1 with routes set by the test."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[Request] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        # A short poll: shutdown() waits for it, and every test stops a server.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_port}{path}"

    def route(self, path: str, answer: Reply | Handler) -> None:
        self.routes[path] = answer if callable(answer) else (lambda _request: answer)

    def hits(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def conditional(
        self,
        path: str,
        body: bytes,
        content_type: str = "application/rss+xml; charset=utf-8",
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> None:
        """Serve ``body`` with validators, answering 304 when the request's match."""

        def answer(request: Request) -> Reply:
            headers = {"Content-Type": content_type}
            if etag:
                headers["ETag"] = etag
            if last_modified:
                headers["Last-Modified"] = last_modified
            match_etag = etag is not None and request.headers.get("if-none-match") == etag
            match_date = (
                last_modified is not None
                and request.headers.get("if-modified-since") == last_modified
            )
            if match_etag or (match_date and "if-none-match" not in request.headers):
                return Reply(304, b"", headers)
            return Reply(200, body, headers)

        self.route(path, answer)


def _handler_for(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: object) -> None:
            pass

        def do_GET(self) -> None:
            self._answer(())

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = tuple(parse_qsl(self.rfile.read(length).decode()))
            self._answer(form)

        def _answer(self, form: tuple[tuple[str, str], ...]) -> None:
            headers = {name.lower(): value for name, value in self.headers.items()}
            request = Request(self.command, self.path, headers, form)
            server.requests.append(request)
            handler = server.routes.get(self.path)
            reply = handler(request) if handler else Reply(404, b"not here")
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.status != 304:
                self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            try:
                if reply.drip:
                    for index in range(len(reply.body)):
                        self.wfile.write(reply.body[index : index + 1])
                        self.wfile.flush()
                        time.sleep(reply.drip)
                elif reply.status != 304:
                    self.wfile.write(reply.body)
            except OSError:
                pass  # the client hung up, as it should on a drip

    return _Handler


@pytest.fixture(name="server")
def server_fixture() -> Iterator[FeedServer]:
    """A running ``FeedServer``; a test module imports this to use the ``server`` fixture."""
    with FeedServer() as running:
        yield running


def sample(name: str) -> bytes:
    """One of the feeds under tests/upstream/, written in the shapes found in the wild."""
    return (UPSTREAM / name).read_bytes()


def rss(*entries: tuple[str, str, str], title: str = "Upstream news") -> bytes:
    """An RSS 2.0 feed of (guid, title, pubDate) entries."""
    items = "".join(
        f"<item><guid isPermaLink='false'>{guid}</guid><title>{name}</title>"
        f"<link>https://up.example/{guid}</link><pubDate>{when}</pubDate>"
        f"<description>Text of {name}.</description></item>"
        for guid, name, when in entries
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}'
        f"</title><link>https://up.example/</link><description>d</description>{items}"
        "</channel></rss>"
    ).encode()


_BOMB: bytes | None = None


def gzip_bomb() -> bytes:
    """64 MB of zeros, gzipped to about 64 KB (made once per test session)."""
    global _BOMB
    if _BOMB is None:
        _BOMB = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    return _BOMB


def run_validator(*files: Path) -> subprocess.CompletedProcess[str]:
    """The W3C validator over the files; skips loudly without it (fails under CI=true)."""
    if not VALIDATOR.exists():
        message = f"the W3C feed validator is missing: expected {VALIDATOR}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (CI=true, so this test may not be skipped)")
        warnings.warn(message, stacklevel=2)
        pytest.skip(message)
    return subprocess.run(
        [sys.executable, str(VALIDATOR), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def deployment(tmp_path: Path, sources: list[dict[str, object]], **sections: object) -> Path:
    """A config.yaml in ``tmp_path`` with these sources (and sections); returns its path."""
    import yaml

    config = {
        "site": {"title": "Cedarport Daily", "base_url": "https://news.example.org/"},
        "categories": [{"name": "Local News"}, {"name": "Culture"}],
        "sources": sources,
        "delivery": {"recipients": [{"address": "ann@example.org"}]},
        **sections,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path
