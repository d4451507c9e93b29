"""Real SMTP servers for the delivery tests: aiosmtpd on 127.0.0.1, with faults on demand.

A ``Mailbox`` handler keeps every message it accepts and answers by the recipient's local
part: ``bad*`` gets 550 on RCPT, ``busy*`` 451, ``full*`` 452, ``spam*`` 554 after DATA,
``drop*`` loses the connection in the middle of DATA, ``vanish*`` after the end of DATA
(before answering: the server has the message, the client cannot know). A ``Server`` can
also answer 421 to its first connections, offer PIPELINING, STARTTLS, implicit TLS and AUTH.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps what it accepts and injects faults by local part."""

    pipelining: bool = False
    received: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    on_message: Callable[[int], None] | None = None  # called with the count, before replying
    on_rcpt: Callable[[str], None] | None = None  # called with each recipient, before replying
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.on_rcpt is not None:
            self.on_rcpt(address)
        for prefix, reply in RCPT_FAULTS.items():
            if address.startswith(prefix):
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if server.transport is None:
            # The client hung up before the end of the data: a real server discards the
            # message (RFC 5321 4.1.1.4), but aiosmtpd's DATA loop, ending when its transport
            # goes, may hand it over when the last lines were already buffered.
            return "451 4.3.0 connection lost before the end of the data"
        rcpt = envelope.rcpt_tos[0]
        if rcpt.startswith("spam"):
            return "554 5.7.1 message refused as spam"
        with self.lock:
            self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
            count = len(self.received)
        if self.on_message is not None:
            self.on_message(count)
        if rcpt.startswith("vanish"):
            server.transport.close()  # kept the message, never says so
        return "250 2.0.0 queued"

    def messages(self) -> list[EmailMessage]:
        """Every message received, parsed."""
        parsed = []
        for _, _, content in self.received:
            message = message_from_bytes(content, policy=policy.default)
            assert isinstance(message, EmailMessage)
            parsed.append(message)
        return parsed

    def copies(self) -> Counter[str]:
        """How many messages each recipient got."""
        return Counter(rcpt for _, rcpts, _ in self.received for rcpt in rcpts)


RCPT_FAULTS = {
    "bad": "550 5.1.1 mailbox unavailable",
    "busy": "451 4.7.1 try again later",
    "full": "452 4.2.2 mailbox full",
}


class _FaultySMTP(SMTP):
    """aiosmtpd's SMTP, refusing the first connections and dropping mid-DATA on request."""

    refuse_left: list[int]

    async def _handle_client(self) -> None:
        if self.refuse_left[0] > 0:
            self.refuse_left[0] -= 1
            await self.push("421 4.3.2 too busy, come back later")
            assert self.transport is not None
            self.transport.close()
            return
        await super()._handle_client()

    async def smtp_DATA(self, arg: str) -> None:
        if self.envelope.rcpt_tos and self.envelope.rcpt_tos[0].startswith("drop"):
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            await self._reader.readuntil(b"\r\n")  # the first line, then the line goes dead
            assert self.transport is not None
            self.transport.abort()
            return
        await super().smtp_DATA(arg)


class _Controller(Controller):
    def __init__(self, handler: Mailbox, refuse: int, **kwargs: Any) -> None:
        self.refuse_left = [refuse]
        super().__init__(handler, **kwargs)

    def factory(self) -> SMTP:
        server = _FaultySMTP(self.handler, **self.SMTP_kwargs)
        server.refuse_left = self.refuse_left
        return server


class Server:
    """A running SMTP server on 127.0.0.1; stop() it (or use it as a context manager)."""

    def __init__(
        self,
        *,
        pipelining: bool = False,
        refuse_first: int = 0,
        tls: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        users: dict[str, str] | None = None,
    ) -> None:
        self.mailbox = Mailbox(pipelining=pipelining)
        self.port = free_port()
        kwargs: dict[str, Any] = {"hostname": "127.0.0.1", "port": self.port}
        if tls is not None and implicit_tls:
            kwargs["ssl_context"] = tls
        elif tls is not None:
            kwargs.update(tls_context=tls, require_starttls=True)
        if users is not None:
            kwargs.update(
                authenticator=_Authenticator(users), auth_required=True, auth_require_tls=True
            )
        # start() makes one connection of its own to see that the server is up.
        refuse = refuse_first + 1 if refuse_first else 0
        self.controller = _Controller(self.mailbox, refuse, **kwargs)
        if implicit_tls:
            # The controller's readiness probe speaks clear text; let it trust our cert.
            self.controller.ready_timeout = 5.0
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Authenticator:
    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            user, password = data.login.decode(), data.password.decode()
            if self.users.get(user) == password:
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


def self_signed(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context with a new self-signed certificate for 127.0.0.1 and localhost,
    and the certificate's file, for clients to trust."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bulletin test server")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "server.crt", folder / "server.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file


# --- the far end of a bounce: a remote server that bounces later, and the bounce mailbox ----

Bounce = Callable[[str, str, bytes], list[tuple[str, bytes]]]  # (from, rcpt, data) -> mail


class _Accepting:
    """Accepts every message; ``bounce`` says what mail each one gives rise to later."""

    def __init__(self, bounce: Bounce) -> None:
        self.bounce, self.received = bounce, []
        self.later: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.received.append((envelope.mail_from, rcpt, envelope.content))
                self.later.extend(self.bounce(envelope.mail_from, rcpt, envelope.content))
        return "250 2.0.0 queued as 4T1abc2XyZz"


class RemoteMta:
    """A remote mail server on 127.0.0.1 that accepts the digest, as a real one does, and
    mails its bounces only later (``flush``), as a real one does once delivery failed."""

    def __init__(self, bounce: Bounce) -> None:
        self.handler = _Accepting(bounce)
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def flush(self, port: int) -> int:
        """Mail every bounce owed so far to the server on ``port``, from the null sender."""
        import smtplib

        with self.handler.lock:
            owed, self.handler.later = self.handler.later, []
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            for to, data in owed:
                # On the wire every line ends in CRLF (RFC 5321 2.3.8), whatever it was built with.
                smtp.sendmail("", [to], re.sub(rb"\r?\n", b"\r\n", data))
        return len(owed)

    def stop(self) -> None:
        self.controller.stop()


class _Delivering:
    """Writes each message into a Maildir as an MTA's local delivery does: the envelope
    sender in Return-Path, the recipient in Delivered-To."""

    def __init__(self, folder: Path) -> None:
        import mailbox

        folder.parent.mkdir(parents=True, exist_ok=True)
        self.box = mailbox.Maildir(folder, create=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        for rcpt in envelope.rcpt_tos:
            stamp = f"Return-Path: <{envelope.mail_from}>\r\nDelivered-To: {rcpt}\r\n"
            self.box.add(stamp.encode() + envelope.content)
        return "250 2.0.0 delivered to Maildir"


class BounceMailbox:
    """The bounce address's mail server on 127.0.0.1, writing what it gets into a Maildir."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.controller = Controller(
            _Delivering(folder),
            hostname="127.0.0.1",
            port=self.port,
            data_size_limit=64 * 1024 * 1024,
        )
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()
