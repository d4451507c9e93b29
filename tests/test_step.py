"""The step every run takes (pipeline/step.py), with a moved clock: catch-up after downtime,
DST days, crashes, locks.

Each test runs the real step on a real store in a temporary folder, delivering into the
outbox (or to a real SMTP server where doubles must be counted), and looks at which digests
landed. The clock is moved, never waited for.
"""

from __future__ import annotations

import email
import email.policy
import json
import mailbox
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from builders import Clock, crashed_send, make_deployment, make_item, save_items
from bulletin import pipeline
from bulletin.cli import main
from bulletin.config import Config
from bulletin.model import Item, paragraphs_to_html
from bulletin.store import Busy, ListEntry, Outcome, Store
from smtp_servers import Server

# Every test here runs on SQLite and on PostgreSQL (see conftest.py).
pytestmark = pytest.mark.usefixtures("database")

DAMASCUS = ZoneInfo("Asia/Damascus")
NEW_YORK = ZoneInfo("America/New_York")
READERS = ["ann@example.org", "bob@example.org"]


def site(
    folder: Path,
    zone: str = "Asia/Damascus",
    readers: list[str] = READERS,
    smtp_port: int | None = None,
    **schedule: Any,
) -> Config:
    """A deployment with no sources (items are stored directly) mailing ``readers``."""
    return make_deployment(
        folder,
        zone=zone,
        categories=["Local News"],
        readers=readers,
        smtp_port=smtp_port,
        schedule={"digest_at": "18:00", **schedule},
    )


def story(day: date, title: str, zone: ZoneInfo = DAMASCUS) -> Item:
    """The story ``title`` of ``day``, published at 09:00 in ``zone``; its id names both."""
    item_id = f"{day.isoformat()}-{title.lower().replace(' ', '-')}"
    paragraphs = (f"{title} happened.",)
    return make_item(item_id, day=day, zone=zone, title=title, paragraphs=paragraphs, source=None)


def news_of(day: date) -> str:
    return f"News of {day:%b} {day.day}"


def outbox(config: Config) -> list[email.message.EmailMessage]:
    folder = config.path(config.delivery.outbox)
    if not folder.exists():
        return []
    found = []
    for message in mailbox.Maildir(folder, create=False):
        parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        found.append(parsed)
    return found


def filed_days(config: Config) -> Counter[tuple[str, str]]:
    """(day the digest is filed under, recipient) of each message in the outbox."""
    days: Counter[tuple[str, str]] = Counter()
    for message in outbox(config):
        day = str(message["Message-ID"]).split("digest-", 1)[1][:10]
        days[(day, str(message["To"].addresses[0].addr_spec))] += 1
    return days


def text_of(message: email.message.EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def digest_states(config: Config) -> dict[date, str]:
    with Store.open(config.store_url) as store:
        return {d.day: d.status for d in store.digests.recent(100)}


def step(config: Config, now: datetime, **options: Any) -> pipeline.StepReport:
    return pipeline.run_step(pipeline.RunContext(config), clock=Clock(now), **options)


def evening(day: date, zone: ZoneInfo = DAMASCUS) -> datetime:
    return datetime(day.year, day.month, day.day, 18, 30, tzinfo=zone)


# --- catch-up after downtime ---------------------------------------------------------------


@pytest.mark.parametrize("down_days", [0, 1, 5])
@pytest.mark.parametrize("catch_up", ["one", "each", "none"])
def test_catch_up_after_downtime_sends_what_the_policy_says(
    tmp_path: Path, down_days: int, catch_up: str
) -> None:
    config = site(tmp_path, catch_up=catch_up)
    first = date(2026, 11, 20)
    days = [first + timedelta(days=n) for n in range(down_days + 2)]
    save_items(config, [story(day, news_of(day)) for day in days])
    step(config, evening(first))
    assert set(filed_days(config)) == {(str(first), r) for r in READERS}

    back = days[-1]  # down for down_days digest times, back up after the next one
    report = step(config, evening(back))
    missed, due = days[1:-1], days[1:]
    sent = filed_days(config)
    assert max(sent.values()) == 1
    expected = {"one": [back], "each": due, "none": [back]}[catch_up]
    assert {day for day, _ in sent} == {str(first), *map(str, expected)}
    latest = next(m for m in outbox(config) if f"digest-{back}" in str(m["Message-ID"]))
    shown = [day for day in due if news_of(day) in text_of(latest)]
    assert shown == (due if catch_up == "one" else [back])
    if catch_up == "one" and missed:
        subject = str(latest["Subject"])  # the span of days: "Daily Bugle: Nov 21 – 26, 2026"
        assert "Nov 21" in subject and f"{back.day}, 2026" in subject
    states = digest_states(config)
    missed_state = {"one": "covered", "each": "sent", "none": "dropped"}[catch_up]
    assert [states[day] for day in missed] == [missed_state] * len(missed)
    assert states[back] == "sent"
    web = config.path(config.feeds.dir) / "digests"
    assert all((web / f"{day}.html").exists() for day in due)  # every missed day backfilled
    assert report.outcome == "ok"

    again = step(config, evening(back) + timedelta(hours=2))
    assert again.digests == [] and filed_days(config) == sent


def test_a_catch_up_digest_lists_each_day_under_its_date_oldest_first(tmp_path: Path) -> None:
    config = site(tmp_path)
    days = [date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 26)]  # 25th: no news
    save_items(config, [story(day, news_of(day)) for day in days])
    step(config, evening(date(2026, 11, 22)))
    step(config, evening(date(2026, 11, 26)))
    (message,) = [m for m in outbox(config) if m["To"].addresses[0].username == "ann"]
    text = text_of(message)
    headings = [line for line in text.splitlines() if line.startswith("=== ")]
    assert headings == [
        "=== Monday, November 23, 2026 ===",
        "=== Tuesday, November 24, 2026 ===",
        "=== Thursday, November 26, 2026 ===",
    ]
    html_part = message.get_body(("html",))
    assert html_part is not None
    html = str(html_part.get_content())
    assert html.index('id="day-2026-11-23"') < html.index('id="day-2026-11-26"')
    assert "digests/index.html" in html  # "view in browser": the archive of every day
    assert digest_states(config)[date(2026, 11, 25)] == "covered"


