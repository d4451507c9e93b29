"""The suppression list: addresses nothing may mail again, kept as hashes only.

An address lands here when it bounced for good, when its reader complained (an abuse report),
or when its reader was erased. From then on no config sync, CSV import, ``subscribers add``
or send reaches it: ``Recipients.merge`` skips it, and a send holds back any row planned for
it. Only the operator lifts it (``bulletin subscribers suppressed --remove ADDRESS``).

The list holds ``address_hash(address)``: SHA-256 of the normalised address in lower case, so
``Ann@Example.org`` and ``ann@example.org`` are one entry, and the list says nothing about
whom it holds to anyone who does not already know the address. Erasure (reader sign-up, issue
12) is meant to use it as is: delete the recipient, ``add(address, "erased", ...)``, and
``Events.forget(address)``; the ledger's rows then keep the same hash in place of the address,
so that once-only delivery still holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select, update

from bulletin.errors import StoreError
from bulletin.store.connect import insert_ignore, transaction
from bulletin.store.schema import ledger, recipients, suppressions

#: Why an address is held, and the status its recipient row gets (erased ones have no row).
REASONS = {"bounced": "bounced", "complained": "unsubscribed", "erased": "unsubscribed"}
_CHUNK = 500


def address_hash(address: str, normalised: bool = False) -> str:
    """The hash the suppression list and the events keep of an address.

    The address is normalised as the mailing list does (the domain in lower-case ASCII; pass
    ``normalised`` for one that is already) and then lower-cased whole: mail systems treat
    local parts without regard to case, and a suppression must hold for every spelling.
    """
    normal = address if normalised else _normal(address)
    return hashlib.sha256(normal.lower().encode("utf-8")).hexdigest()


def _normal(address: str) -> str:
    # Imported here: recipients imports this module for its merge.
    from bulletin.store.addresses import normalize_address

    try:
        return normalize_address(address)
    except StoreError:  # a bounce may name an address the list would refuse: take it as given
        return address.strip()


@dataclass(frozen=True)
class Suppression:
    """One held address: its hash, why, since when, and what put it there."""

    address_hash: str
    reason: str
    time: datetime
    origin: str


class Suppressions:
    """The suppression list in the store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, address: str, reason: str, now: datetime, origin: str) -> bool:
        """Hold ``address`` for ``reason`` (see ``REASONS``); whether it was not held yet.

        In the same transaction, a recipient row still active under that address (in any
        case) gets the reason's status, so no send can reach it even before the next check.
        An address held already keeps its first reason.
        """
        if reason not in REASONS:
            raise StoreError(f"unknown suppression reason {reason!r}", hint=f"use {set(REASONS)}")
        key = address_hash(address)
        values = {"address_hash": key, "reason": reason, "time": now, "origin": origin}
        with transaction(self.engine) as connection:
            # RETURNING says whether the row went in: rowcount does not, on every driver.
            insert = insert_ignore(self.engine, suppressions).values(**values)
            added = connection.execute(insert.returning(suppressions.c.address_hash)).first()
            c = recipients.c
            connection.execute(
                update(recipients)
                .where(func.lower(c.address) == _normal(address).lower(), c.status == "active")
                .values(status=REASONS[reason], changed=now)
            )
        return added is not None

    def holds(self, address: str) -> bool:
        """Whether ``address`` (in any spelling) is on the list."""
        return self.get(address) is not None

    def get(self, address: str) -> Suppression | None:
        """The entry holding ``address``, if any."""
        query = select(suppressions).where(suppressions.c.address_hash == address_hash(address))
        with transaction(self.engine) as connection:
            row = connection.execute(query).first()
        return None if row is None else _suppression(row)

    def remove(self, address: str) -> bool:
        """Lift the hold on ``address``; whether it was held. It does not re-subscribe them."""
        query = delete(suppressions).where(suppressions.c.address_hash == address_hash(address))
        with transaction(self.engine) as connection:
            return bool(connection.execute(query).rowcount)

    def each(self) -> Iterator[Suppression]:
        """Every entry, the newest first."""
        query = select(suppressions).order_by(suppressions.c.time.desc())
        with transaction(self.engine) as connection:
            rows = connection.execute(query).all()
        return (_suppression(row) for row in rows)

    def counts(self) -> dict[str, int]:
        """How many addresses are held for each reason."""
        c = suppressions.c
        query = select(c.reason, func.count()).group_by(c.reason)
        with transaction(self.engine) as connection:
            found = {reason: int(n) for reason, n in connection.execute(query)}
        return {reason: found.get(reason, 0) for reason in REASONS}

    def hold_back(self, day: date, now: datetime) -> list[str]:
        """Drop the day's unattempted rows planned for held addresses; their addresses.

        A last guard for a send: the merge and ``add`` keep held addresses inactive, and
        this catches a row written around them (by hand, or by an older bulletin).
        """
        c = ledger.c
        with transaction(self.engine) as connection:
            if connection.scalar(select(func.count()).select_from(suppressions)) == 0:
                return []
            planned = select(c.address).where(c.day == day, c.status == "pending", c.attempts == 0)
            addresses = [row.address for row in connection.execute(planned)]
            held = held_among(connection, addresses)
            for address, reason in sorted(held.items()):
                connection.execute(
                    delete(ledger).where(c.day == day, c.status == "pending", c.address == address)
                )
                connection.execute(
                    update(recipients)
                    .where(recipients.c.address == address, recipients.c.status == "active")
                    .values(status=REASONS[reason], changed=now)
                )
        return sorted(held)


def held_among(
    connection: Connection, addresses: Iterable[str], normalised: bool = False
) -> dict[str, str]:
    """Those of ``addresses`` the suppression list holds, each with its reason."""
    by_hash: dict[str, list[str]] = {}
    for address in addresses:
        by_hash.setdefault(address_hash(address, normalised), []).append(address)
    keys, held = list(by_hash), {}
    c = suppressions.c
    if (connection.scalar(select(func.count()).select_from(suppressions)) or 0) <= len(keys):
        # Fewer held than asked about (the usual case: a long list, a short suppression
        # list): read them all once instead of asking in chunks.
        for row in connection.execute(select(c.address_hash, c.reason)):
            if row.address_hash in by_hash:
                held.update(dict.fromkeys(by_hash[row.address_hash], row.reason))
        return held
    for start in range(0, len(keys), _CHUNK):
        query = select(c.address_hash, c.reason).where(
            c.address_hash.in_(keys[start : start + _CHUNK])
        )
        for row in connection.execute(query):
            held.update(dict.fromkeys(by_hash[row.address_hash], row.reason))
    return held


def _suppression(row: Any) -> Suppression:
    return Suppression(row.address_hash, row.reason, row.time, row.origin)
