"""The listing reader: the website's plain-text daily export becomes Items, bad parts problems."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bulletin.model import Category, CategoryIndex
from bulletin.sources import ReadResult, ReadSettings, id_seconds
from bulletin.sources.listing import looks_like_listing, read_listing

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "listing"
# Berlin is UTC+1 in March and November, so the conversion to UTC shows.
SETTINGS = ReadSettings(zone=ZoneInfo("Europe/Berlin"), item_time=time(12, 0))
BREADCRUMB = "Home Media Center Town Desk Items filtered by date: Tuesday, 03 March 2026"

RIVER = "The river path reopens on Friday after repairs to the footbridge."
DISMOUNT = "Cyclists must dismount on the bridge itself."
THANKS = "The council thanked residents for their patience during the works."
BASIC = f"""Town Desk
3 March 2026 In Local News

{RIVER}

{DISMOUNT} (Source: Parks Office)

03 March 2026 In Statements

{THANKS}

(Source: Council Press Office)

{BREADCRUMB}
"""

LOCAL = Category("local-news", "Local News")
ALIASES = CategoryIndex(
    known=(LOCAL, Category("statements", "Statements")),
    aliases=(
        ("local news", LOCAL),
        ("أخبار محلية", LOCAL),
        ("statements", Category("statements", "Statements")),
        ("بيانات", Category("statements", "Statements")),
    ),
)


def read(text: str | bytes, settings: ReadSettings = SETTINGS) -> ReadResult:
    data = text.encode() if isinstance(text, str) else text
    return read_listing(data, "day.txt", settings)


def all_text(result: ReadResult) -> str:
    return "\n".join(
        "\n".join([*item.paragraphs, item.title, item.body_html, item.source or ""])
        for item in result.items
    )


def entry(
    header: str, *paragraphs: str, source: str | None = "Parks Office", blank: bool = True
) -> str:
    """One item of an export as text, as the site writes it: its header line, then its
    paragraphs, the last ending with ``(Source: ...)`` unless ``source`` is None."""
    body = list(paragraphs)
    if source:
        body[-1] += f" (Source: {source})"
    gap = "\n\n" if blank else "\n"
    return header + gap + gap.join(body) + "\n\n"


# --- the export's shape -------------------------------------------------------------------


def test_english_export_gives_one_item_per_header() -> None:
    result = read(BASIC)
    assert result.problems == ()
    assert [i.day for i in result.items] == [date(2026, 3, 3), date(2026, 3, 3)]
    assert [i.category.name for i in result.items] == ["Local News", "Statements"]
    assert [i.origin for i in result.items] == ["day.txt:2", "day.txt:8"]


def test_source_line_becomes_item_source_and_leaves_text() -> None:
    first = read(BASIC).items[0]
    assert first.source == "Parks Office"
    assert first.paragraphs == (RIVER, DISMOUNT)
    assert "Source" not in first.body_html


def test_source_on_a_line_of_its_own_is_taken_and_its_paragraph_dropped() -> None:
    second = read(BASIC).items[1]
    assert second.source == "Council Press Office"
    assert second.paragraphs == (THANKS,)


def test_item_without_source_line_has_no_source() -> None:
    text = entry("3 March 2026 In Local News", RIVER, source=None) + BREADCRUMB
    only = read(text).items[0]
    assert only.source is None
    assert only.paragraphs == (RIVER,)


def test_lines_of_one_paragraph_are_joined_with_a_space() -> None:
    text = "Desk\n3 March 2026 In Local News\n\nThe river path\nreopens on Friday.\n\n" + BREADCRUMB
    assert read(text).items[0].paragraphs == ("The river path reopens on Friday.",)


def test_heading_line_is_not_an_item() -> None:
    result = read(BASIC)
    assert "Town Desk" not in all_text(result)


def test_file_may_start_with_an_item_header() -> None:
    result = read(BASIC.split("\n", 1)[1])
    assert len(result.items) == 2
    assert result.problems == ()


def test_windows_line_endings_and_utf8_bom_are_accepted() -> None:
    result = read(b"\xef\xbb\xbf" + BASIC.replace("\n", "\r\n").encode())
    assert len(result.items) == 2
    assert result.items[0].source == "Parks Office"
    assert result.problems == ()


def test_utf16_export_with_bom_is_read() -> None:
    result = read(BASIC.encode("utf-16"))
    assert [i.source for i in result.items] == ["Parks Office", "Council Press Office"]


GLUED_ENDINGS = {
    "own line": f"{BREADCRUMB}\n",
    "no final newline": BREADCRUMB,
    "number glued after": f"{BREADCRUMB}1",
    "number glued before": f"2{BREADCRUMB}",
    "pager line before": f"1 2 3\n{BREADCRUMB}",
    "chrome glued to the paragraph": None,
}


@pytest.mark.parametrize("ending", GLUED_ENDINGS, ids=list(GLUED_ENDINGS))
def test_breadcrumb_never_becomes_part_of_an_item(ending: str) -> None:
    head = entry("3 March 2026 In Local News", RIVER, DISMOUNT, source="Parks Office")
    if GLUED_ENDINGS[ending] is None:
        text = head.rstrip("\n") + "2" + BREADCRUMB
    else:
        text = head + str(GLUED_ENDINGS[ending])
    result = read(text)
    assert result.problems == ()
    assert [i.paragraphs for i in result.items] == [(RIVER, DISMOUNT)]
    assert result.items[0].source == "Parks Office"
    assert "Home" not in all_text(result)
    assert "filtered" not in all_text(result)


@pytest.mark.parametrize(
    "paragraph",
    [
        "The Home Office said so. (Source: Parks Office)",
        "The Home Office said so. (Source: Parks Office) ",
        "Home visits resume. (Source: Parks Office)3",
    ],
)
def test_breadcrumb_glued_to_prose_mentioning_home_cuts_only_the_chrome(paragraph: str) -> None:
    text = "Desk\n3 March 2026 In Local News\n\n" + paragraph + BREADCRUMB
    result = read(text)
    assert result.items[0].paragraphs == (paragraph.split(" (Source")[0],)
    assert result.items[0].source == "Parks Office"


def test_breadcrumb_naming_a_home_category_is_cut_whole() -> None:
    crumb = "Home Media Center Home Affairs Items filtered by date: Tuesday, 03 March 2026"
    result = read(entry("3 March 2026 In Home Affairs", RIVER) + crumb)
    assert result.items[0].paragraphs == (RIVER,)
    assert "Media Center" not in all_text(result)


def test_arabic_breadcrumb_glued_to_prose_with_the_word_main_keeps_the_prose() -> None:
    prose = "أُغلقت الشوارع الرئيسية في المدينة. (المصدر: البلدية)"
    crumb = "الرئيسية المركز الإعلامي أخبار محلية تصفية الأخبار حسب التاريخ: الثلاثاء، 3 آذار 2026"
    result = read("أخبار\n3 آذار 2026 في أخبار محلية\n\n" + prose + crumb)
    assert result.items[0].paragraphs == ("أُغلقت الشوارع الرئيسية في المدينة.",)
    assert result.items[0].source == "البلدية"


def test_breadcrumb_glued_to_a_year_in_the_text_keeps_the_year() -> None:
    text = "Desk\n3 March 2026 In Local News\n\nWorks end in 2026" + BREADCRUMB
    assert read(text).items[0].paragraphs == ("Works end in 2026",)


def test_text_after_the_breadcrumb_is_page_chrome() -> None:
    text = BASIC + "Contact us | Privacy\n"
    result = read(text)
    assert len(result.items) == 2
    assert "Privacy" not in all_text(result)
    assert result.problems == ()


# --- the examples folder ------------------------------------------------------------------


def read_example(name: str, settings: ReadSettings = SETTINGS) -> ReadResult:
    path = EXAMPLES / name
    return read_listing(path.read_bytes(), str(path), settings)


@pytest.mark.parametrize(
    ("name", "count"),
    [("2026-11-24.txt", 3), ("2026-11-25.txt", 2), ("2026-11-26.txt", 2), ("2026-11-26-ar.txt", 2)],
)
def test_example_exports_are_read_whole(name: str, count: int) -> None:
    result = read_example(name)
    assert result.problems == ()
    assert len(result.items) == count
    assert all(i.source for i in result.items)
    assert all(i.day.isoformat() == name[:10] for i in result.items)
    text = all_text(result)
    assert "filtered by date" not in text
    assert "حسب التاريخ" not in text


def test_ampersand_quotes_and_markup_in_an_export_stay_text() -> None:
    first = read_example("2026-11-24.txt").items[0]
    notice = first.paragraphs[1]
    assert '"<b>Winter timetable</b> starts Monday & runs until March"' in notice
    assert "&lt;b&gt;Winter timetable&lt;/b&gt;" in first.body_html
    assert "&amp; runs" in first.body_html
    assert "<b>" not in first.body_html


def test_html_in_a_listing_stays_text() -> None:
    text = entry("3 March 2026 In Local News", "Try <script>alert(1)</script> here.") + BREADCRUMB
    html = read(text).items[0].body_html
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_emoji_and_right_to_left_text_pass_through() -> None:
    bikes = read_example("2026-11-25.txt").items[0]
    assert "🚲" in bikes.paragraphs[0]
    mixed = "Signs read «مرحباً» 👋 at the gate."
    result = read(entry("3 March 2026 In Local News", mixed) + BREADCRUMB)
    assert result.items[0].paragraphs == (mixed,)
    assert result.problems == ()


# --- Arabic exports -----------------------------------------------------------------------

ARABIC = """أخبار محلية
26 نوفمبر 2026 في أخبار محلية

