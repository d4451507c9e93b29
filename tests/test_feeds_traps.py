"""feedgen 1.0.0's traps, one test each: the trap is still there, and bulletin's feeds avoid it.

Each test first shows feedgen's own behaviour (so that if a feedgen release fixes or changes
it, the test says the workaround may go) and then what bulletin writes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import feedparser
import pytest
from feedgen.feed import FeedGenerator
from lxml import etree

from builders import LOCAL, make_item, make_site
from bulletin.feeds import build_feed, plan_feeds
from feedcheck import check_atom

ATOM = "{http://www.w3.org/2005/Atom}"
SITE = make_site()
SPEC = plan_feeds(SITE, [LOCAL])[0]


def bare_feedgen() -> FeedGenerator:
    fg = FeedGenerator()
    fg.id("https://news.example.org/all.atom")
    fg.title("Daily Bugle")
    fg.link(href="https://news.example.org/", rel="alternate")
    fg.description("The day's news.")
    return fg


def entry_of(fg: FeedGenerator, entry_id: str = "tag:news.example.org,2024-03-01:a1") -> Any:
    fe = fg.add_entry()
    fe.id(entry_id)
    fe.title("Item")
    fe.content("x")
    return fe


def test_feedgen_stamps_now_but_bulletin_dates_by_the_items() -> None:
    fg = bare_feedgen()
    entry_of(fg)
    this_year = str(datetime.now(UTC).year).encode()
    assert b"<updated>" + this_year in fg.atom_str()  # feed and entry dated "now"
    data = build_feed(SPEC, [make_item("a1", 9)], "atom")
    assert b"<updated>2024-03-01T09:00:00+00:00</updated>" in data
    assert b"<updated>" + this_year not in data


def test_feedgen_prepends_entries_but_bulletin_keeps_newest_first() -> None:
    fg = bare_feedgen()
    for name in ("first", "second"):
        entry_of(fg, f"tag:x.org,2024:{name}")
    ids = [e.id for e in feedparser.parse(fg.atom_str()).entries]
    assert ids == ["tag:x.org,2024:second", "tag:x.org,2024:first"]
    items = [make_item("old", 7), make_item("new", 12)]
    ids = [e.id[-3:] for e in feedparser.parse(build_feed(SPEC, items, "rss")).entries]
    assert ids == ["new", "old"]


def test_feedgen_takes_the_last_link_for_rss_but_bulletin_links_the_site() -> None:
    fg = bare_feedgen()
    fg.link(href="https://news.example.org/all.rss", rel="self")
    assert etree.fromstring(fg.rss_str()).findtext("channel/link").endswith("all.rss")
    channel = etree.fromstring(build_feed(SPEC, [make_item("a")], "rss")).find("channel")
    assert channel.findtext("link") == "https://news.example.org/"


def test_feedgen_description_gives_untyped_content_but_bulletin_types_it_html() -> None:
    fg = bare_feedgen()
    fe = entry_of(fg)
    fe.description("<p>Hello</p>")
    content = etree.fromstring(fg.atom_str()).find(f"{ATOM}entry/{ATOM}content")
    assert content.get("type") is None  # text: readers would show the tags
    assert "ContainsUndeclaredHTML" in {e.name for e in check_atom(fg.atom_str(), "")}
    ours = etree.fromstring(build_feed(SPEC, [make_item("a")], "atom"))
    assert ours.find(f"{ATOM}entry/{ATOM}content").get("type") == "html"
    assert ours.find(f"{ATOM}entry/{ATOM}summary").get("type") is None  # plain-text summary


def test_feedgen_refuses_an_untitled_atom_entry_but_bulletin_derives_a_title() -> None:
    fg = bare_feedgen()
    fe = fg.add_entry()
    fe.id("tag:x.org,2024:a")
    fe.content("x")
    with pytest.raises(ValueError, match="Required fields not set"):
        fg.atom_str()
    item = make_item("a", title="", paragraphs=("The ferry is late again. More later.",))
    entry = feedparser.parse(build_feed(SPEC, [item], "atom")).entries[0]
    assert entry.title == "The ferry is late again."


def test_feedgen_aborts_on_a_control_character_but_bulletin_drops_it() -> None:
    fg = bare_feedgen()
    fe = entry_of(fg)
    fe.title("Bell\x07")
    with pytest.raises(ValueError, match="XML compatible"):
        fg.atom_str()
    data = build_feed(SPEC, [make_item("a", title="Bell\x07 rings")], "atom")
    assert feedparser.parse(data).entries[0].title == "Bell rings"


def test_feedgen_drops_entry_link_attributes_so_bulletin_adds_one_bare_link() -> None:
    # python-feedgen issue #135: an enclosure comes out as a second rel-less (= alternate) link.
    fg = bare_feedgen()
    fe = entry_of(fg)
    fe.link(href="https://news.example.org/a", rel="alternate")
    fe.link(href="https://news.example.org/a.mp3", rel="enclosure", type="audio/mpeg")
    links = etree.fromstring(fg.atom_str()).findall(f"{ATOM}entry/{ATOM}link")
    assert [link.attrib for link in links] == [
        {"href": "https://news.example.org/a"},
        {"href": "https://news.example.org/a.mp3"},
    ]
    assert "DuplicateAtomLink" in {e.name for e in check_atom(fg.atom_str(), "")}
    ours = etree.fromstring(build_feed(SPEC, [make_item("a"), make_item("b", 8)], "atom"))
    for entry in ours.findall(f"{ATOM}entry"):
        assert [link.attrib.keys() for link in entry.findall(f"{ATOM}link")] == [["href"]]


def test_feedgen_has_no_entry_language_so_bulletin_sets_xml_lang_itself() -> None:
    fg = bare_feedgen()
    fg.language("en")
    fe = entry_of(fg)
    fe.content("مرحبا")
    lang = "{http://www.w3.org/XML/1998/namespace}lang"
    assert etree.fromstring(fg.atom_str()).find(f"{ATOM}entry").get(lang) is None
    item = make_item("ar", title="مرحبا", language="ar")
    assert etree.fromstring(build_feed(SPEC, [item], "atom")).find(f"{ATOM}entry").get(lang) == "ar"
