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
