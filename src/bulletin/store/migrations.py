"""The numbered migrations that create and change the store's tables (``schema``).

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

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, bindparam, insert, inspect, literal, select, update

from bulletin.store.schema import (
    UtcDateTime,
    deliveries,
    digests,
    events,
    feed_state,
    issues,
    items,
    ledger,
    new_link_id,
    rate_limits,
    recipients,
    runs,
    senders,
    settings,
    signups,
    suppressions,
)

# Columns that came to existing tables after their version, added where they are missing.
_RUN_COLUMNS_V3 = ("run_key", "items_new", "feeds_written")
_RECIPIENT_COLUMNS_V7 = ("languages", "paused_until", "confirmed", "consent_version")

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
