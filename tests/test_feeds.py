"""Feeds: what readers see in RSS, Atom and JSON Feed, and that the bytes depend on the items."""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime
from typing import Any

import feedparser
import pytest
from lxml import etree

from builders import ARABIC, DAY, LOCAL, WORLD, arabic_item, make_item, make_site
from bulletin.errors import PublishError
from bulletin.feeds import (
    FORMATS,
    Chunks,
    FeedPaths,
    FeedSpec,
    build_feed,
    build_files,
    plan_feeds,
    prepare_entry,
)
from bulletin.model import Category, Item

ATOM = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
XML_FORMATS = ("rss", "atom")
SITE = make_site()


def all_spec() -> FeedSpec:
    return plan_feeds(SITE, [LOCAL])[0]


def sample_items() -> list[Item]:
    return [make_item("a1", 9), make_item("b2", 11, category=WORLD), arabic_item("c3", 10)]


def json_feed(data: bytes) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(data)
    return parsed


# --- planning ------------------------------------------------------------------------------


def test_plan_has_the_all_feed_first_then_one_per_category() -> None:
    specs = plan_feeds(SITE, [LOCAL, WORLD])
    assert [s.slug for s in specs] == ["all", "local-news", "world"]
    assert specs[0].category is None and specs[0].title == "Daily Bugle"
    assert specs[1].category == LOCAL and specs[1].title == "Daily Bugle: Local News"
    assert [specs[1].path(fmt) for fmt in FORMATS] == [
        "local-news.rss",
        "local-news.atom",
        "local-news.json",
    ]


def test_paths_follow_the_configured_templates() -> None:
    paths = FeedPaths(rss="rss/{slug}.xml", atom="{slug}.atom.xml", json="json/{slug}.json")
    spec = plan_feeds(SITE, [LOCAL], paths)[1]
    assert [spec.path(fmt) for fmt in FORMATS] == [
        "rss/local-news.xml",
        "local-news.atom.xml",
        "json/local-news.json",
    ]
    assert spec.url("rss") == "https://news.example.org/rss/local-news.xml"


def test_plan_lists_a_category_given_twice_once() -> None:
    assert [s.slug for s in plan_feeds(SITE, [LOCAL, LOCAL])] == ["all", "local-news"]


def test_two_categories_sharing_a_slug_are_refused() -> None:
    with pytest.raises(PublishError, match='share the slug "local-news"'):
        plan_feeds(SITE, [LOCAL, Category("local-news", "Local")])


def test_templates_that_make_two_feeds_share_a_file_are_refused() -> None:
    paths = FeedPaths(rss="{slug}.xml", atom="feed-{slug}.xml")
    with pytest.raises(PublishError, match=r'"feed-x\.xml"'):
        plan_feeds(SITE, [Category("x", "X"), Category("feed-x", "Feed X")], paths)


def test_a_feed_may_not_take_the_index_page_path() -> None:
    with pytest.raises(PublishError, match="index page"):
        plan_feeds(SITE, [Category("index", "Index")], FeedPaths(rss="{slug}.html"))


@pytest.mark.parametrize("slug", ["all", "../etc", "a/b", "", "news.atom"])
def test_slugs_unusable_as_feed_files_are_refused(slug: str) -> None:
    with pytest.raises(PublishError):
        plan_feeds(SITE, [Category(slug, "Odd")])


def test_unknown_format_is_refused() -> None:
    with pytest.raises(PublishError, match="unknown feed format"):
        build_feed(all_spec(), [], "xml")


# --- what a reader sees ----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", XML_FORMATS)
def test_feedparser_reads_titles_ids_dates_content_and_language(fmt: str) -> None:
    parsed = feedparser.parse(build_feed(all_spec(), sample_items(), fmt))
    assert parsed.bozo == 0
    assert parsed.feed.title == "Daily Bugle"
    assert parsed.feed.language == "en"
    entry = {e.id: e for e in parsed.entries}["tag:news.example.org,2024-03-01:a1"]
    assert entry.title == "Item a1"
    assert entry.published_parsed[:5] == (2024, 3, 1, 9, 0)
    assert entry.content[0].value == "<p>A first paragraph.</p><p>A second one.</p>"
    assert entry.content[0].type == "text/html"
    assert entry.summary == "A first paragraph."
    assert entry.link == "https://news.example.org/digests/2024-03-01.html#item-a1"
    assert entry.author == "City desk"
    if fmt == "atom":
        assert entry.updated_parsed[:5] == (2024, 3, 1, 9, 0)
        assert entry.tags[0].term == "local-news" and entry.tags[0].label == "Local News"
    else:
        assert entry.guidislink is False
        assert entry.tags[0].term == "Local News"


