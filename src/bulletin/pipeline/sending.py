"""Delivery: each recipient gets the day's digest exactly once, through the ledger.

Under the store's sender lock: the recipients of config.yaml join the list, rows a dead
sender left ``sending`` become ``unknown``, the day's rows are planned, and the send loop
works through what is due. Each variant of the digest is frozen in the store when its first
copy goes out, so a send finished later (after a crash, or a new collect) mails the same
digest. ``bulletin run`` (``deliver``) and ``bulletin send`` (``send_rows``) share all of it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from bulletin import delivery, digest
from bulletin.config import Config, read_secret
from bulletin.errors import DeliveryError
from bulletin.model import Recipient
from bulletin.pipeline.common import Clock, DigestReport, site_of
from bulletin.pipeline.dispatch import Channel, Dispatch, Progress, Settings
from bulletin.store import Delivery, Issue, ListEntry, Store, normalize_address, parse_categories

Variant = Callable[[frozenset[str] | None], digest.RenderedDigest]


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
    paused: str = ""
    interrupted: bool = False
    counts: dict[str, int] = field(default_factory=dict)  # the day's ledger, by state

    @property
    def ok(self) -> bool:
        """Whether every row of the day is sent."""
        return not self.paused and all(
            n == 0 for state, n in self.counts.items() if state != "sent"
        )


def recipients_of(config: Config) -> list[Recipient]:
    """The recipients listed in config.yaml."""
    return [Recipient(r.address, r.name) for r in config.delivery.recipients]


def config_entries(config: Config) -> list[ListEntry]:
    """The recipients of config.yaml as entries for the mailing list."""
    return [
        ListEntry(
            r.address,
            r.name,
            None if r.categories is None else frozenset(r.categories),
            has_categories=True,
        )
        for r in config.delivery.recipients
    ]


def unsubscribe_key(config: Config, store: Store) -> bytes:
    """The key unsubscribe links are signed with: the configured secret, else the store's."""
    secret = read_secret(config.delivery.unsubscribe_secret_env, "the unsubscribe secret")
    return secret.encode() if secret is not None else store.unsubscribe_key()


def unsubscribe_endpoint(config: Config) -> str:
    """The unsubscribe endpoint ``bulletin web`` serves (without a token)."""
    return config.delivery.unsubscribe_url or site_of(config).url("unsubscribe")


def unsubscribe_url(config: Config, recipient: Recipient, key: bytes | None = None) -> str:
    """A recipient's unsubscribe URL; without the store's ``key``, a preview's (not valid)."""
    links = unsubscribe_links(config, key or b"preview only", recipient.address)
    return links.url or links.mailto or ""


def unsubscribe_links(config: Config, key: bytes, address: str) -> delivery.Unsubscribe:
    """Where ``address`` leaves the list: the web endpoint and a mail, both with its token."""
    return _links(unsubscribe_endpoint(config), _mailbox(config), key, address)


def _mailbox(config: Config) -> str:
    return config.delivery.unsubscribe_mailto or config.delivery.from_address


def _links(url: str, mailbox: str, key: bytes, address: str) -> delivery.Unsubscribe:
    token = delivery.sign(key, address)
    return delivery.Unsubscribe(
        url=f"{url}{'&' if '?' in url else '?'}token={token}",
        mailto=f"mailto:{mailbox}?subject=unsubscribe%20{token}",
    )


def transport_label(config: Config) -> tuple[str, str]:
    """The transport's name and where it sends to."""
    if config.uses_smtp:
        return "smtp", f"{config.delivery.smtp.host}:{config.delivery.smtp.port}"
    return "outbox", str(config.path(config.delivery.outbox))


def deliver(
    config: Config,
    store: Store,
    variant: Variant,
    report: DigestReport,
    dry_run: bool,
    clock: Clock,
) -> None:
    """Send the day's digest to each recipient who does not have it yet (``bulletin run``).

    ``variant(categories)`` gives the digest rendered for a choice of category slugs (None: all).
    A send that had to pause is an error: the ledger keeps the rest for ``bulletin send``.
    """
    report.transport, report.destination = transport_label(config)
    if dry_run:
        report.delivered = list(_would_send(config, store, report.day))
        return
    started = clock()
    sent = send_rows(config, store, report.day, variant, clock=clock)
    for row in store.ledger.rows(report.day, ["sent"]):
        (report.delivered if row.sent and row.sent >= started else report.already).append(
            row.address
        )
    if sent.paused:
        raise DeliveryError(
            f"delivery of {report.day} paused: {sent.paused}",
            hint="the ledger keeps the rest: `bulletin send` finishes the job once it is fixed",
        )


def send_rows(
    config: Config,
    store: Store,
    day: date,
    variant: Variant,
    *,
    retry_unknown: bool = False,
    plan: bool = True,
    progress: Progress | None = None,
    total: Callable[[int], None] | None = None,
    clock: Clock,
) -> SendReport:
    """Plan the day's rows and send what is due, under the store's sender lock.

    With ``plan`` false, a day that already has rows only finishes them: an automatic retry
    of an old day's deferred copies must not mail that digest to people who subscribed since.
    """
    report = SendReport(day)
    report.transport, report.destination = transport_label(config)
    with store.ledger.lock():
        now = clock()
        store.recipients.sync_config(config_entries(config), now)
        report.reaped = store.ledger.reap(now)
        if retry_unknown:
            report.retried_unknown = store.ledger.retry_unknown(day, now)
        if plan or not any(store.ledger.counts(day).values()):
            report.planned = store.ledger.plan(day, now)
        if total is not None:
            total(store.ledger.count_due(day, now))
        renderer = _Renderer(config, store, day, variant, clock)
        channels, settings = _channels(config, day), _settings(config)
        dispatch = Dispatch(store.ledger, renderer.render, channels, settings, clock, progress)
        tally = dispatch.run(day)
    for name in ("sent", "deferred", "failed", "unknown", "paused", "interrupted"):
        setattr(report, name, getattr(tally, name))
    report.counts = store.ledger.counts(day)
    return report


