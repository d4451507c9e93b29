"""Publishing feeds from a real store: full and incremental builds, files, the feeds command."""

from __future__ import annotations

import gc
import json
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from builders import ARABIC, LOCAL, WORLD, arabic_item, make_deployment, make_item
from bulletin.cli import main
from bulletin.config import Config, parse_config
from bulletin.errors import ConfigError, StoreError
from bulletin.feeds import MANIFEST_NAME, build_feed, plan_feeds
from bulletin.model import Category, Item
from bulletin.pipeline import FeedsReport, RunContext, feed_categories, publish_feeds
from bulletin.store import Store
from feedcheck import check_atom, check_index_html, check_json_feed, check_opml, check_rss

NOW = datetime(2024, 3, 10, 12, tzinfo=UTC)


def configure(root: Path, **feeds: str) -> Config:
    """A deployment whose feeds hold five items each, with ``feeds`` settings."""
    return make_deployment(root, feeds={"max_items": 5, **feeds})


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return configure(tmp_path)


def day_items(
    day: int, count: int, categories: tuple[Category, ...] = (LOCAL, WORLD)
) -> list[Item]:
    return [
        make_item(
            f"d{day:02d}-{n}",
            8 + n,
            category=categories[n % len(categories)],
            day=date(2024, 3, day),
        )
        for n in range(count)
    ]


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.is_file()}


def written_names(report: FeedsReport) -> set[str]:
    return {path.name for path in report.written}


def test_a_full_build_writes_every_feed_in_every_format_and_the_lists(
    config: Config, store: Store
) -> None:
    store.save_items([*day_items(1, 4), arabic_item("ar1")], "test", NOW)
    report = publish_feeds(RunContext(config), store)
    folder = config.path("feeds")
    assert report.mode == "full"
    assert report.rebuilt == ["all", "local-news", "world", "arabic-news"]
    expected = {
        f"{slug}.{fmt}"
        for slug in ("all", "local-news", "world", "arabic-news")
        for fmt in ("rss", "atom", "json")
    }
    assert set(files_of(folder)) == expected | {"index.opml", "index.html", MANIFEST_NAME}
    assert written_names(report) == expected | {"index.opml", "index.html"}
    for slug in ("all", "local-news", "world", "arabic-news"):
        url = f"https://news.example.org/{slug}"
        assert check_rss((folder / f"{slug}.rss").read_bytes(), url + ".rss") == []
        assert check_atom((folder / f"{slug}.atom").read_bytes(), url + ".atom") == []
        assert check_json_feed((folder / f"{slug}.json").read_bytes(), url + ".json") == []
    assert check_opml((folder / "index.opml").read_bytes()) == []
    existing = expected | {"index.opml"}
    assert check_index_html((folder / "index.html").read_bytes(), "index.html", existing) == []


def test_building_again_rewrites_nothing(config: Config, store: Store) -> None:
    store.save_items(day_items(1, 4), "test", NOW)
    publish_feeds(RunContext(config), store)
    before = mtimes(config.path("feeds"))
    for changed in (None, []):
        report = publish_feeds(RunContext(config), store, changed=changed)
        assert report.written == []
        assert mtimes(config.path("feeds")) == before


def test_a_new_day_rebuilds_only_the_all_feed_and_the_touched_categories(
    config: Config, store: Store
) -> None:
    store.save_items([*day_items(1, 4), arabic_item("ar1")], "test", NOW)
    publish_feeds(RunContext(config), store)
    before = mtimes(config.path("feeds"))
    new = store.save_items(day_items(2, 2, (WORLD,)), "test", NOW).new
    report = publish_feeds(RunContext(config), store, changed=new)
    assert report.mode == "incremental"
    assert sorted(report.spliced + report.rebuilt) == ["all", "world"]
    assert sorted(report.skipped) == ["arabic-news", "local-news"]
    assert written_names(report) == {
        f"{s}.{f}" for s in ("all", "world") for f in ("rss", "atom", "json")
    }
    after = mtimes(config.path("feeds"))
    for name in ("local-news.rss", "arabic-news.atom", "index.html", "index.opml"):
        assert after[name] == before[name]
    assert (
        publish_feeds(RunContext(config), store, check=True).written == []
    )  # same bytes as a full build


