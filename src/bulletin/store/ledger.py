"""The delivery ledger: one row per (day, recipient), the only record of what was sent.

Rows are planned before anything is sent (planning again adds only who is new), claimed
(``sending``) in the same transaction that records the outcome of the connection's previous
message, and marked ``sent`` only after the server accepted the message. So when the process
dies, at most the message in flight on each connection is left ``sending``; the next sender
turns those into ``unknown`` (the server may or may not have it) and never resends them on its
own. A file lock beside the SQLite database keeps two senders off the same rows.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from bulletin.errors import StoreError
from bulletin.store.connect import pages_by_address, transaction
from bulletin.store.schema import UtcDateTime, issues, ledger, recipients

STATES = ("pending", "sending", "sent", "deferred", "failed", "unknown")
_PAGE = 500


@dataclass(frozen=True)
class Delivery:
    """One ledger row: a recipient's copy of a day's digest and what became of it."""

    day: date
    address: str
    name: str
    variant: str  # the recipient's categories as stored; "": every category
    status: str
    attempts: int
    next_attempt: datetime | None
    reply: str
    message_id: str
    sent: datetime | None


@dataclass(frozen=True)
class Outcome:
    """What happened to a claimed row: its new status and the server's reply."""

    day: date
    address: str
    status: str  # sent, deferred, failed or unknown
    reply: str
    message_id: str = ""
    transport: str = ""
    next_attempt: datetime | None = None


@dataclass(frozen=True)
class Issue:
    """The frozen content of one variant of a day's digest."""

    day: date
    variant: str
    subject: str
    html: str
    text: str
    token: str


