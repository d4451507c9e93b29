"""Feeds benchmark: 100,000 items in 50 categories in a real SQLite store (`make bench`).

Prints, side by side:
1. bulletin's full build of every feed (store reads, entry preparation, feedgen, JSON; bytes
   built and compared, nothing written) against a reference that serialises the same documents
   straight with lxml and json from the same items held in memory (target: within 1.5x);
2. the incremental build after one new day of 20 items against a full build of the same state,
   both writing their files into a copy of the previous build (target: under 5 %), and the
   floor under both: writing the same changed files and nothing else;
3. peak memory of each (Python heap by tracemalloc, and the process's maximum RSS).
The reference's bytes are checked to equal bulletin's, so both build the same documents.
"""

from __future__ import annotations

import gc
import json
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from lxml import etree

from bulletin.config import Config, parse_config
from bulletin.feeds import (
    FeedEntry,
    FeedSpec,
    build_files,
    feed_date,
    newest_first,
    plan_feeds,
    prepare_entry,
)
from bulletin.files import WriteBatch
from bulletin.model import Category, Item, Site, paragraphs_to_html
from bulletin.pipeline import RunContext, feed_categories, publish_feeds
from bulletin.store import Store

ITEMS = 100_000
CATEGORIES = 50
PER_DAY = 20
LIMIT = 50
RUNS = 5
ATOM = "http://www.w3.org/2005/Atom"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
DC = "http://purl.org/dc/elements/1.1/"
WORDS = tuple(
    str.split(
        "the council harbour ferry coalition school budget road lane winter spring market library "
        "mayor residents survey bridge water power street park hearing district crossing volunteers"
    )
)
ARABIC = tuple(
    str.split("افتتحت البلدية اليوم مكتبة عامة جديدة في وسط المدينة تفتح أبوابها كل يوم")
)


