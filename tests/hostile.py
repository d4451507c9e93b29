"""A corpus of hostile input for the feed tests: items and source files nobody sane would write.

Every fragment below goes into every place an item carries text (title, paragraphs, source,
category), and a few whole items push the limits (a 5 MB body, no title, categories of emoji or
punctuation only, names whose slugs collide, dates at the edges of the calendar, two sources on
one day whose items share a second). ``hostile_items`` builds Items as the readers would;
``write_hostile_sources`` writes the same kinds of trouble as listing exports and Markdown files,
and says which items a reader must give back from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bulletin.model import Category, CategoryIndex, Item, direction_for, paragraphs_to_html
from bulletin.text import slugify, stable_id

ZONE = ZoneInfo("Asia/Damascus")
FIRST_DAY = date(2024, 2, 27)

#: Text that breaks careless feed generators, by what it is.
FRAGMENTS: dict[str, str] = {
    "c0": "bell\x07 nul\x00 esc\x1b vt\x0b ff\x0c us\x1f",
    "c1": "nel\x85 apc\x9f pad\x80 hop\x81 ri\x8d osc\x9d",
    "c0-references": "&#0; &#x1; &#x1F; &#11;",
    "c1-references": "&#133; &#x85; &#x9F; &#x81; &#x8D; &#157;",
    "bad-references": "&#xD800; &#1114112; &#xFFFE; &#xZZ; &# &#;",
    "lone-surrogates": "high \ud800 low \udfff half \ud83d pair \ud83d\ude00",
    "non-characters": "\ufdd0 \ufffe \uffff \U0001fffe \ufffd",
    "bidi-overrides": "\u202eevil\u202c \u202dltr\u202c \u2066iso\u2069 \u200e\u200f\u061c mark",
    "zero-width": "zero\u200bwidth\u200c join\u200d bom\ufeff word\u2060joiner",
    "html": "<b>bold</b> <i>it</i> </p> <br> <div>block</div> <!-- comment -->",
    "script": "<script>alert(1)</script> <img src=x onerror=alert(1)> <a href='javascript:x'>y</a>",
    "cdata": "<![CDATA[ raw ]]> and ]]> twice ]]>",
    "ampersands": "AT&T, R&D, Q&A & Fish &amp; Chips &amp;amp; &copy &copy; &#38; &nbsp",
    "angle-brackets": "a<b, 1 < 2 > 0, <3, <foo>, </, <a, x->y, &lt;b&gt;",
    "quotes": "\"double\" 'single' `back` «guillemets» “curly”",
    "emoji": "🚢🎉👩‍👩‍👧‍👦🏳️‍🌈",
    "arabic": "افتتاح مكتبة جديدة في المدينة ١٢٣",
    "whitespace": "tab\there  many    spaces \u00a0nbsp\u2003em\u3000ideographic",
}

#: Category names that are hard to slug or that share a slug.
CATEGORY_NAMES = (
    "🚢🎉",
    "!!!",
    "…",
    "؟؟",
    "Local News",
    "Local-News",
    "LOCAL NEWS!",
    "<b>Bold</b> News",
    "Fish &amp; Chips",
)
#: Names a source may write whose slug is the feed of everything's: readers keep them apart.
RESERVED_NAMES = ("All", "ALL", "all")

#: A long paragraph, repeated until the body is about 5 MB.
BIG_PARAGRAPH = "The council met again and again, and the minutes grew. " * 40


def _item(item_id: str, day: date, minute: int, **fields: object) -> Item:
    """An item at noon of ``day``, ``minute`` minutes earlier: many share a second."""
    paragraphs = tuple(fields.pop("paragraphs", ("A plain first paragraph.", "A second one.")))
    category = CategoryIndex().resolve(str(fields.pop("category", "Local News")), slugify)
    language = str(fields.pop("language", "en"))
    noon = datetime.combine(day, time(12), tzinfo=ZONE) - timedelta(minutes=minute)
    values: dict[str, object] = {
        "id": item_id,
        "day": day,
        "published": noon.astimezone(UTC),
        "category": category,
        "title": f"Item {item_id}",
        "paragraphs": paragraphs,
        "body_html": paragraphs_to_html(paragraphs),
        "source": "City desk",
        "language": language,
        "direction": direction_for(language),
    }
    values.update(fields)
    return Item(**values)  # type: ignore[arg-type]


def hostile_items() -> list[Item]:
    """Every fragment in every place, and the items that push the limits."""
    items = []
    for index, (name, text) in enumerate(FRAGMENTS.items()):
        day = date.fromordinal(FIRST_DAY.toordinal() + index % 4)  # Feb 27 to Mar 1, 2024
        places: dict[str, dict[str, object]] = {
            "title": {"title": f"Title {text} end"},
            "bare-title": {"title": text},
            "paragraph": {"paragraphs": (f"Text {text} end.", f"And {text}.")},
            "no-title": {"title": "", "paragraphs": (text,)},
            "body": {"body_html": f"<p>Raw {text} body</p>"},
            "source": {"source": f"Desk {text}"},
            "category": {"category": f"News {text}"},
            "bare-category": {"category": text},
        }
        for place, fields in places.items():
            items.append(_item(f"{name}.{place}", day, 0, **fields))
    for index, name in enumerate(CATEGORY_NAMES):
        items.append(_item(f"category.{index}", FIRST_DAY, index % 3, category=name))
    big = (BIG_PARAGRAPH,) * (5 * 1024 * 1024 // len(BIG_PARAGRAPH))
    items.append(_item("five-megabytes", FIRST_DAY, 1, paragraphs=big))
    items.append(_item("arabic", FIRST_DAY, 2, language="ar", title=FRAGMENTS["arabic"]))
    items.append(_item("untitled", FIRST_DAY, 3, title="", paragraphs=("\u200b\u200f",)))
    return items


# --- the same trouble as source files ---------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """What a reader must make of the files: how many good items, which lines are refused."""

    items: int
    refused: tuple[tuple[str, int], ...]  # (file name, line)


LISTING_HEAD = "Town Desk\n"
FIRST_ITEM = "The first item of the day."
BREADCRUMB = "Home Media Center Town Desk Items filtered by date: Thursday, 29 February 2024\n"
#: Headers of days at the calendar's edges: (header, whether a reader accepts it).
EDGE_DAYS = (
    ("29 February 2024 In Local News", True),
    ("01 January 1990 In Local News", True),
    ("31 December 1989 In Local News", False),
    ("01 January 0001 In Local News", False),
    ("31 December 9999 In Local News", False),
    ("29 February 2023 In Local News", False),
)


def _listing(blocks: list[tuple[str, str]]) -> tuple[str, list[int]]:
    """An export of (header, paragraph) blocks, and the line of each header."""
    lines, at = [LISTING_HEAD], []
    for header, paragraph in blocks:
        at.append(sum(part.count("\n") for part in lines) + 1)
        lines.append(f"{header}\n\n{paragraph} (Source: Town Desk)\n\n")
    lines.append(BREADCRUMB)
    return "".join(lines), at


def colliding_ids(prefix: str, other: str, count: int) -> list[str]:
    """``count`` ids whose derived seconds are those of the id ``other``: items dated on the
    same day at the same time of day then share a second."""
    from bulletin.sources import id_seconds  # here: the rest of the corpus needs none of it

    seconds = id_seconds(other)
    found: list[str] = []
    number = 0
    while len(found) < count:
        candidate = f"{prefix}-{number}"
        if id_seconds(candidate) == seconds:
            found.append(candidate)
        number += 1
    return found


def write_hostile_sources(listing: Path, markdown: Path, shared_slugs: bool = True) -> Expected:
    """Hostile listing exports under ``listing`` and Markdown files under ``markdown``.

    ``shared_slugs``: with the category names that differ but share a slug ("All", "all").
    """
    reserved = RESERVED_NAMES if shared_slugs else RESERVED_NAMES[:1]
    listing.mkdir(parents=True, exist_ok=True)
    markdown.mkdir(parents=True, exist_ok=True)
    refused: list[tuple[str, int]] = []
    # Every fragment a UTF-8 file can hold, in a paragraph and in a category name, after a
    # first item whose second the Markdown items below share.
    blocks = [("29 February 2024 In Local News", FIRST_ITEM)]
    for name, text in FRAGMENTS.items():
        if name == "lone-surrogates":
            continue  # no UTF-8 file holds them; read_bytes would refuse the line
        blocks.append(("29 February 2024 In Local News", f"{name.title()}: {text} ends here."))
        blocks.append((f"29 February 2024 In News {name.title()}", f"Category of {name}."))
    for name in CATEGORY_NAMES + reserved:
        # A line ending like a sentence ("In LOCAL NEWS!") is prose to the reader, no header.
        if name[-1] not in "!…؟":
            blocks.append((f"29 February 2024 In {name}", f"Filed under {name}."))
    text, _ = _listing(blocks)
    (listing / "2024-02-29.txt").write_text(text, encoding="utf-8")
    good = len(blocks)
    edges, lines = _listing([(header, f"Dated {header}.") for header, _ in EDGE_DAYS])
    (listing / "edges.txt").write_text(edges, encoding="utf-8")
    for (_, accepted), line in zip(EDGE_DAYS, lines, strict=True):
        good += accepted
        if not accepted:
            refused.append(("edges.txt", line))
    good += _write_markdown(markdown, refused, reserved)
    return Expected(good, tuple(sorted(refused)))


def _write_markdown(folder: Path, refused: list[tuple[str, int]], reserved: tuple[str, ...]) -> int:
    """Markdown items on the listing's day, some sharing a second; how many are good."""
    # The listing's first item of the day is at 12:00 and its id's seconds; these four too.
    first = stable_id("listing", "2024-02-29", "local-news", FIRST_ITEM)
    good = 0
    for number, item_id in enumerate(colliding_ids("clash", first, 4)):
        (folder / f"clash-{number}.md").write_text(
            f"---\ndate: 2024-02-29\ncategory: Local News\nid: {item_id}\n---\n"
            f"Item {number} of four that share a second with the first of the export.\n",
            encoding="utf-8",
        )
        good += 1
    for name, text in FRAGMENTS.items():
        if name == "lone-surrogates":
            continue
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        (folder / f"{name}.md").write_text(
            f'---\ndate: 2024-02-29\ncategory: "News {escaped}"\ntitle: "{escaped}"\n'
            f'source: "Desk {escaped}"\n---\n{text}\n\nMore {text}\n',
            encoding="utf-8",
            errors="surrogatepass",
        )
        good += 1
    for name in reserved:
        (folder / f"reserved-{good}.md").write_text(
            f"---\ndate: 2024-02-29\ncategory: {name}\n---\nFiled under {name}.\n",
            encoding="utf-8",
        )
        good += 1
    for day, accepted in (("0001-01-01", False), ("9999-12-31", False), ("2024-02-29", True)):
        (folder / f"day-{day}.md").write_text(
            f"---\ndate: {day}\ncategory: Local News\n---\nDated {day}.\n", encoding="utf-8"
        )
        good += accepted
        if not accepted:
            refused.append((f"day-{day}.md", 2))
    # YAML's own escapes reach values the file's bytes could not hold.
    (folder / "escapes.md").write_text(
        '---\ndate: 2024-02-29\ncategory: Local News\ntitle: "nel \\x85 apc \\x9f nul \\0 '
        'bell \\a bidi \\u202e end"\n---\nEscapes in the title.\n',
        encoding="utf-8",
    )
    return good + 1


def categories_of(items: list[Item]) -> list[Category]:
    """The distinct categories of ``items``, by slug, as the feeds plan them."""
    return sorted({item.category.slug: item.category for item in items}.values())
