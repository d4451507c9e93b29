"""One day's job as plain functions: collect, publish feeds, render the digest, deliver it.

The pipeline passes data between the stages (sources, store, feeds, digest, delivery), which
never import each other. Every function takes the clock it may read, so tests can move time.
A dry run reads and builds everything but writes nothing: not the store, not a file, no mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bulletin.config import Config
from bulletin.pipeline.collecting import CollectReport, collect, read_sources
from bulletin.pipeline.common import (
    Clock,
    DigestReport,
    DryRunView,
    ItemView,
    category_index,
    open_store,
    read_settings,
    site_of,
    system_clock,
    today,
)
from bulletin.pipeline.digesting import digest_and_deliver, render_day, web_copy_path
from bulletin.pipeline.publishing import FeedsReport, feed_categories, feed_links, publish_feeds
from bulletin.pipeline.sending import deliver, recipients_of, unsubscribe_url

# --- the whole day ---------------------------------------------------------------------------


@dataclass
class RunReport:
    """Everything one ``bulletin run`` did."""

    day: date
    dry_run: bool
    collected: CollectReport
    feeds: FeedsReport
    digest: DigestReport

    @property
    def ok(self) -> bool:
        """Whether nothing was skipped."""
        return not self.collected.skipped


def run_day(
    config: Config,
    day: date | None = None,
    dry_run: bool = False,
    clock: Clock = system_clock,
) -> RunReport:
    """Collect, publish the feeds, and render and deliver the digest of ``day`` (default today)."""
    day = day or today(config, clock)
    store = open_store(config, dry_run)
    try:
        run_id = None if dry_run else store.start_run("run", day, clock())
        collected = collect(config, store, dry_run=dry_run, clock=clock)
        view: ItemView = (
            DryRunView(store, collected.saved.new + collected.saved.updated) if dry_run else store
        )
        published = publish_feeds(config, view, dry_run)
        daily = digest_and_deliver(config, store, view, day, dry_run, clock)
        report = RunReport(day, dry_run, collected, published, daily)
        if run_id is not None:
            store.finish_run(run_id, "ok" if report.ok else "partial", summary(report), clock())
        return report
    finally:
        store.close()


def summary(report: RunReport) -> dict[str, object]:
    """A run's counts, as recorded in the store."""
    return {
        "items_read": len(report.collected.read),
        "items_new": len(report.collected.saved.new),
        "items_updated": len(report.collected.saved.updated),
        "items_skipped": len(report.collected.skipped),
        "feeds_written": len(report.feeds.written),
        "digest_items": report.digest.items,
        "delivered": len(report.digest.delivered),
    }


__all__ = [
    "Clock",
    "CollectReport",
    "DigestReport",
    "DryRunView",
    "FeedsReport",
    "ItemView",
    "RunReport",
    "category_index",
    "collect",
    "deliver",
    "digest_and_deliver",
    "feed_categories",
    "feed_links",
    "open_store",
    "publish_feeds",
    "read_settings",
    "read_sources",
    "recipients_of",
    "render_day",
    "run_day",
    "site_of",
    "summary",
    "system_clock",
    "today",
    "unsubscribe_url",
    "web_copy_path",
]
