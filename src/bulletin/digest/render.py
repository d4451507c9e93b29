"""Rendering: the email's subject, inlined HTML and text; the web copy; the archive page.

The email is rendered and inlined once per digest variant. Its unsubscribe link stays
``UNSUBSCRIBE_TOKEN`` (and the "manage your subscription" link ``PREFERENCES_TOKEN``) for
delivery to fill in per recipient. When
the whole day does not fit ``max_html_bytes`` (Gmail clips at about 102 KB and hides what
follows, the unsubscribe link included) the email is cut, a step at a time, to excerpts, then
titles, then the first titles, each linking to the web copy, which always holds everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from bulletin import languages
from bulletin.digest import theme
from bulletin.digest.inline import inline_css
from bulletin.digest.labels import Labels, labels_for
from bulletin.digest.views import FULL, Cut, days_at, preheader
from bulletin.errors import PublishError
from bulletin.model import Digest, Site

UNSUBSCRIBE_TOKEN = "%%unsubscribe_url%%"
# The recipient's "manage your subscription" link, filled in per recipient like the above.
PREFERENCES_TOKEN = "%%preferences_url%%"
MAX_HTML_BYTES = 90_000
# Room kept for the unsubscribe URL that replaces the token in each recipient's copy.
URL_ALLOWANCE = 1_000
# Excerpt lengths tried in turn when the whole day does not fit; 0 is titles only.
EXCERPT_STEPS: tuple[int | None, ...] = (None, 400, 160, 0)
ARCHIVE_PATH = "digests/index.html"


@dataclass(frozen=True)
class RenderOptions:
    """How a site renders its digests; ``feed_links`` are (label, URL) pairs for the footer."""

    subject: str = "{site}: {date}"
    templates_dir: Path | None = None
    feed_links: tuple[tuple[str, str], ...] = ()
    max_html_bytes: int = MAX_HTML_BYTES
    subscribe_url: str | None = None  # the web copy's sign-up form goes there; None: no form


@dataclass(frozen=True)
class RenderedDigest:
    """One day's digest, ready to mail: the unsubscribe URL is still ``unsubscribe_token``.

    ``shortened`` says how the email was cut to fit its size budget ("" when it was not).
    """

    day: date
    subject: str
    html: str
    text: str
    unsubscribe_token: str = UNSUBSCRIBE_TOKEN
    shortened: str = ""


def web_copy_path(day: date) -> str:
    """Where the web copy of a day's digest is published, relative to the site's base URL."""
    return f"digests/{day.isoformat()}.html"


def render_digest(
    digest: Digest, site: Site, options: RenderOptions | None = None
) -> RenderedDigest:
    """The digest's subject, inlined HTML and text, cut to fit ``options.max_html_bytes``."""
    options = options or RenderOptions()
    page = Page(digest, site, options)
    cut, html = _fit(page, options.max_html_bytes)
    text = theme.tidy_text(theme.render(page.env, theme.TEXT_TEMPLATE, page.context(cut)))
    total = len(digest.items)
    return RenderedDigest(digest.day, page.subject, html, text, shortened=cut.describe(total))


def render_catch_up(
    covered: Sequence[date],
    parts: Sequence[Digest],
    site: Site,
    options: RenderOptions | None = None,
) -> RenderedDigest:
    """One digest for several days after downtime, filed under the last of ``covered``.

    ``parts`` are the days that have items, oldest first, each grouped by category as
    ``build_digest`` makes it; the email shows them under a heading per day, its date is the
    span of ``covered``, and its "view in browser" link goes to the archive, which lists
    each day's web copy. A single covered day is the ordinary digest.
    """
    options = options or RenderOptions()
    if len(covered) == 1:
        return render_digest(parts[0] if parts else Digest(covered[0], ()), site, options)
    whole = Digest(covered[-1], tuple(s for part in parts for s in part.sections))
    page = Page(whole, site, options, parts=tuple(parts), span=(covered[0], covered[-1]))
    cut, html = _fit(page, options.max_html_bytes)
    text = theme.tidy_text(theme.render(page.env, theme.TEXT_TEMPLATE, page.context(cut)))
    return RenderedDigest(
        whole.day, page.subject, html, text, shortened=cut.describe(len(whole.items))
    )


def render_web_copy(digest: Digest, site: Site, options: RenderOptions | None = None) -> str:
    """The digest's page on the site: every item in full, no unsubscribe link, a link to
    the archive instead of "view in browser"."""
    page = Page(digest, site, options or RenderOptions())
    return page.html(FULL, web=True)


def render_archive(site: Site, days: Sequence[date], options: RenderOptions | None = None) -> str:
    """The archive page listing the digests of ``days``, newest first."""
    options = options or RenderOptions()
    env = theme.environment(options.templates_dir)
    newest_first = sorted(set(days), reverse=True)
    labels = labels_for(site.language)
    context = {
        "site": site,
        "labels": labels,
        # Links relative to the archive page, which sits beside the web copies.
        "days": [(format_day(d, site.language), f"{d.isoformat()}.html") for d in newest_first],
        "feed_links": footer_feed_links(options, site, labels),
    }
    return theme.render(env, theme.INDEX_TEMPLATE, context)


