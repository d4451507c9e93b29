"""The W3C Feed Validation Service's rules that apply to what bulletin writes, as code.

The validator itself (w3c/feedvalidator) is no package on the package index and cannot be
fetched in CI, so each of its events that bulletin's feeds could trigger is implemented here
from the validator's documentation and rules (docs/error/*.html, docs/warning/*.html and
src/feedvalidator/validators.py): same event names, same severities. ``check_rss`` and
``check_atom`` return every event found; a clean feed returns none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from html.entities import name2codepoint
from html.parser import HTMLParser

from lxml import etree

ATOM = "http://www.w3.org/2005/Atom"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
DC = "http://purl.org/dc/elements/1.1/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


@dataclass(frozen=True)
class Event:
    """One thing the validator would report."""

    severity: str  # "error" or "warning"
    name: str  # the validator's event class, e.g. "MissingAtomSelfLink"
    where: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.severity.upper()} {self.name} at {self.where}: {self.detail}"


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# --- the validator's HTML rules (validators.py: HTMLValidator, nonhtml, safeHtml) ---------

HTML_TAGS = _words(
    "a abbr acronym address applet area b base basefont bdo big blockquote body br button "
    "caption center cite code col colgroup dd del dir div dfn dl dt em fieldset font form "
    "frame frameset h1 h2 h3 h4 h5 h6 head hr html i iframe img input ins isindex kbd label "
    "legend li link map menu meta noframes noscript object ol optgroup option p param pre q s "
    "samp script select small span strike strong style sub sup table tbody td textarea tfoot "
    "th thead title tr tt u ul var xmp embed"
)
# SecurityRisk: elements that run code or change the page around the entry.
EVIL_TAGS = _words(
    "script meta embed object noscript iframe frame frameset applet style link base form "
    "input button textarea select"
)
_END_TAG = re.compile(r"</(\w+)>")
_REFERENCE = re.compile(r"&(#?\w+);")
_BARE_ENTITY = re.compile(r"&(\w+)")
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_UNSAFE_SCHEMES = ("javascript:", "vbscript:", "data:")
# BadCharacters: allowed by XML but never meant (C1 controls, non-characters).
_BAD_CHARACTERS = re.compile("[\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff]")
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*)?(Z|[+-]\d\d:\d\d)$")
_RFC2822 = re.compile(
    r"^((Mon|Tue|Wed|Thu|Fri|Sat|Sun), *)?\d\d? +(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|"
    r"Nov|Dec) +\d{4} +\d\d:\d\d(:\d\d)? +([+-]\d{4}|UT|GMT|EST|EDT|CST|CDT|MST|MDT|PST|PDT|Z)$"
)
_TAG_URI = re.compile(
    r"^tag:([a-z0-9\-._]+?@)?[a-z0-9.\-]+?,\d{4}(-\d{2}(-\d{2})?)?:"
    r"[0-9a-zA-Z;/?:@&=+$.\-_!~*'()%,]*(#[0-9a-zA-Z;/?:@&=+$.\-_!~*'()%,]*)?$"
)
_FULL_URI = re.compile(r"^[a-zA-Z][0-9a-zA-Z+\-.]*:(//)?[0-9a-zA-Z;/?:@&=+$.\-_!~*'()%,#]+$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$", re.IGNORECASE)
_MEDIA_TYPE = re.compile(r"^[^\s()<>,;:\\\"/\[\]?=]+/[^\s()<>,;:\\\"/\[\]?=]+$")


def looks_like_html(text: str) -> str | None:
    """The validator's "nonhtml" rule: an HTML end tag or a character reference in text that
    should be plain (ContainsHTML in RSS, ContainsUndeclaredHTML in Atom)."""
    tags = [t for t in _END_TAG.findall(text) if t.lower() in HTML_TAGS]
    if tags:
        return f"</{tags[0]}>"
    reference = _REFERENCE.search(text)
    if reference:
        return reference.group()
    for name in _BARE_ENTITY.findall(text):
        if name in name2codepoint or name == "apos" or not name.isalpha():
            return f"&{name}"
    return None


class _HtmlScan(HTMLParser):
    """The validator's safeHtml scan of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.not_html: list[str] = []
        self.risks: list[str] = []
        self.relative: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HTML_TAGS:
            self.not_html.append(f"Non-html tag: {tag}")
        if tag in EVIL_TAGS:
            self.risks.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.risks.append(f"{tag} {name}=")
            if name in ("href", "src", "cite", "longdesc", "usemap") and value is not None:
                url = value.strip()
                if url.lower().startswith(_UNSAFE_SCHEMES):
                    self.risks.append(f"{tag} {name}={url[:20]}")
                elif not _ABSOLUTE.match(url):
                    self.relative.append(f"{tag} {name}={url}")
        if tag not in ("br", "hr", "img", "input", "meta", "link", "area", "col", "base"):
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:
            while self.open.pop() != tag:
                pass
        else:
            self.not_html.append(f"end tag </{tag}> closes nothing")


