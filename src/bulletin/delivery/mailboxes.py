"""Where bounce mail waits: a Maildir, an mbox file, standard input, or an IMAP folder.

Each kind gives its messages as ``Mail`` (a name for reports, and the bytes) and, for one
that was understood, ``done``: moved to the ``done`` folder (a Maildir++ sub-folder, an
mbox file beside the first, an IMAP folder) or deleted. Mail not understood is never
touched, not even marked read, so the operator finds it as it came. A Maildir message is
moved by one rename; an mbox message is copied to the done file and flushed before it is
removed; an IMAP message is moved with MOVE (RFC 6851) where the server has it, else copied
and then expunged by its UID alone (UIDPLUS, RFC 4315). The only users of ``mailbox`` and
``imaplib``.
"""

from __future__ import annotations

import contextlib
import imaplib
import mailbox
import os
import re
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, Protocol

from bulletin.errors import DeliveryError

Processed = Literal["move", "delete"]


@dataclass(frozen=True)
class Mail:
    """One message of a mailbox: a name for the operator, its bytes, and its place."""

    name: str
    data: bytes
    key: str = ""


class Mailbox(Protocol):
    """A mailbox the ingest reads; ``close`` finishes what ``done`` began."""

    def messages(self) -> Iterator[Mail]:
        """Every message, in the mailbox's order."""
        ...

    def done(self, mail: Mail) -> None:
        """Move or delete ``mail``, which was understood."""
        ...

    def close(self) -> None:
        """Finish and let go of the mailbox."""
        ...


@dataclass(frozen=True)
class Disposal:
    """What becomes of mail that was understood: moved to ``folder``, or deleted."""

    processed: Processed = "move"
    folder: str = "bulletin-done"


class MaildirBox:
    """A Maildir: messages in new/ and cur/, the done ones moved to ``.<folder>/cur``."""

    def __init__(self, path: Path, disposal: Disposal) -> None:
        self.path, self.disposal = path, disposal
        if not all((path / sub).is_dir() for sub in ("cur", "new", "tmp")):
            raise DeliveryError(f"{path} is not a Maildir (it needs cur/, new/ and tmp/)")

    def messages(self) -> Iterator[Mail]:
        """The messages in new/ then cur/, each in name order (Maildir names start with time)."""
        for sub in ("new", "cur"):
            for entry in sorted(os.scandir(self.path / sub), key=lambda e: e.name):
                if entry.is_file() and not entry.name.startswith("."):
                    try:
                        data = Path(entry.path).read_bytes()
                    except FileNotFoundError:  # another reader took it meanwhile
                        continue
                    yield Mail(f"{self.path}/{sub}/{entry.name}", data, f"{sub}/{entry.name}")

    def done(self, mail: Mail) -> None:
        """Move the message into the done folder, or delete it."""
        source = self.path / mail.key
        if self.disposal.processed == "delete":
            source.unlink(missing_ok=True)
            return
        folder = self.path / f".{self.disposal.folder}"
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        (folder / "maildirfolder").touch()  # Maildir++: mark it a sub-folder
        name = source.name if ":2," in source.name else f"{source.name}:2,S"
        source.rename(folder / "cur" / name)

    def close(self) -> None:
        """Nothing to finish: every move was one rename."""


class MboxBox:
    """An mbox file, locked while read; done messages go to ``<file>.<folder>``."""

    def __init__(self, path: Path, disposal: Disposal) -> None:
        self.path, self.disposal = path, disposal
        try:
            self.box = mailbox.mbox(path, create=False)
            self.box.lock()
        except (OSError, mailbox.Error) as error:
            raise DeliveryError(f"cannot open the mbox file {path}: {error}") from None
        self.removed = False

    def messages(self) -> Iterator[Mail]:
        """The messages in file order, named by their place in it."""
        for number, key in enumerate(list(self.box.keys()), start=1):
            yield Mail(f"{self.path} message {number}", self.box.get_bytes(key), str(key))

    def done(self, mail: Mail) -> None:
        """Copy the message to the done file (flushed) before it leaves this one, or delete it."""
        if self.disposal.processed == "move":
            done = mailbox.mbox(self.path.with_name(f"{self.path.name}.{self.disposal.folder}"))
            done.lock()
            try:
                done.add(mail.data)
                done.flush()
            finally:
                done.unlock()
                done.close()
        self.box.remove(int(mail.key))  # type: ignore[arg-type]  # mbox keys are ints
        self.removed = True

    def close(self) -> None:
        """Write the file without the done messages, and let go of it."""
        try:
            if self.removed:
                self.box.flush()
        finally:
            self.box.unlock()
            self.box.close()


