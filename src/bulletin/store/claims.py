"""The transaction at the heart of a send: record the outcomes of sent rows and claim the next.

One statement claims a batch of rows and says which it got (RETURNING), so a row is ``sending``
only while its message is in flight, and an outcome is recorded in the same transaction that
claims the connection's next row. On SQLite, whose one sender holds the file lock, the send
loop names the rows it wants, and the statements are compiled once per writer. On PostgreSQL
(``SharedWriter``), where many senders share a day, the writer takes whichever rows nobody
holds (``FOR UPDATE SKIP LOCKED``), and each claim carries the sender and the attempt number:
an outcome is recorded only where the attempt still matches, so a sender that was frozen past
its lease can never overwrite a newer claim (a late answer on a row reaped to ``unknown`` is
still recorded: it is what the server said).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    delete,
    exists,
    update,
)
from sqlalchemy.exc import DBAPIError, OperationalError

from bulletin.errors import StoreError
from bulletin.model import Delivery, Outcome
from bulletin.store.connect import store_failure
from bulletin.store.schema import UtcDateTime, ledger, recipients
from bulletin.store.senders import Lease

Picked = Callable[[list[Delivery], bool], None]  # the rows claimed; whether the day ran dry
_log = logging.getLogger("bulletin.send")


class LedgerWriter:
    """Records outcomes and claims rows, one short transaction per call, on one connection."""

    shared = False  # the send loop names the rows to claim

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def pull(
        self, outcomes: Sequence[Outcome], count: int, day: date, now: datetime, picked: Picked
    ) -> list[Outcome]:
        """Only a shared store's writer claims rows it was not given."""
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


# --- PostgreSQL: many senders share a day ------------------------------------------------------

# The outcomes of one transaction in one statement, each only where the attempt it was sent
# under is still the row's (a reaper's ``unknown`` keeps it; a newer claim does not).
_PG_RECORD = """
UPDATE ledger AS l SET status = o.status, reply = o.reply, message_id = o.message_id,
    transport = o.transport, next_attempt = o.next_attempt, changed = %(now)s,
    sent = CASE WHEN o.status = 'sent' THEN %(now)s::timestamptz END
FROM unnest(%(address)s::text[], %(attempt)s::int[], %(status)s::text[], %(reply)s::text[],
            %(message_id)s::text[], %(transport)s::text[], %(next_attempt)s::timestamptz[])
     AS o(address, attempt, status, reply, message_id, transport, next_attempt)
WHERE l.day = %(day)s AND l.address = o.address AND l.attempts = o.attempt
  AND l.status IN ('sending', 'unknown')
RETURNING l.address
"""
# Whichever due rows nobody holds, in address order; MATERIALIZED keeps the LIMIT where it
# is (Oban's "optimization fence"): the planner could otherwise update more rows than asked.
# A sender that was reaped has no row in ``senders`` and claims nothing.
_PG_CLAIM = """
WITH picked AS MATERIALIZED (
    SELECT day, address FROM ledger
    WHERE day = %(day)s AND status IN ('pending', 'deferred')
      AND (status = 'pending' OR next_attempt <= %(now)s)
      AND EXISTS (SELECT 1 FROM senders WHERE id = %(me)s)
    ORDER BY address LIMIT %(n)s
    FOR UPDATE SKIP LOCKED
)
UPDATE ledger AS l SET status = 'sending', attempts = l.attempts + 1, sender_id = %(me)s,
    changed = %(now)s
FROM picked WHERE l.day = picked.day AND l.address = picked.address
RETURNING l.address, l.name, l.variant, l.attempts - 1, l.next_attempt, l.reply,
    l.message_id, l.sent,
    (SELECT r.link_id FROM recipients r WHERE r.address = l.address AND r.status = 'active')
"""
# Rows claimed whose recipient has left the list since: dropped, as on SQLite.
_PG_DROP = (
    "DELETE FROM ledger WHERE day = %(day)s AND address = ANY(%(gone)s::text[]) "
    "AND sender_id = %(me)s AND status = 'sending'"
)


