"""The database: items, runs, the mailing list and the delivery ledger (SQLAlchemy Core).

``Store`` opens it and keeps its schema up to date; ``items`` saves and reads the items,
``Store.recipients`` is the mailing list, ``Store.ledger`` the record of every digest copy sent
(``claims``: the transaction that records outcomes and claims rows; ``senders``: who sends on
a shared store, with heartbeats), ``Store.digests`` what became of each day's digest,
``Store.feed_states`` each feed source's state between fetches (stored with the items a fetch
read), ``Store.events`` what happened to each address (bounces, complaints, leaving) and
``Store.suppressions`` the hashes of addresses nothing may mail again, ``Store.readers`` what
readers change themselves (joining by confirming a sign-up, their choices, their export and
erasure), ``Store.signups`` the sign-ups waiting for confirmation and the web's rate limits,
and ``Store.lock`` the locks that keep runners apart (``locks``: files beside SQLite;
``advisory``: PostgreSQL's own, and the leader of several `bulletin serve`). The only package
importing SQLAlchemy and psycopg.
"""

from bulletin.errors import StoreConfigError, StoreUnavailable
from bulletin.model import Delivery, Outcome
from bulletin.store.addresses import (
    categories_text,
    check_name,
    normalize_address,
    parse_categories,
)
from bulletin.store.advisory import AdvisoryLock, Leadership
from bulletin.store.database import RunRecord, Store
from bulletin.store.digests import DIGEST_STATES, DigestDay, DigestLog
from bulletin.store.events import KINDS, Event, Events
from bulletin.store.feed_state import FeedStates
from bulletin.store.items import SaveReport
from bulletin.store.ledger import HELD, STATES, Issue, Ledger, parse_variant
from bulletin.store.locks import Busy, FileLock, lock_holder
from bulletin.store.migrations import LATEST_VERSION, MIGRATIONS
from bulletin.store.readers import ERASED_PREFIX, Readers
from bulletin.store.recipients import STATUSES, ListEntry, MergeReport, Recipients, Subscriber
from bulletin.store.schema import (
    UtcDateTime,
    deliveries,
    digests,
    events,
    feed_state,
    issues,
    items,
    ledger,
    metadata,
    recipients,
    runs,
    schema_version,
    senders,
    settings,
    suppressions,
)
from bulletin.store.senders import SenderInfo
from bulletin.store.signups import Signup, Signups
from bulletin.store.suppressions import REASONS, Suppression, Suppressions, address_hash

__all__ = [
    "DIGEST_STATES",
    "ERASED_PREFIX",
    "HELD",
    "KINDS",
    "LATEST_VERSION",
    "MIGRATIONS",
    "REASONS",
    "STATES",
    "STATUSES",
    "AdvisoryLock",
    "Busy",
    "Delivery",
    "DigestDay",
    "DigestLog",
    "Event",
    "Events",
    "FeedStates",
    "FileLock",
    "Issue",
    "Leadership",
    "Ledger",
    "ListEntry",
    "MergeReport",
    "Outcome",
    "Readers",
    "Recipients",
    "RunRecord",
    "SaveReport",
    "SenderInfo",
    "Signup",
    "Signups",
    "Store",
    "StoreConfigError",
    "StoreUnavailable",
    "Subscriber",
    "Suppression",
    "Suppressions",
    "UtcDateTime",
    "address_hash",
    "categories_text",
    "check_name",
    "deliveries",
    "digests",
    "events",
    "feed_state",
    "issues",
    "items",
    "ledger",
    "lock_holder",
    "metadata",
    "normalize_address",
    "parse_categories",
    "parse_variant",
    "recipients",
    "runs",
    "schema_version",
    "senders",
    "settings",
    "suppressions",
]
