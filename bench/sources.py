"""Feed sources benchmark: 200 upstream feeds of 50 entries each on a loopback server.

Prints, side by side, for two passes:
1. the first fetch: bulletin's collect of every feed source (fetch with the bounded pool,
   screen, parse, clean, store 10,000 items and the state of 200 feeds) against a plain loop
   of HTTP GETs of the same feeds with the same client and the same concurrency;
2. the second pass, where every server answers 304: bulletin's collect (due check, conditional
   request, state stored) against the same loop of conditional GETs.
Each line gives seconds per pass, milliseconds per feed, and bulletin's ratio to the reference.
Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bulletin.config import parse_config
from bulletin.http_client import Client
from bulletin.pipeline import RunContext, collect
from bulletin.pipeline.feed_sources import FETCH_WORKERS

FEEDS = 200
ENTRIES = 50
NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
TEXT = (
    "The harbour authority said on Thursday that the ferry timetable changes from December, "
    "with earlier crossings on weekdays and a later last boat on Saturdays. "
) * 3


def feed_body(number: int) -> bytes:
    """An RSS 2.0 feed of ``ENTRIES`` entries, each with HTML content, like a CMS writes."""
    items = []
    for entry in range(ENTRIES):
        when = format_datetime(NOW - timedelta(hours=entry, minutes=number), usegmt=True)
        items.append(
            f"<item><title>Story {entry} of feed {number}</title>"
            f"<link>https://up{number}.example/stories/{entry}</link>"
            f"<guid isPermaLink='false'>feed-{number}-story-{entry}</guid>"
            f"<pubDate>{when}</pubDate><category>Local News</category>"
            f"<description><![CDATA[<p>{TEXT}</p><p><a href='/more'>More</a></p>]]>"
            "</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Upstream {number}</title><link>https://up{number}.example/</link>"
        f"<description>Feed {number}</description>{''.join(items)}</channel></rss>"
    ).encode()


class Upstream:
    """A threading server on loopback answering /feed/N with ETag and 304."""

    def __init__(self) -> None:
        self.bodies = {f"/feed/{n}": feed_body(n) for n in range(FEEDS)}
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: object) -> None:
                pass

            def do_GET(self) -> None:
                body = bodies[self.path]
                etag = f'"{self.path}"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def config_text(upstream: Upstream, folder: Path) -> str:
    sources = "".join(
        f"  - name: up{n}\n    kind: feed\n    url: {upstream.url(f'/feed/{n}')}\n"
        f"    category: Local News\n    min_interval: 1m\n"
        for n in range(FEEDS)
    )
    return (
        f"site:\n  base_url: https://news.example.org/\nstore:\n  url: sqlite:///{folder}/b.db\n"
        f"sources:\n{sources}"
    )


def reference_pass(upstream: Upstream, conditional: bool) -> float:
    """Seconds for a plain loop of GETs of every feed, with bulletin's client and pool size."""
    paths = list(upstream.bodies)

    def get(client: Client, path: str) -> int:
        headers = {"If-None-Match": f'"{path}"'} if conditional else {}
        return client.get(upstream.url(path), headers).status

    with Client("bench-reference") as client, ThreadPoolExecutor(FETCH_WORKERS) as pool:
        started = time.perf_counter()
        statuses = list(pool.map(lambda p: get(client, p), paths))
        took = time.perf_counter() - started
    assert set(statuses) == {304 if conditional else 200}, set(statuses)
    return took


def timed(work: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def main() -> int:
    upstream = Upstream()
    try:
        with tempfile.TemporaryDirectory() as temp:
            folder = Path(temp)
            config = parse_config(config_text(upstream, folder), "bench.yaml", folder)
            ctx = RunContext(config)
            with ctx.open_store() as store:
                first, report = timed(lambda: collect(ctx, store, clock=lambda: NOW))
                assert len(report.saved.new) == FEEDS * ENTRIES, len(report.saved.new)  # type: ignore[attr-defined]
                later = NOW + timedelta(hours=1)
                second, again = timed(lambda: collect(ctx, store, clock=lambda: later))
                assert again.read == [] and not again.problems  # type: ignore[attr-defined]
                states = store.feed_states.all()
                assert {s.status for s in states.values()} == {"not modified"}
            reference_first = reference_pass(upstream, conditional=False)
            reference_second = reference_pass(upstream, conditional=True)
    finally:
        upstream.close()
    size = sum(map(len, upstream.bodies.values())) / FEEDS / 1024
    print(
        f"{FEEDS} feeds x {ENTRIES} entries ({size:.0f} KB each) on 127.0.0.1, "
        f"{FETCH_WORKERS} fetches at a time"
    )
    print(f"{'':38}{'pass':>9}{'per feed':>11}   ratio")
    rows = [
        ("first fetch: bulletin collect", first, reference_first),
        ("first fetch: plain GETs (reference)", reference_first, None),
        ("all 304: bulletin collect", second, reference_second),
        ("all 304: conditional GETs (reference)", reference_second, None),
    ]
    for label, seconds, against in rows:
        ratio = f"{seconds / against:5.1f}x" if against else ""
        print(f"{label:38}{seconds:7.2f} s{seconds / FEEDS * 1e3:8.1f} ms   {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
