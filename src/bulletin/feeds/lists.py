"""The lists of feeds: ``index.opml`` for feed readers, ``index.html`` for people.

OPML 2.0 (http://opml.org/spec2.opml) lets a reader subscribe to every feed in one step; it lists
each feed once, in Atom, because listing three formats of the same feed would subscribe readers
three times to the same items. The HTML page is plain and accessible: one section per feed with
its three formats, how to subscribe, and the absolute address to copy. Both are deterministic
(no dates in them), so they change only when the list of feeds does.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from html import escape
from xml.etree import ElementTree as etree

from bulletin.feeds.entries import clean, plain_text
from bulletin.feeds.plan import FORMAT_NAMES, FORMATS, MEDIA_TYPES, FeedSpec

HOW_TO = (
    "To follow a feed, copy its address into your feed reader (look for “Add feed” or "
    "“Subscribe”), or click it if your browser hands feeds to a reader. Each feed comes in "
    "three formats holding the same items: Atom and RSS work in every feed reader, JSON Feed in "
    "newer ones. Pick one format per feed."
)
FORMAT_NOTES = {
    "atom": "recommended",
    "rss": "for older readers",
    "json": "for newer readers",
}
_STYLE = (
    "body{font-family:system-ui,sans-serif;line-height:1.5;max-width:44rem;margin:2rem auto;"
    "padding:0 1rem;color:#1a1a1a;background:#fff}code{word-break:break-all}"
    "li{margin:.25rem 0}a{color:#0645ad}"
)


def render_opml(specs: Sequence[FeedSpec]) -> bytes:
    """An OPML 2.0 subscription list of every feed, in Atom."""
    site = specs[0].site
    opml = etree.Element("opml", version="2.0")
    head = etree.SubElement(opml, "head")
    etree.SubElement(head, "title").text = _opml_text(f"{site.title}: feeds")
    # No <docs>: OPML 2.0 makes it optional, and the W3C validator, whose OPML rules predate
    # 2.0, refuses it (UndefinedElement).
    body = etree.SubElement(opml, "body")
    for spec in specs:
        etree.SubElement(
            body,
            "outline",
            text=_opml_text(spec.title),
            title=_opml_text(spec.title),
            type="rss",  # OPML 2.0 says "rss" for every kind of feed
            xmlUrl=spec.url("atom"),
            htmlUrl=site.url(""),
            description=_opml_text(_description(spec)),
            language=site.language,
        )
    etree.indent(opml, space="  ")
    data: bytes = etree.tostring(opml, encoding="UTF-8", xml_declaration=True)
    return data + b"\n"


def render_index_page(specs: Sequence[FeedSpec], max_items: int) -> bytes:
    """A plain HTML5 page listing every feed in every format, with how to subscribe."""
    site = specs[0].site
    here = posixpath.dirname(specs[0].paths.index)
    title = escape(clean(site.title))
    opml = escape(posixpath.relpath(specs[0].paths.opml, here or "."))
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Feeds of {title}</title>",
    ]
    for fmt in FORMATS:  # autodiscovery of the feed of everything
        lines.append(
            f'<link rel="alternate" type="{MEDIA_TYPES[fmt]}" '
            f'title="{escape(clean(specs[0].title))} ({FORMAT_NAMES[fmt]})" '
            f'href="{escape(specs[0].url(fmt))}">'
        )
    lines += [
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        "<main>",
        f'<h1>Feeds of <bdi lang="{escape(site.language)}">{title}</bdi></h1>',
        f"<p>{escape(HOW_TO)}</p>",
        f'<p>To subscribe to several at once, import <a href="{opml}" type="text/x-opml">the '
        "list of every feed (OPML)</a> into your reader, then keep the ones you want: it holds "
        "the feed of everything and each category’s feed, in Atom.</p>",
    ]
    for spec in specs:
        lines += _section(spec, here, max_items)
    lines += ["</main>", "</body>", "</html>", ""]
    return "\n".join(lines).encode()


def _section(spec: FeedSpec, here: str, max_items: int) -> list[str]:
    heading = f"feed-{spec.slug}"
    if spec.category is None:
        name = "Everything"
        about = f"The newest {max_items} items of every category."
    else:
        name = f'<bdi lang="{escape(spec.site.language)}">{escape(clean(spec.category.name))}</bdi>'
        about = f"The newest {max_items} items in this category."
    lines = [
        f'<section aria-labelledby="{heading}">',
        f'<h2 id="{heading}">{name}</h2>',
        f"<p>{escape(about)}</p>",
        "<ul>",
    ]
    for fmt in ("atom", "rss", "json"):
        href = escape(posixpath.relpath(spec.path(fmt), here or "."))
        lines.append(
            f'<li><a href="{href}" type="{MEDIA_TYPES[fmt]}">{FORMAT_NAMES[fmt]}</a> '
            f"({FORMAT_NOTES[fmt]}): <code>{escape(spec.url(fmt))}</code></li>"
        )
    return [*lines, "</ul>", "</section>"]


def _opml_text(text: str) -> str:
    """Plain text as OPML holds it: HTML, since its titles and text "may contain encoded HTML
    markup" (OPML 2.0), which readers and the W3C validator read as HTML (SecurityRisk)."""
    return escape(plain_text(text), quote=False)


def _description(spec: FeedSpec) -> str:
    if spec.category is None:
        return clean(spec.site.description) or clean(spec.title)
    return clean(f"{spec.category.name}: {spec.site.description}")
