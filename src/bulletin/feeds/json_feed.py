"""JSON Feed 1.1 (https://jsonfeed.org/version/1.1), written by hand: no library does it.

The layout is fixed so the bytes are deterministic and an incremental build can splice: the
feed's keys in the spec's order, two-space indented, then ``items`` with one item per line, its
keys in a fixed order too. JSON escapes newlines inside strings, so a line is always one item.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bulletin.feeds.entries import FeedEntry, clean
from bulletin.feeds.plan import FeedSpec
from bulletin.feeds.rss_atom import Parts

VERSION = "https://jsonfeed.org/version/1.1"
_ITEMS_OPEN = b'  "items": [\n'
_FOOTER = b"\n  ]\n}\n"
_SEPARATOR = b",\n"
# Each item's line, by the site's language (it decides "language") and the entry's fingerprint.
JsonChunks = dict[tuple[str, str], bytes]


def render_json(spec: FeedSpec, entries: Sequence[FeedEntry]) -> bytes:
    """The JSON Feed holding ``entries`` in the given order."""
    return json_parts(spec, entries).join()


def json_parts(
    spec: FeedSpec, entries: Sequence[FeedEntry], cache: JsonChunks | None = None
) -> Parts:
    """The feed as header, one chunk per item, and footer (chunks carry their separators).

    ``cache`` keeps each item's line (without separator) for the other feeds of a build.
    """
    cache = {} if cache is None else cache
    language = spec.site.language
    items = []
    for entry in entries:
        key = (language, entry.fingerprint)
        line = cache.get(key)
        if line is None:
            line = cache[key] = b"    " + _dump(_item(spec, entry))
        items.append(line)
    chunks = tuple(
        chunk + (_SEPARATOR if index < len(items) - 1 else b"") for index, chunk in enumerate(items)
    )
    return Parts(json_header(spec), chunks, _FOOTER)


def json_header(spec: FeedSpec) -> bytes:
    """Everything before the first item; it does not depend on the items."""
    site = spec.site
    feed: dict[str, Any] = {
        "version": VERSION,
        "title": clean(spec.title),
        "home_page_url": site.url(""),
        "feed_url": spec.url("json"),
        "description": clean(spec.description) or clean(spec.title),
        "language": site.language,
        "authors": [{"name": clean(site.title)}],
    }
    if spec.hub:
        feed["hubs"] = [{"type": "WebSub", "url": spec.hub}]
    lines = [b"{"] + [b"  " + _dump({key: value})[1:-1] + b"," for key, value in feed.items()]
    return b"\n".join(lines) + b"\n" + _ITEMS_OPEN


def split_json(data: bytes) -> Parts | None:
    """``data`` cut into header, items and footer; None if it is not laid out as we write."""
    start = data.find(_ITEMS_OPEN)
    if start < 0 or not data.endswith(_FOOTER):
        return None
    header = data[: start + len(_ITEMS_OPEN)]
    body = data[len(header) : -len(_FOOTER)]
    if not body:
        return Parts(header, (), _FOOTER)
    lines = body.split(b"\n")
    chunks = tuple(
        line + b"\n" if index < len(lines) - 1 else line for index, line in enumerate(lines)
    )
    if any(not line.startswith(b"    {") for line in lines):
        return None
    return Parts(header, chunks, _FOOTER)


def chunk_holds(chunk: bytes, entry_id: str) -> bool:
    """Whether ``chunk`` is the item with this id."""
    return chunk.startswith(b'    {"id": ' + _dump(entry_id) + b",")


def relink(chunks: Sequence[bytes]) -> tuple[bytes, ...]:
    """Chunks taken from several documents, with separators where they now stand."""
    bare = [chunk.rstrip(b"\n").removesuffix(b",") for chunk in chunks]
    return tuple(
        chunk + (_SEPARATOR if index < len(bare) - 1 else b"") for index, chunk in enumerate(bare)
    )


def _item(spec: FeedSpec, entry: FeedEntry) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": entry.id,
        "url": entry.link,
        "title": entry.title,
        "content_html": entry.html,
    }
    if entry.summary:
        item["summary"] = entry.summary
    item["date_published"] = entry.published.isoformat()
    item["date_modified"] = entry.updated.isoformat()
    item["authors"] = [{"name": entry.author}]
    item["tags"] = [entry.category_label]
    if entry.language != spec.site.language:
        item["language"] = entry.language
    return item


def _dump(value: Any) -> bytes:
    return _ENCODER.encode(value).encode()


# One encoder for every item: json.dumps with options builds a new one on each call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": "))
