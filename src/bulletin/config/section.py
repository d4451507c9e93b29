"""The base of every config section, and the declarations and checks several sections share."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field


class Section(BaseModel):
    """A config section: unknown keys are errors, values are validated when assigned."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=True)


# Settings every server bulletin logs in to has: SMTP, and the IMAP bounce mailbox.
TIMEOUT = Field(30.0, gt=0, description="Seconds to wait for the server.")
CA_FILE = Field(None, description="PEM file of CA certificates to trust instead of the system's.")


def check_clock_time(value: str, seconds: bool = False) -> str:
    """``value`` if it is a time of day like "18:00" (or "18:00:30", with ``seconds``)."""
    pattern = r"([01]?\d|2[0-3]):[0-5]\d" + (r"(:[0-5]\d)?" if seconds else "")
    if not re.fullmatch(pattern, value):
        examples = '"18:00" or "18:00:30"' if seconds else '"18:00"'
        raise ValueError(f'expected a time of day like {examples}, got "{value}"')
    return value


def check_address(value: str) -> str:
    """``value`` if it looks like an email address (its syntax is checked when it is used)."""
    if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", value):
        raise ValueError(f'expected an email address, got "{value}"')
    return value


def check_http_url(value: str | None) -> str | None:
    """``value`` if it is unset or an absolute http(s) URL."""
    if value is not None and not re.match(r"https?://[^/\s]+", value):
        raise ValueError(f'expected an absolute http(s) URL, got "{value}"')
    return value
