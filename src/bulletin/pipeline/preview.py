"""A day's digest as a reader would get it, for ``bulletin digest``: nothing sent or stored.

The preview is addressed to a sample reader who is on nobody's list, so a preview can never be
taken for a delivery, and its unsubscribe link is not valid.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, replace
from datetime import date

from bulletin import delivery, digest
from bulletin.model import Recipient
from bulletin.pipeline.context import Clock, RunContext, system_clock
from bulletin.pipeline.digests import Digests
from bulletin.pipeline.send import PREVIEW_LINK_ID, preferences_url, unsubscribe_url

SAMPLE_RECIPIENT = Recipient("reader@example.com", "Sample Reader")


@dataclass(frozen=True)
class Preview:
    """A day's digest: how many items, and its parts with the sample reader's link filled in."""

    day: date
    items: int
    rendered: digest.RenderedDigest
    unsubscribe: str  # the sample reader's (not valid) unsubscribe URL
    send_empty: bool  # whether a day without items would be sent
    manage: str = ""  # the sample reader's (not valid) preferences URL

    @property
    def text(self) -> str:
        """The plain-text part."""
        return self.managed.text.replace(self.rendered.unsubscribe_token, self.unsubscribe)

    @property
    def html(self) -> str:
        """The HTML part, to open in a browser."""
        link = html.escape(self.unsubscribe)
        return self.managed.html.replace(self.rendered.unsubscribe_token, link)

    @property
    def managed(self) -> digest.RenderedDigest:
        """The parts with the sample reader's preferences link filled in."""
        r, token = self.rendered, digest.PREFERENCES_TOKEN
        return replace(
            r,
            text=r.text.replace(token, self.manage),
            html=r.html.replace(token, html.escape(self.manage)),
        )


def preview_digest(
    ctx: RunContext, day: date | None = None, clock: Clock = system_clock
) -> Preview:
    """Render a day's digest from the store (default: today), changing nothing."""
    day = day or ctx.today(clock)
    with ctx.open_store(dry_run=True) as store:
        count, rendered = Digests(ctx, store).render([day])
    link = unsubscribe_url(ctx)
    manage = preferences_url(ctx, b"preview only", PREVIEW_LINK_ID, day)
    return Preview(day, count, rendered, link, ctx.digest.send_empty, manage)


def preview_message(ctx: RunContext, preview: Preview, clock: Clock = system_clock) -> bytes:
    """The whole message (text and HTML) the sample reader would get, to open in a mail program."""
    return delivery.build_message(
        preview.managed, ctx.site, ctx.sender, SAMPLE_RECIPIENT, preview.unsubscribe, clock()
    )
