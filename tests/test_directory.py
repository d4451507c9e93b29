"""The directory reader: Markdown files with front matter become Items with safe HTML."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bulletin.errors import SourceError
from bulletin.model import Category, CategoryIndex
from bulletin.sources import ReadResult, ReadSettings, id_seconds
from bulletin.sources.directory import looks_like_markdown, read_directory, read_markdown
from bulletin.text import stable_id

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "items"
SETTINGS = ReadSettings(zone=ZoneInfo("Europe/Berlin"), item_time=time(12, 0))
FRONT = "---\ndate: 2026-03-03\ncategory: Local News\n---\n"
BODY = "The *river path* reopens on **Friday**.\n\nCyclists must dismount on the bridge.\n"


def read(text: str | bytes, key: str = "news/river.md") -> ReadResult:
    data = text.encode() if isinstance(text, str) else text
    return read_markdown(data, "river.md", SETTINGS, key)


def test_front_matter_fields_become_the_item() -> None:
    text = (
        "---\ndate: 2026-03-03\ntime: '09:15'\ncategory: Local News\ntitle: River path reopens\n"
        "source: Parks Office\nlanguage: en-GB\n---\n" + BODY
    )
    result = read(text)
    assert result.problems == ()
    [item] = result.items
    assert item.day == date(2026, 3, 3)
    assert item.published == datetime(2026, 3, 3, 8, 15, tzinfo=UTC)
    assert item.category == Category("local-news", "Local News")
    assert (item.title, item.title_derived) == ("River path reopens", False)
    assert item.source == "Parks Office"
    assert (item.language, item.direction) == ("en-GB", "ltr")
    assert item.origin == "river.md"


def test_defaults_fill_what_the_front_matter_leaves_out() -> None:
    [item] = read(FRONT + BODY).items
    # site.item_time, plus the seconds its id draws (two sources on one day seldom meet).
    seconds = id_seconds(stable_id("directory", "news/river.md"))
    assert item.published == datetime(2026, 3, 3, 11, 0, seconds, tzinfo=UTC)
    assert item.title == "The river path reopens on Friday."
    assert item.title_derived is True
    assert item.source is None
    assert item.language == "en"


def test_default_id_comes_from_the_path_in_the_folder() -> None:
    assert read(FRONT + BODY).items[0].id == stable_id("directory", "news/river.md")
    assert read(FRONT + "Edited text.").items[0].id == read(FRONT + BODY).items[0].id


def test_front_matter_id_wins() -> None:
    text = FRONT.replace("---\n", "---\nid: river-2026\n", 1) + BODY
    assert read(text).items[0].id == "river-2026"


def test_unquoted_time_is_read_as_a_clock_time() -> None:
    # YAML 1.1 reads 14:30 as the number 870; it must still mean half past two.
    [item] = read(FRONT.replace("---\n", "---\ntime: 14:30\n", 1) + BODY).items
    assert item.published == datetime(2026, 3, 3, 13, 30, tzinfo=UTC)


def test_paragraphs_are_the_plain_text_of_each_block() -> None:
    body = (
        "# Heading\n\nOne *two*\nthree `four`.\n\n- five\n- [six](https://e.example)\n\n> seven\n"
    )
    assert read(FRONT + body).items[0].paragraphs == (
        "Heading",
        "One two three four.",
        "five",
        "six",
        "seven",
    )


def test_markdown_becomes_html_with_emphasis_and_safe_links() -> None:
    body = 'A *b* **c** [site](https://city.example/x "Town").\n'
    html = read(FRONT + body).items[0].body_html
    assert "<em>b</em>" in html
    assert "<strong>c</strong>" in html
    assert '<a href="https://city.example/x" title="Town" rel="noopener">site</a>' in html


def test_raw_html_and_script_stay_text() -> None:
    html = read(FRONT + "Hi <script>alert(1)</script> <b>bold</b>\n").items[0].body_html
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


@pytest.mark.parametrize(
    "body",
    [
        "[click](javascript:alert(1))",
        "[click](JavaScript:alert(1))",
        "<javascript:alert(1)>",
        '<a href="javascript:alert(1)">click</a>',
        "[click](data:text/html;base64,PHNjcmlwdD4=)",
        "[click](/relative/path)",
    ],
)
def test_unsafe_links_lose_their_target(body: str) -> None:
    html = read(FRONT + body + "\n").items[0].body_html
    assert not re.search(r"<a\b[^>]*\bhref=", html)
    assert "click" in html or "javascript" in html


def test_tags_outside_the_allow_list_are_dropped() -> None:
    body = "# Top\n\n![map](https://city.example/map.png)\n\n---\n\nText.\n"
    html = read(FRONT + body).items[0].body_html
    assert "<h1>" not in html
    assert "<img" not in html
    assert "<hr" not in html
    assert "Top" in html


def test_arabic_category_resolves_through_aliases() -> None:
    local = Category("local-news", "Local News")
    settings = ReadSettings(
        zone=SETTINGS.zone, categories=CategoryIndex((local,), (("أخبار محلية", local),))
    )
    text = "---\ndate: 2026-03-03\ncategory: أخبار محلية\nlanguage: ar\n---\nافتتاح حديقة جديدة.\n"
    [item] = read_markdown(text.encode(), "ar.md", settings, "ar.md").items
    assert item.category == local
    assert (item.language, item.direction) == ("ar", "rtl")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("Just text, no front matter.\n", 1, "no front matter"),
        ("---\ndate: 2026-03-03\ncategory: X\nText.\n", 1, "not closed"),
        ("---\ncategory: Local News\n---\nText.\n", 1, "date is missing"),
        ("---\ndate: 2026-03-03\n---\nText.\n", 1, "category is missing"),
        ("---\ndate: tomorrow\ncategory: X\n---\nText.\n", 2, "date: expected a day"),
        ("---\ndate: 2026-3-3\ncategory: X\n---\nText.\n", 2, "date: expected a day"),
        ("---\ncategory: X\ndate: 2026-02-31\n---\nText.\n", 3, "invalid date"),
        ("---\ndate: 2026-03-03 10:00:00\ncategory: X\n---\nText.\n", 2, "date: expected"),
        ("---\ndate: 2026-03-03\ncategory: X\ntime: noon\n---\nText.\n", 4, "time: expected"),
        ("---\ndate: 2026-03-03\ncategory: [a, b]\n---\nText.\n", 3, "expected text"),
        ("---\ndate: 2026-03-03\ncategory: X\nlanguage: ar!\n---\nText.\n", 4, "language"),
        ("---\n- date\n- category\n---\nText.\n", 2, "keys and values"),
        ("---\ndate: 2026-03-03\ncategory: X\n---\n\n  \n", 5, "empty body"),
    ],
)
def test_bad_file_is_reported_with_its_line_and_skipped(text: str, line: int, message: str) -> None:
    result = read(text)
    assert result.items == ()
    [problem] = result.problems
    assert (problem.file, problem.line, problem.skipped) == ("river.md", line, True)
    assert message in problem.message


def test_a_body_of_only_an_html_comment_is_text_and_the_item_stands() -> None:
    result = read("---\ndate: 2026-03-03\ncategory: X\n---\n<!-- -->\n")
    assert len(result.items) == 1  # raw HTML stays text, so this body is not empty


def test_invalid_yaml_is_reported_at_its_line_in_the_file() -> None:
    text = '---\ndate: 2026-03-03\ncategory: Local News\ntitle: "unclosed\nsource: x\n---\nText.\n'
    [problem] = read(text).problems
    assert "invalid YAML" in problem.message
    assert problem.line in (5, 6)  # the scanner notices where the string runs out


def test_invalid_yaml_indentation_is_reported_at_its_line() -> None:
    text = "---\ndate: 2026-03-03\ncategory: Local News\n  title: x\n---\nText.\n"
    [problem] = read(text).problems
    assert "invalid YAML" in problem.message
    assert problem.line == 4


def test_non_utf8_file_is_reported_with_the_line() -> None:
    data = (FRONT + "Line one.\n").encode() + "Caf\xe9.\n".encode("latin-1")
    [problem] = read(data).problems
    assert problem.line == 6
    assert "not valid UTF-8 (byte 0xE9)" in problem.message


def test_unknown_key_is_reported_but_the_item_kept() -> None:
    result = read(FRONT.replace("---\n", "---\nauthor: Sam\n", 1) + BODY)
    assert len(result.items) == 1
    [problem] = result.problems
    assert (problem.line, problem.skipped) == (2, False)
    assert "author" in problem.message


def test_control_characters_are_removed_and_reported() -> None:
    result = read(FRONT + "The river\x0b path.\n")
    assert result.items[0].paragraphs == ("The river path.",)
    [problem] = result.problems
    assert (problem.line, problem.skipped) == (5, False)
    assert problem.message == "removed 1 characters XML forbids"


def test_emoji_and_arabic_pass_through() -> None:
    [item] = read(FRONT + "Bikes 🚲 and «مرحباً».\n").items
    assert item.paragraphs == ("Bikes 🚲 and «مرحباً».",)
    assert "🚲" in item.body_html


def test_looks_like_markdown_needs_front_matter_at_the_start() -> None:
    assert looks_like_markdown(FRONT.encode())
    assert looks_like_markdown(b"\xef\xbb\xbf---\r\ndate: 2026-03-03\r\n")
    assert not looks_like_markdown(b"Title\n---\n")
    assert not looks_like_markdown(b"----\n")


# --- folders ------------------------------------------------------------------------------


def test_example_folder_gives_its_three_items_in_path_order() -> None:
    result = read_directory(EXAMPLES, SETTINGS)
    assert result.problems == ()
    assert [Path(i.origin).name for i in result.items] == sorted(
        p.name for p in EXAMPLES.glob("*.md")
    )
    assert [i.title_derived for i in result.items] == [False, True, False]
    assert {i.day for i in result.items} == {date(2026, 11, 25), date(2026, 11, 26)}
    assert any("<a href=" in i.body_html and "<em>" in i.body_html for i in result.items)


def test_folder_read_recurses_and_skips_hidden_and_bad_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / "sub" / "b.md").write_text(FRONT + "Second.\n")
    (tmp_path / "a.md").write_text(FRONT + "First.\n")
    (tmp_path / "bad.md").write_text("no front matter\n")
    (tmp_path / ".git" / "c.md").write_text(FRONT + "Hidden.\n")
    (tmp_path / "notes.txt").write_text(FRONT + "Not Markdown by name.\n")
    result = read_directory(tmp_path, SETTINGS)
    assert [i.paragraphs for i in result.items] == [("First.",), ("Second.",)]
    assert result.items[1].id == stable_id("directory", "sub/b.md")
    [problem] = result.problems
    assert problem.file == str(tmp_path / "bad.md")


def test_second_file_with_a_taken_id_is_reported(tmp_path: Path) -> None:
    for name in ("a.md", "b.md"):
        (tmp_path / name).write_text(FRONT.replace("---\n", "---\nid: same\n", 1) + "Text.\n")
    result = read_directory(tmp_path, SETTINGS)
    assert [Path(i.origin).name for i in result.items] == ["a.md"]
    [problem] = result.problems
    assert problem.file == str(tmp_path / "b.md")
    assert 'id "same" is already used' in problem.message


def test_missing_folder_raises_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError):
        read_directory(tmp_path / "nowhere", SETTINGS)


# --- hostile files ----------------------------------------------------------------------------


@pytest.mark.parametrize(("day", "line"), [("0001-01-01", 2), ("9999-12-31", 2), ("1989-12-31", 2)])
def test_an_implausible_date_is_reported_at_its_line_and_the_item_skipped(
    day: str, line: int
) -> None:
    result = read(FRONT.replace("2026-03-03", day) + BODY)
    assert result.items == ()
    [problem] = result.problems
    assert (problem.line, problem.skipped) == (line, True)
    assert f"implausible date {day}" in problem.message
    assert "1990-01-01 to 2199-12-31" in problem.message


def test_the_last_day_of_february_in_a_leap_year_is_a_date() -> None:
    [item] = read(FRONT.replace("2026-03-03", "2024-02-29") + BODY).items
    assert item.day == date(2024, 2, 29)


def test_yaml_escapes_in_front_matter_values_are_cleaned_and_reported() -> None:
    # The file's bytes hold no control character; YAML's escapes write them into the values.
    title = r'"nul \0 nel \x85 apc \x9f bell \a end"'
    text = FRONT.replace("---\n", f'---\ntitle: {title}\nsource: "Desk \\x07"\n', 1)
    [item] = (result := read(text + BODY)).items
    assert item.title == "nul nel apc bell end"
    assert item.source == "Desk"
    assert [(p.line, p.message, p.skipped) for p in result.problems] == [
        (2, "removed 4 characters XML forbids", False),
        (3, "removed 1 characters XML forbids", False),
    ]


def test_a_yaml_escape_of_half_a_surrogate_pair_is_cleaned_or_refused_never_raised() -> None:
    # libyaml refuses the escape as invalid YAML; PyYAML's own parser reads it, and the lone
    # surrogate is then cleaned like any character XML forbids.
    result = read(FRONT.replace("---\n", '---\ntitle: "half \\ud800 pair"\n', 1) + BODY)
    if result.items:
        assert result.items[0].title == "half \ufffd pair"
    else:
        [problem] = result.problems
        assert (problem.line, problem.skipped) == (2, True)
        assert "invalid YAML" in problem.message


def test_bare_carriage_returns_end_lines_as_newlines_do() -> None:
    [item] = read((FRONT + BODY).replace("\n", "\r")).items
    assert item.paragraphs == (
        "The river path reopens on Friday.",
        "Cyclists must dismount on the bridge.",
    )
    assert looks_like_markdown((FRONT + BODY).replace("\n", "\r").encode())


def test_a_category_named_all_keeps_off_the_slug_of_the_feed_of_everything() -> None:
    [item] = read(FRONT.replace("Local News", "All") + BODY).items
    assert item.category == Category("category-all", "All")
