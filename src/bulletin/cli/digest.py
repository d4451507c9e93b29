"""``bulletin digest``: preview a day's digest without sending it or touching the feeds."""

from __future__ import annotations

import html
from datetime import date
from pathlib import Path

import click

from bulletin import delivery, pipeline
from bulletin.cli.base import Context, date_option, main, pass_state, shown
from bulletin.digest import RenderedDigest
from bulletin.files import write_atomically
from bulletin.model import Recipient
from bulletin.pipeline.digesting import render_day

# Who the preview .eml is addressed to: nobody on the list, so a preview is never a delivery.
SAMPLE_RECIPIENT = Recipient("reader@example.com", "Sample Reader")


@main.command()
@date_option("The day to render [default: today in the site's time zone].")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the email's HTML part here, to open in a browser.",
)
@click.option(
    "--eml",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the whole message (text and HTML) here, to open in a mail program.",
)
@pass_state
def digest(state: Context, day: date | None, out: Path | None, eml: Path | None) -> None:
    """Render a day's digest from the store; print its text part unless --out/--eml is given.

    Nothing is sent, stored or published; the unsubscribe link is a sample recipient's.
    """
    config = state.config()
    day = day or pipeline.today(config)
    store = pipeline.open_store(config, dry_run=True)
    try:
        count, rendered = render_day(config, store, day)
    finally:
        store.close()
    unsubscribe = pipeline.unsubscribe_url(config, SAMPLE_RECIPIENT)
    if out is not None:
        page = rendered.html.replace(rendered.unsubscribe_token, html.escape(unsubscribe))
        write_atomically(out, page.encode())
    if eml is not None:
        site = pipeline.site_of(config)
        sender = delivery.Sender(
            config.delivery.from_address, config.delivery.from_name or site.title
        )
        message = delivery.build_message(
            rendered, site, sender, SAMPLE_RECIPIENT, unsubscribe, pipeline.system_clock()
        )
        write_atomically(eml, message)
    if out is None and eml is None:
        click.echo(rendered.text.replace(rendered.unsubscribe_token, unsubscribe), nl=False)
    _summary(config.digest.send_empty, day, count, rendered, out, eml)


def _summary(
    send_empty: bool,
    day: date,
    count: int,
    rendered: RenderedDigest,
    out: Path | None,
    eml: Path | None,
) -> None:
    size = len(rendered.html.encode()) / 1000
    click.echo(f'digest of {day.isoformat()}: {count} items, "{rendered.subject}"', err=True)
    click.echo(f"  html {size:.1f} KB, text {len(rendered.text.encode()) / 1000:.1f} KB", err=True)
    if rendered.shortened:
        click.echo(f"  too long for one email: shortened to {rendered.shortened}", err=True)
    if count == 0 and not send_empty:
        click.echo("  no items: this day's digest would not be sent (digest.send_empty)", err=True)
    for label, path in (("html", out), ("eml", eml)):
        if path is not None:
            click.echo(f"  {label} written to {shown(path)}", err=True)
