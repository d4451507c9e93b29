"""What the tests build for themselves: sites, categories and items, a clock they move, and
deployments (a folder with a config.yaml and a store beside it); and the bulletin command
run in a subprocess, for the end-to-end tests (each marked slow).

These are plain functions for tests that call them with arguments; conftest.py wraps the
common cases in fixtures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, update

from bulletin.config import Config, load_config
from bulletin.model import (
    Category,
    Delivery,
    Item,
    Outcome,
    Site,
    direction_for,
    paragraphs_to_html,
)
from bulletin.store import ListEntry, Store, ledger, senders

DAY = date(2024, 3, 1)
NOW = datetime(2024, 3, 1, 18, 0, tzinfo=UTC)  # the evening of DAY, when its digest goes out
LOCAL = Category("local-news", "Local News")
WORLD = Category("world", "World")
ARABIC = Category("arabic-news", "أخبار")


# --- sites and items -------------------------------------------------------------------------


def make_site(language: str = "en", title: str = "Daily Bugle") -> Site:
    """A site served at https://news.example.org/."""
    return Site(
        title=title,
        description="The day's news.",
        base_url="https://news.example.org/",
        language=language,
        timezone="UTC",
    )


def make_item(
    item_id: str,
    hour: int = 9,
    *,
    minute: int = 0,
    day: date = DAY,
    zone: tzinfo = UTC,
    category: Category = LOCAL,
    title: str | None = None,
    paragraphs: tuple[str, ...] = ("A first paragraph.", "A second one."),
    language: str = "en",
    source: str | None = "City desk",
    updated: datetime | None = None,
) -> Item:
    """An item published on ``day`` at ``hour``:``minute`` in ``zone`` (UTC unless told)."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
    return Item(
        id=item_id,
        day=day,
        published=midnight + timedelta(hours=hour, minutes=minute),
        category=category,
        title=f"Item {item_id}" if title is None else title,
        paragraphs=paragraphs,
        body_html=paragraphs_to_html(paragraphs),
        source=source,
        language=language,
        direction=direction_for(language),
        updated=updated,
    )


def arabic_item(item_id: str, hour: int = 8) -> Item:
    """An Arabic item: right to left, with an emoji."""
    return make_item(
        item_id,
        hour,
        category=ARABIC,
        title="افتتاح مكتبة جديدة في المدينة",
        paragraphs=("افتتحت البلدية اليوم مكتبة عامة جديدة 📚.", "تفتح أبوابها كل يوم."),
        language="ar",
        source="مكتب المدينة",
    )


def edge_case_items() -> list[Item]:
    """Items that break careless feed generators, each in a category of its own kind.

    Arabic text, emoji, an HTML-looking title, ampersands, control characters, a very long
    body, no title, relative links, script and event handlers, twice-escaped references.
    """
    long_paragraphs = tuple(f"Paragraph {n}: " + "the council met again " * 60 for n in range(90))
    risky = make_item("risky", 6, title="Links & scripts", category=WORLD)
    return [
        arabic_item("ar", 10),
        make_item("emoji", 9, title="Harbour reopens 🚢🎉 after the storm", category=WORLD),
        make_item("markup", 8, title="<b>Winter timetable</b> starts Monday & runs until March"),
        make_item("amp", 8, title="Fish &amp; Chips, AT&T & R&D: Q&A &amp;amp; more"),
        make_item(
            "ctrl", 7, title="Bell\x07 rings\x0b twice\x00", paragraphs=("Ding\x1b dong\x0c.",)
        ),
        make_item("long", 7, title="The council's long session", paragraphs=long_paragraphs),
        make_item(
            "untitled",
            6,
            title="",
            paragraphs=(
                "Power is back in the old town 🎉 after a night without light. More soon.",
            ),
        ),
        risky.with_updates(
            body_html=(
                '<p onclick="steal()">See <a href="/budget/2027">the budget</a>, '
                '<a href="javascript:alert(1)">this</a> and <img src="img/map.png" alt="map">'
                '<a href="#note">a note</a>.</p><script>steal()</script>'
                '<style>p{}</style><iframe src="https://evil.example/"></iframe>'
                '<p style="color:red">Red</p>'
            )
        ),
        make_item("summary-markup", 5, paragraphs=('Notices read "<b>Winter</b> &amp; more".',)),
    ]


# --- time ------------------------------------------------------------------------------------


class Clock:
    """A clock the test moves (``clock.now += timedelta(...)``), never waits for."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# --- deployments -----------------------------------------------------------------------------


class _Database:
    """The store URL of the running test when it runs on each database (set by the
    ``database`` fixture); None: a SQLite file in the deployment's folder."""

    url: str | None = None


DATABASE = _Database()


