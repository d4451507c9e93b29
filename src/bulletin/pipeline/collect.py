"""Collecting: read the sources and save what is new or changed into the store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bulletin.errors import InputProblem, SourceError
from bulletin.model import Item
from bulletin.pipeline.context import Clock, RunContext, system_clock
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
) -> CollectReport:
    """Read the sources and store what is new or changed (only compare, in a dry run)."""
    report = CollectReport()
    now = clock()
    saved = SaveReport()
    for name, result in read_sources(ctx, paths):
        report.read.extend(result.items)
        report.problems.extend(result.problems)
        report.per_source[name] = len(result.items)
        if dry_run:
            batch = store.preview_items(result.items, now)
        else:
            batch = store.save_items(result.items, name, now)
        saved = SaveReport(
            saved.new + batch.new,
            saved.updated + batch.updated,
            saved.unchanged + batch.unchanged,
            saved.refused + batch.refused,
        )
        report.problems.extend(
            InputProblem(item.origin or name, None, f"item {item.id[:80]!r} not stored: {why}")
            for item, why in batch.refused
        )
    report.saved = saved
    return report


def collect_sources(
    ctx: RunContext, paths: Sequence[Path] = (), dry_run: bool = False
) -> CollectReport:
    """``bulletin collect``: read the sources (or ``paths``) into the store, on their own."""
    with ctx.open_store(dry_run) as store:
        return collect(ctx, store, paths, dry_run=dry_run)
