"""Commands that collect and publish: collect, run."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click

from bulletin import pipeline
from bulletin.cli.base import (
    Context,
    item_json,
    main,
    parse_day,
    pass_state,
    report_problems,
    shown,
)
from bulletin.config import Config
from bulletin.errors import BulletinError


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the items read as JSON lines.")
@click.option("--dry-run", is_flag=True, help="Read and compare, but store nothing.")
@pass_state
def collect(state: Context, paths: tuple[Path, ...], as_json: bool, dry_run: bool) -> None:
    """Read the configured sources, or the given files and folders ('-' for stdin)."""
    config = state.config()
    if not paths and not config.sources:
        raise BulletinError(
            "nothing to collect: no sources in the config and no paths given",
            hint="pass listing files or folders, or add sources: to config.yaml",
        )
    store = pipeline.open_store(config, dry_run)
    try:
        report = pipeline.collect(config, store, paths, dry_run=dry_run)
    finally:
        store.close()
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
@click.option(
    "--date",
    "day",
    callback=parse_day,
    metavar="YYYY-MM-DD",
    help="The day to publish [default: today in the site's time zone].",
)
@click.option("--dry-run", is_flag=True, help="Do everything but write, store or send nothing.")
@pass_state
def run(state: Context, day: date | None, dry_run: bool) -> None:
    """Collect, write the feeds, render the day's digest and deliver it."""
    config = state.config()
    report = pipeline.run_day(config, day, dry_run=dry_run)
    report_problems(report.collected.problems)
    _print_run(config, report)
    sys.exit(0 if report.ok else 1)


def _print_run(config: Config, report: pipeline.RunReport) -> None:
    would = "would be " if report.dry_run else ""
    c, f, d = report.collected, report.feeds, report.digest
    click.secho(
        f"bulletin run for {d.day.strftime('%A')} {d.day.isoformat()} ({config.file})"
        + ("  [dry run: nothing written]" if report.dry_run else ""),
        bold=True,
    )
    sources = ", ".join(f"{name} {count}" for name, count in c.per_source.items()) or "none"
    click.echo(
        f"  collected  {len(c.read)} items ({sources}): {len(c.saved.new)} new, "
        f"{len(c.saved.updated)} updated, {len(c.saved.unchanged)} unchanged, "
        f"{len(c.skipped)} skipped"
    )
    folder = shown(config.path(config.feeds.dir))
    click.echo(
        f"  feeds      {len(f.written)} {would}written, {len(f.unchanged)} unchanged, in {folder}/"
    )
    if d.skipped:
        click.echo(f"  digest     not sent: {d.skipped}")
        return
    web = shown(d.web_copy) if d.web_copy else "-"
    click.echo(f'  digest     {d.items} items, "{d.subject}"; web copy {web}')
    target = d.destination if d.transport == "smtp" else shown(Path(d.destination)) + "/new/"
    click.echo(
        f"  delivery   {len(d.delivered)} {would}delivered by {d.transport} to {target}"
        f" ({len(d.already)} already had it)"
    )
    if not report.dry_run:
        look = [f"{folder}/all.atom", web]
        if d.transport == "outbox":
            look.append(target)
        click.echo(f"  look at    {', '.join(look)}")
