"""A store several machines share (PostgreSQL): its byte order and limits alike on both
databases, senders with leases and the reaper, the attempt fence, the leader lock, the
password from the environment, and what happens when the server cannot be reached."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import text, update

from builders import DAY, LOCAL, NOW, make_deployment, make_item, save_items, served, subscribe
from bulletin import pipeline, web
from bulletin.cli import main
from bulletin.delivery.group_commit import release
from bulletin.errors import StoreConfigError, StoreUnavailable
from bulletin.model import Category, Exchange, Outcome
from bulletin.store import LATEST_VERSION, Leadership, ListEntry, Store, ledger, senders
from postgres_server import PASSWORD_ROLE, Cluster, _free_port

DEAD = "postgresql+psycopg://bulletin@127.0.0.1:{port}/news"


@pytest.fixture
def shared(postgres_url: str) -> Iterator[Store]:
    """A fresh PostgreSQL store with two readers' rows planned for DAY."""
    with Store.open(postgres_url) as store:
        store.recipients.merge([ListEntry("ann@example.org"), ListEntry("bob@example.org")], NOW)
        store.ledger.plan(DAY, NOW)
        yield store


def reserve(store: Store, count: int = 1) -> list[Any]:
    """Reserve ``count`` rows for the sender registered in ``store.ledger.lease``."""
    with store.ledger.writer() as writer:
        return list(writer.exchange(Exchange(DAY, NOW, pull=count)).reserved)


def claim(store: Store, rows: list[Any]) -> list[bool]:
    """Claim rows reserved earlier, as a worker does when it starts their messages."""
    with store.ledger.writer() as writer:
        return list(writer.exchange(Exchange(DAY, NOW, claims=rows)).claimed)


def pull(store: Store, count: int = 1) -> list[Any]:
    """Reserve and claim ``count`` rows: their messages are in flight."""
    rows = reserve(store, count)
    assert claim(store, rows) == [True] * len(rows)
    return rows


def record(store: Store, outcome: Outcome) -> list[Outcome]:
    """Record one outcome as the sender registered in ``store.ledger.lease``; the refused."""
    with store.ledger.writer() as writer:
        return list(writer.exchange(Exchange(DAY, NOW, [outcome])).refused)


def silence(store: Store, sender_id: int | None) -> None:
    """Make a sender's heartbeat an hour old on the database's clock."""
    with store.engine.begin() as connection:
        stale = text("now() - interval '1 hour'")
        connection.execute(update(senders).where(senders.c.id == sender_id).values(heartbeat=stale))


# --- the same answers as SQLite -----------------------------------------------------------------


@pytest.mark.parametrize(
    "addresses",
    [
        [
            "annb@example.org",
            "ann-b@example.org",
            "Ann@example.org",
            "ann_c@example.org",
            "zoe@example.org",
            "émile@example.org".replace("é", "e"),
            "ann.b@example.org",
        ]
    ],
)
def test_addresses_list_and_page_in_byte_order_on_each_database(
    store: Store, addresses: list[str]
) -> None:
    # ICU's en-US would put "ann-b" after "annb" and "Ann" among the a's: bytes do not.
    store.recipients.merge([ListEntry(a) for a in addresses], NOW)
    listed = [s.address for s in store.recipients.each()]
    assert listed == sorted(addresses, key=lambda a: a.encode())
    store.ledger.plan(DAY, NOW)
    assert [r.address for r in store.ledger.due(DAY, NOW)] == listed


def test_an_item_too_long_for_the_store_is_skipped_alike_on_each_database(
    store: Store,
) -> None:
    long_category = Category("x" * 201, "A category with a very long slug")
    report = store.save_items(
        [make_item("fits"), make_item("too-long", category=long_category)], "test", NOW
    )
    assert [item.id for item in report.new] == ["fits"]
    ((item, why),) = report.refused
    assert item.id == "too-long" and "category_slug is 201 characters" in why
    assert store.count_items() == 1


