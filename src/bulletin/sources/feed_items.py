"""Entries of an upstream feed turned into Items, the same kind every other source makes.

An item's id is stable across fetches: derived from the source's name and the entry's own id,
else its link, else a hash of its title and date, so fetching a feed again, in another order or
with edited entries, finds the same items (an edit updates the item; nothing is duplicated).
An entry without a date takes the time it was first seen (the store keeps the first one). The
body is cleaned with the allow-list of bulletin's own items (``sanitize.UPSTREAM``: relative URLs
resolved against the entry's base), and ends with a link to the entry's page on its site. A
bad entry is reported with the feed's address and the entry's number, and skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from html.parser import HTMLParser
from urllib.parse import urlsplit

from bulletin.errors import InputProblem
from bulletin.model import Category, CategoryIndex, Item, direction_for
from bulletin.sanitize import UPSTREAM, clean_html
from bulletin.sources import ReadResult, ReadSettings
from bulletin.sources.feed_reader import Entry, ParsedFeed
from bulletin.text import clean_text, derive_title, normalize_space, slugify, stable_id


@dataclass(frozen=True)
class FeedSource:
    """A configured feed source: where it is, how its entries map to categories, how often."""

    name: str
    url: str
    categories: tuple[tuple[str, str], ...] = ()  # upstream name (case-folded) -> ours
    category: str | None = None  # for entries no mapping places
    min_interval: timedelta = timedelta(minutes=15)
    ignore_cache: bool = False  # send no validators: for servers that answer 304 wrongly
    timeout: float = 30.0  # seconds for a whole fetch

    def mapped(self, upstream: str) -> str | None:
        """Our category for an upstream category name, if the map has one."""
        wanted = normalize_space(upstream).casefold()
        return next((ours for theirs, ours in self.categories if theirs == wanted), None)


class _Bad(Exception):
    pass


# What the allow-list leaves of a paragraph that held only an image or a widget.
_EMPTY_BLOCK = re.compile(r"<(p|div|li)>\s*</\1>")
_BLOCK_TAG = re.compile(r"<(?:p|ul|ol|li|h[2-4]|blockquote|pre)\b")


def items_from_feed(
    parsed: ParsedFeed, source: FeedSource, settings: ReadSettings, now: datetime, origin: str
) -> ReadResult:
    """The items of a feed's entries; ``now`` dates the entries that carry no date."""
    items: list[Item] = []
    problems = [InputProblem(origin, None, note, skipped=False) for note in parsed.notes]
    seen: dict[str, int] = {}
    for number, entry in enumerate(parsed.entries, 1):
        where = f"entry {number}" + (
            f" ({entry.id or entry.link})" if entry.id or entry.link else ""
        )
        try:
            item = _item(entry, parsed, source, settings, now, origin)
        except _Bad as bad:
            problems.append(InputProblem(origin, None, f"{where}: {bad}"))
            continue
        if item.id in seen:
            message = f"{where}: the same id as entry {seen[item.id]}: a feed's ids must differ"
            problems.append(InputProblem(origin, None, message))
            continue
        seen[item.id] = number
        items.append(item)
    return ReadResult(tuple(items), tuple(problems))


def entry_key(entry: Entry) -> str:
    """What names an entry across fetches: its id, else its link, else title and date."""
    if entry.id:
        return entry.id
    if entry.link:
        return entry.link
    when = entry.published or entry.updated
    if not entry.title and when is None:
        raise _Bad("no id, link, title or date: nothing tells it apart from the next fetch's")
    return "hash:" + stable_id(entry.title, when.isoformat() if when else "")


def _item(
    entry: Entry,
    parsed: ParsedFeed,
    source: FeedSource,
    settings: ReadSettings,
    now: datetime,
    origin: str,
) -> Item:
    key = entry_key(entry)
    body = _EMPTY_BLOCK.sub("", clean_html(clean_text(entry.html)[0], UPSTREAM, entry.base))
    body = body.strip()
    if body and not _BLOCK_TAG.search(body):  # plain text, as RSS descriptions often are
        body = f"<p>{body}</p>"
    text = tuple(blocks_of(body))
    title = normalize_space(clean_text(entry.title)[0])
    if not title and not text:
        raise _Bad("no title and no text")
    if entry.link and urlsplit(entry.link).scheme in ("http", "https"):
        # Readers of the digest and of our feeds go on to the story on its own site.
        host = urlsplit(entry.link).hostname or entry.link
        body += f'<p><a href="{escape(entry.link)}">{escape(host)}</a></p>'
    paragraphs = tuple(blocks_of(body))
    published = (entry.published or entry.updated or now).astimezone(UTC)
    updated = entry.updated if entry.updated and entry.updated > published else None
    language = entry.language or parsed.language or settings.language
    author = normalize_space(clean_text(entry.author or parsed.title)[0]) or None
    return Item(
        id=stable_id("feed", source.name, key),
        day=published.astimezone(settings.zone).date(),
        published=published,
        updated=updated,
        category=_category(entry, source, settings.categories),
        title=title or derive_title(text[0]),
        title_derived=not title,
        paragraphs=paragraphs or (title,),
        body_html=body,
        source=author,
        language=language,
        direction=direction_for(language),
        origin=origin,
    )


def _category(entry: Entry, source: FeedSource, index: CategoryIndex) -> Category:
    """The map's category for the entry's, else a configured one it names, else the default."""
    for name in entry.categories:
        mapped = source.mapped(name)
        if mapped:
            return index.resolve(mapped, slugify)
    for name in entry.categories:
        found = index.resolve(name, slugify)
        if found in index.known:
            return found
    if source.category:
        return index.resolve(source.category, slugify)
    return index.resolve(entry.categories[0] if entry.categories else source.name, slugify)


_BLOCKS = frozenset({"p", "li", "h2", "h3", "h4", "blockquote", "pre", "br", "ul", "ol"})


class _Blocks(HTMLParser):
    """The text of each block of cleaned HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self._end()

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCKS:
            self._end()

    def handle_data(self, data: str) -> None:
        self._text.append(data)

    def _end(self) -> None:
        text = normalize_space("".join(self._text))
        if text:
            self.blocks.append(text)
        self._text = []


def blocks_of(html: str) -> Iterable[str]:
    """The plain text of each paragraph, list item or heading of ``html``."""
    parser = _Blocks()
    parser.feed(html)
    parser.close()
    parser._end()
    return parser.blocks
