"""How the service is doing, read from the store: for `bulletin status`, /health and /metrics;
and what became of one day's deliveries (`bulletin status --date`).

Three states, each with an exit code a health check can use: ``ok`` (0); ``attention`` (1):
the last run was partial or failed, or some copies of the latest digest failed, are unknown
or wait for a retry; ``stale`` (3): a digest is overdue, or `bulletin serve` runs but has not
run its step for too long. Overdue means due for longer than two collecting intervals and
still not planned, whatever runs bulletin (serve, or cron and `bulletin run --once`). On a
shared PostgreSQL store it also shows the leader (who holds the leader lock) and every
registered sender, with its heartbeat and rows in flight; a silent one needs a look.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from bulletin.calendar import digest_instant, next_collect, next_digest, plan_digests
from bulletin.metrics import Metric
from bulletin.model import Delivery
from bulletin.pipeline.bounces import Feedback, feedback
from bulletin.pipeline.context import Clock, RunContext, system_clock
from bulletin.pipeline.runner import LEADER_LOCK, RUN_LOCK, SERVE_LOCK, store_lock
from bulletin.pipeline.send import all_sent
from bulletin.store import DigestDay, RunRecord, SenderInfo, Store

EXIT_CODES = {"ok": 0, "attention": 1, "stale": 3}


@dataclass
class ServiceStatus:
    """The service as the store shows it at ``now``."""

    now: datetime
    serve: str | None = None  # who holds the serve lock ("pid 12 serve"): serve is running
    working: str | None = None  # who holds the run lock: a run is working now
    shared: bool = False  # a PostgreSQL store several `bulletin serve` may share
    leader: str | None = None  # who leads them ("host-a pid 12 serve"), on a shared store
    senders: list[SenderInfo] = field(default_factory=list)  # registered now, oldest first
    runs: list[RunRecord] = field(default_factory=list)  # the newest first
    last_success: RunRecord | None = None
    digests: list[DigestDay] = field(default_factory=list)  # the newest days first
    ledger_day: date | None = None  # the newest day with deliveries
    ledger: dict[str, int] = field(default_factory=dict)  # that day's rows by state
    totals: dict[str, int] = field(default_factory=dict)  # every day's rows by state
    next_collect: datetime | None = None
    next_digest: datetime | None = None
    overdue: list[date] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    feedback: Feedback = field(default_factory=Feedback)  # bounces, complaints, suppressions

    @property
    def state(self) -> str:
        """ok, attention or stale."""
        return "stale" if self.stale else "attention" if self.problems else "ok"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.state]

    def as_dict(self) -> dict[str, Any]:
        """For /health and `bulletin status --json`."""
        last = self.runs[0] if self.runs else None
        return {
            "state": self.state,
            "stale": self.stale,
            "problems": self.problems,
            "now": self.now.isoformat(),
            "serve": self.serve,
            "working": self.working,
            "leader": self.leader,
            "senders": [_sender_dict(sender) for sender in self.senders],
            "last_run": _run_dict(last),
            "last_success": _run_dict(self.last_success),
            "next_collect": _iso(self.next_collect),
            "next_digest": _iso(self.next_digest),
            "overdue": [day.isoformat() for day in self.overdue],
            "digests": [
                {"day": d.day.isoformat(), "status": d.status, "filed_under": str(d.filed_under)}
                for d in self.digests
            ],
            "ledger_day": _iso(self.ledger_day),
            "ledger": self.ledger,
            "feedback": self.feedback.as_dict(),
        }


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _sender_dict(sender: SenderInfo) -> dict[str, Any]:
    return {
        "host": sender.host,
        "pid": sender.pid,
        "command": sender.command,
        "started": sender.started.isoformat(),
        "heartbeat": sender.heartbeat.isoformat(),
        "seconds_since_heartbeat": round(sender.age, 1),
        "in_flight": sender.in_flight,
        "stale": sender.stale,
    }


def _run_dict(run: RunRecord | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "id": run.id,
        "key": run.key,
        "command": run.command,
        "started": run.started.isoformat(),
        "finished": _iso(run.finished),
        "outcome": run.outcome,
    }


def service_status(ctx: RunContext, clock: Clock = system_clock, runs: int = 5) -> ServiceStatus:
    """The service's state now, from the store and the config's schedule."""
    with ctx.open_store() as store:
        return _status(ctx, store, clock(), runs)


def _status(ctx: RunContext, store: Store, now: datetime, runs: int) -> ServiceStatus:
    schedule, zone = ctx.schedule, ctx.zone
    status = ServiceStatus(now)
    for name, attribute in ((SERVE_LOCK, "serve"), (RUN_LOCK, "working")):
        lock = store_lock(ctx, store, name, "")
        setattr(status, attribute, lock.holder() if lock else None)
    if store.shared:
        _shared_status(ctx, store, status)
    status.runs = store.last_runs(runs)
    successes = store.last_runs(1, outcome="ok")
    status.last_success = successes[0] if successes else None
    status.digests = store.digests.recent(7)
    status.ledger_day = store.ledger.latest_day()
    if status.ledger_day is not None:
        status.ledger = store.ledger.counts(status.ledger_day)
    status.totals = store.ledger.totals()
    settled = store.digests.latest_settled()
    at = schedule.digest_time
    status.next_collect = next_collect(now, zone, schedule.collect_every_minutes)
    status.next_digest = next_digest(now, at, zone, settled)
    grace = timedelta(minutes=2 * schedule.collect_every_minutes)
    plan = plan_digests(now, at, zone, [] if settled is None else [settled], "each", 366)
    status.overdue = [d.day for d in plan.digests if digest_instant(d.day, at, zone) + grace < now]
    if status.overdue and settled is not None:
        late = ", ".join(str(day) for day in status.overdue)
        status.stale.append(f"digest overdue: {late} (due at {schedule.digest_at})")
    last = status.runs[0] if status.runs else None
    quiet = last is None or last.started + grace + timedelta(minutes=5) < now
    if status.serve and not status.working and quiet:
        status.stale.append("bulletin serve is running but has not run its step for too long")
    if last is not None and last.outcome in ("failed", "partial"):
        status.problems.append(f"the last run (#{last.id}, {last.command}) was {last.outcome}")
    trouble = {s: status.ledger.get(s, 0) for s in ("failed", "unknown", "deferred")}
    if any(trouble.values()):
        counts = ", ".join(f"{n} {s}" for s, n in trouble.items() if n)
        status.problems.append(f"digest of {status.ledger_day}: {counts}")
    status.feedback = feedback(store)
    status.problems.extend(status.feedback.problems())
    unfinished = [d.day for d in store.digests.unfinished()]
    if unfinished and not status.working:  # a run sending it now is not a problem
        status.problems.append(f"digest not finished: {', '.join(map(str, unfinished))}")
    return status


def _shared_status(ctx: RunContext, store: Store, status: ServiceStatus) -> None:
    """The leader and the senders of a shared store; a silent sender needs a look."""
    status.shared = True
    leader = store_lock(ctx, store, LEADER_LOCK, "")
    status.leader = status.serve = leader.holder() if leader else None
    status.senders = store.ledger.senders(ctx.leader_timeout)
    for sender in status.senders:
        if sender.stale:
            status.problems.append(
                f"sender {sender.host} pid {sender.pid} silent for {sender.age:.0f} s: the next "
                f"to look takes it for dead, and its {sender.in_flight} in flight become unknown"
            )


class Monitor:
    """The service's health and metrics for the web server's /health and /metrics."""

    def __init__(self, ctx: RunContext, clock: Clock = system_clock) -> None:
        self.ctx, self.clock = ctx, clock

    def health(self) -> tuple[bool, dict[str, object]]:
        """Healthy unless stale; the details as JSON-ready values."""
        status = service_status(self.ctx, self.clock, runs=1)
        return status.state != "stale", status.as_dict()

    def metrics(self) -> Sequence[Metric]:
        """Counts from the store's run records and ledger."""
        with self.ctx.open_store() as store:
            status = _status(self.ctx, store, self.clock(), 1)
            totals = store.run_totals()
            items = store.count_items()
            last_sent = store.digests.last_sent()
            events = store.events.totals()
        runs = tuple(
            (((("outcome", key.removeprefix("runs_")),), float(n)))
            for key, n in sorted(totals.items())
            if key.startswith("runs_")
        )
        success = status.last_success
        values = {
            "bulletin_items_stored": items,
            "bulletin_items_collected_total": totals["items_new"],
            "bulletin_feeds_written_total": totals["feeds_written"],
            "bulletin_messages_sent_total": status.totals.get("sent", 0),
            "bulletin_messages_failed_total": status.totals.get("failed", 0),
            "bulletin_last_success_timestamp_seconds": (
                success.finished.timestamp() if success and success.finished else 0
            ),
            "bulletin_digest_last_sent_timestamp_seconds": (
                last_sent.changed.timestamp() if last_sent else 0
            ),
            "bulletin_healthy": 0 if status.state == "stale" else 1,
        }
        deliveries = tuple(((("status", s),), float(n)) for s, n in status.totals.items())
        found = status.feedback
        values["bulletin_complaints_total"] = events["complained"]
        values["bulletin_bounce_rate"] = found.bounce_rate
        values["bulletin_complaint_rate"] = found.complaint_rate
        bounces = tuple(
            ((("kind", kind),), float(events[name]))
            for kind, name in (("hard", "bounced"), ("soft", "soft_bounce"))
        )
        held = tuple(((("reason", r),), float(n)) for r, n in found.suppressed.items())
        labelled = {
            "bulletin_deliveries": deliveries,
            "bulletin_runs_total": runs,
            "bulletin_bounces_total": bounces,
            "bulletin_suppressed": held,
        }
        return [
            Metric(name, kind, help_text, labelled[name])
            if name in labelled
            else Metric(name, kind, help_text, (((), float(values[name])),))
            for name, kind, help_text in _METRICS
        ]