def test_incremental_builds_give_the_bytes_of_full_builds(tmp_path: Path) -> None:
    """Random days, edits, back-dated items and category moves, then a check after each."""
    rng = random.Random(7)
    config = configure(tmp_path)
    categories = (LOCAL, WORLD, ARABIC, Category("sport", "Sport"))
    with Store.open(config.store_url) as store:
        stored: dict[str, Item] = {}
        publish_feeds(RunContext(config), store)
        for step in range(25):
            batch = []
            for n in range(rng.randint(0, 6)):
                day = date(2024, 3, rng.randint(1, 20))
                category = rng.choice(categories)
                batch.append(
                    make_item(f"s{step}-{n}", rng.randint(0, 23), category=category, day=day)
                )
            for old in rng.sample(sorted(stored.values(), key=lambda i: i.id), min(2, len(stored))):
                if rng.random() < 0.5:
                    batch.append(old.with_updates(title=old.title + " (edited)"))
                else:
                    batch.append(old.with_updates(category=rng.choice(categories)))
            saved = store.save_items(batch, "test", NOW + timedelta(hours=step))
            stored.update({item.id: item for item in saved.new + saved.updated})
            report = publish_feeds(RunContext(config), store, changed=saved.new + saved.updated)
            assert report.mode == "incremental"
            stale = publish_feeds(RunContext(config), store, check=True)
            assert stale.written == [], (step, [p.name for p in stale.written])


def test_a_category_move_takes_the_item_out_of_its_old_feed(config: Config, store: Store) -> None:
    first = store.save_items(day_items(1, 4), "test", NOW).new
    publish_feeds(RunContext(config), store)
    moved = first[0].with_updates(category=WORLD)
    changed = store.save_items([moved], "test", NOW).updated
    report = publish_feeds(RunContext(config), store, changed=changed)
    assert sorted(report.spliced + report.rebuilt) == ["all", "local-news", "world"]
    local = json.loads(config.path("feeds/local-news.json").read_bytes())
    assert moved.id not in {item["id"].rsplit(":", 1)[1] for item in local["items"]}
    assert publish_feeds(RunContext(config), store, check=True).written == []


def test_a_missing_feed_file_is_rebuilt_even_when_nothing_changed(
    config: Config, store: Store
) -> None:
    store.save_items(day_items(1, 4), "test", NOW)
    publish_feeds(RunContext(config), store)
    config.path("feeds/world.json").unlink()
    report = publish_feeds(RunContext(config), store, changed=[])
    assert written_names(report) == {"world.json"}
    assert report.skipped == ["all", "local-news"]


def test_a_damaged_feed_file_is_rebuilt_from_the_store(config: Config, store: Store) -> None:
    store.save_items(day_items(1, 4), "test", NOW)
    publish_feeds(RunContext(config), store)
    config.path("feeds/world.atom").write_bytes(b"<feed/>")
    new = store.save_items(day_items(2, 1, (WORLD,)), "test", NOW).new
    report = publish_feeds(RunContext(config), store, changed=new)
    assert "world" in report.rebuilt
    assert publish_feeds(RunContext(config), store, check=True).written == []


def test_items_stored_without_publishing_reach_the_feeds_on_the_next_run(
    config: Config, store: Store
) -> None:
    store.save_items(day_items(1, 2), "test", NOW)
    publish_feeds(RunContext(config), store)
    store.save_items(day_items(2, 2), "test", NOW)  # e.g. `bulletin collect`, or a crash
    report = publish_feeds(RunContext(config), store, changed=[])
    assert sorted(report.spliced + report.rebuilt) == ["all", "local-news", "world"]
    assert publish_feeds(RunContext(config), store, check=True).written == []


def test_a_change_of_site_or_feeds_config_makes_the_next_build_a_full_one(
    tmp_path: Path, store: Store, config: Config
) -> None:
    store.save_items(day_items(1, 4), "test", NOW)
    publish_feeds(RunContext(config), store)
    changed = configure(tmp_path, rss_path="rss/{slug}.xml")
    report = publish_feeds(RunContext(changed), store, changed=[])
    assert report.mode == "full"
    assert (tmp_path / "feeds" / "rss" / "all.xml").exists()


def test_a_dry_run_and_a_check_write_nothing(config: Config, store: Store) -> None:
    store.save_items(day_items(1, 4), "test", NOW)
    for report in (
        publish_feeds(RunContext(config), store, dry_run=True),
        publish_feeds(RunContext(config), store, check=True),
    ):
        assert len(report.written) == 11
        assert not config.path("feeds").exists()


def test_the_manifest_records_each_feeds_entries_in_file_order(
    config: Config, store: Store
) -> None:
    store.save_items(day_items(1, 3), "test", NOW)
    publish_feeds(RunContext(config), store)
    manifest = json.loads(config.path(f"feeds/{MANIFEST_NAME}").read_bytes())
    assert [row[0] for row in manifest["feeds"]["all"]] == ["d01-2", "d01-1", "d01-0"]
    assert manifest["categories"] == [["local-news", "Local News"], ["world", "World"]]


# --- the feeds command --------------------------------------------------------------------


def run(config: Config, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--config", str(config.root / "config.yaml"), *args])
    return result.exit_code, result.output


def test_the_feeds_command_builds_everything_and_prints_what_changed(
    config: Config, store: Store
) -> None:
    store.save_items(day_items(1, 2), "test", NOW)
    code, output = run(config, "feeds")
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0].split() == ["feed", "format", "status", "file"]
    assert any(line.split()[:3] == ["world", "atom", "written"] for line in lines)
    assert lines[-1] == "3 feeds built: 11 files written, 0 unchanged, 0 invalid"
    code, output = run(config, "feeds")
    assert (code, output) == (0, "3 feeds built: 0 files written, 11 unchanged, 0 invalid\n")


