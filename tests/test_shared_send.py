"""Several bulletin processes on one PostgreSQL store, as separate machines would run them:
senders sharing a day, killed, frozen past their lease, a leader killed, the server itself
stopped mid-send. Each recipient gets the digest once; what a crash leaves unknown is at most
the message in flight on each of the dead sender's connections."""

from __future__ import annotations

import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from builders import (
    DAY,
    make_deployment,
    make_item,
    run_bulletin,
    save_items,
    start_bulletin,
    subscribe,
)
from bulletin.config import Config
from bulletin.store import Leadership, Store, digests
from postgres_server import TEMPLATE, Cluster
from smtp_servers import Server

pytestmark = pytest.mark.slow  # every test here runs bulletin in subprocesses
TIMEOUT = 3.0  # schedule.leader_timeout in these deployments: a silent sender's lease


def readers(n: int, prefix: str = "reader") -> list[str]:
    return [f"{prefix}{i:04}@example.org" for i in range(n)]


def shared(
    folder: Path, url: str, port: int, addresses: list[str], connections: int = 2, **schedule: Any
) -> Config:
    """A deployment on the PostgreSQL store ``url``, sending by SMTP to ``port`` over
    ``connections`` sessions per process, with one item on DAY and ``addresses`` listed."""
    folder.mkdir(parents=True, exist_ok=True)
    config = make_deployment(
        folder,
        smtp_port=port,
        store={"url": url},
        delivery={"smtp": {"connections": connections}},
        schedule={"leader_timeout": TIMEOUT, **schedule},
    )
    save_items(config, [make_item("a1", day=DAY)])
    subscribe(config, addresses)
    return config


def send(folder: Path, *options: str) -> subprocess.Popen[str]:
    return start_bulletin(folder, "send", "--date", DAY.isoformat(), *options)


def counts(config: Config, day: date = DAY) -> dict[str, int]:
    with Store.open(config.store_url) as store:
        return store.ledger.counts(day)


