"""Subscriber events: an append-only record of what happened to each address, and why.

Each event has a kind (``KINDS``), a time, an origin (what recorded it: ``bounces`` for the
ingest, ``smtp`` for a refusal during a send, ``operator``, ``web``, ``import``, ...), a JSON
detail (a status code, a diagnostic, the bounce's name) and, when it concerns a digest, that
digest's day. ``bulletin subscribers show ADDRESS`` prints them; the bounce rules count them;
status and /metrics add them up. Rows are never changed, with one exception: erasure.

An event may carry a ``key``: recording the same key again is a no-op, so that reading the same
bounce twice, or a rerun of the same send, counts once.

Events are found by ``address_hash`` (see ``suppressions``), not by the address: erasure
(reader sign-up, issue 12) calls ``forget(address)``, which blanks the address and the detail
of every event of that person and keeps their kinds and times under the hash, then records an
``erased`` event of the hash alone, so that the record shows *that* someone was erased and
counts stay right, without keeping who.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, distinct, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from bulletin.errors import StoreError
from bulletin.store.connect import transaction
from bulletin.store.schema import events
from bulletin.store.suppressions import address_hash

#: Every kind of event. Sign-up (issue 12) records the first ones; bounces the later ones.
KINDS = (
    "subscribed",
    "confirmed",
    "preferences_changed",
    "paused",
    "unsubscribed",
    "exported",
    "erased",
    "bounced",  # a permanent failure (5.x.x, or a 5xx during the send)
    "soft_bounce",  # a temporary failure (4.x.x)
    "complained",  # an abuse report (RFC 5965)
    "suppressed",  # put on the suppression list
    "unsuppressed",  # taken off it by the operator
)


@dataclass(frozen=True)
class Event:
    """One recorded event; ``address`` is None once its person was erased."""

    kind: str
    time: datetime
    origin: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    day: date | None = None
    address: str | None = None


class Events:
    """The subscriber events of a store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(
        self,
        address: str,
        kind: str,
        now: datetime,
        origin: str,
        detail: Mapping[str, Any] | None = None,
        *,
        day: date | None = None,
        key: str | None = None,
    ) -> bool:
        """Append an event of ``address``; False when an event with ``key`` exists already."""
        if kind not in KINDS:
            raise StoreError(f"unknown event kind {kind!r}", hint=f"use one of {KINDS}")
        values = {
            "address_hash": address_hash(address),
            "address": address,
            "kind": kind,
            "time": now,
            "origin": origin,
            "detail": json.dumps(dict(detail or {}), ensure_ascii=False, default=str),
            "day": day,
            "key": key,
        }
        if key is not None and self.has(key):
            return False
        try:
            with transaction(self.engine) as connection:
                connection.execute(insert(events).values(**values))
        except IntegrityError:  # another process recorded the same key just now
            return False
        return True

    def has(self, key: str) -> bool:
        """Whether an event with ``key`` is recorded."""
        with transaction(self.engine) as connection:
            return connection.scalar(select(events.c.id).where(events.c.key == key)) is not None

    def of(self, address: str, kinds: Iterable[str] | None = None) -> list[Event]:
        """The events of ``address`` (in any spelling; of some kinds only), oldest first."""
        c = events.c
        query = select(events).where(c.address_hash == address_hash(address)).order_by(c.id)
        if kinds is not None:
            query = query.where(c.kind.in_(list(kinds)))
        with transaction(self.engine) as connection:
            return [_event(row) for row in connection.execute(query)]

    def per_day(self, kinds: Iterable[str], days: Iterable[date]) -> dict[tuple[str, date], int]:
        """How many addresses had an event of each kind about each of ``days``."""
        c = events.c
        query = (
            select(c.kind, c.day, func.count(distinct(c.address_hash)))
            .where(c.kind.in_(list(kinds)), c.day.in_(list(days)))
            .group_by(c.kind, c.day)
        )
        with transaction(self.engine) as connection:
            return {(kind, day): int(n) for kind, day, n in connection.execute(query)}

    def totals(self) -> dict[str, int]:
        """How many events of each kind are recorded."""
        query = select(events.c.kind, func.count()).group_by(events.c.kind)
        with transaction(self.engine) as connection:
            found = {kind: int(n) for kind, n in connection.execute(query)}
        return {kind: found.get(kind, 0) for kind in KINDS}

    def forget(self, address: str, now: datetime, origin: str) -> int:
        """Erase what the events keep of ``address`` but its hash; how many events that was.

        Records an ``erased`` event of the hash alone. The one change to recorded rows.
        """
        key = address_hash(address)
        with transaction(self.engine) as connection:
            blanked = connection.execute(
                update(events).where(events.c.address_hash == key).values(address=None, detail="{}")
            ).rowcount
            connection.execute(
                insert(events).values(
                    address_hash=key, kind="erased", time=now, origin=origin, detail="{}"
                )
            )
        return int(blanked)


def _event(row: Any) -> Event:
    return Event(row.kind, row.time, row.origin, json.loads(row.detail), row.day, row.address)
