"""The store's tables, version by version, and the column types they share.

``migrations`` holds the numbered steps that create and change them; each table is declared
as the latest version has it.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every database.

    SQLite has no time zones: values are stored as naive UTC and given UTC back on reading.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("bulletin stores aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def byte_ordered(length: int) -> String:
    """Text compared byte by byte, as SQLite does: ``COLLATE "C"`` on PostgreSQL, whose
    locale orders ignore punctuation and case ("ann-b" after "annb"). Keyset paging by
    address and every listing in address or id order rely on it."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


def too_long(table: Table, values: Mapping[str, Any]) -> str | None:
    """Which value is longer than its column holds, said for a message; None if all fit.

    PostgreSQL refuses such a value, and the whole transaction with it, where SQLite keeps
    it: checking first makes both databases take and refuse the same.
    """
    for name, value in values.items():
        length = getattr(table.c[name].type, "length", None)
        if isinstance(value, str) and length is not None and len(value) > length:
            return f"its {name} is {len(value)} characters long, the store keeps {length} at most"
    return None


metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied", UtcDateTime, nullable=False),
)

# --- version 1 ---------------------------------------------------------------------------------

items = Table(
    "items",
    metadata,
    Column("id", byte_ordered(64), primary_key=True),
    Column("source", String(200), nullable=False),
    Column("day", Date, nullable=False, index=True),
    Column("published", UtcDateTime, nullable=False, index=True),
    Column("updated", UtcDateTime),
    Column("collected", UtcDateTime, nullable=False),
    Column("category_slug", byte_ordered(200), nullable=False, index=True),
    Column("category_name", String(200), nullable=False),
    Column("title", Text, nullable=False),
    Column("title_derived", Boolean, nullable=False),
    Column("paragraphs", Text, nullable=False),  # a JSON list of plain-text paragraphs
    Column("body_html", Text, nullable=False),
    Column("source_line", Text),
    Column("language", String(35), nullable=False),
    Column("direction", String(3), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("origin", Text, nullable=False),
    # A category feed reads its newest items: one index walk instead of a sort.
    Index("items_category_published", "category_slug", "published", "id"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("command", String(40), nullable=False),
    Column("day", Date),
    Column("started", UtcDateTime, nullable=False),
    Column("finished", UtcDateTime),
    Column("outcome", String(20), nullable=False),
    Column("summary", Text, nullable=False),  # JSON: counts and paths of what the run did
    # Version 3: the id the run's log lines carry, and the counts metrics add up.
    Column("run_key", String(32)),
    Column("items_new", Integer),
    Column("feeds_written", Integer),
)

# Superseded by ``ledger`` in version 2, which copies its rows; kept for its API and history.
deliveries = Table(
    "deliveries",
    metadata,
    Column("day", Date, primary_key=True),
    Column("address", byte_ordered(320), primary_key=True),  # lower-cased
    Column("message_id", String(400), nullable=False),
    Column("transport", String(20), nullable=False),
    Column("delivered", UtcDateTime, nullable=False),
)

# --- version 2 ---------------------------------------------------------------------------------


def new_link_id() -> str:
    """A recipient's link id: 128 random bits, base64url, telling nothing about them."""
    return secrets.token_urlsafe(16)


recipients = Table(
    "recipients",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # Normalised: the local part as given, the domain lower-case ASCII (IDNA), so the same
    # mailbox written with another case of domain is one recipient.
    Column("address", byte_ordered(320), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("status", String(20), nullable=False),  # active, unsubscribed, bounced
    Column("categories", Text),  # sorted comma-separated slugs; NULL: every category
    Column("origin", String(20), nullable=False),  # config: seeded from config.yaml; list: not
    Column("created", UtcDateTime, nullable=False),
    Column("changed", UtcDateTime, nullable=False),
    Index("recipients_status_address", "status", "address"),
    # Version 4: what stands for the recipient in signed links (see delivery/tokens.py), so a
    # link shows nobody who they are. Every insert through SQLAlchemy draws one.
    Column("link_id", String(64), default=new_link_id),
    Index("recipients_link_id", "link_id", unique=True),
    # Version 7: what the reader chose for themselves (see store/readers.py).
    Column("languages", String(200)),  # sorted comma-separated codes; NULL: every language
    Column("paused_until", UtcDateTime),  # no digest is planned for them before this instant
    Column("confirmed", UtcDateTime),  # when they confirmed a sign-up (double opt-in)
    Column("consent_version", String(100)),  # the wording they agreed to (web.consent_version)
)

# The content each variant of a day's digest went out with, frozen when its sending began, so
# a send finished after a crash or a later collect mails everyone the same digest.
issues = Table(
    "issues",
    metadata,
    Column("day", Date, primary_key=True),
    Column("variant", String(2000), primary_key=True),  # categories as in recipients; "": all
    Column("subject", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("token", String(100), nullable=False),  # stands for the unsubscribe URL in html/text
    Column("created", UtcDateTime, nullable=False),
)

# One row per (day, recipient): the only record of what was sent, planned before sending.
ledger = Table(
    "ledger",
    metadata,
    Column("day", Date, primary_key=True),
    Column("address", byte_ordered(320), primary_key=True),
    Column("name", Text, nullable=False),
    Column("variant", String(2000), nullable=False),
    # pending, sending, sent, deferred, failed, unknown
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt", UtcDateTime),  # when a deferred row is due again
    Column("reply", Text, nullable=False),  # the server's last reply, or what went wrong
    Column("message_id", String(400), nullable=False),
    Column("transport", String(20), nullable=False),
    Column("changed", UtcDateTime, nullable=False),
    Column("sent", UtcDateTime),
    Index("ledger_status", "status", "day"),
    # Version 5: who claimed the row (``senders.id``) when it went ``sending``; NULL before.
    Column("sender_id", Integer),
)

settings = Table(
    "settings",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)


# --- version 3 ---------------------------------------------------------------------------------

# What became of each day's digest, so that a day is planned once: sending (planned, its
# ledger may hold work), sent, empty (no items that day), dropped (missed, catch_up: none),
# covered (its items went out in the catch-up digest filed under ``filed_under``).
digests = Table(
    "digests",
    metadata,
    Column("day", Date, primary_key=True),
    Column("status", String(10), nullable=False),
    Column("first_day", Date, nullable=False),  # the oldest day the digest covers
    Column("filed_under", Date, nullable=False),  # the day whose ledger rows hold its copies
    Column("run_key", String(32), nullable=False),
    Column("changed", UtcDateTime, nullable=False),
    Index("digests_status", "status", "day"),
)


# --- version 5 ---------------------------------------------------------------------------------

# Each feed source's state between fetches (``model.FeedState``), keyed by the source's name and
# written in the transaction that stores the items its fetch read.
feed_state = Table(
    "feed_state",
    metadata,
    Column("source", String(200), primary_key=True),
    Column("url", Text, nullable=False),  # the configured address this state is for
    Column("etag", Text),
    Column("last_modified", Text),
    Column("body_hash", String(64)),
    Column("last_fetch", UtcDateTime),
    Column("last_ok", UtcDateTime),
    Column("last_full", UtcDateTime),
    Column("status", String(20), nullable=False),
    Column("message", Text, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("next_check", UtcDateTime),
    Column("moved_to", Text),
    Column("gone", Boolean, nullable=False),
    Column("items", Integer, nullable=False),
)

# --- version 6 ---------------------------------------------------------------------------------

# What happened to each address, appended and never changed (see store/events.py): the address
# and its hash (``address_hash``), so that the record of someone erased keeps the hash alone.
events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("address_hash", String(64), nullable=False),
    Column("address", String(320)),  # NULL once the person is erased
    Column("kind", String(40), nullable=False),
    Column("time", UtcDateTime, nullable=False),
    Column("origin", String(100), nullable=False),  # what recorded it: web, smtp, bounces, ...
    Column("detail", Text, nullable=False),  # JSON object: status code, reason, message, ...
    Column("day", Date),  # the digest's day it concerns, when it concerns one
    # Recording the same fact twice (the same bounce read again) is a no-op: NULLs differ.
    Column("key", String(64)),
    Index("events_address_hash", "address_hash", "id"),
    Index("events_kind_day", "kind", "day"),
    Index("events_key", "key", unique=True),
)

# Addresses that must never be mailed again, as hashes only: hard bounces, complaints, erasure.
suppressions = Table(
    "suppressions",
    metadata,
    Column("address_hash", String(64), primary_key=True),
    Column("reason", String(20), nullable=False),  # bounced, complained, erased
    Column("time", UtcDateTime, nullable=False),
    Column("origin", String(100), nullable=False),
)


# --- version 7 ---------------------------------------------------------------------------------

# A sign-up waiting for its confirmation: nobody is on the list until they follow the link.
signups = Table(
    "signups",
    metadata,
    Column("id", String(64), primary_key=True),  # random; its signed form is the link's token
    Column("address", String(320), nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("categories", Text),
    Column("languages", String(200)),
    Column("consent_version", String(100), nullable=False),
    Column("origin", String(100), nullable=False),  # the client address it came from, hashed
    Column("requested", UtcDateTime, nullable=False),
    Column("expires", UtcDateTime, nullable=False, index=True),
)

# Fixed-window counters of the web's rate limits, shared by every instance on the store.
rate_limits = Table(
    "rate_limits",
    metadata,
    Column("key", String(120), primary_key=True),  # what is counted, and its window's start
    Column("count", Integer, nullable=False),
    Column("expires", UtcDateTime, nullable=False, index=True),
)


# --- version 8 ---------------------------------------------------------------------------------

# The processes sending on a shared (PostgreSQL) store, each with a heartbeat on the
# database's clock: one whose heartbeat is stale is taken for dead, and its rows in flight
# become unknown (``store/senders.py``). SQLite, with one sender at a time, leaves it empty.
senders = Table(
    "senders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("command", String(40), nullable=False),
    Column("started", UtcDateTime, nullable=False),
    Column("heartbeat", UtcDateTime, nullable=False),
)
