"""The config of how digests reach the mailing list: the sender, the SMTP server, the
recipients listed in the file, links, retries, DKIM and bounces."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from bulletin.config.bounces import BouncesConfig
from bulletin.config.section import (
    CA_FILE,
    TIMEOUT,
    Section,
    check_address,
)

VERP_LOCAL_MAX = 64 - 1 - 45  # a local part, its "+" and a bounce token (delivery/tokens.py)


class SmtpConfig(Section):
    host: str | None = Field(None, description="SMTP server; when set, delivery uses SMTP.")
    port: int = Field(587, ge=1, le=65535, description="SMTP port.")
    security: Literal["starttls", "ssl", "none"] = Field(
        "starttls", description="starttls, ssl (implicit TLS) or none."
    )
    username: str | None = Field(None, description="Login name, if the server wants one.")
    password_env: str | None = Field(
        None, description="Name of the environment variable holding the SMTP password."
    )
    timeout: float = TIMEOUT
    ca_file: str | None = CA_FILE
    connections: int = Field(
        4, ge=1, le=64, description="Parallel connections; each sends many messages in turn."
    )
    rate_per_second: float = Field(
        0, ge=0, description="At most this many messages per second in all; 0: no limit."
    )
    pause_after_errors: int = Field(
        20,
        ge=1,
        description="Pause the send after this many failures in a row of the server or "
        "session (connect, 421, TLS, login, timeouts, drops); a recipient refused alone "
        "(4xx/5xx to RCPT or after DATA) is recorded and the send goes on.",
    )


class RecipientConfig(Section):
    address: str = Field(description="The recipient's email address.")
    name: str = Field("", description="The recipient's display name.")
    categories: list[str] | None = Field(
        None, description="Slugs of the categories they want; default: all."
    )

    @field_validator("address")
    @classmethod
    def _looks_like_address(cls, value: str) -> str:
        return check_address(value)


class DeliveryConfig(Section):
    transport: Literal["auto", "outbox", "smtp"] = Field(
        "auto", description="auto: smtp when smtp.host is set, else the local outbox."
    )
    outbox: str = Field("var/outbox", description="Maildir folder the outbox transport writes to.")
    from_address: str = Field("bulletin@localhost", description="The digest's sender address.")
    from_name: str | None = Field(
        None, description="The sender's display name; default: site.title."
    )
    bounce_address: str | None = Field(
        None,
        description="Where bounces go: each digest's envelope sender is made from it per "
        "recipient and day (VERP: bounces+<token>@...); unset: from_address, no VERP.",
    )
    bounces: BouncesConfig = Field(
        default_factory=BouncesConfig, description="Reading bounces and complaints."
    )
    recipients: list[RecipientConfig] = Field(
        default_factory=list, description="Who receives the digest."
    )
    smtp: SmtpConfig = Field(default_factory=SmtpConfig, description="The SMTP server.")
    list_id: str | None = Field(
        None, description="The List-Id (RFC 2919); default: digest.<site's domain>."
    )
    unsubscribe_url: str | None = Field(
        None,
        description="Unsubscribe endpoint served by `bulletin web`; default: <web.public_url>"
        "unsubscribe (one-click needs https).",
    )
    unsubscribe_mailto: str | None = Field(
        None, description="Address mailed to unsubscribe (List-Unsubscribe); default: from_address."
    )
    unsubscribe_secret_env: str | None = Field(
        None,
        description="Environment variable holding the key that signs unsubscribe links; "
        "unset: a random key kept in the store.",
    )
    retry_limit: int = Field(
        5, ge=1, description="Attempts a message gets when servers answer 4xx; then it fails."
    )
    retry_backoff_seconds: float = Field(
        300, ge=0, description="Wait before the first retry; it doubles with each attempt."
    )
    dkim_key_file: str | None = Field(
        None, description="Private key (RSA PEM or Ed25519) to DKIM-sign with; unset: no DKIM."
    )
    dkim_selector: str = Field("bulletin", description="The DKIM selector (its DNS record name).")
    dkim_domain: str | None = Field(
        None, description="The DKIM signing domain; default: from_address's domain."
    )

    @field_validator("from_address")
    @classmethod
    def _looks_like_address(cls, value: str) -> str:
        return check_address(value)

    @field_validator("bounce_address")
    @classmethod
    def _verp_fits(cls, value: str | None) -> str | None:
        if value is None:
            return None
        local = check_address(value).rsplit("@", 1)[0]
        # RFC 5321 4.5.3.1.1: a local part holds at most 64 characters, and VERP adds a
        # plus sign and a 45-character token to it.
        if len(local) > VERP_LOCAL_MAX:
            raise ValueError(
                f"the part before @ is {len(local)} characters; with the VERP token it must "
                f'fit in 64, so use at most {VERP_LOCAL_MAX} (like "bounces@...")'
            )
        return value