def html_events(html: str, where: str, relative_refs: bool = True) -> list[Event]:
    """NotHtml, SecurityRisk and ContainsRelRef events for an HTML fragment."""
    scan = _HtmlScan()
    scan.feed(html)
    scan.close()
    events = [Event("warning", "NotHtml", where, m) for m in scan.not_html]
    events += [Event("warning", "SecurityRisk", where, r) for r in scan.risks]
    if relative_refs:
        events += [Event("warning", "ContainsRelRef", where, r) for r in scan.relative]
    return events


# --- shared checks ------------------------------------------------------------------------


def _document_events(data: bytes) -> tuple[etree._Element | None, list[Event]]:
    """Parse as the validator does: well-formed XML (SAXError), UTF-8, no bad characters."""
    events = []
    if not data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>") and not data.startswith(
        b'<?xml version="1.0" encoding="UTF-8"?>'
    ):
        events.append(Event("warning", "MissingEncoding", "document", "no UTF-8 XML declaration"))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return None, [Event("error", "UnicodeError", "document", str(error))]
    bad = _BAD_CHARACTERS.search(text)
    if bad:
        events.append(Event("warning", "BadCharacters", "document", repr(bad.group())))
    try:
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, huge_tree=True))
    except etree.XMLSyntaxError as error:
        return None, [*events, Event("error", "SAXError", "document", str(error))]
    return root, events


def _text(element: etree._Element | None) -> str:
    return "" if element is None else (element.text or "")


def _uri_events(value: str, where: str, error: str = "InvalidFullLink") -> list[Event]:
    if value.startswith("tag:"):
        return [] if _TAG_URI.match(value) else [Event("error", "InvalidTAG", where, value)]
    if not _FULL_URI.match(value):
        return [Event("error", error, where, value)]
    if value.split(":")[0].lower() in ("http", "https") and not re.match(r"^\w+://[^/]", value):
        return [Event("error", error, where, value)]
    return []


def _language_events(value: str, where: str) -> list[Event]:
    return [] if _LANGUAGE.match(value) else [Event("error", "InvalidLanguage", where, value)]


def _plausible(moment: datetime, where: str, value: str) -> list[Event]:
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    if moment > tomorrow or moment.year < 1970:
        return [Event("warning", "ImplausibleDate", where, value)]
    return []


def _self_events(href: str | None, self_url: str, where: str, missing: str) -> list[Event]:
    if href is None:
        return [Event("warning", missing, where, "no link with rel=self")]
    if href != self_url:
        return [Event("warning", "SelfDoesntMatchLocation", where, f"{href} != {self_url}")]
    return []


# --- RSS 2.0 --------------------------------------------------------------------------------

RSS_CHANNEL = _words(
    "title link description language copyright managingEditor webMaster pubDate lastBuildDate "
    "category generator docs cloud ttl image rating textInput skipHours skipDays item"
)
RSS_ITEM = _words("title link description author category comments enclosure guid pubDate source")