class OneMessage:
    """One message on standard input (an MTA's pipe): read whole; nothing to move."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream

    def messages(self) -> Iterator[Mail]:
        """The one message."""
        yield Mail("standard input", self.stream.read())

    def done(self, mail: Mail) -> None:
        """Nothing to do: the MTA drops what it delivered."""

    def close(self) -> None:
        """Nothing to finish."""


@dataclass(frozen=True)
class ImapServer:
    """An IMAP mailbox and how to reach it; the password is never shown."""

    host: str
    port: int = 993
    security: Literal["ssl", "starttls", "none"] = "ssl"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    folder: str = "INBOX"
    timeout: float = 30.0
    ca_file: Path | None = None

    @property
    def shown(self) -> str:
        """The mailbox as reports name it."""
        return f"imap://{self.host}:{self.port}/{self.folder}"


class ImapBox:
    """An IMAP folder: read without setting \\Seen, done messages moved or expunged by UID."""

    def __init__(self, server: ImapServer, disposal: Disposal) -> None:
        self.server, self.disposal = server, disposal
        self.imap = self._connect()
        # What the server offers after login (MOVE, UIDPLUS), not what it said to a stranger.
        _, said = self.imap.capability()
        words = b" ".join(d for d in said if isinstance(d, bytes)).decode().split()
        self.capabilities = {word.upper() for word in words}
        self.folder_made = False

    def _connect(self) -> imaplib.IMAP4:
        server = self.server
        context = ssl.create_default_context(cafile=str(server.ca_file) if server.ca_file else None)
        imap: imaplib.IMAP4 | None = None
        try:
            if server.security == "ssl":
                imap = imaplib.IMAP4_SSL(
                    server.host, server.port, ssl_context=context, timeout=server.timeout
                )
            else:
                imap = imaplib.IMAP4(server.host, server.port, timeout=server.timeout)
                if server.security == "starttls":
                    imap.starttls(ssl_context=context)
            if server.username is not None:
                imap.login(server.username, server.password or "")
            _ok(imap.select(_quoted(server.folder)), f"cannot open folder {server.folder!r}")
        except (imaplib.IMAP4.error, OSError) as error:
            if imap is not None:
                _quietly_logout(imap)
            raise self._error(str(error)) from None
        return imap

    def messages(self) -> Iterator[Mail]:
        """Every message of the folder, by UID, fetched with BODY.PEEK (it stays unread)."""
        try:
            _, found = self.imap.uid("SEARCH", "ALL")
            for uid in (found[0] or b"").decode().split():
                _, parts = self.imap.uid("FETCH", uid, "(BODY.PEEK[])")
                data = next((p[1] for p in parts if isinstance(p, tuple)), b"")
                yield Mail(f"{self.server.shown} UID {uid}", data, uid)
        except (imaplib.IMAP4.error, OSError) as error:
            raise self._error(str(error)) from None

    def done(self, mail: Mail) -> None:
        """Move the message to the done folder, or delete it, by its UID."""
        imap, uid = self.imap, mail.key
        try:
            if self.disposal.processed == "move":
                self._make_folder()
                if "MOVE" in self.capabilities:
                    _ok(imap.uid("MOVE", uid, self.disposal.folder), "MOVE refused")
                    return
                _ok(imap.uid("COPY", uid, self.disposal.folder), "COPY refused")
            _ok(imap.uid("STORE", uid, "+FLAGS.SILENT", r"(\Deleted)"), "STORE refused")
            if "UIDPLUS" in self.capabilities:  # expunge this message only, not others'
                _ok(imap.uid("EXPUNGE", uid), "UID EXPUNGE refused")
        except (imaplib.IMAP4.error, OSError) as error:
            raise self._error(f"{mail.name}: {error}") from None

    def _make_folder(self) -> None:
        if not self.folder_made:
            self.imap.create(self.disposal.folder)  # refused when it exists: that is fine
            self.folder_made = True

    def close(self) -> None:
        """Expunge what was deleted (without UIDPLUS) and log out."""
        try:
            if "UIDPLUS" not in self.capabilities:
                self.imap.expunge()
        except (imaplib.IMAP4.error, OSError):
            pass
        _quietly_logout(self.imap)

    def _error(self, message: str) -> DeliveryError:
        return DeliveryError(
            f"IMAP {self.server.shown}: {message}",
            hint="check delivery.bounces.imap in config.yaml and that the server is reachable",
        )


def open_mailbox(path: Path, disposal: Disposal) -> Mailbox:
    """The Maildir folder or mbox file at ``path``."""
    if path.is_dir():
        return MaildirBox(path, disposal)
    if path.is_file():
        return MboxBox(path, disposal)
    raise DeliveryError(
        f"{path} does not exist",
        hint="give a Maildir folder or an mbox file, or - for one message on standard input",
    )


def _ok(answer: tuple[str, Sequence[object]], what: str) -> None:
    status, data = answer
    if status != "OK":
        raise imaplib.IMAP4.error(f"{what}: {data!r}")


def _quoted(folder: str) -> str:
    """A folder name as an IMAP quoted string (RFC 3501 4.3)."""
    return '"' + re.sub(r'(["\\])', r"\\\1", folder) + '"'


def _quietly_logout(imap: imaplib.IMAP4) -> None:
    with contextlib.suppress(imaplib.IMAP4.error, OSError):
        imap.logout()
