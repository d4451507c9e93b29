"""The mailing list: who gets the digest, of which categories, and who left it.

Addresses are normalised and names checked as ``addresses`` says. Nothing here ever
re-subscribes someone who left, except an explicit ``add``; nothing here ever adds or
re-subscribes an address on the suppression list, not even ``add``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

from sqlalchemy import Engine, delete, func, select, update

from bulletin.errors import StoreError
from bulletin.store import sync_state
from bulletin.store.addresses import (
    categories_text,
    check_name,
    normalize_address,
    parse_categories,
)
from bulletin.store.connect import insert_ignore, pages_by_address, transaction
from bulletin.store.migrations import fill_link_ids
from bulletin.store.schema import recipients
from bulletin.store.suppressions import held_among

STATUSES = ("active", "unsubscribed", "bounced")
Change = Literal["added", "updated", "unchanged"]
_PAGE = 1000


@dataclass(frozen=True)
class Subscriber:
    """One recipient on the list; ``categories`` None means every category."""

    address: str
    name: str
    status: str
    categories: frozenset[str] | None
    origin: str
    created: datetime
    changed: datetime
    link_id: str | None = None  # stands for them in signed links; None only before a send
    languages: frozenset[str] | None = None  # the site's languages they read; None: every one
    paused_until: datetime | None = None  # no digest before this instant
    confirmed: datetime | None = None  # when they confirmed their own sign-up
    consent_version: str | None = None  # the wording they agreed to


@dataclass(frozen=True)
class ListEntry:
    """A recipient as a command, a CSV row or the config gives it, before merging.

    ``categories`` is applied only when ``has_categories``; ``status`` only lowers an active
    recipient to unsubscribed or bounced, never the other way.
    """

    address: str
    name: str = ""
    categories: frozenset[str] | None = None
    has_categories: bool = False
    status: str = "active"


@dataclass
class MergeReport:
    """What merging a batch of entries into the list did."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_away: list[str] = field(default_factory=list)  # left the list: not re-subscribed
    suppressed: list[str] = field(default_factory=list)  # held by the suppression list: skipped


