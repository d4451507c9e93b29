"""The one idempotent step that brings the store, the feeds and the mail up to date with the clock.

``bulletin serve`` runs it at start-up, every ``collect_every_minutes`` and at ``digest_at``;
``bulletin run --once`` runs it once, from cron or a systemd timer. Whatever woke it, it reads
what is due from the store, never from the scheduler: waking twice, late, or after days of
downtime gives the same result. In order:

1. collect the sources and publish the feeds (incrementally);
2. finish digests whose send was cut short (a stop, a crash) and retry deliveries that are due;
3. plan the digests due now (``planning.plan_digests``) from the days already settled;
4. backfill the web copies of missed days, record dropped days, and send each digest due,
   recording its day first, so that it is planned once; a day without items is recorded
   ``empty`` so it does not stay due.

It works under the store's run lock, so two runners never interleave; the ledger's sender
lock sits inside it and is only ever tried, never waited for.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from bulletin import digest
from bulletin.config import Config
from bulletin.errors import BulletinError
from bulletin.pipeline.collecting import CollectReport, collect
from bulletin.pipeline.common import (
    Clock,
    DigestReport,
    DryRunView,
    ItemView,
    open_store,
    system_clock,
)
from bulletin.pipeline.digesting import build_day, build_days, render_days, write_web_copy
from bulletin.pipeline.planning import DigestPlan, Plan, next_digest, plan_digests
from bulletin.pipeline.publishing import FeedsReport, publish_feeds
from bulletin.pipeline.sending import SendReport, Variant, deliver, send_rows
from bulletin.store import FileLock, Store

RUN_LOCK = "run"  # held while collecting, publishing or sending
SERVE_LOCK = "serve"  # held by `bulletin serve` for as long as it runs

_log = logging.getLogger("bulletin.run")


class Stop:
    """A request to stop, set from a signal handler: plain attributes only, no locks.

    While a digest is being sent the first request raises ``KeyboardInterrupt`` in the main
    thread: the send loop's own ^C handling (``Dispatch.run``) then stops claiming rows, lets
    each connection finish its message in flight and records it. Elsewhere the step checks
    ``requested`` between stages; a second request, outside a send, interrupts at once (every
    stage is safe to cut anywhere: the next run redoes it).
    """

    def __init__(self) -> None:
        self.requested = False
        self.sending = False

    def request(self) -> None:
        again = self.requested
        self.requested = True
        if self.sending != again:  # the first while sending, or a second while not
            raise KeyboardInterrupt


class RunLog:
    """Log lines of one run, each carrying its id and the fields given (``sent=3``)."""

    def __init__(self, key: str) -> None:
        self.key = key

    def info(self, message: str, **fields: Any) -> None:
        _log.info(message, extra={"fields": {"run": self.key, **fields}})

    def warning(self, message: str, **fields: Any) -> None:
        _log.warning(message, extra={"fields": {"run": self.key, **fields}})

    def error(self, message: str, exc_info: bool = False, **fields: Any) -> None:
        _log.error(message, exc_info=exc_info, extra={"fields": {"run": self.key, **fields}})


@dataclass
class DigestResult:
    """One digest of this run: the days it covers and what became of it."""

    day: date  # filed under: its ledger rows are this day's
    days: tuple[date, ...]
    status: str  # sent, sending (cut short: finished next time), empty, would send, failed
    items: int = 0
    send: SendReport | None = None
    recipients: list[str] = field(default_factory=list)  # a dry run: who would get it
    error: str = ""

    @property
    def ok(self) -> bool:
        """Whether it went out whole (or had nothing to go out)."""
        if self.status in ("failed", "sending"):
            return False
        s = self.send
        return s is None or not (s.failed or s.unknown or s.paused)


@dataclass
class ReconcileReport:
    """Everything one reconcile step did."""

    key: str
    command: str
    now: datetime
    dry_run: bool
    collected: CollectReport = field(default_factory=CollectReport)
    feeds: FeedsReport | None = None
    plan: Plan = field(default_factory=Plan)
    digests: list[DigestResult] = field(default_factory=list)
    finished: list[DigestResult] = field(default_factory=list)  # earlier digests' rows
    backfilled: list[date] = field(default_factory=list)  # web copies of missed days
    next_digest: datetime | None = None  # when the next digest falls due, after this run
    stopped: bool = False

    @property
    def outcome(self) -> str:
        """ok, partial (something skipped or not delivered) or stopped."""
        if self.stopped:
            return "stopped"
        results = self.digests + self.finished
        if self.collected.skipped or not all(result.ok for result in results):
            return "partial"
        return "ok"

    def summary(self) -> dict[str, Any]:
        """The counts recorded with the run."""
        results = self.digests + self.finished
        return {
            "items_read": len(self.collected.read),
            "items_new": len(self.collected.saved.new),
            "items_updated": len(self.collected.saved.updated),
            "items_skipped": len(self.collected.skipped),
            "feeds_written": len(self.feeds.written) if self.feeds else 0,
            "digests": [_result_summary(result) for result in self.digests],
            "finished": [_result_summary(result) for result in self.finished],
            "backfilled": [day.isoformat() for day in self.backfilled],
            "dropped": [day.isoformat() for day in self.plan.dropped],
            "sent": sum(r.send.sent for r in results if r.send),
            "failed": sum(r.send.failed for r in results if r.send),
        }


def _result_summary(result: DigestResult) -> dict[str, Any]:
    sent = result.send
    return {
        "day": result.day.isoformat(),
        "days": [day.isoformat() for day in result.days],
        "status": result.status,
        "items": result.items,
        **({"sent": sent.sent, "failed": sent.failed, "deferred": sent.deferred} if sent else {}),
        **({"error": result.error} if result.error else {}),
    }


def new_run_key() -> str:
    """A short random id for a run's log lines and record."""
    return secrets.token_hex(4)