def test_json_feed_holds_the_same_items_with_their_fields() -> None:
    feed = json_feed(build_feed(all_spec(), sample_items(), "json"))
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["feed_url"] == "https://news.example.org/all.json"
    assert feed["home_page_url"] == "https://news.example.org/"
    assert feed["language"] == "en"
    item = {i["id"]: i for i in feed["items"]}["tag:news.example.org,2024-03-01:a1"]
    assert item == {
        "id": "tag:news.example.org,2024-03-01:a1",
        "url": "https://news.example.org/digests/2024-03-01.html#item-a1",
        "title": "Item a1",
        "content_html": "<p>A first paragraph.</p><p>A second one.</p>",
        "summary": "A first paragraph.",
        "date_published": "2024-03-01T09:00:00+00:00",
        "date_modified": "2024-03-01T09:00:00+00:00",
        "authors": [{"name": "City desk"}],
        "tags": ["Local News"],
    }


def test_json_feed_is_indented_sorted_in_a_fixed_order_and_ends_with_a_newline() -> None:
    data = build_feed(all_spec(), sample_items(), "json")
    assert data.endswith(b"\n  ]\n}\n")
    assert list(json_feed(data)) == [
        "version",
        "title",
        "home_page_url",
        "feed_url",
        "description",
        "language",
        "authors",
        "items",
    ]
    assert "افتتاح".encode() in data  # ensure_ascii=False: readable UTF-8, not \\u escapes


@pytest.mark.parametrize("fmt", FORMATS)
def test_entries_are_newest_first_with_equal_times_ordered_by_id(fmt: str) -> None:
    items = [make_item("b", 9), make_item("old", 7), make_item("a", 9), make_item("new", 12)]
    data = build_feed(all_spec(), items, fmt)
    ids = (
        [i["id"] for i in json_feed(data)["items"]]
        if fmt == "json"
        else [e.id for e in feedparser.parse(data).entries]
    )
    assert [i.rsplit(":", 1)[1] for i in ids] == ["new", "a", "b", "old"]


def test_a_feed_holds_only_the_newest_items_up_to_its_limit() -> None:
    items = [make_item(f"i{hour}", hour) for hour in range(10)]
    parsed = feedparser.parse(build_feed(all_spec(), items, "atom", limit=3))
    assert [e.id.rsplit(":", 1)[1] for e in parsed.entries] == ["i9", "i8", "i7"]


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [("rss", "application/rss+xml"), ("atom", "application/atom+xml")],
)
def test_each_format_links_to_itself(fmt: str, media_type: str) -> None:
    spec = plan_feeds(SITE, [LOCAL])[1]
    parsed = feedparser.parse(build_feed(spec, sample_items(), fmt))
    selves = [link for link in parsed.feed.links if link.rel == "self"]
    assert selves == [
        {"rel": "self", "href": f"https://news.example.org/local-news.{fmt}", "type": media_type}
    ]


def test_feed_id_is_the_same_in_every_format() -> None:
    spec = plan_feeds(SITE, [LOCAL])[1]
    atom = etree.fromstring(build_feed(spec, [], "atom"))
    assert atom.findtext(f"{ATOM}id") == "https://news.example.org/local-news.atom"
    assert json_feed(build_feed(spec, [], "json"))["feed_url"].endswith("local-news.json")


def test_generator_names_bulletin_without_a_version() -> None:
    for fmt in XML_FORMATS:
        parsed = feedparser.parse(build_feed(all_spec(), [], fmt))
        assert parsed.feed.generator == "bulletin"
    atom = etree.fromstring(build_feed(all_spec(), [], "atom"))
    assert atom.find(f"{ATOM}generator").attrib == {}


