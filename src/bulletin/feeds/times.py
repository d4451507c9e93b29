"""Entry times made distinct within a feed, whatever order their items were read in.

Items that carry only a date are given a time on it (``site.item_time``, plus seconds drawn
from the item's id), so two sources covering the same day seldom give two entries the same
second; seldom is not never, and a feed reader takes two entries with the same ``updated`` for
one entry seen twice (the W3C validator's DuplicateUpdated). So a feed shows each entry at its
own second: an entry whose time another entry of the feed also has moves a second later, and
so on until the seconds differ. What moves depends only on the entries of the feed and their
order (newest first, equal times by item id), never on which source was read first; the
store keeps each item's own time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from bulletin.feeds.entries import FeedEntry

#: An entry's (published, updated) as whole seconds since the epoch.
Times = tuple[int, int]


def distinct_times(times: Sequence[Times]) -> list[Times]:
    """The times of a feed's entries, given in feed order, with no two entries sharing one.

    Walking from the oldest entry, a published time already taken moves to one second after
    the last one given, so the feed's order stays as it was. An entry never edited keeps
    updated equal to published; an edited one takes the first second from its own updated
    (or its published, if that moved past it) that no other entry holds.
    """
    published = [0] * len(times)
    last: int | None = None
    for index in range(len(times) - 1, -1, -1):
        moment = times[index][0]
        if last is not None and moment <= last:
            moment = last + 1
        published[index] = last = moment
    updated = [0] * len(times)
    taken: set[int] = set()
    edited = []
    for index, (first, edit) in enumerate(times):
        if edit > first:
            edited.append(index)
        else:
            updated[index] = published[index]
            taken.add(published[index])
    for index in sorted(edited, key=lambda i: (max(times[i][1], published[i]), -i)):
        moment = max(times[index][1], published[index])
        while moment in taken:
            moment += 1
        updated[index] = moment
        taken.add(moment)
    return list(zip(published, updated, strict=True))


def entry_times(entry: FeedEntry) -> Times:
    """The entry's (published, updated) in whole seconds."""
    return int(entry.published.timestamp()), int(entry.updated.timestamp())


def at_times(entry: FeedEntry, times: Times) -> FeedEntry:
    """The entry as a feed shows it at ``times``: itself when they are its own."""
    if times == entry_times(entry):
        return entry
    published, updated = (datetime.fromtimestamp(moment, UTC) for moment in times)
    return replace(entry, published=published, updated=updated)


def shown_entries(entries: Sequence[FeedEntry]) -> list[FeedEntry]:
    """A feed's entries, in feed order, at distinct times."""
    times = distinct_times([entry_times(entry) for entry in entries])
    return [at_times(entry, moment) for entry, moment in zip(entries, times, strict=True)]
