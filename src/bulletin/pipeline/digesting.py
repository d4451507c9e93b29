"""The day's digest: render it once, write its web copy, hand it to delivery."""

from __future__ import annotations

from collections.abc import Callable
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


Variant = Callable[[frozenset[str] | None], digest.RenderedDigest]


def render_day(
    config: Config, view: ItemView, day: date, categories: frozenset[str] | None = None
) -> tuple[int, digest.RenderedDigest]:
    """The day's digest (of only ``categories``' slugs, if given); also how many items it holds."""
    index = category_index(config)
    items = [
        item
        for item in view.items_on(day)
        if categories is None or item.category.slug in categories
    ]
    built = digest.build_digest(day, items, index.order_key)
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
    """Render the day's digest, write its web copy, and deliver it to each recipient once.

    The full digest is rendered once; a recipient who chose some categories gets a variant
    holding only those, rendered once per distinct choice, never once per recipient.
    """
    report = DigestReport(day)
    count, rendered = render_day(config, view, day)
    report.items, report.subject = count, rendered.subject
    if count == 0 and not config.digest.send_empty:
        report.skipped = "no items that day"
        return report
    report.web_copy = web_copy_path(config, day)
    if not dry_run:
        write_if_changed(report.web_copy, digest.web_copy(rendered).encode())
    variants: dict[frozenset[str] | None, digest.RenderedDigest] = {None: rendered}

    def variant(categories: frozenset[str] | None) -> digest.RenderedDigest:
        if categories not in variants:
            variants[categories] = render_day(config, view, day, categories)[1]
        return variants[categories]

    deliver(config, store, variant, report, dry_run, clock)
    return report
