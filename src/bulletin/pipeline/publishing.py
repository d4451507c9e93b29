"""Publishing: build the feeds and write the files whose bytes changed.

A full build reads every feed's newest items from the store. The common run is incremental: it
gets the items this run stored or changed and rebuilds only the feeds they touch (``all`` and
their categories) plus any feed with a missing file; inside a feed it serialises only the new
entries and reuses the others' bytes (``feeds.splice_files``). A manifest beside the feeds
records what each file holds and what it was built with. It is written last, after the files:
a crash leaves at worst a manifest that does not match some file, and the next run rebuilds
that feed from the store. A different bulletin version, site or feeds config means a full build.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bulletin import feeds
from bulletin.config import Config
from bulletin.errors import PublishError
from bulletin.files import WriteBatch
from bulletin.model import Category, Item
from bulletin.pipeline.common import ItemView, category_index, collector_paused, site_of

MANIFEST_NAME = ".bulletin-feeds.json"

Status = Literal["written", "unchanged", "skipped"]
Mode = Literal["full", "incremental", "check"]


@dataclass(frozen=True)
class FeedFile:
    """One file of the feeds folder and what this build did to it."""

    path: Path
    feed: str  # the feed's slug, or "lists" for the OPML list and the index page
    kind: str  # rss, atom, json, opml or html
    status: Status  # written (or would be, in a dry run or check), unchanged, skipped
    problems: tuple[str, ...] = ()


@dataclass
class FeedsReport:
    """What a build did: each file's fate, and which feeds were rebuilt, spliced or skipped."""

    mode: Mode = "full"
    files: list[FeedFile] = field(default_factory=list)
    rebuilt: list[str] = field(default_factory=list)  # built from the store
    spliced: list[str] = field(default_factory=list)  # new entries added to the last build
    skipped: list[str] = field(default_factory=list)  # nothing in them changed

    @property
    def written(self) -> list[Path]:
        """Files written (or, in a dry run or check, that would be)."""
        return [f.path for f in self.files if f.status == "written"]

    @property
    def unchanged(self) -> list[Path]:
        """Files rebuilt that already held the same bytes."""
        return [f.path for f in self.files if f.status == "unchanged"]

    @property
    def invalid(self) -> list[FeedFile]:
        """Files whose built bytes fail the format checks."""
        return [f for f in self.files if f.problems]


def feed_categories(config: Config, view: ItemView) -> list[Category]:
    """The configured categories and every other category that has items."""
    index = category_index(config)
    found = {c.slug: c for c in view.categories()}
    found.update({c.slug: c for c in index.known})
    return sorted(found.values(), key=index.order_key)


def feed_paths(config: Config) -> feeds.FeedPaths:
    """The feeds' path templates from the config."""
    c = config.feeds
    return feeds.FeedPaths(c.rss_path, c.atom_path, c.json_path, c.opml_path, c.index_path)


def publish_feeds(
    config: Config,
    view: ItemView,
    dry_run: bool = False,
    changed: Sequence[Item] | None = None,
    check: bool = False,
) -> FeedsReport:
    """Build the feeds and write the files whose bytes changed.

    ``changed``: the items this run stored or edited; only the feeds they touch are rebuilt.
    None rebuilds every feed. ``check`` builds everything, validates it and compares it with
    the files, writing nothing (like ``dry_run``).
    """
    with collector_paused():
        return _publish(config, view, dry_run, changed, check)


def _publish(
    config: Config, view: ItemView, dry_run: bool, changed: Sequence[Item] | None, check: bool
) -> FeedsReport:
    build = _Build(config, view)
    manifest = None if changed is None or check else build.read_manifest()
    if manifest is None or manifest.fingerprint != build.fingerprint:
        report = FeedsReport("check" if check else "full")
        specs = build.plan(feed_categories(config, view))
        built = build.everything(specs)
        report.rebuilt = [spec.slug for spec in specs]
        records = {b.spec.slug: b.records for b in built}
    else:
        report = FeedsReport("incremental")
        specs, built, records = build.incremental(manifest, changed or (), report)
    writing = not (dry_run or check)
    with WriteBatch() as batch:
        build.batch = batch
        _put_all(build, report, specs, built, records, writing, check)
    return report


