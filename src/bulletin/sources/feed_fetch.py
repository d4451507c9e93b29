"""Fetching a feed source politely, and what its state becomes after each answer.

A fetch sends the validators of the last one (``If-None-Match``, ``If-Modified-Since``) unless
the source is told to ``ignore_cache``, and once a day asks for the whole feed anyway: servers
answer 304 wrongly, or keep a stale Last-Modified (FreshRSS #1020, #1680; Miniflux PR #680). A
200 whose bytes hash as the last body's is unchanged and costs no parsing (a server whose ETag
changes while nothing else does, Miniflux #2675). A move is remembered only when every redirect
hop was permanent (301, 308); 410 disables the source; 429 and 503 wait as ``Retry-After`` says;
other failures wait longer each time in a row, and are reported from the third on. What an
answer does to the state is decided here; the pipeline stores it with the items.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http import HTTPStatus

from bulletin.errors import InputProblem
from bulletin.http_client import PERMANENT, Client, HttpError, Limits, Response
from bulletin.model import FeedState
from bulletin.sources.feed_items import FeedSource

FULL_FETCH_EVERY = timedelta(days=1)
BACKOFF_FIRST = timedelta(minutes=5)
BACKOFF_MAX = timedelta(days=1)
RETRY_AFTER_MAX = timedelta(days=1)
REPORT_AFTER = 3  # failures in a row before each one is reported
ACCEPT = (
    "application/atom+xml, application/rss+xml, application/feed+json, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)


@dataclass(frozen=True)
class Fetch:
    """One fetch: the state it leaves if its body reads well, and that body when it is new."""

    state: FeedState
    body: bytes | None = None  # None: nothing new to read (304, the same bytes, a failure)
    url: str = ""  # where the body came from, after redirects: relative URLs are against it
    content_type: str = ""
    moved_from: str | None = None  # the address this fetch found permanently moved


def is_due(state: FeedState, now: datetime) -> bool:
    """Whether the source should be fetched now: not gone, and its next check has come."""
    return not state.gone and (state.next_check is None or state.next_check <= now)


def conditional_headers(state: FeedState, source: FeedSource, now: datetime) -> dict[str, str]:
    """The validators to send, if the last whole body is recent enough to trust them."""
    recent = state.last_full is not None and now - state.last_full < FULL_FETCH_EVERY
    if source.ignore_cache or not recent or state.body_hash is None:
        return {}
    headers = {}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    return headers


def fetch_feed(client: Client, source: FeedSource, state: FeedState, now: datetime) -> Fetch:
    """Fetch the source once and decide what its state becomes."""
    conditional = conditional_headers(state, source, now)
    state = state.with_updates(last_fetch=now)
    limits = Limits(connect=min(10.0, source.timeout), total=source.timeout)
    try:
        response = client.get(state.fetch_url, {"Accept": ACCEPT, **conditional}, limits)
    except HttpError as error:
        return Fetch(failed(state, source, error.message, now))
    moved = bool(response.hops) and all(hop in PERMANENT for hop in response.hops)
    moved_from = state.fetch_url if moved and response.url != state.fetch_url else None
    if moved_from:
        state = state.with_updates(moved_to=response.url)
    status = response.status
    if status == 200:
        return _whole(state, source, response, now, moved_from)
    if status == 304 and conditional:
        etag = response.header("etag") or state.etag
        ok = _ok(state, source, now, "not modified").with_updates(etag=etag)
        return Fetch(ok, moved_from=moved_from)
    if status == 304:
        why = (
            "answered 304 Not Modified to a request for the whole feed (it sent no "
            "If-None-Match or If-Modified-Since): the server's cache is wrong"
        )
        return Fetch(failed(state, source, why, now), moved_from=moved_from)
    if status == 410:
        gone = state.with_updates(gone=True, status="gone", next_check=None, message=_said(status))
        return Fetch(gone, moved_from=moved_from)
    wait = retry_after(response, now) if status in (429, 503) else None
    return Fetch(failed(state, source, _said(status), now, wait), moved_from=moved_from)


def _whole(
    state: FeedState, source: FeedSource, response: Response, now: datetime, moved: str | None
) -> Fetch:
    digest = hashlib.sha256(response.body).hexdigest()
    unchanged = digest == state.body_hash
    new = _ok(state, source, now, "unchanged" if unchanged else "ok").with_updates(
        etag=response.header("etag"),
        last_modified=response.header("last-modified"),
        body_hash=digest,
        last_full=now,
    )
    body = None if unchanged else response.body
    return Fetch(new, body, response.url, response.header("content-type") or "", moved)


def _ok(state: FeedState, source: FeedSource, now: datetime, status: str) -> FeedState:
    return state.with_updates(
        status=status,
        message="",
        failures=0,
        last_ok=now,
        next_check=now + source.min_interval,
    )


def failed(
    state: FeedState,
    source: FeedSource,
    message: str,
    now: datetime,
    wait: timedelta | None = None,
) -> FeedState:
    """The state after a failed fetch (or an unreadable body): the next try later each time."""
    failures = state.failures + 1
    if wait is None:
        delay = min(max(source.min_interval, BACKOFF_FIRST * 2 ** (failures - 1)), BACKOFF_MAX)
    else:
        delay = max(source.min_interval, min(wait, RETRY_AFTER_MAX))
    return state.with_updates(
        status="throttled" if wait is not None else "failing",
        message=message,
        failures=failures,
        last_fetch=now,
        next_check=now + delay,
    )


def retry_after(response: Response, now: datetime) -> timedelta | None:
    """How long a 429 or 503 asks to wait (seconds or an HTTP date); None if it does not say."""
    value = (response.header("retry-after") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when - now, timedelta(0))


def _said(status: int) -> str:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "an unknown status"
    return f"the server answered {status} {phrase}"


def fetch_problems(
    source: FeedSource, old: FeedState, state: FeedState, shown: str, moved: bool = False
) -> list[InputProblem]:
    """What a fetch should tell the operator: a move, a disabled source, repeated failures."""
    problems = []
    if moved:
        problems.append(
            InputProblem(
                shown,
                None,
                f"source {source.name}: moved permanently to {state.moved_to}; fetched there "
                "from now on (put the new address in config.yaml)",
                skipped=False,
            )
        )
    if state.gone and not old.gone:
        problems.append(
            InputProblem(
                shown,
                None,
                f"source {source.name}: {state.message}: the feed was removed, so the source "
                "is disabled; give it a new url in config.yaml, or remove it",
            )
        )
    elif state.failures >= REPORT_AFTER:
        when = state.next_check.strftime("%Y-%m-%d %H:%M UTC") if state.next_check else "-"
        problems.append(
            InputProblem(
                shown,
                None,
                f"source {source.name}: {state.message} ({state.failures} failures in a row; "
                f"next try {when})",
            )
        )
    return problems


def gone_note(source: FeedSource, state: FeedState, shown: str) -> InputProblem:
    """The reminder that a source is disabled, given on each collect that passes it by."""
    since = state.last_fetch.strftime("%Y-%m-%d") if state.last_fetch else "earlier"
    return InputProblem(
        shown,
        None,
        f"source {source.name}: disabled since {since}, when {state.message}; give it a new "
        f"url in config.yaml, or try it again with `bulletin sources --reset {source.name}`",
        skipped=False,
    )
