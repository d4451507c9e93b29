"""Upstream feeds read into items: the shapes found in the wild, and hostile or wrong bytes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bulletin.model import Category, CategoryIndex
from bulletin.sources import ReadResult, ReadSettings
from bulletin.sources.feed_items import FeedSource, items_from_feed
from bulletin.sources.feed_reader import FeedFormatError, decode_feed, parse_feed
from feed_server import sample

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
LOCAL = Category("local-news", "Local News")
INDEX = CategoryIndex((LOCAL,), (("local news", LOCAL),))
SETTINGS = ReadSettings(ZoneInfo("Europe/London"), language="de", categories=INDEX)


def read(
    name: str, url: str, content_type: str = "", source: FeedSource | None = None
) -> ReadResult:
    parsed = parse_feed(sample(name), url, content_type)
    return items_from_feed(parsed, source or FeedSource("up", url), SETTINGS, NOW, url)


def test_wordpress_rss_gives_content_encoded_cleaned_with_the_items_allow_list() -> None:
    result = read("wordpress-rss2.xml", "https://gazette.example/feed/")
    bridge = result.items[0]
    assert bridge.title == "Harbour bridge reopens after repairs"
    assert "<strong>river bridge</strong>" in bridge.body_html
    for gone in ("<script", "<iframe", "onload", "<img", "class="):
        assert gone not in bridge.body_html
    assert 'href="https://gazette.example/tag/bearings/"' in bridge.body_html  # made absolute
    assert bridge.published == datetime(2026, 11, 26, 13, 45, tzinfo=UTC)
    assert bridge.source == "Mira Okafor" and bridge.language == "en-US"
    assert bridge.paragraphs[0].startswith("The river bridge reopened")


def test_every_item_links_to_the_entry_on_its_own_site() -> None:
    bridge = read("wordpress-rss2.xml", "https://gazette.example/feed/").items[0]
    link = "https://gazette.example/2026/11/26/harbour-bridge-reopens/"
    assert bridge.body_html.endswith(f'<p><a href="{link}">gazette.example</a></p>')


def test_html_in_titles_becomes_plain_text() -> None:
    council = read("wordpress-rss2.xml", "https://gazette.example/feed/").items[1]
    assert council.title == "Council “votes” on the budget & the harbour fund"
    ferry = read("atom-xhtml.xml", "https://harbour.example/news/feed.atom").items[0]
    assert ferry.title == "Ferry timetable changes"


def test_atom_xhtml_content_resolves_relative_links_against_xml_base() -> None:
    ferry, pier = read("atom-xhtml.xml", "https://harbour.example/feeds/news.atom").items
    assert 'href="https://harbour.example/news/2026/11/timetable.pdf"' in ferry.body_html
    assert 'href="https://harbour.example/map/"' in ferry.body_html
    assert "https://harbour.example/news/2026/11/ferry-timetable.html" in ferry.body_html
    assert ferry.published == datetime(2026, 11, 26, 7, 30, tzinfo=UTC)  # +01:00 in the feed
    assert ferry.language == "en"  # the feed's xml:lang
    assert pier.language == "ar" and pier.direction == "rtl"  # the entry's own xml:lang


def test_json_feed_1_1_items_with_html_and_with_text() -> None:
    hours, sale = read("jsonfeed-1.1.json", "https://library.example/feed.json").items
    assert hours.category == Category("culture", "Culture")
    assert 'href="https://library.example/hours"' in hours.body_html
    assert hours.source == "Library desk" and hours.language == "en"
    assert sale.paragraphs[:2] == (
        "Hundreds of books at one coin each.",
        "Proceeds go to the reading room.",
    )
    assert sale.language == "en-GB"
    assert sale.published == datetime(2026, 11, 25, 13, 0, tzinfo=UTC)


def test_json_feed_1_0_is_read_too() -> None:
    data = (
        b'{"version": "https://jsonfeed.org/version/1", "title": "Old", "items": '
        b'[{"id": "1", "content_text": "Hello.", "author": {"name": "Desk"}}]}'
    )
    parsed = parse_feed(data, "https://old.example/feed.json", "application/json")
    assert parsed.format == "json1" and parsed.entries[0].author == "Desk"


def test_rss_091_in_latin_1_with_html_entities_and_no_dates() -> None:
    cafe, cod = read("rss-0.91.xml", "http://coop.example/rss.xml").items
    assert cafe.title == "Café on the quay opens"
    assert "Price: 3 £." in cafe.paragraphs[0]
    assert cod.title == "Catch report: cod and éperlan"
    assert cafe.published == NOW  # no date: the time it was first seen
    assert cafe.language == "en-gb"


def test_entries_without_id_fall_back_to_link_then_to_title_and_date() -> None:
    result = read("quirks-rss2.xml", "https://sports.example/rss")
    regatta, bar, first = result.items
    again = read("quirks-rss2.xml", "https://sports.example/rss")
    assert [item.id for item in again.items] == [regatta.id, bar.id, first.id]
    assert bar.title.startswith("No link, no id, no date")


def test_a_duplicate_id_keeps_the_first_entry_and_reports_the_second() -> None:
    result = read("quirks-rss2.xml", "https://sports.example/rss")
    assert [item.title for item in result.items][-1] == "First with this id"
    [duplicate] = [p for p in result.problems if p.skipped]
    assert duplicate.file == "https://sports.example/rss"
    assert "entry 4" in duplicate.message and "same id as entry 3" in duplicate.message


def test_a_wrong_charset_header_does_not_garble_utf_8() -> None:
    data = '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Ünïcode'
    data += "</title><item><title>Café résumé</title><guid>a</guid></item></channel></rss>"
    parsed = parse_feed(data.encode(), "https://x.example/", "text/xml; charset=iso-8859-1")
    assert parsed.title == "Ünïcode" and parsed.entries[0].title == "Café résumé"
    assert parsed.notes == ("declared as iso-8859-1 but its bytes are UTF-8: read as UTF-8",)


def test_bytes_invalid_in_every_declared_charset_are_read_as_windows_1252() -> None:
    text, note = decode_feed(b'<?xml version="1.0" encoding="utf-8"?><a>caf\xe9 \x93q\x94</a>', "")
    assert "café “q”" in text and note is not None and "Windows-1252" in note


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title></item></channel></rss>
"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>x</title><item><title>&secret;</title></item></channel></rss>
"""