def _put_all(
    build: _Build,
    report: FeedsReport,
    specs: list[feeds.FeedSpec],
    built: list[feeds.BuiltFeed],
    records: dict[str, tuple[feeds.Record, ...]],
    writing: bool,
    check: bool,
) -> None:
    """Write (or compare) every feed file, the lists, and last the manifest."""
    for one in built:
        for fmt in feeds.FORMATS:
            build.put(
                report, one.spec.path(fmt), one.spec.slug, fmt, one.files[fmt], writing, check
            )
    for spec in specs:
        if spec.slug in report.skipped:
            for fmt in feeds.FORMATS:
                report.files.append(
                    FeedFile(build.folder / spec.path(fmt), spec.slug, fmt, "skipped")
                )
    build.put(report, build.paths.opml, "lists", "opml", feeds.render_opml(specs), writing, check)
    index = feeds.render_index_page(specs, build.limit)
    build.put(report, build.paths.index, "lists", "html", index, writing, check)
    if writing:
        categories = tuple(spec.category for spec in specs if spec.category is not None)
        manifest = feeds.Manifest(build.fingerprint, categories, records)
        build.batch.write_if_changed(build.folder / MANIFEST_NAME, manifest.to_bytes())


class _Build:
    """One build's settings, its view of the store, and the entries it prepared."""

    def __init__(self, config: Config, view: ItemView) -> None:
        self.config = config
        self.view = view
        self.site = site_of(config)
        self.batch = WriteBatch()
        self.paths = feed_paths(config)
        self.limit = config.feeds.max_items
        self.max_body = config.feeds.max_body_kb * 1024
        self.folder = config.path(config.feeds.dir)
        self.fingerprint = feeds.fingerprint(self.site, self.paths, self.limit, self.max_body)
        self._entries: dict[str, tuple[Item, feeds.FeedEntry]] = {}
        # Each entry's bytes in every format, serialised once however many feeds hold it.
        self.chunks = feeds.Chunks()

    def plan(self, categories: Sequence[Category]) -> list[feeds.FeedSpec]:
        return feeds.plan_feeds(self.site, categories, self.paths)

    def entry(self, item: Item) -> feeds.FeedEntry:
        """The item's entry, prepared once per build however many feeds hold it."""
        # Looked up by id, then compared: hashing a whole Item (body, paragraphs) for a dict
        # key costs more than the comparison, and in a full build every item is met once.
        known = self._entries.get(item.id)
        if known is not None and known[0] == item:
            return known[1]
        entry = self.prepare(item)
        self._entries[item.id] = (item, entry)
        return entry

    def prepare(self, item: Item) -> feeds.FeedEntry:
        """The item's entry, prepared anew."""
        try:
            return feeds.prepare_entry(self.site, item, self.max_body)
        except ValueError as error:
            raise PublishError(
                f"item {item.id}: cannot be put in a feed: {error}",
                hint="this is a bug in the item's source; run with --debug and report it",
            ) from error

    def from_store(self, spec: feeds.FeedSpec) -> feeds.BuiltFeed:
        return self.build(spec, [self.entry(item) for item in self._latest(spec)])

    def build(self, spec: feeds.FeedSpec, entries: Sequence[feeds.FeedEntry]) -> feeds.BuiltFeed:
        return feeds.build_files(spec, entries, self.limit, self.chunks)

    def everything(self, specs: Sequence[feeds.FeedSpec]) -> list[feeds.BuiltFeed]:
        """Every feed of ``specs`` built from the store, in the order of ``specs``.

        The plan has a feed for every category that has items, so the newest items of all are
        among the categories' newest: the feed of everything takes them from there, without a
        query of its own (which would convert the same rows to items a second time).
        """
        everything, categories = specs[0], specs[1:]
        if everything.category is not None or any(s.category is None for s in categories):
            return [self.from_store(spec) for spec in specs]  # not laid out as plan_feeds does
        # Each item is in one category's list: prepared there, and not kept for a second use.
        held = [[(item, self.prepare(item)) for item in self._latest(spec)] for spec in categories]
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
        first = self.build(everything, newest)
        # Only the entries of the feed of everything are in two feeds: each category's feed
        # starts from their chunks, and what it serialises for itself goes with it.
        return [
            first,
            *(
                feeds.build_files(spec, entries, self.limit, self.chunks.copy())
                for spec, entries in zip(categories, lists, strict=True)
            ),
        ]

    def _latest(self, spec: feeds.FeedSpec) -> list[Item]:
        slug = None if spec.category is None else spec.category.slug
        return self.view.latest_items(self.limit, slug)

    def read_manifest(self) -> feeds.Manifest | None:
        try:
            return feeds.Manifest.from_bytes((self.folder / MANIFEST_NAME).read_bytes())
        except FileNotFoundError:
            return None

    def read_files(self, spec: feeds.FeedSpec) -> dict[str, bytes] | None:
        """The feed's current files, or None if one is missing."""
        try:
            return {fmt: (self.folder / spec.path(fmt)).read_bytes() for fmt in feeds.FORMATS}
        except FileNotFoundError:
            return None

    def incremental(
        self, manifest: feeds.Manifest, changed: Sequence[Item], report: FeedsReport
    ) -> tuple[list[feeds.FeedSpec], list[feeds.BuiltFeed], dict[str, tuple[feeds.Record, ...]]]:
        """Rebuild the feeds that ``changed`` touches (and any with a missing file)."""
        # The feed of everything straight from the store (one indexed query): besides being
        # exact, it catches items stored by a run that did not get to publish (a crash, or a
        # `bulletin collect` on its own), as long as they are among the newest.
        newest = [self.entry(item) for item in self.view.latest_items(self.limit)]
        old_all = {r.item_id: r.fingerprint for r in manifest.feeds.get(feeds.ALL_SLUG, ())}
        by_id = {item.id: item for item in changed}
        fresh_all = [e for e in newest if old_all.get(e.item_id) != e.fingerprint]
        fresh = {item_id: self.entry(item) for item_id, item in by_id.items()}
        fresh.update({entry.item_id: entry for entry in fresh_all})
        categories = self._categories(manifest, [*by_id.values()], fresh_all)
        specs = self.plan(categories)
        holders: dict[str, set[str]] = {}
        for slug, held in manifest.feeds.items():
            for record in held:
                if record.item_id in fresh:
                    holders.setdefault(record.item_id, set()).add(slug)
        old_names = {c.slug: c.name for c in manifest.categories}
        built: list[feeds.BuiltFeed] = []
        records = dict(manifest.feeds)
        for spec in specs:
            one = self._one(spec, manifest, fresh, holders, newest, old_names)
            if one is None:
                report.skipped.append(spec.slug)
                continue
            (report.spliced if one.spliced else report.rebuilt).append(spec.slug)
            built.append(one)
            records[spec.slug] = one.records
        return specs, built, {spec.slug: records[spec.slug] for spec in specs}

    def _one(
        self,
        spec: feeds.FeedSpec,
        manifest: feeds.Manifest,
        fresh: dict[str, feeds.FeedEntry],
        holders: dict[str, set[str]],
        newest: list[feeds.FeedEntry],
        old_names: dict[str, str],
    ) -> feeds.BuiltFeed | None:
        """The feed rebuilt or spliced, or None if nothing in it changed."""
        slug = spec.slug
        if spec.category is None:
            mine = [e for e in newest if e.item_id in fresh]
        else:
            mine = [e for e in fresh.values() if e.category_term == slug]
        gone = {i for i, slugs in holders.items() if slug in slugs} - {e.item_id for e in mine}
        old = manifest.feeds.get(slug)
        renamed = spec.category is not None and old_names.get(slug) != spec.category.name
        if old is not None and not (mine or gone or renamed) and self._files_exist(spec):
            return None
        files = self.read_files(spec) if old is not None and not renamed else None
        if files is not None:
            spliced = feeds.splice_files(
                spec, files, old or (), mine, gone, self.limit, self.chunks
            )
            if spliced is not None and (
                spec.category is not None
                or list(spliced.records) == [feeds.Record.of(e) for e in newest]
            ):
                return spliced
        if spec.category is None:  # the newest items are at hand: no second query
            return self.build(spec, newest)
        return self.from_store(spec)

    def _files_exist(self, spec: feeds.FeedSpec) -> bool:
        return all((self.folder / spec.path(fmt)).is_file() for fmt in feeds.FORMATS)

    def _categories(
        self, manifest: feeds.Manifest, changed: list[Item], fresh: list[feeds.FeedEntry]
    ) -> list[Category]:
        """The categories of the last build, with the configured names and any new ones."""
        index = category_index(self.config)
        found = {c.slug: c for c in manifest.categories}
        found.update({e.category_term: Category(e.category_term, e.category_label) for e in fresh})
        found.update({item.category.slug: item.category for item in changed})
        found.update({c.slug: c for c in index.known})
        return sorted(found.values(), key=index.order_key)

    def put(
        self,
        report: FeedsReport,
        relative: str,
        feed: str,
        kind: str,
        data: bytes,
        writing: bool,
        check: bool,
    ) -> None:
        """Write ``data`` if it differs from the file (or only compare); record what happened."""
        path = self.folder / relative
        if writing:
            changed = self.batch.write_if_changed(path, data)
        else:
            try:
                changed = path.read_bytes() != data
            except FileNotFoundError:
                changed = True
        problems = tuple(feeds.problems_in(kind, data)) if check else ()
        report.files.append(
            FeedFile(path, feed, kind, "written" if changed else "unchanged", problems)
        )


def feed_links(config: Config, view: ItemView) -> list[tuple[str, str]]:
    """(label, URL) of each category's Atom feed, for the digest's footer."""
    site = site_of(config)
    specs = feeds.plan_feeds(site, feed_categories(config, view), feed_paths(config))
    return [(spec.title, spec.url("atom")) for spec in specs]
