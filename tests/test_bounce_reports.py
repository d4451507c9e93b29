"""What a message of the bounce mailbox is, and the tokens that say whom it is about."""

from __future__ import annotations

import secrets
import time
from datetime import date, timedelta

import pytest

import bounce_mail
from bounce_mail import Failed
from builders import DAY, make_site
from bulletin.delivery import (
    MessageTemplate,
    Sender,
    read_report,
    sign,
    sign_bounce,
    verify_bounce,
)
from bulletin.model import Recipient
from test_delivery import WHEN, Content

KEY = b"k" * 32
LINK = secrets.token_urlsafe(16)
TOKEN = sign_bounce(KEY, LINK, DAY) or ""
VERP = f"bounces+{TOKEN}@news.example.org"
READER = "reader@example.net"
ORIGINAL = (
    f"From: Daily Bugle <news@example.org>\r\nTo: {READER}\r\nSubject: Daily Bugle\r\n"
    f"X-Bulletin-Bounce: {TOKEN}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n"
    "The news.\r\n"
).encode()


def test_a_bounce_token_names_its_day_and_reader_in_either_case() -> None:
    assert len(TOKEN) == 45 and TOKEN.lower() == TOKEN
    assert verify_bounce(KEY, TOKEN) == (LINK, DAY)
    assert verify_bounce(KEY, TOKEN.upper()) == (LINK, DAY)  # an MTA folded the local part
    later = sign_bounce(KEY, LINK, DAY + timedelta(days=1)) or ""
    assert verify_bounce(KEY, later) == (LINK, DAY + timedelta(days=1))


@pytest.mark.parametrize(
    "forged",
    [
        TOKEN[:-1] + ("a" if TOKEN[-1] != "a" else "b"),  # another MAC
        "a" + TOKEN[1:] if TOKEN[0] != "a" else "b" + TOKEN[1:],  # another day
        TOKEN[:-1],
        TOKEN + "a",
        TOKEN + "===",
        TOKEN.replace(TOKEN[5], "1"),  # not base32
        sign(KEY, "unsubscribe", LINK),  # made for another purpose
        sign_bounce(b"another key" * 3, LINK, DAY) or "",
    ],
)
def test_a_bounce_token_altered_or_made_otherwise_is_refused(forged: str) -> None:
    assert verify_bounce(KEY, forged) is None


def test_only_the_store_s_link_ids_and_days_it_can_hold_make_tokens() -> None:
    assert sign_bounce(KEY, "this-is-only-a-preview", DAY) is not None  # 22 base64url: fine
    assert sign_bounce(KEY, "short-one-123456", DAY) is None
    assert sign_bounce(KEY, LINK, date(1999, 12, 31)) is None


def test_the_message_carries_the_token_in_its_own_header() -> None:
    template = MessageTemplate(Content(), make_site(), Sender("news@example.org", "Bugle"), WHEN)
    message = template.render(Recipient(READER), "mailto:news@example.org", "", TOKEN)
    assert f"\r\nX-Bulletin-Bounce: {TOKEN}\r\n".encode() in message
    assert b"X-Bulletin-Bounce" not in template.render(Recipient(READER), "mailto:x@y.org")


@pytest.mark.parametrize(
    ("mail", "kind", "status"),
    [
        (bounce_mail.postfix_dsn(ORIGINAL, VERP, READER), "hard", "5.1.1"),
        (
            bounce_mail.postfix_dsn(ORIGINAL, VERP, READER, Failed("4.2.2", "452 4.2.2 full")),
            "soft",  # given up on, but the failure was temporary
            "4.2.2",
        ),
        (
            bounce_mail.postfix_dsn(ORIGINAL, VERP, READER, bounce_mail.MAILBOX_FULL),
            "soft",
            "4.2.2",
        ),
        (
            bounce_mail.postfix_dsn(ORIGINAL, VERP, READER, Failed("2.0.0", "250 ok", "delivered")),
            "notice",
            "",
        ),
        (bounce_mail.exim_dsn(ORIGINAL, VERP, READER), "hard", "5.0.0"),
        (
            bounce_mail.exim_dsn(ORIGINAL, VERP, READER, Failed("4.0.0", "451 try later")),
            "soft",
            "4.0.0",
        ),
        (bounce_mail.postfix_text(ORIGINAL, VERP, READER), "hard", "5.1.1"),
        (bounce_mail.arf_report(ORIGINAL, VERP), "complaint", ""),
        (bounce_mail.arf_report(ORIGINAL, VERP, "not-spam"), "notice", ""),
        (bounce_mail.autoreply(VERP, READER), "autoreply", ""),
        (bounce_mail.broken_mime(VERP, READER), "unknown", ""),
        (b"From: a@example.com\nSubject: Hello\n\nAre you the newsroom?\n", "unknown", ""),
    ],
)
def test_each_kind_of_bounce_mail_is_told_apart(mail: bytes, kind: str, status: str) -> None:
    report = read_report(mail)
    assert (report.kind, report.detail.get("status", "")) == (kind, status), report.why


def test_the_token_is_found_in_the_envelope_or_in_what_the_bounce_returned() -> None:
    lost = read_report(bounce_mail.postfix_dsn(ORIGINAL, "bounces@news.example.org", READER))
    assert (lost.envelope_tokens, lost.returned_tokens) == ((), (TOKEN,))
    folded = read_report(bounce_mail.postfix_dsn(ORIGINAL, VERP.upper(), READER))
    assert folded.envelope_tokens == (TOKEN,)
    piped = read_report(bounce_mail.postfix_text(b"\n", "bounces@x.org", READER), VERP)
    assert piped.envelope_tokens == (TOKEN,)
    # The abuse report hides the reader; the returned digest's header does not.
    complaint = read_report(bounce_mail.arf_report(ORIGINAL, "bounces@news.example.org"))
    assert complaint.returned_tokens == (TOKEN,)
    assert complaint.addresses == ("redacted@example.net",)


def test_a_broken_mime_tree_is_named_and_not_guessed_at() -> None:
    report = read_report(bounce_mail.broken_mime(VERP, READER))
    assert report.kind == "unknown" and report.failures == ()
    assert "MIME structure is broken" in report.why and "BoundaryNotFound" in report.why


def test_a_bounce_returning_5_mb_is_read_whole_and_quickly() -> None:
    mail = bounce_mail.exim_dsn(ORIGINAL, VERP, READER, padding=5_000_000)
    assert len(mail) > 5_000_000
    started = time.monotonic()
    report = read_report(mail)
    assert time.monotonic() - started < 3
    assert (report.kind, report.envelope_tokens) == ("hard", (TOKEN,))


def test_two_readings_of_the_same_mail_have_the_same_fingerprint() -> None:
    mail = bounce_mail.postfix_dsn(ORIGINAL, VERP, READER)
    assert read_report(mail).fingerprint == read_report(mail).fingerprint
    assert read_report(b"Subject: x\n\ny\n").fingerprint.startswith("sha256:")
