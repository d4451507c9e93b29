"""Feed sources' state between fetches, and a fetch's items stored in the same transaction.

A fetch's outcome is stored with the items it read, or not at all: a crash between the two would
otherwise leave validators (or a body hash) that make the next fetch skip items never stored.
Items from a feed keep the day and time they were first stored with: a feed that re-dates or
republishes an old entry does not make it new again, and an entry without a date keeps the time
it was first seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from bulletin.model import FeedState, Item
from bulletin.store.connect import record_of, transaction
from bulletin.store.items import SaveReport, save_batch
from bulletin.store.schema import feed_state, items

_FIELDS = tuple(f.name for f in fields(FeedState))


class FeedStates:
    """The state of every feed source, by source name."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, source: str) -> FeedState | None:
        """The stored state of ``source``, if it was ever fetched."""
        with transaction(self.engine) as connection:
            row = connection.execute(
                select(feed_state).where(feed_state.c.source == source)
            ).first()
        return None if row is None else record_of(FeedState, row._mapping)

    def all(self) -> dict[str, FeedState]:
        """Every stored state, by source name."""
        with transaction(self.engine) as connection:
            rows = connection.execute(select(feed_state)).all()
        return {row.source: record_of(FeedState, row._mapping) for row in rows}

    def save(self, state: FeedState) -> None:
        """Store a state on its own (a fetch that read nothing)."""
        with transaction(self.engine) as connection:
            put_state(connection, state)

    def save_with_items(
        self, state: FeedState, batch: Sequence[Item], source: str, now: datetime
    ) -> SaveReport:
        """Store a fetch's items and its state in one transaction."""
        with transaction(self.engine) as connection:
            report = save_batch(connection, batch, source, now, write=True, keep_day=True)
            put_state(connection, state)
            return report

    def preview(self, batch: Sequence[Item], now: datetime) -> SaveReport:
        """What ``save_with_items`` would store, writing nothing."""
        with transaction(self.engine) as connection:
            return save_batch(connection, batch, "", now, write=False, keep_day=True)

    def reset(self, source: str) -> bool:
        """Forget a source's state (a disabled one is fetched again); whether it had one."""
        with transaction(self.engine) as connection:
            done = connection.execute(delete(feed_state).where(feed_state.c.source == source))
            return bool(done.rowcount)


def put_state(connection: Connection, state: FeedState) -> None:
    values: dict[str, Any] = {name: getattr(state, name) for name in _FIELDS}
    changed = connection.execute(
        update(feed_state).where(feed_state.c.source == state.source).values(**values)
    )
    if not changed.rowcount:
        connection.execute(insert(feed_state).values(**values))


def source_counts(engine: Engine) -> dict[str, tuple[int, datetime | None]]:
    """How many items each source stored, and when it last stored one."""
    query = select(items.c.source, func.count(), func.max(items.c.collected)).group_by(
        items.c.source
    )
    with transaction(engine) as connection:
        # max() keeps the column's type, so the time comes back aware, in UTC.
        return {row[0]: (int(row[1]), row[2]) for row in connection.execute(query)}
