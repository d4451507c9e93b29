"""Commands that collect and publish: collect, run (and run --once, the scheduled step)."""

from __future__ import annotations

import logging
import sys
from datetime import date
from pathlib import Path

import click

from bulletin import pipeline
from bulletin.cli import serve
from bulletin.cli.base import (
    Context,
    date_option,
    item_json,
    main,
    pass_state,
    report_problems,
    shown,
)
from bulletin.config import Config
from bulletin.errors import BulletinError


@main.command()
@click.argument("paths", nargs=-1, metavar="[PATH_OR_URL]...")
@click.option("--json", "as_json", is_flag=True, help="Print the items read as JSON lines.")
@click.option("--dry-run", is_flag=True, help="Read and compare, but store nothing.")
@pass_state
def collect(state: Context, paths: tuple[str, ...], as_json: bool, dry_run: bool) -> None:
    """Read the configured sources, or the given files and folders ('-' for stdin) and feed
    URLs (fetched in full, once)."""
    ctx = state.run_context()
    if not paths and not ctx.sources:
        raise BulletinError(
            "nothing to collect: no sources in the config and no paths given",
            hint="pass listing files or folders or a feed's URL, or add sources: to config.yaml",
        )
    urls = [p for p in paths if pipeline.looks_like_url(p)]
    files = [Path(p) for p in paths if not pipeline.looks_like_url(p)]
    report = pipeline.collect_sources(ctx, files, dry_run=dry_run, urls=urls)
    report_problems(report.problems)
    if as_json:
        for item in report.read:
            click.echo(item_json(item))
    saved = report.saved
    verb = "would store" if dry_run else "stored"
    click.echo(
        f"read {len(report.read)} items; {verb} {len(saved.new)} new, "
        f"{len(saved.updated)} updated; {len(saved.unchanged)} unchanged; "
        f"{len(report.skipped)} skipped",
        err=as_json,
    )
    sys.exit(1 if report.skipped else 0)


@main.command()
@date_option("The day to publish [default: today in the site's time zone].")
@click.option("--dry-run", is_flag=True, help="Do everything but write, store or send nothing.")
@click.option(
    "--once",
    is_flag=True,
    help="Do what is due now, as `bulletin serve` does at each tick (for cron and timers).",
)
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for another run working on the store before giving up.",
)
@pass_state
def run(state: Context, day: date | None, dry_run: bool, once: bool, wait: float) -> None:
    """Collect, write the feeds, render the day's digest and deliver it.

    With --once: collect and publish, finish or retry earlier deliveries, and send the
    digests due by the schedule (catching up after downtime), as one tick of `bulletin
    serve`; --date then sends that day's digest now unless it was sent. Exit code 75 when
    another run kept the store busy for --wait seconds.
    """
    ctx = state.run_context()
    stop = pipeline.Stop()
    serve.stop_on_signals(stop)
    if once:
        step = pipeline.run_step(ctx, day=day, dry_run=dry_run, stop=stop, wait=wait)
        report_problems(step.collected.problems)
        _print_step(ctx.config, step)
    else:
        _quiet_unless_asked()
        day = day or ctx.today()
        step = pipeline.run_step(
            ctx, command="run", day=day, force=True, dry_run=dry_run, stop=stop, wait=wait
        )
        report_problems(step.collected.problems)
        _print_run(ctx, step)
    sys.exit(0 if step.outcome == "ok" else 1)


def _quiet_unless_asked() -> None:
    """`bulletin run` prints its own summary: its log lines only when --log-level asks."""
    click_ctx = click.get_current_context().find_root()
    if click_ctx.get_parameter_source("log_level") is click.core.ParameterSource.DEFAULT:
        logging.getLogger("bulletin.run").setLevel(logging.WARNING)


