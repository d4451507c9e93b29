"""The send's transaction on PostgreSQL, where many senders share a day's ledger.

Each worker of a sender keeps one row *reserved* ahead (``sender_id`` set, still pending):
whichever due row nobody holds, taken ``FOR UPDATE SKIP LOCKED``. One transaction records
the outcome of the worker's previous message, claims the row it reserved (``sending``, its
attempt counted) and reserves the next; so, as on SQLite, the worker knows its next message
before the transaction commits and sends it meanwhile, waiting only before the end of the
data. A row is ``sending`` only while its message is in flight: a dead sender leaves at most
one per connection, which the reaper makes ``unknown``; its reservations, never sent, it
simply frees. The three statements go out together in psycopg's pipeline: one round trip.

Every claim carries the sender and the attempt number, and an outcome is recorded only where
the attempt is still the row's: a sender frozen past its lease never overwrites a newer claim
(a late answer on a row only reaped to ``unknown`` is recorded: it is what the server said).
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

Picked = Callable[[list[Delivery], bool], None]  # rows reserved; whether the day ran dry
_log = logging.getLogger("bulletin.send")

# The outcomes of one transaction in one statement, each only under its own attempt. A row
# deferred or handed back (pending) is nobody's again.
_RECORD = """
UPDATE ledger AS l SET status = o.status, reply = o.reply, message_id = o.message_id,
    transport = o.transport, next_attempt = o.next_attempt, changed = %(now)s,
    sent = CASE WHEN o.status = 'sent' THEN %(now)s::timestamptz END,
    sender_id = CASE WHEN o.status IN ('deferred', 'pending') THEN NULL ELSE l.sender_id END
FROM unnest(%(address)s::text[], %(attempt)s::int[], %(status)s::text[], %(reply)s::text[],
            %(message_id)s::text[], %(transport)s::text[], %(next_attempt)s::timestamptz[])
     AS o(address, attempt, status, reply, message_id, transport, next_attempt)
WHERE l.day = %(day)s AND l.address = o.address AND l.attempts = o.attempt
  AND l.status IN ('sending', 'unknown')
RETURNING l.address
"""
# The rows this sender reserved and now sends, if their recipients are still on the list.
_WAITING = (
    "l.day = %(day)s AND l.address = ANY(%(claims)s::text[]) "
    "AND l.status IN ('pending', 'deferred') AND l.sender_id = %(me)s AND {} EXISTS "
    "(SELECT 1 FROM recipients r WHERE r.address = l.address AND r.status = 'active')"
)
_CLAIM = (
    "UPDATE ledger AS l SET status = 'sending', attempts = l.attempts + 1, changed = %(now)s "
    f"WHERE {_WAITING.format('')} RETURNING l.address"
)
_DROP = f"DELETE FROM ledger AS l WHERE {_WAITING.format('NOT')}"
# Whichever due rows nobody holds, in address order, from after the last one this writer
# reserved: the index of waiting rows keeps, until a vacuum, entries for every row sent since,
# and a scan from its start would step over all of them each time (4,000 buffers for 4 rows
# late in a day of 10,000, measured). MATERIALIZED keeps the LIMIT where it is (Oban's
# "optimization fence"): the planner could otherwise touch more rows than asked. The LIMIT is
# written out, not a parameter: psycopg prepares a statement it runs often, and the generic
# plan of an unknown LIMIT joins the whole ledger by hash (a scan of every row, measured). A
# sender that was reaped has no row in ``senders`` and reserves nothing.
_RESERVE = """
WITH picked AS MATERIALIZED (
    SELECT day, address FROM ledger
    WHERE day = %(day)s AND address > %(after)s
      AND status IN ('pending', 'deferred') AND sender_id IS NULL
      AND (status = 'pending' OR next_attempt <= %(now)s)
      AND EXISTS (SELECT 1 FROM senders WHERE id = %(me)s)
    ORDER BY address LIMIT {n}
    FOR UPDATE SKIP LOCKED
)
UPDATE ledger AS l SET sender_id = %(me)s
FROM picked WHERE l.day = picked.day AND l.address = picked.address
RETURNING l.address, l.name, l.variant, l.status, l.attempts, l.next_attempt, l.reply,
    l.message_id, l.sent,
    (SELECT r.link_id FROM recipients r WHERE r.address = l.address AND r.status = 'active')
