"""PostgreSQL's advisory locks: what keeps runners of every machine apart on a shared store.

A session lock (``AdvisoryLock``) is held on a connection of its own for as long as that
session lives, and dies with it, as a ``flock`` dies with its process: a killed holder frees
it at once (its socket closes); a holder whose machine vanished, once the server's TCP
keepalives, set on that session, give up on it. The session names itself (its
``application_name``), so whoever waits, and ``bulletin status``, can say who holds it. The
run lock keeps two steps from collecting and publishing at once; the leader lock picks the
one `bulletin serve` that collects, publishes and plans (``Leadership``); a transaction lock
keeps two upgrades of the schema apart. A session lock does not survive a transaction-mode
pooler (PgBouncer): connect bulletin to the server, or to a session-mode pool.
"""

from __future__ import annotations

import logging
from contextlib import suppress

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from bulletin.store.connect import application_name, database_errors
from bulletin.store.locks import Lock

# The locks' keys: bulletin's own first half ("bltn"), then one number per lock.
_BULLETIN = int.from_bytes(b"bltn", "big")
_KEYS = {"run": 1, "serve": 2, "leader": 3, "migrate": 4}
MIGRATE_LOCK = "migrate"
LEADER_LOCK = "leader"

_HOLDER = (
    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND l.classid::bigint = %(k1)s AND l.objid::bigint = %(k2)s"
)
_HELD = _HOLDER.replace("a.application_name", "1") + " AND l.pid = pg_backend_pid()"
_log = logging.getLogger("bulletin.store")


def _key(name: str) -> tuple[int, int]:
    return _BULLETIN, _KEYS[name]


class AdvisoryLock(Lock):
    """The session advisory lock ``name`` of a PostgreSQL store, said to be held by ``label``;
    ``keepalive`` (seconds) has the server give up on a silent holder within about that."""

    def __init__(
        self, engine: Engine, name: str, label: str, keepalive: float | None = None
    ) -> None:
        self.engine, self.name, self.label, self.keepalive = engine, name, label, keepalive
        self.path = f"the advisory lock bulletin:{name} of the database"
        self._connection: Connection | None = None

    @staticmethod
    def hold_for_transaction(connection: Connection, name: str) -> None:
        """Wait for the transaction lock ``name``; it is let go of when the transaction ends."""
        k1, k2 = _key(name)
        connection.exec_driver_sql("SET LOCAL lock_timeout = 0")  # an upgrade may take long
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({k1}, {k2})")

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; whether this process holds it now."""
        if self._connection is not None:
            return True
        k1, k2 = _key(self.name)
        with database_errors(self.engine):
            connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                self._configure(connection)
                got = connection.exec_driver_sql(
                    f"SELECT pg_try_advisory_lock({k1}, {k2})"
                ).scalar()
            except BaseException:
                _discard(connection)
                raise
        if not got:
            _discard(connection)
            return False
        self._connection = connection
        return True

    def _configure(self, connection: Connection) -> None:
        name = application_name(self.label).replace("'", "")
        connection.exec_driver_sql(f"SET application_name = '{name}'")
        if self.keepalive is not None:
            # The server's own keepalives on this session (the client's would not free the
            # lock): idle, then probes a ninth of the time apart, three of them.
            idle, interval = max(1, int(self.keepalive / 3)), max(1, int(self.keepalive / 9))
            for setting, value in (("idle", idle), ("interval", interval), ("count", 3)):
                connection.exec_driver_sql(f"SET tcp_keepalives_{setting} = {value}")

    @property
    def taken(self) -> bool:
        """Whether this process took the lock and has not let go of it (or seen it lost)."""
        return self._connection is not None

    def held(self) -> bool:
        """Whether this process still holds the lock: its session is alive and has it."""
        connection = self._connection
        if connection is None:
            return False
        k1, k2 = _key(self.name)
        try:
            found = connection.exec_driver_sql(_HELD, {"k1": k1, "k2": k2}).first()
        except DBAPIError:
            found = None
        if found is None:
            _log.warning("lost the lock bulletin:%s (its session ended)", self.name)
            self._connection = None
            _discard(connection)
            return False
        return True

    def holder(self) -> str | None:
        """Who holds the lock ("serve host-a pid 1234"), or None when nobody does."""
        k1, k2 = _key(self.name)
        with database_errors(self.engine), self.engine.connect() as connection:
            name = connection.exec_driver_sql(_HOLDER, {"k1": k1, "k2": k2}).scalar()
        return None if name is None else str(name).removeprefix("bulletin ")

    def release(self) -> None:
        """Let go of the lock (ending its session releases it too)."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        k1, k2 = _key(self.name)
        with suppress(DBAPIError):  # the session is gone, and the lock with it
            connection.exec_driver_sql(f"SELECT pg_advisory_unlock({k1}, {k2})")
        _discard(connection)


def _discard(connection: Connection) -> None:
    """Close a lock's connection for good: back in the pool, its session would keep it."""
    with suppress(DBAPIError):
        connection.invalidate()
        connection.close()


class Leadership:
    """Which `bulletin serve` of a shared store does the single-writer work: the one holding
    the leader lock. ``timeout``: how soon the server gives up on a leader gone silent."""

    def __init__(self, engine: Engine, label: str, timeout: float) -> None:
        self.lock = AdvisoryLock(engine, LEADER_LOCK, label, keepalive=timeout)

    @property
    def leading(self) -> bool:
        """Whether this process led at its last ``refresh``."""
        return self.lock.taken

    def refresh(self) -> bool:
        """Still leading, or leading now if the lock is free; whether this process leads."""
        return self.lock.held() or self.lock.try_acquire()

    def holder(self) -> str | None:
        """Who leads now, if anyone."""
        return self.lock.holder()

    def resign(self) -> None:
        """Stop leading (at the end of `bulletin serve`), so another takes over at once."""
        self.lock.release()
