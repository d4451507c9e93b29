"""The mailing list's jobs: send a day's digest, report on it, import and leave the list.

``send_day`` is ``bulletin send``: it renders the day's digest from the store (no collecting,
no files written) and hands it to the same ledger-driven send as ``bulletin run``.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import IO

from bulletin import delivery, digest
from bulletin.config import Config
from bulletin.errors import BulletinError
from bulletin.pipeline.common import Clock, category_index, open_store, system_clock, today
from bulletin.pipeline.digesting import render_day
from bulletin.pipeline.dispatch import Progress
from bulletin.pipeline.sending import SendReport, send_rows, unsubscribe_key
from bulletin.store import STATUSES, Delivery, ListEntry, MergeReport, Store, normalize_address


def send_day(
    config: Config,
    day: date | None = None,
    *,
    retry_unknown: bool = False,
    progress: Progress | None = None,
    total: Callable[[int], None] | None = None,
    clock: Clock = system_clock,
) -> SendReport:
    """Send the day's digest to whoever does not have it yet (``bulletin send``)."""
    day = day or today(config, clock)
    store = open_store(config)
    try:
        count, rendered = render_day(config, store, day)
        frozen = store.ledger.issue(day, "") is not None
        if count == 0 and not config.digest.send_empty and not frozen:
            raise BulletinError(
                f"no digest to send for {day}: the store has no items that day",
                hint="collect first (`bulletin run` does both), or set digest.send_empty",
            )
        variants: dict[frozenset[str] | None, digest.RenderedDigest] = {None: rendered}

        def variant(categories: frozenset[str] | None) -> digest.RenderedDigest:
            if categories not in variants:
                variants[categories] = render_day(config, store, day, categories)[1]
            return variants[categories]

        return send_rows(
            config,
            store,
            day,
            variant,
            retry_unknown=retry_unknown,
            progress=progress,
            total=total,
            clock=clock,
        )
    finally:
        store.close()


@dataclass
class DayStatus:
    """The ledger of one day: counts by state and the rows that need a look."""

    day: date | None
    counts: dict[str, int] = field(default_factory=dict)
    trouble: list[Delivery] = field(default_factory=list)  # failed, unknown and deferred

    @property
    def ok(self) -> bool:
        """Whether every row is sent."""
        return all(n == 0 for state, n in self.counts.items() if state != "sent")


def day_status(config: Config, day: date | None = None, limit: int = 200) -> DayStatus:
    """The ledger of ``day`` (default: the latest day sent)."""
    store = open_store(config)
    try:
        if day is None:
            days = store.ledger.days()
            if not days:
                return DayStatus(None)
            day = days[-1]
        status = DayStatus(day, store.ledger.counts(day))
        for row in store.ledger.rows(day, ["failed", "unknown", "deferred"]):
            if len(status.trouble) >= limit:
                break
            status.trouble.append(row)
        return status
    finally:
        store.close()


# --- the list ---------------------------------------------------------------------------------


def check_categories(config: Config, categories: Iterable[str] | None) -> frozenset[str] | None:
    """Category slugs as given, each checked against the configured ones."""
    if categories is None:
        return None
    wanted = frozenset(c.strip() for c in categories if c.strip())
    known = {c.slug for c in category_index(config).known}
    unknown = sorted(wanted - known) if known else []
    if unknown:
        raise BulletinError(
            f"unknown categories: {', '.join(unknown)}",
            hint=f"use the slugs of config.yaml's categories: {', '.join(sorted(known))}",
        )
    return wanted or None


@dataclass
class ImportReport:
    """What importing a CSV file did."""

    merged: MergeReport = field(default_factory=MergeReport)
    problems: list[str] = field(default_factory=list)


def import_csv(
    config: Config, store: Store, handle: IO[str], name: str, clock: Clock
) -> ImportReport:
    """Merge the rows of a CSV file (address or email, name, categories, status) into the list.

    Bad rows are reported by line and skipped. Importing the same file twice changes nothing;
    an import never re-subscribes someone who left.
    """
    report = ImportReport()
    reader = csv.DictReader(handle)
    fields = {f.strip().lower(): f for f in reader.fieldnames or []}
    column = fields.get("address") or fields.get("email")
    if column is None:
        raise BulletinError(
            f"{name}: no address column", hint="the first line must name the columns: address,name"
        )

    def entries() -> Iterator[ListEntry]:
        for row in reader:
            line = reader.line_num
            try:
                yield _entry(config, row, column, fields)
            except BulletinError as error:
                report.problems.append(f"{name}:{line}: {error.message}")

    report.merged = store.recipients.merge(entries(), clock(), origin="list")
    return report


def _entry(config: Config, row: dict[str, str], column: str, fields: dict[str, str]) -> ListEntry:
    address = normalize_address(row.get(column) or "")
    name = (row.get(fields["name"]) or "") if "name" in fields else ""
    status = ((row.get(fields["status"]) or "") if "status" in fields else "").strip() or "active"
    if status not in STATUSES:
        raise BulletinError(f"unknown status {status!r} (use {', '.join(STATUSES)})")
    has_categories = "categories" in fields
    text = (row.get(fields["categories"]) or "") if has_categories else ""
    categories = check_categories(config, text.replace(";", ",").split(",")) if text else None
    return ListEntry(address, name, categories, has_categories, status)


EXPORT_COLUMNS = ("address", "name", "status", "categories", "created", "changed")


def export_csv(store: Store, handle: IO[str]) -> int:
    """Write the whole list as CSV (what ``import_csv`` reads back); returns how many rows."""
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for s in store.recipients.each():
        categories = ";".join(sorted(s.categories)) if s.categories else ""
        writer.writerow(
            [s.address, s.name, s.status, categories, s.created.isoformat(), s.changed.isoformat()]
        )
        count += 1
    return count


# --- leaving the list -------------------------------------------------------------------------


@dataclass(frozen=True)
class Unsubscribed:
    """What an unsubscribe request did: whose, and whether anything changed."""

    address: str | None  # None: the token was not genuine
    found: bool = False


class Unsubscriber:
    """Turns unsubscribe tokens into unsubscribed recipients (``bulletin web`` uses it)."""

    def __init__(self, config: Config, clock: Clock = system_clock) -> None:
        self.config, self.clock = config, clock
        store = open_store(config)
        try:
            self.key = unsubscribe_key(config, store)
        finally:
            store.close()

    def check(self, token: str) -> str | None:
        """The address a genuine token names; None for a forged or damaged one."""
        return delivery.verify(self.key, token)

    def unsubscribe(self, token: str) -> Unsubscribed:
        """Unsubscribe whom a genuine token names; a forged token changes nothing."""
        address = self.check(token)
        if address is None:
            return Unsubscribed(None)
        store = open_store(self.config)
        try:
            return Unsubscribed(
                address, store.recipients.set_status(address, "unsubscribed", self.clock())
            )
        finally:
            store.close()


def unsubscribe(config: Config, token_or_address: str, clock: Clock = system_clock) -> Unsubscribed:
    """``bulletin unsubscribe``: by token (from a mailto request) or by address."""
    if "@" in token_or_address:
        store = open_store(config)
        try:
            address = normalize_address(token_or_address)
            return Unsubscribed(
                address, store.recipients.set_status(address, "unsubscribed", clock())
            )
        finally:
            store.close()
    return Unsubscriber(config, clock).unsubscribe(token_or_address)
