"""Collecting the feed sources: the due ones fetched side by side, each one's items and state
stored together.

Fetching is I/O-bound and a newsroom may follow hundreds of feeds, so the due sources are
fetched and read by a bounded pool of threads (``FETCH_WORKERS``), while the store is written
from the calling thread only, in the config's order. A source that fails is reported (see
``sources.feed_fetch``) and the others are still collected. ``bulletin collect URL`` reads one
feed by hand: no state is kept for it, and nothing is stored with ``--json --dry-run``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from bulletin.errors import InputProblem, SourceError
from bulletin.http_client import Client
from bulletin.model import FeedState
from bulletin.pipeline.context import RunContext, SourceSpec
from bulletin.sources import ReadResult
from bulletin.sources.feed_fetch import (
    REPORT_AFTER,
    failed,
    fetch_feed,
    fetch_problems,
    gone_note,
    is_due,
)
from bulletin.sources.feed_items import FeedSource, items_from_feed
from bulletin.sources.feed_reader import parse_feed
from bulletin.store import SaveReport, Store

FETCH_WORKERS = 8
_log = logging.getLogger("bulletin.sources")


@dataclass
class FeedRead:
    """One feed source in one collect: what it read, and the state it leaves."""

    source: SourceSpec
    state: FeedState
    result: ReadResult = field(default_factory=ReadResult)
    fetched: bool = False


@contextmanager
def feed_client(ctx: RunContext) -> Iterator[Client]:
    """An HTTP client that names bulletin and the site to the servers it asks."""
    client = Client(ctx.user_agent)
    try:
        yield client
    finally:
        client.close()


def read_feeds(
    ctx: RunContext, store: Store, now: datetime, workers: int = FETCH_WORKERS
) -> list[FeedRead]:
    """Fetch and read every feed source that is due, side by side, in the config's order."""
    specs = [spec for spec in ctx.sources if spec.feed is not None]
    if not specs:
        return []
    known = store.feed_states.all()
    reads = [FeedRead(spec, _state_for(spec.feed, known.get(spec.name))) for spec in specs]
    due = [read for read in reads if is_due(read.state, now)]
    with feed_client(ctx) as client, ThreadPoolExecutor(max(1, min(workers, len(due)))) as pool:
        for read, (state, result) in zip(
            due, pool.map(lambda r: _guarded(client, r, now), due), strict=True
        ):
            read.state, read.result, read.fetched = state, result, True
    for read in reads:
        if read.state.gone and not read.fetched:
            assert read.source.feed is not None
            note = gone_note(read.source.feed, read.state, read.source.shown)
            read.result = ReadResult(problems=(note,))
    return reads


def save_feed(store: Store, read: FeedRead, now: datetime, dry_run: bool) -> SaveReport:
    """Store a feed's items and state together (compare only, in a dry run)."""
    items = read.result.items
    if dry_run:
        return store.feed_states.preview(items, now) if items else SaveReport()
    if not read.fetched:
        return SaveReport()
    if not items:
        store.feed_states.save(read.state)
        return SaveReport()
    return store.feed_states.save_with_items(read.state, items, read.source.name, now)


def _state_for(source: FeedSource | None, stored: FeedState | None) -> FeedState:
    """The stored state, unless the config now names another address: then a fresh one."""
    assert source is not None
    if stored is None or stored.url != source.url:
        return FeedState(source.name, source.url)
    return stored


def _guarded(client: Client, read: FeedRead, now: datetime) -> tuple[FeedState, ReadResult]:
    """``_fetch_and_read``, a bug in it costing this source its collect, not the others'."""
    try:
        return _fetch_and_read(client, read, now)
    except Exception as error:
        _log.exception("feed source failed", extra={"fields": {"source": read.source.name}})
        assert read.source.feed is not None
        why = f"unexpected {type(error).__name__}: {error}"
        state = failed(read.state, read.source.feed, why, now)
        message = f"source {read.source.name}: {why} (a bug: run with --debug and report it)"
        return state, ReadResult(problems=(InputProblem(read.source.shown, None, message),))


