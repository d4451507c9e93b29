"""One day's job as plain functions: collect, publish feeds, render the digest, deliver it.

The pipeline passes data between the stages (sources, store, feeds, digest, delivery), which
never import each other. Every function takes the clock it may read, so tests can move time.
A dry run reads and builds everything but writes nothing: not the store, not a file, no mail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Protocol

from bulletin import delivery, digest, feeds
from bulletin.config import Config, read_secret
from bulletin.errors import InputProblem, SourceError
from bulletin.files import write_if_changed
from bulletin.model import Category, CategoryIndex, Item, Recipient, Site
from bulletin.sources import ReadResult, ReadSettings, read_path, read_paths
from bulletin.store import SaveReport, Store
from bulletin.text import slugify

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The current instant, aware, in UTC."""
    return datetime.now(UTC)


# --- from config to the stages' own types ---------------------------------------------------


def site_of(config: Config) -> Site:
    """The site as feeds and digests present it."""
    s = config.site
    return Site(s.title, s.description, s.base_url, s.language, s.timezone)


def category_index(config: Config) -> CategoryIndex:
    """The configured categories and their aliases, in digest order."""
    known = []
    aliases = []
    for entry in config.categories:
        category = Category(slug=entry.slug or slugify(entry.name), name=entry.name)
        known.append(category)
        for alias in (entry.name, *entry.aliases):
            aliases.append((" ".join(alias.split()).casefold(), category))
    return CategoryIndex(tuple(known), tuple(aliases))


def read_settings(config: Config, language: str | None = None) -> ReadSettings:
    """What the sources need to know about the site."""
    return ReadSettings(
        zone=config.site.zone,
        item_time=config.site.item_clock_time,
        language=language or config.site.language,
        categories=category_index(config),
    )


def today(config: Config, clock: Clock = system_clock) -> date:
    """Today's date in the newsroom's time zone."""
    return clock().astimezone(config.site.zone).date()


def open_store(config: Config, dry_run: bool = False) -> Store:
    """The configured store; for a dry run on a store not yet created, an empty one in memory."""
    if dry_run and not Store.exists(config.store_url):
        return Store.open("sqlite://")
    return Store.open(config.store_url)


# --- collect ----------------------------------------------------------------------------------


@dataclass
class CollectReport:
    """What collecting read, stored and skipped."""

    read: list[Item] = field(default_factory=list)
    problems: list[InputProblem] = field(default_factory=list)
    saved: SaveReport = field(default_factory=SaveReport)
    per_source: dict[str, int] = field(default_factory=dict)

    @property
    def skipped(self) -> list[InputProblem]:
        """The problems that cost an item."""
        return [p for p in self.problems if p.skipped]


def read_sources(config: Config, paths: Sequence[Path] = ()) -> list[tuple[str, ReadResult]]:
    """Read the given paths, or else every configured source.

    A configured source that cannot be read at all is reported and the others are still read.
    """
    if paths:
        return [("command line", read_paths(paths, read_settings(config)))]
    results = []
    for source in config.sources:
        settings = read_settings(config, source.language)
        path = Path("-") if source.path == "-" else config.path(source.path)
        try:
            result = read_path(path, settings, kind=source.kind)
        except SourceError as error:
            problem = f"source {source.name}: {error.message}" + (
                f" ({error.hint})" if error.hint else ""
            )
            result = ReadResult(problems=(InputProblem(source.path, None, problem),))
        results.append((source.name, result))
    return results


def collect(
    config: Config,
    store: Store,
    paths: Sequence[Path] = (),
    dry_run: bool = False,
    clock: Clock = system_clock,
) -> CollectReport:
    """Read the sources and store what is new or changed (only compare, in a dry run)."""
    report = CollectReport()
    now = clock()
    saved = SaveReport()
    for name, result in read_sources(config, paths):
        report.read.extend(result.items)
        report.problems.extend(result.problems)
        report.per_source[name] = len(result.items)
        if dry_run:
            batch = store.preview_items(result.items, now)
        else:
            batch = store.save_items(result.items, name, now)
        saved = SaveReport(
            saved.new + batch.new, saved.updated + batch.updated, saved.unchanged + batch.unchanged
        )
    report.saved = saved
    return report


# --- what feeds and digests read --------------------------------------------------------------


class ItemView(Protocol):
    """The queries feeds and digests need; a store, or a store seen through a dry run."""

    def latest_items(self, limit: int, category_slug: str | None = None) -> list[Item]: ...
    def items_on(self, day: date) -> list[Item]: ...
    def categories(self) -> list[Category]: ...


