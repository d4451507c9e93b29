"""Publishing: build every feed and write the files whose bytes changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bulletin import feeds
from bulletin.config import Config
from bulletin.files import write_if_changed
from bulletin.model import Category
from bulletin.pipeline.common import ItemView, category_index, site_of

# --- feeds ------------------------------------------------------------------------------------


@dataclass
class FeedsReport:
    """Which feed files were written and which already held the same bytes."""

    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)


def feed_categories(config: Config, view: ItemView) -> list[Category]:
    """The configured categories and every other category that has items."""
    index = category_index(config)
    found = {c.slug: c for c in view.categories()}
    found.update({c.slug: c for c in index.known})
    return sorted(found.values(), key=index.order_key)


def publish_feeds(config: Config, view: ItemView, dry_run: bool = False) -> FeedsReport:
    """Build every feed and write those whose bytes changed."""
    report = FeedsReport()
    folder = config.path(config.feeds.dir)
    for spec in feeds.plan_feeds(site_of(config), feed_categories(config, view)):
        slug = None if spec.category is None else spec.category.slug
        entries = view.latest_items(config.feeds.max_items, slug)
        for fmt in feeds.FORMATS:
            target = folder / spec.path(fmt)
            data = feeds.build_feed(spec, entries, fmt)
            changed = _would_change(target, data) if dry_run else write_if_changed(target, data)
            (report.written if changed else report.unchanged).append(target)
    return report


def _would_change(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() != data
    except FileNotFoundError:
        return True


def feed_links(config: Config, view: ItemView) -> list[tuple[str, str]]:
    """(label, URL) of each category's Atom feed, for the digest's footer."""
    site = site_of(config)
    specs = feeds.plan_feeds(site, feed_categories(config, view))
    return [(spec.title, site.url(spec.path("atom"))) for spec in specs]
