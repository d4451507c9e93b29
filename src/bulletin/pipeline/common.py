"""What every step of the pipeline shares: the clock, the site, the store and what it reads."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Protocol

from bulletin.config import Config
from bulletin.model import Category, CategoryIndex, Item, Site
from bulletin.sources import ReadSettings
from bulletin.store import Store
from bulletin.text import slugify

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The current instant, aware, in UTC."""
    return datetime.now(UTC)


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


# --- from config to the stages' own types ---------------------------------------------------


def site_of(config: Config) -> Site:
    """The site as feeds and digests present it."""
    s = config.site
    return Site(s.title, s.description, s.base_url, s.language, s.timezone)


def category_index(config: Config) -> CategoryIndex:
    """The configured categories and their aliases, in digest order."""
    known = []
    aliases = []
    for entry in config.categories:
        category = Category(slug=entry.slug or slugify(entry.name), name=entry.name)
        known.append(category)
        for alias in (entry.name, *entry.aliases):
            aliases.append((" ".join(alias.split()).casefold(), category))
    return CategoryIndex(tuple(known), tuple(aliases))


def read_settings(config: Config, language: str | None = None) -> ReadSettings:
    """What the sources need to know about the site."""
    return ReadSettings(
        zone=config.site.zone,
        item_time=config.site.item_clock_time,
        language=language or config.site.language,
        categories=category_index(config),
    )


def today(config: Config, clock: Clock = system_clock) -> date:
    """Today's date in the newsroom's time zone."""
    return clock().astimezone(config.site.zone).date()


def open_store(config: Config, dry_run: bool = False) -> Store:
    """The configured store; for a dry run on a store not yet created, an empty one in memory."""
    if dry_run and not Store.exists(config.store_url):
        return Store.open("sqlite://")
    return Store.open(config.store_url)


# --- what feeds and digests read --------------------------------------------------------------


class ItemView(Protocol):
    """The queries feeds and digests need; a store, or a store seen through a dry run."""

    def latest_items(self, limit: int, category_slug: str | None = None) -> list[Item]: ...
    def items_on(self, day: date) -> list[Item]: ...
    def categories(self) -> list[Category]: ...


@dataclass(frozen=True)
class DryRunView:
    """The store as it would be after saving ``pending``, which a dry run did not save."""

    store: Store
    pending: tuple[Item, ...]

    def _merge(self, stored: list[Item], wanted: Callable[[Item], bool]) -> list[Item]:
        by_id = {item.id: item for item in stored}
        by_id.update({item.id: item for item in self.pending if wanted(item)})
        return sorted(by_id.values(), key=lambda i: (-i.published.timestamp(), i.id))

    def latest_items(self, limit: int, category_slug: str | None = None) -> list[Item]:
        """The newest items, as after the pending save."""
        stored = self.store.latest_items(limit, category_slug)
        merged = self._merge(
            stored, lambda i: category_slug is None or i.category.slug == category_slug
        )
        return merged[:limit]

    def items_on(self, day: date) -> list[Item]:
        """One day's items, as after the pending save."""
        return self._merge(self.store.items_on(day), lambda i: i.day == day)

    def categories(self) -> list[Category]:
        """Every category with items, as after the pending save."""
        found = {c.slug: c for c in self.store.categories()}
        for item in self.pending:
            found.setdefault(item.category.slug, item.category)
        return sorted(found.values())


@dataclass
class DigestReport:
    """The day's digest: how many items, where its web copy is, and who got it."""

    day: date
    items: int = 0
    subject: str = ""
    web_copy: Path | None = None
    skipped: str = ""
    delivered: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    transport: str = ""
    destination: str = ""
