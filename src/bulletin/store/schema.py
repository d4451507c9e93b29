"""The store's tables and the numbered migrations that create them.

Each migration is a step recorded in ``schema_version``; a released step is never edited, a
change is a new step. Version 1 holds items, runs and the first, simple delivery record;
version 2 adds the mailing list, the delivery ledger, the frozen content of each digest sent,
and a few named settings (the store's own unsubscribe key); version 3 records what became of
each day's digest (so a day is planned once) and gives runs an id for logs and their counts;
version 4 gives each recipient a random link id, which stands for them in signed links
instead of their address; version 5 keeps the state of each feed source between fetches;
version 6 adds the subscriber events (an append-only record of what happened to each address:
bounces, complaints, leaving, and what sign-up will add) and the suppression list (hashes of
addresses nothing may mail again); version 7 lets readers shape their own subscription: each
recipient's languages, a pause, when they confirmed and the consent wording they agreed to,
the sign-ups waiting for their confirmation, and the counters of the sign-up's rate limits;
version 8 lets several processes send one day together on PostgreSQL: a registry of senders
with a heartbeat, each ledger row's sender, an index of the rows waiting to be claimed, and
byte order (``COLLATE "C"``) for the keys bulletin pages and sorts by, so that PostgreSQL
lists them in SQLite's order.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    insert,
    inspect,
    literal,
    select,
    update,
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

_RUN_COLUMNS_V3 = ("run_key", "items_new", "feeds_written")

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

_RECIPIENT_COLUMNS_V7 = ("languages", "paused_until", "confirmed", "consent_version")


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

# Columns whose order must be bytes' on PostgreSQL, for stores made before version 8.
_BYTE_ORDERED = (
    ("items", "id", 64),
    ("items", "category_slug", 200),
    ("deliveries", "address", 320),
    ("recipients", "address", 320),
    ("ledger", "address", 320),
)
# The rows a claim looks for, in address order, without walking past the day's sent ones.
_WAITING_INDEX = (
    "CREATE INDEX IF NOT EXISTS ledger_waiting ON ledger (day, address) "
    "WHERE status IN ('pending', 'deferred')"
)


def _create_v1(connection: Connection) -> None:
    for table in (items, runs, deliveries):
        table.create(connection)


def _create_v2(connection: Connection) -> None:
    for table in (recipients, issues, ledger, settings):
        table.create(connection)
    # What version 1 delivered stays delivered: a rerun must not send it again.
    old = deliveries.c
    connection.execute(
        insert(ledger).from_select(
            [
                "day",
                "address",
                "name",
                "variant",
                "status",
                "attempts",
                "reply",
                "message_id",
                "transport",
                "changed",
                "sent",
            ],
            select(
                old.day,
                old.address,
                literal(""),
                literal(""),
                literal("sent"),
                literal(1),
                literal("recorded by schema version 1"),
                old.message_id,
                old.transport,
                old.delivered,
                old.delivered,
            ),
        )
    )


def _create_v3(connection: Connection) -> None:
    digests.create(connection)
    # ``runs`` is declared with every version's columns, so a store created from version 3
    # on has them already; an older one gets them added here.
    present = {column["name"] for column in inspect(connection).get_columns(runs.name)}
    for name in _RUN_COLUMNS_V3:
        if name not in present:
            column = runs.c[name]
            kind = column.type.compile(dialect=connection.dialect)
            connection.exec_driver_sql(f"ALTER TABLE {runs.name} ADD COLUMN {name} {kind}")
    # Days already in the ledger (sent by `bulletin run` or `send` before) are settled.
    old = ledger.c
    days = select(old.day).distinct().subquery()
    connection.execute(
        insert(digests).from_select(
            ["day", "status", "first_day", "filed_under", "run_key", "changed"],
            select(
                days.c.day,
                literal("sent"),
                days.c.day,
                days.c.day,
                literal("schema 3"),
                literal(datetime.now(UTC), UtcDateTime),
            ),
        )
    )


def _create_v4(connection: Connection) -> None:
    # ``recipients`` is declared with the link id, so a store created from version 4 on (or
    # from version 2 by this code) has the column and its index already; an older one gets
    # them here, and every recipient gets an id, so the links of the next send are opaque.
    present = {column["name"] for column in inspect(connection).get_columns(recipients.name)}
    if "link_id" not in present:
        kind = recipients.c.link_id.type.compile(dialect=connection.dialect)
        connection.exec_driver_sql(f"ALTER TABLE {recipients.name} ADD COLUMN link_id {kind}")
    fill_link_ids(connection)
    indexes = {index["name"] for index in inspect(connection).get_indexes(recipients.name)}
    for index in recipients.indexes:
        if index.name not in indexes:
            index.create(connection)


def _create_v6(connection: Connection) -> None:
    for table in (events, suppressions):
        table.create(connection)


def _create_v7(connection: Connection) -> None:
    for table in (signups, rate_limits):
        table.create(connection)
    # ``recipients`` is declared with these columns; a store made before version 7 gets them.
    present = {column["name"] for column in inspect(connection).get_columns(recipients.name)}
    for name in _RECIPIENT_COLUMNS_V7:
        if name not in present:
            kind = recipients.c[name].type.compile(dialect=connection.dialect)
            connection.exec_driver_sql(f"ALTER TABLE {recipients.name} ADD COLUMN {name} {kind}")


def _create_v8(connection: Connection) -> None:
    senders.create(connection, checkfirst=True)
    present = {column["name"] for column in inspect(connection).get_columns(ledger.name)}
    if "sender_id" not in present:
        connection.exec_driver_sql(f"ALTER TABLE {ledger.name} ADD COLUMN sender_id INTEGER")
    if connection.dialect.name != "postgresql":
        return
    for table, column, length in _BYTE_ORDERED:
        collation = connection.exec_driver_sql(
            "SELECT collation_name FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = %(t)s AND column_name = %(c)s",
            {"t": table, "c": column},
        ).scalar()
        if collation != "C":
            connection.exec_driver_sql(
                f'ALTER TABLE {table} ALTER COLUMN {column} TYPE VARCHAR({length}) COLLATE "C"'
            )
    connection.exec_driver_sql(_WAITING_INDEX)


def fill_link_ids(connection: Connection) -> int:
    """Give a link id to each recipient without one; returns how many got one."""
    c = recipients.c
    missing = connection.execute(select(c.id).where(c.link_id.is_(None))).scalars().all()
    if missing:
        # Only where none was drawn meanwhile: a process sending now may use that one.
        connection.execute(
            update(recipients)
            .where(c.id == bindparam("b_id"), c.link_id.is_(None))
            .values(link_id=bindparam("b_link")),
            [{"b_id": key, "b_link": new_link_id()} for key in missing],
        )
    return len(missing)


def _create_v5(connection: Connection) -> None:
    feed_state.create(connection)


#: The schema's history. Append a step to change the schema; never edit a released one.
MIGRATIONS: tuple[tuple[int, str, Callable[[Connection], None]], ...] = (
    (1, "items, runs and deliveries", _create_v1),
    (2, "recipients, the delivery ledger, issues and settings", _create_v2),
    (3, "the record of each day's digest, run ids and counts", _create_v3),
    (4, "a random link id for each recipient, for links that do not show the address", _create_v4),
    (5, "the state of each feed source between fetches", _create_v5),
    (6, "subscriber events and the suppression list", _create_v6),
    (7, "readers' languages, pauses and consent; pending sign-ups; rate limits", _create_v7),
    (8, "senders with heartbeats, each row's sender, and byte order on PostgreSQL", _create_v8),
)
LATEST_VERSION = MIGRATIONS[-1][0]