def make_items(
    rng: random.Random, categories: Sequence[Category], first: int, count: int
) -> list[Item]:
    """``count`` items, ``PER_DAY`` a day from 2012 on; a third untitled, one in twenty Arabic."""
    start = datetime(2012, 1, 1, 6, tzinfo=UTC)
    items = []
    for n in range(first, first + count):
        moment = start + timedelta(days=n // PER_DAY, minutes=(n % PER_DAY) * 37)
        arabic = rng.random() < 0.05
        words = ARABIC if arabic else WORDS
        paragraphs = tuple(
            " ".join(rng.choice(words) for _ in range(rng.randint(25, 70))) + "."
            for _ in range(rng.randint(2, 4))
        )
        untitled = rng.random() < 0.33
        items.append(
            Item(
                id=f"{n:020x}",
                day=moment.date(),
                published=moment,
                category=rng.choice(categories),
                title="" if untitled else " ".join(paragraphs[0].split()[:8]).capitalize(),
                paragraphs=paragraphs,
                body_html=paragraphs_to_html(paragraphs),
                source=rng.choice(["City desk", "Harbour Authority", None]),
                language="ar" if arabic else "en",
                direction="rtl" if arabic else "ltr",
                title_derived=untitled,
            )
        )
    return items


def configure(
    root: Path, store_url: str, feeds_dir: Path, categories: Sequence[Category]
) -> Config:
    names = "".join(f"  - name: {c.name}\n" for c in categories)
    text = (
        "site:\n  title: Bench Daily\n  base_url: https://news.example.org/\n"
        f"categories:\n{names}store:\n  url: {store_url}\n"
        f"feeds:\n  dir: {feeds_dir}\n  max_items: {LIMIT}\n"
    )
    return parse_config(text, "bench.yaml", root)


# --- the reference: the same documents, straight from lxml and json -----------------------


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def reference_rss(spec: FeedSpec, entries: Sequence[FeedEntry]) -> bytes:
    site = spec.site
    rss = etree.Element("rss", version="2.0", nsmap={"dc": DC, "atom": ATOM, "content": CONTENT})
    channel = _sub(rss, "channel")
    _sub(channel, "title", spec.title)
    _sub(channel, "link", site.url(""))
    _sub(channel, "description", spec.description)
    _sub(channel, f"{{{ATOM}}}link", href=spec.url("rss"), rel="self", type="application/rss+xml")
    _sub(channel, "docs", "http://www.rssboard.org/rss-specification")
    _sub(channel, "generator", "bulletin")
    _sub(channel, "language", site.language)
    _sub(channel, "lastBuildDate", format_datetime(feed_date(entries)))
    for entry in entries:
        item = _sub(channel, "item")
        _sub(item, "title", entry.title)
        _sub(item, "link", entry.link)
        if entry.summary:
            _sub(item, "description", _escape(entry.summary))
        _sub(item, f"{{{CONTENT}}}encoded", entry.html)
        _sub(item, "guid", entry.id, isPermaLink="false")
        _sub(item, "category", entry.category_label)
        _sub(item, "pubDate", format_datetime(entry.published))
        _sub(item, f"{{{DC}}}creator", entry.author)
    data: bytes = etree.tostring(
        etree.ElementTree(rss), pretty_print=True, encoding="UTF-8", xml_declaration=True
    )
    return data


def reference_atom(spec: FeedSpec, entries: Sequence[FeedEntry]) -> bytes:
    site = spec.site
    feed = etree.Element("feed", xmlns=ATOM)
    feed.set("{http://www.w3.org/XML/1998/namespace}lang", site.language)
    _sub(feed, "id", spec.id)
    _sub(feed, "title", spec.title)
    _sub(feed, "updated", feed_date(entries).isoformat())
    _sub(_sub(feed, "author"), "name", site.title)
    _sub(feed, "link", href=spec.url("atom"), rel="self", type="application/atom+xml")
    _sub(feed, "link", href=site.url(""), rel="alternate", type="text/html")
    _sub(feed, "generator", "bulletin")
    _sub(feed, "subtitle", spec.description)
    for entry in entries:
        element = _sub(feed, "entry")
        if entry.language != site.language:
            element.set("{http://www.w3.org/XML/1998/namespace}lang", entry.language)
        _sub(element, "id", entry.id)
        _sub(element, "title", entry.title)
        _sub(element, "updated", entry.updated.isoformat())
        _sub(_sub(element, "author"), "name", entry.author)
        _sub(element, "content", entry.html, type="html")
        _sub(element, "link", href=entry.link)
        if entry.summary:
            _sub(element, "summary", entry.summary)
        _sub(element, "category", term=entry.category_term, label=entry.category_label)
        _sub(element, "published", entry.published.isoformat())
    data: bytes = etree.tostring(
        etree.ElementTree(feed), pretty_print=True, encoding="UTF-8", xml_declaration=True
    )
    return data


def reference_json(spec: FeedSpec, entries: Sequence[FeedEntry]) -> bytes:
    site = spec.site

    def dump(value: object) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))

    head = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": spec.title,
        "home_page_url": site.url(""),
        "feed_url": spec.url("json"),
        "description": spec.description,
        "language": site.language,
        "authors": [{"name": site.title}],
    }
    items = []
    for entry in entries:
        item: dict[str, object] = {"id": entry.id, "url": entry.link, "title": entry.title}
        item["content_html"] = entry.html
        if entry.summary:
            item["summary"] = entry.summary
        item["date_published"] = entry.published.isoformat()
        item["date_modified"] = entry.updated.isoformat()
        item["authors"] = [{"name": entry.author}]
        item["tags"] = [entry.category_label]
        if entry.language != site.language:
            item["language"] = entry.language
        items.append("    " + dump(item))
    lines = ["{", *(f"  {dump({k: v})[1:-1]}," for k, v in head.items()), '  "items": [']
    return ("\n".join(lines) + "\n" + ",\n".join(items) + "\n  ]\n}\n").encode()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def reference_build(config: Config, feeds_items: dict[str, list[Item]]) -> dict[str, bytes]:
    """Every feed's files from items in memory: prepare once per item, serialise with lxml."""
    site = RunContext(config).site
    specs = plan_feeds(site, _categories_of(feeds_items), RunContext(config).feeds.paths)
    prepared: dict[str, FeedEntry] = {}
    files = {}
    for spec in specs:
        entries = newest_first(_entries(site, feeds_items[spec.slug], prepared))[:LIMIT]
        files[spec.path("rss")] = reference_rss(spec, entries)
        files[spec.path("atom")] = reference_atom(spec, entries)
        files[spec.path("json")] = reference_json(spec, entries)
    return files


