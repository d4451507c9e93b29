"""Opening the database: one engine per store, SQLite tuned for a reader beside a writer,
PostgreSQL (psycopg 3) with the password from the environment and its failures told apart.

A PostgreSQL URL never holds the password: it comes from ``store.password_env`` (passed in
here) or from libpq's own ``PGPASSWORD``/``PGPASSFILE``, and no message built here shows it.
A server that cannot be reached is ``StoreUnavailable`` (exit 75: try later), naming host,
port and database; refused credentials or a missing database are ``StoreConfigError``
(exit 2: the config must change).
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import URL, Connection, Engine, Table, create_engine, event, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DataError, DBAPIError, InterfaceError, OperationalError

from bulletin.errors import StoreConfigError, StoreError, StoreUnavailable

POSTGRESQL = "postgresql+psycopg"
# What each session on PostgreSQL is told: a transaction left open by a frozen or lost
# process is ended (its row locks would stall the others' claims, which SKIP LOCKED rows it
# holds); the client's keepalives notice a server that vanished without closing the socket.
_PG_OPTIONS = "-c idle_in_transaction_session_timeout=30s -c lock_timeout=30s"
_PG_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}


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


def parse_url(url: str) -> URL:
    """``url`` as SQLAlchemy reads it, PostgreSQL always through psycopg 3; a
    ``StoreConfigError`` for a URL bulletin cannot use (its password is never shown)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreConfigError(
            f'store.url "{url}" is not a database URL',
            hint="use e.g. sqlite:///var/bulletin.db or postgresql+psycopg://user@host/db",
        ) from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername not in ("postgresql", POSTGRESQL):
            raise StoreConfigError(
                f"store.url: the driver {parsed.drivername} is not supported",
                hint=f"write the URL as {POSTGRESQL}://user@host:5432/database",
            )
        if parsed.password is not None:
            raise StoreConfigError(
                f"store.url {parsed.render_as_string(hide_password=True)} holds a password",
                hint="remove it from the URL and name its variable in store.password_env "
                "(or set PGPASSWORD or a ~/.pgpass file)",
            )
        return parsed.set(drivername=POSTGRESQL)
    if backend != "sqlite":
        raise StoreConfigError(
            f"store.url: bulletin does not support {backend} databases",
            hint="use SQLite (sqlite:///var/bulletin.db) or PostgreSQL "
            f"({POSTGRESQL}://user@host/db)",
        )
    return parsed


def describe(url: URL) -> str:
    """Where a store is, for messages: host, port and database; never the password."""
    if url.get_backend_name() == "sqlite":
        return f"SQLite {url.database or 'in memory'}"
    host = url.host or os.environ.get("PGHOST") or "localhost (socket)"
    port = url.port or os.environ.get("PGPORT") or 5432
    database = url.database or os.environ.get("PGDATABASE") or url.username or "(default)"
    return f"PostgreSQL on host {host} port {port} database {database}"


def application_name(role: str) -> str:
    """How a session names itself to PostgreSQL (pg_stat_activity): bulletin, the host, the
    process and its role ("bulletin host-a pid 1234 serve"); the server keeps 63 bytes."""
    return f"bulletin {socket.gethostname()} pid {os.getpid()} {role}"[:63]


def open_engine(url: str, password: str | None = None) -> Engine:
    """The engine of the store at ``url``; ``password`` (from store.password_env) for
    PostgreSQL, which otherwise reads libpq's own variables."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        connect_args: dict[str, Any] = {
            "application_name": application_name("store"),
            "connect_timeout": 10,
            "options": _PG_OPTIONS,
            **_PG_KEEPALIVES,
        }
        if password is not None:
            connect_args["password"] = password
        # A connection the server dropped (a restart) is noticed and replaced, not reused.
        options = {"connect_args": connect_args, "pool_pre_ping": True}
    try:
        engine = create_engine(parsed, **options)
    except (ArgumentError, ImportError) as exc:
        raise StoreError(f"cannot open the store ({describe(parsed)}): {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


# SQLSTATE classes of a server that refuses who we are or what we asked for: 28 (invalid
# authorization), 3D000 (no such database), 42501 (no privilege): the config must change.
# A refusal while connecting carries no SQLSTATE in psycopg, only libpq's message.
_REFUSED = ("28", "3D000", "42501")
_REFUSED_AT_CONNECT = re.compile(
    r"password authentication failed|no password supplied|no pg_hba\.conf entry"
    r'|database "[^"]*" does not exist|role "[^"]*" does not exist|permission denied'
)


def store_failure(url: URL, error: DBAPIError) -> StoreError:
    """The StoreError a database error stands for: unreachable, refused, or other."""
    return driver_failure(url, error.orig or error, error.connection_invalidated)


def driver_failure(url: URL, original: BaseException, invalidated: bool = False) -> StoreError:
    """The StoreError an error of the driver itself stands for; ``invalidated``: the
    connection it came on is known to be broken."""
    text = " ".join(str(original).split()) or type(original).__name__
    state = str(getattr(original, "sqlstate", "") or "")
    where = describe(url)
    if state.startswith(_REFUSED) or (not state and _REFUSED_AT_CONNECT.search(text)):
        return StoreConfigError(
            f"the store refused the connection ({where}): {text}",
            hint="check store.url's user and database, and store.password_env",
        )
    lost = invalidated or not state or state.startswith(("08", "57P", "53"))
    if url.get_backend_name() == "postgresql" and lost:
        return StoreUnavailable(
            f"cannot reach the store ({where}): {text}",
            hint="check that the database server is running and reachable, then try again",
        )
    return StoreError(
        f"store ({where}): {text}", hint="check store.url and that the database is reachable"
    )


@contextmanager
def database_errors(engine: Engine) -> Iterator[None]:
    """Database trouble inside the block raised as the StoreError it stands for; the errors
    callers handle themselves (a duplicate key) pass through."""
    try:
        yield
    except (OperationalError, InterfaceError, DataError) as exc:
        raise store_failure(engine.url, exc) from None
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        raise store_failure(engine.url, exc) from None


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction, committed at the end; database trouble is a StoreError."""
    with database_errors(engine), engine.begin() as connection:
        yield connection


def insert_ignore(engine: Engine, table: Table) -> Any:
    """INSERT that skips rows whose key exists: planning twice, or two processes adding the
    same recipient at once, is a no-op."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if engine.dialect.name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    return insert(table).prefix_with("IGNORE")


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