def test_summary_of_a_long_paragraph_is_a_plain_excerpt() -> None:
    long = " ".join(["word"] * 200)
    item = make_item("long", paragraphs=(long,))
    parsed = feedparser.parse(build_feed(all_spec(), [item], "atom"))
    summary = parsed.entries[0].summary
    assert summary.endswith("…") and len(summary) <= 301
    assert parsed.entries[0].summary_detail.type == "text/plain"


def test_rss_description_is_the_summary_as_html_and_content_the_full_body() -> None:
    item = make_item("amp", paragraphs=("Fish & chips <3 at the pier.", "More."))
    entry = feedparser.parse(build_feed(all_spec(), [item], "rss")).entries[0]
    assert entry.summary == "Fish &amp; chips &lt;3 at the pier."  # HTML that shows the text
    assert entry.content[0].value == "<p>Fish &amp; chips &lt;3 at the pier.</p><p>More.</p>"


# --- determinism -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_items_in_any_order_give_the_same_bytes(fmt: str) -> None:
    items = sample_items()
    shuffled = items[:]
    random.Random(4).shuffle(shuffled)
    assert build_feed(all_spec(), items, fmt) == build_feed(all_spec(), shuffled, fmt)


def test_output_does_not_depend_on_the_clock() -> None:
    first = {fmt: build_feed(all_spec(), sample_items(), fmt) for fmt in FORMATS}
    empty = build_feed(all_spec(), [], "atom")
    time.sleep(1.1)
    assert first == {fmt: build_feed(all_spec(), sample_items(), fmt) for fmt in FORMATS}
    assert empty == build_feed(all_spec(), [], "atom")


def test_feed_is_dated_by_its_newest_edit_and_an_empty_one_by_a_fixed_plausible_day() -> None:
    edited = make_item("e", 8, updated=datetime(2024, 3, 2, 6, 30, 0, 123456, tzinfo=UTC))
    atom = feedparser.parse(build_feed(all_spec(), [make_item("a", 9), edited], "atom"))
    assert atom.feed.updated == "2024-03-02T06:30:00+00:00"
    rss = feedparser.parse(build_feed(all_spec(), [make_item("a", 9), edited], "rss"))
    assert rss.feed.updated == "Sat, 02 Mar 2024 06:30:00 +0000"
    empty = feedparser.parse(build_feed(all_spec(), [], "rss"))
    # 1990, not the epoch: the W3C validator calls any earlier date implausible.
    assert empty.feed.updated == "Mon, 01 Jan 1990 00:00:00 +0000"
    assert feedparser.parse(build_feed(all_spec(), [], "atom")).feed.updated.startswith("1990")


def test_an_edit_dated_before_publication_does_not_move_the_entry_back() -> None:
    item = make_item("x", 9, updated=datetime(2024, 2, 1, tzinfo=UTC))
    entry = feedparser.parse(build_feed(all_spec(), [item], "atom")).entries[0]
    assert entry.updated == entry.published == "2024-03-01T09:00:00+00:00"


def test_an_edited_item_keeps_its_id_and_publication_date() -> None:
    before = make_item("x", 9)
    after = make_item(
        "x", 9, title="Item x, corrected", updated=datetime(2024, 3, 1, 15, tzinfo=UTC)
    )
    old, new = (
        feedparser.parse(build_feed(all_spec(), [i], "atom")).entries[0] for i in (before, after)
    )
    assert (old.id, old.published) == (new.id, new.published)
    assert new.updated == "2024-03-01T15:00:00+00:00" and new.title == "Item x, corrected"


# --- awkward items ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", XML_FORMATS)
def test_untitled_item_with_control_characters_emoji_and_arabic_is_published(fmt: str) -> None:
    untitled = make_item(
        "u1", title="", paragraphs=("Power is back\x0b in the old town 🎉. More at noon.",)
    )
    dirty = make_item("d1", 8, title="Bell\x07 rings 🔔", paragraphs=("Ding\x00.",))
    data = build_feed(all_spec(), [untitled, dirty, arabic_item("ar1", 7)], fmt)
    parsed = feedparser.parse(data)
    assert parsed.bozo == 0
    titles = [e.title for e in parsed.entries]
    assert titles == [
        "Power is back in the old town 🎉.",
        "Bell rings 🔔",
        "افتتاح مكتبة جديدة في المدينة",
    ]
    arabic = parsed.entries[2]
    assert arabic.content[0].value.startswith('<div dir="rtl" lang="ar"><p>افتتحت')
    assert "📚" in arabic.summary
    assert b"\x07" not in data and b"\x0b" not in data and b"\x00" not in data


