"""Delivery throughput and memory: `bulletin send` against Postfix's smtp-sink on loopback.

The example digest (2026-11-26) goes to 10,000 recipients over SMTP; the ceiling is Postfix's
own smtp-source sending messages of the same size over the same number of sessions to the same
sink, measured in the same run (before and after bulletin, averaged). Two stores:

- SQLite: one `bulletin send` (target: at least 0.3 of the ceiling), its peak memory at
  10,000 and 100,000 recipients (it must stay flat);
- PostgreSQL (a throwaway cluster with fsync on, as a server runs it): 1, 2 and 4 `bulletin
  send` processes sharing the day, each against smtp-source with as many sessions in all
  (targets: one PostgreSQL sender at least 0.8 of the SQLite sender, the two run in turn
  three times for that ratio; the best of several at least 0.5 of its ceiling); the peak
  memory of each process at 10,000 and 100,000; the ledger's claims per second during the
  send and without SMTP (four processes claiming and recording as fast as they can); and the
  ledger rows written per message (the statistics collector's inserts, updates and deletes
  on ``ledger``).

Each send also reports how busy the machine's CPUs were meanwhile: several senders, the
sink and PostgreSQL on one machine stop scaling once that reaches all of them.

Needs smtp-sink and smtp-source (Debian package postfix; .ci/setup.d/delivery.sh installs it)
and PostgreSQL's server (.ci/setup.d/postgres.sh). Loopback only; every server started here
is stopped by its PID, the cluster removed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bulletin import delivery, pipeline
from bulletin.config import load_config
from bulletin.model import Recipient
from bulletin.store import ListEntry, Store

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the tests' throwaway PostgreSQL cluster
from postgres_server import Cluster, server_bindir  # noqa: E402

DAY = "2026-11-26"
SESSIONS = int(os.environ.get("BENCH_SESSIONS", "4"))  # per `bulletin send` process
SIZES = (10_000, 100_000)
PROCESSES = (1, 2, 4)
ROUNDS = 3  # one PostgreSQL sender and the SQLite sender in turn, for their ratio
SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"

# Runs in each `bulletin send` child: the send itself, its first and last message on the
# wall clock (the processes' spans are joined), and its own figures.
CHILD = """
import json, sys, time
from datetime import date
from bulletin import pipeline
from bulletin.config import load_config
marks = []
def progress(status):
    marks.append(time.time())
started = time.time()
report = pipeline.send_day(pipeline.RunContext(load_config()), date.fromisoformat(sys.argv[1]),
                           progress=progress)
print(json.dumps({"sent": report.sent, "failed": report.failed, "deferred": report.deferred,
                  "start": marks[0] if marks else started, "end": marks[-1] if marks else started,
                  "first": (marks[0] if marks else started) - started,
                  "total": time.time() - started}))
"""

# Four of these claim and record a day's rows as fast as they can, no SMTP: the ledger's
# own capacity. Each transaction records the last batch, claims the rows reserved by the one
# before and reserves the next (batches of 4), as a sender's transactions do.
CLAIMS = """
import json, sys, time
from datetime import UTC, date, datetime
from bulletin.model import Exchange, Outcome
from bulletin.store import Store
day, now = date.fromisoformat(sys.argv[2]), datetime.now(UTC)
with Store.open(sys.argv[1]) as store, store.ledger.lock("bench", 30):
    claimed, last, started = 0, [], time.perf_counter()
    with store.ledger.writer() as writer:
        reserved = writer.exchange(Exchange(day, now, pull=4)).reserved
        while reserved:
            done = writer.exchange(Exchange(day, now, last, pull=4, claims=reserved))
            made = [r for r, ok in zip(reserved, done.claimed) if ok]
            claimed += len(made)
            last = [Outcome(day, r.address, "sent", "250", "<m>", "smtp", attempt=r.attempts + 1)
                    for r in made]
            reserved = done.reserved
        writer.exchange(Exchange(day, now, last))
    print(json.dumps({"claimed": claimed, "seconds": time.perf_counter() - started}))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def bulletin(folder: Path, *args: str) -> None:
    command = [str(Path(sys.executable).with_name("bulletin")), *args]
    subprocess.run(command, cwd=folder, check=True, capture_output=True)


