"""Items to the day's digest, as inlined HTML and wrapped plain text: the only module importing
jinja2 and premailer.

``build_digest`` groups the day's items into sections; ``render_digest`` renders the theme's
``digest.html.j2`` and ``digest.txt.j2`` once, inlines ``digest.css`` into the HTML and keeps
``digest-keep.css`` (media queries, dark mode) in a ``<style>`` block the inliner leaves alone.
The unsubscribe link is left as ``UNSUBSCRIBE_TOKEN`` for delivery to fill per recipient, so
the costly inlining happens once per digest, not once per recipient.
"""

from __future__ import annotations

import logging
import re
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from markupsafe import Markup
from premailer import Premailer

from bulletin.errors import PublishError
from bulletin.model import Category, Digest, DigestSection, Item, Site

UNSUBSCRIBE_TOKEN = "%%unsubscribe_url%%"
HTML_TEMPLATE = "digest.html.j2"
TEXT_TEMPLATE = "digest.txt.j2"
INLINE_CSS = "digest.css"
KEEP_CSS = "digest-keep.css"
TEXT_WIDTH = 72
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
PREHEADER_LENGTH = 90  # Gmail web shows about 90 characters of preview after the subject


@dataclass(frozen=True)
class RenderedDigest:
    """One day's digest, ready to mail: the unsubscribe URL is still ``unsubscribe_token``.

    ``home_url`` is the site's address, which the web copy links to instead of unsubscribing.
    """

    day: date
    subject: str
    html: str
    text: str
    home_url: str = ""
    unsubscribe_token: str = UNSUBSCRIBE_TOKEN


def build_digest(day: date, items: Sequence[Item], order_key: Callable[[Category], Any]) -> Digest:
    """The day's items grouped by category, sections in ``order_key`` order, items newest first."""
    groups: dict[Category, list[Item]] = {}
    for item in items:
        groups.setdefault(item.category, []).append(item)
    categories = sorted(groups, key=lambda category: (order_key(category), category))
    sections = tuple(DigestSection(c, tuple(_newest_first(groups[c]))) for c in categories)
    return Digest(day=day, sections=sections)


def _newest_first(items: Sequence[Item]) -> list[Item]:
    """Newest first; equal publication times by id, so the order never depends on input order."""
    return sorted(sorted(items, key=lambda item: item.id), key=lambda i: i.published, reverse=True)


def render_digest(
    digest: Digest,
    site: Site,
    subject_template: str = "{site}: {date}",
    templates_dir: Path | None = None,
    feed_links: Sequence[tuple[str, str]] = (),
) -> RenderedDigest:
    """Render the digest's subject, inlined HTML and text; ``feed_links`` are (label, URL) pairs.

    ``templates_dir`` is the operator's folder; its templates win over the default theme's.
    """
    env = _environment(templates_dir)
    date_text = format_day(digest.day, site.language)
    subject = _subject(subject_template, site, date_text)
    context = {
        "digest": digest,
        "site": site,
        "subject": subject,
        "date_text": date_text,
        "preheader": _preheader(digest),
        "web_url": site.url(web_copy_path(digest.day)),
        "feed_links": list(feed_links),
        "unsubscribe_url": UNSUBSCRIBE_TOKEN,
        # Markup: CSS must not be HTML-escaped; comments go, every byte counts against Gmail's
        # 16 KB limit for <style>.
        "keep_css": Markup(_CSS_COMMENT.sub("", _source(env, KEEP_CSS)).strip()),
    }
    html = _render(env, HTML_TEMPLATE, context)
    text = _tidy_text(_render(env, TEXT_TEMPLATE, context))
    inlined = inline_css(html, _source(env, INLINE_CSS))
    return RenderedDigest(digest.day, subject, inlined, text, home_url=site.url(""))


def web_copy(rendered: RenderedDigest) -> str:
    """The digest's HTML for the web, its unsubscribe link pointing at the site instead."""
    return rendered.html.replace(rendered.unsubscribe_token, rendered.home_url)


def web_copy_path(day: date) -> str:
    """Where the web copy of a day's digest is published, relative to the site's base URL."""
    return f"digests/{day.isoformat()}.html"


def default_templates_dir() -> Path:
    """The default theme: ``templates/`` of a checkout, else the copy packaged in the wheel."""
    checkout = Path(__file__).resolve().parents[2] / "templates"
    if (checkout / HTML_TEMPLATE).is_file():
        return checkout
    # pyproject force-includes templates/ into the wheel as bulletin/templates.
    return Path(str(resources.files("bulletin") / "templates"))


def format_day(day: date, language: str) -> str:
    """The day written out in ``language`` (e.g. "Saturday, November 28, 2026"), with Babel."""
    try:
        locale = Locale.parse(language.replace("-", "_"))
    except (ValueError, UnknownLocaleError) as error:
        raise PublishError(
            f'site.language "{language}": no date formats known for it ({error})',
            hint='use a language tag Babel knows, such as "en", "en-GB" or "ar"',
        ) from error
    return str(format_date(day, format="full", locale=locale))


