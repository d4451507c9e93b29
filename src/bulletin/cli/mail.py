"""Commands of the mailing list: subscribers, send, status, unsubscribe, web."""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlsplit

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from bulletin import pipeline
from bulletin.cli.base import Context, date_option, main, pass_state, shown
from bulletin.config import Config
from bulletin.errors import BulletinError


@main.group(name="subscribers")
def subscribers() -> None:
    """Manage the mailing list (config.yaml's recipients are on it too)."""


@subscribers.command("add")
@click.argument("address")
@click.option("--name", default="", help="The display name.")
@click.option("--categories", help="Comma-separated category slugs [default: all].")
@pass_state
def subscribers_add(state: Context, address: str, name: str, categories: str | None) -> None:
    """Add a recipient, or update one (re-subscribing one who left)."""
    with pipeline.mailing_list(state.run_context()) as mailing:
        change, subscriber = mailing.add(address, name, categories)
    click.echo(f"{change} {subscriber.address} ({subscriber.status})")


@subscribers.command("remove")
@click.argument("address")
@pass_state
def subscribers_remove(state: Context, address: str) -> None:
    """Delete a recipient from the list (to keep them off it, use `bulletin unsubscribe`)."""
    with pipeline.mailing_list(state.run_context()) as mailing:
        if not mailing.remove(address):
            raise BulletinError(f"{address} is not on the list")
    click.echo(f"removed {address}")


@subscribers.command("list")
@click.option(
    "--status", type=click.Choice(pipeline.STATUSES), help="Only recipients in this state."
)
@pass_state
def subscribers_list(state: Context, status: str | None) -> None:
    """Print the list: address, status, categories, name."""
    with pipeline.mailing_list(state.run_context()) as mailing:
        for s in mailing.each(status):
            wanted = ",".join(sorted(s.categories)) if s.categories else "all"
            click.echo(f"{s.address}\t{s.status}\t{wanted}\t{s.name}")
        counts = mailing.counts()
    click.echo(", ".join(f"{n} {state}" for state, n in counts.items()), err=True)


@subscribers.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path, allow_dash=True))
@pass_state
def subscribers_import(state: Context, file: Path) -> None:
    """Merge a CSV file (columns address or email, and optionally name, categories, status)."""
    with pipeline.mailing_list(state.run_context()) as mailing:
        if str(file) == "-":
            report = mailing.import_csv(sys.stdin.buffer, "stdin")
        else:
            try:
                with file.open("rb") as handle:
                    report = mailing.import_csv(handle, shown(file))
            except OSError as error:
                raise BulletinError(f"cannot read {file}: {error.strerror}") from None
    for problem in report.problems:
        click.secho(f"skipped: {problem}", fg="yellow", err=True)
    m = report.merged
    click.echo(
        f"{m.added} added, {m.updated} updated, {m.unchanged} unchanged, "
        f"{len(report.problems)} skipped; {len(m.kept_away)} who left were not re-subscribed"
        + (f"; {len(m.suppressed)} on the suppression list were not added" if m.suppressed else "")
    )
    sys.exit(1 if report.problems else 0)


@subscribers.command("export")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@pass_state
def subscribers_export(state: Context, file: Path | None) -> None:
    """Write the list as CSV (to FILE, or standard output); `import` reads it back."""
    with pipeline.mailing_list(state.run_context()) as mailing:
        if file is None:
            count = mailing.export_csv(sys.stdout)
        else:
            with file.open("w", encoding="utf-8", newline="") as handle:
                count = mailing.export_csv(handle)
    click.echo(f"exported {count} recipients", err=True)


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:,.0f} msg/s")


@main.command()
@date_option("The digest's day [default: today].")
@click.option("--retry-unknown", is_flag=True, help="Send again to whom the server may have.")
@pass_state
def send(state: Context, day: date | None, retry_unknown: bool) -> None:
    """Send the day's digest to every recipient who does not have it yet.

    Running it again, or after a crash, finishes the job without sending anyone a second copy.
    Exit code 1 when any recipient is left failed, deferred or unknown.
    """
    ctx = state.run_context()
    seen: Counter[str] = Counter()
    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=not console.is_terminal) as bar:
        task = bar.add_task("sending", total=None)

        def advanced(status: str) -> None:
            seen[status] += 1
            label = ", ".join(f"{n} {s}" for s, n in seen.items())
            bar.update(task, advance=1, description=label)

        report = pipeline.send_day(
            ctx,
            day,
            retry_unknown=retry_unknown,
            progress=advanced,
            total=lambda n: bar.update(task, total=n),
        )
    _print_send(report)
    sys.exit(0 if report.ok else 1)


