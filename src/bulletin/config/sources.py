"""The config of where items come from: listing exports, Markdown folders, upstream feeds."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails

from bulletin.config.section import (
    Section,
    check_http_url,
)

_DURATION = re.compile(r"(\d+)\s*(s|m|h|d)")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class SourceConfig(Section):
    name: str = Field(description="A name for this source, used in messages and the store.")
    kind: Literal["listing", "directory", "feed"] = Field(
        description="listing: the site's plain-text daily export; directory: Markdown files; "
        "feed: an RSS, Atom or JSON Feed fetched from url."
    )
    path: str | None = Field(
        None,
        description="listing, directory: a file or folder, relative to config.yaml; '-' reads "
        "standard input.",
    )
    url: str | None = Field(None, description="feed: the feed's http(s) address.")
    language: str | None = Field(
        None, description="Language of its items when they do not say; default: site.language."
    )
    categories: dict[str, str] = Field(
        default_factory=dict,
        description="feed: the feed's category names (as its entries write them) -> ours.",
    )
    category: str | None = Field(
        None,
        description="feed: the category of entries the map does not place; unset: the "
        "entry's own first category, else the source's name.",
    )
    min_interval: str = Field(
        "15m",
        description='feed: the least time between two fetches, like "15m", "2h" or "1d" '
        "(a bare number: minutes).",
    )
    ignore_cache: bool = Field(
        False,
        description="feed: send no If-None-Match/If-Modified-Since, for servers that answer 304 "
        "wrongly.",
    )
    timeout: float = Field(
        30.0, gt=0, le=600, description="feed: seconds a whole fetch may take; then it is cut off."
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return check_http_url(value)

    @field_validator("min_interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return f"{value}m"
        if not isinstance(value, str) or not _DURATION.fullmatch(value.strip()):
            shown = f'"{value}"' if isinstance(value, str) else str(value)
            raise ValueError(f'expected a duration like "15m", "2h" or "1d", got {shown}')
        return value.strip()

    @model_validator(mode="after")
    def _kind_keys(self) -> SourceConfig:
        # Raised as errors of the keys themselves, so that each is reported at its own line.
        wanted, other = ("url", "path") if self.kind == "feed" else ("path", "url")
        errors: list[InitErrorDetails] = []
        if getattr(self, wanted) is None:
            errors.append(InitErrorDetails(type="missing", loc=(wanted,), input=None))
        if getattr(self, other) is not None:
            reason = ValueError(f"a {self.kind} source is read from {wanted}, not {other}")
            errors.append(
                InitErrorDetails(
                    type="value_error", loc=(other,), input=None, ctx={"error": reason}
                )
            )
        if errors:
            raise ValidationError.from_exception_data("SourceConfig", errors)
        return self

    @property
    def interval_seconds(self) -> int:
        """``min_interval`` in seconds."""
        match = _DURATION.fullmatch(self.min_interval)
        assert match is not None  # checked when loaded
        return int(match.group(1)) * _SECONDS[match.group(2)]