def _subject(template: str, site: Site, date_text: str) -> str:
    try:
        return template.format(site=site.title, date=date_text)
    except (KeyError, IndexError, ValueError) as error:
        raise PublishError(
            f'digest.subject "{template}" cannot be filled in: {error!r}',
            hint='use only {site} and {date}; write a literal brace as "{{" or "}}"',
        ) from error


def _preheader(digest: Digest) -> str:
    """The inbox preview: the first titles, cut near ``PREHEADER_LENGTH`` characters."""
    if digest.is_empty:
        return "Nothing today."
    preview = " · ".join(item.title for item in digest.items if item.title)
    if len(preview) <= PREHEADER_LENGTH:
        return preview
    cut = preview.rfind(" ", 0, PREHEADER_LENGTH)
    return preview[: cut if cut > 0 else PREHEADER_LENGTH].rstrip(" ·") + "…"


# --- templates -----------------------------------------------------------------------------


def _environment(templates_dir: Path | None) -> jinja2.Environment:
    """Operator's folder first, then the defaults, which also answer to "default/<name>"."""
    defaults = jinja2.FileSystemLoader(default_templates_dir())
    loaders: list[jinja2.BaseLoader] = []
    if templates_dir is not None:
        if not templates_dir.is_dir():  # FileSystemLoader would silently skip it
            raise PublishError(
                f"digest.templates: {templates_dir} is not a folder",
                hint="create it, or remove digest.templates to use the default theme",
            )
        loaders.append(jinja2.FileSystemLoader(templates_dir))
    # The prefix lets an override named digest.html.j2 extend the default of the same name
    # without extending itself (which recurses without end).
    loaders += [defaults, jinja2.PrefixLoader({"default": defaults})]
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        # select_autoescape() alone would leave *.html.j2 unescaped: it matches on the last
        # suffix only, so name the double suffixes.
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "htm", "xml", "html.j2"),
            disabled_extensions=("txt", "txt.j2"),
            default=True,
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["wrap"] = wrap
    return env


def _render(env: jinja2.Environment, name: str, context: dict[str, Any]) -> str:
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateSyntaxError as error:
        where = f"{error.filename or error.name}:{error.lineno}"
        raise PublishError(f"{where}: {error.message}", hint="fix the template") from error
    except jinja2.TemplateError as error:
        raise PublishError(
            f"template {name}: {error}",
            hint="check the template's names against the documented variables",
        ) from error


def _source(env: jinja2.Environment, name: str) -> str:
    """A theme file's text, found like a template but not rendered (CSS is not Jinja)."""
    assert env.loader is not None
    try:
        return env.loader.get_source(env, name)[0]
    except jinja2.TemplateNotFound as error:
        raise PublishError(f"theme file {name} not found", hint="restore it") from error


def wrap(text: str, width: int = TEXT_WIDTH) -> str:
    """Text folded at ``width`` columns; words longer than that (URLs) stay whole."""
    return textwrap.fill(
        " ".join(text.split()), width=width, break_long_words=False, break_on_hyphens=False
    )


def _tidy_text(text: str) -> str:
    """No trailing spaces, at most one blank line in a row, one final newline."""
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n") + "\n"


# --- CSS -----------------------------------------------------------------------------------


def inline_css(html: str, css: str) -> str:
    """``html`` with ``css`` inlined into style attributes; ``<style data-premailer="ignore">``
    blocks stay as they are (premailer 3.10 drops the attribute and skips the block)."""
    inliner = Premailer(
        html,
        base_url=None,  # leave links as written: no joining, no rewriting
        css_text=[css],
        keep_style_tags=False,
        # premailer strips !important by default, which disables every media query and dark-mode
        # rule against the inlined styles (the keep block is skipped anyway, since PR #242).
        strip_important=False,
        remove_classes=False,  # the keep block's media queries select by class
        exclude_pseudoclasses=True,
        disable_validation=True,  # cssutils validation flags vendor properties and is slow
        # cssutils logs unknown properties (mso-*, -webkit-*) to stderr; this is process-wide.
        cssutils_logging_level=logging.CRITICAL,
        # bgcolor/width/height copied onto <div>/<p> are invalid HTML; tables set them by hand.
        disable_basic_attributes=["bgcolor", "width", "height"],
        allow_network=False,
        allow_loading_external_files=False,
    )
    try:
        inlined: str = inliner.transform(pretty_print=False)
    except Exception as error:  # premailer and cssutils raise a variety of errors on bad CSS
        raise PublishError(
            f"the digest's CSS cannot be inlined: {error}",
            hint=f"check {INLINE_CSS} in the theme (nested @media is not supported)",
        ) from error
    return inlined