def bulletin_from_memory(config: Config, feeds_items: dict[str, list[Item]]) -> None:
    """bulletin's own build (prepare, feedgen, JSON, records) of the same in-memory items."""
    site = RunContext(config).site
    prepared: dict[str, FeedEntry] = {}
    for spec in plan_feeds(site, _categories_of(feeds_items), RunContext(config).feeds.paths):
        build_files(spec, _entries(site, feeds_items[spec.slug], prepared), LIMIT)


def _entries(site: Site, items: Sequence[Item], prepared: dict[str, FeedEntry]) -> list[FeedEntry]:
    """The items' entries, each prepared once however many feeds hold it."""
    entries = []
    for item in items:
        entry = prepared.get(item.id)
        if entry is None:
            entry = prepared[item.id] = prepare_entry(site, item)
        entries.append(entry)
    return entries


def _categories_of(feeds_items: dict[str, list[Item]]) -> list[Category]:
    return [items[0].category for slug, items in feeds_items.items() if slug != "all" and items]


# --- measuring ------------------------------------------------------------------------------


def timed(
    run: Callable[[], object], runs: int = RUNS, before: Callable[[], None] | None = None
) -> float:
    """Median seconds of ``runs`` calls, after a warm-up call."""
    times = []
    for index in range(runs + 1):
        if before is not None:
            before()
        gc.collect()
        start = time.perf_counter()
        run()
        if index:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak(run: Callable[[], object], before: Callable[[], None] | None = None) -> float:
    """Peak Python heap in MB while ``run`` runs."""
    if before is not None:
        before()
    gc.collect()
    tracemalloc.start()
    run()
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return top / 1e6


