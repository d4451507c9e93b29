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

from pydantic import BaseModel, ConfigDict, Field, field_validator

CONFIG_NAME = "config.yaml"
SECRET_KEYS = {"password", "secret", "token", "key", "api_key"}


class Section(BaseModel):
    """A config section: unknown keys are errors, values are validated when assigned."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=True)


def _check_clock_time(value: str, seconds: bool = False) -> str:
    """``value`` if it is a time of day like "18:00" (or "18:00:30", with ``seconds``)."""
    pattern = r"([01]?\d|2[0-3]):[0-5]\d" + (r"(:[0-5]\d)?" if seconds else "")
    if not re.fullmatch(pattern, value):
        examples = '"18:00" or "18:00:30"' if seconds else '"18:00"'
        raise ValueError(f'expected a time of day like {examples}, got "{value}"')
    return value


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


def _check_address(value: str) -> str:
    """``value`` if it looks like an email address (its syntax is checked when it is used)."""
    if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", value):
        raise ValueError(f'expected an email address, got "{value}"')
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
        description='Local time of day given to items that carry only a date (quote it: "12:00").',
    )

    @field_validator("base_url")
    @classmethod
    def _absolute_url(cls, value: str) -> str:
        if not re.match(r"https?://[^/\s]+", value):
            raise ValueError(f'expected an absolute http(s) URL, got "{value}"')
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
        return _check_clock_time(value)

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


class SourceConfig(Section):
    name: str = Field(description="A name for this source, used in messages and the store.")
    kind: Literal["listing", "directory"] = Field(
        description="listing: the site's plain-text daily export; directory: Markdown files."
    )
    path: str = Field(
        description="A file or folder, relative to config.yaml; '-' reads standard input."
    )
    language: str | None = Field(
        None, description="Language of its items when they do not say; default: site.language."
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
    timeout: float = Field(30.0, gt=0, description="Seconds to wait for the server.")
    ca_file: str | None = Field(
        None, description="PEM file of CA certificates to trust instead of the system's."
    )
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
        return _check_address(value)


class DeliveryConfig(Section):
    transport: Literal["auto", "outbox", "smtp"] = Field(
        "auto", description="auto: smtp when smtp.host is set, else the local outbox."
    )
    outbox: str = Field("var/outbox", description="Maildir folder the outbox transport writes to.")
    from_address: str = Field("bulletin@localhost", description="The digest's sender address.")
    from_name: str | None = Field(
        None, description="The sender's display name; default: site.title."
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
        description="Unsubscribe endpoint served by `bulletin web`; default: <site.base_url>"
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
        return _check_address(value)


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
        return _check_clock_time(value, seconds=True)

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
