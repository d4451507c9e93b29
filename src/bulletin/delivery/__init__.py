"""Rendered digests to email messages, and messages to a Maildir outbox or an SMTP server.

The only package speaking SMTP (``smtp``) and signing DKIM (``dkim``). ``message`` builds each
recipient's message from a template made once per digest variant; ``tokens`` signs the
unsubscribe links; ``outbox`` stores messages once per key. What to send and what became of it
is the pipeline's and the store's business: this package never touches the ledger.
"""

from bulletin.delivery.dkim import DkimSigner
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
from bulletin.delivery.outbox import Outbox, outbox_name
from bulletin.delivery.smtp import Result, Security, SessionError, SmtpTransport
from bulletin.delivery.tokens import sign, verify

__all__ = [
    "POLICY",
    "DkimSigner",
    "MessageContent",
    "MessageTemplate",
    "Outbox",
    "Result",
    "Security",
    "Sender",
    "SessionError",
    "SmtpTransport",
    "Unsubscribe",
    "build_message",
    "list_id",
    "message_id",
    "outbox_name",
    "sign",
    "verify",
]
