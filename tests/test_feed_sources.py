"""Items from feed sources go where every other item goes: the store, our feeds, the digest."""

from __future__ import annotations

import json
import mailbox
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bulletin.cli import main
from bulletin.config import load_config
from bulletin.pipeline import RunContext, collect, run_step
from feed_server import (  # noqa: F401
    FeedServer,
    Reply,
    deployment,
    rss,
    run_validator,
    sample,
    server_fixture,
)

DAY = "2026-11-26"
NOW = datetime(2026, 11, 26, 16, 0, tzinfo=UTC)


def gazette(server: FeedServer, tmp_path: Path, **sections: object) -> RunContext:
    """A deployment reading three upstream feeds of the shapes found in the wild."""
    server.conditional("/gazette", sample("wordpress-rss2.xml"), etag='"g1"')
    server.conditional("/harbour", sample("atom-xhtml.xml"), "application/atom+xml")
    server.conditional("/library", sample("jsonfeed-1.1.json"), "application/feed+json")
    sources = [
        {
            "name": "gazette",
            "kind": "feed",
            "url": server.url("/gazette"),
            "category": "Local News",
        },
        {
            "name": "harbour",
            "kind": "feed",
            "url": server.url("/harbour"),
            "category": "Local News",
        },
        {"name": "library", "kind": "feed", "url": server.url("/library")},
    ]
    return RunContext(load_config(deployment(tmp_path, sources, **sections)))


def test_feed_items_reach_our_feeds_and_the_digest(server: FeedServer, tmp_path: Path) -> None:
    ctx = gazette(server, tmp_path)
    step = run_step(ctx, command="run", day=NOW.date(), force=True, clock=lambda: NOW)
    assert step.outcome == "ok", step.collected.problems
    assert step.collected.per_source == {"gazette": 2, "harbour": 2, "library": 2}
    feeds = tmp_path / "feeds"
    everything = (feeds / "all.atom").read_text(encoding="utf-8")
    assert "Harbour bridge reopens after repairs" in everything
    assert "Longer opening hours in December" in (feeds / "culture.rss").read_text("utf-8")
    [message] = mailbox.Maildir(tmp_path / "var" / "outbox", create=False)
    text = message.as_string()
    assert "Harbour bridge reopens after repairs" in text and "Ferry timetable changes" in text


def test_our_feeds_made_from_upstream_items_pass_the_w3c_validator(
    server: FeedServer, tmp_path: Path
) -> None:
    server.route("/hub", Reply(204))
    ctx = gazette(server, tmp_path, feeds={"websub_hub": server.url("/hub")})
    step = run_step(ctx, command="run", day=NOW.date(), force=True, clock=lambda: NOW)
    assert step.websub is not None and step.websub.wait(10) == "sent"
    files = sorted((tmp_path / "feeds").glob("*.rss")) + sorted((tmp_path / "feeds").glob("*.atom"))
    assert len(files) == 8  # all, local-news, culture and library, in both formats
    checked = run_validator(*files)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_fetching_again_never_duplicates_and_an_edit_updates_its_item(
    server: FeedServer, tmp_path: Path
) -> None:
    entry = ("a", "Bridge reopens", "Thu, 26 Nov 2026 10:00:00 GMT")
    server.route("/feed", Reply(200, rss(entry)))
    source = {"name": "up", "kind": "feed", "url": server.url("/feed"), "min_interval": "1m"}
    ctx = RunContext(load_config(deployment(tmp_path, [source])))
    with ctx.open_store() as store:
        first = collect(ctx, store, clock=lambda: NOW)
        server.route("/feed", Reply(200, rss(entry).replace(b"Text of", b"Edited text of")))
        second = collect(ctx, store, clock=lambda: NOW + timedelta(hours=1))
        assert len(first.saved.new) == 1 and len(second.saved.updated) == 1
        assert not second.saved.new and store.count_items() == 1
        [item] = store.latest_items(5)
    assert item.paragraphs[0] == "Edited text of Bridge reopens."
    assert item.published == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def test_an_undated_entry_keeps_the_time_it_was_first_seen(
    server: FeedServer, tmp_path: Path
) -> None:
    undated = rss(("a", "Notice", "")).replace(b"<pubDate></pubDate>", b"")
    server.route("/feed", Reply(200, undated))
    source = {"name": "up", "kind": "feed", "url": server.url("/feed"), "min_interval": "1m"}
    ctx = RunContext(load_config(deployment(tmp_path, [source])))
    later = NOW + timedelta(days=2)
    with ctx.open_store() as store:
        collect(ctx, store, clock=lambda: NOW)
        server.route("/feed", Reply(200, undated.replace(b"Text of", b"New text of")))
        assert len(collect(ctx, store, clock=lambda: later).saved.updated) == 1
        [item] = store.latest_items(5)
    assert item.published == NOW and item.day == NOW.date() and item.updated == later


