"""Publishing: build the feeds and write the files whose bytes changed.

``feeds.FeedBuilder`` decides what to build (everything, or only the feeds the run's items
touch); this module reads the last build's files and manifest for it and writes the result.
The manifest is written last, after the files: a crash leaves at worst a manifest that does
not match some file, and the next run rebuilds that feed from the store.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bulletin import feeds
from bulletin.files import WriteBatch
from bulletin.model import Category, Item
from bulletin.pipeline.context import RunContext
from bulletin.pipeline.dry_run import ItemView

Status = Literal["written", "unchanged", "skipped"]


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

    mode: feeds.Mode = "full"
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


@contextmanager
def collector_paused() -> Iterator[None]:
    """Hold off the cyclic garbage collector for a burst of allocations, then restore it."""
    # A feeds build keeps tens of thousands of new objects alive at once; each time enough
    # survive, the collector walks every object of the process, which cost a sixth of a full
    # build. What the build leaves in cycles is collected at the next pass after it.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def feed_categories(ctx: RunContext, view: ItemView) -> list[Category]:
    """The configured categories and every other category that has items."""
    index = ctx.categories
    found = {c.slug: c for c in view.categories()}
    found.update({c.slug: c for c in index.known})
    return sorted(found.values(), key=index.order_key)


def feed_links(ctx: RunContext, view: ItemView) -> list[tuple[str, str]]:
    """(label, URL) of each feed's Atom file, for the digest's footer."""
    specs = feeds.plan_feeds(ctx.site, feed_categories(ctx, view), ctx.feeds.paths)
    return [(spec.title, spec.url("atom")) for spec in specs]


def layout_of(ctx: RunContext) -> feeds.FeedLayout:
    """What every feed of the site is built with."""
    f = ctx.feeds
    return feeds.FeedLayout(ctx.site, f.paths, f.max_items, f.max_body_bytes, f.hub)


def publish_feeds(
    ctx: RunContext,
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
        folder = _Folder(ctx.feeds.folder)
        layout = layout_of(ctx)
        builder = feeds.FeedBuilder(layout, view, ctx.categories)
        manifest = None if changed is None or check else folder.manifest()
        categories = feed_categories(ctx, view)
        if manifest is None or manifest.fingerprint != layout.fingerprint:
            build = builder.full(categories, "check" if check else "full")
        else:
            build = builder.incremental(manifest, changed or (), folder, categories)
        report = FeedsReport(build.mode, [], build.rebuilt, build.spliced, build.skipped)
        with WriteBatch() as batch:
            writer = _Writer(folder.path, batch, report, not (dry_run or check), check)
            _write_all(writer, build, layout)
        return report


def rebuild_feeds(ctx: RunContext, check: bool = False) -> FeedsReport:
    """``bulletin feeds``: rebuild every feed from the store (``check``: only compare)."""
    with ctx.open_store(dry_run=check) as store:
        return publish_feeds(ctx, store, check=check)


def _write_all(writer: _Writer, build: feeds.FeedBuild, layout: feeds.FeedLayout) -> None:
    """Write (or compare) every feed file, the lists, and last the manifest."""
    for one in build.built:
        for fmt in feeds.FORMATS:
            writer.put(one.spec.path(fmt), one.spec.slug, fmt, one.files[fmt])
    for spec in build.specs:
        if spec.slug in build.skipped:
            for fmt in feeds.FORMATS:
                writer.skipped(spec.path(fmt), spec.slug, fmt)
    writer.put(layout.paths.opml, "lists", "opml", feeds.render_opml(build.specs))
    index = feeds.render_index_page(build.specs, layout.limit)
    writer.put(layout.paths.index, "lists", "html", index)
    if writer.writing:
        manifest = build.manifest(layout.fingerprint).to_bytes()
        writer.batch.write_if_changed(writer.folder / feeds.MANIFEST_NAME, manifest)


class _Folder:
    """The feeds folder as the last build left it (``feeds.FeedFolder``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self, relative: str) -> bytes | None:
        try:
            return (self.path / relative).read_bytes()
        except FileNotFoundError:
            return None

    def exists(self, relative: str) -> bool:
        return (self.path / relative).is_file()

    def manifest(self) -> feeds.Manifest | None:
        data = self.read(feeds.MANIFEST_NAME)
        return None if data is None else feeds.Manifest.from_bytes(data)


@dataclass
class _Writer:
    """Writes a build's files in one batch (or only compares them), recording each one's fate."""

    folder: Path
    batch: WriteBatch
    report: FeedsReport
    writing: bool
    check: bool

    def put(self, relative: str, feed: str, kind: str, data: bytes) -> None:
        """Write ``data`` if it differs from the file (or only compare); record what happened."""
        path = self.folder / relative
        if self.writing:
            changed = self.batch.write_if_changed(path, data)
        else:
            try:
                changed = path.read_bytes() != data
            except FileNotFoundError:
                changed = True
        problems = tuple(feeds.problems_in(kind, data)) if self.check else ()
        status: Status = "written" if changed else "unchanged"
        self.report.files.append(FeedFile(path, feed, kind, status, problems))

    def skipped(self, relative: str, feed: str, kind: str) -> None:
        """Record a file this build left alone."""
        self.report.files.append(FeedFile(self.folder / relative, feed, kind, "skipped"))
