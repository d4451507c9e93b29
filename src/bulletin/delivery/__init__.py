"""Rendered digests to email messages, and messages to a Maildir outbox or an SMTP server.

The only package speaking SMTP (``smtp``) and signing DKIM (``dkim``). ``message`` builds each
recipient's message from a template made once per digest variant; ``tokens`` signs links
(a recipient's opaque id, for a named purpose); ``outbox`` stores messages once per key;
``notices`` are the messages to one reader about their subscription (confirmation, welcome),
sent at once. What to send and what became of it is the pipeline's and the store's business:
this package never touches the ledger itself; ``send_loop`` works through a day's rows over
N connections (``transports``: to an SMTP server or the outbox), driving the ledger through the
small interface it defines (``LedgerPort``). ``bounces`` tells what a message in the bounce
mailbox is (the only user of flufl.bounce) and ``mailboxes`` reads that mailbox: a Maildir,
an mbox file, standard input or IMAP.
"""

from bulletin.delivery.bounces import TOKEN_HEADER, Failure, Report, read_report
from bulletin.delivery.dkim import DkimSigner
from bulletin.delivery.group_commit import LedgerPort, Recorder
from bulletin.delivery.mailboxes import (
    Disposal,
    ImapBox,
    ImapServer,
    Mail,
    Mailbox,
    OneMessage,
    open_mailbox,
)
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
from bulletin.delivery.notices import Notice, build_notice, send_notice
from bulletin.delivery.outbox import Outbox, OutboxChannel, outbox_name
from bulletin.delivery.send_loop import Channel, Progress, SendLoop, Settings, Tally
from bulletin.delivery.smtp import Result, Security, SessionError, SmtpTransport
from bulletin.delivery.tokens import (
    BOUNCE,
    CONFIRM,
    FORM,
    PREFERENCES,
    UNSUBSCRIBE,
    sign,
    sign_bounce,
    sign_stamped,
    verify,
    verify_address,
    verify_bounce,
    verify_stamped,
    verify_until,
)
from bulletin.delivery.transports import SmtpServer, Transport, channels

__all__ = [
    "BOUNCE",
    "CONFIRM",
    "FORM",
    "POLICY",
    "PREFERENCES",
    "TOKEN_HEADER",
    "UNSUBSCRIBE",
    "Channel",
    "Disposal",
    "DkimSigner",
    "Failure",
    "ImapBox",
    "ImapServer",
    "LedgerPort",
    "Mail",
    "Mailbox",
    "MessageContent",
    "MessageTemplate",
    "Notice",
    "OneMessage",
    "Outbox",
    "OutboxChannel",
    "Progress",
    "Recorder",
    "Report",
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
    "build_notice",
    "channels",
    "list_id",
    "message_id",
    "open_mailbox",
    "outbox_name",
    "read_report",
    "send_notice",
    "sign",
    "sign_bounce",
    "sign_stamped",
    "verify",
    "verify_address",
    "verify_bounce",
    "verify_stamped",
    "verify_until",
]
