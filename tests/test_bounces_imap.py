"""Bounces read from an IMAP folder: a real Dovecot on 127.0.0.1, over TLS, with a login.

The messages understood leave the folder for the done folder (by MOVE); the one not
understood stays, unread, and a second reading changes nothing.
"""

from __future__ import annotations

import imaplib
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

import bounce_mail
import dovecot
from builders import (
    DAY,
    Clock,
    bounce_token,
    make_deployment,
    make_item,
    require_tool,
    save_items,
    statuses,
    subscribe,
)
from bulletin import pipeline
from bulletin.config import Config
from bulletin.errors import BulletinError

BOUNCES = "bounces@news.example.org"


@pytest.fixture
def server() -> Iterator[dovecot.Dovecot]:
    require_tool(dovecot.available(), "dovecot (Debian's dovecot-imapd)", setup="bounces.sh")
    running = dovecot.Dovecot()
    try:
        yield running
    finally:
        running.stop()


def imap_of(server: dovecot.Dovecot) -> imaplib.IMAP4_SSL:
    context = ssl.create_default_context(cafile=str(server.ca_file))
    imap = imaplib.IMAP4_SSL("127.0.0.1", server.port, ssl_context=context, timeout=10)
    imap.login(server.user, server.password)
    return imap


def folder_of(server: dovecot.Dovecot, folder: str) -> list[tuple[bool, bytes]]:
    """Whether each message in ``folder`` was read (\\Seen), and its subject line."""
    imap = imap_of(server)
    try:
        imap.select(folder, readonly=True)
        _, found = imap.search(None, "ALL")
        shown = []
        for number in (found[0] or b"").split():
            _, parts = imap.fetch(number, "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            flags, subject = parts[0]  # type: ignore[misc]
            shown.append((b"\\Seen" in flags, subject.strip()))
        return shown
    finally:
        imap.logout()


def deployment(tmp_path: Path, server: dovecot.Dovecot, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("TEST_IMAP_PASSWORD", server.password)
    imap = {
        "host": "127.0.0.1",
        "port": server.port,
        "security": "ssl",
        "username": server.user,
        "password_env": "TEST_IMAP_PASSWORD",
        "ca_file": str(server.ca_file),
        "timeout": 10,
    }
    config = make_deployment(
        tmp_path, delivery={"bounce_address": BOUNCES, "bounces": {"imap": imap}}
    )
    subscribe(config, ["gone@example.net", "angry@example.net", "ann@example.net"])
    save_items(config, [make_item("a")])
    pipeline.send_day(pipeline.RunContext(config), DAY, clock=Clock())  # into the outbox
    return config


def test_bounces_are_read_from_dovecot_and_only_those_understood_leave_the_folder(
    tmp_path: Path, server: dovecot.Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = deployment(tmp_path, server, monkeypatch)
    verp = f"bounces+{bounce_token(config, 'gone@example.net')}@news.example.org"
    original = (
        f"Subject: Daily Bugle\nX-Bulletin-Bounce: {bounce_token(config, 'angry@example.net')}\n\n"
    ).encode()
    imap = imap_of(server)
    for message in (
        bounce_mail.postfix_dsn(b"Subject: Daily Bugle\n\n", verp, "gone@example.net"),
        bounce_mail.arf_report(original, BOUNCES),
        b"From: someone@example.com\nSubject: Hello\n\nIs this the newsroom?\n",
    ):
        imap.append("INBOX", "", imaplib.Time2Internaldate(0), message.replace(b"\n", b"\r\n"))
    imap.logout()

    ctx = pipeline.RunContext(config)
    (report,) = pipeline.ingest_bounces(ctx, clock=Clock())
    assert report.source == f"imap://127.0.0.1:{server.port}/INBOX"
    assert [(h.kind, h.address) for h in report.handled] == [
        ("hard", "gone@example.net"),
        ("complaint", "angry@example.net"),
        ("unknown", None),
    ]
    assert statuses(config) == {
        "gone@example.net": "bounced",
        "angry@example.net": "unsubscribed",
        "ann@example.net": "active",
    }
    # The one not understood stays where it was, unread; the others are in the done folder.
    assert folder_of(server, "INBOX") == [(False, b"Subject: Hello")]
    assert len(folder_of(server, "bulletin-done")) == 2

    (again,) = pipeline.ingest_bounces(ctx, clock=Clock())
    assert [h.kind for h in again.handled] == ["unknown"]
    assert len(folder_of(server, "bulletin-done")) == 2


def test_a_wrong_imap_password_is_a_clear_error(
    tmp_path: Path, server: dovecot.Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = deployment(tmp_path, server, monkeypatch)
    monkeypatch.setenv("TEST_IMAP_PASSWORD", "not-it")
    with pytest.raises(BulletinError) as caught:
        pipeline.ingest_bounces(pipeline.RunContext(config), clock=Clock())
    assert f"IMAP imap://127.0.0.1:{server.port}/INBOX" in str(caught.value)
