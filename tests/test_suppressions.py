"""The suppression list and the subscriber events: the store's API, the migration that makes
them, and that nothing brings back an address held for any cause."""

from __future__ import annotations

import json
import mailbox
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect

import bounce_mail
from builders import (
    DAY,
    NOW,
    Clock,
    bounce_token,
    make_deployment,
    make_item,
    save_items,
    statuses,
    store_at_version,
    subscribe,
)
from bulletin import pipeline
from bulletin.cli import main
from bulletin.config import Config
from bulletin.errors import StoreError
from bulletin.store import LATEST_VERSION, ListEntry, Store, address_hash

BOUNCES = "bounces@news.example.org"


def test_a_store_of_schema_5_gets_the_events_and_the_suppression_list(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/old.db"
    store_at_version(url, 5).close()
    with Store.open(url) as store:
        assert store.version() == LATEST_VERSION >= 6  # 6 brought them; later steps add on
        with store.engine.begin() as connection:
            tables = set(inspect(connection).get_table_names())
            indexes = {i["name"]: i for i in inspect(connection).get_indexes("events")}
        assert {"events", "suppressions"} <= tables
        assert indexes["events_key"]["unique"]
        store.events.record("ann@example.org", "subscribed", NOW, "operator")
        assert [e.kind for e in store.events.of("Ann@EXAMPLE.org")] == ["subscribed"]


def test_an_event_with_a_key_is_recorded_once_and_kinds_are_checked(store: Store) -> None:
    detail = {"status": "5.1.1"}
    assert store.events.record(
        "ann@example.org", "bounced", NOW, "bounces", detail, day=DAY, key="k1"
    )
    assert not store.events.record("ann@example.org", "bounced", NOW, "bounces", key="k1")
    assert store.events.record("ann@example.org", "unsubscribed", NOW, "web")
    (bounced, left) = store.events.of("ann@example.org")
    assert (bounced.kind, bounced.day, dict(bounced.detail)) == ("bounced", DAY, detail)
    assert (left.kind, left.origin, left.address) == ("unsubscribed", "web", "ann@example.org")
    assert store.events.per_day(["bounced"], [DAY]) == {("bounced", DAY): 1}
    with pytest.raises(StoreError, match="unknown event kind"):
        store.events.record("ann@example.org", "deleted", NOW, "x")


def test_forgetting_an_address_keeps_only_its_hash_and_an_erased_event(store: Store) -> None:
    store.events.record("ann@example.org", "bounced", NOW, "bounces", {"diagnostic": "ann"})
    assert store.events.forget("ann@example.org", NOW, "web") == 1
    events = store.events.of("ann@example.org")
    assert [(e.kind, e.address, dict(e.detail)) for e in events] == [
        ("bounced", None, {}),
        ("erased", None, {}),
    ]


def test_the_suppression_list_holds_hashes_for_every_spelling(store: Store) -> None:
    subscribe_to(store, "Ann@Example.org")
    assert store.suppressions.add("ann@EXAMPLE.ORG", "complained", NOW, "bounces")
    assert not store.suppressions.add("ANN@example.org", "bounced", NOW, "bounces")  # first wins
    assert store.suppressions.holds("Ann@Example.org")
    (entry,) = store.suppressions.each()
    assert (entry.address_hash, entry.reason) == (address_hash("ann@example.org"), "complained")
    assert "ann" not in entry.address_hash
    # Holding an address takes its recipient off at once.
    assert statuses_of(store) == {"Ann@example.org": "unsubscribed"}
    assert store.suppressions.counts() == {"bounced": 0, "complained": 1, "erased": 0}
    assert store.suppressions.remove("ann@example.org")
    assert not store.suppressions.holds("ann@example.org")
    with pytest.raises(StoreError, match="unknown suppression reason"):
        store.suppressions.add("ann@example.org", "annoying", NOW, "x")


def subscribe_to(store: Store, address: str) -> None:
    store.recipients.merge([ListEntry(address)], NOW)


def statuses_of(store: Store) -> dict[str, str]:
    return {s.address: s.status for s in store.recipients.each()}


# --- held for each cause, brought back by nothing ---------------------------------------------


def hold(config: Config, cause: str) -> None:
    """Take ann@example.net off the list for ``cause``, the way each really happens."""
    ctx, folder = pipeline.RunContext(config), config.root / "mail"
    if cause == "erased":  # as reader erasure (issue 12) is to do it, through the store's API
        with Store.open(config.store_url) as store:
            store.recipients.remove("ann@example.net")
            store.suppressions.add("ann@example.net", "erased", NOW, "web")
            store.events.forget("ann@example.net", NOW, "web")
        return
    verp = f"bounces+{bounce_token(config, 'ann@example.net')}@news.example.org"
    original = f"Subject: x\nX-Bulletin-Bounce: {bounce_token(config, 'ann@example.net')}\n\n"
    made = {
        "bounced": lambda: bounce_mail.postfix_dsn(b"Subject: x\n\n", verp, "ann@example.net"),
        "complained": lambda: bounce_mail.arf_report(original.encode(), BOUNCES),
    }
    mailbox.Maildir(folder, create=True).add(made[cause]())
    (report,) = pipeline.ingest_bounces(ctx, str(folder), clock=Clock())
    assert report.left == []


@pytest.mark.parametrize("cause", ["bounced", "complained", "erased"])
def test_an_address_held_for_any_cause_is_brought_back_by_nothing(
    tmp_path: Path, cause: str
) -> None:
    config = make_deployment(
        tmp_path,
        readers=["ann@example.net", "bob@example.net"],
        delivery={"bounce_address": BOUNCES},
        digest={"send_empty": True},
    )
    save_items(config, [make_item("a")])
    ctx = pipeline.RunContext(config)
    pipeline.send_day(ctx, DAY, clock=Clock())
    hold(config, cause)
    expected = {"bob@example.net": "active"}
    if cause != "erased":
        expected["ann@example.net"] = {"bounced": "bounced", "complained": "unsubscribed"}[cause]
    assert statuses(config) == expected

    csv = tmp_path / "list.csv"
    csv.write_text("address,name,status\nann@example.net,Ann,active\nANN@example.net,Ann,\n")
    with pipeline.mailing_list(ctx) as mailing:  # config.yaml's recipients are merged in here
        imported = mailing.import_csv(csv.open("rb"), "list.csv")
        with pytest.raises(StoreError, match="on the suppression list"):
            mailing.add("ann@example.net", "Ann", None)
    assert imported.merged.suppressed == ["ann@example.net", "ANN@example.net"]
    assert imported.merged.added == 0
    assert statuses(config) == expected

    outbox = tmp_path / "var" / "outbox" / "new"
    before = len(list(outbox.iterdir()))
    later = Clock(NOW + timedelta(days=1))
    pipeline.send_day(ctx, DAY + timedelta(days=1), clock=later)  # syncs config.yaml's list
    mailed = [p.read_bytes() for p in outbox.iterdir()][before:]
    assert len(list(outbox.iterdir())) == before + 1
    assert statuses(config) == expected
    assert all(b"ann@example.net" not in message.lower() for message in mailed)


def test_a_row_planned_around_the_list_is_held_back_at_the_send(tmp_path: Path) -> None:
    config = make_deployment(tmp_path, readers=["ann@example.net"], digest={"send_empty": True})
    with Store.open(config.store_url) as store:
        subscribe_to(store, "ann@example.net")
        # Written around the list's checks, as an older bulletin or a hand edit could.
        store.suppressions.add("ann@example.net", "erased", NOW, "test")
        store.recipients.set_status("ann@example.net", "active", NOW)
    report = pipeline.send_day(pipeline.RunContext(config), DAY, clock=Clock())
    assert (report.held_back, report.sent) == (["ann@example.net"], 0)
    assert statuses(config) == {"ann@example.net": "unsubscribed"}


# --- the operator's view ------------------------------------------------------------------------


def test_the_operator_sees_an_address_s_record_and_lifts_a_hold(tmp_path: Path) -> None:
    config = make_deployment(tmp_path, delivery={"bounce_address": BOUNCES})
    subscribe(config, ["ann@example.net"])
    save_items(config, [make_item("a")])
    pipeline.send_day(pipeline.RunContext(config), DAY, clock=Clock())
    hold(config, "bounced")
    cli = CliRunner()
    base = ["-c", str(tmp_path / "config.yaml")]

    shown = cli.invoke(main, [*base, "subscribers", "show", "ann@example.net"])
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0] == "ann@example.net" and lines[1].startswith("  status     bounced")
    assert "suppressed bounced" in shown.stdout and "status 5.1.1" in shown.stdout
    listed = cli.invoke(main, [*base, "subscribers", "suppressed"])
    assert listed.stdout.startswith("ann@example.net\tbounced\t")
    lifted = cli.invoke(main, [*base, "subscribers", "suppressed", "--remove", "ANN@example.net"])
    assert lifted.exit_code == 0 and "lifted" in lifted.stdout
    again = cli.invoke(main, [*base, "subscribers", "add", "ann@example.net"])
    assert again.exit_code == 0 and "(active)" in again.stdout
    kinds = [e["kind"] for e in _json(cli, base, "ann@example.net")["events"]]
    assert kinds == ["suppressed", "bounced", "unsuppressed", "subscribed"]
    nobody = cli.invoke(main, [*base, "subscribers", "show", "nobody@example.net"])
    assert nobody.exit_code == 1 and "nothing is kept about nobody@example.net" in nobody.output


def _json(cli: CliRunner, base: list[str], address: str) -> dict[str, list[dict[str, str]]]:
    result = cli.invoke(main, [*base, "subscribers", "show", address, "--json"])
    return dict(json.loads(result.stdout))
