"""The outbox: a Maildir folder holding each message once, the transport when there is no SMTP.

Readers never see a partial file (written in tmp/, linked into new/), and a message already
stored for a delivery key, even one a mail reader has moved to cur/, is not stored again.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

from bulletin.delivery.smtp import Result
from bulletin.errors import DeliveryError
from bulletin.files import write_temporary


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


class OutboxChannel:
    """The outbox as a send loop's channel: always open, each message stored once per day and
    address."""

    is_open = True

    def __init__(self, outbox: Outbox, day: date) -> None:
        self.outbox, self.day = outbox, day

    def open(self) -> None:
        """Nothing to open: the folder is there or is made at the first message."""

    def close(self) -> None:
        """Nothing to close."""

    def submit(
        self, sender: str, recipient: str, message: bytes, ready: Callable[[], bool]
    ) -> Result:
        """Store the message once the ledger has claimed its row; deferred if it cannot be."""
        if not ready():  # a file in new/ is delivered: nothing may be there before the claim
            return Result("deferred", "not stored: the ledger did not claim it")
        try:
            stored = self.outbox.deliver(f"{self.day.isoformat()}:{recipient}", message)
        except DeliveryError as error:
            return Result("deferred", error.message)
        return Result("sent", "stored in the outbox" if stored else "already there")
