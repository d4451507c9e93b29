"""Reads Markdown items, each a file with YAML front matter, from a folder into Items.

The front matter says when and where an item belongs (``date``, ``category``, optional
``title``, ``source``, ``language``, ``id``, ``time``); the body is CommonMark rendered with raw
HTML kept as text, then sanitised against a small allow-list, because the files are untrusted
input that ends up in feeds and mail. A bad file is reported with its line and skipped; the
other files are still read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

from bulletin.config.yaml_doc import YamlError, read_yaml
from bulletin.errors import InputProblem, SourceError
from bulletin.model import Item, direction_for
from bulletin.sanitize import ITEM, clean_html
from bulletin.sources import (
    ReadResult,
    ReadSettings,
    category_slug,
    derived_time,
    files_under,
    implausible_day,
    implausible_time,
)
from bulletin.text import clean_text, derive_title, normalize_space, stable_id

KEYS = frozenset({"date", "category", "title", "source", "language", "id", "time"})
# "html": False turns raw HTML in a file into text; the sanitiser is the second fence.
# Relative links are dropped too (``sanitize.ITEM``): feeds and mail are read far from the site.
_MARKDOWN = MarkdownIt("commonmark", {"html": False})
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CLOCK = re.compile(r"(?P<hour>[01]?[0-9]|2[0-3]):(?P<minute>[0-5][0-9])")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")


class _Bad(Exception):
    """A front-matter value that cannot be used, at a line of the file."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(frozen=True)
class _Front:
    day: date
    clock: time | None
    category: str
    title: str | None
    source: str | None
    language: str | None
    id: str | None


def _clean_lines(text: str) -> tuple[str, list[tuple[int, int]]]:
    """``text`` with XML-forbidden characters removed, and (line, count) of each removal."""
    lines, removed = [], []
    for number, line in enumerate(text.split("\n"), 1):
        cleaned, count = clean_text(line)
        lines.append(cleaned)
        if count:
            removed.append((number, count))
    return "\n".join(lines), removed


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise _Bad(
            line,
            f"line {line} is not valid UTF-8 (byte 0x{data[error.start]:02X}); "
            "the file's encoding must be UTF-8",
        ) from None


def _split_front(text: str) -> tuple[str, str, int]:
    """The front matter, the body, and the body's first line number."""
    lines = text.split("\n")
    if lines[0].rstrip() != "---":
        raise _Bad(1, "no front matter: the file must start with a '---' line")
    for index in range(1, len(lines)):
        if lines[index].rstrip() in ("---", "..."):
            return "\n".join(lines[1:index]), "\n".join(lines[index + 1 :]), index + 2
    raise _Bad(1, "the front matter is not closed: add a '---' line after it")


def _load_front(front: str) -> tuple[dict[str, Any], dict[str, int]]:
    """The front matter's mapping, and the line of each top-level key."""
    try:
        document = read_yaml(front)
    except YamlError as error:
        if error.line is None:  # a date that does not exist, like 2026-02-31
            line = error.lines.get(("date",), 0) + 1
            raise _Bad(line, f"invalid date in the front matter: {error.problem}") from None
        raise _Bad(error.line + 1, f"invalid YAML in the front matter: {error.problem}") from None
    # The front matter starts on the file's second line, after its opening '---'.
    lines = {str(path[0]): line + 1 for path, line in document.lines.items() if len(path) == 1}
    meta = {} if document.data is None else document.data
    if not isinstance(meta, dict):
        raise _Bad(2, "the front matter must be keys and values, like 'date: 2026-11-25'")
    return meta, lines


def _clean_values(meta: dict[str, Any], lines: dict[str, int]) -> list[tuple[int, int]]:
    """Clean the front matter's text values in place, as ``_clean_lines`` cleaned the file:
    YAML's escapes ("\\0", "\\x85", "\\ud800") write characters the file's bytes could not."""
    removed = []
    for key, value in meta.items():
        if isinstance(value, str):
            meta[key], count = clean_text(value)
            if count:
                removed.append((lines.get(str(key), 1), count))
    return removed


def _text(meta: dict[str, Any], lines: dict[str, int], key: str) -> str | None:
    value = meta.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Bad(lines.get(key), f"{key}: expected text, got {type(value).__name__}")
    return normalize_space(str(value)) or None


