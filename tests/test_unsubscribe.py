"""Leaving the list: signed tokens, the one-click endpoint (RFC 8058) and the command."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from builders import make_deployment, start_bulletin, subscribe
from bulletin import delivery, pipeline, web
from bulletin.cli import main
from bulletin.config import Config
from bulletin.store import Store

KEY = b"k" * 32


def test_a_token_names_its_address_and_any_change_makes_it_fail() -> None:
    token = delivery.sign(KEY, "ann@example.org")
    assert delivery.verify(KEY, token) == "ann@example.org"
    who, mac = token.split(".")
    forged = delivery.sign(b"another key", "bob@example.org").split(".")[0] + "." + mac
    for bad in (
        forged,
        f"{delivery.sign(KEY, 'bob@example.org').split('.')[0]}.{mac}",
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        who,
        "",
        "..",
        "not base64!.x",
    ):
        assert delivery.verify(KEY, bad) is None, bad
    assert delivery.verify(b"another key", token) is None


@pytest.fixture
def config(tmp_path: Path) -> Config:
    config = make_deployment(tmp_path)
    subscribe(config, ["ann@example.org", "bob@example.org"])
    return config


def token_of(config: Config, address: str) -> str:
    with Store.open(config.store_url) as store:
        return delivery.sign(pipeline.RunContext(config).unsubscribe_key(store), address)


def statuses(config: Config) -> dict[str, str]:
    with Store.open(config.store_url) as store:
        return {s.address: s.status for s in store.recipients.each()}


@pytest.fixture
def endpoint(config: Config) -> Iterator[tuple[str, int]]:
    server = web.WebServer(
        pipeline.Unsubscriber(pipeline.RunContext(config)), "127.0.0.1", 0, "/unsubscribe", "News"
    )
    server.start()
    try:
        yield server.address
    finally:
        server.shutdown()


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
    forged = delivery.sign(b"guessed key", "ann@example.org")
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
    result = runner.invoke(main, ["-c", path, "unsubscribe", delivery.sign(b"x", "c@example.org")])
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