افتتحت البلدية حديقة جديدة في الحي الشرقي.

وستفتح الحديقة أبوابها يومياً من الثامنة صباحاً. (المصدر: مكتب البلدية)

٢٦ تشرين الثاني ٢٠٢٦ في بيانات

رحّب المجلس بافتتاح الحديقة.

(المصدر: المجلس البلدي)

الرئيسية المركز الإعلامي أخبار محلية تصفية الأخبار حسب التاريخ: الخميس، 26 تشرين الثاني 2026"""


def test_arabic_headers_with_both_month_families_are_read() -> None:
    result = read(ARABIC)
    assert result.problems == ()
    assert [i.day for i in result.items] == [date(2026, 11, 26)] * 2
    assert [i.category.name for i in result.items] == ["أخبار محلية", "بيانات"]
    assert [i.source for i in result.items] == ["مكتب البلدية", "المجلس البلدي"]
    assert result.items[1].paragraphs == ("رحّب المجلس بافتتاح الحديقة.",)
    assert "حسب التاريخ" not in all_text(result)


def test_arabic_items_are_arabic_and_right_to_left() -> None:
    result = read(ARABIC, ReadSettings(zone=SETTINGS.zone, language="en"))
    assert {(i.language, i.direction) for i in result.items} == {("ar", "rtl")}


def test_english_items_take_the_settings_language() -> None:
    result = read(BASIC, ReadSettings(zone=SETTINGS.zone, language="en-GB"))
    assert {(i.language, i.direction) for i in result.items} == {("en-GB", "ltr")}


@pytest.mark.parametrize(
    "header",
    [
        "٨ شباط ٢٠١٩ في أخبار محلية",  # Arabic-Indic digits, Levantine month
        "۸ فبراير ۲۰۱۹ في أخبار محلية",  # Eastern Arabic-Indic digits, Modern Standard month
        "8 كانون الثاني 2019 في أخبار محلية",  # a two-word month
        "08 ابريل 2019 في أخبار محلية",  # written without the hamza
        "\u200f8 آذار 2019\u200f في أخبار محلية",  # right-to-left marks around the date
    ],
)
def test_arabic_dates_in_any_digits_and_month_family(header: str) -> None:
    result = read(entry(header, "نص الخبر.", source=None) + "(المصدر: الوكالة)")
    assert result.problems == ()
    assert result.items[0].day.year == 2019
    assert result.items[0].day.day == 8
    assert result.items[0].language == "ar"


def test_either_source_marker_is_accepted_in_either_language() -> None:
    english = read(entry("3 March 2026 In Local News", RIVER, source=None) + "(المصدر: الوكالة)")
    arabic = read(entry("3 آذار 2026 في أخبار محلية", "نص.", source=None) + "(Source: Agency)")
    assert english.items[0].source == "الوكالة"
    assert arabic.items[0].source == "Agency"


def test_arabic_alias_resolves_to_the_english_category() -> None:
    settings = ReadSettings(zone=SETTINGS.zone, categories=ALIASES)
    english = read_example("2026-11-26.txt", settings).items
    arabic = read_example("2026-11-26-ar.txt", settings).items
    assert arabic[0].category == LOCAL
    assert arabic[0].category in {i.category for i in english}
    assert arabic[1].category == Category("statements", "Statements")


# --- ids, times, titles -------------------------------------------------------------------


def test_same_input_read_twice_gives_the_same_ids() -> None:
    assert [i.id for i in read(BASIC).items] == [i.id for i in read(BASIC).items]
    assert len({i.id for i in read(BASIC).items}) == 2


def test_id_survives_an_edit_of_a_later_paragraph() -> None:
    edited = BASIC.replace(DISMOUNT, "Cyclists must walk their bikes across.")
    assert read(edited).items[0].id == read(BASIC).items[0].id


def test_id_survives_an_edit_after_the_first_twelve_words() -> None:
    long = "One two three four five six seven eight nine ten eleven twelve thirteen."
    edited = long.replace("thirteen.", "and thirteen more words.")
    ids = [read(entry("3 March 2026 In Local News", p)).items[0].id for p in (long, edited)]
    assert ids[0] == ids[1]
    assert ids[0] != read(entry("3 March 2026 In Local News", "Zero " + long)).items[0].id


def test_items_with_the_same_id_get_numbered_suffixes() -> None:
    # An id comes from the first twelve words: items sharing them but not the rest get
    # numbered ids (an exact copy of an item is left out instead, see further down).
    opening = "One two three four five six seven eight nine ten eleven twelve"
    items = [entry("3 March 2026 In Local News", f"{opening} {n}.") for n in ("one", "two", "3")]
    result = read("Desk\n" + "".join(items) + BREADCRUMB)
    first = result.items[0].id
    assert [i.id for i in result.items] == [first, f"{first}-2", f"{first}-3"]


def test_published_is_aware_utc_newest_first_per_day() -> None:
    text = (
        "Desk\n"
        + entry("3 March 2026 In Local News", "One.")
        + entry("3 March 2026 In Local News", "Two.")
        + entry("4 March 2026 In Local News", "Three.")
        + BREADCRUMB
    )
    items = read(text).items
    published = [i.published for i in items]
    # site.item_time a minute earlier for each later item of the day, plus the seconds each
    # id draws (so that two sources covering one day seldom give two items the same second).
    seconds = [id_seconds(i.id) for i in items]
    assert published == [
        datetime(2026, 3, 3, 11, 0, seconds[0], tzinfo=UTC),
        datetime(2026, 3, 3, 10, 59, seconds[1], tzinfo=UTC),
        datetime(2026, 3, 4, 11, 0, seconds[2], tzinfo=UTC),
    ]
    assert all(p.utcoffset() is not None and p.tzinfo == UTC for p in published)


def test_title_is_derived_from_the_first_paragraph() -> None:
    first = read(BASIC).items[0]
    assert first.title == RIVER
    assert first.title_derived is True


# --- bad input ----------------------------------------------------------------------------

BEFORE = entry("3 March 2026 In Local News", RIVER)
AFTER = entry("3 March 2026 In Statements", THANKS, source="Council Press Office")
LOST = "This text belongs to the broken item."


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("3 March 2026 Local News", 'no "In <Category>"'),
        ("3 March 2026 In", "no category"),
        ("3 March 2026", 'no "In <Category>"'),
        ("31 February 2026 In Local News", "impossible date 31 February 2026"),
        ("3 March In Local News", "no year"),
        ("3 Febuary 2026 In Local News", 'unknown month "Febuary"'),
        ("3 Martch 2026 Local News", 'unknown month "Martch"'),
    ],
)
def test_broken_header_is_reported_and_its_text_not_glued_elsewhere(
    header: str, message: str
) -> None:
    text = "Desk\n" + BEFORE + entry(header, LOST) + AFTER + BREADCRUMB
    result = read(text)
    assert [i.paragraphs for i in result.items] == [(RIVER,), (THANKS,)]
    assert LOST not in all_text(result)
    [problem] = result.problems
    assert (problem.file, problem.line, problem.skipped) == ("day.txt", 6, True)
    assert message in problem.message


@pytest.mark.parametrize(
    "line",
    [
        "12 March 2019 was the day the footbridge first opened.",
        "12 March 2019 was the day the footbridge first opened",
        "4 May 2026 In a statement, the mayor said the bridge would open on Friday.",
        "4 May 2026 In Local News " + "and a great deal more text " * 4,
        "4 May 2026 in the morning the bridge was closed",
        "1 2 3 4",
    ],
)
def test_paragraph_beginning_with_a_date_is_not_a_header(line: str) -> None:
    text = "Desk\n" + entry("3 March 2026 In Local News", RIVER, line) + BREADCRUMB
    result = read(text)
    assert result.problems == ()
    assert result.items[0].paragraphs[1].startswith(line[:20])


def test_header_category_may_be_up_to_sixty_characters() -> None:
    long_name = "Neighbourhood Councils And Residents Associations Of The City"
    assert len(long_name) == 61
    fits = read(entry(f"3 March 2026 In {long_name[:60]}", RIVER) + BREADCRUMB)
    too_long = read(
        entry("3 March 2026 In Local News", RIVER) + f"3 March 2026 In {long_name}\n\n" + BREADCRUMB
    )
    assert fits.items[0].category.name == long_name[:60]
    assert len(too_long.items) == 1
    assert too_long.items[0].paragraphs[-1].endswith(long_name)


@pytest.mark.parametrize(
    "text",
    [
        "Desk\n3 March 2026 In Local News\n\n" + AFTER + BREADCRUMB,
        "Desk\n3 March 2026 In Local News\n\n(Source: Parks Office)\n\n" + AFTER + BREADCRUMB,
        "Desk\n" + AFTER + "3 March 2026 In Local News\n\n" + BREADCRUMB,
    ],
    ids=["followed by a header", "only a source line", "at the end"],
)
def test_empty_item_is_reported_and_skipped(text: str) -> None:
    result = read(text)
    assert [i.paragraphs for i in result.items] == [(THANKS,)]
    [problem] = result.problems
    assert "empty item" in problem.message
    assert problem.skipped
    assert text.splitlines()[problem.line - 1 if problem.line else 0].startswith("3 March")


def test_empty_item_at_end_of_file_is_reported() -> None:
    result = read("Desk\n" + AFTER + "3 March 2026 In Local News")
    assert len(result.items) == 1
    assert [(p.line, "empty item" in p.message) for p in result.problems] == [(6, True)]


def test_control_characters_are_removed_and_reported_and_the_item_kept() -> None:
    text = BASIC.replace("reopens on", "reopens\x00 on\x07")
    result = read(text)
    assert result.items[0].paragraphs[0] == RIVER
    [problem] = result.problems
    assert (problem.line, problem.skipped) == (4, False)
    assert problem.message == "removed 2 characters XML forbids"


def test_truncated_file_drops_only_the_unfinished_last_item() -> None:
    text = "Desk\n" + BEFORE + "3 March 2026 In Statements\n\nThe council thanked resid"
    result = read(text)
    assert [i.paragraphs for i in result.items] == [(RIVER,)]
    [problem] = result.problems
    assert problem.line == 8
    assert "file ends mid-item" in problem.message
    assert "truncated" in problem.message
    assert problem.skipped


def test_file_without_breadcrumb_is_complete_when_its_last_item_has_a_source() -> None:
    result = read("Desk\n" + BEFORE + AFTER)
    assert len(result.items) == 2
    assert result.problems == ()


def test_last_item_without_source_is_kept_when_the_breadcrumb_closes_the_page() -> None:
    result = read(
        "Desk\n" + BEFORE + entry("3 March 2026 In Statements", THANKS, source=None) + BREADCRUMB
    )
    assert len(result.items) == 2
    assert result.problems == ()


def test_latin1_line_is_reported_and_only_its_item_skipped() -> None:
    data = (
        ("Desk\n" + BEFORE).encode()
        + "3 March 2026 In Statements\n\nThe café reopens.\n\n".encode("latin-1")
        + (AFTER + BREADCRUMB).encode()
    )
    result = read(data)
    assert [i.paragraphs for i in result.items] == [(RIVER,), (THANKS,)]
    [problem] = result.problems
    assert problem.line == 8
    assert problem.message == (
        "line 8 is not valid UTF-8 (byte 0xE9); the file's encoding must be UTF-8"
    )
    assert problem.skipped


def test_undecodable_header_does_not_glue_its_text_to_the_previous_item() -> None:
    data = (
        ("Desk\n" + BEFORE).encode()
        + "3 March 2026 In Café News\n\n".encode("latin-1")
        + f"{LOST}\n\n".encode()
        + (AFTER + BREADCRUMB).encode()
    )
    result = read(data)
    assert [i.paragraphs for i in result.items] == [(RIVER,), (THANKS,)]
    assert [p.line for p in result.problems] == [6]


def test_cp1256_arabic_export_is_reported_line_by_line_without_items() -> None:
    result = read(ARABIC.encode("cp1256", errors="replace"))
    assert result.items == ()
    assert len(result.problems) == len([line for line in ARABIC.splitlines() if line])
    assert all("not valid UTF-8" in p.message and p.line for p in result.problems)


def test_text_before_the_first_header_is_reported() -> None:
    result = read("Desk\nA stray line.\n" + BEFORE + BREADCRUMB)
    assert len(result.items) == 1
    assert [(p.line, p.skipped) for p in result.problems] == [(2, True)]


@pytest.mark.parametrize("data", [b"", b"\x00\xff\xfe garbage \x80\n\n\x01", bytes(range(256)) * 4])
def test_any_bytes_give_a_result_and_never_raise(data: bytes) -> None:
    assert isinstance(read(data), ReadResult)


# --- detection ----------------------------------------------------------------------------


def test_looks_like_listing_finds_a_header_near_the_top() -> None:
    assert looks_like_listing(BASIC.encode())
    assert looks_like_listing(ARABIC.encode())
    assert looks_like_listing((EXAMPLES / "2026-11-26-ar.txt").read_bytes())
    assert not looks_like_listing(b"---\ndate: 2026-11-25\n---\nSome text.\n")
    assert not looks_like_listing(b"Just some prose.\n\nAbout 12 March 2019, and more.\n")
    assert not looks_like_listing(b"Desk\n" + b"filler line\n" * 45 + BASIC.encode())


# --- dates at the edges of the calendar -----------------------------------------------------


@pytest.mark.parametrize("header", ["01 January 0001", "31 December 9999", "31 December 1989"])
def test_an_item_dated_in_an_implausible_year_is_reported_with_its_line_and_skipped(
    header: str,
) -> None:
    result = read("Desk\n" + BEFORE + entry(f"{header} In Local News", LOST) + AFTER + BREADCRUMB)
    assert [i.paragraphs for i in result.items] == [(RIVER,), (THANKS,)]
    [problem] = result.problems
    assert (problem.line, problem.skipped) == (6, True)
    assert "implausible date" in problem.message
    assert "items must be dated from 1990-01-01 to 2199-12-31" in problem.message


def test_the_first_plausible_day_and_a_leap_day_are_read() -> None:
    text = "Desk\n" + entry("01 January 1990 In Local News", RIVER)
    text += entry("29 February 2024 In Local News", THANKS) + BREADCRUMB
    result = read(text)
    assert result.problems == ()
    assert [i.day for i in result.items] == [date(1990, 1, 1), date(2024, 2, 29)]


def test_a_category_named_all_keeps_off_the_slug_of_the_feed_of_everything() -> None:
    [first] = read("Desk\n" + entry("3 March 2026 In All", RIVER) + BREADCRUMB).items
    assert first.category == Category("category-all", "All")


# --- line ends, byte order marks, blanks ------------------------------------------------------


@pytest.mark.parametrize(
    "end", ["\r", "\r\n", "\n\r\n", "\r\r\n"], ids=["cr", "crlf", "mixed", "cr-crlf"]
)
def test_any_line_end_reads_like_a_newline(end: str) -> None:
    text = BASIC.replace("\n", end) if end in ("\r", "\r\n") else BASIC.replace("\n\n", end)
    result = read(text)
    assert result.problems == ()
    assert [i.paragraphs for i in result.items] == [(RIVER, DISMOUNT), (THANKS,)]
    assert [i.source for i in result.items] == ["Parks Office", "Council Press Office"]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_a_byte_order_mark_names_the_encoding_with_any_line_end(encoding: str, end: str) -> None:
    data = BASIC.replace("\n", end).encode(encoding)
    if encoding in ("utf-16-le", "utf-16-be"):  # these codecs write no mark: add it
        data = "\ufeff".encode(encoding) + data
    result = read(data)
    assert result.problems == ()
    assert [i.paragraphs for i in result.items] == [(RIVER, DISMOUNT), (THANKS,)]


def test_tabs_and_trailing_blanks_change_nothing() -> None:
    text = "\n".join(line.replace(" ", "\t", 1) + " \t " for line in BASIC.split("\n"))
    result = read(text)
    assert result.problems == ()
    assert [i.paragraphs for i in result.items] == [(RIVER, DISMOUNT), (THANKS,)]
    assert [i.category.name for i in result.items] == ["Local News", "Statements"]
    assert [i.source for i in result.items] == ["Parks Office", "Council Press Office"]


# --- zero-width and bidi formatting characters ------------------------------------------------

FORMATTING = [
    *map(chr, range(0x200B, 0x2010)),
    *map(chr, range(0x202A, 0x202F)),
    *map(chr, range(0x2066, 0x206A)),
    "\ufeff",
    "\u061c",
]


def sprinkle(line: str, mark: str) -> str:
    """``line`` with ``mark`` at its start, after its first word and at its end."""
    first, rest = line.split(" ", 1)
    return f"{mark}{first}{mark} {rest}{mark}"


@pytest.mark.parametrize("mark", FORMATTING, ids=[f"U+{ord(c):04X}" for c in FORMATTING])
def test_formatting_characters_hide_no_header_source_or_breadcrumb(mark: str) -> None:
    text = (
        "Town Desk\n"
        + sprinkle("3 March 2026 In Local News", mark)
        + f"\n\n{RIVER}\n\n{DISMOUNT} (Source:{mark} Parks Office){mark}\n\n"
        + sprinkle("03 March 2026 In Statements", mark)
        + f"\n\n{THANKS} {mark}(Source: Council Press Office){mark}\n\n"
        + sprinkle(BREADCRUMB.replace("filtered by", f"filtered{mark} by"), mark)
        + "\n"
    )
    result = read(text)
    assert result.problems == ()
    assert [i.category for i in result.items] == [LOCAL, Category("statements", "Statements")]
    assert [i.source for i in result.items] == ["Parks Office", "Council Press Office"]
    assert result.items[1].paragraphs == (THANKS,)
    assert "filtered" not in all_text(result)


@pytest.mark.parametrize("mark", FORMATTING, ids=[f"U+{ord(c):04X}" for c in FORMATTING])
def test_formatting_characters_stay_out_of_titles_slugs_and_category_names(mark: str) -> None:
    header = f"3 March 2026 In {mark}Parks{mark} and{mark} Trails{mark}"
    result = read("Desk\n" + entry(header, f"{mark}The{mark} river path{mark} reopens.{mark}"))
    [found] = result.items
    assert found.category == Category("parks-and-trails", "Parks and Trails")
    assert found.title == "The river path reopens."


def test_arabic_header_and_source_wrapped_in_direction_marks_are_read() -> None:
    text = (
        "أخبار\n\u200f٣ آذار ٢٠٢٦ في أخبار محلية\u200f\n\n"
        "\u202bأُغلقت الشوارع.\u202c \u200f(المصدر: البلدية)\u200f\n\n" + BREADCRUMB
    )
    [found] = read(text, ReadSettings(zone=ZoneInfo("UTC"), categories=ALIASES)).items
    assert found.category == LOCAL
    assert found.source == "البلدية"
    assert found.title == "أُغلقت الشوارع."


# --- an unknown page chrome, duplicates -------------------------------------------------------

OTHER_CRUMBS = {
    "own line": "\nHome Media Centre Town Desk Items filtered on date: Tuesday, 03 March 2026\n",
    "glued": "Start page > News > 3 March 2026\n",
    "two lines": "\nHome | News archive\nItems of Tuesday, 03 March 2026\n",
}


@pytest.mark.parametrize("crumb", OTHER_CRUMBS, ids=list(OTHER_CRUMBS))
def test_an_unknown_breadcrumb_keeps_the_last_item_and_warns_where_it_starts(crumb: str) -> None:
    text = BASIC.replace(BREADCRUMB + "\n", "")
    if crumb == "glued":
        text = text.rstrip("\n") + OTHER_CRUMBS[crumb]
    else:
        text += OTHER_CRUMBS[crumb].lstrip("\n")
    result = read(text)
    assert [i.paragraphs for i in result.items] == [(RIVER, DISMOUNT), (THANKS,)]
    assert result.items[1].source == "Council Press Office"
    [problem] = result.problems
    assert problem.skipped is False
    assert problem.line == (12 if crumb == "glued" else 14)
    assert "not the breadcrumb" in problem.message
    assert "Start page" not in all_text(result) and "Home" not in all_text(result)


def test_an_exact_duplicate_item_is_collapsed_with_a_warning() -> None:
    first = entry("3 March 2026 In Local News", RIVER, DISMOUNT)
    result = read("Desk\n" + first + first + AFTER + BREADCRUMB)
    assert [i.paragraphs for i in result.items] == [(RIVER, DISMOUNT), (THANKS,)]
    [problem] = result.problems
    assert (problem.line, problem.skipped) == (8, False)
    assert problem.message == "the item from line 2 appears again here: the copy is left out"
