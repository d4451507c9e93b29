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
from typing import IO

from bulletin.errors import StoreError


class Busy(StoreError):
    """Another process holds the lock; trying again later is the fix."""

    exit_code = 75  # EX_TEMPFAIL (sysexits.h): cron and systemd read it as "try later"


class FileLock:
    """An exclusive lock on ``path``; ``label`` says who holds it (written into the file).

    ``busy`` and ``hint`` make the error of a lock held by another; ``{holder}`` and
    ``{path}`` are filled in."""

    def __init__(
        self,
        path: Path,
        label: str,
        busy: str = "another bulletin ({holder}) is working on this store",
        hint: str = "wait for it to finish and try again; the lock is {path}",
    ) -> None:
        self.path, self.label, self.busy, self.hint = path, label, busy, hint
        self._handle: IO[str] | None = None

    def acquire(
        self,
        wait: float = 0.0,
        cancelled: Callable[[], bool] = lambda: False,
        poll: float = 0.2,
    ) -> None:
        """Take the lock, waiting up to ``wait`` seconds; ``Busy`` if it is still held then."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline or cancelled():
                    handle.seek(0)
                    holder = handle.read().strip() or "a process that did not say"
                    handle.close()
                    raise Busy(
                        self.busy.format(holder=holder, path=self.path),
                        hint=self.hint.format(holder=holder, path=self.path),
                    ) from None
                time.sleep(min(poll, max(deadline - time.monotonic(), 0.01)))
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} {self.label}\n")
        handle.flush()
        self._handle = handle

    def holder(self) -> str | None:
        """Who holds the lock ("pid 1234 serve"), or None when nobody does."""
        return lock_holder(self.path)

    def release(self) -> None:
        """Let go of the lock (closing the file releases it)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> FileLock:
        if self._handle is None:
            self.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


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
