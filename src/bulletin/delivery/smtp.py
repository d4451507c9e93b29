"""One SMTP session (smtplib): TLS that is verified and never silently dropped, and for each
message a ``Result`` that says what the server's replies mean for that recipient.

``submit`` tells apart the two ways a lost connection can go (RFC 5321 6.1): lost before the
end of the data was sent, the server cannot have the message and it may be sent again
(``deferred``); lost after, waiting for the server's answer, it may have it (``unknown``).
Replies: 2xx sent, 4xx deferred (try later), 5xx failed for that recipient. A refusal of the
recipient (a 4xx or 5xx to RCPT) or of this message (to the end of the data) says nothing
about the server, and its ``Result`` says so (``per_recipient``); a refused MAIL or DATA, a 421,
a lost connection are the session's trouble. When the server offers PIPELINING (RFC 2920),
MAIL, RCPT and DATA go out in one write.

A caller that must record something before the server can have the message (the ledger's
claim) passes ``ready``: everything up to the end of the data is sent while it is being
recorded, and only the final ``.`` waits for it. If it says no, the connection is dropped
without the ``.``, and the server discards the message (RFC 5321 4.1.1.4).
"""

from __future__ import annotations

import select
import smtplib
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from bulletin.errors import DeliveryError

Security = Literal["starttls", "ssl", "none"]
Status = Literal["sent", "deferred", "failed", "unknown"]


@dataclass(frozen=True)
class Result:
    """What became of one message: its ledger status, the reply, whether to reconnect, and
    whether the server refused this recipient or message alone (its session is fine)."""

    status: Status
    reply: str
    reconnect: bool = False
    per_recipient: bool = False


class SessionError(DeliveryError):
    """No session could be opened; ``transient`` when trying again later may work."""

    def __init__(self, message: str, hint: str = "", transient: bool = True) -> None:
        super().__init__(message, hint)
        self.transient = transient


