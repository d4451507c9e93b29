"""Sending a day's digest: each recipient gets it exactly once, through the ledger.

Under the store's sender lock (on a shared PostgreSQL store: registered among its senders,
with a heartbeat): the recipients of config.yaml join the list, rows a dead sender left
``sending`` become ``unknown``, the day's rows are planned, and the send loop works through
what is due, beside any other sender of the day. Each variant of the digest is frozen in the
store when its first copy goes out, so a send finished later (after a crash, or a new
collect), or by another sender, mails the same digest. With ``delivery.bounce_address``, each
message's envelope sender is its own VERP return path and its ``X-Bulletin-Bounce`` header the
same token; rows planned for suppressed addresses are held back, and recipients the server
refused count as bounces (``bounces``).
The step (``bulletin run``, ``serve``) and ``bulletin send`` share all of it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time

from bulletin import delivery, digest
from bulletin.errors import BulletinError
from bulletin.model import Delivery, Recipient
from bulletin.pipeline.bounces import count_refusals
from bulletin.pipeline.context import Clock, RunContext, system_clock
from bulletin.pipeline.digests import Digests
from bulletin.store import HELD, Issue, Store, normalize_address, parse_variant

Variant = Callable[[frozenset[str] | None, frozenset[str] | None], digest.RenderedDigest]


def all_sent(counts: Mapping[str, int]) -> bool:
    """Whether a day's ledger is complete: every row sent (the one place that decides it)."""
    return all(n == 0 for state, n in counts.items() if state != "sent")


@dataclass
class SendReport:
    """What one send did, and where the day's ledger stands after it."""

    day: date
    transport: str = ""
    destination: str = ""
    planned: int = 0  # rows added for recipients new to this day
    reaped: int = 0  # rows a dead sender left in flight, now unknown
    retried_unknown: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    unknown: int = 0
    refused: int = 0  # late outcomes refused: their rows were claimed again meanwhile
    paused: str = ""
    interrupted: bool = False
    counts: dict[str, int] = field(default_factory=dict)  # the day's ledger, by state
    held_back: list[str] = field(default_factory=list)  # planned, but on the suppression list
    bounced: int = 0  # recipients the server refused, newly counted as bounces

    @property
    def elsewhere(self) -> int:
        """Rows still held when this send ended, in flight or reserved: other senders' of a
        shared store (a send of its own leaves none)."""
        return sum(self.counts.get(state, 0) for state in HELD)

    @property
    def ok(self) -> bool:
        """Whether every row of the day is sent, or held by another sender."""
        mine = {state: n for state, n in self.counts.items() if state not in HELD}
        return not self.paused and all_sent(mine)


def send_rows(
    ctx: RunContext,
    store: Store,
    day: date,
    variant: Variant,
    *,
    retry_unknown: bool = False,
    plan: bool = True,
    progress: delivery.Progress | None = None,
    total: Callable[[int], None] | None = None,
    clock: Clock = system_clock,
) -> SendReport:
    """Plan the day's rows and send what is due, under the store's sender lock.

    With ``plan`` false, a day that already has rows only finishes them: an automatic retry
    of an old day's deferred copies must not mail that digest to people who subscribed since.
    """
    report = SendReport(day, ctx.transport, ctx.destination)
    settings = ctx.send
    timeout = ctx.leader_timeout
    with store.ledger.lock("send", timeout) as lease:
        now = clock()
        store.recipients.sync_config(list(ctx.recipients), now)
        store.recipients.fill_link_ids()  # no message may go out without its opaque link
        report.reaped = store.ledger.reap(now, timeout)
        if retry_unknown:
            report.retried_unknown = store.ledger.retry_unknown(day, now)
        if plan or not any(store.ledger.counts(day).values()):
            report.planned = store.ledger.plan(day, now)
        report.held_back = store.suppressions.hold_back(day, now)
        if total is not None:
            total(store.ledger.count_due(day, now))
        messages = Messages(ctx, store, day, variant, clock)
        channels = delivery.channels(settings.target, day)
        loop = delivery.SendLoop(
            store.ledger,
            messages.render,
            channels,
            settings.loop,
            clock,
            progress,
            envelope=messages.envelope if ctx.bounces.address else None,
        )
        tally = loop.run(day)
        for name in ("sent", "deferred", "failed", "unknown", "refused", "paused", "interrupted"):
            setattr(report, name, getattr(tally, name))
        if lease.lost:  # others took this sender for dead: its rows are theirs to finish
            report.paused = report.paused or (
                f"this sender was silent for {timeout:g} s (schedule.leader_timeout), so the "
                "others took it for dead; run the send again to finish"
            )
    report.bounced = count_refusals(ctx, store, day, clock)
    report.counts = store.ledger.counts(day)
    return report


def would_send(ctx: RunContext, store: Store, day: date) -> list[str]:
    """Who a send of ``day`` would mail now, changing nothing (a dry run)."""
    return list(_would_send(ctx, store, day))


def _would_send(ctx: RunContext, store: Store, day: date) -> Iterator[str]:
    seen = set()
    for address in store.ledger.unsent_active(day):
        seen.add(address)
        yield address
    done = {row.address for row in store.ledger.rows(day, ["sent", "failed", "unknown"])}
    for entry in ctx.recipients:  # not yet in the store: a real send would add them
        address = normalize_address(entry.address)
        if address not in seen and address not in done and store.recipients.get(address) is None:
            yield address