class Recipients:
    """The mailing list in the store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, address: str) -> Subscriber | None:
        """The recipient with this address (in any form that normalises to it)."""
        query = select(recipients).where(recipients.c.address == normalize_address(address))
        with transaction(self.engine) as connection:
            row = connection.execute(query).first()
        return None if row is None else _subscriber(row._mapping)

    def by_link_id(self, link_id: str) -> Subscriber | None:
        """The recipient a link id stands for, if they are still on the list."""
        query = select(recipients).where(recipients.c.link_id == link_id)
        with transaction(self.engine) as connection:
            row = connection.execute(query).first()
        return None if row is None else _subscriber(row._mapping)

    def fill_link_ids(self) -> int:
        """Give a link id to every recipient without one; returns how many got one.

        Every insert through SQLAlchemy draws one already: this catches rows written another
        way, so that no message goes out without its opaque link.
        """
        with transaction(self.engine) as connection:
            return fill_link_ids(connection)

    def add(self, entry: ListEntry, now: datetime) -> Change:
        """Add a recipient, or update and re-activate the one with that address."""
        report = self.merge([entry], now, origin="list", reactivate=True)
        if report.suppressed:
            raise StoreError(
                f"{report.suppressed[0]} is on the suppression list (it bounced, complained "
                "or was erased): it is not added",
                hint="if they asked to come back, lift it first with "
                "`bulletin subscribers suppressed --remove ADDRESS`",
            )
        return "added" if report.added else "updated" if report.updated else "unchanged"

    def merge(
        self,
        entries: Iterable[ListEntry],
        now: datetime,
        origin: str = "list",
        reactivate: bool = False,
    ) -> MergeReport:
        """Merge entries into the list in pages: new ones added, changed ones updated.

        Merging the same entries twice changes nothing the second time.
        """
        report = MergeReport()
        page: dict[str, ListEntry] = {}
        for entry in entries:
            page[normalize_address(entry.address)] = entry  # a later row wins within a page
            if len(page) >= _PAGE:
                self._merge_page(page, now, origin, reactivate, report)
                page = {}
        if page:
            self._merge_page(page, now, origin, reactivate, report)
        return report

    def _merge_page(
        self,
        page: dict[str, ListEntry],
        now: datetime,
        origin: str,
        reactivate: bool,
        report: MergeReport,
    ) -> None:
        c = recipients.c
        with transaction(self.engine) as connection:
            rows = connection.execute(select(recipients).where(c.address.in_(list(page))))
            stored = {row.address: row for row in rows}
            held = held_among(connection, page)
            new = []
            for address, entry in page.items():
                if address in held:
                    report.suppressed.append(address)
                    continue
                name = check_name(entry.name)
                categories = categories_text(entry.categories)
                if entry.status not in STATUSES:
                    raise StoreError(f"{address}: unknown status {entry.status!r}")
                row = stored.get(address)
                if row is None:
                    chosen = categories if entry.has_categories else None
                    new.append(_new_row(address, name, chosen, entry.status, origin, now))
                    continue
                values = _changes(row, name, categories, entry, reactivate)
                if row.status != "active" and "status" not in values:
                    report.kept_away.append(address)
                if values:
                    connection.execute(
                        update(recipients).where(c.address == address).values(changed=now, **values)
                    )
                    report.updated += 1
                else:
                    report.unchanged += 1
            if new:  # another process may add the same address at this moment: it wins
                connection.execute(insert_ignore(self.engine, recipients), new)
                report.added += len(new)
            if new or report.updated:
                sync_state.touch(connection)

    def set_status(self, address: str, status: str, now: datetime) -> bool:
        """Set a recipient's status (e.g. unsubscribed); whether there was such a recipient.

        An address differing from a stored one only in case is that recipient, if only one.
        """
        if status not in STATUSES:
            raise StoreError(f"unknown status {status!r}", hint=f"use one of {STATUSES}")
        c = recipients.c
        with transaction(self.engine) as connection:
            key = _resolve(connection, address)
            if key is None:
                return False
            done = connection.execute(
                update(recipients)
                .where(c.address == key, c.status != status)
                .values(status=status, changed=now)
            )
            if done.rowcount:
                sync_state.touch(connection)
            return True

    def remove(self, address: str) -> bool:
        """Delete a recipient from the list; whether there was one."""
        with transaction(self.engine) as connection:
            key = _resolve(connection, address)
            if key is None:
                return False
            connection.execute(delete(recipients).where(recipients.c.address == key))
            sync_state.touch(connection)
            return True

    def each(self, status: str | None = None) -> Iterator[Subscriber]:
        """Every recipient (of one status), by address, read a page at a time."""
        conditions = () if status is None else (recipients.c.status == status,)
        return pages_by_address(self.engine, recipients, conditions, _subscriber, _PAGE)

    def counts(self) -> dict[str, int]:
        """How many recipients have each status."""
        query = select(recipients.c.status, func.count()).group_by(recipients.c.status)
        with transaction(self.engine) as connection:
            found = {status: int(n) for status, n in connection.execute(query)}
        return {status: found.get(status, 0) for status in STATUSES}

    def sync_config(self, entries: Sequence[ListEntry], now: datetime) -> MergeReport:
        """Make the recipients listed in config.yaml part of the list.

        They are added (origin ``config``) and their names and categories follow the config;
        one who unsubscribed stays unsubscribed; one removed from the config, and never added
        any other way, leaves the list. Recipients added by command or import are not touched.
        Every run and every list command does this, so when neither the config's entries nor
        the list changed since the last time (a fingerprint of both, kept in the store's
        settings) it costs one query; else a read of the list and a write of what differs.
        """
        mark = sync_state.fingerprint(
            (e.address, e.name, _categories_text(e.categories), e.has_categories) for e in entries
        )
        with transaction(self.engine) as connection:
            if sync_state.unchanged_since(connection, mark):
                return MergeReport(unchanged=len(entries))
        with transaction(self.engine) as connection:
            report = _sync(connection, entries, now)
            sync_state.remember(connection, mark)
        return report


# categories_text, remembered: a long list repeats a few sets of categories.
_categories_text = lru_cache(maxsize=256)(categories_text)


def _sync(connection: Any, entries: Sequence[ListEntry], now: datetime) -> MergeReport:
    """``sync_config``'s work: the list read once, only what differs written."""
    c = recipients.c
    # The config's own rows and those the config names: not the whole list, which may hold
    # a hundred thousand readers who came some other way.
    columns = (c.address, c.origin, c.name, c.categories, c.status)
    stored = {
        row[0]: row for row in connection.execute(select(*columns).where(c.origin == "config"))
    }
    wanted: dict[str, ListEntry] = {}
    for entry in entries:  # a stored address is normalised already; a later entry wins
        address = entry.address if entry.address in stored else normalize_address(entry.address)
        wanted[address] = entry
    others = [address for address in wanted if address not in stored]
    for start in range(0, len(others), _PAGE):
        query = select(*columns).where(c.address.in_(others[start : start + _PAGE]))
        stored.update({row[0]: row for row in connection.execute(query)})
    gone = [a for a, row in stored.items() if row[1] == "config" and a not in wanted]
    for start in range(0, len(gone), _PAGE):
        connection.execute(delete(recipients).where(c.address.in_(gone[start : start + _PAGE])))
    report, new = MergeReport(), []
    held = held_among(connection, wanted, normalised=True)
    for address, entry in wanted.items():
        row = stored.get(address)
        if address in held:
            report.suppressed.append(address)  # bounced, complained or erased: never again
        elif row is None:
            name, categories = check_name(entry.name), _categories_text(entry.categories)
            new.append(_new_row(address, name, categories, "active", "config", now))
        elif row[1] != "config":
            continue  # added by command or import: theirs, not the config's
        elif row[2:] == (entry.name, _categories_text(entry.categories), "active"):
            report.unchanged += 1  # the common case, without a second look
        else:
            name, categories = check_name(entry.name), _categories_text(entry.categories)
            ours = ListEntry(address, name, entry.categories, has_categories=True)
            values = _changes(row, name, categories, ours, reactivate=False)
            if row.status != "active" and "status" not in values:
                report.kept_away.append(address)
            if values:
                change = update(recipients).where(c.address == address)
                connection.execute(change.values(changed=now, **values))
                report.updated += 1
            else:
                report.unchanged += 1
    if new:
        # Another process may seed the same list at the same instant (a shared store).
        connection.execute(insert_ignore(connection.engine, recipients), new)
        report.added = len(new)
    return report


