"""Small builders of sites, categories and items for the feeds, digest and delivery tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

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
