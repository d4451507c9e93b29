"""The database: items and run records, through SQLAlchemy Core.

SQLite by default, any SQLAlchemy URL (PostgreSQL) later. bulletin creates and upgrades its own
schema: each migration is a numbered step recorded in ``schema_version``, applied in order in
one transaction, so an upgrade either happens whole or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Dialect,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.types import TypeDecorator

from bulletin.errors import StoreError
from bulletin.model import Category, Item


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every database.

    SQLite has no time zones: values are stored as naive UTC and given UTC back on reading.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("bulletin stores aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied", UtcDateTime, nullable=False),
)

items = Table(
    "items",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("source", String(200), nullable=False),
    Column("day", Date, nullable=False, index=True),
    Column("published", UtcDateTime, nullable=False, index=True),
    Column("updated", UtcDateTime),
    Column("collected", UtcDateTime, nullable=False),
    Column("category_slug", String(200), nullable=False, index=True),
    Column("category_name", String(200), nullable=False),
    Column("title", Text, nullable=False),
    Column("title_derived", Boolean, nullable=False),
    Column("paragraphs", Text, nullable=False),  # a JSON list of plain-text paragraphs
    Column("body_html", Text, nullable=False),
    Column("source_line", Text),
    Column("language", String(35), nullable=False),
    Column("direction", String(3), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("origin", Text, nullable=False),
    # A category feed reads its newest items: one index walk instead of a sort.
    Index("items_category_published", "category_slug", "published", "id"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("command", String(40), nullable=False),
    Column("day", Date),
    Column("started", UtcDateTime, nullable=False),
    Column("finished", UtcDateTime),
    Column("outcome", String(20), nullable=False),
    Column("summary", Text, nullable=False),  # JSON: counts and paths of what the run did
)


deliveries = Table(
    "deliveries",
    metadata,
    Column("day", Date, primary_key=True),
    Column("address", String(320), primary_key=True),  # lower-cased
    Column("message_id", String(400), nullable=False),
    Column("transport", String(20), nullable=False),
    Column("delivered", UtcDateTime, nullable=False),
)


def _create_v1(connection: Connection) -> None:
    for table in (items, runs, deliveries):
        table.create(connection)


#: The schema's history. Append a step to change the schema; never edit a released one.
MIGRATIONS: tuple[tuple[int, str, Callable[[Connection], None]], ...] = (
    (1, "items, runs and deliveries", _create_v1),
)
LATEST_VERSION = MIGRATIONS[-1][0]


@dataclass(frozen=True)
class SaveReport:
    """What saving a batch of items did."""

    new: tuple[Item, ...] = ()
    updated: tuple[Item, ...] = ()
    unchanged: tuple[Item, ...] = ()

    @property
    def stored(self) -> tuple[Item, ...]:
        """Every item of the batch as the store now holds it."""
        return self.new + self.updated + self.unchanged


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


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets feed readers and a collector work side by side; busy_timeout makes a second
    # writer wait for the lock instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            f'store.url "{url}" is not a database URL',
            hint="use e.g. sqlite:///var/bulletin.db or postgresql+psycopg://user@host/db",
        ) from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(parsed)
    except (ArgumentError, ImportError) as exc:
        raise StoreError(f"cannot open store {parsed!r}: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class Store:
    """Items and run records in one database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _engine(url)

    @classmethod
    def open(cls, url: str, upgrade: bool = True) -> Store:
        """Open the store at ``url``, bringing its schema up to date unless told not to."""
        store = cls(url)
        if upgrade:
            store.upgrade()
        return store

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as connection:
                yield connection
        except OperationalError as exc:
            raise StoreError(
                f"store {self.engine.url!r}: {exc.orig}",
                hint="check store.url and that the database is reachable",
            ) from None

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
            return self._save(connection, batch, source, now, write=True)

    def preview_items(self, batch: Iterable[Item], now: datetime) -> SaveReport:
        """What ``save_items`` would do, without writing anything."""
        with self._begin() as connection:
            return self._save(connection, batch, "", now, write=False)

    def _save(
        self,
        connection: Connection,
        batch: Iterable[Item],
        source: str,
        now: datetime,
        write: bool,
    ) -> SaveReport:
        new: list[Item] = []
        updated: list[Item] = []
        unchanged: list[Item] = []
        seen: dict[str, Item] = {}
        for item in batch:
            row = connection.execute(select(items).where(items.c.id == item.id)).first()
            stored = _item(row._mapping) if row is not None else seen.get(item.id)
            if stored is None:
                if write:
                    connection.execute(insert(items).values(**_row(item, source, now)))
                new.append(item)
                seen[item.id] = item
            elif stored.content_hash == item.content_hash:
                unchanged.append(stored)
            else:
                changed = item.with_updates(published=stored.published, updated=now)
                if write:
                    values = _row(changed, source, now)
                    del values["id"], values["collected"]
                    connection.execute(update(items).where(items.c.id == item.id).values(**values))
                updated.append(changed)
                seen[item.id] = changed
        return SaveReport(tuple(new), tuple(updated), tuple(unchanged))

    def items_on(self, day: date) -> list[Item]:
        """The items of one day, newest first."""
        query = select(items).where(items.c.day == day)
        return self._items(query)

    def latest_items(self, limit: int, category_slug: str | None = None) -> list[Item]:
        """The newest ``limit`` items, of one category or of all."""
        query = select(items)
        if category_slug is not None:
            query = query.where(items.c.category_slug == category_slug)
        return self._items(query.limit(limit))

    def _items(self, query: Any) -> list[Item]:
        # Newest first, and the id breaks ties so the order never depends on the database.
        query = query.order_by(items.c.published.desc(), items.c.id.asc())
        with self._begin() as connection:
            return [_item(row._mapping) for row in connection.execute(query)]

    def categories(self) -> list[Category]:
        """Every category that has items, with the newest name seen for each slug."""
        query = select(items.c.category_slug, items.c.category_name).order_by(
            items.c.category_slug, items.c.published.desc()
        )
        found: dict[str, Category] = {}
        with self._begin() as connection:
            for slug, name in connection.execute(query):
                found.setdefault(slug, Category(slug=slug, name=name))
        return list(found.values())

    def days(self) -> list[date]:
        """Every day that has items, oldest first."""
        with self._begin() as connection:
            rows = connection.execute(select(items.c.day).distinct().order_by(items.c.day))
            return [row.day for row in rows]

    def count_items(self) -> int:
        """How many items the store holds."""
        with self._begin() as connection:
            return int(connection.scalar(select(func.count()).select_from(items)) or 0)

    # --- deliveries ----------------------------------------------------------------------

    def delivered_addresses(self, day: date) -> set[str]:
        """The (lower-cased) addresses that already have the digest of ``day``."""
        query = select(deliveries.c.address).where(deliveries.c.day == day)
        with self._begin() as connection:
            return {row.address for row in connection.execute(query)}

    def record_delivery(
        self, day: date, address: str, message_id: str, transport: str, now: datetime
    ) -> None:
        """Record, after the transport accepted it, that ``address`` has the day's digest."""
        with self._begin() as connection:
            connection.execute(
                insert(deliveries).values(
                    day=day,
                    address=address.lower(),
                    message_id=message_id,
                    transport=transport,
                    delivered=now,
                )
            )

    # --- runs ----------------------------------------------------------------------------

    def start_run(self, command: str, day: date | None, now: datetime) -> int:
        """Record that a run began; returns its id."""
        with self._begin() as connection:
            result = connection.execute(
                insert(runs).values(
                    command=command, day=day, started=now, outcome="running", summary="{}"
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def finish_run(self, run_id: int, outcome: str, summary: dict[str, Any], now: datetime) -> None:
        """Record how a run ended."""
        with self._begin() as connection:
            connection.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(finished=now, outcome=outcome, summary=json.dumps(summary, default=str))
            )

    def last_runs(self, limit: int = 10) -> list[RunRecord]:
        """The most recent runs, newest first."""
        query = select(runs).order_by(runs.c.id.desc()).limit(limit)
        with self._begin() as connection:
            return [
                RunRecord(
                    id=row.id,
                    command=row.command,
                    day=row.day,
                    started=row.started,
                    finished=row.finished,
                    outcome=row.outcome,
                    summary=json.loads(row.summary),
                )
                for row in connection.execute(query)
            ]


def _row(item: Item, source: str, now: datetime) -> dict[str, Any]:
    return {
        "id": item.id,
        "source": source,
        "day": item.day,
        "published": item.published,
        "updated": item.updated,
        "collected": now,
        "category_slug": item.category.slug,
        "category_name": item.category.name,
        "title": item.title,
        "title_derived": item.title_derived,
        "paragraphs": json.dumps(list(item.paragraphs), ensure_ascii=False),
        "body_html": item.body_html,
        "source_line": item.source,
        "language": item.language,
        "direction": item.direction,
        "content_hash": item.content_hash,
        "origin": item.origin,
    }


def _item(row: Any) -> Item:
    return Item(
        id=row["id"],
        day=row["day"],
        published=row["published"],
        updated=row["updated"],
        category=Category(slug=row["category_slug"], name=row["category_name"]),
        title=row["title"],
        title_derived=bool(row["title_derived"]),
        paragraphs=tuple(json.loads(row["paragraphs"])),
        body_html=row["body_html"],
        source=row["source_line"],
        language=row["language"],
        direction="rtl" if row["direction"] == "rtl" else "ltr",
        origin=row["origin"],
    )
