"""Reads the newsroom website's plain-text daily listing export into Items.

An export is a heading line, then items each opened by a header such as ``08 February 2019 In
Local News`` (or the Arabic ``٨ شباط ٢٠١٩ في أخبار محلية``), their paragraphs separated by blank
lines, the last one ending with ``(Source: who)``, and at the end the page's breadcrumb. The
reader works line by line on bytes, so an undecodable line, a broken header or a truncated end
costs only its own item: each problem is reported with file and line and the rest is read.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from bulletin.errors import InputProblem
from bulletin.languages import month_names
from bulletin.model import Item, direction_for, paragraphs_to_html
from bulletin.sources import (
    ReadResult,
    ReadSettings,
    category_slug,
    derived_time,
    implausible_day,
    implausible_time,
)
from bulletin.sources.breadcrumb import SENTENCE_END, ascii_digits, split_chrome
from bulletin.sources.decoding import Line, split_lines
from bulletin.text import (
    clean_text,
    derive_title,
    normalize_space,
    stable_id,
    strip_format,
    visible,
)

#: A header is a short line with a short category; longer lines are paragraphs.
HEADER_MAX = 120
CATEGORY_MAX = 60
#: How many words of the first paragraph go into an item's id (later edits keep the id).
ID_WORDS = 12
#: ``looks_like_listing`` looks for a header in this many lines.
SNIFF_LINES = 40

#: The word between the date and the category, and whether it marks an Arabic header.
IN_MARKERS = {"In": False, "في": True}
#: Babel locales whose month names exports use: English, Modern Standard Arabic (يناير...) and
#: Levantine Arabic (كانون الثاني...), and whether they are Arabic.
MONTH_LOCALES = (("en", False), ("ar", True), ("ar_SY", True))

_ARABIC_FOLD = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ـ": None})
_CONNECTORS = frozenset({"and", "of", "the", "for", "&", "-", "–"})
_DATED = re.compile(
    r"(?P<day>[0-9]{1,2}) (?P<month>\S+(?: \S+)?) (?P<year>[0-9]{4})(?: (?P<rest>.*))?"
)
_DAY = re.compile(r"(?P<day>[0-9]{1,2}) (?P<rest>.+)")
_LOOSE_HEADER = re.compile(r"[0-9]{1,2} \S+(?: \S+)? [0-9]{4}(?: |$)")
_PAGER = re.compile(r"[0-9]{1,3}(?:\s+[0-9]{1,3})*")
_SOURCE_TEXT = r"\(\s*(?:Source|المصدر)\s*[:：]\s*(?P<who>(?:[^()]|\([^()]*\))*?)\s*\)"
_SOURCE = re.compile(_SOURCE_TEXT + "$", re.IGNORECASE)
_SOURCE_IN_TEXT = re.compile(_SOURCE_TEXT, re.IGNORECASE)
UNKNOWN_CHROME = (
    "this is not the breadcrumb bulletin knows, after the last item's (Source: ...): it and "
    "what follows are left out as the page's chrome, and the item is kept"
)


def _month_key(name: str) -> str:
    """A month name folded so spelling variants meet: case, alef forms, tatweel, spacing."""
    name = unicodedata.normalize("NFKC", name).casefold().strip(".,،")
    return normalize_space(name.translate(_ARABIC_FOLD))


def _month_table() -> dict[str, tuple[int, bool]]:
    table: dict[str, tuple[int, bool]] = {}
    for locale, arabic in MONTH_LOCALES:
        for number, name in month_names(locale):
            table.setdefault(_month_key(name), (number, arabic))
    table.setdefault("sept", (9, False))
    return table


#: Folded month name -> (month number, whether the name is Arabic).
MONTHS = _month_table()


@dataclass(frozen=True)
class _Header:
    day: date
    category: str
    arabic: bool


def _plain(text: str) -> str:
    """``text`` as the header parser sees it: ASCII digits, single spaces, and none of the
    zero-width and direction marks that right-to-left editors put around dates."""
    return normalize_space(strip_format(ascii_digits(text)))


def _looks_like_category(text: str) -> bool:
    words = text.split()
    return (
        0 < len(words) <= 6
        and len(text) <= CATEGORY_MAX
        and all(not word[0].islower() or word in _CONNECTORS for word in words)
    )


def _split_marker(rest: str) -> tuple[bool, str] | None:
    """(is Arabic, category) when ``rest`` is ``In <Category>``, else None."""
    first, _, category = rest.partition(" ")
    if first in IN_MARKERS:
        return IN_MARKERS[first], category
    # A lower-case "in" could start a sentence's next clause; only a category-like tail counts.
    if first.casefold() == "in" and _looks_like_category(category):
        return False, category
    return None


def _known_month_prefix(text: str) -> tuple[str | None, str]:
    words = text.split(" ")
    for count in (2, 1):
        if len(words) >= count and _month_key(" ".join(words[:count])) in MONTHS:
            return " ".join(words[:count]), " ".join(words[count:])
    return None, ""


def _scan_header(text: str) -> _Header | str | None:
    """``text`` as an item header, a message if it is a broken one, None if it is ordinary text.

    A header is a line of at most HEADER_MAX characters that starts with a 1-2 digit day and a
    month (then a 4-digit year), does not end like a sentence, and whose tail is ``In <Category>``
    or, when broken, at least looks like a category (a few capitalised words). So "12 March 2019
    was the day ..." stays a paragraph.
    """
    line = _plain(text)
    if not line or len(line) > HEADER_MAX or line[-1] in SENTENCE_END:
        return None
    dated = _DATED.fullmatch(line)
    if dated:
        day, month_word, year, rest = dated["day"], dated["month"], dated["year"], dated["rest"]
    else:
        loose = _DAY.fullmatch(line)
        found, rest = _known_month_prefix(loose["rest"]) if loose else (None, "")
        if loose is None or found is None:
            return None
        day, month_word, year = loose["day"], found, None
    rest = rest or ""
    marked = _split_marker(rest)
    if marked is None and rest and not _looks_like_category(rest):
        return None
    if marked is not None and len(marked[1]) > CATEGORY_MAX:
        return None
    return _parse_header(day, month_word, year, marked)


def _parse_header(
    day: str, month_word: str, year: str | None, marked: tuple[bool, str] | None
) -> _Header | str:
    month = MONTHS.get(_month_key(month_word))
    if month is None:
        return f'unknown month "{month_word}"'
    if year is None:
        return 'no year in the item header; write it as "DD Month YYYY In Category"'
    if marked is None:
        return 'no "In <Category>" after the date in the item header'
    if not marked[1]:
        return "no category after the date in the item header"
    try:
        when = date(int(year), month[0], int(day))
    except ValueError:
        return f"impossible date {day} {month_word} {year} in the item header"
    implausible = implausible_day(when)
    if implausible is not None:
        return implausible
    return _Header(when, marked[1], arabic=month[1] or marked[0])


@dataclass
class _Draft:
    """An item's lines as read, before they become an Item or a problem."""

    line: int
    header: _Header
    lines: list[tuple[int, str]] = field(default_factory=list)
    removed: list[tuple[int, int]] = field(default_factory=list)
    undecodable: bool = False


