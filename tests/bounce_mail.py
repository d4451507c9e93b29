"""Bounce mail as the mail systems of the world write it, for the bounce tests to receive.

Each builder takes the digest as the remote server received it (``original``), the address
the bounce is mailed to (``to``: the VERP return path, or the plain bounce address when the
envelope was lost) and the reader's address, and gives the bounce's bytes: Postfix's
multipart/report with the returned headers (``postfix_dsn``), Postfix's text-only form
(``postfix_text``), Exim's report returning the whole message (``exim_dsn``), an RFC 5965
abuse report with the recipient redacted (``arf_report``), a vacation autoreply
(``autoreply``) and a report whose MIME boundary never comes (``broken_mime``). They follow
the layouts of those programs' bounce templates (Postfix's bounce(8), Exim's default
bounce message), with the headers those programs set.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import NamedTuple

MTA = "mx.example.net"
DAEMON = f"MAILER-DAEMON@{MTA} (Mail Delivery System)"  # Postfix's bounce sender
UNDELIVERED = "Undelivered Mail Returned to Sender"  # and its subject
WHEN = format_datetime(datetime(2024, 3, 1, 18, 5, tzinfo=UTC))
_ids = itertools.count(1)


class Failed(NamedTuple):
    """How the remote server failed the reader: the RFC 3463 status, its reply, the action."""

    status: str
    reply: str  # {reader} stands for the reader's address
    action: str = "failed"


UNKNOWN_USER = Failed("5.1.1", "550 5.1.1 <{reader}>: Recipient address rejected: User unknown")
MAILBOX_FULL = Failed("4.2.2", "452 4.2.2 <{reader}>: Mailbox full", "delayed")
EXIM_UNKNOWN = Failed("5.0.0", "550 5.1.1 <{reader}>: unknown user")  # Exim says 5.0.0 for any


def headers_of(original: bytes) -> bytes:
    """The header section of a message, without the blank line."""
    return original.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]


def _lf(text: str) -> bytes:
    return text.replace("\r\n", "\n").encode("utf-8")


def _head(to: str, sender: str, subject: str, content_type: str, extra: str = "") -> str:
    number = next(_ids)
    return (
        f"Return-Path: <>\nFrom: {sender}\nTo: {to}\nSubject: {subject}\nDate: {WHEN}\n"
        f"Message-Id: <bounce-{number}@{MTA}>\nAuto-Submitted: auto-replied\n{extra}"
        f"MIME-Version: 1.0\nContent-Type: {content_type}\n\n"
    )


def postfix_dsn(original: bytes, to: str, reader: str, failed: Failed = UNKNOWN_USER) -> bytes:
    """Postfix's bounce: a notification, the delivery report, the returned headers."""
    boundary = f"B{next(_ids)}.1709316300/{MTA}"
    status, action, said = failed.status, failed.action, failed.reply.format(reader=reader)
    head = _head(
        to,
        DAEMON,
        UNDELIVERED if action == "failed" else "Delayed Mail (still being retried)",
        f'multipart/report; report-type=delivery-status;\n\tboundary="{boundary}"',
    )
    text = (
        f"This is the mail system at host {MTA}.\n\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients. It's attached below.\n\n"
        "                   The mail system\n\n"
        f"<{reader}>: host mailbox.example.net[192.0.2.25] said: {said} (in\n"
        "    reply to RCPT TO command)\n"
    )
    report = (
        f"Reporting-MTA: dns; {MTA}\nX-Postfix-Queue-ID: 4T1abc2XyZz\n"
        f"Arrival-Date: {WHEN}\n\n"
        f"Final-Recipient: rfc822; {reader}\nOriginal-Recipient: rfc822;{reader}\n"
        f"Action: {action}\nStatus: {status}\nRemote-MTA: dns; mailbox.example.net\n"
        f"Diagnostic-Code: smtp; {said}\n"
    )
    body = (
        f"This is a MIME-encapsulated message.\n\n--{boundary}\n"
        "Content-Description: Notification\nContent-Type: text/plain; charset=us-ascii\n\n"
        f"{text}\n--{boundary}\nContent-Description: Delivery report\n"
        f"Content-Type: message/delivery-status\n\n{report}\n--{boundary}\n"
        "Content-Description: Undelivered Message Headers\n"
        "Content-Type: text/rfc822-headers\n\n"
    )
    return _lf(head + body) + headers_of(original) + _lf(f"\n\n--{boundary}--\n")


def postfix_text(original: bytes, to: str, reader: str) -> bytes:
    """Postfix's bounce as a relay that keeps no MIME passes it on: one text/plain part."""
    head = _head(to, DAEMON, UNDELIVERED, "text/plain; charset=us-ascii")
    text = (
        f"This is the mail system at host {MTA}.\n\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients. It's attached below.\n\n"
        "                   The mail system\n\n"
        f"<{reader}>: host mailbox.example.net[192.0.2.25] said: 550 5.1.1\n"
        f"    <{reader}>: Recipient address rejected: User unknown in local\n"
        "    recipient table (in reply to RCPT TO command)\n\n"
        "--- Undelivered message headers follow ---\n\n"
    )
    return _lf(head + text) + headers_of(original) + b"\n"