def test_atom_is_well_formed_and_every_entry_has_an_author() -> None:
    unsourced = make_item("n1", source=None)
    feed = etree.fromstring(build_feed(all_spec(), [*sample_items(), unsourced], "atom"))
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 4
    authors = [e.findtext(f"{ATOM}author/{ATOM}name") for e in entries]
    assert all(authors)
    assert "Daily Bugle" in authors  # the site stands in for an item without a source
    assert feed.findtext(f"{ATOM}author/{ATOM}name") == "Daily Bugle"


def test_arabic_entries_carry_xml_lang_in_atom_and_json_and_rtl_html_everywhere() -> None:
    items = [make_item("en1", 9), arabic_item("ar1", 8)]
    atom = etree.fromstring(build_feed(all_spec(), items, "atom"))
    langs = {
        e.findtext(f"{ATOM}id").rsplit(":", 1)[1]: e.get(XML_LANG)
        for e in atom.iter(f"{ATOM}entry")
    }
    assert langs == {"en1": None, "ar1": "ar"}  # only where it differs from the feed's "en"
    parsed = feedparser.parse(build_feed(all_spec(), items, "atom"))
    arabic = parsed.entries[1]
    assert arabic.title_detail.language == "ar" and arabic.content[0].language == "ar"
    assert parsed.entries[0].title_detail.language == "en"
    feed = json_feed(build_feed(all_spec(), items, "json"))
    assert [i.get("language") for i in feed["items"]] == [None, "ar"]
    for fmt in FORMATS:
        assert b'&lt;div dir="rtl" lang="ar"&gt;' in build_feed(all_spec(), items, fmt) or (
            fmt == "json"
            and '<div dir=\\"rtl\\" lang=\\"ar\\">' in build_feed(all_spec(), items, fmt).decode()
        )


def test_arabic_site_feed_carries_its_language_and_marks_english_items() -> None:
    site = make_site("ar", title="النشرة")
    spec = plan_feeds(site, [ARABIC])[1]
    data = build_feed(spec, [arabic_item("a"), make_item("e", category=ARABIC)], "atom")
    parsed = feedparser.parse(data)
    assert parsed.feed.language == "ar"
    contents = {e.id.rsplit(":", 1)[1]: e.content[0].value for e in parsed.entries}
    # Neither RSS nor Atom can say "right to left", so Arabic HTML always carries dir.
    assert contents["a"].startswith('<div dir="rtl" lang="ar">')
    assert contents["e"].startswith('<div dir="ltr" lang="en">')
    langs = {
        e.findtext(f"{ATOM}id")[-1]: e.get(XML_LANG)
        for e in etree.fromstring(data).iter(f"{ATOM}entry")
    }
    assert langs == {"e": "en", "a": None}


def test_naive_edit_time_is_a_publish_error_not_a_crash() -> None:
    item = make_item("n", updated=datetime(2024, 3, 1, 10))
    with pytest.raises(PublishError, match="naive"):
        build_feed(all_spec(), [item], "atom")


def test_tag_uri_uses_the_site_domain_and_the_item_day() -> None:
    parsed = feedparser.parse(build_feed(all_spec(), [make_item("z9")], "rss"))
    assert parsed.entries[0].id == f"tag:news.example.org,{DAY.isoformat()}:z9"


def test_an_id_with_spaces_becomes_a_valid_tag_uri() -> None:
    parsed = feedparser.parse(build_feed(all_spec(), [make_item("a b/ü")], "atom"))
    assert parsed.entries[0].id == "tag:news.example.org,2024-03-01:a%20b/%C3%BC"


