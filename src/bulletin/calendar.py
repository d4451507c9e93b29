"""Which days' digests are due at a given instant: a pure function of the clock and the ledger.

The scheduler only wakes bulletin up; this module decides what is due, from the digest time in
the newsroom's zone and the days whose digest has already gone out. Waking twice, late, or after
days of downtime gives the same answer, so a day is never sent twice nor silently lost.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

CatchUp = Literal["one", "each", "none"]
# How far back missed days get their web copies after a long downtime.
BACKFILL_DAYS = 366


@dataclass(frozen=True)
class DigestPlan:
    """One digest to send: the days it covers, oldest first; it is filed under the last one."""

    days: tuple[date, ...]

    @property
    def day(self) -> date:
        """The day the digest is filed under: the newest it covers."""
        return self.days[-1]


@dataclass(frozen=True)
class Plan:
    """What is due now: digests to send and missed days that are only backfilled or dropped."""

    digests: tuple[DigestPlan, ...] = ()
    backfill: tuple[date, ...] = ()
    dropped: tuple[date, ...] = ()


def digest_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The instant ``day``'s digest is due: ``at`` local time, exactly once across DST changes.

    A local time that does not exist (skipped by a spring-forward change) falls on the first
    instant after the gap; one that happens twice (fall-back) is taken the first time (fold=0).
    """
    local = datetime.combine(day, at, tzinfo=zone).replace(fold=0)
    # Round-tripping through UTC moves a time inside a gap to after the gap.
    return local.astimezone(ZoneInfo("UTC")).astimezone(zone)


def due_days(
    now: datetime, at: time, zone: ZoneInfo, last_sent: date | None, max_days: int
) -> list[date]:
    """The days whose digest time has passed and that come after ``last_sent``, oldest first.

    With nothing ever sent, only the latest due day counts: a new deployment does not mail
    its history. At most ``max_days`` days are looked back on.
    """
    today = now.astimezone(zone).date()
    latest = today if digest_instant(today, at, zone) <= now else today - timedelta(days=1)
    if last_sent is None:
        return [latest]
    first = max(last_sent + timedelta(days=1), latest - timedelta(days=max_days - 1))
    count = (latest - first).days + 1
    return [first + timedelta(days=n) for n in range(max(count, 0))]


def plan_digests(
    now: datetime,
    at: time,
    zone: ZoneInfo,
    sent: Iterable[date],
    catch_up: CatchUp = "one",
    max_days: int = 7,
) -> Plan:
    """The digests due at ``now`` given the days already sent, per the catch-up policy.

    ``one``: a single digest covering every missed day and the latest; ``each``: one digest
    per day; ``none``: only the latest day, the missed ones dropped. Missed days always get
    their feeds and web copies backfilled, also those beyond ``max_days`` (up to a year),
    which no digest covers: they are dropped.
    """
    last_sent = max(sent, default=None)
    days = due_days(now, at, zone, last_sent, max_days)
    if not days:
        return Plan()
    beyond: tuple[date, ...] = ()
    if last_sent is not None:
        first = max(last_sent + timedelta(days=1), days[0] - timedelta(days=BACKFILL_DAYS))
        beyond = tuple(first + timedelta(days=n) for n in range((days[0] - first).days))
    missed = tuple(days[:-1])
    if catch_up == "each":
        digests = tuple(DigestPlan((day,)) for day in days)
        return Plan(digests, backfill=beyond + missed, dropped=beyond)
    if catch_up == "none":
        latest = (DigestPlan((days[-1],)),)
        return Plan(latest, backfill=beyond + missed, dropped=beyond + missed)
    return Plan((DigestPlan(tuple(days)),), backfill=beyond + missed, dropped=beyond)


def next_digest(now: datetime, at: time, zone: ZoneInfo, settled: date | None) -> datetime:
    """When (in UTC) the next digest not yet settled falls due after ``now``; a missed one is
    due now, and ``plan_digests`` says which."""
    day = now.astimezone(zone).date()
    if settled is not None and settled >= day:
        day = settled + timedelta(days=1)
    while digest_instant(day, at, zone) <= now:
        day += timedelta(days=1)
    return digest_instant(day, at, zone).astimezone(ZoneInfo("UTC"))


def collect_anchor(now: datetime, zone: ZoneInfo) -> datetime:
    """Local midnight of ``now``'s day: collecting every N minutes counts from it, so the
    times are the same whenever the service started (00:00, 00:30, ... for 30)."""
    local = now.astimezone(zone)
    midnight = datetime.combine(local.date(), time(0), tzinfo=zone)
    return midnight.astimezone(ZoneInfo("UTC")).astimezone(zone)  # a midnight in a DST gap


def next_collect(now: datetime, zone: ZoneInfo, every_minutes: int) -> datetime:
    """The first collecting time after ``now``, counted from local midnight in elapsed time;
    in UTC, where subtracting two of them gives the time between."""
    utc = ZoneInfo("UTC")
    # In UTC, so that adding and subtracting count elapsed time, not wall-clock time.
    anchor, now = collect_anchor(now, zone).astimezone(utc), now.astimezone(utc)
    step = timedelta(minutes=every_minutes)
    steps = (now - anchor) // step + 1
    return anchor + steps * step
