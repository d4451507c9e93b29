"""Seeding the mailing list from config.yaml: cheap when nothing changed, right when it did.

Every run and every list command merges the recipients of config.yaml into the list, so a long
list must cost a few milliseconds per thousand recipients, and nothing to speak of when neither
the config nor the list changed since the last time. These tests count the statements a seeding
runs; its time is measured by bench/subscribers.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event

from bulletin.store import ListEntry, Store

NOW = datetime(2026, 11, 26, 18, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(f"sqlite:///{tmp_path}/bulletin.db")
    yield opened
    opened.close()


def listed(count: int, renamed: int = -1) -> list[ListEntry]:
    """Config recipients as config_entries gives them: every third wants one category."""
    return [
        ListEntry(
            f"reader{n:05d}@Example.org",
            f"Reader {n}" + (" (renamed)" if n == renamed else ""),
            frozenset({"local-news"}) if n % 3 == 0 else None,
            has_categories=True,
        )
        for n in range(count)
    ]


def statements(store: Store) -> list[str]:
    """The SQL statements the store runs from now on."""
    seen: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *a: seen.append(a[2].split()[0]))
    return seen


def test_an_unchanged_config_list_costs_one_query(store: Store) -> None:
    store.recipients.sync_config(listed(50), NOW)
    seen = statements(store)
    report = store.recipients.sync_config(listed(50), NOW + timedelta(minutes=1))
    assert seen == ["SELECT", "SELECT"]  # the last sync's fingerprint, and the list's state
    assert (report.added, report.updated, report.unchanged) == (0, 0, 50)


def test_a_changed_entry_is_followed_and_only_it_is_written(store: Store) -> None:
    store.recipients.sync_config(listed(50), NOW)
    seen = statements(store)
    report = store.recipients.sync_config(listed(50, renamed=7), NOW + timedelta(minutes=1))
    assert (report.added, report.updated, report.unchanged) == (0, 1, 49)
    assert seen.count("UPDATE") == 1 and "INSERT" in seen  # the row, and the new fingerprint
    renamed = store.recipients.get("reader00007@example.org")
    assert renamed is not None and renamed.name == "Reader 7 (renamed)"


def test_a_change_to_the_list_itself_makes_the_next_sync_look_again(store: Store) -> None:
    store.recipients.sync_config(listed(5), NOW)
    store.recipients.remove("reader00002@example.org")
    store.recipients.add(ListEntry("reader00003@example.org", "Someone else"), NOW)
    store.recipients.sync_config(listed(5), NOW + timedelta(minutes=1))
    back = {s.address: s.name for s in store.recipients.each()}
    assert back["reader00002@example.org"] == "Reader 2"  # listed in the config: back on it
    assert back["reader00003@example.org"] == "Reader 3"  # the config names it
    store.recipients.set_status("reader00001@example.org", "unsubscribed", NOW)
    report = store.recipients.sync_config(listed(5), NOW + timedelta(minutes=2))
    assert report.kept_away == ["reader00001@example.org"]
    assert store.recipients.counts()["unsubscribed"] == 1
