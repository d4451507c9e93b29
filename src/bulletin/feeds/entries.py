"""One item as every feed format shows it: prepared once, then serialised three times.

Everything a reader or validator could trip over is settled here, before any serialiser sees it:
characters XML forbids are removed (lxml would refuse the whole feed), titles and summaries are
plain text (markup-looking text draws the W3C validator's ContainsHTML/ContainsUndeclaredHTML),
bodies go through an allow-list sanitiser (SecurityRisk) that also makes relative URLs absolute
(ContainsRelRef), very long bodies are cut, and dates are aware UTC to the second.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from functools import cached_property
from html.entities import name2codepoint
from urllib.parse import quote

from bulletin.model import Item, Site
from bulletin.sanitize import FEED, clean_html
from bulletin.text import clean_text, derive_title, normalize_space

SUMMARY_LENGTH = 300
DEFAULT_MAX_BODY_BYTES = 100 * 1024

# Block ends where a long body may be cut without splitting a paragraph.
_BLOCK_END = re.compile(r"</(?:p|li|ul|ol|blockquote|pre|table|dl|h[2-6])>|<br>|<hr>")
_HTML_NAMES = (
    "a|abbr|b|big|blockquote|br|caption|center|cite|code|dd|del|div|dl|dt|em|font|h[1-6]|hr|i|"
    "iframe|img|ins|kbd|li|link|meta|object|ol|p|pre|q|s|script|small|span|strike|strong|style|"
    "sub|sup|table|tbody|td|tfoot|th|thead|tr|tt|u|ul"
)
_TAG = re.compile(rf"</?(?:{_HTML_NAMES})\b[^<>]*>", re.IGNORECASE)
_BREAKING = re.compile(r"</?(?:br|p|div|li|h[1-6]|tr|td|th|hr|blockquote|ul|ol)\b", re.I)
# U+FFFD, U+FDD0-U+FDEF and the last two code points of each of the 17 planes.
_NOT_MEANT = re.compile(
    "[\ufffd\ufdd0-\ufdef"
    + "".join(chr(plane + 0xFFFE) + chr(plane + 0xFFFF) for plane in range(0, 0x110000, 0x10000))
    + "]"
)
# A character reference with or without its ";" (named, decimal or hexadecimal).
_REFERENCE = re.compile(r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);?")


@dataclass(frozen=True)
class FeedEntry:
    """An item ready for the serialisers: every string is XML-safe and final."""

    item_id: str
    id: str  # the permanent id: an RFC 4151 tag URI
    link: str  # the item in the digest's web copy
    title: str  # plain text
    summary: str  # plain text, may be empty
    html: str  # sanitised, absolute URLs, wrapped in <div dir lang> when needed
    language: str
    category_term: str
    category_label: str
    author: str
    published: datetime  # UTC, whole seconds
    updated: datetime  # UTC, whole seconds, never before published

    @property
    def sort_key(self) -> tuple[float, str]:
        """Newest first; equal times by item id, so the order never depends on input order."""
        return (-self.published.timestamp(), self.item_id)

    @cached_property
    def fingerprint(self) -> str:
        """A digest of everything the entry puts into a feed, to tell an edit from no change."""
        parts = [str(getattr(self, name)) for name in _FIELDS]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]


_FIELDS = tuple(f.name for f in fields(FeedEntry))


def prepare_entry(
    site: Site, item: Item, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> FeedEntry:
    """The entry of one item as ``site``'s feeds show it."""
    link = site.url(f"digests/{item.day.isoformat()}.html#item-{_url_part(item.id)}")
    published = utc_seconds(item.published)
    updated = max(published, utc_seconds(item.updated)) if item.updated else published
    return FeedEntry(
        item_id=item.id,
        id=tag_uri(site, item),
        link=link,
        title=plain_text(item.title) or _fallback_title(item),
        summary=_summary(item),
        html=_body(site, item, link, max_body_bytes),
        language=item.language,
        category_term=item.category.slug,
        category_label=plain_text(item.category.name) or item.category.slug,
        author=plain_text(item.source or "") or plain_text(site.title) or "bulletin",
        published=published,
        updated=updated,
    )


def newest_first(entries: list[FeedEntry]) -> list[FeedEntry]:
    """Entries sorted newest first, equal times by item id."""
    return sorted(entries, key=lambda entry: entry.sort_key)


def tag_uri(site: Site, item: Item) -> str:
    """The item's permanent id, an RFC 4151 tag URI: ``tag:<domain>,<day>:<id>``."""
    return f"tag:{site.domain},{item.day.isoformat()}:{_url_part(item.id)}"


