"""The send loop's ledger writer: one thread committing every worker's changes together.

Each worker hands it a ``Request``: the outcome of its previous message and the row it
claims for its next one (SQLite: its one sender names the rows from the due ones), and on a
shared PostgreSQL store also a wish to reserve whichever due row is free for the message after
(``share``), which it claims by name in its next request: no worker waits for the store to
learn what to send. As many requests as are waiting go into one transaction (group commit).
The worker sends its next message while the transaction commits, waiting for the commit only
before the end of the data (``Request.wait``).

When a shared store's server goes away, the transaction is tried again, with backoff, until
it is back or the send is stopped: outcomes are never dropped (each is recorded only under
its own attempt, so a retry is harmless), and a row whose claim may or may not have been made
is not sent: its worker hands it back (``Request.handed_back``).
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
from bulletin.model import Delivery, Exchange, Exchanged, Outcome

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

    def exchange(self, batch: Exchange) -> Exchanged:
        """Record, claim the rows named (reserved earlier) and reserve whichever rows are
        free (a shared store's), in one transaction."""
        ...


class LedgerPort(Protocol):
    """What the send loop needs of the ledger."""

    @property
    def shared(self) -> bool:
        """Whether several senders share it (free rows are reserved, under a lease)."""
        ...

    def due(self, day: date, now: datetime) -> Iterator[Delivery]: ...
    def writer(self) -> AbstractContextManager[Recorder]: ...
    def lease_held(self) -> bool:
        """Whether this sender's claims still hold (always, when it sends alone)."""
        ...


class Request:
    """One transaction's worth of a worker's ledger changes, and what became of its claim."""

    __slots__ = (
        "_handed",
        "_settled",
        "claim",
        "claimed",
        "done",
        "error",
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
        self.row: Delivery | None = None  # reserved for the worker's next message
        self.claimed = False
        self.uncertain = False  # its claim may or may not have been made
        self.verdict: bool | None = None
        self.error: BaseException | None = None
        # Locks taken now and released once by the writer: lighter than Events.
        self.done = threading.Lock()
        self.done.acquire()
        self.picked = threading.Lock()
        self.picked.acquire()
        self._settled = self._handed = False

    def settle(self) -> None:
        """The writer's word that the claim is decided (once; later calls change nothing)."""
        if not self._settled:
            self._settled = True
            self.done.release()

    def hand(self, row: Delivery | None) -> None:
        """The writer's word on the row reserved: ``row``, or None when the day ran dry."""
        if not self._handed:
            self._handed = True
            self.row = row
            self.picked.release()

    def next_row(self) -> Delivery | None:
        """The row reserved for the worker's next message; None when the day has run dry."""
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
        """For a shared store's row not sent (its claim may not have been made, or the lease
        ran out before the end of the data): the outcome that makes it pending again, if the
        claim was made after all."""
        if not (self.pull and (self.claimed or self.uncertain)):
            return None  # not a shared store's claim, or one known not to have been made
        return release(row, transport, "the claim did not hold before the end of the data")


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

    def share(self, outcome: Outcome | None, claim: Delivery | None) -> Request:
        """On a shared store: queue ``outcome``, the claim of ``claim`` (a row reserved for
        this worker), and the reservation of whichever due row is free; its request."""
        request = Request(outcome, claim, pull=True, lease=self.ledger.lease_held)
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
        """One transaction for ``batch``; the requests to try again (the store was away, or
        a pull got no row though the day had more)."""
        outcomes = [r.outcome for r in batch if r.outcome is not None]
        refused: Sequence[Outcome] = []
        again: list[Request] = []
        try:
            if recorder.shared:
                refused, again = self._share(recorder, batch, outcomes)
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
            request.settle()
        self.refused += len(refused)
        for outcome in outcomes:
            if outcome not in refused:
                self.recorded(outcome)
        for request in again:  # what it recorded and claimed is in: only the pull is left
            request.outcome = request.claim = None
        return again

    def _share(
        self, recorder: Recorder, batch: list[Request], outcomes: list[Outcome]
    ) -> tuple[Sequence[Outcome], list[Request]]:
        pulling = [r for r in batch if r.pull]
        naming = [r for r in batch if r.claim is not None]
        claims = [r.claim for r in naming if r.claim is not None]
        exchange = Exchange(self.day, self.clock(), outcomes, len(pulling), claims)
        done = recorder.exchange(exchange)
        for request, made in zip(naming, done.claimed, strict=True):
            request.claimed = made
        for request, row in zip(pulling, done.reserved, strict=False):
            request.hand(row)
        unserved = pulling[len(done.reserved) :]
        if done.dry:
            for request in unserved:
                request.hand(None)
            unserved = []
        return done.refused, unserved


def release(row: Delivery, transport: str, why: str) -> Outcome:
    """The outcome giving a shared store's row back unsent, reserved or claimed: pending again."""
    reply = f"handed back unsent: {why}"
    return Outcome(row.day, row.address, "pending", reply, "", transport, None, row.attempts + 1)


def _carried(batch: list[Request]) -> list[Request]:
    """What a statement that did not answer leaves to try again: all of it but the claims,
    which it may or may not have made. Each such worker is told its row is not its to send
    (it hands the row back, in case the claim was made after all)."""
    for request in batch:
        if request.claim is not None and request.pull:
            request.claim, request.claimed, request.uncertain = None, False, True
            request.settle()
    return batch


def _fail(requests: list[Request], error: BaseException) -> None:
    for request in requests:
        request.error = error
        request.hand(None)
        request.settle()
