"""A feed's three files, built in full or by splicing the unchanged entries of the last build.

A full build serialises every entry. An incremental build knows, from the record of the last
build (``Manifest``), which entries each file holds and in which order; it serialises only the
entries that are new or changed and reuses the byte chunks of the others, taken from the files
themselves. The result is byte-identical to a full build of the same entries (the tests hold
it to that), and when the files or the record do not match it gives up and says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from importlib.metadata import version

from bulletin import __version__
from bulletin.feeds import json_feed, rss_atom
from bulletin.feeds.entries import FeedEntry, newest_first
from bulletin.feeds.plan import FORMATS, FeedPaths, FeedSpec
from bulletin.feeds.times import at_times, distinct_times, entry_times, shown_entries
from bulletin.model import Category, Site

# With no items there is no newest item to date the feed by; a constant keeps the bytes stable.
# Not 1970: the W3C validator calls any date before 1990 implausible (ImplausibleDate).
EMPTY_FEED_DATE = datetime(1990, 1, 1, tzinfo=UTC)
# Bump when the bytes written for the same items change, so the next run rebuilds everything.
# 2: entry times made distinct within a feed; & and < in plain text as hex references.
LAYOUT_REVISION = 2


@dataclass(frozen=True)
class Record:
    """What a feed file holds of one entry: enough to order, date and recognise it.

    The times are the entry's own; the file shows them made distinct (``feeds.times``), which
    the records of the whole feed give back.
    """

    item_id: str
    entry_id: str
    fingerprint: str
    published: int  # seconds since the epoch, UTC
    updated: int

    @classmethod
    def of(cls, entry: FeedEntry) -> Record:
        return cls(
            entry.item_id,
            entry.id,
            entry.fingerprint,
            int(entry.published.timestamp()),
            int(entry.updated.timestamp()),
        )

    @property
    def sort_key(self) -> tuple[float, str]:
        """The same order as ``FeedEntry.sort_key``."""
        return (-float(self.published), self.item_id)


@dataclass(frozen=True)
class BuiltFeed:
    """One feed's files (format -> bytes) and the record of what they hold."""

    spec: FeedSpec
    files: dict[str, bytes]
    records: tuple[Record, ...]
    spliced: bool = False


@dataclass(frozen=True)
class Manifest:
    """The record of the last build: what it was built with, its categories, and each feed's
    entries in file order. Kept beside the feeds; without it the next build is a full one."""

    fingerprint: str
    categories: tuple[Category, ...] = ()
    feeds: Mapping[str, tuple[Record, ...]] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """JSON, one feed to a line (json's C encoder: no indent)."""
        head = {
            "about": "what bulletin's feeds here hold; delete it to make the next build a full one",
            "fingerprint": self.fingerprint,
            "categories": [[c.slug, c.name] for c in self.categories],
        }
        lines = [f" {_dump(key)}: {_dump(value)}," for key, value in head.items()]
        feeds = [
            f"  {_dump(slug)}: "
            + _dump([[r.item_id, r.entry_id, r.fingerprint, r.published, r.updated] for r in rows])
            for slug, rows in self.feeds.items()
        ]
        return (
            "{\n" + "\n".join(lines) + '\n "feeds": {\n' + ",\n".join(feeds) + "\n }\n}\n"
        ).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest | None:
        """The manifest in ``data``, or None if it is not one."""
        try:
            raw = json.loads(data)
            return cls(
                str(raw["fingerprint"]),
                tuple(Category(str(slug), str(name)) for slug, name in raw["categories"]),
                {
                    str(slug): tuple(
                        Record(str(i), str(e), str(f), int(p), int(u)) for i, e, f, p, u in rows
                    )
                    for slug, rows in raw["feeds"].items()
                },
            )
        except (ValueError, KeyError, TypeError):
            return None