def _print_step(config: Config, step: pipeline.StepReport) -> None:
    zone = config.site.zone
    local = step.now.astimezone(zone)
    click.secho(
        f"bulletin run --once at {local:%A %Y-%m-%d %H:%M %Z} ({config.file}), run {step.key}"
        + ("  [dry run: nothing written]" if step.dry_run else ""),
        bold=True,
    )
    c = step.collected
    click.echo(
        f"  collected  {len(c.read)} items: {len(c.saved.new)} new, {len(c.saved.updated)} "
        f"updated, {len(c.saved.unchanged)} unchanged, {len(c.skipped)} skipped"
    )
    if step.feeds is not None:
        would = "would be " if step.dry_run else ""
        click.echo(
            f"  feeds      {len(step.feeds.written)} {would}written, "
            f"{len(step.feeds.unchanged)} unchanged"
        )
    for found in step.bounces:  # the bounce mailbox, read before sending
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(found.counts().items()))
        left = f"; {len(found.left)} not understood, left" if found.left else ""
        click.echo(
            f"  bounces    {len(found.handled)} read from {found.source}{left}"
            + (f" ({counts})" if counts else "")
        )
    for label, results in (("finished", step.finished), ("digest", step.digests)):
        for result in results:
            click.echo(f"  {label:10} {_result_line(result)}")
    if step.plan.dropped:
        click.echo(f"  dropped    {', '.join(map(str, step.plan.dropped))} (catch_up: none)")
    if step.backfilled:
        click.echo(f"  web copies {', '.join(map(str, step.backfilled))} (missed days)")
    if step.next_digest is not None and not step.stopped:
        when = step.next_digest.astimezone(zone)
        click.echo(f"  next       digest due {when:%Y-%m-%d %H:%M %Z}")
    if step.stopped:
        click.secho("  stopped    before finishing: the next run goes on from here", fg="yellow")


def _result_line(result: pipeline.DigestResult) -> str:
    days = result.days
    covers = f" (covers {days[0]} to {days[-1]})" if len(days) > 1 else ""
    text = f"{result.day}{covers}: "
    if result.status == "empty":
        return text + "no items, not sent"
    if result.status == "would send":
        return text + f"{result.items} items, would go to {len(result.recipients)} recipients"
    if result.error:
        return text + f"not sent: {result.error}"
    sent = result.send
    counts = (
        f"{sent.sent} sent, {sent.deferred} deferred, {sent.failed} failed, {sent.unknown} unknown"
        if sent
        else "not started"
    )
    cut = "; cut short, the next run finishes it" if result.status == "sending" else ""
    return text + (f"{result.items} items; " if result.items else "") + counts + cut


def _print_run(ctx: pipeline.RunContext, step: pipeline.StepReport) -> None:
    config = ctx.config
    would = "would be " if step.dry_run else ""
    c, f, (d,) = step.collected, step.feeds, step.digests
    click.secho(
        f"bulletin run for {d.day.strftime('%A')} {d.day.isoformat()} ({config.file})"
        + ("  [dry run: nothing written]" if step.dry_run else ""),
        bold=True,
    )
    sources = ", ".join(f"{name} {count}" for name, count in c.per_source.items()) or "none"
    click.echo(
        f"  collected  {len(c.read)} items ({sources}): {len(c.saved.new)} new, "
        f"{len(c.saved.updated)} updated, {len(c.saved.unchanged)} unchanged, "
        f"{len(c.skipped)} skipped"
    )
    folder = shown(config.path(config.feeds.dir))
    written, unchanged = (len(f.written), len(f.unchanged)) if f else (0, 0)
    click.echo(f"  feeds      {written} {would}written, {unchanged} unchanged, in {folder}/")
    if d.status == "empty":
        click.echo("  digest     not sent: no items that day")
        return
    web = shown(d.web_copy) if d.web_copy else "-"
    click.echo(f'  digest     {d.items} items, "{d.subject}"; web copy {web}')
    _print_delivery(ctx, step, d)
    if not step.dry_run:
        look = [f"{folder}/all.atom", web]
        if ctx.transport == "outbox":
            look.append(_destination(ctx))
        click.echo(f"  look at    {', '.join(look)}")


def _destination(ctx: pipeline.RunContext) -> str:
    if ctx.transport == "smtp":
        return ctx.destination
    return shown(Path(ctx.destination)) + "/new/"


def _print_delivery(
    ctx: pipeline.RunContext, step: pipeline.StepReport, d: pipeline.DigestResult
) -> None:
    sent = d.send
    if step.dry_run:
        delivered, already = len(d.recipients), 0
    elif sent is not None:
        delivered, already = sent.sent, sent.counts.get("sent", 0) - sent.sent
    else:
        click.secho(f"  delivery   not sent: {d.error or 'stopped before sending'}", fg="red")
        return
    would = "would be " if step.dry_run else ""
    click.echo(
        f"  delivery   {delivered} {would}delivered by {ctx.transport} to {_destination(ctx)}"
        f" ({already} already had it)"
    )
    if sent is None:
        return
    if sent.paused:
        click.secho(
            f"  paused     {sent.paused}: the ledger keeps the rest, `bulletin send` finishes "
            "the job once it is fixed",
            fg="red",
        )
    owed = {state: n for state, n in sent.counts.items() if state != "sent" and n}
    if owed:
        states = ", ".join(f"{n} {state}" for state, n in owed.items())
        click.secho(f"  not sent   {states}: see `bulletin status --date {d.day}`", fg="yellow")
