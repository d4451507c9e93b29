"""Rendered digests to email messages, and messages to a Maildir outbox or an SMTP server.

The only package speaking SMTP (``smtp``) and signing DKIM (``dkim``). ``message`` builds each
recipient's message from a template made once per digest variant; ``tokens`` signs links
(a recipient's opaque id, for a named purpose); ``outbox`` stores messages once per key. What
to send and what became of it is the pipeline's and the store's business: this package never
touches the ledger itself; ``send_loop`` works through a day's rows over N connections
(``transports``: to an SMTP server or the outbox), driving the ledger through the
small interface it defines (``LedgerPort``).
"""

from bulletin.delivery.dkim import DkimSigner
from bulletin.delivery.group_commit import LedgerPort, Recorder
from bulletin.delivery.message import (
    POLICY,
    MessageContent,
    MessageTemplate,
    Sender,
    Unsubscribe,
    build_message,
    list_id,
    message_id,
)
from bulletin.delivery.outbox import Outbox, OutboxChannel, outbox_name
from bulletin.delivery.send_loop import Channel, Progress, SendLoop, Settings, Tally
from bulletin.delivery.smtp import Result, Security, SessionError, SmtpTransport
from bulletin.delivery.tokens import UNSUBSCRIBE, sign, verify, verify_address
from bulletin.delivery.transports import SmtpServer, Transport, channels

__all__ = [
    "POLICY",
    "UNSUBSCRIBE",
    "Channel",
    "DkimSigner",
    "LedgerPort",
    "MessageContent",
    "MessageTemplate",
    "Outbox",
    "OutboxChannel",
    "Progress",
    "Recorder",
    "Result",
    "Security",
    "SendLoop",
    "Sender",
    "SessionError",
    "Settings",
    "SmtpServer",
    "SmtpTransport",
    "Tally",
    "Transport",
    "Unsubscribe",
    "build_message",
    "channels",
    "list_id",
    "message_id",
    "outbox_name",
    "sign",
    "verify",
    "verify_address",
]
