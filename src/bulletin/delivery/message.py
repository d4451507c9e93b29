"""One digest, many recipients: RFC 5322 messages built once per variant, filled per recipient.

``MessageTemplate`` builds the parts every recipient shares once (the From, Subject, Date and
List-Id headers through the email package, both bodies quoted-printable); ``render`` adds the
recipient's To, Message-ID and List-Unsubscribe headers and their unsubscribe link. That keeps a
personalised message at tens of microseconds instead of the ~2 ms a fresh ``EmailMessage``
costs. The bytes are the same for the same inputs (stable Message-ID and MIME boundary).

Header injection: every shared header goes through ``EmailMessage``, which refuses line
breaks; per-recipient values are checked here and encoded as RFC 2047 words when not plain
ASCII. Long URL headers are never folded into encoded words (python/cpython#85725). Text that
holds "=?" is encoded here whole, never handed to the email package as it is: the package, and
mail readers, decode anything that looks like an encoded word, and one whose decoded text holds
CR LF then reads as a header of its own (``=?utf-8?q?Ann=0D=0ABcc:_x@y?=``).
"""

from __future__ import annotations

import base64
import email.errors
import hashlib
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from email import quoprimime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, EmailPolicy
from email.utils import format_datetime
from typing import Protocol

from bulletin.errors import DeliveryError
from bulletin.model import Recipient, Site

# Headers holding a URL: folding them into encoded words (RFC 2047) makes the URL unreadable
# to mail clients, so they are written on one line (RFC 5322 allows up to 998 characters).
_URL_HEADERS = frozenset({"list-unsubscribe"})
_LONG_LINES = SMTP.clone(max_line_length=998)
# An http(s) or mailto URL of printable ASCII without < and >, which would end the header's <...>.
_HEADER_URL = re.compile(r"(https?://|mailto:)[\x21-\x3b\x3d\x3f-\x7e]+")
_MAX_HEADER_URL = 900
# A dot-atom address (RFC 5322 3.4.1) of ASCII; what the mailing list accepts (no quoting).
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")
_ATOM_TEXT = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*")
_CRLF = "\r\n"
# Bytes of UTF-8 in one encoded word: 56 characters of base64, 68 with "=?utf-8?b?" and "?=",
# so that "Subject: " and a word stay within 78 characters (RFC 2047 asks for 76 at most).
_WORD_BYTES = 42


class _DigestPolicy(EmailPolicy):
    """``policy.SMTP`` (CRLF, 78-column folding), except that URL headers are never folded.

    A blanket ``max_line_length=998`` would also fix the URLs, but then the Subject becomes a
    single encoded word far over RFC 2047's 75 characters.
    """

    def fold_binary(self, name: str, value: str) -> bytes:
        """Fold one header for ``as_bytes`` (messages are only ever produced as bytes)."""
        if name.lower() in _URL_HEADERS:
            return _LONG_LINES.fold_binary(name, value)
        return super().fold_binary(name, value)


# cte_type 7bit: non-ASCII goes out encoded, so no server needs 8BITMIME.
POLICY = _DigestPolicy(linesep=_CRLF, cte_type="7bit")


