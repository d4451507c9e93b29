"""Benchmark: what a long list of recipients in config.yaml costs every run.

Every run loads config.yaml and seeds the mailing list from its recipients, so both must stay
cheap however long the list grows. For 20,000 recipients, measured side by side in one run:

- loading the config, against a reference that only parses the same YAML with PyYAML's C
  parser (the floor under any loader that reads YAML);
- seeding the list the first time, against a reference that inserts the same rows with one
  executemany (the floor under any seeding);
- seeding again with nothing changed, and with one recipient renamed, against a reference that
  reads the whole list back (what a seeding that compared every row would at least pay).

Usage: .venv/bin/python bench/subscribers.py [--recipients 20000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy import insert, select

from bulletin.config import load_config
from bulletin.store import ListEntry, Store
from bulletin.store.schema import recipients

NOW = datetime(2026, 11, 26, 18, tzinfo=UTC)


def timed(work: Callable[[], object], repeat: int = 3) -> float:
    """The median seconds of ``repeat`` runs of ``work``."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def config_text(count: int) -> str:
    rows = "".join(
        f"    - address: reader{n:05d}@example.org\n      name: Reader Number {n}\n"
        for n in range(count)
    )
    return "delivery:\n  recipients:\n" + rows


def entries(count: int, renamed: int = -1) -> list[ListEntry]:
    return [
        ListEntry(
            f"reader{n:05d}@example.org",
            f"Reader Number {n}" + (" (renamed)" if n == renamed else ""),
            None,
            True,
        )
        for n in range(count)
    ]


def line(label: str, seconds: float, reference: float) -> str:
    return f"  {label:38} {seconds * 1000:9.1f} ms   {seconds / reference:6.2f}x the reference"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=20_000)
    count = parser.parse_args().recipients
    with tempfile.TemporaryDirectory(prefix="bulletin-bench-") as scratch:
        folder = Path(scratch)
        path = folder / "config.yaml"
        text = config_text(count)
        path.write_text(text, encoding="utf-8")
        parse = timed(lambda: yaml.load(text, Loader=yaml.CSafeLoader))
        load = timed(lambda: load_config(path))
        print(f"{count:,} recipients in config.yaml ({len(text) / 1e6:.1f} MB)")
        print(f"  {'reference: parse the YAML (C parser)':38} {parse * 1000:9.1f} ms")
        print(line("load_config", load, parse))

        rows = [
            {"address": e.address, "name": e.name, "status": "active", "created": NOW}
            for e in entries(count)
        ]

        def reference_insert() -> None:
            with (
                Store.open(f"sqlite:///{folder}/reference.db") as store,
                store.engine.begin() as connection,
            ):
                connection.execute(recipients.delete())
                connection.execute(
                    insert(recipients),
                    [{**row, "changed": NOW, "origin": "config"} for row in rows],
                )

        first_reference = timed(reference_insert)

        def first() -> None:
            (folder / "list.db").unlink(missing_ok=True)
            with Store.open(f"sqlite:///{folder}/list.db") as store:
                store.recipients.sync_config(entries(count), NOW)

        seeded = timed(first)
        with Store.open(f"sqlite:///{folder}/list.db") as store:

            def read_back() -> None:
                with store.engine.begin() as connection:
                    connection.execute(select(recipients)).all()

            listed, renamed_list = entries(count), entries(count, renamed=5)
            later = iter(NOW + timedelta(minutes=n) for n in range(1, 100))
            reading = timed(read_back)
            unchanged = timed(lambda: store.recipients.sync_config(listed, next(later)))
            # Alternate the two lists so that every run finds one recipient renamed.
            flip = iter([renamed_list, listed] * 5)
            renamed = timed(lambda: store.recipients.sync_config(next(flip), next(later)))
        print(f"  {'reference: insert the rows at once':38} {first_reference * 1000:9.1f} ms")
        print(line("first seeding", seeded, first_reference))
        print(f"  {'reference: read the whole list back':38} {reading * 1000:9.1f} ms")
        print(line("seeding again, nothing changed", unchanged, reading))
        print(line("seeding again, one recipient renamed", renamed, reading))


if __name__ == "__main__":
    main()