def store_lock(config: Config, store: Store, name: str, label: str) -> FileLock | None:
    """The store's lock ``name``: beside a SQLite file, else in the deployment's var/."""
    return store.lock(name, label, folder=config.path("var"))


@contextmanager
def runner_store(
    config: Config,
    label: str,
    dry_run: bool = False,
    wait: float = 0.0,
    cancelled: Callable[[], bool] = lambda: False,
) -> Iterator[Store]:
    """The store, held against other runners while the block runs (a dry run takes no lock).

    Waits up to ``wait`` seconds for another runner (``Busy`` after that); the lock and the
    store are let go of however the block ends.
    """
    store = open_store(config, dry_run)
    lock = None if dry_run else store_lock(config, store, RUN_LOCK, label)
    try:
        if lock is not None:
            lock.acquire(wait, cancelled=cancelled)
        yield store
    finally:
        if lock is not None:
            lock.release()
        store.close()


def reconcile(
    config: Config,
    *,
    command: str = "run --once",
    day: date | None = None,
    dry_run: bool = False,
    clock: Clock = system_clock,
    stop: Stop | None = None,
    wait: float = 0.0,
    reason: str = "",
) -> ReconcileReport:
    """Do whatever is due now; ``day`` sends that day's digest now unless it is settled.

    Waits up to ``wait`` seconds for another runner of the store (``Busy`` after that). A
    dry run reads and plans everything and writes nothing: not the store, a file or a mail.
    """
    stop = stop or Stop()
    key = new_run_key()
    with runner_store(config, command, dry_run, wait, lambda: stop.requested) as store:
        step = _Step(config, store, clock, stop, RunLog(key), dry_run)
        report = ReconcileReport(key, command, clock(), dry_run)
        step.log.info(
            "run started", command=command, reason=reason or None, dry_run=dry_run or None
        )
        run_id = None if dry_run else store.start_run(command, day, report.now, key)
        try:
            step.run(report, day)
        except BaseException as error:
            why = str(error) or type(error).__name__
            if run_id is not None:
                store.finish_run(run_id, "failed", {"error": why}, clock())
            step.log.error("run failed", error=why)
            raise
        if run_id is not None:
            store.finish_run(run_id, report.outcome, report.summary(), clock())
        step.log.info("run done", outcome=report.outcome, **_counts(report))
        return report