class _Gatherer:
    """Splits an export's lines into drafts, skipping chrome and reporting what it skips.

    ``state`` says what the lines being read belong to: "start" (nothing yet), "before" (after
    the heading), "item", "skip" (after a broken header), "stray" or "chrome" (after the
    breadcrumb). Only a valid header leads back to "item".
    """

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.drafts: list[_Draft] = []
        self.problems: list[InputProblem] = []
        self.state = "start"

    def problem(self, line: int, message: str, skipped: bool = True) -> None:
        self.problems.append(InputProblem(self.origin, line, message, skipped))

    def feed(self, line: Line) -> None:
        if line.text is None:
            self._undecodable(line)
            return
        text, removed = clean_text(line.text)
        content, chrome = split_chrome(text)
        if strip_format(content).strip():  # a line of nothing but invisible marks is blank
            self._content(line.number, content)
            if removed and self.state == "item":
                self.drafts[-1].removed.append((line.number, removed))
        elif self.state == "item" and not chrome:
            self.drafts[-1].lines.append((line.number, ""))
        if chrome:
            self.state = "chrome"

    def _content(self, number: int, text: str) -> None:
        scan = _scan_header(text)
        if isinstance(scan, _Header):
            self.drafts.append(_Draft(number, scan))
            self.state = "item"
        elif scan is not None:
            self.problem(number, f"{scan}; the item is skipped up to the next header")
            self.state = "skip"
        elif _PAGER.fullmatch(_plain(text)):
            pass  # page numbers of the website's pager
        elif self.state == "item":
            self.drafts[-1].lines.append((number, text))
        elif self.state == "start":
            self.state = "before"  # the page's heading
        elif self.state == "before":
            self.problem(number, "text before the first item header is skipped")
            self.state = "stray"

    def _undecodable(self, line: Line) -> None:
        self.problem(
            line.number,
            f"line {line.number} is not valid UTF-8 (byte 0x{line.bad_byte:02X}); "
            "the file's encoding must be UTF-8",
        )
        plain = _plain(line.guess)
        if len(plain) <= HEADER_MAX and _LOOSE_HEADER.match(plain):
            self.state = "skip"  # it opened an item: its text must not join the previous one
        elif self.state == "item":
            self.drafts[-1].undecodable = True