class Ledger:
    """The delivery ledger of a store."""

    def __init__(self, engine: Engine, database_file: Path | None) -> None:
        self.engine = engine
        self.database_file = database_file

    # --- the sender's lock ----------------------------------------------------------------

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store's sender lock, or fail at once if another sender holds it."""
        if self.database_file is None:
            if self.engine.dialect.name == "sqlite":  # in memory: no other process sees it
                yield
                return
            raise StoreError(
                f"sending from a {self.engine.dialect.name} store is not supported yet",
                hint="use a SQLite store (store.url: sqlite:///var/bulletin.db) for now",
            )
        path = self.database_file.with_name(self.database_file.name + ".send-lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise StoreError(
                    f"another sender ({holder}) is working on this store",
                    hint=f"wait for it to finish; the lock is {path}",
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}\n")
            handle.flush()
            yield
        finally:
            handle.close()  # closing releases the lock, as does the process's death

    # --- planning -------------------------------------------------------------------------

    def reap(self, now: datetime) -> int:
        """Rows left ``sending`` by a sender that died become ``unknown`` (hold the lock)."""
        query = update(ledger).where(ledger.c.status == "sending")
        with transaction(self.engine) as connection:
            result = connection.execute(
                query.values(
                    status="unknown",
                    changed=now,
                    reply="the sender stopped while sending: the server may or may not have it",
                )
            )
            return int(result.rowcount)

    def retry_unknown(self, day: date, now: datetime) -> int:
        """Make the day's ``unknown`` rows pending again: the operator's explicit choice."""
        query = update(ledger).where(ledger.c.day == day, ledger.c.status == "unknown")
        with transaction(self.engine) as connection:
            return int(connection.execute(query.values(status="pending", changed=now)).rowcount)

    def plan(self, day: date, now: datetime) -> int:
        """Add a pending row for each active recipient without one; returns how many.

        Rows not yet attempted for recipients who have left the list since are dropped.
        """
        r, c = recipients.c, ledger.c
        fresh = select(
            bindparam("day", day, type_=ledger.c.day.type),
            r.address,
            r.name,
            func.coalesce(r.categories, ""),
            bindparam("status", "pending"),
            bindparam("attempts", 0),
            bindparam("reply", ""),
            bindparam("message_id", ""),
            bindparam("transport", ""),
            bindparam("changed", now, type_=ledger.c.changed.type),
        ).where(r.status == "active")
        columns = [
            "day",
            "address",
            "name",
            "variant",
            "status",
            "attempts",
            "reply",
            "message_id",
            "transport",
            "changed",
        ]
        with transaction(self.engine) as connection:
            connection.execute(
                delete(ledger).where(
                    c.day == day,
                    c.status.in_(("pending", "deferred")),
                    ~_active(c.address),
                )
            )
            before = _count(connection, day)
            connection.execute(_insert_ignore(self.engine).from_select(columns, fresh))
            return _count(connection, day) - before

    # --- sending ----------------------------------------------------------------------------

    def count_due(self, day: date, now: datetime) -> int:
        """How many of the day's rows ``due`` would give now."""
        query = select(func.count()).where(ledger.c.day == day, _due(now))
        with transaction(self.engine) as connection:
            return int(connection.scalar(query) or 0)

    def due(self, day: date, now: datetime) -> Iterator[Delivery]:
        """The day's rows to send now (pending, or deferred and due), a page at a time."""
        return self._pages(ledger.c.day == day, _due(now))

    def _pages(self, *conditions: Any) -> Iterator[Delivery]:
        """The rows matching ``conditions``, by address, a page at a time."""
        return pages_by_address(self.engine, ledger, conditions, _delivery, _PAGE)

    def apply(
        self, outcomes: Sequence[Outcome], claims: Sequence[Delivery], now: datetime
    ) -> list[bool]:
        """In one transaction, record outcomes of sent rows and claim rows for sending."""
        with self.writer() as writer:
            return writer.apply(outcomes, claims, now)

    @contextmanager
    def writer(self) -> Iterator[LedgerWriter]:
        """A writer keeping one connection for many small transactions (use in one thread)."""
        with self.engine.connect() as connection:
            sqlite_file = connection.dialect.name == "sqlite"
            yield _SqliteWriter(connection) if sqlite_file else LedgerWriter(connection)

    # --- reading ----------------------------------------------------------------------------

    def counts(self, day: date) -> dict[str, int]:
        """How many of the day's rows are in each state."""
        query = (
            select(ledger.c.status, func.count())
            .where(ledger.c.day == day)
            .group_by(ledger.c.status)
        )
        with transaction(self.engine) as connection:
            found = {status: int(n) for status, n in connection.execute(query)}
        return {state: found.get(state, 0) for state in STATES}

    def rows(self, day: date, statuses: Sequence[str]) -> Iterator[Delivery]:
        """The day's rows in some states, by address, a page at a time."""
        return self._pages(ledger.c.day == day, ledger.c.status.in_(statuses))

    def latest_day(self) -> date | None:
        """The newest day with rows in the ledger."""
        with transaction(self.engine) as connection:
            day: date | None = connection.scalar(select(func.max(ledger.c.day)))
        return day

    def days_due(self, now: datetime) -> list[date]:
        """The days with rows to send now: pending, or deferred and due; oldest first."""
        query = select(ledger.c.day).where(_due(now)).distinct().order_by(ledger.c.day)
        with transaction(self.engine) as connection:
            return [row.day for row in connection.execute(query)]

    def totals(self) -> dict[str, int]:
        """How many rows of every day are in each state."""
        query = select(ledger.c.status, func.count()).group_by(ledger.c.status)
        with transaction(self.engine) as connection:
            found = {status: int(n) for status, n in connection.execute(query)}
        return {state: found.get(state, 0) for state in STATES}

    def days(self) -> list[date]:
        """Every day with rows in the ledger, oldest first."""
        query = select(ledger.c.day).distinct().order_by(ledger.c.day)
        with transaction(self.engine) as connection:
            return [row.day for row in connection.execute(query)]

    def unsent_active(self, day: date) -> Iterator[str]:
        """Active recipients a send of ``day`` would mail now (for a dry run)."""
        c = ledger.c
        settled = exists().where(
            c.day == day,
            c.address == recipients.c.address,
            ~c.status.in_(("pending", "deferred")),
        )
        query = (
            select(recipients.c.address)
            .where(recipients.c.status == "active", ~settled)
            .order_by(recipients.c.address)
        )
        with transaction(self.engine) as connection:
            yield from (row.address for row in connection.execute(query))

    # --- frozen content -------------------------------------------------------------------

    def issue(self, day: date, variant: str) -> Issue | None:
        """The content a variant of a day's digest was first sent with, if any."""
        query = select(issues).where(issues.c.day == day, issues.c.variant == variant)
        with transaction(self.engine) as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        return Issue(row.day, row.variant, row.subject, row.html, row.text, row.token)

    def freeze(self, issue: Issue, now: datetime) -> Issue:
        """Keep ``issue`` as the variant's content unless one is kept already; the kept one."""
        values = {**issue.__dict__, "created": now}
        with transaction(self.engine) as connection:
            connection.execute(_insert_ignore(self.engine, issues).values(**values))
        kept = self.issue(issue.day, issue.variant)
        assert kept is not None
        return kept


