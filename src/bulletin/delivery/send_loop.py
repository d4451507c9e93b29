"""The send loop: N connections working through a day's ledger rows, each message recorded.

It knows neither SQL nor SMTP: it drives a ``LedgerPort`` (the store's ledger) and
``Channel``s (an SMTP session, or the outbox). Each worker owns one channel and handles one
message at a time; one transaction records the outcome of its previous message and claims
its next row (group-committed with the other workers' by one writer thread,
``group_commit``), so a row is ``sending`` only while its message is in flight: after a crash
at most one row per connection is left to become ``unknown``. The channel sends the message
while that transaction commits and waits for it only before the end of the data, the point
from which the server may have the message. On SQLite a feeder reads the due rows and hands
them to the workers; on a shared store (PostgreSQL, several senders) each worker reserves
whichever due row is free for its next message (``reserved``: never sent, it goes back to the
others if its sender dies) and claims it by name in the transaction that records the message
before, and ends no message once its sender's lease has run out.

4xx replies defer a row with exponential backoff up to a limit, 5xx fail it. The run stops
itself (``paused``), leaving the rest pending, after too many failures in a row of the server
or session (no session, 421, TLS or login refused, timeouts, drops); a recipient refused alone
(``Result.per_recipient``) is recorded and the send goes on past any run of dead addresses.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol

from bulletin.delivery.group_commit import LedgerPort, Request, Writer
from bulletin.delivery.smtp import Result, SessionError
from bulletin.errors import BulletinError
from bulletin.model import Delivery, Outcome

Progress = Callable[[str], None]


class Channel(Protocol):
    """One connection of a transport."""

    @property
    def is_open(self) -> bool: ...
    def open(self) -> None: ...
    def close(self) -> None: ...
    def submit(
        self, sender: str, recipient: str, message: bytes, ready: Callable[[], bool]
    ) -> Result:
        """Send ``message``; before the server can have it, ``ready()`` must say yes."""
        ...


@dataclass(frozen=True)
class Settings:
    """How hard to push: connections, rate, and when to retry or give up."""

    sender: str  # the envelope sender (MAIL FROM)
    transport: str
    connections: int = 1
    rate_per_second: float = 0.0
    pause_after_errors: int = 20
    retry_limit: int = 5
    backoff_seconds: float = 300.0


@dataclass
class Tally:
    """What one run of the loop did."""

    sent: int = 0
    deferred: int = 0
    failed: int = 0
    unknown: int = 0
    released: int = 0  # pulled rows handed back unsent (a shared store's claim did not hold)
    refused: int = 0  # late outcomes the store refused: their rows were claimed again since
    paused: str = ""  # why the run stopped early, if it did
    interrupted: bool = False
    errors_in_a_row: int = 0  # failures that were not one recipient's, since the last sent
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


Render = Callable[[Delivery], tuple[bytes, str]]  # a row -> (message, Message-ID)
_CHUNK = 8  # rows handed to a worker at a time


class SendLoop:
    """Sends a day's due rows over ``settings.connections`` channels."""

    def __init__(
        self,
        ledger: LedgerPort,
        render: Render,
        channel: Callable[[], Channel],
        settings: Settings,
        clock: Callable[[], datetime],
        progress: Progress | None = None,
        envelope: Callable[[Delivery], str] | None = None,
    ) -> None:
        self.ledger, self.render, self.channel = ledger, render, channel
        # The envelope sender of each row (a VERP return path); default: settings.sender.
        self.envelope = envelope
        self.settings, self.clock, self.progress = settings, clock, progress
        self.tally = Tally()
        self.stop = threading.Event()
        # Rows go to the workers a few at a time: one hand-off per row cost as much as a send.
        self.rows: queue.Queue[list[Delivery]] = queue.Queue(maxsize=settings.connections * 2)
        self.writer = Writer(ledger, clock, self._recorded, self.stop)
        self.limiter = _RateLimiter(settings.rate_per_second)
        self.failure: BaseException | None = None

    def run(self, day: date) -> Tally:
        """Send until no row is due, or the run pauses or is interrupted."""
        pulling = self.ledger.shared
        work = self._share if pulling else self._work
        workers = [
            threading.Thread(target=work, name=f"bulletin-send-{n}", daemon=True)
            for n in range(self.settings.connections)
        ]
        self.writer.day = day
        self.writer.start()
        for worker in workers:
            worker.start()
        try:
            # A row deferred with no backoff is due again at once: a few passes retry it.
            for _ in range(0 if pulling else self.settings.retry_limit + 1):
                if not self._feed(day) or self.stop.is_set():
                    break
        except KeyboardInterrupt:
            self.tally.interrupted = True
        finally:
            if not pulling:
                self.stop.set()
            for worker in workers:
                self._join(worker)
            self.stop.set()
            self.writer.close()
        self.tally.refused = self.writer.refused
        if self.failure is not None:
            raise self.failure
        return self.tally

    def _feed(self, day: date) -> int:
        fed = 0
        due = iter(self.ledger.due(day, self.clock()))
        while chunk := list(itertools.islice(due, _CHUNK)):
            while not self.stop.is_set():
                try:
                    self.rows.put(chunk, timeout=0.1)
                    fed += len(chunk)
                    break
                except queue.Full:
                    continue
            if self.stop.is_set():
                break
        while self.rows.unfinished_tasks and not self.stop.is_set():
            time.sleep(0.01)
        return fed

    def _join(self, worker: threading.Thread) -> None:
        while worker.is_alive():
            try:
                worker.join(0.1)
            except KeyboardInterrupt:  # the loop stops between messages, even at a second ^C
                self.tally.interrupted = True
                self.stop.set()

    # --- one worker -----------------------------------------------------------------------

    def _work(self) -> None:
        channel = self.channel()
        previous: Outcome | None = None
        try:
            while not self.stop.is_set():
                try:
                    chunk = self.rows.get_nowait()
                except queue.Empty:
                    # Nothing to claim with it: record the last outcome now, not after a wait.
                    previous = self._record(previous)
                    try:
                        chunk = self.rows.get(timeout=0.1)
                    except queue.Empty:
                        continue
                try:
                    for row in chunk:
                        if self.limiter.interval or not channel.is_open:
                            previous = self._record(previous)
                        if self.stop.is_set() or not self._open(channel):
                            break  # the rest stay due for the next run
                        self.limiter.wait(self.stop)
                        claim = self.writer.submit(previous, row)
                        previous = None  # in the writer's hands now
                        previous = self._send(channel, row, claim)
                finally:
                    self.rows.task_done()
        except BaseException as error:  # the ledger failed: stop everything, report it
            self.failure = self.failure or error
            self.stop.set()
        finally:
            try:
                if previous is not None:
                    self.writer.call(previous, None)
            except BaseException as error:
                self.failure = self.failure or error
            channel.close()
            self._drain()

    def _share(self) -> None:
        """A worker on a shared store: claims the row it reserved, sends it, and meanwhile
        reserves whichever due row is free for its next message, until none is."""
        channel = self.channel()
        previous: Outcome | None = None
        ahead: Delivery | None = None  # reserved for this connection's next message
        try:
            while not self.stop.is_set():
                if self.limiter.interval or not channel.is_open:
                    previous = self._record(previous)
                if not self._open(channel):
                    break  # stopping: the rest stay due for the next run
                self.limiter.wait(self.stop)
                if self.stop.is_set():
                    break
                row, ahead = ahead, None
                request = self.writer.share(previous, row)
                previous = None  # in the writer's hands now
                if row is not None:
                    previous = self._send(channel, row, request)
                ahead = request.next_row()
                if ahead is None:
                    break  # nothing left to reserve for this day
        except BaseException as error:  # the ledger failed: stop everything, report it
            self.failure = self.failure or error
            self.stop.set()
        finally:
            try:
                # A row still reserved (``ahead``) goes back as the sender ends (Lease.end).
                self._record(previous)
            except BaseException as error:
                self.failure = self.failure or error
            channel.close()

    def _record(self, outcome: Outcome | None) -> Outcome | None:
        """Commit ``outcome`` on its own; returns None, the new 'previous outcome'."""
        if outcome is not None:
            self.writer.call(outcome, None)
        return None

    def _send(self, channel: Channel, row: Delivery, claim: Request) -> Outcome | None:
        """Send ``row`` while its claim commits; its outcome, or None if it was not claimed
        (for a pulled row that was not sent: the outcome handing it back)."""
        try:
            message, message_id = self.render(row)
        except BulletinError as error:
            result, message_id = Result("failed", f"cannot build the message: {error}"), ""
        else:
            sender = self.envelope(row) if self.envelope else self.settings.sender
            result = channel.submit(sender, row.address, message, claim.wait)
        if result.reconnect:
            channel.close()
        if not claim.wait():  # the row was not ours: whatever the channel did is void
            return claim.handed_back(row, self.settings.transport)
        self._count(result)
        return self._outcome(row, result, message_id)

    def _open(self, channel: Channel) -> bool:
        """Open the channel if it is closed, retrying with backoff; False when stopping."""
        wait = 0.5
        while not channel.is_open and not self.stop.is_set():
            try:
                channel.open()
            except SessionError as error:
                self._trouble(error.message)
                if not error.transient:
                    self._pause(error.message)
                    return False
                self.stop.wait(wait)
                wait = min(wait * 2, 30.0)
        return not self.stop.is_set()

    def _outcome(self, row: Delivery, result: Result, message_id: str) -> Outcome:
        status, reply, next_attempt = result.status, result.reply, None
        if status == "deferred":
            attempts = row.attempts + 1  # claiming counted this attempt
            if attempts >= self.settings.retry_limit:
                status, reply = "failed", f"gave up after {attempts} attempts: {reply}"
            else:
                delay = self.settings.backoff_seconds * 2 ** (attempts - 1)
                next_attempt = self.clock() + timedelta(seconds=delay)
        return Outcome(
            row.day,
            row.address,
            status,
            reply,
            message_id,
            self.settings.transport,
            next_attempt,
            attempt=row.attempts + 1,
        )

    def _count(self, result: Result) -> None:
        """A message sent ends a run of failures; a recipient refused alone leaves it as is."""
        if result.status == "sent":
            with self.tally.lock:
                self.tally.errors_in_a_row = 0
        elif not result.per_recipient:
            self._trouble(result.reply)

    def _trouble(self, reply: str) -> None:
        """One more failure in a row that is not one recipient's; pause at the limit."""
        tally = self.tally
        with tally.lock:
            tally.errors_in_a_row += 1
            if tally.errors_in_a_row >= self.settings.pause_after_errors:
                self._pause(f"{tally.errors_in_a_row} failures in a row; the last: {reply}")

    def _pause(self, reason: str) -> None:
        self.tally.paused = self.tally.paused or reason
        self.stop.set()

    def _drain(self) -> None:
        while True:
            try:
                self.rows.get_nowait()
            except queue.Empty:
                return
            self.rows.task_done()

    def _recorded(self, outcome: Outcome) -> None:
        """Called by the writer once an outcome is committed."""
        counter = "released" if outcome.status == "pending" else outcome.status
        with self.tally.lock:
            setattr(self.tally, counter, getattr(self.tally, counter) + 1)
        if self.progress is not None:
            self.progress(outcome.status)


class _RateLimiter:
    """At most ``rate`` messages per second across all workers, evenly spaced."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next = time.monotonic()
        self.lock = threading.Lock()

    def wait(self, stop: threading.Event) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            slot = max(now, self.next)
            self.next = slot + self.interval
        if slot > now:
            stop.wait(slot - now)