def _paragraphs(lines: list[tuple[int, str]]) -> list[str]:
    """Blank-line separated paragraphs, their lines joined with a space."""
    paragraphs: list[str] = []
    current: list[str] = []
    for _, text in [*lines, (0, "")]:
        if text.strip():
            current.append(text)
        elif current:
            paragraphs.append(normalize_space(" ".join(current)))
            current = []
    return paragraphs


def _take_source(paragraphs: list[str]) -> tuple[list[str], str | None]:
    """The paragraphs without the closing ``(Source: who)``, and who.

    Zero-width and direction marks around it (copied from a right-to-left page) are ignored.
    """
    if not paragraphs:
        return paragraphs, None
    shown, cuts = visible(paragraphs[-1])
    match = _SOURCE.search(shown.rstrip())
    if match is None or not match["who"].strip():
        return paragraphs, None
    rest = paragraphs[-1][: cuts[match.start()]].rstrip()
    return paragraphs[:-1] + ([rest] if rest else []), normalize_space(match["who"])


def _cut_unknown_chrome(draft: _Draft) -> int | None:
    """End the export's last item at its last ``(Source: ...)`` when what follows is page
    chrome bulletin does not know (a breadcrumb worded otherwise); the line where that chrome
    starts, or None when the item has no source to end at."""
    for index in range(len(draft.lines) - 1, -1, -1):
        number, text = draft.lines[index]
        shown, cuts = visible(text)
        found = list(_SOURCE_IN_TEXT.finditer(shown))
        if not found:
            continue
        end = cuts[found[-1].end()]
        later = [n for n, rest in draft.lines[index + 1 :] if strip_format(rest).strip()]
        if strip_format(text[end:]).strip():
            later.insert(0, number)
        if later:
            draft.lines[index:] = [(number, text[:end])]
        return later[0] if later else None
    return None


@dataclass(frozen=True)
class _Body:
    paragraphs: list[str]
    source: str | None


