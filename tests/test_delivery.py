"""Delivery: the message as mail clients read it, the Maildir outbox, and a real SMTP server."""

from __future__ import annotations

import mailbox
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from builders import DAY, arabic_item, make_item, make_site
from bulletin.delivery import (
    MessageTemplate,
    Outbox,
    Sender,
    SessionError,
    SmtpTransport,
    Unsubscribe,
    build_message,
    message_id,
    outbox_name,
)
from bulletin.digest import build_digest, render_digest
from bulletin.errors import DeliveryError
from bulletin.model import CategoryIndex, Recipient
from smtp_servers import Server, free_port, self_signed

SITE = make_site()
SENDER = Sender("news@example.org", "Daily Bugle")
ALICE = Recipient("Alice@Example.org", "Alice Émile")
WHEN = datetime(2024, 3, 1, 18, 0, tzinfo=timezone(timedelta(hours=2)))
UNSUBSCRIBE = "https://news.example.org/unsubscribe?list=digest&who=alice"
TOKEN = "%%unsubscribe_url%%"


@dataclass(frozen=True)
class Content:
    """The smallest thing build_message accepts."""

    day: date = DAY
    subject: str = "Daily Bugle: Friday, March 1, 2024"
    html: str = f'<html><body><p>News</p><a href="{TOKEN}">Unsubscribe</a></body></html>'
    text: str = f"News\n\nUnsubscribe:\n{TOKEN}\n"
    unsubscribe_token: str = TOKEN


def build(content: Content | None = None, **changes: Any) -> bytes:
    arguments: dict[str, Any] = {
        "content": content or Content(),
        "site": SITE,
        "sender": SENDER,
        "recipient": ALICE,
        "unsubscribe": UNSUBSCRIBE,
        "date_header": WHEN,
    }
    arguments.update(changes)
    return build_message(**arguments)


def parse(data: bytes) -> EmailMessage:
    parsed = message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def raw_header(data: bytes, name: str) -> str:
    """A header exactly as written, folding included."""
    match = re.search(rb"^" + name.encode() + rb":.*?\r\n(?! )", data, re.M | re.S | re.I)
    assert match, name
    return match.group().decode("ascii")


# --- the message -----------------------------------------------------------------------------


def test_headers_parse_back_as_written() -> None:
    content = Content(subject="النشرة: الجمعة، 1 مارس 2024 — 📰")
    message = parse(build(content, sender=Sender("news@example.org", "نشرة الأخبار")))
    assert message["From"].addresses[0].display_name == "نشرة الأخبار"
    assert message["From"].addresses[0].addr_spec == "news@example.org"
    assert str(message["To"]) == "Alice Émile <Alice@Example.org>"
    assert message["Subject"] == "النشرة: الجمعة، 1 مارس 2024 — 📰"
    assert message["Date"].datetime == WHEN
    assert message["Message-ID"] == message_id(DAY, SITE, ALICE)
    assert message["List-Id"] == "<digest.news.example.org>"
    assert message["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_text_comes_before_html_and_both_get_the_unsubscribe_url() -> None:
    message = parse(build())
    assert message.get_content_type() == "multipart/alternative"
    text, page = message.iter_parts()
    assert (text.get_content_type(), page.get_content_type()) == ("text/plain", "text/html")
    assert text.get_content_charset() == page.get_content_charset() == "utf-8"
    assert text.get_content().endswith(f"{UNSUBSCRIBE}\r\n")  # canonical line ends
    # In HTML the URL is an attribute value: its & is escaped.
    assert 'href="https://news.example.org/unsubscribe?list=digest&amp;who=alice"' in (
        page.get_content()
    )
    assert TOKEN not in text.get_content() + page.get_content()


def test_message_id_is_stable_per_day_and_recipient() -> None:
    assert message_id(DAY, SITE, ALICE) == message_id(DAY, SITE, Recipient("alice@example.ORG"))
    assert re.fullmatch(
        r"<digest-2024-03-01\.[0-9a-f]{16}@news\.example\.org>", message_id(DAY, SITE, ALICE)
    )
    assert message_id(DAY, SITE, ALICE) != message_id(DAY, SITE, Recipient("bob@example.org"))
    assert message_id(DAY, SITE, ALICE) != message_id(date(2024, 3, 2), SITE, ALICE)


def test_same_inputs_give_the_same_bytes() -> None:
    assert build() == build()
    assert parse(build()).get_boundary().startswith("bulletin-")


@pytest.mark.parametrize(
    "changes",
    [
        {"content": Content(subject="Hello\r\nBcc: victim@example.org")},
        {"content": Content(subject="Hello\nBcc: victim@example.org")},
        {"sender": Sender("news@example.org", "Bugle\r\nBcc: victim@example.org")},
        {"recipient": Recipient("alice@example.org", "Alice\nBcc: victim@example.org")},
        {"recipient": Recipient("alice@example.org\r\nBcc: victim@example.org")},
    ],
)
def test_a_line_break_in_a_header_value_cannot_inject_a_header(changes: dict[str, Any]) -> None:
    with pytest.raises(DeliveryError, match="contains a line break"):
        build(**changes)


def test_a_long_unsubscribe_url_stays_on_one_line_and_unencoded() -> None:
    url = "https://news.example.org/unsubscribe?token=" + "a1b2" * 100
    data = build(unsubscribe=url)
    assert raw_header(data, "List-Unsubscribe") == f"List-Unsubscribe: <{url}>\r\n"
    assert parse(data)["List-Unsubscribe"] == f"<{url}>"


def test_other_headers_and_the_body_keep_to_78_columns() -> None:
    content = Content(subject="ملخص الأخبار اليومية للمدينة والمنطقة المحيطة بها " * 3)
    data = build(content, unsubscribe="https://news.example.org/u")
    head, body = data.split(b"\r\n\r\n", 1)
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    assert b"=?utf-8?b?" in head  # the subject is folded into several encoded words
    assert all(len(line) <= 78 for line in body.split(b"\r\n"))  # RFC 2045: 76 + CRLF
    assert parse(data)["Subject"] == content.subject


def test_non_ascii_bodies_are_sent_base64_or_quoted_printable() -> None:
    content = Content(text="قصير\n", html="<p>é</p>")
    data = build(content)
    assert max(data) < 128  # 7-bit clean: no server needs 8BITMIME
    assert parse(data).get_body(("plain",)).get_content() == "قصير\r\n"


def test_a_mailto_unsubscribe_gets_no_one_click_header() -> None:
    message = parse(build(unsubscribe="mailto:news@example.org?subject=unsubscribe"))
    assert message["List-Unsubscribe"] == "<mailto:news@example.org?subject=unsubscribe>"
    assert message["List-Unsubscribe-Post"] is None


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "https://x.org/a b", "https://x.org/>", "https://x.org/é", ""],
)
def test_unsubscribe_urls_that_do_not_fit_the_header_are_refused(url: str) -> None:
    with pytest.raises(DeliveryError, match="List-Unsubscribe"):
        build(unsubscribe=url)


