"""Leaving the list: signed tokens, the one-click endpoint (RFC 8058) and the command."""

from __future__ import annotations

import base64
import hmac
import http.client
import string
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect, text

from builders import (
    DAY,
    NOW,
    make_deployment,
    make_item,
    save_items,
    served,
    start_bulletin,
    statuses,
    store_at_version,
    subscribe,
)
from bulletin import delivery, pipeline, web
from bulletin.cli import main
from bulletin.config import Config
from bulletin.store import LATEST_VERSION, Store

# Every test here runs on SQLite and on PostgreSQL (see conftest.py).
pytestmark = pytest.mark.usefixtures("database")

KEY = b"k" * 32


LINK = "q0oD3ZQ5cP0w7mZb1wJxVg"  # a link id, as the store draws them
# A link as bulletin sent them before link ids (made by that code): ann@example.org, KEY.
FIRST_FORMAT = "YW5uQGV4YW1wbGUub3Jn.d-qYfaIdQ2HpT8XVooYn5w"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def first_format(key: bytes, address: str) -> str:
    """An unsubscribe token as bulletin made them before link ids: the address, its MAC."""
    mac = hmac.digest(key, b"bulletin-unsubscribe\x00" + address.encode(), "sha256")[:16]
    return f"{b64(address.encode())}.{b64(mac)}"


def test_a_token_names_a_random_link_id_only_and_any_change_makes_it_fail() -> None:
    token = delivery.sign(KEY, delivery.UNSUBSCRIBE, LINK)
    assert delivery.verify(KEY, delivery.UNSUBSCRIBE, token) == LINK
    who, mac = token.split(".")
    assert who == LINK  # nothing about the reader, in any encoding
    other = delivery.sign(KEY, delivery.UNSUBSCRIBE, "B" + LINK[1:])
    for bad in (
        delivery.sign(b"another key", delivery.UNSUBSCRIBE, LINK),
        f"{other.split('.')[0]}.{mac}",
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        who,
        "",
        "..",
        "not base64!.x",
        FIRST_FORMAT,
    ):
        assert delivery.verify(KEY, delivery.UNSUBSCRIBE, bad) is None, bad
    assert delivery.verify(b"another key", delivery.UNSUBSCRIBE, token) is None


def test_a_token_made_for_another_purpose_is_refused() -> None:
    # A preferences page or a VERP bounce address will sign the same link id for their own
    # purpose: none of those tokens may unsubscribe anyone, nor the other way round.
    preferences = delivery.sign(KEY, "preferences", LINK)
    assert delivery.verify(KEY, "preferences", preferences) == LINK
    assert delivery.verify(KEY, delivery.UNSUBSCRIBE, preferences) is None
    assert delivery.verify(KEY, "bounce", delivery.sign(KEY, delivery.UNSUBSCRIBE, LINK)) is None


def test_a_token_of_the_first_format_still_names_its_address_and_any_change_makes_it_fail() -> None:
    assert first_format(KEY, "ann@example.org") == FIRST_FORMAT
    assert delivery.verify_address(KEY, FIRST_FORMAT) == "ann@example.org"
    who, mac = FIRST_FORMAT.split(".")
    forged = first_format(b"another key", "bob@example.org").split(".")[0] + "." + mac
    for bad in (
        forged,
        f"{first_format(KEY, 'bob@example.org').split('.')[0]}.{mac}",
        FIRST_FORMAT[:-1] + ("A" if FIRST_FORMAT[-1] != "A" else "B"),
        who,
        "",
        "..",
        "not base64!.x",
        delivery.sign(KEY, delivery.UNSUBSCRIBE, LINK),
    ):
        assert delivery.verify_address(KEY, bad) is None, bad
    assert delivery.verify_address(b"another key", FIRST_FORMAT) is None


def spellings(token: str) -> list[str]:
    """The same token written in ways a lenient base64 decoder reads as the same bytes."""
    who, mac = token.split(".")
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
    # 16 bytes take 21 characters and 2 bits of a 22nd: its other 4 bits are not read.
    unused_bit = alphabet[alphabet.index(mac[-1]) ^ 1]
    return [
        f"{token}=",
        f"{who}=.{mac}",
        f"{who}.{mac}==",
        f"{who[:4]}!{who[4:]}.{mac}",
        f"{who}.{mac[:5]} {mac[5:]}",
        f"{who}.{mac[:5]}\n{mac[5:]}",
        f"{who[:3]}%{who[3:]}.{mac}",
        f"{who}.{mac[:-1]}{unused_bit}",
        token.swapcase(),
        token.lower(),
        f" {token}",
        f"{token}\n",
    ]


@pytest.fixture
def config(tmp_path: Path) -> Config:
    config = make_deployment(tmp_path)
    subscribe(config, ["ann@example.org", "bob@example.org"])
    return config


def token_of(config: Config, address: str, key: bytes | None = None) -> str:
    """The token of ``address``'s unsubscribe link (signed with ``key``, if given)."""
    with Store.open(config.store_url) as store:
        recipient = store.recipients.get(address)
        assert recipient is not None and recipient.link_id is not None
        key = key or pipeline.RunContext(config).unsubscribe_key(store)
        return delivery.sign(key, delivery.UNSUBSCRIBE, recipient.link_id)


