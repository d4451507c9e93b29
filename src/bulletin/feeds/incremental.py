"""Which feeds a build makes and how: everything from the store, or only what a run changed.

A full build reads every feed's newest items. The common build is incremental: given the items
a run stored or edited, it rebuilds only the feeds they touch (``all`` and their categories)
plus any feed with a missing file; inside a feed it serialises only the new entries and reuses
the others' bytes (``splice_files``). The ``Manifest`` of the last build says what each file
holds and what it was built with; a different bulletin version, site or feeds config makes the
build a full one. Files are read through a ``FeedFolder`` and items through ``ItemSource``:
this module never touches the disk or the store itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from bulletin.errors import PublishError
from bulletin.feeds.build import (
    BuiltFeed,
    Chunks,
    Manifest,
    Record,
    build_files,
    fingerprint,
    splice_files,
)
from bulletin.feeds.entries import FeedEntry, prepare_entry
from bulletin.feeds.plan import ALL_SLUG, FORMATS, FeedPaths, FeedSpec, plan_feeds
from bulletin.model import Category, CategoryIndex, Item, Site

MANIFEST_NAME = ".bulletin-feeds.json"

Mode = Literal["full", "incremental", "check"]


class ItemSource(Protocol):
    """The newest items of a feed: the store, or the store seen through a dry run."""

    def latest_items(self, limit: int, category_slug: str | None = None) -> list[Item]: ...


class FeedFolder(Protocol):
    """The feeds folder as the last build left it."""

    def read(self, relative: str) -> bytes | None:
        """The file's bytes, or None if it is missing."""
        ...

    def exists(self, relative: str) -> bool: ...


@dataclass(frozen=True)
class FeedLayout:
    """What every feed of a site is built with."""

    site: Site
    paths: FeedPaths
    limit: int
    max_body_bytes: int
    hub: str | None = None  # feeds.websub_hub

    @property
    def fingerprint(self) -> str:
        """What the feeds' bytes depend on besides the items; a change means a full build."""
        return fingerprint(self.site, self.paths, self.limit, self.max_body_bytes, self.hub)


@dataclass
class FeedBuild:
    """What a build made: the feeds planned, those built and each feed's entries in order."""

    mode: Mode
    specs: list[FeedSpec] = field(default_factory=list)
    built: list[BuiltFeed] = field(default_factory=list)
    records: dict[str, tuple[Record, ...]] = field(default_factory=dict)
    rebuilt: list[str] = field(default_factory=list)  # built from the store
    spliced: list[str] = field(default_factory=list)  # new entries added to the last build
    skipped: list[str] = field(default_factory=list)  # nothing in them changed

    def manifest(self, fingerprint: str) -> Manifest:
        """The record of this build, to keep beside its files."""
        categories = tuple(spec.category for spec in self.specs if spec.category is not None)
        return Manifest(fingerprint, categories, self.records)


