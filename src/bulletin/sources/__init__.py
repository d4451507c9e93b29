"""Sources turn outside input (listing exports, Markdown folders) into Items.

Each kind of source is one module; this package's ``read_*`` functions pick the reader. A reader
never stops at a bad item: it reports the problem with file and line and goes on with the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from zoneinfo import ZoneInfo

from bulletin.errors import InputProblem
from bulletin.model import CategoryIndex, Item


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
