"""Sign-ups waiting for their confirmation, and the counters of the web's rate limits.

A sign-up (double opt-in) is kept here, not on the mailing list, until its reader follows the
link mailed to them: an address a bot typed never joins the list. Each has a random id (its
link's signed token names it) and an expiry; taking it is one-shot, so a link confirms once.

The rate limits count in fixed windows (``hit``): one row per key and window, incremented in
one statement (``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``), so several instances of
``bulletin web`` on one store count together and no two requests read the same count.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from bulletin.store.addresses import categories_text, normalize_address, parse_categories
from bulletin.store.connect import transaction
from bulletin.store.schema import rate_limits, signups


@dataclass(frozen=True)
class Signup:
    """One sign-up waiting for its confirmation."""

    id: str
    address: str
    name: str
    categories: frozenset[str] | None
    languages: frozenset[str] | None
    consent_version: str
    origin: str
    requested: datetime
    expires: datetime


class Signups:
    """The pending sign-ups of a store, and its rate-limit counters."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def request(
        self,
        address: str,
        name: str,
        categories: frozenset[str] | None,
        languages: frozenset[str] | None,
        consent_version: str,
        origin: str,
        now: datetime,
        lifetime: timedelta,
    ) -> Signup:
        """Keep a new sign-up for ``address`` until ``now + lifetime``; it replaces any earlier
        one of the address, so only the newest link confirms."""
        signup = Signup(
            secrets.token_urlsafe(16),
            normalize_address(address),
            name,
            categories,
            languages,
            consent_version,
            origin,
            now,
            now + lifetime,
        )
        values = {
            **signup.__dict__,
            "categories": categories_text(categories),
            "languages": categories_text(languages),
        }
        with transaction(self.engine) as connection:
            connection.execute(delete(signups).where(signups.c.address == signup.address))
            connection.execute(delete(signups).where(signups.c.expires < now))
            connection.execute(insert(signups).values(**values))
        return signup

    def get(self, signup_id: str, now: datetime) -> Signup | None:
        """The sign-up ``signup_id`` names, if it is still waiting and not expired."""
        query = select(signups).where(signups.c.id == signup_id, signups.c.expires >= now)
        with transaction(self.engine) as connection:
            row = connection.execute(query).first()
        return None if row is None else _signup(row)

    def take(self, signup_id: str, now: datetime) -> Signup | None:
        """Remove and return the sign-up, if still waiting: a link confirms only once."""
        found = self.get(signup_id, now)
        if found is None:
            return None
        with transaction(self.engine) as connection:
            gone = connection.execute(delete(signups).where(signups.c.id == signup_id)).rowcount
        return found if gone else None  # another request took it first

    def of(self, address: str) -> list[Signup]:
        """The sign-ups of ``address`` still kept (for a reader's export)."""
        query = select(signups).where(signups.c.address == normalize_address(address))
        with transaction(self.engine) as connection:
            return [_signup(row) for row in connection.execute(query)]

    def forget(self, address: str) -> int:
        """Delete every sign-up of ``address`` (erasure); how many there were."""
        query = delete(signups).where(signups.c.address == normalize_address(address))
        with transaction(self.engine) as connection:
            return int(connection.execute(query).rowcount)

    def hit(self, key: str, now: datetime, window: timedelta) -> int:
        """Count one more event of ``key`` in the current window; the window's count so far."""
        seconds = int(window.total_seconds())
        start = int(now.timestamp()) // seconds * seconds
        row_key = f"{key}@{start}"
        ends = datetime.fromtimestamp(start + seconds, now.tzinfo)
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(rate_limits).values(key=row_key, count=1, expires=ends)
        statement = statement.on_conflict_do_update(
            index_elements=[rate_limits.c.key], set_={"count": rate_limits.c.count + 1}
        ).returning(rate_limits.c.count)
        with transaction(self.engine) as connection:
            count = int(connection.execute(statement).scalar_one())
            if count == 1:  # a new window: the old ones can go
                connection.execute(delete(rate_limits).where(rate_limits.c.expires < now))
        return count


def _signup(row: object) -> Signup:
    mapping = row._mapping  # type: ignore[attr-defined]
    return Signup(
        mapping["id"],
        mapping["address"],
        mapping["name"],
        parse_categories(mapping["categories"]),
        parse_categories(mapping["languages"]),
        mapping["consent_version"],
        mapping["origin"],
        mapping["requested"],
        mapping["expires"],
    )
