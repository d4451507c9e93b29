"""What the templates loop over: the day's sections and items, whole or cut to fit the email.

A ``Cut`` says how much of each item the email shows: everything, an excerpt of so many
characters, or the title only, and how many items in all. Whatever is cut is still in the web
copy, which the entry's ``url`` and the section's ``url`` point at.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from functools import cached_property
from html.parser import HTMLParser
from typing import Any

from bulletin.digest.labels import Labels, labels_for
from bulletin.model import Category, Digest, DigestSection, Item

PREHEADER_LENGTH = 90  # Gmail web shows about 90 characters of preview after the subject


@dataclass(frozen=True)
class Cut:
    """How much of the day an email shows: ``excerpt`` characters of each item's text (None:
    all of it; 0: the title only), of the first ``keep`` items in reading order (None: all)."""

    excerpt: int | None = None
    keep: int | None = None

    def describe(self, total: int) -> str:
        """In words, for reports: "" when nothing is cut."""
        if self.keep is not None:
            return f"titles of the first {self.keep} of {total} items"
        if self.excerpt == 0:
            return "titles only"
        return "" if self.excerpt is None else f"excerpts of {self.excerpt} characters"


FULL = Cut()


@dataclass(frozen=True)
class DigestEntry:
    """One item as the digest shows it; ``excerpt`` is None when its whole text is shown."""

    item: Item
    labels: Labels  # in the item's language where there is a table for it
    url: str  # the item in the web copy
    excerpt: str | None = None

    @property
    def cut(self) -> bool:
        """Whether the text is shortened, so a "read more" link is due."""
        return self.excerpt is not None

    @cached_property
    def links(self) -> list[tuple[str, str]]:
        """The (text, URL) of each link in the item's HTML, for the plain-text part."""
        return links_in(self.item.body_html)

    @property
    def show_title(self) -> bool:
        """Whether to show a heading: a title derived from the text only repeats its start,
        so it is shown only when nothing else of the item is."""
        return not self.item.title_derived or self.excerpt == ""


@dataclass(frozen=True)
class SectionView:
    """One category: its entries, and how many more items only the web copy holds."""

    category: Category
    anchor: str  # the section's id in the page
    entries: tuple[DigestEntry, ...]
    more: int
    url: str  # the section in the web copy


def build_digest(day: date, items: Sequence[Item], order_key: Callable[[Category], Any]) -> Digest:
    """The day's items grouped by category, sections in ``order_key`` order, items newest first."""
    groups: dict[Category, list[Item]] = {}
    for item in items:
        groups.setdefault(item.category, []).append(item)
    categories = sorted(groups, key=lambda category: (order_key(category), category))
    sections = tuple(DigestSection(c, tuple(_newest_first(groups[c]))) for c in categories)
    return Digest(day=day, sections=sections)


def _newest_first(items: Sequence[Item]) -> list[Item]:
    """Newest first; equal publication times by id, so the order never depends on input order."""
    return sorted(sorted(items, key=lambda item: item.id), key=lambda i: i.published, reverse=True)


def sections_at(digest: Digest, site_labels: Labels, web_url: str, cut: Cut) -> list[SectionView]:
    """The digest's sections as shown under ``cut``; links point into the web copy."""
    left = len(digest.items) if cut.keep is None else cut.keep
    views = []
    for section in digest.sections:
        entries = []
        for item in section.items[: max(left, 0)]:
            labels = labels_for(item.language, site_labels)
            url = f"{web_url}#item-{item.id}"
            entries.append(DigestEntry(item, labels, url, excerpt(item, cut.excerpt)))
        left -= len(entries)
        anchor = f"section-{section.category.slug}"
        more = len(section.items) - len(entries)
        url = f"{web_url}#{anchor}"
        views.append(SectionView(section.category, anchor, tuple(entries), more, url))
    return views


@dataclass(frozen=True)
class DayView:
    """One day of a digest: in a catch-up digest covering several, its heading and sections."""

    day: date
    date_text: str
    anchor: str
    sections: tuple[SectionView, ...]


def days_at(
    parts: Sequence[Digest],
    site_labels: Labels,
    web_urls: Sequence[str],
    date_texts: Sequence[str],
    cut: Cut,
) -> list[DayView]:
    """Each day's sections under ``cut``, whose ``keep`` counts items across all the days.

    With several days, sections get the day in their anchor, so that ids stay unique in the
    email; their links still point at the section in that day's web copy.
    """
    left = sum(len(part.items) for part in parts) if cut.keep is None else cut.keep
    views = []
    for part, web_url, date_text in zip(parts, web_urls, date_texts, strict=True):
        sections = sections_at(part, site_labels, web_url, Cut(cut.excerpt, max(left, 0)))
        left -= sum(len(section.entries) for section in sections)
        if len(parts) > 1:
            day = part.day.isoformat()
            sections = [replace(s, anchor=f"{s.anchor}-{day}") for s in sections]
        views.append(DayView(part.day, date_text, f"day-{part.day.isoformat()}", tuple(sections)))
    return views


def excerpt(item: Item, length: int | None) -> str | None:
    """The start of the item's text, cut at a word near ``length`` characters; None when the
    whole text is that short anyway (then it is shown whole, with no "read more")."""
    if length is None:
        return None
    text = " ".join(item.text.split())
    if len(text) <= length:
        return None
    if length == 0:
        return ""
    cut = text.rfind(" ", 0, length)
    return text[: cut if cut > length // 2 else length].rstrip(" ,;:.-–—،؛") + "…"


def preheader(digest: Digest, labels: Labels) -> str:
    """The inbox preview: the first titles, cut near ``PREHEADER_LENGTH`` characters."""
    if digest.is_empty:
        return labels.preheader_empty
    preview = " · ".join(item.title for item in digest.items if item.title)
    if len(preview) <= PREHEADER_LENGTH:
        return preview
    cut = preview.rfind(" ", 0, PREHEADER_LENGTH)
    return preview[: cut if cut > 0 else PREHEADER_LENGTH].rstrip(" ·") + "…"


def links_in(html: str) -> list[tuple[str, str]]:
    """The (text, URL) of each ``<a href>`` in ``html``, in order, without repeats."""
    parser = _LinkParser()
    parser.feed(html)
    parser.close()
    return list(dict.fromkeys(parser.links))


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href, self._text = dict(attrs).get("href"), []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href:
            self.links.append((" ".join("".join(self._text).split()), self._href))
        if tag == "a":
            self._href = None
