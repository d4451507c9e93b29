"""Pure helpers for untrusted text: XML-safe cleaning, derived titles, slugs, stable ids."""

from __future__ import annotations

import hashlib
import re
import unicodedata

from slugify import slugify as _slugify

# XML 1.0 Char production (https://www.w3.org/TR/xml/#charsets): tab, newline, carriage return,
# and everything from U+0020 except surrogates and U+FFFE/U+FFFF. C1 controls are allowed by XML
# but are never meant in news text, so they go too.
_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]|[\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
#: Zero-width and bidi formatting characters (and the word joiner): invisible, and copied
#: along with text from right-to-left pages. Readers ignore them where they recognise the
#: input's structure, and keep them out of titles, slugs and names.
FORMAT_CHARACTERS = (
    "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2066\u2067\u2068\u2069\ufeff\u061c"
)
_NO_FORMAT = dict.fromkeys(map(ord, FORMAT_CHARACTERS))
_FORMAT = re.compile(f"[{FORMAT_CHARACTERS}]")
_SURROGATE_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")
TITLE_TARGET = 90


def clean_text(text: str) -> tuple[str, int]:
    """Text with XML-forbidden characters removed, lone surrogates replaced by U+FFFD.

    Returns the cleaned text and how many characters were removed or replaced. A valid emoji
    (one code point above U+FFFF) is kept; a surrogate pair decoded as two code points is joined.
    """
    if not _NOT_XML_CHAR.search(text):
        return text, 0
    # A correctly paired surrogate (e.g. from JSON or UTF-16 gone wrong) becomes its emoji.
    text = _SURROGATE_PAIR.sub(
        lambda m: m.group().encode("utf-16-le", "surrogatepass").decode("utf-16-le"), text
    )
    count = 0

    def fix(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return "\ufffd" if _SURROGATE.match(match.group()) else ""

    return _NOT_XML_CHAR.sub(fix, text), count


def strip_format(text: str) -> str:
    """``text`` without formatting characters (``FORMAT_CHARACTERS``)."""
    return text.translate(_NO_FORMAT)


def visible(text: str) -> tuple[str, list[int]]:
    """``text`` without formatting characters, and where to cut ``text`` to keep the first
    ``i`` of them, for each ``i``: a cut found in the one then applies to the other."""
    if not _FORMAT.search(text):
        return text, list(range(len(text) + 1))
    kept = [at for at, char in enumerate(text) if char not in FORMAT_CHARACTERS]
    return "".join(text[at] for at in kept), [0, *(at + 1 for at in kept)]


def normalize_space(text: str) -> str:
    """Runs of whitespace collapsed to one space, ends trimmed."""
    return " ".join(text.split())


_SENTENCE_END = re.compile(r"(?<=[.!?؟。])[\"'”’»)]*\s")


def derive_title(text: str, target: int = TITLE_TARGET) -> str:
    """A title from the first sentence, cut at a word boundary near ``target`` with an ellipsis."""
    text = normalize_space(text)
    match = _SENTENCE_END.search(text)
    sentence = text[: match.end()].strip() if match else text
    if len(sentence) <= target + 10:
        return sentence.rstrip()
    cut = sentence.rfind(" ", 0, target + 1)
    if cut < target // 2:
        cut = target
    return sentence[:cut].rstrip(" ,;:—-–،؛") + "…"


def slugify(name: str) -> str:
    """A URL- and file-safe ASCII slug; non-Latin names are transliterated."""
    slug = _slugify(name)
    if slug:
        return slug
    digest = hashlib.sha256(unicodedata.normalize("NFC", name).encode()).hexdigest()[:10]
    return f"category-{digest}"


def stable_id(*parts: str) -> str:
    """A short id derived only from the given parts, so it survives re-collection."""
    normalized = "\x1f".join(unicodedata.normalize("NFC", p).casefold() for p in parts)
    return hashlib.sha256(normalized.encode()).hexdigest()[:20]
