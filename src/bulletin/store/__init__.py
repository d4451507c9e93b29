"""The database: items, runs, the mailing list and the delivery ledger (SQLAlchemy Core).

``Store`` opens it and keeps its schema up to date; ``items`` saves and reads the items,
``Store.recipients`` is the mailing list, ``Store.ledger`` the record of every digest copy sent
(``claims``: the transaction that records outcomes and claims rows; ``senders``: who sends on
a shared store, with heartbeats), ``Store.digests`` what became of each day's digest, and
``Store.lock`` the locks that keep runners apart (``locks``: files beside SQLite;
``advisory``: PostgreSQL's own, and the leader of several `bulletin serve`). The only package
importing SQLAlchemy and psycopg.
"""

from bulletin.errors import StoreConfigError, StoreUnavailable
from bulletin.model import Delivery, Outcome
from bulletin.store.advisory import AdvisoryLock, Leadership
from bulletin.store.database import RunRecord, Store
from bulletin.store.digests import DIGEST_STATES, DigestDay, DigestLog
from bulletin.store.items import SaveReport
from bulletin.store.ledger import STATES, Issue, Ledger
from bulletin.store.locks import Busy, FileLock, lock_holder
from bulletin.store.recipients import (
    STATUSES,
    ListEntry,
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
    digests,
    issues,
    items,
    ledger,
    metadata,
    recipients,
    runs,
    schema_version,
    senders,
    settings,
)
from bulletin.store.senders import SenderInfo

__all__ = [
    "DIGEST_STATES",
    "LATEST_VERSION",
    "MIGRATIONS",
    "STATES",
    "STATUSES",
    "AdvisoryLock",
    "Busy",
    "Delivery",
    "DigestDay",
    "DigestLog",
    "FileLock",
    "Issue",
    "Leadership",
    "Ledger",
    "ListEntry",
    "MergeReport",
    "Outcome",
    "Recipients",
    "RunRecord",
    "SaveReport",
    "SenderInfo",
    "Store",
    "StoreConfigError",
    "StoreUnavailable",
    "Subscriber",
    "UtcDateTime",
    "categories_text",
    "check_name",
    "deliveries",
    "digests",
    "issues",
    "items",
    "ledger",
    "lock_holder",
    "metadata",
    "normalize_address",
    "parse_categories",
    "recipients",
    "runs",
    "schema_version",
    "senders",
    "settings",
]