class FeedBuilder:
    """Builds a site's feeds from an ``ItemSource``, preparing each entry once per build."""

    def __init__(self, layout: FeedLayout, items: ItemSource, categories: CategoryIndex) -> None:
        self.layout, self.items, self.index = layout, items, categories
        self.limit = layout.limit
        self._entries: dict[str, tuple[Item, FeedEntry]] = {}
        # Each entry's bytes in every format, serialised once however many feeds hold it.
        self.chunks = Chunks()

    def plan(self, categories: Sequence[Category]) -> list[FeedSpec]:
        """The feeds of these categories, and the feed of everything first."""
        return plan_feeds(self.layout.site, categories, self.layout.paths, self.layout.hub)

    def full(self, categories: Sequence[Category], mode: Mode = "full") -> FeedBuild:
        """Every feed built from the store."""
        build = FeedBuild(mode, self.plan(categories))
        build.built = self._everything(build.specs)
        build.rebuilt = [spec.slug for spec in build.specs]
        build.records = {b.spec.slug: b.records for b in build.built}
        return build

    def entry(self, item: Item) -> FeedEntry:
        """The item's entry, prepared once per build however many feeds hold it."""
        # Looked up by id, then compared: hashing a whole Item (body, paragraphs) for a dict
        # key costs more than the comparison, and in a full build every item is met once.
        known = self._entries.get(item.id)
        if known is not None and known[0] == item:
            return known[1]
        entry = self._prepare(item)
        self._entries[item.id] = (item, entry)
        return entry

    def _prepare(self, item: Item) -> FeedEntry:
        try:
            return prepare_entry(self.layout.site, item, self.layout.max_body_bytes)
        except ValueError as error:
            raise PublishError(
                f"item {item.id}: cannot be put in a feed: {error}",
                hint="this is a bug in the item's source; run with --debug and report it",
            ) from error

    def _from_store(self, spec: FeedSpec) -> BuiltFeed:
        return self._build(spec, [self.entry(item) for item in self._latest(spec)])

    def _build(self, spec: FeedSpec, entries: Sequence[FeedEntry]) -> BuiltFeed:
        return build_files(spec, entries, self.limit, self.chunks)

    def _everything(self, specs: Sequence[FeedSpec]) -> list[BuiltFeed]:
        """Every feed of ``specs`` built from the store, in the order of ``specs``.

        The plan has a feed for every category that has items, so the newest items of all are
        among the categories' newest: the feed of everything takes them from there, without a
        query of its own (which would convert the same rows to items a second time).
        """
        everything, categories = specs[0], specs[1:]
        if everything.category is not None or any(s.category is None for s in categories):
            return [self._from_store(spec) for spec in specs]  # not laid out as plan_feeds does
        # Each item is in one category's list: prepared there, and not kept for a second use.
        held = [[(item, self._prepare(item)) for item in self._latest(spec)] for spec in categories]
        pool = [pair for pairs in held for pair in pairs]
        if len({item.id for item, _ in pool}) == len(pool):
            # The store's own order (newest first, ties by id), so the same items as its query.
            pool.sort(key=lambda pair: (-pair[0].published.timestamp(), pair[0].id))
            newest = [entry for _, entry in pool[: self.limit]]
        else:  # an item in two categories' lists (a dry run's view of a moved item): ask
            newest = [self.entry(item) for item in self._latest(everything)]
        del pool
        lists = [[entry for _, entry in pairs] for pairs in held]
        del held  # the items: only their entries are needed from here on
        first = self._build(everything, newest)
        # Only the entries of the feed of everything are in two feeds: each category's feed
        # starts from their chunks, and what it serialises for itself goes with it.
        return [
            first,
            *(
                build_files(spec, entries, self.limit, self.chunks.copy())
                for spec, entries in zip(categories, lists, strict=True)
            ),
        ]

    def _latest(self, spec: FeedSpec) -> list[Item]:
        slug = None if spec.category is None else spec.category.slug
        return self.items.latest_items(self.limit, slug)

    def incremental(
        self,
        manifest: Manifest,
        changed: Sequence[Item],
        folder: FeedFolder,
        categories: Sequence[Category],
    ) -> FeedBuild:
        """Rebuild or splice the feeds that ``changed`` touches (and any with a missing file).

        ``categories`` are those of the store with the configured ones, as a full build plans
        them: a feed's name then never depends on which build made it.
        """
        # The feed of everything straight from the store (one indexed query): besides being
        # exact, it catches items stored by a run that did not get to publish (a crash, or a
        # `bulletin collect` on its own), as long as they are among the newest.
        newest = [self.entry(item) for item in self.items.latest_items(self.limit)]
        old_all = {r.item_id: r.fingerprint for r in manifest.feeds.get(ALL_SLUG, ())}
        by_id = {item.id: item for item in changed}
        fresh_all = [e for e in newest if old_all.get(e.item_id) != e.fingerprint]
        fresh = {item_id: self.entry(item) for item_id, item in by_id.items()}
        fresh.update({entry.item_id: entry for entry in fresh_all})
        build = FeedBuild("incremental", self.plan(categories))
        holders: dict[str, set[str]] = {}
        for slug, held in manifest.feeds.items():
            for record in held:
                if record.item_id in fresh:
                    holders.setdefault(record.item_id, set()).add(slug)
        records = dict(manifest.feeds)
        old_names = {c.slug: c.name for c in manifest.categories}
        splice = _Splice(manifest, fresh, holders, newest, folder, old_names)
        for spec in build.specs:
            one = self._one(spec, splice)
            if one is None:
                build.skipped.append(spec.slug)
                continue
            (build.spliced if one.spliced else build.rebuilt).append(spec.slug)
            build.built.append(one)
            records[spec.slug] = one.records
        build.records = {spec.slug: records[spec.slug] for spec in build.specs}
        return build

    def _one(self, spec: FeedSpec, splice: _Splice) -> BuiltFeed | None:
        """The feed rebuilt or spliced, or None if nothing in it changed."""
        slug, manifest, newest = spec.slug, splice.manifest, splice.newest
        if spec.category is None:
            mine = [e for e in newest if e.item_id in splice.fresh]
        else:
            mine = [e for e in splice.fresh.values() if e.category_term == slug]
        gone = {i for i, s in splice.holders.items() if slug in s} - {e.item_id for e in mine}
        old = manifest.feeds.get(slug)
        renamed = spec.category is not None and splice.old_names.get(slug) != spec.category.name
        if old is not None and not (mine or gone or renamed) and splice.files_exist(spec):
            return None
        files = splice.read_files(spec) if old is not None and not renamed else None
        if files is not None:
            spliced = splice_files(spec, files, old or (), mine, gone, self.limit, self.chunks)
            if spliced is not None and (
                spec.category is not None or list(spliced.records) == [Record.of(e) for e in newest]
            ):
                return spliced
        if spec.category is None:  # the newest items are at hand: no second query
            return self._build(spec, newest)
        return self._from_store(spec)


@dataclass(frozen=True)
class _Splice:
    """What splicing the feeds of an incremental build works from."""

    manifest: Manifest
    fresh: dict[str, FeedEntry]  # entries new or changed since the last build, by item id
    holders: dict[str, set[str]]  # the feeds whose last build held each of those items
    newest: list[FeedEntry]  # the feed of everything, from the store
    folder: FeedFolder
    old_names: dict[str, str] = field(default_factory=dict)  # the last build's category names

    def read_files(self, spec: FeedSpec) -> dict[str, bytes] | None:
        """The feed's current files, or None if one is missing."""
        files = {fmt: self.folder.read(spec.path(fmt)) for fmt in FORMATS}
        if any(data is None for data in files.values()):
            return None
        return {fmt: data for fmt, data in files.items() if data is not None}

    def files_exist(self, spec: FeedSpec) -> bool:
        return all(self.folder.exists(spec.path(fmt)) for fmt in FORMATS)
