"""A reader's own page, reached by the signed link in every digest: their categories and
languages, a pause, leaving and coming back, everything kept about them, and erasure.

The link names the reader's link id and when it stops working (``web.preferences_days`` from
its digest's day); an expired one changes nothing, and the reader asks for a new one by
signing up again. Every change is a subscriber event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time

from bulletin import delivery
from bulletin.pipeline.context import Clock, RunContext, system_clock
from bulletin.pipeline.subscribers import set_unsubscribed
from bulletin.store import Subscriber


@dataclass(frozen=True)
class Reader:
    """The reader a genuine link names, as their page shows them."""

    address: str
    status: str
    categories: frozenset[str] | None
    languages: frozenset[str] | None
    paused_until: date | None  # the day digests start again, in the newsroom's zone


@dataclass(frozen=True)
class Choice:
    """What the preferences form posted."""

    categories: frozenset[str] | None
    languages: frozenset[str] | None
    paused_until: date | None


class Preferences:
    """Reads and changes what a reader chose, by the token of their link."""

    def __init__(self, ctx: RunContext, clock: Clock = system_clock) -> None:
        self.ctx, self.clock = ctx, clock
        with ctx.open_store() as store:
            self.key = ctx.unsubscribe_key(store)

    def open(self, token: str) -> Reader | str:
        """The reader the token names; else ``invalid`` (forged, or they are gone) or
        ``expired``."""
        link_id, problem = delivery.verify_until(
            self.key, delivery.PREFERENCES, token, self.clock()
        )
        if link_id is None:
            return problem
        with self.ctx.open_store() as store:
            subscriber = store.recipients.by_link_id(link_id)
        return "invalid" if subscriber is None else self._reader(subscriber)

    def save(self, token: str, choice: Choice) -> Reader | str:
        """Keep the reader's new choice; events say what changed."""
        reader = self.open(token)
        if isinstance(reader, str):
            return reader
        now = self.clock()
        today = now.astimezone(self.ctx.zone).date()
        pause = choice.paused_until if choice.paused_until and choice.paused_until > today else None
        until = None if pause is None else datetime.combine(pause, time(), self.ctx.zone)
        with self.ctx.open_store() as store:
            changed = store.readers.choose(
                reader.address, choice.categories, choice.languages, until, now
            )
            if changed:
                detail = {
                    "categories": sorted(choice.categories or ()),
                    "languages": sorted(choice.languages or ()),
                }
                store.events.record(reader.address, "preferences_changed", now, "web", detail)
            if changed and pause != reader.paused_until:
                shown = {"until": pause.isoformat() if pause else None}
                store.events.record(reader.address, "paused", now, "web", shown)
        return self.open(token)

    def leave(self, token: str) -> Reader | str:
        """Unsubscribe the reader."""
        reader = self.open(token)
        if isinstance(reader, str):
            return reader
        with self.ctx.open_store() as store:
            set_unsubscribed(store, reader.address, self.clock(), "web")
        return self.open(token)

    def come_back(self, token: str) -> Reader | str:
        """Subscribe again one who left by their own hand; a held address stays held."""
        reader = self.open(token)
        if isinstance(reader, str) or reader.status == "active":
            return reader
        now = self.clock()
        with self.ctx.open_store() as store:
            if store.suppressions.holds(reader.address):
                return reader
            store.recipients.set_status(reader.address, "active", now)
            store.events.record(reader.address, "subscribed", now, "web", {"step": "came back"})
        return self.open(token)

    def export(self, token: str) -> bytes | str:
        """Everything kept about the reader, as JSON; the export is an event too."""
        reader = self.open(token)
        if isinstance(reader, str):
            return reader
        with self.ctx.open_store() as store:
            store.events.record(reader.address, "exported", self.clock(), "web")
            kept = store.readers.kept(reader.address)
        return (json.dumps(kept, indent=1, ensure_ascii=False, default=_plain) + "\n").encode()

    def erase(self, token: str) -> str:
        """Erase the reader: ``erased``, or why not (``invalid``, ``expired``)."""
        reader = self.open(token)
        if isinstance(reader, str):
            return reader
        with self.ctx.open_store() as store:
            store.readers.erase(reader.address, self.clock(), "web")
        return "erased"

    def _reader(self, subscriber: Subscriber) -> Reader:
        pause = subscriber.paused_until
        if pause is not None and pause <= self.clock():
            pause = None
        return Reader(
            subscriber.address,
            subscriber.status,
            subscriber.categories,
            subscriber.languages,
            None if pause is None else pause.astimezone(self.ctx.zone).date(),
        )


def _plain(value: object) -> object:
    """JSON for what ``json`` does not know: sets as sorted lists, times as ISO text."""
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)
