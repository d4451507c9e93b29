"""The digests of a run: built from the store, rendered once per variant, copied to the web.

A recipient who chose some categories, or some of the site's languages, gets a variant
holding only those items, rendered once per distinct (categories, languages) choice, never
once per recipient (``Variants``); a reader of one language gets its words and direction too.
After downtime one catch-up digest may cover several days. Each digest sent has a web copy
under the feeds folder, and the archive page lists every web copy there.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from functools import cached_property
from pathlib import Path

from bulletin import digest
from bulletin.files import write_if_changed
from bulletin.model import Digest, Site
from bulletin.pipeline.context import RunContext
from bulletin.pipeline.dry_run import ItemView
from bulletin.pipeline.publish import feed_links

_WEB_COPY_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})\.html")

Categories = frozenset[str] | None  # a choice of category slugs; None: every category
Languages = frozenset[str] | None  # a choice of language codes (en, ar); None: every language


class Digests:
    """How this run builds and renders digests from what the store holds."""

    def __init__(self, ctx: RunContext, view: ItemView) -> None:
        self.ctx, self.view = ctx, view

    @cached_property
    def options(self) -> digest.RenderOptions:
        """The digest settings, with the footer's feed links (looked up once per run)."""
        settings = self.ctx.digest
        return digest.RenderOptions(
            subject=settings.subject,
            templates_dir=settings.templates,
            feed_links=tuple(feed_links(self.ctx, self.view)),
            max_html_bytes=settings.max_html_bytes,
            subscribe_url=self.ctx.web.url("subscribe"),
        )

    def day(self, day: date, categories: Categories = None, languages: Languages = None) -> Digest:
        """The day's items (of ``categories`` and ``languages`` only, if given) grouped in the
        configured order."""
        items = [
            item
            for item in self.view.items_on(day)
            if (categories is None or item.category.slug in categories)
            and (languages is None or _primary(item.language) in languages)
        ]
        return digest.build_digest(day, items, self.ctx.categories.order_key)

    def days(
        self, days: Sequence[date], categories: Categories = None, languages: Languages = None
    ) -> list[Digest]:
        """The digests of those of ``days`` that have items (of the choice), oldest first."""
        built = [self.day(day, categories, languages) for day in sorted(days)]
        return [one for one in built if not one.is_empty]

    def render(
        self, days: Sequence[date], categories: Categories = None, languages: Languages = None
    ) -> tuple[int, digest.RenderedDigest]:
        """The digest covering ``days`` (several after downtime), filed under the last; also
        how many items it holds. Days without items are left out of a catch-up digest."""
        site = self.site_for(languages)
        if len(days) == 1:
            built = self.day(days[0], categories, languages)
            return len(built.items), digest.render_digest(built, site, self.options)
        parts = self.days(days, categories, languages)
        rendered = digest.render_catch_up(sorted(days), parts, site, self.options)
        return sum(len(part.items) for part in parts), rendered

    def site_for(self, languages: Languages) -> Site:
        """The site as a reader of ``languages`` sees it: in their language when they read one
        only (its words, dates and direction), else in the site's own."""
        if languages is None or len(languages) != 1:
            return self.ctx.site
        (language,) = languages
        if language == _primary(self.ctx.site.language):
            return self.ctx.site
        return replace(self.ctx.site, language=language)

    def variants(self, days: Sequence[date]) -> Variants:
        """The digest of ``days`` per choice of categories and languages, each rendered at its
        first use."""
        return Variants(self, tuple(days))

    def write_web_copy(self, built: Digest) -> Path:
        """Write the day's web copy and the archive page (only files whose bytes changed)."""
        site, options = self.ctx.site, self.options
        target = self.ctx.web_copy(built.day)
        write_if_changed(target, digest.render_web_copy(built, site, options).encode())
        archive = digest.render_archive(site, published_days(target.parent), options)
        write_if_changed(self.ctx.digest.web_folder / digest.ARCHIVE_PATH, archive.encode())
        return target


class Variants:
    """One digest rendered per (categories, languages) choice, once per choice, never per
    recipient; the ledger's variant key (``store.parse_variant``) names the choice."""

    def __init__(self, digests: Digests, days: tuple[date, ...]) -> None:
        self.digests, self.days = digests, days
        self._rendered: dict[tuple[Categories, Languages], tuple[int, digest.RenderedDigest]] = {}

    def rendered(
        self, categories: Categories = None, languages: Languages = None
    ) -> tuple[int, digest.RenderedDigest]:
        """The variant for the choice and how many items it holds."""
        key = (categories, languages)
        if key not in self._rendered:
            self._rendered[key] = self.digests.render(self.days, categories, languages)
        return self._rendered[key]

    @property
    def count(self) -> int:
        """How many variants were rendered so far."""
        return len(self._rendered)

    def __call__(
        self, categories: Categories, languages: Languages = None
    ) -> digest.RenderedDigest:
        """The variant for the choice."""
        return self.rendered(categories, languages)[1]


def _primary(language: str) -> str:
    """A language tag's primary subtag, as readers choose languages: "en" for "en-GB"."""
    return language.replace("_", "-").split("-", 1)[0].lower()


def published_days(folder: Path) -> list[date]:
    """The days whose web copy is in ``folder`` (the archive lists what can be read)."""
    days = []
    for path in folder.glob("*.html"):
        match = _WEB_COPY_NAME.fullmatch(path.name)
        if match:
            try:
                days.append(date.fromisoformat(match.group(1)))
            except ValueError:  # 2026-13-40.html: not one of ours
                continue
    return sorted(days, reverse=True)
