"""Telling a WebSub hub that feeds changed: one publish ping per build that changed a feed.

With ``feeds.websub_hub`` set, every feed names the hub (``rel="hub"``), and after a build that
wrote a feed file bulletin POSTs ``hub.mode=publish`` with one ``hub.url`` per changed file, the
form hubs have accepted since PubSubHubbub 0.3 (WebSub leaves publishing to the hub). It runs on
a thread of its own and retries with a growing pause, so a slow or failing hub never delays the
digest; a ping that fails every attempt is logged, and the next changed build pings again (the
hub then fetches the feeds as they are). The thread is not a daemon: a `bulletin run` that ends
first still waits for its ping before the process exits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from bulletin.http_client import Client, HttpError, Limits
from bulletin.pipeline.context import RunContext
from bulletin.pipeline.publish import FeedsReport

FEED_KINDS = ("rss", "atom", "json")
ATTEMPTS = 3
PAUSE = 2.0  # seconds before the second attempt; doubled before each next one
LIMITS = Limits(connect=5.0, total=10.0, max_bytes=64 * 1024, max_redirects=0)
_log = logging.getLogger("bulletin.websub")


@dataclass
class Ping:
    """One publish ping to a hub, sent in the background."""

    hub: str
    topics: tuple[str, ...]
    attempts: int = 0
    outcome: str = "pending"  # pending, sent, failed: <why>
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    def wait(self, timeout: float | None = None) -> str:
        """Wait for the ping to be sent or to fail; its outcome."""
        self._done.wait(timeout)
        return self.outcome


def changed_topics(ctx: RunContext, report: FeedsReport) -> list[str]:
    """The URLs of the feed files a build wrote, the topics a hub is told of."""
    folder = ctx.feeds.folder
    return [
        ctx.site.url(file.path.relative_to(folder).as_posix())
        for file in report.files
        if file.status == "written" and file.kind in FEED_KINDS
    ]


def notify_hub(
    ctx: RunContext,
    report: FeedsReport | None,
    dry_run: bool = False,
    attempts: int = ATTEMPTS,
    pause: float | None = None,
) -> Ping | None:
    """Ping the hub, in the background, if there is one and the build changed a feed."""
    hub = ctx.feeds.hub
    if hub is None or report is None or dry_run:
        return None
    topics = changed_topics(ctx, report)
    if not topics:
        return None
    ping = Ping(hub, tuple(topics))
    worker = threading.Thread(
        target=_send,
        args=(ping, ctx.user_agent, attempts, PAUSE if pause is None else pause),
        name="websub-ping",
    )
    worker.start()
    return ping


def _send(ping: Ping, user_agent: str, attempts: int, pause: float) -> None:
    fields: Sequence[tuple[str, str]] = [("hub.mode", "publish")]
    fields = [*fields, *(("hub.url", topic) for topic in ping.topics)]
    why = ""
    try:
        with Client(user_agent, LIMITS) as client:
            for attempt in range(1, attempts + 1):
                ping.attempts = attempt
                try:
                    answer = client.post_form(ping.hub, fields)
                except HttpError as error:
                    why = error.message
                else:
                    if 200 <= answer.status < 300:
                        ping.outcome = "sent"
                        _log.info("websub hub told", extra={"fields": _fields(ping)})
                        return
                    why = f"the hub answered {answer.status}"
                    if 400 <= answer.status < 500 and answer.status != 429:
                        break  # it will not take this ping however often it is sent
                if attempt < attempts:
                    time.sleep(pause * 2 ** (attempt - 1))
        ping.outcome = f"failed: {why}"
        _log.warning("websub ping failed", extra={"fields": {**_fields(ping), "error": why}})
    finally:
        ping._done.set()


def _fields(ping: Ping) -> dict[str, object]:
    return {"hub": ping.hub, "topics": len(ping.topics), "attempts": ping.attempts}
