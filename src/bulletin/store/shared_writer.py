"""The send's transaction on PostgreSQL, where many senders share a day's ledger.

One transaction, one statement in it, records the outcomes of the workers' previous messages
and claims, for each worker, whichever due row nobody holds (``FOR UPDATE SKIP LOCKED``): its
next message. The claimed rows are handed over as soon as the statement returns, before the
commit, so each worker renders and sends while the transaction commits and waits for it only
before the end of the data. A row is ``sending`` only while its message is in flight: a dead sender
leaves at most one per connection, which the reaper makes ``unknown``.

Every claim carries the sender and the attempt number, and an outcome is recorded only where
the attempt is still the row's: a sender frozen past its lease never overwrites a newer claim
(a late answer on a row only reaped to ``unknown`` is recorded: it is what the server said).

Measured, one sender against the same cluster: recording and claiming in two statements was
0.85 times as fast as in one (the writer thread waits on every round trip, and the workers on
it); keeping one row reserved per worker, to claim it by name as SQLite's sender does, 1.7
times slower (one more row version per message, and one more statement); psycopg's pipeline
mode, to send BEGIN with the statement, slower still than three round trips.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import UTC, date, datetime
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from bulletin.model import Delivery, Exchange, Outcome
from bulletin.store.connect import driver_failure, store_failure
from bulletin.store.senders import Lease

Picked = Callable[[list[Delivery], bool], None]  # rows claimed; whether the day ran dry
_log = logging.getLogger("bulletin.send")

# One statement records the outcomes of the workers' previous messages, each only under its
# own attempt, and claims whichever due rows nobody holds, in address order, from after the
# last one this writer claimed: the index of waiting rows keeps, until a vacuum, entries for
# every row sent since, and a scan from its start would step over all of them each time (4,000
# buffers for 4 rows late in a day of 10,000, measured). The two touch different rows (sending
# and waiting ones), so one statement does both. MATERIALIZED keeps the LIMIT where it is
# (Oban's "optimization fence"): the planner could otherwise touch more rows than asked. The
# LIMIT is written out, not a parameter: psycopg prepares a statement it runs often, and the
# generic plan of an unknown LIMIT joins the whole ledger by hash (a scan of every row,
# measured). A sender that was reaped has no row in ``senders`` and claims nothing. The outer
# join gives one row even when nothing was claimed, to carry the addresses recorded.
_EXCHANGE = """
WITH recorded AS (
    UPDATE ledger AS l SET status = o.status, reply = o.reply, message_id = o.message_id,
        transport = o.transport, next_attempt = o.next_attempt, changed = %(now)s,
        sent = CASE WHEN o.status = 'sent' THEN %(now)s::timestamptz END
    FROM unnest(%(address)s::text[], %(attempt)s::int[], %(status)s::text[],
                %(reply)s::text[], %(message_id)s::text[], %(transport)s::text[],
                %(next_attempt)s::timestamptz[])
         AS o(address, attempt, status, reply, message_id, transport, next_attempt)
    WHERE l.day = %(day)s AND l.address = o.address AND l.attempts = o.attempt
      AND l.status IN ('sending', 'unknown')
    RETURNING l.address
), picked AS MATERIALIZED (
    SELECT day, address FROM ledger
    WHERE day = %(day)s AND address > %(after)s AND status IN ('pending', 'deferred')
      AND (status = 'pending' OR next_attempt <= %(now)s)
      AND EXISTS (SELECT 1 FROM senders WHERE id = %(me)s)
    ORDER BY address LIMIT {n}
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE ledger AS l SET status = 'sending', attempts = l.attempts + 1, sender_id = %(me)s,
        changed = %(now)s
    FROM picked WHERE l.day = picked.day AND l.address = picked.address
    RETURNING l.address, l.name, l.variant, l.attempts - 1 AS attempts, l.next_attempt,
        l.reply, l.message_id, l.sent,
        (SELECT r.link_id FROM recipients r WHERE r.address = l.address AND r.status = 'active')
        AS link_id
)
SELECT c.address, c.name, c.variant, c.attempts, c.next_attempt, c.reply, c.message_id,
    c.sent, c.link_id, (SELECT array_agg(address) FROM recorded)
