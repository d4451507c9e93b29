"""The day's digest: render it once, write its web copy, hand it to delivery."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from bulletin import digest
from bulletin.config import Config
from bulletin.files import write_if_changed
from bulletin.pipeline.common import (
    Clock,
    DigestReport,
    ItemView,
    category_index,
    site_of,
    system_clock,
)
from bulletin.pipeline.publishing import feed_links
from bulletin.pipeline.sending import deliver
from bulletin.store import Store


def web_copy_path(config: Config, day: date) -> Path:
    """Where the browser copy of a day's digest is written."""
    return config.path(config.feeds.dir) / digest.web_copy_path(day)


def render_day(config: Config, view: ItemView, day: date) -> tuple[int, digest.RenderedDigest]:
    """The day's digest rendered once; also returns how many items it holds."""
    index = category_index(config)
    built = digest.build_digest(day, view.items_on(day), index.order_key)
    templates = config.path(config.digest.templates) if config.digest.templates else None
    rendered = digest.render_digest(
        built, site_of(config), config.digest.subject, templates, feed_links(config, view)
    )
    return len(built.items), rendered


def digest_and_deliver(
    config: Config,
    store: Store,
    view: ItemView,
    day: date,
    dry_run: bool = False,
    clock: Clock = system_clock,
) -> DigestReport:
    """Render the day's digest, write its web copy, and deliver it to each recipient once."""
    report = DigestReport(day)
    count, rendered = render_day(config, view, day)
    report.items, report.subject = count, rendered.subject
    if count == 0 and not config.digest.send_empty:
        report.skipped = "no items that day"
        return report
    report.web_copy = web_copy_path(config, day)
    if not dry_run:
        write_if_changed(report.web_copy, digest.web_copy(rendered).encode())
    deliver(config, store, rendered, report, dry_run, clock)
    return report
