"""The day's digest: render it once, write its web copy and the archive page, hand it to
delivery. After downtime, one catch-up digest may cover several days (``render_days``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from bulletin import digest
from bulletin.config import Config
from bulletin.files import write_if_changed
from bulletin.model import Digest
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

_WEB_COPY_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})\.html")


def web_copy_path(config: Config, day: date) -> Path:
    """Where the browser copy of a day's digest is written."""
    return config.path(config.feeds.dir) / digest.web_copy_path(day)


def index_path(config: Config) -> Path:
    """Where the archive page listing every web copy is written."""
    return config.path(config.feeds.dir) / digest.ARCHIVE_PATH


Variant = Callable[[frozenset[str] | None], digest.RenderedDigest]


def render_options(config: Config, view: ItemView) -> digest.RenderOptions:
    """The digest settings of ``config``, with the footer's feed links."""
    templates = config.path(config.digest.templates) if config.digest.templates else None
    return digest.RenderOptions(
        subject=config.digest.subject,
        templates_dir=templates,
        feed_links=tuple(feed_links(config, view)),
        max_html_bytes=config.digest.max_html_kb * 1000,
    )


def build_day(
    config: Config, view: ItemView, day: date, categories: frozenset[str] | None = None
) -> Digest:
    """The day's items (only ``categories``' slugs, if given) grouped in the configured order."""
    items = [
        item
        for item in view.items_on(day)
        if categories is None or item.category.slug in categories
    ]
    return digest.build_digest(day, items, category_index(config).order_key)


def render_day(
    config: Config, view: ItemView, day: date, categories: frozenset[str] | None = None
) -> tuple[int, digest.RenderedDigest]:
    """The day's digest (of only ``categories``' slugs, if given); also how many items it holds."""
    built = build_day(config, view, day, categories)
    rendered = digest.render_digest(built, site_of(config), render_options(config, view))
    return len(built.items), rendered


def build_days(
    config: Config, view: ItemView, days: Sequence[date], categories: frozenset[str] | None = None
) -> list[Digest]:
    """The digests of those of ``days`` that have items (of ``categories``), oldest first."""
    built = [build_day(config, view, day, categories) for day in sorted(days)]
    return [one for one in built if not one.is_empty]


def render_days(
    config: Config, view: ItemView, days: Sequence[date], categories: frozenset[str] | None = None
) -> tuple[int, digest.RenderedDigest]:
    """The digest covering ``days`` (several after downtime), filed under the last; also how
    many items it holds. Days without items are left out of it."""
    if len(days) == 1:
        return render_day(config, view, days[0], categories)
    parts = build_days(config, view, days, categories)
    options = render_options(config, view)
    rendered = digest.render_catch_up(sorted(days), parts, site_of(config), options)
    return sum(len(part.items) for part in parts), rendered


def write_web_copy(config: Config, view: ItemView, built: Digest) -> Path:
    """Write the day's web copy and the archive page (only files whose bytes changed)."""
    options = render_options(config, view)
    site = site_of(config)
    target = web_copy_path(config, built.day)
    write_if_changed(target, digest.render_web_copy(built, site, options).encode())
    days = published_days(target.parent)
    write_if_changed(index_path(config), digest.render_archive(site, days, options).encode())
    return target


def published_days(folder: Path) -> list[date]:
    """The days whose web copy is in ``folder`` (the archive lists what can be read)."""
    days = []
    for path in folder.glob("*.html"):
        match = _WEB_COPY_NAME.fullmatch(path.name)
        if match:
            try:
                days.append(date.fromisoformat(match.group(1)))
            except ValueError:  # 2026-13-40.html: not one of ours
                continue
    return sorted(days, reverse=True)


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
    built = build_day(config, view, day)
    rendered = digest.render_digest(built, site_of(config), render_options(config, view))
    report.items, report.subject = len(built.items), rendered.subject
    if built.is_empty and not config.digest.send_empty:
        report.skipped = "no items that day"
        return report
    report.web_copy = web_copy_path(config, day)
    if not dry_run:
        write_web_copy(config, view, built)
    variants: dict[frozenset[str] | None, digest.RenderedDigest] = {None: rendered}

    def variant(categories: frozenset[str] | None) -> digest.RenderedDigest:
        if categories not in variants:
            variants[categories] = render_day(config, view, day, categories)[1]
        return variants[categories]

    deliver(config, store, variant, report, dry_run, clock)
    return report
