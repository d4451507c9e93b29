"""The lists of feeds: index.opml for readers and index.html for people."""

from __future__ import annotations

from xml.etree import ElementTree

from builders import ARABIC, LOCAL, WORLD, make_site
from bulletin.feeds import FORMATS, FeedPaths, plan_feeds, render_index_page, render_opml
from feedcheck import check_index_html, check_opml

SITE = make_site()


def test_the_opml_list_holds_every_feed_once_in_atom() -> None:
    data = render_opml(plan_feeds(SITE, [LOCAL, WORLD, ARABIC]))
    assert check_opml(data) == []
    outlines = ElementTree.fromstring(data).findall("body/outline")
    assert [o.get("xmlUrl") for o in outlines] == [
        "https://news.example.org/all.atom",
        "https://news.example.org/local-news.atom",
        "https://news.example.org/world.atom",
        "https://news.example.org/arabic-news.atom",
    ]
    assert outlines[3].get("text") == "Daily Bugle: أخبار"
    assert {o.get("type") for o in outlines} == {"rss"}  # OPML 2.0's word for any feed


def test_the_index_page_links_every_format_of_every_feed_and_says_how_to_subscribe() -> None:
    specs = plan_feeds(SITE, [LOCAL, ARABIC])
    page = render_index_page(specs, 50).decode()
    existing = {spec.path(fmt) for spec in specs for fmt in FORMATS} | {"index.opml"}
    assert check_index_html(page.encode(), "index.html", existing) == []
    assert "copy its address into your feed reader" in page
    assert '<h2 id="feed-arabic-news"><bdi lang="en">أخبار</bdi></h2>' in page
    for spec in specs:
        for fmt in FORMATS:
            assert f'href="{spec.path(fmt)}"' in page
            assert f"<code>{spec.url(fmt)}</code>" in page
    assert '<link rel="alternate" type="application/atom+xml"' in page  # autodiscovery


def test_links_from_an_index_page_in_a_subfolder_still_reach_the_feeds() -> None:
    paths = FeedPaths(rss="rss/{slug}.xml", opml="lists/feeds.opml", index="lists/index.html")
    specs = plan_feeds(SITE, [LOCAL], paths)
    page = render_index_page(specs, 50)
    existing = {spec.path(fmt) for spec in specs for fmt in FORMATS} | {"lists/feeds.opml"}
    assert check_index_html(page, "lists/index.html", existing) == []
    assert b'href="../rss/local-news.xml"' in page and b'href="feeds.opml"' in page


def test_the_index_page_checker_catches_broken_pages() -> None:
    good = render_index_page(plan_feeds(SITE, [LOCAL]), 50)
    existing = {"all.rss", "all.atom", "all.json", "index.opml"}
    assert check_index_html(good.replace(b"</ul>", b"</ol>", 1), "index.html", existing)
    assert check_index_html(good.replace(b' lang="en"', b"", 1), "index.html", existing)
    assert check_index_html(good, "index.html", existing - {"all.json"})