FROM (SELECT 1) AS one LEFT JOIN claimed AS c ON true
"""
# Rows claimed whose recipient has left the list since: dropped, as on SQLite.
_DROP = (
    "DELETE FROM ledger WHERE day = %(day)s AND address = ANY(%(gone)s::text[]) "
    "AND sender_id = %(me)s AND status = 'sending'"
)


class SharedWriter:
    """Records and claims for the sender of ``lease``, one transaction per call,
    reconnecting after the server was away."""

    shared = True

    def __init__(self, engine: Engine, lease: Lease) -> None:
        self.engine, self.lease = engine, lease
        self._connection: Connection | None = None
        self._after = ""  # the last address claimed: the next scan starts there

    def close(self) -> None:
        """Give the connection back."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def apply(
        self, outcomes: Sequence[Outcome], claims: Sequence[Delivery], now: datetime
    ) -> list[bool]:
        """Record outcomes; a shared store's rows are claimed by ``exchange``."""
        if claims:
            raise NotImplementedError("on a shared store the writer picks the rows")
        day = outcomes[0].day if outcomes else date.min
        self.exchange(Exchange(day, now, outcomes), lambda *_: None)
        return []

    def exchange(self, batch: Exchange, picked: Picked) -> tuple[list[bool], list[Outcome]]:
        """In one transaction: record the batch's outcomes and claim up to ``batch.pull``
        of the day's due rows; ``picked`` gets them as soon as they are claimed, before the
        commit. Returns no named claims (there are none), and the outcomes refused (late:
        their rows are no longer under the claim they answer)."""
        try:
            connection = self._connection or self.engine.connect()
        except DBAPIError as error:
            raise store_failure(self.engine.url, error) from None
        self._connection = connection
        try:
            raw: Any = connection.connection.driver_connection
            with raw.cursor() as cursor:
                refused, rows, dry = self._statements(cursor, batch)
                picked(rows, dry)
                raw.commit()
            return [], refused
        except (DBAPIError, psycopg.Error) as error:
            self._connection = None
            with suppress(DBAPIError, psycopg.Error):
                connection.invalidate()
                connection.close()
            if isinstance(error, DBAPIError):
                raise store_failure(self.engine.url, error) from None
            lost = isinstance(error, psycopg.OperationalError)
            raise driver_failure(self.engine.url, error, lost) from None

    def _statements(
        self, cursor: Any, batch: Exchange
    ) -> tuple[list[Outcome], list[Delivery], bool]:
        """Record and claim (from after the last row claimed; once more from the start when
        that runs dry, for rows deferred or handed back since); drop the rows whose recipient
        left and claim again for them."""
        values = {"day": batch.day, "now": batch.now, "me": self.lease.id}
        outcomes: Sequence[Outcome] = batch.outcomes
        refused: list[Outcome] = []
        got: list[Delivery] = []
        wrapped = not self._after
        while True:
            want = batch.pull - len(got)
            query = _EXCHANGE.format(n=max(int(want), 0))
            arrays = _arrays(outcomes)
            rows = cursor.execute(query, {**values, **arrays, "after": self._after}).fetchall()
            if outcomes:
                refused, outcomes = _refused(outcomes, rows[0][9] or []), []
            rows = [row for row in rows if row[0] is not None]
            if rows:
                self._after = max(row[0] for row in rows)
            gone = [row[0] for row in rows if row[8] is None]
            if gone:
                cursor.execute(_DROP, {**values, "gone": gone})
            got.extend(_delivery(batch.day, row) for row in rows if row[8] is not None)
            if len(got) >= batch.pull:
                return refused, got, False
            if len(rows) < want:
                if wrapped:
                    return refused, got, True
                self._after, wrapped = "", True


def _arrays(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in ("address", "attempt", "status", "message_id", "transport", "next_attempt"):
        values[name] = [getattr(o, name) for o in outcomes]
    values["reply"] = [o.reply[:2000] for o in outcomes]
    return values


def _refused(outcomes: Sequence[Outcome], recorded: list[str]) -> list[Outcome]:
    """The outcomes not recorded: their rows are no longer under the claim they answer."""
    kept = set(recorded)
    late = [o for o in outcomes if o.address not in kept]
    if late:
        shown = ",".join(o.address for o in late[:10])
        _log.warning(
            "late outcomes refused: their rows are no longer under that claim",
            extra={"fields": {"day": late[0].day, "addresses": shown}},
        )
    return late


def _delivery(day: date, row: Any) -> Delivery:
    address, name, variant, attempts, next_attempt, reply, message_id, sent, link_id, _ = row
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