@pytest.fixture
def endpoint(config: Config) -> Iterator[tuple[str, int]]:
    app = web.create_app(pipeline.Unsubscriber(pipeline.RunContext(config)), web.Site("News"))
    with served(app) as address:
        yield address


def request(
    address: tuple[str, int], method: str, path: str, body: str | None = None
) -> tuple[int, str]:
    connection = http.client.HTTPConnection(*address, timeout=5)
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body is not None else {}
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    text = response.read().decode()
    connection.close()
    return response.status, text


def test_a_get_shows_a_confirmation_page_and_changes_nothing(
    config: Config, endpoint: tuple[str, int]
) -> None:
    status, page = request(
        endpoint, "GET", f"/unsubscribe?token={token_of(config, 'ann@example.org')}"
    )
    assert status == 200 and "ann@example.org" in page and 'method="post"' in page
    assert statuses(config)["ann@example.org"] == "active"


def test_a_one_click_post_unsubscribes(config: Config, endpoint: tuple[str, int]) -> None:
    path = f"/unsubscribe?token={token_of(config, 'ann@example.org')}"
    status, page = request(endpoint, "POST", path, "List-Unsubscribe=One-Click")
    assert status == 200 and "will get no more" in page
    assert statuses(config) == {"ann@example.org": "unsubscribed", "bob@example.org": "active"}
    assert request(endpoint, "POST", path, "List-Unsubscribe=One-Click")[0] == 200  # again: fine


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_forged_token_changes_nothing_and_says_so(
    config: Config, endpoint: tuple[str, int], method: str
) -> None:
    for forged in (
        token_of(config, "ann@example.org", b"guessed key"),
        first_format(b"guessed key", "ann@example.org"),
    ):
        status, page = request(endpoint, method, f"/unsubscribe?token={forged}", "")
        assert status == 400 and "This link is not valid" in page
    status, _ = request(endpoint, method, "/unsubscribe", "")
    assert status == 400
    assert set(statuses(config).values()) == {"active"}


def test_other_paths_are_not_found_and_health_answers(endpoint: tuple[str, int]) -> None:
    assert request(endpoint, "GET", "/admin")[0] == 404
    assert request(endpoint, "GET", "/health") == (200, "ok\n")


def test_the_unsubscribe_command_takes_a_token_or_an_address(config: Config) -> None:
    runner = CliRunner()
    path = str(config.root / "config.yaml")
    result = runner.invoke(main, ["-c", path, "unsubscribe", token_of(config, "ann@example.org")])
    assert (result.exit_code, result.stdout) == (0, "unsubscribed ann@example.org\n")
    result = runner.invoke(main, ["-c", path, "unsubscribe", "Bob@EXAMPLE.org"])
    assert result.exit_code == 0
    result = runner.invoke(main, ["-c", path, "unsubscribe", first_format(b"x", "c@example.org")])
    assert result.exit_code == 1 and "not genuine" in result.stderr
    result = runner.invoke(
        main, ["-c", path, "unsubscribe", delivery.sign(b"x", "unsubscribe", LINK)]
    )
    assert result.exit_code == 1 and "not genuine" in result.stderr
    assert set(statuses(config).values()) == {"unsubscribed"}


def test_a_secret_from_the_environment_signs_instead_of_the_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_deployment(
        tmp_path, delivery={"unsubscribe_secret_env": "TEST_UNSUBSCRIBE_SECRET"}
    )
    monkeypatch.setenv("TEST_UNSUBSCRIBE_SECRET", "from the environment")
    with Store.open(config.store_url) as store:
        key = pipeline.RunContext(config).unsubscribe_key(store)
    assert key == b"from the environment"
    monkeypatch.delenv("TEST_UNSUBSCRIBE_SECRET")
    with (
        Store.open(config.store_url) as store,
        pytest.raises(Exception, match="TEST_UNSUBSCRIBE_SECRET"),
    ):
        pipeline.RunContext(config).unsubscribe_key(store)


@pytest.mark.slow
def test_bulletin_web_alone_also_answers_health_and_metrics(config: Config) -> None:
    path = str(config.root / "config.yaml")
    process = start_bulletin(config.root, "--config", path, "web", "--port", "0")
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        port = int(line.split("http://127.0.0.1:")[1].split()[0])
        status, metrics = request(("127.0.0.1", port), "GET", "/metrics")
        assert status == 200 and "bulletin_messages_sent_total" in metrics
        status, health = request(("127.0.0.1", port), "GET", "/health")
        assert status in (200, 503) and health.startswith("{")
    finally:
        process.terminate()
        process.wait(timeout=10)


# --- links as readers get them ---------------------------------------------------------------


@pytest.fixture
def keyed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    """The ``config`` deployment, signing with KEY (the key FIRST_FORMAT was made with)."""
    monkeypatch.setenv("TEST_UNSUBSCRIBE_SECRET", KEY.decode())
    config = make_deployment(
        tmp_path, delivery={"unsubscribe_secret_env": "TEST_UNSUBSCRIBE_SECRET"}
    )
    subscribe(config, ["ann@example.org", "bob@example.org"])
    return config


