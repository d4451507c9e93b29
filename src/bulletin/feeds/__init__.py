"""Items to RSS 2.0, Atom 1.0 and JSON Feed 1.1 bytes, plus the lists of feeds.

The only package that imports feedgen (in ``rss_atom``). ``plan_feeds`` decides which feeds
exist (one for everything, one per category); ``prepare_entry`` settles how an item looks in
every format; ``build_files`` turns a feed's entries into deterministic bytes, and
``splice_files`` does the same for an incremental build by reusing unchanged entries; a
``Chunks`` shared by a build's feeds serialises an entry held by several feeds once.
``FeedBuilder`` (``incremental``) decides which feeds a build makes: all of them, or only those
the run's new and edited items touch. The same
items always give the same bytes, so unchanged files are not rewritten and HTTP caches stay
valid. Nothing here touches files: the pipeline reads and writes them.
"""

from __future__ import annotations

from collections.abc import Sequence

from bulletin.errors import PublishError
from bulletin.feeds.build import (
    EMPTY_FEED_DATE,
    BuiltFeed,
    Chunks,
    Manifest,
    Record,
    build_files,
    feed_date,
    fingerprint,
    splice_files,
)
from bulletin.feeds.check import problems_in
from bulletin.feeds.entries import (
    DEFAULT_MAX_BODY_BYTES,
    FeedEntry,
    newest_first,
    plain_text,
    prepare_entry,
    tag_uri,
)
from bulletin.feeds.incremental import (
    MANIFEST_NAME,
    FeedBuild,
    FeedBuilder,
    FeedFolder,
    FeedLayout,
    ItemSource,
    Mode,
)
from bulletin.feeds.json_feed import render_json
from bulletin.feeds.lists import render_index_page, render_opml
from bulletin.feeds.plan import (
    ALL_SLUG,
    FORMATS,
    MEDIA_TYPES,
    FeedPaths,
    FeedSpec,
    plan_feeds,
)
from bulletin.feeds.rss_atom import render_xml
from bulletin.model import Item


def build_feed(spec: FeedSpec, items: Sequence[Item], fmt: str, limit: int | None = None) -> bytes:
    """One feed's bytes in ``fmt`` ("rss", "atom" or "json"), newest item first; deterministic."""
    spec.path(fmt)  # validates fmt
    try:
        entries = [prepare_entry(spec.site, item) for item in items]
    except ValueError as error:
        raise PublishError(
            f"feed {spec.path(fmt)}: cannot be built: {error}",
            hint="an item has a date without a time zone; this is a bug in its source",
        ) from error
    return build_files(spec, entries, limit or max(len(entries), 1)).files[fmt]


__all__ = [
    "ALL_SLUG",
    "DEFAULT_MAX_BODY_BYTES",
    "EMPTY_FEED_DATE",
    "FORMATS",
    "MANIFEST_NAME",
    "MEDIA_TYPES",
    "BuiltFeed",
    "Chunks",
    "FeedBuild",
    "FeedBuilder",
    "FeedEntry",
    "FeedFolder",
    "FeedLayout",
    "FeedPaths",
    "FeedSpec",
    "ItemSource",
    "Manifest",
    "Mode",
    "Record",
    "build_feed",
    "build_files",
    "feed_date",
    "fingerprint",
    "newest_first",
    "plain_text",
    "plan_feeds",
    "prepare_entry",
    "problems_in",
    "render_index_page",
    "render_json",
    "render_opml",
    "render_xml",
    "splice_files",
    "tag_uri",
]