def send_day(
    ctx: RunContext,
    day: date | None = None,
    *,
    retry_unknown: bool = False,
    progress: delivery.Progress | None = None,
    total: Callable[[int], None] | None = None,
    clock: Clock = system_clock,
) -> SendReport:
    """Send the day's digest to whoever does not have it yet (``bulletin send``).

    It renders the digest from the store: no collecting, no files written.
    """
    day = day or ctx.today(clock)
    with ctx.open_store() as store:
        variants = Digests(ctx, store).variants([day])
        count, _ = variants.rendered()
        frozen = store.ledger.issue(day, "") is not None
        if count == 0 and not ctx.digest.send_empty and not frozen:
            raise BulletinError(
                f"no digest to send for {day}: the store has no items that day",
                hint="collect first (`bulletin run` does both), or set digest.send_empty",
            )
        return send_rows(
            ctx,
            store,
            day,
            variants,
            retry_unknown=retry_unknown,
            progress=progress,
            total=total,
            clock=clock,
        )


# --- from a ledger row to the recipient's message ----------------------------------------------


def unsubscribe_links(ctx: RunContext, key: bytes, link_id: str) -> delivery.Unsubscribe:
    """Where the recipient with ``link_id`` leaves the list: the web endpoint and a mail, both
    with the same token (``bulletin unsubscribe TOKEN`` reads the mail's)."""
    token = delivery.sign(key, delivery.UNSUBSCRIBE, link_id)
    url = ctx.unsubscribe_url
    return delivery.Unsubscribe(
        url=f"{url}{'&' if '?' in url else '?'}token={token}",
        mailto=f"mailto:{ctx.unsubscribe_mailbox}?subject=unsubscribe%20{token}",
    )


def preferences_url(ctx: RunContext, key: bytes, link_id: str, day: date) -> str:
    """The recipient's "manage your subscription" page; the link works for
    ``web.preferences_days`` from the digest's day (the same link in every resend)."""
    midnight = datetime.combine(day, time(), ctx.zone)
    token = delivery.sign_stamped(
        key, delivery.PREFERENCES, link_id, midnight + ctx.web.preferences_for
    )
    return ctx.web.url(f"preferences?token={token}")


PREVIEW_LINK_ID = "this-is-only-a-preview"  # no recipient has it: a preview's link is void


def unsubscribe_url(
    ctx: RunContext, link_id: str = PREVIEW_LINK_ID, key: bytes | None = None
) -> str:
    """A recipient's unsubscribe URL; without the store's ``key``, a preview's (not valid)."""
    links = unsubscribe_links(ctx, key or b"preview only", link_id)
    return links.url or links.mailto or ""


@dataclass(frozen=True)
class _Content:
    day: date
    subject: str
    html: str
    text: str
    unsubscribe_token: str


class Messages:
    """Ledger row -> message: one template per variant, frozen in the store at its first use."""

    def __init__(
        self, ctx: RunContext, store: Store, day: date, variant: Variant, clock: Clock
    ) -> None:
        self.ctx, self.store, self.day, self.variant = ctx, store, day, variant
        self.settings = ctx.send
        self.key = ctx.unsubscribe_key(store)
        self.date = clock()
        self.templates: dict[str, delivery.MessageTemplate] = {}
        self.lock = threading.Lock()

    def render(self, row: Delivery) -> tuple[bytes, str]:
        """The row's message, signed if configured, and its Message-ID."""
        if row.link_id is None:  # deleted since the row was read: its claim fails too
            raise BulletinError(f"{row.address} is no longer on the list")
        recipient = Recipient(row.address, row.name)
        links = unsubscribe_links(self.ctx, self.key, row.link_id)
        message_id = delivery.message_id(self.day, self.ctx.site, recipient)
        token = self._bounce_token(row) or ""
        manage = {
            digest.PREFERENCES_TOKEN: preferences_url(self.ctx, self.key, row.link_id, self.day)
        }
        message = self._template(row.variant).render(recipient, links, message_id, token, manage)
        if self.settings.signer is not None:
            message = self.settings.signer.sign(message)
        return message, message_id

    def envelope(self, row: Delivery) -> str:
        """The row's envelope sender: its VERP return path, else the configured sender."""
        return self.ctx.bounces.envelope(self._bounce_token(row)) or self.settings.loop.sender

    def _bounce_token(self, row: Delivery) -> str | None:
        """The token naming this day and recipient, when bounces have an address to go to."""
        if self.ctx.bounces.address is None or row.link_id is None:
            return None
        return delivery.sign_bounce(self.key, row.link_id, self.day)

    def _template(self, variant: str) -> delivery.MessageTemplate:
        with self.lock:
            if variant not in self.templates:
                issue = self.store.ledger.issue(self.day, variant)
                if issue is None:
                    rendered = self.variant(*parse_variant(variant))
                    issue = self.store.ledger.freeze(
                        Issue(
                            self.day,
                            variant,
                            rendered.subject,
                            rendered.html,
                            rendered.text,
                            rendered.unsubscribe_token,
                        ),
                        self.date,
                    )
                content = _Content(issue.day, issue.subject, issue.html, issue.text, issue.token)
                self.templates[variant] = delivery.MessageTemplate(
                    content,
                    self.ctx.site,
                    self.settings.sender,
                    self.date,
                    self.settings.list_id,
                    links=(digest.PREFERENCES_TOKEN,),
                )
            return self.templates[variant]