def _fetch_and_read(client: Client, read: FeedRead, now: datetime) -> tuple[FeedState, ReadResult]:
    source, shown, old = read.source.feed, read.source.shown, read.state
    assert source is not None
    fetch = fetch_feed(client, source, old, now)
    moved = bool(fetch.moved_from)
    if fetch.body is None:
        problems = fetch_problems(source, old, fetch.state, shown, moved)
        return _logged(read, fetch.state), ReadResult(problems=tuple(problems))
    try:
        parsed = parse_feed(fetch.body, fetch.url, fetch.content_type)
    except SourceError as error:  # the body is no feed, or a hostile one: a failure like any
        why = error.message + (f" ({error.hint})" if error.hint else "")
        state = failed(old.with_updates(moved_to=fetch.state.moved_to), source, why, now)
        problems = fetch_problems(source, old, state, shown, moved)
        return _logged(read, state), ReadResult(problems=tuple(problems))
    result = items_from_feed(parsed, source, read.source.settings, now, fetch.url)
    state = fetch.state.with_updates(items=len(parsed.entries))
    problems = fetch_problems(source, old, state, shown, moved)
    return state, ReadResult(result.items, (*problems, *result.problems))


def _logged(read: FeedRead, state: FeedState) -> FeedState:
    """The state, its failure logged when it is too early in a row to be reported."""
    if 0 < state.failures < REPORT_AFTER:
        fields = {"source": read.source.name, "error": state.message, "failures": state.failures}
        _log.warning("feed fetch failed", extra={"fields": fields})
    return state


def read_url(ctx: RunContext, url: str, now: datetime) -> tuple[str, ReadResult]:
    """``bulletin collect URL``: one feed fetched in full and read, with a configured source's
    settings when one has that address; (the name its items are stored under, what was read)."""
    spec = next(
        (s for s in ctx.sources if s.feed is not None and url in (s.feed.url, s.shown)), None
    )
    source = spec.feed if spec is not None and spec.feed else FeedSource(url, url)
    settings = spec.settings if spec is not None else ctx.read_settings()
    with feed_client(ctx) as client:
        fetch = fetch_feed(client, source, FeedState(source.name, url), now)
    if fetch.body is None:
        message = fetch.state.message or "no body in the answer"
        return source.name, ReadResult(problems=(InputProblem(url, None, message),))
    try:
        parsed = parse_feed(fetch.body, fetch.url, fetch.content_type)
    except SourceError as error:
        why = error.message + (f" ({error.hint})" if error.hint else "")
        return source.name, ReadResult(problems=(InputProblem(url, None, why),))
    return source.name, items_from_feed(parsed, source, settings, now, fetch.url)


def looks_like_url(text: str) -> bool:
    """Whether a command-line argument is a feed's address rather than a path."""
    return text.startswith(("http://", "https://"))


@dataclass(frozen=True)
class SourceRow:
    """One configured source as `bulletin sources` lists it."""

    name: str
    kind: str
    where: str  # its url (where a feed now lives, if it moved) or path
    last: datetime | None  # a feed's last fetch; a file's last item stored
    status: str
    next_check: datetime | None  # None: at every collect (files) or never (a gone feed)
    items: int  # stored from this source
    message: str = ""

    @property
    def needs_a_look(self) -> bool:
        """Whether an operator should act: gone, missing, or failing for a while."""
        return self.status in ("gone", "missing") or self.message.startswith("failing")


def source_rows(ctx: RunContext) -> list[SourceRow]:
    """Every configured source with its last fetch, its status and its next check."""
    with ctx.open_store(dry_run=True) as store:
        counts = store.source_counts()
        states = store.feed_states.all()
    rows = []
    for spec in ctx.sources:
        stored, last_item = counts.get(spec.name, (0, None))
        if spec.feed is None:
            present = spec.shown == "-" or spec.path.exists()
            status = "ok" if present else "missing"
            rows.append(
                SourceRow(spec.name, spec.kind, spec.shown, last_item, status, None, stored)
            )
            continue
        state = _state_for(spec.feed, states.get(spec.name))
        message = state.message
        if state.failures >= REPORT_AFTER:
            message = f"failing: {state.failures} in a row: {message}"
        rows.append(
            SourceRow(
                spec.name,
                spec.kind,
                state.fetch_url,
                state.last_fetch,
                state.status,
                state.next_check,
                stored,
                message,
            )
        )
    return rows


def reset_source(ctx: RunContext, name: str) -> bool:
    """Forget what bulletin knew of a feed source, so the next collect fetches it afresh."""
    if not any(spec.name == name and spec.feed is not None for spec in ctx.sources):
        raise SourceError(
            f'no feed source is named "{name}"',
            hint="`bulletin sources` lists them; only a feed source has a state to reset",
        )
    with ctx.open_store() as store:
        return store.feed_states.reset(name)