def check_rss(data: bytes, self_url: str) -> list[Event]:
    """Every event the validator would report for an RSS 2.0 feed served at ``self_url``."""
    root, events = _document_events(data)
    if root is None:
        return events
    if root.tag != "rss" or root.get("version") != "2.0":
        return [*events, Event("error", "UnknownFeedType", "document", str(root.tag))]
    channel = root.find("channel")
    if channel is None:
        return [*events, Event("error", "MissingElement", "rss", "channel")]
    for name in ("title", "link", "description"):
        if channel.find(name) is None:
            events.append(Event("error", "MissingElement", "channel", name))
    for name in ("title", "description"):
        found = looks_like_html(_text(channel.find(name)))
        if found:
            events.append(Event("warning", "ContainsHTML", f"channel {name}", found))
    events += _uri_events(_text(channel.find("link")), "channel link")
    if channel.find("language") is not None:
        events += _language_events(_text(channel.find("language")), "channel language")
    for name in ("pubDate", "lastBuildDate"):
        if channel.find(name) is not None:
            events += _rfc2822_events(_text(channel.find(name)), f"channel {name}")
    selves = [link for link in channel.findall(f"{{{ATOM}}}link") if link.get("rel") == "self"]
    href = selves[0].get("href") if selves else None
    events += _self_events(href, self_url, "channel", "MissingAtomSelfLink")
    for child in channel:
        if isinstance(child.tag, str) and "}" not in child.tag and child.tag not in RSS_CHANNEL:
            events.append(Event("warning", "UndefinedElement", "channel", child.tag))
    guids: set[str] = set()
    for index, item in enumerate(channel.findall("item")):
        events += _rss_item_events(item, f"item {index + 1}", guids)
    return events


def _rss_item_events(item: etree._Element, where: str, guids: set[str]) -> list[Event]:
    events: list[Event] = []
    if item.find("title") is None and item.find("description") is None:
        events.append(Event("error", "ItemMustContainTitleOrDescription", where))
    found = looks_like_html(_text(item.find("title")))
    if found:
        events.append(Event("warning", "ContainsHTML", f"{where} title", found))
    if item.find("link") is not None:
        events += _uri_events(_text(item.find("link")), f"{where} link")
    for name in ("description", f"{{{CONTENT}}}encoded"):
        if item.find(name) is not None:
            events += html_events(_text(item.find(name)), f"{where} {name}")
    if item.find("author") is not None:
        events.append(Event("error", "InvalidContact", f"{where} author", "RSS wants an e-mail"))
    guid = item.find("guid")
    if guid is None:
        events.append(Event("warning", "MissingGuid", where))
    else:
        value = _text(guid)
        if guid.get("isPermaLink", "true") == "true" and not re.match(r"^https?://", value):
            events.append(Event("error", "InvalidPermalink", f"{where} guid", value))
        if value in guids:
            events.append(Event("error", "DuplicateValue", f"{where} guid", value))
        guids.add(value)
    if item.find("pubDate") is not None:
        events += _rfc2822_events(_text(item.find("pubDate")), f"{where} pubDate")
    for child in item:
        if isinstance(child.tag, str) and "}" not in child.tag and child.tag not in RSS_ITEM:
            events.append(Event("warning", "UndefinedElement", where, child.tag))
    return events


def _rfc2822_events(value: str, where: str) -> list[Event]:
    if not _RFC2822.match(value):
        return [Event("error", "InvalidRFC2822Date", where, value)]
    return _plausible(parsedate_to_datetime(value), where, value)


# --- Atom 1.0 -------------------------------------------------------------------------------


