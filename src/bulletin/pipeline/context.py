"""The run context: everything a run needs from the config, derived once at its start.

Stages get their own types from it (the site, the category index, feed paths, render and send
settings) and never see the config; nothing is derived from the config twice in a run. What
needs a secret from the environment (the SMTP password, the DKIM key) is read the first time
a send asks for it, so that publishing the feeds does not depend on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from pathlib import Path

from bulletin import __version__, delivery, digest, feeds
from bulletin.config import Config, SourceConfig, read_secret
from bulletin.model import Category, CategoryIndex, Site
from bulletin.sources import ReadSettings
from bulletin.sources.feed_items import FeedSource
from bulletin.store import ListEntry, Store
from bulletin.text import slugify

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The current instant, aware, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class SourceSpec:
    """One configured source: where to read it and what its readers need to know."""

    name: str
    kind: str
    path: Path  # Path("-"): standard input
    shown: str  # the path (or a feed's url) as the config writes it, for messages
    settings: ReadSettings
    feed: FeedSource | None = None  # kind feed: where and how it is fetched


@dataclass(frozen=True)
class FeedSettings:
    """Where the feeds go and how much they hold."""

    folder: Path
    paths: feeds.FeedPaths
    max_items: int
    max_body_bytes: int
    hub: str | None = None  # feeds.websub_hub


@dataclass(frozen=True)
class DigestSettings:
    """How the day's digest is rendered and where its web copies go."""

    templates: Path | None
    subject: str
    max_html_bytes: int
    send_empty: bool
    web_folder: Path  # feeds.dir: web copies are digest.web_copy_path(day) inside it


@dataclass(frozen=True)
class SendSettings:
    """Everything a send needs: the transport, its channels, the sender, links and signing."""

    loop: delivery.Settings  # its transport: smtp or outbox
    target: delivery.Transport  # the SMTP server, or the outbox
    sender: delivery.Sender
    list_id: str | None
    signer: delivery.DkimSigner | None


@dataclass(frozen=True)
class BounceSettings:
    """Where bounces go and come from, and when they take someone off the list."""

    address: str | None  # delivery.bounce_address: each digest's VERP return path is made of it
    hard_limit: int
    soft_days: int
    mailbox: Path | None  # a Maildir folder or an mbox file
    imap_host: str | None  # the IMAP server; its settings are read by ``RunContext.bounce_imap``
    disposal: delivery.Disposal

    @property
    def configured(self) -> bool:
        """Whether a bounce mailbox is configured (then every step of serve reads it)."""
        return self.mailbox is not None or self.imap_host is not None

    def envelope(self, token: str | None) -> str | None:
        """The VERP return path carrying ``token``; None without a bounce address or token."""
        if self.address is None or token is None:
            return None
        local, domain = self.address.rsplit("@", 1)
        return f"{local}+{token}@{domain}"


@dataclass(frozen=True)
class WebSettings:
    """The readers' pages: where they are, what readers choose from, and the sign-up's limits."""

    public_url: str  # ends with "/": /subscribe, /confirm, /preferences are under it
    languages: tuple[str, ...]  # the site's languages a reader may choose; the first: default
    consent_text: str
    consent_version: str
    welcome: bool
    confirm_for: timedelta
    preferences_for: timedelta
    min_form_age: timedelta
    max_form_age: timedelta
    signups_per_ip_per_hour: int
    confirmations_per_address_per_day: int
    altcha: bool
    altcha_max_number: int
    request_timeout: float

    def url(self, path: str) -> str:
        """An absolute URL of one of the readers' pages."""
        return self.public_url + path.lstrip("/")


def _web_settings(config: Config) -> WebSettings:
    w = config.web
    primary = config.site.language.split("-", 1)[0].lower()
    return WebSettings(
        public_url=w.public_url or config.site.base_url,
        languages=tuple(w.languages) or (primary,),
        consent_text=w.consent_text,
        consent_version=w.consent_version,
        welcome=w.welcome,
        confirm_for=timedelta(hours=w.confirm_hours),
        preferences_for=timedelta(days=w.preferences_days),
        min_form_age=timedelta(seconds=w.min_form_seconds),
        max_form_age=timedelta(hours=w.form_max_hours),
        signups_per_ip_per_hour=w.signups_per_ip_per_hour,
        confirmations_per_address_per_day=w.confirmations_per_address_per_day,
        altcha=w.altcha,
        altcha_max_number=w.altcha_max_number,
        request_timeout=w.request_timeout,
    )


