"""``bulletin digest``: preview a day's digest without sending it or touching the feeds."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from bulletin import pipeline
from bulletin.cli.base import Context, date_option, main, pass_state, shown
from bulletin.files import write_atomically
from bulletin.model import Recipient

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
    ctx = state.run_context()
    preview = pipeline.preview_digest(ctx, day)
    if out is not None:
        write_atomically(out, preview.html.encode())
    if eml is not None:
        write_atomically(eml, pipeline.preview_message(ctx, preview))
    if out is None and eml is None:
        click.echo(preview.text, nl=False)
    _summary(preview, out, eml)


def _summary(preview: pipeline.Preview, out: Path | None, eml: Path | None) -> None:
    rendered, count = preview.rendered, preview.items
    size = len(rendered.html.encode()) / 1000
    click.echo(
        f'digest of {preview.day.isoformat()}: {count} items, "{rendered.subject}"', err=True
    )
    click.echo(f"  html {size:.1f} KB, text {len(rendered.text.encode()) / 1000:.1f} KB", err=True)
    if rendered.shortened:
        click.echo(f"  too long for one email: shortened to {rendered.shortened}", err=True)
    if count == 0 and not preview.send_empty:
        click.echo("  no items: this day's digest would not be sent (digest.send_empty)", err=True)
    for label, path in (("html", out), ("eml", eml)):
        if path is not None:
            click.echo(f"  {label} written to {shown(path)}", err=True)
