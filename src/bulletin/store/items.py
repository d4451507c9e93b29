"""Items in the store: each row as an Item, saving a batch, and the queries feeds make most.

A feeds build converts thousands of rows at once, so the hot queries fetch only the columns an
Item holds, unpacked by position; on SQLite the newest-items query is compiled once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, insert, select, update
from sqlalchemy.sql.compiler import SQLCompiler

from bulletin.model import Category, Item
from bulletin.store.connect import transaction
from bulletin.store.schema import items, too_long


@dataclass(frozen=True)
class SaveReport:
    """What saving a batch of items did."""

    new: tuple[Item, ...] = ()
    updated: tuple[Item, ...] = ()
    unchanged: tuple[Item, ...] = ()
    refused: tuple[tuple[Item, str], ...] = ()  # each with what does not fit the store

    @property
    def stored(self) -> tuple[Item, ...]:
        """Every item of the batch as the store now holds it."""
        return self.new + self.updated + self.unchanged


def save_batch(
    connection: Connection,
    batch: Iterable[Item],
    source: str,
    now: datetime,
    write: bool,
    keep_day: bool = False,
) -> SaveReport:
    """Store new items and update edited ones (only compare, unless ``write``).

    An edited item keeps the time it was first stored with, and with ``keep_day`` its day too
    (a feed's entries: re-dating one does not move it to another day's digest).
    """
    batch = list(batch)
    # One query per 500 items and one insert for all the new ones: a feed source brings
    # thousands of items at once, and a statement per item cost most of its collect.
    seen = stored_items(connection, [item.id for item in batch])
    new: list[Item] = []
    updated: list[Item] = []
    unchanged: list[Item] = []
    inserts: dict[str, dict[str, Any]] = {}
    refused: list[tuple[Item, str]] = []
    for item in batch:
        problem = too_long(items, item_row(item, source, now))
        if problem is not None:
            refused.append((item, problem))
            continue
        stored = seen.get(item.id)
        if stored is None:
            if write:
                inserts[item.id] = item_row(item, source, now)
            new.append(item)
            seen[item.id] = item
        elif stored.content_hash == item.content_hash:
            unchanged.append(stored)
        else:
            kept = {"day": stored.day} if keep_day else {}
            changed = item.with_updates(published=stored.published, updated=now, **kept)
            if write and item.id in inserts:  # new in this very batch: insert the edit
                inserts[item.id] = item_row(changed, source, now)
            elif write:
                values = item_row(changed, source, now)
                del values["collected"]
                connection.execute(update(items).where(items.c.id == item.id).values(**values))
            updated.append(changed)
            seen[item.id] = changed
    if inserts:
        connection.execute(insert(items), list(inserts.values()))
    return SaveReport(tuple(new), tuple(updated), tuple(unchanged), tuple(refused))


def stored_items(connection: Connection, ids: Sequence[str]) -> dict[str, Item]:
    """The stored items of these ids, by id."""
    found: dict[str, Item] = {}
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), 500):  # below SQLite's limit on bound parameters
        query = select(*ITEM_COLUMNS).where(items.c.id.in_(unique[start : start + 500]))
        found.update({row[0]: item_of(*row) for row in connection.execute(query)})
    return found


def categories_query() -> Any:
    """Every category that has items, with the newest name seen for each slug."""
    # The slugs by skipping along the (category_slug, published) index, one seek each
    # (a "loose index scan"), then each slug's newest name by one more: a hundred seeks
    # instead of reading every row of a large archive.
    slugs = select(func.min(items.c.category_slug).label("slug")).cte("slugs", recursive=True)
    following = (
        select(func.min(items.c.category_slug))
        .where(items.c.category_slug > slugs.c.slug)
        .scalar_subquery()
    )
    slugs = slugs.union_all(select(following).where(slugs.c.slug.is_not(None)))
    newest_name = (
        select(items.c.category_name)
        .where(items.c.category_slug == slugs.c.slug)
        .order_by(items.c.published.desc(), items.c.id)
        .limit(1)
        .scalar_subquery()
    )
    query = (
        select(slugs.c.slug, newest_name).where(slugs.c.slug.is_not(None)).order_by(slugs.c.slug)
    )
    return query


def item_row(item: Item, source: str, now: datetime) -> dict[str, Any]:
    return {
        "id": item.id,
        "source": source,
        "day": item.day,
        "published": item.published,
        "updated": item.updated,
        "collected": now,
        "category_slug": item.category.slug,
        "category_name": item.category.name,
        "title": item.title,
        "title_derived": item.title_derived,
        "paragraphs": json.dumps(list(item.paragraphs), ensure_ascii=False),
        "body_html": item.body_html,
        "source_line": item.source,
        "language": item.language,
        "direction": item.direction,
        "content_hash": item.content_hash,
        "origin": item.origin,
    }


# The columns an Item is made of, in the order of ``_item_of``'s parameters.
_ITEM_FIELDS = (
    "id",
    "day",
    "published",
    "updated",
    "category_slug",
    "category_name",
    "title",
    "title_derived",
    "paragraphs",
    "body_html",
    "source_line",
    "language",
    "direction",
    "origin",
)
ITEM_COLUMNS = tuple(items.c[name] for name in _ITEM_FIELDS)
# Newest first, and the id breaks ties so the order never depends on the database.
NEWEST_FIRST = (items.c.published.desc(), items.c.id.asc())


class SqliteLatestItems:
    """``latest_items`` on SQLite with its SQL compiled once, rows through the columns' own
    converters: a feeds build asks once per feed, and building and compiling the query each
    time took as long as reading its rows."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # Compiled at the first read, not when the store opens: most commands never read feeds.
    @cached_property
    def queries(self) -> dict[bool, SQLCompiler]:
        """The query for all items (False) and for one category (True)."""
        newest = select(*ITEM_COLUMNS).order_by(*NEWEST_FIRST)
        in_category = newest.where(items.c.category_slug == bindparam("slug"))
        return {
            False: newest.limit(bindparam("limit")).compile(dialect=self.engine.dialect),
            True: in_category.limit(bindparam("limit")).compile(dialect=self.engine.dialect),
        }

    @cached_property
    def converters(self) -> list[tuple[int, Callable[[Any], Any]]]:
        """Each column that needs converting, by position, and its converter."""
        dialect = self.engine.dialect
        return [
            (index, convert)
            for index, column in enumerate(ITEM_COLUMNS)
            if (convert := column.type.dialect_impl(dialect).result_processor(dialect, None))
            is not None
        ]

    def read(self, limit: int, category_slug: str | None) -> list[Item]:
        compiled = self.queries[category_slug is not None]
        values = compiled.construct_params({"limit": limit, "slug": category_slug})
        parameters = tuple(values[name] for name in compiled.positiontup or ())
        with transaction(self.engine) as connection:
            cursor = connection.connection.cursor()
            try:
                rows = cursor.execute(compiled.string, parameters).fetchall()
            finally:
                cursor.close()
        found = []
        for row in rows:
            fields = list(row)
            for index, convert in self.converters:
                fields[index] = convert(fields[index])
            found.append(item_of(*fields))
        return found


def item_of(
    id: str,
    day: date,
    published: datetime,
    updated: datetime | None,
    category_slug: str,
    category_name: str,
    title: str,
    title_derived: Any,
    paragraphs: str,
    body_html: str,
    source_line: str | None,
    language: str,
    direction: str,
    origin: str,
) -> Item:
    return Item(
        id=id,
        day=day,
        published=published,
        updated=updated,
        category=Category(slug=category_slug, name=category_name),
        title=title,
        title_derived=bool(title_derived),
        paragraphs=tuple(json.loads(paragraphs)),
        body_html=body_html,
        source=source_line,
        language=language,
        direction="rtl" if direction == "rtl" else "ltr",
        origin=origin,
    )