def main() -> int:
    rng = random.Random(2024)
    categories = [Category(f"category-{n:02d}", f"Category {n:02d}") for n in range(CATEGORIES)]
    with tempfile.TemporaryDirectory(prefix="bulletin-bench-") as scratch:
        root = Path(scratch)
        store_url = f"sqlite:///{root / 'bench.db'}"
        live, twin = root / "live", root / "twin"
        config = configure(root, store_url, live, categories)
        twin_config = configure(root, store_url, twin, categories)
        store = Store.open(store_url)
        try:
            started = time.perf_counter()
            archive = make_items(rng, categories, 0, ITEMS)
            store.save_items(archive, "bench", datetime.now(UTC))
            del archive  # a publishing process does not hold the archive in memory
            print(f"store: {ITEMS:,} items in {CATEGORIES} categories, filled in "
                  f"{time.perf_counter() - started:.0f} s")  # fmt: skip

            # 1. full build (bytes only) against the lxml reference from memory
            slugs = ["all", *(c.slug for c in feed_categories(RunContext(config), store))]
            in_memory = {
                slug: store.latest_items(LIMIT, None if slug == "all" else slug) for slug in slugs
            }
            reference = reference_build(config, in_memory)
            report = publish_feeds(RunContext(config), store, dry_run=True)
            assert len(report.written) == len(reference) + 2, "the builds differ in files"
            publish_feeds(RunContext(config), store)
            for name, data in reference.items():
                assert (live / name).read_bytes() == data, f"{name} differs from the reference"
            t_full = timed(lambda: publish_feeds(RunContext(config), store, dry_run=True))
            t_reference = timed(lambda: reference_build(config, in_memory))
            t_memory = timed(lambda: bulletin_from_memory(config, in_memory))
            t_categories = timed(lambda: store.categories())
            t_reads = timed(
                lambda: [store.latest_items(LIMIT, s if s != "all" else None) for s in slugs]
            )
            m_full = peak(lambda: publish_feeds(RunContext(config), store, dry_run=True))
            m_reference = peak(lambda: reference_build(config, in_memory))

            # 2. a new day: incremental (in the live folder) against full (in its twin)
            pristine = root / "pristine"
            shutil.copytree(live, pristine)
            day = make_items(rng, categories, ITEMS, PER_DAY)
            new = store.save_items(day, "bench", datetime.now(UTC)).new
            touched = len({item.category.slug for item in new}) + 1

            def reset(folder: Path) -> Callable[[], None]:
                def restore() -> None:
                    shutil.rmtree(folder, ignore_errors=True)
                    shutil.copytree(pristine, folder)
                    # The copy is set-up: flush it now so the build's own flush does not pay.
                    os.sync()

                return restore

            t_incremental = timed(
                lambda: publish_feeds(RunContext(config), store, changed=new), before=reset(live)
            )
            t_full_write = timed(
                lambda: publish_feeds(RunContext(twin_config), store), before=reset(twin)
            )
            m_incremental = peak(
                lambda: publish_feeds(RunContext(config), store, changed=new), reset(live)
            )
            m_full_write = peak(lambda: publish_feeds(RunContext(twin_config), store), reset(twin))
            reset(live)()
            incremental = publish_feeds(RunContext(config), store, changed=new)
            # The floor of any build that changes these files: writing the same bytes alone.
            changed_files = [(path, path.read_bytes()) for path in incremental.written]

            def write_alone() -> None:
                with WriteBatch() as batch:
                    for path, data in changed_files:
                        batch.write_if_changed(path, data)

            t_writes = timed(write_alone, before=reset(live))
            reset(live)()
            incremental = publish_feeds(RunContext(config), store, changed=new)
            reset(twin)()
            full = publish_feeds(RunContext(twin_config), store)
            assert all(
                (live / p.name).read_bytes() == p.read_bytes()
                for p in twin.iterdir()
                if p.is_file()
            ), "the incremental build differs from the full one"
        finally:
            store.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    feeds_count = len(slugs)
    print(
        f"feeds: {feeds_count} ({LIMIT} newest items each) x 3 formats, "
        "plus index.opml and index.html"
    )
    print()
    print(f"{'':44}{'time':>9}{'peak heap':>11}   ratio")
    rows = [
        ("full build, bulletin, store reads included", t_full, m_full,
         f"{t_full / t_reference:.2f}x the reference (target <= 1.5x)"),
        ("  of it: store.categories()", t_categories, None, f"{t_categories / t_full:.0%} of it"),
        (f"  of it: {feeds_count} x store.latest_items({LIMIT})", t_reads, None,
         f"{t_reads / t_full:.0%} of it"),
        ("full build, bulletin, items in memory", t_memory, None,
         f"{t_memory / t_reference:.2f}x the reference"),
        ("full build, lxml reference, items in memory", t_reference, m_reference, ""),
        ("full build writing files (new day)", t_full_write, m_full_write,
         f"{len(full.written)} files written"),
        ("incremental build (new day of 20 items)", t_incremental, m_incremental,
         f"{t_incremental / t_full_write:.1%} of the full build (target < 5%)"),
        ("  of it: writing its files, nothing else", t_writes, None,
         f"{t_writes / t_full_write:.1%} of the full build ({len(changed_files)} files)"),
    ]  # fmt: skip
    for label, seconds, heap, ratio in rows:
        memory = f"{heap:8.1f} MB" if heap is not None else " " * 11
        print(f"{label:44}{seconds * 1e3:6.0f} ms{memory}   {ratio}")
    spliced, rebuilt = len(incremental.spliced), len(incremental.rebuilt)
    print(f"  incremental: {touched} of {feeds_count} feeds touched ({spliced} spliced, "
          f"{rebuilt} from the store), {len(incremental.written)} files written")  # fmt: skip
    print(f"process maximum RSS: {rss:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
