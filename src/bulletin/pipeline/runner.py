"""Who may work on the store, and how a run is stopped and logged.

One runner at a time works on a store (the run lock: collecting, publishing, sending), and one
`bulletin serve` per store (the serve lock). A dry run takes no lock. ``Stop`` carries a stop
request from a signal handler to the step; ``RunLog`` writes a run's log lines with its id.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bulletin.pipeline.context import RunContext
from bulletin.store import AdvisoryLock, FileLock, Store

StoreLock = FileLock | AdvisoryLock

RUN_LOCK = "run"  # held while collecting, publishing or sending
SERVE_LOCK = "serve"  # held by `bulletin serve` for as long as it runs (SQLite)
LEADER_LOCK = "leader"  # held by the `bulletin serve` leading a shared store

_log = logging.getLogger("bulletin.run")


class Stop:
    """A request to stop, set from a signal handler: plain attributes only, no locks.

    While a digest is being sent the first request raises ``KeyboardInterrupt`` in the main
    thread: the send loop's own ^C handling (``SendLoop.run``) then stops claiming rows, lets
    each connection finish its message in flight and records it. Elsewhere the step checks
    ``requested`` between stages; a second request, outside a send, interrupts at once (every
    stage is safe to cut anywhere: the next run redoes it).
    """

    def __init__(self) -> None:
        self.requested = False
        self.sending = False

    def request(self) -> None:
        """Ask the run to stop (called from a signal handler)."""
        again = self.requested
        self.requested = True
        if self.sending != again:  # the first while sending, or a second while not
            raise KeyboardInterrupt


class RunLog:
    """Log lines of one run, each carrying its id and the fields given (``sent=3``)."""

    def __init__(self, key: str | None = None) -> None:
        self.key = key or secrets.token_hex(4)

    def info(self, message: str, **fields: Any) -> None:
        """An event of the run."""
        _log.info(message, extra={"fields": {"run": self.key, **fields}})

    def warning(self, message: str, **fields: Any) -> None:
        """Something the operator should know of; the run goes on."""
        _log.warning(message, extra={"fields": {"run": self.key, **fields}})

    def error(self, message: str, exc_info: bool = False, **fields: Any) -> None:
        """Something failed; the run goes on or ends, as the caller decides."""
        _log.error(message, exc_info=exc_info, extra={"fields": {"run": self.key, **fields}})


def store_lock(ctx: RunContext, store: Store, name: str, label: str) -> StoreLock | None:
    """The store's lock ``name``: beside a SQLite file, in PostgreSQL itself (an advisory
    lock every machine sees), else in the deployment's var/."""
    return store.lock(name, label, folder=ctx.lock_folder)


@contextmanager
def runner_store(
    ctx: RunContext,
    label: str,
    dry_run: bool = False,
    wait: float = 0.0,
    cancelled: Callable[[], bool] = lambda: False,
    locked: bool = True,
) -> Iterator[Store]:
    """The store, held against other runners while the block runs (a dry run, or a block not
    ``locked``, takes no lock).

    Waits up to ``wait`` seconds for another runner (``Busy`` after that); the lock and the
    store are let go of however the block ends.
    """
    with ctx.open_store(dry_run) as store:
        lock = store_lock(ctx, store, RUN_LOCK, label) if locked and not dry_run else None
        if lock is None:
            yield store
            return
        lock.acquire(wait, cancelled=cancelled)
        try:
            yield store
        finally:
            lock.release()


def serve_lock(ctx: RunContext) -> StoreLock | None:
    """The lock `bulletin serve` holds while it runs: one service per store; none on a
    shared store, where every `bulletin serve` sends and one of them leads."""
    with ctx.open_store() as store:
        if store.shared:
            return None
        lock = store_lock(ctx, store, SERVE_LOCK, "serve")
    if lock is not None:
        lock.busy = "bulletin serve is already running on this store ({holder})"
        lock.hint = "one `bulletin serve` per store: stop the other first (its lock is {path})"
    return lock


def upgrade_store(ctx: RunContext) -> tuple[list[tuple[int, str]], int]:
    """Create the store or bring its schema up to date: the migrations applied, the version."""
    with ctx.open_store(upgrade=False) as store:
        return store.upgrade(), store.version()
