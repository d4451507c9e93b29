"""Fetching feed sources politely and robustly, against a real server on loopback."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bulletin.config import load_config
from bulletin.model import FeedState
from bulletin.pipeline import CollectReport, RunContext, collect
from feed_server import FeedServer, Reply, deployment, gzip_bomb, rss, server_fixture  # noqa: F401

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
FEED = rss(("a", "Bridge reopens", "Thu, 26 Nov 2026 10:00:00 GMT"))
FEED_2 = rss(
    ("b", "Ferry changes", "Thu, 26 Nov 2026 12:00:00 GMT"),
    ("a", "Bridge reopens", "Thu, 26 Nov 2026 10:00:00 GMT"),
)


class Feeds:
    """A deployment of feed sources, collected at instants the test chooses."""

    def __init__(self, tmp_path: Path, *sources: dict[str, object]) -> None:
        self.ctx = RunContext(load_config(deployment(tmp_path, list(sources))))
        self.store = self.ctx.open_store()

    def collect(self, at: datetime = NOW) -> CollectReport:
        return collect(self.ctx, self.store, clock=lambda: at)

    def state(self, name: str = "up") -> FeedState:
        found = self.store.feed_states.get(name)
        assert found is not None
        return found


def feed(url: str, name: str = "up", **settings: object) -> dict[str, object]:
    return {"name": name, "kind": "feed", "url": url, "category": "Local News", **settings}


def test_an_etag_is_sent_back_and_a_304_reads_nothing(server: FeedServer, tmp_path: Path) -> None:
    server.conditional("/feed", FEED, etag='"v1"')
    feeds = Feeds(tmp_path, feed(server.url("/feed")))
    first = feeds.collect()
    assert len(first.saved.new) == 1 and feeds.state().status == "ok"
    second = feeds.collect(NOW + timedelta(hours=1))
    assert server.hits("/feed")[1].headers["if-none-match"] == '"v1"'
    assert second.read == [] and feeds.state().status == "not modified"
    assert feeds.state().next_check == NOW + timedelta(hours=1, minutes=15)


def test_last_modified_alone_is_sent_back(server: FeedServer, tmp_path: Path) -> None:
    stamp = "Thu, 26 Nov 2026 10:00:00 GMT"
    server.conditional("/feed", FEED, last_modified=stamp)
    feeds = Feeds(tmp_path, feed(server.url("/feed")))
    feeds.collect()
    feeds.collect(NOW + timedelta(hours=1))
    second = server.hits("/feed")[1].headers
    assert second["if-modified-since"] == stamp and "if-none-match" not in second
    assert feeds.state().status == "not modified"


def test_an_etag_that_changes_over_the_same_bytes_costs_no_work(
    server: FeedServer, tmp_path: Path
) -> None:
    versions = iter(range(100))
    server.route("/feed", lambda _r: Reply(200, FEED, {"ETag": f'"{next(versions)}"'}))
    feeds = Feeds(tmp_path, feed(server.url("/feed")))
    feeds.collect()
    second = feeds.collect(NOW + timedelta(hours=1))
    assert second.read == [] and feeds.state().status == "unchanged"
    assert feeds.state().etag == '"1"'  # the new validator is kept for the next request


def test_a_304_to_a_request_without_validators_is_a_failure(
    server: FeedServer, tmp_path: Path
) -> None:
    server.route("/feed", Reply(304))
    feeds = Feeds(tmp_path, feed(server.url("/feed")))
    feeds.collect()
    assert feeds.state().failures == 1
    assert "304 Not Modified to a request for the whole feed" in feeds.state().message


def test_ignore_cache_sees_past_a_server_that_always_answers_304(
    server: FeedServer, tmp_path: Path
) -> None:
    bodies = [FEED, FEED_2]

    def lying(request: object) -> Reply:  # 304 to every conditional request, changed or not
        conditional = "if-none-match" in request.headers  # type: ignore[attr-defined]
        return Reply(304) if conditional else Reply(200, bodies.pop(0), {"ETag": '"same"'})

    server.route("/feed", lying)
    feeds = Feeds(tmp_path, feed(server.url("/feed"), ignore_cache=True))
    feeds.collect()
    second = feeds.collect(NOW + timedelta(hours=1))
    assert "if-none-match" not in server.hits("/feed")[1].headers
    assert [item.title for item in second.saved.new] == ["Ferry changes"]


def test_once_a_day_the_whole_feed_is_asked_for_even_with_validators(
    server: FeedServer, tmp_path: Path
) -> None:
    server.conditional("/feed", FEED, etag='"v1"')
    feeds = Feeds(tmp_path, feed(server.url("/feed")))
    feeds.collect()
    feeds.collect(NOW + timedelta(days=1, minutes=1))
    assert "if-none-match" not in server.hits("/feed")[1].headers
    assert feeds.state().status == "unchanged"


def test_a_301_then_308_chain_is_remembered_and_reported(
    server: FeedServer, tmp_path: Path
) -> None:
    server.route("/old", Reply(301, headers={"Location": "/middle"}))
    server.route("/middle", Reply(308, headers={"Location": server.url("/feed")}))
    server.conditional("/feed", FEED, etag='"v1"')
    feeds = Feeds(tmp_path, feed(server.url("/old")))
    first = feeds.collect()
    assert feeds.state().moved_to == server.url("/feed")
    [note] = first.problems
    assert not note.skipped and "moved permanently to " + server.url("/feed") in note.message
    feeds.collect(NOW + timedelta(hours=1))
    assert len(server.hits("/old")) == 1 and len(server.hits("/feed")) == 2


def test_a_302_in_the_chain_is_followed_but_not_remembered(
    server: FeedServer, tmp_path: Path
) -> None:
    server.route("/old", Reply(301, headers={"Location": "/temporary"}))
    server.route("/temporary", Reply(302, headers={"Location": "/feed"}))
    server.conditional("/feed", FEED)
    feeds = Feeds(tmp_path, feed(server.url("/old")))
    assert len(feeds.collect().saved.new) == 1
    assert feeds.state().moved_to is None
    feeds.collect(NOW + timedelta(hours=1))
    assert len(server.hits("/old")) == 2


def test_410_disables_the_source_and_says_so(server: FeedServer, tmp_path: Path) -> None:
    server.route("/feed", Reply(410))
    feeds = Feeds(tmp_path, feed(server.url("/feed")))
    [gone] = feeds.collect().problems
    assert gone.skipped and "410 Gone" in gone.message and "disabled" in gone.message
    assert feeds.state().gone and feeds.state().next_check is None
    [note] = feeds.collect(NOW + timedelta(days=3)).problems
    assert not note.skipped and "disabled since 2026-11-26" in note.message
    assert len(server.hits("/feed")) == 1


def test_429_waits_as_retry_after_says(server: FeedServer, tmp_path: Path) -> None:
    server.route("/feed", Reply(429, headers={"Retry-After": "7200"}))
    feeds = Feeds(tmp_path, feed(server.url("/feed")))
    feeds.collect()
    assert feeds.state().status == "throttled"
    assert feeds.state().next_check == NOW + timedelta(hours=2)
    feeds.collect(NOW + timedelta(hours=1))
    assert len(server.hits("/feed")) == 1


def test_503_with_an_http_date_in_retry_after(server: FeedServer, tmp_path: Path) -> None:
    server.route("/feed", Reply(503, headers={"Retry-After": "Thu, 26 Nov 2026 18:00:00 GMT"}))
    feeds = Feeds(tmp_path, feed(server.url("/feed")))
    feeds.collect()
    assert feeds.state().next_check == datetime(2026, 11, 26, 18, 0, tzinfo=UTC)


def test_a_server_dripping_a_byte_a_second_is_cut_off(server: FeedServer, tmp_path: Path) -> None:
    server.route("/feed", Reply(200, FEED, drip=1.0))
    feeds = Feeds(tmp_path, feed(server.url("/feed"), timeout=1.5))
    started = time.monotonic()
    feeds.collect()
    assert time.monotonic() - started < 4
    assert feeds.state().message == "no complete answer within 1.5 s: cut off"


def test_a_gzip_bomb_is_refused(server: FeedServer, tmp_path: Path) -> None:
    server.route("/feed", Reply(200, gzip_bomb(), {"Content-Encoding": "gzip"}))
    feeds = Feeds(tmp_path, feed(server.url("/feed")))
    feeds.collect()
    assert "larger than 10240 KB once decompressed: refused" in feeds.state().message


def test_a_gzipped_feed_is_read(server: FeedServer, tmp_path: Path) -> None:
    import gzip

    server.route("/feed", Reply(200, gzip.compress(FEED), {"Content-Encoding": "gzip"}))
    feeds = Feeds(tmp_path, feed(server.url("/feed")))
    assert [item.title for item in feeds.collect().saved.new] == ["Bridge reopens"]


def test_failures_back_off_and_are_reported_from_the_third_in_a_row(
    server: FeedServer, tmp_path: Path
) -> None:
    server.route("/feed", Reply(500))
    feeds = Feeds(tmp_path, feed(server.url("/feed"), min_interval="1m"))
    at, waits, reported = NOW, [], []
    for _ in range(5):
        report = feeds.collect(at)
        reported.append(any(p.skipped for p in report.problems))
        next_check = feeds.state().next_check
        assert next_check is not None
        waits.append(next_check - at)
        at = next_check
    assert reported == [False, False, True, True, True]
    assert waits == [timedelta(minutes=m) for m in (5, 10, 20, 40, 80)]
    assert "500 Internal Server Error (6 failures in a row" in feeds.collect(at).problems[0].message


def test_a_feed_is_not_fetched_again_within_min_interval(
    server: FeedServer, tmp_path: Path
) -> None:
    server.conditional("/feed", FEED)
    feeds = Feeds(tmp_path, feed(server.url("/feed"), min_interval="2h"))
    feeds.collect()
    feeds.collect(NOW + timedelta(hours=1))
    assert len(server.hits("/feed")) == 1
    feeds.collect(NOW + timedelta(hours=2))
    assert len(server.hits("/feed")) == 2


def test_requests_name_bulletin_and_the_site(server: FeedServer, tmp_path: Path) -> None:
    server.conditional("/feed", FEED)
    Feeds(tmp_path, feed(server.url("/feed"))).collect()
    headers = server.hits("/feed")[0].headers
    assert headers["user-agent"].startswith("bulletin/")
    assert "+https://news.example.org/" in headers["user-agent"]
    assert "application/rss+xml" in headers["accept"]
    assert headers["accept-encoding"] == "gzip, deflate"


def test_html_instead_of_a_feed_is_a_failure_and_the_next_fetch_reads_it_again(
    server: FeedServer, tmp_path: Path
) -> None:
    page = b"<!doctype html><html><body>Maintenance</body></html>"
    server.route("/feed", Reply(200, page, {"Content-Type": "text/html"}))
    feeds = Feeds(tmp_path, feed(server.url("/feed")))
    feeds.collect()
    assert feeds.state().failures == 1 and "an HTML page, not a feed" in feeds.state().message
    assert feeds.state().body_hash is None  # not taken for a good body: read again next time
    server.conditional("/feed", FEED)
    assert len(feeds.collect(NOW + timedelta(hours=1)).saved.new) == 1


def test_one_failing_source_does_not_stop_the_others(server: FeedServer, tmp_path: Path) -> None:
    server.route("/broken", Reply(500))
    server.route("/slow", Reply(200, FEED, drip=1.0))
    server.conditional("/feed", FEED)
    listing = tmp_path / "listing.txt"
    listing.write_text(
        "Cedarport\n26 November 2026 In Local News\nThe harbour opens.\n(Source: Port)\n",
        encoding="utf-8",
    )
    feeds = Feeds(
        tmp_path,
        feed(server.url("/broken"), name="broken"),
        feed(server.url("/slow"), name="slow", timeout=1.0),
        {"name": "listing", "kind": "listing", "path": str(listing)},
        feed(server.url("/feed"), name="good"),
    )
    report = feeds.collect()
    assert report.per_source == {"broken": 0, "slow": 0, "listing": 1, "good": 1}
    assert len(report.saved.new) == 2