def _new_row(
    address: str, name: str, categories: str | None, status: str, origin: str, now: datetime
) -> dict[str, Any]:
    """The row a new recipient is stored as."""
    return {
        "address": address,
        "name": name,
        "status": status,
        "categories": categories,
        "origin": origin,
        "created": now,
        "changed": now,
    }


def _resolve(connection: Any, address: str) -> str | None:
    """The stored address ``address`` names: the same, or else the only one that differs from
    it in case alone (people write their own local part in any case when they leave)."""
    key = normalize_address(address)
    c = recipients.c
    if connection.scalar(select(c.id).where(c.address == key)) is not None:
        return key
    alike = connection.execute(
        select(c.address).where(func.lower(c.address) == key.lower()).limit(2)
    ).all()
    return str(alike[0].address) if len(alike) == 1 else None


def _changes(
    row: Any, name: str, categories: str | None, entry: ListEntry, reactivate: bool
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if name and name != row.name:
        values["name"] = name
    if entry.has_categories and categories != row.categories:
        values["categories"] = categories
    if row.status == "active" and entry.status != "active":
        values["status"] = entry.status
    elif reactivate and row.status != "active" and entry.status == "active":
        values["status"] = "active"
    return values


def _subscriber(row: Any) -> Subscriber:
    return Subscriber(
        address=row["address"],
        name=row["name"],
        status=row["status"],
        categories=parse_categories(row["categories"]),
        origin=row["origin"],
        created=row["created"],
        changed=row["changed"],
        link_id=row["link_id"],
        languages=parse_categories(row["languages"]),  # stored the same way: sorted, commas
        paused_until=row["paused_until"],
        confirmed=row["confirmed"],
        consent_version=row["consent_version"],
    )