"""


class SharedWriter:
    """Records, claims and reserves for the sender of ``lease``, one transaction per call,
    reconnecting after the server was away."""

    shared = True

    def __init__(self, engine: Engine, lease: Lease) -> None:
        self.engine, self.lease = engine, lease
        self._connection: Connection | None = None
        self._after = ""  # the last address reserved: the next scan starts there

    def close(self) -> None:
        """Give the connection back."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def apply(
        self, outcomes: Sequence[Outcome], claims: Sequence[Delivery], now: datetime
    ) -> list[bool]:
        """Record outcomes and claim reserved rows, reserving none."""
        day = (outcomes or claims)[0].day if (outcomes or claims) else date.min
        claimed, _ = self.exchange(Exchange(day, now, outcomes, claims), lambda *_: None)
        return claimed

    def exchange(self, batch: Exchange, picked: Picked) -> tuple[list[bool], list[Outcome]]:
        """In one transaction: record the batch's outcomes, claim the rows it reserved and
        reserve up to ``batch.reserve`` more of the day's due rows. ``picked`` gets those as
        soon as they are reserved, before the commit. Returns whether each claim held, and
        the outcomes refused (late: their rows were claimed again since)."""
        day, reserve = batch.day, batch.reserve
        try:
            connection = self._connection or self.engine.connect()
        except DBAPIError as error:
            raise store_failure(self.engine.url, error) from None
        self._connection = connection
        try:
            with connection.begin():
                raw = connection.connection.driver_connection
                values = {"day": day, "now": batch.now, "me": self.lease.id, "after": self._after}
                claimed, refused, rows = _statements(raw, values, batch)
                if len(rows) < reserve and self._after:  # wrap: rows deferred or freed since
                    again = _RESERVE.format(n=int(reserve - len(rows)))
                    rows += _cursor(raw).execute(again, {**values, "after": ""}).fetchall()
                if rows:
                    self._after = max(row[0] for row in rows)
                picked([_delivery(day, row) for row in rows], len(rows) < reserve)
            return claimed, refused
        except (DBAPIError, psycopg.Error) as error:
            self._connection = None
            with suppress(DBAPIError, psycopg.Error):
                connection.invalidate()
                connection.close()
            if isinstance(error, DBAPIError):
                raise store_failure(self.engine.url, error) from None
            lost = isinstance(error, psycopg.OperationalError)
            raise driver_failure(self.engine.url, error, lost) from None


def _cursor(raw: Any) -> Any:
    return raw.cursor()


def _statements(
    raw: Any, values: dict[str, Any], batch: Exchange
) -> tuple[list[bool], list[Outcome], list[Any]]:
    """Record, claim and reserve in one round trip; drop rows whose recipient left."""
    outcomes, claims, reserve = batch.outcomes, batch.claims, batch.reserve
    record, claim, more = raw.cursor(), raw.cursor(), raw.cursor()
    addresses = [row.address for row in claims]
    with raw.pipeline():
        if outcomes:
            record.execute(_RECORD, {**values, **_arrays(outcomes)})
        if claims:
            claim.execute(_CLAIM, {**values, "claims": addresses})
        if reserve:
            more.execute(_RESERVE.format(n=int(reserve)), values)
    refused = _refused(outcomes, record.fetchall()) if outcomes else []
    got = {row[0] for row in claim.fetchall()} if claims else set()
    if len(got) < len(claims):  # rows whose recipient left the list: drop them
        claim.execute(_DROP, {**values, "claims": addresses})
    rows = more.fetchall() if reserve else []
    return [address in got for address in addresses], refused, rows


def _arrays(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in ("address", "attempt", "status", "message_id", "transport", "next_attempt"):
        values[name] = [getattr(o, name) for o in outcomes]
    values["reply"] = [o.reply[:2000] for o in outcomes]
    return values


def _refused(outcomes: Sequence[Outcome], kept_rows: list[Any]) -> list[Outcome]:
    """The outcomes not recorded: their rows are no longer under the claim they answer."""
    kept = {row[0] for row in kept_rows}
    late = [o for o in outcomes if o.address not in kept]
    if late:
        shown = ",".join(o.address for o in late[:10])
        _log.warning(
            "late outcomes refused: their rows are no longer under that claim",
            extra={"fields": {"day": late[0].day, "addresses": shown}},
        )
    return late


def _delivery(day: date, row: Any) -> Delivery:
    address, name, variant, status, attempts, next_attempt, reply, message_id, sent = row[:9]
    return Delivery(
        day=day,
        address=address,
        name=name,
        variant=variant,
        status=status,
        attempts=int(attempts),  # before its claim, as a row read for SQLite's claim says
        next_attempt=next_attempt.astimezone(UTC) if next_attempt else None,
        reply=reply,
        message_id=message_id,
        sent=sent.astimezone(UTC) if sent else None,
        link_id=row[9],
    )
