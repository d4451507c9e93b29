"""The lists of feeds: OPML 2.0 (http://opml.org/spec2.opml) and the HTML5 index page."""

from __future__ import annotations

import posixpath
import re
from html.parser import HTMLParser

import html5lib
from lxml import etree

_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$", re.IGNORECASE)


def check_opml(data: bytes) -> list[str]:
    """Every way ``data`` breaks OPML 2.0 as a subscription list; [] when valid."""
    root = etree.fromstring(data)
    problems = []
    if root.tag != "opml" or root.get("version") != "2.0":
        problems.append('root must be <opml version="2.0">')
    if root.find("head") is None or root.find("body") is None:
        problems.append("needs <head> and <body>")
    outlines = root.findall("body/outline")
    if not outlines:
        problems.append("<body> has no outline")
    for outline in root.iter("outline"):
        if not outline.get("text"):
            problems.append("an outline has no text attribute (required)")
        if outline.get("type") == "rss":
            url = outline.get("xmlUrl", "")
            if not re.match(r"^https?://[^\s/]+", url):
                problems.append(f"outline {outline.get('text')}: xmlUrl {url!r} is not absolute")
        if outline.get("language") and not _LANGUAGE.match(outline.get("language", "")):
            problems.append(f"outline {outline.get('text')}: bad language")
    return problems


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: list[str] = []
        self.labelled: list[str] = []
        self.links: list[tuple[str, str]] = []
        self.html_lang = ""
        self._anchor: list[str] | None = None
        self._href = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if "id" in attributes:
            self.ids.append(attributes["id"])
        if "aria-labelledby" in attributes:
            self.labelled.append(attributes["aria-labelledby"])
        if tag == "html":
            self.html_lang = attributes.get("lang", "")
        if tag == "a":
            self._anchor, self._href = [], attributes.get("href", "")

    def handle_data(self, data: str) -> None:
        if self._anchor is not None:
            self._anchor.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._anchor is not None:
            self.links.append((self._href, "".join(self._anchor).strip()))
            self._anchor = None


def check_index_html(data: bytes, page_path: str, existing: set[str]) -> list[str]:
    """Every way the index page breaks HTML5 parsing or basic accessibility; [] when valid.

    ``existing``: the paths (relative to the feeds folder) its links must lead to.
    """
    problems = []
    try:
        html5lib.HTMLParser(strict=True).parse(data)
    except Exception as error:  # html5lib's ParseError: the page does not parse cleanly
        problems.append(f"HTML5 parse error: {error}")
    text = data.decode("utf-8")
    if not text.startswith("<!DOCTYPE html>"):
        problems.append("does not start with <!DOCTYPE html>")
    for required in ('<meta charset="utf-8">', "<title>", '<meta name="viewport"'):
        if required not in text:
            problems.append(f"lacks {required}")
    page = _Page()
    page.feed(text)
    if not _LANGUAGE.match(page.html_lang):
        problems.append("<html> has no valid lang")
    if len(page.ids) != len(set(page.ids)):
        problems.append("ids are not unique")
    problems += [f"aria-labelledby={x} names no id" for x in page.labelled if x not in page.ids]
    here = posixpath.dirname(page_path)
    for href, label in page.links:
        if not label:
            problems.append(f"link to {href} has no text")
        if not re.match(r"^[a-z]+:", href):
            target = posixpath.normpath(posixpath.join(here, href))
            if target not in existing:
                problems.append(f"link to {href} leads to no file")
    return problems