def check_atom(data: bytes, self_url: str) -> list[Event]:
    """Every event the validator would report for an Atom 1.0 feed served at ``self_url``."""
    root, events = _document_events(data)
    if root is None:
        return events
    if root.tag != f"{{{ATOM}}}feed":
        return [*events, Event("error", "UnknownFeedType", "document", str(root.tag))]
    for element in root.iter():
        if (
            isinstance(element.tag, str)
            and element.tag.startswith(f"{{{ATOM}}}")
            and element.prefix
        ):
            events.append(Event("warning", "AvoidNamespacePrefix", element.tag, element.prefix))
            break
    if root.get(XML_LANG) is not None:
        events += _language_events(root.get(XML_LANG, ""), "feed xml:lang")
    events += _atom_common(root, "feed")
    selves = [link for link in root.findall(f"{{{ATOM}}}link") if link.get("rel") == "self"]
    events += _self_events(
        selves[0].get("href") if selves else None, self_url, "feed", "MissingSelf"
    )
    feed_has_author = root.find(f"{{{ATOM}}}author") is not None
    ids: dict[str, str] = {}
    for index, entry in enumerate(root.findall(f"{{{ATOM}}}entry")):
        where = f"entry {index + 1}"
        events += _atom_common(entry, where)
        if not feed_has_author and entry.find(f"{{{ATOM}}}author") is None:
            events.append(Event("error", "MissingElement", where, "author"))
        if entry.get(XML_LANG) is not None:
            events += _language_events(entry.get(XML_LANG, ""), f"{where} xml:lang")
        content = entry.find(f"{{{ATOM}}}content")
        alternates = [
            link
            for link in entry.findall(f"{{{ATOM}}}link")
            if link.get("rel", "alternate") == "alternate"
        ]
        if content is None and not alternates:
            events.append(Event("error", "MissingAlternateLink", where))
        if content is not None:
            events += _content_events(content, f"{where} content")
        entry_id = _text(entry.find(f"{{{ATOM}}}id"))
        updated = _text(entry.find(f"{{{ATOM}}}updated"))
        if entry_id in ids:
            same = ids[entry_id] == updated
            events.append(
                Event("warning", "DuplicateUpdated" if same else "DuplicateEntries", where)
            )
        ids[entry_id] = updated
    return events


def _atom_common(element: etree._Element, where: str) -> list[Event]:
    """Rules shared by feed and entry: id, title, updated, links, text constructs, dates."""
    events: list[Event] = []
    for name in ("id", "title", "updated"):
        found = element.findall(f"{{{ATOM}}}{name}")
        if not found:
            events.append(Event("error", "MissingElement", where, name))
        elif len(found) > 1:
            events.append(Event("error", "DuplicateElement", where, name))
    events += _uri_events(_text(element.find(f"{{{ATOM}}}id")), f"{where} id")
    for name in ("title", "subtitle", "summary", "rights"):
        construct = element.find(f"{{{ATOM}}}{name}")
        if construct is not None:
            events += _text_construct_events(construct, f"{where} {name}")
    for name in ("updated", "published"):
        date = element.find(f"{{{ATOM}}}{name}")
        if date is not None:
            value = _text(date)
            if not _RFC3339.match(value):
                events.append(Event("error", "InvalidRFC3339Date", f"{where} {name}", value))
            else:
                events += _plausible(datetime.fromisoformat(value), f"{where} {name}", value)
    alternates: set[tuple[str, str]] = set()
    for link in element.findall(f"{{{ATOM}}}link"):
        events += _uri_events(link.get("href", ""), f"{where} link")
        if link.get("type") is not None and not _MEDIA_TYPE.match(link.get("type", "")):
            events.append(Event("error", "InvalidMIMEType", f"{where} link", link.get("type", "")))
        if link.get("rel", "alternate") == "alternate":
            key = (link.get("type", ""), link.get("hreflang", ""))
            if key in alternates:
                events.append(Event("error", "DuplicateAtomLink", where, repr(key)))
            alternates.add(key)
    for author in element.findall(f"{{{ATOM}}}author"):
        if not _text(author.find(f"{{{ATOM}}}name")).strip():
            events.append(Event("error", "MissingElement", f"{where} author", "name"))
    return events


def _text_construct_events(construct: etree._Element, where: str) -> list[Event]:
    kind = construct.get("type", "text")
    value = construct.text or ""
    if kind not in ("text", "html", "xhtml"):
        return [Event("error", "InvalidTextType", where, kind)]
    if not value.strip() and kind != "xhtml":
        return [Event("warning", "NotBlank", where)]
    if kind == "text":
        found = looks_like_html(value)
        return [Event("warning", "ContainsUndeclaredHTML", where, found)] if found else []
    if kind == "html":
        return html_events(value, where, relative_refs=False)
    return []


def _content_events(content: etree._Element, where: str) -> list[Event]:
    kind = content.get("type", "text")
    if kind in ("text", "html", "xhtml"):
        if kind == "text":
            found = looks_like_html(content.text or "")
            return [Event("warning", "ContainsUndeclaredHTML", where, found)] if found else []
        if kind == "html":
            return html_events(content.text or "", where)
        return []
    if not _MEDIA_TYPE.match(kind):
        return [Event("error", "InvalidMIMEType", where, kind)]
    return []
