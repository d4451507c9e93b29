"""The config's schema: every key declared once with its type, default and help line.

The README table, the commented file written by ``bulletin init`` and the error messages all
come from these declarations (``reference``); ``loading`` reads config.yaml into them.
"""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    Field,
    field_validator,
)

from bulletin.config.delivery import DeliveryConfig
from bulletin.config.section import Section, check_clock_time, check_http_url
from bulletin.config.sources import SourceConfig
from bulletin.config.web import WebConfig

CONFIG_NAME = "config.yaml"
SECRET_KEYS = {"password", "secret", "token", "key", "api_key"}


_STORE_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg")


def _check_store_url(value: str) -> str:
    """``value`` if it is a SQLite or PostgreSQL URL without a password in it."""
    scheme, colon, rest = value.partition("://")
    if not colon or scheme not in _STORE_SCHEMES:
        raise ValueError(
            f'expected sqlite:///PATH or postgresql+psycopg://USER@HOST/DB, got "{value}"'
        )
    credentials = rest.split("/", 1)[0].rpartition("@")[0]
    if ":" in credentials:
        user = credentials.split(":", 1)[0]
        shown = value.replace(credentials, f"{user}:***", 1)
        raise ValueError(
            f'the URL "{shown}" holds a password: keep it out of the file, in the environment '
            "variable named by store.password_env (or PGPASSWORD, or ~/.pgpass)"
        )
    return value


