"""Names in mail headers: nothing in them is ever read back as an encoded word or a header.

A name that looks like an RFC 2047 encoded word (``=?utf-8?q?...?=``) is decoded by mail
readers, and the email package, wherever it stands, even in quotes; one whose decoded text
holds CR LF then reads as a header of its own. And a name typed on a command line in another
encoding than UTF-8 reaches bulletin as lone surrogates.
"""

from __future__ import annotations

import base64
import quopri
import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner

from bulletin.cli import main
from bulletin.delivery.message import Sender
from bulletin.errors import StoreError
from bulletin.model import Recipient
from bulletin.store import check_name, normalize_address
from test_delivery import Content, build

HEADERS = [
    "From",
    "Subject",
    "Date",
    "List-Id",
    "To",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
]
CRLF_WORD = "=?utf-8?q?Ann=0D=0ABcc:_everyone@example.org?="
NAMES = [
    CRLF_WORD,
    f"Dr. {CRLF_WORD} Smith",
    f'"{CRLF_WORD}"',
    f"{CRLF_WORD} Zoë",
    "=?iso-8859-1?b?QW5uDQpCY2M6IHhAeS5vcmc=?=",
    "=?utf-8?Q?a?= =?utf-8?Q?b?=",
    "=?",
    "a=?b?c?=d " * 12,
]


def parsed(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def raw(data: bytes, name: str) -> str:
    """A header's value as written, its folds undone."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    value = (
        head.split(f"\r\n{name}: ", 1)[1] if not head.startswith(name) else head[len(name) + 2 :]
    )
    lines = value.split("\r\n")
    ends = next((i for i, line in enumerate(lines[1:], 1) if not line.startswith(" ")), len(lines))
    return "\r\n".join(lines[:ends])


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=")


def read_once(value: str) -> str:
    """What a lenient mail reader shows: every encoded word, even one inside other text,
    decoded once and only once, and the white space between two of them dropped."""
    value = value.replace("\r\n", "")  # unfolding
    shown, end, after_word = [], 0, False
    for word in _ENCODED_WORD.finditer(value):
        between = value[end : word.start()]
        if not (after_word and not between.strip()):
            shown.append(between)
        charset, kind, text = word.groups()
        if kind in "Bb":
            data = base64.b64decode(text + "=" * (-len(text) % 4))
        else:
            data = quopri.decodestring(text.replace("_", " ").encode(), header=True)
        shown.append(data.decode(charset, "replace"))
        end, after_word = word.end(), True
    return "".join(shown) + value[end:]


def assert_no_new_header(data: bytes) -> None:
    message = parsed(data)
    assert sorted(message.keys()) == sorted(HEADERS)
    assert message.defects == []
    assert "Bcc" not in message


@pytest.mark.parametrize("name", NAMES)
def test_a_recipient_name_is_read_back_as_itself_and_as_nothing_else(name: str) -> None:
    data = build(recipient=Recipient("ann@example.org", name))
    assert_no_new_header(data)
    to = parsed(data)["To"]
    assert [a.addr_spec for a in to.addresses] == ["ann@example.org"]
    assert read_once(raw(data, "To")) == f"{name} <ann@example.org>"
    if len(name.encode()) <= 42:  # one encoded word: the email package reads it back too
        assert to.addresses[0].display_name == name


@pytest.mark.parametrize("name", NAMES[:5])
def test_a_sender_name_is_read_back_as_itself_and_as_nothing_else(name: str) -> None:
    data = build(sender=Sender("news@example.org", name))
    assert_no_new_header(data)
    assert parsed(data)["From"].addresses[0].addr_spec == "news@example.org"
    assert read_once(raw(data, "From")) == f"{name} <news@example.org>"


@pytest.mark.parametrize("name", NAMES[:5])
def test_a_subject_is_read_back_as_itself_and_as_nothing_else(name: str) -> None:
    subject = f"Daily Bugle: {name}"
    data = build(Content(subject=subject))
    assert_no_new_header(data)
    assert str(parsed(data)["Subject"]) == subject
    assert all(len(line) <= 78 for line in data.split(b"\r\n\r\n")[0].split(b"\r\n"))


def test_names_that_are_not_utf8_are_refused_with_the_byte_they_hold() -> None:
    # click hands a command line's bytes that are not UTF-8 on as lone surrogates.
    with pytest.raises(StoreError, match=r"the name 'Zo\?' holds byte 0xEB, which is not UTF-8"):
        check_name("Zo\udceb")
    with pytest.raises(StoreError, match="holds byte 0xFF, which is not UTF-8"):
        normalize_address("\udcff@example.org")
    with pytest.raises(StoreError, match="a lone surrogate"):
        check_name("half \ud83d")


def test_subscribers_add_with_a_name_that_is_not_utf8_says_so(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("site:\n  title: Bugle\n", encoding="utf-8")
    config = str(tmp_path / "config.yaml")
    arguments = ["--config", config, "subscribers", "add", "a@example.org", "--name", "Zo\udceb"]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert "holds byte 0xEB, which is not UTF-8" in result.output
