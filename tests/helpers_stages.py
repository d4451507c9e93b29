"""Small builders of sites, categories and items for the feeds, digest and delivery tests."""

from __future__ import annotations

import os
import warnings
from datetime import UTC, date, datetime, timedelta

import pytest

from bulletin.model import Category, Item, Site, direction_for, paragraphs_to_html

DAY = date(2024, 3, 1)
LOCAL = Category("local-news", "Local News")
WORLD = Category("world", "World")
ARABIC = Category("arabic-news", "أخبار")


def make_site(language: str = "en", title: str = "Daily Bugle") -> Site:
    """A site served at https://news.example.org/."""
    return Site(
        title=title,
        description="The day's news.",
        base_url="https://news.example.org/",
        language=language,
        timezone="UTC",
    )


def make_item(
    item_id: str,
    hour: int = 9,
    *,
    category: Category = LOCAL,
    title: str | None = None,
    paragraphs: tuple[str, ...] = ("A first paragraph.", "A second one."),
    language: str = "en",
    source: str | None = "City desk",
    day: date = DAY,
    updated: datetime | None = None,
) -> Item:
    """An item published on ``day`` at ``hour`` UTC."""
    return Item(
        id=item_id,
        day=day,
        published=datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hour),
        category=category,
        title=f"Item {item_id}" if title is None else title,
        paragraphs=paragraphs,
        body_html=paragraphs_to_html(paragraphs),
        source=source,
        language=language,
        direction=direction_for(language),
        updated=updated,
    )


def arabic_item(item_id: str, hour: int = 8) -> Item:
    """An Arabic item: right to left, with an emoji."""
    return make_item(
        item_id,
        hour,
        category=ARABIC,
        title="افتتاح مكتبة جديدة في المدينة",
        paragraphs=("افتتحت البلدية اليوم مكتبة عامة جديدة 📚.", "تفتح أبوابها كل يوم."),
        language="ar",
        source="مكتب المدينة",
    )


def require_tool(available: bool, what: str) -> None:
    """Skip the calling test, loudly, when a tool it needs is missing; fail instead under CI=true.

    The tools (chromium, java with vnu.jar, spamassassin) are installed by .ci/setup.d/*.sh.
    """
    if available:
        return
    message = f"{what} is missing: run .ci/setup.d/digest.sh as root to install it"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true, so this test may not be skipped)")
    warnings.warn(f"SKIPPED: {message}", stacklevel=2)
    pytest.skip(f"SKIPPED LOUDLY: {message}")


def edge_case_items() -> list[Item]:
    """Items that break careless feed generators, each in a category of its own kind.

    Arabic text, emoji, an HTML-looking title, ampersands, control characters, a very long
    body, no title, relative links, script and event handlers, twice-escaped references.
    """
    long_paragraphs = tuple(f"Paragraph {n}: " + "the council met again " * 60 for n in range(90))
    risky = make_item("risky", 6, title="Links & scripts", category=WORLD)
    return [
        arabic_item("ar", 10),
        make_item("emoji", 9, title="Harbour reopens 🚢🎉 after the storm", category=WORLD),
        make_item("markup", 8, title="<b>Winter timetable</b> starts Monday & runs until March"),
        make_item("amp", 8, title="Fish &amp; Chips, AT&T & R&D: Q&A &amp;amp; more"),
        make_item(
            "ctrl", 7, title="Bell\x07 rings\x0b twice\x00", paragraphs=("Ding\x1b dong\x0c.",)
        ),
        make_item("long", 7, title="The council's long session", paragraphs=long_paragraphs),
        make_item(
            "untitled",
            6,
            title="",
            paragraphs=(
                "Power is back in the old town 🎉 after a night without light. More soon.",
            ),
        ),
        risky.with_updates(
            body_html=(
                '<p onclick="steal()">See <a href="/budget/2027">the budget</a>, '
                '<a href="javascript:alert(1)">this</a> and <img src="img/map.png" alt="map">'
                '<a href="#note">a note</a>.</p><script>steal()</script>'
                '<style>p{}</style><iframe src="https://evil.example/"></iframe>'
                '<p style="color:red">Red</p>'
            )
        ),
        make_item("summary-markup", 5, paragraphs=('Notices read "<b>Winter</b> &amp; more".',)),
    ]