@dataclass(frozen=True)
class DryRunView:
    """The store as it would be after saving ``pending``, which a dry run did not save."""

    store: Store
    pending: tuple[Item, ...]

    def _merge(self, stored: list[Item], wanted: Callable[[Item], bool]) -> list[Item]:
        by_id = {item.id: item for item in stored}
        by_id.update({item.id: item for item in self.pending if wanted(item)})
        return sorted(by_id.values(), key=lambda i: (-i.published.timestamp(), i.id))

    def latest_items(self, limit: int, category_slug: str | None = None) -> list[Item]:
        """The newest items, as after the pending save."""
        stored = self.store.latest_items(limit, category_slug)
        merged = self._merge(
            stored, lambda i: category_slug is None or i.category.slug == category_slug
        )
        return merged[:limit]

    def items_on(self, day: date) -> list[Item]:
        """One day's items, as after the pending save."""
        return self._merge(self.store.items_on(day), lambda i: i.day == day)

    def categories(self) -> list[Category]:
        """Every category with items, as after the pending save."""
        found = {c.slug: c for c in self.store.categories()}
        for item in self.pending:
            found.setdefault(item.category.slug, item.category)
        return sorted(found.values())


# --- feeds ------------------------------------------------------------------------------------


@dataclass
class FeedsReport:
    """Which feed files were written and which already held the same bytes."""

    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)


def feed_categories(config: Config, view: ItemView) -> list[Category]:
    """The configured categories and every other category that has items."""
    index = category_index(config)
    found = {c.slug: c for c in view.categories()}
    found.update({c.slug: c for c in index.known})
    return sorted(found.values(), key=index.order_key)


def publish_feeds(config: Config, view: ItemView, dry_run: bool = False) -> FeedsReport:
    """Build every feed and write those whose bytes changed."""
    report = FeedsReport()
    folder = config.path(config.feeds.dir)
    for spec in feeds.plan_feeds(site_of(config), feed_categories(config, view)):
        slug = None if spec.category is None else spec.category.slug
        entries = view.latest_items(config.feeds.max_items, slug)
        for fmt in feeds.FORMATS:
            target = folder / spec.path(fmt)
            data = feeds.build_feed(spec, entries, fmt)
            changed = _would_change(target, data) if dry_run else write_if_changed(target, data)
            (report.written if changed else report.unchanged).append(target)
    return report


