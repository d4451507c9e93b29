"""File locks that keep two bulletin processes from working on one store at the same time.

``flock`` locks belong to an open file and die with the process, so a killed runner never
leaves a stale lock behind (rss2email guards its state the same way). The file holds who took
it ("pid 1234 serve"), so the one who waits can say whom it waits for. The delivery ledger's
own sender lock (``Ledger.lock``) sits inside these: it is only ever tried, never waited for,
so no two locks can wait on each other.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from bulletin.errors import StoreError


class Busy(StoreError):
    """Another process holds the lock; trying again later is the fix."""

    exit_code = 75  # EX_TEMPFAIL (sysexits.h): cron and systemd read it as "try later"


class Lock:
    """What every lock of a store does: taken (waiting a while), let go of, a context
    manager. A kind of lock says how to try it once, who holds it, and how to let go.

    ``busy`` and ``hint`` make the error of a lock held by another; ``{holder}`` and
    ``{path}`` are filled in."""

    busy = "another bulletin ({holder}) is working on this store"
    hint = "wait for it to finish and try again; the lock is {path}"
    path: Any  # where it is (a file, a lock of the database), for messages

    @property
    def taken(self) -> bool:
        """Whether this process took the lock and has not let go of it."""
        raise NotImplementedError

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; whether this process holds it now."""
        raise NotImplementedError

    def holder(self) -> str | None:
        """Who holds the lock, or None when nobody does."""
        raise NotImplementedError

    def release(self) -> None:
        """Let go of the lock."""
        raise NotImplementedError

    def acquire(
        self,
        wait: float = 0.0,
        cancelled: Callable[[], bool] = lambda: False,
        poll: float = 0.2,
    ) -> None:
        """Take the lock, waiting up to ``wait`` seconds; ``Busy`` if it is still held then."""
        deadline = time.monotonic() + wait
        while not self.try_acquire():
            if time.monotonic() >= deadline or cancelled():
                holder = self.holder() or "a process that did not say"
                raise Busy(
                    self.busy.format(holder=holder, path=self.path),
                    hint=self.hint.format(holder=holder, path=self.path),
                )
            time.sleep(min(poll, max(deadline - time.monotonic(), 0.01)))

    def __enter__(self) -> Lock:
        if not self.taken:
            self.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


class FileLock(Lock):
    """An exclusive lock on ``path``; ``label`` says who holds it (written into the file)."""

    def __init__(self, path: Path, label: str) -> None:
        self.path, self.label = path, label
        self._handle: IO[str] | None = None

    @property
    def taken(self) -> bool:
        """Whether this process holds the lock."""
        return self._handle is not None

    def try_acquire(self) -> bool:
        """Lock the file if nobody has it locked, and write who holds it into it."""
        if self._handle is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} {self.label}\n")
        handle.flush()
        self._handle = handle
        return True

    def holder(self) -> str | None:
        """Who holds the lock ("pid 1234 serve"), or None when nobody does."""
        return lock_holder(self.path)

    def release(self) -> None:
        """Let go of the lock (closing the file releases it)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def lock_holder(path: Path) -> str | None:
    """Who holds the lock at ``path`` ("pid 1234 serve"), or None when nobody does.

    A shared lock is tried and dropped at once: it never blocks the holder, and a process
    taking the lock at that very instant fails only if it does not wait at all.
    """
    try:
        handle = path.open("r")
    except FileNotFoundError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return handle.read().strip() or "a process that did not say"
        fcntl.flock(handle, fcntl.LOCK_UN)
        return None
