"""One `bulletin serve` among several on a shared store: who leads, and what the others do.

On PostgreSQL any number of `bulletin serve`, on any machines, work one store. One of them
leads: it holds the leader lock (a session advisory lock on a connection of its own, whose
server-side TCP keepalives free it within ``schedule.leader_timeout`` of the leader going
silent) and takes the whole step at the schedule's times: collecting, writing feeds/ and the
web copies, planning and sending. The others send: every third of ``leader_timeout`` each
one (the leader too) sends whatever is due, beside the rest, and tries to take the lead, so
that a dead leader is followed within the timeout; a new leader takes the whole step at once,
to do what the old one may have left undone. Planning is idempotent, so a second planner
(after a partition, say) is harmless. On SQLite there is one `bulletin serve`, which always
leads.

When the store cannot be reached, the wake-up fails, is logged, and asks to be tried again
after a backoff (2, 4, ... 60 s); /health answers 503 meanwhile, saying why.
"""

from __future__ import annotations

import logging
from contextlib import suppress

from bulletin.errors import BulletinError
from bulletin.pipeline.context import Clock, RunContext, system_clock
from bulletin.pipeline.runner import Stop
from bulletin.pipeline.step import run_step
from bulletin.store import Busy, Leadership, Store, StoreUnavailable

POLL = "poll"  # the reason of the senders' frequent wake-up
_STEP_WAIT = 60.0  # how long a step waits for a `bulletin run` working on the store
_RETRY_MOST = 60.0
_log = logging.getLogger("bulletin.serve")


class Node:
    """What each wake-up of one `bulletin serve` does, given who leads."""

    def __init__(self, ctx: RunContext, stop: Stop, clock: Clock = system_clock) -> None:
        self.ctx, self.stop, self.clock = ctx, stop, clock
        self._store: Store | None = None
        self._leadership: Leadership | None = None
        self.shared = False
        # How often it wakes to send and to look for a leader: None on a store not shared.
        self.poll: float | None = None
        self.failures = 0  # wake-ups in a row that found the store away

    def open(self) -> Node:
        """Open the store this node keeps for its leader lock; returns itself."""
        self._store = self.ctx.open_store()
        self.shared = self._store.shared
        if self.shared:
            self._leadership = Leadership(self._store.engine, "serve", self.ctx.leader_timeout)
            self.poll = self.ctx.leader_timeout / 3
        return self

    def close(self) -> None:
        """Stop leading, so that another takes over at once, and close the store."""
        if self._leadership is not None:
            with suppress(BulletinError):  # the store is away: the lock went with the session
                self._leadership.resign()
        if self._store is not None:
            self._store.close()

    def wake(self, reason: str) -> float | None:
        """Do what this wake-up calls for; seconds until it should be tried again (the store
        was away), or None."""
        try:
            self._wake(reason)
        except StoreUnavailable as error:
            self.failures += 1
            delay = min(2.0**self.failures, _RETRY_MOST)
            fields = {"reason": reason, "retry_in": delay, "hint": error.hint or None}
            _log.error(error.message, extra={"fields": fields})
            return delay
        except Busy as error:
            _log.warning("skipped: " + error.message, extra={"fields": {"reason": reason}})
        except BulletinError as error:
            fields = {"reason": reason, "hint": error.hint or None}
            _log.error(error.message, extra={"fields": fields})
        except Exception:  # a bug: log it whole and keep serving; the next wake tries again
            _log.exception("unexpected error", extra={"fields": {"reason": reason}})
        self.failures = 0
        return None

    def _wake(self, reason: str) -> None:
        leadership = self._leadership
        if leadership is None:  # SQLite: the one serve of the store always leads
            self._step(reason)
            return
        was_leading = leadership.leading
        leading = leadership.refresh()
        if leading != was_leading:
            _log.info(
                "leading: collecting, publishing and planning" if leading else "no longer leading",
                extra={"fields": {"reason": reason}},
            )
        whole = leading and (reason != POLL or not was_leading)
        self._step(f"{reason}+leader" if whole and not was_leading else reason, not whole)

    def _step(self, reason: str, send_only: bool = False) -> None:
        """The whole step, or (``send_only``) only the copies due, beside the others."""
        wait = 0.0 if send_only else _STEP_WAIT
        run_step(
            self.ctx,
            command="serve",
            stop=self.stop,
            wait=wait,
            reason=reason,
            send_only=send_only,
            clock=self.clock,
        )

    @property
    def leading(self) -> bool:
        """Whether this node led at its last wake-up (always, on a store not shared)."""
        return self._leadership is None or self._leadership.leading