# Every metric /metrics shows, in its order: name, kind and help line.
_METRICS = (
    ("bulletin_items_stored", "gauge", "Items in the store."),
    ("bulletin_items_collected_total", "counter", "New items stored by runs."),
    ("bulletin_feeds_written_total", "counter", "Feed files written by runs."),
    ("bulletin_messages_sent_total", "counter", "Digest copies the server accepted."),
    ("bulletin_messages_failed_total", "counter", "Digest copies refused for good."),
    ("bulletin_deliveries", "gauge", "Ledger rows of every day by state."),
    ("bulletin_runs_total", "counter", "Runs by outcome."),
    ("bulletin_bounces_total", "counter", "Bounces counted, permanent (hard) or temporary (soft)."),
    ("bulletin_complaints_total", "counter", "Abuse reports (RFC 5965) counted."),
    ("bulletin_suppressed", "gauge", "Addresses on the suppression list, by reason."),
    ("bulletin_bounce_rate", "gauge", "Permanent bounces per copy attempted, over the last sends."),
    ("bulletin_complaint_rate", "gauge", "Abuse reports per copy attempted, over the last sends."),
    (
        "bulletin_last_success_timestamp_seconds",
        "gauge",
        "When the last run that went well ended (0: never).",
    ),
    (
        "bulletin_digest_last_sent_timestamp_seconds",
        "gauge",
        "When the last digest sent was finished (0: never).",
    ),
    (
        "bulletin_healthy",
        "gauge",
        "1 unless stale (a digest overdue, or serve not running its step).",
    ),
)


