"""APScheduler wiring only: the schedule of config.yaml as triggers that wake the service.

APScheduler (3.11, the stable line) decides *when*, nothing else. Its jobs do no work: they
wake the caller's main thread, which runs the one idempotent step; what is due is
read from the store. So none of its measured pitfalls can lose or double a digest: a run
killed mid-job is never retried by it, ``replace_existing`` silently drops missed runs, two
processes on one job store run every job twice (see docs/research/scheduling.md). Hence the
in-memory job store, a catch-up step at start-up, and the work in the main thread, where a
signal handler can stop it cleanly. This is the only module importing apscheduler: moving
to APScheduler 4 or another engine changes this file alone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

# APScheduler 3.x ships no type information (py.typed): its names are Any to mypy.
from apscheduler.executors.pool import ThreadPoolExecutor  # type: ignore[import-untyped]
from apscheduler.schedulers.background import (  # type: ignore[import-untyped]
    BackgroundScheduler,
)
from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.date import DateTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from bulletin.calendar import collect_anchor
from bulletin.pipeline import Clock, RunContext, system_clock

# Its own INFO lines ("Added job", "Running job") say nothing the service's log does not.
logging.getLogger("apscheduler").setLevel(logging.WARNING)


class Service:
    """Wakes ``work`` at start-up, every ``collect_every_minutes`` and at ``digest_at``; with
    ``poll_seconds``, also that often (reason "poll"), for the senders of a shared store."""

    def __init__(
        self, ctx: RunContext, clock: Clock = system_clock, poll_seconds: float | None = None
    ) -> None:
        schedule, zone = ctx.schedule, ctx.zone
        self.zone = zone
        self.wake = threading.Event()
        self._reasons: set[str] = set()
        self._lock = threading.Lock()
        self.scheduler = BackgroundScheduler(
            timezone=zone,
            # The jobs only set an event: one thread is plenty, and nothing piles up.
            executors={"default": ThreadPoolExecutor(1)},
            # Fire late rather than never (the default grace is one second); missed runs
            # collapse into one, which the step makes harmless either way.
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
        )
        for name, trigger in triggers(
            zone, schedule.collect_every_minutes, schedule.digest_time, clock()
        ).items():
            self.scheduler.add_job(self._fire, trigger, args=[name], id=name, name=name)
        if poll_seconds is not None:
            every = IntervalTrigger(seconds=poll_seconds, timezone=zone)
            self.scheduler.add_job(self._fire, every, args=["poll"], id="poll", name="poll")

    def wake_in(self, seconds: float, reason: str = "retry") -> None:
        """Wake once more, ``seconds`` from now (a wake-up that found the store away)."""
        at = datetime.now(self.zone) + timedelta(seconds=seconds)
        self.scheduler.add_job(
            self._fire, DateTrigger(run_date=at), args=[reason], id=reason, replace_existing=True
        )

    def _fire(self, reason: str) -> None:
        with self._lock:
            self._reasons.add(reason)
        self.wake.set()

    def run(
        self,
        work: Callable[[str], float | None],
        stopping: Callable[[], bool],
        poll: float = 0.2,
    ) -> None:
        """Call ``work("start")``, then ``work(reasons)`` each time a job fires, in this
        thread, until ``stopping()``; it is polled so that a signal handler need only set a
        flag (taking a lock in a handler can deadlock the thread it interrupted). When
        ``work`` returns a number of seconds, it is woken again that much later ("retry")."""
        self.scheduler.start()
        try:
            reasons = {"start"}
            while not stopping():
                if reasons:
                    retry = work("+".join(sorted(reasons)))
                    if retry is not None and not stopping():
                        self.wake_in(retry)
                if not self.wake.wait(poll):
                    reasons = set()
                    continue
                self.wake.clear()
                with self._lock:
                    reasons, self._reasons = self._reasons, set()
        finally:
            self.scheduler.shutdown(wait=False)


def triggers(
    zone: ZoneInfo, every_minutes: int, digest_at: time, now: datetime
) -> dict[str, IntervalTrigger | CronTrigger]:
    """The two triggers: collecting every N minutes counted from local midnight, and the
    digest's daily time in the site's zone.

    On a fall-back day a time that happens twice fires twice and one skipped by
    spring-forward fires after the gap (APScheduler 3.11.3, measured); the step
    sends a day's digest once either way.
    """
    return {
        "collect": IntervalTrigger(
            minutes=every_minutes, start_date=collect_anchor(now, zone), timezone=zone
        ),
        "digest": CronTrigger(
            hour=digest_at.hour, minute=digest_at.minute, second=digest_at.second, timezone=zone
        ),
    }
