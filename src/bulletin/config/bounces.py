"""The config of bounces: the bounce mailbox (a Maildir, an mbox file or IMAP) and the limits
at which failures take a recipient off the list (``delivery.bounces``)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from bulletin.config.section import CA_FILE, TIMEOUT, Section


class ImapConfig(Section):
    host: str | None = Field(None, description="IMAP server of the bounce mailbox; serve reads it.")
    port: int = Field(993, ge=1, le=65535, description="IMAP port (993: implicit TLS).")
    security: Literal["ssl", "starttls", "none"] = Field(
        "ssl", description="ssl, starttls or none."
    )
    username: str | None = Field(None, description="Login name of the bounce mailbox.")
    password_env: str | None = Field(None, description="Environment variable holding its password.")
    folder: str = Field("INBOX", description="The folder bounces arrive in.")
    timeout: float = TIMEOUT
    ca_file: str | None = CA_FILE


class BouncesConfig(Section):
    mailbox: str | None = Field(
        None,
        description="Maildir folder or mbox file bounce mail arrives in; serve and "
        "`run --once` read it each step, as `bulletin bounces ingest` does.",
    )
    imap: ImapConfig = Field(
        default_factory=ImapConfig, description="An IMAP mailbox to read bounces from."
    )
    processed: Literal["move", "delete"] = Field(
        "move",
        description="What becomes of mail that was understood: moved to done_folder, or "
        "deleted; mail not understood is always left where it is.",
    )
    done_folder: str = Field(
        "bulletin-done",
        description="Where understood mail is moved: a Maildir sub-folder, an IMAP folder, "
        "or for an mbox file the mbox <file>.<done_folder>.",
    )
    hard_limit: int = Field(
        1,
        ge=1,
        description="Permanent failures (5.x.x, or 5xx during the send), on distinct days, "
        "that mark a recipient bounced and suppress the address.",
    )
    soft_days: int = Field(
        5,
        ge=1,
        description="Temporary failures (4.x.x) count only when they come on this many digest "
        "days in a row; then as a permanent one.",
    )

    @field_validator("done_folder")
    @classmethod
    def _plain_folder(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}", value):
            raise ValueError(f'expected a plain folder name like "bulletin-done", got "{value}"')
        return value
