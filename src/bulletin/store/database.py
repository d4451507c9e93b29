"""The database: items, run records and the mailing list, through SQLAlchemy Core.

SQLite by default, or PostgreSQL, which several machines can share. bulletin creates and
upgrades its own schema: each migration is a numbered step recorded in ``schema_version``,
applied in order in one transaction, so an upgrade either happens whole or not at all; on
PostgreSQL under an advisory transaction lock, so that processes starting together upgrade
one after the other. ``Store.recipients`` and ``Store.ledger`` are the mailing list and the
delivery ledger, ``Store.events`` and ``Store.suppressions`` what happened to each address and
whom nothing may mail, on the same engine.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, insert, inspect, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from bulletin.errors import StoreError
from bulletin.model import Category, Item
from bulletin.store.advisory import MIGRATE_LOCK, AdvisoryLock
from bulletin.store.connect import open_engine, sqlite_file, transaction
from bulletin.store.digests import DigestLog
from bulletin.store.events import Events
from bulletin.store.feed_state import FeedStates, source_counts
from bulletin.store.items import (
    ITEM_COLUMNS,
    NEWEST_FIRST,
    SaveReport,
    SqliteLatestItems,
    categories_query,
    item_of,
    save_batch,
)
from bulletin.store.ledger import Ledger
from bulletin.store.locks import FileLock
from bulletin.store.migrations import LATEST_VERSION, MIGRATIONS
from bulletin.store.readers import Readers
from bulletin.store.recipients import Recipients
from bulletin.store.schema import (
    items,
    runs,
    schema_version,
    settings,
)
from bulletin.store.suppressions import Suppressions


@dataclass(frozen=True)
class RunRecord:
    """One recorded run of a bulletin command."""

    id: int
    command: str
    day: date | None
    started: datetime
    finished: datetime | None
    outcome: str
    summary: dict[str, Any]
    key: str = ""  # the id its log lines carry


class Store:
    """Items, run records, the mailing list and the delivery ledger in one database."""

    def __init__(self, url: str, password: str | None = None) -> None:
        self.url = url
        self.engine = open_engine(url, password)
        # Several processes, on several machines, may work on it at once (PostgreSQL).
        self.shared = self.engine.dialect.name == "postgresql"
        self.recipients = Recipients(self.engine)
        self.ledger = Ledger(self.engine, sqlite_file(url))
        self.digests = DigestLog(self.engine)
        self.feed_states = FeedStates(self.engine)
        self.events = Events(self.engine)
        self.suppressions = Suppressions(self.engine)
        self.readers = Readers(self.engine)  # what readers change themselves (the web)
        self.signups = self.readers.signups
        self._latest = None if self.shared else SqliteLatestItems(self.engine)
        self._kept = False

    @classmethod
    def open(cls, url: str, upgrade: bool = True, password: str | None = None) -> Store:
        """Open the store at ``url``, bringing its schema up to date unless told not to;
        ``password`` is for a PostgreSQL server (store.password_env)."""
        store = cls(url, password)
        try:
            if upgrade:
                store.upgrade()
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        """Release the database connections (unless the store is kept open)."""
        if not self._kept:
            self.engine.dispose()

    def keep_open(self) -> Store:
        """Keep this store and its connections open across ``with`` blocks, for a server that
        answers many requests: each would otherwise open it and check its schema again."""
        self._kept = True
        return self

    def release(self) -> None:
        """Close a store kept open."""
        self._kept = False
        self.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def lock(
        self, name: str, label: str, folder: Path | None = None
    ) -> FileLock | AdvisoryLock | None:
        """The store's lock ``name`` (not taken yet), saying that ``label`` holds it.

        It lives beside a SQLite file; on PostgreSQL it is an advisory lock of the database
        itself, so it keeps apart the processes of every machine. None for a store in
        memory, which no other process can reach.
        """
        if self.shared:
            return AdvisoryLock(self.engine, name, label)
        database = sqlite_file(self.url)
        if database is not None:
            return FileLock(database.with_name(f"{database.name}.{name}-lock"), label)
        if self.engine.dialect.name == "sqlite" or folder is None:
            return None
        return FileLock(folder / f"bulletin.{name}-lock", label)

    def _begin(self) -> AbstractContextManager[Connection]:
        return transaction(self.engine)

    # --- schema --------------------------------------------------------------------------

    @staticmethod
    def exists(url: str) -> bool:
        """Whether the store at ``url`` may hold data (a missing SQLite file does not)."""
        parsed = make_url(url)
        if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
            return True
        return Path(parsed.database).exists()

    def version(self) -> int:
        """The schema version the database is at (0 for an empty database)."""
        with self._begin() as connection:
            if not inspect(connection).has_table(schema_version.name):
                return 0
            return int(connection.scalar(select(func.max(schema_version.c.version))) or 0)

    def upgrade(self, now: datetime | None = None) -> list[tuple[int, str]]:
        """Apply every migration the database lacks; returns the steps applied."""
        applied: list[tuple[int, str]] = []
        with self._begin() as connection:
            if self.shared:  # held to the end of this transaction: one upgrade at a time
                AdvisoryLock.hold_for_transaction(connection, MIGRATE_LOCK)
            schema_version.create(connection, checkfirst=True)
            current = int(connection.scalar(select(func.max(schema_version.c.version))) or 0)
            if current > LATEST_VERSION:
                raise StoreError(
                    f"the store is at schema version {current}, newer than this bulletin "
                    f"knows ({LATEST_VERSION})",
                    hint="upgrade bulletin, or point store.url at another database",
                )
            for version, description, step in MIGRATIONS:
                if version > current:
                    step(connection)
                    connection.execute(
                        insert(schema_version).values(
                            version=version, applied=now or datetime.now(UTC)
                        )
                    )
                    applied.append((version, description))
        return applied

    # --- items ---------------------------------------------------------------------------

    def save_items(self, batch: Iterable[Item], source: str, now: datetime) -> SaveReport:
        """Store new items, update edited ones (recording ``now``), leave the rest alone.

        An item keeps the publication time it was first stored with, so a reader's feed
        order does not shift when the same day is collected again.
        """
        with self._begin() as connection:
            return save_batch(connection, batch, source, now, write=True)

    def preview_items(self, batch: Iterable[Item], now: datetime) -> SaveReport:
        """What ``save_items`` would do, without writing anything."""
        with self._begin() as connection:
            return save_batch(connection, batch, "", now, write=False)

    def items_on(self, day: date) -> list[Item]:
        """The items of one day, newest first."""
        query = select(items).where(items.c.day == day)
        return self._items(query)

    def latest_items(self, limit: int, category_slug: str | None = None) -> list[Item]:
        """The newest ``limit`` items, of one category or of all."""
        if self._latest is not None:
            return self._latest.read(limit, category_slug)
        query = select(items)
        if category_slug is not None:
            query = query.where(items.c.category_slug == category_slug)
        return self._items(query.limit(limit))

    def _items(self, query: Any) -> list[Item]:
        # Only the columns an Item holds, fetched at once and unpacked by position: a feeds
        # build converts thousands of rows, and name lookups per field add up.
        query = query.with_only_columns(*ITEM_COLUMNS).order_by(*NEWEST_FIRST)
        with self._begin() as connection:
            return [item_of(*row) for row in connection.execute(query).all()]

    def categories(self) -> list[Category]:
        """Every category that has items, with the newest name seen for each slug."""
        query = categories_query()
        with self._begin() as connection:
            return [Category(slug=slug, name=name) for slug, name in connection.execute(query)]

    def days(self) -> list[date]:
        """Every day that has items, oldest first."""
        with self._begin() as connection:
            rows = connection.execute(select(items.c.day).distinct().order_by(items.c.day))
            return [row.day for row in rows]

    def source_counts(self) -> dict[str, tuple[int, datetime | None]]:
        """How many items each source stored, and when it last stored one."""
        return source_counts(self.engine)

    def count_items(self) -> int:
        """How many items the store holds."""
        with self._begin() as connection:
            return int(connection.scalar(select(func.count()).select_from(items)) or 0)

    # --- settings ------------------------------------------------------------------------

    def setting(self, name: str, make: Callable[[], str]) -> str:
        """The value of setting ``name``; on first use, ``make()``'s value, stored for good."""
        query = select(settings.c.value).where(settings.c.name == name)
        with self._begin() as connection:
            value = connection.scalar(query)
            if value is not None:
                return str(value)
        try:
            with self._begin() as connection:
                connection.execute(insert(settings).values(name=name, value=make()))
        except IntegrityError:
            pass  # another process stored it first: use theirs
        with self._begin() as connection:
            return str(connection.scalar(query))

    def unsubscribe_key(self) -> bytes:
        """The store's own random key for signing unsubscribe links, made on first use."""
        return bytes.fromhex(self.setting("unsubscribe_key", lambda: secrets.token_hex(32)))

    # --- runs ----------------------------------------------------------------------------

    def start_run(self, command: str, day: date | None, now: datetime, key: str = "") -> int:
        """Record that a run began; returns its id. ``key``: the id its log lines carry."""
        with self._begin() as connection:
            result = connection.execute(
                insert(runs).values(
                    command=command,
                    day=day,
                    started=now,
                    outcome="running",
                    summary="{}",
                    run_key=key or None,
                )
            )
            inserted = result.inserted_primary_key
            assert inserted is not None
            return int(inserted[0])

    def finish_run(self, run_id: int, outcome: str, summary: dict[str, Any], now: datetime) -> None:
        """Record how a run ended; its ``items_new`` and ``feeds_written`` also in columns,
        for metrics to add up."""
        with self._begin() as connection:
            connection.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(
                    finished=now,
                    outcome=outcome,
                    summary=json.dumps(summary, default=str),
                    items_new=summary.get("items_new"),
                    feeds_written=summary.get("feeds_written"),
                )
            )

    def last_runs(self, limit: int = 10, outcome: str | None = None) -> list[RunRecord]:
        """The most recent runs (that ended with ``outcome``, if given), newest first."""
        query = select(runs).order_by(runs.c.id.desc()).limit(limit)
        if outcome is not None:
            query = query.where(runs.c.outcome == outcome)
        with self._begin() as connection:
            return [_run(row) for row in connection.execute(query)]

    def run_totals(self) -> dict[str, int]:
        """Items stored new and feed files written by every run, and runs by outcome."""
        sums = select(func.sum(runs.c.items_new), func.sum(runs.c.feeds_written))
        outcomes = select(runs.c.outcome, func.count()).group_by(runs.c.outcome)
        with self._begin() as connection:
            items_new, feeds_written = connection.execute(sums).one()
            totals = {f"runs_{outcome}": int(n) for outcome, n in connection.execute(outcomes)}
        return {
            "items_new": int(items_new or 0),
            "feeds_written": int(feeds_written or 0),
            **totals,
        }


def _run(row: Any) -> RunRecord:
    return RunRecord(
        id=row.id,
        command=row.command,
        day=row.day,
        started=row.started,
        finished=row.finished,
        outcome=row.outcome,
        summary=json.loads(row.summary),
        key=row.run_key or "",
    )