class LedgerWriter:
    """Records outcomes and claims rows, one short transaction per call, on one connection."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def apply(
        self, outcomes: Sequence[Outcome], claims: Sequence[Delivery], now: datetime
    ) -> list[bool]:
        """In one transaction, record outcomes of sent rows and claim rows for sending.

        A claim succeeds (True) only for a row still pending or deferred whose recipient is
        still active; a row whose recipient left is dropped instead.
        """
        connection = self.connection
        try:
            with connection.begin():
                if outcomes:
                    connection.execute(_RECORD, [_record_values(o, now) for o in outcomes])
                if not claims:
                    return []
                # One statement claims the batch and says which rows it got (RETURNING:
                # SQLite >= 3.35, PostgreSQL). A send's rows all have the same day.
                (day,) = {row.day for row in claims}
                values = {"b_day": day, "b_addresses": [row.address for row in claims]}
                got = {
                    address for (address,) in connection.execute(_CLAIM, {**values, "b_now": now})
                }
                if len(got) < len(claims):  # rows whose recipient left the list: drop them
                    connection.execute(_DROP, values)
                return [row.address in got for row in claims]
        except OperationalError as exc:
            raise StoreError(f"store {connection.engine.url!r}: {exc.orig}") from None


class _SqliteWriter(LedgerWriter):
    """The same on SQLite, in SQL written out: the send loop's hot path.

    Compiling SQLAlchemy statements cost more than the rest of sending a message together;
    the values go through the columns' own converters, so they are stored as elsewhere.
    """

    _RECORD = (
        "UPDATE ledger SET status = ?, reply = ?, message_id = ?, transport = ?, "
        "next_attempt = ?, changed = ?, sent = ? WHERE day = ? AND address = ? "
        "AND status = 'sending'"
    )
    # The unary + keeps SQLite from choosing the (status, day) index, and with it a scan of
    # every pending row of the day, once a batch claims more than five rows.
    _WAITING = (
        "day = ? AND address IN ({}) AND +status IN ('pending', 'deferred') AND {} EXISTS "
        "(SELECT 1 FROM recipients WHERE recipients.address = ledger.address "
        "AND recipients.status = 'active')"
    )

    def __init__(self, connection: Connection) -> None:
        super().__init__(connection)
        dialect = connection.dialect
        self._day = ledger.c.day.type.bind_processor(dialect) or _same
        self._time = ledger.c.changed.type.bind_processor(dialect) or _same

    def apply(
        self, outcomes: Sequence[Outcome], claims: Sequence[Delivery], now: datetime
    ) -> list[bool]:
        connection = self.connection
        try:
            with connection.begin():
                cursor = connection.connection.cursor()
                try:
                    return self._apply(cursor, outcomes, claims, now)
                finally:
                    cursor.close()
        except (OperationalError, sqlite3.OperationalError) as exc:
            raise StoreError(f"store {connection.engine.url!r}: {exc}") from None

    def _apply(
        self, cursor: Any, outcomes: Sequence[Outcome], claims: Sequence[Delivery], now: datetime
    ) -> list[bool]:
        stamp = self._time(now)
        if outcomes:
            cursor.executemany(
                self._RECORD,
                [
                    (
                        o.status,
                        o.reply[:2000],
                        o.message_id,
                        o.transport,
                        None if o.next_attempt is None else self._time(o.next_attempt),
                        stamp,
                        stamp if o.status == "sent" else None,
                        self._day(o.day),
                        o.address,
                    )
                    for o in outcomes
                ],
            )
        if not claims:
            return []
        (day,) = {row.day for row in claims}
        addresses = [row.address for row in claims]
        cursor.execute(*self.claim_statement(day, addresses, now))
        got = {address for (address,) in cursor.fetchall()}
        if len(got) < len(claims):  # rows whose recipient left the list: drop them
            marks = ", ".join("?" * len(addresses))
            cursor.execute(
                f"DELETE FROM ledger WHERE {self._WAITING.format(marks, 'NOT')}",
                (self._day(day), *addresses),
            )
        return [address in got for address in addresses]

    def claim_statement(
        self, day: date, addresses: Sequence[str], now: datetime
    ) -> tuple[str, tuple[Any, ...]]:
        """The SQL and parameters that claim the day's ``addresses`` and return those got."""
        marks = ", ".join("?" * len(addresses))
        return (
            f"UPDATE ledger SET status = 'sending', attempts = attempts + 1, changed = ? "
            f"WHERE {self._WAITING.format(marks, '')} RETURNING address",
            (self._time(now), self._day(day), *addresses),
        )