def test_html_looking_titles_become_plain_text() -> None:
    items = [
        make_item("m", 9, title="<b>Winter timetable</b> starts Monday & runs"),
        make_item("e", 8, title="Fish &amp; Chips &amp;amp; more"),
        make_item("l", 7, title="1 < 2 and AT&T"),
    ]
    for fmt in XML_FORMATS:
        titles = [e.title for e in feedparser.parse(build_feed(all_spec(), items, fmt)).entries]
        assert titles == [
            "Winter timetable starts Monday & runs",
            "Fish & Chips & more",
            "1 < 2 and AT&T",
        ]


def test_relative_links_are_made_absolute_against_the_site() -> None:
    item = make_item("r").with_updates(
        body_html='<p><a href="/budget">b</a> <a href="notes/1">n</a> '
        '<img src="map.png" alt="m"></p>'
    )
    content = feedparser.parse(build_feed(all_spec(), [item], "atom")).entries[0].content[0].value
    assert 'href="https://news.example.org/budget"' in content
    assert 'href="https://news.example.org/notes/1"' in content
    assert 'src="https://news.example.org/map.png"' in content


def test_scripts_event_handlers_styles_and_javascript_links_are_removed() -> None:
    item = make_item("x").with_updates(
        body_html='<p onclick="steal()" style="color:red">Hi <a href="javascript:alert(1)">x</a>'
        '<a href="https://ok.example/" onmouseover="x()">ok</a></p><script>steal()</script>'
        '<iframe src="https://evil.example/"></iframe><form><input name="q"></form>'
    )
    for fmt in FORMATS:
        data = build_feed(all_spec(), [item], fmt).decode()
        for bad in ("onclick", "onmouseover", "style=", "javascript:", "script>", "iframe", "form"):
            assert bad not in data, (fmt, bad)
        assert "https://ok.example/" in data


def test_a_very_long_body_is_cut_at_a_paragraph_and_links_to_the_whole_item() -> None:
    paragraphs = tuple(f"Paragraph {n}. " + "word " * 400 for n in range(100))
    item = make_item("big", paragraphs=paragraphs)
    entry = feedparser.parse(build_feed(all_spec(), [item], "atom")).entries[0]
    html = entry.content[0].value
    assert len(html.encode()) < 100 * 1024 + 200
    assert html.endswith(
        '<p><a href="https://news.example.org/digests/2024-03-01.html#item-big">…</a></p>'
    )
    assert html.count("<p>") == html.count("</p>")  # cut between paragraphs


# --- each entry serialised once per build --------------------------------------------------


def test_feeds_sharing_one_build_cache_give_the_bytes_of_separate_builds() -> None:
    entries = [prepare_entry(SITE, item) for item in sample_items()]
    shared = Chunks()
    for spec in plan_feeds(SITE, [LOCAL, WORLD]):
        mine = [e for e in entries if spec.category is None or e.category_term == spec.slug]
        assert build_files(spec, mine, 10, shared).files == build_files(spec, mine, 10).files
    # Each entry went through feedgen and the JSON encoder once, though two feeds hold it.
    assert len(shared.xml) == len(shared.json) == len(entries)


def test_a_build_cache_keeps_sites_of_different_languages_apart() -> None:
    shared = Chunks()
    for site in (SITE, make_site("ar")):
        spec = plan_feeds(site, [LOCAL])[0]
        entries = [prepare_entry(site, item) for item in sample_items()]
        assert build_files(spec, entries, 10, shared).files == build_files(spec, entries, 10).files


@pytest.mark.parametrize("fmt", XML_FORMATS)
def test_rss_description_and_atom_summary_and_content_coexist_on_one_entry(fmt: str) -> None:
    # One FeedGenerator serves both formats: the RSS description (escaped summary) must not
    # leak into Atom's summary or content, nor Atom's into RSS.
    item = make_item("a1", 9, paragraphs=("Fish & <chips> today.", "More."))
    data = build_feed(all_spec(), [item], fmt)
    if fmt == "rss":
        assert b"<description>Fish &amp;amp; &amp;lt;chips&amp;gt; today.</description>" in data
    else:
        # "&" and "<" of plain text as hexadecimal references (the RSS Profile's advice).
        assert b"<summary>Fish &#x26; &#x3C;chips&gt; today.</summary>" in data
        assert b'<content type="html">&lt;p&gt;Fish' in data
