"""Entry times within a feed: distinct, stable, and the same whatever order items came in.

Items that carry only a date all get ``site.item_time`` on it (plus seconds drawn from their
id), so two sources covering one day can give two items the same second, and items edited in
one run share the second of that run. A feed reader takes entries with the same ``updated``
for one entry seen twice (the W3C validator's DuplicateUpdated); the feeds must not have any.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
import pytest

from builders import LOCAL, WORLD, make_item, make_site
from bulletin.config import Config, parse_config
from bulletin.feeds import FeedSpec, build_feed, plan_feeds
from bulletin.model import Category, Item
from bulletin.pipeline import RunContext, publish_feeds
from bulletin.sources import ReadSettings, derived_time, id_seconds
from bulletin.store import Store

NOW = datetime(2024, 3, 10, 12, tzinfo=UTC)
NOON = datetime(2024, 3, 1, 12, tzinfo=UTC)


def at_noon(item_id: str, category: Category = LOCAL) -> Item:
    """An item at noon of 1 March: what every date-only item of one source's day was."""
    return make_item(item_id, category=category).with_updates(published=NOON)


def atom_times(data: bytes) -> list[tuple[str, str, str]]:
    """(id, published, updated) of each Atom entry, in file order."""
    return [(e.id, e.published, e.updated) for e in feedparser.parse(data).entries]


def spec() -> FeedSpec:
    """The feed of everything."""
    return plan_feeds(make_site(), [LOCAL, WORLD])[0]


def test_entries_sharing_a_second_are_shown_a_second_apart_in_feed_order() -> None:
    data = build_feed(spec(), [at_noon("b"), at_noon("a"), at_noon("c")], "atom")
    # Feed order is newest first, equal times by id; the order stays, the times part.
    assert atom_times(data) == [
        (f"tag:news.example.org,2024-03-01:{i}", t, t)
        for i, t in (
            ("a", "2024-03-01T12:00:02+00:00"),
            ("b", "2024-03-01T12:00:01+00:00"),
            ("c", "2024-03-01T12:00:00+00:00"),
        )
    ]
    rss = feedparser.parse(build_feed(spec(), [at_noon("b"), at_noon("a")], "rss"))
    assert [e.published for e in rss.entries] == [
        "Fri, 01 Mar 2024 12:00:01 +0000",
        "Fri, 01 Mar 2024 12:00:00 +0000",
    ]


def test_a_run_of_taken_seconds_moves_every_later_entry_on() -> None:
    items = [
        at_noon("x"),
        at_noon("y"),
        make_item("z").with_updates(published=NOON + timedelta(seconds=1)),
    ]
    times = [t for _, t, _ in atom_times(build_feed(spec(), items, "atom"))]
    assert len(set(times)) == 3
    assert times == sorted(times, reverse=True)


def test_the_bytes_do_not_depend_on_the_order_the_items_are_given_in() -> None:
    items = [at_noon(f"n{n}", (LOCAL, WORLD)[n % 2]) for n in range(12)]
    want = {fmt: build_feed(spec(), items, fmt) for fmt in ("rss", "atom", "json")}
    rng = random.Random(3)
    for _ in range(5):
        rng.shuffle(items)
        assert {fmt: build_feed(spec(), items, fmt) for fmt in want} == want


def test_items_edited_in_one_run_get_distinct_updated_times() -> None:
    edited = NOW.replace(microsecond=250)
    items = [make_item(f"e{n}", 8 + n, updated=edited) for n in range(4)] + [make_item("plain", 7)]
    entries = atom_times(build_feed(spec(), items, "atom"))
    updated = [u for _, _, u in entries]
    assert len(set(updated)) == len(updated)
    plain = next(e for e in entries if e[0].endswith(":plain"))
    assert plain[1] == plain[2]  # never edited: updated is still its published time
    assert all(u >= p for _, p, u in entries)


def test_derived_times_come_from_the_id_whoever_reads_the_item() -> None:
    settings = ReadSettings(zone=ZoneInfo("Asia/Damascus"), item_time=time(12, 0))
    day = date(2026, 11, 26)
    first = derived_time(settings, day, "one")
    assert first == derived_time(settings, day, "one")
    assert first == datetime(2026, 11, 26, 9, 0, id_seconds("one"), tzinfo=UTC)
    assert derived_time(settings, day, "one", minutes_before=2) == first - timedelta(minutes=2)
    assert {id_seconds(f"item-{n}") for n in range(300)} == set(range(60))


# --- through the store, full and incremental ---------------------------------------------------

CONFIG = """\
site:
  base_url: https://news.example.org/
categories:
  - name: Local News
  - name: World
feeds:
  max_items: 6
"""


@pytest.fixture
def config(tmp_path: Path) -> Config:
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    return parse_config(CONFIG, "config.yaml", tmp_path)


@pytest.fixture
def store(config: Config) -> Iterator[Store]:
    opened = Store.open(config.store_url)
    yield opened
    opened.close()


def files(config: Config) -> dict[str, bytes]:
    folder = config.path("feeds")
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_colliding_items_collected_in_any_order_and_any_runs_give_the_same_feeds(
    tmp_path: Path,
) -> None:
    items = [at_noon(f"c{n}", (LOCAL, WORLD)[n % 3 == 0]) for n in range(9)]
    results = []
    for seed in range(4):
        root = tmp_path / f"run-{seed}"
        root.mkdir()
        (root / "config.yaml").write_text(CONFIG, encoding="utf-8")
        config = parse_config(CONFIG, "config.yaml", root)
        store = Store.open(config.store_url)
        try:
            batch = list(items)
            random.Random(seed).shuffle(batch)
            publish_feeds(RunContext(config), store)
            while batch:  # a few items per run, each run publishing incrementally
                run, batch = batch[: 1 + seed], batch[1 + seed :]
                saved = store.save_items(run, "test", NOW)
                publish_feeds(RunContext(config), store, changed=saved.new)
            assert publish_feeds(RunContext(config), store, check=True).written == []
        finally:
            store.close()
        results.append(files(config))
        for name in ("all.atom", "local-news.atom", "world.atom"):
            updated = [u for _, _, u in atom_times(results[-1][name])]
            assert len(set(updated)) == len(updated), name
    assert all(result == results[0] for result in results[1:])


def test_an_item_leaving_a_feed_frees_the_second_it_shared(config: Config, store: Store) -> None:
    first = store.save_items([at_noon("a"), at_noon("b")], "test", NOW).new
    publish_feeds(RunContext(config), store)
    moved = first[0].with_updates(category=WORLD)
    saved = store.save_items([moved], "test", NOW + timedelta(hours=1))
    publish_feeds(RunContext(config), store, changed=saved.updated)
    assert publish_feeds(RunContext(config), store, check=True).written == []
    local = atom_times(files(config)["local-news.atom"])
    assert [(i.rsplit(":", 1)[1], p) for i, p, _ in local] == [("b", "2024-03-01T12:00:00+00:00")]
