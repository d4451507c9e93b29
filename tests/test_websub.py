"""WebSub for our own feeds: every feed names the hub, and a changed build pings it once."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bulletin.config import load_config
from bulletin.pipeline import RunContext, run_step, websub
from feed_server import FeedServer, Reply, Request, deployment, rss, server_fixture  # noqa: F401

NOW = datetime(2026, 11, 26, 16, 0, tzinfo=UTC)


def site(server: FeedServer, tmp_path: Path, entries: list[tuple[str, str, str]]) -> RunContext:
    server.route("/feed", Reply(200, rss(*entries)))
    source = {"name": "up", "kind": "feed", "url": server.url("/feed"), "min_interval": "1m"}
    hub = {"websub_hub": server.url("/hub")}
    return RunContext(load_config(deployment(tmp_path, [source], feeds=hub)))


def pings(server: FeedServer) -> list[Request]:
    return [r for r in server.hits("/hub") if r.method == "POST"]


FIRST = [("a", "Bridge reopens", "Thu, 26 Nov 2026 10:00:00 GMT")]
SECOND = [("b", "Ferry changes", "Thu, 26 Nov 2026 12:00:00 GMT"), *FIRST]


def test_every_feed_format_names_the_hub(server: FeedServer, tmp_path: Path) -> None:
    server.route("/hub", Reply(204))
    ctx = site(server, tmp_path, FIRST)
    run_step(ctx, clock=lambda: NOW)
    feeds, hub = tmp_path / "feeds", server.url("/hub")
    assert f'<atom:link href="{hub}" rel="hub"/>' in (feeds / "all.rss").read_text("utf-8")
    assert f'<link href="{hub}" rel="hub"/>' in (feeds / "local-news.atom").read_text("utf-8")
    document = json.loads((feeds / "all.json").read_text("utf-8"))
    assert document["hubs"] == [{"type": "WebSub", "url": hub}]


def test_each_changed_build_pings_the_hub_once_and_an_unchanged_one_not_at_all(
    server: FeedServer, tmp_path: Path
) -> None:
    server.route("/hub", Reply(204))
    ctx = site(server, tmp_path, FIRST)
    first = run_step(ctx, clock=lambda: NOW)
    assert first.websub is not None and first.websub.wait(10) == "sent"
    [ping] = pings(server)
    assert ping.form[0] == ("hub.mode", "publish")
    topics = {value for name, value in ping.form if name == "hub.url"}
    assert "https://news.example.org/all.atom" in topics
    assert "https://news.example.org/up.json" in topics  # the source's own category feed
    assert "https://news.example.org/index.opml" not in topics
    unchanged = run_step(ctx, clock=lambda: NOW + timedelta(minutes=5))
    assert unchanged.websub is None and len(pings(server)) == 1
    server.route("/feed", Reply(200, rss(*SECOND)))
    changed = run_step(ctx, clock=lambda: NOW + timedelta(minutes=10))
    assert changed.websub is not None and changed.websub.wait(10) == "sent"
    assert len(pings(server)) == 2


def test_a_failing_hub_is_tried_again(
    server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(websub, "PAUSE", 0.05)
    answers = iter([Reply(503), Reply(500), Reply(202)])
    server.route("/hub", lambda _request: next(answers))
    step = run_step(site(server, tmp_path, FIRST), clock=lambda: NOW)
    assert step.websub is not None and step.websub.wait(10) == "sent"
    assert step.websub.attempts == 3 and len(pings(server)) == 3


def test_a_hub_that_refuses_the_ping_is_not_asked_again(
    server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(websub, "PAUSE", 0.05)
    server.route("/hub", Reply(400, b"unknown topic"))
    step = run_step(site(server, tmp_path, FIRST), clock=lambda: NOW)
    assert step.websub is not None and step.websub.wait(10) == "failed: the hub answered 400"
    assert len(pings(server)) == 1


def test_a_slow_hub_never_delays_the_digest(server: FeedServer, tmp_path: Path) -> None:
    release = threading.Event()

    def slow(_request: Request) -> Reply:
        release.wait(20)
        return Reply(204)

    server.route("/hub", slow)
    ctx = site(server, tmp_path, FIRST)
    started = time.monotonic()
    step = run_step(ctx, command="run", day=NOW.date(), force=True, clock=lambda: NOW)
    took = time.monotonic() - started
    assert step.digests[0].status == "sent" and took < 5
    assert step.websub is not None and step.websub.outcome == "pending"
    release.set()
    assert step.websub.wait(10) == "sent"