def configure(folder: Path, port: int, store_url: str | None = None) -> None:
    """The example deployment in ``folder``, by SMTP to ``port``, on ``store_url`` if given."""
    if not (folder / "examples").exists():
        shutil.copytree(ROOT / "examples", folder / "examples")
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    head, rest = text.split("\ndelivery:\n", 1)
    tail = "\nschedule:" + rest.split("\nschedule:", 1)[1]
    smtp = (
        "\ndelivery:\n  from_address: digest@news.example.org\n  from_name: Cedarport Daily\n"
        f"  smtp:\n    host: 127.0.0.1\n    port: {port}\n    security: none\n"
        f"    connections: {SESSIONS}\n    pause_after_errors: 1000\n"
    )
    if store_url is not None:  # the example's store section names its SQLite file
        head = re.sub(r"\nstore:\n(  .*\n)+", f"\nstore:\n  url: {store_url}\n", head)
    (folder / "config.yaml").write_text(head + smtp + tail, encoding="utf-8")


def deployment(folder: Path, port: int, recipients: int, store_url: str | None = None) -> int:
    """The example deployment with ``recipients`` readers on its list and SMTP to ``port``;
    returns the size of one message."""
    configure(folder, port, store_url)
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


def cpu_times() -> tuple[int, int]:
    """The machine's CPU time so far, in clock ticks: (busy, all), from /proc/stat."""
    fields = [int(n) for n in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


def send(folder: Path, processes: int = 1) -> tuple[dict[str, float], list[int]]:
    """Run the send in ``processes`` children at once; their joined figures (rate over the
    span from the first message of any to the last of any, and the machine's share of CPU
    time busy meanwhile) and each one's peak RSS in KiB."""
    busy_before, all_before = cpu_times()
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, DAY], cwd=folder, stdout=subprocess.PIPE, text=True
        )
        for _ in range(processes)
    ]
    figures, peaks = [], []
    for child in children:
        assert child.stdout is not None
        output = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
        if status != 0:
            raise SystemExit(f"bulletin send failed ({status}): {output}")
        figures.append(json.loads(output))
        peaks.append(usage.ru_maxrss)
    busy_after, all_after = cpu_times()
    joined = {
        "busy": (busy_after - busy_before) / max(all_after - all_before, 1),
        "sent": sum(f["sent"] for f in figures),
        "failed": sum(f["failed"] for f in figures),
        "loop": max(f["end"] for f in figures) - min(f["start"] for f in figures),
        "total": max(f["total"] for f in figures),
        "first": min(f["first"] for f in figures),
    }
    return joined, peaks


def source_rate(port: int, messages: int, size: int, sessions: int = SESSIONS) -> float:
    """smtp-source's messages per second: same size, ``sessions`` reused sessions."""
    command = [SOURCE, "-d", "-s", str(sessions), "-m", str(messages), "-l", str(size)]
    command += ["-f", "news@news.example.org", "-t", "reader@list.example", f"127.0.0.1:{port}"]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return messages / (time.perf_counter() - started)


def ceiling(port: int, size: int, sessions: int, run: Any) -> tuple[Any, float]:
    """``run()``'s result and smtp-source's rate at ``sessions``, before and after, averaged."""
    before = source_rate(port, SIZES[0], size, sessions)
    result = run()
    after = source_rate(port, SIZES[0], size, sessions)
    return result, (before + after) / 2


def sqlite_leg(scratch: Path, port: int) -> dict[int, Any]:
    results = {}
    for recipients in SIZES:
        folder = scratch / f"sqlite-{recipients}"
        folder.mkdir()
        size = deployment(folder, port, recipients)
        if recipients == SIZES[0]:
            (figures, peaks), top = ceiling(port, size, SESSIONS, lambda f=folder: send(f))
        else:
            (figures, peaks), top = send(folder), 0.0
        results[recipients] = (figures, peaks, size, top)
        shutil.rmtree(folder)
    return results