def _build(draft: _Draft, body: _Body, position: int, settings: ReadSettings, origin: str) -> Item:
    paragraphs, source = body.paragraphs, body.source
    header = draft.header
    category = settings.categories.resolve(header.category, category_slug)
    language = "ar" if header.arabic else settings.language
    first_words = " ".join(strip_format(paragraphs[0]).split()[:ID_WORDS])
    item_id = stable_id("listing", header.day.isoformat(), category.slug, first_words)
    return Item(
        id=item_id,
        day=header.day,
        # The export lists a day's items newest first: each a minute before the one above.
        published=derived_time(settings, header.day, item_id, minutes_before=position),
        category=category,
        title=derive_title(strip_format(paragraphs[0])),
        paragraphs=tuple(paragraphs),
        body_html=paragraphs_to_html(paragraphs),
        source=source,
        language=language,
        direction=direction_for(language),
        title_derived=True,
        origin=f"{origin}:{draft.line}",
    )


def _rejection(draft: _Draft, body: _Body, last_open: bool) -> tuple[int, str] | None:
    """Why a draft cannot become an item (line, message), or None when it can."""
    if not body.paragraphs:
        return draft.line, "empty item: no text under its header"
    if last_open and body.source is None:
        end = max([draft.line] + [number for number, text in draft.lines if text.strip()])
        return end, (
            f"file ends mid-item: the item from line {draft.line} has no (Source: ...) line and "
            "the page's closing breadcrumb is missing, so it looks truncated; export it again"
        )
    return None


def _body(draft: _Draft, last_open: bool, problems: list[InputProblem], origin: str) -> _Body:
    """The draft's paragraphs and source; the export's last item ends at its source when the
    page chrome after it is not the one bulletin knows (reported, and the item kept)."""
    body = _Body(*_take_source(_paragraphs(draft.lines)))
    if last_open and body.source is None:
        start = _cut_unknown_chrome(draft)
        if start is not None:
            problems.append(InputProblem(origin, start, UNKNOWN_CHROME, skipped=False))
            body = _Body(*_take_source(_paragraphs(draft.lines)))
    return body


def read_listing(data: bytes, origin: str, settings: ReadSettings) -> ReadResult:
    """The items of a listing export, and the problems found in it."""
    gatherer = _Gatherer(origin)
    for line in split_lines(data):
        gatherer.feed(line)
    problems = gatherer.problems
    items: list[Item] = []
    per_day: Counter[date] = Counter()
    per_id: Counter[str] = Counter()
    seen: dict[tuple[object, ...], int] = {}
    for index, draft in enumerate(gatherer.drafts):
        position = per_day[draft.header.day]
        per_day[draft.header.day] += 1
        if draft.undecodable:
            continue  # its bad lines are reported already
        last_open = index == len(gatherer.drafts) - 1 and gatherer.state == "item"
        body = _body(draft, last_open, problems, origin)
        rejection = _rejection(draft, body, last_open)
        if rejection is not None:
            problems.append(InputProblem(origin, *rejection))
            continue
        item = _build(draft, body, position, settings, origin)
        implausible = implausible_time(item.published)
        if implausible is not None:
            problems.append(InputProblem(origin, draft.line, implausible))
            continue
        copy = (item.day, item.category, item.paragraphs, item.source, item.language)
        if copy in seen:  # the same item twice in one export is one item
            message = f"the item from line {seen[copy]} appears again here: the copy is left out"
            problems.append(InputProblem(origin, draft.line, message, skipped=False))
            continue
        seen[copy] = draft.line
        per_id[item.id] += 1
        if per_id[item.id] > 1:
            item = item.with_updates(id=f"{item.id}-{per_id[item.id]}")
        items.append(item)
        for number, count in draft.removed:
            message = f"removed {count} characters XML forbids"
            problems.append(InputProblem(origin, number, message, skipped=False))
    problems.sort(key=lambda problem: problem.line or 0)
    return ReadResult(tuple(items), tuple(problems))


def looks_like_listing(data: bytes) -> bool:
    """Whether an item header appears in the first SNIFF_LINES lines."""
    lines = split_lines(data[:65536])[:SNIFF_LINES]
    return any(_scan_header(line.guess) is not None for line in lines)
