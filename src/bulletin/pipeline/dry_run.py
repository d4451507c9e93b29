"""What feeds and digests read of the store, and the store as a dry run would have left it.

A dry run reads and builds everything but saves nothing: ``DryRunView`` answers the queries
feeds and digests make as if the items it read had been saved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from bulletin.model import Category, Item
from bulletin.store import Store


class ItemView(Protocol):
    """The queries feeds and digests need; a store, or a store seen through a dry run."""

    def latest_items(self, limit: int, category_slug: str | None = None) -> list[Item]: ...
    def items_on(self, day: date) -> list[Item]: ...
    def categories(self) -> list[Category]: ...


@dataclass(frozen=True)
class DryRunView:
    """The store as it would be after saving ``pending``, which a dry run did not save."""

    store: Store
    pending: tuple[Item, ...]

    def _merge(self, stored: list[Item], wanted: Callable[[Item], bool]) -> list[Item]:
        by_id = {item.id: item for item in stored}
        by_id.update({item.id: item for item in self.pending if wanted(item)})
        return sorted(by_id.values(), key=lambda i: (-i.published.timestamp(), i.id))

    def latest_items(self, limit: int, category_slug: str | None = None) -> list[Item]:
        """The newest items, as after the pending save."""
        stored = self.store.latest_items(limit, category_slug)
        merged = self._merge(
            stored, lambda i: category_slug is None or i.category.slug == category_slug
        )
        return merged[:limit]

    def items_on(self, day: date) -> list[Item]:
        """One day's items, as after the pending save."""
        return self._merge(self.store.items_on(day), lambda i: i.day == day)

    def categories(self) -> list[Category]:
        """Every category with items, as after the pending save."""
        found = {c.slug: c for c in self.store.categories()}
        for item in self.pending:
            found.setdefault(item.category.slug, item.category)
        return sorted(found.values())