def _print_send(report: pipeline.SendReport) -> None:
    where = report.destination if report.transport == "smtp" else shown(Path(report.destination))
    click.secho(f"bulletin send for {report.day} by {report.transport} to {where}", bold=True)
    if report.reaped:
        click.secho(
            f"  {report.reaped} left in flight by a sender that stopped are now unknown: "
            "`bulletin send --retry-unknown` sends them again",
            fg="yellow",
        )
    if report.retried_unknown:
        click.echo(f"  {report.retried_unknown} unknown sent again (--retry-unknown)")
    if report.refused:
        click.secho(
            f"  {report.refused} late outcomes refused: their rows were no longer this "
            "sender's claim (another had claimed them since, or the claim never committed)",
            fg="yellow",
        )
    click.echo(
        f"  this run   {report.sent} sent, {report.deferred} deferred, {report.failed} failed, "
        f"{report.unknown} unknown ({report.planned} newly planned)"
    )
    click.echo("  the day    " + ", ".join(f"{n} {s}" for s, n in report.counts.items() if n))
    if report.elsewhere:
        click.echo(f"  elsewhere  {report.elsewhere} held by the day's other senders")
    if report.paused:
        click.secho(f"  paused: {report.paused}", fg="red")
    if report.interrupted:
        click.secho("  interrupted: run `bulletin send` again to finish", fg="yellow")
    if not report.ok:
        click.echo(f"  details    bulletin status --date {report.day}")


@main.command()
@date_option("Only the deliveries of this digest's day.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the service's state (or the day's) as JSON."
)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing when all is well.")
@click.option(
    "--health",
    is_flag=True,
    help="Exit 0 unless stale, whatever single deliveries did (for container health checks).",
)
@pass_state
def status(state: Context, day: date | None, as_json: bool, quiet: bool, health: bool) -> None:
    """Show how the service is doing: runs, next times, digests and deliveries.

    Exit code 0 when all is well; 1 when something needs a look (the last run partial or
    failed, copies failed, unknown or deferred, a digest not finished); 3 when stale (a
    digest overdue, or `bulletin serve` running but not doing its step). With --date, that
    day's deliveries, each that was not sent, and exit code 1 unless all were sent.
    """
    ctx = state.run_context()
    config = ctx.config
    if day is not None:
        _day_status(ctx, day, as_json)
        return
    found = pipeline.service_status(ctx)
    code = (3 if found.state == "stale" else 0) if health else found.exit_code
    if as_json:
        click.echo(json.dumps(found.as_dict(), indent=1, ensure_ascii=False))
    elif not quiet or code:
        _print_status(config, found)
    sys.exit(code)


def _day_status(ctx: pipeline.RunContext, day: date, as_json: bool) -> None:
    found = pipeline.day_status(ctx, day)
    if as_json:
        click.echo(json.dumps(found.as_dict(), indent=1, ensure_ascii=False))
        sys.exit(0 if found.ok else 1)
    total = sum(found.counts.values())
    click.secho(f"digest of {found.day}: {total} recipients", bold=True)
    click.echo("  " + ", ".join(f"{n} {s}" for s, n in found.counts.items()))
    for row in found.trouble:
        when = f", next try {row.next_attempt:%Y-%m-%d %H:%M} UTC" if row.next_attempt else ""
        click.echo(f"  {row.status:8} {row.address}  ({row.attempts} attempts{when}) {row.reply}")
    sys.exit(0 if found.ok else 1)


