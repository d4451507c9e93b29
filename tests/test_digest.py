"""The digest: grouping and order, escaping, RTL, inlined CSS, size, text wrapping, theming."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import html as lxml_html

from bulletin.digest import (
    UNSUBSCRIBE_TOKEN,
    build_digest,
    default_templates_dir,
    render_digest,
    web_copy,
)
from bulletin.errors import PublishError
from bulletin.model import CategoryIndex, Digest
from helpers_stages import ARABIC, DAY, LOCAL, WORLD, arabic_item, make_item, make_site

SITE = make_site()
ORDER = CategoryIndex(known=(WORLD, LOCAL)).order_key
FEEDS = [("All news", "https://news.example.org/all.atom")]


def digest_of(*items: object) -> Digest:
    return build_digest(DAY, list(items), ORDER)  # type: ignore[arg-type]


def sample_digest() -> Digest:
    return digest_of(make_item("a1", 9), make_item("b2", 11, category=WORLD), arabic_item("c3"))


def tree(markup: str) -> lxml_html.HtmlElement:
    return lxml_html.document_fromstring(markup)


# --- grouping --------------------------------------------------------------------------------


def test_sections_follow_the_category_order_and_items_are_newest_first() -> None:
    items = [make_item("old", 7), make_item("w", 8, category=WORLD), make_item("new", 15)]
    items += [arabic_item("ar"), make_item("tie-b", 10), make_item("tie-a", 10)]
    digest = build_digest(DAY, items, ORDER)
    # Configured categories first in their order, then the others by name.
    assert [s.category for s in digest.sections] == [WORLD, LOCAL, ARABIC]
    assert [i.id for i in digest.sections[1].items] == ["new", "tie-a", "tie-b", "old"]
    assert digest.day == DAY


def test_a_day_without_items_renders_a_short_note() -> None:
    digest = build_digest(DAY, [], ORDER)
    assert digest.is_empty
    rendered = render_digest(digest, SITE)
    assert "Nothing today" in rendered.text
    assert "Nothing today" in tree(rendered.html).text_content()


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


def test_css_is_inlined_and_the_keep_block_survives_with_its_important_rules() -> None:
    rendered = render_digest(sample_digest(), SITE)
    page = tree(rendered.html)
    styles = page.findall(".//style")
    assert len(styles) == 1 and styles[0].attrib == {}  # the ignore marker is consumed
    kept = styles[0].text
    assert "@media only screen and (max-width: 600px)" in kept
    assert "@media (prefers-color-scheme: dark)" in kept
    assert "padding-left: 16px !important" in kept
    assert len(kept.encode()) < 16_000  # Gmail drops all <style> above 16 KB
    title = page.get_element_by_id("item-a1").find(".//h3")
    assert "font-size:20px" in title.get("style").replace(" ", "")
    assert not [style for style in page.xpath("//@style") if "!important" in style]


def test_no_scripts_or_external_styles_and_layout_tables_are_presentational() -> None:
    page = tree(render_digest(sample_digest(), SITE).html)
    assert page.findall(".//script") == [] and page.findall(".//link") == []
    tables = page.findall(".//table")
    assert tables and all(t.get("role") == "presentation" for t in tables)
    assert page.get("lang") == "en" and page.get("dir") == "ltr"


def test_fifty_items_stay_under_the_gmail_clipping_budget() -> None:
    paragraph = "The council met on Tuesday to discuss the budget for the coming year. " * 4
    items = [
        make_item(f"i{n:02}", n % 20, category=(LOCAL, WORLD)[n % 2], paragraphs=(paragraph,) * 2)
        for n in range(50)
    ]
    rendered = render_digest(build_digest(DAY, items, ORDER), SITE, feed_links=FEEDS)
    assert len(rendered.html.encode()) < 90_000


def test_preheader_previews_the_first_titles_and_is_hidden() -> None:
    page = tree(render_digest(sample_digest(), SITE).html)
    preheader = page.find_class("preheader")[0]
    assert "display:none" in preheader.get("style")
    assert preheader.text_content().startswith("Item b2 · Item a1")


def test_footer_has_the_unsubscribe_token_the_web_copy_and_feed_links() -> None:
    rendered = render_digest(sample_digest(), SITE, feed_links=FEEDS)
    links = {a.text_content(): a.get("href") for a in tree(rendered.html).iter("a")}
    assert links["Unsubscribe"] == UNSUBSCRIBE_TOKEN
    assert links["View this digest in your browser"] == (
        "https://news.example.org/digests/2024-03-01.html"
    )
    assert links["All news"] == "https://news.example.org/all.atom"
    assert UNSUBSCRIBE_TOKEN in rendered.text
    assert "https://news.example.org/all.atom" in rendered.text


def test_web_copy_points_the_unsubscribe_link_at_the_site() -> None:
    page = web_copy(render_digest(sample_digest(), SITE))
    assert UNSUBSCRIBE_TOKEN not in page
    links = {a.text_content(): a.get("href") for a in tree(page).iter("a")}
    assert links["Unsubscribe"] == "https://news.example.org/"


def test_rendering_twice_gives_the_same_digest() -> None:
    assert render_digest(sample_digest(), SITE) == render_digest(sample_digest(), SITE)


# --- language --------------------------------------------------------------------------------


def test_an_arabic_site_writes_the_date_in_arabic_and_the_page_right_to_left() -> None:
    site = make_site("ar", title="النشرة")
    rendered = render_digest(digest_of(arabic_item("a")), site)
    assert rendered.subject == "النشرة: الجمعة، 1 مارس 2024"
    page = tree(rendered.html)
    assert (page.get("lang"), page.get("dir")) == ("ar", "rtl")
    assert "الجمعة، 1 مارس 2024" in rendered.text


def test_a_regional_language_tag_picks_the_regional_date_format() -> None:
    rendered = render_digest(sample_digest(), make_site("en-GB"))
    assert rendered.subject == "Daily Bugle: Friday, 1 March 2024"


def test_subject_template_fills_site_and_date() -> None:
    rendered = render_digest(sample_digest(), SITE, subject_template="{date} — {site} {{daily}}")
    assert rendered.subject == "Friday, March 1, 2024 — Daily Bugle {daily}"


def test_a_subject_template_with_an_unknown_name_is_a_publish_error() -> None:
    with pytest.raises(PublishError, match="cannot be filled in"):
        render_digest(sample_digest(), SITE, subject_template="{site} {edition}")


def test_an_unknown_site_language_is_a_publish_error() -> None:
    with pytest.raises(PublishError, match="no date formats"):
        render_digest(sample_digest(), make_site("xx"))


# --- text part -------------------------------------------------------------------------------


def test_text_is_wrapped_at_72_columns_except_long_urls() -> None:
    long_word = "https://example.org/" + "x" * 90
    paragraph = "Residents gathered in the square to hear the mayor speak. " * 6
    items = [make_item("w", paragraphs=(paragraph, f"Read more at {long_word} today."))]
    text = render_digest(digest_of(*items), SITE, feed_links=FEEDS).text
    too_long = [line for line in text.splitlines() if len(line) > 72]
    assert too_long == [long_word]
    assert "Residents gathered" in text and "\n\n\n" not in text
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_text_lists_every_item_title_paragraph_and_source_and_links_at_the_end() -> None:
    text = render_digest(sample_digest(), SITE, feed_links=FEEDS).text
    for needle in ("Item a1", "A second one.", "City desk", "افتتاح مكتبة", "== World =="):
        assert needle in text
    tail = text[text.index("\n--\n") :]
    assert "https://news.example.org/digests/2024-03-01.html" in tail
    assert tail.rstrip().endswith(UNSUBSCRIBE_TOKEN)


# --- theming ---------------------------------------------------------------------------------


def test_default_theme_ships_all_four_files() -> None:
    folder = default_templates_dir()
    names = {"digest.html.j2", "digest.txt.j2", "digest.css", "digest-keep.css"}
    assert names <= {p.name for p in folder.iterdir()}


def test_an_override_can_extend_the_default_of_the_same_name(tmp_path: Path) -> None:
    (tmp_path / "digest.html.j2").write_text(
        '{% extends "default/digest.html.j2" %}\n'
        "{% block header %}<tr><td><p>Special edition</p></td></tr>{{ super() }}{% endblock %}\n",
        encoding="utf-8",
    )
    (tmp_path / "digest.css").write_text(".item-title { color: #123456; }\n", encoding="utf-8")
    rendered = render_digest(sample_digest(), SITE, templates_dir=tmp_path)
    page = tree(rendered.html)
    assert "Special edition" in page.text_content()
    assert "Daily Bugle" in page.find(".//h1").text_content()  # the default header follows
    assert "#123456" in page.get_element_by_id("item-a1").find(".//h3").get("style")
    assert "Item a1" in rendered.text  # the text template still comes from the defaults


def test_an_override_with_a_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "digest.txt.j2").write_text("line one\n{% if %}\n", encoding="utf-8")
    with pytest.raises(PublishError, match=r"digest\.txt\.j2:2"):
        render_digest(sample_digest(), SITE, templates_dir=tmp_path)


def test_an_override_using_an_unknown_variable_is_a_publish_error(tmp_path: Path) -> None:
    (tmp_path / "digest.txt.j2").write_text("{{ site.motto }}\n", encoding="utf-8")
    with pytest.raises(PublishError, match="motto"):
        render_digest(sample_digest(), SITE, templates_dir=tmp_path)


def test_a_missing_override_folder_is_an_error_not_a_silent_fallback(tmp_path: Path) -> None:
    with pytest.raises(PublishError, match="is not a folder"):
        render_digest(sample_digest(), SITE, templates_dir=tmp_path / "nope")


def test_item_anchors_match_the_feed_entry_links() -> None:
    page = render_digest(sample_digest(), SITE).html
    assert re.findall(r'id="(item-[^"]+)"', page) == ["item-b2", "item-a1", "item-c3"]
