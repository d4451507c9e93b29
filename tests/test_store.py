"""The store: its own schema upgrades, idempotent saving, edits recorded, order kept."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert

from builders import LOCAL, make_item
from bulletin.errors import StoreError
from bulletin.model import Category, Item
from bulletin.store import LATEST_VERSION, Store, schema_version

# Every test here runs on SQLite and on PostgreSQL (see conftest.py).
pytestmark = pytest.mark.usefixtures("database")

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)


def numbered(n: int, text: str = "Text.", minute: int = 0, day: int = 26) -> Item:
    """Item n of November ``day`` 2026, published at 09:``minute`` UTC."""
    return make_item(
        f"item-{n}",
        9,
        minute=minute,
        day=date(2026, 11, day),
        title=f"Item {n}.",
        paragraphs=(f"Item {n}. {text}",),
        source="Newsroom",
    )


def test_opening_creates_the_schema_at_the_latest_version(store: Store) -> None:
    assert store.version() == LATEST_VERSION


def test_upgrading_an_up_to_date_store_applies_nothing(store: Store) -> None:
    assert store.upgrade() == []


def test_a_store_newer_than_this_bulletin_is_refused(store: Store) -> None:
    with store.engine.begin() as connection:
        connection.execute(insert(schema_version).values(version=LATEST_VERSION + 1, applied=NOW))
    with pytest.raises(StoreError, match="newer than this bulletin"):
        store.upgrade()


def test_saving_the_same_items_twice_stores_each_once(store: Store) -> None:
    batch = [numbered(1), numbered(2)]
    first = store.save_items(batch, "listing", NOW)
    second = store.save_items(batch, "listing", NOW + timedelta(hours=1))
    assert len(first.new) == 2
    assert (len(second.new), len(second.updated), len(second.unchanged)) == (0, 0, 2)
    assert store.count_items() == 2


def test_an_edited_item_is_updated_with_its_update_time_and_keeps_its_publication(
    store: Store,
) -> None:
    store.save_items([numbered(1)], "listing", NOW)
    later = NOW + timedelta(hours=2)
    edited = numbered(1, text="Corrected text.", minute=30)
    report = store.save_items([edited], "listing", later)
    assert len(report.updated) == 1
    (stored,) = store.items_on(date(2026, 11, 26))
    assert stored.paragraphs == ("Item 1. Corrected text.",)
    assert stored.updated == later
    assert stored.published == numbered(1).published


def test_preview_reports_what_saving_would_do_without_writing(store: Store) -> None:
    report = store.preview_items([numbered(1)], NOW)
    assert len(report.new) == 1
    assert store.count_items() == 0


def test_datetimes_come_back_aware_in_utc(store: Store) -> None:
    damascus = numbered(1).with_updates(
        published=datetime(2026, 11, 26, 12, 0, tzinfo=UTC).astimezone(
            __import__("zoneinfo").ZoneInfo("Asia/Damascus")
        )
    )
    store.save_items([damascus], "listing", NOW)
    (stored,) = store.latest_items(10)
    assert stored.published == datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert stored.published.tzinfo is UTC


def test_latest_items_are_newest_first_with_the_id_breaking_ties(store: Store) -> None:
    store.save_items([numbered(3), numbered(1, minute=5), numbered(2)], "listing", NOW)
    assert [i.id for i in store.latest_items(10)] == ["item-1", "item-2", "item-3"]
    assert [i.id for i in store.latest_items(2)] == ["item-1", "item-2"]


def test_items_round_trip_every_field(store: Store) -> None:
    item = numbered(1).with_updates(
        title="عنوان", language="ar", direction="rtl", title_derived=True, origin="x.txt:3"
    )
    store.save_items([item], "listing", NOW)
    assert store.latest_items(1) == [item]


def test_categories_and_days_reflect_the_stored_items(store: Store) -> None:
    store.save_items([numbered(1, day=25), numbered(2)], "listing", NOW)
    assert store.categories() == [LOCAL]
    assert store.days() == [date(2026, 11, 25), date(2026, 11, 26)]


def test_categories_come_in_slug_order_each_with_its_newest_name(store: Store) -> None:
    assert store.categories() == []
    world = Category(slug="world", name="World")
    items = [
        replace(numbered(1), category=world),
        replace(numbered(2, minute=5), category=Category("local-news", "Local")),
        numbered(3, minute=30),  # the newest local item names the category
        replace(numbered(4, minute=30), category=Category("local-news", "Locally")),  # a tie
        replace(numbered(5), category=Category("arts", "Arts")),
    ]
    store.save_items(items, "listing", NOW)
    assert store.categories() == [Category("arts", "Arts"), LOCAL, world]


def test_latest_items_read_on_sqlite_equal_what_the_portable_query_reads(store: Store) -> None:
    arts = Category("arts", "Arts")
    items = [
        numbered(1),
        replace(numbered(2, minute=1), title="", title_derived=True, source=None),
        replace(numbered(3, minute=2), category=arts, language="ar", direction="rtl"),
        replace(numbered(4, minute=2), updated=NOW + timedelta(hours=1), origin="a/b.md"),
        numbered(5, day=25),
    ]
    store.save_items(items, "listing", NOW)
    store.save_items([numbered(5, text="Edited.", day=25)], "listing", NOW + timedelta(days=1))
    fast = [store.latest_items(3), store.latest_items(9), store.latest_items(9, "arts")]
    store._latest = None  # the query every other database gets
    assert [store.latest_items(3), store.latest_items(9), store.latest_items(9, "arts")] == fast
    assert [item.origin for item in fast[1]] == [item.origin for item in store.latest_items(9)]
    assert [item.id for item in fast[1]] == [f"item-{n}" for n in (3, 4, 2, 1, 5)]
    assert fast[1][-1].updated == NOW + timedelta(days=1)


def test_runs_are_recorded_with_their_outcome(store: Store) -> None:
    run_id = store.start_run("run", date(2026, 11, 26), NOW)
    store.finish_run(run_id, "ok", {"items_new": 3}, NOW + timedelta(seconds=5))
    (record,) = store.last_runs()
    assert (record.command, record.outcome, record.summary) == ("run", "ok", {"items_new": 3})


def test_a_url_that_is_no_database_url_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="not a database URL"):
        Store.open("var/bulletin.db")