def test_a_catch_up_digest_cut_to_fit_links_each_item_to_its_own_days_page(
    tmp_path: Path,
) -> None:
    config = site(tmp_path)
    days = [date(2026, 11, 23), date(2026, 11, 24)]
    long = ("A long report on the council's work. " * 320,)  # 8 of them: over 90 KB
    save_items(
        config,
        [
            story(day, f"Story {n}").with_updates(
                paragraphs=long, body_html=paragraphs_to_html(long)
            )
            for day in days
            for n in range(4)
        ],
    )
    with Store.open(config.store_url) as store:
        count, rendered = pipeline.Digests(pipeline.RunContext(config), store).render(days)
    assert count == 8 and rendered.shortened  # too long for the email: excerpts
    for day in days:
        assert f"digests/{day}.html#item-{day}-story-0" in rendered.html
    assert rendered.day == days[-1]


def test_a_day_without_items_is_recorded_and_never_due_again(tmp_path: Path) -> None:
    config = site(tmp_path)
    quiet = date(2026, 11, 20)
    report = step(config, evening(quiet))
    assert [d.status for d in report.digests] == ["empty"]
    assert digest_states(config) == {quiet: "empty"}
    save_items(config, [story(quiet, "Late news")])  # collected after the day was settled
    assert step(config, evening(quiet) + timedelta(hours=1)).digests == []
    assert outbox(config) == []


def test_a_new_deployment_does_not_mail_its_history(tmp_path: Path) -> None:
    config = site(tmp_path)
    days = [date(2026, 11, 20) + timedelta(days=n) for n in range(4)]
    save_items(config, [story(day, news_of(day)) for day in days])
    step(config, evening(days[-1]))
    assert set(filed_days(config)) == {(str(days[-1]), r) for r in READERS}


def test_a_dry_run_plans_and_writes_nothing(tmp_path: Path) -> None:
    config = site(tmp_path)
    day = date(2026, 11, 20)
    save_items(config, [story(day, news_of(day))])
    report = step(config, evening(day), dry_run=True)
    (planned,) = report.digests
    assert (planned.status, sorted(planned.recipients)) == ("would send", READERS)
    assert outbox(config) == [] and digest_states(config) == {}
    assert not (config.path(config.feeds.dir)).exists()
    with Store.open(config.store_url) as store:
        assert store.last_runs() == []


def test_a_given_date_is_sent_now_and_once(tmp_path: Path) -> None:
    config = site(tmp_path)
    day = date(2026, 11, 20)
    save_items(config, [story(day, news_of(day))])
    morning = datetime(2026, 11, 20, 9, 0, tzinfo=DAMASCUS)  # long before digest_at
    assert [d.status for d in step(config, morning, day=day).digests] == ["sent"]
    assert step(config, morning, day=day).digests == []
    assert step(config, evening(day)).digests == []  # the schedule knows it went out
    assert len(outbox(config)) == len(READERS)


# --- DST -------------------------------------------------------------------------------------


def sweep(config: Config, start: datetime, hours: float, minutes: int = 15) -> list[datetime]:
    """Run the step every ``minutes`` like the scheduler; when each digest was sent."""
    now = start
    while now <= start + timedelta(hours=hours):
        step(config, now)
        now += timedelta(minutes=minutes)
    with Store.open(config.store_url) as store:
        return sorted(
            {row.sent for day in store.ledger.days() for row in store.ledger.rows(day, ["sent"])}
        )


