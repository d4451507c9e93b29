"""An upstream feed's bytes read into entries: RSS 0.9x/1.0/2.0 and Atom by feedparser (its only
importer), JSON Feed 1.0/1.1 by ``feed_json``; XML screened by defusedxml (its only importer).

Nothing here trusts the bytes. Their encoding is settled first (``decode_feed``): servers often
declare a charset the file is not in, and UTF-8 that decodes cleanly is UTF-8 whatever the
header says. XML is then parsed once by defusedxml with entity declarations and external
references forbidden: feedparser leaves external entities alone, but a billion-laughs document
reaches expat's amplification limit and then feedparser's loose parser (measured: 0.85 s per
document). A page of HTML where a feed should be is refused with the feed links it names. Relative
URLs in entries are resolved by feedparser against ``xml:base`` and the feed's URL; the HTML it
returns is not sanitised by it (one allow-list, bulletin's own, is applied later).
"""

from __future__ import annotations

import codecs
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin
from xml.etree.ElementTree import ParseError

from bulletin.errors import SourceError


@dataclass(frozen=True)
class Entry:
    """One entry of an upstream feed, as its format gave it; strings not yet cleaned."""

    id: str | None
    link: str | None
    title: str  # plain text
    html: str  # the fullest body found (content, else summary), as HTML; may be ""
    base: str  # the URL its relative links are relative to
    published: datetime | None
    updated: datetime | None
    categories: tuple[str, ...] = ()
    language: str | None = None
    author: str | None = None


@dataclass(frozen=True)
class ParsedFeed:
    """A feed read: its format, title, language and entries, and what was odd about it."""

    format: str  # feedparser's version name (rss20, atom10, ...) or json1, json1.1
    title: str
    language: str | None
    entries: tuple[Entry, ...]
    notes: tuple[str, ...] = ()


class FeedFormatError(SourceError):
    """The bytes are not a feed bulletin can read (or are a hostile one)."""


_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"'][^>]*\?>")
# Longest first: the UTF-32 little-endian mark begins with UTF-16's.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_HTML_START = re.compile(r"\A\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b", re.I | re.S)
_UTF8_NAMES = frozenset({"utf-8", "utf8"})


def charset_of(content_type: str) -> str | None:
    """The charset parameter of a Content-Type header, if any."""
    match = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", content_type, re.I)
    return match.group(1).lower() if match else None


