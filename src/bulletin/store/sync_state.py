"""What the last seeding of the mailing list from config.yaml saw, kept in the settings table.

Every run and every list command seeds the list from config.yaml (``Recipients.sync_config``);
when neither the config's entries nor the list changed since the last time, there is nothing
to do. This module says whether that is so, in one query: it compares a fingerprint of the
entries and the list's state with what the last seeding recorded. The state is a revision that
every write of ``Recipients`` renews, and, for a write made some other way, the rows' count,
last stamp and highest id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from secrets import token_hex
from typing import Any

from sqlalchemy import delete, func, insert, select

from bulletin.store.schema import recipients, settings

SYNC_SETTING = "config_recipients_synced"
REVISION_SETTING = "recipients_revision"
_SYNCED = select(settings.c.value).where(settings.c.name == SYNC_SETTING)
_REVISION = select(settings.c.value).where(settings.c.name == REVISION_SETTING).scalar_subquery()
_STATE = select(
    _REVISION, func.count(), func.max(recipients.c.changed), func.max(recipients.c.id)
).select_from(recipients)


def fingerprint(entries: Iterable[tuple[object, ...]]) -> str:
    """A digest of the entries as given: a changed value, or another order, changes it."""
    rows = ("\x1f".join(map(str, entry)) for entry in entries)
    return hashlib.sha256("\x1e".join(rows).encode("utf-8", "surrogatepass")).hexdigest()


def _state(connection: Any, mark: str) -> str:
    revision, count, changed, last = connection.execute(_STATE).one()
    return f"{mark} {revision} {count} {changed.isoformat() if changed else '-'} {last or 0}"


def unchanged_since(connection: Any, mark: str) -> bool:
    """Whether the last seeding saw entries of fingerprint ``mark`` and the list as it is."""
    return bool(connection.scalar(_SYNCED) == _state(connection, mark))


def remember(connection: Any, mark: str) -> None:
    """Record that the list, as it now is, was seeded from entries of fingerprint ``mark``."""
    value = _state(connection, mark)
    connection.execute(delete(settings).where(settings.c.name == SYNC_SETTING))
    connection.execute(insert(settings).values(name=SYNC_SETTING, value=value))


def touch(connection: Any) -> None:
    """Renew the list's revision: a change the next seeding must look at."""
    connection.execute(delete(settings).where(settings.c.name == REVISION_SETTING))
    connection.execute(insert(settings).values(name=REVISION_SETTING, value=token_hex(8)))
