"""JSON Feed 1.1 (https://jsonfeed.org/version/1.1): required members, types and formats."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

VERSION = "https://jsonfeed.org/version/1.1"
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
_URL = re.compile(r"^https?://[^\s/]+")
FEED_KEYS = {
    "version": str, "title": str, "home_page_url": str, "feed_url": str, "description": str,
    "user_comment": str, "next_url": str, "icon": str, "favicon": str, "authors": list,
    "language": str, "expired": bool, "hubs": list, "items": list,
}  # fmt: skip
ITEM_KEYS = {
    "id": str, "url": str, "external_url": str, "title": str, "content_html": str,
    "content_text": str, "summary": str, "image": str, "banner_image": str,
    "date_published": str, "date_modified": str, "authors": list, "tags": list,
    "language": str, "attachments": list,
}  # fmt: skip
DATES = ("date_published", "date_modified")
URL_KEYS = {"home_page_url", "feed_url", "next_url", "icon", "favicon", "url", "external_url"}


def check_json_feed(data: bytes, self_url: str) -> list[str]:
    """Every way ``data`` breaks JSON Feed 1.1 (served at ``self_url``); [] when valid."""
    try:
        feed = json.loads(data.decode("utf-8"))
    except ValueError as error:
        return [f"not UTF-8 JSON: {error}"]
    if not isinstance(feed, dict):
        return ["the top level is not an object"]
    problems = _members(feed, FEED_KEYS, "feed")
    if feed.get("version") != VERSION:
        problems.append(f"version is {feed.get('version')!r}, not {VERSION}")
    for required in ("version", "title", "items"):
        if required not in feed:
            problems.append(f"feed: required {required} is missing")
    if feed.get("feed_url") != self_url:
        problems.append(f"feed_url {feed.get('feed_url')!r} is not where it is served")
    problems += _authors(feed.get("authors", []), "feed")
    ids: set[str] = set()
    for index, item in enumerate(feed.get("items") or []):
        where = f"item {index + 1}"
        if not isinstance(item, dict):
            problems.append(f"{where}: not an object")
            continue
        problems += _members(item, ITEM_KEYS, where)
        if not isinstance(item.get("id"), str) or not item.get("id"):
            problems.append(f"{where}: required id is missing or not a non-empty string")
        elif item["id"] in ids:
            problems.append(f"{where}: id {item['id']} is not unique")
        ids.add(str(item.get("id")))
        if "content_html" not in item and "content_text" not in item:
            problems.append(f"{where}: has neither content_html nor content_text")
        for key in DATES:
            if key in item and not _RFC3339.match(str(item[key])):
                problems.append(f"{where}: {key} {item[key]!r} is not RFC 3339")
        dates_ok = all(_RFC3339.match(str(item.get(k, "2000-01-01T00:00:00Z"))) for k in DATES)
        if dates_ok and "date_published" in item and "date_modified" in item:
            published = datetime.fromisoformat(item["date_published"])
            if datetime.fromisoformat(item["date_modified"]) < published:
                problems.append(f"{where}: modified before it was published")
        if not all(isinstance(tag, str) for tag in item.get("tags", [])):
            problems.append(f"{where}: tags must be strings")
        problems += _authors(item.get("authors", []), where)
    return problems


def _members(obj: dict[str, Any], known: dict[str, type], where: str) -> list[str]:
    problems = []
    for key, value in obj.items():
        if key.startswith("_"):
            continue  # extensions (spec: "names must start with an underscore")
        if key not in known:
            problems.append(f"{where}: unknown member {key} (extensions must start with _)")
        elif not isinstance(value, known[key]):
            problems.append(f"{where}: {key} must be a {known[key].__name__}")
        elif key in URL_KEYS and not _URL.match(value):
            problems.append(f"{where}: {key} {value!r} is not an absolute URL")
    return problems


def _authors(authors: Any, where: str) -> list[str]:
    problems = []
    for author in authors if isinstance(authors, list) else []:
        if not isinstance(author, dict) or not ({"name", "url", "avatar"} & set(author)):
            problems.append(f"{where}: an author needs a name, url or avatar")
    return problems
