"""Items to RSS 2.0 and Atom 1.0 bytes: the only module that imports feedgen.

``plan_feeds`` decides which feeds exist (one for everything, one per category) and
``build_feed`` turns one feed's items into deterministic bytes: the same items always give the
same bytes, so unchanged files are not rewritten and HTTP caches stay valid. feedgen 1.0.0 has
traps (dates default to now, entries are prepended, the RSS channel link is whatever link was
added last, entry links lose their attributes); each workaround below says which one it avoids.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from feedgen.feed import FeedGenerator

from bulletin.errors import PublishError
from bulletin.model import Category, Item, Site
from bulletin.text import clean_text, derive_title, normalize_space

FORMATS = ("rss", "atom")
ALL_SLUG = "all"
MEDIA_TYPES = {"rss": "application/rss+xml", "atom": "application/atom+xml"}
SUMMARY_LENGTH = 300
# With no items there is no newest item to date the feed by; a constant keeps the bytes stable.
EMPTY_FEED_DATE = datetime(1970, 1, 1, tzinfo=UTC)
_SAFE_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
# feedgen's formatRFC2822 (feedgen/util.py) switches the process-wide locale to "C" and back
# around every RSS date; two threads doing it at once can leave the wrong locale behind.
_FEEDGEN_LOCK = threading.Lock()


@dataclass(frozen=True)
class FeedSpec:
    """One feed to publish: everything (slug "all") or one category."""

    slug: str
    title: str
    description: str
    site: Site
    category: Category | None

    def path(self, fmt: str) -> str:
        """The feed file's path relative to the feeds folder, e.g. ``local-news.atom``."""
        if fmt not in FORMATS:
            raise PublishError(f'unknown feed format "{fmt}"', hint=f"use one of {FORMATS}")
        return f"{self.slug}.{fmt}"


def plan_feeds(site: Site, categories: Sequence[Category]) -> list[FeedSpec]:
    """The feeds to publish: "all" first, then one per category in the given order."""
    specs = [FeedSpec(ALL_SLUG, site.title, site.description, site, None)]
    seen: dict[str, Category] = {}
    for category in categories:
        _check_slug(category, seen)
        if category.slug in seen:
            continue
        seen[category.slug] = category
        title = f"{site.title}: {category.name}"
        specs.append(FeedSpec(category.slug, title, site.description, site, category))
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


def build_feed(spec: FeedSpec, items: Sequence[Item], fmt: str) -> bytes:
    """The feed's bytes in ``fmt`` ("rss" or "atom"), newest item first; deterministic."""
    spec.path(fmt)  # validates fmt
    ordered = _newest_first(items)
    try:
        fg = _feed_generator(spec, ordered, fmt)
        for item in ordered:
            _add_entry(fg, spec.site, item)
        with _FEEDGEN_LOCK:
            data: bytes = fg.rss_str(pretty=True) if fmt == "rss" else fg.atom_str(pretty=True)
    except ValueError as error:  # feedgen's only error type: bad dates, missing fields, bad XML
        raise PublishError(
            f"feed {spec.path(fmt)}: cannot be built: {error}",
            hint="this is a bug in bulletin or in an item's data; run with --debug and report it",
        ) from error
    return data


def _newest_first(items: Sequence[Item]) -> list[Item]:
    """Items sorted by publication time, newest first; equal times by id, for stable output."""
    return sorted(sorted(items, key=lambda item: item.id), key=_published, reverse=True)


def _feed_generator(spec: FeedSpec, items: Sequence[Item], fmt: str) -> FeedGenerator:
    site = spec.site
    fg = FeedGenerator()
    # The Atom feed's own URL: stable, and the same whichever format is being built.
    fg.id(site.url(spec.path("atom")))
    fg.title(_clean(spec.title))
    fg.subtitle(_clean(spec.description) or _clean(spec.title))  # RSS requires a description
    fg.author(name=_clean(site.title))
    fg.language(site.language)
    # feedgen writes its version into <generator> by default: output would change on upgrade.
    fg.generator("bulletin", version=None, uri=None)
    fg.link(href=site.url(spec.path(fmt)), rel="self", type=MEDIA_TYPES[fmt])
    # RSS <channel><link> takes the href of the *last* link added, whatever its rel
    # (feedgen/feed.py, FeedGenerator.link), so the site link must come last.
    fg.link(href=site.url(""), rel="alternate", type="text/html")
    # Never now(): feedgen defaults updated/lastBuildDate to the time the object was created.
    fg.updated(max((_updated(item) for item in items), default=EMPTY_FEED_DATE))
    return fg


def _add_entry(fg: FeedGenerator, site: Site, item: Item) -> None:
    # feedgen prepends entries by default, which would reverse our order.
    fe = fg.add_entry(order="append")
    fe.guid(tag_uri(site, item), permalink=False)  # also the Atom <id>
    fe.title(_clean(item.title) or _fallback_title(item))
    # href only: feedgen 1.0.0 drops every other attribute of entry links (issue #135).
    fe.link(href=site.url(f"digests/{item.day.isoformat()}.html#item-{item.id}"))
    fe.content(_clean(_entry_html(site, item)), type="html")  # RSS: content:encoded
    summary = _summary(item)
    if summary:
        fe.summary(summary)  # Atom <summary>, RSS <description>
    fe.category(term=item.category.slug, label=_clean(item.category.name))
    # Atom requires an author per entry unless the feed has one; name it on every entry anyway.
    fe.author(name=_clean(item.source or "") or _clean(site.title))
    # Set both explicitly: feedgen's entry "updated" defaults to now (feedgen/entry.py).
    fe.published(_published(item))
    fe.updated(_updated(item))


def tag_uri(site: Site, item: Item) -> str:
    """The item's permanent id, an RFC 4151 tag URI: ``tag:<domain>,<day>:<id>``."""
    return f"tag:{site.domain},{item.day.isoformat()}:{item.id}"


def _entry_html(site: Site, item: Item) -> str:
    """The HTML, in a ``<div dir lang>`` if RTL (feeds have no dir) or in another language."""
    if item.direction == "ltr" and item.language == site.language:
        return item.body_html
    lang = html.escape(item.language)
    return f'<div dir="{item.direction}" lang="{lang}">{item.body_html}</div>'


def _summary(item: Item) -> str:
    """Plain text: the first paragraph, cut near ``SUMMARY_LENGTH`` at a word boundary."""
    first = normalize_space(_clean(item.paragraphs[0])) if item.paragraphs else ""
    if len(first) <= SUMMARY_LENGTH:
        return first
    cut = first.rfind(" ", 0, SUMMARY_LENGTH)
    return first[: cut if cut > SUMMARY_LENGTH // 2 else SUMMARY_LENGTH].rstrip() + "…"


def _fallback_title(item: Item) -> str:
    """A title for an item that has none: Atom entries must have one (RFC 4287 4.1.2)."""
    derived = _clean(derive_title(item.text)) if item.paragraphs else ""
    return derived or f"{_clean(item.category.name)} — {item.day.isoformat()}"


def _published(item: Item) -> datetime:
    return _utc(item.published)


def _updated(item: Item) -> datetime:
    """The last significant edit, never before publication (RFC 4287 4.2.15)."""
    published = _published(item)
    return max(published, _utc(item.updated)) if item.updated else published


def _utc(moment: datetime) -> datetime:
    """UTC to the second: one offset in every feed, and no microseconds in Atom dates."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: feeds need aware datetimes")
    return moment.astimezone(UTC).replace(microsecond=0)


def _clean(text: str) -> str:
    """``text`` without XML-forbidden characters: lxml would refuse the whole feed."""
    return clean_text(text)[0]