def _day(meta: dict[str, Any], lines: dict[str, int]) -> date:
    value = meta.get("date")
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if value is None:
        raise _Bad(1, "date is missing: add 'date: YYYY-MM-DD' to the front matter")
    text = str(value).strip()
    try:
        if _ISO_DAY.fullmatch(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise _Bad(lines.get("date"), f'date: expected a day like 2026-11-25, got "{text}"')


def _plausible(day: date, lines: dict[str, int]) -> date:
    implausible = implausible_day(day)
    if implausible is not None:
        raise _Bad(lines.get("date"), f"date: {implausible}")
    return day


def _clock(meta: dict[str, Any], lines: dict[str, int]) -> time | None:
    value = meta.get("time")
    if value is None:
        return None
    # YAML 1.1 reads an unquoted 14:30 as the base-60 number 870.
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return time(value // 60, value % 60)
    match = _CLOCK.fullmatch(str(value).strip())
    if match is None:
        raise _Bad(lines.get("time"), f'time: expected "HH:MM", got "{value}"')
    return time(int(match["hour"]), int(match["minute"]))


def _front(meta: dict[str, Any], lines: dict[str, int]) -> _Front:
    category = _text(meta, lines, "category")
    if category is None:
        raise _Bad(lines.get("category", 1), "category is missing: add 'category: <name>'")
    language = _text(meta, lines, "language")
    if language is not None and not _LANGUAGE.fullmatch(language):
        raise _Bad(
            lines.get("language"), f'language: expected a tag like "en" or "ar", got "{language}"'
        )
    return _Front(
        day=_plausible(_day(meta, lines), lines),
        clock=_clock(meta, lines),
        category=category,
        title=_text(meta, lines, "title"),
        source=_text(meta, lines, "source"),
        language=language,
        id=_text(meta, lines, "id"),
    )


def _inline_text(children: list[Token]) -> str:
    parts = []
    for child in children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(_inline_text(child.children or []))
    return "".join(parts)


def _blocks(tokens: list[Token]) -> list[str]:
    """The plain text of each block (paragraph, heading, list item, code), markup stripped."""
    blocks = []
    for token in tokens:
        if token.type == "inline":
            text = _inline_text(token.children or [])
        elif token.type in ("fence", "code_block"):
            text = token.content
        else:
            continue
        if text := normalize_space(text):
            blocks.append(text)
    return blocks


@dataclass(frozen=True)
class _Body:
    text: str
    line: int  # where it starts in the file


def _item(front: _Front, body: _Body, settings: ReadSettings, origin: str, item_key: str) -> Item:
    paragraphs = tuple(_blocks(_MARKDOWN.parse(body.text)))
    if not paragraphs:
        raise _Bad(body.line, "empty body: write the item's text under the front matter")
    language = front.language or settings.language
    item_id = front.id or stable_id("directory", item_key)
    if front.clock is None:
        published = derived_time(settings, front.day, item_id)
    else:
        published = datetime.combine(front.day, front.clock, tzinfo=settings.zone).astimezone(UTC)
    return Item(
        id=item_id,
        day=front.day,
        published=published,
        category=settings.categories.resolve(front.category, category_slug),
        title=front.title or derive_title(paragraphs[0]),
        paragraphs=paragraphs,
        body_html=clean_html(_MARKDOWN.render(body.text), ITEM).strip(),
        source=front.source,
        language=language,
        direction=direction_for(language),
        title_derived=front.title is None,
        origin=origin,
    )


def read_markdown(data: bytes, origin: str, settings: ReadSettings, item_key: str) -> ReadResult:
    """The item of one Markdown file; ``item_key`` (its path in the folder) makes its default id."""
    try:
        text, removed = _clean_lines(_decode(data).replace("\r\n", "\n").replace("\r", "\n"))
        front_text, body, body_line = _split_front(text)
        meta, lines = _load_front(front_text)
        removed += _clean_values(meta, lines)
        item = _item(_front(meta, lines), _Body(body, body_line), settings, origin, item_key)
        implausible = implausible_time(item.published)
        if implausible is not None:
            raise _Bad(lines.get("date", 1), implausible)
    except _Bad as bad:
        return ReadResult(problems=(InputProblem(origin, bad.line, bad.message),))
    problems = [
        InputProblem(origin, lines.get(key, 1), f"unknown key {key!r} is ignored", skipped=False)
        for key in sorted(set(map(str, meta)) - KEYS)
    ]
    problems += [
        InputProblem(origin, number, f"removed {count} characters XML forbids", skipped=False)
        for number, count in removed
    ]
    return ReadResult((item,), tuple(problems))


def looks_like_markdown(data: bytes) -> bool:
    """Whether the data starts with a ``---`` front-matter line."""
    head = data.removeprefix(b"\xef\xbb\xbf")[:8]
    return head.startswith((b"---\n", b"---\r")) or head.rstrip(b" \t") == b"---"


def read_directory(folder: Path, settings: ReadSettings) -> ReadResult:
    """The items of every ``*.md`` file under ``folder`` (hidden ones aside), in path order."""
    if not folder.is_dir():
        raise SourceError(f"{folder}: no such folder", hint="Check the source's path.")
    result = ReadResult()
    for path in files_under(folder, "*.md"):
        result += _read_file(path, folder, settings)
    return _drop_duplicate_ids(result)


def _read_file(path: Path, folder: Path, settings: ReadSettings) -> ReadResult:
    """One Markdown file of a folder; its path relative to ``folder`` makes its default id."""
    try:
        data = path.read_bytes()
    except OSError as error:
        return ReadResult(problems=(InputProblem(str(path), None, f"cannot read: {error}"),))
    return read_markdown(data, str(path), settings, path.relative_to(folder).as_posix())


def _drop_duplicate_ids(result: ReadResult) -> ReadResult:
    """The items with an id seen before dropped and reported: an id must name one item."""
    seen: dict[str, str] = {}
    items, problems = [], list(result.problems)
    for item in result.items:
        if item.id in seen:
            message = (
                f'id "{item.id}" is already used by {seen[item.id]}; give this item another id'
            )
            problems.append(InputProblem(item.origin, None, message))
            continue
        seen[item.id] = item.origin
        items.append(item)
    return ReadResult(tuple(items), tuple(problems))
