"""Where digests go: an SMTP server or the outbox, and the channels a send loop opens to it.

A send loop opens several channels at once (one SMTP session each); the outbox is a single
folder that every channel writes to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from bulletin.delivery.outbox import Outbox, OutboxChannel
from bulletin.delivery.send_loop import Channel
from bulletin.delivery.smtp import Security, SmtpTransport


@dataclass(frozen=True)
class SmtpServer:
    """An SMTP server and how to talk to it; the password is never shown."""

    host: str
    port: int = 587
    security: Security = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    ca_file: Path | None = None

    def session(self) -> SmtpTransport:
        """A new session to the server, not yet open."""
        return SmtpTransport(
            self.host,
            self.port,
            security=self.security,
            username=self.username,
            password=self.password,
            timeout=self.timeout,
            ca_file=self.ca_file,
        )


Transport = SmtpServer | Outbox


def channels(transport: Transport, day: date) -> Callable[[], Channel]:
    """A function making one channel of ``transport`` for the send of ``day``'s digest."""
    if isinstance(transport, Outbox):
        return lambda: OutboxChannel(transport, day)
    return transport.session
