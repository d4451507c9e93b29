"""Items to the day's digest: inlined HTML email, its plain-text twin, its web copy and the
archive page; the only package importing jinja2 and premailer.

Usage::

    digest = build_digest(day, items, index.order_key)
    rendered = render_digest(digest, site, RenderOptions(feed_links=links))
    rendered.html, rendered.text   # the unsubscribe link is still UNSUBSCRIBE_TOKEN
    missed = render_catch_up(days, [digest_of_each_day, ...], site, options)  # after downtime
    page = render_web_copy(digest, site, options)       # feeds/digests/YYYY-MM-DD.html
    archive = render_archive(site, days, options)         # feeds/digests/index.html

Modules: ``views`` (what templates loop over, and how an over-long day is cut), ``render``
(subject, HTML, text, size budget), ``theme`` (templates, CSS, Jinja), ``inline`` (premailer),
``labels`` (the digest's own words per language), ``pages`` and ``page_labels`` (the readers'
sign-up and preferences pages, and the messages about a subscription, from the same theme).
"""

from bulletin.digest.inline import inline_css
from bulletin.digest.labels import LABELS, Labels, labels_for
from bulletin.digest.pages import (
    NOTICE,
    PREFERENCES,
    SUBSCRIBE,
    Mail,
    language_names,
    render_mail,
    render_page,
    words,
)
from bulletin.digest.render import (
    ARCHIVE_PATH,
    MAX_HTML_BYTES,
    PREFERENCES_TOKEN,
    UNSUBSCRIBE_TOKEN,
    RenderedDigest,
    RenderOptions,
    format_day,
    format_days,
    html_size,
    render_archive,
    render_catch_up,
    render_digest,
    render_web_copy,
    web_copy_path,
)
from bulletin.digest.theme import KEEP_CSS_LIMIT, TEXT_WIDTH, default_templates_dir, wrap
from bulletin.digest.views import Cut, DayView, DigestEntry, SectionView, build_digest

__all__ = [
    "ARCHIVE_PATH",
    "KEEP_CSS_LIMIT",
    "LABELS",
    "MAX_HTML_BYTES",
    "NOTICE",
    "PREFERENCES",
    "PREFERENCES_TOKEN",
    "SUBSCRIBE",
    "TEXT_WIDTH",
    "UNSUBSCRIBE_TOKEN",
    "Cut",
    "DayView",
    "DigestEntry",
    "Labels",
    "Mail",
    "RenderOptions",
    "RenderedDigest",
    "SectionView",
    "build_digest",
    "default_templates_dir",
    "format_day",
    "format_days",
    "html_size",
    "inline_css",
    "labels_for",
    "language_names",
    "render_archive",
    "render_catch_up",
    "render_digest",
    "render_mail",
    "render_page",
    "render_web_copy",
    "web_copy_path",
    "words",
    "wrap",
]
