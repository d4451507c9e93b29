"""The schedule: APScheduler's triggers agree with the calendar, the service wakes its work, and
config.yaml's schedule section refuses YAML's surprises with a clear message."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bulletin import schedule
from bulletin.calendar import digest_instant, next_collect
from bulletin.config import Config, parse_config
from bulletin.errors import ConfigError
from bulletin.pipeline import RunContext

NEW_YORK = ZoneInfo("America/New_York")
DAMASCUS = ZoneInfo("Asia/Damascus")


def fires(trigger: object, start: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times of an APScheduler trigger after ``start``, in UTC."""
    found: list[datetime] = []
    previous = None
    for _ in range(count):
        moment = trigger.get_next_fire_time(previous, previous or start)  # type: ignore[attr-defined]
        found.append(moment.astimezone(UTC))
        previous = moment
    return found


@pytest.mark.parametrize(
    ("zone", "at", "day"),
    [
        (DAMASCUS, time(18, 0), date(2026, 11, 26)),
        (NEW_YORK, time(2, 30), date(2026, 3, 8)),  # spring-forward: 02:30 does not exist
        (NEW_YORK, time(1, 30), date(2026, 11, 1)),  # fall-back: 01:30 happens twice
        (NEW_YORK, time(7, 0, 30), date(2026, 3, 8)),
    ],
)
def test_the_digest_trigger_first_fires_when_the_calendar_says_the_day_is_due(
    zone: ZoneInfo, at: time, day: date
) -> None:
    start = datetime.combine(day - timedelta(days=1), time(12), tzinfo=zone)
    trigger = schedule.triggers(zone, 30, at, start)["digest"]
    due = digest_instant(day, at, zone).astimezone(UTC)
    assert due in fires(trigger, start, 3)
    # On a fall-back day it fires again an hour later: the step, not the trigger,
    # makes sure the day's digest goes out once (tests/test_step.py).


def test_collecting_times_count_from_local_midnight_like_the_calendar_says() -> None:
    now = datetime(2026, 3, 8, 10, 7, tzinfo=UTC)  # a spring-forward day in New York
    trigger = schedule.triggers(NEW_YORK, 30, time(18), now)["collect"]
    assert fires(trigger, now, 1) == [next_collect(now, NEW_YORK, 30)]
    assert next_collect(now, NEW_YORK, 30) == datetime(2026, 3, 8, 10, 30, tzinfo=UTC)


def test_the_service_runs_its_work_at_start_and_whenever_a_job_fires() -> None:
    config = Config(root=Path.cwd())
    service = schedule.Service(RunContext(config))
    woken: list[str] = []

    def work(reason: str) -> None:
        woken.append(reason)
        if reason == "start":  # as the scheduler's thread would at the digest time
            job = service.scheduler.get_job("digest")
            job.func(*job.args)

    service.run(work, stopping=lambda: len(woken) >= 2, poll=0.01)
    assert woken == ["start", "digest"]
    assert not service.scheduler.running


# --- config ---------------------------------------------------------------------------------


def problems_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "config.yaml", Path("."))
    return caught.value.message


@pytest.mark.parametrize("word", ["no", "off", "No"])
def test_an_unquoted_no_for_catch_up_says_yaml_read_it_as_false(word: str) -> None:
    assert problems_of(f"schedule:\n  catch_up: {word}\n") == (
        "config.yaml:2: schedule.catch_up: YAML reads an unquoted no or off as false: "
        "write one, each or none"
    )


def test_an_unknown_catch_up_policy_lists_the_known_ones() -> None:
    message = problems_of("schedule:\n  catch_up: latest\n")
    assert "expected one of 'one', 'each' or 'none'" in message


def test_an_unquoted_digest_time_with_seconds_is_explained() -> None:
    assert problems_of("schedule:\n  digest_at: 18:00:30\n") == (
        "config.yaml:2: schedule.digest_at: expected text, got 64830 "
        '(YAML reads an unquoted 18:00:30 as a number: write "18:00:30")'
    )


def test_a_quoted_digest_time_may_have_seconds() -> None:
    config = parse_config('schedule: {digest_at: "07:05:09"}', "config.yaml", Path("."))
    assert config.schedule.digest_time == time(7, 5, 9)


@pytest.mark.parametrize(
    ("listen", "address"),
    [("127.0.0.1:8025", ("127.0.0.1", 8025)), ('"[::1]:80"', ("::1", 80))],
)
def test_listen_takes_a_host_and_a_port(listen: str, address: tuple[str, int]) -> None:
    config = parse_config(f"schedule: {{listen: {listen}}}", "config.yaml", Path("."))
    assert config.schedule.listen_address == address


@pytest.mark.parametrize("listen", ["8025", "localhost", "host:99999", ":8025"])
def test_listen_without_a_host_and_a_port_is_refused(listen: str) -> None:
    assert 'expected host:port like "127.0.0.1:8025"' in problems_of(
        f"schedule:\n  listen: {listen}\n"
    )
