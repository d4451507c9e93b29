"""Opening the database: one engine per store, SQLite tuned for a reader beside a writer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine, Table, create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from bulletin.errors import StoreError


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets feed readers and a collector work side by side; busy_timeout makes a second
    # writer wait for the lock instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for other databases and in-memory ones."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def open_engine(url: str) -> Engine:
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


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction, committed at the end; database trouble is a StoreError."""
    try:
        with engine.begin() as connection:
            yield connection
    except OperationalError as exc:
        raise StoreError(
            f"store {engine.url!r}: {exc.orig}",
            hint="check store.url and that the database is reachable",
        ) from None


class Addressed(Protocol):
    """A row read back as an object with an address (a recipient, a ledger row)."""

    @property
    def address(self) -> str: ...


T = TypeVar("T", bound=Addressed)


def pages_by_address(
    engine: Engine,
    table: Table,
    conditions: tuple[Any, ...],
    convert: Callable[[Any], T],
    size: int = 500,
    joined: tuple[Any, Any] | None = None,
) -> Iterator[T]:
    """Rows of ``table`` matching ``conditions`` in address order, one page per transaction;
    ``joined`` (a join of ``table`` and a column of the other table) adds that column.

    Keyset paging keeps memory flat on a list of any length and holds no transaction open
    while the caller works on a page (a send can take hours).
    """
    base = select(table) if joined is None else select(table, joined[1]).select_from(joined[0])
    after = ""
    while True:
        query = (
            base.where(*conditions, table.c.address > after).order_by(table.c.address).limit(size)
        )
        with transaction(engine) as connection:
            page = [convert(row._mapping) for row in connection.execute(query)]
        yield from page
        if len(page) < size:
            return
        after = page[-1].address


D = TypeVar("D")


def record_of(kind: type[D], row: Any) -> D:
    """A row read back as the data class ``kind`` whose fields are named as its columns."""
    return kind(**{field.name: row[field.name] for field in fields(kind)})  # type: ignore[arg-type]