def ledger_writes(cluster: Cluster, database: str) -> tuple[int, int]:
    """Rows the ledger table has had inserted (planned) and updated, as the server counts."""
    import psycopg

    time.sleep(1.2)  # the statistics are flushed about once a second
    with psycopg.connect(
        host="127.0.0.1", port=cluster.port, user="postgres", dbname=database
    ) as connection:
        row = connection.execute(
            "SELECT n_tup_ins, n_tup_upd + n_tup_del FROM pg_stat_user_tables "
            "WHERE relname = 'ledger'"
        ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def postgres_leg(scratch: Path, port: int, cluster: Cluster) -> dict[str, Any]:
    """Each number of processes on a fresh copy of a prepared store, then 100,000 with one."""
    results: dict[str, Any] = {"runs": {}, "memory": {}}
    for recipients in SIZES:
        template = f"bench{recipients}"
        cluster.execute(f"CREATE DATABASE {template}")
        folder = scratch / f"pg-{recipients}"
        folder.mkdir()
        size = deployment(folder, port, recipients, cluster.url(template))
        results["size"] = results.get("size", size)
        counts = PROCESSES if recipients == SIZES[0] else (1,)
        for processes in counts:
            name = cluster.new_database(template)
            configure(folder, port, cluster.url(name))
            if recipients == SIZES[0]:
                sessions = SESSIONS * processes
                (figures, peaks), top = ceiling(
                    port, size, sessions, lambda f=folder, n=processes: send(f, n)
                )
                writes = ledger_writes(cluster, name)
                results["runs"][processes] = (figures, peaks, top, writes)
            else:
                figures, peaks = send(folder, processes)
            results["memory"][recipients] = (max(peaks), figures)
            cluster.drop(name)
        if recipients == SIZES[0]:
            results["claims"] = claim_rate(folder, cluster, template)
            results["turns"] = side_by_side(scratch, port, cluster, template)
        shutil.rmtree(folder)
    return results


def side_by_side(
    scratch: Path, port: int, cluster: Cluster, template: str, rounds: int = ROUNDS
) -> list[tuple[float, float]]:
    """One PostgreSQL sender and the SQLite sender in turn, ``rounds`` times, on the same
    10,000 readers: (PostgreSQL, SQLite) msg/s of each round. Taken in turn, so that the
    machine's slow minutes fall on both."""
    pg, lite = scratch / "turns-pg", scratch / "turns-sqlite"
    pg.mkdir()
    lite.mkdir()
    deployment(lite, port, SIZES[0])
    database = lite / "var" / "bulletin.db"
    shutil.copy(database, lite / "var" / "planned.db")
    pairs = []
    for _ in range(rounds):
        name = cluster.new_database(template)
        configure(pg, port, cluster.url(name))
        ours, _ = send(pg)
        cluster.drop(name)
        shutil.copy(lite / "var" / "planned.db", database)
        theirs, _ = send(lite)
        pairs.append((ours["sent"] / ours["loop"], theirs["sent"] / theirs["loop"]))
    shutil.rmtree(pg)
    shutil.rmtree(lite)
    return pairs


def claim_rate(folder: Path, cluster: Cluster, template: str, processes: int = 4) -> float:
    """Rows claimed and recorded per second by ``processes`` at once, without SMTP."""
    name = cluster.new_database(template)
    url = cluster.url(name)
    with Store.open(url) as store:
        store.ledger.plan(date.fromisoformat(DAY), datetime.now(UTC))
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMS, url, DAY], cwd=folder, stdout=subprocess.PIPE, text=True
        )
        for _ in range(processes)
    ]
    figures = [json.loads(child.communicate()[0]) for child in children]
    cluster.drop(name)
    return sum(f["claimed"] for f in figures) / max(f["seconds"] for f in figures)


