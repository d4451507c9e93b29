"""The delivery ledger: one row per (day, recipient), the only record of what was sent.

Rows are planned before anything is sent (planning again adds only who is new), claimed
(``sending``) in the same transaction that records the outcome of the connection's previous
message, and marked ``sent`` only after the server accepted the message. So when the process
dies, at most the message in flight on each connection is left ``sending``; those become
``unknown`` (the server may or may not have it) and are never resent unless the operator
asks. On SQLite a file lock beside the database keeps two senders off the same rows, and the
next sender reaps what the last one left. On PostgreSQL any number of senders share a day:
each registers with a heartbeat (``senders``), reserves each connection's next row before it
claims it (``reserved``), and a silent one's rows are reaped by whoever looks first.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Engine,
    and_,
    bindparam,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    update,
)

from bulletin.errors import StoreError
from bulletin.model import Delivery, Outcome
from bulletin.store.claims import LedgerWriter, SqliteWriter
from bulletin.store.connect import insert_ignore, pages_by_address, record_of, transaction
from bulletin.store.schema import issues, ledger, recipients
from bulletin.store.senders import LOCAL, REAPED, Lease, LocalLease, SenderInfo, list_senders
from bulletin.store.senders import reap as reap_senders

if TYPE_CHECKING:  # psycopg is loaded by the sends that need it, not by every command
    from bulletin.store.shared_writer import SharedWriter

# reserved: a shared store's row a sender holds for one connection's next message, not yet sent
STATES = ("pending", "reserved", "sending", "sent", "deferred", "failed", "unknown")
HELD = ("reserved", "sending")  # a live sender's rows: others leave them to it
_PAGE = 500


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
        # Senders share it (PostgreSQL): rows are claimed by whoever asks, under a lease.
        self.shared = engine.dialect.name == "postgresql"
        self.lease: Lease | LocalLease = LOCAL

    # --- the sender's lock ----------------------------------------------------------------

    @contextmanager
    def lock(self, command: str = "send", timeout: float = 30.0) -> Iterator[Lease | LocalLease]:
        """Be this store's sender while the block runs: on SQLite hold its sender lock (or
        fail at once if another sender holds it); on PostgreSQL register among the senders,
        with a heartbeat, taken for dead by the others after ``timeout`` seconds of silence."""
        if self.shared:
            with Lease(self.engine, command, timeout) as lease:
                self.lease = lease
                try:
                    yield lease
                finally:
                    self.lease = LOCAL
            return
        if self.database_file is None:  # in memory: no other process sees it
            yield LOCAL
            return
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
            yield LOCAL
        finally:
            handle.close()  # closing releases the lock, as does the process's death

    # --- planning -------------------------------------------------------------------------

    def reap(self, now: datetime, timeout: float = 30.0) -> int:
        """Rows left ``sending`` by a sender that died become ``unknown``: on SQLite all of
        them (hold the lock); on PostgreSQL those of senders silent for ``timeout``."""
        if self.shared:
            return reap_senders(self.engine, timeout, now)
        query = update(ledger).where(ledger.c.status == "sending")
        with transaction(self.engine) as connection:
            result = connection.execute(query.values(status="unknown", changed=now, reply=REAPED))
            return int(result.rowcount)

    def senders(self, timeout: float = 30.0) -> list[SenderInfo]:
        """The senders registered on a shared store (none on SQLite)."""
        return list_senders(self.engine, timeout) if self.shared else []

    def lease_held(self) -> bool:
        """Whether this process's claims still hold (on SQLite, always)."""
        return self.lease.held()

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
            variant_of(r.categories, r.languages),
            bindparam("status", "pending"),
            bindparam("attempts", 0),
            bindparam("reply", ""),
            bindparam("message_id", ""),
            bindparam("transport", ""),
            bindparam("changed", now, type_=ledger.c.changed.type),
        ).where(r.status == "active", _not_paused(now))
        columns = [
            c.name for c in ledger.columns if c.name not in ("next_attempt", "sent", "sender_id")
        ]
        with transaction(self.engine) as connection:
            connection.execute(
                delete(ledger).where(
                    c.day == day,
                    c.status.in_(("pending", "deferred")),
                    ~_active(c.address, now),
                )
            )
            before = _count(connection, day)
            connection.execute(insert_ignore(self.engine, ledger).from_select(columns, fresh))
            added = _count(connection, day) - before
            if added and self.shared:
                # The senders' statements are prepared, and a plan made while the planner
                # still counts a few rows for the day scans the whole day for each batch
                # (3 ms instead of 0.1, measured): it learns of the new rows now, not at
                # autovacuum's next look.
                connection.exec_driver_sql("ANALYZE ledger")
            return added

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
        """The rows matching ``conditions``, by address, a page at a time, each with its
        recipient's link id (None once they are off the list)."""
        return pages_by_address(
            self.engine, ledger, conditions, _delivery, _PAGE, joined=_WITH_LINK_ID
        )

    def apply(
        self, outcomes: Sequence[Outcome], claims: Sequence[Delivery], now: datetime
    ) -> list[bool]:
        """In one transaction, record outcomes of sent rows and claim rows for sending."""
        with self.writer() as writer:
            return writer.apply(outcomes, claims, now)

    @contextmanager
    def writer(self) -> Iterator[LedgerWriter | SharedWriter]:
        """A writer keeping one connection for many small transactions (use in one thread)."""
        if self.shared:
            if not isinstance(self.lease, Lease):
                raise StoreError("a shared store is written to by a registered sender only")
            from bulletin.store.shared_writer import SharedWriter

            shared = SharedWriter(self.engine, self.lease)
            try:
                yield shared
            finally:
                shared.close()
            return
        with self.engine.connect() as connection:
            sqlite_file = connection.dialect.name == "sqlite"
            yield SqliteWriter(connection) if sqlite_file else LedgerWriter(connection)

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

    def days_sent_to(self, address: str, until: date, limit: int) -> list[date]:
        """The newest ``limit`` days up to ``until`` whose digest went to ``address`` (in any
        case of the address), newest first: the days a run of soft bounces is counted on."""
        c = ledger.c
        query = (
            select(c.day)
            .where(func.lower(c.address) == address.lower(), c.day <= until)
            .where(c.status.in_(("sent", "failed")))
            .distinct()
            .order_by(c.day.desc())
            .limit(limit)
        )
        with transaction(self.engine) as connection:
            return [row.day for row in connection.execute(query)]

    def unsent_active(self, day: date) -> Iterator[str]:
        """Active recipients a send of ``day`` would mail now (for a dry run)."""
        c = ledger.c
        settled = exists().where(
            c.day == day,
            c.address == recipients.c.address,
            ~c.status.in_(("pending", "deferred", "reserved")),
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
            connection.execute(insert_ignore(self.engine, issues).values(**values))
        kept = self.issue(issue.day, issue.variant)
        assert kept is not None
        return kept


# The link id is read from the recipient when the row is, not copied at planning: a recipient
# removed and added again since gets the new one, which is the one the store knows.
_WITH_LINK_ID = (
    ledger.outerjoin(recipients, recipients.c.address == ledger.c.address),
    recipients.c.link_id,
)


def _due(now: datetime) -> Any:
    c = ledger.c
    return or_(c.status == "pending", and_(c.status == "deferred", c.next_attempt <= now))


def _active(address: Any, now: datetime) -> Any:
    r = recipients.c
    return exists().where(r.address == address, r.status == "active", _not_paused(now))


def _not_paused(now: datetime) -> Any:
    """Recipients whose pause (if they chose one) is over at ``now``."""
    paused = recipients.c.paused_until
    return or_(paused.is_(None), paused <= bindparam("paused_now", now, type_=paused.type))


def variant_of(categories: Any, languages: Any) -> Any:
    """The ledger's variant key of a recipient, in SQL: their categories as stored, then,
    when they chose languages, ``|`` and those (``local-news|ar``); "" for everything."""
    return func.coalesce(categories, "") + func.coalesce(literal("|") + languages, "")


def parse_variant(variant: str) -> tuple[frozenset[str] | None, frozenset[str] | None]:
    """A variant key back as (categories, languages), each None for every one."""
    categories, _, languages = variant.partition("|")
    # As recipients.parse_categories reads them (not imported: recipients imports this module).
    return (
        frozenset(categories.split(",")) if categories else None,
        frozenset(languages.split(",")) if languages else None,
    )


def _count(connection: Any, day: date) -> int:
    return int(connection.scalar(select(func.count()).where(ledger.c.day == day)) or 0)


def _delivery(row: Any) -> Delivery:
    return record_of(Delivery, row)