def _dump(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def fingerprint(
    site: Site, paths: FeedPaths, limit: int, max_body_bytes: int, hub: str | None = None
) -> str:
    """What the bytes of the feeds depend on besides the items; a change means a full build."""
    parts = [LAYOUT_REVISION, *_versions(), site, paths, limit, max_body_bytes]
    if hub is not None:  # only then: the feeds of a site without a hub keep their fingerprint
        parts.append(hub)
    return "|".join(repr(part) for part in parts)


@lru_cache(maxsize=1)
def _versions() -> tuple[str, ...]:
    return (__version__, *(version(name) for name in ("feedgen", "nh3", "lxml")))


def feed_date(entries: Sequence[FeedEntry]) -> datetime:
    """The feed's updated/lastBuildDate: its newest entry's last edit, never "now"."""
    return max((entry.updated for entry in entries), default=EMPTY_FEED_DATE)


@dataclass
class Chunks:
    """Every format's byte chunk of each entry serialised so far in one build.

    An item sits in two feeds (``all`` and its category's), and a chunk does not depend on the
    feed it stands in, so a build that shares one ``Chunks`` across its feeds serialises each
    entry once per format. Keep one per build only: it grows with every entry it sees.
    """

    xml: rss_atom.XmlChunks = field(default_factory=dict)
    json: json_feed.JsonChunks = field(default_factory=dict)

    def copy(self) -> Chunks:
        """A cache starting with these chunks, whose additions stay its own."""
        return Chunks(dict(self.xml), dict(self.json))


def build_files(
    spec: FeedSpec, entries: Sequence[FeedEntry], limit: int, cache: Chunks | None = None
) -> BuiltFeed:
    """The feed of the newest ``limit`` of ``entries``, in every format."""
    cache = Chunks() if cache is None else cache
    ordered = newest_first(list({entry.item_id: entry for entry in entries}.values()))[:limit]
    shown = shown_entries(ordered)
    updated = feed_date(shown)
    files = {
        fmt: parts.join()
        for fmt, parts in rss_atom.xml_parts(spec, shown, updated, cache.xml).items()
    }
    files["json"] = json_feed.json_parts(spec, shown, cache.json).join()
    return BuiltFeed(spec, files, tuple(Record.of(entry) for entry in ordered))


def splice_files(
    spec: FeedSpec,
    old_files: Mapping[str, bytes],
    old: Sequence[Record],
    fresh: Sequence[FeedEntry],
    gone: set[str],
    limit: int,
    cache: Chunks | None = None,
) -> BuiltFeed | None:
    """The feed after adding or replacing ``fresh`` entries and dropping the ``gone`` items.

    Reuses the chunks of ``old_files`` (which hold ``old``, in order). None when the feed cannot
    be known without the store: the files do not match the record, entries left the feed and
    the items that would take their place are older than anything the files hold, or a kept
    entry would be shown at another time (an entry that shared its second came or went).
    """
    replaced = {entry.item_id for entry in fresh} | gone
    kept = [record for record in old if record.item_id not in replaced]
    merged: list[Record | FeedEntry] = [*kept, *fresh]
    merged.sort(key=lambda entry: entry.sort_key)
    if len(old) >= limit:
        cutoff = old[-1].sort_key
        if sum(1 for entry in merged if entry.sort_key <= cutoff) < limit:
            return None  # something older than the files reach belongs in the feed now
    result = merged[:limit]
    shown = _shown_times(old, result)
    if shown is None:
        return None
    chunks_by_format = _old_chunks(old_files, old)
    if chunks_by_format is None:
        return None
    new_entries = [
        at_times(entry, times)
        for entry, times in zip(result, shown, strict=True)
        if isinstance(entry, FeedEntry)
    ]
    records = tuple(e if isinstance(e, Record) else Record.of(e) for e in result)
    newest = max((t[1] for t in shown), default=None)
    updated = EMPTY_FEED_DATE if newest is None else datetime.fromtimestamp(newest, UTC)
    cache = Chunks() if cache is None else cache
    new_parts = rss_atom.xml_parts(spec, new_entries, updated, cache.xml)
    new_parts["json"] = json_feed.json_parts(spec, new_entries, cache.json)
    files = {}
    for fmt in FORMATS:
        parts = new_parts[fmt]
        fresh_chunks = dict(zip((e.item_id for e in new_entries), parts.chunks, strict=True))
        old_chunks = chunks_by_format[fmt]
        chunks = [
            fresh_chunks[r.item_id] if r.item_id in fresh_chunks else old_chunks[r.item_id]
            for r in records
        ]
        if fmt == "json":
            chunks = list(json_feed.relink(chunks))
        files[fmt] = parts.header + b"".join(chunks) + parts.footer
    return BuiltFeed(spec, files, records, spliced=True)


def _shown_times(
    old: Sequence[Record], result: Sequence[Record | FeedEntry]
) -> list[tuple[int, int]] | None:
    """The times ``result`` is shown at, or None if a kept entry's would differ from the file's.

    The files show ``old`` at the distinct times of ``old`` as a whole, so a kept chunk is
    right only while the feed around it gives its entry the same times.
    """
    before = dict(
        zip(
            (record.item_id for record in old),
            distinct_times([(record.published, record.updated) for record in old]),
            strict=True,
        )
    )
    shown = distinct_times(
        [(e.published, e.updated) if isinstance(e, Record) else entry_times(e) for e in result]
    )
    for entry, moment in zip(result, shown, strict=True):
        if isinstance(entry, Record) and before.get(entry.item_id) != moment:
            return None
    return shown


def _old_chunks(
    old_files: Mapping[str, bytes], old: Sequence[Record]
) -> dict[str, dict[str, bytes]] | None:
    """Each format's entry chunks by item id, if every file holds exactly the recorded entries."""
    found: dict[str, dict[str, bytes]] = {}
    for fmt in FORMATS:
        data = old_files.get(fmt)
        if data is None:
            return None
        parts = json_feed.split_json(data) if fmt == "json" else rss_atom.split_document(data, fmt)
        if parts is None or len(parts.chunks) != len(old):
            return None
        for record, chunk in zip(old, parts.chunks, strict=True):
            holds = (
                json_feed.chunk_holds(chunk, record.entry_id)
                if fmt == "json"
                else rss_atom.chunk_holds(chunk, record.entry_id, fmt)
            )
            if not holds:
                return None
        found[fmt] = {
            record.item_id: chunk for record, chunk in zip(old, parts.chunks, strict=True)
        }
    return found
