"""The ledger against real SMTP servers: every recipient served once, every fault recorded."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from builders import DAY, NOW, WORLD, Clock, make_deployment, make_item, save_items, subscribe
from bulletin import delivery, pipeline
from bulletin.cli import main
from bulletin.config import Config
from bulletin.errors import StoreError
from bulletin.store import STATES, ListEntry, Store
from smtp_servers import Server, self_signed

# Every test here runs on SQLite and on PostgreSQL (see conftest.py).
pytestmark = pytest.mark.usefixtures("database")


def setup(folder: Path, addresses: list[str], port: int | None = None, **delivery: Any) -> Config:
    """A deployment with two items on DAY and ``addresses`` on its list, by SMTP on ``port``
    (else the outbox); a 4xx is retried a minute later, then twice as late, three tries in all."""
    retries = {"retry_backoff_seconds": 60, "retry_limit": 3}
    config = make_deployment(folder, smtp_port=port, delivery={**retries, **delivery})
    save_items(config, [make_item("a1"), make_item("w1", category=WORLD)])
    subscribe(config, [ListEntry(a, f"Reader {a[:4]}") for a in addresses])
    return config


def send(config: Config, clock: Clock | None = None, **options: Any) -> pipeline.SendReport:
    return pipeline.send_day(pipeline.RunContext(config), DAY, clock=clock or Clock(), **options)


def ledger(config: Config) -> dict[str, tuple[str, str]]:
    with Store.open(config.store_url) as store:
        return {r.address: (r.status, r.reply) for r in store.ledger.rows(DAY, STATES)}


@pytest.fixture(params=[False, True], ids=["lockstep", "pipelining"])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    with Server(pipelining=request.param) as running:
        yield running


def readers(n: int) -> list[str]:
    return [f"reader{i:03}@example.org" for i in range(n)]


def test_every_recipient_gets_exactly_one_well_formed_message(
    tmp_path: Path, server: Server
) -> None:
    config = setup(tmp_path, readers(20), server.port, smtp={"connections": 3})
    report = send(config)
    assert (report.sent, report.ok) == (20, True)
    assert set(server.mailbox.copies().values()) == {1}
    with Store.open(config.store_url) as store:
        key = store.unsubscribe_key()
    unsubscriber = pipeline.Unsubscriber(pipeline.RunContext(config))
    ids = set()
    for message in server.mailbox.messages():
        to = message["To"].addresses[0]
        assert to.display_name == f"Reader {to.addr_spec[:4]}"
        assert message["From"].addresses[0].addr_spec == "news@example.org"
        assert message["Date"].datetime == NOW
        assert message["List-Id"] == "<digest.news.example.org>"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        web, mail = (link.strip(" <>") for link in message["List-Unsubscribe"].split(","))
        assert web.startswith("https://news.example.org/unsubscribe?token=")
        assert mail.startswith("mailto:news@example.org?subject=unsubscribe%20")
        token = web.split("token=")[1]
        assert mail.endswith(f"unsubscribe%20{token}")
        assert delivery.verify(key, delivery.UNSUBSCRIBE, token) is not None
        assert unsubscriber.check(token) == to.addr_spec and to.addr_spec[:9] not in token
        assert web in message.get_body(("html",)).get_content().replace("&amp;", "&")
        assert web in message.get_body(("plain",)).get_content()
        ids.add(message["Message-ID"])
    assert len(ids) == 20
    assert {status for status, _ in ledger(config).values()} == {"sent"}

    again = send(config)
    assert (again.sent, again.planned, len(server.mailbox.received)) == (0, 0, 20)


def test_a_refused_recipient_fails_and_the_others_are_served(
    tmp_path: Path, server: Server
) -> None:
    config = setup(tmp_path, [*readers(4), "bad1@example.org"], server.port)
    report = send(config)
    assert (report.sent, report.failed, report.ok) == (4, 1, False)
    status, reply = ledger(config)["bad1@example.org"]
    assert status == "failed" and "550 5.1.1 mailbox unavailable" in reply
    assert sorted(server.mailbox.copies()) == readers(4)


def test_a_message_refused_after_data_fails_and_the_others_are_served(
    tmp_path: Path, server: Server
) -> None:
    config = setup(tmp_path, ["spam1@example.org", *readers(3)], server.port)
    send(config)
    status, reply = ledger(config)["spam1@example.org"]
    assert status == "failed" and "end of DATA: 554" in reply
    assert sorted(server.mailbox.copies()) == readers(3)


def test_4xx_defers_with_growing_backoff_then_fails_at_the_limit(
    tmp_path: Path, server: Server
) -> None:
    config = setup(tmp_path, ["busy1@example.org", "full1@example.org", *readers(2)], server.port)
    clock = Clock()
    send(config, clock)
    rows = ledger(config)
    assert rows["busy1@example.org"][0] == rows["full1@example.org"][0] == "deferred"
    assert "451 4.7.1" in rows["busy1@example.org"][1] and "452" in rows["full1@example.org"][1]
    with Store.open(config.store_url) as store:
        (row,) = [r for r in store.ledger.rows(DAY, ["deferred"]) if r.address.startswith("busy")]
        assert (row.attempts, row.next_attempt) == (1, NOW + timedelta(seconds=60))
        assert send(config, clock).deferred == 0  # not due yet: nothing tried
        clock.now += timedelta(seconds=61)
        assert send(config, clock).deferred == 2
        (row,) = [r for r in store.ledger.rows(DAY, ["deferred"]) if r.address.startswith("busy")]
        assert row.next_attempt == clock.now + timedelta(seconds=120)  # doubled
        clock.now += timedelta(seconds=121)
        last = send(config, clock)
    assert last.failed == 2  # the third attempt was the last (retry_limit 3)
    assert "gave up after 3 attempts" in ledger(config)["busy1@example.org"][1]
    assert sorted(server.mailbox.copies()) == readers(2)


def test_421_at_connect_is_retried_on_a_new_connection(tmp_path: Path) -> None:
    with Server(refuse_first=2) as server:
        config = setup(tmp_path, readers(5), server.port)
        report = send(config)
    assert (report.sent, report.ok) == (5, True)
    assert set(server.mailbox.copies().values()) == {1}


def test_a_server_that_keeps_refusing_pauses_the_send_and_loses_nothing(tmp_path: Path) -> None:
    with Server(refuse_first=1000) as server:
        config = setup(tmp_path, readers(5), server.port, smtp={"pause_after_errors": 2})
        report = send(config)
    assert report.paused and "421" in report.paused
    assert {status for status, _ in ledger(config).values()} == {"pending"}


def test_a_dropped_connection_is_never_recorded_as_sent_and_the_others_are_served(
    tmp_path: Path, server: Server
) -> None:
    config = setup(tmp_path, ["drop1@example.org", *readers(3)], server.port)
    send(config)
    status, reply = ledger(config)["drop1@example.org"]
    # Lost before the end of the data was out: deferred; after it, unanswered: unknown.
    assert status in ("deferred", "unknown") and "connection" in reply
    assert sorted(server.mailbox.copies()) == readers(3)


def test_a_message_the_server_kept_without_answering_is_unknown_and_resent_only_on_request(
    tmp_path: Path, server: Server
) -> None:
    config = setup(tmp_path, ["vanish1@example.org", *readers(2)], server.port)
    send(config)
    assert ledger(config)["vanish1@example.org"][0] == "unknown"
    assert send(config).sent == 0
    assert server.mailbox.copies()["vanish1@example.org"] == 1
    retried = send(config, retry_unknown=True)
    assert retried.retried_unknown == 1
    assert server.mailbox.copies()["vanish1@example.org"] == 2  # the operator's choice


def test_starttls_with_a_verified_certificate_and_login_serves_everyone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context, certificate = self_signed(tmp_path)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "s3cret")
    smtp = {
        "security": "starttls",
        "ca_file": str(certificate),
        "username": "bulletin",
        "password_env": "TEST_SMTP_PASSWORD",
    }
    with Server(tls=context, users={"bulletin": "s3cret"}, pipelining=True) as server:
        config = setup(tmp_path, readers(3), server.port, smtp=smtp)
        report = send(config)
    assert (report.sent, report.ok) == (3, True)


def test_a_certificate_that_is_not_trusted_stops_the_send_before_any_mail(
    tmp_path: Path,
) -> None:
    context, _ = self_signed(tmp_path)
    with Server(tls=context) as server:
        config = setup(tmp_path, readers(3), server.port, smtp={"security": "starttls"})
        report = send(config)
    assert "TLS failed" in report.paused and "certificate verify failed" in report.paused
    assert server.mailbox.received == []
    assert {status for status, _ in ledger(config).values()} == {"pending"}


def test_a_wrong_password_stops_the_send(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    context, certificate = self_signed(tmp_path)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong")
    smtp = {
        "security": "starttls",
        "ca_file": str(certificate),
        "username": "bulletin",
        "password_env": "TEST_SMTP_PASSWORD",
    }
    with Server(tls=context, users={"bulletin": "s3cret"}) as server:
        config = setup(tmp_path, readers(2), server.port, smtp=smtp)
        report = send(config)
    assert "login refused: 535" in report.paused
    assert server.mailbox.received == []


def test_the_rate_limit_spaces_the_messages(tmp_path: Path, server: Server) -> None:
    config = setup(tmp_path, readers(6), server.port, smtp={"rate_per_second": 20})
    started = time.monotonic()
    assert send(config).sent == 6
    assert time.monotonic() - started >= 0.25  # 6 messages at 20/s: at least 5 intervals


@pytest.mark.sqlite_only  # on PostgreSQL senders share the day: test_shared_send.py
def test_a_second_sender_on_the_same_store_is_refused(tmp_path: Path, server: Server) -> None:
    config = setup(tmp_path, readers(2), server.port)
    with (
        Store.open(config.store_url) as store,
        store.ledger.lock(),
        pytest.raises(StoreError, match="another sender"),
    ):
        send(config)
    assert server.mailbox.received == []


def test_recipients_who_chose_categories_get_a_digest_of_those_only(
    tmp_path: Path, server: Server
) -> None:
    config = setup(tmp_path, ["all@example.org"], server.port)
    with Store.open(config.store_url) as store:
        store.recipients.merge(
            [ListEntry("world@example.org", "", frozenset({"world"}), True)], NOW
        )
    send(config)
    texts = {
        m["To"].addresses[0].addr_spec: m.get_body(("plain",)).get_content()
        for m in server.mailbox.messages()
    }
    assert "Item a1" in texts["all@example.org"] and "Item w1" in texts["all@example.org"]
    assert "Item w1" in texts["world@example.org"] and "Item a1" not in texts["world@example.org"]


def test_a_recipient_who_left_before_the_send_gets_nothing(tmp_path: Path, server: Server) -> None:
    config = setup(tmp_path, readers(3), server.port)
    with Store.open(config.store_url) as store:
        store.recipients.set_status(readers(3)[0], "unsubscribed", NOW)
    assert send(config).sent == 2
    assert readers(3)[0] not in server.mailbox.copies()


def test_the_digest_sent_is_frozen_at_its_first_copy(tmp_path: Path, server: Server) -> None:
    config = setup(tmp_path, readers(1), server.port)
    send(config)
    with Store.open(config.store_url) as store:
        store.save_items([make_item("late", hour=20)], "test", NOW)
        store.recipients.merge([ListEntry("new@example.org")], NOW)
    send(config)
    later = next(m for m in server.mailbox.messages() if "new@" in str(m["To"]))
    assert "Item late" not in later.get_body(("plain",)).get_content()


def test_the_outbox_goes_through_the_ledger_too(tmp_path: Path) -> None:
    config = setup(tmp_path, readers(3))
    assert send(config).sent == 3
    assert len(list((tmp_path / "var" / "outbox" / "new").iterdir())) == 3
    assert send(config).sent == 0


def test_messages_are_dkim_signed_when_a_key_is_configured(tmp_path: Path, server: Server) -> None:
    import base64

    import dkim  # type: ignore[import-untyped]
    import nacl.signing

    key = nacl.signing.SigningKey.generate()
    (tmp_path / "dkim.key").write_bytes(base64.b64encode(bytes(key)))
    record = b"v=DKIM1; k=ed25519; p=" + base64.b64encode(bytes(key.verify_key))
    config = setup(tmp_path, readers(2), server.port, dkim_key_file="dkim.key")
    send(config)
    for _, _, content in server.mailbox.received:
        assert content.startswith(b"DKIM-Signature:")
        assert dkim.verify(content, dnsfunc=lambda name, timeout=5: record)


def test_a_recipient_who_leaves_during_the_send_gets_nothing_even_mid_message(
    tmp_path: Path, server: Server
) -> None:
    # The message to reader002 is on the wire while its claim commits; the claim fails
    # (reader002 has just left), so the message is abandoned before its end. One connection
    # sends the four in turn (on SQLite one worker gets them all anyway; on PostgreSQL four
    # connections would claim the four rows at once, before anyone leaves).
    config = setup(tmp_path, readers(4), server.port, smtp={"connections": 1})

    def leave(count: int) -> None:
        if count == 1:
            with Store.open(config.store_url) as store:
                store.recipients.set_status(readers(4)[2], "unsubscribed", NOW)

    server.mailbox.on_message = leave
    report = send(config)
    assert report.sent == 3
    assert sorted(server.mailbox.copies()) == [readers(4)[i] for i in (0, 1, 3)]
    assert readers(4)[2] not in ledger(config)


@pytest.mark.sqlite_only  # SQLite's query planner; PostgreSQL claims by SKIP LOCKED instead
def test_claiming_a_large_batch_looks_rows_up_by_key(tmp_path: Path) -> None:
    # Without care SQLite picks the (status, day) index for six or more addresses and reads
    # every pending row of the day for each batch.
    config = setup(tmp_path, readers(50))
    with Store.open(config.store_url) as store:
        store.ledger.plan(DAY, NOW)
        with store.ledger.writer() as writer:
            sql, parameters = writer.claim_statement(DAY, readers(16), NOW)
            plan = writer.connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", parameters)
            steps = [row[3] for row in plan]
    assert any("ledger" in step and "(day=? AND address=?)" in step for step in steps), steps
    assert not any("ledger_status" in step for step in steps), steps


# --- what pauses a send --------------------------------------------------------------------


@pytest.mark.parametrize(
    "prefix, state",
    [("bad", "failed"), ("spam", "failed"), ("busy", "deferred")],
    ids=["550-to-rcpt", "554-after-data", "451-to-rcpt"],
)
def test_a_run_of_refused_recipients_does_not_pause_the_send(
    tmp_path: Path, server: Server, prefix: str, state: str
) -> None:
    # Eighty refusals in a row, four times pause_after_errors: each says something about one
    # address, nothing about the server, so the readers after them still get their copies.
    refused = [f"{prefix}{i:03}@example.org" for i in range(80)]
    config = setup(tmp_path, [*refused, *readers(20)], server.port)
    report = send(config)
    assert (report.paused, report.sent, getattr(report, state)) == ("", 20, 80)
    assert sorted(server.mailbox.copies()) == readers(20)
    assert {status for address, (status, _) in ledger(config).items() if address in refused} == {
        state
    }


def test_connections_that_keep_dropping_still_pause_the_send(
    tmp_path: Path, server: Server
) -> None:
    dropped = [f"drop{i:02}@example.org" for i in range(6)]
    smtp = {"pause_after_errors": 3, "connections": 1}
    config = setup(tmp_path, [*dropped, *readers(5)], server.port, smtp=smtp)
    report = send(config)
    assert report.paused and "connection" in report.paused
    assert {status for address, (status, _) in ledger(config).items() if address in readers(5)} == {
        "pending"
    }


# --- bulletin status --date ------------------------------------------------------------------


def day_status(config: Config, *args: str) -> tuple[int, str]:
    command = ["--config", str(config.root / "config.yaml"), "status", "--date", str(DAY), *args]
    result = CliRunner().invoke(main, command)
    return result.exit_code, result.stdout


def test_the_status_of_a_day_as_json_lists_the_rows_that_need_a_look(tmp_path: Path) -> None:
    with Server() as server:
        config = setup(
            tmp_path, ["bad1@example.org", "busy1@example.org", *readers(2)], server.port
        )
        send(config)
    code, out = day_status(config, "--json")
    found = json.loads(out)
    assert code == 1 and (found["day"], found["ok"]) == (str(DAY), False)
    assert found["counts"] == {
        "pending": 0, "reserved": 0, "sending": 0, "sent": 2, "deferred": 1, "failed": 1,
        "unknown": 0,
    }  # fmt: skip
    assert [(r["address"], r["status"], r["attempts"]) for r in found["trouble"]] == [
        ("bad1@example.org", "failed", 1),
        ("busy1@example.org", "deferred", 1),
    ]
    bad, busy = found["trouble"]
    assert bad["next_attempt"] is None and "550 5.1.1 mailbox unavailable" in bad["reply"]
    assert datetime.fromisoformat(busy["next_attempt"]) == NOW + timedelta(seconds=60)
    assert "451 4.7.1" in busy["reply"]


def test_the_status_of_a_day_all_sent_as_json_exits_0(tmp_path: Path) -> None:
    config = setup(tmp_path, readers(2))  # the outbox
    send(config)
    code, out = day_status(config, "--json")
    found = json.loads(out)
    assert (code, found["ok"], found["counts"]["sent"], found["trouble"]) == (0, True, 2, [])
