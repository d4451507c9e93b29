"""Commands of bounces, complaints and the suppression list: ``bounces ingest``,
``subscribers show`` and ``subscribers suppressed``."""

from __future__ import annotations

import json
import sys
from datetime import datetime

import click

from bulletin import pipeline
from bulletin.cli.base import Context, main, pass_state
from bulletin.cli.mail import subscribers
from bulletin.errors import BulletinError


@main.group(name="bounces")
def bounces() -> None:
    """Read bounces and complaints, and take who they name off the list."""


@bounces.command("ingest")
@click.argument("source", required=False, metavar="[PATH | -]")
@click.option(
    "--recipient",
    metavar="ADDRESS",
    help="The address the message on standard input was delivered to (an MTA's pipe: "
    "${original_recipient}).",
)
@pass_state
def bounces_ingest(state: Context, source: str | None, recipient: str | None) -> None:
    """Read bounce and complaint mail: a Maildir, an mbox file, one message on standard
    input (-), or else the configured mailbox (delivery.bounces).

    Each message understood is moved to delivery.bounces.done_folder (or deleted); the rest
    is left where it is and listed. Reading the same mail again changes nothing. Exit code
    1 when a message was not understood.
    """
    ctx = state.run_context()
    stdin = sys.stdin.buffer if source == "-" else None
    reports = pipeline.ingest_bounces(ctx, source, stdin=stdin, recipient=recipient)
    disposal = ctx.bounces.disposal
    done = "deleted" if disposal.processed == "delete" else f"moved to {disposal.folder}"
    for report in reports:
        click.secho(f"bulletin bounces ingest: {report.source}", bold=True)
        for handled in report.handled:
            _print_handled(handled)
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(report.counts().items()))
        understood = len(report.handled) - len(report.left)
        click.echo(
            f"  {len(report.handled)} read ({counts or 'none'}); {understood} understood "
            f"({done}), {len(report.left)} left in place"
        )
    sys.exit(1 if any(report.left for report in reports) else 0)


def _print_handled(handled: pipeline.Handled) -> None:
    if not handled.understood:
        click.secho(f"  left       {handled.name}: {handled.why}", fg="yellow")
        return
    who = f"{handled.address}: " if handled.address else ""
    click.echo(f"  {handled.kind:10} {handled.name}: {who}{handled.action} ({handled.why})")


@subscribers.command("show")
@click.argument("address")
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON.")
@pass_state
def subscribers_show(state: Context, address: str, as_json: bool) -> None:
    """Show what is kept about ADDRESS: the recipient, a suppression and every event."""
    with pipeline.mailing_list(state.run_context()) as mailing:
        record = mailing.show(address)
    if as_json:
        click.echo(json.dumps(_record_dict(record), indent=1, ensure_ascii=False, default=str))
        return
    s = record.subscriber
    click.secho(record.address, bold=True)
    if s is None:
        click.echo("  not on the list")
    else:
        wanted = ",".join(sorted(s.categories)) if s.categories else "all"
        click.echo(f"  status     {s.status} (since {_when(s.changed)}); categories {wanted}")
        click.echo(
            f"  joined     {_when(s.created)} ({s.origin}){'; name ' + s.name if s.name else ''}"
        )
    held = record.suppression
    if held is not None:
        click.secho(
            f"  suppressed {held.reason} since {_when(held.time)} ({held.origin})", fg="yellow"
        )
    for event in record.events:
        day = f" digest of {event.day}" if event.day else ""
        detail = "; ".join(f"{k} {v}" for k, v in event.detail.items() if v)
        click.echo(f"  {_when(event.time)}  {event.kind:12} {event.origin}{day}  {detail}".rstrip())
    if s is None and held is None and not record.events:
        raise BulletinError(f"nothing is kept about {record.address}")


@subscribers.command("suppressed")
@click.option("--remove", metavar="ADDRESS", help="Lift the hold on ADDRESS (it is not re-added).")
@pass_state
def subscribers_suppressed(state: Context, remove: str | None) -> None:
    """List the suppression list: addresses that bounced, complained or were erased, which
    no sync, import, add or send reaches. Erased ones show as their hash only."""
    with pipeline.mailing_list(state.run_context()) as mailing:
        if remove is not None:
            if not mailing.lift(remove):
                raise BulletinError(f"{remove} is not on the suppression list")
            click.echo(f"lifted {remove}: `bulletin subscribers add {remove}` puts it back")
            return
        count = 0
        for entry, address in mailing.suppressed():
            shown = address or f"sha256:{entry.address_hash[:16]}..."
            click.echo(f"{shown}\t{entry.reason}\t{_when(entry.time)}\t{entry.origin}")
            count += 1
    click.echo(f"{count} suppressed", err=True)


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _record_dict(record: pipeline.SubscriberRecord) -> dict[str, object]:
    s, held = record.subscriber, record.suppression
    return {
        "address": record.address,
        "subscriber": None
        if s is None
        else {
            "status": s.status,
            "name": s.name,
            "categories": sorted(s.categories) if s.categories else None,
            "origin": s.origin,
            "created": s.created.isoformat(),
            "changed": s.changed.isoformat(),
        },
        "suppressed": None
        if held is None
        else {"reason": held.reason, "time": held.time.isoformat(), "origin": held.origin},
        "events": [
            {
                "kind": e.kind,
                "time": e.time.isoformat(),
                "origin": e.origin,
                "day": e.day.isoformat() if e.day else None,
                "detail": dict(e.detail),
            }
            for e in record.events
        ],
    }