def _would_send(config: Config, store: Store, day: date) -> Iterator[str]:
    """Who a send of ``day`` would mail now, changing nothing (a dry run)."""
    seen = set()
    for address in store.ledger.unsent_active(day):
        seen.add(address)
        yield address
    done = {row.address for row in store.ledger.rows(day, ["sent", "failed", "unknown"])}
    for entry in config_entries(config):  # not yet in the store: a real send would add them
        address = normalize_address(entry.address)
        if address not in seen and address not in done and store.recipients.get(address) is None:
            yield address


def _settings(config: Config) -> Settings:
    smtp = config.delivery.smtp
    uses_smtp = config.uses_smtp
    return Settings(
        sender=config.delivery.from_address,
        transport="smtp" if uses_smtp else "outbox",
        connections=smtp.connections if uses_smtp else 1,
        rate_per_second=smtp.rate_per_second if uses_smtp else 0.0,
        pause_after_errors=smtp.pause_after_errors,
        retry_limit=config.delivery.retry_limit,
        backoff_seconds=config.delivery.retry_backoff_seconds,
    )


def _channels(config: Config, day: date) -> Callable[[], Channel]:
    """A function making one channel (connection) of the configured transport."""
    if not config.uses_smtp:
        outbox = delivery.Outbox(config.path(config.delivery.outbox))
        return lambda: _OutboxChannel(outbox, day)
    smtp = config.delivery.smtp
    if smtp.host is None:
        raise DeliveryError(
            "delivery.transport is smtp but delivery.smtp.host is not set",
            hint="set delivery.smtp.host, or use the outbox",
        )
    password = read_secret(smtp.password_env, "the SMTP password")
    host, ca_file = smtp.host, config.path(smtp.ca_file) if smtp.ca_file else None
    return lambda: delivery.SmtpTransport(
        host,
        smtp.port,
        security=smtp.security,
        username=smtp.username,
        password=password,
        timeout=smtp.timeout,
        ca_file=ca_file,
    )


class _OutboxChannel:
    """The outbox as a channel: always open, each message stored once per day and address."""

    is_open = True

    def __init__(self, outbox: delivery.Outbox, day: date) -> None:
        self.outbox, self.day = outbox, day

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def submit(
        self, sender: str, recipient: str, message: bytes, ready: Callable[[], bool]
    ) -> delivery.Result:
        if not ready():  # a file in new/ is delivered: nothing may be there before the claim
            return delivery.Result("deferred", "not stored: the ledger did not claim it")
        try:
            stored = self.outbox.deliver(f"{self.day.isoformat()}:{recipient}", message)
        except DeliveryError as error:
            return delivery.Result("deferred", error.message)
        return delivery.Result("sent", "stored in the outbox" if stored else "already there")


@dataclass(frozen=True)
class _Content:
    day: date
    subject: str
    html: str
    text: str
    unsubscribe_token: str


class _Renderer:
    """Row -> message: one template per variant, frozen in the store at its first use."""

    def __init__(
        self, config: Config, store: Store, day: date, variant: Variant, clock: Clock
    ) -> None:
        self.config, self.store, self.day, self.variant = config, store, day, variant
        self.site = site_of(config)
        self.sender = delivery.Sender(
            config.delivery.from_address, config.delivery.from_name or self.site.title
        )
        self.key = unsubscribe_key(config, store)
        self.url, self.mailbox = unsubscribe_endpoint(config), _mailbox(config)
        self.date = clock()
        self.templates: dict[str, delivery.MessageTemplate] = {}
        self.lock = threading.Lock()
        self.signer = _signer(config)

    def render(self, row: Delivery) -> tuple[bytes, str]:
        recipient = Recipient(row.address, row.name)
        links = _links(self.url, self.mailbox, self.key, row.address)
        message_id = delivery.message_id(self.day, self.site, recipient)
        message = self._template(row.variant).render(recipient, links, message_id)
        if self.signer is not None:
            message = self.signer.sign(message)
        return message, message_id

    def _template(self, variant: str) -> delivery.MessageTemplate:
        with self.lock:
            if variant not in self.templates:
                issue = self.store.ledger.issue(self.day, variant)
                if issue is None:
                    rendered = self.variant(parse_categories(variant))
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
                    content, self.site, self.sender, self.date, self.config.delivery.list_id
                )
            return self.templates[variant]


def _signer(config: Config) -> delivery.DkimSigner | None:
    settings = config.delivery
    if settings.dkim_key_file is None:
        return None
    domain = settings.dkim_domain or settings.from_address.rsplit("@", 1)[1]
    return delivery.DkimSigner(
        Path(config.path(settings.dkim_key_file)), settings.dkim_selector, domain
    )