def utc_seconds(moment: datetime) -> datetime:
    """UTC to the second: one offset in every feed, and no microseconds in Atom dates."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: feeds need aware datetimes")
    return moment.astimezone(UTC).replace(microsecond=0)


def clean(text: str) -> str:
    """``text`` without XML-forbidden characters: lxml would refuse the whole feed.

    Nor the characters no text means: U+FFFD, the mark of text lost in decoding (where a
    lone surrogate or a reference to nothing stood), and Unicode's non-characters; the W3C
    validator reports them (BadCharacters, or NotHtml in HTML, through html5lib).
    """
    return _NOT_MEANT.sub("", clean_text(text)[0])


def plain_text(text: str) -> str:
    """Text a title or summary can carry as is: no tags, no character references, one line.

    Titles and summaries are plain text in every format. Markup-looking text in them is what
    the W3C validator reports as ContainsHTML (RSS) or ContainsUndeclaredHTML (Atom), and what
    readers show either literally or as markup, depending on the reader; so tags of HTML elements
    are dropped and references such as ``&amp;`` are decoded (a source that escaped them meant
    the character).
    """
    text = clean(text)
    for _ in range(4):  # "&amp;lt;b&amp;gt;" was escaped twice: until nothing changes
        decoded = clean(_REFERENCE.sub(_decode_reference, _TAG.sub(_tag_space, text)))
        if decoded == text:
            break
        text = decoded
    return normalize_space(text)


def _decode_reference(match: re.Match[str]) -> str:
    """The character a reference stands for; "&notice" without ";" is left alone."""
    reference = match.group()
    name = reference[1:].rstrip(";")
    if reference.endswith(";") or name.startswith("#") or name in name2codepoint:
        return html.unescape(reference if reference.endswith(";") else reference + ";")
    return reference


def _tag_space(match: re.Match[str]) -> str:
    """What a dropped tag leaves: a space where it broke the line, else nothing."""
    return " " if _BREAKING.match(match.group()) else ""


def _url_part(value: str) -> str:
    """An id as it may stand in a URI (hex ids are left as they are)."""
    return quote(value, safe="-._~!$&'()*+,;=:@/")


def _fallback_title(item: Item) -> str:
    """A title for an item that has none: Atom entries must have one (RFC 4287 4.1.2)."""
    derived = plain_text(derive_title(item.text)) if item.paragraphs else ""
    return derived or f"{clean(item.category.name)} — {item.day.isoformat()}"


def _summary(item: Item) -> str:
    """Plain text: the first paragraph, cut near ``SUMMARY_LENGTH`` at a word boundary."""
    first = plain_text(item.paragraphs[0]) if item.paragraphs else ""
    if len(first) <= SUMMARY_LENGTH:
        return first
    cut = first.rfind(" ", 0, SUMMARY_LENGTH)
    return first[: cut if cut > SUMMARY_LENGTH // 2 else SUMMARY_LENGTH].rstrip() + "…"


def _body(site: Site, item: Item, link: str, max_bytes: int) -> str:
    """Sanitised, absolute, capped HTML; in a ``<div dir lang>`` for another language.

    Neither RSS nor Atom can say "right to left", so the HTML itself must carry ``dir``.
    """
    # Cleaned again after the sanitiser: it decodes references such as &#x81; or &#0;.
    body = clean(clean_html(clean(item.body_html), FEED, site.base_url)).strip()
    if len(body) > max_bytes // 4 and len(body.encode()) > max_bytes:
        body = _cut(body, max_bytes, site.base_url) + f'<p><a href="{html.escape(link)}">…</a></p>'
    if item.direction == "ltr" and item.language == site.language:
        return body
    lang = html.escape(item.language)
    return f'<div dir="{item.direction}" lang="{lang}">{body}</div>'


def _cut(body: str, max_bytes: int, base_url: str) -> str:
    """The first ``max_bytes`` of ``body``, ending at a block's end, tags closed again."""
    head = body.encode()[:max_bytes].decode("utf-8", "ignore")
    ends = [match.end() for match in _BLOCK_END.finditer(head)]
    if ends:
        head = head[: ends[-1]]
    else:  # one huge paragraph: end at a word, never inside a tag or a reference
        if head.rfind("<") > head.rfind(">"):
            head = head[: head.rfind("<")]
        head = head[: max(head.rfind(">") + 1, head.rfind(" "))]
        head = re.sub(r"&[#A-Za-z0-9]*$", "", head)
    return clean_html(head, FEED, base_url).strip()