# --- one day's deliveries -------------------------------------------------------------------


@dataclass
class DayStatus:
    """The ledger of one day: counts by state and the rows that need a look."""

    day: date | None
    counts: dict[str, int] = field(default_factory=dict)
    trouble: list[Delivery] = field(default_factory=list)  # failed, unknown and deferred

    @property
    def ok(self) -> bool:
        """Whether every row is sent."""
        return all_sent(self.counts)

    def as_dict(self) -> dict[str, Any]:
        """For `bulletin status --date D --json`."""
        return {
            "day": _iso(self.day),
            "ok": self.ok,
            "counts": self.counts,
            "trouble": [
                {
                    "address": row.address,
                    "status": row.status,
                    "attempts": row.attempts,
                    "next_attempt": _iso(row.next_attempt),
                    "reply": row.reply,
                }
                for row in self.trouble
            ],
        }


def day_status(ctx: RunContext, day: date | None = None, limit: int = 200) -> DayStatus:
    """The ledger of ``day`` (default: the latest day sent)."""
    with ctx.open_store() as store:
        if day is None:
            days = store.ledger.days()
            if not days:
                return DayStatus(None)
            day = days[-1]
        status = DayStatus(day, store.ledger.counts(day))
        for row in store.ledger.rows(day, ["failed", "unknown", "deferred"]):
            if len(status.trouble) >= limit:
                break
            status.trouble.append(row)
        return status
