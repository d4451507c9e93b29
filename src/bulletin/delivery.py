"""Rendered digests to email messages, and messages to a Maildir outbox or an SMTP server: the
only module speaking SMTP.

``build_message`` is pure: the same content, recipient and date give the same bytes (stable
Message-ID and MIME boundary), with RFC 2369/8058 list headers for one-click unsubscribe.
``Outbox`` writes each message once per key, so a rerun delivers nothing twice;
``SmtpTransport`` sends over one connection and never falls back to clear text.
"""

from __future__ import annotations

import email.errors
import hashlib
import html
import os
import re
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, EmailPolicy
from email.utils import format_datetime
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol

from bulletin.errors import DeliveryError
from bulletin.files import write_temporary
from bulletin.model import Recipient, Site

Security = Literal["starttls", "ssl", "none"]
# Headers holding a URL: folding them into encoded words (RFC 2047) makes the URL unreadable
# to mail clients, so they are written on one line (RFC 5322 allows up to 998 characters).
_URL_HEADERS = frozenset({"list-unsubscribe"})
_LONG_LINES = SMTP.clone(max_line_length=998)
# An http(s) or mailto URL of printable ASCII without < and >, which would end the header's <...>.
_HEADER_URL = re.compile(r"(https?://|mailto:)[\x21-\x3b\x3d\x3f-\x7e]+")
_MAX_HEADER_URL = 900


class _DigestPolicy(EmailPolicy):
    """``policy.SMTP`` (CRLF, 78-column folding), except that URL headers are never folded.

    A blanket ``max_line_length=998`` would also fix the URLs, but then the Subject becomes a
    single encoded word far over RFC 2047's 75 characters, and base64/quoted-printable bodies
    get 998-column lines where RFC 2045 allows 76.
    """

    def fold_binary(self, name: str, value: str) -> bytes:
        """Fold one header for ``as_bytes`` (messages are only ever produced as bytes)."""
        if name.lower() in _URL_HEADERS:
            return _LONG_LINES.fold_binary(name, value)
        return super().fold_binary(name, value)


# cte_type 7bit: non-ASCII bodies go out base64 or quoted-printable, so no server needs
# 8BITMIME (smtplib would not ask for it).
POLICY = _DigestPolicy(linesep="\r\n", cte_type="7bit")


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


def build_message(
    content: MessageContent,
    site: Site,
    sender: Sender,
    recipient: Recipient,
    unsubscribe_url: str,
    date_header: datetime,
) -> bytes:
    """One recipient's digest as RFC 5322 bytes: text and HTML alternatives, list headers."""
    _check_url(unsubscribe_url)
    _check_one_line(
        subject=content.subject,
        sender=f"{sender.name} <{sender.address}>",
        recipient=f"{recipient.name} <{recipient.address}>",
    )
    if date_header.tzinfo is None:
        raise DeliveryError("the Date header needs an aware datetime, got a naive one")
    token = content.unsubscribe_token
    message = EmailMessage(policy=POLICY)
    try:
        message["From"] = Address(display_name=sender.name, addr_spec=sender.address)
        message["To"] = Address(display_name=recipient.name, addr_spec=recipient.address)
        message["Subject"] = content.subject
        message["Date"] = format_datetime(date_header)
        message["Message-ID"] = message_id(content.day, site, recipient)
        message["List-Id"] = f"<digest.{site.domain}>"
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"  # RFC 2369
        if unsubscribe_url.startswith("https://"):
            # One-click unsubscribe (RFC 8058, asked for by Gmail and Yahoo) needs an HTTPS URI:
            # the mail client POSTs to it. A mailto: link gets no such header.
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        text = content.text.replace(token, unsubscribe_url)
        page = content.html.replace(token, html.escape(unsubscribe_url, quote=True))
        message.set_content(text)
        message.add_alternative(page, subtype="html")
        # A boundary derived from the parts instead of a random one keeps the bytes reproducible;
        # a hash of the parts cannot occur in them.
        parts = hashlib.sha256(f"{text}\x00{page}".encode()).hexdigest()[:32]
        message.set_boundary(f"bulletin-{parts}")
        return message.as_bytes()
    except (ValueError, email.errors.MessageError) as error:
        # ValueError covers CR/LF in a header (header injection) and malformed addresses.
        raise DeliveryError(
            f"digest of {content.day} for {recipient.address!r}: cannot build the message: {error}",
            hint="check the addresses, names and subject in config.yaml (no line breaks)",
        ) from error


def message_id(day: date, site: Site, recipient: Recipient) -> str:
    """A Message-ID that is the same for the same day and recipient, so resends are recognised."""
    who = hashlib.sha256(recipient.address.lower().encode()).hexdigest()[:16]
    return f"<digest-{day.isoformat()}.{who}@{site.domain}>"


