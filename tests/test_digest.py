"""The digest: grouping and order, escaping, RTL, inlined CSS, size budget, text, labels, theming.

Golden files of whole digests are in test_digest_golden.py; real-browser checks in
tests/browser/; the HTML validator and SpamAssassin in test_digest_checks.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import html as lxml_html

from builders import ARABIC, DAY, LOCAL, WORLD, arabic_item, make_item, make_site
from bulletin.digest import (
    KEEP_CSS_LIMIT,
    UNSUBSCRIBE_TOKEN,
    RenderOptions,
    build_digest,
    default_templates_dir,
    html_size,
    labels_for,
    render_archive,
    render_digest,
    render_web_copy,
)
from bulletin.errors import PublishError
from bulletin.model import CategoryIndex, Digest, Item

SITE = make_site()
ORDER = CategoryIndex(known=(WORLD, LOCAL)).order_key
FEEDS = (("All news", "https://news.example.org/all.atom"),)
WITH_FEEDS = RenderOptions(feed_links=FEEDS)
WEB_COPY = "https://news.example.org/digests/2024-03-01.html"
LONG = "The council met on Tuesday to discuss the budget for the coming year. " * 8


def digest_of(*items: Item) -> Digest:
    return build_digest(DAY, list(items), ORDER)


def sample_digest() -> Digest:
    return digest_of(make_item("a1", 9), make_item("b2", 11, category=WORLD), arabic_item("c3"))


def many_items(count: int, paragraphs: int = 3) -> list[Item]:
    categories = (LOCAL, WORLD, ARABIC)
    return [
        make_item(f"i{n:04}", n % 20, category=categories[n % 3], paragraphs=(LONG,) * paragraphs)
        for n in range(count)
    ]


def tree(markup: str) -> lxml_html.HtmlElement:
    return lxml_html.document_fromstring(markup)


def links(markup: str) -> dict[str, str]:
    return {a.text_content(): a.get("href") for a in tree(markup).iter("a")}


# --- grouping --------------------------------------------------------------------------------


def test_sections_follow_the_category_order_and_items_are_newest_first() -> None:
    items = [make_item("old", 7), make_item("w", 8, category=WORLD), make_item("new", 15)]
    items += [arabic_item("ar"), make_item("tie-b", 10), make_item("tie-a", 10)]
    digest = build_digest(DAY, items, ORDER)
    # Configured categories first in their order, then the others by name.
    assert [s.category for s in digest.sections] == [WORLD, LOCAL, ARABIC]
    assert [i.id for i in digest.sections[1].items] == ["new", "tie-a", "tie-b", "old"]
    assert digest.day == DAY
    page = render_digest(digest, SITE).html
    assert re.findall(r'<h2 class="section-title[^>]*>([^<]+)<', page) == [
        "World",
        "Local News",
        "أخبار",
    ]


def test_a_day_without_items_renders_a_short_note() -> None:
    digest = build_digest(DAY, [], ORDER)
    assert digest.is_empty
    rendered = render_digest(digest, SITE)
    assert "Nothing today" in rendered.text
    assert "Nothing today" in tree(rendered.html).text_content()
    assert (
        tree(rendered.html).find_class("preheader")[0].text_content().startswith("Nothing today.")
    )


# --- HTML ------------------------------------------------------------------------------------


def test_arabic_items_carry_dir_and_lang_on_a_div_inside_the_cell() -> None:
    page = tree(render_digest(sample_digest(), SITE).html)
    cell = page.get_element_by_id("item-c3")
    assert cell.tag == "td" and "dir" not in cell.attrib and "lang" not in cell.attrib
    block = cell.find("div")
    assert (block.get("dir"), block.get("lang")) == ("rtl", "ar")
    assert "text-align:right" in block.get("style").replace(" ", "")
    english = page.get_element_by_id("item-a1").find("div")
    assert (english.get("dir"), english.get("lang")) == ("ltr", "en")


def test_markup_in_a_title_is_escaped_in_html_and_left_as_is_in_text() -> None:
    title = '<script>alert("x")</script> & <b>co</b>'
    rendered = render_digest(digest_of(make_item("x", title=title)), SITE)
    assert "<script" not in rendered.html and "<b>co" not in rendered.html
    assert "&lt;script&gt;" in rendered.html
    assert title in rendered.text


def test_item_html_is_the_sanitised_html_the_feeds_carry() -> None:
    item = make_item("x").with_updates(
        body_html='<p>See <a href="https://example.org/a?b=1&amp;c=2">the plan</a>.</p>'
    )
    body = tree(render_digest(digest_of(item), SITE).html).find_class("item-body")[0]
    anchor = body.find(".//a")
    assert anchor.get("href") == "https://example.org/a?b=1&c=2"
    assert anchor.text_content() == "the plan" and "color:#0b5cad" in anchor.get("style")


def test_css_is_inlined_and_the_keep_block_survives_with_its_important_rules() -> None:
    rendered = render_digest(sample_digest(), SITE)
    page = tree(rendered.html)
    styles = page.findall(".//style")
    assert len(styles) == 1 and styles[0].attrib == {}  # the ignore marker is consumed
    assert styles[0].getparent().tag == "head"  # Gmail keeps <style> only in <head>
    kept = styles[0].text
    assert "@media only screen and (max-width: 600px)" in kept
    assert "@media (prefers-color-scheme: dark)" in kept
    assert "padding-left: 16px !important" in kept
    assert "background-color: #0d1117 !important" in kept
    assert "u + #body a" in kept and "[data-ogsc]" in kept  # client fixes no browser matches
    assert "/*" not in kept  # comments are stripped: bytes count against 16 KB
    assert len(kept.encode()) < KEEP_CSS_LIMIT
    title = page.get_element_by_id("item-a1").find(".//h3")
    assert "font-size:21px" in title.get("style").replace(" ", "")
    assert not [style for style in page.xpath("//@style") if "!important" in style]


def test_the_inliner_adds_no_presentational_attributes_to_div_span_or_p() -> None:
    item = make_item("x").with_updates(body_html="<p>One <span>two</span></p>")
    page = tree(render_digest(digest_of(item, arabic_item("ar")), SITE).html)
    presentational = {"align", "valign", "bgcolor", "width", "height"}
    for element in page.iter("div", "span", "p", "h1", "h2", "h3", "a"):
        assert not presentational & set(element.attrib), (element.tag, element.attrib)


def test_no_scripts_or_external_resources_and_layout_tables_are_presentational() -> None:
    rendered = render_digest(sample_digest(), SITE)
    page = tree(rendered.html)
    assert page.findall(".//script") == [] and page.findall(".//link") == []
    assert page.findall(".//img") == [] and "@import" not in rendered.html
    assert "@font-face" not in rendered.html and "var(" not in rendered.html
    tables = page.findall(".//table")
    assert tables and all(t.get("role") == "presentation" for t in tables)
    assert page.get("lang") == "en" and page.get("dir") == "ltr"
    container = page.find_class("container")[0]
    assert container.get("width") == "100%" and "max-width:600px" in container.get("style")
    assert '<table role="presentation" width="600"' in rendered.html  # Outlook's fixed width


def test_preheader_previews_the_first_titles_and_is_hidden() -> None:
    page = tree(render_digest(sample_digest(), SITE).html)
    preheader = page.find_class("preheader")[0]
    assert "display:none" in preheader.get("style") and "mso-hide:all" in preheader.get("style")
    assert preheader.text_content().startswith("Item b2 · Item a1 · افتتاح مكتبة")
    assert page.find(".//body")[0] is preheader  # first in <body>: what inboxes preview


def test_a_long_preheader_is_cut_at_a_word_near_90_characters() -> None:
    items = [
        make_item(f"x{n}", n, title=f"Council approves budget line number {n}") for n in range(5)
    ]
    preheader = tree(render_digest(digest_of(*items), SITE).html).find_class("preheader")[0]
    shown = preheader.text_content().split("\u034f")[0]
    assert shown.endswith("…") and len(shown) <= 91


def test_footer_has_the_unsubscribe_token_the_web_copy_and_feed_links() -> None:
    rendered = render_digest(sample_digest(), SITE, WITH_FEEDS)
    found = links(rendered.html)
    assert found["Unsubscribe"] == UNSUBSCRIBE_TOKEN
    assert found["View this digest in your browser"] == WEB_COPY
    assert found["All news"] == "https://news.example.org/all.atom"
    assert UNSUBSCRIBE_TOKEN in rendered.text
    assert "https://news.example.org/all.atom" in rendered.text


def test_feed_links_are_labelled_without_the_site_name() -> None:
    feeds = (
        ("Daily Bugle", "https://news.example.org/all.atom"),
        ("Daily Bugle: World", "https://news.example.org/world.atom"),
    )
    rendered = render_digest(sample_digest(), SITE, RenderOptions(feed_links=feeds))
    found = links(rendered.html)
    assert found["Everything"] == "https://news.example.org/all.atom"
    assert found["World"] == "https://news.example.org/world.atom"
    assert "World: https://news.example.org/world.atom" in rendered.text


def test_a_title_derived_from_the_text_is_not_shown_twice() -> None:
    item = make_item("d", title="A first paragraph.").with_updates(title_derived=True)
    rendered = render_digest(digest_of(item), SITE)
    assert tree(rendered.html).get_element_by_id("item-d").find(".//h3") is None
    assert rendered.text.count("A first paragraph.") == 1


def test_rendering_twice_gives_the_same_digest() -> None:
    assert render_digest(sample_digest(), SITE) == render_digest(sample_digest(), SITE)


def test_item_anchors_match_the_feed_entry_links() -> None:
    page = render_digest(sample_digest(), SITE).html
    assert re.findall(r'id="(item-[^"]+)"', page) == ["item-b2", "item-a1", "item-c3"]


# --- size budget -----------------------------------------------------------------------------


def test_fifty_short_items_fit_whole_under_the_gmail_clipping_budget() -> None:
    paragraph = "The council met on Tuesday to discuss the budget for the coming year. " * 4
    items = [
        make_item(f"i{n:02}", n % 20, category=(LOCAL, WORLD)[n % 2], paragraphs=(paragraph,) * 2)
        for n in range(50)
    ]
    rendered = render_digest(build_digest(DAY, items, ORDER), SITE, WITH_FEEDS)
    assert rendered.shortened == ""
    assert len(rendered.html.encode()) < 90_000
    assert "Read more" not in rendered.html


def test_a_long_day_is_cut_to_excerpts_that_link_to_the_web_copy() -> None:
    rendered = render_digest(build_digest(DAY, many_items(45), ORDER), SITE, WITH_FEEDS)
    assert rendered.shortened.startswith("excerpts of")
    assert html_size(rendered.html) <= 90_000
    page = tree(rendered.html)
    cell = page.get_element_by_id("item-i0000")
    read_more = [a for a in cell.iter("a") if a.text_content() == "Read more"]
    assert [a.get("href") for a in read_more] == [f"{WEB_COPY}#item-i0000"]
    assert cell.find_class("excerpt")[0].text_content().startswith("The council met")
    assert f"Read more: {WEB_COPY}#item-i0000" in rendered.text
    # Nothing after the items is lost: the footer and its unsubscribe link are all there.
    assert links(rendered.html)["Unsubscribe"] == UNSUBSCRIBE_TOKEN


def test_a_huge_day_keeps_the_first_titles_and_counts_the_rest_never_clipped() -> None:
    items = many_items(400)
    rendered = render_digest(build_digest(DAY, items, ORDER), SITE, WITH_FEEDS)
    assert rendered.shortened.startswith("titles of the first")
    assert html_size(rendered.html) <= 90_000
    page = tree(rendered.html)
    shown = len(page.find_class("item-brief"))
    assert 50 < shown < 400
    notes = [p.text_content() for p in page.find_class("more")]
    counts = [int(re.match(r"\d+", note).group()) for note in notes]  # type: ignore[union-attr]
    assert shown + sum(counts) == 400
    # Every section is still announced, with a link to it in the web copy.
    assert len(page.find_class("section-title")) == 3
    assert f"{WEB_COPY}#section-arabic-news" in [a.get("href") for a in page.iter("a")]
    assert links(rendered.html)["Unsubscribe"] == UNSUBSCRIBE_TOKEN
    assert rendered.text.count("more items in the full digest online") == len(notes)


def test_the_budget_is_configurable_and_counts_the_recipients_unsubscribe_url() -> None:
    digest = build_digest(DAY, many_items(12, paragraphs=1), ORDER)
    whole = render_digest(digest, SITE)
    assert whole.shortened == ""
    tight = render_digest(digest, SITE, RenderOptions(max_html_bytes=html_size(whole.html) - 1))
    assert tight.shortened and html_size(tight.html) < html_size(whole.html)
    assert html_size(whole.html) >= len(whole.html.encode()) + 900  # room for a long URL


def test_a_theme_too_big_for_the_budget_is_an_error_not_a_clipped_email() -> None:
    with pytest.raises(PublishError, match="does not fit"):
        render_digest(sample_digest(), SITE, RenderOptions(max_html_bytes=2_000))


def test_a_keep_block_over_16_kb_is_refused(tmp_path: Path) -> None:
    rule = ".x{color:#000 !important}\n"
    (tmp_path / "digest-keep.css").write_text(rule * (KEEP_CSS_LIMIT // len(rule) + 1))
    with pytest.raises(PublishError, match="Gmail drops all <style>"):
        render_digest(sample_digest(), SITE, RenderOptions(templates_dir=tmp_path))


# --- web copy and archive --------------------------------------------------------------------


def test_the_web_copy_holds_every_item_in_full_and_no_unsubscribe_link() -> None:
    digest = build_digest(DAY, many_items(400), ORDER)
    page = render_web_copy(digest, SITE, WITH_FEEDS)
    document = tree(page)
    assert len(document.find_class("item-body")) == 400
    assert document.find_class("preheader") == [] and "Read more" not in page
    assert UNSUBSCRIBE_TOKEN not in page and "Unsubscribe" not in page
    assert links(page)["All digests"] == "https://news.example.org/digests/index.html"
    assert document.get_element_by_id("section-arabic-news") is not None


def test_the_archive_lists_the_days_newest_first_in_the_site_language() -> None:
    days = [DAY.replace(day=2), DAY, DAY.replace(day=3), DAY]
    page = render_archive(SITE, days, WITH_FEEDS)
    entries = [(a.text_content(), a.get("href")) for a in tree(page).iter("a")]
    assert entries[:3] == [
        ("Sunday, March 3, 2024", "2024-03-03.html"),
        ("Saturday, March 2, 2024", "2024-03-02.html"),
        ("Friday, March 1, 2024", "2024-03-01.html"),
    ]
    arabic = tree(render_archive(make_site("ar", title="النشرة"), [DAY]))
    assert (arabic.get("lang"), arabic.get("dir")) == ("ar", "rtl")
    assert "أرشيف النشرات" in arabic.text_content()


# --- language --------------------------------------------------------------------------------


def test_an_arabic_site_gets_an_rtl_digest_with_arabic_labels() -> None:
    site = make_site("ar", title="النشرة")
    digest = digest_of(arabic_item("a"), make_item("e"))
    rendered = render_digest(digest, site, WITH_FEEDS)
    assert rendered.subject == "النشرة: الجمعة، 1 مارس 2024"
    page = tree(rendered.html)
    assert (page.get("lang"), page.get("dir")) == ("ar", "rtl")
    assert page.find(".//body").get("dir") == "rtl"
    masthead = page.find_class("masthead")[0].find("div")
    assert masthead.get("dir") == "rtl" and "text-align:right" in masthead.get("style")
    found = links(rendered.html)
    assert found["إلغاء الاشتراك"] == UNSUBSCRIBE_TOKEN
    assert found["اعرض هذه النشرة في المتصفح"] == WEB_COPY
    assert "الجمعة، 1 مارس 2024" in rendered.text and "إلغاء الاشتراك:" in rendered.text
    # An English item in the Arabic digest stays left to right, with English labels.
    english = page.get_element_by_id("item-e").find("div")
    assert (english.get("dir"), english.get("lang")) == ("ltr", "en")
    assert "Source: City desk" in english.text_content()


def test_an_arabic_item_in_an_english_digest_has_arabic_labels() -> None:
    rendered = render_digest(sample_digest(), SITE)
    cell = tree(rendered.html).get_element_by_id("item-c3")
    assert "المصدر: مكتب المدينة" in cell.text_content()
    assert "المصدر: مكتب المدينة" in rendered.text


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (1, "خبر واحد آخر"),
        (2, "خبران آخران"),
        (3, "3 أخبار أخرى"),
        (11, "11 خبرًا آخر"),
        (100, "100 خبر آخر"),
    ],
)
def test_counts_take_the_arabic_plural_forms(count: int, expected: str) -> None:
    assert labels_for("ar").more(count).startswith(expected)


def test_labels_fall_back_to_the_base_language_then_the_site_then_english() -> None:
    assert labels_for("ar-EG").language == "ar"
    assert labels_for("fr").language == "en"
    assert labels_for("fr", labels_for("ar")).language == "ar"
    assert labels_for("en").more(1) == "1 more item in the full digest online"


def test_a_regional_language_tag_picks_the_regional_date_format() -> None:
    rendered = render_digest(sample_digest(), make_site("en-GB"))
    assert rendered.subject == "Daily Bugle: Friday, 1 March 2024"


def test_subject_template_fills_site_and_date() -> None:
    options = RenderOptions(subject="{date} — {site} {{daily}}")
    rendered = render_digest(sample_digest(), SITE, options)
    assert rendered.subject == "Friday, March 1, 2024 — Daily Bugle {daily}"


def test_a_subject_template_with_an_unknown_name_is_a_publish_error() -> None:
    with pytest.raises(PublishError, match="cannot be filled in"):
        render_digest(sample_digest(), SITE, RenderOptions(subject="{site} {edition}"))


def test_an_unknown_site_language_is_a_publish_error() -> None:
    with pytest.raises(PublishError, match="no date formats"):
        render_digest(sample_digest(), make_site("xx"))


# --- text part -------------------------------------------------------------------------------


def test_text_is_wrapped_at_72_columns_except_long_urls() -> None:
    long_word = "https://example.org/" + "x" * 90
    paragraph = "Residents gathered in the square to hear the mayor speak. " * 6
    items = [make_item("w", paragraphs=(paragraph, f"Read more at {long_word} today."))]
    text = render_digest(digest_of(*items), SITE, WITH_FEEDS).text
    too_long = [line for line in text.splitlines() if len(line) > 72]
    assert too_long == [long_word]
    assert "Residents gathered" in text and "\n\n\n" not in text
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_text_lists_every_item_title_paragraph_and_source_and_links_at_the_end() -> None:
    text = render_digest(sample_digest(), SITE, WITH_FEEDS).text
    for needle in ("Item a1", "A second one.", "City desk", "افتتاح مكتبة", "== World =="):
        assert needle in text
    assert "Item a1\n-------\n" in text  # titles are underlined
    tail = text[text.index("\n--\n") :]
    assert WEB_COPY in tail
    assert tail.rstrip().endswith(UNSUBSCRIBE_TOKEN)


# --- theming ---------------------------------------------------------------------------------


def test_default_theme_ships_its_templates_and_styles() -> None:
    folder = default_templates_dir()
    names = {"digest.html.j2", "digest.txt.j2", "digest-index.html.j2"}
    names |= {"digest.css", "digest-keep.css", "partials/item.html.j2", "partials/item.txt.j2"}
    assert all((folder / name).is_file() for name in names)


def test_an_override_can_extend_the_default_of_the_same_name(tmp_path: Path) -> None:
    (tmp_path / "digest.html.j2").write_text(
        '{% extends "default/digest.html.j2" %}\n'
        "{% block header %}<tr><td><p>Special edition</p></td></tr>{{ super() }}{% endblock %}\n",
        encoding="utf-8",
    )
    (tmp_path / "digest.css").write_text(".item-title { color: #123456; }\n", encoding="utf-8")
    rendered = render_digest(sample_digest(), SITE, RenderOptions(templates_dir=tmp_path))
    page = tree(rendered.html)
    assert "Special edition" in page.text_content()
    assert "Daily Bugle" in page.find(".//h1").text_content()  # the default header follows
    assert "#123456" in page.get_element_by_id("item-a1").find(".//h3").get("style")
    assert "Item a1" in rendered.text  # the text template still comes from the defaults


def test_an_override_of_one_partial_changes_every_item_and_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "partials").mkdir()
    (tmp_path / "partials" / "item.txt.j2").write_text("* {{ entry.item.id }}\n", "utf-8")
    rendered = render_digest(sample_digest(), SITE, RenderOptions(templates_dir=tmp_path))
    assert "* a1" in rendered.text and "* c3" in rendered.text
    assert "Item a1" in rendered.html  # the HTML partial is still the default one


def test_an_override_with_a_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "digest.txt.j2").write_text("line one\n{% if %}\n", encoding="utf-8")
    with pytest.raises(PublishError, match=r"digest\.txt\.j2:2"):
        render_digest(sample_digest(), SITE, RenderOptions(templates_dir=tmp_path))


def test_an_override_using_an_unknown_variable_is_a_publish_error(tmp_path: Path) -> None:
    (tmp_path / "digest.txt.j2").write_text("{{ site.motto }}\n", encoding="utf-8")
    with pytest.raises(PublishError, match="motto"):
        render_digest(sample_digest(), SITE, RenderOptions(templates_dir=tmp_path))


def test_a_missing_override_folder_is_an_error_not_a_silent_fallback(tmp_path: Path) -> None:
    with pytest.raises(PublishError, match="is not a folder"):
        render_digest(sample_digest(), SITE, RenderOptions(templates_dir=tmp_path / "nope"))


def test_a_template_added_to_the_override_folder_later_is_used(tmp_path: Path) -> None:
    options = RenderOptions(templates_dir=tmp_path)
    assert "Item a1" in render_digest(sample_digest(), SITE, options).text
    (tmp_path / "digest.txt.j2").write_text("custom {{ site.title }}\n", encoding="utf-8")
    assert render_digest(sample_digest(), SITE, options).text == "custom Daily Bugle\n"
