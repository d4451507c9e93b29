"""The senders of a shared (PostgreSQL) store: who is sending, and who was taken for dead.

Each process that sends registers a row in ``senders`` and a thread of its own renews its
heartbeat every third of ``timeout``, on the database's clock (``now()``): the machines'
clocks may differ, the database's is the one they share. A sender whose heartbeat is older
than ``timeout`` is dead to the others: the reaper, one statement that whichever process
looks first runs, deletes its row, makes its rows in flight ``unknown`` and gives the rows it
had reserved back (``pending``) at once, so that no row can be left ``sending`` or
``reserved`` with nobody behind it (as Procrastinate's can, #1518).

A sender trusts its own claims only while its lease holds: until ``timeout`` less one
heartbeat interval after the start of its last heartbeat that the database took, measured
on its own monotonic clock, which runs on while the process is stopped. Past that, others
may have reaped it: it ends no message (``Lease.held``), and once its heartbeat finds its row
gone, it is ``lost`` for good and claims nothing more. SQLite keeps one sender at a time
under its file lock and needs none of this (``LOCAL``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, func, insert, update
from sqlalchemy.exc import DBAPIError

from bulletin.errors import StoreError
from bulletin.store.connect import transaction
from bulletin.store.schema import ledger, senders

REAPED = "the sender stopped while sending: the server may or may not have it"

# One statement: stale senders go, their rows in flight become unknown with them, and the
# rows they had reserved (never sent) pending again. The main UPDATE sees ``senders`` as it
# was before the DELETE (one snapshot), hence both tests; its SET reads the old status.
_REAP = """
WITH dead AS (
    DELETE FROM senders WHERE heartbeat < now() - make_interval(secs => %(timeout)s)
    RETURNING id
)
UPDATE ledger SET status = CASE WHEN status = 'sending' THEN 'unknown' ELSE 'pending' END,
    reply = CASE WHEN status = 'sending' THEN %(reply)s ELSE reply END,
    changed = COALESCE(%(now)s, now())
WHERE status IN ('sending', 'reserved') AND (
    sender_id IS NULL OR sender_id IN (SELECT id FROM dead)
    OR NOT EXISTS (SELECT 1 FROM senders s WHERE s.id = ledger.sender_id)
)
RETURNING status
"""
_LIST = """
SELECT s.id, s.host, s.pid, s.command, s.started, s.heartbeat,
       EXTRACT(EPOCH FROM now() - s.heartbeat) AS age,
       (SELECT count(*) FROM ledger l WHERE l.status = 'sending' AND l.sender_id = s.id)
FROM senders s ORDER BY s.id
"""
_log = logging.getLogger("bulletin.send")


@dataclass(frozen=True)
class SenderInfo:
    """A registered sender as ``bulletin status`` shows it."""

    id: int
    host: str
    pid: int
    command: str
    started: datetime
    heartbeat: datetime
    age: float  # seconds since its last heartbeat, on the database's clock
    in_flight: int  # its rows now ``sending``
    stale: bool  # silent for longer than the timeout: the next look reaps it


def reap(engine: Engine, timeout: float, now: datetime | None = None) -> int:
    """Take the senders silent for ``timeout`` seconds for dead; their rows in flight, and
    any left by a sender gone, become ``unknown``, their reserved rows pending. Returns how
    many rows became ``unknown``."""
    with transaction(engine) as connection:
        result = connection.exec_driver_sql(
            _REAP, {"timeout": float(timeout), "now": now, "reply": REAPED}
        )
        return sum(status == "unknown" for (status,) in result)


def list_senders(engine: Engine, timeout: float) -> list[SenderInfo]:
    """Every registered sender, oldest first, with its rows in flight."""
    with transaction(engine) as connection:
        rows = connection.exec_driver_sql(_LIST).all()
    found = []
    for key, host, pid, command, started, heartbeat, age, in_flight in rows:
        age = float(age)
        found.append(
            SenderInfo(
                key,
                host,
                pid,
                command,
                started,
                heartbeat,
                age,
                int(in_flight),
                stale=age > timeout,
            )
        )
    return found


class Lease:
    """This process's registration as a sender, renewed by a heartbeat thread."""

    def __init__(self, engine: Engine, command: str, timeout: float) -> None:
        self.engine, self.command, self.timeout = engine, command, timeout
        self.interval = timeout / 3
        self.id: int | None = None
        self.lost = False  # reaped: its row is gone, so are its claims
        self._valid_until = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="bulletin-heartbeat", daemon=True)

    def __enter__(self) -> Lease:
        started = time.monotonic()
        values = {
            "host": socket.gethostname()[:255],
            "pid": os.getpid(),
            "command": self.command[:40],
            "started": func.now(),
            "heartbeat": func.now(),
        }
        with transaction(self.engine) as connection:
            inserted = connection.execute(insert(senders).values(values).returning(senders.c.id))
            self.id = int(inserted.scalar_one())
        self._valid_until = started + self.timeout - self.interval
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.end()

    def held(self) -> bool:
        """Whether no other process can have taken this sender for dead yet."""
        return not self.lost and time.monotonic() < self._valid_until

    def end(self, now: datetime | None = None) -> int:
        """Unregister; rows still in flight (a send that failed midway) become ``unknown``,
        rows still reserved pending. Returns how many became ``unknown``."""
        if self.id is None or self.lost:
            return 0
        c = ledger.c
        mine = update(ledger).where(c.sender_id == self.id)
        changed = now or func.now()
        try:
            with transaction(self.engine) as connection:
                reserved = mine.where(c.status == "reserved")
                connection.execute(reserved.values(status="pending", changed=changed))
                stranded = mine.where(c.status == "sending")
                result = connection.execute(
                    stranded.values(status="unknown", reply=REAPED, changed=changed)
                )
                connection.execute(delete(senders).where(senders.c.id == self.id))
                return int(result.rowcount)
        except StoreError as error:  # unreachable: the others' reaper does it later
            _log.warning("could not unregister the sender", extra={"fields": {"error": str(error)}})
            return 0

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            started = time.monotonic()
            try:
                with self.engine.begin() as connection:
                    renewed = connection.execute(
                        update(senders)
                        .where(senders.c.id == self.id)
                        .values(heartbeat=func.now())
                        .returning(senders.c.id)
                    ).first()
            except DBAPIError as error:  # the server is away: the lease runs out meanwhile
                _log.warning("heartbeat failed", extra={"fields": {"error": str(error.orig)}})
                continue
            if renewed is None:
                self.lost = True
                _log.error(
                    "this sender was taken for dead (its heartbeat was late): it stops",
                    extra={"fields": {"sender": self.id}},
                )
                return
            self._valid_until = started + self.timeout - self.interval
            with suppress(StoreError):  # whichever sender looks first reaps the silent ones
                reap(self.engine, self.timeout)


class LocalLease:
    """A SQLite store's sender: alone under its file lock, never reaped by anyone."""

    id = None
    lost = False

    def held(self) -> bool:
        """Always: nobody else sends."""
        return True


LOCAL = LocalLease()