def command(config: Config, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["-c", str(config.root / "config.yaml"), *args])
    return result.exit_code, result.stdout


@pytest.mark.parametrize("kind", ["link id", "first format"])
def test_a_token_is_read_in_its_one_spelling_only(keyed: Config, kind: str) -> None:
    token = FIRST_FORMAT if kind == "first format" else token_of(keyed, "ann@example.org")
    unsubscriber = pipeline.Unsubscriber(pipeline.RunContext(keyed))
    assert unsubscriber.check(token) == "ann@example.org"
    for other in spellings(token):
        assert unsubscriber.check(other) is None, other
        assert unsubscriber.unsubscribe(other).address is None
    assert set(statuses(keyed).values()) == {"active"}


def test_links_sent_before_link_ids_keep_working(keyed: Config) -> None:
    app = web.create_app(pipeline.Unsubscriber(pipeline.RunContext(keyed)), web.Site("News"))
    with served(app) as address:
        path = f"/unsubscribe?token={FIRST_FORMAT}"
        status, page = request(address, "GET", path)
        assert status == 200 and "ann@example.org" in page
        status, page = request(address, "POST", path, "List-Unsubscribe=One-Click")
        assert status == 200 and "will get no more" in page
    old_mailto = first_format(KEY, "bob@example.org")  # `bulletin unsubscribe` from its mail
    result = CliRunner().invoke(
        main, ["-c", str(keyed.root / "config.yaml"), "unsubscribe", old_mailto]
    )
    assert (result.exit_code, result.stdout) == (0, "unsubscribed bob@example.org\n")
    assert statuses(keyed) == {"ann@example.org": "unsubscribed", "bob@example.org": "unsubscribed"}


def test_the_links_of_a_sent_digest_do_not_show_who_the_reader_is(tmp_path: Path) -> None:
    # A reader listed only in config.yaml: the send adds them to the store, link id and all.
    reader = {"address": "editor@example.net", "name": "Ed"}
    config = make_deployment(tmp_path, delivery={"recipients": [reader]})
    save_items(config, [make_item("a1")])
    assert pipeline.send_day(pipeline.RunContext(config), DAY, clock=lambda: NOW).sent == 1
    (path,) = (tmp_path / "var" / "outbox" / "new").iterdir()
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    web_link, mail_link = (link.strip(" <>") for link in message["List-Unsubscribe"].split(","))
    token = web_link.split("token=")[1]
    assert mail_link.endswith(f"?subject=unsubscribe%20{token}")
    shown = [
        message["List-Unsubscribe"],
        message.get_body(("plain",)).get_content(),
        message.get_body(("html",)).get_content(),
    ]
    for hidden in ("editor", b64(b"editor@example.net"), b64(b"editor@example.net")[:8]):
        assert not any(hidden in text for text in shown), hidden
    assert pipeline.Unsubscriber(pipeline.RunContext(config)).check(token) == "editor@example.net"
    # The mailto: request lands with the operator, who runs `bulletin unsubscribe TOKEN`.
    result = CliRunner().invoke(
        main, ["-c", str(config.root / "config.yaml"), "unsubscribe", token]
    )
    assert (result.exit_code, result.stdout) == (0, "unsubscribed editor@example.net\n")
    assert statuses(config) == {"editor@example.net": "unsubscribed"}


def test_a_store_of_schema_3_gives_each_recipient_a_link_id_and_keeps_old_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_UNSUBSCRIBE_SECRET", KEY.decode())
    config = make_deployment(
        tmp_path, delivery={"unsubscribe_secret_env": "TEST_UNSUBSCRIBE_SECRET"}
    )
    old = store_at_version(config.store_url, 3)
    with old.engine.begin() as connection:
        # ``recipients`` is declared with schema 4's link id: drop it to be a store of schema 3.
        connection.exec_driver_sql("DROP INDEX recipients_link_id")
        connection.exec_driver_sql("ALTER TABLE recipients DROP COLUMN link_id")
        for address in ("ann@example.org", "bob@example.org"):
            connection.execute(
                text(
                    "INSERT INTO recipients (address, name, status, origin, created, changed) "
                    "VALUES (:address, '', 'active', 'list', :now, :now)"
                ),
                {"address": address, "now": NOW.replace(tzinfo=None)},
            )
    old.close()

    store = Store.open(config.store_url)
    try:
        assert store.version() == LATEST_VERSION
        links = [s.link_id or "" for s in store.recipients.each()]
        assert len(set(links)) == 2 and all(len(link) == 22 for link in links)
        with store.engine.begin() as connection:
            indexes = {i["name"]: i for i in inspect(connection).get_indexes("recipients")}
        assert indexes["recipients_link_id"]["unique"]
    finally:
        store.close()
    unsubscriber = pipeline.Unsubscriber(pipeline.RunContext(config))
    assert unsubscriber.unsubscribe(FIRST_FORMAT) == pipeline.Unsubscribed("ann@example.org", True)
    assert unsubscriber.check(token_of(config, "bob@example.org")) == "bob@example.org"