def wait_for(condition: Callable[[], bool], timeout: float, step: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


@pytest.fixture
def server() -> Iterator[Server]:
    with Server(pipelining=True) as running:
        yield running


def test_four_senders_share_a_day_and_mail_each_recipient_exactly_once(
    tmp_path: Path, postgres_url: str, server: Server
) -> None:
    addresses = readers(2000)
    config = shared(tmp_path, postgres_url, server.port, addresses)
    senders = [send(tmp_path) for _ in range(4)]
    outputs = [process.communicate(timeout=300) for process in senders]
    assert [process.returncode for process in senders] == [0] * 4, outputs
    copies = server.mailbox.copies()
    assert sorted(copies) == addresses and set(copies.values()) == {1}
    assert counts(config)["sent"] == 2000
    shares = [int(out.split("this run   ")[1].split(" sent")[0]) for out, _ in outputs]
    assert sum(shares) == 2000 and sum(1 for n in shares if n) >= 2, shares


def test_a_sender_killed_at_random_leaves_at_most_its_connections_unknown(
    tmp_path: Path, postgres: Cluster
) -> None:
    chance = random.Random(11)  # the same ten trials every run
    connections = 2
    for trial in range(10):
        name = postgres.new_database(TEMPLATE)
        with Server(pipelining=True) as server:
            folder = tmp_path / f"trial{trial}"
            addresses = readers(200)
            config = shared(folder, postgres.url(name), server.port, addresses, connections)
            senders = [send(folder) for _ in range(3)]
            at = chance.randrange(20, 150)
            assert wait_for(lambda: len(server.mailbox.received) >= at, 60), trial  # noqa: B023
            victim = chance.randrange(3)
            senders[victim].send_signal(signal.SIGKILL)
            killed = time.monotonic()
            assert senders[victim].wait(timeout=30) == -signal.SIGKILL
            senders[victim] = send(folder)  # restarted, beside the others still going
            for process in senders:
                process.communicate(timeout=120)
            left = counts(config)
            in_doubt = left["unknown"] + left["sending"]
            assert left["pending"] == 0 and in_doubt <= connections, (trial, left)
            with Store.open(config.store_url) as store:
                doubtful = {r.address for r in store.ledger.rows(DAY, ["unknown", "sending"])}
            time.sleep(max(0.0, killed + TIMEOUT + 0.5 - time.monotonic()))  # reapable now
            final = run_bulletin(folder, "send", "--date", DAY.isoformat(), "--retry-unknown")
            assert final.returncode == 0, final.stdout + final.stderr
            copies = server.mailbox.copies()
        assert sorted(copies) == addresses, trial  # nobody missing
        # Nobody twice, but for the operator's own choice: --retry-unknown resends what the
        # dead sender may or may not have handed over.
        twice = {address for address, n in copies.items() if n > 1}
        assert twice <= doubtful and max(copies.values()) <= 2, (trial, twice, doubtful)
        assert counts(config)["sent"] == len(addresses)
        postgres.drop(name)


def test_a_sender_frozen_past_its_lease_sends_nothing_more_and_its_late_outcome_is_refused(
    tmp_path: Path, postgres_url: str, server: Server
) -> None:
    target = "frozen@example.org"  # sorts first: the frozen sender's first claim
    config = shared(tmp_path, postgres_url, server.port, [target, *readers(20)], connections=1)
    stopped = threading.Event()
    frozen = send(tmp_path)

    def freeze(address: str) -> None:
        if address == target and not stopped.is_set():
            frozen.send_signal(signal.SIGSTOP)  # mid-message: its claim held, no data yet
            stopped.set()

    server.mailbox.on_rcpt = freeze
    try:
        assert stopped.wait(60)
        time.sleep(TIMEOUT + 1.0)  # past its lease
        other = run_bulletin(tmp_path, "send", "--date", DAY.isoformat())
        assert "1 left in flight by a sender that stopped are now unknown" in other.stdout
        retry = run_bulletin(tmp_path, "send", "--date", DAY.isoformat(), "--retry-unknown")
        assert retry.returncode == 0, retry.stdout + retry.stderr
    finally:
        frozen.send_signal(signal.SIGCONT)
    out, err = frozen.communicate(timeout=60)
    copies = server.mailbox.copies()
    assert copies[target] == 1 and set(copies.values()) == {1}, out + err  # no double
    assert "1 late outcomes refused" in out, out + err
    assert "taken for dead" in err and frozen.returncode == 1
    with Store.open(config.store_url) as store:
        (row,) = [r for r in store.ledger.rows(DAY, ["sent"]) if r.address == target]
    assert row.attempts == 2  # the retry's claim, which the frozen one could not overwrite


def serving(folder: Path) -> subprocess.Popen[str]:
    return start_bulletin(folder, "--log-format", "json", "serve")


def stop_all(processes: list[subprocess.Popen[str]]) -> list[str]:
    """SIGTERM each and return their logs (stderr)."""
    for process in processes:
        process.send_signal(signal.SIGTERM)
    return [process.communicate(timeout=60)[1] for process in processes]


def test_two_serve_on_one_day_plan_it_once_and_mail_each_reader_once(
    tmp_path: Path, postgres_url: str, server: Server
) -> None:
    today = datetime.now(UTC).date()
    addresses = readers(300)
    config = make_deployment(
        tmp_path,
        smtp_port=server.port,
        store={"url": postgres_url},
        schedule={"leader_timeout": TIMEOUT, "digest_at": "00:00"},  # today's is due at once
    )
    save_items(config, [make_item("a1", day=today)])
    subscribe(config, addresses)
    both = [serving(tmp_path), serving(tmp_path)]
    try:
        assert wait_for(lambda: len(server.mailbox.received) >= len(addresses), 120, 0.1)
        time.sleep(2 * TIMEOUT)  # every serve polls meanwhile: room for a double to show
    finally:
        logs = stop_all(both)
    copies = server.mailbox.copies()
    assert sorted(copies) == addresses and set(copies.values()) == {1}
    assert sum(log.count('"digest planned"') for log in logs) == 1, logs
    assert sum(log.count('"leading: collecting') for log in logs) == 1
    with Store.open(config.store_url) as store, store.engine.begin() as connection:
        days = connection.execute(digests.select()).all()
    assert [(row.day, row.status) for row in days] == [(today, "sent")]


def test_when_the_leader_dies_another_leads_within_the_timeout(
    tmp_path: Path, postgres_url: str
) -> None:
    timeout = 6.0
    make_deployment(tmp_path, store={"url": postgres_url}, schedule={"leader_timeout": timeout})
    both = [serving(tmp_path), serving(tmp_path)]
    try:
        with Store.open(postgres_url) as store:
            watch = Leadership(store.engine, "test", timeout)

            def leader_pid() -> int | None:
                holder = watch.holder()
                return None if holder is None else int(holder.split(" pid ")[1].split()[0])

            assert wait_for(lambda: leader_pid() is not None, 30, 0.1)
            first = next(p for p in both if p.pid == leader_pid())
            first.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            other = next(p for p in both if p is not first)
            assert wait_for(lambda: leader_pid() == other.pid, timeout + 5, 0.05)
            took = time.monotonic() - killed
    finally:
        for process in both:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        logs = [process.communicate(timeout=60)[1] for process in both]
    assert took <= timeout, f"the lead changed hands after {took:.1f} s"
    assert '"leading: collecting' in logs[both.index(other)]


def test_postgresql_stopped_mid_send_and_started_again_loses_and_doubles_nothing(
    tmp_path: Path, postgres: Cluster, postgres_url: str, server: Server
) -> None:
    addresses = readers(600)
    config = shared(
        tmp_path, postgres_url, server.port, addresses, connections=4, leader_timeout=30
    )
    sender = send(tmp_path)
    assert wait_for(lambda: len(server.mailbox.received) >= 100, 60)
    postgres.server_stop("fast")  # every session ended, as at a restart or a failover
    stopped_at = len(server.mailbox.received)
    time.sleep(3)
    postgres.server_start()
    out, err = sender.communicate(timeout=180)
    copies = server.mailbox.copies()
    assert stopped_at < len(addresses)  # it was stopped mid-send
    assert sender.returncode == 0, out + err
    assert sorted(copies) == addresses and set(copies.values()) == {1}
    assert counts(config) == {**counts(config), "sent": 600, "unknown": 0, "sending": 0}
    assert "the store is away" in err