class SiteConfig(Section):
    title: str = Field("bulletin", description="The newsroom's name, shown in feeds and digests.")
    description: str = Field(
        "The day's news.", description="One line about the newsroom, used as the feeds' subtitle."
    )
    base_url: str = Field(
        "http://localhost:8000/",
        description="Absolute URL where feeds/ is served; links and feed ids are built from it.",
    )
    language: str = Field("en", description="The site's language tag (en, ar, ...).")
    timezone: str = Field(
        "UTC", description="The newsroom's IANA time zone; days and schedules are in it."
    )
    item_time: str = Field(
        "12:00",
        description="Local time of day given to items that carry only a date, plus 0-59 seconds "
        'drawn from each item\'s id (quote it: "12:00").',
    )

    @field_validator("base_url")
    @classmethod
    def _absolute_url(cls, value: str) -> str:
        check_http_url(value)
        return value if value.endswith("/") else value + "/"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f'unknown time zone "{value}" (use an IANA name like "Asia/Damascus")'
            ) from None
        return value

    @field_validator("language")
    @classmethod
    def _language_tag(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*", value):
            raise ValueError(f'expected a language tag like "en" or "ar", got "{value}"')
        return value.replace("_", "-")

    @field_validator("item_time")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        return check_clock_time(value)

    @property
    def zone(self) -> ZoneInfo:
        """The newsroom's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def item_clock_time(self) -> time:
        """``item_time`` as a ``datetime.time``."""
        hour, minute = self.item_time.split(":")
        return time(int(hour), int(minute))


class CategoryConfig(Section):
    name: str = Field(description="The category's display name, as sources write it.")
    slug: str | None = Field(
        None, description="Its slug in URLs and file names; derived from the name if empty."
    )
    aliases: list[str] = Field(
        default_factory=list,
        description="Other names sources use for it (e.g. its Arabic name).",
    )


class StoreConfig(Section):
    url: str = Field(
        "sqlite:///var/bulletin.db",
        description="SQLAlchemy database URL; a relative SQLite path is relative to config.yaml; "
        "postgresql+psycopg://user@host:5432/db for a store several machines share.",
    )
    password_env: str | None = Field(
        None,
        description="Name of the environment variable holding the PostgreSQL password; unset: "
        "libpq's own PGPASSWORD or ~/.pgpass.",
    )

    @field_validator("url")
    @classmethod
    def _usable_url(cls, value: str) -> str:
        return _check_store_url(value)


class FeedsConfig(Section):
    dir: str = Field("feeds", description="Folder the feeds are written to.")
    max_items: int = Field(50, ge=1, description="How many of the newest items each feed holds.")
    rss_path: str = Field(
        "{slug}.rss",
        description="Where each RSS 2.0 feed goes in dir; {slug}: the category's, or all.",
    )
    atom_path: str = Field("{slug}.atom", description="Where each Atom 1.0 feed goes in dir.")
    json_path: str = Field("{slug}.json", description="Where each JSON Feed 1.1 goes in dir.")
    opml_path: str = Field(
        "index.opml", description="The OPML 2.0 list of every feed, for readers to import at once."
    )
    index_path: str = Field(
        "index.html",
        validate_default=True,  # so that the paths are compared even when this one is left out
        description="The page listing every feed with how to subscribe.",
    )
    max_body_kb: int = Field(
        100,
        ge=1,
        description="Longest item body a feed carries, in KB; a longer one is cut at a "
        "paragraph and links to the full item.",
    )
    websub_hub: str | None = Field(
        None,
        description="A WebSub hub's URL: every feed names it, and it is told when a build "
        "changed a feed; unset: no WebSub.",
    )

    @field_validator("websub_hub")
    @classmethod
    def _hub_url(cls, value: str | None) -> str | None:
        return check_http_url(value)

    @field_validator("rss_path", "atom_path", "json_path", "opml_path", "index_path")
    @classmethod
    def _relative_path(cls, value: str, info: Any) -> str:
        feed = info.field_name in ("rss_path", "atom_path", "json_path")
        rest = value.replace("{slug}", "", 1) if feed else value
        if feed and "{slug}" not in value:
            raise ValueError(f'expected a path holding {{slug}} like "{{slug}}.rss", got "{value}"')
        if "{" in rest or "}" in rest:
            raise ValueError(f'only {{slug}} may stand in braces, got "{value}"')
        parts = value.replace("\\", "/").split("/")
        if value.startswith(("/", "~")) or ".." in parts or "" in parts or "." in parts:
            raise ValueError(f'expected a plain path inside feeds.dir, got "{value}"')
        return value

    @field_validator("index_path")
    @classmethod
    def _distinct_paths(cls, value: str, info: Any) -> str:
        names = ("rss_path", "atom_path", "json_path", "opml_path")
        taken = {info.data[name]: name for name in names if name in info.data}
        if len(taken) < len([n for n in names if n in info.data]) or value in taken:
            raise ValueError("rss_path, atom_path, json_path, opml_path and index_path must differ")
        return value


class DigestConfig(Section):
    templates: str | None = Field(
        None, description="A folder of templates overriding the default theme."
    )
    subject: str = Field(
        "{site}: {date}",
        description="Subject line; {site} and {date} (written in the site's language) are filled.",
    )
    send_empty: bool = Field(
        False, description="Send a short 'nothing today' digest on days with no items."
    )
    max_html_kb: int = Field(
        90,
        ge=20,
        le=100,
        description="Size budget of the email's HTML in KB (Gmail clips above ~102); a longer "
        "day is cut to excerpts linking to the web copy.",
    )


class ScheduleConfig(Section):
    collect_every_minutes: int = Field(
        30, ge=1, description="How often `bulletin serve` collects and refreshes the feeds."
    )
    digest_at: str = Field(
        "18:00",
        description='Local time the day\'s digest goes out (quote it: "18:00"; "18:00:30" '
        "for seconds).",
    )
    catch_up: Literal["one", "each", "none"] = Field(
        "one",
        description="After downtime: one digest covering every missed day, grouped by day; "
        "each: one digest per missed day; none: only the latest day's.",
    )
    max_catch_up_days: int = Field(
        7, ge=1, le=366, description="How many missed days a catch-up looks back on at most."
    )
    listen: str | None = Field(
        None,
        description="host:port where `bulletin serve` answers unsubscribe, /health and /metrics "
        '(e.g. "127.0.0.1:8025"); unset: no HTTP server.',
    )
    leader_timeout: float = Field(
        30.0,
        ge=3,
        le=3600,
        description="On a PostgreSQL store shared by several `bulletin serve`: seconds after "
        "which a leader or sender gone silent is taken for dead; another leads, and its "
        "messages in flight become unknown.",
    )

    @field_validator("digest_at")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        return check_clock_time(value, seconds=True)

    @field_validator("catch_up", mode="before")
    @classmethod
    def _not_a_yaml_boolean(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted no/off as false and yes/on as true, before we see it.
        if isinstance(value, bool):
            raise ValueError(
                f"YAML reads an unquoted {'yes or on' if value else 'no or off'} as "
                f"{str(value).lower()}: write one, each or none"
            )
        return value

    @field_validator("listen", mode="before")
    @classmethod
    def _host_and_port(cls, value: Any) -> Any:
        if value is None:
            return None
        text = str(value)
        match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]+):(\d{1,5})", text)
        if not isinstance(value, str) or match is None or int(match.group(2)) > 65535:
            shown = f'"{value}"' if isinstance(value, str) else str(value)
            raise ValueError(f'expected host:port like "127.0.0.1:8025", got {shown}')
        return value

    @property
    def digest_time(self) -> time:
        """``digest_at`` as a ``datetime.time``."""
        hour, minute, *second = (int(part) for part in self.digest_at.split(":"))
        return time(hour, minute, second[0] if second else 0)

    @property
    def listen_address(self) -> tuple[str, int] | None:
        """``listen`` as (host, port), brackets of an IPv6 host removed."""
        if self.listen is None:
            return None
        host, port = self.listen.rsplit(":", 1)
        return host.strip("[]"), int(port)


class Config(Section):
    """The whole configuration; ``root`` is the folder relative paths are resolved against."""

    site: SiteConfig = Field(default_factory=SiteConfig, description="The newsroom.")
    categories: list[CategoryConfig] = Field(
        default_factory=list,
        description="Known categories, in the order digests list them; others follow by name.",
    )
    sources: list[SourceConfig] = Field(
        default_factory=list, description="Where items are collected from."
    )
    store: StoreConfig = Field(default_factory=StoreConfig, description="The database.")
    feeds: FeedsConfig = Field(default_factory=FeedsConfig, description="The published feeds.")
    digest: DigestConfig = Field(default_factory=DigestConfig, description="The daily digest.")
    delivery: DeliveryConfig = Field(
        default_factory=DeliveryConfig, description="How digests reach the mailing list."
    )
    schedule: ScheduleConfig = Field(
        default_factory=ScheduleConfig, description="When `bulletin serve` does its work."
    )
    web: WebConfig = Field(
        default_factory=WebConfig, description="The readers' pages: sign-up and preferences."
    )
    root: Path = Field(default_factory=Path.cwd, exclude=True)
    file: str = Field("built-in defaults", exclude=True)

    def path(self, value: str) -> Path:
        """A configured path made absolute against the config file's folder."""
        candidate = Path(value).expanduser()
        return candidate if candidate.is_absolute() else self.root / candidate

    @property
    def store_url(self) -> str:
        """The store URL, with a relative SQLite path anchored at the config folder."""
        url = self.store.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.path(url[len(prefix) :]))
        return url

    @property
    def uses_smtp(self) -> bool:
        """Whether digests go out by SMTP rather than into the local outbox."""
        if self.delivery.transport == "auto":
            return self.delivery.smtp.host is not None
        return self.delivery.transport == "smtp"


def section_type(annotation: Any) -> type[BaseModel] | None:
    """The section model inside a field's type (``list[SourceConfig]`` -> SourceConfig), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = section_type(arg)
        if found is not None:
            return found
    return None
