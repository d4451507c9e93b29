"""The few pages the web application shows a reader: plain, readable without JavaScript."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bulletin.web.app import Site


@dataclass(frozen=True)
class Page:
    """A page's heading, its text (HTML, already escaped) and what follows it (a form).

    ``key`` names the same page among the theme's words (``key``_title, ``key``_text), which
    a deployment's application shows instead; ``address`` and ``token`` fill it in.
    """

    heading: str
    text: str
    extra: str = ""
    key: str = ""
    address: str = ""
    token: str = ""


NOT_FOUND = Page("Not found", "There is nothing here.", key="not_found")
NOT_ALLOWED = Page(
    "Not allowed", "This address does not answer that kind of request.", key="not_allowed"
)
INVALID = Page(
    "This link is not valid",
    "The link is incomplete or was changed, so nothing was done. Use the unsubscribe link of "
    "a recent digest, or reply to it and ask to leave the list.",
    key="invalid",
)
FOREIGN = Page(
    "This form could not be accepted",
    "Nothing was changed. Load the page again and send the form from there.",
    key="refused",
)


def confirm_unsubscribe(address: str, site: Site, token: str) -> Page:
    """The page whose button unsubscribes ``address``."""
    action = html.escape(f"/{site.unsubscribe_path.strip('/')}?token={token}", quote=True)
    return Page(
        "Unsubscribe?",
        f"Stop sending {html.escape(site.title)} to <strong>{html.escape(address)}</strong>?",
        f'<form method="post" action="{action}">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>',
        key="unsubscribe",
        address=address,
        token=token,
    )


def unsubscribed(address: str, site: Site) -> Page:
    """The page that says ``address`` is off the list."""
    return Page(
        "Unsubscribed",
        f"<strong>{html.escape(address)}</strong> will get no more of {html.escape(site.title)}.",
        key="unsubscribed",
        address=address,
    )


def render(page: Page, title: str) -> str:
    """The whole HTML document of ``page``."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(page.heading)} · {html.escape(title)}</title></head>"
        '<body style="font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em">'
        f"<h1>{html.escape(page.heading)}</h1><p>{page.text}</p>{page.extra}</body></html>\n"
    )