def _counts(report: ReconcileReport) -> dict[str, Any]:
    summary = report.summary()
    return {k: summary[k] for k in ("items_new", "feeds_written", "sent", "failed")}


class _Step:
    """The stages of one reconcile, sharing the store, the clock and the log."""

    def __init__(
        self, config: Config, store: Store, clock: Clock, stop: Stop, log: RunLog, dry_run: bool
    ) -> None:
        self.config, self.store, self.clock, self.stop = config, store, clock, stop
        self.log, self.dry_run = log, dry_run
        self.view: ItemView = store

    def run(self, report: ReconcileReport, day: date | None) -> None:
        report.collected = collect(self.config, self.store, dry_run=self.dry_run, clock=self.clock)
        changed = report.collected.saved.new + report.collected.saved.updated
        if self.dry_run:
            self.view = DryRunView(self.store, changed)
        c = report.collected
        self.log.info("collected", read=len(c.read), new=len(c.saved.new), skipped=len(c.skipped))
        if self._stopping(report):
            return
        report.feeds = publish_feeds(self.config, self.view, self.dry_run, changed=changed)
        self.log.info("feeds published", written=len(report.feeds.written))
        if not self.dry_run:
            report.finished = self._finish(report.now)
        if self._stopping(report):
            return
        report.plan = self._plan(report.now, day)
        report.next_digest = self._next_digest(report)
        for missed in report.plan.backfill:
            if self._web_copy(missed):
                report.backfilled.append(missed)
        if report.plan.dropped and not self.dry_run:
            self.store.digests.record(report.plan.dropped, "dropped", report.now, self.log.key)
            self.log.info("days dropped", days=",".join(map(str, report.plan.dropped)))
        for planned in report.plan.digests:
            if self._stopping(report):
                return
            report.digests.append(self._digest(planned, report.now))
        report.stopped = report.stopped or self.stop.requested

    def _stopping(self, report: ReconcileReport) -> bool:
        if self.stop.requested:
            report.stopped = True
            self.log.info("stopping: no new work taken")
        return report.stopped

    # --- planning ---------------------------------------------------------------------------

    def _plan(self, now: datetime, day: date | None) -> Plan:
        digests = self.store.digests
        if day is not None:  # asked for: due now unless it is settled already
            counts = self.store.ledger.counts(day)
            settled = digests.get(day) is not None or any(counts.values())
            return Plan() if settled else Plan((DigestPlan((day,)),))
        schedule = self.config.schedule
        latest = digests.latest_settled()
        return plan_digests(
            now,
            schedule.digest_time,
            self.config.site.zone,
            [] if latest is None else [latest],
            schedule.catch_up,
            schedule.max_catch_up_days,
        )

    def _next_digest(self, report: ReconcileReport) -> datetime:
        """When the next digest falls due once this run's are settled."""
        latest = self.store.digests.latest_settled()
        days = [d for d in (latest, *(d.day for d in report.plan.digests)) if d is not None]
        schedule, zone = self.config.schedule, self.config.site.zone
        return next_digest(report.now, schedule.digest_time, zone, max(days, default=None))

    def _web_copy(self, day: date) -> bool:
        """Write a missed day's web copy (and the archive page); whether it has items."""
        built = build_day(self.config, self.view, day)
        if built.is_empty:
            return False
        if not self.dry_run:
            write_web_copy(self.config, self.view, built)
        return True

    # --- sending ----------------------------------------------------------------------------

    def _digest(self, planned: DigestPlan, now: datetime) -> DigestResult:
        days, filed = planned.days, planned.day
        parts = build_days(self.config, self.view, days)
        result = DigestResult(filed, days, "sent", sum(len(part.items) for part in parts))
        fields = {"day": filed, "days": len(days), "items": result.items}
        if not result.items and not self.config.digest.send_empty:
            result.status = "empty"
            if not self.dry_run:
                self.store.digests.record(days, "empty", now, self.log.key)
            self.log.info("digest empty: nothing to send", **fields)
            return result
        if self.dry_run:
            result.status = "would send"
            report = DigestReport(filed)
            deliver(self.config, self.store, self._variant(days), report, True, self.clock)
            result.recipients = report.delivered
            return result
        for part in parts if len(days) > 1 else [build_day(self.config, self.view, filed)]:
            write_web_copy(self.config, self.view, part)
        # Recorded before sending: a crash from here on leaves it "sending", and the next run
        # finishes it (``_finish``) instead of planning the day again.
        digests = self.store.digests
        digests.record([filed], "sending", now, self.log.key, first_day=days[0])
        digests.record(days[:-1], "covered", now, self.log.key, filed_under=filed)
        self.log.info("digest planned", **fields)
        return self._send(result)

    def _finish(self, now: datetime) -> list[DigestResult]:
        """Send what earlier digests still owe: cut-short sends and deferred rows now due."""
        owed = {record.day: record.days for record in self.store.digests.unfinished()}
        for day in self.store.ledger.days_due(now):
            if day not in owed:
                record = self.store.digests.get(day)
                owed[day] = record.days if record and record.filed_under == day else (day,)
        results = []
        for day, days in sorted(owed.items()):
            if self.stop.requested:
                break
            self.log.info("finishing an earlier digest", day=day)
            results.append(self._send(DigestResult(day, days, "sent"), plan=False))
        return results

    def _send(self, result: DigestResult, plan: bool = True) -> DigestResult:
        try:
            self.stop.sending = True
            if self.stop.requested:  # asked to stop just before: do not start a send
                raise KeyboardInterrupt
            sent = send_rows(
                self.config,
                self.store,
                result.day,
                self._variant(result.days),
                plan=plan,
                clock=self.clock,
            )
        except KeyboardInterrupt:  # stopped before the send loop began: nothing in flight
            result.status = "sending"
            return result
        except BulletinError as error:  # another sender, a bad template: next run retries
            result.status, result.error = "failed", error.message
            self.log.error("digest not sent", day=result.day, error=error.message)
            return result
        finally:
            self.stop.sending = False
        result.send = sent
        if sent.interrupted or sent.paused:
            result.status = "sending"
        else:
            self.store.digests.mark(result.day, "sent", self.clock())
        self.log.info(
            "digest sent" if result.status == "sent" else "digest cut short",
            day=result.day,
            sent=sent.sent,
            deferred=sent.deferred,
            failed=sent.failed,
            unknown=sent.unknown,
            paused=sent.paused or None,
        )
        return result

    def _variant(self, days: tuple[date, ...]) -> Variant:
        """Renders the digest of ``days`` for a choice of categories, once per choice."""
        cache: dict[frozenset[str] | None, digest.RenderedDigest] = {}

        def variant(categories: frozenset[str] | None) -> digest.RenderedDigest:
            if categories not in cache:
                cache[categories] = render_days(self.config, self.view, days, categories)[1]
            return cache[categories]

        return variant


def serve_lock(config: Config) -> FileLock | None:
    """The lock `bulletin serve` holds while it runs: one service per store."""
    store = open_store(config)
    try:
        lock = store_lock(config, store, SERVE_LOCK, "serve")
    finally:
        store.close()
    if lock is not None:
        lock.busy = "bulletin serve is already running on this store ({holder})"
        lock.hint = "one `bulletin serve` per store: stop the other first (its lock is {path})"
    return lock
