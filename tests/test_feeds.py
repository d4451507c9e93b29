"""Feeds: what readers see in RSS and Atom, and that the bytes depend on the items alone."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime

import feedparser
import pytest
from lxml import etree

from bulletin.errors import PublishError
from bulletin.feeds import FORMATS, FeedSpec, build_feed, plan_feeds
from bulletin.model import Category, Item
from helpers_stages import ARABIC, DAY, LOCAL, WORLD, arabic_item, make_item, make_site

ATOM = "{http://www.w3.org/2005/Atom}"
SITE = make_site()


def all_spec() -> FeedSpec:
    return plan_feeds(SITE, [LOCAL])[0]


def sample_items() -> list[Item]:
    return [make_item("a1", 9), make_item("b2", 11, category=WORLD), arabic_item("c3", 10)]


# --- planning ------------------------------------------------------------------------------


def test_plan_has_the_all_feed_first_then_one_per_category() -> None:
    specs = plan_feeds(SITE, [LOCAL, WORLD])
    assert [s.slug for s in specs] == ["all", "local-news", "world"]
    assert specs[0].category is None and specs[0].title == "Daily Bugle"
    assert specs[1].category == LOCAL and specs[1].title == "Daily Bugle: Local News"
    assert [specs[1].path(fmt) for fmt in FORMATS] == ["local-news.rss", "local-news.atom"]


def test_plan_lists_a_category_given_twice_once() -> None:
    assert [s.slug for s in plan_feeds(SITE, [LOCAL, LOCAL])] == ["all", "local-news"]


def test_two_categories_sharing_a_slug_are_refused() -> None:
    with pytest.raises(PublishError, match='share the slug "local-news"'):
        plan_feeds(SITE, [LOCAL, Category("local-news", "Local")])


@pytest.mark.parametrize("slug", ["all", "../etc", "a/b", "", "news.atom"])
def test_slugs_unusable_as_feed_files_are_refused(slug: str) -> None:
    with pytest.raises(PublishError):
        plan_feeds(SITE, [Category(slug, "Odd")])


def test_unknown_format_is_refused() -> None:
    with pytest.raises(PublishError, match="unknown feed format"):
        build_feed(all_spec(), [], "json")


# --- what a reader sees ----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_feedparser_reads_titles_ids_dates_content_and_language(fmt: str) -> None:
    parsed = feedparser.parse(build_feed(all_spec(), sample_items(), fmt))
    assert parsed.bozo == 0
    assert parsed.feed.title == "Daily Bugle"
    assert parsed.feed.language == "en"
    entry = {e.id: e for e in parsed.entries}["tag:news.example.org,2024-03-01:a1"]
    assert entry.title == "Item a1"
    assert entry.published_parsed[:5] == (2024, 3, 1, 9, 0)
    assert entry.content[0].value == "<p>A first paragraph.</p><p>A second one.</p>"
    assert entry.summary == "A first paragraph."
    assert entry.link == "https://news.example.org/digests/2024-03-01.html#item-a1"
    if fmt == "atom":
        assert entry.updated_parsed[:5] == (2024, 3, 1, 9, 0)
        assert entry.author == "City desk"
        assert entry.tags[0].term == "local-news" and entry.tags[0].label == "Local News"
    else:
        assert entry.guidislink is False
        assert entry.tags[0].term == "Local News"


@pytest.mark.parametrize("fmt", FORMATS)
def test_entries_are_newest_first_with_equal_times_ordered_by_id(fmt: str) -> None:
    items = [make_item("b", 9), make_item("old", 7), make_item("a", 9), make_item("new", 12)]
    parsed = feedparser.parse(build_feed(all_spec(), items, fmt))
    ids = [e.id.rsplit(":", 1)[1] for e in parsed.entries]
    assert ids == ["new", "a", "b", "old"]


def test_rss_channel_link_is_the_site_not_the_feed() -> None:
    channel = etree.fromstring(build_feed(all_spec(), sample_items(), "rss")).find("channel")
    assert channel.findtext("link") == "https://news.example.org/"


@pytest.mark.parametrize(
    ("fmt", "media_type"), [("rss", "application/rss+xml"), ("atom", "application/atom+xml")]
)
def test_each_format_links_to_itself(fmt: str, media_type: str) -> None:
    spec = plan_feeds(SITE, [LOCAL])[1]
    parsed = feedparser.parse(build_feed(spec, sample_items(), fmt))
    selves = [link for link in parsed.feed.links if link.rel == "self"]
    assert selves == [
        {"rel": "self", "href": f"https://news.example.org/local-news.{fmt}", "type": media_type}
    ]


def test_generator_names_bulletin_without_a_version() -> None:
    for fmt in FORMATS:
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


def test_feed_is_dated_by_its_newest_edit_and_an_empty_one_by_the_epoch() -> None:
    edited = make_item("e", 8, updated=datetime(2024, 3, 2, 6, 30, 0, 123456, tzinfo=UTC))
    atom = feedparser.parse(build_feed(all_spec(), [make_item("a", 9), edited], "atom"))
    assert atom.feed.updated == "2024-03-02T06:30:00+00:00"
    rss = feedparser.parse(build_feed(all_spec(), [], "rss"))
    assert rss.feed.updated == "Thu, 01 Jan 1970 00:00:00 +0000"
    assert feedparser.parse(build_feed(all_spec(), [], "atom")).feed.updated.startswith("1970")


def test_an_edit_dated_before_publication_does_not_move_the_entry_back() -> None:
    item = make_item("x", 9, updated=datetime(2024, 2, 1, tzinfo=UTC))
    entry = feedparser.parse(build_feed(all_spec(), [item], "atom")).entries[0]
    assert entry.updated == entry.published == "2024-03-01T09:00:00+00:00"


# --- awkward items ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
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


def test_naive_edit_time_is_a_publish_error_not_a_crash() -> None:
    item = make_item("n", updated=datetime(2024, 3, 1, 10))
    with pytest.raises(PublishError, match="naive"):
        build_feed(all_spec(), [item], "atom")


def test_tag_uri_uses_the_site_domain_and_the_item_day() -> None:
    parsed = feedparser.parse(build_feed(all_spec(), [make_item("z9")], "rss"))
    assert parsed.entries[0].id == f"tag:news.example.org,{DAY.isoformat()}:z9"