def test_feeds_check_fails_on_a_stale_or_missing_file_and_writes_nothing(
    config: Config, store: Store
) -> None:
    store.save_items(day_items(1, 2), "test", NOW)
    code, output = run(config, "feeds", "--check")
    assert code == 1 and "missing" in output and not config.path("feeds").exists()
    run(config, "feeds")
    assert run(config, "feeds", "--check")[0] == 0
    config.path("feeds/world.rss").write_bytes(b"old")
    code, output = run(config, "feeds", "--check")
    assert code == 1
    assert any(line.split()[:3] == ["world", "rss", "stale"] for line in output.splitlines())
    assert config.path("feeds/world.rss").read_bytes() == b"old"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("feeds: {rss_path: feed.rss}", "feeds.rss_path: expected a path holding {slug}"),
        ("feeds: {atom_path: '../{slug}.atom'}", "feeds.atom_path: expected a plain path inside"),
        ("feeds: {json_path: '{slug}/{name}.json'}", "only {slug} may stand in braces"),
        ("feeds: {rss_path: '{slug}.xml', atom_path: '{slug}.xml'}", "must differ"),
        ("feeds: {opml_path: index.html}", "must differ"),
    ],
)
def test_feed_paths_are_checked_when_the_config_loads(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(text + "\n", "config.yaml", tmp_path)
    assert message in str(raised.value) and str(raised.value).startswith("config.yaml:1: ")


def test_a_full_build_gives_every_feed_the_newest_items_the_store_holds_for_it(
    config: Config, store: Store
) -> None:
    # A full build takes the feed of everything from the categories' newest items instead of
    # a query of its own: it must still be the store's newest items of every category.
    store.save_items([*day_items(1, 9), *day_items(2, 7, (WORLD,)), arabic_item("ar1")], "t", NOW)
    publish_feeds(RunContext(config), store)
    folder = config.path("feeds")
    site = RunContext(config).site
    specs = plan_feeds(
        site, feed_categories(RunContext(config), store), RunContext(config).feeds.paths
    )
    assert [spec.slug for spec in specs] == ["all", "local-news", "world", "arabic-news"]
    for spec in specs:
        slug = None if spec.category is None else spec.category.slug
        newest = store.latest_items(5, slug)
        for fmt in ("rss", "atom", "json"):
            assert (folder / spec.path(fmt)).read_bytes() == build_feed(spec, newest, fmt, 5)


def test_the_feed_of_everything_picks_the_items_the_store_query_would_within_a_second(
    config: Config, store: Store
) -> None:
    # Feeds show times to the second; the store orders by the stored time. Items a microsecond
    # apart at the feed's limit must be the ones the store's own query picks.
    base = datetime(2024, 3, 1, 9, tzinfo=UTC)
    items = [
        make_item(f"z{n}", category=(LOCAL, WORLD)[n % 2]).with_updates(
            published=base + timedelta(microseconds=n)
        )
        for n in range(8)
    ]
    store.save_items(items, "t", NOW)
    publish_feeds(RunContext(config), store)
    site = RunContext(config).site
    spec = plan_feeds(
        site, feed_categories(RunContext(config), store), RunContext(config).feeds.paths
    )[0]
    newest = store.latest_items(5)
    assert [item.id for item in newest] == ["z7", "z6", "z5", "z4", "z3"]
    for fmt in ("rss", "atom", "json"):
        data = (config.path("feeds") / spec.path(fmt)).read_bytes()
        assert data == build_feed(spec, newest, fmt, 5)


class _Watching:
    """The store, noting whether the garbage collector runs while the build reads it."""

    def __init__(self, store: Store, fail: bool = False) -> None:
        self.store, self.fail = store, fail
        self.collector_on: list[bool] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def latest_items(self, limit: int, category_slug: str | None = None) -> list[Item]:
        self.collector_on.append(gc.isenabled())
        if self.fail:
            raise StoreError("the disk went away")
        return self.store.latest_items(limit, category_slug)


def test_the_garbage_collector_is_held_off_during_a_build_and_restored_after(
    config: Config, store: Store
) -> None:
    store.save_items(day_items(1, 4), "test", NOW)
    assert gc.isenabled()
    watching = _Watching(store)
    publish_feeds(RunContext(config), watching)  # type: ignore[arg-type]
    assert watching.collector_on and not any(watching.collector_on)
    assert gc.isenabled()
    with pytest.raises(StoreError):
        publish_feeds(RunContext(config), _Watching(store, fail=True))  # type: ignore[arg-type]
    assert gc.isenabled()
    gc.disable()  # a caller that keeps it off finds it off
    try:
        publish_feeds(RunContext(config), store)
        assert not gc.isenabled()
    finally:
        gc.enable()
