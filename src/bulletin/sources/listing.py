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
from bulletin.text import clean_text, derive_title, normalize_space, stable_id

#: A header is a short line with a short category; longer lines are paragraphs.
HEADER_MAX = 120
CATEGORY_MAX = 60
#: How many words of the first paragraph go into an item's id (later edits keep the id).
ID_WORDS = 12
#: ``looks_like_listing`` looks for a header in this many lines.
SNIFF_LINES = 40

#: The page chrome after the items: the breadcrumb's first word and a phrase it contains, at
#: most CHROME_SPAN characters after it.
CHROME_MARKERS = (("Home", "filtered by date"), ("الرئيسية", "حسب التاريخ"))
CHROME_SPAN = 150
#: The word between the date and the category, and whether it marks an Arabic header.
IN_MARKERS = {"In": False, "في": True}
#: Babel locales whose month names exports use: English, Modern Standard Arabic (يناير...) and
#: Levantine Arabic (كانون الثاني...), and whether they are Arabic.
MONTH_LOCALES = (("en", False), ("ar", True), ("ar_SY", True))

_ARABIC_FOLD = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ـ": None})
# Arabic-Indic (U+0660...) and Eastern Arabic-Indic (U+06F0...) digits, as ASCII digits.
_DIGITS = {
    code: str(unicodedata.decimal(chr(code)))
    for start in (0x0660, 0x06F0)
    for code in range(start, start + 10)
}
# Direction marks that right-to-left editors put around dates; they mean nothing to the parser.
_BIDI = dict.fromkeys(
    map(ord, "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
)
_SENTENCE_END = '.!?؟…:;,،؛"”’»)'
_CONNECTORS = frozenset({"and", "of", "the", "for", "&", "-", "–"})
_DATED = re.compile(
    r"(?P<day>[0-9]{1,2}) (?P<month>\S+(?: \S+)?) (?P<year>[0-9]{4})(?: (?P<rest>.*))?"
)
_DAY = re.compile(r"(?P<day>[0-9]{1,2}) (?P<rest>.+)")
_LOOSE_HEADER = re.compile(r"[0-9]{1,2} \S+(?: \S+)? [0-9]{4}(?: |$)")
_PAGER = re.compile(r"[0-9]{1,3}(?:\s+[0-9]{1,3})*")
_SOURCE = re.compile(
    r"\(\s*(?:Source|المصدر)\s*[:：]\s*(?P<who>(?:[^()]|\([^()]*\))*?)\s*\)$", re.IGNORECASE
)


def _words_pattern(words: str) -> str:
    return r"\s+".join(map(re.escape, words.split()))


# (first word, phrase) patterns; the first word must not sit inside another word.
_CHROME = tuple(
    (
        re.compile(rf"(?<![^\W\d]){_words_pattern(first)}(?!\w)", re.IGNORECASE),
        re.compile(_words_pattern(phrase), re.IGNORECASE),
    )
    for first, phrase in CHROME_MARKERS
)
_PAGER_TAIL = re.compile(r"(?<![0-9])[0-9]{1,3}$")


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
    """``text`` as the header parser sees it: ASCII digits, no direction marks, single spaces."""
    return normalize_space(text.translate(_DIGITS).translate(_BIDI))


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
    if not line or len(line) > HEADER_MAX or line[-1] in _SENTENCE_END:
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


def _glue_rank(text: str, start: int) -> int:
    """How surely a breadcrumb word at ``start`` opens the chrome: 0 best, 3 worst.

    The export glues the breadcrumb to the text before it, so a first word right after a
    non-space beats one at the line's start, which beats one after a finished sentence, which
    beats one in prose (where "Home", or "الرئيسية" meaning "main", can occur).
    """
    if start == 0:
        return 1
    if not text[start - 1].isspace():
        return 0
    return 2 if text[:start].rstrip()[-1:] in _SENTENCE_END else 3


def _split_chrome(text: str) -> tuple[str, bool]:
    """The part of a line before the page's breadcrumb, and whether there was one."""
    # The digit translation keeps every character's position, so the cut applies to ``text``.
    line = text.translate(_DIGITS)
    for first, phrase in _CHROME:
        found = phrase.search(line)
        if found is None:
            continue
        window = max(0, found.start() - CHROME_SPAN)
        starts = [match.start() for match in first.finditer(line, window, found.start())]
        if starts:
            start = min(starts, key=lambda at: (_glue_rank(line, at), at))
            pager = _PAGER_TAIL.search(line, 0, start)  # a page number glued before it
            return text[: pager.start() if pager else start].rstrip(), True
    return text, False


@dataclass(frozen=True)
class _Line:
    number: int
    text: str | None  # None when the line's bytes are not UTF-8
    guess: str  # the text, or the bytes decoded with replacements, to see where items start
    bad_byte: int = 0


def _split_lines(data: bytes) -> list[_Line]:
    """The lines of an export, each decoded on its own so one bad line spoils only itself."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        # The BOM names the byte order; a UTF-16 export is rare enough to decode in one go.
        text = data.decode("utf-16", errors="replace")
        rows = [row.removesuffix("\r") for row in text.split("\n")]
        return [_Line(number, row, row) for number, row in enumerate(rows, 1)]
    lines = []
    for number, raw in enumerate(data.removeprefix(b"\xef\xbb\xbf").split(b"\n"), 1):
        raw = raw.removesuffix(b"\r")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            lines.append(_Line(number, None, raw.decode("utf-8", "replace"), raw[error.start]))
        else:
            lines.append(_Line(number, text, text))
    return lines


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

    def feed(self, line: _Line) -> None:
        if line.text is None:
            self._undecodable(line)
            return
        text, removed = clean_text(line.text)
        content, chrome = _split_chrome(text)
        if content.strip():
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

    def _undecodable(self, line: _Line) -> None:
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
    """The paragraphs without the closing ``(Source: who)``, and who."""
    match = _SOURCE.search(paragraphs[-1]) if paragraphs else None
    if match is None or not match["who"].strip():
        return paragraphs, None
    rest = paragraphs[-1][: match.start()].rstrip()
    return paragraphs[:-1] + ([rest] if rest else []), normalize_space(match["who"])


@dataclass(frozen=True)
class _Body:
    paragraphs: list[str]
    source: str | None


def _build(draft: _Draft, body: _Body, position: int, settings: ReadSettings, origin: str) -> Item:
    paragraphs, source = body.paragraphs, body.source
    header = draft.header
    category = settings.categories.resolve(header.category, category_slug)
    language = "ar" if header.arabic else settings.language
    first_words = " ".join(paragraphs[0].split()[:ID_WORDS])
    item_id = stable_id("listing", header.day.isoformat(), category.slug, first_words)
    return Item(
        id=item_id,
        day=header.day,
        # The export lists a day's items newest first: each a minute before the one above.
        published=derived_time(settings, header.day, item_id, minutes_before=position),
        category=category,
        title=derive_title(paragraphs[0]),
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


def read_listing(data: bytes, origin: str, settings: ReadSettings) -> ReadResult:
    """The items of a listing export, and the problems found in it."""
    gatherer = _Gatherer(origin)
    for line in _split_lines(data):
        gatherer.feed(line)
    problems = gatherer.problems
    items: list[Item] = []
    per_day: Counter[date] = Counter()
    per_id: Counter[str] = Counter()
    for index, draft in enumerate(gatherer.drafts):
        position = per_day[draft.header.day]
        per_day[draft.header.day] += 1
        if draft.undecodable:
            continue  # its bad lines are reported already
        body = _Body(*_take_source(_paragraphs(draft.lines)))
        last_open = index == len(gatherer.drafts) - 1 and gatherer.state == "item"
        rejection = _rejection(draft, body, last_open)
        if rejection is not None:
            problems.append(InputProblem(origin, *rejection))
            continue
        item = _build(draft, body, position, settings, origin)
        implausible = implausible_time(item.published)
        if implausible is not None:
            problems.append(InputProblem(origin, draft.line, implausible))
            continue
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
    lines = _split_lines(data[:65536])[:SNIFF_LINES]
    return any(_scan_header(line.guess) is not None for line in lines)