def test_a_feed_that_reorders_and_redates_old_entries_publishes_nothing_new(
    server: FeedServer, tmp_path: Path
) -> None:
    old = [
        ("a", "First", "Thu, 26 Nov 2026 08:00:00 GMT"),
        ("b", "Second", "Thu, 26 Nov 2026 09:00:00 GMT"),
    ]
    server.route("/feed", Reply(200, rss(*old)))
    source = {"name": "up", "kind": "feed", "url": server.url("/feed"), "min_interval": "1m"}
    ctx = RunContext(load_config(deployment(tmp_path, [source])))
    run_step(ctx, command="run --once", clock=lambda: NOW)
    republished = [
        ("b", "Second", "Sat, 28 Nov 2026 09:00:00 GMT"),
        ("a", "First", "Fri, 27 Nov 2026 08:00:00 GMT"),
    ]
    server.route("/feed", Reply(200, rss(*republished)))
    step = run_step(ctx, command="run --once", clock=lambda: NOW + timedelta(days=2))
    assert len(step.collected.read) == 2 and not step.collected.changed
    assert step.feeds is not None and step.feeds.written == []
    with ctx.open_store() as store:
        assert {item.day.isoformat() for item in store.latest_items(5)} == {DAY}


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BULLETIN_CONFIG", raising=False)
    return CliRunner()


def test_bulletin_sources_lists_last_fetch_status_and_next_check(
    server: FeedServer, tmp_path: Path, runner: CliRunner
) -> None:
    server.conditional("/feed", rss(("a", "Bridge", "Thu, 26 Nov 2026 10:00:00 GMT")))
    server.route("/gone", Reply(410))
    (tmp_path / "items").mkdir()
    deployment(
        tmp_path,
        [
            {"name": "notes", "kind": "directory", "path": "items"},
            {"name": "up", "kind": "feed", "url": server.url("/feed")},
            {"name": "old", "kind": "feed", "url": server.url("/gone")},
        ],
    )
    before = runner.invoke(main, ["sources"])
    assert before.exit_code == 0, before.output
    assert "never" in before.output and "new" in before.output
    runner.invoke(main, ["collect"])
    after = runner.invoke(main, ["sources"])
    assert after.exit_code == 1  # the gone feed needs a look
    lines = {line.split()[0]: line.split() for line in after.output.splitlines()[1:4]}
    assert lines["notes"][1:] == ["directory", "never", "ok", "each", "collect", "0"]
    assert lines["up"][1] == "feed" and lines["up"][4] == "ok" and lines["up"][-1] == "1"
    assert lines["old"][4:6] == ["gone", "disabled"]
    rows = [
        json.loads(line) for line in runner.invoke(main, ["sources", "--json"]).output.splitlines()
    ]
    assert rows[1]["status"] == "ok" and rows[1]["next_check"] is not None
    assert rows[2]["message"] == "the server answered 410 Gone"


def test_sources_reset_brings_a_gone_feed_back(
    server: FeedServer, tmp_path: Path, runner: CliRunner
) -> None:
    server.route("/feed", Reply(410))
    deployment(tmp_path, [{"name": "up", "kind": "feed", "url": server.url("/feed")}])
    runner.invoke(main, ["collect"])
    server.conditional("/feed", rss(("a", "Back", "Thu, 26 Nov 2026 10:00:00 GMT")))
    assert runner.invoke(main, ["sources", "--reset", "up"]).output == "up: state forgotten\n"
    assert "stored 1 new" in runner.invoke(main, ["collect"]).output


def test_collect_json_url_reads_one_feed_by_hand(
    server: FeedServer, tmp_path: Path, runner: CliRunner
) -> None:
    server.route(
        "/feed.json",
        Reply(200, sample("jsonfeed-1.1.json"), {"Content-Type": "application/feed+json"}),
    )
    result = runner.invoke(main, ["collect", "--json", "--dry-run", server.url("/feed.json")])
    assert result.exit_code == 0, result.output
    items = [json.loads(line) for line in result.stdout.splitlines()]
    assert [item["title"] for item in items] == [
        "Longer opening hours in December",
        "Book sale on Saturday",
    ]
    assert "would store 2 new" in result.stderr
    assert not (tmp_path / "var" / "bulletin.db").exists()


def test_collect_url_says_what_went_wrong(server: FeedServer, runner: CliRunner) -> None:
    server.route(
        "/page", Reply(200, b"<!DOCTYPE html><html></html>", {"Content-Type": "text/html"})
    )
    result = runner.invoke(main, ["collect", "--json", server.url("/page")])
    assert result.exit_code == 1
    assert f"skipped: {server.url('/page')}: an HTML page, not a feed" in result.stderr
