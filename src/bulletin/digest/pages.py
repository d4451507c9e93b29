"""The readers' pages and the messages about their subscription, rendered from the theme.

The web application asks the pipeline for a page by name (``pages/subscribe.html.j2``, ...)
with its variables; this adds what every page shares (the site, the page's language and
direction, its words as ``t``) and renders it with the digest's Jinja environment, so that an
operator's ``digest.templates`` overrides them as it does the digest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bulletin.digest import theme
from bulletin.digest.page_labels import page_labels_for
from bulletin.languages import language_name
from bulletin.model import Site, direction_for

NOTICE = "pages/notice.html.j2"
SUBSCRIBE = "pages/subscribe.html.j2"
PREFERENCES = "pages/preferences.html.j2"
MAILS = ("confirm", "manage", "welcome")


@dataclass(frozen=True)
class Mail:
    """A message about a subscription: its subject and text, in the reader's language."""

    subject: str
    text: str


def words(language: str) -> Mapping[str, str]:
    """The pages' words in ``language``."""
    return page_labels_for(language)


def language_names(codes: list[str]) -> list[tuple[str, str]]:
    """(code, name written in itself) for each of ``codes``, for a language picker."""
    return [(code, language_name(code)) for code in codes]


def render_page(
    templates_dir: Path | None,
    name: str,
    site: Site,
    language: str,
    heading_key: str,
    context: Mapping[str, Any],
) -> str:
    """Page template ``name`` in ``language``, headed by the words of ``heading_key``."""
    env = theme.environment(templates_dir)
    t = page_labels_for(language)
    shared = {
        "site": site,
        "lang": language,
        "dir": direction_for(language),
        "t": t,
        "heading": t[heading_key],
    }
    return theme.render(env, name, {**shared, **context})


def render_mail(
    templates_dir: Path | None, kind: str, site: Site, language: str, context: Mapping[str, Any]
) -> Mail:
    """The message ``kind`` (one of ``MAILS``) in ``language``: subject and plain text."""
    if kind not in MAILS:
        raise ValueError(f"no such message: {kind}")
    env = theme.environment(templates_dir)
    t = page_labels_for(language)
    text = theme.render(env, f"mail/{kind}.txt.j2", {"site": site, "t": t, **context})
    return Mail(t[f"{kind}_subject"].format(site=site.title), text.strip("\n") + "\n")
