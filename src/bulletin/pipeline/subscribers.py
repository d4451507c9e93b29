"""The mailing list: who is on it, importing and exporting it, and leaving it.

The recipients of config.yaml are on the list too: ``MailingList`` merges them in before the
operator's commands read or change it.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO

from bulletin import delivery
from bulletin.errors import BulletinError
from bulletin.pipeline.context import Clock, RunContext, system_clock
from bulletin.store import (
    STATUSES,
    Event,
    ListEntry,
    MergeReport,
    Store,
    Subscriber,
    Suppression,
    address_hash,
    check_name,
    normalize_address,
)


def check_categories(ctx: RunContext, categories: Iterable[str] | None) -> frozenset[str] | None:
    """Category slugs as given, each checked against the configured ones."""
    if categories is None:
        return None
    wanted = frozenset(c.strip() for c in categories if c.strip())
    known = {c.slug for c in ctx.categories.known}
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
    ctx: RunContext, store: Store, handle: IO[bytes], name: str, clock: Clock
) -> ImportReport:
    """Merge the rows of a CSV file (address or email, name, categories, status) into the list.

    Each row is judged on its own: a bad one (not UTF-8, a bad address, a line break in a name)
    is reported by the line it starts on and skipped. A file that is not UTF-8 at all is
    refused whole, before anything changes. Importing the same file twice changes nothing; an
    import never re-subscribes someone who left.
    """
    report = ImportReport()
    (_, header), *rows = _utf8_rows(handle.read(), name) or [(1, [])]
    fields = {f.strip().lower(): f for f in header}
    column = fields.get("address") or fields.get("email")
    if column is None:
        raise BulletinError(
            f"{name}: no address column", hint="the first line must name the columns: address,name"
        )

    def entries() -> Iterator[ListEntry]:
        for line, values in rows:
            try:
                if any(map(_NOT_UTF8.search, values)):
                    raise BulletinError(f"not valid UTF-8: {_shown_row(values)}")
                yield _entry(ctx, dict(zip(header, values, strict=False)), column, fields)
            except BulletinError as error:
                report.problems.append(f"{name}:{line}: {error.message}")

    report.merged = store.recipients.merge(entries(), clock(), origin="list")
    return report


# Bytes that are not UTF-8, as the "surrogateescape" error handler keeps them (PEP 383).
_NOT_UTF8 = re.compile("[\udc80-\udcff]")
_NOT_UTF8_HINT = (
    'save it as UTF-8 (a spreadsheet\'s "CSV UTF-8"; or `iconv -f WINDOWS-1252 -t UTF-8`) '
    "and import it again"
)


def _utf8_rows(data: bytes, name: str) -> list[tuple[int, list[str]]]:
    """The file's CSV records with the line each starts on, or a BulletinError when the file is
    not UTF-8 at all. Bytes that are not UTF-8 stay in their record as lone surrogates, so a
    bad byte never moves a record's bounds (commas, quotes and line ends are ASCII, and stay
    themselves): the csv module still sees quoted fields over several lines whole."""
    if data.startswith(codecs.BOM_UTF16_LE) or data.startswith(codecs.BOM_UTF16_BE):
        raise BulletinError(
            f"{name}: not UTF-8 but UTF-16 (it starts with its byte order mark)", _NOT_UTF8_HINT
        )
    data = data.removeprefix(codecs.BOM_UTF8)
    reader = csv.reader(io.StringIO(data.decode("utf-8", "surrogateescape"), newline=""))
    rows, start = [], 1
    try:
        for values in reader:
            if values:
                rows.append((start, values))
            start = reader.line_num + 1
    except csv.Error as error:
        raise BulletinError(f"{name}:{start}: not a CSV row: {error}") from None
    if rows:
        _check_utf8(rows, name)
    return rows


def _check_utf8(rows: list[tuple[int, list[str]]], name: str) -> None:
    """Refuse a file in another encoding at once, rather than skip each of its rows."""
    header = "".join(rows[0][1])
    if "\x00" in header:
        raise BulletinError(
            f"{name}: not UTF-8: its first line holds NUL bytes, as UTF-16 does", _NOT_UTF8_HINT
        )
    if _NOT_UTF8.search(header):
        raise BulletinError(
            f"{name}: not UTF-8: its first line is in another encoding", _NOT_UTF8_HINT
        )
    bad = [line for line, values in rows if any(map(_NOT_UTF8.search, values))]
    # A file of another 8-bit encoding shows only bad rows where it leaves ASCII; a UTF-8
    # file with a damaged row or two also has good ones.
    damaged = set(bad)
    some_good = any(not "".join(v).isascii() for line, v in rows if line not in damaged)
    if len(bad) > 1 and not some_good:
        lines = ", ".join(map(str, bad[:5])) + (", ..." if len(bad) > 5 else "")
        raise BulletinError(
            f"{name}: not UTF-8: every row beyond ASCII is in another encoding (lines {lines})",
            _NOT_UTF8_HINT,
        )


def _shown_row(values: list[str]) -> str:
    text = ",".join(values).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return repr(text[:60] + ("..." if len(text) > 60 else ""))


def _entry(ctx: RunContext, row: dict[str, str], column: str, fields: dict[str, str]) -> ListEntry:
    address = normalize_address(row.get(column) or "")
    # Checked here too, so a bad name skips its row instead of stopping the whole merge.
    name = check_name((row.get(fields["name"]) or "") if "name" in fields else "")
    status = ((row.get(fields["status"]) or "") if "status" in fields else "").strip() or "active"
    if status not in STATUSES:
        raise BulletinError(f"unknown status {status!r} (use {', '.join(STATUSES)})")
    has_categories = "categories" in fields
    text = (row.get(fields["categories"]) or "") if has_categories else ""
    categories = check_categories(ctx, text.replace(";", ",").split(",")) if text else None
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
    """Turns unsubscribe tokens into unsubscribed recipients (``bulletin web`` uses it).

    A token names a recipient's link id, which the store maps back to them; a token of the
    first format, from a digest sent before link ids, names the address itself.
    """

    def __init__(self, ctx: RunContext, clock: Clock = system_clock, origin: str = "web") -> None:
        self.ctx, self.clock, self.origin = ctx, clock, origin
        with ctx.open_store() as store:
            self.key = ctx.unsubscribe_key(store)

    def check(self, token: str) -> str | None:
        """The address a genuine token names; None for a forged or damaged one, or for one
        whose recipient was deleted from the list since."""
        with self.ctx.open_store() as store:
            return self._address(store, token)

    def unsubscribe(self, token: str) -> Unsubscribed:
        """Unsubscribe whom a genuine token names; a forged token changes nothing."""
        with self.ctx.open_store() as store:
            address = self._address(store, token)
            if address is None:
                return Unsubscribed(None)
            return set_unsubscribed(store, address, self.clock(), self.origin)

    def _address(self, store: Store, token: str) -> str | None:
        link_id = delivery.verify(self.key, delivery.UNSUBSCRIBE, token)
        if link_id is None:
            return delivery.verify_address(self.key, token)
        recipient = store.recipients.by_link_id(link_id)
        return None if recipient is None else recipient.address


def unsubscribe(
    ctx: RunContext, token_or_address: str, clock: Clock = system_clock
) -> Unsubscribed:
    """``bulletin unsubscribe``: by token (from a mailto request) or by address."""
    if "@" in token_or_address:
        return _leave(ctx, normalize_address(token_or_address), clock)
    # Copied by hand out of a mail's subject line: blanks around it are not part of it.
    return Unsubscriber(ctx, clock, origin="mail").unsubscribe(token_or_address.strip())


def _leave(ctx: RunContext, address: str, clock: Clock) -> Unsubscribed:
    with ctx.open_store() as store:
        return set_unsubscribed(store, address, clock(), "operator")


def set_unsubscribed(store: Store, address: str, now: datetime, origin: str) -> Unsubscribed:
    """Unsubscribe ``address``, recording the event when they were on the list as active."""
    before = store.recipients.get(address)
    found = store.recipients.set_status(address, "unsubscribed", now)
    if before is not None and before.status == "active":
        store.events.record(before.address, "unsubscribed", now, origin)
    return Unsubscribed(address, found)


@dataclass(frozen=True)
class SubscriberRecord:
    """Everything the store keeps about one address: `bulletin subscribers show`."""

    address: str
    subscriber: Subscriber | None  # None: not on the list (left it, erased, never joined)
    suppression: Suppression | None
    events: list[Event]


# --- the operator's commands ------------------------------------------------------------------


class MailingList:
    """The list as the operator's commands see it: the store's, with config.yaml's merged in."""

    def __init__(self, ctx: RunContext, store: Store, clock: Clock = system_clock) -> None:
        self.ctx, self.store, self.clock = ctx, store, clock
        store.recipients.sync_config(list(ctx.recipients), clock())

    def add(self, address: str, name: str, categories: str | None) -> tuple[str, Subscriber]:
        """Add a recipient, or update one (re-subscribing one who left): what changed, and them."""
        chosen = check_categories(self.ctx, categories.split(",") if categories else None)
        entry = ListEntry(address, name, chosen, has_categories=categories is not None)
        before = self.store.recipients.get(address)
        now = self.clock()
        change = self.store.recipients.add(entry, now)
        subscriber = self.store.recipients.get(address)
        assert subscriber is not None
        if before is None or before.status != "active":
            self.store.events.record(subscriber.address, "subscribed", now, "operator")
        return change, subscriber

    def show(self, address: str) -> SubscriberRecord:
        """What the store keeps about ``address``: the recipient, a suppression, the events."""
        key = normalize_address(address)
        store = self.store
        return SubscriberRecord(
            key, store.recipients.get(key), store.suppressions.get(key), store.events.of(key)
        )

    def suppressed(self) -> Iterator[tuple[Suppression, str | None]]:
        """The suppression list, newest first, each with its address while the list knows it."""
        known = {address_hash(s.address): s.address for s in self.store.recipients.each()}
        for entry in self.store.suppressions.each():
            yield entry, known.get(entry.address_hash)

    def lift(self, address: str) -> bool:
        """Take ``address`` off the suppression list (they may then be added again)."""
        key = normalize_address(address)
        lifted = self.store.suppressions.remove(key)
        if lifted:
            self.store.events.record(key, "unsuppressed", self.clock(), "operator")
        return lifted

    def remove(self, address: str) -> bool:
        """Delete a recipient from the list; whether they were on it."""
        return self.store.recipients.remove(address)

    def each(self, status: str | None = None) -> Iterator[Subscriber]:
        """The recipients (in ``status`` only, if given), by address."""
        return self.store.recipients.each(status)

    def counts(self) -> dict[str, int]:
        """How many recipients are in each status."""
        return self.store.recipients.counts()

    def import_csv(self, handle: IO[bytes], name: str) -> ImportReport:
        """Merge a CSV file into the list (see ``import_csv``)."""
        return import_csv(self.ctx, self.store, handle, name, self.clock)

    def export_csv(self, handle: IO[str]) -> int:
        """Write the list as CSV; returns how many rows."""
        return export_csv(self.store, handle)


@contextmanager
def mailing_list(ctx: RunContext, clock: Clock = system_clock) -> Iterator[MailingList]:
    """The mailing list, for as long as the block runs."""
    with ctx.open_store() as store:
        yield MailingList(ctx, store, clock)