def test_a_digest_time_skipped_by_spring_forward_sends_once_right_after_the_gap(
    tmp_path: Path,
) -> None:
    # 2026-03-08, New York: clocks jump from 02:00 to 03:00, so 02:30 does not exist.
    config = site(tmp_path, zone="America/New_York", digest_at="02:30")
    day = date(2026, 3, 8)
    save_items(config, [story(day, "Spring", NEW_YORK), story(day.replace(day=7), "Eve", NEW_YORK)])
    start = datetime(2026, 3, 7, 23, 45, tzinfo=NEW_YORK)  # the 7th's digest is due at start
    sends = sweep(config, start, hours=5)
    assert sends == [start.astimezone(UTC), datetime(2026, 3, 8, 7, 30, tzinfo=UTC)]
    assert Counter(day for day, _ in filed_days(config)) == {"2026-03-07": 2, "2026-03-08": 2}


def test_a_digest_time_repeated_by_fall_back_sends_once_the_first_time(tmp_path: Path) -> None:
    # 2026-11-01, New York: clocks go back from 02:00 to 01:00, so 01:30 happens twice.
    config = site(tmp_path, zone="America/New_York", digest_at="01:30")
    day = date(2026, 11, 1)
    save_items(config, [story(day, "Autumn", NEW_YORK)])
    start = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)  # 00:00 EDT
    sends = sweep(config, start, hours=4)
    assert sends == [datetime(2026, 11, 1, 5, 30, tzinfo=UTC)]  # the first 01:30 (EDT)
    assert Counter(d for d, _ in filed_days(config))["2026-11-01"] == len(READERS)


# --- crashes and stops -----------------------------------------------------------------------


def test_start_up_after_a_crash_mid_digest_finishes_it_without_doubles(tmp_path: Path) -> None:
    readers = [f"reader{n}@example.org" for n in range(6)]
    day = date(2026, 11, 20)
    with Server() as server:
        config = site(tmp_path, readers=readers, smtp_port=server.port)
        save_items(config, [story(day, news_of(day))])
        crashed_at = evening(day)
        with Store.open(config.store_url) as store:
            store.recipients.sync_config(list(pipeline.RunContext(config).recipients), crashed_at)
            store.digests.record([day], "sending", crashed_at, "crashed")
            store.ledger.plan(day, crashed_at)
            rows = list(store.ledger.due(day, crashed_at))
            # Two copies went out and were recorded; a third was in flight at the crash.
            sent = [
                Outcome(day, r.address, "sent", "250 ok", "<m>", "smtp", attempt=1)
                for r in rows[:2]
            ]
            crashed_send(store, rows[:3], sent, crashed_at)

        report = step(config, crashed_at + timedelta(minutes=30))
        again = step(config, crashed_at + timedelta(hours=1))

    (finished,) = report.finished
    assert finished.send is not None and finished.send.reaped == 1
    received = server.mailbox.copies()
    assert sorted(received) == sorted(r.address for r in rows[3:])  # only the unsent
    assert max(received.values()) == 1
    with Store.open(config.store_url) as store:
        counts = store.ledger.counts(day)
    assert (counts["sent"], counts["unknown"], counts["pending"]) == (5, 1, 0)
    assert digest_states(config)[day] == "sent"
    assert report.digests == [] and again.finished == [] and again.digests == []


def test_deferred_copies_are_retried_when_due(tmp_path: Path) -> None:
    day = date(2026, 11, 20)
    with Server() as server:
        config = site(
            tmp_path, readers=["busy@example.org", "ann@example.org"], smtp_port=server.port
        )
        save_items(config, [story(day, news_of(day))])
        first = step(config, evening(day))
        assert first.digests[0].send is not None and first.digests[0].send.deferred == 1
        assert step(config, evening(day) + timedelta(seconds=1)).finished == []  # not yet due
        later = step(config, evening(day) + timedelta(hours=1))
    (retry,) = later.finished
    assert retry.day == day and retry.send is not None and retry.send.deferred == 1
    assert server.mailbox.copies() == {"ann@example.org": 1}


def test_a_retry_of_an_old_day_does_not_mail_people_who_subscribed_since(
    tmp_path: Path,
) -> None:
    day = date(2026, 11, 20)
    with Server() as server:
        config = site(
            tmp_path, readers=["busy@example.org", "ann@example.org"], smtp_port=server.port
        )
        save_items(config, [story(day, news_of(day))])
        step(config, evening(day))
        with Store.open(config.store_url) as store:
            store.recipients.merge([ListEntry("late@example.org")], evening(day))
        later = step(config, evening(day) + timedelta(hours=1))
    (retry,) = later.finished
    assert retry.send is not None and retry.send.planned == 0
    assert server.mailbox.copies() == {"ann@example.org": 1}


