"""The transaction at the heart of a send: record the outcomes of sent rows and claim the next.

One statement claims a batch of rows and says which it got (RETURNING), so a row is ``sending``
only while its message is in flight, and an outcome is recorded in the same transaction that
claims the connection's next row. On SQLite, whose one sender holds the file lock, the send
loop names the rows it wants, and the statements are compiled once per writer. On PostgreSQL,
where many senders share a day, ``shared_writer`` does the same with rows each sender has
reserved first.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    bindparam,
    delete,
    exists,
    update,
)
from sqlalchemy.exc import OperationalError

from bulletin.errors import StoreError
from bulletin.model import Delivery, Exchanged, Outcome
from bulletin.store.schema import UtcDateTime, ledger, recipients


class LedgerWriter:
    """Records outcomes and claims rows, one short transaction per call, on one connection."""

    shared = False  # the send loop names the rows to claim

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def exchange(self, *_: Any) -> Exchanged:
        """Only a shared store's writer reserves rows (``shared_writer``)."""
        raise NotImplementedError("SQLite's one sender names the rows it claims")

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


class SqliteWriter(LedgerWriter):
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