def test_two_processes_upgrading_an_empty_database_at_once_apply_each_step_once(
    postgres: Cluster,
) -> None:
    url = postgres.url(postgres.new_database())
    applied: list[list[tuple[int, str]]] = []

    def upgrade() -> None:
        with Store.open(url, upgrade=False) as store:
            applied.append(store.upgrade())

    threads = [threading.Thread(target=upgrade) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(len(steps) for steps in applied) == [0, 0, LATEST_VERSION]
    with Store.open(url) as store:
        assert store.version() == LATEST_VERSION


# --- senders, leases, the reaper and the attempt fence ------------------------------------------


def test_a_silent_sender_is_reaped_and_its_rows_in_flight_become_unknown(shared: Store) -> None:
    with shared.ledger.lock("send", timeout=30) as lease:
        assert len(pull(shared)) == 1
        assert [s.in_flight for s in shared.ledger.senders(30)] == [1]
        assert shared.ledger.reap(NOW, 30) == 0  # alive: nothing to reap
        silence(shared, lease.id)
        (info,) = shared.ledger.senders(30)
        assert info.stale and info.in_flight == 1
        assert shared.ledger.reap(NOW, 30) == 1
        assert shared.ledger.senders(30) == []
        assert shared.ledger.counts(DAY)["unknown"] == 1
        # Reaped, it claims nothing more, whatever is still due.
        assert pull(shared) == []
        assert shared.ledger.counts(DAY)["pending"] == 1


def test_a_late_outcome_is_refused_once_its_row_was_claimed_again(shared: Store) -> None:
    with shared.ledger.lock("send", timeout=30) as frozen:
        (row,) = pull(shared)  # attempt 1, then frozen past its lease
        silence(shared, frozen.id)
        shared.ledger.reap(NOW, 30)
    shared.ledger.retry_unknown(DAY, NOW)  # the operator's choice: send it again
    with Store.open(shared.url) as other, other.ledger.lock("send", timeout=30):
        rows = pull(other, 2)
        again = next(r for r in rows if r.address == row.address)  # type: ignore[attr-defined]
        assert again.attempts == 1  # one attempt before this one
        sent = Outcome(DAY, again.address, "sent", "250 ok", "<m2>", "smtp", attempt=2)
        assert record(other, sent) == []
    late = Outcome(DAY, row.address, "sent", "250 ok", "<m1>", "smtp", attempt=1)  # type: ignore[attr-defined]
    with shared.ledger.lock("send", timeout=30):
        assert record(shared, late) == [late]
    (final,) = [r for r in shared.ledger.rows(DAY, ["sent"]) if r.address == again.address]
    assert (final.attempts, final.message_id) == (2, "<m2>")


def test_a_late_answer_on_a_reaped_row_is_still_recorded(shared: Store) -> None:
    # Nobody claimed it again: the server's 250 says more than "unknown".
    with shared.ledger.lock("send", timeout=30) as frozen:
        (row,) = pull(shared)
        silence(shared, frozen.id)
        shared.ledger.reap(NOW, 30)
        address = row.address  # type: ignore[attr-defined]
        outcome = Outcome(DAY, address, "sent", "250 ok", "<m>", "smtp", attempt=1)
        assert record(shared, outcome) == []
    assert {r.address for r in shared.ledger.rows(DAY, ["sent"])} == {address}


def test_a_sender_that_ends_cleanly_leaves_nothing_registered_or_in_flight(
    shared: Store,
) -> None:
    with shared.ledger.lock("send", timeout=30):
        pull(shared)  # claimed, never answered: the send failed midway
    assert shared.ledger.senders(30) == []
    assert shared.ledger.counts(DAY)["unknown"] == 1


def test_a_dead_senders_reserved_rows_go_back_to_pending_not_unknown(shared: Store) -> None:
    # Reserved is never sent: the others may send it at once, nobody needs --retry-unknown.
    with shared.ledger.lock("send", timeout=30) as dead:
        (row,) = reserve(shared)
        assert shared.ledger.counts(DAY)["reserved"] == 1
        silence(shared, dead.id)
        with Store.open(shared.url) as other, other.ledger.lock("send", timeout=30):
            assert other.ledger.reap(NOW, 30) == 0  # none became unknown
            assert other.ledger.counts(DAY) == {**other.ledger.counts(DAY), "pending": 2}
            mine = reserve(other, 2)
            assert row.address in {r.address for r in mine}
            assert claim(other, mine) == [True, True]
        # Woken, the dead sender's claim of it is refused: it is another's now.
        assert claim(shared, [row]) == [False]


def test_a_row_reserved_but_not_claimed_is_handed_back_or_given_back_at_the_end(
    shared: Store,
) -> None:
    with shared.ledger.lock("send", timeout=30):
        first, second = reserve(shared, 2)
        handed = release(first, "smtp", "the send stopped")
        assert record(shared, handed) == []
        assert shared.ledger.counts(DAY)["pending"] == 1
        assert claim(shared, [first]) == [False]  # handed back: no longer this sender's
    # The second was still reserved when the sender ended: due again, never unknown.
    counts = shared.ledger.counts(DAY)
    assert (counts["pending"], counts["reserved"], counts["unknown"]) == (2, 0, 0)
    assert second.address in {r.address for r in shared.ledger.due(DAY, NOW)}


def writers_backend(store: Store) -> int:
    """The server process of the writer that ran the send's statement last."""
    with store.engine.connect() as connection:
        query = (
            "SELECT pid FROM pg_stat_activity WHERE query LIKE '%WITH recorded AS%' "
            "AND pid <> pg_backend_pid()"
        )
        return int(connection.scalar(text(query)))


def test_after_a_statement_that_did_not_answer_only_rows_handed_out_stay_reserved(
    shared: Store,
) -> None:
    ann, bob = "ann@example.org", "bob@example.org"
    with shared.ledger.lock("send", timeout=30) as lease, shared.ledger.writer() as writer:
        (held,) = writer.exchange(Exchange(DAY, NOW, pull=1)).reserved
        assert held.address == ann
        # What a statement that reserved and then lost its connection leaves: a row this
        # sender reserved that no worker of it was ever handed.
        with shared.engine.begin() as connection:
            orphan = update(ledger).where(ledger.c.address == bob)
            connection.execute(orphan.values(status="reserved", sender_id=lease.id))
            stop = text("SELECT pg_terminate_backend(:pid)")
            connection.execute(stop, {"pid": writers_backend(shared)})
        with pytest.raises(StoreUnavailable):
            writer.exchange(Exchange(DAY, NOW))
        assert list(writer.exchange(Exchange(DAY, NOW, claims=[held])).claimed) == [True]
        states = {r.address: r.status for r in shared.ledger.rows(DAY, ["pending", "sending"])}
        assert states == {ann: "sending", bob: "pending"}


def test_planning_a_day_tells_the_planner_how_many_rows_it_has(shared: Store) -> None:
    # The send's statement is planned once, from what the planner believes: two rows, not
    # the "never counted" of a table only written to.
    with shared.engine.connect() as connection:
        query = "SELECT reltuples FROM pg_class WHERE relname = 'ledger'"
        assert connection.scalar(text(query)) == 2


def test_the_writers_connection_goes_back_to_the_pool_as_the_pool_lent_it(
    shared: Store,
) -> None:
    with shared.ledger.lock("send", timeout=30), shared.ledger.writer() as writer:
        writer.exchange(Exchange(DAY, NOW, pull=1))
        pid = writers_backend(shared)
    lent = []
    for _ in range(8):  # the pool lends its connections in turn: find that one
        lent.append(shared.engine.connect())
        raw: Any = lent[-1].connection.driver_connection
        if raw.info.backend_pid == pid:
            assert not raw.autocommit
            assert lent[-1].scalar(text("SHOW plan_cache_mode")) == "auto"
            break
    else:
        pytest.fail("the writer's connection did not go back to the pool")
    for connection in lent:
        connection.close()


def test_a_reaped_sender_learns_it_at_its_next_heartbeat_and_ends_no_message(
    shared: Store,
) -> None:
    with shared.ledger.lock("send", timeout=3) as lease:
        assert lease.held()
        silence(shared, lease.id)
        shared.ledger.reap(NOW, 3)
        for _ in range(40):  # its heartbeat, every second, finds its row gone
            if lease.lost:
                break
            threading.Event().wait(0.1)
        assert lease.lost and not lease.held()


# --- the leader ---------------------------------------------------------------------------------


def test_one_leader_at_a_time_and_another_once_its_session_ends(postgres_url: str) -> None:
    with Store.open(postgres_url) as a, Store.open(postgres_url) as b:
        first, second = Leadership(a.engine, "serve", 9), Leadership(b.engine, "serve", 9)
        assert first.refresh() and not second.refresh()
        assert first.refresh()  # still
        holder = second.holder() or ""
        assert holder.endswith(" serve") and " pid " in holder
        with a.engine.begin() as connection:  # the leader's session dies (a crash, a cut)
            ended = connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name LIKE :leader AND pid <> pg_backend_pid()"
                ),
                {"leader": "% serve"},
            ).all()
            assert ended == [(True,)]
        for _ in range(50):  # the server ends the session a moment later
            if second.refresh():
                break
            threading.Event().wait(0.1)
        assert second.leading
        assert not first.refresh() and second.refresh()
        second.resign()
        assert first.refresh()


