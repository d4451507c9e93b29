"""JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1) read with the standard library.

The two versions differ in little a reader sees: 1.1 has ``authors`` and ``language`` where 1.0
had ``author``. Relative URLs in an item are resolved against its ``url``'s page, else the
feed's address, as readers do (the spec is silent on them).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import urljoin

from bulletin.sources.feed_reader import Entry, FeedFormatError, ParsedFeed, _language, html_text

VERSIONS = {
    "https://jsonfeed.org/version/1": "json1",
    "https://jsonfeed.org/version/1.1": "json1.1",
}


def looks_like_json(data: bytes, content_type: str) -> bool:
    """Whether the bytes are JSON rather than XML: by Content-Type, else by the first byte."""
    if "json" in content_type.lower():
        return True
    return data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def parse_json_feed(data: bytes, url: str) -> ParsedFeed:
    """The JSON Feed in ``data``, fetched from ``url``; FeedFormatError when it is not one."""
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise FeedFormatError(f"not valid JSON: {str(error)[:200]}") from None
    if not isinstance(document, dict) or document.get("version") not in VERSIONS:
        version = document.get("version") if isinstance(document, dict) else None
        raise FeedFormatError(
            f"not a JSON Feed: version is {json.dumps(version)}",
            hint='expected "https://jsonfeed.org/version/1.1" (or /version/1)',
        )
    items = document.get("items")
    if not isinstance(items, list):
        raise FeedFormatError('not a JSON Feed: "items" is not a list')
    notes: list[str] = []
    entries = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict):
            notes.append(f"item {number} is not an object: skipped")
            continue
        entries.append(_entry(item, url, notes, number))
    return ParsedFeed(
        VERSIONS[document["version"]],
        _plain(document.get("title")),
        _language(document.get("language")),
        tuple(entries),
        tuple(notes),
    )


def _entry(item: dict[str, Any], url: str, notes: list[str], number: int) -> Entry:
    link = _string(item.get("url")) or _string(item.get("external_url"))
    link = urljoin(url, link) if link else None
    if item.get("content_html"):
        html = str(item["content_html"])
    elif item.get("content_text"):
        paragraphs = str(item["content_text"]).split("\n\n")
        html = "".join(f"<p>{escape(p.strip())}</p>" for p in paragraphs if p.strip())
    else:
        html = escape(str(item.get("summary") or ""))
    tags = item.get("tags")
    tags = tags if isinstance(tags, list) else []
    return Entry(
        id=_string(item.get("id")),
        link=link,
        title=_plain(item.get("title")),
        html=html,
        base=link or url,
        published=_date(item.get("date_published"), notes, number),
        updated=_date(item.get("date_modified"), notes, number),
        categories=tuple(str(tag).strip() for tag in tags if str(tag).strip()),
        language=_language(item.get("language")),
        author=_author(item),
    )


def _string(value: Any) -> str | None:
    # An id may be a number in the wild (1.0 feeds); the spec says string.
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    return str(value).strip() or None


def _plain(value: Any) -> str:
    # Titles are plain text by the spec, but HTML in them is common: keep the text only.
    return html_text(value) if isinstance(value, str) else ""


def _date(value: Any, notes: list[str], number: int) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        notes.append(f'item {number}: date "{value[:40]}" is not RFC 3339: taken as missing')
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _author(item: dict[str, Any]) -> str | None:
    authors = item.get("authors")
    if isinstance(authors, list) and authors and isinstance(authors[0], dict):
        return _string(authors[0].get("name"))
    author = item.get("author")  # version 1.0
    return _string(author.get("name")) if isinstance(author, dict) else None