def _would_change(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() != data
    except FileNotFoundError:
        return True


def feed_links(config: Config, view: ItemView) -> list[tuple[str, str]]:
    """(label, URL) of each category's Atom feed, for the digest's footer."""
    site = site_of(config)
    specs = feeds.plan_feeds(site, feed_categories(config, view))
    return [(spec.title, site.url(spec.path("atom"))) for spec in specs]


# --- digest and delivery -----------------------------------------------------------------------


@dataclass
class DigestReport:
    """The day's digest: how many items, where its web copy is, and who got it."""

    day: date
    items: int = 0
    subject: str = ""
    web_copy: Path | None = None
    skipped: str = ""
    delivered: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    transport: str = ""
    destination: str = ""


def web_copy_path(config: Config, day: date) -> Path:
    """Where the browser copy of a day's digest is written."""
    return config.path(config.feeds.dir) / digest.web_copy_path(day)


def render_day(config: Config, view: ItemView, day: date) -> tuple[int, digest.RenderedDigest]:
    """The day's digest rendered once; also returns how many items it holds."""
    index = category_index(config)
    built = digest.build_digest(day, view.items_on(day), index.order_key)
    templates = config.path(config.digest.templates) if config.digest.templates else None
    rendered = digest.render_digest(
        built, site_of(config), config.digest.subject, templates, feed_links(config, view)
    )
    return len(built.items), rendered


def recipients_of(config: Config) -> list[Recipient]:
    """The configured mailing list."""
    return [Recipient(r.address, r.name) for r in config.delivery.recipients]


def unsubscribe_url(config: Config, recipient: Recipient) -> str:
    """Where a recipient asks to leave the list: a mail to the sender, for now."""
    return f"mailto:{config.delivery.from_address}?subject=unsubscribe%20{recipient.address}"


def digest_and_deliver(
    config: Config,
    store: Store,
    view: ItemView,
    day: date,
    dry_run: bool = False,
    clock: Clock = system_clock,
) -> DigestReport:
    """Render the day's digest, write its web copy, and deliver it to each recipient once."""
    report = DigestReport(day)
    count, rendered = render_day(config, view, day)
    report.items, report.subject = count, rendered.subject
    if count == 0 and not config.digest.send_empty:
        report.skipped = "no items that day"
        return report
    report.web_copy = web_copy_path(config, day)
    if not dry_run:
        write_if_changed(report.web_copy, digest.web_copy(rendered).encode())
    _deliver(config, store, rendered, report, dry_run, clock)
    return report


def _deliver(
    config: Config,
    store: Store,
    rendered: digest.RenderedDigest,
    report: DigestReport,
    dry_run: bool,
    clock: Clock,
) -> None:
    site = site_of(config)
    sender = delivery.Sender(config.delivery.from_address, config.delivery.from_name or site.title)
    done = store.delivered_addresses(report.day)
    everyone = recipients_of(config)
    pending = [r for r in everyone if r.address.lower() not in done]
    report.already = [r.address for r in everyone if r.address.lower() in done]
    report.transport, report.destination = _transport_label(config)
    if dry_run:
        report.delivered = [r.address for r in pending]  # would be delivered
        return
    if not pending:
        return
    with _open_transport(config, sender) as send:
        for recipient in pending:
            message = delivery.build_message(
                rendered, site, sender, recipient, unsubscribe_url(config, recipient), clock()
            )
            send(report.day, recipient, message)
            # Recorded only once the transport has accepted the message.
            store.record_delivery(
                report.day,
                recipient.address,
                delivery.message_id(rendered.day, site, recipient),
                report.transport,
                clock(),
            )
            report.delivered.append(recipient.address)


Send = Callable[[date, Recipient, bytes], None]


def _transport_label(config: Config) -> tuple[str, str]:
    if config.uses_smtp:
        return "smtp", f"{config.delivery.smtp.host}:{config.delivery.smtp.port}"
    return "outbox", str(config.path(config.delivery.outbox))


@contextmanager
def _open_transport(config: Config, sender: delivery.Sender) -> Iterator[Send]:
    """A function that hands one message to the configured transport."""
    if not config.uses_smtp:
        outbox = delivery.Outbox(config.path(config.delivery.outbox))
        yield lambda day, recipient, message: _ignore(
            outbox.deliver(f"{day.isoformat()}:{recipient.address.lower()}", message)
        )
        return
    smtp = config.delivery.smtp
    assert smtp.host is not None
    password = read_secret(smtp.password_env, "the SMTP password")
    with delivery.SmtpTransport(
        smtp.host,
        smtp.port,
        security=smtp.security,
        username=smtp.username,
        password=password,
        timeout=smtp.timeout,
    ) as connection:
        yield lambda _day, recipient, message: connection.send(
            sender.address, [recipient.address], message
        )


def _ignore(_value: object) -> None:
    return None


# --- the whole day ---------------------------------------------------------------------------


@dataclass
class RunReport:
    """Everything one ``bulletin run`` did."""

    day: date
    dry_run: bool
    collected: CollectReport
    feeds: FeedsReport
    digest: DigestReport

    @property
    def ok(self) -> bool:
        """Whether nothing was skipped."""
        return not self.collected.skipped


def run_day(
    config: Config,
    day: date | None = None,
    dry_run: bool = False,
    clock: Clock = system_clock,
) -> RunReport:
    """Collect, publish the feeds, and render and deliver the digest of ``day`` (default today)."""
    day = day or today(config, clock)
    store = open_store(config, dry_run)
    try:
        run_id = None if dry_run else store.start_run("run", day, clock())
        collected = collect(config, store, dry_run=dry_run, clock=clock)
        view: ItemView = (
            DryRunView(store, collected.saved.new + collected.saved.updated) if dry_run else store
        )
        published = publish_feeds(config, view, dry_run)
        daily = digest_and_deliver(config, store, view, day, dry_run, clock)
        report = RunReport(day, dry_run, collected, published, daily)
        if run_id is not None:
            store.finish_run(run_id, "ok" if report.ok else "partial", summary(report), clock())
        return report
    finally:
        store.close()


def summary(report: RunReport) -> dict[str, object]:
    """A run's counts, as recorded in the store."""
    return {
        "items_read": len(report.collected.read),
        "items_new": len(report.collected.saved.new),
        "items_updated": len(report.collected.saved.updated),
        "items_skipped": len(report.collected.skipped),
        "feeds_written": len(report.feeds.written),
        "digest_items": report.digest.items,
        "delivered": len(report.digest.delivered),
    }