def test_a_stop_requested_before_a_stage_takes_no_new_work(tmp_path: Path) -> None:
    config = site(tmp_path)
    day = date(2026, 11, 20)
    save_items(config, [story(day, news_of(day))])
    stop = pipeline.Stop()
    stop.request()
    report = step(config, evening(day), stop=stop)
    assert report.stopped and report.digests == [] and report.outcome == "stopped"
    assert outbox(config) == []
    assert [d.status for d in step(config, evening(day)).digests] == ["sent"]


def test_a_stop_interrupts_a_send_at_once_and_other_work_only_when_asked_twice() -> None:
    sending = pipeline.Stop()
    sending.sending = True
    with pytest.raises(KeyboardInterrupt):  # the send loop finishes the message in flight
        sending.request()
    sending.request()  # already stopping: the send loop is finishing its message
    idle = pipeline.Stop()
    idle.request()  # the step stops at the next stage
    assert idle.requested
    with pytest.raises(KeyboardInterrupt):  # asked again: now
        idle.request()


# --- one runner per store --------------------------------------------------------------------


def hold(config: Config, name: str) -> Any:
    with Store.open(config.store_url) as store:
        lock = pipeline.store_lock(pipeline.RunContext(config), store, name, "the test")
    assert lock is not None
    lock.acquire()
    return lock


def test_a_second_runner_waits_then_gives_up_with_a_clear_message(
    tmp_path: Path, runner: CliRunner
) -> None:
    config = site(tmp_path)
    day = date(2026, 11, 20)
    save_items(config, [story(day, news_of(day))])
    lock = hold(config, pipeline.RUN_LOCK)
    try:
        # On PostgreSQL the holder also says its host: "(host-a pid 12 the test)".
        holder = r"\((\S+ )?pid \d+ the test\)"
        with pytest.raises(Busy, match=rf"another bulletin {holder} is working"):
            step(config, evening(day), wait=0.3)
        for command in (["run", "--once"], ["run"]):
            result = runner.invoke(main, [*command, "--wait", "0"])
            assert result.exit_code == 75, result.output
            assert "is working on this store" in result.output
    finally:
        lock.release()
    assert outbox(config) == []
    assert [d.status for d in step(config, evening(day)).digests] == ["sent"]


@pytest.mark.sqlite_only  # on PostgreSQL senders share the day (test_shared_send.py)
def test_a_sender_busy_on_the_store_delays_the_digest_and_never_deadlocks(
    tmp_path: Path,
) -> None:
    config = site(tmp_path)
    day = date(2026, 11, 20)
    save_items(config, [story(day, news_of(day))])
    # What `bulletin send` holds while it sends:
    with Store.open(config.store_url) as store, store.ledger.lock():
        report = step(config, evening(day))
    (digest,) = report.digests
    assert digest.status == "failed" and "another sender" in digest.error
    assert report.outcome == "partial" and outbox(config) == []
    later = step(config, evening(day) + timedelta(minutes=30))
    assert [r.status for r in later.finished] == ["sent"] and later.digests == []
    assert len(outbox(config)) == len(READERS)


def test_bulletin_run_records_its_day_so_the_schedule_does_not_send_it_again(
    tmp_path: Path,
) -> None:
    config = site(tmp_path)
    day = date(2026, 11, 20)
    save_items(config, [story(day, news_of(day))])
    pipeline.run_step(
        pipeline.RunContext(config),
        command="run",
        day=day,
        force=True,
        clock=Clock(datetime(2026, 11, 20, 10, tzinfo=DAMASCUS)),
    )
    assert step(config, evening(day)).digests == []
    assert len(outbox(config)) == len(READERS)


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_run_once_logs_one_line_per_event_with_the_run_id(
    tmp_path: Path, runner: CliRunner, log_format: str
) -> None:
    config = site(tmp_path)
    save_items(config, [story(date(2026, 11, 20), "Bridge reopens")])
    result = runner.invoke(
        main, ["--log-format", log_format, "run", "--once", "--date", "2026-11-20"]
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if "logger=" in line or "{" in line]
    if log_format == "json":
        records = [json.loads(line) for line in lines]
        assert {r["msg"] for r in records} >= {"run started", "digest sent", "run done"}
        assert len({r["run"] for r in records}) == 1
        sent = next(r for r in records if r["msg"] == "digest sent")
        assert (sent["day"], sent["sent"], sent["level"]) == ("2026-11-20", 2, "info")
    else:
        assert any('msg="digest sent"' in line and " sent=2" in line for line in lines)
        assert all(" run=" in line for line in lines)
    key = result.output.split(", run ")[1].split()[0]  # the summary names the run too
    assert key in lines[0]
