"""Property tests of what reads untrusted input: the listing reader, the Markdown reader, the
config loader, and the normalising of addresses.

Whatever the input, a reader gives items and problems located by file and line, and the config
loader a config or a ConfigError: never another exception, and never a long wait. Items a reader
would call good come back, all of them, whatever line ends, byte order mark, blanks, invisible
marks and page chrome surround them. The example budget is the "ci" profile of conftest.py.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from email_validator import EmailNotValidError, validate_email
from hypothesis import assume, given
from hypothesis import strategies as st

from bulletin.config import Config, parse_config
from bulletin.errors import ConfigError, InputProblem, StoreError
from bulletin.sources import ReadResult, ReadSettings
from bulletin.sources.directory import read_markdown
from bulletin.sources.listing import read_listing
from bulletin.store import normalize_address
from bulletin.text import FORMAT_CHARACTERS

SETTINGS = ReadSettings(zone=ZoneInfo("Asia/Damascus"))
#: Longest a reader or the loader may take on one small input.
PATIENCE = 5.0

MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
CAPITALS = ("Local", "Coalition", "Harbour", "City", "Market", "Sports", "Arts", "Council")
WORDS = ("river", "bridge", "council", "harbour", "night", "bus", "library", "works", "road")
MARKS = st.sampled_from(FORMAT_CHARACTERS)


def timed(read: object, *args: object) -> object:
    """``read(*args)``, failing when it took longer than PATIENCE."""
    started = time.perf_counter()
    result = read(*args)  # type: ignore[operator]
    assert time.perf_counter() - started < PATIENCE
    return result


def located(result: ReadResult, origin: str, lines: int) -> None:
    """Every problem names the file, and a line of it when it names one."""
    for problem in result.problems:
        assert isinstance(problem, InputProblem)
        assert problem.file == origin and problem.message
        assert problem.line is None or 1 <= problem.line <= lines + 1


# --- the listing reader -----------------------------------------------------------------------

NOISE = st.lists(
    st.sampled_from((
        *"0123456789 \t\r\n:()&<>.-", "In", "Home", "filtered by date", "(Source: x)", "في",
        " 2019 ", " March ", "آذار", "\x00", "\x85", "\ud800", "\ufeff", "\u202e", "\u200b",
    )),
    max_size=120,
).map("".join)  # fmt: skip


@given(st.binary(max_size=3000))
def test_any_bytes_give_a_listing_result_with_located_problems(data: bytes) -> None:
    result = timed(read_listing, data, "any.txt", SETTINGS)
    assert isinstance(result, ReadResult)
    located(result, "any.txt", data.count(b"\n") + data.count(b"\r"))


@given(NOISE)
def test_any_text_of_export_pieces_gives_a_listing_result(text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    result = timed(read_listing, data, "noise.txt", SETTINGS)
    assert isinstance(result, ReadResult)


@st.composite
def good_items(draw: st.DrawFn) -> list[dict[str, object]]:
    """A few items a listing reader must read: plausible days, category names of capitalised
    words, paragraphs that cannot pass for a header, a source."""
    items = []
    for index in range(draw(st.integers(1, 5))):
        day = draw(st.dates(min_value=date(1990, 1, 2), max_value=date(2199, 12, 30)))
        words = st.lists(st.sampled_from(WORDS), min_size=1, max_size=8)
        paragraphs = [
            f"Item {index} part {n} " + " ".join(draw(words)) + "."
            for n in range(draw(st.integers(1, 3)))
        ]
        items.append(
            {
                "day": day,
                "category": " ".join(draw(st.lists(st.sampled_from(CAPITALS), max_size=3)))
                or "News",
                "paragraphs": paragraphs,
                "source": " ".join(
                    draw(st.lists(st.sampled_from(CAPITALS), min_size=1, max_size=2))
                )
                + " Office",
            }
        )
    return items


@st.composite
def exports(draw: st.DrawFn) -> tuple[bytes, list[dict[str, object]]]:
    """Good items laid out as an export is, with every variation a reader must take."""
    items = draw(good_items())
    mark = draw(st.one_of(st.just(""), MARKS))
    blank = draw(st.sampled_from(["", " ", "\t", " \t "]))
    lines = [draw(st.sampled_from(["Town Desk", "أخبار", "Desk of the day"]))]
    for item in items:
        day = item["day"]
        assert isinstance(day, date)
        number = f"{day.day:02d}" if draw(st.booleans()) else str(day.day)
        header = f"{number} {MONTHS[day.month - 1]} {day.year} In {item['category']}"
        at = draw(st.integers(0, len(header)))
        lines += [header[:at] + mark + header[at:] + blank, blank]
        paragraphs = list(item["paragraphs"])  # type: ignore[call-overload]
        paragraphs[-1] += f" {mark}(Source:{mark} {item['source']}){mark}"
        for paragraph in paragraphs:
            lines += [paragraph + blank, blank]
    if draw(st.booleans()):
        lines.append("1 2 3")
    crumb = draw(
        st.sampled_from(
            [
                "Home Media Center Desk Items filtered by date: Friday, 08 February 2019",
                f"Home{mark} Media Center Desk Items filtered{mark} by date: 08 February 2019",
                "Home Media Centre Desk Items filtered on date: 08 February 2019",  # unknown
                "",
            ]
        )
    )
    lines.append(crumb)
    text = draw(st.sampled_from(["\n", "\r\n", "\r"])).join(lines)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
    return text.encode(encoding), items


@given(exports())
def test_every_good_item_of_an_export_comes_back_whatever_surrounds_it(
    export: tuple[bytes, list[dict[str, object]]],
) -> None:
    data, items = export
    result = timed(read_listing, data, "day.txt", SETTINGS)
    assert [p for p in result.problems if p.skipped] == []
    assert [(i.day, i.category.name, list(i.paragraphs), i.source) for i in result.items] == [
        (i["day"], i["category"], i["paragraphs"], i["source"]) for i in items
    ]
    for item in result.items:
        assert not set(item.title + item.category.name + item.category.slug) & set(
            FORMAT_CHARACTERS
        )


# --- the Markdown reader ----------------------------------------------------------------------


@given(st.binary(max_size=2000))
def test_any_bytes_give_a_markdown_result_with_located_problems(data: bytes) -> None:
    result = timed(read_markdown, b"---\n" + data, "any.md", SETTINGS, "any.md")
    assert isinstance(result, ReadResult)
    located(result, "any.md", data.count(b"\n") + data.count(b"\r") + 1)


FRONT_PIECES = st.sampled_from((
    "date: ", "2026-11-26", "category: ", "title: ", "time: ", '"', "'", "&a ", "*a", "[", "]",
    "{", "}", "\n", "\r", "  ", "- ", ": ", "#", "\\x00", "\\ud800", "!!python/object ", "?",
    "0001-01-01", "9999-12-31", "2026-02-31", "24:61", "|", ">", "---", "\t", "é", "\x85",
))  # fmt: skip


@given(st.lists(FRONT_PIECES, max_size=40), st.text(max_size=200))
def test_any_front_matter_gives_an_item_or_a_located_problem(pieces: list[str], body: str) -> None:
    text = "---\n" + "".join(pieces) + "\n---\n" + body
    result = timed(read_markdown, text.encode("utf-8", "surrogatepass"), "x.md", SETTINGS, "x.md")
    assert len(result.items) + len([p for p in result.problems if p.skipped]) == 1


@st.composite
def markdown_files(draw: st.DrawFn) -> tuple[bytes, dict[str, object]]:
    """A good Markdown item, with any line ends, byte order mark and trailing blanks."""
    day = draw(st.dates(min_value=date(1990, 1, 2), max_value=date(2199, 12, 30)))
    category = " ".join(draw(st.lists(st.sampled_from(CAPITALS), min_size=1, max_size=3)))
    title = draw(st.one_of(st.none(), st.sampled_from(["Bridge reopens", "Works: phase 2"])))
    paragraphs = [
        " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=8))).capitalize() + "."
        for _ in range(draw(st.integers(1, 4)))
    ]
    blank = draw(st.sampled_from(["", " ", "  \t"]))
    front = [f"date: {day.isoformat()}", f"category: {category}"]
    if title is not None:
        front.append(f'title: "{title}"')
    lines = ["---", *front, "---", *[f"{p}{blank}\n" for p in paragraphs]]
    text = draw(st.sampled_from(["\n", "\r\n", "\r"])).join(lines)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
    expected = {"day": day, "category": category, "title": title, "paragraphs": paragraphs}
    return text.encode(encoding), expected


@given(markdown_files())
def test_a_good_markdown_item_comes_back_whatever_its_line_ends(
    file: tuple[bytes, dict[str, object]],
) -> None:
    data, expected = file
    result = timed(read_markdown, data, "item.md", SETTINGS, "item.md")
    assert [p for p in result.problems if p.skipped] == []
    [item] = result.items
    assert (item.day, item.category.name, list(item.paragraphs)) == (
        expected["day"],
        expected["category"],
        expected["paragraphs"],
    )
    assert item.title == (expected["title"] or item.paragraphs[0])


# --- the config loader ------------------------------------------------------------------------

YAML_PIECES = st.sampled_from((
    "site:", "delivery:", "recipients:", "sources:", "  ", "- ", ": ", "\n", "&a ", "*a", "[",
    "]", "{", "}", ",", '"', "'", "\\0", "\\x85", "\\ud800", "!!binary ", "!!python/name:x",
    "title", "base_url", "https://x.org/ a", "\t", "\x00", "\x1b", "\ufeff", "? ", "|", ">",
    "<<: *a", "%YAML 1.1\n", "---\n", "...\n", "1e400", "0x1F", "~", "yes", "18:00", "é",
))  # fmt: skip


def loaded(text: str) -> Config | ConfigError:
    started = time.perf_counter()
    try:
        result: Config | ConfigError = parse_config(text, "config.yaml", Path("/srv/news"))
    except ConfigError as error:
        assert error.problems and all(str(p).startswith("config.yaml") for p in error.problems)
        result = error
    assert time.perf_counter() - started < PATIENCE
    return result


@given(st.lists(YAML_PIECES, max_size=60))
def test_any_config_text_gives_a_config_or_a_config_error(pieces: list[str]) -> None:
    assert isinstance(loaded("".join(pieces)), Config | ConfigError)


@given(st.text(max_size=400))
def test_any_unicode_text_gives_a_config_or_a_config_error(text: str) -> None:
    assert isinstance(loaded(text), Config | ConfigError)


SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30), st.dates()
)
KEYS = st.sampled_from((
    "site", "title", "base_url", "delivery", "recipients", "address", "name", "sources", "kind",
    "path", "categories", "slug", "feeds", "max_items", "smtp", "port", "digest", "subject",
))  # fmt: skip
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(KEYS | st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)


@given(st.dictionaries(KEYS, DOCUMENTS, max_size=5), st.booleans())
def test_any_yaml_document_gives_a_config_or_a_config_error(data: dict, alias: bool) -> None:
    if alias and data:  # the same object twice: safe_dump writes an anchor and an alias
        first = next(iter(data))
        data["again"] = data[first] = [data[first], data[first]]
    text = yaml.safe_dump(data, allow_unicode=True)
    assert isinstance(loaded(text), Config | ConfigError)


# --- addresses --------------------------------------------------------------------------------

LOCAL = st.from_regex(r"[A-Za-z0-9_%+-]{1,20}(\.[A-Za-z0-9_%+-]{1,10}){0,2}", fullmatch=True)
LABEL = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,20}[A-Za-z0-9])?", fullmatch=True)
TOP = st.from_regex(r"[A-Za-z]{1,8}", fullmatch=True) | st.sampled_from(["test", "local", "Onion"])
NAMES = st.sampled_from(["postmaster", "Abuse", "WWW", "ann", "x--y"])


@given(LOCAL | NAMES, st.lists(LABEL, min_size=1, max_size=3), TOP)
def test_a_plain_address_is_normalised_as_email_validator_would(
    local: str, labels: list[str], top: str
) -> None:
    address = f"{local}@{'.'.join([*labels, top])}"
    try:
        expected: str | None = str(
            validate_email(address, check_deliverability=False, allow_smtputf8=False).ascii_email
        )
    except EmailNotValidError:
        expected = None
    try:
        found: str | None = normalize_address(address)
    except StoreError:
        found = None
    assume(expected is not None or found is None or True)
    assert found == expected
