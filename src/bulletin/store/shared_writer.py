"""The send's transaction on PostgreSQL, where many senders share a day's ledger.

One statement, committed as it answers, records the outcomes of the workers' previous
messages, claims the rows they reserved earlier for the messages they start now (``sending``),
and reserves for each of them whichever due row nobody holds (``FOR UPDATE SKIP LOCKED``):
its message after next. A worker learns what to send without waiting for the store; it waits
only for the claim's commit, before the end of the data. A row is ``sending`` only while its
message is in flight: a dead sender leaves at most one per connection, which the reaper makes
``unknown``, and its reserved rows, never sent, go back to the others.

Every claim carries the sender and the attempt number, and an outcome is recorded only where
the attempt is still the row's: a sender frozen past its lease never overwrites a newer claim
(a late answer on a row only reaped to ``unknown`` is recorded: it is what the server said).

Measured, one sender against the SQLite sender in the same run (bench/delivery.py): claiming
whichever row was free in a transaction of three round trips (BEGIN, the statement, COMMIT)
and handing the row over before the commit, 0.81; reserving the next row ahead and claiming
it by name in one statement of one round trip, 0.98. Recording and claiming in two statements
was 0.85 times as fast as in one; psycopg's pipeline mode, to send BEGIN with the statement,
slower than three round trips.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import suppress
from datetime import UTC, date, datetime
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from bulletin.model import Delivery, Exchange, Exchanged, Outcome
from bulletin.store.connect import driver_failure, store_failure
from bulletin.store.senders import Lease

_log = logging.getLogger("bulletin.send")

# One statement records the outcomes of the workers' previous messages, each only under its
# own attempt; starts the messages of the rows the workers reserved earlier (``sending``, one
# attempt more); and reserves whichever due rows nobody holds for their next ones, in address
# order, from after the last one this writer reserved: the index of waiting rows keeps, until
# a vacuum, entries for every row sent since, and a scan from its start would step over all of
# them each time (4,000 buffers for 4 rows late in a day of 10,000, measured). The three touch
# different rows (sending, reserved and waiting ones), so one statement does all. A handed-back
# row (``pending``) is made pending again whether its message had started or not. MATERIALIZED
# keeps the LIMIT where it is (Oban's "optimization fence"): the planner could otherwise touch
# more rows than asked. The LIMIT is written out, not a parameter: psycopg prepares a
# statement it runs often, and the generic plan of an unknown LIMIT joins the whole ledger by
# hash (a scan of every row, measured). A sender that was reaped has no row in ``senders`` and
# reserves nothing; the reaper gave its reserved rows back. The outer join gives one row even
# when nothing was reserved, to carry the addresses recorded and started. Status tests
# written ``status || ''`` keep the plan off the (status, day) index, which collects an entry
# for each dead row version during a send (a scan over 20,000 of them, 0.6 ms a batch,
# measured); the pick keeps ``status IN`` for the index of waiting rows.
_EXCHANGE = """
WITH recorded AS (
    UPDATE ledger AS l SET status = o.status, reply = o.reply, message_id = o.message_id,
        transport = o.transport, next_attempt = o.next_attempt, changed = %(now)s,
        sent = CASE WHEN o.status = 'sent' THEN %(now)s::timestamptz END
    FROM unnest(%(address)s::text[], %(attempt)s::int[], %(status)s::text[],
                %(reply)s::text[], %(message_id)s::text[], %(transport)s::text[],
                %(next_attempt)s::timestamptz[])
         AS o(address, attempt, status, reply, message_id, transport, next_attempt)
    WHERE l.day = %(day)s AND l.address = o.address
      AND ((l.status || '') IN ('sending', 'unknown') AND l.attempts = o.attempt
           OR o.status = 'pending' AND (l.status || '') = 'reserved' AND l.sender_id = %(me)s
              AND l.attempts + 1 = o.attempt)
    RETURNING l.address
), started AS (
    UPDATE ledger AS l SET status = 'sending', attempts = l.attempts + 1, changed = %(now)s
    WHERE l.day = %(day)s AND l.address = ANY(%(start)s::text[])
      AND l.status || '' = 'reserved' AND l.sender_id = %(me)s
    RETURNING l.address
), picked AS MATERIALIZED (
    SELECT day, address FROM ledger
    WHERE day = %(day)s AND address > %(after)s AND status IN ('pending', 'deferred')
      AND (status = 'pending' OR next_attempt <= %(now)s)
      AND EXISTS (SELECT 1 FROM senders WHERE id = %(me)s)
    ORDER BY address LIMIT {n}
    FOR UPDATE SKIP LOCKED
), reserved AS (
    UPDATE ledger AS l SET status = 'reserved', sender_id = %(me)s, changed = %(now)s
    FROM picked WHERE l.day = picked.day AND l.address = picked.address
    RETURNING l.address, l.name, l.variant, l.attempts, l.next_attempt, l.reply,
        l.message_id, l.sent,
        (SELECT r.link_id FROM recipients r WHERE r.address = l.address AND r.status = 'active')
        AS link_id
)
SELECT c.address, c.name, c.variant, c.attempts, c.next_attempt, c.reply, c.message_id,
    c.sent, c.link_id, (SELECT array_agg(address) FROM recorded),
    (SELECT array_agg(address) FROM started)
