"""`bulletin send` killed with SIGKILL mid-send, then run again: nobody gets two copies and
nobody is lost; at most the message in flight on each connection is left ``unknown``."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from builders import DAY, make_deployment, make_item, save_items, start_bulletin, subscribe
from bulletin.store import Store
from smtp_servers import Server

RECIPIENTS = [f"reader{i:03}@example.org" for i in range(300)]
CONNECTIONS = 4


def bulletin_send(folder: Path) -> subprocess.Popen[str]:
    return start_bulletin(folder, "send", "--date", DAY.isoformat())


@pytest.mark.slow
def test_a_send_killed_at_several_points_finishes_without_doubles_or_losses(
    tmp_path: Path,
) -> None:
    with Server(pipelining=True) as server:
        smtp = {"connections": CONNECTIONS}
        config = make_deployment(tmp_path, smtp_port=server.port, delivery={"smtp": smtp})
        save_items(config, [make_item("a1")])
        subscribe(config, RECIPIENTS)

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
    with Store.open(config.store_url) as store:
        rows = {r.address: r.status for r in store.ledger.rows(DAY, ["sent", "unknown", "pending"])}
        counts = store.ledger.counts(DAY)
    assert counts["sent"] + counts["unknown"] == len(RECIPIENTS)  # none lost, none pending
    assert max(copies.values()) == 1  # nobody got a second copy
    unknown = [address for address, status in rows.items() if status == "unknown"]
    assert 1 <= len(unknown) <= CONNECTIONS * kills
    assert all(copies[address] == 1 for address, status in rows.items() if status == "sent")
    assert final.returncode == 1  # unknown rows are for the operator to decide