def report(sqlite: dict[int, Any], pg: dict[str, Any]) -> None:
    figures, _, size, top = sqlite[SIZES[0]]
    lite = figures["sent"] / figures["loop"]
    print(f"messages: {size:,} bytes (the example digest), {SESSIONS} sessions a process, loopback")
    print(f"smtp-source ceiling, {SESSIONS} sessions   {top:8,.0f} msg/s")
    print(
        f"SQLite: bulletin send, 10,000     {lite:8,.0f} msg/s   ratio {lite / top:.2f}"
        "   (target >= 0.30)"
    )
    whole = figures["sent"] / figures["total"]
    print(
        f"  whole command incl. plan        {whole:8,.0f} msg/s   "
        f"(first message after {figures['first']:.2f} s)"
    )
    print(f"  machine CPU busy                {figures['busy']:8.0%} of {os.cpu_count()} cores")
    for recipients in SIZES:
        figures, peaks, _, _ = sqlite[recipients]
        print(
            f"  peak memory at {recipients:>7,}         {peaks[0] / 1024:8.1f} MiB   "
            f"({figures['sent']:,.0f} sent, {figures['sent'] / figures['loop']:,.0f} msg/s)"
        )
    best = 0.0
    for processes, (figures, peaks, top, writes) in pg["runs"].items():
        rate = figures["sent"] / figures["loop"]
        sessions = SESSIONS * processes
        print(
            f"PostgreSQL: {processes} bulletin send       {rate:8,.0f} msg/s   ratio "
            f"{rate / top:.2f} of smtp-source at {sessions} sessions ({top:,.0f} msg/s)"
        )
        print(f"  against the SQLite sender       {rate / lite:8.2f}x")
        print(f"  machine CPU busy                {figures['busy']:8.0%} of {os.cpu_count()} cores")
        planned, updated = (n / max(figures["sent"], 1) for n in writes)
        print(
            f"  claims per second (send)        {rate:8,.0f}   ledger rows written per "
            f"message {planned + updated:.2f} ({planned:.2f} planned, {updated:.2f} "
            f"updated)   peak memory a process {max(peaks) / 1024:.1f} MiB"
        )
        if processes > 1:
            best = max(best, rate / top)
    print(f"  best of several processes       {best:8.2f} of smtp-source   (target >= 0.50)")
    ratios = sorted(ours / theirs for ours, theirs in pg["turns"])
    shown = ", ".join(f"{ours:,.0f}/{theirs:,.0f}" for ours, theirs in pg["turns"])
    print(
        f"  1 sender, SQLite's in turn      {ratios[len(ratios) // 2]:8.2f}x median of "
        f"{len(ratios)} rounds ({shown} msg/s)   (target >= 0.80)"
    )
    print(f"  claims per second, no SMTP      {pg['claims']:8,.0f}   (4 processes, batches of 4)")
    for recipients, (peak, figures) in pg["memory"].items():
        print(
            f"  peak memory at {recipients:>7,}, 1 process {peak / 1024:6.1f} MiB   "
            f"({figures['sent']:,.0f} sent)"
        )


def main() -> None:
    if not (Path(SINK).exists() and Path(SOURCE).exists()):
        print("skipped: smtp-sink/smtp-source not found (run .ci/setup.d/delivery.sh as root)")
        return
    bindir = server_bindir()
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    sink = subprocess.Popen([SINK, *user, "-m", "512", f"127.0.0.1:{port}", "1024"])
    cluster = Cluster(bindir, durable=True).start() if bindir is not None else None
    try:
        time.sleep(0.3)
        with tempfile.TemporaryDirectory(prefix="bulletin-bench-") as scratch:
            sqlite = sqlite_leg(Path(scratch), port)
            pg = postgres_leg(Path(scratch), port, cluster) if cluster is not None else None
    finally:
        sink.terminate()
        sink.wait(timeout=10)
        if cluster is not None:
            cluster.stop()
    if pg is None:
        print("PostgreSQL leg skipped: no server programs (run .ci/setup.d/postgres.sh)")
        pg = {"runs": {}, "memory": {}, "claims": 0.0}
    report(sqlite, pg)


if __name__ == "__main__":
    main()