FROM (SELECT 1) AS one LEFT JOIN reserved AS c ON true
"""
# The statement is planned once per connection, not at every call: left to choose, the
# server found a plan of its own for each call cheaper than the generic one by its estimates
# and spent 0.35 ms planning for 0.17 ms running, at each of them (measured).
_PLAN_ONCE = "SET plan_cache_mode = force_generic_plan"
# Rows reserved whose recipient has left the list since: dropped, as on SQLite.
_DROP = (
    "DELETE FROM ledger WHERE day = %(day)s AND address = ANY(%(gone)s::text[]) "
    "AND sender_id = %(me)s AND status = 'reserved'"
)


# After a statement that did not answer, rows it may have reserved that no worker holds go
# back to the others.
_SWEEP = (
    "UPDATE ledger SET status = 'pending', changed = %(now)s WHERE day = %(day)s "
    "AND sender_id = %(me)s AND status = 'reserved' AND NOT address = ANY(%(held)s::text[])"
)


class SharedWriter:
    """Records, claims and reserves for the sender of ``lease``, one statement per call,
    reconnecting after the server was away."""

    shared = True

    def __init__(self, engine: Engine, lease: Lease) -> None:
        self.engine, self.lease = engine, lease
        self._connection: Connection | None = None
        self._after = ""  # the last address reserved: the next scan starts there
        self._held: set[str] = set()  # reserved and handed to workers, not yet claimed
        self._in_doubt = False  # a statement did not answer: it may have reserved rows

    def close(self) -> None:
        """Give the connection back as the pool lent it (or, failing that, drop it)."""
        if self._connection is not None:
            try:
                self._session("RESET plan_cache_mode", autocommit=False)
            except (DBAPIError, psycopg.Error):
                self._connection.invalidate()
            self._connection.close()
            self._connection = None

    def apply(
        self, outcomes: Sequence[Outcome], claims: Sequence[Delivery], now: datetime
    ) -> list[bool]:
        """Record outcomes; a shared store's rows are reserved and claimed by ``exchange``."""
        if claims:
            raise NotImplementedError("on a shared store the writer reserves the rows")
        day = outcomes[0].day if outcomes else date.min
        self.exchange(Exchange(day, now, outcomes))
        return []

    def exchange(self, batch: Exchange) -> Exchanged:
        """Record the batch's outcomes, claim the rows it names (reserved by this sender
        earlier) and reserve up to ``batch.pull`` of the day's due rows, committed together.
        Raises StoreUnavailable when the server did not answer: none of it, or all of it,
        may have been done."""
        cursor = self._cursor()
        values = {"day": batch.day, "now": batch.now, "me": self.lease.id}
        from_start = not self._after
        try:
            if self._in_doubt:
                cursor.execute(_SWEEP, {**values, "held": sorted(self._held)})
                self._in_doubt = False
            first = self._once(cursor, values, batch.outcomes, batch.claims, batch.pull)
        except (DBAPIError, psycopg.Error) as error:
            self._in_doubt = True
            cursor.close()
            raise self._broken(error) from None
        claimed, refused, reserved, short = first
        self._held.difference_update(row.address for row in batch.claims)
        self._held.difference_update(o.address for o in batch.outcomes if o.status == "pending")
        dry = False
        try:
            dry = self._more(cursor, values, reserved, batch.pull, short, from_start)
        except (DBAPIError, psycopg.Error) as error:  # the first is in: what it did stands
            self._in_doubt = True
            _log.warning("reserving more rows failed", extra={"fields": {"error": str(error)}})
            self._broken(error)
        finally:
            cursor.close()
        self._held.update(row.address for row in reserved)
        return Exchanged(claimed, refused, reserved, dry)

    def _cursor(self) -> Any:
        """A cursor on the writer's connection, opened (and set up) if it is not."""
        if self._connection is None:
            try:
                self._connection = self.engine.connect()
                self._session(_PLAN_ONCE, autocommit=True)
            except (DBAPIError, psycopg.Error) as error:
                raise self._broken(error) from None
        raw: Any = self._connection.connection.driver_connection
        return raw.cursor()

    def _session(self, setting: str, autocommit: bool) -> None:
        assert self._connection is not None
        raw: Any = self._connection.connection.driver_connection
        raw.autocommit = autocommit
        raw.execute(setting)
        raw.commit()

    def _broken(self, error: BaseException) -> Exception:
        """Drop the connection after ``error``; the StoreError it stands for."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with suppress(DBAPIError, psycopg.Error):
                connection.invalidate()
                connection.close()
        if isinstance(error, DBAPIError):
            return store_failure(self.engine.url, error)
        lost = isinstance(error, psycopg.OperationalError)
        return driver_failure(self.engine.url, error, lost)

    def _once(
        self,
        cursor: Any,
        values: dict[str, Any],
        outcomes: Sequence[Outcome],
        claims: Sequence[Delivery],
        want: int,
    ) -> tuple[list[bool], list[Outcome], list[Delivery], bool]:
        """One statement: what was claimed, refused and reserved, and whether the scan from
        after the last row reserved gave fewer rows than asked."""
        start = [row.address for row in claims]
        changes = {**_arrays(outcomes), "start": start, "after": self._after}
        query = _EXCHANGE.format(n=max(int(want), 0))
        rows = cursor.execute(query, {**values, **changes}).fetchall()
        refused = _refused(outcomes, rows[0][9] or []) if outcomes else []
        began = set(rows[0][10] or [])
        rows = [row for row in rows if row[0] is not None]
        if rows:
            self._after = max(row[0] for row in rows)
        gone = [row[0] for row in rows if row[8] is None]
        if gone:
            cursor.execute(_DROP, {**values, "gone": gone})
        reserved = [_delivery(values["day"], row) for row in rows if row[8] is not None]
        return [address in began for address in start], refused, reserved, len(rows) < want

    def _more(
        self,
        cursor: Any,
        values: dict[str, Any],
        reserved: list[Delivery],
        want: int,
        short: bool,
        wrapped: bool,
    ) -> bool:
        """Reserve until ``want`` rows are in ``reserved``: again for rows dropped, and once
        more from the start when the scan ran out (for rows deferred or handed back since,
        unless it began there: ``wrapped``); whether the day ran dry."""
        while len(reserved) < want:
            if short:
                if wrapped:
                    return True
                self._after, wrapped = "", True
            _, _, more, short = self._once(cursor, values, (), (), want - len(reserved))
            reserved.extend(more)
        return False


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
    address, name, variant, attempts, next_attempt, reply, message_id, sent, link_id = row[:9]
    return Delivery(
        day=day,
        address=address,
        name=name,
        variant=variant,
        status="reserved",
        attempts=int(attempts),  # before its claim, as a row read for SQLite's claim says
        next_attempt=next_attempt.astimezone(UTC) if next_attempt else None,
        reply=reply,
        message_id=message_id,
        sent=sent.astimezone(UTC) if sent else None,
        link_id=link_id,
    )
