"""One day's job as plain functions: collect, publish feeds, render the digest, deliver it.

The pipeline passes data between the stages (sources, store, feeds, digest, delivery), which
never import each other. Every function takes the clock it may read, so tests can move time.
A dry run reads and builds everything but writes nothing: not the store, not a file, no mail.
``run_day`` does one given day now (``bulletin run``); ``reconcile`` does whatever the clock
and the store say is due (``bulletin serve``, ``bulletin run --once``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
from bulletin.pipeline.digesting import (
    digest_and_deliver,
    render_day,
    render_days,
    web_copy_path,
)
from bulletin.pipeline.health import Monitor, ServiceStatus, service_status
from bulletin.pipeline.mailing import (
    DayStatus,
    ImportReport,
    Unsubscribed,
    Unsubscriber,
    check_categories,
    day_status,
    export_csv,
    import_csv,
    send_day,
    unsubscribe,
)
from bulletin.pipeline.planning import DigestPlan, Plan, next_collect, next_digest, plan_digests
from bulletin.pipeline.publishing import FeedsReport, feed_categories, feed_links, publish_feeds
from bulletin.pipeline.reconcile import (
    RUN_LOCK,
    SERVE_LOCK,
    DigestResult,
    ReconcileReport,
    RunLog,
    Stop,
    reconcile,
    runner_store,
    serve_lock,
    store_lock,
)
from bulletin.pipeline.sending import (
    SendReport,
    config_entries,
    deliver,
    recipients_of,
    unsubscribe_endpoint,
    unsubscribe_url,
)

# --- the whole day ---------------------------------------------------------------------------


@dataclass
class RunReport:
    """Everything one ``bulletin run`` did."""

    day: date
    dry_run: bool
    collected: CollectReport
    feeds: FeedsReport
    digest: DigestReport
    ledger: dict[str, int] = field(default_factory=dict)  # the day's deliveries, by state

    @property
    def ok(self) -> bool:
        """Whether nothing was skipped and every recipient has the digest."""
        unsent = sum(n for state, n in self.ledger.items() if state != "sent")
        return not self.collected.skipped and not unsent


def run_day(
    config: Config,
    day: date | None = None,
    dry_run: bool = False,
    clock: Clock = system_clock,
    wait: float = 0.0,
) -> RunReport:
    """Collect, publish the feeds, and render and deliver the digest of ``day`` (default today).

    Waits up to ``wait`` seconds for another runner of the store (``Busy`` after that). The
    day is recorded as settled, so ``bulletin serve`` does not plan it again.
    """
    day = day or today(config, clock)
    with runner_store(config, "run", dry_run, wait) as store:
        run_id = None if dry_run else store.start_run("run", day, clock())
        collected = collect(config, store, dry_run=dry_run, clock=clock)
        changed = collected.saved.new + collected.saved.updated
        view: ItemView = DryRunView(store, changed) if dry_run else store
        published = publish_feeds(config, view, dry_run, changed=changed)
        daily = digest_and_deliver(config, store, view, day, dry_run, clock)
        report = RunReport(day, dry_run, collected, published, daily)
        if not dry_run and not daily.skipped:
            report.ledger = store.ledger.counts(day)
            store.digests.record([day], "sent", clock(), "run")
        elif not dry_run and store.digests.get(day) is None:
            store.digests.record([day], "empty", clock(), "run")
        if run_id is not None:
            store.finish_run(run_id, "ok" if report.ok else "partial", summary(report), clock())
        return report


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
        **{f"ledger_{state}": n for state, n in report.ledger.items()},
    }


__all__ = [
    "RUN_LOCK",
    "SERVE_LOCK",
    "Clock",
    "CollectReport",
    "DayStatus",
    "DigestPlan",
    "DigestReport",
    "DigestResult",
    "DryRunView",
    "FeedsReport",
    "ImportReport",
    "ItemView",
    "Monitor",
    "Plan",
    "ReconcileReport",
    "RunLog",
    "RunReport",
    "SendReport",
    "ServiceStatus",
    "Stop",
    "Unsubscribed",
    "Unsubscriber",
    "category_index",
    "check_categories",
    "collect",
    "config_entries",
    "day_status",
    "deliver",
    "digest_and_deliver",
    "export_csv",
    "feed_categories",
    "feed_links",
    "import_csv",
    "next_collect",
    "next_digest",
    "open_store",
    "plan_digests",
    "publish_feeds",
    "read_settings",
    "read_sources",
    "recipients_of",
    "reconcile",
    "render_day",
    "render_days",
    "run_day",
    "runner_store",
    "send_day",
    "serve_lock",
    "service_status",
    "site_of",
    "store_lock",
    "summary",
    "system_clock",
    "today",
    "unsubscribe",
    "unsubscribe_endpoint",
    "unsubscribe_url",
    "web_copy_path",
]
