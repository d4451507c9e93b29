"""RSS 2.0 and Atom 1.0 documents through feedgen: the only module that imports it.

feedgen 1.0.0 has traps; each workaround below names the one it avoids: it stamps the current
time into the feed and every entry unless told otherwise; it prepends entries; the RSS channel
``<link>`` is whichever link was added last; ``description()`` gives untyped Atom content; an
Atom entry without a title raises; characters XML forbids abort the whole document; entry links
lose every attribute but ``href`` (python-feedgen issue #135); and it has no per-entry language.

A document is its header, one byte chunk per entry, and a footer (``split_document``): feedgen
pretty-prints each entry the same wherever it stands, so an incremental build can reuse the
chunks of entries that did not change and still give the bytes of a full build. For the same
reason a build serialises each entry once per format (``xml_parts`` with a cache shared by its
feeds), and one FeedGenerator writes a feed in both formats, its entries set up once.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedEntry as FeedgenEntry
from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem

from bulletin.errors import PublishError
from bulletin.feeds.entries import FeedEntry, plain_text
from bulletin.feeds.plan import MEDIA_TYPES, FeedSpec

XML_FORMATS = ("rss", "atom")
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
DC_NS = "http://purl.org/dc/elements/1.1/"
DC_CREATOR = f"{{{DC_NS}}}creator"
ATOM_NS = "http://www.w3.org/2005/Atom"
# feedgen's formatRFC2822 (feedgen/util.py) switches the process-wide locale to "C" and back
# around every RSS date; two threads doing it at once can leave the wrong locale behind.
_FEEDGEN_LOCK = threading.Lock()


@dataclass(frozen=True)
class Parts:
    """A document cut into its header, one chunk per entry, and its footer."""

    header: bytes
    chunks: tuple[bytes, ...]
    footer: bytes

    def join(self) -> bytes:
        """The whole document."""
        return self.header + b"".join(self.chunks) + self.footer


# Where entries start and end in feedgen's pretty-printed output. Text and attribute values are
# escaped, so "</entry>" can only be an end tag, and entries do not nest.
_MARKERS = {
    "atom": (b"\n  <entry", b"  </entry>\n", b"</feed>\n"),
    "rss": (b"\n    <item>", b"    </item>\n", b"  </channel>\n</rss>\n"),
}


# Plain-text elements, and Atom's category label: there "&" and "<" are written as hexadecimal
# references, as the RSS Profile asks (https://www.rssboard.org/rss-profile#data-types-
# characterdata), so that a reader unsure whether a title is HTML cannot take "AT&T" or
# "a <b> c" for markup; the W3C validator warns otherwise (CharacterData, ContainsHTML).
# Either spelling gives an XML parser the same text. Item descriptions are HTML: left alone.
_PLAIN_TEXT = {
    # The channel's description (indented as the channel's children are) is plain text too.
    "rss": re.compile(rb"<(title|category|dc:creator)>[^<]*</\1>|^    <description>[^<]*<", re.M),
    "atom": re.compile(rb"<(title|subtitle|summary|name)>[^<]*</\1>|<category [^>]*/>"),
}


def _hex_references(data: bytes, fmt: str) -> bytes:
    """``data`` with "&" and "<" in its plain-text elements as hexadecimal references."""

    def hexed(match: re.Match[bytes]) -> bytes:
        return match.group().replace(b"&amp;", b"&#x26;").replace(b"&lt;", b"&#x3C;")

    return _PLAIN_TEXT[fmt].sub(hexed, data)


# What an entry's chunks are cached under: the site's language decides its Atom xml:lang, and
# the fingerprint covers everything else the entry puts into a feed.
ChunkKey = tuple[str, str]
# Each entry's RSS and Atom chunk, as feedgen wrote them; one build shares one across its feeds.
XmlChunks = dict[ChunkKey, tuple[bytes, bytes]]


def render_xml(spec: FeedSpec, entries: Sequence[FeedEntry], fmt: str, updated: datetime) -> bytes:
    """The feed in ``fmt`` holding ``entries`` in the given order, dated ``updated``."""
    return xml_parts(spec, entries, updated)[fmt].join()


def xml_parts(
    spec: FeedSpec, entries: Sequence[FeedEntry], updated: datetime, cache: XmlChunks | None = None
) -> dict[str, Parts]:
    """The feed's RSS and Atom documents holding ``entries`` in order, cut into their parts.

    One FeedGenerator serves both formats, so each entry's setters run once, and only entries
    ``cache`` does not hold yet go through it at all: feedgen lays an entry out the same
    wherever it stands (see ``split_document``), so the chunk written for one feed is the chunk
    of every other feed of the build that holds the entry (``all`` and its category's feed).
    """
    cache = {} if cache is None else cache
    language = spec.site.language
    keys = [(language, entry.fingerprint) for entry in entries]
    missing = {key: entry for key, entry in zip(keys, entries, strict=True) if key not in cache}
    fg = _feed_generator(spec, updated)
    documents: dict[str, bytes] = {}
    fmt = XML_FORMATS[0]
    try:
        for entry in missing.values():
            # feedgen prepends entries by default, which would reverse our order.
            _fill_entry(fg.add_entry(order="append"), spec, entry)
        with _FEEDGEN_LOCK:
            for fmt in XML_FORMATS:
                _link_feed(fg, spec, fmt)
                data = fg.rss_str(pretty=True) if fmt == "rss" else fg.atom_str(pretty=True)
                documents[fmt] = _hex_references(data, fmt)
    except ValueError as error:  # feedgen's only error type: bad dates, missing fields, bad XML
        raise PublishError(
            f"feed {spec.path(fmt)}: cannot be built: {error}",
            hint="this is a bug in bulletin or in an item's data; run with --debug and report it",
        ) from error
    split = {fmt: split_document(data, fmt) for fmt, data in documents.items()}
    rss, atom = split["rss"], split["atom"]
    assert rss is not None and atom is not None, "feedgen's layout changed: fix _MARKERS"
    cache.update(zip(missing, zip(rss.chunks, atom.chunks, strict=True), strict=True))
    held = [cache[key] for key in keys]
    return {
        "rss": Parts(rss.header, tuple(chunk for chunk, _ in held), rss.footer),
        "atom": Parts(atom.header, tuple(chunk for _, chunk in held), atom.footer),
    }


def split_document(data: bytes, fmt: str) -> Parts | None:
    """``data`` cut into header, entries and footer; None if it is not laid out as we write."""
    start, end, footer = _MARKERS[fmt]
    if not data.endswith(footer):
        return None
    first = data.find(start)
    if first < 0:
        return Parts(data[: -len(footer)], (), footer)
    chunks = []
    position = first + 1
    stop = len(data) - len(footer)
    while position < stop:
        if not data.startswith(start[1:], position):
            return None
        close = data.find(end, position)
        if close < 0:
            return None
        chunks.append(data[position : close + len(end)])
        position = close + len(end)
    return Parts(data[: first + 1], tuple(chunks), footer) if position == stop else None


def chunk_holds(chunk: bytes, entry_id: str, fmt: str) -> bool:
    """Whether ``chunk`` is the entry with this id (to check a file against its record)."""
    tag = (b"<id>" if fmt == "atom" else b">") + escape(entry_id, quote=False).encode()
    return tag + (b"</id>" if fmt == "atom" else b"</guid>") in chunk


class _FeedCreator(BaseExtension):  # type: ignore[misc]
    """The feed half of the RSS dc:creator extension: it declares the namespace only."""

    def extend_ns(self) -> dict[str, str]:
        return {"dc": DC_NS}


class _EntryCreator(BaseEntryExtension):  # type: ignore[misc]
    """``<dc:creator>`` on an RSS item: RSS <author> must be an e-mail address, so a name goes
    here (feedgen writes nothing for a name-only author in RSS). feedgen's own dc extension
    writes the same element, but walks all fifteen Dublin Core fields for every item."""

    def __init__(self) -> None:
        self.creator: str | None = None

    def extend_rss(self, item: Any) -> Any:
        if self.creator:
            xml_elem(DC_CREATOR, item).text = self.creator
        return item


class _FeedHub(BaseExtension):  # type: ignore[misc]
    """``<link rel="hub">`` of WebSub (W3C Recommendation, section 4) in both formats; feedgen
    writes only the self link into RSS (whose atom namespace it always declares), and an RSS
    channel's <link> is the last link added, so the hub is no ``fg.link``."""

    def __init__(self) -> None:
        self.hub: str | None = None

    def extend_atom(self, feed: Any) -> Any:
        if self.hub:
            xml_elem("link", feed, href=self.hub, rel="hub")
        return feed

    def extend_rss(self, feed: Any) -> Any:
        if self.hub:
            xml_elem(f"{{{ATOM_NS}}}link", feed[0], href=self.hub, rel="hub")
        return feed


class _FeedLanguage(BaseExtension):  # type: ignore[misc]
    """The feed half of the per-entry language extension: it adds nothing to the feed."""


class _EntryLanguage(BaseEntryExtension):  # type: ignore[misc]
    """``xml:lang`` on an Atom entry whose language is not the feed's; feedgen only sets it on
    the feed (feedgen/feed.py ``language``). RSS has no per-item language: there the body's
    ``<div dir lang>`` is all a reader gets."""

    def __init__(self) -> None:
        self.language: str | None = None

    def extend_atom(self, entry: Any) -> Any:
        if self.language:
            entry.set(XML_LANG, self.language)
        return entry


def _feed_generator(spec: FeedSpec, updated: datetime) -> FeedGenerator:
    """The feed's generator for both formats; ``_link_feed`` sets the links of each."""
    site = spec.site
    fg = FeedGenerator()
    # Each extension writes into one format only.
    fg.register_extension("dc", _FeedCreator, _EntryCreator, atom=False, rss=True)
    fg.register_extension("bulletin", _FeedLanguage, _EntryLanguage, atom=True, rss=False)
    if spec.hub:
        fg.register_extension("websub", _FeedHub, None, atom=True, rss=True)
        fg.websub.hub = spec.hub
    fg.id(spec.id)  # stable, and the same whichever format is being built
    title = plain_text(spec.title) or spec.slug
    fg.title(title)
    fg.subtitle(plain_text(spec.description) or title)  # RSS requires a description
    fg.author(name=plain_text(site.title) or title)
    fg.language(site.language)
    # feedgen writes its version into <generator> by default: output would change on upgrade.
    fg.generator("bulletin", version=None, uri=None)
    # Never now(): feedgen defaults updated/lastBuildDate to the time the object was created.
    fg.updated(updated)
    return fg


def _link_feed(fg: FeedGenerator, spec: FeedSpec, fmt: str) -> None:
    """The feed's links for serialising it in ``fmt``: its own URL in that format, the site."""
    fg.link(href=spec.url(fmt), rel="self", type=MEDIA_TYPES[fmt], replace=True)
    # RSS <channel><link> takes the href of the *last* link added, whatever its rel
    # (feedgen/feed.py, FeedGenerator.link), so the site link must come last.
    fg.link(href=spec.site.url(""), rel="alternate", type="text/html")


def _fill_entry(fe: FeedgenEntry, spec: FeedSpec, entry: FeedEntry) -> None:
    """Set everything of ``entry`` once, for both formats."""
    fe.guid(entry.id, permalink=False)  # also the Atom <id>; a tag URI is no permalink
    fe.title(entry.title)  # never empty: feedgen's Atom raises on an untitled entry
    # href only, and only this one link: feedgen 1.0.0 drops every other attribute of entry
    # links (issue #135), so an enclosure or a typed link would turn into a second alternate
    # link (the validator's DuplicateAtomLink). Add such links by extension if ever needed.
    fe.link(href=entry.link)
    if entry.summary:
        # Atom <summary> is plain text; RSS <description> is read as HTML, so it gets the
        # summary escaped once. The order matters: description() sets the RSS description but
        # also overwrites the Atom <content> (untyped), which content() below sets again; and
        # summary() leaves an RSS description alone unless it was the previous summary.
        fe.description(escape(entry.summary, quote=False))
    # type="html", never description() for the body: that gives an untyped (text) Atom
    # <content>.
    fe.content(entry.html, type="html")  # RSS: content:encoded
    if entry.summary:
        fe.summary(entry.summary)
    fe.category(term=entry.category_term, label=entry.category_label)
    fe.dc.creator = entry.author  # RSS only (the extension is not loaded for Atom)
    fe.author(name=entry.author)  # Atom only: feedgen writes no RSS <author> without e-mail
    if entry.language != spec.site.language:
        fe.bulletin.language = entry.language  # Atom only
    # Both set explicitly: feedgen's entry "updated" defaults to now (feedgen/entry.py).
    fe.published(entry.published)
    fe.updated(entry.updated)
