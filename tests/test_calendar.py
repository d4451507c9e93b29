"""The calendar (bulletin/calendar.py): which digests are due at an instant, catch-up after
downtime and DST days, and when the service wakes; with a moved clock, no sleeping."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bulletin.calendar import (
    DigestPlan,
    digest_instant,
    next_collect,
    next_digest,
    plan_digests,
)

DAMASCUS = ZoneInfo("Asia/Damascus")
NEW_YORK = ZoneInfo("America/New_York")
SIX_PM = time(18, 0)


def at(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)


def sweep(
    start: datetime,
    end: datetime,
    at_time: time,
    zone: ZoneInfo,
    step_minutes: int = 5,
    catch_up: str = "one",
) -> list[DigestPlan]:
    """Wake up every few minutes like the scheduler would, sending whatever is due."""
    sent: list[date] = []
    sends: list[DigestPlan] = []
    now = start
    while now <= end:
        plan = plan_digests(now, at_time, zone, sent, catch_up)  # type: ignore[arg-type]
        for digest in plan.digests:
            sends.append(digest)
            sent.append(digest.day)
        now += timedelta(minutes=step_minutes)
    return sends


def test_on_the_first_day_before_the_digest_time_yesterdays_digest_is_due() -> None:
    plan = plan_digests(at(DAMASCUS, 2026, 11, 26, 17, 59), SIX_PM, DAMASCUS, [])
    assert plan.digests == (DigestPlan((date(2026, 11, 25),)),)


def test_a_new_deployment_sends_only_the_latest_day_not_its_history() -> None:
    plan = plan_digests(at(DAMASCUS, 2026, 11, 26, 18, 0), SIX_PM, DAMASCUS, [])
    assert plan.digests == (DigestPlan((date(2026, 11, 26),)),)
    assert plan.backfill == ()


def test_a_sent_day_is_never_due_again() -> None:
    now = at(DAMASCUS, 2026, 11, 26, 23, 0)
    assert plan_digests(now, SIX_PM, DAMASCUS, [date(2026, 11, 26)]).digests == ()


@pytest.mark.parametrize("down_days", [0, 1, 5])
@pytest.mark.parametrize("catch_up", ["one", "each", "none"])
def test_catch_up_after_downtime_plans_what_the_policy_says(down_days: int, catch_up: str) -> None:
    last_sent = date(2026, 11, 20)
    now = at(DAMASCUS, 2026, 11, 21 + down_days, 18, 30)
    plan = plan_digests(now, SIX_PM, DAMASCUS, [last_sent], catch_up)  # type: ignore[arg-type]
    due = [date(2026, 11, 21) + timedelta(days=n) for n in range(down_days + 1)]
    missed = tuple(due[:-1])
    if catch_up == "one":
        assert plan.digests == (DigestPlan(tuple(due)),)
    elif catch_up == "each":
        assert plan.digests == tuple(DigestPlan((day,)) for day in due)
    else:
        assert plan.digests == (DigestPlan((due[-1],)),)
        assert plan.dropped == missed
    assert plan.backfill == missed


def test_catch_up_looks_back_at_most_max_days() -> None:
    now = at(DAMASCUS, 2026, 11, 30, 18, 30)
    plan = plan_digests(now, SIX_PM, DAMASCUS, [date(2026, 11, 1)], "one", max_days=3)
    assert plan.digests == (
        DigestPlan((date(2026, 11, 28), date(2026, 11, 29), date(2026, 11, 30))),
    )


def test_days_beyond_the_look_back_are_backfilled_and_dropped_not_sent() -> None:
    now = at(DAMASCUS, 2026, 11, 30, 18, 30)
    plan = plan_digests(now, SIX_PM, DAMASCUS, [date(2026, 11, 24)], "one", max_days=3)
    beyond = (date(2026, 11, 25), date(2026, 11, 26), date(2026, 11, 27))
    assert plan.dropped == beyond
    assert plan.backfill == (*beyond, date(2026, 11, 28), date(2026, 11, 29))


def test_the_catch_up_digest_is_filed_under_its_last_day_so_it_is_sent_once() -> None:
    sends = sweep(
        at(DAMASCUS, 2026, 11, 24, 12, 0), at(DAMASCUS, 2026, 11, 24, 23, 0), SIX_PM, DAMASCUS
    )
    assert [s.day for s in sends] == [date(2026, 11, 23), date(2026, 11, 24)]


def test_a_daily_time_skipped_by_spring_forward_runs_once_after_the_gap() -> None:
    # 2026-03-08: New York clocks jump from 02:00 to 03:00; 02:30 does not exist that day.
    instant = digest_instant(date(2026, 3, 8), time(2, 30), NEW_YORK)
    assert instant.astimezone(UTC) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    sends = sweep(
        at(NEW_YORK, 2026, 3, 7, 3, 0), at(NEW_YORK, 2026, 3, 9, 3, 0), time(2, 30), NEW_YORK
    )
    assert [s.day for s in sends] == [date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9)]


def test_a_daily_time_repeated_by_fall_back_runs_once_the_first_time() -> None:
    # 2026-11-01: New York clocks go back from 02:00 to 01:00; 01:30 happens twice.
    instant = digest_instant(date(2026, 11, 1), time(1, 30), NEW_YORK)
    assert instant.astimezone(UTC) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    start = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)  # 00:00 EDT
    sends = sweep(start, start + timedelta(hours=5), time(1, 30), NEW_YORK)
    assert [s.day for s in sends] == [date(2026, 10, 31), date(2026, 11, 1)]


def test_the_next_digest_is_today_before_its_time_and_tomorrow_once_settled() -> None:
    morning = at(DAMASCUS, 2026, 11, 26, 9, 0)
    today, tomorrow = date(2026, 11, 26), date(2026, 11, 27)
    assert next_digest(morning, SIX_PM, DAMASCUS, None) == at(DAMASCUS, 2026, 11, 26, 18, 0)
    assert next_digest(morning, SIX_PM, DAMASCUS, today) == at(DAMASCUS, 2026, 11, 27, 18, 0)
    night = at(DAMASCUS, 2026, 11, 26, 23, 0)
    assert next_digest(night, SIX_PM, DAMASCUS, today).date() == tomorrow


def test_collecting_times_keep_their_step_across_a_dst_change() -> None:
    # 2026-11-01, New York: 01:00-02:00 happens twice; every 30 minutes of elapsed time.
    start = datetime(2026, 11, 1, 5, 10, tzinfo=UTC)  # 01:10 EDT
    first = next_collect(start, NEW_YORK, 30)
    second = next_collect(first, NEW_YORK, 30)
    assert (first, second - first) == (
        datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
        timedelta(minutes=30),
    )
