"""What readers do to their own subscription: join by confirming a sign-up, choose categories,
languages and a pause, see everything kept about them, and erase it.

Erasure follows ``suppressions`` and ``events``: the address goes on the suppression list
(reason ``erased``, a hash only) first, so that nothing can mail it from then on, even if the
rest is cut short; then the events forget it; then, in one transaction, its pending sign-ups
and unsent ledger rows are deleted, its sent rows keep ``erased:<hash>`` in place of the
address (the day's counts and once-only delivery stay as they were), and the recipient goes.
Erasing again finishes whatever a crash left.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, update

from bulletin.store import sync_state
from bulletin.store.addresses import categories_text, normalize_address
from bulletin.store.connect import transaction
from bulletin.store.events import Events
from bulletin.store.recipients import Recipients
from bulletin.store.schema import ledger, recipients, signups
from bulletin.store.signups import Signup, Signups
from bulletin.store.suppressions import Suppressions, address_hash, held_among

ERASED_PREFIX = "erased:"


class Readers:
    """The mailing list as its readers change it themselves."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.recipients = Recipients(engine)
        self.events = Events(engine)
        self.suppressions = Suppressions(engine)
        self.signups = Signups(engine)

    def join(self, signup: Signup, now: datetime) -> bool:
        """Put a confirmed sign-up on the list (or back on it, with its choices); False when
        the address is on the suppression list, which nothing overrides."""
        values = {
            "status": "active",
            "categories": categories_text(signup.categories),
            "languages": categories_text(signup.languages),
            "paused_until": None,
            "confirmed": now,
            "consent_version": signup.consent_version,
            "changed": now,
        }
        c = recipients.c
        with transaction(self.engine) as connection:
            if held_among(connection, [signup.address]):
                return False
            found = connection.scalar(select(c.id).where(c.address == signup.address))
            if found is None:
                connection.execute(
                    insert(recipients).values(
                        address=signup.address,
                        name=signup.name,
                        origin="web",
                        created=now,
                        **values,
                    )
                )
            else:
                named = {"name": signup.name} if signup.name else {}
                connection.execute(
                    update(recipients).where(c.id == found).values(**values, **named)
                )
            sync_state.touch(connection)
        return True

    def choose(
        self,
        address: str,
        categories: frozenset[str] | None,
        languages: frozenset[str] | None,
        paused_until: datetime | None,
        now: datetime,
    ) -> bool:
        """Set a reader's categories, languages and pause; whether anything changed."""
        c = recipients.c
        values = {
            "categories": categories_text(categories),
            "languages": categories_text(languages),
            "paused_until": paused_until,
        }
        with transaction(self.engine) as connection:
            row = connection.execute(
                select(c.categories, c.languages, c.paused_until).where(c.address == address)
            ).first()
            if row is None or tuple(row) == tuple(values.values()):
                return False
            change = update(recipients).where(c.address == address)
            connection.execute(change.values(changed=now, **values))
            sync_state.touch(connection)
        return True

    def kept(self, address: str) -> dict[str, Any]:
        """Everything the store keeps about ``address``, as plain data (a reader's export)."""
        key = normalize_address(address)
        recipient = self.recipients.get(key)
        suppression = self.suppressions.get(key)
        c = ledger.c
        query = select(c.day, c.status, c.sent, c.variant).where(c.address == key).order_by(c.day)
        with transaction(self.engine) as connection:
            deliveries = [dict(row._mapping) for row in connection.execute(query)]
        return {
            "address": key,
            "recipient": None if recipient is None else recipient.__dict__,
            "pending_signups": [s.__dict__ for s in self.signups.of(key)],
            "suppression": None if suppression is None else suppression.__dict__,
            "events": [e.__dict__ for e in self.events.of(key)],
            "deliveries": deliveries,
        }

    def erase(self, address: str, now: datetime, origin: str) -> None:
        """Erase ``address`` for good (see the module's docstring for the order and why)."""
        key = normalize_address(address)
        self.suppressions.add(key, "erased", now, origin)
        self.events.forget(key, now, origin)
        hashed = ERASED_PREFIX + address_hash(key)
        c = ledger.c
        mine = func.lower(c.address) == key.lower()
        with transaction(self.engine) as connection:
            connection.execute(delete(signups).where(func.lower(signups.c.address) == key.lower()))
            connection.execute(delete(ledger).where(mine, c.status.in_(("pending", "deferred"))))
            connection.execute(update(ledger).where(mine).values(address=hashed, name=""))
            gone = func.lower(recipients.c.address) == key.lower()
            connection.execute(delete(recipients).where(gone))
            sync_state.touch(connection)
