"""Quick checks that a built file is what its format requires, for ``bulletin feeds --check``.

These catch a broken document before it reaches readers (not well-formed XML, the wrong root,
JSON Feed's required members missing). The full validation against the specs' rules lives in
the test suite (tests/feedcheck), which runs on every change.
"""

from __future__ import annotations

import json
from xml.etree import ElementTree as etree

from bulletin.feeds.json_feed import VERSION

ATOM_NS = "http://www.w3.org/2005/Atom"
_ROOTS = {"rss": "rss", "atom": f"{{{ATOM_NS}}}feed", "opml": "opml"}


def problems_in(kind: str, data: bytes) -> list[str]:
    """What is wrong with ``data`` as a file of ``kind`` (rss, atom, json, opml, html)."""
    if kind == "json":
        return _json_problems(data)
    if kind == "html":
        head = data[:200].lower()
        return [] if head.startswith(b"<!doctype html>") else ["no <!DOCTYPE html> at the start"]
    try:
        root = etree.fromstring(data)  # expat: no external entities, no DTD loading
    except etree.ParseError as error:
        return [f"not well-formed XML: {error}"]
    if root.tag != _ROOTS[kind]:
        return [f"root element is <{root.tag}>, expected <{_ROOTS[kind]}>"]
    return []


def _json_problems(data: bytes) -> list[str]:
    try:
        feed = json.loads(data)
    except ValueError as error:
        return [f"not JSON: {error}"]
    if not isinstance(feed, dict):
        return ["not a JSON object"]
    problems = []
    if feed.get("version") != VERSION:
        problems.append(f'"version" is not "{VERSION}"')
    if not isinstance(feed.get("title"), str):
        problems.append('"title" is missing')
    items = feed.get("items")
    if not isinstance(items, list):
        return [*problems, '"items" is not a list']
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            problems.append(f"item {index} has no string id")
        elif "content_html" not in item and "content_text" not in item:
            problems.append(f"item {index} has no content_html or content_text")
    return problems
