"""`bulletin send` killed with SIGKILL mid-send, then run again: nobody gets two copies and
nobody is lost; at most the message in flight on each connection is left ``unknown``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bulletin.config import load_config
from bulletin.store import ListEntry, Store
from helpers_stages import DAY, make_item
from smtp_servers import Server, deployment

RECIPIENTS = [f"reader{i:03}@example.org" for i in range(300)]
CONNECTIONS = 4
NOW = datetime(2024, 3, 1, 18, 0, tzinfo=UTC)


def bulletin_send(folder: Path) -> subprocess.Popen[str]:
    command = [str(Path(sys.executable).with_name("bulletin")), "send", "--date", DAY.isoformat()]
    env = {k: v for k, v in os.environ.items() if k != "BULLETIN_CONFIG"}
    return subprocess.Popen(
        command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.slow
def test_a_send_killed_at_several_points_finishes_without_doubles_or_losses(
    tmp_path: Path,
) -> None:
    with Server(pipelining=True) as server:
        config = load_config(deployment(tmp_path, server.port, smtp={"connections": CONNECTIONS}))
        store = Store.open(config.store_url)
        store.save_items([make_item("a1")], "test", NOW)
        store.recipients.merge([ListEntry(a) for a in RECIPIENTS], NOW)
        store.close()

        running: list[subprocess.Popen[str]] = []
        kill_at = {40, 130}  # in the server, after keeping a message, before answering it

        def on_message(count: int) -> None:
            if count in kill_at:
                running[-1].send_signal(signal.SIGKILL)

        server.mailbox.on_message = on_message
        kills = 0
        for _ in kill_at:
            running.append(bulletin_send(tmp_path))
            assert running[-1].wait(timeout=60) == -signal.SIGKILL
            kills += 1

        # A third kill from outside, at whatever point the sender has reached.
        running.append(bulletin_send(tmp_path))
        before = len(server.mailbox.received)
        deadline = time.monotonic() + 30
        while len(server.mailbox.received) < before + 60 and time.monotonic() < deadline:
            time.sleep(0.005)
        running[-1].send_signal(signal.SIGKILL)
        running[-1].wait(timeout=30)
        kills += 1

        final = bulletin_send(tmp_path)
        out, err = final.communicate(timeout=120)
        assert "now unknown" in out, out + err

    copies = server.mailbox.copies()
    store = Store.open(config.store_url)
    rows = {r.address: r.status for r in store.ledger.rows(DAY, ["sent", "unknown", "pending"])}
    counts = store.ledger.counts(DAY)
    store.close()
    assert counts["sent"] + counts["unknown"] == len(RECIPIENTS)  # none lost, none pending
    assert max(copies.values()) == 1  # nobody got a second copy
    unknown = [address for address, status in rows.items() if status == "unknown"]
    assert 1 <= len(unknown) <= CONNECTIONS * kills
    assert all(copies[address] == 1 for address, status in rows.items() if status == "sent")
    assert final.returncode == 1  # unknown rows are for the operator to decide
