"""The data at the centre of bulletin: frozen value types and no I/O.

Sources produce ``Item``s; the store keeps them; feeds, the digest and delivery read them.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Literal

Direction = Literal["ltr", "rtl"]

#: Languages written right to left (ISO 639-1 codes), for ``dir`` attributes.
RTL_LANGUAGES = frozenset({"ar", "fa", "he", "ur", "ps", "sd", "ug", "yi", "dv", "ku", "ckb"})


def direction_for(language: str) -> Direction:
    """The writing direction of a language tag such as ``ar`` or ``en-GB``."""
    primary = language.replace("_", "-").split("-", 1)[0].lower()
    return "rtl" if primary in RTL_LANGUAGES else "ltr"


@dataclass(frozen=True, order=True)
class Category:
    """A newsroom category: its display name and the slug used in URLs and file names."""

    slug: str
    name: str


@dataclass(frozen=True)
class Item:
    """One news item, as collected from a source.

    ``id`` is stable: collecting the same item again, even with edited text, gives the same id.
    ``published`` is aware; ``paragraphs`` are plain text; ``body_html`` is safe HTML.
    """

    id: str
    day: date
    published: datetime
    category: Category
    title: str
    paragraphs: tuple[str, ...]
    body_html: str
    source: str | None = None
    language: str = "en"
    direction: Direction = "ltr"
    title_derived: bool = False
    updated: datetime | None = None
    origin: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.published.tzinfo is None:
            raise ValueError(f"item {self.id}: published must be an aware datetime")

    @property
    def content_hash(self) -> str:
        """A digest of what a reader sees, to tell an edited item from an unchanged one."""
        parts = [self.category.name, self.title, self.body_html, self.source or "", self.language]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()

    @property
    def text(self) -> str:
        """The paragraphs as plain text, separated by blank lines."""
        return "\n\n".join(self.paragraphs)

    def with_updates(self, **changes: object) -> Item:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


def paragraphs_to_html(paragraphs: tuple[str, ...] | list[str]) -> str:
    """Plain-text paragraphs as escaped HTML ``<p>`` elements: any markup in them stays text."""
    return "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs)


@dataclass(frozen=True)
class CategoryIndex:
    """Resolves the category names sources write to canonical categories, in digest order.

    ``known`` are the configured categories in their configured order; ``aliases`` maps every
    configured name and alias (case-folded) to its category. Unknown names get a derived slug.
    """

    known: tuple[Category, ...] = ()
    aliases: tuple[tuple[str, Category], ...] = ()

    def resolve(self, name: str, slugify: Callable[[str], str]) -> Category:
        """The category a source's ``name`` stands for."""
        wanted = " ".join(name.split()).casefold()
        for alias, category in self.aliases:
            if alias == wanted:
                return category
        return Category(slug=slugify(name), name=" ".join(name.split()))

    def order_key(self, category: Category) -> tuple[int, str]:
        """Sort key: configured categories first in their order, then the others by name."""
        for position, known in enumerate(self.known):
            if known.slug == category.slug:
                return (position, "")
        return (len(self.known), category.name.casefold())


@dataclass(frozen=True)
class Recipient:
    """Someone on the mailing list."""

    address: str
    name: str = ""


@dataclass(frozen=True)
class Site:
    """The newsroom as feeds and digests present it."""

    title: str
    description: str
    base_url: str  # absolute, ends with "/"
    language: str
    timezone: str

    @property
    def direction(self) -> Direction:
        """The site's writing direction."""
        return direction_for(self.language)

    @property
    def domain(self) -> str:
        """The host name of ``base_url``, for tag URIs and Message-IDs."""
        return self.base_url.split("://", 1)[1].split("/", 1)[0].split(":", 1)[0]

    def url(self, path: str) -> str:
        """An absolute URL for a path under ``base_url``."""
        return self.base_url + path.lstrip("/")


@dataclass(frozen=True)
class DigestSection:
    """One category's items in a digest, newest first."""

    category: Category
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Digest:
    """What one day's digest holds: its day and its items grouped by category, in order."""

    day: date
    sections: tuple[DigestSection, ...]

    @property
    def items(self) -> tuple[Item, ...]:
        """Every item of the digest, in reading order."""
        return tuple(item for section in self.sections for item in section.items)

    @property
    def is_empty(self) -> bool:
        """Whether the day had no items."""
        return not self.sections


# --- the delivery ledger's rows, as the store keeps them and the send loop works them ---------


@dataclass(frozen=True)
class Delivery:
    """One ledger row: a recipient's copy of a day's digest and what became of it."""

    day: date
    address: str
    name: str
    variant: str  # the recipient's categories as stored; "": every category
    status: str
    attempts: int
    next_attempt: datetime | None
    reply: str
    message_id: str
    sent: datetime | None
    link_id: str | None = None  # the recipient's, for their signed links; None: off the list


@dataclass(frozen=True)
class Exchange:
    """One transaction of a send on a shared store: the outcomes to record, the reserved rows
    whose messages start, and how many of the day's due rows to reserve for the next ones."""

    day: date
    now: datetime
    outcomes: Sequence[Outcome] = ()
    pull: int = 0
    claims: Sequence[Delivery] = ()  # rows reserved earlier whose messages start now


@dataclass(frozen=True)
class Exchanged:
    """What one such transaction did."""

    claimed: Sequence[bool]  # for each of the exchange's claims, whether it was made
    refused: Sequence[Outcome]  # not recorded: their rows are no longer under that claim
    reserved: Sequence[Delivery]  # for the workers' next messages, in the order asked
    dry: bool  # the day has no more due rows free (fewer reserved than asked)


@dataclass(frozen=True)
class Outcome:
    """What happened to a claimed row: its new status and the server's reply."""

    day: date
    address: str
    status: str  # sent, deferred, failed or unknown; pending: handed back, not sent
    reply: str
    message_id: str = ""
    transport: str = ""
    next_attempt: datetime | None = None
    attempt: int = 0  # the row's attempts once claimed: its outcome counts only under it


# --- a feed source's state between fetches, as the store keeps it ------------------------------


@dataclass(frozen=True)
class FeedState:
    """What bulletin remembers of one feed source between fetches.

    ``url`` is the configured address the state belongs to (a new one in config.yaml starts
    afresh); ``moved_to`` is where every hop of a redirect said permanently (301, 308) the feed
    now lives, and is fetched instead. ``status`` is the last fetch's outcome: new, ok (read),
    not modified (304), unchanged (same bytes), failing, throttled (429/503) or gone (410).
    """

    source: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None  # sha256 of the last body read, to tell unchanged bytes
    last_fetch: datetime | None = None
    last_ok: datetime | None = None
    last_full: datetime | None = None  # the last 200 answer: a full body, not a 304
    status: str = "new"
    message: str = ""  # what went wrong or what to know, in words
    failures: int = 0  # in a row
    next_check: datetime | None = None
    moved_to: str | None = None
    gone: bool = False
    items: int = 0  # entries read from the last body

    @property
    def fetch_url(self) -> str:
        """Where the next fetch goes: the permanent new address, if the feed moved."""
        return self.moved_to or self.url

    def with_updates(self, **changes: object) -> FeedState:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]
