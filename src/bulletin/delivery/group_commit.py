"""The send loop's ledger writer: one thread committing every worker's changes together.

Each worker hands it a ``Request``: the outcome of its previous message, and either the row
it wants next (SQLite: its one sender names the rows) or a wish for whichever row is free (a
shared PostgreSQL store: ``share``). As many requests as are waiting go into one transaction
(group commit). The worker sends its next message while the transaction commits, waiting for
the commit only before the end of the data (``Request.wait``); a row claimed for it on a
shared store is handed over as soon as it is claimed, before the commit.

When a shared store's server goes away, the transaction is tried again, with backoff, until
it is back or the send is stopped: outcomes are never dropped (each is recorded only under
its own attempt, so a retry is harmless), and a row whose claim did not commit is not sent:
its worker hands it back (``Request.handed_back``).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import Protocol

from bulletin.errors import StoreUnavailable
from bulletin.model import Delivery, Exchange, Outcome

_log = logging.getLogger("bulletin.send")
_RETRY_FIRST, _RETRY_MOST = 0.5, 10.0  # seconds between tries while the store is away


class Recorder(Protocol):
    """Records outcomes and claims rows, in one transaction per call."""

    @property
    def shared(self) -> bool:
        """Whether senders share the day: each claims whichever rows are free."""
        ...

    def apply(
        self, outcomes: Sequence[Outcome], claims: Sequence[Delivery], now: datetime
    ) -> list[bool]: ...

    def exchange(
        self, batch: Exchange, picked: Callable[[list[Delivery], bool], None]
    ) -> tuple[list[bool], list[Outcome]]:
        """Record and claim whichever rows are free (a shared store's); the named claims'
        (none) and the outcomes refused (their rows are no longer under that claim)."""
        ...


class LedgerPort(Protocol):
    """What the send loop needs of the ledger."""

    @property
    def shared(self) -> bool:
        """Whether several senders share it (free rows are claimed, under a lease)."""
        ...

    def due(self, day: date, now: datetime) -> Iterator[Delivery]: ...
    def writer(self) -> AbstractContextManager[Recorder]: ...
    def lease_held(self) -> bool:
        """Whether this sender's claims still hold (always, when it sends alone)."""
        ...


class Request:
    """One transaction's worth of a worker's ledger changes, and what became of its claim."""

    __slots__ = (
        "claim",
        "claimed",
        "done",
        "error",
        "handed",
        "lease",
        "outcome",
        "picked",
        "pull",
        "row",
        "uncertain",
        "verdict",
    )

    def __init__(
        self,
        outcome: Outcome | None,
        claim: Delivery | None = None,
        pull: bool = False,
        lease: Callable[[], bool] = lambda: True,
    ) -> None:
        self.outcome, self.claim, self.pull, self.lease = outcome, claim, pull, lease
        self.row: Delivery | None = None
        self.claimed = self.handed = False
        self.uncertain = False  # its transaction may or may not have committed
        self.verdict: bool | None = None
        self.error: BaseException | None = None
        # Locks taken now and released by the writer: lighter than Events.
        self.done = threading.Lock()
        self.done.acquire()
        self.picked = threading.Lock()
        self.picked.acquire()

    def next_row(self) -> Delivery | None:
        """The row claimed for the worker's next message (before the commit); None when
        the day has run dry."""
        self.picked.acquire()
        if self.error is not None:
            raise self.error
        return self.row

    def wait(self) -> bool:
        """Block until committed; whether the row is ours to send. Decided once: asked again,
        it answers the same, so that a message sent stays sent."""
        if self.verdict is None:
            self.done.acquire()  # released by the writer once committed
            if self.error is not None:
                raise self.error
            # A shared store's claim holds only while the sender's lease does.
            self.verdict = self.claimed and self.lease()
        return self.verdict

    def handed_back(self, row: Delivery, transport: str) -> Outcome | None:
        """For a shared store's row not sent (its claim may not have committed, or the lease
        ran out before the end of the data): the outcome that makes it pending again, if the
        claim was made after all."""
        if not (self.pull and self.handed and (self.claimed or self.uncertain)):
            return None  # not a shared store's claim, or one known not to have been made
        reply = "handed back unsent: the claim did not hold before the end of the data"
        return Outcome(
            row.day, row.address, "pending", reply, "", transport, None, row.attempts + 1
        )


class Writer(threading.Thread):
    """Commits the workers' ledger changes, as many together as are waiting (group commit)."""

    def __init__(
        self,
        ledger: LedgerPort,
        clock: Callable[[], datetime],
        recorded: Callable[[Outcome], None],
        stop: threading.Event,
    ) -> None:
        super().__init__(name="bulletin-ledger", daemon=True)
        self.ledger, self.clock, self.recorded, self.stop = ledger, clock, recorded, stop
        self.requests: queue.Queue[Request | None] = queue.Queue()
        self.day = date.min  # the day pulls claim rows of (set before the loop starts)
        self.refused = 0  # late outcomes the store refused: their rows were claimed again

    def submit(self, outcome: Outcome | None, claim: Delivery | None) -> Request:
        """Queue ``outcome`` and the claim of ``claim`` for one transaction; its request."""
        request = Request(outcome, claim)
        self.requests.put(request)
        return request

    def share(self, outcome: Outcome | None) -> Request:
        """On a shared store: queue ``outcome`` and the claim of whichever due row is free;
        its request."""
        request = Request(outcome, pull=True, lease=self.ledger.lease_held)
        self.requests.put(request)
        return request

    def call(self, outcome: Outcome | None, claim: Delivery | None) -> bool:
        """Record ``outcome`` and claim ``claim`` in one transaction; whether it was claimed."""
        request = self.submit(outcome, claim)
        request.wait()
        return request.claimed

    def close(self) -> None:
        """Commit what is queued, then end the thread."""
        self.requests.put(None)
        self.join()

    def run(self) -> None:
        """The thread: one transaction per batch of waiting requests, until closed."""
        try:
            with self.ledger.writer() as recorder:
                self._serve(recorder)
        except BaseException as error:  # cannot even connect: fail every caller
            while True:
                request = self.requests.get()
                if request is None:
                    return
                _fail([request], error)

    def _serve(self, recorder: Recorder) -> None:
        waiting: list[Request] = []  # carried over from a transaction the server missed
        pause = _RETRY_FIRST
        closing = False
        while not (closing and not waiting):
            batch, waiting = waiting, []
            if not batch and not closing:
                first = self.requests.get()
                if first is None:
                    return
                batch.append(first)
            closing = self._gather(batch) or closing
            waiting = self._commit(recorder, batch)
            if waiting:
                if self.stop.wait(pause) and closing:
                    _fail(waiting, StoreUnavailable("the store stayed away: the send stopped"))
                    return
                pause = min(pause * 2, _RETRY_MOST)
            else:
                pause = _RETRY_FIRST

    def _gather(self, batch: list[Request]) -> bool:
        """Add every request waiting now to ``batch``; whether the end was asked for."""
        while True:
            try:
                more = self.requests.get_nowait()
            except queue.Empty:
                return False
            if more is None:
                return True
            batch.append(more)

    def _commit(self, recorder: Recorder, batch: list[Request]) -> list[Request]:
        """One transaction for ``batch``; the requests to try again (the store was away)."""
        outcomes = [r.outcome for r in batch if r.outcome is not None]
        refused: list[Outcome] = []
        try:
            if recorder.shared:
                refused = self._share(recorder, batch, outcomes)
            else:
                claims = [r.claim for r in batch if r.claim is not None]
                claimed = iter(recorder.apply(outcomes, claims, self.clock()))
                for request in batch:
                    request.claimed = next(claimed) if request.claim is not None else False
        except StoreUnavailable as error:
            if not recorder.shared:
                _fail(batch, error)
                return []
            _log.warning("the store is away; trying again", extra={"fields": {"error": str(error)}})
            return _carried(batch)
        except BaseException as error:
            _fail(batch, error)
            return []
        for request in batch:
            request.done.release()
        self.refused += len(refused)
        for outcome in outcomes:
            if outcome not in refused:
                self.recorded(outcome)
        return []

    def _share(
        self, recorder: Recorder, batch: list[Request], outcomes: list[Outcome]
    ) -> list[Outcome]:
        pulling = [r for r in batch if r.pull]

        def picked(rows: list[Delivery], dry: bool) -> None:
            for request, row in zip(pulling, rows, strict=False):
                request.row, request.handed = row, True
                request.picked.release()
            for request in pulling[len(rows) :]:  # the day ran dry: nothing for these
                request.picked.release()

        _, refused = recorder.exchange(
            Exchange(self.day, self.clock(), outcomes, len(pulling)), picked
        )
        for request in batch:
            request.claimed = request.handed
        return refused


def _carried(batch: list[Request]) -> list[Request]:
    """What a transaction that did not commit leaves to try again: every outcome, and every
    pull not yet handed a row; a pull that was handed one is told it is not its to send (its
    worker hands it back, in case the commit happened after all)."""
    again = []
    for request in batch:
        if request.pull and request.handed:
            if request.outcome is not None:
                again.append(Request(request.outcome))  # nobody waits on this copy
            request.claimed, request.uncertain = False, True
            request.done.release()
        else:
            again.append(request)
    return again


def _fail(requests: list[Request], error: BaseException) -> None:
    for request in requests:
        request.error = error
        if not request.handed:
            request.picked.release()
        request.done.release()
