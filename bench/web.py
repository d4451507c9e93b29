"""Benchmark: the readers' two busiest POSTs on `bulletin web`, with 50 concurrent clients.

One deployment's application (SQLite store, outbox transport) is served by uvicorn in a child
process on 127.0.0.1, exactly as `bulletin web` serves it, with one route added for this run
only: ``GET /bench-ok`` answers "ok" without touching anything, the reference floor of the
same server and stack. Measured in the same run: requests per second and the p99 latency of

- ``POST /subscribe``: a genuine sign-up (signed form stamp, rate limits and the sign-up kept
  in the store, the confirmation written to the outbox after the answer), a new address each;
- ``POST /unsubscribe?token=...``: the one-click request (RFC 8058) of a distinct reader each;
- ``GET /bench-ok``: the reference.

Each request opens its own connection (as mail providers' one-click requests and form posts
from many readers do). Usage: .venv/bin/python bench/web.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from bulletin import delivery, pipeline, web
from bulletin.config import load_config
from bulletin.store import ListEntry, Store

CLIENTS = 50


def _config(folder: Path, port: int):  # type: ignore[no-untyped-def]
    text = (
        "site: {title: Bench, base_url: 'https://news.example.org/'}\n"
        f"web: {{public_url: 'http://127.0.0.1:{port}/', min_form_seconds: 0,"
        " signups_per_ip_per_hour: 1000000, confirmations_per_address_per_day: 1000000}\n"
    )
    (folder / "config.yaml").write_text(text, encoding="utf-8")
    return load_config(folder / "config.yaml")


def _serve(folder: Path, port: int) -> None:
    """The child process: the deployment's app plus the reference route, until killed."""
    ctx = pipeline.RunContext(_config(folder, port))
    app = web.deployment_app(ctx)

    async def with_reference(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "http" and scope["path"] == "/bench-ok":
            headers = [(b"content-type", b"text/plain"), (b"content-length", b"3")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"ok\n"})
            return
        await app(scope, receive, send)

    web.WebServer(with_reference, "127.0.0.1", port).serve_forever()


async def _one(port: int, raw: bytes) -> tuple[float, int]:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return time.perf_counter() - started, int(answer.split(b" ", 2)[1])


async def _load(port: int, requests: list[bytes]) -> tuple[float, list[float], set[int]]:
    queue = list(reversed(requests))
    times: list[float] = []
    codes: set[int] = set()

    async def client() -> None:
        while queue:
            took, code = await _one(port, queue.pop())
            times.append(took)
            codes.add(code)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return time.perf_counter() - started, times, codes


def _post(port: int, path: str, body: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
        f"Origin: http://127.0.0.1:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body.encode())}\r\n\r\n{body}"
    ).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    n = parser.parse_args().requests
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        config = _config(folder, port)
        ctx = pipeline.RunContext(config)
        readers = [f"reader{i:05}@example.org" for i in range(n)]
        with Store.open(config.store_url) as store:
            store.recipients.merge([ListEntry(a) for a in readers], pipeline.system_clock())
            key = ctx.unsubscribe_key(store)
            links = [store.recipients.get(a).link_id for a in readers]  # type: ignore[union-attr]
        desk = pipeline.SignupDesk(ctx)
        signups = [
            _post(
                port, "/subscribe", urlencode({"stamp": desk.stamp(), "address": f"new{i}@x.org"})
            )
            for i in range(n)
        ]
        clicks = [
            _post(
                port,
                f"/unsubscribe?token={delivery.sign(key, delivery.UNSUBSCRIBE, link)}",
                "List-Unsubscribe=One-Click",
            )
            for link in links
        ]
        reference = [b"GET /bench-ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"] * n
        child = multiprocessing.get_context("spawn").Process(target=_serve, args=(folder, port))
        child.start()
        try:
            _wait(port)
            results = {}
            for name, batch in (
                ("GET /bench-ok", reference),
                ("POST /subscribe", signups),
                ("POST /unsubscribe", clicks),
            ):
                results[name] = asyncio.run(_load(port, batch))
        finally:
            child.kill()
            child.join()
    base_rps = n / results["GET /bench-ok"][0]
    base_p99 = _p99(results["GET /bench-ok"][1])
    print(f"{n} requests per route, {CLIENTS} concurrent clients, loopback")
    for name, (elapsed, times, codes) in results.items():
        rps, p99 = n / elapsed, _p99(times)
        print(
            f"  {name:18} {rps:8.0f} req/s  p99 {p99 * 1000:7.1f} ms  "
            f"({rps / base_rps:.2f}x the reference's rate, {p99 / base_p99:.1f}x its p99; "
            f"status {sorted(codes)})"
        )


def _p99(times: list[float]) -> float:
    return statistics.quantiles(times, n=100)[98]


def _wait(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


if __name__ == "__main__":
    main()
