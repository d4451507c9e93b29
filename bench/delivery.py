"""Delivery throughput and memory: `bulletin send` against Postfix's smtp-sink on loopback.

The example digest (2026-11-26) goes to 10,000 recipients over SMTP; the ceiling is Postfix's
own smtp-source sending messages of the same size over the same number of sessions to the same
sink, measured in the same run (before and after bulletin, averaged). Reported: bulletin's
messages per second and its ratio to that ceiling (target: at least 0.3), and the peak memory
of the `bulletin send` process at 10,000 and 100,000 recipients (it must stay flat).

Needs smtp-sink and smtp-source (Debian package postfix; .ci/setup.d/delivery.sh installs it).
Loopback only; every server started here is stopped by its PID.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from bulletin import delivery, pipeline
from bulletin.config import load_config
from bulletin.model import Recipient
from bulletin.store import ListEntry, Store

ROOT = Path(__file__).resolve().parents[1]
DAY = "2026-11-26"
SESSIONS = int(os.environ.get("BENCH_SESSIONS", "4"))
SIZES = (10_000, 100_000)
SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"

# Runs in the `bulletin send` child: the send itself, timed from its first to its last message.
CHILD = """
import json, sys, time
from datetime import date
from bulletin import pipeline
from bulletin.config import load_config
marks = []
def progress(status):
    marks.append(time.perf_counter())
started = time.perf_counter()
report = pipeline.send_day(pipeline.RunContext(load_config()), date.fromisoformat(sys.argv[1]),
                           progress=progress)
print(json.dumps({"sent": report.sent, "failed": report.failed, "deferred": report.deferred,
                  "first": marks[0] - started, "loop": marks[-1] - marks[0],
                  "total": time.perf_counter() - started}))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def bulletin(folder: Path, *args: str) -> None:
    command = [str(Path(sys.executable).with_name("bulletin")), *args]
    subprocess.run(command, cwd=folder, check=True, capture_output=True)


def deployment(folder: Path, port: int, recipients: int) -> int:
    """The example deployment with ``recipients`` readers on its list and SMTP to ``port``;
    returns the size of one message."""
    shutil.copytree(ROOT / "examples", folder / "examples")
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    head, rest = text.split("\ndelivery:\n", 1)
    tail = "\nschedule:" + rest.split("\nschedule:", 1)[1]
    smtp = (
        "\ndelivery:\n  from_address: digest@news.example.org\n  from_name: Cedarport Daily\n"
        f"  smtp:\n    host: 127.0.0.1\n    port: {port}\n    security: none\n"
        f"    connections: {SESSIONS}\n    pause_after_errors: 1000\n"
    )
    (folder / "config.yaml").write_text(head + smtp + tail, encoding="utf-8")
    bulletin(folder, "collect")  # the example's items; no digest sent yet
    ctx = pipeline.RunContext(load_config(folder / "config.yaml"))
    with Store.open(ctx.store_url) as store:
        now = datetime.now(UTC)
        names = (ListEntry(f"reader{n:06}@list.example", f"Reader {n}") for n in range(recipients))
        store.recipients.merge(names, now)
        _, rendered = pipeline.Digests(ctx, store).render([date.fromisoformat(DAY)])
        key = ctx.unsubscribe_key(store)
    site, reader = ctx.site, Recipient("reader000001@list.example", "Reader 1")
    links = pipeline.unsubscribe_links(ctx, key, "Xq3v9LbR2kTqPz0wYdE4Jg")  # a link id's size
    sender = delivery.Sender("digest@news.example.org", "Cedarport Daily")
    return len(delivery.build_message(rendered, site, sender, reader, links, now))


def send(folder: Path) -> tuple[dict[str, float], int]:
    """Run the send in a child; its figures and its peak resident memory in KiB."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, DAY], cwd=folder, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise SystemExit(f"bulletin send failed ({status}): {output}")
    return json.loads(output), usage.ru_maxrss


def source_rate(port: int, messages: int, size: int) -> float:
    """smtp-source's messages per second: same size, same number of reused sessions."""
    command = [SOURCE, "-d", "-s", str(SESSIONS), "-m", str(messages), "-l", str(size)]
    command += ["-f", "news@news.example.org", "-t", "reader@list.example", f"127.0.0.1:{port}"]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return messages / (time.perf_counter() - started)


def main() -> None:
    if not (Path(SINK).exists() and Path(SOURCE).exists()):
        print("skipped: smtp-sink/smtp-source not found (run .ci/setup.d/delivery.sh as root)")
        return
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    sink = subprocess.Popen([SINK, *user, "-m", "512", f"127.0.0.1:{port}", "1024"])
    try:
        time.sleep(0.3)
        with tempfile.TemporaryDirectory(prefix="bulletin-bench-") as scratch:
            results = {}
            for recipients in SIZES:
                folder = Path(scratch) / str(recipients)
                folder.mkdir()
                size = deployment(folder, port, recipients)
                before = source_rate(port, SIZES[0], size) if recipients == SIZES[0] else 0.0
                figures, peak = send(folder)
                after = source_rate(port, SIZES[0], size) if recipients == SIZES[0] else 0.0
                results[recipients] = (figures, peak, size, (before + after) / 2)
                shutil.rmtree(folder)
    finally:
        sink.terminate()
        sink.wait(timeout=10)
    figures, peak, size, ceiling = results[SIZES[0]]
    rate = figures["sent"] / figures["loop"]
    whole = figures["sent"] / figures["total"]
    print(f"messages: {size:,} bytes (the example digest), {SESSIONS} sessions, loopback")
    print(f"smtp-source ceiling          {ceiling:8,.0f} msg/s")
    print(
        f"bulletin send, 10,000        {rate:8,.0f} msg/s   ratio {rate / ceiling:.2f}"
        f"   (target >= 0.30)"
    )
    print(
        f"  whole command incl. plan   {whole:8,.0f} msg/s   ratio {whole / ceiling:.2f}"
        f"   (first message after {figures['first']:.2f} s)"
    )
    for recipients in SIZES:
        figures, peak, _, _ = results[recipients]
        print(
            f"peak memory at {recipients:>7,}      {peak / 1024:8.1f} MiB   "
            f"({figures['sent']:,.0f} sent, {figures['failed']:.0f} failed, "
            f"{figures['sent'] / figures['loop']:,.0f} msg/s)"
        )


if __name__ == "__main__":
    main()