def make_deployment(
    folder: Path,
    *,
    zone: str | None = None,
    categories: Sequence[str] = ("Local News", "World"),
    readers: Iterable[str] = (),
    smtp_port: int | None = None,
    **sections: dict[str, Any],
) -> Config:
    """Write ``folder``/config.yaml for the Daily Bugle and load it.

    Its digest comes from news@example.org and goes to ``readers`` (besides whoever is on the
    store's list): into the outbox, or with ``smtp_port`` to a plain SMTP server on
    127.0.0.1 that gets 5 seconds to answer. ``zone`` is the site's time zone (default UTC).
    Each of ``sections`` (``delivery={"retry_limit": 3}``, ``schedule={...}``,
    ``store={"url": "sqlite://"}``, ...) is merged key by key over what this writes. The
    store is the test's database when it runs on each (the ``database`` fixture), else
    ``folder``/var/bulletin.db, unless told otherwise; nothing is written to it.
    """
    site: dict[str, Any] = {"title": "Daily Bugle", "base_url": "https://news.example.org/"}
    if zone is not None:
        site["timezone"] = zone
    delivery: dict[str, Any] = {"from_address": "news@example.org"}
    recipients = [{"address": address} for address in readers]
    if recipients:
        delivery["recipients"] = recipients
    if smtp_port is not None:
        smtp = {"host": "127.0.0.1", "port": smtp_port, "security": "none", "timeout": 5}
        delivery["smtp"] = smtp
    base: dict[str, Any] = {
        "site": site,
        "categories": [{"name": name} for name in categories],
        "delivery": delivery,
    }
    if DATABASE.url is not None:
        base["store"] = {"url": DATABASE.url}
    config = _merged(base, sections)
    path = folder / "config.yaml"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")  # JSON is YAML
    return load_config(path)


