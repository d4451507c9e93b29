"""Messages to one reader about their subscription (a sign-up's confirmation, a welcome, a new
"manage your subscription" link), sent at once through the digest's transport.

They are plain text, addressed to the mailbox alone: the name a visitor typed into the form
is never put in a message bulletin mails on their word (spammers sign strangers up with an
advertisement for a name). Each has a key, so that the outbox stores it once.
"""

from __future__ import annotations

import email.errors
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from bulletin.delivery.message import POLICY, Sender
from bulletin.delivery.outbox import Outbox
from bulletin.delivery.transports import Transport
from bulletin.errors import DeliveryError


@dataclass(frozen=True)
class Notice:
    """One message to one mailbox: its subject and text, and a key naming it once."""

    key: str
    to: str
    subject: str
    text: str
    language: str


def build_notice(notice: Notice, sender: Sender, date: datetime, domain: str) -> bytes:
    """The notice as RFC 5322 bytes with CRLF line ends."""
    message = EmailMessage(policy=POLICY)
    try:
        message["From"] = Address(display_name=sender.name, addr_spec=sender.address)
        message["To"] = notice.to
        message["Subject"] = notice.subject
        message["Date"] = format_datetime(date)
        message["Message-ID"] = f"<{notice.key.replace(':', '.')}@{domain}>"
        # An answer from a person, not a list: mail clients offer no unsubscribe, autoresponders
        # stay quiet (RFC 3834).
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(notice.text, charset="utf-8", cte="quoted-printable")
        message["Content-Language"] = notice.language  # after: set_content drops Content-*
    except (ValueError, IndexError, email.errors.MessageError) as error:
        raise DeliveryError(f"cannot build the message to {notice.to}: {error}") from error
    return message.as_bytes()


def send_notice(transport: Transport, sender: str, notice: Notice, message: bytes) -> None:
    """Deliver one notice now: into the outbox, or over one SMTP session."""
    if isinstance(transport, Outbox):
        transport.deliver(notice.key, message)
        return
    with transport.session() as session:
        session.send(sender, [notice.to], message)