def test_a_naive_date_is_refused() -> None:
    with pytest.raises(DeliveryError, match="aware"):
        build(date_header=datetime(2024, 3, 1, 18))


def test_a_rendered_digest_can_be_mailed_as_is() -> None:
    digest = build_digest(DAY, [make_item("a1"), arabic_item("b2")], CategoryIndex().order_key)
    rendered = render_digest(digest, SITE)
    message = parse(build_message(rendered, SITE, SENDER, ALICE, UNSUBSCRIBE, WHEN))
    assert message["Subject"] == rendered.subject
    page = message.get_body(("html",)).get_content()
    assert "list=digest&amp;who=alice" in page and "افتتاح مكتبة" in page
    assert message.get_body(("plain",)).get_content().rstrip().endswith(UNSUBSCRIBE)


# --- the outbox ------------------------------------------------------------------------------


def test_outbox_stores_one_file_per_key_and_skips_repeats(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    first, second = build(), build(recipient=Recipient("bob@example.org"))
    assert outbox.deliver("2024-03-01:alice@example.org", first) is True
    assert outbox.deliver("2024-03-01:bob@example.org", second) is True
    assert outbox.deliver("2024-03-01:alice@example.org", first) is False
    new = sorted((tmp_path / "outbox" / "new").iterdir())
    assert len(new) == 2
    assert list((tmp_path / "outbox" / "tmp").iterdir()) == []
    assert sorted(p.read_bytes() for p in new) == sorted([first, second])


def test_outbox_files_are_readable_by_a_maildir_reader(tmp_path: Path) -> None:
    Outbox(tmp_path).deliver("2024-03-01:alice@example.org", build())
    box = mailbox.Maildir(tmp_path, factory=None, create=False)
    messages = list(box)
    assert len(messages) == 1
    assert messages[0]["Message-ID"] == message_id(DAY, SITE, ALICE)


def test_a_message_already_read_from_the_outbox_is_not_delivered_again(tmp_path: Path) -> None:
    key = "2024-03-01:alice@example.org"
    Outbox(tmp_path).deliver(key, build())
    name = outbox_name(key)
    # What a mail reader does with a message it has shown.
    (tmp_path / "new" / name).rename(tmp_path / "cur" / f"{name}:2,S")
    assert Outbox(tmp_path).deliver(key, build()) is False
    assert list((tmp_path / "new").iterdir()) == []


def test_outbox_file_names_are_safe_whatever_the_key() -> None:
    name = outbox_name("2024-03-01:../../etc/passwd@example.org")
    assert re.fullmatch(r"[A-Za-z0-9._-]+", name) and ".." not in name.split(".")[0]
    assert outbox_name("a:b") != outbox_name("a/b")


# --- SMTP ------------------------------------------------------------------------------------


class Recorder:
    """An aiosmtpd handler that keeps what it receives and the session it came in."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []
        self.sessions: list[object] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        self.sessions.append(session)
        return "250 Message accepted"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Recorder, int]]:
    """A real SMTP server on 127.0.0.1 that offers neither STARTTLS nor AUTH."""
    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


def test_smtp_delivers_two_messages_over_one_connection(smtp_server: tuple[Recorder, int]) -> None:
    recorder, port = smtp_server
    bob = Recipient("bob@example.org", "Bob")
    messages = [build(), build(recipient=bob)]
    with SmtpTransport("127.0.0.1", port, security="none", timeout=5) as transport:
        transport.send(SENDER.address, [ALICE.address], messages[0])
        transport.send(SENDER.address, [bob.address], messages[1])
    assert [(f, t) for f, t, _ in recorder.received] == [
        ("news@example.org", ["Alice@Example.org"]),
        ("news@example.org", ["bob@example.org"]),
    ]
    assert len({id(session) for session in recorder.sessions}) == 1
    got = [parse(content)["Message-ID"] for _, _, content in recorder.received]
    assert got == [message_id(DAY, SITE, ALICE), message_id(DAY, SITE, bob)]


def test_smtp_send_outside_a_with_block_opens_its_own_connection(
    smtp_server: tuple[Recorder, int],
) -> None:
    recorder, port = smtp_server
    SmtpTransport("127.0.0.1", port, security="none", timeout=5).send(
        SENDER.address, [ALICE.address], build()
    )
    assert len(recorder.received) == 1


def test_starttls_is_required_when_configured(smtp_server: tuple[Recorder, int]) -> None:
    recorder, port = smtp_server
    transport = SmtpTransport("127.0.0.1", port, security="starttls", timeout=5)
    with pytest.raises(DeliveryError, match="does not offer STARTTLS"), transport:
        transport.send(SENDER.address, [ALICE.address], build())
    assert recorder.received == []


def test_an_unreachable_server_is_a_delivery_error() -> None:
    transport = SmtpTransport("127.0.0.1", free_port(), security="none", timeout=5)
    with pytest.raises(DeliveryError, match="cannot open a session"):
        transport.send(SENDER.address, [ALICE.address], build())


def test_a_password_is_never_sent_over_an_unencrypted_connection() -> None:
    with pytest.raises(DeliveryError, match="unencrypted"):
        SmtpTransport("127.0.0.1", 25, security="none", username="u", password="p")


def test_utc_date_header_is_written_with_its_offset() -> None:
    message = parse(build(date_header=datetime(2024, 3, 1, 16, tzinfo=UTC)))
    assert message["Date"] == "Fri, 01 Mar 2024 16:00:00 +0000"


# --- one template, many recipients -------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Ann",
        "Ann O'Neil",
        'Dr. "Bob" Smith, Jr.',
        "back\\slash",
        "قارئ الأخبار",
        "Zoë 📰" + " long" * 30,
    ],
)
def test_recipient_names_parse_back_exactly(name: str) -> None:
    data = build(recipient=Recipient("ann@example.org", name))
    to = parse(data)["To"].addresses[0]
    assert (to.display_name, to.addr_spec) == (name, "ann@example.org")
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))


def test_lines_end_in_crlf_and_stay_within_the_limits() -> None:
    long_line = "word " * 600  # 3,000 characters on one line of HTML
    data = build(Content(html=f"<p>{long_line}</p><a href='{TOKEN}'>x</a>", text=long_line + TOKEN))
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n\r\n", 1)[1].split(b"\r\n")) <= 76
    assert parse(data).get_body(("html",)).get_content().count("word") == 600


def test_both_unsubscribe_links_go_in_the_header_and_the_web_one_in_the_body() -> None:
    links = Unsubscribe(url=UNSUBSCRIBE, mailto="mailto:news@example.org?subject=unsubscribe%20t")
    message = parse(build(unsubscribe=links))
    assert message["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>, <{links.mailto}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert UNSUBSCRIBE in message.get_body(("plain",)).get_content()


def test_a_template_renders_what_build_message_builds() -> None:
    template = MessageTemplate(Content(), SITE, SENDER, WHEN)
    bob = Recipient("bob@example.org", "Bob")
    assert template.render(bob, UNSUBSCRIBE) == build(recipient=bob)


# --- what the SMTP session makes of each fault -------------------------------------------------


def test_a_connection_dropped_during_a_large_data_is_deferred_not_unknown() -> None:
    with Server() as server, SmtpTransport("127.0.0.1", server.port, security="none") as smtp:
        huge = build() + b"x" * 76 + (b"\r\n" + b"y" * 76) * 200_000  # ~16 MB
        result = smtp.submit(SENDER.address, "drop1@example.org", huge)
    assert (result.status, result.reconnect) == ("deferred", True)


def test_a_server_that_keeps_the_message_without_answering_leaves_it_unknown() -> None:
    with Server() as server, SmtpTransport("127.0.0.1", server.port, security="none") as smtp:
        result = smtp.submit(SENDER.address, "vanish1@example.org", build())
    assert result.status == "unknown" and "may or may not have it" in result.reply
    assert len(server.mailbox.received) == 1


def test_421_at_connect_is_a_transient_session_error() -> None:
    with Server(refuse_first=1) as server:
        smtp = SmtpTransport("127.0.0.1", server.port, security="none", timeout=5)
        with pytest.raises(SessionError, match="421") as raised:
            smtp.open()
        assert raised.value.transient
        smtp.open()  # the next connection is served
        assert smtp.submit(SENDER.address, "ann@example.org", build()).status == "sent"
        smtp.close()


def test_implicit_tls_verifies_the_certificate(tmp_path: Path) -> None:
    context, certificate = self_signed(tmp_path)
    with Server(tls=context, implicit_tls=True) as server:
        trusted = SmtpTransport("127.0.0.1", server.port, security="ssl", ca_file=certificate)
        with trusted:
            assert trusted.submit(SENDER.address, "ann@example.org", build()).status == "sent"
        with pytest.raises(SessionError, match="certificate verify failed"):
            SmtpTransport("127.0.0.1", server.port, security="ssl", timeout=5).open()


def test_lines_that_start_with_a_dot_arrive_unchanged(smtp_server: tuple[Recorder, int]) -> None:
    recorder, port = smtp_server
    message = b"Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\nmiddle.\r\n\r\n.\r\nend\r\n"
    with SmtpTransport("127.0.0.1", port, security="none", timeout=5) as smtp:
        assert smtp.submit(SENDER.address, ALICE.address, message).status == "sent"
    assert recorder.received[0][2] == message


def test_the_end_of_the_data_waits_until_the_caller_is_ready(
    smtp_server: tuple[Recorder, int],
) -> None:
    recorder, port = smtp_server
    seen_when_asked: list[int] = []

    def ready() -> bool:
        seen_when_asked.append(len(recorder.received))
        return True

    with SmtpTransport("127.0.0.1", port, security="none", timeout=5) as smtp:
        assert smtp.submit(SENDER.address, ALICE.address, build(), ready).status == "sent"
    assert seen_when_asked == [0] and len(recorder.received) == 1


def test_a_message_the_caller_does_not_confirm_is_abandoned_unsent(
    smtp_server: tuple[Recorder, int],
) -> None:
    recorder, port = smtp_server
    bob = Recipient("bob@example.org", "Bob")
    with SmtpTransport("127.0.0.1", port, security="none", timeout=5) as smtp:
        result = smtp.submit(SENDER.address, "carol@example.org", build(), lambda: False)
        assert (result.status, result.reconnect, smtp.is_open) == ("deferred", True, False)

        def failing() -> bool:
            raise RuntimeError("the ledger is gone")

        smtp.open()
        with pytest.raises(RuntimeError, match="ledger is gone"):
            smtp.submit(SENDER.address, "dave@example.org", build(), failing)
        assert not smtp.is_open
        smtp.open()
        assert smtp.submit(SENDER.address, bob.address, build(recipient=bob)).status == "sent"
    time.sleep(0.2)  # a late delivery of the abandoned ones would show up by now
    assert [to for _, to, _ in recorder.received] == [["bob@example.org"]]


def test_a_reply_says_whether_it_refuses_the_recipient_alone() -> None:
    with Server() as server, SmtpTransport("127.0.0.1", server.port, security="none") as smtp:
        got = {
            local: smtp.submit(SENDER.address, f"{local}@example.org", build())
            for local in ("ann", "bad1", "busy1", "spam1", "drop1")
        }
    assert {local: (r.status, r.per_recipient) for local, r in got.items()} == {
        "ann": ("sent", False),
        "bad1": ("failed", True),  # 550 to RCPT
        "busy1": ("deferred", True),  # 451 to RCPT
        "spam1": ("failed", True),  # 554 to the end of DATA
        # The connection's trouble, not the recipient's; lost before or after the end of the
        # data was out, depending on the timing.
        "drop1": (got["drop1"].status, False),
    }
    assert got["drop1"].status in ("deferred", "unknown")