def _merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` laid over it, mappings merged key by key."""
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def save_items(config: Config, items: Sequence[Item], now: datetime = NOW) -> None:
    """Store ``items`` as collected at ``now`` by a source called "test"."""
    with Store.open(config.store_url) as store:
        store.save_items(list(items), "test", now)


def subscribe(config: Config, entries: Iterable[ListEntry | str], now: datetime = NOW) -> None:
    """Put ``entries`` (or plain addresses) on the store's mailing list at ``now``."""
    listed = [ListEntry(e) if isinstance(e, str) else e for e in entries]
    with Store.open(config.store_url) as store:
        store.recipients.merge(listed, now)


def statuses(config: Config) -> dict[str, str]:
    """Every address on the store's list with its status."""
    with Store.open(config.store_url) as store:
        return {s.address: s.status for s in store.recipients.each()}


def bounce_token(config: Config, address: str, day: date = DAY) -> str:
    """The bounce token of ``address``'s digest of ``day``, as a send signs it."""
    from bulletin import delivery, pipeline

    with Store.open(config.store_url) as store:
        recipient = store.recipients.get(address)
        assert recipient is not None and recipient.link_id is not None
        key = pipeline.RunContext(config).unsubscribe_key(store)
    token = delivery.sign_bounce(key, recipient.link_id, day)
    assert token is not None
    return token


def store_at_version(url: str, version: int) -> Store:
    """A store (not upgraded) whose schema is at ``version``: migrations 1 to ``version``.

    Tables are declared with every version's columns: a test drops what came later.
    """
    from sqlalchemy import insert

    from bulletin.store import MIGRATIONS, metadata, schema_version

    old = Store(url)
    with old.engine.begin() as connection:
        metadata.drop_all(connection)  # a PostgreSQL test database comes with today's schema
        schema_version.create(connection)
        for number, _, migrate in MIGRATIONS[:version]:
            migrate(connection)
            connection.execute(insert(schema_version).values(version=number, applied=NOW))
    return old


def crashed_send(
    store: Store, claimed: Sequence[Delivery], sent: Sequence[Outcome], now: datetime
) -> None:
    """What a sender that died mid-send leaves: ``claimed`` rows claimed, ``sent`` recorded.

    On PostgreSQL also its registration, with a heartbeat long stale, so that the next
    sender to look takes it for dead.
    """
    if not store.shared:
        store.ledger.apply([], claimed, now)
        store.ledger.apply(sent, [], now)
        return
    c = ledger.c
    long_ago = datetime(2000, 1, 1, tzinfo=UTC)  # stale whatever the database's clock says
    with store.engine.begin() as connection:
        values = {"host": "crashed", "pid": 0, "command": "send", "started": long_ago}
        sender = connection.execute(
            insert(senders).values(heartbeat=long_ago, **values).returning(senders.c.id)
        ).scalar_one()
        for row in claimed:
            connection.execute(
                update(ledger)
                .where(c.day == row.day, c.address == row.address)
                .values(status="sending", attempts=c.attempts + 1, sender_id=sender, changed=now)
            )
        for outcome in sent:
            connection.execute(
                update(ledger)
                .where(c.day == outcome.day, c.address == outcome.address)
                .values(
                    status=outcome.status,
                    reply=outcome.reply,
                    sent=now,
                    changed=now,
                    message_id=outcome.message_id,
                    transport=outcome.transport,
                )
            )


# --- the bulletin command --------------------------------------------------------------------

BULLETIN = str(Path(sys.executable).with_name("bulletin"))


class _Subprocesses:
    """Whether the running test is marked slow: only such tests may start the command."""

    allowed = True


SUBPROCESSES = _Subprocesses()


def _environment() -> dict[str, str]:
    """This environment without BULLETIN_CONFIG, so that the folder's config.yaml is read."""
    return {k: v for k, v in os.environ.items() if k != "BULLETIN_CONFIG"}


def run_bulletin(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``bulletin ARGS`` in ``folder`` to its end, its output captured."""
    _check_marked()
    return subprocess.run(
        [BULLETIN, *args],
        cwd=folder,
        env=_environment(),
        capture_output=True,
        text=True,
        check=False,
    )


def start_bulletin(folder: Path, *args: str) -> subprocess.Popen[str]:
    """Start ``bulletin ARGS`` in ``folder``, its output piped; the test stops it."""
    _check_marked()
    return subprocess.Popen(
        [BULLETIN, *args],
        cwd=folder,
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _check_marked() -> None:
    # `pytest -m "not slow"` is the quick run: a test that starts the command must say it.
    assert SUBPROCESSES.allowed, "a test that runs bulletin in a subprocess must be marked slow"


# --- tools -----------------------------------------------------------------------------------


def require_tool(available: bool, what: str, setup: str = "digest.sh") -> None:
    """Skip the calling test, loudly, when a tool it needs is missing; fail instead under CI=true.

    The tools (chromium, java with vnu.jar, spamassassin; dovecot; PostgreSQL's server) are
    installed by .ci/setup.d/*.sh (``setup`` names the one).
    """
    if available:
        return
    message = f"{what} is missing: run .ci/setup.d/{setup} as root to install it"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true, so this test may not be skipped)")
    warnings.warn(f"SKIPPED: {message}", stacklevel=2)
    pytest.skip(f"SKIPPED LOUDLY: {message}")


# --- the readers' web application ------------------------------------------------------------


@contextmanager
def served(app: Any, request_seconds: float | None = None) -> Iterator[tuple[str, int]]:
    """``app`` under bulletin's web server on a free loopback port for the block; its address."""
    from bulletin import web

    limits = {} if request_seconds is None else {"request_seconds": request_seconds}
    server = web.WebServer(app, "127.0.0.1", 0, **limits)
    server.start()
    try:
        yield server.address
    finally:
        server.shutdown()


class ReaderSite:
    """A deployment's web application served on 127.0.0.1 with the test's clock, and a client
    that speaks to it as a browser on its pages would (Origin: the site's own)."""

    def __init__(self, config: Config, clock: Clock) -> None:
        from bulletin import pipeline, web

        self.config, self.clock = config, clock
        ctx = pipeline.RunContext(config)
        readers = web.ReaderRoutes(
            pipeline.SignupDesk(ctx, clock),
            pipeline.Preferences(ctx, clock),
            pipeline.Pages(ctx),
            ctx.web.public_url,
        )
        site = web.Site(ctx.site.title)
        app = web.create_app(pipeline.Unsubscriber(ctx, clock), site, None, readers)
        self.server = web.WebServer(app, "127.0.0.1", 0, request_seconds=2.0)
        self.server.start()
        self.host, self.port = self.server.address
        self.origin = f"http://{self.host}:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        fields: dict[str, Any] | None = None,
        headers: dict[str, str | None] | None = None,
    ) -> tuple[int, str, dict[str, str]]:
        """One request: its status, body and headers. ``fields`` go as a urlencoded form; a
        header given as None is not sent (``{"Origin": None}``)."""
        import http.client
        from urllib.parse import urlencode

        body = None if fields is None else urlencode(fields, doseq=True)
        sent = {"Origin": self.origin} if method == "POST" else {}
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        sent.update(headers or {})
        sent = {name: value for name, value in sent.items() if value is not None}
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            text = response.read().decode()
            return response.status, text, {k.lower(): v for k, v in response.getheaders()}
        finally:
            connection.close()

    def stop(self) -> None:
        self.server.shutdown()


def outbox_mail(config: Config, count: int = 0) -> list[Any]:
    """The messages in the deployment's outbox, parsed, oldest first, once there are at least
    ``count`` (the web sends them after its answer; 5 seconds at most) and a moment more."""
    import time
    from email import message_from_bytes, policy

    folder = config.path(config.delivery.outbox) / "new"
    deadline = time.monotonic() + 5
    while count and time.monotonic() < deadline:
        if folder.is_dir() and len(list(folder.iterdir())) >= count:
            break
        time.sleep(0.02)
    time.sleep(0.2)  # room for one more than expected to show
    files = list(folder.iterdir()) if folder.is_dir() else []
    files.sort(key=lambda p: p.stat().st_mtime_ns)
    return [message_from_bytes(p.read_bytes(), policy=policy.default) for p in files]


def preferences_path(config: Config, address: str, expires: datetime | None = None) -> str:
    """The path of ``address``'s own preferences page, as their digest links it."""
    from bulletin import delivery, pipeline

    with Store.open(config.store_url) as store:
        recipient = store.recipients.get(address)
        assert recipient is not None and recipient.link_id is not None
        key = pipeline.RunContext(config).unsubscribe_key(store)
    until = expires or NOW + timedelta(days=30)
    token = delivery.sign_stamped(key, delivery.PREFERENCES, recipient.link_id, until)
    return f"/preferences?token={token}"
