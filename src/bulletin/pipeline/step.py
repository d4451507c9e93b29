"""The one idempotent step that brings the store, the feeds and the mail up to date.

``bulletin run`` runs it for one given day; ``bulletin serve`` runs it at start-up, every
``collect_every_minutes`` and at ``digest_at``; ``bulletin run --once`` runs it once, from cron
or a systemd timer. Whatever woke it, it reads what is due from the store, never from the
scheduler: waking twice, late, or after days of downtime gives the same result. In order:

1. collect the sources and publish the feeds (incrementally), and read the bounce mailbox
   when one is configured, so that whom it takes off the list gets no digest today;
2. finish digests whose send was cut short (a stop, a crash) and retry deliveries that are due;
3. plan the digests due now (``calendar.plan_digests``) from the days already settled, or, for
   ``bulletin run``, the day asked for;
4. backfill the web copies of missed days, record dropped days, and send each digest due,
   recording its day first, so that it is planned once; a day without items is recorded
   ``empty`` so it does not stay due.

It works under the store's run lock, so two runners never interleave; the ledger's sender lock
sits inside it and is only ever tried, never waited for. On a store several `bulletin serve`
share (PostgreSQL), only the leader takes the step; the others, at each wake-up, only send
what is due (``send_only``): no lock, no collecting, no files, no planning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bulletin.calendar import DigestPlan, Plan, next_digest, plan_digests
from bulletin.errors import BulletinError, ConfigError
from bulletin.pipeline.bounces import IngestReport, ingest_bounces
from bulletin.pipeline.collect import CollectReport, collect
from bulletin.pipeline.context import Clock, RunContext, system_clock
from bulletin.pipeline.digests import Digests, Variants
from bulletin.pipeline.dry_run import DryRunView, ItemView
from bulletin.pipeline.publish import FeedsReport, publish_feeds
from bulletin.pipeline.runner import RunLog, Stop, runner_store
from bulletin.pipeline.send import SendReport, all_sent, send_rows, would_send
from bulletin.pipeline.websub import Ping, notify_hub
from bulletin.store import Store


@dataclass
class DigestResult:
    """One digest of this run: the days it covers and what became of it."""

    day: date  # filed under: its ledger rows are this day's
    days: tuple[date, ...]
    status: str  # sent, sending (cut short: finished next time), empty, would send, failed
    items: int = 0
    subject: str = ""
    web_copy: Path | None = None
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

    @property
    def complete(self) -> bool:
        """Whether every recipient of its day has it (a retry due later is not enough)."""
        return self.send is None or self.send.ok


@dataclass
class StepReport:
    """Everything one step did."""

    key: str
    command: str
    now: datetime
    dry_run: bool
    day: date | None = None  # the day asked for (`bulletin run`), if one was
    collected: CollectReport = field(default_factory=CollectReport)
    feeds: FeedsReport | None = None
    plan: Plan = field(default_factory=Plan)
    digests: list[DigestResult] = field(default_factory=list)
    finished: list[DigestResult] = field(default_factory=list)  # earlier digests' rows
    backfilled: list[date] = field(default_factory=list)  # web copies of missed days
    next_digest: datetime | None = None  # when the next digest falls due, after this run
    stopped: bool = False
    websub: Ping | None = None  # the hub's ping after a build that changed a feed
    bounces: list[IngestReport] = field(default_factory=list)  # the bounce mailboxes read

    @property
    def outcome(self) -> str:
        """ok, partial (something skipped or not delivered) or stopped."""
        if self.stopped:
            return "stopped"
        results = self.digests + self.finished
        if self.collected.skipped or not all(result.ok for result in results):
            return "partial"
        if self.day is not None and not all(result.complete for result in self.digests):
            return "partial"  # the day asked for is not with everyone yet
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
            "bounce_mail": sum(len(b.handled) for b in self.bounces),
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


def run_step(
    ctx: RunContext,
    *,
    command: str = "run --once",
    day: date | None = None,
    force: bool = False,
    dry_run: bool = False,
    clock: Clock = system_clock,
    stop: Stop | None = None,
    wait: float = 0.0,
    reason: str = "",
    send_only: bool = False,
) -> StepReport:
    """Do whatever is due now; ``day`` sends that day's digest now unless it is settled, and
    with ``force`` (``bulletin run``) sends it to everyone who lacks it even if it is.

    Waits up to ``wait`` seconds for another runner of the store (``Busy`` after that). A dry
    run reads and plans everything and writes nothing: not the store, a file or a mail.
    ``send_only``: only send the copies due now, beside the other senders, without the lock;
    a run is recorded only when there was something to send.
    """
    stop = stop or Stop()
    log = RunLog()
    cancelled = lambda: stop.requested  # noqa: E731
    with runner_store(ctx, command, dry_run, wait, cancelled, locked=not send_only) as store:
        report = StepReport(log.key, command, clock(), dry_run, day if force else None)
        if send_only and not store.ledger.days_due(report.now):
            return report  # nothing to send: no run to record
        log.info("run started", command=command, reason=reason or None, dry_run=dry_run or None)
        run_id = None if dry_run else store.start_run(command, day, report.now, log.key)
        try:
            step = Step(ctx, store, clock, stop, log, dry_run)
            if send_only:
                report.finished = step.finish(report.now, waiting_only=True)
            else:
                step.run(report, day, force)
        except BaseException as error:
            why = str(error) or type(error).__name__
            if run_id is not None:
                store.finish_run(run_id, "failed", {"error": why}, clock())
            log.error("run failed", error=why)
            raise
        if run_id is not None:
            store.finish_run(run_id, report.outcome, report.summary(), clock())
        summary = report.summary()
        counts = {k: summary[k] for k in ("items_new", "feeds_written", "sent", "failed")}
        log.info("run done", outcome=report.outcome, **counts)
        return report


class Step:
    """The stages of one step, sharing the store, the clock and the log."""

    def __init__(
        self,
        ctx: RunContext,
        store: Store,
        clock: Clock,
        stop: Stop,
        log: RunLog,
        dry_run: bool = False,
    ) -> None:
        self.ctx, self.store, self.clock, self.stop = ctx, store, clock, stop
        self.log, self.dry_run = log, dry_run
        self.view: ItemView = store
        self.digests = Digests(ctx, store)

    def run(self, report: StepReport, day: date | None, force: bool) -> None:
        """Do the stages in order, filling in ``report``; stop between them when asked."""
        report.collected = c = collect(self.ctx, self.store, dry_run=self.dry_run, clock=self.clock)
        if self.dry_run:
            self.view = DryRunView(self.store, c.changed)
            self.digests = Digests(self.ctx, self.view)
        self.log.info("collected", read=len(c.read), new=len(c.saved.new), skipped=len(c.skipped))
        if self._stopping(report):
            return
        report.feeds = publish_feeds(self.ctx, self.view, self.dry_run, changed=c.changed)
        self.log.info("feeds published", written=len(report.feeds.written))
        report.websub = notify_hub(self.ctx, report.feeds, self.dry_run)  # in the background
        if not self.dry_run and self.ctx.bounces.configured:
            report.bounces = self._bounces()
        if not (self.dry_run or force):
            report.finished = self.finish(report.now)
        if self._stopping(report):
            return
        report.plan = self._plan(report.now, day, force)
        if not force:
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
            report.digests.append(self.digest(planned, report.now))
        report.stopped = report.stopped or self.stop.requested

    def _stopping(self, report: StepReport) -> bool:
        if self.stop.requested:
            report.stopped = True
            self.log.info("stopping: no new work taken")
        return report.stopped

    def _bounces(self) -> list[IngestReport]:
        """Read the bounce mailboxes; trouble with them is logged and left to the next step."""
        try:
            reports = ingest_bounces(self.ctx, clock=self.clock, store=self.store)
        except BulletinError as error:
            self.log.error("bounce mailbox not read", error=error.message)
            return []
        for found in reports:
            counts = dict(found.counts())
            self.log.info("bounce mail read", source=found.source, **counts)
            for left in found.left:
                self.log.warning("bounce mail not understood", mail=left.name, why=left.why)
        return reports

    # --- planning ---------------------------------------------------------------------------

    def _plan(self, now: datetime, day: date | None, force: bool) -> Plan:
        digests = self.store.digests
        if day is not None:  # asked for: due now unless it is settled already (and not forced)
            counts = self.store.ledger.counts(day)
            settled = digests.get(day) is not None or any(counts.values())
            return Plan() if settled and not force else Plan((DigestPlan((day,)),))
        schedule = self.ctx.schedule
        latest = digests.latest_settled()
        return plan_digests(
            now,
            schedule.digest_time,
            self.ctx.zone,
            [] if latest is None else [latest],
            schedule.catch_up,
            schedule.max_catch_up_days,
        )

    def _next_digest(self, report: StepReport) -> datetime:
        """When the next digest falls due once this run's are settled."""
        latest = self.store.digests.latest_settled()
        days = [d for d in (latest, *(d.day for d in report.plan.digests)) if d is not None]
        at = self.ctx.schedule.digest_time
        return next_digest(report.now, at, self.ctx.zone, max(days, default=None))

    def _web_copy(self, day: date) -> bool:
        """Write a missed day's web copy (and the archive page); whether it has items."""
        built = self.digests.day(day)
        if built.is_empty:
            return False
        if not self.dry_run:
            self.digests.write_web_copy(built)
        return True

    # --- sending ----------------------------------------------------------------------------

    def digest(self, planned: DigestPlan, now: datetime) -> DigestResult:
        """Render, copy to the web and send one planned digest; a day without items is recorded."""
        days, filed = planned.days, planned.day
        parts = self.digests.days(days) if len(days) > 1 else [self.digests.day(filed)]
        result = DigestResult(filed, days, "sent", sum(len(part.items) for part in parts))
        fields = {"day": filed, "days": len(days), "items": result.items}
        if not result.items and not self.ctx.digest.send_empty:
            result.status = "empty"
            if not self.dry_run and self.store.digests.get(filed) is None:
                self.store.digests.record(days, "empty", now, self.log.key)
            self.log.info("digest empty: nothing to send", **fields)
            return result
        variants = self.digests.variants(days)
        result.subject, result.web_copy = variants(None).subject, self.ctx.web_copy(filed)
        if self.dry_run:
            result.status = "would send"
            result.recipients = would_send(self.ctx, self.store, filed)
            return result
        for part in parts:
            self.digests.write_web_copy(part)
        # Recorded before sending: a crash from here on leaves it "sending", and the next run
        # finishes it (``finish``) instead of planning the day again.
        self.store.digests.record([filed], "sending", now, self.log.key, first_day=days[0])
        self.store.digests.record(days[:-1], "covered", now, self.log.key, filed_under=filed)
        self.log.info("digest planned", **fields)
        return self._send(result, variants)

    def finish(self, now: datetime, waiting_only: bool = False) -> list[DigestResult]:
        """Send what earlier digests still owe: cut-short sends and deferred rows now due;
        ``waiting_only``: only days with rows to send now (not those others are finishing)."""
        unfinished = [] if waiting_only else self.store.digests.unfinished()
        owed = {record.day: record.days for record in unfinished}
        for day in self.store.ledger.days_due(now):
            if day not in owed:
                record = self.store.digests.get(day)
                owed[day] = record.days if record and record.filed_under == day else (day,)
        results = []
        for day, days in sorted(owed.items()):
            if self.stop.requested:
                break
            self.log.info("finishing an earlier digest", day=day)
            result = DigestResult(day, days, "sent")
            results.append(self._send(result, self.digests.variants(days), plan=False))
        return results

    def _send(self, result: DigestResult, variants: Variants, plan: bool = True) -> DigestResult:
        try:
            self.stop.sending = True
            if self.stop.requested:  # asked to stop just before: do not start a send
                raise KeyboardInterrupt
            sent = send_rows(
                self.ctx, self.store, result.day, variants, plan=plan, clock=self.clock
            )
        except KeyboardInterrupt:  # stopped before the send loop began: nothing in flight
            result.status = "sending"
            return result
        except ConfigError:  # the environment lacks a secret: no day could go out, so say so
            raise
        except BulletinError as error:  # another sender, a bad template: next run retries
            result.status, result.error = "failed", error.message
            self.log.error("digest not sent", day=result.day, error=error.message)
            return result
        finally:
            self.stop.sending = False
        result.send = sent
        if sent.interrupted or sent.paused:
            result.status = "sending"
        elif not (sent.counts.get("pending") or sent.elsewhere):
            # Unless other senders of a shared store still hold rows: the last one marks it.
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


__all__ = ["DigestResult", "Step", "StepReport", "all_sent", "run_step"]
