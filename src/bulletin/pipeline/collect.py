"""Collecting: read the sources and save what is new or changed into the store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bulletin.errors import InputProblem, SourceError
from bulletin.model import Item
from bulletin.pipeline.context import Clock, RunContext, system_clock
from bulletin.pipeline.feed_sources import read_feeds, read_url, save_feed
from bulletin.sources import ReadResult, read_path, read_paths
from bulletin.store import SaveReport, Store


@dataclass
class CollectReport:
    """What collecting read, stored and skipped."""

    read: list[Item] = field(default_factory=list)
    problems: list[InputProblem] = field(default_factory=list)
    saved: SaveReport = field(default_factory=SaveReport)
    per_source: dict[str, int] = field(default_factory=dict)

    @property
    def skipped(self) -> list[InputProblem]:
        """The problems that cost an item."""
        return [p for p in self.problems if p.skipped]

    def add(self, name: str, result: ReadResult, batch: SaveReport) -> None:
        """Count in what one source read and what storing it did."""
        self.read.extend(result.items)
        self.problems.extend(result.problems)
        self.per_source[name] = self.per_source.get(name, 0) + len(result.items)
        saved = self.saved
        self.saved = SaveReport(
            saved.new + batch.new,
            saved.updated + batch.updated,
            saved.unchanged + batch.unchanged,
            saved.refused + batch.refused,
        )
        self.problems.extend(
            InputProblem(item.origin or name, None, f"item {item.id[:80]!r} not stored: {why}")
            for item, why in batch.refused
        )

    @property
    def changed(self) -> tuple[Item, ...]:
        """The items this collect stored anew or edited (or, in a dry run, would have)."""
        return self.saved.new + self.saved.updated


def read_sources(ctx: RunContext, paths: Sequence[Path] = ()) -> list[tuple[str, ReadResult]]:
    """Read the given paths, or else every configured source.

    A configured source that cannot be read at all is reported and the others are still read.
    """
    if paths:
        return [("command line", read_paths(paths, ctx.read_settings()))]
    results = []
    for source in ctx.sources:
        if source.feed is not None:
            continue  # fetched by ``read_feeds``, which needs the store
        try:
            result = read_path(source.path, source.settings, kind=source.kind)
        except SourceError as error:
            problem = f"source {source.name}: {error.message}" + (
                f" ({error.hint})" if error.hint else ""
            )
            result = ReadResult(problems=(InputProblem(source.shown, None, problem),))
        results.append((source.name, result))
    return results


def collect(
    ctx: RunContext,
    store: Store,
    paths: Sequence[Path] = (),
    dry_run: bool = False,
    clock: Clock = system_clock,
    urls: Sequence[str] = (),
) -> CollectReport:
    """Read the sources (or the given paths and feed URLs) and store what is new or changed
    (only compare, in a dry run)."""
    report = CollectReport()
    now = clock()
    given = bool(paths or urls)
    results = read_sources(ctx, paths) if paths or not given else []
    for url in urls:
        results.append(read_url(ctx, url, now))
    for name, result in results:
        if dry_run:
            batch = store.preview_items(result.items, now)
        else:
            batch = store.save_items(result.items, name, now)
        report.add(name, result, batch)
    for read in [] if given else read_feeds(ctx, store, now):
        report.add(read.source.name, read.result, save_feed(store, read, now, dry_run))
    if not given:  # in the config's order, whichever were fetched first
        order = {spec.name: index for index, spec in enumerate(ctx.sources)}
        report.per_source = dict(sorted(report.per_source.items(), key=lambda p: order[p[0]]))
    return report


def collect_sources(
    ctx: RunContext, paths: Sequence[Path] = (), dry_run: bool = False, urls: Sequence[str] = ()
) -> CollectReport:
    """``bulletin collect``: read the sources (or ``paths`` and feed ``urls``) into the store,
    on their own."""
    with ctx.open_store(dry_run) as store:
        return collect(ctx, store, paths, dry_run=dry_run, urls=urls)