def _print_status(config: Config, found: pipeline.ServiceStatus) -> None:
    zone, schedule = config.site.zone, config.schedule

    def local(moment: datetime | None) -> str:
        return "-" if moment is None else f"{moment.astimezone(zone):%Y-%m-%d %H:%M %Z}"

    colour = {"ok": "green", "attention": "yellow", "stale": "red"}[found.state]
    click.secho(f"bulletin status ({config.file}) at {local(found.now)}: ", bold=True, nl=False)
    click.secho(found.state, fg=colour, bold=True)
    if found.shared:
        click.echo(f"  leader     {found.leader or 'none: no bulletin serve leads this store'}")
        for sender in found.senders:
            silent = " SILENT" if sender.stale else ""
            click.echo(
                f"  sender     {sender.host} pid {sender.pid} ({sender.command}): heartbeat "
                f"{sender.age:.0f} s ago{silent}, {sender.in_flight} in flight"
            )
    else:
        serve = f"running ({found.serve})" if found.serve else "not running"
        click.echo(f"  serve      {serve}")
    if found.working:
        click.echo(f"  working    {found.working}")
    click.echo(
        f"  schedule   collect every {schedule.collect_every_minutes} min, next "
        f"{local(found.next_collect)} (serve); digest at {schedule.digest_at}, next due "
        f"{local(found.next_digest)}; catch_up {schedule.catch_up} "
        f"(at most {schedule.max_catch_up_days} days)"
    )
    for run in found.runs:
        counts = ", ".join(
            f"{run.summary[key]} {label}"
            for key, label in (("items_new", "new items"), ("sent", "sent"), ("failed", "failed"))
            if run.summary.get(key)
        )
        click.echo(
            f"  run #{run.id:<5}{run.command} {local(run.started)} {run.outcome}"
            + (f" ({counts})" if counts else "")
            + (f" [{run.key}]" if run.key else "")
        )
    if found.last_success is not None and found.runs and found.last_success.id != found.runs[0].id:
        click.echo(f"  last ok    run #{found.last_success.id} {local(found.last_success.started)}")
    if found.digests:
        click.echo(
            "  digests    "
            + "; ".join(
                f"{d.day} {d.status}" + (f" in {d.filed_under}" if d.status == "covered" else "")
                for d in found.digests
            )
        )
    if found.ledger_day is not None:
        counts = ", ".join(f"{n} {s}" for s, n in found.ledger.items() if n) or "none"
        click.echo(f"  ledger     digest of {found.ledger_day}: {counts}")
    _print_feedback(found.feedback)
    for problem in found.problems:
        click.secho(f"  attention  {problem}", fg="yellow")
    for problem in found.stale:
        click.secho(f"  stale      {problem}", fg="red")


def _print_feedback(found: pipeline.Feedback) -> None:
    """Bounce and complaint rates of the last sends, and the suppression list's size."""
    if not found.days:
        return
    held = ", ".join(f"{n} {reason}" for reason, n in found.suppressed.items() if n) or "none"
    click.echo(
        f"  bounces    last {len(found.days)} sends, {found.attempted} copies: "
        f"{found.bounced} bounced ({found.bounce_rate:.2%}), {found.soft} soft, "
        f"{found.complained} complaints ({found.complaint_rate:.2%}); suppressed: {held}"
    )


@main.command("unsubscribe")
@click.argument("token_or_address")
@pass_state
def unsubscribe_command(state: Context, token_or_address: str) -> None:
    """Take someone off the list, by address or by the token of their unsubscribe link."""
    left = pipeline.unsubscribe(state.run_context(), token_or_address)
    if left.address is None:
        raise BulletinError(
            "that token is not genuine, or names someone deleted from the list: nothing was "
            "changed",
            hint="copy the whole token from the unsubscribe request, or give the address",
        )
    if not left.found:
        raise BulletinError(f"{left.address} is not on the list")
    click.echo(f"unsubscribed {left.address}")


@main.command("web")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8025, show_default=True, help="Port to listen on.")
@pass_state
def web_command(state: Context, host: str, port: int) -> None:
    """Serve the readers' pages (sign-up with double opt-in, preferences, unsubscribe with its
    one-click POST), /health and /metrics."""
    from bulletin import web  # the web stack, for this command only: the others never serve

    ctx = state.run_context()
    public = ctx.unsubscribe_url
    try:
        server = web.WebServer(web.deployment_app(ctx), host, port, ctx.web.request_timeout)
    except OSError as error:
        raise BulletinError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    bound_host, bound_port = server.address
    path = urlsplit(public).path
    click.echo(f"serving {path} on http://{bound_host}:{bound_port} (public URL: {public})")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