def _check_one_line(**values: str) -> None:
    """Refuse line breaks in header values: each would start a new header (header injection).

    The email package refuses them too (with a ValueError); this says which value it was.
    """
    for what, value in values.items():
        if "\r" in value or "\n" in value:
            raise DeliveryError(
                f"the {what} {value[:80]!r} contains a line break",
                hint="names, addresses and subjects must be one line; check config.yaml",
            )


def _check_url(url: str) -> None:
    if not _HEADER_URL.fullmatch(url) or len(url) > _MAX_HEADER_URL:
        raise DeliveryError(
            f"unsubscribe URL {url[:100]!r} cannot go in a List-Unsubscribe header",
            hint=f"use an https: or mailto: URL of printable ASCII (percent-encode the rest), "
            f"at most {_MAX_HEADER_URL} characters",
        )


# --- outbox --------------------------------------------------------------------------------


class Outbox:
    """A Maildir (tmp/, new/, cur/) that holds each message once per delivery key."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def deliver(self, key: str, message: bytes) -> bool:
        """Store ``message`` in new/ unless one for ``key`` is there already; whether it was."""
        name = outbox_name(key)
        try:
            for part in ("tmp", "new", "cur"):
                (self.folder / part).mkdir(parents=True, exist_ok=True)
            if self._holds(name):
                return False
            return self._write(name, message)
        except OSError as error:
            raise DeliveryError(
                f"outbox {self.folder}: cannot store the message for {key!r}: {error}",
                hint="check that the outbox folder is writable and the disk is not full",
            ) from error

    def _holds(self, name: str) -> bool:
        if (self.folder / "new" / name).exists():
            return True
        # A mail reader moves a seen message to cur/ and appends ":2,<flags>" to its name.
        return any(
            entry.name == name or entry.name.startswith(name + ":")
            for entry in (self.folder / "cur").iterdir()
        )

    def _write(self, name: str, message: bytes) -> bool:
        """Write in tmp/, then link into new/: readers never see a partial file (Maildir)."""
        temporary = write_temporary(self.folder / "tmp", name + ".", message, 0o600)
        try:
            # link() fails if the name exists, so two overlapping runs cannot both deliver.
            os.link(temporary, self.folder / "new" / name)
        except FileExistsError:
            return False
        finally:
            temporary.unlink()
        return True


def outbox_name(key: str) -> str:
    """A Maildir file name for a delivery key: a readable prefix and a hash of the whole key."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", key)[:60].strip("._")
    return f"{readable}.{hashlib.sha256(key.encode()).hexdigest()[:24]}"


# --- SMTP ----------------------------------------------------------------------------------


class SmtpTransport:
    """Sends messages over SMTP; used as a context manager, it reuses one connection."""

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        security: Security = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        if username is not None and password is None:
            raise DeliveryError(f"SMTP user {username!r} has no password", hint="set password_env")
        if username is not None and security == "none":
            raise DeliveryError(
                f"refusing to send the SMTP password for {username!r} unencrypted",
                hint="use delivery.smtp.security: starttls or ssl",
            )
        self.host, self.port, self.security = host, port, security
        self.username, self.password, self.timeout = username, password, timeout
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpTransport:
        self._smtp = self._connect()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """End the session; a server that already hung up is not an error."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def send(self, from_addr: str, to_addrs: Sequence[str], message: bytes) -> None:
        """Send one message; returns once the server has accepted it for every recipient."""
        if self._smtp is None:
            with self:
                self.send(from_addr, to_addrs, message)
            return
        try:
            refused = self._smtp.sendmail(from_addr, list(to_addrs), message)
        except (smtplib.SMTPException, OSError) as error:
            raise self._error(f"the server did not accept the message: {error}") from error
        if refused:
            raise self._error(f"the server refused some recipients: {sorted(refused)}")

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()  # verifies the certificate and the host name
        smtp: smtplib.SMTP | None = None
        try:
            if self.security == "ssl":
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            smtp.ehlo()
            if self.security == "starttls":
                if not smtp.has_extn("starttls"):
                    # Never fall back to clear text: that is what a downgrade attack looks like.
                    raise self._error("the server does not offer STARTTLS")
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.username is not None:
                smtp.login(self.username, self.password or "")
            return smtp
        except (smtplib.SMTPException, OSError) as error:
            if smtp is not None:
                smtp.close()
            raise self._error(f"cannot open a session: {error}") from error
        except DeliveryError:
            if smtp is not None:
                smtp.close()
            raise

    def _error(self, message: str) -> DeliveryError:
        return DeliveryError(
            f"SMTP {self.host}:{self.port} ({self.security}): {message}",
            hint="check delivery.smtp in config.yaml and that the server is reachable",
        )
