"""Delivery: each recipient gets the day's digest once, through the outbox or SMTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date

from bulletin import delivery, digest
from bulletin.config import Config, read_secret
from bulletin.model import Recipient
from bulletin.pipeline.common import Clock, DigestReport, site_of
from bulletin.store import Store


def recipients_of(config: Config) -> list[Recipient]:
    """The configured mailing list."""
    return [Recipient(r.address, r.name) for r in config.delivery.recipients]


def unsubscribe_url(config: Config, recipient: Recipient) -> str:
    """Where a recipient asks to leave the list: a mail to the sender, for now."""
    return f"mailto:{config.delivery.from_address}?subject=unsubscribe%20{recipient.address}"


def deliver(
    config: Config,
    store: Store,
    variant: Callable[[frozenset[str] | None], digest.RenderedDigest],
    report: DigestReport,
    dry_run: bool,
    clock: Clock,
) -> None:
    """Hand the day's digest to each recipient who does not have it yet; record each hand-over.

    ``variant(categories)`` gives the digest rendered for a choice of category slugs (None: all).
    """
    rendered = variant(None)
    site = site_of(config)
    sender = delivery.Sender(config.delivery.from_address, config.delivery.from_name or site.title)
    done = store.delivered_addresses(report.day)
    everyone = recipients_of(config)
    pending = [r for r in everyone if r.address.lower() not in done]
    report.already = [r.address for r in everyone if r.address.lower() in done]
    report.transport, report.destination = _transport_label(config)
    if dry_run:
        report.delivered = [r.address for r in pending]  # would be delivered
        return
    if not pending:
        return
    with _open_transport(config, sender) as send:
        for recipient in pending:
            message = delivery.build_message(
                rendered, site, sender, recipient, unsubscribe_url(config, recipient), clock()
            )
            send(report.day, recipient, message)
            # Recorded only once the transport has accepted the message.
            store.record_delivery(
                report.day,
                recipient.address,
                delivery.message_id(rendered.day, site, recipient),
                report.transport,
                clock(),
            )
            report.delivered.append(recipient.address)


Send = Callable[[date, Recipient, bytes], None]


def _transport_label(config: Config) -> tuple[str, str]:
    if config.uses_smtp:
        return "smtp", f"{config.delivery.smtp.host}:{config.delivery.smtp.port}"
    return "outbox", str(config.path(config.delivery.outbox))


@contextmanager
def _open_transport(config: Config, sender: delivery.Sender) -> Iterator[Send]:
    """A function that hands one message to the configured transport."""
    if not config.uses_smtp:
        outbox = delivery.Outbox(config.path(config.delivery.outbox))
        yield lambda day, recipient, message: _ignore(
            outbox.deliver(f"{day.isoformat()}:{recipient.address.lower()}", message)
        )
        return
    smtp = config.delivery.smtp
    assert smtp.host is not None
    password = read_secret(smtp.password_env, "the SMTP password")
    with delivery.SmtpTransport(
        smtp.host,
        smtp.port,
        security=smtp.security,
        username=smtp.username,
        password=password,
        timeout=smtp.timeout,
    ) as connection:
        yield lambda _day, recipient, message: connection.send(
            sender.address, [recipient.address], message
        )


def _ignore(_value: object) -> None:
    return None