class Page:
    """What every rendering of one digest shares: the theme, the subject, the context.

    A catch-up digest has ``parts``, one digest per day with items, and the ``span`` of days
    it covers; ``digest`` then holds all their sections, in order.
    """

    def __init__(
        self,
        digest: Digest,
        site: Site,
        options: RenderOptions,
        parts: tuple[Digest, ...] = (),
        span: tuple[date, date] | None = None,
    ) -> None:
        self.digest, self.site, self.options = digest, site, options
        self.parts = parts or (digest,)
        self.catch_up = span is not None
        self.env = theme.environment(options.templates_dir)
        self.labels = labels_for(site.language)
        if span is None:
            self.date_text = format_day(digest.day, site.language)
            self.web_url = site.url(web_copy_path(digest.day))
        else:
            self.date_text = format_days(*span, site.language)
            self.web_url = site.url(ARCHIVE_PATH)
        self.subject = _subject(options.subject, site, self.date_text)
        self.keep_css = theme.keep_css(self.env)
        self.inline_css = theme.source(self.env, theme.INLINE_CSS)

    def context(self, cut: Cut, web: bool = False) -> dict[str, Any]:
        """The variables the templates see (documented at the top of digest.html.j2)."""
        if self.catch_up:
            urls = [self.site.url(web_copy_path(part.day)) for part in self.parts]
            texts = [format_day(part.day, self.site.language) for part in self.parts]
        else:
            urls, texts = [self.web_url], [self.date_text]
        days = days_at(self.parts, self.labels, urls, texts, cut)
        return {
            "digest": self.digest,
            "site": self.site,
            "labels": self.labels,
            "subject": self.subject,
            "date_text": self.date_text,
            "preheader": preheader(self.digest, self.labels),
            "sections": [section for day in days for section in day.sections],
            "days": days,
            "catch_up": self.catch_up,
            "web": web,
            "web_url": self.web_url,
            "index_url": self.site.url(ARCHIVE_PATH),
            "feed_links": footer_feed_links(self.options, self.site, self.labels),
            "unsubscribe_url": UNSUBSCRIBE_TOKEN,
            "preferences_url": PREFERENCES_TOKEN,
            "subscribe_url": self.options.subscribe_url,
            "keep_css": self.keep_css,
        }

    def html(self, cut: Cut, web: bool = False) -> str:
        """The HTML under ``cut``, CSS inlined."""
        rendered = theme.render(self.env, theme.HTML_TEMPLATE, self.context(cut, web))
        return inline_css(rendered, self.inline_css)


def _fit(page: Page, budget: int) -> tuple[Cut, str]:
    """The least cut whose HTML fits ``budget`` bytes, and that HTML."""
    for length in EXCERPT_STEPS:
        cut = Cut(excerpt=length)
        html = page.html(cut)
        if html_size(html) <= budget:
            return cut, html
    # Titles only are still too many: keep the first ones, as many as fit (binary search).
    found: tuple[Cut, str] | None = None
    low, high = 0, len(page.digest.items) - 1
    while low <= high:
        middle = (low + high) // 2
        cut = Cut(excerpt=0, keep=middle)
        html = page.html(cut)
        if html_size(html) <= budget:
            found, low = (cut, html), middle + 1
        else:
            high = middle - 1
    if found is None:
        raise PublishError(
            f"the digest of {page.digest.day} does not fit {budget:,} bytes even without items",
            hint="raise digest.max_html_kb, or trim the theme's templates and CSS",
        )
    return found


def footer_feed_links(options: RenderOptions, site: Site, labels: Labels) -> list[tuple[str, str]]:
    """The footer's feed links, labelled without the site's name, which the page shows."""
    links = []
    for label, url in options.feed_links:
        if label == site.title:
            label = labels.all_items
        links.append((label.removeprefix(f"{site.title}: "), url))
    return links


def html_size(html: str) -> int:
    """The HTML part's size in bytes once a recipient's own links are filled in."""
    size = len(html.encode())
    for token in (UNSUBSCRIBE_TOKEN, PREFERENCES_TOKEN):
        size += html.count(token) * (URL_ALLOWANCE - len(token))
    return size


def format_day(day: date, language: str) -> str:
    """The day written out in ``language`` (e.g. "Saturday, November 28, 2026")."""
    try:
        return languages.format_day(day, language)
    except languages.UnknownLanguage as error:
        raise PublishError(
            f'site.language "{language}": no date formats known for it ({error})',
            hint='use a language tag Babel knows, such as "en", "en-GB" or "ar"',
        ) from error


def format_days(first: date, last: date, language: str) -> str:
    """A span of days written out in ``language`` ("Nov 24 – 26, 2026")."""
    format_day(last, language)  # the same clear error for a language Babel does not know
    return languages.format_days(first, last, language)


def _subject(template: str, site: Site, date_text: str) -> str:
    try:
        return template.format(site=site.title, date=date_text)
    except (KeyError, IndexError, ValueError) as error:
        raise PublishError(
            f'digest.subject "{template}" cannot be filled in: {error!r}',
            hint='use only {site} and {date}; write a literal brace as "{{" or "}}"',
        ) from error