@pytest.mark.parametrize("document", [BILLION_LAUGHS, XXE], ids=["billion-laughs", "xxe"])
def test_entity_declarations_are_refused_before_feedparser_sees_them(document: bytes) -> None:
    with pytest.raises(FeedFormatError, match="declares entities") as refused:
        parse_feed(document, "https://evil.example/feed", "application/rss+xml")
    assert "billion-laughs or XXE" in refused.value.hint


def test_a_malformed_document_that_declares_entities_is_refused_too() -> None:
    # "--" inside a comment: expat stops there, before it reaches the entity declarations.
    broken = BILLION_LAUGHS.replace(
        b'<?xml version="1.0"?>', b'<?xml version="1.0"?><!-- a -- b -->'
    )
    with pytest.raises(FeedFormatError, match="not well-formed and declares entities"):
        parse_feed(broken, "https://evil.example/feed", "")


def test_an_html_page_is_refused_with_the_feed_it_names() -> None:
    page = (
        b"<!DOCTYPE html><html><head><title>Gazette</title>"
        b'<link rel="alternate" type="application/rss+xml" href="/feed/"></head>'
        b"<body><p>News</p></body></html>"
    )
    with pytest.raises(FeedFormatError) as refused:
        parse_feed(page, "https://gazette.example/news/", "text/html; charset=utf-8")
    assert "an HTML page, not a feed" in refused.value.message
    assert "https://gazette.example/feed/" in refused.value.message


def test_the_category_map_then_known_categories_then_the_default() -> None:
    source = FeedSource(
        "gazette",
        "https://gazette.example/feed/",
        categories=(("transport", "Local News"),),
        category="Briefs",
    )
    bridge, council = read("wordpress-rss2.xml", source.url, source=source).items
    assert bridge.category == LOCAL  # its second category, Transport, is in the map
    assert council.category == Category("briefs", "Briefs")  # Politics: the default


def test_without_a_default_an_entry_keeps_its_own_category_else_the_source_name() -> None:
    bridge, _ = read("wordpress-rss2.xml", "https://gazette.example/feed/").items
    assert bridge.category == Category("local", "Local")
    cafe = read("rss-0.91.xml", "http://coop.example/rss.xml").items[0]
    assert cafe.category == Category("up", "up")


def test_the_configured_language_is_used_when_neither_feed_nor_entry_says() -> None:
    bar = read("quirks-rss2.xml", "https://sports.example/rss").items[1]
    assert bar.language == "de"  # SETTINGS: the source's language in config.yaml


def test_an_updated_date_later_than_published_is_kept_as_the_edit() -> None:
    ferry = read("atom-xhtml.xml", "https://harbour.example/news/feed.atom").items[0]
    assert ferry.updated == ferry.published + timedelta(minutes=30)
