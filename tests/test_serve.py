"""`bulletin serve` for real: a subprocess on a real schedule against a real SMTP server.

It sends the day's digest at its time, refuses a second instance on the same store, stops
cleanly on SIGTERM (the message in flight is finished and recorded, exit 0), and after a
SIGKILL the next start finishes the day without sending anyone a second copy.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from builders import make_deployment, make_item, save_items, served, start_bulletin
from bulletin import pipeline, web
from bulletin.cli import main
from bulletin.config import Config
from bulletin.store import Store
from smtp_servers import Server, free_port


def noon_zone() -> ZoneInfo:
    """A fixed-offset zone where it is about noon now, so that "today" does not end while a
    test waits for a time a few seconds ahead."""
    offset = 12 - datetime.now(UTC).hour
    offset = offset - 24 if offset > 14 else offset + 24 if offset < -12 else offset
    # POSIX-style names: Etc/GMT-3 is three hours *ahead* of UTC.
    return ZoneInfo("Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}")


def todays_site(
    folder: Path, port: int, zone: ZoneInfo, readers: list[str], **schedule: Any
) -> Config:
    """A deployment in ``zone`` with three stories today, mailing ``readers`` over one SMTP
    connection to ``port``."""
    config = make_deployment(
        folder,
        zone=zone.key,
        categories=["Local News"],
        readers=readers,
        smtp_port=port,
        delivery={"smtp": {"connections": 1}},
        schedule=schedule,
    )
    today = datetime.now(zone).date()
    stories = [
        make_item(
            f"{today}-story-{n}",
            9,
            minute=n,
            day=today,
            zone=zone,
            title=f"Story {n}",
            paragraphs=(f"Story {n} of the day.",),
            source=None,
        )
        for n in range(3)
    ]
    save_items(config, stories, datetime.now(UTC))
    return config


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""


def ledger(config: Config) -> dict[str, int]:
    with Store.open(config.store_url) as store:
        day = store.ledger.latest_day()
        return store.ledger.counts(day) if day else {}


def stop(process: subprocess.Popen[str], timeout: float = 15) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    _, err = process.communicate(timeout=timeout)
    assert time.monotonic() - started < timeout
    return process.returncode, err


@pytest.mark.slow
def test_serve_sends_the_digest_at_its_time_once_and_stops_cleanly(tmp_path: Path) -> None:
    zone = noon_zone()
    readers = ["ann@example.org", "bob@example.org", "cy@example.org"]
    due = (datetime.now(zone) + timedelta(seconds=8)).replace(microsecond=0)
    listen = f"127.0.0.1:{free_port()}"
    with Server() as server:
        config = todays_site(
            tmp_path, server.port, zone, readers, digest_at=f"{due:%H:%M:%S}", listen=listen
        )
        arrived: list[datetime] = []
        server.mailbox.on_message = lambda _: arrived.append(datetime.now(UTC))
        serve = start_bulletin(tmp_path, "serve")
        try:
            wait_for(lambda: get(f"http://{listen}/health")[0] == 200, 15, "/health")
            _, body = get(f"http://{listen}/health")
            assert json.loads(body)["serve"].endswith(" serve")

            second = start_bulletin(tmp_path, "serve", "--listen", f"127.0.0.1:{free_port()}")
            _, err = second.communicate(timeout=30)
            assert second.returncode == 75
            assert "bulletin serve is already running on this store" in err

            wait_for(lambda: len(server.mailbox.received) >= 3, 30, "the digest")
            assert min(arrived) >= due  # at its time, not at start-up
            # `bulletin run --once` from cron, beside the service
            once = start_bulletin(tmp_path, "run", "--once", "--wait", "30")
            out, err = once.communicate(timeout=60)
            assert once.returncode == 0, out + err
            _, metrics = get(f"http://{listen}/metrics")
            assert "bulletin_messages_sent_total 3\n" in metrics
        finally:
            code, err = stop(serve)
    assert code == 0, err
    assert "serve stopped" in err and "run=" in err
    assert server.mailbox.copies() == {reader: 1 for reader in readers}
    assert ledger(config)["sent"] == 3


@pytest.mark.slow
def test_a_stop_mid_send_finishes_the_message_in_flight_and_a_kill_loses_nothing(
    tmp_path: Path,
) -> None:
    zone = noon_zone()
    readers = [f"reader{n:02}@example.org" for n in range(24)]
    with Server() as server:
        # The day's digest is due from the start: the service sends it at start-up.
        config = todays_site(tmp_path, server.port, zone, readers, digest_at="00:00:00")
        running: list[subprocess.Popen[str]] = []
        signals = {5: signal.SIGTERM, 12: signal.SIGKILL}

        def on_message(count: int) -> None:  # the message is kept, its reply not yet sent
            if count in signals:
                running[-1].send_signal(signals[count])
                time.sleep(0.3)  # the stop reaches the service before the reply does

        server.mailbox.on_message = on_message
        running.append(start_bulletin(tmp_path, "serve"))
        wait_for(lambda: len(server.mailbox.received) >= 5, 30, "five messages")
        _, err = running[-1].communicate(timeout=30)
        assert running[-1].returncode == 0, err
        assert "digest cut short" in err
        counts = ledger(config)
        assert (counts["sent"], counts["sending"], counts["unknown"]) == (5, 0, 0)
        assert counts["pending"] == len(readers) - 5

        running.append(start_bulletin(tmp_path, "serve"))  # killed at the 12th message, in flight
        assert running[-1].wait(timeout=30) == -signal.SIGKILL
        assert ledger(config)["sending"] == 1

        running.append(start_bulletin(tmp_path, "serve"))
        wait_for(lambda: ledger(config)["pending"] == 0, 30, "the rest")
        code, err = stop(running[-1])
    assert code == 0, err
    counts = ledger(config)
    assert (counts["sent"], counts["unknown"]) == (len(readers) - 1, 1)
    copies = server.mailbox.copies()
    assert sorted(copies) == readers and max(copies.values()) == 1  # nobody twice, none lost


# --- health and metrics, in process ----------------------------------------------------------


def test_health_and_metrics_come_from_the_store(tmp_path: Path) -> None:
    zone = ZoneInfo("Asia/Damascus")
    config = todays_site(tmp_path, free_port(), zone, ["ann@example.org"], catch_up="one")
    with Store.open(config.store_url) as store:
        run = store.start_run("serve", None, datetime.now(UTC), "abc123")
        store.finish_run(run, "ok", {"items_new": 3, "feeds_written": 7}, datetime.now(UTC))
    monitor = pipeline.Monitor(pipeline.RunContext(config))
    unsubscriber = pipeline.Unsubscriber(pipeline.RunContext(config))
    app = web.create_app(unsubscriber, web.Site("x", "/u"), monitor)
    with served(app) as (host, port):
        status, body = get(f"http://{host}:{port}/health")
        details = json.loads(body)
        assert status == 200 and details["state"] == "ok"
        assert details["last_success"]["key"] == "abc123"
        _, metrics = get(f"http://{host}:{port}/metrics")
    assert "bulletin_items_collected_total 3\n" in metrics
    assert "bulletin_feeds_written_total 7\n" in metrics
    assert 'bulletin_runs_total{outcome="ok"} 1\n' in metrics
    assert "# TYPE bulletin_last_success_timestamp_seconds gauge\n" in metrics


def test_health_is_503_when_a_digest_is_overdue(tmp_path: Path) -> None:
    zone = ZoneInfo("Asia/Damascus")
    config = todays_site(tmp_path, free_port(), zone, ["ann@example.org"])
    with Store.open(config.store_url) as store:
        long_ago = datetime.now(UTC).date() - timedelta(days=3)
        store.digests.record([long_ago], "sent", datetime.now(UTC), "test")
    healthy, details = pipeline.Monitor(pipeline.RunContext(config)).health()
    assert not healthy and details["state"] == "stale"
    assert "digest overdue" in str(details["stale"])


# --- bulletin status -------------------------------------------------------------------------


def status(folder: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--config", str(folder / "config.yaml"), "status", *args])
    return result.exit_code, result.output


def test_status_exit_codes_tell_ok_attention_and_stale_apart(tmp_path: Path) -> None:
    zone = ZoneInfo("Asia/Damascus")
    config = todays_site(tmp_path, free_port(), zone, ["ann@example.org"])
    code, out = status(tmp_path)
    assert code == 0 and "serve      not running" in out and "digest at 18:00" in out

    with Store.open(config.store_url) as store:
        run = store.start_run("serve", None, datetime.now(UTC), "k2")
        store.finish_run(run, "partial", {}, datetime.now(UTC))
    code, out = status(tmp_path)
    assert code == 1 and "attention  the last run" in out
    assert status(tmp_path, "--health", "--quiet") == (0, "")

    with Store.open(config.store_url) as store:
        three_days_ago = datetime.now(zone).date() - timedelta(days=3)
        store.digests.record([three_days_ago], "sent", datetime.now(UTC), "test")
    code, out = status(tmp_path, "--health", "--quiet")
    assert code == 3 and "stale      digest overdue" in out
    code, out = status(tmp_path, "--json")
    assert code == 3 and json.loads(out)["state"] == "stale"