class SharedWriter:
    """A PostgreSQL writer: records outcomes fenced by their attempt, and claims whichever
    rows nobody holds for the sender of ``lease``, reconnecting after the server was away."""

    shared = True

    def __init__(self, engine: Engine, lease: Lease) -> None:
        self.engine, self.lease = engine, lease
        self._connection: Connection | None = None

    def close(self) -> None:
        """Give the connection back."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def apply(
        self, outcomes: Sequence[Outcome], claims: Sequence[Delivery], now: datetime
    ) -> list[bool]:
        """Record outcomes; a shared store's rows are claimed by ``pull`` instead."""
        if claims:
            raise NotImplementedError("on a shared store rows are pulled, not named")
        self.pull(outcomes, 0, date.min, now, lambda *_: None)
        return []

    def pull(
        self, outcomes: Sequence[Outcome], count: int, day: date, now: datetime, picked: Picked
    ) -> list[Outcome]:
        """In one transaction, record ``outcomes`` and claim up to ``count`` of the day's due
        rows; ``picked`` gets them as soon as they are claimed, before the commit, which the
        caller waits for before any message can reach its server. Returns the outcomes
        refused: late ones, whose rows were claimed again since."""
        try:
            connection = self._connection or self.engine.connect()
        except DBAPIError as error:
            raise store_failure(self.engine.url, error) from None
        self._connection = connection
        try:
            with connection.begin():
                refused = self._record(connection, outcomes, now) if outcomes else []
                rows, dry = self._claim(connection, count, day, now) if count else ([], False)
                picked(rows, dry)
            return refused
        except DBAPIError as error:
            self._connection = None
            try:
                connection.invalidate()
                connection.close()
            except DBAPIError:
                pass
            raise store_failure(self.engine.url, error) from None

    def _record(
        self, connection: Connection, outcomes: Sequence[Outcome], now: datetime
    ) -> list[Outcome]:
        (day,) = {o.day for o in outcomes}
        values: dict[str, Any] = {"day": day, "now": now}
        for name in ("address", "attempt", "status", "message_id", "transport", "next_attempt"):
            values[name] = [getattr(o, name) for o in outcomes]
        values["reply"] = [o.reply[:2000] for o in outcomes]
        kept = {row[0] for row in connection.exec_driver_sql(_PG_RECORD, values)}
        late = [o for o in outcomes if o.address not in kept]
        if late:
            _log.warning(
                "late outcomes refused: their rows were claimed again since",
                extra={"fields": {"day": day, "addresses": ",".join(o.address for o in late[:10])}},
            )
        return late

    def _claim(
        self, connection: Connection, count: int, day: date, now: datetime
    ) -> tuple[list[Delivery], bool]:
        got: list[Delivery] = []
        values = {"day": day, "now": now, "me": self.lease.id}
        while len(got) < count:
            want = count - len(got)
            rows = connection.exec_driver_sql(_PG_CLAIM, {**values, "n": want}).all()
            gone = [row[0] for row in rows if row[8] is None]
            if gone:
                connection.exec_driver_sql(_PG_DROP, {**values, "gone": gone})
            got.extend(_shared_delivery(day, row) for row in rows if row[8] is not None)
            if len(rows) < want:
                return got, True
        return got, False


def _shared_delivery(day: date, row: Any) -> Delivery:
    address, name, variant, attempts, next_attempt, reply, message_id, sent, link_id = row
    return Delivery(
        day=day,
        address=address,
        name=name,
        variant=variant,
        status="sending",
        attempts=int(attempts),  # before this claim, as a row read for SQLite's claim says
        next_attempt=next_attempt.astimezone(UTC) if next_attempt else None,
        reply=reply,
        message_id=message_id,
        sent=sent.astimezone(UTC) if sent else None,
        link_id=link_id,
    )