def exim_dsn(
    original: bytes, to: str, reader: str, failed: Failed = EXIM_UNKNOWN, padding: int = 0
) -> bytes:
    """Exim's bounce: its text, the delivery report and the whole message returned
    (``padding`` bytes of attachment appended to it, for a large one)."""
    boundary = f"{next(_ids)}-eximdsn-1804289383"
    status, said = failed.status, failed.reply.format(reader=reader)
    temporary = status.startswith("4")
    head = _head(
        to,
        f"Mail Delivery System <Mailer-Daemon@{MTA}>",
        "Warning: message 1rgFzb-0001Hx-2a delayed 24 hours"
        if temporary
        else "Mail delivery failed: returning message to sender",
        f'multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "X-Failed-Recipients: " + reader + "\n",
    )
    text = (
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n"
        f"  {reader}\n    host mailbox.example.net [192.0.2.25]\n    SMTP error from remote "
        f"mail server after RCPT TO:<{reader}>:\n    {said}\n"
    )
    report = (
        f"Reporting-MTA: dns; {MTA}\n\nAction: {'delayed' if temporary else 'failed'}\n"
        f"Final-Recipient: rfc822;{reader}\nStatus: {status}\n"
        f"Remote-MTA: dns; mailbox.example.net\nDiagnostic-Code: smtp; {said}\n"
    )
    body = (
        f"--{boundary}\nContent-type: text/plain; charset=us-ascii\n\n{text}\n"
        f"--{boundary}\nContent-type: message/delivery-status\n\n{report}\n"
        f"--{boundary}\nContent-type: message/rfc822\n\n"
    )
    returned = original.replace(b"\r\n", b"\n")
    if padding:
        returned = _with_attachment(returned, padding)
    return _lf(head + body) + returned + _lf(f"\n--{boundary}--\n")


def _with_attachment(message: bytes, size: int) -> bytes:
    """``message`` wrapped with a base64 attachment of about ``size`` bytes after it."""
    head = message.split(b"\n\n", 1)[0]
    inner = b"\n".join(
        line for line in head.split(b"\n") if not line.lower().startswith((b"content-", b"mime-"))
    )
    line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\n"
    blob = line * (size // len(line))
    return (
        inner + b'\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="att"\n\n'
        b"--att\nContent-Type: text/plain\n\nThe digest.\n"
        b"--att\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
        + blob
        + b"--att--\n"
    )


def arf_report(original: bytes, to: str, feedback_type: str = "abuse") -> bytes:
    """A feedback loop's abuse report (RFC 5965) with the reader's address redacted, as the
    big mailbox providers send them: only the digest's own headers say whom it is about."""
    boundary = f"arf{next(_ids)}"
    redacted = original.replace(b"\r\n", b"\n")
    head, body = redacted.split(b"\n\n", 1)
    head = b"\n".join(
        b"To: redacted@example.net" if line.lower().startswith(b"to:") else line
        for line in head.split(b"\n")
    )
    top = _head(
        to,
        "Feedback Loop <fbl@fbl.example.net>",
        "complaint about message from 192.0.2.7",
        f'multipart/report; report-type=feedback-report; boundary="{boundary}"',
    ).replace("Auto-Submitted: auto-replied\n", "")
    report = (
        f"Feedback-Type: {feedback_type}\nUser-Agent: ExampleFBL/2.1\nVersion: 1\n"
        f"Original-Mail-From: <{to}>\nArrival-Date: {WHEN}\nReported-Domain: example.org\n"
        "Source-IP: 192.0.2.7\n"
    )
    parts = (
        f"--{boundary}\nContent-Type: text/plain\n\nThis is an email abuse report for an "
        f"email message received from IP 192.0.2.7.\n\n--{boundary}\n"
        f"Content-Type: message/feedback-report\n\n{report}\n--{boundary}\n"
        "Content-Type: message/rfc822\nContent-Disposition: inline\n\n"
    )
    return _lf(top + parts) + head + b"\n\n" + body + _lf(f"\n--{boundary}--\n")


def autoreply(to: str, reader: str) -> bytes:
    """A vacation program's answer (RFC 3834), mailed to the return path."""
    head = _head(
        to,
        f"Reader <{reader}>",
        "Out of office: Daily Bugle: Friday, March 1, 2024",
        "text/plain; charset=utf-8",
        "X-Autoreply: yes\nPrecedence: bulk\n",
    )
    return _lf(head + "I am away until Monday 11 March and will read your mail then.\n")


def broken_mime(to: str, reader: str) -> bytes:
    """A report whose declared boundary never comes: its parts cannot be told apart."""
    declared = 'multipart/report; report-type=delivery-status; boundary="never-comes"'
    head = _head(to, DAEMON, UNDELIVERED, declared)
    body = (
        "--another-boundary\nContent-Type: message/delivery-status\n\n"
        f"Final-Recipient: rfc822; {reader}\nAction: failed\nStatus: 5.1.1\n"
        "--another-boundary--\n"
    )
    return _lf(head + body)
