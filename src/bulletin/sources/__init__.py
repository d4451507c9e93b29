"""Sources turn outside input (listing exports, Markdown folders) into Items.

Each kind of source is one module; this package's ``read_*`` functions pick the reader. A reader
never stops at a bad item: it reports the problem with file and line and goes on with the rest.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path, PurePath
from zoneinfo import ZoneInfo

from bulletin.errors import InputProblem, SourceError
from bulletin.model import CategoryIndex, Item
from bulletin.text import slugify


@dataclass(frozen=True)
class ReadSettings:
    """What a reader needs to know about the site to turn input into Items."""

    zone: ZoneInfo
    item_time: time = time(12, 0)
    language: str = "en"
    categories: CategoryIndex = field(default_factory=CategoryIndex)


@dataclass(frozen=True)
class ReadResult:
    """The items read from some input, and the problems found on the way."""

    items: tuple[Item, ...] = ()
    problems: tuple[InputProblem, ...] = ()

    def __add__(self, other: ReadResult) -> ReadResult:
        return ReadResult(self.items + other.items, self.problems + other.problems)


#: Slugs a source's category may not take: "all" names the feed of everything.
RESERVED_SLUGS = frozenset({"all"})


def category_slug(name: str) -> str:
    """The slug of a category a source names: ``text.slugify``, kept off the reserved ones, so
    that an item in a category called "All" cannot stop the feeds from being built."""
    slug = slugify(name)
    return f"category-{slug}" if slug in RESERVED_SLUGS else slug


#: The days an item may be dated: earlier is before any news feed (the W3C validator calls a
#: date before 1990 implausible), later is a typo; either is reported and the item skipped.
EARLIEST_DAY = date(1990, 1, 1)
LATEST_DAY = date(2199, 12, 31)


_EARLIEST_TIME = datetime.combine(EARLIEST_DAY, time(0), tzinfo=UTC)


def implausible_day(day: date) -> str | None:
    """Why ``day`` cannot be an item's date, or None when it can."""
    if EARLIEST_DAY <= day <= LATEST_DAY:
        return None
    return (
        f"implausible date {day.isoformat()}: items must be dated from "
        f"{EARLIEST_DAY.isoformat()} to {LATEST_DAY.isoformat()}; check the year"
    )


def implausible_time(moment: datetime) -> str | None:
    """Why ``moment`` cannot be an item's time, or None when it can: on the first day, a zone
    ahead of UTC can put it before that day in UTC."""
    if moment >= _EARLIEST_TIME:
        return None
    shown = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    return f"implausible time {shown} UTC: items must be dated from {_EARLIEST_TIME:%Y-%m-%d} UTC"


def id_seconds(item_id: str) -> int:
    """0-59 seconds drawn from an item's id: the same for the same id, whoever reads it."""
    digest = hashlib.sha256(item_id.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:4], "big") % 60


def derived_time(
    settings: ReadSettings, day: date, item_id: str, minutes_before: int = 0
) -> datetime:
    """When an item that carries only a date was published, in UTC.

    ``settings.item_time`` on its day, ``minutes_before`` earlier (a listing's later items),
    plus seconds drawn from its id: two sources covering the same day then seldom give two
    items the same second, and the time never depends on which was read first.
    """
    local = datetime.combine(day, settings.item_time, tzinfo=settings.zone)
    offset = timedelta(seconds=id_seconds(item_id)) - timedelta(minutes=minutes_before)
    return (local + offset).astimezone(UTC)


#: What ``read_path`` accepts as ``kind``; None tells the kinds apart by content.
KINDS = ("listing", "directory")
STDIN = "-"


def files_under(folder: Path, pattern: str) -> list[Path]:
    """Files under ``folder`` matching ``pattern``, recursively, in path order; no hidden ones."""
    try:
        found = [path for path in folder.rglob(pattern) if path.is_file()]
    except OSError as error:
        raise SourceError(f"{folder}: cannot list the folder: {error}") from error
    visible = [
        p for p in found if not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    return sorted(visible, key=lambda path: path.relative_to(folder).as_posix())


def read_bytes(data: bytes, origin: str, settings: ReadSettings) -> ReadResult:
    """Items from one input, read as Markdown or as a listing export by its content."""
    from bulletin.sources.directory import looks_like_markdown, read_markdown
    from bulletin.sources.listing import looks_like_listing, read_listing

    if looks_like_markdown(data):
        return read_markdown(data, origin, settings, PurePath(origin).name)
    if looks_like_listing(data):
        return read_listing(data, origin, settings)
    message = (
        "not a listing export or a Markdown item: no 'DD Month YYYY In Category' header in "
        "its first lines and no '---' front matter"
    )
    return ReadResult(problems=(InputProblem(origin, None, message),))


def _read_data(data: bytes, origin: str, settings: ReadSettings, kind: str | None) -> ReadResult:
    from bulletin.sources.directory import read_markdown
    from bulletin.sources.listing import read_listing

    if kind == "listing":
        return read_listing(data, origin, settings)
    if kind == "directory":
        return read_markdown(data, origin, settings, PurePath(origin).name)
    return read_bytes(data, origin, settings)


def _read_folder(folder: Path, settings: ReadSettings, kind: str | None) -> ReadResult:
    from bulletin.sources.directory import read_directory
    from bulletin.sources.listing import read_listing

    if kind == "directory":
        return read_directory(folder, settings)
    result = ReadResult() if kind == "listing" else read_directory(folder, settings)
    for path in files_under(folder, "*.txt" if kind == "listing" else "*"):
        if kind is None and path.suffix == ".md":
            continue  # read above, as Markdown
        try:
            data = path.read_bytes()
        except OSError as error:
            result += ReadResult(problems=(InputProblem(str(path), None, f"cannot read: {error}"),))
            continue
        reader = read_listing if kind == "listing" else read_bytes
        result += reader(data, str(path), settings)
    return result


def read_path(path: Path, settings: ReadSettings, kind: str | None = None) -> ReadResult:
    """Items from a file, a folder or stdin (``-``), of ``kind`` or told apart by content."""
    if kind is not None and kind not in KINDS:
        raise SourceError(f'unknown source kind "{kind}"', hint='Use "listing" or "directory".')
    if str(path) == STDIN:
        return _read_data(sys.stdin.buffer.read(), "<stdin>", settings, kind)
    if path.is_dir():
        return _read_folder(path, settings, kind)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SourceError(
            f"{path}: no such file or folder", hint="Check the source's path."
        ) from None
    except OSError as error:
        raise SourceError(f"{path}: cannot read: {error.strerror}") from error
    return _read_data(data, str(path), settings, kind)


def read_paths(paths: Sequence[Path], settings: ReadSettings) -> ReadResult:
    """Items from several files or folders, in the order given, kinds told by content."""
    result = ReadResult()
    for path in paths:
        result += read_path(path, settings)
    return result