class RunContext:
    """The config of one run (or of a whole `bulletin serve`), turned into the stages' types."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._held: Store | None = None
        s = config.site
        self.site = Site(s.title, s.description, s.base_url, s.language, s.timezone)
        self.zone = s.zone
        self.schedule = config.schedule
        self.categories = _category_index(config)
        self.store_url = config.store_url
        self.store_password_env = config.store.password_env
        self.lock_folder = config.path("var")  # for locks of a store that is not a file
        # How long a silent leader or sender of a shared store is waited for.
        self.leader_timeout = config.schedule.leader_timeout
        self.recipients = tuple(
            ListEntry(
                r.address, r.name, None if r.categories is None else frozenset(r.categories), True
            )
            for r in config.delivery.recipients
        )
        c = config.feeds
        self.feeds = FeedSettings(
            config.path(c.dir),
            feeds.FeedPaths(c.rss_path, c.atom_path, c.json_path, c.opml_path, c.index_path),
            c.max_items,
            c.max_body_kb * 1024,
            c.websub_hub,
        )
        d = config.digest
        self.digest: DigestSettings = DigestSettings(
            config.path(d.templates) if d.templates else None,
            d.subject,
            d.max_html_kb * 1000,
            d.send_empty,
            config.path(c.dir),
        )
        self.web = _web_settings(config)
        # The endpoint `bulletin web` serves (without a token), and the address mailed instead.
        self.unsubscribe_url = config.delivery.unsubscribe_url or self.web.url("unsubscribe")
        self.unsubscribe_mailbox = (
            config.delivery.unsubscribe_mailto or config.delivery.from_address
        )
        self.unsubscribe_secret_env = config.delivery.unsubscribe_secret_env
        self.sender = delivery.Sender(
            config.delivery.from_address, config.delivery.from_name or self.site.title
        )
        b = config.delivery.bounces
        self.bounces = BounceSettings(
            config.delivery.bounce_address,
            b.hard_limit,
            b.soft_days,
            config.path(b.mailbox) if b.mailbox else None,
            b.imap.host,
            delivery.Disposal(b.processed, b.done_folder),
        )
        self.transport = "smtp" if config.uses_smtp else "outbox"
        self.destination = _destination(config, self.transport)

    def read_settings(self, language: str | None = None) -> ReadSettings:
        """What the sources need to know about the site."""
        site = self.config.site
        return ReadSettings(
            zone=self.zone,
            item_time=site.item_clock_time,
            language=language or site.language,
            categories=self.categories,
        )

    @cached_property
    def sources(self) -> tuple[SourceSpec, ...]:
        """The configured sources, in the config's order."""
        return tuple(_source_spec(self, source) for source in self.config.sources)

    @cached_property
    def user_agent(self) -> str:
        """What bulletin calls itself to the servers it fetches feeds from."""
        return f"bulletin/{__version__} (feed reader; +{self.site.base_url})"

    @cached_property
    def send(self) -> SendSettings:
        """The send settings; reads the SMTP password and the DKIM key the first time."""
        return _send_settings(self.config, self.transport, self.sender)

    def today(self, clock: Clock = system_clock) -> date:
        """Today's date in the newsroom's time zone."""
        return clock().astimezone(self.zone).date()

    def web_copy(self, day: date) -> Path:
        """Where the browser copy of a day's digest is written."""
        return self.digest.web_folder / digest.web_copy_path(day)

    def open_store(self, dry_run: bool = False, upgrade: bool = True) -> Store:
        """The store; for a dry run on a store not yet created, an empty one in memory; the
        one store held open, if ``hold_store`` was asked."""
        if self._held is not None and not dry_run:
            return self._held
        if dry_run and not Store.exists(self.store_url):
            return Store.open("sqlite://")
        password = read_secret(self.store_password_env, "the database password")
        return Store.open(self.store_url, upgrade=upgrade, password=password)

    def hold_store(self) -> None:
        """Open the store once and keep it open for every later ``open_store`` (a server)."""
        if self._held is None:
            self._held = self.open_store().keep_open()

    def bounce_imap(self) -> delivery.ImapServer | None:
        """The IMAP bounce mailbox, its password read from the environment; None if unset."""
        imap = self.config.delivery.bounces.imap
        if imap.host is None:
            return None
        return delivery.ImapServer(
            imap.host,
            imap.port,
            imap.security,
            imap.username,
            read_secret(imap.password_env, "the IMAP password"),
            imap.folder,
            imap.timeout,
            self.config.path(imap.ca_file) if imap.ca_file else None,
        )

    def unsubscribe_key(self, store: Store) -> bytes:
        """The key unsubscribe links are signed with: the configured secret, else the store's."""
        secret = read_secret(self.unsubscribe_secret_env, "the unsubscribe secret")
        return secret.encode() if secret is not None else store.unsubscribe_key()