def decode_feed(data: bytes, content_type: str) -> tuple[str, str | None]:
    """The feed as text, and a note when its declared charset was wrong."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data.decode(codec, errors="replace").lstrip("\ufeff"), None
    match = _DECLARATION.match(data)
    in_file = match.group(1).decode("ascii") if match else None
    declared = [name for name in (charset_of(content_type), in_file) if name]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        wrong = [name for name in declared if name.lower() not in _UTF8_NAMES]
        return text, (
            f"declared as {wrong[0]} but its bytes are UTF-8: read as UTF-8" if wrong else None
        )
    for name in declared:
        try:
            return data.decode(name), None
        except (LookupError, UnicodeDecodeError):
            continue
    shown = " or ".join(declared) or "UTF-8"
    note = f"not valid {shown}: read as Windows-1252, some characters may be wrong"
    return data.decode("cp1252", errors="replace"), note


def parse_feed(data: bytes, url: str, content_type: str = "") -> ParsedFeed:
    """The feed in ``data``, fetched from ``url``; FeedFormatError when it is none."""
    from bulletin.sources.feed_json import looks_like_json, parse_json_feed

    if looks_like_json(data, content_type):
        return parse_json_feed(data, url)
    text, note = decode_feed(data, content_type)
    if _HTML_START.match(text) or (
        "html" in content_type.lower() and not re.search(r"<(rss|feed|rdf:RDF)\b", text[:4096])
    ):
        raise FeedFormatError(_html_message(text, url))
    utf8 = _as_utf8(text)
    screen_xml(utf8)
    import feedparser  # here, not at the top: only a run with feed sources pays its start-up

    parsed = feedparser.parse(
        utf8,
        response_headers={
            "content-type": "application/xml; charset=utf-8",
            "content-location": url,
        },
        resolve_relative_uris=False,  # nh3 resolves them, against the base feedparser gives
        sanitize_html=False,  # bulletin's own allow-list is applied to every body
    )
    if not parsed.get("version"):
        why = parsed.get("bozo_exception")
        raise FeedFormatError(
            "not an RSS, Atom or JSON feed" + (f": {_short(why)}" if why else ""),
        )
    feed = parsed.get("feed", {})
    language = _language(feed.get("language"))
    entries = tuple(_entry(entry, url) for entry in parsed.get("entries", []))
    return ParsedFeed(
        str(parsed["version"]),
        _text_of(feed.get("title_detail"), feed.get("title", "")),
        language,
        entries,
        (note,) if note else (),
    )


def screen_xml(data: bytes) -> None:
    """Refuse XML that declares entities or references outside files (FeedFormatError)."""
    import defusedxml.ElementTree  # as feedparser: loaded by the runs that read feeds

    try:
        defusedxml.ElementTree.fromstring(
            data, forbid_dtd=False, forbid_entities=True, forbid_external=True
        )
    except defusedxml.DefusedXmlException as error:
        raise FeedFormatError(
            f"refused: the XML declares entities or external references ({type(error).__name__})",
            hint="feeds never need them; a billion-laughs or XXE document looks like this",
        ) from None
    except ParseError:
        # Not well-formed (an undeclared &nbsp; in an old RSS 0.91 feed): feedparser's loose
        # parser may still read it, but not if it declares entities the screen did not reach.
        if re.search(rb"<!ENTITY", data, re.I):
            raise FeedFormatError(
                "refused: the XML is not well-formed and declares entities",
                hint="feeds never need them; a billion-laughs or XXE document looks like this",
            ) from None


def _as_utf8(text: str) -> bytes:
    """The text as UTF-8 bytes, its XML declaration saying so."""
    data = text.encode("utf-8")
    match = _DECLARATION.match(data)
    if match:
        data = b'<?xml version="1.0" encoding="utf-8"?>' + data[match.end() :]
    return data


def _entry(entry: Any, url: str) -> Entry:
    details = [*entry.get("content", []), entry.get("summary_detail")]
    details = [d for d in details if d and d.get("value")]
    rich = [d for d in details if "html" in d.get("type", "")]
    body = (rich or details or [None])[0]
    title_detail = entry.get("title_detail")
    language = next(
        (d.get("language") for d in [body, title_detail] if d and d.get("language")), None
    )
    tags = [tag.get("label") or tag.get("term") for tag in entry.get("tags", [])]
    return Entry(
        id=_strip(entry.get("id")),
        link=_strip(entry.get("link")),
        title=_text_of(title_detail, entry.get("title", "")),
        html=_html_of(body),
        base=(body or {}).get("base") or url,
        published=_moment(entry.get("published_parsed") or entry.get("created_parsed")),
        # dict.get: feedparser's own get() falls back to the published date, with a warning.
        updated=_moment(dict.get(entry, "updated_parsed")),
        categories=tuple(t.strip() for t in tags if t and t.strip()),
        language=_language(language),
        author=_strip(entry.get("author")),
    )


def _html_of(detail: Any) -> str:
    if not detail:
        return ""
    value = str(detail.get("value", ""))
    if "html" in detail.get("type", ""):
        return value
    return "".join(f"<p>{escape(p.strip())}</p>" for p in value.split("\n\n") if p.strip())


def _text_of(detail: Any, fallback: str) -> str:
    """A title as plain text: HTML titles (feedparser tells them) lose their tags."""
    value = str((detail or {}).get("value", fallback) or "")
    if "html" in (detail or {}).get("type", ""):
        return html_text(value)
    return " ".join(value.split())


def _moment(parsed: time.struct_time | None) -> datetime | None:
    # feedparser gives every date it understood as a UTC struct_time.
    if parsed is None:
        return None
    try:
        return datetime(*parsed[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def _language(value: Any) -> str | None:
    text = str(value or "").strip().replace("_", "-")
    return text if re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*", text) else None


def _strip(value: Any) -> str | None:
    text = str(value or "").strip()
    return text or None


def _short(error: object) -> str:
    text = str(error).split("\n", 1)[0]
    return text[:200]


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(html: str) -> str:
    """The text of an HTML fragment, on one line."""
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    return " ".join("".join(parser.parts).split())


class _FeedLinks(HTMLParser):
    """The feeds a page names in its ``<link rel="alternate">`` elements."""

    TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json")

    def __init__(self, base: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        rel = values.get("rel", "").lower().split()
        kind = values.get("type", "").lower()
        if tag == "link" and "alternate" in rel and kind in self.TYPES and values.get("href"):
            self.found.append(urljoin(self.base, values["href"]))


def _html_message(text: str, url: str) -> str:
    finder = _FeedLinks(url)
    try:
        finder.feed(text[:200_000])
    except Exception:  # a broken page: no links to suggest, the message still holds
        finder.found = []
    if finder.found:
        return (
            f"an HTML page, not a feed; the page names its feed: {finder.found[0]} (use that url)"
        )
    return "an HTML page, not a feed; check the source's url"
