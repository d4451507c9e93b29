"""The config of the readers' web pages (``web``): where `bulletin web` is reached, the languages
readers choose from, the consent they give, how long links live, the welcome message, and
the limits that keep bots and floods off the sign-up form."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from bulletin.config.section import Section

DEFAULT_CONSENT = (
    "I want to receive the daily digest by email. I can unsubscribe at any time from the link "
    "in every digest."
)


class WebConfig(Section):
    public_url: str | None = Field(
        None,
        description="Where readers reach `bulletin web` (its /subscribe, /confirm, /preferences "
        "and /unsubscribe pages), as their browser sees it; default: site.base_url.",
    )
    languages: list[str] = Field(
        default_factory=list,
        description="The languages readers may choose their digest in (its items, words and "
        "direction), e.g. [en, ar]; default: site.language alone.",
    )
    consent_text: str = Field(
        DEFAULT_CONSENT,
        description="What a reader agrees to by signing up, shown beside the button and kept "
        "with their record (by its version).",
    )
    consent_version: str = Field(
        "1",
        description="The version of consent_text, recorded with each sign-up: change it "
        "whenever the text changes.",
    )
    welcome: bool = Field(True, description="Mail a welcome message once a reader confirms.")
    confirm_hours: int = Field(
        72, ge=1, le=24 * 30, description="How long a confirmation link works, in hours."
    )
    preferences_days: int = Field(
        60,
        ge=1,
        le=3650,
        description="How long a 'manage your subscription' link works, in days from its "
        "digest's day (a reader asks for a new one by signing up again).",
    )
    min_form_seconds: float = Field(
        3.0,
        ge=0,
        description="A sign-up posted sooner than this after its form was served is refused: "
        "people take longer than bots.",
    )
    form_max_hours: int = Field(
        24, ge=1, description="A sign-up form older than this must be loaded again."
    )
    signups_per_ip_per_hour: int = Field(
        10,
        ge=1,
        description="Sign-ups one client address may post in an hour; then 429 (kept in the "
        "store, so every instance counts together).",
    )
    confirmations_per_address_per_day: int = Field(
        1,
        ge=1,
        description="Confirmation (or manage-link) mails one mailbox gets in 24 hours at most; "
        "further sign-ups look the same to the visitor and send nothing.",
    )
    altcha: bool = Field(
        False,
        description="Ask browsers for an ALTCHA proof of work with each sign-up (needs "
        "JavaScript in the visitor's browser).",
    )
    altcha_max_number: int = Field(
        50_000,
        ge=1000,
        le=10_000_000,
        description="ALTCHA's difficulty: the largest number a browser may have to try.",
    )
    request_timeout: float = Field(
        10.0,
        gt=0,
        le=300,
        description="Seconds a client has to send a whole request (headers and body); a "
        "slower one is disconnected.",
    )

    @field_validator("public_url")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", value):
            raise ValueError(
                f'expected an absolute http(s) URL like "https://x.org/", got "{value}"'
            )
        return value if value.endswith("/") else value + "/"

    @field_validator("languages")
    @classmethod
    def _language_tags(cls, value: list[str]) -> list[str]:
        for tag in value:
            if not re.fullmatch(r"[A-Za-z]{2,3}", tag):
                raise ValueError(f'expected language codes like "en" or "ar", got "{tag}"')
        return list(dict.fromkeys(tag.lower() for tag in value))
