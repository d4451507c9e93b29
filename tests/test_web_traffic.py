"""The web application under busy and hostile traffic, on a real uvicorn server on loopback:
many readers at once, malformed requests, clients that hang up. Bounded in count and time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from builders import make_deployment, served, subscribe
from bulletin import delivery, pipeline, web
from bulletin.config import Config
from bulletin.store import Store

T = TypeVar("T")
READERS = [f"reader{n:02}@example.org" for n in range(40)]


@pytest.fixture
def config(tmp_path: Path) -> Config:
    config = make_deployment(tmp_path)
    subscribe(config, READERS)
    return config


@pytest.fixture
def address(config: Config) -> Iterator[tuple[str, int]]:
    ctx = pipeline.RunContext(config)
    app = web.create_app(pipeline.Unsubscriber(ctx), web.Site("News"), pipeline.Monitor(ctx))
    with served(app) as address:
        yield address


def tokens(config: Config) -> dict[str, str]:
    with Store.open(config.store_url) as store:
        key = pipeline.RunContext(config).unsubscribe_key(store)
        found = {}
        for reader in READERS:
            subscriber = store.recipients.get(reader)
            assert subscriber is not None and subscriber.link_id is not None
            found[reader] = delivery.sign(key, delivery.UNSUBSCRIBE, subscriber.link_id)
        return found


def statuses(config: Config) -> dict[str, str]:
    with Store.open(config.store_url) as store:
        return {s.address: s.status for s in store.recipients.each()}


async def exchange(address: tuple[str, int], raw: bytes, timeout: float = 20.0) -> bytes:
    """Send ``raw`` on a new connection and read the whole answer (the server closes it)."""
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(raw)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


def run(work: Coroutine[Any, Any, T]) -> T:
    """``work`` run to its end on an event loop of its own, in a thread of its own.

    The browser tests' Playwright keeps an event loop running in the main thread for the
    session, where ``asyncio.run`` refuses to start another.
    """
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: news\r\nConnection: close\r\n\r\n".encode()


def post(path: str, body: bytes = b"List-Unsubscribe=One-Click") -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: news\r\nConnection: close\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def test_500_readers_reading_and_40_clicking_at_once_are_all_answered(
    config: Config, address: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    signed = tokens(config)
    some = next(iter(signed.values()))

    async def everyone() -> list[bytes]:
        reads = [exchange(address, get(f"/unsubscribe?token={some}")) for _ in range(500)]
        clicks = [exchange(address, post(f"/unsubscribe?token={t}")) for t in signed.values()]
        return await asyncio.gather(*reads, *clicks)

    with caplog.at_level(logging.WARNING):
        answers = run(everyone())
    assert [status_of(a) for a in answers] == [200] * 540
    assert set(statuses(config).values()) == {"unsubscribed"}
    assert [r for r in caplog.records if r.exc_info] == []


@pytest.mark.parametrize("length", ["abc", "10, 20", "-1", "1e3", " "])
def test_a_malformed_content_length_is_a_400_and_changes_nothing(
    config: Config, address: tuple[str, int], length: str, caplog: pytest.LogCaptureFixture
) -> None:
    token = tokens(config)[READERS[0]]
    raw = (
        f"POST /unsubscribe?token={token} HTTP/1.1\r\nHost: news\r\nContent-Length: {length}\r\n"
        "\r\nList-Unsubscribe=One-Click"
    ).encode()
    with caplog.at_level(logging.WARNING):
        answer = run(exchange(address, raw, timeout=10))
    assert status_of(answer) == 400
    assert statuses(config)[READERS[0]] == "active"
    assert [r for r in caplog.records if r.exc_info] == []


def test_a_body_past_the_cap_is_refused_and_changes_nothing(
    config: Config, address: tuple[str, int]
) -> None:
    token = tokens(config)[READERS[0]]
    declared = run(exchange(address, post(f"/unsubscribe?token={token}", b"x" * 20_000)))
    assert status_of(declared) == 413
    chunked = (
        f"POST /unsubscribe?token={token} HTTP/1.1\r\nHost: news\r\nConnection: close\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
        + "".join(f"{4000:x}\r\n{'y' * 4000}\r\n" for _ in range(4))
    ).encode() + b"0\r\n\r\n"
    assert status_of(run(exchange(address, chunked))) == 413
    assert statuses(config)[READERS[0]] == "active"


def test_clients_that_hang_up_leave_no_traceback_and_the_next_reader_is_answered(
    config: Config, address: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    token = tokens(config)[READERS[0]]

    async def rude() -> None:
        for raw in (b"", b"GET /unsub", post(f"/unsubscribe?token={token}")[:-10]):
            _, writer = await asyncio.open_connection(*address)
            writer.write(raw)
            await writer.drain()
            writer.close()
        await asyncio.sleep(0.2)

    with caplog.at_level(logging.WARNING):
        run(rude())
        answer = run(exchange(address, get("/health")))
    assert status_of(answer) == 200
    assert statuses(config)[READERS[0]] == "active"
    assert [r for r in caplog.records if r.exc_info] == []


@pytest.mark.parametrize("change", ["padded", "junk", "case", "spaced"])
def test_only_the_canonical_form_of_a_token_is_accepted(
    config: Config, address: tuple[str, int], change: str
) -> None:
    token = tokens(config)[READERS[0]]
    altered = {
        "padded": token + "==",
        "junk": token + "!",
        "case": token.swapcase(),
        "spaced": "%20" + token,
    }[change]
    answer = run(exchange(address, post(f"/unsubscribe?token={altered}")))
    assert status_of(answer) == 400
    assert statuses(config)[READERS[0]] == "active"


def test_200_slow_clients_holding_connections_do_not_stop_a_reader_and_are_cut_off(
    config: Config,
) -> None:
    ctx = pipeline.RunContext(config)
    app = web.create_app(pipeline.Unsubscriber(ctx), web.Site("News"), pipeline.Monitor(ctx))

    async def crowd(address: tuple[str, int]) -> tuple[float, bytes, list[bytes]]:
        slow = []
        for n in range(200):  # half say nothing at all, half send a header a byte at a time
            reader, writer = await asyncio.open_connection(*address)
            if n % 2:
                writer.write(b"GET /health HTTP/1.1\r\nHost: news\r\nX-Slow: ")
            slow.append((reader, writer))
        loop = asyncio.get_running_loop()
        started = loop.time()
        answer = await exchange(address, get("/health"), timeout=5)
        took = loop.time() - started
        # Past the deadline every slow connection was closed by the server: reads end.
        ends = await asyncio.gather(*(asyncio.wait_for(reader.read(), 10) for reader, _ in slow))
        for _, writer in slow:
            writer.close()
        return took, answer, ends

    with served(app, request_seconds=2.0) as address:
        took, answer, ends = run(crowd(address))
    assert status_of(answer) == 200 and took < 1.0
    assert ends == [b""] * 200  # closed, not answered
