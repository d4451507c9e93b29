"""The mailing list: who gets the digest, of which categories, and who left it.

Addresses are checked for syntax only (email-validator, no DNS) and normalised: the local part
as written, the domain in lower-case ASCII (IDNA), so ``Ann@Example.ORG`` and ``Ann@example.org``
are one recipient. Local parts with non-ASCII letters need SMTPUTF8 end to end and are refused.
Nothing here ever re-subscribes someone who left, except an explicit ``add``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Engine, delete, func, select, update

from bulletin.errors import StoreError
from bulletin.store.connect import insert_ignore, pages_by_address, transaction
from bulletin.store.schema import fill_link_ids, ledger, recipients

STATUSES = ("active", "unsubscribed", "bounced")
Change = Literal["added", "updated", "unchanged"]
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]*")
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


def normalize_address(text: str) -> str:
    """``text`` as the list stores it, or a StoreError saying what is wrong with it."""
    try:
        checked = validate_email(text.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise StoreError(f"{text!r} is not a usable email address: {error}") from None
    return str(checked.ascii_email)


def check_name(name: str) -> str:
    """A display name, trimmed; line breaks and control characters are refused (they could
    start a new mail header)."""
    if _CONTROL.search(name):
        raise StoreError(f"the name {name[:60]!r} contains a line break or control character")
    return " ".join(name.split())[:200]


def categories_text(categories: Iterable[str] | None) -> str | None:
    """Categories as stored: sorted, comma-separated slugs; None for every category."""
    if categories is None:
        return None
    slugs = sorted({c.strip().lower() for c in categories if c.strip()})
    for slug in slugs:
        if not _SLUG.fullmatch(slug):
            raise StoreError(f"{slug!r} is not a category slug (like local-news)")
    text = ",".join(slugs)
    # It names the recipient's variant of the digest in the ledger, whose column has a limit.
    limit = getattr(ledger.c.variant.type, "length", None) or len(text)
    if len(text) > limit:
        raise StoreError(f"the categories {text[:60]}... are longer than {limit} characters")
    return text or None


def parse_categories(text: str | None) -> frozenset[str] | None:
    """Stored categories back as a set of slugs; None for every category."""
    return frozenset(text.split(",")) if text else None


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
            new = []
            for address, entry in page.items():
                name = check_name(entry.name)
                categories = categories_text(entry.categories)
                if entry.status not in STATUSES:
                    raise StoreError(f"{address}: unknown status {entry.status!r}")
                row = stored.get(address)
                if row is None:
                    new.append(
                        {
                            "address": address,
                            "name": name,
                            "status": entry.status,
                            "categories": categories if entry.has_categories else None,
                            "origin": origin,
                            "created": now,
                            "changed": now,
                        }
                    )
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
            connection.execute(
                update(recipients)
                .where(c.address == key, c.status != status)
                .values(status=status, changed=now)
            )
            return True

    def remove(self, address: str) -> bool:
        """Delete a recipient from the list; whether there was one."""
        with transaction(self.engine) as connection:
            key = _resolve(connection, address)
            if key is None:
                return False
            connection.execute(delete(recipients).where(recipients.c.address == key))
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
        """
        wanted = {normalize_address(e.address): e for e in entries}
        c = recipients.c
        with transaction(self.engine) as connection:
            rows = connection.execute(select(c.address, c.origin).where(c.address.in_(wanted)))
            theirs = {row.address for row in rows if row.origin != "config"}
            connection.execute(
                delete(recipients).where(c.origin == "config", c.address.not_in(list(wanted)))
            )
        ours = [
            ListEntry(a, e.name, e.categories, True, "active")
            for a, e in wanted.items()
            if a not in theirs
        ]
        return self.merge(ours, now, origin="config")


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
    )