def test_status_shows_the_leader_and_each_sender(
    tmp_path: Path, postgres_url: str, runner: CliRunner
) -> None:
    config = make_deployment(tmp_path, store={"url": postgres_url})
    ctx = pipeline.RunContext(config)
    with Store.open(postgres_url) as store:
        leader = Leadership(store.engine, "serve", 30)
        assert leader.refresh()
        with store.ledger.lock("send", timeout=30):
            found = pipeline.service_status(ctx)
            result = runner.invoke(main, ["status", "--json"])
        leader.resign()
    assert found.shared and (found.leader or "").endswith("serve")
    ((sender),) = found.senders
    assert sender.command == "send" and not sender.stale
    shown = json.loads(result.stdout)
    assert shown["leader"] == found.leader
    assert shown["senders"][0]["in_flight"] == 0


# --- credentials and a server away -------------------------------------------------------------


def test_the_password_comes_from_password_env_and_never_shows(
    tmp_path: Path,
    postgres: Cluster,
    postgres_url: str,
    runner: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "correct horse battery staple"
    database = postgres_url.rsplit("/", 1)[1]
    postgres.execute(
        f"CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD '{secret}'",
        f"GRANT ALL ON DATABASE {database} TO {PASSWORD_ROLE}",
    )
    with Store.open(postgres_url) as store, store.engine.begin() as connection:
        connection.exec_driver_sql(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {PASSWORD_ROLE}")
        connection.exec_driver_sql(
            f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {PASSWORD_ROLE}"
        )
    url = postgres_url.replace("//postgres@", f"//{PASSWORD_ROLE}@")
    make_deployment(tmp_path, store={"url": url, "password_env": "NEWS_DB_PASSWORD"})
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("NEWS_DB_PASSWORD", secret)
    assert runner.invoke(main, ["subscribers", "add", "ann@example.org"]).exit_code == 0
    monkeypatch.setenv("NEWS_DB_PASSWORD", secret + " wrong")
    refused = runner.invoke(main, ["subscribers", "list"])
    assert refused.exit_code == 2, refused.output
    assert "refused the connection" in refused.output and "password" in refused.output
    assert secret not in refused.output
    monkeypatch.delenv("NEWS_DB_PASSWORD")
    unset = runner.invoke(main, ["subscribers", "list"])
    assert unset.exit_code == 2 and "NEWS_DB_PASSWORD" in unset.output


def test_an_unreachable_store_exits_75_naming_host_port_and_database(
    tmp_path: Path, runner: CliRunner
) -> None:
    port = _free_port()
    make_deployment(tmp_path, store={"url": DEAD.format(port=port)})
    for command in (["status"], ["send"], ["run", "--once"], ["db", "upgrade"]):
        result = runner.invoke(main, command)
        assert result.exit_code == 75, (command, result.output)
        assert f"host 127.0.0.1 port {port} database news" in result.output


def test_a_url_bulletin_cannot_use_exits_2_with_its_line(tmp_path: Path, runner: CliRunner) -> None:
    url = "postgresql://ann:hunter2@db.example.org/news"
    (tmp_path / "config.yaml").write_text(f"store:\n  url: {url}\n", encoding="utf-8")
    result = runner.invoke(main, ["status"])
    assert result.exit_code == 2
    assert "config.yaml:2: store.url" in result.output and "holds a password" in result.output
    assert "hunter2" not in result.output


def test_health_answers_503_saying_why_while_the_store_is_away(tmp_path: Path) -> None:
    config = make_deployment(tmp_path)
    ctx = pipeline.RunContext(config)
    unsubscriber = pipeline.Unsubscriber(ctx)  # it reads the key now, while the store is there
    ctx.store_url = DEAD.format(port=_free_port())  # then the server goes away
    monitor = pipeline.Monitor(ctx)
    app = web.create_app(unsubscriber, web.Site("Bugle"), monitor)
    with served(app) as (host, port):
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"http://{host}:{port}/health", timeout=20)
        body = json.loads(caught.value.read())
    assert caught.value.code == 503
    assert body["state"] == "error" and "cannot reach the store" in body["error"]


def test_serve_tries_again_with_backoff_while_the_store_is_away(
    tmp_path: Path, postgres_url: str
) -> None:
    config = make_deployment(tmp_path, store={"url": postgres_url})
    ctx = pipeline.RunContext(config)
    node = pipeline.Node(ctx, pipeline.Stop()).open()
    try:
        assert node.shared and node.poll == pytest.approx(10.0)
        ctx.store_url = DEAD.format(port=_free_port())  # the server goes away
        assert [node.wake("poll"), node.wake("poll"), node.wake("collect")] == [2.0, 4.0, 8.0]
        ctx.store_url = postgres_url  # and comes back
        assert node.wake("poll") is None and node.failures == 0
    finally:
        node.close()


def test_an_unreachable_store_at_open_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailable, match="port 1 database news"):
        Store.open(DEAD.format(port=1))
    with pytest.raises(StoreConfigError, match="does not support"):
        Store.open("mysql://db/news")