class MessageContent(Protocol):
    """What a message is made of; ``bulletin.digest.RenderedDigest`` has this shape."""

    @property
    def day(self) -> date: ...
    @property
    def subject(self) -> str: ...
    @property
    def html(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def unsubscribe_token(self) -> str: ...


@dataclass(frozen=True)
class Sender:
    """Who the digest comes from."""

    address: str
    name: str


@dataclass(frozen=True)
class Unsubscribe:
    """Where one recipient leaves the list: a web URL (one-click if https) and a mailto."""

    url: str | None = None
    mailto: str | None = None

    @classmethod
    def of(cls, link: str | Unsubscribe) -> Unsubscribe:
        """A single link as an ``Unsubscribe``."""
        if isinstance(link, Unsubscribe):
            return link
        return cls(mailto=link) if link.startswith("mailto:") else cls(url=link)

    @property
    def links(self) -> list[str]:
        """The links, web first (RFC 2369 lists them in order of preference)."""
        return [link for link in (self.url, self.mailto) if link]

    @property
    def one_click(self) -> bool:
        """Whether mail clients may POST to the URL (RFC 8058 asks for https)."""
        return bool(self.url and self.url.startswith("https://"))


def message_id(day: date, site: Site, recipient: Recipient) -> str:
    """A Message-ID that is the same for the same day and recipient, so resends are recognised."""
    who = hashlib.sha256(recipient.address.lower().encode()).hexdigest()[:16]
    return f"<digest-{day.isoformat()}.{who}@{site.domain}>"


_message_id = message_id  # for MessageTemplate.render, whose argument has the same name


def list_id(site: Site) -> str:
    """The default List-Id (RFC 2919) of a site's digest."""
    return f"digest.{site.domain}"


class MessageTemplate:
    """A digest variant made into message parts once, rendered per recipient in microseconds."""

    def __init__(
        self,
        content: MessageContent,
        site: Site,
        sender: Sender,
        date_header: datetime,
        list_name: str | None = None,
        links: Sequence[str] = (),
    ) -> None:
        """``links`` are other placeholders in the parts (besides the unsubscribe token) that
        ``render`` fills per recipient, such as their "manage your subscription" URL."""
        if date_header.tzinfo is None:
            raise DeliveryError("the Date header needs an aware datetime, got a naive one")
        _check_one_line(subject=content.subject, sender=f"{sender.name} <{sender.address}>")
        self.day, self.site = content.day, site
        shared = EmailMessage(policy=POLICY)
        own = b""  # headers written here: text an encoded word could be read out of
        try:
            if "=?" in sender.name:
                own += f"From: {encoded_words(sender.name)} <{sender.address}>\r\n".encode()
            else:
                shared["From"] = Address(display_name=sender.name, addr_spec=sender.address)
            if "=?" in content.subject:
                own += f"Subject: {encoded_words(content.subject)}\r\n".encode()
            else:
                shared["Subject"] = content.subject
            shared["Date"] = format_datetime(date_header)
            shared["List-Id"] = f"<{list_name or list_id(site)}>"
            self._shared = own + shared.as_bytes().rstrip(b"\r\n") + b"\r\n"
        except (ValueError, IndexError, email.errors.MessageError) as error:
            raise DeliveryError(
                f"digest of {content.day}: cannot build the message headers: {error}",
                hint="check delivery.from_address, from_name and digest.subject in config.yaml",
            ) from error
        self._unsubscribe = content.unsubscribe_token
        tokens = (content.unsubscribe_token, *links)
        # A boundary derived from the parts instead of a random one keeps the bytes
        # reproducible; a hash of the parts cannot occur in them.
        digest = hashlib.sha256(f"{content.text}\x00{content.html}".encode()).hexdigest()[:32]
        boundary = f"bulletin-{digest}"
        self._mime = (
            'MIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n boundary="'
            f'{boundary}"\r\n\r\n'
        ).encode()
        self._text = _QuotedParts(content.text, tokens, boundary, "plain")
        self._html = _QuotedParts(content.html, tokens, boundary, "html")
        self._end = f"\r\n--{boundary}--\r\n".encode()

    def render(
        self,
        recipient: Recipient,
        unsubscribe: str | Unsubscribe,
        message_id: str = "",
        bounce_token: str = "",
        fills: Mapping[str, str] | None = None,
    ) -> bytes:
        """The recipient's message as RFC 5322 bytes with CRLF line ends.

        ``message_id``, if the caller has it already, must be ``message_id(day, site, who)``;
        ``bounce_token`` (``tokens.sign_bounce``), if given, goes in an ``X-Bulletin-Bounce``
        header, which bounces that lose the VERP return path still quote. ``fills`` gives the
        URL of each of the template's other ``links``.
        """
        links = Unsubscribe.of(unsubscribe)
        for link in links.links:
            _check_url(link)
        if not links.links:
            raise DeliveryError("a digest needs a List-Unsubscribe link: give a URL or a mailto")
        _check_one_line(recipient=f"{recipient.name} <{recipient.address}>")
        head = [
            self._shared,
            _to_header(recipient),
            f"Message-ID: {message_id or _message_id(self.day, self.site, recipient)}\r\n".encode(),
            ("List-Unsubscribe: " + ", ".join(f"<{u}>" for u in links.links) + _CRLF).encode(),
        ]
        if bounce_token:
            if not bounce_token.isalnum():  # base32: anything else could break the header
                raise DeliveryError(f"not a bounce token: {bounce_token[:60]!r}")
            head.append(f"X-Bulletin-Bounce: {bounce_token}\r\n".encode("ascii"))
        if links.one_click:
            # One-click unsubscribe (RFC 8058, asked for by Gmail and Yahoo): the mail client
            # POSTs to the https URL; a mailto: or http: link gets no such header.
            head.append(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
        link = links.url or links.mailto or ""
        urls = {**(fills or {}), self._unsubscribe: link}
        for url in urls.values():
            _check_url(url)
        escaped = {token: html.escape(url, quote=True) for token, url in urls.items()}
        return b"".join(
            [*head, self._mime, self._text.fill(urls), self._html.fill(escaped), self._end]
        )


def build_message(
    content: MessageContent,
    site: Site,
    sender: Sender,
    recipient: Recipient,
    unsubscribe: str | Unsubscribe,
    date_header: datetime,
    list_name: str | None = None,
) -> bytes:
    """One recipient's digest as RFC 5322 bytes: text and HTML alternatives, list headers."""
    template = MessageTemplate(content, site, sender, date_header, list_name)
    return template.render(recipient, unsubscribe)


class _QuotedParts:
    """One body part, quoted-printable, with a hole wherever one of the tokens was.

    Quoted-printable may break a line anywhere with a soft break (``=`` CRLF, RFC 2045 6.7),
    so each stretch between holes is encoded once and the link is encoded alone between soft
    breaks: lines stay within 76 characters and no encoded stretch depends on the link.
    """

    def __init__(self, text: str, tokens: Sequence[str], boundary: str, subtype: str) -> None:
        head = (
            f'--{boundary}\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        )
        if subtype == "html":
            head = _CRLF + head
        text = text.replace("\r\n", "\n")
        if text and not text.endswith("\n"):
            text += "\n"
        self._head = head.encode()
        # re.split with a group keeps each token found: stretches and tokens alternate.
        parts = re.split("(" + "|".join(map(re.escape, tokens)) + ")", text)
        self._stretches = [_quote(stretch) for stretch in parts[::2]]
        self._holes = parts[1::2]

    def fill(self, links: Mapping[str, str]) -> bytes:
        out = [self._head, self._stretches[0]]
        for token, stretch in zip(self._holes, self._stretches[1:], strict=True):
            out += [b"=\r\n", _quote(links.get(token, token)), b"=\r\n", stretch]
        return b"".join(out)


def _quote(text: str) -> bytes:
    # body_encode works on one character per byte; 75 leaves room for a soft break after.
    latin = text.encode("utf-8").decode("latin-1")
    return quoprimime.body_encode(latin, maxlinelen=75, eol=_CRLF).encode("ascii")


def _to_header(recipient: Recipient) -> bytes:
    """The To header: plain when the name is plain ASCII, else RFC 2047 encoded words."""
    address, name = recipient.address, recipient.name
    if not _PLAIN_ADDRESS.fullmatch(address):
        raise DeliveryError(
            f"{address!r} is not a plain ASCII address",
            hint="add recipients with `bulletin subscribers add`, which checks addresses",
        )
    if not name:
        return f"To: {address}\r\n".encode()
    if any("\ud800" <= char <= "\udfff" for char in name):
        raise DeliveryError(
            f"the name of {address} is not valid text (bytes that were not UTF-8)",
            hint="set it again with `bulletin subscribers add`, which checks names",
        )
    if "=?" in name:  # as it is, or quoted, a mail reader would decode it (RFC 2047 5)
        shown = encoded_words(name)
    elif _ATOM_TEXT.fullmatch(name) and name.strip() == name:
        shown = name
    elif name.isascii() and name.isprintable():
        shown = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    else:  # RFC 2047 words, folded by the email package (slower, but only for such names)
        try:
            header = POLICY.header_factory("To", Address(display_name=name, addr_spec=address))
        except (ValueError, IndexError, email.errors.MessageError) as error:
            raise DeliveryError(f"cannot write {address!r} in a To header: {error}") from None
        return str(header.fold(policy=POLICY)).encode("ascii")
    last = shown.rsplit(_CRLF, 1)[-1]
    gap = " " if len(last) + len(address) + 3 <= 78 else "\r\n "
    line = f"To: {shown}{gap}<{address}>"
    if max(len(part) for part in line.split(_CRLF)) > 998:  # RFC 5322 2.1.1
        raise DeliveryError(f"the name of {address} is too long for a header")
    return (line + _CRLF).encode("ascii")


def encoded_words(text: str) -> str:
    """``text`` as RFC 2047 "B" encoded words of UTF-8, folded: what a mail reader decodes,
    once, back to exactly ``text``, whatever it looks like. Each word holds whole characters
    and is at most 68 characters long."""
    chunks: list[bytes] = []
    for char in text:
        data = char.encode("utf-8")
        if not chunks or len(chunks[-1]) + len(data) > _WORD_BYTES:
            chunks.append(b"")
        chunks[-1] += data
    words = (f"=?utf-8?b?{base64.b64encode(chunk).decode('ascii')}?=" for chunk in chunks)
    return "\r\n ".join(words)


def _check_one_line(**values: str) -> None:
    """Refuse line breaks in header values: each would start a new header (header injection).

    The email package refuses them too (with a ValueError); this says which value it was.
    """
    for what, value in values.items():
        if "\r" in value or "\n" in value:
            raise DeliveryError(
                f"the {what} {value[:80]!r} contains a line break",
                hint="names, addresses and subjects must be one line",
            )


def _check_url(url: str) -> None:
    if not _HEADER_URL.fullmatch(url) or len(url) > _MAX_HEADER_URL:
        raise DeliveryError(
            f"unsubscribe URL {url[:100]!r} cannot go in a List-Unsubscribe header",
            hint=f"use an https: or mailto: URL of printable ASCII (percent-encode the rest), "
            f"at most {_MAX_HEADER_URL} characters",
        )