def _same(value: Any) -> Any:
    return value


_WAITING = (
    ledger.c.day == bindparam("b_day"),
    ledger.c.address.in_(bindparam("b_addresses", expanding=True)),
    ledger.c.status.in_(("pending", "deferred")),
)
_CLAIM = (
    update(ledger)
    .where(
        *_WAITING,
        exists().where(recipients.c.address == ledger.c.address, recipients.c.status == "active"),
    )
    .values(
        status="sending",
        attempts=ledger.c.attempts + 1,
        changed=bindparam("b_now", type_=UtcDateTime),
    )
    .returning(ledger.c.address)
)
_DROP = delete(ledger).where(
    *_WAITING,
    ~exists().where(recipients.c.address == ledger.c.address, recipients.c.status == "active"),
)

_RECORD = (
    update(ledger)
    .where(
        ledger.c.day == bindparam("b_day"),
        ledger.c.address == bindparam("b_address"),
        ledger.c.status == "sending",
    )
    .values(
        status=bindparam("b_status"),
        reply=bindparam("b_reply"),
        message_id=bindparam("b_message_id"),
        transport=bindparam("b_transport"),
        next_attempt=bindparam("b_next_attempt"),
        changed=bindparam("b_changed"),
        sent=bindparam("b_sent"),
    )
)


def _record_values(outcome: Outcome, now: datetime) -> dict[str, Any]:
    return {
        "b_day": outcome.day,
        "b_address": outcome.address,
        "b_status": outcome.status,
        "b_reply": outcome.reply[:2000],
        "b_message_id": outcome.message_id,
        "b_transport": outcome.transport,
        "b_next_attempt": outcome.next_attempt,
        "b_changed": now,
        "b_sent": now if outcome.status == "sent" else None,
    }


def _due(now: datetime) -> Any:
    c = ledger.c
    return or_(c.status == "pending", and_(c.status == "deferred", c.next_attempt <= now))


def _active(address: Any) -> Any:
    return exists().where(recipients.c.address == address, recipients.c.status == "active")


def _count(connection: Any, day: date) -> int:
    return int(connection.scalar(select(func.count()).where(ledger.c.day == day)) or 0)


def _insert_ignore(engine: Engine, table: Any = ledger) -> Any:
    """INSERT that skips rows whose key exists: planning twice is a no-op."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if engine.dialect.name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    return insert(table).prefix_with("IGNORE")


def _delivery(row: Any) -> Delivery:
    return Delivery(
        day=row["day"],
        address=row["address"],
        name=row["name"],
        variant=row["variant"],
        status=row["status"],
        attempts=row["attempts"],
        next_attempt=row["next_attempt"],
        reply=row["reply"],
        message_id=row["message_id"],
        sent=row["sent"],
    )
