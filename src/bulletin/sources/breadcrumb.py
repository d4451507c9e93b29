"""Where a listing export's page chrome starts: the breadcrumb the website puts after the items.

The export glues the breadcrumb (``Home Media Center ... Items filtered by date: Friday, 08
February 2019``) to whatever came before it, a page number or the last item's source line
included, and words of it ("Home", or "الرئيسية" meaning "main") can occur in prose; so a cut is
found by its first word and a phrase after it, and the likeliest first word wins.
"""

from __future__ import annotations

import re
import unicodedata

from bulletin.text import visible

#: The breadcrumb's first word and a phrase it contains, at most CHROME_SPAN characters after.
CHROME_MARKERS = (("Home", "filtered by date"), ("الرئيسية", "حسب التاريخ"))
CHROME_SPAN = 150
#: What ends a sentence, in English and Arabic (a closing quote or bracket too).
SENTENCE_END = '.!?؟…:;,،؛"”’»)'

# Arabic-Indic (U+0660...) and Eastern Arabic-Indic (U+06F0...) digits, as ASCII digits.
_DIGITS = {
    code: str(unicodedata.decimal(chr(code)))
    for start in (0x0660, 0x06F0)
    for code in range(start, start + 10)
}
_PAGER_TAIL = re.compile(r"(?<![0-9])[0-9]{1,3}$")


def ascii_digits(text: str) -> str:
    """``text`` with Arabic-Indic digits as ASCII ones; every character keeps its position."""
    return text.translate(_DIGITS)


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
    return 2 if text[:start].rstrip()[-1:] in SENTENCE_END else 3


def split_chrome(text: str) -> tuple[str, bool]:
    """The part of a line before the page's breadcrumb, and whether there was one.

    Zero-width and bidi formatting characters are ignored: copied from a right-to-left page,
    they sit anywhere in a breadcrumb.
    """
    line, cuts = visible(ascii_digits(text))
    for first, phrase in _CHROME:
        found = phrase.search(line)
        if found is None:
            continue
        window = max(0, found.start() - CHROME_SPAN)
        starts = [match.start() for match in first.finditer(line, window, found.start())]
        if starts:
            start = min(starts, key=lambda at: (_glue_rank(line, at), at))
            pager = _PAGER_TAIL.search(line, 0, start)  # a page number glued before it
            return text[: cuts[pager.start() if pager else start]].rstrip(), True
    return text, False
