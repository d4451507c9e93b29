"""What the step keeps in the store: schema 3 (digests, run ids), and the locks."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, inspect

from builders import store_at_version
from bulletin.store import (
    LATEST_VERSION,
    Busy,
    FileLock,
    Store,
    ledger,
    lock_holder,
)

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
DAY = date(2026, 11, 26)


def test_a_version_2_store_gets_run_ids_and_its_sent_days_settled(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/bulletin.db"
    old = store_at_version(url, 2)
    with old.engine.begin() as connection:
        # ``runs`` is declared with schema 3's columns: drop them to be a store of schema 2.
        for column in ("run_key", "items_new", "feeds_written"):
            connection.exec_driver_sql(f"ALTER TABLE runs DROP COLUMN {column}")
        connection.execute(
            insert(ledger).values(
                day=DAY,
                address="ann@example.org",
                name="",
                variant="",
                status="sent",
                attempts=1,
                reply="250",
                message_id="<m>",
                transport="smtp",
                changed=NOW,
                sent=NOW,
            )
        )
    old.close()

    with Store.open(url) as store:
        assert store.version() == LATEST_VERSION  # 3, and every step after it
        with store.engine.begin() as connection:
            columns = {c["name"] for c in inspect(connection).get_columns("runs")}
        assert {"run_key", "items_new", "feeds_written"} <= columns
        recorded = store.digests.get(DAY)
        assert recorded is not None and recorded.status == "sent"
        assert store.digests.latest_settled() == DAY
        run = store.start_run("serve", None, NOW, "k1")
        store.finish_run(run, "ok", {"items_new": 2, "feeds_written": 5}, NOW)
        assert store.last_runs()[0].key == "k1"
        assert store.run_totals() == {"items_new": 2, "feeds_written": 5, "runs_ok": 1}


def test_a_catch_up_digest_is_recorded_with_the_days_it_covers(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path}/bulletin.db") as store:
        days = [date(2026, 11, 24), date(2026, 11, 25), DAY]
        store.digests.record([DAY], "sending", NOW, "k", first_day=days[0])
        store.digests.record(days[:-1], "covered", NOW, "k", filed_under=DAY)
        (unfinished,) = store.digests.unfinished()
        assert unfinished.days == tuple(days)
        store.digests.mark(DAY, "sent", NOW)
        assert store.digests.unfinished() == []
        assert [(d.day, d.status) for d in store.digests.recent()] == [
            (DAY, "sent"),
            (date(2026, 11, 25), "covered"),
            (date(2026, 11, 24), "covered"),
        ]


def test_a_lock_held_elsewhere_names_its_holder_and_dies_with_it(tmp_path: Path) -> None:
    path = tmp_path / "bulletin.db.run-lock"
    first = FileLock(path, "serve")
    first.acquire()
    assert lock_holder(path) is not None and lock_holder(path).endswith(" serve")  # type: ignore[union-attr]
    with pytest.raises(Busy, match=r"\(pid \d+ serve\) is working on this store") as caught:
        FileLock(path, "run").acquire(wait=0.2)
    assert caught.value.exit_code == 75
    first.release()
    assert lock_holder(path) is None
    with FileLock(path, "run"):
        assert "run" in (lock_holder(path) or "")


def test_a_store_in_memory_needs_no_lock() -> None:
    with Store.open("sqlite://") as store:
        assert store.lock("run", "test") is None
