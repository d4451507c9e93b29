"""Which feeds exist and where their files go: one feed of everything, one per category.

A feed is published in three formats (RSS 2.0, Atom 1.0, JSON Feed 1.1) at paths made from
templates such as ``{slug}.atom``. Two feeds must never share a file (Pelican's rule: refuse to
write the same path twice in a run), so the plan refuses colliding slugs and paths up front.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bulletin.errors import PublishError
from bulletin.model import Category, Site

FORMATS = ("rss", "atom", "json")
ALL_SLUG = "all"
MEDIA_TYPES = {
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
    "json": "application/feed+json",
}
FORMAT_NAMES = {"rss": "RSS", "atom": "Atom", "json": "JSON Feed"}
_SAFE_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class FeedPaths:
    """Where the files go inside the feeds folder; ``{slug}`` stands for the feed's slug."""

    rss: str = "{slug}.rss"
    atom: str = "{slug}.atom"
    json: str = "{slug}.json"
    opml: str = "index.opml"
    index: str = "index.html"

    def feed(self, fmt: str, slug: str) -> str:
        """The path of one feed file, e.g. ``local-news.atom``."""
        templates = {"rss": self.rss, "atom": self.atom, "json": self.json}
        if fmt not in templates:
            raise PublishError(f'unknown feed format "{fmt}"', hint=f"use one of {FORMATS}")
        return templates[fmt].replace("{slug}", slug)


@dataclass(frozen=True)
class FeedSpec:
    """One feed to publish: everything (slug "all") or one category."""

    slug: str
    title: str
    description: str
    site: Site
    category: Category | None
    paths: FeedPaths = FeedPaths()
    hub: str | None = None  # the WebSub hub every format names (rel="hub"), if any

    def path(self, fmt: str) -> str:
        """The feed file's path relative to the feeds folder, e.g. ``local-news.atom``."""
        return self.paths.feed(fmt, self.slug)

    def url(self, fmt: str) -> str:
        """The absolute URL the file is served at: each format's rel=self link."""
        return self.site.url(self.path(fmt))

    @property
    def id(self) -> str:
        """The feed's permanent id, the same in every format: its Atom URL."""
        return self.url("atom")


def plan_feeds(
    site: Site,
    categories: Sequence[Category],
    paths: FeedPaths | None = None,
    hub: str | None = None,
) -> list[FeedSpec]:
    """The feeds to publish: "all" first, then one per category in the given order."""
    paths = paths or FeedPaths()
    specs = [FeedSpec(ALL_SLUG, site.title, site.description, site, None, paths, hub)]
    seen: dict[str, Category] = {}
    for category in categories:
        _check_slug(category, seen)
        if category.slug in seen:
            continue
        seen[category.slug] = category
        title = f"{site.title}: {category.name}"
        specs.append(FeedSpec(category.slug, title, site.description, site, category, paths, hub))
    _check_paths(specs)
    return specs


def _check_slug(category: Category, seen: dict[str, Category]) -> None:
    """Refuse slugs that are unsafe as file names or that two feeds would share."""
    slug = category.slug
    if not _SAFE_SLUG.fullmatch(slug):
        raise PublishError(
            f'category "{category.name}": slug "{slug}" is not usable as a feed file name',
            hint="use letters, digits, '-' and '_' only in category slugs",
        )
    if slug == ALL_SLUG:
        raise PublishError(
            f'category "{category.name}": slug "{ALL_SLUG}" is reserved for the feed of all items',
            hint="give the category another slug in config.yaml",
        )
    other = seen.get(slug)
    if other is not None and other != category:
        raise PublishError(
            f'categories "{other.name}" and "{category.name}" share the slug "{slug}", '
            "so their feeds would overwrite each other",
            hint="give one of them a different slug in config.yaml",
        )


def _check_paths(specs: Sequence[FeedSpec]) -> None:
    """Refuse a plan in which two files (of any feeds or formats) would share a path."""
    paths = specs[0].paths
    owners: dict[str, str] = {paths.opml: "the OPML list", paths.index: "the index page"}
    for spec in specs:
        for fmt in FORMATS:
            path = spec.path(fmt)
            if path in owners:
                raise PublishError(
                    f'feeds.{fmt}_path gives "{path}" for the {spec.slug} feed, '
                    f"which is already the path of {owners[path]}",
                    hint="make the feeds' path templates in config.yaml differ more",
                )
            owners[path] = f"the {FORMAT_NAMES[fmt]} feed {spec.slug}"