def _source_spec(ctx: RunContext, source: SourceConfig) -> SourceSpec:
    settings = ctx.read_settings(source.language)
    if source.kind == "feed":
        assert source.url is not None  # the config refuses a feed source without one
        feed = FeedSource(
            name=source.name,
            url=source.url,
            categories=tuple(
                (" ".join(theirs.split()).casefold(), ours)
                for theirs, ours in source.categories.items()
            ),
            category=source.category,
            min_interval=timedelta(seconds=source.interval_seconds),
            ignore_cache=source.ignore_cache,
            timeout=source.timeout,
        )
        return SourceSpec(source.name, source.kind, Path(), source.url, settings, feed)
    assert source.path is not None  # the config refuses a listing or directory without one
    path = Path("-") if source.path == "-" else ctx.config.path(source.path)
    return SourceSpec(source.name, source.kind, path, source.path, settings)


def _category_index(config: Config) -> CategoryIndex:
    known = []
    aliases = []
    for entry in config.categories:
        category = Category(slug=entry.slug or slugify(entry.name), name=entry.name)
        known.append(category)
        for alias in (entry.name, *entry.aliases):
            aliases.append((" ".join(alias.split()).casefold(), category))
    return CategoryIndex(tuple(known), tuple(aliases))


def _send_settings(config: Config, transport: str, sender: delivery.Sender) -> SendSettings:
    settings, smtp = config.delivery, config.delivery.smtp
    signer = None
    if settings.dkim_key_file is not None:
        domain = settings.dkim_domain or settings.from_address.rsplit("@", 1)[1]
        key = config.path(settings.dkim_key_file)
        signer = delivery.DkimSigner(key, settings.dkim_selector, domain)
    uses_smtp = transport == "smtp"
    loop = delivery.Settings(
        sender=settings.from_address,
        transport=transport,
        connections=smtp.connections if uses_smtp else 1,
        rate_per_second=smtp.rate_per_second if uses_smtp else 0.0,
        pause_after_errors=smtp.pause_after_errors,
        retry_limit=settings.retry_limit,
        backoff_seconds=settings.retry_backoff_seconds,
    )
    target = _smtp_server(config) if uses_smtp else delivery.Outbox(config.path(settings.outbox))
    return SendSettings(loop, target, sender, settings.list_id, signer)


def _destination(config: Config, transport: str) -> str:
    """Where digests go: the SMTP server's host:port, or the outbox folder."""
    if transport == "smtp":
        return f"{config.delivery.smtp.host}:{config.delivery.smtp.port}"
    return str(config.path(config.delivery.outbox))


def _smtp_server(config: Config) -> delivery.SmtpServer:
    smtp = config.delivery.smtp
    assert smtp.host is not None  # the config refuses an smtp transport without a host
    return delivery.SmtpServer(
        smtp.host,
        smtp.port,
        security=smtp.security,
        username=smtp.username,
        password=read_secret(smtp.password_env, "the SMTP password"),
        timeout=smtp.timeout,
        ca_file=config.path(smtp.ca_file) if smtp.ca_file else None,
    )