def test_a_send_on_a_shared_store_serves_everyone_once(tmp_path: Path, postgres_url: str) -> None:
    config = make_deployment(tmp_path, store={"url": postgres_url})
    save_items(config, [make_item("a1", category=LOCAL)])
    subscribe(config, [f"reader{n}@example.org" for n in range(30)])
    report = pipeline.send_day(pipeline.RunContext(config), DAY, clock=lambda: NOW)
    assert (report.sent, report.counts["sent"], report.refused) == (30, 30, 0)
    with Store.open(postgres_url) as store:
        assert store.ledger.senders() == []
        assert {r.attempts for r in store.ledger.rows(DAY, ["sent"])} == {1}
        with store.engine.begin() as connection:
            owners = connection.execute(ledger.select().with_only_columns(ledger.c.sender_id))
            assert len({row[0] for row in owners}) == 1


def test_a_send_that_ends_while_another_sender_holds_a_row_leaves_that_row_to_it(
    tmp_path: Path, postgres_url: str
) -> None:
    config = make_deployment(tmp_path, store={"url": postgres_url})
    save_items(config, [make_item("a1", category=LOCAL)])
    subscribe(config, [f"reader{n}@example.org" for n in range(5)])
    with Store.open(postgres_url) as other, other.ledger.lock("send", timeout=30):
        other.ledger.plan(DAY, NOW)
        (held,) = reserve(other)  # the other sender's next message
        report = pipeline.send_day(pipeline.RunContext(config), DAY, clock=lambda: NOW)
        assert (report.sent, report.counts["reserved"]) == (4, 1)
        # Not this send's to finish, nor a failure of it: the other sender holds it.
        assert (report.elsewhere, report.ok) == (1, True)
    with Store.open(postgres_url) as store:  # that sender ended: the row is due again
        assert [r.address for r in store.ledger.due(DAY, NOW)] == [held.address]
