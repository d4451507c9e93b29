"""The database: items, runs, the mailing list and the delivery ledger (SQLAlchemy Core).

``Store`` opens it and keeps its schema up to date; ``Store.recipients`` is the mailing list
and ``Store.ledger`` the record of every digest copy sent. The only package importing
SQLAlchemy.
"""

from bulletin.store.database import RunRecord, SaveReport, Store
from bulletin.store.ledger import STATES, Delivery, Issue, Ledger, Outcome
from bulletin.store.recipients import (
    STATUSES,
    Entry,
    MergeReport,
    Recipients,
    Subscriber,
    categories_text,
    check_name,
    normalize_address,
    parse_categories,
)
from bulletin.store.schema import (
    LATEST_VERSION,
    MIGRATIONS,
    UtcDateTime,
    deliveries,
    issues,
    items,
    ledger,
    metadata,
    recipients,
    runs,
    schema_version,
    settings,
)

__all__ = [
    "LATEST_VERSION",
    "MIGRATIONS",
    "STATES",
    "STATUSES",
    "Delivery",
    "Entry",
    "Issue",
    "Ledger",
    "MergeReport",
    "Outcome",
    "Recipients",
    "RunRecord",
    "SaveReport",
    "Store",
    "Subscriber",
    "UtcDateTime",
    "categories_text",
    "check_name",
    "deliveries",
    "issues",
    "items",
    "ledger",
    "metadata",
    "normalize_address",
    "parse_categories",
    "recipients",
    "runs",
    "schema_version",
    "settings",
]
