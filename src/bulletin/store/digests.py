"""The record of each day's digest: planned and sending, sent, empty, dropped or covered.

Planning reads it to know which days are settled, so a day is planned once however often the
scheduler wakes; a day with no items is recorded ``empty`` so that it does not stay due. A
catch-up digest is filed under its newest day (whose ledger rows hold its copies) and the
older days it covers are recorded ``covered``, pointing at it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, update

from bulletin.store.connect import record_of, transaction
from bulletin.store.schema import digests, ledger

DIGEST_STATES = ("sending", "sent", "empty", "dropped", "covered")


@dataclass(frozen=True)
class DigestDay:
    """What became of one day's digest."""

    day: date
    status: str  # one of DIGEST_STATES
    first_day: date  # the oldest day the digest filed under ``filed_under`` covers
    filed_under: date
    run_key: str
    changed: datetime

    @property
    def days(self) -> tuple[date, ...]:
        """Every day the digest filed under this day covers, oldest first."""
        count = (self.day - self.first_day).days + 1
        return tuple(date.fromordinal(self.first_day.toordinal() + n) for n in range(count))


class DigestLog:
    """The ``digests`` table of a store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(
        self,
        days: Sequence[date],
        status: str,
        now: datetime,
        run_key: str,
        *,
        filed_under: date | None = None,
        first_day: date | None = None,
    ) -> None:
        """Record ``status`` for each of ``days``, replacing what was recorded before."""
        assert status in DIGEST_STATES, status
        rows = [
            {
                "day": day,
                "status": status,
                "first_day": first_day or day,
                "filed_under": filed_under or day,
                "run_key": run_key,
                "changed": now,
            }
            for day in days
        ]
        if not rows:
            return
        with transaction(self.engine) as connection:
            connection.execute(delete(digests).where(digests.c.day.in_(list(days))))
            connection.execute(insert(digests), rows)

    def mark(self, day: date, status: str, now: datetime) -> None:
        """Change the status of the digest filed under ``day``."""
        assert status in DIGEST_STATES, status
        query = update(digests).where(digests.c.day == day).values(status=status, changed=now)
        with transaction(self.engine) as connection:
            connection.execute(query)

    def get(self, day: date) -> DigestDay | None:
        """What was recorded for ``day``, if anything."""
        with transaction(self.engine) as connection:
            row = connection.execute(select(digests).where(digests.c.day == day)).first()
        return None if row is None else _digest_day(row._mapping)

    def latest_settled(self) -> date | None:
        """The newest day whose digest was planned, in this table or in the ledger.

        The ledger counts too: `bulletin send --date D` plans D's rows without recording it.
        """
        with transaction(self.engine) as connection:
            recorded = connection.scalar(select(func.max(digests.c.day)))
            sent = connection.scalar(select(func.max(ledger.c.day)))
        found = [day for day in (recorded, sent) if day is not None]
        return max(found, default=None)

    def unfinished(self) -> list[DigestDay]:
        """Digests planned whose send was cut short (a stop, a crash, a paused server)."""
        query = select(digests).where(digests.c.status == "sending").order_by(digests.c.day)
        with transaction(self.engine) as connection:
            return [_digest_day(row._mapping) for row in connection.execute(query)]

    def recent(self, limit: int = 10) -> list[DigestDay]:
        """The newest days recorded, newest first."""
        query = select(digests).order_by(digests.c.day.desc()).limit(limit)
        with transaction(self.engine) as connection:
            return [_digest_day(row._mapping) for row in connection.execute(query)]

    def last_sent(self) -> DigestDay | None:
        """The newest digest that went out."""
        query = (
            select(digests)
            .where(digests.c.status == "sent")
            .order_by(digests.c.day.desc())
            .limit(1)
        )
        with transaction(self.engine) as connection:
            row = connection.execute(query).first()
        return None if row is None else _digest_day(row._mapping)


def _digest_day(row: Any) -> DigestDay:
    return record_of(DigestDay, row)
