"""Every feed bulletin writes passes the validators: W3C rules, RFC 4287, JSON Feed 1.1.

The items are the ones that break careless generators (builders.edge_case_items), on an
English and on an Arabic site. The second half shows that each validator rule used here does
catch what it names, so a clean result means something.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import feedparser
import lxml.html
import pytest
from lxml import etree

from builders import ARABIC, LOCAL, WORLD, edge_case_items, make_item, make_site
from bulletin.feeds import FORMATS, FeedSpec, build_files, plan_feeds, prepare_entry
from bulletin.feeds.times import shown_entries
from bulletin.model import Site
from feedcheck import (
    check_atom,
    check_atom_schema,
    check_json_feed,
    check_rss,
    html_events,
    looks_like_html,
)

SITES = {"en": make_site("en"), "ar": make_site("ar", title="النشرة اليومية")}
LIMIT = 50


def built(site: Site) -> dict[tuple[str, str], bytes]:
    """Every file of every feed of the edge-case items, by (slug, format)."""
    entries = [prepare_entry(site, item) for item in edge_case_items()]
    files = {}
    for spec in plan_feeds(site, [LOCAL, WORLD, ARABIC]):
        mine = [e for e in entries if spec.category is None or e.category_term == spec.slug]
        for fmt, data in build_files(spec, mine, LIMIT).files.items():
            files[(spec.slug, fmt)] = data
    return files


def same_html(one: str, other: str) -> bool:
    """Whether two HTML fragments are the same tree (feedparser re-serialises what it reads)."""

    def canonical(html: str) -> bytes:
        return etree.tostring(
            lxml.html.fragment_fromstring(html, create_parent="div"), method="c14n"
        )

    return canonical(one) == canonical(other)


def spec_of(site: Site, slug: str) -> FeedSpec:
    return {s.slug: s for s in plan_feeds(site, [LOCAL, WORLD, ARABIC])}[slug]


CASES = [
    (language, slug, fmt)
    for language in SITES
    for slug in ("all", "local-news", "world", "arabic-news")
    for fmt in FORMATS
]


@pytest.fixture(scope="module")
def files() -> dict[str, dict[tuple[str, str], bytes]]:
    return {language: built(site) for language, site in SITES.items()}


@pytest.mark.parametrize(("language", "slug", "fmt"), CASES)
def test_every_feed_has_no_errors_or_warnings(
    files: dict[str, dict[tuple[str, str], bytes]], language: str, slug: str, fmt: str
) -> None:
    site = SITES[language]
    data = files[language][(slug, fmt)]
    url = spec_of(site, slug).url(fmt)
    if fmt == "rss":
        assert [str(e) for e in check_rss(data, url)] == []
    elif fmt == "atom":
        assert [str(e) for e in check_atom(data, url)] == []
        assert check_atom_schema(data) == []
    else:
        assert check_json_feed(data, url) == []


@pytest.mark.parametrize(("language", "slug", "fmt"), [c for c in CASES if c[2] != "json"])
def test_feedparser_reads_every_feed_and_every_field_round_trips(
    files: dict[str, dict[tuple[str, str], bytes]], language: str, slug: str, fmt: str
) -> None:
    site = SITES[language]
    parsed = feedparser.parse(files[language][(slug, fmt)])
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.feed.language == site.language
    expected = {
        e.id: e
        for e in (prepare_entry(site, item) for item in edge_case_items())
        if slug == "all" or e.category_term == slug
    }
    assert [entry.id for entry in parsed.entries] == sorted(
        expected, key=lambda i: expected[i].sort_key
    )
    # Items sharing a second are shown a few seconds apart (feeds.times): the times to expect.
    shown = {e.id: e for e in shown_entries(sorted(expected.values(), key=lambda e: e.sort_key))}
    for entry in parsed.entries:
        want = expected[entry.id]
        assert entry.title == want.title
        assert entry.link == want.link
        assert same_html(entry.content[0].value, want.html)
        assert entry.content[0].type == "text/html"
        assert entry.published_parsed[:6] == shown[entry.id].published.timetuple()[:6]
        assert timedelta(0) <= shown[entry.id].published - want.published < timedelta(minutes=1)
        assert entry.author == want.author
        if fmt == "atom":
            assert entry.summary == want.summary
            assert entry.updated_parsed[:6] == shown[entry.id].updated.timetuple()[:6]
            assert entry.title_detail.language == want.language


@pytest.mark.parametrize("language", SITES)
def test_json_feeds_round_trip_every_field(
    files: dict[str, dict[tuple[str, str], bytes]], language: str
) -> None:
    site = SITES[language]
    feed = json.loads(files[language][("all", "json")])
    entries = shown_entries(
        sorted((prepare_entry(site, item) for item in edge_case_items()), key=lambda e: e.sort_key)
    )
    assert [item["id"] for item in feed["items"]] == [e.id for e in entries]
    for item, entry in zip(feed["items"], entries, strict=True):
        assert item["title"] == entry.title and item["content_html"] == entry.html
        assert item["date_published"] == entry.published.isoformat()
        assert item.get("language", site.language) == entry.language


def test_edge_cases_come_out_as_a_reader_expects(
    files: dict[str, dict[tuple[str, str], bytes]],
) -> None:
    entries = {
        e.id.rsplit(":", 1)[1]: e for e in feedparser.parse(files["en"][("all", "atom")]).entries
    }
    assert entries["markup"].title == "Winter timetable starts Monday & runs until March"
    assert entries["amp"].title == "Fish & Chips, AT&T & R&D: Q&A & more"
    assert entries["ctrl"].title == "Bell rings twice"
    assert (
        entries["untitled"].title == "Power is back in the old town 🎉 after a night without light."
    )
    assert entries["emoji"].title == "Harbour reopens 🚢🎉 after the storm"
    assert entries["ar"].title_detail.language == "ar"
    assert entries["summary-markup"].summary == 'Notices read "Winter & more".'
    risky = entries["risky"].content[0].value
    assert 'href="https://news.example.org/budget/2027"' in risky
    assert 'src="https://news.example.org/img/map.png"' in risky
    assert 'href="https://news.example.org/#note"' in risky
    for gone in ("onclick", "javascript:", "<script", "<style", "<iframe", "style="):
        assert gone not in risky
    assert len(files["en"][("all", "atom")]) < 1_000_000  # far below the validator's 5 MB limit


# --- the validators catch what they name ------------------------------------------------------

SPEC = plan_feeds(SITES["en"], [LOCAL])[1]
GOOD = {
    fmt: build_files(SPEC, [prepare_entry(SITES["en"], make_item("a1", 9))], LIMIT).files[fmt]
    for fmt in FORMATS
}


def broken(fmt: str, old: str, new: str) -> bytes:
    data = GOOD[fmt].decode()
    assert old in data, old
    return data.replace(old, new, 1).encode()


RSS_BREAKAGES = [
    (
        "MissingAtomSelfLink",
        '<atom:link href="https://news.example.org/local-news.rss" rel="self"',
        "<x",
    ),
    ("SelfDoesntMatchLocation", 'local-news.rss" rel="self"', 'local-news.atom" rel="self"'),
    ("InvalidPermalink", 'isPermaLink="false"', 'isPermaLink="true"'),
    ("MissingGuid", '<guid isPermaLink="false">tag:news.example.org,2024-03-01:a1</guid>', ""),
    (
        "InvalidRFC2822Date",
        "<pubDate>Fri, 01 Mar 2024 09:00:00 +0000",
        "<pubDate>2024-03-01T09:00:00Z",
    ),
    ("ImplausibleDate", "<pubDate>Fri, 01 Mar 2024", "<pubDate>Fri, 01 Mar 2099"),
    ("ContainsHTML", "<title>Item a1</title>", "<title>Item &lt;b&gt;a1&lt;/b&gt;</title>"),
    ("ContainsHTML", "<title>Item a1</title>", "<title>Fish &amp;amp; chips</title>"),
    ("SecurityRisk", "&lt;p&gt;A first", "&lt;script&gt;x()&lt;/script&gt;&lt;p&gt;A first"),
    ("SecurityRisk", "&lt;p&gt;A first", '&lt;p onclick="x()"&gt;A first'),
    ("ContainsRelRef", "&lt;p&gt;A first", '&lt;a href="/x"&gt;x&lt;/a&gt;&lt;p&gt;A first'),
    ("NotHtml", "&lt;p&gt;A first", "&lt;blink&gt;&lt;p&gt;A first"),
    ("BadCharacters", "<title>Item a1", "<title>Item \u0085a1"),
    ("InvalidContact", "<dc:creator>City desk</dc:creator>", "<author>City desk</author>"),
    ("InvalidLanguage", "<language>en</language>", "<language>english!</language>"),
    ("InvalidFullLink", "<link>https://news.example.org/</link>", "<link>/</link>"),
]
ATOM_BREAKAGES = [
    ("MissingSelf", '<link href="https://news.example.org/local-news.atom" rel="self"', "<x"),
    ("MissingElement", "<updated>2024-03-01T09:00:00+00:00</updated>\n    <author>", "<author>"),
    ("InvalidRFC3339Date", "<published>2024-03-01T09:00:00+00:00", "<published>2024-03-01 09:00"),
    (
        "ContainsUndeclaredHTML",
        "<title>Item a1</title>",
        "<title>Item &lt;b&gt;a1&lt;/b&gt;</title>",
    ),
    ("ContainsUndeclaredHTML", '<content type="html">', "<content>"),
    ("InvalidMIMEType", '<content type="html">', '<content type="CDATA">'),
    ("DuplicateAtomLink", "<summary>", '<link href="https://news.example.org/a.mp3"/><summary>'),
    ("InvalidTAG", "tag:news.example.org,2024-03-01:a1", "tag:News.Example.org,2024-03-01:a 1"),
    ("NotBlank", "<title>Item a1</title>", "<title></title>"),
    (
        "SecurityRisk",
        "&lt;p&gt;A first",
        '&lt;iframe src="https://x.example/"&gt;&lt;/iframe&gt;&lt;p&gt;A first',
    ),
    (
        "AvoidNamespacePrefix",
        "<generator>bulletin</generator>",
        '<a:generator xmlns:a="http://www.w3.org/2005/Atom">bulletin</a:generator>',
    ),
]


@pytest.mark.parametrize(("event", "old", "new"), RSS_BREAKAGES)
def test_the_rss_rules_catch_what_they_name(event: str, old: str, new: str) -> None:
    found = {e.name for e in check_rss(broken("rss", old, new), SPEC.url("rss"))}
    assert event in found


@pytest.mark.parametrize(("event", "old", "new"), ATOM_BREAKAGES)
def test_the_atom_rules_catch_what_they_name(event: str, old: str, new: str) -> None:
    found = {e.name for e in check_atom(broken("atom", old, new), SPEC.url("atom"))}
    assert event in found


def test_the_rss_rules_catch_duplicate_guids() -> None:
    data = GOOD["rss"].decode()
    start, end = data.index("<item>"), data.index("</item>") + len("</item>")
    doubled = data[:end] + data[start:end] + data[end:]
    assert "DuplicateValue" in {e.name for e in check_rss(doubled.encode(), SPEC.url("rss"))}


def test_the_atom_rules_catch_duplicate_entries_and_a_feed_without_authors() -> None:
    data = GOOD["atom"].decode()
    start, end = data.index("<entry>"), data.index("</entry>") + len("</entry>")
    doubled = data[:end] + data[start:end] + data[end:]
    assert "DuplicateUpdated" in {e.name for e in check_atom(doubled.encode(), SPEC.url("atom"))}
    authorless = data.replace("<author>\n    <name>Daily Bugle</name>\n  </author>", "", 1)
    authorless = authorless.replace("<author>\n      <name>City desk</name>\n    </author>", "")
    names = {e.name for e in check_atom(authorless.encode(), SPEC.url("atom"))}
    assert "MissingElement" in names
    assert any("atom:author" in p for p in check_atom_schema(authorless.encode()))


SCHEMA_BREAKAGES: list[tuple[str, Callable[[str], str]]] = [
    ("no id", lambda d: d.replace("<id>tag:news.example.org,2024-03-01:a1</id>", "", 1)),
    ("CDATA type", lambda d: d.replace('type="html"', 'type="CDATA"', 1)),
    ("bad date", lambda d: d.replace("2024-03-01T09:00:00+00:00", "yesterday", 1)),
    ("unknown element", lambda d: d.replace("<summary>", "<abstract>x</abstract><summary>", 1)),
    ("no content or link", lambda d: _drop_content_and_link(d)),
]


def _drop_content_and_link(data: str) -> str:
    start, end = data.index("<content"), data.index("</content>") + len("</content>")
    data = data[:start] + data[end:]
    start = data.index('<link href="https://news.example.org/digests')
    return data[:start] + data[data.index("/>", start) + 2 :]


@pytest.mark.parametrize(("name", "breaks"), SCHEMA_BREAKAGES)
def test_the_rfc4287_grammar_and_rules_catch_broken_atom(
    name: str, breaks: Callable[[str], str]
) -> None:
    assert check_atom_schema(breaks(GOOD["atom"].decode()).encode()) != []


JSON_BREAKAGES: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("version", lambda f: f.update(version="https://jsonfeed.org/version/1")),
    ("title", lambda f: f.pop("title")),
    ("items", lambda f: f.update(items={})),
    ("id", lambda f: f["items"][0].pop("id")),
    ("content_html", lambda f: f["items"][0].pop("content_html")),
    ("date_published", lambda f: f["items"][0].update(date_published="1 March 2024")),
    ("unknown member", lambda f: f.update(generator="bulletin")),
    ("authors", lambda f: f.update(authors=[{}])),
    ("feed_url", lambda f: f.update(feed_url="local-news.json")),
    ("tags", lambda f: f["items"][0].update(tags=[1])),
]


@pytest.mark.parametrize(("name", "breaks"), JSON_BREAKAGES)
def test_the_json_feed_rules_catch_broken_feeds(
    name: str, breaks: Callable[[dict[str, Any]], None]
) -> None:
    feed = json.loads(GOOD["json"])
    breaks(feed)
    assert check_json_feed(json.dumps(feed).encode(), SPEC.url("json")) != []


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        ("Fish & Chips", False),
        ("AT&T and R&D", False),
        ("1 < 2 > 0", False),
        ("<b>bold</b>", True),
        ("Fish &amp; Chips", True),
        ("Tom &amp Jerry", True),
        ("&#38;", True),
    ],
)
def test_the_plain_text_rule_flags_markup_and_references(text: str, flagged: bool) -> None:
    assert (looks_like_html(text) is not None) == flagged


def test_the_html_rules_accept_everything_the_sanitiser_lets_through() -> None:
    html = (
        '<h2 lang="fr" dir="ltr" title="t">x</h2><p><a href="https://x.example/" hreflang="en">'
        'a</a> <abbr title="t">A</abbr> <img src="https://x.example/i.png" alt="i" width="1" '
        'height="1"><br><q cite="https://x.example/">q</q></p><table><caption>c</caption><thead>'
        '<tr><th scope="col" colspan="1">h</th></tr></thead><tbody><tr><td rowspan="1">d</td>'
        "</tr></tbody><tfoot><tr><td>f</td></tr></tfoot></table><dl><dt>t</dt><dd>d</dd></dl>"
        "<pre><code>c</code></pre><blockquote>b</blockquote><hr><ul><li>l</li></ul><ol><li>o"
        "</li></ol><del>d</del><ins>i</ins><s>s</s><small>s</small><sub>s</sub><sup>s</sup>"
        "<u>u</u><i>i</i><b>b</b><em>e</em><strong>s</strong><cite>c</cite><span>s</span>"
        "<div>d</div><h3>3</h3><h4>4</h4><h5>5</h5><h6>6</h6>"
    )
    item = make_item("all-tags").with_updates(body_html=html)
    entry = prepare_entry(SITES["en"], item)
    assert entry.html == html  # nothing of it is dropped...
    assert html_events(entry.html, "content") == []  # ...and the validator accepts all of it