class SmtpTransport:
    """One SMTP session that sends many messages in turn; a context manager."""

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        security: Security = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        ca_file: Path | None = None,
    ) -> None:
        if username is not None and password is None:
            raise DeliveryError(f"SMTP user {username!r} has no password", hint="set password_env")
        if username is not None and security == "none":
            raise DeliveryError(
                f"refusing to send the SMTP password for {username!r} unencrypted",
                hint="use delivery.smtp.security: starttls or ssl",
            )
        self.host, self.port, self.security = host, port, security
        self.username, self._password, self.timeout = username, password, timeout
        self.ca_file = ca_file
        self._smtp: smtplib.SMTP | None = None
        self._pipelining = False

    def __repr__(self) -> str:  # never shows the password
        return f"SmtpTransport({self.host}:{self.port}, {self.security}, user={self.username!r})"

    def __enter__(self) -> SmtpTransport:
        self.open()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def is_open(self) -> bool:
        """Whether a session is open."""
        return self._smtp is not None

    def open(self) -> None:
        """Open the session: connect, TLS as configured, log in; a SessionError if not."""
        self.close()
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
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
                    raise self._error("the server does not offer STARTTLS", transient=False)
                smtp.starttls(context=context)  # the context verifies certificate and host name
                smtp.ehlo()
            if self.username is not None:
                smtp.login(self.username, self._password or "")
        except BaseException as error:
            if smtp is not None:
                smtp.close()
            raise self._open_error(error) from error
        if smtp.sock is not None:
            # The end of the data goes in a small write of its own (see submit): without
            # NODELAY, Nagle's algorithm holds it until the server's delayed ACK (~40 ms).
            smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._smtp, self._pipelining = smtp, smtp.has_extn("pipelining")

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
        """Send one message to one recipient, or raise a DeliveryError saying why not."""
        if len(to_addrs) != 1:
            raise ValueError("bulletin sends each message to exactly one recipient")
        if self._smtp is None:
            with self:
                self.send(from_addr, to_addrs, message)
            return
        result = self.submit(from_addr, to_addrs[0], message)
        if result.status != "sent":
            raise self._error(f"the message to {to_addrs[0]} was not accepted: {result.reply}")

    def submit(
        self,
        sender: str,
        recipient: str,
        message: bytes,
        ready: Callable[[], bool] | None = None,
    ) -> Result:
        """Send one message in the open session and say what became of it.

        ``ready`` is asked before the end of the data; False abandons the message unsent.
        """
        smtp = self._smtp
        if smtp is None:
            raise DeliveryError("no SMTP session is open")
        try:
            replies = self._envelope(smtp, sender, recipient)
        except OSError as error:  # smtplib's exceptions are OSErrors too
            return self._lost(f"connection lost before the message was sent: {error}", "deferred")
        for (code, text), stage, wanted in zip(replies, _STAGES, _WANTED, strict=False):
            if code not in wanted:
                if replies[-1][0] == 354:  # RFC 2920 3.1: end a DATA that should have failed
                    self._quietly(smtp, b".\r\n")
                self._reset(smtp, code)
                return self._classify(code, text, stage)
        body = _dot_stuffed(message)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        try:
            smtp.send(body)
            if ready is not None and not self._wait(ready):
                return Result("deferred", "not sent: the ledger did not claim it", reconnect=True)
            if self._peer_spoke(smtp):  # it hung up or answered early: the end is not sent
                return self._lost("the server closed the connection during DATA", "deferred")
            smtp.send(b".\r\n")
        except OSError as error:
            return self._lost(f"connection lost during DATA: {error}", "deferred")
        try:
            code, text = smtp.getreply()
        except OSError as error:
            return self._lost(
                f"connection lost after the message was sent, before the server answered "
                f"({error}): it may or may not have it",
                "unknown",
            )
        return self._classify(code, text, "end of DATA")

    def _envelope(self, smtp: smtplib.SMTP, sender: str, recipient: str) -> list[tuple[int, bytes]]:
        for address in (sender, recipient):
            if not address.isascii() or any(c in address for c in "<>\r\n "):
                raise DeliveryError(f"{address!r} cannot go in an SMTP envelope")
        if self._pipelining:
            smtp.send(f"MAIL FROM:<{sender}>\r\nRCPT TO:<{recipient}>\r\nDATA\r\n".encode())
            return [smtp.getreply() for _ in range(3)]
        replies = [smtp.mail(sender)]
        if replies[-1][0] in _WANTED[0]:
            replies.append(smtp.rcpt(recipient))
            if replies[-1][0] in _WANTED[1]:
                replies.append(smtp.docmd("DATA"))
        return replies

    def _classify(self, code: int, text: bytes, stage: str) -> Result:
        reply = f"{stage}: {code} {_text(text)}".replace("\n", " ")
        if 200 <= code < 300:
            return Result("sent", reply)
        if code == 421:  # the server is closing the session (RFC 5321 3.8)
            self.close()
            return Result("deferred", reply, reconnect=True)
        # A session that could not even be reset after the refusal is in trouble itself.
        alone = stage in _PER_RECIPIENT and self.is_open
        if 400 <= code < 500:
            return Result("deferred", reply, reconnect=not self.is_open, per_recipient=alone)
        if 500 <= code < 600:
            return Result("failed", reply, reconnect=not self.is_open, per_recipient=alone)
        self.close()
        return Result("deferred", f"{stage}: unexpected reply {code}", reconnect=True)

    def _wait(self, ready: Callable[[], bool]) -> bool:
        """``ready()``; when it is False or raises, drop the session in the middle of DATA."""
        try:
            if ready():
                return True
        except BaseException:
            self._abandon()
            raise
        self._abandon()
        return False

    def _abandon(self) -> None:
        """Close without QUIT: mid-DATA, QUIT would be taken as part of the message."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def _reset(self, smtp: smtplib.SMTP, code: int) -> None:
        """Clear the transaction after a refusal so the session can send the next message."""
        if code == 421:
            return
        try:
            if smtp.rset()[0] == 250:
                return
        except OSError:
            pass
        self.close()

    def _lost(self, reply: str, status: Status) -> Result:
        self._abandon()  # nothing to say QUIT to, and mid-DATA it would be message text
        return Result(status, reply, reconnect=True)

    @staticmethod
    def _peer_spoke(smtp: smtplib.SMTP) -> bool:
        sock = smtp.sock
        if sock is None:
            return True
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable)

    @staticmethod
    def _quietly(smtp: smtplib.SMTP, data: bytes) -> None:
        try:
            smtp.send(data)
            smtp.getreply()
        except OSError:
            pass

    def _open_error(self, error: BaseException) -> BaseException:
        if isinstance(error, SessionError):
            return error
        if isinstance(error, ssl.SSLError | ssl.CertificateError):
            return self._error(f"TLS failed: {error}", transient=False)
        if isinstance(error, smtplib.SMTPAuthenticationError):
            return self._error(f"login refused: {error.smtp_code} {error.smtp_error!r}", False)
        if isinstance(error, smtplib.SMTPResponseException):
            text = _text(error.smtp_error)
            return self._error(f"{error.smtp_code} {text}", transient=error.smtp_code < 500)
        if isinstance(error, OSError | socket.timeout):
            return self._error(f"cannot open a session: {error}")
        return error

    def _error(self, message: str, transient: bool = True) -> SessionError:
        return SessionError(
            f"SMTP {self.host}:{self.port} ({self.security}): {message}",
            hint="check delivery.smtp in config.yaml and that the server is reachable",
            transient=transient,
        )


_STAGES = ("MAIL", "RCPT", "DATA")
_WANTED = ((250,), (250, 251), (354,))
# The replies that judge one recipient or one message: RCPT (RFC 5321 3.3: "no such user")
# and the end of the data (content refused as spam, a quota). MAIL and DATA judge the session.
_PER_RECIPIENT = ("RCPT", "end of DATA")


def _dot_stuffed(message: bytes) -> bytes:
    """Each line that starts with a dot gets another (RFC 5321 4.5.2)."""
    # bytes.replace scans a 30 KB message many times faster than a multiline regex.
    stuffed = message.replace(b"\n.", b"\n..")
    return b"." + stuffed if stuffed.startswith(b".") else stuffed


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
